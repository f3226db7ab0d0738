// SPDX-License-Identifier: GPL-2.0

//! The VMRPC client: bind to a host server by name and version, call it with
//! kernel buffers, unbind.
//!
//! Callers pass ordinary kernel memory (kmalloc, vmalloc, the stack, spanning
//! pages or not): the request, and any buffer it points to that the server
//! should reach. This file turns them into the descriptor block the hypercall
//! ABI wants: a [`CallDesc`] naming the request, followed by one [`Segment`]
//! per run of memory that is contiguous both virtually and physically.

use kernel::prelude::*;
use zerocopy::IntoBytes;

use crate::abi::{self, CallDesc, Opcode, Segment};
use crate::hypercall::{cond_resched, guest_phys, Hypervisor};

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

impl Buf<'_> {
    /// The bytes, and the segment flags that tell the host what it may do.
    fn view(&self) -> (&[u8], u32) {
        match self {
            Buf::In(b) => (b, 0),
            Buf::InOut(b) => (b, abi::SEG_WRITE),
        }
    }
}

/// Turns RAX into a result. KVM's own refusal (no host-vmrpc loaded) reads
/// as `ENODEV`; anything negative that is no errno reads as `EIO`.
fn result(rax: i64) -> Result<i64> {
    match rax {
        r if r == -abi::KVM_ENOSYS => Err(ENODEV),
        r => abi::decode_result(r, Error::from_errno, EIO),
    }
}

/// Binds to the host server `name`, `version`.
pub(crate) fn bind(hv: Hypervisor, name: &[u8], version: u32) -> Result<Handle> {
    let name = abi::encode_server_name(name).ok_or(EINVAL)?;
    let req = KBox::new(
        abi::BindRequest {
            name,
            version,
            // `perform_kernel` handles CALL_AGAIN, so servers that take
            // their time (those in host user space) are welcome.
            flags: abi::BIND_RESTARTABLE,
        },
        GFP_KERNEL,
    )?;
    // kmalloc memory is physically contiguous, so one address describes it.
    let gpa = guest_phys(&req.as_bytes()[0]);
    let handle = result(hv.call(Opcode::Bind, [gpa, 0, 0, 0]))?;
    Ok(Handle(handle as u64))
}

/// Releases `handle`.
pub(crate) fn unbind(hv: Hypervisor, handle: Handle) -> Result {
    result(hv.call(Opcode::Unbind, [handle.0, 0, 0, 0])).map(|_| ())
}

/// Segments under construction: the last one stays open for merging.
struct Map {
    block: KVec<u8>,
    open: Option<Segment>,
    count: usize,
}

/// Pages `bytes` spans: the most segments it can need.
fn pages_spanned(bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        return 0;
    }
    let start = bytes.as_ptr() as usize;
    (start % PAGE_SIZE + bytes.len()).div_ceil(PAGE_SIZE)
}

impl Map {
    /// A map for `desc` with room for `segments` segments (capped at the
    /// ABI's maximum, beyond which the call fails anyway).
    fn new(desc: CallDesc, segments: usize) -> Result<Self> {
        let segments = segments.min(abi::MAX_SEGMENTS);
        let size = size_of::<CallDesc>() + segments * size_of::<Segment>();
        let mut block = KVec::with_capacity(size, GFP_KERNEL)?;
        block.extend_from_slice(desc.as_bytes(), GFP_KERNEL)?;
        Ok(Self {
            block,
            open: None,
            count: 0,
        })
    }

    fn flush(&mut self) -> Result {
        if let Some(seg) = self.open.take() {
            if self.count == abi::MAX_SEGMENTS {
                return Err(E2BIG);
            }
            // Within the capacity reserved in `new` (one segment per page at
            // most): no allocation.
            self.block.extend_from_slice(seg.as_bytes(), GFP_KERNEL)?;
            self.count += 1;
        }
        Ok(())
    }

    /// Adds the memory behind `bytes`, page by page.
    fn add(&mut self, bytes: &[u8], flags: u32) -> Result {
        let mut at = 0;
        while at < bytes.len() {
            let gva = bytes[at..].as_ptr() as u64;
            let gpa = guest_phys(&bytes[at]);
            let n = (PAGE_SIZE - (gpa as usize % PAGE_SIZE)).min(bytes.len() - at);
            match &mut self.open {
                Some(last)
                    if last.flags == flags
                        && last.gpa + u64::from(last.len) == gpa
                        && last.gva + u64::from(last.len) == gva
                        && u64::from(last.len) + n as u64 <= u64::from(u32::MAX) =>
                {
                    last.len += n as u32;
                }
                _ => {
                    self.flush()?;
                    self.open = Some(Segment {
                        gva,
                        gpa,
                        len: n as u32,
                        flags,
                    });
                }
            }
            at += n;
        }
        Ok(())
    }

    /// The finished block and its segment count.
    fn finish(mut self) -> Result<(KVec<u8>, usize)> {
        self.flush()?;
        Ok((self.block, self.count))
    }
}

/// Calls function `func` of the server behind `handle`. `bufs[0]` is the
/// request: the server gets its address and length. The server may reach
/// every buffer in `bufs` by guest address (so the request may point into
/// the others), and may write only the [`Buf::InOut`] ones. Returns what the
/// server returned.
pub(crate) fn perform_kernel(
    hv: Hypervisor,
    handle: Handle,
    func: u32,
    bufs: &mut [Buf<'_>],
) -> Result<i64> {
    let request = bufs.first().map_or(CallDesc::default(), |buf| {
        let (b, _) = buf.view();
        CallDesc {
            arg: b.as_ptr() as u64,
            arg_len: b.len() as u64,
        }
    });
    let pages = bufs.iter().map(|b| pages_spanned(b.view().0)).sum();
    let mut map = Map::new(request, pages)?;
    for buf in bufs.iter() {
        let (b, flags) = buf.view();
        map.add(b, flags)?;
    }
    let (block, count) = map.finish()?;
    // kmalloc memory (at most 6 KiB here) is physically contiguous, so one
    // address describes the whole block; it is never empty (the descriptor).
    let gpa = guest_phys(&block[0]);
    let args = [handle.0, u64::from(func), gpa, count as u64];
    loop {
        let rax = hv.call(Opcode::Perform, args);
        if rax != abi::CALL_AGAIN {
            return result(rax);
        }
        // The host gave the CPU back while the server works: interrupts
        // have been taken; let others run, then wait again. A signal
        // abandons the call; the host's answer says the server can no
        // longer reach the buffers, so they may be freed. It is the result
        // if the call finished first, else -EINTR.
        if kernel::current!().signal_pending() {
            return result(hv.call(Opcode::Cancel, [gpa, 0, 0, 0]));
        }
        cond_resched();
    }
}
