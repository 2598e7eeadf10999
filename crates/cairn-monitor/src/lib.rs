//! Real-time monitoring for Cairn: CloudWatch Logs-compatible log groups,
//! metric filters, CloudWatch-style alarms, SNS-style notifications,
//! streaming out to OpenSearch / NDJSON endpoints, and the CIS alarm pack.
//!
//! The [`Monitor`] is the service layer; it knows nothing about HTTP. The
//! server calls plain functions over JSON:
//!
//! * [`Monitor::logs_call`]: the CloudWatch Logs JSON 1.1 API
//!   (`X-Amz-Target: Logs_20140328.<Op>`), request body in, response body out.
//! * [`Monitor::cloudwatch_call`]: the CloudWatch alarms/metrics API in the
//!   JSON 1.0 protocol botocore 1.43 sends (`X-Amz-Target:
//!   GraniteServiceVersion20100801.<Op>`, `x-amzn-query-mode: true`); see
//!   `docs/adr/0004-cloudwatch-alarms-protocol.md`.
//! * [`Monitor::ingest_trail_events`]: the CloudTrail → log group path
//!   (stream `{account}_CloudTrail_{region}`), evaluating every metric filter
//!   and the affected alarms on ingest.
//! * [`Monitor::deliver_notifications`] / [`Monitor::deliver_pending`]
//!   (async): SNS-style HTTP(S) (signed, SignatureVersion 2), Slack and JSON
//!   webhooks, and e-mail through the SMTP relay of [`MonitorConfig::smtp`],
//!   with retries; failures are kept ([`Monitor::list_failed_notifications`]).
//!   `https://` uses rustls (aws-lc-rs) trusting Mozilla's roots plus
//!   [`MonitorConfig::extra_ca_pem`].
//! * [`Monitor::flush_streams`] (async): subscription filters forwarding to
//!   OpenSearch `_bulk` or HTTP NDJSON with batching, retries and a bounded,
//!   persistent queue.
//! * [`Monitor::enable_cis`]: the 14 Security Hub CloudWatch.1–14 metric
//!   filters and alarms on a log group, plus a topic.
//! * [`Monitor::prometheus_text`]: gauges for scraping.
//!
//! # What the server calls
//!
//! * `X-Amz-Target: Logs_20140328.<Op>` (JSON 1.1): `logs_call(op, account,
//!   region, &body)`; `Ok(v)` → 200 with `v`; `Err(e)` → status `e.status()`,
//!   body `e.to_json()` (`{"__type", "message"}`), after `e.log_if_internal()`.
//! * `X-Amz-Target: GraniteServiceVersion20100801.<Op>` (JSON 1.0):
//!   `cloudwatch_call`, same mapping plus the `x-amzn-query-error` header from
//!   `e.query_error_header()`.
//! * A trail with `CloudWatchLogsLogGroupArn`: `ingest_trail_events`, then
//!   `deliver_notifications(&outcome.notifications)` (spawned; `Monitor` is
//!   shared in an `Arc`), and [`Monitor::spawn_background`] once at start-up
//!   for housekeeping, pending notifications and streaming.
//! * `GET /_cairn/sns-cert.pem` → [`Monitor::sns_certificate_pem`] (the URL is
//!   [`MonitorConfig::sns_cert_url`]); `GET /metrics` → [`Monitor::prometheus_text`].
//!
//! # Guarantees
//!
//! * State lives in `monitor.sqlite` in the directory given to [`Monitor::open`];
//!   every API call is one SQLite transaction (all or nothing).
//! * Log events, their metric datapoints, alarm state changes, the
//!   notifications they cause and the subscription-filter queue entries are
//!   written in the same transaction: a notification or a streamed event is
//!   never lost once the ingest call returned `Ok`.
//! * Notifications are delivered at least once: a notification leaves the
//!   store only as `delivered`; one that exhausted its retries is kept as
//!   `failed` with its last error. OpenSearch `_bulk` uses `create` with the
//!   event id as `_id`, so re-sent events are not indexed twice.
//! * When a subscription filter's queue is full, ingest fails with
//!   [`MonitorError::Backpressure`] before writing anything (the caller keeps
//!   the records and retries): nothing is dropped.
//! * No panics in library code; the clock is injected ([`Clock`]).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use cairn_monitor::{Monitor, ManualClock};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let m = Monitor::open(dir.path(), clock)?;
//! m.logs_call("CreateLogGroup", "123456789012", "us-east-1", &json!({"logGroupName": "trail"}))?;
//! let report = m.enable_cis("123456789012", "us-east-1", "trail", "cis-alarms", None)?;
//! assert_eq!(report.alarms.len(), 14);
//! let root = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root"},"eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn"}"#;
//! let arn = "arn:aws:logs:us-east-1:123456789012:log-group:trail:*";
//! let out = m.ingest_trail_events(arn, "123456789012", "us-east-1", &[(1_700_000_000_000, root)])?;
//! assert!(out.alarm_changes.iter().any(|c| c.alarm_name == "CIS-CloudWatch.1-RootAccountUsage" && c.new_state == "ALARM"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alarms;
mod cis;
mod db;
mod error;
mod httpc;
mod ingest;
mod logs;
mod mail;
mod metrics;
mod seal;
mod sns;
mod stream;
mod util;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};

pub use alarms::CLOUDWATCH_OPERATIONS;
pub use cis::{CIS_NAMESPACE, CisReport, cis_filters};
pub use error::{CwCode, ErrorClass, MonitorError, Result};
pub use ingest::{AlarmStateChange, IngestOutcome, MAX_TRAIL_RECORD_BYTES};
pub use logs::{LOGS_OPERATIONS, MAX_METRIC_FILTERS, MAX_SUBSCRIPTION_FILTERS, RETENTION_DAYS};
pub use seal::StorageKey;
pub use sns::{
    AttemptOutcome, DeliveryReport, FailedNotification, OutboundNotification, Protocol,
    PublishInput, QueueSink, SETTABLE_SUBSCRIPTION_ATTRIBUTES, SETTABLE_TOPIC_ATTRIBUTES, SnsError,
    SubscribeRequest, Subscribed, Subscription, SubscriptionInfo, TOKEN_TTL_MS, TopicAttributes,
    default_topic_policy, queue_sink_conformance, verify_sns_signature,
};
pub use stream::{Destination, StreamReport};

pub use cairn_core::clock::{Clock, ManualClock, SystemClock};

/// Retry schedule for notifications and streaming: attempt `k` (1-based) is
/// followed, on a retryable failure, by a wait of
/// `min(base_delay_ms * 2^(k-1), max_delay_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per delivery (at least 1).
    pub max_attempts: u32,
    /// First backoff.
    pub base_delay_ms: u64,
    /// Backoff cap.
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(30);
        self.base_delay_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_delay_ms)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 200,
            max_delay_ms: 10_000,
        }
    }
}

/// Batching limits for streaming out: a batch is sent when it holds
/// `max_events` events or `max_bytes` bytes of messages, or when its oldest
/// event has waited `max_wait_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Events per request.
    pub max_events: usize,
    /// Message bytes per request.
    pub max_bytes: usize,
    /// Longest wait of a queued event before a partial batch is sent.
    pub max_wait_ms: i64,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_events: 500,
            max_bytes: 5 * 1024 * 1024,
            max_wait_ms: 1_000,
        }
    }
}

/// Runtime knobs of the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Bound of each subscription filter's queue (events).
    pub stream_queue_capacity: u64,
    /// Streaming batch limits.
    pub batch: BatchPolicy,
    /// Retries for notifications and streaming.
    pub retry: RetryPolicy,
    /// Per-request timeout of outgoing HTTP calls.
    pub http_timeout_ms: u64,
    /// `SigningCertURL` put in SNS-style messages; the server serves
    /// [`Monitor::sns_certificate_pem`] there.
    pub sns_cert_url: String,
    /// Base of `UnsubscribeURL` (`{base}?SubscriptionArn=...`).
    pub unsubscribe_url_base: String,
    /// Extra trusted CA certificates, PEM (each string may hold several
    /// `CERTIFICATE` blocks), for `https://` endpoints and SMTP STARTTLS of
    /// private servers. They are trusted in addition to Mozilla's root
    /// program (webpki-roots). An unparsable PEM fails [`Monitor::open_with`].
    pub extra_ca_pem: Vec<String>,
    /// The SMTP server for `email` subscriptions; `None` (the default): e-mail
    /// is not configured and subscribing with `email` answers
    /// `UnsupportedOperationException`.
    pub smtp: Option<SmtpConfig>,
    /// Encrypt stored log-event messages (log groups, the streaming queue and its dead
    /// letters) under this key; `None` (the default) stores them as they are. Plaintext
    /// messages already stored are encrypted in place when the monitor opens with a key.
    pub storage_key: Option<StorageKey>,
}

/// An SMTP relay for e-mail notifications.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host name or IP address.
    pub host: String,
    /// Server port (25 or 587 usually; any for local sinks).
    pub port: u16,
    /// `From` address of the notifications, e.g. `cairn@example.com` or
    /// `Cairn Alarms <cairn@example.com>`.
    pub from: String,
    /// User name for SMTP AUTH (PLAIN/LOGIN); AUTH is used only when both
    /// user name and password are set.
    pub username: Option<String>,
    /// Password for SMTP AUTH.
    pub password: Option<String>,
    /// Require STARTTLS (certificate checked against Mozilla's roots and
    /// [`MonitorConfig::extra_ca_pem`]). `false` (the default) speaks plain
    /// SMTP, for local relays.
    pub starttls: bool,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("starttls", &self.starttls)
            .finish()
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "127.0.0.1".to_string(),
            port: 25,
            from: "cairn@localhost".to_string(),
            username: None,
            password: None,
            starttls: false,
        }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            stream_queue_capacity: 100_000,
            batch: BatchPolicy::default(),
            retry: RetryPolicy::default(),
            http_timeout_ms: 5_000,
            sns_cert_url: "http://127.0.0.1:8080/_cairn/sns-cert.pem".to_string(),
            unsubscribe_url_base: "http://127.0.0.1:8080/_cairn/sns-unsubscribe".to_string(),
            extra_ca_pem: Vec::new(),
            smtp: None,
            storage_key: None,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    events_ingested: AtomicU64,
    datapoints: AtomicU64,
    notifications_delivered: AtomicU64,
    notifications_failed: AtomicU64,
    delivery_attempts: AtomicU64,
    streamed_events: AtomicU64,
    stream_requests: AtomicU64,
    last_delivery_lag_ms: AtomicI64,
}

/// Where `sqs` subscriptions deliver, once the server installed it.
#[derive(Default)]
struct SinkSlot(std::sync::RwLock<Option<Arc<dyn QueueSink>>>);

impl std::fmt::Debug for SinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkSlot")
    }
}

/// The monitoring service. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct Monitor {
    conn: Mutex<rusqlite::Connection>,
    clock: Arc<dyn Clock>,
    config: MonitorConfig,
    filters: Mutex<HashMap<i64, Arc<ingest::GroupFilters>>>,
    signer: sns::Signer,
    queue_sink: SinkSlot,
    tls: Arc<rustls::ClientConfig>,
    mailer: Option<Arc<mail::Mailer>>,
    instance: u64,
    counters: Counters,
}

impl Monitor {
    /// Opens (or creates) the monitor state in `dir` with the default config.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Monitor> {
        Self::open_with(dir, clock, MonitorConfig::default())
    }

    /// Opens (or creates) the monitor state in `dir`.
    pub fn open_with(dir: &Path, clock: Arc<dyn Clock>, config: MonitorConfig) -> Result<Monitor> {
        std::fs::create_dir_all(dir)?;
        let conn = db::open(&dir.join("monitor.sqlite"))?;
        let instance = match db::meta_get(&conn, "instance")? {
            Some(v) => v.parse::<u64>().unwrap_or(0),
            None => {
                let v = uuid::Uuid::new_v4().as_u64_pair().0 % 10_000_000_000_000_000_000;
                db::meta_set(&conn, "instance", &v.to_string())?;
                v
            }
        };
        if let Some(key) = &config.storage_key {
            seal::seal_stored(&conn, key)?;
        }
        let signer = sns::Signer::load_or_create(&conn, config.storage_key.as_ref())?;
        let extra_ca = httpc::parse_pem_certs(&config.extra_ca_pem)?;
        let tls = httpc::client_config(&extra_ca)?;
        let mailer = match &config.smtp {
            Some(smtp) => Some(Arc::new(mail::Mailer::new(
                smtp,
                &extra_ca,
                std::time::Duration::from_millis(config.http_timeout_ms),
            )?)),
            None => None,
        };
        // Deliveries interrupted by a crash are sent again (at least once).
        conn.execute(
            "UPDATE notifications SET status = 'pending' WHERE status = 'sending'",
            [],
        )?;
        Ok(Monitor {
            conn: Mutex::new(conn),
            clock,
            config,
            filters: Mutex::new(HashMap::new()),
            signer,
            queue_sink: SinkSlot::default(),
            tls,
            mailer,
            instance,
            counters: Counters::default(),
        })
    }

    /// Installs where `sqs` subscriptions deliver (the server's queue service).
    pub fn set_queue_sink(&self, sink: Arc<dyn QueueSink>) {
        *self.queue_sink.0.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    fn queue_sink(&self) -> Option<Arc<dyn QueueSink>> {
        self.queue_sink
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The key that seals stored messages, if any.
    pub(crate) fn storage_key(&self) -> Option<&StorageKey> {
        self.config.storage_key.as_ref()
    }

    fn db(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn invalidate_filters(&self, group_id: i64) {
        self.filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&group_id);
    }

    /// Deletes log events older than their group's retention (relative to
    /// `now_ms`) and metric data older than 15 days, and evaluates every alarm
    /// on its completed periods. Returns the alarm state changes; the
    /// notifications they cause are stored as pending (deliver them with
    /// [`Monitor::deliver_pending`]). Call it periodically (e.g. every 10 s).
    pub fn housekeeping(&self, now_ms: i64) -> Result<Vec<AlarmStateChange>> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM log_events WHERE id IN (
               SELECT e.id FROM log_events e JOIN log_groups g ON g.id = e.group_id
               WHERE g.retention_days IS NOT NULL AND e.ts_ms < ?1 - g.retention_days * 86400000)",
            [now_ms],
        )?;
        tx.execute(
            "DELETE FROM metric_data WHERE bucket < ?1",
            [now_ms.div_euclid(1000) - 15 * 86_400],
        )?;
        let changes = alarms::evaluate_all(self, &tx, now_ms)?;
        tx.commit()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 350,
        };
        assert_eq!(p.backoff_ms(1), 100);
        assert_eq!(p.backoff_ms(2), 200);
        assert_eq!(p.backoff_ms(3), 350);
        assert_eq!(p.backoff_ms(40), 350);
    }

    #[test]
    fn monitor_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Monitor>();
    }
}
