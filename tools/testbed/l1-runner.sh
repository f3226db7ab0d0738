#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the testbed's L1, chrooted into L0's root (see l1-init): every
# scenario of this boot in turn, each in its own shell with a time limit.
# Results go to /run/covmm/results, which L0 reads after the boot.
set -u
. /run/covmm/env
export REPO FLAVOR MODE RELEASE KERNEL MODULES TOOLS
# The benchmark's knobs, when set (l0-lib.sh).
export BENCH_PARTS BENCH_ROUNDS COM_VPORT_BYTES COM_UART_BYTES COM_UART_ROUNDS IO_N IO_ROUNDS SOAK_SMP FS_MIB FS_FILES FS_ROUNDS FS_ANCHORS VIRTIOFSD
RUN=/run/covmm
export RUN
mkdir -p "$RUN/log"
echo "START $FLAVOR $(uname -r)" >"$RUN/results"
# Where the kernel sits this boot (KASLR): places a stuck CPU's RIP (l0-lib.sh).
grep -m1 ' _stext$' /proc/kallsyms >"$RUN/l1-stext"
# What L0 watches to tell a stalled L1 from a slow one (l1_stalled in
# l0-lib.sh): a heartbeat from L1's user space every 10 s, and in "current"
# the scenario that runs with its time limit.
(while :; do
	date +%s >"$RUN/heartbeat"
	sleep 10
done) </dev/null >/dev/null 2>&1 &
heartbeat=$!

# The time limit of scenario NAME: SCENARIO_TIMEOUT, or more where the
# scenario's file asks for it with a line "# testbed: time limit N s" (N on
# the stock kernel, twice that on the debug kernel).
time_limit() {
	local file=$REPO/tools/testbed/scenarios/$1.sh own limit=${SCENARIO_TIMEOUT:-600}
	own=$(sed -n 's/^# testbed: time limit \([0-9]*\) s$/\1/p' "$file" 2>/dev/null | head -n 1)
	if [ -n "$own" ]; then
		[ "$FLAVOR" = debug ] && own=$((own * 2))
		[ "$own" -le "$limit" ] || limit=$own
	fi
	echo "$limit"
}

# run_scenario NAME LOG: one run of a scenario, its results in $RESULTS.
run_scenario() {
	local rc limit
	limit=$(time_limit "$1")
	: >"$RESULTS"
	rm -f "$RUN/silent-death"
	echo "$1 $limit" >"$RUN/current"
	timeout --kill-after=15 "$limit" \
		bash -c '. "$REPO/tools/testbed/scenario-lib.sh" && scenario_main "$1"' covmm "$1" \
		>"$2" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL $1: the scenario script exited with status $rc (see log/$(basename "$2"))" >>"$RESULTS"
	fi
}

RESULTS=$RUN/results.scenario
export RESULTS
for s in $SCENARIOS; do
	echo "== scenario $s"
	t0=$(date +%s)
	run_scenario "$s" "$RUN/log/$s.log"
	# An L2 lost to the emulated platform (a silent shutdown exit, see
	# scenario-lib.sh and Documentation/testbed.md, "Quirks") says nothing
	# about CoVMM: the scenario runs once more, from the start, in a fresh
	# guest. The first run's results and log are kept and the retry is
	# listed as a NOTE; a second death, or any other failure, counts.
	if [ -f "$RUN/silent-death" ]; then
		why=$(cat "$RUN/silent-death")
		mv "$RUN/log/$s.log" "$RUN/log/$s.first.log"
		mv "$RESULTS" "$RUN/log/$s.first.results"
		run_scenario "$s" "$RUN/log/$s.log"
		echo "NOTE $s: $why in the first run, so the scenario ran again in a fresh guest (first run: log/$s.first.log, log/$s.first.results)" >>"$RUN/results"
	fi
	cat "$RESULTS" >>"$RUN/results"
	echo "TIME $s $(($(date +%s) - t0))" >>"$RUN/results"
done

rm -f "$RUN/current"
SCENARIO=end bash -c '. "$REPO/tools/testbed/scenario-lib.sh" && stop_shared_guests' >"$RUN/log/end.log" 2>&1
dmesg >"$RUN/l1-dmesg.txt"
kill "$heartbeat"
rm -f "$RUN/heartbeat"
echo "DONE" >>"$RUN/results"
