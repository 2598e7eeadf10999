//! Set-up shared by the cairn-server benches (`mod support;` in each; not a bench itself).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cairn_auth::{Credential, Principal, RequestParts, SignPayload};
use cairn_server::state::AppState;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The root access key the benches open the server with.
pub(crate) const KEY: &str = "AKIACAIRNBENCH000001";
/// Its secret.
pub(crate) const SECRET: &str = "cairn-bench-secret-0123456789abcdefghij";

/// The 2-worker multi-thread runtime every bench drives the server on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The root credential of `account`, under [`KEY`]/[`SECRET`].
pub(crate) fn root_credential(account: String) -> Credential {
    Credential::long_term(
        KEY,
        SECRET,
        Principal::Root {
            account_id: account,
        },
    )
}

/// The `p` quantile (0..=1) of `sorted` latencies, in milliseconds.
pub(crate) fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A user `bench` in `account` with `AWSCloudTrail_ReadOnlyAccess` attached.
pub(crate) fn create_reader(state: &AppState, account: &str) -> cairn_iam::User {
    let user = state.iam.create_user(account, "bench", "/").unwrap();
    state
        .iam
        .attach_user_policy(
            account,
            "bench",
            "arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess",
            true,
        )
        .unwrap();
    user
}

/// `parts` signed by `cred` for `service` in `us-east-1` over `body`, now, as a request.
pub(crate) fn signed(
    mut parts: RequestParts,
    cred: &Credential,
    service: &str,
    body: Bytes,
) -> http::Request<Full<Bytes>> {
    cairn_auth::sign(
        &mut parts,
        SignPayload::Body(&body),
        cred,
        "us-east-1",
        service,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let mut b = http::Request::builder()
        .method(parts.method.as_str())
        .uri(parts.path.as_str());
    for (k, v) in &parts.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(body)).unwrap()
}

/// A keep-alive HTTP/1.1 connection to `addr` (Nagle off), its driver spawned on the
/// current runtime.
pub(crate) async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// The environment variable `name` parsed as a `T`, or `default` when unset or unparsable.
pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
