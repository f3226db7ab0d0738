# SPDX-License-Identifier: GPL-2.0
# L0 side of the testbed: images, the L1 boot, and reading results back.
# Sourced by run.sh, check.sh and demo.sh after tools/build/common.sh.

TESTBED=$COVMM_ROOT/tools/testbed

# The time limit of one L1 boot that runs the whole suite on FLAVOR, well
# above what the suite takes (about 17 and 31 minutes on 2 cores), so that
# only a hang reaches it. A stock boot ran past 20 minutes in CI on
# 2026-12-06, when 20-two-guests took five minutes instead of half of one,
# so the stock limit leaves about 8 minutes beyond a good boot.
l1_boot_limit() { if [ "$1" = debug ]; then echo 2700; else echo 1500; fi; }

# Every scenario in tools/testbed/scenarios, in name order.
default_scenarios() {
	find "$TESTBED/scenarios" -name '*.sh' -printf '%f\n' | sed 's/\.sh$//' | sort
}

# The user-space tools the guests need, linked statically so that a busybox
# initramfs can run them. Prints the directory holding the binaries.
build_static_tools() {
	local target=x86_64-unknown-linux-gnu
	(cd "$COVMM_ROOT/tools" &&
		RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --target "$target" \
			-p covmm-testbed -p covmm-guest -p covmm -p covmm-agent -p covmm-sample-user-print \
			--bins --example io-policy >&2) || die "building the static tools failed"
	echo "$COVMM_ROOT/tools/target/$target/release"
}

# Copies the modules needed to load MODULE... (dependencies first) from a
# Debian module tree into an initramfs, and appends their insmod order to
# DEST/etc/covmm-modules.
add_debian_modules() {
	local modroot=$1 release=$2 dest=$3
	shift 3
	local line path
	mkdir -p "$dest/etc"
	for m in "$@"; do
		modprobe -d "$modroot" -S "$release" --show-depends "$m" |
			while read -r line; do
				case $line in
				insmod\ *)
					path=${line#insmod }
					path=${path%% *}
					mkdir -p "$dest$(dirname "${path#"$modroot"}")"
					cp "$path" "$dest${path#"$modroot"}"
					grep -qxF "${path#"$modroot"}" "$dest/etc/covmm-modules" 2>/dev/null ||
						echo "${path#"$modroot"}" >>"$dest/etc/covmm-modules"
					;;
				esac
			done
	done
}

# Copies BINARY and the shared libraries it loads (with the dynamic loader)
# from L0 into an initramfs, under the same paths.
add_dynamic_binary() {
	local dest=$1 bin=$2 lib
	mkdir -p "$dest$(dirname "$bin")"
	cp "$bin" "$dest$bin"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$dest$(dirname "$lib")"
		cp -L "$lib" "$dest$lib"
	done
}

# Packs a directory as a gzip'd newc cpio.
pack_initramfs() {
	(cd "$1" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$2"
}

# Builds a busybox initramfs with INIT as /init. Extra files come from the
# caller through the directory it returns.
new_initramfs_dir() {
	local dir=$1 init=$2
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,root,covmm}
	cp /bin/busybox "$dir/bin/busybox"
	cp "$init" "$dir/init"
	chmod 755 "$dir/init"
}

# prepare_run_dir RUN TREE FLAVOR MODE SCENARIO...
prepare_run_dir() {
	local run=$1 tree=$2 flavor=$3 mode=$4
	shift 4
	local release tools
	release=$(cat "$tree/release")
	[ -x /bin/busybox ] && file_is_static /bin/busybox ||
		die "/bin/busybox is missing or not static; run 'make deps' (busybox-static)"

	"$COVMM_ROOT/tools/build/modules.sh" "$flavor" >/dev/null
	tools=$(build_static_tools)

	rm -rf "$run"
	mkdir -p "$run"

	# L1: busybox, plus Debian's 9p, KVM and vhost-vsock modules on the stock
	# kernel (the debug kernel has them built in).
	local l1=$run/.l1-root
	new_initramfs_dir "$l1" "$TESTBED/l1-init"
	if [ "$flavor" = stock ]; then
		add_debian_modules "$tree/modroot" "$release" "$l1" 9pnet_virtio 9p kvm_amd vhost_vsock
	fi
	pack_initramfs "$l1" "$run/l1.cpio.gz"
	rm -rf "$l1"

	# L2: busybox, the testbed's agent, the guest tool, the serial channel's
	# covmm-agent with its sample configuration, CoVMM's guest modules, the
	# workloads of 41-hlfs-workloads, and
	# on the stock kernel the anchors of `make bench`: Debian's virtio-vsock
	# (and in bench runs 9p and virtiofs) modules (listed in
	# /etc/covmm-modules, which it loads) and L0's qemu-guest-agent.
	local l2=$run/.l2-root
	new_initramfs_dir "$l2" "$TESTBED/l2-init"
	if [ "$flavor" = stock ]; then
		add_debian_modules "$tree/modroot" "$release" "$l2" vmw_vsock_virtio_transport
		add_dynamic_binary "$l2" /usr/sbin/qemu-ga
	fi
	# The hlfs benchmark's anchors, virtio-9p and virtiofs (only there, so
	# that the test scenarios' guests stay as they were).
	local virtiofsd=
	if [ "$mode" = bench ] && [[ " ${BENCH_PARTS:-fs} " == *" fs "* ]]; then
		add_debian_modules "$tree/modroot" "$release" "$l2" 9pnet_virtio 9p
		# Debian builds virtiofs into the kernel (fs/fuse holds only cuse).
		[ -z "$(find "$tree/modroot" -name 'virtiofs.ko*')" ] ||
			add_debian_modules "$tree/modroot" "$release" "$l2" virtiofs
		virtiofsd=$("$COVMM_ROOT/tools/build/testbed-tool.sh" virtiofsd)
	fi
	# The workloads that 41-hlfs-workloads and 44-hlfs-stress run on hlfs:
	# Debian's sqlite3, git and stress-ng (33 MB with its libraries), and a
	# static fio.
	add_dynamic_binary "$l2" /usr/bin/sqlite3
	add_dynamic_binary "$l2" /usr/bin/git
	add_dynamic_binary "$l2" /usr/bin/stress-ng
	# git runs some of its own commands (fsck: commit-graph verify) from its
	# exec path.
	mkdir -p "$l2/usr/lib/git-core"
	ln -s /usr/bin/git "$l2/usr/lib/git-core/git"
	cp "$("$COVMM_ROOT/tools/build/testbed-tool.sh" fio)" "$l2/bin/fio"
	cp "$tools/covmm-tb" "$tools/covmm-guest" "$tools/covmm-agent" "$l2/bin/"
	cp "$COVMM_ROOT/tools/covmm-agent/agent.json" "$l2/etc/covmm-agent.json"
	cp "$COVMM_ROOT/build/$flavor/guest-rvmrpc/guest_rvmrpc.ko" \
		"$COVMM_ROOT/build/$flavor/guest-hlfs/guest_hlfs.ko" \
		"$COVMM_ROOT/build/$flavor"/samples/*/*_guest.ko \
		"$COVMM_ROOT/build/$flavor"/tools/testbed/modules/*_guest.ko "$l2/covmm/"
	pack_initramfs "$l2" "$run/l2.cpio.gz"
	rm -rf "$l2"

	cat >"$run/env" <<-EOF
		REPO=$COVMM_ROOT
		FLAVOR=$flavor
		MODE=$mode
		RELEASE=$release
		KERNEL=$tree/vmlinuz
		MODULES=$COVMM_ROOT/build/$flavor
		TOOLS=$tools
		SCENARIOS="$*"
		SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-$([ "$flavor" = debug ] && echo 600 || echo 300)}
		SOAK_SECONDS=${SOAK_SECONDS:-600}
	EOF
	[ -z "$virtiofsd" ] || echo "VIRTIOFSD=$virtiofsd" >>"$run/env"
	# The benchmark's knobs, passed on only when set (bench-scenario.sh).
	local knob
	for knob in BENCH_PARTS BENCH_ROUNDS COM_VPORT_BYTES COM_UART_BYTES COM_UART_ROUNDS IO_N IO_ROUNDS SOAK_SMP FS_MIB FS_FILES FS_ROUNDS FS_ANCHORS; do
		[ -z "${!knob:-}" ] || echo "$knob=\"${!knob}\"" >>"$run/env"
	done
	cp "$TESTBED/l1-runner.sh" "$run/l1-runner.sh"
}

file_is_static() { ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'INTERP'; }

# boot_l1 RUN TREE TIMEOUT: runs L1 to completion; returns QEMU's status.
#
# Two settings keep L1 honest under TCG:
#  - la57=off: with 5-level paging the debug kernel reports a KASAN
#    wild-memory-access in its first interrupt (before any CoVMM code runs);
#  - tsc_early_khz: L1's TSC is L0's, but a KASAN kernel under TCG fails its
#    early PIT calibration, and built-in KVM on a CPU model without
#    constant_tsc keeps that early rate for every guest (kvm_timer_init()), so
#    L2 timers fired minutes late. L0 measures the true rate and passes it.
boot_l1() {
	local run=$1 tree=$2 timeout=$3 tools khz
	tools=$(sed -n 's/^TOOLS=//p' "$run/env")
	khz=$("$tools/covmm-tb" tsc-khz)
	local qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max,la57=off -smp 2 -m 3072
		-nodefaults -no-reboot -display none
		-kernel "$tree/vmlinuz" -initrd "$run/l1.cpio.gz"
		-append "console=ttyS0 loglevel=5 panic=-1 oops=panic rdinit=/init kunit.filter_glob=covmm* tsc_early_khz=$khz"
		-serial "file:$run/l1-console.log"
		-d cpu_reset,guest_errors -D "$run/l1-qemu-debug.log"
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on
		-virtfs "local,path=$run,mount_tag=covmmrun,security_model=none"
		-virtfs "local,path=$COVMM_ROOT,mount_tag=covmmrepo,security_model=none,readonly=on"
		-monitor "unix:$run/l1-monitor.sock,server=on,wait=off")
	"${qemu[@]}" &
	local pid=$! deadline=$((SECONDS + timeout)) looks=0 wedged last= same=0 stalled
	while kill -0 "$pid" 2>/dev/null; do
		# Every 10 s: a CPU that QEMU stopped waking (l1_wedged_cpus),
		# the same one three looks in a row, or an L1 that stopped
		# making progress (l1_stalled) ends the boot at once.
		if [ $((++looks % 5)) = 0 ]; then
			wedged=$(l1_wedged_cpus "$run")
			if [ -n "$wedged" ] && [ "$wedged" = "$last" ]; then
				same=$((same + 1))
			else
				same=0
			fi
			last=$wedged
			if [ "$same" -ge 2 ]; then
				stop_stuck_l1 "$run" "$pid" "L1 wedged: a CPU halted with interrupts enabled and an interrupt it would take pending in its local APIC, for 20 s: $wedged"
				return 125
			fi
			stalled=$(l1_stalled "$run")
			if [ -n "$stalled" ]; then
				stop_stuck_l1 "$run" "$pid" "L1 stalled: $stalled"
				return 123
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			stop_stuck_l1 "$run" "$pid" "L1 did not finish within $timeout s"
			return 124
		fi
		sleep 2
	done
	wait "$pid"
}

# stop_stuck_l1 RUN PID WHY: ends a stuck L1's QEMU, after writing WHY and
# where its CPUs are (the one clue a freeze leaves) to RUN/l1-stuck-cpus.txt.
stop_stuck_l1() {
	local run=$1 pid=$2
	{
		echo "$3"
		dump_l1_cpus "$run"
	} >"$run/l1-stuck-cpus.txt" 2>&1
	kill "$pid" 2>/dev/null
	sleep 10
	kill -9 "$pid" 2>/dev/null
	wait "$pid" || true
}

# l1_stalled RUN: says why a running L1 has stopped making progress, if it
# has: its user space wrote no heartbeat for 3 minutes (l1-runner.sh writes
# one every 10 s), or the scenario it runs is 2 minutes past its own time
# limit (the runner's timeout would have ended it within 15 s). CI once lost
# 38 minutes to an L1 that showed neither the wedge of l1_wedged_cpus nor any
# kernel report until the boot's own limit, which left no time to boot again.
l1_stalled() {
	local run=$1 now t name limit
	! grep -qs '^DONE' "$run/results" || return 0
	now=$(date +%s)
	t=$(stat -c %Y "$run/heartbeat" 2>/dev/null) || return 0
	if [ $((now - t)) -gt 180 ]; then
		echo "L1's user space wrote no heartbeat for $((now - t)) s"
		return 0
	fi
	# Between scenarios there is no current one (the braces make the failed
	# redirection itself quiet).
	{ read -r name limit <"$run/current"; } 2>/dev/null || return 0
	t=$(stat -c %Y "$run/current" 2>/dev/null) || return 0
	if [ $((now - t)) -gt $((limit + 120)) ]; then
		echo "scenario $name has run for $((now - t)) s, past its time limit of $limit s"
	fi
}

# l1_wedged_cpus RUN: prints "CPU:RIP IRR PPR" for each CPU of a running L1
# that is halted with interrupts enabled (RFLAGS.IF) while its local APIC
# holds a pending interrupt it would take (a vector class above its
# processor priority, nothing in service). Such a CPU should wake within
# instructions; on 2026-12-03 one stayed so for over 15 minutes, with timer
# and IPI vectors pending, and an NMI did not wake it either (QEMU's SVM
# emulation seems to leave its global interrupt flag clear): L1 then hangs
# in whatever waits for that CPU (Documentation/testbed.md, "Quirks").
l1_wedged_cpus() {
	local run=$1 line cpu= rip rfl h lapic irr isr ppr top
	local -a halted=()
	while read -r line; do
		case $line in
		CPU#*) cpu=${line#CPU#} ;;
		RIP=*)
			rip=${line%% *}
			rip=${rip#RIP=}
			rfl=${line#*RFL=}
			rfl=${rfl%% *}
			if [[ $line == *HLT=1* && $rfl =~ ^[0-9a-f]+$ ]] && (((16#$rfl & 0x200) != 0)); then
				halted+=("$cpu:$rip")
			fi
			;;
		esac
	done < <(l1_monitor "$run" 'info registers -a' 2>/dev/null)
	for h in "${halted[@]}"; do
		lapic=$(l1_monitor "$run" "info lapic ${h%%:*}" 2>/dev/null)
		irr=$(sed -n 's/^IRR[[:space:]]*//p' <<<"$lapic")
		isr=$(sed -n 's/^ISR[[:space:]]*//p' <<<"$lapic")
		ppr=$(sed -n 's/.*PPR \(0x[0-9a-f]*\).*/\1/p' <<<"$lapic")
		[ "$isr" = "(none)" ] && [[ $irr =~ ^[0-9\ ]+$ ]] && [ -n "$ppr" ] || continue
		top=$(tr ' ' '\n' <<<"$irr" | sort -n | tail -n 1)
		if (((top & 0xf0) > (ppr & 0xf0))); then
			echo "CPU $h IRR $irr PPR $ppr"
		fi
	done
}

# Prints the registers of every CPU of a running L1, through QEMU's monitor,
# with the kernel's load address (l1-runner.sh records it) to place RIP.
dump_l1_cpus() {
	local run=$1
	echo "L1 kernel: $(cat "$run/l1-stext" 2>/dev/null || echo 'load address not recorded')"
	l1_monitor "$run" 'info cpus' 'info registers -a' | grep -v '^(qemu)'
}

# l1_monitor RUN COMMAND...: what QEMU's monitor of a running L1 answers.
l1_monitor() {
	local run=$1
	shift
	printf '%s\n' "$@" | socat -t 5 - "UNIX-CONNECT:$run/l1-monitor.sock" | tr -d '\r'
}

# l1_lost_silently RUN RC: true when the boot that just ended lost L1 to the
# emulated platform: the runner did not finish, because L1 triple-faulted,
# stopped making progress (QEMU status 123, see l1_stalled, or 124 at the
# boot's time limit) or was wedged (125, see l1_wedged_cpus), and L1's
# console holds no kernel report. Such losses came with nothing logged by L1, in scenarios with no
# CoVMM code on the path (Documentation/testbed.md, "Quirks"). Anything a
# kernel reported is never put down to the platform.
l1_lost_silently() {
	local run=$1 rc=$2
	! grep -q '^DONE' "$run/results" 2>/dev/null || return 1
	grep -q 'Triple fault' "$run/l1-qemu-debug.log" 2>/dev/null || [[ $rc =~ ^12[345]$ ]] || return 1
	! grep -qE "$KERNEL_BAD_PATTERNS" "$run/l1-console.log" 2>/dev/null
}

# scenarios_not_done RUN SCENARIO...: those of SCENARIO... that no boot so
# far finished (the runner writes a TIME line after each), in order.
scenarios_not_done() {
	local run=$1 s
	shift
	for s in "$@"; do
		grep -qs "^TIME $s " "$run/results" "$run/results.earlier" || echo "$s"
	done
}

# set_aside_lost_boot RUN RC BOOT SCENARIO...: after l1_lost_silently, moves
# the lost boot's logs and results to RUN/lost-l1.BOOT/ (its kernel logs are
# still scanned), keeps the results of the scenarios it finished, and sets
# the next boot to run SCENARIO.... The unfinished scenario's partial results
# are kept there but not counted: it runs again from its start.
set_aside_lost_boot() {
	local run=$1 rc=$2 lost=$1/lost-l1.$3 what f
	shift 3
	mkdir -p "$lost"
	if grep -q 'Triple fault' "$run/l1-qemu-debug.log" 2>/dev/null; then
		what="triple-faulted"
	else
		# Why L0 stopped it: the first line stop_stuck_l1 wrote.
		what=$(head -n 1 "$run/l1-stuck-cpus.txt" 2>/dev/null)
		what="${what#L1 } (CPU state: ${lost#"$run"/}/l1-stuck-cpus.txt)"
	fi
	for f in l1-console.log l1-qemu-debug.log l1-stuck-cpus.txt l1-stext results results.scenario log "$run"/l2-*; do
		[ -e "$run/${f#"$run"/}" ] && mv "$run/${f#"$run"/}" "$lost/"
	done
	rm -f "$run/l1-monitor.sock" "$run/heartbeat" "$run/current"
	{
		grep -E '^(PASS|FAIL|NOTE|TIME)' "$lost/results" 2>/dev/null || true
		echo "NOTE testbed: L1 $what during scenario $1, with no kernel report in its console, so L1 booted again and ran $1 and the scenarios after it (the lost boot's logs and $1's partial results: ${lost#"$run"/}/)"
	} >>"$run/results.earlier"
	sed -i "s/^SCENARIOS=.*/SCENARIOS=\"$*\"/" "$run/env"
}

# Patterns that fail a run when they appear in any kernel log of the testbed:
# WARN, BUG, Oops, lockdep and KASAN reports, RCU stalls, soft lockups and
# hung tasks.
KERNEL_BAD_PATTERNS='WARNING:|BUG:|Oops|kernel BUG|general protection fault|Kernel panic|UBSAN|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|lock held when returning|INFO: task .* blocked for more than|rcu: INFO:|detected stalls|soft lockup|hard LOCKUP|Call Trace:'

# Records one PASS/FAIL per kernel log; a log with a splat fails.
scan_kernel_logs() {
	local run=$1 f hits
	for f in "$run"/l1-console.log "$run"/l1-dmesg.txt "$run"/l2-* "$run"/lost-l1.*/l1-console.log "$run"/lost-l1.*/l2-*; do
		[ -f "$f" ] || continue
		hits=$(grep -E "$KERNEL_BAD_PATTERNS" "$f" | head -n 5 || true)
		if [ -z "$hits" ]; then
			echo "PASS kernel-log: ${f#"$run"/} is free of WARN/BUG/Oops/lockdep/KASAN/stall reports" >>"$run/results"
		else
			echo "FAIL kernel-log: ${f#"$run"/} has: $(echo "$hits" | tr '\n' '|')" >>"$run/results"
		fi
	done
}

# Prints the results of a run and writes "<passed> <failed>" to RUN/summary.
summarize_run() {
	local run=$1 flavor=$2
	touch "$run/results"
	if [ -f "$run/results.earlier" ]; then
		cat "$run/results.earlier" "$run/results" >"$run/results.all"
		mv "$run/results.all" "$run/results"
		rm "$run/results.earlier"
	fi
	if ! grep -q '^DONE' "$run/results"; then
		# What the unfinished scenario had recorded (a lost boot's went
		# with its logs, see set_aside_lost_boot).
		if [ -f "$run/results.scenario" ]; then
			cat "$run/results.scenario" >>"$run/results"
		fi
		echo "FAIL testbed: the L1 runner did not finish (see $run/l1-console.log)" >>"$run/results"
	fi
	if grep -q 'Triple fault' "$run/l1-qemu-debug.log" 2>/dev/null; then
		echo "FAIL testbed: L1 triple-faulted (CPU state in $run/l1-qemu-debug.log)" >>"$run/results"
	fi
	scan_kernel_logs "$run"
	local passed failed
	passed=$(grep -c '^PASS' "$run/results" || true)
	failed=$(grep -c '^FAIL' "$run/results" || true)
	grep -E '^(PASS|FAIL|NOTE)' "$run/results" | sed "s/^/[$flavor] /"
	echo "$passed $failed" >"$run/summary"
}

# After a failing run: what CI logs need to tell why, without the run
# directory. Prints every FAIL and NOTE line, the time each scenario took,
# the end of each boot's L1 console (lost boots' too) with the registers of
# a boot stopped as stuck, and for each scenario that failed the part of its
# log from a little before its first failure (where a dead guest's console
# is quoted).
report_failures() {
	local run=$1 s log first dir
	echo "---- $run: what failed"
	grep '^FAIL' "$run/results" || true
	echo "---- $run: notes (lost guests and boots)"
	grep '^NOTE' "$run/results" || true
	echo "---- $run: scenario times"
	grep '^TIME' "$run/results" || true
	# Each boot's console end and, for a boot stopped as stuck, the state
	# of its CPUs (the registers, without the segment and debug lines).
	for dir in "$run"/lost-l1.* "$run"; do
		[ -f "$dir/l1-console.log" ] || continue
		echo "---- $dir/l1-console.log (last 25 lines)"
		tail -n 25 "$dir/l1-console.log"
		[ -f "$dir/l1-stuck-cpus.txt" ] || continue
		echo "---- $dir/l1-stuck-cpus.txt (registers)"
		grep -E '^(L1 |\* CPU|  CPU|CPU#|RAX|RSI|R8 |R12|RIP|CR0)' "$dir/l1-stuck-cpus.txt" || true
	done
	for s in $(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$run/results" | sort -u); do
		log=$run/log/$s.log
		[ -f "$log" ] || continue
		first=$(grep -n -m1 '^FAIL' "$log" | cut -d: -f1)
		first=$((${first:-1} > 10 ? ${first:-1} - 10 : 1))
		echo "---- $log (from line $first, at most 80 lines)"
		sed -n "$first,$((first + 79))p" "$log"
	done
}
