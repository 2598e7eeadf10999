//! The signer: same canonicalisation code as the verifier, so client and server agree.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::canonical::{
    CanonicalInput, EMPTY_SHA256, canonical_request, parse_query, string_to_sign, uri_encode,
};
use crate::chunked::ChunkVerifier;
use crate::credential::Credential;
use crate::error::AuthError;
use crate::key::SigningKey;
use crate::parse::{ALGORITHM, MAX_PRESIGN_EXPIRES};
use crate::time_fmt::{format_basic, format_date};
use crate::verify::{Payload, Request, STREAMING_PAYLOAD, UNSIGNED_PAYLOAD};

/// An owned request to be signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestParts {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Raw, already percent-encoded path as it will be sent.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Headers as they will be sent; must include `host`.
    pub headers: Vec<(String, String)>,
}

impl RequestParts {
    /// The first value of a header (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers as borrowed pairs, for [`crate::Request::headers`].
    #[must_use]
    pub fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// These parts as the verifier's [`Request`], over `headers` (from [`Self::header_refs`]).
    #[must_use]
    pub fn request<'a>(
        &'a self,
        headers: &'a [(&'a str, &'a str)],
        payload: Payload<'a>,
    ) -> Request<'a> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            payload,
        }
    }

    fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// What the signature says about the body.
#[derive(Debug, Clone, Copy)]
pub enum SignPayload<'a> {
    /// Hash this body.
    Body(&'a [u8]),
    /// `UNSIGNED-PAYLOAD` (S3 only in practice).
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the body will be aws-chunked; use the returned
    /// [`ChunkVerifier`] with [`crate::encode_aws_chunked`].
    Streaming,
}

/// Headers never signed (botocore's list): proxies and clients rewrite them.
const UNSIGNED_HEADERS: [&str; 4] = ["authorization", "user-agent", "expect", "x-amzn-trace-id"];

fn signed_header_names(parts: &RequestParts) -> Vec<String> {
    let mut names: Vec<String> = parts
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| !UNSIGNED_HEADERS.contains(&n.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn signing_input_error(reason: &str) -> AuthError {
    AuthError::IncompleteSignature {
        reason: format!("cannot sign: {reason}"),
    }
}

/// Everything about one signing operation except the request.
struct SignCtx<'a> {
    presigned: bool,
    s3: bool,
    payload_hash: &'a str,
    amz_date: &'a str,
    scope: &'a str,
    key: &'a SigningKey,
}

fn compute_signature(
    parts: &RequestParts,
    signed: &[String],
    ctx: &SignCtx<'_>,
) -> Result<String, AuthError> {
    let headers = parts.header_refs();
    let signed: Vec<&str> = signed.iter().map(String::as_str).collect();
    let query = parse_query(&parts.query);
    let cr = canonical_request(&CanonicalInput {
        method: &parts.method,
        raw_path: &parts.path,
        query: &query,
        skip_signature_param: ctx.presigned,
        s3: ctx.s3,
        signed_headers: &signed,
        headers: &headers,
        payload_hash: ctx.payload_hash,
    })
    .map_err(|_| signing_input_error("a signed header is missing"))?;
    Ok(ctx.key.sign(&string_to_sign(ctx.amz_date, ctx.scope, &cr)))
}

/// Signs `parts` in place with an `Authorization` header: sets `x-amz-date`,
/// `x-amz-security-token` (when the credential has one), `x-amz-content-sha256` (S3 always,
/// other services when the payload is unsigned or streaming), then `authorization`. Every
/// header present is signed except `authorization`, `user-agent`, `expect`, `x-amzn-trace-id`.
///
/// Returns the chunk signer for [`SignPayload::Streaming`].
///
/// # Errors
/// [`AuthError::IncompleteSignature`] when `parts` has no `host` header.
pub fn sign(
    parts: &mut RequestParts,
    payload: SignPayload<'_>,
    credential: &Credential,
    region: &str,
    service: &str,
    now: OffsetDateTime,
) -> Result<Option<ChunkVerifier>, AuthError> {
    if parts.header("host").is_none() {
        return Err(signing_input_error("no host header"));
    }
    let s3 = service == "s3";
    let amz_date = format_basic(now);
    let date = format_date(now);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    for h in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        parts.remove_header(h);
    }
    parts.headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = &credential.session_token {
        parts
            .headers
            .push(("x-amz-security-token".into(), token.clone()));
    }
    let payload_hash = match payload {
        SignPayload::Body(b) => hex::encode(Sha256::digest(b)),
        SignPayload::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
        SignPayload::Streaming => STREAMING_PAYLOAD.to_owned(),
    };
    if s3 || !matches!(payload, SignPayload::Body(_)) {
        parts
            .headers
            .push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    let signed = signed_header_names(parts);
    let key = SigningKey::derive(&credential.secret, &date, region, service);
    let ctx = SignCtx {
        presigned: false,
        s3,
        payload_hash: &payload_hash,
        amz_date: &amz_date,
        scope: &scope,
        key: &key,
    };
    let signature = compute_signature(parts, &signed, &ctx)?;
    parts.headers.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            credential.access_key_id,
            signed.join(";")
        ),
    ));
    Ok(matches!(payload, SignPayload::Streaming)
        .then(|| ChunkVerifier::new(key, amz_date, scope, signature)))
}

fn push_query_param(query: &mut String, name: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    uri_encode(query, name.as_bytes(), true);
    query.push('=');
    uri_encode(query, value.as_bytes(), true);
}

/// Presigns `parts` in place by appending the `X-Amz-*` query parameters. S3 signs
/// `UNSIGNED-PAYLOAD`; other services sign the empty-body hash (presigned requests carry no
/// body). Headers present are signed as in [`sign`].
///
/// # Errors
/// [`AuthError::IncompleteSignature`] when there is no `host` header, `expires_secs` is outside
/// 1..=604800, or the query already has presign parameters.
pub fn presign(
    parts: &mut RequestParts,
    credential: &Credential,
    region: &str,
    service: &str,
    now: OffsetDateTime,
    expires_secs: u32,
) -> Result<(), AuthError> {
    if parts.header("host").is_none() {
        return Err(signing_input_error("no host header"));
    }
    if !(1..=MAX_PRESIGN_EXPIRES).contains(&expires_secs) {
        return Err(signing_input_error("expiry outside 1..=604800 seconds"));
    }
    if crate::parse::is_presigned_query(&parts.query) || parts.header("authorization").is_some() {
        return Err(signing_input_error("request is already signed"));
    }
    let s3 = service == "s3";
    let amz_date = format_basic(now);
    let date = format_date(now);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let signed = signed_header_names(parts);
    let mut q = std::mem::take(&mut parts.query);
    push_query_param(&mut q, "X-Amz-Algorithm", ALGORITHM);
    push_query_param(
        &mut q,
        "X-Amz-Credential",
        &format!("{}/{scope}", credential.access_key_id),
    );
    push_query_param(&mut q, "X-Amz-Date", &amz_date);
    push_query_param(&mut q, "X-Amz-Expires", &expires_secs.to_string());
    push_query_param(&mut q, "X-Amz-SignedHeaders", &signed.join(";"));
    if let Some(token) = &credential.session_token {
        push_query_param(&mut q, "X-Amz-Security-Token", token);
    }
    parts.query = q;
    let payload_hash = if s3 { UNSIGNED_PAYLOAD } else { EMPTY_SHA256 };
    let key = SigningKey::derive(&credential.secret, &date, region, service);
    let ctx = SignCtx {
        presigned: true,
        s3,
        payload_hash,
        amz_date: &amz_date,
        scope: &scope,
        key: &key,
    };
    let signature = compute_signature(parts, &signed, &ctx)?;
    push_query_param(&mut parts.query, "X-Amz-Signature", &signature);
    Ok(())
}
