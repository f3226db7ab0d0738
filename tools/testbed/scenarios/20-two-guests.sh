# SPDX-License-Identifier: GPL-2.0
# Two L2 guests at once: host-vmrpc keeps separate state per VM, and forgets
# a VM when its QEMU powers off while the other keeps running.
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
l2_start other || fail "a second L2 guest boots"
check "guest-rvmrpc loads in the first guest" l2 guest insmod /covmm/guest_rvmrpc.ko
check "guest-rvmrpc loads in the second guest" l2 other insmod /covmm/guest_rvmrpc.ko

for want in 1 2 3; do
	check_match "first guest's ping $want counts its own calls" "\"result\":$want," "$(l2 guest covmm-guest ping --json)"
done
check_match "the second guest starts from 1" '"result":1,' "$(l2 other covmm-guest ping --json)"
check_match "the first guest continues at 4" '"result":4,' "$(l2 guest covmm-guest ping --json)"

other_pid=$(l2_pid other)
l2_stop other
check_match "the host forgot the second VM when its QEMU powered off" "VM of VMM pid $other_pid left" "$(dmesg)"
check_match "the first guest is unaffected" '"result":5,' "$(l2 guest covmm-guest ping --json)"
check "host-vmrpc unloads" host_unload
