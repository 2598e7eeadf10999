//! The vault's error type, with the S3 error code each variant answers with.

use crate::crypto::KeyServiceError;

/// Result alias.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Vault failures. [`VaultError::s3_code`] and [`VaultError::http_status`] give the S3 wire
/// error; internal ones ([`VaultError::Io`], [`VaultError::Db`], [`VaultError::Corrupt`])
/// must not be shown to clients in detail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The bucket does not exist.
    #[error("the specified bucket does not exist")]
    NoSuchBucket {
        /// Bucket.
        bucket: String,
    },
    /// The bucket exists (owned by another account).
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists {
        /// Bucket.
        bucket: String,
    },
    /// The bucket exists and the caller owns it.
    #[error("your previous request to create the named bucket succeeded and you already own it")]
    BucketAlreadyOwnedByYou {
        /// Bucket.
        bucket: String,
    },
    /// DeleteBucket on a bucket with objects.
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty {
        /// Bucket.
        bucket: String,
    },
    /// The key has no current object.
    #[error("the specified key does not exist")]
    NoSuchKey {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The version does not exist.
    #[error("the specified version does not exist")]
    NoSuchVersion {
        /// Key.
        key: String,
        /// Version id.
        version_id: String,
    },
    /// A put-if-absent found the key.
    #[error("at least one of the pre-conditions you specified did not hold")]
    PreconditionFailed {
        /// Key.
        key: String,
    },
    /// The version is protected by object lock (retention or legal hold).
    #[error("access denied because object protected by object lock")]
    ObjectLocked {
        /// Key.
        key: String,
        /// Version id.
        version_id: String,
    },
    /// The current version of the key is a delete marker (GET without version id).
    #[error("the specified key does not exist")]
    DeleteMarker {
        /// Key.
        key: String,
        /// The marker's version id.
        version_id: String,
    },
    /// A request argument is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// A request is invalid in this bucket's state.
    #[error("{0}")]
    InvalidRequest(String),
    /// The bucket's configuration forbids the change (S3's `InvalidBucketState`, 409), e.g.
    /// a lifecycle configuration on a bucket with MFA delete.
    #[error("{0}")]
    InvalidBucketState(String),
    /// The bucket has no such configuration document.
    #[error("the {kind} configuration does not exist")]
    NoSuchConfiguration {
        /// Document kind.
        kind: &'static str,
    },
    /// The KMS refused.
    #[error(transparent)]
    Kms(#[from] KeyServiceError),
    /// SSE-KMS requested but no key service is configured.
    #[error("SSE-KMS is not available: no key service is configured")]
    KmsUnavailable,
    /// Disk I/O failed.
    #[error("vault i/o error at {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("vault database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Stored data is unreadable (bad body file, unwrappable key, bad document).
    #[error("vault data corrupt: {0}")]
    Corrupt(String),
    /// An object's stored body fails its authentication check (AES-GCM): it was changed or
    /// damaged at rest, and is not what was put.
    #[error("object body fails its integrity check: {0}")]
    Tampered(String),
    /// The multipart upload does not exist (never made, completed or aborted).
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload {
        /// Upload id.
        upload_id: String,
    },
    /// A part named by CompleteMultipartUpload was not uploaded, or its ETag differs.
    #[error("one or more of the specified parts could not be found: {0}")]
    InvalidPart(String),
    /// CompleteMultipartUpload lists parts out of ascending order.
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than the 5 MiB minimum.
    #[error("your proposed upload is smaller than the minimum allowed size (part {part_number})")]
    EntityTooSmall {
        /// The part that is too small.
        part_number: u32,
    },
    /// A bucket directory of an earlier version cannot be imported: the vault already holds
    /// one of its keys with other content. Nothing was overwritten; the directory stays.
    #[error("cannot import {key} into bucket {bucket}: the vault holds other content there")]
    ImportConflict {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl VaultError {
    /// The S3 error code.
    pub fn s3_code(&self) -> &'static str {
        match self {
            VaultError::NoSuchBucket { .. } => "NoSuchBucket",
            VaultError::BucketAlreadyExists { .. } => "BucketAlreadyExists",
            VaultError::BucketAlreadyOwnedByYou { .. } => "BucketAlreadyOwnedByYou",
            VaultError::BucketNotEmpty { .. } => "BucketNotEmpty",
            VaultError::NoSuchKey { .. } | VaultError::DeleteMarker { .. } => "NoSuchKey",
            VaultError::NoSuchVersion { .. } => "NoSuchVersion",
            VaultError::PreconditionFailed { .. } => "PreconditionFailed",
            // S3 answers a WORM refusal with AccessDenied.
            VaultError::ObjectLocked { .. } => "AccessDenied",
            VaultError::InvalidArgument(_) => "InvalidArgument",
            VaultError::NoSuchUpload { .. } => "NoSuchUpload",
            VaultError::InvalidPart(_) => "InvalidPart",
            VaultError::InvalidPartOrder => "InvalidPartOrder",
            VaultError::EntityTooSmall { .. } => "EntityTooSmall",
            VaultError::InvalidRequest(_) => "InvalidRequest",
            VaultError::InvalidBucketState(_) => "InvalidBucketState",
            VaultError::NoSuchConfiguration { kind } => match *kind {
                "policy" => "NoSuchBucketPolicy",
                "lifecycle" => "NoSuchLifecycleConfiguration",
                "encryption" => "ServerSideEncryptionConfigurationNotFoundError",
                "public-access-block" => "NoSuchPublicAccessBlockConfiguration",
                "object-lock" => "ObjectLockConfigurationNotFoundError",
                _ => "NoSuchConfiguration",
            },
            VaultError::Kms(KeyServiceError::NotFound(_)) => "KMS.NotFoundException",
            VaultError::Kms(KeyServiceError::Disabled(_)) => "KMS.DisabledException",
            VaultError::Kms(KeyServiceError::InvalidCiphertext(_)) => {
                "KMS.InvalidCiphertextException"
            }
            VaultError::Kms(KeyServiceError::Other(_)) => "KMS.KMSInternalException",
            VaultError::KmsUnavailable => "NotImplemented",
            VaultError::Io { .. }
            | VaultError::Db(_)
            | VaultError::Corrupt(_)
            | VaultError::Tampered(_)
            | VaultError::ImportConflict { .. } => "InternalError",
        }
    }

    /// The HTTP status S3 uses for the code.
    pub fn http_status(&self) -> u16 {
        match self {
            VaultError::NoSuchBucket { .. }
            | VaultError::NoSuchKey { .. }
            | VaultError::DeleteMarker { .. }
            | VaultError::NoSuchVersion { .. }
            | VaultError::NoSuchConfiguration { .. }
            | VaultError::NoSuchUpload { .. } => 404,
            VaultError::BucketAlreadyExists { .. }
            | VaultError::BucketAlreadyOwnedByYou { .. }
            | VaultError::BucketNotEmpty { .. }
            | VaultError::InvalidBucketState(_) => 409,
            VaultError::PreconditionFailed { .. } => 412,
            VaultError::ObjectLocked { .. } => 403,
            VaultError::InvalidArgument(_)
            | VaultError::InvalidRequest(_)
            | VaultError::InvalidPart(_)
            | VaultError::InvalidPartOrder
            | VaultError::EntityTooSmall { .. } => 400,
            VaultError::Kms(KeyServiceError::Other(_)) => 500,
            VaultError::Kms(_) => 400,
            VaultError::KmsUnavailable => 501,
            VaultError::Io { .. }
            | VaultError::Db(_)
            | VaultError::Corrupt(_)
            | VaultError::Tampered(_)
            | VaultError::ImportConflict { .. } => 500,
        }
    }

    /// Whether the detail must stay in the server log.
    pub fn is_internal(&self) -> bool {
        self.http_status() >= 500 && !matches!(self, VaultError::KmsUnavailable)
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        VaultError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
