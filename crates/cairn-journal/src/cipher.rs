//! Encryption of record payloads at rest (format version 2, see the crate docs).
//!
//! A [`JournalKey`] is 32 secret bytes supplied by the embedder (Cairn derives them from its
//! master key). Each segment gets its own AES-256-GCM key, derived with HKDF-SHA256 from the
//! journal key and the segment's base sequence number, so the number of encryptions under
//! one key is bounded by a segment's size and random 96-bit nonces stay far below the
//! collision bound (NIST SP 800-38D allows 2^32 random-nonce invocations per key). A frame's
//! sequence number is bound as associated data, so a sealed payload cannot be moved to
//! another position or segment without failing authentication. Nonces are random, never
//! derived from the sequence number: after a torn-tail recovery a sequence number is reused.

use std::sync::Arc;

use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use cairn_core::seal::SealKey;

/// Bytes a sealed payload adds to the plaintext: the nonce and the GCM tag.
pub const SEALED_OVERHEAD: usize = cairn_core::seal::OVERHEAD;
/// Length of the key-check value stored in a version-2 segment header.
pub(crate) const CHECK_LEN: usize = 4;

const INFO_SEGMENT: &[u8] = b"cairn-journal/v2/segment";
const INFO_CHECK: &[u8] = b"cairn-journal/v2/key-check";

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The secret that encrypts a journal's payloads. Cheap to clone (shared).
#[derive(Clone)]
pub struct JournalKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    prk: Prk,
    check: [u8; CHECK_LEN],
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(<redacted>)")
    }
}

/// Two keys are equal when they encrypt alike (compared by their public key-check value and
/// the key of segment 0, never by secret bytes directly).
impl PartialEq for JournalKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.check == other.inner.check
                && self.derive(INFO_CHECK, &[0xFF]) == other.derive(INFO_CHECK, &[0xFF]))
    }
}

impl Eq for JournalKey {}

impl JournalKey {
    /// A key from 32 secret bytes (use a key-derivation function, not a password).
    #[must_use]
    pub fn from_bytes(secret: &[u8; 32]) -> JournalKey {
        let prk = Salt::new(HKDF_SHA256, b"cairn-journal").extract(secret);
        let mut inner = KeyInner {
            prk,
            check: [0; CHECK_LEN],
        };
        let mut check = [0u8; CHECK_LEN];
        fill(&inner.prk, &[INFO_CHECK], &mut check);
        inner.check = check;
        JournalKey {
            inner: Arc::new(inner),
        }
    }

    /// The public key-check value written into version-2 segment headers: lets `open` tell a
    /// wrong key from corruption before reading any record.
    pub(crate) fn check(&self) -> [u8; CHECK_LEN] {
        self.inner.check
    }

    fn derive(&self, info: &[u8], extra: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        fill(&self.inner.prk, &[info, extra], &mut out);
        out
    }

    /// The cipher of the segment whose first sequence number is `base`.
    pub(crate) fn segment(&self, base: u64) -> SegmentCipher {
        let mut bytes = self.derive(INFO_SEGMENT, &base.to_le_bytes());
        let key = SealKey::new(&bytes).ok();
        bytes.fill(0);
        SegmentCipher { key }
    }
}

fn fill(prk: &Prk, info: &[&[u8]], out: &mut [u8]) {
    // Expanding at most 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
    if let Ok(okm) = prk.expand(info, Len(out.len())) {
        let _ = okm.fill(out);
    }
}

/// Why a payload could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherError {
    /// The system random generator failed.
    Random,
    /// Authentication failed: wrong key, moved or altered payload.
    Open,
}

/// AES-256-GCM ([`cairn_core::seal`]) under one segment's key.
pub(crate) struct SegmentCipher {
    /// `None` only if the crypto library rejected a 32-byte key, which it never does; every
    /// operation then fails instead of panicking.
    key: Option<SealKey>,
}

impl SegmentCipher {
    /// Appends `nonce || ciphertext || tag` of `plain` to `out`, binding `seq`.
    pub(crate) fn seal_into(
        &self,
        seq: u64,
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        let key = self.key.as_ref().ok_or(CipherError::Random)?;
        key.seal_into(&seq.to_le_bytes(), plain, out)
            .map_err(|_| CipherError::Random)
    }

    /// Opens a payload made by [`SegmentCipher::seal_into`] for `seq`, in place; returns the
    /// plaintext (the buffer is truncated to it).
    pub(crate) fn open(&self, seq: u64, sealed: Vec<u8>) -> Result<Vec<u8>, CipherError> {
        let key = self.key.as_ref().ok_or(CipherError::Open)?;
        key.open_vec(&seq.to_le_bytes(), sealed)
            .map_err(|_| CipherError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::seal::NONCE_LEN;

    #[test]
    fn seal_open_round_trip_binds_seq_segment_and_key() {
        let k = JournalKey::from_bytes(&[3u8; 32]);
        let c = k.segment(100);
        let mut sealed = Vec::new();
        c.seal_into(105, b"secret event", &mut sealed).unwrap();
        assert_eq!(sealed.len(), b"secret event".len() + SEALED_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(c.open(105, sealed.clone()).unwrap(), b"secret event");
        // Another position, another segment, another key: all refused.
        assert_eq!(c.open(106, sealed.clone()), Err(CipherError::Open));
        assert_eq!(
            k.segment(0).open(105, sealed.clone()),
            Err(CipherError::Open)
        );
        let other = JournalKey::from_bytes(&[4u8; 32]);
        assert_eq!(
            other.segment(100).open(105, sealed.clone()),
            Err(CipherError::Open)
        );
        let mut bad = sealed.clone();
        bad[NONCE_LEN] ^= 1;
        assert_eq!(c.open(105, bad), Err(CipherError::Open));
        assert_eq!(c.open(105, sealed[..10].to_vec()), Err(CipherError::Open));
    }

    #[test]
    fn nonces_are_random_and_keys_compare_by_value() {
        let k = JournalKey::from_bytes(&[9u8; 32]);
        let c = k.segment(0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        c.seal_into(1, b"x", &mut a).unwrap();
        c.seal_into(1, b"x", &mut b).unwrap();
        assert_ne!(a, b, "same seq and plaintext must not repeat a nonce");
        assert_eq!(k, JournalKey::from_bytes(&[9u8; 32]));
        assert_ne!(k, JournalKey::from_bytes(&[8u8; 32]));
        assert_ne!(k.check(), JournalKey::from_bytes(&[8u8; 32]).check());
        assert_eq!(format!("{k:?}"), "JournalKey(<redacted>)");
    }

    /// A payload sealed in the format of the first sealed release (key `[7; 32]`, segment 0,
    /// seq 5, nonce 01..0c): the format must never change under existing journals.
    #[test]
    fn a_fixed_test_vector_still_opens() {
        let sealed = hex::decode(
            "0102030405060708090a0b0ce2e7c00c3fa732417b9e332ccc1e974195aa0eb9940a176884f9cc3e7c67",
        )
        .unwrap();
        let c = JournalKey::from_bytes(&[7u8; 32]).segment(0);
        assert_eq!(c.open(5, sealed.clone()).unwrap(), b"journal record");
        assert_eq!(c.open(6, sealed), Err(CipherError::Open));
    }
}
