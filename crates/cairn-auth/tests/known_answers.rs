//! Known-answer tests: AWS's SigV4 test suite and the S3 documentation examples, run through
//! the verifier (accepts the published signature, reproduces the published canonical request
//! and string to sign) and through the signer (produces the published signature).

use cairn_auth::{
    AuthError, Credential, Payload, PayloadCheck, Principal, Request, RequestParts, SignPayload,
    StaticCredentialStore, Verifier, presign, sign, time_fmt::parse_basic,
};
use serde_json::Value;
use time::OffsetDateTime;

struct Suite {
    akid: String,
    secret: String,
    region: String,
    service: String,
    time: OffsetDateTime,
    header_cases: Vec<Value>,
    presigned_cases: Vec<Value>,
}

fn load(name: &str) -> Suite {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    Suite {
        akid: s("access_key_id"),
        secret: s("secret"),
        region: s("region"),
        service: s("service"),
        time: parse_basic(&s("time")).unwrap(),
        header_cases: v["header_cases"].as_array().unwrap().clone(),
        presigned_cases: v["presigned_cases"].as_array().unwrap().clone(),
    }
}

fn credential(suite: &Suite, token: Option<&str>) -> Credential {
    let mut c = Credential::long_term(
        suite.akid.clone(),
        suite.secret.clone(),
        Principal::Root {
            account_id: "111122223333".into(),
        },
    );
    c.session_token = token.map(str::to_owned);
    c
}

fn headers(case: &Value) -> Vec<(String, String)> {
    case["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn str_of<'a>(case: &'a Value, k: &str) -> &'a str {
    case[k].as_str().unwrap_or_else(|| panic!("{k} in {case}"))
}

fn verify_case(
    suite: &Suite,
    case: &Value,
    hdrs: &[(String, String)],
    query: &str,
    now: OffsetDateTime,
) -> Result<cairn_auth::Authenticated, AuthError> {
    let token = case["session_token"].as_str();
    let store = StaticCredentialStore::new().with(credential(suite, token));
    let hv: Vec<(&str, &str)> = hdrs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let payload = match case["body"].as_str() {
        Some(b) => Payload::Body(b.as_bytes()),
        None => Payload::Deferred,
    };
    let req = Request {
        method: str_of(case, "method"),
        path: str_of(case, "path"),
        query,
        headers: &hv,
        payload,
    };
    Verifier::default().verify(&req, &store, now)
}

fn authorization(suite: &Suite, case: &Value, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={signature}",
        suite.akid,
        cairn_auth::time_fmt::format_date(suite.time),
        suite.region,
        suite.service,
        str_of(case, "signed_headers"),
    )
}

/// The case's headers plus an `Authorization` header carrying `signature`.
fn signed_headers(suite: &Suite, case: &Value, signature: &str) -> Vec<(String, String)> {
    let mut hdrs = headers(case);
    hdrs.push((
        "Authorization".into(),
        authorization(suite, case, signature),
    ));
    hdrs
}

/// The first header case `pick` accepts.
fn header_case(suite: &Suite, pick: impl Fn(&Value) -> bool) -> &Value {
    suite.header_cases.iter().find(|c| pick(c)).unwrap()
}

/// Asserts that `result` is a signature mismatch reporting the canonical request and string
/// to sign that `case` publishes (those it gives).
fn assert_published_mismatch(case: &Value, result: Result<cairn_auth::Authenticated, AuthError>) {
    let name = str_of(case, "name");
    match result {
        Err(AuthError::SignatureDoesNotMatch {
            canonical_request,
            string_to_sign,
        }) => {
            if let Some(cr) = case["canonical_request"].as_str() {
                assert_eq!(canonical_request, cr, "{name}");
            }
            if let Some(sts) = case["string_to_sign"].as_str() {
                assert_eq!(string_to_sign, sts, "{name}");
            }
        }
        other => panic!("{name}: expected mismatch, got {other:?}"),
    }
}

fn run_header_cases(suite: &Suite) -> usize {
    let mut n = 0;
    for case in &suite.header_cases {
        let name = str_of(case, "name");
        let want_sig = str_of(case, "signature");
        let query = str_of(case, "query");

        // 1. the verifier accepts the published signature
        let mut hdrs = signed_headers(suite, case, want_sig);
        let auth = verify_case(suite, case, &hdrs, query, suite.time)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(auth.scope.service, suite.service, "{name}");
        assert!(!auth.presigned);
        assert_eq!(
            auth.session_token_used,
            case["session_token"].is_string(),
            "{name}"
        );

        // 2. it reproduces the published canonical request and string to sign
        let last = hdrs.len() - 1;
        hdrs[last].1 = authorization(suite, case, &"0".repeat(64));
        assert_published_mismatch(case, verify_case(suite, case, &hdrs, query, suite.time));

        // 3. the signer produces the published signature
        if case["unsigned_token"].as_bool() != Some(true) {
            let mut parts = RequestParts {
                method: str_of(case, "method").into(),
                path: str_of(case, "path").into(),
                query: query.into(),
                headers: headers(case),
            };
            let payload = match case["body"].as_str() {
                Some(b) => SignPayload::Body(b.as_bytes()),
                None => SignPayload::Streaming,
            };
            let cred = credential(suite, case["session_token"].as_str());
            sign(
                &mut parts,
                payload,
                &cred,
                &suite.region,
                &suite.service,
                suite.time,
            )
            .unwrap();
            let authz = parts.header("authorization").unwrap();
            assert!(
                authz.ends_with(&format!(
                    "SignedHeaders={}, Signature={want_sig}",
                    str_of(case, "signed_headers")
                )),
                "{name}: signer produced {authz}"
            );
        }
        n += 1;
    }
    n
}

fn run_presigned_cases(suite: &Suite) -> usize {
    let mut n = 0;
    for case in &suite.presigned_cases {
        let name = str_of(case, "name");
        let query = str_of(case, "query");
        let hdrs = headers(case);
        let auth = verify_case(suite, case, &hdrs, query, suite.time)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(auth.presigned, "{name}");

        // canonical request through a corrupted signature
        let (base, sig) = query.split_once("X-Amz-Signature=").unwrap();
        let want_sig = &sig[..64];
        let bad_query = format!("{base}X-Amz-Signature={}{}", "0".repeat(64), &sig[64..]);
        assert_published_mismatch(
            case,
            verify_case(suite, case, &hdrs, &bad_query, suite.time),
        );

        // presigner: same signature from the unsigned request (non-X-Amz params, Host only)
        let plain_query: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-"))
            .collect();
        let expires = query
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Expires="))
            .unwrap()
            .parse()
            .unwrap();
        let mut parts = RequestParts {
            method: str_of(case, "method").into(),
            path: str_of(case, "path").into(),
            query: plain_query.join("&"),
            headers: vec![("host".into(), hdrs[0].1.clone())],
        };
        presign(
            &mut parts,
            &credential(suite, None),
            &suite.region,
            &suite.service,
            suite.time,
            expires,
        )
        .unwrap();
        assert!(
            parts
                .query
                .ends_with(&format!("X-Amz-Signature={want_sig}")),
            "{name}: presigner produced {}",
            parts.query
        );

        // still valid at the last second, expired one second later
        let last = suite.time + time::Duration::seconds(i64::from(expires));
        assert!(
            verify_case(suite, case, &hdrs, query, last).is_ok(),
            "{name}"
        );
        let err =
            verify_case(suite, case, &hdrs, query, last + time::Duration::seconds(1)).unwrap_err();
        assert_eq!(err.code(), "RequestExpired", "{name}");
        n += 1;
    }
    n
}

#[test]
fn aws_sigv4_test_suite() {
    let suite = load("sigv4-test-suite.json");
    assert_eq!(run_header_cases(&suite), 33);
    assert_eq!(run_presigned_cases(&suite), 3);
}

#[test]
fn s3_documentation_examples() {
    let suite = load("s3-examples.json");
    assert_eq!(run_header_cases(&suite), 5);
    assert_eq!(run_presigned_cases(&suite), 1);
}

/// The multiple-chunk PUT example end to end: seed signature from the headers, then the
/// documented chunk signatures through the verifier handed back by `verify`.
#[test]
fn s3_streaming_example_end_to_end() {
    let suite = load("s3-examples.json");
    let case = header_case(&suite, |c| c["body"].is_null());
    let hdrs = signed_headers(&suite, case, str_of(case, "signature"));
    let auth = verify_case(&suite, case, &hdrs, "", suite.time).unwrap();
    let PayloadCheck::Streaming(mut chunks) = auth.payload else {
        panic!("expected streaming, got {:?}", auth.payload);
    };
    let mut body = Vec::new();
    body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    assert_eq!(chunks.decode(&body).unwrap().len(), 66560);
}

/// `post-sts-header-after`: the token header was added after signing, so it is not signed.
/// Non-S3 services accept that; the verifier still checks the token value.
#[test]
fn unsigned_session_token_header_is_still_checked() {
    let suite = load("sigv4-test-suite.json");
    let case = header_case(&suite, |c| c["name"] == "post-sts-header-after");
    let mut hdrs = signed_headers(&suite, case, str_of(case, "signature"));
    assert!(verify_case(&suite, case, &hdrs, "", suite.time).is_ok());
    let tok = hdrs
        .iter_mut()
        .find(|(n, _)| n == "X-Amz-Security-Token")
        .unwrap();
    tok.1.push('x');
    let err = verify_case(&suite, case, &hdrs, "", suite.time).unwrap_err();
    assert_eq!(err.code(), "InvalidClientTokenId");
}
