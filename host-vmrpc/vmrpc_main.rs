// SPDX-License-Identifier: GPL-2.0

//! host-vmrpc: the host side of CoVMM.
//!
//! At load it hooks KVM's hypercall path at run time (ftrace on
//! `____kvm_emulate_hypercall()`, no kernel patch) and serves the CoVMM
//! hypercall range defined in `tools/abi/src/wire.rs`; every other hypercall is
//! left to KVM. At unload the hook is removed and in-flight calls drain first,
//! after which guests get KVM's ordinary `-KVM_ENOSYS` again.
//!
//! Layout: `kvm.rs` is the only file with `unsafe` (KVM, guest memory, ftrace,
//! mmu_notifier and workqueue glue over `kvm_glue.c`); `hypercall.rs`
//! dispatches; `vm.rs` keeps per-VM state and bindings; `server.rs` holds the
//! VMRPC server registry and the call context servers see; `userserver.rs`
//! queues calls for servers in host user space, which `device.rs` serves
//! through `/dev/covmm`; `rvmrpc.rs` is Reverse VMRPC (the host calling
//! guest services), which `proc.rs` shows in `/proc/covmm/<pid>/`; `iomon.rs`
//! is the guest I/O request monitor, fed by tracepoint probes that
//! `kvm_io.rs` (under `kvm.rs`, over `io_glue.c`) attaches while a VM is
//! monitored; `hlfs.rs` serves guest-hlfs mounts from host directories
//! (over `kvm_hlfs.rs` and `hlfs_glue.c`).

use kernel::{new_srcu, prelude::*, sync::Arc, sync::Srcu};

#[allow(dead_code, unreachable_pub)]
#[path = "../tools/abi/src/wire.rs"]
mod abi;
mod device;
mod hlfs;
#[path = "../include/covmm/host_api.rs"]
mod host_api;
mod hypercall;
mod iomon;
mod kvm;
mod proc;
mod rvmrpc;
mod server;
mod userserver;
mod vm;

use iomon::IoMonitors;
use kvm::MmKey;
use server::ServerRegistry;
use vm::VmRegistry;

module! {
    type: HostVmrpc,
    name: "host_vmrpc",
    authors: ["CoVMM developers"],
    description: "CoVMM host side: VMRPC served from a run-time hook on KVM's hypercall path",
    license: "GPL",
}

/// Everything the hypercall path reaches.
#[pin_data]
pub(crate) struct Host {
    /// Held for reading by every hypercall being served; unload waits for it.
    #[pin]
    pub(crate) calls: Srcu,
    /// The VMs that have made CoVMM calls.
    #[pin]
    pub(crate) vms: VmRegistry,
    /// The VMRPC servers guests can bind to.
    #[pin]
    pub(crate) servers: ServerRegistry,
    /// The I/O monitor's sessions and probes.
    #[pin]
    pub(crate) iomon: IoMonitors,
    /// `/proc/covmm`; dropped after `vms`, whose directories it holds.
    _proc: kvm::ProcRoot,
}

impl Host {
    fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Host {
                calls <- new_srcu!("covmm_calls"),
                vms <- VmRegistry::new(),
                servers <- ServerRegistry::new(),
                iomon <- IoMonitors::new(),
                _proc: kvm::ProcRoot::new()?,
            }),
            GFP_KERNEL,
        )
    }

    /// A VMM process's address space is going away.
    pub(crate) fn mm_released(&self, mm: MmKey) {
        self.servers.vm_gone(mm);
        self.vms.mm_released(mm);
    }

    /// Unload, once no call can be in flight: the I/O monitor's probes go
    /// first, then the VMs.
    pub(crate) fn shutdown(&self) {
        self.iomon.shutdown();
        self.vms.shutdown();
    }
}

#[pin_data]
struct HostVmrpc {
    /// Deregistered first: the device reaches the host through the hook.
    #[pin]
    _device: kernel::miscdevice::MiscDeviceRegistration<device::HostDevice>,
    _hook: kvm::Registration,
}

impl kernel::InPlaceModule for HostVmrpc {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let host = Host::new();
        let hook = host.and_then(|host| {
            host.servers.register(server::selftest::server()?)?;
            host.servers.register(hlfs::server()?)?;
            kvm::Registration::new(host)
        });
        try_pin_init!(HostVmrpc {
            _hook: hook?,
            _device <- device::register(),
        })
        .pin_chain(|_| {
            announce();
            Ok(())
        })
    }
}

fn announce() {
    pr_info!(
        "hooked KVM hypercalls {:#x}..{:#x}, ABI {}.{}; /dev/covmm ready\n",
        abi::HC_BASE,
        abi::HC_BASE + abi::HC_COUNT - 1,
        abi::ABI_MAJOR,
        abi::ABI_MINOR
    );
}
