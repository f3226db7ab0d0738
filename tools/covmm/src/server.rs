// SPDX-License-Identifier: GPL-2.0

//! VMRPC servers in host user space.
//!
//! A [`Server`] is an open `/dev/covmm` registered under a name and version
//! for the guests of one VMM process. Each [`Call`] it hands out names the
//! guest memory the guest exposed for that call; [`Call::read`] and
//! [`Call::write`] reach it by guest address, so pointers inside a request
//! work. Every call ends with exactly one reply: [`Call::reply`], or an `EIO`
//! reply when a `Call` is dropped unanswered, so a guest never waits for a
//! server that forgot it.
//!
//! Several threads may serve one `Server` at once (`&Server` is `Sync`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use covmm_abi::{self as abi, FromBytes, IntoBytes};

/// The host device.
pub const DEVICE: &str = "/dev/covmm";

extern "C" {
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

/// A Linux errno to send to a guest as a call's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(abi::errno::EINVAL as i32);
    /// Bad address.
    pub const EFAULT: Errno = Errno(abi::errno::EFAULT as i32);
    /// Argument too long.
    pub const E2BIG: Errno = Errno(abi::errno::E2BIG as i32);
    /// Input/output error.
    pub const EIO: Errno = Errno(abi::errno::EIO as i32);
    /// Function not implemented: an unknown function number.
    pub const ENOSYS: Errno = Errno(abi::errno::ENOSYS as i32);
}

/// Why a server operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device could not be opened (is host-vmrpc loaded? may this user
    /// open it?).
    #[error("cannot open {path}: {source}")]
    Open {
        /// The device path.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The name or version is not acceptable.
    #[error("invalid server name {0:?}")]
    Name(String),
    /// Registration refused: `EACCES` (not the VM's owner), `ESRCH` (no such
    /// process), `EEXIST` (the VM has such a server already).
    #[error("cannot register server {name} v{version} for pid {vm_pid}: {source}")]
    Register {
        /// Server name.
        name: String,
        /// Server version.
        version: u32,
        /// The VMM process.
        vm_pid: i32,
        /// What the kernel said.
        source: io::Error,
    },
    /// The VMM process has exited; its servers are gone.
    #[error("the VM has gone")]
    VmGone,
    /// Any other failing operation.
    #[error("{op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
}

impl Error {
    fn io(op: &'static str, source: io::Error) -> Self {
        Self::Io { op, source }
    }
}

impl From<Error> for Errno {
    /// What a guest should see when serving its call failed on the host:
    /// its own bad address, or a host failure.
    fn from(e: Error) -> Errno {
        match e {
            Error::Io { source, .. } => Errno(source.raw_os_error().unwrap_or(Errno::EIO.0)),
            _ => Errno::EIO,
        }
    }
}

/// Runs ioctl `cmd` of `/dev/covmm` on `file` with `arg` as its argument
/// struct (also used by [`crate::host`]).
pub(crate) fn ioctl_struct<T: IntoBytes + FromBytes>(
    file: &File,
    cmd: u32,
    arg: &mut T,
) -> io::Result<()> {
    let bytes = arg.as_mut_bytes();
    // SAFETY: each `T` passed here is the struct `cmd` encodes (both come
    // from the ABI crate), and `bytes` is live and writable for the call;
    // any pointers inside `T` name live buffers of the stated lengths.
    let rc = unsafe { ioctl(file.as_raw_fd(), cmd as _, bytes.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A registered VMRPC server. Dropping it unregisters the server; calls
/// still open get `ESHUTDOWN`.
pub struct Server {
    file: File,
}

impl Server {
    /// Registers server `name` version `version` for the guests of the VMM
    /// process `vm_pid`, through [`DEVICE`].
    pub fn register(vm_pid: i32, name: &str, version: u32) -> Result<Self, Error> {
        Self::register_at(Path::new(DEVICE), vm_pid, name, version)
    }

    /// As [`Server::register`], through the device node at `path`.
    pub fn register_at(path: &Path, vm_pid: i32, name: &str, version: u32) -> Result<Self, Error> {
        let encoded =
            abi::encode_server_name(name.as_bytes()).ok_or_else(|| Error::Name(name.into()))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| Error::Open {
                path: path.into(),
                source,
            })?;
        let mut req = abi::HostServerRegister {
            name: encoded,
            version,
            flags: 0,
            vm_pid,
            pad: 0,
        };
        ioctl_struct(&file, abi::HOST_IOC_SERVER_REGISTER, &mut req).map_err(|source| {
            Error::Register {
                name: name.into(),
                version,
                vm_pid,
                source,
            }
        })?;
        Ok(Self { file })
    }

    /// Waits for the next call. A signal makes it return
    /// `io::ErrorKind::Interrupted` (inside [`Error::Io`]); [`Error::VmGone`]
    /// once the VMM has exited.
    pub fn next_call(&self) -> Result<Call<'_>, Error> {
        let mut header = abi::HostCall::default();
        match ioctl_struct(&self.file, abi::HOST_IOC_SERVER_WAIT, &mut header) {
            Ok(()) => Ok(Call {
                server: self,
                header,
                replied: false,
            }),
            Err(e) if e.raw_os_error() == Some(abi::errno::ENODEV as i32) => Err(Error::VmGone),
            Err(e) => Err(Error::io("wait for a call", e)),
        }
    }

    /// Serves calls with `handler` until the VM goes (`Ok`) or the device
    /// fails. The handler's `Ok(n)` is the guest's result; its `Err` is sent
    /// as a negated errno. Interrupted waits are retried.
    pub fn serve(
        &self,
        mut handler: impl FnMut(&Call<'_>) -> Result<u64, Errno>,
    ) -> Result<(), Error> {
        loop {
            let call = match self.next_call() {
                Ok(call) => call,
                Err(Error::VmGone) => return Ok(()),
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::Interrupted => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let result = handler(&call);
            match call.reply(result) {
                // The guest gave up on the call meanwhile (ECANCELED): not
                // the server's failure.
                Err(Error::Io { source, .. })
                    if source.raw_os_error() == Some(abi::errno::ECANCELED as i32) => {}
                r => r?,
            }
        }
    }
}

/// One guest call, taken by a server and not yet answered.
pub struct Call<'a> {
    server: &'a Server,
    header: abi::HostCall,
    replied: bool,
}

impl Call<'_> {
    /// The server function the guest called.
    pub fn func(&self) -> u32 {
        self.header.func
    }

    /// The calling vCPU.
    pub fn vcpu(&self) -> u32 {
        self.header.vcpu
    }

    /// Guest address of the request.
    pub fn arg(&self) -> u64 {
        self.header.arg
    }

    /// Length of the request, as the guest gave it.
    pub fn arg_len(&self) -> u64 {
        self.header.arg_len
    }

    fn copy(&self, cmd: u32, gva: u64, buf: *const u8, len: usize) -> io::Result<()> {
        let mut req = abi::HostGuestCopy {
            call_id: self.header.call_id,
            gva,
            buf: buf as u64,
            len: len as u64,
        };
        ioctl_struct(&self.server.file, cmd, &mut req)
    }

    /// Copies `buf.len()` bytes at guest address `gva` into `buf`. `EFAULT`
    /// if they are not all in memory the guest exposed for this call.
    pub fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.copy(abi::HOST_IOC_GUEST_READ, gva, buf.as_mut_ptr(), buf.len())
            .map_err(|e| Error::io("read guest memory", e))
    }

    /// Copies `buf` to guest address `gva`, which the guest must have
    /// exposed as writable.
    pub fn write(&self, gva: u64, buf: &[u8]) -> Result<(), Error> {
        self.copy(abi::HOST_IOC_GUEST_WRITE, gva, buf.as_ptr(), buf.len())
            .map_err(|e| Error::io("write guest memory", e))
    }

    /// Reads the whole request, refusing one longer than `max` bytes with
    /// `E2BIG`.
    pub fn read_arg(&self, max: usize) -> Result<Vec<u8>, Errno> {
        let len = usize::try_from(self.arg_len())
            .ok()
            .filter(|&n| n <= max)
            .ok_or(Errno::E2BIG)?;
        let mut buf = vec![0; len];
        self.read(self.arg(), &mut buf)?;
        Ok(buf)
    }

    /// The address of guest byte `gva` in the VMM process (useful only to a
    /// server that is the VMM itself).
    pub fn hva(&self, gva: u64, write: bool) -> Result<u64, Error> {
        let mut req = abi::HostGetHva {
            call_id: self.header.call_id,
            gva,
            write: write.into(),
            ..Default::default()
        };
        ioctl_struct(&self.server.file, abi::HOST_IOC_GET_HVA, &mut req)
            .map_err(|e| Error::io("translate a guest address", e))?;
        Ok(req.hva)
    }

    /// Ends the call. `ECANCELED` (in [`Error::Io`]) means the guest gave up
    /// on it meanwhile.
    pub fn reply(mut self, result: Result<u64, Errno>) -> Result<(), Error> {
        self.replied = true;
        self.send(result)
    }

    fn send(&self, result: Result<u64, Errno>) -> Result<(), Error> {
        let mut req = abi::HostReply {
            call_id: self.header.call_id,
            result: encode_result(result),
        };
        ioctl_struct(&self.server.file, abi::HOST_IOC_REPLY, &mut req)
            .map_err(|e| Error::io("reply", e))
    }
}

/// The guest's RAX for a handler's result: a value above `i64::MAX` is
/// `EINVAL`, and an errno outside 1..=[`abi::MAX_ERRNO`] is `EIO`, so the kernel never
/// refuses a reply.
fn encode_result(result: Result<u64, Errno>) -> i64 {
    let errno = match result {
        Ok(n) => match i64::try_from(n) {
            Ok(n) => return n,
            Err(_) => Errno::EINVAL,
        },
        Err(e) if (1..=abi::MAX_ERRNO).contains(&i64::from(e.0)) => e,
        Err(_) => Errno::EIO,
    };
    -i64::from(errno.0)
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.replied {
            let _ = self.send(Err(Errno::EIO));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_always_acceptable_to_the_kernel() {
        assert_eq!(encode_result(Ok(42)), 42);
        assert_eq!(encode_result(Ok(i64::MAX as u64)), i64::MAX);
        assert_eq!(encode_result(Ok(u64::MAX)), -abi::errno::EINVAL);
        assert_eq!(encode_result(Err(Errno::EFAULT)), -abi::errno::EFAULT);
        assert_eq!(encode_result(Err(Errno(0))), -abi::errno::EIO);
        assert_eq!(encode_result(Err(Errno(-3))), -abi::errno::EIO);
        assert_eq!(encode_result(Err(Errno(5000))), -abi::errno::EIO);
        for r in [Ok(0), Ok(u64::MAX), Err(Errno(0)), Err(Errno(4095))] {
            assert!(abi::valid_result(encode_result(r)));
        }
    }

    #[test]
    fn failed_accesses_reach_the_guest_as_their_errno() {
        let e = Error::io("read guest memory", io::Error::from_raw_os_error(14));
        assert_eq!(Errno::from(e), Errno::EFAULT);
        assert_eq!(Errno::from(Error::VmGone), Errno::EIO);
    }

    #[test]
    fn bad_names_are_refused_before_the_device_is_opened() {
        let r = Server::register_at(Path::new("/nonexistent"), 1, "bad name", 1);
        assert!(matches!(r, Err(Error::Name(_))));
    }
}
