//! Request verification.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::canonical::{CanonicalInput, canonical_request, parse_query, string_to_sign};
use crate::chunked::ChunkVerifier;
use crate::credential::{Credential, CredentialStore};
use crate::error::{AuthError, ExpiryKind};
use crate::key::SigningKeyCache;
use crate::parse::{
    AuthLocation, CredentialScope, ParsedAuth, incomplete, is_presigned_query,
    parse_authorization_header, parse_presigned_query,
};
use crate::principal::Principal;
use crate::time_fmt::{format_basic, format_date, parse_basic, parse_http_date};

/// Largest accepted difference between the request time and the server clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// `x-amz-content-sha256` keyword: the payload is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` keyword: aws-chunked body with per-chunk signatures.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` keyword: aws-chunked body, unsigned chunks, trailing checksum.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// What the verifier knows about the body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body.
    Body(&'a [u8]),
    /// The SHA-256 of the whole body, computed by the caller.
    Sha256([u8; 32]),
    /// The body is not read yet (streaming uploads). Only valid when the request carries
    /// `x-amz-content-sha256` (or is an S3 presigned URL); the caller must then honour
    /// [`Authenticated::payload`].
    Deferred,
}

/// A request as seen on the wire, without any HTTP framework types.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ... (as sent; SigV4 is case-sensitive here).
    pub method: &'a str,
    /// The raw (still percent-encoded) path, e.g. `/bucket/a%20b`.
    pub path: &'a str,
    /// The raw query string without `?` (empty when none).
    pub query: &'a str,
    /// Every header as received, repeated names allowed. HTTP/2 servers must include the
    /// `:authority` value as a `host` header.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, its digest, or nothing yet.
    pub payload: Payload<'a>,
}

impl Request<'_> {
    /// The first value of a header (case-insensitive name).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// What the caller still has to check about the body after a successful verification.
#[derive(Debug)]
#[non_exhaustive]
pub enum PayloadCheck {
    /// The body hash was covered by the signature and matched the body: nothing to do.
    Verified,
    /// `UNSIGNED-PAYLOAD` (or an S3 presigned URL): the body is not authenticated.
    Unsigned,
    /// [`Payload::Deferred`] with a hex `x-amz-content-sha256`: the caller must reject the
    /// request with [`AuthError::ContentSha256Mismatch`] unless the body's SHA-256 equals this.
    MustMatchSha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the body is aws-chunked; check every chunk with
    /// this verifier (seeded with the request signature).
    Streaming(ChunkVerifier),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked without chunk signatures; integrity
    /// comes from the trailing checksum, which the caller must check.
    StreamingUnsignedTrailer,
}

/// A verified request.
#[derive(Debug)]
pub struct Authenticated {
    /// Who signed.
    pub principal: Principal,
    /// The access key id used.
    pub access_key_id: String,
    /// The credential scope (region and service are the ones the client signed for).
    pub scope: CredentialScope,
    /// Whether a session token was presented (and matched).
    pub session_token_used: bool,
    /// Presigned URL rather than `Authorization` header.
    pub presigned: bool,
    /// The request time the signature covers.
    pub request_time: OffsetDateTime,
    /// What remains to be checked about the body.
    pub payload: PayloadCheck,
}

/// Finds and parses the signature of a request without verifying it, so the server can route
/// by `scope.service` first.
///
/// # Errors
/// [`AuthError::MissingAuthenticationToken`] when the request is unsigned,
/// [`AuthError::IncompleteSignature`] when it is malformed or uses both header and query.
pub fn parse(request: &Request<'_>) -> Result<ParsedAuth, AuthError> {
    let header = request.header("authorization");
    let presigned = is_presigned_query(request.query);
    match (header, presigned) {
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        )),
        (Some(h), false) => parse_authorization_header(h),
        (None, true) => parse_presigned_query(request.query),
        (None, false) => Err(AuthError::MissingAuthenticationToken),
    }
}

/// Verifies `request` against `store` at time `now`, without a signing-key cache.
///
/// # Errors
/// Any [`AuthError`]; see [`Verifier::verify`].
pub fn verify(
    request: &Request<'_>,
    store: &dyn CredentialStore,
    now: OffsetDateTime,
) -> Result<Authenticated, AuthError> {
    Verifier::with_cache(SigningKeyCache::new(0)).verify(request, store, now)
}

/// A verifier holding a signing-key cache; share one per server.
#[derive(Debug, Default)]
pub struct Verifier {
    cache: SigningKeyCache,
}

fn is_s3(service: &str) -> bool {
    service == "s3"
}

fn is_hex_sha256(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() == 64 && hex::decode_to_slice(s, &mut out).is_ok() {
        Some(out)
    } else {
        None
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare digests so the time depends on neither the length nor the content of the secret.
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Verifier {
    /// A verifier with the given cache.
    #[must_use]
    pub fn with_cache(cache: SigningKeyCache) -> Self {
        Self { cache }
    }

    /// Verifies a request: parse, time window, credential lookup and state, session token,
    /// payload hash, canonical request, signature (constant-time). Checks run in that order,
    /// so a client without the secret learns no more than AWS tells it.
    ///
    /// # Errors
    /// * [`AuthError::MissingAuthenticationToken`]: no signature at all.
    /// * [`AuthError::IncompleteSignature`]: malformed header/query, missing or bad date, scope
    ///   date differing from the request date, `host` not signed.
    /// * [`AuthError::RequestExpired`]: more than 15 minutes of skew, or presigned URL expired.
    /// * [`AuthError::InvalidClientTokenId`]: unknown key, missing or wrong session token.
    /// * [`AuthError::AccessDenied`]: disabled key. [`AuthError::ExpiredToken`]: expired session.
    /// * [`AuthError::HeadersNotSigned`] (S3): an `x-amz-*` header outside `SignedHeaders`.
    /// * [`AuthError::MissingContentSha256`], [`AuthError::InvalidContentSha256`],
    ///   [`AuthError::ContentSha256Mismatch`], [`AuthError::NotImplemented`] (payload modes).
    /// * [`AuthError::SignatureDoesNotMatch`].
    /// * [`AuthError::PayloadRequired`]: [`Payload::Deferred`] where the body hash is needed.
    pub fn verify(
        &self,
        request: &Request<'_>,
        store: &dyn CredentialStore,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AuthError> {
        let parsed = parse(request)?;
        let presigned = matches!(parsed.location, AuthLocation::Query { .. });
        let s3 = is_s3(&parsed.scope.service);

        // 1. request time
        let request_time = request_time(request, &parsed)?;
        let amz_date = format_basic(request_time);
        check_time_window(&parsed, request_time, &amz_date, now)?;

        // 2. credential
        let akid = parsed.scope.access_key_id.clone();
        let presented = match &parsed.location {
            AuthLocation::Query { security_token, .. } => security_token.as_deref(),
            AuthLocation::Header => request.header("x-amz-security-token"),
        }
        .map(str::trim);
        let credential = credential(store, &akid, presented, now)?;

        // 3. signed headers
        let signed = signed_headers(request, &parsed, s3)?;

        // 4. payload hash
        let (payload_hash, mut check) = payload_hash(request, s3, presigned)?;

        // 5. canonical request and signature
        let query = parse_query(request.query);
        let cr = canonical_request(&CanonicalInput {
            method: request.method,
            raw_path: request.path,
            query: &query,
            skip_signature_param: presigned,
            s3,
            signed_headers: &signed,
            headers: request.headers,
            payload_hash: &payload_hash,
        });
        let scope_string = parsed.scope.scope_string();
        let cr = match cr {
            Ok(cr) => cr,
            Err(_missing) => {
                return Err(AuthError::SignatureDoesNotMatch {
                    string_to_sign: String::new(),
                    canonical_request: String::new(),
                });
            }
        };
        let sts = string_to_sign(&amz_date, &scope_string, &cr);
        let key = self.cache.get(
            &akid,
            &credential.secret,
            &parsed.scope.date,
            &parsed.scope.region,
            &parsed.scope.service,
        );
        if !key.verify(&sts, &parsed.signature) {
            return Err(AuthError::SignatureDoesNotMatch {
                string_to_sign: sts,
                canonical_request: cr,
            });
        }

        // 6. body hash, now that the client is known to hold the secret
        if let PayloadCheck::MustMatchSha256(want) = &check
            && let Some(got) = computed_body_hash(&request.payload)
            && got != *want
        {
            return Err(AuthError::ContentSha256Mismatch);
        }
        if payload_hash == STREAMING_PAYLOAD {
            check = PayloadCheck::Streaming(ChunkVerifier::new(
                key,
                amz_date.clone(),
                scope_string,
                parsed.signature.to_ascii_lowercase(),
            ));
        }

        Ok(Authenticated {
            principal: credential.principal.clone(),
            access_key_id: akid,
            scope: parsed.scope,
            session_token_used: presented.is_some(),
            presigned,
            request_time,
            payload: check,
        })
    }
}

/// The request time: `X-Amz-Date` of a presigned URL, else the `x-amz-date` header, else
/// the HTTP `date` header.
fn request_time(request: &Request<'_>, parsed: &ParsedAuth) -> Result<OffsetDateTime, AuthError> {
    match &parsed.location {
        AuthLocation::Query { amz_date, .. } => parse_basic(amz_date).ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\": '{amz_date}'"
            ))
        }),
        AuthLocation::Header => {
            if let Some(d) = request.header("x-amz-date") {
                parse_basic(d.trim()).ok_or_else(|| {
                    incomplete(format!(
                        "Date must be in ISO-8601 'basic format'. Got '{d}'. See \
                         http://en.wikipedia.org/wiki/ISO_8601"
                    ))
                })
            } else if let Some(d) = request.header("date") {
                parse_http_date(d)
                    .ok_or_else(|| incomplete(format!("Date header is not a valid HTTP date: '{d}'")))
            } else {
                Err(incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a \
                     'Date' header.",
                ))
            }
        }
    }
}

/// The credential scope date must be the request's, and the request time within
/// [`MAX_SKEW`] of `now` (a presigned URL: not in the future, and not past its expiry).
fn check_time_window(
    parsed: &ParsedAuth,
    request_time: OffsetDateTime,
    amz_date: &str,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let ymd = format_date(request_time);
    if parsed.scope.date != ymd {
        return Err(incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{ymd}', from '{amz_date}'.",
            parsed.scope.date
        )));
    }
    let expired = |kind| AuthError::RequestExpired {
        kind,
        request_time,
        server_time: now,
    };
    if request_time > now + MAX_SKEW {
        return Err(expired(ExpiryKind::TooNew));
    }
    match &parsed.location {
        AuthLocation::Header if request_time < now - MAX_SKEW => Err(expired(ExpiryKind::TooOld)),
        AuthLocation::Query { expires, .. }
            if now > request_time + time::Duration::seconds(i64::from(*expires)) =>
        {
            Err(expired(ExpiryKind::PresignedExpired))
        }
        _ => Ok(()),
    }
}

/// Looks up the access key and checks its state and the presented session token
/// (constant-time).
fn credential(
    store: &dyn CredentialStore,
    akid: &str,
    presented: Option<&str>,
    now: OffsetDateTime,
) -> Result<Credential, AuthError> {
    let credential =
        store
            .lookup_session(akid, presented)
            .ok_or_else(|| AuthError::InvalidClientTokenId {
                access_key_id: akid.to_owned(),
            })?;
    if !credential.enabled {
        return Err(AuthError::AccessDenied {
            access_key_id: akid.to_owned(),
        });
    }
    if credential.expires_at.is_some_and(|t| now >= t) {
        return Err(AuthError::ExpiredToken {
            access_key_id: akid.to_owned(),
        });
    }
    let token_ok = match (&credential.session_token, presented) {
        (None, None) => true,
        (Some(expected), Some(got)) => ct_eq(expected.as_bytes(), got.as_bytes()),
        _ => false,
    };
    if !token_ok {
        return Err(AuthError::InvalidClientTokenId {
            access_key_id: akid.to_owned(),
        });
    }
    Ok(credential)
}

/// The signed header names; `host` must be among them, and for S3 every `x-amz-*` header
/// sent.
fn signed_headers<'p>(
    request: &Request<'_>,
    parsed: &'p ParsedAuth,
    s3: bool,
) -> Result<Vec<&'p str>, AuthError> {
    let signed: Vec<&str> = parsed.signed_headers.iter().map(String::as_str).collect();
    if !signed.iter().any(|h| h.eq_ignore_ascii_case("host")) {
        return Err(incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if s3 {
        for (name, _) in request.headers {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("x-amz-") && !signed.iter().any(|h| h.eq_ignore_ascii_case(&lower))
            {
                return Err(AuthError::HeadersNotSigned { header: lower });
            }
        }
    }
    Ok(signed)
}

/// The SHA-256 of the body when the verifier has it.
fn computed_body_hash(payload: &Payload<'_>) -> Option<[u8; 32]> {
    match payload {
        Payload::Body(b) => Some(<[u8; 32]>::from(Sha256::digest(b))),
        Payload::Sha256(h) => Some(*h),
        Payload::Deferred => None,
    }
}

/// The payload hash the canonical request ends with (from `x-amz-content-sha256`, or the
/// body's), and what remains to check about the body. A declared hash that differs from the
/// body is reported only after the signature check.
fn payload_hash(
    request: &Request<'_>,
    s3: bool,
    presigned: bool,
) -> Result<(String, PayloadCheck), AuthError> {
    let declared = request.header("x-amz-content-sha256").map(str::trim);
    let mut check = PayloadCheck::Verified;
    let payload_hash: String = match declared {
        Some(UNSIGNED_PAYLOAD) => {
            check = PayloadCheck::Unsigned;
            UNSIGNED_PAYLOAD.to_owned()
        }
        Some(STREAMING_PAYLOAD) => STREAMING_PAYLOAD.to_owned(),
        Some(STREAMING_UNSIGNED_TRAILER) => {
            check = PayloadCheck::StreamingUnsignedTrailer;
            STREAMING_UNSIGNED_TRAILER.to_owned()
        }
        Some(other) if other.starts_with("STREAMING-") => {
            return Err(AuthError::NotImplemented {
                feature: format!("x-amz-content-sha256: {other}"),
            });
        }
        Some(hex_hash) => {
            let Some(want) = is_hex_sha256(hex_hash) else {
                return Err(AuthError::InvalidContentSha256);
            };
            match computed_body_hash(&request.payload) {
                Some(got) if got != want => {
                    // reported only after the signature check
                    check = PayloadCheck::MustMatchSha256(want);
                }
                Some(_) => {}
                None => check = PayloadCheck::MustMatchSha256(want),
            }
            hex_hash.to_owned()
        }
        None if s3 && presigned => {
            check = PayloadCheck::Unsigned;
            UNSIGNED_PAYLOAD.to_owned()
        }
        None if s3 => return Err(AuthError::MissingContentSha256),
        None => match computed_body_hash(&request.payload) {
            Some(h) => hex::encode(h),
            None => return Err(AuthError::PayloadRequired),
        },
    };
    Ok((payload_hash, check))
}
