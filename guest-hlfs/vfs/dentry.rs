// SPDX-License-Identifier: GPL-2.0

//! Dentry revalidation: a cached name is trusted until its attribute deadline,
//! then looked up on the host again.

use super::*;

pub(super) static DENTRY_OPS: bindings::dentry_operations = bindings::dentry_operations {
    d_revalidate: Some(d_revalidate),
    ..pin_init::zeroed()
};

/// `LOOKUP_RCU` (include/linux/namei.h).
pub(super) const LOOKUP_RCU: c_uint = 1 << 8;

/// A cached name is trusted for the attribute timeout; then it is looked up
/// again, and dropped if the host's name now means another node.
///
/// # Safety
///
/// Called by the VFS with a dentry of an hlfs mount and its parent.
pub(super) unsafe extern "C" fn d_revalidate(
    dir: *mut bindings::inode,
    name: *const bindings::qstr,
    dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: per the function's contract (a negative dentry has none).
    let inode = unsafe { raw::hlfs_d_inode(dentry) };
    if inode.is_null() {
        // Negative entries are not cached: look the name up again.
        return 0;
    }
    // SAFETY: a live hlfs inode.
    let h = unsafe { hi(inode) };
    if attr_fresh(h) {
        if h.from_plus.load(Relaxed) != 0 {
            // A name READDIRPLUS linked is being used (`ls -l` stats what
            // it lists): list the rest of the directory the same way. As
            // FUSE, outside RCU walk, where `dir` is held.
            if flags & LOOKUP_RCU != 0 {
                return ECHILD.to_errno();
            }
            if h.from_plus.xchg(0, Relaxed) != 0 {
                // SAFETY: `dir` is the live hlfs parent of `dentry`.
                unsafe { hi(dir) }.advise_plus.store(1, Relaxed);
            }
        }
        return 1;
    }
    if flags & LOOKUP_RCU != 0 {
        return ECHILD.to_errno();
    }
    // SAFETY: `dir` and `name` are valid for the call.
    let (fs, dnode, name) = unsafe {
        let q = &*name;
        (
            fs_of_inode(dir),
            hi(dir).node.load(Relaxed),
            core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize),
        )
    };
    let since = attr_version(fs);
    match fs.client.lookup(dnode, name) {
        Ok(e) if e.node == h.node.load(Relaxed) => {
            // The host counted one more lookup of a node we hold.
            h.nlookup.fetch_add(1, Relaxed);
            // SAFETY: a live hlfs inode.
            unsafe { apply_attr(inode, &e.attr, since) };
            1
        }
        Ok(e) => {
            let _ = fs.client.forget(e.node, 1);
            0
        }
        Err(e) if e == ENOENT || e == ESTALE => 0,
        Err(e) => e.to_errno(),
    }
}
