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
