// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb`: the command channel between the testbed's L1 host and its L2
//! guests.
//!
//! In an L2 guest, `covmm-tb agent` serves commands on the virtio-serial port
//! `covmm.agent`. In L1, `covmm-tb exec SOCK -- CMD` runs a command in the guest
//! behind QEMU's socket SOCK, prints its output and exits with its status, so a
//! scenario script can assert on what the guest printed. Nothing is scraped
//! from a console.

mod agent;
mod client;
mod frame;
mod fsbench;
mod ioload;
mod iomon_probe;
mod probe;
mod qga;
mod serial;
mod tsc;
mod vsock;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve commands inside a guest (runs as a service from the guest's init).
    Agent {
        /// Name of the virtio-serial port.
        #[arg(long, default_value = "covmm.agent")]
        port: String,
    },
    /// Run a shell command in a guest and exit with its status.
    Exec {
        /// QEMU's unix socket for the guest's agent port.
        sock: PathBuf,
        /// Seconds before the command is killed (status 124).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// The command (joined with spaces and run by /bin/sh -c).
        #[arg(trailing_var_arg = true, required = true)]
        cmd: Vec<String>,
    },
    /// Print this machine's TSC rate in kHz (for the L1 kernel's tsc_early_khz).
    TscKhz,
    /// In a guest: answer meminfo queries over virtio-vsock (the benchmark's
    /// anchor for Reverse VMRPC).
    VsockServe {
        /// vsock port.
        #[arg(long, default_value_t = 5000)]
        port: u32,
    },
    /// In L1: time meminfo queries to a guest's `vsock-serve`; prints
    /// p50_us and p99_us.
    VsockBench {
        /// The guest's CID.
        #[arg(long)]
        cid: u32,
        /// vsock port.
        #[arg(long, default_value_t = 5000)]
        port: u32,
        /// Queries.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// In L1: time meminfo queries through a guest's qemu-guest-agent
    /// (`guest-exec` of `cat /proc/meminfo`); prints p50_us and p99_us.
    QgaBench {
        /// QEMU's unix socket for the guest's `org.qemu.guest_agent.0` port.
        sock: PathBuf,
        /// Queries.
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// In L1: register server PROBE v1 on /dev/covmm for a VM, hand the
    /// device bad requests around one guest call, print their errnos as JSON.
    UserServerProbe {
        /// Pid of the VMM process.
        #[arg(long)]
        vm_pid: i32,
        /// Seconds to wait for the guest's call.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// The host device.
        #[arg(long, default_value = "/dev/covmm")]
        device: PathBuf,
    },
    /// In L1: a noisy line in front of QEMU's socket for a guest's serial
    /// port, for `covmm com-*` tests: serves LISTEN, corrupting bytes.
    ComProxy {
        /// The socket host commands connect to.
        listen: PathBuf,
        /// QEMU's chardev socket for the port.
        qemu: PathBuf,
        /// XOR one byte in this many, both ways (0: none).
        #[arg(long, default_value_t = 0)]
        flip_every: u64,
        /// Lose --drop-len bytes in this many, host to guest (0: none).
        #[arg(long, default_value_t = 0)]
        drop_every: u64,
        #[arg(long, default_value_t = 40)]
        drop_len: u64,
    },
    /// In L1: bytes per second through a guest's serial port with no
    /// protocol (the guest runs `cat`/`head` on it), the anchor of the
    /// serial channel's benchmark.
    RawBench {
        /// QEMU's chardev socket for the port.
        sock: PathBuf,
        /// Bytes to move.
        #[arg(long)]
        bytes: u64,
        /// Which way.
        #[arg(long, value_enum)]
        direction: serial::Direction,
    },
    /// In a guest: the far end of `raw-bench --direction in`: reads BYTES
    /// from the port DEV, then writes one byte back.
    RawSink {
        /// The guest's serial device (/dev/vportNpM, /dev/ttyS1).
        dev: PathBuf,
        /// Bytes to read.
        #[arg(long)]
        bytes: u64,
    },
    /// In a guest: make COUNT port-I/O or MMIO requests (the I/O monitor's
    /// accuracy test and benchmark); prints requests, seconds and rate.
    IoLoad {
        /// MMIO to this guest-physical address (through /dev/mem) instead
        /// of port I/O.
        #[arg(long)]
        mmio: bool,
        /// The port, or with --mmio the address (decimal or 0x hex).
        #[arg(value_parser = parse_number)]
        addr: u64,
        /// Requests to make.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Guest writes (OUT, stores) instead of reads.
        #[arg(long)]
        write: bool,
    },
    /// In a guest: the hlfs benchmark's workload (sequential and random I/O,
    /// metadata, a tarball) on the file system mounted at DIR; prints JSON.
    FsBench {
        dir: PathBuf,
        /// Size of the sequential file, in MiB.
        #[arg(long, default_value_t = 256)]
        file_mib: u64,
        /// Number of 4 KiB random reads of it.
        #[arg(long, default_value_t = 4096)]
        random_reads: u64,
        /// Number of small files to create, stat and unlink.
        #[arg(long, default_value_t = 10000)]
        files: u64,
        /// A tarball to extract and time.
        #[arg(long)]
        tar: Option<PathBuf>,
    },
    /// In a guest: write DATA at OFFSET of FILE through a shared writable
    /// mapping, and msync it.
    MmapWrite {
        file: String,
        offset: usize,
        data: String,
    },
    /// In L1: hand /dev/covmm's I/O monitor ioctls malformed requests for a
    /// VM; prints each case's errno as JSON.
    IomonProbe {
        /// Pid of the VMM process.
        #[arg(long)]
        vm_pid: i32,
        /// The host device.
        #[arg(long, default_value = "/dev/covmm")]
        device: PathBuf,
    },
    /// Wait until a guest's agent answers.
    Wait {
        /// QEMU's unix socket for the guest's agent port.
        sock: PathBuf,
        /// Seconds to wait.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Agent { port } => {
            let path = loop {
                match agent::find_port(&port) {
                    Ok(p) => break p,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            };
            match agent::serve(path) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("covmm-tb agent: {e}");
                    1
                }
            }
        }
        Command::Exec { sock, timeout, cmd } => {
            match client::exec(&sock, &cmd.join(" "), Duration::from_secs(timeout)) {
                Ok(resp) => {
                    let _ = std::io::stdout().write_all(resp.stdout.as_bytes());
                    let _ = std::io::stderr().write_all(resp.stderr.as_bytes());
                    resp.rc
                }
                Err(e) => {
                    eprintln!("covmm-tb exec: {e}");
                    125
                }
            }
        }
        Command::UserServerProbe {
            vm_pid,
            timeout,
            device,
        } => match probe::run(&device, vm_pid, Duration::from_secs(timeout)) {
            Ok(report) => {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
                0
            }
            Err(e) => {
                eprintln!("covmm-tb user-server-probe: {e}");
                1
            }
        },
        Command::FsBench {
            dir,
            file_mib,
            random_reads,
            files,
            tar,
        } => {
            let workload = fsbench::Workload {
                dir,
                file_mib,
                random_reads,
                files,
                tar,
            };
            match fsbench::run(&workload) {
                Ok(figures) => {
                    println!("{}", serde_json::to_string(&figures).unwrap_or_default());
                    0
                }
                Err(e) => {
                    eprintln!("covmm-tb fs-bench: {e}");
                    1
                }
            }
        }
        Command::VsockServe { port } => match vsock::serve(port) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("covmm-tb vsock-serve: {e}");
                1
            }
        },
        Command::VsockBench { cid, port, count } => {
            print_latencies("vsock-bench", vsock::bench(cid, port, count))
        }
        Command::QgaBench { sock, count } => print_latencies("qga-bench", qga::bench(&sock, count)),
        Command::ComProxy {
            listen,
            qemu,
            flip_every,
            drop_every,
            drop_len,
        } => {
            let damage = serial::Damage {
                flip_every,
                drop_every,
                drop_len,
            };
            match serial::serve(&listen, &qemu, damage) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("covmm-tb com-proxy: {e}");
                    1
                }
            }
        }
        Command::RawBench {
            sock,
            bytes,
            direction,
        } => match serial::raw_bench(&sock, bytes, direction) {
            Ok(rate) => {
                println!("bytes_per_sec={rate:.0}");
                0
            }
            Err(e) => {
                eprintln!("covmm-tb raw-bench: {e}");
                1
            }
        },
        Command::RawSink { dev, bytes } => match serial::raw_sink(&dev, bytes) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("covmm-tb raw-sink: {}: {e}", dev.display());
                1
            }
        },
        Command::IoLoad {
            mmio,
            addr,
            count,
            write,
        } => {
            let load = ioload::Load {
                mmio,
                addr,
                write,
                count,
            };
            match ioload::run(&load) {
                Ok(done) => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "requests": done.requests,
                            "secs": done.secs,
                            "per_sec": done.requests as f64 / done.secs.max(1e-9),
                        })
                    );
                    0
                }
                Err(e) => {
                    eprintln!("covmm-tb io-load: {e}");
                    1
                }
            }
        }
        Command::MmapWrite { file, offset, data } => {
            match ioload::mmap_write(&file, offset, data.as_bytes()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("covmm-tb mmap-write: {e}");
                    1
                }
            }
        }
        Command::IomonProbe { vm_pid, device } => match iomon_probe::run(&device, vm_pid) {
            Ok(report) => {
                println!("{report}");
                0
            }
            Err(e) => {
                eprintln!("covmm-tb iomon-probe: {e}");
                1
            }
        },
        Command::TscKhz => {
            println!("{}", tsc::khz());
            0
        }
        Command::Wait { sock, timeout } => {
            match client::wait(&sock, Duration::from_secs(timeout)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("covmm-tb wait: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

/// Prints the p50 and p99 of sorted latencies in microseconds, or the error;
/// returns the exit status.
fn print_latencies<E: std::fmt::Display>(what: &str, lat: Result<Vec<f64>, E>) -> i32 {
    match lat {
        Ok(lat) if !lat.is_empty() => {
            let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
            println!("p50_us={:.1} p99_us={:.1}", pct(0.5), pct(0.99));
            0
        }
        Ok(_) => {
            eprintln!("covmm-tb {what}: no queries made");
            1
        }
        Err(e) => {
            eprintln!("covmm-tb {what}: {e}");
            1
        }
    }
}

/// Parses a decimal or `0x` hexadecimal number.
fn parse_number(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a number"))
}
