//! What every IAM and STS operation shares: reading query parameters with AWS's validation
//! messages, `MaxItems`/`Marker` paging, the rendering of times, and [`Ctx`], the call an
//! operation function runs for (caller, environment, authorization).

use std::collections::BTreeMap;

use cairn_auth::Principal;
use cairn_iam::{IamError, role_arn, user_arn};
use time::OffsetDateTime;

use super::wire::Node;
use crate::authn::Caller;
use crate::authz::{Access, Environment, authorize};
use crate::error::ApiError;
use crate::state::AppState;

/// A ValidationError with `message`.
pub(super) fn validation(message: impl Into<String>) -> IamError {
    IamError::Validation(message.into())
}

/// AWS's message for a missing required parameter.
pub(super) fn missing(name: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(name)
    ))
}

/// `name` with its first character lower-cased (AWS's member names in messages).
pub(super) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// An ISO 8601 time of unix seconds `t`.
pub(super) fn iso(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// A policy document as IAM returns it: percent-encoded.
pub(super) fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The request's parameters.
pub(super) struct Params<'a>(pub(super) &'a BTreeMap<String, String>);

impl Params<'_> {
    /// An optional parameter.
    pub(super) fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter.
    pub(super) fn req(&self, name: &str) -> Result<&str, IamError> {
        self.opt(name).ok_or_else(|| missing(name))
    }

    /// A user, role or policy name: `[\w+=,.@-]+`, 1..=`max` characters.
    pub(super) fn name(&self, param: &str, max: usize) -> Result<&str, IamError> {
        let v = self.req(param)?;
        let ok = (1..=max).contains(&v.chars().count())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if ok {
            Ok(v)
        } else {
            Err(validation(format!(
                "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max}",
                lower_first(param)
            )))
        }
    }

    /// `Path`, `/` by default.
    pub(super) fn path(&self) -> Result<String, IamError> {
        let p = self.opt("Path").unwrap_or("/");
        let ok = p == "/"
            || (p.len() <= 512
                && p.starts_with('/')
                && p.ends_with('/')
                && p.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        if ok {
            Ok(p.to_owned())
        } else {
            Err(validation(format!(
                "The specified value for path is invalid. It must begin and end with / and contain only printable ASCII characters (got '{p}')"
            )))
        }
    }

    /// An optional integer.
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, IamError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| validation(format!("the value '{v}' of {name} is not an integer"))),
        }
    }

    /// `MaxItems`/`Marker` pagination over an already sorted list.
    pub(super) fn paginate<T: Clone>(
        &self,
        items: &[T],
    ) -> Result<(Vec<T>, Option<String>), IamError> {
        let max = self.int("MaxItems")?.unwrap_or(100);
        if !(1..=1000).contains(&max) {
            return Err(validation("MaxItems must be between 1 and 1000"));
        }
        let start: usize = match self.opt("Marker") {
            None => 0,
            Some(m) => m
                .parse()
                .map_err(|_| validation(format!("the marker '{m}' is not valid")))?,
        };
        let end = (start + max as usize).min(items.len());
        let page = items
            .get(start.min(items.len())..end)
            .unwrap_or(&[])
            .to_vec();
        let next = (end < items.len()).then(|| end.to_string());
        Ok((page, next))
    }

    /// One page of `items` as the list member `member`, with `IsTruncated` and `Marker`.
    pub(super) fn page<T: Clone>(
        &self,
        member: &'static str,
        items: &[T],
        render: impl Fn(&T) -> Node,
    ) -> Result<Node, IamError> {
        let (page, next) = self.paginate(items)?;
        Ok(with_paging(
            vec![(member, Node::List(page.iter().map(render).collect()))],
            next,
        ))
    }
}

/// `members` and the paging members of a list result.
pub(super) fn with_paging(mut members: Vec<(&'static str, Node)>, next: Option<String>) -> Node {
    members.push(("IsTruncated", Node::Bool(next.is_some())));
    if let Some(m) = next {
        members.push(("Marker", Node::text(m)));
    }
    Node::Struct(members)
}

/// The IAM identities a call names and attaches managed policies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identity {
    /// An IAM user, named by `UserName`.
    User,
    /// An IAM role, named by `RoleName`.
    Role,
}

impl Identity {
    /// The parameter that names one.
    pub(super) fn param(self) -> &'static str {
        match self {
            Identity::User => "UserName",
            Identity::Role => "RoleName",
        }
    }
}

/// One IAM or STS call: who asks, from where, with which parameters.
pub(super) struct Ctx<'a> {
    /// The server.
    pub(super) state: &'a AppState,
    /// The signer.
    pub(super) caller: &'a Caller,
    /// Request environment (address, transport, time).
    pub(super) env: &'a Environment,
    /// Parameters.
    pub(super) p: Params<'a>,
    /// `iam:<Action>` (or `sts:<Action>`), what policies decide on.
    pub(super) action: String,
}

impl Ctx<'_> {
    /// The caller's account, the one IAM operations act in.
    pub(super) fn acct(&self) -> &str {
        &self.caller.account
    }

    /// Authorizes the call's action on `resource`.
    pub(super) fn allow(&self, resource: &str) -> Result<(), ApiError> {
        authorize(
            self.state,
            self.caller,
            self.env,
            &Access::new(&self.action, resource),
        )
        .map_err(|d| IamError::AccessDenied(d.message).into())
    }

    /// The ARN of the `kind` named `name` in the caller's account (at its path, when it
    /// exists).
    pub(super) fn res(&self, kind: Identity, name: &str) -> String {
        let (acct, iam) = (self.acct(), &self.state.iam);
        let path = match kind {
            Identity::User => iam.user(acct, name).map(|u| u.path),
            Identity::Role => iam.role(acct, name).map(|r| r.path),
        }
        .unwrap_or_else(|_| "/".into());
        match kind {
            Identity::User => user_arn(acct, &path, name),
            Identity::Role => role_arn(acct, &path, name),
        }
    }

    /// The ARN of user `name` of the caller's account ([`Ctx::res`]).
    pub(super) fn user_res(&self, name: &str) -> String {
        self.res(Identity::User, name)
    }

    /// The user an access-key, MFA or `GetUser` call is about: `UserName`, or the caller.
    pub(super) fn target_user(&self) -> Result<String, IamError> {
        if self.p.opt("UserName").is_some() {
            return Ok(self.p.name("UserName", 64)?.to_owned());
        }
        match &self.caller.principal {
            Principal::IamUser { user_name, .. } => Ok(user_name.clone()),
            _ => Err(validation(
                "Must specify userName when calling with non-User credentials",
            )),
        }
    }

    /// The `kind` the call names (`UserName` or `RoleName`, required), authorized on it.
    pub(super) fn allowed(&self, kind: Identity) -> Result<&str, ApiError> {
        let name = self.p.name(kind.param(), 64)?;
        self.allow(&self.res(kind, name))?;
        Ok(name)
    }

    /// The target user ([`Ctx::target_user`]), authorized.
    pub(super) fn allowed_target_user(&self) -> Result<String, ApiError> {
        let name = self.target_user()?;
        self.allow(&self.user_res(&name))?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_paging() {
        let mut m = BTreeMap::new();
        m.insert("UserName".to_owned(), "bad name".to_owned());
        m.insert("Path".to_owned(), "/ops/".to_owned());
        m.insert("MaxItems".to_owned(), "2".to_owned());
        let p = Params(&m);
        assert_eq!(
            p.name("UserName", 64).unwrap_err().code(),
            "ValidationError"
        );
        assert_eq!(p.path().unwrap(), "/ops/");
        assert!(missing("RoleName").to_string().contains("'roleName'"));
        let (page, next) = p.paginate(&[1, 2, 3]).unwrap();
        assert_eq!((page, next.as_deref()), (vec![1, 2], Some("2")));
        m.insert("Marker".to_owned(), "2".to_owned());
        let (page, next) = Params(&m).paginate(&[1, 2, 3]).unwrap();
        assert_eq!((page, next), (vec![3], None));
    }
}
