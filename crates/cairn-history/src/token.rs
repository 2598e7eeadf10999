//! NextToken: an opaque, authenticated keyset cursor.
//!
//! Wire format (base64url, no padding) of 41 bytes:
//! `version (1) = 1 | event_time_ms (i64 BE) | seq (i64 BE) | snapshot_seq (i64 BE) | mac (16)`
//! where `mac` = the first 16 bytes of HMAC-SHA256(index key, the 25 bytes before it ‖
//! SHA-256 of the request parameters). The key is random per index file, so a token from
//! another index, an altered token or a token replayed with other parameters fails the MAC
//! and is `InvalidNextTokenException`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{HistoryError, Result};

const VERSION: u8 = 1;
const BODY: usize = 25;
const MAC: usize = 16;
/// Longest token string accepted before decoding.
const MAX_TOKEN_CHARS: usize = 128;

/// Position after the last event of a page, and the snapshot the walk is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Event time (ms) of the last event returned.
    pub(crate) time_ms: i64,
    /// Sequence of the last event returned.
    pub(crate) seq: i64,
    /// Highest sequence visible to the walk (fixed by its first page).
    pub(crate) snapshot: i64,
}

fn mac(key: &[u8], body: &[u8], params: &[u8; 32]) -> Result<[u8; MAC]> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| HistoryError::internal("token", e.to_string()))?;
    m.update(body);
    m.update(params);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC];
    out.copy_from_slice(&full[..MAC]);
    Ok(out)
}

pub(crate) fn encode(key: &[u8], params: &[u8; 32], c: Cursor) -> Result<String> {
    let mut buf = Vec::with_capacity(BODY + MAC);
    buf.push(VERSION);
    buf.extend_from_slice(&c.time_ms.to_be_bytes());
    buf.extend_from_slice(&c.seq.to_be_bytes());
    buf.extend_from_slice(&c.snapshot.to_be_bytes());
    let tag = mac(key, &buf, params)?;
    buf.extend_from_slice(&tag);
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

pub(crate) fn decode(key: &[u8], params: &[u8; 32], token: &str) -> Result<Cursor> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(HistoryError::InvalidNextToken);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| HistoryError::InvalidNextToken)?;
    if raw.len() != BODY + MAC || raw[0] != VERSION {
        return Err(HistoryError::InvalidNextToken);
    }
    let (body, tag) = raw.split_at(BODY);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| HistoryError::internal("token", e.to_string()))?;
    m.update(body);
    m.update(params);
    // Constant-time comparison of the truncated tag.
    m.verify_truncated_left(tag)
        .map_err(|_| HistoryError::InvalidNextToken)?;
    let int = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&body[i..i + 8]);
        i64::from_be_bytes(b)
    };
    Ok(Cursor {
        time_ms: int(1),
        seq: int(9),
        snapshot: int(17),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_rejections() {
        let params = [7u8; 32];
        let c = Cursor {
            time_ms: 1_700_000_000_000,
            seq: 42,
            snapshot: 99,
        };
        let t = encode(KEY, &params, c).unwrap();
        assert_eq!(decode(KEY, &params, &t).unwrap(), c);
        // Other parameters, other key.
        assert!(decode(KEY, &[8u8; 32], &t).is_err());
        assert!(decode(b"another key of 32 bytes.........", &params, &t).is_err());
        // Garbage.
        for bad in ["", "!!!", "AAAA", &"A".repeat(500), &t[..t.len() - 1]] {
            assert!(matches!(
                decode(KEY, &params, bad),
                Err(HistoryError::InvalidNextToken)
            ));
        }
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_rejected(pos in 0usize..41, flip in 1u8..=255, t in any::<i64>(), s in 0i64..i64::MAX) {
            let params = [1u8; 32];
            let tok = encode(KEY, &params, Cursor { time_ms: t, seq: s, snapshot: s }).unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
            raw[pos] ^= flip;
            let altered = URL_SAFE_NO_PAD.encode(raw);
            prop_assert!(decode(KEY, &params, &altered).is_err());
        }
    }
}
