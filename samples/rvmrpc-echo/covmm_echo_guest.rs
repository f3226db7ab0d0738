// SPDX-License-Identifier: GPL-2.0

//! The guest half of the Reverse VMRPC paper's echo example: a guest module
//! that registers service `paper.echo` with guest-rvmrpc. Function 0 sends
//! the request back; any other function is `EOPNOTSUPP`.
//!
//! It uses guest-rvmrpc's C API (`include/covmm/guest.h`), as any guest
//! module would; the host calls it with `covmm call <pid> paper.echo 0 text`
//! or from the kernel (`covmm_echo_host`).

use core::ptr;

use kernel::ffi::{c_long, c_void};
use kernel::prelude::*;

module! {
    type: EchoGuest,
    name: "covmm_echo_guest",
    authors: ["CoVMM developers"],
    description: "CoVMM sample: a Reverse VMRPC echo service in the guest",
    license: "GPL",
}

/// include/covmm/guest.h.
#[allow(dead_code)]
#[path = "../../include/covmm/guest_api.rs"]
mod api;

/// The service.
///
/// # Safety
///
/// Called by guest-rvmrpc with `input` readable for `in_len` bytes and `out`
/// writable for `out_len` bytes.
unsafe extern "C" fn echo(
    _private: *mut c_void,
    func: u32,
    input: *const c_void,
    in_len: usize,
    out: *mut c_void,
    out_len: usize,
) -> c_long {
    if func != 0 {
        return EOPNOTSUPP.to_errno() as c_long;
    }
    if in_len > out_len {
        return EMSGSIZE.to_errno() as c_long;
    }
    if in_len > 0 {
        // SAFETY: per the function's contract, and `in_len <= out_len`.
        unsafe { ptr::copy_nonoverlapping(input.cast::<u8>(), out.cast::<u8>(), in_len) };
    }
    in_len as c_long
}

/// The registered service.
///
/// # Invariants
///
/// `service` came from a successful `covmm_rvmrpc_register_service()`.
struct EchoGuest {
    service: *mut c_void,
}

// SAFETY: the handle is only passed back to guest-rvmrpc, from any thread.
unsafe impl Send for EchoGuest {}
// SAFETY: as above.
unsafe impl Sync for EchoGuest {}

impl kernel::Module for EchoGuest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the name is NUL-terminated; `echo` stays valid until the
        // unregistration in `drop`.
        let service = unsafe {
            api::covmm_rvmrpc_register_service(c"paper.echo".as_char_ptr(), echo, ptr::null_mut())
        };
        kernel::error::from_err_ptr(service)?;
        pr_info!("service paper.echo registered\n");
        // INVARIANT: registered just now.
        Ok(Self { service })
    }
}

impl Drop for EchoGuest {
    fn drop(&mut self) {
        // SAFETY: registered in `init` (type invariant); calls in flight have
        // returned when this does.
        unsafe { api::covmm_rvmrpc_unregister_service(self.service) };
    }
}
