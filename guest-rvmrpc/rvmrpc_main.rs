// SPDX-License-Identifier: GPL-2.0

//! guest-rvmrpc: the guest side of CoVMM.
//!
//! It issues CoVMM hypercalls (defined in `tools/abi/src/wire.rs`) from the
//! guest kernel, offers the VMRPC client (`vmrpc.rs`: bind, perform, unbind)
//! and `/dev/covmm-guest` to guest user space, and runs the Reverse VMRPC
//! server threads through which the host calls guest services
//! (`rvserver.rs`; `servers` threads, 2 by default, 0 for none).
//!
//! The device is root-only (mode 0600, the misc default); an administrator
//! who wants other users to call host servers changes the node's owner or
//! mode, for example with a udev rule. Its ioctls:
//! - `GUEST_IOC_PING` pings the host and returns RAX exactly as the host left
//!   it, so user space can tell a live host-vmrpc (a positive per-VM counter)
//!   from a host without it (`-KVM_ENOSYS`);
//! - `GUEST_IOC_BIND`, `GUEST_IOC_PERFORM` and `GUEST_IOC_UNBIND` call host
//!   servers through a bounce buffer; handles belong to the open file and are
//!   released when it closes;
//! - `GUEST_IOC_HYPERCALL` issues any CoVMM hypercall with raw arguments, for
//!   tests that must hand the host malformed requests. It needs
//!   `CAP_SYS_RAWIO`, as raw memory access does.
//!
//! `hypercall.rs` is the only file with `unsafe`.
//!
//! ```sh
//! insmod guest_rvmrpc.ko
//! covmm-guest ping          # prints e.g. "3 (ok, via vmmcall)"
//! ```

use kernel::{
    alloc::KVVec,
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::Mutex,
    uaccess::{UserPtr, UserSlice},
};
use zerocopy::IntoBytes;

#[allow(dead_code, unreachable_pub)]
#[path = "../tools/abi/src/wire.rs"]
mod abi;
#[allow(dead_code)]
#[path = "../include/covmm/guest_api.rs"]
mod guest_api;
mod hypercall;
mod rvserver;
mod vmrpc;

use abi::{GuestBind, GuestHypercall, GuestPerform, GuestPing, Opcode};
use hypercall::Hypervisor;
use vmrpc::{Buf, Handle};

module! {
    type: GuestRvmrpc,
    name: "guest_rvmrpc",
    authors: ["CoVMM developers"],
    description: "CoVMM guest side: VMRPC client, /dev/covmm-guest and Reverse VMRPC services",
    license: "GPL",
    params: {
        servers: u32 {
            default: 2,
            description: "Reverse VMRPC server threads (requests served at once), 0 (none) to 16",
        },
    },
}

/// The Reverse VMRPC server and its threads; the threads stop (and give
/// their slots back to the host) before the server is withdrawn.
struct ReverseVmrpc {
    threads: KVec<hypercall::KThread>,
}

impl ReverseVmrpc {
    fn start(hv: Hypervisor) -> Result<Self> {
        let server = rvserver::RvServer::new(hv)?;
        hypercall::publish(&server);
        let count = module_parameters::servers
            .value()
            .min(abi::RV_MAX_SLOTS as u32);
        let threads = server
            .start(count as usize)
            .inspect_err(|_| hypercall::unpublish())?;
        Ok(Self { threads })
    }
}

impl Drop for ReverseVmrpc {
    fn drop(&mut self) {
        // Services registered by other modules are gone: they depend on us.
        self.threads.clear();
        hypercall::unpublish();
    }
}

#[pin_data]
struct GuestRvmrpc {
    #[pin]
    _dev: MiscDeviceRegistration<GuestDevice>,
    _rv: ReverseVmrpc,
}

impl kernel::InPlaceModule for GuestRvmrpc {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let hv = Hypervisor::detect().inspect_err(|_| {
            pr_err!("not running under KVM; refusing to load\n");
        });
        try_pin_init!(Self {
            _dev <- {
                report_host(hv?);
                MiscDeviceRegistration::register(MiscDeviceOptions { name: c"covmm-guest" })
            },
            _rv: ReverseVmrpc::start(hv?)?,
        })
    }
}

/// Logs what answers on the host side. The host module may be loaded later,
/// so its absence is not an error.
fn report_host(hv: Hypervisor) {
    let v = hv.call(Opcode::QueryVersion, [0; 4]);
    if v < 0 {
        pr_info!("no host-vmrpc on the host yet (query answered {v})\n");
        return;
    }
    let (major, minor) = abi::decode_version(v as u64);
    if major != abi::ABI_MAJOR {
        pr_err!(
            "host-vmrpc speaks ABI {major}.{minor}, this module {}.{}\n",
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        );
    } else {
        pr_info!("host-vmrpc ABI {major}.{minor}\n");
    }
}

/// Checks a ping request from user space.
fn validate_ping(req: &GuestPing) -> Result {
    if req.abi_major != abi::ABI_MAJOR {
        return Err(EPROTO);
    }
    if req.pad0 != [0; 6] || req.pad1 != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Most handles one open file may hold.
const MAX_FILE_HANDLES: usize = 64;

/// An open `/dev/covmm-guest`: the handles it has bound.
#[pin_data(PinnedDrop)]
struct GuestDevice {
    hv: Hypervisor,
    #[pin]
    handles: Mutex<KVec<u64>>,
}

/// Reads an ioctl argument of type `T` and returns a writer for the reply.
fn read_arg<T: zerocopy::FromBytes + IntoBytes>(
    arg: usize,
) -> Result<(T, kernel::uaccess::UserSliceWriter)> {
    let slice = UserSlice::new(UserPtr::from_addr(arg), size_of::<T>());
    let (mut reader, writer) = slice.reader_writer();
    let mut value = T::new_zeroed();
    reader.read_slice(value.as_mut_bytes())?;
    Ok((value, writer))
}

impl GuestDevice {
    fn bind(&self, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<GuestBind>(arg)?;
        if req.flags != 0 {
            return Err(EINVAL);
        }
        let name = abi::server_name(&req.name).map_err(|_| EINVAL)?;
        let mut handles = self.handles.lock();
        if handles.len() >= MAX_FILE_HANDLES {
            return Err(EMFILE);
        }
        handles.reserve(1, GFP_KERNEL)?;
        let handle = vmrpc::bind(self.hv, name, req.version)?;
        req.handle = handle.0;
        if let Err(e) = writer.write_slice(req.as_bytes()) {
            // User space never learns the handle; do not keep it bound.
            let _ = vmrpc::unbind(self.hv, handle);
            return Err(e);
        }
        handles.push(handle.0, GFP_KERNEL)?;
        Ok(0)
    }

    fn unbind(&self, handle: u64) -> Result<isize> {
        let mut handles = self.handles.lock();
        let at = handles.iter().position(|&h| h == handle).ok_or(EBADF)?;
        handles.remove(at)?;
        drop(handles);
        vmrpc::unbind(self.hv, Handle(handle))?;
        Ok(0)
    }

    fn perform(&self, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = read_arg::<GuestPerform>(arg)?;
        if req.flags & !abi::PERFORM_WRITE != 0 {
            return Err(EINVAL);
        }
        if !self.handles.lock().contains(&req.handle) {
            return Err(EBADF);
        }
        if req.len > abi::MAX_CALL_BYTES {
            return Err(E2BIG);
        }
        let len = req.len as usize;
        let mut buf = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
        let user = UserSlice::new(UserPtr::from_addr(req.buf as usize), len);
        let (mut reader, mut back) = user.reader_writer();
        reader.read_slice(&mut buf)?;
        let write = req.flags & abi::PERFORM_WRITE != 0;
        let mut bufs = [if write {
            Buf::InOut(&mut buf)
        } else {
            Buf::In(&buf)
        }];
        req.result = vmrpc::perform_kernel(self.hv, Handle(req.handle), req.func, &mut bufs)?;
        if write {
            back.write_slice(&buf)?;
        }
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }

    /// A raw hypercall; `payload`, if any, is placed in kernel memory and its
    /// guest-physical address replaces argument `payload_arg`.
    fn hypercall(&self, arg: usize) -> Result<isize> {
        if !hypercall::caller_may_rawio() {
            return Err(EPERM);
        }
        let (mut req, mut writer) = read_arg::<GuestHypercall>(arg)?;
        let op = u32::try_from(req.op)
            .ok()
            .filter(|&op| u64::from(op) < abi::HC_COUNT);
        let op = op.ok_or(EINVAL)?;
        if req.payload_len > abi::GUEST_HYPERCALL_PAYLOAD_MAX || req.payload_arg > 3 {
            return Err(EINVAL);
        }
        let mut payload = KVec::from_elem(0u8, req.payload_len as usize, GFP_KERNEL)?;
        let mut args = req.args;
        if !payload.is_empty() {
            UserSlice::new(UserPtr::from_addr(req.payload as usize), payload.len())
                .reader()
                .read_slice(&mut payload)?;
            args[req.payload_arg as usize] = hypercall::guest_phys(&payload[0]);
        }
        req.result = self.hv.call_raw(op, args);
        writer.write_slice(req.as_bytes())?;
        Ok(0)
    }
}

#[pinned_drop]
impl PinnedDrop for GuestDevice {
    fn drop(self: Pin<&mut Self>) {
        for &handle in self.handles.lock().iter() {
            // A host that is gone has forgotten the handle anyway.
            let _ = vmrpc::unbind(self.hv, Handle(handle));
        }
    }
}

#[vtable]
impl MiscDevice for GuestDevice {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(GuestDevice {
                hv: Hypervisor::detect()?,
                handles <- new_mutex!(KVec::new(), "covmm_guest_file_handles"),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&GuestDevice>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::GUEST_IOC_PING => {
                let (mut req, mut writer) = read_arg::<GuestPing>(arg)?;
                validate_ping(&req)?;
                req.result = me.hv.call(Opcode::Ping, [req.cookie, 0, 0, 0]);
                req.insn = me.hv.instruction();
                writer.write_slice(req.as_bytes())?;
                Ok(0)
            }
            abi::GUEST_IOC_BIND => me.bind(arg),
            abi::GUEST_IOC_UNBIND => me.unbind(arg as u64),
            abi::GUEST_IOC_PERFORM => me.perform(arg),
            abi::GUEST_IOC_HYPERCALL => me.hypercall(arg),
            _ => Err(ENOTTY),
        }
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(covmm_guest_ping)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    fn good() -> GuestPing {
        GuestPing {
            abi_major: abi::ABI_MAJOR,
            ..GuestPing::new_zeroed()
        }
    }

    #[test]
    fn accepts_a_well_formed_request() {
        assert!(validate_ping(&good()).is_ok());
    }

    #[test]
    fn rejects_another_major_version() {
        let req = GuestPing {
            abi_major: abi::ABI_MAJOR + 1,
            ..good()
        };
        assert_eq!(validate_ping(&req), Err(EPROTO));
    }

    #[test]
    fn rejects_nonzero_padding() {
        let req = GuestPing {
            pad0: [0, 0, 1, 0, 0, 0],
            ..good()
        };
        assert_eq!(validate_ping(&req), Err(EINVAL));
        let req = GuestPing { pad1: 7, ..good() };
        assert_eq!(validate_ping(&req), Err(EINVAL));
    }
}
