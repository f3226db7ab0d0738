// SPDX-License-Identifier: GPL-2.0

//! `covmm-agent`: the guest's end of CoVMM's serial-port channel.
//!
//! It opens a serial device (a 16550 such as `/dev/ttyS1` or `COM2`, or a
//! virtio-serial port) and serves one host command at a time: a file copied
//! in (`covmm com-dd`), a file copied out (`covmm com-get`), or a program run
//! with its output streamed back (`covmm com-run`). Nothing else is exposed.
//!
//! Confinement: `--root DIR` keeps every file inside DIR (also programs'
//! working directories), and `--allow PROG` (repeated) is the list of
//! programs that may run. `--config FILE` reads both from JSON, as in
//! tools/covmm-agent/agent.json, the sample, which confines to a directory
//! and allows a few programs. Without either, the agent is as powerful as
//! the user it runs as.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use covmm_com::agent::{self, Policy};
use covmm_com::link::Link;
use covmm_com::port;
use serde::Deserialize;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The serial device: /dev/ttyS1, /dev/vport0p1, COM2, ...
    #[arg(long)]
    device: Option<PathBuf>,
    /// The virtio-serial port of this name (Linux: /sys/class/virtio-ports).
    #[arg(long, conflicts_with = "device")]
    port_name: Option<String>,
    /// Keep every file and working directory under this directory.
    #[arg(long)]
    root: Option<PathBuf>,
    /// A program that may run (repeat for each); without any, all may.
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// JSON settings: {"device", "root", "allow": [...]}; flags win.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    device: Option<PathBuf>,
    root: Option<PathBuf>,
    allow: Option<Vec<String>>,
}

fn find_virtio_port(name: &str) -> Result<PathBuf, String> {
    let dir = std::fs::read_dir("/sys/class/virtio-ports")
        .map_err(|e| format!("/sys/class/virtio-ports: {e} (no virtio-serial device?)"))?;
    for e in dir.flatten() {
        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if n.trim() == name {
            return Ok(PathBuf::from("/dev").join(e.file_name()));
        }
    }
    Err(format!("no virtio-serial port is named {name}"))
}

/// The directory a confined agent keeps to, made (for its owner alone) on
/// the agent's first start.
fn confinement_dir(dir: &std::path::Path) -> Result<PathBuf, String> {
    let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    dir.canonicalize().map_err(fail)
}

fn run(cli: Cli) -> Result<(), String> {
    let config: Config = match &cli.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => Config::default(),
    };
    let device = match (cli.device, cli.port_name, config.device) {
        (Some(d), _, _) => d,
        (None, Some(n), _) => find_virtio_port(&n)?,
        (None, None, Some(d)) => d,
        (None, None, None) => {
            return Err("give --device, --port-name or a config with \"device\"".into())
        }
    };
    let root = match cli.root.or(config.root) {
        Some(r) => Some(confinement_dir(&r)?),
        None => None,
    };
    let allow = if cli.allow.is_empty() {
        config.allow
    } else {
        Some(cli.allow)
    };
    let policy = Policy { root, allow };
    loop {
        let line =
            port::open_device(&device, true).map_err(|e| format!("{}: {e}", device.display()))?;
        let link = Link::serve(line).map_err(|e| e.to_string())?;
        let why = agent::serve(&link, &policy);
        eprintln!("covmm-agent: {}: {why}; opening it again", device.display());
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("covmm-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
