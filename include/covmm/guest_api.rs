// SPDX-License-Identifier: GPL-2.0

//! `include/covmm/guest.h` as Rust declarations, for Rust guest modules built
//! outside guest-rvmrpc (the samples, the testbed's modules). Include it with
//! `#[path = ".../include/covmm/guest_api.rs"] mod api;`. guest-rvmrpc itself
//! takes its types from here, so both sides agree on them.

use kernel::ffi::{c_char, c_int, c_long, c_uint, c_void};

/// `struct covmm_buf`.
#[repr(C)]
pub(crate) struct CovmmBuf {
    pub(crate) addr: *mut c_void,
    pub(crate) len: usize,
    pub(crate) writable: bool,
}

extern "C" {
    pub(crate) fn covmm_vmrpc_bind(name: *const c_char, version: u32, handle: *mut u64) -> c_int;
    pub(crate) fn covmm_vmrpc_unbind(handle: u64) -> c_int;
    pub(crate) fn covmm_vmrpc_perform(
        handle: u64,
        func: u32,
        bufs: *const CovmmBuf,
        nbufs: c_uint,
    ) -> c_long;
    pub(crate) fn covmm_vmrpc_perform_kernel(
        handle: u64,
        func: u32,
        arg: *mut c_void,
        len: usize,
    ) -> c_long;
    pub(crate) fn covmm_vmrpc_hypercall(op: u32, a0: u64, a1: u64, a2: u64, a3: u64) -> c_long;
    pub(crate) fn covmm_rvmrpc_register_service(
        name: *const c_char,
        serve: ServiceFn,
        private: *mut c_void,
    ) -> *mut c_void;
    pub(crate) fn covmm_rvmrpc_unregister_service(service: *mut c_void);
}

/// `covmm_service_fn`: `(private, func, in, in_len, out, out_len) -> length`.
pub(crate) type ServiceFn = unsafe extern "C" fn(
    private: *mut c_void,
    func: u32,
    input: *const c_void,
    in_len: usize,
    out: *mut c_void,
    out_len: usize,
) -> c_long;
