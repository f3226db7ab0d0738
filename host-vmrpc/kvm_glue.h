/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between host-vmrpc's C glue (kvm_glue.c) and its Rust layer
 * (kvm.rs). Functions named covmm_rs_* are implemented in Rust.
 */
#ifndef COVMM_HOST_KVM_GLUE_H
#define COVMM_HOST_KVM_GLUE_H

#include <linux/types.h>

struct kvm;
struct kvm_vcpu;
struct mmu_notifier;
struct mmu_notifier_ops;
struct task_struct;
struct workqueue_struct;

/* Rust: should this hypercall be diverted to CoVMM? Runs in ftrace context. */
bool covmm_rs_claims(u64 nr, int cpl, bool long_mode);
/* Rust: serve a CoVMM hypercall in the vCPU thread; returns RAX. */
long covmm_rs_hypercall(struct kvm_vcpu *vcpu, u64 nr, u64 a0, u64 a1, u64 a2,
			u64 a3);

int covmm_hook_register(void);
void covmm_hook_unregister(void);

struct kvm *covmm_vcpu_kvm(struct kvm_vcpu *vcpu);
int covmm_vcpu_id(struct kvm_vcpu *vcpu);
void *covmm_kvm_mm(struct kvm *kvm);
pid_t covmm_kvm_userspace_pid(struct kvm *kvm);

struct mmu_notifier *covmm_mmu_notifier_get(const struct mmu_notifier_ops *ops,
					    void *mm);
struct workqueue_struct *covmm_alloc_workqueue(const char *name);

/* A guest frame resolved through the memslots; see covmm_gfn_to_slot(). */
struct covmm_slot {
	void *slot;		/* struct kvm_memory_slot, valid for the call */
	unsigned long hva;	/* the frame in the VMM's address space */
	bool readonly;
	bool invalid;		/* being deleted or moved */
	bool guest_memfd;
	bool dirty_log;
	bool dirty_ring;
};

int covmm_gfn_to_slot(struct kvm_vcpu *vcpu, u64 gfn, struct covmm_slot *out);
int covmm_kvm_gfn_to_slot(struct kvm *kvm, u64 gfn, struct covmm_slot *out);
int covmm_kvm_srcu_read_lock(struct kvm *kvm);
void covmm_kvm_srcu_read_unlock(struct kvm *kvm, int idx);

void covmm_vcpu_srcu_read_unlock(struct kvm_vcpu *vcpu);
void covmm_vcpu_srcu_read_lock(struct kvm_vcpu *vcpu);
void covmm_vcpu_prepare_wait(struct kvm_vcpu *vcpu);
void covmm_vcpu_finish_wait(struct kvm_vcpu *vcpu);
bool covmm_vcpu_request_pending(struct kvm_vcpu *vcpu);
bool covmm_fatal_signal_pending(void);

struct task_struct *covmm_get_task_by_vpid(pid_t nr);
struct mmu_notifier *covmm_task_mmu_notifier_get(const struct mmu_notifier_ops *ops,
						 struct task_struct *task);
void covmm_slot_mark_dirty(struct covmm_slot *slot, u64 gfn);

struct proc_dir_entry;
struct seq_file;

/* The files of /proc/covmm/<pid>/. */
enum covmm_proc_kind {
	COVMM_PROC_MEMINFO,
	COVMM_PROC_CPUINFO,
	COVMM_PROC_LOADAVG,
	COVMM_PROC_STATUS,
	COVMM_PROC_SERVICES,
	COVMM_PROC_DROP_CACHES,
	COVMM_PROC_IOMON,
	COVMM_PROC_IOSTAT,
};

/* Rust: fill a /proc/covmm/<pid>/ file of VM @vm. */
int covmm_rs_proc_show(int kind, void *vm, struct seq_file *m);
/* Rust: a write to a /proc/covmm/<pid>/ file of VM @vm. */
ssize_t covmm_rs_proc_write(int kind, void *vm, const char __user *buf, size_t len);

int covmm_proc_init(void);
void covmm_proc_exit(void);
struct proc_dir_entry *covmm_proc_vm_create(const char *name, void *vm,
					    struct task_struct *owner);

struct file;
struct poll_table_struct;

/* Rust: /proc/covmm/<pid>/iotrace readers (ERR_PTR on failure). */
void *covmm_rs_iotrace_open(void *vm);
ssize_t covmm_rs_iotrace_read(void *reader, char __user *buf, size_t len, bool nonblock);
/* Rust: registers @wait; true if a read would not block. */
bool covmm_rs_iotrace_poll(void *reader, struct file *file,
			   struct poll_table_struct *wait);
void covmm_rs_iotrace_release(void *reader);
void covmm_proc_vm_remove(struct proc_dir_entry *dir);

#endif /* COVMM_HOST_KVM_GLUE_H */
