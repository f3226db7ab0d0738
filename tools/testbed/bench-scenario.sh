# SPDX-License-Identifier: GPL-2.0
# The `make bench` measurements, run in L1 like a scenario. Writes key=value
# lines to $RUN/bench.txt; tools/testbed/bench.sh turns them into the table.
# The L2 has two vCPUs, for the calls-per-second comparison (the scenarios
# avoid that: see "Quirks" in Documentation/testbed.md).
B=$RUN/bench.txt
: >"$B"
check "host-vmrpc loads" host_load
L2_SMP=2 l2_start bench || fail "the bench guest boots"
check "guest-rvmrpc loads" l2 bench insmod /covmm/guest_rvmrpc.ko
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
check "host-vmrpc unloads" host_unload
cat "$B"
