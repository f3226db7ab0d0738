// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb io-load`, run in a guest: a known number of port-I/O or MMIO
//! requests, for the I/O monitor's accuracy scenario and its benchmark.
//!
//! Port I/O uses `IN`/`OUT` (or `REP INSB`/`REP OUTSB` with `--rep`) after
//! `ioperm()`; MMIO maps the guest-physical page through `/dev/mem` and
//! reads or writes 32-bit words. Each access leaves the guest, so the host's
//! KVM sees exactly `count` requests (times `rep` bytes for string I/O).

use std::arch::asm;
use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

extern "C" {
    fn ioperm(from: c_ulong, num: c_ulong, turn_on: c_int) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: c_long,
    ) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
}

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const O_SYNC: i32 = 0o4010000;

/// What to do.
pub struct Load {
    /// MMIO at a guest-physical address, else port I/O to a port.
    pub mmio: bool,
    /// The port or address.
    pub addr: u64,
    /// Guest writes (`OUT`, stores), else reads.
    pub write: bool,
    /// Requests to make.
    pub count: u64,
    /// Bytes per string instruction (port I/O only); 0 for single `IN`/`OUT`.
    pub rep: u32,
}

/// Requests made and how long they took.
pub struct Done {
    pub requests: u64,
    pub secs: f64,
}

fn port_io(load: &Load) -> Result<Done, String> {
    let port = u16::try_from(load.addr).map_err(|_| "a port is at most 0xffff".to_string())?;
    // SAFETY: a plain system call; it only changes this process's I/O
    // permission bitmap.
    if unsafe { ioperm(c_ulong::from(port), 1, 1) } != 0 {
        return Err(format!(
            "ioperm({port:#x}): {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut buf = vec![0x5au8; load.rep.max(1) as usize];
    let start = Instant::now();
    for i in 0..load.count {
        let byte = i as u8;
        // SAFETY: the process may access `port` (ioperm above). Single
        // IN/OUT touch only AL and DX; the string forms read or write
        // `buf`, which holds `rep` bytes, with RSI/RDI and RCX as the
        // instruction defines and the direction flag clear (the ABI's
        // default).
        unsafe {
            match (load.rep, load.write) {
                (0, true) => {
                    asm!("out dx, al", in("dx") port, in("al") byte, options(nomem, nostack))
                }
                (0, false) => {
                    asm!("in al, dx", in("dx") port, out("al") _, options(nomem, nostack))
                }
                (n, true) => asm!(
                    "rep outsb",
                    in("dx") port,
                    inout("rsi") buf.as_ptr() => _,
                    inout("rcx") u64::from(n) => _,
                    options(nostack, readonly)
                ),
                (n, false) => asm!(
                    "rep insb",
                    in("dx") port,
                    inout("rdi") buf.as_mut_ptr() => _,
                    inout("rcx") u64::from(n) => _,
                    options(nostack)
                ),
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(&mut buf);
    Ok(Done {
        requests: load.count,
        secs,
    })
}

fn mmio(load: &Load) -> Result<Done, String> {
    if load.addr % 4 != 0 {
        return Err("an MMIO address must be 4-byte aligned".into());
    }
    let mem = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_SYNC)
        .open("/dev/mem")
        .map_err(|e| format!("/dev/mem: {e}"))?;
    let page = load.addr & !0xfff;
    let off = c_long::try_from(page).map_err(|_| "address out of range".to_string())?;
    // SAFETY: maps one page of /dev/mem; the result is checked below and
    // unmapped before returning.
    let base = unsafe {
        mmap(
            std::ptr::null_mut(),
            4096,
            PROT_READ | PROT_WRITE,
            MAP_SHARED,
            mem.as_raw_fd(),
            off,
        )
    };
    if base as isize == -1 {
        return Err(format!(
            "mmap of {page:#x}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `addr % 4096` is inside the mapped page and 4-byte aligned.
    let word = unsafe {
        base.cast::<u8>()
            .add((load.addr % 4096) as usize)
            .cast::<u32>()
    };
    let start = Instant::now();
    for i in 0..load.count {
        // SAFETY: `word` points into the live mapping; volatile, so every
        // access reaches the device.
        unsafe {
            if load.write {
                word.write_volatile(i as u32);
            } else {
                std::hint::black_box(word.read_volatile());
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // SAFETY: unmaps the mapping made above.
    unsafe { munmap(base, 4096) };
    Ok(Done {
        requests: load.count,
        secs,
    })
}

/// Makes the requests.
pub fn run(load: &Load) -> Result<Done, String> {
    if load.mmio {
        if load.rep != 0 {
            return Err("--rep is for port I/O".into());
        }
        mmio(load)
    } else {
        port_io(load)
    }
}
