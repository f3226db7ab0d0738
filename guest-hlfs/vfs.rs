// SPDX-License-Identifier: GPL-2.0

//! VFS layer of guest-hlfs: this file and the files under `vfs/` are the
//! only ones of the module with `unsafe`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h) (through
//! `kernel::bindings`, so the operation tables are built here in Rust) and
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h),
//! [`include/linux/xattr.h`](srctree/include/linux/xattr.h) (not in the
//! bindings: their tables are in `vfs_glue.c`).
//!
//! What is here:
//! - `transport`: [`Rpc`] and [`RpcBuf`], the VMRPC transport (guest-rvmrpc's
//!   exported API) over which [`Client`] speaks the hlfs protocol;
//! - `super_block`: [`Registration`], the `hlfs` file system type, its mount
//!   options and the superblock;
//! - the VFS callbacks: `inode` (with the super operations), `dentry`,
//!   `namei` (names made and removed), `attr` (attributes, xattrs, links and
//!   the inode operation tables), `file` and `aops` (the page cache). Each
//!   turns its raw arguments into node handles, byte slices and attributes,
//!   calls the [`Client`], and applies the reply to the VFS objects with the
//!   policy of `hlfs_main.rs` (attribute timeouts, cache modes, which
//!   attributes a reply may change);
//! - `raw`: the C helpers of `vfs_glue.c`.
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
    sync::atomic::{
        ordering::{Acquire, Full, Relaxed},
        Atomic,
    },
    types::Opaque,
};
use zerocopy::IntoBytes;

use crate::abi::hlfs::{self as proto, HlfsAttr, HlfsReq, Op};
use crate::api;
use crate::client::{Client, Entry, Piece, IO_PAGES, MAX_FOLIO_ORDER};
use crate::{CacheMode, Options};

mod aops;
mod attr;
mod dentry;
mod file;
mod inode;
mod namei;
mod raw;
mod super_block;
mod transport;

use aops::*;
use attr::*;
use dentry::*;
use file::*;
use inode::*;
use namei::*;
use super_block::*;

pub(crate) use super_block::Registration;
pub(crate) use transport::{Rpc, RpcBuf};
