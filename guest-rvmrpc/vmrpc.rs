// SPDX-License-Identifier: GPL-2.0

//! The VMRPC client: bind to a host server by name and version, call it with
//! kernel buffers, unbind.
//!
//! Callers pass ordinary kernel memory (kmalloc, vmalloc, the stack, spanning
//! pages or not). This file turns it into the guest-physical [`Segment`] list
//! the hypercall ABI wants, one segment per physically contiguous run.

use kernel::prelude::*;
use zerocopy::IntoBytes;

use crate::abi::{self, Opcode, Segment};
use crate::hypercall::{guest_phys, Hypervisor};

/// Guest page size; segments are built page by page.
const PAGE_SIZE: usize = 4096;

/// A binding to a host server, valid in this VM only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Handle(pub(crate) u64);

/// One buffer of a call: read-only for the server, or writable.
pub(crate) enum Buf<'a> {
    In(&'a [u8]),
    InOut(&'a mut [u8]),
}

/// Turns RAX into a result. KVM's own refusal (no host-vmrpc loaded) reads
/// as `ENODEV`; anything negative that is no errno reads as `EIO`.
fn result(rax: i64) -> Result<i64> {
    match rax {
        r if r >= 0 => Ok(r),
        r if r == -abi::KVM_ENOSYS => Err(ENODEV),
        r if r >= -4095 => Err(Error::from_errno(r as i32)),
        _ => Err(EIO),
    }
}

/// Binds to the host server `name`, `version`.
pub(crate) fn bind(hv: Hypervisor, name: &[u8], version: u32) -> Result<Handle> {
    let name = abi::encode_server_name(name).ok_or(EINVAL)?;
    let req = KBox::new(abi::BindRequest { name, version, flags: 0 }, GFP_KERNEL)?;
    // kmalloc memory is physically contiguous, so one address describes it.
    let gpa = guest_phys(&req.as_bytes()[0]);
    let handle = result(hv.call(Opcode::Bind, [gpa, 0, 0, 0]))?;
    Ok(Handle(handle as u64))
}

/// Releases `handle`.
pub(crate) fn unbind(hv: Hypervisor, handle: Handle) -> Result {
    result(hv.call(Opcode::Unbind, [handle.0, 0, 0, 0])).map(|_| ())
}

/// Appends the segments behind `bytes` to `segs`, merging physically
/// adjacent pages.
fn describe(segs: &mut KVec<Segment>, bytes: &[u8], flags: u32) -> Result {
    let mut at = 0;
    while at < bytes.len() {
        let gpa = guest_phys(&bytes[at]);
        let n = (PAGE_SIZE - (gpa as usize % PAGE_SIZE)).min(bytes.len() - at);
        match segs.last_mut() {
            Some(last)
                if last.flags == flags
                    && last.gpa + u64::from(last.len) == gpa
                    && u64::from(last.len) + n as u64 <= u64::from(u32::MAX) =>
            {
                last.len += n as u32;
            }
            _ => {
                if segs.len() == abi::MAX_SEGMENTS {
                    return Err(E2BIG);
                }
                segs.push(Segment { gpa, len: n as u32, flags }, GFP_KERNEL)?;
            }
        }
        at += n;
    }
    Ok(())
}

/// Calls function `func` of the server behind `handle`. The server sees the
/// buffers one after the other as a single argument, and may write only the
/// [`Buf::InOut`] ones. Returns what the server returned.
pub(crate) fn perform_kernel(
    hv: Hypervisor,
    handle: Handle,
    func: u32,
    bufs: &mut [Buf<'_>],
) -> Result<i64> {
    let mut segs = KVec::with_capacity(abi::MAX_SEGMENTS, GFP_KERNEL)?;
    for buf in bufs.iter() {
        match buf {
            Buf::In(b) => describe(&mut segs, b, 0)?,
            Buf::InOut(b) => describe(&mut segs, b, abi::SEG_WRITE)?,
        }
    }
    // The list is kmalloc'ed (at most 4 KiB), so it is physically contiguous.
    let list = segs.as_slice().as_bytes().first().map_or(0, guest_phys);
    result(hv.call(
        Opcode::Perform,
        [handle.0, u64::from(func), list, segs.len() as u64],
    ))
}
