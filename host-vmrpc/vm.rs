// SPDX-License-Identifier: GPL-2.0

//! Per-VM state of host-vmrpc, and the registry that finds it from a vCPU.
//!
//! A [`Vm`] is created on a VM's first CoVMM hypercall. It holds a reference on
//! the `struct kvm`, so its [`VmKey`] cannot be reused by another VM while the
//! entry exists, and an [`MmWatch`] on the VMM's address space. When the VMM
//! process exits, for whatever reason, the watch's `release` removes every VM
//! of that process; the module's unload removes the rest.
//!
//! A VM's VMRPC bindings live in the [`Vm`], so a handle means something only
//! to the VM that bound it: another VM presenting the same number gets
//! `EBADF`.
//!
//! Calls to user-space servers that returned `CALL_AGAIN` wait in the VM as
//! [`Parked`] calls, keyed by their descriptor block's address, until the
//! guest issues them again (from any vCPU) or cancels them. When the VM goes,
//! its parked calls are cancelled.
//!
//! A VM is also registered, without any hypercall, when its owner turns the
//! I/O monitor on ([`VmRegistry::vm_of_process`]); its `iomon` holds the
//! current or last monitoring session.
//!
//! Lock order: [`VmRegistry`]'s adding mutex, then its bucket spinlocks,
//! one at a time. The bucket spinlocks and each VM's bindings and parked
//! locks are leaves. Nothing that sleeps or drops a [`Vm`] or a server runs
//! under them.

use kernel::{
    new_mutex, new_spinlock, new_work,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, Mutex, SpinLock,
    },
    workqueue::{impl_has_work, Work, WorkItem},
};

use crate::abi;
use crate::hlfs::HlfsVm;
use crate::iomon::Capture;
use crate::kvm::{
    Kvm, KvmRef, MmKey, MmWatch, OwnedProcess, ProcDir, ProcOwner, Vcpu, VmKey, Workqueue,
};
use crate::rvmrpc::RvHub;
use crate::server::Server;
use crate::userserver::UserCall;

/// Most calls one VM may have parked at once.
const MAX_PARKED: usize = 64;

/// A call to a user-space server that returned `CALL_AGAIN`, with the
/// hypercall arguments that issue it again.
pub(crate) struct Parked {
    args: [u64; 4],
    pub(crate) call: Arc<UserCall>,
}

impl Parked {
    pub(crate) fn new(args: [u64; 4], call: Arc<UserCall>) -> Self {
        Self { args, call }
    }

    /// Whether `args` (of a `Perform`) issue this call again.
    pub(crate) fn is_for(&self, args: [u64; 4]) -> bool {
        self.args == args
    }
}

/// The servers a VM is bound to, by handle.
struct Bindings {
    table: RBTree<u64, Arc<Server>>,
    /// Entries in `table`.
    count: usize,
    /// The next handle to give out; handles are never reused within a VM.
    next: u64,
}

/// CoVMM's state for one VM.
#[pin_data(PinnedDrop)]
pub(crate) struct Vm {
    /// `/proc/covmm/<pid>/`, set once the VM is registered.
    #[pin]
    pub(crate) proc: Mutex<Option<ProcDir>>,
    /// Reverse VMRPC: the guest's server slots and the host's requests.
    #[pin]
    pub(crate) rv: RvHub,
    /// The I/O monitor's current or last session (see `iomon.rs`).
    #[pin]
    pub(crate) iomon: Mutex<Option<Arc<Capture>>>,
    /// hlfs: the VM's exports and its guest's mounts (see `hlfs.rs`).
    #[pin]
    pub(crate) hlfs: HlfsVm,
    kvm: KvmRef,
    mm: MmKey,
    _watch: MmWatch,
    pings: Atomic<u64>,
    #[pin]
    bindings: SpinLock<Bindings>,
    /// Parked calls, by descriptor block address.
    #[pin]
    parked: SpinLock<RBTree<u64, Parked>>,
    /// Drops the registry's reference outside the mmu_notifier callback.
    #[pin]
    reap: Work<Vm>,
}

impl_has_work! {
    impl HasWork<Self> for Vm { self.reap }
}

impl WorkItem for Vm {
    type Pointer = Arc<Vm>;

    fn run(this: Arc<Vm>) {
        if let Ok(host) = crate::kvm::host() {
            host.iomon.stop(&this);
        }
        drop(this);
    }
}

impl Vm {
    fn new(kvm: &Kvm, watch: MmWatch) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Vm {
                proc <- new_mutex!(None, "covmm_vm_proc"),
                rv <- RvHub::new(),
                iomon <- new_mutex!(None, "covmm_vm_iomon"),
                hlfs <- HlfsVm::new(),
                kvm: KvmRef::from(kvm),
                mm: kvm.mm_key(),
                _watch: watch,
                pings: Atomic::new(0),
                bindings <- new_spinlock!(
                    Bindings { table: RBTree::new(), count: 0, next: 1 },
                    "covmm_vm_bindings"
                ),
                parked <- new_spinlock!(RBTree::new(), "covmm_vm_parked"),
                reap <- new_work!("covmm::Vm::reap"),
            }),
            GFP_KERNEL,
        )
    }

    /// Counts a ping and returns how many this VM has made, this one included.
    pub(crate) fn ping(&self) -> u64 {
        self.pings.fetch_add(1, Relaxed).wrapping_add(1)
    }

    /// Binds this VM to `server`; returns the new handle.
    pub(crate) fn bind(&self, server: Arc<Server>) -> Result<u64> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut bindings = self.bindings.lock();
        if bindings.count >= abi::MAX_BINDINGS {
            return Err(EMFILE);
        }
        let handle = bindings.next;
        bindings.next += 1;
        bindings.count += 1;
        bindings.table.insert(node.into_node(handle, server));
        Ok(handle)
    }

    /// Releases `handle`.
    pub(crate) fn unbind(&self, handle: u64) -> Result {
        let server = {
            let mut bindings = self.bindings.lock();
            let server = bindings.table.remove(&handle).ok_or(EBADF)?;
            bindings.count -= 1;
            server
        };
        // The server's reference is dropped after the guard.
        drop(server);
        Ok(())
    }

    /// The server `handle` is bound to.
    pub(crate) fn server(&self, handle: u64) -> Result<Arc<Server>> {
        self.bindings
            .lock()
            .table
            .get(&handle)
            .cloned()
            .ok_or(EBADF)
    }

    /// Parks a call until the guest issues it again; `EBUSY` if the VM has
    /// [`MAX_PARKED`] already.
    pub(crate) fn park(&self, parked: Parked) -> Result {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let block = parked.args[2];
        let mut table = self.parked.lock();
        if table.iter().count() >= MAX_PARKED {
            return Err(EBUSY);
        }
        // The block was unparked before the call was made, so the slot is
        // free; a replaced entry would be dropped after the guard.
        let _old = table.insert(node.into_node(block, parked));
        Ok(())
    }

    /// Takes the call parked with descriptor block `block`.
    pub(crate) fn unpark(&self, block: u64) -> Option<Parked> {
        self.parked.lock().remove(&block)
    }

    /// The pid of the VMM process that owns the VM.
    pub(crate) fn owner_pid(&self) -> i32 {
        self.kvm.userspace_pid()
    }

    /// The VM itself.
    pub(crate) fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// A reference on the VM.
    pub(crate) fn kvm_ref(&self) -> KvmRef {
        self.kvm.clone()
    }

    /// The VMM's address space.
    pub(crate) fn mm(&self) -> MmKey {
        self.mm
    }

    /// The I/O monitor's current or last session.
    pub(crate) fn iomon_session(&self) -> Option<Arc<Capture>> {
        self.iomon.lock().clone()
    }

    /// Ends the VM's monitoring session, so its readers see end-of-file.
    fn end_iomon(&self) {
        if let Some(cap) = self.iomon.lock().as_ref() {
            cap.end();
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Vm {
    fn drop(self: Pin<&mut Self>) {
        // Clients waiting on the guest fail at once, and trace readers get
        // end-of-file; then the proc files go, waiting for their readers,
        // before anything they use does.
        self.rv.shutdown();
        self.end_iomon();
        let proc = self.proc.lock().take();
        drop(proc);
        // Servers must not reach a VM that has gone, and the calls hold
        // references on it. A VM is dropped from process context (the
        // reaper, or unload), where cancelling may sleep.
        let parked = core::mem::take(&mut *self.parked.lock());
        for (_, p) in parked.iter() {
            let _ = p.call.cancel();
        }
    }
}

/// The registry has `1 << BUCKET_BITS` buckets.
const BUCKET_BITS: u32 = 6;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// The VMs of one bucket, by key.
type Bucket = RBTree<VmKey, Arc<Vm>>;

/// All VMs that have talked to CoVMM.
///
/// Every hypercall looks its VM up here, so the lookup takes no lock that
/// all VMs share: the VMs are spread over [`BUCKETS`] buckets by key, each
/// with its spinlock, held only for the tree walk. VMs are added, which
/// sleeps, under `adding`, a mutex that steady-state calls never take.
#[pin_data]
pub(crate) struct VmRegistry {
    #[pin]
    buckets: [SpinLock<Bucket>; BUCKETS],
    /// Serialises additions; `true` once unloading, when none may happen.
    #[pin]
    adding: Mutex<bool>,
    reaper: Workqueue,
}

impl VmRegistry {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(VmRegistry {
            buckets <- pin_init::pin_init_array_from_fn(|_| {
                new_spinlock!(RBTree::new(), "covmm_vms")
            }),
            adding <- new_mutex!(false, "covmm_vms_adding"),
            reaper: Workqueue::new(c"covmm_reaper")?,
        })
    }

    fn bucket(&self, key: VmKey) -> &SpinLock<Bucket> {
        &self.buckets[key.hash_bits(BUCKET_BITS)]
    }

    fn lookup(&self, key: VmKey) -> Option<Arc<Vm>> {
        let bucket = self.bucket(key).lock();
        let vm = bucket.get(&key).cloned();
        vm
    }

    /// Whether `f` holds for some VM.
    fn any(&self, mut f: impl FnMut(&Vm) -> bool) -> bool {
        self.buckets
            .iter()
            .any(|b| b.lock().values().any(|vm| f(vm)))
    }

    /// The VM that `vcpu` belongs to, registering it on first use.
    pub(crate) fn vm_for(&self, vcpu: &Vcpu<'_>) -> Result<Arc<Vm>> {
        match self.lookup(vcpu.kvm().key()) {
            Some(vm) => Ok(vm),
            None => self.add(vcpu.kvm(), ProcOwner::Current, || MmWatch::new(vcpu)),
        }
    }

    /// The VM that the process `owner` runs, registering it on first use
    /// (the I/O monitor needs no hypercall from the guest): `ENOENT` if the
    /// process has no VM open.
    pub(crate) fn vm_of_process(&self, owner: &OwnedProcess) -> Result<Arc<Vm>> {
        let kvm = owner.kvm()?;
        match self.lookup(kvm.key()) {
            Some(vm) => Ok(vm),
            None => self.add(&kvm, ProcOwner::Task(owner), || owner.watch()),
        }
    }

    fn add(
        &self,
        kvm: &Kvm,
        owner: ProcOwner<'_>,
        watch: impl FnOnce() -> Result<MmWatch>,
    ) -> Result<Arc<Vm>> {
        let key = kvm.key();
        let closed = self.adding.lock();
        if *closed {
            return Err(ESHUTDOWN);
        }
        // Another thread may have added it before we took the mutex.
        if let Some(vm) = self.lookup(key) {
            return Ok(vm);
        }
        let vm = Vm::new(kvm, watch()?)?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        // One directory per VMM process: a second VM of the same process
        // goes without (its name would clash).
        let pid = vm.owner_pid();
        let named = self.any(|v| v.owner_pid() == pid);
        self.bucket(key)
            .lock()
            .insert(node.into_node(key, vm.clone()));
        drop(closed);
        if !named {
            if let Err(e) = ProcDir::publish(pid, &vm, owner) {
                pr_warn!("no /proc/covmm/{pid} ({e:?})\n");
            }
        }
        pr_info!("VM of VMM pid {} joined\n", vm.owner_pid());
        Ok(vm)
    }

    /// The VMM whose address space is `mm` has exited: forget its VMs.
    ///
    /// Runs inside the mmu_notifier `release` callback, where the last
    /// reference on a VM must not be put: `kvm_destroy_vm()` unregisters KVM's
    /// own notifier and would wait for the very SRCU section we are in. The
    /// references are dropped on the reaper workqueue instead.
    pub(crate) fn mm_released(&self, mm: MmKey) {
        let mut gone = RBTree::new();
        for bucket in &self.buckets {
            let mut vms = bucket.lock();
            let mut cursor = vms.cursor_front_mut();
            while let Some(c) = cursor {
                if c.current().1.mm == mm {
                    let (next, node) = c.remove_current();
                    // Moving a node between trees does not allocate.
                    gone.insert(node);
                    cursor = next;
                } else {
                    cursor = c.move_next();
                }
            }
        }
        while let Some(c) = gone.cursor_front_mut() {
            let (_, node) = c.remove_current();
            let (_, vm) = node.to_key_value();
            pr_info!("VM of VMM pid {} left\n", vm.owner_pid());
            // Its clients and trace readers must not wait for the reaper.
            vm.rv.shutdown();
            vm.end_iomon();
            if let Err(vm) = self.reaper.enqueue(vm) {
                // Unreachable: a VM leaves the registry once and is queued
                // once. Leaking beats putting the VM here (see above).
                pr_err!("VM already queued for reaping; leaking it\n");
                core::mem::forget(vm);
            }
        }
    }

    /// The VM of the VMM process `pid` (the first, if it has several).
    pub(crate) fn find_by_pid(&self, pid: i32) -> Option<Arc<Vm>> {
        self.buckets.iter().find_map(|b| {
            let vms = b.lock();
            let vm = vms.values().find(|v| v.owner_pid() == pid).cloned();
            vm
        })
    }

    /// The VM of the VMM process `owner` (its pid `pid`) if CoVMM knows it,
    /// without registering it.
    pub(crate) fn find_of_process(&self, owner: &OwnedProcess, pid: i32) -> Option<Arc<Vm>> {
        if let Some(vm) = self.find_by_pid(pid) {
            return Some(vm);
        }
        self.lookup(owner.kvm().ok()?.key())
    }

    /// The pids of the VMMs whose VMs CoVMM knows.
    pub(crate) fn pids(&self) -> Result<KVec<i32>> {
        let mut pids = KVec::new();
        for bucket in &self.buckets {
            for vm in bucket.lock().values() {
                if !pids.contains(&vm.owner_pid()) {
                    pids.push(vm.owner_pid(), GFP_ATOMIC)?;
                }
            }
        }
        Ok(pids)
    }

    /// Unload: forget every VM and wait until the reaper is idle.
    pub(crate) fn shutdown(&self) {
        *self.adding.lock() = true;
        for bucket in &self.buckets {
            let vms = core::mem::take(&mut *bucket.lock());
            drop(vms);
        }
        self.reaper.drain();
    }
}
