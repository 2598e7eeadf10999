//! IAM users, their access keys and their inline policies: one function per operation.

use cairn_auth::Principal;
use cairn_iam::{AccessKeyInfo, User, parse_policy, user_arn};
use cairn_policy::PolicyType;

use super::params::{Ctx, Identity, iso, urlencode, validation};
use super::wire::Node;
use crate::error::ApiError;

/// A user as IAM renders it.
pub(super) fn user_node(account: &str, u: &User) -> Node {
    Node::Struct(vec![
        ("Path", Node::text(&u.path)),
        ("UserName", Node::text(&u.name)),
        ("UserId", Node::text(&u.user_id)),
        ("Arn", Node::text(user_arn(account, &u.path, &u.name))),
        ("CreateDate", Node::text(iso(u.create_date))),
    ])
}

/// `CreateUser`.
pub(super) fn create_user(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let path = c.p.path()?;
    c.allow(&user_arn(c.acct(), &path, name))?;
    let u = c.state.iam.create_user(c.acct(), name, &path)?;
    Ok(Node::Struct(vec![("User", user_node(c.acct(), &u))]))
}

/// `GetUser`: the named user, the calling user, or (for root without a name) the account.
pub(super) fn get_user(c: &Ctx<'_>) -> Result<Node, ApiError> {
    if c.p.opt("UserName").is_none()
        && let Principal::Root { account_id } = &c.caller.principal
    {
        return Ok(Node::Struct(vec![(
            "User",
            Node::Struct(vec![
                ("UserId", Node::text(account_id)),
                ("Arn", Node::text(format!("arn:aws:iam::{account_id}:root"))),
                ("CreateDate", Node::text(iso(0))),
            ]),
        )]));
    }
    let name = c.allowed_target_user()?;
    let u = c.state.iam.user(c.acct(), &name)?;
    Ok(Node::Struct(vec![("User", user_node(c.acct(), &u))]))
}

/// `DeleteUser`.
pub(super) fn delete_user(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed(Identity::User)?;
    c.state.iam.delete_user(c.acct(), name)?;
    Ok(Node::empty())
}

/// `ListUsers`.
pub(super) fn list_users(c: &Ctx<'_>) -> Result<Node, ApiError> {
    c.allow("*")?;
    let users = c
        .state
        .iam
        .users(c.acct(), c.p.opt("PathPrefix").unwrap_or("/"));
    Ok(c.p.page("Users", &users, |u| user_node(c.acct(), u))?)
}

/// `CreateAccessKey`: the secret is in the answer, never in the audit record.
pub(super) fn create_access_key(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed_target_user()?;
    let (k, secret) = c
        .state
        .iam
        .create_access_key(&c.state.credentials, c.acct(), &name)?;
    Ok(Node::Struct(vec![(
        "AccessKey",
        Node::Struct(vec![
            ("UserName", Node::text(&name)),
            ("AccessKeyId", Node::text(&k.access_key_id)),
            ("Status", Node::text(&k.status)),
            ("SecretAccessKey", Node::Secret(secret)),
            ("CreateDate", Node::text(iso(k.create_date))),
        ]),
    )]))
}

/// `ListAccessKeys`.
pub(super) fn list_access_keys(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed_target_user()?;
    let keys = c.state.iam.access_keys(c.acct(), &name)?;
    let (page, next) = c.p.paginate(&keys)?;
    let key = |k: &AccessKeyInfo| {
        Node::Struct(vec![
            ("UserName", Node::text(&name)),
            ("AccessKeyId", Node::text(&k.access_key_id)),
            ("Status", Node::text(&k.status)),
            ("CreateDate", Node::text(iso(k.create_date))),
        ])
    };
    Ok(super::params::with_paging(
        vec![
            (
                "AccessKeyMetadata",
                Node::List(page.iter().map(key).collect()),
            ),
            ("UserName", Node::text(&name)),
        ],
        next,
    ))
}

/// `UpdateAccessKey`.
pub(super) fn update_access_key(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.target_user()?;
    let key = c.p.req("AccessKeyId")?;
    let status = c.p.req("Status")?;
    if status != "Active" && status != "Inactive" {
        return Err(validation(format!(
            "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
        ))
        .into());
    }
    c.allow(&c.user_res(&name))?;
    c.state
        .iam
        .update_access_key(&c.state.credentials, c.acct(), &name, key, status)?;
    Ok(Node::empty())
}

/// `DeleteAccessKey`.
pub(super) fn delete_access_key(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.target_user()?;
    let key = c.p.req("AccessKeyId")?;
    c.allow(&c.user_res(&name))?;
    c.state
        .iam
        .delete_access_key(&c.state.credentials, c.acct(), &name, key)?;
    Ok(Node::empty())
}

/// `GetAccessKeyLastUsed`.
pub(super) fn get_access_key_last_used(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let key = c.p.req("AccessKeyId")?;
    let name = c.state.iam.key_owner(c.acct(), key)?;
    c.allow(&c.user_res(&name))?;
    let used = match c.state.iam.key_last_used(key) {
        Some(l) => Node::Struct(vec![
            ("LastUsedDate", Node::text(iso(l.date))),
            ("ServiceName", Node::text(l.service)),
            ("Region", Node::text(l.region)),
        ]),
        None => Node::Struct(vec![
            ("ServiceName", Node::text("N/A")),
            ("Region", Node::text("N/A")),
        ]),
    };
    Ok(Node::Struct(vec![
        ("UserName", Node::text(&name)),
        ("AccessKeyLastUsed", used),
    ]))
}

/// `PutUserPolicy`.
pub(super) fn put_user_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let policy = c.p.name("PolicyName", 128)?;
    let doc = c.p.req("PolicyDocument")?;
    c.allow(&c.user_res(name))?;
    parse_policy(
        doc,
        PolicyType::Identity,
        cairn_policy::INLINE_USER_POLICY_MAX_CHARS,
    )?;
    c.state.iam.put_user_policy(c.acct(), name, policy, doc)?;
    Ok(Node::empty())
}

/// `GetUserPolicy`.
pub(super) fn get_user_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let policy = c.p.name("PolicyName", 128)?;
    c.allow(&c.user_res(name))?;
    let doc = c.state.iam.user_policy(c.acct(), name, policy)?;
    Ok(Node::Struct(vec![
        ("UserName", Node::text(name)),
        ("PolicyName", Node::text(policy)),
        ("PolicyDocument", Node::text(urlencode(&doc))),
    ]))
}

/// `DeleteUserPolicy`.
pub(super) fn delete_user_policy(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let policy = c.p.name("PolicyName", 128)?;
    c.allow(&c.user_res(name))?;
    c.state.iam.delete_user_policy(c.acct(), name, policy)?;
    Ok(Node::empty())
}

/// `ListUserPolicies`.
pub(super) fn list_user_policies(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.allowed(Identity::User)?;
    let names: Vec<String> = c
        .state
        .iam
        .user(c.acct(), name)?
        .inline
        .keys()
        .cloned()
        .collect();
    Ok(c.p.page("PolicyNames", &names, |n| Node::text(n))?)
}
