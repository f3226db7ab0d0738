// SPDX-License-Identifier: GPL-2.0

//! `/dev/covmm`, host-vmrpc's device for user space.
//!
//! Reverse VMRPC, for VMs the caller owns (the VMM's uid, or
//! `CAP_SYS_ADMIN`; `EACCES` otherwise, `ESRCH` for no such process,
//! `ENOENT` if the process runs no VM known to CoVMM):
//! - `HOST_IOC_LIST_VMS` lists them;
//! - `HOST_IOC_RV_CALL` calls a guest service (`rvmrpc.rs` lists its errors);
//! - `HOST_IOC_RV_SET_TIMEOUT` and `HOST_IOC_RV_STATS`.
//!
//! The guest I/O request monitor (`iomon.rs`), for the same owners:
//! - `HOST_IOC_IOMON_SET` turns it on (registering a VM that never made a
//!   CoVMM call, found among the VMM's open files; `ENOENT` if it has none)
//!   or off; a refused filter gets `EINVAL`, `ERANGE` or `E2BIG`;
//! - `HOST_IOC_IOMON_READ` takes records from the trace ring (blocking
//!   unless `IOMON_READ_NONBLOCK` or `O_NONBLOCK`; for a batch with
//!   `IOMON_READ_BATCH`);
//! - `HOST_IOC_IOMON_STATS` copies the aggregates.
//!
//! Both fail with `ENODATA` for a VM that was never monitored.
//!
//! hlfs exports (`hlfs.rs`), for the same owners: `HOST_IOC_HLFS_EXPORT`
//! (registering the VM as the I/O monitor does; `EEXIST` for a tag in use,
//! `EINVAL` for a bad tag, path or id map, the host's errno if the owner
//! cannot reach the directory), `HOST_IOC_HLFS_UNEXPORT` (`ENOENT`) and
//! `HOST_IOC_HLFS_LIST`.
//!
//! And VMRPC servers in host user space (`userserver.rs`), one per open
//! file:
//! - `HOST_IOC_SERVER_REGISTER` makes the file a server for the guests of one
//!   VMM process. The caller must own that process (same uid as the VMM) or
//!   have `CAP_SYS_ADMIN`: `EACCES` otherwise, `ESRCH` if there is no such
//!   process, `EEXIST` if the VM has a server of that name and version.
//! - `HOST_IOC_SERVER_WAIT` takes the next call (several threads may wait);
//! - `HOST_IOC_GUEST_READ`, `HOST_IOC_GUEST_WRITE` and `HOST_IOC_GET_HVA`
//!   reach the guest memory a taken call exposes, by guest address;
//! - `HOST_IOC_REPLY` ends a call.
//!
//! Closing the file unregisters the server; open calls get `ESHUTDOWN`. When
//! the VMM exits, the server goes too and `SERVER_WAIT` returns `ENODEV`.
//!
//! The node is root-only (mode 0600, the misc default). A distribution lets
//! VM owners in with a udev rule, as it does for `/dev/kvm`; see
//! `tools/udev/60-covmm.rules`.

use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    uaccess::{UserPtr, UserSlice, UserSliceWriter},
};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use kernel::alloc::KVVec;

use crate::abi;
use crate::abi::hlfs as fs;
use crate::abi::iomon as io;
use crate::iomon::ReadWait;
use crate::kvm::{self, OwnedProcess};
use crate::rvmrpc::Status;
use crate::server::{Dispatch, Server};
use crate::userserver::{UserCall, UserServer};
use crate::vm::Vm;

/// Bytes moved per step of a guest copy.
const STEP: usize = 4096;

/// The registered device.
pub(crate) fn register() -> impl PinInit<MiscDeviceRegistration<HostDevice>, Error> {
    MiscDeviceRegistration::register(MiscDeviceOptions { name: c"covmm" })
}

/// A server registered on an open file.
struct Served {
    server: Arc<Server>,
    queue: Arc<UserServer>,
}

/// One open file of `/dev/covmm`.
#[pin_data(PinnedDrop)]
pub(crate) struct HostDevice {
    #[pin]
    served: Mutex<Option<Served>>,
}

#[pinned_drop]
impl PinnedDrop for HostDevice {
    fn drop(self: Pin<&mut Self>) {
        let Some(served) = self.served.lock().take() else {
            return;
        };
        // Fail the open calls first, so unregistering waits for nobody.
        served.queue.close(ESHUTDOWN);
        if let Ok(host) = kvm::host() {
            host.servers.unregister(&served.server);
        }
    }
}

/// Reads an ioctl argument of type `T` and returns a writer for the reply.
fn read_arg<T: FromBytes + IntoBytes>(arg: usize) -> Result<(T, UserSliceWriter)> {
    let slice = UserSlice::new(UserPtr::from_addr(arg), size_of::<T>());
    let (mut reader, writer) = slice.reader_writer();
    let mut value = T::new_zeroed();
    reader.read_slice(value.as_mut_bytes())?;
    Ok((value, writer))
}

impl HostDevice {
    fn queue(&self) -> Result<Arc<UserServer>> {
        let served = self.served.lock();
        Ok(served.as_ref().ok_or(ENXIO)?.queue.clone())
    }

    fn call(&self, id: u64) -> Result<Arc<UserCall>> {
        self.queue()?.taken(id)
    }

    fn register(&self, arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<abi::HostServerRegister>(arg)?;
        if req.flags != 0 || req.pad != 0 {
            return Err(EINVAL);
        }
        let name = abi::server_name(&req.name).map_err(|_| EINVAL)?;
        let mut served = self.served.lock();
        if served.is_some() {
            return Err(EBUSY);
        }
        let owner = OwnedProcess::find(req.vm_pid)?;
        let queue = UserServer::new()?;
        let server = Server::for_vm(
            name,
            req.version,
            Dispatch::User(queue.clone()),
            Some(owner.watch()?),
        )?;
        kvm::host()?.servers.register(server.clone())?;
        *served = Some(Served { server, queue });
        Ok(0)
    }

    fn wait(&self, file: &File, arg: usize) -> Result<isize> {
        let nonblock = file.flags() & kernel::fs::file::flags::O_NONBLOCK != 0;
        let mut writer =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<abi::HostCall>()).writer();
        let queue = self.queue()?;
        let call = queue.take(nonblock)?;
        if let Err(e) = writer.write_slice(call.header().as_bytes()) {
            // Nobody learnt the call's id: it goes back to the front.
            queue.untake(call);
            return Err(e);
        }
        Ok(0)
    }

    /// `HOST_IOC_GUEST_READ` (`to_guest` false) and `HOST_IOC_GUEST_WRITE`.
    fn copy(&self, arg: usize, to_guest: bool) -> Result<isize> {
        let (req, _) = read_arg::<abi::HostGuestCopy>(arg)?;
        if req.len > abi::MAX_CALL_BYTES {
            return Err(E2BIG);
        }
        req.gva.checked_add(req.len).ok_or(EFAULT)?;
        let call = self.call(req.call_id)?;
        let user = UserSlice::new(UserPtr::from_addr(req.buf as usize), req.len as usize);
        let (mut reader, mut writer) = user.reader_writer();
        let mut buf = KVec::from_elem(0u8, STEP.min(req.len as usize), GFP_KERNEL)?;
        let mut at = 0;
        while at < req.len {
            let n = (req.len - at).min(STEP as u64) as usize;
            let piece = &mut buf[..n];
            if to_guest {
                reader.read_slice(piece)?;
                call.copy_to_guest(req.gva + at, piece)?;
            } else {
                call.copy_from_guest(piece, req.gva + at)?;
                writer.write_slice(piece)?;
            }
            at += n as u64;
        }
        Ok(0)
    }

    fn get_hva(&self, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<abi::HostGetHva>(arg)?;
        if req.write > 1 || req.pad != 0 {
            return Err(EINVAL);
        }
        req.hva = self.call(req.call_id)?.get_hva(req.gva, req.write == 1)? as u64;
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    /// The VM of VMM `pid`, if the caller owns it.
    fn owned_vm(pid: i32) -> Result<Arc<Vm>> {
        OwnedProcess::find(pid)?;
        kvm::host()?.vms.find_by_pid(pid).ok_or(ENOENT)
    }

    fn list_vms(arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<abi::HostListVms>(arg)?;
        let room = (req.capacity as usize).min(1024);
        let mut out = UserSlice::new(
            UserPtr::from_addr(req.vms as usize),
            room * size_of::<abi::HostVmInfo>(),
        )
        .writer();
        let mut count = 0u32;
        for pid in kvm::host()?.vms.pids()? {
            let Ok(vm) = Self::owned_vm(pid) else {
                continue;
            };
            if (count as usize) < room {
                let Status {
                    slots,
                    busy,
                    queued,
                    stats,
                    ..
                } = vm.rv.status();
                let info = abi::HostVmInfo {
                    pid,
                    slots: slots as u32,
                    busy: busy as u32,
                    queued: queued as u32,
                    calls: stats.calls,
                    errors: stats.errors,
                    timeouts: stats.timeouts,
                };
                out.write_slice(info.as_bytes())?;
            }
            count += 1;
        }
        req.count = count;
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    fn rv_call(arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<abi::HostRvCall>(arg)?;
        if req.flags != 0 || req.pad != 0 {
            return Err(EINVAL);
        }
        let service = abi::server_name(&req.service).map_err(|_| EINVAL)?;
        if req.in_len > abi::RV_MAX_BUF {
            return Err(E2BIG);
        }
        let vm = Self::owned_vm(req.vm_pid)?;
        let mut input = KVVec::from_elem(0u8, req.in_len as usize, GFP_KERNEL)?;
        UserSlice::new(UserPtr::from_addr(req.input as usize), input.len())
            .reader()
            .read_slice(&mut input)?;
        let room = (req.out_len as usize).min(abi::RV_MAX_BUF as usize);
        let response = vm.rv.call(service, req.func, &input, room)?;
        UserSlice::new(UserPtr::from_addr(req.output as usize), response.len())
            .writer()
            .write_slice(&response)?;
        req.out_len = response.len() as u32;
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    fn rv_set_timeout(arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<abi::HostRvTimeout>(arg)?;
        Self::owned_vm(req.vm_pid)?.rv.set_timeout(req.timeout_ms)?;
        Ok(0)
    }

    fn rv_stats(arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<abi::HostRvStats>(arg)?;
        let st = Self::owned_vm(req.vm_pid)?.rv.status();
        req = abi::HostRvStats {
            vm_pid: req.vm_pid,
            slots: st.slots as u32,
            busy: st.busy as u32,
            queued: st.queued as u32,
            timeout_ms: st.timeout_ms,
            pad: 0,
            calls: st.stats.calls,
            errors: st.stats.errors,
            timeouts: st.stats.timeouts,
            latency: st.stats.hist,
        };
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    /// The VM of VMM `pid` as the I/O monitor sees it: known to CoVMM, and
    /// owned by the caller.
    fn monitored_vm(pid: i32) -> Result<Arc<Vm>> {
        let owner = OwnedProcess::find(pid)?;
        kvm::host()?.vms.find_of_process(&owner, pid).ok_or(ENODATA)
    }

    fn iomon_set(arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<io::HostIomonSet>(arg)?;
        if req.pad != 0 || req.enable > 1 || req.ring > io::IOMON_RING_MAX {
            return Err(EINVAL);
        }
        let owner = OwnedProcess::find(req.vm_pid)?;
        let host = kvm::host()?;
        if req.enable == 1 {
            req.filter.validate().map_err(crate::proc::filter_error)?;
            let vm = host.vms.vm_of_process(&owner)?;
            host.iomon.start(&vm, req.filter, req.ring)?;
        } else if let Some(vm) = host.vms.find_of_process(&owner, req.vm_pid) {
            host.iomon.stop(&vm);
        }
        Ok(0)
    }

    fn iomon_read(file: &File, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<io::HostIomonRead>(arg)?;
        if req.flags & !(io::IOMON_READ_NONBLOCK | io::IOMON_READ_BATCH) != 0
            || req.pad != 0
            || req.capacity == 0
            || req.capacity > io::IOMON_READ_MAX
        {
            return Err(EINVAL);
        }
        let cap = Self::monitored_vm(req.vm_pid)?
            .iomon_session()
            .ok_or(ENODATA)?;
        let wait = if req.flags & io::IOMON_READ_NONBLOCK != 0
            || file.flags() & kernel::fs::file::flags::O_NONBLOCK != 0
        {
            ReadWait::Never
        } else if req.flags & io::IOMON_READ_BATCH != 0 {
            ReadWait::Batch
        } else {
            ReadWait::First
        };
        let mut records =
            KVVec::from_elem(io::IoRecord::default(), req.capacity as usize, GFP_KERNEL)?;
        let batch = cap.read(&mut records, wait)?;
        let taken = &records[..batch.count];
        UserSlice::new(
            UserPtr::from_addr(req.records as usize),
            taken.as_bytes().len(),
        )
        .writer()
        .write_slice(taken.as_bytes())?;
        req.count = batch.count as u32;
        req.dropped = batch.dropped;
        req.eof = batch.eof.into();
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    fn iomon_stats(arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<io::HostIomonStats>(arg)?;
        if req.flags != 0 {
            return Err(EINVAL);
        }
        let vm = Self::monitored_vm(req.vm_pid)?;
        let snap = vm.iomon_session().ok_or(ENODATA)?.snapshot()?;
        let entries = &snap.entries[..snap.entries.len().min(req.entries_cap as usize)];
        UserSlice::new(
            UserPtr::from_addr(req.entries as usize),
            entries.as_bytes().len(),
        )
        .writer()
        .write_slice(entries.as_bytes())?;
        let vcpus = &snap.vcpus[..snap.vcpus.len().min(req.vcpus_cap as usize)];
        UserSlice::new(
            UserPtr::from_addr(req.vcpus as usize),
            vcpus.as_bytes().len(),
        )
        .writer()
        .write_slice(vcpus.as_bytes())?;
        let kvm = vm.kvm().exit_counts();
        req.entries_count = snap.entries.len() as u32;
        req.vcpus_count = snap.vcpus.len() as u32;
        req.enabled = snap.enabled.into();
        req.ring = snap.ring;
        req.elapsed_ns = snap.elapsed_ns;
        req.totals = snap.totals;
        req.kvm_exits = kvm.exits;
        req.kvm_io_exits = kvm.io_exits;
        req.kvm_mmio_exits = kvm.mmio_exits;
        req.filter = snap.filter;
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    fn hlfs_export(arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<fs::HostHlfsExport>(arg)?;
        if req.pad != 0 || req.flags & !fs::EXPORT_RO != 0 {
            return Err(EINVAL);
        }
        let tag = fs::tag_of(&req.tag).ok_or(EINVAL)?;
        let len = req.path_len as usize;
        if len == 0 || len > fs::EXPORT_PATH_MAX {
            return Err(EINVAL);
        }
        let mut path = KVec::from_elem(0u8, len + 1, GFP_KERNEL)?;
        UserSlice::new(UserPtr::from_addr(req.path as usize), len)
            .reader()
            .read_slice(&mut path[..len])?;
        let path = CStr::from_bytes_with_nul(&path).map_err(|_| EINVAL)?;
        let owner = OwnedProcess::find(req.vm_pid)?;
        let vm = kvm::host()?.vms.vm_of_process(&owner)?;
        vm.hlfs.export(
            &owner,
            tag,
            path,
            req.flags & fs::EXPORT_RO != 0,
            req.uids,
            req.gids,
        )?;
        Ok(0)
    }

    fn hlfs_unexport(arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<fs::HostHlfsUnexport>(arg)?;
        if req.pad != 0 {
            return Err(EINVAL);
        }
        let tag = fs::tag_of(&req.tag).ok_or(EINVAL)?;
        let owner = OwnedProcess::find(req.vm_pid)?;
        let vm = kvm::host()?
            .vms
            .find_of_process(&owner, req.vm_pid)
            .ok_or(ENOENT)?;
        vm.hlfs.unexport(tag)?;
        Ok(0)
    }

    fn hlfs_list(arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<fs::HostHlfsList>(arg)?;
        if req.pad != 0 {
            return Err(EINVAL);
        }
        let owner = OwnedProcess::find(req.vm_pid)?;
        let exports = match kvm::host()?.vms.find_of_process(&owner, req.vm_pid) {
            Some(vm) => vm.hlfs.list()?,
            None => KVec::new(),
        };
        let room = (req.capacity as usize).min(exports.len());
        let mut out = UserSlice::new(
            UserPtr::from_addr(req.entries as usize),
            room * size_of::<fs::HostHlfsExportInfo>(),
        )
        .writer();
        for e in exports.iter().take(room) {
            let mut info = fs::HostHlfsExportInfo::new_zeroed();
            info.tag[..e.tag.len()].copy_from_slice(&e.tag);
            let path = e.source.to_bytes();
            let n = path.len().min(fs::INFO_PATH_LEN - 1);
            info.path[..n].copy_from_slice(&path[..n]);
            info.flags = if e.read_only { fs::EXPORT_RO } else { 0 };
            info.mounts = e.mounts as u32;
            info.nodes = e.nodes as u64;
            info.files = e.files as u64;
            out.write_slice(info.as_bytes())?;
        }
        req.count = exports.len() as u32;
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    fn reply(&self, arg: usize) -> Result<isize> {
        let (req, _) = read_arg::<abi::HostReply>(arg)?;
        self.queue()?.reply(req.call_id, req.result)?;
        Ok(0)
    }
}

#[vtable]
impl MiscDevice for HostDevice {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(HostDevice {
                served <- new_mutex!(None, "covmm_host_device"),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&HostDevice>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::HOST_IOC_SERVER_REGISTER => me.register(arg),
            abi::HOST_IOC_SERVER_WAIT => me.wait(file, arg),
            abi::HOST_IOC_GUEST_READ => me.copy(arg, false),
            abi::HOST_IOC_GUEST_WRITE => me.copy(arg, true),
            abi::HOST_IOC_GET_HVA => me.get_hva(arg),
            abi::HOST_IOC_REPLY => me.reply(arg),
            abi::HOST_IOC_LIST_VMS => Self::list_vms(arg),
            abi::HOST_IOC_RV_CALL => Self::rv_call(arg),
            abi::HOST_IOC_RV_SET_TIMEOUT => Self::rv_set_timeout(arg),
            abi::HOST_IOC_RV_STATS => Self::rv_stats(arg),
            io::HOST_IOC_IOMON_SET => Self::iomon_set(arg),
            io::HOST_IOC_IOMON_READ => Self::iomon_read(file, arg),
            io::HOST_IOC_IOMON_STATS => Self::iomon_stats(arg),
            fs::HOST_IOC_HLFS_EXPORT => Self::hlfs_export(arg),
            fs::HOST_IOC_HLFS_UNEXPORT => Self::hlfs_unexport(arg),
            fs::HOST_IOC_HLFS_LIST => Self::hlfs_list(arg),
            _ => Err(ENOTTY),
        }
    }
}
