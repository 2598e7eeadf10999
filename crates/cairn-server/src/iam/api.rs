//! The IAM (`2010-05-08`) and STS (`2011-06-15`) query-protocol APIs: form-encoded
//! `Action=...` requests, XML responses with AWS's element names, every call authorized
//! through [`crate::authz::authorize`] (`iam:<Action>` on the user, role or policy ARN;
//! `sts:AssumeRole` on the role, with its trust policy as the resource policy).
//!
//! [`call`] looks the action up ([`IamOp`], [`StsOp`]) and runs its one function, which
//! parses the parameters, authorizes, calls [`cairn_iam`] and renders its [`Node`].

use std::collections::BTreeMap;

use cairn_iam::{IamError, IamOp, StsOp};
use serde_json::{Map, Value};

use super::params::{Ctx, Identity, Params};
use super::wire::Node;
use super::{devices, policies, roles, sts, users};
use crate::authn::Caller;
use crate::authz::Environment;
use crate::error::ApiError;
use crate::state::AppState;

/// The two query-protocol services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// IAM, `2010-05-08`.
    Iam,
    /// STS, `2011-06-15`.
    Sts,
    /// SNS, `2010-03-31` (served by `crate::api::sns`, which shares the query protocol).
    Sns,
}

impl Service {
    /// From the SigV4 scope's service name.
    pub fn from_scope(name: &str) -> Option<Self> {
        match name {
            "iam" => Some(Self::Iam),
            "sts" => Some(Self::Sts),
            "sns" => Some(Self::Sns),
            _ => None,
        }
    }

    /// The XML namespace of responses.
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Self::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            Self::Sns => "http://sns.amazonaws.com/doc/2010-03-31/",
        }
    }

    /// API version.
    pub fn version(self) -> &'static str {
        match self {
            Self::Iam => "2010-05-08",
            Self::Sts => "2011-06-15",
            Self::Sns => "2010-03-31",
        }
    }

    /// `eventSource` of audit records.
    pub fn event_source(self) -> &'static str {
        match self {
            Self::Iam => "iam.amazonaws.com",
            Self::Sts => "sts.amazonaws.com",
            Self::Sns => "sns.amazonaws.com",
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

/// Whether the action only reads (`Get*`, `List*`; unknown actions too).
pub fn is_read_only(action: &str) -> bool {
    cairn_iam::op::is_read_only(action)
}

/// The `requestParameters` of the audit record: camelCase names, no MFA codes, passwords
/// or tokens, and none of a presigned URL's signature and credential
/// ([`cairn_iam::credentials::is_secret_parameter`]).
pub fn audit_parameters(req: &QueryRequest) -> Value {
    let mut m = Map::new();
    for (k, v) in &req.params {
        if cairn_iam::credentials::is_secret_parameter(k) {
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

/// Runs one IAM or STS action for `caller`.
pub fn call(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    service: Service,
    req: &QueryRequest,
) -> Result<Node, ApiError> {
    let ctx = |prefix: &str| Ctx {
        state,
        caller,
        env,
        p: Params(&req.params),
        action: format!("{prefix}:{}", req.action),
    };
    let unknown = || {
        ApiError::client(
            "InvalidAction",
            format!(
                "Could not find operation {} for version {}",
                req.action,
                service.version()
            ),
        )
    };
    match service {
        Service::Iam => iam_call(
            IamOp::from_name(&req.action).ok_or_else(unknown)?,
            &ctx("iam"),
        ),
        Service::Sts => sts_call(
            StsOp::from_name(&req.action).ok_or_else(unknown)?,
            &ctx("sts"),
        ),
        // SNS is served by `crate::api::sns`; the front never routes it here.
        Service::Sns => Err(unknown()),
    }
}

/// An operation Cairn knows but does not serve.
fn not_implemented(service: &str, name: &str) -> ApiError {
    IamError::NotImplemented(format!("the {service} operation {name}")).into()
}

fn iam_call(op: IamOp, c: &Ctx<'_>) -> Result<Node, ApiError> {
    use IamOp as O;
    match op {
        O::CreateUser => users::create_user(c),
        O::GetUser => users::get_user(c),
        O::DeleteUser => users::delete_user(c),
        O::ListUsers => users::list_users(c),
        O::CreateAccessKey => users::create_access_key(c),
        O::ListAccessKeys => users::list_access_keys(c),
        O::UpdateAccessKey => users::update_access_key(c),
        O::DeleteAccessKey => users::delete_access_key(c),
        O::GetAccessKeyLastUsed => users::get_access_key_last_used(c),
        O::PutUserPolicy => users::put_user_policy(c),
        O::GetUserPolicy => users::get_user_policy(c),
        O::DeleteUserPolicy => users::delete_user_policy(c),
        O::ListUserPolicies => users::list_user_policies(c),
        O::CreateRole => roles::create_role(c),
        O::GetRole => roles::get_role(c),
        O::DeleteRole => roles::delete_role(c),
        O::ListRoles => roles::list_roles(c),
        O::CreatePolicy => policies::create_policy(c),
        O::GetPolicy => policies::get_policy(c),
        O::GetPolicyVersion => policies::get_policy_version(c),
        O::ListPolicies => policies::list_policies(c),
        O::DeletePolicy => policies::delete_policy(c),
        O::AttachUserPolicy => policies::attach_policy(c, Identity::User, true),
        O::DetachUserPolicy => policies::attach_policy(c, Identity::User, false),
        O::AttachRolePolicy => policies::attach_policy(c, Identity::Role, true),
        O::DetachRolePolicy => policies::attach_policy(c, Identity::Role, false),
        O::ListAttachedUserPolicies => policies::list_attached_policies(c, Identity::User),
        O::ListAttachedRolePolicies => policies::list_attached_policies(c, Identity::Role),
        O::ListEntitiesForPolicy => policies::list_entities_for_policy(c),
        O::CreateVirtualMFADevice => devices::create_virtual_mfa_device(c),
        O::EnableMFADevice => devices::enable_mfa_device(c),
        O::ListMFADevices => devices::list_mfa_devices(c),
        O::DeactivateMFADevice => devices::deactivate_mfa_device(c),
        O::DeleteVirtualMFADevice => devices::delete_virtual_mfa_device(c),
        O::ResyncMFADevice | O::ListVirtualMFADevices => Err(not_implemented("IAM", op.name())),
    }
}

fn sts_call(op: StsOp, c: &Ctx<'_>) -> Result<Node, ApiError> {
    match op {
        StsOp::GetCallerIdentity => sts::get_caller_identity(c),
        StsOp::AssumeRole => sts::assume_role(c),
        StsOp::GetSessionToken
        | StsOp::GetFederationToken
        | StsOp::AssumeRoleWithSAML
        | StsOp::AssumeRoleWithWebIdentity
        | StsOp::DecodeAuthorizationMessage
        | StsOp::GetAccessKeyInfo => Err(not_implemented("STS", op.name())),
    }
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
}
