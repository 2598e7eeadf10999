//! What the in-process router tests share: a server around a temporary data directory, SigV4
//! signing, a non-admin IAM user, and the journal's records.

#![allow(unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use cairn_auth::{Credential, Principal, RequestParts, SignPayload};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The root access key the test server is bootstrapped with.
pub const KEY: &str = "AKIACAIRNROUTERTEST1";
/// Its secret.
pub const SECRET: &str = "cairn-router-test-secret-0123456789abcd";

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts `status` and an S3 XML error body carrying `<Code>code</Code>`.
    pub fn assert_xml_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let text = self.text();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub service: &'static str,
    pub method: &'static str,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(service: &'static str, method: &'static str, path: &str) -> Self {
        Self {
            service,
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON-protocol call: `POST /` with `X-Amz-Target`.
    pub fn json(service: &'static str, target: &str, body: Value) -> Self {
        let mut r = Self::new(service, "POST", "/");
        r.headers
            .push(("content-type".into(), "application/x-amz-json-1.1".into()));
        r.headers.push(("x-amz-target".into(), target.to_owned()));
        r.body = body.to_string().into_bytes();
        r
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
}

/// A router around a fresh data directory.
pub struct TestServer {
    pub state: Arc<AppState>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let (state, _) = AppState::open(config, Some((KEY.into(), SECRET.into())), None).unwrap();
        let state = Arc::new(state);
        Self {
            router: cairn_server::http::router(state.clone()),
            state,
            _dir: dir,
        }
    }

    pub fn account(&self) -> String {
        self.state.config.account_id.to_string()
    }

    pub fn root(&self) -> Credential {
        Credential::long_term(
            KEY,
            SECRET,
            Principal::Root {
                account_id: self.account(),
            },
        )
    }

    /// The root credential with a wrong secret.
    pub fn forged(&self) -> Credential {
        Credential::long_term(
            KEY,
            "not-the-secret-0000000000000000000000000",
            Principal::Root {
                account_id: self.account(),
            },
        )
    }

    /// Sends `req` unsigned.
    pub async fn unsigned(&self, req: &Req) -> Answer {
        self.send(build(req, req.headers.clone())).await
    }

    /// Sends `req` signed with `cred` for its service in us-east-1.
    pub async fn signed(&self, req: &Req, cred: &Credential) -> Answer {
        let mut parts = RequestParts {
            method: req.method.into(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
        };
        parts.headers.push(("host".into(), "localhost".into()));
        cairn_auth::sign(
            &mut parts,
            SignPayload::Body(&req.body),
            cred,
            "us-east-1",
            req.service,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        self.send(build(req, parts.headers)).await
    }

    async fn send(&self, mut r: http::Request<axum::body::Body>) -> Answer {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        r.extensions_mut().insert(ConnectInfo(peer));
        let resp = self.router.clone().oneshot(r).await.unwrap();
        let (parts, body) = resp.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// An IAM user with an access key and no policy: denied every action.
    pub async fn plain_user(&self) -> Credential {
        let root = self.root();
        let call = |action: &str| {
            Req::new("iam", "POST", "/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("Action={action}&UserName=plain&Version=2010-05-08"))
        };
        let a = self.signed(&call("CreateUser"), &root).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let a = self.signed(&call("CreateAccessKey"), &root).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let text = a.text();
        let key = between(&text, "<AccessKeyId>", "</AccessKeyId>");
        let secret = between(&text, "<SecretAccessKey>", "</SecretAccessKey>");
        Credential::long_term(
            key,
            secret,
            Principal::IamUser {
                account_id: self.account(),
                user_name: "plain".into(),
                user_id: "AIDAPLAIN".into(),
                path: "/".into(),
            },
        )
    }

    /// Sends `unsigned` without a signature and `forged` signed with [`Self::forged`]: both
    /// are refused (403) with the JSON codes `MissingAuthenticationToken` and
    /// `SignatureDoesNotMatch`, and neither is recorded. Returns the two answers.
    pub async fn assert_json_auth_refused(&self, unsigned: &Req, forged: &Req) -> [Answer; 2] {
        let a = self.unsigned(unsigned).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        assert_eq!(a.json()["__type"], "MissingAuthenticationToken");
        let b = self.signed(forged, &self.forged()).await;
        assert_eq!(b.status, StatusCode::FORBIDDEN, "{}", b.text());
        assert_eq!(b.json()["__type"], "SignatureDoesNotMatch");
        assert!(
            self.events().is_empty(),
            "unauthenticated calls are not recorded"
        );
        [a, b]
    }

    /// Sends `req` as `cred`, asserts a JSON `AccessDeniedException` (400) and returns the
    /// journal record named `event`, after asserting it carries the same error code.
    pub async fn assert_json_denied(&self, req: &Req, cred: &Credential, event: &str) -> Value {
        let a = self.signed(req, cred).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
        assert_eq!(a.json()["__type"], "AccessDeniedException");
        let e = self.last_event(event);
        assert_eq!(e["errorCode"], "AccessDeniedException");
        e
    }

    /// Every record in the journal, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let mut reader = self.state.journal.reader(0).unwrap();
        let mut out = Vec::new();
        loop {
            let batch = reader.try_next_batch(1024).unwrap();
            if batch.is_empty() {
                return out;
            }
            for r in batch {
                let env = cairn_server::pipeline::envelope::decode(&r.payload).unwrap();
                out.push(serde_json::from_slice(env.record).unwrap());
            }
        }
    }

    /// The last record named `name`.
    pub fn last_event(&self, name: &str) -> Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["eventName"] == name)
            .unwrap_or_else(|| panic!("no {name} record in the journal"))
    }
}

fn build(req: &Req, headers: Vec<(String, String)>) -> http::Request<axum::body::Body> {
    let uri = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut b = http::Request::builder().method(req.method).uri(uri);
    for (k, v) in &headers {
        b = b.header(k, v);
    }
    if !headers.iter().any(|(k, _)| k == "host") {
        b = b.header("host", "localhost");
    }
    b.body(axum::body::Body::from(req.body.clone())).unwrap()
}

/// The text of `s` between the first `a` and the next `b`.
pub fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let i = s.find(a).unwrap_or_else(|| panic!("{a} not in {s}")) + a.len();
    let j = s[i..].find(b).unwrap() + i;
    &s[i..j]
}

/// Asserts a generic internal error: no detail, an error id.
pub fn assert_generic_internal(message: &str) {
    assert!(
        message.starts_with("an internal error occurred (error id "),
        "{message}"
    );
}
