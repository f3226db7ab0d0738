// SPDX-License-Identifier: GPL-2.0

//! The `hlfs` file system type, its mount options (parsed in `vfs_glue.c`, kept in
//! Rust) and the superblock: mounting a tag asks the host for the export's root.

use super::*;

/// A registered file system type.
///
/// # Invariants
///
/// `fst` is registered with the VFS from construction until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    #[pin]
    pub(super) fst: Opaque<bindings::file_system_type>,
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
pub(super) extern "C" fn hlfs_rs_new_options() -> *mut c_void {
    match KBox::new(Options::default(), GFP_KERNEL) {
        Ok(b) => KBox::into_raw(b).cast(),
        Err(_) => ptr::null_mut(),
    }
}

/// # Safety
///
/// `options` came from [`hlfs_rs_new_options`] and is not used again.
#[no_mangle]
pub(super) unsafe extern "C" fn hlfs_rs_free_options(options: *mut c_void) {
    if !options.is_null() {
        // SAFETY: per the function's contract.
        drop(unsafe { KBox::from_raw(options.cast::<Options>()) });
    }
}

/// # Safety
///
/// `options` came from [`hlfs_rs_new_options`] and is live.
#[no_mangle]
pub(super) unsafe extern "C" fn hlfs_rs_set_option(
    options: *mut c_void,
    cache: bool,
    value: u32,
) -> c_int {
    // SAFETY: per the function's contract; the fs_context is not shared.
    let options = unsafe { &mut *options.cast::<Options>() };
    match options.set(cache, value) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// What `sb->s_fs_info` holds.
pub(crate) struct Fs {
    pub(super) client: Client,
    pub(super) opts: Options,
    /// Counts local changes to files' sizes and data (see [`stamp`]).
    pub(super) attr_version: Atomic<u64>,
    /// 1 while the host takes `READDIRPLUS`.
    pub(super) plus: Atomic<u32>,
}

/// The superblock's `Fs`.
///
/// # Safety
///
/// `sb` is an hlfs superblock whose `s_fs_info` was set by fill_super.
pub(super) unsafe fn fs_of<'a>(sb: *const bindings::super_block) -> &'a Fs {
    // SAFETY: per the function's contract, `s_fs_info` is our `Fs`, which
    // lives until kill_sb.
    unsafe { &*(*sb).s_fs_info.cast::<Fs>() }
}

/// # Safety
///
/// `inode` is an hlfs inode.
pub(super) unsafe fn fs_of_inode<'a>(inode: *const bindings::inode) -> &'a Fs {
    // SAFETY: an hlfs inode belongs to an hlfs superblock.
    unsafe { fs_of((*inode).i_sb) }
}

pub(super) const HLFS_MAGIC: c_ulong = 0x484c_4653; // "HLFS"
/// `SB_RDONLY` (include/linux/fs/super_types.h).
pub(super) const SB_RDONLY: c_ulong = 1;
/// `SB_ACTIVE` (include/linux/fs/super_types.h): cleared when unmounting.
pub(super) const SB_ACTIVE: c_ulong = 1 << 30;

/// # Safety
///
/// Called by `get_tree_nodev()` with a new superblock and our context.
#[no_mangle]
pub(super) unsafe extern "C" fn hlfs_rs_fill_super(
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
            attr_version: Atomic::new(0),
            plus: Atomic::new(1),
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
    // Read ahead as far as one host call carries (the default is 128 KiB),
    // as 9p does with its msize.
    // SAFETY: the bdi was just set up.
    unsafe { raw::hlfs_bdi_set_pages(sb, IO_PAGES as c_ulong) };
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
    let inode = match unsafe { iget(sb, &root, 0) } {
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
pub(super) unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
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
