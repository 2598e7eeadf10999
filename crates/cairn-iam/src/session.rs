//! `AssumeRole` session credentials.
//!
//! The session token is `base64(seal("sts-session:<ASIA key id>", session JSON))` with the
//! master key (AES-256-GCM, [`cairn_core::secrets`]). The JSON holds the session's secret access key,
//! the role (account, name, id, ARN), the session name, issue and expiry times, the MFA flag
//! and the source identity. Opening the token is the whole lookup: nothing is stored, a
//! token altered by one bit or presented with another key id does not open, and the
//! verifier rejects it once `expires_at` has passed (`ExpiredToken`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cairn_auth::{Credential, Principal, SecretKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroize;

use cairn_core::secrets::MasterKey;

use crate::IamError;

#[derive(Serialize, Deserialize)]
struct Sealed {
    v: u32,
    secret: String,
    account: String,
    role_name: String,
    role_id: String,
    role_arn: String,
    session_name: String,
    issued: i64,
    expires: i64,
    mfa: bool,
    #[serde(default)]
    source_identity: Option<String>,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

fn context(access_key_id: &str) -> String {
    format!("sts-session:{access_key_id}")
}

/// What `AssumeRole` hands out.
#[derive(Debug)]
pub struct Issued {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The session's secret access key.
    pub secret: SecretKey,
    /// The session token (sealed session).
    pub token: SecretKey,
    /// When the credentials stop working.
    pub expiration: OffsetDateTime,
}

/// The role a session is for.
#[derive(Debug, Clone)]
pub struct SessionRole<'a> {
    /// The role's account.
    pub account: &'a str,
    /// Role name.
    pub name: &'a str,
    /// `AROA...`.
    pub role_id: &'a str,
    /// Role ARN (with path).
    pub arn: &'a str,
}

/// Issues session credentials for `role`.
pub fn issue(
    master: &MasterKey,
    role: &SessionRole<'_>,
    session_name: &str,
    mfa: bool,
    source_identity: Option<&str>,
    now: OffsetDateTime,
    duration_seconds: u32,
) -> Result<Issued, IamError> {
    let (_, secret) = crate::credentials::generate_key_pair()?;
    let (akid, _) = crate::credentials::generate_key_pair()?;
    let access_key_id = format!("ASIA{}", &akid[4..]);
    let now_s = now.unix_timestamp();
    let expires = now_s + i64::from(duration_seconds);
    let sealed = Sealed {
        v: 1,
        secret: secret.clone(),
        account: role.account.to_owned(),
        role_name: role.name.to_owned(),
        role_id: role.role_id.to_owned(),
        role_arn: role.arn.to_owned(),
        session_name: session_name.to_owned(),
        issued: now_s,
        expires,
        mfa,
        source_identity: source_identity.map(str::to_owned),
    };
    let mut plain = serde_json::to_vec(&sealed).map_err(IamError::crypto)?;
    let boxed = master.seal(&context(&access_key_id), &plain);
    plain.zeroize();
    let token = STANDARD.encode(boxed?);
    Ok(Issued {
        access_key_id,
        secret: SecretKey::new(secret),
        token: SecretKey::new(token),
        expiration: OffsetDateTime::from_unix_timestamp(expires).map_err(IamError::crypto)?,
    })
}

/// The credential behind a session key id and token, or `None` when the token does not
/// open for this key id.
pub fn open(master: &MasterKey, access_key_id: &str, token: &str) -> Option<Credential> {
    let bytes = STANDARD.decode(token.as_bytes()).ok()?;
    let plain = master.open(&context(access_key_id), &bytes).ok()?;
    let s: Sealed = serde_json::from_slice(&plain).ok()?;
    if s.v != 1 {
        return None;
    }
    let principal = Principal::AssumedRole {
        account_id: s.account.clone(),
        role_name: s.role_name.clone(),
        role_id: s.role_id.clone(),
        session_name: s.session_name.clone(),
        issuer_arn: s.role_arn.clone(),
        mfa_authenticated: s.mfa,
        creation_date: OffsetDateTime::from_unix_timestamp(s.issued).ok()?,
    };
    let mut c = Credential::long_term(access_key_id, SecretKey::new(s.secret.clone()), principal);
    c.session_token = Some(token.to_owned());
    c.expires_at = Some(OffsetDateTime::from_unix_timestamp(s.expires).ok()?);
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip_and_binding() {
        let master = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let role = SessionRole {
            account: "222222222222",
            name: "auditor",
            role_id: "AROAEXAMPLE",
            arn: "arn:aws:iam::222222222222:role/auditor",
        };
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let s = issue(&master, &role, "s1", false, None, now, 900).unwrap();
        assert!(s.access_key_id.starts_with("ASIA") && s.access_key_id.len() == 20);
        let c = open(&master, &s.access_key_id, s.token.expose()).unwrap();
        assert_eq!(c.secret, s.secret);
        assert_eq!(c.expires_at, Some(now + time::Duration::seconds(900)));
        assert_eq!(
            c.principal.arn().unwrap(),
            "arn:aws:sts::222222222222:assumed-role/auditor/s1"
        );
        // The token carries neither the secret nor the role in clear text.
        assert!(!s.token.expose().contains("auditor"));
        // Bound to its key id and to the master key; tampering breaks it.
        assert!(open(&master, "ASIAOTHEROTHEROTHER1", s.token.expose()).is_none());
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(open(&other, &s.access_key_id, s.token.expose()).is_none());
        let mut raw = STANDARD.decode(s.token.expose()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(open(&master, &s.access_key_id, &STANDARD.encode(raw)).is_none());
    }
}
