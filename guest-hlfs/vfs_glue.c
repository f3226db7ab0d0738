// SPDX-License-Identifier: GPL-2.0
/*
 * guest-hlfs C glue: what Rust cannot reach through kernel::bindings.
 *
 * - the fs_context operations and mount parameter table (linux/fs_context.h
 *   and linux/fs_parser.h are not in the bindings, and fsparam_*() are
 *   macros);
 * - the xattr handlers (struct xattr_handler is in linux/xattr.h);
 * - one-line wrappers of inline helpers: i_size, inode times and locks,
 *   dir_emit(), folio and readahead accessors, iov_iter copies.
 *
 * Every callback goes straight to Rust (vfs.rs); no decision is taken here.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/highmem.h>
#include <linux/kdev_t.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/xattr.h>

#include "vfs_glue.h"

enum { HLFS_OPT_ATTR_TIMEOUT, HLFS_OPT_CACHE };

static const struct constant_table hlfs_cache_modes[] = {
	{ "auto", HLFS_CACHE_AUTO },
	{ "always", HLFS_CACHE_ALWAYS },
	{ "none", HLFS_CACHE_NONE },
	{}
};

static const struct fs_parameter_spec hlfs_params[] = {
	fsparam_u32("attr_timeout", HLFS_OPT_ATTR_TIMEOUT),
	fsparam_enum("cache", HLFS_OPT_CACHE, hlfs_cache_modes),
	{}
};

static int hlfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct fs_parse_result result;
	int opt = fs_parse(fc, hlfs_params, param, &result);

	if (opt < 0)
		return opt;
	return hlfs_rs_set_option(fc->fs_private, opt == HLFS_OPT_CACHE,
				  result.uint_32);
}

static int hlfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	return hlfs_rs_fill_super(sb, fc);
}

static int hlfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, hlfs_fill_super);
}

static void hlfs_free_fc(struct fs_context *fc)
{
	hlfs_rs_free_options(fc->fs_private);
}

static const struct fs_context_operations hlfs_context_ops = {
	.parse_param = hlfs_parse_param,
	.get_tree = hlfs_get_tree,
	.free = hlfs_free_fc,
};

int hlfs_init_fs_context(struct fs_context *fc)
{
	fc->fs_private = hlfs_rs_new_options();
	if (!fc->fs_private)
		return -ENOMEM;
	fc->ops = &hlfs_context_ops;
	return 0;
}

const char *hlfs_fc_source(struct fs_context *fc)
{
	return fc->source;
}

void *hlfs_fc_options(struct fs_context *fc)
{
	return fc->fs_private;
}

void hlfs_fc_error(struct fs_context *fc, const char *msg)
{
	errorf(fc, "%s", msg);
}

/* xattrs: user., trusted. and security. names go to the host whole. */
static int hlfs_xattr_get(const struct xattr_handler *handler,
			  struct dentry *dentry, struct inode *inode,
			  const char *name, void *value, size_t size)
{
	return hlfs_rs_xattr_get(inode, xattr_full_name(handler, name), value, size);
}

static int hlfs_xattr_set(const struct xattr_handler *handler,
			  struct mnt_idmap *idmap, struct dentry *dentry,
			  struct inode *inode, const char *name,
			  const void *value, size_t size, int flags)
{
	return hlfs_rs_xattr_set(inode, xattr_full_name(handler, name), value,
				 size, flags);
}

#define HLFS_XATTR(pfx)						\
	static const struct xattr_handler hlfs_xattr_##pfx = {	\
		.prefix = XATTR_##pfx##_PREFIX,			\
		.get = hlfs_xattr_get,				\
		.set = hlfs_xattr_set,				\
	}

HLFS_XATTR(USER);
HLFS_XATTR(TRUSTED);
HLFS_XATTR(SECURITY);

static const struct xattr_handler * const hlfs_xattr_handlers[] = {
	&hlfs_xattr_USER, &hlfs_xattr_TRUSTED, &hlfs_xattr_SECURITY, NULL
};

void hlfs_sb_set_xattr(struct super_block *sb)
{
	sb->s_xattr = hlfs_xattr_handlers;
}

/* Inline helpers. */
loff_t hlfs_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

void hlfs_i_size_write(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void hlfs_inode_set_times(struct inode *inode, const struct hlfs_times *t)
{
	inode_set_atime(inode, t->atime_sec, t->atime_nsec);
	inode_set_mtime(inode, t->mtime_sec, t->mtime_nsec);
	inode_set_ctime(inode, t->ctime_sec, t->ctime_nsec);
}

void hlfs_inode_get_mtime(const struct inode *inode, s64 *sec, u32 *nsec)
{
	struct timespec64 ts = inode_get_mtime(inode);

	*sec = ts.tv_sec;
	*nsec = ts.tv_nsec;
}

void hlfs_inode_set_ids(struct inode *inode, u32 uid, u32 gid)
{
	inode->i_uid = make_kuid(&init_user_ns, uid);
	inode->i_gid = make_kgid(&init_user_ns, gid);
}

void hlfs_iattr_ids(const struct iattr *attr, u32 *uid, u32 *gid)
{
	*uid = from_kuid_munged(&init_user_ns, vfsuid_into_kuid(attr->ia_vfsuid));
	*gid = from_kgid_munged(&init_user_ns, vfsgid_into_kgid(attr->ia_vfsgid));
}

void hlfs_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void hlfs_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

struct inode *hlfs_d_inode(const struct dentry *dentry)
{
	return d_inode(dentry);
}

const unsigned char *hlfs_d_name(const struct dentry *dentry, u32 *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}

struct inode *hlfs_file_inode(const struct file *file)
{
	return file_inode(file);
}

struct dentry *hlfs_file_dentry(const struct file *file)
{
	return file->f_path.dentry;
}

bool hlfs_d_in_lookup(const struct dentry *dentry)
{
	return d_in_lookup(dentry);
}

void hlfs_d_lookup_done(struct dentry *dentry)
{
	d_lookup_done(dentry);
}

bool hlfs_dir_emit(struct dir_context *ctx, const char *name, int len,
		   u64 ino, unsigned int type)
{
	return dir_emit(ctx, name, len, ino, type);
}

void hlfs_set_link_done(struct delayed_call *done, char *link)
{
	set_delayed_call(done, kfree_link, link);
}

void *hlfs_folio_address(struct folio *folio)
{
	return folio_address(folio);
}

loff_t hlfs_folio_pos(const struct folio *folio)
{
	return folio_pos(folio);
}

size_t hlfs_folio_size(const struct folio *folio)
{
	return folio_size(folio);
}

bool hlfs_folio_test_uptodate(const struct folio *folio)
{
	return folio_test_uptodate(folio);
}

void hlfs_folio_mark_uptodate(struct folio *folio)
{
	folio_mark_uptodate(folio);
}

void hlfs_folio_zero_segment(struct folio *folio, size_t start, size_t end)
{
	folio_zero_segment(folio, start, end);
}

void hlfs_folio_unlock(struct folio *folio)
{
	folio_unlock(folio);
}

void hlfs_folio_put(struct folio *folio)
{
	folio_put(folio);
}

void hlfs_folio_end_read(struct folio *folio, bool success)
{
	folio_end_read(folio, success);
}

struct folio *hlfs_grab_folio(struct address_space *mapping, loff_t pos,
			      size_t len)
{
	return __filemap_get_folio(mapping, pos >> PAGE_SHIFT,
				   FGP_WRITEBEGIN | fgf_set_order(len),
				   mapping_gfp_mask(mapping));
}

void hlfs_mapping_set_max_order(struct address_space *mapping,
				unsigned int order)
{
	mapping_set_folio_order_range(mapping, 0, order);
}

void hlfs_bdi_set_pages(struct super_block *sb, unsigned long pages)
{
	sb->s_bdi->ra_pages = pages;
	sb->s_bdi->io_pages = pages;
}

struct folio *hlfs_readahead_folio(struct readahead_control *rac)
{
	return readahead_folio(rac);
}

struct file *hlfs_readahead_file(const struct readahead_control *rac)
{
	return rac->file;
}

struct inode *hlfs_mapping_host(const struct address_space *mapping)
{
	return mapping->host;
}

void hlfs_mapping_set_error(struct address_space *mapping, int err)
{
	mapping_set_error(mapping, err);
}

bool hlfs_mapping_dirty(struct address_space *mapping)
{
	return mapping_tagged(mapping, PAGECACHE_TAG_DIRTY) ||
	       mapping_tagged(mapping, PAGECACHE_TAG_WRITEBACK);
}

size_t hlfs_iov_iter_count(const struct iov_iter *iter)
{
	return iov_iter_count(iter);
}

size_t hlfs_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_to_iter(addr, bytes, i);
}

size_t hlfs_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i)
{
	return copy_from_iter(addr, bytes, i);
}

void hlfs_file_set_can_odirect(struct file *file)
{
	file->f_mode |= FMODE_CAN_ODIRECT;
}

/* A device number in the host's user-space encoding, as the kernel's. */
u32 hlfs_decode_dev(u32 rdev)
{
	return new_decode_dev(rdev);
}

unsigned long hlfs_jiffies(void)
{
	return jiffies;
}

bool hlfs_inode_is_new(struct inode *inode)
{
	return inode_state_read_once(inode) & I_NEW;
}

int hlfs_write_and_wait(struct address_space *mapping)
{
	return filemap_write_and_wait(mapping);
}

void hlfs_fill_statfs(struct kstatfs *buf, const struct hlfs_statfs *st,
		      unsigned long magic)
{
	buf->f_type = magic;
	buf->f_bsize = st->bsize;
	buf->f_frsize = st->frsize;
	buf->f_blocks = st->blocks;
	buf->f_bfree = st->bfree;
	buf->f_bavail = st->bavail;
	buf->f_files = st->files;
	buf->f_ffree = st->ffree;
	buf->f_namelen = st->namelen;
}

struct address_space *hlfs_folio_mapping(const struct folio *folio)
{
	return folio->mapping;
}
