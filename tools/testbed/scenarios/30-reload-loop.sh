# SPDX-License-Identifier: GPL-2.0
# Load and unload every module 20 times, in L1 and in L2, while the guest
# keeps pinging the host. The kernel-log scan after the run must stay clean.
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads in L2" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0
# A pinging loop in the guest, recording every answer.
l2 guest 'sh -c "echo \$\$ >>/tmp/covmm-bg.pids; echo \$\$ >/tmp/pinger.pid; while :; do covmm-guest ping --json; done" >/tmp/pings 2>&1 &'

ok=0
for i in $(seq 1 20); do
	host_load && sleep 0.3 && host_unload && ok=$((ok + 1))
done
check_eq "host-vmrpc loaded and unloaded 20 times under guest pings" 20 "$ok"
check_eq "the guest's QEMU survived the reloads" running "$(l2_exit_status guest)"
host_load
sleep 1
l2 guest 'kill $(cat /tmp/pinger.pid); sleep 0.3'
host_unload

pings=$(l2 guest 'wc -l </tmp/pings')
ok_pings=$(l2 guest 'grep -c "\"result\":[1-9]" /tmp/pings')
enosys=$(l2 guest 'grep -c "\"result\":-1000," /tmp/pings')
bad=$(l2 guest 'grep -vc -e "\"result\":[1-9]" -e "\"result\":-1000," /tmp/pings')
echo "pings=$pings counted=$ok_pings enosys=$enosys other=$bad"
check_match "the guest's pings were answered while hooked" '^[1-9][0-9]*$' "$ok_pings"
check_match "the guest's pings got -KVM_ENOSYS while unhooked" '^[1-9][0-9]*$' "$enosys"
check_eq "no ping got any other answer" 0 "$bad"

check "host-vmrpc loads for the guest reload loop" host_load
# One command for the whole loop: each round trip to L2 is costly under TCG.
ok=$(l2 guest 'ok=0; for i in $(seq 1 20); do
	rmmod guest_rvmrpc && insmod /covmm/guest_rvmrpc.ko && covmm-guest ping >/dev/null &&
	insmod /covmm/guest_hlfs.ko && rmmod guest_hlfs && ok=$((ok + 1)); done; echo $ok')
check_eq "guest modules loaded and unloaded 20 times" 20 "$ok"
