// SPDX-License-Identifier: GPL-2.0

//! Reverse VMRPC from host user space: the VMs the caller owns, and calls
//! into their guest kernels' services, through `/dev/covmm`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use covmm_abi as abi;

use crate::server::{ioctl_struct, DEVICE};

/// Why a request failed, worded for the person who made it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No device: host-vmrpc is not loaded.
    #[error("{0} does not exist: host-vmrpc is not loaded (insmod host_vmrpc.ko, after kvm)")]
    NotLoaded(String),
    /// The device exists but this user may not open it.
    #[error("cannot open {0}: permission denied (see tools/udev/60-covmm.rules)")]
    DeviceDenied(String),
    /// Not the VM's owner.
    #[error("VM {0}: permission denied (it belongs to another user)")]
    Denied(i32),
    /// No such process.
    #[error("no such VM: no process {0}")]
    NoProcess(i32),
    /// The process runs no VM CoVMM knows.
    #[error("process {0} runs no VM known to CoVMM (is guest-rvmrpc loaded in its guest?)")]
    NoVm(i32),
    /// The guest runs no Reverse VMRPC server.
    #[error("VM {0}: the guest runs no Reverse VMRPC server (load guest-rvmrpc in the guest)")]
    NoServer(i32),
    /// The guest did not answer in time.
    #[error("VM {0}: the guest did not answer in time")]
    Timeout(i32),
    /// The process has no KVM VM open.
    #[error("process {0} runs no KVM virtual machine")]
    NoKvm(i32),
    /// The I/O monitor was never turned on for the VM.
    #[error("VM {0}: the I/O monitor was never turned on (covmm iomon {0} on)")]
    NotMonitored(i32),
    /// The kernel refused an I/O monitor filter.
    #[error("VM {0}: the filter was refused: {1}")]
    BadFilter(i32, &'static str),
    /// Too many VMs are monitored at once.
    #[error("VM {0}: too many VMs are monitored already (at most 64); turn one off")]
    TooManyMonitored(i32),
    /// The VM already exports a directory under that tag.
    #[error("VM {0}: tag {1:?} is exported already (covmm unexport {0} {1} first)")]
    ExportExists(i32, String),
    /// No export of that tag.
    #[error("VM {0}: no export tagged {1:?} (covmm exports {0} lists them)")]
    NoExport(i32, String),
    /// The directory to export does not exist (for the VM's user).
    #[error("{0}: no such directory (for the VM's user)")]
    NoSuchDir(String),
    /// The guest has no such service.
    #[error("VM {vm}: the guest has no service {service:?}")]
    NoService {
        /// The VM.
        vm: i32,
        /// The service asked for.
        service: String,
    },
    /// Anything else.
    #[error("VM {vm}: {op}: {source}")]
    Io {
        /// The VM, or 0.
        vm: i32,
        /// The operation.
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
}

impl Error {
    fn from_call(vm: i32, op: &'static str, e: io::Error) -> Self {
        const ENOTCONN: i32 = 107;
        const ETIMEDOUT: i32 = 110;
        match e.raw_os_error().map(i64::from) {
            Some(abi::errno::EACCES) => Error::Denied(vm),
            Some(abi::errno::ESRCH) => Error::NoProcess(vm),
            Some(abi::errno::ENOENT) => Error::NoVm(vm),
            Some(n) if n == i64::from(ENOTCONN) => Error::NoServer(vm),
            Some(n) if n == i64::from(ETIMEDOUT) => Error::Timeout(vm),
            _ => Error::Io { vm, op, source: e },
        }
    }

    /// Errors of the I/O monitor's ioctls, which give some errnos their own
    /// meaning.
    pub(crate) fn from_iomon(vm: i32, op: &'static str, e: io::Error) -> Self {
        const ENODATA: i32 = 61;
        const ERANGE: i32 = 34;
        match e.raw_os_error() {
            Some(ENODATA) => Error::NotMonitored(vm),
            Some(n) if i64::from(n) == abi::errno::ENOENT => Error::NoKvm(vm),
            Some(n) if i64::from(n) == abi::errno::EBUSY => Error::TooManyMonitored(vm),
            Some(ERANGE) => Error::BadFilter(vm, "a range is out of bounds"),
            Some(n) if i64::from(n) == abi::errno::E2BIG => {
                Error::BadFilter(vm, "more than 8 port/mmio ranges")
            }
            _ => Error::from_call(vm, op, e),
        }
    }
}

/// An open `/dev/covmm`.
pub struct Host {
    pub(crate) file: File,
}

impl Host {
    /// Opens [`DEVICE`].
    pub fn open() -> Result<Self, Error> {
        Self::open_at(Path::new(DEVICE))
    }

    /// Opens the device node at `path`.
    pub fn open_at(path: &Path) -> Result<Self, Error> {
        let shown = path.display().to_string();
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Ok(Self { file }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotLoaded(shown)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Err(Error::DeviceDenied(shown))
            }
            Err(source) => Err(Error::Io {
                vm: 0,
                op: "open the device",
                source,
            }),
        }
    }

    /// The VMs this user owns (all of them for `CAP_SYS_ADMIN`).
    pub fn list(&self) -> Result<Vec<abi::HostVmInfo>, Error> {
        let mut room = 16;
        loop {
            let mut vms = vec![abi::HostVmInfo::default(); room];
            let mut req = abi::HostListVms {
                vms: vms.as_mut_ptr() as u64,
                capacity: room as u32,
                count: 0,
            };
            ioctl_struct(&self.file, abi::HOST_IOC_LIST_VMS, &mut req)
                .map_err(|e| Error::from_call(0, "list VMs", e))?;
            if (req.count as usize) <= room {
                vms.truncate(req.count as usize);
                return Ok(vms);
            }
            room = req.count as usize;
        }
    }

    /// Calls function `func` of guest service `service` in VM `vm` with
    /// `input`; returns the response.
    pub fn call(&self, vm: i32, service: &str, func: u32, input: &[u8]) -> Result<Vec<u8>, Error> {
        let name = abi::encode_server_name(service.as_bytes()).ok_or_else(|| Error::Io {
            vm,
            op: "name a service",
            source: io::Error::from_raw_os_error(abi::errno::EINVAL as i32),
        })?;
        let mut out = vec![0u8; abi::RV_MAX_BUF as usize];
        let mut req = abi::HostRvCall {
            vm_pid: vm,
            func,
            service: name,
            input: input.as_ptr() as u64,
            in_len: u32::try_from(input.len()).unwrap_or(u32::MAX),
            out_len: out.len() as u32,
            output: out.as_mut_ptr() as u64,
            flags: 0,
            pad: 0,
        };
        match ioctl_struct(&self.file, abi::HOST_IOC_RV_CALL, &mut req) {
            Ok(()) => {
                out.truncate(req.out_len as usize);
                Ok(out)
            }
            Err(e)
                if e.raw_os_error() == Some(abi::errno::ENOENT as i32)
                    && self.stats(vm).is_ok() =>
            {
                Err(Error::NoService {
                    vm,
                    service: service.into(),
                })
            }
            Err(e) => Err(Error::from_call(vm, "call the guest", e)),
        }
    }

    /// Sets how long calls to VM `vm` wait for its guest.
    pub fn set_timeout(&self, vm: i32, timeout_ms: u32) -> Result<(), Error> {
        let mut req = abi::HostRvTimeout {
            vm_pid: vm,
            timeout_ms,
        };
        ioctl_struct(&self.file, abi::HOST_IOC_RV_SET_TIMEOUT, &mut req)
            .map_err(|e| Error::from_call(vm, "set the timeout", e))
    }

    /// VM `vm`'s Reverse VMRPC state and counters.
    pub fn stats(&self, vm: i32) -> Result<abi::HostRvStats, Error> {
        let mut req = abi::HostRvStats {
            vm_pid: vm,
            ..Default::default()
        };
        ioctl_struct(&self.file, abi::HOST_IOC_RV_STATS, &mut req)
            .map_err(|e| Error::from_call(vm, "read the counters", e))?;
        Ok(req)
    }
}

/// One export of a VM, as [`Host::hlfs_exports`] lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportInfo {
    /// The tag the guest mounts.
    pub tag: String,
    /// The host directory (cut at 255 bytes).
    pub path: String,
    /// Read-only.
    pub read_only: bool,
    /// Guest mounts of it now.
    pub mounts: u32,
    /// Node handles they hold.
    pub nodes: u64,
    /// Files they have open.
    pub files: u64,
}

fn nul_str(field: &[u8]) -> String {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

impl Host {
    /// Exports host directory `path` (absolute) to VM `vm` under `tag`.
    pub fn hlfs_export(
        &self,
        vm: i32,
        tag: &str,
        path: &str,
        read_only: bool,
        uids: abi::hlfs::IdMap,
        gids: abi::hlfs::IdMap,
    ) -> Result<(), Error> {
        let bad = |what| Error::Io {
            vm,
            op: what,
            source: io::Error::from_raw_os_error(abi::errno::EINVAL as i32),
        };
        let tag_field = abi::hlfs::encode_tag(tag.as_bytes()).ok_or_else(|| bad("use that tag"))?;
        if !path.starts_with('/') {
            return Err(bad("export a relative path"));
        }
        let mut req = abi::hlfs::HostHlfsExport {
            vm_pid: vm,
            flags: if read_only { abi::hlfs::EXPORT_RO } else { 0 },
            tag: tag_field,
            path: path.as_ptr() as u64,
            path_len: u32::try_from(path.len()).unwrap_or(u32::MAX),
            pad: 0,
            uids,
            gids,
        };
        ioctl_struct(&self.file, abi::hlfs::HOST_IOC_HLFS_EXPORT, &mut req).map_err(|e| {
            if e.raw_os_error() == Some(abi::errno::EEXIST as i32) {
                Error::ExportExists(vm, tag.into())
            } else if e.raw_os_error() == Some(abi::errno::ENOENT as i32) {
                Error::NoSuchDir(path.into())
            } else {
                Error::from_call(vm, "export the directory", e)
            }
        })
    }

    /// Withdraws export `tag` of VM `vm`.
    pub fn hlfs_unexport(&self, vm: i32, tag: &str) -> Result<(), Error> {
        let tag_field =
            abi::hlfs::encode_tag(tag.as_bytes()).ok_or(Error::NoExport(vm, tag.into()))?;
        let mut req = abi::hlfs::HostHlfsUnexport {
            vm_pid: vm,
            pad: 0,
            tag: tag_field,
        };
        ioctl_struct(&self.file, abi::hlfs::HOST_IOC_HLFS_UNEXPORT, &mut req).map_err(|e| {
            if e.raw_os_error() == Some(abi::errno::ENOENT as i32) {
                Error::NoExport(vm, tag.into())
            } else {
                Error::from_call(vm, "withdraw the export", e)
            }
        })
    }

    /// The exports of VM `vm`.
    pub fn hlfs_exports(&self, vm: i32) -> Result<Vec<ExportInfo>, Error> {
        let mut room = 16;
        loop {
            let mut entries: Vec<abi::hlfs::HostHlfsExportInfo> =
                (0..room).map(|_| abi::FromZeros::new_zeroed()).collect();
            let mut req = abi::hlfs::HostHlfsList {
                vm_pid: vm,
                capacity: room as u32,
                entries: entries.as_mut_ptr() as u64,
                count: 0,
                pad: 0,
            };
            ioctl_struct(&self.file, abi::hlfs::HOST_IOC_HLFS_LIST, &mut req)
                .map_err(|e| Error::from_call(vm, "list the exports", e))?;
            if (req.count as usize) <= room {
                entries.truncate(req.count as usize);
                return Ok(entries
                    .iter()
                    .map(|e| ExportInfo {
                        tag: nul_str(&e.tag),
                        path: nul_str(&e.path),
                        read_only: e.flags & abi::hlfs::EXPORT_RO != 0,
                        mounts: e.mounts,
                        nodes: e.nodes,
                        files: e.files,
                    })
                    .collect());
            }
            room = req.count as usize;
        }
    }
}
