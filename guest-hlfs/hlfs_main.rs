// SPDX-License-Identifier: GPL-2.0

//! guest-hlfs: the CoVMM "high-level link" file system for guests.
//!
//! `mount -t hlfs TAG DIR` mounts a host directory that the VM's owner
//! exported under TAG (`covmm export`). Every VFS operation that needs host
//! state is one VMRPC call to host-vmrpc's `covmm.hlfs` server, which runs
//! it on the host file with the VMM user's rights; the guest's block layer
//! and the VMM's disk emulation are not involved. Data goes through the
//! guest's page cache (read-ahead and write-back, several pages per call),
//! or around it for `O_DIRECT` and `cache=none`.
//!
//! Mount options: `ro`; `attr_timeout=SECONDS` (1 by default; 0 asks the
//! host every time); `cache=auto` (the default: cached pages are kept while
//! the host's size and mtime say they are current, and checked at every
//! open, i.e. close-to-open), `cache=always` (kept until dropped) or
//! `cache=none` (every read and write goes to the host).
//!
//! `client.rs` speaks the protocol; `vfs.rs` and `vfs/` hold all the
//! `unsafe`: the VFS callbacks and the VMRPC transport.

use kernel::prelude::*;

#[allow(dead_code, unreachable_pub)]
#[path = "../tools/abi/src/wire.rs"]
mod abi;
#[allow(dead_code)]
#[path = "../include/covmm/guest_api.rs"]
mod api;
mod client;
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

/// How a mount caches file data (`cache=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// Cached while the host's size and mtime match, checked at each open.
    Auto,
    /// Cached until dropped (drop_caches, memory pressure).
    Always,
    /// Not cached: every read and write goes to the host.
    None,
}

/// Longest attribute timeout, in seconds.
const ATTR_TIMEOUT_MAX: u32 = 3600;

/// A mount's options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Seconds attributes and names are trusted without asking the host.
    pub(crate) attr_timeout: u32,
    pub(crate) cache: CacheMode,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            attr_timeout: 1,
            cache: CacheMode::Auto,
        }
    }
}

impl Options {
    /// Takes `attr_timeout=value`, or `cache=` (`value` as vfs_glue.h's
    /// HLFS_CACHE_*).
    pub(crate) fn set(&mut self, cache: bool, value: u32) -> Result {
        if cache {
            self.cache = match value {
                0 => CacheMode::Auto,
                1 => CacheMode::Always,
                2 => CacheMode::None,
                _ => return Err(EINVAL),
            };
        } else {
            if value > ATTR_TIMEOUT_MAX {
                return Err(ERANGE);
            }
            self.attr_timeout = value;
        }
        Ok(())
    }

    /// The attribute timeout in jiffies.
    pub(crate) fn attr_timeout_jiffies(&self) -> u64 {
        u64::from(self.attr_timeout) * u64::from(kernel::bindings::HZ)
    }
}
