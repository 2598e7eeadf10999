//! The one place where errors become AWS wire errors.
//!
//! Handlers return [`ApiError`]. An `ApiError` is either a *client* error that a handler
//! opted into exposing (an AWS error code and message), or an internal error whose detail is
//! logged and replaced by a generic message on the wire.

use std::fmt;

use http::StatusCode;

/// An error as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// AWS error code, e.g. `TrailNotFoundException`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// A 400 error with an AWS error code.
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// An error with an explicit status.
    pub fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// An internal failure: the detail is logged, the client sees a generic message.
    pub fn internal(detail: impl fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, detail = %detail, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: format!("an internal error occurred (error id {id})"),
        }
    }

    /// The operation exists in the API but this server does not implement it.
    pub fn not_implemented(operation: &str) -> Self {
        Self::client(
            "UnsupportedOperationException",
            format!("the operation {operation} is not implemented by this Cairn server"),
        )
    }

    /// A throttling error: the caller should retry with backoff.
    pub fn throttled(message: impl Into<String>) -> Self {
        Self::client("ThrottlingException", message)
    }

    /// `InvalidParameterException`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterException", message)
    }
}

/// The one conversion from a domain error to the wire: internal errors are logged and hidden
/// behind an error id, client errors keep their code, status and message.
impl<E: cairn_core::AwsError> From<E> for ApiError {
    fn from(e: E) -> Self {
        if e.is_internal() {
            return ApiError::internal(&e);
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::with_status(status, e.code(), e.message())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
