//! SNS-style topics and subscriptions, alarm notification messages, the
//! SignatureVersion 2 signer, and delivery with retries.
//!
//! # Wire formats
//!
//! * `http` / `https`: an SNS HTTP(S) notification: `POST` with headers
//!   `x-amz-sns-message-type: Notification`, `x-amz-sns-message-id`,
//!   `x-amz-sns-topic-arn`, `x-amz-sns-subscription-arn`, `Content-Type:
//!   text/plain; charset=UTF-8`, and the JSON body `{Type, MessageId,
//!   TopicArn, Subject, Message, Timestamp, SignatureVersion: "2", Signature,
//!   SigningCertURL, UnsubscribeURL}`. `Signature` is base64 RSA
//!   PKCS#1 v1.5 SHA-256 over the SNS canonical string
//!   `Message\n{m}\nMessageId\n{id}\nSubject\n{s}\nTimestamp\n{t}\nTopicArn\n{arn}\nType\n{type}\n`
//!   (Subject lines only when present), checkable with the certificate the
//!   server serves at `SigningCertURL` ([`Monitor::sns_certificate_pem`]).
//!   Subscriptions made with Cairn's own `/_cairn/monitor/subscribe` (and the CIS pack) are
//!   confirmed by the operator who creates them; those made through the SNS API
//!   ([`crate::Monitor::subscribe_api`]) start `PendingConfirmation` and get a signed
//!   `SubscriptionConfirmation` (`Token`, `SubscribeURL`) as AWS sends it, confirmed by
//!   [`crate::Monitor::confirm_subscription`].
//! * `sqs`: the endpoint is a queue ARN; the SNS envelope (or, with the subscription
//!   attribute `RawMessageDelivery=true`, the message itself) is handed to the
//!   [`QueueSink`] the server installs ([`crate::Monitor::set_queue_sink`]).
//! * `webhook-slack`: `{"text": "..."}` (Slack incoming-webhook format).
//! * `webhook-json`: `{"source": "cairn", "type": "alarm", "topicArn", "subject",
//!   "messageId", "timestamp", "message": <the CloudWatch alarm JSON>}`.
//! * `email`: a `text/plain; charset=utf-8` message through the SMTP relay of
//!   [`crate::MonitorConfig::smtp`], `From` the configured address, `To` the
//!   subscription endpoint, `Subject` CloudWatch's (`ALARM: "name" in US East
//!   (N. Virginia)`), `Message-ID: <{MessageId}@cairn.monitor>`; the body is
//!   CloudWatch's alarm e-mail text followed by the alarm notification JSON.
//!
//! `https://` endpoints (subscriptions and webhooks) are verified with rustls
//! against Mozilla's roots plus [`crate::MonitorConfig::extra_ca_pem`]; a
//! rejected certificate fails at once (no retries) and is kept as failed.
//!
//! A `Message` of an alarm is CloudWatch's alarm notification JSON
//! (`AlarmName`, `NewStateValue`, `NewStateReason`, `StateChangeTime`,
//! `Trigger{MetricName, Namespace, Statistic, Period, EvaluationPeriods,
//! ComparisonOperator, Threshold, ...}`).

mod delivery;
mod error;
mod message;
mod policy;
mod sign;
mod subs;
mod topics;

use std::collections::BTreeMap;

pub(crate) use delivery::enqueue_for_action;
pub use error::SnsError;
pub(crate) use message::{alarm_message, alarm_subject};
pub use policy::default_topic_policy;
pub(crate) use sign::Signer;
pub use sign::verify_sns_signature;
pub use subs::{SETTABLE_SUBSCRIPTION_ATTRIBUTES, SubscribeRequest, Subscribed, TOKEN_TTL_MS};
pub use topics::{SETTABLE_TOPIC_ATTRIBUTES, TopicAttributes};

/// Where `sqs` subscriptions deliver: the server implements it over its queue service.
/// `send` must be idempotent enough for at-least-once delivery (`dedupe_id` is the
/// notification's `MessageId`, the same on every retry).
pub trait QueueSink: Send + Sync {
    /// Sends `body`, a notification of topic `topic_arn`, to the queue `queue_arn`; `Err` is
    /// retried with backoff. A send repeated with the same `dedupe_id` to the same queue (a
    /// retry after a crash between the send and the notification's `delivered` mark) adds
    /// nothing: one message per notification. A sink with queue policies refuses a queue
    /// whose policy does not let `sns.amazonaws.com` send for `topic_arn`, as SQS does.
    fn send(
        &self,
        queue_arn: &str,
        topic_arn: &str,
        body: &str,
        dedupe_id: &str,
    ) -> Result<(), String>;
}

/// The conformance suite of a [`QueueSink`]: what every implementation must do for SNS's
/// at-least-once delivery. `queue_arn` names an existing, empty queue that takes `topic_arn`'s
/// notifications; `missing_arn` a queue
/// that does not exist; `received` reads the bodies the queue holds. A sink must deliver a body
/// byte for byte (SNS envelopes are signed: one changed byte breaks the signature), and must
/// answer `Err` for a queue it cannot deliver to (an `Ok` would mark the notification delivered
/// and drop it). A repeated dedupe id adds nothing to the queue. Returns what failed, if
/// anything.
pub fn queue_sink_conformance(
    sink: &dyn QueueSink,
    queue_arn: &str,
    missing_arn: &str,
    topic_arn: &str,
    received: &dyn Fn() -> Vec<String>,
) -> Result<(), String> {
    let body = r#"{"Type":"Notification","Message":"caf\u00e9 \"quoted\" \u2603 \n line","MessageId":"m-1"}"#;
    sink.send(queue_arn, topic_arn, body, "m-1")
        .map_err(|e| format!("send to an existing queue failed: {e}"))?;
    sink.send(queue_arn, topic_arn, "raw message \u{2603}", "m-2")
        .map_err(|e| format!("a raw message failed: {e}"))?;
    sink.send(queue_arn, topic_arn, body, "m-1")
        .map_err(|e| format!("a repeated send failed: {e}"))?;
    let got = received();
    if got != [body.to_owned(), "raw message \u{2603}".to_owned()] {
        return Err(format!(
            "the queue holds {got:?}, not the two bodies as sent, each once"
        ));
    }
    if sink.send(missing_arn, topic_arn, body, "m-3").is_ok() {
        return Err(format!(
            "a send to the missing queue {missing_arn} answered Ok"
        ));
    }
    if sink.send("not-an-arn", topic_arn, body, "m-4").is_ok() {
        return Err("a send to `not-an-arn` answered Ok".into());
    }
    if received().len() != 2 {
        return Err("refused sends changed the queue".into());
    }
    Ok(())
}

/// A message published to a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishInput {
    /// `Subject` (left out of envelopes when empty).
    pub subject: String,
    /// `Message`, as the subscriber gets it.
    pub message: String,
    /// `MessageAttributes`: name → (`DataType`, value as text).
    pub attributes: BTreeMap<String, (String, String)>,
}

/// How a subscription receives messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SNS HTTP notification (signed).
    Http,
    /// SNS HTTPS notification (signed), over TLS (rustls, aws-lc-rs).
    Https,
    /// Slack incoming webhook: `{"text": ...}`.
    WebhookSlack,
    /// Generic JSON webhook.
    WebhookJson,
    /// E-mail over SMTP ([`crate::MonitorConfig::smtp`]); without an SMTP
    /// server configured, subscribing answers `UnsupportedOperationException`.
    Email,
    /// An SQS queue (endpoint: the queue ARN), through the [`QueueSink`].
    Sqs,
}

impl Protocol {
    /// The wire name (`http`, `https`, `webhook-slack`, `webhook-json`, `email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::WebhookSlack => "webhook-slack",
            Protocol::WebhookJson => "webhook-json",
            Protocol::Email => "email",
            Protocol::Sqs => "sqs",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "webhook-slack" => Protocol::WebhookSlack,
            "webhook-json" => Protocol::WebhookJson,
            "email" => Protocol::Email,
            "sqs" => Protocol::Sqs,
            _ => return None,
        })
    }
}

/// A subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Protocol.
    pub protocol: Protocol,
    /// URL (http, https, webhooks) or address (email).
    pub endpoint: String,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// `arn:aws:sns:{region}:{account}:{topic}:{uuid}`.
    pub arn: String,
    /// Topic ARN.
    pub topic_arn: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Endpoint.
    pub endpoint: String,
    /// Whether the subscription is confirmed (only confirmed ones get notifications).
    pub confirmed: bool,
    /// The account that made the subscription (empty for operator-made ones).
    pub owner: String,
}

/// One message for one subscription, stored as `pending` before it is
/// returned. Its `body` is sent byte for byte on every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundNotification {
    /// Row id in the notification store.
    pub id: i64,
    /// `MessageId` (the same on retries).
    pub message_id: String,
    /// Topic ARN.
    pub topic_arn: String,
    /// Subscription ARN.
    pub subscription_arn: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Endpoint URL.
    pub endpoint: String,
    /// Subject.
    pub subject: String,
    /// The request body.
    pub body: String,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// 1-based attempt number.
    pub attempt: u32,
    /// HTTP status (SMTP reply code for e-mail), if a response arrived.
    pub status: Option<u16>,
    /// Transport error or non-2xx explanation.
    pub error: Option<String>,
    /// Duration of the attempt.
    pub elapsed_ms: u64,
}

/// The outcome of delivering one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Row id.
    pub notification_id: i64,
    /// `MessageId`.
    pub message_id: String,
    /// Endpoint.
    pub endpoint: String,
    /// Whether a 2xx response (e-mail: the relay's acceptance) was received.
    pub delivered: bool,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptOutcome>,
}

/// A notification kept after failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedNotification {
    /// Row id.
    pub id: i64,
    /// `MessageId`.
    pub message_id: String,
    /// Topic ARN.
    pub topic_arn: String,
    /// Subscription ARN (empty when the topic did not exist).
    pub subscription_arn: String,
    /// Endpoint.
    pub endpoint: String,
    /// Subject.
    pub subject: String,
    /// Body that could not be delivered.
    pub body: String,
    /// Attempts made.
    pub attempts: u32,
    /// Last error.
    pub last_error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in [
            Protocol::Http,
            Protocol::Https,
            Protocol::WebhookSlack,
            Protocol::WebhookJson,
            Protocol::Email,
            Protocol::Sqs,
        ] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        assert_eq!(Protocol::parse("lambda"), None);
    }
}
