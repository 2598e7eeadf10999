//! Lock-free, read-only access to a journal that another process may be appending to.
//!
//! [`SnapshotReader`] never takes the directory lock, never truncates or deletes anything, and
//! yields only records of complete, committed batches (a batch's last frame carries the commit
//! marker). A torn or still-being-written tail simply ends the current read; the next call
//! retries from the same place. Used by `cairn events tail` while the server runs.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::cipher::JournalKey;
use crate::error::{JournalError, Result};
use crate::format::{
    FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, decode_frame_header, frame_crc, parse_segment_file_name,
};
use crate::journal::check_key;
use crate::reader::Record;
use crate::segment::{read_full, read_segment_header};

/// A read-only cursor over the committed records of a journal directory.
#[derive(Debug)]
pub struct SnapshotReader {
    dir: PathBuf,
    /// Sequence number of the next record to return.
    next: u64,
    /// Segment being read: (base, path, offset of the next frame, seq of that frame).
    pos: Option<(u64, PathBuf, u64, u64)>,
    /// The key of a journal whose segments are sealed.
    key: Option<JournalKey>,
}

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list journal dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list journal dir", dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            out.push((base, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(b, _)| *b);
    Ok(out)
}

impl SnapshotReader {
    /// Opens `dir` for reading from `from_seq` (records before the oldest retained one are
    /// skipped). Sealed segments fail with [`JournalError::KeyRequired`]; see
    /// [`SnapshotReader::open_with_key`].
    pub fn open(dir: impl AsRef<Path>, from_seq: u64) -> Result<SnapshotReader> {
        Self::open_with_key(dir, from_seq, None)
    }

    /// [`SnapshotReader::open`] for a journal whose segments may be sealed under `key`
    /// (plaintext segments are read as they are).
    pub fn open_with_key(
        dir: impl AsRef<Path>,
        from_seq: u64,
        key: Option<JournalKey>,
    ) -> Result<SnapshotReader> {
        let dir = dir.as_ref().to_owned();
        fs::metadata(&dir).map_err(|e| JournalError::io("open journal dir", &dir, e))?;
        Ok(SnapshotReader {
            dir,
            next: from_seq,
            pos: None,
            key,
        })
    }

    /// Sequence number of the next record this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Reads up to `max` committed records from the current position; an empty result means
    /// nothing more is committed yet.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        while out.len() < max {
            if self.pos.is_none() {
                let segs = segments(&self.dir)?;
                // the segment containing `next`: the last one whose base <= next
                let Some(idx) = segs
                    .iter()
                    .rposition(|(b, _)| *b <= self.next)
                    .or(if segs.is_empty() { None } else { Some(0) })
                else {
                    return Ok(out);
                };
                let (base, path) = segs[idx].clone();
                self.next = self.next.max(base);
                self.pos = Some((base, path, SEGMENT_HEADER_LEN as u64, base));
            }
            let Some((base, path, offset, seq)) = self.pos.clone() else {
                break;
            };
            let (records, new_offset, new_seq) =
                read_committed(&path, base, offset, seq, max - out.len(), self.key.as_ref())?;
            let got = records.len();
            for r in records {
                if r.seq >= self.next {
                    self.next = r.seq + 1;
                    out.push(r);
                }
            }
            self.pos = Some((base, path, new_offset, new_seq));
            if got == 0 {
                // Nothing more here: move on if a later segment exists.
                let segs = segments(&self.dir)?;
                match segs.iter().find(|(b, _)| *b > base) {
                    Some((nb, np)) if *nb <= new_seq => {
                        self.pos = Some((*nb, np.clone(), SEGMENT_HEADER_LEN as u64, *nb));
                    }
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

/// Reads complete batches from `path` starting at frame `offset` (whose seq is `seq`).
/// Returns the records, and the offset/seq just past the last complete batch read.
fn read_committed(
    path: &Path,
    base: u64,
    offset: u64,
    seq: u64,
    max: usize,
    key: Option<&JournalKey>,
) -> Result<(Vec<Record>, u64, u64)> {
    let mut f = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
    let header = read_segment_header(path, &mut f)?;
    check_key(path, header.check, key)?;
    let cipher = header.check.and(key).map(|k| k.segment(base));
    if offset != SEGMENT_HEADER_LEN as u64 {
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| JournalError::io("seek segment", path, e))?;
    }
    let mut r = std::io::BufReader::with_capacity(256 * 1024, f);
    let mut out = Vec::new();
    let mut pending: Vec<Record> = Vec::new();
    let (mut off, mut s) = (offset, seq);
    let (mut committed_off, mut committed_seq) = (offset, seq);
    loop {
        let mut h = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut r, &mut h).map_err(|e| JournalError::io("read segment", path, e))?;
        if n < FRAME_HEADER_LEN {
            break;
        }
        let Ok(fh) = decode_frame_header(&h) else {
            break;
        };
        let mut payload = vec![0u8; fh.len as usize];
        let got = read_full(&mut r, &mut payload)
            .map_err(|e| JournalError::io("read segment", path, e))?;
        if got < payload.len() || frame_crc(fh.flags, fh.len, &payload) != fh.crc {
            break;
        }
        let payload = match &cipher {
            Some(c) => c
                .open(s, payload)
                .map_err(|_| JournalError::corrupt(path, off, "frame authentication failed"))?,
            None => payload,
        };
        off += FRAME_HEADER_LEN as u64 + u64::from(fh.len);
        pending.push(Record { seq: s, payload });
        s += 1;
        if fh.batch_end() {
            out.append(&mut pending);
            committed_off = off;
            committed_seq = s;
            if out.len() >= max {
                break;
            }
        }
    }
    Ok((out, committed_off, committed_seq))
}
