/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CoVMM guest API: VMRPC calls from guest kernel modules to host servers.
 *
 * Exported by guest-rvmrpc (EXPORT_SYMBOL_GPL). See Documentation/vmrpc.md
 * and samples/vmrpc-print/. All functions sleep-safe, process context;
 * they return a negated errno on failure, -ENODEV when the host runs no
 * host-vmrpc.
 */
#ifndef _COVMM_GUEST_H
#define _COVMM_GUEST_H

#include <linux/types.h>

/*
 * A kernel buffer (kmalloc, vmalloc, stack or static memory) the host server
 * may reach during one call, by its kernel address.
 */
struct covmm_buf {
	void *addr;
	size_t len;
	bool writable;	/* the server may write it */
};

/* Binds to host server @name, @version; stores the handle in @handle. */
int covmm_vmrpc_bind(const char *name, u32 version, u64 *handle);
int covmm_vmrpc_unbind(u64 handle);
/*
 * Calls function @func of the server behind @handle. The server gets the
 * address and length of bufs[0] as the request, and may reach every buffer
 * of @bufs, so the request may point into the others. At most 1 MiB in all.
 * Returns the server's result (>= 0) or a negated errno.
 *
 * A server in host user space may take its time: the call then waits with
 * the CPU given back to the guest between polls (COVMM_CALL_AGAIN is handled
 * here), and a signal to the calling task abandons it with -EINTR. The
 * buffers are the server's until the call returns.
 */
long covmm_vmrpc_perform(u64 handle, u32 func, const struct covmm_buf *bufs,
			 unsigned int nbufs);
/* The paper's form: one writable request buffer. */
long covmm_vmrpc_perform_kernel(u64 handle, u32 func, void *arg, size_t len);

/*
 * For tests only: CoVMM hypercall @op (an offset into the range, clamped to
 * it) with raw arguments; returns RAX. The host may read any guest memory the
 * arguments name, and write any it is told to.
 */
long covmm_vmrpc_hypercall(u32 op, u64 a0, u64 a1, u64 a2, u64 a3);

/*
 * Reverse VMRPC services: the host calls them by name (for example through
 * /proc/covmm/<pid>/ or `covmm call`), and guest-rvmrpc's server threads run
 * them. @serve gets the request's function and data and writes at most
 * @out_len bytes to @out; it returns the response length or a negated errno.
 * It runs in a server thread (process context, may sleep), possibly in
 * several at once. Names are as for servers; "services" is reserved.
 */
typedef long (*covmm_service_fn)(void *private, u32 func, const void *in,
				 size_t in_len, void *out, size_t out_len);
struct covmm_service;

/* Returns the service, or an ERR_PTR (-EEXIST: the name is taken). */
struct covmm_service *covmm_rvmrpc_register_service(const char *name,
						    covmm_service_fn serve,
						    void *private);
/* Calls in flight have returned when this does. */
void covmm_rvmrpc_unregister_service(struct covmm_service *service);

#endif /* _COVMM_GUEST_H */
