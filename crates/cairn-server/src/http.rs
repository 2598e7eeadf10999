//! The HTTP front: one port, every API. Requests are authenticated with SigV4 and routed by
//! the credential scope's service name (`cloudtrail`, later `s3`, `kms`, `logs`, ...) and, for
//! JSON protocols, by `X-Amz-Target`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit::{CallRecord, event_for};
use crate::authz::{Access, Environment};
use crate::cloudtrail::{CallContext, Operation, TARGET_PREFIX};
use crate::error::ApiError;
use crate::iam::api::Service as QueryService;
use crate::state::AppState;

/// Largest request body read at all: bulk ingest takes whole CloudTrail log files (≤ 50 MB),
/// S3 PutObject / UploadPart take objects. A body over its operation's limit (below) but under
/// this one is still read, hashed and discarded, so that the refusal of a correctly signed call
/// can be recorded; beyond this the connection is refused unrecorded.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Control-plane JSON and query APIs (CloudTrail, KMS, IAM, STS, CloudWatch): AWS's own
/// request documents are far smaller (policies ≤ 10 KB, KMS plaintext ≤ 4 KB).
pub const CONTROL_PLANE_MAX_BODY: usize = 1024 * 1024;
/// CloudWatch Logs: PutLogEvents takes batches of up to 1,048,576 bytes of messages, which
/// JSON escaping can enlarge.
pub const LOGS_MAX_BODY: usize = 4 * 1024 * 1024;
/// CloudTrail Data PutAuditEvents: at most 100 events or 1 MB per call.
pub const PUT_AUDIT_EVENTS_MAX_BODY: usize = 1024 * 1024;
/// Requests served at once; more are answered with a 503 at once.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 512;
/// Request-body bytes held in memory at once, over every request.
pub const MAX_IN_FLIGHT_BODY_BYTES: usize = 256 * 1024 * 1024;
/// Time allowed to receive a whole request body once the head is in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The server-wide in-flight budget (requests and buffered body bytes).
#[derive(Debug)]
pub struct Budget {
    requests: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
}

impl Budget {
    /// A budget of `requests` concurrent requests holding at most `bytes` body bytes.
    pub fn new(requests: usize, bytes: usize) -> Self {
        Self {
            requests: Arc::new(Semaphore::new(requests)),
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(MAX_IN_FLIGHT_REQUESTS, MAX_IN_FLIGHT_BODY_BYTES)
    }
}

/// How the connection a request came on was made (set per connection by [`crate::serve`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    /// TLS.
    pub secure: bool,
}

/// What the router's handlers share.
#[derive(Debug, Clone)]
struct Front {
    state: Arc<AppState>,
    budget: Arc<Budget>,
}

/// The router shared by `cairn serve` and the tests.
pub fn router(state: Arc<AppState>) -> Router {
    let front = Front {
        state,
        budget: Arc::new(Budget::default()),
    };
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics))
        .fallback(dispatch)
        .with_state(front)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Environment variable holding the bearer token that unlocks per-account metric labels.
pub const METRICS_TOKEN_ENV: &str = "CAIRN_METRICS_TOKEN";

/// Whether the request presents `Authorization: Bearer <CAIRN_METRICS_TOKEN>` (compared in
/// constant time; never true when the variable is unset or empty).
fn metrics_authorized(headers: &HeaderMap) -> bool {
    let Ok(want) = std::env::var(METRICS_TOKEN_ENV) else {
        return false;
    };
    if want.is_empty() {
        return false;
    }
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (
        Sha256::digest(want.as_bytes()),
        Sha256::digest(got.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Prometheus text: the journal, the pipeline's consumers and the monitor. Labels that name an
/// account's resources (log groups, subscription filters) are shown only with the bearer token
/// of `CAIRN_METRICS_TOKEN`.
async fn metrics(State(front): State<Front>, headers: HeaderMap) -> Response {
    let st = front.state.clone();
    let detailed = metrics_authorized(&headers);
    let text = tokio::task::spawn_blocking(move || crate::monitoring::prometheus(&st, detailed))
        .await
        .unwrap_or_default();
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

fn json_error(e: &ApiError, request_id: &str) -> Response {
    let body = serde_json::json!({"__type": e.code, "message": e.message}).to_string();
    let mut r = (e.status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(e.code) {
        h.insert("x-amzn-errortype", v);
    }
    r
}

fn json_ok(body: &Value, request_id: &str) -> Response {
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// The protocol family a request speaks, from its head (before or after authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    S3,
    Query(QueryService),
    CloudTrailData,
    Json,
}

fn protocol_of(service: Option<&str>) -> Protocol {
    match service {
        Some("s3") => Protocol::S3,
        Some("cloudtrail-data") => Protocol::CloudTrailData,
        Some(s) => QueryService::from_scope(s).map_or(Protocol::Json, Protocol::Query),
        None => Protocol::Json,
    }
}

/// A refusal in the protocol of the service the request was signed for. Throttling and size
/// refusals get each protocol's own code (`SlowDown` for S3, `Throttling` for query APIs).
fn refuse(protocol: Protocol, method: &Method, e: &ApiError, request_id: &str) -> Response {
    match protocol {
        Protocol::S3 => {
            let mut e = e.clone();
            e.code = match e.code {
                "ThrottlingException" => "SlowDown",
                "RequestEntityTooLarge" => "EntityTooLarge",
                other => other,
            };
            crate::s3::auth_error(&e, method, request_id)
        }
        Protocol::Query(svc) => {
            let mut e = e.clone();
            if e.code == "ThrottlingException" {
                e.code = "Throttling";
            }
            query_error(svc, &e, request_id)
        }
        Protocol::CloudTrailData => rest_json_error(e, request_id),
        Protocol::Json => json_error(e, request_id),
    }
}

fn throttled(message: &str) -> ApiError {
    ApiError::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ThrottlingException",
        message,
    )
}

/// A request body as read: kept in memory when within its limit, hashed in every case.
struct ReadBody {
    /// `None` when the body exceeded its operation's limit (it was hashed and dropped).
    kept: Option<Bytes>,
    len: usize,
    sha256: [u8; 32],
    /// Share of [`Budget::bytes`] held until the answer is built.
    _bytes: Option<OwnedSemaphorePermit>,
}

/// Why a body could not be read.
#[derive(Debug)]
enum BodyError {
    /// Over [`MAX_BODY`]: not even hashed to the end.
    Oversized,
    /// The in-flight byte budget is spent.
    Budget,
    /// Not received within [`BODY_READ_TIMEOUT`].
    Timeout,
    /// The connection failed mid-body.
    Broken,
}

impl BodyError {
    fn api_error(&self, keep: usize) -> ApiError {
        match self {
            BodyError::Oversized => ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("request bodies are limited to {keep} bytes for this operation"),
            ),
            BodyError::Budget => {
                throttled("the server is receiving too much data at once; retry later")
            }
            BodyError::Timeout => ApiError::with_status(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "the request body was not received in time",
            ),
            BodyError::Broken => ApiError::client(
                "IncompleteBody",
                "the request body ended before its declared length",
            ),
        }
    }
}

/// Reads `body`, keeping at most `keep` bytes (charged to `budget`) and hashing all of it.
async fn read_body(
    mut body: Body,
    declared: Option<usize>,
    keep: usize,
    budget: &Budget,
) -> Result<ReadBody, BodyError> {
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(BodyError::Oversized);
    }
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    let mut hasher = Sha256::new();
    let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(keep));
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let (mut len, mut over) = (0usize, declared.is_some_and(|n| n > keep));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len();
        if len > MAX_BODY {
            return Err(BodyError::Oversized);
        }
        hasher.update(&data);
        if over {
            continue;
        }
        if len > keep {
            over = true;
            kept = Vec::new();
            permit = None;
            continue;
        }
        let n = u32::try_from(data.len()).map_err(|_| BodyError::Oversized)?;
        let p = budget
            .bytes
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| BodyError::Budget)?;
        match &mut permit {
            Some(q) => q.merge(p),
            None => permit = Some(p),
        }
        kept.extend_from_slice(&data);
    }
    Ok(ReadBody {
        kept: (!over).then(|| Bytes::from(kept)),
        len,
        sha256: hasher.finalize().into(),
        _bytes: permit,
    })
}

/// The body limit of an operation, from the service it was signed for and its path.
fn body_limit(service: &str, path: &str) -> usize {
    match service {
        "s3" => MAX_BODY,
        "cloudtrail-data" if path == "/_cairn/ingest" => MAX_BODY,
        "cloudtrail-data" => PUT_AUDIT_EVENTS_MAX_BODY,
        "logs" => LOGS_MAX_BODY,
        _ => CONTROL_PLANE_MAX_BODY,
    }
}

/// Whether a call signed for `region` may run: enabled regions, plus the global endpoints
/// (IAM in any scope region, STS's global endpoint in `us-east-1`).
fn region_allowed(state: &AppState, service: &str, region: &str) -> bool {
    state.config.region_enabled(region)
        || service == "iam"
        || (service == "sts" && region == "us-east-1")
}

/// The refusal of a call signed for a region that is not enabled, as each service answers
/// for a Region that is not enabled for the account.
fn region_refusal(protocol: Protocol, region: &str, home: &str) -> ApiError {
    let (status, code) = match protocol {
        Protocol::S3 => (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed"),
        Protocol::Query(_) => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
        Protocol::CloudTrailData | Protocol::Json => {
            (StatusCode::BAD_REQUEST, "UnrecognizedClientException")
        }
    };
    let region = truncate_str(region, 64);
    let message = match protocol {
        Protocol::S3 => format!(
            "The authorization header is malformed; the region '{region}' is wrong; expecting '{home}'"
        ),
        _ => format!(
            "The security token included in the request is invalid: the region '{region}' is not enabled on this server"
        ),
    };
    ApiError::with_status(status, code, message)
}

fn truncate_str(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `eventSource` of a service's calls.
fn event_source_of(service: &str) -> &'static str {
    match service {
        "s3" => "s3.amazonaws.com",
        "cloudtrail" => "cloudtrail.amazonaws.com",
        "cloudtrail-data" => "cloudtrail-data.amazonaws.com",
        "kms" => "kms.amazonaws.com",
        "logs" => "logs.amazonaws.com",
        "monitoring" => "monitoring.amazonaws.com",
        other => {
            QueryService::from_scope(other).map_or("unknown.amazonaws.com", |s| s.event_source())
        }
    }
}

/// `eventName` of a call, from the request head (and, for query APIs, the form body when it
/// was read).
fn event_name_of(parts: &http::request::Parts, service: &str, body: &[u8]) -> String {
    match protocol_of(Some(service)) {
        Protocol::S3 => crate::s3::event_name_of(parts).to_owned(),
        Protocol::CloudTrailData => match parts.uri.path() {
            "/PutAuditEvents" => "PutAuditEvents".to_owned(),
            _ => "BulkIngest".to_owned(),
        },
        Protocol::Query(_) => cairn_s3wire::query_map(parts.uri.query().unwrap_or(""))
            .remove("Action")
            .or_else(|| cairn_s3wire::query_map(&String::from_utf8_lossy(body)).remove("Action"))
            .unwrap_or_else(|| "UnknownOperation".to_owned()),
        Protocol::Json => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match target.rsplit_once('.') {
                Some((_, op)) if !op.is_empty() => op.to_owned(),
                _ => crate::monitoring::cairn_operation(parts.uri.path())
                    .unwrap_or("UnknownOperation")
                    .to_owned(),
            }
        }
    }
}

/// A refusal of a known signer's call, as [`record_refusal`] records it.
#[derive(Clone, Copy)]
struct Refusal<'a> {
    caller: &'a crate::authn::Caller,
    error: &'a ApiError,
    /// The scope's region, when it is not enabled.
    requested_region: Option<&'a str>,
    /// The body, when it was kept.
    body: Option<&'a [u8]>,
    body_len: usize,
}

/// Records the refusal, then answers it (or answers why it could not be recorded).
async fn refuse_recorded(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    peer: SocketAddr,
    request_id: &str,
    protocol: Protocol,
    r: Refusal<'_>,
) -> Response {
    match record_refusal(state, parts, peer, request_id, &r).await {
        Ok(()) => refuse(protocol, &parts.method, r.error, request_id),
        Err(e) => refuse(protocol, &parts.method, &e, request_id),
    }
}

/// Records a call the front refused after authenticating its signer (over-size body, region
/// not enabled, budget spent): bounded like every record, with what the front knows from the
/// head. `requested_region` is set when the scope's region is not enabled: the record is then
/// written in the home region (so multi-region trails get it) and notes the requested one.
async fn record_refusal(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    peer: SocketAddr,
    request_id: &str,
    r: &Refusal<'_>,
) -> Result<(), ApiError> {
    let Refusal {
        caller,
        error: e,
        requested_region,
        body,
        body_len,
    } = *r;
    let name = event_name_of(parts, &caller.service, body.unwrap_or_default());
    let region = match requested_region {
        Some(_) => state.config.home_region.as_str().to_owned(),
        None => caller.region.clone(),
    };
    let call = CallRecord {
        event_source: event_source_of(&caller.service),
        event_name: &name,
        region: &region,
        principal: &caller.principal,
        access_key_id: &caller.access_key_id,
        source_ip: peer.ip().to_string(),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        request: &Value::Null,
        outcome: Err((e.code, e.message.as_str())),
        read_only: false,
        request_id,
        time: OffsetDateTime::now_utc(),
    };
    let mut event = event_for(&call);
    let mut data = serde_json::Map::new();
    data.insert("requestBodyBytes".into(), Value::from(body_len));
    if let Some(r) = requested_region {
        data.insert("requestedRegion".into(), Value::from(truncate_str(r, 1024)));
    }
    event.additional_event_data = Some(Value::Object(data));
    crate::audit::record_event(state, event).await
}

/// Removes `aws-chunked` from `Content-Encoding` once the body is decoded (S3 does not store
/// it as the object's encoding).
fn strip_aws_chunked(headers: &mut HeaderMap) {
    let Some(v) = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let rest: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    match HeaderValue::from_str(&rest.join(",")) {
        Ok(h) if !rest.is_empty() => {
            headers.insert(header::CONTENT_ENCODING, h);
        }
        _ => {
            headers.remove(header::CONTENT_ENCODING);
        }
    }
}

/// Refuses a state-changing call up front when its record could not be made durable (the
/// journal is full): the call then changes nothing.
fn preflight(state: &AppState, read_only: bool) -> Result<(), ApiError> {
    if read_only {
        Ok(())
    } else {
        crate::audit::journal_room(state)
    }
}

/// Every API request: authenticate from the head, read the body within its operation's limit
/// and the server's budget, finish authentication, check the region, then route by the
/// credential scope's service.
///
/// Invariant (see [`crate::audit`]): a state-changing request either leaves its record
/// durable in the journal or changes nothing. Requests refused after their signer is known
/// (over-size body, disabled region, spent budget) are recorded too; requests that fail
/// authentication are not (AWS does not record them, and recording them would let anyone on
/// the network fill the journal).
async fn dispatch(
    State(front): State<Front>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: http::Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let secure = req
        .extensions()
        .get::<Transport>()
        .copied()
        .unwrap_or_default()
        .secure;
    let (parts, body) = req.into_parts();
    let head_protocol = protocol_of(if crate::s3::signed_for_s3(&parts) {
        Some("s3")
    } else {
        None
    });
    let head_protocol = match head_protocol {
        Protocol::S3 => Protocol::S3,
        _ => protocol_of(scope_service(&parts).as_deref()),
    };
    let Ok(_slot) = front.budget.requests.clone().try_acquire_owned() else {
        let e = throttled("too many requests in flight; retry later");
        return refuse(head_protocol, &parts.method, &e, &request_id);
    };
    let state = front.state.clone();
    let now = OffsetDateTime::now_utc();
    // 1. The head: no body byte is read for a request that fails here.
    let head = match crate::authn::authenticate_headers(&state, &parts, now) {
        Ok(h) => h,
        Err(e) => return refuse(head_protocol, &parts.method, &e, &request_id),
    };
    let protocol = protocol_of(Some(&head.service));
    // 2. The body, within its operation's limit and the server's budget.
    let keep = body_limit(&head.service, parts.uri.path());
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let read = match read_body(body, declared, keep, &front.budget).await {
        Ok(r) => r,
        Err(e) => {
            let err = e.api_error(keep);
            // Signed callers whose signature the head proved are recorded; the rest cannot
            // be told apart from someone who only knows an access key ID.
            if let Some(caller) = crate::authn::verified_signer(head, secure) {
                let region_ok = region_allowed(&state, &caller.service, &caller.region);
                let refusal = Refusal {
                    caller: &caller,
                    error: &err,
                    requested_region: (!region_ok).then_some(caller.region.as_str()),
                    body: None,
                    body_len: declared.unwrap_or(0),
                };
                return refuse_recorded(&state, &parts, peer, &request_id, protocol, refusal).await;
            }
            return refuse(protocol, &parts.method, &err, &request_id);
        }
    };
    // 3. The signature over the body.
    let (auth, framing) = match crate::authn::finish(&state, &parts, head, read.sha256, secure, now)
    {
        Ok(a) => a,
        Err(e) => return refuse(protocol, &parts.method, &e, &request_id),
    };
    // 4. Refusals of a known signer are recorded: disabled region, over-size body.
    let region_ok = region_allowed(&state, &auth.service, &auth.region);
    let refusal = match (&read.kept, region_ok) {
        (_, false) => Some(region_refusal(
            protocol,
            &auth.region,
            state.config.home_region.as_str(),
        )),
        (None, true) => Some(BodyError::Oversized.api_error(keep)),
        (Some(_), true) => None,
    };
    if let Some(err) = refusal {
        let refusal = Refusal {
            caller: &auth,
            error: &err,
            requested_region: (!region_ok).then_some(auth.region.as_str()),
            body: read.kept.as_deref(),
            body_len: read.len,
        };
        return refuse_recorded(&state, &parts, peer, &request_id, protocol, refusal).await;
    }
    // 5. aws-chunked uploads (S3) become their payload; a broken one is a recorded refusal.
    let body = match crate::authn::decode_body(
        framing,
        read.kept.clone().unwrap_or_default(),
        &parts.headers,
    ) {
        Ok(b) => b,
        Err(err) => {
            let refusal = Refusal {
                caller: &auth,
                error: &err,
                requested_region: None,
                body: None,
                body_len: read.len,
            };
            return refuse_recorded(&state, &parts, peer, &request_id, protocol, refusal).await;
        }
    };
    let mut parts = parts;
    strip_aws_chunked(&mut parts.headers);
    if matches!(auth.principal, cairn_auth::Principal::IamUser { .. })
        && let Some(write) = state.iam.note_key_use(
            &auth.account,
            &auth.access_key_id,
            &auth.service,
            &auth.region,
            now.unix_timestamp(),
        )
    {
        // Off the request path; the in-memory value is already current.
        drop(tokio::task::spawn_blocking(write));
    }
    let env = Environment {
        source_ip: peer.ip(),
        secure_transport: auth.secure_transport,
        now,
    };
    if let Some(svc) = QueryService::from_scope(&auth.service) {
        return query_service(&state, &parts, &body, auth, peer, &request_id, svc, env).await;
    }
    match auth.service.as_str() {
        "cloudtrail" => {
            cloudtrail(
                &state,
                &parts.headers,
                &parts.method,
                &body,
                auth,
                peer,
                &request_id,
                now,
            )
            .await
        }
        "cloudtrail-data" => data_plane(state, parts, body, auth, peer, request_id, env).await,
        "kms" => kms_service(&state, &parts, &body, auth, peer, &request_id, now).await,
        "s3" => crate::s3::handle(&state, parts, body, auth, peer, &request_id).await,
        "logs" | "monitoring" => {
            let logs = auth.service == "logs";
            monitor_service(&state, &parts, &body, auth, peer, &request_id, logs).await
        }
        other => json_error(
            &ApiError::with_status(
                StatusCode::BAD_REQUEST,
                "UnknownServiceException",
                format!("the service `{other}` is not served by this Cairn server"),
            ),
            &request_id,
        ),
    }
}

fn rest_json_error(e: &ApiError, request_id: &str) -> Response {
    let body = serde_json::json!({"message": e.message}).to_string();
    let mut r = (e.status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(e.code) {
        h.insert("x-amzn-errortype", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

async fn data_plane(
    state: Arc<AppState>,
    parts: http::request::Parts,
    body: Bytes,
    auth: crate::authn::Caller,
    peer: SocketAddr,
    request_id: String,
    env: Environment,
) -> Response {
    if parts.method != Method::POST {
        return rest_json_error(
            &ApiError::with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                "UnsupportedOperationException",
                "use POST",
            ),
            &request_id,
        );
    }
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let (st, caller) = (state.clone(), auth.clone());
    let op_path = path.clone();
    let meta = crate::dataplane::CallMeta {
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: request_id.clone(),
    };
    let result = tokio::task::spawn_blocking(move || match path.as_str() {
        "/PutAuditEvents" => {
            crate::dataplane::put_audit_events(&st, &caller, &env, &meta, &query, &body)
        }
        "/_cairn/ingest" => crate::dataplane::bulk_ingest(&st, &caller, &env, &meta, &body),
        other => Err(ApiError::client(
            "UnsupportedOperationException",
            format!(
                "no cloudtrail-data operation at {other}; use /PutAuditEvents or /_cairn/ingest"
            ),
        )),
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(e)));
    // Refused ingest calls are recorded like any denied call (accepted ones are the events
    // themselves).
    if let Err(e) = &result
        && e.code == "AccessDeniedException"
    {
        let event_name = match op_path.as_str() {
            "/PutAuditEvents" => "PutAuditEvents",
            _ => "BulkIngest",
        };
        let call = Audited {
            event_source: "cloudtrail-data.amazonaws.com",
            event_name,
            read_only: false,
            request: &Value::Null,
            content_type: "application/json",
        };
        if let Err(e) = record_call(
            &state,
            &parts.headers,
            &auth,
            peer,
            &request_id,
            &call,
            Err((e.code, e.message.as_str())),
        )
        .await
        {
            return rest_json_error(&e, &request_id);
        }
    }
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                r.headers_mut().insert("x-amzn-requestid", v);
            }
            r
        }
        Err(e) => rest_json_error(&e, &request_id),
    }
}

#[allow(clippy::too_many_arguments)]
async fn cloudtrail(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    method: &Method,
    body: &Bytes,
    auth: crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    now: OffsetDateTime,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // botocore sends the long prefix, the newer Smithy models (AWS SDK for Rust) the short one.
    let op_name = target
        .strip_prefix(TARGET_PREFIX)
        .or_else(|| target.strip_prefix("CloudTrail_20131101."))
        .unwrap_or("");
    let Some(op) = Operation::from_name(op_name).filter(|_| method == Method::POST) else {
        return json_error(
            &ApiError::client(
                "UnknownOperationException",
                format!(
                    "unknown operation `{target}`: CloudTrail operations are POST / with X-Amz-Target: {TARGET_PREFIX}<Operation>"
                ),
            ),
            request_id,
        );
    };
    let parsed = parse_json_body(body);
    let ctx = CallContext {
        account: auth.account.clone(),
        region: auth.region.clone(),
        now,
    };
    let request = parsed.clone().unwrap_or(Value::Null);
    let env = Environment {
        source_ip: peer.ip(),
        secure_transport: auth.secure_transport,
        now,
    };
    let parsed = parsed.and_then(|v| {
        let action = format!("cloudtrail:{}", op.name());
        // The resolved resource's own ARN, never the text the caller wrote (issue 14, item 2).
        let resource = state.control.authorization_resource(op, &ctx, &v, |k| {
            state.lake.get().and_then(|l| l.store_arn(&ctx, k))
        });
        crate::authz::authorize(state, &auth, &env, &Access::new(&action, &resource))
            .map_err(json_access_denied)?;
        preflight(state, op.is_read_only())?;
        Ok(v)
    });
    let result = match parsed {
        Err(e) => Err(e),
        Ok(v) if op == Operation::LookupEvents => match state.history.get() {
            Some(h) => h.lookup_events(&ctx, &v),
            None => Err(ApiError::internal("the event history is not running")),
        },
        Ok(v) if crate::lake::Lake::handles(op) => match state.lake.get() {
            Some(l) => l.call(state, &auth, &env, op, &ctx, &v).await,
            None => Err(ApiError::internal("the lake is not running")),
        },
        Ok(v) if op.is_read_only() => state.control.call(op, &ctx, &v),
        Ok(v) => {
            let st = state.clone();
            let ctx2 = ctx.clone();
            match tokio::task::spawn_blocking(move || st.control.call(op, &ctx2, &v)).await {
                Ok(r) => r,
                Err(e) => Err(ApiError::internal(e)),
            }
        }
    };
    audit_and_respond(
        state,
        headers,
        &auth,
        peer,
        request_id,
        Audited {
            event_source: "cloudtrail.amazonaws.com",
            event_name: op.name(),
            read_only: op.is_read_only(),
            request: &request,
            content_type: "application/x-amz-json-1.1",
        },
        result,
    )
    .await
}

/// The parsed JSON request body (`{}` when empty); only objects are accepted.
fn parse_json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::client(
            "SerializationException",
            "the request body must be a JSON object",
        ))
    }
}

/// What the audit record of a JSON-protocol call says about it.
struct Audited<'a> {
    event_source: &'static str,
    event_name: &'a str,
    read_only: bool,
    request: &'a Value,
    content_type: &'static str,
}

/// `AccessDeniedException` for the JSON protocols.
fn json_access_denied(d: crate::authz::Denied) -> ApiError {
    ApiError::client("AccessDeniedException", d.message)
}

/// Records one call in the journal and waits until it is durable.
async fn record_call(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    auth: &crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    a: &Audited<'_>,
    outcome: Result<&Value, (&str, &str)>,
) -> Result<(), ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let call = CallRecord {
        event_source: a.event_source,
        event_name: a.event_name,
        region: &auth.region,
        principal: &auth.principal,
        access_key_id: &auth.access_key_id,
        source_ip: peer.ip().to_string(),
        user_agent,
        request: a.request,
        outcome,
        read_only: a.read_only,
        request_id,
        time: OffsetDateTime::now_utc(),
    };
    crate::audit::record_event(state, event_for(&call)).await
}

/// Records the call in the journal (durably), then answers it.
async fn audit_and_respond(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    auth: &crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    a: Audited<'_>,
    result: Result<Value, ApiError>,
) -> Response {
    let outcome = match &result {
        Ok(v) => Ok(v),
        Err(e) => Err((e.code, e.message.as_str())),
    };
    if let Err(e) = record_call(state, headers, auth, peer, request_id, &a, outcome).await {
        // The change (if any) is applied but its audit record is not durable: fail the call
        // loudly rather than return success for an unaudited change.
        return json_error(&e, request_id);
    }
    let mut r = match result {
        Ok(v) => json_ok(&v, request_id),
        Err(e) => json_error(&e, request_id),
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    r
}

/// CloudWatch Logs (`logs`, JSON 1.1 `Logs_20140328.*`) and CloudWatch (`monitoring`,
/// JSON 1.0 `GraniteServiceVersion20100801.*`), served by `cairn-monitor`; plus Cairn's
/// `POST /_cairn/monitor/<operation>` calls (signed for `logs`, see `monitoring.rs`).
#[allow(clippy::too_many_arguments)]
async fn monitor_service(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    body: &Bytes,
    auth: crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    logs: bool,
) -> Response {
    let (prefix, source, content_type) = if logs {
        (
            "Logs_20140328.",
            "logs.amazonaws.com",
            "application/x-amz-json-1.1",
        )
    } else {
        (
            "GraniteServiceVersion20100801.",
            "monitoring.amazonaws.com",
            "application/x-amz-json-1.0",
        )
    };
    let cairn_op = if logs {
        crate::monitoring::cairn_operation(parts.uri.path())
    } else {
        None
    };
    let cis = cairn_op.is_some();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = if let Some(op) = cairn_op {
        op.to_owned()
    } else {
        match target.strip_prefix(prefix) {
            Some(op) if parts.method == Method::POST && !op.is_empty() => op.to_owned(),
            _ => {
                return json_error(
                    &ApiError::client(
                        "UnknownOperationException",
                        format!(
                            "unknown operation `{target}`: use POST / with X-Amz-Target: {prefix}<Operation>"
                        ),
                    ),
                    request_id,
                );
            }
        }
    };
    let env = Environment {
        source_ip: peer.ip(),
        secure_transport: auth.secure_transport,
        now: OffsetDateTime::now_utc(),
    };
    let action = match (cis, logs) {
        (true, _) => format!("cairn:{op}"),
        (false, true) => format!("logs:{op}"),
        (false, false) => format!("cloudwatch:{op}"),
    };
    let read_only = ["Describe", "Get", "List", "Filter", "Test"]
        .iter()
        .any(|p| op.starts_with(p));
    let parsed = parse_json_body(body).and_then(|v| {
        crate::authz::authorize(state, &auth, &env, &Access::new(&action, "*"))
            .map_err(json_access_denied)?;
        preflight(state, read_only)?;
        Ok(v)
    });
    let request = parsed.clone().unwrap_or(Value::Null);
    let result = match parsed {
        Err(e) => Err(e),
        Ok(v) => {
            let (st, a, op2) = (state.clone(), auth.clone(), op.clone());
            tokio::task::spawn_blocking(move || {
                if cis {
                    crate::monitoring::cairn_call(&st, &a, &op2, &v)
                } else if logs {
                    st.monitor
                        .logs_call(&op2, &a.account, &a.region, &v)
                        .map_err(crate::monitoring::api_error)
                } else {
                    st.monitor
                        .cloudwatch_call(&op2, &a.account, &a.region, &v)
                        .map_err(crate::monitoring::api_error)
                }
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)))
        }
    };
    let query_error = match &result {
        Err(e) if !logs => Some(format!("{};Sender", e.code)),
        _ => None,
    };
    let mut r = audit_and_respond(
        state,
        &parts.headers,
        &auth,
        peer,
        request_id,
        Audited {
            event_source: source,
            event_name: &op,
            read_only,
            request: &request,
            content_type,
        },
        result,
    )
    .await;
    if let Some(q) = query_error.and_then(|q| HeaderValue::from_str(&q).ok()) {
        r.headers_mut().insert("x-amzn-query-error", q);
    }
    r
}

/// The credential scope's service of a request that failed authentication, to answer in
/// the protocol the client speaks.
fn scope_service(parts: &http::request::Parts) -> Option<String> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let req = cairn_auth::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        payload: cairn_auth::Payload::Body(&[]),
    };
    cairn_auth::parse(&req).ok().map(|p| p.scope.service)
}

fn query_error(svc: QueryService, e: &ApiError, request_id: &str) -> Response {
    let body = crate::iam::wire::error_xml(
        svc.namespace(),
        e.code,
        &e.message,
        !e.status.is_server_error(),
        request_id,
    );
    xml_response(e.status, body, request_id)
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// IAM and STS (AWS query protocol): parse, authorize and run in `iam::api`, record the call
/// (`iam.amazonaws.com` / `sts.amazonaws.com`, secrets left out), answer in XML.
#[allow(clippy::too_many_arguments)]
async fn query_service(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    body: &Bytes,
    auth: crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    svc: QueryService,
    env: Environment,
) -> Response {
    let parsed = crate::iam::api::parse_request(svc, parts.uri.query().unwrap_or(""), body);
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return query_error(svc, &e, request_id),
    };
    let read_only = crate::iam::api::is_read_only(&req.action);
    let result = match preflight(state, read_only) {
        Err(e) => Err(e),
        Ok(()) => {
            let (st, caller, req2) = (state.clone(), auth.clone(), req.clone());
            tokio::task::spawn_blocking(move || {
                crate::iam::api::call(&st, &caller, &env, svc, &req2)
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)))
        }
    };
    let request = crate::iam::api::audit_parameters(&req);
    let audit_response = match &result {
        Ok(node) => node.audit_json(),
        Err(_) => Value::Null,
    };
    let outcome = match &result {
        Ok(_) => Ok(&audit_response),
        Err(e) => Err((e.code, e.message.as_str())),
    };
    let mut audited_caller = auth.clone();
    // IAM is a global service: its events are recorded in us-east-1, as AWS does.
    if svc == QueryService::Iam {
        audited_caller.region = "us-east-1".into();
    }
    let a = Audited {
        event_source: svc.event_source(),
        event_name: &req.action,
        read_only,
        request: &request,
        content_type: "text/xml",
    };
    if let Err(e) = record_call(
        state,
        &parts.headers,
        &audited_caller,
        peer,
        request_id,
        &a,
        outcome,
    )
    .await
    {
        return query_error(svc, &e, request_id);
    }
    match result {
        Ok(node) => xml_response(
            StatusCode::OK,
            crate::iam::wire::success_xml(svc.namespace(), &req.action, &node, request_id),
            request_id,
        ),
        Err(e) => query_error(svc, &e, request_id),
    }
}

/// KMS (`kms`, JSON 1.1 `TrentService.*`), served by `crate::kms`; audited without plaintext
/// or ciphertext (see `crate::kms::audit_request`).
async fn kms_service(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
    body: &Bytes,
    auth: crate::authn::Caller,
    peer: SocketAddr,
    request_id: &str,
    now: OffsetDateTime,
) -> Response {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = match target.strip_prefix(crate::kms::TARGET_PREFIX) {
        Some(op) if parts.method == Method::POST && !op.is_empty() => op.to_owned(),
        _ => {
            return json_error(
                &ApiError::client(
                    "UnknownOperationException",
                    format!(
                        "unknown operation `{target}`: KMS operations are POST / with X-Amz-Target: {}<Operation>",
                        crate::kms::TARGET_PREFIX
                    ),
                ),
                request_id,
            );
        }
    };
    let parsed = parse_json_body(body);
    let request = crate::kms::audit_request(parsed.as_ref().unwrap_or(&Value::Null));
    let parsed = parsed.and_then(|v| {
        preflight(state, crate::kms::is_read_only(&op))?;
        Ok(v)
    });
    let result = match parsed {
        Err(e) => Err(e),
        Ok(v) => {
            let (st, a, op2) = (state.clone(), auth.clone(), op.clone());
            tokio::task::spawn_blocking(move || crate::kms::call(&st, &a, peer.ip(), &op2, &v, now))
                .await
                .unwrap_or_else(|e| Err(ApiError::internal(e)))
        }
    };
    audit_and_respond(
        state,
        &parts.headers,
        &auth,
        peer,
        request_id,
        Audited {
            event_source: "kms.amazonaws.com",
            event_name: &op,
            read_only: crate::kms::is_read_only(&op),
            request: &request,
            content_type: "application/x-amz-json-1.1",
        },
        result,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    #[tokio::test]
    async fn bodies_within_their_limit_are_kept_and_hashed() {
        let budget = Budget::new(4, 1024);
        let r = read_body(Body::from(vec![7u8; 600]), Some(600), 1000, &budget)
            .await
            .unwrap();
        assert_eq!(r.kept.as_deref(), Some(&[7u8; 600][..]));
        assert_eq!((r.len, r.sha256), (600, sha(&[7u8; 600])));
        // The bytes are charged to the budget until the read body is dropped.
        assert_eq!(budget.bytes.available_permits(), 424);
        drop(r);
        assert_eq!(budget.bytes.available_permits(), 1024);
    }

    #[tokio::test]
    async fn bodies_over_their_limit_are_hashed_and_dropped() {
        let budget = Budget::new(4, 1024);
        let r = read_body(Body::from(vec![1u8; 3000]), None, 1000, &budget)
            .await
            .unwrap();
        assert!(r.kept.is_none());
        assert_eq!((r.len, r.sha256), (3000, sha(&[1u8; 3000])));
        assert_eq!(budget.bytes.available_permits(), 1024);
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_instead_of_buffering() {
        let budget = Budget::new(4, 1024);
        let err = read_body(Body::from(vec![0u8; 2048]), Some(2048), 4096, &budget)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, BodyError::Budget));
        assert_eq!(err.api_error(4096).status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn declared_lengths_over_the_hard_limit_are_refused_unread() {
        let budget = Budget::default();
        let err = read_body(Body::empty(), Some(MAX_BODY + 1), 1024, &budget)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, BodyError::Oversized));
    }

    #[test]
    fn limits_follow_the_operation() {
        assert_eq!(body_limit("cloudtrail", "/"), CONTROL_PLANE_MAX_BODY);
        assert_eq!(body_limit("iam", "/"), CONTROL_PLANE_MAX_BODY);
        assert_eq!(body_limit("s3", "/b/k"), MAX_BODY);
        assert_eq!(body_limit("cloudtrail-data", "/_cairn/ingest"), MAX_BODY);
        assert_eq!(
            body_limit("cloudtrail-data", "/PutAuditEvents"),
            PUT_AUDIT_EVENTS_MAX_BODY
        );
        assert_eq!(body_limit("logs", "/"), LOGS_MAX_BODY);
    }

    #[test]
    fn region_refusals_speak_each_protocol() {
        let s3 = region_refusal(Protocol::S3, "zz-hidden-1", "us-east-1");
        assert_eq!(s3.code, "AuthorizationHeaderMalformed");
        assert!(
            s3.message
                .contains("'zz-hidden-1' is wrong; expecting 'us-east-1'")
        );
        let q = region_refusal(Protocol::Query(QueryService::Sts), "zz", "us-east-1");
        assert_eq!(
            (q.status, q.code),
            (StatusCode::FORBIDDEN, "InvalidClientTokenId")
        );
        let j = region_refusal(Protocol::Json, &"r".repeat(5000), "us-east-1");
        assert_eq!(j.code, "UnrecognizedClientException");
        assert!(j.message.len() < 200);
    }

    #[test]
    fn metrics_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!metrics_authorized(&h));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        // Unset variable: nobody is authorized, whatever they send.
        if std::env::var(METRICS_TOKEN_ENV).is_err() {
            assert!(!metrics_authorized(&h));
        }
    }
}
