// SPDX-License-Identifier: GPL-2.0

//! The hlfs server's part of the KVM-facing layer (a child of `kvm.rs`, and
//! like it the only place with `unsafe` for what it covers): host paths,
//! open host files and credentials as owned Rust values, and one method per
//! host VFS operation, over `hlfs_glue.c`.
//!
//! C headers: [`include/linux/namei.h`](srctree/include/linux/namei.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/cred.h`](srctree/include/linux/cred.h).
//!
//! Operations that touch the host file system take an [`AsOwner`]: proof
//! that the export owner's credentials are in force on this thread, so the
//! host checks every access against the VMM's user.

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use kernel::{bindings, error::from_err_ptr, ffi::c_ulong, prelude::*};

use super::OwnedProcess;

mod ffi {
    use super::*;

    /// `struct covmm_hlfs_stat` (hlfs_glue.h).
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub(crate) struct covmm_hlfs_stat {
        pub(crate) ino: u64,
        pub(crate) size: u64,
        pub(crate) blocks: u64,
        pub(crate) atime_sec: i64,
        pub(crate) mtime_sec: i64,
        pub(crate) ctime_sec: i64,
        pub(crate) atime_nsec: u32,
        pub(crate) mtime_nsec: u32,
        pub(crate) ctime_nsec: u32,
        pub(crate) mode: u32,
        pub(crate) nlink: u32,
        pub(crate) uid: u32,
        pub(crate) gid: u32,
        pub(crate) rdev: u32,
        pub(crate) blksize: u32,
    }

    /// `struct covmm_hlfs_iattr`.
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub(crate) struct covmm_hlfs_iattr {
        pub(crate) valid: u32,
        pub(crate) mode: u32,
        pub(crate) uid: u32,
        pub(crate) gid: u32,
        pub(crate) size: u64,
        pub(crate) atime_sec: i64,
        pub(crate) mtime_sec: i64,
        pub(crate) atime_nsec: u32,
        pub(crate) mtime_nsec: u32,
    }

    /// `struct covmm_hlfs_statfs`.
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub(crate) struct covmm_hlfs_statfs {
        pub(crate) blocks: u64,
        pub(crate) bfree: u64,
        pub(crate) bavail: u64,
        pub(crate) files: u64,
        pub(crate) ffree: u64,
        pub(crate) bsize: u32,
        pub(crate) frsize: u32,
        pub(crate) namelen: u32,
    }

    // `struct task_struct` and `struct cred` reach empty structs in some
    // configurations, which the lint flags even behind a pointer.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(crate) fn covmm_hlfs_task_cred(
            task: *mut bindings::task_struct,
        ) -> *const bindings::cred;
        pub(crate) fn covmm_hlfs_put_cred(cred: *const bindings::cred);
        pub(crate) fn covmm_hlfs_override_creds(
            cred: *const bindings::cred,
        ) -> *const bindings::cred;
        pub(crate) fn covmm_hlfs_revert_creds(old: *const bindings::cred);
        pub(crate) fn covmm_hlfs_root(name: *const c_char, out: *mut bindings::path) -> c_int;
        pub(crate) fn covmm_hlfs_path_get(path: *const bindings::path);
        pub(crate) fn covmm_hlfs_path_put(path: *const bindings::path);
        pub(crate) fn covmm_hlfs_beneath(
            path: *const bindings::path,
            root: *const bindings::path,
        ) -> bool;
        pub(crate) fn covmm_hlfs_dentry_key(path: *const bindings::path) -> c_ulong;
        pub(crate) fn covmm_hlfs_lookup(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            out: *mut bindings::path,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_getattr(
            path: *const bindings::path,
            out: *mut covmm_hlfs_stat,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_open(
            path: *const bindings::path,
            flags: c_int,
        ) -> *mut bindings::file;
        pub(crate) fn covmm_hlfs_fput(file: *mut bindings::file);
        pub(crate) fn covmm_hlfs_file_path(file: *mut bindings::file) -> *const bindings::path;
        pub(crate) fn covmm_hlfs_rw(
            file: *mut bindings::file,
            iov: *const bindings::iovec,
            nr: c_ulong,
            len: usize,
            pos: i64,
            write: bool,
        ) -> isize;
        pub(crate) fn covmm_hlfs_readdir(
            dir: *mut bindings::file,
            pos: i64,
            private: *mut c_void,
        ) -> i64;
        pub(crate) fn covmm_hlfs_create(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            mode: u16,
            flags: c_int,
            out: *mut bindings::path,
        ) -> *mut bindings::file;
        pub(crate) fn covmm_hlfs_mkdir(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            mode: u16,
            out: *mut bindings::path,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_mknod(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            mode: u16,
            rdev: u32,
            out: *mut bindings::path,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_symlink(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            target: *const c_char,
            out: *mut bindings::path,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_link(
            old: *const bindings::path,
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            out: *mut bindings::path,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_remove(
            dir: *const bindings::path,
            name: *const u8,
            len: u32,
            is_dir: bool,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_rename(
            odir: *const bindings::path,
            oname: *const u8,
            olen: u32,
            ndir: *const bindings::path,
            nname: *const u8,
            nlen: u32,
            flags: c_uint,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_readlink(
            path: *const bindings::path,
            buf: *mut u8,
            len: usize,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_setattr(
            path: *const bindings::path,
            file: *mut bindings::file,
            attr: *const covmm_hlfs_iattr,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_statfs(
            path: *const bindings::path,
            out: *mut covmm_hlfs_statfs,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_fsync(file: *mut bindings::file, datasync: bool) -> c_int;
        pub(crate) fn covmm_hlfs_fallocate(
            file: *mut bindings::file,
            mode: c_int,
            off: i64,
            len: i64,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_getxattr(
            path: *const bindings::path,
            name: *const c_char,
            value: *mut u8,
            size: usize,
        ) -> isize;
        pub(crate) fn covmm_hlfs_setxattr(
            path: *const bindings::path,
            name: *const c_char,
            value: *const u8,
            size: usize,
            flags: c_int,
        ) -> c_int;
        pub(crate) fn covmm_hlfs_listxattr(
            path: *const bindings::path,
            list: *mut u8,
            size: usize,
        ) -> isize;
        pub(crate) fn covmm_hlfs_removexattr(
            path: *const bindings::path,
            name: *const c_char,
        ) -> c_int;
    }
}

pub(crate) use ffi::{
    covmm_hlfs_iattr as HostIattr, covmm_hlfs_stat as HostStat, covmm_hlfs_statfs as HostStatfs,
};

fn int_result(r: c_int) -> Result {
    kernel::error::to_result(r)
}

fn size_result(r: isize) -> Result<usize> {
    if r < 0 {
        // Errnos fit an i32.
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// A reference on a task's credentials.
///
/// # Invariants
///
/// `ptr` is a `struct cred` on which this value owns one reference.
pub(crate) struct Creds {
    ptr: NonNull<bindings::cred>,
}

// SAFETY: credentials are immutable once published and refcounted
// atomically; the reference may be dropped on any thread.
unsafe impl Send for Creds {}
// SAFETY: as above; `&Creds` only hands out the pointer for overriding.
unsafe impl Sync for Creds {}

impl Creds {
    /// The credentials of `task` (a VMM process), as they are now.
    pub(crate) fn of(task: &OwnedProcess) -> Self {
        // SAFETY: the task is held; `get_task_cred()` returns a reference.
        let ptr = unsafe { ffi::covmm_hlfs_task_cred(task.0.as_ptr()) };
        // INVARIANT: `get_task_cred()` never returns NULL.
        Self {
            ptr: NonNull::new(ptr.cast_mut()).expect("get_task_cred() never returns NULL"),
        }
    }

    /// Puts these credentials in force on the current thread until the
    /// returned guard drops.
    pub(crate) fn enter(&self) -> AsOwner<'_> {
        // SAFETY: the credentials are held for `'_`, longer than the guard.
        let old = unsafe { ffi::covmm_hlfs_override_creds(self.ptr.as_ptr()) };
        AsOwner {
            old,
            _creds: PhantomData,
        }
    }
}

impl Drop for Creds {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { ffi::covmm_hlfs_put_cred(self.ptr.as_ptr()) }
    }
}

/// The export owner's credentials in force on this thread; reverted on
/// drop. Not `Send`: credentials are per thread.
pub(crate) struct AsOwner<'a> {
    old: *const bindings::cred,
    _creds: PhantomData<&'a Creds>,
}

impl Drop for AsOwner<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` is what `override_creds()` returned on this thread.
        unsafe { ffi::covmm_hlfs_revert_creds(self.old) }
    }
}

/// A host path held by reference (its mount and dentry).
///
/// # Invariants
///
/// `path` holds one reference on its `mnt` and one on its `dentry`.
pub(crate) struct HostPath {
    path: bindings::path,
}

// SAFETY: path references are refcounts, usable and droppable on any
// thread.
unsafe impl Send for HostPath {}
// SAFETY: only read through `&self`.
unsafe impl Sync for HostPath {}

impl Clone for HostPath {
    fn clone(&self) -> Self {
        // SAFETY: `self.path` is held, so taking more references is fine.
        unsafe { ffi::covmm_hlfs_path_get(&self.path) };
        // INVARIANT: the references just taken.
        Self { path: self.path }
    }
}

impl Drop for HostPath {
    fn drop(&mut self) {
        // SAFETY: we own the references (type invariant).
        unsafe { ffi::covmm_hlfs_path_put(&self.path) }
    }
}

/// Runs `f` with an out-path and returns the held path it filled.
///
/// # Safety
///
/// `f` must return 0 only having filled the path with held references.
unsafe fn filled(f: impl FnOnce(*mut bindings::path) -> c_int) -> Result<HostPath> {
    let mut out = bindings::path {
        mnt: ptr::null_mut(),
        dentry: ptr::null_mut(),
    };
    int_result(f(&mut out))?;
    // INVARIANT: per the function's contract.
    Ok(HostPath { path: out })
}

/// Passes `name` to C: it must have no NUL (the protocol's names do not).
fn c_name(name: &[u8], buf: &mut [u8]) -> Result<*const c_char> {
    if name.contains(&0) || name.len() >= buf.len() {
        return Err(EINVAL);
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = 0;
    Ok(buf.as_ptr().cast())
}

impl HostPath {
    /// The directory at absolute host path `name`, following symbolic
    /// links, as the calling user may reach it.
    pub(crate) fn root(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; the glue fills `out` on success.
        unsafe { filled(|out| ffi::covmm_hlfs_root(name.as_char_ptr(), out)) }
    }

    /// Identity of the dentry, for tables (valid while this path is held).
    pub(crate) fn key(&self) -> usize {
        // SAFETY: the path is held.
        unsafe { ffi::covmm_hlfs_dentry_key(&self.path) as usize }
    }

    /// Whether the path is still at or below `root` on the same mount.
    pub(crate) fn beneath(&self, root: &HostPath) -> bool {
        // SAFETY: both paths are held.
        unsafe { ffi::covmm_hlfs_beneath(&self.path, &root.path) }
    }

    /// The existing child `name` (one component) of this directory.
    pub(crate) fn lookup(&self, _as: &AsOwner<'_>, name: &[u8]) -> Result<HostPath> {
        // SAFETY: the path is held; `name` is valid for its length.
        unsafe {
            filled(|out| ffi::covmm_hlfs_lookup(&self.path, name.as_ptr(), name.len() as u32, out))
        }
    }

    pub(crate) fn getattr(&self, _as: &AsOwner<'_>) -> Result<HostStat> {
        let mut st = HostStat::default();
        // SAFETY: the path is held; `st` is a valid out-pointer.
        int_result(unsafe { ffi::covmm_hlfs_getattr(&self.path, &mut st) })?;
        Ok(st)
    }

    /// Opens the path with open(2) flags `flags`.
    pub(crate) fn open(&self, _as: &AsOwner<'_>, flags: i32) -> Result<HostFile> {
        // SAFETY: the path is held; `dentry_open()` takes its own references.
        let file = from_err_ptr(unsafe { ffi::covmm_hlfs_open(&self.path, flags) })?;
        // INVARIANT: a successful open returns a file we own.
        Ok(HostFile {
            ptr: NonNull::new(file).ok_or(EINVAL)?,
        })
    }

    /// Creates (or opens, without `O_EXCL`) regular file `name` here.
    pub(crate) fn create(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        mode: u16,
        flags: i32,
    ) -> Result<(HostPath, HostFile)> {
        let mut out = bindings::path {
            mnt: ptr::null_mut(),
            dentry: ptr::null_mut(),
        };
        // SAFETY: the path is held; `name` is valid; `out` is filled with
        // held references when a file comes back.
        let file = from_err_ptr(unsafe {
            ffi::covmm_hlfs_create(
                &self.path,
                name.as_ptr(),
                name.len() as u32,
                mode,
                flags,
                &mut out,
            )
        })?;
        // INVARIANT: on success the glue filled `out` with references.
        let path = HostPath { path: out };
        // INVARIANT: a file we own.
        let file = HostFile {
            ptr: NonNull::new(file).ok_or(EINVAL)?,
        };
        Ok((path, file))
    }

    pub(crate) fn mkdir(&self, _as: &AsOwner<'_>, name: &[u8], mode: u16) -> Result<HostPath> {
        // SAFETY: as for `lookup`.
        unsafe {
            filled(|out| {
                ffi::covmm_hlfs_mkdir(&self.path, name.as_ptr(), name.len() as u32, mode, out)
            })
        }
    }

    pub(crate) fn mknod(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        mode: u16,
        rdev: u32,
    ) -> Result<HostPath> {
        // SAFETY: as for `lookup`.
        unsafe {
            filled(|out| {
                ffi::covmm_hlfs_mknod(
                    &self.path,
                    name.as_ptr(),
                    name.len() as u32,
                    mode,
                    rdev,
                    out,
                )
            })
        }
    }

    pub(crate) fn symlink(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        target: &[u8],
    ) -> Result<HostPath> {
        let mut buf = KVec::from_elem(0u8, target.len() + 1, GFP_KERNEL)?;
        let target = c_name(target, &mut buf)?;
        // SAFETY: as for `lookup`; `target` is NUL-terminated.
        unsafe {
            filled(|out| {
                ffi::covmm_hlfs_symlink(&self.path, name.as_ptr(), name.len() as u32, target, out)
            })
        }
    }

    /// Links `old` (a file) as `name` here.
    pub(crate) fn link(&self, _as: &AsOwner<'_>, old: &HostPath, name: &[u8]) -> Result<HostPath> {
        // SAFETY: both paths are held; `name` is valid.
        unsafe {
            filled(|out| {
                ffi::covmm_hlfs_link(&old.path, &self.path, name.as_ptr(), name.len() as u32, out)
            })
        }
    }

    /// Removes `name` here: a directory if `dir`, else anything else.
    pub(crate) fn remove(&self, _as: &AsOwner<'_>, name: &[u8], dir: bool) -> Result {
        // SAFETY: the path is held; `name` is valid.
        int_result(unsafe {
            ffi::covmm_hlfs_remove(&self.path, name.as_ptr(), name.len() as u32, dir)
        })
    }

    /// Renames `name` here to `new_name` in `new_dir` (`RENAME_*` flags as
    /// Linux numbers them).
    pub(crate) fn rename(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        new_dir: &HostPath,
        new_name: &[u8],
        flags: u32,
    ) -> Result {
        // SAFETY: both paths are held; the names are valid.
        int_result(unsafe {
            ffi::covmm_hlfs_rename(
                &self.path,
                name.as_ptr(),
                name.len() as u32,
                &new_dir.path,
                new_name.as_ptr(),
                new_name.len() as u32,
                flags,
            )
        })
    }

    /// The link target, into `buf`; returns its length.
    pub(crate) fn readlink(&self, _as: &AsOwner<'_>, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: the path is held; `buf` is writable for its length.
        let n = unsafe { ffi::covmm_hlfs_readlink(&self.path, buf.as_mut_ptr(), buf.len()) };
        // `strscpy()` says `-E2BIG` when the target does not fit.
        usize::try_from(n).map_err(|_| Error::from_errno(n))
    }

    pub(crate) fn setattr(
        &self,
        _as: &AsOwner<'_>,
        file: Option<&HostFile>,
        attr: &HostIattr,
    ) -> Result {
        let file = file.map_or(ptr::null_mut(), |f| f.ptr.as_ptr());
        // SAFETY: the path and the file (if any) are held.
        int_result(unsafe { ffi::covmm_hlfs_setattr(&self.path, file, attr) })
    }

    pub(crate) fn statfs(&self, _as: &AsOwner<'_>) -> Result<HostStatfs> {
        let mut st = HostStatfs::default();
        // SAFETY: the path is held; `st` is a valid out-pointer.
        int_result(unsafe { ffi::covmm_hlfs_statfs(&self.path, &mut st) })?;
        Ok(st)
    }

    /// Extended attribute `name` into `value` (empty: its size).
    pub(crate) fn getxattr(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        value: &mut [u8],
    ) -> Result<usize> {
        let mut nbuf = [0u8; 256];
        let name = c_name(name, &mut nbuf)?;
        // SAFETY: the path is held; `name` is NUL-terminated; `value` is
        // writable for its length.
        size_result(unsafe {
            ffi::covmm_hlfs_getxattr(&self.path, name, value.as_mut_ptr(), value.len())
        })
    }

    pub(crate) fn setxattr(
        &self,
        _as: &AsOwner<'_>,
        name: &[u8],
        value: &[u8],
        flags: i32,
    ) -> Result {
        let mut nbuf = [0u8; 256];
        let name = c_name(name, &mut nbuf)?;
        // SAFETY: as for `getxattr`; `value` is readable.
        int_result(unsafe {
            ffi::covmm_hlfs_setxattr(&self.path, name, value.as_ptr(), value.len(), flags)
        })
    }

    /// The NUL-separated attribute names into `list` (empty: the size).
    pub(crate) fn listxattr(&self, _as: &AsOwner<'_>, list: &mut [u8]) -> Result<usize> {
        // SAFETY: the path is held; `list` is writable for its length.
        size_result(unsafe { ffi::covmm_hlfs_listxattr(&self.path, list.as_mut_ptr(), list.len()) })
    }

    pub(crate) fn removexattr(&self, _as: &AsOwner<'_>, name: &[u8]) -> Result {
        let mut nbuf = [0u8; 256];
        let name = c_name(name, &mut nbuf)?;
        // SAFETY: the path is held; `name` is NUL-terminated.
        int_result(unsafe { ffi::covmm_hlfs_removexattr(&self.path, name) })
    }
}

/// An open host file.
///
/// # Invariants
///
/// `ptr` is a `struct file` on which this value owns one reference.
pub(crate) struct HostFile {
    ptr: NonNull<bindings::file>,
}

// SAFETY: file references may be used and dropped from any thread; the VFS
// serialises what needs it (positions, directory iteration).
unsafe impl Send for HostFile {}
// SAFETY: as above.
unsafe impl Sync for HostFile {}

impl Drop for HostFile {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { ffi::covmm_hlfs_fput(self.ptr.as_ptr()) }
    }
}

/// One piece of user memory of the current process, for I/O.
pub(crate) type UserRange = (usize, usize);

impl HostFile {
    /// The file's path.
    pub(crate) fn path(&self) -> HostPath {
        // SAFETY: the file is held, so is its path for the call; `clone`
        // takes references of its own.
        let path = unsafe { &*ffi::covmm_hlfs_file_path(self.ptr.as_ptr()) };
        // The borrowed path is not ours to put: clone it, then forget the
        // bitwise copy.
        let borrowed = core::mem::ManuallyDrop::new(HostPath { path: *path });
        (*borrowed).clone()
    }

    /// Reads (or writes, if `write`) at `pos` from (to) `ranges` of the
    /// current process's memory; returns the bytes moved.
    ///
    /// The ranges are user addresses of the current process (the VMM, in a
    /// vCPU thread), which the VFS accesses with user copies, so a bad one
    /// gives `EFAULT` at worst.
    pub(crate) fn rw(
        &self,
        _as: &AsOwner<'_>,
        ranges: &[UserRange],
        pos: i64,
        write: bool,
    ) -> Result<usize> {
        let mut iov = KVec::with_capacity(ranges.len(), GFP_KERNEL)?;
        let mut total = 0usize;
        for &(addr, len) in ranges {
            total = total.checked_add(len).ok_or(EINVAL)?;
            iov.push(
                bindings::iovec {
                    iov_base: addr as *mut c_void,
                    iov_len: len,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: the file is held; `iov` describes user memory, which the
        // VFS reaches with fault-handling copies.
        size_result(unsafe {
            ffi::covmm_hlfs_rw(
                self.ptr.as_ptr(),
                iov.as_ptr(),
                iov.len() as c_ulong,
                total,
                pos,
                write,
            )
        })
    }

    /// Lists the directory from cookie `pos`, giving `f` each entry's name,
    /// offset (the cookie that resumes at it), inode number and type, until
    /// `f` returns false; returns the cookie after the last entry given.
    pub(crate) fn readdir(
        &self,
        _as: &AsOwner<'_>,
        pos: i64,
        mut f: &mut DirentFn<'_>,
    ) -> Result<i64> {
        let private = ptr::from_mut(&mut f).cast::<c_void>();
        // SAFETY: the file is held; `private` points to `f`, which outlives
        // the call and is used only by `covmm_rs_hlfs_dirent`.
        let r = unsafe { ffi::covmm_hlfs_readdir(self.ptr.as_ptr(), pos, private) };
        if r < 0 {
            // Errnos fit an i32.
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }

    pub(crate) fn fsync(&self, _as: &AsOwner<'_>, datasync: bool) -> Result {
        // SAFETY: the file is held.
        int_result(unsafe { ffi::covmm_hlfs_fsync(self.ptr.as_ptr(), datasync) })
    }

    pub(crate) fn fallocate(&self, _as: &AsOwner<'_>, mode: i32, off: i64, len: i64) -> Result {
        // SAFETY: the file is held.
        int_result(unsafe { ffi::covmm_hlfs_fallocate(self.ptr.as_ptr(), mode, off, len) })
    }
}

/// What [`HostFile::readdir`] hands each entry to: name, offset, inode
/// number, type; false stops the listing.
pub(crate) type DirentFn<'a> = dyn FnMut(&[u8], i64, u64, u8) -> bool + 'a;

/// One directory entry from `iterate_dir()`.
///
/// # Safety
///
/// Called by hlfs_glue.c's actor with the private pointer of
/// [`HostFile::readdir`] and a name valid for `len` bytes.
#[no_mangle]
unsafe extern "C" fn covmm_rs_hlfs_dirent(
    private: *mut c_void,
    name: *const u8,
    len: c_int,
    offset: i64,
    ino: u64,
    dtype: c_uint,
) -> bool {
    // SAFETY: per the function's contract, `private` points to the
    // `&mut DirentFn` of the listing, and `name` to `len` bytes.
    let (f, name) = unsafe {
        (
            &mut *private.cast::<&mut DirentFn<'_>>(),
            core::slice::from_raw_parts(name, len.max(0) as usize),
        )
    };
    // `d_type` values fit a byte.
    f(name, offset, ino, dtype as u8)
}
