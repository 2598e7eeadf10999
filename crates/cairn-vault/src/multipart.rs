//! S3 multipart uploads: an upload collects encrypted parts; completing it commits one object
//! version through the same path as [`Vault::put_object`] (`commit_put`: versioning, object
//! lock, put-if-absent).
//!
//! # Layout and encryption
//!
//! CreateMultipartUpload picks the body's blob id and its data key (SSE-S3 or the upload's
//! SSE-KMS key, chosen then) and stores the key wrapped, like a single PUT. Each part is one
//! file `.vault/mpu/<blob id>/<part id>`, `CVB1` AES-256-GCM under that data key with the
//! associated data naming `<blob id>/<part id>`, written atomically (fsync) before its row
//! commits. Nothing plaintext reaches the disk.
//!
//! Completion writes no second copy of the bytes: the object's body file
//! (`.vault/<shard>/<blob id>`) is a *manifest* (`CVM1` magic, sealed under the same data key
//! with associated data `<blob id>:manifest`) listing the part files in order, and reading
//! the object decrypts the parts one by one into the answer. A 100 MB upload needs one part
//! in memory at a time to upload and complete (reads still return the whole body, as every
//! GET in the vault does). Removing the version removes the part directory with it.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::crypto;
use crate::error::{Result, VaultError};
use crate::model::*;
use crate::vault::{NewVersion, Vault, from_ms, to_ms};

/// Step 2 of the vault schema: uploads in progress and their parts.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    sse TEXT NOT NULL,
    kms_key_arn TEXT,
    wrapped_key BLOB NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open');
CREATE INDEX IF NOT EXISTS uploads_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    part_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number));
";

/// The smallest part S3 accepts for any part but the last (5 MiB).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// Magic of a manifest body file (an object completed from parts).
const MANIFEST_MAGIC: &[u8; 4] = b"CVM1";

/// Whether a body file is a multipart manifest.
pub(crate) fn is_manifest(file: &[u8]) -> bool {
    file.starts_with(MANIFEST_MAGIC)
}

/// A started upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// Upload id.
    pub upload_id: String,
    /// Key.
    pub key: String,
    /// When it was created.
    pub initiated: OffsetDateTime,
    /// Storage class the object will have.
    pub storage_class: String,
    /// `AES256` or `aws:kms`.
    pub sse: String,
    /// KMS key ARN for `aws:kms`.
    pub kms_key_arn: Option<String>,
    /// The account the upload stores into (the bucket owner).
    pub owner: String,
}

/// One stored part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Part number (1..=10 000).
    pub part_number: u32,
    /// Hex MD5 of the part's bytes (no quotes).
    pub etag: String,
    /// Plaintext size.
    pub size: u64,
    /// When it was uploaded.
    pub last_modified: OffsetDateTime,
}

/// A ListParts page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartListing {
    /// The upload.
    pub upload: UploadInfo,
    /// Parts with numbers above the marker, ascending.
    pub parts: Vec<PartInfo>,
    /// More follow.
    pub is_truncated: bool,
    /// The last part number returned, when truncated.
    pub next_part_number_marker: Option<u32>,
}

/// A ListMultipartUploads page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadListing {
    /// Uploads, by key then upload id.
    pub uploads: Vec<UploadInfo>,
    /// More follow.
    pub is_truncated: bool,
    /// `NextKeyMarker`, when truncated.
    pub next_key_marker: Option<String>,
    /// `NextUploadIdMarker`, when truncated.
    pub next_upload_id_marker: Option<String>,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone, Default)]
pub struct CompleteRequest {
    /// (part number, ETag) in the order given; ETags may be quoted.
    pub parts: Vec<(u32, String)>,
    /// `If-None-Match: *`: fail when a current object exists.
    pub if_none_match: bool,
    /// `x-amz-bypass-governance-retention: true` (authorised by the caller).
    pub bypass_governance: bool,
    /// Who completes the upload (the `ObjectCreated:CompleteMultipartUpload` event's).
    pub origin: crate::events::EventOrigin,
}

/// The parts of a [`PutRequest`] an upload keeps from Create to Complete.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRequest {
    content_type: Option<String>,
    user_metadata: std::collections::BTreeMap<String, String>,
    storage_class: Option<String>,
    retention_mode: Option<RetentionMode>,
    retain_until: Option<i64>,
    legal_hold: bool,
    account: String,
}

impl StoredRequest {
    fn of(req: &PutRequest) -> Self {
        Self {
            content_type: req.content_type.clone(),
            user_metadata: req.user_metadata.clone(),
            storage_class: req.storage_class.clone(),
            retention_mode: req.retention.map(|r| r.mode),
            retain_until: req.retention.map(|r| r.retain_until.unix_timestamp()),
            legal_hold: req.legal_hold,
            account: req.account.clone(),
        }
    }

    fn put_request(self, c: &CompleteRequest) -> PutRequest {
        let retention = match (self.retention_mode, self.retain_until) {
            (Some(mode), Some(t)) => OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .map(|retain_until| Retention { mode, retain_until }),
            _ => None,
        };
        PutRequest {
            content_type: self.content_type,
            user_metadata: self.user_metadata,
            sse: SseRequest::BucketDefault,
            if_none_match: c.if_none_match,
            retention,
            legal_hold: self.legal_hold,
            bypass_governance: c.bypass_governance,
            storage_class: self.storage_class,
            account: self.account,
            created_by: crate::events::CreatedBy::CompleteMultipartUpload,
            origin: c.origin.clone(),
        }
    }
}

/// The body of a completed object: its part files, in order.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    parts: Vec<ManifestPart>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestPart {
    id: String,
    size: u64,
}

/// An upload's row.
struct Upload {
    bucket: String,
    key: String,
    initiated: i64,
    blob_id: String,
    sse: String,
    kms_key_arn: Option<String>,
    wrapped_key: Vec<u8>,
    request: String,
    state: String,
}

const UPLOAD_COLS: &str =
    "bucket, key, initiated, blob_id, sse, kms_key_arn, wrapped_key, request, state, upload_id";

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Upload)> {
    Ok((
        r.get(9)?,
        Upload {
            bucket: r.get(0)?,
            key: r.get(1)?,
            initiated: r.get(2)?,
            blob_id: r.get(3)?,
            sse: r.get(4)?,
            kms_key_arn: r.get(5)?,
            wrapped_key: r.get(6)?,
            request: r.get(7)?,
            state: r.get(8)?,
        },
    ))
}

impl Upload {
    fn info(&self, upload_id: &str, owner: &str) -> UploadInfo {
        let class = serde_json::from_str::<StoredRequest>(&self.request)
            .ok()
            .and_then(|r| r.storage_class);
        UploadInfo {
            upload_id: upload_id.to_owned(),
            key: self.key.clone(),
            initiated: from_ms(self.initiated),
            storage_class: class.unwrap_or_else(|| "STANDARD".to_owned()),
            sse: self.sse.clone(),
            kms_key_arn: self.kms_key_arn.clone(),
            owner: owner.to_owned(),
        }
    }
}

/// A part and the id of its file.
type StoredPart = (PartInfo, String);

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPart> {
    Ok((
        PartInfo {
            part_number: r.get(0)?,
            etag: r.get(1)?,
            size: r.get::<_, i64>(2)?.max(0) as u64,
            last_modified: from_ms(r.get(3)?),
        },
        r.get(4)?,
    ))
}

fn no_such_upload(upload_id: &str) -> VaultError {
    VaultError::NoSuchUpload {
        upload_id: upload_id.to_owned(),
    }
}

fn corrupt(e: impl std::fmt::Display) -> VaultError {
    VaultError::Corrupt(e.to_string())
}

/// S3's ETag of a completed upload: hex MD5 of the concatenated binary part MD5s, `-<n>`.
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> Result<String> {
    let mut digests = Vec::new();
    let mut n = 0usize;
    for e in part_etags {
        let bin = (0..e.len())
            .step_by(2)
            .map(|i| e.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| VaultError::InvalidPart(format!("bad part ETag {e}")))?;
        digests.extend_from_slice(&bin);
        n += 1;
    }
    Ok(format!("{}-{n}", cairn_store::md5_hex(&digests)))
}

/// Deletes the rows of every upload into `bucket` (inside the caller's transaction) and
/// returns their blob ids, whose part files the caller removes once it commits.
pub(crate) fn drop_bucket_uploads(
    tx: &rusqlite::Transaction<'_>,
    bucket: &str,
) -> Result<Vec<String>> {
    let ids = tx
        .prepare("SELECT blob_id FROM uploads WHERE bucket = ?1")?
        .query_map(params![bucket], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    tx.execute(
        "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?1)",
        params![bucket],
    )?;
    tx.execute("DELETE FROM uploads WHERE bucket = ?1", params![bucket])?;
    Ok(ids)
}

impl Vault {
    fn parts_dir(&self, blob_id: &str) -> PathBuf {
        self.blobs.join("mpu").join(blob_id)
    }

    fn part_path(&self, blob_id: &str, part_id: &str) -> PathBuf {
        self.parts_dir(blob_id).join(part_id)
    }

    /// Removes the part files of body `blob_id` (nothing when it has none).
    pub(crate) fn remove_parts(&self, blob_id: &str) {
        let dir = self.parts_dir(blob_id);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove upload parts");
        }
    }

    fn remove_part_file(&self, blob_id: &str, part_id: &str) {
        let p = self.part_path(blob_id, part_id);
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "cannot remove upload part");
        }
    }

    /// The upload `upload_id` of `bucket`/`key` (any state).
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(&format!(
                "SELECT {UPLOAD_COLS} FROM uploads WHERE upload_id = ?1"
            ))?
            .query_row(params![upload_id], upload_row)
            .optional()?;
        match found {
            Some((_, u)) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(no_such_upload(upload_id)),
        }
    }

    /// The upload `upload_id` of `bucket`/`key` (`NoSuchUpload` when it is not one).
    pub fn upload_info(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        let b = self.bucket(bucket)?;
        Ok(self
            .upload(bucket, key, upload_id)?
            .info(upload_id, &b.account))
    }

    fn upload_dek(&self, u: &Upload) -> Result<Zeroizing<[u8; 32]>> {
        self.unwrap_dek(&u.bucket, &u.key, &u.sse, &u.blob_id, &u.wrapped_key)
    }

    /// CreateMultipartUpload: starts an upload of `key`. Its encryption (the request's, else
    /// the bucket default, else SSE-S3) and data key are chosen now; retention and legal hold
    /// are checked now and applied at completion.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        req: &PutRequest,
        now: OffsetDateTime,
    ) -> Result<UploadInfo> {
        cairn_store::validate_key(key).map_err(|e| VaultError::InvalidArgument(e.to_string()))?;
        let b = self.bucket(bucket)?;
        self.retention_for(&b, req, now)?;
        let blob_id = uuid::Uuid::new_v4().simple().to_string();
        let (_dek, wrapped, sse, kms_arn) = self.new_data_key(&b, key, req, &blob_id)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let stored = serde_json::to_string(&StoredRequest::of(req)).map_err(corrupt)?;
        self.conn().execute(
            "INSERT INTO uploads (upload_id, bucket, key, initiated, blob_id, sse, kms_key_arn,
                wrapped_key, request) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                upload_id,
                bucket,
                key,
                to_ms(now),
                blob_id,
                sse,
                kms_arn,
                wrapped,
                stored
            ],
        )?;
        let u = self.upload(bucket, key, &upload_id)?;
        Ok(u.info(&upload_id, &b.account))
    }

    /// UploadPart: stores part `part_number` (replacing an earlier one with that number).
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<PartInfo> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(VaultError::InvalidArgument(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )));
        }
        self.bucket(bucket)?;
        let u = self.upload(bucket, key, upload_id)?;
        if u.state != "open" {
            return Err(no_such_upload(upload_id));
        }
        let dek = self.upload_dek(&u)?;
        let part_id = uuid::Uuid::new_v4().simple().to_string();
        let ct = crypto::encrypt_body(&dek, &format!("{}/{part_id}", u.blob_id), body)
            .map_err(corrupt)?;
        drop(dek);
        let path = self.part_path(&u.blob_id, &part_id);
        self.write_blob(&path, &ct)?;
        drop(ct);
        let info = PartInfo {
            part_number,
            etag: cairn_store::md5_hex(body),
            size: body.len() as u64,
            last_modified: from_ms(to_ms(now)),
        };
        let replaced = (|| -> Result<Option<String>> {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let open: Option<String> = tx
                .query_row(
                    "SELECT state FROM uploads WHERE upload_id = ?1",
                    params![upload_id],
                    |r| r.get(0),
                )
                .optional()?;
            if open.as_deref() != Some("open") {
                return Err(no_such_upload(upload_id));
            }
            let old: Option<String> = tx
                .query_row(
                    "SELECT part_id FROM parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![upload_id, part_number],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO parts (upload_id, part_number, part_id, size, etag, last_modified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (upload_id, part_number) DO UPDATE SET part_id = excluded.part_id,
                    size = excluded.size, etag = excluded.etag,
                    last_modified = excluded.last_modified",
                params![
                    upload_id,
                    part_number,
                    part_id,
                    body.len() as i64,
                    info.etag,
                    to_ms(now)
                ],
            )?;
            tx.commit()?;
            Ok(old)
        })();
        match replaced {
            Ok(old) => {
                if let Some(old) = old {
                    self.remove_part_file(&u.blob_id, &old);
                }
                Ok(info)
            }
            Err(e) => {
                self.remove_part_file(&u.blob_id, &part_id);
                Err(e)
            }
        }
    }

    /// The parts of an upload with their part ids, ascending.
    fn stored_parts(&self, upload_id: &str) -> Result<Vec<StoredPart>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT part_number, etag, size, last_modified, part_id FROM parts
             WHERE upload_id = ?1 ORDER BY part_number",
        )?;
        let rows = stmt.query_map(params![upload_id], part_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves an upload from state `from` to `to`; false when it was not in `from`.
    fn set_upload_state(&self, upload_id: &str, from: &str, to: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE uploads SET state = ?3 WHERE upload_id = ?1 AND state = ?2",
            params![upload_id, from, to],
        )? == 1)
    }

    /// CompleteMultipartUpload: checks the listed parts (ascending numbers, each uploaded with
    /// that ETag, all but the last at least [`MIN_PART_SIZE`]), then commits the object as a
    /// put does. The upload is gone afterwards; parts not listed are removed.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        c: &CompleteRequest,
        now: OffsetDateTime,
    ) -> Result<PutOutcome> {
        let b = self.bucket(bucket)?;
        let u = self.upload(bucket, key, upload_id)?;
        // One completion at a time; parts can no longer change underneath it.
        if !self.set_upload_state(upload_id, "open", "completing")? {
            return Err(no_such_upload(upload_id));
        }
        let result = self.finish_upload(&b, &u, upload_id, c, now);
        if result.is_err() {
            self.set_upload_state(upload_id, "completing", "open")?;
        }
        result
    }

    /// The chosen parts of a completing upload, checked against the request.
    fn chosen_parts(
        &self,
        upload_id: &str,
        c: &CompleteRequest,
    ) -> Result<(Vec<StoredPart>, Vec<String>)> {
        if c.parts.is_empty() {
            return Err(VaultError::InvalidRequest(
                "You must specify at least one part".into(),
            ));
        }
        let mut stored: std::collections::BTreeMap<u32, StoredPart> = self
            .stored_parts(upload_id)?
            .into_iter()
            .map(|p| (p.0.part_number, p))
            .collect();
        let mut chosen = Vec::with_capacity(c.parts.len());
        let mut last = 0u32;
        for (n, etag) in &c.parts {
            if *n <= last {
                return Err(VaultError::InvalidPartOrder);
            }
            last = *n;
            let want = etag.trim().trim_matches('"');
            match stored.remove(n) {
                Some(p) if p.0.etag == want => chosen.push(p),
                _ => {
                    return Err(VaultError::InvalidPart(format!(
                        "part {n} with ETag {want} was not uploaded"
                    )));
                }
            }
        }
        if let Some((p, _)) = chosen[..chosen.len() - 1]
            .iter()
            .find(|(p, _)| p.size < MIN_PART_SIZE)
        {
            return Err(VaultError::EntityTooSmall {
                part_number: p.part_number,
            });
        }
        let unused = stored.into_values().map(|(_, id)| id).collect();
        Ok((chosen, unused))
    }

    fn finish_upload(
        &self,
        b: &BucketInfo,
        u: &Upload,
        upload_id: &str,
        c: &CompleteRequest,
        now: OffsetDateTime,
    ) -> Result<PutOutcome> {
        let (chosen, unused) = self.chosen_parts(upload_id, c)?;
        let etag = multipart_etag(chosen.iter().map(|(p, _)| p.etag.as_str()))?;
        let size: u64 = chosen.iter().map(|(p, _)| p.size).sum();
        let manifest = Manifest {
            parts: chosen
                .iter()
                .map(|(p, id)| ManifestPart {
                    id: id.clone(),
                    size: p.size,
                })
                .collect(),
        };
        let json = serde_json::to_vec(&manifest).map_err(corrupt)?;
        let dek = self.upload_dek(u)?;
        let sealed = crypto::encrypt_body(&dek, &format!("{}:manifest", u.blob_id), &json)
            .map_err(corrupt)?;
        drop(dek);
        let mut file = MANIFEST_MAGIC.to_vec();
        file.extend_from_slice(&sealed[crypto::BODY_MAGIC.len()..]);
        let path = self.blob_path(&u.blob_id, false);
        self.write_blob(&path, &file)?;
        let req: StoredRequest = serde_json::from_str(&u.request).map_err(corrupt)?;
        let req = req.put_request(c);
        let committed = self.retention_for(b, &req, now).and_then(|retention| {
            self.commit_put(
                b,
                &u.key,
                &NewVersion {
                    size: size as i64,
                    etag: &etag,
                    req: &req,
                    sse: &u.sse,
                    kms_arn: u.kms_key_arn.as_deref(),
                    wrapped: &u.wrapped_key,
                    blob_id: &u.blob_id,
                    retention,
                },
                now,
            )
        });
        let (version_id, obsolete) = match committed {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        // The object is committed: whatever happens now, the answer is success. An upload
        // row left behind stays in completion, where abort keeps the object's parts.
        if let Err(e) = self.forget_upload(upload_id) {
            tracing::warn!(upload_id, error = %e, "completed upload not forgotten");
        }
        for id in &unused {
            self.remove_part_file(&u.blob_id, id);
        }
        for r in &obsolete {
            self.remove_blob(r);
        }
        Ok(PutOutcome {
            version_id,
            etag,
            sse: u.sse.clone(),
            kms_key_arn: u.kms_key_arn.clone(),
        })
    }

    /// Deletes an upload's rows.
    fn forget_upload(&self, upload_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM parts WHERE upload_id = ?1", params![upload_id])?;
        tx.execute(
            "DELETE FROM uploads WHERE upload_id = ?1",
            params![upload_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// AbortMultipartUpload: forgets the upload and removes its part files. (An upload left
    /// in completion by a crash after its object committed keeps its files: they are the
    /// object's body.)
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.bucket(bucket)?;
        let u = self.upload(bucket, key, upload_id)?;
        if u.state == "completing" {
            let used: bool = self.conn().query_row(
                "SELECT EXISTS (SELECT 1 FROM versions WHERE bucket = ?1 AND key = ?2 AND blob_id = ?3)",
                params![bucket, key, u.blob_id],
                |r| r.get(0),
            )?;
            if used {
                return self.forget_upload(upload_id);
            }
        }
        self.forget_upload(upload_id)?;
        self.remove_parts(&u.blob_id);
        Ok(())
    }

    /// ListParts: the upload's parts numbered above `marker`, at most `max`.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> Result<PartListing> {
        let upload = self.upload_info(bucket, key, upload_id)?;
        let mut parts: Vec<PartInfo> = self
            .stored_parts(upload_id)?
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.part_number > marker)
            .collect();
        let is_truncated = parts.len() > max;
        parts.truncate(max);
        Ok(PartListing {
            upload,
            next_part_number_marker: is_truncated
                .then(|| parts.last().map(|p| p.part_number))
                .flatten(),
            parts,
            is_truncated,
        })
    }

    /// ListMultipartUploads: uploads in progress whose key starts with `prefix`, after
    /// (`key_marker`, `upload_id_marker`), by key then upload id; at most `max`.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadListing> {
        let b = self.bucket(bucket)?;
        let km = key_marker.unwrap_or("");
        let um = upload_id_marker.filter(|_| !km.is_empty()).unwrap_or("");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE bucket = ?1 AND state = 'open'
               AND key >= ?2 AND (key > ?3 OR (key = ?3 AND upload_id > ?4))
             ORDER BY key, upload_id LIMIT ?5"
        ))?;
        let limit = i64::try_from(max.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![bucket, prefix, km, um, limit], upload_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = UploadListing::default();
        for (id, u) in rows {
            if !u.key.starts_with(prefix) {
                break;
            }
            if out.uploads.len() == max {
                out.is_truncated = true;
                break;
            }
            out.next_key_marker = Some(u.key.clone());
            out.next_upload_id_marker = Some(id.clone());
            out.uploads.push(u.info(&id, &b.account));
        }
        if !out.is_truncated {
            out.next_key_marker = None;
            out.next_upload_id_marker = None;
        }
        Ok(out)
    }

    /// The plaintext of a completed upload's body: manifest `file`, then each part in turn.
    pub(crate) fn read_parts(
        &self,
        dek: &[u8; 32],
        blob_id: &str,
        file: &[u8],
        size: i64,
    ) -> Result<Vec<u8>> {
        let tampered = |what: &str, e: &str| VaultError::Tampered(format!("{what}: {e}"));
        let mut sealed = crypto::BODY_MAGIC.to_vec();
        sealed.extend_from_slice(&file[MANIFEST_MAGIC.len()..]);
        let json = crypto::decrypt_body(dek, &format!("{blob_id}:manifest"), &sealed)
            .map_err(|e| tampered("upload manifest", e))?;
        let m: Manifest = serde_json::from_slice(&json).map_err(corrupt)?;
        let total: u64 = m.parts.iter().map(|p| p.size).sum();
        if i64::try_from(total).ok() != Some(size) {
            return Err(VaultError::Tampered(
                "upload manifest size differs from the object's".into(),
            ));
        }
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for p in &m.parts {
            let path = self.part_path(blob_id, &p.id);
            let ct = std::fs::read(&path).map_err(|e| VaultError::io(&path, e))?;
            let pt = crypto::decrypt_body(dek, &format!("{blob_id}/{}", p.id), &ct)
                .map_err(|e| tampered("upload part", e))?;
            out.extend_from_slice(&pt);
        }
        Ok(out)
    }
}
