// SPDX-License-Identifier: GPL-2.0

//! `covmm com-dd`, `com-get` and `com-run`: the serial-port channel to a
//! guest that runs `covmm-agent` and no CoVMM module (Windows, an appliance,
//! an old kernel). These commands need no host module either.
//!
//! The guest's port is named by what QEMU gives the host for it: a unix
//! socket (`-chardev socket,path=P,server=on`) or a pty (`-chardev pty`,
//! `/dev/pts/N`). With the `libvirt` feature, a name that is no path is a
//! libvirt domain, reached through its console or a named channel, as the
//! papers' virsh commands did.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use covmm_com::client::{Client, Error as ComError, Transfer};
use covmm_com::link::{Line, Window};
use covmm_com::msg::{Exit, Request};
use covmm_com::port;

/// How a command reaches the guest's port.
#[derive(Args, Clone, Debug)]
pub struct LineArgs {
    /// The port is a 16550 UART: keep less in flight than a virtio-serial
    /// port takes.
    #[arg(long)]
    uart: bool,
    /// Seconds to wait for the agent to answer.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// libvirt: the serial or console device's alias (`serial1`,
    /// `console1`); without it and --channel, the first console.
    #[arg(long, conflicts_with = "channel")]
    console: Option<String>,
    /// libvirt: the channel's target name (a virtio-serial port).
    #[arg(long)]
    channel: Option<String>,
    /// libvirt: the connection URI, as `virsh -c` takes it.
    #[arg(long)]
    connect: Option<String>,
}

/// What went wrong, for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such socket, device or libvirt domain")]
    NoTarget(String),
    #[cfg(not(feature = "libvirt"))]
    #[error(
        "{0}: is a libvirt domain name, but this covmm was built without libvirt \
         (build it with `cargo build --features libvirt`, or name the port's \
         QEMU socket or pty)"
    )]
    NoLibvirt(String),
    #[error("{0}: is neither a unix socket nor a character device")]
    NotALine(PathBuf),
    #[error("{0}: another covmm command is using this port")]
    Busy(PathBuf),
    #[error("{0}: {1}")]
    Open(String, std::io::Error),
    #[error("{0}")]
    Com(#[from] ComError),
}

impl Error {
    /// The exit status a command ends with: 2 for bad local input, 3 for a
    /// refusal by the agent, 4 for a failed line.
    pub fn status(&self) -> u8 {
        match self {
            Error::Com(e) => e.status(),
            Error::NoTarget(_) | Error::NotALine(_) => 2,
            #[cfg(not(feature = "libvirt"))]
            Error::NoLibvirt(_) => 2,
            _ => 4,
        }
    }
}

fn open_line(target: &str, args: &LineArgs) -> Result<Box<dyn Line>, Error> {
    let path = Path::new(target);
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            port::open_socket(path).map_err(|e| Error::Open(target.into(), e))
        }
        Ok(m) if m.file_type().is_char_device() => port::open_device(path, true).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Busy(path.into())
            } else {
                Error::Open(target.into(), e)
            }
        }),
        Ok(_) => Err(Error::NotALine(path.into())),
        Err(_) if target.contains('/') => Err(Error::NoTarget(target.into())),
        Err(_) => open_libvirt(target, args),
    }
}

#[cfg(feature = "libvirt")]
fn open_libvirt(domain: &str, args: &LineArgs) -> Result<Box<dyn Line>, Error> {
    let device = match &args.channel {
        Some(name) => port::LibvirtDevice::Channel(name),
        None => port::LibvirtDevice::Console(args.console.as_deref()),
    };
    port::open_libvirt(args.connect.as_deref(), domain, device)
        .map_err(|e| Error::Open(format!("libvirt domain {domain}"), e))
}

#[cfg(not(feature = "libvirt"))]
fn open_libvirt(domain: &str, _args: &LineArgs) -> Result<Box<dyn Line>, Error> {
    Err(Error::NoLibvirt(domain.into()))
}

fn connect(target: &str, args: &LineArgs) -> Result<Client, Error> {
    let line = open_line(target, args)?;
    let window = if args.uart {
        Window::UART
    } else {
        Window::FAST
    };
    port::catch_interrupts();
    Ok(Client::connect(
        line,
        window,
        Duration::from_secs(args.connect_timeout),
    )?)
}

/// Progress on standard error, twice a second, when it is a terminal; the
/// transfer stops (where it can resume) on Ctrl-C.
fn progress(json: bool) -> impl FnMut(u64, u64) -> bool {
    let show = !json && std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let mut shown = Instant::now();
    move |done, all| {
        if show && (shown.elapsed() >= Duration::from_millis(500) || done == all) {
            shown = Instant::now();
            let rate = done as f64 / t0.elapsed().as_secs_f64().max(1e-3);
            eprint!(
                "\r{:.1} / {:.1} MiB, {:.0} kB/s   ",
                done as f64 / 1048576.0,
                all as f64 / 1048576.0,
                rate / 1000.0
            );
            if done == all {
                eprintln!();
            }
        }
        !port::interrupted()
    }
}

fn report(json: bool, what: &str, t: &Transfer) {
    if json {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        v["bytes_per_sec"] =
            serde_json::json!(t.size.saturating_sub(t.resumed_at) as f64 / t.seconds.max(1e-6));
        println!("{v}");
    } else {
        let resumed = if t.resumed_at > 0 {
            format!(" (resumed at byte {})", t.resumed_at)
        } else {
            String::new()
        };
        println!(
            "{what} {} bytes in {:.2} s, {:.0} B/s{resumed}; {} corrupted frames, {} sent again",
            t.size,
            t.seconds,
            t.size.saturating_sub(t.resumed_at) as f64 / t.seconds.max(1e-6),
            t.bad_frames,
            t.retransmits
        );
    }
}

/// com-dd: copies host file `src` to `dst` in the guest.
pub fn dd(target: &str, src: &Path, dst: &str, args: &LineArgs, json: bool) -> Result<(), Error> {
    let client = connect(target, args)?;
    let t = client.put(src, dst, &mut progress(json))?;
    report(json, "copied", &t);
    Ok(())
}

/// com-get: copies guest file `src` to host file `dst`.
pub fn get(target: &str, src: &str, dst: &Path, args: &LineArgs, json: bool) -> Result<(), Error> {
    let client = connect(target, args)?;
    let t = client.get(src, dst, &mut progress(json))?;
    report(json, "fetched", &t);
    Ok(())
}

/// What com-run runs.
pub struct RunArgs {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub timeout: Option<Duration>,
}

/// com-run: runs a program in the guest, its output streamed to ours;
/// returns the status a shell would give it.
pub fn run(target: &str, run: RunArgs, args: &LineArgs, json: bool) -> Result<u8, Error> {
    let client = connect(target, args)?;
    let req = Request::Run {
        program: run.program,
        args: run.args,
        env: run.env,
        cwd: run.cwd,
        timeout_ms: run.timeout.map(|t| t.as_millis() as u64),
    };
    let t0 = Instant::now();
    let exit: Exit = if json {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = client.run(&req, &mut out, &mut err, &port::interrupted)?;
        println!(
            "{}",
            serde_json::json!({
                "status": exit.status(), "code": exit.code, "signal": exit.signal,
                "timed_out": exit.timed_out, "cancelled": exit.cancelled,
                "seconds": t0.elapsed().as_secs_f64(),
                "stdout": String::from_utf8_lossy(&out), "stderr": String::from_utf8_lossy(&err),
            })
        );
        exit
    } else {
        let exit = client.run(
            &req,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            &port::interrupted,
        )?;
        if exit.timed_out {
            eprintln!("covmm: the program was killed at its timeout");
        }
        exit
    };
    let _ = std::io::stdout().flush();
    Ok(u8::try_from(exit.status()).unwrap_or(255))
}

/// `K=V` for --env.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("{s:?}: want NAME=VALUE")),
    }
}
