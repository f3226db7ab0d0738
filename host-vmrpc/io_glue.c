// SPDX-License-Identifier: GPL-2.0
/*
 * host-vmrpc C glue for the guest I/O request monitor (iomon.rs, kvm_io.rs).
 *
 * KVM reports every port-I/O and MMIO request it emulates through three
 * tracepoints: kvm_pio (arch/x86/kvm/trace.h), kvm_mmio and kvm_fast_mmio.
 * kvm_mmio and kvm_fast_mmio are exported to modules; kvm_pio is not. All
 * three are found the same way, by name, among the tracepoints of the kernel
 * image (KVM=y) or of kvm.ko (KVM=m), as the kernel's own tracers can, and
 * probes are attached with tracepoint_probe_register(). That needs no export
 * and no kernel patch; static_asserts below check, at build time, that each
 * probe has its tracepoint's exact prototype.
 *
 * The probes only copy their arguments into a struct covmm_io_event and hand
 * it to Rust; every decision is taken there.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/tracepoint.h>

#include <trace/events/kvm.h>
#include "kvm/trace.h"		/* arch/x86/kvm/trace.h: kvm_pio, kvm_fast_mmio */

#include "io_glue.h"

static void covmm_event_data(struct covmm_io_event *ev, const void *val,
			     unsigned long len)
{
	if (!val)
		return;
	memcpy(&ev->data, val, min(len, sizeof(ev->data)));
	ev->has_data = 1;
}

static void covmm_probe_pio(void *data, unsigned int rw, unsigned int port,
			    unsigned int size, unsigned int count,
			    const void *val)
{
	struct covmm_io_event ev = {
		.addr = port,
		.size = size,
		.count = count,
		.kind = COVMM_IO_EVENT_PIO,
		.write = rw == KVM_PIO_OUT,
	};

	covmm_event_data(&ev, val, (unsigned long)size * count);
	covmm_rs_io_event(data, &ev);
}

static void covmm_probe_mmio(void *data, int type, int len, u64 gpa, void *val)
{
	struct covmm_io_event ev = {
		.addr = gpa,
		.size = len,
		.count = 1,
		.kind = COVMM_IO_EVENT_MMIO,
		.write = type == KVM_TRACE_MMIO_WRITE,
	};

	/*
	 * A read that KVM cannot satisfy in the kernel goes to the VMM and is
	 * traced again as a READ, with its value, when it completes: count it
	 * then.
	 */
	if (type == KVM_TRACE_MMIO_READ_UNSATISFIED)
		return;
	covmm_event_data(&ev, val, len > 0 ? len : 0);
	covmm_rs_io_event(data, &ev);
}

/* VMX's zero-length ioeventfd fast path: a write whose value nobody reads. */
static void covmm_probe_fast_mmio(void *data, u64 gpa)
{
	struct covmm_io_event ev = {
		.addr = gpa,
		.count = 1,
		.kind = COVMM_IO_EVENT_MMIO,
		.write = 1,
	};

	covmm_rs_io_event(data, &ev);
}

/* Type checks only: sizeof does not evaluate, so nothing is linked. */
static_assert(sizeof(register_trace_kvm_pio(covmm_probe_pio, NULL)) == sizeof(int));
static_assert(sizeof(register_trace_kvm_mmio(covmm_probe_mmio, NULL)) == sizeof(int));
static_assert(sizeof(register_trace_kvm_fast_mmio(covmm_probe_fast_mmio, NULL)) == sizeof(int));

struct covmm_tp_probe {
	const char *name;
	void *probe;
	bool optional;		/* kvm_fast_mmio: only VMX fires it */
	struct tracepoint *tp;
};

static struct covmm_tp_probe covmm_tp_probes[] = {
	{ "kvm_pio", covmm_probe_pio, false },
	{ "kvm_mmio", covmm_probe_mmio, false },
	{ "kvm_fast_mmio", covmm_probe_fast_mmio, true },
};

static void covmm_tp_match(struct tracepoint *tp, void *priv)
{
	struct covmm_tp_probe *p = priv;

	if (!p->tp && !strcmp(tp->name, p->name))
		p->tp = tp;
}

/* KVM=m: the tracepoints of kvm.ko, replayed for modules already loaded. */
static int covmm_tp_module(struct notifier_block *nb, unsigned long val,
			   void *data)
{
	struct tp_module *tp_mod = data;
	struct module *mod = tp_mod->mod;
	unsigned int i, j;

	if (val != MODULE_STATE_COMING || strcmp(mod->name, "kvm"))
		return NOTIFY_OK;
	for (i = 0; i < mod->num_tracepoints; i++)
		for (j = 0; j < ARRAY_SIZE(covmm_tp_probes); j++)
			covmm_tp_match(tracepoint_ptr_deref(&mod->tracepoints_ptrs[i]),
				       &covmm_tp_probes[j]);
	return NOTIFY_OK;
}

static struct notifier_block covmm_tp_nb = {
	.notifier_call = covmm_tp_module,
};

/*
 * Finds the tracepoints once. kvm.ko cannot go away under us: host-vmrpc
 * links to its kvm_get_kvm(), so it depends on it.
 */
static int covmm_find_tracepoints(void)
{
	unsigned int j;
	int ret;

	for (j = 0; j < ARRAY_SIZE(covmm_tp_probes); j++)
		for_each_kernel_tracepoint(covmm_tp_match, &covmm_tp_probes[j]);
	if (!covmm_tp_probes[0].tp) {
		ret = register_tracepoint_module_notifier(&covmm_tp_nb);
		if (ret)
			return ret;
		unregister_tracepoint_module_notifier(&covmm_tp_nb);
	}
	for (j = 0; j < ARRAY_SIZE(covmm_tp_probes); j++)
		if (!covmm_tp_probes[j].tp && !covmm_tp_probes[j].optional)
			return -ENOENT;
	return 0;
}

/* Called under iomon.rs's control mutex, which serialises these two. */
int covmm_io_probes_register(void *data)
{
	unsigned int j;
	int ret;

	ret = covmm_find_tracepoints();
	if (ret)
		return ret;
	for (j = 0; j < ARRAY_SIZE(covmm_tp_probes); j++) {
		if (!covmm_tp_probes[j].tp)
			continue;
		ret = tracepoint_probe_register(covmm_tp_probes[j].tp,
						covmm_tp_probes[j].probe, data);
		if (ret) {
			while (j--)
				if (covmm_tp_probes[j].tp)
					tracepoint_probe_unregister(covmm_tp_probes[j].tp,
								    covmm_tp_probes[j].probe,
								    data);
			tracepoint_synchronize_unregister();
			return ret;
		}
	}
	return 0;
}

/*
 * Waits until every probe running now has returned. Since 7.x, tracepoint
 * probes run under SRCU (tracepoint_srcu) and may be preempted, so an RCU
 * grace period is not enough.
 */
void covmm_io_probes_synchronize(void)
{
	tracepoint_synchronize_unregister();
}

/* Returns once no probe can be running with @data any more. */
void covmm_io_probes_unregister(void *data)
{
	unsigned int j;

	for (j = 0; j < ARRAY_SIZE(covmm_tp_probes); j++)
		if (covmm_tp_probes[j].tp)
			tracepoint_probe_unregister(covmm_tp_probes[j].tp,
						    covmm_tp_probes[j].probe, data);
	tracepoint_synchronize_unregister();
}

/* The probes run in the thread that KVM runs the vCPU in. */
void *covmm_current_mm(void)
{
	return current->mm;
}

unsigned long covmm_kvm_online_vcpus(struct kvm *kvm)
{
	return atomic_read(&kvm->online_vcpus);
}

struct kvm_vcpu *covmm_kvm_vcpu_at(struct kvm *kvm, unsigned long idx)
{
	return kvm_get_vcpu(kvm, idx);
}

/* vcpu->pid changes only in KVM_RUN of this very vCPU (kvm_vcpu_ioctl()). */
bool covmm_vcpu_is_current(struct kvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->pid) == task_pid(current);
}

/*
 * Right after an exit, AMD's RIP is always cached; Intel's only once KVM has
 * read it (the emulator has; the fast port-I/O path not yet).
 */
void covmm_vcpu_io_info(struct kvm_vcpu *vcpu, struct covmm_vcpu_io *out)
{
	out->idx = vcpu->vcpu_idx;
	out->id = vcpu->vcpu_id;
	out->rip_valid = !vcpu->arch.guest_state_protected &&
		test_bit(VCPU_REG_RIP, vcpu->arch.regs_avail);
	out->rip = vcpu->arch.rip;
}

void covmm_vcpu_exit_counts(struct kvm_vcpu *vcpu, struct covmm_exit_counts *out)
{
	out->exits = READ_ONCE(vcpu->stat.exits);
	out->io_exits = READ_ONCE(vcpu->stat.io_exits);
	out->mmio_exits = READ_ONCE(vcpu->stat.mmio_exits);
}

/* Whether a device on KVM's port-I/O or MMIO bus overlaps @first..@last. */
bool covmm_kvm_bus_covers(struct kvm *kvm, bool pio, u64 first, u64 last)
{
	struct kvm_io_bus *bus;
	bool covers = false;
	int i, idx;

	idx = srcu_read_lock(&kvm->srcu);
	bus = srcu_dereference(kvm->buses[pio ? KVM_PIO_BUS : KVM_MMIO_BUS], &kvm->srcu);
	for (i = 0; bus && i < bus->dev_count && !covers; i++)
		covers = bus->range[i].addr <= last &&
			 first < bus->range[i].addr + max(bus->range[i].len, 1);
	srcu_read_unlock(&kvm->srcu, idx);
	return covers;
}

/*
 * The first KVM VM that @task has open, with a reference, or NULL. KVM's VM
 * files are anonymous inodes named "kvm-vm" whose private data is the struct
 * kvm (kvm_dev_ioctl_create_vm()); file_is_kvm() is not exported to other
 * modules. The open file holds a reference on the VM while we take ours.
 */
struct kvm *covmm_task_get_kvm(struct task_struct *task)
{
	struct kvm *kvm = NULL;
	unsigned int fd = 0;
	struct file *file;

	while (!kvm && (file = fget_task_next(task, &fd))) {
		if (file_inode(file)->i_sb->s_magic == ANON_INODE_FS_MAGIC &&
		    !strcmp(file->f_path.dentry->d_name.name, "kvm-vm") &&
		    kvm_get_kvm_safe(file->private_data))
			kvm = file->private_data;
		fput(file);
		fd++;
	}
	return kvm;
}
