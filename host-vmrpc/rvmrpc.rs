// SPDX-License-Identifier: GPL-2.0

//! Reverse VMRPC on the host: host threads call services in the guest
//! kernel.
//!
//! The three threads of the Tsukuba design:
//! - the **server thread** lives in the guest (guest-rvmrpc). It offers a
//!   slot, a request and a response buffer in its memory (`RvInit`), then
//!   loops on `RvWait`;
//! - the **proxy thread** is the vCPU thread running that guest thread. In
//!   `RvWait` it sleeps inside the hypercall (VM long polling,
//!   [`crate::kvm::Vcpu::wait`]) until a request is queued, copies it into
//!   the slot's request buffer and returns into the guest; the next `RvWait`
//!   copies the response out and completes the client;
//! - the **client thread** is any host thread in [`RvHub::call`]: a /proc
//!   reader, an ioctl caller. It queues a request and sleeps until the
//!   response, a timeout (`ETIMEDOUT`) or the end of the guest's server.
//!
//! Unlike the paper, which pinned and vmapped the guest buffers, the proxy
//! copies in its own thread, whose address space is the VMM's, through the
//! memslots: nothing is pinned, so a VM that dies leaks no page, and memslot
//! changes and dirty logging see every write. Each slot serves one request at
//! a time and a VM may offer [`abi::RV_MAX_SLOTS`], so as many requests are
//! outstanding at once.
//!
//! Every waiting client gets an answer at once when the guest's server goes:
//! `ESHUTDOWN` when its VM goes or the guest restarts (a new boot id), and
//! `ENOTCONN` when its last slot is given back.
//!
//! Lock order: the hub's mutex, then a call's state mutex. No guest memory
//! is touched under either.

use kernel::{
    alloc::KVVec,
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            ordering::{Acquire, Relaxed, Release},
            Atomic,
        },
        Arc, CondVar, CondVarTimeoutResult, Mutex,
    },
    task::Task,
    time::{msecs_to_jiffies, Instant, Monotonic, Msecs},
};
use zerocopy::{FromZeros, IntoBytes};

use crate::abi::{self, RvInit, RvRequest};
use crate::kvm::{Vcpu, Wake};

/// Default time a client waits for the guest.
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 5000;
/// Longest a client may be told to wait.
pub(crate) const MAX_TIMEOUT_MS: u32 = 600_000;
/// Most requests one VM may have queued.
const MAX_QUEUED: usize = 64;
/// How long a slot's vCPU sleeps per `RvWait` before giving the guest its
/// CPU back.
const POLL_PERIOD_MS: Msecs = 50;
/// Buckets of the latency histogram: below 2^i microseconds, the last open.
pub(crate) const HIST_BUCKETS: usize = abi::RV_HIST_BUCKETS;

const HEAD: usize = size_of::<RvRequest>();

enum State {
    Queued,
    Delivered,
    Done(Result<KVVec<u8>>),
    /// The client gave up; a late answer is dropped.
    Abandoned,
}

/// One client request.
#[pin_data]
struct RvCall {
    head: RvRequest,
    data: KVVec<u8>,
    max_resp: usize,
    #[pin]
    state: Mutex<State>,
    #[pin]
    done: CondVar,
}

impl RvCall {
    /// Ends the call with `result`, unless the client has given up.
    fn complete(&self, result: Result<KVVec<u8>>) {
        let mut state = self.state.lock();
        if !matches!(*state, State::Abandoned) {
            *state = State::Done(result);
            self.done.notify_all();
        }
    }
}

/// A slot a guest server thread offered.
struct Slot {
    init: RvInit,
    /// The request it is serving.
    busy: Option<Arc<RvCall>>,
    /// The vCPU thread waiting in `RvWait` for this slot, if any.
    waiter: Option<ARef<Task>>,
}

/// Counters for `status` and the stats ioctl.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) timeouts: u64,
    pub(crate) hist: [u64; HIST_BUCKETS],
}

struct Hub {
    slots: KVec<Option<Slot>>,
    boot_id: u64,
    queue: KVec<Arc<RvCall>>,
    next_tag: u64,
    /// Set when the VM goes; every later call fails.
    closed: bool,
    stats: Stats,
}

impl Hub {
    /// The live slot numbered `slot` (`ENOENT` if the guest offered none).
    fn slot_mut(&mut self, slot: usize) -> Result<&mut Slot> {
        self.slots
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(ENOENT)
    }
}

/// The Reverse VMRPC state of one VM.
#[pin_data]
pub(crate) struct RvHub {
    #[pin]
    hub: Mutex<Hub>,
    /// Queued requests (or a close), read without the lock by sleeping
    /// vCPUs.
    pending: Atomic<usize>,
    timeout_ms: Atomic<u32>,
}

/// What a VM's Reverse VMRPC server looks like from the host.
pub(crate) struct Status {
    pub(crate) slots: usize,
    pub(crate) busy: usize,
    pub(crate) queued: usize,
    pub(crate) timeout_ms: u32,
    pub(crate) stats: Stats,
}

impl RvHub {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(RvHub {
            hub <- new_mutex!(
                Hub {
                    slots: KVec::new(),
                    boot_id: 0,
                    queue: KVec::new(),
                    next_tag: 1,
                    closed: false,
                    stats: Stats::default(),
                },
                "covmm_rv_hub"
            ),
            pending: Atomic::new(0),
            timeout_ms: Atomic::new(DEFAULT_TIMEOUT_MS),
        })
    }

    /// `RvInit`: checks the slot's buffers and adds it; returns its number.
    pub(crate) fn init(&self, vcpu: &Vcpu<'_>, init: RvInit) -> Result<i64> {
        let max = abi::RV_MAX_BUF;
        if init.version != abi::RV_VERSION || init.flags != 0 || init.boot_id == 0 {
            return Err(EINVAL);
        }
        if !(HEAD as u32..=max).contains(&init.req_len) || !(1..=max).contains(&init.resp_len) {
            return Err(EINVAL);
        }
        let req_end = init
            .req_gpa
            .checked_add(init.req_len.into())
            .ok_or(EOVERFLOW)?;
        let resp_end = init
            .resp_gpa
            .checked_add(init.resp_len.into())
            .ok_or(EOVERFLOW)?;
        if init.req_gpa < resp_end && init.resp_gpa < req_end {
            return Err(EINVAL);
        }
        // Every page of both buffers must be guest RAM the host may write.
        let memory = vcpu.memory();
        for (start, end) in [(init.req_gpa, req_end), (init.resp_gpa, resp_end)] {
            let mut at = start;
            while at < end {
                memory.hva(at, true)?;
                at = (at | 0xfff) + 1;
            }
        }
        let mut gone = KVec::new();
        let slot = {
            let mut hub = self.hub.lock();
            if hub.closed {
                return Err(ESHUTDOWN);
            }
            if hub.boot_id != init.boot_id {
                // The guest's server restarted: its old slots are dead.
                for slot in hub.slots.drain_all().flatten() {
                    if let Some(call) = slot.busy {
                        gone.push(call, GFP_KERNEL)?;
                    }
                }
                hub.boot_id = init.boot_id;
            }
            let entry = Some(Slot {
                init,
                busy: None,
                waiter: None,
            });
            match hub.slots.iter().position(Option::is_none) {
                Some(i) => {
                    hub.slots[i] = entry;
                    i
                }
                None if hub.slots.len() < abi::RV_MAX_SLOTS => {
                    hub.slots.push(entry, GFP_KERNEL)?;
                    hub.slots.len() - 1
                }
                None => return Err(EBUSY),
            }
        };
        for call in gone {
            call.complete(Err(ESHUTDOWN));
        }
        Ok(slot as i64)
    }

    /// `RvWait`: answers request `tag` of `slot` with `result`, then waits
    /// for the next request (unless `park` is false: the guest's CPU has
    /// other work).
    pub(crate) fn wait(
        &self,
        vcpu: &Vcpu<'_>,
        slot: u64,
        tag: u64,
        result: i64,
        park: bool,
    ) -> Result<i64> {
        let slot = usize::try_from(slot).map_err(|_| ENOENT)?;
        if tag != 0 {
            self.answer(vcpu, slot, tag, result)?;
        }
        let mut woken = false;
        loop {
            if let Some(next) = self.deliver(vcpu, slot)? {
                return Ok(next);
            }
            if woken || !park {
                // Another slot took the request, or the guest cannot wait.
                return Ok(abi::CALL_AGAIN);
            }
            self.set_waiter(slot, Some(ARef::from(&**kernel::current!())));
            let wake = vcpu.wait(|| self.pending.load(Acquire) > 0, POLL_PERIOD_MS);
            self.set_waiter(slot, None);
            match wake {
                Wake::Ready => woken = true,
                Wake::Event => return Ok(abi::CALL_AGAIN),
                Wake::Dying => return Err(EINTR),
            }
        }
    }

    fn set_waiter(&self, slot: usize, task: Option<ARef<Task>>) {
        let old = match self.hub.lock().slot_mut(slot) {
            Ok(s) => core::mem::replace(&mut s.waiter, task),
            Err(_) => task,
        };
        drop(old);
    }

    /// Completes the slot's request with the guest's answer.
    fn answer(&self, vcpu: &Vcpu<'_>, slot: usize, tag: u64, result: i64) -> Result {
        let (call, resp_gpa, resp_len) = {
            let mut hub = self.hub.lock();
            let s = hub.slot_mut(slot)?;
            match &s.busy {
                Some(call) if call.head.tag == tag => {}
                // A stale or made-up tag: nothing to answer.
                _ => return Ok(()),
            }
            let (gpa, len) = (s.init.resp_gpa, s.init.resp_len);
            (s.busy.take().ok_or(ENOENT)?, gpa, len)
        };
        let outcome = abi::decode_result(result, Error::from_errno, EIO).and_then(|n| {
            // A length beyond the guest's own buffer, or the client's.
            let n = usize::try_from(n).map_err(|_| EMSGSIZE)?;
            if n > resp_len as usize || n > call.max_resp {
                return Err(EMSGSIZE);
            }
            let mut buf = KVVec::from_elem(0u8, n, GFP_KERNEL)?;
            vcpu.memory().read(resp_gpa, &mut buf)?;
            Ok(buf)
        });
        call.complete(outcome);
        Ok(())
    }

    /// Hands the oldest queued request to `slot`: writes it into the slot's
    /// request buffer. `None` if nothing is queued.
    fn deliver(&self, vcpu: &Vcpu<'_>, slot: usize) -> Result<Option<i64>> {
        let (call, req_gpa) = {
            let mut hub = self.hub.lock();
            if hub.closed {
                return Err(ESHUTDOWN);
            }
            let req_len = hub.slot_mut(slot)?.init.req_len as usize;
            // The first request that fits this slot; others wait for a
            // bigger one.
            let Some(i) = hub
                .queue
                .iter()
                .position(|c| HEAD + c.data.len() <= req_len)
            else {
                return Ok(None);
            };
            let call = hub.queue.remove(i)?;
            self.pending.fetch_sub(1, Relaxed);
            let mut state = call.state.lock();
            if matches!(*state, State::Abandoned) {
                drop(state);
                drop(hub);
                return self.deliver(vcpu, slot);
            }
            *state = State::Delivered;
            drop(state);
            let s = hub.slot_mut(slot)?;
            s.busy = Some(call.clone());
            (call, s.init.req_gpa)
        };
        let memory = vcpu.memory();
        let written = memory
            .write(req_gpa, call.head.as_bytes())
            .and_then(|()| memory.write(req_gpa + HEAD as u64, &call.data));
        if let Err(e) = written {
            // The guest moved its buffer away: the slot is unusable.
            let _ = self.fini(slot);
            return Err(e);
        }
        Ok(Some(abi::RV_REQUEST))
    }

    /// `RvFini`: `slot` goes; its request fails with `ESHUTDOWN`, and with
    /// the last slot the queued ones fail with `ENOTCONN`.
    pub(crate) fn fini(&self, slot: usize) -> Result<i64> {
        let (busy, orphans) = {
            let mut hub = self.hub.lock();
            let s = hub
                .slots
                .get_mut(slot)
                .and_then(Option::take)
                .ok_or(ENOENT)?;
            let orphans = if hub.slots.iter().all(Option::is_none) {
                self.pending.store(0, Relaxed);
                core::mem::take(&mut hub.queue)
            } else {
                KVec::new()
            };
            (s.busy, orphans)
        };
        if let Some(call) = busy {
            call.complete(Err(ESHUTDOWN));
        }
        for call in orphans {
            call.complete(Err(ENOTCONN));
        }
        Ok(0)
    }

    /// The VM goes: every request fails with `ESHUTDOWN`, sleeping vCPUs
    /// wake, and no call starts any more.
    pub(crate) fn shutdown(&self) {
        let (queue, slots) = {
            let mut hub = self.hub.lock();
            hub.closed = true;
            (
                core::mem::take(&mut hub.queue),
                core::mem::take(&mut hub.slots),
            )
        };
        self.pending.store(usize::MAX / 2, Release);
        for slot in slots.into_iter().flatten() {
            if let Some(task) = &slot.waiter {
                task.wake_up();
            }
            if let Some(call) = slot.busy {
                call.complete(Err(ESHUTDOWN));
            }
        }
        for call in queue {
            call.complete(Err(ESHUTDOWN));
        }
    }

    /// Sets how long clients wait, in milliseconds (1 to [`MAX_TIMEOUT_MS`]).
    pub(crate) fn set_timeout(&self, ms: u32) -> Result {
        if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
            return Err(EINVAL);
        }
        self.timeout_ms.store(ms, Relaxed);
        Ok(())
    }

    /// The server's state and counters.
    pub(crate) fn status(&self) -> Status {
        let hub = self.hub.lock();
        let live = || hub.slots.iter().flatten();
        Status {
            slots: live().count(),
            busy: live().filter(|s| s.busy.is_some()).count(),
            queued: hub.queue.len(),
            timeout_ms: self.timeout_ms.load(Relaxed),
            stats: hub.stats,
        }
    }

    /// Calls function `func` of guest service `service` with `data`; returns
    /// the response (at most `max_resp` bytes).
    ///
    /// `ENOTCONN`: the guest runs no server; `EBUSY`: too many requests
    /// queued; `ETIMEDOUT`; `EINTR` on a signal; `ESHUTDOWN` when the VM or
    /// the guest's server goes meanwhile; `EMSGSIZE` for a response longer
    /// than its buffer; else the service's own error.
    pub(crate) fn call(
        &self,
        service: &[u8],
        func: u32,
        data: &[u8],
        max_resp: usize,
    ) -> Result<KVVec<u8>> {
        let start = Instant::<Monotonic>::now();
        let result = self.call_inner(service, func, data, max_resp);
        let micros = start.elapsed().as_micros_ceil().max(1) as u64;
        let mut hub = self.hub.lock();
        hub.stats.calls += 1;
        match &result {
            Ok(_) => {
                let bucket = (64 - micros.leading_zeros() as usize).min(HIST_BUCKETS - 1);
                hub.stats.hist[bucket] += 1;
            }
            Err(e) if *e == ETIMEDOUT => hub.stats.timeouts += 1,
            Err(_) => hub.stats.errors += 1,
        }
        result
    }

    fn call_inner(
        &self,
        service: &[u8],
        func: u32,
        data: &[u8],
        max_resp: usize,
    ) -> Result<KVVec<u8>> {
        let name = abi::encode_server_name(service).ok_or(EINVAL)?;
        if HEAD + data.len() > abi::RV_MAX_BUF as usize {
            return Err(E2BIG);
        }
        let mut copy = KVVec::with_capacity(data.len(), GFP_KERNEL)?;
        copy.extend_from_slice(data, GFP_KERNEL)?;
        let mut head = RvRequest::new_zeroed();
        head.service = name;
        head.func = func;
        head.len = data.len() as u32;
        let mut hub = self.hub.lock();
        if hub.closed {
            return Err(ESHUTDOWN);
        }
        if hub.slots.iter().all(Option::is_none) {
            return Err(ENOTCONN);
        }
        // A request no slot can hold would wait for nothing.
        if !hub
            .slots
            .iter()
            .flatten()
            .any(|s| HEAD + data.len() <= s.init.req_len as usize)
        {
            return Err(E2BIG);
        }
        if hub.queue.len() >= MAX_QUEUED {
            return Err(EBUSY);
        }
        head.tag = hub.next_tag;
        hub.next_tag += 1;
        let call = Arc::pin_init(
            pin_init!(RvCall {
                head,
                data: copy,
                max_resp,
                state <- new_mutex!(State::Queued, "covmm_rv_call"),
                done <- new_condvar!("covmm_rv_call_done"),
            }),
            GFP_KERNEL,
        )?;
        hub.queue.push(call.clone(), GFP_KERNEL)?;
        self.pending.fetch_add(1, Release);
        if let Some(task) = hub.slots.iter().flatten().find_map(|s| s.waiter.as_ref()) {
            task.wake_up();
        }
        drop(hub);
        self.await_answer(&call)
    }

    fn await_answer(&self, call: &RvCall) -> Result<KVVec<u8>> {
        let mut left = msecs_to_jiffies(self.timeout_ms.load(Relaxed));
        let mut state = call.state.lock();
        let gave_up = loop {
            if let State::Done(_) = &*state {
                let State::Done(result) = core::mem::replace(&mut *state, State::Abandoned) else {
                    unreachable!()
                };
                return result;
            }
            match call.done.wait_interruptible_timeout(&mut state, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => break ETIMEDOUT,
                CondVarTimeoutResult::Signal { .. } => break EINTR,
            }
        };
        drop(state);
        // Take the request back, in lock order.
        let mut hub = self.hub.lock();
        let mut state = call.state.lock();
        match core::mem::replace(&mut *state, State::Abandoned) {
            State::Done(result) => return result,
            State::Queued => {
                if let Some(i) = hub.queue.iter().position(|c| core::ptr::eq(&**c, call)) {
                    let _ = hub.queue.remove(i);
                    self.pending.fetch_sub(1, Relaxed);
                }
            }
            State::Delivered | State::Abandoned => {}
        }
        Err(gave_up)
    }
}
