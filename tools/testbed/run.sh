#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boots the nested-KVM testbed once and runs scenarios in it.
#
#   run.sh --flavor stock|debug [--mode check|bench|soak|demo] [--timeout SEC] [SCENARIO...]
#
# L0 (this machine) runs QEMU under software emulation with AMD SVM exposed
# (-cpu max). L1 boots the chosen kernel from a busybox initramfs, mounts L0's
# root read-only over virtio-9p, and runs tools/testbed/l1-runner.sh chrooted
# into it; the runner loads host-vmrpc and starts L2 guests under KVM with
# L0's own QEMU binary. Results come back through a second, writable 9p share
# (the run directory), never through the console.
#
# The run directory build/testbed/<flavor>/ keeps everything afterwards:
# results, the L1 and L2 console logs and their full dmesg.
. "$(dirname "$0")/../build/common.sh"
. "$COVMM_ROOT/tools/testbed/l0-lib.sh"

flavor=stock
mode=check
timeout=
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	--flavor) flavor=$2; shift 2 ;;
	--mode) mode=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	-*) die "unknown option $1" ;;
	*) scenarios+=("$1"); shift ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || mapfile -t scenarios < <(default_scenarios)
# A boot's time limit: --timeout; else, under `make check`, the run's whole
# budget (check.sh): a boot that still makes progress is better left to
# finish than stopped for one with less time (a stalled or wedged L1 is
# stopped at once either way: l1_stalled, l1_wedged_cpus); else
# l1_boot_limit. CI's last debug run (of 2026-12-07's code) was stopped at
# its 2,700 s limit in 53-vmrpc-fuzz, still working, with 530 s of its
# budget left: too few for the scenarios after it in a second boot.
[ -n "$timeout" ] || timeout=${COVMM_TESTBED_BUDGET:-$(l1_boot_limit "$flavor")}

tree=$("$COVMM_ROOT/tools/build/kernel.sh" "$flavor" | tail -n1)
run=$COVMM_ROOT/build/testbed/$flavor
prepare_run_dir "$run" "$tree" "$flavor" "$mode" "${scenarios[@]}"

# One boot of L1 runs the scenarios. If the emulated platform loses L1
# itself (Documentation/testbed.md, "Quirks") in a check or bench run, L1
# boots again for the scenario it was in and those after it; see
# l1_lost_silently. L1 may be lost three times, within a budget for all the
# boots of the run (COVMM_TESTBED_BUDGET seconds, which `make check` sets
# from what is left of CI's 90 minutes, see check.sh; else 45 minutes on the
# debug kernel, 30 on the stock one, twice a boot's limit for a benchmark).
t0=$SECONDS
boots=4
budget=${COVMM_TESTBED_BUDGET:-$(if [ "$mode" = bench ]; then echo $((2 * timeout)); elif [ "$flavor" = debug ]; then echo 2700; else echo 1800; fi)}
for boot in $(seq 1 "$boots"); do
	left=$((budget - (SECONDS - t0)))
	if [ "$boot" -gt 1 ] && [ "$left" -lt 300 ]; then
		echo "NOTE testbed: no boot more: $((SECONDS - t0)) s of the run's $budget s are spent" >>"$run/results.earlier"
		break
	fi
	log "booting the $flavor testbed (L1 under TCG, L2 under nested KVM); log: $run/l1-console.log"
	rc=0
	t_boot=$SECONDS
	limit=$((left < timeout ? left : timeout))
	boot_l1 "$run" "$tree" "$limit" || rc=$?
	log "L1 boot $boot ran for $((SECONDS - t_boot)) s (qemu exit $rc)"
	[ "$boot" -lt "$boots" ] && [[ $mode == check || $mode == bench ]] && l1_lost_silently "$run" "$rc" || break
	mapfile -t rest < <(scenarios_not_done "$run" "${scenarios[@]}")
	[ ${#rest[@]} -gt 0 ] || break
	set_aside_lost_boot "$run" "$rc" "$boot" "${rest[@]}"
done
echo "$((SECONDS - t0))" >"$run/testbed-seconds"
# The last boot's CPU state, set aside with its logs when it was lost.
stuck=$run/l1-stuck-cpus.txt
[ -f "$stuck" ] || [ "$boot" -lt 2 ] || stuck=$run/lost-l1.$((boot - 1))/l1-stuck-cpus.txt
case $rc in
0) ;;
# Why L0 stopped a stuck boot is the first line stop_stuck_l1 wrote.
123 | 124 | 125) echo "FAIL testbed: $(head -n 1 "$stuck" 2>/dev/null) (CPU state in $stuck)" >>"$run/results" ;;
137) echo "FAIL testbed: L1 did not finish within $limit s" >>"$run/results" ;;
*) echo "FAIL testbed: L1's QEMU exited with status $rc" >>"$run/results" ;;
esac
summarize_run "$run" "$flavor"
