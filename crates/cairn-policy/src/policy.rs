//! Policy documents: parsing, validation and per-statement matching.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::condition::Condition;
use crate::error::{Location, PolicyError};
use crate::pattern::{ArnPattern, Mode, NoVars, Pattern};
use crate::request::{PrincipalInfo, PrincipalKind, Request};

/// Maximum size of a managed policy, in characters without white space.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6_144;
/// Maximum aggregate size of a user's inline policies (characters without white space).
pub const INLINE_USER_POLICY_MAX_CHARS: usize = 2_048;
/// Maximum aggregate size of a group's inline policies.
pub const INLINE_GROUP_POLICY_MAX_CHARS: usize = 5_120;
/// Maximum aggregate size of a role's inline policies.
pub const INLINE_ROLE_POLICY_MAX_CHARS: usize = 10_240;
/// Default maximum size of a role trust policy.
pub const ROLE_TRUST_POLICY_MAX_CHARS: usize = 2_048;

/// A policy's size as IAM counts it against quotas: characters, white space excluded.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// Fails with [`PolicyError::TooLarge`] when `document` is over `limit`.
pub fn check_size(document: &str, limit: usize) -> Result<(), PolicyError> {
    let actual = policy_size(document);
    if actual > limit {
        Err(PolicyError::TooLarge { limit, actual })
    } else {
        Ok(())
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies (an explicit deny).
    Deny,
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17` (also the default when `Version` is absent): `${...}` is literal text.
    V2008_10_17,
}

/// Where a policy is attached, for [`Policy::validate_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// Attached to a user, group or role (also permissions boundaries and
    /// session policies): no `Principal`, `Resource` required.
    Identity,
    /// Attached to a resource (bucket, key, topic, trail, role trust): a
    /// `Principal` or `NotPrincipal` is required.
    Resource,
}

/// How a resource-policy statement names the caller; the stronger the grant,
/// the fewer other policies it depends on (see [`crate::evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Grant {
    /// The caller's account (root ARN or bare id): delegates to the account.
    Account,
    /// The role of the calling session (limited by boundary and session policy).
    Role,
    /// The caller itself: user, session, service, or `*`.
    Direct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalEntry {
    Any,
    Account(String),
    User(String),
    Role(String),
    Session(String),
    FederatedUser(String),
    Service(String),
    /// `Federated` and `CanonicalUser` principals: accepted, never match (Cairn
    /// has no identity providers or canonical ids).
    Other,
}

impl PrincipalEntry {
    fn grant(&self, p: &PrincipalInfo, exact_only: bool) -> Option<Grant> {
        let authenticated = !matches!(p.kind, PrincipalKind::Service | PrincipalKind::Anonymous);
        match self {
            Self::Any => Some(Grant::Direct),
            // In NotPrincipal an account entry exempts only the root user: AWS's
            // "everyone but Bob" lists Bob's ARN *and* his account's root ARN.
            Self::Account(a) if exact_only => {
                (p.kind == PrincipalKind::Root && p.account == *a).then_some(Grant::Account)
            }
            Self::Account(a) => (authenticated && p.account == *a).then_some(Grant::Account),
            Self::User(arn) => {
                (p.kind == PrincipalKind::User && p.arn == *arn).then_some(Grant::Direct)
            }
            Self::Role(arn) if !exact_only && p.kind == PrincipalKind::AssumedRole => {
                (p.role_arn.as_deref() == Some(arn.as_str())).then_some(Grant::Role)
            }
            Self::Role(_) | Self::Other => None,
            Self::Session(arn) | Self::FederatedUser(arn) => {
                (p.arn == *arn).then_some(Grant::Direct)
            }
            Self::Service(name) => (p.kind == PrincipalKind::Service
                && p.arn.eq_ignore_ascii_case(name))
            .then_some(Grant::Direct),
        }
    }
}

#[derive(Debug, Clone)]
struct Principals {
    negated: bool,
    entries: Vec<PrincipalEntry>,
}

#[derive(Debug, Clone)]
struct Actions {
    negated: bool,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Resources {
    negated: bool,
    patterns: Vec<ArnPattern>,
}

/// One compiled statement.
#[derive(Debug, Clone)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    principals: Option<Principals>,
    actions: Actions,
    resources: Option<Resources>,
    condition: Condition,
}

impl Statement {
    /// The statement's `Sid`.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The statement's effect.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// True when the statement has a `Principal` or `NotPrincipal`.
    pub fn has_principal(&self) -> bool {
        self.principals.is_some()
    }

    /// True when the statement has a non-empty `Condition`.
    pub fn has_condition(&self) -> bool {
        !self.condition.is_empty()
    }

    /// How this statement names `p` (for resource policies); `None` when it
    /// does not apply to `p` or has no principal element.
    pub(crate) fn principal_grant(&self, p: &PrincipalInfo) -> Option<Grant> {
        let ps = self.principals.as_ref()?;
        if ps.negated {
            // NotPrincipal: applies to everyone not listed (exact ARNs; a role
            // ARN does not exempt its sessions, as AWS documents).
            let listed = ps.entries.iter().any(|e| e.grant(p, true).is_some());
            (!listed).then_some(Grant::Direct)
        } else {
            ps.entries.iter().filter_map(|e| e.grant(p, false)).max()
        }
    }

    pub(crate) fn action_matches(&self, action: &str) -> bool {
        self.actions
            .patterns
            .iter()
            .any(|p| p.matches(action, &NoVars))
            != self.actions.negated
    }

    /// `Resource`/`NotResource` against the request's resource. A pattern
    /// whose policy variable has no value matches nothing; in `NotResource`
    /// it makes the statement not apply.
    pub(crate) fn resource_matches(&self, req: &Request) -> bool {
        let Some(rs) = &self.resources else {
            return true;
        };
        if rs.negated {
            if rs.patterns.iter().any(|p| p.unresolved(req).is_some()) {
                return false;
            }
            !rs.patterns.iter().any(|p| p.matches(&req.resource, req))
        } else {
            rs.patterns
                .iter()
                .any(|p| p.is_match_all() || p.matches(&req.resource, req))
        }
    }

    pub(crate) fn condition(&self) -> &Condition {
        &self.condition
    }
}

/// A parsed, validated and compiled policy document. Evaluation never
/// re-parses: patterns, CIDRs, dates and numbers are compiled here.
#[derive(Debug, Clone)]
pub struct Policy {
    version: PolicyVersion,
    id: Option<String>,
    statements: Vec<Statement>,
}

fn string_or_array<'a>(v: &'a Value, loc: &Location) -> Result<Vec<&'a str>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if items.is_empty() => {
            Err(PolicyError::at(loc, "must not be an empty list"))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| PolicyError::at(loc, "list items must be strings"))
            })
            .collect(),
        _ => Err(PolicyError::at(
            loc,
            "must be a string or a list of strings",
        )),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_aws_principal(s: &str, loc: &Location) -> Result<PrincipalEntry, PolicyError> {
    if s == "*" {
        return Ok(PrincipalEntry::Any);
    }
    if is_account_id(s) {
        return Ok(PrincipalEntry::Account(s.to_owned()));
    }
    if s.contains(['*', '?']) {
        return Err(PolicyError::at(
            loc,
            format!("invalid principal \"{s}\": wildcards are only allowed as \"*\" alone"),
        ));
    }
    let Some(("arn", _, service, "", account, resource)) = crate::request::split_arn(s) else {
        return Err(PolicyError::at(loc, format!("invalid principal \"{s}\"")));
    };
    if !is_account_id(account) {
        return Err(PolicyError::at(
            loc,
            format!("invalid principal \"{s}\": bad account id"),
        ));
    }
    let named = |prefix: &str| resource.strip_prefix(prefix).is_some_and(|n| !n.is_empty());
    Ok(match service {
        "iam" if resource == "root" => PrincipalEntry::Account(account.to_owned()),
        "iam" if named("user/") => PrincipalEntry::User(s.to_owned()),
        "iam" if named("role/") => PrincipalEntry::Role(s.to_owned()),
        "sts" if named("assumed-role/") && resource.matches('/').count() >= 2 => {
            PrincipalEntry::Session(s.to_owned())
        }
        "sts" if named("federated-user/") => PrincipalEntry::FederatedUser(s.to_owned()),
        _ => return Err(PolicyError::at(loc, format!("invalid principal \"{s}\""))),
    })
}

fn parse_principals(v: &Value, negated: bool, loc: &Location) -> Result<Principals, PolicyError> {
    let entries = match v {
        Value::String(s) if s == "*" => vec![PrincipalEntry::Any],
        Value::Object(map) if !map.is_empty() => {
            let mut entries = Vec::new();
            for (kind, vals) in map {
                let mut l = loc.clone();
                l.element = format!("{}.{kind}", loc.element);
                for s in string_or_array(vals, &l)? {
                    entries.push(match kind.as_str() {
                        "AWS" => parse_aws_principal(s, &l)?,
                        "Service" if !s.is_empty() => {
                            if s == "*" { PrincipalEntry::Any } else { PrincipalEntry::Service(s.to_ascii_lowercase()) }
                        }
                        "Federated" | "CanonicalUser" if !s.is_empty() => {
                            if s == "*" { PrincipalEntry::Any } else { PrincipalEntry::Other }
                        }
                        "Service" | "Federated" | "CanonicalUser" => {
                            return Err(PolicyError::at(&l, "principal must not be empty"));
                        }
                        other => {
                            return Err(PolicyError::at(
                                &l,
                                format!("unknown principal type \"{other}\" (expected AWS, Service, Federated or CanonicalUser)"),
                            ));
                        }
                    });
                }
            }
            entries
        }
        _ => {
            return Err(PolicyError::at(
                loc,
                "must be \"*\" or an object such as {\"AWS\": [...]}",
            ));
        }
    };
    Ok(Principals { negated, entries })
}

fn parse_action(s: &str, loc: &Location) -> Result<Pattern, PolicyError> {
    let valid = s == "*"
        || s.split_once(':').is_some_and(|(svc, name)| {
            !svc.is_empty()
                && !name.is_empty()
                && !name.contains(':')
                && svc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'*' | b'?'))
        });
    if !valid {
        return Err(PolicyError::at(
            loc,
            format!(
                "action \"{s}\" must be \"*\" or prefaced by a vendor, e.g. cloudtrail:DescribeTrails"
            ),
        ));
    }
    Ok(Pattern::compile(
        s,
        Mode {
            wildcards: true,
            variables: false,
            fold: true,
        },
    ))
}

fn parse_resource(s: &str, loc: &Location, variables: bool) -> Result<ArnPattern, PolicyError> {
    if s != "*" && !s.starts_with("arn:") {
        return Err(PolicyError::at(
            loc,
            format!("resource \"{s}\" must be in ARN format or \"*\""),
        ));
    }
    Ok(ArnPattern::compile(
        s,
        Mode {
            wildcards: true,
            variables,
            fold: false,
        },
    ))
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(
    map: &Map<String, Value>,
    index: usize,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let mut loc = Location {
        statement: Some(index),
        sid: None,
        element: "Sid".into(),
    };
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(PolicyError::at(&loc, "Sid must be a string")),
    };
    loc.sid.clone_from(&sid);
    for key in map.keys() {
        if !STATEMENT_ELEMENTS.contains(&key.as_str()) {
            loc.element = key.clone();
            return Err(PolicyError::at(
                &loc,
                format!("unknown element \"{key}\" (element names are case-sensitive)"),
            ));
        }
    }
    let at = |element: &str| Location {
        element: element.to_owned(),
        ..loc.clone()
    };
    let effect = match map.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(_) => {
            return Err(PolicyError::at(
                &at("Effect"),
                "Effect must be \"Allow\" or \"Deny\"",
            ));
        }
        None => {
            return Err(PolicyError::at(
                &at("Effect"),
                "missing required element Effect",
            ));
        }
    };
    let pair = |pos: &str, neg: &str| -> Result<Option<(&Value, bool, Location)>, PolicyError> {
        match (map.get(pos), map.get(neg)) {
            (Some(_), Some(_)) => Err(PolicyError::at(
                &at(pos),
                format!("{pos} and {neg} are mutually exclusive"),
            )),
            (Some(v), None) => Ok(Some((v, false, at(pos)))),
            (None, Some(v)) => Ok(Some((v, true, at(neg)))),
            (None, None) => Ok(None),
        }
    };
    let principals = match pair("Principal", "NotPrincipal")? {
        Some((v, negated, l)) => Some(parse_principals(v, negated, &l)?),
        None => None,
    };
    let actions = match pair("Action", "NotAction")? {
        Some((v, negated, l)) => Actions {
            negated,
            patterns: string_or_array(v, &l)?
                .into_iter()
                .map(|s| parse_action(s, &l))
                .collect::<Result<_, _>>()?,
        },
        None => {
            return Err(PolicyError::at(
                &at("Action"),
                "missing required element Action or NotAction",
            ));
        }
    };
    let resources = match pair("Resource", "NotResource")? {
        Some((v, negated, l)) => Some(Resources {
            negated,
            patterns: string_or_array(v, &l)?
                .into_iter()
                .map(|s| parse_resource(s, &l, variables))
                .collect::<Result<_, _>>()?,
        }),
        None => None,
    };
    let condition = match map.get("Condition") {
        Some(v) => Condition::parse(v, &at("Condition"), variables)?,
        None => Condition::default(),
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        actions,
        resources,
        condition,
    })
}

impl Policy {
    /// Parses and validates a policy document (structure, element names,
    /// operators and their values). Does not apply size quotas (see
    /// [`check_size`]) nor placement rules (see [`Policy::validate_as`]).
    pub fn parse(document: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(document).map_err(|e| PolicyError::Json {
            message: e.to_string(),
        })?;
        Self::from_value(&value)
    }

    /// [`check_size`] then [`Policy::parse`].
    pub fn parse_with_limit(document: &str, limit: usize) -> Result<Self, PolicyError> {
        check_size(document, limit)?;
        Self::parse(document)
    }

    /// Parses an already-decoded JSON document.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let top = |element: &str| Location {
            statement: None,
            sid: None,
            element: element.into(),
        };
        let Value::Object(map) = value else {
            return Err(PolicyError::at(
                &top("document"),
                "policy document must be a JSON object",
            ));
        };
        for key in map.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::at(
                    &top(key),
                    format!("unknown element \"{key}\" (element names are case-sensitive)"),
                ));
            }
        }
        let version = match map.get("Version") {
            None => PolicyVersion::V2008_10_17,
            Some(Value::String(v)) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
            Some(Value::String(v)) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
            Some(v) => {
                return Err(PolicyError::at(
                    &top("Version"),
                    format!("unsupported Version {v} (expected \"2012-10-17\" or \"2008-10-17\")"),
                ));
            }
        };
        let id = match map.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(PolicyError::at(&top("Id"), "Id must be a string")),
        };
        let items: Vec<&Value> = match map.get("Statement") {
            None => {
                return Err(PolicyError::at(
                    &top("Statement"),
                    "missing required element Statement",
                ));
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(PolicyError::at(
                    &top("Statement"),
                    "Statement must not be empty",
                ));
            }
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            Some(_) => {
                return Err(PolicyError::at(
                    &top("Statement"),
                    "Statement must be an object or a list of objects",
                ));
            }
        };
        let variables = version == PolicyVersion::V2012_10_17;
        let mut statements = Vec::with_capacity(items.len());
        let mut sids = BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let Value::Object(m) = item else {
                let loc = Location {
                    statement: Some(i),
                    sid: None,
                    element: "Statement".into(),
                };
                return Err(PolicyError::at(&loc, "each statement must be an object"));
            };
            let st = parse_statement(m, i, variables)?;
            if let Some(sid) = st.sid.as_deref().filter(|s| !s.is_empty())
                && !sids.insert(sid.to_owned())
            {
                let loc = Location {
                    statement: Some(i),
                    sid: Some(sid.to_owned()),
                    element: "Sid".into(),
                };
                return Err(PolicyError::at(
                    &loc,
                    "duplicate Sid: statement ids must be unique within a policy",
                ));
            }
            statements.push(st);
        }
        Ok(Self {
            version,
            id,
            statements,
        })
    }

    /// Checks the placement rules IAM applies on top of the grammar:
    /// identity policies carry no `Principal`/`NotPrincipal` and must name
    /// resources; resource policies must name a principal.
    pub fn validate_as(&self, kind: PolicyType) -> Result<(), PolicyError> {
        for (i, st) in self.statements.iter().enumerate() {
            let loc = |element: &str| Location {
                statement: Some(i),
                sid: st.sid.clone(),
                element: element.into(),
            };
            match kind {
                PolicyType::Identity if st.principals.is_some() => {
                    return Err(PolicyError::at(
                        &loc("Principal"),
                        "policy document should not specify a principal",
                    ));
                }
                PolicyType::Identity if st.resources.is_none() => {
                    return Err(PolicyError::at(
                        &loc("Resource"),
                        "policy statement must contain resources",
                    ));
                }
                PolicyType::Resource if st.principals.is_none() => {
                    return Err(PolicyError::at(
                        &loc("Principal"),
                        "statement is missing required element Principal",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The language version.
    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    /// The optional `Id`.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_object_or_array_and_defaults() {
        let p = Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#)
            .unwrap();
        assert_eq!(p.version(), PolicyVersion::V2008_10_17);
        assert_eq!(p.statements().len(), 1);
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A","Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:s3:::b"}]}"#,
        )
        .unwrap();
        assert_eq!(p.id(), Some("x"));
        assert_eq!(p.statements()[0].sid(), Some("A"));
        assert_eq!(p.statements()[0].effect(), Effect::Deny);
    }

    #[test]
    fn errors_name_statement_and_element() {
        let e = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"Two","Effect":"Allow","Action":"DescribeTrails","Resource":"*"}]}"#)
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("statement 1") && msg.contains("Two") && msg.contains("Action"),
            "{msg}"
        );
        assert_eq!(e.class().aws_code(), "MalformedPolicyDocument");
    }

    #[test]
    fn principals() {
        let loc = Location::default();
        assert_eq!(
            parse_aws_principal("123456789012", &loc).unwrap(),
            PrincipalEntry::Account("123456789012".into())
        );
        assert_eq!(
            parse_aws_principal("arn:aws:iam::123456789012:root", &loc).unwrap(),
            PrincipalEntry::Account("123456789012".into())
        );
        assert!(matches!(
            parse_aws_principal("arn:aws:iam::123456789012:role/R", &loc),
            Ok(PrincipalEntry::Role(_))
        ));
        assert!(matches!(
            parse_aws_principal("arn:aws:sts::123456789012:assumed-role/R/s", &loc),
            Ok(PrincipalEntry::Session(_))
        ));
        assert!(parse_aws_principal("arn:aws:iam::123456789012:user/*", &loc).is_err());
        assert!(parse_aws_principal("arn:aws:iam::12345:user/a", &loc).is_err());
        assert!(parse_aws_principal("bob", &loc).is_err());
    }

    #[test]
    fn size_limits_ignore_white_space() {
        assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
        assert!(
            check_size(
                &"x".repeat(MANAGED_POLICY_MAX_CHARS),
                MANAGED_POLICY_MAX_CHARS
            )
            .is_ok()
        );
        let e = check_size(
            &"x".repeat(INLINE_USER_POLICY_MAX_CHARS + 1),
            INLINE_USER_POLICY_MAX_CHARS,
        )
        .unwrap_err();
        assert_eq!(e.class().aws_code(), "LimitExceeded");
        let padded = format!("{}{{}}", " ".repeat(10_000));
        assert!(matches!(
            Policy::parse_with_limit(&padded, 10),
            Err(PolicyError::Malformed { .. })
        ));
    }

    #[test]
    fn placement_rules() {
        let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#).unwrap();
        assert!(p.validate_as(PolicyType::Resource).is_ok());
        assert!(p.validate_as(PolicyType::Identity).is_err());
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject"}}"#,
        )
        .unwrap();
        assert!(p.validate_as(PolicyType::Identity).is_err());
        assert!(p.validate_as(PolicyType::Resource).is_err());
    }
}
