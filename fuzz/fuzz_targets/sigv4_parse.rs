//! Arbitrary Authorization headers, query strings, paths and header lists through the SigV4
//! parser and verifier against a fixed credential store: must never panic.
#![no_main]

use cairn_auth::{
    Credential, Payload, Principal, Request, StaticCredentialStore, Verifier,
    parse_authorization_header, parse_presigned_query, time_fmt::parse_basic,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // fields separated by '\n': authorization, query, path, method, then header lines
    let mut fields = text.split('\n');
    let authz = fields.next().unwrap_or("");
    let query = fields.next().unwrap_or("");
    let path = fields.next().unwrap_or("/");
    let method = fields.next().unwrap_or("GET");
    let mut headers: Vec<(&str, &str)> = fields.filter_map(|l| l.split_once(':')).collect();

    let _ = parse_authorization_header(authz);
    let _ = parse_presigned_query(query);

    let mut cred = Credential::long_term(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Principal::Root {
            account_id: "111122223333".into(),
        },
    );
    let store_long = StaticCredentialStore::new().with(cred.clone());
    cred.access_key_id = "ASIDEXAMPLE".into();
    cred.session_token = Some("token".into());
    let store = store_long.with(cred);

    let Some(now) = parse_basic("20150830T123600Z") else {
        return;
    };
    let verifier = Verifier::default();
    for payload in [Payload::Body(data), Payload::Deferred] {
        let req = Request {
            method,
            path,
            query,
            headers: &headers,
            payload,
        };
        let _ = verifier.verify(&req, &store, now);
    }
    if !authz.is_empty() {
        headers.push(("authorization", authz));
        headers.push(("x-amz-date", "20150830T123600Z"));
        headers.push(("host", "example.amazonaws.com"));
        let req = Request {
            method,
            path,
            query,
            headers: &headers,
            payload: Payload::Body(data),
        };
        if let Err(e) = verifier.verify(&req, &store, now) {
            let _ = (e.code(), e.s3_code(), e.message(), e.http_status());
        }
    }
});
