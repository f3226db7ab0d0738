// SPDX-License-Identifier: GPL-2.0
/*
 * host-vmrpc C glue for the hlfs server (hlfs.rs, over kvm_hlfs.rs): each
 * function is one host VFS operation with its standard locking, relative to
 * a parent directory the caller already holds, on one name. No path is ever
 * walked from a string here but the export's root, so ".." and symbolic
 * links are never followed on the host: the guest's VFS resolves them in
 * its own namespace. Every decision (what to allow, which credentials,
 * handle tables) is taken in Rust; these functions only call the VFS.
 *
 * The caller runs them with the export owner's credentials in force
 * (covmm_hlfs_override_creds()), so the host checks every access against
 * the VMM's user, never more.
 */
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/xattr.h>

#include "hlfs_glue.h"

const struct cred *covmm_hlfs_task_cred(struct task_struct *task)
{
	return get_task_cred(task);
}

void covmm_hlfs_put_cred(const struct cred *cred)
{
	put_cred(cred);
}

const struct cred *covmm_hlfs_override_creds(const struct cred *cred)
{
	return override_creds(cred);
}

void covmm_hlfs_revert_creds(const struct cred *old)
{
	revert_creds(old);
}

int covmm_hlfs_root(const char *name, struct path *out)
{
	return kern_path(name, LOOKUP_FOLLOW | LOOKUP_DIRECTORY, out);
}

void covmm_hlfs_path_get(const struct path *path)
{
	path_get(path);
}

void covmm_hlfs_path_put(const struct path *path)
{
	path_put(path);
}

/* Whether @path is still inside @root (a host rename may move it out). */
bool covmm_hlfs_beneath(const struct path *path, const struct path *root)
{
	return path->mnt == root->mnt && is_subdir(path->dentry, root->dentry);
}

static struct mnt_idmap *covmm_idmap(const struct path *path)
{
	return mnt_idmap(path->mnt);
}

int covmm_hlfs_lookup(const struct path *dir, const char *name, u32 len,
		      struct path *out)
{
	struct dentry *d;

	d = lookup_one_positive_unlocked(covmm_idmap(dir), &QSTR_LEN(name, len),
					 dir->dentry);
	if (IS_ERR(d))
		return PTR_ERR(d);
	out->mnt = mntget(dir->mnt);
	out->dentry = d;
	return 0;
}

static void covmm_fill_stat(const struct kstat *st, struct covmm_hlfs_stat *out)
{
	out->ino = st->ino;
	out->size = st->size;
	out->blocks = st->blocks;
	out->atime_sec = st->atime.tv_sec;
	out->atime_nsec = st->atime.tv_nsec;
	out->mtime_sec = st->mtime.tv_sec;
	out->mtime_nsec = st->mtime.tv_nsec;
	out->ctime_sec = st->ctime.tv_sec;
	out->ctime_nsec = st->ctime.tv_nsec;
	out->mode = st->mode;
	out->nlink = st->nlink;
	out->uid = from_kuid_munged(&init_user_ns, st->uid);
	out->gid = from_kgid_munged(&init_user_ns, st->gid);
	out->rdev = new_encode_dev(st->rdev);
	out->blksize = st->blksize;
}

int covmm_hlfs_getattr(const struct path *path, struct covmm_hlfs_stat *out)
{
	struct kstat st;
	int err;

	err = vfs_getattr(path, &st, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
	if (!err)
		covmm_fill_stat(&st, out);
	return err;
}

/*
 * dentry_open() checks no permission: as may_open() does for open(2), the
 * caller (the export owner's credentials) must be allowed the access mode,
 * and an append-only file is written only in append mode.
 */
struct file *covmm_hlfs_open(const struct path *path, int flags)
{
	struct inode *inode = d_inode(path->dentry);
	int acc = 0;
	int err;

	if ((flags & O_ACCMODE) != O_WRONLY)
		acc |= MAY_READ;
	if ((flags & O_ACCMODE) != O_RDONLY)
		acc |= MAY_WRITE;
	if (IS_APPEND(inode) && (acc & MAY_WRITE) && !(flags & O_APPEND))
		return ERR_PTR(-EPERM);
	err = inode_permission(covmm_idmap(path), inode, acc | MAY_OPEN);
	if (err)
		return ERR_PTR(err);
	return dentry_open(path, flags, current_cred());
}

void covmm_hlfs_fput(struct file *file)
{
	fput(file);
}

const struct path *covmm_hlfs_file_path(struct file *file)
{
	return &file->f_path;
}

/*
 * Moves data between the file and user memory of the current process: the
 * VMM's, in which the guest's buffers live, so the copy goes straight
 * between the host page cache and guest RAM.
 */
ssize_t covmm_hlfs_rw(struct file *file, const struct iovec *iov,
		      unsigned long nr, size_t len, loff_t pos, bool write)
{
	struct iov_iter iter;

	iov_iter_init(&iter, write ? ITER_SOURCE : ITER_DEST, iov, nr, len);
	return write ? vfs_iter_write(file, &iter, &pos, 0)
		     : vfs_iter_read(file, &iter, &pos, 0);
}

struct covmm_hlfs_dir_ctx {
	struct dir_context ctx;
	void *private;
};

static bool covmm_hlfs_actor(struct dir_context *ctx, const char *name,
			     int len, loff_t offset, u64 ino, unsigned int type)
{
	struct covmm_hlfs_dir_ctx *c =
		container_of(ctx, struct covmm_hlfs_dir_ctx, ctx);

	return covmm_rs_hlfs_dirent(c->private, name, len, offset, ino, type);
}

/*
 * Lists @dir from cookie @pos, handing each entry to Rust until it says
 * stop; returns the cookie after the last entry handed over, or an error.
 */
loff_t covmm_hlfs_readdir(struct file *dir, loff_t pos, void *private)
{
	struct covmm_hlfs_dir_ctx c = {
		.ctx.actor = covmm_hlfs_actor,
		.private = private,
	};
	loff_t at;
	int err;

	at = vfs_llseek(dir, pos, SEEK_SET);
	if (at < 0)
		return at;
	err = iterate_dir(dir, &c.ctx);
	return err ? err : c.ctx.pos;
}

/*
 * As filename_create() does: write access to the mount, then the locked
 * parent and the looked-up child. covmm_end_creating() undoes both.
 */
static struct dentry *covmm_start_creating(const struct path *dir,
					   const char *name, u32 len)
{
	struct dentry *d;
	int err = mnt_want_write(dir->mnt);

	if (err)
		return ERR_PTR(err);
	d = start_creating(covmm_idmap(dir), dir->dentry, &QSTR_LEN(name, len));
	if (IS_ERR(d))
		mnt_drop_write(dir->mnt);
	return d;
}

static void covmm_end_creating(const struct path *dir, struct dentry *d)
{
	end_creating(d);
	mnt_drop_write(dir->mnt);
}

/*
 * Creates (or, without O_EXCL, opens) regular file @name in @dir; stores
 * its path and returns it open with @flags.
 */
struct file *covmm_hlfs_create(const struct path *dir, const char *name,
			       u32 len, umode_t mode, int flags, struct path *out)
{
	struct dentry *d = covmm_start_creating(dir, name, len);
	struct file *file;
	int err = 0;

	if (IS_ERR(d))
		return ERR_CAST(d);
	if (d_is_positive(d) && (flags & O_EXCL))
		err = -EEXIST;
	else if (d_is_negative(d))
		err = vfs_create(covmm_idmap(dir), d, S_IFREG | (mode & 07777), NULL);
	if (err) {
		covmm_end_creating(dir, d);
		return ERR_PTR(err);
	}
	out->mnt = mntget(dir->mnt);
	out->dentry = dget(d);
	covmm_end_creating(dir, d);
	file = dentry_open(out, (flags & ~(O_CREAT | O_EXCL)), current_cred());
	if (IS_ERR(file))
		path_put(out);
	return file;
}

int covmm_hlfs_mkdir(const struct path *dir, const char *name, u32 len,
		     umode_t mode, struct path *out)
{
	struct dentry *d = covmm_start_creating(dir, name, len);

	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d_is_positive(d)) {
		covmm_end_creating(dir, d);
		return -EEXIST;
	}
	/* On failure vfs_mkdir() has ended the creation itself. */
	d = vfs_mkdir(covmm_idmap(dir), d_inode(dir->dentry), d, mode & 07777, NULL);
	if (IS_ERR(d)) {
		mnt_drop_write(dir->mnt);
		return PTR_ERR(d);
	}
	out->mnt = mntget(dir->mnt);
	out->dentry = dget(d);
	covmm_end_creating(dir, d);
	return 0;
}

int covmm_hlfs_mknod(const struct path *dir, const char *name, u32 len,
		     umode_t mode, u32 rdev, struct path *out)
{
	struct dentry *d = covmm_start_creating(dir, name, len);
	int err = 0;

	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d_is_positive(d))
		err = -EEXIST;
	else
		err = vfs_mknod(covmm_idmap(dir), d_inode(dir->dentry), d, mode,
				new_decode_dev(rdev), NULL);
	if (!err) {
		out->mnt = mntget(dir->mnt);
		out->dentry = dget(d);
	}
	covmm_end_creating(dir, d);
	return err;
}

int covmm_hlfs_symlink(const struct path *dir, const char *name, u32 len,
		       const char *target, struct path *out)
{
	struct dentry *d = covmm_start_creating(dir, name, len);
	int err;

	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d_is_positive(d))
		err = -EEXIST;
	else
		err = vfs_symlink(covmm_idmap(dir), d_inode(dir->dentry), d, target,
				  NULL);
	if (!err) {
		out->mnt = mntget(dir->mnt);
		out->dentry = dget(d);
	}
	covmm_end_creating(dir, d);
	return err;
}

int covmm_hlfs_link(const struct path *old, const struct path *dir,
		    const char *name, u32 len, struct path *out)
{
	struct dentry *d;
	int err;

	if (old->mnt != dir->mnt)
		return -EXDEV;
	d = covmm_start_creating(dir, name, len);
	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d_is_positive(d))
		err = -EEXIST;
	else
		err = vfs_link(old->dentry, covmm_idmap(dir), d_inode(dir->dentry),
			       d, NULL);
	if (!err) {
		out->mnt = mntget(dir->mnt);
		out->dentry = dget(d);
	}
	covmm_end_creating(dir, d);
	return err;
}

int covmm_hlfs_remove(const struct path *dir, const char *name, u32 len,
		      bool is_dir)
{
	struct dentry *d;
	int err = mnt_want_write(dir->mnt);

	if (err)
		return err;
	d = start_removing(covmm_idmap(dir), dir->dentry, &QSTR_LEN(name, len));
	if (IS_ERR(d)) {
		err = PTR_ERR(d);
	} else {
		if (is_dir)
			err = vfs_rmdir(covmm_idmap(dir), d_inode(dir->dentry), d, NULL);
		else
			err = vfs_unlink(covmm_idmap(dir), d_inode(dir->dentry), d, NULL);
		end_removing(d);
	}
	mnt_drop_write(dir->mnt);
	return err;
}

int covmm_hlfs_rename(const struct path *odir, const char *oname, u32 olen,
		      const struct path *ndir, const char *nname, u32 nlen,
		      unsigned int flags)
{
	struct renamedata rd = {
		.mnt_idmap = covmm_idmap(odir),
		.old_parent = odir->dentry,
		.new_parent = ndir->dentry,
		.flags = flags,
	};
	int err;

	if (odir->mnt != ndir->mnt)
		return -EXDEV;
	err = mnt_want_write(odir->mnt);
	if (err)
		return err;
	err = start_renaming(&rd, 0, &QSTR_LEN(oname, olen), &QSTR_LEN(nname, nlen));
	if (!err) {
		err = vfs_rename(&rd);
		end_renaming(&rd);
	}
	mnt_drop_write(odir->mnt);
	return err;
}

/* Copies @path's link target (NUL-terminated) into @buf of @len bytes. */
int covmm_hlfs_readlink(const struct path *path, char *buf, size_t len)
{
	DEFINE_DELAYED_CALL(done);
	const char *target = vfs_get_link(path->dentry, &done);
	int n;

	if (IS_ERR(target))
		return PTR_ERR(target);
	n = strscpy(buf, target, len);
	do_delayed_call(&done);
	return n;
}

int covmm_hlfs_setattr(const struct path *path, struct file *file,
		       const struct covmm_hlfs_iattr *a)
{
	struct inode *inode = d_inode(path->dentry);
	struct iattr attr = {
		.ia_valid = a->valid,
		.ia_mode = a->mode,
		.ia_vfsuid = VFSUIDT_INIT(make_kuid(&init_user_ns, a->uid)),
		.ia_vfsgid = VFSGIDT_INIT(make_kgid(&init_user_ns, a->gid)),
		.ia_size = a->size,
		.ia_atime = { .tv_sec = a->atime_sec, .tv_nsec = a->atime_nsec },
		.ia_mtime = { .tv_sec = a->mtime_sec, .tv_nsec = a->mtime_nsec },
		.ia_file = file,
	};
	int err;

	if (((a->valid & ATTR_UID) && !vfsuid_valid(attr.ia_vfsuid)) ||
	    ((a->valid & ATTR_GID) && !vfsgid_valid(attr.ia_vfsgid)))
		return -EINVAL;
	if (file)
		attr.ia_valid |= ATTR_FILE;
	err = mnt_want_write(path->mnt);
	if (err)
		return err;
	inode_lock(inode);
	/* As chmod_common(): the guest sets permission bits, never the type. */
	if (a->valid & ATTR_MODE)
		attr.ia_mode = (a->mode & S_IALLUGO) | (inode->i_mode & ~S_IALLUGO);
	err = notify_change(covmm_idmap(path), path->dentry, &attr, NULL);
	inode_unlock(inode);
	mnt_drop_write(path->mnt);
	return err;
}

int covmm_hlfs_statfs(const struct path *path, struct covmm_hlfs_statfs *out)
{
	struct kstatfs st;
	int err = vfs_statfs(path, &st);

	if (err)
		return err;
	out->blocks = st.f_blocks;
	out->bfree = st.f_bfree;
	out->bavail = st.f_bavail;
	out->files = st.f_files;
	out->ffree = st.f_ffree;
	out->bsize = st.f_bsize;
	out->frsize = st.f_frsize ?: st.f_bsize;
	out->namelen = st.f_namelen;
	return 0;
}

int covmm_hlfs_fsync(struct file *file, bool datasync)
{
	return vfs_fsync(file, datasync);
}

int covmm_hlfs_fallocate(struct file *file, int mode, loff_t offset, loff_t len)
{
	return vfs_fallocate(file, mode, offset, len);
}

ssize_t covmm_hlfs_getxattr(const struct path *path, const char *name,
			    void *value, size_t size)
{
	return vfs_getxattr(covmm_idmap(path), path->dentry, name, value, size);
}

int covmm_hlfs_setxattr(const struct path *path, const char *name,
			const void *value, size_t size, int flags)
{
	int err = mnt_want_write(path->mnt);

	if (err)
		return err;
	err = vfs_setxattr(covmm_idmap(path), path->dentry, name, value, size,
			   flags);
	mnt_drop_write(path->mnt);
	return err;
}

ssize_t covmm_hlfs_listxattr(const struct path *path, char *list, size_t size)
{
	return vfs_listxattr(path->dentry, list, size);
}

int covmm_hlfs_removexattr(const struct path *path, const char *name)
{
	int err = mnt_want_write(path->mnt);

	if (err)
		return err;
	err = vfs_removexattr(covmm_idmap(path), path->dentry, name);
	mnt_drop_write(path->mnt);
	return err;
}

/* Identity of @path's dentry, for the node table (valid while held). */
unsigned long covmm_hlfs_dentry_key(const struct path *path)
{
	return (unsigned long)path->dentry;
}
