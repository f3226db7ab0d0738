// SPDX-License-Identifier: GPL-2.0

//! VMRPC servers in host user space: the call queue behind `/dev/covmm`.
//!
//! This is the project's form of the paper's `vmrpc_perform()` into the VMM
//! process, shaped like FUSE. A process that owns the VM registers a server
//! on an open file (`device.rs`). When a guest calls it, the vCPU thread
//! queues a [`UserCall`] and sleeps in the hypercall (VM long polling,
//! [`crate::kvm::Vcpu::wait`]). A server thread takes the call, reads and
//! writes the guest memory the call exposes, and replies, which wakes the
//! vCPU.
//!
//! A server may take any time, so the vCPU never sleeps for long: on a guest
//! event, a signal or the poll period it returns [`abi::CALL_AGAIN`] and the
//! call stays queued (parked on its VM, `vm.rs`) until the guest issues it
//! again or cancels it.
//!
//! # Who may touch guest memory, and when
//!
//! A call's guest memory is reachable only through [`UserCall::target`], a
//! mutex around the VM's memory that [`UserCall::finish`] empties. Every
//! access holds the mutex, so once `finish` has returned (the reply arrived,
//! the guest cancelled, the server closed, the VMM died) no server can touch
//! the memory again, and the guest may reuse it. The vCPU sleeps on an atomic
//! flag, never on the mutex. No lock is held where a call's last reference
//! on the VM or the VMM's address space may be put.

use kernel::{
    new_condvar, new_mutex, new_spinlock,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        aref::ARef,
        atomic::{
            ordering::{Acquire, Relaxed, Release},
            Atomic,
        },
        Arc, CondVar, Mutex, SpinLock,
    },
    task::Task,
};

use crate::abi::{self, CallDesc, Segment};
use crate::kvm::{RemoteGuest, Vcpu};
use crate::server::CallMemory;

/// Most calls one server may have queued, or taken and not replied to.
/// Bounds what a guest that keeps cancelling can make the host hold.
const MAX_CALLS: usize = 256;

/// Call ids, unique on the host, never reused.
static NEXT_CALL_ID: Atomic<u64> = Atomic::new(1);

/// One guest call to a user-space server.
#[pin_data]
pub(crate) struct UserCall {
    id: u64,
    func: u32,
    vcpu: u32,
    desc: CallDesc,
    segs: KVec<Segment>,
    /// The VM's memory while the call is open; `None` once it is over.
    #[pin]
    target: Mutex<Option<RemoteGuest>>,
    /// Set once [`Self::result`] holds the outcome.
    done: Atomic<bool>,
    result: Atomic<i64>,
    /// The vCPU thread sleeping on the call, if any.
    #[pin]
    waiter: SpinLock<Option<ARef<Task>>>,
}

impl UserCall {
    /// A call from `vcpu` with the descriptor and segments it passed, which
    /// the hypercall layer has checked.
    pub(crate) fn new(
        from: &Vcpu<'_>,
        func: u32,
        desc: CallDesc,
        segs: KVec<Segment>,
    ) -> Result<Arc<Self>> {
        let target = from.remote_memory();
        let vcpu = from.id() as u32;
        Arc::pin_init(
            pin_init!(UserCall {
                id: NEXT_CALL_ID.fetch_add(1, Relaxed),
                func,
                vcpu,
                desc,
                segs,
                target <- new_mutex!(Some(target), "covmm_user_call_target"),
                done: Atomic::new(false),
                result: Atomic::new(0),
                waiter <- new_spinlock!(None, "covmm_user_call_waiter"),
            }),
            GFP_KERNEL,
        )
    }

    /// What the server sees of the call.
    pub(crate) fn header(&self) -> abi::HostCall {
        abi::HostCall {
            call_id: self.id,
            func: self.func,
            vcpu: self.vcpu,
            arg: self.desc.arg,
            arg_len: self.desc.arg_len,
        }
    }

    /// Whether the call is over. Never sleeps.
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Acquire)
    }

    /// The outcome of a call that is over.
    pub(crate) fn result(&self) -> Result<i64> {
        abi::decode_result(self.result.load(Relaxed), Error::from_errno, EIO)
    }

    /// Makes `task` the one to wake when the call ends (`None`: nobody).
    pub(crate) fn set_waiter(&self, task: Option<ARef<Task>>) {
        let old = core::mem::replace(&mut *self.waiter.lock(), task);
        drop(old);
    }

    /// Ends the call with `result` (>= 0, or a negated errno); `ECANCELED`
    /// if it was over already. When this returns no server can reach the
    /// call's guest memory any more.
    pub(crate) fn finish(&self, result: i64) -> Result {
        let guest = self.target.lock().take().ok_or(ECANCELED)?;
        self.result.store(result, Relaxed);
        self.done.store(true, Release);
        let waiter = self.waiter.lock().clone();
        if let Some(task) = waiter {
            task.wake_up();
        }
        // Puts the VM reference outside the lock.
        drop(guest);
        Ok(())
    }

    /// Abandons the call: the guest cancelled it, or its VMM is dying.
    /// Returns `EINTR`, or the result if the call had finished first.
    pub(crate) fn cancel(&self) -> Result<i64> {
        match self.finish(i64::from(EINTR.to_errno())) {
            Ok(()) => Err(EINTR),
            Err(_) => self.result(),
        }
    }

    /// Runs `f` on the call's guest memory, unless the call is over
    /// (`ECANCELED`).
    fn with_memory<R>(
        &self,
        f: impl FnOnce(&CallMemory<'_, RemoteGuest>) -> Result<R>,
    ) -> Result<R> {
        let target = self.target.lock();
        let memory = target.as_ref().ok_or(ECANCELED)?;
        // Keeps the VMM's teardown (which finishes this call) out of the
        // access; see `RemoteGuest`.
        let _mm = memory.hold_mm()?;
        f(&CallMemory {
            memory,
            segs: &self.segs,
        })
    }

    /// Copies guest memory at `gva` into `dst`.
    pub(crate) fn copy_from_guest(&self, dst: &mut [u8], gva: u64) -> Result {
        self.with_memory(|m| m.copy_from_guest(dst, gva))
    }

    /// Copies `src` to guest address `gva`.
    pub(crate) fn copy_to_guest(&self, gva: u64, src: &[u8]) -> Result {
        self.with_memory(|m| m.copy_to_guest(gva, src))
    }

    /// The address of guest byte `gva` in the VMM process.
    pub(crate) fn get_hva(&self, gva: u64, write: bool) -> Result<usize> {
        self.with_memory(|m| m.get_hva(gva, write))
    }
}

struct Queue {
    /// Calls not yet taken, oldest first.
    waiting: KVec<Arc<UserCall>>,
    /// Calls taken by a server thread, by id, until it replies.
    taken: RBTree<u64, Arc<UserCall>>,
    /// Why the server stopped, once it has.
    closed: Option<Error>,
}

/// The queue of one user-space server.
#[pin_data]
pub(crate) struct UserServer {
    #[pin]
    queue: Mutex<Queue>,
    /// Signalled when a call arrives or the server closes.
    #[pin]
    arrived: CondVar,
}

impl UserServer {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(UserServer {
                queue <- new_mutex!(
                    Queue { waiting: KVec::new(), taken: RBTree::new(), closed: None },
                    "covmm_user_server"
                ),
                arrived <- new_condvar!("covmm_user_server_arrived"),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues a guest call. `ESHUTDOWN` once the server has closed, `EBUSY`
    /// when [`MAX_CALLS`] wait already.
    pub(crate) fn submit(&self, call: Arc<UserCall>) -> Result {
        let mut queue = self.queue.lock();
        if queue.closed.is_some() {
            return Err(ESHUTDOWN);
        }
        if queue.waiting.len() >= MAX_CALLS {
            queue.waiting.retain(|c| !c.is_done());
            if queue.waiting.len() >= MAX_CALLS {
                return Err(EBUSY);
            }
        }
        queue.waiting.push(call, GFP_KERNEL)?;
        drop(queue);
        self.arrived.notify_one();
        Ok(())
    }

    /// Takes the oldest call still open, sleeping for one unless
    /// `nonblock` (`EAGAIN`). A signal gives `ERESTARTSYS`; a closed server
    /// gives the reason it closed.
    pub(crate) fn take(&self, nonblock: bool) -> Result<Arc<UserCall>> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut queue = self.queue.lock();
        loop {
            if let Some(e) = queue.closed {
                return Err(e);
            }
            if queue.taken.iter().count() >= MAX_CALLS {
                // Calls the guest abandoned are dropped first.
                let over: KVec<u64> = collect_done(&queue.taken)?;
                for id in over {
                    queue.taken.remove(&id);
                }
                if queue.taken.iter().count() >= MAX_CALLS {
                    return Err(EBUSY);
                }
            }
            let next = queue.waiting.iter().position(|c| !c.is_done());
            if let Some(i) = next {
                let call = queue.waiting.remove(i)?;
                // Abandoned calls queued before it are dropped with it.
                queue.waiting.retain(|c| !c.is_done());
                queue.taken.insert(node.into_node(call.id, call.clone()));
                return Ok(call);
            }
            queue.waiting.clear();
            if nonblock {
                return Err(EAGAIN);
            }
            if self.arrived.wait_interruptible(&mut queue) {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Puts back a call that [`Self::take`] returned but could not hand
    /// out, as the next one to take.
    pub(crate) fn untake(&self, call: Arc<UserCall>) {
        let mut queue = self.queue.lock();
        if queue.taken.remove(&call.id).is_none() {
            // Replied to, or failed by `close`, meanwhile.
            return;
        }
        // `take` removed it from `waiting`, so there is room unless a call
        // arrived since.
        if queue
            .waiting
            .insert_within_capacity(0, call.clone())
            .is_ok()
        {
            return;
        }
        drop(queue);
        // Fail the call rather than lose it or allocate under the lock.
        let _ = call.finish(i64::from(EIO.to_errno()));
    }

    /// A call taken and not yet replied to; `ENOENT` for any other id.
    pub(crate) fn taken(&self, id: u64) -> Result<Arc<UserCall>> {
        self.queue.lock().taken.get(&id).cloned().ok_or(ENOENT)
    }

    /// Replies to call `id`: `EINVAL` for a result a guest cannot get,
    /// `ENOENT` for an unknown id, `ECANCELED` if the guest gave up on it.
    pub(crate) fn reply(&self, id: u64, result: i64) -> Result {
        if !abi::valid_result(result) {
            return Err(EINVAL);
        }
        let call = self.queue.lock().taken.remove(&id).ok_or(ENOENT)?;
        call.finish(result)
    }

    /// Stops the server: every open call fails with `ESHUTDOWN`, and its
    /// threads get `reason` from [`Self::take`] from now on.
    pub(crate) fn close(&self, reason: Error) {
        let (waiting, taken) = {
            let mut queue = self.queue.lock();
            queue.closed = Some(reason);
            (
                core::mem::take(&mut queue.waiting),
                core::mem::take(&mut queue.taken),
            )
        };
        self.arrived.notify_all();
        let shutdown = i64::from(ESHUTDOWN.to_errno());
        for call in Iterator::chain(waiting.iter(), taken.values()) {
            let _ = call.finish(shutdown);
        }
    }
}

fn collect_done(taken: &RBTree<u64, Arc<UserCall>>) -> Result<KVec<u64>> {
    let mut over = KVec::new();
    for (id, call) in taken.iter() {
        if call.is_done() {
            over.push(*id, GFP_KERNEL)?;
        }
    }
    Ok(over)
}
