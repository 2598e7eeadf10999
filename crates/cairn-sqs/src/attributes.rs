//! Queue attributes: the settable ones with SQS's ranges and defaults, and their string form
//! on the wire (every attribute value is a string in SQS's API).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{QueueId, SqsError};

/// Largest message (body and attributes), bytes: SQS's limit and default since 2025.
pub const MAX_MESSAGE_SIZE: u32 = 1_048_576;

/// The settable attributes of a queue, with SQS's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueAttributes {
    /// Delay of every message before it can be received, seconds (0–900).
    pub delay_seconds: u32,
    /// Largest message accepted, bytes (1,024–1,048,576).
    pub maximum_message_size: u32,
    /// How long a message is kept, seconds (60–1,209,600).
    pub message_retention_period: u32,
    /// Default long-poll wait of ReceiveMessage, seconds (0–20).
    pub receive_message_wait_time_seconds: u32,
    /// Default visibility timeout, seconds (0–43,200).
    pub visibility_timeout: u32,
    /// Where messages go after `maxReceiveCount` receives.
    pub redrive_policy: Option<RedrivePolicy>,
    /// Which source queues may use this queue as their dead-letter queue (JSON, kept as given).
    pub redrive_allow_policy: Option<String>,
    /// The queue's resource policy (JSON, kept as given; evaluated by the server).
    pub policy: Option<String>,
    /// SSE-SQS. Cairn seals every message at rest whatever this says; it is kept for clients.
    pub sqs_managed_sse_enabled: bool,
    /// SSE-KMS key id, kept for clients (Cairn's own sealing applies).
    pub kms_master_key_id: Option<String>,
    /// SSE-KMS data key reuse period, seconds (60–86,400).
    pub kms_data_key_reuse_period_seconds: u32,
}

impl Default for QueueAttributes {
    fn default() -> Self {
        QueueAttributes {
            delay_seconds: 0,
            maximum_message_size: MAX_MESSAGE_SIZE,
            message_retention_period: 345_600,
            receive_message_wait_time_seconds: 0,
            visibility_timeout: 30,
            redrive_policy: None,
            redrive_allow_policy: None,
            policy: None,
            sqs_managed_sse_enabled: true,
            kms_master_key_id: None,
            kms_data_key_reuse_period_seconds: 300,
        }
    }
}

/// A queue's dead-letter configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedrivePolicy {
    /// The dead-letter queue.
    pub dead_letter_target: QueueId,
    /// Receives after which a message moves there (1–1,000).
    pub max_receive_count: u32,
}

/// Attributes SQS computes and returns but never takes.
pub const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Attributes of FIFO queues, which this server does not build.
const FIFO_ONLY: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Every settable attribute, in the order SQS lists them.
pub const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
];

fn int_in(name: &str, value: &str, lo: u32, hi: u32) -> Result<u32, SqsError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| SqsError::InvalidAttributeValue {
            name: name.to_owned(),
            reason: format!("must be an integer from {lo} to {hi}"),
        })
}

fn json_object(name: &str, value: &str) -> Result<serde_json::Value, SqsError> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(SqsError::InvalidAttributeValue {
            name: name.to_owned(),
            reason: "must be a JSON object".into(),
        }),
    }
}

impl QueueAttributes {
    /// Applies one attribute as the API gives it. Read-only names are refused
    /// (`InvalidAttributeName`), as SQS does on CreateQueue and SetQueueAttributes.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), SqsError> {
        match name {
            "DelaySeconds" => self.delay_seconds = int_in(name, value, 0, 900)?,
            "MaximumMessageSize" => {
                self.maximum_message_size = int_in(name, value, 1024, MAX_MESSAGE_SIZE)?;
            }
            "MessageRetentionPeriod" => {
                self.message_retention_period = int_in(name, value, 60, 1_209_600)?;
            }
            "ReceiveMessageWaitTimeSeconds" => {
                self.receive_message_wait_time_seconds = int_in(name, value, 0, 20)?;
            }
            "VisibilityTimeout" => self.visibility_timeout = int_in(name, value, 0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => {
                self.kms_data_key_reuse_period_seconds = int_in(name, value, 60, 86_400)?;
            }
            "Policy" => {
                self.policy = if value.is_empty() {
                    None
                } else {
                    json_object(name, value)?;
                    Some(value.to_owned())
                };
            }
            "RedriveAllowPolicy" => {
                self.redrive_allow_policy = if value.is_empty() {
                    None
                } else {
                    json_object(name, value)?;
                    Some(value.to_owned())
                };
            }
            "RedrivePolicy" => self.redrive_policy = parse_redrive(value)?,
            "KmsMasterKeyId" => {
                self.kms_master_key_id = (!value.is_empty()).then(|| value.to_owned());
            }
            "SqsManagedSseEnabled" => {
                self.sqs_managed_sse_enabled = match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(SqsError::InvalidAttributeValue {
                            name: name.to_owned(),
                            reason: "must be true or false".into(),
                        });
                    }
                };
            }
            "FifoQueue" if value == "false" => {}
            n if FIFO_ONLY.contains(&n) => {
                return Err(SqsError::NotImplemented(format!(
                    "the FIFO queue attribute {n}"
                )));
            }
            n => return Err(SqsError::InvalidAttributeName(n.to_owned())),
        }
        Ok(())
    }

    /// Attributes built from the API's map over the defaults.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, SqsError> {
        let mut a = QueueAttributes::default();
        for (k, v) in map {
            a.apply(k, v)?;
        }
        Ok(a)
    }

    /// The settable attributes in their wire form (only those set, for the optional ones).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), v);
        };
        put("DelaySeconds", self.delay_seconds.to_string());
        put("MaximumMessageSize", self.maximum_message_size.to_string());
        put(
            "MessageRetentionPeriod",
            self.message_retention_period.to_string(),
        );
        put(
            "ReceiveMessageWaitTimeSeconds",
            self.receive_message_wait_time_seconds.to_string(),
        );
        put("VisibilityTimeout", self.visibility_timeout.to_string());
        put(
            "SqsManagedSseEnabled",
            self.sqs_managed_sse_enabled.to_string(),
        );
        if let Some(p) = &self.policy {
            put("Policy", p.clone());
        }
        if let Some(p) = &self.redrive_allow_policy {
            put("RedriveAllowPolicy", p.clone());
        }
        if let Some(r) = &self.redrive_policy {
            put(
                "RedrivePolicy",
                serde_json::json!({
                    "deadLetterTargetArn": r.dead_letter_target.arn(),
                    "maxReceiveCount": r.max_receive_count,
                })
                .to_string(),
            );
        }
        if let Some(k) = &self.kms_master_key_id {
            put("KmsMasterKeyId", k.clone());
            put(
                "KmsDataKeyReusePeriodSeconds",
                self.kms_data_key_reuse_period_seconds.to_string(),
            );
        }
        m
    }

    /// The first attribute of `given` whose value differs from this queue's (CreateQueue on an
    /// existing name succeeds only when none does).
    pub fn first_difference(&self, given: &QueueAttributes) -> Option<&'static str> {
        let (a, b) = (self.to_map(), given.to_map());
        SETTABLE.iter().copied().find(|k| a.get(*k) != b.get(*k))
    }
}

fn parse_redrive(value: &str) -> Result<Option<RedrivePolicy>, SqsError> {
    if value.is_empty() {
        return Ok(None);
    }
    let bad = |reason: &str| SqsError::InvalidParameterValue {
        name: "RedrivePolicy".into(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let v = json_object("RedrivePolicy", value)?;
    let arn = v["deadLetterTargetArn"]
        .as_str()
        .ok_or_else(|| bad("Redrive policy does not contain deadLetterTargetArn."))?;
    let target =
        QueueId::from_arn(arn).ok_or_else(|| bad("Invalid value for deadLetterTargetArn."))?;
    // SQS takes maxReceiveCount as a number or a numeric string.
    let count = match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad("Redrive policy does not contain maxReceiveCount."))?;
    if !(1..=1000).contains(&count) {
        return Err(bad(
            "Invalid value for maxReceiveCount: must be from 1 to 1000.",
        ));
    }
    Ok(Some(RedrivePolicy {
        dead_letter_target: target,
        max_receive_count: count as u32,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sqs_defaults() {
        let m = QueueAttributes::default().to_map();
        assert_eq!(m["VisibilityTimeout"], "30");
        assert_eq!(m["MessageRetentionPeriod"], "345600");
        assert_eq!(m["MaximumMessageSize"], "1048576");
        assert_eq!(m["DelaySeconds"], "0");
        assert_eq!(m["ReceiveMessageWaitTimeSeconds"], "0");
        assert_eq!(m["SqsManagedSseEnabled"], "true");
    }

    #[test]
    fn ranges_are_checked() {
        let mut a = QueueAttributes::default();
        for (k, bad, good) in [
            ("DelaySeconds", "901", "900"),
            ("MaximumMessageSize", "1023", "1024"),
            ("MessageRetentionPeriod", "59", "1209600"),
            ("ReceiveMessageWaitTimeSeconds", "21", "20"),
            ("VisibilityTimeout", "43201", "0"),
            ("VisibilityTimeout", "-1", "43200"),
            ("VisibilityTimeout", "ten", "10"),
        ] {
            let e = a.apply(k, bad).expect_err(bad);
            assert!(
                matches!(e, SqsError::InvalidAttributeValue { .. }),
                "{k}={bad}: {e}"
            );
            a.apply(k, good).expect(good);
        }
        assert!(matches!(
            a.apply("ApproximateNumberOfMessages", "1"),
            Err(SqsError::InvalidAttributeName(_))
        ));
        assert!(matches!(
            a.apply("Nope", "1"),
            Err(SqsError::InvalidAttributeName(_))
        ));
        assert!(matches!(
            a.apply("FifoQueue", "true"),
            Err(SqsError::NotImplemented(_))
        ));
        a.apply("FifoQueue", "false")
            .expect("a standard queue may say so");
    }

    #[test]
    fn redrive_policy_round_trips_and_is_checked() {
        let mut a = QueueAttributes::default();
        a.apply(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"3"}"#,
        )
        .expect("valid");
        let r = a.redrive_policy.clone().expect("set");
        assert_eq!(r.max_receive_count, 3);
        assert_eq!(r.dead_letter_target.name, "dlq");
        let back = QueueAttributes::from_map(&a.to_map()).expect("round trip");
        assert_eq!(back, a);
        for bad in [
            r#"{"maxReceiveCount":3}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sns:us-east-1:123456789012:t","maxReceiveCount":3}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":0}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq"}"#,
            "[1]",
        ] {
            assert!(a.apply("RedrivePolicy", bad).is_err(), "{bad}");
        }
        a.apply("RedrivePolicy", "").expect("empty removes it");
        assert!(a.redrive_policy.is_none());
    }

    #[test]
    fn first_difference_names_the_attribute() {
        let a = QueueAttributes::default();
        let mut b = a.clone();
        assert_eq!(a.first_difference(&b), None);
        b.apply("VisibilityTimeout", "31").expect("valid");
        assert_eq!(a.first_difference(&b), Some("VisibilityTimeout"));
    }
}
