// SPDX-License-Identifier: GPL-2.0

//! Test helpers for the serial channel (`covmm com-*`), run in L1.
//!
//! `covmm-tb com-proxy` is a noisy serial line between a host command and a
//! guest's port, for the serial channel's tests. It holds one connection to
//! QEMU's chardev socket and serves host commands on a socket of its own, one
//! at a time, forwarding bytes both ways and corrupting them on the way: one
//! byte in `flip_every` is XORed with 0x5a, and `drop_len` bytes are lost in
//! every `drop_every`. The count is deterministic, so a failure repeats.
//!
//! `covmm-tb raw-bench` is the benchmark's anchor: the same port with no
//! protocol at all, bytes pushed through as fast as the guest takes them
//! ([`raw_bench`], with [`raw_sink`] in the guest).

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How the proxy damages the bytes it forwards.
#[derive(Clone, Copy, Debug)]
pub struct Damage {
    /// XOR one byte in this many (0: none).
    pub flip_every: u64,
    /// Lose `drop_len` bytes in this many (0: none).
    pub drop_every: u64,
    pub drop_len: u64,
}

/// Bytes corrupted and dropped so far, both ways.
#[derive(Default)]
struct Counters {
    flipped: AtomicU64,
    dropped: AtomicU64,
}

/// One direction's damage, applied to the bytes in order.
struct Damager {
    damage: Damage,
    count: u64,
    dropping: u64,
}

impl Damager {
    fn new(damage: Damage) -> Self {
        Self {
            damage,
            count: 0,
            dropping: 0,
        }
    }

    fn apply(&mut self, bytes: &[u8], counters: &Counters) -> Vec<u8> {
        let d = self.damage;
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.count += 1;
            if self.dropping > 0 {
                self.dropping -= 1;
                counters.dropped.fetch_add(1, Relaxed);
            } else if d.drop_every != 0 && self.count % d.drop_every == 0 {
                self.dropping = d.drop_len.saturating_sub(1);
                counters.dropped.fetch_add(1, Relaxed);
            } else if d.flip_every != 0 && self.count % d.flip_every == 0 {
                counters.flipped.fetch_add(1, Relaxed);
                out.push(b ^ 0x5a);
            } else {
                out.push(b);
            }
        }
        out
    }
}

/// Copies a client's bytes to the guest, damaging them, until the client
/// closes.
fn pump(mut from: UnixStream, mut to: UnixStream, damager: &mut Damager, counters: &Counters) {
    let mut buf = [0u8; 16384];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&damager.apply(&buf[..n], counters)).is_err() {
            break;
        }
    }
}

/// Serves `listen` in front of QEMU's socket `qemu` until killed; prints the
/// damage done after each client.
pub fn serve(listen: &Path, qemu: &Path, damage: Damage) -> io::Result<()> {
    let _ = std::fs::remove_file(listen);
    let listener = UnixListener::bind(listen)?;
    let guest = UnixStream::connect(qemu)?;
    let counters = Arc::new(Counters::default());
    // The guest's bytes go to whichever client is connected; between
    // clients they are read and thrown away, as a line with nobody on it.
    let current: Arc<std::sync::Mutex<Option<UnixStream>>> = Arc::default();
    {
        let (mut from, current, counters) = (guest.try_clone()?, current.clone(), counters.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 16384];
            // Only flips this way: lost bytes host to guest are enough.
            let mut damager = Damager::new(Damage {
                drop_every: 0,
                ..damage
            });
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let out = damager.apply(&buf[..n], &counters);
                let mut to = current.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(c) = to.as_mut() {
                    if c.write_all(&out).is_err() {
                        *to = None;
                    }
                }
            }
        });
    }
    let mut damager = Damager::new(damage);
    for client in listener.incoming() {
        let client = client?;
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.try_clone()?);
        pump(client, guest.try_clone()?, &mut damager, &counters);
        *current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        eprintln!(
            "com-proxy: {} bytes flipped, {} dropped so far",
            counters.flipped.load(Relaxed),
            counters.dropped.load(Relaxed)
        );
    }
    Ok(())
}

/// Which way [`raw_bench`] pushes bytes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Direction {
    /// Host to guest: the guest reads `bytes` from its port, then writes
    /// one byte back, which ends the clock.
    In,
    /// Guest to host: the guest writes `bytes` into its port; the clock
    /// runs from the first byte to the last.
    Out,
}

/// The guest's end of [`Direction::In`]: reads `bytes` from `dev`, then
/// writes one byte back. A virtio-serial port reads as end-of-file while no
/// host program is connected to its chardev, so end-of-file means "not
/// yet" here: the sink may start before the host connects. [`watch_sink`]
/// ends a sink that gets nothing for a long time.
pub fn raw_sink(dev: &Path, bytes: u64) -> io::Result<()> {
    let mut port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)?;
    let mut buf = vec![0u8; 1 << 16];
    let got = Arc::new(AtomicU64::new(0));
    {
        let (got, dev) = (got.clone(), dev.to_path_buf());
        thread::spawn(move || watch_sink(&dev, &got, bytes));
    }
    // Bytes read by the end of each half second from the first byte on: a
    // line that stalls for a while shows as a flat stretch.
    let mut profile: Vec<u64> = Vec::new();
    let mut first = None;
    let mut total = 0;
    while total < bytes {
        let want = buf
            .len()
            .min(usize::try_from(bytes - total).unwrap_or(usize::MAX));
        match port.read(&mut buf[..want])? {
            0 => thread::sleep(Duration::from_millis(10)),
            n => {
                total = got.fetch_add(n as u64, Relaxed) + n as u64;
                let t0 = *first.get_or_insert_with(Instant::now);
                let slot = (t0.elapsed().as_millis() / 500) as usize;
                let before = profile.last().copied().unwrap_or(0);
                profile.resize(slot + 1, before);
                profile[slot] = total;
            }
        }
    }
    port.write_all(b"x")?;
    let profile: Vec<String> = profile.iter().map(u64::to_string).collect();
    eprintln!(
        "raw-sink: bytes read by each half second: {}",
        profile.join(" ")
    );
    Ok(())
}

/// How long [`raw_sink`] waits without a byte before it reports the port's
/// state, and before it gives up.
const SINK_REPORT_AFTER: Duration = Duration::from_secs(30);
const SINK_GIVE_UP_AFTER: Duration = Duration::from_secs(180);

/// Watches [`raw_sink`]'s progress. After [`SINK_REPORT_AFTER`] without a
/// byte it says on stderr how far the sink got and what state the port is
/// in; after [`SINK_GIVE_UP_AFTER`] it says so again and ends the process,
/// so that the testbed's agent answers with the report instead of waiting
/// for its own timeout (Documentation/testbed.md, "Quirks").
fn watch_sink(dev: &Path, got: &AtomicU64, bytes: u64) {
    let mut last = 0;
    let mut since = Instant::now();
    let mut reported = false;
    loop {
        thread::sleep(Duration::from_secs(1));
        let now = got.load(Relaxed);
        if now != last {
            (last, since, reported) = (now, Instant::now(), false);
        } else if since.elapsed() >= SINK_GIVE_UP_AFTER {
            eprintln!(
                "raw-sink: {now} of {bytes} bytes; nothing for {SINK_GIVE_UP_AFTER:?}, giving up"
            );
            eprintln!("{}", port_state(dev));
            std::process::exit(1);
        } else if !reported && since.elapsed() >= SINK_REPORT_AFTER {
            eprintln!("raw-sink: {now} of {bytes} bytes; nothing for {SINK_REPORT_AFTER:?}");
            eprintln!("{}", port_state(dev));
            reported = true;
        }
    }
}

/// The tty layer's counters for `dev`, its interrupt count, and for a
/// 16550 its registers, read through /dev/port.
fn port_state(dev: &Path) -> String {
    let name = dev
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys = Path::new("/sys/class/tty").join(&name);
    let attr = |a: &str| {
        std::fs::read_to_string(sys.join(a))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (index, irq, base) = (attr("line"), attr("irq"), attr("port"));
    // First field "N:" of /proc/tty/driver/serial_8250 and /proc/interrupts.
    let line_of = |file: &str, key: &str| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .find(|l| l.trim_start().split(':').next() == Some(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let mut state = format!(
        "raw-sink: {name}: {}; irq {irq}: {}",
        line_of("/proc/tty/driver/serial_8250", &index),
        line_of("/proc/interrupts", &irq)
    );
    let base = u64::from_str_radix(base.trim_start_matches("0x").trim_start_matches("0X"), 16);
    if let Ok(base @ 1..) = base {
        let mut regs = [0u8; 6];
        let read = std::fs::File::open("/dev/port").and_then(|f| {
            use std::os::unix::fs::FileExt;
            f.read_exact_at(&mut regs, base + 1)
        });
        state += &match read {
            Ok(()) => format!(
                "; at {base:#x}: IER {:#04x} IIR {:#04x} LCR {:#04x} MCR {:#04x} LSR {:#04x} MSR {:#04x}",
                regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]
            ),
            Err(e) => format!("; /dev/port: {e}"),
        };
    }
    state
}

/// Times `bytes` through QEMU's socket `sock` with nothing but the guest's
/// side of the port running (see [`Direction`]); returns bytes per second.
pub fn raw_bench(sock: &Path, bytes: u64, dir: Direction) -> io::Result<f64> {
    let mut s = UnixStream::connect(sock)?;
    // A guest that stops reading must not hang the benchmark.
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    s.set_write_timeout(Some(Duration::from_secs(600)))?;
    let mut buf = vec![0u8; 1 << 16];
    match dir {
        Direction::In => {
            // Pseudo-random bytes: a line that compresses nothing.
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let t0 = Instant::now();
            let mut left = bytes;
            while left > 0 {
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                s.write_all(&buf[..n])?;
                left -= n as u64;
            }
            let mut done = [0u8; 1];
            s.read_exact(&mut done)?;
            Ok(bytes as f64 / t0.elapsed().as_secs_f64())
        }
        Direction::Out => {
            let mut got = 0u64;
            let mut t0 = None;
            while got < bytes {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                t0.get_or_insert_with(std::time::Instant::now);
                got += n as u64;
            }
            let secs = t0.map_or(0.0, |t| t.elapsed().as_secs_f64());
            Ok(bytes as f64 / secs.max(1e-6))
        }
    }
}
