//! Encryption at rest: per-object data keys, wrapped by the SSE-S3 root (a [`Sealer`]) or by
//! a [`KeyService`] (SSE-KMS).
//!
//! Body file format (version 1): `b"CVB1" || nonce (12) || AES-256-GCM(ciphertext || tag)`,
//! with associated data `cairn-vault:v1:<blob id>`, so a body file cannot be swapped for
//! another object's file without failing authentication. The sealed part is exactly
//! `cairn_core::seal`'s `nonce || ciphertext || tag`, so the vault uses that one routine; the
//! tests below open bytes written by the vault's earlier, private copy of it.

use std::collections::BTreeMap;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cairn_core::seal::SealKey;
use zeroize::Zeroizing;

/// Errors of a [`KeyService`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyServiceError {
    /// The key does not exist.
    #[error("kms key not found: {0}")]
    NotFound(String),
    /// The key is disabled or pending deletion.
    #[error("kms key disabled: {0}")]
    Disabled(String),
    /// The blob was not made by this key service, or the context differs.
    #[error("invalid kms ciphertext: {0}")]
    InvalidCiphertext(String),
    /// Anything else.
    #[error("kms failure: {0}")]
    Other(String),
}

/// The KMS side of SSE-KMS (Cairn's built-in KMS implements it in the server).
pub trait KeyService: Send + Sync + std::fmt::Debug {
    /// A fresh 256-bit data key under `key_id` (id, ARN, alias): (plaintext, ciphertext blob, key ARN).
    #[allow(clippy::type_complexity)]
    fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>, String), KeyServiceError>;
    /// Unwraps a blob made by `generate_data_key` (fails if the key is disabled or pending deletion).
    fn decrypt_data_key(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<[u8; 32]>, KeyServiceError>;
}

/// The SSE-S3 root: seals data keys with associated data (the server's `MasterKey`).
pub trait Sealer: Send + Sync + std::fmt::Debug {
    /// Encrypts `plaintext`, binding `context`.
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String>;
    /// Decrypts what [`Sealer::seal`] made with the same `context`.
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// A [`Sealer`] over a 32-byte AES-256-GCM key (tests and tools; the server passes its
/// master key instead).
pub struct AesSealer {
    key: SealKey,
}

impl std::fmt::Debug for AesSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesSealer(<redacted>)")
    }
}

impl AesSealer {
    /// A sealer from 32 key bytes.
    pub fn new(key: &[u8; 32]) -> Result<Self, String> {
        Ok(Self {
            key: data_key(key).map_err(str::to_owned)?,
        })
    }
}

impl Sealer for AesSealer {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        seal_with(&self.key, context.as_bytes(), plaintext).map_err(|e| e.to_owned())
    }
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        open_with(&self.key, context.as_bytes(), sealed)
            .map(Zeroizing::new)
            .map_err(|e| e.to_owned())
    }
}

/// `nonce || ciphertext || tag` ([`cairn_core::seal`]).
fn seal_with(key: &SealKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, &'static str> {
    key.seal(aad, plaintext).map_err(|_| "encryption failed")
}

fn open_with(key: &SealKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
    key.open(aad, sealed).map_err(|_| "authentication failed")
}

/// Magic of an encrypted body file.
pub(crate) const BODY_MAGIC: &[u8; 4] = b"CVB1";

/// A fresh random data key.
pub(crate) fn new_data_key() -> Result<Zeroizing<[u8; 32]>, &'static str> {
    let mut k = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(k.as_mut())
        .map_err(|_| "random generator failed")?;
    Ok(k)
}

fn body_aad(blob_id: &str) -> Vec<u8> {
    format!("cairn-vault:v1:{blob_id}").into_bytes()
}

fn data_key(dek: &[u8; 32]) -> Result<SealKey, &'static str> {
    SealKey::new(dek).map_err(|_| "bad data key")
}

/// Encrypts a body under `dek` for the blob `blob_id`.
pub(crate) fn encrypt_body(
    dek: &[u8; 32],
    blob_id: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let sealed = seal_with(&data_key(dek)?, &body_aad(blob_id), plaintext)?;
    let mut out = Vec::with_capacity(4 + sealed.len());
    out.extend_from_slice(BODY_MAGIC);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a body file's bytes.
pub(crate) fn decrypt_body(
    dek: &[u8; 32],
    blob_id: &str,
    file: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let rest = file
        .strip_prefix(BODY_MAGIC)
        .ok_or("not a vault body file")?;
    open_with(&data_key(dek)?, &body_aad(blob_id), rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_binds_blob_id() {
        let dek = new_data_key().unwrap();
        let ct = encrypt_body(&dek, "b1", b"hello world").unwrap();
        assert!(!ct.windows(11).any(|w| w == b"hello world"));
        assert_eq!(decrypt_body(&dek, "b1", &ct).unwrap(), b"hello world");
        assert!(decrypt_body(&dek, "b2", &ct).is_err());
        let other = new_data_key().unwrap();
        assert!(decrypt_body(&other, "b1", &ct).is_err());
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Written by the vault's own AES-GCM code before it moved onto `cairn_core::seal`: a
    /// body file (data key `[9; 32]`, blob `blob-1`) and a data key sealed by `AesSealer`
    /// (`[3; 32]`, context `ctx`). Existing vaults must keep opening.
    #[test]
    fn bytes_written_by_the_old_code_still_open() {
        let body = unhex(
            "4356423157b1cb5ae280b30733e66e46f9b0c8a0f127b41baa5daf742afcb42574361311517a5c52",
        );
        assert_eq!(
            decrypt_body(&[9u8; 32], "blob-1", &body).unwrap(),
            b"old body"
        );
        let sealed = unhex(
            "5a03f22d2362649849692d468c50b9dcbb655d70902eff36594d5e55a4a4bd13be44cb3b57252f3e",
        );
        let s = AesSealer::new(&[3u8; 32]).unwrap();
        assert_eq!(s.open("ctx", &sealed).unwrap().as_slice(), b"key material");
    }

    #[test]
    fn aes_sealer_binds_context() {
        let s = AesSealer::new(&[3u8; 32]).unwrap();
        let sealed = s.seal("ctx", b"key material").unwrap();
        assert_eq!(s.open("ctx", &sealed).unwrap().as_slice(), b"key material");
        assert!(s.open("other", &sealed).is_err());
    }
}
