// SPDX-License-Identifier: GPL-2.0

//! `covmm-guest`: the guest-side command line of CoVMM.
//!
//! It runs inside a guest and talks to the guest-rvmrpc module through
//! `/dev/covmm-guest`. `hypercall` issues a raw CoVMM hypercall from user space
//! (CPL 3), which KVM must refuse with `-KVM_EPERM`; the testbed uses it to prove
//! that only the guest kernel can reach the host.

mod hypercall;

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use covmm_abi::{self as abi, IntoBytes};
use serde::Serialize;

/// CoVMM guest tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ask the guest kernel module to ping the host (kernel-mode hypercall).
    Ping {
        /// Cookie handed to the host.
        #[arg(long, default_value_t = 0)]
        cookie: u64,
        /// Guest device node.
        #[arg(long, default_value = "/dev/covmm-guest")]
        device: PathBuf,
    },
    /// Issue a CoVMM hypercall directly from user space (CPL 3).
    Hypercall {
        /// Opcode within the CoVMM range (0 = ping).
        #[arg(default_value_t = 0)]
        opcode: u32,
        /// Up to four arguments (RBX, RCX, RDX, RSI).
        #[arg(num_args = 0..=4)]
        args: Vec<u64>,
    },
}

/// What can go wrong, phrased as what to do next.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0} does not exist: load the guest module first (insmod guest_rvmrpc.ko)")]
    NoDevice(PathBuf),
    #[error("cannot open {0}: {1}")]
    Open(PathBuf, std::io::Error),
    #[error("the ping ioctl failed: {0}")]
    Ioctl(std::io::Error),
    #[error("opcode {0:#x} is outside the CoVMM range (0..{count:#x})", count = abi::HC_COUNT)]
    OpcodeRange(u32),
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct HypercallResult {
    nr: u64,
    result: i64,
    meaning: String,
    insn: &'static str,
}

/// Explains a raw hypercall result in words.
fn meaning(result: i64) -> String {
    match result {
        r if r >= 0 => "ok".into(),
        r if r == -abi::KVM_ENOSYS => "KVM_ENOSYS: no host-vmrpc on the host".into(),
        r if r == -abi::KVM_EPERM => "KVM_EPERM: refused outside guest kernel mode".into(),
        r if r == -abi::errno::ENOSYS => "ENOSYS: the host does not know this opcode".into(),
        r => format!("errno {}", -r),
    }
}

fn insn_name(insn: u32) -> &'static str {
    match insn {
        abi::INSN_VMCALL => "vmcall",
        abi::INSN_VMMCALL => "vmmcall",
        _ => "unknown",
    }
}

fn ping(device: PathBuf, cookie: u64) -> Result<HypercallResult, Error> {
    if !device.exists() {
        return Err(Error::NoDevice(device));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&device)
        .map_err(|e| Error::Open(device.clone(), e))?;
    let mut arg = abi::GuestPing {
        abi_major: abi::ABI_MAJOR,
        cookie,
        ..Default::default()
    };
    let bytes = arg.as_mut_bytes();
    // SAFETY: `GUEST_IOC_PING` is an `_IOWR` of exactly `size_of::<GuestPing>()`
    // bytes and `bytes` is a live, writable buffer of that size for the call.
    let rc = unsafe {
        ioctl(
            file.as_raw_fd(),
            abi::GUEST_IOC_PING as _,
            bytes.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(Error::Ioctl(std::io::Error::last_os_error()));
    }
    Ok(HypercallResult {
        nr: abi::Opcode::Ping.hypercall_nr(),
        result: arg.result,
        meaning: meaning(arg.result),
        insn: insn_name(arg.insn),
    })
}

extern "C" {
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

fn run(cli: Cli) -> Result<(), Error> {
    let res = match cli.command {
        Command::Ping { cookie, device } => ping(device, cookie)?,
        Command::Hypercall { opcode, args } => {
            if u64::from(opcode) >= abi::HC_COUNT {
                return Err(Error::OpcodeRange(opcode));
            }
            let mut regs = [0u64; 4];
            regs[..args.len()].copy_from_slice(&args);
            let nr = abi::HC_BASE + u64::from(opcode);
            let (result, insn) = hypercall::raw(nr, regs);
            HypercallResult {
                nr,
                result,
                meaning: meaning(result),
                insn: insn_name(insn),
            }
        }
    };
    if cli.json {
        println!("{}", serde_json::to_string(&res)?);
    } else {
        println!("{} ({}, via {})", res.result, res.meaning, res.insn);
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("covmm-guest: {e}");
        std::process::exit(1);
    }
}
