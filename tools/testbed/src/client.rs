// SPDX-License-Identifier: GPL-2.0

//! The L1 side of the testbed command channel: connects to the unix socket
//! that QEMU exposes for an L2's `covmm.agent` port and runs one command.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::frame::{read_frame, write_frame, ReadOutcome, Request, Response};

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket: the L2 is not running.
    #[error("cannot connect to {0}: {1} (is that L2 guest running?)")]
    Connect(String, io::Error),
    /// The guest did not answer in time.
    #[error("no answer from the guest agent within {0:?}")]
    Timeout(Duration),
    /// The channel broke.
    #[error("channel error: {0}")]
    Io(#[from] io::Error),
}

fn fresh_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (u64::from(std::process::id()) << 40) ^ nanos
}

/// Connects to `sock` by `deadline`. A QEMU whose main loop is stuck never
/// accepts, and once its listen backlog is full a unix `connect()` blocks
/// for good, so the connection is made on a thread of its own, abandoned
/// if it is still blocked at the deadline.
fn connect_by(sock: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let (tx, rx) = mpsc::channel();
    let path = sock.to_owned();
    thread::spawn(move || {
        let _ = tx.send(UnixStream::connect(path));
    });
    let left = deadline.saturating_duration_since(Instant::now());
    rx.recv_timeout(left).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the socket's owner does not accept connections",
        ))
    })
}

/// Runs `cmd` in the guest behind `sock`, waiting at most `timeout` for the
/// command itself plus a margin for the channel.
pub fn exec(sock: &Path, cmd: &str, timeout: Duration) -> Result<Response, ClientError> {
    let deadline = Instant::now() + timeout + Duration::from_secs(10);
    let mut stream = loop {
        match connect_by(sock, deadline) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline && e.kind() == io::ErrorKind::ConnectionRefused => {
                thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(ClientError::Connect(sock.display().to_string(), e)),
        }
    };
    let req = Request {
        id: fresh_id(),
        cmd: cmd.to_owned(),
        timeout_ms: timeout.as_millis() as u64,
    };
    write_frame(&mut stream, &req)?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout(timeout));
        }
        stream.set_read_timeout(Some(left))?;
        match read_frame::<_, Response>(&mut stream) {
            Ok(ReadOutcome::Frame(resp)) if resp.id == req.id => return Ok(resp),
            // A late answer to an earlier, abandoned command.
            Ok(ReadOutcome::Frame(_)) => continue,
            Ok(ReadOutcome::Eof) => {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ClientError::Timeout(timeout))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until the agent behind `sock` answers, or `timeout` passes.
pub fn wait(sock: &Path, timeout: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = exec(sock, "true", Duration::from_secs(2));
        match attempt {
            Ok(r) if r.rc == 0 => return Ok(()),
            _ if Instant::now() >= deadline => return Err(ClientError::Timeout(timeout)),
            _ => thread::sleep(Duration::from_millis(200)),
        }
    }
}
