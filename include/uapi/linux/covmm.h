/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * CoVMM user/guest ABI, C view.
 *
 * The definitions of record are in tools/abi/src/wire.rs, which the kernel
 * modules and the tools compile directly; this header mirrors them for C users
 * and `cargo test` (tools/abi/tests/uapi_header.rs) compiles it against the
 * Rust values so the two cannot drift. See Documentation/hypercall-abi.md.
 */
#ifndef _UAPI_LINUX_COVMM_H
#define _UAPI_LINUX_COVMM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define COVMM_ABI_MAJOR 1
#define COVMM_ABI_MINOR 0

/*
 * Hypercalls: RAX = COVMM_HC_BASE + opcode, arguments in RBX, RCX, RDX, RSI,
 * result in RAX (>= 0, or a negated Linux errno). -1000 (-KVM_ENOSYS) means
 * no host-vmrpc is loaded; -1 (-KVM_EPERM) means the caller was not at CPL 0.
 * KVM_HC_* numbers are below 64, so the range cannot collide with them.
 */
#define COVMM_HC_BASE 0x434f0000UL
#define COVMM_HC_COUNT 0x100
#define COVMM_HC(op) (COVMM_HC_BASE + (op))

enum covmm_opcode {
	COVMM_OP_PING = 0,		/* returns the VM's ping count */
	COVMM_OP_QUERY_VERSION = 1,	/* returns (major << 16) | minor */
};

/* struct covmm_guest_ping.insn */
#define COVMM_INSN_VMCALL 1
#define COVMM_INSN_VMMCALL 2

/* /dev/covmm-guest (guest-rvmrpc) */
struct covmm_guest_ping {
	__u16 abi_major;	/* in: COVMM_ABI_MAJOR */
	__u8 pad0[6];		/* must be zero */
	__u64 cookie;		/* in: passed to the host */
	__s64 result;		/* out: RAX as the host returned it */
	__u32 insn;		/* out: COVMM_INSN_* */
	__u32 pad1;		/* must be zero */
};

#define COVMM_GUEST_IOC_MAGIC 0xce
#define COVMM_GUEST_IOC_PING _IOWR(COVMM_GUEST_IOC_MAGIC, 0x00, struct covmm_guest_ping)

#endif /* _UAPI_LINUX_COVMM_H */
