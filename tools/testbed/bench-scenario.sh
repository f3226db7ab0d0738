# SPDX-License-Identifier: GPL-2.0
# The `make bench` measurements, run in L1 like a scenario. Writes key=value
# lines to $RUN/bench.txt; tools/testbed/bench.sh turns them into the table.
# The VMRPC guest has two vCPUs, for the calls-per-second comparison (the
# scenarios avoid that: see "Quirks" in Documentation/testbed.md); the
# Reverse VMRPC guest has one, and a vhost-vsock device for the anchor.
B=$RUN/bench.txt
: >"$B"
check "host-vmrpc loads" host_load
L2_SMP=2 l2_start bench || fail "the bench guest boots"
# No Reverse VMRPC threads here: with them, a two-vCPU L2 triple-faulted L1
# under the emulated platform (Documentation/testbed.md, "Quirks").
check "guest-rvmrpc loads" l2 bench insmod /covmm/guest_rvmrpc.ko servers=0
check "the in-kernel measurements run" l2 bench insmod /covmm/covmm_bench_guest.ko
line=$(l2 bench dmesg | grep 'bench:' | tail -n 1)
echo "$line"
for kv in ${line#*bench: }; do echo "$kv" >>"$B"; done

# Calls per second from guest user space (ioctl, bounce, null call): one
# process, then two pinned to different vCPUs at once.
N=20000
rate() { sed -n 's/.*"ns_per_call":\([0-9]*\).*/\1/p' | awk '{ s += 1e9 / $1 } END { printf "%d", s }'; }
one=$(l2 bench "taskset -c 0 covmm-guest --json selftest null --count $N" | rate)
two=$(l2 bench "taskset -c 0 covmm-guest --json selftest null --count $N >/tmp/a & taskset -c 1 covmm-guest --json selftest null --count $N >/tmp/b; wait; cat /tmp/a /tmp/b" | rate)
echo "calls_per_s_1vcpu=$one" >>"$B"
echo "calls_per_s_2vcpu=$two" >>"$B"
check_match "calls per second were measured" '^[1-9][0-9]*$' "$one"
l2_stop bench

# Reverse VMRPC, in a one-vCPU guest of its own: meminfo from the guest
# kernel, against the same query answered by a guest user-space agent over
# virtio-vsock and through qemu-guest-agent's guest-exec; the floor is an
# empty echo. Then throughput with four clients against one.
QGA=$SOCKDIR/rv-qga.sock
l2_start rv -device vhost-vsock-pci,guest-cid=3 \
	-chardev "socket,id=qga,path=$QGA,server=on,wait=off" \
	-device virtserialport,chardev=qga,name=org.qemu.guest_agent.0 ||
	fail "the Reverse VMRPC bench guest boots"
check "guest-rvmrpc loads with 2 server threads" l2 rv insmod /covmm/guest_rvmrpc.ko servers=2
vm=$(l2_pid rv)
check "the guest offers its Reverse VMRPC slots" rv_wait_slots "$vm" 2
l2 rv 'for m in $(cat /etc/covmm-modules 2>/dev/null); do insmod $m; done; true'
l2 rv 'covmm-tb vsock-serve --port 5000 >/dev/null 2>&1 & echo $! >>/tmp/covmm-bg.pids'
l2 rv 'for p in /sys/class/virtio-ports/*; do
		[ "$(cat $p/name)" = org.qemu.guest_agent.0 ] && dev=/dev/${p##*/}
	done
	qemu-ga -m virtio-serial -p $dev -t /tmp >/tmp/qga.log 2>&1 & echo $! >>/tmp/covmm-bg.pids'
sleep 1
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
rv=$("$TOOLS/covmm" bench "$vm" --service meminfo --count 1000 --json)
floor=$("$TOOLS/covmm" bench "$vm" --service echo --count 1000 --json)
vs=$("$TOOLS/covmm-tb" vsock-bench --cid 3 --port 5000 --count 1000)
qga=$("$TOOLS/covmm-tb" qga-bench "$QGA" --count 100 2>&1)
one=$("$TOOLS/covmm" bench "$vm" --service meminfo --count 500 --clients 1 --json)
four=$("$TOOLS/covmm" bench "$vm" --service meminfo --count 500 --clients 4 --json)
echo "reverse: $rv / floor: $floor / vsock: $vs / qga: $qga / 1 client: $one / 4 clients: $four"
{
	echo "rv_meminfo_p50_us=$(echo "$rv" | field p50_us)"
	echo "rv_meminfo_p99_us=$(echo "$rv" | field p99_us)"
	echo "rv_echo_p50_us=$(echo "$floor" | field p50_us)"
	echo "rv_echo_p99_us=$(echo "$floor" | field p99_us)"
	echo "vsock_meminfo_p50_us=$(echo "$vs" | sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p')"
	echo "vsock_meminfo_p99_us=$(echo "$vs" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')"
	echo "qga_meminfo_p50_us=$(echo "$qga" | sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p')"
	echo "qga_meminfo_p99_us=$(echo "$qga" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')"
	echo "rv_calls_per_s_1=$(echo "$one" | field calls_per_sec)"
	echo "rv_calls_per_s_4=$(echo "$four" | field calls_per_sec)"
} >>"$B"
check_match "the vsock anchor answered" '^p50_us=[0-9.]+ ' "$vs"
check_match "the qemu-guest-agent anchor answered" '^p50_us=[0-9.]+ ' "$qga"
check_match "Reverse VMRPC meminfo was timed" '"p50_us":[0-9.]+' "$rv"
l2_stop rv
check "host-vmrpc unloads" host_unload
cat "$B"
