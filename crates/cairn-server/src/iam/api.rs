//! The IAM (`2010-05-08`) and STS (`2011-06-15`) query-protocol APIs: form-encoded
//! `Action=...` requests, XML responses with AWS's element names, every call authorized
//! through [`crate::authz::authorize`] (`iam:<Action>` on the user, role or policy ARN;
//! `sts:AssumeRole` on the role, with its trust policy as the resource policy).

use std::collections::BTreeMap;

use base64::Engine as _;
use cairn_auth::Principal;
use cairn_policy::PolicyType;
use http::StatusCode;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::wire::Node;
use super::{
    DEFAULT_MAX_SESSION, LARGEST_MAX_SESSION, PolicyInfo, Role, User, no_such_entity, parse_policy,
    policy_arn, role_arn, user_arn, validation,
};
use crate::authn::Caller;
use crate::authz::{Access, Environment, authorize};
use crate::error::ApiError;
use crate::state::AppState;

/// The two query-protocol services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// IAM, `2010-05-08`.
    Iam,
    /// STS, `2011-06-15`.
    Sts,
}

impl Service {
    /// From the SigV4 scope's service name.
    pub fn from_scope(name: &str) -> Option<Self> {
        match name {
            "iam" => Some(Self::Iam),
            "sts" => Some(Self::Sts),
            _ => None,
        }
    }

    /// The XML namespace of responses.
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Self::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }

    /// API version.
    pub fn version(self) -> &'static str {
        match self {
            Self::Iam => "2010-05-08",
            Self::Sts => "2011-06-15",
        }
    }

    /// `eventSource` of audit records.
    pub fn event_source(self) -> &'static str {
        match self {
            Self::Iam => "iam.amazonaws.com",
            Self::Sts => "sts.amazonaws.com",
        }
    }
}

/// A parsed query-protocol request.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// `Action`.
    pub action: String,
    /// Every other parameter.
    pub params: BTreeMap<String, String>,
}

/// Reads `Action` and the parameters from the query string and the form body.
pub fn parse_request(service: Service, query: &str, body: &[u8]) -> Result<QueryRequest, ApiError> {
    let mut params = BTreeMap::new();
    let body = std::str::from_utf8(body)
        .map_err(|_| ApiError::client("MalformedQueryString", "the request body is not UTF-8"))?;
    for (k, v) in crate::dataplane::form_urlencoded(query)
        .into_iter()
        .chain(crate::dataplane::form_urlencoded(body))
    {
        params.insert(k, v);
    }
    let action = params
        .remove("Action")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::client("MissingAction", "Missing Action"))?;
    if let Some(v) = params.remove("Version")
        && v != service.version()
    {
        return Err(ApiError::client(
            "InvalidAction",
            format!(
                "Could not find operation {action} for version {v}; this service speaks version {}",
                service.version()
            ),
        ));
    }
    Ok(QueryRequest { action, params })
}

/// Whether the action only reads.
pub fn is_read_only(action: &str) -> bool {
    action.starts_with("Get") || action.starts_with("List")
}

/// The `requestParameters` of the audit record: camelCase names, no MFA codes, passwords
/// or tokens, and none of a presigned URL's signature and credential
/// ([`crate::identity::is_secret_parameter`]).
pub fn audit_parameters(req: &QueryRequest) -> Value {
    let mut m = Map::new();
    for (k, v) in &req.params {
        if crate::identity::is_secret_parameter(k) {
            continue;
        }
        let mut c = k.chars();
        let key = match c.next() {
            Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
            None => continue,
        };
        m.insert(key, Value::String(v.clone()));
    }
    Value::Object(m)
}

fn iso(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn user_node(account: &str, u: &User) -> Node {
    Node::Struct(vec![
        ("Path", Node::text(&u.path)),
        ("UserName", Node::text(&u.name)),
        ("UserId", Node::text(&u.user_id)),
        ("Arn", Node::text(user_arn(account, &u.path, &u.name))),
        ("CreateDate", Node::text(iso(u.create_date))),
    ])
}

fn role_node(account: &str, r: &Role) -> Node {
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

/// AWS's message for a missing required parameter.
fn missing(name: &str) -> ApiError {
    let mut c = name.chars();
    let member = c
        .next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default();
    validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

struct Params<'a>(&'a BTreeMap<String, String>);

impl Params<'_> {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| missing(name))
    }

    /// A user, role or policy name: `[\w+=,.@-]+`, 1..=`max` characters.
    fn name(&self, param: &str, max: usize) -> Result<&str, ApiError> {
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

    fn path(&self) -> Result<String, ApiError> {
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

    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| validation(format!("the value '{v}' of {name} is not an integer"))),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `MaxItems`/`Marker` pagination over an already sorted list.
fn paginate<T: Clone>(items: &[T], p: &Params<'_>) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = p.int("MaxItems")?.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(validation("MaxItems must be between 1 and 1000"));
    }
    let start: usize = match p.opt("Marker") {
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

fn with_paging(mut members: Vec<(&'static str, Node)>, next: Option<String>) -> Node {
    members.push(("IsTruncated", Node::Bool(next.is_some())));
    if let Some(m) = next {
        members.push(("Marker", Node::text(m)));
    }
    Node::Struct(members)
}

fn denied(message: String) -> ApiError {
    ApiError::with_status(StatusCode::FORBIDDEN, "AccessDenied", message)
}

fn check(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    authorize(state, caller, env, &Access::new(action, resource)).map_err(|d| denied(d.message))
}

/// The user an access-key or `GetUser` call is about: `UserName`, or the caller itself.
fn target_user(caller: &Caller, p: &Params<'_>) -> Result<String, ApiError> {
    if p.opt("UserName").is_some() {
        return Ok(p.name("UserName", 64)?.to_owned());
    }
    match &caller.principal {
        Principal::IamUser { user_name, .. } => Ok(user_name.clone()),
        _ => Err(validation(
            "Must specify userName when calling with non-User credentials",
        )),
    }
}

/// The TOTP check behind `AssumeRole`'s `SerialNumber` + `TokenCode`: the device must be
/// an enabled virtual MFA device of the caller's account assigned to the calling IAM user
/// ([`crate::mfa`]), and the code valid and unused. Anything else is AWS's `AccessDenied`
/// ("MultiFactorAuthentication failed with invalid MFA one time pass code.").
pub fn verify_mfa_code(
    state: &AppState,
    caller: &Caller,
    serial_number: &str,
    token_code: &str,
) -> Result<bool, ApiError> {
    let failed =
        || denied("MultiFactorAuthentication failed with invalid MFA one time pass code.".into());
    let Principal::IamUser { user_name, .. } = &caller.principal else {
        return Err(failed());
    };
    let account = caller.account.as_str();
    let owner =
        crate::mfa::device_user(&state.catalog, account, serial_number).map_err(mfa_error)?;
    if owner.as_deref() != Some(user_name.as_str()) {
        return Err(failed());
    }
    match crate::mfa::verify_code(
        &state.catalog,
        &state.master,
        account,
        serial_number,
        token_code,
        OffsetDateTime::now_utc(),
    ) {
        Ok(()) => Ok(true),
        Err(crate::mfa::MfaError::Internal(e)) => Err(ApiError::internal(e)),
        Err(_) => Err(failed()),
    }
}

/// An MFA failure as IAM answers it.
fn mfa_error(e: crate::mfa::MfaError) -> ApiError {
    use crate::mfa::MfaError;
    match e {
        MfaError::Internal(detail) => ApiError::internal(detail),
        MfaError::NoSuchEntity(_) => {
            ApiError::with_status(http::StatusCode::NOT_FOUND, e.code(), e.to_string())
        }
        MfaError::InvalidAuthenticationCode | MfaError::NotEnabled(_) => ApiError::with_status(
            http::StatusCode::FORBIDDEN,
            e.code(),
            "Authentication code for the MFA device is not valid.",
        ),
        MfaError::AlreadyExists(_) | MfaError::Conflict(_) => {
            ApiError::with_status(http::StatusCode::CONFLICT, e.code(), e.to_string())
        }
        other => ApiError::client(other.code(), other.to_string()),
    }
}

fn not_implemented(what: &str) -> ApiError {
    ApiError::client(
        "NotImplemented",
        format!("{what} is not implemented by this Cairn server"),
    )
}

/// Runs one IAM or STS action for `caller`.
pub fn call(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    service: Service,
    req: &QueryRequest,
) -> Result<Node, ApiError> {
    match service {
        Service::Iam => iam_call(state, caller, env, req),
        Service::Sts => sts_call(state, caller, env, req),
    }
}

fn iam_call(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    req: &QueryRequest,
) -> Result<Node, ApiError> {
    let iam = &state.iam;
    let acct = caller.account.as_str();
    let p = Params(&req.params);
    let action = format!("iam:{}", req.action);
    let user_res = |name: &str| {
        let path = iam
            .user(acct, name)
            .map(|u| u.path)
            .unwrap_or_else(|_| "/".into());
        user_arn(acct, &path, name)
    };
    let role_res = |name: &str| {
        let path = iam
            .role(acct, name)
            .map(|r| r.path)
            .unwrap_or_else(|_| "/".into());
        role_arn(acct, &path, name)
    };
    let allow = |resource: &str| check(state, caller, env, &action, resource);
    match req.action.as_str() {
        "CreateUser" => {
            let name = p.name("UserName", 64)?;
            let path = p.path()?;
            allow(&user_arn(acct, &path, name))?;
            let u = iam.create_user(acct, name, &path)?;
            Ok(Node::Struct(vec![("User", user_node(acct, &u))]))
        }
        "GetUser" => {
            if p.opt("UserName").is_none()
                && let Principal::Root { account_id } = &caller.principal
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
            let name = target_user(caller, &p)?;
            allow(&user_res(&name))?;
            let u = iam.user(acct, &name)?;
            Ok(Node::Struct(vec![("User", user_node(acct, &u))]))
        }
        "DeleteUser" => {
            let name = p.name("UserName", 64)?;
            allow(&user_res(name))?;
            iam.delete_user(acct, name)?;
            Ok(Node::empty())
        }
        "ListUsers" => {
            allow("*")?;
            let users = iam.users(acct, p.opt("PathPrefix").unwrap_or("/"));
            let (page, next) = paginate(&users, &p)?;
            Ok(with_paging(
                vec![(
                    "Users",
                    Node::List(page.iter().map(|u| user_node(acct, u)).collect()),
                )],
                next,
            ))
        }
        "CreateAccessKey" => {
            let name = target_user(caller, &p)?;
            allow(&user_res(&name))?;
            let (k, secret) = iam.create_access_key(&state.credentials, acct, &name)?;
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
        "ListAccessKeys" => {
            let name = target_user(caller, &p)?;
            allow(&user_res(&name))?;
            let keys = iam.access_keys(acct, &name)?;
            let (page, next) = paginate(&keys, &p)?;
            Ok(with_paging(
                vec![
                    (
                        "AccessKeyMetadata",
                        Node::List(
                            page.iter()
                                .map(|k| {
                                    Node::Struct(vec![
                                        ("UserName", Node::text(&name)),
                                        ("AccessKeyId", Node::text(&k.access_key_id)),
                                        ("Status", Node::text(&k.status)),
                                        ("CreateDate", Node::text(iso(k.create_date))),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                    ("UserName", Node::text(&name)),
                ],
                next,
            ))
        }
        "UpdateAccessKey" => {
            let name = target_user(caller, &p)?;
            let key = p.req("AccessKeyId")?;
            let status = p.req("Status")?;
            if status != "Active" && status != "Inactive" {
                return Err(validation(format!(
                    "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                )));
            }
            allow(&user_res(&name))?;
            iam.update_access_key(&state.credentials, acct, &name, key, status)?;
            Ok(Node::empty())
        }
        "DeleteAccessKey" => {
            let name = target_user(caller, &p)?;
            let key = p.req("AccessKeyId")?;
            allow(&user_res(&name))?;
            iam.delete_access_key(&state.credentials, acct, &name, key)?;
            Ok(Node::empty())
        }
        "GetAccessKeyLastUsed" => {
            let key = p.req("AccessKeyId")?;
            let name = iam.key_owner(acct, key)?;
            allow(&user_res(&name))?;
            let used = match iam.key_last_used(key) {
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
        "CreateRole" => {
            let name = p.name("RoleName", 64)?;
            let path = p.path()?;
            let doc = p.req("AssumeRolePolicyDocument")?;
            let max = p
                .int("MaxSessionDuration")?
                .unwrap_or(i64::from(DEFAULT_MAX_SESSION));
            if !(i64::from(DEFAULT_MAX_SESSION)..=i64::from(LARGEST_MAX_SESSION)).contains(&max) {
                return Err(validation(format!(
                    "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between {DEFAULT_MAX_SESSION} and {LARGEST_MAX_SESSION}"
                )));
            }
            allow(&role_arn(acct, &path, name))?;
            parse_policy(
                doc,
                PolicyType::Resource,
                cairn_policy::ROLE_TRUST_POLICY_MAX_CHARS,
            )?;
            let r = iam.create_role(
                acct,
                Role {
                    v: 1,
                    path,
                    name: name.to_owned(),
                    role_id: String::new(),
                    create_date: 0,
                    trust_policy: doc.to_owned(),
                    description: p.opt("Description").map(str::to_owned),
                    max_session_duration: max as u32,
                    attached: Vec::new(),
                },
            )?;
            Ok(Node::Struct(vec![("Role", role_node(acct, &r))]))
        }
        "GetRole" => {
            let name = p.name("RoleName", 64)?;
            allow(&role_res(name))?;
            let r = iam.role(acct, name)?;
            Ok(Node::Struct(vec![("Role", role_node(acct, &r))]))
        }
        "DeleteRole" => {
            let name = p.name("RoleName", 64)?;
            allow(&role_res(name))?;
            iam.delete_role(acct, name)?;
            Ok(Node::empty())
        }
        "ListRoles" => {
            allow("*")?;
            let roles = iam.roles(acct, p.opt("PathPrefix").unwrap_or("/"));
            let (page, next) = paginate(&roles, &p)?;
            Ok(with_paging(
                vec![(
                    "Roles",
                    Node::List(page.iter().map(|r| role_node(acct, r)).collect()),
                )],
                next,
            ))
        }
        "CreatePolicy" => {
            let name = p.name("PolicyName", 128)?;
            let path = p.path()?;
            let doc = p.req("PolicyDocument")?;
            allow(&policy_arn(acct, &path, name))?;
            parse_policy(
                doc,
                PolicyType::Identity,
                cairn_policy::MANAGED_POLICY_MAX_CHARS,
            )?;
            let info = iam.create_policy(
                acct,
                name,
                &path,
                doc,
                p.opt("Description").map(str::to_owned),
            )?;
            Ok(Node::Struct(vec![("Policy", policy_node(&info))]))
        }
        "GetPolicy" => {
            let arn = p.req("PolicyArn")?;
            allow(arn)?;
            let info = iam.policy(acct, arn)?;
            Ok(Node::Struct(vec![("Policy", policy_node(&info))]))
        }
        "GetPolicyVersion" => {
            let arn = p.req("PolicyArn")?;
            let version = p.req("VersionId")?;
            allow(arn)?;
            let doc = iam.policy_document(acct, arn)?;
            if version != "v1" {
                return Err(no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
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
        "ListPolicies" => {
            allow("*")?;
            let scope = p.opt("Scope").unwrap_or("All");
            if !["All", "AWS", "Local"].contains(&scope) {
                return Err(validation(format!(
                    "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
                )));
            }
            let only = p.opt("OnlyAttached") == Some("true");
            let prefix = p.opt("PathPrefix").unwrap_or("/");
            let mut list = iam.policies(acct, scope, only);
            list.retain(|i| i.path.starts_with(prefix));
            let (page, next) = paginate(&list, &p)?;
            Ok(with_paging(
                vec![(
                    "Policies",
                    Node::List(page.iter().map(policy_node).collect()),
                )],
                next,
            ))
        }
        "DeletePolicy" => {
            let arn = p.req("PolicyArn")?;
            allow(arn)?;
            iam.delete_policy(acct, arn)?;
            Ok(Node::empty())
        }
        "AttachUserPolicy" | "DetachUserPolicy" => {
            let name = p.name("UserName", 64)?;
            let arn = p.req("PolicyArn")?;
            allow(&user_res(name))?;
            iam.attach_user_policy(acct, name, arn, req.action == "AttachUserPolicy")?;
            Ok(Node::empty())
        }
        "AttachRolePolicy" | "DetachRolePolicy" => {
            let name = p.name("RoleName", 64)?;
            let arn = p.req("PolicyArn")?;
            allow(&role_res(name))?;
            iam.attach_role_policy(acct, name, arn, req.action == "AttachRolePolicy")?;
            Ok(Node::empty())
        }
        "PutUserPolicy" => {
            let name = p.name("UserName", 64)?;
            let policy = p.name("PolicyName", 128)?;
            let doc = p.req("PolicyDocument")?;
            allow(&user_res(name))?;
            parse_policy(
                doc,
                PolicyType::Identity,
                cairn_policy::INLINE_USER_POLICY_MAX_CHARS,
            )?;
            iam.put_user_policy(acct, name, policy, doc)?;
            Ok(Node::empty())
        }
        "GetUserPolicy" => {
            let name = p.name("UserName", 64)?;
            let policy = p.name("PolicyName", 128)?;
            allow(&user_res(name))?;
            let doc = iam.user_policy(acct, name, policy)?;
            Ok(Node::Struct(vec![
                ("UserName", Node::text(name)),
                ("PolicyName", Node::text(policy)),
                ("PolicyDocument", Node::text(urlencode(&doc))),
            ]))
        }
        "DeleteUserPolicy" => {
            let name = p.name("UserName", 64)?;
            let policy = p.name("PolicyName", 128)?;
            allow(&user_res(name))?;
            iam.delete_user_policy(acct, name, policy)?;
            Ok(Node::empty())
        }
        "ListUserPolicies" => {
            let name = p.name("UserName", 64)?;
            allow(&user_res(name))?;
            let names: Vec<String> = iam.user(acct, name)?.inline.keys().cloned().collect();
            let (page, next) = paginate(&names, &p)?;
            Ok(with_paging(
                vec![(
                    "PolicyNames",
                    Node::List(page.into_iter().map(Node::Text).collect()),
                )],
                next,
            ))
        }
        "ListAttachedUserPolicies" | "ListAttachedRolePolicies" => {
            let attached = if req.action == "ListAttachedUserPolicies" {
                let name = p.name("UserName", 64)?;
                allow(&user_res(name))?;
                iam.user(acct, name)?.attached
            } else {
                let name = p.name("RoleName", 64)?;
                allow(&role_res(name))?;
                iam.role(acct, name)?.attached
            };
            let (page, next) = paginate(&attached, &p)?;
            Ok(with_paging(
                vec![(
                    "AttachedPolicies",
                    Node::List(
                        page.iter()
                            .map(|arn| {
                                Node::Struct(vec![
                                    ("PolicyName", Node::text(iam.policy_name(arn))),
                                    ("PolicyArn", Node::text(arn)),
                                ])
                            })
                            .collect(),
                    ),
                )],
                next,
            ))
        }
        "ListEntitiesForPolicy" => {
            let arn = p.req("PolicyArn")?;
            allow(arn)?;
            let (users, roles) = iam.entities_for_policy(acct, arn)?;
            let filter = p.opt("EntityFilter");
            let want = |k: &str| filter.is_none_or(|f| f == k);
            Ok(with_paging(
                vec![
                    ("PolicyGroups", Node::List(Vec::new())),
                    (
                        "PolicyUsers",
                        Node::List(if want("User") {
                            users
                                .iter()
                                .map(|u| {
                                    Node::Struct(vec![
                                        ("UserName", Node::text(&u.name)),
                                        ("UserId", Node::text(&u.user_id)),
                                    ])
                                })
                                .collect()
                        } else {
                            Vec::new()
                        }),
                    ),
                    (
                        "PolicyRoles",
                        Node::List(if want("Role") {
                            roles
                                .iter()
                                .map(|r| {
                                    Node::Struct(vec![
                                        ("RoleName", Node::text(&r.name)),
                                        ("RoleId", Node::text(&r.role_id)),
                                    ])
                                })
                                .collect()
                        } else {
                            Vec::new()
                        }),
                    ),
                ],
                None,
            ))
        }
        "CreateVirtualMFADevice" => {
            let name = p.name("VirtualMFADeviceName", 226)?;
            if p.path()? != "/" {
                return Err(not_implemented("CreateVirtualMFADevice with a Path"));
            }
            allow(&format!("arn:aws:iam::{acct}:mfa/{name}"))?;
            let d = crate::mfa::create_virtual_device(
                &state.catalog,
                &state.master,
                acct,
                name,
                env.now,
            )
            .map_err(mfa_error)?;
            // Base32StringSeed is a blob: base64 of the base32 text, as IAM returns it.
            // QRCodePNG is not returned (no PNG encoder in the tree; the seed is enough).
            let seed = base64::engine::general_purpose::STANDARD.encode(&d.secret_base32);
            Ok(Node::Struct(vec![(
                "VirtualMFADevice",
                Node::Struct(vec![
                    ("SerialNumber", Node::text(&d.serial)),
                    ("Base32StringSeed", Node::Secret(seed)),
                ]),
            )]))
        }
        "EnableMFADevice" => {
            let name = p.name("UserName", 64)?;
            let serial = p.req("SerialNumber")?;
            let (c1, c2) = (p.req("AuthenticationCode1")?, p.req("AuthenticationCode2")?);
            allow(&user_res(name))?;
            iam.user(acct, name)?;
            crate::mfa::enable_for_user(
                &state.catalog,
                &state.master,
                acct,
                name,
                serial,
                c1,
                c2,
                env.now,
            )
            .map_err(mfa_error)?;
            Ok(Node::empty())
        }
        "ListMFADevices" => {
            let devices = if p.opt("UserName").is_none()
                && let Principal::Root { account_id } = &caller.principal
            {
                // The root user's own devices: those enabled with `cairn mfa enable` (used
                // for S3 MFA delete), i.e. enabled and assigned to no IAM user.
                let assigned: Vec<String> = crate::mfa::user_devices(&state.catalog, acct, None)
                    .map_err(mfa_error)?
                    .into_iter()
                    .map(|a| a.serial)
                    .collect();
                crate::mfa::list_devices(&state.catalog, acct)
                    .map_err(mfa_error)?
                    .into_iter()
                    .filter(|d| d.enabled && !assigned.contains(&d.serial))
                    .map(|d| crate::mfa::Assignment {
                        serial: d.serial,
                        user_name: account_id.clone(),
                        enable_date: d.created,
                    })
                    .collect()
            } else {
                let name = target_user(caller, &p)?;
                allow(&user_res(&name))?;
                iam.user(acct, &name)?;
                crate::mfa::user_devices(&state.catalog, acct, Some(&name)).map_err(mfa_error)?
            };
            let (page, next) = paginate(&devices, &p)?;
            Ok(with_paging(
                vec![(
                    "MFADevices",
                    Node::List(
                        page.iter()
                            .map(|d| {
                                Node::Struct(vec![
                                    ("UserName", Node::text(&d.user_name)),
                                    ("SerialNumber", Node::text(&d.serial)),
                                    ("EnableDate", Node::text(iso(d.enable_date))),
                                ])
                            })
                            .collect(),
                    ),
                )],
                next,
            ))
        }
        "DeactivateMFADevice" => {
            let name = p.name("UserName", 64)?;
            let serial = p.req("SerialNumber")?;
            allow(&user_res(name))?;
            crate::mfa::deactivate_for_user(&state.catalog, acct, name, serial)
                .map_err(mfa_error)?;
            Ok(Node::empty())
        }
        "DeleteVirtualMFADevice" => {
            let serial = p.req("SerialNumber")?;
            allow(serial)?;
            crate::mfa::delete_device(&state.catalog, acct, serial).map_err(mfa_error)?;
            Ok(Node::empty())
        }
        "ResyncMFADevice" | "ListVirtualMFADevices" => Err(not_implemented(&format!(
            "the IAM operation {}",
            req.action
        ))),
        other => Err(ApiError::client(
            "InvalidAction",
            format!("Could not find operation {other} for version 2010-05-08"),
        )),
    }
}

fn sts_call(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    req: &QueryRequest,
) -> Result<Node, ApiError> {
    let p = Params(&req.params);
    match req.action.as_str() {
        // Needs no permission: AWS answers it even when every action is denied.
        "GetCallerIdentity" => Ok(Node::Struct(vec![
            (
                "Arn",
                Node::text(caller.principal.arn().unwrap_or_default()),
            ),
            (
                "UserId",
                Node::text(caller.principal.principal_id().unwrap_or_default()),
            ),
            ("Account", Node::text(&caller.account)),
        ])),
        "AssumeRole" => assume_role(state, caller, env, &p),
        "GetSessionToken"
        | "GetFederationToken"
        | "AssumeRoleWithSAML"
        | "AssumeRoleWithWebIdentity"
        | "DecodeAuthorizationMessage"
        | "GetAccessKeyInfo" => Err(not_implemented(&format!(
            "the STS operation {}",
            req.action
        ))),
        other => Err(ApiError::client(
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

fn assume_role(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    p: &Params<'_>,
) -> Result<Node, ApiError> {
    let role_arn_text = p.req("RoleArn")?;
    let session_name = p.req("RoleSessionName")?;
    let ok_name = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !ok_name {
        return Err(validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    for unsupported in [
        "Policy",
        "PolicyArns.member.1",
        "Tags.member.1.Key",
        "TransitiveTagKeys.member.1",
    ] {
        if p.opt(unsupported).is_some() {
            return Err(not_implemented(&format!(
                "AssumeRole with session policies or session tags ({unsupported})"
            )));
        }
    }
    if matches!(caller.principal, Principal::Root { .. }) {
        return Err(denied("Roles may not be assumed by root accounts.".into()));
    }
    let action = "sts:AssumeRole";
    let not_authorized = || {
        denied(format!(
            "User: {} is not authorized to perform: {action} on resource: {role_arn_text}",
            caller.principal.arn().unwrap_or_default()
        ))
    };
    // arn:aws:iam::ACCOUNT:role/[path/]NAME
    let parsed = role_arn_text
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .filter(|(acct, _)| acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()));
    let Some((role_account, rest)) = parsed else {
        return Err(validation(format!(
            "{role_arn_text} is not a valid role ARN (arn:aws:iam::<account>:role/<name>)"
        )));
    };
    let role_name = rest.rsplit('/').next().unwrap_or(rest);
    // An unknown role is indistinguishable from a refused one, as in AWS.
    let Some((role, trust)) = state.iam.role_with_trust(role_account, role_name) else {
        return Err(not_authorized());
    };
    let arn = role_arn(role_account, &role.path, &role.name);
    if arn != role_arn_text {
        return Err(not_authorized());
    }
    let mut access = Access::new(action, &arn);
    access.resource_account = Some(role_account);
    access.resource_policy = Some(("trust-policy", &trust));
    access
        .context
        .insert("sts:rolesessionname".into(), session_name.to_owned().into());
    if let Some(x) = p.opt("ExternalId") {
        access
            .context
            .insert("sts:externalid".into(), x.to_owned().into());
    }
    let source_identity = p.opt("SourceIdentity");
    if let Some(s) = source_identity {
        access
            .context
            .insert("sts:sourceidentity".into(), s.to_owned().into());
    }
    let mfa = match (p.opt("SerialNumber"), p.opt("TokenCode")) {
        (None, None) => false,
        (Some(serial), Some(code)) => verify_mfa_code(state, caller, serial, code)?,
        _ => {
            return Err(validation(
                "SerialNumber and TokenCode must be given together",
            ));
        }
    };
    // Long-term credentials without MFA leave the key absent (a `Bool` condition on it then
    // fails, as in AWS); a verified code makes it true.
    if mfa {
        access
            .context
            .insert("aws:multifactorauthpresent".into(), true.into());
    }
    authorize(state, caller, env, &access).map_err(|_| not_authorized())?;
    // The trust policy itself must allow the caller: an identity policy granting
    // sts:AssumeRole never suffices alone, even in the role's own account.
    if !crate::authz::resource_policy_allows(state, caller, env, &access) {
        return Err(not_authorized());
    }
    let chained = matches!(caller.principal, Principal::AssumedRole { .. });
    let min = state.config.iam.min_session_seconds;
    let duration = p.int("DurationSeconds")?.unwrap_or(3600);
    if duration < i64::from(min) || duration > i64::from(LARGEST_MAX_SESSION) {
        return Err(validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {min} and less than or equal to {LARGEST_MAX_SESSION}"
        )));
    }
    if chained && duration > 3600 {
        return Err(validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if duration > i64::from(role.max_session_duration) {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let issued = super::session::issue(
        &state.master,
        &super::session::SessionRole {
            account: role_account,
            name: &role.name,
            role_id: &role.role_id,
            arn: &arn,
        },
        session_name,
        mfa,
        source_identity,
        env.now,
        duration as u32,
    )?;
    let expiration = issued
        .expiration
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(ApiError::internal)?;
    let mut out = vec![
        (
            "Credentials",
            Node::Struct(vec![
                ("AccessKeyId", Node::text(&issued.access_key_id)),
                (
                    "SecretAccessKey",
                    Node::Secret(issued.secret.expose().to_owned()),
                ),
                (
                    "SessionToken",
                    Node::Secret(issued.token.expose().to_owned()),
                ),
                ("Expiration", Node::text(expiration)),
            ]),
        ),
        (
            "AssumedRoleUser",
            Node::Struct(vec![
                (
                    "AssumedRoleId",
                    Node::text(format!("{}:{session_name}", role.role_id)),
                ),
                (
                    "Arn",
                    Node::text(format!(
                        "arn:aws:sts::{role_account}:assumed-role/{}/{session_name}",
                        role.name
                    )),
                ),
            ]),
        ),
    ];
    if let Some(s) = source_identity {
        out.push(("SourceIdentity", Node::text(s)));
    }
    Ok(Node::Struct(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_audit_parameters() {
        let r = parse_request(
            Service::Iam,
            "",
            b"Action=CreateUser&Version=2010-05-08&UserName=al%2Bice&Path=%2F",
        )
        .unwrap();
        assert_eq!(r.action, "CreateUser");
        assert_eq!(r.params["UserName"], "al+ice");
        assert_eq!(audit_parameters(&r)["userName"], "al+ice");
        assert_eq!(
            parse_request(Service::Sts, "", b"Action=AssumeRole&Version=2010-05-08")
                .unwrap_err()
                .code,
            "InvalidAction"
        );
        assert_eq!(
            parse_request(Service::Iam, "", b"Version=2010-05-08")
                .unwrap_err()
                .code,
            "MissingAction"
        );
        let r = parse_request(
            Service::Sts,
            "",
            b"Action=AssumeRole&SerialNumber=x&TokenCode=123456",
        )
        .unwrap();
        assert!(audit_parameters(&r).get("tokenCode").is_none());
        // A presigned STS URL: the signature and credential never reach the record.
        let r = parse_request(
            Service::Sts,
            "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request\
             &X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE&X-Amz-Signature=abcdef0123",
            b"",
        )
        .unwrap();
        let a = audit_parameters(&r).to_string();
        for secret in ["AKIAEXAMPLE", "FQoGZXIvYXdzEXAMPLE", "abcdef0123"] {
            assert!(!a.contains(secret), "{a}");
        }
        assert!(
            a.contains("x-Amz-Expires") || a.contains("X-Amz-Expires"),
            "{a}"
        );
    }

    #[test]
    fn names_paths_and_paging() {
        let mut m = BTreeMap::new();
        m.insert("UserName".to_owned(), "bad name".to_owned());
        m.insert("Path".to_owned(), "/ops/".to_owned());
        m.insert("MaxItems".to_owned(), "2".to_owned());
        let p = Params(&m);
        assert_eq!(p.name("UserName", 64).unwrap_err().code, "ValidationError");
        assert_eq!(p.path().unwrap(), "/ops/");
        assert!(missing("RoleName").message.contains("'roleName'"));
        let (page, next) = paginate(&[1, 2, 3], &p).unwrap();
        assert_eq!((page, next.as_deref()), (vec![1, 2], Some("2")));
        m.insert("Marker".to_owned(), "2".to_owned());
        let (page, next) = paginate(&[1, 2, 3], &Params(&m)).unwrap();
        assert_eq!((page, next), (vec![3], None));
    }
}
