// SPDX-License-Identifier: GPL-2.0

//! `/proc/covmm/<pid>/`: each VM's guest, asked live through Reverse VMRPC.
//!
//! - `meminfo`, `cpuinfo`, `loadavg`: the guest's own files, rebuilt from
//!   the typed records its services return, on every read;
//! - `services`: what the guest offers, one name per line;
//! - `status`: the guest server's slots and the host's counters;
//! - `drop_caches`: write 1, 2 or 3.
//!
//! The directory belongs to the VMM's user with mode 0500, so other users
//! get `EACCES`, as with `/proc/<pid>`. A read when the guest runs no server
//! fails with `ENOTCONN` ("Transport endpoint is not connected"), and
//! `status` says so in words.

use core::fmt::{self, Write};

use kernel::{prelude::*, seq_file::SeqFile, seq_print, uaccess::UserSliceReader};

use crate::abi::{self, entry, service};
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

/// A write to file `kind`: only `drop_caches` takes one, `1`, `2` or `3`
/// with an optional newline.
pub(crate) fn write(kind: ProcFile, vm: &Vm, mut input: UserSliceReader) -> Result<usize> {
    if kind != ProcFile::DropCaches {
        return Err(EINVAL);
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
