//! IAM roles: one function per operation.

use cairn_iam::{DEFAULT_MAX_SESSION, LARGEST_MAX_SESSION, Role, parse_policy, role_arn};
use cairn_policy::PolicyType;

use super::params::{Ctx, Identity, iso, urlencode, validation};
use super::wire::Node;
use crate::error::ApiError;

/// A role as IAM renders it.
pub(super) fn role_node(account: &str, r: &Role) -> Node {
    let mut m = vec![
        ("Path", Node::text(&r.path)),
        ("RoleName", Node::text(&r.name)),
        ("RoleId", Node::text(&r.role_id)),
        ("Arn", Node::text(role_arn(account, &r.path, &r.name))),
        ("CreateDate", Node::text(iso(r.create_date))),
        (
            "AssumeRolePolicyDocument",
            Node::text(urlencode(&r.trust_policy)),
        ),
    ];
    if let Some(d) = &r.description {
        m.push(("Description", Node::text(d)));
    }
    m.push((
        "MaxSessionDuration",
        Node::Int(i64::from(r.max_session_duration)),
    ));
    Node::Struct(m)
}

/// `CreateRole`.
pub(super) fn create_role(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("RoleName", 64)?;
    let path = c.p.path()?;
    let doc = c.p.req("AssumeRolePolicyDocument")?;
    let max =
        c.p.int("MaxSessionDuration")?
            .unwrap_or(i64::from(DEFAULT_MAX_SESSION));
    let Some(max) = u32::try_from(max)
        .ok()
        .filter(|m| (DEFAULT_MAX_SESSION..=LARGEST_MAX_SESSION).contains(m))
    else {
        return Err(validation(format!(
            "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between {DEFAULT_MAX_SESSION} and {LARGEST_MAX_SESSION}"
        ))
        .into());
    };
    c.allow(&role_arn(c.acct(), &path, name))?;
    parse_policy(
        doc,
        PolicyType::Resource,
        cairn_policy::ROLE_TRUST_POLICY_MAX_CHARS,
    )?;
    let role = Role {
        v: 1,
        path,
        name: name.to_owned(),
        role_id: String::new(),
        create_date: 0,
        trust_policy: doc.to_owned(),
        description: c.p.opt("Description").map(str::to_owned),
        max_session_duration: max,
        attached: Vec::new(),
    };
    let r = c.state.iam.create_role(c.acct(), role)?;
    Ok(Node::Struct(vec![("Role", role_node(c.acct(), &r))]))
}

/// `GetRole`.
pub(super) fn get_role(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed(Identity::Role)?;
    let r = c.state.iam.role(c.acct(), name)?;
    Ok(Node::Struct(vec![("Role", role_node(c.acct(), &r))]))
}

/// `DeleteRole`.
pub(super) fn delete_role(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed(Identity::Role)?;
    c.state.iam.delete_role(c.acct(), name)?;
    Ok(Node::empty())
}

/// `ListRoles`.
pub(super) fn list_roles(c: &Ctx<'_>) -> Result<Node, ApiError> {
    c.allow("*")?;
    let roles = c
        .state
        .iam
        .roles(c.acct(), c.p.opt("PathPrefix").unwrap_or("/"));
    Ok(c.p.page("Roles", &roles, |r| role_node(c.acct(), r))?)
}
