/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between host-vmrpc's hlfs glue (hlfs_glue.c) and its Rust layer
 * (kvm_hlfs.rs). Functions named covmm_rs_* are implemented in Rust.
 */
#ifndef COVMM_HOST_HLFS_GLUE_H
#define COVMM_HOST_HLFS_GLUE_H

#include <linux/types.h>

struct cred;
struct file;
struct iovec;
struct path;
struct task_struct;

/* A host stat, with ids in the initial namespace. */
struct covmm_hlfs_stat {
	u64 ino;
	u64 size;
	u64 blocks;
	s64 atime_sec;
	s64 mtime_sec;
	s64 ctime_sec;
	u32 atime_nsec;
	u32 mtime_nsec;
	u32 ctime_nsec;
	u32 mode;
	u32 nlink;
	u32 uid;
	u32 gid;
	u32 rdev;
	u32 blksize;
};

/* What SETATTR changes: ATTR_* bits in @valid. */
struct covmm_hlfs_iattr {
	u32 valid;
	u32 mode;
	u32 uid;
	u32 gid;
	u64 size;
	s64 atime_sec;
	s64 mtime_sec;
	u32 atime_nsec;
	u32 mtime_nsec;
};

struct covmm_hlfs_statfs {
	u64 blocks;
	u64 bfree;
	u64 bavail;
	u64 files;
	u64 ffree;
	u32 bsize;
	u32 frsize;
	u32 namelen;
};

/* Rust: one directory entry; false stops the listing. */
bool covmm_rs_hlfs_dirent(void *private, const char *name, int len,
			  loff_t offset, u64 ino, unsigned int type);

const struct cred *covmm_hlfs_task_cred(struct task_struct *task);
void covmm_hlfs_put_cred(const struct cred *cred);
const struct cred *covmm_hlfs_override_creds(const struct cred *cred);
void covmm_hlfs_revert_creds(const struct cred *old);

int covmm_hlfs_root(const char *name, struct path *out);
void covmm_hlfs_path_get(const struct path *path);
void covmm_hlfs_path_put(const struct path *path);
bool covmm_hlfs_beneath(const struct path *path, const struct path *root);
unsigned long covmm_hlfs_dentry_key(const struct path *path);

int covmm_hlfs_lookup(const struct path *dir, const char *name, u32 len,
		      struct path *out);
int covmm_hlfs_getattr(const struct path *path, struct covmm_hlfs_stat *out);
struct file *covmm_hlfs_open(const struct path *path, int flags);
void covmm_hlfs_fput(struct file *file);
const struct path *covmm_hlfs_file_path(struct file *file);
ssize_t covmm_hlfs_rw(struct file *file, const struct iovec *iov,
		      unsigned long nr, size_t len, loff_t pos, bool write);
loff_t covmm_hlfs_readdir(struct file *dir, loff_t pos, void *private);

struct file *covmm_hlfs_create(const struct path *dir, const char *name,
			       u32 len, umode_t mode, int flags, struct path *out);
int covmm_hlfs_mkdir(const struct path *dir, const char *name, u32 len,
		     umode_t mode, struct path *out);
int covmm_hlfs_mknod(const struct path *dir, const char *name, u32 len,
		     umode_t mode, u32 rdev, struct path *out);
int covmm_hlfs_symlink(const struct path *dir, const char *name, u32 len,
		       const char *target, struct path *out);
int covmm_hlfs_link(const struct path *old, const struct path *dir,
		    const char *name, u32 len, struct path *out);
int covmm_hlfs_remove(const struct path *dir, const char *name, u32 len,
		      bool is_dir);
int covmm_hlfs_rename(const struct path *odir, const char *oname, u32 olen,
		      const struct path *ndir, const char *nname, u32 nlen,
		      unsigned int flags);
int covmm_hlfs_readlink(const struct path *path, char *buf, size_t len);
int covmm_hlfs_setattr(const struct path *path, struct file *file,
		       const struct covmm_hlfs_iattr *a);
int covmm_hlfs_statfs(const struct path *path, struct covmm_hlfs_statfs *out);
int covmm_hlfs_fsync(struct file *file, bool datasync);
int covmm_hlfs_fallocate(struct file *file, int mode, loff_t offset, loff_t len);
ssize_t covmm_hlfs_getxattr(const struct path *path, const char *name,
			    void *value, size_t size);
int covmm_hlfs_setxattr(const struct path *path, const char *name,
			const void *value, size_t size, int flags);
ssize_t covmm_hlfs_listxattr(const struct path *path, char *list, size_t size);
int covmm_hlfs_removexattr(const struct path *path, const char *name);

#endif /* COVMM_HOST_HLFS_GLUE_H */
