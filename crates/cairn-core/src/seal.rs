//! The one AES-256-GCM sealing routine of Cairn's data at rest.
//!
//! A sealed value is `nonce (12 random bytes) || ciphertext || tag (16)`, with caller-chosen
//! associated data binding it to its place (a sequence number, a column label, a row's
//! identity), so it cannot be moved elsewhere without failing authentication. Each user adds
//! its own framing around that and keeps its on-disk format:
//!
//! - journal frames (`cairn-journal`, format version 2): the bare sealed value, under a
//!   per-segment key, with the record's sequence number as associated data;
//! - event history records (`cairn-history`): a tag byte `0xA5` in front;
//! - monitor messages (`cairn-monitor`): `enc1:` and base64 of the sealed value;
//! - catalog secrets ([`crate::secrets::MasterKey::seal`]): a version byte `1` in front.
//!
//! Nonces are always random, never derived from the associated data: after a journal's
//! torn-tail recovery a sequence number is used again.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Length of the random nonce in front of a sealed value.
pub const NONCE_LEN: usize = aws_lc_rs::aead::NONCE_LEN;
/// Length of the authentication tag at the end of a sealed value.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The system random generator (or the cipher) failed while sealing.
    #[error("sealing failed: random generator or cipher error")]
    Seal,
    /// Authentication failed: wrong key, other associated data, altered or truncated value.
    #[error("sealed value fails authentication")]
    Open,
}

/// An AES-256-GCM key. Cheap to clone (shared); `Debug` shows nothing.
#[derive(Clone)]
pub struct SealKey {
    key: Arc<LessSafeKey>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    /// A key from 32 secret bytes.
    ///
    /// # Errors
    /// Only if the crypto library refuses a 32-byte key, which it does not.
    pub fn new(secret: &[u8; 32]) -> Result<SealKey, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, secret).map_err(|_| SealError::Seal)?;
        Ok(SealKey {
            key: Arc::new(LessSafeKey::new(key)),
        })
    }

    /// Appends `nonce || ciphertext || tag` of `plain` to `out`, binding `aad`.
    ///
    /// # Errors
    /// [`SealError::Seal`] if the random generator fails; `out` is then left as it was.
    pub fn seal_into(&self, aad: &[u8], plain: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Seal)?;
        let before = out.len();
        out.reserve(OVERHEAD + plain.len());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plain);
        match self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start..],
        ) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(before);
                Err(SealError::Seal)
            }
        }
    }

    /// `nonce || ciphertext || tag` of `plain`, binding `aad`.
    ///
    /// # Errors
    /// As [`SealKey::seal_into`].
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        self.seal_into(aad, plain, &mut out)?;
        Ok(out)
    }

    /// The plaintext of a value made by [`SealKey::seal`] with the same `aad`, decrypted in
    /// the buffer it was given (no copy).
    ///
    /// # Errors
    /// [`SealError::Open`] for a wrong key, other `aad`, or an altered or short value.
    pub fn open_vec(&self, aad: &[u8], mut sealed: Vec<u8>) -> Result<Vec<u8>, SealError> {
        if sealed.len() < OVERHEAD {
            return Err(SealError::Open);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let len = self
            .key
            .open_within(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
                NONCE_LEN..,
            )
            .map_err(|_| SealError::Open)?
            .len();
        sealed.truncate(len);
        Ok(sealed)
    }

    /// The plaintext of a value made by [`SealKey::seal`] with the same `aad`.
    ///
    /// # Errors
    /// As [`SealKey::open_vec`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.open_vec(aad, sealed.to_vec())
    }
}

/// Seals `plain` under `key`, binding `aad`: `nonce || ciphertext || tag`.
///
/// # Errors
/// As [`SealKey::seal_into`].
pub fn seal(key: &SealKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
    key.seal(aad, plain)
}

/// Opens a value made by [`seal`] with the same key and `aad`.
///
/// # Errors
/// As [`SealKey::open_vec`].
pub fn open(key: &SealKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    key.open(aad, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_aad_and_key_and_hides_the_text() {
        let k = SealKey::new(&[1; 32]).unwrap();
        let s = seal(&k, b"seq 7", b"codec bytes alice").unwrap();
        assert_eq!(s.len(), b"codec bytes alice".len() + OVERHEAD);
        assert!(!s.windows(5).any(|w| w == b"alice"));
        assert_eq!(open(&k, b"seq 7", &s).unwrap(), b"codec bytes alice");
        assert_eq!(open(&k, b"seq 8", &s), Err(SealError::Open));
        let other = SealKey::new(&[2; 32]).unwrap();
        assert_eq!(open(&other, b"seq 7", &s), Err(SealError::Open));
        let mut bad = s.clone();
        bad[NONCE_LEN] ^= 1;
        assert_eq!(open(&k, b"seq 7", &bad), Err(SealError::Open));
        assert_eq!(open(&k, b"seq 7", &s[..OVERHEAD - 1]), Err(SealError::Open));
        assert_ne!(
            s,
            seal(&k, b"seq 7", b"codec bytes alice").unwrap(),
            "nonces repeat"
        );
        assert_eq!(format!("{k:?}"), "SealKey(<redacted>)");
    }

    #[test]
    fn seal_into_appends_after_a_prefix() {
        let k = SealKey::new(&[1; 32]).unwrap();
        let mut out = vec![0xA5];
        k.seal_into(b"", b"x", &mut out).unwrap();
        assert_eq!(out.len(), 1 + OVERHEAD + 1);
        assert_eq!(k.open(b"", &out[1..]).unwrap(), b"x");
    }

    /// Made by an independent AES-256-GCM (key `[1; 32]`, nonce 01..0c, aad = 7 as `i64` LE):
    /// the bytes after the history tag of `cairn-history`'s fixed vector.
    #[test]
    fn a_fixed_test_vector_opens() {
        let s = hex::decode(
            "0102030405060708090a0b0c84892cfc3ff8801af838b6ba4336d0b5618d937fa1606598aa155d",
        )
        .unwrap();
        let k = SealKey::new(&[1; 32]).unwrap();
        assert_eq!(k.open(&7i64.to_le_bytes(), &s).unwrap(), b"codec bytes");
    }
}
