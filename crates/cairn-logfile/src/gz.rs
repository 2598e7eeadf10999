//! Bounded gzip decoding and streaming SHA-256, shared by the log-file reader and the
//! validator.
//!
//! Every decoder here is capped: untrusted gzip can expand ~1000x, so callers state how
//! many uncompressed bytes they accept. Like the AWS CLI (`zlib.decompressobj(16 + MAX_WBITS)`),
//! only the first gzip member is read; bytes after it are ignored.

use std::io::{self, Read};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The gzip magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `bytes` starts with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The result of hashing a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHash {
    /// Lowercase hex SHA-256 of the uncompressed bytes.
    pub sha256_hex: String,
    /// Number of uncompressed bytes.
    pub len: u64,
}

fn gz_err(e: &io::Error) -> Error {
    Error::InvalidGzip {
        reason: e.to_string(),
    }
}

/// Gunzips `reader` (first member only) into SHA-256 incrementally, reading at most
/// `max_uncompressed` bytes of output.
///
/// This is the validator's inner loop: memory use is one 64 KiB buffer whatever the size.
/// Errors: [`Error::InvalidGzip`] (not gzip, corrupt, truncated), [`Error::TooLarge`].
pub fn gunzip_sha256<R: Read>(reader: R, max_uncompressed: u64) -> Result<StreamHash> {
    let mut dec = GzDecoder::new(reader);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len: u64 = 0;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(gz_err(&e)),
        };
        len += n as u64;
        if len > max_uncompressed {
            return Err(Error::TooLarge {
                what: "decompressed object",
                limit: max_uncompressed,
            });
        }
        hasher.update(&buf[..n]);
    }
    Ok(StreamHash {
        sha256_hex: hex::encode(hasher.finalize()),
        len,
    })
}

/// Gunzips `compressed` (first member only) into memory, refusing more than
/// `max_uncompressed` bytes of output.
pub fn gunzip_capped(compressed: &[u8], max_uncompressed: u64) -> Result<Vec<u8>> {
    let dec = GzDecoder::new(compressed);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(8).min(1 << 20));
    let mut limited = dec.take(max_uncompressed.saturating_add(1));
    limited.read_to_end(&mut out).map_err(|e| gz_err(&e))?;
    if out.len() as u64 > max_uncompressed {
        return Err(Error::TooLarge {
            what: "decompressed object",
            limit: max_uncompressed,
        });
    }
    Ok(out)
}

/// Returns the uncompressed body: gunzipped (capped) when `bytes` has the gzip magic,
/// otherwise `bytes` itself (also subject to the cap).
pub fn maybe_gunzip(bytes: &[u8], max_uncompressed: u64) -> Result<std::borrow::Cow<'_, [u8]>> {
    if is_gzip(bytes) {
        gunzip_capped(bytes, max_uncompressed).map(std::borrow::Cow::Owned)
    } else if bytes.len() as u64 > max_uncompressed {
        Err(Error::TooLarge {
            what: "object",
            limit: max_uncompressed,
        })
    } else {
        Ok(std::borrow::Cow::Borrowed(bytes))
    }
}

/// Gzips `bytes` at `level` (0-9) into a new buffer.
pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::new(level.min(9)),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_plain_sha256() {
        let data = b"{\"Records\":[]}".repeat(1000);
        let gz = gzip(&data, 6);
        let h = gunzip_sha256(&gz[..], 1 << 20).unwrap();
        assert_eq!(h.sha256_hex, sha256_hex(&data));
        assert_eq!(h.len, data.len() as u64);
        assert_eq!(gunzip_capped(&gz, 1 << 20).unwrap(), data);
    }

    #[test]
    fn abc_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn caps_are_enforced() {
        let data = vec![b'a'; 100_000];
        let gz = gzip(&data, 9);
        assert!(gz.len() < 1000);
        assert!(matches!(
            gunzip_sha256(&gz[..], 99_999),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            gunzip_capped(&gz, 99_999),
            Err(Error::TooLarge { .. })
        ));
        assert!(gunzip_capped(&gz, 100_000).is_ok());
        assert!(matches!(
            maybe_gunzip(&data, 10),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_non_gzip_and_truncation() {
        assert!(matches!(
            gunzip_sha256(&b"plain text"[..], 100),
            Err(Error::InvalidGzip { .. })
        ));
        let gz = gzip(b"hello world hello world", 6);
        assert!(gunzip_sha256(&gz[..gz.len() - 5], 100).is_err());
        assert!(gunzip_capped(&gz[..gz.len() - 5], 100).is_err());
    }

    #[test]
    fn first_member_only() {
        let mut two = gzip(b"first", 6);
        two.extend(gzip(b"second", 6));
        assert_eq!(gunzip_capped(&two, 100).unwrap(), b"first");
        assert_eq!(
            gunzip_sha256(&two[..], 100).unwrap().sha256_hex,
            sha256_hex(b"first")
        );
    }
}
