//! Every `AuthError` reachable through `verify`, each from a minimally broken request.

mod common;

use cairn_auth::{
    AuthError, Credential, ErrorClass, ExpiryKind, Payload, PayloadCheck, Principal, RequestParts,
    SignPayload, StaticCredentialStore, presign, sign,
};
use common::verify_parts;
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-25 10:00:00 UTC);
const BODY: &[u8] = br#"{"Name":"management-events","S3BucketName":"audit"}"#;

fn cred() -> Credential {
    Credential::long_term(
        "AKIAEXAMPLE0000001",
        "secret/one",
        Principal::Root {
            account_id: "111122223333".into(),
        },
    )
}

fn temp_cred() -> Credential {
    let mut c = Credential::long_term(
        "ASIAEXAMPLE0000002",
        "secret/two",
        Principal::IamUser {
            account_id: "111122223333".into(),
            user_name: "alice".into(),
            user_id: "AIDAEXAMPLE".into(),
            path: "/".into(),
        },
    );
    c.session_token = Some("FwoGZXIvYXdzEXAMPLETOKEN".into());
    c.expires_at = Some(NOW + Duration::hours(1));
    c
}

fn store() -> StaticCredentialStore {
    StaticCredentialStore::new().with(cred()).with(temp_cred())
}

fn parts(service: &str) -> RequestParts {
    let path = if service == "s3" {
        "/audit/key.json"
    } else {
        "/"
    };
    RequestParts {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        headers: vec![
            ("Host".into(), "localhost:4566".into()),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
    }
}

fn signed(service: &str, c: &Credential) -> RequestParts {
    signed_at(service, c, NOW)
}

fn signed_at(service: &str, c: &Credential, now: OffsetDateTime) -> RequestParts {
    let mut p = parts(service);
    sign(
        &mut p,
        SignPayload::Body(BODY),
        c,
        "us-east-1",
        service,
        now,
    )
    .unwrap();
    p
}

fn run(p: &RequestParts, payload: Payload<'_>, now: OffsetDateTime) -> Result<(), AuthError> {
    run_with(p, payload, now, &store())
}

fn run_with(
    p: &RequestParts,
    payload: Payload<'_>,
    now: OffsetDateTime,
    store: &StaticCredentialStore,
) -> Result<(), AuthError> {
    verify_parts(p, payload, store, now).map(|_| ())
}

fn set_header(p: &mut RequestParts, name: &str, value: &str) {
    p.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    p.headers.push((name.into(), value.into()));
}

fn code(r: Result<(), AuthError>) -> &'static str {
    r.unwrap_err().code()
}

/// The error code verifying `p` over `BODY` at `NOW` fails with.
fn refused(p: &RequestParts) -> &'static str {
    code(run(p, Payload::Body(BODY), NOW))
}

/// `p` with `from` replaced by `to` in its authorization header.
fn with_authz(p: &RequestParts, from: &str, to: &str) -> RequestParts {
    let mut p = p.clone();
    let authz = p.header("authorization").unwrap().replace(from, to);
    set_header(&mut p, "authorization", &authz);
    p
}

#[test]
fn baseline_requests_verify() {
    for service in ["cloudtrail", "s3", "kms"] {
        run(&signed(service, &cred()), Payload::Body(BODY), NOW).unwrap();
        run(&signed(service, &temp_cred()), Payload::Body(BODY), NOW).unwrap();
    }
}

#[test]
fn missing_authentication_token() {
    let err = run(&parts("cloudtrail"), Payload::Body(BODY), NOW).unwrap_err();
    assert_eq!(err, AuthError::MissingAuthenticationToken);
    assert_eq!(err.code(), "MissingAuthenticationToken");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn incomplete_signature_cases() {
    let good = signed("cloudtrail", &cred());

    let p = with_authz(&good, ", Signature=", ", Sig=");
    assert_eq!(refused(&p), "IncompleteSignature");

    // no date at all
    let mut p = good.clone();
    p.headers.retain(|(n, _)| n != "x-amz-date");
    let err = run(&p, Payload::Body(BODY), NOW).unwrap_err();
    assert!(
        err.message().contains("'X-Amz-Date' or a 'Date'"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::BadRequest);

    // malformed date
    let mut p = good.clone();
    set_header(&mut p, "x-amz-date", "2026-11-25T10:00:00Z");
    assert_eq!(refused(&p), "IncompleteSignature");

    // scope date differs from the request date
    let p = with_authz(&good, "/20261125/", "/20261124/");
    let err = run(&p, Payload::Body(BODY), NOW).unwrap_err();
    assert!(
        err.message().starts_with("Date in Credential scope"),
        "{err:?}"
    );

    // host not signed
    let p = with_authz(
        &good,
        "SignedHeaders=content-type;host;",
        "SignedHeaders=content-type;",
    );
    assert_eq!(refused(&p), "IncompleteSignature");

    // header and query auth together
    let mut p = good.clone();
    p.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256".into();
    assert_eq!(refused(&p), "IncompleteSignature");
}

#[test]
fn invalid_client_token_id_cases() {
    // unknown key
    let mut other = cred();
    other.access_key_id = "AKIAUNKNOWN".into();
    let err = run(&signed("cloudtrail", &other), Payload::Body(BODY), NOW).unwrap_err();
    assert_eq!(err.code(), "InvalidClientTokenId");
    assert_eq!(err.s3_code(), "InvalidAccessKeyId");
    assert_eq!(
        err.message(),
        "The security token included in the request is invalid."
    );

    // temporary key without its token
    let mut no_token = temp_cred();
    no_token.session_token = None;
    assert_eq!(
        refused(&signed("cloudtrail", &no_token)),
        "InvalidClientTokenId"
    );

    // temporary key with a wrong token
    let mut wrong = temp_cred();
    wrong.session_token = Some("FwoGZXIvYXdzEXAMPLETOKEn".into());
    assert_eq!(
        refused(&signed("cloudtrail", &wrong)),
        "InvalidClientTokenId"
    );

    // long-term key with a token
    let mut with_token = cred();
    with_token.session_token = Some("x".into());
    assert_eq!(
        refused(&signed("cloudtrail", &with_token)),
        "InvalidClientTokenId"
    );
}

#[test]
fn signature_does_not_match_cases() {
    let mut bad_secret = cred();
    bad_secret.secret = "secret/One".into();
    let err = run(&signed("cloudtrail", &bad_secret), Payload::Body(BODY), NOW).unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert!(err.message().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));

    // different body, non-S3 (the body hash is in the canonical request)
    let p = signed("cloudtrail", &cred());
    assert_eq!(
        code(run(&p, Payload::Body(b"{}"), NOW)),
        "SignatureDoesNotMatch"
    );
    // a signed header removed
    let mut p = signed("cloudtrail", &cred());
    p.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    assert_eq!(refused(&p), "SignatureDoesNotMatch");
    // method, path, query changed
    for edit in [
        |p: &mut RequestParts| p.method = "PUT".into(),
        |p: &mut RequestParts| p.path = "/x".into(),
        |p: &mut RequestParts| p.query = "a=b".into(),
    ] {
        let mut p = signed("cloudtrail", &cred());
        edit(&mut p);
        assert_eq!(refused(&p), "SignatureDoesNotMatch");
    }
}

#[test]
fn request_expired_cases() {
    let p = signed("cloudtrail", &cred());
    // exactly 15 minutes either way is fine
    run(&p, Payload::Body(BODY), NOW + Duration::minutes(15)).unwrap();
    run(&p, Payload::Body(BODY), NOW - Duration::minutes(15)).unwrap();

    let err = run(&p, Payload::Body(BODY), NOW + Duration::minutes(16)).unwrap_err();
    assert!(matches!(
        err,
        AuthError::RequestExpired {
            kind: ExpiryKind::TooOld,
            ..
        }
    ));
    assert_eq!(err.code(), "RequestExpired");
    assert_eq!(err.s3_code(), "RequestTimeTooSkewed");
    assert!(
        err.message()
            .starts_with("Signature expired: 20261125T100000Z")
    );

    let err = run(&p, Payload::Body(BODY), NOW - Duration::minutes(16)).unwrap_err();
    assert!(matches!(
        err,
        AuthError::RequestExpired {
            kind: ExpiryKind::TooNew,
            ..
        }
    ));

    // presigned: valid for its whole lifetime, then expired
    let mut p = parts("s3");
    p.method = "GET".into();
    p.headers.truncate(1);
    presign(&mut p, &cred(), "us-east-1", "s3", NOW, 3600).unwrap();
    run(&p, Payload::Deferred, NOW + Duration::minutes(59)).unwrap();
    let err = run(&p, Payload::Deferred, NOW + Duration::minutes(61)).unwrap_err();
    assert!(matches!(
        err,
        AuthError::RequestExpired {
            kind: ExpiryKind::PresignedExpired,
            ..
        }
    ));
    assert_eq!(err.s3_code(), "AccessDenied");
    assert_eq!(err.message(), "Request has expired");
}

#[test]
fn expired_token() {
    let p = signed("cloudtrail", &temp_cred());
    let err = run(&p, Payload::Body(BODY), NOW + Duration::hours(1)).unwrap_err();
    // the request time is also stale here, so use a freshly signed request at expiry
    assert_eq!(err.code(), "RequestExpired");
    let later = NOW + Duration::hours(1);
    let p = signed_at("cloudtrail", &temp_cred(), later);
    let err = run(&p, Payload::Body(BODY), later).unwrap_err();
    assert_eq!(err.code(), "ExpiredToken");
    assert_eq!(
        err.message(),
        "The security token included in the request is expired"
    );
}

#[test]
fn access_denied_for_disabled_key() {
    let mut disabled = cred();
    disabled.enabled = false;
    let store = StaticCredentialStore::new().with(disabled);
    let err = run_with(
        &signed("cloudtrail", &cred()),
        Payload::Body(BODY),
        NOW,
        &store,
    )
    .unwrap_err();
    assert_eq!(err.code(), "AccessDenied");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn s3_payload_rules() {
    // unsigned x-amz-* header
    let mut p = signed("s3", &cred());
    p.headers.push(("x-amz-acl".into(), "public-read".into()));
    let err = run(&p, Payload::Body(BODY), NOW).unwrap_err();
    assert_eq!(
        err,
        AuthError::HeadersNotSigned {
            header: "x-amz-acl".into()
        }
    );

    // header auth without x-amz-content-sha256
    let mut p = with_authz(&signed("s3", &cred()), "x-amz-content-sha256;", "");
    p.headers.retain(|(n, _)| n != "x-amz-content-sha256");
    assert_eq!(
        run(&p, Payload::Body(BODY), NOW).unwrap_err(),
        AuthError::MissingContentSha256
    );

    // garbage x-amz-content-sha256
    let mut p = signed("s3", &cred());
    set_header(&mut p, "x-amz-content-sha256", "not-a-hash");
    assert_eq!(
        run(&p, Payload::Body(BODY), NOW).unwrap_err(),
        AuthError::InvalidContentSha256
    );

    // body differs from the signed hash: signature is fine, body is not
    let p = signed("s3", &cred());
    let err = run(&p, Payload::Body(b"tampered"), NOW).unwrap_err();
    assert_eq!(err, AuthError::ContentSha256Mismatch);
    assert_eq!(err.code(), "XAmzContentSHA256Mismatch");

    // deferred body: the caller gets the hash to check
    let auth = verify_parts(&p, Payload::Deferred, &store(), NOW).unwrap();
    let PayloadCheck::MustMatchSha256(h) = auth.payload else {
        panic!("{:?}", auth.payload)
    };
    assert_eq!(h.as_slice(), Sha256::digest(BODY).as_slice());

    // unsigned payload
    let mut p = parts("s3");
    sign(
        &mut p,
        SignPayload::Unsigned,
        &cred(),
        "us-east-1",
        "s3",
        NOW,
    )
    .unwrap();
    run(&p, Payload::Body(b"anything"), NOW).unwrap();
}

#[test]
fn not_implemented_and_payload_required() {
    let mut p = signed("s3", &cred());
    set_header(
        &mut p,
        "x-amz-content-sha256",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    );
    let err = run(&p, Payload::Deferred, NOW).unwrap_err();
    assert_eq!(err.code(), "NotImplemented");
    assert_eq!(err.http_status(), 501);

    let p = with_authz(
        &signed("cloudtrail", &cred()),
        "AWS4-HMAC-SHA256",
        "AWS4-ECDSA-P256-SHA256",
    );
    assert_eq!(refused(&p), "NotImplemented");

    let p = signed("cloudtrail", &cred());
    let err = run(&p, Payload::Deferred, NOW).unwrap_err();
    assert_eq!(err, AuthError::PayloadRequired);
    assert_eq!(err.class(), ErrorClass::Internal);
    // the digest form works instead of the body
    run(&p, Payload::Sha256(Sha256::digest(BODY).into()), NOW).unwrap();
}
