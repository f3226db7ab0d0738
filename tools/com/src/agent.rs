// SPDX-License-Identifier: GPL-2.0

//! The guest agent's service: one request per host session, confined by a
//! [`Policy`].
//!
//! A received file is written under a hidden partial name next to its
//! destination (`.NAME.ID.covmm-part`, see [`crate::files`]) and renamed
//! into place only once its SHA-256 matches what the host computed, after an
//! fsync. An interrupted transfer leaves the partial file, and the next
//! `Put` of the same version resumes at its end.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::files;
use crate::link::{Link, LinkError};
use crate::msg::{self, Exit, Failure, Request, Response, Tag};
use crate::port;

/// How long the agent waits for the next piece of a file.
const DATA_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a finished program's output may stay open (held by a process it
/// left behind) before the agent kills what is left of its process group.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// How often the agent looks whether a running program has exited when no
/// thread can watch for it (see [`exit_watch`]).
const EXIT_POLL: Duration = Duration::from_millis(10);
/// The longest wait for a message while a watched program runs: a backstop
/// only, as the watcher ends the wait at the exit.
const RUN_IDLE: Duration = Duration::from_secs(1);

/// What a host may reach through the agent.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Files are read and written only under this directory (canonical).
    pub root: Option<PathBuf>,
    /// Only these programs run (as given in the request: a name looked up
    /// in PATH, or a path).
    pub allow: Option<Vec<String>>,
}

/// A request refused or failed, as the host will be told.
struct Refusal(Failure, String);

impl Refusal {
    fn io(what: &str, path: &Path, e: &io::Error) -> Self {
        let failure = match e.kind() {
            io::ErrorKind::NotFound => Failure::NotFound,
            io::ErrorKind::PermissionDenied => Failure::Denied,
            _ if e.raw_os_error() == Some(28) => Failure::NoSpace, // ENOSPC
            _ => Failure::Io,
        };
        Self(failure, format!("{what} {}: {e}", path.display()))
    }
}

/// A request's end: a last response to send (`None`: everything was sent
/// already, or nobody is listening any more), or a refusal.
type Outcome = Result<Option<Response>, Refusal>;

impl Policy {
    /// `path` as the agent may use it: under the root if there is one, with
    /// no `..` that climbs out of it and no symbolic link in its directory
    /// part that leads out of it. The last component may not exist yet.
    fn resolve(&self, path: &str) -> Result<PathBuf, Refusal> {
        let denied = || {
            Refusal(
                Failure::Denied,
                format!("{path}: outside the agent's directory"),
            )
        };
        if path.is_empty() || path.contains('\0') {
            return Err(Refusal(Failure::Invalid, format!("{path:?}: not a path")));
        }
        let Some(root) = &self.root else {
            return Ok(PathBuf::from(path));
        };
        // Lexically first: `..` may not climb above the root.
        let mut rel = PathBuf::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::ParentDir => {
                    if !rel.pop() {
                        return Err(denied());
                    }
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        let full = if Path::new(path).is_absolute() {
            let abs = normalize(Path::new(path));
            abs.strip_prefix(root).map_err(|_| denied())?;
            abs
        } else {
            root.join(&rel)
        };
        let name = full
            .file_name()
            .ok_or_else(|| Refusal(Failure::Invalid, format!("{path}: names no file")))?;
        // Then physically: the directory, with its links followed.
        let parent = full.parent().unwrap_or(root);
        let real = parent
            .canonicalize()
            .map_err(|e| Refusal::io("directory of", &full, &e))?;
        if !real.starts_with(root) {
            return Err(denied());
        }
        let real = real.join(name);
        // An existing symbolic link as the last component is followed by
        // reads, so it must stay inside too.
        if fs::symlink_metadata(&real).is_ok_and(|m| m.file_type().is_symlink()) {
            match real.canonicalize() {
                Ok(t) if t.starts_with(root) => {}
                _ => return Err(denied()),
            }
        }
        Ok(real)
    }
}

/// `..` and `.` taken out of an absolute path, without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Serves requests on `link` for as long as it lives.
pub fn serve(link: &Link, policy: &Policy) -> LinkError {
    let mut pending = None;
    loop {
        let next = match pending.take() {
            Some(m) => m,
            None => match link.recv(Duration::from_secs(3600)) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => return e,
            },
        };
        let (session, m) = next;
        let Some((Tag::Request, body)) = msg::decode(&m) else {
            // Left over from an abandoned request, or a keepalive.
            continue;
        };
        crate::link::trace(format_args!(
            "agent: request {}",
            String::from_utf8_lossy(body)
        ));
        let mut s = Session {
            link,
            session,
            pending: None,
        };
        let outcome = match serde_json::from_slice::<Request>(body) {
            Ok(Request::Put {
                path,
                size,
                id,
                mode,
            }) => s.put(policy, &path, size, &id, mode),
            Ok(Request::Get {
                path,
                offset,
                resume,
            }) => s.get(policy, &path, offset, resume.as_deref()),
            Ok(Request::Run {
                program,
                args,
                env,
                cwd,
                timeout_ms,
            }) => s.run(policy, &program, &args, &env, cwd.as_deref(), timeout_ms),
            Err(e) => Err(Refusal(Failure::Invalid, format!("malformed request: {e}"))),
        };
        pending = s.pending.take();
        let last = match outcome {
            Ok(r) => r,
            Err(Refusal(f, m)) => Some(Response::failed(f, m)),
        };
        if let (Some(r), None) = (last, &pending) {
            let _ = link.send(session, &msg::encode_json(Tag::Response, &r));
        }
    }
}

/// One request being served.
struct Session<'a> {
    link: &'a Link,
    session: u32,
    /// A message of a newer session that ended this one.
    pending: Option<(u32, Vec<u8>)>,
}

/// How a request's stream of messages ended early: the host opened a new
/// session (its message is kept in `pending`), the link failed, or a local
/// read failed.
struct Stop;

impl Session<'_> {
    fn send(&self, tag: Tag, body: &[u8]) -> Result<(), Stop> {
        self.link
            .send(self.session, &msg::encode(tag, body))
            .map_err(|_| Stop)
    }

    fn reply(&self, r: &Response) -> Result<(), Stop> {
        self.link
            .send(self.session, &msg::encode_json(Tag::Response, r))
            .map_err(|_| Stop)
    }

    /// The next message of this session within `timeout`.
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, Stop> {
        self.recv_unless(timeout, &|| false)
    }

    /// [`Self::recv`], which returns `None` as soon as `stop` holds (see
    /// [`Link::recv_unless`]).
    fn recv_unless(
        &mut self,
        timeout: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<u8>>, Stop> {
        match self.link.recv_unless(timeout, stop) {
            Ok(Some((s, m))) if s == self.session => Ok(Some(m)),
            Ok(Some(other)) => {
                self.pending = Some(other);
                Err(Stop)
            }
            Ok(None) => Ok(None),
            Err(_) => Err(Stop),
        }
    }

    fn put(
        &mut self,
        policy: &Policy,
        path: &str,
        size: u64,
        id: &str,
        mode: Option<u32>,
    ) -> Outcome {
        if !msg::is_id(id) {
            return Err(Refusal(
                Failure::Invalid,
                "the file version is no id".into(),
            ));
        }
        let dest = policy.resolve(path)?;
        if dest.is_dir() {
            return Err(Refusal(
                Failure::Invalid,
                format!("{}: is a directory", dest.display()),
            ));
        }
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = dest
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        files::remove_stale_parts(&dir, &name, id);
        let part = files::part_path(&dir, &name, id);
        let cannot = |e: io::Error| Refusal::io("cannot write", &dest, &e);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&part)
            .map_err(cannot)?;
        let mut offset = file.metadata().map(|m| m.len()).unwrap_or(0);
        if offset > size {
            file.set_len(0).map_err(cannot)?;
            offset = 0;
        }
        let free = port::free_space(&dir).unwrap_or(u64::MAX);
        if size - offset > free {
            drop(file);
            if offset == 0 {
                let _ = fs::remove_file(&part);
            }
            return Err(Refusal(
                Failure::NoSpace,
                format!(
                    "{}: {} bytes needed, {free} free",
                    dest.display(),
                    size - offset
                ),
            ));
        }
        let mut hash = files::hash_prefix(&mut file, offset).map_err(cannot)?;
        if self
            .reply(&Response {
                offset: Some(offset),
                ..Response::default()
            })
            .is_err()
        {
            return Ok(None);
        }
        let mut written = offset;
        let sha = loop {
            let m = match self.recv(DATA_TIMEOUT) {
                Ok(Some(m)) => m,
                // The partial file stays for the next attempt.
                Ok(None) | Err(_) => return Ok(None),
            };
            match msg::decode(&m) {
                Some((Tag::Data, bytes)) => {
                    if written + bytes.len() as u64 > size {
                        let _ = fs::remove_file(&part);
                        return Err(Refusal(
                            Failure::Invalid,
                            "more bytes than announced".into(),
                        ));
                    }
                    if let Err(e) = file.write_all(bytes) {
                        // Nothing half-written stays behind a failed write.
                        let _ = fs::remove_file(&part);
                        return Err(cannot(e));
                    }
                    hash.update(bytes);
                    written += bytes.len() as u64;
                }
                Some((Tag::End, body)) => match serde_json::from_slice::<msg::End>(body) {
                    Ok(end) if msg::is_sha256(&end.sha256) => break end.sha256,
                    _ => {
                        let _ = fs::remove_file(&part);
                        return Err(Refusal(
                            Failure::Invalid,
                            "an end without a checksum".into(),
                        ));
                    }
                },
                _ => {}
            }
        };
        let finish = || -> Result<(), Refusal> {
            let io = |e: io::Error| Refusal::io("cannot finish", &dest, &e);
            if written != size {
                return Err(Refusal(
                    Failure::Invalid,
                    format!("{written} bytes of {size} came"),
                ));
            }
            if msg::hex(&hash.finalize()) != sha.to_ascii_lowercase() {
                return Err(Refusal(
                    Failure::Checksum,
                    format!("{}: checksum mismatch", dest.display()),
                ));
            }
            file.sync_all().map_err(io)?;
            #[cfg(unix)]
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&part, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(io)?;
            }
            #[cfg(not(unix))]
            let _ = mode;
            fs::rename(&part, &dest).map_err(io)?;
            // The rename itself reaches the disk.
            #[cfg(unix)]
            File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
            Ok(())
        };
        let done = finish();
        if done.is_err() {
            let _ = fs::remove_file(&part);
        }
        done.map(|()| Some(Response::default()))
    }

    fn get(&mut self, policy: &Policy, path: &str, offset: u64, resume: Option<&str>) -> Outcome {
        let src = policy.resolve(path)?;
        let cannot = |e: io::Error| Refusal::io("cannot read", &src, &e);
        let mut file = File::open(&src).map_err(cannot)?;
        let meta = file.metadata().map_err(cannot)?;
        if !meta.is_file() {
            return Err(Refusal(
                Failure::Invalid,
                format!("{}: not a regular file", src.display()),
            ));
        }
        let (size, id) = (meta.len(), msg::file_id(&meta));
        let offset = if resume == Some(id.as_str()) && offset <= size {
            offset
        } else {
            0
        };
        let mut hash = files::hash_prefix(&mut file, offset).map_err(cannot)?;
        let head = Response {
            offset: Some(offset),
            size: Some(size),
            id: Some(id),
            ..Response::default()
        };
        let mut stream = || -> Result<(), Stop> {
            self.reply(&head)?;
            let mut buf = vec![0u8; crate::frame::MAX_PAYLOAD];
            loop {
                let chunk = self.link.max_message() - 1;
                let n = file.read(&mut buf[..chunk]).map_err(|_| Stop)?;
                if n == 0 {
                    let end = msg::End {
                        sha256: msg::hex(&hash.clone().finalize()),
                    };
                    return self.send(Tag::End, &serde_json::to_vec(&end).unwrap_or_default());
                }
                hash.update(&buf[..n]);
                self.send(Tag::Data, &buf[..n])?;
            }
        };
        // A read error half-way ends the stream without End: the host's
        // transfer fails and resumes.
        let _ = stream();
        Ok(None)
    }

    fn run(
        &mut self,
        policy: &Policy,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        cwd: Option<&str>,
        timeout_ms: Option<u64>,
    ) -> Outcome {
        if let Some(allow) = &policy.allow {
            if !allow.iter().any(|a| a == program) {
                return Err(Refusal(
                    Failure::Denied,
                    format!("{program}: not on the agent's allow-list"),
                ));
            }
        }
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match (cwd, &policy.root) {
            (Some(dir), _) => {
                cmd.current_dir(policy.resolve(dir)?);
            }
            (None, Some(root)) => {
                cmd.current_dir(root);
            }
            (None, None) => {}
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| {
            let f = match e.kind() {
                io::ErrorKind::NotFound => Failure::NotFound,
                io::ErrorKind::PermissionDenied => Failure::Denied,
                _ => Failure::Io,
            };
            Refusal(f, format!("cannot run {program}: {e}"))
        })?;
        crate::link::trace(format_args!("agent: {program} started"));
        if self.reply(&Response::default()).is_err() {
            kill_group(&mut child);
            let _ = child.wait();
            return Ok(None);
        }
        let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut exit = Exit::default();
        let (done_tx, done_rx) = mpsc::channel();
        let outputs = [
            (
                Tag::Stdout,
                child
                    .stdout
                    .take()
                    .map(|o| Box::new(o) as Box<dyn Read + Send>),
            ),
            (
                Tag::Stderr,
                child
                    .stderr
                    .take()
                    .map(|o| Box::new(o) as Box<dyn Read + Send>),
            ),
        ];
        let exited = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for (tag, out) in outputs {
                let Some(mut out) = out else { continue };
                let done = done_tx.clone();
                let (link, session) = (self.link, self.session);
                scope.spawn(move || {
                    let mut buf = vec![0u8; crate::frame::MAX_PAYLOAD];
                    while let Ok(n) = out.read(&mut buf[..link.max_message() - 1]) {
                        if n == 0 || link.send(session, &msg::encode(tag, &buf[..n])).is_err() {
                            break;
                        }
                    }
                    let _ = done.send(());
                });
            }
            drop(done_tx);
            // A thread of its own waits for the exit and ends the wait for
            // the host's messages below at once: a program like `true` is
            // over long before a poll period.
            let watched = match exit_watch(&child) {
                Ok(watch) => {
                    let (link, exited) = (self.link, &exited);
                    scope.spawn(move || {
                        watch();
                        exited.store(true, Ordering::Release);
                        link.notify();
                    });
                    true
                }
                Err(_) => false,
            };
            let status = loop {
                if let Ok(Some(st)) = child.try_wait() {
                    break Some(st);
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    exit.timed_out = true;
                    kill_group(&mut child);
                    break child.wait().ok();
                }
                // Once the watcher has seen the exit (or if it cannot
                // watch), only a poll is left: the exit is reaped just after.
                let watching = watched && !exited.load(Ordering::Acquire);
                let wait = if watching { RUN_IDLE } else { EXIT_POLL };
                let wait = deadline.map_or(wait, |d| wait.min(d - now));
                let stop = || watching && exited.load(Ordering::Acquire);
                match self.recv_unless(wait, &stop) {
                    Ok(Some(m)) if msg::decode(&m).is_some_and(|(t, _)| t == Tag::Cancel) => {
                        exit.cancelled = true;
                        kill_group(&mut child);
                        break child.wait().ok();
                    }
                    Ok(_) => {}
                    Err(_) => {
                        // The host left: nobody is waiting for the program.
                        kill_group(&mut child);
                        break child.wait().ok();
                    }
                }
            };
            // Output still open after the exit belongs to processes the
            // program left behind; they go with its group.
            let grace = Instant::now() + OUTPUT_GRACE;
            let mut open = 2;
            while open > 0 {
                match done_rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
                    Ok(()) => open -= 1,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        kill_group(&mut child);
                        let _ = done_rx.recv();
                        open -= 1;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            if let Some(st) = status {
                exit.code = st.code();
                #[cfg(unix)]
                {
                    exit.signal = std::os::unix::process::ExitStatusExt::signal(&st);
                }
            }
        });
        crate::link::trace(format_args!("agent: {program} ended, output drained"));
        if self.pending.is_none() {
            let _ = self.send(Tag::Exit, &serde_json::to_vec(&exit).unwrap_or_default());
        }
        Ok(None)
    }
}

/// What waits, in a thread of its own, until `child` has exited, without
/// reaping it: its `Child` still does that, and can kill it meanwhile.
#[cfg(unix)]
fn exit_watch(child: &Child) -> io::Result<impl FnOnce() + Send + 'static> {
    let pid = child.id();
    Ok(move || loop {
        // SAFETY: siginfo_t is plain data, for which all zeroes is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid() writes only to `info`. With WNOWAIT the child
        // stays a zombie, so its pid is not reused before `Child` reaps it;
        // had that happened already, waitid() fails with ECHILD.
        let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    })
}

/// What waits, in a thread of its own, until `child` has exited: on a
/// handle of its own to the process, which `Child` does not close under it.
#[cfg(windows)]
fn exit_watch(child: &Child) -> io::Result<impl FnOnce() + Send + 'static> {
    use std::os::windows::io::{AsHandle, AsRawHandle};
    use windows_sys::Win32::System::Threading::{WaitForSingleObject, INFINITE};
    let process = child.as_handle().try_clone_to_owned()?;
    Ok(move || {
        // SAFETY: `process` is an open process handle, owned by this
        // closure until the wait has returned.
        unsafe { WaitForSingleObject(process.as_raw_handle(), INFINITE) };
    })
}

/// Elsewhere nothing watches: the agent looks every [`EXIT_POLL`].
#[cfg(not(any(unix, windows)))]
fn exit_watch(_: &Child) -> io::Result<fn()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Kills a program and everything in its process group.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill() has no memory effects; the group is the child's
        // own (process_group(0) at spawn).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        return;
    }
    let _ = child.kill();
}
