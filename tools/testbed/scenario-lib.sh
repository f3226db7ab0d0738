# SPDX-License-Identifier: GPL-2.0
# Helpers for testbed scenarios. Runs in L1 (chrooted into L0's root).
#
# A scenario is tools/testbed/scenarios/NN-name.sh. It is sourced by
# scenario_main, runs commands in L1 and, through the agent, in L2 guests, and
# records one line per assertion in $RUN/results:
#
#   host_load / host_unload        insmod / rmmod host-vmrpc in L1
#   l1_slab_kb                     L1's unreclaimable slab, caches shrunk
#   check_slab_flat DESC KB0 KB1   passes if it grew by less than 512 kB
#   l2_start NAME [QEMU ARGS]      boot an L2 guest and wait for its agent;
#                                  with L2_COM=1 it also has a spare 16550
#                                  (ttyS1) and a virtio-serial port
#                                  org.covmm.com.0 for the serial channel,
#                                  behind QEMU sockets $SOCKDIR/NAME.uart.sock
#                                  and NAME.vport.sock
#   l2 NAME CMD...                 run CMD in the guest; prints its output,
#                                  returns its status
#   l2_long SECS NAME CMD...       the same, for a CMD that may take up to
#                                  SECS seconds (l2 gives up after 120)
#   l2_shared NAME                 the same guest for every scenario of the boot
#   l2_stop NAME / l2_kill NAME    power off cleanly / SIGKILL its QEMU
#   l2_crash NAME                  crash its kernel (sysrq c), keeping the
#                                  panic out of the splat scan
#   l2_raw NAME ARGS...            RAX of `covmm-guest raw ARGS` in the guest
#   check DESC CMD...              passes if CMD succeeds
#   check_eq DESC WANT GOT         passes if the strings are equal
#   check_match DESC ERE GOT       passes if GOT matches the extended regex
#   kunit_results SUITE [L2NAME]   one assertion per KUnit case of SUITE
#   rv_wait_slots PID N            wait (10 s) until VM PID's guest offers N
#                                  Reverse VMRPC slots
#   as_nobody CMD...               run CMD in L1 as uid/gid 65534, with its
#                                  stderr in its output
#
# Every L2 still running when the scenario ends is stopped, and its dmesg is
# kept for the splat scan.

set -u
SOCKDIR=/run/covmm-l2
# vCPUs per L2: one, because the emulated platform resets L2s (and sometimes
# L1) when two L1 CPUs run nested guests at once (see "Quirks" in
# Documentation/testbed.md). A scenario may set L2_SMP=2.
L2_SMP=${L2_SMP:-1}
mkdir -p "$SOCKDIR"
declare -A L2_PID=()
declare -A SHARED_USED=()
SCENARIO=""

# The runner points RESULTS at the current scenario's own file.
_result() {
	echo "$1 $SCENARIO: $2" >>"${RESULTS:-$RUN/results}"
	# The log says when, from the scenario's start: where its time went.
	echo "$1: $2 (at $SECONDS s)"
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

# Failure messages keep the end of long outputs (a whole dmesg, say).
_tail_of() {
	local s=${1//$'\n'/ }
	if [ ${#s} -gt 240 ]; then echo "...${s: -240}"; else echo "$s"; fi
}

check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (wanted '$2', got '$(_tail_of "$3")')"; fi
}

check_match() {
	if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1 (wanted /$2/, got '$(_tail_of "$3")')"; fi
}

host_load() {
	insmod "$MODULES/host-vmrpc/host_vmrpc.ko" "$@"
}

host_unload() {
	rmmod host_vmrpc
}

host_loaded() { grep -q '^host_vmrpc ' /proc/modules; }

# by_flavor STOCK DEBUG: the size of a workload on this kernel. The stock run
# checks a workload at full size; the debug kernel (KASAN, lockdep, under
# TCG, each operation several times slower) runs the same steps on a smaller
# size, which is enough for its purpose, the splat scan, and keeps the debug
# suite inside CI's 90 minutes.
by_flavor() {
	if [ "$FLAVOR" = debug ]; then echo "$2"; else echo "$1"; fi
}

# check_slab_flat DESC BEFORE AFTER: passes if L1's unreclaimable slab grew by
# less than 512 kB. On the stock kernel readings move by about 100 kB around
# a VM's life and 100,000 calls, so a leak of 10 bytes per call shows. On the
# debug kernel KASAN's quarantine and the debug allocations move them by more
# than 1 MB either way (-936 kB and +1312 kB over the same fuzz run), so there
# the readings are only logged; the stock run is the leak check.
check_slab_flat() {
	local desc="$1 ($2 -> $3 kB)"
	if [ "$FLAVOR" = debug ]; then
		echo "NOTE: $desc; not checked on the debug kernel"
		return 0
	fi
	check "$desc" test $(($3 - $2)) -lt 512
}

# L1's unreclaimable slab in kB, after reclaimable caches were dropped and
# every slab cache shrunk: shrinking also drains KASAN's quarantine of that
# cache, which otherwise holds megabytes of freed objects on the debug kernel.
l1_slab_kb() {
	local f
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for f in /sys/kernel/slab/*/shrink; do echo 1 >"$f" 2>/dev/null; done
	sleep 1
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo
}

# _l2_boot NAME TAG [QEMU ARGS]: boots an L2 whose logs are named after TAG.
_l2_boot() {
	local name=$1 tag=$2
	shift 2
	local sock=$SOCKDIR/$name.sock pidfile=$SOCKDIR/$name.pid
	local status=$SOCKDIR/$name.exit
	rm -f "$sock" "$pidfile" "$status" "$SOCKDIR/$name.hung" "$SOCKDIR/$name.death"
	# The serial channel's ports only where asked for (L2_COM=1): L2s lost to
	# the platform became more frequent once every L2 had them
	# (Documentation/testbed.md, "Quirks").
	local com=()
	if [ "${L2_COM:-0}" = 1 ]; then
		com=(-chardev "socket,id=comu,path=$SOCKDIR/$name.uart.sock,server=on,wait=off"
			-device isa-serial,chardev=comu
			-chardev "socket,id=comv,path=$SOCKDIR/$name.vport.sock,server=on,wait=off"
			-device virtserialport,chardev=comv,name=org.covmm.com.0)
	fi
	echo "$tag" >"$SOCKDIR/$name.tag"
	# A guest booted again under the same name keeps the old logs.
	local f
	for f in "$RUN/l2-$tag-$name-console.log" "$RUN/l2-$tag-$name-dmesg.txt"; do
		[ ! -f "$f" ] || mv "$f" "${f%.*}.$(date +%s).old.${f##*.}"
	done
	# L2_USER=UID: QEMU runs as that user and group, with no other groups,
	# as an unprivileged VMM does. It gets /dev/kvm, a kernel it can read
	# (the cache under /root is not), the socket directory, and the files
	# it opens made its own.
	local kernel=$KERNEL as=()
	if [ -n "${L2_USER:-}" ]; then
		as=(setpriv --reuid="$L2_USER" --regid="$L2_USER" --clear-groups --)
		chmod 0666 /dev/kvm
		chmod 1777 "$SOCKDIR"
		kernel=$SOCKDIR/$name.vmlinuz
		install -m 0644 "$KERNEL" "$kernel"
		for f in "$RUN/l2-$tag-$name-console.log" "$RUN/log/$tag-$name-qemu-debug.log"; do
			: >"$f"
			chown "$L2_USER:$L2_USER" "$f"
		done
	fi
	# QEMU's exit status is kept: an L2 that dies on its own is a finding.
	(
		"${as[@]}" qemu-system-x86_64 -enable-kvm -cpu host -smp "$L2_SMP" -m 512 \
			-nodefaults -no-reboot -display none \
			-kernel "$kernel" -initrd "$RUN/l2.cpio.gz" \
			-append "console=ttyS0 loglevel=5 panic=-1 oops=panic kunit.filter_glob=covmm* covmm.name=$name" \
			-serial "file:$RUN/l2-$tag-$name-console.log" \
			-device virtio-serial-pci \
			-chardev "socket,id=agent,path=$sock,server=on,wait=off" \
			-device virtserialport,chardev=agent,name=covmm.agent \
			"${com[@]}" \
			-pidfile "$pidfile" \
			-d cpu_reset,guest_errors -D "$RUN/log/$tag-$name-qemu-debug.log" \
			-monitor "unix:$SOCKDIR/$name.mon,server=on,wait=off" \
			${L2_EXTRA:-} "$@" </dev/null >"$RUN/log/$tag-$name-qemu.log" 2>&1
		echo "$?" >"$status"
	) 2>>"$RUN/log/$tag-$name-qemu.log" & # the wrapper outlives the scenario
	# Wait for the agent in short steps, so that a QEMU that exits during the
	# boot is noticed at once rather than after the whole timeout.
	local waited=0 limit=${L2_BOOT_TIMEOUT:-$([ "$FLAVOR" = debug ] && echo 300 || echo 90)}
	while [ "$waited" -lt "$limit" ]; do
		if "$TOOLS/covmm-tb" wait "$sock" --timeout 5 2>/dev/null; then
			# Where its kernel sits (KASLR), should it hang (_l2_report_hang).
			"$TOOLS/covmm-tb" exec "$sock" --timeout 30 -- grep -m1 ' _stext$' /proc/kallsyms \
				>"$SOCKDIR/$name.stext" 2>/dev/null
			return 0
		fi
		waited=$((waited + 5))
		# QEMU writes its pidfile only once it has set the machine up, which
		# takes seconds in a loaded L1: no pidfile yet is no death yet.
		case $(l2_exit_status "$name") in
		running) ;;
		"never started") [ "$waited" -lt 60 ] || break ;;
		*) break ;;
		esac
	done
	echo "l2_start: $name did not come up within $waited s (QEMU: $(l2_exit_status "$name")):" >&2
	cat "$RUN/log/$tag-$name-qemu.log" >&2
	[ "$(l2_exit_status "$name")" != running ] || kill -9 "$(cat "$pidfile")"
	return 1
}

# An L2 whose QEMU dies while it boots (before its agent answers, so before
# it could make any CoVMM call) is booted once more: the emulated platform
# loses an L2 now and then when two run at once (Documentation/testbed.md,
# "Quirks"). Each such retry is recorded as a NOTE line in the results.
l2_start() {
	local name=$1 status
	shift
	if ! _l2_boot "$name" "$SCENARIO" "$@"; then
		status=$(l2_exit_status "$name")
		case $status in running | "never started") return 1 ;; esac
		echo "NOTE $SCENARIO: L2 $name died while booting (QEMU status $status); booting it again" >>"${RESULTS:-$RUN/results}"
		_l2_boot "$name" "$SCENARIO" "$@" || return 1
	fi
	L2_PID[$name]=$(cat "$SOCKDIR/$name.pid")
}

# l2_shared NAME: a guest that outlives the scenario, so that scenarios which
# only need "a guest" share one boot (debug-kernel L2s take minutes). It is
# started on first use. At the end of each scenario CoVMM's guest modules are
# unloaded from it; the runner powers it off after the last scenario.
l2_shared() {
	local name=$1
	if [ "$(l2_exit_status "$name")" = running ] && [ -S "$SOCKDIR/$name.sock" ]; then
		if [ ! -f "$SOCKDIR/$name.hung" ]; then
			SHARED_USED[$name]=1
			return 0
		fi
		# An earlier scenario already failed on it; later ones get a new one.
		kill -9 "$(cat "$SOCKDIR/$name.pid")" 2>/dev/null
		_l2_wait_exit "$(cat "$SOCKDIR/$name.pid")"
	fi
	_l2_boot "$name" shared || return 1
	SHARED_USED[$name]=1
}

# hlfs_shared_mount TAG DIR: the shared guest with guest-rvmrpc (one
# Reverse VMRPC thread) and guest-hlfs loaded, DIR exported to it as TAG and
# mounted at /mnt/w; sets vm. hlfs_shared_unmount TAG [DESC] undoes it.
hlfs_shared_mount() {
	check "host-vmrpc loads" host_load
	l2_shared guest || fail "the shared L2 guest boots"
	vm=$(l2_pid guest)
	check "guest-rvmrpc and guest-hlfs load" \
		l2 guest 'insmod /covmm/guest_rvmrpc.ko servers=1 && insmod /covmm/guest_hlfs.ko'
	check "covmm export" "$TOOLS/covmm" export "$vm" "$1" "$2"
	l2 guest mkdir -p /mnt/w
	check "the guest mounts it" l2 guest mount -t hlfs "$1" /mnt/w
}

hlfs_shared_unmount() {
	check "${2:-the mount unmounts}" l2 guest umount /mnt/w
	check "covmm unexport" "$TOOLS/covmm" unexport "$vm" "$1"
	check "guest-hlfs unloads" l2 guest rmmod guest_hlfs
}

# l2_start_alone NAME [QEMU ARGS]: l2_start, once the shared guests are
# powered off. Two L2s at once is when the emulated platform loses guests,
# and L1 with them (Documentation/testbed.md, "Quirks"): in a debug run a
# second guest died while booting, and L1 triple-faulted when it booted
# again. The next scenario that wants the shared guest boots it anew.
l2_start_alone() {
	stop_shared_guests
	l2_start "$@"
}

# Prints why an L2's QEMU has ended ("running" if it has not, "never started").
l2_exit_status() {
	# QEMU removes its pidfile before the wrapper records its status.
	[ -f "$SOCKDIR/$1.pid" ] || [ ! -f "$SOCKDIR/$1.tag" ] || [ -f "$SOCKDIR/$1.exit" ] || sleep 0.5
	if [ -f "$SOCKDIR/$1.exit" ]; then
		cat "$SOCKDIR/$1.exit"
	elif [ -f "$SOCKDIR/$1.pid" ]; then
		echo running
	else
		echo "never started"
	fi
}

# A guest whose agent stopped answering is marked hung, so that the commands
# after the first one fail at once instead of each waiting out its timeout.
l2() {
	local name=$1 rc
	shift
	if [ -f "$SOCKDIR/$name.hung" ]; then
		echo "l2: guest $name stopped answering earlier; not trying again" >&2
		return 125
	fi
	"$TOOLS/covmm-tb" exec "$SOCKDIR/$name.sock" --timeout "${L2_CMD_TIMEOUT:-120}" -- "$@"
	rc=$?
	if [ $rc -eq 125 ]; then
		if [ "$(l2_exit_status "$name")" != running ]; then
			echo "l2: guest $name is gone: its QEMU exited with status $(l2_exit_status "$name")" >&2
			_l2_report_death "$name"
		else
			touch "$SOCKDIR/$name.hung"
			fail "guest $name stopped answering (its QEMU still runs)"
			_l2_report_hang "$name"
		fi
	fi
	return $rc
}

l2_long() {
	local L2_CMD_TIMEOUT=$1
	shift
	l2 "$@"
}

# What in an L2's console rules out putting its loss down to the platform.
L2_REPORT_PATTERNS='WARNING:|BUG:|Oops|general protection fault|double fault|Kernel panic|Call Trace:|INFO: task|rcu: INFO:|soft lockup'

# The first time a guest is found dead, records why as far as its logs tell:
# a "FAIL" line (an L2 dying on its own is a failure of the scenario), the end
# of its console (an oops with panic=-1 resets it, and -no-reboot ends QEMU
# with status 0) and the last state QEMU logged at a CPU reset (a triple
# fault leaves no trace in the guest's console).
_l2_report_death() {
	local name=$1 tag
	[ ! -f "$SOCKDIR/$name.death" ] || return 0
	touch "$SOCKDIR/$name.death"
	tag=$(cat "$SOCKDIR/$name.tag")
	fail "guest $name died on its own (QEMU status $(l2_exit_status "$name"))"
	# The platform's own deaths (Documentation/testbed.md, "Quirks") are
	# shutdown exits: QEMU logs no CPU reset after the two of its start, and
	# the guest's console reports nothing. Any kernel report there fails the
	# run anyway (the kernel-log checks read every console).
	if [ "$(l2_exit_status "$name")" = 0 ] &&
		[ "$(grep -c 'CPU Reset' "$RUN/log/$tag-$name-qemu-debug.log" 2>/dev/null)" -le 2 ] &&
		! grep -qE "$L2_REPORT_PATTERNS" "$RUN/l2-$tag-$name-console.log" 2>/dev/null; then
		echo "an L2 died silently (QEMU status 0, no CPU reset, nothing in its console)" >"$RUN/silent-death"
	fi
	{
		echo "---- end of $RUN/l2-$tag-$name-console.log"
		tail -n 40 "$RUN/l2-$tag-$name-console.log" 2>/dev/null
		echo "---- $RUN/log/$tag-$name-qemu-debug.log: $(grep -c 'CPU Reset' \
			"$RUN/log/$tag-$name-qemu-debug.log" 2>/dev/null) CPU resets, the last:"
		awk '/CPU Reset/ { n = 0; last = "" } { if (n++ < 3) last = last $0 "\n" } END { printf "%s", last }' \
			"$RUN/log/$tag-$name-qemu-debug.log" 2>/dev/null
		echo "----"
	} >&2
}

# The first time a guest stops answering while its QEMU runs, records what
# QEMU can tell: whether the VM still runs, every vCPU's registers (with the
# guest kernel's load address, to place RIP), and QEMU's own log. A VM that
# KVM stopped with an internal error in event delivery, with nothing in its
# console, met the emulated platform's EVENTINJ quirk (Documentation/
# testbed.md, "Quirks"), not CoVMM: the runner runs the scenario again, as
# for a silent death.
_l2_report_hang() {
	local name=$1 tag status
	tag=$(cat "$SOCKDIR/$name.tag")
	status=$(printf 'info status\n' | socat -t 5 - "UNIX-CONNECT:$SOCKDIR/$name.mon" 2>&1 |
		tr -d '\r' | sed -n 's/^VM status: //p')
	{
		echo "---- guest $name: QEMU says the VM is ${status:-(no answer from its monitor)}; its kernel: $(cat "$SOCKDIR/$name.stext" 2>/dev/null)"
		printf 'info registers -a\n' | socat -t 5 - "UNIX-CONNECT:$SOCKDIR/$name.mon" 2>&1 |
			tr -d '\r' | grep -v '^(qemu)' | grep -E '^(CPU#|RAX|RSI|R8|R12|RIP|CS |CR0|EFER)'
		l2_qemu_threads "$name"
		echo "---- end of $RUN/log/$tag-$name-qemu.log"
		tail -n 20 "$RUN/log/$tag-$name-qemu.log" 2>/dev/null
		echo "---- end of $RUN/l2-$tag-$name-console.log"
		tail -n 20 "$RUN/l2-$tag-$name-console.log" 2>/dev/null
		echo "----"
	} >&2
	if [[ $status == *internal-error* ]] &&
		grep -q 'KVM internal error. Suberror: 3' "$RUN/log/$tag-$name-qemu.log" 2>/dev/null &&
		! grep -qE "$L2_REPORT_PATTERNS" "$RUN/l2-$tag-$name-console.log" 2>/dev/null; then
		echo "KVM stopped an L2 with an internal error in event delivery (the emulated platform's EVENTINJ quirk), nothing in its console" >"$RUN/silent-death"
	fi
}

l2_pid() { cat "$SOCKDIR/$1.pid"; }

# l2_qemu_threads NAME: what each thread of the guest's QEMU in L1 is doing
# (state, CPU ticks, wait channel, system call, kernel stack): a QEMU whose
# main loop is stuck answers neither its monitor nor its sockets.
l2_qemu_threads() {
	local pid t stat st
	pid=$(cat "$SOCKDIR/$1.pid" 2>/dev/null) || return 0
	echo "---- threads of guest $1's QEMU (pid $pid) in L1:"
	for t in /proc/"$pid"/task/*; do
		stat=$(cat "$t/stat" 2>/dev/null) || continue
		# The fields after the name, which may hold spaces ("CPU 0/KVM"):
		# state, ..., utime (11), stime (12).
		read -ra st <<<"${stat##*) }"
		echo "$(cat "$t/comm" 2>/dev/null) (${t##*/}): state ${st[0]} utime ${st[11]} stime ${st[12]} wchan $(cat "$t/wchan" 2>/dev/null) syscall $(cat "$t/syscall" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null
	done
}

# l2_raw NAME ARGS...: RAX of a raw CoVMM hypercall made by the guest's
# kernel (`covmm-guest raw ARGS`), or nothing if the tool failed.
l2_raw() {
	local name=$1
	shift
	l2 "$name" covmm-guest --json raw "$@" | sed -n 's/.*"result":\(-\{0,1\}[0-9]*\).*/\1/p'
}

_l2_wait_exit() {
	local pid=$1 i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null
	return 1
}

# l2_stop NAME: clean power-off, keeping the guest's dmesg for the splat scan.
l2_stop() {
	local name=$1 pid tag
	pid=$(cat "$SOCKDIR/$name.pid" 2>/dev/null) || return 0
	tag=$(cat "$SOCKDIR/$name.tag")
	if [ "$(l2_exit_status "$name")" = running ]; then
		l2 "$name" dmesg >"$RUN/l2-$tag-$name-dmesg.txt" 2>/dev/null
		# The agent dies with the guest, so this never answers.
		"$TOOLS/covmm-tb" exec "$SOCKDIR/$name.sock" --timeout 5 -- poweroff -f >/dev/null 2>&1
		_l2_wait_exit "$pid"
	fi
	touch "$SOCKDIR/$name.death" # ended on purpose, not a finding
	rm -f "$SOCKDIR/$name.pid"
	unset "L2_PID[$name]" "SHARED_USED[$name]"
}

# l2_kill NAME: SIGKILL its QEMU, as a crashing or killed VMM would end.
l2_kill() {
	local name=$1 pid tag
	pid=$(cat "$SOCKDIR/$name.pid" 2>/dev/null) || return 0
	tag=$(cat "$SOCKDIR/$name.tag")
	l2 "$name" dmesg >"$RUN/l2-$tag-$name-dmesg.txt" 2>/dev/null
	kill -9 "$pid"
	_l2_wait_exit "$pid"
	touch "$SOCKDIR/$name.death" # ended on purpose, not a finding
	rm -f "$SOCKDIR/$name.pid"
	unset "L2_PID[$name]" "SHARED_USED[$name]"
}

# l2_crash NAME: crash the guest's kernel on purpose (sysrq c), as a guest
# that panics would end, and wait until its QEMU has exited (-no-reboot).
# Its dmesg up to then is kept for the splat scan, and so is its console up
# to the crash; the deliberate panic and what follows it go to
# $RUN/log/l2-TAG-NAME-crash.log, which the scan does not read. Fails if the
# guest did not go down through that crash.
l2_crash() {
	local name=$1 pid tag console
	tag=$(cat "$SOCKDIR/$name.tag")
	console=$RUN/l2-$tag-$name-console.log
	# A guest that is gone already is reported as any other death (l2), so
	# that one the platform lost runs the scenario again.
	l2 "$name" dmesg >"$RUN/l2-$tag-$name-dmesg.txt" 2>/dev/null || return 1
	pid=$(cat "$SOCKDIR/$name.pid" 2>/dev/null) || return 1
	# The agent dies with the guest, so this never answers.
	"$TOOLS/covmm-tb" exec "$SOCKDIR/$name.sock" --timeout 5 -- 'echo c >/proc/sysrq-trigger' >/dev/null 2>&1
	_l2_wait_exit "$pid" || return 1
	touch "$SOCKDIR/$name.death" # ended on purpose, not a finding
	rm -f "$SOCKDIR/$name.pid"
	unset "L2_PID[$name]" "SHARED_USED[$name]"
	# sysrq announces the crash, then panic() reports it.
	local crash='sysrq: Trigger a crash\|Kernel panic - not syncing: sysrq triggered crash'
	grep -q "$crash" "$console" || return 1
	sed -n "/$crash/,\$p" "$console" >"$RUN/log/l2-$tag-$name-crash.log"
	sed -i "/$crash/,\$d" "$console"
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>&1; }

rv_wait_slots() {
	local status=/proc/covmm/$1/status
	for _ in $(seq 1 50); do
		grep -q "^server: running, $2 slots" "$status" 2>/dev/null && return 0
		sleep 0.2
	done
	cat "$status" >&2
	return 1
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
	for name in "${!SHARED_USED[@]}"; do
		# Background jobs in a shared guest record their pids in /tmp/covmm-bg.pids.
		l2 "$name" 'kill $(cat /tmp/covmm-bg.pids 2>/dev/null) 2>/dev/null; rm -f /tmp/covmm-bg.pids
			for m in guest_hlfs guest_rvmrpc; do grep -q "^$m " /proc/modules && rmmod $m; done; true' >/dev/null
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

# Called by the runner after the last scenario: power off shared guests.
stop_shared_guests() {
	local f name
	for f in "$SOCKDIR"/*.tag; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .tag)
		[ "$(cat "$f")" = shared ] && l2_stop "$name"
	done
}
