//! Managed policies and their attachment to users and roles: one function per operation.

use cairn_iam::{IamError, PolicyInfo, parse_policy, policy_arn};
use cairn_policy::PolicyType;

use super::params::{Ctx, Identity, iso, urlencode, validation, with_paging};
use super::wire::Node;
use crate::error::ApiError;

/// A policy's metadata as IAM renders it.
fn policy_node(p: &PolicyInfo) -> Node {
    let mut m = vec![
        ("PolicyName", Node::text(&p.name)),
        ("PolicyId", Node::text(&p.policy_id)),
        ("Arn", Node::text(&p.arn)),
        ("Path", Node::text(&p.path)),
        ("DefaultVersionId", Node::text("v1")),
        ("AttachmentCount", Node::Int(p.attachment_count as i64)),
        ("PermissionsBoundaryUsageCount", Node::Int(0)),
        ("IsAttachable", Node::Bool(true)),
    ];
    if let Some(d) = &p.description {
        m.push(("Description", Node::text(d)));
    }
    m.push(("CreateDate", Node::text(iso(p.create_date))));
    m.push(("UpdateDate", Node::text(iso(p.create_date))));
    Node::Struct(m)
}

/// `PolicyArn` (required), authorized on that policy.
fn allowed_policy<'a>(c: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let arn = c.p.req("PolicyArn")?;
    c.allow(arn)?;
    Ok(arn)
}

/// `CreatePolicy`.
pub(super) fn create_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("PolicyName", 128)?;
    let path = c.p.path()?;
    let doc = c.p.req("PolicyDocument")?;
    c.allow(&policy_arn(c.acct(), &path, name))?;
    parse_policy(
        doc,
        PolicyType::Identity,
        cairn_policy::MANAGED_POLICY_MAX_CHARS,
    )?;
    let description = c.p.opt("Description").map(str::to_owned);
    let info = c
        .state
        .iam
        .create_policy(c.acct(), name, &path, doc, description)?;
    Ok(Node::Struct(vec![("Policy", policy_node(&info))]))
}

/// `GetPolicy`.
pub(super) fn get_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let arn = allowed_policy(c)?;
    let info = c.state.iam.policy(c.acct(), arn)?;
    Ok(Node::Struct(vec![("Policy", policy_node(&info))]))
}

/// `GetPolicyVersion`: every policy has one version, `v1`.
pub(super) fn get_policy_version(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let arn = c.p.req("PolicyArn")?;
    let version = c.p.req("VersionId")?;
    c.allow(arn)?;
    let doc = c.state.iam.policy_document(c.acct(), arn)?;
    if version != "v1" {
        return Err(IamError::NoSuchEntity(format!(
            "Policy {arn} version {version} does not exist or is not attachable."
        ))
        .into());
    }
    Ok(Node::Struct(vec![(
        "PolicyVersion",
        Node::Struct(vec![
            ("Document", Node::text(urlencode(&doc))),
            ("VersionId", Node::text("v1")),
            ("IsDefaultVersion", Node::Bool(true)),
        ]),
    )]))
}

/// `ListPolicies`.
pub(super) fn list_policies(c: &Ctx<'_>) -> Result<Node, ApiError> {
    c.allow("*")?;
    let scope = c.p.opt("Scope").unwrap_or("All");
    if !["All", "AWS", "Local"].contains(&scope) {
        return Err(validation(format!(
            "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
        ))
        .into());
    }
    let only = c.p.opt("OnlyAttached") == Some("true");
    let prefix = c.p.opt("PathPrefix").unwrap_or("/");
    let mut list = c.state.iam.policies(c.acct(), scope, only);
    list.retain(|i| i.path.starts_with(prefix));
    Ok(c.p.page("Policies", &list, policy_node)?)
}

/// `DeletePolicy`.
pub(super) fn delete_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let arn = allowed_policy(c)?;
    c.state.iam.delete_policy(c.acct(), arn)?;
    Ok(Node::empty())
}

/// `AttachUserPolicy`/`AttachRolePolicy` (`attach`) or `DetachUserPolicy`/`DetachRolePolicy`.
pub(super) fn attach_policy(c: &Ctx<'_>, kind: Identity, attach: bool) -> Result<Node, ApiError> {
    let name = c.p.name(kind.param(), 64)?;
    let arn = c.p.req("PolicyArn")?;
    c.allow(&c.res(kind, name))?;
    let iam = &c.state.iam;
    match kind {
        Identity::User => iam.attach_user_policy(c.acct(), name, arn, attach)?,
        Identity::Role => iam.attach_role_policy(c.acct(), name, arn, attach)?,
    }
    Ok(Node::empty())
}

/// A page of attached policy ARNs.
fn attached_page(c: &Ctx<'_>, attached: &[String]) -> Result<Node, ApiError> {
    let iam = &c.state.iam;
    Ok(c.p.page("AttachedPolicies", attached, |arn| {
        Node::Struct(vec![
            ("PolicyName", Node::text(iam.policy_name(arn))),
            ("PolicyArn", Node::text(arn)),
        ])
    })?)
}

/// `ListAttachedUserPolicies` or `ListAttachedRolePolicies`.
pub(super) fn list_attached_policies(c: &Ctx<'_>, kind: Identity) -> Result<Node, ApiError> {
    let name = c.allowed(kind)?;
    let attached = match kind {
        Identity::User => c.state.iam.user(c.acct(), name)?.attached,
        Identity::Role => c.state.iam.role(c.acct(), name)?.attached,
    };
    attached_page(c, &attached)
}

/// `ListEntitiesForPolicy` (`EntityFilter` `User` or `Role`; no groups in Cairn).
pub(super) fn list_entities_for_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let arn = allowed_policy(c)?;
    let (users, roles) = c.state.iam.entities_for_policy(c.acct(), arn)?;
    let filter = c.p.opt("EntityFilter");
    let want = |k: &str| filter.is_none_or(|f| f == k);
    let users = users.iter().filter(|_| want("User")).map(|u| {
        Node::Struct(vec![
            ("UserName", Node::text(&u.name)),
            ("UserId", Node::text(&u.user_id)),
        ])
    });
    let roles = roles.iter().filter(|_| want("Role")).map(|r| {
        Node::Struct(vec![
            ("RoleName", Node::text(&r.name)),
            ("RoleId", Node::text(&r.role_id)),
        ])
    });
    Ok(with_paging(
        vec![
            ("PolicyGroups", Node::List(Vec::new())),
            ("PolicyUsers", Node::List(users.collect())),
            ("PolicyRoles", Node::List(roles.collect())),
        ],
        None,
    ))
}
