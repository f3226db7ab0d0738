# SPDX-License-Identifier: GPL-2.0
# `make soak`, run in L1 like a scenario: the guest's Reverse VMRPC server
# stays parked for SOAK_SECONDS (600 by default) while the guest runs a CPU
# and timer load, and the host asks the guest's meminfo every second. Every
# query must be answered, the guest's agent must keep answering, and no
# kernel log may show a WARN, RCU stall, soft lockup or hung task (the run's
# splat scan covers L1 and L2). The guest has one vCPU (Documentation/
# testbed.md, "Quirks"), so IPIs between guest CPUs are not part of the load.
S=$(sed -n 's/^SOAK_SECONDS=//p' "$RUN/env")
S=${S:-600}
check "host-vmrpc loads" host_load
l2_start soak || fail "the soak guest boots"
check "guest-rvmrpc loads" l2 soak insmod /covmm/guest_rvmrpc.ko servers=2
vm=$(l2_pid soak)
check "the guest offers its slots" rv_wait_slots "$vm" 2
# Two CPU spinners and a 1 ms timer loop, recorded for the cleanup.
l2 soak 'for i in 1 2; do (while :; do :; done) >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids; done
	(while :; do usleep 1000; done) >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids'
ok=0
bad=0
end=$((SECONDS + S))
while [ "$SECONDS" -lt "$end" ]; do
	if "$TOOLS/covmm" meminfo "$vm" >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	sleep 1
done
echo "soak: $ok answers, $bad failures in $S s"
check_eq "every meminfo query during the soak was answered" 0 "$bad"
check_match "queries were made all along" '^[1-9][0-9]*$' "$ok"
check "the guest's agent still answers" l2 soak true
check_eq "the guest logged no RCU stall, soft lockup or hung task" "" \
	"$(l2 soak dmesg | grep -E 'rcu.*stall|soft lockup|blocked for more than')"
l2_stop soak
check "host-vmrpc unloads" host_unload
