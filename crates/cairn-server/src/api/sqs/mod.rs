//! SQS (`sqs`, JSON 1.0, `X-Amz-Target: AmazonSQS.<Operation>`), served by `cairn-sqs`.
//!
//! Errors carry SQS's JSON code in `__type` and its query-protocol code in
//! `x-amzn-query-error`, as SQS does, so SDKs in query-compatible mode (boto3) see
//! `AWS.SimpleQueueService.NonExistentQueue` where AWS's own SQS would give it.
//!
//! Queue URLs are `<scheme>://<host>/<account>/<queue>` with the host the client used; the
//! region is the request's. Every call is authorized on the queue's ARN with the queue's own
//! policy as the resource policy, so another account reaches a queue only when its policy
//! says so. Message bodies never reach the audit record.

mod ops;

use std::borrow::Cow;
use std::time::Duration;

use axum::response::Response;
use http::Method;
use serde_json::{Value, json};

use super::{Call, JSON_10, Reply, RequestCtx, Wire, admit, parse_json_body};
use crate::error::ApiError;

/// The query-protocol code of an SQS JSON error code.
fn query_code(code: &'static str) -> &'static str {
    cairn_sqs::query_code_of(code)
}

/// The protocol SQS answers in.
pub const WIRE: Wire = Wire::JsonQueryCompatMapped(JSON_10, query_code);

/// `X-Amz-Target` prefix of the SQS API.
pub const TARGET_PREFIX: &str = "AmazonSQS.";

/// Every SQS operation this server knows, and whether it only reads.
const OPERATIONS: &[(&str, bool)] = &[
    ("AddPermission", false),
    ("CancelMessageMoveTask", false),
    ("ChangeMessageVisibility", false),
    ("ChangeMessageVisibilityBatch", false),
    ("CreateQueue", false),
    ("DeleteMessage", false),
    ("DeleteMessageBatch", false),
    ("DeleteQueue", false),
    ("GetQueueAttributes", true),
    ("GetQueueUrl", true),
    ("ListDeadLetterSourceQueues", true),
    ("ListMessageMoveTasks", true),
    ("ListQueueTags", true),
    ("ListQueues", true),
    ("PurgeQueue", false),
    ("ReceiveMessage", false),
    ("RemovePermission", false),
    ("SendMessage", false),
    ("SendMessageBatch", false),
    ("SetQueueAttributes", false),
    ("StartMessageMoveTask", false),
    ("TagQueue", false),
    ("UntagQueue", false),
];

/// The request as the audit record shows it: message bodies and attribute values left out.
pub fn audit_request(request: &Value) -> Value {
    fn scrub(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "MessageBody" | "MessageAttributes"))
                    .map(|(k, v)| (k.clone(), scrub(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(scrub).collect()),
            other => other.clone(),
        }
    }
    scrub(request)
}

/// A successful SQS answer, with what its record shows (no message bodies).
pub(crate) struct SqsReply {
    /// The answer.
    pub(crate) body: Value,
    /// `responseElements`.
    pub(crate) audit: Value,
}

impl SqsReply {
    fn same(body: Value) -> SqsReply {
        SqsReply {
            audit: body.clone(),
            body,
        }
    }
}

impl Reply for SqsReply {
    fn audit_response(&self) -> Cow<'_, Value> {
        Cow::Borrowed(&self.audit)
    }

    fn render(self, wire: Wire, request_id: &str) -> Response {
        wire.ok_json(&self.body, request_id)
    }
}

/// Serves one SQS call. Every operation name is recorded; SQS operations this server does
/// not build are answered "not implemented".
pub async fn handle(ctx: &RequestCtx) -> Response {
    let target = ctx.target();
    let known = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|op| OPERATIONS.iter().find(|(n, _)| *n == op));
    let (name, read_only) = match known {
        Some(&(op, ro)) if ctx.parts.method == Method::POST => (op, ro),
        _ => {
            return ctx.unknown_operation(
                WIRE,
                format!(
                    "unknown operation `{target}`: SQS operations are POST / with X-Amz-Target: {TARGET_PREFIX}<Operation>"
                ),
            );
        }
    };
    let parsed = parse_json_body(&ctx.body);
    let request = audit_request(parsed.as_ref().unwrap_or(&Value::Null));
    let call = Call {
        event_source: "sqs.amazonaws.com",
        event_name: name,
        read_only,
        request: &request,
        region: None,
    };
    let (admitted, v) = admit(parsed);
    let base = queue_url_base(ctx);
    let env = ctx.env();
    let work = async move {
        if name == "ReceiveMessage" {
            return receive_with_wait(ctx, v, base).await;
        }
        ctx.blocking(move |state, caller| {
            ops::execute(&ops::SqsCall {
                state,
                caller,
                env,
                op: name,
                v: &v,
                base: &base,
            })
        })
        .await
    };
    ctx.run(WIRE, call, admitted, work).await
}

/// `<scheme>://<host>`: queue URLs name the endpoint the client used.
fn queue_url_base(ctx: &RequestCtx) -> String {
    let host = ctx
        .header("host")
        .map(str::to_owned)
        .or_else(|| ctx.parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let scheme = if ctx.caller.secure_transport {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// ReceiveMessage with long polling: receive; when nothing came and the wait (the call's
/// `WaitTimeSeconds`, else the queue's `ReceiveMessageWaitTimeSeconds`) has not run out,
/// sleep until a send wakes the queue service, a delayed or in-flight message falls due, or
/// the wait ends, and receive again.
async fn receive_with_wait(ctx: &RequestCtx, v: Value, base: String) -> Result<SqsReply, ApiError> {
    let env = ctx.env();
    let v = std::sync::Arc::new(v);
    // One receive attempt on the blocking pool (the first one authorizes and checks the call).
    let attempt = |known: Option<cairn_sqs::QueueId>| {
        let (v, base) = (v.clone(), base.clone());
        ctx.blocking(move |state, caller| {
            let call = ops::SqsCall {
                state,
                caller,
                env,
                op: "ReceiveMessage",
                v: &v,
                base: &base,
            };
            ops::receive_once(&call, known.as_ref())
        })
    };
    let ops::Polled {
        reply,
        queue,
        wait_secs,
    } = attempt(None).await?;
    if reply.is_some() || wait_secs == 0 {
        return Ok(reply.unwrap_or_else(empty));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_secs.into());
    let mut changed = ctx.state.sqs.subscribe();
    loop {
        let (sqs, q) = (ctx.state.sqs.clone(), queue.clone());
        let next = tokio::task::spawn_blocking(move || sqs.next_visible_in_ms(&q))
            .await
            .map_err(ApiError::internal)??;
        let mut until = deadline;
        if let Some(ms) = next {
            let due = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            until = until.min(tokio::time::Instant::now() + due);
        }
        let _ = tokio::time::timeout_at(until, changed.changed()).await;
        if let Some(reply) = attempt(Some(queue.clone())).await?.reply {
            return Ok(reply);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(empty());
        }
    }
}

/// ReceiveMessage's answer when no message came.
fn empty() -> SqsReply {
    SqsReply::same(json!({"Messages": []}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_request_drops_bodies_everywhere() {
        let r = json!({"QueueUrl": "u", "MessageBody": "secret",
            "Entries": [{"Id": "1", "MessageBody": "s", "MessageAttributes": {"a": {}}}]});
        assert_eq!(
            audit_request(&r),
            json!({"QueueUrl": "u", "Entries": [{"Id": "1"}]})
        );
    }

    #[test]
    fn every_operation_is_listed_once_and_in_botocore_order() {
        let names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
