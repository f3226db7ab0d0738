# SPDX-License-Identifier: GPL-2.0
# KUnit suites of the host module. They run at insmod on the debug kernel
# (CONFIG_KUNIT=y; Debian's kernel has none, so this is debug-only). The guest
# module's suite is checked where an L2 is up anyway (10-hypercall-hook).
if [ "$FLAVOR" != debug ]; then
	echo "SKIP: KUnit needs the debug kernel"
	return 0
fi
check "host-vmrpc loads" host_load
kunit_results covmm_abi
kunit_results covmm_iomon_abi
kunit_results covmm_host_hypercall
kunit_results covmm_host_server
check "host-vmrpc unloads" host_unload
