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
//!   Subscriptions are confirmed by the operator who creates them (no
//!   `SubscriptionConfirmation` handshake).
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use crate::alarms::AlarmRow;
use crate::error::{MonitorError, Result};
use crate::ingest::AlarmStateChange;
use crate::mail::{self, Mailer};
use crate::{Monitor, RetryPolicy, db, httpc, util};

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

/// The SNS signing key and its self-signed certificate.
pub(crate) struct Signer {
    key: RsaKeyPair,
    cert_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// Associated data of the sealed SNS signing key.
const SNS_KEY_LABEL: &str = "cairn-monitor/sns-signing-key";

impl Signer {
    /// Loads the key from `meta`, or generates an RSA-2048 key and a
    /// self-signed certificate and stores both.
    /// Loads the SNS signing key (sealed under `storage_key` when one is set; a plaintext
    /// key stored before is re-stored sealed) or creates one.
    pub(crate) fn load_or_create(
        conn: &rusqlite::Connection,
        storage_key: Option<&crate::seal::StorageKey>,
    ) -> Result<Signer> {
        let crypto = |e: &dyn std::fmt::Display| MonitorError::Crypto {
            detail: e.to_string(),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        if let (Some(k), Some(c)) = (
            db::meta_get(conn, "sns_key_pkcs8")?,
            db::meta_get(conn, "sns_cert_pem")?,
        ) {
            let was_sealed = crate::seal::is_sealed(&k);
            let k = crate::seal::open(storage_key, SNS_KEY_LABEL, k)?;
            let der = b64.decode(&k).map_err(|e| crypto(&e))?;
            let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| crypto(&e))?;
            if !was_sealed && storage_key.is_some() {
                let sealed = crate::seal::seal(storage_key, SNS_KEY_LABEL, &k)?;
                db::meta_set(conn, "sns_key_pkcs8", &sealed)?;
            }
            return Ok(Signer { key, cert_pem: c });
        }
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| crypto(&e))?;
        let mut params = rcgen::CertificateParams::new(vec!["sns.cairn.local".to_string()])
            .map_err(|e| crypto(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sns.cairn.local");
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&kp).map_err(|e| crypto(&e))?;
        let der = kp.serialize_der();
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| crypto(&e))?;
        let cert_pem = cert.pem();
        let stored = crate::seal::seal(storage_key, SNS_KEY_LABEL, &b64.encode(&der))?;
        db::meta_set(conn, "sns_key_pkcs8", &stored)?;
        db::meta_set(conn, "sns_cert_pem", &cert_pem)?;
        Ok(Signer { key, cert_pem })
    }

    fn sign(&self, msg: &[u8]) -> Result<String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .map_err(|e| MonitorError::Crypto {
                detail: e.to_string(),
            })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }

    fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }
}

/// The SNS canonical string of a notification envelope.
fn canonical(env: &Value) -> String {
    let mut s = String::new();
    for k in [
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ] {
        if let Some(v) = env.get(k).and_then(Value::as_str) {
            s.push_str(k);
            s.push('\n');
            s.push_str(v);
            s.push('\n');
        }
    }
    s
}

/// Verifies the `Signature` of an SNS notification envelope (SignatureVersion
/// 2) with an RSA public key in PKCS#1 `RSAPublicKey` DER form (the
/// `subjectPublicKey` of the certificate at `SigningCertURL`).
pub fn verify_sns_signature(envelope: &Value, rsa_public_key_der: &[u8]) -> bool {
    if envelope.get("SignatureVersion").and_then(Value::as_str) != Some("2") {
        return false;
    }
    let Some(sig) = envelope
        .get("Signature")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    else {
        return false;
    };
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der)
        .verify(canonical(envelope).as_bytes(), &sig)
        .is_ok()
}

fn region_name(r: &str) -> &str {
    match r {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-north-1" => "EU (Stockholm)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "sa-east-1" => "South America (Sao Paulo)",
        "ca-central-1" => "Canada (Central)",
        other => other,
    }
}

/// The CloudWatch alarm notification JSON.
pub(crate) fn alarm_message(a: &AlarmRow, c: &AlarmStateChange) -> Value {
    let d = &a.def;
    let stat = d["Statistic"].as_str().unwrap_or("").to_ascii_uppercase();
    let dims: Vec<Value> = d
        .get("Dimensions")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|x| json!({"value": x["Value"], "name": x["Name"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "AlarmName": a.name,
        "AlarmDescription": d.get("AlarmDescription").cloned().unwrap_or(Value::Null),
        "AWSAccountId": a.account,
        "AlarmConfigurationUpdatedTimestamp": util::iso_ms_offset(a.config_updated_ms),
        "NewStateValue": c.new_state,
        "NewStateReason": c.reason,
        "StateChangeTime": util::iso_ms_offset(c.timestamp_ms),
        "Region": region_name(&a.region),
        "AlarmArn": a.arn(),
        "OldStateValue": c.old_state,
        "OKActions": a.actions("OKActions"),
        "AlarmActions": a.actions("AlarmActions"),
        "InsufficientDataActions": a.actions("InsufficientDataActions"),
        "Trigger": {
            "MetricName": d["MetricName"],
            "Namespace": d["Namespace"],
            "StatisticType": "Statistic",
            "Statistic": stat,
            "Unit": d.get("Unit").cloned().unwrap_or(Value::Null),
            "Dimensions": dims,
            "Period": d["Period"],
            "EvaluationPeriods": d["EvaluationPeriods"],
            "DatapointsToAlarm": d.get("DatapointsToAlarm").cloned().unwrap_or(d["EvaluationPeriods"].clone()),
            "ComparisonOperator": d["ComparisonOperator"],
            "Threshold": d["Threshold"],
            "TreatMissingData": d.get("TreatMissingData").cloned().unwrap_or(json!("missing")),
            "EvaluateLowSampleCountPercentile": "",
        },
    })
}

/// `ALARM: "name" in US East (N. Virginia)`.
pub(crate) fn alarm_subject(a: &AlarmRow, state: &str) -> String {
    let s = format!("{state}: \"{}\" in {}", a.name, region_name(&a.region));
    s.chars().take(100).collect()
}

/// The account field of an SNS ARN (`arn:{partition}:sns:{region}:{account}:{name}`).
pub(crate) fn arn_account(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", _, account, _] if !account.is_empty() => Some((*account).to_owned()),
        _ => None,
    }
}

fn topic_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{account}:{name}")
}

fn check_topic_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 256
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(MonitorError::invalid(format!(
            "Invalid parameter: Topic Name `{name}` (1-256 of A-Za-z0-9_-)"
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn body_for(
    mon: &Monitor,
    protocol: Protocol,
    message_id: &str,
    topic: &str,
    sub_arn: &str,
    subject: &str,
    message: &Value,
    now_ms: i64,
) -> Result<String> {
    Ok(match protocol {
        Protocol::Http | Protocol::Https => {
            let mut env = json!({
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic,
                "Subject": subject,
                "Message": message.to_string(),
                "Timestamp": util::iso_ms(now_ms),
                "SignatureVersion": "2",
            });
            env["Signature"] = json!(mon.signer.sign(canonical(&env).as_bytes())?);
            env["SigningCertURL"] = json!(mon.config.sns_cert_url);
            env["UnsubscribeURL"] = json!(format!(
                "{}?Action=Unsubscribe&SubscriptionArn={sub_arn}",
                mon.config.unsubscribe_url_base
            ));
            env.to_string()
        }
        Protocol::WebhookSlack => {
            let text = match message.get("AlarmName") {
                Some(_) => format!(
                    "*{}*: alarm `{}` in {} changed from {} to {}\n>{}\nMetric {}/{} ({} {} {} per {} s)",
                    message["NewStateValue"].as_str().unwrap_or(""),
                    message["AlarmName"].as_str().unwrap_or(""),
                    message["Region"].as_str().unwrap_or(""),
                    message["OldStateValue"].as_str().unwrap_or(""),
                    message["NewStateValue"].as_str().unwrap_or(""),
                    message["NewStateReason"].as_str().unwrap_or(""),
                    message["Trigger"]["Namespace"].as_str().unwrap_or(""),
                    message["Trigger"]["MetricName"].as_str().unwrap_or(""),
                    message["Trigger"]["Statistic"].as_str().unwrap_or(""),
                    message["Trigger"]["ComparisonOperator"]
                        .as_str()
                        .unwrap_or(""),
                    message["Trigger"]["Threshold"],
                    message["Trigger"]["Period"],
                ),
                None => format!("*{subject}*\n{message}"),
            };
            json!({ "text": text }).to_string()
        }
        Protocol::WebhookJson => json!({
            "source": "cairn",
            "type": "alarm",
            "topicArn": topic,
            "subject": subject,
            "messageId": message_id,
            "timestamp": util::iso_ms(now_ms),
            "message": message,
        })
        .to_string(),
        Protocol::Email => email_body(mon, subject, message),
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The plain-text body of an e-mail notification: CloudWatch's alarm e-mail
/// text and the notification JSON (any other message: the subject and the
/// message).
pub(crate) fn email_body(mon: &Monitor, subject: &str, message: &Value) -> String {
    let json = serde_json::to_string_pretty(message).unwrap_or_else(|_| message.to_string());
    if message.get("AlarmName").is_none() {
        let m = match message {
            Value::String(s) => s.clone(),
            _ => json,
        };
        return format!(
            "{subject}

{m}
"
        );
    }
    let t = &message["Trigger"];
    let actions = |k: &str| {
        message[k]
            .as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
            .map(|s| format!("[{s}]"))
            .unwrap_or_default()
    };
    let dims = t["Dimensions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| format!("[{} = {}]", text(&d["name"]), text(&d["value"])))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let unit = match &t["Unit"] {
        Value::Null => "not specified".to_string(),
        u => text(u),
    };
    format!(
        "You are receiving this email because your Amazon CloudWatch Alarm \"{name}\" in the {region} region has entered the {new} state, because \"{reason}\" at \"{at}\".\n\n\
         Alarm Details:\n\
         - Name:                       {name}\n\
         - Description:                {desc}\n\
         - State Change:               {old} -> {new}\n\
         - Reason for State Change:    {reason}\n\
         - Timestamp:                  {at}\n\
         - AWS Account:                {account}\n\
         - Alarm Arn:                  {arn}\n\n\
         Threshold:\n\
         - The alarm is in the ALARM state when the metric is {op} {threshold} for {datapoints} datapoints within {periods} periods of {period} seconds.\n\n\
         Monitored Metric:\n\
         - MetricNamespace:                     {ns}\n\
         - MetricName:                          {metric}\n\
         - Dimensions:                          {dims}\n\
         - Period:                              {period} seconds\n\
         - Statistic:                           {stat}\n\
         - Unit:                                {unit}\n\
         - TreatMissingData:                    {missing}\n\n\
         State Change Actions:\n\
         - OK: {ok}\n\
         - ALARM: {alarm}\n\
         - INSUFFICIENT_DATA: {insufficient}\n\n\
         Unsubscribe: {unsub}\n\n\
         Notification JSON:\n{json}\n",
        name = text(&message["AlarmName"]),
        region = text(&message["Region"]),
        new = text(&message["NewStateValue"]),
        old = text(&message["OldStateValue"]),
        reason = text(&message["NewStateReason"]),
        at = text(&message["StateChangeTime"]),
        desc = text(&message["AlarmDescription"]),
        account = text(&message["AWSAccountId"]),
        arn = text(&message["AlarmArn"]),
        op = text(&t["ComparisonOperator"]),
        threshold = text(&t["Threshold"]),
        datapoints = text(&t["DatapointsToAlarm"]),
        periods = text(&t["EvaluationPeriods"]),
        period = text(&t["Period"]),
        ns = text(&t["Namespace"]),
        metric = text(&t["MetricName"]),
        stat = text(&t["Statistic"]),
        missing = text(&t["TreatMissingData"]),
        ok = actions("OKActions"),
        alarm = actions("AlarmActions"),
        insufficient = actions("InsufficientDataActions"),
        unsub = mon.config.unsubscribe_url_base,
    )
}

/// Creates the notifications of one alarm action. An action that is not a
/// known topic is recorded as a failed notification (never dropped) and
/// reported as the error string.
pub(crate) fn enqueue_for_action(
    mon: &Monitor,
    tx: &Transaction<'_>,
    owner: Option<&str>,
    action: &str,
    subject: &str,
    message: &Value,
    now_ms: i64,
) -> Result<(Vec<OutboundNotification>, Option<String>)> {
    let topic: Option<(i64, String)> = tx
        .prepare_cached("SELECT id, account FROM topics WHERE arn = ?1")?
        .query_row([action], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    // An alarm notifies only its own account's topics (an alarm stored before this check
    // may name another account's topic: it is not notified).
    let foreign = match (&topic, owner) {
        (Some((_, topic_account)), Some(o)) => topic_account != o,
        _ => false,
    };
    let topic_id = topic.filter(|_| !foreign).map(|(id, _)| id);
    let Some(topic_id) = topic_id else {
        let err = if foreign {
            format!(
                "action target {action} belongs to another account and no topic policy grants this alarm's account"
            )
        } else {
            format!("action target {action} is not a topic of this Cairn server")
        };
        tx.prepare_cached(
            "INSERT INTO notifications(message_id, topic_arn, subscription_arn, protocol, endpoint, subject, body, status, attempts, last_error, created_ms, updated_ms)
             VALUES (?1, ?2, '', 'none', '', ?3, ?4, 'failed', 0, ?5, ?6, ?6)",
        )?
        .execute(params![uuid::Uuid::new_v4().to_string(), action, subject, message.to_string(), err, now_ms])?;
        return Ok((Vec::new(), Some(err)));
    };
    let subs: Vec<(String, String, String)> = tx
        .prepare_cached(
            "SELECT arn, protocol, endpoint FROM subscriptions WHERE topic_id = ?1 ORDER BY id",
        )?
        .query_map([topic_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (sub_arn, proto, endpoint) in subs {
        let Some(protocol) = Protocol::parse(&proto) else {
            continue;
        };
        let message_id = uuid::Uuid::new_v4().to_string();
        let body = body_for(
            mon,
            protocol,
            &message_id,
            action,
            &sub_arn,
            subject,
            message,
            now_ms,
        )?;
        tx.prepare_cached(
            "INSERT INTO notifications(message_id, topic_arn, subscription_arn, protocol, endpoint, subject, body, status, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)",
        )?
        .execute(params![message_id, action, sub_arn, proto, endpoint, subject, body, now_ms])?;
        out.push(OutboundNotification {
            id: tx.last_insert_rowid(),
            message_id,
            topic_arn: action.to_string(),
            subscription_arn: sub_arn,
            protocol,
            endpoint,
            subject: subject.to_string(),
            body,
        });
    }
    Ok((out, None))
}

/// What a delivery task needs besides the notification (no store access).
#[derive(Clone)]
struct Transports {
    retry: RetryPolicy,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    mailer: Option<Arc<Mailer>>,
}

/// One attempt: `Ok(status)` or `Err((status, error, retryable))`.
async fn attempt_once(
    n: &OutboundNotification,
    headers: &[(&str, String)],
    t: &Transports,
) -> std::result::Result<u16, (Option<u16>, String, bool)> {
    if n.protocol == Protocol::Email {
        let Some(mailer) = &t.mailer else {
            return Err((
                None,
                "e-mail delivery needs an SMTP server (MonitorConfig::smtp), and none is configured"
                    .into(),
                false,
            ));
        };
        return mailer
            .send(&n.endpoint, &n.subject, &n.message_id, &n.body)
            .await
            .map_err(|e| (e.code, e.message, e.retryable));
    }
    match httpc::post(
        &n.endpoint,
        headers,
        n.body.clone().into_bytes(),
        t.timeout,
        &t.tls,
    )
    .await
    {
        Ok(r) if (200..300).contains(&r.status) => Ok(r.status),
        Ok(r) => Err((
            Some(r.status),
            format!("endpoint answered HTTP {}", r.status),
            r.status == 429 || r.status >= 500,
        )),
        Err(e) => {
            let retryable = e.retryable();
            Err((None, e.to_string(), retryable))
        }
    }
}

/// Sends one notification with retries (no store access).
async fn send_with_retries(n: &OutboundNotification, t: &Transports) -> DeliveryReport {
    let retry = t.retry;
    let mut attempts = Vec::new();
    let mut delivered = false;
    let content_type = match n.protocol {
        Protocol::Http | Protocol::Https => "text/plain; charset=UTF-8",
        _ => "application/json",
    };
    let mut headers = vec![("content-type", content_type.to_string())];
    if matches!(n.protocol, Protocol::Http | Protocol::Https) {
        headers.push(("x-amz-sns-message-type", "Notification".to_string()));
        headers.push(("x-amz-sns-message-id", n.message_id.clone()));
        headers.push(("x-amz-sns-topic-arn", n.topic_arn.clone()));
        headers.push(("x-amz-sns-subscription-arn", n.subscription_arn.clone()));
    }
    for attempt in 1..=retry.max_attempts.max(1) {
        let started = Instant::now();
        let res = attempt_once(n, &headers, t).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (status, error, retryable) = match res {
            Ok(code) => (Some(code), None, false),
            Err((code, e, retryable)) => (code, Some(e), retryable),
        };
        let ok = error.is_none();
        attempts.push(AttemptOutcome {
            attempt,
            status,
            error,
            elapsed_ms,
        });
        if ok {
            delivered = true;
            break;
        }
        if !retryable || attempt == retry.max_attempts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(retry.backoff_ms(attempt))).await;
    }
    DeliveryReport {
        notification_id: n.id,
        message_id: n.message_id.clone(),
        endpoint: n.endpoint.clone(),
        delivered,
        attempts,
    }
}

fn note_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<OutboundNotification>> {
    let proto: String = r.get(4)?;
    let Some(protocol) = Protocol::parse(&proto) else {
        return Ok(None);
    };
    Ok(Some(OutboundNotification {
        id: r.get(0)?,
        message_id: r.get(1)?,
        topic_arn: r.get(2)?,
        subscription_arn: r.get(3)?,
        protocol,
        endpoint: r.get(5)?,
        subject: r.get(6)?,
        body: r.get(7)?,
    }))
}

impl Monitor {
    /// The PEM certificate of the SNS signing key (serve it at
    /// [`crate::MonitorConfig::sns_cert_url`]).
    pub fn sns_certificate_pem(&self) -> &str {
        &self.signer.cert_pem
    }

    /// The signing key's public key, PKCS#1 `RSAPublicKey` DER.
    pub fn sns_public_key_der(&self) -> Vec<u8> {
        self.signer.public_key_der()
    }

    /// Creates a topic (idempotent); returns its ARN `arn:aws:sns:{region}:{account}:{name}`.
    pub fn create_topic(&self, account: &str, region: &str, name: &str) -> Result<String> {
        check_topic_name(name)?;
        let arn = topic_arn(account, region, name);
        self.db().execute(
            "INSERT OR IGNORE INTO topics(arn, account, region, name, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![arn, account, region, name, self.now_ms()],
        )?;
        Ok(arn)
    }

    /// Deletes a topic and its subscriptions.
    pub fn delete_topic(&self, topic_arn: &str) -> Result<()> {
        let n = self
            .db()
            .execute("DELETE FROM topics WHERE arn = ?1", [topic_arn])?;
        if n == 0 {
            return Err(MonitorError::not_found(format!(
                "topic {topic_arn} does not exist"
            )));
        }
        Ok(())
    }

    /// Topic ARNs of an account and region.
    pub fn list_topics(&self, account: &str, region: &str) -> Result<Vec<String>> {
        let conn = self.db();
        let mut st =
            conn.prepare("SELECT arn FROM topics WHERE account = ?1 AND region = ?2 ORDER BY arn")?;
        let v = st
            .query_map(params![account, region], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// The account owning `topic_arn`: the account of the topic of that ARN when this server
    /// has it, else the ARN's own account field (`None` for text that is no SNS ARN).
    pub fn topic_owner(&self, topic_arn: &str) -> Result<Option<String>> {
        let stored: Option<String> = self
            .db()
            .query_row(
                "SELECT account FROM topics WHERE arn = ?1",
                [topic_arn],
                |r| r.get(0),
            )
            .optional()?;
        Ok(stored.or_else(|| arn_account(topic_arn)))
    }

    /// Refuses `action` on `topic_arn` by `account` unless the topic is the account's own.
    ///
    /// SNS lets another account use a topic only through the topic's policy; topics of this
    /// server have no policy, so another account's topic is refused with
    /// `AuthorizationError`, as SNS refuses a topic whose policy does not grant the caller.
    pub fn check_topic_use(&self, account: &str, topic_arn: &str, action: &str) -> Result<()> {
        match self.topic_owner(topic_arn)? {
            Some(owner) if owner != account => Err(MonitorError::AuthorizationError {
                message: format!(
                    "Account {account} is not authorized to perform: {action} on resource: {topic_arn}: the topic belongs to account {owner} and no topic policy grants it"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// [`Monitor::subscribe`] on behalf of `account`: only the topic owner's account may
    /// subscribe endpoints to it (see [`Monitor::check_topic_use`]).
    pub fn subscribe_as(
        &self,
        account: &str,
        topic_arn: &str,
        sub: &Subscription,
    ) -> Result<String> {
        self.check_topic_use(account, topic_arn, "SNS:Subscribe")?;
        self.subscribe(topic_arn, sub)
    }

    /// Subscribes an endpoint (idempotent: the same protocol and endpoint give
    /// the same ARN). `http`/`https`/webhooks need an `http://` or `https://`
    /// URL; `email` needs an address (`local@domain`) and an SMTP server in
    /// [`crate::MonitorConfig::smtp`] (without one: `UnsupportedOperationException`).
    pub fn subscribe(&self, topic_arn: &str, sub: &Subscription) -> Result<String> {
        match sub.protocol {
            Protocol::Email if self.mailer.is_none() => {
                return Err(MonitorError::NotImplemented {
                    operation:
                        "Subscribe(email) without an SMTP server configured (MonitorConfig::smtp)"
                            .into(),
                });
            }
            Protocol::Email => mail::check_address(&sub.endpoint)?,
            Protocol::Https if !sub.endpoint.starts_with("https://") => {
                return Err(MonitorError::invalid(
                    "an https subscription needs an https:// endpoint",
                ));
            }
            Protocol::Http if !sub.endpoint.starts_with("http://") => {
                return Err(MonitorError::invalid(
                    "an http subscription needs an http:// endpoint",
                ));
            }
            Protocol::WebhookJson | Protocol::WebhookSlack
                if !(sub.endpoint.starts_with("http://")
                    || sub.endpoint.starts_with("https://")) =>
            {
                return Err(MonitorError::invalid(
                    "a webhook subscription needs an http(s):// URL",
                ));
            }
            _ => {}
        }
        let conn = self.db();
        let topic_id: i64 = conn
            .query_row("SELECT id FROM topics WHERE arn = ?1", [topic_arn], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| MonitorError::not_found(format!("topic {topic_arn} does not exist")))?;
        if let Some(arn) = conn
            .query_row(
                "SELECT arn FROM subscriptions WHERE topic_id = ?1 AND protocol = ?2 AND endpoint = ?3",
                params![topic_id, sub.protocol.as_str(), sub.endpoint],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            return Ok(arn);
        }
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        conn.execute(
            "INSERT INTO subscriptions(arn, topic_id, protocol, endpoint, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![arn, topic_id, sub.protocol.as_str(), sub.endpoint, self.now_ms()],
        )?;
        Ok(arn)
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, subscription_arn: &str) -> Result<()> {
        let n = self.db().execute(
            "DELETE FROM subscriptions WHERE arn = ?1",
            [subscription_arn],
        )?;
        if n == 0 {
            return Err(MonitorError::not_found(format!(
                "subscription {subscription_arn} does not exist"
            )));
        }
        Ok(())
    }

    /// Subscriptions of a topic.
    pub fn list_subscriptions(&self, topic_arn: &str) -> Result<Vec<SubscriptionInfo>> {
        let conn = self.db();
        let mut st = conn.prepare(
            "SELECT s.arn, s.protocol, s.endpoint FROM subscriptions s JOIN topics t ON t.id = s.topic_id WHERE t.arn = ?1 ORDER BY s.id",
        )?;
        let rows = st.query_map([topic_arn], |r| <(String, String, String)>::try_from(r))?;
        let mut out = Vec::new();
        for r in rows {
            let (arn, p, endpoint) = r?;
            if let Some(protocol) = Protocol::parse(&p) {
                out.push(SubscriptionInfo {
                    arn,
                    topic_arn: topic_arn.to_string(),
                    protocol,
                    endpoint,
                });
            }
        }
        Ok(out)
    }

    /// Publishes a message to a topic (like SNS `Publish`); the notifications
    /// are stored as pending and returned for delivery.
    pub fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &Value,
    ) -> Result<Vec<OutboundNotification>> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let (notes, err) =
            enqueue_for_action(self, &tx, None, topic_arn, subject, message, self.now_ms())?;
        tx.commit()?;
        match err {
            Some(e) => Err(MonitorError::not_found(e)),
            None => Ok(notes),
        }
    }

    fn claim(&self, id: i64) -> Result<bool> {
        Ok(self.db().execute(
            "UPDATE notifications SET status = 'sending', updated_ms = ?2 WHERE id = ?1 AND status = 'pending'",
            params![id, self.now_ms()],
        )? == 1)
    }

    /// Delivers notifications (concurrently, each with retries and
    /// exponential backoff per [`crate::MonitorConfig::retry`]). Each is
    /// claimed first, so concurrent callers never send one twice; those
    /// already claimed or delivered are skipped. Outcomes are recorded:
    /// `delivered`, or `failed` with the last error (see
    /// [`Monitor::list_failed_notifications`]). Retryable failures are
    /// transport errors, timeouts, 429 and 5xx; other 4xx fail at once.
    pub async fn deliver_notifications(
        &self,
        notes: &[OutboundNotification],
    ) -> Vec<DeliveryReport> {
        let transports = Transports {
            retry: self.config.retry,
            timeout: Duration::from_millis(self.config.http_timeout_ms),
            tls: self.tls.clone(),
            mailer: self.mailer.clone(),
        };
        let mut set = tokio::task::JoinSet::new();
        for n in notes {
            match self.claim(n.id) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim notification");
                    continue;
                }
            }
            let n = n.clone();
            let t = transports.clone();
            set.spawn(async move { send_with_retries(&n, &t).await });
        }
        let mut reports = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(rep) => reports.push(rep),
                Err(e) => tracing::error!(error = %e, "notification task failed"),
            }
        }
        for rep in &reports {
            if let Err(e) = self.record(rep) {
                tracing::error!(error = %e, id = rep.notification_id, "cannot record delivery outcome");
            }
        }
        reports.sort_by_key(|r| r.notification_id);
        reports
    }

    fn record(&self, rep: &DeliveryReport) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.now_ms();
        let last_error = rep.attempts.last().and_then(|a| a.error.clone());
        let status = if rep.delivered { "delivered" } else { "failed" };
        let conn = self.db();
        conn.execute(
            "UPDATE notifications SET status = ?2, attempts = attempts + ?3, last_error = ?4, updated_ms = ?5 WHERE id = ?1",
            params![rep.notification_id, status, rep.attempts.len() as i64, last_error, now],
        )?;
        self.counters
            .delivery_attempts
            .fetch_add(rep.attempts.len() as u64, Relaxed);
        if rep.delivered {
            self.counters.notifications_delivered.fetch_add(1, Relaxed);
            let created: i64 = conn
                .query_row(
                    "SELECT created_ms FROM notifications WHERE id = ?1",
                    [rep.notification_id],
                    |r| r.get(0),
                )
                .unwrap_or(now);
            self.counters
                .last_delivery_lag_ms
                .store(now - created, Relaxed);
        } else {
            self.counters.notifications_failed.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// Delivers every pending notification (e.g. those caused by
    /// `PutLogEvents`, `SetAlarmState` or housekeeping).
    pub async fn deliver_pending(&self) -> Result<Vec<DeliveryReport>> {
        let notes: Vec<OutboundNotification> = {
            let conn = self.db();
            let mut st = conn.prepare(
                "SELECT id, message_id, topic_arn, subscription_arn, protocol, endpoint, subject, body
                 FROM notifications WHERE status = 'pending' ORDER BY id LIMIT 1000",
            )?;
            st.query_map([], note_from_row)?
                .filter_map(|r| r.transpose())
                .collect::<rusqlite::Result<_>>()?
        };
        Ok(self.deliver_notifications(&notes).await)
    }

    /// Puts failed notifications back to pending (to retry after fixing an endpoint).
    pub fn retry_failed_notifications(&self) -> Result<usize> {
        Ok(self.db().execute(
            "UPDATE notifications SET status = 'pending', updated_ms = ?1 WHERE status = 'failed' AND protocol != 'none'",
            [self.now_ms()],
        )?)
    }

    /// Notifications that could not be delivered, oldest first.
    pub fn list_failed_notifications(&self) -> Result<Vec<FailedNotification>> {
        let conn = self.db();
        let mut st = conn.prepare(
            "SELECT id, message_id, topic_arn, subscription_arn, endpoint, subject, body, attempts, COALESCE(last_error, '')
             FROM notifications WHERE status = 'failed' ORDER BY id",
        )?;
        let v = st
            .query_map([], |r| {
                Ok(FailedNotification {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    topic_arn: r.get(2)?,
                    subscription_arn: r.get(3)?,
                    endpoint: r.get(4)?,
                    subject: r.get(5)?,
                    body: r.get(6)?,
                    attempts: r.get::<_, i64>(7)? as u32,
                    last_error: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_order_and_optional_subject() {
        let env = json!({"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t"});
        assert_eq!(
            canonical(&env),
            "Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"
        );
        let env = json!({"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t", "Subject": "s"});
        assert!(canonical(&env).contains("MessageId\nid\nSubject\ns\nTimestamp"));
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in [
            Protocol::Http,
            Protocol::Https,
            Protocol::WebhookSlack,
            Protocol::WebhookJson,
            Protocol::Email,
        ] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        assert_eq!(Protocol::parse("sqs"), None);
    }
}
