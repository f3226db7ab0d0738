// SPDX-License-Identifier: GPL-2.0

//! Open files: open and release of host file handles, flush, fsync, fallocate,
//! reads and writes (through the page cache, or straight to the host for
//! `O_DIRECT` and `cache=none`), directory reading, and the file operation
//! tables.

use super::*;

pub(super) const O_ACCMODE: u32 = 0o3;
pub(super) const O_RDWR: u32 = 0o2;
pub(super) const O_EXCL: u32 = 0o200;
pub(super) const O_DIRECTORY: u32 = 0o200000;
pub(super) const O_WRONLY: u32 = 0o1;
/// What of a guest file's flags the host is told at open: appends and
/// direct I/O are the guest's business (the host writes at the offsets the
/// guest gives, through its own page cache).
pub(super) const O_PASSED: u32 = O_ACCMODE | 0o4010000 /* O_SYNC */;

/// `file->private_data`: the host's handle of the open file.
pub(crate) struct OpenFile {
    pub(super) fh: u64,
    pub(super) writable: bool,
    /// The host handle may read (not opened write-only).
    pub(super) readable: bool,
}

/// # Safety
///
/// `file` is an open hlfs file.
pub(super) unsafe fn open_file<'a>(file: *const bindings::file) -> Option<&'a OpenFile> {
    // SAFETY: per the function's contract, `private_data` is NULL or ours.
    unsafe { (*file).private_data.cast::<OpenFile>().as_ref() }
}

/// # Safety
///
/// Called by the VFS with an hlfs inode and its new open file.
pub(super) unsafe extern "C" fn open(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: per the function's contract.
    let (h, fs, flags) = unsafe { (hi(inode), fs_of_inode(inode), (*file).f_flags) };
    // SAFETY: as above.
    let dir = unsafe { u32::from((*inode).i_mode) } & S_IFMT == S_IFDIR;
    // Close-to-open: a file opened after a host change sees it.
    if !dir && fs.opts.cache == CacheMode::Auto {
        // SAFETY: a live inode.
        if let Err(e) = unsafe { refresh(inode, true) } {
            return e.to_errno();
        }
    }
    let host_flags = if dir { O_DIRECTORY } else { flags & O_PASSED };
    let fh = match fs.client.open(h.node.load(Relaxed), host_flags) {
        Ok(fh) => fh,
        Err(e) => return e.to_errno(),
    };
    let writable = !dir && flags & O_ACCMODE != 0;
    let readable = flags & O_ACCMODE != O_WRONLY;
    let of = match KBox::new(
        OpenFile {
            fh,
            writable,
            readable,
        },
        GFP_KERNEL,
    ) {
        Ok(b) => b,
        Err(_) => {
            let _ = fs.client.release(fh);
            return ENOMEM.to_errno();
        }
    };
    if writable {
        // Writeback uses any writer's handle; a few suffice.
        for slot in &h.writers {
            if slot.cmpxchg(0, fh, Relaxed).is_ok() {
                break;
            }
        }
    }
    // SAFETY: the file is new and ours to set up.
    unsafe {
        (*file).private_data = KBox::into_raw(of).cast();
        if !dir {
            raw::hlfs_file_set_can_odirect(file);
        }
    }
    0
}

/// # Safety
///
/// Called by the VFS once per open hlfs file, after its last use.
pub(super) unsafe extern "C" fn release(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: per the function's contract.
    let (h, fs, p) = unsafe { (hi(inode), fs_of_inode(inode), (*file).private_data) };
    if p.is_null() {
        return 0;
    }
    // SAFETY: set by `open` from `KBox::into_raw`; released once.
    let of = unsafe { KBox::from_raw(p.cast::<OpenFile>()) };
    if of.writable {
        // Pending writes go out while this handle can still carry them.
        // SAFETY: the inode's mapping.
        let _ = unsafe { raw::hlfs_write_and_wait(&mut (*inode).i_data) };
        for slot in &h.writers {
            let _ = slot.cmpxchg(of.fh, 0, Relaxed);
        }
    }
    let _ = fs.client.release(of.fh);
    0
}

/// `->flush` (each close): writes dirty pages back and reports their
/// errors, such as the host running out of space, to the closing task.
///
/// # Safety
///
/// Called by the VFS with an open hlfs file.
pub(super) unsafe extern "C" fn flush(file: *mut bindings::file, _id: *mut c_void) -> c_int {
    // SAFETY: per the function's contract.
    let writable = unsafe { open_file(file) }.is_some_and(|f| f.writable);
    if !writable {
        return 0;
    }
    // SAFETY: as above; waits for writeback and collects its errors.
    unsafe { bindings::file_write_and_wait_range(file, 0, i64::MAX) }
}

/// # Safety
///
/// Called by the VFS with an open hlfs file.
pub(super) unsafe extern "C" fn fsync(
    file: *mut bindings::file,
    start: i64,
    end: i64,
    datasync: c_int,
) -> c_int {
    // SAFETY: per the function's contract.
    let r = unsafe { bindings::file_write_and_wait_range(file, start, end) };
    if r != 0 {
        return r;
    }
    // SAFETY: as above.
    let (inode, of) = unsafe { (raw::hlfs_file_inode(file), open_file(file)) };
    let Some(of) = of else { return 0 };
    // SAFETY: a live inode.
    let fs = unsafe { fs_of_inode(inode) };
    match fs.client.fsync(of.fh, datasync != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with an open hlfs file.
pub(super) unsafe extern "C" fn fallocate(
    file: *mut bindings::file,
    mode: c_int,
    offset: i64,
    len: i64,
) -> c_long {
    // SAFETY: per the function's contract.
    let (inode, of) = unsafe { (raw::hlfs_file_inode(file), open_file(file)) };
    let Some(of) = of else {
        return EBADF.to_errno() as c_long;
    };
    // SAFETY: a live inode.
    let fs = unsafe { fs_of_inode(inode) };
    if offset < 0 || len <= 0 {
        return EINVAL.to_errno() as c_long;
    }
    // Pages in the range must not go to the host after the host changed it.
    // SAFETY: the inode's mapping.
    let r = unsafe { raw::hlfs_write_and_wait(&mut (*inode).i_data) };
    if r != 0 {
        return r as c_long;
    }
    let since = attr_version(fs);
    match fs
        .client
        .fallocate(of.fh, mode as u32, offset as u64, len as u64)
    {
        Ok(attr) => {
            // SAFETY: a live inode.
            unsafe {
                bindings::truncate_pagecache_range(inode, offset, offset.saturating_add(len) - 1);
                apply_attr(inode, &attr, since);
                stamp(inode);
            }
            0
        }
        Err(e) => e.to_errno() as c_long,
    }
}

/// A read or write of `len` bytes at `pos` that bypasses the page cache
/// (`O_DIRECT`, or `cache=none`): through a kernel bounce buffer, at most
/// `IO_PAGES` pages per host call.
///
/// # Safety
///
/// `file` is an open hlfs file; `iter` the caller's iterator.
pub(super) unsafe fn direct_io(
    file: *mut bindings::file,
    pos: &mut i64,
    iter: *mut bindings::iov_iter,
    write: bool,
) -> isize {
    // SAFETY: per the function's contract.
    let (inode, of) = unsafe { (raw::hlfs_file_inode(file), open_file(file)) };
    let Some(of) = of else {
        return EBADF.to_errno() as isize;
    };
    // SAFETY: a live inode.
    let fs = unsafe { fs_of_inode(inode) };
    // Cached pages of the range would hide or undo what we do.
    // SAFETY: the inode's mapping.
    let r = unsafe { raw::hlfs_write_and_wait(&mut (*inode).i_data) };
    if r != 0 {
        return r as isize;
    }
    const CHUNK: usize = IO_PAGES * 4096;
    // SAFETY: reads the iterator's count.
    let total = unsafe { raw::hlfs_iov_iter_count(iter) };
    let mut buf = match KVVec::from_elem(0u8, total.min(CHUNK), GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno() as isize,
    };
    let mut done = 0usize;
    while done < total {
        let n = (total - done).min(CHUNK);
        let since = attr_version(fs);
        if write {
            // SAFETY: `buf` is writable for `n` bytes.
            let got = unsafe { raw::hlfs_copy_from_iter(buf.as_mut_ptr().cast(), n, iter) };
            if got != n {
                break;
            }
        }
        let moved = {
            let mut pieces: KVec<Piece<'_>> = KVec::new();
            for c in buf[..n].chunks_mut(4096) {
                if pieces.push(c, GFP_KERNEL).is_err() {
                    return ENOMEM.to_errno() as isize;
                }
            }
            fs.client.io(of.fh, *pos as u64, &mut pieces, write)
        };
        let m = match moved {
            Ok((m, attr)) => {
                if write {
                    // SAFETY: a live inode.
                    unsafe { apply_attr(inode, &attr, since) };
                }
                m.min(n)
            }
            Err(e) if done == 0 => return e.to_errno() as isize,
            Err(_) => break,
        };
        let m = if write {
            m
        } else {
            // SAFETY: `buf` holds `m` bytes read.
            unsafe { raw::hlfs_copy_to_iter(buf.as_ptr().cast(), m, iter) }
        };
        done += m;
        *pos += m as i64;
        if m < n {
            break;
        }
    }
    if write && done > 0 {
        // SAFETY: the written range's cached pages are stale now.
        unsafe {
            bindings::invalidate_inode_pages2(&mut (*inode).i_data);
            if *pos > raw::hlfs_i_size_read(inode) {
                raw::hlfs_i_size_write(inode, *pos);
            }
            stamp(inode);
        }
    }
    done as isize
}

pub(super) const IOCB_DIRECT: c_int = bindings::IOCB_DIRECT as c_int;
/// `IOCB_APPEND` (`RWF_APPEND`, include/uapi/linux/fs.h).
pub(super) const IOCB_APPEND: c_int = 0x10;

/// # Safety
///
/// Called by the VFS with a kiocb on an open hlfs file.
pub(super) unsafe extern "C" fn read_iter(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: per the function's contract.
    let (file, flags) = unsafe { ((*iocb).ki_filp, (*iocb).ki_flags) };
    // SAFETY: as above.
    let fs = unsafe { fs_of_inode(raw::hlfs_file_inode(file)) };
    if flags & IOCB_DIRECT != 0 || fs.opts.cache == CacheMode::None {
        // SAFETY: as above; the position is the kiocb's.
        return unsafe { direct_io(file, &mut (*iocb).ki_pos, iter, false) };
    }
    // SAFETY: the page-cache path, which calls our address-space ops.
    unsafe { bindings::generic_file_read_iter(iocb, iter) }
}

/// # Safety
///
/// As for [`read_iter`].
pub(super) unsafe extern "C" fn write_iter(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: per the function's contract.
    let (file, flags) = unsafe { ((*iocb).ki_filp, (*iocb).ki_flags) };
    // SAFETY: as above.
    let inode = unsafe { raw::hlfs_file_inode(file) };
    // SAFETY: a live inode.
    let fs = unsafe { fs_of_inode(inode) };
    if flags & IOCB_DIRECT != 0 || fs.opts.cache == CacheMode::None {
        // Appends go to the end the host knows.
        if flags & IOCB_APPEND != 0 {
            // SAFETY: a live inode.
            if let Err(e) = unsafe { refresh(inode, true) } {
                return e.to_errno() as isize;
            }
            // SAFETY: as above.
            unsafe { (*iocb).ki_pos = raw::hlfs_i_size_read(inode) };
        }
        // SAFETY: the inode lock serialises direct writers as the page-cache
        // path does.
        unsafe { raw::hlfs_inode_lock(inode) };
        // SAFETY: as for `read_iter`.
        let r = unsafe { direct_io(file, &mut (*iocb).ki_pos, iter, true) };
        // SAFETY: locked above.
        unsafe { raw::hlfs_inode_unlock(inode) };
        return r;
    }
    if flags & IOCB_APPEND != 0 {
        // SAFETY: a live inode.
        if let Err(e) = unsafe { refresh(inode, false) } {
            return e.to_errno() as isize;
        }
    }
    // SAFETY: the page-cache path: write_begin/write_end, then writeback.
    unsafe { bindings::generic_file_write_iter(iocb, iter) }
}

/// # Safety
///
/// Called by the VFS with an open hlfs directory and a listing context.
pub(super) unsafe extern "C" fn iterate_shared(
    file: *mut bindings::file,
    ctx: *mut bindings::dir_context,
) -> c_int {
    // SAFETY: per the function's contract.
    let (inode, of) = unsafe { (raw::hlfs_file_inode(file), open_file(file)) };
    let Some(of) = of else {
        return EBADF.to_errno();
    };
    // SAFETY: a live inode, and the dentry the file was opened by.
    let (fs, h, parent) = unsafe { (fs_of_inode(inode), hi(inode), raw::hlfs_file_dentry(file)) };
    let mut buf = match KVVec::from_elem(0u8, 32 << 10, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    // As FUSE's readdirplus "auto": the first listing call of a directory,
    // or one after names in it were looked up (by a stat of each entry, as
    // `ls -l` makes), also looks the entries up. Entries are not trusted
    // at all with `attr_timeout=0`, so there is nothing to gain then.
    // SAFETY: `ctx` is the caller's.
    let first = unsafe { (*ctx).pos } == 0;
    let advised = h.advise_plus.xchg(0, Relaxed) != 0;
    let mut plus = (first || advised) && fs.opts.attr_timeout > 0 && fs.plus.load(Relaxed) != 0;
    let dnode = h.node.load(Relaxed);
    loop {
        // The position is the host's cookie, so telldir/seekdir hold.
        // SAFETY: `ctx` is the caller's.
        let pos = unsafe { (*ctx).pos };
        let since = attr_version(fs);
        let listed = fs
            .client
            .readdir(of.fh, plus.then_some(dnode), pos as u64, &mut buf);
        let n = match listed {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if plus && e == ENOSYS => {
                // A host without READDIRPLUS.
                fs.plus.store(0, Relaxed);
                plus = false;
                continue;
            }
            Err(e) => return e.to_errno(),
        };
        let mut full = false;
        for rec in proto::dirents(&buf[..n], plus) {
            let Ok(rec) = rec else {
                return EIO.to_errno();
            };
            if rec.plus.node != 0 {
                // Every entry the host counted is linked (or given back),
                // also past those the caller has room for.
                let entry = Entry {
                    node: rec.plus.node,
                    attr: rec.plus.attr,
                };
                // SAFETY: `parent` is the directory's dentry, locked
                // shared by our caller.
                unsafe { link_entry(parent, inode, rec.name, &entry, since) };
            }
            if full {
                continue;
            }
            // SAFETY: `ctx` is the caller's; the name is valid.
            full = !unsafe {
                raw::hlfs_dir_emit(
                    ctx,
                    rec.name.as_ptr().cast(),
                    rec.name.len() as c_int,
                    rec.head.ino,
                    c_uint::from(rec.head.dtype),
                )
            };
            if !full {
                // SAFETY: as above.
                unsafe { (*ctx).pos = rec.head.next as i64 };
            }
        }
        if full {
            return 0;
        }
    }
}

/// An operations table in a `static`. `file_operations` holds a raw
/// `owner` pointer (left NULL here), which makes it `!Sync`.
#[repr(transparent)]
pub(super) struct Fops(pub(super) bindings::file_operations);

// SAFETY: the table is immutable, and its only pointer (`owner`) is NULL.
unsafe impl Sync for Fops {}

pub(super) static FILE_FOPS: Fops = Fops(bindings::file_operations {
    llseek: Some(bindings::generic_file_llseek),
    read_iter: Some(read_iter),
    write_iter: Some(write_iter),
    mmap_prepare: Some(bindings::generic_file_mmap_prepare),
    open: Some(open),
    flush: Some(flush),
    release: Some(release),
    fsync: Some(fsync),
    fallocate: Some(fallocate),
    splice_read: Some(bindings::filemap_splice_read),
    splice_write: Some(bindings::iter_file_splice_write),
    ..pin_init::zeroed()
});

pub(super) static DIR_FOPS: Fops = Fops(bindings::file_operations {
    llseek: Some(bindings::generic_file_llseek),
    read: Some(bindings::generic_read_dir),
    iterate_shared: Some(iterate_shared),
    open: Some(open),
    release: Some(release),
    ..pin_init::zeroed()
});
