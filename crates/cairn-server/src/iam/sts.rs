//! STS: `GetCallerIdentity` and `AssumeRole` (with its trust-policy check and MFA).

use cairn_auth::Principal;
use cairn_iam::mfa::{self, MfaError};
use cairn_iam::session::{self, SessionRole};
use cairn_iam::{IamError, LARGEST_MAX_SESSION, Role, role_arn};
use time::OffsetDateTime;

use super::params::{Ctx, validation};
use super::wire::Node;
use crate::authn::Caller;
use crate::authz::Access;
use crate::error::ApiError;
use crate::state::AppState;

/// `GetCallerIdentity`. Needs no permission: AWS answers it even when every action is denied.
pub(super) fn get_caller_identity(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let p = &c.caller.principal;
    Ok(Node::Struct(vec![
        ("Arn", Node::text(p.arn().unwrap_or_default())),
        ("UserId", Node::text(p.principal_id().unwrap_or_default())),
        ("Account", Node::text(&c.caller.account)),
    ]))
}

/// The TOTP check behind `AssumeRole`'s `SerialNumber` + `TokenCode`: the device must be
/// an enabled virtual MFA device of the caller's account assigned to the calling IAM user
/// ([`cairn_iam::mfa`]), and the code valid and unused. Anything else is AWS's `AccessDenied`
/// ("MultiFactorAuthentication failed with invalid MFA one time pass code.").
pub(super) fn verify_mfa_code(
    state: &AppState,
    caller: &Caller,
    serial_number: &str,
    token_code: &str,
) -> Result<bool, ApiError> {
    let failed = || {
        ApiError::from(IamError::AccessDenied(
            "MultiFactorAuthentication failed with invalid MFA one time pass code.".into(),
        ))
    };
    let Principal::IamUser { user_name, .. } = &caller.principal else {
        return Err(failed());
    };
    let (db, account) = (&*state.catalog, caller.account.as_str());
    let owner = mfa::device_user(db, account, serial_number)?;
    if owner.as_deref() != Some(user_name.as_str()) {
        return Err(failed());
    }
    let now = OffsetDateTime::now_utc();
    match mfa::verify_code(db, &state.master, account, serial_number, token_code, now) {
        Ok(()) => Ok(true),
        Err(e @ MfaError::Internal(_)) => Err(e.into()),
        Err(_) => Err(failed()),
    }
}

/// `RoleSessionName`: 2 to 64 of `[\w+=,.@-]`.
fn session_name<'a>(c: &'a Ctx<'_>) -> Result<&'a str, IamError> {
    let name = c.p.req("RoleSessionName")?;
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )))
    }
}

/// Session policies and tags are not served.
fn refuse_session_policies(c: &Ctx<'_>) -> Result<(), IamError> {
    for unsupported in [
        "Policy",
        "PolicyArns.member.1",
        "Tags.member.1.Key",
        "TransitiveTagKeys.member.1",
    ] {
        if c.p.opt(unsupported).is_some() {
            return Err(IamError::NotImplemented(format!(
                "AssumeRole with session policies or session tags ({unsupported})"
            )));
        }
    }
    Ok(())
}

/// `arn:aws:iam::ACCOUNT:role/[path/]NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Result<(&str, &str), IamError> {
    let parsed = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .filter(|(acct, _)| acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()));
    let Some((account, rest)) = parsed else {
        return Err(validation(format!(
            "{arn} is not a valid role ARN (arn:aws:iam::<account>:role/<name>)"
        )));
    };
    Ok((account, rest.rsplit('/').next().unwrap_or(rest)))
}

/// `DurationSeconds`, within the server's minimum, the role's maximum and the chaining limit.
fn duration(c: &Ctx<'_>, role: &Role) -> Result<u32, IamError> {
    let chained = matches!(c.caller.principal, Principal::AssumedRole { .. });
    let min = c.state.config.iam.min_session_seconds;
    let duration = c.p.int("DurationSeconds")?.unwrap_or(3600);
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
    u32::try_from(duration).map_err(|_| validation("DurationSeconds is out of range"))
}

/// `AssumeRole`: the caller's identity policies and the role's trust policy must both allow
/// `sts:AssumeRole` on the role.
pub(super) fn assume_role(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let role_arn_text = c.p.req("RoleArn")?;
    let session_name = session_name(c)?;
    refuse_session_policies(c)?;
    if matches!(c.caller.principal, Principal::Root { .. }) {
        return Err(
            IamError::AccessDenied("Roles may not be assumed by root accounts.".into()).into(),
        );
    }
    let not_authorized = || {
        ApiError::from(IamError::AccessDenied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn_text}",
            c.caller.principal.arn().unwrap_or_default()
        )))
    };
    let (role_account, role_name) = parse_role_arn(role_arn_text)?;
    // An unknown role is indistinguishable from a refused one, as in AWS.
    let Some((role, trust)) = c.state.iam.role_with_trust(role_account, role_name) else {
        return Err(not_authorized());
    };
    let arn = role_arn(role_account, &role.path, &role.name);
    if arn != role_arn_text {
        return Err(not_authorized());
    }
    let mut access = Access::new("sts:AssumeRole", &arn);
    access.resource_account = Some(role_account);
    access.resource_policy = Some(("trust-policy", &trust));
    let mut context = |k: &str, v: &str| access.context.insert(k.into(), v.to_owned().into());
    context("sts:rolesessionname", session_name);
    if let Some(x) = c.p.opt("ExternalId") {
        context("sts:externalid", x);
    }
    let source_identity = c.p.opt("SourceIdentity");
    if let Some(s) = source_identity {
        context("sts:sourceidentity", s);
    }
    let mfa = match (c.p.opt("SerialNumber"), c.p.opt("TokenCode")) {
        (None, None) => false,
        (Some(serial), Some(code)) => verify_mfa_code(c.state, c.caller, serial, code)?,
        _ => {
            return Err(validation("SerialNumber and TokenCode must be given together").into());
        }
    };
    // Long-term credentials without MFA leave the key absent (a `Bool` condition on it then
    // fails, as in AWS); a verified code makes it true.
    if mfa {
        access
            .context
            .insert("aws:multifactorauthpresent".into(), true.into());
    }
    crate::authz::authorize(c.state, c.caller, c.env, &access).map_err(|_| not_authorized())?;
    // The trust policy itself must allow the caller: an identity policy granting
    // sts:AssumeRole never suffices alone, even in the role's own account.
    if !crate::authz::resource_policy_allows(c.state, c.caller, c.env, &access) {
        return Err(not_authorized());
    }
    let duration = duration(c, &role)?;
    let session_role = SessionRole {
        account: role_account,
        name: &role.name,
        role_id: &role.role_id,
        arn: &arn,
    };
    let issued = session::issue(
        &c.state.master,
        &session_role,
        session_name,
        mfa,
        source_identity,
        c.env.now,
        duration,
    )?;
    credentials_node(&issued, &role, role_account, session_name, source_identity)
}

/// `AssumeRole`'s result: the credentials (secrets only for the client) and the session.
fn credentials_node(
    issued: &session::Issued,
    role: &Role,
    role_account: &str,
    session_name: &str,
    source_identity: Option<&str>,
) -> Result<Node, ApiError> {
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
