// SPDX-License-Identifier: GPL-2.0
/*
 * guest-rvmrpc C glue. kvm_hypercall4() and kvm_para_available() are static
 * inlines in asm/kvm_para.h; the hypercall instruction (vmcall or vmmcall) is
 * chosen by the alternatives mechanism from the CPU vendor, so Rust calls them
 * through these wrappers, and the guest-physical address of kernel memory
 * comes from the mm macros. No logic lives here.
 */
#include <linux/capability.h>
#include <linux/kvm_para.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>
#include <asm/cpufeature.h>

#include "hypercall_glue.h"
#include "../include/covmm/guest.h"

/* The VMRPC client API, implemented in Rust (hypercall.rs). */
EXPORT_SYMBOL_GPL(covmm_vmrpc_bind);
EXPORT_SYMBOL_GPL(covmm_vmrpc_unbind);
EXPORT_SYMBOL_GPL(covmm_vmrpc_perform);
EXPORT_SYMBOL_GPL(covmm_vmrpc_perform_kernel);
EXPORT_SYMBOL_GPL(covmm_vmrpc_hypercall);

long covmm_guest_hypercall4(unsigned int nr, unsigned long a0, unsigned long a1,
			    unsigned long a2, unsigned long a3)
{
	return kvm_hypercall4(nr, a0, a1, a2, a3);
}

bool covmm_guest_on_kvm(void)
{
	return kvm_para_available();
}

bool covmm_guest_uses_vmmcall(void)
{
	return boot_cpu_has(X86_FEATURE_VMMCALL);
}

/* The guest-physical address of kernel address @addr (linear map, kernel
 * image, vmalloc, vmap'd stacks or module memory). */
u64 covmm_guest_kaddr_to_phys(const void *addr)
{
	if (is_vmalloc_or_module_addr(addr))
		return page_to_phys(vmalloc_to_page(addr)) + offset_in_page(addr);
	return __pa(addr);
}

bool covmm_guest_capable_rawio(void)
{
	return capable(CAP_SYS_RAWIO);
}

/* cond_resched() is a macro (or a static call) in most configurations. */
void covmm_guest_cond_resched(void)
{
	cond_resched();
}
