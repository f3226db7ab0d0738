// SPDX-License-Identifier: GPL-2.0

//! Keeps `include/uapi/linux/covmm.h` in step with `wire.rs`: generates a C
//! file full of `_Static_assert`s from the Rust values and compiles it against
//! the header with the system C compiler.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use core::mem::{offset_of, size_of};
use covmm_abi as abi;

#[test]
fn c_header_matches_rust_abi() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut c = String::from("#include <stddef.h>\n#include <linux/covmm.h>\n");
    let mut eq = |expr: &str, value: u64| {
        writeln!(
            c,
            "_Static_assert((unsigned long long)({expr}) == {value}ULL, \"{expr}\");"
        )
        .unwrap();
    };
    eq("COVMM_ABI_MAJOR", abi::ABI_MAJOR.into());
    eq("COVMM_ABI_MINOR", abi::ABI_MINOR.into());
    eq("COVMM_HC_BASE", abi::HC_BASE);
    eq("COVMM_HC_COUNT", abi::HC_COUNT);
    eq("COVMM_HC(COVMM_OP_PING)", abi::Opcode::Ping.hypercall_nr());
    eq(
        "COVMM_HC(COVMM_OP_QUERY_VERSION)",
        abi::Opcode::QueryVersion.hypercall_nr(),
    );
    for (name, op) in [
        ("COVMM_OP_BIND", abi::Opcode::Bind),
        ("COVMM_OP_UNBIND", abi::Opcode::Unbind),
        ("COVMM_OP_PERFORM", abi::Opcode::Perform),
        ("COVMM_OP_CANCEL", abi::Opcode::Cancel),
        ("COVMM_OP_RV_INIT", abi::Opcode::RvInit),
        ("COVMM_OP_RV_WAIT", abi::Opcode::RvWait),
        ("COVMM_OP_RV_FINI", abi::Opcode::RvFini),
    ] {
        eq(name, op as u64);
    }
    eq("COVMM_CALL_AGAIN", abi::CALL_AGAIN as u64);
    eq("COVMM_BIND_RESTARTABLE", abi::BIND_RESTARTABLE.into());
    for (name, cmd) in [
        (
            "COVMM_HOST_IOC_SERVER_REGISTER",
            abi::HOST_IOC_SERVER_REGISTER,
        ),
        ("COVMM_HOST_IOC_SERVER_WAIT", abi::HOST_IOC_SERVER_WAIT),
        ("COVMM_HOST_IOC_GUEST_READ", abi::HOST_IOC_GUEST_READ),
        ("COVMM_HOST_IOC_GUEST_WRITE", abi::HOST_IOC_GUEST_WRITE),
        ("COVMM_HOST_IOC_GET_HVA", abi::HOST_IOC_GET_HVA),
        ("COVMM_HOST_IOC_REPLY", abi::HOST_IOC_REPLY),
        ("COVMM_HOST_IOC_LIST_VMS", abi::HOST_IOC_LIST_VMS),
        ("COVMM_HOST_IOC_RV_CALL", abi::HOST_IOC_RV_CALL),
        (
            "COVMM_HOST_IOC_RV_SET_TIMEOUT",
            abi::HOST_IOC_RV_SET_TIMEOUT,
        ),
        ("COVMM_HOST_IOC_RV_STATS", abi::HOST_IOC_RV_STATS),
    ] {
        eq(name, cmd.into());
    }
    for (name, value) in [
        ("COVMM_RV_VERSION", u64::from(abi::RV_VERSION)),
        ("COVMM_RV_MAX_BUF", u64::from(abi::RV_MAX_BUF)),
        ("COVMM_RV_MAX_SLOTS", abi::RV_MAX_SLOTS as u64),
        ("COVMM_RV_REQUEST", abi::RV_REQUEST as u64),
        ("COVMM_RV_NO_WAIT", abi::RV_NO_WAIT),
        ("COVMM_RV_HIST_BUCKETS", abi::RV_HIST_BUCKETS as u64),
        ("COVMM_UNIT_COUNT", u64::from(abi::entry::UNIT_COUNT)),
        ("COVMM_UNIT_BYTES", u64::from(abi::entry::UNIT_BYTES)),
        ("COVMM_UNIT_MILLI", u64::from(abi::entry::UNIT_MILLI)),
        ("COVMM_UNIT_TEXT", u64::from(abi::entry::UNIT_TEXT)),
        (
            "sizeof(struct covmm_rv_init)",
            size_of::<abi::RvInit>() as u64,
        ),
        (
            "offsetof(struct covmm_rv_init, req_len)",
            offset_of!(abi::RvInit, req_len) as u64,
        ),
        (
            "sizeof(struct covmm_rv_request)",
            size_of::<abi::RvRequest>() as u64,
        ),
        (
            "offsetof(struct covmm_rv_request, func)",
            offset_of!(abi::RvRequest, func) as u64,
        ),
        (
            "sizeof(struct covmm_entry)",
            size_of::<abi::entry::Entry>() as u64,
        ),
        (
            "offsetof(struct covmm_entry, key_len)",
            offset_of!(abi::entry::Entry, key_len) as u64,
        ),
        (
            "sizeof(struct covmm_host_vm_info)",
            size_of::<abi::HostVmInfo>() as u64,
        ),
        (
            "offsetof(struct covmm_host_vm_info, calls)",
            offset_of!(abi::HostVmInfo, calls) as u64,
        ),
        (
            "sizeof(struct covmm_host_list_vms)",
            size_of::<abi::HostListVms>() as u64,
        ),
        (
            "sizeof(struct covmm_host_rv_call)",
            size_of::<abi::HostRvCall>() as u64,
        ),
        (
            "offsetof(struct covmm_host_rv_call, input)",
            offset_of!(abi::HostRvCall, input) as u64,
        ),
        (
            "offsetof(struct covmm_host_rv_call, output)",
            offset_of!(abi::HostRvCall, output) as u64,
        ),
        (
            "sizeof(struct covmm_host_rv_timeout)",
            size_of::<abi::HostRvTimeout>() as u64,
        ),
        (
            "sizeof(struct covmm_host_rv_stats)",
            size_of::<abi::HostRvStats>() as u64,
        ),
        (
            "offsetof(struct covmm_host_rv_stats, latency)",
            offset_of!(abi::HostRvStats, latency) as u64,
        ),
    ] {
        eq(name, value);
    }
    for (field, off) in [
        ("version", offset_of!(abi::HostServerRegister, version)),
        ("flags", offset_of!(abi::HostServerRegister, flags)),
        ("vm_pid", offset_of!(abi::HostServerRegister, vm_pid)),
        ("pad", offset_of!(abi::HostServerRegister, pad)),
    ] {
        eq(
            &format!("offsetof(struct covmm_host_server_register, {field})"),
            off as u64,
        );
    }
    for (field, off) in [
        ("func", offset_of!(abi::HostCall, func)),
        ("vcpu", offset_of!(abi::HostCall, vcpu)),
        ("arg", offset_of!(abi::HostCall, arg)),
        ("arg_len", offset_of!(abi::HostCall, arg_len)),
    ] {
        eq(
            &format!("offsetof(struct covmm_host_call, {field})"),
            off as u64,
        );
    }
    for (field, off) in [
        ("gva", offset_of!(abi::HostGuestCopy, gva)),
        ("buf", offset_of!(abi::HostGuestCopy, buf)),
        ("len", offset_of!(abi::HostGuestCopy, len)),
    ] {
        eq(
            &format!("offsetof(struct covmm_host_guest_copy, {field})"),
            off as u64,
        );
    }
    for (field, off) in [
        ("write", offset_of!(abi::HostGetHva, write)),
        ("hva", offset_of!(abi::HostGetHva, hva)),
    ] {
        eq(
            &format!("offsetof(struct covmm_host_get_hva, {field})"),
            off as u64,
        );
    }
    eq(
        "offsetof(struct covmm_host_reply, result)",
        offset_of!(abi::HostReply, result) as u64,
    );
    eq("COVMM_SERVER_NAME_LEN", abi::SERVER_NAME_LEN as u64);
    eq("COVMM_MAX_SEGMENTS", abi::MAX_SEGMENTS as u64);
    eq("COVMM_MAX_CALL_BYTES", abi::MAX_CALL_BYTES);
    eq("COVMM_MAX_BINDINGS", abi::MAX_BINDINGS as u64);
    eq("COVMM_SEG_WRITE", abi::SEG_WRITE.into());
    eq(
        "sizeof(struct covmm_bind_request)",
        size_of::<abi::BindRequest>() as u64,
    );
    eq(
        "offsetof(struct covmm_bind_request, version)",
        offset_of!(abi::BindRequest, version) as u64,
    );
    eq(
        "offsetof(struct covmm_bind_request, flags)",
        offset_of!(abi::BindRequest, flags) as u64,
    );
    eq(
        "sizeof(struct covmm_segment)",
        size_of::<abi::Segment>() as u64,
    );
    eq(
        "offsetof(struct covmm_segment, len)",
        offset_of!(abi::Segment, len) as u64,
    );
    eq(
        "offsetof(struct covmm_segment, flags)",
        offset_of!(abi::Segment, flags) as u64,
    );
    eq("COVMM_GUEST_IOC_BIND", abi::GUEST_IOC_BIND.into());
    eq("COVMM_GUEST_IOC_UNBIND", abi::GUEST_IOC_UNBIND.into());
    eq("COVMM_GUEST_IOC_PERFORM", abi::GUEST_IOC_PERFORM.into());
    eq("COVMM_PERFORM_WRITE", abi::PERFORM_WRITE.into());
    eq("COVMM_GUEST_IOC_HYPERCALL", abi::GUEST_IOC_HYPERCALL.into());
    eq(
        "COVMM_GUEST_HYPERCALL_PAYLOAD_MAX",
        abi::GUEST_HYPERCALL_PAYLOAD_MAX,
    );
    eq(
        "sizeof(struct covmm_guest_hypercall)",
        size_of::<abi::GuestHypercall>() as u64,
    );
    eq(
        "offsetof(struct covmm_guest_hypercall, result)",
        offset_of!(abi::GuestHypercall, result) as u64,
    );
    eq(
        "sizeof(struct covmm_guest_bind)",
        size_of::<abi::GuestBind>() as u64,
    );
    eq(
        "offsetof(struct covmm_guest_bind, handle)",
        offset_of!(abi::GuestBind, handle) as u64,
    );
    eq(
        "sizeof(struct covmm_guest_perform)",
        size_of::<abi::GuestPerform>() as u64,
    );
    for (field, off) in [
        ("func", offset_of!(abi::GuestPerform, func)),
        ("flags", offset_of!(abi::GuestPerform, flags)),
        ("buf", offset_of!(abi::GuestPerform, buf)),
        ("len", offset_of!(abi::GuestPerform, len)),
        ("result", offset_of!(abi::GuestPerform, result)),
    ] {
        eq(
            &format!("offsetof(struct covmm_guest_perform, {field})"),
            off as u64,
        );
    }
    eq("COVMM_INSN_VMCALL", abi::INSN_VMCALL.into());
    eq("COVMM_INSN_VMMCALL", abi::INSN_VMMCALL.into());
    eq("COVMM_GUEST_IOC_PING", abi::GUEST_IOC_PING.into());
    eq(
        "sizeof(struct covmm_guest_ping)",
        size_of::<abi::GuestPing>() as u64,
    );
    for (field, off) in [
        ("abi_major", offset_of!(abi::GuestPing, abi_major)),
        ("pad0", offset_of!(abi::GuestPing, pad0)),
        ("cookie", offset_of!(abi::GuestPing, cookie)),
        ("result", offset_of!(abi::GuestPing, result)),
        ("insn", offset_of!(abi::GuestPing, insn)),
        ("pad1", offset_of!(abi::GuestPing, pad1)),
    ] {
        eq(
            &format!("offsetof(struct covmm_guest_ping, {field})"),
            off as u64,
        );
    }

    iomon_matches(&mut eq);
    hlfs_matches(&mut eq);

    let dir = std::env::temp_dir().join(format!("covmm-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("check.c");
    std::fs::write(&src, c).unwrap();
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-fsyntax-only", "-Wall", "-Werror", "-I"])
        .arg(root.join("include/uapi"))
        .arg(&src)
        .output()
        .expect("a C compiler (cc) is needed to check the UAPI header");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "include/uapi/linux/covmm.h disagrees with wire.rs:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The I/O monitor's part of the header.
fn iomon_matches(eq: &mut impl FnMut(&str, u64)) {
    use abi::iomon as io;
    for (name, value) in [
        ("COVMM_IO_KIND_PIO", u64::from(io::KIND_PIO)),
        ("COVMM_IO_KIND_MMIO", u64::from(io::KIND_MMIO)),
        ("COVMM_IO_REC_WRITE", u64::from(io::REC_WRITE)),
        ("COVMM_IO_REC_DATA", u64::from(io::REC_DATA)),
        ("COVMM_IO_REC_RIP", u64::from(io::REC_RIP)),
        ("COVMM_IO_REC_VCPU", u64::from(io::REC_VCPU)),
        ("COVMM_IO_DIR_IN", u64::from(io::DIR_IN)),
        ("COVMM_IO_DIR_OUT", u64::from(io::DIR_OUT)),
        ("COVMM_IO_DIR_ANY", u64::from(io::DIR_ANY)),
        ("COVMM_IO_MAX_RULES", io::MAX_RULES as u64),
        ("COVMM_IO_ENTRY_IN_KERNEL", u64::from(io::ENTRY_IN_KERNEL)),
        ("COVMM_IO_ENTRY_OTHER", u64::from(io::ENTRY_OTHER)),
        ("COVMM_IO_VCPU_OTHER", u64::from(io::VCPU_OTHER)),
        (
            "COVMM_IOMON_RING_DEFAULT",
            u64::from(io::IOMON_RING_DEFAULT),
        ),
        ("COVMM_IOMON_RING_MAX", u64::from(io::IOMON_RING_MAX)),
        ("COVMM_IOMON_MAX_ENTRIES", io::IOMON_MAX_ENTRIES as u64),
        ("COVMM_IOMON_MAX_VCPUS", io::IOMON_MAX_VCPUS as u64),
        ("COVMM_IOMON_READ_MAX", u64::from(io::IOMON_READ_MAX)),
        (
            "COVMM_IOMON_READ_NONBLOCK",
            u64::from(io::IOMON_READ_NONBLOCK),
        ),
        ("COVMM_IOMON_READ_BATCH", u64::from(io::IOMON_READ_BATCH)),
        (
            "COVMM_IOMON_BATCH_WAIT_MS",
            u64::from(io::IOMON_BATCH_WAIT_MS),
        ),
        (
            "COVMM_HOST_IOC_IOMON_SET",
            u64::from(io::HOST_IOC_IOMON_SET),
        ),
        (
            "COVMM_HOST_IOC_IOMON_READ",
            u64::from(io::HOST_IOC_IOMON_READ),
        ),
        (
            "COVMM_HOST_IOC_IOMON_STATS",
            u64::from(io::HOST_IOC_IOMON_STATS),
        ),
        (
            "sizeof(struct covmm_io_record)",
            size_of::<io::IoRecord>() as u64,
        ),
        (
            "offsetof(struct covmm_io_record, rip)",
            offset_of!(io::IoRecord, rip) as u64,
        ),
        (
            "offsetof(struct covmm_io_record, vcpu)",
            offset_of!(io::IoRecord, vcpu) as u64,
        ),
        (
            "offsetof(struct covmm_io_record, size)",
            offset_of!(io::IoRecord, size) as u64,
        ),
        (
            "offsetof(struct covmm_io_record, kind)",
            offset_of!(io::IoRecord, kind) as u64,
        ),
        (
            "offsetof(struct covmm_io_record, flags)",
            offset_of!(io::IoRecord, flags) as u64,
        ),
        (
            "sizeof(struct covmm_io_rule)",
            size_of::<io::IoRule>() as u64,
        ),
        (
            "sizeof(struct covmm_io_filter)",
            size_of::<io::IoFilter>() as u64,
        ),
        (
            "offsetof(struct covmm_io_filter, dirs)",
            offset_of!(io::IoFilter, dirs) as u64,
        ),
        (
            "sizeof(struct covmm_io_stat_entry)",
            size_of::<io::IoStatEntry>() as u64,
        ),
        (
            "offsetof(struct covmm_io_stat_entry, first)",
            offset_of!(io::IoStatEntry, first) as u64,
        ),
        (
            "offsetof(struct covmm_io_stat_entry, bytes)",
            offset_of!(io::IoStatEntry, bytes) as u64,
        ),
        (
            "sizeof(struct covmm_io_vcpu_stat)",
            size_of::<io::IoVcpuStat>() as u64,
        ),
        (
            "sizeof(struct covmm_io_totals)",
            size_of::<io::IoTotals>() as u64,
        ),
        (
            "offsetof(struct covmm_io_totals, unattributed)",
            offset_of!(io::IoTotals, unattributed) as u64,
        ),
        (
            "sizeof(struct covmm_host_iomon_set)",
            size_of::<io::HostIomonSet>() as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_set, filter)",
            offset_of!(io::HostIomonSet, filter) as u64,
        ),
        (
            "sizeof(struct covmm_host_iomon_read)",
            size_of::<io::HostIomonRead>() as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_read, dropped)",
            offset_of!(io::HostIomonRead, dropped) as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_read, eof)",
            offset_of!(io::HostIomonRead, eof) as u64,
        ),
        (
            "sizeof(struct covmm_host_iomon_stats)",
            size_of::<io::HostIomonStats>() as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_stats, elapsed_ns)",
            offset_of!(io::HostIomonStats, elapsed_ns) as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_stats, totals)",
            offset_of!(io::HostIomonStats, totals) as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_stats, kvm_mmio_exits)",
            offset_of!(io::HostIomonStats, kvm_mmio_exits) as u64,
        ),
        (
            "offsetof(struct covmm_host_iomon_stats, filter)",
            offset_of!(io::HostIomonStats, filter) as u64,
        ),
    ] {
        eq(name, value);
    }
}

/// The hlfs export ioctls' part of the header.
fn hlfs_matches(eq: &mut impl FnMut(&str, u64)) {
    use abi::hlfs as fs;
    for (name, value) in [
        ("COVMM_HLFS_TAG_LEN", fs::TAG_LEN as u64),
        ("COVMM_HLFS_EXPORT_PATH_MAX", fs::EXPORT_PATH_MAX as u64),
        ("COVMM_HLFS_INFO_PATH_LEN", fs::INFO_PATH_LEN as u64),
        ("COVMM_HLFS_EXPORT_RO", u64::from(fs::EXPORT_RO)),
        ("COVMM_HLFS_MAX_ID_RANGES", fs::MAX_ID_RANGES as u64),
        ("COVMM_HLFS_OVERFLOW_ID", u64::from(fs::OVERFLOW_ID)),
        (
            "COVMM_HOST_IOC_HLFS_EXPORT",
            u64::from(fs::HOST_IOC_HLFS_EXPORT),
        ),
        (
            "COVMM_HOST_IOC_HLFS_UNEXPORT",
            u64::from(fs::HOST_IOC_HLFS_UNEXPORT),
        ),
        (
            "COVMM_HOST_IOC_HLFS_LIST",
            u64::from(fs::HOST_IOC_HLFS_LIST),
        ),
        (
            "sizeof(struct covmm_hlfs_id_range)",
            size_of::<fs::IdRange>() as u64,
        ),
        (
            "sizeof(struct covmm_hlfs_id_map)",
            size_of::<fs::IdMap>() as u64,
        ),
        (
            "sizeof(struct covmm_host_hlfs_export)",
            size_of::<fs::HostHlfsExport>() as u64,
        ),
        (
            "offsetof(struct covmm_host_hlfs_export, path)",
            offset_of!(fs::HostHlfsExport, path) as u64,
        ),
        (
            "offsetof(struct covmm_host_hlfs_export, uids)",
            offset_of!(fs::HostHlfsExport, uids) as u64,
        ),
        (
            "offsetof(struct covmm_host_hlfs_export, gids)",
            offset_of!(fs::HostHlfsExport, gids) as u64,
        ),
        (
            "sizeof(struct covmm_host_hlfs_unexport)",
            size_of::<fs::HostHlfsUnexport>() as u64,
        ),
        (
            "sizeof(struct covmm_host_hlfs_export_info)",
            size_of::<fs::HostHlfsExportInfo>() as u64,
        ),
        (
            "offsetof(struct covmm_host_hlfs_export_info, nodes)",
            offset_of!(fs::HostHlfsExportInfo, nodes) as u64,
        ),
        (
            "sizeof(struct covmm_host_hlfs_list)",
            size_of::<fs::HostHlfsList>() as u64,
        ),
        (
            "offsetof(struct covmm_host_hlfs_list, count)",
            offset_of!(fs::HostHlfsList, count) as u64,
        ),
    ] {
        eq(name, value);
    }
}
