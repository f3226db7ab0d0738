// SPDX-License-Identifier: GPL-2.0

//! The benchmark's network-less anchor for Reverse VMRPC: a small guest
//! user-space agent that answers meminfo queries over virtio-vsock, and the
//! L1 client that times it. One connection carries every query, as a
//! long-lived agent's would: a query is one byte, an answer a 4-byte length
//! and the guest's /proc/meminfo.
//!
//! The standard library has no `AF_VSOCK`, so the sockets are made with the
//! C library's calls and wrapped in `File` for reading and writing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;
use std::time::Instant;

const AF_VSOCK: i32 = 40;
const SOCK_STREAM: i32 = 1;
/// `VMADDR_CID_ANY`.
const CID_ANY: u32 = u32::MAX;

/// `struct sockaddr_vm`.
#[repr(C)]
struct SockaddrVm {
    family: u16,
    reserved1: u16,
    port: u32,
    cid: u32,
    flags: u8,
    zero: [u8; 3],
}

extern "C" {
    fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
    fn bind(fd: i32, addr: *const SockaddrVm, len: u32) -> i32;
    fn listen(fd: i32, backlog: i32) -> i32;
    fn accept(fd: i32, addr: *mut SockaddrVm, len: *mut u32) -> i32;
    fn connect(fd: i32, addr: *const SockaddrVm, len: u32) -> i32;
}

fn check(rc: i32) -> io::Result<i32> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn addr(cid: u32, port: u32) -> SockaddrVm {
    SockaddrVm {
        family: AF_VSOCK as u16,
        reserved1: 0,
        port,
        cid,
        flags: 0,
        zero: [0; 3],
    }
}

fn vsock() -> io::Result<File> {
    // SAFETY: a plain socket(2); the descriptor is owned by the `File`.
    let fd = check(unsafe { socket(AF_VSOCK, SOCK_STREAM, 0) })?;
    // SAFETY: `fd` was just returned to us and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// In the guest: serves meminfo queries on vsock `port` until killed.
pub(crate) fn serve(port: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let listener = vsock()?;
    let a = addr(CID_ANY, port);
    // SAFETY: `a` is a valid `sockaddr_vm` of the stated size.
    check(unsafe { bind(listener.as_raw_fd(), &a, size_of::<SockaddrVm>() as u32) })?;
    // SAFETY: a listening socket we own.
    check(unsafe { listen(listener.as_raw_fd(), 8) })?;
    loop {
        // SAFETY: null address pointers are allowed by accept(2).
        let fd = check(unsafe {
            accept(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        })?;
        // SAFETY: a new descriptor, owned by the `File`.
        let mut conn = unsafe { File::from_raw_fd(fd) };
        std::thread::spawn(move || {
            let mut query = [0u8; 1];
            while conn.read_exact(&mut query).is_ok() {
                let text = std::fs::read("/proc/meminfo").unwrap_or_default();
                let mut reply = (text.len() as u32).to_le_bytes().to_vec();
                reply.extend_from_slice(&text);
                if conn.write_all(&reply).is_err() {
                    break;
                }
            }
        });
    }
}

/// Latencies of `count` queries to the agent at `cid`:`port`, in
/// microseconds, sorted.
pub(crate) fn bench(cid: u32, port: u32, count: usize) -> io::Result<Vec<f64>> {
    use std::os::fd::AsRawFd;
    if count == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no queries to time",
        ));
    }
    let mut conn = vsock()?;
    let a = addr(cid, port);
    // SAFETY: `a` is a valid `sockaddr_vm` of the stated size.
    check(unsafe { connect(conn.as_raw_fd(), &a, size_of::<SockaddrVm>() as u32) })?;
    let mut lat = Vec::with_capacity(count);
    let mut buf = Vec::new();
    for _ in 0..count {
        let t = Instant::now();
        conn.write_all(&[1])?;
        let mut len = [0u8; 4];
        conn.read_exact(&mut len)?;
        buf.resize(u32::from_le_bytes(len) as usize, 0);
        conn.read_exact(&mut buf)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    if !buf.starts_with(b"MemTotal:") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the agent's answer is not a meminfo",
        ));
    }
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}
