//! The journal seam: what the server's producers and consumers need from a journal, so that
//! the embedded [`Journal`](crate::Journal) can be replaced by a clustered one (a NATS
//! JetStream stream with durable consumers) without touching them.
//!
//! The contract is the one [`crate::conformance::run`] checks:
//!
//! - [`EventJournal::append`] is durable when it returns and gives the batch dense, strictly
//!   increasing sequence numbers, never reused, across restarts;
//! - a reader returns each committed record once, in sequence order, and never a record
//!   whose batch is not committed;
//! - a named cursor is the next sequence number its consumer will process; it survives a
//!   restart once [`EventJournal::commit_cursor`] returns, and an unknown cursor starts at the
//!   oldest retained record.

use std::time::Duration;

use crate::error::Result;
use crate::journal::AppendAck;
use crate::reader::Record;

/// A durable, append-only, totally ordered log of opaque records with named consumer cursors.
pub trait EventJournal: Send + Sync {
    /// The sequential reader [`EventJournal::reader`] returns.
    type Reader: JournalReader;

    /// Appends one batch atomically; returns once it is durable. An empty batch is refused.
    ///
    /// # Errors
    /// The implementation's; callers branch on [`JournalError::class`](crate::JournalError::class).
    fn append(&self, payloads: &[&[u8]]) -> Result<AppendAck>;

    /// One past the last committed sequence number.
    fn next_seq(&self) -> u64;

    /// The oldest retained sequence number.
    fn first_seq(&self) -> u64;

    /// A reader positioned at `from_seq`, which must lie in `first_seq()..=next_seq()`.
    ///
    /// # Errors
    /// When `from_seq` is outside that range, or the journal cannot be read.
    fn reader(&self, from_seq: u64) -> Result<Self::Reader>;

    /// The committed position of cursor `name`, registering it at
    /// [`EventJournal::first_seq`] when unknown.
    ///
    /// # Errors
    /// An invalid name, or the registration could not be stored.
    fn cursor(&self, name: &str) -> Result<u64>;

    /// Durably sets cursor `name` to `seq` (every record below `seq` is processed).
    ///
    /// # Errors
    /// `seq` outside `first_seq()..=next_seq()`, an invalid name, or a failed write.
    fn commit_cursor(&self, name: &str, seq: u64) -> Result<()>;

    /// Removes cursor `name`; returns whether it existed.
    ///
    /// # Errors
    /// An invalid name, or a failed write.
    fn remove_cursor(&self, name: &str) -> Result<bool>;

    /// Every registered cursor and its position, sorted by name.
    fn cursors(&self) -> Vec<(String, u64)>;
}

/// Reads committed records in sequence order.
pub trait JournalReader {
    /// The sequence number of the next record this reader returns.
    fn position(&self) -> u64;

    /// Up to `max` records, waiting up to `timeout` for at least one. Empty on timeout.
    ///
    /// # Errors
    /// A record failing verification, or records deleted by retention.
    fn next_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>>;

    /// Up to `max` already-committed records, without waiting.
    ///
    /// # Errors
    /// As [`JournalReader::next_batch`].
    fn try_next_batch(&mut self, max: usize) -> Result<Vec<Record>>;
}

impl EventJournal for crate::Journal {
    type Reader = crate::Reader;

    fn append(&self, payloads: &[&[u8]]) -> Result<AppendAck> {
        crate::Journal::append(self, payloads)
    }

    fn next_seq(&self) -> u64 {
        crate::Journal::next_seq(self)
    }

    fn first_seq(&self) -> u64 {
        crate::Journal::first_seq(self)
    }

    fn reader(&self, from_seq: u64) -> Result<crate::Reader> {
        crate::Journal::reader(self, from_seq)
    }

    fn cursor(&self, name: &str) -> Result<u64> {
        crate::Journal::cursor(self, name)
    }

    fn commit_cursor(&self, name: &str, seq: u64) -> Result<()> {
        crate::Journal::commit_cursor(self, name, seq)
    }

    fn remove_cursor(&self, name: &str) -> Result<bool> {
        crate::Journal::remove_cursor(self, name)
    }

    fn cursors(&self) -> Vec<(String, u64)> {
        crate::Journal::cursors(self)
    }
}

impl JournalReader for crate::Reader {
    fn position(&self) -> u64 {
        crate::Reader::position(self)
    }

    fn next_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        crate::Reader::next_batch(self, max, timeout)
    }

    fn try_next_batch(&mut self, max: usize) -> Result<Vec<Record>> {
        crate::Reader::try_next_batch(self, max)
    }
}
