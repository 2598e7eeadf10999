//! CloudWatch Logs (`logs`, JSON 1.1 `Logs_20140328.*`) and CloudWatch (`monitoring`,
//! JSON 1.0 `GraniteServiceVersion20100801.*`), served by `cairn-monitor`; plus Cairn's
//! `POST /_cairn/monitor/<operation>` calls (signed for `logs`, see `crate::monitoring`).

use axum::response::Response;
use http::Method;
use serde_json::Value;

use super::{Call, JSON_10, JSON_11, RequestCtx, Wire, admit, parse_json_body};
use crate::authz::Access;

/// Which monitor API a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// CloudWatch Logs.
    Logs,
    /// CloudWatch (metrics and alarms).
    CloudWatch,
    /// Cairn's own operations under `/_cairn/monitor/`.
    Cairn,
}

impl Api {
    fn wire(self) -> Wire {
        match self {
            Api::Logs | Api::Cairn => Wire::Json(JSON_11),
            Api::CloudWatch => Wire::JsonQueryCompat(JSON_10),
        }
    }

    fn event_source(self) -> &'static str {
        match self {
            Api::Logs | Api::Cairn => "logs.amazonaws.com",
            Api::CloudWatch => "monitoring.amazonaws.com",
        }
    }

    fn action(self, op: &str) -> String {
        match self {
            Api::Cairn => format!("cairn:{op}"),
            Api::Logs => format!("logs:{op}"),
            Api::CloudWatch => format!("cloudwatch:{op}"),
        }
    }
}

/// Whether a monitor operation only reads.
fn is_read_only(op: &str) -> bool {
    ["Describe", "Get", "List", "Filter", "Test"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// Serves one call signed for `logs` (`logs` true) or `monitoring`.
pub async fn handle(ctx: &RequestCtx, logs: bool) -> Response {
    let (api, op) = match operation(ctx, logs) {
        Ok(x) => x,
        // Answered in JSON 1.1 whatever the service, as before the handlers were split.
        Err(message) => return ctx.unknown_operation(Wire::Json(JSON_11), message),
    };
    let read_only = is_read_only(&op);
    let parsed = parse_json_body(&ctx.body).and_then(|v| {
        let action = api.action(&op);
        let access = Access::new(&action, "*");
        crate::authz::authorize(&ctx.state, &ctx.caller, &ctx.env(), &access)
            .map_err(|d| api.wire().access_denied(d))?;
        Ok(v)
    });
    let request = parsed.as_ref().unwrap_or(&Value::Null).clone();
    let call = Call {
        event_source: api.event_source(),
        event_name: &op,
        read_only,
        request: &request,
        region: None,
    };
    let (admitted, v) = admit(parsed);
    let op2 = op.clone();
    let work = ctx.blocking(move |st, a| match api {
        Api::Cairn => crate::monitoring::cairn_call(st, a, &op2, &v),
        Api::Logs => Ok(st.monitor.logs_call(&op2, &a.account, &a.region, &v)?),
        Api::CloudWatch => Ok(st
            .monitor
            .cloudwatch_call(&op2, &a.account, &a.region, &v)?),
    });
    ctx.run(api.wire(), call, admitted, work).await
}

/// The API and operation a call names, or the unknown-operation message.
fn operation(ctx: &RequestCtx, logs: bool) -> Result<(Api, String), String> {
    if logs && let Some(op) = crate::monitoring::cairn_operation(ctx.parts.uri.path()) {
        return Ok((Api::Cairn, op.to_owned()));
    }
    let (api, prefix) = if logs {
        (Api::Logs, "Logs_20140328.")
    } else {
        (Api::CloudWatch, "GraniteServiceVersion20100801.")
    };
    let target = ctx.target();
    match target.strip_prefix(prefix) {
        Some(op) if ctx.parts.method == Method::POST && !op.is_empty() => Ok((api, op.to_owned())),
        _ => Err(format!(
            "unknown operation `{target}`: use POST / with X-Amz-Target: {prefix}<Operation>"
        )),
    }
}
