# SPDX-License-Identifier: GPL-2.0
# The guest I/O request monitor, on a guest with no CoVMM module: hostile
# ioctls and filters get their errnos; iostat counts exactly the port-I/O and
# MMIO requests a guest program makes, and its totals agree with KVM's own
# io_exits and mmio_exits within 1%; iotrace streams the records, says how
# many a full ring dropped, and ends readers when monitoring ends; iotop ranks
# the busy port first; other users are refused; monitoring goes on and off
# 1,000 times during an I/O storm; host-vmrpc unloads while monitoring is on
# with a reader blocked. (The VM's exit ending a reader is in 90-vm-killed.)
COVMM=$TOOLS/covmm
PORT=0x2e0          # free in the guest: nothing decodes it, QEMU answers
MMIO=0xd0000000     # above the guest's RAM, below the PCI BARs: QEMU answers
jqs() { jq -r "$1" <<<"$2"; }

check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
vm=$(l2_pid guest)
P=/proc/covmm/$vm
check_match "no CoVMM module in the guest" '^$' "$(l2 guest 'grep -E "^(guest_rvmrpc|guest_hlfs) " /proc/modules')"

probe=$("$TOOLS/covmm-tb" iomon-probe --vm-pid "$vm")
echo "probe: $probe"
for want in read_never_monitored:61 stats_never_monitored:61 off_never_monitored:0 \
	set_null_pointer:14 set_pad:22 set_enable_2:22 set_ring_too_big:22 set_no_direction:22 \
	set_bad_direction:22 set_nine_rules:7 set_port_above_0xffff:34 set_range_backwards:34 \
	set_bad_kind:22 set_rule_pad:22 set_stray_rule:22 set_no_such_process:3 set_pid_0:3 \
	set_not_a_vmm:2 set_on:0 read_capacity_0:22 read_capacity_too_big:22 read_bad_flags:22 \
	read_pad:22 read_empty_nonblock:11 stats_bad_flags:22 stats_ok:0 set_off:0 read_after_off:0; do
	check_match "iomon ioctl, ${want%%:*}: errno ${want##*:}" "\"${want%%:*}\":${want##*:}[,}]" "$probe"
done

check "the VM has /proc/covmm/<pid>, with no CoVMM module in its guest" test -d "$P"
check_match "iomon reads off" '^off$' "$(cat "$P/iomon")"
for bad in "on port=zz|Invalid argument" "on port=0x10000|Numerical result out of range" \
	"on mmio=9-8|Numerical result out of range" "on dir=up|Invalid argument" "sideways|Invalid argument" \
	"on port=1 port=2 port=3 port=4 port=5 port=6 port=7 port=8 port=9|Argument list too long"; do
	check_match "iomon refuses '${bad%%|*}'" "${bad##*|}" "$(bash -c "echo '${bad%%|*}' >$P/iomon" 2>&1)"
done
check_match "covmm explains a bad filter before sending it" 'bad filter: .*above 0xffff' \
	"$("$COVMM" iomon "$vm" on port=0x10000 2>&1)"
check_match "covmm names a process without a VM" 'runs no KVM virtual machine' "$("$COVMM" iomon $$ on 2>&1)"

# Exact counts, port I/O: OUTs and INs.
check "monitoring the test port" "$COVMM" iomon "$vm" on port=$PORT
check_match "iomon shows the filter" '^on port=0x2e0$' "$(cat "$P/iomon")"
l2 guest covmm-tb io-load $PORT --count 3000 --write
l2 guest covmm-tb io-load $PORT --count 1000
stats=$("$COVMM" --json iostat "$vm")
echo "iostat: $stats"
entry='.entries[] | select(.kind == "pio" and .first == 736)'
check_eq "iostat counts exactly the guest's 3000 OUTs" 3000 "$(jqs "$entry | .writes" "$stats")"
check_eq "and its 1000 INs" 1000 "$(jqs "$entry | .reads" "$stats")"
check_eq "one request per instruction" 4000 "$(jqs .totals.requests "$stats")"
check_eq "nothing outside the filter" 1 "$(jqs '.entries | length' "$stats")"
check_eq "all from vCPU 0" 4000 "$(jqs '.vcpus[] | select(.vcpu == 0) | .pio' "$stats")"
check_match "/proc iostat has the port's line" '^pio +0x2e0 +0x2e0 +1000 +3000 +4000 ' \
	"$(grep '^pio ' "$P/iostat")"

# Exact counts, MMIO.
check "monitoring a page of MMIO" "$COVMM" iomon "$vm" on "mmio=$MMIO-$((MMIO + 0xfff))"
l2 guest covmm-tb io-load --mmio $MMIO --count 2000
l2 guest covmm-tb io-load --mmio $MMIO --count 500 --write
stats=$("$COVMM" --json iostat "$vm")
entry=".entries[] | select(.kind == \"mmio\" and .first == $((MMIO)))"
check_eq "iostat counts exactly the guest's MMIO reads" 2000 "$(jqs "$entry | .reads" "$stats")"
check_eq "and writes" 500 "$(jqs "$entry | .writes" "$stats")"
check_eq "which the VMM handled" vmm "$(jqs "$entry | .handled" "$stats")"
check_eq "10,000 bytes" 10000 "$(jqs "$entry | .bytes" "$stats")"

# Totals against KVM's own counters, everything monitored.
kvmdir=$(ls -d /sys/kernel/debug/kvm/"$vm"-* | head -n 1)
check "monitoring everything" "$COVMM" iomon "$vm" on
io0=$(cat "$kvmdir/io_exits")
mm0=$(cat "$kvmdir/mmio_exits")
l2 guest "covmm-tb io-load $PORT --count 5000 --write >/dev/null && covmm-tb io-load --mmio $MMIO --count 3000 >/dev/null"
io1=$(cat "$kvmdir/io_exits")
mm1=$(cat "$kvmdir/mmio_exits")
stats=$("$COVMM" --json iostat "$vm")
pio=$(jqs '.totals.pio_reads + .totals.pio_writes' "$stats")
vmm=$(jqs '[.entries[] | select(.kind == "mmio" and .handled == "vmm") | .reads + .writes] | add // 0' "$stats")
echo "io_exits +$((io1 - io0)), monitor pio $pio; mmio_exits +$((mm1 - mm0)), monitor MMIO to the VMM $vmm"
within_1pct() { [ $((100 * ($1 - $2))) -le "$2" ] && [ $((100 * ($2 - $1))) -le "$2" ]; }
check "port-I/O requests agree with KVM's io_exits within 1% ($pio vs $((io1 - io0)))" \
	within_1pct "$pio" $((io1 - io0))
check "MMIO requests the VMM handled agree with KVM's mmio_exits within 1% ($vmm vs $((mm1 - mm0)))" \
	within_1pct "$vmm" $((mm1 - mm0))
check_match "the virtio-serial notify page is named, handled in the kernel (ioeventfd)" \
	'"handled":"kernel".*"name":"virtio notify \(ioeventfd\)"' \
	"$(jq -c '.entries[] | select(.kind == "mmio")' <<<"$stats")"
l2 guest covmm-tb io-load 0x21 --count 10 >/dev/null
check_match "the PIC is named and handled in the kernel" '"handled":"kernel".*"name":"PIC master"' \
	"$("$COVMM" --json iostat "$vm" | jq -c '.entries[] | select(.first == 33)')"

# The trace, and a ring that overflows.
check "monitoring OUTs to the test port, 64-record ring" "$COVMM" iomon "$vm" on port=$PORT dir=out --ring 64
l2 guest covmm-tb io-load $PORT --count 10 --write >/dev/null
l2 guest covmm-tb io-load $PORT --count 10 >/dev/null
trace=$("$COVMM" --json iotrace "$vm")
echo "$trace" | head -n 3
check_eq "iotrace gives the 10 OUTs and not the INs" 10 "$(grep -c . <<<"$trace")"
check_eq "with the bytes written" "0 1 2 3 4 5 6 7 8 9" "$(jq -r .data <<<"$trace" | paste -sd' ')"
check_eq "from vCPU 0, each with a guest RIP" 10 \
	"$(jq -c 'select(.vcpu == 0 and .rip > 0 and .addr == 736 and .write)' <<<"$trace" | grep -c .)"
check_match "iotrace is drained now" '^$' "$("$COVMM" iotrace "$vm")"
l2 guest covmm-tb io-load $PORT --count 200 --write >/dev/null
timeout 5 cat "$P/iotrace" >/tmp/iotrace.txt
check_match "/proc iotrace says how many records the full ring dropped" '^# dropped 136 records' "$(head -n 1 /tmp/iotrace.txt)"
check_eq "and streams the 64 it kept" 64 "$(grep -cE '^[0-9]+\.[0-9]{9} vcpu=0 pio out port=0x2e0 size=1 count=1 data=0x[0-9a-f]+ rip=0x[0-9a-f]+$' /tmp/iotrace.txt)"
stats=$("$COVMM" --json iostat "$vm")
check_eq "iostat counts all 210 OUTs anyway" 210 "$(jqs '.totals.pio_writes' "$stats")"
check_eq "and the 136 dropped" 136 "$(jqs '.totals.dropped' "$stats")"

cat "$P/iotrace" >/tmp/reader.out &
reader=$!
sleep 1
check "a reader blocks on an empty trace" kill -0 "$reader"
"$COVMM" iomon "$vm" off
for _ in $(seq 1 50); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
check "turning monitoring off ends the blocked reader" bash -c "! kill -0 $reader 2>/dev/null"
wait "$reader"
check_eq "with end-of-file (status 0)" 0 "$?"
check_match "iostat keeps the last session's figures" '"on":false' "$("$COVMM" --json iostat "$vm")"

# covmm iotrace --follow waits for batches (COVMM_IOMON_READ_BATCH): a few
# records, short of a batch, still come out once they have waited 100 ms.
"$COVMM" iomon "$vm" on port=$PORT dir=out
"$COVMM" --json iotrace "$vm" --follow >/tmp/follow.out &
follower=$!
sleep 1
l2 guest covmm-tb io-load $PORT --count 3 --write >/dev/null
sleep 1
check_eq "iotrace --follow prints 3 records, short of a batch, within a second" 3 "$(grep -c . /tmp/follow.out)"
"$COVMM" iomon "$vm" off
for _ in $(seq 1 50); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
check "and ends when monitoring is turned off" bash -c "! kill -0 $follower 2>/dev/null"
wait "$follower"
check_eq "with status 0" 0 "$?"

chmod 666 /dev/covmm
check_match "another user cannot read iostat" 'Permission denied' "$(as_nobody cat "$P/iostat")"
check_match "nor the trace" 'Permission denied' "$(as_nobody cat "$P/iotrace")"
check_match "nor turn monitoring on" 'permission denied' "$(as_nobody "$COVMM" iomon "$vm" on)"
check_match "nor read the trace through covmm" 'permission denied' "$(as_nobody "$COVMM" iotrace "$vm")"
chmod 600 /dev/covmm

# An I/O storm from here on; iotop ranks the port first.
l2 guest "covmm-tb io-load $PORT --count 1000000000 --write >/dev/null 2>&1 & echo \$! >>/tmp/covmm-bg.pids"
check "monitoring on during the storm" "$COVMM" iomon "$vm" on
top=$("$COVMM" iotop "$vm" --iterations 2)
echo "$top"
check_match "iotop ranks the busy port first" '^pio +0x2e0 +[0-9.]+ ' "$(awk '/^KIND/ { n++; getline; if (n == 2) print }' <<<"$top")"
policy=$("$TOOLS/examples/io-policy" --json --interval 1)
echo "io-policy: $policy"
check_eq "the sample policy (tools/covmm/examples/io-policy.rs) finds the VM I/O-bound" true \
	"$(jq ".[] | select(.vm == $vm) | .io_bound" <<<"$policy")"
# The last session stays readable after off, so one is made first: the
# slab readings compare like with like.
echo on >"$P/iomon" && echo off >"$P/iomon"
before=$(l1_slab_kb)
ok=0
t0=$(date +%s)
for _ in $(seq 1 1000); do
	echo on >"$P/iomon" && echo off >"$P/iomon" && ok=$((ok + 1))
done
echo "1000 on/off cycles took $(($(date +%s) - t0)) s"
check_eq "monitoring turned on and off 1000 times during the storm" 1000 "$ok"
check_eq "the guest survived" running "$(l2_exit_status guest)"
check_match "and still answers" '^alive$' "$(l2 guest echo alive)"
after=$(l1_slab_kb)
check_slab_flat "no slab growth over 1000 sessions" "$before" "$after"

echo on >"$P/iomon"
cat "$P/iotrace" >/dev/null &
reader=$!
sleep 1
check "host-vmrpc unloads while monitoring is on, with a reader blocked" host_unload
for _ in $(seq 1 50); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
check "the reader was ended by the unload" bash -c "! kill -0 $reader 2>/dev/null"
check "and the guest runs on" l2 guest true
