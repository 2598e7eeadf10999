//! Cairn's identity domain: IAM and STS without the wire.
//!
//! * [`Iam`] is the identity store. Every entity lives in memory (parsed policies included,
//!   so [`Iam::identity_policies`] costs no parsing per request) and is written through to the
//!   `iam_entities` table as a versioned JSON document before a call returns. Access keys are
//!   rows of the `credentials` table, their secrets sealed with the master key
//!   ([`credentials`]).
//! * [`session`] issues `AssumeRole` credentials. The session token is the session itself
//!   (role, session name, expiry, MFA flag, source identity and the session's secret) sealed
//!   with AES-256-GCM under the master key, bound to the `ASIA...` key id: no server-side
//!   state, and a token cannot be forged, altered or moved to another key id.
//! * [`mfa`] keeps virtual MFA devices (TOTP), their assignment to users and the lockout
//!   after repeated wrong codes.
//! * [`credentials`] is the store SigV4 verification reads, and the root-key bootstrap.
//! * [`op`] names every IAM and STS action ([`IamOp`], [`StsOp`]).
//!
//! The tables live in a SQLite database this crate reaches through [`Database`] (the
//! server's catalog). Errors are [`IamError`] and [`mfa::MfaError`], both
//! [`cairn_core::AwsError`]s. The query protocol itself is the server's.
//!
//! Limits follow AWS's default quotas where they matter here: 2 access keys per user,
//! 10 managed policies attached per user or role.

pub mod credentials;
pub mod db;
mod error;
pub mod mfa;
pub mod op;
pub mod session;
mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use cairn_auth::Principal;
use cairn_policy::{Policy, PolicyType};
use serde::{Deserialize, Serialize};

pub use credentials::{Credentials, IdentityError};
pub use db::Database;
pub use error::IamError;
pub use op::{IamOp, StsOp};

/// Access keys a user may have.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// Managed policies attached to one user or role.
pub const MAX_ATTACHED_POLICIES: usize = 10;
/// Default (and smallest) `MaxSessionDuration` of a role, in seconds.
pub const DEFAULT_MAX_SESSION: u32 = 3600;
/// Largest `MaxSessionDuration`, in seconds.
pub const LARGEST_MAX_SESSION: u32 = 43_200;

/// A built-in (AWS-managed) policy.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Policy name.
    pub name: &'static str,
    /// `arn:aws:iam::aws:policy/<name>`.
    pub arn: &'static str,
    /// One line.
    pub description: &'static str,
    /// JSON document.
    pub document: &'static str,
}

/// The AWS-managed policies every account can attach.
pub const BUILTINS: [Builtin; 4] = [
    Builtin {
        name: cairn_policy::managed::AWS_CLOUDTRAIL_FULL_ACCESS.name,
        arn: cairn_policy::managed::AWS_CLOUDTRAIL_FULL_ACCESS.arn,
        description: cairn_policy::managed::AWS_CLOUDTRAIL_FULL_ACCESS.description,
        document: cairn_policy::managed::AWS_CLOUDTRAIL_FULL_ACCESS.document,
    },
    Builtin {
        name: cairn_policy::managed::AWS_CLOUDTRAIL_READ_ONLY_ACCESS.name,
        arn: cairn_policy::managed::AWS_CLOUDTRAIL_READ_ONLY_ACCESS.arn,
        description: cairn_policy::managed::AWS_CLOUDTRAIL_READ_ONLY_ACCESS.description,
        document: cairn_policy::managed::AWS_CLOUDTRAIL_READ_ONLY_ACCESS.document,
    },
    Builtin {
        name: cairn_policy::managed::ADMINISTRATOR_ACCESS.name,
        arn: cairn_policy::managed::ADMINISTRATOR_ACCESS.arn,
        description: cairn_policy::managed::ADMINISTRATOR_ACCESS.description,
        document: cairn_policy::managed::ADMINISTRATOR_ACCESS.document,
    },
    // AWS's ReadOnlyAccess covers every service; Cairn's version covers the services Cairn
    // serves (cairn-policy's `CairnReadOnlyAccess` document).
    Builtin {
        name: "ReadOnlyAccess",
        arn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
        description: cairn_policy::managed::CAIRN_READ_ONLY_ACCESS.description,
        document: cairn_policy::managed::CAIRN_READ_ONLY_ACCESS.document,
    },
];

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Document version (1).
    pub v: u32,
    /// Path, `/` by default.
    pub path: String,
    /// Friendly name.
    pub name: String,
    /// `AIDA...`.
    pub user_id: String,
    /// Unix seconds.
    pub create_date: i64,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
}

/// An IAM role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    /// Document version (1).
    pub v: u32,
    /// Path, `/` by default.
    pub path: String,
    /// Friendly name.
    pub name: String,
    /// `AROA...`.
    pub role_id: String,
    /// Unix seconds.
    pub create_date: i64,
    /// The trust policy (JSON).
    pub trust_policy: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Longest session, in seconds.
    pub max_session_duration: u32,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
}

/// A customer-managed policy (one version, `v1`, always the default).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerPolicy {
    /// Document version (1).
    pub v: u32,
    /// Path, `/` by default.
    pub path: String,
    /// Name.
    pub name: String,
    /// `ANPA...`.
    pub policy_id: String,
    /// Unix seconds.
    pub create_date: i64,
    /// The policy document (JSON).
    pub document: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
}

/// The metadata `GetPolicy`/`ListPolicies` show, for built-in and customer policies alike.
#[derive(Debug, Clone)]
pub struct PolicyInfo {
    /// Name.
    pub name: String,
    /// `ANPA...` (built-ins get a stable id derived from the name).
    pub policy_id: String,
    /// ARN.
    pub arn: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: Option<String>,
    /// Unix seconds.
    pub create_date: i64,
    /// How many users and roles of the asking account have it attached.
    pub attachment_count: usize,
    /// Whether AWS manages it.
    pub builtin: bool,
}

/// An access key's metadata.
#[derive(Debug, Clone)]
pub struct AccessKeyInfo {
    /// `AKIA...`.
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Unix seconds.
    pub create_date: i64,
}

/// The ARN of a user.
pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

/// The ARN of a role.
pub fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{path}{name}")
}

/// The ARN of a customer-managed policy.
pub fn policy_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy{path}{name}")
}

fn malformed(e: &cairn_policy::PolicyError) -> IamError {
    IamError::MalformedPolicyDocument(e.to_string())
}

/// Parses and validates a policy document of `kind` within `limit` characters.
pub fn parse_policy(document: &str, kind: PolicyType, limit: usize) -> Result<Policy, IamError> {
    let p = Policy::parse_with_limit(document, limit).map_err(|e| IamError::from_policy(&e))?;
    p.validate_as(kind).map_err(|e| malformed(&e))?;
    Ok(p)
}

struct UserEntry {
    user: User,
    inline: Vec<(String, Policy)>,
}

struct RoleEntry {
    role: Role,
    trust: Arc<Policy>,
}

struct PolicyEntry {
    doc: CustomerPolicy,
    policy: Policy,
}

#[derive(Default)]
struct Entities {
    users: BTreeMap<(String, String), UserEntry>,
    roles: BTreeMap<(String, String), RoleEntry>,
    /// By ARN.
    policies: BTreeMap<String, PolicyEntry>,
}

/// How often a key's last use is written to the database.
pub const LAST_USED_PERSIST_SECS: i64 = 300;

/// When and where an access key was last used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastUsed {
    /// Unix seconds.
    pub date: i64,
    /// The service the request was signed for (`cloudtrail`, `iam`, ...).
    pub service: String,
    /// The region it was signed for.
    pub region: String,
}

/// The identity store.
pub struct Iam {
    db: Arc<dyn Database>,
    entities: RwLock<Entities>,
    builtins: BTreeMap<&'static str, Policy>,
    /// Access key id → (last use, when last persisted).
    last_used: std::sync::Mutex<std::collections::HashMap<String, (LastUsed, i64)>>,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iam")
    }
}

fn builtin(arn: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.arn == arn)
}

/// A stable id for a built-in policy (AWS's ids are fixed strings too).
fn builtin_id(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    let mut s = String::from("ANPA");
    for b in h.iter().take(17) {
        s.push(store::ID_ALPHABET[usize::from(*b) % store::ID_ALPHABET.len()] as char);
    }
    s
}

impl Iam {
    /// Loads every entity from `db`.
    pub fn load(db: Arc<dyn Database>) -> Result<Self, IamError> {
        let mut builtins = BTreeMap::new();
        for b in &BUILTINS {
            let p = Policy::parse(b.document).map_err(|e| IamError::Corrupt {
                key: b.arn.to_owned(),
                message: e.to_string(),
            })?;
            builtins.insert(b.arn, p);
        }
        let mut entities = Entities::default();
        let mut last_used = std::collections::HashMap::new();
        for (account, kind, name, doc) in store::load_all(&*db)? {
            let corrupt = |message: String| IamError::Corrupt {
                key: format!("iam {account} {kind} {name}"),
                message,
            };
            match kind.as_str() {
                "user" => {
                    let user: User =
                        serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?;
                    let inline = user
                        .inline
                        .iter()
                        .map(|(n, d)| {
                            Policy::parse(d)
                                .map(|p| (format!("user/{}/{n}", user.name), p))
                                .map_err(|e| corrupt(e.to_string()))
                        })
                        .collect::<Result<_, _>>()?;
                    if user.path != "/" {
                        store::backfill_key_paths(
                            &*db,
                            &account,
                            &user.name,
                            &user.user_id,
                            &user.path,
                        )?;
                    }
                    entities
                        .users
                        .insert((account, name), UserEntry { user, inline });
                }
                "role" => {
                    let role: Role =
                        serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?;
                    let trust = Arc::new(
                        Policy::parse(&role.trust_policy).map_err(|e| corrupt(e.to_string()))?,
                    );
                    entities
                        .roles
                        .insert((account, name), RoleEntry { role, trust });
                }
                "policy" => {
                    let d: CustomerPolicy =
                        serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?;
                    let policy = Policy::parse(&d.document).map_err(|e| corrupt(e.to_string()))?;
                    let arn = policy_arn(&account, &d.path, &d.name);
                    entities
                        .policies
                        .insert(arn, PolicyEntry { doc: d, policy });
                }
                "key-last-used" => {
                    let l: LastUsed =
                        serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?;
                    let persisted = l.date;
                    last_used.insert(name, (l, persisted));
                }
                other => return Err(corrupt(format!("unknown kind {other}"))),
            }
        }
        Ok(Self {
            db,
            entities: RwLock::new(entities),
            builtins,
            last_used: std::sync::Mutex::new(last_used),
        })
    }

    /// Notes that an access key signed a request. Kept in memory; returns a write to run
    /// off the request path (`spawn_blocking`) when the stored value is more than
    /// [`LAST_USED_PERSIST_SECS`] old, so a busy key costs one database write per interval.
    pub fn note_key_use(
        self: &Arc<Self>,
        account: &str,
        access_key_id: &str,
        service: &str,
        region: &str,
        now: i64,
    ) -> Option<impl FnOnce() + Send + 'static> {
        let l = LastUsed {
            date: now,
            service: service.to_owned(),
            region: region.to_owned(),
        };
        let mut map = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
        let persisted = map.get(access_key_id).map_or(i64::MIN, |(_, p)| *p);
        let due = now.saturating_sub(persisted) >= LAST_USED_PERSIST_SECS;
        map.insert(
            access_key_id.to_owned(),
            (l.clone(), if due { now } else { persisted }),
        );
        drop(map);
        if !due {
            return None;
        }
        let (me, account, key) = (self.clone(), account.to_owned(), access_key_id.to_owned());
        Some(move || {
            if let Err(e) = store::put(&*me.db, &account, "key-last-used", &key, &l) {
                tracing::warn!(access_key_id = %key, error = %e, "cannot store key last-used");
            }
        })
    }

    /// When and where an access key was last used (`None`: never, as far as recorded).
    pub fn key_last_used(&self, access_key_id: &str) -> Option<LastUsed> {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(access_key_id)
            .map(|(l, _)| l.clone())
    }

    /// The user owning an access key of `account`.
    pub fn key_owner(&self, account: &str, access_key_id: &str) -> Result<String, IamError> {
        store::key_owner(&*self.db, account, access_key_id)?.ok_or_else(|| {
            IamError::NoSuchEntity(format!(
                "The Access Key with id {access_key_id} cannot be found."
            ))
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entities> {
        self.entities.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entities> {
        self.entities.write().unwrap_or_else(|p| p.into_inner())
    }

    fn managed(&self, e: &Entities, arn: &str) -> Option<(String, Policy)> {
        if let Some(p) = self.builtins.get(arn) {
            return Some((arn.to_owned(), p.clone()));
        }
        e.policies
            .get(arn)
            .map(|p| (arn.to_owned(), p.policy.clone()))
    }

    /// The identity-based policies of `principal`: a user's attached and inline policies, a
    /// session's role's attached policies; none for root and service principals.
    pub fn identity_policies(&self, principal: &Principal) -> Vec<(String, Policy)> {
        let e = self.read();
        match principal {
            Principal::IamUser {
                account_id,
                user_name,
                user_id,
                ..
            } => {
                let Some(u) = e.users.get(&(account_id.clone(), user_name.clone())) else {
                    return Vec::new();
                };
                // A user deleted and created again under the same name is another user.
                if &u.user.user_id != user_id {
                    return Vec::new();
                }
                let mut out: Vec<(String, Policy)> = u
                    .user
                    .attached
                    .iter()
                    .filter_map(|arn| self.managed(&e, arn))
                    .collect();
                out.extend(u.inline.iter().cloned());
                out
            }
            Principal::AssumedRole {
                account_id,
                role_name,
                role_id,
                ..
            } => {
                let Some(r) = e.roles.get(&(account_id.clone(), role_name.clone())) else {
                    return Vec::new();
                };
                if &r.role.role_id != role_id {
                    return Vec::new();
                }
                r.role
                    .attached
                    .iter()
                    .filter_map(|arn| self.managed(&e, arn))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    // ----- users -----------------------------------------------------------------------

    /// `CreateUser`.
    pub fn create_user(&self, account: &str, name: &str, path: &str) -> Result<User, IamError> {
        let mut e = self.write();
        let key = (account.to_owned(), name.to_owned());
        if e.users
            .keys()
            .any(|(a, n)| a == account && n.eq_ignore_ascii_case(name))
        {
            return Err(IamError::EntityAlreadyExists(format!(
                "User with name {name} already exists."
            )));
        }
        let user = User {
            v: 1,
            path: path.to_owned(),
            name: name.to_owned(),
            user_id: store::unique_id("AIDA")?,
            create_date: now(),
            attached: Vec::new(),
            inline: BTreeMap::new(),
        };
        store::put(&*self.db, account, "user", name, &user)?;
        e.users.insert(
            key,
            UserEntry {
                user: user.clone(),
                inline: Vec::new(),
            },
        );
        Ok(user)
    }

    /// `GetUser`.
    pub fn user(&self, account: &str, name: &str) -> Result<User, IamError> {
        self.read()
            .users
            .get(&(account.to_owned(), name.to_owned()))
            .map(|u| u.user.clone())
            .ok_or_else(|| no_such_user(name))
    }

    /// `ListUsers`, sorted by name.
    pub fn users(&self, account: &str, path_prefix: &str) -> Vec<User> {
        self.read()
            .users
            .iter()
            .filter(|((a, _), u)| a == account && u.user.path.starts_with(path_prefix))
            .map(|(_, u)| u.user.clone())
            .collect()
    }

    /// `DeleteUser`: refused while the user has access keys or policies.
    pub fn delete_user(&self, account: &str, name: &str) -> Result<(), IamError> {
        let mut e = self.write();
        let key = (account.to_owned(), name.to_owned());
        let u = e.users.get(&key).ok_or_else(|| no_such_user(name))?;
        let keys = store::access_keys(&*self.db, account, name)?;
        if !keys.is_empty() || !u.user.attached.is_empty() || !u.user.inline.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete access keys and policies first.".into(),
            ));
        }
        store::delete(&*self.db, account, "user", name)?;
        e.users.remove(&key);
        Ok(())
    }

    fn update_user(
        &self,
        account: &str,
        name: &str,
        f: impl FnOnce(&mut User) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        let mut e = self.write();
        let key = (account.to_owned(), name.to_owned());
        let entry = e.users.get(&key).ok_or_else(|| no_such_user(name))?;
        let mut user = entry.user.clone();
        f(&mut user)?;
        let inline = user
            .inline
            .iter()
            .map(|(n, d)| {
                Policy::parse(d)
                    .map(|p| (format!("user/{name}/{n}"), p))
                    .map_err(|e| malformed(&e))
            })
            .collect::<Result<_, _>>()?;
        store::put(&*self.db, account, "user", name, &user)?;
        e.users.insert(key, UserEntry { user, inline });
        Ok(())
    }

    /// Access keys of a user.
    pub fn access_keys(&self, account: &str, user: &str) -> Result<Vec<AccessKeyInfo>, IamError> {
        self.user(account, user)?;
        store::access_keys(&*self.db, account, user)
    }

    /// `CreateAccessKey`: returns the key id and its secret (shown once).
    pub fn create_access_key(
        &self,
        credentials: &crate::credentials::Credentials,
        account: &str,
        user: &str,
    ) -> Result<(AccessKeyInfo, String), IamError> {
        // The write lock serialises key creation per store, so the quota check holds.
        let e = self.write();
        let u = e
            .users
            .get(&(account.to_owned(), user.to_owned()))
            .ok_or_else(|| no_such_user(user))?;
        if store::access_keys(&*self.db, account, user)?.len() >= MAX_ACCESS_KEYS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
            )));
        }
        let (id, secret) = crate::credentials::generate_key_pair()?;
        let principal = Principal::IamUser {
            account_id: account.to_owned(),
            user_name: user.to_owned(),
            user_id: u.user.user_id.clone(),
            path: u.user.path.clone(),
        };
        credentials.create(&id, &secret, &principal)?;
        drop(e);
        let info = store::access_keys(&*self.db, account, user)?
            .into_iter()
            .find(|k| k.access_key_id == id)
            .ok_or_else(|| IamError::Storage("created access key not found".into()))?;
        Ok((info, secret))
    }

    fn user_key(&self, account: &str, user: &str, key: &str) -> Result<(), IamError> {
        if store::access_keys(&*self.db, account, user)?
            .iter()
            .any(|k| k.access_key_id == key)
        {
            Ok(())
        } else {
            Err(IamError::NoSuchEntity(format!(
                "The Access Key with id {key} cannot be found."
            )))
        }
    }

    /// `UpdateAccessKey`.
    pub fn update_access_key(
        &self,
        credentials: &crate::credentials::Credentials,
        account: &str,
        user: &str,
        key: &str,
        status: &str,
    ) -> Result<(), IamError> {
        self.user(account, user)?;
        self.user_key(account, user, key)?;
        store::set_key_status(&*self.db, key, status)?;
        credentials.forget(key);
        Ok(())
    }

    /// `DeleteAccessKey`.
    pub fn delete_access_key(
        &self,
        credentials: &crate::credentials::Credentials,
        account: &str,
        user: &str,
        key: &str,
    ) -> Result<(), IamError> {
        self.user(account, user)?;
        self.user_key(account, user, key)?;
        store::delete_key(&*self.db, key)?;
        store::delete(&*self.db, account, "key-last-used", key)?;
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        credentials.forget(key);
        Ok(())
    }

    /// `PutUserPolicy` (the document is validated by the caller).
    pub fn put_user_policy(
        &self,
        account: &str,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        self.update_user(account, user, |u| {
            u.inline.insert(name.to_owned(), document.to_owned());
            Ok(())
        })
    }

    /// `GetUserPolicy`.
    pub fn user_policy(&self, account: &str, user: &str, name: &str) -> Result<String, IamError> {
        self.user(account, user)?
            .inline
            .get(name)
            .cloned()
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("The user policy with name {name} cannot be found."))
            })
    }

    /// `DeleteUserPolicy`.
    pub fn delete_user_policy(
        &self,
        account: &str,
        user: &str,
        name: &str,
    ) -> Result<(), IamError> {
        self.update_user(account, user, |u| {
            u.inline.remove(name).map(|_| ()).ok_or_else(|| {
                IamError::NoSuchEntity(format!("The user policy with name {name} cannot be found."))
            })
        })
    }

    fn check_attachable(&self, e: &Entities, account: &str, arn: &str) -> Result<(), IamError> {
        let ok = builtin(arn).is_some()
            || (e.policies.contains_key(arn)
                && arn.starts_with(&format!("arn:aws:iam::{account}:policy/")));
        if ok {
            Ok(())
        } else {
            Err(IamError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            )))
        }
    }

    /// `AttachUserPolicy` / `DetachUserPolicy`.
    pub fn attach_user_policy(
        &self,
        account: &str,
        user: &str,
        arn: &str,
        attach: bool,
    ) -> Result<(), IamError> {
        self.check_attachable(&self.read(), account, arn)?;
        self.update_user(account, user, |u| attach_to(&mut u.attached, arn, attach))
    }

    // ----- roles -----------------------------------------------------------------------

    /// `CreateRole` (the trust policy is validated by the caller).
    pub fn create_role(&self, account: &str, mut role: Role) -> Result<Role, IamError> {
        let trust = Arc::new(Policy::parse(&role.trust_policy).map_err(|e| malformed(&e))?);
        let mut e = self.write();
        if e.roles
            .keys()
            .any(|(a, n)| a == account && n.eq_ignore_ascii_case(&role.name))
        {
            return Err(IamError::EntityAlreadyExists(format!(
                "Role with name {} already exists.",
                role.name
            )));
        }
        role.role_id = store::unique_id("AROA")?;
        role.create_date = now();
        store::put(&*self.db, account, "role", &role.name, &role)?;
        e.roles.insert(
            (account.to_owned(), role.name.clone()),
            RoleEntry {
                role: role.clone(),
                trust,
            },
        );
        Ok(role)
    }

    /// `GetRole`.
    pub fn role(&self, account: &str, name: &str) -> Result<Role, IamError> {
        self.read()
            .roles
            .get(&(account.to_owned(), name.to_owned()))
            .map(|r| r.role.clone())
            .ok_or_else(|| no_such_role(name))
    }

    /// A role and its parsed trust policy, for `AssumeRole`.
    pub fn role_with_trust(&self, account: &str, name: &str) -> Option<(Role, Arc<Policy>)> {
        self.read()
            .roles
            .get(&(account.to_owned(), name.to_owned()))
            .map(|r| (r.role.clone(), r.trust.clone()))
    }

    /// `ListRoles`, sorted by name.
    pub fn roles(&self, account: &str, path_prefix: &str) -> Vec<Role> {
        self.read()
            .roles
            .iter()
            .filter(|((a, _), r)| a == account && r.role.path.starts_with(path_prefix))
            .map(|(_, r)| r.role.clone())
            .collect()
    }

    /// `DeleteRole`: refused while policies are attached.
    pub fn delete_role(&self, account: &str, name: &str) -> Result<(), IamError> {
        let mut e = self.write();
        let key = (account.to_owned(), name.to_owned());
        let r = e.roles.get(&key).ok_or_else(|| no_such_role(name))?;
        if !r.role.attached.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        store::delete(&*self.db, account, "role", name)?;
        e.roles.remove(&key);
        Ok(())
    }

    /// `AttachRolePolicy` / `DetachRolePolicy`.
    pub fn attach_role_policy(
        &self,
        account: &str,
        role: &str,
        arn: &str,
        attach: bool,
    ) -> Result<(), IamError> {
        let mut e = self.write();
        self.check_attachable(&e, account, arn)?;
        let key = (account.to_owned(), role.to_owned());
        let entry = e.roles.get_mut(&key).ok_or_else(|| no_such_role(role))?;
        let mut r = entry.role.clone();
        attach_to(&mut r.attached, arn, attach)?;
        store::put(&*self.db, account, "role", role, &r)?;
        entry.role = r;
        Ok(())
    }

    // ----- managed policies --------------------------------------------------------------

    /// `CreatePolicy` (the document is validated by the caller).
    pub fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: &str,
        document: &str,
        description: Option<String>,
    ) -> Result<PolicyInfo, IamError> {
        let policy = Policy::parse(document).map_err(|e| malformed(&e))?;
        let arn = policy_arn(account, path, name);
        let mut e = self.write();
        let prefix = format!("arn:aws:iam::{account}:policy/");
        if e.policies
            .iter()
            .any(|(a, p)| a.starts_with(&prefix) && p.doc.name.eq_ignore_ascii_case(name))
        {
            return Err(IamError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let doc = CustomerPolicy {
            v: 1,
            path: path.to_owned(),
            name: name.to_owned(),
            policy_id: store::unique_id("ANPA")?,
            create_date: now(),
            document: document.to_owned(),
            description,
        };
        store::put(&*self.db, account, "policy", name, &doc)?;
        e.policies.insert(arn.clone(), PolicyEntry { doc, policy });
        let info = Self::customer_info(&e, account, &arn);
        info.ok_or_else(|| IamError::Storage("created policy not found".into()))
    }

    fn attachments(e: &Entities, account: &str, arn: &str) -> (Vec<User>, Vec<Role>) {
        let users = e
            .users
            .iter()
            .filter(|((a, _), u)| a == account && u.user.attached.iter().any(|p| p == arn))
            .map(|(_, u)| u.user.clone())
            .collect();
        let roles = e
            .roles
            .iter()
            .filter(|((a, _), r)| a == account && r.role.attached.iter().any(|p| p == arn))
            .map(|(_, r)| r.role.clone())
            .collect();
        (users, roles)
    }

    fn customer_info(e: &Entities, account: &str, arn: &str) -> Option<PolicyInfo> {
        let p = e.policies.get(arn)?;
        let (u, r) = Self::attachments(e, account, arn);
        Some(PolicyInfo {
            name: p.doc.name.clone(),
            policy_id: p.doc.policy_id.clone(),
            arn: arn.to_owned(),
            path: p.doc.path.clone(),
            description: p.doc.description.clone(),
            create_date: p.doc.create_date,
            attachment_count: u.len() + r.len(),
            builtin: false,
        })
    }

    fn builtin_info(e: &Entities, account: &str, b: &Builtin) -> PolicyInfo {
        let (u, r) = Self::attachments(e, account, b.arn);
        PolicyInfo {
            name: b.name.to_owned(),
            policy_id: builtin_id(b.name),
            arn: b.arn.to_owned(),
            path: "/".into(),
            description: Some(b.description.to_owned()),
            create_date: 0,
            attachment_count: u.len() + r.len(),
            builtin: true,
        }
    }

    /// `GetPolicy`: a built-in policy or one of `account`'s.
    pub fn policy(&self, account: &str, arn: &str) -> Result<PolicyInfo, IamError> {
        let e = self.read();
        if let Some(b) = builtin(arn) {
            return Ok(Self::builtin_info(&e, account, b));
        }
        if arn.starts_with(&format!("arn:aws:iam::{account}:policy/"))
            && let Some(i) = Self::customer_info(&e, account, arn)
        {
            return Ok(i);
        }
        Err(IamError::NoSuchEntity(format!(
            "Policy {arn} was not found."
        )))
    }

    /// A policy's document (built-in or `account`'s).
    pub fn policy_document(&self, account: &str, arn: &str) -> Result<String, IamError> {
        if let Some(b) = builtin(arn) {
            return Ok(b.document.to_owned());
        }
        let e = self.read();
        match e.policies.get(arn) {
            Some(p) if arn.starts_with(&format!("arn:aws:iam::{account}:policy/")) => {
                Ok(p.doc.document.clone())
            }
            _ => Err(IamError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            ))),
        }
    }

    /// `ListPolicies`: `scope` is `All`, `AWS` or `Local`.
    pub fn policies(&self, account: &str, scope: &str, only_attached: bool) -> Vec<PolicyInfo> {
        let e = self.read();
        let mut out = Vec::new();
        if scope != "Local" {
            out.extend(BUILTINS.iter().map(|b| Self::builtin_info(&e, account, b)));
        }
        if scope != "AWS" {
            let prefix = format!("arn:aws:iam::{account}:policy/");
            out.extend(
                e.policies
                    .keys()
                    .filter(|a| a.starts_with(&prefix))
                    .filter_map(|a| Self::customer_info(&e, account, a)),
            );
        }
        out.retain(|p| !only_attached || p.attachment_count > 0);
        out
    }

    /// `DeletePolicy`: refused while attached.
    pub fn delete_policy(&self, account: &str, arn: &str) -> Result<(), IamError> {
        if builtin(arn).is_some() {
            return Err(IamError::AccessDenied(format!(
                "AWS managed policy {arn} cannot be deleted."
            )));
        }
        let mut e = self.write();
        let info = Self::customer_info(&e, account, arn)
            .filter(|_| arn.starts_with(&format!("arn:aws:iam::{account}:policy/")))
            .ok_or_else(|| IamError::NoSuchEntity(format!("Policy {arn} was not found.")))?;
        if info.attachment_count > 0 {
            return Err(IamError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        store::delete(&*self.db, account, "policy", &info.name)?;
        e.policies.remove(arn);
        Ok(())
    }

    /// `ListEntitiesForPolicy`: the users and roles of `account` it is attached to.
    pub fn entities_for_policy(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<(Vec<User>, Vec<Role>), IamError> {
        self.policy(account, arn)?;
        Ok(Self::attachments(&self.read(), account, arn))
    }

    /// Name of an attached policy (built-in or customer).
    pub fn policy_name(&self, arn: &str) -> String {
        if let Some(b) = builtin(arn) {
            return b.name.to_owned();
        }
        arn.rsplit('/').next().unwrap_or(arn).to_owned()
    }
}

fn attach_to(list: &mut Vec<String>, arn: &str, attach: bool) -> Result<(), IamError> {
    let present = list.iter().any(|a| a == arn);
    if attach {
        if !present {
            if list.len() >= MAX_ATTACHED_POLICIES {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_POLICIES}"
                )));
            }
            list.push(arn.to_owned());
        }
        Ok(())
    } else if present {
        list.retain(|a| a != arn);
        Ok(())
    } else {
        Err(IamError::NoSuchEntity(format!(
            "Policy {arn} was not attached."
        )))
    }
}

fn no_such_user(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn no_such_role(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam() -> (Arc<dyn Database>, Iam) {
        let db: Arc<dyn Database> = crate::db::test_db();
        let iam = Iam::load(db.clone()).unwrap();
        (db, iam)
    }

    #[test]
    fn users_policies_and_reload() {
        let (dir, iam) = iam();
        let u = iam.create_user("111111111111", "alice", "/").unwrap();
        assert!(u.user_id.starts_with("AIDA") && u.user_id.len() == 21);
        assert_eq!(
            iam.create_user("111111111111", "ALICE", "/")
                .unwrap_err()
                .code(),
            "EntityAlreadyExists"
        );
        iam.attach_user_policy(
            "111111111111",
            "alice",
            "arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess",
            true,
        )
        .unwrap();
        iam.put_user_policy(
            "111111111111",
            "alice",
            "deny-stop",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"cloudtrail:StopLogging","Resource":"*"}}"#,
        )
        .unwrap();
        let p = Principal::IamUser {
            account_id: "111111111111".into(),
            user_name: "alice".into(),
            user_id: u.user_id.clone(),
            path: "/".into(),
        };
        assert_eq!(iam.identity_policies(&p).len(), 2);
        // another user id under the same name gets nothing
        let other = Principal::IamUser {
            account_id: "111111111111".into(),
            user_name: "alice".into(),
            user_id: "AIDAOTHER".into(),
            path: "/".into(),
        };
        assert!(iam.identity_policies(&other).is_empty());
        assert_eq!(
            iam.delete_user("111111111111", "alice").unwrap_err().code(),
            "DeleteConflict"
        );
        let cp = iam
            .create_policy(
                "111111111111",
                "p1",
                "/",
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
                None,
            )
            .unwrap();
        assert_eq!(cp.arn, "arn:aws:iam::111111111111:policy/p1");
        iam.attach_user_policy("111111111111", "alice", &cp.arn, true)
            .unwrap();
        assert_eq!(
            iam.delete_policy("111111111111", &cp.arn)
                .unwrap_err()
                .code(),
            "DeleteConflict"
        );
        // Another account cannot see or attach it.
        assert_eq!(
            iam.policy("222222222222", &cp.arn).unwrap_err().code(),
            "NoSuchEntity"
        );
        drop(iam);
        let iam = Iam::load(dir.clone()).unwrap();
        assert_eq!(iam.identity_policies(&p).len(), 3);
        assert_eq!(
            iam.policy("111111111111", &cp.arn)
                .unwrap()
                .attachment_count,
            1
        );
    }

    /// A user's path is in its keys' principal (so in its ARN), also for keys stored before
    /// paths were kept, which the next load fills in.
    #[test]
    fn access_keys_carry_the_user_path() {
        use cairn_auth::CredentialStore;
        let (dir, iam) = iam();
        let master = Arc::new(cairn_core::secrets::MasterKey::from_bytes(&[3u8; 32]).unwrap());
        let creds = crate::credentials::Credentials::new(iam.db.clone(), master.clone());
        iam.create_user("111111111111", "bob", "/ops/team/")
            .unwrap();
        let (k, _) = iam
            .create_access_key(&creds, "111111111111", "bob")
            .unwrap();
        let arn = "arn:aws:iam::111111111111:user/ops/team/bob";
        let p = creds.lookup(&k.access_key_id).unwrap().principal;
        assert_eq!(p.arn().as_deref(), Some(arn));
        // As written before: no path in the stored principal.
        iam.db
            .connection()
            .execute(
                "UPDATE credentials SET principal = json_remove(principal, '$.path')",
                [],
            )
            .unwrap();
        let stale = crate::credentials::Credentials::new(iam.db.clone(), master.clone());
        let p = stale.lookup(&k.access_key_id).unwrap().principal;
        assert_eq!(
            p.arn().as_deref(),
            Some("arn:aws:iam::111111111111:user/bob")
        );
        drop(iam);
        let _iam = Iam::load(dir.clone()).unwrap();
        let fresh = crate::credentials::Credentials::new(dir, master);
        let p = fresh.lookup(&k.access_key_id).unwrap().principal;
        assert_eq!(p.arn().as_deref(), Some(arn));
    }

    #[test]
    fn key_last_used_is_throttled_and_survives_reload() {
        let (dir, iam) = iam();
        let iam = Arc::new(iam);
        assert!(iam.key_last_used("AKIAX").is_none());
        let w = iam.note_key_use("111111111111", "AKIAX", "cloudtrail", "us-east-1", 1000);
        w.expect("first use is written")();
        assert!(
            iam.note_key_use("111111111111", "AKIAX", "iam", "us-east-1", 1010)
                .is_none()
        );
        assert_eq!(iam.key_last_used("AKIAX").unwrap().service, "iam");
        drop(iam);
        let iam = Iam::load(dir.clone()).unwrap();
        let l = iam.key_last_used("AKIAX").unwrap();
        assert_eq!((l.date, l.service.as_str()), (1000, "cloudtrail"));
    }

    #[test]
    fn roles_and_limits() {
        let (_dir, iam) = iam();
        let role = Role {
            v: 1,
            path: "/".into(),
            name: "auditor".into(),
            role_id: String::new(),
            create_date: 0,
            trust_policy: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}}"#.into(),
            description: None,
            max_session_duration: 3600,
            attached: Vec::new(),
        };
        let r = iam.create_role("222222222222", role.clone()).unwrap();
        assert!(r.role_id.starts_with("AROA"));
        assert_eq!(
            iam.create_role("222222222222", role).unwrap_err().code(),
            "EntityAlreadyExists"
        );
        for b in &BUILTINS {
            iam.attach_role_policy("222222222222", "auditor", b.arn, true)
                .unwrap();
        }
        assert_eq!(
            iam.delete_role("222222222222", "auditor")
                .unwrap_err()
                .code(),
            "DeleteConflict"
        );
        assert_eq!(
            iam.attach_role_policy(
                "222222222222",
                "auditor",
                "arn:aws:iam::aws:policy/Nope",
                true
            )
            .unwrap_err()
            .code(),
            "NoSuchEntity"
        );
        let (_, roles) = iam
            .entities_for_policy("222222222222", BUILTINS[0].arn)
            .unwrap();
        assert_eq!(roles.len(), 1);
    }
}
