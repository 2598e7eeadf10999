//! Streaming subscription-filter matches out to OpenSearch/Elasticsearch
//! `_bulk` or to an HTTP NDJSON endpoint.
//!
//! # Destinations (`destinationArn` of `PutSubscriptionFilter`)
//!
//! * `opensearch+http://host:port/<index>` (also `elasticsearch+http://`):
//!   `POST http://host:port/_bulk` with `Content-Type: application/x-ndjson`,
//!   one `{"create":{"_index":"<index>","_id":"<eventId>"}}` action line and
//!   one document line per event. The document is the event's JSON message
//!   (if it is a JSON object) plus `@id`, `@timestamp` (ISO 8601),
//!   `@message`, `@log_group`, `@log_stream`, `@owner` — the fields AWS's
//!   CloudWatch-Logs-to-OpenSearch function writes. Because the action is
//!   `create` with the event id as `_id`, a re-sent event answers 409 and is
//!   counted as delivered: each event is indexed exactly once.
//! * `http://host:port/path` (or `ndjson+http://...`): `POST` of
//!   `application/x-ndjson`, one line per event:
//!   `{"id","timestamp","message","logGroup","logStream","owner","subscriptionFilter"}`.
//!   Delivery is at least once; receivers deduplicate on `id`.
//!
//! `https://` destinations are reached over TLS (rustls with aws-lc-rs),
//! trusting Mozilla's roots and [`crate::MonitorConfig::extra_ca_pem`].
//!
//! # Delivery rules
//!
//! * The queue is the `stream_outbox` table (written in the ingest
//!   transaction), bounded per filter by
//!   [`crate::MonitorConfig::stream_queue_capacity`]: a full queue makes
//!   ingest fail with [`crate::MonitorError::Backpressure`].
//! * A batch holds up to `max_events` events / `max_bytes` bytes and is sent
//!   when full, when its oldest event waited `max_wait_ms`, or on `force`.
//! * Retries with exponential backoff on transport errors, timeouts, 429 and
//!   5xx; for `_bulk`, only the items that failed with 429/5xx are re-sent.
//!   Items rejected permanently (other 4xx, e.g. mapping errors) move to the
//!   dead-letter table ([`crate::Monitor::list_stream_dead_letters`]); an
//!   event leaves the queue only when acknowledged or dead-lettered.

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::params;
use serde_json::{Value, json};

use crate::error::{MonitorError, Result};
use crate::{Monitor, httpc, util};

/// Where a subscription filter sends events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// OpenSearch / Elasticsearch `_bulk`.
    OpenSearch {
        /// `http://host:port` (plus any path prefix).
        base_url: String,
        /// Index name.
        index: String,
    },
    /// Generic NDJSON over HTTP POST.
    Ndjson {
        /// The URL posted to.
        url: String,
    },
}

impl Destination {
    /// Parses a `destinationArn` (see the module docs for the forms).
    pub fn parse(arn: &str) -> Result<Destination> {
        let bad = || {
            MonitorError::invalid(format!(
                "destinationArn {arn} is not supported: use opensearch+http://host:port/index or an http(s):// NDJSON endpoint"
            ))
        };
        for prefix in ["opensearch+", "elasticsearch+"] {
            if let Some(url) = arn.strip_prefix(prefix) {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(bad());
                }
                let scheme_end = url.find("://").map(|i| i + 3).ok_or_else(bad)?;
                let slash = url[scheme_end..]
                    .rfind('/')
                    .map(|i| i + scheme_end)
                    .ok_or_else(bad)?;
                let index = &url[slash + 1..];
                let base = &url[..slash];
                let valid = !index.is_empty()
                    && index.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'-' | b'_' | b'.')
                    })
                    && !index.starts_with(['-', '_', '+']);
                if !valid || base.len() <= scheme_end {
                    return Err(bad());
                }
                return Ok(Destination::OpenSearch {
                    base_url: base.to_string(),
                    index: index.to_string(),
                });
            }
        }
        let url = arn.strip_prefix("ndjson+").unwrap_or(arn);
        if (url.starts_with("http://") || url.starts_with("https://"))
            && url.parse::<http::Uri>().is_ok()
        {
            return Ok(Destination::Ndjson {
                url: url.to_string(),
            });
        }
        Err(bad())
    }
}

/// What one [`Monitor::flush_streams`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// HTTP requests made.
    pub requests: usize,
    /// Events acknowledged by their destination (and removed from the queue).
    pub delivered: usize,
    /// Events moved to the dead-letter table.
    pub dead_lettered: usize,
    /// Events still queued after this call.
    pub remaining: usize,
    /// Errors seen (one line per failed request).
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
struct Item {
    row: i64,
    event_id: String,
    group: String,
    stream: String,
    ts: i64,
    message: String,
}

enum ItemFate {
    Done,
    Retry(String),
    Dead(String),
}

fn bulk_body(index: &str, owner: &str, items: &[&Item]) -> String {
    let mut s = String::new();
    for it in items {
        s.push_str(&json!({"create": {"_index": index, "_id": it.event_id}}).to_string());
        s.push('\n');
        let mut doc = match serde_json::from_str::<Value>(&it.message) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        doc.insert("@id".into(), json!(it.event_id));
        doc.insert("@timestamp".into(), json!(util::iso_ms(it.ts)));
        doc.insert("@message".into(), json!(it.message));
        doc.insert("@owner".into(), json!(owner));
        doc.insert("@log_group".into(), json!(it.group));
        doc.insert("@log_stream".into(), json!(it.stream));
        s.push_str(&Value::Object(doc).to_string());
        s.push('\n');
    }
    s
}

/// Reads a `_bulk` response into per-item fates (same order as sent).
fn bulk_fates(body: &[u8], n: usize) -> Vec<ItemFate> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0..n)
            .map(|_| ItemFate::Retry("unreadable _bulk response".into()))
            .collect();
    };
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.len() != n {
        if v["errors"] == json!(false) {
            return (0..n).map(|_| ItemFate::Done).collect();
        }
        return (0..n)
            .map(|_| ItemFate::Retry("_bulk response item count mismatch".into()))
            .collect();
    }
    items
        .iter()
        .map(|it| {
            let r = it
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            let status = r["status"].as_u64().unwrap_or(0);
            let err = r["error"]["type"].as_str().unwrap_or("").to_string();
            match status {
                200..=299 => ItemFate::Done,
                409 => ItemFate::Done, // already indexed (create with the same _id)
                429 | 500..=599 | 0 => ItemFate::Retry(format!("item status {status} {err}")),
                _ => ItemFate::Dead(format!(
                    "item status {status} {err}: {}",
                    r["error"]["reason"].as_str().unwrap_or("")
                )),
            }
        })
        .collect()
}

impl Monitor {
    /// Sends queued subscription-filter events to their destinations. With
    /// `force`, partial batches go at once; otherwise a partial batch waits
    /// until its oldest event is `max_wait_ms` old. Drains each queue batch
    /// by batch until it is empty, waiting, or a batch failed after all
    /// retries (its events stay queued for the next call).
    pub async fn flush_streams(&self, force: bool) -> Result<StreamReport> {
        let filters: Vec<(i64, String, String, String)> = {
            let conn = self.db();
            let mut st = conn.prepare(
                "SELECT f.id, f.name, f.destination, g.account FROM subscription_filters f JOIN log_groups g ON g.id = f.group_id
                 WHERE EXISTS (SELECT 1 FROM stream_outbox o WHERE o.filter_id = f.id) ORDER BY f.id",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut report = StreamReport::default();
        for (fid, fname, dest, owner) in filters {
            let Ok(destination) = Destination::parse(&dest) else {
                continue;
            };
            loop {
                let batch = self.next_batch(fid, force)?;
                if batch.is_empty() {
                    break;
                }
                let progressed = self
                    .send_batch(fid, &fname, &dest, &destination, &owner, batch, &mut report)
                    .await?;
                if !progressed {
                    break;
                }
            }
        }
        report.remaining = self.stream_queue_depth()? as usize;
        Ok(report)
    }

    fn next_batch(&self, fid: i64, force: bool) -> Result<Vec<Item>> {
        let b = self.config.batch;
        let conn = self.db();
        let mut st = conn.prepare_cached(
            "SELECT id, event_id, group_name, stream_name, ts_ms, message, enqueued_ms FROM stream_outbox
             WHERE filter_id = ?1 ORDER BY id LIMIT ?2",
        )?;
        let mut q = st.query(params![fid, b.max_events.max(1) as i64])?;
        let mut items = Vec::new();
        let mut bytes = 0usize;
        let mut oldest = i64::MAX;
        let mut full = false;
        while let Some(r) = q.next()? {
            let message: String =
                crate::seal::open(self.storage_key(), crate::seal::MESSAGE, r.get(5)?)?;
            if !items.is_empty() && bytes + message.len() > b.max_bytes {
                full = true;
                break;
            }
            bytes += message.len();
            oldest = oldest.min(r.get::<_, i64>(6)?);
            items.push(Item {
                row: r.get(0)?,
                event_id: r.get(1)?,
                group: r.get(2)?,
                stream: r.get(3)?,
                ts: r.get(4)?,
                message,
            });
        }
        full |= items.len() >= b.max_events.max(1);
        let due = force || full || self.now_ms() - oldest >= b.max_wait_ms;
        Ok(if due { items } else { Vec::new() })
    }

    fn ack(&self, rows: &[i64]) -> Result<()> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached("DELETE FROM stream_outbox WHERE id = ?1")?;
            for r in rows {
                st.execute([r])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn dead_letter(&self, fid: i64, dest: &str, items: &[(&Item, String)]) -> Result<()> {
        let now = self.now_ms();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        for (it, err) in items {
            let message = crate::seal::seal(self.storage_key(), crate::seal::MESSAGE, &it.message)?;
            tx.execute(
                "INSERT INTO stream_dead(filter_id, destination, event_id, group_name, stream_name, ts_ms, message, error, failed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![fid, dest, it.event_id, it.group, it.stream, it.ts, message, err, now],
            )?;
            tx.execute("DELETE FROM stream_outbox WHERE id = ?1", [it.row])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sends one batch with retries; returns whether the whole batch left the queue.
    #[allow(clippy::too_many_arguments)]
    async fn send_batch(
        &self,
        fid: i64,
        fname: &str,
        dest: &str,
        destination: &Destination,
        owner: &str,
        batch: Vec<Item>,
        report: &mut StreamReport,
    ) -> Result<bool> {
        use std::sync::atomic::Ordering::Relaxed;
        let retry = self.config.retry;
        let timeout = Duration::from_millis(self.config.http_timeout_ms);
        let mut pending: Vec<&Item> = batch.iter().collect();
        for attempt in 1..=retry.max_attempts.max(1) {
            let (url, body) = match destination {
                Destination::OpenSearch { base_url, index } => (
                    format!("{base_url}/_bulk"),
                    bulk_body(index, owner, &pending),
                ),
                Destination::Ndjson { url } => {
                    let mut s = String::new();
                    for it in &pending {
                        s.push_str(
                            &json!({
                                "id": it.event_id, "timestamp": it.ts, "message": it.message,
                                "logGroup": it.group, "logStream": it.stream, "owner": owner,
                                "subscriptionFilter": fname,
                            })
                            .to_string(),
                        );
                        s.push('\n');
                    }
                    (url.clone(), s)
                }
            };
            report.requests += 1;
            self.counters.stream_requests.fetch_add(1, Relaxed);
            let headers = [("content-type", "application/x-ndjson".to_string())];
            let res = httpc::post(&url, &headers, body.into_bytes(), timeout, &self.tls).await;
            let fates: Vec<ItemFate> = match res {
                Ok(r) if (200..300).contains(&r.status) => match destination {
                    Destination::OpenSearch { .. } => bulk_fates(&r.body, pending.len()),
                    Destination::Ndjson { .. } => pending.iter().map(|_| ItemFate::Done).collect(),
                },
                Ok(r) if r.status == 429 || r.status >= 500 => pending
                    .iter()
                    .map(|_| ItemFate::Retry(format!("HTTP {}", r.status)))
                    .collect(),
                Ok(r) => pending
                    .iter()
                    .map(|_| {
                        ItemFate::Dead(format!(
                            "HTTP {}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                                .chars()
                                .take(200)
                                .collect::<String>()
                        ))
                    })
                    .collect(),
                Err(e) if e.retryable() => pending
                    .iter()
                    .map(|_| ItemFate::Retry(e.to_string()))
                    .collect(),
                Err(e) => pending
                    .iter()
                    .map(|_| ItemFate::Retry(e.to_string()))
                    .collect(),
            };
            let mut done = Vec::new();
            let mut dead = Vec::new();
            let mut again = Vec::new();
            let mut last_err = None;
            for (it, fate) in pending.iter().zip(fates) {
                match fate {
                    ItemFate::Done => done.push(it.row),
                    ItemFate::Dead(e) => dead.push((*it, e)),
                    ItemFate::Retry(e) => {
                        last_err = Some(e);
                        again.push(*it);
                    }
                }
            }
            self.ack(&done)?;
            report.delivered += done.len();
            self.counters
                .streamed_events
                .fetch_add(done.len() as u64, Relaxed);
            if !dead.is_empty() {
                report.dead_lettered += dead.len();
                self.dead_letter(fid, dest, &dead)?;
            }
            if again.is_empty() {
                return Ok(true);
            }
            if let Some(e) = last_err {
                report.errors.push(format!(
                    "filter {fname} attempt {attempt}: {} events to retry ({e})",
                    again.len()
                ));
            }
            pending = again;
            if attempt < retry.max_attempts {
                tokio::time::sleep(Duration::from_millis(retry.backoff_ms(attempt))).await;
            }
        }
        // Still failing: the events stay queued for the next flush.
        let ids: HashSet<i64> = pending.iter().map(|i| i.row).collect();
        tracing::warn!(filter = %fname, events = ids.len(), "streaming batch failed after retries; kept queued");
        Ok(false)
    }

    /// Events queued for all subscription filters.
    pub fn stream_queue_depth(&self) -> Result<u64> {
        let n: i64 = self
            .db()
            .query_row("SELECT COUNT(*) FROM stream_outbox", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Dead-lettered events: `(event id, destination, error)`.
    pub fn list_stream_dead_letters(&self) -> Result<Vec<(String, String, String)>> {
        let conn = self.db();
        let mut st =
            conn.prepare("SELECT event_id, destination, error FROM stream_dead ORDER BY id")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Runs housekeeping, notification delivery and streaming every `every`
    /// until the returned handle is aborted. For servers.
    pub fn spawn_background(
        self: std::sync::Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.housekeeping(self.now_ms()) {
                    tracing::error!(error = %e, "monitor housekeeping failed");
                }
                if let Err(e) = self.deliver_pending().await {
                    tracing::error!(error = %e, "notification delivery failed");
                }
                if let Err(e) = self.flush_streams(false).await {
                    tracing::error!(error = %e, "streaming failed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(
            Destination::parse("opensearch+http://127.0.0.1:9200/cloudtrail").unwrap(),
            Destination::OpenSearch {
                base_url: "http://127.0.0.1:9200".into(),
                index: "cloudtrail".into()
            }
        );
        assert_eq!(
            Destination::parse("http://h:1/ingest").unwrap(),
            Destination::Ndjson {
                url: "http://h:1/ingest".into()
            }
        );
        assert!(Destination::parse("opensearch+http://h:1/").is_err());
        assert!(Destination::parse("opensearch+http://h:1/UPPER").is_err());
        assert!(Destination::parse("arn:aws:lambda:us-east-1:1:function:f").is_err());
    }

    #[test]
    fn bulk_fates_classify_items() {
        let body = br#"{"took":1,"errors":true,"items":[
            {"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let f = bulk_fates(body, 4);
        assert!(matches!(f[0], ItemFate::Done));
        assert!(matches!(f[1], ItemFate::Done));
        assert!(matches!(f[2], ItemFate::Retry(_)));
        assert!(matches!(f[3], ItemFate::Dead(_)));
        assert!(
            bulk_fates(b"nope", 2)
                .iter()
                .all(|f| matches!(f, ItemFate::Retry(_)))
        );
    }

    #[test]
    fn bulk_body_shape() {
        let it = Item {
            row: 1,
            event_id: "e1".into(),
            group: "g".into(),
            stream: "s".into(),
            ts: 0,
            message: r#"{"eventName":"X"}"#.into(),
        };
        let b = bulk_body("idx", "123", &[&it]);
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 2);
        let a: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(a["create"]["_id"], "e1");
        let d: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(d["eventName"], "X");
        assert_eq!(d["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert!(b.ends_with('\n'));
    }
}
