// SPDX-License-Identifier: GPL-2.0

//! VMRPC servers on the host: the registry guests bind to by name and
//! version, the context a server's dispatch function gets for one call, and
//! CoVMM's own `covmm.selftest` server.
//!
//! A server's dispatch function gets the request's guest address and length
//! as the guest gave them, and reaches guest memory by guest address through
//! [`CallContext::copy_from_guest`] and [`CallContext::copy_to_guest`], so
//! pointers inside a request work. Each access is resolved through the call's
//! segments (the guest memory the guest chose to expose to this call) and the
//! VM's memslots; anything else is `EFAULT`.
//!
//! Servers come from host-vmrpc itself, from other modules through the
//! exported C API (`include/covmm/host.h`, implemented in `kvm.rs`), and from
//! host user space through `/dev/covmm` (`userserver.rs`). When a server is
//! unregistered, guests that are bound keep their handles, but their calls
//! fail with `ESHUTDOWN`; calls already running finish first.
//!
//! A server is global, or belongs to one VM (user-space servers always do:
//! they are registered for one VMM process). A VM's own servers come first
//! when it binds, so two VMs may each have a server of the same name.
//!
//! Lock order: the registry's mutex is taken only by bind and by
//! (un)registration, never on the call path.

use kernel::{
    new_mutex, new_srcu,
    prelude::*,
    sync::{
        atomic::{
            ordering::{Acquire, Release},
            Atomic,
        },
        Arc, Mutex, Srcu,
    },
};

use crate::abi::{self, Segment};
use crate::kvm::hlfs::UserRange;
use crate::kvm::{ForeignDispatch, GuestMemory, MmKey, MmWatch, RemoteGuest};
use crate::vm::Vm;

/// Bytes in a guest page.
const PAGE: usize = 4096;
use crate::userserver::UserServer;

/// How a server handles a call: `(context, function, request address,
/// request length) -> result`. The address and length are the guest's, not
/// yet checked. A non-negative result goes to the guest as is; an error goes
/// as its negated errno.
pub(crate) enum Dispatch {
    /// A server inside host-vmrpc.
    Native(fn(&mut CallContext<'_>, u32, u64, u64) -> Result<i64>),
    /// A server registered by another module through the C API.
    Foreign(ForeignDispatch),
    /// A server in host user space; calls are queued for it.
    User(Arc<UserServer>),
}

/// A named, versioned host server.
#[pin_data]
pub(crate) struct Server {
    name: [u8; abi::SERVER_NAME_LEN],
    version: u32,
    dispatch: Dispatch,
    /// The VMM whose guests alone may bind, or `None` for every guest. The
    /// watch keeps the address space's identity from being reused.
    owner: Option<MmWatch>,
    /// Cleared by [`ServerRegistry::unregister`]; no call starts afterwards.
    live: Atomic<bool>,
    /// Held by every call; unregistration waits for it.
    #[pin]
    calls: Srcu,
}

impl Server {
    /// A server called `name` (see [`abi::server_name`] for what is allowed)
    /// for every guest.
    pub(crate) fn new(name: &[u8], version: u32, dispatch: Dispatch) -> Result<Arc<Self>> {
        Self::for_vm(name, version, dispatch, None)
    }

    /// A server for the guests of the VMM `owner` watches, or for every
    /// guest if `owner` is `None`.
    pub(crate) fn for_vm(
        name: &[u8],
        version: u32,
        dispatch: Dispatch,
        owner: Option<MmWatch>,
    ) -> Result<Arc<Self>> {
        let name = abi::encode_server_name(name).ok_or(EINVAL)?;
        Arc::pin_init(
            try_pin_init!(Server {
                name,
                version,
                dispatch,
                owner,
                live: Atomic::new(true),
                calls <- new_srcu!("covmm_server_calls"),
            }),
            GFP_KERNEL,
        )
    }

    fn matches(&self, name: &[u8; abi::SERVER_NAME_LEN], version: u32) -> bool {
        self.name == *name && self.version == version
    }

    fn scope(&self) -> Option<MmKey> {
        self.owner.as_ref().map(MmWatch::key)
    }

    /// The queue of a user-space server; `None` for servers in the kernel.
    pub(crate) fn user(&self) -> Option<&Arc<UserServer>> {
        match &self.dispatch {
            Dispatch::User(user) => Some(user),
            _ => None,
        }
    }

    /// Runs one call, unless the server has been unregistered.
    pub(crate) fn call(
        &self,
        ctx: &mut CallContext<'_>,
        func: u32,
        arg: u64,
        len: u64,
    ) -> Result<i64> {
        let _call = self.calls.read_lock();
        if !self.live.load(Acquire) {
            return Err(ESHUTDOWN);
        }
        match &self.dispatch {
            Dispatch::Native(f) => f(ctx, func, arg, len),
            Dispatch::Foreign(f) => f.call(ctx, func, arg, len),
            // The hypercall layer queues these itself (it may sleep long).
            Dispatch::User(_) => Err(EINVAL),
        }
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

    /// Adds `server`; `EEXIST` if one with the same name, version and scope
    /// exists.
    pub(crate) fn register(&self, server: Arc<Server>) -> Result {
        let mut servers = self.servers.lock();
        if servers
            .iter()
            .any(|s| s.matches(&server.name, server.version) && s.scope() == server.scope())
        {
            return Err(EEXIST);
        }
        servers.push(server, GFP_KERNEL)?;
        Ok(())
    }

    /// Removes `server`: no new binds, later calls get `ESHUTDOWN`, and calls
    /// in flight have returned when this does.
    pub(crate) fn unregister(&self, server: &Arc<Server>) {
        {
            let mut servers = self.servers.lock();
            if let Some(i) = servers.iter().position(|s| Arc::ptr_eq(s, server)) {
                // Dropped after the guard: never the last reference, since the
                // caller holds one.
                let _ = servers.remove(i);
            }
        }
        server.live.store(false, Release);
        server.calls.synchronize();
    }

    /// The server a guest's [`abi::BindRequest`] names, for a VM of the
    /// VMM whose address space is `vm`: its own server first, then a global
    /// one. A user-space server needs [`abi::BIND_RESTARTABLE`] (`EPROTO`).
    pub(crate) fn find(&self, req: &abi::BindRequest, vm: MmKey) -> Result<Arc<Server>> {
        abi::server_name(&req.name).map_err(|_| EINVAL)?;
        if req.flags & !abi::BIND_RESTARTABLE != 0 {
            return Err(EINVAL);
        }
        let server = {
            let servers = self.servers.lock();
            let named = || servers.iter().filter(|s| s.matches(&req.name, req.version));
            named()
                .find(|s| s.scope() == Some(vm))
                .or_else(|| named().find(|s| s.scope().is_none()))
                .cloned()
                .ok_or(ENOENT)?
        };
        if server.user().is_some() && req.flags & abi::BIND_RESTARTABLE == 0 {
            return Err(EPROTO);
        }
        Ok(server)
    }

    /// The VMM whose address space is `vm` has exited: its servers go.
    pub(crate) fn vm_gone(&self, vm: MmKey) {
        let gone = {
            let mut servers = self.servers.lock();
            let mut gone = KVec::new();
            for server in servers.iter().filter(|s| s.scope() == Some(vm)) {
                // On ENOMEM the rest stay registered, unreachable (no VM has
                // this address space any more), until their files close.
                if gone.push(server.clone(), GFP_KERNEL).is_err() {
                    break;
                }
            }
            servers.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)));
            gone
        };
        for server in gone {
            server.live.store(false, Release);
            if let Some(user) = server.user() {
                user.close(ENODEV);
            }
            server.calls.synchronize();
        }
    }
}

/// Guest memory as a server reaches it: from the vCPU thread during the call
/// ([`GuestMemory`]), or from a user-space server's thread ([`RemoteGuest`]).
pub(crate) trait GuestAccess {
    /// Copies guest-physical memory at `gpa` into `dst`.
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result;
    /// Copies `src` to guest-physical `gpa`.
    fn write(&self, gpa: u64, src: &[u8]) -> Result;
    /// The address of guest-physical `gpa` in the VMM process.
    fn hva(&self, gpa: u64, write: bool) -> Result<usize>;
}

impl GuestAccess for GuestMemory<'_> {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result {
        GuestMemory::read(self, gpa, dst)
    }
    fn write(&self, gpa: u64, src: &[u8]) -> Result {
        GuestMemory::write(self, gpa, src)
    }
    fn hva(&self, gpa: u64, write: bool) -> Result<usize> {
        GuestMemory::hva(self, gpa, write)
    }
}

impl GuestAccess for RemoteGuest {
    fn read(&self, gpa: u64, dst: &mut [u8]) -> Result {
        RemoteGuest::read(self, gpa, dst)
    }
    fn write(&self, gpa: u64, src: &[u8]) -> Result {
        RemoteGuest::write(self, gpa, src)
    }
    fn hva(&self, gpa: u64, write: bool) -> Result<usize> {
        RemoteGuest::hva(self, gpa, write)
    }
}

/// The guest memory one call exposes: its checked segments over the VM's
/// memory. Guest addresses resolve through the segments; anything outside
/// them is `EFAULT`.
pub(crate) struct CallMemory<'a, M: GuestAccess> {
    pub(crate) memory: &'a M,
    pub(crate) segs: &'a [Segment],
}

impl<M: GuestAccess> CallMemory<'_, M> {
    /// The address of guest byte `gva` in the VMM process.
    pub(crate) fn get_hva(&self, gva: u64, write: bool) -> Result<usize> {
        let chunk = abi::resolve(self.segs, gva, 1)
            .next()
            .flatten()
            .ok_or(EFAULT)?;
        if write && !chunk.writable {
            return Err(EFAULT);
        }
        self.memory.hva(chunk.gpa, write)
    }

    /// Copies `dst.len()` bytes at guest address `gva` into `dst`.
    pub(crate) fn copy_from_guest(&self, dst: &mut [u8], gva: u64) -> Result {
        let mut done = 0;
        for chunk in abi::resolve(self.segs, gva, dst.len() as u64) {
            let chunk = chunk.ok_or(EFAULT)?;
            self.memory
                .read(chunk.gpa, &mut dst[done..done + chunk.len])?;
            done += chunk.len;
        }
        Ok(())
    }

    /// Copies `src` to guest address `gva`, which must lie in segments the
    /// guest marked writable (`EFAULT` otherwise, before any byte moves).
    pub(crate) fn copy_to_guest(&self, gva: u64, src: &[u8]) -> Result {
        let chunks = abi::resolve(self.segs, gva, src.len() as u64);
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

/// What a server may do during one call: reach the guest memory the call
/// exposes.
pub(crate) struct CallContext<'a> {
    memory: GuestMemory<'a>,
    segs: &'a [Segment],
    vm: &'a Vm,
}

/// Guest memory resolved for one I/O by the VFS: pieces of the VMM
/// process's memory, and the guest-physical memory behind each.
pub(crate) struct GuestIo {
    ranges: KVec<UserRange>,
    gpas: KVec<u64>,
}

impl GuestIo {
    pub(crate) fn new() -> Self {
        Self {
            ranges: KVec::new(),
            gpas: KVec::new(),
        }
    }

    /// The pieces, as user memory of the VMM process.
    pub(crate) fn ranges(&self) -> &[UserRange] {
        &self.ranges
    }
}

impl<'a> CallContext<'a> {
    /// A context over `segs`, which the hypercall layer has checked.
    pub(crate) fn new(memory: GuestMemory<'a>, segs: &'a [Segment], vm: &'a Vm) -> Self {
        Self { memory, segs, vm }
    }

    /// The pid of the calling VM's VMM process.
    pub(crate) fn vm_pid(&self) -> i32 {
        self.vm.owner_pid()
    }

    /// The calling VM.
    pub(crate) fn vm(&self) -> &'a Vm {
        self.vm
    }

    /// Adds guest addresses `gva..gva + len` to `io`, page by page, as the
    /// VMM's addresses of the memory behind them: for the VFS to copy to
    /// (`to_guest`) or from, in this vCPU thread. Every byte must lie in the
    /// call's segments (writable ones if `to_guest`): `EFAULT` otherwise.
    pub(crate) fn resolve_io(
        &self,
        gva: u64,
        len: u64,
        to_guest: bool,
        io: &mut GuestIo,
    ) -> Result {
        for chunk in abi::resolve(self.segs, gva, len) {
            let chunk = chunk.ok_or(EFAULT)?;
            if to_guest && !chunk.writable {
                return Err(EFAULT);
            }
            let mut at = 0;
            while at < chunk.len {
                let gpa = chunk.gpa + at as u64;
                let n = (PAGE - (gpa % PAGE as u64) as usize).min(chunk.len - at);
                let hva = self.memory.hva(gpa, to_guest)?;
                match io.ranges.last_mut() {
                    Some((h, l)) if *h + *l == hva => *l += n,
                    _ => io.ranges.push((hva, n), GFP_KERNEL)?,
                }
                io.gpas.push(gpa, GFP_KERNEL)?;
                at += n;
            }
        }
        Ok(())
    }

    /// Records that the first `n` bytes of `io` were written by the VFS, in
    /// the memslots' dirty logs (as a guest write would be).
    pub(crate) fn written(&self, io: &GuestIo, n: usize) -> Result {
        let mut left = n;
        for &gpa in io.gpas.iter() {
            if left == 0 {
                break;
            }
            let piece = (PAGE - (gpa % PAGE as u64) as usize).min(left);
            self.memory.note_written(gpa, piece)?;
            left -= piece;
        }
        Ok(())
    }

    fn view(&self) -> CallMemory<'_, GuestMemory<'a>> {
        CallMemory {
            memory: &self.memory,
            segs: self.segs,
        }
    }

    /// The address of guest byte `gva` in the VMM process, which is the
    /// current process during the call.
    pub(crate) fn get_hva(&self, gva: u64, write: bool) -> Result<usize> {
        self.view().get_hva(gva, write)
    }

    /// Copies `dst.len()` bytes at guest address `gva` into `dst`.
    pub(crate) fn copy_from_guest(&self, dst: &mut [u8], gva: u64) -> Result {
        self.view().copy_from_guest(dst, gva)
    }

    /// Copies `src` to guest address `gva`, which must lie in segments the
    /// guest marked writable (`EFAULT` otherwise, before any byte moves).
    pub(crate) fn copy_to_guest(&self, gva: u64, src: &[u8]) -> Result {
        self.view().copy_to_guest(gva, src)
    }
}

/// `covmm.selftest`: CoVMM's own server, for tests and benchmarks (its
/// functions are defined in the ABI's `selftest` module).
pub(crate) mod selftest {
    use super::*;
    use crate::abi::{selftest::*, MAX_CALL_BYTES};
    use kernel::{
        alloc::KVVec,
        time::{Instant, Monotonic},
    };

    /// Bytes moved per step of a bulk function.
    const STEP: usize = 4096;

    fn dispatch(ctx: &mut CallContext<'_>, func: u32, arg: u64, len: u64) -> Result<i64> {
        if !matches!(
            func,
            FUNC_NULL | FUNC_HASH | FUNC_FILL | FUNC_COPY_IN | FUNC_MEMCPY
        ) {
            return Err(EOPNOTSUPP);
        }
        if func != FUNC_NULL && (len > MAX_CALL_BYTES || arg.checked_add(len).is_none()) {
            return Err(EFAULT);
        }
        match func {
            FUNC_NULL => Ok(0),
            FUNC_HASH => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                let mut hash = HASH_START;
                let mut at = 0;
                while at < len {
                    let n = (len - at).min(STEP as u64) as usize;
                    ctx.copy_from_guest(&mut buf[..n], arg + at)?;
                    hash = hash_more(hash, &buf[..n]);
                    at += n as u64;
                }
                Ok(hash_result(hash))
            }
            FUNC_FILL => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                let mut at = 0;
                while at < len {
                    let n = (len - at).min(STEP as u64) as usize;
                    for (i, b) in buf[..n].iter_mut().enumerate() {
                        *b = pattern(at + i as u64);
                    }
                    ctx.copy_to_guest(arg + at, &buf[..n])?;
                    at += n as u64;
                }
                Ok(len as i64)
            }
            FUNC_COPY_IN => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                let start = Instant::<Monotonic>::now();
                let mut at = 0;
                while at < len {
                    let n = (len - at).min(STEP as u64) as usize;
                    ctx.copy_from_guest(&mut buf[..n], arg + at)?;
                    at += n as u64;
                }
                Ok(start.elapsed().as_nanos())
            }
            FUNC_MEMCPY => {
                let mut buf = KVec::from_elem(0u8, STEP, GFP_KERNEL)?;
                // Allocated and touched before the clock starts, as the
                // guest's memory is.
                let src = KVVec::from_elem(1u8, len as usize, GFP_KERNEL)?;
                let start = Instant::<Monotonic>::now();
                for piece in src.chunks(STEP) {
                    buf[..piece.len()].copy_from_slice(piece);
                }
                core::hint::black_box(&buf);
                Ok(start.elapsed().as_nanos())
            }
            _ => Err(EOPNOTSUPP),
        }
    }

    /// A new instance, to be registered once.
    pub(crate) fn server() -> Result<Arc<Server>> {
        Server::new(NAME, VERSION, Dispatch::Native(dispatch))
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(covmm_host_server)]
mod tests {
    use super::*;
    use kernel::sync::Arc;

    fn request(name: &[u8], version: u32) -> abi::BindRequest {
        let mut raw = [0u8; abi::SERVER_NAME_LEN];
        raw[..name.len()].copy_from_slice(name);
        abi::BindRequest {
            name: raw,
            version,
            flags: 0,
        }
    }

    #[test]
    fn registry_finds_by_name_and_version() -> Result {
        let registry = KBox::pin_init(ServerRegistry::new(), GFP_KERNEL)?;
        let server = selftest::server()?;
        registry.register(server.clone())?;
        let found = registry.find_any(&request(abi::selftest::NAME, abi::selftest::VERSION))?;
        assert!(Arc::ptr_eq(&found, &server));
        assert_eq!(
            registry.find_any(&request(abi::selftest::NAME, 2)).err(),
            Some(ENOENT)
        );
        assert_eq!(
            registry.find_any(&request(b"nosuch", 1)).err(),
            Some(ENOENT)
        );
        assert_eq!(
            registry.find_any(&request(b"bad name", 1)).err(),
            Some(EINVAL)
        );
        let mut flagged = request(abi::selftest::NAME, abi::selftest::VERSION);
        flagged.flags = 2;
        assert_eq!(registry.find_any(&flagged).err(), Some(EINVAL));
        flagged.flags = abi::BIND_RESTARTABLE;
        assert!(registry.find_any(&flagged).is_ok());
        assert_eq!(registry.register(selftest::server()?).err(), Some(EEXIST));
        registry.unregister(&server);
        assert_eq!(
            registry
                .find_any(&request(abi::selftest::NAME, abi::selftest::VERSION))
                .err(),
            Some(ENOENT)
        );
        Ok(())
    }

    impl ServerRegistry {
        fn find_any(&self, req: &abi::BindRequest) -> Result<Arc<Server>> {
            self.find(req, MmKey::NONE)
        }
    }

    #[test]
    fn names_are_checked_at_registration() {
        let f = Dispatch::Native(|_, _, _, _| Ok(0));
        assert_eq!(Server::new(b"", 1, f).err(), Some(EINVAL));
    }
}
