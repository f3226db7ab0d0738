// SPDX-License-Identifier: GPL-2.0

//! Messages: what one data frame carries. A message is a tag byte and a body;
//! requests, responses and exit statuses are JSON (so that fields can be
//! added without a new frame version), file and output bytes are raw.

use serde::{Deserialize, Serialize};

/// The first byte of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Host to agent: a [`Request`].
    Request = 1,
    /// Agent to host: a [`Response`] to the request.
    Response = 2,
    /// File bytes, either way.
    Data = 3,
    /// A program's standard output.
    Stdout = 4,
    /// A program's standard error.
    Stderr = 5,
    /// The end of a file's bytes.
    End = 6,
    /// Agent to host: the program ended; an [`Exit`].
    Exit = 7,
    /// Host to agent: stop the program (the user pressed Ctrl-C).
    Cancel = 8,
}

impl Tag {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::Data,
            4 => Self::Stdout,
            5 => Self::Stderr,
            6 => Self::End,
            7 => Self::Exit,
            8 => Self::Cancel,
            _ => return None,
        })
    }
}

/// A message as it goes into a frame.
pub fn encode(tag: Tag, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + body.len());
    m.push(tag as u8);
    m.extend_from_slice(body);
    m
}

/// A message with a JSON body.
pub fn encode_json<T: Serialize>(tag: Tag, value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    encode(tag, &serde_json::to_vec(value).unwrap_or_default())
}

/// Splits a received message; `None` for an unknown tag.
pub fn decode(msg: &[u8]) -> Option<(Tag, &[u8])> {
    let (&t, body) = msg.split_first()?;
    Some((Tag::from_u8(t)?, body))
}

/// What the host asks of the agent; one per session.
///
/// A file in transit is named by an `id` that stands for its version (its
/// size and modification time, [`file_id`]), so that an interrupted transfer
/// resumes only onto the same version. Its SHA-256 is computed while it
/// streams and comes in the [`End`] message; the receiver checks it over the
/// whole file before the file takes its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Receive a file of `size` bytes, version `id`, into `path`. The agent
    /// answers with the offset to send from: what an interrupted transfer
    /// of the same version left.
    Put {
        path: String,
        size: u64,
        id: String,
        mode: Option<u32>,
    },
    /// Send file `path`, from byte `offset` if its version is still
    /// `resume` (the host holds that much of it from an interrupted fetch),
    /// else from the start. The agent answers with its size, version and
    /// the offset it sends from.
    Get {
        path: String,
        offset: u64,
        resume: Option<String>,
    },
    /// Run `program` with `args`; output comes back as it is written.
    Run {
        program: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        cwd: Option<String>,
        timeout_ms: Option<u64>,
    },
}

/// The body of an [`Tag::End`] message: the whole file's checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Length of a file version id: 16 hex digits.
pub const ID_LEN: usize = 16;

/// A file's version as [`Request`] names it: its size and modification time
/// hashed, in [`ID_LEN`] hex digits.
pub fn file_id(meta: &std::fs::Metadata) -> String {
    use sha2::{Digest, Sha256};
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let h = Sha256::digest(format!("{}:{mtime}", meta.len()));
    hex(&h)[..ID_LEN].to_string()
}

/// Whether `s` has the form of a version id (it also names partial files).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `s` has the form of a SHA-256 in hex.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The hidden name a file takes while it arrives, next to its destination.
pub fn part_name(name: &str, id: &str) -> String {
    format!(".{name}.{id}.covmm-part")
}

/// Why the agent refused or failed a request: an errno-like kind the host
/// can act on, and a message for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Outside the agent's directory, or a program not on its allow-list.
    Denied,
    NotFound,
    NoSpace,
    /// The received file's checksum is not the one announced.
    Checksum,
    Invalid,
    Io,
}

/// The agent's answer to a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Set when the request failed.
    pub failure: Option<Failure>,
    pub message: Option<String>,
    /// Put and Get: where the bytes start.
    pub offset: Option<u64>,
    /// Get: the file's size and version.
    pub size: Option<u64>,
    pub id: Option<String>,
}

impl Response {
    pub fn failed(failure: Failure, message: impl Into<String>) -> Self {
        Self {
            failure: Some(failure),
            message: Some(message.into()),
            ..Self::default()
        }
    }
}

/// How a program ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Killed because its timeout passed.
    pub timed_out: bool,
    /// Killed because the host cancelled it.
    pub cancelled: bool,
}

impl Exit {
    /// The status a shell would give: the code, 128 + the signal, or 124 for
    /// a timeout as timeout(1) does.
    pub fn status(&self) -> i32 {
        if self.timed_out {
            124
        } else if let Some(c) = self.code {
            c
        } else {
            128 + self.signal.unwrap_or(0)
        }
    }
}

/// Lowercase hex of bytes (checksums on the wire).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json() {
        let r = Request::Run {
            program: "/bin/echo".into(),
            args: vec!["a b".into(), "\0\u{7e}".into()],
            env: vec![("K".into(), "V".into())],
            cwd: None,
            timeout_ms: Some(5),
        };
        let m = encode_json(Tag::Request, &r);
        let (tag, body) = decode(&m).unwrap();
        assert_eq!(tag, Tag::Request);
        assert_eq!(serde_json::from_slice::<Request>(body).unwrap(), r);
    }

    #[test]
    fn unknown_tags_and_empty_messages_are_refused() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0]), None);
        assert_eq!(decode(&[9, 1]), None);
        assert_eq!(decode(&[3]), Some((Tag::Data, &[][..])));
    }

    #[test]
    fn exit_statuses_read_like_a_shell() {
        assert_eq!(
            Exit {
                code: Some(3),
                ..Exit::default()
            }
            .status(),
            3
        );
        assert_eq!(
            Exit {
                signal: Some(9),
                ..Exit::default()
            }
            .status(),
            137
        );
        assert_eq!(
            Exit {
                timed_out: true,
                signal: Some(9),
                ..Exit::default()
            }
            .status(),
            124
        );
    }
}
