//! The durable notification store and delivery: every notification is stored `pending`
//! before anyone is told it exists, sent with retries and backoff, and kept as `failed`
//! (never dropped) when its retries run out; interrupted deliveries are sent again on open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;

use super::message::{Envelope, body_for};
use super::{
    AttemptOutcome, DeliveryReport, FailedNotification, OutboundNotification, Protocol, QueueSink,
};
use crate::error::Result;
use crate::mail::Mailer;
use crate::{Monitor, RetryPolicy, httpc};

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
    let out = fan_out(
        mon,
        tx,
        topic_id,
        &Message {
            topic_arn: action,
            subject,
            message,
            attributes: &Value::Null,
            message_id: None,
            now_ms,
        },
    )?;
    Ok((out, None))
}

/// A message to every confirmed subscription of a topic.
pub(crate) struct Message<'a> {
    /// The topic.
    pub(crate) topic_arn: &'a str,
    /// `Subject`.
    pub(crate) subject: &'a str,
    /// `Message`.
    pub(crate) message: &'a Value,
    /// `MessageAttributes` (envelope form) or `null`.
    pub(crate) attributes: &'a Value,
    /// The `MessageId` every subscriber sees (Publish), or a fresh one per subscriber.
    pub(crate) message_id: Option<&'a str>,
    /// Now.
    pub(crate) now_ms: i64,
}

/// Stores one pending notification per confirmed subscription of `topic_id` and returns them.
pub(crate) fn fan_out(
    mon: &Monitor,
    tx: &Transaction<'_>,
    topic_id: i64,
    m: &Message<'_>,
) -> Result<Vec<OutboundNotification>> {
    let subs: Vec<(String, String, String, String, String)> = tx
        .prepare_cached(
            "SELECT arn, protocol, endpoint, url_base, attributes FROM subscriptions
             WHERE topic_id = ?1 AND status = 'confirmed' ORDER BY id",
        )?
        .query_map([topic_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (sub_arn, proto, endpoint, url_base, attrs) in subs {
        let Some(protocol) = Protocol::parse(&proto) else {
            continue;
        };
        let raw = serde_json::from_str::<Value>(&attrs)
            .ok()
            .and_then(|a| {
                a.get("RawMessageDelivery")
                    .and_then(Value::as_str)
                    .map(|v| v == "true")
            })
            .unwrap_or(false);
        let message_id = m
            .message_id
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let envelope = Envelope {
            message_id: &message_id,
            topic: m.topic_arn,
            sub_arn: &sub_arn,
            subject: m.subject,
            message: m.message,
            attributes: m.attributes,
            url_base: &url_base,
            now_ms: m.now_ms,
        };
        let body = body_for(mon, protocol, raw, &envelope)?;
        out.push(store_pending(
            tx,
            OutboundNotification {
                id: 0,
                message_id,
                topic_arn: m.topic_arn.to_string(),
                subscription_arn: sub_arn,
                protocol,
                endpoint,
                subject: m.subject.to_string(),
                body,
            },
            m.now_ms,
        )?);
    }
    Ok(out)
}

/// Stores a notification as pending; returns it with its row id.
pub(crate) fn store_pending(
    tx: &Transaction<'_>,
    mut n: OutboundNotification,
    now_ms: i64,
) -> Result<OutboundNotification> {
    tx.prepare_cached(
        "INSERT INTO notifications(message_id, topic_arn, subscription_arn, protocol, endpoint, subject, body, status, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)",
    )?
    .execute(params![
        n.message_id,
        n.topic_arn,
        n.subscription_arn,
        n.protocol.as_str(),
        n.endpoint,
        n.subject,
        n.body,
        now_ms
    ])?;
    n.id = tx.last_insert_rowid();
    Ok(n)
}

/// What a delivery task needs besides the notification (no store access).
#[derive(Clone)]
struct Transports {
    retry: RetryPolicy,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    mailer: Option<Arc<Mailer>>,
    sink: Option<Arc<dyn QueueSink>>,
}

/// One attempt: `Ok(status)` or `Err((status, error, retryable))`.
async fn attempt_once(
    n: &OutboundNotification,
    headers: &[(&str, String)],
    t: &Transports,
) -> std::result::Result<u16, (Option<u16>, String, bool)> {
    if n.protocol == Protocol::Sqs {
        let Some(sink) = &t.sink else {
            return Err((
                None,
                "sqs delivery needs a queue service, and none is installed".into(),
                true,
            ));
        };
        let (sink, n) = (sink.clone(), n.clone());
        let sent = tokio::task::spawn_blocking(move || {
            sink.send(&n.endpoint, &n.topic_arn, &n.body, &n.message_id)
        })
        .await
        .unwrap_or_else(|e| Err(format!("queue delivery task failed: {e}")));
        return sent.map(|()| 200).map_err(|e| (None, e, true));
    }
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
        let kind = serde_json::from_str::<Value>(&n.body)
            .ok()
            .and_then(|v| v.get("Type").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "Notification".to_string());
        headers.push(("x-amz-sns-message-type", kind));
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
            sink: self.queue_sink(),
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
