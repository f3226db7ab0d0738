// SPDX-License-Identifier: GPL-2.0

//! Files in transit, the same on both sides: a file arrives under a hidden
//! partial name next to its destination, is checked against the SHA-256 its
//! sender computed while streaming, and only then takes its name, so a
//! reader sees the old file or the whole new one, never a part. An
//! interrupted transfer leaves the partial file, which the next transfer of
//! the same version resumes.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::msg;

/// The partial file of version `id` of `dest`.
pub fn part_path(dest_dir: &Path, name: &str, id: &str) -> PathBuf {
    dest_dir.join(msg::part_name(name, id))
}

/// The partial files of `name` in `dir` that an interrupted transfer left,
/// with the version each belongs to.
pub fn parts_of(dir: &Path, name: &str) -> Vec<(PathBuf, String)> {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let id = f.strip_prefix(&prefix)?.strip_suffix(".covmm-part")?;
            msg::is_id(id).then(|| (e.path(), id.to_string()))
        })
        .collect()
}

/// Removes the partial files of `name` in `dir` of versions other than
/// `keep`: they can never be resumed.
pub fn remove_stale_parts(dir: &Path, name: &str, keep: &str) {
    for (p, id) in parts_of(dir, name) {
        if id != keep {
            let _ = fs::remove_file(p);
        }
    }
}

/// A hasher fed with the first `len` bytes of `file`, read from its
/// start; the file's offset is left at `len`.
pub fn hash_prefix(file: &mut File, len: u64) -> io::Result<Sha256> {
    let mut h = Sha256::new();
    let mut rest = len;
    let mut buf = vec![0u8; 1 << 16];
    file.seek(SeekFrom::Start(0))?;
    while rest > 0 {
        let want = buf.len().min(usize::try_from(rest).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        h.update(&buf[..n]);
        rest -= n as u64;
    }
    Ok(h)
}

/// The SHA-256 of a whole file, in hex.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    Ok(msg::hex(&hash_prefix(&mut f, len)?.finalize()))
}
