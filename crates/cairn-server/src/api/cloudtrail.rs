//! CloudTrail (`cloudtrail`, JSON 1.1, `X-Amz-Target: CloudTrail_20131101.<Operation>`),
//! served by `crate::cloudtrail` (control plane), `crate::history` (LookupEvents) and
//! `crate::lake` (event data stores and queries).

use axum::response::Response;
use http::Method;
use serde_json::Value;

use super::{Call, JSON_11, RequestCtx, Wire, admit, parse_json_body};
use crate::authz::Access;
use crate::cloudtrail::{CallContext, Operation, TARGET_PREFIX};
use crate::error::ApiError;

/// The protocol CloudTrail answers in.
pub const WIRE: Wire = Wire::Json(JSON_11);

/// Serves one CloudTrail call.
pub async fn handle(ctx: &RequestCtx) -> Response {
    let target = ctx.target();
    // botocore sends the long prefix, the newer Smithy models (AWS SDK for Rust) the short one.
    let op_name = target
        .strip_prefix(TARGET_PREFIX)
        .or_else(|| target.strip_prefix("CloudTrail_20131101."))
        .unwrap_or("");
    let Some(op) = Operation::from_name(op_name).filter(|_| ctx.parts.method == Method::POST)
    else {
        return ctx.unknown_operation(
            WIRE,
            format!(
                "unknown operation `{target}`: CloudTrail operations are POST / with X-Amz-Target: {TARGET_PREFIX}<Operation>"
            ),
        );
    };
    let call_ctx = CallContext {
        account: ctx.caller.account.clone(),
        region: ctx.caller.region.clone(),
        now: ctx.now,
    };
    let parsed = parse_json_body(&ctx.body);
    let request = parsed.as_ref().unwrap_or(&Value::Null).clone();
    let call = Call {
        event_source: "cloudtrail.amazonaws.com",
        event_name: op.name(),
        read_only: op.is_read_only(),
        request: &request,
        region: None,
    };
    let (admitted, v) = admit(parsed.and_then(|v| authorize(ctx, op, &call_ctx, &v).map(|()| v)));
    ctx.run(WIRE, call, admitted, execute(ctx, op, call_ctx, v))
        .await
}

/// Authorizes `cloudtrail:<Operation>` on the resolved resource's own ARN, never the text
/// the caller wrote (issue 14, item 2).
fn authorize(
    ctx: &RequestCtx,
    op: Operation,
    call_ctx: &CallContext,
    v: &Value,
) -> Result<(), ApiError> {
    let state = &ctx.state;
    let action = format!("cloudtrail:{}", op.name());
    let resource = state.control.authorization_resource(op, call_ctx, v, |k| {
        state.lake.get().and_then(|l| l.store_arn(call_ctx, k))
    });
    crate::authz::authorize(
        state,
        &ctx.caller,
        &ctx.env(),
        &Access::new(&action, &resource),
    )
    .map_err(|d| WIRE.access_denied(d))
}

/// Runs the operation: history and read-only control-plane calls in place, lake calls on
/// the lake's own tasks, changes off the async runtime.
async fn execute(
    ctx: &RequestCtx,
    op: Operation,
    call_ctx: CallContext,
    v: Value,
) -> Result<Value, ApiError> {
    let state = &ctx.state;
    if op == Operation::LookupEvents {
        return match state.history.get() {
            Some(h) => h.lookup_events(&call_ctx, &v),
            None => Err(ApiError::internal("the event history is not running")),
        };
    }
    if crate::lake::Lake::handles(op) {
        return match state.lake.get() {
            Some(l) => {
                l.call(state, &ctx.caller, &ctx.env(), op, &call_ctx, &v)
                    .await
            }
            None => Err(ApiError::internal("the lake is not running")),
        };
    }
    if op.is_read_only() {
        return state.control.call(op, &call_ctx, &v);
    }
    ctx.blocking(move |st, _| st.control.call(op, &call_ctx, &v))
        .await
}
