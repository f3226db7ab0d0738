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
#include <linux/cred.h>
#include <linux/ftrace.h>
#include <linux/kvm_host.h>
#include <linux/mmu_notifier.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/rcuwait.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
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
EXPORT_SYMBOL_GPL(covmm_rvmrpc_call);

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

static int covmm_fill_slot(struct kvm *kvm, struct kvm_memslots *slots,
			   u64 gfn, struct covmm_slot *out)
{
	struct kvm_memory_slot *slot = __gfn_to_memslot(slots, gfn);

	if (!slot)
		return -EFAULT;
	out->slot = slot;
	out->hva = __gfn_to_hva_memslot(slot, gfn);
	out->readonly = slot->flags & KVM_MEM_READONLY;
	out->invalid = slot->flags & KVM_MEMSLOT_INVALID;
	out->guest_memfd = kvm_slot_has_gmem(slot);
	out->dirty_log = kvm_slot_dirty_track_enabled(slot);
	out->dirty_ring = kvm->dirty_ring_size != 0;
	return 0;
}

/*
 * Guest memory. The caller is the vCPU thread serving a hypercall, which
 * holds kvm->srcu (vcpu_run()), so the memslot stays valid for the call.
 */
int covmm_gfn_to_slot(struct kvm_vcpu *vcpu, u64 gfn, struct covmm_slot *out)
{
	return covmm_fill_slot(vcpu->kvm, kvm_vcpu_memslots(vcpu), gfn, out);
}

/* The same from another thread, which holds kvm->srcu itself (address space 0). */
int covmm_kvm_gfn_to_slot(struct kvm *kvm, u64 gfn, struct covmm_slot *out)
{
	return covmm_fill_slot(kvm, kvm_memslots(kvm), gfn, out);
}

int covmm_kvm_srcu_read_lock(struct kvm *kvm)
{
	return srcu_read_lock(&kvm->srcu);
}

void covmm_kvm_srcu_read_unlock(struct kvm *kvm, int idx)
{
	srcu_read_unlock(&kvm->srcu, idx);
}

/*
 * VM long polling: a vCPU thread sleeping inside a hypercall, the way
 * kvm_vcpu_block() sleeps. It drops kvm->srcu so memslot updates go on, and
 * waits on the vCPU's own rcuwait, which kvm_vcpu_kick() wakes for every
 * event aimed at the vCPU (IPIs, timers, requests).
 */
void covmm_vcpu_srcu_read_unlock(struct kvm_vcpu *vcpu)
{
	kvm_vcpu_srcu_read_unlock(vcpu);
}

void covmm_vcpu_srcu_read_lock(struct kvm_vcpu *vcpu)
{
	kvm_vcpu_srcu_read_lock(vcpu);
}

void covmm_vcpu_prepare_wait(struct kvm_vcpu *vcpu)
{
	prepare_to_rcuwait(kvm_arch_vcpu_get_wait(vcpu));
	set_current_state(TASK_INTERRUPTIBLE);
}

void covmm_vcpu_finish_wait(struct kvm_vcpu *vcpu)
{
	finish_rcuwait(kvm_arch_vcpu_get_wait(vcpu));
}

bool covmm_vcpu_request_pending(struct kvm_vcpu *vcpu)
{
	return kvm_request_pending(vcpu);
}

bool covmm_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/* A process by pid in the caller's namespace, with a reference, or NULL. */
struct task_struct *covmm_get_task_by_vpid(pid_t nr)
{
	struct task_struct *task;

	rcu_read_lock();
	task = pid_task(find_vpid(nr), PIDTYPE_TGID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	return task;
}

/* mmu_notifier_get() on a process's address space, which must still have users. */
struct mmu_notifier *covmm_task_mmu_notifier_get(const struct mmu_notifier_ops *ops,
						 struct task_struct *task)
{
	struct mm_struct *mm = get_task_mm(task);
	struct mmu_notifier *sub;

	if (!mm)
		return ERR_PTR(-ESRCH);
	sub = mmu_notifier_get(ops, mm);
	mmput(mm);
	return sub;
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

/*
 * /proc/covmm/<pid>/: procfs has no Rust abstraction in 7.x and struct
 * proc_ops is not in the bindings. Each file's show or write goes to Rust
 * with its kind and its VM (the entry's data).
 */
static struct proc_dir_entry *covmm_proc_root;

int covmm_proc_init(void)
{
	covmm_proc_root = proc_mkdir("covmm", NULL);
	return covmm_proc_root ? 0 : -ENOMEM;
}

void covmm_proc_exit(void)
{
	proc_remove(covmm_proc_root);
}

#define COVMM_PROC_READ(kind)							\
static int covmm_proc_show_##kind(struct seq_file *m, void *v)			\
{										\
	return covmm_rs_proc_show(COVMM_PROC_##kind, m->private, m);		\
}										\
static int covmm_proc_open_##kind(struct inode *inode, struct file *file)	\
{										\
	return single_open(file, covmm_proc_show_##kind, pde_data(inode));	\
}										\
static const struct proc_ops covmm_proc_ops_##kind = {				\
	.proc_open = covmm_proc_open_##kind,					\
	.proc_read = seq_read,							\
	.proc_lseek = seq_lseek,						\
	.proc_release = single_release,						\
}

COVMM_PROC_READ(MEMINFO);
COVMM_PROC_READ(CPUINFO);
COVMM_PROC_READ(LOADAVG);
COVMM_PROC_READ(STATUS);
COVMM_PROC_READ(SERVICES);
COVMM_PROC_READ(IOSTAT);

static int covmm_proc_show_IOMON(struct seq_file *m, void *v)
{
	return covmm_rs_proc_show(COVMM_PROC_IOMON, m->private, m);
}

static int covmm_proc_open_IOMON(struct inode *inode, struct file *file)
{
	return single_open(file, covmm_proc_show_IOMON, pde_data(inode));
}

static ssize_t covmm_proc_write_iomon(struct file *file, const char __user *buf,
				      size_t len, loff_t *pos)
{
	return covmm_rs_proc_write(COVMM_PROC_IOMON,
				   pde_data(file_inode(file)), buf, len);
}

static const struct proc_ops covmm_proc_ops_IOMON = {
	.proc_open = covmm_proc_open_IOMON,
	.proc_read = seq_read,
	.proc_write = covmm_proc_write_iomon,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

/*
 * iotrace streams records as text, like tracefs' trace_pipe: a read blocks
 * until there are some, or returns 0 once the session has ended. Each open
 * file keeps its own reader (a Rust object) in private_data.
 */
static int covmm_proc_open_iotrace(struct inode *inode, struct file *file)
{
	void *reader = covmm_rs_iotrace_open(pde_data(inode));

	if (IS_ERR(reader))
		return PTR_ERR(reader);
	file->private_data = reader;
	return nonseekable_open(inode, file);
}

static ssize_t covmm_proc_read_iotrace(struct file *file, char __user *buf,
				       size_t len, loff_t *pos)
{
	return covmm_rs_iotrace_read(file->private_data, buf, len,
				     file->f_flags & O_NONBLOCK);
}

static __poll_t covmm_proc_poll_iotrace(struct file *file, poll_table *wait)
{
	return covmm_rs_iotrace_poll(file->private_data, file, wait) ?
	       EPOLLIN | EPOLLRDNORM : 0;
}

static int covmm_proc_release_iotrace(struct inode *inode, struct file *file)
{
	covmm_rs_iotrace_release(file->private_data);
	return 0;
}

static const struct proc_ops covmm_proc_ops_IOTRACE = {
	.proc_open = covmm_proc_open_iotrace,
	.proc_read = covmm_proc_read_iotrace,
	.proc_poll = covmm_proc_poll_iotrace,
	.proc_release = covmm_proc_release_iotrace,
	.proc_lseek = noop_llseek,
};

static ssize_t covmm_proc_write_drop_caches(struct file *file,
					    const char __user *buf,
					    size_t len, loff_t *pos)
{
	return covmm_rs_proc_write(COVMM_PROC_DROP_CACHES,
				   pde_data(file_inode(file)), buf, len);
}

static const struct proc_ops covmm_proc_ops_DROP_CACHES = {
	.proc_write = covmm_proc_write_drop_caches,
	.proc_lseek = noop_llseek,
};

static const struct {
	const char *name;
	umode_t mode;
	const struct proc_ops *ops;
} covmm_proc_files[] = {
	{ "meminfo", 0400, &covmm_proc_ops_MEMINFO },
	{ "cpuinfo", 0400, &covmm_proc_ops_CPUINFO },
	{ "loadavg", 0400, &covmm_proc_ops_LOADAVG },
	{ "status", 0400, &covmm_proc_ops_STATUS },
	{ "services", 0400, &covmm_proc_ops_SERVICES },
	{ "drop_caches", 0200, &covmm_proc_ops_DROP_CACHES },
	{ "iomon", 0600, &covmm_proc_ops_IOMON },
	{ "iostat", 0400, &covmm_proc_ops_IOSTAT },
	{ "iotrace", 0400, &covmm_proc_ops_IOTRACE },
};

/*
 * The directory belongs to the VMM's user, as /proc/<pid> does, and only
 * that user (or root) may enter it. @owner is the VMM, or NULL when the
 * caller is one of its threads (a vCPU serving a hypercall).
 */
struct proc_dir_entry *covmm_proc_vm_create(const char *name, void *vm,
					    struct task_struct *owner)
{
	const struct cred *cred = get_task_cred(owner ?: current);
	struct proc_dir_entry *dir, *pde;
	kuid_t uid = cred->euid;
	kgid_t gid = cred->egid;
	int i;

	put_cred(cred);
	dir = proc_mkdir_data(name, 0500, covmm_proc_root, NULL);
	if (!dir)
		return NULL;
	proc_set_user(dir, uid, gid);
	for (i = 0; i < ARRAY_SIZE(covmm_proc_files); i++) {
		pde = proc_create_data(covmm_proc_files[i].name,
				       covmm_proc_files[i].mode, dir,
				       covmm_proc_files[i].ops, vm);
		if (!pde) {
			proc_remove(dir);
			return NULL;
		}
		proc_set_user(pde, uid, gid);
	}
	return dir;
}

/* Waits for readers and writers in the files to return. */
void covmm_proc_vm_remove(struct proc_dir_entry *dir)
{
	proc_remove(dir);
}
