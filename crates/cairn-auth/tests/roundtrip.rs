//! Property tests: whatever we sign verifies, and changing any single byte of a signed
//! component makes verification fail.

mod common;

use cairn_auth::{
    Credential, Payload, Principal, RequestParts, SignPayload, StaticCredentialStore, presign, sign,
};
use common::verify_parts;
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-25 10:00:00 UTC);

fn cred() -> Credential {
    Credential::long_term(
        "AKIAPROPTEST",
        "prop/secret+key",
        Principal::Root {
            account_id: "111122223333".into(),
        },
    )
}

/// Path segments whose every byte matters to the canonical URI (no `.`/`..`, no `%`).
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_~ -]{1,8}"
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|s| format!("/{}", s.join("/")))
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,6}", "[a-zA-Z0-9]{1,8}"), 0..4)
}

fn header_value() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9]{1,5}", 1..4).prop_map(|w| w.join(" "))
}

fn encode_query(q: &[(String, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_path(p: &str) -> String {
    p.replace(' ', "%20")
}

fn check(p: &RequestParts, body: &[u8]) -> bool {
    let store = StaticCredentialStore::new().with(cred());
    verify_parts(p, Payload::Body(body), &store, NOW).is_ok()
}

/// Replaces the byte at `i` (ASCII) by another alphanumeric byte.
/// The byte offsets of the ASCII letters and digits of `s` from offset `from` on.
fn alnum_positions(s: &str, from: usize) -> Vec<usize> {
    s.char_indices()
        .filter(|(i, c)| *i >= from && c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect()
}

fn mutate(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = i % b.len();
    b[i] = if b[i] == b'x' { b'y' } else { b'x' };
    String::from_utf8(b).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sign_then_verify_and_tamper(
        s3 in any::<bool>(),
        path in path(),
        q in query(),
        custom in header_value(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        which in 0usize..6,
        pos in any::<usize>(),
    ) {
        let service = if s3 { "s3" } else { "cloudtrail" };
        let mut p = RequestParts {
            method: "PUT".into(),
            path: encode_path(&path),
            query: encode_query(&q),
            headers: vec![
                ("host".into(), "127.0.0.1:4566".into()),
                ("x-cairn-custom".into(), custom.clone()),
            ],
        };
        sign(&mut p, SignPayload::Body(&body), &cred(), "eu-west-3", service, NOW).unwrap();
        prop_assert!(check(&p, &body));

        let mut t = p.clone();
        let mut tbody = body.clone();
        match which {
            0 => t.method = mutate(&t.method, pos),
            1 => {
                // skip the leading '/' and the '%20' escapes
                let bytes = alnum_positions(&t.path, 1);
                prop_assume!(!bytes.is_empty());
                t.path = mutate(&t.path, bytes[pos % bytes.len()]);
            }
            2 => {
                prop_assume!(!t.query.is_empty());
                let bytes = alnum_positions(&t.query, 0);
                t.query = mutate(&t.query, bytes[pos % bytes.len()]);
            }
            3 => {
                let h = t.headers.iter_mut().find(|(n, _)| n == "x-cairn-custom").unwrap();
                let bytes = alnum_positions(&h.1, 0);
                h.1 = mutate(&h.1, bytes[pos % bytes.len()]);
            }
            4 => {
                if tbody.is_empty() {
                    tbody.push(0);
                } else {
                    let i = pos % tbody.len();
                    tbody[i] ^= 1 << (pos % 8);
                }
            }
            _ => {
                let h = t.headers.iter_mut().find(|(n, _)| n == "authorization").unwrap();
                let sig_start = h.1.rfind('=').unwrap() + 1;
                let i = sig_start + pos % 64;
                let mut b = h.1.clone().into_bytes();
                b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                h.1 = String::from_utf8(b).unwrap();
            }
        }
        prop_assert!(!check(&t, &tbody), "tampered component {} still verified", which);
    }

    #[test]
    fn presign_then_verify(
        s3 in any::<bool>(),
        path in path(),
        q in query(),
        expires in 1u32..=604_800,
        pos in any::<usize>(),
    ) {
        let service = if s3 { "s3" } else { "sts" };
        let mut p = RequestParts {
            method: "GET".into(),
            path: encode_path(&path),
            query: encode_query(&q),
            headers: vec![("host".into(), "localhost".into())],
        };
        presign(&mut p, &cred(), "us-east-1", service, NOW, expires).unwrap();
        prop_assert!(check(&p, b""));
        // any alphanumeric byte of the path or of the query (which holds the signature) matters
        let mut t = p.clone();
        let target = if pos % 2 == 0 { &mut t.path } else { &mut t.query };
        let bytes = alnum_positions(target, 1);
        prop_assume!(!bytes.is_empty());
        *target = mutate(target, bytes[(pos / 2) % bytes.len()]);
        prop_assert!(!check(&t, b""));
    }
}
