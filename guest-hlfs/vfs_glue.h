/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between guest-hlfs's C glue (vfs_glue.c) and its Rust layer
 * (vfs.rs). Functions named hlfs_rs_* are implemented in Rust.
 */
#ifndef COVMM_HLFS_VFS_GLUE_H
#define COVMM_HLFS_VFS_GLUE_H

#include <linux/types.h>

struct address_space;
struct delayed_call;
struct dentry;
struct dir_context;
struct file;
struct folio;
struct fs_context;
struct iattr;
struct inode;
struct iov_iter;
struct readahead_control;
struct super_block;

/* Values of the cache= mount option. */
#define HLFS_CACHE_AUTO 0
#define HLFS_CACHE_ALWAYS 1
#define HLFS_CACHE_NONE 2

struct hlfs_times {
	s64 atime_sec;
	s64 mtime_sec;
	s64 ctime_sec;
	u32 atime_nsec;
	u32 mtime_nsec;
	u32 ctime_nsec;
};

/* Rust: mount options (fc->fs_private) and the superblock. */
void *hlfs_rs_new_options(void);
void hlfs_rs_free_options(void *options);
int hlfs_rs_set_option(void *options, bool cache, u32 value);
int hlfs_rs_fill_super(struct super_block *sb, struct fs_context *fc);
/* Rust: xattrs of @inode by full name. */
int hlfs_rs_xattr_get(struct inode *inode, const char *name, void *value,
		      size_t size);
int hlfs_rs_xattr_set(struct inode *inode, const char *name, const void *value,
		      size_t size, int flags);

int hlfs_init_fs_context(struct fs_context *fc);
void hlfs_fc_error(struct fs_context *fc, const char *msg);
const char *hlfs_fc_source(struct fs_context *fc);
void *hlfs_fc_options(struct fs_context *fc);
void hlfs_sb_set_xattr(struct super_block *sb);

loff_t hlfs_i_size_read(const struct inode *inode);
void hlfs_i_size_write(struct inode *inode, loff_t size);
void hlfs_inode_set_times(struct inode *inode, const struct hlfs_times *t);
void hlfs_inode_get_mtime(const struct inode *inode, s64 *sec, u32 *nsec);
void hlfs_inode_set_ids(struct inode *inode, u32 uid, u32 gid);
void hlfs_iattr_ids(const struct iattr *attr, u32 *uid, u32 *gid);
void hlfs_inode_lock(struct inode *inode);
void hlfs_inode_unlock(struct inode *inode);
struct inode *hlfs_d_inode(const struct dentry *dentry);
const unsigned char *hlfs_d_name(const struct dentry *dentry, u32 *len);
struct inode *hlfs_file_inode(const struct file *file);
struct dentry *hlfs_file_dentry(const struct file *file);
bool hlfs_d_in_lookup(const struct dentry *dentry);
void hlfs_d_lookup_done(struct dentry *dentry);
bool hlfs_dir_emit(struct dir_context *ctx, const char *name, int len,
		   u64 ino, unsigned int type);
void hlfs_set_link_done(struct delayed_call *done, char *link);

void *hlfs_folio_address(struct folio *folio);
loff_t hlfs_folio_pos(const struct folio *folio);
size_t hlfs_folio_size(const struct folio *folio);
bool hlfs_folio_test_uptodate(const struct folio *folio);
void hlfs_folio_mark_uptodate(struct folio *folio);
void hlfs_folio_zero_segment(struct folio *folio, size_t start, size_t end);
void hlfs_folio_unlock(struct folio *folio);
void hlfs_folio_put(struct folio *folio);
void hlfs_folio_end_read(struct folio *folio, bool success);
struct folio *hlfs_grab_folio(struct address_space *mapping, loff_t pos,
			      size_t len);
void hlfs_mapping_set_max_order(struct address_space *mapping,
				unsigned int order);
void hlfs_bdi_set_pages(struct super_block *sb, unsigned long pages);
struct folio *hlfs_readahead_folio(struct readahead_control *rac);
struct file *hlfs_readahead_file(const struct readahead_control *rac);
struct inode *hlfs_mapping_host(const struct address_space *mapping);
void hlfs_mapping_set_error(struct address_space *mapping, int err);
bool hlfs_mapping_dirty(struct address_space *mapping);
size_t hlfs_iov_iter_count(const struct iov_iter *iter);
size_t hlfs_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i);
size_t hlfs_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i);
void hlfs_file_set_can_odirect(struct file *file);
unsigned long hlfs_jiffies(void);
u32 hlfs_decode_dev(u32 rdev);
bool hlfs_inode_is_new(struct inode *inode);
int hlfs_write_and_wait(struct address_space *mapping);

/* As struct HlfsStatfs of the protocol (tools/abi/src/hlfs.rs). */
struct hlfs_statfs {
	u64 blocks;
	u64 bfree;
	u64 bavail;
	u64 files;
	u64 ffree;
	u32 bsize;
	u32 frsize;
	u32 namelen;
	u32 pad;
};

struct kstatfs;
void hlfs_fill_statfs(struct kstatfs *buf, const struct hlfs_statfs *st,
		      unsigned long magic);
struct address_space *hlfs_folio_mapping(const struct folio *folio);

#endif /* COVMM_HLFS_VFS_GLUE_H */
