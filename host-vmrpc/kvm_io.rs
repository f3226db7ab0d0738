// SPDX-License-Identifier: GPL-2.0

//! The I/O monitor's part of the KVM-facing layer (a child of `kvm.rs`, and
//! like it the only place with `unsafe` for what it covers).
//!
//! C side: `io_glue.c`, over
//! [`include/linux/tracepoint.h`](srctree/include/linux/tracepoint.h) and
//! [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h).
//!
//! - [`IoProbes`]: probes on KVM's `kvm_pio`, `kvm_mmio` and `kvm_fast_mmio`
//!   tracepoints, registered only while some VM is monitored;
//! - [`ProbeContext`]: proof, inside a probe, that the tracepoint's SRCU read
//!   side is held and that the current thread runs a vCPU;
//! - [`ProbeSlots`]: the table of monitored VMs that probes read without
//!   locks;
//! - [`flush_delayed_work`]: what the monitor's deferred probe removal needs
//!   of the workqueue, and `kernel::workqueue` does not offer;
//! - [`Kvm::current_vcpu`], [`Kvm::exit_counts`], [`Kvm::bus_covers`] and
//!   [`OwnedProcess::kvm`]: what the monitor asks of KVM.

use core::marker::PhantomData;
use core::ptr;

use kernel::{
    bindings,
    error::to_result,
    ffi::c_ulong,
    prelude::*,
    sync::{
        atomic::{ordering::Acquire, ordering::Release, Atomic},
        Arc,
    },
    workqueue::DelayedWork,
};

use super::{raw, Kvm, KvmRef, MmKey, OwnedProcess};
use crate::iomon::{IoMonitors, Request};

/// C structs of io_glue.h.
mod ffi {
    use super::*;

    /// `struct covmm_io_event`.
    #[repr(C)]
    pub(super) struct covmm_io_event {
        pub(super) addr: u64,
        pub(super) data: u64,
        pub(super) count: u32,
        pub(super) size: u16,
        pub(super) kind: u8,
        pub(super) write: u8,
        pub(super) has_data: u8,
    }

    /// `struct covmm_vcpu_io`.
    #[repr(C)]
    pub(super) struct covmm_vcpu_io {
        pub(super) idx: u32,
        pub(super) id: u32,
        pub(super) rip: u64,
        pub(super) rip_valid: bool,
    }

    /// `struct covmm_exit_counts`.
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct covmm_exit_counts {
        pub(super) exits: u64,
        pub(super) io_exits: u64,
        pub(super) mmio_exits: u64,
    }

    // `struct task_struct` reaches empty structs in some configurations,
    // which the lint flags even behind a pointer; C only sees it by pointer.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn covmm_io_probes_register(data: *const c_void) -> c_int;
        pub(super) fn covmm_io_probes_unregister(data: *const c_void);
        pub(super) fn covmm_io_probes_synchronize();
        pub(super) fn covmm_current_mm() -> *mut c_void;
        pub(super) fn covmm_kvm_online_vcpus(kvm: *mut raw::kvm) -> c_ulong;
        pub(super) fn covmm_kvm_vcpu_at(kvm: *mut raw::kvm, idx: c_ulong) -> *mut raw::kvm_vcpu;
        pub(super) fn covmm_vcpu_is_current(vcpu: *mut raw::kvm_vcpu) -> bool;
        pub(super) fn covmm_vcpu_io_info(vcpu: *mut raw::kvm_vcpu, out: *mut covmm_vcpu_io);
        pub(super) fn covmm_vcpu_exit_counts(vcpu: *mut raw::kvm_vcpu, out: *mut covmm_exit_counts);
        pub(super) fn covmm_kvm_bus_covers(
            kvm: *mut raw::kvm,
            pio: bool,
            first: u64,
            last: u64,
        ) -> bool;
        pub(super) fn covmm_task_get_kvm(task: *mut bindings::task_struct) -> *mut raw::kvm;
    }
}

/// Evidence that the code runs inside one of the monitor's tracepoint
/// probes: in the thread of a vCPU that KVM is running, inside the
/// tracepoint's SRCU read-side critical section (`tracepoint_srcu`; since
/// 7.x probes may be preempted, so this is not an RCU read side).
///
/// # Invariants
///
/// Only [`covmm_rs_io_event`] creates one, on its stack, for the duration of
/// the probe.
pub(crate) struct ProbeContext {
    _not_send: PhantomData<*mut ()>,
}

impl ProbeContext {
    /// The address space of the current thread: the VMM's.
    pub(crate) fn mm(&self) -> MmKey {
        // SAFETY: reads `current->mm`, which the current thread cannot lose
        // while it runs kernel code on its own behalf.
        MmKey(unsafe { ffi::covmm_current_mm() } as usize)
    }
}

/// What the monitor learns about the vCPU that made a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VcpuIo {
    /// Position of the vCPU in its VM (`vcpu_idx`).
    pub(crate) idx: u32,
    /// The vCPU's id (`vcpu_id`).
    pub(crate) id: u32,
    /// The guest's RIP, where KVM has it cached.
    pub(crate) rip: Option<u64>,
}

/// KVM's exit counters for a VM, summed over its vCPUs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ExitCounts {
    pub(crate) exits: u64,
    pub(crate) io_exits: u64,
    pub(crate) mmio_exits: u64,
}

impl Kvm {
    fn vcpu_at(&self, idx: usize) -> Option<*mut raw::kvm_vcpu> {
        // SAFETY: the VM is live (type invariant); `kvm_get_vcpu()` checks
        // `idx` against the online vCPUs and returns NULL beyond them.
        let vcpu = unsafe { ffi::covmm_kvm_vcpu_at(self.0.get(), idx as c_ulong) };
        (!vcpu.is_null()).then_some(vcpu)
    }

    fn online_vcpus(&self) -> usize {
        // SAFETY: the VM is live (type invariant).
        unsafe { ffi::covmm_kvm_online_vcpus(self.0.get()) as usize }
    }

    /// The vCPU of this VM that the probing thread runs, trying index `hint`
    /// first; `None` if the thread runs none of them.
    pub(crate) fn current_vcpu(&self, _ctx: &ProbeContext, hint: u32) -> Option<VcpuIo> {
        let hint = hint as usize;
        let others = (0..self.online_vcpus()).filter(|&i| i != hint);
        let vcpu = Iterator::chain(core::iter::once(hint), others)
            .filter_map(|i| self.vcpu_at(i))
            // SAFETY: the vCPU belongs to a live VM, which frees its vCPUs
            // only when it is destroyed; the read compares a pointer.
            .find(|&v| unsafe { ffi::covmm_vcpu_is_current(v) })?;
        let mut io = ffi::covmm_vcpu_io {
            idx: 0,
            id: 0,
            rip: 0,
            rip_valid: false,
        };
        // SAFETY: the current thread runs `vcpu` (found above), so its
        // registers are not changing under us; `io` is a valid out-pointer.
        unsafe { ffi::covmm_vcpu_io_info(vcpu, &mut io) };
        Some(VcpuIo {
            idx: io.idx,
            id: io.id,
            rip: io.rip_valid.then_some(io.rip),
        })
    }

    /// KVM's own exit counters for the VM (`exits`, `io_exits`,
    /// `mmio_exits`), summed over its vCPUs.
    pub(crate) fn exit_counts(&self) -> ExitCounts {
        let mut sum = ExitCounts::default();
        for vcpu in (0..self.online_vcpus()).filter_map(|i| self.vcpu_at(i)) {
            let mut c = ffi::covmm_exit_counts::default();
            // SAFETY: the vCPU of a live VM; the counters are read racily,
            // as KVM's own statistics readers do.
            unsafe { ffi::covmm_vcpu_exit_counts(vcpu, &mut c) };
            sum.exits += c.exits;
            sum.io_exits += c.io_exits;
            sum.mmio_exits += c.mmio_exits;
        }
        sum
    }

    /// Whether a device inside KVM (an in-kernel PIC, PIT or IOAPIC, or an
    /// ioeventfd) covers part of ports or addresses `first..=last`.
    pub(crate) fn bus_covers(&self, pio: bool, first: u64, last: u64) -> bool {
        // SAFETY: the VM is live; the helper takes `kvm->srcu` itself.
        unsafe { ffi::covmm_kvm_bus_covers(self.0.get(), pio, first, last) }
    }
}

impl OwnedProcess {
    /// A VM that the process has open: `ENOENT` if it has none.
    pub(crate) fn kvm(&self) -> Result<KvmRef> {
        // SAFETY: the task is held; a non-null result carries a reference
        // on the VM that we take over.
        let kvm = unsafe { ffi::covmm_task_get_kvm(self.0.as_ptr()) };
        let kvm = ptr::NonNull::new(kvm.cast::<Kvm>()).ok_or(ENOENT)?;
        // SAFETY: `covmm_task_get_kvm()` took the reference we hand over.
        Ok(unsafe { KvmRef::from_raw(kvm) })
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    // SAFETY: `ktime_get()` may be called from any context but NMI.
    let ns = unsafe { bindings::ktime_get() };
    ns.max(0) as u64
}

/// Runs `work` at once if its timer is pending, and waits until it has run.
///
/// Module unload calls this: the work's code must not outlive the module.
pub(crate) fn flush_delayed_work<T: ?Sized, const ID: u64>(work: &DelayedWork<T, ID>) {
    // SAFETY: `work` is a live `DelayedWork`, so the pointer is aligned and
    // not dangling.
    let work = unsafe { DelayedWork::raw_as_work(work) }.cast::<bindings::work_struct>();
    // SAFETY: `raw_as_work` points at the `work` member of the
    // `delayed_work` that `DelayedWork` wraps.
    let dwork = unsafe { kernel::container_of!(work, bindings::delayed_work, work) };
    // SAFETY: `dwork` is an initialised `delayed_work` (`DelayedWork::new`);
    // this sleeps, and is called from process context.
    unsafe { bindings::flush_delayed_work(dwork) };
}

/// Waits until every tracepoint probe running now has returned.
fn probe_grace_period() {
    // SAFETY: sleeps; called from process context without locks held.
    unsafe { ffi::covmm_io_probes_synchronize() }
}

/// A fixed table of `Arc<T>` that the tracepoint probes read without a
/// lock. Writers are serialised by their caller (the monitor's mutex).
///
/// # Invariants
///
/// A non-null slot holds a pointer from `Arc::into_raw` whose reference the
/// table owns. A slot's reference is given up only after it was emptied and
/// a probe grace period passed (`tracepoint_synchronize_unregister()`, or
/// the probes' unregistration, which ends with it), so a probe that loaded
/// the pointer has finished with it.
pub(crate) struct ProbeSlots<T, const N: usize> {
    slots: [Atomic<*const T>; N],
}

// SAFETY: the table hands out `&T` to any thread and moves `Arc<T>` between
// threads, which `T: Send + Sync` allows.
unsafe impl<T: Send + Sync, const N: usize> Send for ProbeSlots<T, N> {}
// SAFETY: as above; the slots themselves are atomics.
unsafe impl<T: Send + Sync, const N: usize> Sync for ProbeSlots<T, N> {}

impl<T: Send + Sync, const N: usize> ProbeSlots<T, N> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            slots: core::array::from_fn(|_| Atomic::new(ptr::null())),
        }
    }

    /// Publishes `item` in a free slot; gives it back if none is free.
    pub(crate) fn insert(&self, item: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let Some(slot) = self.slots.iter().find(|s| s.load(Acquire).is_null()) else {
            return Err(item);
        };
        // INVARIANT: the table owns the reference from here on.
        slot.store(Arc::into_raw(item), Release);
        Ok(())
    }

    /// Withdraws `item`, if the table holds it, and returns the table's
    /// reference once no probe can still be looking at it. `probes`, if
    /// given, are unregistered meanwhile, which ends with the grace period
    /// the removal needs. Sleeps.
    pub(crate) fn remove(&self, item: &T, probes: Option<IoProbes>) -> Option<Arc<T>> {
        let slot = self.slots.iter().find(|s| ptr::eq(s.load(Acquire), item));
        let raw = slot.map(|s| s.xchg(ptr::null(), Release));
        match probes {
            Some(p) => drop(p),
            None if raw.is_some() => probe_grace_period(),
            None => {}
        }
        // SAFETY: `raw` came from `Arc::into_raw` in `insert` and its slot
        // no longer holds it; every probe that could have loaded it has
        // finished (type invariant).
        raw.map(|raw| unsafe { Arc::from_raw(raw) })
    }

    /// Withdraws every item and unregisters `probes`; then, once no probe
    /// can still be looking at the items, gives each to `f`. Sleeps.
    pub(crate) fn drain(&self, probes: Option<IoProbes>, mut f: impl FnMut(Arc<T>)) {
        let taken: [*const T; N] =
            core::array::from_fn(|i| self.slots[i].xchg(ptr::null(), Release));
        match probes {
            Some(p) => drop(p),
            None => probe_grace_period(),
        }
        for raw in taken.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: as in `remove`: the table owned this reference, and
            // the grace period has passed.
            f(unsafe { Arc::from_raw(raw) });
        }
    }

    /// How many slots are in use.
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !s.load(Acquire).is_null())
            .count()
    }

    /// The items, for a probe.
    pub(crate) fn iter<'a>(&'a self, _ctx: &'a ProbeContext) -> impl Iterator<Item = &'a T> {
        self.slots.iter().filter_map(|s| {
            let p = s.load(Acquire);
            // SAFETY: a probe runs inside the tracepoint's SRCU read-side
            // critical section (`ProbeContext`), and a slot's item is
            // released only after a probe grace period (type invariant),
            // so it outlives `'a`.
            (!p.is_null()).then(|| unsafe { &*p })
        })
    }
}

/// The monitor's probes on KVM's tracepoints, registered for as long as the
/// value lives.
///
/// # Invariants
///
/// The probes were registered with `data`, a pinned [`IoMonitors`] that
/// outlives this value.
pub(crate) struct IoProbes {
    data: *const IoMonitors,
}

// SAFETY: registration is not tied to a thread.
unsafe impl Send for IoProbes {}
// SAFETY: no `&self` methods.
unsafe impl Sync for IoProbes {}

impl IoProbes {
    /// Attaches the probes, which report to `monitors`.
    ///
    /// # Safety
    ///
    /// `monitors` must not move and must outlive the returned value.
    pub(crate) unsafe fn register(monitors: &IoMonitors) -> Result<Self> {
        let data = ptr::from_ref(monitors);
        // SAFETY: registration with a pointer the caller keeps valid.
        to_result(unsafe { ffi::covmm_io_probes_register(data.cast()) }).inspect_err(|e| {
            pr_err!("iomon: cannot attach to KVM's kvm_pio/kvm_mmio tracepoints ({e:?})\n");
        })?;
        // INVARIANT: registered with `data` just now.
        Ok(Self { data })
    }
}

impl Drop for IoProbes {
    fn drop(&mut self) {
        // SAFETY: registered with `data` (type invariant); returns once no
        // probe runs with it.
        unsafe { ffi::covmm_io_probes_unregister(self.data.cast()) }
    }
}

/// Called by io_glue.c's probes for each request KVM emulates.
///
/// # Safety
///
/// Called only by the probes that [`IoProbes`] registered with `monitors`,
/// in the thread running a vCPU, inside the tracepoint's SRCU read side;
/// `ev` is valid for the call.
#[no_mangle]
unsafe extern "C" fn covmm_rs_io_event(monitors: *const c_void, ev: *const ffi::covmm_io_event) {
    // SAFETY: per the function's contract, `monitors` is the live
    // `IoMonitors` the probes were registered with, and `ev` is valid.
    let (monitors, ev) = unsafe { (&*monitors.cast::<IoMonitors>(), &*ev) };
    // INVARIANT: we are that probe.
    let ctx = ProbeContext {
        _not_send: PhantomData,
    };
    let request = Request {
        kind: ev.kind,
        write: ev.write != 0,
        addr: ev.addr,
        size: ev.size,
        count: ev.count.max(1),
        data: (ev.has_data != 0).then_some(ev.data),
    };
    monitors.record(&ctx, &request);
}
