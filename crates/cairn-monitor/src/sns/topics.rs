//! Topics: create, delete, list, attributes (`Policy`, `DisplayName`, `KmsMasterKeyId`,
//! `DeliveryPolicy` and the read-only ones), tags, and Publish.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::delivery::{Message, fan_out};
use super::policy::effective_policy_text;
use super::{OutboundNotification, PublishInput};
use crate::Monitor;
use crate::error::{MonitorError, Result};

/// Attributes SetTopicAttributes may change.
pub const SETTABLE_TOPIC_ATTRIBUTES: &[&str] =
    &["Policy", "DisplayName", "KmsMasterKeyId", "DeliveryPolicy"];

/// The default `EffectiveDeliveryPolicy` of a topic (AWS's for http(s)).
const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

/// Most tags on one topic (AWS's quota).
const MAX_TAGS: usize = 50;

/// A topic's attributes as GetTopicAttributes answers them.
pub type TopicAttributes = BTreeMap<String, String>;

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

/// Checks a `KmsMasterKeyId`: a key id (UUID or `mrk-` id), `alias/<name>`, or a KMS key or
/// alias ARN.
pub(crate) fn check_kms_key_id(id: &str) -> Result<()> {
    let bad = || {
        MonitorError::invalid(format!(
            "Invalid parameter: KmsMasterKeyId `{id}` is not a key id, alias name, key ARN or alias ARN"
        ))
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 256
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    };
    let key_id_ok = |s: &str| {
        uuid::Uuid::parse_str(s).is_ok()
            || s.strip_prefix("mrk-")
                .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if let Some(alias) = id.strip_prefix("alias/") {
        return if name_ok(alias) { Ok(()) } else { Err(bad()) };
    }
    if let Some(rest) = id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return match parts.as_slice() {
            [_, "kms", region, account, res]
                if !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                match (res.strip_prefix("key/"), res.strip_prefix("alias/")) {
                    (Some(k), _) if key_id_ok(k) => Ok(()),
                    (_, Some(a)) if name_ok(a) => Ok(()),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        };
    }
    if key_id_ok(id) { Ok(()) } else { Err(bad()) }
}

/// A stored topic.
pub(crate) struct TopicRow {
    pub(crate) id: i64,
    pub(crate) account: String,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) subs_deleted: i64,
}

impl Monitor {
    /// The PEM certificate of the SNS signing key (served at `/_cairn/sns-cert.pem`).
    pub fn sns_certificate_pem(&self) -> &str {
        &self.signer.cert_pem
    }

    /// The signing key's public key, PKCS#1 `RSAPublicKey` DER.
    pub fn sns_public_key_der(&self) -> Vec<u8> {
        self.signer.public_key_der()
    }

    /// Creates a topic (idempotent); returns its ARN `arn:aws:sns:{region}:{account}:{name}`.
    pub fn create_topic(&self, account: &str, region: &str, name: &str) -> Result<String> {
        self.create_topic_with(account, region, name, &BTreeMap::new(), &BTreeMap::new())
    }

    /// CreateTopic with `Attributes` and `Tags`. Creating an existing topic again answers its
    /// ARN when the attributes given match the stored ones (AWS: `InvalidParameter`
    /// otherwise); tags of an existing topic are left as they are.
    pub fn create_topic_with(
        &self,
        account: &str,
        region: &str,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        check_topic_name(name)?;
        let arn = topic_arn(account, region, name);
        let mut attrs = Map::new();
        for (k, v) in attributes {
            check_settable(k, v)?;
            attrs.insert(k.clone(), Value::String(v.clone()));
        }
        check_tags(tags)?;
        if let Some(existing) = self.topic_row(&arn)? {
            let differs = attrs
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v));
            if differs {
                return Err(MonitorError::invalid(
                    "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
                ));
            }
            return Ok(arn);
        }
        self.db().execute(
            "INSERT OR IGNORE INTO topics(arn, account, region, name, created_ms, attributes, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                arn,
                account,
                region,
                name,
                self.now_ms(),
                Value::Object(attrs).to_string(),
                json!(tags).to_string()
            ],
        )?;
        Ok(arn)
    }

    /// Deletes a topic and its subscriptions.
    pub fn delete_topic(&self, topic_arn: &str) -> Result<()> {
        let n = self
            .db()
            .execute("DELETE FROM topics WHERE arn = ?1", [topic_arn])?;
        if n == 0 {
            return Err(not_found_topic(topic_arn));
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

    /// The stored topic of an ARN.
    pub(crate) fn topic_row(&self, topic_arn: &str) -> Result<Option<TopicRow>> {
        let row = self
            .db()
            .query_row(
                "SELECT id, account, attributes, tags, subs_deleted FROM topics WHERE arn = ?1",
                [topic_arn],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        Ok(
            row.map(|(id, account, attrs, tags, subs_deleted)| TopicRow {
                id,
                account,
                attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                subs_deleted,
            }),
        )
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

    /// The topic's `Policy` document (AWS's default policy when none was set); `None` when
    /// the topic does not exist.
    pub fn topic_policy(&self, topic_arn: &str) -> Result<Option<String>> {
        Ok(self
            .topic_row(topic_arn)?
            .map(|t| effective_policy_text(topic_arn, &t.account, &t.attributes)))
    }

    /// GetTopicAttributes.
    pub fn get_topic_attributes(&self, topic_arn: &str) -> Result<TopicAttributes> {
        let t = self
            .topic_row(topic_arn)?
            .ok_or_else(|| not_found_topic(topic_arn))?;
        let counts = self.subscription_counts(t.id)?;
        let mut out = TopicAttributes::new();
        for (k, v) in &t.attributes {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_owned());
            }
        }
        out.insert(
            "Policy".into(),
            effective_policy_text(topic_arn, &t.account, &t.attributes),
        );
        out.entry("DisplayName".into()).or_default();
        out.insert("TopicArn".into(), topic_arn.to_owned());
        out.insert("Owner".into(), t.account.clone());
        out.insert("SubscriptionsConfirmed".into(), counts.0.to_string());
        out.insert("SubscriptionsPending".into(), counts.1.to_string());
        out.insert("SubscriptionsDeleted".into(), t.subs_deleted.to_string());
        let delivery = t
            .attributes
            .get("DeliveryPolicy")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_DELIVERY_POLICY);
        out.insert("EffectiveDeliveryPolicy".into(), delivery.to_owned());
        Ok(out)
    }

    /// SetTopicAttributes (one of [`SETTABLE_TOPIC_ATTRIBUTES`]; an empty value removes it,
    /// and an empty `Policy` restores the default one).
    pub fn set_topic_attribute(&self, topic_arn: &str, name: &str, value: &str) -> Result<()> {
        check_settable(name, value)?;
        let mut t = self
            .topic_row(topic_arn)?
            .ok_or_else(|| not_found_topic(topic_arn))?;
        if value.is_empty() {
            t.attributes.remove(name);
        } else {
            t.attributes
                .insert(name.to_owned(), Value::String(value.to_owned()));
        }
        self.db().execute(
            "UPDATE topics SET attributes = ?2 WHERE id = ?1",
            params![t.id, Value::Object(t.attributes).to_string()],
        )?;
        Ok(())
    }

    /// ListTagsForResource.
    pub fn list_topic_tags(&self, topic_arn: &str) -> Result<BTreeMap<String, String>> {
        Ok(self
            .topic_row(topic_arn)?
            .ok_or_else(|| not_found_resource(topic_arn))?
            .tags)
    }

    /// TagResource (adds or replaces) and UntagResource (`remove`).
    pub fn tag_topic(
        &self,
        topic_arn: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<()> {
        let mut t = self
            .topic_row(topic_arn)?
            .ok_or_else(|| not_found_resource(topic_arn))?;
        for k in remove {
            t.tags.remove(k);
        }
        t.tags
            .extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
        check_tags(&t.tags)?;
        self.db().execute(
            "UPDATE topics SET tags = ?2 WHERE id = ?1",
            params![t.id, json!(t.tags).to_string()],
        )?;
        Ok(())
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
            super::enqueue_for_action(self, &tx, None, topic_arn, subject, message, self.now_ms())?;
        tx.commit()?;
        match err {
            Some(e) => Err(MonitorError::not_found(e)),
            None => Ok(notes),
        }
    }

    /// SNS `Publish`: one `MessageId` for every subscriber; the notifications are stored
    /// (durably, one transaction) before this returns. Authorization is the caller's: use
    /// [`Monitor::can_publish`] for a service principal.
    pub fn publish_message(
        &self,
        topic_arn: &str,
        input: &PublishInput,
    ) -> Result<(String, Vec<OutboundNotification>)> {
        if input.message.is_empty() {
            return Err(MonitorError::invalid("Invalid parameter: Empty message"));
        }
        if input.message.len() > 256 * 1024 {
            return Err(MonitorError::invalid(
                "Invalid parameter: Message too long (at most 262144 bytes)",
            ));
        }
        if input.subject.len() > 100 || input.subject.chars().any(char::is_control) {
            return Err(MonitorError::invalid(
                "Invalid parameter: Subject (at most 100 printable characters)",
            ));
        }
        let t = self
            .topic_row(topic_arn)?
            .ok_or_else(|| not_found_topic(topic_arn))?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let attributes: Map<String, Value> = input
            .attributes
            .iter()
            .map(|(k, (ty, v))| (k.clone(), json!({"Type": ty, "Value": v})))
            .collect();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let notes = fan_out(
            self,
            &tx,
            t.id,
            &Message {
                topic_arn,
                subject: &input.subject,
                message: &Value::String(input.message.clone()),
                attributes: &Value::Object(attributes),
                message_id: Some(&message_id),
                now_ms: self.now_ms(),
            },
        )?;
        tx.commit()?;
        Ok((message_id, notes))
    }
}

/// SNS's `NotFound` for a topic.
pub(crate) fn not_found_topic(topic_arn: &str) -> MonitorError {
    MonitorError::not_found(format!("Topic does not exist: {topic_arn}"))
}

fn not_found_resource(arn: &str) -> MonitorError {
    MonitorError::not_found(format!("Resource does not exist: {arn}"))
}

fn check_settable(name: &str, value: &str) -> Result<()> {
    match name {
        "Policy" if !value.is_empty() => {
            serde_json::from_str::<Value>(value)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    MonitorError::invalid("Invalid parameter: Policy Error: not a JSON object")
                })?;
            super::policy::parse(value).map(|_| ())
        }
        "DeliveryPolicy" if !value.is_empty() => serde_json::from_str::<Value>(value)
            .ok()
            .filter(Value::is_object)
            .map(|_| ())
            .ok_or_else(|| {
                MonitorError::invalid("Invalid parameter: DeliveryPolicy: not a JSON object")
            }),
        "KmsMasterKeyId" if !value.is_empty() => check_kms_key_id(value),
        "DisplayName" if value.len() > 100 => Err(MonitorError::invalid(
            "Invalid parameter: DisplayName (at most 100 characters)",
        )),
        n if SETTABLE_TOPIC_ATTRIBUTES.contains(&n) => Ok(()),
        other => Err(MonitorError::invalid(format!(
            "Invalid parameter: AttributeName `{other}` (one of {})",
            SETTABLE_TOPIC_ATTRIBUTES.join(", ")
        ))),
    }
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(MonitorError::invalid(format!(
            "Could not complete request: tag quota of per resource exceeded ({MAX_TAGS})"
        )));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(MonitorError::invalid(format!(
                "Invalid parameter: Tags: key `{k}` (1-128 characters, not aws:) or its value (at most 256)"
            )));
        }
    }
    Ok(())
}
