//! The crate's one error type and the classes callers branch on.

use std::fmt;

/// A boxed error from a backend, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for bucket operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a caller should do about an error: branch on this, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The object (or bucket) does not exist.
    NotFound,
    /// A create-only put found the key already present.
    AlreadyExists,
    /// A precondition did not hold (e.g. an idempotent replay found different bytes).
    PreconditionFailed,
    /// The backend refused the credentials or the operation (HTTP 401/403, `EACCES`).
    Unauthorized,
    /// Worth retrying with backoff: timeouts, refused connections, HTTP 5xx/429, disk full.
    Transient,
    /// The request itself is malformed (bad key, metadata or configuration); retrying the
    /// same request never helps.
    InvalidInput,
    /// The stored bytes fail the backend's integrity check (an authenticated-encryption tag,
    /// a checksum): the object was changed or damaged at rest. An audit reader counts it as
    /// not matching what was delivered.
    Corrupt,
    /// Anything else: a bug, a corrupt file, an unexpected response.
    Internal,
}

/// The operation that failed, for error context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening or configuring a bucket.
    Open,
    /// [`crate::Bucket::put`].
    Put,
    /// [`crate::Bucket::get`].
    Get,
    /// [`crate::Bucket::head`].
    Head,
    /// [`crate::Bucket::list`].
    List,
    /// [`crate::Bucket::delete`].
    Delete,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Put => "put",
            Op::Get => "get",
            Op::Head => "head",
            Op::List => "list",
            Op::Delete => "delete",
        })
    }
}

/// Errors of every backend.
///
/// Each variant carries its context (`backend`, `bucket`, `key`) as fields; backend details are
/// kept in `source`. For `List`, `key` holds the listed prefix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{backend} bucket {bucket}: object {key:?} not found")]
    NotFound {
        /// Backend name (`memory`, `local`, `s3`).
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// A create-only put found the key already present.
    #[error("{backend} bucket {bucket}: object {key:?} already exists")]
    AlreadyExists {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// A precondition did not hold.
    #[error("{backend} bucket {bucket}: precondition failed for {key:?}: {reason}")]
    PreconditionFailed {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Which precondition.
        reason: &'static str,
    },
    /// Credentials or permissions were refused.
    #[error("{backend} bucket {bucket}: {op} {key:?} not authorized")]
    Unauthorized {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Operation.
        op: Op,
        /// Object key (or listed prefix).
        key: String,
        /// Backend detail.
        #[source]
        source: BoxError,
    },
    /// A failure worth retrying with backoff.
    #[error("{backend} bucket {bucket}: {op} {key:?} failed transiently")]
    Transient {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Operation.
        op: Op,
        /// Object key (or listed prefix).
        key: String,
        /// Backend detail.
        #[source]
        source: BoxError,
    },
    /// The object key breaks the key rules (see [`crate::validate_key`]).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A user-metadata entry or the content type breaks the metadata rules.
    #[error("invalid object metadata {name:?}: {reason}")]
    InvalidMetadata {
        /// The metadata name (or `content-type`).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The bucket configuration is unusable.
    #[error("invalid bucket configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The stored bytes fail the backend's integrity check (see [`ErrorClass::Corrupt`]).
    #[error("{backend} bucket {bucket}: {op} {key:?}: stored object fails its integrity check")]
    Corrupt {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Operation.
        op: Op,
        /// Object key.
        key: String,
        /// Backend detail.
        #[source]
        source: BoxError,
    },
    /// Any other failure.
    #[error("{backend} bucket {bucket}: {op} {key:?} failed")]
    Internal {
        /// Backend name.
        backend: &'static str,
        /// Bucket name.
        bucket: String,
        /// Operation.
        op: Op,
        /// Object key (or listed prefix).
        key: String,
        /// Backend detail.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::AlreadyExists { .. } => ErrorClass::AlreadyExists,
            Error::PreconditionFailed { .. } => ErrorClass::PreconditionFailed,
            Error::Unauthorized { .. } => ErrorClass::Unauthorized,
            Error::Transient { .. } => ErrorClass::Transient,
            Error::InvalidKey { .. } | Error::InvalidMetadata { .. } | Error::Config { .. } => {
                ErrorClass::InvalidInput
            }
            Error::Corrupt { .. } => ErrorClass::Corrupt,
            Error::Internal { .. } => ErrorClass::Internal,
        }
    }

    /// True when retrying the same request later may succeed (class [`ErrorClass::Transient`]).
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config {
            reason: reason.into(),
        }
    }
}

/// Where a bucket operation failed: the context every backend (in this crate or not) turns
/// into an [`Error`] of a given class with [`ErrorContext::error`], so that the class-to-variant
/// mapping lives in one place.
#[derive(Debug, Clone)]
pub struct ErrorContext {
    backend: &'static str,
    bucket: String,
    op: Op,
    key: String,
}

impl ErrorContext {
    /// The context of `op` on `key` (the prefix, for `List`) in `bucket` of `backend`.
    pub fn new(backend: &'static str, bucket: &str, op: Op, key: &str) -> Self {
        ErrorContext {
            backend,
            bucket: bucket.to_owned(),
            op,
            key: key.to_owned(),
        }
    }

    /// The error of `class` in this context, keeping `source` as the backend detail (the
    /// classes without a source, `NotFound`, `AlreadyExists` and `PreconditionFailed`, drop
    /// it). `InvalidInput` is not a backend's class (the input was checked before any I/O),
    /// so it becomes `Internal`.
    pub fn error(self, class: ErrorClass, source: impl Into<BoxError>) -> Error {
        let source = source.into();
        let ErrorContext {
            backend,
            bucket,
            op,
            key,
        } = self;
        match class {
            ErrorClass::NotFound => Error::NotFound {
                backend,
                bucket,
                key,
            },
            ErrorClass::AlreadyExists => Error::AlreadyExists {
                backend,
                bucket,
                key,
            },
            ErrorClass::PreconditionFailed => Error::PreconditionFailed {
                backend,
                bucket,
                key,
                reason: "backend precondition",
            },
            ErrorClass::Unauthorized => Error::Unauthorized {
                backend,
                bucket,
                op,
                key,
                source,
            },
            ErrorClass::Corrupt => Error::Corrupt {
                backend,
                bucket,
                op,
                key,
                source,
            },
            ErrorClass::Transient => Error::Transient {
                backend,
                bucket,
                op,
                key,
                source,
            },
            ErrorClass::InvalidInput | ErrorClass::Internal => Error::Internal {
                backend,
                bucket,
                op,
                key,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_variants() {
        let ctx = ErrorContext::new("memory", "b", Op::Get, "k");
        for class in [
            ErrorClass::NotFound,
            ErrorClass::AlreadyExists,
            ErrorClass::PreconditionFailed,
            ErrorClass::Unauthorized,
            ErrorClass::Transient,
            ErrorClass::Internal,
        ] {
            let err = ctx.clone().error(class, "detail");
            assert_eq!(err.class(), class);
            assert_eq!(err.is_retryable(), class == ErrorClass::Transient);
        }
        let err = Error::InvalidKey {
            key: "..".into(),
            reason: "r",
        };
        assert_eq!(err.class(), ErrorClass::InvalidInput);
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let err =
            ErrorContext::new("local", "logs", Op::Put, "a/b").error(ErrorClass::Transient, "x");
        let msg = err.to_string();
        assert_eq!(msg, "local bucket logs: put \"a/b\" failed transiently");
        assert!(!msg.ends_with('.'));
    }
}
