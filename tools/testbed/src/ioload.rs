// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb io-load`, run in a guest: a known number of port-I/O or MMIO
//! requests, for the I/O monitor's accuracy scenario and its benchmark.
//!
//! Port I/O goes through `/dev/port`: each one-byte `pread`/`pwrite` at the
//! port's offset makes the guest kernel execute one `IN`/`OUT`. (User-space
//! `IN`/`OUT` after `ioperm()` would be simpler, but in the nested testbed
//! they fault: QEMU's emulation of SVM does not honour the I/O permission
//! bitmap for an L2 guest; see Documentation/testbed.md, "Quirks".) MMIO maps
//! the guest-physical page through `/dev/mem` and reads or writes 32-bit
//! words. Each access leaves the guest, so the host's KVM sees exactly
//! `count` requests.

use std::arch::x86_64::__cpuid;
use std::ffi::{c_int, c_long, c_void};
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::Instant;

extern "C" {
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
}

/// Requests made and how long they took.
pub struct Done {
    pub requests: u64,
    pub secs: f64,
}

fn port_io(load: &Load) -> Result<Done, String> {
    if load.addr > 0xffff {
        return Err("a port is at most 0xffff".into());
    }
    let port = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/port")
        .map_err(|e| format!("/dev/port: {e}"))?;
    let mut byte = [0u8];
    let start = Instant::now();
    for i in 0..load.count {
        let done = if load.write {
            byte[0] = i as u8;
            port.write_at(&byte, load.addr)
        } else {
            port.read_at(&mut byte, load.addr)
        };
        match done {
            Ok(1) => {}
            Ok(_) => return Err("/dev/port moved no byte".into()),
            Err(e) => return Err(format!("port {:#x}: {e}", load.addr)),
        }
    }
    Ok(Done {
        requests: load.count,
        secs: start.elapsed().as_secs_f64(),
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
        // CPUID always exits to the host first. In the nested testbed an
        // emulated MMIO exit that follows a guest exception with no exit in
        // between is refused by the host's KVM (QEMU's SVM leaves the
        // exception's type in EVENTINJ; Documentation/testbed.md, "Quirks").
        std::hint::black_box(__cpuid(0));
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
        mmio(load)
    } else {
        port_io(load)
    }
}

/// `covmm-tb mmap-write FILE OFFSET DATA`: writes DATA at OFFSET through a
/// shared writable mapping of FILE, then `msync`s it (the hlfs scenario's
/// test of mmap write-back).
pub fn mmap_write(path: &str, offset: usize, data: &[u8]) -> Result<(), String> {
    extern "C" {
        fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int;
    }
    const MS_SYNC: c_int = 4;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len() as usize;
    if offset.checked_add(data.len()).is_none_or(|end| end > len) {
        return Err("the data must fit inside the file".into());
    }
    // SAFETY: maps the whole file shared; checked below, unmapped at the end.
    let base = unsafe {
        mmap(
            std::ptr::null_mut(),
            len,
            PROT_READ | PROT_WRITE,
            MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if base as isize == -1 {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `offset + data.len() <= len`, inside the mapping.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), base.cast::<u8>().add(offset), data.len())
    };
    // SAFETY: the mapping made above.
    let rc = unsafe { msync(base, len, MS_SYNC) };
    let err = std::io::Error::last_os_error();
    // SAFETY: unmaps it.
    unsafe { munmap(base, len) };
    if rc != 0 {
        return Err(format!("msync: {err}"));
    }
    Ok(())
}
