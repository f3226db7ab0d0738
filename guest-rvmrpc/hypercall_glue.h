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

#endif /* COVMM_GUEST_HYPERCALL_GLUE_H */
