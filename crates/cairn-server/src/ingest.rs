//! Ingest: validated records become journal envelopes, durably, once per `eventID`.
//!
//! Every path (`PutAuditEvents`, the bulk endpoint behind `cairn ingest`, Cairn's own API
//! events) ends in [`Ingest::append`]: records whose `eventID` was already accepted are
//! reported as duplicates and not appended again; the rest are appended in one journal batch
//! (one group-committed fsync) and acknowledged only after it is durable. The `eventID` set
//! is rebuilt from the journal at start, so deduplication holds across restarts for as long
//! as the journal retains the first copy.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cairn_event::{RoutingKeys, ValidRecord};
use cairn_journal::Journal;

use crate::error::ApiError;
use crate::pipeline::envelope::{self, RouteKeys};

/// What happened to one record of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Durable now, with this journal sequence number.
    New(u64),
    /// An event with this `eventID` was accepted before; not appended again.
    Duplicate,
}

/// Builds the audit record of an ingest call from its counts (new records, duplicates): its
/// event ID and journal envelope.
pub type TraceFn<'a> = dyn Fn(usize, usize) -> (String, Vec<u8>) + 'a;

/// The ingest front of the journal.
pub struct Ingest {
    journal: Arc<Journal>,
    seen: Mutex<HashSet<u128>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

/// Routing keys of a validated record, in the journal's envelope form.
pub fn route_keys(k: &RoutingKeys) -> RouteKeys {
    // Channel (activity audit log) events are routed like management events: trails
    // cannot select the ActivityAuditLog category, and a channel exists to feed them.
    let category = if k.event_category == "ActivityAuditLog" {
        "Management".to_owned()
    } else {
        k.event_category.clone()
    };
    RouteKeys {
        event_id: k.event_id.clone(),
        event_time: k.event_time.unix_timestamp(),
        event_category: category,
        event_source: k.event_source.clone(),
        event_name: k.event_name.clone(),
        event_type: Some(k.event_type.clone()),
        aws_region: k.aws_region.to_string(),
        recipient_account_id: k.recipient_account_id.to_string(),
        user_identity_arn: k.user_identity_arn.clone(),
        session_credential_from_console: k
            .session_credential_from_console
            .then(|| "true".to_owned()),
        error_code: k.error_code.clone(),
        vpc_endpoint_id: k.vpc_endpoint_id.clone(),
        read_only: k.read_only,
        global_service: k.is_global_service_event,
        resources: k
            .resources
            .iter()
            .map(|r| (r.resource_type.clone(), Some(r.arn.clone())))
            .collect(),
    }
}

impl Ingest {
    /// Builds the `eventID` set from every record the journal retains.
    pub fn open(journal: Arc<Journal>) -> Result<Self, cairn_journal::JournalError> {
        let mut seen = HashSet::new();
        let mut reader = journal.reader(journal.first_seq())?;
        loop {
            let batch = reader.try_next_batch(4096)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                if let Ok(e) = envelope::decode(&r.payload) {
                    seen.insert(id_key(e.event_id));
                }
            }
        }
        Ok(Self {
            journal,
            seen: Mutex::new(seen),
        })
    }

    /// Number of distinct event IDs known.
    pub fn known_ids(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Appends records durably (blocking: call from `spawn_blocking`). The result has one
    /// entry per input record, in order. Either every new record is durable or the call fails
    /// and none is marked seen.
    pub fn append(&self, records: Vec<ValidRecord>) -> Result<Vec<Appended>, ApiError> {
        self.append_inner(records, None)
    }

    /// [`Ingest::append`] with the audit record of the call that sent the records:
    /// `record(new, duplicates)` builds it (event ID and envelope) from the counts, and it
    /// goes into the same journal batch as the new records (the same fsync), even when
    /// none is new. Ingested records are never durable without a record of who sent them.
    pub fn append_traced(
        &self,
        records: Vec<ValidRecord>,
        record: &TraceFn<'_>,
    ) -> Result<Vec<Appended>, ApiError> {
        self.append_inner(records, Some(record))
    }

    fn append_inner(
        &self,
        records: Vec<ValidRecord>,
        record: Option<&TraceFn<'_>>,
    ) -> Result<Vec<Appended>, ApiError> {
        let mut outcome = Vec::with_capacity(records.len());
        let mut payloads = Vec::with_capacity(records.len());
        let mut new_ids = Vec::with_capacity(records.len());
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch_ids = HashSet::new();
            for r in records {
                let h = id_key(&r.keys().event_id);
                if seen.contains(&h) || !batch_ids.insert(h) {
                    outcome.push(Appended::Duplicate);
                    continue;
                }
                let (json, keys) = r.into_parts();
                payloads.push(envelope::encode(&route_keys(&keys), &json));
                new_ids.push(h);
                outcome.push(Appended::New(0));
            }
        }
        let own = record.map(|f| f(payloads.len(), outcome.len() - payloads.len()));
        if let Some((id, payload)) = own {
            payloads.push(payload);
            new_ids.push(id_key(&id));
        }
        if payloads.is_empty() {
            return Ok(outcome);
        }
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let ack = self.journal.append(&refs).map_err(journal_error)?;
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(new_ids);
        let mut seq = ack.first_seq;
        for o in &mut outcome {
            if let Appended::New(s) = o {
                *s = seq;
                seq += 1;
            }
        }
        Ok(outcome)
    }

    /// Appends one envelope Cairn built itself (its own API events).
    pub fn append_own(&self, event_id: &str, payload: &[u8]) -> Result<u64, ApiError> {
        let ack = self.journal.append(&[payload]).map_err(journal_error)?;
        let h = id_key(event_id);
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(h);
        Ok(ack.first_seq)
    }
}

/// A 128-bit key per event ID: the UUID itself when it is one (exact), else the first 128
/// bits of its SHA-256 (a false duplicate would drop an event, so no short hashes).
fn id_key(id: &str) -> u128 {
    if let Ok(u) = uuid::Uuid::parse_str(id) {
        return u.as_u128();
    }
    use sha2::Digest;
    let d = sha2::Sha256::digest(id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

/// Maps journal failures to API errors: a full journal is throttling, the rest internal.
pub fn journal_error(e: cairn_journal::JournalError) -> ApiError {
    if e.class() == cairn_journal::ErrorClass::Throttled {
        ApiError::throttled(format!("the event journal is full; retry later ({e})"))
    } else {
        ApiError::internal(format!("journal append failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_event::{AccountId, IngestPolicy, validate_record};

    fn record(id: &str) -> ValidRecord {
        let raw = serde_json::json!({
            "eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z",
            "eventSource": "example.cairn.dev", "eventName": "Claimed",
            "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "eventID": id,
            "eventType": "AwsApiCall", "recipientAccountId": "111111111111",
            "userIdentity": {"type": "IAMUser", "userName": "alice"},
        });
        let policy = IngestPolicy::new(AccountId::parse("111111111111").unwrap());
        validate_record(raw.to_string().as_bytes(), &policy).unwrap()
    }

    /// Provenance: the call's own record is built from the counts and lands in the same
    /// journal batch as the records it sent, right after them; even when none is new.
    #[test]
    fn traced_appends_journal_the_senders_record_with_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Arc::new(Journal::open(dir.path(), cairn_journal::JournalOptions::default()).unwrap());
        let ingest = Ingest::open(journal.clone()).unwrap();
        let (a, b) = (
            uuid::Uuid::new_v4().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        let counts = std::cell::Cell::new((9, 9));
        let own = |new: usize, dup: usize| {
            counts.set((new, dup));
            (
                uuid::Uuid::new_v4().to_string(),
                format!("sender new={new} dup={dup}").into_bytes(),
            )
        };
        let out = ingest
            .append_traced(vec![record(&a), record(&a), record(&b)], &own)
            .unwrap();
        assert_eq!(counts.get(), (2, 1));
        let first = journal.first_seq();
        assert_eq!(
            out,
            [
                Appended::New(first),
                Appended::Duplicate,
                Appended::New(first + 1)
            ]
        );
        let out = ingest.append_traced(vec![record(&b)], &own).unwrap();
        assert_eq!((out, counts.get()), (vec![Appended::Duplicate], (0, 1)));
        let mut reader = journal.reader(first).unwrap();
        let payloads: Vec<Vec<u8>> = reader
            .try_next_batch(10)
            .unwrap()
            .into_iter()
            .map(|r| r.payload.to_vec())
            .collect();
        assert_eq!(payloads.len(), 4);
        assert_eq!(payloads[2], b"sender new=2 dup=1");
        assert_eq!(payloads[3], b"sender new=0 dup=1");
    }
}
