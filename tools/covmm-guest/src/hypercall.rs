// SPDX-License-Identifier: GPL-2.0

//! Raw hypercalls from user space, for testing that the host refuses them.
//!
//! The instruction depends on the CPU vendor, as in the kernel's
//! `kvm_hypercall4()` (arch/x86/include/asm/kvm_para.h): `vmmcall` on AMD and
//! Hygon, `vmcall` elsewhere. Executed at CPL 3 inside a KVM guest, both cause a
//! VM exit, and KVM answers `-KVM_EPERM` without looking at the number.

use core::arch::asm;
use core::arch::x86_64::__cpuid;

use covmm_abi as abi;

/// True when the CPU vendor uses `vmmcall` (AMD and Hygon), as the guest
/// kernel's alternatives choose.
pub fn uses_vmmcall() -> bool {
    // CPUID leaf 0 exists on every x86-64 CPU and has no side effects.
    let id = __cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&id.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&id.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&id.ecx.to_le_bytes());
    &vendor == b"AuthenticAMD" || &vendor == b"HygonGenuine"
}

/// Issues hypercall `nr` with RBX, RCX, RDX, RSI = `args`. Returns RAX as a
/// signed value and the instruction used ([`abi::INSN_VMCALL`] or
/// [`abi::INSN_VMMCALL`]).
///
/// Outside a VM this raises #UD and the process dies with SIGILL, which is the
/// honest answer on bare metal.
pub fn raw(nr: u64, args: [u64; 4]) -> (i64, u32) {
    let mut rax = nr;
    // LLVM reserves RBX, so it is swapped in and out around the instruction.
    macro_rules! hypercall {
        ($insn:literal) => {
            // SAFETY: `vmcall`/`vmmcall` only read RAX/RBX/RCX/RDX/RSI and write
            // RAX in a KVM guest; RBX is restored before the asm block ends and
            // no memory is touched.
            unsafe {
                asm!(
                    "xchg {b}, rbx",
                    $insn,
                    "xchg {b}, rbx",
                    b = inout(reg) args[0] => _,
                    inout("rax") rax,
                    in("rcx") args[1],
                    in("rdx") args[2],
                    in("rsi") args[3],
                    options(nostack),
                )
            }
        };
    }
    let insn = if uses_vmmcall() {
        hypercall!("vmmcall");
        abi::INSN_VMMCALL
    } else {
        hypercall!("vmcall");
        abi::INSN_VMCALL
    };
    (rax as i64, insn)
}
