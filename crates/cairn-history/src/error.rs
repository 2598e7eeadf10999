//! The crate's one error enum.

use std::error::Error as StdError;

/// Boxed source of an internal error (SQLite, codec, corrupt row).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a caller can branch on without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request was invalid; the client can fix it (HTTP 400).
    InvalidRequest,
    /// Storage or a stored row failed; the detail is for logs only (HTTP 500).
    Internal,
}

/// Errors of the event history index.
///
/// The client-error variants map 1:1 to the exceptions `LookupEvents` models; [`code`]
/// gives the AWS `__type`, `Display` gives an AWS-like message.
///
/// [`code`]: HistoryError::code
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// `InvalidLookupAttributesException`: more than one attribute, an unknown key, a value
    /// that is empty or too long, or a key not supported for the requested category.
    #[error("{reason}")]
    InvalidLookupAttributes {
        /// Why the attribute list was refused.
        reason: String,
    },
    /// `InvalidTimeRangeException`: StartTime is after EndTime.
    #[error("start time ({start}) must not be after end time ({end})")]
    InvalidTimeRange {
        /// The requested start, RFC 3339.
        start: String,
        /// The requested end, RFC 3339.
        end: String,
    },
    /// `InvalidMaxResultsException`: MaxResults outside 1–50.
    #[error("value {value} for MaxResults is invalid: it must be between 1 and 50")]
    InvalidMaxResults {
        /// The value the client sent.
        value: i64,
    },
    /// `InvalidNextTokenException`: a token that this index did not issue, that was altered,
    /// or that is reused with different parameters.
    #[error(
        "invalid NextToken: a token must be reused with the parameters of the request that returned it"
    )]
    InvalidNextToken,
    /// `InvalidEventCategoryException`: an EventCategory other than `insight`.
    #[error("value {value} for EventCategory is invalid: the only valid value is insight")]
    InvalidEventCategory {
        /// The value the client sent.
        value: String,
    },
    /// Storage failure or a corrupt stored row. Clients get a generic message.
    #[error("event history {what} failed")]
    Internal {
        /// What was being done (`open`, `index`, `lookup`, `expire`, `decode`).
        what: &'static str,
        /// The backend error.
        #[source]
        source: BoxError,
    },
}

impl HistoryError {
    /// The AWS error code (`__type`) to send for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidLookupAttributes { .. } => "InvalidLookupAttributesException",
            Self::InvalidTimeRange { .. } => "InvalidTimeRangeException",
            Self::InvalidMaxResults { .. } => "InvalidMaxResultsException",
            Self::InvalidNextToken => "InvalidNextTokenException",
            Self::InvalidEventCategory { .. } => "InvalidEventCategoryException",
            Self::Internal { .. } => "InternalFailure",
        }
    }

    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Internal { .. } => ErrorClass::Internal,
            _ => ErrorClass::InvalidRequest,
        }
    }

    pub(crate) fn attrs(reason: impl Into<String>) -> Self {
        Self::InvalidLookupAttributes {
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            what,
            source: source.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = HistoryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_aws_exception_names() {
        let cases: Vec<(HistoryError, &str)> = vec![
            (HistoryError::attrs("x"), "InvalidLookupAttributesException"),
            (
                HistoryError::InvalidTimeRange {
                    start: "a".into(),
                    end: "b".into(),
                },
                "InvalidTimeRangeException",
            ),
            (
                HistoryError::InvalidMaxResults { value: 0 },
                "InvalidMaxResultsException",
            ),
            (HistoryError::InvalidNextToken, "InvalidNextTokenException"),
            (
                HistoryError::InvalidEventCategory { value: "x".into() },
                "InvalidEventCategoryException",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.class(), ErrorClass::InvalidRequest);
            assert!(!err.to_string().is_empty());
        }
        let internal = HistoryError::internal("lookup", "disk on fire");
        assert_eq!(internal.class(), ErrorClass::Internal);
        assert_eq!(internal.to_string(), "event history lookup failed");
    }
}
