//! Cairn's built-in KMS: the subset of AWS KMS that audit-log encryption needs.
//!
//! * **Keys** are symmetric (`SYMMETRIC_DEFAULT`: AES-256-GCM), owned by an account in a
//!   region, named by a UUID key id and the ARN `arn:aws:kms:<region>:<account>:key/<id>`.
//! * **Aliases** (`alias/<name>`, 1–256 of `[A-Za-z0-9/_-]`, `alias/aws/` reserved) name one
//!   key each, unique per account and region.
//! * **States**: `Enabled` ⇄ `Disabled` (DisableKey/EnableKey); either → `PendingDeletion`
//!   (ScheduleKeyDeletion, 7–30 days, default 30) → `Disabled` (CancelKeyDeletion, as in AWS)
//!   or gone when [`Kms::tick`] runs after the deletion date. Only `Enabled` keys encrypt
//!   or decrypt; a disabled key answers [`KmsError::Disabled`], a key pending deletion
//!   [`KmsError::InvalidState`].
//! * **Rotation**: automatic (EnableKeyRotation, period 90–2560 days, default 365), applied
//!   by [`Kms::tick`], or on demand. A rotation adds a backing-key version; new ciphertexts use
//!   the newest, old versions are kept so that every earlier ciphertext still decrypts.
//! * **Key policies**: a resource policy per key, validated with `cairn-policy`; the default
//!   one gives the owning account's root user `kms:*`, as AWS's default key policy does.
//!   Deciding requests against it is the caller's job (the server's `authz::authorize`).
//!
//! # Guarantees
//!
//! * Key material never touches the disk in plain text: each backing key is sealed under the
//!   [`RootKey`] the server passes in (its master key), bound to the key id and version.
//! * Ciphertext blobs are self-describing (format version, key id, backing-key version, nonce,
//!   tag; see the `blob` module) and authenticated together with the encryption context, so
//!   changing any byte of a blob, or any key or value of the context, makes decryption fail
//!   with [`KmsError::InvalidCiphertext`].
//! * Every change is durable (SQLite WAL, `synchronous=FULL`) before the call returns.
//! * All cryptography is aws-lc-rs (AES-256-GCM, its system random generator).
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use cairn_kms::{CreateKey, Kms, TestRootKey};
//!
//! let kms = Kms::open_in_memory(Arc::new(TestRootKey::new([7; 32])), "us-east-1").unwrap();
//! let key = kms.create_key("111122223333", "us-east-1", CreateKey::default(), 0).unwrap();
//! let ctx: BTreeMap<String, String> = [("purpose".into(), "demo".into())].into();
//! let dk = kms.generate_data_key("111122223333", &key.key_id, &ctx).unwrap();
//! let back = kms.decrypt(&dk.ciphertext_blob, &ctx).unwrap();
//! assert_eq!(back.plaintext.as_slice(), dk.plaintext.as_slice());
//! assert!(kms.decrypt(&dk.ciphertext_blob, &BTreeMap::new()).is_err());
//! ```
//!
//! # As the object store's key service
//!
//! `cairn-vault` asks a `KeyService` for 256-bit data keys; the adapter is one-to-one:
//! `generate_data_key` → [`Kms::generate_data_key`] (`(dk.plaintext, dk.ciphertext_blob,
//! dk.key_arn)`), `decrypt_data_key` → [`Kms::decrypt_data_key`], and errors by
//! [`KmsError::class`] (`NotFound`, `Disabled` — which includes pending deletion —,
//! `InvalidCiphertext`, `Other`).

mod blob;
mod db;
mod error;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cairn_policy::{Policy, PolicyType};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use error::{KeyErrorClass, KmsError};

/// Largest plaintext `Encrypt` takes (AWS's limit).
pub const MAX_PLAINTEXT: usize = 4096;
/// Largest key policy, in bytes (AWS's limit).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;
/// Default and bounds of the automatic rotation period, in days.
pub const ROTATION_PERIOD_DAYS: (u32, u32, u32) = (365, 90, 2560);
/// Default and bounds of the deletion waiting period, in days.
pub const PENDING_WINDOW_DAYS: (u32, u32, u32) = (30, 7, 30);
/// Most tags on one key (AWS's limit).
pub const MAX_TAGS: usize = 50;

const DAY: i64 = 86_400;

/// The key that seals backing-key material at rest (the server's master key).
///
/// `seal` must be authenticated encryption binding `context` as associated data; `open` must
/// fail when the context, the key or any byte differs.
pub trait RootKey: Send + Sync + std::fmt::Debug {
    /// Encrypts `plaintext` bound to `context`.
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String>;
    /// Decrypts a value sealed with the same `context`.
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// The server's master key seals KMS backing keys.
impl RootKey for cairn_core::secrets::MasterKey {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        cairn_core::secrets::MasterKey::seal(self, context, plaintext).map_err(|e| e.to_string())
    }

    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        cairn_core::secrets::MasterKey::open(self, context, sealed).map_err(|e| e.to_string())
    }
}

/// An AES-256-GCM [`RootKey`] from raw bytes, for tests, benchmarks and examples.
pub struct TestRootKey(LessSafeKey);

impl std::fmt::Debug for TestRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestRootKey(<redacted>)")
    }
}

impl TestRootKey {
    /// A root key of these 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key");
        Self(LessSafeKey::new(key))
    }
}

impl RootKey for TestRootKey {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let nonce = random::<12>().map_err(|e| e.to_string())?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| "seal failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        if sealed.len() < 12 + 16 {
            return Err("sealed value too short".into());
        }
        let nonce: [u8; 12] = sealed[..12].try_into().map_err(|_| "nonce")?;
        let mut buf = Zeroizing::new(sealed[12..].to_vec());
        let n = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                buf.as_mut_slice(),
            )
            .map_err(|_| "open failed".to_owned())?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

fn random<const N: usize>() -> Result<[u8; N], KmsError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KmsError::Crypto("system random generator failed".into()))?;
    Ok(b)
}

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Not usable until enabled.
    Disabled,
    /// Scheduled for deletion; not usable; CancelKeyDeletion makes it `Disabled`.
    PendingDeletion,
}

impl KeyState {
    /// AWS's name (`Enabled`, `Disabled`, `PendingDeletion`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
        }
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about a key (never its material). Times are epoch seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// UUID key id.
    pub key_id: String,
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    pub arn: String,
    /// Free text.
    pub description: String,
    /// When created.
    pub creation_date: i64,
    /// State.
    pub state: KeyState,
    /// When a key pending deletion is deleted.
    pub deletion_date: Option<i64>,
    /// The waiting period of a pending deletion.
    pub pending_window_days: Option<u32>,
    /// Whether automatic rotation is on.
    pub rotation_enabled: bool,
    /// The automatic rotation period (set once rotation was ever enabled).
    pub rotation_period_days: Option<u32>,
    /// When automatic rotation next happens.
    pub next_rotation: Option<i64>,
    /// When the last on-demand rotation started.
    pub on_demand_rotation: Option<i64>,
    /// The newest backing-key version (1 for a new key).
    pub current_version: u32,
    /// The key policy document.
    pub policy: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl KeyMetadata {
    /// Whether the key can be used for cryptographic operations, with AWS's error if not.
    pub fn check_usable(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(self.arn.clone())),
            KeyState::PendingDeletion => Err(self.invalid_state()),
        }
    }

    /// `KMSInvalidStateException` unless the key is Enabled or Disabled (a key pending
    /// deletion can be neither changed nor used).
    fn check_not_pending_deletion(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::PendingDeletion => Err(self.invalid_state()),
            KeyState::Enabled | KeyState::Disabled => Ok(()),
        }
    }

    fn invalid_state(&self) -> KmsError {
        KmsError::InvalidState {
            key: self.arn.clone(),
            state: self.state,
        }
    }
}

/// The check of [`Kms::create_alias`]: none (a new alias points at no key yet).
type NoCheck = fn(&KeyMetadata, &Policy) -> Result<(), KmsError>;

/// An alias. Times are epoch seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `alias/...`.
    pub name: String,
    /// The key id it names.
    pub target_key_id: String,
    /// When created.
    pub creation_date: i64,
    /// When last pointed at a key.
    pub last_updated_date: i64,
}

impl Alias {
    /// `arn:aws:kms:<region>:<account>:alias/<name>`.
    pub fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, self.account, self.name)
    }
}

/// Parameters of [`Kms::create_key`] (AWS's CreateKey request members).
#[derive(Debug, Clone, Default)]
pub struct CreateKey {
    /// Description (≤ 8192 characters).
    pub description: Option<String>,
    /// Key policy; the default key policy when absent.
    pub policy: Option<String>,
    /// Only `ENCRYPT_DECRYPT`.
    pub key_usage: Option<String>,
    /// Only `SYMMETRIC_DEFAULT` (`KeySpec` or the older `CustomerMasterKeySpec`).
    pub key_spec: Option<String>,
    /// Only `AWS_KMS`.
    pub origin: Option<String>,
    /// Multi-Region keys are not supported.
    pub multi_region: bool,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// A fresh 256-bit data key: the plaintext to use and forget, and the blob to store.
pub struct DataKey {
    /// The key.
    pub plaintext: Zeroizing<[u8; 32]>,
    /// The key encrypted under the KMS key (decrypt with [`Kms::decrypt`]).
    pub ciphertext_blob: Vec<u8>,
    /// The KMS key's ARN.
    pub key_arn: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_key_material(f, "DataKey", &self.key_arn)
    }
}

/// `Debug` of a result holding key material: the plaintext redacted, the key's ARN shown.
fn debug_key_material(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    key_arn: &str,
) -> std::fmt::Result {
    f.debug_struct(name)
        .field("plaintext", &"<redacted>")
        .field("key_arn", &key_arn)
        .finish_non_exhaustive()
}

/// The result of [`Kms::decrypt`].
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// ARN of the key that decrypted it.
    pub key_arn: String,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_key_material(f, "Decrypted", &self.key_arn)
    }
}

/// The result of [`Kms::encrypt`].
#[derive(Debug, Clone)]
pub struct Encrypted {
    /// The blob.
    pub ciphertext_blob: Vec<u8>,
    /// ARN of the key that encrypted it.
    pub key_arn: String,
}

/// Rotation settings of a key ([`Kms::rotation_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStatus {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// Its period in days (when on).
    pub period_days: Option<u32>,
    /// Next automatic rotation (when on).
    pub next_rotation: Option<i64>,
    /// Start of the last on-demand rotation.
    pub on_demand_rotation: Option<i64>,
    /// ARN.
    pub key_arn: String,
}

/// What [`Kms::tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// ARNs of keys deleted (their waiting period ended).
    pub deleted: Vec<String>,
    /// ARNs of keys rotated automatically.
    pub rotated: Vec<String>,
}

/// The default key policy: the owning account's root user may do `kms:*`.
pub fn default_key_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}

/// Parses and validates a key policy (JSON, ≤ 32 KiB, resource-policy placement rules).
pub fn parse_key_policy(document: &str) -> Result<Policy, KmsError> {
    if document.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "the key policy is {} bytes, over the limit of {MAX_POLICY_BYTES}",
            document.len()
        )));
    }
    let p = Policy::parse(document).map_err(|e| KmsError::MalformedPolicy(e.to_string()))?;
    p.validate_as(PolicyType::Resource)
        .map_err(|e| KmsError::MalformedPolicy(e.to_string()))?;
    Ok(p)
}

/// Checks an alias name against AWS's rules (not the reserved prefix).
pub fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::InvalidAliasName(format!(
            "alias name {name} must begin with alias/"
        )));
    };
    let ok_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    if rest.is_empty() || name.len() > 256 || !ok_chars {
        return Err(KmsError::InvalidAliasName(format!(
            "alias name {name} is not valid: 1 to 256 characters of A-Z, a-z, 0-9, /, _ and - after alias/"
        )));
    }
    Ok(())
}

/// A day-count parameter: `days`, or the default of `(default, min, max)`, within [min, max].
fn days_in_range(
    parameter: &str,
    days: Option<u32>,
    (default, min, max): (u32, u32, u32),
) -> Result<u32, KmsError> {
    let days = days.unwrap_or(default);
    if !(min..=max).contains(&days) {
        return Err(KmsError::Validation(format!(
            "{parameter} must be between {min} and {max}"
        )));
    }
    Ok(days)
}

fn validate_tag(k: &str, v: &str) -> Result<(), KmsError> {
    if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
        return Err(KmsError::Tag(format!(
            "tag key {k:?} must be 1 to 128 characters and its value at most 256"
        )));
    }
    if k.starts_with("aws:") {
        return Err(KmsError::Tag(format!(
            "tag key {k} uses the reserved prefix aws:"
        )));
    }
    Ok(())
}

struct Record {
    meta: KeyMetadata,
    policy: Arc<Policy>,
}

struct Inner {
    conn: rusqlite::Connection,
    keys: HashMap<uuid::Uuid, Record>,
    /// (account, region, name) → alias.
    aliases: BTreeMap<(String, String, String), Alias>,
}

/// The KMS: keys, aliases and their storage. Cheap to share behind an `Arc`; every method is
/// synchronous (call it from `spawn_blocking` in async code) and safe to call concurrently.
pub struct Kms {
    inner: Mutex<Inner>,
    materials: RwLock<HashMap<(uuid::Uuid, u32), Arc<LessSafeKey>>>,
    root: Arc<dyn RootKey>,
    default_region: String,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("default_region", &self.default_region)
            .finish_non_exhaustive()
    }
}

/// What a key reference names.
enum KeyRef {
    Key {
        id: uuid::Uuid,
        arn_scope: Option<(String, String)>,
    },
    Alias {
        account: Option<String>,
        region: Option<String>,
        name: String,
    },
}

fn not_found_id(key_id: &str) -> KmsError {
    KmsError::NotFound(format!("Invalid keyId '{key_id}'"))
}

fn parse_ref(key_id: &str) -> Result<KeyRef, KmsError> {
    if let Some(rest) = key_id.strip_prefix("arn:") {
        // arn:<partition>:kms:<region>:<account>:<key/id | alias/name>
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [_, "kms", region, account, resource] = parts[..] else {
            return Err(not_found_id(key_id));
        };
        if let Some(id) = resource.strip_prefix("key/") {
            let id = uuid::Uuid::parse_str(id).map_err(|_| not_found_id(key_id))?;
            return Ok(KeyRef::Key {
                id,
                arn_scope: Some((account.to_owned(), region.to_owned())),
            });
        }
        if resource.starts_with("alias/") {
            return Ok(KeyRef::Alias {
                account: Some(account.to_owned()),
                region: Some(region.to_owned()),
                name: resource.to_owned(),
            });
        }
        return Err(not_found_id(key_id));
    }
    if key_id.starts_with("alias/") {
        return Ok(KeyRef::Alias {
            account: None,
            region: None,
            name: key_id.to_owned(),
        });
    }
    let id = uuid::Uuid::parse_str(key_id).map_err(|_| not_found_id(key_id))?;
    Ok(KeyRef::Key {
        id,
        arn_scope: None,
    })
}

fn key_arn(region: &str, account: &str, id: &uuid::Uuid) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

fn material_context(id: &uuid::Uuid, version: u32) -> String {
    format!("cairn-kms:key:{id}:v{version}")
}

impl Inner {
    /// Resolves a key id, key ARN, alias name or alias ARN as seen from `account` in
    /// `region`. A key of another account is found only by ARN and only if `cross_account`.
    fn find(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        cross_account: bool,
    ) -> Result<&Record, KmsError> {
        let missing_key = |id: &uuid::Uuid, acct: &str| {
            KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(region, acct, id)
            ))
        };
        match parse_ref(key_id)? {
            KeyRef::Key { id, arn_scope } => {
                let (acct, reg) = arn_scope.unwrap_or((account.to_owned(), region.to_owned()));
                if reg != region || (acct != account && !cross_account) {
                    return Err(KmsError::NotFound(format!(
                        "Key '{}' does not exist",
                        key_arn(&reg, &acct, &id)
                    )));
                }
                match self.keys.get(&id) {
                    Some(r) if r.meta.account == acct && r.meta.region == reg => Ok(r),
                    _ => Err(missing_key(&id, &acct)),
                }
            }
            KeyRef::Alias {
                account: a,
                region: r,
                name,
            } => {
                let acct = a.unwrap_or_else(|| account.to_owned());
                let reg = r.unwrap_or_else(|| region.to_owned());
                let missing = || {
                    KmsError::NotFound(format!(
                        "Alias arn:aws:kms:{reg}:{acct}:{name} is not found."
                    ))
                };
                if reg != region || (acct != account && !cross_account) {
                    return Err(missing());
                }
                let alias = self
                    .aliases
                    .get(&(acct.clone(), reg.clone(), name.clone()))
                    .ok_or_else(missing)?;
                let id = uuid::Uuid::parse_str(&alias.target_key_id).map_err(|_| missing())?;
                self.keys.get(&id).ok_or_else(missing)
            }
        }
    }

    fn find_mut(
        &mut self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<&mut Record, KmsError> {
        let id = self
            .find(account, region, key_id, false)?
            .meta
            .key_id
            .clone();
        let id = uuid::Uuid::parse_str(&id).map_err(|_| not_found_id(key_id))?;
        self.keys.get_mut(&id).ok_or_else(|| not_found_id(key_id))
    }
}

impl Kms {
    /// Opens (creating) `<data_dir>/kms.db`. Aliases without an ARN passed to
    /// [`Kms::generate_data_key`] resolve in `default_region`.
    pub fn open(
        data_dir: &Path,
        root: Arc<dyn RootKey>,
        default_region: &str,
    ) -> Result<Self, KmsError> {
        let conn = db::open(Some(&data_dir.join("kms.db")))?;
        Self::from_conn(conn, root, default_region)
    }

    /// A KMS whose database lives in memory (tests, benchmarks).
    pub fn open_in_memory(root: Arc<dyn RootKey>, default_region: &str) -> Result<Self, KmsError> {
        Self::from_conn(db::open(None)?, root, default_region)
    }

    fn from_conn(
        conn: rusqlite::Connection,
        root: Arc<dyn RootKey>,
        default_region: &str,
    ) -> Result<Self, KmsError> {
        let mut keys = HashMap::new();
        for meta in db::load_keys(&conn)? {
            let id = uuid::Uuid::parse_str(&meta.key_id)
                .map_err(|e| KmsError::Storage(format!("corrupt key id: {e}")))?;
            let policy = Arc::new(parse_key_policy(&meta.policy).map_err(|e| {
                KmsError::Storage(format!("stored policy of {} is invalid: {e}", meta.arn))
            })?);
            keys.insert(id, Record { meta, policy });
        }
        let aliases = db::load_aliases(&conn)?
            .into_iter()
            .map(|a| ((a.account.clone(), a.region.clone(), a.name.clone()), a))
            .collect();
        Ok(Self {
            inner: Mutex::new(Inner {
                conn,
                keys,
                aliases,
            }),
            materials: RwLock::new(HashMap::new()),
            root,
            default_region: default_region.to_owned(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seal_material(&self, id: &uuid::Uuid, version: u32) -> Result<Vec<u8>, KmsError> {
        let material = Zeroizing::new(random::<32>()?);
        self.root
            .seal(&material_context(id, version), material.as_ref())
            .map_err(KmsError::Crypto)
    }

    /// The AES key of `id` at `version`, from the cache or unsealed from the database.
    fn material(&self, id: &uuid::Uuid, version: u32) -> Result<Arc<LessSafeKey>, KmsError> {
        if let Some(k) = self
            .materials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(*id, version))
        {
            return Ok(k.clone());
        }
        let sealed = {
            let inner = self.lock();
            db::sealed_version(&inner.conn, &id.to_string(), version)?
        }
        .ok_or(KmsError::InvalidCiphertext)?;
        let bytes = self
            .root
            .open(&material_context(id, version), &sealed)
            .map_err(KmsError::Crypto)?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| KmsError::Crypto("stored key material is not an AES-256 key".into()))?;
        let key = Arc::new(LessSafeKey::new(key));
        self.materials
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((*id, version), key.clone());
        Ok(key)
    }

    /// Creates a key (state `Enabled`, one backing-key version).
    pub fn create_key(
        &self,
        account: &str,
        region: &str,
        req: CreateKey,
        now: i64,
    ) -> Result<KeyMetadata, KmsError> {
        if let Some(u) = req.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
            return Err(KmsError::Validation(format!(
                "KeyUsage {u} is not supported by this Cairn server: only ENCRYPT_DECRYPT"
            )));
        }
        if let Some(s) = req
            .key_spec
            .as_deref()
            .filter(|s| *s != "SYMMETRIC_DEFAULT")
        {
            return Err(KmsError::Validation(format!(
                "KeySpec {s} is not supported by this Cairn server: only SYMMETRIC_DEFAULT"
            )));
        }
        if let Some(o) = req.origin.as_deref().filter(|o| *o != "AWS_KMS") {
            return Err(KmsError::Validation(format!(
                "Origin {o} is not supported by this Cairn server: only AWS_KMS"
            )));
        }
        if req.multi_region {
            return Err(KmsError::Validation(
                "multi-Region keys are not supported by this Cairn server".into(),
            ));
        }
        let description = req.description.unwrap_or_default();
        if description.chars().count() > 8192 {
            return Err(KmsError::Validation(
                "Description must be at most 8192 characters".into(),
            ));
        }
        if req.tags.len() > MAX_TAGS {
            return Err(KmsError::Tag(format!("a key has at most {MAX_TAGS} tags")));
        }
        for (k, v) in &req.tags {
            validate_tag(k, v)?;
        }
        let policy_text = req.policy.unwrap_or_else(|| default_key_policy(account));
        let policy = Arc::new(parse_key_policy(&policy_text)?);
        let id = uuid::Uuid::new_v4();
        let meta = KeyMetadata {
            key_id: id.to_string(),
            account: account.to_owned(),
            region: region.to_owned(),
            arn: key_arn(region, account, &id),
            description,
            creation_date: now,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            rotation_enabled: false,
            rotation_period_days: None,
            next_rotation: None,
            on_demand_rotation: None,
            current_version: 1,
            policy: policy_text,
            tags: req.tags.into_iter().collect(),
        };
        let sealed = self.seal_material(&id, 1)?;
        let mut inner = self.lock();
        db::insert_key(&mut inner.conn, &meta, &sealed, now)?;
        inner.keys.insert(
            id,
            Record {
                meta: meta.clone(),
                policy,
            },
        );
        Ok(meta)
    }

    /// Resolves `key_id` (key id, key ARN, alias name, alias ARN) as seen from `account` in
    /// `region`. Keys of other accounts are found only by ARN, and only when `cross_account`.
    pub fn describe_key(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        cross_account: bool,
    ) -> Result<KeyMetadata, KmsError> {
        Ok(self
            .lock()
            .find(account, region, key_id, cross_account)?
            .meta
            .clone())
    }

    /// The key's metadata and its parsed policy (for authorization).
    pub fn key_and_policy(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        cross_account: bool,
    ) -> Result<(KeyMetadata, Arc<Policy>), KmsError> {
        let inner = self.lock();
        let r = inner.find(account, region, key_id, cross_account)?;
        Ok((r.meta.clone(), r.policy.clone()))
    }

    /// The key that made `blob`, with its policy (for authorization before [`Kms::decrypt`]).
    pub fn blob_key(&self, blob: &[u8]) -> Result<(KeyMetadata, Arc<Policy>), KmsError> {
        let h = blob::Header::parse(blob).ok_or(KmsError::InvalidCiphertext)?;
        let inner = self.lock();
        let r = inner
            .keys
            .get(&h.key_id)
            .ok_or(KmsError::InvalidCiphertext)?;
        Ok((r.meta.clone(), r.policy.clone()))
    }

    /// Keys of `account` in `region`, ordered by key id.
    pub fn list_keys(&self, account: &str, region: &str) -> Vec<KeyMetadata> {
        let inner = self.lock();
        let mut v: Vec<KeyMetadata> = inner
            .keys
            .values()
            .filter(|r| r.meta.account == account && r.meta.region == region)
            .map(|r| r.meta.clone())
            .collect();
        v.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        v
    }

    /// Points a new alias at a key of the same account and region.
    pub fn create_alias(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
        target_key_id: &str,
        now: i64,
    ) -> Result<(), KmsError> {
        self.set_alias(
            account,
            region,
            alias_name,
            target_key_id,
            now,
            None::<NoCheck>,
        )
    }

    /// Points an existing alias at another key of the same account and region.
    pub fn update_alias(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
        target_key_id: &str,
        now: i64,
    ) -> Result<(), KmsError> {
        self.update_alias_checked(account, region, alias_name, target_key_id, now, |_, _| {
            Ok::<(), KmsError>(())
        })
    }

    /// [`Kms::update_alias`] once `check` accepted the key the alias points at now (AWS
    /// authorizes `kms:UpdateAlias` on the current key as well as on the new one). The check
    /// runs under the store's lock, so the alias cannot move between it and the update.
    pub fn update_alias_checked<E: From<KmsError>>(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
        target_key_id: &str,
        now: i64,
        check: impl FnOnce(&KeyMetadata, &Policy) -> Result<(), E>,
    ) -> Result<(), E> {
        self.set_alias(account, region, alias_name, target_key_id, now, Some(check))
    }

    fn set_alias<E: From<KmsError>>(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
        target_key_id: &str,
        now: i64,
        update: Option<impl FnOnce(&KeyMetadata, &Policy) -> Result<(), E>>,
    ) -> Result<(), E> {
        validate_alias_name(alias_name)?;
        if alias_name.starts_with("alias/aws/") {
            return Err(KmsError::NotAuthorized(format!(
                "the alias/aws/ prefix is reserved for AWS managed keys: {alias_name}"
            ))
            .into());
        }
        if target_key_id.starts_with("alias/") || target_key_id.contains(":alias/") {
            return Err(
                KmsError::Validation("Aliases must refer to keys. Not aliases".into()).into(),
            );
        }
        let mut inner = self.lock();
        let target = inner.find(account, region, target_key_id, false)?;
        target.meta.check_not_pending_deletion()?;
        let target_id = target.meta.key_id.clone();
        let k = (account.to_owned(), region.to_owned(), alias_name.to_owned());
        let alias = match (inner.aliases.get(&k), update) {
            (Some(_), None) => {
                return Err(KmsError::AlreadyExists(format!(
                    "An alias with the name arn:aws:kms:{region}:{account}:{alias_name} already exists"
                ))
                .into());
            }
            (None, Some(_)) => {
                return Err(KmsError::NotFound(format!(
                    "Alias arn:aws:kms:{region}:{account}:{alias_name} is not found."
                ))
                .into());
            }
            (Some(a), Some(check)) => {
                let current = inner.find(account, region, &a.target_key_id, false)?;
                check(&current.meta, &current.policy)?;
                Alias {
                    target_key_id: target_id,
                    last_updated_date: now,
                    ..a.clone()
                }
            }
            (None, None) => Alias {
                account: account.to_owned(),
                region: region.to_owned(),
                name: alias_name.to_owned(),
                target_key_id: target_id,
                creation_date: now,
                last_updated_date: now,
            },
        };
        db::put_alias(&inner.conn, &alias)?;
        inner.aliases.insert(k, alias);
        Ok(())
    }

    /// Deletes an alias (the key is not affected).
    pub fn delete_alias(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), KmsError> {
        self.delete_alias_checked(account, region, alias_name, |_, _| Ok::<(), KmsError>(()))
    }

    /// [`Kms::delete_alias`] once `check` accepted the key the alias points at (AWS
    /// authorizes `kms:DeleteAlias` on that key), under the store's lock.
    pub fn delete_alias_checked<E: From<KmsError>>(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
        check: impl FnOnce(&KeyMetadata, &Policy) -> Result<(), E>,
    ) -> Result<(), E> {
        validate_alias_name(alias_name)?;
        let mut inner = self.lock();
        let k = (account.to_owned(), region.to_owned(), alias_name.to_owned());
        let Some(a) = inner.aliases.get(&k) else {
            return Err(KmsError::NotFound(format!(
                "Alias arn:aws:kms:{region}:{account}:{alias_name} is not found."
            ))
            .into());
        };
        let current = inner.find(account, region, &a.target_key_id, false)?;
        check(&current.meta, &current.policy)?;
        db::delete_alias(&inner.conn, account, region, alias_name)?;
        inner.aliases.remove(&k);
        Ok(())
    }

    /// Aliases of `account` in `region` (of one key when `key_id` is given), by name.
    pub fn list_aliases(
        &self,
        account: &str,
        region: &str,
        key_id: Option<&str>,
    ) -> Result<Vec<Alias>, KmsError> {
        let inner = self.lock();
        let target = match key_id {
            Some(k) => Some(inner.find(account, region, k, false)?.meta.key_id.clone()),
            None => None,
        };
        Ok(inner
            .aliases
            .values()
            .filter(|a| a.account == account && a.region == region)
            .filter(|a| target.as_ref().is_none_or(|t| *t == a.target_key_id))
            .cloned()
            .collect())
    }

    fn encrypt_under(
        &self,
        meta: &KeyMetadata,
        plaintext: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, KmsError> {
        let id =
            uuid::Uuid::parse_str(&meta.key_id).map_err(|e| KmsError::Storage(e.to_string()))?;
        let key = self.material(&id, meta.current_version)?;
        let header = blob::Header {
            key_id: id,
            key_version: meta.current_version,
            nonce: random::<12>()?,
        }
        .encode();
        let mut aad = header.to_vec();
        aad.extend_from_slice(&blob::encode_context(ctx));
        let mut out = Vec::with_capacity(blob::HEADER_LEN + plaintext.len() + blob::TAG_LEN);
        out.extend_from_slice(&header);
        out.extend_from_slice(plaintext);
        let nonce: [u8; 12] = header[21..33]
            .try_into()
            .map_err(|_| KmsError::Crypto("nonce".into()))?;
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut out[blob::HEADER_LEN..],
            )
            .map_err(|_| KmsError::Crypto("AES-GCM seal failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Encrypts up to 4096 bytes under an enabled key, bound to `ctx`.
    pub fn encrypt(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        plaintext: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<Encrypted, KmsError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(KmsError::Validation(format!(
                "Plaintext must be 1 to {MAX_PLAINTEXT} bytes"
            )));
        }
        let meta = self.describe_key(account, region, key_id, true)?;
        meta.check_usable()?;
        Ok(Encrypted {
            ciphertext_blob: self.encrypt_under(&meta, plaintext, ctx)?,
            key_arn: meta.arn,
        })
    }

    /// Decrypts a blob made by [`Kms::encrypt`] or a data-key operation with the same `ctx`.
    /// Fails with [`KmsError::InvalidCiphertext`] if any byte or the context differs, and with
    /// the key's state error if it is not enabled.
    pub fn decrypt(
        &self,
        blob: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<Decrypted, KmsError> {
        let h = blob::Header::parse(blob).ok_or(KmsError::InvalidCiphertext)?;
        let meta = {
            let inner = self.lock();
            inner
                .keys
                .get(&h.key_id)
                .ok_or(KmsError::InvalidCiphertext)?
                .meta
                .clone()
        };
        meta.check_usable()?;
        if h.key_version == 0 || h.key_version > meta.current_version {
            return Err(KmsError::InvalidCiphertext);
        }
        let key = self.material(&h.key_id, h.key_version)?;
        let mut aad = blob[..blob::HEADER_LEN].to_vec();
        aad.extend_from_slice(&blob::encode_context(ctx));
        let mut buf = Zeroizing::new(blob[blob::HEADER_LEN..].to_vec());
        let n = key
            .open_in_place(
                Nonce::assume_unique_for_key(h.nonce),
                Aad::from(&aad),
                buf.as_mut_slice(),
            )
            .map_err(|_| KmsError::InvalidCiphertext)?
            .len();
        buf.truncate(n);
        Ok(Decrypted {
            plaintext: buf,
            key_arn: meta.arn,
        })
    }

    /// A fresh data key of `n` bytes (1–1024) under an enabled key in `region`: the plaintext
    /// and the blob. Keys of other accounts are found by ARN.
    pub fn generate_data_key_in(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        n: usize,
        ctx: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<Vec<u8>>, Encrypted), KmsError> {
        if !(1..=1024).contains(&n) {
            return Err(KmsError::Validation(
                "NumberOfBytes must be between 1 and 1024".into(),
            ));
        }
        let meta = self.describe_key(account, region, key_id, true)?;
        meta.check_usable()?;
        let mut plain = Zeroizing::new(vec![0u8; n]);
        SystemRandom::new()
            .fill(plain.as_mut_slice())
            .map_err(|_| KmsError::Crypto("system random generator failed".into()))?;
        let blob = self.encrypt_under(&meta, &plain, ctx)?;
        Ok((
            plain,
            Encrypted {
                ciphertext_blob: blob,
                key_arn: meta.arn,
            },
        ))
    }

    /// A fresh 256-bit data key under `key_id` (id, key ARN, alias name or alias ARN). Names
    /// without an ARN resolve in `account` and the default region; an ARN names its own.
    pub fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        ctx: &BTreeMap<String, String>,
    ) -> Result<DataKey, KmsError> {
        let region = match key_id.strip_prefix("arn:") {
            Some(rest) => rest.split(':').nth(2).unwrap_or("").to_owned(),
            None => self.default_region.clone(),
        };
        let (plain, enc) = self.generate_data_key_in(account, &region, key_id, 32, ctx)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(DataKey {
            plaintext: key,
            ciphertext_blob: enc.ciphertext_blob,
            key_arn: enc.key_arn,
        })
    }

    /// Unwraps a 256-bit data key made by [`Kms::generate_data_key`] (fails, like
    /// [`Kms::decrypt`], if the key is disabled or pending deletion, or the context differs).
    pub fn decrypt_data_key(
        &self,
        blob: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let d = self.decrypt(blob, ctx)?;
        if d.plaintext.len() != 32 {
            return Err(KmsError::InvalidCiphertext);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&d.plaintext);
        Ok(key)
    }

    /// Applies `f` to the key's metadata, writes it through and returns it.
    fn update(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        f: impl FnOnce(&mut KeyMetadata) -> Result<(), KmsError>,
    ) -> Result<KeyMetadata, KmsError> {
        self.update_with_policy(account, region, key_id, None, f)
    }

    /// [`Kms::update`], replacing the parsed policy too when `policy` is given (under the same
    /// lock, so the two never disagree).
    fn update_with_policy(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        policy: Option<Arc<Policy>>,
        f: impl FnOnce(&mut KeyMetadata) -> Result<(), KmsError>,
    ) -> Result<KeyMetadata, KmsError> {
        let mut inner = self.lock();
        let rec = inner.find_mut(account, region, key_id)?;
        let mut meta = rec.meta.clone();
        f(&mut meta)?;
        // Write through, then apply in memory: memory never runs ahead of the database.
        db::put_key(&inner.conn, &meta)?;
        let rec = inner.find_mut(account, region, key_id)?;
        rec.meta = meta.clone();
        if let Some(policy) = policy {
            rec.policy = policy;
        }
        Ok(meta)
    }

    /// Disabled → Enabled (Enabled stays Enabled).
    pub fn enable_key(&self, account: &str, region: &str, key_id: &str) -> Result<(), KmsError> {
        self.set_state(account, region, key_id, KeyState::Enabled)
    }

    /// Enabled → Disabled (Disabled stays Disabled).
    pub fn disable_key(&self, account: &str, region: &str, key_id: &str) -> Result<(), KmsError> {
        self.set_state(account, region, key_id, KeyState::Disabled)
    }

    /// Enabled ↔ Disabled; a key pending deletion keeps its state.
    fn set_state(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        state: KeyState,
    ) -> Result<(), KmsError> {
        self.update(account, region, key_id, |m| {
            m.check_not_pending_deletion()?;
            m.state = state;
            Ok(())
        })
        .map(drop)
    }

    /// Enabled or Disabled → PendingDeletion, deleted by [`Kms::tick`] after `window_days`
    /// (7–30, default 30).
    pub fn schedule_key_deletion(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        window_days: Option<u32>,
        now: i64,
    ) -> Result<KeyMetadata, KmsError> {
        let days = days_in_range("PendingWindowInDays", window_days, PENDING_WINDOW_DAYS)?;
        self.update(account, region, key_id, |m| {
            m.check_not_pending_deletion()?;
            m.state = KeyState::PendingDeletion;
            m.pending_window_days = Some(days);
            m.deletion_date = Some(now + i64::from(days) * DAY);
            Ok(())
        })
    }

    /// PendingDeletion → Disabled (AWS leaves a restored key disabled).
    pub fn cancel_key_deletion(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<KeyMetadata, KmsError> {
        self.update(account, region, key_id, |m| {
            if m.state != KeyState::PendingDeletion {
                return Err(m.invalid_state());
            }
            m.state = KeyState::Disabled;
            m.pending_window_days = None;
            m.deletion_date = None;
            Ok(())
        })
    }

    /// Turns automatic rotation on (period 90–2560 days, default 365); the next rotation is
    /// one period from `now`.
    pub fn enable_key_rotation(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        period_days: Option<u32>,
        now: i64,
    ) -> Result<(), KmsError> {
        let days = days_in_range("RotationPeriodInDays", period_days, ROTATION_PERIOD_DAYS)?;
        self.update(account, region, key_id, |m| {
            m.check_usable()?;
            m.rotation_enabled = true;
            m.rotation_period_days = Some(days);
            m.next_rotation = Some(now + i64::from(days) * DAY);
            Ok(())
        })
        .map(drop)
    }

    /// Turns automatic rotation off.
    pub fn disable_key_rotation(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<(), KmsError> {
        self.update(account, region, key_id, |m| {
            m.check_usable()?;
            m.rotation_enabled = false;
            m.next_rotation = None;
            Ok(())
        })
        .map(drop)
    }

    /// The key's rotation settings (keys of other accounts by ARN).
    pub fn rotation_status(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<RotationStatus, KmsError> {
        let m = self.describe_key(account, region, key_id, true)?;
        Ok(RotationStatus {
            enabled: m.rotation_enabled,
            period_days: m.rotation_period_days.filter(|_| m.rotation_enabled),
            next_rotation: m.next_rotation,
            on_demand_rotation: m.on_demand_rotation,
            key_arn: m.arn,
        })
    }

    fn add_version(
        &self,
        inner: &mut Inner,
        id: &uuid::Uuid,
        now: i64,
        on_demand: bool,
    ) -> Result<String, KmsError> {
        let rec = inner
            .keys
            .get(id)
            .ok_or_else(|| not_found_id(&id.to_string()))?;
        let mut meta = rec.meta.clone();
        meta.current_version += 1;
        if on_demand {
            meta.on_demand_rotation = Some(now);
        } else if let (Some(next), Some(days)) = (meta.next_rotation, meta.rotation_period_days) {
            let period = i64::from(days) * DAY;
            meta.next_rotation = Some(if next + period > now {
                next + period
            } else {
                now + period
            });
        }
        let sealed = self.seal_material(id, meta.current_version)?;
        db::add_version(&mut inner.conn, &meta, &sealed, now)?;
        let arn = meta.arn.clone();
        if let Some(rec) = inner.keys.get_mut(id) {
            rec.meta = meta;
        }
        Ok(arn)
    }

    /// Rotates an enabled key now (a new backing-key version; the schedule is unchanged).
    pub fn rotate_key_on_demand(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        now: i64,
    ) -> Result<String, KmsError> {
        let mut inner = self.lock();
        let rec = inner.find(account, region, key_id, false)?;
        rec.meta.check_usable()?;
        let id = uuid::Uuid::parse_str(&rec.meta.key_id)
            .map_err(|e| KmsError::Storage(e.to_string()))?;
        self.add_version(&mut inner, &id, now, true)
    }

    /// The key policy document.
    pub fn get_key_policy(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<String, KmsError> {
        Ok(self.describe_key(account, region, key_id, true)?.policy)
    }

    /// Replaces the key policy (validated first).
    pub fn put_key_policy(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        document: &str,
    ) -> Result<(), KmsError> {
        let policy = Arc::new(parse_key_policy(document)?);
        self.update_with_policy(account, region, key_id, Some(policy), |m| {
            m.policy = document.to_owned();
            Ok(())
        })
        .map(drop)
    }

    /// Adds or replaces tags.
    pub fn tag_resource(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), KmsError> {
        for (k, v) in tags {
            validate_tag(k, v)?;
        }
        self.update(account, region, key_id, |m| {
            m.check_not_pending_deletion()?;
            for (k, v) in tags {
                m.tags.insert(k.clone(), v.clone());
            }
            if m.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag(format!("a key has at most {MAX_TAGS} tags")));
            }
            Ok(())
        })
        .map(drop)
    }

    /// Removes tags by key.
    pub fn untag_resource(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        keys: &[String],
    ) -> Result<(), KmsError> {
        self.update(account, region, key_id, |m| {
            m.check_not_pending_deletion()?;
            for k in keys {
                m.tags.remove(k);
            }
            Ok(())
        })
        .map(drop)
    }

    /// Applies what is due at `now`: deletes keys whose waiting period has ended (with their
    /// material and aliases) and rotates enabled keys whose rotation date has come.
    pub fn tick(&self, now: i64) -> Result<TickReport, KmsError> {
        let mut report = TickReport::default();
        let mut inner = self.lock();
        let due_delete: Vec<uuid::Uuid> = inner
            .keys
            .iter()
            .filter(|(_, r)| {
                r.meta.state == KeyState::PendingDeletion
                    && r.meta.deletion_date.is_some_and(|d| d <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due_delete {
            db::delete_key(&mut inner.conn, &id.to_string())?;
            if let Some(r) = inner.keys.remove(&id) {
                report.deleted.push(r.meta.arn);
            }
            let target = id.to_string();
            inner.aliases.retain(|_, a| a.target_key_id != target);
            self.materials
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(k, _), _| *k != id);
        }
        let due_rotate: Vec<uuid::Uuid> = inner
            .keys
            .iter()
            .filter(|(_, r)| {
                r.meta.state == KeyState::Enabled
                    && r.meta.rotation_enabled
                    && r.meta.next_rotation.is_some_and(|d| d <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due_rotate {
            report
                .rotated
                .push(self.add_version(&mut inner, &id, now, false)?);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
