# SPDX-License-Identifier: GPL-2.0
# Last scenario: kill -9 the shared guest's QEMU while host-vmrpc tracks it.
# The mmu_notifier release must remove the VM; unloading afterwards must be
# clean (the splat scan checks the kernel logs).
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko
check_match "the guest is known to the host" '"result":1,' "$(l2 guest covmm-guest ping --json)"
pid=$(l2_pid guest)
l2_kill guest
sleep 1
check_match "the host forgot the VM when its QEMU was killed" "VM of VMM pid $pid left" "$(dmesg)"
check "host-vmrpc unloads" host_unload
