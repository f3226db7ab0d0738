# SPDX-License-Identifier: GPL-2.0
# Two L2 guests at once, the second one's QEMU running as uid 65534 (it drops
# root after start-up): host-vmrpc keeps separate state per VM (ping
# counters, VMRPC bindings to the same server, user-space servers of the same
# name registered per VM), a user who owns only one VM reaches only that one
# through Reverse VMRPC, and a VM is forgotten when its QEMU powers off while
# the other keeps running.
if [ "$FLAVOR" = debug ]; then
	# A debug L2 boots for minutes, and two L2s running at once under the
	# emulated platform lose one of them now and then (Documentation/testbed.md,
	# "Quirks"). The stock run covers this scenario.
	echo "SKIP: two L2s at once are covered on the stock kernel"
	return 0
fi
# Both guests are up before host-vmrpc loads, so that CoVMM has no part in
# their boots.
l2_shared guest || fail "the shared L2 guest boots"
l2_start other -run-with user=nobody || fail "a second L2 guest boots"
check "host-vmrpc loads" host_load
# Reverse VMRPC server threads keep a guest's vCPU busier than an idle one,
# and two busy L2s at once are what the emulated platform handles worst
# (Documentation/testbed.md, "Quirks"): only the second guest runs one.
check "guest-rvmrpc loads in the first guest" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0
check "guest-rvmrpc loads in the second guest" l2 other insmod /covmm/guest_rvmrpc.ko servers=1

for want in 1 2 3; do
	check_match "first guest's ping $want counts its own calls" "\"result\":$want," "$(l2 guest covmm-guest ping --json)"
done
check_match "the second guest starts from 1" '"result":1,' "$(l2 other covmm-guest ping --json)"
check_match "the first guest continues at 4" '"result":4,' "$(l2 guest covmm-guest ping --json)"

# Both bind the same server; each handle means something only in its VM.
h=$(l2_raw guest 2 --bind-request covmm.selftest:1)
ho=$(l2_raw other 2 --bind-request covmm.selftest:1)
check_match "both guests bind covmm.selftest" '^[1-9][0-9]* [1-9][0-9]*$' "$h $ho"
check_eq "each guest calls through its own handle" "0 0" \
	"$(l2_raw guest 4 "$h" 0 0 0) $(l2_raw other 4 "$ho" 0 0 0)"
check_eq "one guest's unbind leaves the other's binding alone" "0 -9 0" \
	"$(l2_raw guest 3 "$h") $(l2_raw guest 4 "$h" 0 0 0) $(l2_raw other 4 "$ho" 0 0 0)"
# The first guest holds no handle now, and handles are never reused within a
# VM, so the other guest's handle cannot name one of its own.
check_eq "the other guest's handle gets EBADF in the first guest" -9 "$(l2_raw guest 4 "$ho" 0 0 0)"
check_eq "the other guest unbinds its handle" 0 "$(l2_raw other 3 "$ho")"

# Each VM gets its own USER_PRINT server from user space, under one name.
"$TOOLS/covmm-user-print" --vm-pid "$(l2_pid guest)" >/tmp/up-guest.out 2>&1 &
up_guest=$!
check_match "USER_PRINT is not visible to the other VM" 'No such file or directory' \
	"$(sleep 0.5; l2 other covmm-guest call USER_PRINT:1 0 --text x 2>&1)"
"$TOOLS/covmm-user-print" --vm-pid "$(l2_pid other)" >/tmp/up-other.out 2>&1 &
up_other=$!
sleep 0.5
check_match "the first guest reaches its own server" '^5 ' "$(l2 guest covmm-guest call USER_PRINT:1 0 --text first)"
check_match "the second guest reaches its own server" '^6 ' "$(l2 other covmm-guest call USER_PRINT:1 0 --text second)"

# Reverse VMRPC: each user reaches the guests of the VMs it owns, and no
# other.
guest_pid=$(l2_pid guest)
other_pid=$(l2_pid other)
check_match "the second VM's QEMU runs as uid 65534" '^65534$' "$(awk '/^Uid:/ { print $2 }' "/proc/$other_pid/status")"
check "the second guest offers its slot" rv_wait_slots "$other_pid" 1
check_match "/proc/covmm/<pid> of the second VM belongs to its user" '^dr-x------ +[0-9]+ +(nobody|65534) ' \
	"$(ls -ld "/proc/covmm/$other_pid")"
chmod 666 /dev/covmm
mine=$(as_nobody "$TOOLS/covmm" list --json)
check_match "its user lists the second VM" "\"pid\":$other_pid," "$mine"
check "but not the first" test -z "$(echo "$mine" | grep "\"pid\":$guest_pid,")"
check_match "its user reads the second guest's meminfo" '^MemTotal: ' "$(as_nobody "$TOOLS/covmm" meminfo "$other_pid")"
check_match "but not the first guest's" 'permission denied' "$(as_nobody "$TOOLS/covmm" meminfo "$guest_pid")"
check_match "nor through /proc" 'Permission denied' "$(as_nobody cat "/proc/covmm/$guest_pid/meminfo")"
chmod 600 /dev/covmm
check_match "root reaches it too" '^MemTotal: ' "$("$TOOLS/covmm" meminfo "$other_pid")"
check_match "and learns that the first guest runs no server" 'runs no Reverse VMRPC server' \
	"$("$TOOLS/covmm" meminfo "$guest_pid" 2>&1)"

l2_stop other
wait "$up_other"
check_eq "the second VM's server ends when its VM does" 0 $?
check_match "each server got its own guest's call only" 'first.*second' \
	"$(grep -h vcpu /tmp/up-guest.out /tmp/up-other.out | tr '\n' ' ')"
check_match "the first guest's server still serves" '^5 ' "$(l2 guest covmm-guest call USER_PRINT:1 0 --text again)"
kill "$up_guest"
wait "$up_guest"
check_match "the host forgot the second VM when its QEMU powered off" "VM of VMM pid $other_pid left" "$(dmesg)"
check_match "the first guest is unaffected" '"result":5,' "$(l2 guest covmm-guest ping --json)"
check "host-vmrpc unloads" host_unload
