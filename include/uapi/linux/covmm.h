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
#define COVMM_ABI_MINOR 5

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

/*
 * The guest I/O request monitor: every port-I/O and MMIO request that reaches
 * KVM's emulation from a monitored VM, for its owner. See
 * Documentation/iomon.md; the text forms are in /proc/covmm/<pid>/iomon,
 * iostat and iotrace.
 */
#define COVMM_IO_KIND_PIO 1
#define COVMM_IO_KIND_MMIO 2

#define COVMM_IO_REC_WRITE 1	/* OUT or MMIO store; else a read */
#define COVMM_IO_REC_DATA 2	/* data is valid */
#define COVMM_IO_REC_RIP 4	/* rip is valid */
#define COVMM_IO_REC_VCPU 8	/* vcpu is valid */

struct covmm_io_record {
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u64 addr;		/* port, or guest-physical address */
	__u64 data;		/* first (at most 8) bytes moved, little-endian */
	__u64 rip;		/* guest RIP of the instruction */
	__u32 vcpu;		/* vcpu_id */
	__u32 count;		/* repetitions of a string instruction, else 1 */
	__u16 size;		/* bytes per access */
	__u8 kind;		/* COVMM_IO_KIND_* */
	__u8 flags;		/* COVMM_IO_REC_* */
	__u32 pad;
};

#define COVMM_IO_DIR_IN 1	/* guest reads */
#define COVMM_IO_DIR_OUT 2	/* guest writes */
#define COVMM_IO_DIR_ANY 3
#define COVMM_IO_MAX_RULES 8

struct covmm_io_rule {
	__u32 kind;		/* COVMM_IO_KIND_* */
	__u32 pad;		/* must be zero */
	__u64 first;		/* inclusive range of ports or addresses */
	__u64 last;
};

struct covmm_io_filter {
	struct covmm_io_rule rules[COVMM_IO_MAX_RULES];	/* unused ones zero */
	__u32 nrules;		/* 0: every port and address */
	__u32 dirs;		/* COVMM_IO_DIR_*, not 0 */
};

#define COVMM_IO_ENTRY_IN_KERNEL 1	/* a KVM device or ioeventfd covers it */
#define COVMM_IO_ENTRY_OTHER 2		/* catch-all once the table is full */

struct covmm_io_stat_entry {
	__u8 kind;
	__u8 flags;		/* COVMM_IO_ENTRY_* */
	__u8 pad[6];
	__u64 first;		/* the port, or the 4 KiB MMIO page */
	__u64 last;
	__u64 reads;
	__u64 writes;
	__u64 bytes;
};

#define COVMM_IO_VCPU_OTHER 0xffffffffU

struct covmm_io_vcpu_stat {
	__u32 vcpu;		/* vcpu_id, or COVMM_IO_VCPU_OTHER */
	__u32 pad;
	__u64 pio;
	__u64 mmio;
	__u64 bytes;
};

struct covmm_io_totals {
	__u64 pio_reads;
	__u64 pio_writes;
	__u64 pio_bytes;
	__u64 mmio_reads;
	__u64 mmio_writes;
	__u64 mmio_bytes;
	__u64 requests;		/* one per emulated instruction */
	__u64 dropped;		/* records lost to a full trace ring */
	__u64 unattributed;	/* requests whose vCPU was not found */
};

#define COVMM_IOMON_RING_DEFAULT 8192
#define COVMM_IOMON_RING_MAX (1U << 20)
#define COVMM_IOMON_MAX_ENTRIES 512
#define COVMM_IOMON_MAX_VCPUS 256
#define COVMM_IOMON_READ_MAX 4096
#define COVMM_IOMON_READ_NONBLOCK 1
#define COVMM_IOMON_READ_BATCH 2	/* wait for a batch, or 100 ms after the first record */
#define COVMM_IOMON_BATCH_WAIT_MS 100

struct covmm_host_iomon_set {
	__s32 vm_pid;
	__u32 enable;		/* 1: start (new counters), 0: stop */
	__u32 ring;		/* records; 0: COVMM_IOMON_RING_DEFAULT */
	__u32 pad;		/* must be zero */
	struct covmm_io_filter filter;
};

struct covmm_host_iomon_read {
	__s32 vm_pid;
	__u32 flags;		/* COVMM_IOMON_READ_* */
	__u64 records;		/* user address of covmm_io_record[capacity] */
	__u32 capacity;		/* 1..COVMM_IOMON_READ_MAX */
	__u32 count;		/* out */
	__u64 dropped;		/* out: records lost before these */
	__u32 eof;		/* out: monitoring ended and the ring is empty */
	__u32 pad;
};

struct covmm_host_iomon_stats {
	__s32 vm_pid;		/* in */
	__u32 flags;		/* in: zero */
	__u64 entries;		/* in: user address of covmm_io_stat_entry[entries_cap] */
	__u32 entries_cap;
	__u32 entries_count;	/* out: entries there are */
	__u64 vcpus;		/* in: user address of covmm_io_vcpu_stat[vcpus_cap] */
	__u32 vcpus_cap;
	__u32 vcpus_count;
	__u32 enabled;		/* out */
	__u32 ring;		/* out */
	__u64 elapsed_ns;	/* out: length of the session */
	struct covmm_io_totals totals;
	__u64 kvm_exits;	/* out: KVM's counters, summed over vCPUs */
	__u64 kvm_io_exits;
	__u64 kvm_mmio_exits;
	struct covmm_io_filter filter;
};

#define COVMM_HOST_IOC_IOMON_SET _IOW(COVMM_HOST_IOC_MAGIC, 0x20, struct covmm_host_iomon_set)
#define COVMM_HOST_IOC_IOMON_READ _IOWR(COVMM_HOST_IOC_MAGIC, 0x21, struct covmm_host_iomon_read)
#define COVMM_HOST_IOC_IOMON_STATS _IOWR(COVMM_HOST_IOC_MAGIC, 0x22, struct covmm_host_iomon_stats)

/*
 * hlfs exports: a host directory the VM's guest mounts with
 * "mount -t hlfs TAG DIR" (Documentation/hlfs.md). The guest-host protocol
 * itself is VMRPC server "covmm.hlfs" version 1 (tools/abi/src/hlfs.rs).
 */
#define COVMM_HLFS_TAG_LEN 64		/* [A-Za-z0-9_.-], NUL-padded */
#define COVMM_HLFS_EXPORT_PATH_MAX 4095
#define COVMM_HLFS_INFO_PATH_LEN 256
#define COVMM_HLFS_EXPORT_RO 1
#define COVMM_HLFS_MAX_ID_RANGES 4
#define COVMM_HLFS_OVERFLOW_ID 65534	/* what unmapped ids show as */

struct covmm_hlfs_id_range {
	__u32 guest;		/* guest ids guest..guest+count-1 */
	__u32 host;		/* are host ids host..host+count-1 */
	__u32 count;
	__u32 pad;
};

struct covmm_hlfs_id_map {
	struct covmm_hlfs_id_range ranges[COVMM_HLFS_MAX_ID_RANGES];
	__u32 count;		/* 0: the identity */
	__u32 pad;
};

struct covmm_host_hlfs_export {
	__s32 vm_pid;
	__u32 flags;		/* COVMM_HLFS_EXPORT_* */
	char tag[COVMM_HLFS_TAG_LEN];
	__u64 path;		/* user address of the absolute host path */
	__u32 path_len;		/* without NUL */
	__u32 pad;
	struct covmm_hlfs_id_map uids;
	struct covmm_hlfs_id_map gids;
};

struct covmm_host_hlfs_unexport {
	__s32 vm_pid;
	__u32 pad;
	char tag[COVMM_HLFS_TAG_LEN];
};

struct covmm_host_hlfs_export_info {
	char tag[COVMM_HLFS_TAG_LEN];
	char path[COVMM_HLFS_INFO_PATH_LEN];
	__u32 flags;
	__u32 mounts;
	__u64 nodes;		/* node handles the guest holds */
	__u64 files;		/* files it has open */
};

struct covmm_host_hlfs_list {
	__s32 vm_pid;
	__u32 capacity;
	__u64 entries;		/* user address of export_info[capacity] */
	__u32 count;		/* out */
	__u32 pad;
};

#define COVMM_HOST_IOC_HLFS_EXPORT _IOW(COVMM_HOST_IOC_MAGIC, 0x30, struct covmm_host_hlfs_export)
#define COVMM_HOST_IOC_HLFS_UNEXPORT _IOW(COVMM_HOST_IOC_MAGIC, 0x31, struct covmm_host_hlfs_unexport)
#define COVMM_HOST_IOC_HLFS_LIST _IOWR(COVMM_HOST_IOC_MAGIC, 0x32, struct covmm_host_hlfs_list)

#endif /* _UAPI_LINUX_COVMM_H */
