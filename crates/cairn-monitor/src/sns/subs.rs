//! Subscriptions: operator-made ones (confirmed at once) and SNS API ones with AWS's
//! confirmation handshake (`PendingConfirmation` → `SubscriptionConfirmation` with a
//! `Token` → ConfirmSubscription), their attributes, and Unsubscribe.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::delivery::store_pending;
use super::message::{cert_url, message_text};
use super::sign::canonical;
use super::topics::{arn_account, not_found_topic};
use super::{OutboundNotification, Protocol, Subscription, SubscriptionInfo};
use crate::error::{MonitorError, Result};
use crate::{Monitor, mail, util};

/// How long a confirmation token is good for (AWS: three days).
pub const TOKEN_TTL_MS: i64 = 3 * 24 * 3600 * 1000;

/// Subscription attributes SetSubscriptionAttributes may change.
pub const SETTABLE_SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "RawMessageDelivery",
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
];

/// What an SNS API Subscribe gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The subscription's ARN (SNS answers `pending confirmation` while it is pending).
    pub arn: String,
    /// Whether it is confirmed already.
    pub confirmed: bool,
    /// The `SubscriptionConfirmation` to deliver (pending subscriptions).
    pub confirmation: Option<OutboundNotification>,
}

/// An SNS API subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest<'a> {
    /// The subscribing account.
    pub account: &'a str,
    /// The topic.
    pub topic_arn: &'a str,
    /// Protocol and endpoint.
    pub sub: Subscription,
    /// `Attributes` (e.g. `RawMessageDelivery`).
    pub attributes: BTreeMap<String, String>,
    /// `<scheme>://<host>` of Cairn as the subscriber reaches it (for `SubscribeURL`,
    /// `SigningCertURL`, `UnsubscribeURL`).
    pub url_base: &'a str,
}

/// The account of an SQS queue ARN (`arn:aws:sqs:{region}:{account}:{name}`).
fn queue_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", region, account, name]
            if !region.is_empty() && account.len() == 12 && !name.is_empty() =>
        {
            Some(account)
        }
        _ => None,
    }
}

fn check_endpoint(mon: &Monitor, sub: &Subscription) -> Result<()> {
    match sub.protocol {
        Protocol::Email if mon.mailer.is_none() => Err(MonitorError::NotImplemented {
            operation: "Subscribe(email) without an SMTP server configured (MonitorConfig::smtp)"
                .into(),
        }),
        Protocol::Email => mail::check_address(&sub.endpoint),
        Protocol::Https if !sub.endpoint.starts_with("https://") => Err(MonitorError::invalid(
            "Invalid parameter: Endpoint: an https subscription needs an https:// endpoint",
        )),
        Protocol::Http if !sub.endpoint.starts_with("http://") => Err(MonitorError::invalid(
            "Invalid parameter: Endpoint: an http subscription needs an http:// endpoint",
        )),
        Protocol::WebhookJson | Protocol::WebhookSlack
            if !(sub.endpoint.starts_with("http://") || sub.endpoint.starts_with("https://")) =>
        {
            Err(MonitorError::invalid(
                "Invalid parameter: Endpoint: a webhook subscription needs an http(s):// URL",
            ))
        }
        Protocol::Sqs if queue_account(&sub.endpoint).is_none() => Err(MonitorError::invalid(
            "Invalid parameter: SQS endpoint ARN (arn:aws:sqs:<region>:<account>:<queue>)",
        )),
        _ => Ok(()),
    }
}

fn check_sub_attribute(name: &str, value: &str) -> Result<()> {
    match name {
        "RawMessageDelivery" if !matches!(value, "true" | "false") => Err(MonitorError::invalid(
            "Invalid parameter: RawMessageDelivery: must be true or false",
        )),
        "FilterPolicy" | "FilterPolicyScope" if !value.is_empty() => {
            Err(MonitorError::NotImplemented {
                operation: format!("subscription attribute {name} (message filtering)"),
            })
        }
        n if SETTABLE_SUBSCRIPTION_ATTRIBUTES.contains(&n) => Ok(()),
        other => Err(MonitorError::invalid(format!(
            "Invalid parameter: AttributeName `{other}`"
        ))),
    }
}

impl Monitor {
    /// Refuses `action` on `topic_arn` by `account` unless the topic is the account's own.
    /// (Operator paths only; the SNS API authorizes with the topic policy.)
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

    /// Subscribes an endpoint as the operator (confirmed at once; idempotent: the same
    /// protocol and endpoint give the same ARN). `http`/`https`/webhooks need an `http://`
    /// or `https://` URL; `email` needs an address and an SMTP server in
    /// [`crate::MonitorConfig::smtp`] (without one: `UnsupportedOperationException`).
    pub fn subscribe(&self, topic_arn: &str, sub: &Subscription) -> Result<String> {
        check_endpoint(self, sub)?;
        let conn = self.db();
        let topic_id = topic_id(&conn, topic_arn)?;
        if let Some((arn, _, _)) = existing(&conn, topic_id, sub)? {
            return Ok(arn);
        }
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        conn.execute(
            "INSERT INTO subscriptions(arn, topic_id, protocol, endpoint, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![arn, topic_id, sub.protocol.as_str(), sub.endpoint, self.now_ms()],
        )?;
        Ok(arn)
    }

    /// SNS `Subscribe`. `http`/`https` (and `sqs` of another account's queue) start
    /// `PendingConfirmation`: a signed `SubscriptionConfirmation` with a fresh `Token` is
    /// stored for delivery (returned in [`Subscribed::confirmation`]). `sqs` of the topic
    /// owner's account, `email` (operator-confirmed through SMTP) and the webhooks are
    /// confirmed at once. Subscribing the same endpoint again answers the same ARN (and
    /// re-sends the confirmation of a pending one).
    pub fn subscribe_api(&self, req: &SubscribeRequest<'_>) -> Result<Subscribed> {
        check_endpoint(self, &req.sub)?;
        for (k, v) in &req.attributes {
            check_sub_attribute(k, v)?;
        }
        let owner = self.topic_owner(req.topic_arn)?.unwrap_or_default();
        let pending = match req.sub.protocol {
            Protocol::Http | Protocol::Https => true,
            Protocol::Sqs => queue_account(&req.sub.endpoint) != Some(owner.as_str()),
            _ => false,
        };
        let now = self.now_ms();
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let topic_id = topic_id(&tx, req.topic_arn)?;
        let arn = match existing(&tx, topic_id, &req.sub)? {
            Some((arn, status, _)) if status == "confirmed" => {
                tx.commit()?;
                return Ok(Subscribed {
                    arn,
                    confirmed: true,
                    confirmation: None,
                });
            }
            Some((arn, _, _)) => {
                tx.execute(
                    "UPDATE subscriptions SET token = ?2, token_expires_ms = ?3, url_base = ?4 WHERE arn = ?1",
                    params![arn, token, now + TOKEN_TTL_MS, req.url_base],
                )?;
                arn
            }
            None => {
                let arn = format!("{}:{}", req.topic_arn, uuid::Uuid::new_v4());
                let attrs: Map<String, Value> = req
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                tx.execute(
                    "INSERT INTO subscriptions(arn, topic_id, protocol, endpoint, created_ms, status, token, token_expires_ms, owner, attributes, url_base)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        arn,
                        topic_id,
                        req.sub.protocol.as_str(),
                        req.sub.endpoint,
                        now,
                        if pending { "pending" } else { "confirmed" },
                        pending.then_some(token.as_str()),
                        pending.then_some(now + TOKEN_TTL_MS),
                        req.account,
                        Value::Object(attrs).to_string(),
                        req.url_base
                    ],
                )?;
                arn
            }
        };
        let confirmation = if pending {
            let n = self.confirmation_message(req, &arn, &token, now)?;
            Some(store_pending(&tx, n, now)?)
        } else {
            None
        };
        tx.commit()?;
        Ok(Subscribed {
            arn,
            confirmed: !pending,
            confirmation,
        })
    }

    /// The signed `SubscriptionConfirmation` of a pending subscription.
    fn confirmation_message(
        &self,
        req: &SubscribeRequest<'_>,
        sub_arn: &str,
        token: &str,
        now: i64,
    ) -> Result<OutboundNotification> {
        let message_id = uuid::Uuid::new_v4().to_string();
        let subscribe_url = format!(
            "{}/_cairn/sns/confirm?Action=ConfirmSubscription&TopicArn={}&Token={token}",
            req.url_base, req.topic_arn
        );
        let message = format!(
            "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            req.topic_arn
        );
        let mut env = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": message_id,
            "Token": token,
            "TopicArn": req.topic_arn,
            "Message": message_text(&Value::String(message)),
            "SubscribeURL": subscribe_url,
            "Timestamp": util::iso_ms(now),
            "SignatureVersion": "2",
        });
        env["Signature"] = json!(self.signer.sign(canonical(&env).as_bytes())?);
        env["SigningCertURL"] = json!(cert_url(self, req.url_base));
        Ok(OutboundNotification {
            id: 0,
            message_id,
            topic_arn: req.topic_arn.to_owned(),
            subscription_arn: sub_arn.to_owned(),
            protocol: req.sub.protocol,
            endpoint: req.sub.endpoint.clone(),
            subject: String::new(),
            body: env.to_string(),
        })
    }

    /// ConfirmSubscription: the pending subscription of `topic_arn` holding `token` becomes
    /// confirmed; returns its ARN. A confirmed one answers its ARN again (the token of a
    /// confirmed subscription stays good until it expires). Wrong or expired tokens:
    /// `InvalidParameter`.
    pub fn confirm_subscription(&self, topic_arn: &str, token: &str) -> Result<String> {
        let conn = self.db();
        let topic_id = topic_id(&conn, topic_arn)?;
        let row: Option<(String, Option<i64>)> = conn
            .query_row(
                "SELECT arn, token_expires_ms FROM subscriptions WHERE topic_id = ?1 AND token = ?2",
                params![topic_id, token],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((arn, expires)) = row.filter(|_| !token.is_empty()) else {
            return Err(MonitorError::invalid("Invalid token"));
        };
        if expires.is_some_and(|e| e < self.now_ms()) {
            return Err(MonitorError::invalid(
                "Invalid token: the token has expired",
            ));
        }
        conn.execute(
            "UPDATE subscriptions SET status = 'confirmed' WHERE arn = ?1",
            [&arn],
        )?;
        Ok(arn)
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, subscription_arn: &str) -> Result<()> {
        let conn = self.db();
        let topic: i64 = sub_column(&conn, subscription_arn, "topic_id")?;
        conn.execute(
            "DELETE FROM subscriptions WHERE arn = ?1",
            [subscription_arn],
        )?;
        conn.execute(
            "UPDATE topics SET subs_deleted = subs_deleted + 1 WHERE id = ?1",
            [topic],
        )?;
        Ok(())
    }

    /// Subscriptions of a topic.
    pub fn list_subscriptions(&self, topic_arn: &str) -> Result<Vec<SubscriptionInfo>> {
        self.subscriptions_where("t.arn = ?1", topic_arn)
    }

    /// Subscriptions to the topics of an account (ListSubscriptions).
    pub fn list_account_subscriptions(&self, account: &str) -> Result<Vec<SubscriptionInfo>> {
        self.subscriptions_where("t.account = ?1", account)
    }

    /// One subscription.
    pub fn subscription(&self, subscription_arn: &str) -> Result<SubscriptionInfo> {
        self.subscriptions_where("s.arn = ?1", subscription_arn)?
            .pop()
            .ok_or_else(|| {
                MonitorError::not_found(format!("Subscription does not exist: {subscription_arn}"))
            })
    }

    fn subscriptions_where(&self, filter: &str, value: &str) -> Result<Vec<SubscriptionInfo>> {
        let conn = self.db();
        let mut st = conn.prepare(&format!(
            "SELECT s.arn, t.arn, s.protocol, s.endpoint, s.status, s.owner
             FROM subscriptions s JOIN topics t ON t.id = s.topic_id WHERE {filter} ORDER BY s.id"
        ))?;
        let rows = st.query_map([value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (arn, topic_arn, p, endpoint, status, owner) = r?;
            if let Some(protocol) = Protocol::parse(&p) {
                out.push(SubscriptionInfo {
                    arn,
                    topic_arn,
                    protocol,
                    endpoint,
                    confirmed: status == "confirmed",
                    owner,
                });
            }
        }
        Ok(out)
    }

    /// GetSubscriptionAttributes.
    pub fn get_subscription_attributes(
        &self,
        subscription_arn: &str,
    ) -> Result<BTreeMap<String, String>> {
        let info = self.subscription(subscription_arn)?;
        let attrs: String = sub_column(&self.db(), subscription_arn, "attributes")?;
        let stored: Map<String, Value> = serde_json::from_str(&attrs).unwrap_or_default();
        let mut out: BTreeMap<String, String> = stored
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect();
        out.entry("RawMessageDelivery".into())
            .or_insert_with(|| "false".into());
        let owner = if info.owner.is_empty() {
            arn_account(&info.topic_arn).unwrap_or_default()
        } else {
            info.owner.clone()
        };
        out.insert("Owner".into(), owner);
        out.insert("SubscriptionArn".into(), info.arn.clone());
        out.insert("TopicArn".into(), info.topic_arn.clone());
        out.insert("Protocol".into(), info.protocol.as_str().into());
        out.insert("Endpoint".into(), info.endpoint.clone());
        out.insert("PendingConfirmation".into(), (!info.confirmed).to_string());
        out.insert("ConfirmationWasAuthenticated".into(), "true".into());
        Ok(out)
    }

    /// SetSubscriptionAttributes (`RawMessageDelivery`, `DeliveryPolicy`; message filtering
    /// answers NotImplemented).
    pub fn set_subscription_attribute(
        &self,
        subscription_arn: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        check_sub_attribute(name, value)?;
        let conn = self.db();
        let attrs: String = sub_column(&conn, subscription_arn, "attributes")?;
        let mut m: Map<String, Value> = serde_json::from_str(&attrs).unwrap_or_default();
        m.insert(name.to_owned(), Value::String(value.to_owned()));
        conn.execute(
            "UPDATE subscriptions SET attributes = ?2 WHERE arn = ?1",
            params![subscription_arn, Value::Object(m).to_string()],
        )?;
        Ok(())
    }

    /// (confirmed, pending) subscriptions of a topic.
    pub(crate) fn subscription_counts(&self, topic_id: i64) -> Result<(i64, i64)> {
        Ok(self.db().query_row(
            "SELECT COALESCE(SUM(status = 'confirmed'), 0), COALESCE(SUM(status != 'confirmed'), 0) FROM subscriptions WHERE topic_id = ?1",
            [topic_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}

/// One column of a subscription (`NotFound` when there is none).
fn sub_column<T: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    subscription_arn: &str,
    column: &'static str,
) -> Result<T> {
    conn.query_row(
        &format!("SELECT {column} FROM subscriptions WHERE arn = ?1"),
        [subscription_arn],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| {
        MonitorError::not_found(format!("Subscription does not exist: {subscription_arn}"))
    })
}

fn topic_id(conn: &rusqlite::Connection, topic_arn: &str) -> Result<i64> {
    conn.query_row("SELECT id FROM topics WHERE arn = ?1", [topic_arn], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| not_found_topic(topic_arn))
}

/// The subscription of a topic with this protocol and endpoint: (arn, status, token).
fn existing(
    conn: &rusqlite::Connection,
    topic_id: i64,
    sub: &Subscription,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT arn, status, token FROM subscriptions WHERE topic_id = ?1 AND protocol = ?2 AND endpoint = ?3",
            params![topic_id, sub.protocol.as_str(), sub.endpoint],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}
