// SPDX-License-Identifier: GPL-2.0
/*
 * SUM version 1: a VMRPC host server written in C against include/covmm/host.h.
 *
 * Function 0 adds up 32-bit numbers. The request is
 *	struct { __u32 count; __u32 pad; __u32 values[count]; }
 * and the result is their sum (count <= 4096). Try it from guest user space:
 *	covmm-guest call SUM:1 0 --u32 3,0,1,2,3      # prints 6
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <covmm/host.h>

#define SUM_MAX_VALUES 4096

static struct covmm_server *sum_server;

static long sum_dispatch(struct covmm_call *call, void *private, u32 func,
			 u64 arg, u64 len)
{
	u32 head[2], *values;
	u64 sum = 0;
	long ret;
	u32 i;

	if (func != 0)
		return -EOPNOTSUPP;
	if (len < sizeof(head))
		return -EINVAL;
	ret = covmm_copy_from_guest(call, head, arg, sizeof(head));
	if (ret)
		return ret;
	if (head[0] > SUM_MAX_VALUES || head[1] != 0 ||
	    len != sizeof(head) + (u64)head[0] * sizeof(u32))
		return -EINVAL;

	values = kmalloc_array(head[0] ?: 1, sizeof(u32), GFP_KERNEL);
	if (!values)
		return -ENOMEM;
	ret = covmm_copy_from_guest(call, values, arg + sizeof(head),
				    head[0] * sizeof(u32));
	for (i = 0; !ret && i < head[0]; i++)
		sum += values[i];
	kfree(values);
	return ret ?: (long)min_t(u64, sum, LONG_MAX);
}

static int __init sum_init(void)
{
	sum_server = covmm_server_register("SUM", 1, sum_dispatch, NULL);
	return PTR_ERR_OR_ZERO(sum_server);
}

static void __exit sum_exit(void)
{
	covmm_server_unregister(sum_server);
}

module_init(sum_init);
module_exit(sum_exit);
MODULE_DESCRIPTION("CoVMM sample: a VMRPC server in C");
MODULE_LICENSE("GPL");
