// SPDX-License-Identifier: GPL-2.0

//! The guest I/O request monitor from host user space: turning it on and
//! off, taking its trace and reading its aggregates through `/dev/covmm`,
//! and naming well-known ports and MMIO regions for people.
//!
//! ```no_run
//! use covmm::host::Host;
//! use covmm_abi::iomon::IoFilter;
//!
//! let host = Host::open()?;
//! host.iomon_set(1234, Some(&IoFilter::parse(b"port=0x3f8-0x3ff").unwrap()), 0)?;
//! let stats = host.iomon_stats(1234)?;
//! println!("{} requests", stats.head.totals.requests);
//! # Ok::<(), covmm::host::Error>(())
//! ```

use covmm_abi::iomon::{self as io, IoFilter, IoRecord, IoStatEntry, IoVcpuStat};

use crate::host::{Error, Host};
use crate::server::ioctl_struct;

/// What [`Host::iomon_read`] took from a VM's trace ring.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records, oldest first.
    pub records: Vec<IoRecord>,
    /// Records lost to a full ring before these.
    pub dropped: u64,
    /// Monitoring has ended and the ring is empty.
    pub eof: bool,
}

/// A VM's aggregates, as [`Host::iomon_stats`] reads them.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Totals, KVM's counters, the filter and the session's state.
    pub head: io::HostIomonStats,
    /// Per port or MMIO page, busiest first.
    pub entries: Vec<IoStatEntry>,
    /// Per vCPU.
    pub vcpus: Vec<IoVcpuStat>,
}

/// How [`Host::iomon_read`] waits for records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWait {
    /// Not at all: an empty batch if there is nothing to take.
    Never,
    /// Until the first record.
    First,
    /// Until the first record, then for a full batch (at most half the
    /// ring) or [`io::IOMON_BATCH_WAIT_MS`], whichever comes first: what a
    /// reader following a busy guest wants, woken a few times a second
    /// instead of once per request.
    Batch,
}

impl Host {
    /// Turns monitoring of VM `vm` on with `filter` (and a trace ring of
    /// `ring` records, 0 for the default), or off with `None`.
    pub fn iomon_set(&self, vm: i32, filter: Option<&IoFilter>, ring: u32) -> Result<(), Error> {
        let mut req = io::HostIomonSet {
            vm_pid: vm,
            enable: filter.is_some().into(),
            ring,
            pad: 0,
            filter: filter.copied().unwrap_or_default(),
        };
        ioctl_struct(&self.file, io::HOST_IOC_IOMON_SET, &mut req)
            .map_err(|e| Error::from_iomon(vm, "turn the I/O monitor on or off", e))
    }

    /// Takes at most `max` records (1 to 4096) from VM `vm`'s trace ring,
    /// waiting as `wait` says.
    pub fn iomon_read(&self, vm: i32, max: u32, wait: ReadWait) -> Result<Batch, Error> {
        let mut records = vec![IoRecord::default(); max.clamp(1, io::IOMON_READ_MAX) as usize];
        let mut req = io::HostIomonRead {
            vm_pid: vm,
            flags: match wait {
                ReadWait::Never => io::IOMON_READ_NONBLOCK,
                ReadWait::First => 0,
                ReadWait::Batch => io::IOMON_READ_BATCH,
            },
            records: records.as_mut_ptr() as u64,
            capacity: records.len() as u32,
            ..Default::default()
        };
        match ioctl_struct(&self.file, io::HOST_IOC_IOMON_READ, &mut req) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Batch::default()),
            Err(e) => return Err(Error::from_iomon(vm, "read the I/O trace", e)),
        }
        records.truncate(req.count as usize);
        Ok(Batch {
            records,
            dropped: req.dropped,
            eof: req.eof != 0,
        })
    }

    /// VM `vm`'s aggregates from its current or last session.
    pub fn iomon_stats(&self, vm: i32) -> Result<Stats, Error> {
        let mut entries = vec![IoStatEntry::default(); io::IOMON_MAX_ENTRIES + 1];
        let mut vcpus = vec![IoVcpuStat::default(); io::IOMON_MAX_VCPUS + 1];
        let mut req = io::HostIomonStats {
            vm_pid: vm,
            flags: 0,
            entries: entries.as_mut_ptr() as u64,
            entries_cap: entries.len() as u32,
            entries_count: 0,
            vcpus: vcpus.as_mut_ptr() as u64,
            vcpus_cap: vcpus.len() as u32,
            vcpus_count: 0,
            enabled: 0,
            ring: 0,
            elapsed_ns: 0,
            totals: Default::default(),
            kvm_exits: 0,
            kvm_io_exits: 0,
            kvm_mmio_exits: 0,
            filter: IoFilter::ALL,
        };
        ioctl_struct(&self.file, io::HOST_IOC_IOMON_STATS, &mut req)
            .map_err(|e| Error::from_iomon(vm, "read the I/O statistics", e))?;
        entries.truncate((req.entries_count as usize).min(entries.len()));
        vcpus.truncate((req.vcpus_count as usize).min(vcpus.len()));
        Ok(Stats {
            head: req,
            entries,
            vcpus,
        })
    }
}

/// Well-known x86 PC I/O ports: (first, last, name).
const PORTS: &[(u64, u64, &str)] = &[
    (0x20, 0x21, "PIC master"),
    (0x40, 0x43, "PIT"),
    (0x60, 0x60, "i8042 data"),
    (0x61, 0x61, "system control B (PC speaker, NMI)"),
    (0x64, 0x64, "i8042 status/command"),
    (0x70, 0x71, "RTC/CMOS"),
    (0x80, 0x80, "POST code / I/O delay"),
    (0x92, 0x92, "system control A (A20, reset)"),
    (0xa0, 0xa1, "PIC slave"),
    (0xb2, 0xb3, "APM/SMI control"),
    (0x170, 0x177, "IDE secondary"),
    (0x1f0, 0x1f7, "IDE primary"),
    (0x2e8, 0x2ef, "COM4"),
    (0x2f8, 0x2ff, "COM2"),
    (0x376, 0x376, "IDE secondary control"),
    (0x378, 0x37f, "LPT1"),
    (0x3c0, 0x3df, "VGA"),
    (0x3e8, 0x3ef, "COM3"),
    (0x3f6, 0x3f6, "IDE primary control"),
    (0x3f8, 0x3ff, "COM1"),
    (0x402, 0x402, "firmware debug console"),
    (0x4d0, 0x4d1, "ELCR (PIC trigger mode)"),
    (0x510, 0x511, "QEMU fw_cfg"),
    (0x514, 0x51b, "QEMU fw_cfg DMA"),
    (0x600, 0x63f, "ACPI PM registers"),
    (0xae00, 0xae17, "ACPI PCI hotplug"),
    (0xaf00, 0xaf1f, "ACPI CPU hotplug"),
    (0xafe0, 0xafe3, "ACPI GPE"),
    (0xcf8, 0xcff, "PCI configuration"),
    (0x5658, 0x5658, "VMware backdoor"),
];

/// Well-known x86 PC MMIO regions.
const MMIO: &[(u64, u64, &str)] = &[
    (0xa0000, 0xbffff, "VGA window"),
    (0xb000_0000, 0xbfff_ffff, "PCIe ECAM (q35)"),
    (0xfec0_0000, 0xfec0_0fff, "IOAPIC"),
    (0xfed0_0000, 0xfed0_03ff, "HPET"),
    (0xfed1_c000, 0xfed1_ffff, "ICH9 root complex"),
    (0xfed4_0000, 0xfed4_4fff, "TPM"),
    (0xfee0_0000, 0xfeef_ffff, "local APIC"),
];

fn lookup(table: &[(u64, u64, &'static str)], first: u64, last: u64) -> Option<&'static str> {
    table
        .iter()
        .find(|(a, b, _)| *a <= first && last <= *b)
        .map(|(_, _, name)| *name)
}

/// A name for the ports or MMIO page of `entry`, for people. MMIO pages are
/// named from the table above or, for the pages of a virtio-pci device, by
/// QEMU's layout: a page with an ioeventfd (written by the guest to notify
/// the device, handled in the kernel) is the notify area, and the three
/// pages before it hold the common, ISR and device configuration.
pub fn entry_name(entry: &IoStatEntry, all: &[IoStatEntry]) -> Option<String> {
    let in_kernel = |e: &IoStatEntry| e.flags & io::ENTRY_IN_KERNEL != 0;
    if entry.flags & io::ENTRY_OTHER != 0 {
        return Some("(other: aggregate table full)".into());
    }
    if entry.kind == io::KIND_PIO {
        return lookup(PORTS, entry.first, entry.last)
            .map(str::to_string)
            .or_else(|| in_kernel(entry).then(|| "ioeventfd (virtio legacy notify?)".into()));
    }
    if let Some(name) = lookup(MMIO, entry.first, entry.last) {
        return Some(name.into());
    }
    if in_kernel(entry) {
        return Some("virtio notify (ioeventfd)".into());
    }
    let notify_page = |offset: u64| {
        all.iter().any(|e| {
            e.kind == io::KIND_MMIO
                && in_kernel(e)
                && e.first == entry.first.wrapping_add(offset)
                && e.first % 0x4000 == 0x3000
        })
    };
    [
        (0x3000, "virtio common config"),
        (0x2000, "virtio ISR"),
        (0x1000, "virtio device config"),
    ]
    .iter()
    .find(|(offset, _)| notify_page(*offset))
    .map(|(_, name)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmio(first: u64, in_kernel: bool) -> IoStatEntry {
        IoStatEntry {
            kind: io::KIND_MMIO,
            flags: if in_kernel { io::ENTRY_IN_KERNEL } else { 0 },
            first,
            last: first | 0xfff,
            ..Default::default()
        }
    }

    #[test]
    fn ports_and_regions_get_names() {
        let com1 = IoStatEntry {
            kind: io::KIND_PIO,
            first: 0x3f9,
            last: 0x3f9,
            ..Default::default()
        };
        assert_eq!(entry_name(&com1, &[]).as_deref(), Some("COM1"));
        let unknown = IoStatEntry {
            first: 0x2e0,
            last: 0x2e0,
            ..com1
        };
        assert_eq!(entry_name(&unknown, &[]), None);
        assert_eq!(
            entry_name(&mmio(0xfee0_0000, true), &[]).as_deref(),
            Some("local APIC")
        );
        let all = [
            mmio(0xfe00_3000, true),
            mmio(0xfe00_0000, false),
            mmio(0xfe00_1000, false),
        ];
        assert_eq!(
            entry_name(&all[0], &all).as_deref(),
            Some("virtio notify (ioeventfd)")
        );
        assert_eq!(
            entry_name(&all[1], &all).as_deref(),
            Some("virtio common config")
        );
        assert_eq!(entry_name(&all[2], &all).as_deref(), Some("virtio ISR"));
        assert_eq!(entry_name(&mmio(0xd000_0000, false), &all), None);
    }
}
