// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The CoVMM ABI as a crate for user-space tools.
//!
//! The definitions live in `wire.rs`, which the kernel modules compile in
//! directly with `#[path]`; this crate only re-exports them, so the two sides
//! can never drift apart.

#![no_std]

#[path = "wire.rs"]
mod wire;

pub use wire::*;
pub use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};
