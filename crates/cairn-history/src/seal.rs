//! Encryption at rest of the index ([`HistoryKeys`]).
//!
//! - A stored record is `TAG_SEALED (1 byte) || nonce (12, random) || AES-256-GCM ciphertext
//!   of the codec bytes || tag (16)`, with the event's `seq` (`i64` LE) as associated data,
//!   so a row cannot be moved to another `seq`.
//! - An attribute value is stored as base64url (no padding) of HMAC-SHA256(index key,
//!   attribute id (1 byte) || value): equality lookups still work (the lookup hashes the
//!   requested value the same way), and neither the value nor which values are shared across
//!   attributes is readable from the file.
//! - The NextToken MAC key is HMAC-SHA256(index key, `"lookup-token"`) instead of a random
//!   key stored in the file, and `meta.key_check` holds HMAC-SHA256(index key, `"key-check"`)
//!   so a wrong key is refused at open rather than returning nothing.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_core::seal::{OVERHEAD, SealKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{HistoryError, Result};

/// Codec tag of a sealed record (the codec tags of `codec.rs` are small numbers).
pub(crate) const TAG_SEALED: u8 = 0xA5;

/// The keys of an encrypted index: one for records (AES-256-GCM), one for attribute values
/// (HMAC-SHA256). Derive both from a master secret; never reuse one for the other. Cheap to
/// clone.
#[derive(Clone)]
pub struct HistoryKeys {
    inner: Arc<Inner>,
}

struct Inner {
    aead: SealKey,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for HistoryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HistoryKeys(<redacted>)")
    }
}

impl HistoryKeys {
    /// Keys from 32 secret bytes each.
    ///
    /// # Errors
    /// Only if the crypto library refuses a 32-byte key, which it does not.
    pub fn new(record_key: &[u8; 32], index_key: &[u8; 32]) -> Result<Self> {
        let aead = SealKey::new(record_key)
            .map_err(|_| HistoryError::internal("open", "record key refused"))?;
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(index_key)
            .map_err(|e| HistoryError::internal("open", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner { aead, mac }),
        })
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.inner.mac.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The stored form of attribute `key_id`'s value `v`.
    pub(crate) fn attribute(&self, key_id: i64, v: &str) -> String {
        let id = u8::try_from(key_id).unwrap_or(u8::MAX);
        URL_SAFE_NO_PAD.encode(self.hmac(&[&[id], v.as_bytes()]))
    }

    /// The NextToken MAC key.
    pub(crate) fn token_key(&self) -> Vec<u8> {
        self.hmac(&[b"lookup-token"]).to_vec()
    }

    /// A public value that identifies the index key (stored in `meta.key_check`).
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.hmac(&[b"key-check"]).to_vec()
    }

    /// Seals codec bytes `encoded` of event `seq` into `out` (cleared first):
    /// [`TAG_SEALED`] then [`cairn_core::seal`]'s `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, seq: i64, encoded: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.reserve(1 + OVERHEAD + encoded.len());
        out.push(TAG_SEALED);
        self.inner
            .aead
            .seal_into(&seq.to_le_bytes(), encoded, out)
            .map_err(|_| HistoryError::internal("encode", "sealing failed"))
    }

    /// Opens a value made by [`HistoryKeys::seal`] for `seq`: the codec bytes.
    pub(crate) fn open(&self, seq: i64, stored: &[u8]) -> Result<Vec<u8>> {
        let corrupt = || {
            HistoryError::internal(
                "decode",
                "stored record fails authentication (wrong key or altered row)",
            )
        };
        match stored.split_first() {
            Some((&TAG_SEALED, sealed)) => self
                .inner
                .aead
                .open(&seq.to_le_bytes(), sealed)
                .map_err(|_| corrupt()),
            _ => Err(corrupt()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_binds_seq_and_key() {
        let k = HistoryKeys::new(&[1; 32], &[2; 32]).unwrap();
        let mut out = Vec::new();
        k.seal(7, b"codec bytes alice", &mut out).unwrap();
        assert_eq!(out[0], TAG_SEALED);
        assert!(!out.windows(5).any(|w| w == b"alice"));
        assert_eq!(k.open(7, &out).unwrap(), b"codec bytes alice");
        assert!(k.open(8, &out).is_err());
        let other = HistoryKeys::new(&[3; 32], &[2; 32]).unwrap();
        assert!(other.open(7, &out).is_err());
        assert!(k.open(7, &out[..10]).is_err());
    }

    #[test]
    fn attribute_hashes_are_keyed_and_separate_attributes() {
        let k = HistoryKeys::new(&[1; 32], &[2; 32]).unwrap();
        let a = k.attribute(4, "alice");
        assert_eq!(a, k.attribute(4, "alice"));
        assert_ne!(a, k.attribute(2, "alice"));
        assert_ne!(a, k.attribute(4, "alicf"));
        assert_ne!(
            a,
            HistoryKeys::new(&[1; 32], &[9; 32])
                .unwrap()
                .attribute(4, "alice")
        );
        assert!(!a.contains("alice"));
        assert_ne!(k.token_key(), k.key_check());
    }

    /// A record sealed in the format of the first encrypted index (record key `[1; 32]`,
    /// seq 7, nonce 01..0c): existing index files must stay readable.
    #[test]
    fn a_fixed_test_vector_still_opens() {
        let stored = hex::decode(
            "a50102030405060708090a0b0c84892cfc3ff8801af838b6ba4336d0b5618d937fa1606598aa155d",
        )
        .unwrap();
        let k = HistoryKeys::new(&[1; 32], &[2; 32]).unwrap();
        assert_eq!(k.open(7, &stored).unwrap(), b"codec bytes");
        assert!(k.open(8, &stored).is_err());
    }
}
