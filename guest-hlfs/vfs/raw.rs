// SPDX-License-Identifier: GPL-2.0

//! The C helpers of `vfs_glue.c`: inline functions and macros of the VFS
//! headers that `kernel::bindings` cannot reach, and `struct hlfs_times`.

use super::*;

/// `struct hlfs_times` (vfs_glue.h).
#[repr(C)]
pub(super) struct hlfs_times {
    pub(super) atime_sec: i64,
    pub(super) mtime_sec: i64,
    pub(super) ctime_sec: i64,
    pub(super) atime_nsec: u32,
    pub(super) mtime_nsec: u32,
    pub(super) ctime_nsec: u32,
}

#[allow(improper_ctypes)]
extern "C" {
    pub(super) fn hlfs_init_fs_context(fc: *mut bindings::fs_context) -> c_int;
    pub(super) fn hlfs_fc_error(fc: *mut bindings::fs_context, msg: *const c_char);
    pub(super) fn hlfs_fc_source(fc: *mut bindings::fs_context) -> *const c_char;
    pub(super) fn hlfs_fc_options(fc: *mut bindings::fs_context) -> *mut c_void;
    pub(super) fn hlfs_sb_set_xattr(sb: *mut bindings::super_block);
    pub(super) fn hlfs_i_size_read(inode: *const bindings::inode) -> i64;
    pub(super) fn hlfs_i_size_write(inode: *mut bindings::inode, size: i64);
    pub(super) fn hlfs_inode_set_times(inode: *mut bindings::inode, t: *const hlfs_times);
    pub(super) fn hlfs_inode_get_mtime(
        inode: *const bindings::inode,
        sec: *mut i64,
        nsec: *mut u32,
    );
    pub(super) fn hlfs_inode_set_ids(inode: *mut bindings::inode, uid: u32, gid: u32);
    pub(super) fn hlfs_iattr_ids(attr: *const bindings::iattr, uid: *mut u32, gid: *mut u32);
    pub(super) fn hlfs_d_inode(dentry: *const bindings::dentry) -> *mut bindings::inode;
    pub(super) fn hlfs_d_name(dentry: *const bindings::dentry, len: *mut u32) -> *const u8;
    pub(super) fn hlfs_file_inode(file: *const bindings::file) -> *mut bindings::inode;
    pub(super) fn hlfs_file_dentry(file: *const bindings::file) -> *mut bindings::dentry;
    pub(super) fn hlfs_d_in_lookup(dentry: *const bindings::dentry) -> bool;
    pub(super) fn hlfs_d_lookup_done(dentry: *mut bindings::dentry);
    pub(super) fn hlfs_dir_emit(
        ctx: *mut bindings::dir_context,
        name: *const c_char,
        len: c_int,
        ino: u64,
        dtype: c_uint,
    ) -> bool;
    pub(super) fn hlfs_set_link_done(done: *mut bindings::delayed_call, link: *mut c_char);
    pub(super) fn hlfs_folio_address(folio: *mut bindings::folio) -> *mut c_void;
    pub(super) fn hlfs_folio_pos(folio: *const bindings::folio) -> i64;
    pub(super) fn hlfs_folio_size(folio: *const bindings::folio) -> usize;
    pub(super) fn hlfs_folio_test_uptodate(folio: *const bindings::folio) -> bool;
    pub(super) fn hlfs_folio_mark_uptodate(folio: *mut bindings::folio);
    pub(super) fn hlfs_folio_zero_segment(folio: *mut bindings::folio, start: usize, end: usize);
    pub(super) fn hlfs_folio_unlock(folio: *mut bindings::folio);
    pub(super) fn hlfs_folio_put(folio: *mut bindings::folio);
    pub(super) fn hlfs_folio_end_read(folio: *mut bindings::folio, success: bool);
    pub(super) fn hlfs_grab_folio(
        mapping: *mut bindings::address_space,
        pos: i64,
        len: usize,
    ) -> *mut bindings::folio;
    pub(super) fn hlfs_mapping_set_max_order(mapping: *mut bindings::address_space, order: u32);
    pub(super) fn hlfs_bdi_set_pages(sb: *mut bindings::super_block, pages: c_ulong);
    pub(super) fn hlfs_readahead_folio(
        rac: *mut bindings::readahead_control,
    ) -> *mut bindings::folio;
    pub(super) fn hlfs_readahead_file(
        rac: *const bindings::readahead_control,
    ) -> *mut bindings::file;
    pub(super) fn hlfs_mapping_host(
        mapping: *const bindings::address_space,
    ) -> *mut bindings::inode;
    pub(super) fn hlfs_mapping_set_error(mapping: *mut bindings::address_space, err: c_int);
    pub(super) fn hlfs_mapping_dirty(mapping: *mut bindings::address_space) -> bool;
    pub(super) fn hlfs_iov_iter_count(iter: *const bindings::iov_iter) -> usize;
    pub(super) fn hlfs_copy_to_iter(
        addr: *const c_void,
        bytes: usize,
        i: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn hlfs_copy_from_iter(
        addr: *mut c_void,
        bytes: usize,
        i: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn hlfs_file_set_can_odirect(file: *mut bindings::file);
    pub(super) fn hlfs_jiffies() -> c_ulong;
    pub(super) fn hlfs_decode_dev(rdev: u32) -> u32;
    pub(super) fn hlfs_inode_lock(inode: *mut bindings::inode);
    pub(super) fn hlfs_inode_unlock(inode: *mut bindings::inode);
    pub(super) fn hlfs_inode_is_new(inode: *mut bindings::inode) -> bool;
    pub(super) fn hlfs_write_and_wait(mapping: *mut bindings::address_space) -> c_int;
    pub(super) fn hlfs_fill_statfs(
        buf: *mut bindings::kstatfs,
        st: *const proto::HlfsStatfs,
        magic: c_ulong,
    );
    pub(super) fn hlfs_folio_mapping(folio: *const bindings::folio)
        -> *mut bindings::address_space;
}
