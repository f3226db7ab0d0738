// SPDX-License-Identifier: GPL-2.0

//! `make bench`, guest side: measures VMRPC against its anchors from inside
//! the guest kernel and logs one line of results.
//!
//! - a bare `KVM_HC_VAPIC_POLL_IRQ` hypercall (one exit round trip, the
//!   floor) against a null VMRPC call through guest-rvmrpc's API, with
//!   CoVMM's `Ping` hypercall in between (the cost of the hook alone);
//! - `copy_from_guest` of 4 KiB (kmalloc) and 1 MiB (vmalloc) against a host
//!   memcpy of the same size, both timed by the host (`covmm.selftest`).
//!
//! Calls per second on one and two vCPUs are measured from user space by the
//! bench scenario.

use kernel::{
    alloc::KVVec,
    ffi::{c_int, c_long},
    prelude::*,
    time::{Instant, Monotonic},
};

module! {
    type: BenchGuest,
    name: "covmm_bench_guest",
    authors: ["CoVMM developers"],
    description: "CoVMM benchmark: VMRPC against its anchors",
    license: "GPL",
    params: {
        calls: u32 {
            default: 20000,
            description: "Calls per latency measurement",
        },
        copies: u32 {
            default: 50,
            description: "Copies per bandwidth measurement",
        },
    },
}

/// include/covmm/guest.h.
#[allow(dead_code)]
#[path = "../../../include/covmm/guest_api.rs"]
mod api;

extern "C" {
    /// bench_glue.c.
    fn covmm_bench_bare_hypercall() -> c_long;
    /// bench_glue.c.
    fn covmm_bench_ping_hypercall() -> c_long;
}

/// Rounds of the latency measurements. The three kinds take turns, so a
/// slow spell of the emulated platform falls on all of them alike, and each
/// is reported as its median round.
const ROUNDS: usize = 9;

const FUNC_NULL: u32 = 0;
const FUNC_COPY_IN: u32 = 3;
const FUNC_MEMCPY: u32 = 4;

fn perform(handle: u64, func: u32, buf: &[u8]) -> Result<i64> {
    let desc = api::CovmmBuf {
        addr: buf.as_ptr().cast_mut().cast(),
        len: buf.len(),
        writable: false,
    };
    let n = if buf.is_empty() { 0 } else { 1 };
    // SAFETY: the buffer is alive and read-only for the call.
    let r = unsafe { api::covmm_vmrpc_perform(handle, func, &desc, n) };
    if r < 0 {
        return Err(Error::from_errno(r as c_int));
    }
    Ok(r as i64)
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut() -> Result) -> Result<i64> {
    let start = Instant::<Monotonic>::now();
    for _ in 0..n {
        f()?;
    }
    Ok(start.elapsed().as_nanos() / i64::from(n.max(1)))
}

/// The median of `rounds`.
fn median(mut rounds: [i64; ROUNDS]) -> i64 {
    rounds.sort_unstable();
    rounds[ROUNDS / 2]
}

/// Host-timed MB/s of `func` over `buf`, `n` times.
fn bandwidth(handle: u64, func: u32, buf: &[u8], n: u32) -> Result<i64> {
    let mut ns = 0;
    for _ in 0..n {
        ns += perform(handle, func, buf)?;
    }
    // bytes per ns * 1000 = MB/s
    Ok((buf.len() as i64 * i64::from(n) * 1000) / ns.max(1))
}

struct BenchGuest;

impl kernel::Module for BenchGuest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let calls = module_parameters::calls.value();
        let copies = module_parameters::copies.value();
        let mut handle = 0u64;
        // SAFETY: static C string; `handle` is writable.
        kernel::error::to_result(unsafe {
            api::covmm_vmrpc_bind(c"covmm.selftest".as_char_ptr(), 1, &mut handle)
        })?;

        let run = || -> Result<[i64; 7]> {
            let bare_call = || {
                // SAFETY: a hypercall KVM answers itself.
                unsafe { covmm_bench_bare_hypercall() };
                Ok(())
            };
            let ping_call = || {
                // SAFETY: a CoVMM hypercall without arguments.
                unsafe { covmm_bench_ping_hypercall() };
                Ok(())
            };
            let null_call = || perform(handle, FUNC_NULL, &[]).map(|_| ());
            // Warm all paths first.
            per_call(100, bare_call)?;
            per_call(100, ping_call)?;
            per_call(100, null_call)?;
            let per_round = (calls / ROUNDS as u32).max(1);
            let (mut bare, mut ping, mut null) = ([0; ROUNDS], [0; ROUNDS], [0; ROUNDS]);
            for round in 0..ROUNDS {
                bare[round] = per_call(per_round, bare_call)?;
                ping[round] = per_call(per_round, ping_call)?;
                null[round] = per_call(per_round, null_call)?;
            }
            pr_info!("bench rounds (ns per call): bare {bare:?} ping {ping:?} null {null:?}\n");
            let small = KVec::from_elem(7u8, 4096, GFP_KERNEL)?;
            let big = KVVec::from_elem(7u8, 1 << 20, GFP_KERNEL)?;
            Ok([
                median(bare),
                median(ping),
                median(null),
                bandwidth(handle, FUNC_COPY_IN, &small, copies * 20)?,
                bandwidth(handle, FUNC_MEMCPY, &small, copies * 20)?,
                bandwidth(handle, FUNC_COPY_IN, &big, copies)?,
                bandwidth(handle, FUNC_MEMCPY, &big, copies)?,
            ])
        };
        let result = run();
        // SAFETY: plain call with our handle.
        unsafe { api::covmm_vmrpc_unbind(handle) };
        let [bare, ping, null, c4k, m4k, c1m, m1m] = result?;
        pr_info!(
            "bench: bare_ns={bare} ping_ns={ping} null_ns={null} copy4k_mbps={c4k} memcpy4k_mbps={m4k} copy1m_mbps={c1m} memcpy1m_mbps={m1m}\n"
        );
        Ok(Self)
    }
}
