//! The vault's public data types: bucket settings, object versions, requests and listings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The version id S3 gives objects stored while versioning is off or suspended.
pub const NULL_VERSION: &str = "null";

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled.
    Unversioned,
    /// Every put makes a new version; deletes make delete markers.
    Enabled,
    /// Puts and deletes work on the `null` version; older versions are kept.
    Suspended,
}

impl Versioning {
    pub(crate) fn as_db(self) -> &'static str {
        match self {
            Versioning::Unversioned => "",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
    pub(crate) fn from_db(s: &str) -> Self {
        match s {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }
}

/// A bucket and its core settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Name.
    pub name: String,
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Versioning state.
    pub versioning: Versioning,
    /// Whether MFA delete is enabled.
    pub mfa_delete: bool,
    /// Whether object lock was enabled at creation.
    pub object_lock: bool,
}

/// Object-lock retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RetentionMode {
    /// Removable or shortenable with `s3:BypassGovernanceRetention`.
    Governance,
    /// Nobody can remove or shorten it.
    Compliance,
}

impl RetentionMode {
    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }
    /// Parses S3's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Mode.
    pub mode: RetentionMode,
    /// Until when (second precision).
    pub retain_until: OffsetDateTime,
}

/// A bucket's default retention (object-lock configuration document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectLockConfig {
    /// `ObjectLockEnabled: Enabled`.
    pub enabled: bool,
    /// Default retention applied to new versions.
    pub default_retention: Option<DefaultRetention>,
}

/// Default retention of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// Mode.
    pub mode: RetentionMode,
    /// Days (exclusive with `years`).
    pub days: Option<u32>,
    /// Years.
    pub years: Option<u32>,
}

/// Default encryption of a bucket (encryption configuration document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// KMS key for `aws:kms`.
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled` (stored and echoed; each object still gets its own data key).
    pub bucket_key_enabled: bool,
}

/// Server-side encryption of one object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SseRequest {
    /// The bucket default (SSE-S3 unless the bucket's encryption says SSE-KMS).
    #[default]
    BucketDefault,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS with this key (id, ARN or alias); `None` means the bucket's default key.
    Kms(Option<String>),
}

/// A lifecycle rule (stored as JSON; the S3 front converts from and to XML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleRule {
    /// Rule id.
    pub id: Option<String>,
    /// `Enabled` rules run; `Disabled` ones are kept.
    pub enabled: bool,
    /// Key prefix filter (`""` for all).
    pub prefix: String,
    /// Expire current versions this many days after creation.
    pub expiration_days: Option<u32>,
    /// Remove delete markers that have no noncurrent versions left.
    pub expired_object_delete_marker: bool,
    /// Transitions: (days after creation, storage class).
    pub transitions: Vec<(u32, String)>,
    /// Remove noncurrent versions this many days after they became noncurrent.
    pub noncurrent_expiration_days: Option<u32>,
}

/// A bucket's lifecycle configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleConfig {
    /// Rules, in document order.
    pub rules: Vec<LifecycleRule>,
}

/// Public access block settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublicAccessBlock {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`: refuse policies granting `*`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`: ignore public grants of a policy for other accounts.
    pub restrict_public_buckets: bool,
}

/// Kinds of configuration documents a bucket stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// Bucket policy (JSON text as given).
    Policy,
    /// [`LifecycleConfig`].
    Lifecycle,
    /// [`BucketEncryption`].
    Encryption,
    /// [`PublicAccessBlock`].
    PublicAccessBlock,
    /// [`ObjectLockConfig`].
    ObjectLock,
    /// S3 event notification configuration (S3's `NotificationConfiguration` XML, as
    /// `cairn_s3wire::notification` renders it); see [`crate::events`].
    Notification,
}

impl DocKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Policy => "policy",
            DocKind::Lifecycle => "lifecycle",
            DocKind::Encryption => "encryption",
            DocKind::PublicAccessBlock => "public-access-block",
            DocKind::ObjectLock => "object-lock",
            DocKind::Notification => "notification",
        }
    }
}

/// What a put asks for.
#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// User metadata (names already lower-cased).
    pub user_metadata: BTreeMap<String, String>,
    /// Encryption.
    pub sse: SseRequest,
    /// `If-None-Match: *`: fail when a current object exists.
    pub if_none_match: bool,
    /// Explicit retention (`x-amz-object-lock-mode` / `-retain-until-date`).
    pub retention: Option<Retention>,
    /// `x-amz-object-lock-legal-hold: ON`.
    pub legal_hold: bool,
    /// `x-amz-bypass-governance-retention: true` (authorised by the caller).
    pub bypass_governance: bool,
    /// Storage class (`STANDARD` when absent).
    pub storage_class: Option<String>,
    /// Owning account (for SSE-KMS data keys).
    pub account: String,
    /// How the version is made (the `ObjectCreated:*` event name for notifications).
    pub created_by: crate::events::CreatedBy,
    /// Who makes it (for notifications).
    pub origin: crate::events::EventOrigin,
}

/// What a put returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Version id (`null` when unversioned or suspended).
    pub version_id: String,
    /// ETag (hex MD5 of the plaintext) without quotes.
    pub etag: String,
    /// SSE applied: `AES256` or `aws:kms`.
    pub sse: String,
    /// KMS key ARN for `aws:kms`.
    pub kms_key_arn: Option<String>,
}

/// One version of an object (or a delete marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// Key.
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// Whether this is the key's newest version.
    pub is_latest: bool,
    /// Whether this is a delete marker.
    pub delete_marker: bool,
    /// Plaintext size.
    pub size: u64,
    /// Hex MD5 of the plaintext.
    pub etag: String,
    /// Creation time (millisecond precision).
    pub last_modified: OffsetDateTime,
    /// Content type.
    pub content_type: Option<String>,
    /// User metadata.
    pub user_metadata: BTreeMap<String, String>,
    /// `STANDARD` or the class a transition moved it to.
    pub storage_class: String,
    /// `AES256` or `aws:kms`.
    pub sse: String,
    /// KMS key ARN for `aws:kms`.
    pub kms_key_arn: Option<String>,
    /// Object-lock retention.
    pub retention: Option<Retention>,
    /// Legal hold.
    pub legal_hold: bool,
    /// Owning account of the bucket.
    pub owner: String,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteOutcome {
    /// Version removed or delete marker created (`None` for an unversioned delete).
    pub version_id: Option<String>,
    /// Whether a delete marker was created, or the removed version was one.
    pub delete_marker: bool,
}

/// A ListObjects (v1/v2) page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectListing {
    /// Current objects in byte order.
    pub objects: Vec<ObjectVersion>,
    /// Common prefixes (with a delimiter), in byte order.
    pub common_prefixes: Vec<String>,
    /// More follow.
    pub is_truncated: bool,
    /// The last key or common prefix returned, when truncated.
    pub next_marker: Option<String>,
}

/// A ListObjectVersions page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionListing {
    /// Versions and delete markers: keys ascending, each key's versions newest first.
    pub versions: Vec<ObjectVersion>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// More follow.
    pub is_truncated: bool,
    /// `NextKeyMarker`.
    pub next_key_marker: Option<String>,
    /// `NextVersionIdMarker`.
    pub next_version_id_marker: Option<String>,
}

/// One action of [`crate::Vault::apply_lifecycle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleAction {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version acted on.
    pub version_id: String,
    /// `Transition:<class>`, `Expiration`, `NoncurrentVersionExpiration` or
    /// `ExpiredObjectDeleteMarker`.
    pub action: String,
}
