// SPDX-License-Identifier: GPL-2.0

//! The agent that runs as a service in every L2 guest of the testbed.
//!
//! It serves [`Request`]s arriving on the virtio-serial port named
//! `covmm.agent` and answers each with the command's status and output. L1 may
//! close and reopen its end of the port at any time; the agent keeps the port
//! open and simply waits for the next frame.

use std::fs::{self, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::frame::{read_frame, write_frame, ReadOutcome, Request, Response, MAX_PAYLOAD};

/// Finds `/dev/vportNpM` whose sysfs name is `name` (there is no udev in the
/// testbed's initramfs to create /dev/virtio-ports/ links).
pub fn find_port(name: &str) -> io::Result<PathBuf> {
    for entry in fs::read_dir("/sys/class/virtio-ports")? {
        let entry = entry?;
        let port_name = fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if port_name.trim() == name {
            return Ok(PathBuf::from("/dev").join(entry.file_name()));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no virtio port named {name}"),
    ))
}

/// Serves requests forever.
pub fn serve(port: PathBuf) -> io::Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(&port)?;
    let mut writer = file.try_clone()?;
    let mut reader = BufReader::new(file);
    loop {
        match read_frame::<_, Request>(&mut reader)? {
            ReadOutcome::Frame(req) => {
                let resp = run(&req);
                // The host end may have gone away meanwhile; the client
                // retries, so a lost answer is not an error here.
                let _ = write_frame(&mut writer, &resp);
            }
            // Host end closed: wait for it to reconnect.
            ReadOutcome::Eof => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Collects a pipe's bytes into a shared buffer, up to `MAX_PAYLOAD / 2`.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let mut b = sink.lock().unwrap_or_else(|e| e.into_inner());
            let room = (MAX_PAYLOAD / 2).saturating_sub(b.len());
            b.extend_from_slice(&chunk[..n.min(room)]);
        }
    });
    buf
}

fn snapshot(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGKILL: i32 = 9;

/// Runs one command in its own process group, killing the group on timeout.
fn run(req: &Request) -> Response {
    let spawned = Command::new("/bin/sh")
        .arg("-c")
        .arg(&req.cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Response {
                id: req.id,
                rc: 127,
                stdout: String::new(),
                stderr: format!("spawn: {e}"),
            }
        }
    };
    let pid = child.id() as i32;
    let out = drain(child.stdout.take().expect("stdout was requested as a pipe"));
    let err = drain(child.stderr.take().expect("stderr was requested as a pipe"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let rc = match rx.recv_timeout(Duration::from_millis(req.timeout_ms)) {
        Ok(Ok(status)) => status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        }),
        Ok(Err(_)) => 127,
        Err(_) => {
            // SAFETY: kill(2) on our own child's process group has no memory
            // safety requirements.
            unsafe { kill(-pid, SIGKILL) };
            let _ = rx.recv_timeout(Duration::from_secs(5));
            124
        }
    };
    // Background jobs may keep the pipes open; give the readers a moment, then
    // answer with what has arrived.
    thread::sleep(Duration::from_millis(5));
    let mut stdout = snapshot(&out);
    for _ in 0..20 {
        if Arc::strong_count(&out) == 1 && Arc::strong_count(&err) == 1 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
        stdout = snapshot(&out);
    }
    Response {
        id: req.id,
        rc,
        stdout,
        stderr: snapshot(&err),
    }
}
