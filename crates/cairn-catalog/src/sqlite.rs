//! The SQLite catalog, the embedded implementation of the store traits (`crate::store`):
//! trails, buckets and credentials, delivery batches, digest chains, signing keys.
//!
//! One file, `catalog.sqlite`, in WAL mode with `synchronous = FULL`: a control-plane change is
//! durable when its call returns. The server keeps trails in memory and writes through; other
//! processes (`cairn bucket create`) may write concurrently, which SQLite serialises.
//! Secrets are stored sealed under the master key (`secrets.rs`), never in plain text.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{Bucket, TRAIL_VERSION, Trail};
use crate::store::{BatchStore, KeyStore, TrailStore};

/// Catalog failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// SQLite failed.
    #[error("catalog database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document does not parse.
    #[error("catalog record {key} is corrupt: {message}")]
    Corrupt {
        /// Row key.
        key: String,
        /// Parser message.
        message: String,
    },
    /// The row already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The catalog was written by a newer Cairn.
    #[error("catalog schema version {found} is newer than this binary supports ({supported})")]
    TooNew {
        /// Version on disk.
        found: i64,
        /// Version this binary knows.
        supported: i64,
    },
}

/// A catalog failure is the server's, never the caller's: the API answers `InternalFailure`
/// and logs the detail.
impl cairn_core::AwsError for CatalogError {
    fn code(&self) -> &'static str {
        "InternalFailure"
    }

    fn is_internal(&self) -> bool {
        true
    }
}

/// The catalog schema, one step per version (`PRAGMA user_version`), applied by
/// [`cairn_core::migrate::migrate`]. Append only: a step, once released, never changes. The
/// statements keep the indentation they were first released with: SQLite stores their text in
/// `sqlite_master`, and a new file must match one migrated from an older release.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS trails (
                     account_id TEXT NOT NULL,
                     home_region TEXT NOT NULL,
                     name TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     PRIMARY KEY (account_id, home_region, name));
                 CREATE TABLE IF NOT EXISTS buckets (
                     name TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     created INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS credentials (
                     access_key_id TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     principal TEXT NOT NULL,
                     sealed_secret BLOB NOT NULL,
                     session_token TEXT,
                     expires_at INTEGER,
                     status TEXT NOT NULL,
                     created INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS delivery_batches (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     trail_arn TEXT NOT NULL,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     bucket TEXT NOT NULL,
                     object_key TEXT NOT NULL,
                     first_seq INTEGER NOT NULL,
                     last_seq INTEGER NOT NULL,
                     seqs BLOB NOT NULL,
                     state TEXT NOT NULL,
                     created INTEGER NOT NULL,
                     delivered INTEGER,
                     sha256 TEXT,
                     oldest_event_time INTEGER,
                     newest_event_time INTEGER,
                     record_count INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS delivery_batches_partition
                     ON delivery_batches (trail_arn, account_id, region, last_seq);
                 CREATE INDEX IF NOT EXISTS delivery_batches_state
                     ON delivery_batches (state, id);",
    "CREATE TABLE IF NOT EXISTS channels (
                     arn TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     doc TEXT NOT NULL);",
    "CREATE TABLE IF NOT EXISTS signing_keys (
                     region TEXT NOT NULL,
                     fingerprint TEXT NOT NULL,
                     public_der BLOB NOT NULL,
                     sealed_private BLOB NOT NULL,
                     valid_from INTEGER NOT NULL,
                     valid_to INTEGER NOT NULL,
                     PRIMARY KEY (region, fingerprint));
                 CREATE TABLE IF NOT EXISTS digest_chains (
                     trail_arn TEXT NOT NULL,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     pending_gzip BLOB,
                     PRIMARY KEY (trail_arn, account_id, region));
                 CREATE TABLE IF NOT EXISTS digest_members (
                     batch_id INTEGER PRIMARY KEY,
                     digest_key TEXT NOT NULL);",
    // 5. IAM (`iam/store.rs`): users, roles and customer-managed policies as versioned
    //    JSON documents; access keys live in `credentials`.
    "CREATE TABLE IF NOT EXISTS iam_entities (
                     account_id TEXT NOT NULL,
                     kind TEXT NOT NULL,
                     name TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     PRIMARY KEY (account_id, kind, name));",
    // 6. Virtual MFA devices (mfa.rs): the TOTP secret sealed under the master key;
    //    `last_step` is the newest accepted time step, so a code is never reused.
    "CREATE TABLE IF NOT EXISTS mfa_devices (
                     account_id TEXT NOT NULL,
                     serial TEXT NOT NULL,
                     sealed_secret BLOB NOT NULL,
                     enabled INTEGER NOT NULL DEFAULT 0,
                     created INTEGER NOT NULL,
                     last_step INTEGER NOT NULL DEFAULT 0,
                     PRIMARY KEY (account_id, serial));",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = SCHEMA.len() as i64;

/// The catalog handle. Cheap operations; callers on the async runtime use `spawn_blocking`
/// for writes.
pub struct Catalog {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl Catalog {
    /// Opens (creating and migrating) `<data_dir>/catalog.sqlite`.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogError> {
        let conn = Connection::open(data_dir.join("catalog.sqlite"))?;
        cairn_core::migrate::configure(&conn)?;
        let version = cairn_core::migrate::migrate(&conn, SCHEMA).map_err(|e| match e {
            cairn_core::migrate::MigrateError::TooNew { found, supported } => {
                CatalogError::TooNew { found, supported }
            }
            cairn_core::migrate::MigrateError::Sqlite(e) => CatalogError::Sqlite(e),
        })?;
        debug_assert_eq!(version, SCHEMA_VERSION);
        // Not a schema step: created when missing, whatever the version (the router's
        // configuration history, see `ControlPlane::history`).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS trail_versions (
                 from_seq INTEGER PRIMARY KEY,
                 trails TEXT NOT NULL);",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The catalog connection, locked (for modules owning their own tables in the catalog
    /// file, e.g. the server's IAM store).
    pub fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (its own transactions), so
        // a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the catalog connection (for modules owning their own tables, e.g. the
    /// server's `mfa`).
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CatalogError> {
        Ok(f(&mut self.conn())?)
    }

    /// Every row `sql` returns for `params`, mapped by `f`.
    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, CatalogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params, f)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a bucket row; returns whether it existed.
    pub fn delete_bucket(&self, name: &str) -> Result<bool, CatalogError> {
        let n = self
            .conn()
            .execute("DELETE FROM buckets WHERE name = ?1", params![name])?;
        Ok(n > 0)
    }

    /// Creates a bucket row; fails with `AlreadyExists` when the name is taken.
    pub fn create_bucket(&self, b: &Bucket) -> Result<(), CatalogError> {
        let n = self.conn().execute(
            "INSERT INTO buckets (name, account_id, region, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            params![b.name, b.account_id, b.region, b.created],
        )?;
        if n == 0 {
            return Err(CatalogError::AlreadyExists(format!("bucket {}", b.name)));
        }
        Ok(())
    }

    /// Looks a bucket up by name.
    pub fn bucket(&self, name: &str) -> Result<Option<Bucket>, CatalogError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, account_id, region, created FROM buckets WHERE name = ?1",
                params![name],
                row_to_bucket,
            )
            .optional()?)
    }

    /// All buckets, by name.
    pub fn buckets(&self) -> Result<Vec<Bucket>, CatalogError> {
        self.query_all(
            "SELECT name, account_id, region, created FROM buckets ORDER BY name",
            [],
            row_to_bucket,
        )
    }
}

/// A `buckets` row read as `name, account_id, region, created`.
fn row_to_bucket(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        account_id: r.get(1)?,
        region: r.get(2)?,
        created: r.get(3)?,
    })
}

/// `doc` read back as JSON; `Corrupt` naming row `key` when it does not parse.
fn from_doc<T: serde::de::DeserializeOwned>(key: &str, doc: &str) -> Result<T, CatalogError> {
    serde_json::from_str(doc).map_err(|e| CatalogError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// `value` as the JSON document stored in row `key`.
fn to_doc<T: serde::Serialize + ?Sized>(key: &str, value: &T) -> Result<String, CatalogError> {
    serde_json::to_string(value).map_err(|e| CatalogError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// The row key of the trail configuration version starting at `from_seq`.
fn version_key(from_seq: u64) -> String {
    format!("trail_versions/{from_seq}")
}

/// (trail ARN, account, region): one delivery partition.
pub type PartitionId = (String, String, String);

/// A sealed batch of a partition: the intent to store one log file, then its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// Row id.
    pub id: i64,
    /// Trail ARN.
    pub trail_arn: String,
    /// Account whose events the file holds.
    pub account_id: String,
    /// Region whose events the file holds.
    pub region: String,
    /// Destination bucket.
    pub bucket: String,
    /// Object key (fixed when the batch is sealed, so a replay writes the same key).
    pub object_key: String,
    /// First journal sequence number in the batch.
    pub first_seq: u64,
    /// Last journal sequence number in the batch.
    pub last_seq: u64,
    /// Every sequence number in the batch (varint deltas).
    pub seqs: Vec<u8>,
    /// `pending` or `done`.
    pub state: String,
    /// Number of records.
    pub record_count: u64,
    /// Delivery time (unix seconds) once done.
    pub delivered: Option<i64>,
    /// SHA-256 hex of the uncompressed file once done.
    pub sha256: Option<String>,
    /// Oldest eventTime (unix seconds) once done.
    pub oldest_event_time: Option<i64>,
    /// Newest eventTime (unix seconds) once done.
    pub newest_event_time: Option<i64>,
}

const BATCH_COLUMNS: &str = "id, trail_arn, account_id, region, bucket, object_key, first_seq, last_seq, seqs, state, record_count, delivered, sha256, oldest_event_time, newest_event_time";

fn row_to_batch(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok(BatchRow {
        id: r.get(0)?,
        trail_arn: r.get(1)?,
        account_id: r.get(2)?,
        region: r.get(3)?,
        bucket: r.get(4)?,
        object_key: r.get(5)?,
        first_seq: r.get::<_, i64>(6)? as u64,
        last_seq: r.get::<_, i64>(7)? as u64,
        seqs: r.get(8)?,
        state: r.get(9)?,
        record_count: r.get::<_, i64>(10)? as u64,
        delivered: r.get(11)?,
        sha256: r.get(12)?,
        oldest_event_time: r.get(13)?,
        newest_event_time: r.get(14)?,
    })
}

/// A digest signing key as stored: the public half in clear, the private half sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Region the key signs for.
    pub region: String,
    /// MD5 fingerprint (lowercase hex) of `public_der`.
    pub fingerprint: String,
    /// PKCS#1 `RSAPublicKey` DER.
    pub public_der: Vec<u8>,
    /// PKCS#8 private key sealed under the master key.
    pub sealed_private: Vec<u8>,
    /// Start of validity (unix seconds).
    pub valid_from: i64,
    /// End of validity (unix seconds).
    pub valid_to: i64,
}

fn row_to_signing_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKeyRow> {
    Ok(SigningKeyRow {
        region: r.get(0)?,
        fingerprint: r.get(1)?,
        public_der: r.get(2)?,
        sealed_private: r.get(3)?,
        valid_from: r.get(4)?,
        valid_to: r.get(5)?,
    })
}

/// A digest chain as stored: the writer's state document and the digest not yet uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChainRow {
    /// (trail ARN, account, region).
    pub partition: PartitionId,
    /// The chain state (JSON, owned by `pipeline::digest`).
    pub doc: String,
    /// The newest digest's gzip object while its upload is outstanding.
    pub pending_gzip: Option<Vec<u8>>,
}

impl TrailStore for Catalog {
    /// All trails.
    fn trails(&self) -> Result<Vec<Trail>, CatalogError> {
        let rows = self.query_all(
            "SELECT account_id, home_region, name, doc FROM trails",
            [],
            |r| {
                let (account, region, name): (String, String, String) =
                    (r.get(0)?, r.get(1)?, r.get(2)?);
                Ok((format!("{account}/{region}/{name}"), r.get::<_, String>(3)?))
            },
        )?;
        rows.into_iter()
            .map(|(key, doc)| {
                let t: Trail = from_doc(&key, &doc)?;
                if t.v != TRAIL_VERSION {
                    return Err(CatalogError::Corrupt {
                        key,
                        message: format!("unknown trail shape version {}", t.v),
                    });
                }
                Ok(t)
            })
            .collect()
    }

    /// Inserts or replaces a trail.
    fn put_trail(&self, t: &Trail) -> Result<(), CatalogError> {
        let doc = to_doc(&t.arn(), t)?;
        self.conn().execute(
            "INSERT INTO trails (account_id, home_region, name, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id, home_region, name) DO UPDATE SET doc = excluded.doc",
            params![t.account_id, t.home_region, t.name, doc],
        )?;
        Ok(())
    }

    /// Deletes a trail; returns whether it existed.
    fn delete_trail(&self, account: &str, region: &str, name: &str) -> Result<bool, CatalogError> {
        let n = self.conn().execute(
            "DELETE FROM trails WHERE account_id = ?1 AND home_region = ?2 AND name = ?3",
            params![account, region, name],
        )?;
        Ok(n > 0)
    }

    /// The stored trail configuration versions, ascending `from_seq`.
    fn trail_versions(&self) -> Result<Vec<(u64, Vec<Trail>)>, CatalogError> {
        let rows = self.query_all(
            "SELECT from_seq, trails FROM trail_versions ORDER BY from_seq",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        rows.into_iter()
            .map(|(from, doc)| {
                let from = from as u64;
                Ok((from, from_doc(&version_key(from), &doc)?))
            })
            .collect()
    }

    /// Stores the trail set in force from journal position `from_seq` on (replacing a version
    /// stored for the same position).
    fn put_trail_version(&self, from_seq: u64, trails: &[Trail]) -> Result<(), CatalogError> {
        let doc = to_doc(&version_key(from_seq), trails)?;
        self.conn().execute(
            "INSERT INTO trail_versions (from_seq, trails) VALUES (?1, ?2)
             ON CONFLICT (from_seq) DO UPDATE SET trails = excluded.trails",
            params![from_seq as i64, doc],
        )?;
        Ok(())
    }

    /// Deletes the trail configuration versions that start before `from_seq`.
    fn prune_trail_versions(&self, from_seq: u64) -> Result<usize, CatalogError> {
        Ok(self.conn().execute(
            "DELETE FROM trail_versions WHERE from_seq < ?1",
            params![from_seq as i64],
        )?)
    }

    /// Stores (inserts or replaces) a channel document.
    fn put_channel(
        &self,
        arn: &str,
        account: &str,
        region: &str,
        doc: &str,
    ) -> Result<(), CatalogError> {
        self.conn().execute(
            "INSERT INTO channels (arn, account_id, region, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (arn) DO UPDATE SET doc = excluded.doc",
            params![arn, account, region, doc],
        )?;
        Ok(())
    }

    /// Deletes a channel; returns whether it existed.
    fn delete_channel(&self, arn: &str) -> Result<bool, CatalogError> {
        Ok(self
            .conn()
            .execute("DELETE FROM channels WHERE arn = ?1", params![arn])?
            > 0)
    }

    /// Every channel document.
    fn channels(&self) -> Result<Vec<String>, CatalogError> {
        self.query_all("SELECT doc FROM channels ORDER BY arn", [], |r| r.get(0))
    }
}

impl BatchStore for Catalog {
    /// Records a sealed batch (state `pending`); returns its id.
    fn insert_batch(&self, b: &BatchRow, created: i64) -> Result<i64, CatalogError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO delivery_batches (trail_arn, account_id, region, bucket, object_key,
                 first_seq, last_seq, seqs, state, created, record_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10)",
            params![
                b.trail_arn,
                b.account_id,
                b.region,
                b.bucket,
                b.object_key,
                b.first_seq as i64,
                b.last_seq as i64,
                b.seqs,
                created,
                b.record_count as i64
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Marks a batch delivered.
    fn complete_batch(
        &self,
        id: i64,
        delivered: i64,
        sha256: &str,
        oldest: Option<i64>,
        newest: Option<i64>,
    ) -> Result<(), CatalogError> {
        self.conn().execute(
            "UPDATE delivery_batches SET state = 'done', delivered = ?2, sha256 = ?3,
                 oldest_event_time = ?4, newest_event_time = ?5 WHERE id = ?1",
            params![id, delivered, sha256, oldest, newest],
        )?;
        Ok(())
    }

    /// Batches not yet delivered, oldest first.
    fn pending_batches(&self) -> Result<Vec<BatchRow>, CatalogError> {
        self.query_all(
            &format!(
                "SELECT {BATCH_COLUMNS} FROM delivery_batches WHERE state = 'pending' ORDER BY id"
            ),
            [],
            row_to_batch,
        )
    }

    /// Per partition (trail ARN, account, region), the last journal sequence number already
    /// sealed into a batch.
    fn partition_watermarks(&self) -> Result<Vec<(PartitionId, u64)>, CatalogError> {
        self.query_all(
            "SELECT trail_arn, account_id, region, MAX(last_seq) FROM delivery_batches
             GROUP BY trail_arn, account_id, region",
            [],
            |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    r.get::<_, i64>(3)? as u64,
                ))
            },
        )
    }

    /// Unix time of the latest delivered batch of a partition (status after a restart).
    fn latest_delivery(&self, partition: &PartitionId) -> Result<Option<i64>, CatalogError> {
        Ok(self.conn().query_row(
            "SELECT MAX(delivered) FROM delivery_batches
             WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND state = 'done'",
            params![partition.0, partition.1, partition.2],
            |r| r.get(0),
        )?)
    }

    /// Delivered batches of one partition whose delivery time is in `[from, to)`.
    fn delivered_batches(
        &self,
        partition: &PartitionId,
        from: i64,
        to: i64,
    ) -> Result<Vec<BatchRow>, CatalogError> {
        self.query_all(
            &format!(
                "SELECT {BATCH_COLUMNS} FROM delivery_batches
             WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND state = 'done'
               AND delivered >= ?4 AND delivered < ?5 ORDER BY id"
            ),
            params![partition.0, partition.1, partition.2, from, to],
            row_to_batch,
        )
    }

    /// Batches of a partition still waiting for upload.
    fn pending_batch_count(&self, partition: &PartitionId) -> Result<i64, CatalogError> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM delivery_batches
             WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND state = 'pending'",
            params![partition.0, partition.1, partition.2],
            |r| r.get(0),
        )?)
    }

    /// The highest batch id of a partition (0 when none).
    fn max_batch_id(&self, partition: &PartitionId) -> Result<i64, CatalogError> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(MAX(id), 0) FROM delivery_batches
             WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3",
            params![partition.0, partition.1, partition.2],
            |r| r.get(0),
        )?)
    }

    /// Every digest chain.
    fn digest_chains(&self) -> Result<Vec<DigestChainRow>, CatalogError> {
        self.query_all(
            "SELECT trail_arn, account_id, region, doc, pending_gzip FROM digest_chains
             ORDER BY trail_arn, account_id, region",
            [],
            |r| {
                Ok(DigestChainRow {
                    partition: (r.get(0)?, r.get(1)?, r.get(2)?),
                    doc: r.get(3)?,
                    pending_gzip: r.get(4)?,
                })
            },
        )
    }

    /// Stores a chain state and, in the same transaction, records `members` (batch ids) as
    /// listed in the digest `digest_key`. A batch already listed in a digest makes the whole
    /// call fail (a log file is listed in exactly one digest).
    fn put_digest_chain(
        &self,
        row: &DigestChainRow,
        digest_key: &str,
        members: &[i64],
    ) -> Result<(), CatalogError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut ins =
                tx.prepare("INSERT INTO digest_members (batch_id, digest_key) VALUES (?1, ?2)")?;
            for id in members {
                ins.execute(params![id, digest_key])?;
            }
        }
        tx.execute(
            "INSERT INTO digest_chains (trail_arn, account_id, region, doc, pending_gzip)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (trail_arn, account_id, region)
             DO UPDATE SET doc = excluded.doc, pending_gzip = excluded.pending_gzip",
            params![
                row.partition.0,
                row.partition.1,
                row.partition.2,
                row.doc,
                row.pending_gzip
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Delivered batches of a partition not yet listed in any digest, with `id > floor` and
    /// `chain_start <= delivered < end`, plus the floor to store once they are listed: the
    /// highest id below which every batch of the partition is settled (listed, or delivered
    /// before `chain_start`). Both come from one read, so a batch sealed meanwhile is never
    /// skipped.
    fn undigested_batches(
        &self,
        partition: &PartitionId,
        floor: i64,
        chain_start: i64,
        end: i64,
    ) -> Result<(Vec<BatchRow>, i64), CatalogError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {BATCH_COLUMNS} FROM delivery_batches b
                 WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND id > ?4
                   AND state = 'done' AND delivered >= ?5 AND delivered < ?6
                   AND NOT EXISTS (SELECT 1 FROM digest_members m WHERE m.batch_id = b.id)
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(
                params![
                    partition.0,
                    partition.1,
                    partition.2,
                    floor,
                    chain_start,
                    end
                ],
                row_to_batch,
            )?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        // Unsettled after this digest: not done, or done at/after `end` and not listed.
        let new_floor: i64 = tx.query_row(
            "SELECT COALESCE(
                 (SELECT MIN(id) - 1 FROM delivery_batches b
                  WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND id > ?4
                    AND (state != 'done'
                         OR (delivered >= ?6
                             AND NOT EXISTS (SELECT 1 FROM digest_members m
                                             WHERE m.batch_id = b.id)))),
                 (SELECT MAX(id) FROM delivery_batches
                  WHERE trail_arn = ?1 AND account_id = ?2 AND region = ?3 AND id > ?4),
                 ?4)",
            params![
                partition.0,
                partition.1,
                partition.2,
                floor,
                chain_start,
                end
            ],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok((rows, new_floor))
    }
}

impl KeyStore for Catalog {
    /// Stores a new signing key; fails with `AlreadyExists` on a duplicate fingerprint.
    fn insert_signing_key(&self, k: &SigningKeyRow) -> Result<(), CatalogError> {
        let n = self.conn().execute(
            "INSERT INTO signing_keys (region, fingerprint, public_der, sealed_private, valid_from,
                 valid_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                k.region,
                k.fingerprint,
                k.public_der,
                k.sealed_private,
                k.valid_from,
                k.valid_to
            ],
        )?;
        if n == 0 {
            return Err(CatalogError::AlreadyExists(format!(
                "signing key {}",
                k.fingerprint
            )));
        }
        Ok(())
    }

    /// The keys of `region` whose validity overlaps `[from, to]`, oldest first.
    fn signing_keys(
        &self,
        region: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<SigningKeyRow>, CatalogError> {
        self.query_all(
            "SELECT region, fingerprint, public_der, sealed_private, valid_from, valid_to
             FROM signing_keys WHERE region = ?1 AND valid_from <= ?3 AND valid_to >= ?2
             ORDER BY valid_from, fingerprint",
            params![region, from, to],
            row_to_signing_key,
        )
    }

    /// The newest key of `region` (latest validity start).
    fn latest_signing_key(&self, region: &str) -> Result<Option<SigningKeyRow>, CatalogError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT region, fingerprint, public_der, sealed_private, valid_from, valid_to
                 FROM signing_keys WHERE region = ?1 ORDER BY valid_from DESC, fingerprint
                 LIMIT 1",
                params![region],
                row_to_signing_key,
            )
            .optional()?)
    }
}
