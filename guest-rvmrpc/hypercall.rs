// SPDX-License-Identifier: GPL-2.0

//! Hypercall layer of guest-rvmrpc: the only file of the module with `unsafe`,
//! including the exported C API of `include/covmm/guest.h`.
//!
//! C header: [`arch/x86/include/asm/kvm_para.h`](srctree/arch/x86/include/asm/kvm_para.h);
//! the C side is `hypercall_glue.c`. The instruction is the one the kernel's
//! alternatives picked for this CPU: `vmmcall` on AMD and Hygon, `vmcall`
//! elsewhere.

use core::ptr;

use kernel::prelude::*;

use kernel::sync::{
    atomic::{
        ordering::{Acquire, Release},
        Atomic,
    },
    Arc,
};

use crate::abi::{self, Opcode};
use crate::guest_api::{CovmmBuf, ServiceFn as CServiceFn};
use crate::rvserver::{RvServer, Service};
use crate::vmrpc::{self, Buf, Handle};

mod raw {
    use kernel::prelude::*;

    extern "C" {
        pub(super) fn covmm_guest_hypercall4(
            nr: c_uint,
            a0: c_ulong,
            a1: c_ulong,
            a2: c_ulong,
            a3: c_ulong,
        ) -> c_long;
        pub(super) fn covmm_guest_on_kvm() -> bool;
        pub(super) fn covmm_guest_uses_vmmcall() -> bool;
        pub(super) fn covmm_guest_kaddr_to_phys(addr: *const c_void) -> u64;
        pub(super) fn covmm_guest_capable_rawio() -> bool;
        pub(super) fn covmm_guest_cond_resched();
        pub(super) fn covmm_guest_kthread_run(
            f: unsafe extern "C" fn(*mut c_void) -> c_int,
            data: *mut c_void,
            name: *const c_char,
            index: c_int,
        ) -> *mut c_void;
        pub(super) fn covmm_guest_kthread_should_stop() -> bool;
        pub(super) fn covmm_guest_cpu_uncontended() -> bool;
        pub(super) fn covmm_guest_msleep(ms: c_uint);
        pub(super) fn covmm_guest_random_u64() -> u64;
        pub(super) fn covmm_guest_read_file(
            path: *const c_char,
            buf: *mut c_void,
            len: usize,
        ) -> isize;
        pub(super) fn covmm_guest_write_file(
            path: *const c_char,
            buf: *const c_void,
            len: usize,
        ) -> isize;
        // Exported by the kernel (kthread.h is not in the bindings). The
        // task travels as `void *`: the bindings' struct is not FFI-safe.
        pub(super) fn kthread_stop(task: *mut c_void) -> c_int;
    }
}

// kvm_hypercall4() takes a 32-bit number; the whole CoVMM range must fit.
const _: () = assert!(abi::HC_BASE + abi::HC_COUNT <= u32::MAX as u64);
// Registers are passed as `unsigned long`, which must hold a u64.
const _: () = assert!(size_of::<c_ulong>() == size_of::<u64>());

/// Proof that this kernel runs under KVM, so the hypercall instruction exits
/// to the hypervisor instead of raising #UD.
///
/// # Invariants
///
/// Only [`Hypervisor::detect`] creates it, after `kvm_para_available()`.
#[derive(Clone, Copy)]
pub(crate) struct Hypervisor(());

impl Hypervisor {
    /// Checks the CPUID hypervisor signature for KVM.
    pub(crate) fn detect() -> Result<Self> {
        // SAFETY: reads CPUID only.
        if unsafe { raw::covmm_guest_on_kvm() } {
            // INVARIANT: KVM was just detected.
            Ok(Self(()))
        } else {
            Err(ENODEV)
        }
    }

    /// Issues the CoVMM hypercall `op`; returns RAX as the host (or KVM) set it.
    pub(crate) fn call(self, op: Opcode, args: [u64; 4]) -> i64 {
        // The const assertion above keeps the number within 32 bits, and on
        // x86-64 `unsigned long` and `long` are 64 bits wide.
        let nr = op.hypercall_nr() as c_uint;
        let [a0, a1, a2, a3] = args.map(|a| a as c_ulong);
        // SAFETY: under KVM (type invariant) the instruction exits to the host,
        // which only reads the argument registers and writes RAX.
        let rax = unsafe { raw::covmm_guest_hypercall4(nr, a0, a1, a2, a3) };
        rax as i64
    }

    /// Issues CoVMM hypercall number `op` (an offset into the range, known
    /// or not); returns RAX.
    pub(crate) fn call_raw(self, op: u32, args: [u64; 4]) -> i64 {
        let nr = abi::HC_BASE + u64::from(op).min(abi::HC_COUNT - 1);
        let [a0, a1, a2, a3] = args.map(|a| a as c_ulong);
        // SAFETY: as in `call`; the number is clamped into the CoVMM range.
        let rax = unsafe { raw::covmm_guest_hypercall4(nr as c_uint, a0, a1, a2, a3) };
        rax as i64
    }

    /// Which instruction this CPU uses ([`abi::INSN_VMCALL`] or
    /// [`abi::INSN_VMMCALL`]).
    pub(crate) fn instruction(self) -> u32 {
        // SAFETY: reads a boot CPU feature bit only.
        if unsafe { raw::covmm_guest_uses_vmmcall() } {
            abi::INSN_VMMCALL
        } else {
            abi::INSN_VMCALL
        }
    }
}

/// The guest-physical address of `byte`.
///
/// Any reference the kernel hands out points into the linear map, the kernel
/// image, vmalloc space (vmap'd stacks included) or module memory, and each of
/// those has a page behind every byte.
pub(crate) fn guest_phys(byte: &u8) -> u64 {
    // SAFETY: the address is that of a live byte (see above), so the page
    // lookup finds a mapped page.
    unsafe { raw::covmm_guest_kaddr_to_phys(ptr::from_ref(byte).cast()) }
}

/// Whether the calling task has `CAP_SYS_RAWIO` (in the initial namespace).
pub(crate) fn caller_may_rawio() -> bool {
    // SAFETY: `capable()` only inspects the current task's credentials.
    unsafe { raw::covmm_guest_capable_rawio() }
}

/// Lets other tasks run if this one has used its share, as a kernel loop
/// that may spin for long must.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without locks held (our callers
    // are hypercall loops in sleepable context).
    unsafe { raw::covmm_guest_cond_resched() }
}

/// Whether the current task is the only one this CPU could run now (a
/// hint: it may change at once).
pub(crate) fn cpu_uncontended() -> bool {
    // SAFETY: reads the local run queue's length; any context.
    unsafe { raw::covmm_guest_cpu_uncontended() }
}

/// Sleeps `ms` milliseconds, or less if a signal arrives.
pub(crate) fn msleep(ms: u32) {
    // SAFETY: process context (server threads).
    unsafe { raw::covmm_guest_msleep(ms) }
}

/// A random number from the kernel's generator.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { raw::covmm_guest_random_u64() }
}

/// Whether the current kernel thread has been asked to stop.
pub(crate) fn should_stop() -> bool {
    // SAFETY: called only from threads started by `KThread::run`.
    unsafe { raw::covmm_guest_kthread_should_stop() }
}

fn file_result(n: isize) -> Result<usize> {
    if n < 0 {
        Err(Error::from_errno(n as c_int))
    } else {
        Ok(n as usize)
    }
}

/// Reads the file at `path` (a /proc file) into `buf`; returns the bytes
/// read.
pub(crate) fn read_file(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `path` is NUL-terminated and `buf` writable for its length.
    file_result(unsafe {
        raw::covmm_guest_read_file(path.as_char_ptr(), buf.as_mut_ptr().cast(), buf.len())
    })
}

/// Writes `bytes` to the file at `path` (a /proc/sys file).
pub(crate) fn write_file(path: &CStr, bytes: &[u8]) -> Result<usize> {
    // SAFETY: `path` is NUL-terminated and `bytes` readable for its length.
    file_result(unsafe {
        raw::covmm_guest_write_file(path.as_char_ptr(), bytes.as_ptr().cast(), bytes.len())
    })
}

/// A kernel thread running a closure, stopped (and waited for) on drop.
///
/// # Invariants
///
/// `task` is a thread started by `covmm_guest_kthread_run()` that does not
/// exit before `kthread_stop()` is called on it (see [`thread_main`]).
pub(crate) struct KThread {
    task: core::ptr::NonNull<c_void>,
}

// SAFETY: the handle only allows stopping the thread, from any thread.
unsafe impl Send for KThread {}
// SAFETY: as above; it has no `&self` methods.
unsafe impl Sync for KThread {}

/// # Safety
///
/// `data` is a `KBox<F>` leaked by [`KThread::run`], passed once.
unsafe extern "C" fn thread_main<F: FnOnce() + Send + 'static>(data: *mut c_void) -> c_int {
    // SAFETY: per the function's contract.
    let body = unsafe { KBox::from_raw(data.cast::<F>()) };
    KBox::into_inner(body)();
    // The handle calls kthread_stop(), which needs the task alive: wait for it.
    while !should_stop() {
        msleep(100);
    }
    0
}

impl KThread {
    /// Starts `body` in a kernel thread called `name/index`.
    pub(crate) fn run<F: FnOnce() + Send + 'static>(
        name: &'static CStr,
        index: usize,
        body: F,
    ) -> Result<Self> {
        let data = KBox::into_raw(KBox::new(body, GFP_KERNEL)?);
        // SAFETY: `thread_main::<F>` takes ownership of `data` if the thread
        // starts; `name` is NUL-terminated and static.
        let task = unsafe {
            raw::covmm_guest_kthread_run(
                thread_main::<F>,
                data.cast(),
                name.as_char_ptr(),
                index as c_int,
            )
        };
        match kernel::error::from_err_ptr(task) {
            // INVARIANT: started by `covmm_guest_kthread_run()`, and
            // `thread_main` waits for `kthread_stop()`.
            Ok(task) => Ok(Self {
                task: core::ptr::NonNull::new(task).ok_or(EINVAL)?,
            }),
            Err(e) => {
                // SAFETY: the thread never started, so `data` is still ours.
                drop(unsafe { KBox::from_raw(data) });
                Err(e)
            }
        }
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        // SAFETY: the thread waits for this call (type invariant).
        unsafe { raw::kthread_stop(self.task.as_ptr()) };
    }
}

// The exported C API (include/covmm/guest.h).

fn to_c(r: Result<i64>) -> c_long {
    match r {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `covmm_vmrpc_bind()`.
///
/// # Safety
///
/// `name` must be a NUL-terminated string and `handle` writable.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_bind(
    name: *const c_char,
    version: u32,
    handle: *mut u64,
) -> c_int {
    if name.is_null() || handle.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: per the contract, `name` is NUL-terminated.
    let name = unsafe { CStr::from_char_ptr(name) };
    let bound = Hypervisor::detect().and_then(|hv| vmrpc::bind(hv, name.to_bytes(), version));
    match bound {
        Ok(h) => {
            // SAFETY: per the contract, `handle` is writable.
            unsafe { handle.write(h.0) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `covmm_vmrpc_unbind()`.
#[no_mangle]
extern "C" fn covmm_vmrpc_unbind(handle: u64) -> c_int {
    match Hypervisor::detect().and_then(|hv| vmrpc::unbind(hv, Handle(handle))) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `covmm_vmrpc_perform()`.
///
/// # Safety
///
/// `bufs` must point to `nbufs` descriptors, each naming kernel memory valid
/// (and, if writable, not otherwise referenced) for the call.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_perform(
    handle: u64,
    func: u32,
    bufs: *const CovmmBuf,
    nbufs: c_uint,
) -> c_long {
    let perform = || -> Result<i64> {
        let hv = Hypervisor::detect()?;
        let descs: &[CovmmBuf] = match nbufs {
            0 => &[],
            // SAFETY: per the contract, `bufs` holds `nbufs` descriptors.
            n => unsafe { core::slice::from_raw_parts(bufs, n as usize) },
        };
        let mut list = KVec::with_capacity(descs.len(), GFP_KERNEL)?;
        for d in descs {
            let buf = match (d.len, d.writable) {
                (0, _) => Buf::In(&[]),
                (n, true) => {
                    // SAFETY: per the contract, the memory is valid for the
                    // call and referenced by nothing else meanwhile.
                    let bytes = unsafe { core::slice::from_raw_parts_mut(d.addr.cast(), n) };
                    Buf::InOut(bytes)
                }
                (n, false) => {
                    // SAFETY: per the contract, the memory is valid for the call.
                    let bytes = unsafe { core::slice::from_raw_parts(d.addr.cast(), n) };
                    Buf::In(bytes)
                }
            };
            list.push(buf, GFP_KERNEL)?;
        }
        vmrpc::perform_kernel(hv, Handle(handle), func, &mut list)
    };
    to_c(perform())
}

/// `covmm_vmrpc_hypercall()`: a raw CoVMM hypercall, for tests.
#[no_mangle]
extern "C" fn covmm_vmrpc_hypercall(op: u32, a0: u64, a1: u64, a2: u64, a3: u64) -> c_long {
    match Hypervisor::detect() {
        Ok(hv) => hv.call_raw(op, [a0, a1, a2, a3]) as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `covmm_vmrpc_perform_kernel()`.
///
/// # Safety
///
/// `arg` must be kernel memory valid for `len` bytes and not otherwise
/// referenced during the call.
#[no_mangle]
unsafe extern "C" fn covmm_vmrpc_perform_kernel(
    handle: u64,
    func: u32,
    arg: *mut c_void,
    len: usize,
) -> c_long {
    let buf = CovmmBuf {
        addr: arg,
        len,
        writable: true,
    };
    // SAFETY: one descriptor, valid per the contract.
    unsafe { covmm_vmrpc_perform(handle, func, &buf, 1) }
}

/// A service registered from C.
///
/// # Invariants
///
/// `func` and `private` stay valid until `covmm_rvmrpc_unregister_service()`
/// has returned (the registering module's promise in guest.h).
pub(crate) struct ForeignService {
    func: CServiceFn,
    private: *mut c_void,
}

// SAFETY: guest.h requires services to be callable from any server thread.
unsafe impl Send for ForeignService {}
// SAFETY: as above.
unsafe impl Sync for ForeignService {}

impl ForeignService {
    /// Calls the C service; its result is passed on as it is.
    pub(crate) fn call(&self, func: u32, input: &[u8], out: &mut [u8]) -> Result<i64> {
        // SAFETY: valid by the type invariant (the service is live, which
        // the caller checked under its SRCU); the buffers are valid for
        // their lengths during the call.
        let r = unsafe {
            (self.func)(
                self.private,
                func,
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
            )
        } as i64;
        abi::decode_result(r, Error::from_errno, EIO)
    }
}

/// The running Reverse VMRPC server, for the exported C API.
///
/// # Invariants
///
/// When non-null it points to the `RvServer` the module holds, and is
/// cleared before the module drops it. Modules that call the C API depend on
/// this one, so they are gone before it unloads.
static RV_SERVER: Atomic<*const RvServer> = Atomic::new(core::ptr::null());

/// Publishes `server` to the C API until [`unpublish`].
pub(crate) fn publish(server: &Arc<RvServer>) {
    // INVARIANT: the module keeps `server` alive until `unpublish`.
    RV_SERVER.store(Arc::as_ptr(server), Release);
}

/// Withdraws the server from the C API.
pub(crate) fn unpublish() {
    RV_SERVER.store(core::ptr::null(), Release);
}

fn rv_server() -> Result<&'static RvServer> {
    let ptr = RV_SERVER.load(Acquire);
    // SAFETY: by `RV_SERVER`'s invariant, non-null means alive for as long
    // as any caller of the C API can run.
    (!ptr.is_null()).then(|| unsafe { &*ptr }).ok_or(ENODEV)
}

/// `covmm_rvmrpc_register_service()`.
///
/// # Safety
///
/// `name` must be NUL-terminated; `serve` and `private` must stay valid
/// until `covmm_rvmrpc_unregister_service()` returns.
#[no_mangle]
unsafe extern "C" fn covmm_rvmrpc_register_service(
    name: *const c_char,
    serve: Option<CServiceFn>,
    private: *mut c_void,
) -> *mut c_void {
    let register = || -> Result<*mut c_void> {
        let server = rv_server()?;
        let func = serve.ok_or(EINVAL)?;
        if name.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: per the contract, `name` is NUL-terminated.
        let name = unsafe { CStr::from_char_ptr(name) };
        // INVARIANT: the caller keeps `func` and `private` valid (above).
        let service = Service::foreign(name.to_bytes(), ForeignService { func, private })?;
        server.register(service.clone())?;
        Ok(Arc::into_raw(service).cast_mut().cast())
    };
    register().unwrap_or_else(|e| e.to_ptr())
}

/// `covmm_rvmrpc_unregister_service()`.
///
/// # Safety
///
/// `service` must be NULL, an ERR_PTR, or a pointer from
/// `covmm_rvmrpc_register_service()` not yet unregistered.
#[no_mangle]
unsafe extern "C" fn covmm_rvmrpc_unregister_service(service: *mut c_void) {
    if service.is_null() || (service as usize) >= (-4095isize) as usize {
        return;
    }
    // SAFETY: per the contract, from `Arc::into_raw` and released once.
    let service = unsafe { Arc::<Service>::from_raw(service.cast::<Service>().cast_const()) };
    if let Ok(server) = rv_server() {
        server.unregister(&service);
    }
}
