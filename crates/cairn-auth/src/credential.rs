//! Credentials, the secret newtype and the lookup trait.

use std::collections::HashMap;
use std::fmt;

use time::OffsetDateTime;
use zeroize::Zeroize;

use crate::principal::Principal;

/// A secret access key. `Debug` and `Display` print `[redacted]`; the bytes are zeroised on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret access key.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Only signing-key derivation should need it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretKey {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SecretKey {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One access key and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id (`AKIA...` long-term, `ASIA...` temporary).
    pub access_key_id: String,
    /// The secret access key.
    pub secret: SecretKey,
    /// Who signs with this key.
    pub principal: Principal,
    /// For temporary credentials: the session token every request must carry.
    pub session_token: Option<String>,
    /// For temporary credentials: when they stop working.
    pub expires_at: Option<OffsetDateTime>,
    /// A disabled key is rejected with `AccessDenied`.
    pub enabled: bool,
}

impl Credential {
    /// A long-term, enabled credential without a session token.
    #[must_use]
    pub fn long_term(
        access_key_id: impl Into<String>,
        secret: impl Into<SecretKey>,
        principal: Principal,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret: secret.into(),
            principal,
            session_token: None,
            expires_at: None,
            enabled: true,
        }
    }
}

/// Where [`crate::verify`] finds the secret behind an access key id.
///
/// `lookup` must be cheap and side-effect free; it may be called once per request.
pub trait CredentialStore {
    /// The credential for `access_key_id`, or `None` when unknown.
    fn lookup(&self, access_key_id: &str) -> Option<Credential>;

    /// The credential for `access_key_id` as presented with `session_token` (the
    /// `X-Amz-Security-Token` of the request, if any). Stores whose temporary credentials
    /// are self-contained (the token carries the sealed session) resolve them here; the
    /// default ignores the token and calls [`CredentialStore::lookup`]. The verifier still
    /// compares the returned credential's `session_token` with the presented one and checks
    /// `expires_at`.
    fn lookup_session(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Option<Credential> {
        let _ = session_token;
        self.lookup(access_key_id)
    }
}

/// An in-memory store (bootstrap root credentials, tests).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentialStore {
    by_id: HashMap<String, Credential>,
}

impl StaticCredentialStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a credential.
    pub fn insert(&mut self, credential: Credential) {
        self.by_id
            .insert(credential.access_key_id.clone(), credential);
    }

    /// Builder form of [`StaticCredentialStore::insert`].
    #[must_use]
    pub fn with(mut self, credential: Credential) -> Self {
        self.insert(credential);
        self
    }
}

impl CredentialStore for StaticCredentialStore {
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        self.by_id.get(access_key_id).cloned()
    }
}

impl<T: CredentialStore + ?Sized> CredentialStore for &T {
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        (**self).lookup(access_key_id)
    }

    fn lookup_session(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Option<Credential> {
        (**self).lookup_session(access_key_id, session_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let s = SecretKey::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("wJalr"));
        let c = Credential::long_term(
            "AKID",
            s,
            Principal::Root {
                account_id: "111122223333".into(),
            },
        );
        assert!(!format!("{c:?}").contains("wJalr"));
        assert_eq!(
            c.secret.expose(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        );
    }

    #[test]
    fn static_store_lookup() {
        let store = StaticCredentialStore::new().with(Credential::long_term(
            "AKID",
            "secret",
            Principal::Root {
                account_id: "111122223333".into(),
            },
        ));
        assert!(store.lookup("AKID").is_some());
        assert!(store.lookup("akid").is_none());
    }
}
