//! Control-plane throughput: a load generator on loopback drives an in-process server over
//! HTTP/1.1 keep-alive connections, signing every request with SigV4.
//!
//! Baseline measured in the same run: `GET /healthz` (no authentication, no audit) on the
//! same connections, which is the HTTP stack's own ceiling on this machine. Every CloudTrail
//! call pays SigV4 signing (client) and verification (server), dispatch, and an fsync'd
//! audit record in the journal (group-committed across concurrent requests).
//!
//! Authorization: the same calls signed by an IAM user (`AWSCloudTrail_ReadOnlyAccess`), on
//! a server with authorization on and on a second server in the same process with it off
//! (`Config::iam.authorization = false`, settable only in code, for this comparison).
//!
//! Run: `cargo bench -p cairn-server --bench control_plane` (env `CAIRN_BENCH_SECS`,
//! `CAIRN_BENCH_CONNS` to change the defaults of 5 s and 16 connections).

mod support;

use support::{KEY, SECRET, pct};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_auth::{Credential, Principal, RequestParts};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use http_body_util::{BodyExt, Full};

#[derive(Clone, Copy)]
enum Call {
    Healthz,
    DescribeTrails,
    GetTrailStatus,
}

fn build(call: Call, addr: SocketAddr, cred: &Credential) -> http::Request<Full<Bytes>> {
    let host = addr.to_string();
    match call {
        Call::Healthz => http::Request::get("/healthz")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap(),
        Call::DescribeTrails | Call::GetTrailStatus => {
            let (op, body): (&str, &[u8]) = match call {
                Call::DescribeTrails => ("DescribeTrails", b"{}"),
                _ => ("GetTrailStatus", br#"{"Name":"bench-trail"}"#),
            };
            let parts = RequestParts {
                method: "POST".into(),
                path: "/".into(),
                query: String::new(),
                headers: vec![
                    ("host".into(), host),
                    ("content-type".into(), "application/x-amz-json-1.1".into()),
                    (
                        "x-amz-target".into(),
                        format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}"),
                    ),
                ],
            };
            support::signed(parts, cred, "cloudtrail", Bytes::from_static(body))
        }
    }
}

async fn worker(addr: SocketAddr, call: Call, until: Instant, cred: Credential) -> Vec<Duration> {
    let mut send = support::connect(addr).await;
    let mut lat = Vec::new();
    while Instant::now() < until {
        let req = build(call, addr, &cred);
        let t = Instant::now();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status();
        let _ = resp.into_body().collect().await.unwrap();
        assert!(status.is_success(), "status {status}");
        lat.push(t.elapsed());
    }
    lat
}

struct Target {
    addr: SocketAddr,
    state: Arc<AppState>,
    root: Credential,
    user: Credential,
    _dir: tempfile::TempDir,
}

/// A server with one multi-region trail and an IAM user allowed to read it.
async fn start(authorization: bool) -> Target {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    config.iam.authorization = authorization;
    let (state, _) = AppState::open(config, Some((KEY.into(), SECRET.into())), None).unwrap();
    let account = state.config.account_id.to_string();
    state
        .catalog
        .create_bucket(&cairn_server::model::Bucket {
            name: "bench-logs".into(),
            account_id: account.clone(),
            region: "us-east-1".into(),
            created: 0,
        })
        .unwrap();
    let user = support::create_reader(&state, &account);
    let (key, secret) = state
        .iam
        .create_access_key(&state.credentials, &account, "bench")
        .unwrap();
    let user = Credential::long_term(
        key.access_key_id,
        secret,
        Principal::IamUser {
            account_id: account.clone(),
            user_name: "bench".into(),
            user_id: user.user_id,
            path: "/".into(),
        },
    );
    let root = support::root_credential(account.clone());
    let state = Arc::new(state);
    let server = cairn_server::serve::Server::bind(state.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    let ctx = cairn_server::cloudtrail::CallContext {
        account,
        region: "us-east-1".into(),
        now: time::OffsetDateTime::now_utc(),
    };
    state
        .control
        .call(
            cairn_server::cloudtrail::Operation::CreateTrail,
            &ctx,
            &serde_json::json!({"Name": "bench-trail", "S3BucketName": "bench-logs", "IsMultiRegionTrail": true}),
        )
        .unwrap();
    Target {
        addr,
        state,
        root,
        user,
        _dir: dir,
    }
}

fn main() {
    let secs: u64 = support::env_or("CAIRN_BENCH_SECS", 5);
    let conns: usize = support::env_or("CAIRN_BENCH_CONNS", 16);
    let rt = support::runtime();
    rt.block_on(async move {
        let on = start(true).await;
        let off = start(false).await;
        println!("| call | connections | requests/s | p50 ms | p99 ms | vs /healthz |");
        println!("|---|---|---|---|---|---|");
        let mut baseline = 0.0;
        let runs: [(&str, Call, &Target, &Credential); 7] = [
            ("GET /healthz (baseline)", Call::Healthz, &on, &on.root),
            ("DescribeTrails, root", Call::DescribeTrails, &on, &on.root),
            ("GetTrailStatus, root", Call::GetTrailStatus, &on, &on.root),
            (
                "DescribeTrails, IAM user, authorization on",
                Call::DescribeTrails,
                &on,
                &on.user,
            ),
            (
                "DescribeTrails, IAM user, authorization off",
                Call::DescribeTrails,
                &off,
                &off.user,
            ),
            (
                "GetTrailStatus, IAM user, authorization on",
                Call::GetTrailStatus,
                &on,
                &on.user,
            ),
            (
                "GetTrailStatus, IAM user, authorization off",
                Call::GetTrailStatus,
                &off,
                &off.user,
            ),
        ];
        for (name, call, target, cred) in runs {
            let until = Instant::now() + Duration::from_secs(secs);
            let start = Instant::now();
            let handles: Vec<_> = (0..conns)
                .map(|_| tokio::spawn(worker(target.addr, call, until, cred.clone())))
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.await.unwrap());
            }
            let elapsed = start.elapsed().as_secs_f64();
            all.sort();
            let rps = all.len() as f64 / elapsed;
            if matches!(call, Call::Healthz) {
                baseline = rps;
            }
            println!(
                "| {name} | {conns} | {rps:.0} | {:.2} | {:.2} | {:.2} |",
                pct(&all, 0.5),
                pct(&all, 0.99),
                rps / baseline
            );
        }
        for (label, t) in [("on", &on), ("off", &off)] {
            let stats = t.state.journal.stats();
            println!(
                "\naudit records appended (authorization {label}): {} ({} bytes in the journal)",
                stats.next_seq, stats.total_bytes
            );
        }
    });
}
