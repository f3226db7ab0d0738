// SPDX-License-Identifier: GPL-2.0

//! guest-rvmrpc: the guest side of CoVMM.
//!
//! It issues CoVMM hypercalls (defined in `tools/abi/src/wire.rs`) from the
//! guest kernel and offers `/dev/covmm-guest` to guest user space. The device is
//! root-only (mode 0600, the misc default). Its `GUEST_IOC_PING` ioctl pings the
//! host and returns RAX exactly as the host left it, so user space can tell a
//! live host-vmrpc (a positive per-VM counter) from a host without it
//! (`-KVM_ENOSYS`).
//!
//! `hypercall.rs` is the only file with `unsafe`.
//!
//! ```sh
//! insmod guest_rvmrpc.ko
//! covmm-guest ping          # prints e.g. "3 (ok, via vmmcall)"
//! ```

use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};
use zerocopy::{FromZeros, IntoBytes};

#[allow(dead_code, unreachable_pub)]
#[path = "../tools/abi/src/wire.rs"]
mod abi;
mod hypercall;

use abi::{GuestPing, Opcode};
use hypercall::Hypervisor;

module! {
    type: GuestRvmrpc,
    name: "guest_rvmrpc",
    authors: ["CoVMM developers"],
    description: "CoVMM guest side: hypercalls to host-vmrpc and /dev/covmm-guest",
    license: "GPL",
}

#[pin_data]
struct GuestRvmrpc {
    #[pin]
    _dev: MiscDeviceRegistration<GuestDevice>,
}

impl kernel::InPlaceModule for GuestRvmrpc {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _dev <- {
                let hv = Hypervisor::detect().inspect_err(|_| {
                    pr_err!("not running under KVM; refusing to load\n");
                })?;
                report_host(hv);
                MiscDeviceRegistration::register(MiscDeviceOptions { name: c"covmm-guest" })
            },
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

/// An open `/dev/covmm-guest`; it keeps no state.
struct GuestDevice;

#[vtable]
impl MiscDevice for GuestDevice {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<()> {
        Ok(())
    }

    fn ioctl(_me: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            abi::GUEST_IOC_PING => {
                let slice = UserSlice::new(UserPtr::from_addr(arg), size_of::<GuestPing>());
                let (mut reader, mut writer) = slice.reader_writer();
                let mut req = GuestPing::new_zeroed();
                reader.read_slice(req.as_mut_bytes())?;
                validate_ping(&req)?;
                let hv = Hypervisor::detect()?;
                req.result = hv.call(Opcode::Ping, [req.cookie, 0, 0, 0]);
                req.insn = hv.instruction();
                writer.write_slice(req.as_bytes())?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

#[cfg(CONFIG_KUNIT)]
#[kunit_tests(covmm_guest_ping)]
mod tests {
    use super::*;

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
