// SPDX-License-Identifier: GPL-2.0 OR MIT

//! hlfs, the high-level-link file system: its wire protocol over VMRPC.
//!
//! guest-hlfs binds to host-vmrpc's server [`SERVER`] version [`VERSION`]
//! and makes one VMRPC call per operation: the function is an [`Op`], the
//! request is an [`HlfsReq`] (written back with the reply), and the call also
//! exposes the buffers the request points to by guest address: `name`,
//! `name2` and `data`. The host resolves every node handle, open-file handle
//! and name against the calling VM's own tables, so nothing a guest sends can
//! name anything outside what it was given.
//!
//! Node handles are opaque numbers the host hands out on `MOUNT`, `LOOKUP`,
//! `CREATE`, `MKDIR`, `MKNOD`, `SYMLINK` and `LINK`; each such reply counts
//! one lookup of the node, and `FORGET` gives counts back, as in FUSE. A node
//! whose count falls to zero is gone from the host's table. Handle 0 is never
//! valid.

use zerocopy_derive::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The host server's name.
pub const SERVER: &[u8] = b"covmm.hlfs";
/// The host server's version (the protocol's major version).
pub const VERSION: u32 = 1;
/// Longest name of a directory entry (as `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest symbolic link target (as a page, less the NUL).
pub const SYMLINK_MAX: usize = 4095;
/// Most bytes one `READ` or `WRITE` moves: several pages per hypercall.
pub const IO_MAX: u64 = 1 << 20;
/// Longest export tag.
pub const TAG_MAX: usize = 63;
/// Longest extended attribute name, and largest value.
pub const XATTR_NAME_MAX: usize = 255;
/// See [`XATTR_NAME_MAX`].
pub const XATTR_SIZE_MAX: usize = 65536;

/// Operations, the VMRPC function number of each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// `name`: the export tag. Out: `export`, `out_node` (the root),
    /// `attr`, `out_flags` ([`MOUNT_RO`]).
    Mount = 1,
    /// Forgets the export and all of its nodes and open files.
    Umount = 2,
    /// `node` (a directory), `name`. Out: `out_node`, `attr`.
    Lookup = 3,
    /// `node`, `len`: the lookups to give back.
    Forget = 4,
    /// `node`. Out: `attr`.
    Getattr = 5,
    /// `node`, `valid` (`SET_*`), `mode`, `uid`, `gid`, `size`, `atime`,
    /// `mtime`; `fh` if the guest has the file open. Out: `attr`.
    Setattr = 6,
    /// `fh` (an open directory), `offset` (0 or a cookie from an entry),
    /// `data`/`len`: a buffer for [`Dirent`] records. Returns the bytes
    /// written; 0 at the end.
    Readdir = 7,
    /// `node`, `flags` (`O_*` access mode and `O_TRUNC`, `O_APPEND`,
    /// `O_DIRECT`, as Linux numbers them). Out: `out_fh`.
    Open = 8,
    /// `fh`.
    Release = 9,
    /// `fh`, `offset`; `data`: `iov_count` [`HlfsIov`] (at most
    /// [`MAX_IOV`], [`IO_MAX`] bytes in all) that receive the data in turn.
    /// Returns the bytes read.
    Read = 10,
    /// `fh`, `offset`, `data`/`iov_count` as for `READ`. Returns the bytes
    /// written. Out: `attr`.
    Write = 11,
    /// `node` (directory), `name`, `mode`, `flags` as for `OPEN` (plus
    /// `O_EXCL`). Out: `out_node`, `out_fh`, `attr`.
    Create = 12,
    /// `node`, `name`, `mode` (a FIFO or socket), `rdev`. Out: `out_node`,
    /// `attr`.
    Mknod = 13,
    /// `node`, `name`, `mode`. Out: `out_node`, `attr`.
    Mkdir = 14,
    /// `node`, `name`.
    Unlink = 15,
    /// `node`, `name`.
    Rmdir = 16,
    /// `node`, `name` to `node2`, `name2`; `flags`: [`RENAME_NOREPLACE`],
    /// [`RENAME_EXCHANGE`].
    Rename = 17,
    /// `node` (not a directory) to `node2`, `name2`. Out: `out_node`,
    /// `attr`.
    Link = 18,
    /// `node`, `name`; the target in `name2`. Out: `out_node`, `attr`.
    Symlink = 19,
    /// `node`, `data`/`len`. Returns the target's length.
    Readlink = 20,
    /// `node`, `data`/`len` for an [`HlfsStatfs`].
    Statfs = 21,
    /// `fh`, `flags` ([`FSYNC_DATA`]).
    Fsync = 22,
    /// `fh`, `flags` (`FALLOC_FL_*`), `offset`, `len`. Out: `attr`.
    Fallocate = 23,
    /// `node`, `name`, `data`/`len` (0: ask for the size). Returns the
    /// value's size.
    Getxattr = 24,
    /// `node`, `name`, `data`/`len`, `flags` (`XATTR_CREATE`,
    /// `XATTR_REPLACE`).
    Setxattr = 25,
    /// `node`, `data`/`len` (0: ask for the size). Returns the list's size.
    Listxattr = 26,
    /// `node`, `name`.
    Removexattr = 27,
    /// As `READDIR`, with `node` the directory `fh` is open on, but each
    /// record carries a [`DirentPlus`]: the entry looked up in `node`, as
    /// `LOOKUP` would reply (its node counted once), or node
    /// 0 where the host did not look it up (`.`, `..`, an entry gone
    /// meanwhile). Listing and stat-ing a directory then takes one call
    /// per buffer instead of one more per entry, as FUSE's and NFS's
    /// READDIRPLUS do.
    ReaddirPlus = 28,
}

impl Op {
    /// The operation numbered `raw`, if any.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            1 => Self::Mount,
            2 => Self::Umount,
            3 => Self::Lookup,
            4 => Self::Forget,
            5 => Self::Getattr,
            6 => Self::Setattr,
            7 => Self::Readdir,
            8 => Self::Open,
            9 => Self::Release,
            10 => Self::Read,
            11 => Self::Write,
            12 => Self::Create,
            13 => Self::Mknod,
            14 => Self::Mkdir,
            15 => Self::Unlink,
            16 => Self::Rmdir,
            17 => Self::Rename,
            18 => Self::Link,
            19 => Self::Symlink,
            20 => Self::Readlink,
            21 => Self::Statfs,
            22 => Self::Fsync,
            23 => Self::Fallocate,
            24 => Self::Getxattr,
            25 => Self::Setxattr,
            26 => Self::Listxattr,
            27 => Self::Removexattr,
            28 => Self::ReaddirPlus,
            _ => return None,
        })
    }
}

/// [`HlfsReq::out_flags`] of `MOUNT`: the export is read-only.
pub const MOUNT_RO: u32 = 1;

/// [`HlfsReq::valid`] of `SETATTR`: set the mode.
pub const SET_MODE: u32 = 1;
/// Set the owner.
pub const SET_UID: u32 = 2;
/// Set the group.
pub const SET_GID: u32 = 4;
/// Truncate or extend to `size`.
pub const SET_SIZE: u32 = 8;
/// Set the access time to `atime`.
pub const SET_ATIME: u32 = 16;
/// Set the modification time to `mtime`.
pub const SET_MTIME: u32 = 32;
/// Set the access time to now.
pub const SET_ATIME_NOW: u32 = 64;
/// Set the modification time to now.
pub const SET_MTIME_NOW: u32 = 128;
/// Every `SET_*` bit.
pub const SET_ALL: u32 = 255;

/// `RENAME` flag: fail with `EEXIST` rather than replace the target.
pub const RENAME_NOREPLACE: u32 = 1;
/// `RENAME` flag: swap the two names atomically.
pub const RENAME_EXCHANGE: u32 = 2;
/// `FSYNC` flag: data only (`fdatasync`).
pub const FSYNC_DATA: u32 = 1;

/// A time stamp.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HlfsTime {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds, below 10^9.
    pub nsec: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// A node's attributes, as the host's `stat` gives them (with ids mapped).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HlfsAttr {
    /// The host's inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Access time.
    pub atime: HlfsTime,
    /// Modification time.
    pub mtime: HlfsTime,
    /// Change time.
    pub ctime: HlfsTime,
    /// Type and permission bits, as `st_mode`.
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner, as the guest sees it.
    pub uid: u32,
    /// Group, as the guest sees it.
    pub gid: u32,
    /// Device number of a device node (`MKDEV` encoding of the host).
    pub rdev: u32,
    /// Preferred I/O size.
    pub blksize: u32,
}

/// The request and reply of every call.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HlfsReq {
    /// In: the export handle from `MOUNT`.
    pub export: u64,
    /// In: the node the operation is about (a directory for names).
    pub node: u64,
    /// In: the second node (`RENAME`, `LINK`).
    pub node2: u64,
    /// In: an open-file handle from `OPEN` or `CREATE`.
    pub fh: u64,
    /// In: file offset, or directory cookie.
    pub offset: u64,
    /// In: bytes at `data` (or `FALLOCATE`'s length, `FORGET`'s count).
    pub len: u64,
    /// In: guest address of the data buffer.
    pub data: u64,
    /// In: guest address of the name (no NUL).
    pub name: u64,
    /// In: guest address of the second name.
    pub name2: u64,
    /// In: bytes of `name`.
    pub name_len: u32,
    /// In: bytes of `name2`.
    pub name2_len: u32,
    /// In: operation flags.
    pub flags: u32,
    /// In: mode for `CREATE`, `MKDIR`, `MKNOD`, `SETATTR`.
    pub mode: u32,
    /// In: `SETATTR`'s owner.
    pub uid: u32,
    /// In: `SETATTR`'s group.
    pub gid: u32,
    /// In: `SETATTR`'s `SET_*` bits.
    pub valid: u32,
    /// In: `MKNOD`'s device number.
    pub rdev: u32,
    /// In: `SETATTR`'s size.
    pub size: u64,
    /// In: `SETATTR`'s access time.
    pub atime: HlfsTime,
    /// In: `SETATTR`'s modification time.
    pub mtime: HlfsTime,
    /// Out: the node's attributes.
    pub attr: HlfsAttr,
    /// Out: a node handle (counted once; see the module docs).
    pub out_node: u64,
    /// Out: an open-file handle.
    pub out_fh: u64,
    /// Out: `MOUNT_RO` and the like.
    pub out_flags: u32,
    /// In: entries of the `READ`/`WRITE` vector at `data`.
    pub iov_count: u32,
}

/// One piece of a `READ` or `WRITE`: guest memory at `addr` of `len` bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HlfsIov {
    pub addr: u64,
    pub len: u64,
}

/// Most pieces one `READ` or `WRITE` carries.
pub const MAX_IOV: usize = 256;

/// Checks a `READ`/`WRITE` vector: at most [`MAX_IOV`] non-empty pieces,
/// none wrapping, [`IO_MAX`] bytes in all; returns the total.
pub fn check_iov(iov: &[HlfsIov]) -> Option<u64> {
    if iov.len() > MAX_IOV {
        return None;
    }
    iov.iter().try_fold(0u64, |total, v| {
        v.addr.checked_add(v.len)?;
        let total = total.checked_add(v.len).filter(|&t| t <= IO_MAX)?;
        (v.len > 0).then_some(total)
    })
}

/// `STATFS`'s reply, written to `data`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct HlfsStatfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub frsize: u32,
    pub namelen: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// Header of one directory entry in `READDIR`'s buffer; the name follows
/// (after a [`DirentPlus`] in `READDIRPLUS`'s), and the next record starts
/// at the next multiple of 8.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Dirent {
    /// The host's inode number.
    pub ino: u64,
    /// The cookie that continues the listing after this entry.
    pub next: u64,
    /// Bytes of name.
    pub name_len: u16,
    /// `DT_*` type.
    pub dtype: u8,
    /// Explicit padding; zero.
    pub pad: [u8; 5],
}

/// What a `READDIRPLUS` record carries between its [`Dirent`] and its name.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct DirentPlus {
    /// The entry's node handle, counted once as by `LOOKUP`; 0 for none.
    pub node: u64,
    /// The node's attributes (meaningless with node 0).
    pub attr: HlfsAttr,
}

const DIRENT: usize = core::mem::size_of::<Dirent>();
const PLUS: usize = core::mem::size_of::<DirentPlus>();

/// Bytes before a record's name: its header, and in `READDIRPLUS` its
/// [`DirentPlus`].
const fn name_at(plus: bool) -> usize {
    if plus {
        DIRENT + PLUS
    } else {
        DIRENT
    }
}

/// Bytes a record for a `name_len`-byte name takes (`plus`: in
/// `READDIRPLUS`'s buffer).
pub const fn dirent_size(name_len: usize, plus: bool) -> usize {
    (name_at(plus) + name_len).div_ceil(8) * 8
}

/// Appends a record to `buf` at `at`, with node 0 in its [`DirentPlus`]
/// if `plus` ([`set_plus`] fills that in); returns the offset after it, or
/// `None` if it does not fit or the name is not a valid entry name.
pub fn put_dirent(
    buf: &mut [u8],
    at: usize,
    head: &Dirent,
    plus: bool,
    name: &[u8],
) -> Option<usize> {
    use zerocopy::IntoBytes as _;
    if name.is_empty() || name.len() > NAME_MAX {
        return None;
    }
    let end = at.checked_add(dirent_size(name.len(), plus))?;
    let rec = buf.get_mut(at..end)?;
    let head = Dirent {
        name_len: name.len() as u16,
        pad: [0; 5],
        ..*head
    };
    let name_at = name_at(plus);
    rec[..DIRENT].copy_from_slice(head.as_bytes());
    rec[DIRENT..name_at].fill(0);
    rec[name_at..name_at + name.len()].copy_from_slice(name);
    rec[name_at + name.len()..].fill(0);
    Some(end)
}

/// Sets the `next` cookie of the record at the start of `rec`.
pub fn set_next(rec: &mut [u8], next: u64) {
    use zerocopy::{FromBytes as _, IntoBytes as _};
    if let Ok((mut head, _)) = Dirent::read_from_prefix(rec) {
        head.next = next;
        rec[..DIRENT].copy_from_slice(head.as_bytes());
    }
}

/// Sets the [`DirentPlus`] of the `READDIRPLUS` record at the start of
/// `rec`.
pub fn set_plus(rec: &mut [u8], plus: &DirentPlus) {
    use zerocopy::IntoBytes as _;
    if let Some(at) = rec.get_mut(DIRENT..DIRENT + PLUS) {
        at.copy_from_slice(plus.as_bytes());
    }
}

/// One record of a `READDIR` or `READDIRPLUS` buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirentRec<'a> {
    pub head: Dirent,
    /// `READDIRPLUS`'s lookup of the entry; node 0 in `READDIR`'s.
    pub plus: DirentPlus,
    pub name: &'a [u8],
    /// Where the record starts in the buffer.
    pub at: usize,
}

/// The records of a `READDIR` (or, with `plus`, `READDIRPLUS`) buffer:
/// `Err(())` for a malformed one, after which the iteration ends.
pub fn dirents(buf: &[u8], plus: bool) -> Dirents<'_> {
    Dirents { buf, at: 0, plus }
}

/// See [`dirents`].
#[derive(Clone)]
pub struct Dirents<'a> {
    buf: &'a [u8],
    at: usize,
    plus: bool,
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Result<DirentRec<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        use zerocopy::FromBytes as _;
        if self.at >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.at..];
        let name_at = name_at(self.plus);
        let parsed = Dirent::read_from_prefix(rest).ok().and_then(|(head, _)| {
            let len = usize::from(head.name_len);
            let name = rest.get(name_at..name_at + len)?;
            let plus = if self.plus {
                DirentPlus::read_from_bytes(&rest[DIRENT..name_at]).ok()?
            } else {
                DirentPlus::default()
            };
            (len > 0 && len <= NAME_MAX && !name.contains(&b'/') && !name.contains(&0)).then_some(
                DirentRec {
                    head,
                    plus,
                    name,
                    at: self.at,
                },
            )
        });
        match parsed {
            Some(rec) => {
                self.at += dirent_size(rec.name.len(), self.plus);
                Some(Ok(rec))
            }
            None => {
                self.at = self.buf.len();
                Some(Err(()))
            }
        }
    }
}

/// Whether `name` may name a directory entry: 1 to [`NAME_MAX`] bytes, no
/// `/` or NUL, and not `.` or `..` (which the guest's VFS resolves itself,
/// so the host never walks up).
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name != b"."
        && name != b".."
        && !name.iter().any(|&c| c == b'/' || c == 0)
}

/// Whether `tag` may name an export: 1 to [`TAG_MAX`] of `[A-Za-z0-9_.-]`.
pub fn valid_tag(tag: &[u8]) -> bool {
    !tag.is_empty()
        && tag.len() <= TAG_MAX
        && tag
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A range of ids mapped between guest and host: guest ids
/// `guest..guest + count` are host ids `host..host + count`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IdRange {
    pub guest: u32,
    pub host: u32,
    pub count: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// Most ranges in an [`IdMap`].
pub const MAX_ID_RANGES: usize = 4;

/// How an export maps uids (or gids). An empty map is the identity. With
/// ranges, ids outside them map to the overflow id (65534), as user
/// namespaces do, so host ids never leak into the guest.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IdMap {
    pub ranges: [IdRange; MAX_ID_RANGES],
    /// Ranges in use.
    pub count: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// The id that stands for any unmapped id.
pub const OVERFLOW_ID: u32 = 65534;

impl IdMap {
    /// Whether the map is well formed: at most [`MAX_ID_RANGES`] ranges,
    /// none empty or wrapping, none overlapping on either side.
    pub fn validate(&self) -> bool {
        let n = self.count as usize;
        if n > MAX_ID_RANGES || self.pad != 0 {
            return false;
        }
        let r = &self.ranges[..n];
        let sane = r.iter().all(|x| {
            x.pad == 0
                && x.count > 0
                && x.guest.checked_add(x.count - 1).is_some()
                && x.host.checked_add(x.count - 1).is_some()
        });
        let disjoint = |a: u32, an: u32, b: u32, bn: u32| a + (an - 1) < b || b + (bn - 1) < a;
        sane && (0..n).all(|i| {
            (i + 1..n).all(|j| {
                disjoint(r[i].guest, r[i].count, r[j].guest, r[j].count)
                    && disjoint(r[i].host, r[i].count, r[j].host, r[j].count)
            })
        }) && self.ranges[n..].iter().all(|x| *x == IdRange::default())
    }

    /// The host id for guest id `id` (`None` if unmapped).
    pub fn host_id(&self, id: u32) -> Option<u32> {
        if self.count == 0 {
            return Some(id);
        }
        self.ranges[..self.count as usize]
            .iter()
            .find(|r| id >= r.guest && id - r.guest < r.count)
            .map(|r| r.host + (id - r.guest))
    }

    /// The guest id for host id `id` ([`OVERFLOW_ID`] if unmapped).
    pub fn guest_id(&self, id: u32) -> u32 {
        if self.count == 0 {
            return id;
        }
        self.ranges[..self.count as usize]
            .iter()
            .find(|r| id >= r.host && id - r.host < r.count)
            .map_or(OVERFLOW_ID, |r| r.guest + (id - r.host))
    }
}

/// `/dev/covmm`: exports are made by the VM's owner (the VMM's uid, or
/// `CAP_SYS_ADMIN`).
///
/// [`HostHlfsExport::flags`]: the export is read-only.
pub const EXPORT_RO: u32 = 1;
/// Size of an export tag field, NUL-padded.
pub const TAG_LEN: usize = TAG_MAX + 1;
/// Longest host path of an export.
pub const EXPORT_PATH_MAX: usize = 4095;
/// Bytes of host path kept in an [`HostHlfsExportInfo`] (longer ones are cut).
pub const INFO_PATH_LEN: usize = 256;

/// Argument of [`HOST_IOC_HLFS_EXPORT`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostHlfsExport {
    /// The VM, by its VMM's pid.
    pub vm_pid: i32,
    /// `EXPORT_*` flags.
    pub flags: u32,
    /// The tag the guest mounts, NUL-padded.
    pub tag: [u8; TAG_LEN],
    /// User address of the host directory's absolute path.
    pub path: u64,
    /// Its length in bytes (no NUL), at most [`EXPORT_PATH_MAX`].
    pub path_len: u32,
    /// Explicit padding; zero.
    pub pad: u32,
    /// Guest to host uids (empty: the identity).
    pub uids: IdMap,
    /// Guest to host gids.
    pub gids: IdMap,
}

/// Argument of [`HOST_IOC_HLFS_UNEXPORT`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostHlfsUnexport {
    pub vm_pid: i32,
    /// Explicit padding; zero.
    pub pad: u32,
    pub tag: [u8; TAG_LEN],
}

/// One export in [`HOST_IOC_HLFS_LIST`].
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostHlfsExportInfo {
    pub tag: [u8; TAG_LEN],
    /// The host path, NUL-padded (cut at [`INFO_PATH_LEN`] - 1 bytes).
    pub path: [u8; INFO_PATH_LEN],
    /// `EXPORT_*` flags.
    pub flags: u32,
    /// Guest mounts of it.
    pub mounts: u32,
    /// Node handles they hold.
    pub nodes: u64,
    /// Files they have open.
    pub files: u64,
}

/// Argument of [`HOST_IOC_HLFS_LIST`].
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HostHlfsList {
    pub vm_pid: i32,
    /// Entries the array at `entries` holds.
    pub capacity: u32,
    /// User address of `capacity` [`HostHlfsExportInfo`].
    pub entries: u64,
    /// Out: the VM's exports (may exceed `capacity`).
    pub count: u32,
    /// Explicit padding; zero.
    pub pad: u32,
}

/// Exports a host directory to a VM. See [`HostHlfsExport`].
pub const HOST_IOC_HLFS_EXPORT: u32 = super::iow::<HostHlfsExport>(super::HOST_IOC_MAGIC, 0x30);
/// Withdraws an export. See [`HostHlfsUnexport`].
pub const HOST_IOC_HLFS_UNEXPORT: u32 = super::iow::<HostHlfsUnexport>(super::HOST_IOC_MAGIC, 0x31);
/// Lists a VM's exports. See [`HostHlfsList`].
pub const HOST_IOC_HLFS_LIST: u32 = super::iowr::<HostHlfsList>(super::HOST_IOC_MAGIC, 0x32);

/// The tag in a NUL-padded field, if it is one.
pub fn tag_of(field: &[u8; TAG_LEN]) -> Option<&[u8]> {
    let end = field.iter().position(|&c| c == 0)?;
    let tag = &field[..end];
    (valid_tag(tag) && field[end..].iter().all(|&c| c == 0)).then_some(tag)
}

/// A tag as a NUL-padded field.
pub fn encode_tag(tag: &[u8]) -> Option<[u8; TAG_LEN]> {
    if !valid_tag(tag) {
        return None;
    }
    let mut out = [0u8; TAG_LEN];
    out[..tag.len()].copy_from_slice(tag);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        for raw in 1..=28 {
            assert_eq!(Op::from_raw(raw).map(|o| o as u32), Some(raw));
        }
        assert_eq!(Op::from_raw(0), None);
        assert_eq!(Op::from_raw(29), None);
    }

    fn head(ino: u64, next: u64, dtype: u8) -> Dirent {
        Dirent {
            ino,
            next,
            dtype,
            ..Dirent::default()
        }
    }

    #[test]
    fn dirents_round_trip_and_refuse_garbage() {
        let mut buf = [0u8; 128];
        let a = put_dirent(&mut buf, 0, &head(7, 1, 4), false, b"dir").unwrap();
        assert_eq!(a, 32);
        let b = put_dirent(&mut buf, a, &head(8, 2, 8), false, b"file.txt").unwrap();
        let mut it = dirents(&buf[..b], false);
        assert_eq!(
            it.next().map(|r| r.map(|r| (r.head.ino, r.name, r.at))),
            Some(Ok((7, &b"dir"[..], 0)))
        );
        let r = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        assert_eq!(
            (r.head.ino, r.head.next, r.head.dtype, r.name, r.plus.node),
            (8, 2, 8, &b"file.txt"[..], 0)
        );
        assert!(put_dirent(&mut buf, 120, &head(1, 1, 1), false, b"toolong").is_none());
        assert!(put_dirent(&mut buf, 0, &head(1, 1, 1), false, b"").is_none());
        // A record claiming a longer name than the buffer holds.
        assert_eq!(dirents(&buf[..b - 8], false).nth(1), Some(Err(())));
        let mut bad = buf;
        bad[DIRENT] = b'/';
        assert_eq!(dirents(&bad[..a], false).next(), Some(Err(())));
    }

    #[test]
    fn plus_records_carry_the_lookup() {
        let mut buf = [0xffu8; 512];
        let a = put_dirent(&mut buf, 0, &head(7, 0, 4), true, b"dir").unwrap();
        assert_eq!(a, dirent_size(3, true));
        assert_eq!(a % 8, 0);
        let b = put_dirent(&mut buf, a, &head(8, 0, 8), true, b"f").unwrap();
        set_next(&mut buf[..], 5);
        let plus = DirentPlus {
            node: 42,
            attr: HlfsAttr {
                ino: 8,
                size: 3,
                ..HlfsAttr::default()
            },
        };
        set_plus(&mut buf[a..], &plus);
        let mut it = dirents(&buf[..b], true).map(Result::unwrap);
        let recs = [it.next().unwrap(), it.next().unwrap()];
        assert!(it.next().is_none());
        assert_eq!(
            (recs[0].name, recs[0].head.next, recs[0].plus.node),
            (&b"dir"[..], 5, 0)
        );
        assert_eq!(
            (recs[1].name, recs[1].at, recs[1].plus),
            (&b"f"[..], a, plus)
        );
        // Read as plain records, the same bytes do not parse.
        assert!(dirents(&buf[..b], false).any(|r| r.is_err()));
        // A record cut inside its DirentPlus.
        assert_eq!(dirents(&buf[..DIRENT + 8], true).next(), Some(Err(())));
    }

    #[test]
    fn names_and_tags_are_checked() {
        assert!(valid_name(b"a") && valid_name(&[b'x'; 255]));
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0", &[b'x'; 256]] {
            assert!(!valid_name(bad));
        }
        assert!(valid_name(b"..."));
        assert!(valid_tag(b"share_1.x-y") && !valid_tag(b"") && !valid_tag(b"a b"));
        assert!(!valid_tag(&[b'a'; 64]));
    }

    #[test]
    fn id_maps_map_both_ways() {
        let identity = IdMap::default();
        assert!(identity.validate());
        assert_eq!((identity.host_id(5), identity.guest_id(5)), (Some(5), 5));
        let mut m = IdMap::default();
        m.ranges[0] = IdRange {
            guest: 0,
            host: 100000,
            count: 65536,
            pad: 0,
        };
        m.count = 1;
        assert!(m.validate());
        assert_eq!(m.host_id(1000), Some(101000));
        assert_eq!(m.guest_id(101000), 1000);
        assert_eq!(m.guest_id(0), OVERFLOW_ID);
        assert_eq!(m.host_id(70000), None);
        let mut overlap = m;
        overlap.ranges[1] = IdRange {
            guest: 65535,
            host: 0,
            count: 2,
            pad: 0,
        };
        overlap.count = 2;
        assert!(!overlap.validate());
        let mut wraps = IdMap::default();
        wraps.ranges[0] = IdRange {
            guest: u32::MAX,
            host: 0,
            count: 2,
            pad: 0,
        };
        wraps.count = 1;
        assert!(!wraps.validate());
        let empty = IdMap {
            count: 1,
            ..Default::default()
        };
        assert!(!empty.validate());
    }

    #[test]
    fn io_vectors_are_bounded() {
        let v = |addr, len| HlfsIov { addr, len };
        assert_eq!(check_iov(&[v(0x1000, 4096), v(0x9000, 100)]), Some(4196));
        assert_eq!(check_iov(&[]), Some(0));
        assert_eq!(check_iov(&[v(0, 0)]), None);
        assert_eq!(check_iov(&[v(u64::MAX, 2)]), None);
        assert_eq!(check_iov(&[v(0, IO_MAX), v(0, 1)]), None);
        assert_eq!(check_iov(&[v(0, 1); MAX_IOV + 1]), None);
    }

    #[test]
    fn tags_round_trip() {
        let f = encode_tag(b"share").unwrap();
        assert_eq!(tag_of(&f), Some(&b"share"[..]));
        let mut bad = f;
        bad[10] = b'x';
        assert_eq!(tag_of(&bad), None);
        assert_eq!(tag_of(&[b'a'; TAG_LEN]), None);
        assert!(encode_tag(b"a/b").is_none());
    }

    #[test]
    fn hlfs_structs_have_their_c_sizes() {
        use core::mem::size_of;
        assert_eq!(size_of::<HlfsTime>(), 16);
        assert_eq!(size_of::<HlfsAttr>(), 24 + 48 + 24);
        assert_eq!(size_of::<Dirent>(), 24);
        assert_eq!(size_of::<HlfsStatfs>(), 56);
        assert_eq!(size_of::<IdMap>(), 72);
        // 66 words: the testbed forges requests as lists of u32.
        assert_eq!(size_of::<HlfsReq>(), 264);
        assert_eq!(size_of::<HostHlfsExportInfo>(), 64 + 256 + 24);
    }
}
