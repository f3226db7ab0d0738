// SPDX-License-Identifier: GPL-2.0

//! `covmm-guest`: the guest-side command line of CoVMM.
//!
//! It runs inside a guest and talks to the guest-rvmrpc module through
//! `/dev/covmm-guest`:
//! - `ping` asks the module to ping the host;
//! - `selftest` calls the host's `covmm.selftest` VMRPC server and checks
//!   what comes back;
//! - `raw` makes the module issue any CoVMM hypercall with raw arguments,
//!   so tests can hand the host malformed requests;
//! - `hypercall` issues a raw CoVMM hypercall from user space (CPL 3), which
//!   KVM must refuse with `-KVM_EPERM`; the testbed uses it to prove that only
//!   the guest kernel can reach the host.

mod device;
mod hypercall;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use covmm_abi::{self as abi, selftest, IntoBytes};
use device::Device;
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
    /// Call the host's covmm.selftest server through VMRPC and check the answer.
    Selftest {
        /// What to call: null (no data), hash (host reads), fill (host writes).
        func: SelftestFunc,
        /// Argument size in bytes.
        #[arg(long, default_value_t = 0)]
        len: u64,
        /// Calls to make (the result shows the time per call).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Guest device node.
        #[arg(long, default_value = "/dev/covmm-guest")]
        device: PathBuf,
    },
    /// Call a host VMRPC server and print what it returns.
    Call {
        /// The server, as NAME:VERSION.
        server: String,
        /// Function number.
        #[arg(value_parser = parse_number)]
        func: u64,
        /// The request: 32-bit numbers, comma-separated.
        #[arg(
            long,
            value_name = "LIST",
            value_delimiter = ',',
            conflicts_with = "text"
        )]
        u32: Vec<u32>,
        /// The request: a string.
        #[arg(long)]
        text: Option<String>,
        /// Let the server write the request, and print it afterwards in hex.
        #[arg(long)]
        write: bool,
        /// Calls to make on one binding; errors are counted, not fatal.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Guest device node.
        #[arg(long, default_value = "/dev/covmm-guest")]
        device: PathBuf,
    },
    /// Have the guest module issue a raw CoVMM hypercall (needs CAP_SYS_RAWIO).
    Raw {
        /// Opcode within the CoVMM range (decimal or 0x hex).
        #[arg(value_parser = parse_number)]
        opcode: u64,
        /// Up to four arguments (RBX, RCX, RDX, RSI), decimal or 0x hex.
        #[arg(num_args = 0..=4, value_parser = parse_number)]
        args: Vec<u64>,
        /// Place a bind request NAME:VERSION in guest memory; its address
        /// becomes argument --payload-arg.
        #[arg(long, value_name = "NAME:VERSION", conflicts_with_all = ["segments", "rv_init"])]
        bind_request: Option<String>,
        /// Place a Reverse VMRPC slot offer
        /// REQ_GPA:REQ_LEN:RESP_GPA:RESP_LEN[:VERSION[:FLAGS]] in guest
        /// memory; its address becomes argument --payload-arg.
        #[arg(long, value_name = "SPEC", conflicts_with = "segments")]
        rv_init: Option<String>,
        /// Place a PERFORM descriptor block with segments
        /// GPA:LEN[:FLAGS[:GVA]],... in guest memory (FLAGS: r, w or a
        /// number; GVA: the GPA by default); its address becomes argument
        /// --payload-arg.
        #[arg(long, value_name = "LIST")]
        segments: Option<String>,
        /// The request address in the descriptor block (default: the first
        /// segment's GVA).
        #[arg(long, value_parser = parse_number, requires = "segments")]
        arg: Option<u64>,
        /// The request length in the descriptor block (default: the first
        /// segment's length).
        #[arg(long, value_parser = parse_number, requires = "segments")]
        arg_len: Option<u64>,
        /// Which argument (0-3) the payload address replaces.
        #[arg(long, default_value_t = 0)]
        payload_arg: u64,
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
    #[error("the {0} ioctl failed: {1}")]
    Ioctl(&'static str, std::io::Error),
    #[error("bad --{0} value '{1}'")]
    BadPayload(&'static str, String),
    #[error("opcode {0:#x} is outside the CoVMM range (0..{count:#x})", count = abi::HC_COUNT)]
    OpcodeRange(u64),
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Clone, Copy, ValueEnum)]
enum SelftestFunc {
    Null,
    Hash,
    Fill,
}

#[derive(Serialize)]
struct SelftestResult {
    result: i64,
    /// Whether the host's answer matched what the guest computed.
    ok: bool,
    calls: u32,
    ns_per_call: u64,
}

#[derive(Serialize)]
struct CallResult {
    /// The last call's result, or its negated errno.
    result: i64,
    calls: u32,
    /// How many calls succeeded.
    ok: u32,
    /// How many failed, by errno.
    errors: std::collections::BTreeMap<i32, u32>,
    /// The request after the last call, with --write.
    #[serde(skip_serializing_if = "Option::is_none")]
    written: Option<String>,
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
        r if r == -abi::errno::EBADF => "EBADF: not a handle of this VM".into(),
        r if r == -abi::errno::EFAULT => "EFAULT: not guest RAM".into(),
        r if r == -abi::errno::ENOENT => "ENOENT: no such server".into(),
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

fn open(device: &Path) -> Result<Device, Error> {
    if !device.exists() {
        return Err(Error::NoDevice(device.to_path_buf()));
    }
    Device::open(device).map_err(|e| Error::Open(device.to_path_buf(), e))
}

fn ping(device: PathBuf, cookie: u64) -> Result<HypercallResult, Error> {
    let arg = open(&device)?
        .ping(cookie)
        .map_err(|e| Error::Ioctl("ping", e))?;
    Ok(HypercallResult {
        nr: abi::Opcode::Ping.hypercall_nr(),
        result: arg.result,
        meaning: meaning(arg.result),
        insn: insn_name(arg.insn),
    })
}

/// Binds to `server` (NAME:VERSION) and calls it `count` times.
fn run_call(
    device: &Path,
    server: &str,
    func: u32,
    mut request: Vec<u8>,
    write: bool,
    count: u32,
) -> Result<CallResult, Error> {
    let bad = || Error::BadPayload("server", server.to_string());
    let (name, version) = server.rsplit_once(':').ok_or_else(bad)?;
    let version = version.parse().map_err(|_| bad())?;
    let dev = open(device)?;
    let handle = dev
        .bind(name.as_bytes(), version)
        .map_err(|e| Error::Ioctl("bind", e))?;
    let mut res = CallResult {
        result: 0,
        calls: count,
        ok: 0,
        errors: Default::default(),
        written: None,
    };
    for _ in 0..count {
        match dev.perform(handle, func, &mut request, write) {
            Ok(r) => {
                res.result = r;
                res.ok += 1;
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                res.result = -i64::from(errno);
                *res.errors.entry(errno).or_default() += 1;
            }
        }
    }
    // The server may be gone by now; its binding goes with the file anyway.
    let _ = dev.unbind(handle);
    if write {
        res.written = Some(request.iter().map(|b| format!("{b:02x}")).collect());
    }
    Ok(res)
}

/// The bytes `selftest hash` sends: anything not constant will do.
fn input_byte(i: usize) -> u8 {
    (i.wrapping_mul(13) + 5) as u8
}

fn run_selftest(
    device: PathBuf,
    func: SelftestFunc,
    len: u64,
    count: u32,
) -> Result<SelftestResult, Error> {
    let dev = open(&device)?;
    let handle = dev
        .bind(selftest::NAME, selftest::VERSION)
        .map_err(|e| Error::Ioctl("bind", e))?;
    let (code, write) = match func {
        SelftestFunc::Null => (selftest::FUNC_NULL, false),
        SelftestFunc::Hash => (selftest::FUNC_HASH, false),
        SelftestFunc::Fill => (selftest::FUNC_FILL, true),
    };
    let mut buf: Vec<u8> = (0..len as usize).map(input_byte).collect();
    let start = Instant::now();
    let mut result = 0;
    for _ in 0..count {
        result = dev
            .perform(handle, code, &mut buf, write)
            .map_err(|e| Error::Ioctl("perform", e))?;
    }
    let ns_per_call = (start.elapsed().as_nanos() / u128::from(count.max(1))) as u64;
    dev.unbind(handle).map_err(|e| Error::Ioctl("unbind", e))?;
    let ok = match func {
        SelftestFunc::Null => result == 0,
        SelftestFunc::Hash => {
            let input: Vec<u8> = (0..len as usize).map(input_byte).collect();
            result == selftest::hash_result(selftest::hash_more(selftest::HASH_START, &input))
        }
        SelftestFunc::Fill => {
            result == len as i64
                && buf
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == selftest::pattern(i as u64))
        }
    };
    Ok(SelftestResult {
        result,
        ok,
        calls: count,
        ns_per_call,
    })
}

fn parse_number(s: &str) -> Result<u64, String> {
    parse_u64(s).ok_or_else(|| format!("'{s}' is not a decimal or 0x-prefixed number"))
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Encodes `GPA:LEN[:FLAGS[:GVA]],...` (FLAGS `w` or a number, GVA the GPA
/// by default) as a `PERFORM` descriptor block whose request is `arg` and
/// `arg_len`, or the first segment.
fn call_payload(list: &str, arg: Option<u64>, arg_len: Option<u64>) -> Result<Vec<u8>, Error> {
    let bad = || Error::BadPayload("segments", list.to_string());
    let mut segs = Vec::new();
    for item in list.split(',') {
        let mut parts = item.split(':');
        let gpa = parts.next().and_then(parse_u64).ok_or_else(bad)?;
        let len = parts.next().and_then(parse_u64).ok_or_else(bad)?;
        // Numeric flags are passed through unchecked, for tests of the host.
        let flags = match parts.next() {
            None | Some("") | Some("r") => 0,
            Some("w") => abi::SEG_WRITE,
            Some(n) => parse_u64(n)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)?,
        };
        let gva = match parts.next() {
            None => gpa,
            Some(v) => parse_u64(v).ok_or_else(bad)?,
        };
        segs.push(abi::Segment {
            gva,
            gpa,
            len: u32::try_from(len).map_err(|_| bad())?,
            flags,
        });
    }
    let first = segs.first().copied().unwrap_or_default();
    let desc = abi::CallDesc {
        arg: arg.unwrap_or(first.gva),
        arg_len: arg_len.unwrap_or(first.len.into()),
    };
    let mut out = desc.as_bytes().to_vec();
    for seg in &segs {
        out.extend_from_slice(seg.as_bytes());
    }
    Ok(out)
}

/// Encodes `NAME:VERSION` as a bind request (the name is not checked, so
/// that bad names reach the host).
fn bind_payload(spec: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::BadPayload("bind-request", spec.to_string());
    let (name, version) = spec.rsplit_once(':').ok_or_else(bad)?;
    let mut raw = [0u8; abi::SERVER_NAME_LEN];
    raw.get_mut(..name.len())
        .ok_or_else(bad)?
        .copy_from_slice(name.as_bytes());
    let req = abi::BindRequest {
        name: raw,
        version: version.parse().map_err(|_| bad())?,
        flags: 0,
    };
    Ok(req.as_bytes().to_vec())
}

/// Encodes an `RvInit` from `REQ_GPA:REQ_LEN:RESP_GPA:RESP_LEN[:VERSION[:FLAGS]]`
/// (nothing is checked, so that bad offers reach the host).
fn rv_init_payload(spec: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::BadPayload("rv-init", spec.to_string());
    let fields: Vec<u64> = spec
        .split(':')
        .map(|f| parse_number(f).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let field = |i: usize, default: u64| fields.get(i).copied().unwrap_or(default);
    if !(4..=6).contains(&fields.len()) {
        return Err(bad());
    }
    let narrow = |v: u64| u32::try_from(v).map_err(|_| bad());
    let init = abi::RvInit {
        version: narrow(field(4, abi::RV_VERSION.into()))?,
        flags: narrow(field(5, 0))?,
        // Not guest-rvmrpc's (random) one: a valid offer would read as a
        // restart of the guest's server, which is fine for tests of it.
        boot_id: 1,
        req_gpa: field(0, 0),
        resp_gpa: field(2, 0),
        req_len: narrow(field(1, 0))?,
        resp_len: narrow(field(3, 0))?,
    };
    Ok(init.as_bytes().to_vec())
}

fn run(cli: Cli) -> Result<(), Error> {
    let res = match cli.command {
        Command::Ping { cookie, device } => ping(device, cookie)?,
        Command::Selftest {
            func,
            len,
            count,
            device,
        } => {
            let res = run_selftest(device, func, len, count)?;
            if cli.json {
                println!("{}", serde_json::to_string(&res)?);
            } else {
                let verdict = if res.ok { "ok" } else { "WRONG" };
                println!(
                    "{} ({verdict}, {} ns per call)",
                    res.result, res.ns_per_call
                );
            }
            return Ok(());
        }
        Command::Call {
            server,
            func,
            u32,
            text,
            write,
            count,
            device,
        } => {
            let func =
                u32::try_from(func).map_err(|_| Error::BadPayload("func", func.to_string()))?;
            let request = match text {
                Some(t) => t.into_bytes(),
                None => u32.iter().flat_map(|v| v.to_ne_bytes()).collect(),
            };
            let res = run_call(&device, &server, func, request, write, count)?;
            if cli.json {
                println!("{}", serde_json::to_string(&res)?);
            } else {
                println!("{} ({} of {} calls ok)", res.result, res.ok, res.calls);
                if let Some(w) = res.written {
                    println!("{w}");
                }
            }
            return Ok(());
        }
        Command::Raw {
            opcode,
            args,
            bind_request,
            rv_init,
            segments,
            arg,
            arg_len,
            payload_arg,
            device,
        } => {
            let opcode = u32::try_from(opcode)
                .ok()
                .filter(|&op| u64::from(op) < abi::HC_COUNT)
                .ok_or(Error::OpcodeRange(opcode))?;
            let mut regs = [0u64; 4];
            regs[..args.len()].copy_from_slice(&args);
            let payload = match (bind_request, rv_init, segments) {
                (Some(b), _, _) => bind_payload(&b)?,
                (None, Some(r), _) => rv_init_payload(&r)?,
                (None, None, Some(s)) => call_payload(&s, arg, arg_len)?,
                (None, None, None) => Vec::new(),
            };
            let dev = open(&device)?;
            let result = dev
                .hypercall(opcode, regs, &payload, payload_arg)
                .map_err(|e| Error::Ioctl("hypercall", e))?;
            // The kernel picks the instruction by CPU vendor, as this does;
            // asking it (a ping) would change the VM's ping count.
            let insn = if hypercall::uses_vmmcall() {
                abi::INSN_VMMCALL
            } else {
                abi::INSN_VMCALL
            };
            HypercallResult {
                nr: abi::HC_BASE + u64::from(opcode),
                result,
                meaning: meaning(result),
                insn: insn_name(insn),
            }
        }
        Command::Hypercall { opcode, args } => {
            if u64::from(opcode) >= abi::HC_COUNT {
                return Err(Error::OpcodeRange(opcode.into()));
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
