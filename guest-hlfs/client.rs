// SPDX-License-Identifier: GPL-2.0

//! The hlfs protocol client: one VMRPC call per operation to the host's
//! `covmm.hlfs` server (protocol in `tools/abi/src/hlfs.rs`).
//!
//! Each call sends an [`HlfsReq`] that the host writes its reply into, and
//! exposes to the host exactly the buffers the operation needs: names, a
//! data buffer, or the folios of a read or write. The transport itself (the
//! binding and the call) is `vfs::Rpc`, in the module's unsafe layer.

use kernel::prelude::*;

use crate::abi::hlfs::{self as proto, HlfsAttr, HlfsIov, HlfsReq, HlfsStatfs, Op};
use crate::vfs::{Rpc, RpcBuf};

/// Most pages one `READ` or `WRITE` carries: the VMRPC call's segments (at
/// most 256) must also cover the request and the vector.
pub(crate) const IO_PAGES: usize = 240;

/// Largest page-cache folio of an hlfs file (64 pages, 256 KiB), so that a
/// folio always fits in one `READ` or `WRITE` (and, physically contiguous,
/// takes one segment of it).
pub(crate) const MAX_FOLIO_ORDER: u32 = 6;
const _: () = assert!(1 << MAX_FOLIO_ORDER <= IO_PAGES);

/// What a node looked up or created came back as.
pub(crate) struct Entry {
    pub(crate) node: u64,
    pub(crate) attr: HlfsAttr,
}

/// One mounted export.
pub(crate) struct Client {
    rpc: Rpc,
    export: u64,
}

/// A piece of kernel memory for a read or write.
pub(crate) type Piece<'a> = &'a mut [u8];

impl Client {
    /// Binds to the host server and mounts export `tag`; returns the client,
    /// the root's node and attributes, and whether the export is read-only.
    pub(crate) fn mount(tag: &[u8]) -> Result<(Self, Entry, bool)> {
        let rpc = Rpc::bind(proto::SERVER, proto::VERSION)?;
        let mut req = HlfsReq::default();
        let t = RpcBuf::name(tag)?;
        t.point(&mut req.name, &mut req.name_len);
        rpc.call(Op::Mount, &mut req, &[t])?;
        let client = Self {
            rpc,
            export: req.export,
        };
        let root = Entry {
            node: req.out_node,
            attr: req.attr,
        };
        Ok((client, root, req.out_flags & proto::MOUNT_RO != 0))
    }

    fn req(&self, node: u64) -> HlfsReq {
        HlfsReq {
            export: self.export,
            node,
            ..HlfsReq::default()
        }
    }

    fn call(&self, op: Op, req: &mut HlfsReq, bufs: &[RpcBuf<'_>]) -> Result<i64> {
        self.rpc.call(op, req, bufs)
    }

    fn entry(&self, op: Op, mut req: HlfsReq, bufs: &[RpcBuf<'_>]) -> Result<Entry> {
        self.call(op, &mut req, bufs)?;
        Ok(Entry {
            node: req.out_node,
            attr: req.attr,
        })
    }

    /// Ends the mount on the host (its nodes and files go with it).
    pub(crate) fn umount(&self) -> Result {
        let mut req = self.req(0);
        self.call(Op::Umount, &mut req, &[]).map(|_| ())
    }

    pub(crate) fn lookup(&self, dir: u64, name: &[u8]) -> Result<Entry> {
        let mut req = self.req(dir);
        let n = RpcBuf::name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        self.entry(Op::Lookup, req, &[n])
    }

    /// Gives back `count` lookups of `node`.
    pub(crate) fn forget(&self, node: u64, count: u64) -> Result {
        let mut req = self.req(node);
        req.len = count;
        self.call(Op::Forget, &mut req, &[]).map(|_| ())
    }

    pub(crate) fn getattr(&self, node: u64) -> Result<HlfsAttr> {
        let mut req = self.req(node);
        self.call(Op::Getattr, &mut req, &[])?;
        Ok(req.attr)
    }

    /// `SETATTR` of `req`'s fields (`valid`, `mode`, ...); `fh` if open.
    pub(crate) fn setattr(&self, node: u64, fh: u64, mut req: HlfsReq) -> Result<HlfsAttr> {
        req.export = self.export;
        req.node = node;
        req.fh = fh;
        self.call(Op::Setattr, &mut req, &[])?;
        Ok(req.attr)
    }

    /// Opens `node` with open(2) flags; returns the host's file handle.
    pub(crate) fn open(&self, node: u64, flags: u32) -> Result<u64> {
        let mut req = self.req(node);
        req.flags = flags;
        self.call(Op::Open, &mut req, &[])?;
        Ok(req.out_fh)
    }

    pub(crate) fn release(&self, fh: u64) -> Result {
        let mut req = self.req(0);
        req.fh = fh;
        self.call(Op::Release, &mut req, &[]).map(|_| ())
    }

    /// Directory entries from cookie `pos` into `buf`; returns the bytes
    /// used (0 at the end). With `plus`, the node of the directory open as
    /// `fh`, the host also looks each entry up (`READDIRPLUS`).
    pub(crate) fn readdir(
        &self,
        fh: u64,
        plus: Option<u64>,
        pos: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let mut req = self.req(plus.unwrap_or(0));
        req.fh = fh;
        req.offset = pos;
        let b = RpcBuf::data_out(buf);
        b.point_data(&mut req.data, &mut req.len);
        let op = if plus.is_some() {
            Op::ReaddirPlus
        } else {
            Op::Readdir
        };
        let n = self.call(op, &mut req, &[b])?;
        Ok(n as usize)
    }

    /// Reads (or writes) at `offset` into (from) `pieces` in turn; returns
    /// the bytes moved and, for a write, the attributes after it.
    pub(crate) fn io(
        &self,
        fh: u64,
        offset: u64,
        pieces: &mut [Piece<'_>],
        write: bool,
    ) -> Result<(usize, HlfsAttr)> {
        let mut iov = KVec::with_capacity(pieces.len(), GFP_KERNEL)?;
        let mut bufs = KVec::with_capacity(pieces.len() + 1, GFP_KERNEL)?;
        for p in pieces.iter_mut() {
            let b = if write {
                RpcBuf::data_in(p)
            } else {
                RpcBuf::data_out(p)
            };
            iov.push(
                HlfsIov {
                    addr: b.addr(),
                    len: b.len() as u64,
                },
                GFP_KERNEL,
            )?;
            bufs.push(b, GFP_KERNEL)?;
        }
        let mut req = self.req(0);
        req.fh = fh;
        req.offset = offset;
        let v = RpcBuf::iov(&iov);
        v.point_data(&mut req.data, &mut req.len);
        req.iov_count = iov.len() as u32;
        bufs.push(v, GFP_KERNEL)?;
        let op = if write { Op::Write } else { Op::Read };
        let n = self.call(op, &mut req, &bufs)?;
        Ok((n as usize, req.attr))
    }

    /// Creates regular file `name` in `dir` and opens it with `flags`.
    pub(crate) fn create(
        &self,
        dir: u64,
        name: &[u8],
        mode: u32,
        flags: u32,
    ) -> Result<(Entry, u64)> {
        let mut req = self.req(dir);
        req.mode = mode;
        req.flags = flags;
        let n = RpcBuf::name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        self.call(Op::Create, &mut req, &[n])?;
        Ok((
            Entry {
                node: req.out_node,
                attr: req.attr,
            },
            req.out_fh,
        ))
    }

    /// `MKDIR` or `MKNOD` (a FIFO or socket) of `name` in `dir`.
    pub(crate) fn make(&self, op: Op, dir: u64, name: &[u8], mode: u32) -> Result<Entry> {
        let mut req = self.req(dir);
        req.mode = mode;
        let n = RpcBuf::name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        self.entry(op, req, &[n])
    }

    pub(crate) fn symlink(&self, dir: u64, name: &[u8], target: &[u8]) -> Result<Entry> {
        let mut req = self.req(dir);
        let n = RpcBuf::name(name)?;
        let t = RpcBuf::name(target)?;
        n.point(&mut req.name, &mut req.name_len);
        t.point(&mut req.name2, &mut req.name2_len);
        self.entry(Op::Symlink, req, &[n, t])
    }

    /// Links `node` as `name` in `dir`.
    pub(crate) fn link(&self, node: u64, dir: u64, name: &[u8]) -> Result<Entry> {
        let mut req = self.req(node);
        req.node2 = dir;
        let n = RpcBuf::name(name)?;
        n.point(&mut req.name2, &mut req.name2_len);
        self.entry(Op::Link, req, &[n])
    }

    /// `UNLINK` or `RMDIR` of `name` in `dir`.
    pub(crate) fn remove(&self, op: Op, dir: u64, name: &[u8]) -> Result {
        let mut req = self.req(dir);
        let n = RpcBuf::name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        self.call(op, &mut req, &[n]).map(|_| ())
    }

    pub(crate) fn rename(
        &self,
        dir: u64,
        name: &[u8],
        new_dir: u64,
        new_name: &[u8],
        flags: u32,
    ) -> Result {
        let mut req = self.req(dir);
        req.node2 = new_dir;
        req.flags = flags;
        let a = RpcBuf::name(name)?;
        let b = RpcBuf::name(new_name)?;
        a.point(&mut req.name, &mut req.name_len);
        b.point(&mut req.name2, &mut req.name2_len);
        self.call(Op::Rename, &mut req, &[a, b]).map(|_| ())
    }

    /// The link target of `node` into `buf`; returns its length.
    pub(crate) fn readlink(&self, node: u64, buf: &mut [u8]) -> Result<usize> {
        let mut req = self.req(node);
        let b = RpcBuf::data_out(buf);
        b.point_data(&mut req.data, &mut req.len);
        let n = self.call(Op::Readlink, &mut req, &[b])?;
        Ok(n as usize)
    }

    pub(crate) fn statfs(&self, node: u64) -> Result<HlfsStatfs> {
        let mut st = HlfsStatfs::default();
        let mut req = self.req(node);
        {
            let b = RpcBuf::data_out(zerocopy::IntoBytes::as_mut_bytes(&mut st));
            b.point_data(&mut req.data, &mut req.len);
            self.call(Op::Statfs, &mut req, &[b])?;
        }
        Ok(st)
    }

    pub(crate) fn fsync(&self, fh: u64, datasync: bool) -> Result {
        let mut req = self.req(0);
        req.fh = fh;
        req.flags = if datasync { proto::FSYNC_DATA } else { 0 };
        self.call(Op::Fsync, &mut req, &[]).map(|_| ())
    }

    pub(crate) fn fallocate(&self, fh: u64, mode: u32, offset: u64, len: u64) -> Result<HlfsAttr> {
        let mut req = self.req(0);
        req.fh = fh;
        req.flags = mode;
        req.offset = offset;
        req.len = len;
        self.call(Op::Fallocate, &mut req, &[])?;
        Ok(req.attr)
    }

    /// `GETXATTR` (with `name`) or `LISTXATTR` (without) into `buf`;
    /// returns the size (`buf` empty: only the size).
    pub(crate) fn xattr_get(
        &self,
        node: u64,
        name: Option<&[u8]>,
        buf: &mut [u8],
    ) -> Result<usize> {
        let mut req = self.req(node);
        let mut bufs = KVec::with_capacity(2, GFP_KERNEL)?;
        if let Some(name) = name {
            let n = RpcBuf::xattr_name(name)?;
            n.point(&mut req.name, &mut req.name_len);
            bufs.push(n, GFP_KERNEL)?;
        }
        let empty = buf.is_empty();
        if !empty {
            let b = RpcBuf::data_out(buf);
            b.point_data(&mut req.data, &mut req.len);
            bufs.push(b, GFP_KERNEL)?;
        }
        let op = if name.is_some() {
            Op::Getxattr
        } else {
            Op::Listxattr
        };
        let n = self.call(op, &mut req, &bufs)?;
        Ok(n as usize)
    }

    pub(crate) fn setxattr(&self, node: u64, name: &[u8], value: &[u8], flags: u32) -> Result {
        let mut req = self.req(node);
        req.flags = flags;
        let n = RpcBuf::xattr_name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        let mut bufs = KVec::with_capacity(2, GFP_KERNEL)?;
        bufs.push(n, GFP_KERNEL)?;
        if !value.is_empty() {
            let v = RpcBuf::data_in(value);
            v.point_data(&mut req.data, &mut req.len);
            bufs.push(v, GFP_KERNEL)?;
        }
        self.call(Op::Setxattr, &mut req, &bufs).map(|_| ())
    }

    pub(crate) fn removexattr(&self, node: u64, name: &[u8]) -> Result {
        let mut req = self.req(node);
        let n = RpcBuf::xattr_name(name)?;
        n.point(&mut req.name, &mut req.name_len);
        self.call(Op::Removexattr, &mut req, &[n]).map(|_| ())
    }
}
