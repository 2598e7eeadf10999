//! The crate's error type for IAM and STS, with IAM's error codes and statuses.

/// Why an IAM or STS operation failed. It implements [`cairn_core::AwsError`], the one way
/// a domain error reaches the wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// No such user, role, policy, access key or attachment (404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// An entity of that name exists (409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// A quota is exceeded (409).
    #[error("{0}")]
    LimitExceeded(String),
    /// The entity is still in use (keys, attachments) and cannot be deleted (409).
    #[error("{0}")]
    DeleteConflict(String),
    /// A parameter is missing or of the wrong shape (400).
    #[error("{0}")]
    Validation(String),
    /// A policy document does not parse or is not valid for its use (400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// The operation is refused whatever the caller's permissions (403), e.g. deleting an
    /// AWS-managed policy, or an MFA code that does not verify for `AssumeRole`.
    #[error("{0}")]
    AccessDenied(String),
    /// The operation or option is not served by Cairn (400).
    #[error("{0} is not implemented by this Cairn server")]
    NotImplemented(String),
    /// A stored entity does not parse (the server's fault).
    #[error("iam record {key} is corrupt: {message}")]
    Corrupt {
        /// Which record.
        key: String,
        /// Parser message.
        message: String,
    },
    /// The database failed (the server's fault).
    #[error("iam database: {0}")]
    Storage(String),
    /// Sealing, opening or random generation failed (the server's fault).
    #[error("iam secrets: {0}")]
    Crypto(String),
}

impl IamError {
    /// IAM's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSuchEntity(_) => "NoSuchEntity",
            Self::EntityAlreadyExists(_) => "EntityAlreadyExists",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::DeleteConflict(_) => "DeleteConflict",
            Self::Validation(_) => "ValidationError",
            Self::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Self::AccessDenied(_) => "AccessDenied",
            Self::NotImplemented(_) => "NotImplemented",
            Self::Corrupt { .. } | Self::Storage(_) | Self::Crypto(_) => "ServiceFailure",
        }
    }

    /// Whether the error is the server's fault (its detail is logged, not shown).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Corrupt { .. } | Self::Storage(_) | Self::Crypto(_)
        )
    }

    /// The HTTP status IAM answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoSuchEntity(_) => 404,
            Self::EntityAlreadyExists(_) | Self::LimitExceeded(_) | Self::DeleteConflict(_) => 409,
            Self::AccessDenied(_) => 403,
            Self::Corrupt { .. } | Self::Storage(_) | Self::Crypto(_) => 500,
            Self::Validation(_) | Self::MalformedPolicyDocument(_) | Self::NotImplemented(_) => 400,
        }
    }

    /// A parse or validation failure of a policy document: `LimitExceeded` when it is too
    /// long, `MalformedPolicyDocument` otherwise.
    pub fn from_policy(e: &cairn_policy::PolicyError) -> Self {
        if e.class() == cairn_policy::ErrorClass::LimitExceeded {
            Self::LimitExceeded(e.to_string())
        } else {
            Self::MalformedPolicyDocument(e.to_string())
        }
    }

    pub(crate) fn crypto(e: impl std::fmt::Display) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl cairn_core::AwsError for IamError {
    fn code(&self) -> &'static str {
        IamError::code(self)
    }

    fn status(&self) -> u16 {
        IamError::status(self)
    }

    fn is_internal(&self) -> bool {
        IamError::is_internal(self)
    }
}

impl From<rusqlite::Error> for IamError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for IamError {
    fn from(e: serde_json::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<cairn_core::secrets::SecretError> for IamError {
    fn from(e: cairn_core::secrets::SecretError) -> Self {
        Self::Crypto(e.to_string())
    }
}

/// A credential that cannot be stored is the server's fault.
impl From<crate::credentials::IdentityError> for IamError {
    fn from(e: crate::credentials::IdentityError) -> Self {
        Self::Storage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::AwsError;

    #[test]
    fn codes_statuses_and_internal_errors() {
        let s = |m: &str| m.to_owned();
        let cases: Vec<(IamError, &str, u16, bool)> = vec![
            (IamError::NoSuchEntity(s("x")), "NoSuchEntity", 404, false),
            (
                IamError::EntityAlreadyExists(s("x")),
                "EntityAlreadyExists",
                409,
                false,
            ),
            (IamError::LimitExceeded(s("x")), "LimitExceeded", 409, false),
            (
                IamError::DeleteConflict(s("x")),
                "DeleteConflict",
                409,
                false,
            ),
            (IamError::Validation(s("x")), "ValidationError", 400, false),
            (
                IamError::MalformedPolicyDocument(s("x")),
                "MalformedPolicyDocument",
                400,
                false,
            ),
            (IamError::AccessDenied(s("x")), "AccessDenied", 403, false),
            (
                IamError::NotImplemented(s("x")),
                "NotImplemented",
                400,
                false,
            ),
            (
                IamError::Corrupt {
                    key: s("k"),
                    message: s("m"),
                },
                "ServiceFailure",
                500,
                true,
            ),
            (IamError::Storage(s("x")), "ServiceFailure", 500, true),
            (IamError::Crypto(s("x")), "ServiceFailure", 500, true),
        ];
        for (e, code, status, internal) in cases {
            assert_eq!(AwsError::code(&e), code, "{e:?}");
            assert_eq!(AwsError::status(&e), status, "{e:?}");
            assert_eq!(AwsError::is_internal(&e), internal, "{e:?}");
        }
        assert_eq!(
            IamError::NotImplemented(s("AssumeRoleWithSAML")).to_string(),
            "AssumeRoleWithSAML is not implemented by this Cairn server"
        );
    }

    #[test]
    fn policy_errors_map_to_limit_or_malformed() {
        let long = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"{}"}}}}"#,
            "a".repeat(200)
        );
        let e = cairn_policy::Policy::parse_with_limit(&long, 50).unwrap_err();
        assert_eq!(IamError::from_policy(&e).code(), "LimitExceeded");
        let e = cairn_policy::Policy::parse("{").unwrap_err();
        assert_eq!(IamError::from_policy(&e).code(), "MalformedPolicyDocument");
    }
}
