//! The crate's one error type, with AWS KMS's error codes.

/// Why a KMS operation failed. [`KmsError::code`] gives the AWS error code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// No such key or alias (in this account and region).
    #[error("{0}")]
    NotFound(String),
    /// The key is disabled.
    #[error("{0} is disabled")]
    Disabled(String),
    /// The key's state does not allow the operation (e.g. pending deletion).
    #[error("{key} is {state}")]
    InvalidState {
        /// Key ARN.
        key: String,
        /// Its state.
        state: crate::KeyState,
    },
    /// The blob is malformed, was made by another key, or its context differs.
    #[error("the ciphertext is invalid, or its encryption context does not match")]
    InvalidCiphertext,
    /// A `KeyId` given with `Decrypt` is not the key that encrypted the blob.
    #[error("the key id {0} does not match the key that encrypted the ciphertext")]
    IncorrectKey(String),
    /// An alias of that name exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A parameter is out of range or of the wrong shape.
    #[error("{0}")]
    Validation(String),
    /// The alias name breaks AWS's naming rules.
    #[error("{0}")]
    InvalidAliasName(String),
    /// The operation is not allowed on this resource (e.g. a reserved `alias/aws/` name).
    #[error("{0}")]
    NotAuthorized(String),
    /// A key policy is not a valid resource policy.
    #[error("{0}")]
    MalformedPolicy(String),
    /// A tag is invalid.
    #[error("{0}")]
    Tag(String),
    /// A quota is exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The database failed.
    #[error("kms database: {0}")]
    Storage(String),
    /// Sealing, opening or random generation failed (wrong root key, corrupted material).
    #[error("kms key material: {0}")]
    Crypto(String),
}

impl KmsError {
    /// The AWS KMS error code (`__type`) for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFoundException",
            Self::Disabled(_) => "DisabledException",
            Self::InvalidState { .. } => "KMSInvalidStateException",
            Self::InvalidCiphertext => "InvalidCiphertextException",
            Self::IncorrectKey(_) => "IncorrectKeyException",
            Self::AlreadyExists(_) => "AlreadyExistsException",
            Self::Validation(_) => "ValidationException",
            Self::InvalidAliasName(_) => "InvalidAliasNameException",
            Self::NotAuthorized(_) => "NotAuthorizedException",
            Self::MalformedPolicy(_) => "MalformedPolicyDocumentException",
            Self::Tag(_) => "TagException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::Storage(_) => "KMSInternalException",
            Self::Crypto(_) => "KMSInternalException",
        }
    }

    /// The class a data-key consumer (the object store's `KeyService`) branches on.
    pub fn class(&self) -> KeyErrorClass {
        match self {
            Self::NotFound(_) => KeyErrorClass::NotFound,
            Self::Disabled(_) | Self::InvalidState { .. } => KeyErrorClass::Disabled,
            Self::InvalidCiphertext | Self::IncorrectKey(_) => KeyErrorClass::InvalidCiphertext,
            _ => KeyErrorClass::Other,
        }
    }

    /// Whether the error is the server's fault (its detail should be logged, not shown).
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Crypto(_))
    }
}

impl cairn_core::AwsError for KmsError {
    fn code(&self) -> &'static str {
        KmsError::code(self)
    }

    fn is_internal(&self) -> bool {
        KmsError::is_internal(self)
    }
}

impl From<rusqlite::Error> for KmsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Coarse classes of [`KmsError`] for callers that only use data keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyErrorClass {
    /// The key does not exist (or is not visible to the caller).
    NotFound,
    /// The key is disabled or pending deletion.
    Disabled,
    /// The blob is not valid for this KMS, or its context differs.
    InvalidCiphertext,
    /// Anything else.
    Other,
}
