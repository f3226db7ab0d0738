// SPDX-License-Identifier: GPL-2.0

//! VFS layer of guest-hlfs: the only file of the module with `unsafe`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h) (through
//! `kernel::bindings`, so the operation tables are built here in Rust) and
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h),
//! [`include/linux/xattr.h`](srctree/include/linux/xattr.h) (not in the
//! bindings: their tables are in `vfs_glue.c`).
//!
//! What is here:
//! - [`Rpc`] and [`RpcBuf`]: the VMRPC transport (guest-rvmrpc's exported
//!   API) over which [`Client`] speaks the hlfs protocol;
//! - [`Registration`]: the `hlfs` file system type;
//! - the VFS callbacks: super, inode, dentry, file and address-space
//!   operations. Each turns its raw arguments into node handles, byte
//!   slices and attributes, calls the [`Client`], and applies the reply to
//!   the VFS objects with the policy of `hlfs_main.rs` (attribute timeouts,
//!   cache modes, which attributes a reply may change).
//!
//! An hlfs inode embeds the VFS inode in [`HlfsInode`], with its node
//! handle, the lookups the host counted for it (given back with `FORGET`
//! when the inode is evicted), the attribute deadline and the host file
//! handles writeback may use.

use core::marker::{PhantomData, PhantomPinned};
use core::ptr;

use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    prelude::*,
    sync::atomic::{ordering::Relaxed, Atomic},
    types::Opaque,
};
use zerocopy::IntoBytes;

use crate::abi::hlfs::{self as proto, HlfsAttr, HlfsReq, Op};
use crate::api;
use crate::client::{Client, Entry, Piece, IO_PAGES};
use crate::{CacheMode, Options};

mod raw {
    use super::*;

    /// `struct hlfs_times` (vfs_glue.h).
    #[repr(C)]
    pub(super) struct hlfs_times {
        pub(super) atime_sec: i64,
        pub(super) mtime_sec: i64,
        pub(super) ctime_sec: i64,
        pub(super) atime_nsec: u32,
        pub(super) mtime_nsec: u32,
        pub(super) ctime_nsec: u32,
    }

    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn hlfs_init_fs_context(fc: *mut bindings::fs_context) -> c_int;
        pub(super) fn hlfs_fc_error(fc: *mut bindings::fs_context, msg: *const c_char);
        pub(super) fn hlfs_fc_source(fc: *mut bindings::fs_context) -> *const c_char;
        pub(super) fn hlfs_fc_options(fc: *mut bindings::fs_context) -> *mut c_void;
        pub(super) fn hlfs_sb_set_xattr(sb: *mut bindings::super_block);
        pub(super) fn hlfs_i_size_read(inode: *const bindings::inode) -> i64;
        pub(super) fn hlfs_i_size_write(inode: *mut bindings::inode, size: i64);
        pub(super) fn hlfs_inode_set_times(inode: *mut bindings::inode, t: *const hlfs_times);
        pub(super) fn hlfs_inode_get_mtime(
            inode: *const bindings::inode,
            sec: *mut i64,
            nsec: *mut u32,
        );
        pub(super) fn hlfs_inode_set_ids(inode: *mut bindings::inode, uid: u32, gid: u32);
        pub(super) fn hlfs_iattr_ids(attr: *const bindings::iattr, uid: *mut u32, gid: *mut u32);
        pub(super) fn hlfs_d_inode(dentry: *const bindings::dentry) -> *mut bindings::inode;
        pub(super) fn hlfs_d_name(dentry: *const bindings::dentry, len: *mut u32) -> *const u8;
        pub(super) fn hlfs_file_inode(file: *const bindings::file) -> *mut bindings::inode;
        pub(super) fn hlfs_dir_emit(
            ctx: *mut bindings::dir_context,
            name: *const c_char,
            len: c_int,
            ino: u64,
            dtype: c_uint,
        ) -> bool;
        pub(super) fn hlfs_set_link_done(done: *mut bindings::delayed_call, link: *mut c_char);
        pub(super) fn hlfs_folio_address(folio: *mut bindings::folio) -> *mut c_void;
        pub(super) fn hlfs_folio_pos(folio: *const bindings::folio) -> i64;
        pub(super) fn hlfs_folio_size(folio: *const bindings::folio) -> usize;
        pub(super) fn hlfs_folio_test_uptodate(folio: *const bindings::folio) -> bool;
        pub(super) fn hlfs_folio_mark_uptodate(folio: *mut bindings::folio);
        pub(super) fn hlfs_folio_zero_segment(
            folio: *mut bindings::folio,
            start: usize,
            end: usize,
        );
        pub(super) fn hlfs_folio_unlock(folio: *mut bindings::folio);
        pub(super) fn hlfs_folio_put(folio: *mut bindings::folio);
        pub(super) fn hlfs_folio_end_read(folio: *mut bindings::folio, success: bool);
        pub(super) fn hlfs_grab_folio(
            mapping: *mut bindings::address_space,
            pos: i64,
        ) -> *mut bindings::folio;
        pub(super) fn hlfs_readahead_folio(
            rac: *mut bindings::readahead_control,
        ) -> *mut bindings::folio;
        pub(super) fn hlfs_readahead_file(
            rac: *const bindings::readahead_control,
        ) -> *mut bindings::file;
        pub(super) fn hlfs_mapping_host(
            mapping: *const bindings::address_space,
        ) -> *mut bindings::inode;
        pub(super) fn hlfs_mapping_set_error(mapping: *mut bindings::address_space, err: c_int);
        pub(super) fn hlfs_mapping_dirty(mapping: *mut bindings::address_space) -> bool;
        pub(super) fn hlfs_iov_iter_count(iter: *const bindings::iov_iter) -> usize;
        pub(super) fn hlfs_copy_to_iter(
            addr: *const c_void,
            bytes: usize,
            i: *mut bindings::iov_iter,
        ) -> usize;
        pub(super) fn hlfs_copy_from_iter(
            addr: *mut c_void,
            bytes: usize,
            i: *mut bindings::iov_iter,
        ) -> usize;
        pub(super) fn hlfs_file_set_can_odirect(file: *mut bindings::file);
        pub(super) fn hlfs_jiffies() -> c_ulong;
        pub(super) fn hlfs_decode_dev(rdev: u32) -> u32;
        pub(super) fn hlfs_inode_lock(inode: *mut bindings::inode);
        pub(super) fn hlfs_inode_unlock(inode: *mut bindings::inode);
        pub(super) fn hlfs_inode_is_new(inode: *mut bindings::inode) -> bool;
        pub(super) fn hlfs_write_and_wait(mapping: *mut bindings::address_space) -> c_int;
        pub(super) fn hlfs_fill_statfs(
            buf: *mut bindings::kstatfs,
            st: *const proto::HlfsStatfs,
            magic: c_ulong,
        );
        pub(super) fn hlfs_folio_mapping(
            folio: *const bindings::folio,
        ) -> *mut bindings::address_space;
    }
}

// --------------------------------------------------------------------------
// The VMRPC transport.

/// A kernel buffer one call exposes to the host, borrowed for the call.
pub(crate) struct RpcBuf<'a> {
    raw: api::CovmmBuf,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> RpcBuf<'a> {
    fn new(addr: *const u8, len: usize, writable: bool) -> Self {
        Self {
            raw: api::CovmmBuf {
                addr: addr.cast_mut().cast(),
                len,
                writable,
            },
            _borrow: PhantomData,
        }
    }

    /// A name or link target the host reads (1 to 4095 bytes).
    pub(crate) fn name(name: &'a [u8]) -> Result<Self> {
        if name.is_empty() || name.len() > proto::SYMLINK_MAX {
            return Err(ENAMETOOLONG);
        }
        Ok(Self::new(name.as_ptr(), name.len(), false))
    }

    /// An extended attribute name (1 to 255 bytes).
    pub(crate) fn xattr_name(name: &'a [u8]) -> Result<Self> {
        if name.is_empty() || name.len() > proto::XATTR_NAME_MAX {
            return Err(ERANGE);
        }
        Ok(Self::new(name.as_ptr(), name.len(), false))
    }

    /// Data the host reads.
    pub(crate) fn data_in(data: &'a [u8]) -> Self {
        Self::new(data.as_ptr(), data.len(), false)
    }

    /// Room the host writes.
    pub(crate) fn data_out(data: &'a mut [u8]) -> Self {
        Self::new(data.as_mut_ptr(), data.len(), true)
    }

    /// A `READ`/`WRITE` vector.
    pub(crate) fn iov(iov: &'a [proto::HlfsIov]) -> Self {
        let bytes = iov.as_bytes();
        Self::new(bytes.as_ptr(), bytes.len(), false)
    }

    /// Its guest (kernel virtual) address, as the host names it.
    pub(crate) fn addr(&self) -> u64 {
        self.raw.addr as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len
    }

    /// Points a request's name fields at this buffer.
    pub(crate) fn point(&self, addr: &mut u64, len: &mut u32) {
        *addr = self.addr();
        // Names are at most 4095 bytes.
        *len = self.raw.len as u32;
    }

    /// Points a request's data fields at this buffer.
    pub(crate) fn point_data(&self, addr: &mut u64, len: &mut u64) {
        *addr = self.addr();
        *len = self.raw.len as u64;
    }
}

/// A binding to the host's hlfs server; unbound on drop.
pub(crate) struct Rpc {
    handle: u64,
}

impl Rpc {
    pub(crate) fn bind(name: &[u8], version: u32) -> Result<Self> {
        let mut cname = [0u8; 32];
        cname
            .get_mut(..name.len())
            .ok_or(EINVAL)?
            .copy_from_slice(name);
        let mut handle = 0;
        // SAFETY: `cname` is NUL-terminated (its tail stays 0); `handle` is
        // a valid out-pointer.
        to_result(unsafe { api::covmm_vmrpc_bind(cname.as_ptr().cast(), version, &mut handle) })?;
        Ok(Self { handle })
    }

    /// Calls `op` with `req` (written back with the reply) and `bufs`.
    pub(crate) fn call(&self, op: Op, req: &mut HlfsReq, bufs: &[RpcBuf<'_>]) -> Result<i64> {
        let mut all = KVec::with_capacity(bufs.len() + 1, GFP_KERNEL)?;
        let head = req.as_mut_bytes();
        all.push(
            api::CovmmBuf {
                addr: head.as_mut_ptr().cast(),
                len: head.len(),
                writable: true,
            },
            GFP_KERNEL,
        )?;
        for b in bufs {
            all.push(
                api::CovmmBuf {
                    addr: b.raw.addr,
                    len: b.raw.len,
                    writable: b.raw.writable,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: every buffer is borrowed (`req` mutably, the others for
        // `'_`) until the call returns, writable only where it says so.
        let r: c_long = unsafe {
            api::covmm_vmrpc_perform(self.handle, op as u32, all.as_ptr(), all.len() as c_uint)
        };
        let r = r as i64;
        if r < 0 {
            // Results are a value or a negated errno (-4095..=-1).
            return Err(Error::from_errno(r.max(-4095) as i32));
        }
        Ok(r)
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        // SAFETY: the handle came from `covmm_vmrpc_bind`.
        unsafe { api::covmm_vmrpc_unbind(self.handle) };
    }
}

// --------------------------------------------------------------------------
// The file system type.

/// A registered file system type.
///
/// # Invariants
///
/// `fst` is registered with the VFS from construction until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    #[pin]
    fst: Opaque<bindings::file_system_type>,
}

// SAFETY: the VFS accesses the registered type under its own locking; this
// value only unregisters it, which may happen from any thread.
unsafe impl Send for Registration {}
// SAFETY: no method reads `fst` through a shared reference.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers file system type `name`, owned by `module`.
    pub(crate) fn new(
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            fst <- Opaque::try_ffi_init(move |slot: *mut bindings::file_system_type| {
                // SAFETY: `slot` is valid for writes; the name and module live
                // as long as the module does.
                unsafe {
                    slot.write(bindings::file_system_type {
                        name: name.as_char_ptr(),
                        owner: module.as_ptr(),
                        init_fs_context: Some(raw::hlfs_init_fs_context),
                        kill_sb: Some(kill_sb),
                        ..pin_init::zeroed()
                    })
                };
                // INVARIANT: registered on success; on failure nothing is.
                // SAFETY: `slot` is pinned and fully initialised.
                to_result(unsafe { bindings::register_filesystem(slot) })
            }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered by the type invariant. The module cannot be
        // unloaded while a superblock exists (the VFS holds `owner`).
        unsafe { bindings::unregister_filesystem(self.fst.get()) };
    }
}

// --------------------------------------------------------------------------
// Mount options and the superblock.

/// `fc->fs_private`: a new `Options`.
#[no_mangle]
extern "C" fn hlfs_rs_new_options() -> *mut c_void {
    match KBox::new(Options::default(), GFP_KERNEL) {
        Ok(b) => KBox::into_raw(b).cast(),
        Err(_) => ptr::null_mut(),
    }
}

/// # Safety
///
/// `options` came from [`hlfs_rs_new_options`] and is not used again.
#[no_mangle]
unsafe extern "C" fn hlfs_rs_free_options(options: *mut c_void) {
    if !options.is_null() {
        // SAFETY: per the function's contract.
        drop(unsafe { KBox::from_raw(options.cast::<Options>()) });
    }
}

/// # Safety
///
/// `options` came from [`hlfs_rs_new_options`] and is live.
#[no_mangle]
unsafe extern "C" fn hlfs_rs_set_option(options: *mut c_void, cache: bool, value: u32) -> c_int {
    // SAFETY: per the function's contract; the fs_context is not shared.
    let options = unsafe { &mut *options.cast::<Options>() };
    match options.set(cache, value) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// What `sb->s_fs_info` holds.
pub(crate) struct Fs {
    client: Client,
    opts: Options,
}

/// The superblock's `Fs`.
///
/// # Safety
///
/// `sb` is an hlfs superblock whose `s_fs_info` was set by fill_super.
unsafe fn fs_of<'a>(sb: *const bindings::super_block) -> &'a Fs {
    // SAFETY: per the function's contract, `s_fs_info` is our `Fs`, which
    // lives until kill_sb.
    unsafe { &*(*sb).s_fs_info.cast::<Fs>() }
}

/// # Safety
///
/// `inode` is an hlfs inode.
unsafe fn fs_of_inode<'a>(inode: *const bindings::inode) -> &'a Fs {
    // SAFETY: an hlfs inode belongs to an hlfs superblock.
    unsafe { fs_of((*inode).i_sb) }
}

const HLFS_MAGIC: c_ulong = 0x484c_4653; // "HLFS"
/// `SB_RDONLY` (include/linux/fs/super_types.h).
const SB_RDONLY: c_ulong = 1;
/// `SB_ACTIVE` (include/linux/fs/super_types.h): cleared when unmounting.
const SB_ACTIVE: c_ulong = 1 << 30;

/// # Safety
///
/// Called by `get_tree_nodev()` with a new superblock and our context.
#[no_mangle]
unsafe extern "C" fn hlfs_rs_fill_super(
    sb: *mut bindings::super_block,
    fc: *mut bindings::fs_context,
) -> c_int {
    // SAFETY: per the function's contract.
    let (src, opts) = unsafe {
        (
            raw::hlfs_fc_source(fc),
            &*raw::hlfs_fc_options(fc).cast::<Options>(),
        )
    };
    let fail = |msg: &CStr, err: Error| {
        // SAFETY: `fc` is live; the format is "%s".
        unsafe { raw::hlfs_fc_error(fc, msg.as_char_ptr()) };
        err.to_errno()
    };
    if src.is_null() {
        return fail(c"hlfs: no export tag given (mount -t hlfs TAG DIR)", EINVAL);
    }
    // SAFETY: a non-null source is a NUL-terminated string of the context.
    let tag = unsafe { CStr::from_char_ptr(src) }.to_bytes();
    if !proto::valid_tag(tag) {
        return fail(c"hlfs: an export tag is 1 to 63 of [A-Za-z0-9_.-]", EINVAL);
    }
    let (client, root, read_only) = match Client::mount(tag) {
        Ok(m) => m,
        Err(e) if e == ENOENT => return fail(c"hlfs: the host exports no such tag to this VM", e),
        Err(e) if e == ENODEV => {
            return fail(
                c"hlfs: the host runs no host-vmrpc, or guest-rvmrpc is not loaded",
                e,
            )
        }
        Err(e) => return fail(c"hlfs: the host refused the mount", e),
    };
    let fs = match KBox::new(
        Fs {
            client,
            opts: *opts,
        },
        GFP_KERNEL,
    ) {
        Ok(fs) => fs,
        Err(_) => return ENOMEM.to_errno(),
    };
    // Without a bdi of its own the superblock has the no-op one, which does
    // no writeback: dirty pages would never reach the host.
    // SAFETY: the superblock is new and ours until fill_super returns.
    let r = unsafe { bindings::super_setup_bdi(sb) };
    if r != 0 {
        return r;
    }
    // SAFETY: as above.
    unsafe {
        (*sb).s_fs_info = KBox::into_raw(fs).cast();
        (*sb).s_magic = HLFS_MAGIC;
        (*sb).s_op = &SUPER_OPS;
        bindings::set_default_d_op(sb, &DENTRY_OPS);
        (*sb).s_maxbytes = i64::MAX;
        (*sb).s_blocksize = 4096;
        (*sb).s_blocksize_bits = 12;
        (*sb).s_time_gran = 1;
        if read_only {
            (*sb).s_flags |= SB_RDONLY;
        }
        raw::hlfs_sb_set_xattr(sb);
    }
    // SAFETY: the superblock is set up.
    let inode = match unsafe { iget(sb, &root) } {
        Ok(i) => i,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `inode` is a referenced inode; d_make_root consumes it.
    let root = unsafe { bindings::d_make_root(inode) };
    if root.is_null() {
        return ENOMEM.to_errno();
    }
    // SAFETY: as above.
    unsafe { (*sb).s_root = root };
    0
}

/// `->kill_sb`: the VFS tears the superblock down (evicting inodes, which
/// gives their lookups back), then the mount goes on the host.
///
/// # Safety
///
/// Called by the VFS once per hlfs superblock.
unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
    // SAFETY: per the function's contract.
    let info = unsafe { (*sb).s_fs_info.cast::<Fs>() };
    // SAFETY: the superblock is ours to kill.
    unsafe { bindings::kill_anon_super(sb) };
    if !info.is_null() {
        // SAFETY: set by fill_super from `KBox::into_raw`; nothing uses it
        // once the superblock is gone.
        let fs = unsafe { KBox::from_raw(info) };
        let _ = fs.client.umount();
    }
}

// --------------------------------------------------------------------------
// Inodes.

/// Writable host file handles writeback may use, per inode.
const WRITERS: usize = 8;

/// An hlfs inode: the VFS inode and what hlfs keeps with it.
#[repr(C)]
pub(crate) struct HlfsInode {
    vfs: Opaque<bindings::inode>,
    /// The host's node handle (set before the inode is published).
    node: Atomic<u64>,
    /// Lookups the host counted for this node; given back at eviction.
    nlookup: Atomic<u64>,
    /// Jiffies until which the attributes are trusted.
    attr_until: Atomic<u64>,
    /// Open writable host handles, for writeback (0: free).
    writers: [Atomic<u64>; WRITERS],
    _pin: PhantomPinned,
}

/// # Safety
///
/// `inode` is an hlfs inode (allocated by [`alloc_inode`]).
unsafe fn hi<'a>(inode: *const bindings::inode) -> &'a HlfsInode {
    // SAFETY: `vfs` is the first field of the `repr(C)` `HlfsInode`.
    unsafe { &*inode.cast::<HlfsInode>() }
}

/// `->alloc_inode`.
///
/// # Safety
///
/// Called by the VFS for an hlfs superblock.
unsafe extern "C" fn alloc_inode(_sb: *mut bindings::super_block) -> *mut bindings::inode {
    let init = HlfsInode {
        vfs: Opaque::zeroed(),
        node: Atomic::new(0),
        nlookup: Atomic::new(0),
        attr_until: Atomic::new(0),
        writers: core::array::from_fn(|_| Atomic::new(0)),
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
unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
    // SAFETY: per the function's contract.
    drop(unsafe { KBox::from_raw(inode.cast::<HlfsInode>()) });
}

/// # Safety
///
/// Called by the VFS with an inode being evicted.
unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
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
unsafe extern "C" fn iget_test(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: `data` points to the node handle; `inode` is an hlfs inode.
    c_int::from(unsafe { hi(inode).node.load(Relaxed) == *data.cast::<u64>() })
}

/// `iget5_locked()` set: a new inode for node `*data`.
///
/// # Safety
///
/// As for [`iget_test`]; the inode is new (`I_NEW`).
unsafe extern "C" fn iget_set(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: as for `iget_test`; the inode is new (I_NEW) and ours.
    unsafe { hi(inode).node.store(*data.cast::<u64>(), Relaxed) };
    0
}

/// The inode of `entry`, new or cached, with one more lookup counted.
///
/// # Safety
///
/// `sb` is a live hlfs superblock.
unsafe fn iget(sb: *mut bindings::super_block, entry: &Entry) -> Result<*mut bindings::inode> {
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
        unsafe { apply_attr(inode, &entry.attr) };
    }
    Ok(inode)
}

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// Sets up a new inode's type, operations and attributes.
///
/// # Safety
///
/// `inode` is new (`I_NEW`), locked and ours.
unsafe fn init_inode(inode: *mut bindings::inode, attr: &HlfsAttr) {
    // SAFETY: per the function's contract.
    unsafe {
        (*inode).i_ino = attr.ino;
        (*inode).i_mode = attr.mode as u16;
        match attr.mode & S_IFMT {
            S_IFREG => {
                (*inode).i_op = &FILE_IOPS;
                (*inode).__bindgen_anon_3.i_fop = &FILE_FOPS.0;
                (*inode).i_data.a_ops = &AOPS;
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
        apply_attr(inode, attr);
    }
}

/// Takes a reply's attributes into the inode and restarts its attribute
/// timeout. Changes on the host (size or mtime) drop the cached pages,
/// unless local writes are pending, which the host has not seen yet.
///
/// # Safety
///
/// `inode` is a live hlfs inode.
unsafe fn apply_attr(inode: *mut bindings::inode, attr: &HlfsAttr) {
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
        let dirty = raw::hlfs_mapping_dirty(mapping);
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

fn now() -> u64 {
    // SAFETY: reads the jiffies counter.
    unsafe { raw::hlfs_jiffies() as u64 }
}

/// Whether the inode's attributes are still within their timeout.
fn attr_fresh(h: &HlfsInode) -> bool {
    (h.attr_until.load(Relaxed).wrapping_sub(now()) as i64) > 0
}

/// Fetches the attributes again if they have timed out (or `force`).
///
/// # Safety
///
/// `inode` is a live hlfs inode.
unsafe fn refresh(inode: *mut bindings::inode, force: bool) -> Result {
    // SAFETY: per the function's contract.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    if !force && attr_fresh(h) {
        return Ok(());
    }
    let attr = fs.client.getattr(h.node.load(Relaxed))?;
    // SAFETY: per the function's contract.
    unsafe { apply_attr(inode, &attr) };
    Ok(())
}

static SUPER_OPS: bindings::super_operations = bindings::super_operations {
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
unsafe extern "C" fn statfs(dentry: *mut bindings::dentry, buf: *mut bindings::kstatfs) -> c_int {
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

// --------------------------------------------------------------------------
// Dentries.

static DENTRY_OPS: bindings::dentry_operations = bindings::dentry_operations {
    d_revalidate: Some(d_revalidate),
    ..pin_init::zeroed()
};

/// `LOOKUP_RCU` (include/linux/namei.h).
const LOOKUP_RCU: c_uint = 1 << 8;

/// A cached name is trusted for the attribute timeout; then it is looked up
/// again, and dropped if the host's name now means another node.
///
/// # Safety
///
/// Called by the VFS with a dentry of an hlfs mount and its parent.
unsafe extern "C" fn d_revalidate(
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
    match fs.client.lookup(dnode, name) {
        Ok(e) if e.node == h.node.load(Relaxed) => {
            // The host counted one more lookup of a node we hold.
            h.nlookup.fetch_add(1, Relaxed);
            // SAFETY: a live hlfs inode.
            unsafe { apply_attr(inode, &e.attr) };
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

// --------------------------------------------------------------------------
// Names: lookup and the operations that make or remove them.

/// The name of `dentry`.
///
/// # Safety
///
/// `dentry` is live and its name stable (its parent is locked).
unsafe fn dname<'a>(dentry: *const bindings::dentry) -> &'a [u8] {
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
unsafe extern "C" fn lookup(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    _flags: c_uint,
) -> *mut bindings::dentry {
    // SAFETY: per the function's contract.
    let (fs, node, name) = unsafe { (fs_of_inode(dir), hi(dir).node.load(Relaxed), dname(dentry)) };
    let inode = match fs.client.lookup(node, name) {
        // SAFETY: the superblock is live.
        Ok(e) => match unsafe { iget((*dir).i_sb, &e) } {
            Ok(i) => i,
            Err(e) => return e.to_ptr(),
        },
        Err(e) if e == ENOENT => ptr::null_mut(),
        Err(e) => return e.to_ptr(),
    };
    // SAFETY: `inode` is null or referenced; d_splice_alias takes it.
    unsafe { bindings::d_splice_alias(inode, dentry) }
}

/// Instantiates `dentry` with what the host made.
///
/// # Safety
///
/// `dir` is a locked hlfs directory and `dentry` a negative dentry in it.
unsafe fn instantiate(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    entry: Result<Entry>,
) -> c_int {
    let inode = match entry {
        // SAFETY: per the function's contract.
        Ok(e) => match unsafe { iget((*dir).i_sb, &e) } {
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
unsafe extern "C" fn create(
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
unsafe extern "C" fn mkdir(
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
unsafe extern "C" fn mknod(
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
unsafe extern "C" fn symlink(
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
unsafe extern "C" fn link(
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
                apply_attr(inode, &e.attr);
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
unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: per the function's contract.
    unsafe { remove(dir, dentry, Op::Unlink) }
}

/// # Safety
///
/// As for [`unlink`].
unsafe extern "C" fn rmdir(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: per the function's contract.
    unsafe { remove(dir, dentry, Op::Rmdir) }
}

/// # Safety
///
/// As for [`unlink`].
unsafe fn remove(dir: *mut bindings::inode, dentry: *mut bindings::dentry, op: Op) -> c_int {
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

const RENAME_NOREPLACE: c_uint = 1;
const RENAME_EXCHANGE: c_uint = 2;

/// # Safety
///
/// Called by the VFS with locked hlfs directories and dentries in them.
unsafe extern "C" fn rename(
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

// --------------------------------------------------------------------------
// Attributes.

/// # Safety
///
/// Called by the VFS with a path on an hlfs mount and a `kstat` to fill.
unsafe extern "C" fn getattr(
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
unsafe extern "C" fn setattr(
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
    match fs.client.setattr(h.node.load(Relaxed), fh, req) {
        Ok(attr) => {
            // SAFETY: a live inode; the size change is applied locally too.
            unsafe {
                if v & bindings::ATTR_SIZE != 0 {
                    bindings::truncate_setsize(inode, a.ia_size);
                }
                apply_attr(inode, &attr);
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with an hlfs dentry and a buffer of `size` bytes.
unsafe extern "C" fn listxattr(
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
unsafe extern "C" fn hlfs_rs_xattr_get(
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
unsafe extern "C" fn hlfs_rs_xattr_set(
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
unsafe extern "C" fn get_link(
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

static DIR_IOPS: bindings::inode_operations = bindings::inode_operations {
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

static FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

static LINK_IOPS: bindings::inode_operations = bindings::inode_operations {
    get_link: Some(get_link),
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

static SPECIAL_IOPS: bindings::inode_operations = bindings::inode_operations {
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    ..pin_init::zeroed()
};

// --------------------------------------------------------------------------
// Open files.

const O_ACCMODE: u32 = 0o3;
const O_RDWR: u32 = 0o2;
const O_EXCL: u32 = 0o200;
const O_DIRECTORY: u32 = 0o200000;
const O_WRONLY: u32 = 0o1;
/// What of a guest file's flags the host is told at open: appends and
/// direct I/O are the guest's business (the host writes at the offsets the
/// guest gives, through its own page cache).
const O_PASSED: u32 = O_ACCMODE | 0o4010000 /* O_SYNC */;

/// `file->private_data`: the host's handle of the open file.
pub(crate) struct OpenFile {
    fh: u64,
    writable: bool,
    /// The host handle may read (not opened write-only).
    readable: bool,
}

/// # Safety
///
/// `file` is an open hlfs file.
unsafe fn open_file<'a>(file: *const bindings::file) -> Option<&'a OpenFile> {
    // SAFETY: per the function's contract, `private_data` is NULL or ours.
    unsafe { (*file).private_data.cast::<OpenFile>().as_ref() }
}

/// # Safety
///
/// Called by the VFS with an hlfs inode and its new open file.
unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
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
unsafe extern "C" fn release(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
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
unsafe extern "C" fn flush(file: *mut bindings::file, _id: *mut c_void) -> c_int {
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
unsafe extern "C" fn fsync(
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
unsafe extern "C" fn fallocate(
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
    match fs
        .client
        .fallocate(of.fh, mode as u32, offset as u64, len as u64)
    {
        Ok(attr) => {
            // SAFETY: a live inode.
            unsafe {
                bindings::truncate_pagecache_range(inode, offset, offset.saturating_add(len) - 1);
                apply_attr(inode, &attr);
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
unsafe fn direct_io(
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
                    unsafe { apply_attr(inode, &attr) };
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
        }
    }
    done as isize
}

const IOCB_DIRECT: c_int = bindings::IOCB_DIRECT as c_int;
/// `IOCB_APPEND` (`RWF_APPEND`, include/uapi/linux/fs.h).
const IOCB_APPEND: c_int = 0x10;

/// # Safety
///
/// Called by the VFS with a kiocb on an open hlfs file.
unsafe extern "C" fn read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
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
unsafe extern "C" fn write_iter(
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
unsafe extern "C" fn iterate_shared(
    file: *mut bindings::file,
    ctx: *mut bindings::dir_context,
) -> c_int {
    // SAFETY: per the function's contract.
    let (inode, of) = unsafe { (raw::hlfs_file_inode(file), open_file(file)) };
    let Some(of) = of else {
        return EBADF.to_errno();
    };
    // SAFETY: a live inode.
    let fs = unsafe { fs_of_inode(inode) };
    let mut buf = match KVVec::from_elem(0u8, 32 << 10, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    loop {
        // The position is the host's cookie, so telldir/seekdir hold.
        // SAFETY: `ctx` is the caller's.
        let pos = unsafe { (*ctx).pos };
        let n = match fs.client.readdir(of.fh, pos as u64, &mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) => return e.to_errno(),
        };
        for rec in proto::dirents(&buf[..n]) {
            let Ok((head, name)) = rec else {
                return EIO.to_errno();
            };
            // SAFETY: `ctx` is the caller's; the name is valid.
            let more = unsafe {
                raw::hlfs_dir_emit(
                    ctx,
                    name.as_ptr().cast(),
                    name.len() as c_int,
                    head.ino,
                    c_uint::from(head.dtype),
                )
            };
            if !more {
                return 0;
            }
            // SAFETY: as above.
            unsafe { (*ctx).pos = head.next as i64 };
        }
    }
}

/// An operations table in a `static`. `file_operations` holds a raw
/// `owner` pointer (left NULL here), which makes it `!Sync`.
#[repr(transparent)]
struct Fops(bindings::file_operations);

// SAFETY: the table is immutable, and its only pointer (`owner`) is NULL.
unsafe impl Sync for Fops {}

static FILE_FOPS: Fops = Fops(bindings::file_operations {
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

static DIR_FOPS: Fops = Fops(bindings::file_operations {
    llseek: Some(bindings::generic_file_llseek),
    read: Some(bindings::generic_read_dir),
    iterate_shared: Some(iterate_shared),
    open: Some(open),
    release: Some(release),
    ..pin_init::zeroed()
});

// --------------------------------------------------------------------------
// The page cache.

/// A locked folio's memory.
///
/// # Safety
///
/// `folio` is locked (or under writeback) and ours for `'a`.
unsafe fn folio_bytes<'a>(folio: *mut bindings::folio) -> &'a mut [u8] {
    // SAFETY: per the function's contract; 64-bit kernels map all folios.
    unsafe {
        core::slice::from_raw_parts_mut(
            raw::hlfs_folio_address(folio).cast::<u8>(),
            raw::hlfs_folio_size(folio),
        )
    }
}

/// A host handle to read `inode` with: the file's, or a fresh one that
/// `OwnedFh` releases.
struct ReadFh<'a> {
    fs: &'a Fs,
    fh: u64,
    owned: bool,
}

impl Drop for ReadFh<'_> {
    fn drop(&mut self) {
        if self.owned {
            let _ = self.fs.client.release(self.fh);
        }
    }
}

/// # Safety
///
/// `file` is NULL or an open hlfs file; `inode` a live hlfs inode.
unsafe fn read_fh<'a>(
    file: *const bindings::file,
    inode: *const bindings::inode,
) -> Result<ReadFh<'a>> {
    // SAFETY: per the function's contract.
    let fs = unsafe { fs_of_inode(inode) };
    // SAFETY: as above.
    if let Some(of) = (!file.is_null())
        // SAFETY: a non-null `file` is an open hlfs file.
        .then(|| unsafe { open_file(file) })
        .flatten()
    {
        if of.readable {
            return Ok(ReadFh {
                fs,
                fh: of.fh,
                owned: false,
            });
        }
    }
    // SAFETY: a live hlfs inode.
    let fh = fs.client.open(unsafe { hi(inode) }.node.load(Relaxed), 0)?;
    Ok(ReadFh {
        fs,
        fh,
        owned: true,
    })
}

/// Fills locked folios `folios` (consecutive, from `pos`) from the host,
/// zeroing what lies past the end of the file, and ends their reads.
///
/// # Safety
///
/// The folios are locked, consecutive, not uptodate, and ours to end.
unsafe fn fill_folios(fh: &ReadFh<'_>, pos: i64, folios: &[*mut bindings::folio]) {
    let mut pieces: KVec<Piece<'_>> = KVec::new();
    for &f in folios {
        // SAFETY: per the function's contract.
        if pieces.push(unsafe { folio_bytes(f) }, GFP_KERNEL).is_err() {
            break;
        }
    }
    let ok = pieces.len() == folios.len();
    let got = if ok {
        fh.fs
            .client
            .io(fh.fh, pos as u64, &mut pieces, false)
            .map(|(n, _)| n)
    } else {
        Err(ENOMEM)
    };
    drop(pieces);
    let mut at = 0usize;
    for &f in folios {
        // SAFETY: per the function's contract.
        let size = unsafe { raw::hlfs_folio_size(f) };
        let success = match got {
            Ok(n) => {
                if n < at + size {
                    // Past the end of the file: zeroes.
                    let from = n.saturating_sub(at).min(size);
                    // SAFETY: the folio is locked.
                    unsafe { raw::hlfs_folio_zero_segment(f, from, size) };
                }
                true
            }
            Err(_) => false,
        };
        // SAFETY: marks uptodate (on success) and unlocks.
        unsafe { raw::hlfs_folio_end_read(f, success) };
        at += size;
    }
}

/// # Safety
///
/// Called by the VFS with a locked folio of an hlfs file.
unsafe extern "C" fn read_folio(file: *mut bindings::file, folio: *mut bindings::folio) -> c_int {
    // SAFETY: per the function's contract.
    let inode = unsafe { raw::hlfs_mapping_host(raw::hlfs_folio_mapping(folio)) };
    // SAFETY: as above.
    let fh = match unsafe { read_fh(file, inode) } {
        Ok(fh) => fh,
        Err(e) => {
            // SAFETY: the folio is ours to end.
            unsafe { raw::hlfs_folio_end_read(folio, false) };
            return e.to_errno();
        }
    };
    // SAFETY: as above.
    unsafe { fill_folios(&fh, raw::hlfs_folio_pos(folio), &[folio]) };
    0
}

/// Reads ahead in batches of up to `IO_PAGES` pages per host call.
///
/// # Safety
///
/// Called by the VFS with a readahead request on an hlfs file.
unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
    // SAFETY: per the function's contract.
    let (file, inode) = unsafe {
        (
            raw::hlfs_readahead_file(rac),
            raw::hlfs_mapping_host((*rac).mapping),
        )
    };
    // SAFETY: as above.
    let fh = unsafe { read_fh(file, inode) };
    let mut batch: KVec<*mut bindings::folio> = KVec::new();
    let mut pages = 0usize;
    let mut start = 0i64;
    loop {
        // SAFETY: each folio comes locked and referenced for us to fill.
        let folio = unsafe { raw::hlfs_readahead_folio(rac) };
        let flush = folio.is_null() || pages >= IO_PAGES;
        if flush && !batch.is_empty() {
            match &fh {
                // SAFETY: the batch's folios are locked and consecutive.
                Ok(fh) => unsafe { fill_folios(fh, start, &batch) },
                Err(_) => {
                    for &f in batch.iter() {
                        // SAFETY: ours to end.
                        unsafe { raw::hlfs_folio_end_read(f, false) };
                    }
                }
            }
            batch.clear();
            pages = 0;
        }
        if folio.is_null() {
            break;
        }
        if batch.is_empty() {
            // SAFETY: a locked folio.
            start = unsafe { raw::hlfs_folio_pos(folio) };
        }
        if batch.push(folio, GFP_KERNEL).is_err() {
            // SAFETY: ours to end.
            unsafe { raw::hlfs_folio_end_read(folio, false) };
            continue;
        }
        // SAFETY: a locked folio.
        pages += unsafe { raw::hlfs_folio_size(folio) } / 4096;
    }
}

/// # Safety
///
/// Called by the VFS to write to `mapping` of an hlfs file.
unsafe extern "C" fn write_begin(
    iocb: *const bindings::kiocb,
    mapping: *mut bindings::address_space,
    pos: i64,
    len: c_uint,
    foliop: *mut *mut bindings::folio,
    _fsdata: *mut *mut c_void,
) -> c_int {
    // SAFETY: per the function's contract.
    let folio = match from_err_ptr(unsafe { raw::hlfs_grab_folio(mapping, pos) }) {
        Ok(f) => f,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: the folio is locked and referenced for us.
    unsafe {
        if !raw::hlfs_folio_test_uptodate(folio) {
            let fpos = raw::hlfs_folio_pos(folio);
            let size = raw::hlfs_folio_size(folio);
            let inode = raw::hlfs_mapping_host(mapping);
            let isize = raw::hlfs_i_size_read(inode);
            let whole = pos == fpos && len as usize == size;
            if whole || fpos >= isize {
                // Nothing to keep from the host: zeroes where not written.
                if !whole {
                    raw::hlfs_folio_zero_segment(folio, 0, size);
                    raw::hlfs_folio_mark_uptodate(folio);
                }
            } else {
                // A partial write: the rest of the folio comes from the host.
                let file = if iocb.is_null() {
                    ptr::null()
                } else {
                    (*iocb).ki_filp
                };
                match read_fh(file, inode) {
                    Ok(fh) => {
                        let mut piece = [folio_bytes(folio)];
                        let r = fh.fs.client.io(fh.fh, fpos as u64, &mut piece, false);
                        match r {
                            Ok((n, _)) => {
                                if n < size {
                                    raw::hlfs_folio_zero_segment(folio, n, size);
                                }
                                raw::hlfs_folio_mark_uptodate(folio);
                            }
                            Err(e) => {
                                raw::hlfs_folio_unlock(folio);
                                raw::hlfs_folio_put(folio);
                                return e.to_errno();
                            }
                        }
                    }
                    Err(e) => {
                        raw::hlfs_folio_unlock(folio);
                        raw::hlfs_folio_put(folio);
                        return e.to_errno();
                    }
                }
            }
        }
        *foliop = folio;
    }
    0
}

/// # Safety
///
/// Called by the VFS after copying into the folio from `write_begin`.
unsafe extern "C" fn write_end(
    _iocb: *const bindings::kiocb,
    mapping: *mut bindings::address_space,
    pos: i64,
    len: c_uint,
    copied: c_uint,
    folio: *mut bindings::folio,
    _fsdata: *mut c_void,
) -> c_int {
    // SAFETY: per the function's contract: the folio is locked and ours.
    unsafe {
        let inode = raw::hlfs_mapping_host(mapping);
        if !raw::hlfs_folio_test_uptodate(folio) {
            if copied < len {
                // A short copy into a folio the host never filled: redo.
                raw::hlfs_folio_unlock(folio);
                raw::hlfs_folio_put(folio);
                return 0;
            }
            raw::hlfs_folio_mark_uptodate(folio);
        }
        let end = pos + i64::from(copied);
        if end > raw::hlfs_i_size_read(inode) {
            raw::hlfs_i_size_write(inode, end);
        }
        bindings::filemap_dirty_folio(mapping, folio);
        raw::hlfs_folio_unlock(folio);
        raw::hlfs_folio_put(folio);
    }
    copied as c_int
}

/// Writes dirty folios back, consecutive ones together, up to `IO_PAGES`
/// pages per host call.
///
/// # Safety
///
/// Called by the VFS with an hlfs mapping.
unsafe extern "C" fn writepages(
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    // SAFETY: per the function's contract.
    let inode = unsafe { raw::hlfs_mapping_host(mapping) };
    // SAFETY: a live inode.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    let mut owned = 0u64;
    let fh = match h.writers.iter().map(|w| w.load(Relaxed)).find(|&f| f != 0) {
        Some(fh) => fh,
        None => match fs.client.open(h.node.load(Relaxed), 1 /* O_WRONLY */) {
            Ok(fh) => {
                owned = fh;
                fh
            }
            Err(e) => return e.to_errno(),
        },
    };
    // SAFETY: a live inode.
    let isize = unsafe { raw::hlfs_i_size_read(inode) };
    let mut error: c_int = 0;
    let mut folio: *mut bindings::folio = ptr::null_mut();
    // Allocated up front: nothing allocates between folios.
    let mut batch: KVec<*mut bindings::folio> = match KVec::with_capacity(IO_PAGES, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    let mut start = 0i64;
    let mut next = 0i64;
    let mut pages = 0usize;
    loop {
        // SAFETY: the iterator hands out locked folios under writeback and
        // takes back the previous one.
        folio = unsafe { bindings::writeback_iter(mapping, wbc, folio, &mut error) };
        // SAFETY: a non-null folio is locked and ours.
        let contiguous = !folio.is_null() && unsafe { raw::hlfs_folio_pos(folio) } == next;
        if !batch.is_empty() && (folio.is_null() || !contiguous || pages >= IO_PAGES) {
            // SAFETY: the batch's folios are under writeback and ours.
            let r = unsafe { write_folios(fs, fh, start, isize, &batch) };
            if r != 0 {
                // SAFETY: records the error for fsync/close to report.
                unsafe { raw::hlfs_mapping_set_error(mapping, r) };
                error = r;
            }
            batch.clear();
            pages = 0;
        }
        if folio.is_null() {
            break;
        }
        // SAFETY: the folio is locked; write-back starts and it is unlocked,
        // as ->writepages must.
        unsafe {
            let fpos = raw::hlfs_folio_pos(folio);
            let size = raw::hlfs_folio_size(folio);
            if batch.is_empty() {
                start = fpos;
            }
            next = fpos + size as i64;
            bindings::__folio_start_writeback(folio, false);
            raw::hlfs_folio_unlock(folio);
            if batch.push_within_capacity(folio).is_err() {
                bindings::folio_end_writeback(folio);
                error = ENOMEM.to_errno();
                continue;
            }
            pages += size / 4096;
        }
    }
    if owned != 0 {
        let _ = fs.client.release(owned);
    }
    error
}

/// Sends folios under writeback from `start` (no further than `isize`) and
/// ends their writeback.
///
/// # Safety
///
/// The folios are consecutive, under writeback and ours.
unsafe fn write_folios(
    fs: &Fs,
    fh: u64,
    start: i64,
    isize: i64,
    folios: &[*mut bindings::folio],
) -> c_int {
    let mut pieces: KVec<Piece<'_>> = KVec::new();
    let mut at = start;
    let mut failed = false;
    for &f in folios {
        // SAFETY: per the function's contract.
        let bytes = unsafe { folio_bytes(f) };
        let keep = (isize - at).clamp(0, bytes.len() as i64) as usize;
        at += bytes.len() as i64;
        if keep > 0 && pieces.push(&mut bytes[..keep], GFP_KERNEL).is_err() {
            failed = true;
            break;
        }
    }
    let r = if failed {
        Err(ENOMEM)
    } else if pieces.is_empty() {
        Ok(())
    } else {
        fs.client
            .io(fh, start as u64, &mut pieces, true)
            .map(|_| ())
    };
    drop(pieces);
    for &f in folios {
        // SAFETY: per the function's contract.
        unsafe { bindings::folio_end_writeback(f) };
    }
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

static AOPS: bindings::address_space_operations = bindings::address_space_operations {
    read_folio: Some(read_folio),
    readahead: Some(readahead),
    writepages: Some(writepages),
    dirty_folio: Some(bindings::filemap_dirty_folio),
    write_begin: Some(write_begin),
    write_end: Some(write_end),
    migrate_folio: Some(bindings::filemap_migrate_folio),
    ..pin_init::zeroed()
};
