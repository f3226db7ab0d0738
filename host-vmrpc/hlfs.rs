// SPDX-License-Identifier: GPL-2.0

//! The hlfs server: guest file systems served from host directories.
//!
//! A VM's owner exports a host directory under a tag (`covmm export`,
//! [`HlfsVm::export`]); guest-hlfs mounts it by tag and makes one VMRPC
//! call per operation (the protocol is `tools/abi/src/hlfs.rs`). Every call
//! runs in the calling vCPU's thread with the export owner's credentials in
//! force ([`Creds::enter`]), so the guest holds exactly the host user's
//! rights on the export.
//!
//! Names are looked up one component at a time below a directory the guest
//! already holds, `.` and `..` are refused, and symbolic links are never
//! followed on the host (the guest's VFS follows them in its own
//! namespace): nothing outside the export can be named. A node that a host
//! rename moved out of the export is refused with `ESTALE`.
//!
//! Node handles stand for held host paths (a reference on the dentry, no open
//! file), counted as in FUSE: each reply that hands one out counts a lookup,
//! `FORGET` gives them back, and at zero the handle and its reference go.
//! Files are open only while the guest has them open. So a guest walking a
//! million files holds only what its inode cache holds, and no host file
//! descriptor at all.
//!
//! Reads and writes move data straight between the host page cache and the
//! guest's pages: the VFS copies to or from the guest memory's addresses in
//! the VMM process, which is the current process in a vCPU thread.
//!
//! Lock order: a VM's `exports` and `mounts` mutexes, then a mount's
//! `tables` mutex. No host VFS operation runs under any of them.

use kernel::{
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    str::CString,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, Mutex,
    },
};
use zerocopy::{FromZeros, IntoBytes};

use crate::abi::hlfs::{self as proto, HlfsAttr, HlfsIov, HlfsReq, HlfsTime, IdMap, Op};
use crate::kvm::hlfs::{AsOwner, Creds, HostFile, HostIattr, HostPath, HostStat};
use crate::kvm::OwnedProcess;
use crate::server::{CallContext, Dispatch, GuestIo, Server};

/// Node handles one mount may hold; beyond, lookups fail with `ENFILE`.
const MAX_NODES: usize = 1 << 22;
/// Open files one mount may hold; beyond, opens fail with `EMFILE`.
const MAX_FILES: usize = 1 << 16;
/// Exports one VM may have.
const MAX_EXPORTS: usize = 64;
/// Most bytes of one `READDIR` reply.
const READDIR_MAX: usize = 64 << 10;

/// The node handle of a mount's root.
const ROOT: u64 = 1;

/// A host directory a VM may mount.
pub(crate) struct Export {
    tag: KVec<u8>,
    /// The host path as the owner gave it, for listings.
    source: CString,
    root: HostPath,
    creds: Creds,
    read_only: bool,
    uids: IdMap,
    gids: IdMap,
    /// Set by unexport: its mounts fail with `ENODEV` from then on.
    revoked: Atomic<bool>,
}

/// What `covmm exports` shows of an export.
pub(crate) struct ExportInfo {
    pub(crate) tag: KVec<u8>,
    pub(crate) source: CString,
    pub(crate) read_only: bool,
    pub(crate) mounts: usize,
    pub(crate) nodes: usize,
    pub(crate) files: usize,
}

struct Node {
    path: HostPath,
    lookups: u64,
}

struct OpenFile {
    file: HostFile,
}

/// A mount's node and file handles.
///
/// # Invariants
///
/// `node_count` and `file_count` are the number of entries of `nodes` and
/// `files`: the limits are checked on every lookup and open, and counting
/// a tree of a million nodes each time made a walk quadratic.
struct Tables {
    nodes: RBTree<u64, Node>,
    node_count: usize,
    /// The handle of each held dentry, so a name looked up twice gets one.
    by_key: RBTree<usize, u64>,
    next_node: u64,
    files: RBTree<u64, Arc<OpenFile>>,
    file_count: usize,
    next_fh: u64,
}

/// One guest mount of an export.
#[pin_data]
pub(crate) struct Mount {
    export: Arc<Export>,
    #[pin]
    tables: Mutex<Tables>,
}

/// A VM's mounts, by handle.
struct Mounts {
    live: RBTree<u64, Arc<Mount>>,
    next: u64,
    /// Handles of mounts whose export was withdrawn, until the guest
    /// unmounts them: they get `ENODEV`, not `EBADF`, and hold nothing on
    /// the host.
    revoked: KVec<u64>,
}

/// A VM's exports and mounts.
#[pin_data]
pub(crate) struct HlfsVm {
    #[pin]
    exports: Mutex<KVec<Arc<Export>>>,
    #[pin]
    mounts: Mutex<Mounts>,
}

impl HlfsVm {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(HlfsVm {
            exports <- new_mutex!(KVec::new(), "covmm_hlfs_exports"),
            mounts <- new_mutex!(
                Mounts { live: RBTree::new(), next: 1, revoked: KVec::new() },
                "covmm_hlfs_mounts"
            ),
        })
    }

    /// Exports host directory `source` (absolute) under `tag`, resolved and
    /// later served with the credentials of the VMM `owner`.
    pub(crate) fn export(
        &self,
        owner: &OwnedProcess,
        tag: &[u8],
        source: &CStr,
        read_only: bool,
        uids: IdMap,
        gids: IdMap,
    ) -> Result {
        if !proto::valid_tag(tag) || !uids.validate() || !gids.validate() {
            return Err(EINVAL);
        }
        if source.to_bytes().first() != Some(&b'/') {
            return Err(EINVAL);
        }
        let creds = Creds::of(owner);
        let root = {
            let _as = creds.enter();
            HostPath::root(source)?
        };
        let mut t = KVec::new();
        t.extend_from_slice(tag, GFP_KERNEL)?;
        let export = Arc::new(
            Export {
                tag: t,
                source: CString::try_from(source)?,
                root,
                creds,
                read_only,
                uids,
                gids,
                revoked: Atomic::new(false),
            },
            GFP_KERNEL,
        )?;
        let mut exports = self.exports.lock();
        if exports.iter().any(|e| e.tag.as_slice() == tag) {
            return Err(EEXIST);
        }
        if exports.len() >= MAX_EXPORTS {
            return Err(ENOSPC);
        }
        exports.push(export, GFP_KERNEL)?;
        Ok(())
    }

    /// Withdraws export `tag`; its mounts fail with `ENODEV` from now on.
    pub(crate) fn unexport(&self, tag: &[u8]) -> Result {
        let gone = {
            let mut exports = self.exports.lock();
            let at = exports
                .iter()
                .position(|e| e.tag.as_slice() == tag)
                .ok_or(ENOENT)?;
            exports.remove(at).map_err(|_| ENOENT)?
        };
        gone.revoked.store(true, Relaxed);
        // Its mounts' handles go too: the guest can do nothing more there.
        let mut dropped = KVec::new();
        {
            let mut mounts = self.mounts.lock();
            let Mounts { live, revoked, .. } = &mut *mounts;
            let mut cursor = live.cursor_front_mut();
            while let Some(c) = cursor {
                if Arc::ptr_eq(&c.current().1.export, &gone) {
                    // Without room to remember it, the handle gets EBADF.
                    let _ = revoked.push(*c.current().0, GFP_KERNEL);
                    let (next, node) = c.remove_current();
                    dropped.push(node, GFP_KERNEL).ok();
                    cursor = next;
                } else {
                    cursor = c.move_next();
                }
            }
        }
        drop(dropped);
        Ok(())
    }

    /// The VM's exports.
    pub(crate) fn list(&self) -> Result<KVec<ExportInfo>> {
        let exports: KVec<Arc<Export>> = {
            let e = self.exports.lock();
            let mut v = KVec::with_capacity(e.len(), GFP_KERNEL)?;
            for x in e.iter() {
                v.push(x.clone(), GFP_KERNEL)?;
            }
            v
        };
        let mut out = KVec::with_capacity(exports.len(), GFP_KERNEL)?;
        for e in exports.iter() {
            let (mut mounts, mut nodes, mut files) = (0, 0, 0);
            for m in self.mounts.lock().live.values() {
                if Arc::ptr_eq(&m.export, e) {
                    let t = m.tables.lock();
                    mounts += 1;
                    nodes += t.node_count;
                    files += t.file_count;
                }
            }
            let mut tag = KVec::new();
            tag.extend_from_slice(&e.tag, GFP_KERNEL)?;
            out.push(
                ExportInfo {
                    tag,
                    source: CString::try_from(&*e.source)?,
                    read_only: e.read_only,
                    mounts,
                    nodes,
                    files,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(out)
    }

    fn mount(&self, handle: u64) -> Result<Arc<Mount>> {
        let mount = {
            let mounts = self.mounts.lock();
            match mounts.live.get(&handle) {
                Some(m) => m.clone(),
                None if mounts.revoked.contains(&handle) => return Err(ENODEV),
                None => return Err(EBADF),
            }
        };
        if mount.export.revoked.load(Relaxed) {
            return Err(ENODEV);
        }
        Ok(mount)
    }

    fn do_mount(&self, tag: &[u8]) -> Result<(u64, Arc<Mount>)> {
        let export = self
            .exports
            .lock()
            .iter()
            .find(|e| e.tag.as_slice() == tag)
            .cloned()
            .ok_or(ENOENT)?;
        let mut nodes = RBTree::new();
        nodes.try_create_and_insert(
            ROOT,
            Node {
                path: export.root.clone(),
                lookups: 1,
            },
            GFP_KERNEL,
        )?;
        let mut by_key = RBTree::new();
        by_key.try_create_and_insert(export.root.key(), ROOT, GFP_KERNEL)?;
        let mount = Arc::pin_init(
            pin_init!(Mount {
                export,
                tables <- new_mutex!(
                    // INVARIANT: the root is the one node; no file is open.
                    Tables {
                        nodes,
                        node_count: 1,
                        by_key,
                        next_node: ROOT + 1,
                        files: RBTree::new(),
                        file_count: 0,
                        next_fh: 1,
                    },
                    "covmm_hlfs_tables"
                ),
            }),
            GFP_KERNEL,
        )?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut mounts = self.mounts.lock();
        let handle = mounts.next;
        mounts.next += 1;
        mounts.live.insert(node.into_node(handle, mount.clone()));
        Ok((handle, mount))
    }

    fn umount(&self, handle: u64) -> Result {
        let mut mounts = self.mounts.lock();
        if let Some(at) = mounts.revoked.iter().position(|&h| h == handle) {
            mounts.revoked.remove(at).map_err(|_| EBADF)?;
            return Ok(());
        }
        let gone = mounts.live.remove(&handle).ok_or(EBADF)?;
        drop(mounts);
        drop(gone);
        Ok(())
    }
}

impl Mount {
    /// The host path of node `node`, still inside the export.
    fn node(&self, node: u64) -> Result<HostPath> {
        let path = self
            .tables
            .lock()
            .nodes
            .get(&node)
            .map(|n| n.path.clone())
            .ok_or(ESTALE)?;
        if !path.beneath(&self.export.root) {
            return Err(ESTALE);
        }
        Ok(path)
    }

    /// Hands out a handle for `path`, counting one lookup.
    fn add_node(&self, path: HostPath) -> Result<u64> {
        let key = path.key();
        let node_res = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let key_res = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut t = self.tables.lock();
        if let Some(&id) = t.by_key.get(&key) {
            if let Some(n) = t.nodes.get_mut(&id) {
                n.lookups += 1;
                // The new reference is dropped after the guard.
                drop(t);
                drop(path);
                return Ok(id);
            }
        }
        if t.node_count >= MAX_NODES {
            return Err(ENFILE);
        }
        let id = t.next_node;
        t.next_node += 1;
        // INVARIANT: `id` is new, so the insertion adds an entry.
        t.nodes
            .insert(node_res.into_node(id, Node { path, lookups: 1 }));
        t.node_count += 1;
        t.by_key.insert(key_res.into_node(key, id));
        Ok(id)
    }

    /// Gives back `count` lookups of `node`.
    fn forget(&self, node: u64, count: u64) -> Result {
        let gone = {
            let mut t = self.tables.lock();
            let n = t.nodes.get_mut(&node).ok_or(ESTALE)?;
            n.lookups = n.lookups.saturating_sub(count);
            if n.lookups > 0 || node == ROOT {
                return Ok(());
            }
            let gone = t.nodes.remove(&node);
            if let Some(g) = &gone {
                // INVARIANT: an entry went.
                t.node_count -= 1;
                t.by_key.remove(&g.path.key());
            }
            gone
        };
        // The host reference goes after the guard.
        drop(gone);
        Ok(())
    }

    fn add_file(&self, file: HostFile) -> Result<u64> {
        let res = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let open = Arc::new(OpenFile { file }, GFP_KERNEL)?;
        let mut t = self.tables.lock();
        if t.file_count >= MAX_FILES {
            return Err(EMFILE);
        }
        let fh = t.next_fh;
        t.next_fh += 1;
        // INVARIANT: `fh` is new, so the insertion adds an entry.
        t.files.insert(res.into_node(fh, open));
        t.file_count += 1;
        Ok(fh)
    }

    fn file(&self, fh: u64) -> Result<Arc<OpenFile>> {
        let f = self.tables.lock().files.get(&fh).cloned().ok_or(EBADF)?;
        if !f.file.path().beneath(&self.export.root) {
            return Err(ESTALE);
        }
        Ok(f)
    }

    fn release(&self, fh: u64) -> Result {
        let gone = {
            let mut t = self.tables.lock();
            let gone = t.files.remove(&fh).ok_or(EBADF)?;
            // INVARIANT: an entry went.
            t.file_count -= 1;
            gone
        };
        // The host file is put after the guard.
        drop(gone);
        Ok(())
    }

    fn writable(&self) -> Result {
        if self.export.read_only {
            Err(EROFS)
        } else {
            Ok(())
        }
    }

    fn attr(&self, st: &HostStat) -> HlfsAttr {
        let t = |sec, nsec| HlfsTime { sec, nsec, pad: 0 };
        HlfsAttr {
            ino: st.ino,
            size: st.size,
            blocks: st.blocks,
            atime: t(st.atime_sec, st.atime_nsec),
            mtime: t(st.mtime_sec, st.mtime_nsec),
            ctime: t(st.ctime_sec, st.ctime_nsec),
            mode: st.mode,
            nlink: st.nlink,
            uid: self.export.uids.guest_id(st.uid),
            gid: self.export.gids.guest_id(st.gid),
            rdev: st.rdev,
            blksize: st.blksize,
        }
    }
}

/// One call's request, reply and the guest memory it exposes.
struct Call<'a, 'b> {
    ctx: &'a CallContext<'b>,
    req: HlfsReq,
}

impl Call<'_, '_> {
    /// `name` (or `name2`), checked as a directory entry name.
    fn name(&self, second: bool) -> Result<KVec<u8>> {
        let (gva, len) = if second {
            (self.req.name2, self.req.name2_len)
        } else {
            (self.req.name, self.req.name_len)
        };
        let len = len as usize;
        if len == 0 || len > proto::NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        self.ctx.copy_from_guest(&mut buf, gva)?;
        if !proto::valid_name(&buf) {
            return Err(EINVAL);
        }
        Ok(buf)
    }

    /// `name2` as a symbolic link target: any bytes but NUL.
    fn target(&self) -> Result<KVec<u8>> {
        let len = self.req.name2_len as usize;
        if len == 0 || len > proto::SYMLINK_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        self.ctx.copy_from_guest(&mut buf, self.req.name2)?;
        if buf.contains(&0) {
            return Err(EINVAL);
        }
        Ok(buf)
    }

    /// The data buffer, read from the guest (at most `max` bytes).
    fn data_in(&self, max: usize) -> Result<KVVec<u8>> {
        let len = usize::try_from(self.req.len).map_err(|_| E2BIG)?;
        if len > max {
            return Err(E2BIG);
        }
        let mut buf = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
        self.ctx.copy_from_guest(&mut buf, self.req.data)?;
        Ok(buf)
    }

    /// Room for a reply into the data buffer (at most `max` bytes).
    fn data_room(&self, max: usize) -> Result<KVVec<u8>> {
        let len = usize::try_from(self.req.len).unwrap_or(usize::MAX).min(max);
        Ok(KVVec::from_elem(0u8, len, GFP_KERNEL)?)
    }

    /// The guest memory of a `READ`/`WRITE` vector, resolved for I/O.
    fn io(&self, to_guest: bool) -> Result<GuestIo> {
        let n = self.req.iov_count as usize;
        if n == 0 || n > proto::MAX_IOV {
            return Err(EINVAL);
        }
        let mut iov = KVec::from_elem(HlfsIov::default(), n, GFP_KERNEL)?;
        self.ctx
            .copy_from_guest(iov.as_mut_slice().as_mut_bytes(), self.req.data)?;
        proto::check_iov(&iov).ok_or(EINVAL)?;
        let mut io = GuestIo::new();
        for v in iov.iter() {
            self.ctx.resolve_io(v.addr, v.len, to_guest, &mut io)?;
        }
        Ok(io)
    }
}

fn time_of(t: &HlfsTime) -> Result<(i64, u32)> {
    if t.nsec >= 1_000_000_000 {
        return Err(EINVAL);
    }
    Ok((t.sec, t.nsec))
}

/// Linux `ATTR_*` bits (include/linux/fs.h), for the glue's `notify_change()`.
mod attr_bits {
    pub(super) const MODE: u32 = 1;
    pub(super) const UID: u32 = 2;
    pub(super) const GID: u32 = 4;
    pub(super) const SIZE: u32 = 8;
    pub(super) const ATIME: u32 = 16;
    pub(super) const MTIME: u32 = 32;
    pub(super) const CTIME: u32 = 64;
    pub(super) const ATIME_SET: u32 = 128;
    pub(super) const MTIME_SET: u32 = 256;
}

/// Open flags a guest may pass through (`O_*` as on x86).
mod open_flags {
    pub(super) const ACCMODE: i32 = 0o3;
    pub(super) const CREAT: i32 = 0o100;
    pub(super) const EXCL: i32 = 0o200;
    pub(super) const TRUNC: i32 = 0o1000;
    pub(super) const APPEND: i32 = 0o2000;
    pub(super) const DSYNC: i32 = 0o10000;
    pub(super) const DIRECT: i32 = 0o40000;
    pub(super) const LARGEFILE: i32 = 0o100000;
    pub(super) const DIRECTORY: i32 = 0o200000;
    pub(super) const NOFOLLOW: i32 = 0o400000;
    pub(super) const NOATIME: i32 = 0o1000000;
    pub(super) const SYNC: i32 = 0o4010000;
    /// What the guest may ask for.
    pub(super) const ALLOWED: i32 =
        ACCMODE | TRUNC | APPEND | DSYNC | DIRECT | DIRECTORY | NOATIME | SYNC | EXCL;
    /// What the guest's VFS does itself: the host writes at explicit
    /// offsets (write-back, appends positioned by the guest) into its own
    /// page cache.
    pub(super) const GUEST_ONLY: i32 = EXCL | TRUNC | APPEND | DIRECT;
}

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;

/// Open flags for the host: the guest's allowed ones but those its VFS
/// handles itself ([`open_flags::GUEST_ONLY`]; `O_TRUNC` comes as a
/// `SETATTR` after the open), never following a final symbolic link.
fn host_flags(guest: u32) -> Result<i32> {
    let flags = guest as i32;
    if flags & !open_flags::ALLOWED != 0 {
        return Err(EINVAL);
    }
    Ok((flags & !open_flags::GUEST_ONLY) | open_flags::NOFOLLOW | open_flags::LARGEFILE)
}

fn writes(flags: i32) -> bool {
    flags & open_flags::ACCMODE != 0 || flags & open_flags::TRUNC != 0
}

/// The VMRPC dispatch of `covmm.hlfs`.
fn dispatch(ctx: &mut CallContext<'_>, func: u32, arg: u64, len: u64) -> Result<i64> {
    let op = Op::from_raw(func).ok_or(ENOSYS)?;
    if len != size_of::<HlfsReq>() as u64 {
        return Err(EINVAL);
    }
    let mut req = HlfsReq::new_zeroed();
    ctx.copy_from_guest(req.as_mut_bytes(), arg)?;
    let mut call = Call { ctx, req };
    let result = serve(&mut call, op)?;
    // Outputs go back in the same request block.
    ctx.copy_to_guest(arg, call.req.as_bytes())?;
    Ok(result)
}

fn serve(call: &mut Call<'_, '_>, op: Op) -> Result<i64> {
    let hlfs = &call.ctx.vm().hlfs;
    if op == Op::Mount {
        let len = call.req.name_len as usize;
        if len == 0 || len > proto::TAG_MAX {
            return Err(EINVAL);
        }
        let mut tag = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        call.ctx.copy_from_guest(&mut tag, call.req.name)?;
        let (handle, mount) = hlfs.do_mount(&tag)?;
        let st = {
            let _as = mount.export.creds.enter();
            mount.export.root.getattr(&_as)?
        };
        call.req.export = handle;
        call.req.out_node = ROOT;
        call.req.attr = mount.attr(&st);
        call.req.out_flags = if mount.export.read_only {
            proto::MOUNT_RO
        } else {
            0
        };
        return Ok(0);
    }
    if op == Op::Umount {
        hlfs.umount(call.req.export)?;
        return Ok(0);
    }
    let mount = hlfs.mount(call.req.export)?;
    let export = mount.export.clone();
    let _as = export.creds.enter();
    serve_mounted(call, op, &mount, &_as)
}

/// Looks up or creates something and replies with its handle and attributes.
fn reply_node(
    call: &mut Call<'_, '_>,
    mount: &Mount,
    as_: &AsOwner<'_>,
    path: HostPath,
) -> Result<i64> {
    let st = path.getattr(as_)?;
    call.req.attr = mount.attr(&st);
    call.req.out_node = mount.add_node(path)?;
    Ok(0)
}

fn serve_mounted(call: &mut Call<'_, '_>, op: Op, mount: &Mount, as_: &AsOwner<'_>) -> Result<i64> {
    let req = call.req;
    match op {
        Op::Mount | Op::Umount => Err(EINVAL),
        Op::Lookup => {
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            let path = dir.lookup(as_, &name)?;
            reply_node(call, mount, as_, path)
        }
        Op::Forget => mount.forget(req.node, req.len).map(|()| 0),
        Op::Getattr => {
            let st = mount.node(req.node)?.getattr(as_)?;
            call.req.attr = mount.attr(&st);
            Ok(0)
        }
        Op::Setattr => {
            mount.writable()?;
            let path = mount.node(req.node)?;
            let file = if req.fh != 0 {
                Some(mount.file(req.fh)?)
            } else {
                None
            };
            let a = setattr_of(mount, &req)?;
            path.setattr(as_, file.as_deref().map(|f| &f.file), &a)?;
            let st = path.getattr(as_)?;
            call.req.attr = mount.attr(&st);
            Ok(0)
        }
        Op::Readdir => readdir(call, mount, as_, false),
        Op::ReaddirPlus => readdir(call, mount, as_, true),
        Op::Open => {
            let path = mount.node(req.node)?;
            let flags = host_flags(req.flags)?;
            if writes(flags) {
                mount.writable()?;
            }
            // Only files and directories are opened on the host: opening a
            // FIFO there could block the vCPU; the guest runs its own.
            let st = path.getattr(as_)?;
            if !matches!(st.mode & S_IFMT, S_IFREG | S_IFDIR) {
                return Err(EINVAL);
            }
            let file = path.open(as_, flags)?;
            call.req.out_fh = mount.add_file(file)?;
            Ok(0)
        }
        Op::Release => mount.release(req.fh).map(|()| 0),
        Op::Read | Op::Write => {
            let write = op == Op::Write;
            if write {
                mount.writable()?;
            }
            let f = mount.file(req.fh)?;
            let offset = i64::try_from(req.offset).map_err(|_| EINVAL)?;
            let io = call.io(!write)?;
            let n = f.file.rw(as_, io.ranges(), offset, write)?;
            if !write {
                call.ctx.written(&io, n)?;
            } else {
                let st = f.file.path().getattr(as_)?;
                call.req.attr = mount.attr(&st);
            }
            Ok(n as i64)
        }
        Op::Create => {
            mount.writable()?;
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            let excl = if req.flags as i32 & open_flags::EXCL != 0 {
                open_flags::EXCL
            } else {
                0
            };
            let flags = host_flags(req.flags)? | open_flags::CREAT | excl;
            let mode = (req.mode & 0o7777) as u16;
            let (path, file) = dir.create(as_, &name, mode, flags)?;
            reply_node(call, mount, as_, path)?;
            call.req.out_fh = mount.add_file(file)?;
            Ok(0)
        }
        Op::Mknod => {
            mount.writable()?;
            if !matches!(req.mode & S_IFMT, S_IFIFO | S_IFSOCK) {
                return Err(EPERM);
            }
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            let path = dir.mknod(as_, &name, (req.mode & 0o177777) as u16, 0)?;
            reply_node(call, mount, as_, path)
        }
        Op::Mkdir => {
            mount.writable()?;
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            let path = dir.mkdir(as_, &name, (req.mode & 0o7777) as u16)?;
            reply_node(call, mount, as_, path)
        }
        Op::Unlink | Op::Rmdir => {
            mount.writable()?;
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            dir.remove(as_, &name, op == Op::Rmdir).map(|()| 0)
        }
        Op::Rename => {
            mount.writable()?;
            if req.flags & !(proto::RENAME_NOREPLACE | proto::RENAME_EXCHANGE) != 0
                || req.flags == proto::RENAME_NOREPLACE | proto::RENAME_EXCHANGE
            {
                return Err(EINVAL);
            }
            let from = mount.node(req.node)?;
            let to = mount.node(req.node2)?;
            let (old, new) = (call.name(false)?, call.name(true)?);
            from.rename(as_, &old, &to, &new, req.flags).map(|()| 0)
        }
        Op::Link => {
            mount.writable()?;
            let old = mount.node(req.node)?;
            let dir = mount.node(req.node2)?;
            let name = call.name(true)?;
            let path = dir.link(as_, &old, &name)?;
            reply_node(call, mount, as_, path)
        }
        Op::Symlink => {
            mount.writable()?;
            let dir = mount.node(req.node)?;
            let name = call.name(false)?;
            let target = call.target()?;
            let path = dir.symlink(as_, &name, &target)?;
            reply_node(call, mount, as_, path)
        }
        Op::Readlink => {
            let path = mount.node(req.node)?;
            let mut buf = KVec::from_elem(0u8, proto::SYMLINK_MAX + 1, GFP_KERNEL)?;
            let n = path.readlink(as_, &mut buf)?;
            if n > req.len as usize {
                return Err(ENAMETOOLONG);
            }
            call.ctx.copy_to_guest(req.data, &buf[..n])?;
            Ok(n as i64)
        }
        Op::Statfs => {
            let st = mount.node(req.node)?.statfs(as_)?;
            let out = proto::HlfsStatfs {
                blocks: st.blocks,
                bfree: st.bfree,
                bavail: st.bavail,
                files: st.files,
                ffree: st.ffree,
                bsize: st.bsize,
                frsize: st.frsize,
                namelen: st.namelen,
                pad: 0,
            };
            if req.len < size_of::<proto::HlfsStatfs>() as u64 {
                return Err(EINVAL);
            }
            call.ctx.copy_to_guest(req.data, out.as_bytes())?;
            Ok(0)
        }
        Op::Fsync => {
            let f = mount.file(req.fh)?;
            f.file
                .fsync(as_, req.flags & proto::FSYNC_DATA != 0)
                .map(|()| 0)
        }
        Op::Fallocate => {
            mount.writable()?;
            let f = mount.file(req.fh)?;
            let off = i64::try_from(req.offset).map_err(|_| EINVAL)?;
            let len = i64::try_from(req.len).map_err(|_| EINVAL)?;
            f.file.fallocate(as_, req.flags as i32, off, len)?;
            let st = f.file.path().getattr(as_)?;
            call.req.attr = mount.attr(&st);
            Ok(0)
        }
        Op::Getxattr | Op::Listxattr => {
            let path = mount.node(req.node)?;
            let mut buf = call.data_room(proto::XATTR_SIZE_MAX)?;
            let n = if op == Op::Getxattr {
                let name = xattr_name(call)?;
                path.getxattr(as_, &name, &mut buf)?
            } else {
                path.listxattr(as_, &mut buf)?
            };
            if !buf.is_empty() {
                call.ctx.copy_to_guest(req.data, &buf[..n.min(buf.len())])?;
            }
            Ok(n as i64)
        }
        Op::Setxattr => {
            mount.writable()?;
            let path = mount.node(req.node)?;
            let name = xattr_name(call)?;
            let value = call.data_in(proto::XATTR_SIZE_MAX)?;
            path.setxattr(as_, &name, &value, req.flags as i32)
                .map(|()| 0)
        }
        Op::Removexattr => {
            mount.writable()?;
            let path = mount.node(req.node)?;
            let name = xattr_name(call)?;
            path.removexattr(as_, &name).map(|()| 0)
        }
    }
}

fn xattr_name(call: &Call<'_, '_>) -> Result<KVec<u8>> {
    let len = call.req.name_len as usize;
    if len == 0 || len > proto::XATTR_NAME_MAX {
        return Err(ERANGE);
    }
    let mut name = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    call.ctx.copy_from_guest(&mut name, call.req.name)?;
    if name.contains(&0) {
        return Err(EINVAL);
    }
    Ok(name)
}

fn setattr_of(mount: &Mount, req: &HlfsReq) -> Result<HostIattr> {
    if req.valid & !proto::SET_ALL != 0 {
        return Err(EINVAL);
    }
    let mut a = HostIattr::default();
    if req.valid & proto::SET_MODE != 0 {
        a.valid |= attr_bits::MODE;
        a.mode = req.mode & 0o7777;
    }
    if req.valid & proto::SET_UID != 0 {
        a.valid |= attr_bits::UID;
        a.uid = mount.export.uids.host_id(req.uid).ok_or(EINVAL)?;
    }
    if req.valid & proto::SET_GID != 0 {
        a.valid |= attr_bits::GID;
        a.gid = mount.export.gids.host_id(req.gid).ok_or(EINVAL)?;
    }
    if req.valid & proto::SET_SIZE != 0 {
        a.valid |= attr_bits::SIZE;
        a.size = req.size;
        i64::try_from(req.size).map_err(|_| EFBIG)?;
    }
    if req.valid & (proto::SET_ATIME | proto::SET_ATIME_NOW) != 0 {
        a.valid |= attr_bits::ATIME;
        if req.valid & proto::SET_ATIME != 0 {
            a.valid |= attr_bits::ATIME_SET;
            (a.atime_sec, a.atime_nsec) = time_of(&req.atime)?;
        }
    }
    if req.valid & (proto::SET_MTIME | proto::SET_MTIME_NOW) != 0 {
        a.valid |= attr_bits::MTIME;
        if req.valid & proto::SET_MTIME != 0 {
            a.valid |= attr_bits::MTIME_SET;
            (a.mtime_sec, a.mtime_nsec) = time_of(&req.mtime)?;
        }
    }
    if a.valid != 0 {
        a.valid |= attr_bits::CTIME;
    }
    Ok(a)
}

/// `READDIR`: host entries from the cookie on, as [`proto::Dirent`] records,
/// each with the cookie that continues after it (as getdents64 does).
/// With `plus`, `READDIRPLUS`: the entries are listed first, then looked
/// up, because a lookup inside the listing would take the directory's lock
/// again under `iterate_dir()`.
fn readdir(call: &mut Call<'_, '_>, mount: &Mount, as_: &AsOwner<'_>, plus: bool) -> Result<i64> {
    let req = call.req;
    let f = mount.file(req.fh)?;
    let dir = if plus {
        Some(mount.node(req.node)?)
    } else {
        None
    };
    let pos = i64::try_from(req.offset).map_err(|_| EINVAL)?;
    let mut buf = call.data_room(READDIR_MAX)?;
    let mut used = 0usize;
    let mut last: Option<usize> = None;
    let mut full = false;
    let mut each = |name: &[u8], offset: i64, ino: u64, dtype: u8| -> bool {
        // The previous entry continues where this one starts.
        if let Some(at) = last {
            proto::set_next(&mut buf[at..], offset as u64);
        }
        let head = proto::Dirent {
            ino,
            dtype,
            ..proto::Dirent::default()
        };
        match proto::put_dirent(&mut buf, used, &head, plus, name) {
            Some(end) => {
                last = Some(used);
                used = end;
                true
            }
            None => {
                full = true;
                false
            }
        }
    };
    let end = f.file.readdir(as_, pos, &mut each)?;
    // The listing stopped at the cookie of the first entry not taken (or
    // its end): the last entry taken continues there.
    if let Some(at) = last {
        proto::set_next(&mut buf[at..], end as u64);
    }
    if used == 0 && full {
        return Err(EINVAL);
    }
    let mut counted = KVec::new();
    if let Some(dir) = dir {
        look_up_entries(mount, as_, &dir, &mut buf[..used], &mut counted)?;
    }
    if let Err(e) = call.ctx.copy_to_guest(req.data, &buf[..used]) {
        // The guest never saw the lookups counted for it.
        for node in counted {
            let _ = mount.forget(node, 1);
        }
        return Err(e);
    }
    Ok(used as i64)
}

/// Fills in the [`proto::DirentPlus`] of each record in `recs` with a
/// lookup of its name in `dir`, and lists in `counted` the nodes counted.
/// An entry that cannot be looked up (`.`, `..`, one removed since, the
/// node table full) keeps node 0, which the guest takes as "no lookup".
fn look_up_entries(
    mount: &Mount,
    as_: &AsOwner<'_>,
    dir: &HostPath,
    recs: &mut [u8],
    counted: &mut KVec<u64>,
) -> Result {
    let mut found = KVec::new();
    for rec in proto::dirents(recs, true) {
        // The records were written just above.
        let rec = rec.map_err(|()| EIO)?;
        if !proto::valid_name(rec.name) {
            continue;
        }
        let Ok(path) = dir.lookup(as_, rec.name) else {
            continue;
        };
        let Ok(st) = path.getattr(as_) else {
            continue;
        };
        found.push((rec.at, mount.attr(&st), path), GFP_KERNEL)?;
    }
    counted.reserve(found.len(), GFP_KERNEL)?;
    for (at, attr, path) in found {
        let Ok(node) = mount.add_node(path) else {
            continue;
        };
        // Reserved above.
        let _ = counted.push_within_capacity(node);
        proto::set_plus(&mut recs[at..], &proto::DirentPlus { node, attr });
    }
    Ok(())
}

/// The `covmm.hlfs` server, to be registered once.
pub(crate) fn server() -> Result<Arc<Server>> {
    Server::new(proto::SERVER, proto::VERSION, Dispatch::Native(dispatch))
}
