// SPDX-License-Identifier: GPL-2.0

//! `covmm iomon`, `iostat`, `iotrace` and `iotop`: the guest I/O request
//! monitor for people (tables, a live view) and scripts (`--json`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use covmm::host::{Error, Host};
use covmm::iomon::{entry_name, ReadWait, Stats};
use covmm_abi::iomon::{self as io, IoFilter, IoRecord, IoStatEntry};
use serde_json::{json, Value};

/// Parses filter words (`port=A[-B] mmio=A[-B] dir=in|out`) with the
/// kernel's own parser, so that a mistake is explained before anything is
/// sent.
pub fn parse_filter(words: &[String]) -> Result<IoFilter, String> {
    IoFilter::parse(words.join(" ").as_bytes()).map_err(|e| format!("bad filter: {e}"))
}

fn filter_text(f: &IoFilter) -> String {
    let mut s = String::new();
    let _ = f.write_text(&mut s);
    s
}

fn kind_name(kind: u8) -> &'static str {
    if kind == io::KIND_PIO {
        "pio"
    } else {
        "mmio"
    }
}

fn span_text(e: &IoStatEntry) -> String {
    if e.flags & io::ENTRY_OTHER != 0 {
        "other".into()
    } else if e.first == e.last {
        format!("{:#x}", e.first)
    } else {
        format!("{:#x}-{:#x}", e.first, e.last)
    }
}

fn handled(e: &IoStatEntry) -> &'static str {
    if e.flags & io::ENTRY_IN_KERNEL != 0 {
        "kernel"
    } else {
        "vmm"
    }
}

/// `covmm iomon <vm> [on|off [FILTER...]]`.
pub fn iomon(
    host: &Host,
    vm: i32,
    state: Option<&str>,
    words: &[String],
    ring: u32,
    json: bool,
) -> Result<(), String> {
    let e = |e: Error| e.to_string();
    match state {
        Some("on") => {
            let filter = parse_filter(words)?;
            host.iomon_set(vm, Some(&filter), ring).map_err(e)?;
            if json {
                println!(
                    "{}",
                    json!({ "vm": vm, "on": true, "filter": filter_text(&filter) })
                );
            } else {
                println!("VM {vm}: monitoring I/O ({})", filter_text(&filter));
            }
        }
        Some("off") if words.is_empty() => {
            host.iomon_set(vm, None, 0).map_err(e)?;
            if json {
                println!("{}", json!({ "vm": vm, "on": false }));
            } else {
                println!("VM {vm}: I/O monitoring off");
            }
        }
        Some(other) if other != "off" => {
            return Err(format!("expected on or off, not {other:?}"));
        }
        Some(_) => return Err("off takes no filter".into()),
        None => {
            let on = match host.iomon_stats(vm) {
                Ok(s) => (s.head.enabled != 0).then(|| filter_text(&s.head.filter)),
                Err(Error::NotMonitored(_)) => None,
                Err(err) => return Err(e(err)),
            };
            if json {
                println!("{}", json!({ "vm": vm, "on": on.is_some(), "filter": on }));
            } else {
                println!(
                    "VM {vm}: {}",
                    on.map_or("off".into(), |f| format!("on ({f})"))
                );
            }
        }
    }
    Ok(())
}

fn stats_json(vm: i32, s: &Stats) -> Value {
    let t = &s.head.totals;
    let secs = s.head.elapsed_ns as f64 / 1e9;
    let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    json!({
        "vm": vm,
        "on": s.head.enabled != 0,
        "elapsed_s": secs,
        "ring": s.head.ring,
        "filter": filter_text(&s.head.filter),
        "totals": {
            "requests": t.requests,
            "pio_reads": t.pio_reads, "pio_writes": t.pio_writes, "pio_bytes": t.pio_bytes,
            "mmio_reads": t.mmio_reads, "mmio_writes": t.mmio_writes, "mmio_bytes": t.mmio_bytes,
            "dropped": t.dropped, "unattributed": t.unattributed,
        },
        "kvm": {
            "exits": s.head.kvm_exits,
            "io_exits": s.head.kvm_io_exits,
            "mmio_exits": s.head.kvm_mmio_exits,
        },
        "entries": s.entries.iter().map(|e| json!({
            "kind": kind_name(e.kind),
            "first": e.first,
            "last": e.last,
            "reads": e.reads,
            "writes": e.writes,
            "bytes": e.bytes,
            "rate": rate(e.reads + e.writes),
            "handled": handled(e),
            "other": e.flags & io::ENTRY_OTHER != 0,
            "name": entry_name(e, &s.entries),
        })).collect::<Vec<_>>(),
        "vcpus": s.vcpus.iter().map(|v| json!({
            "vcpu": (v.vcpu != io::VCPU_OTHER).then_some(v.vcpu),
            "pio": v.pio, "mmio": v.mmio, "bytes": v.bytes,
        })).collect::<Vec<_>>(),
    })
}

/// `covmm iostat <vm>`.
pub fn iostat(host: &Host, vm: i32, json: bool) -> Result<(), String> {
    let s = host.iomon_stats(vm).map_err(|e| e.to_string())?;
    if json {
        println!("{}", stats_json(vm, &s));
        return Ok(());
    }
    let t = &s.head.totals;
    let secs = s.head.elapsed_ns as f64 / 1e9;
    println!(
        "VM {vm}: monitoring {} for {secs:.3} s ({}), ring {} records",
        if s.head.enabled != 0 {
            "on"
        } else {
            "off (last session)"
        },
        filter_text(&s.head.filter),
        s.head.ring
    );
    println!(
        "requests {}: pio {} reads {} writes {} bytes; mmio {} reads {} writes {} bytes",
        t.requests,
        t.pio_reads,
        t.pio_writes,
        t.pio_bytes,
        t.mmio_reads,
        t.mmio_writes,
        t.mmio_bytes
    );
    println!(
        "trace records dropped {}; KVM: {} exits, {} io_exits, {} mmio_exits",
        t.dropped, s.head.kvm_exits, s.head.kvm_io_exits, s.head.kvm_mmio_exits
    );
    println!(
        "{:<5} {:<25} {:>10} {:>10} {:>12} {:>10} {:<7} NAME",
        "KIND", "WHERE", "READS", "WRITES", "BYTES", "RATE/S", "BY"
    );
    for e in &s.entries {
        let rate = if secs > 0.0 {
            (e.reads + e.writes) as f64 / secs
        } else {
            0.0
        };
        println!(
            "{:<5} {:<25} {:>10} {:>10} {:>12} {:>10.1} {:<7} {}",
            kind_name(e.kind),
            span_text(e),
            e.reads,
            e.writes,
            e.bytes,
            rate,
            handled(e),
            entry_name(e, &s.entries).unwrap_or_default()
        );
    }
    for v in &s.vcpus {
        let who = if v.vcpu == io::VCPU_OTHER {
            "other".to_string()
        } else {
            v.vcpu.to_string()
        };
        println!(
            "vcpu {who}: pio {} mmio {} bytes {}",
            v.pio, v.mmio, v.bytes
        );
    }
    Ok(())
}

fn record_json(r: &IoRecord) -> Value {
    json!({
        "ts_ns": r.ts_ns,
        "vcpu": (r.flags & io::REC_VCPU != 0).then_some(r.vcpu),
        "kind": kind_name(r.kind),
        "write": r.is_write(),
        "addr": r.addr,
        "size": r.size,
        "count": r.count,
        "data": (r.flags & io::REC_DATA != 0).then_some(r.data),
        "rip": (r.flags & io::REC_RIP != 0).then_some(r.rip),
    })
}

/// What `covmm iotrace` shows of the records it takes.
pub struct TraceOptions {
    /// Only port I/O to these ports, if any are given.
    pub ports: Option<(u64, u64)>,
    /// Only MMIO in this range, if given.
    pub mmio: Option<(u64, u64)>,
    /// Keep reading until monitoring ends.
    pub follow: bool,
    /// Stop after this many records.
    pub limit: Option<u64>,
}

/// Parses `A` or `A-B` (decimal or `0x` hex).
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let f = IoFilter::parse(format!("mmio={text}").as_bytes())
        .map_err(|_| format!("{text:?} is not a number or range (A or A-B)"))?;
    Ok((f.rules[0].first, f.rules[0].last))
}

impl TraceOptions {
    fn shows(&self, r: &IoRecord) -> bool {
        let inside = |(a, b): (u64, u64)| a <= r.addr && r.addr <= b;
        match (self.ports, self.mmio) {
            (None, None) => true,
            (p, m) => {
                (r.kind == io::KIND_PIO && p.is_some_and(inside))
                    || (r.kind == io::KIND_MMIO && m.is_some_and(inside))
            }
        }
    }
}

/// `covmm iotrace <vm>`: takes records from the VM's trace ring (which
/// consumes them) and prints them, one per line.
pub fn iotrace(host: &Host, vm: i32, opts: &TraceOptions, json: bool) -> Result<(), String> {
    let mut shown = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        let batch = host
            .iomon_read(
                vm,
                io::IOMON_READ_MAX,
                if opts.follow {
                    ReadWait::Batch
                } else {
                    ReadWait::Never
                },
            )
            .map_err(|e| e.to_string())?;
        if batch.dropped > 0 {
            if json {
                let _ = writeln!(out, "{}", json!({ "dropped": batch.dropped }));
            } else {
                let mut line = String::new();
                let _ = io::write_dropped(batch.dropped, &mut line);
                let _ = writeln!(out, "{line}");
            }
        }
        for r in batch.records.iter().filter(|r| opts.shows(r)) {
            if opts.limit.is_some_and(|n| shown >= n) {
                return Ok(());
            }
            if json {
                let _ = writeln!(out, "{}", record_json(r));
            } else {
                let mut line = String::new();
                let _ = r.write_text(&mut line);
                let _ = writeln!(out, "{line}");
            }
            shown += 1;
        }
        let _ = out.flush();
        let drained = batch.records.is_empty() && batch.dropped == 0;
        if batch.eof || (!opts.follow && drained) {
            return Ok(());
        }
    }
}

/// One row of `covmm iotop`.
struct TopRow {
    entry: IoStatEntry,
    rate: f64,
    bytes_rate: f64,
}

/// `covmm iotop <vm>`: a live view, refreshed every `interval`, of the
/// VM's busiest ports and MMIO regions, ranked by request rate over the last
/// interval. `iterations` frames, or until interrupted.
pub fn iotop(
    host: &Host,
    vm: i32,
    interval: Duration,
    iterations: Option<u64>,
    json: bool,
) -> Result<(), String> {
    let e = |e: Error| e.to_string();
    let tty = std::io::stdout().is_terminal() && !json;
    let mut prev = host.iomon_stats(vm).map_err(e)?;
    let mut prev_at = Instant::now();
    let mut frame = 0u64;
    while iterations.is_none_or(|n| frame < n) {
        std::thread::sleep(interval);
        let now = host.iomon_stats(vm).map_err(e)?;
        let secs = prev_at.elapsed().as_secs_f64().max(1e-6);
        prev_at = Instant::now();
        let before: HashMap<(u8, u64), IoStatEntry> = prev
            .entries
            .iter()
            .map(|e| ((e.kind, e.first), *e))
            .collect();
        let mut rows: Vec<TopRow> = now
            .entries
            .iter()
            .map(|e| {
                let old = before.get(&(e.kind, e.first)).copied().unwrap_or_default();
                let n = (e.reads + e.writes).saturating_sub(old.reads + old.writes);
                TopRow {
                    entry: *e,
                    rate: n as f64 / secs,
                    bytes_rate: e.bytes.saturating_sub(old.bytes) as f64 / secs,
                }
            })
            .filter(|r| r.rate > 0.0)
            .collect();
        rows.sort_by(|a, b| b.rate.total_cmp(&a.rate));
        let dreq = now
            .head
            .totals
            .requests
            .saturating_sub(prev.head.totals.requests);
        let dexits = now.head.kvm_exits.saturating_sub(prev.head.kvm_exits);
        if json {
            println!(
                "{}",
                json!({
                    "vm": vm,
                    "interval_s": secs,
                    "requests_per_s": dreq as f64 / secs,
                    "exits_per_s": dexits as f64 / secs,
                    "rows": rows.iter().map(|r| json!({
                        "kind": kind_name(r.entry.kind),
                        "first": r.entry.first,
                        "last": r.entry.last,
                        "rate": r.rate,
                        "bytes_rate": r.bytes_rate,
                        "handled": handled(&r.entry),
                        "name": entry_name(&r.entry, &now.entries),
                    })).collect::<Vec<_>>(),
                })
            );
        } else {
            if tty {
                print!("\x1b[H\x1b[2J");
            } else if frame > 0 {
                println!();
            }
            println!(
                "covmm iotop - VM {vm} - {:.0} I/O requests/s, {:.0} exits/s ({}){}",
                dreq as f64 / secs,
                dexits as f64 / secs,
                filter_text(&now.head.filter),
                if now.head.enabled != 0 {
                    ""
                } else {
                    " - monitoring is off"
                }
            );
            println!(
                "{:<5} {:<25} {:>10} {:>12} {:<7} NAME",
                "KIND", "WHERE", "REQ/S", "BYTES/S", "BY"
            );
            for r in rows.iter().take(30) {
                println!(
                    "{:<5} {:<25} {:>10.1} {:>12.1} {:<7} {}",
                    kind_name(r.entry.kind),
                    span_text(&r.entry),
                    r.rate,
                    r.bytes_rate,
                    handled(&r.entry),
                    entry_name(&r.entry, &now.entries).unwrap_or_default()
                );
            }
        }
        let _ = std::io::stdout().flush();
        prev = now;
        frame += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_ranges_parse_like_the_kernel() {
        let f = parse_filter(&["port=0x3f8-0x3ff".into(), "dir=out".into()]).unwrap();
        assert_eq!(filter_text(&f), "port=0x3f8-0x3ff dir=out");
        assert!(parse_filter(&["port=0x10000".into()])
            .unwrap_err()
            .contains("above 0xffff"));
        assert_eq!(parse_range("0x3f8"), Ok((0x3f8, 0x3f8)));
        assert_eq!(parse_range("10-20"), Ok((10, 20)));
        assert!(parse_range("x").is_err());
    }

    #[test]
    fn trace_options_pick_records() {
        let pio = IoRecord {
            kind: io::KIND_PIO,
            addr: 0x3f8,
            ..Default::default()
        };
        let mmio = IoRecord {
            kind: io::KIND_MMIO,
            addr: 0x3f8,
            ..Default::default()
        };
        let opts = TraceOptions {
            ports: Some((0x3f8, 0x3f8)),
            mmio: None,
            follow: false,
            limit: None,
        };
        assert!(opts.shows(&pio) && !opts.shows(&mmio));
        let all = TraceOptions {
            ports: None,
            ..opts
        };
        assert!(all.shows(&pio) && all.shows(&mmio));
    }
}
