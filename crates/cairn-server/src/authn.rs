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
    ApiError::from(e.clone())
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

/// How an authenticated body is framed on the wire.
#[derive(Debug)]
pub enum Framing {
    /// The body is the payload.
    Plain,
    /// S3 `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked with chained chunk signatures.
    SignedChunks(cairn_auth::ChunkVerifier),
    /// S3 `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked with a trailing checksum (what
    /// botocore and the AWS CLI send for uploads over HTTPS).
    UnsignedTrailer,
}

/// The payload of an authenticated body: aws-chunked framing removed, chunk signatures and
/// trailing checksums (CRC32, SHA-256) checked, `x-amz-decoded-content-length` enforced.
///
/// # Errors
/// `IncompleteBody` (broken framing or length), `SignatureDoesNotMatch` (chunk signature),
/// `BadDigest` (checksum), `NotImplemented` (a checksum algorithm Cairn does not compute).
pub fn decode_body(
    framing: Framing,
    body: bytes::Bytes,
    headers: &http::HeaderMap,
) -> Result<bytes::Bytes, ApiError> {
    let data = match framing {
        Framing::Plain => return Ok(body),
        Framing::SignedChunks(mut v) => v.decode(&body).map_err(|e| auth_error(&e))?,
        Framing::UnsignedTrailer => {
            let (data, trailers) =
                cairn_auth::decode_unsigned_trailer(&body).map_err(|e| auth_error(&e))?;
            for (name, value) in &trailers {
                let Some(algorithm) = name.strip_prefix("x-amz-checksum-") else {
                    continue;
                };
                use base64::Engine as _;
                let computed = match algorithm {
                    "crc32" => crc32fast::hash(&data).to_be_bytes().to_vec(),
                    "sha256" => Sha256::digest(&data).to_vec(),
                    other => {
                        return Err(ApiError::with_status(
                            http::StatusCode::NOT_IMPLEMENTED,
                            "NotImplemented",
                            format!("the {other} checksum is not supported; use CRC32 or SHA256"),
                        ));
                    }
                };
                if base64::engine::general_purpose::STANDARD.encode(computed) != *value {
                    return Err(ApiError::client(
                        "BadDigest",
                        format!(
                            "The {algorithm} you specified did not match the calculated checksum."
                        ),
                    ));
                }
            }
            data
        }
    };
    let declared = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n != data.len()) {
        return Err(ApiError::client(
            "IncompleteBody",
            "The decoded body does not match x-amz-decoded-content-length",
        ));
    }
    Ok(bytes::Bytes::from(data))
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
) -> Result<(Caller, Framing), ApiError> {
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
    let s3 = a.scope.service == "s3";
    let mut a = a;
    let framing = match std::mem::replace(&mut a.payload, PayloadCheck::Verified) {
        PayloadCheck::Verified => Framing::Plain,
        PayloadCheck::MustMatchSha256(want) if want == body_sha256 => Framing::Plain,
        PayloadCheck::MustMatchSha256(_) => {
            return Err(auth_error(&AuthError::ContentSha256Mismatch));
        }
        // Presigned URLs and UNSIGNED-PAYLOAD leave the body unauthenticated, which AWS
        // allows; streaming (aws-chunked) bodies only make sense for S3 uploads.
        PayloadCheck::Unsigned if a.presigned || s3 => Framing::Plain,
        PayloadCheck::Streaming(v) if s3 => Framing::SignedChunks(v),
        PayloadCheck::StreamingUnsignedTrailer if s3 => Framing::UnsignedTrailer,
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
    };
    Ok((caller_of(a, secure_transport), framing))
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
    match finish(state, parts, head, Sha256::digest(body).into(), false, now)? {
        (caller, Framing::Plain) => Ok(caller),
        _ => Err(ApiError::with_status(
            http::StatusCode::BAD_REQUEST,
            "NotImplemented",
            "aws-chunked bodies are decoded by the HTTP front only",
        )),
    }
}
