# SPDX-License-Identifier: GPL-2.0
# VMRPC from guest user space through guest-rvmrpc to the host's
# covmm.selftest server: null calls, the host reading guest buffers, the host
# writing them, at sizes that cross pages and reach the 1 MiB limit.
check "host-vmrpc loads" host_load
l2_shared guest || fail "the shared L2 guest boots"
check "guest-rvmrpc loads" l2 guest insmod /covmm/guest_rvmrpc.ko servers=0

check_match "a null call returns 0" '"result":0,"ok":true' \
	"$(l2 guest covmm-guest --json selftest null --count 100)"
for len in 1 4095 4097 65536 100000 1048576; do
	check_match "the host hashes $len guest bytes as the guest does" '"ok":true' \
		"$(l2 guest covmm-guest --json selftest hash --len $len)"
	check_match "the host fills $len guest bytes" "\"result\":$len,\"ok\":true" \
		"$(l2 guest covmm-guest --json selftest fill --len $len)"
done
check_match "1 MiB + 1 byte is refused with E2BIG" 'Argument list too long' \
	"$(l2 guest covmm-guest selftest hash --len 1048577 2>&1)"
