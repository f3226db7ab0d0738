// SPDX-License-Identifier: GPL-2.0

//! VMRPC servers on the host: the registry guests bind to by name and
//! version, the context a server's dispatch function gets for one call, and
//! CoVMM's own `covmm.selftest` server.
//!
//! A call's argument is the list of guest-physical segments the guest passed
//! (see `Segment` in the ABI). The server sees it as one buffer, addressed by
//! offset from 0, through [`CallContext::copy_from_guest`] and
//! [`CallContext::copy_to_guest`]; every access is bounded by the buffer and
//! resolved through the VM's memslots.
//!
//! Lock order: the registry's mutex is taken only by bind and by
//! (un)registration, never on the call path.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

use crate::abi::{self, Segment};
use crate::kvm::GuestMemory;

/// A server's dispatch function: `(context, function) -> result`. The
/// argument buffer is `0..ctx.arg_len()`. A non-negative result goes to the
/// guest as is; an error goes as its negated errno.
pub(crate) type Dispatch = fn(&mut CallContext<'_>, u32) -> Result<i64>;

/// A named, versioned host server.
pub(crate) struct Server {
    name: [u8; abi::SERVER_NAME_LEN],
    version: u32,
    dispatch: Dispatch,
}

impl Server {
    /// A server called `name` (see [`abi::server_name`] for what is allowed).
    pub(crate) fn new(name: &[u8], version: u32, dispatch: Dispatch) -> Result<Arc<Self>> {
        let name = abi::encode_server_name(name).ok_or(EINVAL)?;
        Ok(Arc::new(Server { name, version, dispatch }, GFP_KERNEL)?)
    }

    fn matches(&self, name: &[u8; abi::SERVER_NAME_LEN], version: u32) -> bool {
        self.name == *name && self.version == version
    }

    /// Runs one call.
    pub(crate) fn call(&self, ctx: &mut CallContext<'_>, func: u32) -> Result<i64> {
        (self.dispatch)(ctx, func)
    }
}

/// Every registered server.
#[pin_data]
pub(crate) struct ServerRegistry {
    #[pin]
    servers: Mutex<KVec<Arc<Server>>>,
}

impl ServerRegistry {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(ServerRegistry {
            servers <- new_mutex!(KVec::new(), "covmm_servers"),
        })
    }

    /// Adds `server`; `EEXIST` if one with the same name and version exists.
    pub(crate) fn register(&self, server: Arc<Server>) -> Result {
        let mut servers = self.servers.lock();
        if servers.iter().any(|s| s.matches(&server.name, server.version)) {
            return Err(EEXIST);
        }
        servers.push(server, GFP_KERNEL)?;
        Ok(())
    }

    /// The server a guest's [`abi::BindRequest`] names.
    pub(crate) fn find(&self, req: &abi::BindRequest) -> Result<Arc<Server>> {
        abi::server_name(&req.name).map_err(|_| EINVAL)?;
        if req.flags != 0 {
            return Err(EINVAL);
        }
        let servers = self.servers.lock();
        servers
            .iter()
            .find(|s| s.matches(&req.name, req.version))
            .cloned()
            .ok_or(ENOENT)
    }
}

/// What a server may do during one call: reach the call's argument buffer.
pub(crate) struct CallContext<'a> {
    memory: GuestMemory<'a>,
    segs: &'a [Segment],
    len: u64,
}

impl<'a> CallContext<'a> {
    /// A context over `segs`, which [`abi::check_segments`] and
    /// [`abi::check_disjoint`] accepted with total length `len`.
    pub(crate) fn new(memory: GuestMemory<'a>, segs: &'a [Segment], len: u64) -> Self {
        Self { memory, segs, len }
    }

    /// Length of the argument buffer.
    pub(crate) fn arg_len(&self) -> u64 {
        self.len
    }

    fn check(&self, offset: u64, len: usize) -> Result {
        if abi::range_fits(offset, len as u64, self.len) {
            Ok(())
        } else {
            Err(EFAULT)
        }
    }

    /// Copies `dst.len()` bytes at `offset` of the argument into `dst`.
    pub(crate) fn copy_from_guest(&self, dst: &mut [u8], offset: u64) -> Result {
        self.check(offset, dst.len())?;
        let mut done = 0;
        for chunk in abi::chunks(self.segs, offset, dst.len() as u64) {
            let chunk = chunk.ok_or(EFAULT)?;
            self.memory.read(chunk.gpa, &mut dst[done..done + chunk.len])?;
            done += chunk.len;
        }
        Ok(())
    }

    /// Copies `src` to `offset` of the argument, which must lie in segments
    /// the guest marked writable (`EFAULT` otherwise, before any byte moves).
    pub(crate) fn copy_to_guest(&self, offset: u64, src: &[u8]) -> Result {
        self.check(offset, src.len())?;
        let chunks = abi::chunks(self.segs, offset, src.len() as u64);
        if chunks.clone().any(|c| !c.is_some_and(|c| c.writable)) {
            return Err(EFAULT);
        }
        let mut done = 0;
        for chunk in chunks.flatten() {
            self.memory.write(chunk.gpa, &src[done..done + chunk.len])?;
            done += chunk.len;
        }
        Ok(())
    }
}

/// `covmm.selftest`: CoVMM's own server, for tests and benchmarks (its
/// functions are defined in the ABI's `selftest` module).
pub(crate) mod selftest {
    use super::*;
    use crate::abi::selftest::*;

    /// Bytes moved per step of a bulk function.
    const STEP: usize = 4096;

    fn dispatch(ctx: &mut CallContext<'_>, func: u32) -> Result<i64> {
        match func {
            FUNC_NULL => Ok(0),
            FUNC_HASH => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                let mut hash = HASH_START;
                let mut at = 0;
                while at < ctx.arg_len() {
                    let n = (ctx.arg_len() - at).min(STEP as u64) as usize;
                    ctx.copy_from_guest(&mut buf[..n], at)?;
                    hash = hash_more(hash, &buf[..n]);
                    at += n as u64;
                }
                Ok(hash_result(hash))
            }
            FUNC_FILL => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                let mut at = 0;
                while at < ctx.arg_len() {
                    let n = (ctx.arg_len() - at).min(STEP as u64) as usize;
                    for (i, b) in buf[..n].iter_mut().enumerate() {
                        *b = pattern(at + i as u64);
                    }
                    ctx.copy_to_guest(at, &buf[..n])?;
                    at += n as u64;
                }
                Ok(ctx.arg_len() as i64)
            }
            _ => Err(EOPNOTSUPP),
        }
    }

    /// A new instance, to be registered once.
    pub(crate) fn server() -> Result<Arc<Server>> {
        Server::new(NAME, VERSION, dispatch)
    }
}
