#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: boots the testbed on Debian's stock kernel and shows CoVMM at
# work. The transcript is written by tools/testbed/demo-scenario.sh in L1 and
# printed here.
. "$(dirname "$0")/../build/common.sh"
"$COVMM_ROOT/tools/testbed/run.sh" --flavor "${FLAVOR:-stock}" --mode demo demo-scenario >/dev/null || true
run=$COVMM_ROOT/build/testbed/${FLAVOR:-stock}
cat "$run/demo.txt" 2>/dev/null || die "the demo produced no transcript; see $run/l1-console.log"
require_clean_run "$run" demo
