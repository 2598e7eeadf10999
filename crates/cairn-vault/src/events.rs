//! S3 event notifications: the outbox.
//!
//! A bucket's notification configuration (`PutBucketNotificationConfiguration`, stored as
//! the [`DocKind::Notification`] document, S3's XML) names destinations (queue or topic
//! ARNs) for object events. When an object version is created or removed, every rule that
//! takes the event adds one row to the `event_outbox` table **in the same SQLite
//! transaction** that commits the version: an event cannot be lost between the object and
//! its notification, and a rolled-back put leaves no event.
//!
//! A delivery worker (the server's) reads pending rows in order ([`Vault::pending_events`]),
//! hands each to its destination with the row's [`PendingEvent::dedupe_id`] (unique for the
//! life of the vault: the outbox id is `AUTOINCREMENT`), then removes it
//! ([`Vault::event_delivered`]) or records the failure and the next attempt
//! ([`Vault::event_failed`]). With a destination that drops a dedupe id it has seen, a crash
//! between the hand-over and the removal repeats nothing: exactly one message per event.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use cairn_s3wire::notification::NotificationConfiguration;
use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::error::{Result, VaultError};
use crate::model::DocKind;
use crate::vault::{Vault, get_doc_tx, to_ms};

/// Who caused an object event (the S3 event's `userIdentity`, `requestParameters` and
/// `responseElements`). Empty fields are rendered as S3 renders an internal actor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOrigin {
    /// The requester's principal id (`AWS:AIDA...`, or a service name for deliveries).
    pub principal_id: String,
    /// The requester's IP address.
    pub source_ip: String,
    /// The request id (`x-amz-request-id`).
    pub request_id: String,
}

/// How an object version came to be (the `ObjectCreated:*` event name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CreatedBy {
    /// `PutObject` (and Cairn's own log and digest deliveries).
    #[default]
    Put,
    /// `CopyObject`.
    Copy,
    /// `CompleteMultipartUpload`.
    CompleteMultipartUpload,
}

impl CreatedBy {
    /// The S3 event name (`ObjectCreated:Put`, ...).
    pub fn event_name(self) -> &'static str {
        match self {
            CreatedBy::Put => "ObjectCreated:Put",
            CreatedBy::Copy => "ObjectCreated:Copy",
            CreatedBy::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
        }
    }
}

/// One object event waiting for delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Outbox row id: increases with every event, never reused (also S3's `sequencer`).
    pub id: i64,
    /// Bucket.
    pub bucket: String,
    /// The bucket owner's account.
    pub bucket_owner: String,
    /// The bucket's region.
    pub region: String,
    /// The rule's `Id` (`s3.configurationId`).
    pub config_id: String,
    /// Destination ARN (an SQS queue or an SNS topic).
    pub destination: String,
    /// S3 event name without the `s3:` prefix (`ObjectCreated:Put`, `ObjectRemoved:Delete`...).
    pub event_name: String,
    /// Object key (not encoded).
    pub key: String,
    /// Version id (`None` for unversioned buckets, as S3 omits it).
    pub version_id: Option<String>,
    /// Size in bytes (created objects).
    pub size: Option<u64>,
    /// ETag without quotes (created objects).
    pub etag: Option<String>,
    /// When the event happened.
    pub event_time: OffsetDateTime,
    /// Who caused it.
    pub origin: EventOrigin,
    /// Delivery attempts made so far.
    pub attempts: u32,
}

impl PendingEvent {
    /// The id a destination deduplicates on: unique per event and destination for the life
    /// of the vault.
    pub fn dedupe_id(&self) -> String {
        format!("s3-event:{}:{}", self.bucket, self.id)
    }

    /// S3's `sequencer`: hexadecimal, ordered like the events of one key.
    pub fn sequencer(&self) -> String {
        format!("{:016X}", self.id)
    }
}

/// What a version commit tells the outbox.
pub(crate) struct ObjectEvent<'a> {
    pub(crate) event_name: &'a str,
    pub(crate) key: &'a str,
    pub(crate) version_id: &'a str,
    pub(crate) size: Option<i64>,
    pub(crate) etag: Option<&'a str>,
    pub(crate) origin: &'a EventOrigin,
    pub(crate) now: OffsetDateTime,
}

/// The outbox table (schema step 2 of the vault).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    config_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    event_name TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    size INTEGER,
    etag TEXT,
    event_time INTEGER NOT NULL,
    principal_id TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    request_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL DEFAULT 0,
    last_error TEXT);
CREATE INDEX IF NOT EXISTS event_outbox_due ON event_outbox (next_attempt, id);
";

/// Adds the outbox rows `ev` makes on `bucket` (none without a configuration, or when no
/// rule takes it). Runs inside the caller's transaction. Returns how many rows it added.
pub(crate) fn record(
    tx: &Connection,
    bucket: &str,
    versioned: bool,
    ev: &ObjectEvent<'_>,
) -> Result<usize> {
    let Some(doc) = get_doc_tx(tx, bucket, DocKind::Notification)? else {
        return Ok(0);
    };
    let config = NotificationConfiguration::parse(doc.as_bytes())
        .map_err(|e| VaultError::Corrupt(format!("notification document: {}", e.message)))?;
    let mut n = 0;
    for rule in config.matching(ev.event_name, ev.key) {
        tx.prepare_cached(
            "INSERT INTO event_outbox (bucket, config_id, destination, event_name, key,
                version_id, size, etag, event_time, principal_id, source_ip, request_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            bucket,
            rule.id,
            rule.destination.arn(),
            ev.event_name,
            ev.key,
            versioned.then_some(ev.version_id),
            ev.size,
            ev.etag,
            to_ms(ev.now),
            ev.origin.principal_id,
            ev.origin.source_ip,
            ev.origin.request_id,
        ])?;
        n += 1;
    }
    Ok(n)
}

/// Wakes the delivery worker when the outbox gains rows.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    generation: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    pub(crate) fn bump(&self) {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.cv.notify_all();
    }

    fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = self
            .cv
            .wait_timeout_while(g, timeout, |g| *g == seen)
            .unwrap_or_else(|p| p.into_inner());
        *g
    }
}

impl Vault {
    /// Waits until events were recorded after generation `seen` (or `timeout` passes);
    /// returns the current generation. Start with 0.
    pub fn wait_for_events(&self, seen: u64, timeout: Duration) -> u64 {
        self.events.wait(seen, timeout)
    }

    /// Up to `limit` events due at `now`, oldest first.
    pub fn pending_events(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<PendingEvent>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.bucket, b.account, b.region, o.config_id, o.destination,
                    o.event_name, o.key, o.version_id, o.size, o.etag, o.event_time,
                    o.principal_id, o.source_ip, o.request_id, o.attempts
             FROM event_outbox o LEFT JOIN buckets b ON b.name = o.bucket
             WHERE o.next_attempt <= ?1 ORDER BY o.id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![to_ms(now), limit as i64], |r| {
            Ok(PendingEvent {
                id: r.get(0)?,
                bucket: r.get(1)?,
                bucket_owner: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                region: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                config_id: r.get(4)?,
                destination: r.get(5)?,
                event_name: r.get(6)?,
                key: r.get(7)?,
                version_id: r.get(8)?,
                size: r.get::<_, Option<i64>>(9)?.map(|s| s.max(0) as u64),
                etag: r.get(10)?,
                event_time: crate::vault::from_ms(r.get(11)?),
                origin: EventOrigin {
                    principal_id: r.get(12)?,
                    source_ip: r.get(13)?,
                    request_id: r.get(14)?,
                },
                attempts: r.get(15)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a delivered event.
    pub fn event_delivered(&self, id: i64) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM event_outbox WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    /// Records a failed attempt: the event stays, due again at `retry_at`.
    pub fn event_failed(&self, id: i64, error: &str, retry_at: OffsetDateTime) -> Result<()> {
        self.conn().execute(
            "UPDATE event_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3
             WHERE id = ?1",
            params![id, error, to_ms(retry_at)],
        )?;
        Ok(())
    }

    /// Events not yet delivered: (count, the oldest's last error, if it failed).
    pub fn event_backlog(&self) -> Result<(u64, Option<String>)> {
        let conn = self.conn();
        let n: i64 = conn.query_row("SELECT count(*) FROM event_outbox", [], |r| r.get(0))?;
        let err: Option<String> = conn
            .query_row(
                "SELECT last_error FROM event_outbox WHERE last_error IS NOT NULL
                 ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        Ok((n.max(0) as u64, err))
    }
}
