//! Authentication of incoming requests: SigV4 through `cairn-auth`, against the catalog's
//! credentials.

use cairn_auth::{PayloadCheck, Principal};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who signed.
    pub principal: Principal,
    /// The principal's account.
    pub account: String,
    /// The access key used.
    pub access_key_id: String,
    /// Region from the credential scope.
    pub region: String,
    /// Service from the credential scope.
    pub service: String,
}

fn auth_error(e: &cairn_auth::AuthError) -> ApiError {
    ApiError::with_status(
        http::StatusCode::from_u16(e.http_status()).unwrap_or(http::StatusCode::FORBIDDEN),
        e.code(),
        e.message(),
    )
}

/// Verifies the request's SigV4 signature (header or presigned query) over the whole body.
pub fn authenticate(
    state: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let req = cairn_auth::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        payload: cairn_auth::Payload::Body(body),
    };
    let a = state
        .verifier
        .verify(&req, state.credentials.as_ref(), now)
        .map_err(|e| auth_error(&e))?;
    match a.payload {
        PayloadCheck::Verified => {}
        // Presigned URLs and UNSIGNED-PAYLOAD leave the body unauthenticated, which AWS
        // allows; streaming (aws-chunked) bodies only make sense for S3 uploads.
        PayloadCheck::Unsigned if a.presigned || a.scope.service == "s3" => {}
        PayloadCheck::Unsigned => {
            return Err(ApiError::with_status(
                http::StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                "UNSIGNED-PAYLOAD is accepted only for S3 and presigned requests",
            ));
        }
        _ => {
            return Err(ApiError::with_status(
                http::StatusCode::BAD_REQUEST,
                "NotImplemented",
                "streaming (aws-chunked) payloads are accepted only by the S3 API",
            ));
        }
    }
    let account = a.principal.account_id().unwrap_or_default().to_owned();
    Ok(Caller {
        principal: a.principal,
        account,
        access_key_id: a.access_key_id,
        region: a.scope.region,
        service: a.scope.service,
    })
}
