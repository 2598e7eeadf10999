//! The ciphertext blob: self-describing, bound to its encryption context.
//!
//! # Wire format (version 1)
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       16    key id (the UUID's 16 bytes)
//! 17      4     backing-key version (u32, big-endian)
//! 21      12    AES-GCM nonce (random)
//! 33      n     ciphertext
//! 33+n    16    AES-GCM tag
//! ```
//!
//! The associated data is the 33-byte header followed by [`encode_context`] of the encryption
//! context, so neither the header nor the context can be changed without failing
//! authentication.

use std::collections::BTreeMap;

/// Current format version.
pub(crate) const VERSION: u8 = 1;
/// Header length (version, key id, backing version, nonce).
pub(crate) const HEADER_LEN: usize = 1 + 16 + 4 + 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// The parsed header of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) key_id: uuid::Uuid,
    pub(crate) key_version: u32,
    pub(crate) nonce: [u8; 12],
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = VERSION;
        h[1..17].copy_from_slice(self.key_id.as_bytes());
        h[17..21].copy_from_slice(&self.key_version.to_be_bytes());
        h[21..33].copy_from_slice(&self.nonce);
        h
    }

    /// Parses the header of `blob`; `None` if it is too short or of an unknown version.
    pub(crate) fn parse(blob: &[u8]) -> Option<Header> {
        if blob.len() < HEADER_LEN + TAG_LEN || blob[0] != VERSION {
            return None;
        }
        let key_id = uuid::Uuid::from_slice(&blob[1..17]).ok()?;
        let key_version = u32::from_be_bytes(blob[17..21].try_into().ok()?);
        let nonce: [u8; 12] = blob[21..33].try_into().ok()?;
        Some(Header {
            key_id,
            key_version,
            nonce,
        })
    }
}

/// Canonical bytes of an encryption context: a count, then each pair (sorted by key, as the
/// map is) as length-prefixed UTF-8. Unambiguous: no two contexts encode alike.
pub(crate) fn encode_context(ctx: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ctx.len() * 16);
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejects() {
        let h = Header {
            key_id: uuid::Uuid::new_v4(),
            key_version: 7,
            nonce: [9; 12],
        };
        let mut blob = h.encode().to_vec();
        blob.extend_from_slice(&[0u8; TAG_LEN]);
        assert_eq!(Header::parse(&blob), Some(h));
        assert_eq!(Header::parse(&blob[..blob.len() - 1]), None, "too short");
        blob[0] = 2;
        assert_eq!(Header::parse(&blob), None, "unknown version");
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let a: BTreeMap<String, String> = [("ab".into(), "c".into())].into();
        let b: BTreeMap<String, String> = [("a".into(), "bc".into())].into();
        let c: BTreeMap<String, String> =
            [("a".into(), "b".into()), ("c".into(), String::new())].into();
        assert_ne!(encode_context(&a), encode_context(&b));
        assert_ne!(encode_context(&a), encode_context(&c));
        assert_ne!(encode_context(&BTreeMap::new()), encode_context(&c));
    }
}
