//! The queue service: queues and their messages in `sqs.db`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_core::Clock;
use cairn_core::seal::SealKey;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::attributes::{QueueAttributes, READ_ONLY};
use crate::error::invalid_param;
use crate::message::{
    MessageAttributes, check_attributes, md5_of_attributes, md5_of_body, valid_text,
};
use crate::receipt::Receipt;
use crate::{SqsError, db};

/// A queue's name in its account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueId {
    /// The owning account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The queue name.
    pub name: String,
}

impl QueueId {
    /// A queue id.
    pub fn new(account: &str, region: &str, name: &str) -> QueueId {
        QueueId {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
        }
    }

    /// `arn:aws:sqs:<region>:<account>:<name>`.
    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, self.account, self.name)
    }

    /// Parses an SQS queue ARN (any partition).
    pub fn from_arn(arn: &str) -> Option<QueueId> {
        let mut p = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some("sqs"), Some(region), Some(account), Some(name)) =
            (p.next(), p.next(), p.next(), p.next(), p.next(), p.next())
        else {
            return None;
        };
        (!region.is_empty() && !account.is_empty() && validate_queue_name(name).is_ok())
            .then(|| QueueId::new(account, region, name))
    }
}

/// Checks a queue name: 1 to 80 letters, digits, `-` and `_`. FIFO names (`.fifo`) are
/// refused as not implemented.
pub fn validate_queue_name(name: &str) -> Result<(), SqsError> {
    if name.ends_with(".fifo") {
        return Err(SqsError::NotImplemented("FIFO queues".into()));
    }
    let ok = (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid_param(
            "QueueName",
            name,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

/// Checks the entry ids of a batch request: 1 to 10 entries, distinct, each 1 to 80 letters,
/// digits, `-` and `_`. `what` names the entry type in the empty-batch error.
pub fn check_batch_ids<'a>(
    what: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<(), SqsError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        let ok = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.to_owned()));
        }
    }
    match seen.len() {
        0 => Err(SqsError::EmptyBatchRequest(what.to_owned())),
        n if n > 10 => Err(SqsError::TooManyEntriesInBatchRequest(n)),
        _ => Ok(()),
    }
}

/// A queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Its name.
    pub id: QueueId,
    /// Its settable attributes.
    pub attributes: QueueAttributes,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// When it was created (Unix ms).
    pub created_ms: i64,
    /// When its attributes last changed (Unix ms).
    pub modified_ms: i64,
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendMessage {
    /// The body (1 byte to the queue's maximum size, SQS's characters only).
    pub body: String,
    /// Per-message delay (0–900 s); the queue's `DelaySeconds` when `None`.
    pub delay_seconds: Option<u32>,
    /// Message attributes.
    pub attributes: MessageAttributes,
    /// The sender's principal id (`SenderId`).
    pub sender_id: String,
}

/// What a send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The new message's id.
    pub message_id: String,
    /// `MD5OfMessageBody`.
    pub md5_of_body: String,
    /// `MD5OfMessageAttributes`, with attributes.
    pub md5_of_attributes: Option<String>,
}

/// How to receive.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveOptions {
    /// At most this many messages (1–10).
    pub max_messages: u32,
    /// Visibility timeout for these messages (0–43,200 s); the queue's when `None`.
    pub visibility_timeout: Option<u32>,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        ReceiveOptions {
            max_messages: 1,
            visibility_timeout: None,
        }
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message id.
    pub message_id: String,
    /// The handle of this receive (for DeleteMessage and ChangeMessageVisibility).
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// `MD5OfBody`.
    pub md5_of_body: String,
    /// All its message attributes ([`Received::select_attributes`] picks the requested ones).
    pub attributes: MessageAttributes,
    /// `SenderId`.
    pub sender_id: String,
    /// `SentTimestamp` (Unix ms).
    pub sent_ms: i64,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    /// `ApproximateFirstReceiveTimestamp` (Unix ms).
    pub first_receive_ms: i64,
}

impl Received {
    /// The message attributes named by `names` (`All`, `.*`, `prefix.*` or exact names), with
    /// their `MD5OfMessageAttributes`.
    pub fn select_attributes(&self, names: &[String]) -> (MessageAttributes, Option<String>) {
        let wanted = |n: &str| {
            names.iter().any(|w| {
                w == "All"
                    || w == ".*"
                    || w == n
                    || w.strip_suffix(".*")
                        .is_some_and(|p| n.starts_with(&format!("{p}.")))
            })
        };
        let picked: MessageAttributes = self
            .attributes
            .iter()
            .filter(|(n, _)| wanted(n))
            .map(|(n, a)| (n.clone(), a.clone()))
            .collect();
        let md5 = md5_of_attributes(&picked);
        (picked, md5)
    }

    /// The system attributes named by `names` (`All` or exact names) in their wire form.
    pub fn system_attributes(&self, names: &[String]) -> BTreeMap<String, String> {
        let all = names.iter().any(|n| n == "All");
        let mut out = BTreeMap::new();
        for (k, v) in [
            ("SenderId", self.sender_id.clone()),
            ("SentTimestamp", self.sent_ms.to_string()),
            ("ApproximateReceiveCount", self.receive_count.to_string()),
            (
                "ApproximateFirstReceiveTimestamp",
                self.first_receive_ms.to_string(),
            ),
        ] {
            if all || names.iter().any(|n| n == k) {
                out.insert(k.to_owned(), v);
            }
        }
        out
    }
}

/// What is sealed at rest for a message.
#[derive(Serialize, Deserialize)]
struct Payload {
    body: String,
    attributes: MessageAttributes,
}

/// The queue service. Cheap to share behind an `Arc`; every call is one SQLite transaction.
pub struct Sqs {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    key: SealKey,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Sqs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqs").finish_non_exhaustive()
    }
}

/// Names deleted less than this long ago cannot be used again (ms).
const RECREATE_WAIT_MS: i64 = 60_000;
/// Purges of one queue are this far apart at least (ms).
const PURGE_INTERVAL_MS: i64 = 60_000;
/// A message's visibility cannot reach further than this past its first receive (ms).
const MAX_INVISIBLE_MS: i64 = 43_200_000;
/// Most tags per queue.
const MAX_TAGS: usize = 50;

impl Sqs {
    /// Opens (creating) `sqs.db` at `path`; messages are sealed under `key`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, key: SealKey) -> Result<Sqs, SqsError> {
        Ok(Self::with(db::open(Some(path))?, clock, key))
    }

    /// A service on a private in-memory database (tests, benchmarks).
    pub fn open_in_memory(clock: Arc<dyn Clock>, key: SealKey) -> Result<Sqs, SqsError> {
        Ok(Self::with(db::open(None)?, clock, key))
    }

    fn with(conn: Connection, clock: Arc<dyn Clock>, key: SealKey) -> Sqs {
        Sqs {
            conn: Mutex::new(conn),
            clock,
            key,
            changed: watch::Sender::new(0),
        }
    }

    /// A receiver that changes whenever a message may have become receivable (a send, a
    /// visibility reset, a move to a dead-letter queue): what a long poll waits on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn wake(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a queue, or returns the existing one when its attributes equal the given ones
    /// (`QueueNameExists` names the first that differs).
    pub fn create_queue(
        &self,
        id: &QueueId,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Queue, SqsError> {
        validate_queue_name(&id.name)?;
        let attrs = QueueAttributes::from_map(attributes)?;
        check_tags(tags.len())?;
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some((_, existing)) = load(&tx, id)? {
            return match existing.attributes.first_difference(&attrs) {
                Some(name) => Err(SqsError::QueueNameExists(name.to_owned())),
                None => Ok(existing),
            };
        }
        let deleted: Option<i64> = tx
            .query_row(
                "SELECT deleted FROM deleted_queues WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![id.account, id.region, id.name],
                |r| r.get(0),
            )
            .optional()?;
        if deleted.is_some_and(|d| now - d < RECREATE_WAIT_MS) {
            return Err(SqsError::QueueDeletedRecently);
        }
        check_redrive_target(&tx, id, &attrs)?;
        tx.execute(
            "INSERT INTO queues (account, region, name, attributes, tags, created, modified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                id.account,
                id.region,
                id.name,
                to_json(&attrs),
                to_json(tags),
                now
            ],
        )?;
        tx.commit()?;
        Ok(Queue {
            id: id.clone(),
            attributes: attrs,
            tags: tags.clone(),
            created_ms: now,
            modified_ms: now,
        })
    }

    /// The queue (`QueueDoesNotExist` when there is none).
    pub fn get_queue(&self, id: &QueueId) -> Result<Queue, SqsError> {
        let conn = self.lock();
        Ok(require(&conn, id)?.1)
    }

    /// Deletes a queue and its messages. Its name is free again after 60 seconds.
    pub fn delete_queue(&self, id: &QueueId) -> Result<(), SqsError> {
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, _) = require(&tx, id)?;
        tx.execute("DELETE FROM messages WHERE queue = ?1", [row])?;
        tx.execute("DELETE FROM queues WHERE id = ?1", [row])?;
        tx.execute(
            "INSERT OR REPLACE INTO deleted_queues (account, region, name, deleted)
             VALUES (?1, ?2, ?3, ?4)",
            params![id.account, id.region, id.name, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The queues of an account and region whose names start with `prefix`, in name order,
    /// from after `next_token`. With `max_results` (1–1,000) the answer is paged and the
    /// second value is the token of the next page; without it, at most 1,000 and no token.
    pub fn list_queues(
        &self,
        account: &str,
        region: &str,
        prefix: Option<&str>,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(Vec<QueueId>, Option<String>), SqsError> {
        if let Some(m) = max_results
            && !(1..=1000).contains(&m)
        {
            return Err(invalid_param("MaxResults", m, "must be between 1 and 1000"));
        }
        let after = match next_token {
            Some(t) => Some(
                URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| invalid_param("NextToken", t, "Invalid NextToken value."))?,
            ),
            None => None,
        };
        let limit = max_results.unwrap_or(1000);
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT name FROM queues WHERE account = ?1 AND region = ?2 AND name > ?3
             ORDER BY name",
        )?;
        let rows = st.query_map(params![account, region, after.unwrap_or_default()], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        let mut more = false;
        for name in rows {
            let name = name?;
            if prefix.is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(QueueId::new(account, region, &name));
        }
        let token = (more && max_results.is_some())
            .then(|| out.last().map(|q| URL_SAFE_NO_PAD.encode(&q.name)))
            .flatten();
        Ok((out, token))
    }

    /// Sets attributes (each checked as on CreateQueue; read-only ones are refused).
    pub fn set_queue_attributes(
        &self,
        id: &QueueId,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, mut q) = require(&tx, id)?;
        for (k, v) in attributes {
            q.attributes.apply(k, v)?;
        }
        check_redrive_target(&tx, id, &q.attributes)?;
        tx.execute(
            "UPDATE queues SET attributes = ?1, modified = ?2 WHERE id = ?3",
            params![to_json(&q.attributes), now, row],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The attributes named by `names` (`All` for every one), computed ones included.
    /// An unknown name is `InvalidAttributeName`.
    pub fn queue_attributes(
        &self,
        id: &QueueId,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let now = self.clock.now_ms();
        let conn = self.lock();
        let (row, q) = require(&conn, id)?;
        let mut all = q.attributes.to_map();
        let count = |sql: &str| -> Result<i64, SqsError> {
            Ok(conn.query_row(sql, params![row, now], |r| r.get(0))?)
        };
        all.insert(
            "ApproximateNumberOfMessages".into(),
            count("SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible <= ?2")?.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            count(
                "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible > ?2 AND receives > 0",
            )?
            .to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            count(
                "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible > ?2 AND receives = 0",
            )?
            .to_string(),
        );
        all.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
        all.insert(
            "LastModifiedTimestamp".into(),
            (q.modified_ms / 1000).to_string(),
        );
        all.insert("QueueArn".into(), id.arn());
        if names.iter().any(|n| n == "All") {
            return Ok(all);
        }
        let mut out = BTreeMap::new();
        for n in names {
            let known = READ_ONLY.contains(&n.as_str()) || crate::SETTABLE.contains(&n.as_str());
            if !known {
                return Err(SqsError::InvalidAttributeName(n.clone()));
            }
            if let Some(v) = all.get(n) {
                out.insert(n.clone(), v.clone());
            }
        }
        Ok(out)
    }

    /// The queues whose redrive policy names this one as their dead-letter queue.
    pub fn dead_letter_source_queues(&self, id: &QueueId) -> Result<Vec<QueueId>, SqsError> {
        let conn = self.lock();
        require(&conn, id)?;
        let mut st = conn.prepare(
            "SELECT name, attributes FROM queues WHERE account = ?1 AND region = ?2 ORDER BY name",
        )?;
        let rows = st.query_map(params![id.account, id.region], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, attrs) = row?;
            let attrs: QueueAttributes = from_json(&attrs)?;
            if attrs
                .redrive_policy
                .is_some_and(|r| r.dead_letter_target == *id)
            {
                out.push(QueueId::new(&id.account, &id.region, &name));
            }
        }
        Ok(out)
    }

    /// Adds or replaces tags (at most 50 per queue).
    pub fn tag_queue(&self, id: &QueueId, tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
        self.update_tags(id, |t| {
            t.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        })
    }

    /// Removes tags by key (absent keys are ignored).
    pub fn untag_queue(&self, id: &QueueId, keys: &[String]) -> Result<(), SqsError> {
        self.update_tags(id, |t| {
            for k in keys {
                t.remove(k);
            }
        })
    }

    fn update_tags(
        &self,
        id: &QueueId,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<(), SqsError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, mut q) = require(&tx, id)?;
        change(&mut q.tags);
        check_tags(q.tags.len())?;
        tx.execute(
            "UPDATE queues SET tags = ?1 WHERE id = ?2",
            params![to_json(&q.tags), row],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes every message of the queue. Once per 60 seconds (`PurgeQueueInProgress`).
    pub fn purge_queue(&self, id: &QueueId) -> Result<u64, SqsError> {
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, _) = require(&tx, id)?;
        let last: Option<i64> =
            tx.query_row("SELECT last_purge FROM queues WHERE id = ?1", [row], |r| {
                r.get(0)
            })?;
        if last.is_some_and(|l| now - l < PURGE_INTERVAL_MS) {
            return Err(SqsError::PurgeQueueInProgress(id.arn()));
        }
        let n = tx.execute("DELETE FROM messages WHERE queue = ?1", [row])?;
        tx.execute(
            "UPDATE queues SET last_purge = ?1 WHERE id = ?2",
            params![now, row],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Sends a message. Durable when this returns.
    pub fn send_message(&self, id: &QueueId, msg: &SendMessage) -> Result<Sent, SqsError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, q) = require(&tx, id)?;
        let sent = self.insert_message(&tx, row, &q, msg)?;
        tx.commit()?;
        drop(conn);
        self.wake();
        Ok(sent)
    }

    /// Sends a message unless one was already sent with `dedupe_id` (within
    /// [`DEDUPE_WINDOW_MS`]): `None` then. The check and the send are one transaction, so a
    /// sender that retries after a crash with the same id makes exactly one message — the way
    /// Cairn's own feeds (S3 event notifications) reach a queue exactly once.
    pub fn send_message_once(
        &self,
        id: &QueueId,
        msg: &SendMessage,
        dedupe_id: &str,
    ) -> Result<Option<Sent>, SqsError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seen: Option<String> = tx
            .query_row(
                "SELECT message_id FROM sent_once WHERE dedupe = ?1",
                [dedupe_id],
                |r| r.get(0),
            )
            .optional()?;
        if seen.is_some() {
            return Ok(None);
        }
        let (row, q) = require(&tx, id)?;
        let sent = self.insert_message(&tx, row, &q, msg)?;
        tx.execute(
            "INSERT INTO sent_once (dedupe, message_id, sent) VALUES (?1, ?2, ?3)",
            params![dedupe_id, sent.message_id, self.clock.now_ms()],
        )?;
        tx.commit()?;
        drop(conn);
        self.wake();
        Ok(Some(sent))
    }

    /// Sends up to ten messages in one transaction; each entry succeeds or fails on its own
    /// (the batch-level checks are [`check_batch_ids`] and the total size, done here).
    pub fn send_message_batch(
        &self,
        id: &QueueId,
        msgs: &[SendMessage],
    ) -> Result<Vec<Result<Sent, SqsError>>, SqsError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, q) = require(&tx, id)?;
        let total: usize = msgs.iter().map(message_size).sum();
        let limit = q.attributes.maximum_message_size as usize;
        if total > limit {
            return Err(SqsError::BatchRequestTooLong(limit));
        }
        let out = msgs
            .iter()
            .map(|m| self.insert_message(&tx, row, &q, m))
            .collect();
        tx.commit()?;
        drop(conn);
        self.wake();
        Ok(out)
    }

    fn insert_message(
        &self,
        tx: &Transaction<'_>,
        row: i64,
        q: &Queue,
        msg: &SendMessage,
    ) -> Result<Sent, SqsError> {
        if msg.body.is_empty() {
            return Err(SqsError::MissingParameter("MessageBody".into()));
        }
        if !valid_text(&msg.body) {
            return Err(SqsError::InvalidMessageContents);
        }
        check_attributes(&msg.attributes)?;
        let limit = q.attributes.maximum_message_size;
        if message_size(msg) > limit as usize {
            return Err(invalid_param(
                "MessageBody",
                "(the body)",
                &format!("Message must be shorter than {limit} bytes."),
            ));
        }
        let delay = msg.delay_seconds.unwrap_or(q.attributes.delay_seconds);
        if delay > 900 {
            return Err(invalid_param(
                "DelaySeconds",
                delay,
                "must be >= 0 and <= 900.",
            ));
        }
        let now = self.clock.now_ms();
        let message_id = uuid::Uuid::new_v4().to_string();
        let sent = Sent {
            md5_of_body: md5_of_body(&msg.body),
            md5_of_attributes: md5_of_attributes(&msg.attributes),
            message_id,
        };
        let payload = serde_json::to_vec(&Payload {
            body: msg.body.clone(),
            attributes: msg.attributes.clone(),
        })
        .map_err(|e| SqsError::Storage(e.to_string()))?;
        let sealed = self
            .key
            .seal(sent.message_id.as_bytes(), &payload)
            .map_err(|e| SqsError::Crypto(e.to_string()))?;
        tx.execute(
            "INSERT INTO messages (queue, message_id, payload, md5_body, md5_attrs, sender, sent,
                                   visible)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                row,
                sent.message_id,
                sealed,
                sent.md5_of_body,
                sent.md5_of_attributes,
                msg.sender_id,
                now,
                now + i64::from(delay) * 1000
            ],
        )?;
        Ok(sent)
    }

    /// Receives up to `max_messages` visible messages, oldest first, making each invisible for
    /// the visibility timeout. Messages past the queue's retention are dropped; messages
    /// received `maxReceiveCount` times move to the dead-letter queue instead (when it exists).
    pub fn receive_message(
        &self,
        id: &QueueId,
        opts: ReceiveOptions,
    ) -> Result<Vec<Received>, SqsError> {
        if !(1..=10).contains(&opts.max_messages) {
            return Err(invalid_param(
                "MaxNumberOfMessages",
                opts.max_messages,
                "Must be between 1 and 10, if provided.",
            ));
        }
        if let Some(v) = opts.visibility_timeout
            && v > 43_200
        {
            return Err(invalid_param(
                "VisibilityTimeout",
                v,
                "Must be between 0 and 43200, if provided.",
            ));
        }
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, q) = require(&tx, id)?;
        expire_before(&tx, row, now, &q.attributes)?;
        let dlq = match &q.attributes.redrive_policy {
            Some(r) => load(&tx, &r.dead_letter_target)?.map(|(dl, _)| (dl, r.max_receive_count)),
            None => None,
        };
        let vt = i64::from(
            opts.visibility_timeout
                .unwrap_or(q.attributes.visibility_timeout),
        ) * 1000;
        let want = opts.max_messages as usize;
        let mut out = Vec::new();
        let mut moved = false;
        // Messages handled by this call: with a visibility timeout of 0 they stay visible,
        // and one answer must not hold a message twice.
        let mut taken = BTreeSet::new();
        loop {
            let batch: Vec<_> = ready(&tx, row, now, want - out.len() + taken.len())?
                .into_iter()
                .filter(|m| !taken.contains(&m.seq))
                .collect();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                taken.insert(m.seq);
                if let Some((dl, max)) = dlq
                    && m.receives >= i64::from(max)
                {
                    tx.execute(
                        "UPDATE messages SET queue = ?1, visible = ?2, receives = 0,
                             first_receive = NULL, receipt = NULL
                         WHERE seq = ?3",
                        params![dl, now, m.seq],
                    )?;
                    moved = true;
                    continue;
                }
                let receipt = Receipt::new(row, m.seq);
                let first = m.first_receive.unwrap_or(now);
                tx.execute(
                    "UPDATE messages SET receives = receives + 1, visible = ?1,
                         first_receive = ?2, receipt = ?3
                     WHERE seq = ?4",
                    params![now + vt, first, receipt.nonce, m.seq],
                )?;
                let payload = self.open_payload(&m.message_id, &m.payload)?;
                out.push(Received {
                    message_id: m.message_id,
                    receipt_handle: receipt.encode(),
                    body: payload.body,
                    md5_of_body: m.md5_body,
                    attributes: payload.attributes,
                    sender_id: m.sender,
                    sent_ms: m.sent,
                    receive_count: u32::try_from(m.receives + 1).unwrap_or(u32::MAX),
                    first_receive_ms: first,
                });
            }
            if out.len() == want {
                break;
            }
        }
        tx.commit()?;
        drop(conn);
        if moved {
            self.wake();
        }
        Ok(out)
    }

    fn open_payload(&self, message_id: &str, sealed: &[u8]) -> Result<Payload, SqsError> {
        let plain = self
            .key
            .open(message_id.as_bytes(), sealed)
            .map_err(|e| SqsError::Crypto(format!("message {message_id}: {e}")))?;
        serde_json::from_slice(&plain)
            .map_err(|e| SqsError::Storage(format!("message {message_id}: {e}")))
    }

    /// Deletes the message of a receipt handle. A handle of an earlier receive of a message
    /// that has been received again, or of a message already deleted, succeeds and deletes
    /// nothing, as SQS documents.
    pub fn delete_message(&self, id: &QueueId, receipt_handle: &str) -> Result<(), SqsError> {
        self.delete_message_batch(id, &[receipt_handle])?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Deletes the messages of several receipt handles in one transaction (one durable write
    /// for the batch); each handle succeeds or fails on its own, as in [`Sqs::delete_message`].
    pub fn delete_message_batch(
        &self,
        id: &QueueId,
        receipt_handles: &[&str],
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, _) = require(&tx, id)?;
        let mut out = Vec::with_capacity(receipt_handles.len());
        for handle in receipt_handles {
            let one = match Receipt::decode(handle) {
                Ok(r) if r.queue == row => tx
                    .execute(
                        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                        params![r.seq, row, r.nonce],
                    )
                    .map(|_| ())
                    .map_err(SqsError::from),
                Ok(_) | Err(_) => Err(SqsError::ReceiptHandleIsInvalid((*handle).to_owned())),
            };
            out.push(one);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Sets the visibility timeout of an in-flight message (0 makes it receivable now). The
    /// message must be in flight under this handle (`MessageNotInflight`), and stays invisible
    /// at most 12 hours past its first receive.
    pub fn change_message_visibility(
        &self,
        id: &QueueId,
        receipt_handle: &str,
        timeout: u32,
    ) -> Result<(), SqsError> {
        self.change_message_visibility_batch(id, &[(receipt_handle, timeout)])?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Sets the visibility timeouts of several in-flight messages in one transaction; each
    /// entry succeeds or fails on its own, as in [`Sqs::change_message_visibility`].
    pub fn change_message_visibility_batch(
        &self,
        id: &QueueId,
        entries: &[(&str, u32)],
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, _) = require(&tx, id)?;
        let out: Vec<Result<(), SqsError>> = entries
            .iter()
            .map(|&(handle, timeout)| change_visibility(&tx, row, now, handle, timeout))
            .collect();
        tx.commit()?;
        drop(conn);
        let released = entries
            .iter()
            .zip(&out)
            .any(|((_, timeout), r)| *timeout == 0 && r.is_ok());
        if released {
            self.wake();
        }
        Ok(out)
    }

    /// Milliseconds until the next delayed or in-flight message of the queue becomes
    /// receivable (`None`: none is waiting). A long poll sleeps at most this long.
    pub fn next_visible_in_ms(&self, id: &QueueId) -> Result<Option<i64>, SqsError> {
        let now = self.clock.now_ms();
        let conn = self.lock();
        let (row, _) = require(&conn, id)?;
        let next: Option<i64> = conn.query_row(
            "SELECT MIN(visible) FROM messages WHERE queue = ?1 AND visible > ?2",
            params![row, now],
            |r| r.get(0),
        )?;
        Ok(next.map(|v| v - now))
    }

    /// Housekeeping: drops messages past their queue's retention and forgets deleted names
    /// after a minute. Returns the messages dropped.
    pub fn tick(&self) -> Result<u64, SqsError> {
        let now = self.clock.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let queues: Vec<(i64, String)> = {
            let mut st = tx.prepare("SELECT id, attributes FROM queues")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut dropped = 0;
        for (row, attrs) in queues {
            let attributes: QueueAttributes = from_json(&attrs)?;
            dropped += expire_before(&tx, row, now, &attributes)?;
        }
        tx.execute(
            "DELETE FROM deleted_queues WHERE deleted < ?1",
            [now - RECREATE_WAIT_MS],
        )?;
        tx.execute(
            "DELETE FROM sent_once WHERE sent < ?1",
            [now - DEDUPE_WINDOW_MS],
        )?;
        tx.commit()?;
        Ok(dropped)
    }
}

/// How long [`Sqs::send_message_once`] remembers a dedupe id: a week, far longer than a
/// sender's retries after a crash or an outage.
pub const DEDUPE_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// One ChangeMessageVisibility within a transaction.
fn change_visibility(
    tx: &Transaction<'_>,
    row: i64,
    now: i64,
    handle: &str,
    timeout: u32,
) -> Result<(), SqsError> {
    if timeout > 43_200 {
        return Err(invalid_param(
            "VisibilityTimeout",
            timeout,
            "Must be between 0 and 43200.",
        ));
    }
    let receipt = Receipt::decode(handle)?;
    if receipt.queue != row {
        return Err(SqsError::ReceiptHandleIsInvalid(handle.to_owned()));
    }
    let first: Option<Option<i64>> = tx
        .query_row(
            "SELECT first_receive FROM messages
             WHERE seq = ?1 AND queue = ?2 AND receipt = ?3 AND visible > ?4",
            params![receipt.seq, row, receipt.nonce, now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(first) = first else {
        return Err(SqsError::MessageNotInflight);
    };
    let until = now + i64::from(timeout) * 1000;
    if until - first.unwrap_or(now) > MAX_INVISIBLE_MS {
        return Err(invalid_param(
            "VisibilityTimeout",
            timeout,
            "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
        ));
    }
    tx.execute(
        "UPDATE messages SET visible = ?1 WHERE seq = ?2",
        params![until, receipt.seq],
    )?;
    Ok(())
}

/// A message row ready to be received.
struct Ready {
    seq: i64,
    message_id: String,
    payload: Vec<u8>,
    md5_body: String,
    sender: String,
    sent: i64,
    receives: i64,
    first_receive: Option<i64>,
}

fn ready(tx: &Transaction<'_>, row: i64, now: i64, n: usize) -> Result<Vec<Ready>, SqsError> {
    let mut st = tx.prepare_cached(
        "SELECT seq, message_id, payload, md5_body, sender, sent, receives, first_receive
         FROM messages WHERE queue = ?1 AND visible <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = st.query_map(params![row, now, n as i64], |r| {
        Ok(Ready {
            seq: r.get(0)?,
            message_id: r.get(1)?,
            payload: r.get(2)?,
            md5_body: r.get(3)?,
            sender: r.get(4)?,
            sent: r.get(5)?,
            receives: r.get(6)?,
            first_receive: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Drops the queue's messages past its retention period; returns how many.
fn expire_before(
    tx: &Transaction<'_>,
    row: i64,
    now: i64,
    attributes: &QueueAttributes,
) -> Result<u64, SqsError> {
    let cutoff = now - i64::from(attributes.message_retention_period) * 1000;
    let n = tx.execute(
        "DELETE FROM messages WHERE queue = ?1 AND sent < ?2",
        params![row, cutoff],
    )?;
    Ok(n as u64)
}

/// The size SQS counts: the body and every attribute's name, type and value.
fn message_size(m: &SendMessage) -> usize {
    m.body.len() + m.attributes.iter().map(|(n, a)| a.size(n)).sum::<usize>()
}

fn check_tags(n: usize) -> Result<(), SqsError> {
    if n > MAX_TAGS {
        return Err(SqsError::OverLimit(format!(
            "a queue has at most {MAX_TAGS} tags; this would make {n}"
        )));
    }
    Ok(())
}

/// A redrive policy must name an existing queue of the same account and region.
fn check_redrive_target(
    conn: &Connection,
    id: &QueueId,
    attrs: &QueueAttributes,
) -> Result<(), SqsError> {
    let Some(r) = &attrs.redrive_policy else {
        return Ok(());
    };
    let t = &r.dead_letter_target;
    let same_place = t.account == id.account && t.region == id.region && t.name != id.name;
    if !same_place || load(conn, t)?.is_none() {
        return Err(invalid_param(
            "RedrivePolicy",
            t.arn(),
            "Dead letter target does not exist.",
        ));
    }
    Ok(())
}

fn load(conn: &Connection, id: &QueueId) -> Result<Option<(i64, Queue)>, SqsError> {
    let row = conn
        .query_row(
            "SELECT id, attributes, tags, created, modified FROM queues
             WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![id.account, id.region, id.name],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((row, attrs, tags, created, modified)) = row else {
        return Ok(None);
    };
    Ok(Some((
        row,
        Queue {
            id: id.clone(),
            attributes: from_json(&attrs)?,
            tags: from_json(&tags)?,
            created_ms: created,
            modified_ms: modified,
        },
    )))
}

fn require(conn: &Connection, id: &QueueId) -> Result<(i64, Queue), SqsError> {
    load(conn, id)?.ok_or(SqsError::QueueDoesNotExist)
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serializing these maps and plain structs cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, SqsError> {
    serde_json::from_str(s).map_err(|e| SqsError::Storage(format!("corrupt queue row: {e}")))
}
