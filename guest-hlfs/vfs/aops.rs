// SPDX-License-Identifier: GPL-2.0

//! The page cache: read_folio and readahead (several folios per host call),
//! write_begin / write_end, and writepages, which sends dirty folios to the
//! host through a writable handle of the inode.

use super::*;

/// A locked folio's memory.
///
/// # Safety
///
/// `folio` is locked (or under writeback) and ours for `'a`.
pub(super) unsafe fn folio_bytes<'a>(folio: *mut bindings::folio) -> &'a mut [u8] {
    // SAFETY: per the function's contract; 64-bit kernels map all folios.
    unsafe {
        core::slice::from_raw_parts_mut(
            raw::hlfs_folio_address(folio).cast::<u8>(),
            raw::hlfs_folio_size(folio),
        )
    }
}

/// A host handle to read `inode` with: the file's, or a fresh one that
/// `OwnedFh` releases.
pub(super) struct ReadFh<'a> {
    pub(super) fs: &'a Fs,
    pub(super) fh: u64,
    pub(super) owned: bool,
}

impl Drop for ReadFh<'_> {
    fn drop(&mut self) {
        if self.owned {
            let _ = self.fs.client.release(self.fh);
        }
    }
}

/// # Safety
///
/// `file` is NULL or an open hlfs file; `inode` a live hlfs inode.
pub(super) unsafe fn read_fh<'a>(
    file: *const bindings::file,
    inode: *const bindings::inode,
) -> Result<ReadFh<'a>> {
    // SAFETY: per the function's contract.
    let fs = unsafe { fs_of_inode(inode) };
    // SAFETY: as above.
    if let Some(of) = (!file.is_null())
        // SAFETY: a non-null `file` is an open hlfs file.
        .then(|| unsafe { open_file(file) })
        .flatten()
    {
        if of.readable {
            return Ok(ReadFh {
                fs,
                fh: of.fh,
                owned: false,
            });
        }
    }
    // SAFETY: a live hlfs inode.
    let fh = fs.client.open(unsafe { hi(inode) }.node.load(Relaxed), 0)?;
    Ok(ReadFh {
        fs,
        fh,
        owned: true,
    })
}

/// Fills locked folios `folios` (consecutive, from `pos`) from the host,
/// zeroing what lies past the end of the file, and ends their reads.
///
/// # Safety
///
/// The folios are locked, consecutive, not uptodate, and ours to end.
pub(super) unsafe fn fill_folios(fh: &ReadFh<'_>, pos: i64, folios: &[*mut bindings::folio]) {
    let mut pieces: KVec<Piece<'_>> = KVec::new();
    for &f in folios {
        // SAFETY: per the function's contract.
        if pieces.push(unsafe { folio_bytes(f) }, GFP_KERNEL).is_err() {
            break;
        }
    }
    let ok = pieces.len() == folios.len();
    let got = if ok {
        fh.fs
            .client
            .io(fh.fh, pos as u64, &mut pieces, false)
            .map(|(n, _)| n)
    } else {
        Err(ENOMEM)
    };
    drop(pieces);
    let mut at = 0usize;
    for &f in folios {
        // SAFETY: per the function's contract.
        let size = unsafe { raw::hlfs_folio_size(f) };
        let success = match got {
            Ok(n) => {
                if n < at + size {
                    // Past the end of the file: zeroes.
                    let from = n.saturating_sub(at).min(size);
                    // SAFETY: the folio is locked.
                    unsafe { raw::hlfs_folio_zero_segment(f, from, size) };
                }
                true
            }
            Err(_) => false,
        };
        // SAFETY: marks uptodate (on success) and unlocks.
        unsafe { raw::hlfs_folio_end_read(f, success) };
        at += size;
    }
}

/// # Safety
///
/// Called by the VFS with a locked folio of an hlfs file.
pub(super) unsafe extern "C" fn read_folio(
    file: *mut bindings::file,
    folio: *mut bindings::folio,
) -> c_int {
    // SAFETY: per the function's contract.
    let inode = unsafe { raw::hlfs_mapping_host(raw::hlfs_folio_mapping(folio)) };
    // SAFETY: as above.
    let fh = match unsafe { read_fh(file, inode) } {
        Ok(fh) => fh,
        Err(e) => {
            // SAFETY: the folio is ours to end.
            unsafe { raw::hlfs_folio_end_read(folio, false) };
            return e.to_errno();
        }
    };
    // SAFETY: as above.
    unsafe { fill_folios(&fh, raw::hlfs_folio_pos(folio), &[folio]) };
    0
}

/// Reads ahead in batches of up to `IO_PAGES` pages per host call.
///
/// # Safety
///
/// Called by the VFS with a readahead request on an hlfs file.
pub(super) unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
    // SAFETY: per the function's contract.
    let (file, inode) = unsafe {
        (
            raw::hlfs_readahead_file(rac),
            raw::hlfs_mapping_host((*rac).mapping),
        )
    };
    // SAFETY: as above.
    let fh = unsafe { read_fh(file, inode) };
    let mut batch: KVec<*mut bindings::folio> = KVec::new();
    let mut pages = 0usize;
    let mut start = 0i64;
    loop {
        // SAFETY: each folio comes locked and referenced for us to fill.
        let folio = unsafe { raw::hlfs_readahead_folio(rac) };
        // SAFETY: a non-null folio is locked and ours.
        let more = (!folio.is_null()).then(|| unsafe { raw::hlfs_folio_size(folio) } / 4096);
        let flush = more.is_none_or(|n| pages + n > IO_PAGES);
        if flush && !batch.is_empty() {
            match &fh {
                // SAFETY: the batch's folios are locked and consecutive.
                Ok(fh) => unsafe { fill_folios(fh, start, &batch) },
                Err(_) => {
                    for &f in batch.iter() {
                        // SAFETY: ours to end.
                        unsafe { raw::hlfs_folio_end_read(f, false) };
                    }
                }
            }
            batch.clear();
            pages = 0;
        }
        if folio.is_null() {
            break;
        }
        if batch.is_empty() {
            // SAFETY: a locked folio.
            start = unsafe { raw::hlfs_folio_pos(folio) };
        }
        if batch.push(folio, GFP_KERNEL).is_err() {
            // SAFETY: ours to end.
            unsafe { raw::hlfs_folio_end_read(folio, false) };
            continue;
        }
        pages += more.unwrap_or(0);
    }
}

/// # Safety
///
/// Called by the VFS to write to `mapping` of an hlfs file.
pub(super) unsafe extern "C" fn write_begin(
    iocb: *const bindings::kiocb,
    mapping: *mut bindings::address_space,
    pos: i64,
    len: c_uint,
    foliop: *mut *mut bindings::folio,
    _fsdata: *mut *mut c_void,
) -> c_int {
    // SAFETY: per the function's contract.
    let folio = match from_err_ptr(unsafe { raw::hlfs_grab_folio(mapping, pos, len as usize) }) {
        Ok(f) => f,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: the folio is locked and referenced for us.
    unsafe {
        if !raw::hlfs_folio_test_uptodate(folio) {
            let fpos = raw::hlfs_folio_pos(folio);
            let size = raw::hlfs_folio_size(folio);
            let inode = raw::hlfs_mapping_host(mapping);
            let isize = raw::hlfs_i_size_read(inode);
            let whole = pos == fpos && len as usize == size;
            if whole || fpos >= isize {
                // Nothing to keep from the host: zeroes where not written.
                if !whole {
                    raw::hlfs_folio_zero_segment(folio, 0, size);
                    raw::hlfs_folio_mark_uptodate(folio);
                }
            } else {
                // A partial write: the rest of the folio comes from the host.
                let file = if iocb.is_null() {
                    ptr::null()
                } else {
                    (*iocb).ki_filp
                };
                match read_fh(file, inode) {
                    Ok(fh) => {
                        let mut piece = [folio_bytes(folio)];
                        let r = fh.fs.client.io(fh.fh, fpos as u64, &mut piece, false);
                        match r {
                            Ok((n, _)) => {
                                if n < size {
                                    raw::hlfs_folio_zero_segment(folio, n, size);
                                }
                                raw::hlfs_folio_mark_uptodate(folio);
                            }
                            Err(e) => {
                                raw::hlfs_folio_unlock(folio);
                                raw::hlfs_folio_put(folio);
                                return e.to_errno();
                            }
                        }
                    }
                    Err(e) => {
                        raw::hlfs_folio_unlock(folio);
                        raw::hlfs_folio_put(folio);
                        return e.to_errno();
                    }
                }
            }
        }
        *foliop = folio;
    }
    0
}

/// # Safety
///
/// Called by the VFS after copying into the folio from `write_begin`.
pub(super) unsafe extern "C" fn write_end(
    _iocb: *const bindings::kiocb,
    mapping: *mut bindings::address_space,
    pos: i64,
    len: c_uint,
    copied: c_uint,
    folio: *mut bindings::folio,
    _fsdata: *mut c_void,
) -> c_int {
    // SAFETY: per the function's contract: the folio is locked and ours.
    unsafe {
        let inode = raw::hlfs_mapping_host(mapping);
        if !raw::hlfs_folio_test_uptodate(folio) {
            if copied < len {
                // A short copy into a folio the host never filled: redo.
                raw::hlfs_folio_unlock(folio);
                raw::hlfs_folio_put(folio);
                return 0;
            }
            raw::hlfs_folio_mark_uptodate(folio);
        }
        let end = pos + i64::from(copied);
        if end > raw::hlfs_i_size_read(inode) {
            raw::hlfs_i_size_write(inode, end);
        }
        bindings::filemap_dirty_folio(mapping, folio);
        stamp(inode);
        raw::hlfs_folio_unlock(folio);
        raw::hlfs_folio_put(folio);
    }
    copied as c_int
}

/// Writes dirty folios back, consecutive ones together, up to `IO_PAGES`
/// pages per host call.
///
/// # Safety
///
/// Called by the VFS with an hlfs mapping.
pub(super) unsafe extern "C" fn writepages(
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    // SAFETY: per the function's contract.
    let inode = unsafe { raw::hlfs_mapping_host(mapping) };
    // SAFETY: a live inode.
    let (h, fs) = unsafe { (hi(inode), fs_of_inode(inode)) };
    let mut owned = 0u64;
    let fh = match h.writers.iter().map(|w| w.load(Relaxed)).find(|&f| f != 0) {
        Some(fh) => fh,
        None => match fs.client.open(h.node.load(Relaxed), 1 /* O_WRONLY */) {
            Ok(fh) => {
                owned = fh;
                fh
            }
            Err(e) => return e.to_errno(),
        },
    };
    let mut error: c_int = 0;
    let mut folio: *mut bindings::folio = ptr::null_mut();
    // Allocated up front: nothing allocates between folios.
    let mut batch: KVec<*mut bindings::folio> = match KVec::with_capacity(IO_PAGES, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    let mut start = 0i64;
    let mut next = 0i64;
    let mut pages = 0usize;
    loop {
        // SAFETY: the iterator hands out locked folios under writeback and
        // takes back the previous one.
        folio = unsafe { bindings::writeback_iter(mapping, wbc, folio, &mut error) };
        // SAFETY: a non-null folio is locked and ours.
        let fits = !folio.is_null()
            && unsafe {
                raw::hlfs_folio_pos(folio) == next
                    && pages + raw::hlfs_folio_size(folio) / 4096 <= IO_PAGES
            };
        if !batch.is_empty() && !fits {
            // The size now, not when writeback began: a write that extended
            // the file since dirtied its folio after setting the size, and
            // its bytes past the earlier size must go too.
            // SAFETY: a live inode.
            let isize = unsafe { raw::hlfs_i_size_read(inode) };
            // SAFETY: the batch's folios are under writeback and ours.
            let r = unsafe { write_folios(inode, fs, fh, start, isize, &batch) };
            if r != 0 {
                // SAFETY: records the error for fsync/close to report.
                unsafe { raw::hlfs_mapping_set_error(mapping, r) };
                error = r;
            }
            batch.clear();
            pages = 0;
        }
        if folio.is_null() {
            break;
        }
        // SAFETY: the folio is locked; write-back starts and it is unlocked,
        // as ->writepages must.
        unsafe {
            let fpos = raw::hlfs_folio_pos(folio);
            let size = raw::hlfs_folio_size(folio);
            if batch.is_empty() {
                start = fpos;
            }
            next = fpos + size as i64;
            bindings::__folio_start_writeback(folio, false);
            raw::hlfs_folio_unlock(folio);
            if batch.push_within_capacity(folio).is_err() {
                bindings::folio_end_writeback(folio);
                error = ENOMEM.to_errno();
                continue;
            }
            pages += size / 4096;
        }
    }
    if owned != 0 {
        let _ = fs.client.release(owned);
    }
    error
}

/// Sends folios of `inode` under writeback from `start` (no further than
/// `isize`) and ends their writeback.
///
/// # Safety
///
/// `inode` is live; the folios are its, consecutive, under writeback and
/// ours.
pub(super) unsafe fn write_folios(
    inode: *mut bindings::inode,
    fs: &Fs,
    fh: u64,
    start: i64,
    isize: i64,
    folios: &[*mut bindings::folio],
) -> c_int {
    let mut pieces: KVec<Piece<'_>> = KVec::new();
    let mut at = start;
    let mut failed = false;
    for &f in folios {
        // SAFETY: per the function's contract.
        let bytes = unsafe { folio_bytes(f) };
        let keep = (isize - at).clamp(0, bytes.len() as i64) as usize;
        at += bytes.len() as i64;
        if keep > 0 && pieces.push(&mut bytes[..keep], GFP_KERNEL).is_err() {
            failed = true;
            break;
        }
    }
    let r = if failed {
        Err(ENOMEM)
    } else if pieces.is_empty() {
        Ok(())
    } else {
        fs.client
            .io(fh, start as u64, &mut pieces, true)
            .map(|_| ())
    };
    drop(pieces);
    // The host's size and mtime moved: replies computed before must not
    // land once the folios stop counting as pending.
    // SAFETY: per the function's contract.
    unsafe { stamp(inode) };
    for &f in folios {
        // SAFETY: per the function's contract.
        unsafe { bindings::folio_end_writeback(f) };
    }
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

pub(super) static AOPS: bindings::address_space_operations = bindings::address_space_operations {
    read_folio: Some(read_folio),
    readahead: Some(readahead),
    writepages: Some(writepages),
    dirty_folio: Some(bindings::filemap_dirty_folio),
    write_begin: Some(write_begin),
    write_end: Some(write_end),
    migrate_folio: Some(bindings::filemap_migrate_folio),
    ..pin_init::zeroed()
};
