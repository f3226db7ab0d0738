// SPDX-License-Identifier: GPL-2.0

//! The host's side: com-dd (put), com-get (get) and com-run (run), each one
//! session with the guest's agent.
//!
//! A file fetched from the guest is written under a partial name next to its
//! destination and renamed into place once its SHA-256 matches the agent's
//! ([`crate::files`]); the partial file of an interrupted fetch is resumed by
//! the next one of the same version.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::Digest;

use crate::files;
use crate::link::{Line, Link, LinkError, Window};
use crate::msg::{self, Exit, Failure, Request, Response, Tag};

/// How long the agent may take to answer a request (a resumed transfer
/// hashes what it holds of the file first).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// Silence after which a waiting host checks that the agent is still there.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How often a running program's host looks whether the user asked to stop.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// What went wrong, for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no agent answered on the serial line within {0} s (is covmm-agent running in the guest, on that port?)")]
    NoAgent(u64),
    #[error("{0}")]
    Link(#[from] LinkError),
    #[error("the agent refused: {1}")]
    Agent(Failure, String),
    #[error("{0}: {1}")]
    Local(PathBuf, io::Error),
    #[error("the agent broke the protocol: {0}")]
    Protocol(String),
    #[error("{0}: the copy's checksum does not match the agent's (the partial file was removed; run again)")]
    Checksum(PathBuf),
    #[error("stopped at byte {0}; the same command resumes there")]
    Stopped(u64),
}

impl Error {
    /// The exit status a command should end with: 2 for bad local input,
    /// 3 for a refusal by the agent, 4 for a failed line.
    pub fn status(&self) -> u8 {
        match self {
            Error::Local(..) => 2,
            Error::Agent(..) | Error::Checksum(_) => 3,
            _ => 4,
        }
    }
}

/// Progress of a transfer: called with bytes done and bytes in all; the
/// transfer stops (with [`Error::Stopped`]) when it returns false.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// A session with the guest's agent.
pub struct Client {
    link: Link,
    session: u32,
}

/// What a transfer did.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Transfer {
    /// The file's size.
    pub size: u64,
    /// Where it started: more than 0 when it resumed an interrupted one.
    pub resumed_at: u64,
    pub seconds: f64,
    /// Frames the line corrupted (dropped and sent again).
    pub bad_frames: u64,
    pub retransmits: u64,
}

/// A session number unlikely to repeat between two commands.
fn new_session() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (t.subsec_nanos() ^ (t.as_secs() as u32).rotate_left(16) ^ std::process::id().rotate_left(8))
        | 1
}

impl Client {
    /// Opens a session with the agent behind `line`.
    pub fn connect(line: Box<dyn Line>, window: Window, timeout: Duration) -> Result<Self, Error> {
        let session = new_session();
        let link = Link::connect(line, session, window, timeout).map_err(|e| match e {
            LinkError::Timeout => Error::NoAgent(timeout.as_secs()),
            e => Error::Link(e),
        })?;
        Ok(Self { link, session })
    }

    fn send(&self, tag: Tag, body: &[u8]) -> Result<(), Error> {
        Ok(self.link.send(self.session, &msg::encode(tag, body))?)
    }

    /// The next message, sending a keepalive on each `KEEPALIVE` of
    /// silence (a dead or restarted agent then ends the link), until
    /// `timeout` (`None`: no limit).
    fn recv(&self, timeout: Option<Duration>) -> Result<(Tag, Vec<u8>), Error> {
        let end = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some((_, m)) = self.link.recv(KEEPALIVE)? {
                let (tag, body) = msg::decode(&m)
                    .ok_or_else(|| Error::Protocol(format!("unknown message {:?}", m.first())))?;
                return Ok((tag, body.to_vec()));
            }
            if end.is_some_and(|e| Instant::now() >= e) {
                return Err(LinkError::Timeout.into());
            }
            // A message the agent ignores; its acknowledgement is the point.
            self.send(Tag::Data, &[])?;
        }
    }

    /// Waits for the agent's response; a refusal is an error.
    fn response(&self) -> Result<Response, Error> {
        loop {
            let (tag, body) = self.recv(Some(ANSWER_TIMEOUT))?;
            if tag != Tag::Response {
                continue;
            }
            let r: Response =
                serde_json::from_slice(&body).map_err(|e| Error::Protocol(e.to_string()))?;
            return match r.failure {
                Some(f) => Err(Error::Agent(f, r.message.unwrap_or_default())),
                None => Ok(r),
            };
        }
    }

    fn request(&self, r: &Request) -> Result<Response, Error> {
        self.link
            .send(self.session, &msg::encode_json(Tag::Request, r))?;
        self.response()
    }

    fn transfer(&self, size: u64, resumed_at: u64, t0: Instant) -> Transfer {
        let s = self.link.stats();
        Transfer {
            size,
            resumed_at,
            seconds: t0.elapsed().as_secs_f64(),
            bad_frames: s.bad_frames,
            retransmits: s.retransmits,
        }
    }

    /// com-dd: copies host file `src` to `dst` in the guest.
    pub fn put(&self, src: &Path, dst: &str, progress: Progress<'_>) -> Result<Transfer, Error> {
        let t0 = Instant::now();
        let local = |e| Error::Local(src.to_path_buf(), e);
        let mut file = File::open(src).map_err(local)?;
        let meta = file.metadata().map_err(local)?;
        if !meta.is_file() {
            return Err(local(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let (size, id) = (meta.len(), msg::file_id(&meta));
        #[cfg(unix)]
        let mode = Some(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777);
        #[cfg(not(unix))]
        let mode = None;
        let start = self
            .request(&Request::Put {
                path: dst.into(),
                size,
                id: id.clone(),
                mode,
            })?
            .offset
            .unwrap_or(0)
            .min(size);
        // What the guest holds already counts in the checksum.
        let mut hash = files::hash_prefix(&mut file, start).map_err(local)?;
        let mut buf = vec![0u8; crate::frame::MAX_PAYLOAD];
        let mut sent = start;
        loop {
            let chunk = self.link.max_message() - 1;
            let n = file.read(&mut buf[..chunk]).map_err(local)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            self.send(Tag::Data, &buf[..n])?;
            sent += n as u64;
            if !progress(sent, size) {
                return Err(Error::Stopped(sent));
            }
            // The agent answers mid-stream only to refuse (a full disk).
            if let Some((_, m)) = self.link.recv(Duration::ZERO)? {
                if let Some((Tag::Response, body)) = msg::decode(&m) {
                    let r: Response =
                        serde_json::from_slice(body).map_err(|e| Error::Protocol(e.to_string()))?;
                    return Err(Error::Agent(
                        r.failure.unwrap_or(Failure::Io),
                        r.message.unwrap_or_default(),
                    ));
                }
            }
        }
        let now = std::fs::metadata(src).map_err(local)?;
        if sent != size || msg::file_id(&now) != id {
            // No End: the agent keeps the part, and the next run, seeing a
            // new version, starts over.
            return Err(local(io::Error::other(
                "the file changed while it was sent",
            )));
        }
        let end = msg::End {
            sha256: msg::hex(&hash.finalize()),
        };
        self.send(Tag::End, &serde_json::to_vec(&end).unwrap_or_default())?;
        self.response()?;
        Ok(self.transfer(size, start, t0))
    }

    /// com-get: copies guest file `src` to host file `dst`.
    pub fn get(&self, src: &str, dst: &Path, progress: Progress<'_>) -> Result<Transfer, Error> {
        let t0 = Instant::now();
        let dir = match dst.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dst
            .file_name()
            .ok_or_else(|| Error::Local(dst.to_path_buf(), io::ErrorKind::InvalidInput.into()))?
            .to_string_lossy()
            .into_owned();
        // An earlier, interrupted fetch of the same name: resume it if the
        // agent's file is still the version it was fetching.
        let earlier = files::parts_of(&dir, &name).into_iter().next();
        let (have, known) = match &earlier {
            Some((p, id)) => (
                fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                Some(id.clone()),
            ),
            None => (0, None),
        };
        let head = self.request(&Request::Get {
            path: src.into(),
            offset: have,
            resume: known,
        })?;
        let (size, id) = match (head.size, head.id) {
            (Some(s), Some(id)) if msg::is_id(&id) => (s, id),
            _ => {
                return Err(Error::Protocol(
                    "a Get answer without size or version".into(),
                ))
            }
        };
        let start = head.offset.unwrap_or(0).min(size);
        files::remove_stale_parts(&dir, &name, if start == 0 { "" } else { &id });
        let part = files::part_path(&dir, &name, &id);
        let local = |e| Error::Local(part.clone(), e);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&part)
            .map_err(local)?;
        file.set_len(start).map_err(local)?;
        let mut hash = files::hash_prefix(&mut file, start).map_err(local)?;
        let mut got = start;
        let sha = loop {
            let (tag, body) = self.recv(Some(ANSWER_TIMEOUT))?;
            match tag {
                Tag::Data => {
                    if got + body.len() as u64 > size {
                        return Err(Error::Protocol("more bytes than announced".into()));
                    }
                    file.write_all(&body).map_err(local)?;
                    hash.update(&body);
                    got += body.len() as u64;
                    if !progress(got, size) {
                        return Err(Error::Stopped(got));
                    }
                }
                Tag::End => match serde_json::from_slice::<msg::End>(&body) {
                    Ok(end) if msg::is_sha256(&end.sha256) => break end.sha256,
                    _ => return Err(Error::Protocol("an end without a checksum".into())),
                },
                _ => {}
            }
        };
        if got != size || msg::hex(&hash.finalize()) != sha.to_ascii_lowercase() {
            drop(file);
            let _ = fs::remove_file(&part);
            return Err(Error::Checksum(dst.to_path_buf()));
        }
        file.sync_all().map_err(local)?;
        drop(file);
        fs::rename(&part, dst).map_err(|e| Error::Local(dst.to_path_buf(), e))?;
        Ok(self.transfer(size, start, t0))
    }

    /// com-run: runs a program in the guest; its output is written to
    /// `stdout` and `stderr` as it arrives. Once `cancel` says true the
    /// agent is asked to kill the program; its exit still comes back.
    pub fn run(
        &self,
        req: &Request,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
        cancel: &dyn Fn() -> bool,
    ) -> Result<Exit, Error> {
        if !matches!(req, Request::Run { .. }) {
            return Err(Error::Protocol("run takes a Run request".into()));
        }
        self.request(req)?;
        let mut cancelled = false;
        let mut quiet_since = Instant::now();
        loop {
            if !cancelled && cancel() {
                cancelled = true;
                self.cancel()?;
            }
            let Some((_, m)) = self.link.recv(CANCEL_POLL)? else {
                if quiet_since.elapsed() >= KEEPALIVE {
                    // A message the agent ignores; its acknowledgement is
                    // the point.
                    self.send(Tag::Data, &[])?;
                    quiet_since = Instant::now();
                }
                continue;
            };
            quiet_since = Instant::now();
            let (tag, body) = msg::decode(&m)
                .ok_or_else(|| Error::Protocol(format!("unknown message {:?}", m.first())))?;
            match tag {
                Tag::Stdout => {
                    let _ = stdout.write_all(body).and_then(|()| stdout.flush());
                }
                Tag::Stderr => {
                    let _ = stderr.write_all(body).and_then(|()| stderr.flush());
                }
                Tag::Exit => {
                    return serde_json::from_slice(body)
                        .map_err(|e| Error::Protocol(e.to_string()));
                }
                _ => {}
            }
        }
    }

    /// Asks the agent to stop the running program (its Exit still comes).
    pub fn cancel(&self) -> Result<(), Error> {
        self.send(Tag::Cancel, &[])
    }

    /// Frames the line corrupted, and frames sent again, so far.
    pub fn stats(&self) -> crate::link::LinkStats {
        self.link.stats()
    }
}
