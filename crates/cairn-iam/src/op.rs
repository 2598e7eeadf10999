//! Every IAM (`2010-05-08`) and STS (`2011-06-15`) action Cairn knows, served or not.

macro_rules! operations {
    ($(#[$doc:meta])* $ty:ident { $($name:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )*
        }

        impl $ty {
            /// Every action.
            pub const ALL: &'static [$ty] = &[$($ty::$name),*];

            /// The action's wire name (`Action=`).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$name => stringify!($name),)*
                }
            }

            /// Looks an action up by wire name.
            pub fn from_name(name: &str) -> Option<$ty> {
                match name {
                    $(stringify!($name) => Some($ty::$name),)*
                    _ => None,
                }
            }

            /// Whether the call only reads state (the `readOnly` of its audit event).
            pub fn is_read_only(self) -> bool {
                is_read_only(self.name())
            }
        }
    };
}

operations! {
    /// An IAM action.
    IamOp {
        CreateUser, GetUser, DeleteUser, ListUsers,
        CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed,
        CreateRole, GetRole, DeleteRole, ListRoles,
        CreatePolicy, GetPolicy, GetPolicyVersion, ListPolicies, DeletePolicy,
        AttachUserPolicy, DetachUserPolicy, AttachRolePolicy, DetachRolePolicy,
        PutUserPolicy, GetUserPolicy, DeleteUserPolicy, ListUserPolicies,
        ListAttachedUserPolicies, ListAttachedRolePolicies, ListEntitiesForPolicy,
        CreateVirtualMFADevice, EnableMFADevice, ListMFADevices, DeactivateMFADevice,
        DeleteVirtualMFADevice, ResyncMFADevice, ListVirtualMFADevices,
    }
}

operations! {
    /// An STS action.
    StsOp {
        GetCallerIdentity, AssumeRole, GetSessionToken, GetFederationToken,
        AssumeRoleWithSAML, AssumeRoleWithWebIdentity, DecodeAuthorizationMessage,
        GetAccessKeyInfo,
    }
}

/// Whether an action named `action` only reads (`Get*`, `List*`), known to Cairn or not:
/// an unknown action is recorded with the same flag AWS would give it.
pub fn is_read_only(action: &str) -> bool {
    action.starts_with("Get") || action.starts_with("List")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for op in IamOp::ALL {
            assert_eq!(IamOp::from_name(op.name()), Some(*op));
        }
        for op in StsOp::ALL {
            assert_eq!(StsOp::from_name(op.name()), Some(*op));
        }
        assert_eq!(IamOp::ALL.len(), 36);
        assert_eq!(StsOp::ALL.len(), 8);
        assert_eq!(IamOp::from_name("createUser"), None);
        assert_eq!(StsOp::from_name("CreateUser"), None);
    }

    #[test]
    fn read_only_actions() {
        assert!(IamOp::GetUser.is_read_only() && IamOp::ListMFADevices.is_read_only());
        assert!(!IamOp::CreateUser.is_read_only() && !IamOp::DeletePolicy.is_read_only());
        assert!(StsOp::GetCallerIdentity.is_read_only() && !StsOp::AssumeRole.is_read_only());
        assert!(is_read_only("ListNothing") && !is_read_only("Frobnicate"));
    }
}
