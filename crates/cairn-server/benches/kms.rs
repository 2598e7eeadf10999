//! KMS Encrypt + Decrypt over HTTP against an in-process server, with two baselines measured
//! in the same run: `GET /healthz` on the same keep-alive connection (the HTTP stack alone)
//! and raw aws-lc-rs AES-256-GCM seal + open of the same plaintext size.
//!
//! Each KMS call pays SigV4 signing (client) and verification (server), JSON, authorization
//! against the key policy, the AES-GCM work, and an fsync'd audit record in the journal.
//!
//! Run: `cargo bench -p cairn-server --bench kms`.

mod support;

use support::{KEY, SECRET};

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use bytes::Bytes;
use cairn_auth::{Credential, RequestParts};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};

const SIZE: usize = 4096;

fn kms_request(
    addr: SocketAddr,
    cred: &Credential,
    op: &str,
    body: &[u8],
) -> http::Request<Full<Bytes>> {
    let parts = RequestParts {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![
            ("host".into(), addr.to_string()),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), format!("TrentService.{op}")),
        ],
    };
    support::signed(parts, cred, "kms", Bytes::copy_from_slice(body))
}

async fn send(
    s: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
) -> Bytes {
    s.ready().await.unwrap();
    let resp = s.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(status.is_success(), "status {status}: {body:?}");
    body
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_data_dir(dir.path());
    let (state, _) = AppState::open(config, Some((KEY.into(), SECRET.into())), None).unwrap();
    let account = state.config.account_id.to_string();
    let key = state
        .kms
        .create_key(&account, "us-east-1", cairn_kms::CreateKey::default(), 0)
        .unwrap();
    let state = Arc::new(state);
    let rt = support::runtime();
    let cred = support::root_credential(account);
    let (addr, mut conn) = rt.block_on(async {
        let server = cairn_server::serve::Server::bind(state.clone())
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run(std::future::pending()));
        (addr, support::connect(addr).await)
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    let plaintext = b64.encode(vec![7u8; SIZE]);

    let mut g = c.benchmark_group("kms_http");
    g.bench_function("healthz_baseline", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = http::Request::get("/healthz")
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                black_box(send(&mut conn, req).await.len())
            })
        })
    });
    g.bench_function(format!("encrypt_decrypt/{SIZE}"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let body = serde_json::json!({"KeyId": key.key_id, "Plaintext": plaintext, "EncryptionContext": {"k": "v"}});
                let enc = send(&mut conn, kms_request(addr, &cred, "Encrypt", body.to_string().as_bytes())).await;
                let enc: serde_json::Value = serde_json::from_slice(&enc).unwrap();
                let body = serde_json::json!({"CiphertextBlob": enc["CiphertextBlob"], "EncryptionContext": {"k": "v"}});
                let dec = send(&mut conn, kms_request(addr, &cred, "Decrypt", body.to_string().as_bytes())).await;
                black_box(dec.len())
            })
        })
    });
    g.finish();

    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9; 32]).unwrap());
    let rng = SystemRandom::new();
    let data = vec![7u8; SIZE];
    c.bench_function(&format!("raw/seal_open/{SIZE}"), |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            rng.fill(&mut nonce).unwrap();
            let mut buf = data.clone();
            raw.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"ctx"),
                &mut buf,
            )
            .unwrap();
            black_box(
                raw.open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(b"ctx"),
                    &mut buf,
                )
                .unwrap()
                .len(),
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
