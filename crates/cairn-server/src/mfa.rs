//! Virtual MFA devices: the domain is [`cairn_iam::mfa`] (re-exported here under its server
//! path); this module keeps what needs the server, S3's `x-amz-mfa` check.

pub use cairn_iam::mfa::*;

use time::OffsetDateTime;

/// Checks S3's `x-amz-mfa: <serial> <code>` header for a request that needs MFA delete's
/// second factor (changing MFA delete or versioning with it on, permanently deleting a
/// version with it on). As in S3, only the bucket owner's root user may make such a
/// request, and only with the root's own MFA device ([`verify_root_code`]): an IAM user's
/// device, even in the owner's account, is refused. The error is the message of S3's
/// `AccessDenied`.
pub fn check_s3_header(
    state: &crate::state::AppState,
    owner: &str,
    caller: &cairn_auth::Principal,
    header: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let is_owner_root =
        matches!(caller, cairn_auth::Principal::Root { account_id } if account_id == owner);
    if !is_owner_root {
        return Err(
            "Mfa Authentication must be used for this request: with MFA delete, only the bucket owner's root user may change versioning or permanently delete versions"
                .to_owned(),
        );
    }
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err("Mfa Authentication must be used for this request".to_owned());
    };
    let Some((serial, code)) = h.rsplit_once(' ') else {
        return Err("the x-amz-mfa header must be \"<serial> <code>\"".to_owned());
    };
    match verify_root_code(
        &*state.catalog,
        &state.master,
        owner,
        serial.trim(),
        code.trim(),
        now,
    ) {
        Ok(()) => Ok(()),
        Err(MfaError::Internal(e)) => {
            tracing::error!(error = %e, "mfa verification failed");
            Err("MFA verification failed".to_owned())
        }
        Err(e @ (MfaError::LockedOut(_) | MfaError::NotRootDevice(_))) => Err(format!(
            "Mfa Authentication must be used for this request: {e}"
        )),
        Err(_) => Err(
            "Mfa Authentication must be used for this request: the MFA code is invalid".to_owned(),
        ),
    }
}
