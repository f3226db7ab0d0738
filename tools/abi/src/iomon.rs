// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The guest I/O request monitor's wire format and its pure logic.
//!
//! host-vmrpc records each port-I/O and MMIO request that reaches KVM's
//! emulation from a monitored VM as an [`IoRecord`], keeps per-port and
//! per-region aggregates ([`IoStatEntry`]) and per-vCPU ones
//! ([`IoVcpuStat`]), and filters what it records with an [`IoFilter`].
//! User space drives it through `/dev/covmm` ([`HOST_IOC_IOMON_SET`],
//! [`HOST_IOC_IOMON_READ`], [`HOST_IOC_IOMON_STATS`]) or through
//! `/proc/covmm/<pid>/iomon`, whose text commands [`parse_command`] reads.
//!
//! Filter text, as written to `/proc/covmm/<pid>/iomon` after `on` and as
//! `covmm iomon` takes it: words separated by blanks or commas,
//!
//! - `port=A` or `port=A-B`: port I/O to ports `A..=B` (at most `0xffff`);
//! - `mmio=A` or `mmio=A-B`: MMIO to guest-physical `A..=B`;
//! - `dir=in|out|read|write|any`: `in` and `read` mean guest reads, `out`
//!   and `write` guest writes.
//!
//! Numbers are decimal or `0x` hexadecimal. With no `port=`/`mmio=` word
//! every request matches; with some, a request must fall in one of their
//! ranges (so `port=0x3f8-0x3ff` alone records no MMIO). At most
//! [`MAX_RULES`] ranges.

use core::fmt;

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{iowr, HOST_IOC_MAGIC};

/// [`IoRecord::kind`] of port I/O (`IN`, `OUT`, `INS`, `OUTS`).
pub const KIND_PIO: u8 = 1;
/// [`IoRecord::kind`] of an MMIO access.
pub const KIND_MMIO: u8 = 2;

/// [`IoRecord::flags`]: a guest write (`OUT`, MMIO store); else a read.
pub const REC_WRITE: u8 = 1;
/// [`IoRecord::flags`]: [`IoRecord::data`] holds the value moved.
pub const REC_DATA: u8 = 2;
/// [`IoRecord::flags`]: [`IoRecord::rip`] holds the guest's instruction
/// pointer.
pub const REC_RIP: u8 = 4;
/// [`IoRecord::flags`]: [`IoRecord::vcpu`] names the vCPU.
pub const REC_VCPU: u8 = 8;

/// One I/O request, as KVM emulated it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IoRecord {
    /// When KVM handled it: CLOCK_MONOTONIC in nanoseconds.
    pub ts_ns: u64,
    /// The port ([`KIND_PIO`]) or guest-physical address ([`KIND_MMIO`]).
    pub addr: u64,
    /// The first (at most 8) bytes moved, little-endian, if [`REC_DATA`].
    pub data: u64,
    /// Guest RIP of the instruction, if [`REC_RIP`].
    pub rip: u64,
    /// The vCPU's id (`vcpu_id`), if [`REC_VCPU`].
    pub vcpu: u32,
    /// Repetitions: the count of a string instruction (`REP INS/OUTS`), else 1.
    pub count: u32,
    /// Bytes per access.
    pub size: u16,
    /// [`KIND_PIO`] or [`KIND_MMIO`].
    pub kind: u8,
    /// `REC_*` flags.
    pub flags: u8,
    /// Explicit padding; zero.
    pub pad: u32,
}

impl IoRecord {
    /// Whether the guest wrote.
    pub const fn is_write(&self) -> bool {
        self.flags & REC_WRITE != 0
    }

    /// Bytes the request moved.
    pub const fn bytes(&self) -> u64 {
        self.size as u64 * self.count as u64
    }

    /// One line of `/proc/covmm/<pid>/iotrace`, without its newline:
    /// `12.000345678 vcpu=0 pio out port=0x3f8 size=1 count=1 data=0x41 rip=0xffffffff81000000`.
    pub fn write_text(&self, w: &mut impl fmt::Write) -> fmt::Result {
        write!(
            w,
            "{}.{:09} ",
            self.ts_ns / 1_000_000_000,
            self.ts_ns % 1_000_000_000
        )?;
        if self.flags & REC_VCPU != 0 {
            write!(w, "vcpu={} ", self.vcpu)?;
        } else {
            w.write_str("vcpu=? ")?;
        }
        match (self.kind, self.is_write()) {
            (KIND_PIO, false) => write!(w, "pio in port={:#x}", self.addr)?,
            (KIND_PIO, true) => write!(w, "pio out port={:#x}", self.addr)?,
            (_, false) => write!(w, "mmio read gpa={:#x}", self.addr)?,
            (_, true) => write!(w, "mmio write gpa={:#x}", self.addr)?,
        }
        write!(w, " size={} count={}", self.size, self.count)?;
        if self.flags & REC_DATA != 0 {
            write!(w, " data={:#x}", self.data)?;
        } else {
            w.write_str(" data=?")?;
        }
        if self.flags & REC_RIP != 0 {
            write!(w, " rip={:#x}", self.rip)
        } else {
            w.write_str(" rip=?")
        }
    }
}

/// The line `/proc/covmm/<pid>/iotrace` shows where records were lost to a
/// full ring, without its newline.
pub fn write_dropped(dropped: u64, w: &mut impl fmt::Write) -> fmt::Result {
    write!(w, "# dropped {dropped} records: the ring was full")
}

/// [`IoFilter::dirs`] bit: guest reads (`IN`, MMIO loads).
pub const DIR_IN: u32 = 1;
/// [`IoFilter::dirs`] bit: guest writes (`OUT`, MMIO stores).
pub const DIR_OUT: u32 = 2;
/// [`IoFilter::dirs`]: both directions.
pub const DIR_ANY: u32 = DIR_IN | DIR_OUT;

/// Most ranges in one [`IoFilter`].
pub const MAX_RULES: usize = 8;
/// The highest I/O port.
pub const PORT_MAX: u64 = 0xffff;

/// One range of an [`IoFilter`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IoRule {
    /// [`KIND_PIO`] or [`KIND_MMIO`].
    pub kind: u32,
    /// Explicit padding; zero.
    pub pad: u32,
    /// First port or address of the range.
    pub first: u64,
    /// Last port or address of the range (inclusive).
    pub last: u64,
}

/// What a VM's monitor records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct IoFilter {
    /// The ranges; only the first `nrules` count, the rest are zero.
    pub rules: [IoRule; MAX_RULES],
    /// Ranges in use; 0 matches every port and address.
    pub nrules: u32,
    /// `DIR_*` bits of the directions recorded; not 0.
    pub dirs: u32,
}

impl Default for IoFilter {
    fn default() -> Self {
        Self::ALL
    }
}

/// Why a filter (as text or as a struct) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// A word that is not `port=`, `mmio=` or `dir=` with a valid value, a
    /// bad number, a second `dir=`, or a malformed struct.
    Syntax,
    /// A range that ends before it starts, or a port above `0xffff`.
    Range,
    /// More than [`MAX_RULES`] ranges.
    TooMany,
}

impl FilterError {
    /// The errno the kernel answers with.
    pub const fn errno(self) -> i64 {
        match self {
            Self::Syntax => super::errno::EINVAL,
            Self::Range => ERANGE,
            Self::TooMany => super::errno::E2BIG,
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "expected port=A[-B], mmio=A[-B] or dir=in|out|read|write|any",
            Self::Range => "a range ends before it starts, or a port is above 0xffff",
            Self::TooMany => "more than 8 port/mmio ranges",
        })
    }
}

/// Numerical result out of range.
pub const ERANGE: i64 = 34;

/// Parses a decimal or `0x` hexadecimal number.
fn parse_number(text: &[u8]) -> Option<u64> {
    let (digits, radix) = match text {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (text, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(radix)?;
        acc.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })
}

/// Parses `A` or `A-B` into an inclusive range.
fn parse_range(text: &[u8]) -> Result<(u64, u64), FilterError> {
    let mut parts = text.splitn(2, |&c| c == b'-');
    let first = parse_number(parts.next().unwrap_or_default()).ok_or(FilterError::Syntax)?;
    let last = match parts.next() {
        Some(t) => parse_number(t).ok_or(FilterError::Syntax)?,
        None => first,
    };
    if last < first {
        return Err(FilterError::Range);
    }
    Ok((first, last))
}

impl IoFilter {
    /// Records everything.
    pub const ALL: IoFilter = IoFilter {
        rules: [IoRule {
            kind: 0,
            pad: 0,
            first: 0,
            last: 0,
        }; MAX_RULES],
        nrules: 0,
        dirs: DIR_ANY,
    };

    /// The ranges in use.
    pub fn rules(&self) -> &[IoRule] {
        &self.rules[..(self.nrules as usize).min(MAX_RULES)]
    }

    /// Checks a filter that came from user space as a struct.
    pub fn validate(&self) -> Result<(), FilterError> {
        let n = self.nrules as usize;
        if n > MAX_RULES {
            return Err(FilterError::TooMany);
        }
        if self.dirs == 0 || self.dirs & !DIR_ANY != 0 {
            return Err(FilterError::Syntax);
        }
        for r in &self.rules[..n] {
            if r.pad != 0 || (r.kind != u32::from(KIND_PIO) && r.kind != u32::from(KIND_MMIO)) {
                return Err(FilterError::Syntax);
            }
            if r.last < r.first || (r.kind == u32::from(KIND_PIO) && r.last > PORT_MAX) {
                return Err(FilterError::Range);
            }
        }
        if self.rules[n..].iter().any(|r| *r != IoRule::default()) {
            return Err(FilterError::Syntax);
        }
        Ok(())
    }

    /// Whether a request of `kind` at `addr` in that direction is recorded.
    pub fn matches(&self, kind: u8, addr: u64, write: bool) -> bool {
        let dir = if write { DIR_OUT } else { DIR_IN };
        if self.dirs & dir == 0 {
            return false;
        }
        let rules = self.rules();
        rules.is_empty()
            || rules
                .iter()
                .any(|r| r.kind == u32::from(kind) && r.first <= addr && addr <= r.last)
    }

    fn push(&mut self, kind: u8, (first, last): (u64, u64)) -> Result<(), FilterError> {
        let n = self.nrules as usize;
        if n == MAX_RULES {
            return Err(FilterError::TooMany);
        }
        if kind == KIND_PIO && last > PORT_MAX {
            return Err(FilterError::Range);
        }
        self.rules[n] = IoRule {
            kind: kind.into(),
            pad: 0,
            first,
            last,
        };
        self.nrules += 1;
        Ok(())
    }

    /// Parses filter text (see the module docs); empty text records
    /// everything.
    pub fn parse(text: &[u8]) -> Result<Self, FilterError> {
        let mut filter = Self::ALL;
        let mut dir_seen = false;
        for word in words(text) {
            let mut kv = word.splitn(2, |&c| c == b'=');
            let key = kv.next().unwrap_or_default();
            let value = kv.next().ok_or(FilterError::Syntax)?;
            match key {
                b"port" => filter.push(KIND_PIO, parse_range(value)?)?,
                b"mmio" => filter.push(KIND_MMIO, parse_range(value)?)?,
                b"dir" if !dir_seen => {
                    dir_seen = true;
                    filter.dirs = match value {
                        b"in" | b"read" => DIR_IN,
                        b"out" | b"write" => DIR_OUT,
                        b"any" => DIR_ANY,
                        _ => return Err(FilterError::Syntax),
                    };
                }
                _ => return Err(FilterError::Syntax),
            }
        }
        Ok(filter)
    }

    /// The filter as text that [`IoFilter::parse`] reads back; `all` for
    /// the empty filter.
    pub fn write_text(&self, w: &mut impl fmt::Write) -> fmt::Result {
        let mut sep = "";
        for r in self.rules() {
            let key = if r.kind == u32::from(KIND_PIO) {
                "port"
            } else {
                "mmio"
            };
            write!(w, "{sep}{key}={:#x}", r.first)?;
            if r.last != r.first {
                write!(w, "-{:#x}", r.last)?;
            }
            sep = " ";
        }
        match self.dirs {
            DIR_IN => write!(w, "{sep}dir=in"),
            DIR_OUT => write!(w, "{sep}dir=out"),
            _ if sep.is_empty() => w.write_str("all"),
            _ => Ok(()),
        }
    }
}

fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|c| c.is_ascii_whitespace() || *c == b',')
        .filter(|w| !w.is_empty())
}

/// A command written to `/proc/covmm/<pid>/iomon`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `on [FILTER]`: start (or restart, with new counters) monitoring.
    On(IoFilter),
    /// `off`: stop; the last session's counters stay readable.
    Off,
}

/// Parses `on [FILTER]` or `off`.
pub fn parse_command(text: &[u8]) -> Result<Command, FilterError> {
    let mut it = words(text);
    match it.next() {
        Some(b"on") => {
            let start = text
                .windows(2)
                .position(|w| w == b"on")
                .map_or(text.len(), |p| p + 2);
            IoFilter::parse(&text[start..]).map(Command::On)
        }
        Some(b"off") if it.next().is_none() => Ok(Command::Off),
        _ => Err(FilterError::Syntax),
    }
}

/// The span of ports or addresses one [`IoStatEntry`] aggregates: the port
/// itself, or the 4 KiB page of an MMIO address.
pub const fn stat_span(kind: u8, addr: u64) -> (u64, u64) {
    if kind == KIND_PIO {
        (addr, addr)
    } else {
        (addr & !0xfff, addr | 0xfff)
    }
}

/// [`IoStatEntry::flags`]: a device inside KVM covers part of the span (an
/// in-kernel PIC, PIT or IOAPIC, or an ioeventfd such as a virtio notify
/// register), so requests there need not reach the VMM process.
pub const ENTRY_IN_KERNEL: u8 = 1;
/// [`IoStatEntry::flags`]: the catch-all entry for requests that found the
/// aggregate table full.
pub const ENTRY_OTHER: u8 = 2;

/// Aggregates for one port or MMIO page.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IoStatEntry {
    /// [`KIND_PIO`] or [`KIND_MMIO`].
    pub kind: u8,
    /// `ENTRY_*` flags.
    pub flags: u8,
    /// Explicit padding; zero.
    pub pad: [u8; 6],
    /// First port or address of the span ([`stat_span`]).
    pub first: u64,
    /// Last port or address of the span.
    pub last: u64,
    /// Guest reads (repetitions of string instructions counted one by one).
    pub reads: u64,
    /// Guest writes, counted the same way.
    pub writes: u64,
    /// Bytes moved.
    pub bytes: u64,
}

/// Aggregates for one vCPU.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IoVcpuStat {
    /// The vCPU's id; [`VCPU_OTHER`] gathers vCPUs beyond the table and
    /// requests whose vCPU was not found.
    pub vcpu: u32,
    /// Explicit padding; zero.
    pub pad: u32,
    /// Port-I/O accesses.
    pub pio: u64,
    /// MMIO accesses.
    pub mmio: u64,
    /// Bytes moved.
    pub bytes: u64,
}

/// [`IoVcpuStat::vcpu`] of the catch-all entry.
pub const VCPU_OTHER: u32 = u32::MAX;

/// A VM's totals since monitoring was turned on.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IoTotals {
    /// Port-I/O reads (string repetitions counted one by one).
    pub pio_reads: u64,
    /// Port-I/O writes.
    pub pio_writes: u64,
    /// Port-I/O bytes.
    pub pio_bytes: u64,
    /// MMIO reads.
    pub mmio_reads: u64,
    /// MMIO writes.
    pub mmio_writes: u64,
    /// MMIO bytes.
    pub mmio_bytes: u64,
    /// Requests, one per emulated instruction: what KVM's `io_exits`
    /// counts for port I/O.
    pub requests: u64,
    /// Records lost because the trace ring was full (aggregates still
    /// count them).
    pub dropped: u64,
    /// Requests whose vCPU could not be told.
    pub unattributed: u64,
}

/// Records a trace ring holds unless [`HostIomonSet::ring`] says otherwise.
pub const IOMON_RING_DEFAULT: u32 = 8192;
/// Most records a trace ring may hold.
pub const IOMON_RING_MAX: u32 = 1 << 20;
/// Ports and MMIO pages aggregated separately; later ones go to the
/// [`ENTRY_OTHER`] entry.
pub const IOMON_MAX_ENTRIES: usize = 512;
/// vCPUs aggregated separately; later ones go to [`VCPU_OTHER`].
pub const IOMON_MAX_VCPUS: usize = 256;

/// Argument of [`HOST_IOC_IOMON_SET`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostIomonSet {
    /// The VM, by its VMM's pid.
    pub vm_pid: i32,
    /// 1: start (or restart, with new counters); 0: stop.
    pub enable: u32,
    /// Records the trace ring holds; 0 for [`IOMON_RING_DEFAULT`].
    pub ring: u32,
    /// Explicit padding; zero.
    pub pad: u32,
    /// What to record (ignored when stopping).
    pub filter: IoFilter,
}

/// [`HostIomonRead::flags`]: return at once when no record is ready.
pub const IOMON_READ_NONBLOCK: u32 = 1;
/// [`HostIomonRead::flags`]: once a record is ready, wait for a batch (as
/// many records as the array holds, up to half the ring) or for
/// [`IOMON_BATCH_WAIT_MS`], whichever comes first. A reader that keeps up
/// with a busy guest is then woken a few times a second instead of once per
/// request.
pub const IOMON_READ_BATCH: u32 = 2;
/// Longest a record waits in the ring for a batching reader.
pub const IOMON_BATCH_WAIT_MS: u32 = 100;

/// Argument of [`HOST_IOC_IOMON_READ`]: takes records from the trace ring.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostIomonRead {
    /// The VM, by its VMM's pid.
    pub vm_pid: i32,
    /// `IOMON_READ_*` flags.
    pub flags: u32,
    /// User address of an array of `capacity` [`IoRecord`].
    pub records: u64,
    /// Records the array holds, 1 to 4096.
    pub capacity: u32,
    /// Out: records written.
    pub count: u32,
    /// Out: records lost to a full ring before these.
    pub dropped: u64,
    /// Out: 1 once monitoring has ended (turned off, or the VM is gone) and
    /// the ring is empty: no record will come any more.
    pub eof: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// Most records one [`HOST_IOC_IOMON_READ`] returns.
pub const IOMON_READ_MAX: u32 = 4096;

/// Argument of [`HOST_IOC_IOMON_STATS`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostIomonStats {
    /// In: the VM, by its VMM's pid.
    pub vm_pid: i32,
    /// In: zero.
    pub flags: u32,
    /// In: user address of an array of `entries_cap` [`IoStatEntry`] (may
    /// be 0 with `entries_cap` 0).
    pub entries: u64,
    /// In: entries the array holds.
    pub entries_cap: u32,
    /// Out: entries there are (only `entries_cap` are written).
    pub entries_count: u32,
    /// In: user address of an array of `vcpus_cap` [`IoVcpuStat`].
    pub vcpus: u64,
    /// In: entries that array holds.
    pub vcpus_cap: u32,
    /// Out: vCPU entries there are.
    pub vcpus_count: u32,
    /// Out: 1 while monitoring is on; 0 if off (the figures are the last
    /// session's, if any).
    pub enabled: u32,
    /// Out: the trace ring's size in records.
    pub ring: u32,
    /// Out: how long the session has run (or ran), in nanoseconds.
    pub elapsed_ns: u64,
    /// Out: the session's totals.
    pub totals: IoTotals,
    /// Out: KVM's own counters for the VM, summed over its vCPUs since it
    /// started: every exit, port-I/O exits and MMIO exits to the VMM.
    pub kvm_exits: u64,
    /// See [`HostIomonStats::kvm_exits`].
    pub kvm_io_exits: u64,
    /// See [`HostIomonStats::kvm_exits`].
    pub kvm_mmio_exits: u64,
    /// Out: the session's filter.
    pub filter: IoFilter,
}

/// Starts or stops monitoring a VM. See [`HostIomonSet`].
pub const HOST_IOC_IOMON_SET: u32 = super::iow::<HostIomonSet>(HOST_IOC_MAGIC, 0x20);
/// Takes records from a VM's trace ring. See [`HostIomonRead`].
pub const HOST_IOC_IOMON_READ: u32 = iowr::<HostIomonRead>(HOST_IOC_MAGIC, 0x21);
/// Reads a VM's aggregates. See [`HostIomonStats`].
pub const HOST_IOC_IOMON_STATS: u32 = iowr::<HostIomonStats>(HOST_IOC_MAGIC, 0x22);

#[cfg(any(test, all(CONFIG_KUNIT, covmm_abi_kunit)))]
#[cfg_attr(
    all(CONFIG_KUNIT, covmm_abi_kunit),
    kernel::prelude::kunit_tests(covmm_iomon_abi)
)]
mod tests {
    use super::*;

    /// `fmt::Write` into a fixed buffer, for tests that run in the kernel
    /// too.
    struct Buf {
        bytes: [u8; 160],
        len: usize,
    }

    impl Buf {
        fn new() -> Self {
            Self {
                bytes: [0; 160],
                len: 0,
            }
        }

        fn as_bytes(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
    }

    impl fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn text(f: &IoFilter) -> Buf {
        let mut b = Buf::new();
        f.write_text(&mut b).unwrap();
        b
    }

    #[test]
    fn filters_parse_and_print_back() {
        assert_eq!(IoFilter::parse(b""), Ok(IoFilter::ALL));
        assert_eq!(text(&IoFilter::ALL).as_bytes(), b"all");
        let f = IoFilter::parse(b"port=0x3f8-0x3ff, mmio=4096 dir=out\n").unwrap();
        assert_eq!(f.nrules, 2);
        assert_eq!(
            f.rules[0],
            IoRule {
                kind: KIND_PIO.into(),
                pad: 0,
                first: 0x3f8,
                last: 0x3ff
            }
        );
        assert_eq!((f.rules[1].first, f.rules[1].last), (0x1000, 0x1000));
        assert_eq!(f.dirs, DIR_OUT);
        assert_eq!(f.validate(), Ok(()));
        let t = text(&f);
        assert_eq!(t.as_bytes(), b"port=0x3f8-0x3ff mmio=0x1000 dir=out");
        assert_eq!(IoFilter::parse(t.as_bytes()), Ok(f));
        assert_eq!(IoFilter::parse(b"dir=read").unwrap().dirs, DIR_IN);
        assert_eq!(
            text(&IoFilter::parse(b"dir=in").unwrap()).as_bytes(),
            b"dir=in"
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in [
            &b"port"[..],
            b"port=",
            b"port=0x",
            b"port=12a",
            b"port=1-",
            b"port=-1",
            b"disk=1",
            b"dir=sideways",
            b"dir=in dir=out",
            b"port=99999999999999999999",
        ] {
            assert_eq!(IoFilter::parse(bad), Err(FilterError::Syntax));
        }
        assert_eq!(IoFilter::parse(b"port=0x10000"), Err(FilterError::Range));
        assert_eq!(
            IoFilter::parse(b"port=0xffff-0x10000"),
            Err(FilterError::Range)
        );
        assert_eq!(IoFilter::parse(b"mmio=9-8"), Err(FilterError::Range));
        assert_eq!(
            IoFilter::parse(b"port=1 port=2 port=3 port=4 port=5 port=6 port=7 port=8 port=9"),
            Err(FilterError::TooMany)
        );
        assert_eq!(FilterError::Range.errno(), 34);
        assert_eq!(FilterError::TooMany.errno(), 7);
    }

    #[test]
    fn filter_structs_from_user_space_are_checked() {
        let ok = IoFilter::parse(b"port=0x80 mmio=0xfee00000-0xfee00fff").unwrap();
        assert_eq!(ok.validate(), Ok(()));
        let mut f = ok;
        f.nrules = 9;
        assert_eq!(f.validate(), Err(FilterError::TooMany));
        let mut f = ok;
        f.dirs = 0;
        assert_eq!(f.validate(), Err(FilterError::Syntax));
        let mut f = ok;
        f.dirs = 4;
        assert_eq!(f.validate(), Err(FilterError::Syntax));
        let mut f = ok;
        f.rules[0].kind = 3;
        assert_eq!(f.validate(), Err(FilterError::Syntax));
        let mut f = ok;
        f.rules[0].last = 0x1_0000;
        assert_eq!(f.validate(), Err(FilterError::Range));
        let mut f = ok;
        f.rules[1].first = u64::MAX;
        assert_eq!(f.validate(), Err(FilterError::Range));
        let mut f = ok;
        f.rules[5].first = 1;
        assert_eq!(f.validate(), Err(FilterError::Syntax));
        let mut f = ok;
        f.rules[0].pad = 1;
        assert_eq!(f.validate(), Err(FilterError::Syntax));
    }

    #[test]
    fn filters_match_by_kind_range_and_direction() {
        assert!(IoFilter::ALL.matches(KIND_MMIO, u64::MAX, true));
        let f = IoFilter::parse(b"port=0x3f8-0x3ff").unwrap();
        assert!(f.matches(KIND_PIO, 0x3f8, true) && f.matches(KIND_PIO, 0x3ff, false));
        assert!(!f.matches(KIND_PIO, 0x3f7, true) && !f.matches(KIND_PIO, 0x400, true));
        assert!(!f.matches(KIND_MMIO, 0x3f8, true));
        let f = IoFilter::parse(b"dir=in mmio=0-0xfff port=0x60").unwrap();
        assert!(f.matches(KIND_MMIO, 0xfff, false) && !f.matches(KIND_MMIO, 0xfff, true));
        assert!(f.matches(KIND_PIO, 0x60, false) && !f.matches(KIND_PIO, 0x64, false));
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command(b"on\n"), Ok(Command::On(IoFilter::ALL)));
        assert_eq!(parse_command(b"off\n"), Ok(Command::Off));
        assert_eq!(
            parse_command(b"  on port=0x70-0x71 dir=out"),
            Ok(Command::On(
                IoFilter::parse(b"port=0x70-0x71 dir=out").unwrap()
            ))
        );
        assert_eq!(parse_command(b"on port=x"), Err(FilterError::Syntax));
        assert_eq!(parse_command(b"off now"), Err(FilterError::Syntax));
        assert_eq!(parse_command(b""), Err(FilterError::Syntax));
        assert_eq!(parse_command(b"onion"), Err(FilterError::Syntax));
    }

    #[test]
    fn records_print_as_trace_lines() {
        let r = IoRecord {
            ts_ns: 12_000_345_678,
            addr: 0x3f8,
            data: 0x41,
            rip: 0xffff_ffff_8100_0000,
            vcpu: 1,
            count: 1,
            size: 1,
            kind: KIND_PIO,
            flags: REC_WRITE | REC_DATA | REC_RIP | REC_VCPU,
            pad: 0,
        };
        let mut b = Buf::new();
        r.write_text(&mut b).unwrap();
        assert_eq!(
            b.as_bytes(),
            &b"12.000345678 vcpu=1 pio out port=0x3f8 size=1 count=1 data=0x41 rip=0xffffffff81000000"[..]
        );
        let r = IoRecord {
            kind: KIND_MMIO,
            addr: 0xfebf_1000,
            size: 4,
            flags: 0,
            ..r
        };
        let mut b = Buf::new();
        r.write_text(&mut b).unwrap();
        assert_eq!(
            b.as_bytes(),
            &b"12.000345678 vcpu=? mmio read gpa=0xfebf1000 size=4 count=1 data=? rip=?"[..]
        );
        assert_eq!(r.bytes(), 4);
    }

    #[test]
    fn spans_are_ports_and_pages() {
        assert_eq!(stat_span(KIND_PIO, 0x3f8), (0x3f8, 0x3f8));
        assert_eq!(
            stat_span(KIND_MMIO, 0xfebf_1234),
            (0xfebf_1000, 0xfebf_1fff)
        );
        assert_eq!(stat_span(KIND_MMIO, u64::MAX), (!0xfff, u64::MAX));
    }

    #[test]
    fn iomon_structs_have_their_c_sizes() {
        use core::mem::size_of;
        assert_eq!(size_of::<IoRecord>(), 48);
        assert_eq!(size_of::<IoRule>(), 24);
        assert_eq!(size_of::<IoFilter>(), 8 * 24 + 8);
        assert_eq!(size_of::<IoStatEntry>(), 48);
        assert_eq!(size_of::<IoVcpuStat>(), 32);
        assert_eq!(size_of::<IoTotals>(), 72);
        assert_eq!(size_of::<HostIomonSet>(), 16 + 200);
        assert_eq!(size_of::<HostIomonRead>(), 40);
    }
}
