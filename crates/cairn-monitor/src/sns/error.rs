//! A monitor error as the SNS API answers it (query-protocol codes).

use crate::error::{ErrorClass, MonitorError};

/// A [`MonitorError`] with SNS's codes: `InvalidParameter`, `NotFound` (404),
/// `AuthorizationError` (403), `NotImplemented`... The server turns it into its API error
/// with `ApiError::from`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SnsError(#[from] pub MonitorError);

impl cairn_core::AwsError for SnsError {
    fn code(&self) -> &'static str {
        match self.0.class() {
            ErrorClass::InvalidParameter => "InvalidParameter",
            ErrorClass::NotFound => "NotFound",
            ErrorClass::Forbidden => "AuthorizationError",
            ErrorClass::NotImplemented => "NotImplemented",
            ErrorClass::LimitExceeded => "TagLimitExceeded",
            ErrorClass::AlreadyExists => "InvalidParameter",
            ErrorClass::Transient => "Throttled",
            ErrorClass::Internal => "InternalError",
        }
    }

    fn status(&self) -> u16 {
        match self.0.class() {
            ErrorClass::NotFound => 404,
            ErrorClass::Forbidden => 403,
            ErrorClass::Internal => 500,
            _ => 400,
        }
    }

    fn is_internal(&self) -> bool {
        self.0.class() == ErrorClass::Internal
    }

    fn message(&self) -> String {
        self.0.message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::AwsError;

    #[test]
    fn sns_codes() {
        let e = SnsError(MonitorError::not_found("Topic does not exist"));
        assert_eq!((e.code(), e.status()), ("NotFound", 404));
        let e = SnsError(MonitorError::invalid("Invalid parameter: x"));
        assert_eq!((e.code(), e.status()), ("InvalidParameter", 400));
        let e = SnsError(MonitorError::AuthorizationError {
            message: "no".into(),
        });
        assert_eq!((e.code(), e.status()), ("AuthorizationError", 403));
    }
}
