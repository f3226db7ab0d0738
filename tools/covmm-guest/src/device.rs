// SPDX-License-Identifier: GPL-2.0

//! `/dev/covmm-guest`, the guest-rvmrpc device: safe wrappers over its ioctls.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use covmm_abi::{self as abi, IntoBytes};

extern "C" {
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

/// An open guest device. Handles bound through it die with it.
pub struct Device(File);

impl Device {
    /// Opens the device node at `path`.
    pub fn open(path: &Path) -> io::Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(Self)
    }

    /// Runs ioctl `cmd` whose argument is `arg` itself (read and written).
    fn ioctl_struct<T: IntoBytes + abi::FromBytes>(&self, cmd: u32, arg: &mut T) -> io::Result<()> {
        let bytes = arg.as_mut_bytes();
        // SAFETY: every `T` used here is the exact struct that `cmd` encodes
        // (the ABI crate derives both), and `bytes` is live and writable for
        // the call.
        let rc = unsafe { ioctl(self.0.as_raw_fd(), cmd as _, bytes.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Pings the host; returns the raw result.
    pub fn ping(&self, cookie: u64) -> io::Result<abi::GuestPing> {
        let mut arg = abi::GuestPing {
            abi_major: abi::ABI_MAJOR,
            cookie,
            ..Default::default()
        };
        self.ioctl_struct(abi::GUEST_IOC_PING, &mut arg)?;
        Ok(arg)
    }

    /// Binds to host server `name`, `version`.
    pub fn bind(&self, name: &[u8], version: u32) -> io::Result<u64> {
        let name = abi::encode_server_name(name)
            .ok_or_else(|| io::Error::from_raw_os_error(abi::errno::EINVAL as i32))?;
        let mut arg = abi::GuestBind {
            name,
            version,
            flags: 0,
            handle: 0,
        };
        self.ioctl_struct(abi::GUEST_IOC_BIND, &mut arg)?;
        Ok(arg.handle)
    }

    /// Releases `handle`.
    pub fn unbind(&self, handle: u64) -> io::Result<()> {
        // SAFETY: `GUEST_IOC_UNBIND` takes the handle by value.
        let rc = unsafe { ioctl(self.0.as_raw_fd(), abi::GUEST_IOC_UNBIND as _, handle) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Calls `func` of the server behind `handle` with `buf` as argument; the
    /// server may write `buf` if `write`. Returns the server's result.
    pub fn perform(&self, handle: u64, func: u32, buf: &mut [u8], write: bool) -> io::Result<i64> {
        let mut arg = abi::GuestPerform {
            handle,
            func,
            flags: if write { abi::PERFORM_WRITE } else { 0 },
            buf: buf.as_mut_ptr() as u64,
            len: buf.len() as u64,
            result: 0,
        };
        self.ioctl_struct(abi::GUEST_IOC_PERFORM, &mut arg)?;
        Ok(arg.result)
    }

    /// Issues raw CoVMM hypercall `op`; `payload`, if not empty, lands in
    /// guest kernel memory and its address replaces argument `payload_arg`.
    pub fn hypercall(
        &self,
        op: u32,
        args: [u64; 4],
        payload: &[u8],
        payload_arg: u64,
    ) -> io::Result<i64> {
        let mut arg = abi::GuestHypercall {
            op: op.into(),
            args,
            payload: payload.as_ptr() as u64,
            payload_len: payload.len() as u64,
            payload_arg,
            result: 0,
        };
        self.ioctl_struct(abi::GUEST_IOC_HYPERCALL, &mut arg)?;
        Ok(arg.result)
    }
}
