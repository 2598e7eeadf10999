//! The crate's error type and its classes.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// Coarse error classes callers branch on (never on message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The journal is at its size limit: back off and retry once consumers advance.
    Throttled,
    /// On-disk data failed verification (bad magic, CRC mismatch, inconsistent segments).
    Corrupt,
    /// An operating-system I/O error, or a journal poisoned by an earlier I/O error.
    Io,
    /// The caller passed something invalid (empty batch, oversize record, bad cursor name...).
    InvalidArgument,
    /// The requested records are gone (deleted by retention) or do not exist.
    NotFound,
    /// Another handle already owns the journal directory.
    Conflict,
}

/// Every error the journal returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The journal is full: appending `requested` bytes would exceed `max_total_bytes`.
    #[error(
        "journal full: {used_bytes} bytes used, {requested_bytes} requested, limit {max_total_bytes}"
    )]
    Full {
        /// Bytes on disk plus bytes queued for writing.
        used_bytes: u64,
        /// Encoded size of the refused batch.
        requested_bytes: u64,
        /// The configured limit.
        max_total_bytes: u64,
    },
    /// An I/O operation failed.
    #[error("journal i/o error: {op} {}", path.display())]
    Io {
        /// What was being done (`"open segment"`, `"fdatasync"`...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or sync failed; the journal refuses further appends until reopened.
    #[error("journal poisoned by an earlier i/o failure: {reason}")]
    Poisoned {
        /// Description of the original failure.
        reason: String,
    },
    /// On-disk data failed verification.
    #[error("journal corrupt: {reason} in {} at byte {offset}", path.display())]
    Corrupt {
        /// The segment or cursor file.
        path: PathBuf,
        /// Byte offset of the defect within the file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// `append` was called with no records.
    #[error("empty batch")]
    EmptyBatch,
    /// A record is larger than `max_record_bytes`.
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Size of the offending payload.
        len: usize,
        /// The configured limit.
        max: u32,
    },
    /// A batch can never fit, even in an empty journal.
    #[error("batch of {len} bytes can never fit in a journal limited to {max_total_bytes} bytes")]
    BatchTooLarge {
        /// Encoded size of the batch.
        len: u64,
        /// The configured limit.
        max_total_bytes: u64,
    },
    /// A cursor name does not match `[A-Za-z0-9_.-]{1,128}` or starts with a dot.
    #[error("invalid cursor name {name:?}")]
    InvalidCursorName {
        /// The rejected name.
        name: String,
    },
    /// A sequence number is outside the range the operation accepts.
    #[error("sequence {seq} out of range [{first_seq}, {next_seq}]")]
    SeqOutOfRange {
        /// The rejected sequence number.
        seq: u64,
        /// Oldest retained sequence number.
        first_seq: u64,
        /// One past the last committed sequence number.
        next_seq: u64,
    },
    /// The requested records were deleted by retention.
    #[error("sequence {seq} was deleted; the oldest retained is {first_seq}")]
    Truncated {
        /// The requested sequence number.
        seq: u64,
        /// Oldest retained sequence number.
        first_seq: u64,
    },
    /// The options are inconsistent.
    #[error("invalid journal options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: &'static str,
    },
    /// A segment is encrypted and no key was given.
    #[error("journal segment {} is encrypted: a key is required to read it", path.display())]
    KeyRequired {
        /// The segment file.
        path: PathBuf,
    },
    /// A segment was encrypted under another key.
    #[error("journal segment {} was encrypted under another key", path.display())]
    WrongKey {
        /// The segment file.
        path: PathBuf,
    },
    /// Sealing a record failed (the system random generator failed).
    #[error("journal encryption failed: {reason}")]
    Crypto {
        /// What failed.
        reason: &'static str,
    },
    /// Another `Journal` (in this or another process) holds the directory lock.
    #[error("journal directory {} is locked by another handle", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl JournalError {
    /// The class of this error.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            JournalError::Full { .. } => ErrorClass::Throttled,
            JournalError::Io { .. }
            | JournalError::Poisoned { .. }
            | JournalError::Crypto { .. } => ErrorClass::Io,
            JournalError::Corrupt { .. } => ErrorClass::Corrupt,
            JournalError::EmptyBatch
            | JournalError::RecordTooLarge { .. }
            | JournalError::BatchTooLarge { .. }
            | JournalError::InvalidCursorName { .. }
            | JournalError::SeqOutOfRange { .. }
            | JournalError::InvalidOptions { .. }
            | JournalError::KeyRequired { .. }
            | JournalError::WrongKey { .. } => ErrorClass::InvalidArgument,
            JournalError::Truncated { .. } => ErrorClass::NotFound,
            JournalError::Locked { .. } => ErrorClass::Conflict,
        }
    }

    /// Whether retrying the same call later may succeed (only [`ErrorClass::Throttled`]).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Throttled
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: &'static str) -> Self {
        JournalError::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let full = JournalError::Full {
            used_bytes: 1,
            requested_bytes: 2,
            max_total_bytes: 3,
        };
        assert_eq!(full.class(), ErrorClass::Throttled);
        assert!(full.is_retryable());
        let c = JournalError::corrupt("x", 4, "bad crc");
        assert_eq!(c.class(), ErrorClass::Corrupt);
        assert!(!c.is_retryable());
        assert_eq!(c.to_string(), "journal corrupt: bad crc in x at byte 4");
        assert_eq!(
            JournalError::EmptyBatch.class(),
            ErrorClass::InvalidArgument
        );
        assert_eq!(
            JournalError::Truncated {
                seq: 1,
                first_seq: 5
            }
            .class(),
            ErrorClass::NotFound
        );
        assert_eq!(
            JournalError::io("open", "p", io::Error::other("x")).class(),
            ErrorClass::Io
        );
    }
}
