// SPDX-License-Identifier: GPL-2.0 OR MIT

//! CoVMM wire formats: hypercall numbers, opcodes and the `#[repr(C)]` structures
//! exchanged between the guest modules, the host module and the user tools.
//!
//! This single file is compiled three ways: into the kernel modules through
//! `#[path]`, into the `covmm-abi` crate for the tools, and (by hand, kept in
//! step by a test) as the C view in `include/uapi/linux/covmm.h`. It depends on
//! `core` and `zerocopy` only, which both the kernel and user space provide.
//!
//! # Hypercall convention
//!
//! The guest executes `vmcall`/`vmmcall` at CPL 0 with RAX = [`HC_BASE`] + opcode
//! and arguments in RBX, RCX, RDX, RSI, exactly like a KVM hypercall. The result
//! comes back in RAX: a non-negative value on success, or a negated Linux errno.
//! Two values keep KVM's meaning, so a guest can tell who answered:
//! `-KVM_ENOSYS` (-1000) means no host-vmrpc is loaded, and `-KVM_EPERM` (-1)
//! means the call came from guest user space. An opcode inside the range that
//! this host does not know gets `-ENOSYS` (-38).

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Major version of this ABI. A host refuses guests with a different major.
pub const ABI_MAJOR: u16 = 1;
/// Minor version: additions that old peers can ignore.
pub const ABI_MINOR: u16 = 0;

/// Encodes a version as returned by [`Opcode::QueryVersion`].
pub const fn encode_version(major: u16, minor: u16) -> u64 {
    ((major as u64) << 16) | minor as u64
}

/// Splits a value returned by [`Opcode::QueryVersion`] into (major, minor).
pub const fn decode_version(v: u64) -> (u16, u16) {
    ((v >> 16) as u16, v as u16)
}

/// First hypercall number of the CoVMM range ("CO" in the upper half).
///
/// KVM's own numbers (`KVM_HC_*`, include/uapi/linux/kvm_para.h) are small
/// integers below 64, so the range can never collide with them.
pub const HC_BASE: u64 = 0x434f_0000;
/// Number of hypercall numbers reserved for CoVMM.
pub const HC_COUNT: u64 = 0x100;

/// KVM's "unknown hypercall" answer (`KVM_ENOSYS`).
pub const KVM_ENOSYS: i64 = 1000;
/// KVM's "not allowed from this privilege level" answer (`KVM_EPERM`).
pub const KVM_EPERM: i64 = 1;

/// Linux errno values used in results, so the tools need no libc bindings.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i64 = 1;
    /// Out of memory.
    pub const ENOMEM: i64 = 12;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// Function not implemented: an opcode this host does not know.
    pub const ENOSYS: i64 = 38;
    /// Protocol version mismatch.
    pub const EPROTO: i64 = 71;
}

/// Operations of the CoVMM hypercall interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Opcode {
    /// Liveness check. RBX: a cookie, ignored. Returns how many pings this VM
    /// has made so far, counting this one (so always >= 1).
    Ping = 0,
    /// Returns [`encode_version`] of the host's ABI.
    QueryVersion = 1,
}

impl Opcode {
    /// Decodes an opcode; `None` for one this side does not know.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Ping),
            1 => Some(Self::QueryVersion),
            _ => None,
        }
    }

    /// The hypercall number that carries this opcode.
    pub const fn hypercall_nr(self) -> u64 {
        HC_BASE + self as u64
    }
}

/// Where a hypercall number falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Not ours: leave it to KVM.
    Kvm,
    /// Inside the CoVMM range, carrying the raw opcode (known or not).
    Covmm(u32),
}

/// Classifies a hypercall number. Anything outside the range belongs to KVM.
pub const fn route(nr: u64) -> Route {
    match nr.checked_sub(HC_BASE) {
        Some(off) if off < HC_COUNT => Route::Covmm(off as u32),
        _ => Route::Kvm,
    }
}

// ioctl number encoding, as in include/uapi/asm-generic/ioctl.h (x86).
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`. Panics at compile time if `size` does not fit.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << IOC_SIZEBITS));
    (dir << IOC_DIRSHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// `_IOWR(type, nr, T)`.
pub const fn iowr<T>(ty: u32, nr: u32) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// ioctl type byte of the guest device `/dev/covmm-guest`.
pub const GUEST_IOC_MAGIC: u32 = 0xce;

/// Argument of [`GUEST_IOC_PING`]: the guest module pings the host and reports
/// the raw hypercall result, so user space can see exactly what the host said.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestPing {
    /// In: [`ABI_MAJOR`] of the caller. The module refuses other majors.
    pub abi_major: u16,
    /// Explicit padding; must be zero.
    pub pad0: [u8; 6],
    /// In: a cookie passed to the host.
    pub cookie: u64,
    /// Out: RAX as the host returned it (counter, or negated errno).
    pub result: i64,
    /// Out: the guest's CPU vendor route, 1 for `vmcall`, 2 for `vmmcall`.
    pub insn: u32,
    /// Explicit padding; must be zero.
    pub pad1: u32,
}

/// Pings the host from the guest kernel. See [`GuestPing`].
pub const GUEST_IOC_PING: u32 = iowr::<GuestPing>(GUEST_IOC_MAGIC, 0x00);

/// Value of [`GuestPing::insn`] for Intel's `vmcall`.
pub const INSN_VMCALL: u32 = 1;
/// Value of [`GuestPing::insn`] for AMD's `vmmcall`.
pub const INSN_VMMCALL: u32 = 2;

// `cargo test` runs these; so does KUnit in the one module that sets
// `covmm_abi_kunit` (host-vmrpc), since a suite name must be unique.
#[cfg(any(test, all(CONFIG_KUNIT, covmm_abi_kunit)))]
#[cfg_attr(
    all(CONFIG_KUNIT, covmm_abi_kunit),
    kernel::prelude::kunit_tests(covmm_abi)
)]
mod tests {
    use super::*;

    #[test]
    fn route_splits_kvm_and_covmm_numbers() {
        assert_eq!(route(1), Route::Kvm);
        assert_eq!(route(12), Route::Kvm);
        assert_eq!(route(0), Route::Kvm);
        assert_eq!(route(HC_BASE - 1), Route::Kvm);
        assert_eq!(route(HC_BASE), Route::Covmm(0));
        assert_eq!(route(HC_BASE + HC_COUNT - 1), Route::Covmm(0xff));
        assert_eq!(route(HC_BASE + HC_COUNT), Route::Kvm);
        assert_eq!(route(u64::MAX), Route::Kvm);
    }

    #[test]
    fn opcodes_round_trip() {
        for op in [Opcode::Ping, Opcode::QueryVersion] {
            assert_eq!(route(op.hypercall_nr()), Route::Covmm(op as u32));
            assert_eq!(Opcode::from_raw(op as u32), Some(op));
        }
        assert_eq!(Opcode::from_raw(0xff), None);
    }

    #[test]
    fn version_round_trips() {
        assert_eq!(
            decode_version(encode_version(ABI_MAJOR, ABI_MINOR)),
            (ABI_MAJOR, ABI_MINOR)
        );
        assert_eq!(encode_version(1, 2), 0x1_0002);
    }

    #[test]
    fn ioctl_numbers_match_the_c_macros() {
        // _IOWR(0xce, 0x00, struct covmm_guest_ping) with a 32-byte struct.
        assert_eq!(core::mem::size_of::<GuestPing>(), 32);
        assert_eq!(GUEST_IOC_PING, 0xc020_ce00);
    }
}
