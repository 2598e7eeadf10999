//! Credentials: the bootstrap root keys and the store SigV4 verification reads.
//!
//! Secrets live sealed under the master key in the `credentials` table; the store keeps
//! opened credentials in memory after the first lookup. The bootstrap root pair of the
//! default account comes from `CAIRN_ROOT_ACCESS_KEY_ID` / `CAIRN_ROOT_SECRET_ACCESS_KEY`, or
//! is generated on first start and written to `<data_dir>/root-credentials` (mode 0600) as an
//! `export` block.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use cairn_auth::{Credential, CredentialStore, Principal, SecretKey};
use cairn_core::secrets::{MasterKey, SecretError, random_bytes, write_private_file};
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use crate::db::Database;

/// Failures creating or loading credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The database failed.
    #[error("credential store: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Bad bootstrap variables.
    #[error("{0}")]
    Invalid(String),
    /// Writing the credentials file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A stored credential row (the secret still sealed).
struct Row {
    access_key_id: String,
    principal: String,
    sealed_secret: Vec<u8>,
    session_token: Option<String>,
    expires_at: Option<i64>,
    status: String,
}

const ROW_COLUMNS: &str =
    "SELECT access_key_id, principal, sealed_secret, session_token, expires_at, status
     FROM credentials";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        access_key_id: r.get(0)?,
        principal: r.get(1)?,
        sealed_secret: r.get(2)?,
        session_token: r.get(3)?,
        expires_at: r.get(4)?,
        status: r.get(5)?,
    })
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(prefix: &str, alphabet: &[u8], len: usize) -> Result<String, SecretError> {
    let bytes = random_bytes::<64>()?;
    let mut s = String::from(prefix);
    for b in bytes.iter().take(len) {
        s.push(alphabet[usize::from(*b) % alphabet.len()] as char);
    }
    Ok(s)
}

/// A freshly generated long-term key pair: (`AKIA...`, secret).
pub fn generate_key_pair() -> Result<(String, String), SecretError> {
    Ok((
        random_string("AKIA", KEY_ALPHABET, 16)?,
        random_string("", SECRET_ALPHABET, 40)?,
    ))
}

fn principal_doc(p: &Principal) -> String {
    match p {
        Principal::Root { account_id } => json!({"type": "Root", "accountId": account_id}),
        Principal::IamUser {
            account_id,
            user_name,
            user_id,
            path,
        } => json!({"type": "IAMUser", "accountId": account_id, "userName": user_name, "userId": user_id, "path": path}),
        other => json!({"type": other.identity_type(), "accountId": other.account_id()}),
    }
    .to_string()
}

fn principal_from_doc(doc: &str) -> Option<Principal> {
    let v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let account_id = v["accountId"].as_str()?.to_owned();
    match v["type"].as_str()? {
        "Root" => Some(Principal::Root { account_id }),
        "IAMUser" => Some(Principal::IamUser {
            account_id,
            user_name: v["userName"].as_str()?.to_owned(),
            user_id: v["userId"].as_str()?.to_owned(),
            // Rows written before paths were kept have none: `/`.
            path: v["path"].as_str().unwrap_or("/").to_owned(),
        }),
        _ => None,
    }
}

fn seal_context(access_key_id: &str) -> String {
    format!("credential:{access_key_id}")
}

/// The credential store the server verifies signatures against.
pub struct Credentials {
    db: Arc<dyn Database>,
    master: Arc<MasterKey>,
    cache: RwLock<HashMap<String, Credential>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// A store over `db` (the catalog's `credentials` table).
    pub fn new(db: Arc<dyn Database>, master: Arc<MasterKey>) -> Self {
        Self {
            db,
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Stores a new long-term credential for `principal`.
    pub fn create(
        &self,
        access_key_id: &str,
        secret: &str,
        principal: &Principal,
    ) -> Result<(), IdentityError> {
        let sealed = self
            .master
            .seal(&seal_context(access_key_id), secret.as_bytes())?;
        let n = self.db.connection().execute(
            "INSERT INTO credentials (access_key_id, account_id, principal, sealed_secret,
                 session_token, expires_at, status, created)
             VALUES (?1, ?2, ?3, ?4, NULL, NULL, 'Active', ?5)
             ON CONFLICT (access_key_id) DO NOTHING",
            params![
                access_key_id,
                principal.account_id().unwrap_or_default(),
                principal_doc(principal),
                sealed,
                time::OffsetDateTime::now_utc().unix_timestamp()
            ],
        )?;
        if n == 0 {
            return Err(IdentityError::Invalid(format!(
                "access key {access_key_id} already exists"
            )));
        }
        Ok(())
    }

    fn row(&self, access_key_id: &str) -> Result<Option<Row>, IdentityError> {
        let sql = format!("{ROW_COLUMNS} WHERE access_key_id = ?1");
        Ok(self
            .db
            .connection()
            .query_row(&sql, params![access_key_id], row)
            .optional()?)
    }

    fn open_row(&self, row: &Row) -> Result<Credential, IdentityError> {
        let secret = self
            .master
            .open(&seal_context(&row.access_key_id), &row.sealed_secret)?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| IdentityError::Invalid("stored secret is not UTF-8".into()))?;
        let principal = principal_from_doc(&row.principal).ok_or_else(|| {
            IdentityError::Invalid(format!(
                "stored principal of {} is not understood",
                row.access_key_id
            ))
        })?;
        let mut c =
            Credential::long_term(row.access_key_id.clone(), SecretKey::new(secret), principal);
        c.enabled = row.status == "Active";
        c.session_token = row.session_token.clone();
        c.expires_at = row
            .expires_at
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
        Ok(c)
    }

    /// Drops a cached credential after its row changed (status update, deletion).
    pub fn forget(&self, access_key_id: &str) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(access_key_id);
    }

    /// The root credential (access key, secret) of `account`, if any.
    pub fn root_of(&self, account: &str) -> Result<Option<(String, String)>, IdentityError> {
        let sql = format!(
            "{ROW_COLUMNS} WHERE account_id = ?1 AND json_extract(principal, '$.type') = 'Root'
             ORDER BY created, access_key_id LIMIT 1"
        );
        let first = self
            .db
            .connection()
            .query_row(&sql, params![account], row)
            .optional()?;
        match first {
            None => Ok(None),
            Some(r) => {
                let c = self.open_row(&r)?;
                Ok(Some((
                    c.access_key_id.clone(),
                    c.secret.expose().to_owned(),
                )))
            }
        }
    }

    /// Makes sure every account has root credentials and the default account's match the
    /// bootstrap variables when they are set. Returns the default account's pair and whether
    /// it was generated now.
    pub fn bootstrap(
        &self,
        data_dir: &Path,
        default_account: &str,
        other_accounts: &[String],
        env_pair: Option<(String, String)>,
    ) -> Result<((String, String), bool), IdentityError> {
        let root = |a: &str| Principal::Root {
            account_id: a.to_owned(),
        };
        let mut generated = false;
        let pair = match env_pair {
            Some((id, secret)) => {
                if !(16..=128).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(IdentityError::Invalid(
                        "CAIRN_ROOT_ACCESS_KEY_ID must be 16 to 128 letters or digits".into(),
                    ));
                }
                if secret.len() < 16 {
                    return Err(IdentityError::Invalid(
                        "CAIRN_ROOT_SECRET_ACCESS_KEY must be at least 16 characters".into(),
                    ));
                }
                match self.row(&id)? {
                    Some(row) => {
                        let existing = self.open_row(&row)?;
                        if existing.secret.expose() != secret
                            || existing.principal != root(default_account)
                        {
                            return Err(IdentityError::Invalid(format!(
                                "access key {id} is already stored with another secret or principal"
                            )));
                        }
                    }
                    None => self.create(&id, &secret, &root(default_account))?,
                }
                (id, secret)
            }
            None => match self.root_of(default_account)? {
                Some(p) => p,
                None => {
                    let (id, secret) = generate_key_pair()?;
                    self.create(&id, &secret, &root(default_account))?;
                    let path = data_dir.join("root-credentials");
                    let text = export_block(&id, &secret, None);
                    if !path.exists() {
                        write_private_file(&path, text.as_bytes()).map_err(|source| {
                            IdentityError::Io {
                                path: path.display().to_string(),
                                source,
                            }
                        })?;
                    }
                    generated = true;
                    (id, secret)
                }
            },
        };
        for a in other_accounts {
            if self.root_of(a)?.is_none() {
                let (id, secret) = generate_key_pair()?;
                self.create(&id, &secret, &root(a))?;
            }
        }
        Ok((pair, generated))
    }
}

/// Whether a request parameter carries a credential, a signature or another secret, and so
/// never enters an audit record (`requestParameters`): with it, anyone who reads the logs
/// could replay a presigned URL until it expires, or use the secret. That is the query
/// string of a presigned URL's `X-Amz-Signature`, `X-Amz-Credential` and
/// `X-Amz-Security-Token` (and SigV2's `Signature`), MFA codes, passwords and identity
/// tokens. Like CloudTrail, the harmless parts of a presigned URL (`X-Amz-Algorithm`,
/// `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`) are kept. Names compare
/// ASCII-case-insensitively.
pub fn is_secret_parameter(name: &str) -> bool {
    const SECRET: &[&str] = &[
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "Signature",
        "TokenCode",
        "AuthenticationCode1",
        "AuthenticationCode2",
        "Password",
        "NewPassword",
        "OldPassword",
        "SecretAccessKey",
        "SessionToken",
        "SAMLAssertion",
        "WebIdentityToken",
        "PrivateKey",
    ];
    SECRET.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `export AWS_...` lines for a shell.
pub fn export_block(access_key_id: &str, secret: &str, endpoint: Option<&str>) -> String {
    let mut s = format!(
        "export AWS_ACCESS_KEY_ID={access_key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}\n"
    );
    if let Some(e) = endpoint {
        s.push_str(&format!("export AWS_ENDPOINT_URL={e}\n"));
    }
    s
}

impl CredentialStore for Credentials {
    /// `ASIA...` keys are role sessions: the credential is the sealed session token itself
    /// ([`crate::session`]); every other key is looked up in the database.
    fn lookup_session(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Option<Credential> {
        if access_key_id.starts_with("ASIA") {
            return crate::session::open(&self.master, access_key_id, session_token?);
        }
        self.lookup(access_key_id)
    }

    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        if let Some(c) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(access_key_id)
        {
            return Some(c.clone());
        }
        let row = match self.row(access_key_id) {
            Ok(Some(row)) => row,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(error = %e, "credential lookup failed");
                return None;
            }
        };
        match self.open_row(&row) {
            Ok(c) => {
                self.cache
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(access_key_id.to_owned(), c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::error!(access_key_id, error = %e, "stored credential cannot be opened");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_secret_parameter;

    #[test]
    fn signatures_credentials_and_codes_are_secret() {
        for name in [
            "X-Amz-Signature",
            "x-amz-signature",
            "X-Amz-Credential",
            "X-AMZ-SECURITY-TOKEN",
            "Signature",
            "TokenCode",
            "AuthenticationCode2",
            "NewPassword",
        ] {
            assert!(is_secret_parameter(name), "{name}");
        }
        for name in [
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-Algorithm",
            "X-Amz-SignedHeaders",
            "versionId",
            "UserName",
            "SerialNumber",
        ] {
            assert!(!is_secret_parameter(name), "{name}");
        }
    }
}
