// SPDX-License-Identifier: GPL-2.0

//! Hypercall layer of guest-rvmrpc: the only file of the module with `unsafe`,
//! including the exported C API of `include/covmm/guest.h`.
//!
//! C header: [`arch/x86/include/asm/kvm_para.h`](srctree/arch/x86/include/asm/kvm_para.h);
//! the C side is `hypercall_glue.c`. The instruction is the one the kernel's
//! alternatives picked for this CPU: `vmmcall` on AMD and Hygon, `vmcall`
//! elsewhere.

use core::ptr;

use kernel::prelude::*;

use crate::abi::{self, Opcode};
use crate::vmrpc::{self, Buf, Handle};

mod raw {
    use kernel::prelude::*;

    extern "C" {
        pub(super) fn covmm_guest_hypercall4(
            nr: c_uint,
            a0: c_ulong,
            a1: c_ulong,
            a2: c_ulong,
            a3: c_ulong,
        ) -> c_long;
        pub(super) fn covmm_guest_on_kvm() -> bool;
        pub(super) fn covmm_guest_uses_vmmcall() -> bool;
        pub(super) fn covmm_guest_kaddr_to_phys(addr: *const c_void) -> u64;
        pub(super) fn covmm_guest_capable_rawio() -> bool;
        pub(super) fn covmm_guest_cond_resched();
    }
}

// kvm_hypercall4() takes a 32-bit number; the whole CoVMM range must fit.
const _: () = assert!(abi::HC_BASE + abi::HC_COUNT <= u32::MAX as u64);
// Registers are passed as `unsigned long`, which must hold a u64.
const _: () = assert!(size_of::<c_ulong>() == size_of::<u64>());

/// Proof that this kernel runs under KVM, so the hypercall instruction exits
/// to the hypervisor instead of raising #UD.
///
/// # Invariants
///
/// Only [`Hypervisor::detect`] creates it, after `kvm_para_available()`.
#[derive(Clone, Copy)]
pub(crate) struct Hypervisor(());

impl Hypervisor {
    /// Checks the CPUID hypervisor signature for KVM.
    pub(crate) fn detect() -> Result<Self> {
        // SAFETY: reads CPUID only.
        if unsafe { raw::covmm_guest_on_kvm() } {
            // INVARIANT: KVM was just detected.
            Ok(Self(()))
        } else {
            Err(ENODEV)
        }
    }

    /// Issues the CoVMM hypercall `op`; returns RAX as the host (or KVM) set it.
    pub(crate) fn call(self, op: Opcode, args: [u64; 4]) -> i64 {
        // The const assertion above keeps the number within 32 bits, and on
        // x86-64 `unsigned long` and `long` are 64 bits wide.
        let nr = op.hypercall_nr() as c_uint;
        let [a0, a1, a2, a3] = args.map(|a| a as c_ulong);
        // SAFETY: under KVM (type invariant) the instruction exits to the host,
        // which only reads the argument registers and writes RAX.
        let rax = unsafe { raw::covmm_guest_hypercall4(nr, a0, a1, a2, a3) };
        rax as i64
    }

    /// Issues CoVMM hypercall number `op` (an offset into the range, known
    /// or not); returns RAX.
    pub(crate) fn call_raw(self, op: u32, args: [u64; 4]) -> i64 {
        let nr = abi::HC_BASE + u64::from(op).min(abi::HC_COUNT - 1);
        let [a0, a1, a2, a3] = args.map(|a| a as c_ulong);
        // SAFETY: as in `call`; the number is clamped into the CoVMM range.
        let rax = unsafe { raw::covmm_guest_hypercall4(nr as c_uint, a0, a1, a2, a3) };
        rax as i64
    }

    /// Which instruction this CPU uses ([`abi::INSN_VMCALL`] or
    /// [`abi::INSN_VMMCALL`]).
    pub(crate) fn instruction(self) -> u32 {
        // SAFETY: reads a boot CPU feature bit only.
        if unsafe { raw::covmm_guest_uses_vmmcall() } {
            abi::INSN_VMMCALL
        } else {
            abi::INSN_VMCALL
        }
    }
}

/// The guest-physical address of `byte`.
///
/// Any reference the kernel hands out points into the linear map, the kernel
/// image, vmalloc space (vmap'd stacks included) or module memory, and each of
/// those has a page behind every byte.
pub(crate) fn guest_phys(byte: &u8) -> u64 {
    // SAFETY: the address is that of a live byte (see above), so the page
    // lookup finds a mapped page.
    unsafe { raw::covmm_guest_kaddr_to_phys(ptr::from_ref(byte).cast()) }
}

/// Whether the calling task has `CAP_SYS_RAWIO` (in the initial namespace).
pub(crate) fn caller_may_rawio() -> bool {
    // SAFETY: `capable()` only inspects the current task's credentials.
    unsafe { raw::covmm_guest_capable_rawio() }
}

/// Lets other tasks run if this one has used its share, as a kernel loop
/// that may spin for long must.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without locks held (our callers
    // are hypercall loops in sleepable context).
    unsafe { raw::covmm_guest_cond_resched() }
}

// The exported C API (include/covmm/guest.h).

/// `struct covmm_buf`.
#[repr(C)]
struct CovmmBuf {
    addr: *mut c_void,
    len: usize,
    writable: bool,
}

fn to_c(r: Result<i64>) -> c_long {
    match r {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `covmm_vmrpc_bind()`.
///
/// # Safety
///
/// `name` must be a NUL-terminated string and `handle` writable.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_bind(
    name: *const c_char,
    version: u32,
    handle: *mut u64,
) -> c_int {
    if name.is_null() || handle.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: per the contract, `name` is NUL-terminated.
    let name = unsafe { CStr::from_char_ptr(name) };
    let bound = Hypervisor::detect().and_then(|hv| vmrpc::bind(hv, name.to_bytes(), version));
    match bound {
        Ok(h) => {
            // SAFETY: per the contract, `handle` is writable.
            unsafe { handle.write(h.0) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `covmm_vmrpc_unbind()`.
#[no_mangle]
extern "C" fn covmm_vmrpc_unbind(handle: u64) -> c_int {
    match Hypervisor::detect().and_then(|hv| vmrpc::unbind(hv, Handle(handle))) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `covmm_vmrpc_perform()`.
///
/// # Safety
///
/// `bufs` must point to `nbufs` descriptors, each naming kernel memory valid
/// (and, if writable, not otherwise referenced) for the call.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_perform(
    handle: u64,
    func: u32,
    bufs: *const CovmmBuf,
    nbufs: c_uint,
) -> c_long {
    let perform = || -> Result<i64> {
        let hv = Hypervisor::detect()?;
        let descs: &[CovmmBuf] = match nbufs {
            0 => &[],
            // SAFETY: per the contract, `bufs` holds `nbufs` descriptors.
            n => unsafe { core::slice::from_raw_parts(bufs, n as usize) },
        };
        let mut list = KVec::with_capacity(descs.len(), GFP_KERNEL)?;
        for d in descs {
            let buf = match (d.len, d.writable) {
                (0, _) => Buf::In(&[]),
                (n, true) => {
                    // SAFETY: per the contract, the memory is valid for the
                    // call and referenced by nothing else meanwhile.
                    let bytes = unsafe { core::slice::from_raw_parts_mut(d.addr.cast(), n) };
                    Buf::InOut(bytes)
                }
                (n, false) => {
                    // SAFETY: per the contract, the memory is valid for the call.
                    let bytes = unsafe { core::slice::from_raw_parts(d.addr.cast(), n) };
                    Buf::In(bytes)
                }
            };
            list.push(buf, GFP_KERNEL)?;
        }
        vmrpc::perform_kernel(hv, Handle(handle), func, &mut list)
    };
    to_c(perform())
}

/// `covmm_vmrpc_hypercall()`: a raw CoVMM hypercall, for tests.
#[no_mangle]
extern "C" fn covmm_vmrpc_hypercall(op: u32, a0: u64, a1: u64, a2: u64, a3: u64) -> c_long {
    match Hypervisor::detect() {
        Ok(hv) => hv.call_raw(op, [a0, a1, a2, a3]) as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `covmm_vmrpc_perform_kernel()`.
///
/// # Safety
///
/// `arg` must be kernel memory valid for `len` bytes and not otherwise
/// referenced during the call.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_perform_kernel(
    handle: u64,
    func: u32,
    arg: *mut c_void,
    len: usize,
) -> c_long {
    let buf = CovmmBuf {
        addr: arg,
        len,
        writable: true,
    };
    // SAFETY: one descriptor, valid per the contract.
    unsafe { covmm_vmrpc_perform(handle, func, &buf, 1) }
}
