/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CoVMM host API: VMRPC servers in other host kernel modules.
 *
 * Exported by host-vmrpc (EXPORT_SYMBOL_GPL); a module using it depends on
 * host_vmrpc, which therefore stays loaded while it does. See
 * Documentation/vmrpc.md and samples/vmrpc-sum/host_sum.c.
 *
 * A server registers under a name ([A-Za-z0-9_.-], at most 31 bytes) and a
 * version. Guests bind to it by both, then call it: each call runs @dispatch
 * in the calling vCPU's thread (process context, may sleep), with the
 * guest's request address and length as given, not yet checked. Guest memory
 * is reached only through the call, by guest address, and only where the
 * guest exposed it to this call; every other address gives -EFAULT.
 */
#ifndef _COVMM_HOST_H
#define _COVMM_HOST_H

#include <linux/types.h>

struct covmm_server;
/* One call in progress; valid only until @dispatch returns. */
struct covmm_call;

/*
 * Returns the result for the guest (>= 0) or a negated errno. Unknown
 * functions should return -EOPNOTSUPP.
 */
typedef long (*covmm_dispatch_fn)(struct covmm_call *call, void *private,
				  u32 func, u64 arg, u64 len);

/* Returns the server, or an ERR_PTR: -EINVAL (bad name), -EEXIST, -ENOMEM. */
struct covmm_server *covmm_server_register(const char *name, u32 version,
					   covmm_dispatch_fn dispatch,
					   void *private);
/*
 * Stops new binds, waits until calls in flight have returned, and makes
 * later calls through existing bindings fail with -ESHUTDOWN. Call it once,
 * before the module's code or @private go away. Accepts NULL and ERR_PTRs.
 */
void covmm_server_unregister(struct covmm_server *server);

/* Copy between the guest and the host; 0 or -EFAULT. */
int covmm_copy_from_guest(struct covmm_call *call, void *dst, u64 gva,
			  size_t len);
int covmm_copy_to_guest(struct covmm_call *call, u64 gva, const void *src,
			size_t len);
/*
 * The address of guest byte @gva in the VMM process (the current process
 * during @dispatch); 0 or -EFAULT. Valid only during the call.
 */
int covmm_get_hva(struct covmm_call *call, u64 gva, bool write,
		  unsigned long *hva);
/* The pid of the calling VM's VMM process. */
pid_t covmm_call_vm_pid(struct covmm_call *call);

/*
 * Reverse VMRPC from host kernel code: calls function @func of guest service
 * @service in the VM whose VMM process is @vm_pid (in the caller's pid
 * namespace), with the @in_len bytes at @in. The response, at most @out_len
 * bytes, goes to @out. Returns its length or a negated errno: -ESRCH (no VM
 * of that process known to CoVMM), -ENOTCONN (no server in the guest),
 * -ETIMEDOUT, -ESHUTDOWN (the VM or its server went), -EMSGSIZE, or the
 * service's own error. Sleeps; process context. Kernel callers are trusted:
 * there is no ownership check.
 */
long covmm_rvmrpc_call(pid_t vm_pid, const char *service, u32 func,
		       const void *in, size_t in_len, void *out, size_t out_len);

#endif /* _COVMM_HOST_H */
