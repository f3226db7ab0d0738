# SPDX-License-Identifier: GPL-2.0
# The samples: the PRINT pair (a Rust host server following a pointer inside
# the guest's request, and a guest kernel client), and SUM, a host server in C
# called from guest user space. Then a server module is unloaded while a
# guest is bound and calling: calls in flight finish, later ones get
# ESHUTDOWN, and nothing else happens.
SAMPLES=$MODULES/samples
check "host-vmrpc loads" host_load
check "the PRINT server loads" insmod "$SAMPLES/vmrpc-print/covmm_print_host.ko"
check "the SUM server (C) loads" insmod "$SAMPLES/vmrpc-sum/covmm_sum_host.ko"
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0

check "the PRINT client runs three times" l2 guest insmod /covmm/covmm_print_guest.ko count=3
check_match "the guest reports three prints" 'MOD_PRINT printed 3 of 3 times' "$(l2 guest dmesg | tail -n 5)"
said=$(dmesg | grep -c "VM of VMM pid $(l2_pid guest) says: hello from the guest kernel, via VMRPC")
check_eq "the host printed the guest's string three times" 3 "$said"
check "the PRINT client unloads" l2 guest rmmod covmm_print_guest

check_match "SUM adds 1+2+3" '^6 ' "$(l2 guest covmm-guest call SUM:1 0 --u32 3,0,1,2,3)"
check_match "SUM refuses a count that does not match the length" '"errors":\{"22":1\}' \
	"$(l2 guest covmm-guest --json call SUM:1 0 --u32 4,0,1,2,3)"
check_match "SUM refuses an unknown function" '"errors":\{"95":1\}' \
	"$(l2 guest covmm-guest --json call SUM:1 7 --u32 0,0)"
check_match "binding SUM version 2 fails with ENOENT" 'No such file or directory' \
	"$(l2 guest covmm-guest call SUM:2 0 --u32 0,0 2>&1)"

# Unload SUM while the guest calls it in a loop on one binding.
l2 guest 'covmm-guest --json call SUM:1 0 --u32 2,0,20,22 --count 20000 >/tmp/sum.json 2>&1 &'
sleep 1
check "the SUM server unloads while the guest calls it" rmmod covmm_sum_host
# covmm-guest writes its tally when the loop ends.
l2 guest 'while [ ! -s /tmp/sum.json ]; do sleep 0.2; done'
tally=$(l2 guest cat /tmp/sum.json)
echo "calls during unload: $tally"
check_match "every call either returned 42 or got ESHUTDOWN" \
	'"calls":20000,"ok":[0-9]+,"errors":(\{\}|\{"108":[0-9]+\})' "$tally"
check_match "some calls succeeded before the unload" '"ok":[1-9]' "$tally"
check_match "calls after the unload got ESHUTDOWN" '"result":-108,' "$tally"
check_match "binding the unloaded server fails with ENOENT" 'No such file or directory' \
	"$(l2 guest covmm-guest call SUM:1 0 --u32 0,0 2>&1)"
check "the PRINT server unloads" rmmod covmm_print_host
check "host-vmrpc unloads" host_unload
