//! The request context: who calls, what action on which resource, and the
//! condition keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pattern::VarLookup;

/// What kind of principal makes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// The account's root user (`arn:aws:iam::ACCOUNT:root`).
    Root,
    /// An IAM user (`arn:aws:iam::ACCOUNT:user/path/name`).
    User,
    /// A role session (`arn:aws:sts::ACCOUNT:assumed-role/Role/session`).
    AssumedRole,
    /// A `GetFederationToken` session (`arn:aws:sts::ACCOUNT:federated-user/name`).
    FederatedUser,
    /// An AWS service principal (`cloudtrail.amazonaws.com`); `arn` is its name.
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

impl PrincipalKind {
    /// The `aws:PrincipalType` value AWS documents for this kind.
    pub fn principal_type(self) -> Option<&'static str> {
        match self {
            Self::Root => Some("Account"),
            Self::User => Some("User"),
            Self::AssumedRole => Some("AssumedRole"),
            Self::FederatedUser => Some("FederatedUser"),
            Self::Anonymous => Some("Anonymous"),
            Self::Service => None,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalInfo {
    /// The caller's ARN (for a service principal, the service name).
    pub arn: String,
    /// The caller's 12-digit account id (empty for services and anonymous callers).
    #[serde(default)]
    pub account: String,
    /// The kind of caller.
    pub kind: PrincipalKind,
    /// For a role session: the role's ARN (`arn:aws:iam::ACCOUNT:role/path/Name`),
    /// which is also `aws:PrincipalArn`.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// `aws:userid` (the unique id, `AIDA...` or `AROA...:session`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// `aws:PrincipalOrgID`.
    #[serde(default)]
    pub org_id: Option<String>,
}

impl PrincipalInfo {
    /// The root user of `account`.
    pub fn root(account: &str) -> Self {
        Self::bare(
            format!("arn:aws:iam::{account}:root"),
            account.to_owned(),
            PrincipalKind::Root,
        )
    }

    /// An IAM user, from its ARN.
    pub fn user(arn: &str) -> Self {
        Self::bare(
            arn.to_owned(),
            arn_account(arn).to_owned(),
            PrincipalKind::User,
        )
    }

    /// A role session, from its `assumed-role` ARN; the role ARN is derived
    /// without a path (set [`PrincipalInfo::role_arn`] when the role has one).
    pub fn assumed_role(session_arn: &str) -> Self {
        let mut p = Self::bare(
            session_arn.to_owned(),
            arn_account(session_arn).to_owned(),
            PrincipalKind::AssumedRole,
        );
        p.role_arn = role_arn_of_session(session_arn);
        p
    }

    /// A service principal such as `cloudtrail.amazonaws.com`.
    pub fn service(name: &str) -> Self {
        Self::bare(name.to_owned(), String::new(), PrincipalKind::Service)
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Self::bare("*".to_owned(), String::new(), PrincipalKind::Anonymous)
    }

    /// Recognises root, user, assumed-role and federated-user ARNs.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let Some(("arn", _, service, _, account, resource)) = split_arn(arn) else {
            return None;
        };
        match (service, resource) {
            ("iam", "root") => Some(Self::root(account)),
            ("iam", r) if r.starts_with("user/") => Some(Self::user(arn)),
            ("sts", r) if r.starts_with("assumed-role/") => Some(Self::assumed_role(arn)),
            ("sts", r) if r.starts_with("federated-user/") => Some(Self::bare(
                arn.to_owned(),
                account.to_owned(),
                PrincipalKind::FederatedUser,
            )),
            _ => None,
        }
    }

    /// Sets the role ARN of a role session.
    pub fn with_role_arn(mut self, role_arn: &str) -> Self {
        self.role_arn = Some(role_arn.to_owned());
        self
    }

    /// Sets `aws:PrincipalOrgID`.
    pub fn with_org_id(mut self, org_id: &str) -> Self {
        self.org_id = Some(org_id.to_owned());
        self
    }

    /// Sets `aws:userid`.
    pub fn with_user_id(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    fn bare(arn: String, account: String, kind: PrincipalKind) -> Self {
        Self {
            arn,
            account,
            kind,
            role_arn: None,
            user_id: None,
            org_id: None,
        }
    }

    /// `aws:PrincipalArn`: the role ARN for a role session, otherwise the ARN.
    pub fn principal_arn(&self) -> &str {
        match (self.kind, &self.role_arn) {
            (PrincipalKind::AssumedRole, Some(role)) => role,
            _ => &self.arn,
        }
    }

    /// `aws:username`: the friendly name of an IAM user (absent otherwise).
    pub fn username(&self) -> Option<&str> {
        (self.kind == PrincipalKind::User).then(|| self.arn.rsplit('/').next().unwrap_or_default())
    }
}

fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

fn role_arn_of_session(session_arn: &str) -> Option<String> {
    let (_, partition, _, _, account, resource) = split_arn(session_arn)?;
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// A condition-key value: one string, or a list for multi-valued keys
/// (`aws:TagKeys`, `aws:CalledVia`, ...). Booleans and numbers are given as
/// their text (`"true"`, `"42"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ContextValue {
    /// A single value.
    Single(String),
    /// A multi-valued key (may be empty).
    Multi(Vec<String>),
}

impl<'de> Deserialize<'de> for ContextValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn text(v: &serde_json::Value) -> Option<String> {
            match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| {
                    text(i).ok_or_else(|| serde::de::Error::custom("list items must be scalars"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Multi),
            other => text(other).map(Self::Single).ok_or_else(|| {
                serde::de::Error::custom("context value must be a scalar or a list")
            }),
        }
    }
}

impl From<&str> for ContextValue {
    fn from(v: &str) -> Self {
        Self::Single(v.to_owned())
    }
}

impl From<String> for ContextValue {
    fn from(v: String) -> Self {
        Self::Single(v)
    }
}

impl From<bool> for ContextValue {
    fn from(v: bool) -> Self {
        Self::Single(v.to_string())
    }
}

impl From<i64> for ContextValue {
    fn from(v: i64) -> Self {
        Self::Single(v.to_string())
    }
}

impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        Self::Multi(v)
    }
}

impl From<&[&str]> for ContextValue {
    fn from(v: &[&str]) -> Self {
        Self::Multi(v.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// One request to authorize.
///
/// Keys of `context` are matched case-insensitively; [`Request::with_context`]
/// stores them lowercased, which is the fast path. Principal keys
/// (`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`,
/// `aws:PrincipalOrgID`, `aws:username`, `aws:userid`,
/// `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`) are derived from
/// [`Request::principal`] unless `context` sets them. Environment keys
/// (`aws:SourceIp`, `aws:SecureTransport`, `aws:CurrentTime`,
/// `aws:EpochTime`, `aws:MultiFactorAuthPresent`, `aws:RequestedRegion`, ...)
/// and service keys come only from `context`: the caller injects the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Who calls.
    pub principal: PrincipalInfo,
    /// `service:Action`, e.g. `cloudtrail:StopLogging` (case-insensitive).
    pub action: String,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: String,
    /// The account owning the resource; `None` means the principal's account.
    #[serde(default)]
    pub resource_account: Option<String>,
    /// Condition keys.
    #[serde(default)]
    pub context: BTreeMap<String, ContextValue>,
}

/// A resolved context value, borrowed from the request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> Val<'a> {
    pub(crate) fn is_empty(self) -> bool {
        match self {
            Self::One(_) => false,
            Self::Many(v) => v.is_empty(),
        }
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (one, many): (Option<&'a str>, &'a [String]) = match self {
            Self::One(s) => (Some(s), &[]),
            Self::Many(v) => (None, v),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

impl Request {
    /// A request with an empty context; the resource is in the principal's account.
    pub fn new(principal: PrincipalInfo, action: &str, resource: &str) -> Self {
        Self {
            principal,
            action: action.to_owned(),
            resource: resource.to_owned(),
            resource_account: None,
            context: BTreeMap::new(),
        }
    }

    /// Sets the account owning the resource.
    pub fn with_resource_account(mut self, account: &str) -> Self {
        self.resource_account = Some(account.to_owned());
        self
    }

    /// Adds a condition key (stored lowercased).
    pub fn with_context(mut self, key: &str, value: impl Into<ContextValue>) -> Self {
        self.context.insert(key.to_ascii_lowercase(), value.into());
        self
    }

    /// The account owning the resource.
    pub fn resource_account(&self) -> &str {
        self.resource_account
            .as_deref()
            .unwrap_or(&self.principal.account)
    }

    /// True when principal and resource are in different accounts.
    pub fn is_cross_account(&self) -> bool {
        self.resource_account
            .as_deref()
            .is_some_and(|a| a != self.principal.account)
    }

    /// Looks a condition key up (`key_lower` must be lowercase).
    pub(crate) fn lookup(&self, key_lower: &str) -> Option<Val<'_>> {
        let found = self.context.get(key_lower).or_else(|| {
            self.context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key_lower))
                .map(|(_, v)| v)
        });
        if let Some(v) = found {
            return Some(match v {
                ContextValue::Single(s) => Val::One(s),
                ContextValue::Multi(m) => Val::Many(m),
            });
        }
        let p = &self.principal;
        let derived = match key_lower {
            "aws:principalarn"
                if p.kind != PrincipalKind::Service && p.kind != PrincipalKind::Anonymous =>
            {
                Some(p.principal_arn())
            }
            "aws:principalaccount" if !p.account.is_empty() => Some(p.account.as_str()),
            "aws:principaltype" => p.kind.principal_type(),
            "aws:principalorgid" => p.org_id.as_deref(),
            "aws:username" => p.username(),
            "aws:userid" => match (&p.user_id, p.kind) {
                (Some(id), _) => Some(id.as_str()),
                (None, PrincipalKind::Root) => Some(p.account.as_str()),
                _ => None,
            },
            "aws:principalisawsservice" => Some(if p.kind == PrincipalKind::Service {
                "true"
            } else {
                "false"
            }),
            "aws:principalservicename" if p.kind == PrincipalKind::Service => Some(p.arn.as_str()),
            _ => None,
        };
        derived.map(Val::One)
    }
}

impl VarLookup for Request {
    fn var(&self, key_lower: &str) -> Option<&str> {
        match self.lookup(key_lower)? {
            Val::One(s) => Some(s),
            Val::Many(_) => None,
        }
    }
}

/// An ARN's six `:`-separated fields (`arn`, partition, service, region, account, resource;
/// the resource keeps any further `:`), or `None` with fewer than six.
pub(crate) fn split_arn(arn: &str) -> Option<(&str, &str, &str, &str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    Some((
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single value `key` resolves to in `r`, if it resolves to one.
    fn one<'a>(r: &'a Request, key: &str) -> Option<&'a str> {
        match r.lookup(key) {
            Some(Val::One(v)) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn principal_constructors_and_derived_keys() {
        let s = PrincipalInfo::assumed_role("arn:aws:sts::111122223333:assumed-role/Admin/alice");
        assert_eq!(s.account, "111122223333");
        assert_eq!(
            s.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/Admin")
        );
        let r = Request::new(s, "s3:GetObject", "*");
        assert_eq!(
            one(&r, "aws:principalarn"),
            Some("arn:aws:iam::111122223333:role/Admin")
        );
        assert_eq!(one(&r, "aws:principaltype"), Some("AssumedRole"));
        assert!(r.lookup("aws:username").is_none());

        let u = PrincipalInfo::from_arn("arn:aws:iam::111122223333:user/dev/bob").unwrap();
        assert_eq!(u.kind, PrincipalKind::User);
        let r = Request::new(u, "s3:GetObject", "*").with_context("AWS:SourceIp", "10.0.0.1");
        assert_eq!(one(&r, "aws:username"), Some("bob"));
        assert_eq!(one(&r, "aws:sourceip"), Some("10.0.0.1"));
        assert_eq!(one(&r, "aws:principalaccount"), Some("111122223333"));

        let root = PrincipalInfo::from_arn("arn:aws:iam::111122223333:root").unwrap();
        assert_eq!(root.kind, PrincipalKind::Root);
        let r = Request::new(root, "s3:GetObject", "*");
        assert_eq!(one(&r, "aws:userid"), Some("111122223333"));
        assert_eq!(one(&r, "aws:principaltype"), Some("Account"));
        assert!(PrincipalInfo::from_arn("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn context_keys_are_case_insensitive_even_when_inserted_raw() {
        let mut r = Request::new(PrincipalInfo::root("1"), "a:b", "*");
        r.context.insert("S3:X-Amz-Acl".into(), "private".into());
        assert_eq!(one(&r, "s3:x-amz-acl"), Some("private"));
        let v: ContextValue = serde_json::from_str("[1, true, \"x\"]").unwrap();
        assert_eq!(
            v,
            ContextValue::Multi(vec!["1".into(), "true".into(), "x".into()])
        );
    }
}
