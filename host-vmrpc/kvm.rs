// SPDX-License-Identifier: GPL-2.0

//! KVM-facing layer of host-vmrpc: the only file of the module with `unsafe`.
//!
//! C headers: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h),
//! [`include/linux/ftrace.h`](srctree/include/linux/ftrace.h) and
//! [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h); the C
//! side is `kvm_glue.c`.
//!
//! The logic above it sees only safe types:
//! - [`Kvm`], a VM whose reference count KVM owns, held through [`ARef`];
//! - [`Vcpu`], the vCPU whose hypercall is being served, borrowed for the call,
//!   and its [`GuestMemory`];
//! - [`MmWatch`], an mmu_notifier whose `release` tells [`Host`] that a VMM
//!   process has gone;
//! - [`Workqueue`], a workqueue owned by the module;
//! - [`Registration`], the hypercall hook itself;
//! - the exported C API of `include/covmm/host.h`, through which other
//!   modules register VMRPC servers ([`ForeignDispatch`]).
//!
//! # Teardown
//!
//! A diverted hypercall runs module code from the moment ftrace changes its
//! instruction pointer. [`Registration`]'s drop therefore waits in three steps:
//! after `unregister_ftrace_function()`, `synchronize_rcu_tasks()` waits out
//! every task between the diversion and the point where it takes
//! [`Host::calls`] (that stretch never sleeps voluntarily); then SRCU waits for
//! the calls themselves; a second `synchronize_rcu_tasks()` covers the few
//! instructions after the SRCU unlock.

use core::marker::{PhantomData, PhantomPinned};
use core::ops::Deref;
use core::ptr::{self, NonNull};
use kernel::ffi::c_long;

use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    prelude::*,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        atomic::{
            ordering::{Acquire, Release},
            Atomic,
        },
        Arc,
    },
    task::{Kuid, Task},
    time::{msecs_to_jiffies, Msecs},
    types::Opaque,
    uaccess::{UserPtr, UserSlice},
    workqueue::Queue,
};

#[path = "kvm_hlfs.rs"]
pub(crate) mod hlfs;
#[path = "kvm_io.rs"]
mod io;
pub(crate) use io::{flush_delayed_work, monotonic_ns, IoProbes, ProbeContext, ProbeSlots, VcpuIo};

use crate::abi;
use crate::host_api::DispatchFn as CDispatchFn;
use crate::server::{CallContext, Dispatch, Server};
use crate::Host;

/// Opaque stand-ins for C structs that `kernel::bindings` does not have.
mod raw {
    use super::*;

    /// C `struct kvm`.
    #[repr(C)]
    pub(crate) struct kvm {
        _opaque: [u8; 0],
        _marker: PhantomData<(*mut u8, PhantomPinned)>,
    }

    /// C `struct kvm_vcpu`.
    #[repr(C)]
    pub(crate) struct kvm_vcpu {
        _opaque: [u8; 0],
        _marker: PhantomData<(*mut u8, PhantomPinned)>,
    }

    /// C `struct covmm_slot` (kvm_glue.h).
    #[repr(C)]
    pub(crate) struct covmm_slot {
        pub(crate) slot: *mut c_void,
        pub(crate) hva: usize,
        pub(crate) readonly: bool,
        pub(crate) invalid: bool,
        pub(crate) guest_memfd: bool,
        pub(crate) dirty_log: bool,
        pub(crate) dirty_ring: bool,
    }

    // Without lockdep, `struct lock_class_key` (reached through the
    // notifier structs) has no members, which the lint flags even behind a
    // pointer; C only ever sees these structs by pointer.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(crate) fn covmm_hook_register() -> c_int;
        pub(crate) fn covmm_hook_unregister();
        pub(crate) fn covmm_vcpu_kvm(vcpu: *mut kvm_vcpu) -> *mut kvm;
        pub(crate) fn covmm_vcpu_id(vcpu: *mut kvm_vcpu) -> c_int;
        // `struct mm_struct` travels as `void *`: only its identity is used in
        // Rust, and the bindings' version is not FFI-safe (empty members).
        pub(crate) fn covmm_kvm_mm(kvm: *mut kvm) -> *mut c_void;
        pub(crate) fn covmm_kvm_userspace_pid(kvm: *mut kvm) -> bindings::pid_t;
        pub(crate) fn covmm_mmu_notifier_get(
            ops: *const bindings::mmu_notifier_ops,
            mm: *mut c_void,
        ) -> *mut bindings::mmu_notifier;
        pub(crate) fn covmm_alloc_workqueue(name: *const c_char)
            -> *mut bindings::workqueue_struct;
        pub(crate) fn covmm_gfn_to_slot(
            vcpu: *mut kvm_vcpu,
            gfn: u64,
            out: *mut covmm_slot,
        ) -> c_int;
        pub(crate) fn covmm_slot_mark_dirty(slot: *mut covmm_slot, gfn: u64);
        pub(crate) fn covmm_kvm_gfn_to_slot(kvm: *mut kvm, gfn: u64, out: *mut covmm_slot)
            -> c_int;
        pub(crate) fn covmm_kvm_srcu_read_lock(kvm: *mut kvm) -> c_int;
        pub(crate) fn covmm_kvm_srcu_read_unlock(kvm: *mut kvm, idx: c_int);
        pub(crate) fn covmm_vcpu_srcu_read_unlock(vcpu: *mut kvm_vcpu);
        pub(crate) fn covmm_vcpu_srcu_read_lock(vcpu: *mut kvm_vcpu);
        pub(crate) fn covmm_vcpu_prepare_wait(vcpu: *mut kvm_vcpu);
        pub(crate) fn covmm_vcpu_finish_wait(vcpu: *mut kvm_vcpu);
        pub(crate) fn covmm_vcpu_request_pending(vcpu: *mut kvm_vcpu) -> bool;
        pub(crate) fn covmm_fatal_signal_pending() -> bool;
        pub(crate) fn covmm_get_task_by_vpid(nr: bindings::pid_t) -> *mut bindings::task_struct;
        pub(crate) fn covmm_task_mmu_notifier_get(
            ops: *const bindings::mmu_notifier_ops,
            task: *mut bindings::task_struct,
        ) -> *mut bindings::mmu_notifier;
        pub(crate) fn covmm_proc_init() -> c_int;
        pub(crate) fn covmm_proc_exit();
        pub(crate) fn covmm_proc_vm_create(
            name: *const c_char,
            vm: *const c_void,
            owner: *mut bindings::task_struct,
        ) -> *mut c_void;
        pub(crate) fn covmm_proc_vm_remove(dir: *mut c_void);
        // Exported by KVM (EXPORT_SYMBOL_GPL). Linking to them also makes this
        // module depend on kvm.ko, so kvm.ko cannot be unloaded while hooked.
        pub(crate) fn kvm_get_kvm(kvm: *mut kvm);
        pub(crate) fn kvm_put_kvm(kvm: *mut kvm);
    }
}

/// A KVM virtual machine.
///
/// # Invariants
///
/// A `&Kvm` always points to a live `struct kvm` whose `users_count` is held
/// by someone for at least the lifetime of the borrow.
#[repr(transparent)]
pub(crate) struct Kvm(Opaque<raw::kvm>);

// SAFETY: `struct kvm` is designed to be shared between threads; KVM itself
// uses it from every vCPU thread and from ioctl callers concurrently.
unsafe impl Send for Kvm {}
// SAFETY: as above; the fields read here are immutable after VM creation.
unsafe impl Sync for Kvm {}

// SAFETY: `kvm_get_kvm()`/`kvm_put_kvm()` maintain `users_count`, and KVM frees
// the VM only when it drops to zero.
unsafe impl AlwaysRefCounted for Kvm {
    fn inc_ref(&self) {
        // SAFETY: by the type invariant the VM is alive, so its count is > 0.
        unsafe { raw::kvm_get_kvm(self.0.get()) }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference that it gives up here.
        unsafe { raw::kvm_put_kvm(obj.cast::<raw::kvm>().as_ptr()) }
    }
}

/// Identity of a VM, valid as a map key while a reference on it is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VmKey(usize);

/// Identity of a VMM process's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmKey(usize);

impl VmKey {
    /// A `bits`-bit hash of the key (1 to 63 bits), for spreading VMs over
    /// buckets: `hash_64()`, the top bits of the address of the `struct kvm`
    /// times the 64-bit golden ratio.
    pub(crate) fn hash_bits(self, bits: u32) -> usize {
        ((self.0 as u64).wrapping_mul(0x61c8_8646_80b5_83eb) >> (64 - bits)) as usize
    }
}

impl MmKey {
    /// No address space: matches no VM.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) const NONE: MmKey = MmKey(0);
}

impl Kvm {
    /// The VM's identity. Unique while the VM is alive.
    pub(crate) fn key(&self) -> VmKey {
        VmKey(self.0.get() as usize)
    }

    /// The address space of the VMM process that created the VM.
    pub(crate) fn mm_key(&self) -> MmKey {
        // SAFETY: `kvm->mm` is set at creation and never changes; the VM is
        // alive by the type invariant.
        MmKey(unsafe { raw::covmm_kvm_mm(self.0.get()) } as usize)
    }

    /// The pid of the VMM process, as KVM recorded it (`kvm->userspace_pid`).
    pub(crate) fn userspace_pid(&self) -> i32 {
        // SAFETY: the VM is alive by the type invariant; the field is plain data.
        unsafe { raw::covmm_kvm_userspace_pid(self.0.get()) }
    }
}

/// The vCPU whose hypercall is being served, borrowed for the duration of the
/// call.
///
/// # Invariants
///
/// `ptr` is the vCPU that the current thread is running (it holds
/// `vcpu->mutex` and `kvm->srcu`), so it and its VM stay alive for `'a`, and
/// `current->mm` is the VM's `mm`.
pub(crate) struct Vcpu<'a> {
    ptr: NonNull<raw::kvm_vcpu>,
    _call: PhantomData<&'a ()>,
}

impl Vcpu<'_> {
    /// The VM this vCPU belongs to.
    pub(crate) fn kvm(&self) -> &Kvm {
        // SAFETY: `vcpu->kvm` is set at creation and never changes; the vCPU
        // holds a reference on its VM, and the vCPU is alive for the borrow by
        // the type invariant. `Kvm` is a transparent wrapper of `struct kvm`.
        unsafe { &*raw::covmm_vcpu_kvm(self.ptr.as_ptr()).cast::<Kvm>() }
    }

    /// The vCPU index inside its VM.
    pub(crate) fn id(&self) -> i32 {
        // SAFETY: the vCPU is alive by the type invariant.
        unsafe { raw::covmm_vcpu_id(self.ptr.as_ptr()) }
    }

    /// The guest's memory, as this vCPU sees it (its SMM state included).
    pub(crate) fn memory(&self) -> GuestMemory<'_> {
        GuestMemory { vcpu: self }
    }

    /// The guest's memory for use from other threads while this call lasts.
    pub(crate) fn remote_memory(&self) -> RemoteGuest {
        RemoteGuest {
            kvm: KvmRef::from(self.kvm()),
            task: ARef::from(&**current!()),
        }
    }

    /// VM long polling: sleeps inside the hypercall until `ready()` holds,
    /// an event for this vCPU arrives (an interrupt or any KVM request), a
    /// signal is pending, or `period_ms` have passed.
    ///
    /// It sleeps as `kvm_vcpu_block()` does: `kvm->srcu` is released
    /// meanwhile, so memslot updates never wait for it, and the task waits on
    /// the vCPU's rcuwait, which `kvm_vcpu_kick()` wakes. Whoever makes
    /// `ready()` true must then wake the task (`Task::wake_up`). `ready` runs
    /// in `TASK_INTERRUPTIBLE` state and must not sleep.
    pub(crate) fn wait(&self, ready: impl Fn() -> bool, period_ms: Msecs) -> Wake {
        let vcpu = self.ptr.as_ptr();
        if ready() {
            return Wake::Ready;
        }
        // SAFETY: this thread runs `vcpu` and holds its SRCU read lock (type
        // invariant); it is taken back below before `self` is used again.
        unsafe { raw::covmm_vcpu_srcu_read_unlock(vcpu) };
        // SAFETY: `vcpu` is live; the wait is finished below on this thread.
        unsafe { raw::covmm_vcpu_prepare_wait(vcpu) };
        // SAFETY: reads of the vCPU's request word and of our own signals.
        let event = unsafe { raw::covmm_vcpu_request_pending(vcpu) } || current!().signal_pending();
        if !event && !ready() {
            let jiffies = msecs_to_jiffies(period_ms).min(isize::MAX as usize);
            // SAFETY: the task state was set by `covmm_vcpu_prepare_wait()`;
            // wake-ups that came after it make this return at once.
            unsafe { bindings::schedule_timeout(jiffies as isize) };
        }
        // SAFETY: pairs with `covmm_vcpu_prepare_wait()` above.
        unsafe { raw::covmm_vcpu_finish_wait(vcpu) };
        // SAFETY: restores the SRCU read lock KVM expects us to hold.
        unsafe { raw::covmm_vcpu_srcu_read_lock(vcpu) };
        if ready() {
            Wake::Ready
        // SAFETY: reads the current task's signal state.
        } else if unsafe { raw::covmm_fatal_signal_pending() } {
            Wake::Dying
        } else {
            Wake::Event
        }
    }
}

/// Why [`Vcpu::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The condition holds.
    Ready,
    /// Something for the guest or the VMM: a guest event, a signal, or the
    /// poll period. The guest should be given the vCPU back.
    Event,
    /// The VMM process is being killed.
    Dying,
}

/// Guest-physical memory of the VM whose vCPU is being served, accessed
/// through the VM's memslots and the VMM process's address space.
///
/// Every access is bounded: a guest address outside every memslot (beyond
/// RAM, or in an MMIO hole) and a write to a read-only slot give `EFAULT`.
/// Writes are recorded in the slot's dirty bitmap when dirty logging is on,
/// so live migration sees them; with KVM's dirty ring (whose push is not
/// exported) a write during dirty tracking is refused with `EBUSY` rather
/// than lost.
pub(crate) struct GuestMemory<'a> {
    vcpu: &'a Vcpu<'a>,
}

const PAGE_SIZE: u64 = bindings::PAGE_SIZE as u64;

/// One guest page resolved for one access.
struct Frame {
    slot: raw::covmm_slot,
    gfn: u64,
}

/// Checks a frame that a memslot lookup returned for an access.
fn checked_frame(slot: raw::covmm_slot, gfn: u64, write: bool) -> Result<Frame> {
    if slot.invalid || slot.guest_memfd || (write && slot.readonly) {
        return Err(EFAULT);
    }
    if write && slot.dirty_log && slot.dirty_ring {
        return Err(EBUSY);
    }
    Ok(Frame { slot, gfn })
}

fn empty_slot() -> raw::covmm_slot {
    raw::covmm_slot {
        slot: ptr::null_mut(),
        hva: 0,
        readonly: false,
        invalid: false,
        guest_memfd: false,
        dirty_log: false,
        dirty_ring: false,
    }
}

/// Calls `f(frame, hva, offset, n)` for each page-sized piece of
/// `gpa..gpa + len`, `offset` counting from `gpa`; `frame(gfn)` resolves
/// each page.
fn for_each_page(
    gpa: u64,
    len: usize,
    frame: impl Fn(u64) -> Result<Frame>,
    mut f: impl FnMut(&mut Frame, usize, usize, usize) -> Result,
) -> Result {
    let end = gpa.checked_add(len as u64).ok_or(EFAULT)?;
    let mut at = gpa;
    while at < end {
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(end - at);
        let mut frame = frame(at / PAGE_SIZE)?;
        let hva = frame.slot.hva + (at % PAGE_SIZE) as usize;
        f(&mut frame, hva, (at - gpa) as usize, n as usize)?;
        at += n;
    }
    Ok(())
}

/// Records a write in the slot's dirty bitmap if dirty logging is on.
///
/// # Safety
///
/// `frame` must come from a memslot lookup under the SRCU read section the
/// caller is still in.
unsafe fn mark_dirty(frame: &mut Frame) {
    if frame.slot.dirty_log {
        // SAFETY: per the function's contract the slot is still valid.
        unsafe { raw::covmm_slot_mark_dirty(&mut frame.slot, frame.gfn) };
    }
}

impl GuestMemory<'_> {
    fn frame(&self, gfn: u64, write: bool) -> Result<Frame> {
        let mut slot = empty_slot();
        // SAFETY: the vCPU is the one this thread runs (type invariant of
        // `Vcpu`), so it holds `kvm->srcu` as the lookup requires; `slot` is
        // a valid out-pointer.
        to_result(unsafe { raw::covmm_gfn_to_slot(self.vcpu.ptr.as_ptr(), gfn, &mut slot) })?;
        checked_frame(slot, gfn, write)
    }

    fn for_each_page(
        &self,
        gpa: u64,
        len: usize,
        write: bool,
        f: impl FnMut(&mut Frame, usize, usize, usize) -> Result,
    ) -> Result {
        for_each_page(gpa, len, |gfn| self.frame(gfn, write), f)
    }

    /// Copies guest memory at `gpa` into `dst`.
    pub(crate) fn read(&self, gpa: u64, dst: &mut [u8]) -> Result {
        self.for_each_page(gpa, dst.len(), false, |_, hva, off, n| {
            // The vCPU thread's mm is the VMM's (type invariant of `Vcpu`), so
            // `hva` is a user address of the right process.
            UserSlice::new(UserPtr::from_addr(hva), n)
                .reader()
                .read_slice(&mut dst[off..off + n])
        })
    }

    /// Copies `src` into guest memory at `gpa`.
    pub(crate) fn write(&self, gpa: u64, src: &[u8]) -> Result {
        self.for_each_page(gpa, src.len(), true, |frame, hva, off, n| {
            UserSlice::new(UserPtr::from_addr(hva), n)
                .writer()
                .write_slice(&src[off..off + n])?;
            // SAFETY: `frame` was resolved during this call, whose SRCU
            // section (held by the vCPU thread) has not ended.
            unsafe { mark_dirty(frame) };
            Ok(())
        })
    }

    /// The address of guest-physical `gpa` in the VMM process.
    pub(crate) fn hva(&self, gpa: u64, write: bool) -> Result<usize> {
        let frame = self.frame(gpa / PAGE_SIZE, write)?;
        Ok(frame.slot.hva + (gpa % PAGE_SIZE) as usize)
    }

    /// Records in the dirty log that `gpa..gpa + len` was written through
    /// the VMM's addresses (`hva`), as [`GuestMemory::write`] does for its
    /// own copies.
    pub(crate) fn note_written(&self, gpa: u64, len: usize) -> Result {
        self.for_each_page(gpa, len, true, |frame, _, _, _| {
            // SAFETY: `frame` was resolved during this call, whose SRCU
            // section (held by the vCPU thread) has not ended.
            unsafe { mark_dirty(frame) };
            Ok(())
        })
    }
}

/// Guest-physical memory of a VM reached from a thread other than its vCPU
/// (a user-space VMRPC server), through the VMM process's address space.
///
/// The same checks as [`GuestMemory`] apply. Each access takes `kvm->srcu`
/// for its memslot lookups and goes through `access_process_vm()` on the
/// thread that made the call, so it fails with `EFAULT` once the VMM has
/// exited.
///
/// An access may hold the last user of the VMM's address space, whose
/// teardown runs CoVMM's mmu_notifier `release`, which ends the VM's calls
/// and takes their locks. Callers therefore hold an [`MmUser`] around their
/// accesses: its put is deferred, so the teardown never runs inside them.
pub(crate) struct RemoteGuest {
    kvm: KvmRef,
    task: ARef<Task>,
}

/// `kvm->srcu` held for reading.
struct KvmSrcuGuard<'a> {
    kvm: &'a Kvm,
    idx: c_int,
}

impl<'a> KvmSrcuGuard<'a> {
    fn new(kvm: &'a Kvm) -> Self {
        // SAFETY: the VM is live (type invariant of `Kvm`).
        let idx = unsafe { raw::covmm_kvm_srcu_read_lock(kvm.0.get()) };
        Self { kvm, idx }
    }
}

impl Drop for KvmSrcuGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `idx` came from the matching lock in `new`.
        unsafe { raw::covmm_kvm_srcu_read_unlock(self.kvm.0.get(), self.idx) };
    }
}

impl RemoteGuest {
    fn frame(&self, _srcu: &KvmSrcuGuard<'_>, gfn: u64, write: bool) -> Result<Frame> {
        let mut slot = empty_slot();
        // SAFETY: the VM is live (we hold a reference) and `_srcu` proves
        // the caller holds `kvm->srcu`; `slot` is a valid out-pointer.
        to_result(unsafe { raw::covmm_kvm_gfn_to_slot(self.kvm.0.get(), gfn, &mut slot) })?;
        checked_frame(slot, gfn, write)
    }

    /// Moves `len` bytes between `buf` and the VMM's `hva`.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for `len` bytes, for writing unless `write`.
    unsafe fn access(&self, hva: usize, buf: *mut u8, len: usize, write: bool) -> Result {
        let flags = if write { bindings::FOLL_WRITE } else { 0 };
        // SAFETY: `task` is held; `buf` per the function's contract; `len`
        // is at most a page.
        let done = unsafe {
            bindings::access_process_vm(
                self.task.as_ptr(),
                hva as kernel::ffi::c_ulong,
                buf.cast(),
                len as c_int,
                flags as c_uint,
            )
        };
        if done as usize == len {
            Ok(())
        } else {
            Err(EFAULT)
        }
    }

    /// A user reference on the VMM's address space; `EFAULT` if it has
    /// none left.
    pub(crate) fn hold_mm(&self) -> Result<MmUser> {
        // SAFETY: the task is held; a non-null result is a reference we own.
        let mm = unsafe { bindings::get_task_mm(self.task.as_ptr()) };
        // INVARIANT: see above.
        Ok(MmUser(NonNull::new(mm).ok_or(EFAULT)?))
    }

    /// Copies guest memory at `gpa` into `dst`.
    pub(crate) fn read(&self, gpa: u64, dst: &mut [u8]) -> Result {
        let srcu = KvmSrcuGuard::new(&self.kvm);
        for_each_page(
            gpa,
            dst.len(),
            |gfn| self.frame(&srcu, gfn, false),
            |_, hva, off, n| {
                let piece = &mut dst[off..off + n];
                // SAFETY: `piece` is writable for `n` bytes.
                unsafe { self.access(hva, piece.as_mut_ptr(), n, false) }
            },
        )
    }

    /// Copies `src` into guest memory at `gpa`.
    pub(crate) fn write(&self, gpa: u64, src: &[u8]) -> Result {
        let srcu = KvmSrcuGuard::new(&self.kvm);
        for_each_page(
            gpa,
            src.len(),
            |gfn| self.frame(&srcu, gfn, true),
            |frame, hva, off, n| {
                let piece = &src[off..off + n];
                // SAFETY: `piece` is readable for `n` bytes, and a write
                // access only reads the buffer.
                unsafe { self.access(hva, piece.as_ptr().cast_mut(), n, true)? };
                // SAFETY: `frame` was resolved under `srcu`, still held.
                unsafe { mark_dirty(frame) };
                Ok(())
            },
        )
    }

    /// The address of guest-physical `gpa` in the VMM process.
    pub(crate) fn hva(&self, gpa: u64, write: bool) -> Result<usize> {
        let srcu = KvmSrcuGuard::new(&self.kvm);
        let frame = self.frame(&srcu, gpa / PAGE_SIZE, write)?;
        Ok(frame.slot.hva + (gpa % PAGE_SIZE) as usize)
    }
}

/// A user reference (`mm_users`) on a VMM's address space, put with
/// `mmput_async()` so that dropping the last one never tears the address
/// space down in the dropping thread.
///
/// # Invariants
///
/// The value owns one `mm_users` reference on the pointed-to `mm_struct`.
pub(crate) struct MmUser(NonNull<bindings::mm_struct>);

impl Drop for MmUser {
    fn drop(&mut self) {
        // SAFETY: we own the reference (type invariant).
        unsafe { bindings::mmput_async(self.0.as_ptr()) }
    }
}

/// A VMM process, found by pid, that the caller is allowed to serve.
pub(crate) struct OwnedProcess(ARef<Task>);

impl OwnedProcess {
    /// The process `pid` (in the caller's pid namespace): `ESRCH` if there is
    /// none, `EACCES` unless the caller's effective uid is the process's uid
    /// or the caller has `CAP_SYS_ADMIN`.
    pub(crate) fn find(pid: i32) -> Result<Self> {
        if pid <= 0 {
            return Err(ESRCH);
        }
        // SAFETY: plain lookup; a non-null result carries a reference we own.
        let task = unsafe { raw::covmm_get_task_by_vpid(pid) };
        let task = NonNull::new(task.cast::<Task>()).ok_or(ESRCH)?;
        // SAFETY: `covmm_get_task_by_vpid()` took the reference we hand over.
        let task = unsafe { ARef::from_raw(task) };
        // SAFETY: `capable()` only reads the caller's credentials (and may
        // audit).
        let admin = unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) };
        if task.uid() != Kuid::current_euid() && !admin {
            return Err(EACCES);
        }
        Ok(Self(task))
    }

    /// Watches the process's address space: `ESRCH` if it has none left.
    pub(crate) fn watch(&self) -> Result<MmWatch> {
        // SAFETY: the task is held; the helper takes and drops its own mm
        // reference; `MMU_NOTIFIER_OPS` is static.
        let sub = unsafe { raw::covmm_task_mmu_notifier_get(&MMU_NOTIFIER_OPS, self.0.as_ptr()) };
        let sub = from_err_ptr(sub)?;
        // INVARIANT: as in `MmWatch::new`.
        Ok(MmWatch {
            ptr: NonNull::new(sub).ok_or(EINVAL)?,
        })
    }
}

/// A reference on the mmu_notifier that CoVMM keeps on a VMM's address space.
///
/// Its `release` runs when the VMM process's address space is torn down, which
/// is when every one of its VMs stops being able to run.
///
/// # Invariants
///
/// `ptr` was returned by `mmu_notifier_get(&MMU_NOTIFIER_OPS, ..)` and this
/// value owns one of its user references.
pub(crate) struct MmWatch {
    ptr: NonNull<bindings::mmu_notifier>,
}

// SAFETY: the reference may be dropped from any thread; `mmu_notifier_put()`
// has no thread affinity.
unsafe impl Send for MmWatch {}
// SAFETY: `MmWatch` exposes no methods through a shared reference.
unsafe impl Sync for MmWatch {}

impl MmWatch {
    /// Watches the address space of the VMM running `vcpu`.
    ///
    /// Sleeps: it takes the mm's `mmap_lock` for writing.
    pub(crate) fn new(vcpu: &Vcpu<'_>) -> Result<Self> {
        let kvm = vcpu.kvm().0.get();
        // SAFETY: we run in the vCPU thread (type invariant of `Vcpu`), so the
        // VM's mm is `current->mm` and has users; `MMU_NOTIFIER_OPS` is static.
        let sub = unsafe { raw::covmm_mmu_notifier_get(&MMU_NOTIFIER_OPS, raw::covmm_kvm_mm(kvm)) };
        let sub = from_err_ptr(sub)?;
        // INVARIANT: a successful `mmu_notifier_get()` returns a non-null
        // subscription and gives us one user reference on it.
        Ok(Self {
            ptr: NonNull::new(sub).ok_or(EINVAL)?,
        })
    }
}

impl MmWatch {
    /// The address space watched.
    pub(crate) fn key(&self) -> MmKey {
        // SAFETY: we hold a reference on the subscription (type invariant),
        // whose `mm` is set at registration and never changes.
        MmKey(unsafe { (*self.ptr.as_ptr()).mm } as usize)
    }
}

impl Drop for MmWatch {
    fn drop(&mut self) {
        // SAFETY: we own one user reference (type invariant). The put may run
        // from the notifier's own `release`, which the API allows.
        unsafe { bindings::mmu_notifier_put(self.ptr.as_ptr()) }
    }
}

static MMU_NOTIFIER_OPS: bindings::mmu_notifier_ops = bindings::mmu_notifier_ops {
    release: Some(mm_release),
    alloc_notifier: Some(alloc_notifier),
    free_notifier: Some(free_notifier),
    ..pin_init::zeroed()
};

/// # Safety
///
/// Called by the mmu_notifier core with a live `mm` being torn down.
unsafe extern "C" fn mm_release(_sub: *mut bindings::mmu_notifier, mm: *mut bindings::mm_struct) {
    // Notifiers exist only while a `Registration` does, and its drop clears
    // `HOST` only after `mmu_notifier_synchronize()`; see `HOST`'s invariant.
    if let Some(host) = active_host() {
        host.mm_released(MmKey(mm as usize));
    }
}

/// # Safety
///
/// Called by `mmu_notifier_get()` under the mm's `mmap_lock`.
unsafe extern "C" fn alloc_notifier(_mm: *mut bindings::mm_struct) -> *mut bindings::mmu_notifier {
    match KBox::new(pin_init::zeroed::<bindings::mmu_notifier>(), GFP_KERNEL) {
        Ok(b) => KBox::into_raw(b),
        Err(_) => ENOMEM.to_ptr(),
    }
}

/// # Safety
///
/// Called once per subscription, with a pointer from [`alloc_notifier`].
unsafe extern "C" fn free_notifier(sub: *mut bindings::mmu_notifier) {
    // SAFETY: `sub` came from `KBox::into_raw` in `alloc_notifier` and the
    // core calls this exactly once, after the last user is gone.
    drop(unsafe { KBox::from_raw(sub) });
}

/// A workqueue owned by the module, destroyed (and drained) on drop.
///
/// # Invariants
///
/// `ptr` is a live workqueue from `alloc_workqueue()` owned by this value.
pub(crate) struct Workqueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: workqueues are used from any thread by design.
unsafe impl Send for Workqueue {}
// SAFETY: as above.
unsafe impl Sync for Workqueue {}

impl Workqueue {
    /// Allocates an unbound workqueue called `name`.
    pub(crate) fn new(name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a valid C string; the format is "%s".
        let ptr = unsafe { raw::covmm_alloc_workqueue(name.as_char_ptr()) };
        // INVARIANT: a non-null result is a live workqueue we now own.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Waits until the queue is empty, including work queued meanwhile.
    pub(crate) fn drain(&self) {
        // SAFETY: the workqueue is live by the type invariant.
        unsafe { bindings::drain_workqueue(self.ptr.as_ptr()) }
    }
}

impl Deref for Workqueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        // SAFETY: the workqueue is live for as long as `self` is borrowed.
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: we own the workqueue; destroy_workqueue() drains it first.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) }
    }
}

/// The kernel's default workqueue (`system_dfl_wq`), for short work that
/// needs no particular CPU.
///
/// 7.3 deprecates `system_wq`, which `workqueue::system()` still returns,
/// and warns once in the kernel log when work is queued on it.
pub(crate) fn system_dfl() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is allocated at boot, before any module can
    // load, and never freed.
    unsafe { Queue::from_raw(bindings::system_dfl_wq) }
}

/// The [`Host`] the C callbacks dispatch to.
///
/// # Invariants
///
/// When non-null it points to the `Host` of the live [`Registration`], which
/// holds an `Arc` on it and clears this pointer only after the hook is gone,
/// every call has drained and `mmu_notifier_synchronize()` has returned.
static HOST: Atomic<*const Host> = Atomic::new(ptr::null());

/// The host, for file operations on the device; `ENODEV` during unload.
pub(crate) fn host() -> Result<&'static Host> {
    active_host().ok_or(ENODEV)
}

fn active_host() -> Option<&'static Host> {
    let host = HOST.load(Acquire);
    // SAFETY: by `HOST`'s invariant a non-null pointer stays valid until every
    // callback that could have read it has finished.
    (!host.is_null()).then(|| unsafe { &*host })
}

/// The installed hook on KVM's hypercall path.
///
/// While it lives, CoVMM hypercalls from guest kernels are served by its
/// [`Host`]. Dropping it removes the hook and waits until nothing runs module
/// code on KVM's behalf any more (see the module docs on teardown).
pub(crate) struct Registration {
    host: Arc<Host>,
}

impl Registration {
    /// Hooks `____kvm_emulate_hypercall()` and routes CoVMM hypercalls to `host`.
    pub(crate) fn new(host: Arc<Host>) -> Result<Self> {
        // INVARIANT: `host` is kept alive by the `Registration` built below.
        HOST.store(Arc::as_ptr(&host), Release);
        // SAFETY: plain registration; the ops and filter string are static.
        if let Err(e) = to_result(unsafe { raw::covmm_hook_register() }) {
            HOST.store(ptr::null(), Release);
            pr_err!("cannot hook ____kvm_emulate_hypercall ({e:?}): is kvm loaded and ftrace enabled?\n");
            return Err(e);
        }
        Ok(Self { host })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the hook was registered in `new`.
        unsafe { raw::covmm_hook_unregister() };
        // SAFETY: no locks are held; this only waits.
        unsafe { bindings::synchronize_rcu_tasks() };
        self.host.calls.synchronize();
        // SAFETY: as above.
        unsafe { bindings::synchronize_rcu_tasks() };
        self.host.shutdown();
        // SAFETY: waits for `release` callbacks and for `free_notifier` of the
        // subscriptions put by `shutdown`.
        unsafe { bindings::mmu_notifier_synchronize() };
        HOST.store(ptr::null(), Release);
    }
}

/// Called by kvm_glue.c's ftrace callback for every hypercall KVM emulates.
/// It must not sleep and must be quick.
#[no_mangle]
extern "C" fn covmm_rs_claims(nr: u64, cpl: c_int, long_mode: bool) -> bool {
    crate::hypercall::claims(nr, cpl, long_mode)
}

/// Serves a diverted CoVMM hypercall; the result becomes the guest's RAX.
///
/// # Safety
///
/// Called only by `covmm_hc_replacement()` in kvm_glue.c, in the thread that
/// is running `vcpu`, which KVM passed to `____kvm_emulate_hypercall()`.
#[no_mangle]
unsafe extern "C" fn covmm_rs_hypercall(
    vcpu: *mut raw::kvm_vcpu,
    nr: u64,
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
) -> c_long {
    let Some(host) = active_host() else {
        return -abi::KVM_ENOSYS as c_long;
    };
    let _in_flight = host.calls.read_lock();
    let Some(ptr) = NonNull::new(vcpu) else {
        return -abi::KVM_ENOSYS as c_long;
    };
    // INVARIANT: KVM passes the vCPU the current thread is running.
    let vcpu = Vcpu {
        ptr,
        _call: PhantomData,
    };
    crate::hypercall::handle(host, &vcpu, nr, [a0, a1, a2, a3]) as c_long
}

/// `/proc/covmm`, for as long as the value lives.
pub(crate) struct ProcRoot(());

impl ProcRoot {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: creates /proc/covmm; undone in `drop`.
        to_result(unsafe { raw::covmm_proc_init() })?;
        Ok(Self(()))
    }
}

impl Drop for ProcRoot {
    fn drop(&mut self) {
        // SAFETY: created in `new`; every VM directory below it has been
        // removed (VMs are gone before the host that holds the root).
        unsafe { raw::covmm_proc_exit() }
    }
}

/// The files of `/proc/covmm/<pid>/` (`enum covmm_proc_kind` in
/// kvm_glue.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcFile {
    Meminfo,
    Cpuinfo,
    Loadavg,
    Status,
    Services,
    DropCaches,
    Iomon,
    Iostat,
}

impl ProcFile {
    fn from_raw(kind: c_int) -> Option<Self> {
        Some(match kind {
            0 => Self::Meminfo,
            1 => Self::Cpuinfo,
            2 => Self::Loadavg,
            3 => Self::Status,
            4 => Self::Services,
            5 => Self::DropCaches,
            6 => Self::Iomon,
            7 => Self::Iostat,
            _ => return None,
        })
    }
}

/// Whose user a VM's `/proc/covmm/<pid>/` directory belongs to: the VMM
/// process's, as with `/proc/<pid>`.
pub(crate) enum ProcOwner<'a> {
    /// The current task, a thread of the VMM (a vCPU serving a hypercall).
    Current,
    /// The VMM process found by pid.
    Task(&'a OwnedProcess),
}

/// A VM's `/proc/covmm/<pid>/` directory, removed on drop.
///
/// # Invariants
///
/// `dir` came from `covmm_proc_vm_create()` with a `Vm` that stays alive
/// until this value is dropped (the `Vm` owns it).
pub(crate) struct ProcDir {
    dir: NonNull<c_void>,
}

// SAFETY: the directory may be removed from any thread.
unsafe impl Send for ProcDir {}
// SAFETY: no `&self` methods.
unsafe impl Sync for ProcDir {}

impl ProcDir {
    /// Creates `/proc/covmm/<pid>/` for `vm`, owned by the VMM's user
    /// (`owner`), and hands it to `vm`, which removes it before it goes.
    pub(crate) fn publish(pid: i32, vm: &Arc<crate::vm::Vm>, owner: ProcOwner<'_>) -> Result {
        let mut slot = vm.proc.lock();
        if slot.is_some() {
            return Err(EEXIST);
        }
        // SAFETY: the directory is stored in `vm` right away, so `vm`
        // outlives it.
        *slot = Some(unsafe { Self::new(pid, vm, owner)? });
        Ok(())
    }

    /// # Safety
    ///
    /// `vm` must stay alive until the returned value is dropped.
    unsafe fn new(pid: i32, vm: &crate::vm::Vm, owner: ProcOwner<'_>) -> Result<Self> {
        let mut name = [0u8; 16];
        let mut w = kernel::str::Formatter::new(&mut name[..15]);
        core::fmt::Write::write_fmt(&mut w, format_args!("{pid}")).map_err(|_| EINVAL)?;
        let task = match owner {
            ProcOwner::Current => ptr::null_mut(),
            ProcOwner::Task(p) => p.0.as_ptr(),
        };
        // SAFETY: `name` is NUL-terminated (its last byte stays 0); `vm`
        // outlives the directory per the function's contract; `task` is
        // NULL or held by `owner`.
        let dir = unsafe {
            raw::covmm_proc_vm_create(name.as_ptr().cast(), ptr::from_ref(vm).cast(), task)
        };
        // INVARIANT: per the function's contract.
        Ok(Self {
            dir: NonNull::new(dir).ok_or(EEXIST)?,
        })
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        // SAFETY: created in `new`; waits for readers and writers.
        unsafe { raw::covmm_proc_vm_remove(self.dir.as_ptr()) }
    }
}

/// Fills a `/proc/covmm/<pid>/` file.
///
/// # Safety
///
/// Called by kvm_glue.c's show functions with the `Vm` of the directory
/// (alive, see [`ProcDir`]) and the file's seq_file.
#[no_mangle]
unsafe extern "C" fn covmm_rs_proc_show(
    kind: c_int,
    vm: *const c_void,
    m: *mut bindings::seq_file,
) -> c_int {
    let Some(kind) = ProcFile::from_raw(kind) else {
        return EINVAL.to_errno();
    };
    // SAFETY: per the function's contract.
    let (vm, seq) = unsafe {
        (
            &*vm.cast::<crate::vm::Vm>(),
            kernel::seq_file::SeqFile::from_raw(m),
        )
    };
    to_c(crate::proc::show(kind, vm, seq))
}

/// A write to a `/proc/covmm/<pid>/` file.
///
/// # Safety
///
/// As for [`covmm_rs_proc_show`]; `buf` is the writer's user buffer of
/// `len` bytes.
#[no_mangle]
unsafe extern "C" fn covmm_rs_proc_write(
    kind: c_int,
    vm: *const c_void,
    buf: *const u8,
    len: usize,
) -> isize {
    let Some(kind) = ProcFile::from_raw(kind) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: per the function's contract.
    let vm = unsafe { &*vm.cast::<crate::vm::Vm>() };
    let input = UserSlice::new(UserPtr::from_addr(buf as usize), len).reader();
    match crate::proc::write(kind, vm, input) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `open()` of `/proc/covmm/<pid>/iotrace`: a reader, owned by the open file.
///
/// # Safety
///
/// Called by kvm_glue.c with the `Vm` of the directory (alive, see
/// [`ProcDir`]).
#[no_mangle]
unsafe extern "C" fn covmm_rs_iotrace_open(vm: *const c_void) -> *mut c_void {
    // SAFETY: per the function's contract.
    let vm = unsafe { &*vm.cast::<crate::vm::Vm>() };
    match crate::proc::TraceReader::new(vm) {
        Ok(reader) => KBox::into_raw(reader).cast(),
        Err(e) => e.to_ptr(),
    }
}

/// `read()` of `/proc/covmm/<pid>/iotrace`.
///
/// # Safety
///
/// `reader` must come from [`covmm_rs_iotrace_open`] and not be released;
/// `buf` is the caller's user buffer of `len` bytes. Reads and polls of one
/// open file may run at once: the reader serialises them itself.
#[no_mangle]
unsafe extern "C" fn covmm_rs_iotrace_read(
    reader: *mut c_void,
    buf: *mut u8,
    len: usize,
    nonblock: bool,
) -> isize {
    // SAFETY: per the function's contract.
    let reader = unsafe { &*reader.cast::<crate::proc::TraceReader>() };
    let out = UserSlice::new(UserPtr::from_addr(buf as usize), len).writer();
    match reader.read(out, nonblock) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `poll()` of `/proc/covmm/<pid>/iotrace`: whether a read would not block.
///
/// # Safety
///
/// `reader` as for [`covmm_rs_iotrace_read`]; `file` is the open file and
/// `wait` its poll table, both valid for the call.
#[no_mangle]
unsafe extern "C" fn covmm_rs_iotrace_poll(
    reader: *mut c_void,
    file: *mut bindings::file,
    wait: *mut bindings::poll_table,
) -> bool {
    // SAFETY: per the function's contract.
    let (reader, file, table) = unsafe {
        (
            &*reader.cast::<crate::proc::TraceReader>(),
            kernel::fs::File::from_raw_file(file),
            kernel::sync::poll::PollTable::from_raw(wait),
        )
    };
    reader.poll(file, &table)
}

/// `release()` of `/proc/covmm/<pid>/iotrace`.
///
/// # Safety
///
/// `reader` as for [`covmm_rs_iotrace_read`]; it is not used again.
#[no_mangle]
unsafe extern "C" fn covmm_rs_iotrace_release(reader: *mut c_void) {
    // SAFETY: it came from `KBox::into_raw` in `covmm_rs_iotrace_open`, and
    // the VFS releases a file once, after its last read and poll.
    drop(unsafe { KBox::from_raw(reader.cast::<crate::proc::TraceReader>()) });
}

/// Converts a kernel [`Error`] into the negated errno a guest sees in RAX.
pub(crate) fn guest_errno(e: Error) -> i64 {
    i64::from(e.to_errno())
}

/// Keeps `ARef` in the public vocabulary of this layer.
pub(crate) type KvmRef = ARef<Kvm>;

// The exported C API (include/covmm/host.h): VMRPC servers in other modules.

/// The dispatch function and private pointer of a server registered from C.
///
/// # Invariants
///
/// `func` and `private` stay valid until `covmm_server_unregister()` has
/// returned for the server, which is after the last call (the registering
/// module's promise in host.h).
pub(crate) struct ForeignDispatch {
    func: CDispatchFn,
    private: *mut c_void,
}

// SAFETY: host.h requires dispatch functions to be callable from any vCPU
// thread, concurrently; `private` is only handed back to them.
unsafe impl Send for ForeignDispatch {}
// SAFETY: as above.
unsafe impl Sync for ForeignDispatch {}

impl ForeignDispatch {
    /// Calls the C dispatch function with `ctx` as its `struct covmm_call`.
    pub(crate) fn call(
        &self,
        ctx: &mut CallContext<'_>,
        func: u32,
        arg: u64,
        len: u64,
    ) -> Result<i64> {
        let call = ptr::from_mut(ctx).cast::<c_void>();
        // SAFETY: the function and `private` are valid (type invariant; the
        // server is live, which its caller checked under its SRCU). `call`
        // points to `ctx`, which outlives the call, and the C side may use it
        // only until it returns (host.h).
        let r = unsafe { (self.func)(call, self.private, func, arg, len) } as i64;
        abi::decode_result(r, Error::from_errno, EIO)
    }
}

/// # Safety
///
/// `call` must be the pointer a dispatch function received, used during
/// that call.
unsafe fn call_context<'a>(call: *mut c_void) -> &'a CallContext<'a> {
    // SAFETY: per the function's contract it points to a live `CallContext`.
    unsafe { &*call.cast::<CallContext<'a>>() }
}

/// `covmm_server_register()`.
///
/// # Safety
///
/// `name` must be a NUL-terminated string; `dispatch` and `private` must
/// stay valid until `covmm_server_unregister()` returns.
#[no_mangle]
unsafe extern "C" fn covmm_server_register(
    name: *const c_char,
    version: u32,
    dispatch: Option<CDispatchFn>,
    private: *mut c_void,
) -> *mut c_void {
    let register = || -> Result<*mut c_void> {
        let host = active_host().ok_or(ESHUTDOWN)?;
        let func = dispatch.ok_or(EINVAL)?;
        if name.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let name = unsafe { CStr::from_char_ptr(name) };
        // INVARIANT: the caller keeps `func` and `private` valid (above).
        let dispatch = Dispatch::Foreign(ForeignDispatch { func, private });
        let server = Server::new(name.to_bytes(), version, dispatch)?;
        host.servers.register(server.clone())?;
        Ok(Arc::into_raw(server).cast_mut().cast())
    };
    register().unwrap_or_else(|e| e.to_ptr())
}

/// `covmm_server_unregister()`.
///
/// # Safety
///
/// `server` must be NULL, an ERR_PTR, or a pointer from
/// `covmm_server_register()` not yet unregistered.
#[no_mangle]
unsafe extern "C" fn covmm_server_unregister(server: *mut c_void) {
    if server.is_null() || (server as usize) >= (-(bindings::MAX_ERRNO as isize)) as usize {
        return;
    }
    // SAFETY: per the contract, `server` came from `Arc::into_raw` in
    // `covmm_server_register` and this is its only release.
    let server = unsafe { Arc::<Server>::from_raw(server.cast::<Server>().cast_const()) };
    // A server module depends on host_vmrpc, so the host is still there.
    if let Some(host) = active_host() {
        host.servers.unregister(&server);
    }
}

/// `covmm_copy_from_guest()`.
///
/// # Safety
///
/// `call` as for [`call_context`]; `dst` must be writable for `len` bytes.
#[no_mangle]
unsafe extern "C" fn covmm_copy_from_guest(
    call: *mut c_void,
    dst: *mut c_void,
    gva: u64,
    len: usize,
) -> c_int {
    if len == 0 {
        return 0;
    }
    // SAFETY: per the contract, `dst` is writable for `len` bytes and not
    // otherwise referenced during the call.
    let dst = unsafe { core::slice::from_raw_parts_mut(dst.cast::<u8>(), len) };
    // SAFETY: per the contract.
    let ctx = unsafe { call_context(call) };
    to_c(ctx.copy_from_guest(dst, gva))
}

/// `covmm_copy_to_guest()`.
///
/// # Safety
///
/// `call` as for [`call_context`]; `src` must be readable for `len` bytes.
#[no_mangle]
unsafe extern "C" fn covmm_copy_to_guest(
    call: *mut c_void,
    gva: u64,
    src: *const c_void,
    len: usize,
) -> c_int {
    if len == 0 {
        return 0;
    }
    // SAFETY: per the contract, `src` is readable for `len` bytes.
    let src = unsafe { core::slice::from_raw_parts(src.cast::<u8>(), len) };
    // SAFETY: per the contract.
    let ctx = unsafe { call_context(call) };
    to_c(ctx.copy_to_guest(gva, src))
}

/// `covmm_get_hva()`.
///
/// # Safety
///
/// `call` as for [`call_context`]; `hva` must be writable.
#[no_mangle]
unsafe extern "C" fn covmm_get_hva(
    call: *mut c_void,
    gva: u64,
    write: bool,
    hva: *mut usize,
) -> c_int {
    // SAFETY: per the contract.
    let ctx = unsafe { call_context(call) };
    match ctx.get_hva(gva, write) {
        Ok(addr) => {
            // SAFETY: per the contract, `hva` is writable.
            unsafe { hva.write(addr) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `covmm_call_vm_pid()`.
///
/// # Safety
///
/// `call` as for [`call_context`].
#[no_mangle]
unsafe extern "C" fn covmm_call_vm_pid(call: *mut c_void) -> bindings::pid_t {
    // SAFETY: per the contract.
    unsafe { call_context(call) }.vm_pid()
}

/// `covmm_rvmrpc_call()`.
///
/// # Safety
///
/// `service` must be NUL-terminated; `input` readable for `in_len` bytes and
/// `out` writable for `out_len` bytes (either may be NULL with length 0).
#[no_mangle]
unsafe extern "C" fn covmm_rvmrpc_call(
    vm_pid: bindings::pid_t,
    service: *const c_char,
    func: u32,
    input: *const c_void,
    in_len: usize,
    out: *mut c_void,
    out_len: usize,
) -> c_long {
    let call = || -> Result<usize> {
        if service.is_null() || (input.is_null() && in_len != 0) || (out.is_null() && out_len != 0)
        {
            return Err(EINVAL);
        }
        // SAFETY: per the contract.
        let name = unsafe { CStr::from_char_ptr(service) };
        let input = match in_len {
            0 => &[][..],
            // SAFETY: per the contract.
            n => unsafe { core::slice::from_raw_parts(input.cast::<u8>(), n) },
        };
        let vm = host()?.vms.find_by_pid(vm_pid).ok_or(ESRCH)?;
        let response = vm.rv.call(name.to_bytes(), func, input, out_len)?;
        if !response.is_empty() {
            // SAFETY: per the contract `out` is writable for `out_len`
            // bytes, and the response is at most that long.
            unsafe {
                ptr::copy_nonoverlapping(response.as_ptr(), out.cast::<u8>(), response.len())
            };
        }
        Ok(response.len())
    };
    match call() {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

fn to_c(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
