//! Authorization cost per request, in process: SigV4 verification of a signed CloudTrail
//! request (`authn::authenticate`, with the server's signing-key cache) followed by policy
//! evaluation (`authz::authorize`: identity policies from the IAM store, AWS's evaluation).
//!
//! * `sigv4/verify_iam_user` — verification alone (the baseline of this run).
//! * `authz/authorize_iam_user` — evaluation alone: an IAM user with
//!   `AWSCloudTrail_ReadOnlyAccess` (managed) and one inline deny calls
//!   `cloudtrail:DescribeTrails`.
//! * `authz/authorize_root` — evaluation alone for the account root (no policies).
//! * `authz/verify_and_authorize_iam_user` — both, as a request pays them.
//!
//! Run: `cargo bench -p cairn-server --bench authz -- --warm-up-time 1 --measurement-time 3`.

mod support;

use support::{KEY, SECRET};

use std::hint::black_box;

use cairn_auth::{Credential, Principal, RequestParts, SignPayload};
use cairn_server::authz::{Access, Environment, authorize};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_data_dir(dir.path());
    let (state, _) = AppState::open(config, Some((KEY.into(), SECRET.into())), None).unwrap();
    let account = state.config.account_id.to_string();
    let user = support::create_reader(&state, &account);
    state
        .iam
        .put_user_policy(
            &account,
            "bench",
            "no-stop",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"cloudtrail:StopLogging","Resource":"*"}}"#,
        )
        .unwrap();
    let (key, secret) = state
        .iam
        .create_access_key(&state.credentials, &account, "bench")
        .unwrap();
    let principal = Principal::IamUser {
        account_id: account.clone(),
        user_name: "bench".into(),
        user_id: user.user_id.clone(),
        path: "/".into(),
    };
    let cred = Credential::long_term(key.access_key_id.clone(), secret, principal);
    let now = time::OffsetDateTime::now_utc();
    let body: &[u8] = b"{}";
    let mut parts = RequestParts {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![
            ("host".into(), "127.0.0.1:4590".into()),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            (
                "x-amz-target".into(),
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails".into(),
            ),
        ],
    };
    cairn_auth::sign(
        &mut parts,
        SignPayload::Body(body),
        &cred,
        "us-east-1",
        "cloudtrail",
        now,
    )
    .unwrap();
    let mut b = http::Request::post("/");
    for (k, v) in &parts.headers {
        b = b.header(k, v);
    }
    let (http_parts, ()) = b.body(()).unwrap().into_parts();
    let env = Environment {
        source_ip: "127.0.0.1".parse().unwrap(),
        secure_transport: false,
        now,
    };
    let access = Access::new("cloudtrail:DescribeTrails", "*");
    let caller = cairn_server::authn::authenticate(&state, &http_parts, body, now).unwrap();
    assert!(authorize(&state, &caller, &env, &access).is_ok());
    let mut root_caller = caller.clone();
    root_caller.principal = Principal::Root {
        account_id: account.clone(),
    };

    let mut g = c.benchmark_group("authorization");
    g.bench_function("sigv4/verify_iam_user", |b| {
        b.iter(|| {
            black_box(
                cairn_server::authn::authenticate(&state, &http_parts, black_box(body), now)
                    .unwrap(),
            )
        })
    });
    g.bench_function("authz/authorize_iam_user", |b| {
        b.iter(|| black_box(authorize(&state, black_box(&caller), &env, &access).is_ok()))
    });
    g.bench_function("authz/authorize_root", |b| {
        b.iter(|| black_box(authorize(&state, black_box(&root_caller), &env, &access).is_ok()))
    });
    g.bench_function("authz/verify_and_authorize_iam_user", |b| {
        b.iter(|| {
            let c = cairn_server::authn::authenticate(&state, &http_parts, black_box(body), now)
                .unwrap();
            black_box(authorize(&state, &c, &env, &access).is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
