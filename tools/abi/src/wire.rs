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

use zerocopy::{FromBytes as _, IntoBytes as _};
use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Major version of this ABI. A host refuses guests with a different major.
pub const ABI_MAJOR: u16 = 1;
/// Minor version: additions that old peers can ignore.
pub const ABI_MINOR: u16 = 5;

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
    /// No such process: no VMM with that pid.
    pub const ESRCH: i64 = 3;
    /// The call was abandoned (its VMM is being killed, or the guest
    /// cancelled it).
    pub const EINTR: i64 = 4;
    /// Input/output error: a server failed.
    pub const EIO: i64 = 5;
    /// No server of that name and version.
    pub const ENOENT: i64 = 2;
    /// Argument list too long: more than [`super::MAX_SEGMENTS`] segments or
    /// [`super::MAX_CALL_BYTES`] bytes.
    pub const E2BIG: i64 = 7;
    /// Not a handle this VM holds.
    pub const EBADF: i64 = 9;
    /// Out of memory.
    pub const ENOMEM: i64 = 12;
    /// A guest address outside the guest's RAM (or in an MMIO hole), or a
    /// write to read-only guest memory.
    pub const EFAULT: i64 = 14;
    /// Not the VM's owner.
    pub const EACCES: i64 = 13;
    /// Too many calls waiting for a user-space server.
    pub const EBUSY: i64 = 16;
    /// A server of that name and version exists already.
    pub const EEXIST: i64 = 17;
    /// No such device: a user-space server's VM has gone.
    pub const ENODEV: i64 = 19;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// Too many bindings in this VM.
    pub const EMFILE: i64 = 24;
    /// Function not implemented: an opcode this host does not know.
    pub const ENOSYS: i64 = 38;
    /// Protocol version mismatch.
    pub const EPROTO: i64 = 71;
    /// A segment wraps past the end of the guest-physical address space.
    pub const EOVERFLOW: i64 = 75;
    /// The server went away (its module is being unloaded, or its
    /// user-space process closed the device).
    pub const ESHUTDOWN: i64 = 108;
    /// The guest gave up on the call a user-space server is answering.
    pub const ECANCELED: i64 = 125;
}

/// Result of [`Opcode::Perform`]: the call is still running on the host,
/// which returned to the guest so that it can take interrupts (or so that the
/// VMM can handle a signal). Issue the very same `Perform` again, from any
/// vCPU, to go on waiting, or [`Opcode::Cancel`] it. Only calls bound with
/// [`BIND_RESTARTABLE`] get it. Below `-4095`, so it is never an errno.
pub const CALL_AGAIN: i64 = -0x1_0000;

/// Operations of the CoVMM hypercall interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Opcode {
    /// Liveness check. RBX: a cookie, ignored. Returns how many pings this VM
    /// has made so far, counting this one (so always >= 1).
    Ping = 0,
    /// Returns [`encode_version`] of the host's ABI.
    QueryVersion = 1,
    /// Binds to a host server. RBX: guest-physical address of a
    /// [`BindRequest`]. Returns a handle (> 0) valid in this VM only.
    Bind = 2,
    /// Releases a handle. RBX: the handle. Returns 0.
    Unbind = 3,
    /// Calls a bound server. RBX: handle, RCX: function number, RDX:
    /// guest-physical address of a [`CallDesc`] followed by RSI [`Segment`]s.
    /// Returns what the server returns (>= 0), [`CALL_AGAIN`], or a negated
    /// errno.
    Perform = 4,
    /// Abandons a call that returned [`CALL_AGAIN`]. RBX: the address of
    /// its descriptor block. When it returns, the server can no longer reach
    /// the call's memory, so the guest may free it. Returns `-EINTR`, or the
    /// call's result if it finished first; `-ENOENT` if no such call waits.
    Cancel = 5,
    /// Reverse VMRPC: a guest server thread offers a slot. RBX:
    /// guest-physical address of an [`RvInit`]. Returns the slot number.
    RvInit = 6,
    /// Reverse VMRPC: a slot answers its last request and waits for the
    /// next. RBX: slot, RCX: tag of the request answered (0 for none), RDX:
    /// its result (>= 0: response length; < 0: negated errno), RSI:
    /// [`RV_NO_WAIT`] or 0. Returns [`RV_REQUEST`] when a request is in the
    /// slot's request buffer, [`CALL_AGAIN`] when none came yet (call
    /// again).
    RvWait = 7,
    /// Reverse VMRPC: the slot's thread stops. RBX: slot. Returns 0; a
    /// request it held fails with `ESHUTDOWN`.
    RvFini = 8,
}

impl Opcode {
    /// Decodes an opcode; `None` for one this side does not know.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Ping),
            1 => Some(Self::QueryVersion),
            2 => Some(Self::Bind),
            3 => Some(Self::Unbind),
            4 => Some(Self::Perform),
            5 => Some(Self::Cancel),
            6 => Some(Self::RvInit),
            7 => Some(Self::RvWait),
            8 => Some(Self::RvFini),
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

/// `_IOW(type, nr, T)`: the kernel reads `T`.
pub const fn iow<T>(ty: u32, nr: u32) -> u32 {
    ioc(IOC_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// `_IOR(type, nr, T)`: the kernel writes `T`.
pub const fn ior<T>(ty: u32, nr: u32) -> u32 {
    ioc(IOC_READ, ty, nr, core::mem::size_of::<T>())
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

/// Argument of [`GUEST_IOC_BIND`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestBind {
    /// In: server name, as in [`BindRequest::name`].
    pub name: [u8; SERVER_NAME_LEN],
    /// In: server version.
    pub version: u32,
    /// Must be zero.
    pub flags: u32,
    /// Out: the handle, valid for this open file only.
    pub handle: u64,
}

/// Argument of [`GUEST_IOC_PERFORM`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestPerform {
    /// In: a handle from [`GUEST_IOC_BIND`] on the same open file.
    pub handle: u64,
    /// In: the server's function number.
    pub func: u32,
    /// In: [`PERFORM_WRITE`] to let the server write the buffer back.
    pub flags: u32,
    /// In: user address of the argument buffer.
    pub buf: u64,
    /// In: its length, at most [`MAX_CALL_BYTES`].
    pub len: u64,
    /// Out: what the server returned (>= 0) or a negated errno.
    pub result: i64,
}

/// [`GuestPerform::flags`]: the server may write the buffer, and what it
/// wrote is copied back to user space.
pub const PERFORM_WRITE: u32 = 1;

/// Binds to a host server. See [`GuestBind`].
pub const GUEST_IOC_BIND: u32 = iowr::<GuestBind>(GUEST_IOC_MAGIC, 0x01);
/// Releases a handle: the argument is the handle itself, by value.
pub const GUEST_IOC_UNBIND: u32 = ioc(IOC_WRITE, GUEST_IOC_MAGIC, 0x02, 8);
/// Calls a bound server. See [`GuestPerform`].
pub const GUEST_IOC_PERFORM: u32 = iowr::<GuestPerform>(GUEST_IOC_MAGIC, 0x03);

/// Argument of [`GUEST_IOC_HYPERCALL`]: a raw CoVMM hypercall, for tests.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct GuestHypercall {
    /// In: opcode (offset into the CoVMM range), below [`HC_COUNT`].
    pub op: u64,
    /// In: RBX, RCX, RDX, RSI.
    pub args: [u64; 4],
    /// In: user address of bytes to place in guest kernel memory, or 0.
    pub payload: u64,
    /// In: their length, at most [`GUEST_HYPERCALL_PAYLOAD_MAX`].
    pub payload_len: u64,
    /// In: which argument (0-3) the payload's guest-physical address replaces.
    pub payload_arg: u64,
    /// Out: RAX.
    pub result: i64,
}

/// Largest [`GuestHypercall::payload`].
pub const GUEST_HYPERCALL_PAYLOAD_MAX: u64 = 4096;

/// Issues a raw CoVMM hypercall; needs `CAP_SYS_RAWIO`. See [`GuestHypercall`].
pub const GUEST_IOC_HYPERCALL: u32 = iowr::<GuestHypercall>(GUEST_IOC_MAGIC, 0x04);

/// Value of [`GuestPing::insn`] for Intel's `vmcall`.
pub const INSN_VMCALL: u32 = 1;
/// Value of [`GuestPing::insn`] for AMD's `vmmcall`.
pub const INSN_VMMCALL: u32 = 2;

// ---------------------------------------------------------------------------
// The host device `/dev/covmm`: VMRPC servers in host user space.
//
// A process that owns a VM (the VMM's uid, or CAP_SYS_ADMIN) registers a
// server for that VM on an open file, then serves calls from a loop, as a
// FUSE daemon does: wait for a call, read and write the guest memory the
// call exposes, reply. Closing the file unregisters the server; calls still
// waiting get `ESHUTDOWN`.

/// ioctl type byte of the host device `/dev/covmm`.
pub const HOST_IOC_MAGIC: u32 = 0xcf;

/// Argument of [`HOST_IOC_SERVER_REGISTER`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostServerRegister {
    /// Server name, as in [`BindRequest::name`].
    pub name: [u8; SERVER_NAME_LEN],
    /// Server version.
    pub version: u32,
    /// Must be zero.
    pub flags: u32,
    /// Pid of the VMM process whose guests may bind to the server.
    pub vm_pid: i32,
    /// Explicit padding; must be zero.
    pub pad: u32,
}

/// Argument of [`HOST_IOC_SERVER_WAIT`]: one call, filled in by the kernel.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostCall {
    /// Names the call in the other ioctls until it is replied to.
    pub call_id: u64,
    /// The server function the guest called.
    pub func: u32,
    /// The calling vCPU.
    pub vcpu: u32,
    /// Guest address of the request, as the guest gave it.
    pub arg: u64,
    /// Its length, as the guest gave it.
    pub arg_len: u64,
}

/// Argument of [`HOST_IOC_GUEST_READ`] and [`HOST_IOC_GUEST_WRITE`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostGuestCopy {
    /// A call taken with [`HOST_IOC_SERVER_WAIT`] and not yet replied to.
    pub call_id: u64,
    /// Guest address inside the memory the call exposes.
    pub gva: u64,
    /// User address of the server's buffer.
    pub buf: u64,
    /// Bytes to copy, at most [`MAX_CALL_BYTES`].
    pub len: u64,
}

/// Argument of [`HOST_IOC_GET_HVA`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostGetHva {
    /// As in [`HostGuestCopy::call_id`].
    pub call_id: u64,
    /// Guest address inside the memory the call exposes.
    pub gva: u64,
    /// 1 if the byte is to be written (it must be writable), else 0.
    pub write: u32,
    /// Explicit padding; must be zero.
    pub pad: u32,
    /// Out: the byte's address in the VMM process.
    pub hva: u64,
}

/// Argument of [`HOST_IOC_REPLY`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostReply {
    /// As in [`HostGuestCopy::call_id`].
    pub call_id: u64,
    /// The guest's result: >= 0, or a negated errno (-1..=-4095).
    pub result: i64,
}

/// Registers the open file as a server. See [`HostServerRegister`].
pub const HOST_IOC_SERVER_REGISTER: u32 = iow::<HostServerRegister>(HOST_IOC_MAGIC, 0x01);
/// Waits for the next call (`EAGAIN` at once with `O_NONBLOCK`). See [`HostCall`].
pub const HOST_IOC_SERVER_WAIT: u32 = ior::<HostCall>(HOST_IOC_MAGIC, 0x02);
/// Copies guest memory of a call into the server's buffer.
pub const HOST_IOC_GUEST_READ: u32 = iow::<HostGuestCopy>(HOST_IOC_MAGIC, 0x03);
/// Copies the server's buffer into writable guest memory of a call.
pub const HOST_IOC_GUEST_WRITE: u32 = iow::<HostGuestCopy>(HOST_IOC_MAGIC, 0x04);
/// Translates a guest address of a call. See [`HostGetHva`].
pub const HOST_IOC_GET_HVA: u32 = iowr::<HostGetHva>(HOST_IOC_MAGIC, 0x05);
/// Ends a call with a result. See [`HostReply`].
pub const HOST_IOC_REPLY: u32 = iow::<HostReply>(HOST_IOC_MAGIC, 0x06);

/// One VM in [`HOST_IOC_LIST_VMS`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostVmInfo {
    /// Pid of the VMM process; names the VM everywhere (`/proc/covmm/<pid>`).
    pub pid: i32,
    /// Reverse VMRPC slots the guest offers (0: no guest server).
    pub slots: u32,
    /// Slots serving a request now.
    pub busy: u32,
    /// Requests waiting for a slot.
    pub queued: u32,
    /// Reverse VMRPC calls made, failed and timed out.
    pub calls: u64,
    /// See [`HostVmInfo::calls`].
    pub errors: u64,
    /// See [`HostVmInfo::calls`].
    pub timeouts: u64,
}

/// Argument of [`HOST_IOC_LIST_VMS`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostListVms {
    /// User address of an array of `capacity` [`HostVmInfo`].
    pub vms: u64,
    /// Entries the array holds.
    pub capacity: u32,
    /// Out: VMs the caller may reach (may exceed `capacity`; only
    /// `capacity` are written).
    pub count: u32,
}

/// Argument of [`HOST_IOC_RV_CALL`]: a Reverse VMRPC call.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostRvCall {
    /// The VM, by its VMM's pid.
    pub vm_pid: i32,
    /// Function of the service.
    pub func: u32,
    /// Guest service name, as a server name.
    pub service: [u8; SERVER_NAME_LEN],
    /// User address of the request data.
    pub input: u64,
    /// Its length, at most `RV_MAX_BUF - size_of::<RvRequest>()`.
    pub in_len: u32,
    /// In: room at `output`; out: the response's length.
    pub out_len: u32,
    /// User address for the response.
    pub output: u64,
    /// Must be zero.
    pub flags: u32,
    /// Explicit padding; must be zero.
    pub pad: u32,
}

/// Argument of [`HOST_IOC_RV_SET_TIMEOUT`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostRvTimeout {
    /// The VM, by its VMM's pid.
    pub vm_pid: i32,
    /// How long clients wait for the guest, 1 to 600000 ms.
    pub timeout_ms: u32,
}

/// Buckets of [`HostRvStats::latency`].
pub const RV_HIST_BUCKETS: usize = 16;

/// Argument of [`HOST_IOC_RV_STATS`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostRvStats {
    /// In: the VM, by its VMM's pid.
    pub vm_pid: i32,
    /// Out: slots the guest offers.
    pub slots: u32,
    /// Out: slots serving a request.
    pub busy: u32,
    /// Out: requests waiting.
    pub queued: u32,
    /// Out: the clients' timeout.
    pub timeout_ms: u32,
    /// Explicit padding; zero.
    pub pad: u32,
    /// Out: calls made.
    pub calls: u64,
    /// Out: calls failed (timeouts apart).
    pub errors: u64,
    /// Out: calls timed out.
    pub timeouts: u64,
    /// Out: successful calls by latency: bucket `i` counts those under
    /// 2^i microseconds (and at least 2^(i-1)); the last holds the rest.
    pub latency: [u64; RV_HIST_BUCKETS],
}

/// Lists the VMs the caller owns. See [`HostListVms`].
pub const HOST_IOC_LIST_VMS: u32 = iowr::<HostListVms>(HOST_IOC_MAGIC, 0x10);
/// Calls a guest service. See [`HostRvCall`].
pub const HOST_IOC_RV_CALL: u32 = iowr::<HostRvCall>(HOST_IOC_MAGIC, 0x11);
/// Sets a VM's client timeout. See [`HostRvTimeout`].
pub const HOST_IOC_RV_SET_TIMEOUT: u32 = iow::<HostRvTimeout>(HOST_IOC_MAGIC, 0x12);
/// Reads a VM's Reverse VMRPC counters. See [`HostRvStats`].
pub const HOST_IOC_RV_STATS: u32 = iowr::<HostRvStats>(HOST_IOC_MAGIC, 0x13);

/// The guest I/O request monitor: records, filters and its ioctls
/// (`HOST_IOC_IOMON_*`, numbers 0x20 to 0x22).
#[path = "iomon.rs"]
pub mod iomon;

/// hlfs, the guest file system served from host files: its VMRPC protocol.
#[path = "hlfs.rs"]
pub mod hlfs;

/// The largest errno a call's result may carry, as the kernel's `MAX_ERRNO`:
/// a result is a value (`>= 0`) or a negated errno (`-MAX_ERRNO..=-1`).
pub const MAX_ERRNO: i64 = 4095;

/// Whether `result` may be given to a guest as a call's result.
pub const fn valid_result(result: i64) -> bool {
    result >= -MAX_ERRNO
}

/// Splits a call's result: a value, or the error `errno` builds from the
/// negated errno (as the kernel's `Error::from_errno` takes it). A result
/// below `-MAX_ERRNO` carries no errno and gives `invalid`.
pub fn decode_result<E>(result: i64, errno: impl FnOnce(i32) -> E, invalid: E) -> Result<i64, E> {
    match result {
        0.. => Ok(result),
        // The range check makes the cast lossless.
        r if valid_result(r) => Err(errno(r as i32)),
        _ => Err(invalid),
    }
}

// ---------------------------------------------------------------------------
// VMRPC: guest-to-host calls.
//
// Servers see guest memory by guest (kernel virtual) address, as in the
// Tsukuba VMRPC model: the request's address and length, and any pointer
// inside the request. The host cannot walk guest page tables with what KVM
// exports, so each call carries a map: segments pairing a guest virtual range
// with the guest-physical range behind it, which the host resolves through
// the VM's memslots. The guest library builds the map from kernel pointers,
// and a server can touch nothing the guest did not put in it.

/// Size of [`BindRequest::name`]; a name has at most `SERVER_NAME_LEN - 1`
/// bytes and is NUL-terminated.
pub const SERVER_NAME_LEN: usize = 32;
/// Most segments one call may carry; one page per segment covers
/// [`MAX_CALL_BYTES`] of scattered (vmalloc) memory.
pub const MAX_SEGMENTS: usize = 256;
/// Most bytes one call's segments may cover in all. Larger transfers take
/// several calls.
pub const MAX_CALL_BYTES: u64 = 1 << 20;
/// Most handles one VM may hold at once.
pub const MAX_BINDINGS: usize = 1024;

/// Argument of [`Opcode::Bind`], in guest memory.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct BindRequest {
    /// Server name: `[A-Za-z0-9_.-]`, NUL-terminated and NUL-padded.
    pub name: [u8; SERVER_NAME_LEN],
    /// Server version; must equal the registered one.
    pub version: u32,
    /// [`BIND_RESTARTABLE`], or zero.
    pub flags: u32,
}

/// [`BindRequest::flags`]: the guest handles [`CALL_AGAIN`] (and so can
/// wait for servers that take their time: those in user space accept no
/// other binding, and refuse one without it with `EPROTO`).
pub const BIND_RESTARTABLE: u32 = 1;

/// Head of the descriptor block of [`Opcode::Perform`]; its segments follow
/// it directly in guest memory.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CallDesc {
    /// Guest address of the request, handed to the server as is.
    pub arg: u64,
    /// Its length, handed to the server as is.
    pub arg_len: u64,
}

/// A piece of guest memory the server may reach during a call.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Segment {
    /// Guest (kernel virtual) address of the first byte.
    pub gva: u64,
    /// Guest-physical address of the first byte.
    pub gpa: u64,
    /// Length in bytes; not zero.
    pub len: u32,
    /// [`SEG_WRITE`] if the server may write it; other bits must be zero.
    pub flags: u32,
}

/// [`Segment::flags`]: the server may write this segment.
pub const SEG_WRITE: u32 = 1;

/// Why a server name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Empty, unterminated, not NUL-padded, or with a byte outside
    /// `[A-Za-z0-9_.-]`.
    Invalid,
}

/// The name in a [`BindRequest`], as a byte string without its NUL.
pub fn server_name(raw: &[u8; SERVER_NAME_LEN]) -> Result<&[u8], NameError> {
    let len = raw.iter().position(|&b| b == 0).ok_or(NameError::Invalid)?;
    let (name, rest) = raw.split_at(len);
    let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if name.is_empty() || !name.iter().all(valid) || rest.iter().any(|&b| b != 0) {
        return Err(NameError::Invalid);
    }
    Ok(name)
}

/// Encodes a name for a [`BindRequest`]; `None` if it does not fit or is
/// not a valid name.
pub fn encode_server_name(name: &[u8]) -> Option<[u8; SERVER_NAME_LEN]> {
    let mut raw = [0u8; SERVER_NAME_LEN];
    raw.get_mut(..name.len())?.copy_from_slice(name);
    (name.len() < SERVER_NAME_LEN && server_name(&raw).is_ok()).then_some(raw)
}

/// Why a segment list is refused; [`SegmentError::errno`] is what the guest
/// gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// More than [`MAX_SEGMENTS`] segments, or more than [`MAX_CALL_BYTES`].
    TooBig,
    /// A segment of length zero, unknown flag bits, or two segments sharing
    /// a guest-physical or a guest virtual byte.
    Invalid,
    /// A segment runs past the end of the 64-bit address space.
    Wraps,
}

impl SegmentError {
    /// The (positive) errno for the guest.
    pub const fn errno(self) -> i64 {
        match self {
            Self::TooBig => errno::E2BIG,
            Self::Invalid => errno::EINVAL,
            Self::Wraps => errno::EOVERFLOW,
        }
    }
}

/// Checks each segment on its own and returns the total length. The overlap
/// check needs scratch space; see [`check_disjoint`].
pub fn check_segments(segs: &[Segment]) -> Result<u64, SegmentError> {
    if segs.len() > MAX_SEGMENTS {
        return Err(SegmentError::TooBig);
    }
    let mut total: u64 = 0;
    for seg in segs {
        if seg.len == 0 || seg.flags & !SEG_WRITE != 0 {
            return Err(SegmentError::Invalid);
        }
        for start in [seg.gva, seg.gpa] {
            // The range ends at start + len, exclusive, which must not pass
            // 2^64 - 1 so that every byte has an address and ends compare.
            start
                .checked_add(u64::from(seg.len))
                .ok_or(SegmentError::Wraps)?;
        }
        total += u64::from(seg.len);
        if total > MAX_CALL_BYTES {
            return Err(SegmentError::TooBig);
        }
    }
    Ok(total)
}

/// Fails if two of the ranges `(start, end)` share a byte. Sorts `ranges`.
pub fn check_disjoint(ranges: &mut [(u64, u64)]) -> Result<(), SegmentError> {
    // Insertion sort: lists are short and usually sorted already, and core's
    // sorts bring in panic paths that objtool cannot follow in kernel builds.
    for i in 1..ranges.len() {
        let mut j = i;
        while j > 0 && ranges[j - 1] > ranges[j] {
            ranges.swap(j - 1, j);
            j -= 1;
        }
    }
    if ranges.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(SegmentError::Invalid);
    }
    Ok(())
}

/// A piece of a guest virtual range, resolved to guest-physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Guest-physical address.
    pub gpa: u64,
    /// Bytes, never zero.
    pub len: usize,
    /// Whether the segment it lies in may be written.
    pub writable: bool,
}

/// Resolves a guest virtual range through a call's segments (checked by
/// [`check_segments`] and, for virtual addresses, [`check_disjoint`]).
///
/// Yields one [`Chunk`] per segment crossed, or a single `None` where the
/// range leaves the segments, after which it stops. Callers that must not act
/// on part of a range check it whole first.
#[derive(Clone)]
pub struct Resolve<'a> {
    segs: &'a [Segment],
    gva: u64,
    left: u64,
    /// Where the next lookup starts: buffers are usually described in order.
    hint: usize,
}

/// The chunks behind guest virtual `gva..gva + len`; see [`Resolve`].
pub fn resolve(segs: &[Segment], gva: u64, len: u64) -> Resolve<'_> {
    Resolve {
        segs,
        gva,
        left: len,
        hint: 0,
    }
}

impl Resolve<'_> {
    fn holds(seg: &Segment, gva: u64) -> bool {
        gva >= seg.gva && gva - seg.gva < u64::from(seg.len)
    }
}

impl Iterator for Resolve<'_> {
    type Item = Option<Chunk>;

    fn next(&mut self) -> Option<Option<Chunk>> {
        if self.left == 0 {
            return None;
        }
        let found = (self.hint..self.segs.len())
            .chain(0..self.hint)
            .find(|&i| Self::holds(&self.segs[i], self.gva));
        let Some(i) = found else {
            self.left = 0;
            return Some(None);
        };
        let seg = &self.segs[i];
        let within = self.gva - seg.gva;
        let n = (u64::from(seg.len) - within).min(self.left);
        self.left -= n;
        // No wrap: the segment's virtual range does not pass 2^64 - 1.
        self.gva += n;
        self.hint = i + 1;
        Some(Some(Chunk {
            gpa: seg.gpa + within,
            len: n as usize,
            writable: seg.flags & SEG_WRITE != 0,
        }))
    }
}

// ---------------------------------------------------------------------------
// Reverse VMRPC: host-to-guest calls, served by guest kernel threads that
// wait inside the hypercall (VM long polling).
//
// Each guest server thread offers a slot: a request buffer the host writes
// and a response buffer the guest writes, both physically contiguous guest
// memory. A request is an [`RvRequest`] header followed by its data.

/// Version of [`RvInit`] and of the request format.
pub const RV_VERSION: u32 = 1;
/// Largest request or response buffer.
pub const RV_MAX_BUF: u32 = 64 * 1024;
/// Most slots one VM may offer.
pub const RV_MAX_SLOTS: usize = 16;
/// [`Opcode::RvWait`]: a request waits in the slot's request buffer.
pub const RV_REQUEST: i64 = 1;
/// [`Opcode::RvWait`] flag (RSI): do not wait for a request; return
/// [`CALL_AGAIN`] at once if none is queued. For a guest whose CPU has other
/// work.
pub const RV_NO_WAIT: u64 = 1;

/// Argument of [`Opcode::RvInit`], in guest memory.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RvInit {
    /// [`RV_VERSION`].
    pub version: u32,
    /// Must be zero.
    pub flags: u32,
    /// Chosen at random when the guest's server starts; a new value tells
    /// the host the guest restarted, and requests held by older slots fail.
    pub boot_id: u64,
    /// Guest-physical address of the request buffer.
    pub req_gpa: u64,
    /// Guest-physical address of the response buffer.
    pub resp_gpa: u64,
    /// Request buffer length, `size_of::<RvRequest>()..=RV_MAX_BUF`.
    pub req_len: u32,
    /// Response buffer length, `1..=RV_MAX_BUF`.
    pub resp_len: u32,
}

/// Head of a request in a slot's request buffer; `len` bytes of data
/// follow.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RvRequest {
    /// Names the request in the [`Opcode::RvWait`] that answers it; never 0.
    pub tag: u64,
    /// The service, as a server name (NUL-padded).
    pub service: [u8; SERVER_NAME_LEN],
    /// Function of the service.
    pub func: u32,
    /// Bytes of data after the header.
    pub len: u32,
}

/// Guest services of guest-rvmrpc (names and their functions).
pub mod service {
    /// Echoes its data back.
    pub const ECHO: &[u8] = b"echo";
    /// The guest's /proc/meminfo, as [`super::entry`] records.
    pub const MEMINFO: &[u8] = b"meminfo";
    /// The guest's /proc/cpuinfo, as [`super::entry`] records (one group per
    /// CPU, text values).
    pub const CPUINFO: &[u8] = b"cpuinfo";
    /// The guest's /proc/loadavg, as [`super::entry`] records.
    pub const LOADAVG: &[u8] = b"loadavg";
    /// Drops the guest's caches; data: one `u32`, 1, 2 or 3, as
    /// /proc/sys/vm/drop_caches takes.
    pub const DROP_CACHES: &[u8] = b"drop_caches";
    /// Lists the services: one [`super::entry`] record each, key the name.
    pub const SERVICES: &[u8] = b"services";
}

/// Typed service results: a sequence of records, each an [`Entry`] header,
/// its key, its text, and padding to 8 bytes. A record carries a number with
/// a unit, or text. Encoding and decoding check every length, so either side
/// may hand the other garbage.
pub mod entry {
    use super::*;

    /// Header of one record.
    #[derive(
        Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[repr(C)]
    pub struct Entry {
        /// Groups records, for example the CPU number in cpuinfo.
        pub group: u32,
        /// One of the `UNIT_*` values.
        pub unit: u32,
        /// The number (unused for [`UNIT_TEXT`]).
        pub value: u64,
        /// Bytes of key after the header.
        pub key_len: u16,
        /// Bytes of text after the key.
        pub text_len: u16,
        /// Explicit padding; zero.
        pub pad: u32,
    }

    /// A plain count.
    pub const UNIT_COUNT: u32 = 0;
    /// Bytes.
    pub const UNIT_BYTES: u32 = 1;
    /// Thousandths (load averages).
    pub const UNIT_MILLI: u32 = 2;
    /// The record's text is its value.
    pub const UNIT_TEXT: u32 = 3;

    const HEAD: usize = core::mem::size_of::<Entry>();

    fn padded(n: usize) -> usize {
        n.div_ceil(8) * 8
    }

    /// Appends a record to `out` at `at`; returns the offset after it, or
    /// `None` if it does not fit (or a length exceeds 65535).
    pub fn put(
        out: &mut [u8],
        at: usize,
        group: u32,
        unit: u32,
        value: u64,
        key: &[u8],
        text: &[u8],
    ) -> Option<usize> {
        let key_len = u16::try_from(key.len()).ok()?;
        let text_len = u16::try_from(text.len()).ok()?;
        let end = at.checked_add(padded(HEAD + key.len() + text.len()))?;
        let rec = out.get_mut(at..end)?;
        let head = Entry {
            group,
            unit,
            value,
            key_len,
            text_len,
            pad: 0,
        };
        rec[..HEAD].copy_from_slice(head.as_bytes());
        rec[HEAD..HEAD + key.len()].copy_from_slice(key);
        rec[HEAD + key.len()..HEAD + key.len() + text.len()].copy_from_slice(text);
        rec[HEAD + key.len() + text.len()..].fill(0);
        Some(end)
    }

    /// One decoded record.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Record<'a> {
        /// The header.
        pub head: Entry,
        /// The key.
        pub key: &'a [u8],
        /// The text.
        pub text: &'a [u8],
    }

    /// The records of `buf`; yields `Err(())` once, and stops, at a record
    /// that does not fit.
    pub fn records(buf: &[u8]) -> Records<'_> {
        Records { buf, at: 0 }
    }

    /// Iterator of [`records`].
    #[derive(Clone, Debug)]
    pub struct Records<'a> {
        buf: &'a [u8],
        at: usize,
    }

    impl<'a> Iterator for Records<'a> {
        type Item = Result<Record<'a>, ()>;

        fn next(&mut self) -> Option<Self::Item> {
            let rest = self.buf.get(self.at..)?;
            if rest.is_empty() {
                return None;
            }
            let Some(head) = rest
                .get(..HEAD)
                .and_then(|h| Entry::read_from_bytes(h).ok())
            else {
                self.at = self.buf.len();
                return Some(Err(()));
            };
            let (k, t) = (usize::from(head.key_len), usize::from(head.text_len));
            let len = padded(HEAD + k + t);
            let Some(rec) = rest
                .get(..len.min(rest.len()))
                .filter(|r| r.len() >= HEAD + k + t)
            else {
                self.at = self.buf.len();
                return Some(Err(()));
            };
            self.at += len.min(rest.len());
            Some(Ok(Record {
                head,
                key: &rec[HEAD..HEAD + k],
                text: &rec[HEAD + k..HEAD + k + t],
            }))
        }
    }

    fn trim(mut s: &[u8]) -> &[u8] {
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
            s = rest;
        }
        s
    }

    fn number(s: &[u8]) -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        s.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then_some(())?;
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// `"0.05"` as thousandths.
    fn milli(s: &[u8]) -> Option<u64> {
        let (whole, frac) = match s.iter().position(|&c| c == b'.') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, &b""[..]),
        };
        let mut thousandths = 0;
        for i in 0..3 {
            let digit = match frac.get(i) {
                Some(d) if d.is_ascii_digit() => u64::from(d - b'0'),
                Some(_) => return None,
                None => 0,
            };
            thousandths = thousandths * 10 + digit;
        }
        number(whole)?.checked_mul(1000)?.checked_add(thousandths)
    }

    /// Records for /proc/meminfo's text: `Name: value [kB]` lines become
    /// byte counts (or plain counts). Returns the bytes written, or `None`
    /// if `out` is too small or a line is malformed.
    pub fn from_meminfo(text: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut at = 0;
        for line in text.split(|&c| c == b'\n').filter(|l| !trim(l).is_empty()) {
            let colon = line.iter().position(|&c| c == b':')?;
            let rest = trim(&line[colon + 1..]);
            let (value, unit) = match rest.strip_suffix(b"kB") {
                Some(kb) => (number(trim(kb))?.checked_mul(1024)?, UNIT_BYTES),
                None => (number(rest)?, UNIT_COUNT),
            };
            at = put(out, at, 0, unit, value, trim(&line[..colon]), b"")?;
        }
        Some(at)
    }

    /// Records for /proc/loadavg's text, `"0.00 0.01 0.05 1/123 456"`:
    /// `load1`, `load5`, `load15` (thousandths), `running`, `threads`,
    /// `last_pid`.
    pub fn from_loadavg(text: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut words = trim(text.split(|&c| c == b'\n').next()?).split(|&c| c == b' ');
        let mut at = 0;
        for key in [&b"load1"[..], b"load5", b"load15"] {
            at = put(out, at, 0, UNIT_MILLI, milli(words.next()?)?, key, b"")?;
        }
        let tasks = words.next()?;
        let slash = tasks.iter().position(|&c| c == b'/')?;
        at = put(
            out,
            at,
            0,
            UNIT_COUNT,
            number(&tasks[..slash])?,
            b"running",
            b"",
        )?;
        at = put(
            out,
            at,
            0,
            UNIT_COUNT,
            number(&tasks[slash + 1..])?,
            b"threads",
            b"",
        )?;
        put(
            out,
            at,
            0,
            UNIT_COUNT,
            number(words.next()?)?,
            b"last_pid",
            b"",
        )
    }

    /// Records for /proc/cpuinfo's text: `key : value` lines as text
    /// records, grouped by CPU (blocks separated by blank lines).
    pub fn from_cpuinfo(text: &[u8], out: &mut [u8]) -> Option<usize> {
        let (mut at, mut cpu, mut in_block) = (0, 0u32, false);
        for line in text.split(|&c| c == b'\n') {
            if trim(line).is_empty() {
                if in_block {
                    cpu += 1;
                }
                in_block = false;
                continue;
            }
            in_block = true;
            let (key, value) = match line.iter().position(|&c| c == b':') {
                Some(i) => (trim(&line[..i]), trim(&line[i + 1..])),
                None => (trim(line), &b""[..]),
            };
            at = put(out, at, cpu, UNIT_TEXT, 0, key, value)?;
        }
        Some(at)
    }

    /// Writes records back as the /proc text they came from: `unit`
    /// decides the form (`kB` for bytes, two decimals for thousandths, the
    /// text for text), with a blank line between groups.
    pub fn write_text(buf: &[u8], w: &mut impl core::fmt::Write) -> core::fmt::Result {
        let mut group = None;
        for rec in records(buf) {
            let Ok(rec) = rec else {
                return w.write_str("(malformed record)\n");
            };
            if group.is_some_and(|g| g != rec.head.group) {
                w.write_str("\n")?;
            }
            group = Some(rec.head.group);
            let key = core::str::from_utf8(rec.key).unwrap_or("?");
            match rec.head.unit {
                UNIT_BYTES => writeln!(w, "{key}: {} kB", rec.head.value / 1024)?,
                UNIT_MILLI => writeln!(
                    w,
                    "{key}: {}.{:03}",
                    rec.head.value / 1000,
                    rec.head.value % 1000
                )?,
                UNIT_TEXT => writeln!(
                    w,
                    "{key}: {}",
                    core::str::from_utf8(rec.text).unwrap_or("?")
                )?,
                _ => writeln!(w, "{key}: {}", rec.head.value)?,
            }
        }
        Ok(())
    }
}

/// `covmm.selftest`, the server built into host-vmrpc for tests and
/// benchmarks.
pub mod selftest {
    /// Server name.
    pub const NAME: &[u8] = b"covmm.selftest";
    /// Server version.
    pub const VERSION: u32 = 1;
    /// Returns 0 without touching the argument: the cost of a call alone.
    pub const FUNC_NULL: u32 = 0;
    /// Reads the whole argument and returns [`hash`] of it.
    pub const FUNC_HASH: u32 = 1;
    /// Fills the whole argument with [`pattern`] and returns its length.
    pub const FUNC_FILL: u32 = 2;
    /// Copies the whole argument into a host buffer, 4 KiB at a time, and
    /// returns the nanoseconds the copying took on the host (benchmarks).
    pub const FUNC_COPY_IN: u32 = 3;
    /// The anchor of [`FUNC_COPY_IN`]: copies as many bytes as the argument
    /// is long from host memory, 4 KiB at a time, and returns the
    /// nanoseconds taken. The argument itself is not read.
    pub const FUNC_MEMCPY: u32 = 4;

    /// FNV-1a state before any byte.
    pub const HASH_START: u32 = 0x811c_9dc5;

    /// FNV-1a over `bytes`, continuing from `hash` ([`HASH_START`] at first).
    pub fn hash_more(mut hash: u32, bytes: &[u8]) -> u32 {
        for &b in bytes {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        hash
    }

    /// What [`FUNC_HASH`] returns for a finished hash: its low 31 bits, so
    /// that it is never mistaken for an error.
    pub const fn hash_result(hash: u32) -> i64 {
        (hash & 0x7fff_ffff) as i64
    }

    /// Byte `offset` of what [`FUNC_FILL`] writes.
    pub const fn pattern(offset: u64) -> u8 {
        ((offset % 251) * 7 % 251 + 1) as u8
    }
}

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
    fn entries_round_trip_and_refuse_garbage() {
        let mut buf = [0u8; 256];
        let at = entry::put(
            &mut buf,
            0,
            0,
            entry::UNIT_BYTES,
            2048 * 1024,
            b"MemTotal",
            b"",
        )
        .unwrap();
        assert_eq!(at % 8, 0);
        let end = entry::put(
            &mut buf,
            at,
            1,
            entry::UNIT_TEXT,
            0,
            b"model name",
            b"QEMU CPU",
        )
        .unwrap();
        let mut it = entry::records(&buf[..end]);
        let first = it.next().unwrap().unwrap();
        assert_eq!(
            (first.key, first.head.value, first.head.unit),
            (&b"MemTotal"[..], 2048 * 1024, entry::UNIT_BYTES)
        );
        let second = it.next().unwrap().unwrap();
        assert_eq!((second.head.group, second.text), (1, &b"QEMU CPU"[..]));
        assert!(it.next().is_none());
        // A record that claims more than the buffer holds.
        assert_eq!(entry::records(&buf[..end - 9]).nth(1), Some(Err(())));
        // A truncated header.
        assert_eq!(entry::records(&buf[..5]).next(), Some(Err(())));
        let mut it = entry::records(&buf[..5]);
        it.next();
        assert!(it.next().is_none());
        // No room.
        assert!(entry::put(&mut buf[..16], 0, 0, 0, 0, b"k", b"").is_none());
        assert!(entry::put(&mut buf, usize::MAX - 4, 0, 0, 0, b"", b"").is_none());
    }

    #[test]
    fn proc_text_becomes_records() {
        let mut out = [0u8; 1024];
        let meminfo = b"MemTotal:        2028000 kB\nHugePages_Total:       0\n\n";
        let n = entry::from_meminfo(meminfo, &mut out).unwrap();
        let recs: [_; 2] =
            core::array::from_fn(|i| entry::records(&out[..n]).nth(i).unwrap().unwrap());
        assert_eq!(
            (recs[0].key, recs[0].head.value, recs[0].head.unit),
            (&b"MemTotal"[..], 2028000 * 1024, entry::UNIT_BYTES)
        );
        assert_eq!(
            (recs[1].key, recs[1].head.value, recs[1].head.unit),
            (&b"HugePages_Total"[..], 0, entry::UNIT_COUNT)
        );
        assert!(entry::from_meminfo(b"MemTotal: lots kB\n", &mut out).is_none());
        assert!(entry::from_meminfo(b"no colon\n", &mut out).is_none());
        assert!(entry::from_meminfo(meminfo, &mut out[..20]).is_none());

        let n = entry::from_loadavg(b"0.05 1.50 12.00 2/345 6789\n", &mut out).unwrap();
        let values: [u64; 6] = core::array::from_fn(|i| {
            entry::records(&out[..n])
                .nth(i)
                .unwrap()
                .unwrap()
                .head
                .value
        });
        assert_eq!(values, [50, 1500, 12000, 2, 345, 6789]);
        assert!(entry::from_loadavg(b"0.05 1.50\n", &mut out).is_none());

        let cpuinfo = b"processor\t: 0\nmodel name\t: QEMU\n\nprocessor\t: 1\nflags\t\t:\n\n";
        let n = entry::from_cpuinfo(cpuinfo, &mut out).unwrap();
        let last = entry::records(&out[..n]).last().unwrap().unwrap();
        assert_eq!(
            (last.head.group, last.key, last.text),
            (1, &b"flags"[..], &b""[..])
        );
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
    fn vmrpc_opcodes_round_trip() {
        for op in [
            Opcode::Bind,
            Opcode::Unbind,
            Opcode::Perform,
            Opcode::Cancel,
        ] {
            assert_eq!(Opcode::from_raw(op as u32), Some(op));
        }
        for op in [Opcode::RvInit, Opcode::RvWait, Opcode::RvFini] {
            assert_eq!(Opcode::from_raw(op as u32), Some(op));
        }
        assert_eq!(Opcode::from_raw(9), None);
        assert!(!valid_result(CALL_AGAIN));
        assert!(valid_result(-4095) && valid_result(0) && !valid_result(-4096));
        let decode = |r| decode_result(r, |e| e, 0);
        assert_eq!(decode(7), Ok(7));
        assert_eq!(decode(i64::MAX), Ok(i64::MAX));
        assert_eq!(decode(-22), Err(-22));
        assert_eq!(decode(-4095), Err(-4095));
        assert_eq!(decode(-4096), Err(0));
        assert_eq!(decode(CALL_AGAIN), Err(0));
        assert_eq!(decode(i64::MIN), Err(0));
    }

    #[test]
    fn server_names_are_checked() {
        let raw = encode_server_name(b"MOD_PRINT").unwrap();
        assert_eq!(server_name(&raw), Ok(&b"MOD_PRINT"[..]));
        assert!(encode_server_name(b"").is_none());
        assert!(encode_server_name(b"a b").is_none());
        assert!(encode_server_name(&[b'a'; SERVER_NAME_LEN]).is_none());
        assert!(encode_server_name(&[b'a'; SERVER_NAME_LEN - 1]).is_some());
        // Unterminated, and garbage after the NUL.
        assert_eq!(
            server_name(&[b'a'; SERVER_NAME_LEN]),
            Err(NameError::Invalid)
        );
        let mut raw = encode_server_name(b"x").unwrap();
        raw[5] = b'y';
        assert_eq!(server_name(&raw), Err(NameError::Invalid));
    }

    fn seg(gpa: u64, len: u32) -> Segment {
        Segment {
            gva: 0xffff_8000_0000_0000 + gpa,
            gpa,
            len,
            flags: 0,
        }
    }

    #[test]
    fn segment_lists_are_bounded() {
        assert_eq!(check_segments(&[]), Ok(0));
        assert_eq!(check_segments(&[seg(0x1000, 10), seg(0x3000, 6)]), Ok(16));
        assert_eq!(
            check_segments(&[seg(0x1000, 0)]),
            Err(SegmentError::Invalid)
        );
        let bad_flags = Segment {
            flags: 2,
            ..seg(0, 1)
        };
        assert_eq!(check_segments(&[bad_flags]), Err(SegmentError::Invalid));
        let wraps = |gva, gpa, len| Segment {
            gva,
            gpa,
            len,
            flags: 0,
        };
        assert_eq!(
            check_segments(&[wraps(0, u64::MAX, 1)]),
            Err(SegmentError::Wraps)
        );
        assert_eq!(
            check_segments(&[wraps(u64::MAX - 9, 0, 10)]),
            Err(SegmentError::Wraps)
        );
        assert_eq!(
            check_segments(&[wraps(u64::MAX - 10, u64::MAX - 10, 10)]),
            Ok(10)
        );
        let big = [seg(0, u32::MAX)];
        assert_eq!(check_segments(&big), Err(SegmentError::TooBig));
        // 6 KiB: too much for a kernel stack, so user space checks this one.
        #[cfg(test)]
        {
            let many = [seg(0, 1); MAX_SEGMENTS + 1];
            assert_eq!(check_segments(&many), Err(SegmentError::TooBig));
        }
        assert_eq!(SegmentError::Wraps.errno(), 75);
    }

    #[test]
    fn overlapping_segments_are_found() {
        assert_eq!(check_disjoint(&mut [(0, 10), (10, 20)]), Ok(()));
        assert_eq!(
            check_disjoint(&mut [(10, 20), (0, 11)]),
            Err(SegmentError::Invalid)
        );
        assert_eq!(
            check_disjoint(&mut [(0, 100), (40, 50)]),
            Err(SegmentError::Invalid)
        );
        assert_eq!(
            check_disjoint(&mut [(5, 6), (3, 4), (1, 2), (0, 1)]),
            Ok(())
        );
        assert_eq!(check_disjoint(&mut []), Ok(()));
    }

    #[test]
    fn virtual_ranges_resolve_across_segments() {
        // One buffer over two scattered pages, described in reverse order.
        let segs = [
            Segment {
                gva: 0x5000,
                gpa: 0x9000,
                len: 0x1000,
                flags: SEG_WRITE,
            },
            Segment {
                gva: 0x4000,
                gpa: 0x2000,
                len: 0x1000,
                flags: 0,
            },
        ];
        let mut it = resolve(&segs, 0x4ff0, 0x20);
        assert_eq!(
            it.next(),
            Some(Some(Chunk {
                gpa: 0x2ff0,
                len: 0x10,
                writable: false
            }))
        );
        assert_eq!(
            it.next(),
            Some(Some(Chunk {
                gpa: 0x9000,
                len: 0x10,
                writable: true
            }))
        );
        assert_eq!(it.next(), None);
        // Leaving the described memory shows as one `None`, then the end.
        let mut it = resolve(&segs, 0x5ff0, 0x20);
        assert_eq!(
            it.next(),
            Some(Some(Chunk {
                gpa: 0x9ff0,
                len: 0x10,
                writable: true
            }))
        );
        assert_eq!(it.next(), Some(None));
        assert_eq!(it.next(), None);
        assert_eq!(resolve(&segs, 0x3fff, 1).next(), Some(None));
        assert_eq!(resolve(&segs, u64::MAX, 1).next(), Some(None));
        assert!(resolve(&segs, 0, 0).next().is_none());
        assert_eq!(resolve(&[], 0x4000, 1).next(), Some(None));
    }

    #[test]
    fn selftest_helpers_are_stable() {
        // FNV-1a of "a" is 0xe40c292c.
        assert_eq!(selftest::hash_more(selftest::HASH_START, b"a"), 0xe40c_292c);
        assert_eq!(selftest::hash_result(0xe40c_292c), 0x640c_292c);
        assert_eq!(selftest::pattern(0), 1);
        assert_eq!(selftest::pattern(1), 8);
        assert_eq!(selftest::pattern(251), 1);
        assert_eq!(
            selftest::pattern(u64::MAX),
            selftest::pattern(u64::MAX % 251)
        );
    }

    #[test]
    fn ioctl_numbers_match_the_c_macros() {
        // _IOWR(0xce, 0x00, struct covmm_guest_ping) with a 32-byte struct.
        assert_eq!(core::mem::size_of::<GuestPing>(), 32);
        assert_eq!(GUEST_IOC_PING, 0xc020_ce00);
    }
}
