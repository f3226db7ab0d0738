# SPDX-License-Identifier: GPL-2.0
# Last scenario: kill -9 the shared guest's QEMU in the middle of a VMRPC call
# storm, with a call parked on a slow user-space server, two host clients
# waiting for the guest's Reverse VMRPC server, and a reader blocked on the
# I/O monitor's trace. The mmu_notifier release must remove the VM and its
# server, the waiting clients must fail at once, the reader must get
# end-of-file, and
# unloading afterwards must be clean (the splat scan checks the kernel logs).
# L1's unreclaimable slab must not grow.
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko
check_match "the guest is known to the host" '"result":1,' "$(l2 guest covmm-guest ping --json)"
check_match "a warm-up call" '"ok":true' "$(l2 guest covmm-guest --json selftest hash --len 65536 --count 10)"
before=$(l1_slab_kb)

# Three processes, each calling on its own binding, reading 64 KiB per call.
l2 guest 'for i in 1 2 3; do covmm-guest selftest hash --len 65536 --count 1000000 >/dev/null 2>&1 & done'
pid=$(l2_pid guest)
"$TOOLS/covmm-user-print" --vm-pid "$pid" --delay-ms 4000 >/tmp/slow-server.out 2>&1 &
slow=$!
sleep 0.5
l2 guest 'covmm-guest call USER_PRINT:1 0 --text never-answered >/dev/null 2>&1 &'
# Both Reverse VMRPC slots busy with a 30 s request, the clients willing to
# wait a minute.
l2 guest insmod /covmm/covmm_rvtest_guest.ko
rv_wait_slots "$pid" 2 || fail "the guest offers its Reverse VMRPC slots"
"$TOOLS/covmm" timeout "$pid" 60000
"$TOOLS/covmm" call "$pid" rvtest 0 30000 >/tmp/rv-client1.out 2>&1 &
rv1=$!
"$TOOLS/covmm" call "$pid" rvtest 0 30000 >/tmp/rv-client2.out 2>&1 &
rv2=$!
"$TOOLS/covmm" iomon "$pid" on port=0x2e0
cat "/proc/covmm/$pid/iotrace" >/tmp/vmexit-reader.out &
reader=$!
sleep 3
l2_kill guest
for _ in $(seq 1 30); do kill -0 "$rv1" 2>/dev/null || kill -0 "$rv2" 2>/dev/null || break; sleep 0.1; done
check_match "both waiting clients failed with ESHUTDOWN when the VM died" \
	'endpoint shutdown.*endpoint shutdown' "$(cat /tmp/rv-client1.out /tmp/rv-client2.out | tr '\n' ' ')"
kill -9 "$rv1" "$rv2" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
check "the blocked I/O trace reader ended when the VM died" bash -c "! kill -0 $reader 2>/dev/null"
wait "$reader"
check_eq "with end-of-file (status 0)" 0 "$?"
sleep 1
check_match "the host forgot the VM when its QEMU was killed" "VM of VMM pid $pid left" "$(dmesg)"
for _ in $(seq 1 100); do kill -0 "$slow" 2>/dev/null || break; sleep 0.1; done
check_match "its user-space server learnt that the VM has gone" 'the VM has gone' "$(cat /tmp/slow-server.out)"
kill -9 "$slow" 2>/dev/null
after_vm=$(l1_slab_kb)
check "host-vmrpc unloads" host_unload
after=$(l1_slab_kb)
echo "SUnreclaim: before ${before} kB, after the VM ${after_vm} kB, after unload ${after} kB"
# The VM's own KVM state goes with it, so these readings fall; CoVMM's per-VM
# state must not make them rise.
check_slab_flat "no slab growth once the VM is gone" "$before" "$after_vm"
check_slab_flat "no slab growth after unload" "$before" "$after"
