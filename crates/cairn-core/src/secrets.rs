//! The master key and envelope encryption of secrets at rest.
//!
//! Secrets (credential secret keys, signing keys) are stored in the catalog sealed with
//! AES-256-GCM under a master key that never lives in the catalog file: it comes from
//! `CAIRN_MASTER_KEY` (base64 of 32 bytes) or from `master.key` in the data directory,
//! created with mode 0600 on first start.
//!
//! Sealed format: `version (1 byte = 1) || nonce (12 bytes) || ciphertext+tag`. The caller's
//! `context` (e.g. `credential:AKIA...`) is bound as associated data, so a sealed value
//! cannot be moved to another row.
//!
//! Bulk data at rest (journal frames, the event history index, monitor log events) is
//! encrypted under keys derived from the master key with HKDF-SHA256, one per purpose
//! ([`MasterKey::derive`], [`purpose`]), so no subsystem holds the master key itself and a
//! key of one purpose says nothing about another.

use std::fs;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use zeroize::Zeroizing;

use crate::seal::SealKey;

/// Why the master key or a sealed value could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// `CAIRN_MASTER_KEY` or `master.key` is malformed.
    #[error("master key is invalid: {0}")]
    BadMasterKey(String),
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// Path of the key file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A sealed value failed authentication (wrong key, or tampered).
    #[error("sealed secret `{0}` cannot be opened: wrong master key or tampered data")]
    Open(String),
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
}

/// The master key.
pub struct MasterKey {
    key: SealKey,
    /// HKDF pseudo-random key for [`MasterKey::derive`].
    prk: aws_lc_rs::hkdf::Prk,
}

/// Purposes of keys derived from the master key (the HKDF `info`). Never change a value: data
/// sealed under it would become unreadable.
pub mod purpose {
    /// Journal frames (`cairn_journal::JournalKey`).
    pub const JOURNAL: &str = "cairn/journal/v1";
    /// Records in the event history index (AES-256-GCM).
    pub const HISTORY_RECORDS: &str = "cairn/history/records/v1";
    /// Keyed hashes of lookup-attribute values in the event history index (HMAC-SHA256).
    pub const HISTORY_INDEX: &str = "cairn/history/index/v1";
    /// Log events and metric data stored by the monitor (AES-256-GCM).
    pub const MONITOR: &str = "cairn/monitor/v1";
    /// Messages in SQS queues (AES-256-GCM).
    pub const SQS: &str = "cairn/sqs/messages/v1";
}

struct Len32;

impl aws_lc_rs::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

const KEY_FILE: &str = "master.key";

impl MasterKey {
    /// Loads the key from `CAIRN_MASTER_KEY` (if `env_value` is given) or from
    /// `<data_dir>/master.key`, creating the file (0600) with a fresh key when absent.
    pub fn load_or_create(data_dir: &Path, env_value: Option<&str>) -> Result<Self, SecretError> {
        if let Some(text) = env_value {
            return Self::from_base64(text.trim());
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                SystemRandom::new()
                    .fill(bytes.as_mut())
                    .map_err(|_| SecretError::Random)?;
                let text = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
                write_private_file(&path, text.as_bytes()).map_err(io)?;
                Self::from_bytes(bytes.as_ref())
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Loads the key from `CAIRN_MASTER_KEY` (if `env_value` is given) or from
    /// `<data_dir>/master.key`, never creating one: for readers of an existing data
    /// directory, where a new key could open nothing.
    pub fn load_existing(data_dir: &Path, env_value: Option<&str>) -> Result<Self, SecretError> {
        if let Some(text) = env_value {
            return Self::from_base64(text.trim());
        }
        let path = data_dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(text.trim()),
            Err(source) => Err(SecretError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| SecretError::BadMasterKey("not base64".into()))?,
        );
        Self::from_bytes(&bytes)
    }

    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != 32 {
            return Err(SecretError::BadMasterKey(format!(
                "expected 32 bytes, got {}",
                bytes.len()
            )));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(bytes);
        let key = SealKey::new(&secret)
            .map_err(|_| SecretError::BadMasterKey("rejected by AES-256-GCM".into()))?;
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"cairn-master-key")
            .extract(bytes);
        Ok(Self { key, prk })
    }

    /// A 32-byte key for `purpose` (one of [`purpose`]), derived with HKDF-SHA256.
    pub fn derive(&self, purpose: &str) -> Result<Zeroizing<[u8; 32]>, SecretError> {
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose.as_bytes()];
        self.prk
            .expand(&info, Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .map_err(|_| SecretError::BadMasterKey("key derivation failed".into()))?;
        Ok(out)
    }

    /// Encrypts `plaintext`, binding `context` as associated data:
    /// `1 || nonce || ciphertext || tag` ([`crate::seal`] behind a version byte).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut out = vec![1u8];
        self.key
            .seal_into(context.as_bytes(), plaintext, &mut out)
            .map_err(|_| SecretError::Random)?;
        Ok(out)
    }

    /// Decrypts a value made by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        match sealed.split_first() {
            Some((1, rest)) => self
                .key
                .open_vec(context.as_bytes(), rest.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| SecretError::Open(context.to_owned())),
            _ => Err(SecretError::Open(context.to_owned())),
        }
    }
}

/// Creates `path` with mode 0600 (fails if it exists) and writes `bytes`, synced.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Fills a buffer with secure random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| SecretError::Random)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = k.seal("a", b"secret").unwrap();
        assert_eq!(k.open("a", &sealed).unwrap().as_slice(), b"secret");
        assert!(k.open("b", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(k.open("a", &tampered).is_err());
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("a", &sealed).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_master_key_and_are_stable() {
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let j = k.derive(purpose::JOURNAL).unwrap();
        assert_eq!(*j, *k.derive(purpose::JOURNAL).unwrap());
        assert_ne!(*j, *k.derive(purpose::HISTORY_RECORDS).unwrap());
        assert_ne!(*j, [7u8; 32]);
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert_ne!(*j, *other.derive(purpose::JOURNAL).unwrap());
        assert_eq!(
            *k.derive(purpose::JOURNAL).unwrap(),
            *MasterKey::from_bytes(&[7u8; 32])
                .unwrap()
                .derive(purpose::JOURNAL)
                .unwrap()
        );
    }

    #[test]
    fn load_existing_never_creates_a_key() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::load_existing(dir.path(), None).is_err());
        assert!(!dir.path().join(KEY_FILE).exists());
        let made = MasterKey::load_or_create(dir.path(), None).unwrap();
        let loaded = MasterKey::load_existing(dir.path(), None).unwrap();
        assert_eq!(
            *made.derive(purpose::JOURNAL).unwrap(),
            *loaded.derive(purpose::JOURNAL).unwrap()
        );
    }

    #[test]
    fn bad_master_keys() {
        assert!(MasterKey::from_bytes(&[0u8; 16]).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::load_or_create(dir.path(), Some("%%%")).is_err());
    }

    /// A secret sealed in the catalog format (master key `[7; 32]`, context
    /// `credential:AKIA`, nonce 01..0c): existing catalogs must stay readable.
    #[test]
    fn a_fixed_test_vector_still_opens() {
        let sealed =
            hex::decode("010102030405060708090a0b0cc8198bec0f9e775dac6dc743a88dd9acbfea00821589")
                .unwrap();
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(
            k.open("credential:AKIA", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(k.open("credential:AKIB", &sealed).is_err());
    }
}
