// SPDX-License-Identifier: GPL-2.0
/*
 * guest-hlfs C glue. struct fs_context_operations and the errorf() macro come
 * from linux/fs_context.h, which kernel::bindings does not include, so the
 * table and the logging wrapper live here. The callbacks are in Rust (vfs.rs).
 */
#include <linux/fs_context.h>

#include "vfs_glue.h"

static const struct fs_context_operations hlfs_context_ops = {
	.get_tree = hlfs_rs_get_tree,
};

int hlfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &hlfs_context_ops;
	return 0;
}

const char *hlfs_fc_source(struct fs_context *fc)
{
	return fc->source;
}

void hlfs_fc_error(struct fs_context *fc, const char *msg)
{
	errorf(fc, "%s", msg);
}
