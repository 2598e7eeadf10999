//! SNS (`sns`, the AWS query protocol, `Version=2010-03-31`), served by `cairn-monitor`.
//!
//! Requests are form-encoded `Action=...`; answers are `<{Action}Response>` XML and errors
//! `<ErrorResponse>` with SNS's codes ([`cairn_monitor::SnsError`]). Every call is authorized
//! on the topic's ARN with the caller's identity policies and the topic's `Policy` as the
//! resource policy (so another account reaches a topic only when its policy says so), and
//! recorded as `sns.amazonaws.com`; Publish records its `messageId`, never the message.
//!
//! Two unsigned paths: `GET /_cairn/sns-cert.pem` (the signing certificate, `SigningCertURL`)
//! and `GET /_cairn/sns/confirm?TopicArn=..&Token=..` (`SubscribeURL`), a ConfirmSubscription
//! authorized by its token and recorded through the same audited-call path.

mod ops;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Call, RequestCtx, Wire, respond};
use crate::api::iam::QueryReply;
use crate::authn::Caller;
use crate::iam::api::{QueryRequest, Service};
use crate::state::AppState;

/// The protocol SNS answers in.
pub const WIRE: Wire = Wire::Query(Service::Sns);

/// Body limit of an SNS call: a 256 KiB message, form-encoded (up to 3 bytes per byte),
/// plus its attributes.
pub const MAX_BODY: usize = 1024 * 1024;

/// The SNS actions Cairn serves, and whether they only read.
const SERVED: &[(&str, bool)] = &[
    ("ConfirmSubscription", false),
    ("CreateTopic", false),
    ("DeleteTopic", false),
    ("GetSubscriptionAttributes", true),
    ("GetTopicAttributes", true),
    ("ListSubscriptions", true),
    ("ListSubscriptionsByTopic", true),
    ("ListTagsForResource", true),
    ("ListTopics", true),
    ("Publish", false),
    ("SetSubscriptionAttributes", false),
    ("SetTopicAttributes", false),
    ("Subscribe", false),
    ("TagResource", false),
    ("Unsubscribe", false),
    ("UntagResource", false),
];

/// SNS actions Cairn knows but does not serve: `NotImplemented` (anything else is
/// `InvalidAction`, as SNS answers an unknown action).
pub(crate) const NOT_SERVED: &[&str] = &[
    "AddPermission",
    "CheckIfPhoneNumberIsOptedOut",
    "CreatePlatformApplication",
    "CreatePlatformEndpoint",
    "CreateSMSSandboxPhoneNumber",
    "DeleteEndpoint",
    "DeletePlatformApplication",
    "DeleteSMSSandboxPhoneNumber",
    "GetDataProtectionPolicy",
    "GetEndpointAttributes",
    "GetPlatformApplicationAttributes",
    "GetSMSAttributes",
    "GetSMSSandboxAccountStatus",
    "ListEndpointsByPlatformApplication",
    "ListOriginationNumbers",
    "ListPhoneNumbersOptedOut",
    "ListPlatformApplications",
    "ListSMSSandboxPhoneNumbers",
    "OptInPhoneNumber",
    "PublishBatch",
    "PutDataProtectionPolicy",
    "RemovePermission",
    "SetEndpointAttributes",
    "SetPlatformApplicationAttributes",
    "SetSMSAttributes",
    "VerifySMSSandboxPhoneNumber",
];

/// Whether an action only reads (`Get*`, `List*`, `Check*`; unknown ones too).
fn read_only(action: &str) -> bool {
    SERVED.iter().find(|(n, _)| *n == action).map_or_else(
        || {
            ["Get", "List", "Check"]
                .iter()
                .any(|p| action.starts_with(p))
        },
        |(_, ro)| *ro,
    )
}

/// The request as the audit record shows it: camelCase names; no message, subject,
/// message attributes or confirmation token.
fn audit_request(req: &QueryRequest) -> Value {
    let mut kept = req.clone();
    kept.params.retain(|k, _| {
        !matches!(k.as_str(), "Message" | "Subject" | "Token")
            && !k.starts_with("MessageAttributes.")
    });
    crate::iam::api::audit_parameters(&kept)
}

/// `<scheme>://<host>` of the endpoint the client used (for `SubscribeURL` and
/// `SigningCertURL`).
fn url_base(parts: &http::request::Parts, secure: bool) -> String {
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let scheme = if secure { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// Serves one SNS call.
pub async fn handle(ctx: &RequestCtx) -> Response {
    let parsed = crate::iam::api::parse_request(
        Service::Sns,
        ctx.parts.uri.query().unwrap_or(""),
        &ctx.body,
    );
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return WIRE.error(&e, &ctx.request_id),
    };
    let request = audit_request(&req);
    let call = Call {
        event_source: "sns.amazonaws.com",
        event_name: &req.action,
        read_only: read_only(&req.action),
        request: &request,
        region: None,
    };
    let (env, base) = (ctx.env(), url_base(&ctx.parts, ctx.caller.secure_transport));
    let req2 = req.clone();
    let work = async move {
        let reply = ctx
            .blocking(move |st, caller| {
                ops::execute(&ops::SnsCall {
                    state: st,
                    caller,
                    env,
                    req: &req2,
                    base: &base,
                })
            })
            .await?;
        deliver_soon(&ctx.state, reply.1);
        Ok(reply.0)
    };
    ctx.run(WIRE, call, Ok(()), work).await
}

/// Starts delivering stored notifications (they are durable already; the background loop
/// retries whatever this does not finish).
fn deliver_soon(state: &Arc<AppState>, notes: Vec<cairn_monitor::OutboundNotification>) {
    if notes.is_empty() {
        return;
    }
    let monitor = state.monitor.clone();
    tokio::spawn(async move {
        monitor.deliver_notifications(&notes).await;
    });
}

/// `GET /_cairn/sns-cert.pem`.
pub fn certificate(state: &AppState) -> Response {
    respond(
        StatusCode::OK,
        state.monitor.sns_certificate_pem().to_owned(),
        "application/x-pem-file",
        &uuid::Uuid::new_v4().to_string(),
    )
}

/// `GET /_cairn/sns/confirm?TopicArn=..&Token=..`: confirms the subscription holding the
/// token. Recorded as ConfirmSubscription in the topic owner's account, with SNS as the
/// (unsigned) caller, as the token is the only credential.
pub async fn confirm_url(
    state: Arc<AppState>,
    parts: http::request::Parts,
    peer: SocketAddr,
    secure: bool,
) -> Response {
    let query = crate::dataplane::form_urlencoded(parts.uri.query().unwrap_or(""));
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (topic_arn, token) = (get("TopicArn"), get("Token"));
    let topic_owner = state
        .monitor
        .topic_owner(&topic_arn)
        .ok()
        .flatten()
        .unwrap_or_default();
    let region = topic_arn.split(':').nth(3).unwrap_or("").to_owned();
    let caller = Caller {
        principal: cairn_auth::Principal::AwsService {
            service: "sns.amazonaws.com".into(),
        },
        account: topic_owner,
        access_key_id: String::new(),
        region: if region.is_empty() {
            state.config.home_region.as_str().to_owned()
        } else {
            region
        },
        service: "sns".into(),
        secure_transport: secure,
    };
    let ctx = RequestCtx {
        state,
        parts,
        body: Bytes::new(),
        caller,
        peer,
        request_id: uuid::Uuid::new_v4().to_string(),
        now: OffsetDateTime::now_utc(),
    };
    let mut request = Map::new();
    request.insert("topicArn".into(), Value::String(topic_arn.clone()));
    let request = Value::Object(request);
    let call = Call {
        event_source: "sns.amazonaws.com",
        event_name: "ConfirmSubscription",
        read_only: false,
        request: &request,
        region: None,
    };
    let work = ctx.blocking(move |st, _| {
        let arn = st
            .monitor
            .confirm_subscription(&topic_arn, &token)
            .map_err(cairn_monitor::SnsError)?;
        Ok(ops::confirmed_reply(arn))
    });
    ctx.run(WIRE, call, Ok(()), work).await
}

/// SNS → SQS: a notification for an `sqs` subscription is sent to the queue of its ARN, with
/// SNS's sender id, when the queue's policy lets `sns.amazonaws.com` send for the topic
/// (`aws:SourceArn`), as SQS requires of SNS in any account; once per notification and queue.
#[derive(Debug)]
pub struct SqsSink(Arc<cairn_sqs::Sqs>);

impl SqsSink {
    /// A sink into `sqs`.
    pub fn new(sqs: Arc<cairn_sqs::Sqs>) -> Self {
        Self(sqs)
    }
}

impl cairn_monitor::QueueSink for SqsSink {
    /// Sends once per `dedupe_id` (the notification's): a retry after a crash between the
    /// send and the notification's `delivered` mark makes no second message.
    fn send(
        &self,
        queue_arn: &str,
        topic_arn: &str,
        body: &str,
        dedupe_id: &str,
    ) -> Result<(), String> {
        let queue = cairn_sqs::QueueId::from_arn(queue_arn)
            .ok_or_else(|| format!("`{queue_arn}` is not an SQS queue ARN"))?;
        let policy = self
            .0
            .get_queue(&queue)
            .map_err(|e| e.to_string())?
            .attributes
            .policy;
        let topic_account = topic_arn.split(':').nth(4).unwrap_or_default();
        let allowed = policy.as_deref().is_some_and(|p| {
            crate::authz::service_may(
                p,
                "sns.amazonaws.com",
                "sqs:SendMessage",
                (queue_arn, &queue.account),
                (topic_arn, topic_account),
            )
        });
        if !allowed {
            return Err(format!(
                "AccessDenied: the policy of {queue_arn} does not let sns.amazonaws.com send messages from {topic_arn}"
            ));
        }
        let msg = cairn_sqs::SendMessage {
            body: body.to_owned(),
            sender_id: "AIDAIT2UOQQY3AUEKVGXU".to_owned(),
            ..cairn_sqs::SendMessage::default()
        };
        self.0
            .send_message_once(&queue, &msg, &format!("sns:{queue_arn}:{dedupe_id}"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The reply type of the SNS operations.
pub(crate) type SnsReply = QueryReply;
