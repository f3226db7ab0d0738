// SPDX-License-Identifier: GPL-2.0

//! Reverse VMRPC in the guest: server threads that wait inside the
//! hypercall for requests from the host (VM long polling), and the services
//! they dispatch to.
//!
//! Each thread offers the host one slot (`RvInit`): a request buffer and a
//! response buffer in its own kernel memory. It then loops on `RvWait`,
//! which answers the previous request and returns with the next one, or with
//! `CALL_AGAIN` when the host gave the vCPU back meanwhile. Several threads
//! serve one VM, so several host requests are outstanding at once.
//!
//! A thread survives the host: if host-vmrpc is not loaded it retries once a
//! second, and if it was reloaded (the slot is unknown) it offers a new slot.
//! A random boot id, new at every load of this module, tells the host that
//! slots of an earlier instance are dead.
//!
//! Services are looked up by name: the built-in ones (echo, meminfo,
//! cpuinfo, loadavg, drop_caches, services) and those other guest modules
//! register through `covmm_rvmrpc_register_service()`. Unregistering waits
//! until calls in flight have returned.

use kernel::{
    new_condvar, new_mutex, new_srcu,
    prelude::*,
    sync::{
        atomic::{
            ordering::{Acquire, Release},
            Atomic,
        },
        Arc, CondVar, Mutex, Srcu,
    },
};
use zerocopy::{FromBytes, IntoBytes};

use kernel::time::{delay::fsleep, msecs_to_jiffies, Delta};

use crate::abi::{self, entry, service, Opcode, RvInit, RvRequest};
use crate::hypercall::{
    cond_resched, cpu_uncontended, guest_phys, msleep, random_u64, read_file, should_stop,
    write_file, ForeignService, Hypervisor, KThread,
};

/// Request buffer of a slot.
const REQ_LEN: usize = 16 * 1024;
/// Response buffer of a slot.
const RESP_LEN: usize = abi::RV_MAX_BUF as usize;
/// Sleeps between looks for a request while the CPU has other work.
const MIN_BACKOFF_US: i64 = 100;
const MAX_BACKOFF_US: i64 = 4000;
/// Longest wait for a sibling's answer before looking again.
const ANSWER_WAIT_MS: u32 = 4;
/// Largest /proc text a service reads.
const PROC_TEXT: usize = 64 * 1024;
/// The first buffer for a /proc text: meminfo (about 1.5 KiB) and loadavg
/// fit, and cpuinfo of a few CPUs.
const PROC_TEXT_FIRST: usize = 4 * 1024;

/// A built-in service: `(func, request data, response buffer) -> length`.
type BuiltinFn = fn(u32, &[u8], &mut [u8]) -> Result<usize>;

enum Handler {
    Builtin(BuiltinFn),
    Foreign(ForeignService),
}

/// A named guest service.
#[pin_data]
pub(crate) struct Service {
    name: [u8; abi::SERVER_NAME_LEN],
    handler: Handler,
    /// Cleared at unregistration; no call starts afterwards.
    live: Atomic<bool>,
    /// Held by every call; unregistration waits for it.
    #[pin]
    calls: Srcu,
}

impl Service {
    fn new(name: &[u8], handler: Handler) -> Result<Arc<Self>> {
        let name = abi::encode_server_name(name).ok_or(EINVAL)?;
        Arc::pin_init(
            try_pin_init!(Service {
                name,
                handler,
                live: Atomic::new(true),
                calls <- new_srcu!("covmm_guest_service_calls"),
            }),
            GFP_KERNEL,
        )
    }

    /// A service another module registers from C.
    pub(crate) fn foreign(name: &[u8], handler: ForeignService) -> Result<Arc<Self>> {
        Self::new(name, Handler::Foreign(handler))
    }

    /// Runs one call; returns the response length, which a foreign service
    /// may state wrongly (the host checks it against the buffer).
    fn call(&self, func: u32, input: &[u8], out: &mut [u8]) -> Result<i64> {
        let _call = self.calls.read_lock();
        if !self.live.load(Acquire) {
            return Err(ENOENT);
        }
        match &self.handler {
            Handler::Builtin(f) => f(func, input, out).map(|n| n as i64),
            Handler::Foreign(f) => f.call(func, input, out),
        }
    }
}

/// The guest's Reverse VMRPC server: its services and its threads.
#[pin_data]
pub(crate) struct RvServer {
    hv: Hypervisor,
    boot_id: u64,
    #[pin]
    services: Mutex<KVec<Arc<Service>>>,
    /// Whether a server thread is waiting in the host (see
    /// `serve_requests`).
    #[pin]
    waiting: Mutex<bool>,
    #[pin]
    turn_over: CondVar,
    /// How many threads are dispatching a request they took.
    #[pin]
    serving: Mutex<u32>,
    /// Signalled each time a thread has answered its request.
    #[pin]
    answered: CondVar,
}

impl RvServer {
    /// A server with the built-in services.
    pub(crate) fn new(hv: Hypervisor) -> Result<Arc<Self>> {
        let server = Arc::pin_init(
            pin_init!(RvServer {
                hv,
                boot_id: random_u64() | 1,
                services <- new_mutex!(KVec::new(), "covmm_guest_services"),
                waiting <- new_mutex!(false, "covmm_guest_waiting"),
                turn_over <- new_condvar!("covmm_guest_turn_over"),
                serving <- new_mutex!(0, "covmm_guest_serving"),
                answered <- new_condvar!("covmm_guest_answered"),
            }),
            GFP_KERNEL,
        )?;
        let builtins: [(&[u8], BuiltinFn); 5] = [
            (service::ECHO, echo),
            (service::MEMINFO, meminfo),
            (service::CPUINFO, cpuinfo),
            (service::LOADAVG, loadavg),
            (service::DROP_CACHES, drop_caches),
        ];
        for (name, f) in builtins {
            server.register(Service::new(name, Handler::Builtin(f))?)?;
        }
        Ok(server)
    }

    /// Adds a service; `EEXIST` if one has the name.
    pub(crate) fn register(&self, service: Arc<Service>) -> Result {
        let mut services = self.services.lock();
        if services.iter().any(|s| s.name == service.name) || is_listing(&service.name) {
            return Err(EEXIST);
        }
        services.push(service, GFP_KERNEL)?;
        Ok(())
    }

    /// Removes a service; calls in flight have returned when this does.
    pub(crate) fn unregister(&self, service: &Arc<Service>) {
        self.services.lock().retain(|s| !Arc::ptr_eq(s, service));
        service.live.store(false, Release);
        service.calls.synchronize();
    }

    fn find(&self, name: &[u8; abi::SERVER_NAME_LEN]) -> Option<Arc<Service>> {
        self.services
            .lock()
            .iter()
            .find(|s| s.name == *name)
            .cloned()
    }

    /// The `services` service: one record per service, its name the key.
    fn list(&self, out: &mut [u8]) -> Result<usize> {
        let services = self.services.lock();
        let mut at =
            entry::put(out, 0, 0, entry::UNIT_TEXT, 0, service::SERVICES, b"").ok_or(EMSGSIZE)?;
        for s in services.iter() {
            let name = abi::server_name(&s.name).map_err(|_| EINVAL)?;
            at = entry::put(out, at, 0, entry::UNIT_TEXT, 0, name, b"").ok_or(EMSGSIZE)?;
        }
        Ok(at)
    }

    /// Serves the request in `req` into `resp`; returns its tag and result.
    fn dispatch(&self, req: &[u8], resp: &mut [u8]) -> (u64, i64) {
        let Ok((head, rest)) = RvRequest::read_from_prefix(req) else {
            return (0, 0);
        };
        let result = match rest.get(..head.len as usize) {
            None => Err(EINVAL),
            Some(_) if is_listing(&head.service) => self.list(resp).map(|n| n as i64),
            Some(data) => match self.find(&head.service) {
                Some(s) => s.call(head.func, data, resp),
                None => Err(ENOENT),
            },
        };
        (head.tag, result.unwrap_or_else(|e| i64::from(e.to_errno())))
    }

    /// Starts `count` server threads; they run until the returned handles
    /// are dropped.
    pub(crate) fn start(self: &Arc<Self>, count: usize) -> Result<KVec<KThread>> {
        let mut threads = KVec::with_capacity(count, GFP_KERNEL)?;
        for index in 0..count {
            let server = self.clone();
            threads.push(
                KThread::run(c"covmm-rvmrpc", index, move || server.serve_slot(index))?,
                GFP_KERNEL,
            )?;
        }
        Ok(threads)
    }

    /// The body of one server thread.
    fn serve_slot(&self, index: usize) {
        let (Ok(req), Ok(resp)) = (
            KVec::from_elem(0u8, REQ_LEN, GFP_KERNEL),
            KVec::from_elem(0u8, RESP_LEN, GFP_KERNEL),
        ) else {
            pr_err!("Reverse VMRPC thread {index}: out of memory\n");
            return;
        };
        let (mut req, mut resp) = (req, resp);
        while !should_stop() {
            match self.offer_slot(&req, &resp) {
                Ok(slot) => self.serve_requests(slot, &mut req, &mut resp),
                // No host-vmrpc (yet), or it refused: try again later.
                Err(_) => msleep(1000),
            }
        }
    }

    /// `RvInit`: hands the host the two buffers; returns the slot.
    fn offer_slot(&self, req: &[u8], resp: &[u8]) -> Result<u64> {
        let init = KBox::new(
            RvInit {
                version: abi::RV_VERSION,
                flags: 0,
                boot_id: self.boot_id,
                // kmalloc memory: physically contiguous.
                req_gpa: guest_phys(&req[0]),
                resp_gpa: guest_phys(&resp[0]),
                req_len: req.len() as u32,
                resp_len: resp.len() as u32,
            },
            GFP_KERNEL,
        )?;
        let slot = self
            .hv
            .call(Opcode::RvInit, [guest_phys(&init.as_bytes()[0]), 0, 0, 0]);
        u64::try_from(slot).map_err(|_| EAGAIN)
    }

    /// Loops on `RvWait` until the thread must stop or the host forgets the
    /// slot (it was reloaded, or is being unloaded).
    ///
    /// A thread waiting in the host holds its vCPU until an event arrives.
    /// So only one thread at a time waits there (the others sleep in the
    /// guest until it takes a request), and it waits only while nothing else
    /// wants its CPU, as KVM's halt polling stops when other tasks want to
    /// run: otherwise it only looks for a request (`RV_NO_WAIT`). Between
    /// looks it sleeps until a sibling that is dispatching has answered
    /// (that sibling is usually what keeps the CPU busy, and a client
    /// usually sends its next request right after an answer), or, when no
    /// sibling is dispatching, 100 us to 4 ms. Answers go back at once,
    /// without waiting.
    fn serve_requests(&self, slot: u64, req: &mut [u8], resp: &mut [u8]) {
        let mut answer: Option<(Serving<'_>, u64, i64)> = None;
        // The sleep between looks while a busy guest keeps the CPU: short at
        // first, longer while the guest stays busy.
        let mut backoff_us = MIN_BACKOFF_US;
        loop {
            let (r, serving) = if let Some((serving, tag, result)) = answer.take() {
                let r = self
                    .hv
                    .call(Opcode::RvWait, [slot, tag, result as u64, abi::RV_NO_WAIT]);
                drop(serving);
                // Counted as serving again before a sibling could look.
                (r, (r == abi::RV_REQUEST).then(|| self.serving()))
            } else {
                let Some(_turn) = self.waiting_turn() else {
                    self.hv.call(Opcode::RvFini, [slot, 0, 0, 0]);
                    return;
                };
                let contended = !cpu_uncontended();
                let flags = if contended { abi::RV_NO_WAIT } else { 0 };
                let r = self.hv.call(Opcode::RvWait, [slot, 0, 0, flags]);
                if r == abi::CALL_AGAIN && contended {
                    self.back_off(&mut backoff_us);
                } else {
                    backoff_us = MIN_BACKOFF_US;
                }
                // Counted as serving before the turn passes to a sibling.
                (r, (r == abi::RV_REQUEST).then(|| self.serving()))
            };
            match (r, serving) {
                (abi::RV_REQUEST, Some(serving)) => {
                    let (tag, result) = self.dispatch(req, resp);
                    // Tag 0 is a request the host never sent: nothing to answer.
                    answer = (tag != 0).then_some((serving, tag, result));
                }
                (abi::CALL_AGAIN, _) => cond_resched(),
                _ => {
                    msleep(100);
                    return;
                }
            }
        }
    }

    /// Marks this thread as dispatching until the guard drops.
    fn serving(&self) -> Serving<'_> {
        *self.serving.lock() += 1;
        Serving { server: self }
    }

    /// Sleeps between two looks for a request on a contended CPU: until a
    /// dispatching sibling answers, or else for `backoff_us`, which doubles.
    fn back_off(&self, backoff_us: &mut i64) {
        let mut serving = self.serving.lock();
        if *serving > 0 {
            let _ = self
                .answered
                .wait_interruptible_timeout(&mut serving, msecs_to_jiffies(ANSWER_WAIT_MS));
            *backoff_us = MIN_BACKOFF_US;
            return;
        }
        drop(serving);
        fsleep(Delta::from_micros(*backoff_us));
        *backoff_us = (*backoff_us * 2).min(MAX_BACKOFF_US);
    }

    /// Waits (interruptibly, in the guest) for this thread's turn to wait in
    /// the host; `None` when the thread must stop.
    fn waiting_turn(&self) -> Option<WaitingTurn<'_>> {
        let mut waiting = self.waiting.lock();
        while *waiting {
            if should_stop() {
                return None;
            }
            // Woken by the turn's end; a timeout keeps `should_stop` seen.
            let _ = self.turn_over.wait_interruptible_timeout(&mut waiting, 100);
        }
        if should_stop() {
            return None;
        }
        *waiting = true;
        Some(WaitingTurn { server: self })
    }
}

/// The one server thread's turn to wait in the host; ends on drop.
struct WaitingTurn<'a> {
    server: &'a RvServer,
}

impl Drop for WaitingTurn<'_> {
    fn drop(&mut self) {
        *self.server.waiting.lock() = false;
        self.server.turn_over.notify_one();
    }
}

/// A thread dispatching a request; ends, and wakes the thread waiting for
/// an answer, on drop.
struct Serving<'a> {
    server: &'a RvServer,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        *self.server.serving.lock() -= 1;
        self.server.answered.notify_all();
    }
}

/// Whether `name` is the reserved `services` listing.
fn is_listing(name: &[u8; abi::SERVER_NAME_LEN]) -> bool {
    abi::encode_server_name(service::SERVICES).is_some_and(|n| n == *name)
}

/// Reads the /proc file at `path`, up to [`PROC_TEXT`] bytes of it.
///
/// The buffer starts small and doubles while a read fills it, each time
/// reading the file afresh: a zeroed 64 KiB buffer for every meminfo query
/// was an order-4 allocation and 64 KiB of stores for 1.5 KiB of text, paid
/// inside each Reverse VMRPC call.
fn proc_text(path: &CStr) -> Result<KVec<u8>> {
    let mut size = PROC_TEXT_FIRST;
    loop {
        let mut text = KVec::from_elem(0u8, size, GFP_KERNEL)?;
        let n = read_file(path, &mut text)?;
        if n < size || size >= PROC_TEXT {
            text.truncate(n);
            return Ok(text);
        }
        size = (size * 2).min(PROC_TEXT);
    }
}

fn only_func_0(func: u32) -> Result {
    if func == 0 {
        Ok(())
    } else {
        Err(EOPNOTSUPP)
    }
}

fn echo(func: u32, input: &[u8], out: &mut [u8]) -> Result<usize> {
    only_func_0(func)?;
    out.get_mut(..input.len())
        .ok_or(EMSGSIZE)?
        .copy_from_slice(input);
    Ok(input.len())
}

fn meminfo(func: u32, _input: &[u8], out: &mut [u8]) -> Result<usize> {
    only_func_0(func)?;
    entry::from_meminfo(&proc_text(c"/proc/meminfo")?, out).ok_or(EMSGSIZE)
}

fn cpuinfo(func: u32, _input: &[u8], out: &mut [u8]) -> Result<usize> {
    only_func_0(func)?;
    entry::from_cpuinfo(&proc_text(c"/proc/cpuinfo")?, out).ok_or(EMSGSIZE)
}

fn loadavg(func: u32, _input: &[u8], out: &mut [u8]) -> Result<usize> {
    only_func_0(func)?;
    entry::from_loadavg(&proc_text(c"/proc/loadavg")?, out).ok_or(EIO)
}

fn drop_caches(func: u32, input: &[u8], _out: &mut [u8]) -> Result<usize> {
    only_func_0(func)?;
    let mode = match input {
        [a, b, c, d] => u32::from_ne_bytes([*a, *b, *c, *d]),
        _ => return Err(EINVAL),
    };
    let text: &[u8] = match mode {
        1 => b"1",
        2 => b"2",
        3 => b"3",
        _ => return Err(EINVAL),
    };
    write_file(c"/proc/sys/vm/drop_caches", text)?;
    Ok(0)
}
