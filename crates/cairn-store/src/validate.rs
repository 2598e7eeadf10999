//! Key and metadata rules shared by every backend, so all backends accept and reject the same
//! inputs (the conformance suite checks this).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Longest key in bytes (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Largest total user metadata (sum of name and value bytes; S3's limit for `x-amz-meta-*`).
pub const MAX_USER_METADATA_LEN: usize = 2048;

/// Checks an object key against the rules every backend enforces.
///
/// A key is valid when it is 1 to [`MAX_KEY_LEN`] bytes of UTF-8, does not start with `/`, has
/// no empty segment (so no trailing `/` and no `//`), no `.` or `..` segment, and no ASCII
/// control character. Anything else (spaces, `%`, `é`, `+`, `=`) is allowed.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason: &'static str| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("absolute key (leading '/')");
    }
    if key.bytes().any(|b| b.is_ascii_control()) {
        return bad("contains an ASCII control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("empty path segment"),
            "." | ".." => return bad("'.' or '..' path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// HTTP token characters (RFC 9110 `tchar`), the characters a header name may hold.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks user metadata and returns it with names lower-cased, as S3 returns them.
///
/// Names must be HTTP tokens (the part after `x-amz-meta-`); values printable US-ASCII without
/// leading or trailing blanks (HTTP would trim them); two names may not differ only by case;
/// names and values together at most [`MAX_USER_METADATA_LEN`] bytes.
pub fn normalize_user_metadata(
    meta: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut total = 0usize;
    for (name, value) in meta {
        let bad = |reason: &'static str| {
            Err(Error::InvalidMetadata {
                name: name.clone(),
                reason,
            })
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return bad("name is not an HTTP token");
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return bad("value is not printable US-ASCII");
        }
        if value.starts_with(' ') || value.ends_with(' ') {
            return bad("value has leading or trailing blanks");
        }
        total += name.len() + value.len();
        if out
            .insert(name.to_ascii_lowercase(), value.clone())
            .is_some()
        {
            return bad("two names differ only by case");
        }
    }
    if total > MAX_USER_METADATA_LEN {
        return Err(Error::InvalidMetadata {
            name: String::new(),
            reason: "user metadata larger than 2048 bytes",
        });
    }
    Ok(out)
}

/// Checks a content type: non-empty printable US-ASCII, at most 256 bytes.
pub fn validate_content_type(content_type: &str) -> Result<()> {
    if content_type.is_empty()
        || content_type.len() > 256
        || !content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(Error::InvalidMetadata {
            name: "content-type".to_owned(),
            reason: "content type must be 1 to 256 printable US-ASCII bytes",
        });
    }
    Ok(())
}

/// Lowercase hex MD5 of `bytes`: the ETag S3 gives a single-part, non-KMS object.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Strips the quotes S3 puts around ETags.
pub(crate) fn unquote_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        for good in [
            "a",
            "a/b",
            "a-b",
            "a0",
            "B",
            "é",
            "a%2F",
            "with space",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/x.json.gz",
            "...",
            "a/.b",
            "a\\b",
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        let long = "a".repeat(1025);
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a\nb", "a\0b", "\x7f", &long,
        ] {
            let err = validate_key(bad).unwrap_err();
            assert_eq!(err.class(), crate::ErrorClass::InvalidInput, "{bad:?}");
        }
        assert!(validate_key(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn metadata_lowercased_and_checked() {
        let mut m = BTreeMap::new();
        m.insert("Signature".to_owned(), "abc".to_owned());
        m.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
        let out = normalize_user_metadata(&m).unwrap();
        assert_eq!(out.get("signature").map(String::as_str), Some("abc"));
        assert_eq!(out.len(), 2);

        let mut dup = BTreeMap::new();
        dup.insert("A".to_owned(), "1".to_owned());
        dup.insert("a".to_owned(), "2".to_owned());
        assert!(normalize_user_metadata(&dup).is_err());

        for (k, v) in [
            ("", "v"),
            ("a b", "v"),
            ("a:b", "v"),
            ("k", "é"),
            ("k", " v"),
            ("k", "v\n"),
        ] {
            let mut m = BTreeMap::new();
            m.insert(k.to_owned(), v.to_owned());
            assert!(normalize_user_metadata(&m).is_err(), "{k:?}={v:?}");
        }
        let mut big = BTreeMap::new();
        big.insert("k".to_owned(), "v".repeat(2048));
        assert!(normalize_user_metadata(&big).is_err());
    }

    #[test]
    fn md5_known_answer() {
        // RFC 1321 test suite.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            unquote_etag("\"900150983cd24fb0d6963f7d28e17f72\""),
            md5_hex(b"abc")
        );
    }
}
