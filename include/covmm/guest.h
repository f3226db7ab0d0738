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
 */
long covmm_vmrpc_perform(u64 handle, u32 func, const struct covmm_buf *bufs,
			 unsigned int nbufs);
/* The paper's form: one writable request buffer. */
long covmm_vmrpc_perform_kernel(u64 handle, u32 func, void *arg, size_t len);

#endif /* _COVMM_GUEST_H */
