//! The one error type of this crate and its mapping to AWS error codes.

use time::OffsetDateTime;

use crate::time_fmt::format_basic;

/// Why a request's time was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryKind {
    /// The request time is more than 15 minutes before the server clock.
    TooOld,
    /// The request time is more than 15 minutes after the server clock.
    TooNew,
    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    PresignedExpired,
}

/// A caller mistake class, so the server can branch without matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The client is not (or not validly) authenticated: HTTP 403.
    Unauthenticated,
    /// The authentication data is malformed: HTTP 400.
    BadRequest,
    /// The feature is not built: HTTP 501.
    NotImplemented,
    /// The caller of this crate passed inconsistent arguments: HTTP 500.
    Internal,
}

/// Every way authentication can fail.
///
/// Each variant maps to exactly one AWS error code through [`AuthError::code`] (the code the
/// query and JSON protocols share) and [`AuthError::s3_code`] (S3's REST-XML code), and to an
/// AWS-style message through [`AuthError::message`]. `Display` gives a short lowercase
/// diagnostic for logs, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header and no `X-Amz-Algorithm` query parameter.
    #[error("no authentication information in the request")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the presign query parameters are malformed.
    #[error("malformed signature: {reason}")]
    IncompleteSignature {
        /// The AWS-style explanation, safe to return to the client.
        reason: String,
    },
    /// The access key id is unknown, or the session token is missing or wrong.
    #[error("unknown access key id or invalid session token for {access_key_id}")]
    InvalidClientTokenId {
        /// The access key id from the credential scope.
        access_key_id: String,
    },
    /// The signature does not match the one we calculated.
    #[error("signature does not match")]
    SignatureDoesNotMatch {
        /// The string to sign we computed (S3 returns it to help debugging; not secret).
        string_to_sign: String,
        /// The canonical request we computed (not secret).
        canonical_request: String,
    },
    /// The request time is outside the allowed window, or a presigned URL has expired.
    #[error("request time rejected ({kind:?})")]
    RequestExpired {
        /// Which rule rejected the time.
        kind: ExpiryKind,
        /// The time the request claims (`X-Amz-Date` or `Date`).
        request_time: OffsetDateTime,
        /// The server clock at verification.
        server_time: OffsetDateTime,
    },
    /// The temporary credential behind the access key has expired.
    #[error("security token expired for {access_key_id}")]
    ExpiredToken {
        /// The access key id from the credential scope.
        access_key_id: String,
    },
    /// The access key exists but is disabled.
    #[error("access key {access_key_id} is disabled")]
    AccessDenied {
        /// The access key id from the credential scope.
        access_key_id: String,
    },
    /// S3: a request header starting with `x-amz-` is present but not signed.
    #[error("header {header} is present but not signed")]
    HeadersNotSigned {
        /// The lowercase header name.
        header: String,
    },
    /// S3: header authentication without `x-amz-content-sha256`.
    #[error("missing x-amz-content-sha256 header")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is not a hex digest nor a known keyword.
    #[error("invalid x-amz-content-sha256 value")]
    InvalidContentSha256,
    /// The body's SHA-256 differs from the signed `x-amz-content-sha256`.
    #[error("body sha-256 does not match x-amz-content-sha256")]
    ContentSha256Mismatch,
    /// An aws-chunked body is malformed (framing, sizes).
    #[error("malformed aws-chunked body: {reason}")]
    MalformedChunk {
        /// What was wrong.
        reason: &'static str,
    },
    /// A chunk signature of an aws-chunked body does not match.
    #[error("chunk signature does not match")]
    ChunkSignatureDoesNotMatch,
    /// A signing mode we recognise but have not built.
    #[error("not implemented: {feature}")]
    NotImplemented {
        /// The feature, e.g. the `x-amz-content-sha256` keyword.
        feature: String,
    },
    /// The caller passed [`crate::Payload::Deferred`] for a request whose signature covers the
    /// body hash and has no `x-amz-content-sha256`: the body must be supplied.
    #[error("the request body (or its sha-256) is needed to verify this request")]
    PayloadRequired,
}

const SIG_MISMATCH_MSG: &str = "The request signature we calculated does not match the signature \
you provided. Check your AWS Secret Access Key and signing method. Consult the service \
documentation for details.";

impl AuthError {
    /// The AWS error code shared by the query (IAM, STS) and JSON (CloudTrail, KMS, Logs)
    /// protocols. JSON services may rename some (the server maps, e.g. `RequestExpired` to
    /// `InvalidSignatureException`, `InvalidClientTokenId` to `UnrecognizedClientException`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature { .. } => "IncompleteSignature",
            Self::InvalidClientTokenId { .. } => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::RequestExpired { .. } => "RequestExpired",
            Self::ExpiredToken { .. } => "ExpiredToken",
            Self::AccessDenied { .. } | Self::HeadersNotSigned { .. } => "AccessDenied",
            Self::MissingContentSha256 | Self::InvalidContentSha256 => "InvalidRequest",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            Self::MalformedChunk { .. } => "IncompleteBody",
            Self::ChunkSignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::NotImplemented { .. } => "NotImplemented",
            Self::PayloadRequired => "InternalFailure",
        }
    }

    /// The code S3 (REST-XML) returns for the same failure.
    #[must_use]
    pub fn s3_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "AccessDenied",
            Self::IncompleteSignature { .. } => "AuthorizationHeaderMalformed",
            Self::InvalidClientTokenId { .. } => "InvalidAccessKeyId",
            Self::RequestExpired {
                kind: ExpiryKind::PresignedExpired,
                ..
            } => "AccessDenied",
            Self::RequestExpired { .. } => "RequestTimeTooSkewed",
            Self::InvalidContentSha256 => "XAmzContentSHA256Mismatch",
            Self::PayloadRequired => "InternalError",
            other => other.code(),
        }
    }

    /// The HTTP status AWS uses for this failure.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self.class() {
            ErrorClass::Unauthenticated => 403,
            ErrorClass::BadRequest => 400,
            ErrorClass::NotImplemented => 501,
            ErrorClass::Internal => 500,
        }
    }

    /// The class to branch on.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::MissingAuthenticationToken
            | Self::InvalidClientTokenId { .. }
            | Self::SignatureDoesNotMatch { .. }
            | Self::RequestExpired { .. }
            | Self::ExpiredToken { .. }
            | Self::AccessDenied { .. }
            | Self::HeadersNotSigned { .. }
            | Self::ChunkSignatureDoesNotMatch => ErrorClass::Unauthenticated,
            Self::IncompleteSignature { .. }
            | Self::MissingContentSha256
            | Self::InvalidContentSha256
            | Self::ContentSha256Mismatch
            | Self::MalformedChunk { .. } => ErrorClass::BadRequest,
            Self::NotImplemented { .. } => ErrorClass::NotImplemented,
            Self::PayloadRequired => ErrorClass::Internal,
        }
    }

    /// The AWS-style message returned to the client (never contains secrets).
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Request is missing Authentication Token".into(),
            Self::IncompleteSignature { reason } => reason.clone(),
            Self::InvalidClientTokenId { .. } => {
                "The security token included in the request is invalid.".into()
            }
            Self::SignatureDoesNotMatch { .. } | Self::ChunkSignatureDoesNotMatch => {
                SIG_MISMATCH_MSG.into()
            }
            Self::RequestExpired {
                kind,
                request_time,
                server_time,
            } => {
                let req = format_basic(*request_time);
                let now = format_basic(*server_time);
                match kind {
                    ExpiryKind::TooOld => format!(
                        "Signature expired: {req} is now earlier than {} ({now} - 15 min.)",
                        format_basic(*server_time - crate::MAX_SKEW)
                    ),
                    ExpiryKind::TooNew => format!(
                        "Signature not yet current: {req} is still later than {} ({now} + 15 min.)",
                        format_basic(*server_time + crate::MAX_SKEW)
                    ),
                    ExpiryKind::PresignedExpired => "Request has expired".into(),
                }
            }
            Self::ExpiredToken { .. } => {
                "The security token included in the request is expired".into()
            }
            Self::AccessDenied { .. } => "The AWS access key Id used is not active.".into(),
            Self::HeadersNotSigned { header } => format!(
                "There were headers present in the request which were not signed: {header}"
            ),
            Self::MissingContentSha256 => {
                "Missing required header for this request: x-amz-content-sha256".into()
            }
            Self::InvalidContentSha256 => {
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
                 or a valid sha256 value."
                    .into()
            }
            Self::ContentSha256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .into()
            }
            Self::MalformedChunk { .. } => {
                "You did not provide the number of bytes specified by the Content-Length HTTP \
                 header."
                    .into()
            }
            Self::NotImplemented { feature } => {
                format!("A header you provided implies functionality that is not implemented: {feature}")
            }
            Self::PayloadRequired => "We encountered an internal error. Please try again.".into(),
        }
    }
}

/// The wire form of an authentication failure: its code, AWS's status, and its message (a
/// [`ErrorClass::Internal`] failure is the server's fault and is not shown to the caller).
impl cairn_core::AwsError for AuthError {
    fn code(&self) -> &'static str {
        AuthError::code(self)
    }

    fn status(&self) -> u16 {
        self.http_status()
    }

    fn is_internal(&self) -> bool {
        self.class() == ErrorClass::Internal
    }

    fn message(&self) -> String {
        AuthError::message(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wire_form_follows_the_class() {
        use cairn_core::AwsError;
        let e = super::AuthError::MissingAuthenticationToken;
        assert_eq!(
            (AwsError::code(&e), e.status(), e.is_internal()),
            ("MissingAuthenticationToken", 403, false)
        );
        assert_eq!(
            AwsError::message(&e),
            "Request is missing Authentication Token"
        );
        let e = super::AuthError::PayloadRequired;
        assert!(e.is_internal());
        assert_eq!(e.status(), 500);
    }

    use super::*;

    #[test]
    fn expired_message_matches_aws_shape() {
        let server = time::macros::datetime!(2015-08-30 12:56:00 UTC);
        let req = time::macros::datetime!(2015-08-30 12:36:00 UTC);
        let err = AuthError::RequestExpired {
            kind: ExpiryKind::TooOld,
            request_time: req,
            server_time: server,
        };
        assert_eq!(
            err.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z \
             (20150830T125600Z - 15 min.)"
        );
        assert_eq!(err.code(), "RequestExpired");
        assert_eq!(err.s3_code(), "RequestTimeTooSkewed");
        assert_eq!(err.http_status(), 403);
    }

    #[test]
    fn codes_are_distinct_for_the_main_failures() {
        let errs = [
            AuthError::MissingAuthenticationToken,
            AuthError::IncompleteSignature { reason: "x".into() },
            AuthError::InvalidClientTokenId {
                access_key_id: "A".into(),
            },
            AuthError::SignatureDoesNotMatch {
                string_to_sign: String::new(),
                canonical_request: String::new(),
            },
            AuthError::ExpiredToken {
                access_key_id: "A".into(),
            },
            AuthError::AccessDenied {
                access_key_id: "A".into(),
            },
        ];
        let mut codes: Vec<_> = errs.iter().map(AuthError::code).collect();
        codes.push("RequestExpired");
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert!(SIG_MISMATCH_MSG.starts_with("The request signature we calculated"));
    }
}
