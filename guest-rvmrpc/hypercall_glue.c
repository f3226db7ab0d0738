// SPDX-License-Identifier: GPL-2.0
/*
 * guest-rvmrpc C glue. kvm_hypercall4() and kvm_para_available() are static
 * inlines in asm/kvm_para.h; the hypercall instruction (vmcall or vmmcall) is
 * chosen by the alternatives mechanism from the CPU vendor, so Rust calls them
 * through these wrappers, and the guest-physical address of kernel memory
 * comes from the mm macros. No logic lives here.
 */
#include <linux/capability.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/pid_namespace.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/kthread.h>
#include <linux/random.h>
#include <linux/kvm_para.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>
#include <asm/cpufeature.h>

#include "hypercall_glue.h"
#include "../include/covmm/guest.h"

/* The VMRPC client API and the service registry, implemented in Rust (hypercall.rs). */
EXPORT_SYMBOL_GPL(covmm_vmrpc_bind);
EXPORT_SYMBOL_GPL(covmm_vmrpc_unbind);
EXPORT_SYMBOL_GPL(covmm_vmrpc_perform);
EXPORT_SYMBOL_GPL(covmm_vmrpc_perform_kernel);
EXPORT_SYMBOL_GPL(covmm_vmrpc_hypercall);
EXPORT_SYMBOL_GPL(covmm_rvmrpc_register_service);
EXPORT_SYMBOL_GPL(covmm_rvmrpc_unregister_service);

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

/* Reverse VMRPC server threads: kthreads are macros and inlines in C. */
struct task_struct *covmm_guest_kthread_run(int (*fn)(void *), void *data,
					    const char *name, int index)
{
	return kthread_run(fn, data, "%s/%d", name, index);
}

bool covmm_guest_kthread_should_stop(void)
{
	return kthread_should_stop();
}

/* Nothing else wants this CPU: what KVM's halt polling asks too. */
bool covmm_guest_cpu_uncontended(void)
{
	return single_task_running();
}

void covmm_guest_msleep(unsigned int ms)
{
	msleep_interruptible(ms);
}

u64 covmm_guest_random_u64(void)
{
	return get_random_u64();
}

/*
 * The guest's /proc and /proc/sys files, read and written from the kernel as
 * the Reverse VMRPC paper's services do. Paths are looked up from the root of
 * init (pid 1): kernel threads in 7.x start at an empty root below it.
 * Return bytes moved or -errno.
 */
static struct file *covmm_guest_open(const char *path, int flags)
{
	struct task_struct *init;
	struct path root = {};
	struct file *file;

	rcu_read_lock();
	init = pid_task(find_pid_ns(1, &init_pid_ns), PIDTYPE_PID);
	if (init)
		get_task_struct(init);
	rcu_read_unlock();
	if (!init)
		return ERR_PTR(-ESRCH);
	task_lock(init);
	if (init->fs)
		get_fs_root(init->fs, &root);
	task_unlock(init);
	put_task_struct(init);
	if (!root.mnt)
		return ERR_PTR(-ENOENT);
	file = file_open_root(&root, path, flags, 0);
	path_put(&root);
	return file;
}

ssize_t covmm_guest_read_file(const char *path, void *buf, size_t len)
{
	struct file *file = covmm_guest_open(path, O_RDONLY);
	loff_t pos = 0;
	ssize_t done = 0, n;

	if (IS_ERR(file))
		return PTR_ERR(file);
	while (done < len) {
		n = kernel_read(file, buf + done, len - done, &pos);
		if (n <= 0) {
			if (n < 0)
				done = n;
			break;
		}
		done += n;
	}
	filp_close(file, NULL);
	return done;
}

ssize_t covmm_guest_write_file(const char *path, const void *buf, size_t len)
{
	struct file *file = covmm_guest_open(path, O_WRONLY);
	loff_t pos = 0;
	ssize_t n;

	if (IS_ERR(file))
		return PTR_ERR(file);
	n = kernel_write(file, buf, len, &pos);
	filp_close(file, NULL);
	return n;
}
