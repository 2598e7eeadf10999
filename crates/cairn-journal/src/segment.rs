//! Segment files: listing, creation, recovery scan.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{
    FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame_header,
    decode_segment_header, encode_header, frame_hasher, parse_segment_file_name, segment_file_name,
};

/// What a recovery scan of one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    /// Records in complete (committed) batches.
    pub(crate) records: u64,
    /// Byte offset just past the last complete batch (at least the header length).
    pub(crate) committed_len: u64,
    /// Length of the file when scanned.
    pub(crate) file_len: u64,
    /// Intact frames after the last complete batch (a batch without its commit marker).
    pub(crate) dropped_records: u64,
    /// Where and why the scan stopped before the end of the file, if it did.
    pub(crate) defect: Option<(u64, &'static str)>,
}

/// Reads until `buf` is full or end of file; returns the number of bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads and checks the header of the segment at `path`.
pub(crate) fn read_segment_header(path: &Path, file: &mut impl Read) -> Result<SegmentHeader> {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    let n =
        read_full(file, &mut h).map_err(|e| JournalError::io("read segment header", path, e))?;
    if n < SEGMENT_HEADER_LEN {
        return Err(JournalError::corrupt(
            path,
            n as u64,
            "short segment header",
        ));
    }
    decode_segment_header(&h).map_err(|reason| JournalError::corrupt(path, 0, reason))
}

/// Scans every frame of a segment, verifying magic, flags and CRCs, and finds the end of the
/// last complete batch. The header must already have been checked by the caller.
pub(crate) fn scan_segment(path: &Path) -> Result<SegmentScan> {
    let file = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| JournalError::io("stat segment", path, e))?
        .len();
    let mut r = BufReader::with_capacity(256 * 1024, file);
    read_segment_header(path, &mut r)?;
    let io_err = |e| JournalError::io("read segment", path, e);
    let mut offset = SEGMENT_HEADER_LEN as u64;
    let mut scan = SegmentScan {
        records: 0,
        committed_len: offset,
        file_len,
        dropped_records: 0,
        defect: None,
    };
    let mut pending = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut h = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut r, &mut h).map_err(io_err)?;
        if n == 0 {
            break;
        }
        if n < FRAME_HEADER_LEN {
            scan.defect = Some((offset, "torn frame header"));
            break;
        }
        let fh = match decode_frame_header(&h) {
            Ok(fh) => fh,
            Err(reason) => {
                scan.defect = Some((offset, reason));
                break;
            }
        };
        let remaining = file_len.saturating_sub(offset + FRAME_HEADER_LEN as u64);
        if u64::from(fh.len) > remaining {
            scan.defect = Some((offset, "torn frame payload"));
            break;
        }
        let mut hasher = frame_hasher(fh.flags, fh.len);
        let mut left = fh.len as usize;
        while left > 0 {
            let take = left.min(chunk.len());
            let got = read_full(&mut r, &mut chunk[..take]).map_err(io_err)?;
            if got < take {
                // The file shrank under us; treat like a torn payload.
                break;
            }
            hasher.update(&chunk[..take]);
            left -= take;
        }
        if left > 0 {
            scan.defect = Some((offset, "torn frame payload"));
            break;
        }
        if hasher.finalize() != fh.crc {
            scan.defect = Some((offset, "frame crc mismatch"));
            break;
        }
        offset += FRAME_HEADER_LEN as u64 + u64::from(fh.len);
        pending += 1;
        if fh.batch_end() {
            scan.records += pending;
            pending = 0;
            scan.committed_len = offset;
        }
    }
    scan.dropped_records = pending;
    Ok(scan)
}

/// Lists the segment files in `dir`, sorted by base sequence number, removing leftover
/// temporary segment files from an interrupted roll.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list journal dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list journal dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_segment_file_name(name) {
            out.push((base, entry.path()));
        } else if is_temporary_segment(name) {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| JournalError::io("remove temp segment", p, e))?;
        }
    }
    out.sort_unstable_by_key(|(b, _)| *b);
    Ok(out)
}

/// Whether `name` is a segment creation a crash interrupted: `.<base>.seg.tmp-<pid>` (made
/// by [`cairn_core::fs::write_atomic_with`]) or `<base>.seg.tmp` (made by earlier releases).
fn is_temporary_segment(name: &str) -> bool {
    name.ends_with(".seg.tmp") || (name.starts_with('.') && name.contains(".seg.tmp-"))
}

/// fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    cairn_core::fs::sync_dir(dir).map_err(|e| JournalError::io("fsync directory", dir, e))
}

/// Creates the segment starting at `base` atomically ([`cairn_core::fs::write_atomic_with`]:
/// header written to a temporary file, synced, renamed, directory synced) and returns it opened for appending. With `check` (the
/// journal key's check value) the segment is a sealed, version-2 one. An existing segment
/// of the same name is replaced.
pub(crate) fn create_segment(
    dir: &Path,
    base: u64,
    check: Option<[u8; 4]>,
    sync: bool,
) -> Result<(PathBuf, File)> {
    let path = dir.join(segment_file_name(base));
    cairn_core::fs::write_atomic_with(&path, &encode_header(base, check), sync)
        .map_err(|e| JournalError::io("create segment", &path, e))?;
    let f = open_for_append(&path)?;
    Ok((path, f))
}

/// Opens an existing segment for appending.
pub(crate) fn open_for_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| JournalError::io("open segment for append", path, e))
}
