//! Shared test helpers: a monitor on a temp dir, a loopback HTTP server, and
//! the shared CloudTrail records.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_monitor::{ManualClock, Monitor, MonitorConfig, RetryPolicy};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const NOW: i64 = 1_700_000_000_000;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

pub fn monitor_with(config: MonitorConfig) -> (tempfile::TempDir, Arc<ManualClock>, Arc<Monitor>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let m = Monitor::open_with(dir.path(), clock.clone(), config).unwrap();
    (dir, clock, Arc::new(m))
}

pub fn fast_config() -> MonitorConfig {
    MonitorConfig {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 10,
            max_delay_ms: 50,
        },
        http_timeout_ms: 300,
        ..MonitorConfig::default()
    }
}

/// Creates the log group `name` in [`ACCOUNT`]/[`REGION`].
pub fn create_log_group(m: &Monitor, name: &str) {
    logs(m, "CreateLogGroup", json!({"logGroupName": name}));
}

/// The AWS docs example of a root `ConsoleLogin`, as record JSON text.
pub fn root_console_login() -> String {
    docs_records()
        .into_iter()
        .find(|r| r["userIdentity"]["type"] == "Root" && r["eventName"] == "ConsoleLogin")
        .unwrap()
        .to_string()
}

pub fn monitor() -> (tempfile::TempDir, Arc<ManualClock>, Arc<Monitor>) {
    monitor_with(fast_config())
}

/// Every record of the invictus-ir `{"Records":[...]}` files, in file order.
pub fn invictus_records() -> Vec<Value> {
    let dir = data_dir().join("cloudtrail/invictus-ir-sigma-aws");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        out.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

/// The first `n` invictus-ir records, as JSON text.
pub fn invictus_texts(n: usize) -> Vec<String> {
    invictus_records()
        .iter()
        .take(n)
        .map(|r| r.to_string())
        .collect()
}

/// The first invictus-ir record of the event `name`.
pub fn invictus_event(name: &str) -> Value {
    invictus_records()
        .into_iter()
        .find(|r| r["eventName"] == name)
        .unwrap()
}

/// Each text stamped [`NOW`]: a batch for `Monitor::ingest_trail_events`.
pub fn at_now(texts: &[String]) -> Vec<(i64, &str)> {
    texts.iter().map(|s| (NOW, s.as_str())).collect()
}

/// A CloudWatch Logs call in [`ACCOUNT`]/[`REGION`] that must succeed.
pub fn logs(m: &Monitor, op: &str, body: Value) -> Value {
    m.logs_call(op, ACCOUNT, REGION, &body)
        .unwrap_or_else(|e| panic!("{op}: {} {e}", e.code()))
}

/// A CloudWatch call in [`ACCOUNT`]/[`REGION`] that must succeed.
pub fn cloudwatch(m: &Monitor, op: &str, body: Value) -> Value {
    m.cloudwatch_call(op, ACCOUNT, REGION, &body)
        .unwrap_or_else(|e| panic!("{op}: {} {e}", e.code()))
}

/// The AWS CloudTrail User Guide example records.
pub fn docs_records() -> Vec<Value> {
    std::fs::read_to_string(
        data_dir().join("cloudtrail/aws-docs-examples/cloudtrail_user_guide_examples.ndjson"),
    )
    .unwrap()
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
    .collect()
}

/// A request the loopback server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    /// Reads a request whole (a body that fails to arrive reads as empty), stamped now.
    pub async fn read(req: hyper::Request<hyper::body::Incoming>) -> Self {
        let path = req.uri().path().to_string();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Self {
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers.
pub enum Reply {
    Status(u16, String),
    /// Wait, then answer 200 (used to provoke client timeouts).
    Hang(Duration),
}

pub type Responder = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

pub struct TestServer {
    pub url: String,
    pub log: Arc<Mutex<Vec<Received>>>,
    pub rx: tokio::sync::mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an HTTP/1.1 server on 127.0.0.1:0 answering with `responder`.
pub async fn start_server(responder: Responder) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let log2 = log.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log2.clone();
            let tx = tx.clone();
            let responder = responder.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    let tx = tx.clone();
                    let responder = responder.clone();
                    async move {
                        let r = Received::read(req).await;
                        let idx = {
                            let mut l = log.lock().unwrap();
                            l.push(r.clone());
                            l.len() - 1
                        };
                        let _ = tx.send(r.clone());
                        let (status, text) = match responder(&r, idx) {
                            Reply::Status(s, t) => (s, t),
                            Reply::Hang(d) => {
                                tokio::time::sleep(d).await;
                                (200, String::new())
                            }
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    TestServer { url, log, rx, task }
}

pub fn ok_server() -> Responder {
    Arc::new(|_, _| Reply::Status(200, String::new()))
}
