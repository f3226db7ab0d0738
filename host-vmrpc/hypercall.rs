// SPDX-License-Identifier: GPL-2.0

//! The CoVMM hypercall interface on the host: which hypercalls are ours, and
//! the one dispatch function that serves them.
//!
//! KVM keeps everything else: hypercalls outside the CoVMM range, calls from
//! guest user space (KVM answers `-KVM_EPERM`), and calls from a vCPU not in
//! long mode.

use kernel::prelude::*;
use zerocopy::{FromZeros, IntoBytes};

use crate::abi::{self, CallDesc, Opcode, Route, Segment};
use crate::kvm::{guest_errno, Vcpu};
use crate::server::CallContext;
use crate::Host;

/// Decides, in ftrace context, whether to divert a hypercall to CoVMM.
pub(crate) fn claims(nr: u64, cpl: c_int, long_mode: bool) -> bool {
    cpl == 0 && long_mode && matches!(abi::route(nr), Route::Covmm(_))
}

/// Serves a hypercall that [`claims`] accepted; returns the guest's RAX.
pub(crate) fn handle(host: &Host, vcpu: &Vcpu<'_>, nr: u64, args: [u64; 4]) -> i64 {
    let Route::Covmm(op) = abi::route(nr) else {
        return -abi::KVM_ENOSYS;
    };
    dispatch(host, vcpu, op, args).unwrap_or_else(guest_errno)
}

/// The dispatch function of the CoVMM hypercall protocol. Unknown opcodes get
/// `ENOSYS`, so a newer guest can probe an older host.
fn dispatch(host: &Host, vcpu: &Vcpu<'_>, op: u32, args: [u64; 4]) -> Result<i64> {
    match Opcode::from_raw(op) {
        Some(Opcode::Ping) => {
            let count = host.vms.vm_for(vcpu)?.ping();
            Ok(i64::try_from(count).unwrap_or(i64::MAX))
        }
        Some(Opcode::QueryVersion) => {
            Ok(abi::encode_version(abi::ABI_MAJOR, abi::ABI_MINOR) as i64)
        }
        Some(Opcode::Bind) => {
            let mut req = abi::BindRequest::new_zeroed();
            vcpu.memory().read(args[0], req.as_mut_bytes())?;
            let server = host.servers.find(&req)?;
            let handle = host.vms.vm_for(vcpu)?.bind(server)?;
            Ok(i64::try_from(handle).map_err(|_| EMFILE)?)
        }
        Some(Opcode::Unbind) => {
            host.vms.vm_for(vcpu)?.unbind(args[0])?;
            Ok(0)
        }
        Some(Opcode::Perform) => perform(host, vcpu, args),
        None => Err(ENOSYS),
    }
}

/// `Perform`: RBX handle, RCX function, RDX descriptor block address, RSI
/// segment count.
fn perform(host: &Host, vcpu: &Vcpu<'_>, args: [u64; 4]) -> Result<i64> {
    let [handle, func, block, count] = args;
    let func = u32::try_from(func).map_err(|_| EINVAL)?;
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| n <= abi::MAX_SEGMENTS)
        .ok_or(E2BIG)?;
    // The handle before the block: a VM learns nothing about its memory
    // through a handle it does not hold.
    let vm = host.vms.vm_for(vcpu)?;
    let server = vm.server(handle)?;

    let memory = vcpu.memory();
    let mut desc = CallDesc::new_zeroed();
    memory.read(block, desc.as_mut_bytes())?;
    let mut segs = KVec::from_elem(Segment::default(), count, GFP_KERNEL)?;
    let list = block
        .checked_add(size_of::<CallDesc>() as u64)
        .ok_or(EFAULT)?;
    memory.read(list, segs.as_mut_slice().as_mut_bytes())?;
    check_map(&segs)?;

    let mut ctx = CallContext::new(memory, &segs, vm.owner_pid());
    match server.call(&mut ctx, func, desc.arg, desc.arg_len)? {
        // A result the guest would read as an errno is a server bug.
        r if r < 0 => Err(EIO),
        r => Ok(r),
    }
}

/// The kernel error for a refused segment list.
fn segment_error(e: abi::SegmentError) -> Error {
    Error::from_errno(-(e.errno() as i32))
}

/// Checks a call's segments: each on its own, then that no two share a
/// guest-physical or a guest virtual byte.
fn check_map(segs: &[Segment]) -> Result {
    abi::check_segments(segs).map_err(segment_error)?;
    let mut ranges = KVec::with_capacity(segs.len(), GFP_KERNEL)?;
    for seg in segs {
        ranges.push((seg.gpa, seg.gpa + u64::from(seg.len)), GFP_KERNEL)?;
    }
    abi::check_disjoint(&mut ranges).map_err(segment_error)?;
    for (range, seg) in ranges.iter_mut().zip(segs) {
        *range = (seg.gva, seg.gva + u64::from(seg.len));
    }
    abi::check_disjoint(&mut ranges).map_err(segment_error)
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(covmm_host_hypercall)]
mod tests {
    use super::*;

    #[test]
    fn claims_only_kernel_mode_calls_in_range() {
        let ping = Opcode::Ping.hypercall_nr();
        assert!(claims(ping, 0, true));
        assert!(claims(abi::HC_BASE + abi::HC_COUNT - 1, 0, true));
        // Guest user space: KVM answers -KVM_EPERM itself.
        assert!(!claims(ping, 3, true));
        // Not in long mode: the upper halves of the registers are not ours.
        assert!(!claims(ping, 0, false));
        // KVM's own numbers stay with KVM.
        assert!(!claims(1, 0, true));
        assert!(!claims(12, 0, true));
        assert!(!claims(abi::HC_BASE + abi::HC_COUNT, 0, true));
    }

    #[test]
    fn segment_errors_map_to_their_errno() {
        for e in [
            abi::SegmentError::TooBig,
            abi::SegmentError::Invalid,
            abi::SegmentError::Wraps,
        ] {
            assert_eq!(guest_errno(segment_error(e)), -e.errno());
        }
    }

    #[test]
    fn errors_reach_the_guest_as_negated_errno() {
        assert_eq!(guest_errno(ENOSYS), -38);
        assert_eq!(guest_errno(ENOMEM), -12);
        assert_eq!(guest_errno(ESHUTDOWN), -108);
    }
}
