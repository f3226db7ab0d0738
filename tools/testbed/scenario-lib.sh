# SPDX-License-Identifier: GPL-2.0
# Helpers for testbed scenarios. Runs in L1 (chrooted into L0's root).
#
# A scenario is tools/testbed/scenarios/NN-name.sh. It is sourced by
# scenario_main, runs commands in L1 and, through the agent, in L2 guests, and
# records one line per assertion in $RUN/results:
#
#   host_load / host_unload        insmod / rmmod host-vmrpc in L1
#   l2_start NAME [QEMU ARGS]      boot an L2 guest and wait for its agent
#   l2 NAME CMD...                 run CMD in the guest; prints its output,
#                                  returns its status
#   l2_stop NAME / l2_kill NAME    power off cleanly / SIGKILL its QEMU
#   check DESC CMD...              passes if CMD succeeds
#   check_eq DESC WANT GOT         passes if the strings are equal
#   check_match DESC ERE GOT       passes if GOT matches the extended regex
#   kunit_results SUITE [L2NAME]   one assertion per KUnit case of SUITE
#
# Every L2 still running when the scenario ends is stopped, and its dmesg is
# kept for the splat scan.

set -u
SOCKDIR=/run/covmm-l2
mkdir -p "$SOCKDIR"
declare -A L2_PID=()
SCENARIO=""

_result() {
	echo "$1 $SCENARIO: $2" >>"$RUN/results"
	echo "$1: $2"
}
pass() { _result PASS "$1"; }
fail() { _result FAIL "$1"; }

check() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc (status $?: $(echo "$out" | tail -n 3 | tr '\n' ' '))"
	fi
}

check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (wanted '$2', got '$3')"; fi
}

check_match() {
	if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1 (wanted /$2/, got '$3')"; fi
}

host_load() {
	insmod "$MODULES/host-vmrpc/host_vmrpc.ko" "$@"
}

host_unload() {
	rmmod host_vmrpc
}

host_loaded() { grep -q '^host_vmrpc ' /proc/modules; }

l2_start() {
	local name=$1
	shift
	local sock=$SOCKDIR/$name.sock
	rm -f "$sock"
	qemu-system-x86_64 -enable-kvm -cpu host -smp 2 -m 512 \
		-nodefaults -no-reboot -display none \
		-kernel "$KERNEL" -initrd "$RUN/l2.cpio.gz" \
		-append "console=ttyS0 loglevel=5 panic=-1 oops=panic covmm.name=$name" \
		-serial "file:$RUN/l2-$SCENARIO-$name-console.log" \
		-device virtio-serial-pci \
		-chardev "socket,id=agent,path=$sock,server=on,wait=off" \
		-device virtserialport,chardev=agent,name=covmm.agent \
		"$@" </dev/null >"$RUN/log/$SCENARIO-$name-qemu.log" 2>&1 &
	L2_PID[$name]=$!
	if "$TOOLS/covmm-tb" wait "$sock" --timeout "${L2_BOOT_TIMEOUT:-240}"; then
		return 0
	fi
	echo "l2_start: $name did not come up; QEMU said:" >&2
	cat "$RUN/log/$SCENARIO-$name-qemu.log" >&2
	return 1
}

l2() {
	local name=$1
	shift
	"$TOOLS/covmm-tb" exec "$SOCKDIR/$name.sock" --timeout "${L2_CMD_TIMEOUT:-120}" -- "$@"
}

l2_pid() { echo "${L2_PID[$1]}"; }

_l2_wait_exit() {
	local pid=$1 i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

l2_stop() {
	local name=$1 pid=${L2_PID[$1]:-}
	[ -n "$pid" ] || return 0
	l2 "$name" dmesg >"$RUN/l2-$SCENARIO-$name-dmesg.txt" 2>/dev/null
	l2 "$name" poweroff -f >/dev/null 2>&1
	_l2_wait_exit "$pid"
	unset "L2_PID[$name]"
}

l2_kill() {
	local name=$1 pid=${L2_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	unset "L2_PID[$name]"
}

# KTAP from debugfs: "ok N name" / "not ok N name" for each case of SUITE.
kunit_results() {
	local suite=$1 where=${2:-} ktap
	if [ -z "$where" ]; then
		ktap=$(cat "/sys/kernel/debug/kunit/$suite/results" 2>/dev/null)
	else
		ktap=$(l2 "$where" cat "/sys/kernel/debug/kunit/$suite/results" 2>/dev/null)
	fi
	if [ -z "$ktap" ]; then
		fail "KUnit suite $suite produced no results"
		return
	fi
	local line cases=0
	while read -r line; do
		# Case lines are indented; the suite's own summary line is not.
		if [[ $line =~ ^(not\ )?ok\ [0-9]+\ ([A-Za-z0-9_]+) ]] && [ "${BASH_REMATCH[2]}" != "$suite" ]; then
			cases=$((cases + 1))
			if [ -z "${BASH_REMATCH[1]}" ]; then
				pass "KUnit $suite.${BASH_REMATCH[2]}"
			else
				fail "KUnit $suite.${BASH_REMATCH[2]}"
			fi
		fi
	done <<<"$ktap"
	[ $cases -gt 0 ] || fail "KUnit suite $suite ran no cases"
}

_scenario_cleanup() {
	local name
	for name in "${!L2_PID[@]}"; do
		l2_stop "$name"
	done
	if host_loaded; then
		rmmod host_vmrpc || fail "host-vmrpc could not be unloaded at the end of the scenario"
	fi
}

scenario_main() {
	SCENARIO=$1
	trap _scenario_cleanup EXIT
	set +e
	local file=$REPO/tools/testbed/scenarios/$SCENARIO.sh
	[ -f "$file" ] || file=$REPO/tools/testbed/$SCENARIO.sh
	. "$file"
}
