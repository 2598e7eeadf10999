//! Event history: a journal consumer feeds the LookupEvents index (`cairn-history`), and
//! `LookupEvents` reads it.
//!
//! The consumer indexes in batches and commits its journal cursor only after a batch is in
//! the index (synchronous SQLite), so a crash re-indexes at most one batch, which the index
//! ignores (it is idempotent by journal sequence number). Every management event that enters
//! the journal is indexed, whatever the trails select (as in CloudTrail).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::Worker;
use cairn_core::worker::Control;

use cairn_history::{
    AttributeKey, EventCategory, HistoryIndex, HistoryKeys, HistoryOptions, HistoryReader,
    IndexedEvent, LookupRequest,
};
use cairn_journal::{EventJournal, Journal, JournalReader};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::cloudtrail::CallContext;
use crate::error::ApiError;
use crate::pipeline::envelope;

/// The journal cursor of the history consumer.
pub const CURSOR: &str = "history";

/// The index and its background consumer.
pub struct History {
    reader: Mutex<HistoryReader>,
    worker: Worker,
}

/// How long [`History::stop`] waits for the consumer to finish its batch.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("History")
    }
}

impl History {
    /// Opens `<data_dir>/history.sqlite`, encrypted under keys derived from the master key
    /// (an index written in plaintext by an earlier version is encrypted in place), and
    /// starts indexing from the journal.
    pub fn start(
        data_dir: &std::path::Path,
        journal: Arc<Journal>,
        master: &crate::secrets::MasterKey,
    ) -> Result<History, String> {
        use crate::secrets::purpose;
        let keys = HistoryKeys::new(
            &*master
                .derive(purpose::HISTORY_RECORDS)
                .map_err(|e| e.to_string())?,
            &*master
                .derive(purpose::HISTORY_INDEX)
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let options = HistoryOptions {
            keys: Some(keys),
            ..HistoryOptions::default()
        };
        let index = HistoryIndex::open(data_dir.join("history.sqlite"), options)
            .map_err(|e| format!("opening the event history index: {e}"))?;
        let reader = index.reader().map_err(|e| e.to_string())?;
        let worker = Worker::spawn("cairn-history", move |c| consume(index, &*journal, c))
            .map_err(|e| e.to_string())?;
        Ok(History {
            reader: Mutex::new(reader),
            worker,
        })
    }

    /// Stops the consumer (after its current batch, waiting up to 30 s).
    pub fn stop(&self) {
        self.worker.shutdown(STOP_DEADLINE);
    }

    /// How the consumer is doing (running, batches indexed, last error).
    pub fn health(&self) -> cairn_core::Health {
        self.worker.health()
    }

    /// `LookupEvents`.
    pub fn lookup_events(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Attr {
            attribute_key: String,
            attribute_value: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req {
            lookup_attributes: Option<Vec<Attr>>,
            start_time: Option<f64>,
            end_time: Option<f64>,
            event_category: Option<String>,
            max_results: Option<i64>,
            next_token: Option<String>,
        }
        let req: Req = Req::deserialize(body).map_err(|e| {
            ApiError::client(
                "SerializationException",
                format!("invalid LookupEvents request: {e}"),
            )
        })?;
        let err = |e: cairn_history::HistoryError| match e.code() {
            "InternalFailure" => ApiError::internal(e),
            code => ApiError::client(code, e.to_string()),
        };
        let attrs: Vec<(String, String)> = req
            .lookup_attributes
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.attribute_key, a.attribute_value))
            .collect();
        let attribute: Option<(AttributeKey, String)> =
            LookupRequest::attribute_from_list(&attrs).map_err(err)?;
        let category = match req.event_category.as_deref() {
            None => None,
            Some(c) => Some(c.parse::<EventCategory>().map_err(err)?),
        };
        let time = |t: Option<f64>| {
            t.map(|s| {
                OffsetDateTime::from_unix_timestamp_nanos((s * 1e9) as i128)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            })
        };
        let lr = LookupRequest {
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            attribute,
            start: time(req.start_time),
            end: time(req.end_time),
            category,
            max_results: req.max_results,
            next_token: req.next_token,
        };
        let resp = self
            .reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(&lr)
            .map_err(err)?;
        let events: Vec<Value> = resp
            .events
            .into_iter()
            .map(|e| {
                let mut m = serde_json::Map::new();
                m.insert("EventId".into(), json!(e.event_id));
                m.insert("EventName".into(), json!(e.event_name));
                if let Some(ro) = e.read_only {
                    m.insert("ReadOnly".into(), json!(ro));
                }
                if let Some(k) = e.access_key_id {
                    m.insert("AccessKeyId".into(), json!(k));
                }
                m.insert(
                    "EventTime".into(),
                    json!(e.event_time.unix_timestamp_nanos() as f64 / 1e9),
                );
                m.insert("EventSource".into(), json!(e.event_source));
                if let Some(u) = e.username {
                    m.insert("Username".into(), json!(u));
                }
                let res: Vec<Value> = e
                    .resources
                    .into_iter()
                    .map(|(t, n)| match t {
                        Some(t) => json!({"ResourceType": t, "ResourceName": n}),
                        None => json!({"ResourceName": n}),
                    })
                    .collect();
                m.insert("Resources".into(), json!(res));
                m.insert("CloudTrailEvent".into(), json!(e.cloud_trail_event));
                Value::Object(m)
            })
            .collect();
        let mut out = json!({ "Events": events });
        if let Some(t) = resp.next_token {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    }
}

/// The consumer loop: index a batch, then commit the cursor; until `control` says stop.
fn consume<J: EventJournal>(
    mut index: HistoryIndex,
    journal: &J,
    control: &Control,
) -> Result<(), String> {
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let mut reader = journal.reader(start).map_err(|e| e.to_string())?;
    let mut last_expire = std::time::Instant::now();
    while !control.stopping() {
        let batch = reader
            .next_batch(5000, Duration::from_millis(200))
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            if last_expire.elapsed() > Duration::from_secs(3600) {
                index
                    .expire(OffsetDateTime::now_utc())
                    .map_err(|e| e.to_string())?;
                last_expire = std::time::Instant::now();
            }
            continue;
        }
        let decoded: Vec<(u64, envelope::Envelope<'_>)> = batch
            .iter()
            .filter_map(|r| envelope::decode(&r.payload).ok().map(|e| (r.seq, e)))
            .collect();
        let events: Vec<IndexedEvent<'_>> = decoded
            .iter()
            .map(|(seq, e)| IndexedEvent {
                seq: *seq,
                account: e.recipient_account_id,
                region: e.aws_region,
                event_time: OffsetDateTime::from_unix_timestamp(e.event_time)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                event_id: e.event_id,
                raw: e.record,
            })
            .collect();
        index.index_batch(&events).map_err(|e| e.to_string())?;
        journal
            .commit_cursor(CURSOR, reader.position())
            .map_err(|e| e.to_string())?;
        control.report(Ok(()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_journal::JournalOptions;

    #[test]
    fn the_consumer_runs_as_a_worker_commits_its_cursor_and_stops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Arc::new(Journal::open(dir.path().join("journal"), JournalOptions::default()).unwrap());
        // A record that is not an envelope is skipped, and the cursor still moves past it.
        journal.append(&[b"not an envelope"]).unwrap();
        let master = crate::secrets::MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let history = History::start(dir.path(), journal.clone(), &master).unwrap();
        let start = std::time::Instant::now();
        while journal.cursor(CURSOR).unwrap() < 1 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(journal.cursor(CURSOR).unwrap(), 1);
        let h = history.health();
        assert!(
            h.running && h.passes >= 1 && h.last_error.is_none(),
            "{h:?}"
        );
        let t = std::time::Instant::now();
        history.stop();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(!history.health().running);
    }
}
