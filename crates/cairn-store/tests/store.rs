//! Integration tests: the conformance suite on every backend (memory, the vault in a temporary
//! directory, S3 against a real `moto_server` started here), a model-based property test of
//! vault listing, the configured-bucket factory, and S3 error mapping against fake servers.
//!
//! The moto test needs `python3 -m moto.server` (`pip install 'moto[server]'`); run
//! `./scripts/test.sh`, which installs it. It starts moto once, inside one test, because
//! nextest runs every test in its own process.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::Arc;

use cairn_store::{
    Bucket, BucketConfig, ConditionalPut, ErrorClass, MemoryBucket, PutMode, PutOptions, S3Bucket,
    S3Config, Sse, list_all, testkit,
};
use cairn_vault::{AesSealer, Vault, VaultBucket};
use proptest::prelude::*;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------------
// memory and vault

#[tokio::test]
async fn memory_conformance() {
    let bucket = MemoryBucket::new("conformance");
    testkit::conformance(&bucket).await.unwrap();
    assert!(bucket.is_empty());
}

/// A key service with one fixed data key, so the suite's SSE-KMS puts have a KMS.
#[derive(Debug)]
struct OneKeyKms;

impl cairn_vault::KeyService for OneKeyKms {
    fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        _context: &BTreeMap<String, String>,
    ) -> Result<(zeroize::Zeroizing<[u8; 32]>, Vec<u8>, String), cairn_vault::KeyServiceError> {
        let arn = format!("arn:aws:kms:us-east-1:{account}:key/{key_id}");
        Ok((zeroize::Zeroizing::new([0x5a; 32]), b"one".to_vec(), arn))
    }

    fn decrypt_data_key(
        &self,
        _blob: &[u8],
        _context: &BTreeMap<String, String>,
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, cairn_vault::KeyServiceError> {
        Ok(zeroize::Zeroizing::new([0x5a; 32]))
    }
}

/// A vault bucket (Cairn's one local store) in `dir`, under a fixed test key.
fn vault_bucket(dir: &std::path::Path, name: &str) -> (Arc<Vault>, VaultBucket) {
    let sealer = Arc::new(AesSealer::new(&[7; 32]).unwrap());
    let vault = Arc::new(Vault::open(dir, sealer, Some(Arc::new(OneKeyKms))).unwrap());
    vault
        .ensure_bucket(name, "111122223333", "us-east-1", OffsetDateTime::now_utc())
        .unwrap();
    let bucket = VaultBucket::new(vault.clone(), name);
    (vault, bucket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, bucket) = vault_bucket(dir.path(), "conformance");
    testkit::conformance(&bucket).await.unwrap();
    // Deleting every object left no version behind (the bucket is unversioned).
    let versions = vault
        .list_versions("conformance", "", None, None, None, 1000)
        .unwrap();
    assert!(versions.versions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_objects_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, bucket) = vault_bucket(dir.path(), "trail-logs");
    let key = "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/f.json.gz";
    bucket
        .put(key, Bytes::from_static(b"gz"), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(list_all(&bucket, "").await.unwrap().len(), 1);
    drop((bucket, vault));
    let (_vault, bucket) = vault_bucket(dir.path(), "trail-logs");
    assert_eq!(bucket.get(key).await.unwrap().bytes, "gz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_takes_long_segments_and_cloudtrail_names() {
    let dir = tempfile::tempdir().unwrap();
    let (_vault, bucket) = vault_bucket(dir.path(), "b");
    // A segment the old file-per-object store refused (over NAME_MAX once encoded) is a
    // plain key here: keys are rows, not file names.
    let key = format!("a/{}", "é".repeat(60));
    bucket
        .put(&key, Bytes::new(), PutOptions::default())
        .await
        .unwrap();
    // CloudTrail's longest names: a backfill digest of a 128-character trail name.
    let name = format!(
        "111122223333_CloudTrail-Digest_ap-northeast-1_{}_us-west-2_20231015T230404Z_backfill.json.gz",
        "t".repeat(128)
    );
    bucket
        .put(
            &format!("AWSLogs/111122223333/CloudTrail-Digest/ap-northeast-1/2023/10/15/{name}"),
            Bytes::new(),
            PutOptions::default(),
        )
        .await
        .unwrap();
    // Keys the crate's rules refuse are refused before any I/O.
    let err = bucket
        .put("../x", Bytes::new(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput);
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "B", "-", "/", "0", "é", "%", "."]),
        1..6,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("valid key", |k| cairn_store::validate_key(k).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Vault listing agrees with the in-memory model (a `BTreeMap`) for any keys, prefix,
    /// marker and page size.
    #[test]
    fn vault_listing_matches_model(
        keys in prop::collection::btree_set(key_strategy(), 0..14),
        queries in prop::collection::vec(
            ("[ab/é-]{0,3}", prop::option::of("[aBb/0é.-]{0,4}"), 1usize..5),
            4,
        ),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (_vault, local) = vault_bucket(dir.path(), "p");
            let model = MemoryBucket::new("p");
            for k in &keys {
                local.put(k, Bytes::from(k.clone()), PutOptions::default()).await.unwrap();
                model.put(k, Bytes::from(k.clone()), PutOptions::default()).await.unwrap();
            }
            for (prefix, marker, max) in &queries {
                let got = local.list(prefix, marker.as_deref(), *max).await.unwrap();
                let want = model.list(prefix, marker.as_deref(), *max).await.unwrap();
                let names = |p: &cairn_store::ListPage| p.entries.iter().map(|e| e.key.clone()).collect::<Vec<_>>();
                assert_eq!(names(&got), names(&want), "prefix {prefix:?} marker {marker:?} max {max}");
                assert_eq!(got.is_truncated, want.is_truncated);
                assert_eq!(got.next_marker, want.next_marker);
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_builds_vault_and_s3_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, _) = vault_bucket(&dir.path().join("buckets"), "other");
    let owner = cairn_vault::Owner {
        account: "111122223333",
        region: "us-east-1",
    };
    let cfg: BucketConfig = toml::from_str("backend = \"local\"").unwrap();
    let bucket = cairn_vault::open_bucket("trail-logs", &cfg, &vault, dir.path(), owner).unwrap();
    assert_eq!((bucket.name(), bucket.backend()), ("trail-logs", "vault"));
    bucket
        .put("k", Bytes::from_static(b"v"), PutOptions::default())
        .await
        .unwrap();
    // One name space: the configured bucket is the shared vault's bucket of that name.
    assert_eq!(vault.bucket("trail-logs").unwrap().account, "111122223333");
    assert_eq!(vault.get_object("trail-logs", "k", None).unwrap().1, b"v");

    // With `root`, a vault of its own at that directory.
    let root = dir.path().join("elsewhere");
    let cfg: BucketConfig = toml::from_str(&format!(
        "backend = \"local\"\nroot = {:?}",
        root.display().to_string()
    ))
    .unwrap();
    let own = cairn_vault::open_bucket("kept", &cfg, &vault, dir.path(), owner).unwrap();
    own.put("k", Bytes::from_static(b"w"), PutOptions::default())
        .await
        .unwrap();
    assert!(root.join("vault.sqlite").is_file());
    assert!(vault.bucket("kept").is_err());

    let cfg: BucketConfig = toml::from_str(
        "backend = \"s3\"\nendpoint_url = \"http://127.0.0.1:9\"\nbucket = \"remote\"\n\
         force_path_style = true\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
    )
    .unwrap();
    let bucket = cairn_vault::open_bucket("trail-logs", &cfg, &vault, dir.path(), owner).unwrap();
    assert_eq!((bucket.name(), bucket.backend()), ("trail-logs", "s3"));
}

// ---------------------------------------------------------------------------------------------
// S3 against moto

/// A `moto_server` child process, killed on drop. The launcher also exits when its stdin
/// closes, so the server dies with the test process even if the test is killed.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MOTO_LAUNCHER: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_moto() -> Moto {
    let probe = Command::new("python3")
        .args(["-c", "import moto.server"])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_owned(),
        ),
        Err(e) => Some(format!("cannot run python3: {e}")),
    };
    if let Some(why) = why {
        panic!(
            "moto is not installed ({why}); run the README test command `./scripts/test.sh`, \
             which installs `moto[server]`"
        );
    }
    let port = free_port();
    let child = Command::new("python3")
        .args(["-c", MOTO_LAUNCHER, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn python3 for moto_server");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    moto
}

/// One raw HTTP/1.1 request; returns status, lower-cased headers and body. Moto does not check
/// signatures but treats requests without `Authorization` as anonymous, so a dummy one is sent.
fn http(port: u16, method: &str, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=00\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn s3_bucket(port: u16, remote: &str, conditional_put: ConditionalPut) -> S3Bucket {
    let mut cfg = S3Config::for_endpoint(format!("http://127.0.0.1:{port}"));
    cfg.bucket = Some(remote.to_owned());
    cfg.force_path_style = true;
    cfg.access_key_id = Some("testing".to_owned());
    cfg.secret_access_key = Some(cairn_store::Secret::new("testing"));
    cfg.conditional_put = conditional_put;
    S3Bucket::new("trail-logs", cfg.resolve("trail-logs", |_| None).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_against_moto() {
    let moto = tokio::task::spawn_blocking(start_moto).await.unwrap();
    let port = moto.port;
    for remote in ["cairn-conformance", "cairn-fallback"] {
        let (status, _, body) = http(port, "PUT", &format!("/{remote}"));
        assert_eq!(status, 200, "create bucket {remote}: {body}");
    }

    // The whole suite, with put-if-absent as If-None-Match.
    let bucket = s3_bucket(port, "cairn-conformance", ConditionalPut::IfNoneMatch);
    testkit::conformance(&bucket).await.unwrap();

    // Wire format seen by other S3 clients (aws cloudtrail validate-logs): metadata headers
    // and SSE headers.
    let mut meta = BTreeMap::new();
    meta.insert("Signature".to_owned(), "ab12".to_owned());
    meta.insert("Signature-Algorithm".to_owned(), "SHA256withRSA".to_owned());
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz";
    let opts = PutOptions {
        user_metadata: meta,
        sse: Sse::S3,
        ..PutOptions::default()
    };
    bucket
        .put(digest, Bytes::from_static(b"digest"), opts)
        .await
        .unwrap();
    let (status, headers, _) = http(port, "HEAD", &format!("/cairn-conformance/{digest}"));
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("x-amz-meta-signature").map(String::as_str),
        Some("ab12")
    );
    assert_eq!(
        headers
            .get("x-amz-meta-signature-algorithm")
            .map(String::as_str),
        Some("SHA256withRSA")
    );
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption")
            .map(String::as_str),
        Some("AES256")
    );
    let kms = Sse::Kms {
        key_id: "alias/cairn-logs".to_owned(),
    };
    let opts = PutOptions {
        sse: kms,
        ..PutOptions::default()
    };
    bucket
        .put("kms/f", Bytes::from_static(b"x"), opts)
        .await
        .unwrap();
    let (_, headers, _) = http(port, "HEAD", "/cairn-conformance/kms/f");
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption")
            .map(String::as_str),
        Some("aws:kms")
    );
    assert!(
        headers
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .is_some_and(|v| v.contains("alias/cairn-logs")),
        "{headers:?}"
    );
    // A listing by another client (ListObjects v1 with Marker) sees the same order.
    let (status, _, xml) = http(
        port,
        "GET",
        "/cairn-conformance?prefix=AWSLogs/&marker=AWSLogs/0",
    );
    assert_eq!(status, 200);
    assert!(xml.contains(digest), "{xml}");

    // The HEAD-then-PUT fallback keeps sequential put-if-absent semantics.
    let fallback = s3_bucket(port, "cairn-fallback", ConditionalPut::HeadThenPut);
    fallback
        .put("k", Bytes::from_static(b"1"), PutOptions::default())
        .await
        .unwrap();
    let err = fallback
        .put("k", Bytes::from_static(b"2"), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::AlreadyExists);
    let over = PutOptions {
        mode: PutMode::Overwrite,
        ..PutOptions::default()
    };
    fallback
        .put("k", Bytes::from_static(b"3"), over)
        .await
        .unwrap();
    assert_eq!(fallback.get("k").await.unwrap().bytes, "3");

    // A bucket that does not exist on the service.
    let missing = s3_bucket(port, "no-such-bucket", ConditionalPut::IfNoneMatch);
    assert_eq!(
        missing.get("k").await.unwrap_err().class(),
        ErrorClass::NotFound
    );
    drop(moto);
}

// ---------------------------------------------------------------------------------------------
// S3 failure classes against fake servers

fn s3_at(addr: SocketAddr, request_timeout_ms: u64) -> S3Bucket {
    let mut cfg = S3Config::for_endpoint(format!("http://{addr}"));
    cfg.force_path_style = true;
    cfg.access_key_id = Some("AKIDEXAMPLE".to_owned());
    cfg.secret_access_key = Some(cairn_store::Secret::new("secret"));
    cfg.request_timeout_ms = request_timeout_ms;
    S3Bucket::new("b", cfg.resolve("b", |_| None).unwrap()).unwrap()
}

/// Serves every request with `status` (or never answers when `status` is 0).
async fn fake_server(status: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn s3_status_codes_map_to_classes() {
    for (status, class) in [
        (503, ErrorClass::Transient),
        (500, ErrorClass::Transient),
        (429, ErrorClass::Transient),
        (403, ErrorClass::Unauthorized),
        (401, ErrorClass::Unauthorized),
        (404, ErrorClass::NotFound),
        (400, ErrorClass::Internal),
    ] {
        let bucket = s3_at(fake_server(status).await, 5_000);
        let err = bucket.get("k").await.unwrap_err();
        assert_eq!(err.class(), class, "GET answered {status}: {err:?}");
        if status != 404 {
            let err = bucket.list("", None, 10).await.unwrap_err();
            assert_eq!(err.class(), class, "LIST answered {status}: {err:?}");
        }
    }
}

#[tokio::test]
async fn s3_request_timeout_is_transient() {
    let bucket = s3_at(fake_server(0).await, 300);
    let started = Instant::now();
    let err = bucket.head("k").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn s3_outage_is_transient_and_fast() {
    // A port where nothing listens: connection refused, no internal retries.
    let port = free_port();
    let bucket = s3_at(SocketAddr::from(([127, 0, 0, 1], port)), 30_000);
    for attempt in 0..2 {
        let started = Instant::now();
        let err = bucket
            .put("k", Bytes::from_static(b"x"), PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
        assert!(err.is_retryable());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "attempt {attempt} took {:?}",
            started.elapsed()
        );
    }
    let err = bucket.list("", None, 10).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
}
