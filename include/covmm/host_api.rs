// SPDX-License-Identifier: GPL-2.0

//! `include/covmm/host.h` as Rust declarations, for Rust host modules that
//! register VMRPC servers with host-vmrpc (the samples). Include it with
//! `#[path = ".../include/covmm/host_api.rs"] mod api;`. host-vmrpc itself
//! takes [`DispatchFn`] from here, so both sides agree on the signature.

use kernel::ffi::{c_char, c_int, c_long, c_void};

/// `covmm_dispatch_fn`: `(call, private, func, arg, len) -> result`.
pub(crate) type DispatchFn = unsafe extern "C" fn(
    call: *mut c_void,
    private: *mut c_void,
    func: u32,
    arg: u64,
    len: u64,
) -> c_long;

#[allow(dead_code)]
extern "C" {
    pub(crate) fn covmm_server_register(
        name: *const c_char,
        version: u32,
        dispatch: DispatchFn,
        private: *mut c_void,
    ) -> *mut c_void;
    pub(crate) fn covmm_server_unregister(server: *mut c_void);
    pub(crate) fn covmm_copy_from_guest(
        call: *mut c_void,
        dst: *mut c_void,
        gva: u64,
        len: usize,
    ) -> c_int;
    pub(crate) fn covmm_copy_to_guest(
        call: *mut c_void,
        gva: u64,
        src: *const c_void,
        len: usize,
    ) -> c_int;
    pub(crate) fn covmm_get_hva(call: *mut c_void, gva: u64, write: bool, hva: *mut usize)
        -> c_int;
    pub(crate) fn covmm_call_vm_pid(call: *mut c_void) -> c_int;
    pub(crate) fn covmm_rvmrpc_call(
        vm_pid: c_int,
        service: *const c_char,
        func: u32,
        input: *const c_void,
        in_len: usize,
        out: *mut c_void,
        out_len: usize,
    ) -> c_long;
}
