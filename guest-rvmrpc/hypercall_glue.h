/* SPDX-License-Identifier: GPL-2.0 */
/* Interface between guest-rvmrpc's C glue and its Rust layer (hypercall.rs). */
#ifndef COVMM_GUEST_HYPERCALL_GLUE_H
#define COVMM_GUEST_HYPERCALL_GLUE_H

#include <linux/types.h>

long covmm_guest_hypercall4(unsigned int nr, unsigned long a0, unsigned long a1,
			    unsigned long a2, unsigned long a3);
bool covmm_guest_on_kvm(void);
bool covmm_guest_uses_vmmcall(void);
u64 covmm_guest_kaddr_to_phys(const void *addr);
bool covmm_guest_capable_rawio(void);
void covmm_guest_cond_resched(void);

struct task_struct;
struct task_struct *covmm_guest_kthread_run(int (*fn)(void *), void *data,
					    const char *name, int index);
bool covmm_guest_kthread_should_stop(void);
bool covmm_guest_cpu_uncontended(void);
void covmm_guest_msleep(unsigned int ms);
u64 covmm_guest_random_u64(void);
ssize_t covmm_guest_read_file(const char *path, void *buf, size_t len);
ssize_t covmm_guest_write_file(const char *path, const void *buf, size_t len);

#endif /* COVMM_GUEST_HYPERCALL_GLUE_H */
