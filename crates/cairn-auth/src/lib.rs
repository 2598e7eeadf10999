//! AWS Signature Version 4 verification (and signing) for every API on Cairn's port, plus the
//! identity model CloudTrail records as `userIdentity`.
//!
//! Pure: no I/O, no async, no HTTP framework types. The server hands over the method, the raw
//! path and query string, the header list and the body (or its digest), and an injected clock.
//!
//! # Guarantees
//!
//! * One canonicalisation ([`canonical`]) is used by both [`Verifier::verify`] and [`sign`] /
//!   [`presign`], so our client and server cannot disagree; it is pinned by AWS's SigV4 test
//!   suite and the S3 documentation examples (known-answer tests).
//! * Signatures (and session tokens) are compared in constant time; secrets ([`SecretKey`],
//!   [`SigningKey`]) are redacted in `Debug`/`Display` and zeroised on drop.
//! * Every failure is an [`AuthError`] variant that maps to exactly one AWS error code
//!   ([`AuthError::code`], [`AuthError::s3_code`]) with an AWS-style message; nothing panics on
//!   untrusted input (fuzzed by `fuzz/fuzz_targets/sigv4_parse.rs`).
//! * The server can read the credential scope with [`parse`] to route by service before paying
//!   for verification.
//!
//! Not built: SigV4a (ECDSA) and `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` return
//! [`AuthError::NotImplemented`]; SigV2 is refused as malformed.
//!
//! # Example
//!
//! ```
//! use cairn_auth::{
//!     Credential, Payload, Principal, RequestParts, SignPayload,
//!     StaticCredentialStore, Verifier, sign,
//! };
//! use time::macros::datetime;
//!
//! let cred = Credential::long_term(
//!     "AKIAEXAMPLE",
//!     "secret",
//!     Principal::Root { account_id: "111122223333".into() },
//! );
//! let store = StaticCredentialStore::new().with(cred.clone());
//! let now = datetime!(2026-11-25 12:00:00 UTC);
//!
//! // client side
//! let body = br#"{"Name":"trail"}"#;
//! let mut parts = RequestParts {
//!     method: "POST".into(),
//!     path: "/".into(),
//!     query: String::new(),
//!     headers: vec![
//!         ("host".into(), "localhost:4566".into()),
//!         ("x-amz-target".into(), "CloudTrail_20131101.GetTrail".into()),
//!     ],
//! };
//! sign(&mut parts, SignPayload::Body(body), &cred, "us-east-1", "cloudtrail", now).unwrap();
//!
//! // server side
//! let headers = parts.header_refs();
//! let request = parts.request(&headers, Payload::Body(body));
//! assert_eq!(cairn_auth::parse(&request).unwrap().scope.service, "cloudtrail");
//! let auth = Verifier::default().verify(&request, &store, now).unwrap();
//! assert_eq!(auth.principal.account_id(), Some("111122223333"));
//! ```

pub mod canonical;
mod chunked;
mod credential;
mod error;
mod key;
mod parse;
mod principal;
mod sign;
pub mod time_fmt;
mod verify;

pub use chunked::{
    ChunkVerifier, MAX_CHUNK_SIZE, Trailers, decode_unsigned_trailer, encode_aws_chunked,
};
pub use credential::{Credential, CredentialStore, SecretKey, StaticCredentialStore};
pub use error::{AuthError, ErrorClass, ExpiryKind};
pub use key::{SigningKey, SigningKeyCache, hmac_sha256};
pub use parse::{
    ALGORITHM, AuthLocation, CredentialScope, MAX_PRESIGN_EXPIRES, ParsedAuth, is_presigned_query,
    parse_authorization_header, parse_presigned_query,
};
pub use principal::Principal;
pub use sign::{RequestParts, SignPayload, presign, sign};
pub use verify::{
    Authenticated, MAX_SKEW, Payload, PayloadCheck, Request, STREAMING_PAYLOAD,
    STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, Verifier, parse, verify,
};
