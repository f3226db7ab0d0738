// SPDX-License-Identifier: GPL-2.0

//! A sample resource policy fed by CoVMM's guest I/O request monitor: which
//! of your VMs is I/O-bound, and by how much.
//!
//! For every VM you own whose monitor is on (`covmm iomon <pid> on`), it
//! samples the monitor's totals and KVM's exit counters twice, `--interval`
//! seconds apart. A VM whose exits are mostly I/O requests (at least
//! `--threshold`, 50% by default) spends its time waiting on emulated
//! devices rather than computing: it is I/O-bound. The report ranks VMs by
//! I/O request rate and gives each one's share of I/O exits and its rate
//! against the mean of the VMs sampled, which is what a scheduler would act
//! on (more I/O threads, a faster backend, or a lower CPU share).
//!
//! ```sh
//! cargo run --example io-policy -- --interval 2
//! cargo run --example io-policy -- --json
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use covmm::host::{Error, Host};
use covmm::iomon::Stats;

/// Which of your VMs are I/O-bound, from the I/O monitor's rates.
#[derive(Parser)]
struct Args {
    /// Seconds between the two samples.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Share of exits that must be I/O requests to call a VM I/O-bound.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One VM's rates over the interval.
struct Rates {
    vm: i32,
    io_per_s: f64,
    exits_per_s: f64,
    bytes_per_s: f64,
}

impl Rates {
    fn io_share(&self) -> f64 {
        if self.exits_per_s > 0.0 {
            (self.io_per_s / self.exits_per_s).min(1.0)
        } else {
            0.0
        }
    }
}

/// The monitored VMs' statistics, by pid.
fn sample(host: &Host) -> Result<HashMap<i32, Stats>, Error> {
    let mut out = HashMap::new();
    for vm in host.list()? {
        match host.iomon_stats(vm.pid) {
            Ok(s) if s.head.enabled != 0 => {
                out.insert(vm.pid, s);
            }
            Ok(_) | Err(Error::NotMonitored(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn run(args: &Args) -> Result<(), String> {
    let host = Host::open().map_err(|e| e.to_string())?;
    let first = sample(&host).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.interval.max(0.1)));
    let second = sample(&host).map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();

    let mut rates: Vec<Rates> = second
        .iter()
        .filter_map(|(vm, b)| {
            let a = first.get(vm)?;
            let d = |x: u64, y: u64| x.saturating_sub(y) as f64 / secs;
            let (ta, tb) = (&a.head.totals, &b.head.totals);
            Some(Rates {
                vm: *vm,
                io_per_s: d(tb.requests, ta.requests),
                exits_per_s: d(b.head.kvm_exits, a.head.kvm_exits),
                bytes_per_s: d(tb.pio_bytes + tb.mmio_bytes, ta.pio_bytes + ta.mmio_bytes),
            })
        })
        .collect();
    if rates.is_empty() {
        return Err("no monitored VM: turn the monitor on first (covmm iomon <pid> on)".into());
    }
    rates.sort_by(|a, b| b.io_per_s.total_cmp(&a.io_per_s));
    let mean = rates.iter().map(|r| r.io_per_s).sum::<f64>() / rates.len() as f64;
    let vs_mean = |r: &Rates| if mean > 0.0 { r.io_per_s / mean } else { 0.0 };

    if args.json {
        let rows: Vec<_> = rates
            .iter()
            .map(|r| {
                serde_json::json!({
                    "vm": r.vm,
                    "io_per_s": r.io_per_s,
                    "exits_per_s": r.exits_per_s,
                    "bytes_per_s": r.bytes_per_s,
                    "io_share": r.io_share(),
                    "vs_mean": vs_mean(r),
                    "io_bound": r.io_share() >= args.threshold,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>8} {:>8}  VERDICT",
        "VM", "IO REQ/S", "EXITS/S", "BYTES/S", "IO SHARE", "VS MEAN"
    );
    for r in &rates {
        let verdict = if r.io_share() >= args.threshold {
            format!(
                "I/O-bound: {:.0}% of its exits are I/O, {:.1}x the mean I/O rate",
                r.io_share() * 100.0,
                vs_mean(r)
            )
        } else {
            "not I/O-bound".to_string()
        };
        println!(
            "{:>8} {:>10.1} {:>10.1} {:>12.1} {:>7.0}% {:>7.1}x  {verdict}",
            r.vm,
            r.io_per_s,
            r.exits_per_s,
            r.bytes_per_s,
            r.io_share() * 100.0,
            vs_mean(r)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("io-policy: {e}");
            ExitCode::FAILURE
        }
    }
}
