//! The service handlers behind the HTTP front, on one shape.
//!
//! The front ([`crate::http`]) authenticates a request, reads its body and builds a
//! [`RequestCtx`]; the service's handler parses the call, authorizes it and hands the domain
//! work to [`RequestCtx::run`], the one audited-call path: refuse a state-changing call whose
//! record could not be made durable (preflight), run the work, append the call's record and
//! wait until it is durable, then answer in the service's [`Wire`] protocol. S3 (its own
//! record shape, XML answers) and the data plane (whose accepted calls are recorded with the
//! events they carry) use the same context and its [`RequestCtx::record`] /
//! [`RequestCtx::blocking`] pieces.

pub mod cloudtrail;
pub mod dataplane;
pub mod iam;
pub mod kms;
pub mod monitor;
pub mod sns;
pub mod sqs;

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::{CallRecord, event_for};
use crate::authn::Caller;
use crate::authz::{Denied, Environment};
use crate::error::ApiError;
use crate::iam::api::Service as QueryService;
use crate::state::AppState;

/// `application/x-amz-json-1.1`.
pub const JSON_11: &str = "application/x-amz-json-1.1";
/// `application/x-amz-json-1.0`.
pub const JSON_10: &str = "application/x-amz-json-1.0";

/// One authenticated request, as every service handler sees it.
#[derive(Debug)]
pub struct RequestCtx {
    /// The server.
    pub state: Arc<AppState>,
    /// The request head (`aws-chunked` already decoded away).
    pub parts: http::request::Parts,
    /// The request body (within its operation's limit).
    pub body: Bytes,
    /// Who signed the request.
    pub caller: Caller,
    /// The connection's peer.
    pub peer: SocketAddr,
    /// The request ID returned to the caller and recorded.
    pub request_id: String,
    /// When the request arrived.
    pub now: OffsetDateTime,
}

/// What the audit record says about one call.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// e.g. `kms.amazonaws.com`.
    pub event_source: &'a str,
    /// The operation's name.
    pub event_name: &'a str,
    /// Whether the operation only reads (no preflight, no `responseElements`).
    pub read_only: bool,
    /// `requestParameters` before camel-casing (secrets already left out).
    pub request: &'a Value,
    /// The region the record is written in, when not the request's (IAM: `us-east-1`).
    pub region: Option<&'a str>,
}

/// The wire protocol a service answers in.
#[derive(Debug, Clone, Copy)]
pub enum Wire {
    /// AWS JSON 1.0 / 1.1 (`__type` error bodies), with this `Content-Type`.
    Json(&'static str),
    /// AWS JSON 1.0 for a service that used to speak the query protocol (CloudWatch): errors
    /// also carry `x-amzn-query-error: <Code>;Sender`.
    JsonQueryCompat(&'static str),
    /// As [`Wire::JsonQueryCompat`], for a service whose query-protocol codes differ from its
    /// JSON ones (SQS): the function gives the `x-amzn-query-error` code of a JSON code.
    JsonQueryCompatMapped(&'static str, fn(&'static str) -> &'static str),
    /// REST-JSON (`cloudtrail-data`): `{"message"}` error bodies, code in a header.
    RestJson,
    /// The AWS query protocol (IAM, STS): XML bodies.
    Query(QueryService),
}

impl Wire {
    /// The error answer.
    pub fn error(self, e: &ApiError, request_id: &str) -> Response {
        match self {
            Wire::Json(content_type)
            | Wire::JsonQueryCompat(content_type)
            | Wire::JsonQueryCompatMapped(content_type, _) => {
                let body = serde_json::json!({"__type": e.code, "message": e.message});
                let mut r = respond(e.status, body.to_string(), content_type, request_id);
                insert_header(&mut r, "x-amzn-errortype", e.code);
                let query_code = match self {
                    Wire::JsonQueryCompat(_) => Some(e.code),
                    Wire::JsonQueryCompatMapped(_, map) => Some(map(e.code)),
                    _ => None,
                };
                if let Some(code) = query_code {
                    let fault = if e.status.is_server_error() {
                        "Receiver"
                    } else {
                        "Sender"
                    };
                    insert_header(&mut r, "x-amzn-query-error", &format!("{code};{fault}"));
                }
                r
            }
            Wire::RestJson => {
                let body = serde_json::json!({"message": e.message}).to_string();
                let mut r = respond(e.status, body, "application/json", request_id);
                insert_header(&mut r, "x-amzn-errortype", e.code);
                r
            }
            Wire::Query(svc) => {
                let body = crate::iam::wire::error_xml(
                    svc.namespace(),
                    e.code,
                    &e.message,
                    !e.status.is_server_error(),
                    request_id,
                );
                respond(e.status, body, "text/xml", request_id)
            }
        }
    }

    /// The success answer of a JSON protocol (the query protocol renders its own results).
    pub fn ok_json(self, body: &Value, request_id: &str) -> Response {
        let content_type = match self {
            Wire::Json(c) | Wire::JsonQueryCompat(c) | Wire::JsonQueryCompatMapped(c, _) => c,
            Wire::RestJson => "application/json",
            Wire::Query(_) => "text/xml",
        };
        respond(StatusCode::OK, body.to_string(), content_type, request_id)
    }

    /// `AccessDeniedException` in this protocol's status (403 for REST-JSON, 400 for the
    /// JSON protocols, as AWS answers).
    pub fn access_denied(self, d: Denied) -> ApiError {
        match self {
            Wire::RestJson => {
                ApiError::with_status(StatusCode::FORBIDDEN, "AccessDeniedException", d.message)
            }
            _ => ApiError::client("AccessDeniedException", d.message),
        }
    }
}

/// A response with a body, a `Content-Type` and the request ID.
pub fn respond(
    status: StatusCode,
    body: String,
    content_type: &'static str,
    request_id: &str,
) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    insert_header(&mut r, "x-amzn-requestid", request_id);
    r
}

fn insert_header(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// A successful call's result: what its record shows and how it is answered.
pub trait Reply {
    /// `responseElements` (before camel-casing).
    fn audit_response(&self) -> Cow<'_, Value>;
    /// The success answer in `wire`.
    fn render(self, wire: Wire, request_id: &str) -> Response;
}

impl Reply for Value {
    fn audit_response(&self) -> Cow<'_, Value> {
        Cow::Borrowed(self)
    }

    fn render(self, wire: Wire, request_id: &str) -> Response {
        wire.ok_json(&self, request_id)
    }
}

/// The parsed JSON request body (`{}` when empty); only objects are accepted.
///
/// # Errors
/// `SerializationException` for anything but a JSON object.
pub fn parse_json_body(body: &[u8]) -> Result<Value, ApiError> {
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

/// What [`RequestCtx::run`] takes of a parsed (and perhaps authorized) request: whether it is
/// admitted, and its body (`null` when it was not).
pub fn admit(parsed: Result<Value, ApiError>) -> (Result<(), ApiError>, Value) {
    match parsed {
        Ok(v) => (Ok(()), v),
        Err(e) => (Err(e), Value::Null),
    }
}

/// Refuses a state-changing call up front when its record could not be made durable (the
/// journal is full): the call then changes nothing.
///
/// # Errors
/// The journal's refusal ([`crate::audit::journal_room`]).
pub fn preflight(state: &AppState, read_only: bool) -> Result<(), ApiError> {
    if read_only {
        Ok(())
    } else {
        crate::audit::journal_room(state)
    }
}

impl RequestCtx {
    /// The policy environment of the request.
    pub fn env(&self) -> Environment {
        Environment {
            source_ip: self.peer.ip(),
            secure_transport: self.caller.secure_transport,
            now: self.now,
        }
    }

    /// A request header as text (absent when missing or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Amz-Target` (empty when absent).
    pub fn target(&self) -> &str {
        self.header("x-amz-target").unwrap_or("")
    }

    /// `User-Agent`.
    pub fn user_agent(&self) -> Option<&str> {
        self.header(header::USER_AGENT.as_str())
    }

    /// Runs blocking domain work off the async runtime.
    ///
    /// # Errors
    /// The work's error, or an internal error if it panicked.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Arc<AppState>, &Caller) -> Result<T, ApiError> + Send + 'static,
    {
        let (st, caller) = (self.state.clone(), self.caller.clone());
        tokio::task::spawn_blocking(move || work(&st, &caller))
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)))
    }

    /// Records one call in the journal and waits until it is durable.
    ///
    /// # Errors
    /// The journal's refusal.
    pub async fn record(
        &self,
        call: &Call<'_>,
        outcome: Result<&Value, (&str, &str)>,
    ) -> Result<(), ApiError> {
        let record = CallRecord {
            event_source: call.event_source,
            event_name: call.event_name,
            region: call.region.unwrap_or(&self.caller.region),
            principal: &self.caller.principal,
            access_key_id: &self.caller.access_key_id,
            source_ip: self.peer.ip().to_string(),
            user_agent: self.user_agent(),
            request: call.request,
            outcome,
            read_only: call.read_only,
            request_id: &self.request_id,
            time: OffsetDateTime::now_utc(),
        };
        crate::audit::record_event(&self.state, event_for(&record)).await
    }

    /// The one audited-call path: when `admitted` (the call parsed and was authorized), the
    /// preflight, then `work`; then the durable record of the outcome; then the answer in
    /// `wire`. A call whose record could not be made durable is answered with the journal's
    /// error, never with success.
    pub async fn run<T, F>(
        &self,
        wire: Wire,
        call: Call<'_>,
        admitted: Result<(), ApiError>,
        work: F,
    ) -> Response
    where
        T: Reply,
        F: Future<Output = Result<T, ApiError>>,
    {
        let result = match admitted.and_then(|()| preflight(&self.state, call.read_only)) {
            Ok(()) => work.await,
            Err(e) => Err(e),
        };
        self.finish(wire, &call, result).await
    }

    /// Records a call's outcome durably, then answers it in `wire`.
    pub async fn finish<T: Reply>(
        &self,
        wire: Wire,
        call: &Call<'_>,
        result: Result<T, ApiError>,
    ) -> Response {
        let recorded = match &result {
            Ok(v) => self.record(call, Ok(&v.audit_response())).await,
            Err(e) => self.record(call, Err((e.code, e.message.as_str()))).await,
        };
        if let Err(e) = recorded {
            // The change (if any) is applied but its audit record is not durable: fail the
            // call loudly rather than return success for an unaudited change.
            return wire.error(&e, &self.request_id);
        }
        match result {
            Ok(v) => v.render(wire, &self.request_id),
            Err(e) => wire.error(&e, &self.request_id),
        }
    }

    /// The service's "unknown operation" answer (not recorded: the call names nothing).
    pub fn unknown_operation(&self, wire: Wire, message: String) -> Response {
        wire.error(
            &ApiError::client("UnknownOperationException", message),
            &self.request_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_must_be_objects() {
        assert_eq!(parse_json_body(b"").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_json_body(b"[1]").unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            parse_json_body(b"{").unwrap_err().code,
            "SerializationException"
        );
    }

    #[test]
    fn each_wire_renders_errors_in_its_shape() {
        let e = ApiError::client("NopeException", "no");
        let r = Wire::Json(JSON_10).error(&e, "rid");
        assert_eq!(r.headers()["content-type"], JSON_10);
        assert_eq!(r.headers()["x-amzn-errortype"], "NopeException");
        assert!(r.headers().get("x-amzn-query-error").is_none());
        let r = Wire::JsonQueryCompat(JSON_10).error(&e, "rid");
        assert_eq!(r.headers()["x-amzn-query-error"], "NopeException;Sender");
        let r = crate::api::sqs::WIRE.error(&ApiError::client("QueueDoesNotExist", "no"), "rid");
        assert_eq!(r.headers()["x-amzn-errortype"], "QueueDoesNotExist");
        assert_eq!(
            r.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        let r = Wire::RestJson.error(&e, "rid");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-amzn-requestid"], "rid");
        let r = Wire::Query(QueryService::Iam).error(&e, "rid");
        assert_eq!(r.headers()["content-type"], "text/xml");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn access_denied_follows_the_protocol() {
        let d = || Denied {
            message: "no".into(),
        };
        assert_eq!(
            Wire::RestJson.access_denied(d()).status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            Wire::Json(JSON_11).access_denied(d()).status,
            StatusCode::BAD_REQUEST
        );
    }
}
