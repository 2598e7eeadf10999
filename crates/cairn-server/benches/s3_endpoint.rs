//! S3 endpoint throughput and latency: PUT and GET of small (4 KiB) and large (8 MiB) objects
//! through an in-process server over HTTP/1.1 keep-alive connections, SigV4-signed (payload
//! hashed, as the AWS CLI does over plain HTTP), with SSE-S3 and with SSE-KMS (a fake key
//! service wrapping data keys with AES-256-GCM in process).
//!
//! Baseline measured in the same run, with the same sizes and concurrency: the local
//! filesystem's raw writes (create, write, fsync) and reads of the same payloads, with no
//! HTTP, no SigV4, no encryption, no metadata and no audit. Every S3 call additionally pays
//! the vault's durable put (temp file + fsync + rename + directory fsync + SQLite commit) or
//! decrypting read, authorization, and an fsync'd audit record (a data event) in the journal.
//!
//! Run: `cargo bench -p cairn-server --bench s3_endpoint` (env `CAIRN_BENCH_SECS`, default 3).

mod support;

use support::{KEY, SECRET, pct};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_auth::{Credential, RequestParts};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use cairn_vault::{AesSealer, KeyService, KeyServiceError, Sealer};
use http_body_util::{BodyExt, Full};
use zeroize::Zeroizing;

/// A stand-in KMS: data keys sealed with AES-256-GCM under one in-process key.
#[derive(Debug)]
struct FakeKms(AesSealer);

impl KeyService for FakeKms {
    fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>, String), KeyServiceError> {
        let pt: [u8; 32] = cairn_server::secrets::random_bytes()
            .map_err(|e| KeyServiceError::Other(e.to_string()))?;
        let ctx = serde_json::to_string(context).unwrap_or_default();
        let blob = self.0.seal(&ctx, &pt).map_err(KeyServiceError::Other)?;
        Ok((
            Zeroizing::new(pt),
            blob,
            format!("arn:aws:kms:us-east-1:{account}:key/{key_id}"),
        ))
    }

    fn decrypt_data_key(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<[u8; 32]>, KeyServiceError> {
        let ctx = serde_json::to_string(context).unwrap_or_default();
        let pt = self
            .0
            .open(&ctx, blob)
            .map_err(KeyServiceError::InvalidCiphertext)?;
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&pt);
        Ok(k)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Put,
    Get,
}

fn request(
    op: Op,
    addr: SocketAddr,
    cred: &Credential,
    key: &str,
    body: &Bytes,
    kms: bool,
) -> http::Request<Full<Bytes>> {
    let mut headers = vec![("host".to_owned(), addr.to_string())];
    if op == Op::Put && kms {
        headers.push(("x-amz-server-side-encryption".into(), "aws:kms".into()));
        headers.push((
            "x-amz-server-side-encryption-aws-kms-key-id".into(),
            "bench-key".into(),
        ));
    }
    let parts = RequestParts {
        method: if op == Op::Put { "PUT" } else { "GET" }.into(),
        path: format!("/bench/{key}"),
        query: String::new(),
        headers,
    };
    let payload = if op == Op::Put {
        body.clone()
    } else {
        Bytes::new()
    };
    support::signed(parts, cred, "s3", payload)
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    addr: SocketAddr,
    op: Op,
    until: Instant,
    cred: Credential,
    body: Bytes,
    prefix: String,
    count: u64,
    kms: bool,
    seq: Arc<AtomicU64>,
) -> Vec<Duration> {
    let mut send = support::connect(addr).await;
    let mut lat = Vec::new();
    while Instant::now() < until {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        // PUTs write fresh keys; GETs cycle over the keys written before.
        let key = format!("{prefix}/{}", if op == Op::Put { n } else { n % count });
        let req = request(op, addr, &cred, &key, &body, kms);
        send.ready().await.unwrap();
        let t = Instant::now();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status();
        let got = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(status.is_success(), "status {status}: {got:?}");
        if op == Op::Get {
            assert_eq!(got.len(), body.len());
        }
        lat.push(t.elapsed());
    }
    lat
}

struct Row {
    ops: f64,
    mbps: f64,
    p50: f64,
    p99: f64,
}

fn summarize(mut lat: Vec<Duration>, elapsed: f64, size: usize) -> Row {
    lat.sort();
    let ops = lat.len() as f64 / elapsed;
    Row {
        ops,
        mbps: ops * size as f64 / 1e6,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
    }
}

/// The baseline: raw file writes (create, write, fsync) or reads, on `conns` threads.
fn raw_fs(dir: &std::path::Path, op: Op, size: usize, conns: usize, secs: f64) -> Row {
    use std::io::Write;
    let body = vec![0x5au8; size];
    let count = 16usize;
    if op == Op::Get {
        for i in 0..count {
            std::fs::write(dir.join(format!("r{size}-{i}")), &body).unwrap();
        }
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let (dir, body, seq) = (dir.to_owned(), body.clone(), seq.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while Instant::now() < until {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if op == Op::Put {
                        let mut f =
                            std::fs::File::create(dir.join(format!("w{size}-{n}"))).unwrap();
                        f.write_all(&body).unwrap();
                        f.sync_all().unwrap();
                    } else {
                        let got =
                            std::fs::read(dir.join(format!("r{size}-{}", n as usize % count)))
                                .unwrap();
                        assert_eq!(got.len(), size);
                    }
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    summarize(all, start.elapsed().as_secs_f64(), size)
}

fn main() {
    let secs: f64 = support::env_or("CAIRN_BENCH_SECS", 3.0);
    let dir = tempfile::tempdir().unwrap();
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let config = Config::for_data_dir(&dir.path().join("data"));
    let (state, _) = AppState::open(config, Some((KEY.into(), SECRET.into())), None).unwrap();
    let kms = FakeKms(AesSealer::new(&cairn_server::secrets::random_bytes().unwrap()).unwrap());
    assert!(state.buckets.vault().set_key_service(Arc::new(kms)));
    let account = state.config.account_id.to_string();
    state
        .buckets
        .vault()
        .create_bucket(
            "bench",
            &account,
            "us-east-1",
            false,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    let state = Arc::new(state);
    let rt = support::runtime();
    let cred = support::root_credential(account);
    println!("| operation | size | connections | ops/s | MB/s | p50 ms | p99 ms | vs raw fs |");
    println!("|---|---|---|---|---|---|---|---|");
    rt.block_on(async move {
        let server = cairn_server::serve::Server::bind(state.clone()).await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run(std::future::pending()));
        for (size, label, conns) in [(4096usize, "4 KiB", 8usize), (8 << 20, "8 MiB", 2)] {
            let body = Bytes::from(vec![0xa5u8; size]);
            for op in [Op::Put, Op::Get] {
                let base = raw_fs(&raw_dir, op, size, conns, secs);
                let name = if op == Op::Put { "PUT" } else { "GET" };
                println!(
                    "| raw fs {} (baseline) | {label} | {conns} | {:.0} | {:.1} | {:.2} | {:.2} | 1.00 |",
                    if op == Op::Put { "write+fsync" } else { "read" },
                    base.ops,
                    base.mbps,
                    base.p50,
                    base.p99
                );
                for kms in [false, true] {
                    let prefix = format!("{label}-{}", if kms { "kms" } else { "s3" }).replace(' ', "");
                    // GETs read the objects the PUT phase wrote.
                    let count = 16u64;
                    if op == Op::Get {
                        let mut send = support::connect(addr).await;
                        for i in 0..count {
                            let req = request(Op::Put, addr, &cred, &format!("{prefix}/{i}"), &body, kms);
                            send.ready().await.unwrap();
                            let r = send.send_request(req).await.unwrap();
                            let st = r.status();
                            let _ = r.into_body().collect().await;
                            assert!(st.is_success(), "{st}");
                        }
                    }
                    let until = Instant::now() + Duration::from_secs_f64(secs);
                    let seq = Arc::new(AtomicU64::new(count));
                    let start = Instant::now();
                    let handles: Vec<_> = (0..conns)
                        .map(|_| {
                            tokio::spawn(worker(
                                addr,
                                op,
                                until,
                                cred.clone(),
                                body.clone(),
                                format!("{prefix}{}", if op == Op::Put { "-w" } else { "" }),
                                count,
                                kms,
                                seq.clone(),
                            ))
                        })
                        .collect();
                    let mut all = Vec::new();
                    for h in handles {
                        all.extend(h.await.unwrap());
                    }
                    let row = summarize(all, start.elapsed().as_secs_f64(), size);
                    println!(
                        "| {name} {} | {label} | {conns} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} |",
                        if kms { "SSE-KMS (fake KMS)" } else { "SSE-S3" },
                        row.ops,
                        row.mbps,
                        row.p50,
                        row.p99,
                        row.ops / base.ops
                    );
                }
            }
        }
        let stats = state.journal.stats();
        println!(
            "\naudit records appended: {} ({} bytes in the journal)",
            stats.next_seq, stats.total_bytes
        );
    });
}
