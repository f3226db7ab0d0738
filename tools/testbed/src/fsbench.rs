// SPDX-License-Identifier: GPL-2.0

//! `covmm-tb fs-bench`, run in a guest: the hlfs benchmark's workload on one
//! mounted file system (hlfs, virtio-9p or virtiofs), so that the three are
//! measured by the same code in the same guest.
//!
//! The rows are those of the hlfs issue: sequential write and read of one
//! large file, 4 KiB random reads of it, create / stat / unlink of many small
//! files (and a listing with a stat of each, as `ls -l` makes), and the
//! extraction of a source tarball. Reads and stats start with
//! the guest's caches dropped, so they measure the file system and its host
//! side, not the guest's page and dentry caches; the host's own page cache
//! is warm for all three alike.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

/// What to measure.
pub struct Workload {
    /// The mount point to work under.
    pub dir: PathBuf,
    /// Size of the sequential file, in MiB.
    pub file_mib: u64,
    /// Number of 4 KiB random reads.
    pub random_reads: u64,
    /// Number of small files for the metadata rows.
    pub files: u64,
    /// A tarball to extract, if any.
    pub tar: Option<PathBuf>,
}

/// The figures of one run, printed as JSON.
#[derive(Serialize)]
pub struct Figures {
    pub seq_write_mbps: f64,
    pub seq_read_mbps: f64,
    pub rand_read_iops: f64,
    pub create_per_s: f64,
    pub stat_per_s: f64,
    /// Entries per second of a listing that stats each one (`ls -l`).
    pub list_per_s: f64,
    pub unlink_per_s: f64,
    /// Guest slab memory per cached file (inode, dentry and what the file
    /// system keeps with them), from /proc/meminfo around the stat pass.
    pub slab_bytes_per_file: f64,
    /// Seconds to extract the tarball; 0 without one.
    pub tar_s: f64,
}

const MIB: usize = 1 << 20;
const BLOCK: u64 = 4096;

/// Drops the guest's clean page cache, dentries and inodes (dirty data is
/// written first).
fn drop_caches() -> io::Result<()> {
    // drop_caches drops clean pages only: write everything back first.
    Command::new("sync").status()?;
    fs::write("/proc/sys/vm/drop_caches", "3")
}

/// A small xorshift generator: the random offsets need no quality, only to
/// be the same for every file system.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn rate(amount: f64, start: Instant) -> f64 {
    amount / start.elapsed().as_secs_f64().max(1e-9)
}

fn seq_write(path: &Path, mib: u64) -> io::Result<f64> {
    let chunk: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let mut f = File::create(path)?;
    for _ in 0..mib {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    drop(f);
    Ok(rate(mib as f64 * MIB as f64 / 1e6, start))
}

fn seq_read(path: &Path, mib: u64) -> io::Result<f64> {
    let mut chunk = vec![0u8; MIB];
    let start = Instant::now();
    let mut f = File::open(path)?;
    let mut total = 0u64;
    loop {
        let n = f.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if total != mib * MIB as u64 {
        return Err(io::Error::other(format!(
            "read {total} bytes back, wrote {}",
            mib * MIB as u64
        )));
    }
    Ok(rate(total as f64 / 1e6, start))
}

fn random_reads(path: &Path, mib: u64, count: u64) -> io::Result<f64> {
    let blocks = mib * MIB as u64 / BLOCK;
    let mut buf = [0u8; BLOCK as usize];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let f = File::open(path)?;
    let start = Instant::now();
    for _ in 0..count {
        let off = rng.next() % blocks * BLOCK;
        f.read_exact_at(&mut buf, off)?;
    }
    Ok(rate(count as f64, start))
}

/// The guest's slab memory in bytes.
fn slab_bytes() -> io::Result<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo")?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no Slab line in /proc/meminfo"))
}

/// The metadata rows: operations per second, and slab bytes per cached file.
struct Metadata {
    create: f64,
    stat: f64,
    list: f64,
    unlink: f64,
    slab_per_file: f64,
}

/// Lists `dir` and stats each entry, as `ls -l` does; returns the entries.
fn list_with_stats(dir: &Path) -> io::Result<u64> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if fs::symlink_metadata(entry.path())?.len() != 64 {
            return Err(io::Error::other(format!(
                "{} is not 64 bytes",
                entry.path().display()
            )));
        }
        n += 1;
    }
    Ok(n)
}

/// Create, stat (caches dropped), list with stats (caches dropped) and
/// unlink `count` files of 64 bytes.
fn metadata(dir: &Path, count: u64) -> io::Result<Metadata> {
    fs::create_dir(dir)?;
    let names: Vec<PathBuf> = (0..count).map(|i| dir.join(format!("f{i}"))).collect();
    let start = Instant::now();
    for name in &names {
        let mut f = OpenOptions::new().write(true).create_new(true).open(name)?;
        f.write_all(&[b'x'; 64])?;
    }
    let create = rate(count as f64, start);
    drop_caches()?;
    let slab_before = slab_bytes()?;
    let start = Instant::now();
    for name in &names {
        if fs::symlink_metadata(name)?.len() != 64 {
            return Err(io::Error::other(format!(
                "{} is not 64 bytes",
                name.display()
            )));
        }
    }
    let stat = rate(count as f64, start);
    let slab_per_file = slab_bytes()?.saturating_sub(slab_before) as f64 / count.max(1) as f64;
    drop_caches()?;
    let start = Instant::now();
    let listed = list_with_stats(dir)?;
    let list = rate(listed as f64, start);
    if listed != count {
        return Err(io::Error::other(format!(
            "listed {listed} files of {count}"
        )));
    }
    let start = Instant::now();
    for name in &names {
        fs::remove_file(name)?;
    }
    let unlink = rate(count as f64, start);
    fs::remove_dir(dir)?;
    Ok(Metadata {
        create,
        stat,
        list,
        unlink,
        slab_per_file,
    })
}

fn extract(tar: &Path, dir: &Path) -> io::Result<f64> {
    fs::create_dir(dir)?;
    let start = Instant::now();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .status()?;
    Command::new("sync").status()?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(io::Error::other(format!("tar -xf exited with {status}")));
    }
    fs::remove_dir_all(dir)?;
    Ok(secs)
}

/// Runs the workload under `w.dir` and leaves it as it found it.
pub fn run(w: &Workload) -> io::Result<Figures> {
    if w.file_mib == 0 {
        return Err(io::Error::other("--file-mib must be at least 1"));
    }
    let big = w.dir.join("fs-bench.seq");
    let seq_write_mbps = seq_write(&big, w.file_mib)?;
    drop_caches()?;
    let seq_read_mbps = seq_read(&big, w.file_mib)?;
    drop_caches()?;
    let rand_read_iops = random_reads(&big, w.file_mib, w.random_reads)?;
    fs::remove_file(&big)?;
    let meta = metadata(&w.dir.join("fs-bench.meta"), w.files)?;
    let tar_s = match &w.tar {
        Some(tar) => extract(tar, &w.dir.join("fs-bench.tar"))?,
        None => 0.0,
    };
    Ok(Figures {
        seq_write_mbps,
        seq_read_mbps,
        rand_read_iops,
        create_per_s: meta.create,
        stat_per_s: meta.stat,
        list_per_s: meta.list,
        unlink_per_s: meta.unlink,
        slab_bytes_per_file: meta.slab_per_file,
        tar_s,
    })
}
