// SPDX-License-Identifier: GPL-2.0

//! The guest I/O request monitor: per-VM, per-vCPU capture of the port-I/O
//! and MMIO requests that reach KVM's emulation.
//!
//! A VM's owner turns monitoring on ([`IoMonitors::start`], through
//! `/dev/covmm` or `/proc/covmm/<pid>/iomon`), which opens a session, a
//! [`Capture`]. While at least one session is open, probes sit on KVM's
//! `kvm_pio`, `kvm_mmio` and `kvm_fast_mmio` tracepoints (`kvm_io.rs`); a
//! second after the last one ends ([`PROBES_LINGER_MS`]) they are removed
//! and monitoring costs nothing. Each probe
//! finds the session of the VM whose vCPU thread it runs in, by address
//! space and then by vCPU, and the session:
//!
//! - keeps totals, aggregates per port or 4 KiB MMIO page, and per vCPU;
//! - pushes an [`IoRecord`] into a bounded ring for `iotrace` readers. A full
//!   ring drops the record and counts it; the vCPU never waits. It wakes
//!   readers only when the ring holds what one of them waits for (the first
//!   record, or a batch: [`ReadWait`]), so a reader that keeps up with a
//!   busy guest is not woken, by the vCPU thread, once per request.
//!
//! A session ends when monitoring is turned off, the VM goes or the module
//! is unloaded: its readers then get end-of-file once the ring is empty,
//! and its figures stay readable until the next session.
//!
//! Lock order: [`IoMonitors`]' control mutex, then a VM's `iomon` mutex,
//! then a session's spinlock (a leaf, taken by the probes too).

use kernel::{
    new_mutex, new_poll_condvar, new_spinlock,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        poll::PollCondVar,
        Arc, CondVarTimeoutResult, Mutex, SpinLock,
    },
    time::msecs_to_jiffies,
    workqueue::{impl_has_delayed_work, new_delayed_work, DelayedWork, WorkItem},
};

use crate::abi::iomon::{
    self as io, IoFilter, IoRecord, IoStatEntry, IoTotals, IoVcpuStat, KIND_PIO,
};
use crate::kvm::{
    self, flush_delayed_work, monotonic_ns, IoProbes, KvmRef, MmKey, ProbeContext, ProbeSlots,
    VcpuIo,
};
use crate::vm::Vm;

/// Most VMs monitored at once.
const MAX_MONITORED: usize = 64;

/// How long the probes stay registered after the last session ends.
///
/// Registering and removing a tracepoint's probe flips its static key, which
/// patches kernel text: an int3 breakpoint and three rounds of IPIs to every
/// CPU, while vCPU threads run through that very code. Monitoring toggled
/// from a script would patch six sites per cycle; like the kernel's
/// `static_key_slow_dec_deferred()`, removal waits until monitoring has
/// stayed off for a while, so a session that follows soon reuses the probes.
const PROBES_LINGER_MS: u32 = 1000;

/// A request as a probe reports it.
pub(crate) struct Request {
    /// [`io::KIND_PIO`] or [`io::KIND_MMIO`].
    pub(crate) kind: u8,
    pub(crate) write: bool,
    /// Port or guest-physical address.
    pub(crate) addr: u64,
    /// Bytes per access.
    pub(crate) size: u16,
    /// Repetitions (string I/O); at least 1.
    pub(crate) count: u32,
    /// The first bytes moved, when the probe saw them.
    pub(crate) data: Option<u64>,
}

/// Slots of the open-addressing index over [`StatTable::entries`]: a power
/// of two, at least twice [`io::IOMON_MAX_ENTRIES`], so a search always
/// ends at an empty slot.
const INDEX_SLOTS: usize = 1024;

/// Aggregates per port and per MMIO page, allocated once per session so that
/// the probes never allocate.
struct StatTable {
    entries: KVec<IoStatEntry>,
    /// 0: empty; `n`: `entries[n - 1]`.
    index: KVec<u16>,
    /// Requests that found `entries` full.
    other: IoStatEntry,
}

impl StatTable {
    fn new() -> Result<Self> {
        Ok(Self {
            entries: KVec::with_capacity(io::IOMON_MAX_ENTRIES, GFP_KERNEL)?,
            index: KVec::from_elem(0u16, INDEX_SLOTS, GFP_KERNEL)?,
            other: IoStatEntry {
                flags: io::ENTRY_OTHER,
                last: u64::MAX,
                ..IoStatEntry::default()
            },
        })
    }

    /// The entry of `kind`'s span starting at `first`, made on first use.
    fn entry(&mut self, kind: u8, (first, last): (u64, u64)) -> &mut IoStatEntry {
        let hash = first.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32 ^ u64::from(kind);
        let mut at = hash as usize % INDEX_SLOTS;
        loop {
            match self.index[at] {
                0 => break,
                n => {
                    let e = &self.entries[usize::from(n) - 1];
                    if e.kind == kind && e.first == first {
                        return &mut self.entries[usize::from(n) - 1];
                    }
                }
            }
            at = (at + 1) % INDEX_SLOTS;
        }
        let fresh = IoStatEntry {
            kind,
            first,
            last,
            ..IoStatEntry::default()
        };
        if self.entries.push_within_capacity(fresh).is_err() {
            return &mut self.other;
        }
        // At most `IOMON_MAX_ENTRIES` (512) entries, so the index fits a u16.
        self.index[at] = self.entries.len() as u16;
        let last = self.entries.len() - 1;
        &mut self.entries[last]
    }
}

/// A session's state behind its spinlock.
struct Inner {
    /// The trace ring: `len` records from `head`, wrapping.
    ring: KVVec<IoRecord>,
    head: usize,
    len: usize,
    /// Records dropped since a reader last took records.
    unread_dropped: u64,
    totals: IoTotals,
    table: StatTable,
    /// By `vcpu_idx`; the last entry gathers the rest.
    vcpus: KVec<IoVcpuStat>,
    /// Set when the session ends.
    ended_ns: Option<u64>,
    /// The fewest records a waiting reader needs: [`Inner::push`] wakes
    /// the readers when the ring reaches it. `usize::MAX` while none waits;
    /// every reader that goes back to sleep sets it again.
    wake_at: usize,
}

impl Inner {
    fn new(ring: usize) -> Result<Self> {
        Ok(Self {
            ring: KVVec::from_elem(IoRecord::default(), ring, GFP_KERNEL)?,
            head: 0,
            len: 0,
            unread_dropped: 0,
            totals: IoTotals::default(),
            table: StatTable::new()?,
            vcpus: KVec::from_elem(IoVcpuStat::default(), io::IOMON_MAX_VCPUS + 1, GFP_KERNEL)?,
            ended_ns: None,
            wake_at: usize::MAX,
        })
    }

    fn account(&mut self, rec: &IoRecord, vcpu: Option<VcpuIo>) {
        let n = u64::from(rec.count);
        let bytes = rec.bytes();
        let t = &mut self.totals;
        t.requests += 1;
        match (rec.kind == KIND_PIO, rec.is_write()) {
            (true, false) => t.pio_reads += n,
            (true, true) => t.pio_writes += n,
            (false, false) => t.mmio_reads += n,
            (false, true) => t.mmio_writes += n,
        }
        if rec.kind == KIND_PIO {
            t.pio_bytes += bytes;
        } else {
            t.mmio_bytes += bytes;
        }
        if vcpu.is_none() {
            t.unattributed += 1;
        }

        let e = self
            .table
            .entry(rec.kind, io::stat_span(rec.kind, rec.addr));
        if rec.is_write() {
            e.writes += n;
        } else {
            e.reads += n;
        }
        e.bytes += bytes;

        let other = self.vcpus.len() - 1;
        let (at, id) = match vcpu {
            Some(v) if (v.idx as usize) < other => (v.idx as usize, v.id),
            _ => (other, io::VCPU_OTHER),
        };
        let v = &mut self.vcpus[at];
        v.vcpu = id;
        if rec.kind == KIND_PIO {
            v.pio += n;
        } else {
            v.mmio += n;
        }
        v.bytes += bytes;
    }

    /// Queues `rec`; returns whether the readers must be woken for it.
    fn push(&mut self, rec: IoRecord) -> bool {
        let size = self.ring.len();
        if self.len == size {
            self.unread_dropped += 1;
            self.totals.dropped += 1;
            return false;
        }
        self.ring[(self.head + self.len) % size] = rec;
        self.len += 1;
        if self.len < self.wake_at {
            return false;
        }
        self.wake_at = usize::MAX;
        true
    }

    /// Asks [`Inner::push`] to wake the readers once the ring holds `n`
    /// records, or sooner for another reader.
    fn wake_readers_at(&mut self, n: usize) {
        self.wake_at = self.wake_at.min(n);
    }

    fn take(&mut self, out: &mut [IoRecord]) -> usize {
        let n = out.len().min(self.len);
        for slot in &mut out[..n] {
            *slot = self.ring[self.head];
            self.head = (self.head + 1) % self.ring.len();
        }
        self.len -= n;
        n
    }
}

/// How a read of a session's ring waits for records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadWait {
    /// Not at all: `EAGAIN` if there is nothing to take.
    Never,
    /// Until the first record.
    First,
    /// Until the first record, then for a batch (as many records as the
    /// reader takes, at most half the ring) or for
    /// [`io::IOMON_BATCH_WAIT_MS`], whichever comes first.
    Batch,
}

/// What a reader took from a session's ring.
pub(crate) struct Batch {
    /// Records written to the reader's buffer.
    pub(crate) count: usize,
    /// Records lost to a full ring before these.
    pub(crate) dropped: u64,
    /// The session has ended and its ring is empty.
    pub(crate) eof: bool,
}

/// A copy of a session's figures.
pub(crate) struct Snapshot {
    pub(crate) enabled: bool,
    pub(crate) ring: u32,
    pub(crate) elapsed_ns: u64,
    pub(crate) totals: IoTotals,
    pub(crate) filter: IoFilter,
    /// Busiest first; the catch-all entry last, if used.
    pub(crate) entries: KVec<IoStatEntry>,
    /// vCPUs that made requests, by index; the catch-all last, if used.
    pub(crate) vcpus: KVec<IoVcpuStat>,
}

/// One monitoring session of one VM.
#[pin_data]
pub(crate) struct Capture {
    /// Keeps the VM, and so its vCPUs, alive while probes look at them.
    kvm: KvmRef,
    mm: MmKey,
    filter: IoFilter,
    started_ns: u64,
    /// The `vcpu_idx` that made the last request: tried first.
    hint: Atomic<u32>,
    #[pin]
    inner: SpinLock<Inner>,
    /// Readers of the trace ring.
    #[pin]
    readers: PollCondVar,
}

impl Capture {
    /// A session for `vm` recording what `filter` lets through into a ring
    /// of `ring` records ([`io::IOMON_RING_DEFAULT`] for 0).
    fn new(vm: &Vm, filter: IoFilter, ring: u32) -> Result<Arc<Self>> {
        let ring = match ring {
            0 => io::IOMON_RING_DEFAULT,
            n if n <= io::IOMON_RING_MAX => n,
            _ => return Err(EINVAL),
        };
        let inner = Inner::new(ring as usize)?;
        Arc::pin_init(
            pin_init!(Capture {
                kvm: vm.kvm_ref(),
                mm: vm.mm(),
                filter,
                started_ns: monotonic_ns(),
                hint: Atomic::new(0),
                inner <- new_spinlock!(inner, "covmm_iomon_capture"),
                readers <- new_poll_condvar!("covmm_iomon_readers"),
            }),
            GFP_KERNEL,
        )
    }

    /// The filter the session records through.
    pub(crate) fn filter(&self) -> &IoFilter {
        &self.filter
    }

    /// Whether the session still records.
    pub(crate) fn is_on(&self) -> bool {
        self.inner.lock().ended_ns.is_none()
    }

    fn record(&self, req: &Request, vcpu: Option<VcpuIo>) {
        if !self.filter.matches(req.kind, req.addr, req.write) {
            return;
        }
        let mut flags = 0;
        if req.write {
            flags |= io::REC_WRITE;
        }
        if req.data.is_some() {
            flags |= io::REC_DATA;
        }
        if let Some(v) = vcpu {
            flags |= io::REC_VCPU;
            self.hint.store(v.idx, Relaxed);
            if v.rip.is_some() {
                flags |= io::REC_RIP;
            }
        }
        let rec = IoRecord {
            ts_ns: monotonic_ns(),
            addr: req.addr,
            data: req.data.unwrap_or(0),
            rip: vcpu.and_then(|v| v.rip).unwrap_or(0),
            vcpu: vcpu.map_or(0, |v| v.id),
            count: req.count,
            size: req.size,
            kind: req.kind,
            flags,
            pad: 0,
        };
        let mut inner = self.inner.lock();
        if inner.ended_ns.is_some() {
            return;
        }
        inner.account(&rec, vcpu);
        let wake = inner.push(rec);
        drop(inner);
        if wake {
            self.readers.notify_all();
        }
    }

    /// Ends the session: nothing more is recorded, and readers get
    /// end-of-file once they have taken what is left. Does not sleep.
    pub(crate) fn end(&self) {
        {
            let mut inner = self.inner.lock();
            if inner.ended_ns.is_none() {
                inner.ended_ns = Some(monotonic_ns());
            }
        }
        self.readers.notify_all();
    }

    /// Takes records into `out`, waiting as `wait` says (`EAGAIN` if it says
    /// [`ReadWait::Never`] and there is nothing). `ERESTARTSYS` if a signal
    /// comes first.
    pub(crate) fn read(&self, out: &mut [IoRecord], wait: ReadWait) -> Result<Batch> {
        let mut inner = self.inner.lock();
        let batch = match wait {
            ReadWait::Batch => out.len().min(inner.ring.len() / 2).max(1),
            ReadWait::Never | ReadWait::First => 1,
        };
        // What is left of the batch wait, which starts at the first record;
        // `waited_out` once it has all passed.
        let mut left = None;
        let mut waited_out = false;
        loop {
            let ended = inner.ended_ns.is_some();
            let enough = inner.len >= batch || (inner.len > 0 && (waited_out || ended));
            if enough || inner.unread_dropped > 0 || (wait == ReadWait::Never && inner.len > 0) {
                let dropped = core::mem::take(&mut inner.unread_dropped);
                let count = inner.take(out);
                return Ok(Batch {
                    count,
                    dropped,
                    eof: false,
                });
            }
            if ended {
                return Ok(Batch {
                    count: 0,
                    dropped: 0,
                    eof: true,
                });
            }
            if wait == ReadWait::Never {
                return Err(EAGAIN);
            }
            if inner.len == 0 {
                inner.wake_readers_at(1);
                if self.readers.wait_interruptible(&mut inner) {
                    return Err(ERESTARTSYS);
                }
                continue;
            }
            inner.wake_readers_at(batch);
            let jiffies = *left.get_or_insert_with(|| msecs_to_jiffies(io::IOMON_BATCH_WAIT_MS));
            match self.readers.wait_interruptible_timeout(&mut inner, jiffies) {
                CondVarTimeoutResult::Woken { jiffies } => left = Some(jiffies),
                CondVarTimeoutResult::Timeout => waited_out = true,
                CondVarTimeoutResult::Signal { .. } => return Err(ERESTARTSYS),
            }
        }
    }

    /// Whether a read would return at once (poll). Until then, a pollster
    /// is woken by the first record.
    pub(crate) fn readable(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.wake_readers_at(1);
        inner.len > 0 || inner.unread_dropped > 0 || inner.ended_ns.is_some()
    }

    /// The wait queue of readers, for poll.
    pub(crate) fn readers(&self) -> &PollCondVar {
        &self.readers
    }

    /// The session's figures.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let mut entries = KVec::with_capacity(io::IOMON_MAX_ENTRIES + 1, GFP_KERNEL)?;
        let mut vcpus = KVec::with_capacity(io::IOMON_MAX_VCPUS + 1, GFP_KERNEL)?;
        let (totals, ring, ended_ns) = {
            let inner = self.inner.lock();
            for e in inner.table.entries.iter() {
                // Room was reserved above.
                let _ = entries.push_within_capacity(*e);
            }
            if inner.table.other.reads + inner.table.other.writes > 0 {
                let _ = entries.push_within_capacity(inner.table.other);
            }
            for v in inner.vcpus.iter().filter(|v| v.pio + v.mmio > 0) {
                let _ = vcpus.push_within_capacity(*v);
            }
            (inner.totals, inner.ring.len() as u32, inner.ended_ns)
        };
        let named = busy_named(&entries);
        sort_busiest_first(&mut entries[..named]);
        for e in entries
            .iter_mut()
            .filter(|e| e.flags & io::ENTRY_OTHER == 0)
        {
            if self.kvm.bus_covers(e.kind == KIND_PIO, e.first, e.last) {
                e.flags |= io::ENTRY_IN_KERNEL;
            }
        }
        let end = ended_ns.unwrap_or_else(monotonic_ns);
        Ok(Snapshot {
            enabled: ended_ns.is_none(),
            ring,
            elapsed_ns: end.saturating_sub(self.started_ns),
            totals,
            filter: self.filter,
            entries,
            vcpus,
        })
    }
}

/// Insertion sort, busiest first: at most [`io::IOMON_MAX_ENTRIES`]
/// entries, in process context. (core's quicksort carries panic paths that
/// objtool cannot follow.)
fn sort_busiest_first(entries: &mut [IoStatEntry]) {
    let busy = |e: &IoStatEntry| e.reads + e.writes;
    for i in 1..entries.len() {
        let mut j = i;
        while j > 0 && busy(&entries[j - 1]) < busy(&entries[j]) {
            entries.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Entries before the catch-all one (which, if present, is last).
fn busy_named(entries: &[IoStatEntry]) -> usize {
    match entries.last() {
        Some(e) if e.flags & io::ENTRY_OTHER != 0 => entries.len() - 1,
        _ => entries.len(),
    }
}

/// State changed only under [`IoMonitors`]' mutex.
struct Control {
    /// Registered while some session is open, and up to
    /// [`PROBES_LINGER_MS`] after the last one ended.
    probes: Option<IoProbes>,
    /// Set at unload: no session may start afterwards.
    closed: bool,
}

/// Every open session, and the probes that feed them.
#[pin_data]
pub(crate) struct IoMonitors {
    #[pin]
    control: Mutex<Control>,
    /// Open sessions, read by the probes without a lock.
    active: ProbeSlots<Capture, MAX_MONITORED>,
    /// Removes the probes once no session has been open for a while.
    reaper: Arc<ProbeReaper>,
}

/// The delayed work that removes idle probes ([`PROBES_LINGER_MS`]).
#[pin_data]
struct ProbeReaper {
    #[pin]
    work: DelayedWork<ProbeReaper>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for ProbeReaper { self.work }
}

impl WorkItem for ProbeReaper {
    type Pointer = Arc<ProbeReaper>;

    fn run(_this: Arc<ProbeReaper>) {
        // The host is there: unload flushes this work before it lets go
        // (`IoMonitors::shutdown`).
        if let Ok(host) = kvm::host() {
            host.iomon.remove_idle_probes();
        }
    }
}

impl IoMonitors {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(IoMonitors {
            control <- new_mutex!(Control { probes: None, closed: false }, "covmm_iomon"),
            active: ProbeSlots::new(),
            reaper: Arc::pin_init(
                pin_init!(ProbeReaper {
                    work <- new_delayed_work!("covmm_iomon_reaper"),
                }),
                GFP_KERNEL,
            )?,
        })
    }

    /// A probe fired: hands the request to the session of the VM whose vCPU
    /// made it, if that VM is monitored.
    pub(crate) fn record(&self, ctx: &ProbeContext, req: &Request) {
        let mm = ctx.mm();
        let mut seen = 0;
        let mut only = None;
        for cap in self.active.iter(ctx).filter(|c| c.mm == mm) {
            if let Some(vcpu) = cap.kvm.current_vcpu(ctx, cap.hint.load(Relaxed)) {
                cap.record(req, Some(vcpu));
                return;
            }
            seen += 1;
            only = Some(cap);
        }
        // The thread runs no vCPU of a monitored VM of this process. With
        // one such VM, count the request there rather than lose it.
        if let (1, Some(cap)) = (seen, only) {
            cap.record(req, None);
        }
    }

    /// Opens a new session for `vm`, ending its previous one. `EBUSY` if
    /// [`MAX_MONITORED`] VMs are monitored already.
    pub(crate) fn start(&self, vm: &Vm, filter: IoFilter, ring: u32) -> Result {
        filter.validate().map_err(|_| EINVAL)?;
        let cap = Capture::new(vm, filter, ring)?;
        let mut ctl = self.control.lock();
        if ctl.closed {
            return Err(ESHUTDOWN);
        }
        let mut current = vm.iomon.lock();
        if let Some(old) = current.as_ref() {
            drop(self.active.remove(old, None));
            old.end();
        }
        if self.active.insert(cap.clone()).is_err() {
            return Err(EBUSY);
        }
        if ctl.probes.is_none() {
            // SAFETY: `self` lives pinned in the module's `Host` and the
            // probes are dropped (in `shutdown` at the latest) before it.
            match unsafe { IoProbes::register(self) } {
                Ok(p) => ctl.probes = Some(p),
                Err(e) => {
                    drop(self.active.remove(&cap, None));
                    return Err(e);
                }
            }
        }
        *current = Some(cap);
        Ok(())
    }

    /// Ends `vm`'s session, if one is open; its figures stay readable. The
    /// probes go [`PROBES_LINGER_MS`] after the last session has ended.
    pub(crate) fn stop(&self, vm: &Vm) {
        let ctl = self.control.lock();
        let current = vm.iomon.lock();
        let Some(cap) = current.as_ref() else {
            return;
        };
        drop(self.active.remove(cap, None));
        cap.end();
        // Once closed, the reaper has been flushed and must not be queued
        // again: its code would outlive the module.
        if self.active.len() == 0 && ctl.probes.is_some() && !ctl.closed {
            // Already pending: that run removes the probes, or finds a
            // session open and leaves them.
            let _ = kvm::system_dfl()
                .enqueue_delayed(self.reaper.clone(), msecs_to_jiffies(PROBES_LINGER_MS));
        }
    }

    /// The reaper's work: removes the probes if no session is open.
    fn remove_idle_probes(&self) {
        let mut ctl = self.control.lock();
        if self.active.len() == 0 {
            drop(ctl.probes.take());
        }
    }

    /// Module unload: ends every session, removes the probes and waits for
    /// the reaper.
    pub(crate) fn shutdown(&self) {
        let mut ctl = self.control.lock();
        ctl.closed = true;
        let probes = ctl.probes.take();
        self.active.drain(probes, |cap| cap.end());
        drop(ctl);
        flush_delayed_work(&self.reaper.work);
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(covmm_host_iomon)]
mod tests {
    use super::*;

    fn rec(addr: u64) -> IoRecord {
        IoRecord {
            addr,
            ..IoRecord::default()
        }
    }

    #[test]
    fn readers_are_woken_once_the_ring_holds_what_they_wait_for() -> Result {
        let mut inner = Inner::new(8)?;
        // Nobody waits: no wake-up, however full the ring.
        assert!(!inner.push(rec(0)));
        let mut out = [IoRecord::default(); 8];
        assert_eq!(inner.take(&mut out), 1);
        // A reader waiting for a batch of 3 is woken by the third record
        // only, and once.
        inner.wake_readers_at(3);
        assert!(!inner.push(rec(1)));
        assert!(!inner.push(rec(2)));
        assert!(inner.push(rec(3)));
        assert!(!inner.push(rec(4)));
        assert_eq!(inner.take(&mut out), 4);
        assert_eq!(out[0].addr, 1);
        // Another reader wanting the first record wins over a batch.
        inner.wake_readers_at(4);
        inner.wake_readers_at(1);
        assert!(inner.push(rec(5)));
        Ok(())
    }

    #[test]
    fn a_full_ring_drops_and_counts_without_waking() -> Result {
        let mut inner = Inner::new(2)?;
        inner.wake_readers_at(3);
        assert!(!inner.push(rec(0)));
        assert!(!inner.push(rec(1)));
        // A batch larger than the ring never comes: readers ask for at
        // most half of it (`Capture::read`), so this one sleeps on.
        assert!(!inner.push(rec(2)));
        assert_eq!(inner.unread_dropped, 1);
        assert_eq!(inner.totals.dropped, 1);
        Ok(())
    }
}
