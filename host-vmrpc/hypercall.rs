// SPDX-License-Identifier: GPL-2.0

//! The CoVMM hypercall interface on the host: which hypercalls are ours, and
//! the one dispatch function that serves them.
//!
//! KVM keeps everything else: hypercalls outside the CoVMM range, calls from
//! guest user space (KVM answers `-KVM_EPERM`), and calls from a vCPU not in
//! long mode.

use kernel::prelude::*;
use zerocopy::{FromZeros, IntoBytes};

use kernel::{sync::aref::ARef, time::Msecs};

use crate::abi::{self, CallDesc, Opcode, Route, Segment};
use crate::kvm::{guest_errno, Vcpu, Wake};
use crate::server::CallContext;
use crate::userserver::UserCall;
use crate::vm::{Parked, Vm};
use crate::Host;

/// Longest a vCPU sleeps in one hypercall waiting for a user-space server
/// before it gives the guest its CPU back ([`abi::CALL_AGAIN`]). Guest
/// events and signals end the sleep sooner.
const POLL_PERIOD_MS: Msecs = 50;

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
            let server = host.servers.find(&req, vcpu.kvm().mm_key())?;
            let handle = host.vms.vm_for(vcpu)?.bind(server)?;
            Ok(i64::try_from(handle).map_err(|_| EMFILE)?)
        }
        Some(Opcode::Unbind) => {
            host.vms.vm_for(vcpu)?.unbind(args[0])?;
            Ok(0)
        }
        Some(Opcode::Perform) => perform(host, vcpu, args),
        Some(Opcode::Cancel) => {
            let parked = host.vms.vm_for(vcpu)?.unpark(args[0]).ok_or(ENOENT)?;
            parked.call.cancel()
        }
        Some(Opcode::RvInit) => {
            let mut init = abi::RvInit::new_zeroed();
            vcpu.memory().read(args[0], init.as_mut_bytes())?;
            host.vms.vm_for(vcpu)?.rv.init(vcpu, init)
        }
        Some(Opcode::RvWait) => {
            let [slot, tag, result, flags] = args;
            if flags & !abi::RV_NO_WAIT != 0 {
                return Err(EINVAL);
            }
            let park = flags & abi::RV_NO_WAIT == 0;
            let vm = host.vms.vm_for(vcpu)?;
            vm.rv.wait(vcpu, slot, tag, result as i64, park)
        }
        Some(Opcode::RvFini) => {
            let slot = usize::try_from(args[0]).map_err(|_| ENOENT)?;
            host.vms.vm_for(vcpu)?.rv.fini(slot)
        }
        None => Err(ENOSYS),
    }
}

/// `Perform`: RBX handle, RCX function, RDX descriptor block address, RSI
/// segment count.
fn perform(host: &Host, vcpu: &Vcpu<'_>, args: [u64; 4]) -> Result<i64> {
    let [handle, raw_func, block, raw_count] = args;
    let vm = host.vms.vm_for(vcpu)?;
    // A call that got CALL_AGAIN, issued again.
    if let Some(parked) = vm.unpark(block) {
        if parked.is_for(args) {
            return wait_user(&vm, vcpu, parked);
        }
        // The guest reused the block without cancelling: the old call is
        // over for it.
        let _ = parked.call.cancel();
    }
    let func = u32::try_from(raw_func).map_err(|_| EINVAL)?;
    let count = usize::try_from(raw_count)
        .ok()
        .filter(|&n| n <= abi::MAX_SEGMENTS)
        .ok_or(E2BIG)?;
    // The handle before the block: a VM learns nothing about its memory
    // through a handle it does not hold.
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

    if let Some(queue) = server.user() {
        let call = UserCall::new(vcpu, func, desc, segs)?;
        queue.submit(call.clone())?;
        return wait_user(&vm, vcpu, Parked::new(args, call));
    }

    let mut ctx = CallContext::new(memory, &segs, &vm);
    match server.call(&mut ctx, func, desc.arg, desc.arg_len)? {
        // A result the guest would read as an errno is a server bug.
        r if r < 0 => Err(EIO),
        r => Ok(r),
    }
}

/// Waits for a call to a user-space server. If the guest or the VMM needs
/// the vCPU first, the call is parked on its VM and the guest gets
/// [`abi::CALL_AGAIN`].
fn wait_user(vm: &Vm, vcpu: &Vcpu<'_>, parked: Parked) -> Result<i64> {
    let call = parked.call.clone();
    call.set_waiter(Some(ARef::from(&**kernel::current!())));
    let wake = vcpu.wait(|| call.is_done(), POLL_PERIOD_MS);
    call.set_waiter(None);
    match wake {
        Wake::Ready => call.result(),
        Wake::Dying => call.cancel(),
        Wake::Event => match vm.park(parked) {
            Ok(()) => Ok(abi::CALL_AGAIN),
            // Too many parked: the guest is not coming back for its calls.
            Err(e) => call.cancel().and(Err(e)),
        },
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
