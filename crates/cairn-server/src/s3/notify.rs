//! S3 event notifications on the way out: S3's event message format, and the worker that
//! moves the vault's outbox ([`cairn_vault::events`]) into the destinations.
//!
//! Every outbox row goes to its queue with [`cairn_sqs::Sqs::send_message_once`] keyed by
//! the row's dedupe id, and is removed after: a crash between the two repeats the send,
//! which the queue drops, so each object event reaches each queue exactly once. A topic
//! destination gets the message published (subject `Amazon S3 Notification`) when the
//! topic's policy still lets `s3.amazonaws.com` publish for the bucket; SNS is at-least-once,
//! and so is this path (a crash between the publish and the removal publishes again). A
//! destination that cannot take it (queue or topic deleted, policy changed, database error)
//! keeps the row, retried with doubling backoff up to five minutes; nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use cairn_monitor::Monitor;
use cairn_sqs::{QueueId, SendMessage, Sqs};
use cairn_vault::{PendingEvent, Vault};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The `SenderId` of messages S3 notifications put in a queue.
pub const SENDER_ID: &str = "s3.amazonaws.com";

/// Characters S3 leaves as they are in an event's object key (it form-encodes the rest,
/// with `+` for a space).
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'/')
    .remove(b' ');

/// An object key as S3 writes it in an event (URL-encoded, `+` for a space).
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_KEEP)
        .to_string()
        .replace(' ', "+")
}

/// One record of S3's event message (event version 2.1).
pub fn event_record(e: &PendingEvent) -> Value {
    let mut object = json!({
        "key": encode_key(&e.key),
        "sequencer": e.sequencer(),
    });
    if let Some(size) = e.size {
        object["size"] = size.into();
    }
    if let Some(etag) = &e.etag {
        object["eTag"] = etag.as_str().into();
    }
    if let Some(v) = &e.version_id {
        object["versionId"] = v.as_str().into();
    }
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": e.region,
        "eventTime": super::ops::iso(e.event_time),
        "eventName": e.event_name,
        "userIdentity": { "principalId": principal(&e.origin.principal_id) },
        "requestParameters": { "sourceIPAddress": source_ip(&e.origin.source_ip) },
        "responseElements": {
            "x-amz-request-id": e.origin.request_id,
            "x-amz-id-2": format!("cairn/{}", e.id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": e.config_id,
            "bucket": {
                "name": e.bucket,
                "ownerIdentity": { "principalId": e.bucket_owner },
                "arn": format!("arn:aws:s3:::{}", e.bucket),
            },
            "object": object,
        },
    })
}

/// Deliveries Cairn makes itself (log and digest files) are the service's own writes.
fn principal(p: &str) -> &str {
    if p.is_empty() {
        "AWSService:cloudtrail.amazonaws.com"
    } else {
        p
    }
}

fn source_ip(ip: &str) -> &str {
    if ip.is_empty() { "127.0.0.1" } else { ip }
}

/// The message one event puts in a queue: `{"Records": [record]}`.
pub fn event_message(e: &PendingEvent) -> String {
    json!({ "Records": [event_record(e)] }).to_string()
}

/// S3's `s3:TestEvent`, sent to each queue when a configuration is stored.
pub fn test_event(bucket: &str, request_id: &str, now: OffsetDateTime) -> String {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": super::ops::iso(now),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": "cairn",
    })
    .to_string()
}

/// How long a failed event waits before its next attempt: 1 s doubling, at most 5 min.
fn backoff(attempts: u32) -> time::Duration {
    time::Duration::seconds(1i64 << attempts.min(9)).min(time::Duration::minutes(5))
}

/// Where events go: queues, and topics.
#[derive(Clone, Copy)]
pub struct Destinations<'a> {
    /// The queues.
    pub sqs: &'a Sqs,
    /// The topics.
    pub sns: &'a Monitor,
}

/// Delivers one event. `Ok(())` also when the queue had it already.
fn deliver(to: Destinations<'_>, e: &PendingEvent) -> Result<(), String> {
    if e.destination.split(':').nth(2) == Some("sns") {
        let bucket_arn = format!("arn:aws:s3:::{}", e.bucket);
        if !to
            .sns
            .can_publish(&e.destination, "s3.amazonaws.com", &bucket_arn)
        {
            return Err(format!(
                "{}: the topic is gone or its policy does not let S3 publish",
                e.destination
            ));
        }
        let input = cairn_monitor::PublishInput {
            subject: "Amazon S3 Notification".to_owned(),
            message: event_message(e),
            ..cairn_monitor::PublishInput::default()
        };
        // Stored before this returns; the monitor delivers to subscribers (with retries).
        return to
            .sns
            .publish_message(&e.destination, &input)
            .map(|_| ())
            .map_err(|err| format!("{}: {err}", e.destination));
    }
    let sqs = to.sqs;
    let Some(queue) = QueueId::from_arn(&e.destination) else {
        return Err(format!(
            "{} is not a destination Cairn serves",
            e.destination
        ));
    };
    let msg = SendMessage {
        body: event_message(e),
        sender_id: SENDER_ID.to_owned(),
        ..SendMessage::default()
    };
    sqs.send_message_once(&queue, &msg, &e.dedupe_id())
        .map(|_| ())
        .map_err(|err| format!("{}: {err}", e.destination))
}

/// Delivers every event due now; returns how many were delivered.
pub fn drain(vault: &Vault, to: Destinations<'_>) -> Result<usize, String> {
    let mut delivered = 0;
    loop {
        let now = OffsetDateTime::now_utc();
        let due = vault.pending_events(now, 256).map_err(|e| e.to_string())?;
        if due.is_empty() {
            return Ok(delivered);
        }
        let mut progressed = false;
        for e in &due {
            match deliver(to, e) {
                Ok(()) => {
                    vault.event_delivered(e.id).map_err(|e| e.to_string())?;
                    delivered += 1;
                    progressed = true;
                }
                Err(err) => {
                    tracing::warn!(bucket = %e.bucket, key = %e.key, attempts = e.attempts + 1, error = %err, "s3 event notification not delivered; will retry");
                    vault
                        .event_failed(e.id, &err, now + backoff(e.attempts))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        if !progressed && due.len() < 256 {
            return Ok(delivered);
        }
    }
}

/// The running delivery loop (a [`cairn_core::Worker`]).
#[derive(Debug)]
pub struct NotifyWorker {
    worker: cairn_core::Worker,
}

impl NotifyWorker {
    /// Starts delivering `vault`'s events into `sqs`: at once when a commit adds some, and
    /// every second for retries.
    pub fn start(vault: Arc<Vault>, sqs: Arc<Sqs>, sns: Arc<Monitor>) -> std::io::Result<Self> {
        let worker = cairn_core::Worker::spawn("cairn-s3-events", move |c| {
            let mut seen = 0;
            while !c.stopping() {
                let to = Destinations {
                    sqs: &sqs,
                    sns: &sns,
                };
                if let Err(e) = drain(&vault, to) {
                    tracing::error!(error = %e, "s3 event notifications: outbox unreadable");
                    c.report(Err(e));
                    if c.sleep(Duration::from_secs(1)) {
                        break;
                    }
                    continue;
                }
                c.report(Ok(()));
                seen = vault.wait_for_events(seen, Duration::from_millis(1000));
            }
            Ok(())
        })?;
        Ok(Self { worker })
    }

    /// Stops the loop (after the current pass).
    pub fn stop(self) {
        self.worker.shutdown(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_encoded_as_s3_does() {
        assert_eq!(
            encode_key("AWSLogs/1/CloudTrail/us-east-1/2026/12/08/a_b-c.json.gz"),
            "AWSLogs/1/CloudTrail/us-east-1/2026/12/08/a_b-c.json.gz"
        );
        assert_eq!(encode_key("a b+c=d/é"), "a+b%2Bc%3Dd/%C3%A9");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), time::Duration::seconds(1));
        assert_eq!(backoff(3), time::Duration::seconds(8));
        assert_eq!(backoff(30), time::Duration::minutes(5));
    }
}
