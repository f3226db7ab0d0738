// SPDX-License-Identifier: GPL-2.0

//! The guest half of the PRINT example: at load it binds to the host's
//! `MOD_PRINT` version 1, asks it `count` times to print a string, and
//! unbinds. The request carries a pointer to the string, which the host
//! follows because the string is passed as a second buffer of the call.
//!
//! It uses guest-rvmrpc's C API (`include/covmm/guest.h`).

use kernel::ffi::{c_int, c_uint};

use kernel::prelude::*;

module! {
    type: PrintGuest,
    name: "covmm_print_guest",
    authors: ["CoVMM developers"],
    description: "CoVMM sample: a VMRPC PRINT client",
    license: "GPL",
    params: {
        count: u32 {
            default: 1,
            description: "How many times to print (at most 1000)",
        },
    },
}

/// include/covmm/guest.h.
#[allow(dead_code)]
#[path = "../../include/covmm/guest_api.rs"]
mod api;

/// The request, as the host server reads it.
#[repr(C)]
struct PrintRequest {
    text: u64,
    len: u64,
}

const MESSAGE: &[u8] = b"hello from the guest kernel, via VMRPC";

fn print_once(handle: u64) -> Result<i64> {
    // Heap memory, so the host reads it through a second segment.
    let mut text = KVec::with_capacity(MESSAGE.len(), GFP_KERNEL)?;
    text.extend_from_slice(MESSAGE, GFP_KERNEL)?;
    let req = PrintRequest {
        text: text.as_ptr() as u64,
        len: text.len() as u64,
    };
    let bufs = [
        api::CovmmBuf {
            addr: core::ptr::from_ref(&req).cast_mut().cast(),
            len: size_of::<PrintRequest>(),
            writable: false,
        },
        api::CovmmBuf {
            addr: text.as_ptr().cast_mut().cast(),
            len: text.len(),
            writable: false,
        },
    ];
    // SAFETY: both buffers are live for the call and read-only to the host.
    let r = unsafe { api::covmm_vmrpc_perform(handle, 0, bufs.as_ptr(), bufs.len() as c_uint) };
    if r < 0 {
        return Err(Error::from_errno(r as c_int));
    }
    Ok(r as i64)
}

struct PrintGuest;

impl kernel::Module for PrintGuest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let times = module_parameters::count.value().min(1000);
        let mut handle = 0u64;
        // SAFETY: static C string; `handle` is writable.
        kernel::error::to_result(unsafe {
            api::covmm_vmrpc_bind(c"MOD_PRINT".as_char_ptr(), 1, &mut handle)
        })
        .inspect_err(|e| pr_err!("cannot bind to MOD_PRINT version 1: {e:?}\n"))?;
        let mut printed = 0;
        let mut outcome = Ok(());
        for _ in 0..times {
            match print_once(handle) {
                Ok(_) => printed += 1,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // SAFETY: plain call with our handle.
        unsafe { api::covmm_vmrpc_unbind(handle) };
        pr_info!("MOD_PRINT printed {printed} of {times} times\n");
        outcome.map(|()| Self)
    }
}
