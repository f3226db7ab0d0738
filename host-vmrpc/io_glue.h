/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between host-vmrpc's I/O monitor glue (io_glue.c) and its Rust
 * layer (kvm_io.rs). Functions named covmm_rs_* are implemented in Rust.
 */
#ifndef COVMM_HOST_IO_GLUE_H
#define COVMM_HOST_IO_GLUE_H

#include <linux/types.h>

struct kvm;
struct kvm_vcpu;
struct task_struct;

#define COVMM_IO_EVENT_PIO 1
#define COVMM_IO_EVENT_MMIO 2

/* One request as a probe saw it. */
struct covmm_io_event {
	u64 addr;		/* port or guest-physical address */
	u64 data;		/* first bytes moved, if has_data */
	u32 count;		/* repetitions (string I/O) */
	u16 size;		/* bytes per access */
	u8 kind;		/* COVMM_IO_EVENT_* */
	u8 write;
	u8 has_data;
};

/* Rust: a probe fired, in the thread running a vCPU, preemption disabled. */
void covmm_rs_io_event(void *monitors, const struct covmm_io_event *ev);

int covmm_io_probes_register(void *data);
void covmm_io_probes_unregister(void *data);
void covmm_io_probes_synchronize(void);

void *covmm_current_mm(void);
unsigned long covmm_kvm_online_vcpus(struct kvm *kvm);
struct kvm_vcpu *covmm_kvm_vcpu_at(struct kvm *kvm, unsigned long idx);
bool covmm_vcpu_is_current(struct kvm_vcpu *vcpu);

struct covmm_vcpu_io {
	u32 idx;		/* vcpu_idx: position in the VM */
	u32 id;			/* vcpu_id: the VMM's (APIC) id */
	u64 rip;
	bool rip_valid;
};

void covmm_vcpu_io_info(struct kvm_vcpu *vcpu, struct covmm_vcpu_io *out);

struct covmm_exit_counts {
	u64 exits;
	u64 io_exits;
	u64 mmio_exits;
};

void covmm_vcpu_exit_counts(struct kvm_vcpu *vcpu, struct covmm_exit_counts *out);
bool covmm_kvm_bus_covers(struct kvm *kvm, bool pio, u64 first, u64 last);
struct kvm *covmm_task_get_kvm(struct task_struct *task);

#endif /* COVMM_HOST_IO_GLUE_H */
