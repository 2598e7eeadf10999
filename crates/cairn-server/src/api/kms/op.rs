//! Every KMS operation by name: the ones this server implements and the ones it answers
//! with an explicit "not implemented" error.

/// Declares [`KmsOp`] from two lists: implemented operations, then known ones not built.
macro_rules! kms_ops {
    (implemented: [$($imp:ident),* $(,)?], not_implemented: [$($not:ident),* $(,)?] $(,)?) => {
        /// A KMS operation (`X-Amz-Target: TrentService.<Name>`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KmsOp {
            $(
                #[doc = concat!("`", stringify!($imp), "` (implemented).")]
                $imp,
            )*
            $(
                #[doc = concat!("`", stringify!($not), "` (not implemented).")]
                $not,
            )*
        }

        impl KmsOp {
            /// Every operation, implemented ones first.
            pub const ALL: &'static [KmsOp] = &[$(KmsOp::$imp,)* $(KmsOp::$not,)*];

            /// The operation named `name` (the `X-Amz-Target` suffix), if KMS has one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($imp) => Some(KmsOp::$imp),)*
                    $(stringify!($not) => Some(KmsOp::$not),)*
                    _ => None,
                }
            }

            /// The operation's name, as recorded in `eventName`.
            pub fn name(self) -> &'static str {
                match self {
                    $(KmsOp::$imp => stringify!($imp),)*
                    $(KmsOp::$not => stringify!($not),)*
                }
            }

            /// Whether this server implements the operation.
            pub fn is_implemented(self) -> bool {
                match self {
                    $(KmsOp::$imp => true,)*
                    $(KmsOp::$not => false,)*
                }
            }
        }
    };
}

kms_ops! {
    implemented: [
        CreateKey,
        DescribeKey,
        ListKeys,
        CreateAlias,
        UpdateAlias,
        ListAliases,
        DeleteAlias,
        Encrypt,
        Decrypt,
        GenerateDataKey,
        GenerateDataKeyWithoutPlaintext,
        EnableKeyRotation,
        DisableKeyRotation,
        GetKeyRotationStatus,
        RotateKeyOnDemand,
        DisableKey,
        EnableKey,
        ScheduleKeyDeletion,
        CancelKeyDeletion,
        GetKeyPolicy,
        PutKeyPolicy,
        ListKeyPolicies,
        ListResourceTags,
        TagResource,
        UntagResource,
    ],
    not_implemented: [
        ConnectCustomKeyStore,
        CreateCustomKeyStore,
        CreateGrant,
        DeleteCustomKeyStore,
        DeleteImportedKeyMaterial,
        DeriveSharedSecret,
        DescribeCustomKeyStores,
        DisconnectCustomKeyStore,
        GenerateDataKeyPair,
        GenerateDataKeyPairWithoutPlaintext,
        GenerateMac,
        GenerateRandom,
        GetParametersForImport,
        GetPublicKey,
        ImportKeyMaterial,
        ListGrants,
        ListKeyRotations,
        ListRetirableGrants,
        ReEncrypt,
        ReplicateKey,
        RetireGrant,
        RevokeGrant,
        Sign,
        UpdateCustomKeyStore,
        UpdateKeyDescription,
        UpdatePrimaryRegion,
        Verify,
        VerifyMac,
    ],
}

/// Whether the operation named `name` only reads. The cryptographic operations count as
/// read-only, as AWS records them (`readOnly: true`), so their responses never enter the
/// audit record. Applies to names this server does not know too (they are recorded).
pub fn is_read_only(name: &str) -> bool {
    [
        "Describe",
        "Get",
        "List",
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

impl KmsOp {
    /// Whether the operation only reads (see [`is_read_only`]).
    pub fn is_read_only(self) -> bool {
        is_read_only(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in KmsOp::ALL {
            assert_eq!(KmsOp::from_name(op.name()), Some(*op));
        }
        assert_eq!(KmsOp::from_name("NoSuchThing"), None);
        assert_eq!(KmsOp::ALL.iter().filter(|o| o.is_implemented()).count(), 25);
        assert!(!KmsOp::Sign.is_implemented());
    }

    #[test]
    fn read_only_operations() {
        use KmsOp::*;
        for op in [
            DescribeKey,
            ListKeys,
            GetKeyPolicy,
            Encrypt,
            Decrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            ListGrants,
        ] {
            assert!(op.is_read_only(), "{op:?}");
        }
        for op in [
            CreateKey,
            DisableKey,
            ScheduleKeyDeletion,
            PutKeyPolicy,
            CreateAlias,
            ReEncrypt,
        ] {
            assert!(!op.is_read_only(), "{op:?}");
        }
    }
}
