//! The journal handle: open/recovery, group-commit appends, cursors, retention, stats.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::cipher::{JournalKey, SEALED_OVERHEAD, SegmentCipher};
use crate::error::{JournalError, Result};
use crate::format::{
    SEGMENT_HEADER_LEN, decode_cursor, encode_batch, encode_cursor, encode_frame_with, frame_len,
    is_valid_cursor_name,
};
use crate::reader::Reader;
use crate::segment::{
    create_segment, list_segments, open_for_append, read_segment_header, scan_segment, sync_dir,
};

/// When appends are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// `append` returns only after `fdatasync` of the written records (group-committed).
    #[default]
    Always,
    /// Never sync: records are visible to readers once written to the page cache. For tests and
    /// benchmarks only; a machine crash may lose acknowledged records.
    Never,
}

/// Tunables of a journal. Start from [`JournalOptions::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// A segment rolls when the next batch would take it past this size (default 64 MiB).
    /// A batch is never split across segments, so one larger batch makes a larger segment.
    pub segment_bytes: u64,
    /// Total size of all segments above which `append` fails with [`JournalError::Full`]
    /// (default 4 GiB). Must be at least twice `segment_bytes`.
    pub max_total_bytes: u64,
    /// Largest accepted payload (default 8 MiB).
    pub max_record_bytes: u32,
    /// Durability of appends and cursor commits (default [`SyncMode::Always`]).
    pub sync: SyncMode,
    /// Encrypt payloads at rest under this key (default none: plaintext, format version 1).
    /// With a key, new segments are sealed (version 2); plaintext segments written before
    /// stay readable ([`RecoveryReport::plaintext_segments`]) until retention deletes them.
    /// A sealed segment cannot be read without the key that sealed it.
    pub key: Option<JournalKey>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 * 1024 * 1024,
            max_total_bytes: 4 * 1024 * 1024 * 1024,
            max_record_bytes: 8 * 1024 * 1024,
            sync: SyncMode::Always,
            key: None,
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<()> {
        let err = |reason| Err(JournalError::InvalidOptions { reason });
        if self.segment_bytes < 1024 {
            return err("segment_bytes must be at least 1024");
        }
        if self.max_total_bytes < self.segment_bytes.saturating_mul(2) {
            return err("max_total_bytes must be at least twice segment_bytes");
        }
        if self.max_record_bytes == 0 {
            return err("max_record_bytes must be positive");
        }
        if self.key.is_some()
            && self.max_record_bytes as usize > u32::MAX as usize - SEALED_OVERHEAD
        {
            return err("max_record_bytes leaves no room for the seal of an encrypted journal");
        }
        Ok(())
    }

    fn syncs(&self) -> bool {
        self.sync == SyncMode::Always
    }
}

/// Acknowledgement of an append: the batch holds sequence numbers `first_seq..=last_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// Sequence number of the batch's first record.
    pub first_seq: u64,
    /// Sequence number of the batch's last record.
    pub last_seq: u64,
}

/// A cursor whose stored position was past the recovered end and was moved back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClampedCursor {
    /// Cursor name.
    pub name: String,
    /// Position found on disk.
    pub from: u64,
    /// Position after clamping (the journal's next sequence number).
    pub to: u64,
}

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// True when the directory held no segment and a new journal was created.
    pub created: bool,
    /// Number of segments after recovery.
    pub segments: usize,
    /// Oldest retained sequence number.
    pub first_seq: u64,
    /// Sequence number the next append will get.
    pub next_seq: u64,
    /// The segment whose tail was cut, if any.
    pub truncated_segment: Option<PathBuf>,
    /// File length the segment was cut to (end of its last complete batch).
    pub truncated_at: u64,
    /// Bytes removed from the tail.
    pub truncated_bytes: u64,
    /// Intact records removed because their batch had no commit marker.
    pub dropped_records: u64,
    /// First defect found in the tail (offset in the segment, reason), if any.
    pub defect: Option<(u64, &'static str)>,
    /// Cursors found past the recovered end (possible only after a crash in `SyncMode::Never`).
    pub clamped_cursors: Vec<ClampedCursor>,
    /// Retained segments whose payloads are plaintext (version 1) although a key was given:
    /// written before encryption was turned on. They are read as they are and go with
    /// retention; new records are always sealed.
    pub plaintext_segments: usize,
    /// True when a key was given and the last segment was plaintext, so a sealed segment was
    /// started for new records.
    pub started_sealed_segment: bool,
}

impl RecoveryReport {
    /// True when nothing had to be cut or clamped.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.truncated_bytes == 0 && self.clamped_cursors.is_empty()
    }
}

/// Position and lag of one cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorStats {
    /// Cursor name.
    pub name: String,
    /// Next sequence number the consumer will read.
    pub position: u64,
    /// Committed records the consumer has not yet confirmed (`next_seq - position`).
    pub lag: u64,
}

/// A snapshot of the journal's size and progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalStats {
    /// Bytes of all segment files (committed data and headers).
    pub total_bytes: u64,
    /// Bytes accepted but not yet committed.
    pub pending_bytes: u64,
    /// The configured limit.
    pub max_total_bytes: u64,
    /// Number of segment files.
    pub segment_count: usize,
    /// Oldest retained sequence number.
    pub first_seq: u64,
    /// One past the last committed sequence number.
    pub next_seq: u64,
    /// The last committed sequence number, if any record was ever committed and retained.
    pub last_committed_seq: Option<u64>,
    /// The retention floor, if set.
    pub retention_floor: Option<u64>,
    /// Every registered cursor, sorted by name.
    pub cursors: Vec<CursorStats>,
}

pub(crate) struct SegmentInfo {
    pub(crate) base: u64,
    pub(crate) len: u64,
    pub(crate) path: PathBuf,
}

struct Pending {
    first_seq: u64,
    count: u64,
    /// Bytes the batch takes on disk.
    size: u64,
    body: Body,
}

enum Body {
    /// Encoded frames, ready to write (plaintext journal).
    Framed(Vec<u8>),
    /// Payloads back to back with their lengths, sealed by the leader once the segment is
    /// known (the key depends on it).
    Plain { data: Vec<u8>, lens: Vec<u32> },
}

pub(crate) struct State {
    /// Sequence number the next accepted batch starts at.
    assigned: u64,
    /// Every record with a smaller sequence number is durable and readable.
    pub(crate) committed: u64,
    queue: Vec<Pending>,
    /// Encoded bytes accepted but not yet committed.
    reserved_bytes: u64,
    leader_active: bool,
    poisoned: Option<String>,
    /// Sorted by base; the last one is being appended to.
    pub(crate) segments: Vec<SegmentInfo>,
    total_bytes: u64,
    cursors: BTreeMap<String, u64>,
    floor: Option<u64>,
}

impl State {
    pub(crate) fn first_seq(&self) -> u64 {
        self.segments.first().map_or(self.committed, |s| s.base)
    }
}

struct Writer {
    file: File,
    path: PathBuf,
    base: u64,
    len: u64,
    buf: Vec<u8>,
    /// The cipher of the current segment (sealed journals only).
    cipher: Option<SegmentCipher>,
}

struct WriteOutcome {
    end_seq: u64,
    /// (base, path, length) of every segment written to, in order.
    touched: Vec<(u64, PathBuf, u64)>,
}

pub(crate) struct Shared {
    dir: PathBuf,
    opts: JournalOptions,
    state: Mutex<State>,
    append_cv: Condvar,
    pub(crate) commit_cv: Condvar,
    writer: Mutex<Writer>,
    cursor_io: Mutex<()>,
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn key(&self) -> Option<&JournalKey> {
        self.opts.key.as_ref()
    }

    /// Writes the batches in order (rolling segments as needed) and syncs once. Runs with
    /// `leader_active` set, so it is the only user of the writer.
    fn write_batches(&self, batches: &[Pending]) -> Result<WriteOutcome> {
        const DIRECT_WRITE: usize = 64 * 1024;
        let sync = self.opts.syncs();
        let mut w = lock(&self.writer);
        let w = &mut *w;
        let mut touched = Vec::new();
        let mut end_seq = 0;
        for b in batches {
            let len = b.size;
            if w.len > SEGMENT_HEADER_LEN as u64 && w.len + len > self.opts.segment_bytes {
                touched.push(flush_segment(w, sync)?);
                let check = self.opts.key.as_ref().map(JournalKey::check);
                let (path, file) = create_segment(&self.dir, b.first_seq, check, sync)?;
                w.file = file;
                w.path = path;
                w.base = b.first_seq;
                w.len = SEGMENT_HEADER_LEN as u64;
                w.cipher = self.opts.key.as_ref().map(|k| k.segment(b.first_seq));
            }
            match &b.body {
                Body::Framed(bytes) if bytes.len() >= DIRECT_WRITE => {
                    flush(w)?;
                    w.file
                        .write_all(bytes)
                        .map_err(|e| JournalError::io("write segment", &w.path, e))?;
                }
                Body::Framed(bytes) => w.buf.extend_from_slice(bytes),
                Body::Plain { data, lens } => {
                    seal_batch(w, b.first_seq, data, lens)?;
                    if w.buf.len() >= DIRECT_WRITE {
                        flush(w)?;
                    }
                }
            }
            w.len += len;
            end_seq = b.first_seq + b.count;
        }
        touched.push(flush_segment(w, sync)?);
        Ok(WriteOutcome { end_seq, touched })
    }

    /// Deletes segments that every cursor and the retention floor have passed.
    fn gc(&self) -> Result<usize> {
        let removed: Vec<PathBuf> = {
            let mut st = self.lock_state();
            let bound = st.cursors.values().copied().chain(st.floor).min();
            let Some(bound) = bound else { return Ok(0) };
            let mut n = 0;
            while n + 1 < st.segments.len() && st.segments[n + 1].base <= bound {
                n += 1;
            }
            let gone: Vec<SegmentInfo> = st.segments.drain(..n).collect();
            for s in &gone {
                st.total_bytes -= s.len;
            }
            gone.into_iter().map(|s| s.path).collect()
        };
        for p in &removed {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(JournalError::io("remove segment", p, e)),
            }
        }
        if !removed.is_empty() && self.opts.syncs() {
            sync_dir(&self.dir)?;
        }
        Ok(removed.len())
    }

    fn cursor_path(&self, name: &str) -> PathBuf {
        self.dir.join("cursors").join(format!("{name}.cursor"))
    }

    /// Durably stores a cursor ([`cairn_core::fs::write_atomic_with`]: temp file, fsync,
    /// rename, fsync directory; the flushes only in [`SyncMode::Always`]).
    fn write_cursor_file(&self, name: &str, position: u64) -> Result<()> {
        let path = self.cursor_path(name);
        cairn_core::fs::write_atomic_with(&path, &encode_cursor(position), self.opts.syncs())
            .map_err(|e| JournalError::io("write cursor", path, e))
    }
}

/// Seals the payloads of one batch (sequence numbers from `first_seq`) into frames in the
/// writer's buffer, under the current segment's key.
fn seal_batch(w: &mut Writer, first_seq: u64, data: &[u8], lens: &[u32]) -> Result<()> {
    let Some(cipher) = w.cipher.as_ref() else {
        return Err(JournalError::Crypto {
            reason: "sealed batch for a plaintext segment",
        });
    };
    let mut at = 0usize;
    for (i, &len) in lens.iter().enumerate() {
        let end = at + len as usize;
        let plain = data.get(at..end).unwrap_or_default();
        at = end;
        let seq = first_seq + i as u64;
        encode_frame_with(&mut w.buf, i + 1 == lens.len(), |out| {
            cipher.seal_into(seq, plain, out)
        })
        .map_err(|_| JournalError::Crypto {
            reason: "the random generator failed while sealing a record",
        })?;
    }
    Ok(())
}

/// Writes out the open segment's buffer and, when `sync`, makes it durable; returns the
/// segment as [`WriteOutcome::touched`] lists it.
fn flush_segment(w: &mut Writer, sync: bool) -> Result<(u64, PathBuf, u64)> {
    flush(w)?;
    if sync {
        w.file
            .sync_data()
            .map_err(|e| JournalError::io("fdatasync", &w.path, e))?;
    }
    Ok((w.base, w.path.clone(), w.len))
}

fn flush(w: &mut Writer) -> Result<()> {
    if !w.buf.is_empty() {
        w.file
            .write_all(&w.buf)
            .map_err(|e| JournalError::io("write segment", &w.path, e))?;
        w.buf.clear();
    }
    Ok(())
}

/// A durable, append-only, segmented journal. See the crate docs.
///
/// `Journal` is `Send + Sync`; share it with `Arc<Journal>`.
pub struct Journal {
    shared: Arc<Shared>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .field("options", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, recovering from any crash: the tail of
    /// the last segment is cut back to its last complete batch (see [`Journal::recovery`]).
    ///
    /// # Errors
    /// [`JournalError::Locked`] if another handle has the directory open,
    /// [`JournalError::Corrupt`] for a bad segment header, a header/name mismatch or an
    /// unreadable cursor file, [`JournalError::Io`], [`JournalError::InvalidOptions`].
    pub fn open(dir: impl AsRef<Path>, opts: JournalOptions) -> Result<Journal> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| JournalError::io("create journal dir", &dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| JournalError::io("open lock file", &lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(JournalError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => {
                return Err(JournalError::io("lock journal dir", lock_path, e));
            }
        }
        let cursors_dir = dir.join("cursors");
        fs::create_dir_all(&cursors_dir)
            .map_err(|e| JournalError::io("create cursors dir", &cursors_dir, e))?;

        let mut report = RecoveryReport::default();
        let mut segs = list_segments(&dir)?;
        let check = opts.key.as_ref().map(JournalKey::check);
        if segs.is_empty() {
            let (path, _) = create_segment(&dir, 0, check, true)?;
            segs.push((0, path));
            report.created = true;
        }
        let mut segments = Vec::with_capacity(segs.len());
        let mut last_sealed = false;
        for (base, path) in &segs {
            let mut f = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
            let header = read_segment_header(path, &mut f)?;
            if header.base != *base {
                return Err(JournalError::corrupt(
                    path,
                    8,
                    "segment header base does not match file name",
                ));
            }
            check_key(path, header.check, opts.key.as_ref())?;
            last_sealed = header.check.is_some();
            if header.check.is_none() && opts.key.is_some() {
                report.plaintext_segments += 1;
            }
            let len = f
                .metadata()
                .map_err(|e| JournalError::io("stat segment", path, e))?
                .len();
            segments.push(SegmentInfo {
                base: *base,
                len,
                path: path.clone(),
            });
        }
        let Some(last) = segments.last_mut() else {
            return Err(JournalError::InvalidOptions {
                reason: "journal has no segment",
            });
        };
        let scan = scan_segment(&last.path)?;
        if scan.committed_len < scan.file_len {
            let f = OpenOptions::new()
                .write(true)
                .open(&last.path)
                .map_err(|e| JournalError::io("open segment", &last.path, e))?;
            f.set_len(scan.committed_len)
                .and_then(|()| f.sync_all())
                .map_err(|e| JournalError::io("truncate segment", &last.path, e))?;
            report.truncated_segment = Some(last.path.clone());
            report.truncated_at = scan.committed_len;
            report.truncated_bytes = scan.file_len - scan.committed_len;
            report.dropped_records = scan.dropped_records;
            report.defect = scan.defect;
        }
        last.len = scan.committed_len;
        let next_seq = last.base + scan.records;
        if check.is_some() && !last_sealed {
            // New records are sealed, and a segment is sealed or not as a whole: start a
            // sealed segment (replacing the last one if it holds no record).
            let (path, _) = create_segment(&dir, next_seq, check, true)?;
            report.plaintext_segments -= usize::from(scan.records == 0);
            report.started_sealed_segment = true;
            if scan.records == 0 {
                last.path = path;
                last.len = SEGMENT_HEADER_LEN as u64;
            } else {
                segments.push(SegmentInfo {
                    base: next_seq,
                    len: SEGMENT_HEADER_LEN as u64,
                    path,
                });
            }
        }
        let Some(last) = segments.last() else {
            return Err(JournalError::InvalidOptions {
                reason: "journal has no segment",
            });
        };
        let writer = Writer {
            file: open_for_append(&last.path)?,
            path: last.path.clone(),
            base: last.base,
            len: last.len,
            buf: Vec::new(),
            cipher: opts.key.as_ref().map(|k| k.segment(last.base)),
        };

        let (cursors, clamped) = load_cursors(&cursors_dir, next_seq)?;
        report.clamped_cursors = clamped;
        report.segments = segments.len();
        report.first_seq = segments.first().map_or(next_seq, |s| s.base);
        report.next_seq = next_seq;
        let total_bytes = segments.iter().map(|s| s.len).sum();

        let shared = Arc::new(Shared {
            dir,
            opts,
            state: Mutex::new(State {
                assigned: next_seq,
                committed: next_seq,
                queue: Vec::new(),
                reserved_bytes: 0,
                leader_active: false,
                poisoned: None,
                segments,
                total_bytes,
                cursors,
                floor: None,
            }),
            append_cv: Condvar::new(),
            commit_cv: Condvar::new(),
            writer: Mutex::new(writer),
            cursor_io: Mutex::new(()),
            _lock: lock_file,
        });
        for c in &report.clamped_cursors {
            shared.write_cursor_file(&c.name, c.to)?;
        }
        Ok(Journal {
            shared,
            recovery: report,
        })
    }

    /// What recovery found when this handle was opened.
    #[must_use]
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The journal directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options this handle was opened with.
    #[must_use]
    pub fn options(&self) -> &JournalOptions {
        &self.shared.opts
    }

    /// Appends one batch atomically and returns once it is durable.
    ///
    /// The records get consecutive sequence numbers in slice order. Concurrent callers share
    /// writes and `fdatasync`s (group commit). After a crash either every record of the batch is
    /// recovered or none is. Batches are committed in sequence order: once a batch is
    /// acknowledged, every batch with smaller sequence numbers is durable too.
    ///
    /// # Errors
    /// [`JournalError::Full`] (class `Throttled`) without waiting when the journal is at its
    /// size limit after deleting consumed segments; [`JournalError::EmptyBatch`],
    /// [`JournalError::RecordTooLarge`], [`JournalError::BatchTooLarge`];
    /// [`JournalError::Io`] if the write or sync failed, after which the journal is poisoned and
    /// every later append fails with [`JournalError::Poisoned`] until it is reopened.
    pub fn append(&self, payloads: &[&[u8]]) -> Result<AppendAck> {
        if payloads.is_empty() {
            return Err(JournalError::EmptyBatch);
        }
        let sh = &*self.shared;
        let max = sh.opts.max_record_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > max as usize) {
            return Err(JournalError::RecordTooLarge { len: p.len(), max });
        }
        let seal = if sh.opts.key.is_some() {
            SEALED_OVERHEAD
        } else {
            0
        };
        let size: u64 = payloads.iter().map(|p| frame_len(p.len() + seal)).sum();
        let limit = sh.opts.max_total_bytes;
        if size + SEGMENT_HEADER_LEN as u64 > limit {
            return Err(JournalError::BatchTooLarge {
                len: size,
                max_total_bytes: limit,
            });
        }
        let body = if seal == 0 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            encode_batch(payloads, &mut bytes);
            Body::Framed(bytes)
        } else {
            Body::Plain {
                data: payloads.concat(),
                lens: payloads
                    .iter()
                    .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX))
                    .collect(),
            }
        };
        let count = payloads.len() as u64;

        let mut st = sh.lock_state();
        if let Some(reason) = &st.poisoned {
            return Err(JournalError::Poisoned {
                reason: reason.clone(),
            });
        }
        if st.total_bytes + st.reserved_bytes + size > limit {
            drop(st);
            sh.gc()?;
            st = sh.lock_state();
            let used = st.total_bytes + st.reserved_bytes;
            if used + size > limit {
                return Err(JournalError::Full {
                    used_bytes: used,
                    requested_bytes: size,
                    max_total_bytes: limit,
                });
            }
        }
        let first_seq = st.assigned;
        let end = first_seq + count;
        st.assigned = end;
        st.reserved_bytes += size;
        st.queue.push(Pending {
            first_seq,
            count,
            size,
            body,
        });
        loop {
            if st.committed >= end {
                return Ok(AppendAck {
                    first_seq,
                    last_seq: end - 1,
                });
            }
            if let Some(reason) = &st.poisoned {
                return Err(JournalError::Poisoned {
                    reason: reason.clone(),
                });
            }
            if st.leader_active {
                st = sh
                    .append_cv
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Become the leader: write and sync everything queued so far.
            st.leader_active = true;
            let batches = std::mem::take(&mut st.queue);
            drop(st);
            let outcome = sh.write_batches(&batches);
            let written: u64 = batches.iter().map(|b| b.size).sum();
            drop(batches);
            st = sh.lock_state();
            st.leader_active = false;
            st.reserved_bytes -= written;
            let result = match outcome {
                Ok(out) => {
                    for (base, path, len) in out.touched {
                        if let Some(seg) = st.segments.iter_mut().rev().find(|s| s.base == base) {
                            let old = seg.len;
                            seg.len = len;
                            st.total_bytes = st.total_bytes - old + len;
                        } else {
                            st.segments.push(SegmentInfo { base, len, path });
                            st.total_bytes += len;
                        }
                    }
                    debug_assert!(out.end_seq >= st.committed, "commits stay ordered");
                    st.committed = st.committed.max(out.end_seq);
                    Ok(())
                }
                Err(e) => {
                    st.poisoned = Some(e.to_string());
                    Err(e)
                }
            };
            sh.append_cv.notify_all();
            sh.commit_cv.notify_all();
            result?;
        }
    }

    /// One past the last committed sequence number (the next record's number once committed).
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.shared.lock_state().committed
    }

    /// The oldest retained sequence number.
    #[must_use]
    pub fn first_seq(&self) -> u64 {
        self.shared.lock_state().first_seq()
    }

    /// A reader positioned at `from_seq`, which must lie in `first_seq()..=next_seq()`.
    ///
    /// # Errors
    /// [`JournalError::Truncated`] if `from_seq` was deleted by retention,
    /// [`JournalError::SeqOutOfRange`] if it is past the committed end.
    pub fn reader(&self, from_seq: u64) -> Result<Reader> {
        let st = self.shared.lock_state();
        let first_seq = st.first_seq();
        if from_seq < first_seq {
            return Err(JournalError::Truncated {
                seq: from_seq,
                first_seq,
            });
        }
        if from_seq > st.committed {
            return Err(JournalError::SeqOutOfRange {
                seq: from_seq,
                first_seq,
                next_seq: st.committed,
            });
        }
        drop(st);
        Ok(Reader::new(Arc::clone(&self.shared), from_seq))
    }

    /// The committed position of cursor `name`: the next sequence number its consumer must
    /// process. An unknown cursor is registered (durably) at the oldest retained record, so
    /// retention keeps everything it has not yet confirmed.
    ///
    /// # Errors
    /// [`JournalError::InvalidCursorName`], [`JournalError::Io`].
    pub fn cursor(&self, name: &str) -> Result<u64> {
        check_name(name)?;
        let sh = &*self.shared;
        if let Some(&p) = sh.lock_state().cursors.get(name) {
            return Ok(p);
        }
        let _io = lock(&sh.cursor_io);
        let pos = {
            let mut st = sh.lock_state();
            if let Some(&p) = st.cursors.get(name) {
                return Ok(p);
            }
            // Registered in memory first so a concurrent gc cannot delete what it points at.
            let pos = st.first_seq();
            st.cursors.insert(name.to_owned(), pos);
            pos
        };
        if let Err(e) = sh.write_cursor_file(name, pos) {
            sh.lock_state().cursors.remove(name);
            return Err(e);
        }
        Ok(pos)
    }

    /// Durably sets cursor `name` to `seq`: the consumer has processed every record below `seq`
    /// and resumes at `seq` after a restart. Registers the cursor if needed, then deletes
    /// segments that every cursor and the retention floor have passed.
    ///
    /// # Errors
    /// [`JournalError::InvalidCursorName`]; [`JournalError::SeqOutOfRange`] unless
    /// `first_seq() <= seq <= next_seq()`; [`JournalError::Io`].
    pub fn commit_cursor(&self, name: &str, seq: u64) -> Result<()> {
        check_name(name)?;
        let sh = &*self.shared;
        {
            let _io = lock(&sh.cursor_io);
            let old = {
                let mut st = sh.lock_state();
                let first_seq = st.first_seq();
                if seq < first_seq || seq > st.committed {
                    return Err(JournalError::SeqOutOfRange {
                        seq,
                        first_seq,
                        next_seq: st.committed,
                    });
                }
                let old = st.cursors.get(name).copied();
                // Moving back (or registering): pin retention before the write.
                if old.is_none_or(|o| seq < o) {
                    st.cursors.insert(name.to_owned(), seq);
                }
                old
            };
            if let Err(e) = sh.write_cursor_file(name, seq) {
                let mut st = sh.lock_state();
                match old {
                    Some(o) => st.cursors.insert(name.to_owned(), o),
                    None => st.cursors.remove(name),
                };
                return Err(e);
            }
            // Moving forward: release retention only once durable.
            sh.lock_state().cursors.insert(name.to_owned(), seq);
        }
        sh.gc()?;
        Ok(())
    }

    /// Removes cursor `name`; returns whether it existed. Retention stops waiting for it.
    ///
    /// # Errors
    /// [`JournalError::InvalidCursorName`], [`JournalError::Io`].
    pub fn remove_cursor(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let sh = &*self.shared;
        let existed = {
            let _io = lock(&sh.cursor_io);
            let path = sh.cursor_path(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(JournalError::io("remove cursor", path, e)),
            }
            if sh.opts.syncs() {
                sync_dir(&sh.dir.join("cursors"))?;
            }
            sh.lock_state().cursors.remove(name).is_some()
        };
        sh.gc()?;
        Ok(existed)
    }

    /// Every registered cursor and its position, sorted by name.
    #[must_use]
    pub fn cursors(&self) -> Vec<(String, u64)> {
        let st = self.shared.lock_state();
        st.cursors.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Sets (or clears) the retention floor: segments holding records at or above `floor` are
    /// kept even when every cursor has passed them. Held in memory only; set it after opening.
    pub fn set_retention_floor(&self, floor: Option<u64>) {
        self.shared.lock_state().floor = floor;
    }

    /// Deletes the segments that every cursor and the retention floor have passed (never the
    /// last segment) and returns how many. With no cursor and no floor nothing is deleted.
    /// Runs automatically after cursor commits and when an append finds the journal full.
    ///
    /// # Errors
    /// [`JournalError::Io`] if a file could not be removed.
    pub fn gc(&self) -> Result<usize> {
        self.shared.gc()
    }

    /// A snapshot of sizes, sequence numbers and cursor lags.
    #[must_use]
    pub fn stats(&self) -> JournalStats {
        let st = self.shared.lock_state();
        let first_seq = st.first_seq();
        JournalStats {
            total_bytes: st.total_bytes,
            pending_bytes: st.reserved_bytes,
            max_total_bytes: self.shared.opts.max_total_bytes,
            segment_count: st.segments.len(),
            first_seq,
            next_seq: st.committed,
            last_committed_seq: (st.committed > first_seq).then(|| st.committed - 1),
            retention_floor: st.floor,
            cursors: st
                .cursors
                .iter()
                .map(|(name, &position)| CursorStats {
                    name: name.clone(),
                    position,
                    lag: st.committed.saturating_sub(position),
                })
                .collect(),
        }
    }
}

/// Checks that a segment with header key-check `found` (`None`: plaintext) can be read with
/// `key`.
pub(crate) fn check_key(
    path: &Path,
    found: Option<[u8; 4]>,
    key: Option<&JournalKey>,
) -> Result<()> {
    match (found, key) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(JournalError::KeyRequired {
            path: path.to_owned(),
        }),
        (Some(c), Some(k)) if c == k.check() => Ok(()),
        (Some(_), Some(_)) => Err(JournalError::WrongKey {
            path: path.to_owned(),
        }),
    }
}

fn check_name(name: &str) -> Result<()> {
    if is_valid_cursor_name(name) {
        Ok(())
    } else {
        Err(JournalError::InvalidCursorName {
            name: name.to_owned(),
        })
    }
}

/// Loads every cursor file, removing leftover temporary files; clamps positions past `next_seq`.
fn load_cursors(dir: &Path, next_seq: u64) -> Result<(BTreeMap<String, u64>, Vec<ClampedCursor>)> {
    let mut cursors = BTreeMap::new();
    let mut clamped = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list cursors", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list cursors", dir, e))?;
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        // `.<name>.cursor.tmp-<pid>` (write_atomic) or `.<name>.tmp` (earlier releases).
        if file_name.starts_with('.') && file_name.contains(".tmp") {
            fs::remove_file(&path).map_err(|e| JournalError::io("remove temp cursor", &path, e))?;
            continue;
        }
        let Some(name) = file_name.strip_suffix(".cursor") else {
            continue;
        };
        if !is_valid_cursor_name(name) {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| JournalError::io("read cursor", &path, e))?;
        let pos =
            decode_cursor(&bytes).map_err(|reason| JournalError::corrupt(&path, 0, reason))?;
        let pos = if pos > next_seq {
            clamped.push(ClampedCursor {
                name: name.to_owned(),
                from: pos,
                to: next_seq,
            });
            next_seq
        } else {
            pos
        };
        cursors.insert(name.to_owned(), pos);
    }
    Ok((cursors, clamped))
}
