# SPDX-License-Identifier: GPL-2.0
# Reverse VMRPC faults and the echo sample pair. A guest service that sleeps
# past the client's timeout gives ETIMEDOUT while the other slot keeps
# serving; one that claims a response longer than its buffer gives EMSGSIZE;
# slot offers with bad buffers each get their errno; the host kernel's echo
# client (samples/rvmrpc-echo) round-trips through the guest's echo service.
# (90-vm-killed kills the VM while clients wait.)
COVMM=$TOOLS/covmm
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=2
check "the echo sample's guest service loads" l2 guest insmod /covmm/covmm_echo_guest.ko
check "the misbehaving test service loads" l2 guest insmod /covmm/covmm_rvtest_guest.ko
vm=$(l2_pid guest)
check "the guest offers 2 slots" rv_wait_slots "$vm" 2
check_match "the guest lists the registered services" ' paper\.echo rvtest $' "$(tr '\n' ' ' <"/proc/covmm/$vm/services")"

check_match "covmm calls the sample's echo service" '^over the hypercall$' \
	"$("$COVMM" call "$vm" paper.echo 0 'over the hypercall')"
check "the host kernel's echo client makes 100 round trips" \
	insmod "$MODULES/samples/rvmrpc-echo/covmm_echo_host.ko" vm_pid="$vm" count=100
check_match "and reports them" "paper.echo: 100 of 100 round trips to VM $vm ok" "$(dmesg | tail -n 5)"
check "the echo client unloads" rmmod covmm_echo_host
check_match "the echo client fails cleanly for a VM that does not exist" 'No such process|ESRCH' \
	"$(insmod "$MODULES/samples/rvmrpc-echo/covmm_echo_host.ko" vm_pid=1073741800 2>&1; dmesg | tail -n 2)"

check "the clients' timeout becomes 500 ms" "$COVMM" timeout "$vm" 500
t0=$(date +%s%N)
out=$("$COVMM" call "$vm" rvtest 0 3000 2>&1)
t1=$(date +%s%N)
check_match "a guest that does not answer in time: ETIMEDOUT" 'did not answer in time' "$out"
ms=$(((t1 - t0) / 1000000))
echo "the timed-out call returned after $ms ms"
check "it returned after the timeout, not the guest's 3 s" test "$ms" -lt 2500
check_match "the other slot serves meanwhile" '^meanwhile$' "$("$COVMM" call "$vm" echo 0 meanwhile)"
check_match "stats count the timeout" '"timeouts":1' "$("$COVMM" stats "$vm" --json)"
sleep 3
check "the timeout goes back to 5 s" "$COVMM" timeout "$vm" 5000
check_match "after the late answer was dropped, both slots serve again" '^server: running, 2 slots, 0 busy' \
	"$(head -n 1 "/proc/covmm/$vm/status")"
check_match "a response longer than its buffer: EMSGSIZE" 'Message too long' "$("$COVMM" call "$vm" rvtest 1 2>&1)"
check_match "a bad request to the test service: EINVAL" 'Invalid argument' "$("$COVMM" call "$vm" rvtest 0 soon 2>&1)"
check_match "timeouts of 0 ms are refused" 'Invalid argument' "$("$COVMM" timeout "$vm" 0 2>&1)"

# Slot offers with bad buffers, through raw hypercalls from the guest kernel.
rv_init() { l2_raw guest 6 --rv-init "$1"; }
check_eq "a buffer outside guest RAM: EFAULT" -14 "$(rv_init 0xfffffff000:4096:0x100000:4096)"
check_eq "a buffer that wraps past 2^64: EOVERFLOW" -75 "$(rv_init 0xfffffffffffff000:8192:0x100000:4096)"
check_eq "overlapping buffers: EINVAL" -22 "$(rv_init 0x100000:8192:0x101000:4096)"
check_eq "a request buffer of 1 MiB: EINVAL" -22 "$(rv_init 0x100000:0x100000:0x300000:4096)"
check_eq "a response buffer of 0 bytes: EINVAL" -22 "$(rv_init 0x100000:4096:0x200000:0)"
check_eq "a request buffer smaller than a request header: EINVAL" -22 "$(rv_init 0x100000:16:0x200000:4096)"
check_eq "another version: EINVAL" -22 "$(rv_init 0x100000:4096:0x200000:4096:2)"
check_eq "unknown flags: EINVAL" -22 "$(rv_init 0x100000:4096:0x200000:4096:1:1)"
check_eq "the offer itself outside guest RAM: EFAULT" -14 "$(l2_raw guest 6 0xfffffff000)"
check_eq "waiting on a slot that does not exist: ENOENT" -2 "$(l2_raw guest 7 99 0 0)"
check_eq "stopping a slot that does not exist: ENOENT" -2 "$(l2_raw guest 8 99)"
check_match "the guest's own slots were not disturbed" '^server: running, 2 slots' "$(head -n 1 "/proc/covmm/$vm/status")"
check "the test services unload" l2 guest rmmod covmm_rvtest_guest covmm_echo_guest
check "host-vmrpc unloads" host_unload
