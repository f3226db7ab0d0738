# SPDX-License-Identifier: GPL-2.0
# The serial-port channel, for guests that cannot take CoVMM's modules:
# `covmm com-dd`, `com-get` and `com-run` from L1 against covmm-agent in an
# L2 that loads no CoVMM module (and L1 without host-vmrpc), over the guest's
# 16550 (ttyS1) and a virtio-serial port, straight through QEMU's chardev
# sockets. Also: a line that corrupts and loses bytes (a proxy), the agent
# killed mid-transfer and the transfer resumed, files that must not appear
# half-written, bad paths, programs that do not exist or never end, binary
# output full of frame delimiters, and the agent's confinement.
if [ "$FLAVOR" = debug ]; then
	# No CoVMM kernel code takes part (that is the point), and a debug L2
	# moves bytes through its ports several times slower.
	echo "SKIP: the serial channel runs no CoVMM kernel code; the stock run covers it"
	return 0
fi
COVMM=$TOOLS/covmm
HOSTDIR=$(mktemp -d /tmp/covmm-com.XXXXXX)
trap 'rm -rf "$HOSTDIR"; kill $(jobs -p) 2>/dev/null; _scenario_cleanup' EXIT

L2_COM=1 l2_start com || fail "the serial channel's L2 guest boots"
UART=$SOCKDIR/com.uart.sock
VPORT=$SOCKDIR/com.vport.sock
check_eq "no CoVMM module is loaded in the guest" "" "$(l2 com grep covmm /proc/modules)"
check "host-vmrpc is not loaded in L1" bash -c '! grep -q "^host_vmrpc " /proc/modules'

# Two agents: on the virtio-serial port, confined to /tmp/com with the
# programs the checks run; on the 16550, the sample configuration as shipped
# (its directory and allow-list).
l2 com 'mkdir -p /tmp/com && covmm-agent --port-name org.covmm.com.0 --root /tmp/com \
	--allow sh --allow cat --allow true --allow uname --allow sleep --allow pwd --allow /no/such/program \
	>/tmp/agent-vport.log 2>&1 & echo $! >/tmp/agent-vport.pid; cat /tmp/agent-vport.pid >>/tmp/covmm-bg.pids'
l2 com 'covmm-agent --config /etc/covmm-agent.json >/tmp/agent-uart.log 2>&1 & echo $! >/tmp/agent-uart.pid; cat /tmp/agent-uart.pid >>/tmp/covmm-bg.pids'
sleep 1
check "both agents run" l2 com 'kill -0 $(cat /tmp/agent-vport.pid) && kill -0 $(cat /tmp/agent-uart.pid)'
echo "---- the guest's serial ports and agent logs:"
l2 com 'cat /proc/tty/driver/serial; ls -l /dev/ttyS1 /dev/vport*; cat /tmp/agent-uart.log /tmp/agent-vport.log'

# Files: random data (no structure to hide a bug), and every byte value.
head -c $((1 << 20)) /dev/urandom >"$HOSTDIR/big.bin"
head -c $((16 << 10)) /dev/urandom >"$HOSTDIR/small.bin"
for _ in $(seq 1 256); do printf '\x00\x01\x7e\x7f\x80\xfe\xff'; done >"$HOSTDIR/blob.bin"
sha() { sha256sum "$1" | cut -d' ' -f1; }

# virtio-serial: 1 MiB in and out again (the testbed has lost L2s under long
# streams of virtio traffic; Documentation/testbed.md, "Quirks").
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/big.bin" big.bin --json 2>&1)
check_match "com-dd copies 1 MiB over virtio-serial" '"size":1048576' "$out"
check_eq "the guest's copy has the host file's SHA-256" "$(sha "$HOSTDIR/big.bin")" \
	"$(l2 com sha256sum /tmp/com/big.bin | cut -d' ' -f1)"
check_eq "no partial file is left in the guest" "big.bin" "$(l2 com ls -A /tmp/com)"
out=$("$COVMM" com-get "$VPORT" big.bin "$HOSTDIR/back.bin" --json 2>&1)
check_match "com-get copies it back" '"size":1048576' "$out"
check "the copy back is the same file" cmp "$HOSTDIR/big.bin" "$HOSTDIR/back.bin"

# The 16550: a small file, through the sample configuration's directory.
# Each byte costs port-I/O exits through two levels of virtualization (about
# 2 kB/s here), and the emulated platform loses L2s, and L1 itself, most
# often under streams of those exits (Documentation/testbed.md, "Quirks"):
# 4 KiB, several frames each way.
head -c $((4 << 10)) "$HOSTDIR/small.bin" >"$HOSTDIR/uart.bin"
out=$("$COVMM" com-dd "$UART" "$HOSTDIR/uart.bin" uart.bin --uart --json 2>&1)
check_match "com-dd copies 4 KiB over the 16550" '"size":4096' "$out"
check_eq "the 16550 copy has the host file's SHA-256" "$(sha "$HOSTDIR/uart.bin")" \
	"$(l2 com sha256sum /var/lib/covmm-agent/uart.bin | cut -d' ' -f1)"
"$COVMM" com-get "$UART" uart.bin "$HOSTDIR/uart.back" --uart >/dev/null 2>&1
check "com-get over the 16550 returns the same file" cmp "$HOSTDIR/uart.bin" "$HOSTDIR/uart.back"
check_eq "com-run over the 16550 runs uname -r" "$(l2 com uname -r)" "$("$COVMM" com-run "$UART" --uart uname -r 2>&1)"

# com-run: output, exit status, environment, working directory, stderr.
out=$("$COVMM" com-run "$VPORT" sh -c 'echo out; echo err >&2; exit 7' 2>"$HOSTDIR/err")
check_eq "com-run returns the program's exit status" "7" "$?"
check_eq "com-run streams stdout" "out" "$out"
check_eq "com-run streams stderr apart" "err" "$(cat "$HOSTDIR/err")"
check_eq "com-run passes --env" "v=42" "$("$COVMM" com-run "$VPORT" --env V=42 sh -c 'echo v=$V' 2>&1)"
l2 com mkdir -p /tmp/com/sub
check_eq "com-run takes --cwd inside the agent's directory" "/tmp/com/sub" "$("$COVMM" com-run "$VPORT" --cwd sub pwd 2>&1)"
"$COVMM" com-dd "$VPORT" "$HOSTDIR/blob.bin" blob.bin >/dev/null 2>&1
"$COVMM" com-run "$VPORT" cat blob.bin >"$HOSTDIR/blob.out" 2>/dev/null
check "binary output full of frame delimiters comes back byte for byte" cmp "$HOSTDIR/blob.bin" "$HOSTDIR/blob.out"
t0=$(date +%s)
"$COVMM" com-run "$VPORT" --timeout 2 sleep 1000 >/dev/null 2>&1
check_eq "a program that never exits is killed at --timeout (status 124)" "124" "$?"
check "... within a few seconds" test $(($(date +%s) - t0)) -lt 15
check_eq "the killed program is gone from the guest" "" "$(l2 com pgrep -x sleep)"
out=$("$COVMM" com-run "$VPORT" /no/such/program 2>&1)
check_eq "a program that does not exist: status 3" "3" "$?"
check_match "... and says so" 'cannot run /no/such/program' "$out"

# Bad paths.
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/nonexistent" x 2>&1)
check_eq "a host source that does not exist: status 2" "2" "$?"
check_match "... named in the error" 'nonexistent: No such file' "$out"
l2 com 'mkdir -p /tmp/com/ro && mount -t tmpfs -o ro tmpfs /tmp/com/ro'
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/small.bin" ro/small.bin 2>&1)
check_eq "an unwritable destination: status 3" "3" "$?"
check_match "... with the guest's reason" 'Read-only file system' "$out"
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/small.bin" no/such/dir/x 2>&1)
check_match "a destination directory that does not exist is refused" 'No such file or directory' "$out"
l2 com 'mkdir -p /tmp/com/small && mount -t tmpfs -o size=8m tmpfs /tmp/com/small'
truncate -s 2G "$HOSTDIR/huge.bin"
t0=$(date +%s)
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/huge.bin" small/huge.bin 2>&1)
check_eq "a 2 GiB file for an 8 MiB disk: status 3" "3" "$?"
check_match "... refused for space before any byte moves" 'bytes needed' "$out"
check "... at once" test $(($(date +%s) - t0)) -lt 20
check_eq "... leaving nothing behind" "" "$(l2 com ls -A /tmp/com/small)"
l2 com umount /tmp/com/ro /tmp/com/small

# The agent killed mid-transfer, then started again: the host's command
# fails at once, the destination never holds a partial file, and the same
# command resumes where the copy stopped.
l2 com 'echo old >/tmp/com/resume.bin'
# 4 MiB: the emulated platform loses L2s in long virtio-serial streams
# (Documentation/testbed.md, "Quirks"), most often right after this copy.
head -c $((4 << 20)) /dev/urandom >"$HOSTDIR/resume.bin"
# The guest kills its agent itself, once the partial file passes 512 KiB
# (it has held up to 1 MiB more by the kill): a watch from L1, at one exec
# round trip per look, once saw the whole copy end between two looks (4 MiB
# in 0.95 s). The file is polled by its size, not its contents: reading it
# would slow the guest.
l2 com 'rm -f /tmp/resume-kill.out
	(for _ in $(seq 1 1200); do
		s=$(ls -ln /tmp/com/.resume.bin.*.covmm-part 2>/dev/null | awk "{ s += \$5 } END { print s + 0 }")
		if [ "$s" -gt 524288 ]; then
			kill -9 $(cat /tmp/agent-vport.pid)
			echo "$s" >/tmp/resume-kill.out
			exit
		fi
		sleep 0.05
	done
	echo "no partial file past 512 KiB" >/tmp/resume-kill.out) </dev/null >/dev/null 2>&1 &
	echo $! >>/tmp/covmm-bg.pids'
"$COVMM" com-dd "$VPORT" "$HOSTDIR/resume.bin" resume.bin --json >"$HOSTDIR/resume1" 2>&1 &
dd_pid=$!
killed=
for _ in $(seq 1 300); do
	killed=$(l2 com 'cat /tmp/resume-kill.out 2>/dev/null')
	[ -n "$killed" ] && break
	sleep 0.2
done
echo "the partial file held ${killed:-an unknown number of} bytes when the agent was killed"
l2 com 'covmm-agent --port-name org.covmm.com.0 --root /tmp/com --allow sh --allow cat --allow true \
	>>/tmp/agent-vport.log 2>&1 & echo $! >/tmp/agent-vport.pid; cat /tmp/agent-vport.pid >>/tmp/covmm-bg.pids'
t0=$(date +%s)
wait $dd_pid
check_eq "com-dd fails when the agent dies under it (status 4)" "4" "$?"
check "... without waiting for a timeout" test $(($(date +%s) - t0)) -lt 30
check_match "... saying the agent restarted" 'restarted' "$(cat "$HOSTDIR/resume1")"
check_eq "the destination still holds the old file" "old" "$(l2 com head -c 3 /tmp/com/resume.bin)"
out=$("$COVMM" com-dd "$VPORT" "$HOSTDIR/resume.bin" resume.bin --json 2>&1)
check_match "the same command resumes the transfer" '"resumed_at":[1-9][0-9]*' "$out"
check_eq "the resumed copy is whole" "$(sha "$HOSTDIR/resume.bin")" \
	"$(l2 com sha256sum /tmp/com/resume.bin | cut -d' ' -f1)"

# A line that flips one byte in 2,000 and loses 40 bytes in every 50,000:
# transfers still arrive whole, and say what the line cost them.
NOISY=$SOCKDIR/com.noisy.sock
"$TOOLS/covmm-tb" com-proxy "$NOISY" "$VPORT" --flip-every 2000 --drop-every 50000 \
	2>"$HOSTDIR/proxy.log" &
for _ in $(seq 1 50); do [ -S "$NOISY" ] && break; sleep 0.1; done
head -c $((256 << 10)) "$HOSTDIR/big.bin" >"$HOSTDIR/noisy.bin"
out=$("$COVMM" com-dd "$NOISY" "$HOSTDIR/noisy.bin" noisy.bin --json 2>&1)
check_match "com-dd over a corrupting line reports corrupted frames" '"bad_frames":[1-9]' "$out"
check_eq "... and the copy is whole" "$(sha "$HOSTDIR/noisy.bin")" \
	"$(l2 com sha256sum /tmp/com/noisy.bin | cut -d' ' -f1)"
"$COVMM" com-get "$NOISY" noisy.bin "$HOSTDIR/noisy.back" >/dev/null 2>&1
check "com-get over the corrupting line returns the same file" cmp "$HOSTDIR/noisy.bin" "$HOSTDIR/noisy.back"
check_eq "com-run over the corrupting line" "hello" "$("$COVMM" com-run "$NOISY" sh -c 'echo hello' 2>&1)"

# The sample configuration's confinement (the 16550 agent).
out=$("$COVMM" com-dd "$UART" "$HOSTDIR/uart.bin" ../escape --uart 2>&1)
check_match "confined: .. out of the agent's directory is refused" "outside the agent's directory" "$out"
out=$("$COVMM" com-get "$UART" /etc/passwd "$HOSTDIR/passwd" --uart 2>&1)
check_match "confined: an absolute path outside is refused" "outside the agent's directory" "$out"
l2 com 'ln -sf /etc /var/lib/covmm-agent/etc-link'
out=$("$COVMM" com-get "$UART" etc-link/passwd "$HOSTDIR/passwd" --uart 2>&1)
check_match "confined: a symbolic link out is refused" "outside the agent's directory" "$out"
check "... and nothing was fetched" test ! -e "$HOSTDIR/passwd"
out=$("$COVMM" com-run "$UART" --uart sh -c id 2>&1)
check_match "confined: a program off the allow-list is refused" "not on the agent's allow-list" "$out"
check "confined: one on it runs" "$COVMM" com-run "$UART" --uart true

# Errors on the host side of the line.
out=$("$COVMM" com-run /nonexistent/socket true 2>&1)
check_match "a port that does not exist is named" 'no such socket, device or libvirt domain' "$out"
l2 com 'kill $(cat /tmp/agent-vport.pid)'
out=$("$COVMM" com-run "$VPORT" --connect-timeout 2 true 2>&1)
check_match "no agent on the port: said so, with what to check" 'is covmm-agent running in the guest' "$out"
echo "---- the agents' logs:"
l2 com 'cat /tmp/agent-uart.log /tmp/agent-vport.log'
