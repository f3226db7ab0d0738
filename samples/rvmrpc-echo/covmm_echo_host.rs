// SPDX-License-Identifier: GPL-2.0

//! The host half of the Reverse VMRPC paper's echo example: at load it calls
//! the guest service `paper.echo` of the VM whose VMM is `vm_pid`, `count`
//! times, checks every answer and logs the average round trip.
//!
//! It uses host-vmrpc's C API (`include/covmm/host.h`), as any host module
//! would.

use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::time::{Instant, Monotonic};

module! {
    type: EchoHost,
    name: "covmm_echo_host",
    authors: ["CoVMM developers"],
    description: "CoVMM sample: a Reverse VMRPC echo client in the host",
    license: "GPL",
    params: {
        vm_pid: i32 {
            default: 0,
            description: "Pid of the VMM whose guest runs covmm_echo_guest",
        },
        count: u32 {
            default: 10,
            description: "Round trips to make (at most 100000)",
        },
    },
}

/// include/covmm/host.h.
#[allow(dead_code)]
#[path = "../../include/covmm/host_api.rs"]
mod api;

const MESSAGE: &[u8] = b"hello from the host kernel, via Reverse VMRPC";

struct EchoHost;

impl kernel::Module for EchoHost {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let pid = module_parameters::vm_pid.value();
        let count = module_parameters::count.value().min(100_000);
        let mut back = [0u8; MESSAGE.len()];
        let start = Instant::<Monotonic>::now();
        for i in 0..count {
            // SAFETY: the name is NUL-terminated; the buffers are valid for
            // their lengths.
            let n = unsafe {
                api::covmm_rvmrpc_call(
                    pid,
                    c"paper.echo".as_char_ptr(),
                    0,
                    MESSAGE.as_ptr().cast::<c_void>(),
                    MESSAGE.len(),
                    back.as_mut_ptr().cast::<c_void>(),
                    back.len(),
                )
            };
            if n < 0 {
                let e = Error::from_errno(n as i32);
                pr_err!("echo {i} to VM {pid} failed: {e:?}\n");
                return Err(e);
            }
            if back[..n as usize] != *MESSAGE {
                pr_err!("echo {i} to VM {pid} came back changed\n");
                return Err(EIO);
            }
        }
        let us = start.elapsed().as_micros_ceil() / i64::from(count.max(1));
        pr_info!("paper.echo: {count} of {count} round trips to VM {pid} ok, {us} us each\n");
        Ok(Self)
    }
}
