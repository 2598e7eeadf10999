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

use crate::api::{JSON_11, RequestCtx, Wire};
use crate::audit::{CallRecord, event_for};
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
/// SQS requests: a batch holds up to 1 MiB of messages, which JSON escaping can double.
pub const SQS_MAX_BODY: usize = 3 * 1024 * 1024;
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
        .route("/_cairn/sns-cert.pem", axum::routing::get(sns_cert))
        .route("/_cairn/sns/confirm", axum::routing::get(sns_confirm))
        .fallback(dispatch)
        .with_state(front)
}

/// The SNS signing certificate (`SigningCertURL` of every signed message).
async fn sns_cert(State(front): State<Front>) -> Response {
    crate::api::sns::certificate(&front.state)
}

/// Whether the request came over TLS.
fn is_secure<B>(req: &http::Request<B>) -> bool {
    req.extensions()
        .get::<Transport>()
        .copied()
        .unwrap_or_default()
        .secure
}

/// A `SubscribeURL`: ConfirmSubscription by the token in the URL, recorded like any call.
async fn sns_confirm(
    State(front): State<Front>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: http::Request<Body>,
) -> Response {
    let secure = is_secure(&req);
    let (parts, _) = req.into_parts();
    let Ok(_slot) = front.budget.requests.clone().try_acquire_owned() else {
        let e = throttled("too many requests in flight; retry later");
        return Wire::Query(QueryService::Sns).error(&e, &uuid::Uuid::new_v4().to_string());
    };
    crate::api::sns::confirm_url(front.state.clone(), parts, peer, secure).await
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

/// The protocol of a request with no credential scope: a form-encoded body or an `Action=`
/// query is the AWS query protocol (IAM/STS clients read XML errors), anything else JSON.
fn unsigned_protocol(parts: &http::request::Parts) -> Protocol {
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let action = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("Action=")));
    if form || action {
        Protocol::Query(QueryService::Iam)
    } else {
        Protocol::Json
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
            Wire::Query(svc).error(&e, request_id)
        }
        Protocol::CloudTrailData => Wire::RestJson.error(e, request_id),
        Protocol::Json => Wire::Json(JSON_11).error(e, request_id),
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
        "sqs" => SQS_MAX_BODY,
        "sns" => crate::api::sns::MAX_BODY,
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
        "sqs" => "sqs.amazonaws.com",
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

/// Notes an IAM user's access key as used (IAM's `GetAccessKeyLastUsed`), off the request
/// path; the in-memory value is already current.
fn note_key_use(state: &AppState, auth: &crate::authn::Caller, now: OffsetDateTime) {
    if matches!(auth.principal, cairn_auth::Principal::IamUser { .. })
        && let Some(write) = state.iam.note_key_use(
            &auth.account,
            &auth.access_key_id,
            &auth.service,
            &auth.region,
            now.unix_timestamp(),
        )
    {
        drop(tokio::task::spawn_blocking(write));
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
    let secure = is_secure(&req);
    let (parts, body) = req.into_parts();
    let head_protocol = protocol_of(if crate::s3::signed_for_s3(&parts) {
        Some("s3")
    } else {
        None
    });
    let head_protocol = match head_protocol {
        Protocol::S3 => Protocol::S3,
        _ => match scope_service(&parts) {
            Some(service) => protocol_of(Some(&service)),
            None => unsigned_protocol(&parts),
        },
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
    note_key_use(&state, &auth, now);
    let service = auth.service.clone();
    let ctx = RequestCtx {
        state,
        parts,
        body,
        caller: auth,
        peer,
        request_id,
        now,
    };
    if service == "sns" {
        return crate::api::sns::handle(&ctx).await;
    }
    if let Some(svc) = QueryService::from_scope(&service) {
        return crate::api::iam::handle(&ctx, svc).await;
    }
    match service.as_str() {
        "cloudtrail" => crate::api::cloudtrail::handle(&ctx).await,
        "cloudtrail-data" => crate::api::dataplane::handle(&ctx).await,
        "kms" => crate::api::kms::handle(&ctx).await,
        "logs" => crate::api::monitor::handle(&ctx, true).await,
        "monitoring" => crate::api::monitor::handle(&ctx, false).await,
        "sqs" => crate::api::sqs::handle(&ctx).await,
        "s3" => crate::s3::handle(ctx).await,
        other => Wire::Json(JSON_11).error(
            &ApiError::with_status(
                StatusCode::BAD_REQUEST,
                "UnknownServiceException",
                format!("the service `{other}` is not served by this Cairn server"),
            ),
            &ctx.request_id,
        ),
    }
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
