//! Sequential readers over committed records.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crate::cipher::SegmentCipher;
use crate::error::{JournalError, Result};
use crate::format::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, decode_frame_header, frame_crc};
use crate::journal::{Shared, check_key};
use crate::segment::{read_full, read_segment_header};

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's sequence number.
    pub seq: u64,
    /// The bytes passed to `append`.
    pub payload: Vec<u8>,
}

struct OpenSegment {
    base: u64,
    path: PathBuf,
    /// Base of the following segment, once one exists.
    end: Option<u64>,
    file: BufReader<File>,
    /// Byte offset of the next frame.
    offset: u64,
    /// The segment's cipher when its payloads are sealed.
    cipher: Option<SegmentCipher>,
}

/// Reads committed records in sequence order, optionally waiting for new ones.
///
/// A reader never sees a record before its batch is committed (durable in
/// [`SyncMode::Always`](crate::SyncMode::Always)), and sees every committed record exactly once,
/// in order, while appends go on concurrently. Iterating (`Iterator`) yields the records
/// committed so far without waiting; [`Reader::next_batch`] waits for new ones.
pub struct Reader {
    shared: Arc<Shared>,
    next: u64,
    seg: Option<OpenSegment>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.next)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, from_seq: u64) -> Reader {
        Reader {
            shared,
            next: from_seq,
            seg: None,
        }
    }

    /// The sequence number of the next record this reader returns.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Returns up to `max` records, waiting up to `timeout` for at least one to be committed.
    /// An empty vector means the timeout passed with nothing new.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] for a record failing verification (the reader stays at that
    /// record), [`JournalError::Truncated`] if retention deleted the records it needs,
    /// [`JournalError::Io`].
    pub fn next_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        let limit = self.wait_committed(timeout);
        self.read_until(limit, max)
    }

    /// Returns up to `max` already-committed records without waiting.
    ///
    /// # Errors
    /// As [`Reader::next_batch`].
    pub fn try_next_batch(&mut self, max: usize) -> Result<Vec<Record>> {
        let limit = self.shared.lock_state().committed;
        self.read_until(limit, max)
    }

    /// Waits until a record at or after the position is committed or `timeout` passes, and
    /// returns the committed end.
    fn wait_committed(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.shared.lock_state();
        while st.committed <= self.next {
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d > now => d - now,
                Some(_) => break,
                None => Duration::from_secs(3600),
            };
            st = self
                .shared
                .commit_cv
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.committed
    }

    fn read_until(&mut self, limit: u64, max: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        if self.next >= limit || max == 0 {
            return Ok(out);
        }
        // Every segment holding records below `limit` was published no later than `limit`
        // itself, so one refresh of the open segment's end per call suffices.
        self.refresh_end();
        while self.next < limit && out.len() < max {
            out.push(self.read_one()?);
        }
        Ok(out)
    }

    fn refresh_end(&mut self) {
        if let Some(seg) = &mut self.seg
            && seg.end.is_none()
        {
            let st = self.shared.lock_state();
            seg.end = st
                .segments
                .iter()
                .find(|s| s.base > seg.base)
                .map(|s| s.base);
        }
    }

    /// Makes sure the open segment contains `self.next`, switching or opening as needed.
    fn ensure_segment(&mut self) -> Result<()> {
        if let Some(seg) = &self.seg
            && let Some(end) = seg.end
            && self.next >= end
        {
            let len = seg
                .file
                .get_ref()
                .metadata()
                .map_err(|e| JournalError::io("stat segment", &seg.path, e))?
                .len();
            if seg.offset != len {
                return Err(JournalError::corrupt(
                    &seg.path,
                    seg.offset,
                    "segment holds fewer or more records than its successor's base implies",
                ));
            }
            self.seg = None;
        }
        if self.seg.is_some() {
            return Ok(());
        }
        let (base, end, path, first_seq) = {
            let st = self.shared.lock_state();
            let first_seq = st.first_seq();
            let idx = st.segments.partition_point(|s| s.base <= self.next);
            if self.next < first_seq || idx == 0 {
                return Err(JournalError::Truncated {
                    seq: self.next,
                    first_seq,
                });
            }
            let s = &st.segments[idx - 1];
            let end = st.segments.get(idx).map(|n| n.base);
            (s.base, end, s.path.clone(), first_seq)
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JournalError::Truncated {
                    seq: self.next,
                    first_seq,
                });
            }
            Err(e) => return Err(JournalError::io("open segment", &path, e)),
        };
        let mut file = BufReader::with_capacity(128 * 1024, file);
        let header = read_segment_header(&path, &mut file)?;
        check_key(&path, header.check, self.shared.key())?;
        if header.base != base {
            return Err(JournalError::corrupt(
                &path,
                8,
                "segment header base does not match file name",
            ));
        }
        let mut seg = OpenSegment {
            base,
            path,
            end,
            file,
            offset: SEGMENT_HEADER_LEN as u64,
            cipher: header.check.and(self.shared.key()).map(|k| k.segment(base)),
        };
        // Skip to the wanted record (frames are verified structurally, payloads skipped).
        for _ in base..self.next {
            let (h, _) = read_header(&mut seg)?;
            seg.file
                .seek_relative(i64::from(h.len))
                .map_err(|e| JournalError::io("seek segment", &seg.path, e))?;
            seg.offset += FRAME_HEADER_LEN as u64 + u64::from(h.len);
        }
        self.seg = Some(seg);
        Ok(())
    }

    /// Reads the record at the position. On error the open segment is dropped so the next
    /// call re-opens it and retries the same record.
    fn read_one(&mut self) -> Result<Record> {
        let r = self.read_one_inner();
        if r.is_err() {
            self.seg = None;
        }
        r
    }

    fn read_one_inner(&mut self) -> Result<Record> {
        self.ensure_segment()?;
        let Some(seg) = self.seg.as_mut() else {
            return Err(JournalError::Truncated {
                seq: self.next,
                first_seq: self.next,
            });
        };
        let (h, at) = read_header(seg)?;
        let len = h.len as usize;
        let mut payload = Vec::with_capacity(len.min(1 << 20));
        let got = (&mut seg.file)
            .take(u64::from(h.len))
            .read_to_end(&mut payload)
            .map_err(|e| JournalError::io("read segment", &seg.path, e))?;
        if got < len {
            return Err(JournalError::corrupt(
                &seg.path,
                at,
                "unexpected end of segment",
            ));
        }
        if frame_crc(h.flags, h.len, &payload) != h.crc {
            return Err(JournalError::corrupt(&seg.path, at, "frame crc mismatch"));
        }
        let seq = self.next;
        let payload = match &seg.cipher {
            Some(c) => c
                .open(seq, payload)
                .map_err(|_| JournalError::corrupt(&seg.path, at, "frame authentication failed"))?,
            None => payload,
        };
        seg.offset = at + FRAME_HEADER_LEN as u64 + u64::from(h.len);
        self.next += 1;
        Ok(Record { seq, payload })
    }
}

/// Reads and decodes the frame header at the segment's offset; returns it and its offset.
fn read_header(seg: &mut OpenSegment) -> Result<(crate::format::FrameHeader, u64)> {
    let at = seg.offset;
    let mut b = [0u8; FRAME_HEADER_LEN];
    let n = read_full(&mut seg.file, &mut b)
        .map_err(|e| JournalError::io("read segment", &seg.path, e))?;
    if n < FRAME_HEADER_LEN {
        return Err(JournalError::corrupt(
            &seg.path,
            at,
            "unexpected end of segment",
        ));
    }
    let h =
        decode_frame_header(&b).map_err(|reason| JournalError::corrupt(&seg.path, at, reason))?;
    Ok((h, at))
}

impl Iterator for Reader {
    type Item = Result<Record>;

    /// The next committed record, or `None` when the reader has caught up.
    fn next(&mut self) -> Option<Result<Record>> {
        let limit = self.shared.lock_state().committed;
        if self.next >= limit {
            return None;
        }
        self.refresh_end();
        Some(self.read_one())
    }
}
