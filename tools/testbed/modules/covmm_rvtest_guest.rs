// SPDX-License-Identifier: GPL-2.0

//! A guest service that misbehaves on purpose, for the testbed's Reverse
//! VMRPC fault scenarios (`tools/testbed/scenarios/61-rvmrpc-faults.sh`).
//!
//! Service `rvtest`:
//! - function 0 sleeps as many milliseconds as its request says (decimal
//!   text, at most 60000), then answers nothing: a guest that does not
//!   answer in time;
//! - function 1 claims a response one byte longer than its buffer.

use core::ptr;

use kernel::ffi::{c_long, c_void};
use kernel::prelude::*;
use kernel::time::{delay::fsleep, Delta};

module! {
    type: RvTestGuest,
    name: "covmm_rvtest_guest",
    authors: ["CoVMM developers"],
    description: "CoVMM test: a misbehaving Reverse VMRPC service",
    license: "GPL",
}

/// include/covmm/guest.h.
#[allow(dead_code)]
#[path = "../../../include/covmm/guest_api.rs"]
mod api;

/// # Safety
///
/// Called by guest-rvmrpc with `input` readable for `in_len` bytes.
unsafe extern "C" fn serve(
    _private: *mut c_void,
    func: u32,
    input: *const c_void,
    in_len: usize,
    _out: *mut c_void,
    out_len: usize,
) -> c_long {
    match func {
        0 => {
            let text: &[u8] = match in_len {
                0 => &[],
                // SAFETY: per the function's contract.
                n => unsafe { core::slice::from_raw_parts(input.cast::<u8>(), n) },
            };
            let ms = text.iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit()
                    .then(|| n.saturating_mul(10).saturating_add(u32::from(d - b'0')))
            });
            let Some(ms) = ms else {
                return EINVAL.to_errno() as c_long;
            };
            fsleep(Delta::from_millis(i64::from(ms.min(60_000))));
            0
        }
        1 => (out_len + 1) as c_long,
        _ => EOPNOTSUPP.to_errno() as c_long,
    }
}

/// # Invariants
///
/// `service` came from a successful `covmm_rvmrpc_register_service()`.
struct RvTestGuest {
    service: *mut c_void,
}

// SAFETY: the handle is only passed back to guest-rvmrpc.
unsafe impl Send for RvTestGuest {}
// SAFETY: as above.
unsafe impl Sync for RvTestGuest {}

impl kernel::Module for RvTestGuest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: NUL-terminated name; `serve` lives until `drop`.
        let service = unsafe {
            api::covmm_rvmrpc_register_service(c"rvtest".as_char_ptr(), serve, ptr::null_mut())
        };
        kernel::error::from_err_ptr(service)?;
        // INVARIANT: registered just now.
        Ok(Self { service })
    }
}

impl Drop for RvTestGuest {
    fn drop(&mut self) {
        // SAFETY: registered in `init`; waits for calls in flight.
        unsafe { api::covmm_rvmrpc_unregister_service(self.service) };
    }
}
