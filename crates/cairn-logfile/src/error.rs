//! The crate's error type and its classes.

/// What kind of failure an [`Error`] is, for callers that branch on it.
///
/// Retry and HTTP-mapping logic should match on the class, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The input (a key, a component, a document, a key file) is malformed or not allowed.
    InvalidInput,
    /// The input exceeds a size limit (decompression cap, batch cap).
    LimitExceeded,
    /// A cryptographic operation failed (key generation, signing).
    Crypto,
    /// Reading or writing a stream failed.
    Io,
}

/// Errors of `cairn-logfile`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key component (account, region, trail name, ...) is not allowed.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidComponent {
        /// Which component.
        field: &'static str,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An object key does not follow the CloudTrail layout.
    #[error("object key {key:?} is not a {kind} key: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// `"log file"` or `"digest"`.
        kind: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A timestamp cannot be represented or parsed.
    #[error("invalid time {value:?}: {reason}")]
    InvalidTime {
        /// The offending value (formatted or raw).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A digest document is malformed.
    #[error("invalid digest: field {field}: {reason}")]
    InvalidDigest {
        /// JSON path of the offending field (`"$"` for the document).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A log file body is malformed.
    #[error("invalid log file: {reason}")]
    InvalidLogFile {
        /// What is wrong with it.
        reason: String,
    },
    /// Compressed input is not valid gzip.
    #[error("invalid gzip data: {reason}")]
    InvalidGzip {
        /// The decoder's complaint.
        reason: String,
    },
    /// A record handed to the encoder is unusable (not an object, no eventTime).
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// What is wrong with it.
        reason: String,
    },
    /// Input is larger than the allowed limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// A key (private or public) was rejected.
    #[error("key rejected: {reason}")]
    KeyRejected {
        /// Why (from the crypto library or our own checks).
        reason: String,
    },
    /// A cryptographic operation failed.
    #[error("{op} failed")]
    Crypto {
        /// The operation (`"key generation"`, `"signing"`, ...).
        op: &'static str,
    },
    /// A stream operation failed.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidComponent { .. }
            | Error::InvalidKey { .. }
            | Error::InvalidTime { .. }
            | Error::InvalidDigest { .. }
            | Error::InvalidLogFile { .. }
            | Error::InvalidGzip { .. }
            | Error::InvalidRecord { .. }
            | Error::KeyRejected { .. } => ErrorClass::InvalidInput,
            Error::TooLarge { .. } => ErrorClass::LimitExceeded,
            Error::Crypto { .. } => ErrorClass::Crypto,
            Error::Io { .. } => ErrorClass::Io,
        }
    }

    pub(crate) fn digest(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidDigest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
