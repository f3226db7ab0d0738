// SPDX-License-Identifier: GPL-2.0

//! The reliable link: each direction is a byte stream, cut into frames,
//! acknowledged cumulatively, with a receive window and retransmissions that
//! are cut smaller when the line loses frames.
//!
//! Messages of the layer above are written to the stream with a 4-byte
//! length in front and read back whole ([`Link::send`], [`Link::recv`]).
//! Frames carry the stream offset of their first byte (`seq`), and every
//! frame carries `ack`, the next offset its sender expects, and `window`,
//! how many bytes past `ack` it can take. Because offsets count bytes, not
//! frames, a retransmission may cut the same bytes into smaller frames, the
//! way TCP re-segments. That is what keeps a noisy line moving: a 4 KiB
//! frame on a line that corrupts one byte in a thousand almost never arrives
//! whole, and sending it again unchanged would never get through.
//!
//! - A sender keeps at most a [`Window`] of bytes in flight, so on a slow line
//!   it never waits a round trip per chunk (the papers' com-dd did, at
//!   51,770 B/s), and never more than the receiver's window.
//! - A receiver keeps bytes that arrive after a gap (a frame lost to a CRC
//!   error) and sends a negative acknowledgement listing every gap
//!   ([`FLAG_NAK`]), at once when a gap opens or closes and again while gaps
//!   remain: the sender sends just those ranges again. When they arrive, the
//!   acknowledgement jumps past everything held.
//! - A sender that hears nothing for its retransmission timeout sends its
//!   oldest bytes again and backs off, and the next acknowledgement says
//!   what the silence was (as TCP's F-RTO, RFC 5682, tells):
//!   - if it covers only the copy, the frames sent after the oldest were
//!     lost too (a frame size that the line garbles whole leaves no gap for
//!     the receiver to report, only silence): the sender goes back to its
//!     oldest byte and sends everything again, one frame at first and
//!     twice as much each round trip while acknowledgements come;
//!   - if it covers more, the first copies are still arriving (a slow line,
//!     a busy guest): nothing more is sent again.
//! - The timeout follows the measured round trip, which on a 16550 includes
//!   the time to drain a full window: every acknowledgement times the newest
//!   frame it covers, unless that frame was sent again (Karn's rule). On a
//!   line slower than the first round trip suggested, the timeout so grows
//!   within a few frames to the time the queue takes to drain, instead of
//!   firing, and adding copies to the queue, every half second. The
//!   timeout also allows for the peer's delayed acknowledgement, and keeps
//!   its initial value until a frame of the current size has been timed
//!   (`Tx::rto`).
//! - Frames shrink when the line loses them: a timeout, or a range lost
//!   again after it was sent again, halves the frame size down to
//!   [`MIN_PAYLOAD`] (a timeout that proves spurious gives the size back,
//!   as TCP's Eifel response does), and a run of frames acknowledged
//!   without a loss doubles it again up to the negotiated size, as
//!   ZMODEM's block size does. A session starts at [`START_PAYLOAD`], so
//!   that a first window of large frames is never lost whole on a bad
//!   line.
//! - A receiver whose reader falls behind advertises a smaller window; the
//!   sender stops, and probes a closed window now and then.
//!
//! A link belongs to one session, which the host opens with `Hello`. Frames
//! of other sessions are ignored; a data frame for a session the agent does
//! not know gets `Reset`, which ends the host's link at once with
//! [`LinkError::Reset`]: the agent restarted, and the host's command fails
//! (a transfer resumes where it stopped when the command is run again).
//!
//! Three threads serve a link: one reads and decodes the line, one writes
//! it, one runs the timers. The reader never waits for the line to take
//! bytes: two readers each stuck writing a retransmission to the other would
//! deadlock. All end once the link is dropped or dead, so a stream can carry
//! one link after another (but only one at a time). Senders block while
//! their buffer is full.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::frame::{Frame, Kind, Splitter, FLAG_NAK, MAX_PAYLOAD};

/// A host that hears nothing at all from the agent for this long, while it
/// waits for an acknowledgement, gives up.
pub const DEAD_AFTER: Duration = Duration::from_secs(60);
/// The smallest payload frames shrink to on a noisy line.
pub const MIN_PAYLOAD: u16 = 64;
/// The payload a session starts with, growing from there on a clean line.
pub const START_PAYLOAD: u16 = 512;
/// The largest message [`Link::send`] takes.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Bytes in front of each message in the stream: its length.
const LEN_PREFIX: usize = 4;
/// Received bytes a side holds for a reader that does not keep up; its
/// window closes when they are all taken.
const RECEIVE_BUFFER: usize = 1 << 20;
/// The timer's period while bytes are in flight or gaps are open, and while
/// the link is idle.
const TICK_BUSY: Duration = Duration::from_millis(5);
const TICK_IDLE: Duration = Duration::from_millis(50);
/// How long the reading thread waits for bytes before it checks whether the
/// link still lives.
const READ_POLL: Duration = Duration::from_millis(100);
const MIN_RTO: Duration = Duration::from_millis(300);
/// The timeout before a round trip has been timed on a frame as large as
/// those in flight (RFC 6298's initial value). On a slow line a small
/// message's round trip says nothing of a large frame's, which takes its
/// own length in line time: a quarter of a second for 512 bytes on the
/// testbed's 16550.
const INITIAL_RTO: Duration = Duration::from_secs(1);
const MAX_RTO: Duration = Duration::from_secs(30);
/// A receiver repeats an unchanged list of gaps after twice the time gaps
/// took to fill, within these bounds. The sender ignores requests for
/// ranges it sent again within half a round trip, so a slow line is not
/// flooded with copies.
const NAK_REPEAT_MIN: Duration = Duration::from_millis(5);
const NAK_REPEAT_MAX: Duration = Duration::from_millis(500);
/// Gaps one negative acknowledgement lists at most.
const MAX_GAPS: usize = 32;
/// Retransmitted frames remembered, to tell a repeated loss from a request
/// that crossed the copy.
const MAX_RESENT: usize = 256;
/// Data frames whose transmission numbers are kept (a full window of the
/// smallest frames).
const MAX_SENT_KEPT: usize = 1 << 14;
/// A sender facing a closed window asks again this often.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Frames acknowledged in a row, none lost, before frames grow again.
const GROW_AFTER: u32 = 16;
/// Frames received before an acknowledgement goes out without waiting for
/// the next timer tick.
const ACK_EVERY: u32 = 8;
/// Otherwise an owed acknowledgement waits for the line to fall quiet this
/// long (a burst has ended), or for this long at most while bytes keep
/// coming. On a 16550, where one 512-byte frame takes a quarter of a second
/// under emulation, acknowledging each frame on the next tick cost the
/// guest an acknowledgement's port I/O per frame: a twentieth of what the
/// data itself cost. Half of [`KICK_AFTER`] at most, so that a sender never
/// takes a delayed acknowledgement for a stalled line.
const ACK_QUIET: Duration = Duration::from_millis(20);
const ACK_DELAY_MAX: Duration = Duration::from_millis(500);
/// A peer quiet this long while the link is in use gets the line kicked
/// ([`Line::kick`]), at most this often, for as long as [`DEAD_AFTER`].
const KICK_AFTER: Duration = Duration::from_secs(1);
/// The largest window a `Hello` may ask for, in frames.
const MAX_WINDOW_FRAMES: u16 = 64;

/// How much a side keeps in flight. The host chooses, and tells the agent in
/// its `Hello`: what suits a virtio-serial port (megabytes a second) would
/// queue many seconds of data on an emulated 16550 and make every lost frame
/// cost that long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Frames in flight.
    pub frames: u16,
    /// Largest frame payload, at most [`MAX_PAYLOAD`].
    pub payload: u16,
}

impl Window {
    /// For virtio-serial and other fast lines: 128 KiB in flight.
    pub const FAST: Self = Self {
        frames: 32,
        payload: MAX_PAYLOAD as u16,
    };
    /// For a 16550 UART: 8 KiB in flight, under a second at 115,200 baud.
    pub const UART: Self = Self {
        frames: 16,
        payload: 512,
    };

    fn bytes(self) -> u32 {
        u32::from(self.frames) * u32::from(self.payload)
    }

    fn encode(self) -> Vec<u8> {
        let mut v = self.frames.to_le_bytes().to_vec();
        v.extend_from_slice(&self.payload.to_le_bytes());
        v
    }

    /// The window a `Hello` asks for, within sane bounds.
    fn decode(b: &[u8]) -> Self {
        match b {
            [f0, f1, p0, p1, ..] => Self {
                frames: u16::from_le_bytes([*f0, *f1]).clamp(1, MAX_WINDOW_FRAMES),
                payload: u16::from_le_bytes([*p0, *p1]).clamp(MIN_PAYLOAD, MAX_PAYLOAD as u16),
            },
            _ => Self::FAST,
        }
    }
}

/// Why a link ended.
#[derive(Clone, Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the serial line failed: {0}")]
    Io(String),
    #[error("the serial line was closed")]
    Closed,
    #[error("the peer restarted or left the session")]
    Reset,
    #[error("the peer stopped answering")]
    Timeout,
    #[error("a message of {0} bytes exceeds the largest message")]
    TooBig(usize),
    #[error("the peer broke the link protocol: {0}")]
    Protocol(String),
}

/// The byte stream under a link: a serial device, a pty, or QEMU's socket.
pub trait Line: Read + Write + Send + 'static {
    /// A second handle on the same stream, for the reading thread.
    fn try_clone_line(&self) -> io::Result<Box<dyn Line>>;

    /// Waits at most `timeout` for bytes to read (or the end of the
    /// stream); false when none came. A stream that cannot wait says true
    /// at once, and its reads must come back by themselves now and then.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool>;

    /// After the stream read end-of-file on the agent's side: waits until
    /// a host may be there again. By default, a pause of [`READ_POLL`].
    fn wait_for_peer(&self) -> io::Result<()> {
        thread::sleep(READ_POLL);
        Ok(())
    }

    /// Called when the peer went quiet in the middle of an exchange: a line
    /// that can lose its way without losing bytes (a UART whose interrupt
    /// was lost) gets moving again. By default, nothing.
    fn kick(&self) {}
}

/// With `COVMM_COM_TRACE` set, every frame received and every
/// retransmission goes to standard error: what a line does, for debugging.
/// Each line starts with the milliseconds since the first, so that a trace
/// also shows where the time goes.
pub(crate) fn trace(what: std::fmt::Arguments<'_>) {
    static START: std::sync::OnceLock<Option<Instant>> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| std::env::var_os("COVMM_COM_TRACE").map(|_| Instant::now()));
    if let Some(t0) = start {
        eprintln!("covmm-com: {:9.3} {what}", t0.elapsed().as_secs_f64() * 1e3);
    }
}

/// `a` comes before `b` in wrapping offset order.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The sending half of a session.
struct Tx {
    /// The oldest byte not yet acknowledged.
    una: u32,
    /// The next byte to send: never sent, or sent again after a timeout.
    nxt: u32,
    /// The highest offset sent: `nxt` goes back to `una` after a timeout,
    /// and what is sent below this again is a retransmission.
    high: u32,
    /// Bytes allowed in flight: the window, cut to one frame by going back
    /// and opened again by acknowledgements.
    cwnd: u32,
    /// After a timeout, the end of the bytes sent again: the next
    /// acknowledgement tells a lost window from a slow one.
    rto_probe: Option<u32>,
    /// The stream from `una` on: sent but unacknowledged, then unsent.
    buf: VecDeque<u8>,
    /// The peer takes bytes up to this offset (its `ack` plus `window`).
    peer_limit: u32,
    /// The frame size now: shrinks on losses, grows back on clean runs.
    payload: u16,
    clean_run: u32,
    /// Frames in flight sent once, `[start, end)` and when, oldest first:
    /// the round-trip samples. A frame sent again leaves (Karn's rule).
    timed: VecDeque<(u32, u32, Instant)>,
    rto_at: Option<Instant>,
    /// The retransmission timeout while backing off.
    backoff: Option<Duration>,
    /// Ranges sent again, when, and their transmission number: losing one
    /// of them again means the line is worse than the frame size allows.
    resent: Vec<(u32, u32, Instant, u64)>,
    /// The next frame's transmission number: frames go out on the line in
    /// this order.
    tsn: u64,
    /// The end offset and transmission number of recent data frames, oldest
    /// first: which frame a peer last heard tells what it must have heard
    /// before (see [`State::on_nak`]).
    sent: VecDeque<(u32, u64)>,
    /// The smoothed round trip and its variation (RFC 6298).
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The largest frame payload a round trip was timed on.
    timed_payload: u32,
    /// The frame size before the timeouts not yet settled by an
    /// acknowledgement halved it.
    payload_before_timeout: Option<u16>,
    last_probe: Instant,
    retransmits: u64,
}

/// The receiving half of a session.
struct Rx {
    /// The next byte expected.
    next: u32,
    /// Frames that came after a gap: offset and bytes.
    held: Vec<(u32, Vec<u8>)>,
    /// The message being put together: its length prefix and bytes so far.
    partial: Vec<u8>,
    inbox: VecDeque<Vec<u8>>,
    inbox_bytes: usize,
    /// Frames received since the last acknowledgement went out.
    ack_owed: u32,
    /// When the oldest of them arrived.
    owed_since: Option<Instant>,
    /// The gaps last reported, and when.
    nak_sent: Option<(Vec<(u32, u32)>, Instant)>,
    /// How long a reported gap takes to fill, smoothed.
    fill_time: Option<Duration>,
    /// The window last advertised.
    advertised: u32,
    /// The end offset of the last data frame that arrived whole (0: none
    /// yet). Acknowledgements carry it in `seq`.
    last_end: u32,
}

struct State {
    session: u32,
    limits: Window,
    /// Set once the host's `Hello` was answered (the agent: once one came).
    open: bool,
    tx: Tx,
    rx: Rx,
    /// When this side last heard a frame of its session.
    last_heard: Instant,
    /// When the reader last took bytes off the line, frames or not.
    last_bytes: Instant,
    dead: Option<LinkError>,
    /// Frames dropped for a bad CRC or format (for statistics and tests).
    bad_frames: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Bytes for the writing thread, in order.
    outgoing: mpsc::Sender<Vec<u8>>,
    /// The agent side answers `Hello` for any session; the host side does not.
    agent: bool,
}

/// One end of a link.
pub struct Link {
    shared: Arc<Shared>,
}

/// Counters of a link's life.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    pub bad_frames: u64,
    pub retransmits: u64,
    /// The payload frames are cut to now.
    pub payload: u16,
}

impl Tx {
    fn new(limits: Window) -> Self {
        Self {
            una: 0,
            nxt: 0,
            high: 0,
            cwnd: limits.bytes(),
            rto_probe: None,
            buf: VecDeque::new(),
            peer_limit: limits.bytes(),
            payload: limits.payload.min(START_PAYLOAD),
            clean_run: 0,
            timed: VecDeque::new(),
            rto_at: None,
            backoff: None,
            resent: Vec::new(),
            tsn: 0,
            sent: VecDeque::new(),
            srtt: None,
            rttvar: Duration::ZERO,
            timed_payload: 0,
            payload_before_timeout: None,
            last_probe: Instant::now(),
            retransmits: 0,
        }
    }

    fn in_flight(&self) -> u32 {
        self.nxt.wrapping_sub(self.una)
    }

    fn unsent(&self) -> usize {
        self.buf.len() - self.in_flight() as usize
    }

    /// The retransmission timeout: the smoothed round trip plus four times
    /// its variation, so that a guest whose CPU is busy elsewhere for a
    /// while does not look like a line that lost everything, plus the time
    /// the peer may hold an acknowledgement ([`ACK_DELAY_MAX`]), as QUIC's
    /// probe timeout adds `max_ack_delay` (RFC 9002, 6.2.1). Until a round
    /// trip has been timed on a frame of the current size, at least
    /// [`INITIAL_RTO`] plus that delay.
    fn rto(&self) -> Duration {
        self.backoff.unwrap_or_else(|| {
            let untimed = INITIAL_RTO + ACK_DELAY_MAX;
            let rto = self.srtt.map_or(untimed, |s| {
                (s + self.rttvar * 4 + ACK_DELAY_MAX).clamp(MIN_RTO, MAX_RTO)
            });
            // With no round trip timed at all, `timed_payload` is 0.
            if self.timed_payload < u32::from(self.payload) {
                rto.max(untimed)
            } else {
                rto
            }
        })
    }

    /// Takes one round-trip sample (RFC 6298's estimator).
    fn sample_rtt(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
    }

    /// The bytes at `from` (an offset in flight or unsent), at most `len`.
    fn bytes_at(&self, from: u32, len: usize) -> Vec<u8> {
        let start = from.wrapping_sub(self.una) as usize;
        let end = (start + len).min(self.buf.len());
        self.buf.range(start..end).copied().collect()
    }

    /// After a window lost whole: everything in flight counts as lost, and
    /// is sent again, one frame at first.
    fn go_back(&mut self) {
        self.nxt = self.una;
        self.timed.clear();
        self.cwnd = u32::from(self.payload);
        self.clean_run = 0;
    }

    /// Remembers that `[from, to)` went out again at `at`, as transmission
    /// `tsn` and later.
    fn note_resent(&mut self, from: u32, to: u32, at: Instant, tsn: u64) {
        if self.resent.len() >= MAX_RESENT {
            self.resent.remove(0);
        }
        self.resent.push((from, to, at, tsn));
    }

    /// Numbers a data frame ending at `end`, about to go out.
    fn number(&mut self, end: u32) -> u64 {
        let tsn = self.tsn;
        self.tsn += 1;
        if self.sent.len() >= MAX_SENT_KEPT {
            self.sent.pop_front();
        }
        self.sent.push_back((end, tsn));
        tsn
    }

    /// The transmission number of the latest frame that ended at `end`.
    fn number_of(&self, end: u32) -> Option<u64> {
        self.sent
            .iter()
            .rev()
            .find(|&&(e, _)| e == end)
            .map(|&(_, t)| t)
    }

    /// Halves the frame size; false if it was the smallest already.
    fn shrink(&mut self) -> bool {
        let was = self.payload;
        self.payload = (self.payload / 2).max(MIN_PAYLOAD);
        self.clean_run = 0;
        self.payload < was
    }
}

impl Rx {
    fn new() -> Self {
        Self {
            next: 0,
            held: Vec::new(),
            partial: Vec::new(),
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            ack_owed: 0,
            owed_since: None,
            nak_sent: None,
            fill_time: None,
            advertised: RECEIVE_BUFFER as u32,
            last_end: 0,
        }
    }

    /// Bytes past `next` this side can take now.
    fn window(&self) -> u32 {
        RECEIVE_BUFFER.saturating_sub(self.inbox_bytes + self.partial.len()) as u32
    }

    /// Appends in-order bytes to the stream and takes out whole messages.
    fn accept(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.next = self.next.wrapping_add(bytes.len() as u32);
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= LEN_PREFIX {
            let mut len = [0u8; LEN_PREFIX];
            len.copy_from_slice(&self.partial[..LEN_PREFIX]);
            let len = u32::from_le_bytes(len) as usize;
            if len > MAX_MESSAGE {
                return Err(LinkError::Protocol(format!("a message of {len} bytes")));
            }
            if self.partial.len() < LEN_PREFIX + len {
                break;
            }
            let msg = self.partial[LEN_PREFIX..LEN_PREFIX + len].to_vec();
            self.partial.drain(..LEN_PREFIX + len);
            self.inbox_bytes += msg.len();
            self.inbox.push_back(msg);
        }
        Ok(())
    }

    /// Takes the bytes of `data` at offset `seq` that this side lacks and
    /// has room for; returns whether they filled the gap at `next`.
    fn take(&mut self, seq: u32, mut data: Vec<u8>) -> Result<bool, LinkError> {
        let window = self.window();
        let end = seq.wrapping_add(data.len() as u32);
        if !before(self.next, end) {
            return Ok(false);
        }
        let limit = self.next.wrapping_add(window);
        if !before(seq, limit) {
            return Ok(false);
        }
        if before(limit, end) {
            data.truncate(limit.wrapping_sub(seq) as usize);
        }
        if before(self.next, seq) {
            let held_already = self.held.iter().any(|(s, d)| {
                !before(seq, *s)
                    && !before(
                        s.wrapping_add(d.len() as u32),
                        seq.wrapping_add(data.len() as u32),
                    )
            });
            if !held_already {
                self.held.push((seq, data));
            }
            return Ok(false);
        }
        let skip = self.next.wrapping_sub(seq) as usize;
        self.accept(&data[skip..])?;
        if let Some((gaps, at)) = &self.nak_sent {
            if gaps
                .first()
                .is_some_and(|(_, end)| !before(self.next, *end))
            {
                let sample = at.elapsed();
                self.fill_time = Some(self.fill_time.map_or(sample, |f| (f * 7 + sample) / 8));
            }
        }
        // Whatever was held that now joins on goes in too.
        while let Some(i) = self.held.iter().position(|(s, _)| !before(self.next, *s)) {
            let (s, d) = self.held.swap_remove(i);
            let skip = self.next.wrapping_sub(s) as usize;
            if skip < d.len() {
                self.accept(&d[skip..])?;
            }
        }
        Ok(true)
    }

    /// The ranges missing between `next` and the last byte held, oldest
    /// first.
    fn gaps(&self) -> Vec<(u32, u32)> {
        let mut held: Vec<(u32, u32)> = self
            .held
            .iter()
            .map(|(s, d)| (*s, s.wrapping_add(d.len() as u32)))
            .collect();
        held.sort_by_key(|(s, _)| s.wrapping_sub(self.next));
        let mut gaps = Vec::new();
        let mut at = self.next;
        for (s, e) in held {
            if before(at, s) && gaps.len() < MAX_GAPS {
                gaps.push((at, s));
            }
            if before(at, e) {
                at = e;
            }
        }
        gaps
    }

    /// One more reason to acknowledge.
    fn owe_ack(&mut self) {
        self.ack_owed += 1;
        self.owed_since.get_or_insert_with(Instant::now);
    }

    /// Whether the timer sends the acknowledgement owed, the line having last
    /// carried bytes at `line_busy`: once a burst has ended, or once it has
    /// waited [`ACK_DELAY_MAX`].
    fn ack_due(&self, line_busy: Instant) -> bool {
        self.owed_since.is_some_and(|since| {
            line_busy.elapsed() >= ACK_QUIET || since.elapsed() >= ACK_DELAY_MAX
        })
    }

    /// A negative acknowledgement is due: the gaps changed since the last
    /// one, or it is time to repeat it.
    fn nak_due(&self) -> Option<Vec<(u32, u32)>> {
        if self.held.is_empty() {
            return None;
        }
        let gaps = self.gaps();
        let repeat = self.fill_time.map_or(NAK_REPEAT_MAX, |f| {
            (f * 2).clamp(NAK_REPEAT_MIN, NAK_REPEAT_MAX)
        });
        match &self.nak_sent {
            Some((last, at)) if *last == gaps && at.elapsed() < repeat => None,
            _ => Some(gaps),
        }
    }
}

impl State {
    fn new(session: u32, open: bool, limits: Window) -> Self {
        Self {
            session,
            limits,
            open,
            tx: Tx::new(limits),
            rx: Rx::new(),
            last_heard: Instant::now(),
            last_bytes: Instant::now(),
            dead: None,
            bad_frames: 0,
        }
    }

    /// A frame of this session, carrying the current acknowledgement and
    /// window.
    fn frame(&mut self, kind: Kind, flags: u8, seq: u32, payload: Vec<u8>) -> Vec<u8> {
        let window = self.rx.window();
        self.rx.advertised = window;
        self.rx.ack_owed = 0;
        self.rx.owed_since = None;
        Frame {
            kind,
            flags,
            session: self.session,
            seq,
            ack: self.rx.next,
            window,
            payload,
        }
        .encode()
    }

    /// An acknowledgement; `seq` carries the end of the last data frame
    /// that arrived (see [`State::on_nak`]).
    fn ack_frame(&mut self, flags: u8, payload: Vec<u8>) -> Vec<u8> {
        let heard = self.rx.last_end;
        self.frame(Kind::Ack, flags, heard, payload)
    }

    /// Sends what the windows allow of the unsent bytes.
    fn transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let allowed = self.tx.cwnd.min(self.limits.bytes());
            let local_room = allowed.saturating_sub(self.tx.in_flight());
            let peer_room = if before(self.tx.nxt, self.tx.peer_limit) {
                self.tx.peer_limit.wrapping_sub(self.tx.nxt)
            } else {
                0
            };
            let n = self
                .tx
                .unsent()
                .min(usize::from(self.tx.payload))
                .min(local_room as usize)
                .min(peer_room as usize);
            if n == 0 {
                return out;
            }
            let seq = self.tx.nxt;
            let bytes = self.tx.bytes_at(seq, n);
            out.extend(self.frame(Kind::Data, 0, seq, bytes));
            let end = seq.wrapping_add(n as u32);
            let tsn = self.tx.number(end);
            self.tx.nxt = end;
            let now = Instant::now();
            if before(seq, self.tx.high) {
                // Going back after a timeout: not timed (Karn).
                self.tx.retransmits += 1;
                self.tx.note_resent(seq, end, now, tsn);
            } else {
                self.tx.timed.push_back((seq, end, now));
            }
            if before(self.tx.high, end) {
                self.tx.high = end;
            }
            self.tx.rto_at.get_or_insert(now + self.tx.rto());
        }
    }

    /// Sends `[from, to)` again, cut at the current frame size.
    fn retransmit(&mut self, from: u32, to: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = from;
        let now = Instant::now();
        while before(at, to) {
            let n = (to.wrapping_sub(at) as usize).min(usize::from(self.tx.payload));
            let bytes = self.tx.bytes_at(at, n);
            if bytes.is_empty() {
                break;
            }
            out.extend(self.frame(Kind::Data, 0, at, bytes));
            let end = at.wrapping_add(n as u32);
            let tsn = self.tx.number(end);
            self.tx.note_resent(at, end, now, tsn);
            at = end;
            self.tx.retransmits += 1;
        }
        // Karn: no round trip is measured across a retransmission.
        self.tx
            .timed
            .retain(|&(s, e, _)| !(before(from, e) && before(s, to)));
        self.tx.clean_run = 0;
        self.tx.rto_at = Some(now + self.tx.rto());
        out
    }

    /// The retransmission timeout passed: sends the oldest frame again, as
    /// the probe whose acknowledgement tells a lost window from a slow one
    /// ([`Self::on_ack`]).
    fn on_timeout(&mut self, now: Instant) -> Vec<u8> {
        let rto = self.tx.rto();
        trace(format_args!(
            "timeout {rto:?} at {}, {} in flight",
            self.tx.una,
            self.tx.in_flight()
        ));
        // Kept until an acknowledgement tells whether this timeout was
        // spurious (`on_ack`).
        self.tx
            .payload_before_timeout
            .get_or_insert(self.tx.payload);
        // The frames may be too big for the line; once they are as small
        // as they go, the line may be slower than measured: back off.
        let rto = if self.tx.shrink() {
            rto
        } else {
            (rto * 2).min(MAX_RTO)
        };
        let from = self.tx.una;
        let n = u32::from(self.tx.payload).min(self.tx.in_flight());
        // The first copies keep their times: the acknowledgement that
        // settles the probe decides whether they count.
        let timed = core::mem::take(&mut self.tx.timed);
        let out = self.retransmit(from, from.wrapping_add(n));
        self.tx.timed = timed;
        self.tx.rto_probe = Some(from.wrapping_add(n));
        self.tx.backoff = Some(rto);
        self.tx.rto_at = Some(now + rto);
        out
    }

    /// The peer expects `ack` next and takes `window` bytes past it.
    fn on_ack(&mut self, ack: u32, window: u32) {
        let tx = &mut self.tx;
        if before(tx.una, ack) && !before(tx.high, ack) {
            let acked = ack.wrapping_sub(tx.una);
            tx.buf.drain(..acked as usize);
            tx.una = ack;
            // A first copy arrived after the sender went back for it.
            if before(tx.nxt, ack) {
                tx.nxt = ack;
            }
            tx.cwnd = tx.cwnd.saturating_add(acked).min(self.limits.bytes());
            // The first acknowledgement after a timeout: up to the copy's
            // end exactly, the copy may be what arrived (no sample, and the
            // rest was lost); past it, the first copies are arriving, and
            // they time the round trip.
            let only_copy = tx.rto_probe.take() == Some(ack);
            let now = Instant::now();
            let mut newest = None;
            while let Some(&(start, end, at)) = tx.timed.front() {
                if before(ack, end) {
                    break;
                }
                newest = Some((at, end.wrapping_sub(start)));
                tx.timed.pop_front();
            }
            if let Some((at, size)) = newest.filter(|_| !only_copy) {
                tx.sample_rtt(now - at);
                tx.timed_payload = tx.timed_payload.max(size);
            }
            if only_copy && before(ack, tx.nxt) {
                trace(format_args!("only the copy arrived: going back to {ack}"));
                tx.go_back();
            }
            // The timeouts were spurious (the first copies are arriving):
            // the frames they halved were not too big for the line, so
            // they get their size back, as TCP's Eifel response (RFC 4015)
            // restores what a spurious timeout took. A real loss keeps the
            // smaller frames.
            if let Some(p) = tx.payload_before_timeout.take().filter(|_| !only_copy) {
                trace(format_args!(
                    "the timeout was spurious: frames of {p} again"
                ));
                tx.payload = p;
            }
            tx.backoff = None;
            tx.resent.retain(|(_, e, _, _)| before(ack, *e));
            tx.rto_at = (tx.una != tx.nxt).then(|| now + tx.rto());
            tx.clean_run += acked.div_ceil(u32::from(tx.payload));
            if tx.clean_run >= GROW_AFTER && tx.payload < self.limits.payload {
                tx.payload = tx.payload.saturating_mul(2).min(self.limits.payload);
                tx.clean_run = 0;
            }
        }
        let limit = ack.wrapping_add(window);
        if before(tx.peer_limit, limit) || ack == tx.una && tx.in_flight() == 0 {
            tx.peer_limit = limit;
        }
    }

    /// The peer lists the ranges it lacks, each `[start, end)`, having
    /// last heard the data frame that ended at `heard` (0: not said).
    ///
    /// A range sent again less than half a round trip ago is not sent once
    /// more: the request may have crossed the copy. Unless the peer heard a
    /// frame sent after the copy: serial lines keep order, so the copy was
    /// lost. Without that test, a copy lost on a line whose round trip
    /// grew with a full window (seconds, behind a megabyte in flight) held
    /// the whole stream up for half a round trip each time.
    fn on_nak(&mut self, gaps: &[(u32, u32)], heard: u32) -> Vec<u8> {
        let guard = self.tx.srtt.unwrap_or_default() / 2;
        let heard = (heard != 0).then(|| self.tx.number_of(heard)).flatten();
        let mut out = Vec::new();
        let mut shrunk = false;
        for &(start, end) in gaps {
            // Only what is in flight: the request may be older than acks.
            let start = if before(start, self.tx.una) {
                self.tx.una
            } else {
                start
            };
            let end = if before(self.tx.nxt, end) {
                self.tx.nxt
            } else {
                end
            };
            if !before(start, end) {
                continue;
            }
            // The latest copy of the range.
            let latest = self
                .tx
                .resent
                .iter()
                .filter(|(s, e, _, _)| before(start, *e) && before(*s, end))
                .map(|&(_, _, at, tsn)| (at, tsn))
                .max_by_key(|&(_, tsn)| tsn);
            match latest {
                // Not again if it went out less than half a round trip ago
                // and may still be on its way.
                Some((at, tsn)) if at.elapsed() < guard && heard.is_none_or(|h| h <= tsn) => {
                    continue
                }
                // Lost after it was sent again: the frames are too big for
                // this line.
                Some(_) if !shrunk => {
                    shrunk = true;
                    self.tx.shrink();
                }
                _ => self.tx.clean_run = 0,
            }
            trace(format_args!(
                "resend {start}..{end}, payload {}",
                self.tx.payload
            ));
            out.extend(self.retransmit(start, end));
        }
        out
    }

    /// A negative acknowledgement listing the gaps, if one is due.
    fn nak(&mut self) -> Option<Vec<u8>> {
        let gaps = self.rx.nak_due()?;
        let mut payload = Vec::with_capacity(gaps.len() * 8);
        for (s, e) in &gaps {
            payload.extend(s.to_le_bytes());
            payload.extend(e.to_le_bytes());
        }
        self.rx.nak_sent = Some((gaps, Instant::now()));
        Some(self.ack_frame(FLAG_NAK, payload))
    }

    /// Bytes of the stream at `seq` from the peer.
    fn on_data(&mut self, seq: u32, data: Vec<u8>) -> Result<Vec<u8>, LinkError> {
        if data.is_empty() {
            // A probe of a closed window: answer with the window.
            return Ok(self.ack_frame(0, Vec::new()));
        }
        self.rx.last_end = seq.wrapping_add(data.len() as u32);
        self.rx.take(seq, data)?;
        self.rx.owe_ack();
        if let Some(nak) = self.nak() {
            return Ok(nak);
        }
        if self.rx.ack_owed >= ACK_EVERY {
            return Ok(self.ack_frame(0, Vec::new()));
        }
        Ok(Vec::new())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues bytes for the line.
    fn write(&self, line: Vec<u8>) {
        // Fails only once the writer has ended, with the link.
        if !line.is_empty() && self.outgoing.send(line).is_err() {
            self.kill(LinkError::Closed);
        }
    }

    fn writer(self: Arc<Self>, mut line: Box<dyn Line>, queue: mpsc::Receiver<Vec<u8>>) {
        loop {
            let bytes = match queue.recv_timeout(READ_POLL) {
                Ok(b) => b,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.lock().dead.is_some() {
                        return;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if let Err(e) = line.write_all(&bytes).and_then(|()| line.flush()) {
                return self.kill(LinkError::Io(e.to_string()));
            }
        }
    }

    fn kill(&self, why: LinkError) {
        let mut st = self.lock();
        st.dead.get_or_insert(why);
        drop(st);
        self.changed.notify_all();
    }

    fn control(session: u32, kind: Kind, ack: u32) -> Vec<u8> {
        Frame {
            kind,
            flags: 0,
            session,
            seq: 0,
            ack,
            window: 0,
            payload: Vec::new(),
        }
        .encode()
    }

    /// Handles one decoded frame from the line; returns what to send back.
    fn on_frame_locked(&self, st: &mut State, f: Frame) -> Vec<u8> {
        match f.kind {
            Kind::Hello if self.agent => {
                // A new host command: everything of the old session goes
                // (a repeated Hello of the current one changes nothing).
                if !(st.open && st.session == f.session) {
                    let bad = st.bad_frames;
                    *st = State::new(f.session, true, Window::decode(&f.payload));
                    st.bad_frames = bad;
                }
                Self::control(st.session, Kind::HelloAck, 0)
            }
            Kind::HelloAck if !self.agent && f.session == st.session => {
                st.open = true;
                st.last_heard = Instant::now();
                Vec::new()
            }
            Kind::Reset if f.session == st.session && !self.agent => {
                st.dead.get_or_insert(LinkError::Reset);
                Vec::new()
            }
            _ if f.session != st.session || !st.open => {
                if self.agent && f.kind == Kind::Data {
                    Self::control(f.session, Kind::Reset, 0)
                } else {
                    Vec::new()
                }
            }
            Kind::Data | Kind::Ack => {
                st.last_heard = Instant::now();
                st.on_ack(f.ack, f.window);
                let mut out = st.transmit();
                if f.flags & FLAG_NAK != 0 {
                    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let gaps: Vec<(u32, u32)> = f
                        .payload
                        .chunks_exact(8)
                        .take(MAX_GAPS)
                        .map(|g| (word(&g[..4]), word(&g[4..])))
                        .collect();
                    out.extend(st.on_nak(&gaps, f.seq));
                } else if f.kind == Kind::Data {
                    match st.on_data(f.seq, f.payload) {
                        Ok(reply) => out.extend(reply),
                        Err(e) => {
                            st.dead.get_or_insert(e);
                        }
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    fn reader(self: Arc<Self>, mut line: Box<dyn Line>) {
        let mut splitter = Splitter::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if self.lock().dead.is_some() {
                return;
            }
            match line.wait_readable(READ_POLL) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.kill(LinkError::Io(e.to_string())),
            }
            match line.read(&mut buf) {
                // A virtio-serial port reads end-of-file while no host is
                // attached; the agent waits for the next one (a COM port
                // reads nothing when its read timeout passes).
                Ok(0) if self.agent => {
                    if let Err(e) = line.wait_for_peer() {
                        return self.kill(LinkError::Io(e.to_string()));
                    }
                }
                Ok(0) => return self.kill(LinkError::Closed),
                Ok(n) => {
                    let mut out = Vec::new();
                    let mut st = self.lock();
                    st.last_bytes = Instant::now();
                    splitter.feed(&buf[..n], |body| match Frame::decode(body) {
                        Ok(f) => {
                            trace(format_args!(
                                "{} <- {:?} session {:x} seq {} ack {} window {} flags {} len {}",
                                if self.agent { "agent" } else { "host" },
                                f.kind,
                                f.session,
                                f.seq,
                                f.ack,
                                f.window,
                                f.flags,
                                f.payload.len()
                            ));
                            out.extend(self.on_frame_locked(&mut st, f));
                        }
                        Err(_) => st.bad_frames += 1,
                    });
                    drop(st);
                    self.changed.notify_all();
                    self.write(out);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return self.kill(LinkError::Io(e.to_string())),
            }
        }
    }

    /// Retransmits what timed out, probes closed windows and sends owed
    /// acknowledgements, until the link ends.
    fn timer(self: Arc<Self>, line: Box<dyn Line>) {
        let mut tick = TICK_IDLE;
        let mut last_kick = Instant::now();
        loop {
            thread::sleep(tick);
            let mut st = self.lock();
            if st.dead.is_some() {
                return;
            }
            let busy = st.tx.in_flight() > 0 || !st.rx.held.is_empty();
            tick = if busy { TICK_BUSY } else { TICK_IDLE };
            let now = Instant::now();
            let mut out = Vec::new();
            if st.tx.in_flight() > 0 && st.tx.rto_at.is_some_and(|at| now >= at) {
                out = st.on_timeout(now);
            }
            let waiting = st.tx.in_flight() > 0 || st.tx.unsent() > 0;
            if !self.agent && waiting && st.last_heard.elapsed() > DEAD_AFTER {
                st.dead = Some(LinkError::Timeout);
                drop(st);
                self.changed.notify_all();
                return;
            }
            if st.tx.in_flight() == 0
                && st.tx.unsent() > 0
                && st.tx.last_probe.elapsed() >= PROBE_EVERY
            {
                st.tx.last_probe = now;
                let seq = st.tx.nxt;
                out.extend(st.frame(Kind::Data, 0, seq, Vec::new()));
            }
            if let Some(nak) = st.nak() {
                out.extend(nak);
            } else if st.rx.ack_due(st.last_bytes) {
                out.extend(st.ack_frame(0, Vec::new()));
            }
            let quiet = st.last_heard.elapsed();
            let kick = st.open
                && (KICK_AFTER..DEAD_AFTER).contains(&quiet)
                && last_kick.elapsed() >= KICK_AFTER;
            drop(st);
            self.write(out);
            if kick {
                trace(format_args!("quiet for {quiet:?}: kicking the line"));
                line.kick();
                last_kick = Instant::now();
            }
        }
    }
}

impl Link {
    fn start(line: Box<dyn Line>, session: u32, agent: bool, window: Window) -> io::Result<Self> {
        let reader = line.try_clone_line()?;
        let kicker = line.try_clone_line()?;
        let (outgoing, queue) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(session, false, window)),
            changed: Condvar::new(),
            outgoing,
            agent,
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("com-write".into())
            .spawn(move || s.writer(line, queue))?;
        let s = shared.clone();
        thread::Builder::new()
            .name("com-read".into())
            .spawn(move || s.reader(reader))?;
        let s = shared.clone();
        thread::Builder::new()
            .name("com-timer".into())
            .spawn(move || s.timer(kicker))?;
        Ok(Self { shared })
    }

    /// The host's end: opens a new session with the agent on `line`,
    /// sending `Hello` until it is answered or `timeout` passes.
    pub fn connect(
        line: Box<dyn Line>,
        session: u32,
        window: Window,
        timeout: Duration,
    ) -> Result<Self, LinkError> {
        let link =
            Self::start(line, session, false, window).map_err(|e| LinkError::Io(e.to_string()))?;
        let hello = Frame {
            kind: Kind::Hello,
            flags: 0,
            session,
            seq: 0,
            ack: 0,
            window: 0,
            payload: window.encode(),
        }
        .encode();
        let end = Instant::now() + timeout;
        loop {
            link.shared.write(hello.clone());
            let st = link.shared.lock();
            let wait = end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(500));
            let (st, _) = link
                .shared
                .changed
                .wait_timeout_while(st, wait, |s| !s.open && s.dead.is_none())
                .unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &st.dead {
                return Err(e.clone());
            }
            if st.open {
                drop(st);
                return Ok(link);
            }
            if Instant::now() >= end {
                return Err(LinkError::Timeout);
            }
        }
    }

    /// The agent's end: serves whichever session a host opens on `line`.
    pub fn serve(line: Box<dyn Line>) -> io::Result<Self> {
        Self::start(line, 0, true, Window::FAST)
    }

    /// Sends one message of at most [`MAX_MESSAGE`] bytes, waiting while
    /// the send buffer is full. On the agent's side it fails with
    /// [`LinkError::Reset`] once a host opened another session.
    pub fn send(&self, session: u32, msg: &[u8]) -> Result<(), LinkError> {
        if msg.len() > MAX_MESSAGE {
            return Err(LinkError::TooBig(msg.len()));
        }
        let st = self.shared.lock();
        let mut st = self
            .shared
            .changed
            .wait_while(st, |s| {
                let full = !s.tx.buf.is_empty()
                    && s.tx.buf.len() + LEN_PREFIX + msg.len() > 2 * s.limits.bytes() as usize;
                s.dead.is_none() && s.session == session && (full || !s.open)
            })
            .unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &st.dead {
            return Err(e.clone());
        }
        if st.session != session {
            return Err(LinkError::Reset);
        }
        st.tx.buf.extend((msg.len() as u32).to_le_bytes());
        st.tx.buf.extend(msg);
        let out = st.transmit();
        drop(st);
        self.shared.write(out);
        Ok(())
    }

    /// The next message and the session it came in, or `None` after
    /// `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Option<(u32, Vec<u8>)>, LinkError> {
        self.recv_unless(timeout, &|| false)
    }

    /// [`Link::recv`], which also returns `None` as soon as `stop` holds:
    /// a wait for a message or another event (a program's exit). `stop` is
    /// looked at under the link's lock, so an event that makes it hold and
    /// then calls [`Link::notify`] is never missed.
    pub fn recv_unless(
        &self,
        timeout: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<(u32, Vec<u8>)>, LinkError> {
        let st = self.shared.lock();
        let (mut st, _) = self
            .shared
            .changed
            .wait_timeout_while(st, timeout, |s| {
                s.rx.inbox.is_empty() && s.dead.is_none() && !stop()
            })
            .unwrap_or_else(|p| p.into_inner());
        if let Some(m) = st.rx.inbox.pop_front() {
            st.rx.inbox_bytes -= m.len();
            // A window that was nearly closed opens again: say so soon.
            if (st.rx.advertised as usize) < RECEIVE_BUFFER / 2
                && st.rx.window() as usize >= RECEIVE_BUFFER / 2
            {
                st.rx.owe_ack();
            }
            return Ok(Some((st.session, m)));
        }
        match &st.dead {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Makes every [`Link::recv_unless`] in progress look at its `stop`
    /// again.
    pub fn notify(&self) {
        // Taken so that a `recv_unless` that found `stop` false is already
        // waiting, and gets the notification.
        let _st = self.shared.lock();
        self.shared.changed.notify_all();
    }

    /// The message size that fills one frame of the negotiated size: what
    /// file and output chunks are cut to.
    pub fn max_message(&self) -> usize {
        usize::from(self.shared.lock().limits.payload) - LEN_PREFIX
    }

    /// Waits until everything sent was acknowledged (or `timeout`).
    pub fn flush(&self, timeout: Duration) -> Result<(), LinkError> {
        let st = self.shared.lock();
        let (st, _) = self
            .shared
            .changed
            .wait_timeout_while(st, timeout, |s| !s.tx.buf.is_empty() && s.dead.is_none())
            .unwrap_or_else(|p| p.into_inner());
        match &st.dead {
            Some(e) => Err(e.clone()),
            None if st.tx.buf.is_empty() => Ok(()),
            None => Err(LinkError::Timeout),
        }
    }

    /// Whether a host has opened a session (agent side), and which.
    pub fn session(&self) -> Option<u32> {
        let st = self.shared.lock();
        st.open.then_some(st.session)
    }

    /// The error that ended the link, if it has ended.
    pub fn dead(&self) -> Option<LinkError> {
        self.shared.lock().dead.clone()
    }

    pub fn stats(&self) -> LinkStats {
        let st = self.shared.lock();
        LinkStats {
            bad_frames: st.bad_frames,
            retransmits: st.tx.retransmits,
            payload: st.tx.payload,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Ends both threads within a poll period (a dropped link is dead).
        self.shared.kill(LinkError::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender that has sent `n` bytes once, in frames of [`START_PAYLOAD`],
    /// with a round trip long enough that the guard holds for the test.
    fn sender(n: usize) -> State {
        let mut st = State::new(1, true, Window::FAST);
        st.tx.srtt = Some(Duration::from_secs(60));
        st.tx.buf.extend(std::iter::repeat_n(7u8, n));
        assert!(!st.transmit().is_empty());
        st
    }

    /// More bytes after what was sent; returns the end of the last frame.
    fn send_more(st: &mut State, n: usize) -> u32 {
        st.tx.buf.extend(std::iter::repeat_n(8u8, n));
        assert!(!st.transmit().is_empty());
        st.tx.nxt
    }

    #[test]
    fn a_spurious_timeout_gives_frames_their_size_back() {
        let mut st = sender(8192);
        let frame = u32::from(START_PAYLOAD);
        assert!(!st.on_timeout(Instant::now()).is_empty());
        assert_eq!(st.tx.payload, START_PAYLOAD / 2);
        // The acknowledgement covers more than the copy: the first copies
        // were only slow.
        st.on_ack(frame * 2, 1 << 20);
        assert_eq!(st.tx.payload, START_PAYLOAD);
    }

    #[test]
    fn a_timeout_that_only_the_copy_answers_keeps_frames_small() {
        let mut st = sender(8192);
        assert!(!st.on_timeout(Instant::now()).is_empty());
        let copy_end = u32::from(START_PAYLOAD / 2);
        // Only the copy arrived: the frames were lost, and stay halved.
        st.on_ack(copy_end, 1 << 20);
        assert_eq!(st.tx.payload, START_PAYLOAD / 2);
        assert_eq!(st.tx.nxt, copy_end, "the sender went back");
    }

    #[test]
    fn a_lost_copy_is_sent_again_once_a_later_frame_got_through() {
        let mut st = sender(4096);
        let gap = [(0, u32::from(START_PAYLOAD))];
        // The first frame never arrived: sent again at once.
        assert!(!st.on_nak(&gap, 4096).is_empty());
        // The request repeated, from a receiver that has heard nothing
        // since: the copy may be on its way, so it is left alone.
        assert!(st.on_nak(&gap, 4096).is_empty());
        assert!(st.on_nak(&gap, 0).is_empty());
        // The receiver heard a frame sent after the copy, and still lacks
        // the range: on a line that keeps order, the copy was lost.
        let later = send_more(&mut st, 512);
        assert!(!st.on_nak(&gap, later).is_empty());
        // ... and that new copy is again left alone until a frame after it
        // arrives.
        assert!(st.on_nak(&gap, later).is_empty());
    }

    #[test]
    fn acknowledgements_say_which_frame_arrived_last() {
        let mut st = State::new(1, true, Window::FAST);
        assert!(st.on_data(0, vec![0; 100]).is_ok());
        assert!(st.on_data(300, vec![0; 50]).is_ok());
        assert_eq!(st.rx.last_end, 350);
        let ack = st.ack_frame(0, Vec::new());
        let mut decoded = Vec::new();
        crate::frame::Splitter::default().feed(&ack, |b| decoded.push(Frame::decode(b)));
        let f = decoded.pop().unwrap().unwrap();
        assert_eq!((f.kind, f.seq, f.ack), (Kind::Ack, 350, 100));
    }

    #[test]
    fn an_owed_acknowledgement_waits_for_the_end_of_a_burst_within_a_bound() {
        let mut st = State::new(1, true, Window::UART);
        assert!(!st.rx.ack_due(Instant::now()));
        assert!(st.on_data(0, vec![0; 512]).unwrap().is_empty());
        // The next frame is arriving: no acknowledgement yet.
        assert!(!st.rx.ack_due(Instant::now()));
        // The line fell quiet: the burst is over.
        let quiet = Instant::now() - ACK_QUIET;
        assert!(st.rx.ack_due(quiet));
        // Bytes kept coming, but the first frame has waited long enough.
        st.rx.owed_since = Some(Instant::now() - ACK_DELAY_MAX);
        assert!(st.rx.ack_due(Instant::now()));
        // Any frame out carries the acknowledgement: nothing is owed then.
        let _ = st.ack_frame(0, Vec::new());
        assert!(!st.rx.ack_due(quiet));
        // A full ACK_EVERY of frames is acknowledged at once.
        for i in 1..ACK_EVERY {
            assert!(st.on_data(i * 512, vec![0; 512]).unwrap().is_empty());
        }
        assert!(!st
            .on_data(ACK_EVERY * 512, vec![0; 512])
            .unwrap()
            .is_empty());
    }
}
