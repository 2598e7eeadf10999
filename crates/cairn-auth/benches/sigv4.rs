//! Verifications per second: a CloudTrail JSON request (header auth, 300-byte body) and an S3
//! GET, against the baselines in the same run: one HMAC-SHA256 of the string to sign, and
//! SHA-256 of the body.

use std::hint::black_box;

use cairn_auth::{
    Credential, Payload, Principal, RequestParts, SignPayload, SigningKeyCache,
    StaticCredentialStore, Verifier, hmac_sha256, sign,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use time::macros::datetime;

fn bench(c: &mut Criterion) {
    let now = datetime!(2026-11-25 10:00:00 UTC);
    let cred = Credential::long_term(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Principal::Root {
            account_id: "111122223333".into(),
        },
    );
    let store = StaticCredentialStore::new().with(cred.clone());

    // CloudTrail JSON 1.1 request, 300-byte body
    let mut body = br#"{"Name":"management-events","S3BucketName":"cairn-audit-logs","IncludeGlobalServiceEvents":true,"IsMultiRegionTrail":true,"EnableLogFileValidation":true,"TagsList":[{"Key":"team","Value":"security"}],"#.to_vec();
    body.resize(299, b' ');
    body.push(b'}');
    assert_eq!(body.len(), 300);
    let mut ct = RequestParts {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![
            ("host".into(), "localhost:4566".into()),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            (
                "x-amz-target".into(),
                "CloudTrail_20131101.CreateTrail".into(),
            ),
            ("user-agent".into(), "aws-cli/2.15.0".into()),
        ],
    };
    sign(
        &mut ct,
        SignPayload::Body(&body),
        &cred,
        "us-east-1",
        "cloudtrail",
        now,
    )
    .unwrap();
    let ct_headers = ct.header_refs();
    let ct_req = ct.request(&ct_headers, Payload::Body(&body));

    // S3 GET object
    let mut s3 = RequestParts {
        method: "GET".into(),
        path: "/cairn-audit-logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/111122223333_CloudTrail_us-east-1_20261125T1000Z_AbCdEfGh12345678.json.gz".into(),
        query: String::new(),
        headers: vec![("host".into(), "localhost:4566".into())],
    };
    sign(
        &mut s3,
        SignPayload::Body(b""),
        &cred,
        "us-east-1",
        "s3",
        now,
    )
    .unwrap();
    let s3_headers = s3.header_refs();
    let s3_req = s3.request(&s3_headers, Payload::Deferred);

    let cached = Verifier::with_cache(SigningKeyCache::default());
    let uncached = Verifier::with_cache(SigningKeyCache::new(0));
    cached.verify(&ct_req, &store, now).unwrap();
    cached.verify(&s3_req, &store, now).unwrap();

    let mut g = c.benchmark_group("sigv4");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_cloudtrail_json_300B_cached_key", |b| {
        b.iter(|| cached.verify(black_box(&ct_req), &store, now).unwrap());
    });
    g.bench_function("verify_cloudtrail_json_300B_uncached_key", |b| {
        b.iter(|| uncached.verify(black_box(&ct_req), &store, now).unwrap());
    });
    g.bench_function("verify_s3_get_cached_key", |b| {
        b.iter(|| cached.verify(black_box(&s3_req), &store, now).unwrap());
    });
    let sts = "AWS4-HMAC-SHA256\n20261125T100000Z\n20261125/us-east-1/cloudtrail/aws4_request\n\
               7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
    let key = [7u8; 32];
    g.bench_function("baseline_hmac_sha256_string_to_sign", |b| {
        b.iter(|| hmac_sha256(black_box(&key), black_box(sts.as_bytes())));
    });
    g.bench_function("baseline_sha256_body_300B", |b| {
        b.iter(|| Sha256::digest(black_box(&body)));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
