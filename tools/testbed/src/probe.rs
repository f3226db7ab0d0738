// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb user-server-probe`: hands host-vmrpc's `/dev/covmm` malformed
//! and out-of-range requests, as a hostile or buggy user-space server would,
//! and reports the errno of each (0 for success) as JSON.
//!
//! It registers server `PROBE` version 1 for a VM, waits (without blocking)
//! for one call from the guest, probes the call, and replies 4242. The
//! scenario compares every entry with the documented errno.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use covmm_abi::{self as abi, FromBytes, IntoBytes};

extern "C" {
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

const O_NONBLOCK: i32 = 0o4000;

/// The errno of ioctl `cmd` with argument pointer `arg` (0 on success).
pub(crate) fn raw(file: &File, cmd: u32, arg: *mut u8) -> i32 {
    // SAFETY: the kernel validates the command and copies through the
    // pointer with fault handling; every pointer passed is either a live
    // buffer of the command's size or one meant to fault.
    let rc = unsafe { ioctl(file.as_raw_fd(), cmd as _, arg) };
    if rc < 0 {
        io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

pub(crate) fn with<T: IntoBytes + FromBytes>(file: &File, cmd: u32, mut arg: T) -> (i32, T) {
    let rc = raw(file, cmd, arg.as_mut_bytes().as_mut_ptr());
    (rc, arg)
}

fn register_req(name: &[u8], vm_pid: i32) -> abi::HostServerRegister {
    let mut raw_name = [0u8; abi::SERVER_NAME_LEN];
    raw_name[..name.len()].copy_from_slice(name);
    abi::HostServerRegister {
        name: raw_name,
        version: 1,
        flags: 0,
        vm_pid,
        pad: 0,
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

/// Runs the probe; prints `ready` on stderr once registered.
pub(crate) fn run(
    path: &Path,
    vm_pid: i32,
    timeout: Duration,
) -> io::Result<BTreeMap<&'static str, i64>> {
    let mut out = BTreeMap::new();
    let dev = open(path)?;
    let mut note = |k: &'static str, v: i32| {
        out.insert(k, i64::from(v));
    };
    note(
        "wait_unregistered",
        with(&dev, abi::HOST_IOC_SERVER_WAIT, abi::HostCall::default()).0,
    );
    note(
        "unknown_ioctl",
        raw(&dev, abi::HOST_IOC_SERVER_WAIT + 0x40, std::ptr::null_mut()),
    );
    note(
        "register_null_arg",
        raw(&dev, abi::HOST_IOC_SERVER_REGISTER, std::ptr::null_mut()),
    );
    let good = register_req(b"PROBE", vm_pid);
    note(
        "register_flags",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            abi::HostServerRegister { flags: 1, ..good },
        )
        .0,
    );
    note(
        "register_pad",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            abi::HostServerRegister { pad: 1, ..good },
        )
        .0,
    );
    note(
        "register_bad_name",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            register_req(b"a b", vm_pid),
        )
        .0,
    );
    note(
        "register_pid_0",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            register_req(b"PROBE", 0),
        )
        .0,
    );
    note(
        "register_pid_negative",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            register_req(b"PROBE", -5),
        )
        .0,
    );
    note(
        "register_no_such_pid",
        with(
            &dev,
            abi::HOST_IOC_SERVER_REGISTER,
            register_req(b"PROBE", 0x3fff_fff0),
        )
        .0,
    );
    note(
        "register",
        with(&dev, abi::HOST_IOC_SERVER_REGISTER, good).0,
    );
    note(
        "register_twice",
        with(&dev, abi::HOST_IOC_SERVER_REGISTER, good).0,
    );
    let other = open(path)?;
    note(
        "register_duplicate",
        with(&other, abi::HOST_IOC_SERVER_REGISTER, good).0,
    );
    drop(other);
    note(
        "wait_empty_nonblock",
        with(&dev, abi::HOST_IOC_SERVER_WAIT, abi::HostCall::default()).0,
    );
    note(
        "wait_null_arg",
        raw(&dev, abi::HOST_IOC_SERVER_WAIT, std::ptr::null_mut()),
    );
    eprintln!("ready");

    let deadline = Instant::now() + timeout;
    let call = loop {
        let (rc, call) = with(&dev, abi::HOST_IOC_SERVER_WAIT, abi::HostCall::default());
        match rc {
            0 => break call,
            11 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    };
    out.insert("call_arg_len", call.arg_len as i64);
    let id = call.call_id;
    let mut buf = vec![0u8; 64];
    let copy = |gva: u64, buf: u64, len: u64| abi::HostGuestCopy {
        call_id: id,
        gva,
        buf,
        len,
    };
    let bufp = buf.as_mut_ptr() as u64;
    let mut note = |k: &'static str, v: i32| {
        out.insert(k, i64::from(v));
    };
    note(
        "read_unknown_call",
        with(
            &dev,
            abi::HOST_IOC_GUEST_READ,
            abi::HostGuestCopy {
                call_id: id + 1_000_000,
                ..copy(call.arg, bufp, 1)
            },
        )
        .0,
    );
    note(
        "read_too_long",
        with(
            &dev,
            abi::HOST_IOC_GUEST_READ,
            copy(call.arg, bufp, abi::MAX_CALL_BYTES + 1),
        )
        .0,
    );
    note(
        "read_wrapping",
        with(&dev, abi::HOST_IOC_GUEST_READ, copy(u64::MAX - 8, bufp, 16)).0,
    );
    note(
        "read_past_request",
        with(
            &dev,
            abi::HOST_IOC_GUEST_READ,
            copy(call.arg + call.arg_len, bufp, 1),
        )
        .0,
    );
    note(
        "read_before_request",
        with(&dev, abi::HOST_IOC_GUEST_READ, copy(call.arg - 1, bufp, 1)).0,
    );
    note(
        "read_to_bad_buffer",
        with(
            &dev,
            abi::HOST_IOC_GUEST_READ,
            copy(call.arg, 8, call.arg_len),
        )
        .0,
    );
    note(
        "read_zero_bytes",
        with(&dev, abi::HOST_IOC_GUEST_READ, copy(call.arg, bufp, 0)).0,
    );
    note(
        "write_read_only",
        with(&dev, abi::HOST_IOC_GUEST_WRITE, copy(call.arg, bufp, 1)).0,
    );
    let len = call.arg_len.min(buf.len() as u64);
    note(
        "read",
        with(&dev, abi::HOST_IOC_GUEST_READ, copy(call.arg, bufp, len)).0,
    );
    let text = String::from_utf8_lossy(&buf[..len as usize]).into_owned();
    let hva = abi::HostGetHva {
        call_id: id,
        gva: call.arg,
        ..Default::default()
    };
    note(
        "hva_bad_write_flag",
        with(
            &dev,
            abi::HOST_IOC_GET_HVA,
            abi::HostGetHva { write: 2, ..hva },
        )
        .0,
    );
    note(
        "hva_write_read_only",
        with(
            &dev,
            abi::HOST_IOC_GET_HVA,
            abi::HostGetHva { write: 1, ..hva },
        )
        .0,
    );
    let (rc, got) = with(&dev, abi::HOST_IOC_GET_HVA, hva);
    note("hva", rc);
    note("hva_nonzero", i32::from(got.hva != 0));
    let reply = abi::HostReply {
        call_id: id,
        result: 4242,
    };
    note(
        "reply_not_an_errno",
        with(
            &dev,
            abi::HOST_IOC_REPLY,
            abi::HostReply {
                result: -5000,
                ..reply
            },
        )
        .0,
    );
    note(
        "reply_call_again",
        with(
            &dev,
            abi::HOST_IOC_REPLY,
            abi::HostReply {
                result: abi::CALL_AGAIN,
                ..reply
            },
        )
        .0,
    );
    note("reply", with(&dev, abi::HOST_IOC_REPLY, reply).0);
    note("reply_twice", with(&dev, abi::HOST_IOC_REPLY, reply).0);
    note(
        "read_after_reply",
        with(&dev, abi::HOST_IOC_GUEST_READ, copy(call.arg, bufp, 1)).0,
    );
    println!("text: {text}");
    Ok(out)
}
