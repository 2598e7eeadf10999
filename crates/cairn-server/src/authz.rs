//! Authorization: may this caller do this action on this resource?
//!
//! One entry point, [`authorize`], used by every request path (CloudTrail control plane,
//! ingest, CloudWatch, S3, KMS, IAM). It builds a [`cairn_policy::Request`] from the
//! authenticated [`Caller`] plus the request's [`Access`], gathers the [`PolicySet`] (the
//! caller's identity policies from the identity store, the resource's policy passed in by the
//! service) and applies AWS's evaluation logic ([`cairn_policy::evaluate`]).
//!
//! Each service maps a [`Denied`] to its own error shape (`AccessDeniedException` for JSON
//! protocols, `AccessDenied` for S3) and records the denied call in the trail like any other.

use std::collections::BTreeMap;
use std::net::IpAddr;

use cairn_auth::Principal;
use cairn_policy::{ContextValue, Policy, PolicySet, PrincipalInfo};
use time::OffsetDateTime;

use crate::authn::Caller;
use crate::state::AppState;

/// What a request asks to do.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    /// `service:Action`, e.g. `cloudtrail:StopLogging`.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: &'a str,
    /// The account owning the resource; `None` means the caller's account.
    pub resource_account: Option<&'a str>,
    /// The resource's own policy (bucket policy, key policy, trust policy), with an id to
    /// name it in decisions.
    pub resource_policy: Option<(&'a str, &'a Policy)>,
    /// Service-specific condition keys (`s3:x-amz-server-side-encryption`,
    /// `aws:SourceArn`, ...). The global keys are added by [`authorize`].
    pub context: BTreeMap<String, ContextValue>,
}

impl<'a> Access<'a> {
    /// An action on a resource of the caller's own account, with no resource policy.
    pub fn new(action: &'a str, resource: &'a str) -> Self {
        Self {
            action,
            resource,
            resource_account: None,
            resource_policy: None,
            context: BTreeMap::new(),
        }
    }
}

/// The request environment that condition keys are taken from.
#[derive(Debug, Clone, Copy)]
pub struct Environment {
    /// The caller's address (`aws:SourceIp`).
    pub source_ip: IpAddr,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// The request time (`aws:CurrentTime`, `aws:EpochTime`).
    pub now: OffsetDateTime,
}

/// A refusal, with AWS's message shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// `User: <arn> is not authorized to perform: <action> on resource: <arn> because ...`.
    pub message: String,
}

/// The policy-language view of an authenticated principal.
pub fn principal_info(p: &Principal) -> PrincipalInfo {
    match p {
        Principal::Root { account_id } => PrincipalInfo::root(account_id),
        Principal::IamUser {
            account_id,
            user_name,
            user_id,
            path,
        } => PrincipalInfo::user(&Principal::user_arn(account_id, path, user_name))
            .with_user_id(user_id),
        Principal::AssumedRole {
            account_id,
            role_name,
            role_id,
            session_name,
            issuer_arn,
            ..
        } => PrincipalInfo::assumed_role(&format!(
            "arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
        ))
        .with_role_arn(issuer_arn)
        .with_user_id(&format!("{role_id}:{session_name}")),
        Principal::AwsService { service } => PrincipalInfo::service(service),
        // A principal kind this server does not know yet is treated as anonymous: only a
        // resource policy granting `*` can allow it.
        _ => PrincipalInfo::anonymous(),
    }
}

/// The identity-based policies that apply to `principal` (its attached and inline policies,
/// or its role's for a session), each with an id naming it.
///
/// The identity store (IAM users, roles, policies) supplies them; account root users have
/// none (AWS's rule 2: root is allowed everything in its own account).
pub fn identity_policies(state: &AppState, principal: &Principal) -> Vec<(String, Policy)> {
    state.iam.identity_policies(principal)
}

/// Decides `access` for `caller`, with AWS's evaluation logic.
pub fn authorize(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    access: &Access<'_>,
) -> Result<(), Denied> {
    // Only benchmarks turn authorization off (in code; no configuration file can).
    if !state.config.iam.authorization {
        return Ok(());
    }
    let request = request(state, caller, env, access);
    let set = PolicySet {
        identity: identity_policies(state, &caller.principal),
        resource: access
            .resource_policy
            .map(|(id, p)| (id.to_owned(), p.clone())),
        ..PolicySet::default()
    };
    let decision = cairn_policy::evaluate(&request, &set);
    if decision.is_allowed() {
        return Ok(());
    }
    Err(Denied {
        message: denied_message(&request.principal.arn, access, &decision),
    })
}

/// Whether `access`'s resource policy on its own allows the caller. A role's trust policy
/// must, whatever the caller's identity policies say (unlike other resource policies, an
/// identity policy alone never lets a principal assume a role, even in the role's account).
pub fn resource_policy_allows(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    access: &Access<'_>,
) -> bool {
    if !state.config.iam.authorization {
        return true;
    }
    let Some((id, policy)) = access.resource_policy else {
        return false;
    };
    let request = request(state, caller, env, access);
    let set = PolicySet {
        resource: Some((id.to_owned(), policy.clone())),
        ..PolicySet::default()
    };
    // A statement naming the caller's account applies too (it delegates to the identity
    // policies, which `authorize` has weighed): what counts here is that some statement of
    // the resource policy allows the caller and none denies it.
    let d = cairn_policy::evaluate(&request, &set);
    d.effect != cairn_policy::DecisionEffect::ExplicitDeny
        && d.matched.iter().any(|m| {
            m.effect == cairn_policy::Effect::Allow
                && m.source == cairn_policy::PolicySource::Resource
        })
}

/// [`cairn_policy::service_may`] for a policy document as stored (JSON text); a policy
/// that does not parse allows nothing.
pub fn service_may(
    policy: &str,
    service: &str,
    action: &str,
    resource: (&str, &str),
    source: (&str, &str),
) -> bool {
    Policy::parse(policy)
        .is_ok_and(|p| cairn_policy::service_may(&p, service, action, resource, source))
}

/// The policy-language request for `access` by `caller`, with the global condition keys.
fn request(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    access: &Access<'_>,
) -> cairn_policy::Request {
    let mut principal = principal_info(&caller.principal);
    if let Some(org) = &state.config.organization
        && org.contains(&caller.account)
    {
        principal = principal.with_org_id(org.id.as_str());
    }
    let mut context = access.context.clone();
    context.insert("aws:sourceip".into(), env.source_ip.to_string().into());
    context.insert("aws:securetransport".into(), env.secure_transport.into());
    if let Ok(t) = env
        .now
        .format(&time::format_description::well_known::Rfc3339)
    {
        context.insert("aws:currenttime".into(), t.into());
    }
    context.insert("aws:epochtime".into(), env.now.unix_timestamp().into());
    context.insert("aws:requestedregion".into(), caller.region.clone().into());
    if let Principal::AssumedRole {
        mfa_authenticated, ..
    } = &caller.principal
    {
        context.insert(
            "aws:multifactorauthpresent".into(),
            (*mfa_authenticated).into(),
        );
    }
    cairn_policy::Request {
        principal,
        action: access.action.to_owned(),
        resource: access.resource.to_owned(),
        resource_account: access.resource_account.map(str::to_owned),
        context,
    }
}

/// AWS's wording: `User: <arn> is not authorized to perform: <action> on resource: <arn>`
/// then `with an explicit deny in a(n) <kind> policy` or `because no <kind> policy allows
/// the <action> action`.
fn denied_message(
    principal: &str,
    access: &Access<'_>,
    decision: &cairn_policy::Decision,
) -> String {
    use cairn_policy::{DecisionEffect, Effect, PolicySource};
    let kind = |s: PolicySource| match s {
        PolicySource::Resource => "resource-based",
        PolicySource::PermissionBoundary => "permissions boundary",
        PolicySource::Session => "session",
        _ => "identity-based",
    };
    let why = if decision.effect == DecisionEffect::ExplicitDeny {
        let source = decision
            .matched
            .iter()
            .find(|m| m.effect == Effect::Deny)
            .map_or(PolicySource::Identity, |m| m.source);
        let k = kind(source);
        let article = if k.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("with an explicit deny in {article} {k} policy")
    } else if access
        .resource_account
        .is_some_and(|a| Some(a) != principal_account(principal))
        && access.resource_policy.is_some()
    {
        "because no resource-based policy allows the action".to_owned()
    } else {
        format!(
            "because no identity-based policy allows the {} action",
            access.action
        )
    };
    format!(
        "User: {principal} is not authorized to perform: {} on resource: {} {why}",
        access.action, access.resource
    )
}

fn principal_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}
