# SPDX-License-Identifier: GPL-2.0
# `make soak`, run in L1 like a scenario: the guest's Reverse VMRPC server
# stays parked for SOAK_SECONDS (600 by default) while the guest runs a CPU,
# IPI and timer load, and the host asks the guest's meminfo every second.
# Every query must be answered, the guest's agent must keep answering, and
# no kernel log may show a WARN, RCU stall, soft lockup or hung task (the
# run's splat scan covers L1 and L2).
#
# The guest has two vCPUs (SOAK_SMP), so that a parked server thread holds
# one while the other sends it IPIs: two processes pinned to different
# vCPUs ping-pong through pipes (each wake-up of a task on the other vCPU is
# a reschedule IPI), and a third migrates itself between them. This
# platform loses such a guest within minutes even without CoVMM
# (Documentation/testbed.md, "Quirks"); SOAK_SMP=1 soaks a one-vCPU guest,
# with the ping-pong on its one vCPU and no IPI to count.
S=$(sed -n 's/^SOAK_SECONDS=//p' "$RUN/env")
S=${S:-600}
smp=${SOAK_SMP:-2}
check "host-vmrpc loads" host_load
L2_SMP=$smp l2_start soak || fail "the soak guest boots"
check "guest-rvmrpc loads" l2 soak insmod /covmm/guest_rvmrpc.ko servers=2
vm=$(l2_pid soak)
check "the guest offers its slots" rv_wait_slots "$vm" 2
# Two CPU spinners, a 1 ms timer loop, the ping-pong (across vCPUs when
# there are two) and the migrating task, recorded for the cleanup.
if [ "$smp" -ge 2 ]; then pin0="taskset -c 0" pin1="taskset -c 1"; else pin0= pin1=; fi
l2 soak 'for i in 1 2; do (while :; do :; done) >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids; done
	(while :; do usleep 1000; done) >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids
	mkfifo /tmp/ping /tmp/pong
	(exec '"$pin0"' sh -c "exec 3<>/tmp/ping 4<>/tmp/pong; while :; do echo x >&3; read r <&4; done") >/dev/null 2>&1 &
	echo $! >>/tmp/covmm-bg.pids
	(exec '"$pin1"' sh -c "exec 3<>/tmp/ping 4<>/tmp/pong; while :; do read r <&3; echo y >&4; done") >/dev/null 2>&1 &
	echo $! >>/tmp/covmm-bg.pids'
[ "$smp" -lt 2 ] || l2 soak '(while :; do taskset -p -c 0 $$ >/dev/null; usleep 500; taskset -p -c 1 $$ >/dev/null; usleep 500; done) >/dev/null 2>&1 &
	echo $! >>/tmp/covmm-bg.pids'
check_match "the guest has $smp vCPU(s)" "^$smp\$" "$(l2 soak nproc)"
ipi0=$(l2 soak "awk '/RES:/ { s = 0; for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) s += \$i; print s }' /proc/interrupts")
ok=0
bad=0
end=$((SECONDS + S))
while [ "$SECONDS" -lt "$end" ]; do
	if "$TOOLS/covmm" meminfo "$vm" >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	# A guest that is gone answers nothing more: say so now, not after
	# the rest of the soak.
	if [ "$bad" -gt 0 ] && ! l2 soak true >/dev/null 2>&1; then
		fail "the soak guest stayed up (it died after $ok answers, $((S - (end - SECONDS))) s in)"
		host_unload
		exit 0
	fi
	sleep 1
done
ipi1=$(l2 soak "awk '/RES:/ { s = 0; for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) s += \$i; print s }' /proc/interrupts")
echo "soak: $ok answers, $bad failures in $S s; rescheduling IPIs in the guest: $ipi0 -> $ipi1"
[ "$smp" -lt 2 ] ||
	check "the guest took IPIs all along (rescheduling interrupts: $ipi0 -> $ipi1)" test "$((ipi1 - ipi0))" -gt "$((S * 10))"
check_eq "every meminfo query during the soak was answered" 0 "$bad"
check_match "queries were made all along" '^[1-9][0-9]*$' "$ok"
check "the guest's agent still answers" l2 soak true
check_eq "the guest logged no RCU stall, soft lockup or hung task" "" \
	"$(l2 soak dmesg | grep -E 'rcu.*stall|soft lockup|blocked for more than')"
l2_stop soak
check "host-vmrpc unloads" host_unload
