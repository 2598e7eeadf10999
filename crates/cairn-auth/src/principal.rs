//! Who made a request, modelled on CloudTrail's `userIdentity` types.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::time_fmt::format_extended;

/// The identity behind a credential.
///
/// Covers the CloudTrail `userIdentity.type` values Cairn issues credentials for; the others
/// (`FederatedUser`, `SAMLUser`, ...) come with the features that create them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// The account root user.
    Root {
        /// 12-digit account id.
        account_id: String,
    },
    /// An IAM user (long-term or `GetSessionToken` credentials).
    IamUser {
        /// 12-digit account id.
        account_id: String,
        /// Friendly name, e.g. `alice`.
        user_name: String,
        /// Unique id, `AIDA...`.
        user_id: String,
        /// The user's IAM path, `/` or `/ops/` (starts and ends with `/`). It is part of
        /// the user's ARN (`user/ops/alice`), which policies name.
        path: String,
    },
    /// A role session (`AssumeRole` credentials).
    AssumedRole {
        /// 12-digit account id.
        account_id: String,
        /// The role's friendly name.
        role_name: String,
        /// The role's unique id, `AROA...`.
        role_id: String,
        /// The `RoleSessionName`.
        session_name: String,
        /// The role ARN (may include a path), e.g. `arn:aws:iam::111122223333:role/Dev`.
        issuer_arn: String,
        /// Whether the session was created with MFA.
        mfa_authenticated: bool,
        /// When the session credentials were issued.
        creation_date: OffsetDateTime,
    },
    /// An AWS service acting on its own behalf.
    AwsService {
        /// The service principal, e.g. `cloudtrail.amazonaws.com`.
        service: String,
    },
}

impl Principal {
    /// An IAM user's ARN, `arn:aws:iam::<account>:user<path><name>`. A path that does not start
    /// and end with `/` (an empty one included) is taken as `/`-delimited all the same, so the
    /// ARN always has the `user/<path segments>/<name>` shape IAM returns.
    #[must_use]
    pub fn user_arn(account_id: &str, path: &str, user_name: &str) -> String {
        let inner = path.trim_matches('/');
        if inner.is_empty() {
            format!("arn:aws:iam::{account_id}:user/{user_name}")
        } else {
            format!("arn:aws:iam::{account_id}:user/{inner}/{user_name}")
        }
    }

    /// The CloudTrail `userIdentity.type` string.
    #[must_use]
    pub fn identity_type(&self) -> &'static str {
        match self {
            Self::Root { .. } => "Root",
            Self::IamUser { .. } => "IAMUser",
            Self::AssumedRole { .. } => "AssumedRole",
            Self::AwsService { .. } => "AWSService",
        }
    }

    /// The principal's ARN; `None` for service principals.
    #[must_use]
    pub fn arn(&self) -> Option<String> {
        match self {
            Self::Root { account_id } => Some(format!("arn:aws:iam::{account_id}:root")),
            Self::IamUser {
                account_id,
                user_name,
                path,
                ..
            } => Some(Self::user_arn(account_id, path, user_name)),
            Self::AssumedRole {
                account_id,
                role_name,
                session_name,
                ..
            } => Some(format!(
                "arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
            )),
            Self::AwsService { .. } => None,
        }
    }

    /// The CloudTrail `principalId`: the account id for root, the user id for users,
    /// `ROLEID:session` for role sessions; `None` for service principals.
    #[must_use]
    pub fn principal_id(&self) -> Option<String> {
        match self {
            Self::Root { account_id } => Some(account_id.clone()),
            Self::IamUser { user_id, .. } => Some(user_id.clone()),
            Self::AssumedRole {
                role_id,
                session_name,
                ..
            } => Some(format!("{role_id}:{session_name}")),
            Self::AwsService { .. } => None,
        }
    }

    /// The owning account; `None` for service principals.
    #[must_use]
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Self::Root { account_id }
            | Self::IamUser { account_id, .. }
            | Self::AssumedRole { account_id, .. } => Some(account_id),
            Self::AwsService { .. } => None,
        }
    }

    /// CloudTrail's `userIdentity` element for a request signed by this principal
    /// (shared/spec/cloudtrail-formats.md §4.2), keys in the order AWS writes them:
    /// `type, principalId, arn, accountId, accessKeyId, userName, sessionContext, invokedBy`.
    /// `accessKeyId` is present only when `access_key_id` is `Some`.
    #[must_use]
    pub fn user_identity_json(&self, access_key_id: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.identity_type()));
        if let Self::AwsService { service } = self {
            m.insert("invokedBy".into(), json!(service));
            return Value::Object(m);
        }
        if let Some(pid) = self.principal_id() {
            m.insert("principalId".into(), json!(pid));
        }
        if let Some(arn) = self.arn() {
            m.insert("arn".into(), json!(arn));
        }
        if let Some(acct) = self.account_id() {
            m.insert("accountId".into(), json!(acct));
        }
        if let Some(akid) = access_key_id {
            m.insert("accessKeyId".into(), json!(akid));
        }
        match self {
            Self::IamUser { user_name, .. } => {
                m.insert("userName".into(), json!(user_name));
            }
            Self::AssumedRole {
                account_id,
                role_name,
                role_id,
                issuer_arn,
                mfa_authenticated,
                creation_date,
                ..
            } => {
                m.insert(
                    "sessionContext".into(),
                    json!({
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": role_id,
                            "arn": issuer_arn,
                            "accountId": account_id,
                            "userName": role_name,
                        },
                        "webIdFederationData": {},
                        "attributes": {
                            "creationDate": format_extended(*creation_date),
                            "mfaAuthenticated": if *mfa_authenticated { "true" } else { "false" },
                        },
                    }),
                );
            }
            Self::Root { .. } | Self::AwsService { .. } => {}
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn compact(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn root_identity() {
        let p = Principal::Root {
            account_id: "111122223333".into(),
        };
        assert_eq!(
            compact(&p.user_identity_json(Some("AKIAEXAMPLE"))),
            r#"{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE"}"#
        );
        assert_eq!(p.account_id(), Some("111122223333"));
    }

    /// Same shape and key order as the real record in
    /// shared/data/cloudtrail/invictus-ir-sigma-aws (user `bert-jan`).
    #[test]
    fn iam_user_identity_matches_real_record() {
        let p = Principal::IamUser {
            account_id: "123837392027".into(),
            user_name: "bert-jan".into(),
            user_id: "AIDATFQR7NSC5AU2ZV3IE".into(),
            path: "/".into(),
        };
        assert_eq!(
            compact(&p.user_identity_json(Some("AKIATFQR7NSC8Q4X20BJ"))),
            r#"{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"}"#
        );
    }

    /// A user with a path keeps it in its ARN (IAM's `user/ops/alice`), so policies naming
    /// the ARN IAM returned apply to it.
    #[test]
    fn iam_user_path_is_in_the_arn() {
        let p = Principal::IamUser {
            account_id: "111122223333".into(),
            user_name: "alice".into(),
            user_id: "AIDAEXAMPLE".into(),
            path: "/ops/team-a/".into(),
        };
        let arn = "arn:aws:iam::111122223333:user/ops/team-a/alice";
        assert_eq!(p.arn().as_deref(), Some(arn));
        assert_eq!(p.user_identity_json(None)["arn"], json!(arn));
        assert_eq!(p.user_identity_json(None)["userName"], json!("alice"));
        for root in ["/", ""] {
            assert_eq!(
                Principal::user_arn("1", root, "bob"),
                "arn:aws:iam::1:user/bob",
                "{root:?}"
            );
        }
    }

    /// Same shape and key order as the real record in
    /// shared/data/cloudtrail/invictus-ir-sigma-aws (role `stratus-red-team-leave-org-role`).
    #[test]
    fn assumed_role_identity_matches_real_record() {
        let p = Principal::AssumedRole {
            account_id: "123837392027".into(),
            role_name: "stratus-red-team-leave-org-role".into(),
            role_id: "AROATFQR7NSCRI4ZA26CX".into(),
            session_name: "aws-go-sdk-1688990515440126480".into(),
            issuer_arn: "arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role".into(),
            mfa_authenticated: false,
            creation_date: datetime!(2023-07-10 12:02:04 UTC),
        };
        let expected = r#"{"type":"AssumedRole","principalId":"AROATFQR7NSCRI4ZA26CX:aws-go-sdk-1688990515440126480","arn":"arn:aws:sts::123837392027:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1688990515440126480","accountId":"123837392027","accessKeyId":"ASIATFQR7NSCVW2R4OHT","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROATFQR7NSCRI4ZA26CX","arn":"arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role","accountId":"123837392027","userName":"stratus-red-team-leave-org-role"},"webIdFederationData":{},"attributes":{"creationDate":"2023-07-10T12:02:04Z","mfaAuthenticated":"false"}}}"#;
        assert_eq!(
            compact(&p.user_identity_json(Some("ASIATFQR7NSCVW2R4OHT"))),
            expected
        );
    }

    #[test]
    fn service_identity_and_no_access_key() {
        let p = Principal::AwsService {
            service: "rds.amazonaws.com".into(),
        };
        assert_eq!(
            compact(&p.user_identity_json(None)),
            r#"{"type":"AWSService","invokedBy":"rds.amazonaws.com"}"#
        );
        assert!(p.arn().is_none() && p.principal_id().is_none() && p.account_id().is_none());
        let root = Principal::Root {
            account_id: "1".into(),
        };
        assert!(root.user_identity_json(None).get("accessKeyId").is_none());
    }
}
