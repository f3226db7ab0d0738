// SPDX-License-Identifier: GPL-2.0

//! The VMRPC transport over which `Client` speaks the hlfs protocol: guest-rvmrpc's
//! exported VMRPC API (bind, perform, unbind), with each call's buffers borrowed for
//! the call.

use super::*;

/// A kernel buffer one call exposes to the host, borrowed for the call.
pub(crate) struct RpcBuf<'a> {
    pub(super) raw: api::CovmmBuf,
    pub(super) _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> RpcBuf<'a> {
    fn new(addr: *const u8, len: usize, writable: bool) -> Self {
        Self {
            raw: api::CovmmBuf {
                addr: addr.cast_mut().cast(),
                len,
                writable,
            },
            _borrow: PhantomData,
        }
    }

    /// A name or link target the host reads (1 to 4095 bytes).
    pub(crate) fn name(name: &'a [u8]) -> Result<Self> {
        if name.is_empty() || name.len() > proto::SYMLINK_MAX {
            return Err(ENAMETOOLONG);
        }
        Ok(Self::new(name.as_ptr(), name.len(), false))
    }

    /// An extended attribute name (1 to 255 bytes).
    pub(crate) fn xattr_name(name: &'a [u8]) -> Result<Self> {
        if name.is_empty() || name.len() > proto::XATTR_NAME_MAX {
            return Err(ERANGE);
        }
        Ok(Self::new(name.as_ptr(), name.len(), false))
    }

    /// Data the host reads.
    pub(crate) fn data_in(data: &'a [u8]) -> Self {
        Self::new(data.as_ptr(), data.len(), false)
    }

    /// Room the host writes.
    pub(crate) fn data_out(data: &'a mut [u8]) -> Self {
        Self::new(data.as_mut_ptr(), data.len(), true)
    }

    /// A `READ`/`WRITE` vector.
    pub(crate) fn iov(iov: &'a [proto::HlfsIov]) -> Self {
        let bytes = iov.as_bytes();
        Self::new(bytes.as_ptr(), bytes.len(), false)
    }

    /// Its guest (kernel virtual) address, as the host names it.
    pub(crate) fn addr(&self) -> u64 {
        self.raw.addr as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len
    }

    /// Points a request's name fields at this buffer.
    pub(crate) fn point(&self, addr: &mut u64, len: &mut u32) {
        *addr = self.addr();
        // Names are at most 4095 bytes.
        *len = self.raw.len as u32;
    }

    /// Points a request's data fields at this buffer.
    pub(crate) fn point_data(&self, addr: &mut u64, len: &mut u64) {
        *addr = self.addr();
        *len = self.raw.len as u64;
    }
}

/// A binding to the host's hlfs server; unbound on drop.
pub(crate) struct Rpc {
    pub(super) handle: u64,
}

impl Rpc {
    pub(crate) fn bind(name: &[u8], version: u32) -> Result<Self> {
        let mut cname = [0u8; 32];
        cname
            .get_mut(..name.len())
            .ok_or(EINVAL)?
            .copy_from_slice(name);
        let mut handle = 0;
        // SAFETY: `cname` is NUL-terminated (its tail stays 0); `handle` is
        // a valid out-pointer.
        to_result(unsafe { api::covmm_vmrpc_bind(cname.as_ptr().cast(), version, &mut handle) })?;
        Ok(Self { handle })
    }

    /// Calls `op` with `req` (written back with the reply) and `bufs`.
    pub(crate) fn call(&self, op: Op, req: &mut HlfsReq, bufs: &[RpcBuf<'_>]) -> Result<i64> {
        let mut all = KVec::with_capacity(bufs.len() + 1, GFP_KERNEL)?;
        let head = req.as_mut_bytes();
        all.push(
            api::CovmmBuf {
                addr: head.as_mut_ptr().cast(),
                len: head.len(),
                writable: true,
            },
            GFP_KERNEL,
        )?;
        for b in bufs {
            all.push(
                api::CovmmBuf {
                    addr: b.raw.addr,
                    len: b.raw.len,
                    writable: b.raw.writable,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: every buffer is borrowed (`req` mutably, the others for
        // `'_`) until the call returns, writable only where it says so.
        let r: c_long = unsafe {
            api::covmm_vmrpc_perform(self.handle, op as u32, all.as_ptr(), all.len() as c_uint)
        };
        let r = r as i64;
        if r < 0 {
            // Results are a value or a negated errno (-4095..=-1).
            return Err(Error::from_errno(r.max(-4095) as i32));
        }
        Ok(r)
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        // SAFETY: the handle came from `covmm_vmrpc_bind`.
        unsafe { api::covmm_vmrpc_unbind(self.handle) };
    }
}
