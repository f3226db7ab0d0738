// SPDX-License-Identifier: GPL-2.0

//! The host side of CoVMM for user space.
//!
//! [`host`] reaches guests through host-vmrpc's `/dev/covmm`: it lists the
//! VMs the caller owns and calls services in their guest kernels (Reverse
//! VMRPC), as the `covmm` command does.
//!
//! [`iomon`] drives the guest I/O request monitor: on and off, its trace
//! and its per-port, per-region and per-vCPU aggregates.
//!
//! [`server`] is a small safe library for VMRPC servers in host user space:
//! the owner of a VM registers a named server for it through host-vmrpc's
//! `/dev/covmm` and serves the guest's calls from a loop, reading and writing
//! the guest memory each call exposes, as a FUSE daemon serves a kernel.
//!
//! ```no_run
//! use covmm::server::{Errno, Server};
//!
//! let server = Server::register(1234, "UPCASE", 1)?;
//! server.serve(|call| {
//!     let mut text = call.read_arg(4096)?;
//!     text.make_ascii_uppercase();
//!     call.write(call.arg(), &text)?;
//!     Ok(text.len() as u64)
//! })?;
//! # Ok::<(), covmm::server::Error>(())
//! ```

pub mod host;
pub mod iomon;
pub mod server;
