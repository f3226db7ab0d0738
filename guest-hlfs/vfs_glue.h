/* SPDX-License-Identifier: GPL-2.0 */
/* Interface between guest-hlfs's C glue and its Rust layer (vfs.rs). */
#ifndef COVMM_HLFS_VFS_GLUE_H
#define COVMM_HLFS_VFS_GLUE_H

struct fs_context;

/* Rust: ->get_tree of a new mount. */
int hlfs_rs_get_tree(struct fs_context *fc);

int hlfs_init_fs_context(struct fs_context *fc);
void hlfs_fc_error(struct fs_context *fc, const char *msg);
const char *hlfs_fc_source(struct fs_context *fc);

#endif /* COVMM_HLFS_VFS_GLUE_H */
