//! Authentication of incoming requests: SigV4 through `cairn-auth`, against the catalog's
//! credentials.
//!
//! Two steps, so nothing of an unauthenticated request's body is ever buffered:
//! [`authenticate_headers`] runs on the request head alone (signature format, date and skew,
//! access key, session token, signed headers and, whenever the client declared the body's
//! hash in `x-amz-content-sha256` or the payload is unsigned, the signature itself);
//! [`finish`] completes it once the body's SHA-256 is known (the signature for clients that
//! sign the body without declaring its hash, as botocore does for JSON and query APIs, and the
//! declared hash against the body).

use cairn_auth::{AuthError, Authenticated, PayloadCheck, Principal};
use sha2::{Digest, Sha256};
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
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// What the request head established.
#[derive(Debug)]
pub struct HeadAuth {
    /// Region of the credential scope.
    pub region: String,
    /// Service of the credential scope.
    pub service: String,
    /// The verified signature, when the head alone allowed checking it.
    verified: Option<Authenticated>,
}

impl HeadAuth {
    /// Whether the signature is already verified (the body is then known to come from the
    /// key's holder as soon as its hash matches).
    pub fn signature_verified(&self) -> bool {
        self.verified.is_some()
    }
}

fn auth_error(e: &AuthError) -> ApiError {
    ApiError::with_status(
        http::StatusCode::from_u16(e.http_status()).unwrap_or(http::StatusCode::FORBIDDEN),
        e.code(),
        e.message(),
    )
}

fn wire_request<'a>(
    parts: &'a http::request::Parts,
    headers: &'a [(&'a str, &'a str)],
    payload: cairn_auth::Payload<'a>,
) -> cairn_auth::Request<'a> {
    cairn_auth::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers,
        payload,
    }
}

fn header_list(parts: &http::request::Parts) -> Vec<(&str, &str)> {
    parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect()
}

/// Authenticates what the request head allows, before any body byte is read.
///
/// # Errors
/// The AWS authentication error (missing or malformed signature, skew, unknown or disabled
/// key, bad session token, unsigned `x-amz-*` headers, wrong signature when checkable).
pub fn authenticate_headers(
    state: &AppState,
    parts: &http::request::Parts,
    now: OffsetDateTime,
) -> Result<HeadAuth, ApiError> {
    let headers = header_list(parts);
    let req = wire_request(parts, &headers, cairn_auth::Payload::Deferred);
    match state.verifier.verify(&req, state.credentials.as_ref(), now) {
        Ok(a) => Ok(HeadAuth {
            region: a.scope.region.clone(),
            service: a.scope.service.clone(),
            verified: Some(a),
        }),
        // Everything but the signature checked out; the signature covers the body's hash.
        Err(AuthError::PayloadRequired) => {
            let parsed = cairn_auth::parse(&req).map_err(|e| auth_error(&e))?;
            Ok(HeadAuth {
                region: parsed.scope.region,
                service: parsed.scope.service,
                verified: None,
            })
        }
        Err(e) => Err(auth_error(&e)),
    }
}

fn caller_of(a: Authenticated, secure_transport: bool) -> Caller {
    let account = a.principal.account_id().unwrap_or_default().to_owned();
    Caller {
        principal: a.principal,
        account,
        access_key_id: a.access_key_id,
        region: a.scope.region,
        service: a.scope.service,
        secure_transport,
    }
}

/// The signer of a request whose head carried a verified signature, before its body is
/// known (to record the refusal of a body that could not be read).
pub fn verified_signer(head: HeadAuth, secure_transport: bool) -> Option<Caller> {
    head.verified.map(|a| caller_of(a, secure_transport))
}

/// Completes authentication with the SHA-256 of the whole body.
///
/// # Errors
/// `SignatureDoesNotMatch`, `XAmzContentSHA256Mismatch`, and the payload modes a service does
/// not accept.
pub fn finish(
    state: &AppState,
    parts: &http::request::Parts,
    head: HeadAuth,
    body_sha256: [u8; 32],
    secure_transport: bool,
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    let a = match head.verified {
        Some(a) => a,
        None => {
            let headers = header_list(parts);
            let req = wire_request(parts, &headers, cairn_auth::Payload::Sha256(body_sha256));
            state
                .verifier
                .verify(&req, state.credentials.as_ref(), now)
                .map_err(|e| auth_error(&e))?
        }
    };
    match a.payload {
        PayloadCheck::Verified => {}
        PayloadCheck::MustMatchSha256(want) if want == body_sha256 => {}
        PayloadCheck::MustMatchSha256(_) => {
            return Err(auth_error(&AuthError::ContentSha256Mismatch));
        }
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
    Ok(caller_of(a, secure_transport))
}

/// Verifies a request whose whole body is at hand (both steps at once), as received over
/// plain HTTP.
///
/// # Errors
/// As [`authenticate_headers`] and [`finish`].
pub fn authenticate(
    state: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    let head = authenticate_headers(state, parts, now)?;
    finish(state, parts, head, Sha256::digest(body).into(), false, now)
}
