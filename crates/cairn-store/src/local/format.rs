//! The on-disk format of one local object file.
//!
//! # Wire format (version 1)
//!
//! ```text
//! offset  size  field
//! 0       8     magic "CAIRNOBJ"
//! 8       1     format version = 1
//! 9       1     flags: bit 0 = body encrypted (reserved: version 1 writers write 0 and
//!               readers reject any set flag until encryption at rest is built)
//! 10      4     header length H, big-endian u32, at most 65536
//! 14      H     header: UTF-8 JSON object (see `Header`)
//! 14+H    size  body bytes (exactly `size` from the header)
//! ```
//!
//! The header and body live in one file so one `rename`/`link` publishes both atomically.
//! Readers ignore unknown header fields (forward compatible); a new incompatible layout gets a
//! new version byte. Encryption at rest will set the flag and describe its envelope in the
//! header; the body offset stays where it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(super) const MAGIC: &[u8; 8] = b"CAIRNOBJ";
pub(super) const VERSION: u8 = 1;
pub(super) const PREFIX_LEN: usize = 14;
pub(super) const MAX_HEADER_LEN: usize = 64 * 1024;

/// Server-side encryption requested at put time, recorded for the future encryption-at-rest
/// work and for parity with S3 (version 1 stores the body in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub(super) enum SseRecord {
    None,
    S3,
    Kms { key_id: String },
}

/// The JSON header of an object file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Header {
    /// The object key (checked on read against the path's key).
    pub(super) key: String,
    /// Body length in bytes.
    pub(super) size: u64,
    /// Lowercase hex MD5 of the body.
    pub(super) etag: String,
    /// Put time, nanoseconds since the Unix epoch.
    pub(super) last_modified_unix_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) user_metadata: BTreeMap<String, String>,
    pub(super) sse: SseRecord,
}

/// Why a file is not a valid object file.
#[derive(Debug, thiserror::Error)]
pub(super) enum FormatError {
    #[error("bad magic")]
    Magic,
    #[error("unsupported format version {0}")]
    Version(u8),
    #[error("unsupported flags {0:#04x}")]
    Flags(u8),
    #[error("header length {0} out of range")]
    HeaderLen(usize),
    #[error("header is not valid json")]
    Json(#[from] serde_json::Error),
    #[error("file length does not match the header")]
    Length,
}

/// The bytes before the body: prefix and JSON header.
pub(super) fn encode_header(header: &Header) -> Result<Vec<u8>, FormatError> {
    let json = serde_json::to_vec(header)?;
    if json.len() > MAX_HEADER_LEN {
        return Err(FormatError::HeaderLen(json.len()));
    }
    let len = u32::try_from(json.len()).map_err(|_| FormatError::HeaderLen(json.len()))?;
    let mut out = Vec::with_capacity(PREFIX_LEN + json.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Parses the fixed prefix; returns the header length.
pub(super) fn decode_prefix(prefix: &[u8; PREFIX_LEN]) -> Result<usize, FormatError> {
    if &prefix[..8] != MAGIC {
        return Err(FormatError::Magic);
    }
    if prefix[8] != VERSION {
        return Err(FormatError::Version(prefix[8]));
    }
    if prefix[9] != 0 {
        return Err(FormatError::Flags(prefix[9]));
    }
    let len = u32::from_be_bytes([prefix[10], prefix[11], prefix[12], prefix[13]]) as usize;
    if len > MAX_HEADER_LEN {
        return Err(FormatError::HeaderLen(len));
    }
    Ok(len)
}

/// Parses the JSON header.
pub(super) fn decode_header(json: &[u8]) -> Result<Header, FormatError> {
    Ok(serde_json::from_slice(json)?)
}

/// Parses a whole file; returns the header and the body's offset. Checks the body length.
pub(super) fn decode_file(file: &[u8]) -> Result<(Header, usize), FormatError> {
    let prefix: &[u8; PREFIX_LEN] = file
        .get(..PREFIX_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or(FormatError::Length)?;
    let len = decode_prefix(prefix)?;
    let body_at = PREFIX_LEN + len;
    let header = decode_header(file.get(PREFIX_LEN..body_at).ok_or(FormatError::Length)?)?;
    if (file.len() - body_at) as u64 != header.size {
        return Err(FormatError::Length);
    }
    Ok((header, body_at))
}

/// The body of a local object file's bytes: `Ok(None)` when they do not start with the
/// magic (not an object file), an error when they do but the file is malformed. The one
/// parser of this format outside the bucket itself (the lake and `cairn validate` use it).
pub fn object_file_body(file: &[u8]) -> Result<Option<&[u8]>, String> {
    if !file.starts_with(MAGIC) {
        return Ok(None);
    }
    let (_, body_at) = decode_file(file).map_err(|e| format!("object file: {e}"))?;
    Ok(file.get(body_at..))
}

/// Opens the object file `path` and positions the reader at its body; `None` if the file
/// holds another key than `key` or is not a valid object file.
pub fn open_object_body(
    path: &std::path::Path,
    key: &str,
) -> std::io::Result<Option<std::io::Take<std::fs::File>>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut prefix = [0u8; PREFIX_LEN];
    f.read_exact(&mut prefix)?;
    let Ok(len) = decode_prefix(&prefix) else {
        return Ok(None);
    };
    let mut json = vec![0u8; len];
    f.read_exact(&mut json)?;
    match decode_header(&json) {
        Ok(h) if h.key == key => Ok(Some(f.take(h.size))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        let mut user_metadata = BTreeMap::new();
        user_metadata.insert("signature".into(), "ab".into());
        Header {
            key: "a/b".into(),
            size: 3,
            etag: "900150983cd24fb0d6963f7d28e17f72".into(),
            last_modified_unix_ns: 1_700_000_000_000_000_000,
            content_type: Some("application/json".into()),
            user_metadata,
            sse: SseRecord::Kms { key_id: "k".into() },
        }
    }

    #[test]
    fn round_trip() {
        let mut file = encode_header(&header()).unwrap();
        assert_eq!(&file[..10], b"CAIRNOBJ\x01\x00");
        file.extend_from_slice(b"abc");
        assert_eq!(object_file_body(&file).unwrap(), Some(&b"abc"[..]));
        assert_eq!(object_file_body(b"plain").unwrap(), None);
        assert!(object_file_body(&file[..file.len() - 1]).is_err());
        let (h, at) = decode_file(&file).unwrap();
        assert_eq!(h, header());
        assert_eq!(&file[at..], b"abc");
    }

    #[test]
    fn rejects_damage() {
        let mut file = encode_header(&header()).unwrap();
        file.extend_from_slice(b"abc");
        let short = &file[..file.len() - 1];
        assert!(matches!(decode_file(short), Err(FormatError::Length)));
        assert!(matches!(decode_file(&file[..5]), Err(FormatError::Length)));
        let mut v = file.clone();
        v[8] = 2;
        assert!(matches!(decode_file(&v), Err(FormatError::Version(2))));
        let mut f = file.clone();
        f[9] = 1;
        assert!(matches!(decode_file(&f), Err(FormatError::Flags(1))));
        let mut m = file.clone();
        m[0] = b'X';
        assert!(matches!(decode_file(&m), Err(FormatError::Magic)));
        let mut l = file;
        l[10] = 0xff;
        assert!(matches!(decode_file(&l), Err(FormatError::HeaderLen(_))));
    }

    #[test]
    fn unknown_header_fields_are_ignored() {
        let json = br#"{"key":"k","size":0,"etag":"e","last_modified_unix_ns":0,"sse":{"type":"none"},"future":1}"#;
        let h = decode_header(json).unwrap();
        assert_eq!(h.sse, SseRecord::None);
    }
}
