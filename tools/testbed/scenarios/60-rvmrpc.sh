# SPDX-License-Identifier: GPL-2.0
# Reverse VMRPC: the host asks the guest kernel. guest-rvmrpc's server
# threads park in the hypercall (VM long polling); /proc/covmm/<pid>/ and the
# `covmm` CLI reach the guest's services (meminfo, cpuinfo, loadavg,
# services, drop_caches, echo); only the VM's owner may; several clients are
# served at once; and when the guest's server goes, clients get a clean
# error at once. host-vmrpc unloads and reloads under parked server threads,
# which then offer their slots again.
COVMM=$TOOLS/covmm
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads with 2 server threads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=2
vm=$(l2_pid guest)
P=/proc/covmm/$vm

check "the guest offers 2 slots" rv_wait_slots "$vm" 2
check_match "/proc/covmm/<pid> belongs to the VMM's user, mode 0500" '^dr-x------ ' "$(ls -ld "$P")"

want=$(l2 guest "sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo")
check_match "meminfo: the guest's MemTotal, live" "^MemTotal: $want kB$" "$(grep '^MemTotal' "$P/meminfo")"
check_match "meminfo has every line of the guest's file" "^$(l2 guest grep -c . /proc/meminfo)$" "$(grep -c . "$P/meminfo")"
check_match "cpuinfo names the guest's CPU 0" '^processor: 0$' "$(grep '^processor' "$P/cpuinfo")"
check_match "loadavg: three loads, running, threads, last pid" \
	'^load1: [0-9]+\.[0-9]{3} load5: [0-9]+\.[0-9]{3} load15: [0-9]+\.[0-9]{3} running: [0-9]+ threads: [0-9]+ last_pid: [0-9]+ $' \
	"$(tr '\n' ' ' <"$P/loadavg")"
check_match "services lists the built-in services" '^services echo meminfo cpuinfo loadavg drop_caches $' \
	"$(tr '\n' ' ' <"$P/services")"
check "drop_caches takes 3" bash -c "echo 3 >$P/drop_caches"
check_match "drop_caches refuses 4 with EINVAL" 'Invalid argument' "$(bash -c "echo 4 >$P/drop_caches" 2>&1)"

check_match "covmm list shows the VM and its 2 slots" "\"pid\":$vm,\"queued\":0,\"slots\":2" "$("$COVMM" list --json)"
check_match "covmm meminfo --json gives MemTotal in bytes" \
	"\"key\":\"MemTotal\",\"value\":$((want * 1024)),\"unit\":\"bytes\"" "$("$COVMM" meminfo "$vm" --json)"
check_match "covmm loadavg prints the guest's loads" '^load1: ' "$("$COVMM" loadavg "$vm")"
check_match "covmm call echoes" '^hello guest$' "$("$COVMM" call "$vm" echo 0 'hello guest')"
check_match "an unknown service is named in the error" 'has no service "nosuch"' "$("$COVMM" call "$vm" nosuch 0 2>&1)"
check_match "an unknown function gets EOPNOTSUPP" 'Operation not supported' "$("$COVMM" call "$vm" echo 9 2>&1)"
check "covmm drop-caches" "$COVMM" drop-caches "$vm" 1
check_match "no such VM" 'no such VM: no process 1073741800' "$("$COVMM" meminfo 1073741800 2>&1)"
bench=$("$COVMM" bench "$vm" --service echo --count 200 --clients 4 --json)
echo "bench: $bench"
check_match "4 clients at once, 800 calls" '"clients":4,"calls":800' "$bench"
check_match "status counts the calls" '^calls: [0-9]{3,}$' "$(grep '^calls' "$P/status")"

chmod 666 /dev/covmm
check_match "another user cannot read /proc/covmm/<pid>" 'Permission denied' "$(as_nobody cat "$P/meminfo")"
check_match "another user's covmm list is empty" '^\[\]$' "$(as_nobody "$COVMM" list --json)"
check_match "another user's covmm meminfo is refused" 'permission denied' "$(as_nobody "$COVMM" meminfo "$vm")"
chmod 600 /dev/covmm

# host-vmrpc unloads while both server threads are parked, and on reload
# the threads offer their slots again.
check "host-vmrpc unloads under parked server threads" host_unload
check "host-vmrpc loads again" host_load
check "the guest's threads come back with 2 slots" rv_wait_slots "$vm" 2
check_match "and answer" '^hello again$' "$("$COVMM" call "$vm" echo 0 'hello again')"

check "guest-rvmrpc unloads" l2 guest rmmod guest_rvmrpc
check_match "status says the guest runs no server" '^server: none' "$(head -n 1 "$P/status")"
check_match "a read gets ENOTCONN" 'Transport endpoint is not connected' "$(cat "$P/meminfo" 2>&1)"
check_match "covmm says how to fix it" 'runs no Reverse VMRPC server \(load guest-rvmrpc' "$("$COVMM" meminfo "$vm" 2>&1)"
check "host-vmrpc unloads" host_unload
