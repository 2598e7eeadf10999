//! The HTTP front: one port, every API. Requests are authenticated with SigV4 and routed by
//! the credential scope's service name (`cloudtrail`, later `s3`, `kms`, `logs`, ...) and, for
//! JSON protocols, by `X-Amz-Target`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::{CallRecord, event_for};
use crate::authz::{Access, Environment};
use crate::cloudtrail::{CallContext, Operation, TARGET_PREFIX};
use crate::error::ApiError;
use crate::iam::api::Service as QueryService;
use crate::state::AppState;

/// Largest request body accepted (bulk ingest takes whole CloudTrail log files, ≤ 50 MB).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The router shared by `cairn serve` and the tests.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics))
        .fallback(dispatch)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Prometheus text: the journal, the pipeline's consumers and the monitor.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let st = state.clone();
    let text = tokio::task::spawn_blocking(move || crate::monitoring::prometheus(&st))
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

async fn dispatch(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: http::Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_error(
                &ApiError::with_status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!("request bodies are limited to {MAX_BODY} bytes"),
                ),
                &request_id,
            );
        }
    };
    let now = OffsetDateTime::now_utc();
    let auth = match crate::authn::authenticate(&state, &parts, &body, now) {
        Ok(a) => a,
        Err(e) if crate::s3::signed_for_s3(&parts) => {
            return crate::s3::auth_error(&e, &parts.method, &request_id);
        }
        Err(e) => {
            // Query-protocol clients (IAM, STS) read XML errors.
            return match scope_service(&parts)
                .as_deref()
                .and_then(QueryService::from_scope)
            {
                Some(svc) => query_error(svc, &e, &request_id),
                None => json_error(&e, &request_id),
            };
        }
    };
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
        secure_transport: false,
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
        secure_transport: false,
        now,
    };
    let parsed = parsed.and_then(|v| {
        let action = format!("cloudtrail:{}", op.name());
        let resource = op.resource_arn(&v, &auth.account, &auth.region);
        crate::authz::authorize(state, &auth, &env, &Access::new(&action, &resource))
            .map_err(json_access_denied)?;
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
    let event = event_for(&call);
    let payload = crate::pipeline::envelope::encode(
        &crate::pipeline::envelope::keys_for_event(&event),
        &event.to_json_bytes(),
    );
    state.record(event.event_id.clone(), payload).await
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
        secure_transport: false,
        now: OffsetDateTime::now_utc(),
    };
    let action = match (cis, logs) {
        (true, _) => format!("cairn:{op}"),
        (false, true) => format!("logs:{op}"),
        (false, false) => format!("cloudwatch:{op}"),
    };
    let parsed = parse_json_body(body).and_then(|v| {
        crate::authz::authorize(state, &auth, &env, &Access::new(&action, "*"))
            .map_err(json_access_denied)?;
        Ok(v)
    });
    let request = parsed.clone().unwrap_or(Value::Null);
    let read_only = ["Describe", "Get", "List", "Filter", "Test"]
        .iter()
        .any(|p| op.starts_with(p));
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
    let (st, caller, req2) = (state.clone(), auth.clone(), req.clone());
    let result =
        tokio::task::spawn_blocking(move || crate::iam::api::call(&st, &caller, &env, svc, &req2))
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)));
    let request = crate::iam::api::audit_parameters(&req);
    let read_only = crate::iam::api::is_read_only(&req.action);
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
