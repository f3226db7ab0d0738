// SPDX-License-Identifier: GPL-2.0

//! `/proc/covmm/<pid>/`: each VM's guest, asked live through Reverse VMRPC.
//!
//! - `meminfo`, `cpuinfo`, `loadavg`: the guest's own files, rebuilt from
//!   the typed records its services return, on every read;
//! - `services`: what the guest offers, one name per line;
//! - `status`: the guest server's slots and the host's counters;
//! - `drop_caches`: write 1, 2 or 3;
//! - `iomon`: the I/O monitor, `on [FILTER]` or `off` (read or write);
//! - `iostat`: its aggregates, `iotrace`: its records, streamed.
//!
//! The directory belongs to the VMM's user with mode 0500, so other users
//! get `EACCES`, as with `/proc/<pid>`. A read when the guest runs no server
//! fails with `ENOTCONN` ("Transport endpoint is not connected"), and
//! `status` says so in words.

use core::fmt::{self, Write};

use kernel::{
    fs::File,
    new_mutex,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{poll::PollTable, Arc, Mutex},
    uaccess::{UserSliceReader, UserSliceWriter},
};

use crate::abi::iomon::{self as io, IoRecord};
use crate::abi::{self, entry, service};
use crate::iomon::{Capture, ReadWait};
use crate::kvm::ProcFile;
use crate::rvmrpc::HIST_BUCKETS;
use crate::vm::Vm;

/// `fmt::Write` into a seq_file.
struct SeqWriter<'a>(&'a SeqFile);

impl Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        seq_print!(self.0, "{}", s);
        Ok(())
    }
}

/// Fills file `kind` of `vm`'s directory.
pub(crate) fn show(kind: ProcFile, vm: &Vm, seq: &SeqFile) -> Result {
    let name = match kind {
        ProcFile::Meminfo => service::MEMINFO,
        ProcFile::Cpuinfo => service::CPUINFO,
        ProcFile::Loadavg => service::LOADAVG,
        ProcFile::Services => service::SERVICES,
        ProcFile::Status => return status(vm, seq),
        ProcFile::Iomon => return iomon(vm, seq),
        ProcFile::Iostat => return iostat(vm, seq),
        ProcFile::DropCaches => return Err(EINVAL),
    };
    let records = vm.rv.call(name, 0, &[], abi::RV_MAX_BUF as usize)?;
    if kind == ProcFile::Services {
        for rec in entry::records(&records).flatten() {
            seq_print!(seq, "{}\n", core::str::from_utf8(rec.key).unwrap_or("?"));
        }
        return Ok(());
    }
    entry::write_text(&records, &mut SeqWriter(seq)).map_err(|_| EIO)
}

fn status(vm: &Vm, seq: &SeqFile) -> Result {
    let st = vm.rv.status();
    if st.slots == 0 {
        seq_print!(seq, "server: none (load guest-rvmrpc in the guest)\n");
    } else {
        seq_print!(
            seq,
            "server: running, {} slots, {} busy\n",
            st.slots,
            st.busy
        );
    }
    seq_print!(
        seq,
        "queued: {}\ntimeout_ms: {}\n",
        st.queued,
        st.timeout_ms
    );
    let s = st.stats;
    seq_print!(
        seq,
        "calls: {}\nerrors: {}\ntimeouts: {}\n",
        s.calls,
        s.errors,
        s.timeouts
    );
    seq_print!(seq, "latency_us:\n");
    for (i, n) in s.hist.iter().enumerate() {
        if i + 1 == HIST_BUCKETS {
            seq_print!(seq, "  >= {}: {}\n", 1u64 << (i - 1), n);
        } else {
            seq_print!(seq, "  < {}: {}\n", 1u64 << i, n);
        }
    }
    Ok(())
}

/// A write to file `kind`: `drop_caches` takes `1`, `2` or `3` with an
/// optional newline; `iomon` takes a command.
pub(crate) fn write(kind: ProcFile, vm: &Vm, mut input: UserSliceReader) -> Result<usize> {
    match kind {
        ProcFile::DropCaches => (),
        ProcFile::Iomon => return iomon_write(vm, input),
        _ => return Err(EINVAL),
    }
    let len = input.len();
    let mut text = [0u8; 3];
    if len == 0 || len > text.len() {
        return Err(EINVAL);
    }
    input.read_slice(&mut text[..len])?;
    let mode: u32 = match &text[..len] {
        [d @ b'1'..=b'3'] | [d @ b'1'..=b'3', b'\n'] => u32::from(d - b'0'),
        _ => return Err(EINVAL),
    };
    vm.rv
        .call(service::DROP_CACHES, 0, &mode.to_ne_bytes(), 0)?;
    Ok(len)
}

/// `iomon`: `on FILTER` while a session records, else `off`.
fn iomon(vm: &Vm, seq: &SeqFile) -> Result {
    match vm.iomon_session().filter(|c| c.is_on()) {
        Some(cap) => {
            let mut text = SeqWriter(seq);
            let _ = text.write_str("on ");
            let _ = cap.filter().write_text(&mut text);
            seq_print!(seq, "\n");
        }
        None => seq_print!(seq, "off\n"),
    }
    Ok(())
}

/// Requests per second, in tenths, over `elapsed_ns` (integer arithmetic:
/// no 128-bit division in the kernel).
fn rate_tenths(n: u64, elapsed_ns: u64) -> u64 {
    n.saturating_mul(10_000)
        .checked_div(elapsed_ns / 1_000_000)
        .unwrap_or(0)
}

/// `iostat`: the session's totals, then one line per port or MMIO page
/// (busiest first) and per vCPU.
fn iostat(vm: &Vm, seq: &SeqFile) -> Result {
    let Some(cap) = vm.iomon_session() else {
        seq_print!(seq, "monitoring: never turned on (write \"on\" to iomon)\n");
        return Ok(());
    };
    let snap = cap.snapshot()?;
    let secs = snap.elapsed_ns / 1_000_000_000;
    let micros = snap.elapsed_ns % 1_000_000_000 / 1000;
    seq_print!(
        seq,
        "monitoring: {} for {}.{:06} s, ring: {} records, filter: ",
        if snap.enabled {
            "on"
        } else {
            "off, last session"
        },
        secs,
        micros,
        snap.ring
    );
    let _ = snap.filter.write_text(&mut SeqWriter(seq));
    let t = &snap.totals;
    seq_print!(
        seq,
        "\nrequests: {} (pio: {} reads, {} writes, {} bytes; mmio: {} reads, {} writes, {} bytes)\n",
        t.requests,
        t.pio_reads,
        t.pio_writes,
        t.pio_bytes,
        t.mmio_reads,
        t.mmio_writes,
        t.mmio_bytes
    );
    seq_print!(
        seq,
        "trace: {} records dropped (ring full); {} requests of unknown vCPU\n",
        t.dropped,
        t.unattributed
    );
    let k = vm.kvm().exit_counts();
    seq_print!(
        seq,
        "kvm: exits {}, io_exits {}, mmio_exits {}\n",
        k.exits,
        k.io_exits,
        k.mmio_exits
    );
    seq_print!(
        seq,
        "kind  first               last                reads       writes      bytes         rate/s     handled\n"
    );
    for e in snap.entries.iter() {
        let kind = if e.kind == io::KIND_PIO {
            "pio"
        } else {
            "mmio"
        };
        let rate = rate_tenths(e.reads + e.writes, snap.elapsed_ns);
        let handled = if e.flags & io::ENTRY_OTHER != 0 {
            "other (table full)"
        } else if e.flags & io::ENTRY_IN_KERNEL != 0 {
            "kernel"
        } else {
            "vmm"
        };
        seq_print!(
            seq,
            "{:<5} {:<#19x} {:<#19x} {:<11} {:<11} {:<13} {:>8}.{} {}\n",
            kind,
            e.first,
            e.last,
            e.reads,
            e.writes,
            e.bytes,
            rate / 10,
            rate % 10,
            handled
        );
    }
    for v in snap.vcpus.iter() {
        if v.vcpu == io::VCPU_OTHER {
            seq_print!(seq, "vcpu other:");
        } else {
            seq_print!(seq, "vcpu {}:", v.vcpu);
        }
        seq_print!(seq, " pio {}, mmio {}, bytes {}\n", v.pio, v.mmio, v.bytes);
    }
    Ok(())
}

/// A write to `iomon`: `on [FILTER]` or `off`.
fn iomon_write(vm: &Vm, mut input: UserSliceReader) -> Result<usize> {
    let len = input.len();
    let mut text = [0u8; 256];
    if len == 0 || len > text.len() {
        return Err(EINVAL);
    }
    input.read_slice(&mut text[..len])?;
    let host = crate::kvm::host()?;
    match io::parse_command(&text[..len]).map_err(filter_error)? {
        io::Command::On(filter) => host.iomon.start(vm, filter, 0)?,
        io::Command::Off => host.iomon.stop(vm),
    }
    Ok(len)
}

/// The errno of a refused filter.
pub(crate) fn filter_error(e: io::FilterError) -> Error {
    // `errno()` is a small positive errno.
    Error::from_errno(-(e.errno() as i32))
}

/// Records one read of `iotrace` takes from the ring at most.
const TRACE_BATCH: usize = 64;

/// `fmt::Write` appending to a byte vector.
struct TextSink<'a>(&'a mut KVec<u8>);

impl Write for TextSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// What an open `iotrace` file has taken from the ring but not yet handed
/// to its reader.
struct Pending {
    text: KVec<u8>,
    at: usize,
    records: KVec<IoRecord>,
}

/// One open `/proc/covmm/<pid>/iotrace`: it follows the session that was
/// current when it was opened, and ends with it.
pub(crate) struct TraceReader {
    cap: Arc<Capture>,
    pending: Arc<Mutex<Pending>>,
}

impl TraceReader {
    /// `ENODATA` if the VM was never monitored.
    pub(crate) fn new(vm: &Vm) -> Result<KBox<Self>> {
        let cap = vm.iomon_session().ok_or(ENODATA)?;
        let pending = Pending {
            text: KVec::with_capacity(TRACE_BATCH * 128, GFP_KERNEL)?,
            at: 0,
            records: KVec::from_elem(IoRecord::default(), TRACE_BATCH, GFP_KERNEL)?,
        };
        let pending = Arc::pin_init(new_mutex!(pending, "covmm_iotrace_reader"), GFP_KERNEL)?;
        Ok(KBox::new(Self { cap, pending }, GFP_KERNEL)?)
    }

    /// Copies trace lines to `out`, waiting for records unless `nonblock`;
    /// 0 at the end of the session.
    pub(crate) fn read(&self, mut out: UserSliceWriter, nonblock: bool) -> Result<usize> {
        let mut guard = self.pending.lock();
        let p = &mut *guard;
        if p.at == p.text.len() {
            p.text.clear();
            p.at = 0;
            let wait = if nonblock {
                ReadWait::Never
            } else {
                ReadWait::First
            };
            let batch = self.cap.read(&mut p.records, wait)?;
            if batch.eof {
                return Ok(0);
            }
            let mut sink = TextSink(&mut p.text);
            let mut lines = || -> fmt::Result {
                if batch.dropped > 0 {
                    io::write_dropped(batch.dropped, &mut sink)?;
                    sink.write_str("\n")?;
                }
                for rec in &p.records[..batch.count] {
                    rec.write_text(&mut sink)?;
                    sink.write_str("\n")?;
                }
                Ok(())
            };
            lines().map_err(|_| ENOMEM)?;
        }
        let n = out.len().min(p.text.len() - p.at);
        out.write_slice(&p.text[p.at..p.at + n])?;
        p.at += n;
        Ok(n)
    }

    /// Registers `table` for wake-ups; whether a read would not block.
    pub(crate) fn poll(&self, file: &File, table: &PollTable<'_>) -> bool {
        table.register_wait(file, self.cap.readers());
        // A reader holding the lock is taking what there is.
        let pending = self.pending.try_lock().is_some_and(|p| p.at < p.text.len());
        pending || self.cap.readable()
    }
}
