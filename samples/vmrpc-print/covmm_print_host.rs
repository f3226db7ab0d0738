// SPDX-License-Identifier: GPL-2.0

//! `MOD_PRINT` version 1, the host half of the VMRPC paper's PRINT example:
//! a guest hands the host a string and the host prints it in its log.
//!
//! The request is `struct print_request { u64 text; u64 len; }`, where `text`
//! is a guest kernel pointer: the server follows it with
//! `covmm_copy_from_guest()`, which works because the guest exposed the string
//! to the call. It uses host-vmrpc's C API (`include/covmm/host.h`) as any
//! other host module would.

use kernel::ffi::{c_long, c_void};

use kernel::prelude::*;

module! {
    type: PrintHost,
    name: "covmm_print_host",
    authors: ["CoVMM developers"],
    description: "CoVMM sample: the VMRPC PRINT server",
    license: "GPL",
}

#[path = "../../include/covmm/host_api.rs"]
mod api;

/// The request, as the guest lays it out.
#[repr(C)]
#[derive(Default)]
struct PrintRequest {
    text: u64,
    len: u64,
}

/// Longest string printed.
const MAX_TEXT: usize = 256;
/// The one function: print.
const FUNC_PRINT: u32 = 0;

fn copy_from_guest(call: *mut c_void, dst: &mut [u8], gva: u64) -> Result {
    // SAFETY: `call` is the live call `dispatch` received, and `dst` is
    // writable for its length.
    let rc = unsafe { api::covmm_copy_from_guest(call, dst.as_mut_ptr().cast(), gva, dst.len()) };
    kernel::error::to_result(rc)
}

fn print(call: *mut c_void, func: u32, arg: u64, len: u64) -> Result<i64> {
    if func != FUNC_PRINT {
        return Err(EOPNOTSUPP);
    }
    if len != size_of::<PrintRequest>() as u64 {
        return Err(EINVAL);
    }
    let mut raw = [0u8; size_of::<PrintRequest>()];
    copy_from_guest(call, &mut raw, arg)?;
    let req = PrintRequest {
        text: u64::from_ne_bytes(raw[..8].try_into().map_err(|_| EINVAL)?),
        len: u64::from_ne_bytes(raw[8..].try_into().map_err(|_| EINVAL)?),
    };
    let n = usize::try_from(req.len)
        .ok()
        .filter(|&n| n <= MAX_TEXT)
        .ok_or(E2BIG)?;
    let mut text = [0u8; MAX_TEXT];
    copy_from_guest(call, &mut text[..n], req.text)?;
    // Guest bytes go to the host log: only printable ASCII passes.
    for b in &mut text[..n] {
        if !(0x20..0x7f).contains(b) {
            *b = b'?';
        }
    }
    let text = core::str::from_utf8(&text[..n]).map_err(|_| EINVAL)?;
    // SAFETY: `call` is the live call `dispatch` received.
    let pid = unsafe { api::covmm_call_vm_pid(call) };
    pr_info!("VM of VMM pid {pid} says: {text}\n");
    Ok(n as i64)
}

/// # Safety
///
/// Called by host-vmrpc with a live call, per include/covmm/host.h.
unsafe extern "C" fn dispatch(
    call: *mut c_void,
    _private: *mut c_void,
    func: u32,
    arg: u64,
    len: u64,
) -> c_long {
    match print(call, func, arg, len) {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// The registered server.
///
/// # Invariants
///
/// `server` came from a successful `covmm_server_register()` and is
/// unregistered exactly once, on drop.
struct PrintHost {
    server: *mut c_void,
}

// SAFETY: the server pointer is only passed back to host-vmrpc, which allows
// that from any thread.
unsafe impl Send for PrintHost {}
// SAFETY: as above; `PrintHost` has no methods through `&self`.
unsafe impl Sync for PrintHost {}

impl kernel::Module for PrintHost {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the name is a static C string and `dispatch` is valid until
        // `drop` unregisters it; no private data.
        let server = unsafe {
            api::covmm_server_register(
                c"MOD_PRINT".as_char_ptr(),
                1,
                dispatch,
                core::ptr::null_mut(),
            )
        };
        let server = kernel::error::from_err_ptr(server)?;
        pr_info!("MOD_PRINT version 1 registered\n");
        // INVARIANT: registered just now.
        Ok(Self { server })
    }
}

impl Drop for PrintHost {
    fn drop(&mut self) {
        // SAFETY: registered in `init` (type invariant); after this returns no
        // call runs `dispatch` any more, so the module text may go.
        unsafe { api::covmm_server_unregister(self.server) };
    }
}
