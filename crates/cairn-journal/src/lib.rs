//! Durable, append-only event journal with group commit, crash recovery and consumer cursors.
//!
//! The journal is the single source of truth between an acknowledged event and a delivered
//! file: every ingest path [`Journal::append`]s to it and is acknowledged only once the batch is
//! durable; every consumer (log-file delivery per trail, digest writer, event-history index,
//! monitor, lake) reads it through a [`Reader`] and keeps its own durable cursor
//! ([`Journal::cursor`], [`Journal::commit_cursor`]). A consumer commits its cursor only after
//! its side effect is durable, so a crash replays records (at-least-once; consumers dedupe).
//!
//! The crate is synchronous (no async runtime): call it from `spawn_blocking` or a dedicated
//! thread. A [`Journal`] is `Send + Sync`; share it with `Arc`.
//!
//! # Guarantees
//!
//! - **Sequence numbers.** Every record gets a `u64` sequence number: its offset in the
//!   journal, counting records (not bytes) from 0 for the first record ever appended. Numbers
//!   are dense (no gaps), strictly increasing, never reused, and survive restarts and segment
//!   deletion. [`Journal::next_seq`] is one past the last committed record.
//! - **Durability.** With [`SyncMode::Always`] (the default) `append` returns only after the
//!   batch was written and `fdatasync`ed. Concurrent appenders share syncs (group commit): one
//!   caller becomes the leader, writes every queued batch in sequence order with as few
//!   `write`s as possible and one `fdatasync`, and wakes the followers.
//! - **Batch atomicity.** After a crash, either every record of a batch is recovered or none.
//!   Batches commit in sequence order, so the recovered journal is always a prefix of the
//!   appended batches that contains every acknowledged one.
//! - **Visibility.** Readers see only committed records, in sequence order, each once, while
//!   appends continue. [`Reader::next_batch`] waits (on a condition variable notified at
//!   every commit) for new records.
//! - **Recovery.** [`Journal::open`] verifies every segment header and scans the last segment,
//!   checking every frame's CRC; a torn tail (incomplete frame, bad CRC, garbage, or a batch
//!   without its commit marker) is cut off and described in [`RecoveryReport`]. Older segments
//!   are verified as they are read: damage there is [`ErrorClass::Corrupt`], never skipped.
//! - **Bounded disk use.** Segments are deleted once every cursor and the optional retention
//!   floor have passed them. When the segments reach [`JournalOptions::max_total_bytes`],
//!   `append` fails at once with [`JournalError::Full`] ([`ErrorClass::Throttled`]): it never
//!   grows past the limit and never drops records.
//! - **Exclusive.** One [`Journal`] per directory at a time (an advisory `flock` on `LOCK`).
//!
//! A kill of the process loses nothing acknowledged in either sync mode; a power loss loses
//! nothing acknowledged only in [`SyncMode::Always`]. After a failed write or sync the journal
//! is poisoned (appends fail with [`JournalError::Poisoned`]) until it is reopened, because the
//! state of a file after a failed `fsync` is unknown.
//!
//! # Wire format
//!
//! Version 1. All integers are little-endian. CRC32 means the IEEE polynomial (CRC-32/ISO-HDLC,
//! as computed by `crc32fast`).
//!
//! **Directory.** A journal directory MUST contain only: segment files named
//! `<base>.seg`, where `<base>` is the sequence number of the segment's first record in exactly
//! 20 decimal digits (e.g. `00000000000000000000.seg`); a `LOCK` file; a `cursors/`
//! directory. Files named `.<base>.seg.tmp-<pid>` (or `<base>.seg.tmp`, from earlier
//! versions) are interrupted segment creations and MUST be deleted on open. Other files SHOULD be ignored.
//!
//! **Segment.** A segment is a 24-byte header followed by zero or more record frames:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `CRNJ` |
//! | 4 | 1 | version, MUST be 1 |
//! | 5 | 3 | reserved, MUST be 0 |
//! | 8 | 8 | base: sequence number of the first record, MUST equal the file name |
//! | 16 | 4 | CRC32 of bytes 0..16 |
//! | 20 | 4 | reserved, MUST be 0 |
//!
//! A writer MUST create a segment atomically (write the header to `.<base>.seg.tmp-<pid>`,
//! sync it, rename, sync the directory: `cairn_core::fs::write_atomic`), so a segment with an invalid header is corrupt, never torn.
//! Record `i` (0-based) of a segment has sequence number `base + i`. A non-last segment MUST
//! hold exactly `next.base - base` records and nothing after them; a writer MUST sync a
//! segment before creating its successor, and MUST NOT split a batch across segments.
//!
//! **Record frame.** A 12-byte header followed by the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | magic and version, MUST be `0xC1` |
//! | 1 | 1 | flags: bit 0 = last record of its batch (the commit marker); other bits MUST be 0 |
//! | 2 | 2 | reserved, MUST be 0 |
//! | 4 | 4 | payload length `n` |
//! | 8 | 4 | CRC32 of header bytes 1..8 (flags, reserved, length) followed by the payload |
//! | 12 | n | payload |
//!
//! **Batches and recovery.** An appended batch of `k` records is `k` consecutive frames of which
//! only the last has flag bit 0 set. A batch is committed iff all its frames are intact and the
//! last one carries the marker. On open, a reader of the format MUST scan the last segment from
//! its header, stop at the first frame that is incomplete, has a bad magic, flags, reserved
//! bytes or CRC, or at end of file, and MUST truncate the file just after the last frame that
//! carries the commit marker (or just after the header). Records after that point MUST NOT be
//! exposed. In a non-last segment any such defect is corruption and MUST be reported, not
//! skipped.
//!
//! **Sealed segments (version 2).** With [`JournalOptions::key`] every new segment has version
//! 2 in byte 4 and, in bytes 20..24 (reserved in version 1), a key-check value: the first 4
//! bytes of HKDF-SHA256-Expand(PRK, `"cairn-journal/v2/key-check"`), where PRK is
//! HKDF-SHA256-Extract(salt `"cairn-journal"`, the 32-byte key). Each frame payload of a
//! version-2 segment is `nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16)` of the
//! record, under the segment key HKDF-SHA256-Expand(PRK, `"cairn-journal/v2/segment"` ||
//! base as `u64` LE, 32 bytes), with the record's sequence number (`u64` LE) as associated
//! data. The frame CRC covers the sealed bytes, so recovery needs no key. A reader MUST
//! refuse a version-2 segment whose key-check differs from its key's, and MUST report a
//! frame failing authentication as corruption. A journal opened with a key whose last
//! segment is version 1 starts a version-2 segment at the next sequence number (replacing
//! the last segment if it holds no record); version-1 segments stay readable.
//!
//! **Cursor file.** `cursors/<name>.cursor`, where `<name>` matches `[A-Za-z0-9_.-]{1,128}` and
//! does not start with `.`; exactly 20 bytes: magic `CRNC`, version 1 (one byte), three zero
//! bytes, the position (`u64`: the next sequence number the consumer will process), and the
//! CRC32 of bytes 0..16. A writer MUST replace it atomically: write
//! `cursors/.<name>.cursor.tmp-<pid>`, sync, rename over the old file, sync the directory.
//! Leftover files starting with `.` and containing `.tmp` MUST be deleted on open. A position past the recovered end SHOULD be clamped to it.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use cairn_journal::{Journal, JournalOptions};
//!
//! # fn main() -> Result<(), cairn_journal::JournalError> {
//! let dir = tempfile::tempdir().expect("tempdir");
//! let journal = Journal::open(dir.path(), JournalOptions::default())?;
//!
//! let ack = journal.append(&[b"event one", b"event two"])?; // durable when this returns
//! assert_eq!((ack.first_seq, ack.last_seq), (0, 1));
//!
//! // A consumer resumes from its cursor, processes, then commits the next position.
//! let start = journal.cursor("trail-main")?;
//! let mut reader = journal.reader(start)?;
//! let batch = reader.next_batch(100, Duration::from_millis(10))?;
//! assert_eq!(batch[1].payload, b"event two");
//! journal.commit_cursor("trail-main", batch[batch.len() - 1].seq + 1)?;
//! assert_eq!(journal.cursor("trail-main")?, 2);
//! # Ok(())
//! # }
//! ```

mod api;
mod cipher;
pub mod conformance;
mod error;
mod format;
mod journal;
mod reader;
mod segment;
mod snapshot;

pub use api::{EventJournal, JournalReader};
pub use cipher::{JournalKey, SEALED_OVERHEAD};
pub use error::{ErrorClass, JournalError, Result};
pub use format::{
    CURSOR_FILE_LEN, CURSOR_MAGIC, FLAG_BATCH_END, FORMAT_VERSION, FRAME_HEADER_LEN, FRAME_MAGIC,
    MAX_CURSOR_NAME_LEN, SEALED_SEGMENT_VERSION, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, encode_batch,
    encode_segment_header, frame_len, is_valid_cursor_name, segment_file_name,
};
pub use journal::{
    AppendAck, ClampedCursor, CursorStats, Journal, JournalOptions, JournalStats, RecoveryReport,
    SyncMode,
};
pub use reader::{Reader, Record};
pub use snapshot::SnapshotReader;
