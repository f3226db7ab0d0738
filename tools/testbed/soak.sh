#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make soak`: a parked Reverse VMRPC server under guest load for
# SOAK_SECONDS (600 by default); see soak-scenario.sh. Not part of
# `make check`, whose time budget it would take.
. "$(dirname "$0")/../build/common.sh"
s=${SOAK_SECONDS:-600}
export SOAK_SECONDS=$s SCENARIO_TIMEOUT=$((s + 300))
run=$COVMM_ROOT/build/testbed/${FLAVOR:-stock}
"$COVMM_ROOT/tools/testbed/run.sh" --flavor "${FLAVOR:-stock}" --mode soak --timeout $((s + 600)) soak-scenario
require_clean_run "$run" soak
