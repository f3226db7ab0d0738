// SPDX-License-Identifier: GPL-2.0

//! hlfs inodes: the VFS inode embedded with its node handle, the lookups the host
//! counted (given back with `FORGET` at eviction), the attribute deadline and the
//! writeback handles; inode lookup by node, attributes applied from the host's
//! replies, and the superblock operations.

use super::*;

/// Writable host file handles writeback may use, per inode.
pub(super) const WRITERS: usize = 8;

/// An hlfs inode: the VFS inode and what hlfs keeps with it.
#[repr(C)]
pub(crate) struct HlfsInode {
    pub(super) vfs: Opaque<bindings::inode>,
    /// The host's node handle (set before the inode is published).
    pub(super) node: Atomic<u64>,
    /// Lookups the host counted for this node; given back at eviction.
    pub(super) nlookup: Atomic<u64>,
    /// Jiffies until which the attributes are trusted.
    pub(super) attr_until: Atomic<u64>,
    /// The mount's attribute version at the last local change to the
    /// file's size or data (see [`stamp`]).
    pub(super) modified: Atomic<u64>,
    /// Open writable host handles, for writeback (0: free).
    pub(super) writers: [Atomic<u64>; WRITERS],
    /// 1 when a name in this directory was looked up since its last
    /// listing call: the next one asks for `READDIRPLUS` (as FUSE's
    /// `FUSE_I_ADVISE_RDPLUS`).
    pub(super) advise_plus: Atomic<u32>,
    /// 1 when `READDIRPLUS` linked this inode and nothing has used it since
    /// (as FUSE's `FUSE_I_INIT_RDPLUS`): its first revalidation advises the
    /// parent to keep listing with `READDIRPLUS`.
    pub(super) from_plus: Atomic<u32>,
    pub(super) _pin: PhantomPinned,
}

/// # Safety
///
/// `inode` is an hlfs inode (allocated by [`alloc_inode`]).
pub(super) unsafe fn hi<'a>(inode: *const bindings::inode) -> &'a HlfsInode {
    // SAFETY: `vfs` is the first field of the `repr(C)` `HlfsInode`.
    unsafe { &*inode.cast::<HlfsInode>() }
}

/// `->alloc_inode`.
///
/// # Safety
///
/// Called by the VFS for an hlfs superblock.
pub(super) unsafe extern "C" fn alloc_inode(
    _sb: *mut bindings::super_block,
) -> *mut bindings::inode {
    let init = HlfsInode {
        vfs: Opaque::zeroed(),
        node: Atomic::new(0),
        nlookup: Atomic::new(0),
        attr_until: Atomic::new(0),
        modified: Atomic::new(0),
        writers: core::array::from_fn(|_| Atomic::new(0)),
        advise_plus: Atomic::new(0),
        from_plus: Atomic::new(0),
        _pin: PhantomPinned,
    };
    match KBox::new(init, GFP_KERNEL) {
        Ok(b) => {
            let p = KBox::into_raw(b);
            // SAFETY: `vfs` is a zeroed inode that needs its one-time init.
            unsafe { bindings::inode_init_once((*p).vfs.get()) };
            p.cast()
        }
        Err(_) => ptr::null_mut(),
    }
}

/// # Safety
///
/// Called by the VFS (after an RCU grace period) with an inode from
/// [`alloc_inode`], once.
pub(super) unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
    // SAFETY: per the function's contract.
    drop(unsafe { KBox::from_raw(inode.cast::<HlfsInode>()) });
}

/// # Safety
///
/// Called by the VFS with an inode being evicted.
pub(super) unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
    // SAFETY: the inode is ours and being evicted.
    unsafe {
        bindings::truncate_inode_pages_final(&mut (*inode).i_data);
        bindings::clear_inode(inode);
    }
    // SAFETY: an hlfs inode of a live superblock (kill_sb evicts first).
    let (h, fs, sb_flags) = unsafe { (hi(inode), fs_of_inode(inode), (*(*inode).i_sb).s_flags) };
    let n = h.nlookup.load(Relaxed);
    // Unmounting: the host drops the mount's whole node table at `Umount`
    // (kill_sb), so, as FUSE skips FORGET then, the inodes evicted on the
    // way need no call each (a walk may have cached hundreds of thousands).
    if n > 0 && sb_flags & SB_ACTIVE != 0 {
        let _ = fs.client.forget(h.node.load(Relaxed), n);
    }
}

/// `iget5_locked()` test: the inode of node `*data`.
///
/// # Safety
///
/// `inode` is an hlfs inode and `data` points to a node handle (`iget`).
pub(super) unsafe extern "C" fn iget_test(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: `data` points to the node handle; `inode` is an hlfs inode.
    c_int::from(unsafe { hi(inode).node.load(Relaxed) == *data.cast::<u64>() })
}

/// `iget5_locked()` set: a new inode for node `*data`.
///
/// # Safety
///
/// As for [`iget_test`]; the inode is new (`I_NEW`).
pub(super) unsafe extern "C" fn iget_set(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: as for `iget_test`; the inode is new (I_NEW) and ours.
    unsafe { hi(inode).node.store(*data.cast::<u64>(), Relaxed) };
    0
}

/// The inode of `entry`, new or cached, with one more lookup counted.
///
/// # Safety
///
/// `sb` is a live hlfs superblock.
pub(super) unsafe fn iget(
    sb: *mut bindings::super_block,
    entry: &Entry,
    since: u64,
) -> Result<*mut bindings::inode> {
    let mut node = entry.node;
    // SAFETY: the callbacks match the data we pass.
    let inode = unsafe {
        bindings::iget5_locked(
            sb,
            entry.node,
            Some(iget_test),
            Some(iget_set),
            ptr::from_mut(&mut node).cast(),
        )
    };
    if inode.is_null() {
        // The host counted the lookup; give it back.
        // SAFETY: `sb` is live.
        let _ = unsafe { fs_of(sb) }.client.forget(entry.node, 1);
        return Err(ENOMEM);
    }
    // SAFETY: an hlfs inode we hold a reference on.
    let h = unsafe { hi(inode) };
    h.nlookup.fetch_add(1, Relaxed);
    // SAFETY: `i_state` is read as `iget5_locked()`'s callers do.
    let new = unsafe { raw::hlfs_inode_is_new(inode) };
    if new {
        // SAFETY: the new inode is locked and ours to set up.
        unsafe {
            init_inode(inode, &entry.attr);
            bindings::unlock_new_inode(inode);
        }
    } else {
        // SAFETY: a live, referenced inode.
        unsafe { apply_attr(inode, &entry.attr, since) };
    }
    Ok(inode)
}

pub(super) const S_IFMT: u32 = 0o170000;
pub(super) const S_IFREG: u32 = 0o100000;
pub(super) const S_IFDIR: u32 = 0o040000;
pub(super) const S_IFLNK: u32 = 0o120000;

/// Sets up a new inode's type, operations and attributes.
///
/// # Safety
///
/// `inode` is new (`I_NEW`), locked and ours.
pub(super) unsafe fn init_inode(inode: *mut bindings::inode, attr: &HlfsAttr) {
    // SAFETY: per the function's contract.
    unsafe {
        (*inode).i_ino = attr.ino;
        (*inode).i_mode = attr.mode as u16;
        match attr.mode & S_IFMT {
            S_IFREG => {
                (*inode).i_op = &FILE_IOPS;
                (*inode).__bindgen_anon_3.i_fop = &FILE_FOPS.0;
                (*inode).i_data.a_ops = &AOPS;
                // Large folios: a fraction of the per-page work of the page
                // cache and of writeback, and fewer segments per host call.
                raw::hlfs_mapping_set_max_order(&mut (*inode).i_data, MAX_FOLIO_ORDER);
            }
            S_IFDIR => {
                (*inode).i_op = &DIR_IOPS;
                (*inode).__bindgen_anon_3.i_fop = &DIR_FOPS.0;
            }
            S_IFLNK => {
                (*inode).i_op = &LINK_IOPS;
            }
            _ => {
                (*inode).i_op = &SPECIAL_IOPS;
                // FIFOs, sockets and device nodes work in the guest, as on
                // NFS: a device node names the guest's own device.
                bindings::init_special_inode(
                    inode,
                    attr.mode as u16,
                    raw::hlfs_decode_dev(attr.rdev),
                );
            }
        }
        // A new inode has no local changes.
        apply_attr(inode, attr, u64::MAX);
    }
}

/// The mount's attribute version now. A caller takes it before a request
/// whose reply carries attributes, and hands it to [`apply_attr`].
pub(super) fn attr_version(fs: &Fs) -> u64 {
    fs.attr_version.load(Acquire)
}

/// Records a local change to the inode's size or data: a write into the
/// page cache, written-back or direct data reaching the host, a truncation.
/// A reply the host computed before it (its size and mtime older than the
/// guest's) must not be applied after it; as FUSE's `attr_version`.
///
/// # Safety
///
/// `inode` is a live hlfs inode.
pub(super) unsafe fn stamp(inode: *const bindings::inode) {
    // SAFETY: per the function's contract.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    let v = fs.attr_version.fetch_add(1, Full).wrapping_add(1);
    let mut cur = h.modified.load(Relaxed);
    // Concurrent stamps: the latest wins.
    while cur < v {
        match h.modified.cmpxchg(cur, v, Full) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
}

/// Takes a reply's attributes into the inode and restarts its attribute
/// timeout. Changes on the host (size or mtime) drop the cached pages. The
/// size and times are left alone while local writes are pending, which the
/// host has not seen yet, and when the inode changed locally after
/// `since` (the [`attr_version`] taken before the request): the reply is
/// older than the guest's own state then.
///
/// # Safety
///
/// `inode` is a live hlfs inode.
pub(super) unsafe fn apply_attr(inode: *mut bindings::inode, attr: &HlfsAttr, since: u64) {
    // SAFETY: per the function's contract.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    // SAFETY: as above.
    if (attr.mode & S_IFMT) != u32::from(unsafe { (*inode).i_mode }) & S_IFMT {
        // The host replaced the file with one of another type: stale.
        return;
    }
    // SAFETY: plain field and helper updates on a live inode.
    unsafe {
        let mapping = ptr::from_mut(&mut (*inode).i_data);
        let dirty = raw::hlfs_mapping_dirty(mapping) || h.modified.load(Acquire) > since;
        let (mut sec, mut nsec) = (0i64, 0u32);
        raw::hlfs_inode_get_mtime(inode, &mut sec, &mut nsec);
        let size = raw::hlfs_i_size_read(inode);
        let changed = sec != attr.mtime.sec || nsec != attr.mtime.nsec || size as u64 != attr.size;
        (*inode).i_mode = attr.mode as u16;
        raw::hlfs_inode_set_ids(inode, attr.uid, attr.gid);
        bindings::set_nlink(inode, attr.nlink);
        (*inode).i_blocks = attr.blocks;
        if !dirty {
            raw::hlfs_i_size_write(inode, attr.size as i64);
            let t = raw::hlfs_times {
                atime_sec: attr.atime.sec,
                mtime_sec: attr.mtime.sec,
                ctime_sec: attr.ctime.sec,
                atime_nsec: attr.atime.nsec,
                mtime_nsec: attr.mtime.nsec,
                ctime_nsec: attr.ctime.nsec,
            };
            raw::hlfs_inode_set_times(inode, &t);
            if changed && fs.opts.cache != CacheMode::Always && attr.mode & S_IFMT == S_IFREG {
                bindings::invalidate_mapping_pages(mapping, 0, usize::MAX);
            }
        }
    }
    let until = now().wrapping_add(fs.opts.attr_timeout_jiffies());
    h.attr_until.store(until, Relaxed);
}

pub(super) fn now() -> u64 {
    // SAFETY: reads the jiffies counter.
    unsafe { raw::hlfs_jiffies() as u64 }
}

/// Whether the inode's attributes are still within their timeout.
pub(super) fn attr_fresh(h: &HlfsInode) -> bool {
    (h.attr_until.load(Relaxed).wrapping_sub(now()) as i64) > 0
}

/// Fetches the attributes again if they have timed out (or `force`).
///
/// # Safety
///
/// `inode` is a live hlfs inode.
pub(super) unsafe fn refresh(inode: *mut bindings::inode, force: bool) -> Result {
    // SAFETY: per the function's contract.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    if !force && attr_fresh(h) {
        return Ok(());
    }
    let since = attr_version(fs);
    let attr = fs.client.getattr(h.node.load(Relaxed))?;
    // SAFETY: per the function's contract.
    unsafe { apply_attr(inode, &attr, since) };
    Ok(())
}

pub(super) static SUPER_OPS: bindings::super_operations = bindings::super_operations {
    alloc_inode: Some(alloc_inode),
    free_inode: Some(free_inode),
    evict_inode: Some(evict_inode),
    statfs: Some(statfs),
    drop_inode: Some(bindings::inode_just_drop),
    ..pin_init::zeroed()
};

/// # Safety
///
/// Called by the VFS with a dentry of an hlfs mount.
pub(super) unsafe extern "C" fn statfs(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    // SAFETY: per the function's contract.
    let (inode, fs) = unsafe {
        let inode = raw::hlfs_d_inode(dentry);
        (inode, fs_of((*dentry).d_sb))
    };
    // SAFETY: the dentry's inode is live.
    let node = unsafe { hi(inode) }.node.load(Relaxed);
    match fs.client.statfs(node) {
        Ok(st) => {
            // SAFETY: `buf` is the caller's to fill.
            unsafe { raw::hlfs_fill_statfs(buf, &st, HLFS_MAGIC) };
            0
        }
        Err(e) => e.to_errno(),
    }
}
