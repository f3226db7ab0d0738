// SPDX-License-Identifier: GPL-2.0

//! Frames on the serial line: a fixed header, a payload and a CRC-32, all
//! COBS-encoded and ended by a zero byte.
//!
//! COBS leaves no zero byte inside a frame, so a receiver that lost its place
//! (line noise, an agent restarted half-way through a frame, a host that
//! attached late) is back in step at the next zero, and payload bytes need no
//! escaping of their own: binary data costs at most one byte in 254. A frame
//! whose CRC, version or length is wrong is dropped whole; the link layer
//! above sends it again.
//!
//! Header, little-endian:
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 1    | version ([`VERSION`])                   |
//! | 1      | 1    | kind ([`Kind`])                         |
//! | 2      | 1    | flags ([`FLAG_NAK`])                    |
//! | 3      | 1    | reserved, 0                             |
//! | 4      | 4    | session                                 |
//! | 8      | 4    | seq: the stream offset of the payload;  |
//! |        |      | in `Ack`, the end offset of the last    |
//! |        |      | data frame received (0: none)           |
//! | 12     | 4    | ack: the next offset the sender expects |
//! | 16     | 4    | window: bytes past `ack` it can take    |
//!
//! then up to [`MAX_PAYLOAD`] bytes, then the CRC-32 (IEEE) of header and
//! payload. Offsets count bytes of each direction's stream, wrapping at
//! 2^32 (see [`crate::link`]).

/// The frame format's version; a frame of another version is dropped.
pub const VERSION: u8 = 1;
/// Ends each frame (and starts it, so that a frame after noise is whole).
/// A lone one is an empty frame, which receivers skip.
pub const DELIMITER: u8 = 0;
/// Largest payload of one frame.
pub const MAX_PAYLOAD: usize = 4096;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 20;
const CRC_LEN: usize = 4;
/// Largest decoded frame.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD + CRC_LEN;
/// Largest encoded frame, delimiter included: COBS adds one byte per 254.
pub const MAX_ENCODED: usize = MAX_FRAME + MAX_FRAME / 254 + 2;
/// The frame is a negative acknowledgement: the receiver holds bytes from
/// beyond gaps in the stream; the payload lists them, each a little-endian
/// u32 start and end offset, and the sender sends them again at once.
pub const FLAG_NAK: u8 = 1;

/// What a frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Host to agent: start session `session` (payload: nothing).
    Hello = 1,
    /// Agent to host: session `session` started.
    HelloAck = 2,
    /// Bytes of the stream, at offset `seq`.
    Data = 3,
    /// Acknowledgement only; `seq` is the end offset of the last data
    /// frame that arrived.
    Ack = 4,
    /// "I know no such session": the agent restarted, or the host has gone.
    Reset = 5,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Hello,
            2 => Self::HelloAck,
            3 => Self::Data,
            4 => Self::Ack,
            5 => Self::Reset,
            _ => return None,
        })
    }
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub flags: u8,
    pub session: u32,
    pub seq: u32,
    pub ack: u32,
    pub window: u32,
    pub payload: Vec<u8>,
}

/// Why a received frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("malformed COBS")]
    Cobs,
    #[error("shorter than a header")]
    Short,
    #[error("longer than the largest frame")]
    Long,
    #[error("CRC mismatch")]
    Crc,
    #[error("version {0}")]
    Version(u8),
    #[error("unknown kind {0}")]
    Kind(u8),
}

impl Frame {
    /// The frame as it goes on the line: a leading zero (which ends any
    /// garbage the receiver holds), the COBS body and the closing zero.
    pub fn encode(&self) -> Vec<u8> {
        debug_assert!(self.payload.len() <= MAX_PAYLOAD);
        let mut raw = Vec::with_capacity(HEADER_LEN + self.payload.len() + CRC_LEN);
        raw.extend_from_slice(&[VERSION, self.kind as u8, self.flags, 0]);
        raw.extend_from_slice(&self.session.to_le_bytes());
        raw.extend_from_slice(&self.seq.to_le_bytes());
        raw.extend_from_slice(&self.ack.to_le_bytes());
        raw.extend_from_slice(&self.window.to_le_bytes());
        raw.extend_from_slice(&self.payload);
        let crc = crc32fast::hash(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        let mut out = Vec::with_capacity(raw.len() + raw.len() / 254 + 3);
        out.push(DELIMITER);
        cobs_encode(&raw, &mut out);
        out.push(DELIMITER);
        out
    }

    /// Decodes the bytes between two zeros.
    pub fn decode(body: &[u8]) -> Result<Self, FrameError> {
        if body.len() > MAX_ENCODED {
            return Err(FrameError::Long);
        }
        let raw = cobs_decode(body).ok_or(FrameError::Cobs)?;
        if raw.len() < HEADER_LEN + CRC_LEN {
            return Err(FrameError::Short);
        }
        if raw.len() > MAX_FRAME {
            return Err(FrameError::Long);
        }
        let (data, crc) = raw.split_at(raw.len() - CRC_LEN);
        if crc32fast::hash(data).to_le_bytes() != crc {
            return Err(FrameError::Crc);
        }
        if data[0] != VERSION {
            return Err(FrameError::Version(data[0]));
        }
        let kind = Kind::from_u8(data[1]).ok_or(FrameError::Kind(data[1]))?;
        let word =
            |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        Ok(Self {
            kind,
            flags: data[2],
            session: word(4),
            seq: word(8),
            ack: word(12),
            window: word(16),
            payload: data[HEADER_LEN..].to_vec(),
        })
    }
}

/// Splits a byte stream into frame bodies at zero bytes. Bytes that do not
/// fit a frame are thrown away up to the next zero.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    overflow: bool,
}

impl Splitter {
    /// Feeds bytes read from the line; calls `body` with each complete
    /// frame body (empty bodies, as between two frames, are skipped).
    pub fn feed(&mut self, bytes: &[u8], mut body: impl FnMut(&[u8])) {
        for chunk in bytes.split_inclusive(|&b| b == DELIMITER) {
            let (data, ends) = match chunk.split_last() {
                Some((&DELIMITER, data)) => (data, true),
                _ => (chunk, false),
            };
            if !self.overflow {
                if self.buf.len() + data.len() > MAX_ENCODED {
                    self.overflow = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(data);
                }
            }
            if ends {
                if !self.overflow && !self.buf.is_empty() {
                    body(&self.buf);
                }
                self.buf.clear();
                self.overflow = false;
            }
        }
    }
}

/// Consistent Overhead Byte Stuffing: `input` with every zero removed, each
/// run prefixed by its length plus one.
fn cobs_encode(input: &[u8], out: &mut Vec<u8>) {
    let mut code_at = out.len();
    out.push(0);
    let mut code = 1u8;
    for &b in input {
        if b != 0 {
            out.push(b);
            code += 1;
        }
        if b == 0 || code == 0xff {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        }
    }
    out[code_at] = code;
}

fn cobs_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let code = input[i] as usize;
        if code == 0 || i + code > input.len() {
            return None;
        }
        out.extend_from_slice(&input[i + 1..i + code]);
        i += code;
        if code != 0xff && i < input.len() {
            out.push(0);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: Vec<u8>) -> Frame {
        Frame {
            kind: Kind::Data,
            flags: 0,
            session: 0xdead_beef,
            seq: 7,
            ack: u32::MAX,
            window: 1 << 20,
            payload,
        }
    }

    fn bodies(line: &[u8]) -> Vec<Vec<u8>> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        s.feed(line, |b| out.push(b.to_vec()));
        out
    }

    #[test]
    fn cobs_round_trips_every_shape() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            (1..=254).collect(),
            (1..=255).collect(),
            (0..=255).cycle().take(3000).collect(),
            vec![0xff; 600],
        ];
        for c in cases {
            let mut enc = Vec::new();
            cobs_encode(&c, &mut enc);
            assert!(!enc.contains(&0), "{c:?}");
            assert!(enc.len() <= c.len() + c.len() / 254 + 1);
            assert_eq!(cobs_decode(&enc).as_deref(), Some(&c[..]));
        }
    }

    #[test]
    fn frames_round_trip_with_zeros_and_delimiters_inside() {
        for payload in [
            vec![],
            vec![0; MAX_PAYLOAD],
            (0..=255).cycle().take(MAX_PAYLOAD).collect(),
        ] {
            let f = frame(payload);
            let line = f.encode();
            assert!(line.len() <= MAX_ENCODED + 1);
            let b = bodies(&line);
            assert_eq!(b.len(), 1);
            assert_eq!(Frame::decode(&b[0]), Ok(f));
        }
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let line = frame(b"hello, serial world".to_vec()).encode();
        for i in 1..line.len() - 1 {
            for bit in 0..8 {
                let mut bad = line.clone();
                bad[i] ^= 1 << bit;
                for body in bodies(&bad) {
                    assert!(
                        Frame::decode(&body).is_err(),
                        "flip of bit {bit} of byte {i} passed"
                    );
                }
            }
        }
    }

    #[test]
    fn the_splitter_resynchronises_after_garbage() {
        let good = frame(b"x".to_vec());
        let mut line = vec![1, 2, 3, 0xff, 7];
        line.extend(good.encode());
        line.extend(vec![9u8; MAX_ENCODED * 2]); // a runaway without a zero
        line.push(0);
        line.extend(good.encode());
        let ok: Vec<_> = bodies(&line)
            .iter()
            .filter_map(|b| Frame::decode(b).ok())
            .collect();
        assert_eq!(ok, vec![good.clone(), good]);
    }

    #[test]
    fn frames_split_across_reads_are_joined() {
        let f = frame((0..200).collect());
        let line = f.encode();
        let mut s = Splitter::default();
        let mut got = Vec::new();
        for piece in line.chunks(3) {
            s.feed(piece, |b| got.push(Frame::decode(b)));
        }
        assert_eq!(got, vec![Ok(f)]);
    }

    #[test]
    fn wrong_version_kind_and_sizes_are_refused() {
        let mut raw = vec![2, 3, 0, 0];
        raw.extend([0u8; HEADER_LEN - 4]);
        let crc = crc32fast::hash(&raw);
        raw.extend(crc.to_le_bytes());
        let mut enc = Vec::new();
        cobs_encode(&raw, &mut enc);
        assert_eq!(Frame::decode(&enc), Err(FrameError::Version(2)));
        raw[0] = VERSION;
        raw[1] = 99;
        raw.truncate(HEADER_LEN);
        let crc = crc32fast::hash(&raw);
        raw.extend(crc.to_le_bytes());
        enc.clear();
        cobs_encode(&raw, &mut enc);
        assert_eq!(Frame::decode(&enc), Err(FrameError::Kind(99)));
        enc.clear();
        cobs_encode(&[1, 2, 3], &mut enc);
        assert_eq!(Frame::decode(&enc), Err(FrameError::Short));
        assert_eq!(Frame::decode(&[5, 1]), Err(FrameError::Cobs));
    }
}
