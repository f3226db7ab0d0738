// SPDX-License-Identifier: GPL-2.0

//! Attributes (getattr, setattr), extended attributes, symbolic link targets,
//! and the inode operation tables.

use super::*;

/// # Safety
///
/// Called by the VFS with a path on an hlfs mount and a `kstat` to fill.
pub(super) unsafe extern "C" fn getattr(
    idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    flags: c_uint,
) -> c_int {
    // SAFETY: per the function's contract.
    let inode = unsafe { raw::hlfs_d_inode((*path).dentry) };
    let force = flags & bindings::AT_STATX_FORCE_SYNC != 0;
    let lazy = flags & bindings::AT_STATX_DONT_SYNC != 0;
    if !lazy {
        // SAFETY: a live hlfs inode.
        if let Err(e) = unsafe { refresh(inode, force) } {
            return e.to_errno();
        }
    }
    // SAFETY: fills `stat` from the live inode.
    unsafe { bindings::generic_fillattr(idmap, request_mask, inode, stat) };
    0
}

/// # Safety
///
/// Called by the VFS with an hlfs dentry and the attributes to set.
pub(super) unsafe extern "C" fn setattr(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    // SAFETY: per the function's contract.
    let (inode, a) = unsafe { (raw::hlfs_d_inode(dentry), &*attr) };
    // SAFETY: as above: the guest's own permission checks first.
    if let Err(e) = to_result(unsafe { bindings::setattr_prepare(idmap, dentry, attr) }) {
        return e.to_errno();
    }
    // SAFETY: a live hlfs inode.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    let mut req = HlfsReq::default();
    let v = a.ia_valid;
    if v & bindings::ATTR_MODE != 0 {
        req.valid |= proto::SET_MODE;
        req.mode = u32::from(a.ia_mode);
    }
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: reads the ids of `attr`.
    unsafe { raw::hlfs_iattr_ids(attr, &mut uid, &mut gid) };
    if v & bindings::ATTR_UID != 0 {
        req.valid |= proto::SET_UID;
        req.uid = uid;
    }
    if v & bindings::ATTR_GID != 0 {
        req.valid |= proto::SET_GID;
        req.gid = gid;
    }
    if v & bindings::ATTR_SIZE != 0 {
        req.valid |= proto::SET_SIZE;
        req.size = a.ia_size as u64;
        // Dirty pages reach the host before the size changes under them.
        // SAFETY: the inode's mapping.
        let r = unsafe { raw::hlfs_write_and_wait(&mut (*inode).i_data) };
        if r != 0 {
            return r;
        }
    }
    if v & bindings::ATTR_ATIME != 0 {
        if v & bindings::ATTR_ATIME_SET != 0 {
            req.valid |= proto::SET_ATIME;
            req.atime = proto::HlfsTime {
                sec: a.ia_atime.tv_sec,
                nsec: a.ia_atime.tv_nsec as u32,
                pad: 0,
            };
        } else {
            req.valid |= proto::SET_ATIME_NOW;
        }
    }
    if v & bindings::ATTR_MTIME != 0 {
        if v & bindings::ATTR_MTIME_SET != 0 {
            req.valid |= proto::SET_MTIME;
            req.mtime = proto::HlfsTime {
                sec: a.ia_mtime.tv_sec,
                nsec: a.ia_mtime.tv_nsec as u32,
                pad: 0,
            };
        } else {
            req.valid |= proto::SET_MTIME_NOW;
        }
    }
    let fh = if v & bindings::ATTR_FILE != 0 && !a.ia_file.is_null() {
        // SAFETY: an open hlfs file's private data is its `OpenFile`.
        unsafe { open_file(a.ia_file) }.map_or(0, |f| f.fh)
    } else {
        0
    };
    if req.valid == 0 {
        return 0;
    }
    let resize = v & bindings::ATTR_SIZE != 0;
    if resize {
        // Replies in flight carry the old size: they must not land after
        // the new one.
        // SAFETY: a live inode.
        unsafe { stamp(inode) };
    }
    let since = attr_version(fs);
    match fs.client.setattr(h.node.load(Relaxed), fh, req) {
        Ok(attr) => {
            // SAFETY: a live inode; the size change is applied locally too.
            unsafe {
                if resize {
                    bindings::truncate_setsize(inode, a.ia_size);
                }
                apply_attr(inode, &attr, since);
                if resize {
                    stamp(inode);
                }
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with an hlfs dentry and a buffer of `size` bytes.
pub(super) unsafe extern "C" fn listxattr(
    dentry: *mut bindings::dentry,
    list: *mut c_char,
    size: usize,
) -> isize {
    // SAFETY: per the function's contract.
    let (inode, buf) = unsafe {
        (
            raw::hlfs_d_inode(dentry),
            if list.is_null() || size == 0 {
                &mut [][..]
            } else {
                core::slice::from_raw_parts_mut(list.cast::<u8>(), size)
            },
        )
    };
    // SAFETY: a live hlfs inode.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    match fs.client.xattr_get(h.node.load(Relaxed), None, buf) {
        Ok(n) if !buf.is_empty() && n > buf.len() => ERANGE.to_errno() as isize,
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by vfs_glue.c's handlers with an hlfs inode, a full name and a
/// buffer of `size` bytes.
#[no_mangle]
pub(super) unsafe extern "C" fn hlfs_rs_xattr_get(
    inode: *mut bindings::inode,
    name: *const c_char,
    value: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: per the function's contract.
    let (h, fs, name, buf) = unsafe {
        (
            hi(inode),
            fs_of_inode(inode),
            CStr::from_char_ptr(name).to_bytes(),
            if value.is_null() || size == 0 {
                &mut [][..]
            } else {
                core::slice::from_raw_parts_mut(value.cast::<u8>(), size)
            },
        )
    };
    match fs.client.xattr_get(h.node.load(Relaxed), Some(name), buf) {
        Ok(n) if !buf.is_empty() && n > buf.len() => ERANGE.to_errno(),
        Ok(n) => n.min(c_int::MAX as usize) as c_int,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// As for [`hlfs_rs_xattr_get`]; `value` NULL means remove.
#[no_mangle]
pub(super) unsafe extern "C" fn hlfs_rs_xattr_set(
    inode: *mut bindings::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: per the function's contract.
    let (h, fs, name) = unsafe {
        (
            hi(inode),
            fs_of_inode(inode),
            CStr::from_char_ptr(name).to_bytes(),
        )
    };
    let node = h.node.load(Relaxed);
    let r = if value.is_null() {
        fs.client.removexattr(node, name)
    } else {
        // SAFETY: a non-null value is `size` readable bytes.
        let v = unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) };
        fs.client.setxattr(node, name, v, flags as u32)
    };
    h.attr_until.store(now(), Relaxed);
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with an hlfs symlink inode; `dentry` is NULL in RCU
/// walks.
pub(super) unsafe extern "C" fn get_link(
    dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    done: *mut bindings::delayed_call,
) -> *const c_char {
    if dentry.is_null() {
        return ECHILD.to_ptr();
    }
    // SAFETY: per the function's contract.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    let mut buf = match KVec::from_elem(0u8, proto::SYMLINK_MAX + 1, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_ptr(),
    };
    match fs
        .client
        .readlink(h.node.load(Relaxed), &mut buf[..proto::SYMLINK_MAX])
    {
        Ok(n) => {
            buf[n] = 0;
            let (p, _, _) = buf.into_raw_parts();
            // SAFETY: `p` is a NUL-terminated kmalloc'd string, freed by
            // `kfree_link` when the caller is done.
            unsafe { raw::hlfs_set_link_done(done, p.cast()) };
            p.cast()
        }
        Err(e) => e.to_ptr(),
    }
}

pub(super) static DIR_IOPS: bindings::inode_operations = bindings::inode_operations {
    lookup: Some(lookup),
    create: Some(create),
    mkdir: Some(mkdir),
    mknod: Some(mknod),
    symlink: Some(symlink),
    link: Some(link),
    unlink: Some(unlink),
    rmdir: Some(rmdir),
    rename: Some(rename),
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

pub(super) static FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

pub(super) static LINK_IOPS: bindings::inode_operations = bindings::inode_operations {
    get_link: Some(get_link),
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

pub(super) static SPECIAL_IOPS: bindings::inode_operations = bindings::inode_operations {
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};
