// SPDX-License-Identifier: GPL-2.0

//! A guest module that throws random CoVMM hypercalls at the host, for the
//! testbed (`tools/testbed/scenarios/53-vmrpc-fuzz.sh`).
//!
//! At load it makes `count` calls from a seeded generator, mixing:
//! - raw hypercalls: any opcode of the range, with arguments drawn from small
//!   numbers, boundaries, random guest-physical addresses and live handles;
//! - well-formed calls to `covmm.selftest` through guest-rvmrpc's API, over
//!   random pieces of a 2 MiB vmalloc scratch buffer, some writable;
//! - binds and unbinds with random names and versions.
//!
//! The host may only ever write the scratch buffer: raw `PERFORM`s never ask
//! for the fill function, whose descriptors could point anywhere. Every
//! result must be a success or an errno the ABI documents; the module logs a
//! tally, and counts anything else as "undocumented". At the end it unbinds
//! every handle it may have created.

use kernel::{alloc::VVec, ffi::c_uint, prelude::*};

module! {
    type: FuzzGuest,
    name: "covmm_fuzz_guest",
    authors: ["CoVMM developers"],
    description: "CoVMM test: random hypercalls at host-vmrpc",
    license: "GPL",
    params: {
        count: u32 {
            default: 100000,
            description: "How many calls to make",
        },
        seed: u64 {
            default: 1,
            description: "Seed of the generator",
        },
    },
}

/// include/covmm/guest.h.
#[allow(dead_code)]
#[path = "../../../include/covmm/guest_api.rs"]
mod api;

const OP_BIND: u32 = 2;
const OP_UNBIND: u32 = 3;
const OP_PERFORM: u32 = 4;
const FUNC_FILL: u32 = 2;
const SCRATCH: usize = 2 << 20;

/// `COVMM_CALL_AGAIN`: a raw `RvWait` on a live slot of guest-rvmrpc's
/// server threads may get it.
const CALL_AGAIN: i64 = -0x1_0000;
/// Errnos the ABI documents (Documentation/hypercall-abi.md).
const DOCUMENTED: [i64; 13] = [2, 5, 7, 9, 12, 14, 16, 22, 24, 38, 75, 95, 108];

/// xorshift64*: small, seedable, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An argument value: small, at a boundary, an address, or anything.
    fn arg(&mut self, handles: u64) -> u64 {
        match self.below(6) {
            0 => self.below(16),
            1 => [0, 1, u64::MAX, u64::MAX - 15, 1 << 32, 1 << 63][self.below(6) as usize],
            2 => self.below(1 << 30) & !0xf,
            3 => 1 + self.below(handles.max(1) + 2),
            4 => 0xfee0_0000 + self.below(0x1000),
            _ => self.next(),
        }
    }
}

struct Tally {
    ok: u64,
    by_errno: [u64; 128],
    undocumented: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            ok: 0,
            by_errno: [0; 128],
            undocumented: 0,
        }
    }

    fn add(&mut self, r: i64) {
        if r >= 0 || r == CALL_AGAIN {
            self.ok += 1;
        } else if DOCUMENTED.contains(&-r) {
            self.by_errno[(-r) as usize] += 1;
        } else {
            self.undocumented += 1;
            pr_err!("undocumented result {r}\n");
        }
    }
}

fn bind(name: &CStr, version: u32) -> i64 {
    let mut handle = 0u64;
    // SAFETY: NUL-terminated name; `handle` is writable.
    let rc = unsafe { api::covmm_vmrpc_bind(name.as_char_ptr(), version, &mut handle) };
    if rc == 0 {
        handle as i64
    } else {
        i64::from(rc)
    }
}

struct FuzzGuest;

impl kernel::Module for FuzzGuest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let calls = module_parameters::count.value();
        let mut rng = Rng(module_parameters::seed.value() | 1);
        let mut scratch = VVec::from_elem(0u8, SCRATCH, GFP_KERNEL)?;
        let mut tally = Tally::new();
        let mut max_handle = 0u64;
        let names = [c"covmm.selftest", c"nosuch", c"MOD_PRINT", c"x"];

        for _ in 0..calls {
            let r = match rng.below(10) {
                0..=3 => {
                    let op = if rng.below(8) == 0 {
                        rng.below(256) as u32
                    } else {
                        rng.below(6) as u32
                    };
                    let mut args = [0u64; 4];
                    for a in &mut args {
                        *a = rng.arg(max_handle);
                    }
                    if op == OP_PERFORM && args[1] == u64::from(FUNC_FILL) {
                        args[1] = 1;
                    }
                    // SAFETY: a raw hypercall; the host only reads guest
                    // memory for it (no fill, see above).
                    let r = unsafe {
                        api::covmm_vmrpc_hypercall(op, args[0], args[1], args[2], args[3])
                    };
                    if op == OP_BIND && r > 0 {
                        max_handle = max_handle.max(r as u64);
                    }
                    r as i64
                }
                4..=7 => {
                    let h = bind(c"covmm.selftest", 1);
                    if h <= 0 {
                        h
                    } else {
                        max_handle = max_handle.max(h as u64);
                        let mut bufs = KVec::new();
                        for _ in 0..=rng.below(3) {
                            let off = rng.below(SCRATCH as u64) as usize;
                            let len = (rng.below(64 << 10) as usize).min(SCRATCH - off);
                            let buf = api::CovmmBuf {
                                addr: scratch[off..].as_mut_ptr().cast(),
                                len,
                                writable: rng.below(2) == 0,
                            };
                            bufs.push(buf, GFP_KERNEL)?;
                        }
                        // Overlapping pieces are a legitimate input too: the
                        // host refuses them with EINVAL.
                        let func = rng.below(4) as u32;
                        // SAFETY: every buffer lies in `scratch`, alive and
                        // not otherwise used during the call.
                        let r = unsafe {
                            api::covmm_vmrpc_perform(
                                h as u64,
                                func,
                                bufs.as_ptr(),
                                bufs.len() as c_uint,
                            )
                        };
                        tally.add(r as i64);
                        // SAFETY: plain call with our handle.
                        i64::from(unsafe { api::covmm_vmrpc_unbind(h as u64) })
                    }
                }
                _ => {
                    let name = names[rng.below(names.len() as u64) as usize];
                    let h = bind(name, rng.below(3) as u32);
                    if h > 0 {
                        max_handle = max_handle.max(h as u64);
                    }
                    h
                }
            };
            tally.add(r);
        }

        // Unbind whatever the raw calls may have bound.
        let mut released = 0;
        for h in 1..=max_handle {
            // SAFETY: a raw unbind of a number; unknown ones get EBADF.
            if unsafe { api::covmm_vmrpc_hypercall(OP_UNBIND, h, 0, 0, 0) } == 0 {
                released += 1;
            }
        }
        drop(scratch);
        let e = &tally.by_errno;
        pr_info!(
            "fuzz: {calls} calls: ok {} ENOENT {} EIO {} E2BIG {} EBADF {} ENOMEM {} EFAULT {} EBUSY {} EINVAL {} EMFILE {} ENOSYS {} EOVERFLOW {} EOPNOTSUPP {} ESHUTDOWN {} undocumented {}; released {released} leftover handles\n",
            tally.ok, e[2], e[5], e[7], e[9], e[12], e[14], e[16], e[22], e[24], e[38], e[75], e[95], e[108], tally.undocumented
        );
        Ok(Self)
    }
}
