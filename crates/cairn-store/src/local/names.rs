//! Mapping object keys to file system paths.
//!
//! # Layout (version 1)
//!
//! A key `s1/s2/.../sN` (already checked by [`crate::validate_key`]) is stored as the file
//! `<root>/enc(s1)/enc(s2)/.../enc(sN)@obj`: every segment but the last is a directory, the last
//! is a file with the suffix `@obj`. The suffix lets the key `a` (file `a@obj`) and the keys
//! `a/...` (directory `a`) coexist.
//!
//! `enc` keeps the bytes `A-Z a-z 0-9 - _` and `.` (except as the first byte), and writes every
//! other byte as `%XX` (uppercase hex). So:
//!
//! - no encoded name contains `/`, NUL, `@`, or starts with `.`: names starting with `.` are the
//!   backend's own (`.cairn-tmp`), and a name ending in `@obj` is always an object;
//! - the encoding is injective and canonical: [`decode_segment`] accepts only what
//!   [`encode_segment`] produces, so one key has exactly one path.
//!
//! Listing does not need an order-preserving encoding: each directory's entries are decoded and
//! sorted in memory by the key text they contribute (`segment` for a file, `segment/` for a
//! directory). Sorting siblings that way and walking depth first yields keys in byte order,
//! because a directory's contribution ends in `/`, which no segment contains.
//!
//! Limits: an encoded name (with suffix) must fit in 255 bytes, the usual `NAME_MAX`; keys with
//! longer segments are rejected with [`crate::ErrorClass::InvalidInput`]. CloudTrail's longest
//! segment (a backfill digest name with a 128-character trail name) encodes to about 220
//! bytes. The layout assumes a case-sensitive file system (Linux).

use std::path::PathBuf;

/// Suffix of object files.
pub(super) const OBJECT_SUFFIX: &str = "@obj";

/// Longest file name we create (`NAME_MAX` on Linux file systems).
pub(super) const MAX_NAME_LEN: usize = 255;

fn kept(b: u8, first: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !first)
}

/// Encodes one key segment as a file name (without the object suffix).
pub(super) fn encode_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len());
    for (i, &b) in segment.as_bytes().iter().enumerate() {
        if kept(b, i == 0) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a file name made by [`encode_segment`]; `None` for anything else (foreign files,
/// non-canonical escapes, invalid UTF-8).
pub(super) fn decode_segment(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            let v = hi << 4 | lo;
            if kept(v, out.is_empty()) {
                return None; // not canonical: this byte is never escaped
            }
            out.push(v);
            i += 3;
        } else if kept(b, out.is_empty()) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    if out.is_empty() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// What a directory entry is, once decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// An object file; the key segment it stores.
    Object(String),
    /// A directory; the key segment it stands for.
    Dir(String),
}

/// Classifies a directory entry name; `None` for internal and foreign entries.
pub(super) fn classify(name: &str, is_dir: bool) -> Option<Entry> {
    if name.starts_with('.') {
        return None;
    }
    match (name.strip_suffix(OBJECT_SUFFIX), is_dir) {
        (Some(stem), false) => decode_segment(stem).map(Entry::Object),
        (None, true) => decode_segment(name).map(Entry::Dir),
        _ => None,
    }
}

/// The relative path of a (valid) key: directory names and the object file name.
///
/// Fails with a reason when an encoded name would exceed [`MAX_NAME_LEN`].
pub(super) fn key_path(key: &str) -> Result<(PathBuf, String), &'static str> {
    let mut segments = key.split('/').peekable();
    let mut dirs = PathBuf::new();
    while let Some(seg) = segments.next() {
        let enc = encode_segment(seg);
        if segments.peek().is_none() {
            let file = enc + OBJECT_SUFFIX;
            if file.len() > MAX_NAME_LEN {
                break;
            }
            return Ok((dirs, file));
        }
        if enc.len() > MAX_NAME_LEN {
            break;
        }
        dirs.push(enc);
    }
    Err("a key segment is too long for the local backend (encoded name over 255 bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        for (seg, enc) in [
            ("a", "a"),
            ("AWSLogs", "AWSLogs"),
            ("x.json.gz", "x.json.gz"),
            (".hidden", "%2Ehidden"),
            ("a%2F", "a%252F"),
            ("é", "%C3%A9"),
            ("a b+c=d", "a%20b%2Bc%3Dd"),
            ("x@obj", "x%40obj"),
            ("~", "%7E"),
        ] {
            assert_eq!(encode_segment(seg), enc);
            assert_eq!(decode_segment(enc).as_deref(), Some(seg));
        }
    }

    #[test]
    fn non_canonical_names_are_foreign() {
        for name in ["%61", "%2e", "a%2", "a%ZZ", "a b", ".x", "%FF", "", "a@b"] {
            assert_eq!(decode_segment(name), None, "{name}");
        }
        assert_eq!(classify(".cairn-tmp", true), None);
        assert_eq!(classify("a@obj", true), None);
        assert_eq!(classify("a", false), None);
        assert_eq!(classify("a@obj", false), Some(Entry::Object("a".into())));
        assert_eq!(classify("a", true), Some(Entry::Dir("a".into())));
    }

    #[test]
    fn key_paths() {
        let (dirs, file) = key_path("AWSLogs/1/x.json.gz").unwrap();
        assert_eq!(dirs, PathBuf::from("AWSLogs/1"));
        assert_eq!(file, "x.json.gz@obj");
        let (dirs, file) = key_path("a").unwrap();
        assert_eq!(dirs, PathBuf::new());
        assert_eq!(file, "a@obj");
        assert!(key_path(&"a".repeat(251)).is_ok());
        assert!(key_path(&"a".repeat(252)).is_err());
        assert!(key_path(&format!("{}/a", "é".repeat(43))).is_err());
    }

    proptest! {
        #[test]
        fn segment_round_trip(seg in "[^/\\x00-\\x1f]{1,40}") {
            let enc = encode_segment(&seg);
            prop_assert!(!enc.contains('/') && !enc.contains('@') && !enc.starts_with('.'));
            prop_assert_eq!(decode_segment(&enc), Some(seg));
        }
    }
}
