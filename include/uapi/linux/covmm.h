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
#define COVMM_ABI_MINOR 3

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
	COVMM_OP_BIND = 2,		/* RBX: gpa of struct covmm_bind_request */
	COVMM_OP_UNBIND = 3,		/* RBX: handle */
	COVMM_OP_PERFORM = 4,		/* RBX: handle, RCX: func, RDX: gpa of
					 * struct covmm_call_desc + segment[RSI] */
	COVMM_OP_CANCEL = 5,		/* RBX: gpa of the descriptor block of a
					 * call that got COVMM_CALL_AGAIN */
	COVMM_OP_RV_INIT = 6,		/* RBX: gpa of struct covmm_rv_init;
					 * returns the slot */
	COVMM_OP_RV_WAIT = 7,		/* RBX: slot, RCX: tag answered (0: none),
					 * RDX: its result, RSI: flags; returns
					 * COVMM_RV_REQUEST or COVMM_CALL_AGAIN */
	COVMM_OP_RV_FINI = 8,		/* RBX: slot */
};

/*
 * PERFORM result: the call still runs on the host, which returned so that the
 * guest can take interrupts. Issue the same PERFORM again (any vCPU), or
 * CANCEL it. Only for bindings made with COVMM_BIND_RESTARTABLE.
 */
#define COVMM_CALL_AGAIN (-0x10000LL)

/*
 * VMRPC. Servers see guest memory by guest (kernel virtual) address; each
 * PERFORM carries the map from the guest virtual ranges the server may reach
 * to the guest-physical memory behind them: a struct covmm_call_desc followed
 * directly by RSI struct covmm_segment.
 */
#define COVMM_SERVER_NAME_LEN 32	/* [A-Za-z0-9_.-], NUL-terminated */
#define COVMM_MAX_SEGMENTS 256
#define COVMM_MAX_CALL_BYTES (1UL << 20)
#define COVMM_MAX_BINDINGS 1024

struct covmm_bind_request {
	char name[COVMM_SERVER_NAME_LEN];	/* NUL-terminated and -padded */
	__u32 version;
	__u32 flags;				/* COVMM_BIND_* */
};

#define COVMM_BIND_RESTARTABLE 1	/* the guest handles COVMM_CALL_AGAIN */

struct covmm_call_desc {
	__u64 arg;	/* guest address of the request, given to the server */
	__u64 arg_len;	/* its length, given to the server */
};

#define COVMM_SEG_WRITE 1	/* the server may write this segment */

struct covmm_segment {
	__u64 gva;	/* guest virtual address of the first byte */
	__u64 gpa;	/* guest-physical address of the first byte */
	__u32 len;	/* not zero */
	__u32 flags;	/* COVMM_SEG_* */
};

/*
 * Reverse VMRPC: guest server threads offer slots (a request and a response
 * buffer, physically contiguous) and wait in COVMM_OP_RV_WAIT for requests.
 */
#define COVMM_RV_VERSION 1
#define COVMM_RV_MAX_BUF (64 * 1024)
#define COVMM_RV_MAX_SLOTS 16
#define COVMM_RV_REQUEST 1	/* RV_WAIT: a request is in the buffer */
#define COVMM_RV_NO_WAIT 1	/* RV_WAIT flag (RSI): return at once if none */

struct covmm_rv_init {
	__u32 version;		/* COVMM_RV_VERSION */
	__u32 flags;		/* must be zero */
	__u64 boot_id;		/* random per start of the guest's server */
	__u64 req_gpa;
	__u64 resp_gpa;
	__u32 req_len;		/* sizeof(struct covmm_rv_request)..64 KiB */
	__u32 resp_len;		/* 1..64 KiB */
};

struct covmm_rv_request {
	__u64 tag;				/* answer with it; never 0 */
	char service[COVMM_SERVER_NAME_LEN];
	__u32 func;
	__u32 len;				/* bytes of data that follow */
};

/* Typed service results: records of struct covmm_entry, key, text, padding to 8. */
struct covmm_entry {
	__u32 group;	/* e.g. the CPU in cpuinfo */
	__u32 unit;	/* COVMM_UNIT_* */
	__u64 value;
	__u16 key_len;
	__u16 text_len;
	__u32 pad;
};

#define COVMM_UNIT_COUNT 0
#define COVMM_UNIT_BYTES 1
#define COVMM_UNIT_MILLI 2
#define COVMM_UNIT_TEXT 3

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

struct covmm_guest_bind {
	char name[COVMM_SERVER_NAME_LEN];	/* in */
	__u32 version;				/* in */
	__u32 flags;				/* must be zero */
	__u64 handle;				/* out: valid for this open file */
};

#define COVMM_PERFORM_WRITE 1	/* the server may write buf; copied back */

struct covmm_guest_perform {
	__u64 handle;	/* in */
	__u32 func;	/* in */
	__u32 flags;	/* in: COVMM_PERFORM_* */
	__u64 buf;	/* in: user address */
	__u64 len;	/* in: at most COVMM_MAX_CALL_BYTES */
	__s64 result;	/* out: server result, or a negated errno */
};

#define COVMM_GUEST_IOC_BIND _IOWR(COVMM_GUEST_IOC_MAGIC, 0x01, struct covmm_guest_bind)
#define COVMM_GUEST_IOC_UNBIND _IOW(COVMM_GUEST_IOC_MAGIC, 0x02, __u64)
#define COVMM_GUEST_IOC_PERFORM _IOWR(COVMM_GUEST_IOC_MAGIC, 0x03, struct covmm_guest_perform)

/* A raw CoVMM hypercall, for tests; needs CAP_SYS_RAWIO. */
#define COVMM_GUEST_HYPERCALL_PAYLOAD_MAX 4096

struct covmm_guest_hypercall {
	__u64 op;		/* in: opcode, below COVMM_HC_COUNT */
	__u64 args[4];		/* in: RBX, RCX, RDX, RSI */
	__u64 payload;		/* in: user address of bytes for guest memory, or 0 */
	__u64 payload_len;	/* in: at most COVMM_GUEST_HYPERCALL_PAYLOAD_MAX */
	__u64 payload_arg;	/* in: argument replaced by the payload's gpa */
	__s64 result;		/* out: RAX */
};

#define COVMM_GUEST_IOC_HYPERCALL _IOWR(COVMM_GUEST_IOC_MAGIC, 0x04, struct covmm_guest_hypercall)

/*
 * /dev/covmm (host-vmrpc): VMRPC servers in host user space. The VMM's owner
 * (or CAP_SYS_ADMIN) registers a server for one VM on an open file and serves
 * calls in a loop: SERVER_WAIT, GUEST_READ/GUEST_WRITE/GET_HVA, REPLY.
 */
#define COVMM_HOST_IOC_MAGIC 0xcf

struct covmm_host_server_register {
	char name[COVMM_SERVER_NAME_LEN];	/* as in covmm_bind_request */
	__u32 version;
	__u32 flags;				/* must be zero */
	__s32 vm_pid;				/* the VMM process */
	__u32 pad;				/* must be zero */
};

struct covmm_host_call {
	__u64 call_id;	/* out: names the call until REPLY */
	__u32 func;	/* out */
	__u32 vcpu;	/* out: the calling vCPU */
	__u64 arg;	/* out: guest address of the request */
	__u64 arg_len;	/* out: its length */
};

struct covmm_host_guest_copy {
	__u64 call_id;
	__u64 gva;	/* guest address the call exposes */
	__u64 buf;	/* user address of the server's buffer */
	__u64 len;	/* at most COVMM_MAX_CALL_BYTES */
};

struct covmm_host_get_hva {
	__u64 call_id;
	__u64 gva;
	__u32 write;	/* 1 if the byte will be written */
	__u32 pad;	/* must be zero */
	__u64 hva;	/* out: address in the VMM process */
};

struct covmm_host_reply {
	__u64 call_id;
	__s64 result;	/* >= 0, or a negated errno */
};

#define COVMM_HOST_IOC_SERVER_REGISTER _IOW(COVMM_HOST_IOC_MAGIC, 0x01, struct covmm_host_server_register)
#define COVMM_HOST_IOC_SERVER_WAIT _IOR(COVMM_HOST_IOC_MAGIC, 0x02, struct covmm_host_call)
#define COVMM_HOST_IOC_GUEST_READ _IOW(COVMM_HOST_IOC_MAGIC, 0x03, struct covmm_host_guest_copy)
#define COVMM_HOST_IOC_GUEST_WRITE _IOW(COVMM_HOST_IOC_MAGIC, 0x04, struct covmm_host_guest_copy)
#define COVMM_HOST_IOC_GET_HVA _IOWR(COVMM_HOST_IOC_MAGIC, 0x05, struct covmm_host_get_hva)
#define COVMM_HOST_IOC_REPLY _IOW(COVMM_HOST_IOC_MAGIC, 0x06, struct covmm_host_reply)

/* Reverse VMRPC from host user space, for VMs the caller owns. */
struct covmm_host_vm_info {
	__s32 pid;		/* the VMM process: names the VM */
	__u32 slots;		/* guest server slots; 0: no guest server */
	__u32 busy;
	__u32 queued;
	__u64 calls;
	__u64 errors;
	__u64 timeouts;
};

struct covmm_host_list_vms {
	__u64 vms;		/* user address of covmm_host_vm_info[capacity] */
	__u32 capacity;
	__u32 count;		/* out: VMs the caller owns */
};

struct covmm_host_rv_call {
	__s32 vm_pid;
	__u32 func;
	char service[COVMM_SERVER_NAME_LEN];
	__u64 input;		/* user address of the request data */
	__u32 in_len;
	__u32 out_len;		/* in: room at output; out: response length */
	__u64 output;
	__u32 flags;		/* must be zero */
	__u32 pad;		/* must be zero */
};

struct covmm_host_rv_timeout {
	__s32 vm_pid;
	__u32 timeout_ms;	/* 1..600000 */
};

#define COVMM_RV_HIST_BUCKETS 16

struct covmm_host_rv_stats {
	__s32 vm_pid;		/* in */
	__u32 slots;
	__u32 busy;
	__u32 queued;
	__u32 timeout_ms;
	__u32 pad;
	__u64 calls;
	__u64 errors;
	__u64 timeouts;
	__u64 latency[COVMM_RV_HIST_BUCKETS];	/* bucket i: below 2^i us */
};

#define COVMM_HOST_IOC_LIST_VMS _IOWR(COVMM_HOST_IOC_MAGIC, 0x10, struct covmm_host_list_vms)
#define COVMM_HOST_IOC_RV_CALL _IOWR(COVMM_HOST_IOC_MAGIC, 0x11, struct covmm_host_rv_call)
#define COVMM_HOST_IOC_RV_SET_TIMEOUT _IOW(COVMM_HOST_IOC_MAGIC, 0x12, struct covmm_host_rv_timeout)
#define COVMM_HOST_IOC_RV_STATS _IOWR(COVMM_HOST_IOC_MAGIC, 0x13, struct covmm_host_rv_stats)

#endif /* _UAPI_LINUX_COVMM_H */
