// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb iomon-probe`: hands host-vmrpc's I/O monitor ioctls malformed
//! and out-of-range requests for one VM, as a hostile or buggy tool would,
//! and reports each case's errno (0 for success) as JSON. Run it before the
//! VM is monitored: it checks `ENODATA` first and turns monitoring on and
//! off once at the end.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use covmm_abi::iomon::{self as io, IoFilter, IoRule};
use covmm_abi::FromZeros;

use crate::probe::{raw, with};

fn set(vm_pid: i32, filter: IoFilter) -> io::HostIomonSet {
    io::HostIomonSet {
        vm_pid,
        enable: 1,
        ring: 0,
        pad: 0,
        filter,
    }
}

fn read(vm_pid: i32, capacity: u32, buf: &mut [io::IoRecord]) -> io::HostIomonRead {
    io::HostIomonRead {
        vm_pid,
        flags: io::IOMON_READ_NONBLOCK,
        records: buf.as_mut_ptr() as u64,
        capacity,
        ..Default::default()
    }
}

/// Runs the cases; returns their errnos by name.
pub(crate) fn run(path: &Path, vm_pid: i32) -> std::io::Result<String> {
    let dev = OpenOptions::new().read(true).write(true).open(path)?;
    let mut out = BTreeMap::new();
    let mut buf = vec![io::IoRecord::default(); 16];
    let port = |first, last| IoRule {
        kind: io::KIND_PIO.into(),
        pad: 0,
        first,
        last,
    };
    let with_rules = |rules: &[IoRule]| {
        let mut f = IoFilter::ALL;
        f.rules[..rules.len()].copy_from_slice(rules);
        f.nrules = rules.len() as u32;
        f
    };

    let stats = |vm_pid, flags| {
        let mut s = io::HostIomonStats::new_zeroed();
        s.vm_pid = vm_pid;
        s.flags = flags;
        s.filter = IoFilter::ALL;
        s
    };
    let mut note = |k: &'static str, v: i32| {
        out.insert(k, v);
    };
    note(
        "read_never_monitored",
        with(&dev, io::HOST_IOC_IOMON_READ, read(vm_pid, 16, &mut buf)).0,
    );
    note(
        "stats_never_monitored",
        with(&dev, io::HOST_IOC_IOMON_STATS, stats(vm_pid, 0)).0,
    );
    note(
        "off_never_monitored",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            io::HostIomonSet {
                enable: 0,
                ..set(vm_pid, IoFilter::ALL)
            },
        )
        .0,
    );
    note(
        "set_null_pointer",
        raw(&dev, io::HOST_IOC_IOMON_SET, std::ptr::null_mut()),
    );
    note(
        "set_pad",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            io::HostIomonSet {
                pad: 1,
                ..set(vm_pid, IoFilter::ALL)
            },
        )
        .0,
    );
    note(
        "set_enable_2",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            io::HostIomonSet {
                enable: 2,
                ..set(vm_pid, IoFilter::ALL)
            },
        )
        .0,
    );
    note(
        "set_ring_too_big",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            io::HostIomonSet {
                ring: io::IOMON_RING_MAX + 1,
                ..set(vm_pid, IoFilter::ALL)
            },
        )
        .0,
    );
    note(
        "set_no_direction",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(
                vm_pid,
                IoFilter {
                    dirs: 0,
                    ..IoFilter::ALL
                },
            ),
        )
        .0,
    );
    note(
        "set_bad_direction",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(
                vm_pid,
                IoFilter {
                    dirs: 4,
                    ..IoFilter::ALL
                },
            ),
        )
        .0,
    );
    note(
        "set_nine_rules",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(
                vm_pid,
                IoFilter {
                    nrules: 9,
                    ..with_rules(&[port(1, 1)])
                },
            ),
        )
        .0,
    );
    note(
        "set_port_above_0xffff",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(vm_pid, with_rules(&[port(0xfff0, 0x1_0000)])),
        )
        .0,
    );
    note(
        "set_range_backwards",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(vm_pid, with_rules(&[port(9, 8)])),
        )
        .0,
    );
    note(
        "set_bad_kind",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(
                vm_pid,
                with_rules(&[IoRule {
                    kind: 7,
                    ..port(1, 1)
                }]),
            ),
        )
        .0,
    );
    note(
        "set_rule_pad",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(
                vm_pid,
                with_rules(&[IoRule {
                    pad: 1,
                    ..port(1, 1)
                }]),
            ),
        )
        .0,
    );
    let mut stray = with_rules(&[port(1, 1)]);
    stray.rules[3] = port(5, 5);
    note(
        "set_stray_rule",
        with(&dev, io::HOST_IOC_IOMON_SET, set(vm_pid, stray)).0,
    );
    note(
        "set_no_such_process",
        with(&dev, io::HOST_IOC_IOMON_SET, set(i32::MAX, IoFilter::ALL)).0,
    );
    note(
        "set_pid_0",
        with(&dev, io::HOST_IOC_IOMON_SET, set(0, IoFilter::ALL)).0,
    );
    note(
        "set_not_a_vmm",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(std::process::id() as i32, IoFilter::ALL),
        )
        .0,
    );

    note(
        "set_on",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            set(vm_pid, with_rules(&[port(0x2e0, 0x2e0)])),
        )
        .0,
    );
    note(
        "read_capacity_0",
        with(&dev, io::HOST_IOC_IOMON_READ, read(vm_pid, 0, &mut buf)).0,
    );
    note(
        "read_capacity_too_big",
        with(
            &dev,
            io::HOST_IOC_IOMON_READ,
            read(vm_pid, io::IOMON_READ_MAX + 1, &mut buf),
        )
        .0,
    );
    note(
        "read_bad_flags",
        with(
            &dev,
            io::HOST_IOC_IOMON_READ,
            io::HostIomonRead {
                // The lowest flag not defined.
                flags: (io::IOMON_READ_NONBLOCK | io::IOMON_READ_BATCH) + 1,
                ..read(vm_pid, 16, &mut buf)
            },
        )
        .0,
    );
    note(
        "read_pad",
        with(
            &dev,
            io::HOST_IOC_IOMON_READ,
            io::HostIomonRead {
                pad: 1,
                ..read(vm_pid, 16, &mut buf)
            },
        )
        .0,
    );
    note(
        "read_empty_nonblock",
        with(&dev, io::HOST_IOC_IOMON_READ, read(vm_pid, 16, &mut buf)).0,
    );
    note(
        "stats_bad_flags",
        with(&dev, io::HOST_IOC_IOMON_STATS, stats(vm_pid, 1)).0,
    );
    note(
        "stats_ok",
        with(&dev, io::HOST_IOC_IOMON_STATS, stats(vm_pid, 0)).0,
    );
    note(
        "set_off",
        with(
            &dev,
            io::HOST_IOC_IOMON_SET,
            io::HostIomonSet {
                enable: 0,
                ..set(vm_pid, IoFilter::ALL)
            },
        )
        .0,
    );
    note(
        "read_after_off",
        with(&dev, io::HOST_IOC_IOMON_READ, read(vm_pid, 16, &mut buf)).0,
    );
    serde_json::to_string(&out).map_err(std::io::Error::other)
}
