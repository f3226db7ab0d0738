#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the testbed's L1, chrooted into L0's root (see l1-init): every
# scenario of this boot in turn, each in its own shell with a time limit.
# Results go to /run/covmm/results, which L0 reads after the boot.
set -u
. /run/covmm/env
export REPO FLAVOR MODE RELEASE KERNEL MODULES TOOLS
RUN=/run/covmm
export RUN
mkdir -p "$RUN/log"
echo "START $FLAVOR $(uname -r)" >"$RUN/results"

for s in $SCENARIOS; do
	echo "== scenario $s"
	t0=$(date +%s)
	timeout --kill-after=15 "${SCENARIO_TIMEOUT:-600}" \
		bash -c '. "$REPO/tools/testbed/scenario-lib.sh" && scenario_main "$1"' covmm "$s" \
		>"$RUN/log/$s.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL $s: the scenario script exited with status $rc (see log/$s.log)" >>"$RUN/results"
	fi
	echo "TIME $s $(($(date +%s) - t0))" >>"$RUN/results"
done

SCENARIO=end bash -c '. "$REPO/tools/testbed/scenario-lib.sh" && stop_shared_guests' >"$RUN/log/end.log" 2>&1
dmesg >"$RUN/l1-dmesg.txt"
echo "DONE" >>"$RUN/results"
