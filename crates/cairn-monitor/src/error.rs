//! The crate's error type and its mapping to AWS error codes.

/// Classes callers can branch on (retry logic matches the class, never text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request is invalid (HTTP 400).
    InvalidParameter,
    /// The named resource does not exist.
    NotFound,
    /// The resource already exists.
    AlreadyExists,
    /// A quota is reached.
    LimitExceeded,
    /// The operation is not built.
    NotImplemented,
    /// Back off and retry (bounded queue full).
    Transient,
    /// Storage or crypto failure inside Cairn.
    Internal,
    /// The caller may not use the resource (another account's, without its consent).
    Forbidden,
}

/// Error codes of the CloudWatch (alarms/metrics) API, which are the former
/// query-protocol codes (`x-amzn-query-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CwCode {
    /// `ResourceNotFound` (404).
    ResourceNotFound,
    /// `InvalidParameterValue`.
    InvalidParameterValue,
    /// `MissingParameter`.
    MissingParameter,
    /// `InvalidParameterCombination`.
    InvalidParameterCombination,
    /// `LimitExceeded`.
    LimitExceeded,
    /// `InvalidNextToken`.
    InvalidNextToken,
    /// `InvalidFormat`.
    InvalidFormat,
}

impl CwCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            CwCode::ResourceNotFound => "ResourceNotFound",
            CwCode::InvalidParameterValue => "InvalidParameterValue",
            CwCode::MissingParameter => "MissingParameter",
            CwCode::InvalidParameterCombination => "InvalidParameterCombination",
            CwCode::LimitExceeded => "LimitExceeded",
            CwCode::InvalidNextToken => "InvalidNextToken",
            CwCode::InvalidFormat => "InvalidFormat",
        }
    }
}

/// Everything that can go wrong in the monitor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `InvalidParameterException` (CloudWatch Logs).
    #[error("{message}")]
    InvalidParameter {
        /// What is wrong.
        message: String,
    },
    /// `ResourceNotFoundException` (CloudWatch Logs).
    #[error("{message}")]
    ResourceNotFound {
        /// What is missing.
        message: String,
    },
    /// `ResourceAlreadyExistsException` (CloudWatch Logs).
    #[error("{message}")]
    ResourceAlreadyExists {
        /// What exists.
        message: String,
    },
    /// `LimitExceededException` (CloudWatch Logs).
    #[error("{message}")]
    LimitExceeded {
        /// Which limit.
        message: String,
    },
    /// An error of the CloudWatch alarms/metrics API.
    #[error("{message}")]
    CloudWatch {
        /// The code.
        code: CwCode,
        /// What is wrong.
        message: String,
    },
    /// `AuthorizationError` (SNS, HTTP 403): the resource belongs to another account whose
    /// policy does not let the caller use it.
    #[error("{message}")]
    AuthorizationError {
        /// What was refused.
        message: String,
    },
    /// The operation exists in the AWS API but is not built here.
    #[error("the operation {operation} is not implemented by this Cairn server")]
    NotImplemented {
        /// The operation name.
        operation: String,
    },
    /// A bounded streaming queue is full: nothing was written; retry later.
    #[error(
        "the streaming queue of subscription filter {filter} is full ({depth} of {capacity} events); retry later"
    )]
    Backpressure {
        /// The subscription filter whose destination is behind.
        filter: String,
        /// Events queued.
        depth: u64,
        /// Queue capacity.
        capacity: u64,
    },
    /// The SQLite store failed.
    #[error("monitor storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Reading or writing the state directory failed.
    #[error("monitor state directory: {0}")]
    Io(#[from] std::io::Error),
    /// Key generation, certificate or signing failure.
    #[error("signing key: {detail}")]
    Crypto {
        /// Detail (logged, not shown to API clients).
        detail: String,
    },
}

/// Shorthand.
pub type Result<T, E = MonitorError> = std::result::Result<T, E>;

impl MonitorError {
    /// `InvalidParameterException` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        MonitorError::InvalidParameter {
            message: message.into(),
        }
    }

    /// `ResourceNotFoundException` with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        MonitorError::ResourceNotFound {
            message: message.into(),
        }
    }

    pub(crate) fn cw(code: CwCode, message: impl Into<String>) -> Self {
        MonitorError::CloudWatch {
            code,
            message: message.into(),
        }
    }

    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            MonitorError::InvalidParameter { .. } => ErrorClass::InvalidParameter,
            MonitorError::ResourceNotFound { .. } => ErrorClass::NotFound,
            MonitorError::ResourceAlreadyExists { .. } => ErrorClass::AlreadyExists,
            MonitorError::LimitExceeded { .. } => ErrorClass::LimitExceeded,
            MonitorError::CloudWatch { code, .. } => match code {
                CwCode::ResourceNotFound => ErrorClass::NotFound,
                CwCode::LimitExceeded => ErrorClass::LimitExceeded,
                _ => ErrorClass::InvalidParameter,
            },
            MonitorError::NotImplemented { .. } => ErrorClass::NotImplemented,
            MonitorError::AuthorizationError { .. } => ErrorClass::Forbidden,
            MonitorError::Backpressure { .. } => ErrorClass::Transient,
            MonitorError::Storage(_) | MonitorError::Io(_) | MonitorError::Crypto { .. } => {
                ErrorClass::Internal
            }
        }
    }

    /// The AWS error code (`__type` of a JSON error body).
    pub fn code(&self) -> &'static str {
        match self {
            MonitorError::InvalidParameter { .. } => "InvalidParameterException",
            MonitorError::ResourceNotFound { .. } => "ResourceNotFoundException",
            MonitorError::ResourceAlreadyExists { .. } => "ResourceAlreadyExistsException",
            MonitorError::LimitExceeded { .. } => "LimitExceededException",
            MonitorError::CloudWatch { code, .. } => code.as_str(),
            MonitorError::NotImplemented { .. } => "UnsupportedOperationException",
            MonitorError::AuthorizationError { .. } => "AuthorizationError",
            MonitorError::Backpressure { .. } => "ThrottlingException",
            MonitorError::Storage(_) | MonitorError::Io(_) | MonitorError::Crypto { .. } => {
                "ServiceUnavailableException"
            }
        }
    }

    /// The message for the client. Internal errors get a generic message (the
    /// detail is logged by [`MonitorError::log_if_internal`]).
    pub fn message(&self) -> String {
        match self.class() {
            ErrorClass::Internal => "the monitor is temporarily unavailable".to_string(),
            _ => self.to_string(),
        }
    }

    /// The HTTP status: 400 by default, 404 for CloudWatch `ResourceNotFound`,
    /// 500 for internal failures.
    pub fn status(&self) -> u16 {
        match self {
            MonitorError::CloudWatch {
                code: CwCode::ResourceNotFound,
                ..
            } => 404,
            MonitorError::AuthorizationError { .. } => 403,
            e if e.class() == ErrorClass::Internal => 500,
            _ => 400,
        }
    }

    /// For CloudWatch (alarms) errors in JSON mode: the value of the
    /// `x-amzn-query-error` response header (`Code;Sender`), which botocore uses
    /// to map the error to its modeled exception.
    pub fn query_error_header(&self) -> Option<String> {
        match self {
            MonitorError::CloudWatch { code, .. } => Some(format!("{};Sender", code.as_str())),
            _ => None,
        }
    }

    /// The JSON error body (`{"__type": ..., "message": ...}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "__type": self.code(), "message": self.message() })
    }

    /// Logs the detail of an internal error (call once at the API edge).
    pub fn log_if_internal(&self) {
        if self.class() == ErrorClass::Internal {
            tracing::error!(error = %self, "monitor internal error");
        }
    }
}

/// The wire form of a monitor error: `cairn-server` turns it into its API error with
/// `ApiError::from` (internal errors are logged there and shown only by an error id).
impl cairn_core::AwsError for MonitorError {
    fn code(&self) -> &'static str {
        MonitorError::code(self)
    }

    fn status(&self) -> u16 {
        MonitorError::status(self)
    }

    fn is_internal(&self) -> bool {
        self.class() == ErrorClass::Internal
    }

    fn message(&self) -> String {
        MonitorError::message(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_error_classes() {
        use cairn_core::AwsError;
        let e = MonitorError::not_found("The specified log group does not exist.");
        assert_eq!(AwsError::code(&e), "ResourceNotFoundException");
        assert!(!AwsError::is_internal(&e));
        let e = MonitorError::Crypto {
            detail: "disk on fire".into(),
        };
        assert!(AwsError::is_internal(&e));
        assert_eq!(AwsError::status(&e), 500);
        assert!(!AwsError::message(&e).contains("disk"));
    }

    #[test]
    fn codes_and_statuses() {
        let e = MonitorError::not_found("The specified log group does not exist.");
        assert_eq!(e.code(), "ResourceNotFoundException");
        assert_eq!(e.status(), 400);
        let e = MonitorError::cw(CwCode::ResourceNotFound, "x");
        assert_eq!(e.code(), "ResourceNotFound");
        assert_eq!(e.status(), 404);
        assert_eq!(e.query_error_header().unwrap(), "ResourceNotFound;Sender");
        let e = MonitorError::Crypto {
            detail: "secret detail".into(),
        };
        assert_eq!(e.status(), 500);
        assert!(!e.message().contains("secret"));
        let e = MonitorError::NotImplemented {
            operation: "StartQuery".into(),
        };
        assert!(e.message().contains("StartQuery"));
        assert_eq!(e.to_json()["__type"], "UnsupportedOperationException");
        let e = MonitorError::AuthorizationError {
            message: "not yours".into(),
        };
        assert_eq!(e.code(), "AuthorizationError");
        assert_eq!(e.status(), 403);
        assert_eq!(e.class(), ErrorClass::Forbidden);
    }
}
