// SPDX-License-Identifier: GPL-2.0
/*
 * host-vmrpc C glue: the few things Rust cannot reach through kernel::bindings.
 *
 * linux/kvm_host.h is not part of kernel::bindings, so struct kvm_vcpu and
 * struct kvm fields are read here; the ftrace callback needs the inline
 * ftrace_regs accessors, so the ftrace_ops that diverts
 * ____kvm_emulate_hypercall() lives here too. Every decision is taken in Rust
 * (kvm.rs and above); these functions only move values.
 *
 * The hook works like a live patch, without a kernel patch: ftrace finds
 * ____kvm_emulate_hypercall() by name (it is not exported to modules in 7.x),
 * and for CoVMM's own hypercall numbers the callback points the saved
 * instruction pointer at covmm_hc_replacement(), which has the same signature.
 * KVM's caller then stores RAX and skips the instruction, as for any hypercall.
 */
#include <linux/ftrace.h>
#include <linux/kvm_host.h>
#include <linux/mmu_notifier.h>
#include <linux/workqueue.h>

#include "kvm_glue.h"
#include "../include/covmm/host.h"

/* The VMRPC server API, implemented in Rust (kvm.rs). */
EXPORT_SYMBOL_GPL(covmm_server_register);
EXPORT_SYMBOL_GPL(covmm_server_unregister);
EXPORT_SYMBOL_GPL(covmm_copy_from_guest);
EXPORT_SYMBOL_GPL(covmm_copy_to_guest);
EXPORT_SYMBOL_GPL(covmm_get_hva);
EXPORT_SYMBOL_GPL(covmm_call_vm_pid);

static int covmm_hc_replacement(struct kvm_vcpu *vcpu, int cpl,
				int (*complete_hypercall)(struct kvm_vcpu *))
{
	unsigned long *regs = vcpu->arch.regs;

	++vcpu->stat.hypercalls;
	vcpu->run->hypercall.ret =
		covmm_rs_hypercall(vcpu, regs[VCPU_REGS_RAX], regs[VCPU_REGS_RBX],
				   regs[VCPU_REGS_RCX], regs[VCPU_REGS_RDX],
				   regs[VCPU_REGS_RSI]);
	return 1;
}

static void notrace covmm_ftrace_handler(unsigned long ip, unsigned long parent_ip,
					 struct ftrace_ops *ops,
					 struct ftrace_regs *fregs)
{
	struct kvm_vcpu *vcpu = (void *)ftrace_regs_get_argument(fregs, 0);
	int cpl = ftrace_regs_get_argument(fregs, 1);

	if (covmm_rs_claims(vcpu->arch.regs[VCPU_REGS_RAX], cpl,
			    vcpu->arch.efer & EFER_LMA))
		ftrace_regs_set_instruction_pointer(fregs,
						    (unsigned long)covmm_hc_replacement);
}

static struct ftrace_ops covmm_ftrace_ops = {
	.func = covmm_ftrace_handler,
	.flags = FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION,
};

static const char covmm_hooked_fn[] = "____kvm_emulate_hypercall";

int covmm_hook_register(void)
{
	int ret;

	ret = ftrace_set_filter(&covmm_ftrace_ops, (unsigned char *)covmm_hooked_fn,
				sizeof(covmm_hooked_fn) - 1, 0);
	if (ret)
		return ret;
	ret = register_ftrace_function(&covmm_ftrace_ops);
	if (ret)
		ftrace_free_filter(&covmm_ftrace_ops);
	return ret;
}

void covmm_hook_unregister(void)
{
	unregister_ftrace_function(&covmm_ftrace_ops);
	ftrace_free_filter(&covmm_ftrace_ops);
}

struct kvm *covmm_vcpu_kvm(struct kvm_vcpu *vcpu)
{
	return vcpu->kvm;
}

int covmm_vcpu_id(struct kvm_vcpu *vcpu)
{
	return vcpu->vcpu_id;
}

void *covmm_kvm_mm(struct kvm *kvm)
{
	return kvm->mm;
}

pid_t covmm_kvm_userspace_pid(struct kvm *kvm)
{
	return kvm->userspace_pid;
}

struct mmu_notifier *covmm_mmu_notifier_get(const struct mmu_notifier_ops *ops,
					    void *mm)
{
	return mmu_notifier_get(ops, mm);
}

/*
 * Guest memory. The caller is the vCPU thread serving a hypercall, which
 * holds kvm->srcu (vcpu_run()), so the memslot stays valid for the call.
 */
int covmm_gfn_to_slot(struct kvm_vcpu *vcpu, u64 gfn, struct covmm_slot *out)
{
	struct kvm_memory_slot *slot =
		__gfn_to_memslot(kvm_vcpu_memslots(vcpu), gfn);

	if (!slot)
		return -EFAULT;
	out->slot = slot;
	out->hva = __gfn_to_hva_memslot(slot, gfn);
	out->readonly = slot->flags & KVM_MEM_READONLY;
	out->invalid = slot->flags & KVM_MEMSLOT_INVALID;
	out->guest_memfd = kvm_slot_has_gmem(slot);
	out->dirty_log = kvm_slot_dirty_track_enabled(slot);
	out->dirty_ring = vcpu->kvm->dirty_ring_size != 0;
	return 0;
}

/* The bitmap half of mark_page_dirty_in_slot(), which is not exported. */
void covmm_slot_mark_dirty(struct covmm_slot *slot, u64 gfn)
{
	struct kvm_memory_slot *memslot = slot->slot;

	if (memslot->dirty_bitmap)
		set_bit_le(gfn - memslot->base_gfn, memslot->dirty_bitmap);
}

struct workqueue_struct *covmm_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND, 0, name);
}
