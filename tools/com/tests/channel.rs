// SPDX-License-Identifier: GPL-2.0

//! The whole channel in one process: a host client and the agent's service
//! over a socket pair, through a proxy that corrupts and drops bytes like a
//! noisy serial line. The testbed runs the same over real 16550 and
//! virtio-serial ports (tools/testbed/scenarios/70-serial-channel.sh).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use covmm_com::agent::{self, Policy};
use covmm_com::client::{Client, Error};
use covmm_com::link::{Link, Window};
use covmm_com::msg::{Exit, Failure, Request};

/// A fresh directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("covmm-com-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// Deterministic bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the proxy does to the bytes, each way.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Flips one byte in every `every` (0: none).
    every: u64,
    /// Drops the next 40 bytes in every `drop_every` (0: none).
    drop_every: u64,
    /// Passes at most this many bytes a second (0: no limit).
    rate: u64,
}

/// Forwards `from` to `to` through `faults`.
fn pump(mut from: UnixStream, mut to: UnixStream, faults: Faults, flipped: Arc<AtomicU64>) {
    let Faults {
        every,
        drop_every,
        rate,
    } = faults;
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        // A slow line trickles: 8 bytes at a time (a 16550's receive
        // trigger level), each after its own time, so that it never falls
        // quiet in the middle of a frame, as the testbed's 16550 does not.
        let piece = if rate == 0 { buf.len() } else { 8 };
        let mut count = 0u64;
        let mut dropping = 0usize;
        while let Ok(n) = from.read(&mut buf[..piece]) {
            if n == 0 {
                break;
            }
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                count += 1;
                if dropping > 0 {
                    dropping -= 1;
                    continue;
                }
                if drop_every != 0 && count % drop_every == 0 {
                    dropping = 40;
                    continue;
                }
                if every != 0 && count % every == 0 {
                    flipped.fetch_add(1, Relaxed);
                    out.push(b ^ 0x5a);
                } else {
                    out.push(b);
                }
            }
            if to.write_all(&out).is_err() {
                break;
            }
            if rate != 0 {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
            }
        }
    });
}

struct Bed {
    dir: PathBuf,
    host_end: UnixStream,
    flipped: Arc<AtomicU64>,
}

/// An agent confined to a fresh directory, behind a proxy that does
/// `faults` each way.
fn bed(name: &str, allow: Option<Vec<String>>, faults: Faults) -> Bed {
    let dir = scratch(name);
    fs::create_dir_all(dir.join("root")).unwrap();
    let (host_end, proxy_a) = UnixStream::pair().unwrap();
    let (proxy_b, agent_end) = UnixStream::pair().unwrap();
    let flipped = Arc::new(AtomicU64::new(0));
    pump(
        proxy_a.try_clone().unwrap(),
        proxy_b.try_clone().unwrap(),
        faults,
        flipped.clone(),
    );
    pump(proxy_b, proxy_a, faults, flipped.clone());
    let policy = Policy {
        root: Some(dir.join("root")),
        allow,
    };
    std::thread::spawn(move || {
        let link = Link::serve(Box::new(agent_end)).unwrap();
        agent::serve(&link, &policy);
    });
    Bed {
        dir,
        host_end,
        flipped,
    }
}

impl Bed {
    fn client(&self) -> Client {
        Client::connect(
            Box::new(self.host_end.try_clone().unwrap()),
            Window::FAST,
            Duration::from_secs(10),
        )
        .unwrap()
    }
}

fn put(c: &Client, src: &Path, dst: &str) -> Result<covmm_com::client::Transfer, Error> {
    c.put(src, dst, &mut |_, _| true)
}

fn run(
    c: &Client,
    program: &str,
    args: &[&str],
    timeout_ms: Option<u64>,
) -> (Vec<u8>, Vec<u8>, Result<i32, Error>) {
    let (out, err, r) = run_until(c, program, args, timeout_ms, &|| false);
    (out, err, r.map(|e| e.status()))
}

/// [`run`], which asks the agent to stop the program once `cancel` holds.
fn run_until(
    c: &Client,
    program: &str,
    args: &[&str],
    timeout_ms: Option<u64>,
    cancel: &dyn Fn() -> bool,
) -> (Vec<u8>, Vec<u8>, Result<Exit, Error>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = c.run(
        &Request::Run {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![("COVMM_TEST".into(), "yes".into())],
            cwd: None,
            timeout_ms,
        },
        &mut out,
        &mut err,
        cancel,
    );
    (out, err, r)
}

#[test]
fn files_cross_a_noisy_line_intact_both_ways() {
    let b = bed(
        "noisy",
        None,
        Faults {
            every: 997,
            drop_every: 50_021,
            rate: 0,
        },
    );
    let data = noise(1, 3 << 20);
    let src = b.dir.join("src.bin");
    fs::write(&src, &data).unwrap();
    let c = b.client();
    let t = put(&c, &src, "in/../copy.bin").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.size, data.len() as u64);
    assert_eq!(fs::read(b.dir.join("root/copy.bin")).unwrap(), data);
    // One command at a time on a line, as with QEMU's one-client socket.
    drop(c);
    let back = b.dir.join("back.bin");
    let c = b.client();
    c.get("copy.bin", &back, &mut |_, _| true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fs::read(&back).unwrap(), data);
    assert!(
        b.flipped.load(Relaxed) > 100,
        "the proxy corrupted too little to test anything"
    );
    assert!(c.stats().bad_frames > 0, "no corrupted frame was seen");
    // No partial file is left behind on either side.
    let left: Vec<_> = fs::read_dir(b.dir.join("root"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn a_slow_line_is_not_flooded_with_copies() {
    // Like the testbed's emulated 16550: the 8 KiB that a UART window keeps
    // in flight take half a second to drain at 16 KB/s, far longer than the
    // round trips of the first small messages said.
    let b = bed(
        "slow",
        None,
        Faults {
            rate: 1200,
            ..Faults::default()
        },
    );
    let data = noise(2, 8 << 10);
    let src = b.dir.join("src.bin");
    fs::write(&src, &data).unwrap();
    let c = Client::connect(
        Box::new(b.host_end.try_clone().unwrap()),
        Window::UART,
        Duration::from_secs(10),
    )
    .unwrap();
    put(&c, &src, "slow.bin").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fs::read(b.dir.join("root/slow.bin")).unwrap(), data);
    // Not one: the first round trips time small messages, and a timeout
    // taken from them would fire before the first 512-byte frame is through.
    let sent_again = c.stats().retransmits;
    assert!(
        sent_again == 0,
        "{sent_again} frames sent again on a line that lost nothing"
    );
}

#[test]
fn an_interrupted_transfer_resumes_and_never_shows_a_partial_file() {
    let b = bed("resume", None, Faults::default());
    let data = noise(2, 2 << 20);
    let src = b.dir.join("src.bin");
    fs::write(&src, &data).unwrap();
    fs::write(b.dir.join("root/dst.bin"), b"old contents").unwrap();
    let c = b.client();
    let r = c.put(&src, "dst.bin", &mut |done, _| done < 1 << 20);
    assert!(matches!(r, Err(Error::Stopped(_))), "{r:?}");
    drop(c);
    // The destination still holds the old file, not a part of the new one.
    assert_eq!(
        fs::read(b.dir.join("root/dst.bin")).unwrap(),
        b"old contents"
    );
    let c = b.client();
    let t = put(&c, &src, "dst.bin").unwrap_or_else(|e| panic!("{e}"));
    assert!(t.resumed_at >= 1 << 19, "resumed at {}", t.resumed_at);
    assert_eq!(fs::read(b.dir.join("root/dst.bin")).unwrap(), data);
    drop(c);

    // The same for a fetch.
    let back = b.dir.join("back.bin");
    let c = b.client();
    let r = c.get("dst.bin", &back, &mut |done, _| done < 1 << 20);
    assert!(matches!(r, Err(Error::Stopped(_))), "{r:?}");
    drop(c);
    assert!(!back.exists());
    let c = b.client();
    let t = c
        .get("dst.bin", &back, &mut |_, _| true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.resumed_at >= 1 << 19, "resumed at {}", t.resumed_at);
    assert_eq!(fs::read(&back).unwrap(), data);
}

#[test]
fn programs_run_with_their_output_exit_code_and_timeout() {
    let b = bed(
        "run",
        None,
        Faults {
            every: 1999,
            ..Faults::default()
        },
    );
    let (out, _, st) = run(
        &b.client(),
        "sh",
        &["-c", "echo hi; echo err >&2; echo $COVMM_TEST; exit 3"],
        None,
    );
    assert_eq!(st.unwrap(), 3);
    assert_eq!(out, b"hi\nyes\n");
    // Binary output full of frame delimiters comes back byte for byte.
    let blob: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    fs::write(b.dir.join("root/blob"), &blob).unwrap();
    let (out, _, st) = run(&b.client(), "cat", &["blob"], None);
    assert_eq!(st.unwrap(), 0);
    assert!(
        out == blob,
        "binary output differs ({} bytes came)",
        out.len()
    );
    // A program that never ends is killed at its timeout, with what it
    // left behind in the background. The timeout leaves the shell time to
    // say it started on a loaded machine (at 500 ms, it sometimes had not
    // while the other tests and a kernel build ran).
    let t = Instant::now();
    let (out, _, st) = run(
        &b.client(),
        "sh",
        &["-c", "echo started; sleep 100 & sleep 100"],
        Some(3000),
    );
    assert_eq!(st.unwrap(), 124);
    assert_eq!(out, b"started\n");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the timeout took {:?}",
        t.elapsed()
    );
    // A program the host cancels (Ctrl-C) is killed, and its exit still
    // comes.
    let t = Instant::now();
    let (out, _, exit) = run_until(
        &b.client(),
        "sh",
        &["-c", "echo started; sleep 100 & sleep 100"],
        None,
        &|| t.elapsed() > Duration::from_secs(2),
    );
    let exit = exit.unwrap();
    assert!(exit.cancelled, "{exit:?}");
    assert_eq!(out, b"started\n");
    assert_eq!(exit.status(), 128 + 9);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the cancel took {:?}",
        t.elapsed()
    );
    // A program that does not exist.
    let (_, _, st) = run(&b.client(), "/no/such/program", &[], None);
    assert!(
        matches!(st, Err(Error::Agent(Failure::NotFound, _))),
        "{st:?}"
    );
}

#[test]
fn the_agent_keeps_its_confinement() {
    let b = bed("confine", Some(vec!["true".into()]), Faults::default());
    let outside = b.dir.join("outside");
    fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(&b.dir, b.dir.join("root/up")).unwrap();
    std::os::unix::fs::symlink(&outside, b.dir.join("root/link")).unwrap();
    let src = b.dir.join("src");
    fs::write(&src, b"x").unwrap();
    let denied = |r: Result<covmm_com::client::Transfer, Error>| {
        matches!(r, Err(Error::Agent(Failure::Denied, _)))
    };
    for dst in ["../escape", "/etc/escape", "up/escape", "a/../../escape"] {
        assert!(
            denied(put(&b.client(), &src, dst)),
            "put to {dst} was not refused"
        );
    }
    assert!(!b.dir.join("escape").exists());
    let got = b.dir.join("got");
    for from in ["link", "up/outside", "../outside", "/etc/passwd"] {
        assert!(
            denied(b.client().get(from, &got, &mut |_, _| true)),
            "get of {from} was not refused"
        );
    }
    assert!(!got.exists());
    let (_, _, st) = run(&b.client(), "sh", &["-c", "true"], None);
    assert!(
        matches!(st, Err(Error::Agent(Failure::Denied, _))),
        "{st:?}"
    );
    assert_eq!(run(&b.client(), "true", &[], None).2.unwrap(), 0);
    // A missing host source is the host's error, before any byte moves.
    assert!(matches!(
        put(&b.client(), &b.dir.join("nope"), "x"),
        Err(Error::Local(..))
    ));
    // A destination directory that does not exist.
    assert!(matches!(
        put(&b.client(), &src, "no/such/dir/x"),
        Err(Error::Agent(Failure::NotFound, _))
    ));
}

#[test]
fn a_dead_agent_is_reported_not_waited_for_forever() {
    let (host_end, _agent_end) = UnixStream::pair().unwrap();
    let t = Instant::now();
    let r = Client::connect(Box::new(host_end), Window::UART, Duration::from_secs(1));
    assert!(matches!(r, Err(Error::NoAgent(1))), "{:?}", r.err());
    assert!(t.elapsed() < Duration::from_secs(3));
    let _ = AtomicBool::new(false);
}
