# SPDX-License-Identifier: GPL-2.0
# VMRPC servers in host user space, through /dev/covmm. The USER_PRINT sample
# (built on the tools' safe server library) serves the guest; only the VM's
# owner may register; bad requests to the device get their documented errnos
# (covmm-tb user-server-probe); and a slow server never holds up the guest or
# its VMM: the vCPU goes back to the guest while it waits (CALL_AGAIN), a
# signal in the guest cancels the call, and QEMU can be stopped and continued
# in the middle of a call.
SERVER=$TOOLS/covmm-user-print
OUT=/tmp/covmm-user-print
server=""

start_server() {
	"$SERVER" --vm-pid "$vm" "$@" >"$OUT.out" 2>"$OUT.err" &
	server=$!
	for _ in $(seq 1 50); do
		grep -q serving "$OUT.err" 2>/dev/null && return 0
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	cat "$OUT.err" >&2
	return 1
}

stop_server() {
	[ -n "$server" ] || return 0
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	server=""
}

# until_done GUEST_FILE: wait (up to 30 s) for a background guest call's output.
until_done() {
	l2 guest "for i in \$(seq 1 150); do [ -s $1 ] && exit 0; sleep 0.2; done; exit 1"
}

check "host-vmrpc loads" host_load
check "/dev/covmm is there" test -c /dev/covmm
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0
vm=$(l2_pid guest)

check_match "USER_PRINT is unknown before its server runs" 'No such file or directory' \
	"$(l2 guest covmm-guest call USER_PRINT:1 0 --text x 2>&1)"
# Not through `check`, which runs its command in a subshell.
start_server && pass "the sample server registers for the guest's VMM" ||
	fail "the sample server registers for the guest's VMM"
check_match "the server prints the guest's string (PRINT)" '^20 \(1 of 1' \
	"$(l2 guest covmm-guest call USER_PRINT:1 0 --text "'hello from the guest'")"
check_match "the string reached the server's output" '^\[vcpu 0\] hello from the guest$' "$(cat "$OUT.out")"
check_match "the server writes guest memory (UPCASE)" '434f564d4d' \
	"$(l2 guest covmm-guest call USER_PRINT:1 1 --text covmm --write)"
check_match "a write to a read-only request fails with EFAULT" '"errors":\{"14":1\}' \
	"$(l2 guest covmm-guest --json call USER_PRINT:1 1 --text covmm)"
check_match "an unknown function gets ENOSYS" '"errors":\{"38":1\}' \
	"$(l2 guest covmm-guest --json call USER_PRINT:1 7 --text x)"
check_match "a request over 4 KiB gets E2BIG" '"errors":\{"7":1\}' \
	"$(l2 guest "covmm-guest --json call USER_PRINT:1 0 --text \$(head -c 5000 /dev/zero | tr '\\0' a)")"
check_match "500 calls on one binding all succeed" '"calls":500,"ok":500' \
	"$(l2 guest covmm-guest --json call USER_PRINT:1 0 --text x --count 500)"
check_match "a second server of the same name for the VM gets EEXIST" 'File exists' \
	"$("$SERVER" --vm-pid "$vm" 2>&1)"
chmod 666 /dev/covmm
check_match "a user who does not own the VM gets EACCES" 'Permission denied' \
	"$(as_nobody "$SERVER" --vm-pid "$vm")"
chmod 600 /dev/covmm
check_match "no such VMM process: ESRCH" 'No such process' "$("$SERVER" --vm-pid 1073741800 2>&1)"
# The server exits while the guest calls it in a loop on one binding.
l2 guest "covmm-guest --json call USER_PRINT:1 0 --text x --count 20000 >/tmp/shut.json 2>&1 & echo \$! >>/tmp/covmm-bg.pids"
sleep 1
stop_server
check "the guest's call loop ends" until_done /tmp/shut.json
tally=$(l2 guest cat /tmp/shut.json)
echo "calls while the server exited: $tally"
check_match "every call either succeeded or got ESHUTDOWN" '"calls":20000,"ok":[1-9][0-9]*,"errors":\{"108":[0-9]+\}' "$tally"
check_match "binding a server that has gone fails with ENOENT" 'No such file or directory' \
	"$(l2 guest covmm-guest call USER_PRINT:1 0 --text x 2>&1)"

# A slow server: each answer takes 3 s.
start_server --delay-ms 3000 && pass "a slow server registers" || fail "a slow server registers"
l2 guest "covmm-guest call USER_PRINT:1 0 --text slow >/tmp/slow.out 2>&1 & echo \$! >>/tmp/covmm-bg.pids"
sleep 1
t0=$(date +%s%N)
check "the one-vCPU guest answers while its call waits on the host" l2 guest true
t1=$(date +%s%N)
echo "guest round trip during the call: $(((t1 - t0) / 1000000)) ms"
check "the slow call completes" until_done /tmp/slow.out
check_match "with the server's result" '^4 \(1 of 1' "$(l2 guest cat /tmp/slow.out)"

l2 guest "covmm-guest call USER_PRINT:1 0 --text cancel >/tmp/cancel.out 2>&1 & echo \$! >/tmp/cancel.pid; cat /tmp/cancel.pid >>/tmp/covmm-bg.pids"
sleep 1
# SIGTERM: background jobs of a non-interactive shell ignore SIGINT.
l2 guest 'kill -TERM $(cat /tmp/cancel.pid)'
check "a signal in the guest abandons the call at once" \
	l2 guest 'for i in 1 2 3 4 5; do kill -0 $(cat /tmp/cancel.pid) 2>/dev/null || exit 0; sleep 0.2; done; exit 1'
sleep 3
check "the server is still serving after the guest gave up" kill -0 "$server"

l2 guest "covmm-guest call USER_PRINT:1 0 --text stopped >/tmp/stop.out 2>&1 & echo \$! >>/tmp/covmm-bg.pids"
sleep 1
kill -STOP "$vm"
stopped=0
for _ in $(seq 1 20); do
	states=$(cat /proc/"$vm"/task/*/stat | awk '{ print $3 }' | sort -u | tr -d '\n')
	[ "$states" = T ] && { stopped=1; break; }
	sleep 0.1
done
check_eq "SIGSTOP stops every QEMU thread during the call" 1 "$stopped"
sleep 3
kill -CONT "$vm"
check "after SIGCONT the call completes" until_done /tmp/stop.out
check_match "with the server's result" '^7 \(1 of 1' "$(l2 guest cat /tmp/stop.out)"
stop_server

# Bad requests to the device, around one real call.
"$TOOLS/covmm-tb" user-server-probe --vm-pid "$vm" >"$OUT.probe" 2>"$OUT.probe-err" &
probe=$!
for _ in $(seq 1 50); do
	grep -q ready "$OUT.probe-err" 2>/dev/null && break
	sleep 0.1
done
check_match "a call to the probe server gets its reply" '^4242 ' \
	"$(l2 guest covmm-guest call PROBE:1 0 --text probe-text)"
wait "$probe"
check_eq "the probe finished" 0 $?
report=$(tail -n 1 "$OUT.probe")
echo "probe: $report"
check_match "the probe read the guest's request" '^text: probe-text$' "$(head -n 1 "$OUT.probe")"
for want in wait_unregistered=6 unknown_ioctl=25 register_null_arg=14 register_flags=22 \
	register_pad=22 register_bad_name=22 register_pid_0=3 register_pid_negative=3 \
	register_no_such_pid=3 register=0 register_twice=16 register_duplicate=17 \
	wait_empty_nonblock=11 wait_null_arg=11 call_arg_len=10 read_unknown_call=2 \
	read_too_long=7 read_wrapping=14 read_past_request=14 read_before_request=14 \
	read_to_bad_buffer=14 read_zero_bytes=0 write_read_only=14 read=0 \
	hva_bad_write_flag=22 hva_write_read_only=14 hva=0 hva_nonzero=1 \
	reply_not_an_errno=22 reply_call_again=22 reply=0 reply_twice=2 read_after_reply=2; do
	key=${want%=*}
	check_match "device probe: $key gives ${want#*=}" "\"$key\":${want#*=}[,}]" "$report"
done
check "host-vmrpc unloads" host_unload
