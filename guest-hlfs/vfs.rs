// SPDX-License-Identifier: GPL-2.0

//! VFS layer of guest-hlfs: the only file of the module with `unsafe`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h) (through
//! `kernel::bindings`, so `file_system_type` is built here in Rust) and
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h) (not in
//! the bindings, so its operations table is in `vfs_glue.c`).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::{bindings, error::to_result, prelude::*, types::Opaque};

mod raw {
    use kernel::{bindings, prelude::*};

    extern "C" {
        pub(super) fn hlfs_init_fs_context(fc: *mut bindings::fs_context) -> c_int;
        pub(super) fn hlfs_fc_error(fc: *mut bindings::fs_context, msg: *const c_char);
        pub(super) fn hlfs_fc_source(fc: *mut bindings::fs_context) -> *const c_char;
    }
}

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
                        kill_sb: Some(bindings::kill_anon_super),
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

/// A mount being prepared (`struct fs_context`), borrowed for one callback.
///
/// # Invariants
///
/// `ptr` is the live context the VFS passed to the current callback.
pub(crate) struct MountContext<'a> {
    ptr: NonNull<bindings::fs_context>,
    _callback: PhantomData<&'a mut bindings::fs_context>,
}

impl MountContext<'_> {
    /// The mount source (the export tag), if one was given.
    pub(crate) fn source(&self) -> Option<&CStr> {
        // SAFETY: the context is live (type invariant); `source` is null or a
        // NUL-terminated string owned by the context.
        let src = unsafe { raw::hlfs_fc_source(self.ptr.as_ptr()) };
        // SAFETY: as above, non-null means a valid C string for the borrow.
        (!src.is_null()).then(|| unsafe { CStr::from_char_ptr(src) })
    }

    /// Reports `msg` through the mount's log (returned by the new mount API,
    /// printed to the kernel log by mount(2)) and returns `err`.
    pub(crate) fn fail(&self, msg: &CStr, err: Error) -> Error {
        // SAFETY: the context is live; the format string is "%s".
        unsafe { raw::hlfs_fc_error(self.ptr.as_ptr(), msg.as_char_ptr()) };
        err
    }
}

/// `->get_tree` of an hlfs mount.
///
/// # Safety
///
/// Called by the VFS with a live `fs_context` created by our `init_fs_context`.
#[no_mangle]
unsafe extern "C" fn hlfs_rs_get_tree(fc: *mut bindings::fs_context) -> c_int {
    let Some(ptr) = NonNull::new(fc) else {
        return EINVAL.to_errno();
    };
    // INVARIANT: the VFS passes the live context.
    let ctx = MountContext {
        ptr,
        _callback: PhantomData,
    };
    match crate::get_tree(&ctx) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
