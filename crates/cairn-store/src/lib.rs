//! Buckets: where Cairn delivers CloudTrail log files and digest files.
//!
//! A [`Bucket`] is a small, S3-shaped object store: whole-object `put`/`get`/`head`/`delete` and
//! a byte-ordered `list` with S3 ListObjects v1 `Marker` semantics. Three backends implement it:
//!
//! - `cairn_vault::VaultBucket`: Cairn's one local object store (encrypted, versioned,
//!   object lock) under `<data_dir>/buckets` (the default deployment; ADR 0011).
//! - [`S3Bucket`]: any S3-compatible service (AWS S3, MinIO, Ceph RGW, Garage, R2, moto).
//! - [`MemoryBucket`]: in memory, for other crates' unit tests.
//!
//! `cairn_vault::open_bucket` builds one from a [`BucketConfig`]. One conformance suite,
//! [`testkit::conformance`], runs against every backend (memory, vault, and S3 against a real
//! `moto_server`) so they behave alike.
//!
//! # Guarantees (all backends)
//!
//! - **Atomic objects**: a reader sees either no object or a complete object with its metadata,
//!   never a partial one; an overwrite is seen entirely old or entirely new.
//! - **Put-if-absent**: [`PutMode::CreateOnly`] (the default) fails with
//!   [`ErrorClass::AlreadyExists`] if the key exists, atomically on the vault and memory
//!   backends and on S3 services that honour `If-None-Match: *` (see [`S3Bucket`] for the
//!   fallback). [`put_idempotent`] turns that into safe replay: identical bytes succeed,
//!   different bytes fail with [`ErrorClass::PreconditionFailed`].
//! - **Byte order**: [`Bucket::list`] returns keys in ascending byte (UTF-8) order, the order
//!   `aws cloudtrail validate-logs` relies on (`spec/cloudtrail-formats.md` §2.4).
//! - **Same rules everywhere**: keys are checked by [`validate_key`], metadata by
//!   [`normalize_user_metadata`] (names come back lower-cased, as S3 returns them) on every
//!   backend before any I/O.
//! - **Error classes**: every error has an [`ErrorClass`]; retry only on
//!   [`ErrorClass::Transient`]. Backends do at most the retries configured (S3 default: none),
//!   since the delivery pipeline retries with its own backoff.
//!
//! # S3 client choice
//!
//! [`S3Bucket`] uses `object_store` (feature `aws`, from the Apache Arrow project) rather than
//! `aws-sdk-s3`: it covers every need here (user metadata as `x-amz-meta-*`, put-if-absent as
//! `If-None-Match: *`, SSE-S3/SSE-KMS headers, `ListObjectsV2` with raw prefix, `start-after`
//! and `max-keys`, connect timeout and retry control, typed errors), shares reqwest, rustls
//! and aws-lc-rs with the rest of the tree, and builds in a fraction of the SDK's time on two
//! cores. Its one limit, SSE chosen per client rather than per request, is handled by keeping
//! one client per SSE setting.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use bytes::Bytes;
//! use cairn_store::{Bucket, ErrorClass, MemoryBucket, PutOptions};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let bucket = MemoryBucket::new("trail-logs");
//! let key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz";
//! let mut meta = BTreeMap::new();
//! meta.insert("Signature".to_owned(), "00ff".to_owned());
//! let opts = PutOptions { user_metadata: meta, ..PutOptions::default() };
//! bucket.put(key, Bytes::from_static(b"digest"), opts.clone()).await?;
//!
//! // Put-if-absent is the default: a second put of the key is refused...
//! let err = bucket.put(key, Bytes::from_static(b"other"), opts.clone()).await.unwrap_err();
//! assert_eq!(err.class(), ErrorClass::AlreadyExists);
//! // ...but replaying the same bytes is harmless.
//! cairn_store::put_idempotent(&bucket, key, Bytes::from_static(b"digest"), opts).await?;
//!
//! let obj = bucket.get(key).await?;
//! assert_eq!(obj.meta.user_metadata["signature"], "00ff");
//! let page = bucket.list("AWSLogs/", None, 1000).await?;
//! assert_eq!(page.entries[0].key, key);
//! # Ok::<(), cairn_store::Error>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;

use bytes::Bytes;
use time::OffsetDateTime;

mod config;
mod error;
mod memory;
mod s3;
pub mod testkit;
mod validate;

pub use config::{BucketConfig, ConditionalPut, LocalConfig, S3Config, Secret};
pub use error::{BoxError, Error, ErrorClass, ErrorContext, Op, Result};
pub use memory::MemoryBucket;
pub use s3::{S3Bucket, S3Options};
pub use validate::{
    MAX_KEY_LEN, MAX_USER_METADATA_LEN, md5_hex, normalize_user_metadata, validate_content_type,
    validate_key,
};

/// A boxed, `Send` future: what [`Bucket`] methods return, so the trait stays usable as
/// `dyn Bucket`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Largest page [`Bucket::list`] returns (S3's `max-keys` ceiling).
pub const MAX_LIST_PAGE: usize = 1000;

/// How [`Bucket::put`] treats an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Replace any existing object.
    Overwrite,
    /// Put-if-absent: fail with [`ErrorClass::AlreadyExists`] if the key exists. The default,
    /// because log and digest files are never overwritten.
    #[default]
    CreateOnly,
}

/// Server-side encryption requested for an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Sse {
    /// No encryption header (the bucket's default encryption applies on S3).
    #[default]
    None,
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS: `x-amz-server-side-encryption: aws:kms` and
    /// `x-amz-server-side-encryption-aws-kms-key-id: <key_id>`.
    Kms {
        /// KMS key id or ARN.
        key_id: String,
    },
}

/// Options of [`Bucket::put`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Overwrite or put-if-absent (default: put-if-absent).
    pub mode: PutMode,
    /// `Content-Type` to store; `None` leaves the backend's default (S3:
    /// `binary/octet-stream`, local and memory: none).
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-<name>`). Names are lower-cased on store.
    pub user_metadata: BTreeMap<String, String>,
    /// Server-side encryption.
    pub sse: Sse,
}

/// What a successful put returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// ETag without quotes (lowercase hex MD5 on the local and memory backends).
    pub etag: Option<String>,
}

/// Attributes of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object key.
    pub key: String,
    /// Size of the object body in bytes.
    pub size: u64,
    /// ETag without quotes (lowercase hex MD5 on the local and memory backends).
    pub etag: Option<String>,
    /// Last modification time (second precision on S3).
    pub last_modified: OffsetDateTime,
    /// Stored `Content-Type`, if any.
    pub content_type: Option<String>,
    /// User metadata, names lower-cased.
    pub user_metadata: BTreeMap<String, String>,
}

/// A whole object: body and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The body.
    pub bytes: Bytes,
    /// Its attributes.
    pub meta: ObjectMeta,
}

/// One key of a listing (what S3 ListObjects returns per key: no user metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// Last modification time.
    pub last_modified: OffsetDateTime,
}

/// One page of [`Bucket::list`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Keys in ascending byte order.
    pub entries: Vec<ListEntry>,
    /// True when more keys follow; ask again with `marker = next_marker`.
    pub is_truncated: bool,
    /// The last key of this page when truncated (S3 v1 clients use the last key as marker).
    pub next_marker: Option<String>,
}

impl From<&ObjectMeta> for ListEntry {
    fn from(m: &ObjectMeta) -> Self {
        ListEntry {
            key: m.key.clone(),
            size: m.size,
            etag: m.etag.clone(),
            last_modified: m.last_modified,
        }
    }
}

impl ListPage {
    /// A page of `entries`; `more` says whether keys follow them, and then the last entry's
    /// key becomes [`ListPage::next_marker`]. An empty page is never truncated.
    pub fn new(entries: Vec<ListEntry>, more: bool) -> Self {
        let next_marker = more
            .then(|| entries.last().map(|e| e.key.clone()))
            .flatten();
        ListPage {
            is_truncated: next_marker.is_some(),
            entries,
            next_marker,
        }
    }

    /// One [`Bucket::list`] page over `objects`, a backend's `(key, object)` pairs in ascending
    /// key byte order starting at [`list_range`]`(prefix, marker)`: the keys that start with
    /// `prefix`, at most `max` of them (clamped to `1..=`[`MAX_LIST_PAGE`]), truncated when
    /// another such key follows. `entry` is called only for the objects on the page, so a
    /// backend may read attributes lazily; its first error is returned.
    pub fn from_sorted<'k, T, E>(
        objects: impl IntoIterator<Item = (&'k str, T)>,
        prefix: &str,
        max: usize,
        mut entry: impl FnMut(&'k str, T) -> std::result::Result<ListEntry, E>,
    ) -> std::result::Result<ListPage, E> {
        let mut objects = objects
            .into_iter()
            .take_while(|(key, _)| key.starts_with(prefix));
        let mut entries = Vec::new();
        for (key, object) in objects.by_ref().take(clamp_max(max)) {
            entries.push(entry(key, object)?);
        }
        let more = objects.next().is_some();
        Ok(ListPage::new(entries, more))
    }
}

/// Where a [`Bucket::list`] of `prefix` after `marker` starts, as a key range: from the later
/// of `prefix` (included) and `marker` (excluded), unbounded above. Use it with
/// `BTreeMap::range` or, on a sorted slice, `partition_point` and `RangeBounds::contains`.
pub fn list_range<'a>(
    prefix: &'a str,
    marker: Option<&'a str>,
) -> (Bound<&'a str>, Bound<&'a str>) {
    let lower = match marker {
        Some(m) if m >= prefix => Bound::Excluded(m),
        _ => Bound::Included(prefix),
    };
    (lower, Bound::Unbounded)
}

/// The bucket abstraction every backend implements.
///
/// Methods take `&self` and may run concurrently from many tasks. Every method validates its
/// key ([`validate_key`]) before any I/O and fails with [`ErrorClass::InvalidInput`] on a bad
/// one. Methods return boxed futures so that `dyn Bucket` works.
pub trait Bucket: Send + Sync + std::fmt::Debug {
    /// The bucket's name (the CloudTrail `S3BucketName`).
    fn name(&self) -> &str;

    /// The backend's name: `"memory"`, `"vault"`, `"legacy"` or `"s3"`; used in error context.
    fn backend(&self) -> &'static str;

    /// Stores `bytes` under `key` with `opts`.
    ///
    /// - **Atomicity**: the object and its metadata become visible together, complete, or not
    ///   at all; a failed or interrupted put leaves the previous state.
    /// - **Idempotency**: with [`PutMode::Overwrite`], repeating the call gives the same state.
    ///   With [`PutMode::CreateOnly`], a second call fails with [`ErrorClass::AlreadyExists`]
    ///   whatever the bytes; use [`put_idempotent`] for replay.
    /// - **Ordering**: once this returns `Ok`, every later `get`/`head`/`list` (from any task)
    ///   sees the object. On the vault backend the object is also durable (fsynced) by then.
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        opts: PutOptions,
    ) -> BoxFuture<'a, Result<PutResult>>;

    /// Reads a whole object and its attributes.
    ///
    /// - **Atomicity**: body and attributes come from the same version of the object.
    /// - **Idempotency**: read-only.
    /// - **Ordering**: sees every put that returned before the call; fails with
    ///   [`ErrorClass::NotFound`] if the key does not exist.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Object>>;

    /// Reads an object's attributes without its body.
    ///
    /// Same atomicity, idempotency and ordering as [`Bucket::get`].
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>>;

    /// Lists keys that start with `prefix` (a plain string prefix; `""` lists everything) and
    /// are strictly greater than `marker`, in ascending byte order, at most `max` of them
    /// (`max` is clamped to `1..=`[`MAX_LIST_PAGE`]).
    ///
    /// - **Semantics**: S3 ListObjects v1 with `Prefix`, `Marker` and `MaxKeys` (no
    ///   delimiter). The marker need not be an existing key.
    /// - **Atomicity**: none across pages; a page may or may not include objects put or deleted
    ///   while listing, but never a partial object.
    /// - **Idempotency**: read-only.
    /// - **Ordering**: ascending byte order within and across pages.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<ListPage>>;

    /// Deletes an object.
    ///
    /// - **Atomicity**: the object disappears entirely, at once.
    /// - **Idempotency**: deleting a missing key succeeds (as on S3).
    /// - **Ordering**: once this returns `Ok`, later `get`/`head` fail with
    ///   [`ErrorClass::NotFound`] and `list` omits the key.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;
}

/// What [`put_idempotent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentPut {
    /// True when this call stored the object; false when identical bytes were already there.
    pub created: bool,
    /// ETag of the stored object, when known.
    pub etag: Option<String>,
}

/// Put-if-absent that tolerates replay: the delivery pipeline's way to store a log or digest
/// file.
///
/// Puts with [`PutMode::CreateOnly`] (whatever `opts.mode` says). If the key already exists, the
/// stored body is read and compared byte for byte with `bytes` (ETags are not trusted: SSE-KMS
/// ETags are not MD5s): identical bodies succeed with `created: false`, different bodies fail
/// with [`ErrorClass::PreconditionFailed`]. Metadata of the existing object is not compared (a
/// digest's signature is a function of its bytes). Costs one extra GET, only on replay.
pub async fn put_idempotent(
    bucket: &dyn Bucket,
    key: &str,
    bytes: Bytes,
    mut opts: PutOptions,
) -> Result<IdempotentPut> {
    opts.mode = PutMode::CreateOnly;
    // Two rounds: the existing object may be deleted between our put and our get.
    for _ in 0..2 {
        match bucket.put(key, bytes.clone(), opts.clone()).await {
            Ok(r) => {
                return Ok(IdempotentPut {
                    created: true,
                    etag: r.etag,
                });
            }
            Err(e) if e.class() == ErrorClass::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        match bucket.get(key).await {
            Ok(existing) if existing.bytes == bytes => {
                return Ok(IdempotentPut {
                    created: false,
                    etag: existing.meta.etag,
                });
            }
            Ok(_) => {
                return Err(Error::PreconditionFailed {
                    backend: bucket.backend(),
                    bucket: bucket.name().to_owned(),
                    key: key.to_owned(),
                    reason: "an object with different content already exists",
                });
            }
            Err(e) if e.class() == ErrorClass::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::PreconditionFailed {
        backend: bucket.backend(),
        bucket: bucket.name().to_owned(),
        key: key.to_owned(),
        reason: "object kept appearing and disappearing during an idempotent put",
    })
}

/// Lists every key under `prefix` by following markers (convenience for tools and tests; use
/// [`Bucket::list`] pages for large buckets).
pub async fn list_all(bucket: &dyn Bucket, prefix: &str) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = bucket
            .list(prefix, marker.as_deref(), MAX_LIST_PAGE)
            .await?;
        out.extend(page.entries);
        match (page.is_truncated, page.next_marker) {
            (true, Some(next)) => marker = Some(next),
            _ => return Ok(out),
        }
    }
}

/// Checks a put's inputs once for all backends; returns the normalised metadata.
pub(crate) fn check_put(key: &str, opts: &PutOptions) -> Result<BTreeMap<String, String>> {
    validate_key(key)?;
    if let Some(ct) = &opts.content_type {
        validate_content_type(ct)?;
    }
    if let Sse::Kms { key_id } = &opts.sse
        && (key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(Error::InvalidMetadata {
            name: "x-amz-server-side-encryption-aws-kms-key-id".to_owned(),
            reason: "kms key id must be non-empty printable US-ASCII without blanks",
        });
    }
    normalize_user_metadata(&opts.user_metadata)
}

/// Clamps a requested page size to `1..=MAX_LIST_PAGE`.
pub(crate) fn clamp_max(max: usize) -> usize {
    max.clamp(1, MAX_LIST_PAGE)
}

#[cfg(test)]
mod tests {
    use std::ops::RangeBounds;

    use super::*;

    #[test]
    fn defaults_are_put_if_absent_without_sse() {
        let o = PutOptions::default();
        assert_eq!(o.mode, PutMode::CreateOnly);
        assert_eq!(o.sse, Sse::None);
        assert_eq!(clamp_max(0), 1);
        assert_eq!(clamp_max(5000), MAX_LIST_PAGE);
    }

    #[test]
    fn from_sorted_pages_lazily_within_the_prefix() {
        let keys = ["a", "b/1", "b/2", "b/3", "c"];
        let entry = |key: &str| ListEntry {
            key: key.to_owned(),
            size: 0,
            etag: None,
            last_modified: OffsetDateTime::UNIX_EPOCH,
        };
        let page_of = |prefix: &str, marker: Option<&str>, max: usize| {
            let range = list_range(prefix, marker);
            let objects = keys
                .iter()
                .filter(|k| RangeBounds::<str>::contains(&range, **k))
                .map(|k| (*k, ()));
            let mut read = Vec::new();
            let page = ListPage::from_sorted(objects, prefix, max, |k, ()| {
                read.push(k.to_owned());
                Ok::<_, ()>(entry(k))
            })
            .unwrap();
            let keys: Vec<_> = page.entries.iter().map(|e| e.key.clone()).collect();
            (keys, page.is_truncated, page.next_marker, read)
        };
        let (keys, truncated, next, read) = page_of("b/", None, 2);
        assert_eq!(
            (keys, truncated, next),
            (vec!["b/1".into(), "b/2".into()], true, Some("b/2".into()))
        );
        assert_eq!(read, ["b/1", "b/2"], "only the page's objects are read");
        let (keys, truncated, next, _) = page_of("b/", Some("b/2"), 2);
        assert_eq!((keys, truncated, next), (vec!["b/3".into()], false, None));
        // A marker before the prefix starts at the prefix; max is clamped to at least 1.
        let (keys, truncated, _, _) = page_of("b/", Some("a"), 0);
        assert_eq!((keys, truncated), (vec!["b/1".to_owned()], true));
        let failed =
            ListPage::from_sorted([("a", ())], "", 10, |_, ()| Err::<ListEntry, _>("boom"));
        assert_eq!(failed, Err("boom"));
        assert_eq!(ListPage::new(Vec::new(), true), ListPage::default());
    }

    #[test]
    fn check_put_rejects_bad_kms_key_id() {
        let opts = PutOptions {
            sse: Sse::Kms {
                key_id: "has space".into(),
            },
            ..PutOptions::default()
        };
        assert_eq!(
            check_put("k", &opts).unwrap_err().class(),
            ErrorClass::InvalidInput
        );
    }
}
