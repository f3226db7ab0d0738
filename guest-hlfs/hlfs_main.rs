// SPDX-License-Identifier: GPL-2.0

//! guest-hlfs: the CoVMM "high-level link" file system for guests.
//!
//! hlfs will serve the guest's VFS operations from host files through
//! host-vmrpc, bypassing the guest block layer and the VMM's disk emulation.
//! This release registers the `hlfs` file system type; mounting reports that
//! the host transport is not there yet, with `EOPNOTSUPP` and a message in
//! the mount log, instead of failing obscurely.
//!
//! `vfs.rs` is the only file with `unsafe`.

use kernel::{prelude::*, str::CString};

#[allow(dead_code, unreachable_pub)]
#[path = "../tools/abi/src/wire.rs"]
mod abi;
mod vfs;

module! {
    type: GuestHlfs,
    name: "guest_hlfs",
    authors: ["CoVMM developers"],
    description: "CoVMM hlfs: guest file system served by host-vmrpc",
    license: "GPL",
    alias: ["fs-hlfs"],
}

#[pin_data]
struct GuestHlfs {
    #[pin]
    _fs: vfs::Registration,
}

impl kernel::InPlaceModule for GuestHlfs {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self { _fs <- vfs::Registration::new(c"hlfs", module) })
    }
}

/// `->get_tree`: no host transport yet, so every mount is refused clearly.
fn get_tree(ctx: &vfs::MountContext<'_>) -> Result {
    let msg = match ctx.source() {
        Some(tag) => CString::try_from_fmt(fmt!(
            "hlfs: cannot mount '{}': the host file transport is not implemented yet",
            tag.to_str().unwrap_or("?")
        ))?,
        None => CString::try_from_fmt(fmt!("hlfs: no export tag given (mount -t hlfs TAG DIR)"))?,
    };
    Err(ctx.fail(&msg, EOPNOTSUPP))
}
