//! Errors of the ingest path: one enum for a rejected record, one for a file that cannot be
//! read, one for a `PutAuditEvents` request refused as a whole.

use std::fmt;
use std::io;

/// Why one record was rejected. The rejection is per record: callers report it (with
/// [`code`](Self::code) and [`field`](Self::field)) and go on with the next record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The bytes are not one well-formed JSON value (or not UTF-8).
    #[error("record is not valid JSON: {detail}")]
    Malformed {
        /// The parser's description, with line and column.
        detail: String,
    },
    /// The record is JSON but not an object.
    #[error("record is not a JSON object")]
    NotAnObject,
    /// A member name occurs twice in one object (readers would disagree on its value).
    #[error("field `{field}` occurs more than once")]
    DuplicateField {
        /// Dotted path of the repeated field.
        field: String,
    },
    /// A required field is absent.
    #[error("required field `{field}` is missing")]
    FieldNotFound {
        /// Dotted path of the missing field.
        field: String,
    },
    /// A field is over its size limit (the record is rejected, never truncated).
    #[error("field `{field}` is {actual} bytes, over its limit of {limit} bytes")]
    FieldTooLong {
        /// Dotted path of the field.
        field: String,
        /// The limit in bytes.
        limit: usize,
        /// The field's size in bytes (UTF-8 text of a string, compact JSON of an object).
        actual: usize,
    },
    /// The whole record, as compact JSON, is over the event size limit.
    #[error("event is {actual} bytes, over the event limit of {limit} bytes")]
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The record's compact size in bytes.
        actual: usize,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    InvalidType {
        /// Dotted path of the field.
        field: String,
        /// What the field must be, e.g. `a string`.
        expected: &'static str,
    },
    /// A field has the right type but a value Cairn refuses.
    #[error("field `{field}` is invalid: {reason}")]
    InvalidValue {
        /// Dotted path of the field.
        field: String,
        /// Why, e.g. `account id must be exactly 12 digits`.
        reason: String,
    },
    /// `awsRegion` is not a region name or not one of the configured regions.
    #[error("region `{region}` is not a configured region")]
    InvalidRegion {
        /// The region as given.
        region: String,
    },
    /// The recipient account is not one this ingest path accepts.
    #[error("recipient account `{account}` {reason}")]
    InvalidRecipient {
        /// The account as given (or defaulted).
        account: String,
        /// Why, e.g. `is not the channel owner`.
        reason: &'static str,
    },
    /// `eventDataChecksum` is not the base64 SHA-256 of `eventData`.
    #[error("eventDataChecksum does not match the SHA-256 of eventData")]
    InvalidChecksum,
    /// The event source of an activity audit event is refused.
    #[error("event source `{event_source}` is not allowed: {reason}")]
    InvalidEventSource {
        /// The event source as given.
        event_source: String,
        /// Why.
        reason: &'static str,
    },
    /// The channel ARN given to [`validate_audit_event`](crate::validate_audit_event) is not
    /// a valid ARN with a region.
    #[error("channel ARN `{arn}` is not valid")]
    InvalidChannelArn {
        /// The ARN as given.
        arn: String,
    },
}

impl RecordError {
    /// A stable machine-readable code: `InvalidData`, `FieldNotFound`, `FieldTooLong`,
    /// `EventTooLarge`, `InvalidRegion`, `InvalidRecipient`, `InvalidChecksum`,
    /// `InvalidEventSource` or `InvalidChannelARN`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. }
            | Self::NotAnObject
            | Self::DuplicateField { .. }
            | Self::InvalidType { .. }
            | Self::InvalidValue { .. } => "InvalidData",
            Self::FieldNotFound { .. } => "FieldNotFound",
            Self::FieldTooLong { .. } => "FieldTooLong",
            Self::EventTooLarge { .. } => "EventTooLarge",
            Self::InvalidRegion { .. } => "InvalidRegion",
            Self::InvalidRecipient { .. } => "InvalidRecipient",
            Self::InvalidChecksum => "InvalidChecksum",
            Self::InvalidEventSource { .. } => "InvalidEventSource",
            Self::InvalidChannelArn { .. } => "InvalidChannelARN",
        }
    }

    /// The code to put in a `PutAuditEvents` `failed[].errorCode`, restricted to the codes
    /// the `cloudtrail-data` API defines (`cloudtrail-api.md` §11): an oversized event is
    /// `FieldTooLong`; region and channel problems are `InvalidData`.
    pub fn audit_error_code(&self) -> &'static str {
        match self {
            Self::EventTooLarge { .. } => "FieldTooLong",
            Self::InvalidRegion { .. } | Self::InvalidChannelArn { .. } => "InvalidData",
            other => other.code(),
        }
    }

    /// The dotted path of the field at fault, when one field is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::DuplicateField { field }
            | Self::FieldNotFound { field }
            | Self::FieldTooLong { field, .. }
            | Self::InvalidType { field, .. }
            | Self::InvalidValue { field, .. } => Some(field),
            Self::InvalidRegion { .. } => Some("awsRegion"),
            Self::InvalidRecipient { .. } => Some("recipientAccountId"),
            Self::InvalidChecksum => Some("eventDataChecksum"),
            Self::InvalidEventSource { .. } => Some("eventSource"),
            Self::Malformed { .. }
            | Self::NotAnObject
            | Self::EventTooLarge { .. }
            | Self::InvalidChannelArn { .. } => None,
        }
    }

    pub(crate) fn missing(field: &str) -> Self {
        Self::FieldNotFound {
            field: field.to_owned(),
        }
    }

    pub(crate) fn invalid_type(field: &str, expected: &'static str) -> Self {
        Self::InvalidType {
            field: field.to_owned(),
            expected,
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn too_long(field: &str, limit: usize, actual: usize) -> Self {
        Self::FieldTooLong {
            field: field.to_owned(),
            limit,
            actual,
        }
    }
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RecordLocation {
    /// 0-based position among the file's records (array position in `{"Records":[...]}`,
    /// count of non-blank lines before it in NDJSON).
    pub index: u64,
    /// 1-based line number, for NDJSON input.
    pub line: Option<u64>,
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}", self.index)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Why reading a file of records failed, wholly or for one record.
///
/// [`is_fatal`](Self::is_fatal) tells whether the reader stopped: after a fatal error the
/// iterator yields nothing more; after a non-fatal one it goes on with the next record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Reading or decompressing failed (including a corrupt gzip stream). Fatal.
    #[error("read failed at {location}: {source}")]
    Io {
        /// The record being read when it failed.
        location: RecordLocation,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The (decompressed) file is larger than the configured cap. Fatal.
    #[error("file is over the {limit}-byte limit after decompression")]
    DecompressedTooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The file's structure is broken (not `{"Records":[...]}` or an unterminated record).
    /// Fatal in a `{"Records":[...]}` file; NDJSON lines are independent and never cause it.
    #[error("malformed file at {location}: {detail}")]
    Syntax {
        /// Where it broke.
        location: RecordLocation,
        /// What was wrong.
        detail: String,
    },
    /// One record is larger than the per-record cap; it was skipped. Not fatal.
    #[error("{location} is {actual} bytes, over the {limit}-byte record limit")]
    RecordTooLarge {
        /// The record.
        location: RecordLocation,
        /// The cap in bytes.
        limit: usize,
        /// The record's raw size in bytes.
        actual: u64,
    },
}

impl FileError {
    /// Whether the reader stopped after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::RecordTooLarge { .. })
    }

    /// The record the error is about, when there is one.
    pub fn location(&self) -> Option<RecordLocation> {
        match self {
            Self::Io { location, .. }
            | Self::Syntax { location, .. }
            | Self::RecordTooLarge { location, .. } => Some(*location),
            Self::DecompressedTooLarge { .. } => None,
        }
    }
}

/// Why a whole `PutAuditEvents` request was refused before looking at any event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditRequestError {
    /// `auditEvents` must hold 1 to 100 entries.
    #[error("auditEvents has {count} entries; 1 to 100 are allowed")]
    EntryCount {
        /// How many there were.
        count: usize,
    },
    /// The entries together are over 1 MB.
    #[error("audit events total {actual} bytes, over the {limit}-byte request limit")]
    RequestTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// Sum of the entries' `id`, `eventData` and `eventDataChecksum` lengths.
        actual: usize,
    },
    /// An entry `id` is not 1–128 characters of `[-_A-Za-z0-9]`.
    #[error("audit event id `{id}` must be 1 to 128 characters of A-Z, a-z, 0-9, - and _")]
    InvalidId {
        /// The id as given.
        id: String,
    },
    /// Two entries share an `id`.
    #[error("audit event id `{id}` is used more than once")]
    DuplicatedAuditEventId {
        /// The repeated id.
        id: String,
    },
}

impl AuditRequestError {
    /// The AWS error code: `DuplicatedAuditEventId` for a repeated id, otherwise
    /// `ValidationException` (AWS's code for shape constraint violations).
    pub fn code(&self) -> &'static str {
        match self {
            Self::DuplicatedAuditEventId { .. } => "DuplicatedAuditEventId",
            _ => "ValidationException",
        }
    }
}

/// A refused `PutAuditEvents` request is always the caller's: a 400 with its code.
impl cairn_core::AwsError for AuditRequestError {
    fn code(&self) -> &'static str {
        AuditRequestError::code(self)
    }

    fn is_internal(&self) -> bool {
        false
    }
}
