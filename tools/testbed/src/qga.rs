// SPDX-License-Identifier: GPL-2.0

//! The benchmark's slowest anchor for Reverse VMRPC: the guest's meminfo
//! through qemu-guest-agent, as a management stack gets it without a network.
//! Each query is `guest-exec` of `cat /proc/meminfo` with its output
//! captured, then `guest-exec-status` until the process has exited, whose
//! answer carries the output in base64. The agent's socket is QEMU's end of
//! the guest's `org.qemu.guest_agent.0` port; one connection carries every
//! query, and statuses are asked again at once (no sleep), so the numbers are
//! the agent's best case.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// What a failed query went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the agent's socket: {0}")]
    Io(#[from] io::Error),
    #[error("the agent closed the connection")]
    Closed,
    #[error("the agent answered {0}")]
    Agent(String),
    #[error("the output of cat is no meminfo: {0:?}")]
    NotMeminfo(String),
}

/// One JSON connection to a guest agent.
struct Agent {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Agent {
    /// Connects and synchronises: a fresh connection may hold the answer to a
    /// command an earlier client sent, so lines are skipped until the answer
    /// to this `guest-sync`.
    fn connect(sock: &Path) -> Result<Self, Error> {
        let writer = UnixStream::connect(sock)?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut agent = Self {
            reader: BufReader::new(writer.try_clone()?),
            writer,
        };
        let id = u64::from(std::process::id());
        agent.send(&json!({"execute": "guest-sync", "arguments": {"id": id}}))?;
        loop {
            if agent.receive()?.get("return").and_then(Value::as_u64) == Some(id) {
                return Ok(agent);
            }
        }
    }

    fn send(&mut self, command: &Value) -> Result<(), Error> {
        let mut line = command.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    /// The next JSON line the agent sends (garbage before a sync is skipped).
    fn receive(&mut self) -> Result<Value, Error> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.reader.read_until(b'\n', &mut line)? == 0 {
                return Err(Error::Closed);
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                return Ok(v);
            }
        }
    }

    /// Runs `command` and returns its `return` member.
    fn execute(&mut self, command: Value) -> Result<Value, Error> {
        self.send(&command)?;
        let mut answer = self.receive()?;
        match answer.get_mut("return") {
            Some(ret) => Ok(ret.take()),
            None => Err(Error::Agent(answer.to_string())),
        }
    }

    /// The guest's /proc/meminfo, read by a process the agent starts.
    fn meminfo(&mut self) -> Result<String, Error> {
        let started = self.execute(json!({
            "execute": "guest-exec",
            "arguments": {"path": "/bin/cat", "arg": ["/proc/meminfo"], "capture-output": true},
        }))?;
        let pid = started
            .get("pid")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::Agent(started.to_string()))?;
        let status = loop {
            let status = self.execute(json!({
                "execute": "guest-exec-status",
                "arguments": {"pid": pid},
            }))?;
            if status.get("exited").and_then(Value::as_bool) == Some(true) {
                break status;
            }
        };
        let out = status
            .get("out-data")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if out.starts_with("MemTotal:") {
            Ok(out)
        } else {
            Err(Error::NotMeminfo(status.to_string()))
        }
    }
}

/// Times `count` meminfo queries through the agent behind `sock`; returns
/// the latencies in microseconds, sorted.
pub fn bench(sock: &Path, count: usize) -> Result<Vec<f64>, Error> {
    let mut agent = Agent::connect(sock)?;
    // A first query outside the timing: the agent's first fork pages in.
    agent.meminfo()?;
    let mut lat = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let t = Instant::now();
        agent.meminfo()?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}
