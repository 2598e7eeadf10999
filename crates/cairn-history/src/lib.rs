//! The event history index behind CloudTrail's `LookupEvents`: the last 90 days of management
//! events (and Insights events) per account and Region, searchable by one of eight lookup
//! attributes and a time window, newest first, in pages.
//!
//! # Storage
//!
//! One SQLite file (WAL). Each record is stored once, compressed with a preset DEFLATE
//! dictionary ([`HistoryOptions::compress`]):
//!
//! ```text
//! scopes(id, account, region)                          -- (account, region) -> small int
//! events(seq PRIMARY KEY, scope, cat, t, rec)          -- seq = journal sequence = rowid
//!   INDEX events_by_time(scope, cat, t)                -- + rowid: (t, seq) order per scope
//! attrs(k, v, scope, cat, t, seq) WITHOUT ROWID,       -- one row per (attribute, value)
//!   PRIMARY KEY(k, v, scope, cat, t, seq)              -- the table is its covering index
//! ```
//!
//! With [`HistoryOptions::keys`] the file holds no event text: `rec` is sealed (AES-256-GCM,
//! `seq` as associated data) and `v` is a keyed hash of the value (HMAC-SHA256), so equality
//! lookups work unchanged while usernames, event names, resource names and access keys are not
//! readable from the file; `t`, `seq`, account and Region stay plain (see [`HistoryKeys`]).
//!
//! A lookup with an attribute is one backwards range scan of `attrs` (`k, v, scope, cat`
//! fixed, `t` bounded), joined to `events` by `seq` for the 1–51 records of the page; a
//! lookup without one is a backwards range scan of `events_by_time`. Neither sorts.
//!
//! # Guarantees
//!
//! - **Order**: newest `eventTime` first; equal times by journal sequence, highest first.
//! - **Window**: a lookup at `now` returns only events with `now - retention ≤ eventTime ≤ now`
//!   (intersected with StartTime/EndTime, both inclusive), whether or not [`expire`] ran.
//! - **Idempotent ingest**: [`index_batch`] is one transaction; a `seq` already indexed is
//!   skipped, so replaying a journal range is a no-op.
//! - **Stable pages**: a NextToken is a keyset cursor `(eventTime, seq)` plus the highest
//!   `seq` at the first page. Later pages continue exactly after the last event returned and
//!   show the index as of the first page: events ingested meanwhile (newer or older) do not
//!   shift or join the walk; events expired meanwhile drop out.
//! - **Tokens** are authenticated (HMAC with a random per-index key) over the request
//!   parameters (all but MaxResults and NextToken): altered tokens, tokens of another index
//!   and tokens reused with other parameters are `InvalidNextTokenException`.
//! - Which records are kept and how Username/Resources are derived: [`extract`].
//!
//! # Example
//!
//! ```
//! use cairn_history::{AttributeKey, HistoryIndex, HistoryOptions, IndexedEvent, LookupRequest};
//! use time::macros::datetime;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut index = HistoryIndex::open(dir.path().join("history.db"), HistoryOptions::default()).unwrap();
//! let raw = br#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice"},
//!   "eventTime":"2025-03-04T05:12:44Z","eventSource":"cloudtrail.amazonaws.com",
//!   "eventName":"StopLogging","eventID":"6b0f2a9e","readOnly":false,"eventCategory":"Management"}"#;
//! let event = IndexedEvent {
//!     seq: 1,
//!     account: "111122223333",
//!     region: "us-east-2",
//!     event_time: datetime!(2025-03-04 05:12:44 UTC),
//!     event_id: "6b0f2a9e",
//!     raw,
//! };
//! index.index_batch(&[event]).unwrap();
//! let page = index
//!     .lookup_at(
//!         &LookupRequest {
//!             account: "111122223333".into(),
//!             region: "us-east-2".into(),
//!             attribute: Some((AttributeKey::Username, "alice".into())),
//!             ..Default::default()
//!         },
//!         datetime!(2025-03-05 00:00 UTC),
//!     )
//!     .unwrap();
//! assert_eq!(page.events[0].event_name.as_deref(), Some("StopLogging"));
//! assert_eq!(page.events[0].read_only.as_deref(), Some("false"));
//! assert!(page.next_token.is_none());
//! ```
//!
//! [`expire`]: HistoryIndex::expire
//! [`index_batch`]: HistoryIndex::index_batch

mod codec;
mod error;
pub mod extract;
mod request;
mod seal;
mod token;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

pub use error::{BoxError, ErrorClass, HistoryError, Result};
pub use extract::{Category, EventSummary, ResourceRef};
pub use request::{
    AttributeKey, EventCategory, LookupEvent, LookupRequest, LookupResponse, MAX_RESULTS,
    MAX_VALUE_LEN,
};
pub use seal::HistoryKeys;

use codec::{Decoder, Encoder};
use request::{from_ms, to_ms};
use seal::TAG_SEALED;
use token::Cursor;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scopes (
  id INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  UNIQUE (account, region)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  scope INTEGER NOT NULL,
  cat INTEGER NOT NULL,
  t INTEGER NOT NULL,
  rec BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (scope, cat, t);
CREATE TABLE IF NOT EXISTS attrs (
  k INTEGER NOT NULL,
  v TEXT NOT NULL,
  scope INTEGER NOT NULL,
  cat INTEGER NOT NULL,
  t INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (k, v, scope, cat, t, seq)
) WITHOUT ROWID;
";

const SQL_PAGE_ALL: &str = "SELECT seq, t, rec FROM events
 WHERE scope = ?1 AND cat = ?2 AND t >= ?3 AND t <= ?4 AND (t < ?4 OR seq < ?5) AND seq <= ?6
 ORDER BY t DESC, seq DESC LIMIT ?7";

const SQL_PAGE_ATTR: &str =
    "SELECT e.seq, e.t, e.rec FROM attrs AS a CROSS JOIN events AS e ON e.seq = a.seq
 WHERE a.k = ?1 AND a.v = ?2 AND a.scope = ?3 AND a.cat = ?4
   AND a.t >= ?5 AND a.t <= ?6 AND (a.t < ?6 OR a.seq < ?7) AND a.seq <= ?8
 ORDER BY a.t DESC, a.seq DESC LIMIT ?9";

/// Options of [`HistoryIndex::open`].
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// How far back lookups reach and [`HistoryIndex::expire`] keeps. Default 90 days.
    pub retention: Duration,
    /// Store records DEFLATE-compressed with a preset dictionary (default) or plain.
    pub compress: bool,
    /// DEFLATE level 1–9 (default 6).
    pub compression_level: u32,
    /// Events deleted per transaction by [`HistoryIndex::expire`] (default 5,000).
    pub expire_batch: usize,
    /// `synchronous=FULL` (default): a committed batch survives power loss, so a journal
    /// cursor committed after [`HistoryIndex::index_batch`] never skips events. `false`
    /// uses `NORMAL` (survives process crashes only).
    pub durable: bool,
    /// SQLite page cache per connection, MiB (default 64).
    pub cache_mib: u32,
    /// Encrypt at rest (default none): records sealed, attribute values stored as keyed
    /// hashes, token key derived (see [`HistoryKeys`]). Opening a plaintext index with keys
    /// encrypts it in place (one transaction, then `VACUUM` so no plaintext page remains);
    /// an encrypted index cannot be opened without its keys or with other keys.
    pub keys: Option<HistoryKeys>,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        Self {
            retention: Duration::days(90),
            compress: true,
            compression_level: 6,
            expire_batch: 5_000,
            durable: true,
            cache_mib: 64,
            keys: None,
        }
    }
}

/// One journal entry offered to the index.
#[derive(Debug, Clone, Copy)]
pub struct IndexedEvent<'a> {
    /// Journal sequence: unique, the idempotency key. At most `i64::MAX - 1`.
    pub seq: u64,
    /// Account whose history receives the event.
    pub account: &'a str,
    /// Region whose history receives the event.
    pub region: &'a str,
    /// The record's `eventTime`.
    pub event_time: OffsetDateTime,
    /// The record's `eventID`, as the journal knows it. The index reads `EventId` from the
    /// record itself (so that lookups and responses agree); this is for the caller's logs.
    pub event_id: &'a str,
    /// The record as compact JSON; returned verbatim as `CloudTrailEvent`.
    pub raw: &'a [u8],
}

/// What [`HistoryIndex::index_batch`] did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Newly indexed events.
    pub indexed: usize,
    /// Events whose `seq` was already indexed (replay).
    pub duplicates: usize,
    /// Records event history does not keep (data, network activity events…).
    pub not_kept: usize,
    /// Entries skipped because `raw` is not a JSON object or `seq` is out of range.
    pub invalid: usize,
}

/// Size of the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Events stored.
    pub events: u64,
    /// Attribute rows stored.
    pub attribute_rows: u64,
    /// Bytes of the database file (pages in use and free), excluding the WAL.
    pub file_bytes: u64,
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> HistoryError {
    move |e| HistoryError::internal(what, e)
}

/// Query planner stability: the page queries have one right plan (checked by a test), and
/// with STAT4 compiled in SQLite would otherwise re-prepare them on every new binding.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
    .map_err(db("open"))
}

/// Brings the file to the current schema with [`cairn_core::migrate::migrate`]. Step 1 is the
/// schema of the files made before the runner (which left `user_version` at 0 and keep the
/// version in `meta.schema`): its statements are idempotent, so on such a file it changes
/// nothing but `user_version`. Never edit a step: add one.
fn migrate(conn: &Connection) -> Result<()> {
    let step1 = format!("{SCHEMA}\nINSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1);");
    cairn_core::migrate::migrate(conn, &[&step1]).map_err(|e| match e {
        cairn_core::migrate::MigrateError::Sqlite(e) => db("open")(e),
        e => HistoryError::internal("open", e),
    })?;
    Ok(())
}

fn configure(conn: &Connection, options: &HistoryOptions) -> Result<()> {
    stable_plans(conn)?;
    let sync = if options.durable { "FULL" } else { "NORMAL" };
    let kib = i64::from(options.cache_mib) * 1024;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA cache_size=-{kib};
         PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=5000;"
    ))
    .map_err(db("open"))
}

/// The read side: lookups over one connection. See [`HistoryIndex::reader`].
pub struct HistoryReader {
    conn: Connection,
    key: Vec<u8>,
    retention_ms: i64,
    keys: Option<HistoryKeys>,
}

/// The event history index: ingest, lookup, expiry over one SQLite connection.
pub struct HistoryIndex {
    path: PathBuf,
    options: HistoryOptions,
    scopes: HashMap<(String, String), i64>,
    encoder: Encoder,
    reader: HistoryReader,
}

impl std::fmt::Debug for HistoryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryIndex")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for HistoryReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryReader").finish_non_exhaustive()
    }
}

fn retention_ms(options: &HistoryOptions) -> i64 {
    i64::try_from(options.retention.whole_milliseconds()).unwrap_or(i64::MAX)
}

impl HistoryIndex {
    /// Open or create the index at `path`.
    pub fn open(path: impl AsRef<Path>, options: HistoryOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(db("open"))?;
        configure(&conn, &options)?;
        migrate(&conn)?;
        let version: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db("open"))?;
        match version {
            Some(SCHEMA_VERSION) => {}
            other => {
                let other = other.unwrap_or_default();
                return Err(HistoryError::internal(
                    "open",
                    format!(
                        "index schema version {other} is not supported (expected {SCHEMA_VERSION})"
                    ),
                ));
            }
        }
        let mut conn = conn;
        let check = meta(&conn, "key_check")?;
        let key = match (&options.keys, check) {
            (Some(keys), Some(c)) if c == keys.key_check() => keys.token_key(),
            (Some(_), Some(_)) => {
                return Err(HistoryError::internal(
                    "open",
                    "the index was encrypted under another key",
                ));
            }
            (Some(keys), None) => {
                seal_in_place(&mut conn, keys)?;
                keys.token_key()
            }
            (None, Some(_)) => {
                return Err(HistoryError::internal(
                    "open",
                    "the index is encrypted: open it with its keys",
                ));
            }
            (None, None) => plaintext_token_key(&conn)?,
        };
        let scopes = {
            let mut stmt = conn
                .prepare("SELECT id, account, region FROM scopes")
                .map_err(db("open"))?;
            let rows = stmt
                .query_map([], |r| Ok(((r.get(1)?, r.get(2)?), r.get(0)?)))
                .map_err(db("open"))?;
            rows.collect::<rusqlite::Result<HashMap<_, _>>>()
                .map_err(db("open"))?
        };
        let encoder = Encoder::new(options.compress, options.compression_level.clamp(1, 9));
        Ok(Self {
            reader: HistoryReader {
                conn,
                key,
                retention_ms: retention_ms(&options),
                keys: options.keys.clone(),
            },
            path,
            options,
            scopes,
            encoder,
        })
    }

    /// A second, read-only connection to the same file for lookups concurrent with ingest
    /// (WAL readers never block the writer). Tokens are interchangeable with this index's.
    pub fn reader(&self) -> Result<HistoryReader> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db("open"))?;
        let kib = i64::from(self.options.cache_mib) * 1024;
        conn.execute_batch(&format!(
            "PRAGMA cache_size=-{kib}; PRAGMA busy_timeout=5000;"
        ))
        .map_err(db("open"))?;
        stable_plans(&conn)?;
        Ok(HistoryReader {
            conn,
            key: self.reader.key.clone(),
            retention_ms: self.reader.retention_ms,
            keys: self.reader.keys.clone(),
        })
    }

    /// The options the index was opened with.
    pub fn options(&self) -> &HistoryOptions {
        &self.options
    }

    fn scope_id(
        conn: &Connection,
        cache: &mut HashMap<(String, String), i64>,
        account: &str,
        region: &str,
    ) -> Result<i64> {
        if let Some(id) = cache.get(&(account.to_owned(), region.to_owned())) {
            return Ok(*id);
        }
        conn.execute(
            "INSERT OR IGNORE INTO scopes (account, region) VALUES (?1, ?2)",
            [account, region],
        )
        .map_err(db("index"))?;
        let id: i64 = conn
            .query_row(
                "SELECT id FROM scopes WHERE account = ?1 AND region = ?2",
                [account, region],
                |r| r.get(0),
            )
            .map_err(db("index"))?;
        cache.insert((account.to_owned(), region.to_owned()), id);
        Ok(id)
    }

    /// Index a batch in one transaction. The index reads the attributes from each record;
    /// records event history does not keep are counted and skipped, as are malformed
    /// entries (a poison record must not stop the journal consumer). Re-indexing a `seq`
    /// is a no-op. On error nothing of the batch is stored.
    pub fn index_batch(&mut self, events: &[IndexedEvent<'_>]) -> Result<BatchOutcome> {
        let mut outcome = BatchOutcome::default();
        let conn = &mut self.reader.conn;
        let tx = conn.transaction().map_err(db("index"))?;
        // Scope ids created by a rolled-back batch must not stay cached.
        let mut new_scopes = HashMap::new();
        {
            let mut insert_event = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events (seq, scope, cat, t, rec) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(db("index"))?;
            let mut insert_attr = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO attrs (k, v, scope, cat, t, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db("index"))?;
            let mut stored = Vec::new();
            let mut sealed = Vec::new();
            let keys = self.reader.keys.as_ref();
            for ev in events {
                let Ok(seq) = i64::try_from(ev.seq) else {
                    outcome.invalid += 1;
                    continue;
                };
                if seq == i64::MAX {
                    outcome.invalid += 1;
                    continue;
                }
                let Ok(record) = serde_json::from_slice::<Value>(ev.raw) else {
                    outcome.invalid += 1;
                    continue;
                };
                if !record.is_object() {
                    outcome.invalid += 1;
                    continue;
                }
                let Some(summary) = extract::summarize(&record) else {
                    outcome.not_kept += 1;
                    continue;
                };
                let key = (ev.account.to_owned(), ev.region.to_owned());
                let scope = match self.scopes.get(&key).or_else(|| new_scopes.get(&key)) {
                    Some(id) => *id,
                    None => {
                        let id = Self::scope_id(&tx, &mut new_scopes, ev.account, ev.region)?;
                        new_scopes.insert(key, id);
                        id
                    }
                };
                let cat = summary.category.as_i64();
                let t = to_ms(ev.event_time);
                self.encoder.encode(ev.raw, &mut stored)?;
                let rec = match keys {
                    Some(keys) => {
                        keys.seal(seq, &stored, &mut sealed)?;
                        &sealed
                    }
                    None => &stored,
                };
                let added = insert_event
                    .execute(params![seq, scope, cat, t, rec])
                    .map_err(db("index"))?;
                if added == 0 {
                    outcome.duplicates += 1;
                    continue;
                }
                for (k, v) in summary.attributes() {
                    insert_attr
                        .execute(params![
                            k.id(),
                            stored_value(keys, k, v),
                            scope,
                            cat,
                            t,
                            seq
                        ])
                        .map_err(db("index"))?;
                }
                outcome.indexed += 1;
            }
        }
        tx.commit().map_err(db("index"))?;
        self.scopes.extend(new_scopes);
        Ok(outcome)
    }

    /// [`HistoryReader::lookup`] on this index's connection.
    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse> {
        self.reader.lookup(req)
    }

    /// [`HistoryReader::lookup_at`] on this index's connection.
    pub fn lookup_at(&self, req: &LookupRequest, now: OffsetDateTime) -> Result<LookupResponse> {
        self.reader.lookup_at(req, now)
    }

    /// Delete events older than `now - retention`, in transactions of
    /// [`HistoryOptions::expire_batch`] events. Returns how many were deleted. Lookups
    /// already hide these events; this reclaims the space (SQLite reuses freed pages).
    pub fn expire(&mut self, now: OffsetDateTime) -> Result<u64> {
        let cutoff = to_ms(now).saturating_sub(self.reader.retention_ms);
        let batch = i64::try_from(self.options.expire_batch.max(1)).unwrap_or(5_000);
        let conn = &mut self.reader.conn;
        let groups: Vec<(i64, i64)> = {
            let mut stmt = conn
                .prepare("SELECT s.id, c.cat FROM scopes AS s, (SELECT 0 AS cat UNION ALL SELECT 1) AS c")
                .map_err(db("expire"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db("expire"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(db("expire"))?
        };
        let mut decoder = Decoder::new();
        let keys = self.reader.keys.clone();
        let mut deleted = 0u64;
        for (scope, cat) in groups {
            loop {
                let tx = conn.transaction().map_err(db("expire"))?;
                let n = {
                    let mut select = tx
                        .prepare_cached(
                            "SELECT seq, t, rec FROM events WHERE scope = ?1 AND cat = ?2 AND t < ?3
                             ORDER BY t LIMIT ?4",
                        )
                        .map_err(db("expire"))?;
                    let rows: Vec<(i64, i64, Vec<u8>)> = select
                        .query_map(params![scope, cat, cutoff, batch], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .map_err(db("expire"))?
                        .collect::<rusqlite::Result<_>>()
                        .map_err(db("expire"))?;
                    let mut del_event = tx
                        .prepare_cached("DELETE FROM events WHERE seq = ?1")
                        .map_err(db("expire"))?;
                    let mut del_attr = tx
                        .prepare_cached(
                            "DELETE FROM attrs WHERE k = ?1 AND v = ?2 AND scope = ?3 AND cat = ?4 AND t = ?5 AND seq = ?6",
                        )
                        .map_err(db("expire"))?;
                    for (seq, t, rec) in &rows {
                        // An undecodable row still goes; its attribute rows (if any) can no
                        // longer be found, but lookups join on events and never see them.
                        if let Some(summary) = decode_stored(keys.as_ref(), &mut decoder, *seq, rec)
                            .ok()
                            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
                            .and_then(|v| extract::summarize(&v))
                        {
                            for (k, v) in summary.attributes() {
                                let v = stored_value(keys.as_ref(), k, v);
                                del_attr
                                    .execute(params![k.id(), v, scope, cat, t, seq])
                                    .map_err(db("expire"))?;
                            }
                        }
                        del_event.execute([seq]).map_err(db("expire"))?;
                    }
                    rows.len()
                };
                tx.commit().map_err(db("expire"))?;
                deleted += n as u64;
                if (n as i64) < batch {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Counts and file size.
    pub fn stats(&self) -> Result<IndexStats> {
        let conn = &self.reader.conn;
        let q = |sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(db("stats"))
        };
        Ok(IndexStats {
            events: q("SELECT count(*) FROM events")?,
            attribute_rows: q("SELECT count(*) FROM attrs")?,
            file_bytes: q("PRAGMA page_count")? * q("PRAGMA page_size")?,
        })
    }

    /// Checkpoint and truncate the WAL (for size measurements and backups).
    pub fn checkpoint(&self) -> Result<()> {
        self.reader
            .conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db("checkpoint"))
    }

    /// The query plans of the two page queries (for tests and diagnostics).
    pub fn explain(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for sql in [SQL_PAGE_ALL, SQL_PAGE_ATTR] {
            let mut stmt = self
                .reader
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .map_err(db("explain"))?;
            let n = stmt.parameter_count();
            let args: Vec<i64> = vec![0; n];
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .map_err(db("explain"))?;
            let plan = rows
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db("explain"))?
                .join("; ");
            out.push(plan);
        }
        Ok(out)
    }
}

impl HistoryReader {
    /// LookupEvents at the current time. Validation errors are the AWS exceptions.
    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse> {
        self.lookup_at(req, OffsetDateTime::now_utc())
    }

    /// LookupEvents as of `now` (the retention window is `[now - retention, now]`).
    pub fn lookup_at(&self, req: &LookupRequest, now: OffsetDateTime) -> Result<LookupResponse> {
        let v = req.validate()?;
        let cursor = match &req.next_token {
            Some(t) => Some(token::decode(&self.key, &v.param_hash, t)?),
            None => None,
        };
        let now_ms = to_ms(now);
        let lower = v
            .start_ms
            .unwrap_or(i64::MIN)
            .max(now_ms.saturating_sub(self.retention_ms));
        let mut upper = v.end_ms.unwrap_or(i64::MAX).min(now_ms);
        let mut below_seq = i64::MAX;
        if let Some(c) = cursor
            && (c.time_ms, c.seq) < (upper, i64::MAX)
        {
            upper = c.time_ms;
            below_seq = c.seq;
        }
        let snapshot = match cursor {
            Some(c) => c.snapshot,
            None => self
                .conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
                .map_err(db("lookup"))?,
        };
        let scope: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM scopes WHERE account = ?1 AND region = ?2")
            .and_then(|mut s| {
                s.query_row([&req.account, &req.region], |r| r.get(0))
                    .optional()
            })
            .map_err(db("lookup"))?;
        let Some(scope) = scope.filter(|_| lower <= upper) else {
            return Ok(LookupResponse::default());
        };
        let cat = if v.insight {
            Category::Insight
        } else {
            Category::Management
        }
        .as_i64();
        let fetch = i64::try_from(v.limit + 1).unwrap_or(51);
        let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, i64, Vec<u8>)> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        };
        let rows: Vec<(i64, i64, Vec<u8>)> = match &v.attribute {
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(SQL_PAGE_ALL)
                    .map_err(db("lookup"))?;
                stmt.query_map(
                    params![scope, cat, lower, upper, below_seq, snapshot, fetch],
                    map,
                )
                .map_err(db("lookup"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(db("lookup"))?
            }
            Some((key, value)) => {
                let value = stored_value(self.keys.as_ref(), *key, value);
                let mut stmt = self
                    .conn
                    .prepare_cached(SQL_PAGE_ATTR)
                    .map_err(db("lookup"))?;
                stmt.query_map(
                    params![
                        key.id(),
                        value,
                        scope,
                        cat,
                        lower,
                        upper,
                        below_seq,
                        snapshot,
                        fetch
                    ],
                    map,
                )
                .map_err(db("lookup"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(db("lookup"))?
            }
        };
        let more = rows.len() > v.limit;
        let mut decoder = Decoder::new();
        let mut events = Vec::with_capacity(rows.len().min(v.limit));
        let mut last = None;
        for (seq, t, rec) in rows.into_iter().take(v.limit) {
            let raw = decode_stored(self.keys.as_ref(), &mut decoder, seq, &rec)?;
            events.push(to_lookup_event(raw, t)?);
            last = Some((t, seq));
        }
        let next_token = match (more, last) {
            (true, Some((time_ms, seq))) => Some(token::encode(
                &self.key,
                &v.param_hash,
                Cursor {
                    time_ms,
                    seq,
                    snapshot,
                },
            )?),
            _ => None,
        };
        Ok(LookupResponse { events, next_token })
    }
}

fn to_lookup_event(raw: Vec<u8>, t: i64) -> Result<LookupEvent> {
    let text = String::from_utf8(raw).map_err(|e| HistoryError::internal("decode", e))?;
    let record: Value =
        serde_json::from_str(&text).map_err(|e| HistoryError::internal("decode", e))?;
    let summary = extract::summarize(&record)
        .ok_or_else(|| HistoryError::internal("decode", "stored record is no longer kept"))?;
    Ok(LookupEvent {
        event_id: summary.event_id,
        event_name: summary.event_name,
        read_only: summary.read_only.map(str::to_owned),
        access_key_id: summary.access_key_id,
        event_time: from_ms(t),
        event_source: summary.event_source,
        username: summary.username,
        resources: summary
            .resources
            .into_iter()
            .map(|r| (r.resource_type, r.resource_name))
            .collect(),
        cloud_trail_event: text,
    })
}

/// One value of the `meta` table.
fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(db("open"))
}

/// The random NextToken key of a plaintext index (created on first open).
fn plaintext_token_key(conn: &Connection) -> Result<Vec<u8>> {
    if let Some(k) = meta(conn, "token_key")? {
        return Ok(k);
    }
    let mut k = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('token_key', ?1)",
        [&k],
    )
    .map_err(db("open"))?;
    Ok(k)
}

/// How attribute `k`'s value `v` is stored: itself, or its keyed hash.
fn stored_value(keys: Option<&HistoryKeys>, k: AttributeKey, v: &str) -> String {
    match keys {
        Some(keys) => keys.attribute(k.id(), v),
        None => v.to_owned(),
    }
}

/// The record JSON of a stored row: sealed rows need the keys; plaintext rows (an index
/// without keys) are decoded as they are.
fn decode_stored(
    keys: Option<&HistoryKeys>,
    decoder: &mut Decoder,
    seq: i64,
    stored: &[u8],
) -> Result<Vec<u8>> {
    match (stored.first(), keys) {
        (Some(&TAG_SEALED), Some(keys)) => decoder.decode(&keys.open(seq, stored)?),
        (Some(&TAG_SEALED), None) => Err(HistoryError::internal(
            "decode",
            "stored record is encrypted and the index has no key",
        )),
        _ => decoder.decode(stored),
    }
}

/// Rows read per step when encrypting a plaintext index.
const SEAL_CHUNK: i64 = 2_000;

/// Encrypts a plaintext index in place: every record sealed, every attribute value replaced
/// by its keyed hash, the random token key dropped, the key check stored; one transaction,
/// then `VACUUM` and a WAL truncation so that no page of the file keeps the plaintext.
fn seal_in_place(conn: &mut Connection, keys: &HistoryKeys) -> Result<()> {
    let err = db("encrypt");
    let tx = conn.transaction().map_err(db("encrypt"))?;
    {
        let mut select = tx
            .prepare("SELECT seq, rec FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(db("encrypt"))?;
        let mut update = tx
            .prepare("UPDATE events SET rec = ?2 WHERE seq = ?1")
            .map_err(db("encrypt"))?;
        let mut after = i64::MIN;
        let mut sealed = Vec::new();
        loop {
            let rows: Vec<(i64, Vec<u8>)> = select
                .query_map(params![after, SEAL_CHUNK], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db("encrypt"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(db("encrypt"))?;
            let Some((last, _)) = rows.last() else { break };
            after = *last;
            for (seq, rec) in &rows {
                if rec.first() == Some(&TAG_SEALED) {
                    continue;
                }
                keys.seal(*seq, rec, &mut sealed)?;
                update
                    .execute(params![seq, sealed])
                    .map_err(db("encrypt"))?;
            }
        }
        tx.execute_batch(
            "CREATE TABLE attrs_sealed (
               k INTEGER NOT NULL, v TEXT NOT NULL, scope INTEGER NOT NULL,
               cat INTEGER NOT NULL, t INTEGER NOT NULL, seq INTEGER NOT NULL,
               PRIMARY KEY (k, v, scope, cat, t, seq)
             ) WITHOUT ROWID;",
        )
        .map_err(db("encrypt"))?;
        let mut rows = tx
            .prepare("SELECT k, v, scope, cat, t, seq FROM attrs")
            .map_err(db("encrypt"))?;
        let mut insert = tx
            .prepare(
                "INSERT OR IGNORE INTO attrs_sealed (k, v, scope, cat, t, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db("encrypt"))?;
        let mut q = rows.query([]).map_err(db("encrypt"))?;
        while let Some(r) = q.next().map_err(db("encrypt"))? {
            let k: i64 = r.get(0).map_err(db("encrypt"))?;
            let v: String = r.get(1).map_err(db("encrypt"))?;
            let (scope, cat, t, seq): (i64, i64, i64, i64) = (
                r.get(2).map_err(db("encrypt"))?,
                r.get(3).map_err(db("encrypt"))?,
                r.get(4).map_err(db("encrypt"))?,
                r.get(5).map_err(db("encrypt"))?,
            );
            insert
                .execute(params![k, keys.attribute(k, &v), scope, cat, t, seq])
                .map_err(db("encrypt"))?;
        }
    }
    tx.execute_batch(
        "DROP TABLE attrs; ALTER TABLE attrs_sealed RENAME TO attrs;
         DELETE FROM meta WHERE key = 'token_key';",
    )
    .map_err(db("encrypt"))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('key_check', ?1)",
        [keys.key_check()],
    )
    .map_err(db("encrypt"))?;
    tx.commit().map_err(err)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(db("encrypt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        cairn_core::migrate::schema(conn).unwrap()
    }

    #[test]
    fn page_queries_are_index_range_scans_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let index = HistoryIndex::open(dir.path().join("h.db"), HistoryOptions::default()).unwrap();
        let plans = index.explain().unwrap();
        for plan in &plans {
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            assert!(!plan.contains("SCAN"), "{plan}");
        }
        assert!(plans[0].contains("events_by_time"), "{}", plans[0]);
        assert!(
            plans[1].contains("SEARCH a USING PRIMARY KEY"),
            "{}",
            plans[1]
        );
        assert!(
            plans[1].contains("SEARCH e USING INTEGER PRIMARY KEY"),
            "{}",
            plans[1]
        );
    }

    /// An index file as `open` made it before the migration runner (`user_version` 0).
    fn make_as_before(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
            [SCHEMA_VERSION],
        )
        .unwrap();
        conn
    }

    #[test]
    fn an_index_made_before_the_migration_runner_opens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let old = make_as_before(&path);
        old.execute(
            "INSERT INTO meta (key, value) VALUES ('probe', x'0102')",
            [],
        )
        .unwrap();
        let before = schema(&old);
        drop(old);
        let index = HistoryIndex::open(&path, HistoryOptions::default()).unwrap();
        drop(index);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(schema(&conn), before);
        assert_eq!(meta(&conn, "probe").unwrap(), Some(vec![1, 2]));
        assert_eq!(cairn_core::migrate::version(&conn).unwrap(), 1);
        let version: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_new_index_gets_the_schema_of_before() {
        let dir = tempfile::tempdir().unwrap();
        let old = make_as_before(&dir.path().join("old.db"));
        drop(HistoryIndex::open(dir.path().join("new.db"), HistoryOptions::default()).unwrap());
        let new = Connection::open(dir.path().join("new.db")).unwrap();
        assert_eq!(schema(&new), schema(&old));
    }

    #[test]
    fn an_index_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let old = make_as_before(&path);
        old.execute("UPDATE meta SET value = 2 WHERE key = 'schema'", [])
            .unwrap();
        drop(old);
        assert!(HistoryIndex::open(&path, HistoryOptions::default()).is_err());
    }
}
