#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: every test CoVMM has, ending with "N passed, M failed".
#
#  1. cargo test for tools/ (the shared ABI crate included), the serial
#     channel's guest agent built for Windows, and the serial channel by
#     libvirt domain name against libvirt's QEMU driver on L0;
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

# The serial channel's guest agent must build for Windows guests too.
log "covmm-agent for Windows (x86_64-pc-windows-gnu)"
win_log=$COVMM_ROOT/build/agent-windows.log
if (cd "$COVMM_ROOT/tools" && cargo build --release -p covmm-agent --target x86_64-pc-windows-gnu) >"$win_log" 2>&1 &&
	[ -f "$COVMM_ROOT/tools/target/x86_64-pc-windows-gnu/release/covmm-agent.exe" ]; then
	echo "PASS covmm-agent cross-compiles for Windows"
	passed=$((passed + 1))
else
	echo "FAIL covmm-agent does not build for Windows (see $win_log)"
	tail -n 20 "$win_log"
	failed=$((failed + 1))
fi

# The serial channel by libvirt domain name, against libvirt's QEMU driver.
log "the serial channel through libvirt (L0)"
lv_log=$COVMM_ROOT/build/libvirt-check.log
lv_seen=0
while read -r line; do
	echo "$line"
	case $line in
	PASS*) passed=$((passed + 1)) lv_seen=1 ;;
	FAIL*) failed=$((failed + 1)) lv_seen=1 ;;
	esac
done < <("$COVMM_ROOT/tools/testbed/libvirt-check.sh" 2>"$lv_log")
if [ "$lv_seen" = 0 ]; then
	echo "FAIL libvirt: the check printed no results (see $lv_log)"
	failed=$((failed + 1))
fi

# CI stops a check after 90 minutes. The testbed runs share what is left of
# COVMM_CHECK_MINUTES (84) from here: each may boot L1 again when the
# platform loses it (run.sh) for as long as the runs after it keep the time
# to build their modules (2 minutes) and one boot each (l1_boot_limit), so
# the stock run gets what the debug run did not need.
deadline=$((${COVMM_CHECK_MINUTES:-84} * 60))
report=$COVMM_ROOT/build/failure-report.txt
: >"$report"
flavors=(${COVMM_CHECK_FLAVORS:-debug stock})
for i in "${!flavors[@]}"; do
	flavor=${flavors[$i]}
	budget=$((deadline - SECONDS))
	for later in "${flavors[@]:$((i + 1))}"; do
		budget=$((budget - 120 - $(l1_boot_limit "$later")))
	done
	summary=$COVMM_ROOT/build/testbed/$flavor/summary
	rm -f "$summary"
	log "the $flavor testbed may take $budget s"
	COVMM_TESTBED_BUDGET=$budget "$COVMM_ROOT/tools/testbed/run.sh" --flavor "$flavor" || true
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
