//! The vault: SQLite metadata plus encrypted body files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::crypto::{self, KeyService, Sealer};
use crate::error::{Result, VaultError};
use crate::model::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    created INTEGER NOT NULL,
    versioning TEXT NOT NULL DEFAULT '',
    mfa_delete INTEGER NOT NULL DEFAULT 0,
    object_lock INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS docs (
    bucket TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (bucket, kind));
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    is_latest INTEGER NOT NULL,
    delete_marker INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    content_type TEXT,
    user_meta TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    sse TEXT NOT NULL,
    kms_key_arn TEXT,
    wrapped_key BLOB,
    blob_id TEXT,
    compressed INTEGER NOT NULL DEFAULT 0,
    retention_mode TEXT,
    retain_until INTEGER,
    legal_hold INTEGER NOT NULL DEFAULT 0,
    superseded_at INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS versions_id ON versions (bucket, key, version_id);
CREATE INDEX IF NOT EXISTS versions_latest ON versions (bucket, is_latest, key);
CREATE INDEX IF NOT EXISTS versions_key ON versions (bucket, key, seq);
CREATE TABLE IF NOT EXISTS lifecycle_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    action TEXT NOT NULL);
";

/// The vault's schema steps (`cairn_core::migrate`): step N leaves the file at version N.
const MIGRATIONS: &[&str] = &[SCHEMA, crate::events::SCHEMA, crate::multipart::SCHEMA];

const COLS: &str = "seq, key, version_id, is_latest, delete_marker, size, etag, last_modified, \
    content_type, user_meta, storage_class, sse, kms_key_arn, wrapped_key, blob_id, compressed, \
    retention_mode, retain_until, legal_hold, superseded_at";

/// A stored row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    seq: i64,
    key: String,
    version_id: String,
    is_latest: bool,
    delete_marker: bool,
    size: i64,
    etag: String,
    last_modified: i64,
    content_type: Option<String>,
    user_meta: String,
    storage_class: String,
    sse: String,
    kms_key_arn: Option<String>,
    wrapped_key: Option<Vec<u8>>,
    blob_id: Option<String>,
    compressed: bool,
    retention_mode: Option<String>,
    retain_until: Option<i64>,
    legal_hold: bool,
    superseded_at: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        key: r.get(1)?,
        version_id: r.get(2)?,
        is_latest: r.get(3)?,
        delete_marker: r.get(4)?,
        size: r.get(5)?,
        etag: r.get(6)?,
        last_modified: r.get(7)?,
        content_type: r.get(8)?,
        user_meta: r.get(9)?,
        storage_class: r.get(10)?,
        sse: r.get(11)?,
        kms_key_arn: r.get(12)?,
        wrapped_key: r.get(13)?,
        blob_id: r.get(14)?,
        compressed: r.get(15)?,
        retention_mode: r.get(16)?,
        retain_until: r.get(17)?,
        legal_hold: r.get(18)?,
        superseded_at: r.get(19)?,
    })
}

impl Row {
    fn retention(&self) -> Option<Retention> {
        let mode = RetentionMode::parse(self.retention_mode.as_deref()?)?;
        let retain_until = OffsetDateTime::from_unix_timestamp(self.retain_until?).ok()?;
        Some(Retention { mode, retain_until })
    }

    /// Whether object lock forbids removing or replacing this version at `now`.
    fn locked(&self, now: OffsetDateTime, bypass_governance: bool) -> bool {
        if self.delete_marker {
            return false;
        }
        if self.legal_hold {
            return true;
        }
        match self.retention() {
            Some(r) if r.retain_until > now => {
                r.mode == RetentionMode::Compliance || !bypass_governance
            }
            _ => false,
        }
    }

    fn version(&self, owner: &str) -> ObjectVersion {
        ObjectVersion {
            key: self.key.clone(),
            version_id: self.version_id.clone(),
            is_latest: self.is_latest,
            delete_marker: self.delete_marker,
            size: self.size.max(0) as u64,
            etag: self.etag.clone(),
            last_modified: from_ms(self.last_modified),
            content_type: self.content_type.clone(),
            user_metadata: serde_json::from_str(&self.user_meta).unwrap_or_default(),
            storage_class: self.storage_class.clone(),
            sse: self.sse.clone(),
            kms_key_arn: self.kms_key_arn.clone(),
            retention: self.retention(),
            legal_hold: self.legal_hold,
            owner: owner.to_owned(),
        }
    }
}

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Cairn's local object store. See the crate docs.
pub struct Vault {
    dir: PathBuf,
    pub(crate) blobs: PathBuf,
    conn: Mutex<Connection>,
    sealer: Arc<dyn Sealer>,
    /// Shared with the vaults [`Vault::open_sibling`] opens, so setting it once serves all.
    kms: Arc<std::sync::OnceLock<Arc<dyn KeyService>>>,
    /// Rung when a commit adds S3 event notifications to the outbox.
    pub(crate) events: crate::events::Signal,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("dir", &self.dir).finish()
    }
}

/// The S3 ARN of an object (the KMS encryption context S3 uses).
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

fn kms_context(bucket: &str, key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("aws:s3:arn".to_owned(), object_arn(bucket, key))])
}

fn dek_context(blob_id: &str) -> String {
    format!("cairn-vault:dek:{blob_id}")
}

/// Storage classes stored compacted (gzip) after a transition.
/// The common prefix a listing with `delimiter` rolls `key` (which starts with `prefix`) up
/// into: the key up to and including the first `delimiter` after `prefix`, if any.
fn common_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter?;
    let i = key[prefix.len()..].find(d)?;
    Some(key[..prefix.len() + i + d.len()].to_owned())
}

fn is_archive(class: &str) -> bool {
    matches!(
        class,
        "GLACIER" | "DEEP_ARCHIVE" | "GLACIER_IR" | "STANDARD_IA" | "ONEZONE_IA"
    )
}

impl Vault {
    /// Opens (creating) the vault in `dir` (`<data_dir>/buckets`): `vault.sqlite` and
    /// `.vault/` body files.
    pub fn open(
        dir: &Path,
        sealer: Arc<dyn Sealer>,
        kms: Option<Arc<dyn KeyService>>,
    ) -> Result<Self> {
        let blobs = dir.join(".vault");
        std::fs::create_dir_all(&blobs).map_err(|e| VaultError::io(&blobs, e))?;
        let conn = Connection::open(dir.join("vault.sqlite"))?;
        cairn_core::migrate::configure(&conn)?;
        cairn_core::migrate::migrate(&conn, MIGRATIONS).map_err(|e| match e {
            cairn_core::migrate::MigrateError::Sqlite(e) => VaultError::from(e),
            other => VaultError::Corrupt(format!("vault schema: {other}")),
        })?;
        let cell = Arc::new(std::sync::OnceLock::new());
        if let Some(k) = kms {
            let _ = cell.set(k);
        }
        Ok(Self::with(dir, conn, sealer, cell))
    }

    fn with(
        dir: &Path,
        conn: Connection,
        sealer: Arc<dyn Sealer>,
        kms: Arc<std::sync::OnceLock<Arc<dyn KeyService>>>,
    ) -> Self {
        Self {
            dir: dir.to_owned(),
            blobs: dir.join(".vault"),
            conn: Mutex::new(conn),
            sealer,
            kms,
            events: crate::events::Signal::default(),
        }
    }

    /// Opens (creating) another vault in `dir` with this one's SSE-S3 root and key service
    /// (a configured local bucket with its own `root`).
    pub fn open_sibling(&self, dir: &Path) -> Result<Self> {
        let v = Self::open(dir, self.sealer.clone(), None)?;
        Ok(Self::with(
            dir,
            v.conn.into_inner().unwrap_or_else(|p| p.into_inner()),
            self.sealer.clone(),
            self.kms.clone(),
        ))
    }

    /// Opens an existing vault for reading only (`cairn validate` next to a running server):
    /// nothing is created or migrated, and every write fails.
    pub fn open_read_only(
        dir: &Path,
        sealer: Arc<dyn Sealer>,
        kms: Option<Arc<dyn KeyService>>,
    ) -> Result<Self> {
        let conn = Connection::open_with_flags(
            dir.join("vault.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let cell = Arc::new(std::sync::OnceLock::new());
        if let Some(k) = kms {
            let _ = cell.set(k);
        }
        Ok(Self::with(dir, conn, sealer, cell))
    }

    /// Sets the key service for SSE-KMS once (the server does when its KMS is up); returns
    /// false when one was already set. Until then SSE-KMS answers [`VaultError::KmsUnavailable`].
    pub fn set_key_service(&self, kms: Arc<dyn KeyService>) -> bool {
        self.kms.set(kms).is_ok()
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- buckets ------------------------------------------------------------------------

    /// Creates a bucket. With `object_lock`, versioning is enabled and cannot be suspended.
    pub fn create_bucket(
        &self,
        name: &str,
        account: &str,
        region: &str,
        object_lock: bool,
        now: OffsetDateTime,
    ) -> Result<BucketInfo> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(b) = bucket_row(&tx, name)? {
            return Err(if b.account == account {
                VaultError::BucketAlreadyOwnedByYou {
                    bucket: name.to_owned(),
                }
            } else {
                VaultError::BucketAlreadyExists {
                    bucket: name.to_owned(),
                }
            });
        }
        tx.execute(
            "INSERT INTO buckets (name, account, region, created, versioning, object_lock)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                name,
                account,
                region,
                now.unix_timestamp(),
                if object_lock { "Enabled" } else { "" },
                object_lock
            ],
        )?;
        if object_lock {
            let doc = serde_json::to_string(&ObjectLockConfig {
                enabled: true,
                default_retention: None,
            })
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
            put_doc_tx(&tx, name, DocKind::ObjectLock, &doc)?;
        }
        tx.commit()?;
        drop(conn);
        self.bucket(name)
    }

    /// Creates the bucket if it does not exist (buckets made by `cairn bucket create`).
    pub fn ensure_bucket(
        &self,
        name: &str,
        account: &str,
        region: &str,
        created: OffsetDateTime,
    ) -> Result<BucketInfo> {
        match self.create_bucket(name, account, region, false, created) {
            Ok(b) => Ok(b),
            Err(VaultError::BucketAlreadyOwnedByYou { .. })
            | Err(VaultError::BucketAlreadyExists { .. }) => self.bucket(name),
            Err(e) => Err(e),
        }
    }

    /// A bucket's settings.
    pub fn bucket(&self, name: &str) -> Result<BucketInfo> {
        bucket_row(&self.conn(), name)?.ok_or_else(|| VaultError::NoSuchBucket {
            bucket: name.to_owned(),
        })
    }

    /// All buckets, by name.
    pub fn buckets(&self) -> Result<Vec<BucketInfo>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, account, region, created, versioning, mfa_delete, object_lock
             FROM buckets ORDER BY name",
        )?;
        let rows = stmt.query_map([], bucket_info)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes an empty bucket (no versions, no delete markers).
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if bucket_row(&tx, name)?.is_none() {
            return Err(VaultError::NoSuchBucket {
                bucket: name.to_owned(),
            });
        }
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM versions WHERE bucket = ?1",
            params![name],
            |r| r.get(0),
        )?;
        if n > 0 {
            return Err(VaultError::BucketNotEmpty {
                bucket: name.to_owned(),
            });
        }
        // Uploads in progress are not objects: they go with the bucket, as on S3.
        let uploads = crate::multipart::drop_bucket_uploads(&tx, name)?;
        tx.execute("DELETE FROM docs WHERE bucket = ?1", params![name])?;
        tx.execute("DELETE FROM buckets WHERE name = ?1", params![name])?;
        tx.commit()?;
        drop(conn);
        for blob_id in &uploads {
            self.remove_parts(blob_id);
        }
        Ok(())
    }

    /// Sets versioning (`Enabled` or `Suspended`) and, when given, the MFA-delete state.
    /// Checking the MFA code is the caller's job.
    pub fn set_versioning(
        &self,
        name: &str,
        status: Versioning,
        mfa_delete: Option<bool>,
    ) -> Result<()> {
        let b = self.bucket(name)?;
        if status == Versioning::Unversioned {
            return Err(VaultError::InvalidArgument(
                "versioning can only be Enabled or Suspended".into(),
            ));
        }
        if b.object_lock && status == Versioning::Suspended {
            return Err(VaultError::InvalidRequest(
                "an Object Lock configuration is present on this bucket, so the versioning state cannot be changed".into(),
            ));
        }
        let conn = self.conn();
        // S3 refuses MFA delete on a bucket with a lifecycle configuration: lifecycle rules
        // would permanently delete versions with no code.
        if mfa_delete == Some(true) && get_doc_tx(&conn, name, DocKind::Lifecycle)?.is_some() {
            return Err(VaultError::InvalidBucketState(MFA_WITH_LIFECYCLE.into()));
        }
        conn.execute(
            "UPDATE buckets SET versioning = ?2, mfa_delete = COALESCE(?3, mfa_delete) WHERE name = ?1",
            params![name, status.as_db(), mfa_delete],
        )?;
        Ok(())
    }

    // ---- documents ----------------------------------------------------------------------

    /// Stores a configuration document (replacing any). A lifecycle configuration is
    /// refused on a bucket with MFA delete enabled (`InvalidBucketState`), as S3 does.
    pub fn put_doc(&self, bucket: &str, kind: DocKind, doc: &str) -> Result<()> {
        let b = self.bucket(bucket)?;
        if kind == DocKind::Lifecycle {
            let conn = self.conn();
            let mfa_delete: bool = conn.query_row(
                "SELECT mfa_delete FROM buckets WHERE name = ?1",
                params![bucket],
                |r| r.get(0),
            )?;
            if mfa_delete {
                return Err(VaultError::InvalidBucketState(LIFECYCLE_WITH_MFA.into()));
            }
            return put_doc_tx(&conn, bucket, kind, doc);
        }
        if kind == DocKind::ObjectLock {
            let cfg: ObjectLockConfig =
                serde_json::from_str(doc).map_err(|e| VaultError::Corrupt(e.to_string()))?;
            if !b.object_lock && cfg.enabled {
                if b.versioning != Versioning::Enabled {
                    return Err(VaultError::InvalidRequest(
                        "versioning must be Enabled on the bucket to enable object lock".into(),
                    ));
                }
                self.conn().execute(
                    "UPDATE buckets SET object_lock = 1 WHERE name = ?1",
                    params![bucket],
                )?;
            }
        }
        put_doc_tx(&self.conn(), bucket, kind, doc)
    }

    /// A configuration document.
    pub fn get_doc(&self, bucket: &str, kind: DocKind) -> Result<String> {
        self.bucket(bucket)?;
        get_doc_tx(&self.conn(), bucket, kind)?.ok_or(VaultError::NoSuchConfiguration {
            kind: kind.as_str(),
        })
    }

    /// Removes a configuration document (absent is fine).
    pub fn delete_doc(&self, bucket: &str, kind: DocKind) -> Result<()> {
        self.bucket(bucket)?;
        self.conn().execute(
            "DELETE FROM docs WHERE bucket = ?1 AND kind = ?2",
            params![bucket, kind.as_str()],
        )?;
        Ok(())
    }

    pub(crate) fn typed_doc<T: serde::de::DeserializeOwned>(
        conn: &Connection,
        bucket: &str,
        kind: DocKind,
    ) -> Result<Option<T>> {
        match get_doc_tx(conn, bucket, kind)? {
            None => Ok(None),
            Some(d) => serde_json::from_str(&d)
                .map(Some)
                .map_err(|e| VaultError::Corrupt(format!("{} document: {e}", kind.as_str()))),
        }
    }

    // ---- bodies -------------------------------------------------------------------------

    pub(crate) fn blob_path(&self, blob_id: &str, compressed: bool) -> PathBuf {
        let shard = blob_id.get(..2).unwrap_or("00");
        let name = if compressed {
            format!("{blob_id}.gz")
        } else {
            blob_id.to_owned()
        };
        self.blobs.join(shard).join(name)
    }

    /// Writes a file atomically: temp file, fsync, rename, fsync of the directory
    /// ([`cairn_core::fs::write_atomic`]).
    pub(crate) fn write_blob(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.blobs);
        std::fs::create_dir_all(dir).map_err(|e| VaultError::io(dir, e))?;
        cairn_core::fs::write_atomic(path, bytes).map_err(|e| VaultError::io(path, e))
    }

    pub(crate) fn remove_blob(&self, r: &Row) {
        if let Some(id) = &r.blob_id {
            self.remove_parts(id);
            let p = self.blob_path(id, r.compressed);
            if let Err(e) = std::fs::remove_file(&p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove object body");
            }
        }
    }

    fn unwrap_key(&self, bucket: &str, r: &Row) -> Result<Zeroizing<[u8; 32]>> {
        let blob_id = r.blob_id.as_deref().unwrap_or_default();
        let wrapped = r.wrapped_key.as_deref().unwrap_or_default();
        self.unwrap_dek(bucket, &r.key, &r.sse, blob_id, wrapped)
    }

    /// The data key of body `blob_id` of `bucket`/`key`, unwrapped from `wrapped` by the KMS
    /// (`sse` `aws:kms`) or the SSE-S3 root.
    pub(crate) fn unwrap_dek(
        &self,
        bucket: &str,
        key: &str,
        sse: &str,
        blob_id: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>> {
        if sse == "aws:kms" {
            let kms = self.kms.get().ok_or(VaultError::KmsUnavailable)?;
            Ok(kms.decrypt_data_key(wrapped, &kms_context(bucket, key))?)
        } else {
            let pt = self
                .sealer
                .open(&dek_context(blob_id), wrapped)
                .map_err(|e| VaultError::Corrupt(format!("data key of {key}: {e}")))?;
            let mut k = Zeroizing::new([0u8; 32]);
            if pt.len() != 32 {
                return Err(VaultError::Corrupt("data key has the wrong length".into()));
            }
            k.copy_from_slice(&pt);
            Ok(k)
        }
    }

    fn read_body(&self, bucket: &str, r: &Row) -> Result<Vec<u8>> {
        if r.delete_marker {
            return Ok(Vec::new());
        }
        let blob_id = r.blob_id.as_deref().unwrap_or_default();
        let dek = self.unwrap_key(bucket, r)?;
        let path = self.blob_path(blob_id, r.compressed);
        let file = std::fs::read(&path).map_err(|e| VaultError::io(&path, e))?;
        if !r.compressed && crate::multipart::is_manifest(&file) {
            return self.read_parts(&dek, blob_id, &file, r.size);
        }
        let aad_id = if r.compressed {
            format!("{blob_id}:gz")
        } else {
            blob_id.to_owned()
        };
        let pt = crypto::decrypt_body(&dek, &aad_id, &file)
            .map_err(|e| VaultError::Tampered(format!("body of {}: {e}", r.key)))?;
        if !r.compressed {
            return Ok(pt);
        }
        let mut out = Vec::with_capacity(r.size.max(0) as usize);
        let mut d = flate2::read::GzDecoder::new(&pt[..]);
        std::io::Read::read_to_end(&mut d, &mut out)
            .map_err(|e| VaultError::Tampered(format!("archived body of {}: {e}", r.key)))?;
        Ok(out)
    }

    // ---- objects ------------------------------------------------------------------------

    /// Stores an object version. See the crate docs for versioning and lock rules.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        req: &PutRequest,
        now: OffsetDateTime,
    ) -> Result<PutOutcome> {
        // Every way in (S3 PutObject and CopyObject, deliveries) stores only keys that are
        // safe as relative paths: no `..`, no absolute keys, no control characters.
        cairn_store::validate_key(key).map_err(|e| VaultError::InvalidArgument(e.to_string()))?;
        let b = self.bucket(bucket)?;
        let retention = self.retention_for(&b, req, now)?;
        let blob_id = uuid::Uuid::new_v4().simple().to_string();
        let (dek, wrapped, sse, kms_arn) = self.new_data_key(&b, key, req, &blob_id)?;
        let ct = crypto::encrypt_body(&dek, &blob_id, body)
            .map_err(|e| VaultError::Corrupt(e.into()))?;
        drop(dek);
        let path = self.blob_path(&blob_id, false);
        self.write_blob(&path, &ct)?;
        let etag = cairn_store::md5_hex(body);
        let result = self.commit_put(
            &b,
            key,
            &NewVersion {
                size: body.len() as i64,
                etag: &etag,
                req,
                sse,
                kms_arn: kms_arn.as_deref(),
                wrapped: &wrapped,
                blob_id: &blob_id,
                retention,
            },
            now,
        );
        match result {
            Ok((version_id, obsolete)) => {
                for r in &obsolete {
                    self.remove_blob(r);
                }
                Ok(PutOutcome {
                    version_id,
                    etag,
                    sse: sse.to_owned(),
                    kms_key_arn: kms_arn,
                })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// The retention a new version of bucket `b` gets: the request's, else the bucket's
    /// default retention from `now`. Refused when the bucket has no object lock.
    pub(crate) fn retention_for(
        &self,
        b: &BucketInfo,
        req: &PutRequest,
        now: OffsetDateTime,
    ) -> Result<Option<Retention>> {
        let lock: Option<ObjectLockConfig> =
            Self::typed_doc(&self.conn(), &b.name, DocKind::ObjectLock)?;
        if (req.retention.is_some() || req.legal_hold) && !b.object_lock {
            return Err(VaultError::InvalidRequest(
                "Bucket is missing Object Lock Configuration".into(),
            ));
        }
        Ok(req.retention.or_else(|| {
            let d = lock.as_ref()?.default_retention.as_ref()?;
            let days =
                d.days.map(i64::from).unwrap_or(0) + d.years.map(i64::from).unwrap_or(0) * 365;
            Some(Retention {
                mode: d.mode,
                retain_until: now + time::Duration::days(days),
            })
        }))
    }

    /// A fresh data key for body `blob_id` of `key` in bucket `b`, wrapped as `req` asks
    /// (the request's encryption, else the bucket default, else SSE-S3):
    /// (plaintext key, wrapped key, `AES256` or `aws:kms`, KMS key ARN).
    pub(crate) fn new_data_key(
        &self,
        b: &BucketInfo,
        key: &str,
        req: &PutRequest,
        blob_id: &str,
    ) -> Result<NewDataKey> {
        let encryption: Option<BucketEncryption> =
            Self::typed_doc(&self.conn(), &b.name, DocKind::Encryption)?;
        // Encryption: the request's, else the bucket default, else SSE-S3.
        let kms_key = match &req.sse {
            SseRequest::S3 => None,
            SseRequest::Kms(Some(k)) => Some(k.clone()),
            SseRequest::Kms(None) => Some(
                encryption
                    .as_ref()
                    .and_then(|e| e.kms_key_id.clone())
                    .unwrap_or_else(|| "alias/aws/s3".to_owned()),
            ),
            SseRequest::BucketDefault => match &encryption {
                Some(e) if e.algorithm == "aws:kms" => Some(
                    e.kms_key_id
                        .clone()
                        .unwrap_or_else(|| "alias/aws/s3".to_owned()),
                ),
                _ => None,
            },
        };
        Ok(match kms_key {
            None => {
                let dek = crypto::new_data_key().map_err(|e| VaultError::Corrupt(e.into()))?;
                let wrapped = self
                    .sealer
                    .seal(&dek_context(blob_id), dek.as_ref())
                    .map_err(VaultError::Corrupt)?;
                (dek, wrapped, "AES256", None)
            }
            Some(key_id) => {
                let kms = self.kms.get().ok_or(VaultError::KmsUnavailable)?;
                let account = if req.account.is_empty() {
                    &b.account
                } else {
                    &req.account
                };
                let (dek, blob, arn) =
                    kms.generate_data_key(account, &key_id, &kms_context(&b.name, key))?;
                (dek, blob, "aws:kms", Some(arn))
            }
        })
    }

    pub(crate) fn commit_put(
        &self,
        b: &BucketInfo,
        key: &str,
        v: &NewVersion<'_>,
        now: OffsetDateTime,
    ) -> Result<(String, Vec<Row>)> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let latest = latest_row(&tx, &b.name, key)?;
        if let Some(l) = &latest
            && !l.delete_marker
        {
            if v.req.if_none_match {
                return Err(VaultError::PreconditionFailed {
                    key: key.to_owned(),
                });
            }
            if l.locked(now, v.req.bypass_governance) {
                return Err(VaultError::ObjectLocked {
                    key: key.to_owned(),
                    version_id: l.version_id.clone(),
                });
            }
        }
        let mut obsolete = Vec::new();
        let version_id = if b.versioning == Versioning::Enabled {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            obsolete.extend(drop_null_version(
                &tx,
                &b.name,
                key,
                now,
                v.req.bypass_governance,
            )?);
            NULL_VERSION.to_owned()
        };
        demote_latest(&tx, &b.name, key, now)?;
        let meta = serde_json::to_string(&v.req.user_metadata)
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag,
                last_modified, content_type, user_meta, storage_class, sse, kms_key_arn,
                wrapped_key, blob_id, compressed, retention_mode, retain_until, legal_hold)
             VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?15, ?16)",
            params![
                b.name,
                key,
                version_id,
                v.size,
                v.etag,
                to_ms(now),
                v.req.content_type,
                meta,
                v.req.storage_class.as_deref().unwrap_or("STANDARD"),
                v.sse,
                v.kms_arn,
                v.wrapped,
                v.blob_id,
                v.retention.map(|r| r.mode.as_str()),
                v.retention.map(|r| r.retain_until.unix_timestamp()),
                v.req.legal_hold,
            ],
        )?;
        let events = crate::events::record(
            &tx,
            &b.name,
            b.versioning != Versioning::Unversioned,
            &crate::events::ObjectEvent {
                event_name: v.req.created_by.event_name(),
                key,
                version_id: &version_id,
                size: Some(v.size),
                etag: Some(v.etag),
                origin: &v.req.origin,
                now,
            },
        )?;
        tx.commit()?;
        if events > 0 {
            self.events.bump();
        }
        Ok((version_id, obsolete))
    }

    fn resolve(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(BucketInfo, Row)> {
        let b = self.bucket(bucket)?;
        let conn = self.conn();
        let r = match version_id {
            Some(v) => {
                version_row(&conn, bucket, key, v)?.ok_or_else(|| VaultError::NoSuchVersion {
                    key: key.to_owned(),
                    version_id: v.to_owned(),
                })?
            }
            None => latest_row(&conn, bucket, key)?.ok_or_else(|| VaultError::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })?,
        };
        if r.delete_marker {
            return Err(VaultError::DeleteMarker {
                key: key.to_owned(),
                version_id: r.version_id,
            });
        }
        Ok((b, r))
    }

    /// An object's attributes (current version, or `version_id`).
    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        let (b, r) = self.resolve(bucket, key, version_id)?;
        Ok(r.version(&b.account))
    }

    /// An object's attributes and plaintext body.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(ObjectVersion, Vec<u8>)> {
        let (b, r) = self.resolve(bucket, key, version_id)?;
        let body = self.read_body(bucket, &r)?;
        Ok((r.version(&b.account), body))
    }

    /// Deletes an object: without `version_id`, the S3 way for the bucket's versioning state
    /// (remove, or add a delete marker); with one, removes that version permanently (refused
    /// while it is locked). A removal is an `ObjectRemoved:Delete` event and a new delete
    /// marker an `ObjectRemoved:DeleteMarkerCreated` one, caused by `origin`, for the bucket's
    /// notification configuration.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass_governance: bool,
        origin: &crate::events::EventOrigin,
        now: OffsetDateTime,
    ) -> Result<DeleteOutcome> {
        self.remove(
            bucket,
            key,
            version_id,
            bypass_governance,
            Some(origin),
            now,
        )
    }

    /// [`Vault::delete_object`]; without `origin` (lifecycle expirations, which S3 reports as
    /// `LifecycleExpiration:*` events Cairn does not offer) no notification is made.
    fn remove(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass_governance: bool,
        origin: Option<&crate::events::EventOrigin>,
        now: OffsetDateTime,
    ) -> Result<DeleteOutcome> {
        let b = self.bucket(bucket)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut obsolete = Vec::new();
        let outcome = match (version_id, b.versioning) {
            (Some(v), _) => {
                let Some(r) = version_row(&tx, bucket, key, v)? else {
                    return Ok(DeleteOutcome {
                        version_id: Some(v.to_owned()),
                        delete_marker: false,
                    });
                };
                if r.locked(now, bypass_governance) {
                    return Err(VaultError::ObjectLocked {
                        key: key.to_owned(),
                        version_id: v.to_owned(),
                    });
                }
                tx.execute("DELETE FROM versions WHERE seq = ?1", params![r.seq])?;
                if r.is_latest {
                    promote_latest(&tx, bucket, key)?;
                }
                let out = DeleteOutcome {
                    version_id: Some(r.version_id.clone()),
                    delete_marker: r.delete_marker,
                };
                obsolete.push(r);
                out
            }
            (None, Versioning::Unversioned) => {
                if let Some(r) = latest_row(&tx, bucket, key)? {
                    if r.locked(now, bypass_governance) {
                        return Err(VaultError::ObjectLocked {
                            key: key.to_owned(),
                            version_id: r.version_id.clone(),
                        });
                    }
                    tx.execute("DELETE FROM versions WHERE seq = ?1", params![r.seq])?;
                    obsolete.push(r);
                }
                DeleteOutcome::default()
            }
            (None, versioning) => {
                let vid = if versioning == Versioning::Enabled {
                    uuid::Uuid::new_v4().simple().to_string()
                } else {
                    obsolete.extend(drop_null_version(&tx, bucket, key, now, bypass_governance)?);
                    NULL_VERSION.to_owned()
                };
                demote_latest(&tx, bucket, key, now)?;
                tx.execute(
                    "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size,
                        etag, last_modified, user_meta, storage_class, sse)
                     VALUES (?1, ?2, ?3, 1, 1, 0, '', ?4, '{}', 'STANDARD', '')",
                    params![bucket, key, vid, to_ms(now)],
                )?;
                DeleteOutcome {
                    version_id: Some(vid),
                    delete_marker: true,
                }
            }
        };
        // What happened, for the bucket's notifications: a version (or the unversioned
        // object) removed, or a delete marker made.
        let removed = match (&outcome.version_id, outcome.delete_marker, version_id) {
            (Some(vid), true, None) => Some(("ObjectRemoved:DeleteMarkerCreated", vid.as_str())),
            _ if !obsolete.is_empty() => Some((
                "ObjectRemoved:Delete",
                outcome.version_id.as_deref().unwrap_or(NULL_VERSION),
            )),
            _ => None,
        };
        let mut events = 0;
        if let (Some((event_name, vid)), Some(origin)) = (removed, origin) {
            events = crate::events::record(
                &tx,
                bucket,
                b.versioning != Versioning::Unversioned,
                &crate::events::ObjectEvent {
                    event_name,
                    key,
                    version_id: vid,
                    size: None,
                    etag: None,
                    origin,
                    now,
                },
            )?;
        }
        tx.commit()?;
        drop(conn);
        if events > 0 {
            self.events.bump();
        }
        for r in &obsolete {
            self.remove_blob(r);
        }
        Ok(outcome)
    }

    /// Sets (or, with `None`, removes) a version's retention. Compliance retention can only
    /// be extended; governance retention can be shortened or removed only with
    /// `bypass_governance`.
    pub fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        retention: Option<Retention>,
        bypass_governance: bool,
        now: OffsetDateTime,
    ) -> Result<String> {
        let (b, r) = self.resolve(bucket, key, version_id)?;
        if !b.object_lock {
            return Err(VaultError::InvalidRequest(
                "Bucket is missing Object Lock Configuration".into(),
            ));
        }
        if let Some(old) = r.retention()
            && old.retain_until > now
        {
            let weaker = match retention {
                None => true,
                Some(new) => {
                    new.retain_until < old.retain_until
                        || (old.mode == RetentionMode::Compliance
                            && new.mode == RetentionMode::Governance)
                }
            };
            if weaker && (old.mode == RetentionMode::Compliance || !bypass_governance) {
                return Err(VaultError::ObjectLocked {
                    key: key.to_owned(),
                    version_id: r.version_id,
                });
            }
        }
        self.conn().execute(
            "UPDATE versions SET retention_mode = ?2, retain_until = ?3 WHERE seq = ?1",
            params![
                r.seq,
                retention.map(|x| x.mode.as_str()),
                retention.map(|x| x.retain_until.unix_timestamp())
            ],
        )?;
        Ok(r.version_id)
    }

    // ---- listings -----------------------------------------------------------------------

    /// ListObjects: current objects whose key starts with `prefix` and is greater than
    /// `marker`, in byte order, rolled up at `delimiter`; at most `max_keys` entries
    /// (objects plus common prefixes).
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
        delimiter: Option<&str>,
        max_keys: usize,
    ) -> Result<ObjectListing> {
        let b = self.bucket(bucket)?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut out = ObjectListing::default();
        let marker = marker.unwrap_or("");
        let (mut cursor, mut inclusive) = if marker < prefix {
            (prefix.to_owned(), true)
        } else {
            (marker.to_owned(), false)
        };
        let mut count = 0usize;
        let mut last_cp: Option<String> = None;
        let conn = self.conn();
        'scan: loop {
            let sql = format!(
                "SELECT {COLS} FROM versions WHERE bucket = ?1 AND is_latest = 1 AND delete_marker = 0
                 AND key {} ?2 ORDER BY key LIMIT 500",
                if inclusive { ">=" } else { ">" }
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows: Vec<Row> = stmt
                .query_map(params![bucket, cursor], row)?
                .collect::<rusqlite::Result<_>>()?;
            let n = rows.len();
            for r in rows {
                cursor.clone_from(&r.key);
                inclusive = false;
                if !r.key.starts_with(prefix) {
                    break 'scan;
                }
                let cp = common_prefix(&r.key, prefix, delimiter);
                if let Some(cp) = cp {
                    if last_cp.as_deref() == Some(cp.as_str()) || cp.as_str() <= marker {
                        continue;
                    }
                    if count == max_keys {
                        out.is_truncated = true;
                        break 'scan;
                    }
                    count += 1;
                    out.next_marker = Some(cp.clone());
                    out.common_prefixes.push(cp.clone());
                    last_cp = Some(cp);
                } else {
                    if count == max_keys {
                        out.is_truncated = true;
                        break 'scan;
                    }
                    count += 1;
                    out.next_marker = Some(r.key.clone());
                    out.objects.push(r.version(&b.account));
                }
            }
            if n < 500 {
                break;
            }
        }
        if !out.is_truncated {
            out.next_marker = None;
        }
        Ok(out)
    }

    /// ListObjectVersions: every version and delete marker, keys ascending and each key's
    /// versions newest first, starting after (`key_marker`, `version_id_marker`).
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        version_id_marker: Option<&str>,
        delimiter: Option<&str>,
        max_keys: usize,
    ) -> Result<VersionListing> {
        let b = self.bucket(bucket)?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let conn = self.conn();
        let key_marker = key_marker.unwrap_or("");
        let mut out = VersionListing::default();
        // Versions of the marker key older than the version marker come first.
        let mut rows: Vec<Row> = Vec::new();
        if let Some(vm) = version_id_marker.filter(|v| !v.is_empty() && !key_marker.is_empty())
            && let Some(m) = version_row(&conn, bucket, key_marker, vm)?
        {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLS} FROM versions WHERE bucket = ?1 AND key = ?2 AND seq < ?3 ORDER BY seq DESC"
            ))?;
            rows.extend(
                stmt.query_map(params![bucket, key_marker, m.seq], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            );
        }
        let (start, inclusive) = if key_marker < prefix {
            (prefix, true)
        } else {
            (key_marker, false)
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM versions WHERE bucket = ?1 AND key {} ?2 ORDER BY key, seq DESC",
            if inclusive { ">=" } else { ">" }
        ))?;
        let mut iter = stmt.query_map(params![bucket, start], row)?;
        let mut count = 0usize;
        let mut last_cp: Option<String> = None;
        let mut pending = rows.into_iter();
        loop {
            let r = match pending.next() {
                Some(r) => r,
                None => match iter.next() {
                    Some(r) => r?,
                    None => break,
                },
            };
            if !r.key.starts_with(prefix) {
                if r.key.as_str() > prefix {
                    break;
                }
                continue;
            }
            let cp = common_prefix(&r.key, prefix, delimiter);
            if let Some(cp) = cp {
                if last_cp.as_deref() == Some(cp.as_str()) || cp.as_str() <= key_marker {
                    continue;
                }
                if count == max_keys {
                    out.is_truncated = true;
                    break;
                }
                count += 1;
                out.next_key_marker = Some(cp.clone());
                out.next_version_id_marker = None;
                out.common_prefixes.push(cp.clone());
                last_cp = Some(cp);
                continue;
            }
            if count == max_keys {
                out.is_truncated = true;
                break;
            }
            count += 1;
            out.next_key_marker = Some(r.key.clone());
            out.next_version_id_marker = Some(r.version_id.clone());
            out.versions.push(r.version(&b.account));
        }
        if !out.is_truncated {
            out.next_key_marker = None;
            out.next_version_id_marker = None;
        }
        Ok(out)
    }

    // ---- lifecycle ----------------------------------------------------------------------

    /// Applies every bucket's lifecycle rules at `now`, with `day_seconds` seconds per rule
    /// day (86 400 in production; tests shrink it). Locked versions are skipped. Each action
    /// is recorded in the vault's lifecycle log and returned.
    pub fn apply_lifecycle(
        &self,
        now: OffsetDateTime,
        day_seconds: i64,
    ) -> Result<Vec<LifecycleAction>> {
        let mut actions = Vec::new();
        let day_ms = day_seconds.max(1) * 1000;
        let now_ms = to_ms(now);
        for b in self.buckets()? {
            // MFA delete means no version goes away without the root's code: a lifecycle
            // configuration stored before MFA delete was refused with it is not applied.
            if b.mfa_delete {
                continue;
            }
            let cfg: Option<LifecycleConfig> =
                Self::typed_doc(&self.conn(), &b.name, DocKind::Lifecycle)?;
            let Some(cfg) = cfg else { continue };
            for rule in cfg.rules.iter().filter(|r| r.enabled) {
                let rows: Vec<Row> = {
                    let conn = self.conn();
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {COLS} FROM versions WHERE bucket = ?1 AND key >= ?2 ORDER BY key, seq DESC"
                    ))?;
                    stmt.query_map(params![b.name, rule.prefix], row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                        .into_iter()
                        .take_while(|r| r.key.starts_with(&rule.prefix))
                        .collect()
                };
                for r in rows {
                    let age = now_ms - r.last_modified;
                    let act = |action: String| LifecycleAction {
                        bucket: b.name.clone(),
                        key: r.key.clone(),
                        version_id: r.version_id.clone(),
                        action,
                    };
                    if r.is_latest && !r.delete_marker {
                        if let Some(d) = rule.expiration_days
                            && age >= i64::from(d) * day_ms
                        {
                            if r.locked(now, false) {
                                continue;
                            }
                            match self.remove(&b.name, &r.key, None, false, None, now) {
                                Ok(_) => actions.push(act("Expiration".into())),
                                Err(e) => {
                                    tracing::warn!(bucket = %b.name, key = %r.key, error = %e, "lifecycle expiration failed")
                                }
                            }
                            continue;
                        }
                        let due = rule
                            .transitions
                            .iter()
                            .filter(|(d, _)| age >= i64::from(*d) * day_ms)
                            .max_by_key(|(d, _)| *d);
                        if let Some((_, class)) = due
                            && r.storage_class != *class
                        {
                            match self.transition(&b.name, &r, class) {
                                Ok(()) => actions.push(act(format!("Transition:{class}"))),
                                Err(e) => {
                                    tracing::warn!(bucket = %b.name, key = %r.key, error = %e, "lifecycle transition failed")
                                }
                            }
                        }
                    } else if !r.is_latest {
                        if let Some(d) = rule.noncurrent_expiration_days
                            && now_ms - r.superseded_at.unwrap_or(r.last_modified)
                                >= i64::from(d) * day_ms
                            && !r.locked(now, false)
                        {
                            match self.remove(
                                &b.name,
                                &r.key,
                                Some(&r.version_id),
                                false,
                                None,
                                now,
                            ) {
                                Ok(_) => actions.push(act("NoncurrentVersionExpiration".into())),
                                Err(e) => {
                                    tracing::warn!(bucket = %b.name, key = %r.key, error = %e, "lifecycle noncurrent expiration failed")
                                }
                            }
                        }
                    } else if rule.expired_object_delete_marker {
                        let others: i64 = self.conn().query_row(
                            "SELECT COUNT(*) FROM versions WHERE bucket = ?1 AND key = ?2 AND seq != ?3",
                            params![b.name, r.key, r.seq],
                            |x| x.get(0),
                        )?;
                        if others == 0 {
                            self.remove(&b.name, &r.key, Some(&r.version_id), false, None, now)?;
                            actions.push(act("ExpiredObjectDeleteMarker".into()));
                        }
                    }
                }
            }
        }
        if !actions.is_empty() {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            for a in &actions {
                tx.execute(
                    "INSERT INTO lifecycle_log (at, bucket, key, version_id, action) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![now_ms, a.bucket, a.key, a.version_id, a.action],
                )?;
            }
            tx.commit()?;
        }
        Ok(actions)
    }

    /// The recorded lifecycle actions of a bucket, oldest first.
    pub fn lifecycle_log(&self, bucket: &str) -> Result<Vec<LifecycleAction>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT bucket, key, version_id, action FROM lifecycle_log WHERE bucket = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![bucket], |r| {
            Ok(LifecycleAction {
                bucket: r.get(0)?,
                key: r.get(1)?,
                version_id: r.get(2)?,
                action: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves a version to `class`; archive classes are stored gzip-compacted (then
    /// encrypted again under the same data key), still readable.
    fn transition(&self, bucket: &str, r: &Row, class: &str) -> Result<()> {
        let blob_id = r.blob_id.clone().unwrap_or_default();
        let compress = is_archive(class) && !r.compressed;
        if compress {
            let body = self.read_body(bucket, r)?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&body)
                .map_err(|e| VaultError::Corrupt(e.to_string()))?;
            let packed = gz
                .finish()
                .map_err(|e| VaultError::Corrupt(e.to_string()))?;
            let dek = self.unwrap_key(bucket, r)?;
            let ct = crypto::encrypt_body(&dek, &format!("{blob_id}:gz"), &packed)
                .map_err(|e| VaultError::Corrupt(e.into()))?;
            self.write_blob(&self.blob_path(&blob_id, true), &ct)?;
        }
        let n = self.conn().execute(
            "UPDATE versions SET storage_class = ?2, compressed = ?3 WHERE seq = ?1",
            params![r.seq, class, compress || r.compressed],
        )?;
        if compress {
            if n == 1 {
                self.remove_blob(r);
            } else {
                let _ = std::fs::remove_file(self.blob_path(&blob_id, true));
            }
        }
        Ok(())
    }

    /// The directory holding the vault (`<data_dir>/buckets`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A fresh data key: (plaintext, wrapped, `AES256` or `aws:kms`, KMS key ARN).
pub(crate) type NewDataKey = (Zeroizing<[u8; 32]>, Vec<u8>, &'static str, Option<String>);

/// What [`Vault::commit_put`] records for a new version whose body is already on disk.
pub(crate) struct NewVersion<'a> {
    pub(crate) size: i64,
    pub(crate) etag: &'a str,
    pub(crate) req: &'a PutRequest,
    pub(crate) sse: &'a str,
    pub(crate) kms_arn: Option<&'a str>,
    pub(crate) wrapped: &'a [u8],
    pub(crate) blob_id: &'a str,
    pub(crate) retention: Option<Retention>,
}

fn bucket_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<BucketInfo> {
    let versioning: String = r.get(4)?;
    Ok(BucketInfo {
        name: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        created: OffsetDateTime::from_unix_timestamp(r.get(3)?)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        versioning: Versioning::from_db(&versioning),
        mfa_delete: r.get(5)?,
        object_lock: r.get(6)?,
    })
}

fn bucket_row(conn: &Connection, name: &str) -> Result<Option<BucketInfo>> {
    Ok(conn
        .query_row(
            "SELECT name, account, region, created, versioning, mfa_delete, object_lock
             FROM buckets WHERE name = ?1",
            params![name],
            bucket_info,
        )
        .optional()?)
}

/// S3's message when MFA delete is enabled on a bucket with a lifecycle configuration.
const MFA_WITH_LIFECYCLE: &str = "Mfa Authentication is not supported on a bucket with lifecycle configuration. Delete lifecycle configuration before enabling Mfa Authentication.";
/// The message when a lifecycle configuration is put on a bucket with MFA delete.
const LIFECYCLE_WITH_MFA: &str = "Lifecycle configuration is not supported on a bucket with MFA delete enabled. Disable MFA delete before adding a lifecycle configuration.";

fn put_doc_tx(conn: &Connection, bucket: &str, kind: DocKind, doc: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO docs (bucket, kind, doc) VALUES (?1, ?2, ?3)
         ON CONFLICT (bucket, kind) DO UPDATE SET doc = excluded.doc",
        params![bucket, kind.as_str(), doc],
    )?;
    Ok(())
}

pub(crate) fn get_doc_tx(conn: &Connection, bucket: &str, kind: DocKind) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT doc FROM docs WHERE bucket = ?1 AND kind = ?2",
            params![bucket, kind.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

fn latest_row(conn: &Connection, bucket: &str, key: &str) -> Result<Option<Row>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM versions WHERE bucket = ?1 AND key = ?2 AND is_latest = 1"
        ))?
        .query_row(params![bucket, key], row)
        .optional()?)
}

/// Deletes `key`'s `null` version, if any and not locked, and returns its row (whose body
/// the caller removes once the transaction commits).
fn drop_null_version(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    now: OffsetDateTime,
    bypass_governance: bool,
) -> Result<Option<Row>> {
    let Some(n) = version_row(tx, bucket, key, NULL_VERSION)? else {
        return Ok(None);
    };
    if n.locked(now, bypass_governance) {
        return Err(VaultError::ObjectLocked {
            key: key.to_owned(),
            version_id: n.version_id,
        });
    }
    tx.execute("DELETE FROM versions WHERE seq = ?1", params![n.seq])?;
    Ok(Some(n))
}

/// Marks `key`'s current version as superseded at `now`.
fn demote_latest(tx: &Transaction<'_>, bucket: &str, key: &str, now: OffsetDateTime) -> Result<()> {
    tx.execute(
        "UPDATE versions SET is_latest = 0, superseded_at = ?3
         WHERE bucket = ?1 AND key = ?2 AND is_latest = 1",
        params![bucket, key, to_ms(now)],
    )?;
    Ok(())
}

fn version_row(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<Row>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
        ))?
        .query_row(params![bucket, key, version_id], row)
        .optional()?)
}

fn promote_latest(tx: &Transaction<'_>, bucket: &str, key: &str) -> Result<()> {
    tx.execute(
        "UPDATE versions SET is_latest = 1 WHERE seq =
            (SELECT MAX(seq) FROM versions WHERE bucket = ?1 AND key = ?2)",
        params![bucket, key],
    )?;
    Ok(())
}
