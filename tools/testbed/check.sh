#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: every test CoVMM has, ending with "N passed, M failed".
#
#  1. cargo test for tools/ (the shared ABI crate included);
#  2. the testbed on the debug kernel (lockdep, KASAN): the modules' KUnit
#     suites, then every scenario;
#  3. the testbed on Debian's stock kernel: every scenario.
# Each testbed run also scans the L1 and L2 kernel logs for splats.
# COVMM_CHECK_FLAVORS="stock" (for example) limits step 2/3.
. "$(dirname "$0")/../build/common.sh"
. "$COVMM_ROOT/tools/testbed/l0-lib.sh"

passed=0
failed=0
mkdir -p "$COVMM_ROOT/build"

log "cargo test (tools/)"
cargo_log=$COVMM_ROOT/build/cargo-test.log
(cd "$COVMM_ROOT/tools" && cargo test --workspace 2>&1) | tee "$cargo_log" | grep -E '^test |test result' || true
while read -r p f; do
	passed=$((passed + p))
	failed=$((failed + f))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$cargo_log")
if ! grep -q '^test result' "$cargo_log"; then
	echo "FAIL cargo test did not run (see $cargo_log)"
	failed=$((failed + 1))
fi

report=$COVMM_ROOT/build/failure-report.txt
: >"$report"
for flavor in ${COVMM_CHECK_FLAVORS:-debug stock}; do
	summary=$COVMM_ROOT/build/testbed/$flavor/summary
	rm -f "$summary"
	"$COVMM_ROOT/tools/testbed/run.sh" --flavor "$flavor" || true
	if [ -f "$summary" ]; then
		read -r p f <"$summary"
	else
		echo "FAIL [$flavor] the testbed did not produce a summary"
		p=0 f=1
	fi
	# Kept for the end, where a CI log that shows only its last lines has them.
	[ "$f" -eq 0 ] || report_failures "$COVMM_ROOT/build/testbed/$flavor" >>"$report"
	passed=$((passed + p))
	failed=$((failed + f))
done

cat "$report"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
