// SPDX-License-Identifier: GPL-2.0

//! Framing of the testbed command channel.
//!
//! A frame is `MAGIC`, a little-endian u32 payload length, then a JSON payload.
//! The channel is a virtio-serial port whose host end may be closed and
//! reopened between commands, so a reader can start in the middle of a stale
//! frame; it then skips bytes until it finds `MAGIC` again.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Frame marker. Chosen to be unlikely in JSON text.
pub const MAGIC: [u8; 4] = *b"\x00CTB";
/// Largest payload accepted; command output above this is truncated by the agent.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// A command for the agent.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// Echoed in the response, so stale answers can be told apart.
    pub id: u64,
    /// Shell command, run with `/bin/sh -c`.
    pub cmd: String,
    /// Kill the command after this many milliseconds.
    pub timeout_ms: u64,
}

/// The agent's answer.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// Exit status; 124 on timeout, 128+N when killed by signal N.
    pub rc: i32,
    /// Standard output (lossily decoded as UTF-8).
    pub stdout: String,
    /// Standard error (lossily decoded as UTF-8).
    pub stderr: String,
}

/// Writes one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let payload = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let mut buf = Vec::with_capacity(payload.len() + 8);
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&payload);
    w.write_all(&buf)?;
    w.flush()
}

/// Outcome of trying to read a frame.
pub enum ReadOutcome<T> {
    /// A complete, well-formed frame.
    Frame(T),
    /// End of stream (the peer went away).
    Eof,
}

/// Reads bytes until a frame decodes. Garbage before `MAGIC` and frames that
/// fail to decode are skipped.
pub fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(r: &mut R) -> io::Result<ReadOutcome<T>> {
    loop {
        // Slide a 4-byte window until it equals MAGIC.
        let mut window = [0u8; 4];
        let mut filled = 0;
        loop {
            let mut b = [0u8; 1];
            if r.read(&mut b)? == 0 {
                return Ok(ReadOutcome::Eof);
            }
            if filled < 4 {
                window[filled] = b[0];
                filled += 1;
            } else {
                window.rotate_left(1);
                window[3] = b[0];
            }
            if filled == 4 && window == MAGIC {
                break;
            }
        }
        let mut len = [0u8; 4];
        if !read_full(r, &mut len)? {
            return Ok(ReadOutcome::Eof);
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_PAYLOAD {
            continue;
        }
        let mut payload = vec![0u8; len];
        if !read_full(r, &mut payload)? {
            return Ok(ReadOutcome::Eof);
        }
        if let Ok(msg) = serde_json::from_slice(&payload) {
            return Ok(ReadOutcome::Frame(msg));
        }
    }
}

/// Fills `buf`; false on end of stream.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut off = 0;
    while off < buf.len() {
        match r.read(&mut buf[off..])? {
            0 => return Ok(false),
            n => off += n,
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: u64) -> Request {
        Request {
            id,
            cmd: "echo hi".into(),
            timeout_ms: 5,
        }
    }

    #[test]
    fn frame_round_trips() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &req(7)).unwrap();
        match read_frame::<_, Request>(&mut buf.as_slice()).unwrap() {
            ReadOutcome::Frame(r) => assert_eq!(r, req(7)),
            ReadOutcome::Eof => panic!("unexpected eof"),
        }
    }

    #[test]
    fn reader_resynchronises_after_garbage_and_truncated_frames() {
        let mut buf = b"noise\x00CT".to_vec();
        // A truncated frame: header claims 100 bytes, then a good frame follows.
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&100u32.to_le_bytes());
        buf.extend_from_slice(b"{\"broken");
        let mut good = Vec::new();
        write_frame(&mut good, &req(9)).unwrap();
        // Pad so the broken frame's claimed length swallows only filler.
        buf.extend(std::iter::repeat_n(b' ', 100 - 8));
        buf.extend_from_slice(&good);
        match read_frame::<_, Request>(&mut buf.as_slice()).unwrap() {
            ReadOutcome::Frame(r) => assert_eq!(r, req(9)),
            ReadOutcome::Eof => panic!("unexpected eof"),
        }
    }

    #[test]
    fn oversized_length_is_skipped() {
        let mut buf = MAGIC.to_vec();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        write_frame(&mut buf, &req(3)).unwrap();
        match read_frame::<_, Request>(&mut buf.as_slice()).unwrap() {
            ReadOutcome::Frame(r) => assert_eq!(r, req(3)),
            ReadOutcome::Eof => panic!("unexpected eof"),
        }
    }

    #[test]
    fn eof_is_reported() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*empty).unwrap(),
            ReadOutcome::Eof
        ));
    }
}
