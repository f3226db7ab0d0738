// SPDX-License-Identifier: GPL-2.0

//! Directory inode operations that look names up, make or remove them: lookup,
//! create, mkdir, mknod, symlink, link, unlink, rmdir and rename.

use super::*;

/// The name of `dentry`.
///
/// # Safety
///
/// `dentry` is live and its name stable (its parent is locked).
pub(super) unsafe fn dname<'a>(dentry: *const bindings::dentry) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: per the function's contract.
    unsafe {
        let p = raw::hlfs_d_name(dentry, &mut len);
        core::slice::from_raw_parts(p, len as usize)
    }
}

/// # Safety
///
/// Called by the VFS with a locked hlfs directory and a dentry in it.
pub(super) unsafe extern "C" fn lookup(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    _flags: c_uint,
) -> *mut bindings::dentry {
    // SAFETY: per the function's contract.
    let (fs, node, name) = unsafe { (fs_of_inode(dir), hi(dir).node.load(Relaxed), dname(dentry)) };
    let since = attr_version(fs);
    // SAFETY: as above.
    unsafe { hi(dir) }.advise_plus.store(1, Relaxed);
    let inode = match fs.client.lookup(node, name) {
        // SAFETY: the superblock is live.
        Ok(e) => match unsafe { iget((*dir).i_sb, &e, since) } {
            Ok(i) => i,
            Err(e) => return e.to_ptr(),
        },
        Err(e) if e == ENOENT => ptr::null_mut(),
        Err(e) => return e.to_ptr(),
    };
    // SAFETY: `inode` is null or referenced; d_splice_alias takes it.
    unsafe { bindings::d_splice_alias(inode, dentry) }
}

/// Most times [`link_entry`] drops a cached name that means another node
/// and tries again, should the name keep changing under it.
const LINK_TRIES: usize = 3;

/// Puts an entry that `READDIRPLUS` looked up into the dcache, as
/// [`lookup`] would have, so that stat-ing it takes no call of its own; if
/// it cannot, gives the host its lookup back. As FUSE's
/// `fuse_direntplus_link()`.
///
/// # Safety
///
/// `parent` is the dentry of the hlfs directory `dir`, which is locked
/// (shared, as `->iterate_shared` holds it).
pub(super) unsafe fn link_entry(
    parent: *mut bindings::dentry,
    dir: *mut bindings::inode,
    name: &[u8],
    entry: &Entry,
    since: u64,
) {
    // SAFETY: per the function's contract.
    let fs = unsafe { fs_of_inode(dir) };
    if !proto::valid_name(name) {
        let _ = fs.client.forget(entry.node, 1);
        return;
    }
    // The name is at most NAME_MAX bytes.
    let len = name.len() as c_uint;
    // SAFETY: `name` is valid for `len` bytes; hlfs has no `d_hash`, so the
    // hash is the VFS's own, salted with the parent.
    let hash = unsafe { bindings::full_name_hash(parent.cast(), name.as_ptr().cast(), len) };
    let q = bindings::qstr {
        __bindgen_anon_1: bindings::qstr__bindgen_ty_1 {
            __bindgen_anon_1: bindings::qstr__bindgen_ty_1__bindgen_ty_1 { hash, len },
        },
        name: name.as_ptr(),
    };
    // SAFETY: `parent` is live; `q` is a hashed name.
    let mut dentry = unsafe { bindings::d_lookup(parent, &q) };
    for _ in 0..LINK_TRIES {
        if dentry.is_null() {
            // SAFETY: as above, with the directory locked shared.
            match from_err_ptr(unsafe { bindings::d_alloc_parallel(parent, &q) }) {
                Ok(d) => dentry = d,
                Err(_) => break,
            }
        }
        // SAFETY: `dentry` is referenced.
        if unsafe { raw::hlfs_d_in_lookup(dentry) } {
            // The name's lookup is ours to finish, with what the host gave.
            // SAFETY: the superblock is live; `dentry` is ours and in lookup.
            unsafe {
                // `iget()` gives the lookup back itself if it fails.
                let alias = match iget((*dir).i_sb, entry, since) {
                    Ok(inode) => {
                        hi(inode).from_plus.store(1, Relaxed);
                        bindings::d_splice_alias(inode, dentry)
                    }
                    Err(_) => ptr::null_mut(),
                };
                raw::hlfs_d_lookup_done(dentry);
                if from_err_ptr(alias).is_ok_and(|a| !a.is_null()) {
                    bindings::dput(alias);
                }
                bindings::dput(dentry);
            }
            return;
        }
        // SAFETY: `dentry` is referenced.
        let inode = unsafe { raw::hlfs_d_inode(dentry) };
        // SAFETY: a positive dentry of hlfs holds an hlfs inode.
        if !inode.is_null() && unsafe { hi(inode) }.node.load(Relaxed) == entry.node {
            // Cached already: the host counted one more lookup of it.
            // SAFETY: as above; then the reference is dropped.
            unsafe {
                hi(inode).nlookup.fetch_add(1, Relaxed);
                hi(inode).from_plus.store(1, Relaxed);
                apply_attr(inode, &entry.attr, since);
                bindings::dput(dentry);
            }
            return;
        }
        // The cached name means another node now, or none (a negative
        // entry): drop it, as a failed `d_revalidate` would.
        // SAFETY: `dentry` is referenced; the reference is dropped.
        unsafe {
            bindings::d_invalidate(dentry);
            bindings::dput(dentry);
        }
        dentry = ptr::null_mut();
    }
    let _ = fs.client.forget(entry.node, 1);
}

/// Instantiates `dentry` with what the host made.
///
/// # Safety
///
/// `dir` is a locked hlfs directory and `dentry` a negative dentry in it.
pub(super) unsafe fn instantiate(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    entry: Result<Entry>,
) -> c_int {
    // Taken after the request: what it made is new, and an inode that is
    // not (a link's) is applied no later than it would be otherwise.
    // SAFETY: per the function's contract.
    let since = attr_version(unsafe { fs_of_inode(dir) });
    let inode = match entry {
        // SAFETY: per the function's contract.
        Ok(e) => match unsafe { iget((*dir).i_sb, &e, since) } {
            Ok(i) => i,
            Err(e) => return e.to_errno(),
        },
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `inode` is referenced; the dentry takes the reference. The
    // directory changed on the host: its attributes are stale.
    unsafe {
        bindings::d_instantiate(dentry, inode);
        hi(dir).attr_until.store(now(), Relaxed);
    }
    0
}

/// # Safety
///
/// As for [`instantiate`].
pub(super) unsafe extern "C" fn create(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: u16,
) -> c_int {
    // SAFETY: per the function's contract.
    let (fs, node, name) = unsafe { (fs_of_inode(dir), hi(dir).node.load(Relaxed), dname(dentry)) };
    // The name was absent when the VFS looked: one made meanwhile on the
    // host is a conflict, not a file to open.
    let flags = O_RDWR | O_EXCL;
    let made = fs
        .client
        .create(node, name, u32::from(mode), flags)
        .map(|(entry, fh)| {
            // The VFS opens the file again through ->open; this handle was
            // only needed to create it.
            let _ = fs.client.release(fh);
            entry
        });
    // SAFETY: per the function's contract.
    unsafe { instantiate(dir, dentry, made) }
}

/// # Safety
///
/// As for [`instantiate`].
pub(super) unsafe extern "C" fn mkdir(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: u16,
) -> *mut bindings::dentry {
    // SAFETY: per the function's contract.
    let (fs, node, name) = unsafe { (fs_of_inode(dir), hi(dir).node.load(Relaxed), dname(dentry)) };
    let made = fs.client.make(Op::Mkdir, node, name, u32::from(mode));
    // SAFETY: per the function's contract.
    match unsafe { instantiate(dir, dentry, made) } {
        0 => ptr::null_mut(),
        e => Error::from_errno(e).to_ptr(),
    }
}

/// # Safety
///
/// As for [`instantiate`].
pub(super) unsafe extern "C" fn mknod(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: u16,
    _rdev: u32,
) -> c_int {
    // SAFETY: per the function's contract.
    let (fs, node, name) = unsafe { (fs_of_inode(dir), hi(dir).node.load(Relaxed), dname(dentry)) };
    let made = fs.client.make(Op::Mknod, node, name, u32::from(mode));
    // SAFETY: per the function's contract.
    unsafe { instantiate(dir, dentry, made) }
}

/// # Safety
///
/// As for [`instantiate`]; `target` is NUL-terminated.
pub(super) unsafe extern "C" fn symlink(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: per the function's contract.
    let (fs, node, name, target) = unsafe {
        (
            fs_of_inode(dir),
            hi(dir).node.load(Relaxed),
            dname(dentry),
            CStr::from_char_ptr(target).to_bytes(),
        )
    };
    let made = fs.client.symlink(node, name, target);
    // SAFETY: per the function's contract.
    unsafe { instantiate(dir, dentry, made) }
}

/// # Safety
///
/// Called by the VFS with an hlfs inode's dentry, a locked directory and a
/// negative dentry in it.
pub(super) unsafe extern "C" fn link(
    old: *mut bindings::dentry,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: per the function's contract.
    let (fs, inode, dnode, name) = unsafe {
        let inode = raw::hlfs_d_inode(old);
        (
            fs_of_inode(dir),
            inode,
            hi(dir).node.load(Relaxed),
            dname(dentry),
        )
    };
    // SAFETY: a live hlfs inode.
    let h = unsafe { hi(inode) };
    let since = attr_version(fs);
    match fs.client.link(h.node.load(Relaxed), dnode, name) {
        Ok(e) => {
            // The host may hand out another handle for the new name: the
            // dentry points at the inode we have, and the extra lookup goes
            // back.
            if e.node != h.node.load(Relaxed) {
                let _ = fs.client.forget(e.node, 1);
            } else {
                h.nlookup.fetch_add(1, Relaxed);
            }
            // SAFETY: `inode` is live; d_instantiate takes the reference we
            // take here.
            unsafe {
                apply_attr(inode, &e.attr, since);
                bindings::ihold(inode);
                bindings::d_instantiate(dentry, inode);
                hi(dir).attr_until.store(now(), Relaxed);
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with a locked hlfs directory and a positive dentry.
pub(super) unsafe extern "C" fn unlink(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: per the function's contract.
    unsafe { remove(dir, dentry, Op::Unlink) }
}

/// # Safety
///
/// As for [`unlink`].
pub(super) unsafe extern "C" fn rmdir(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: per the function's contract.
    unsafe { remove(dir, dentry, Op::Rmdir) }
}

/// # Safety
///
/// As for [`unlink`].
pub(super) unsafe fn remove(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    op: Op,
) -> c_int {
    // SAFETY: per the function's contract.
    let (fs, node, name, inode) = unsafe {
        (
            fs_of_inode(dir),
            hi(dir).node.load(Relaxed),
            dname(dentry),
            raw::hlfs_d_inode(dentry),
        )
    };
    match fs.client.remove(op, node, name) {
        Ok(()) => {
            // SAFETY: both inodes are live; their link counts changed.
            unsafe {
                hi(dir).attr_until.store(now(), Relaxed);
                if !inode.is_null() {
                    if op == Op::Rmdir {
                        bindings::clear_nlink(inode);
                    } else {
                        bindings::drop_nlink(inode);
                    }
                    hi(inode).attr_until.store(now(), Relaxed);
                }
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

pub(super) const RENAME_NOREPLACE: c_uint = 1;
pub(super) const RENAME_EXCHANGE: c_uint = 2;

/// # Safety
///
/// Called by the VFS with locked hlfs directories and dentries in them.
pub(super) unsafe extern "C" fn rename(
    _idmap: *mut bindings::mnt_idmap,
    odir: *mut bindings::inode,
    odentry: *mut bindings::dentry,
    ndir: *mut bindings::inode,
    ndentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 {
        return EINVAL.to_errno();
    }
    let mut wire = 0;
    if flags & RENAME_NOREPLACE != 0 {
        wire |= proto::RENAME_NOREPLACE;
    }
    if flags & RENAME_EXCHANGE != 0 {
        wire |= proto::RENAME_EXCHANGE;
    }
    // SAFETY: per the function's contract.
    let (fs, on, nn, oname, nname, target) = unsafe {
        (
            fs_of_inode(odir),
            hi(odir).node.load(Relaxed),
            hi(ndir).node.load(Relaxed),
            dname(odentry),
            dname(ndentry),
            raw::hlfs_d_inode(ndentry),
        )
    };
    match fs.client.rename(on, oname, nn, nname, wire) {
        Ok(()) => {
            // SAFETY: the inodes are live; the host changed them.
            unsafe {
                hi(odir).attr_until.store(now(), Relaxed);
                hi(ndir).attr_until.store(now(), Relaxed);
                if !target.is_null() && flags & RENAME_EXCHANGE == 0 {
                    bindings::drop_nlink(target);
                    hi(target).attr_until.store(now(), Relaxed);
                }
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}
