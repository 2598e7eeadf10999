//! Cairn's local object store: the buckets Cairn serves through its S3 endpoint and delivers
//! log and digest files into.
//!
//! A [`Vault`] lives in `<data_dir>/buckets/`: one SQLite database (`vault.sqlite`, WAL,
//! `synchronous=FULL`) holds buckets, their configuration documents (policy, lifecycle,
//! default encryption, public access block, object lock) and every object version; bodies
//! live in files under `.vault/`, written atomically (temp file, fsync, rename, fsync of the
//! directory) before the metadata row that points at them is committed.
//!
//! # Guarantees
//!
//! - **Encryption at rest**: every body is encrypted with AES-256-GCM under its own random
//!   256-bit data key; the data key is stored only wrapped — by the SSE-S3 root (a
//!   [`Sealer`], the server's master key) or by a [`KeyService`] (SSE-KMS). No plaintext
//!   body byte and no key material reaches the disk.
//! - **Versioning** as S3 does it: unversioned buckets keep one `null` version per key;
//!   with versioning `Enabled` every put makes a version and a delete without version id
//!   makes a delete marker; `Suspended` works on the `null` version and keeps older ones.
//! - **Object lock**: a version under GOVERNANCE (without bypass) or COMPLIANCE retention, or
//!   under legal hold, cannot be deleted permanently, nor replaced: a put over a locked
//!   current version is refused (stricter than S3, which would stack a new version — for a
//!   log archive, refusing the overwrite is the point).
//! - **Put-if-absent** (`If-None-Match: *`) is atomic: the check and the insert run in one
//!   SQLite write transaction.
//! - **Listings** are in byte order (SQLite's BINARY collation compares UTF-8 bytes), as
//!   `aws cloudtrail validate-logs` requires.
//! - **Lifecycle** ([`Vault::apply_lifecycle`]): transitions (archive classes are stored
//!   gzip-compacted, still readable), expirations, noncurrent-version expirations and
//!   expired-delete-marker removal; each action is logged.
//!
//! - **Multipart uploads** (`multipart`): parts are encrypted like bodies; completion commits
//!   through the same path as a put, and the object's body stays the list of its parts.
//!
//! MFA-delete *state* is stored here; checking the code is the server's job.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use cairn_vault::{AesSealer, PutRequest, Vault, Versioning};
//! let dir = tempfile::tempdir().unwrap();
//! let vault = Vault::open(dir.path(), Arc::new(AesSealer::new(&[7; 32]).unwrap()), None).unwrap();
//! let now = time::OffsetDateTime::now_utc();
//! vault.create_bucket("logs", "111122223333", "us-east-1", false, now).unwrap();
//! vault.set_versioning("logs", Versioning::Enabled, None).unwrap();
//! let v1 = vault.put_object("logs", "a.json", b"one", &PutRequest::default(), now).unwrap();
//! vault.put_object("logs", "a.json", b"two", &PutRequest::default(), now).unwrap();
//! let (_, old) = vault.get_object("logs", "a.json", Some(&v1.version_id)).unwrap();
//! assert_eq!(old, b"one");
//! ```

mod bucket;
mod configured;
mod crypto;
mod error;
pub mod events;
pub mod legacy;
mod model;
mod multipart;
mod vault;

pub use bucket::{VaultBucket, store_class};
pub use configured::{OpenError, Owner, open_bucket};
pub use crypto::{AesSealer, KeyService, KeyServiceError, Sealer};
pub use error::{Result, VaultError};
pub use events::{CreatedBy, EventOrigin, PendingEvent};
pub use model::*;
pub use multipart::{
    CompleteRequest, MAX_PART_NUMBER, MIN_PART_SIZE, PartInfo, PartListing, UploadInfo,
    UploadListing, multipart_etag,
};
pub use vault::{Vault, object_arn};
