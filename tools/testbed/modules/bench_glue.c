// SPDX-License-Identifier: GPL-2.0
/*
 * covmm_bench_guest C glue: the bare hypercall that VMRPC is measured against
 * and CoVMM's cheapest one (kvm_hypercall0() is a static inline). No logic
 * lives here.
 */
#include <linux/kvm_para.h>

#include "../../../include/uapi/linux/covmm.h"

long covmm_bench_bare_hypercall(void);
long covmm_bench_ping_hypercall(void);

long covmm_bench_bare_hypercall(void)
{
	return kvm_hypercall0(KVM_HC_VAPIC_POLL_IRQ);
}

long covmm_bench_ping_hypercall(void)
{
	return kvm_hypercall0(COVMM_HC(COVMM_OP_PING));
}
