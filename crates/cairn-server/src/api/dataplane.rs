//! CloudTrail Data (`cloudtrail-data`, REST-JSON): `PutAuditEvents` and Cairn's bulk ingest
//! (`POST /_cairn/ingest`), served by `crate::dataplane`.
//!
//! An accepted call's record is journaled by `crate::dataplane` together with the events it
//! carries (one append); a refused one (access denied) is recorded here like any denied call.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::Value;

use super::{Call, RequestCtx, Wire};
use crate::error::ApiError;

/// The protocol the data plane answers in.
pub const WIRE: Wire = Wire::RestJson;

/// The operation at a data-plane path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    PutAuditEvents,
    BulkIngest,
}

impl Op {
    fn from_path(path: &str) -> Option<Self> {
        match path {
            "/PutAuditEvents" => Some(Op::PutAuditEvents),
            "/_cairn/ingest" => Some(Op::BulkIngest),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::PutAuditEvents => "PutAuditEvents",
            Op::BulkIngest => "BulkIngest",
        }
    }
}

/// Serves one data-plane call.
pub async fn handle(ctx: &RequestCtx) -> Response {
    if ctx.parts.method != Method::POST {
        let e = ApiError::with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedOperationException",
            "use POST",
        );
        return WIRE.error(&e, &ctx.request_id);
    }
    let path = ctx.parts.uri.path();
    let Some(op) = Op::from_path(path) else {
        let e = ApiError::client(
            "UnsupportedOperationException",
            format!(
                "no cloudtrail-data operation at {path}; use /PutAuditEvents or /_cairn/ingest"
            ),
        );
        return WIRE.error(&e, &ctx.request_id);
    };
    let query = ctx.parts.uri.query().unwrap_or("").to_owned();
    let (env, body) = (ctx.env(), ctx.body.clone());
    let meta = crate::dataplane::CallMeta {
        user_agent: ctx.user_agent().map(str::to_owned),
        request_id: ctx.request_id.clone(),
    };
    let result = ctx
        .blocking(move |st, caller| match op {
            Op::PutAuditEvents => {
                crate::dataplane::put_audit_events(st, caller, &env, &meta, &query, &body)
            }
            Op::BulkIngest => crate::dataplane::bulk_ingest(st, caller, &env, &meta, &body),
        })
        .await;
    if let Err(e) = &result
        && e.code == "AccessDeniedException"
    {
        let call = Call {
            event_source: "cloudtrail-data.amazonaws.com",
            event_name: op.name(),
            read_only: false,
            request: &Value::Null,
            region: None,
        };
        if let Err(e) = ctx.record(&call, Err((e.code, e.message.as_str()))).await {
            return WIRE.error(&e, &ctx.request_id);
        }
    }
    match result {
        Ok(v) => WIRE.ok_json(&v, &ctx.request_id),
        Err(e) => WIRE.error(&e, &ctx.request_id),
    }
}
