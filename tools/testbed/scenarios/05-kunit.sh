# SPDX-License-Identifier: GPL-2.0
# KUnit suites inside the modules. They run at insmod on the debug kernel
# (CONFIG_KUNIT=y); Debian's kernel has no KUnit, so this is debug-only.
if [ "$FLAVOR" != debug ]; then
	echo "SKIP: KUnit needs the debug kernel"
	return 0
fi
check "host-vmrpc loads" host_load
kunit_results covmm_abi
kunit_results covmm_host_hypercall
host_unload

l2_start k1 || fail "L2 guest k1 boots"
check "guest-rvmrpc loads in L2" l2 k1 insmod /covmm/guest_rvmrpc.ko
kunit_results covmm_guest_ping k1
l2_stop k1
