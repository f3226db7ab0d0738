// SPDX-License-Identifier: GPL-2.0

//! `covmm`: ask a running guest kernel, from the host, through Reverse VMRPC;
//! watch a guest's port-I/O and MMIO requests (`iomon`, `iostat`, `iotrace`,
//! `iotop`, in [`iocmd`]); or, for a guest without CoVMM's modules, copy
//! files and run programs through its serial port (`com-dd`, `com-get`,
//! `com-run`, in [`com`]).
//!
//! VMs are named by their VMM's pid, as in `/proc/covmm/<pid>/`. The user
//! acts with the rights of the VMs they own. Every command prints a table,
//! or JSON with `--json`.

mod com;
mod fscmd;
mod iocmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use covmm::host::{Error, Host};
use covmm_abi::entry;
use serde::Serialize;

/// CoVMM host tool: talk to guest kernels without a network.
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
    /// List the VMs you own.
    List,
    /// The guest's /proc/meminfo, live.
    Meminfo {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// The guest's /proc/cpuinfo, live.
    Cpuinfo {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// The guest's /proc/loadavg, live.
    Loadavg {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// The services the guest offers.
    Services {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// Drop the guest's caches (1: page cache, 2: slab, 3: both).
    DropCaches {
        /// The VM (its VMM's pid).
        vm: i32,
        /// What to drop.
        #[arg(default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=3))]
        mode: u32,
    },
    /// Call any guest service; the response is printed as text, or in hex.
    Call {
        /// The VM (its VMM's pid).
        vm: i32,
        /// Service name.
        service: String,
        /// Function number.
        func: u32,
        /// Request data, as text.
        data: Option<String>,
    },
    /// The Reverse VMRPC counters and latency histogram of a VM.
    Stats {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// Set how long calls to a VM wait for its guest.
    Timeout {
        /// The VM (its VMM's pid).
        vm: i32,
        /// Milliseconds, 1 to 600000.
        ms: u32,
    },
    /// Time calls: latency percentiles, and calls per second with several
    /// clients at once.
    Bench {
        /// The VM (its VMM's pid).
        vm: i32,
        /// Service to call (`echo` with no data is the floor).
        #[arg(long, default_value = "meminfo")]
        service: String,
        /// Calls per client.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Clients calling at once.
        #[arg(long, default_value_t = 1)]
        clients: usize,
    },
    /// Export a host directory to a VM: its guest mounts it with
    /// `mount -t hlfs TAG DIR`, with your rights on it and no more.
    Export {
        /// The VM (its VMM's pid).
        vm: i32,
        /// The tag the guest mounts ([A-Za-z0-9_.-], at most 63).
        tag: String,
        /// The host directory (absolute).
        path: String,
        /// Read-only.
        #[arg(long)]
        ro: bool,
        /// Map guest uids GUEST.. to host uids HOST.. (COUNT of them);
        /// others show as 65534. Repeat for more ranges (at most 4).
        #[arg(long = "uid-map", value_name = "GUEST:HOST:COUNT", value_parser = fscmd::parse_range)]
        uid_map: Vec<covmm_abi::hlfs::IdRange>,
        /// The same for gids.
        #[arg(long = "gid-map", value_name = "GUEST:HOST:COUNT", value_parser = fscmd::parse_range)]
        gid_map: Vec<covmm_abi::hlfs::IdRange>,
    },
    /// Withdraw an export; the guest's mounts of it fail from then on.
    Unexport {
        /// The VM (its VMM's pid).
        vm: i32,
        /// The export's tag.
        tag: String,
    },
    /// A VM's exports, with their mounts, node handles and open files.
    Exports {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// Turn the guest I/O request monitor on or off, or show its state.
    ///
    /// FILTER words: port=A[-B], mmio=A[-B] (guest-physical), dir=in|out;
    /// with none, every port-I/O and MMIO request is recorded.
    Iomon {
        /// The VM (its VMM's pid).
        vm: i32,
        /// on or off; without it, the current state.
        state: Option<String>,
        /// What to record (after on).
        filter: Vec<String>,
        /// Records the trace ring holds (default 8192).
        #[arg(long, default_value_t = 0)]
        ring: u32,
    },
    /// The monitor's aggregates: per port, per MMIO page and per vCPU.
    Iostat {
        /// The VM (its VMM's pid).
        vm: i32,
    },
    /// Print (and consume) the monitor's trace of requests.
    Iotrace {
        /// The VM (its VMM's pid).
        vm: i32,
        /// Only port I/O to this port or range (A or A-B).
        #[arg(long, value_parser = iocmd::parse_range)]
        port: Option<(u64, u64)>,
        /// Only MMIO to this guest-physical address or range.
        #[arg(long, value_parser = iocmd::parse_range)]
        mmio: Option<(u64, u64)>,
        /// Keep printing until monitoring is turned off or the VM ends.
        #[arg(long, short)]
        follow: bool,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
    },
    /// A live view of the VM's busiest ports and MMIO regions.
    Iotop {
        /// The VM (its VMM's pid).
        vm: i32,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes.
        #[arg(long)]
        iterations: Option<u64>,
    },
    /// Copy a host file into a guest through its serial port (the guest runs
    /// covmm-agent; no network, no CoVMM module).
    ComDd {
        /// The guest's port: QEMU's chardev socket or pty, or a libvirt
        /// domain.
        target: String,
        /// The host file.
        src: PathBuf,
        /// Where it goes in the guest.
        dst: String,
        #[command(flatten)]
        line: com::LineArgs,
    },
    /// Copy a guest file to the host through the guest's serial port.
    ComGet {
        /// The guest's port: QEMU's chardev socket or pty, or a libvirt
        /// domain.
        target: String,
        /// The guest file.
        src: String,
        /// Where it goes on the host.
        dst: PathBuf,
        #[command(flatten)]
        line: com::LineArgs,
    },
    /// Run a program in the guest through its serial port; its output comes
    /// back as it is written, and its exit status is ours.
    ComRun {
        /// The guest's port: QEMU's chardev socket or pty, or a libvirt
        /// domain.
        target: String,
        /// An environment variable for the program (repeat for each).
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = com::parse_env)]
        env: Vec<(String, String)>,
        /// The program's working directory in the guest.
        #[arg(long)]
        cwd: Option<String>,
        /// Kill the program after this many seconds (status 124).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        #[command(flatten)]
        line: com::LineArgs,
        /// The program (a name on the guest's PATH, or a path).
        program: String,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Serialize)]
struct Record {
    group: u32,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u64>,
    unit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

fn unit_name(unit: u32) -> &'static str {
    match unit {
        entry::UNIT_BYTES => "bytes",
        entry::UNIT_MILLI => "milli",
        entry::UNIT_TEXT => "text",
        _ => "count",
    }
}

fn decode(buf: &[u8]) -> Result<Vec<Record>, String> {
    entry::records(buf)
        .map(|r| {
            let r = r.map_err(|()| "the guest sent a malformed record".to_string())?;
            let text = r.head.unit == entry::UNIT_TEXT;
            Ok(Record {
                group: r.head.group,
                key: String::from_utf8_lossy(r.key).into_owned(),
                value: (!text).then_some(r.head.value),
                unit: unit_name(r.head.unit),
                text: text.then(|| String::from_utf8_lossy(r.text).into_owned()),
            })
        })
        .collect()
}

fn print_records(json: bool, buf: &[u8]) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string(&decode(buf)?).map_err(|e| e.to_string())?
        );
    } else {
        let mut text = String::new();
        entry::write_text(buf, &mut text).map_err(|e| e.to_string())?;
        print!("{text}");
    }
    Ok(())
}

#[derive(Serialize)]
struct BenchReport {
    service: String,
    clients: usize,
    calls: usize,
    p50_us: f64,
    p99_us: f64,
    calls_per_sec: f64,
}

fn bench(vm: i32, service: &str, count: usize, clients: usize) -> Result<BenchReport, Error> {
    let start = Instant::now();
    let per_client: Vec<Result<Vec<f64>, Error>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients.max(1))
            .map(|_| {
                s.spawn(|| {
                    let host = Host::open()?;
                    let mut lat = Vec::with_capacity(count);
                    for _ in 0..count {
                        let t = Instant::now();
                        host.call(vm, service, 0, &[])?;
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                    Ok(lat)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a bench client panicked"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for lat in per_client {
        all.extend(lat?);
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(BenchReport {
        service: service.into(),
        clients,
        calls: all.len(),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        calls_per_sec: all.len() as f64 / elapsed,
    })
}

/// The serial-channel commands, which need no host module; `None` for the
/// others.
fn run_com(cli: &Cli) -> Option<Result<u8, com::Error>> {
    Some(match &cli.command {
        Command::ComDd {
            target,
            src,
            dst,
            line,
        } => com::dd(target, src, dst, line, cli.json).map(|()| 0),
        Command::ComGet {
            target,
            src,
            dst,
            line,
        } => com::get(target, src, dst, line, cli.json).map(|()| 0),
        Command::ComRun {
            target,
            env,
            cwd,
            timeout,
            line,
            program,
            args,
        } => com::run(
            target,
            com::RunArgs {
                program: program.clone(),
                args: args.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                timeout: timeout.map(|s| Duration::from_secs_f64(s.max(0.001))),
            },
            line,
            cli.json,
        ),
        _ => return None,
    })
}

fn run(cli: Cli) -> Result<(), String> {
    let host = Host::open().map_err(|e| e.to_string())?;
    let e = |e: Error| e.to_string();
    match cli.command {
        Command::List => {
            let vms = host.list().map_err(e)?;
            if cli.json {
                let rows: Vec<_> = vms
                    .iter()
                    .map(|v| {
                        serde_json::json!({
                            "pid": v.pid, "slots": v.slots, "busy": v.busy, "queued": v.queued,
                            "calls": v.calls, "errors": v.errors, "timeouts": v.timeouts,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{:>8} {:>6} {:>5} {:>7} {:>10} {:>8} {:>9}",
                    "PID", "SLOTS", "BUSY", "QUEUED", "CALLS", "ERRORS", "TIMEOUTS"
                );
                for v in vms {
                    println!(
                        "{:>8} {:>6} {:>5} {:>7} {:>10} {:>8} {:>9}",
                        v.pid, v.slots, v.busy, v.queued, v.calls, v.errors, v.timeouts
                    );
                }
            }
        }
        Command::Meminfo { vm } => {
            print_records(cli.json, &host.call(vm, "meminfo", 0, &[]).map_err(e)?)?
        }
        Command::Cpuinfo { vm } => {
            print_records(cli.json, &host.call(vm, "cpuinfo", 0, &[]).map_err(e)?)?
        }
        Command::Loadavg { vm } => {
            print_records(cli.json, &host.call(vm, "loadavg", 0, &[]).map_err(e)?)?
        }
        Command::Services { vm } => {
            let names: Vec<String> = decode(&host.call(vm, "services", 0, &[]).map_err(e)?)?
                .into_iter()
                .map(|r| r.key)
                .collect();
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string(&names).map_err(|e| e.to_string())?
                );
            } else {
                names.iter().for_each(|n| println!("{n}"));
            }
        }
        Command::DropCaches { vm, mode } => {
            host.call(vm, "drop_caches", 0, &mode.to_ne_bytes())
                .map_err(e)?;
            if cli.json {
                println!("{}", serde_json::json!({ "dropped": mode }));
            } else {
                println!("dropped caches ({mode}) in VM {vm}");
            }
        }
        Command::Call {
            vm,
            service,
            func,
            data,
        } => {
            let out = host
                .call(vm, &service, func, data.unwrap_or_default().as_bytes())
                .map_err(e)?;
            let text = std::str::from_utf8(&out)
                .ok()
                .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n'));
            if cli.json {
                let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
                println!(
                    "{}",
                    serde_json::json!({ "len": out.len(), "text": text, "hex": hex })
                );
            } else if let Some(t) = text {
                println!("{t}");
            } else {
                println!(
                    "{}",
                    out.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
            }
        }
        Command::Stats { vm } => {
            let s = host.stats(vm).map_err(e)?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "pid": vm, "slots": s.slots, "busy": s.busy, "queued": s.queued,
                        "timeout_ms": s.timeout_ms, "calls": s.calls, "errors": s.errors,
                        "timeouts": s.timeouts, "latency_log2_us": s.latency,
                    })
                );
            } else {
                println!(
                    "slots {} busy {} queued {} timeout {} ms",
                    s.slots, s.busy, s.queued, s.timeout_ms
                );
                println!(
                    "calls {} errors {} timeouts {}",
                    s.calls, s.errors, s.timeouts
                );
                for (i, n) in s.latency.iter().enumerate().filter(|(_, n)| **n > 0) {
                    println!("  < {:>6} us: {n}", 1u64 << i);
                }
            }
        }
        Command::Timeout { vm, ms } => {
            host.set_timeout(vm, ms).map_err(e)?;
            if !cli.json {
                println!("VM {vm}: calls wait {ms} ms for the guest");
            }
        }
        Command::Export {
            vm,
            tag,
            path,
            ro,
            uid_map,
            gid_map,
        } => {
            let uids = fscmd::id_map(&uid_map)?;
            let gids = fscmd::id_map(&gid_map)?;
            host.hlfs_export(vm, &tag, &path, ro, uids, gids)
                .map_err(e)?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "vm": vm, "tag": tag, "path": path, "ro": ro })
                );
            } else {
                println!(
                    "VM {vm}: {path} exported as {tag}{} (mount -t hlfs {tag} DIR)",
                    if ro { ", read-only" } else { "" }
                );
            }
        }
        Command::Unexport { vm, tag } => {
            host.hlfs_unexport(vm, &tag).map_err(e)?;
            if !cli.json {
                println!("VM {vm}: {tag} unexported");
            }
        }
        Command::Exports { vm } => fscmd::exports(&host, vm, cli.json)?,
        Command::Iomon {
            vm,
            state,
            filter,
            ring,
        } => iocmd::iomon(&host, vm, state.as_deref(), &filter, ring, cli.json)?,
        Command::Iostat { vm } => iocmd::iostat(&host, vm, cli.json)?,
        Command::Iotrace {
            vm,
            port,
            mmio,
            follow,
            count,
        } => {
            let opts = iocmd::TraceOptions {
                ports: port,
                mmio,
                follow,
                limit: count,
            };
            iocmd::iotrace(&host, vm, &opts, cli.json)?
        }
        Command::Iotop {
            vm,
            interval,
            iterations,
        } => iocmd::iotop(
            &host,
            vm,
            Duration::from_secs_f64(interval.clamp(0.05, 3600.0)),
            iterations,
            cli.json,
        )?,
        Command::ComDd { .. } | Command::ComGet { .. } | Command::ComRun { .. } => {
            unreachable!("run_com() handles the serial commands")
        }
        Command::Bench {
            vm,
            service,
            count,
            clients,
        } => {
            let r = bench(vm, &service, count, clients).map_err(e)?;
            if cli.json {
                println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
            } else {
                println!(
                    "{} x {} {} calls: p50 {:.1} us, p99 {:.1} us, {:.0} calls/s",
                    r.clients, count, r.service, r.p50_us, r.p99_us, r.calls_per_sec
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_com(&cli) {
        Some(Ok(status)) => return ExitCode::from(status),
        Some(Err(e)) => {
            eprintln!("covmm: {e}");
            return ExitCode::from(e.status());
        }
        None => {}
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("covmm: {msg}");
            ExitCode::FAILURE
        }
    }
}
