//! Input rules of the CloudTrail API (`spec/cloudtrail-api.md` §3.1, §5.1, §10).

use crate::error::ApiError;
use crate::model::Tag;

/// Trail name rules (§3.1) → `InvalidTrailNameException`.
pub(crate) fn trail_name(name: &str) -> Result<(), ApiError> {
    let err = |m: String| Err(ApiError::client("InvalidTrailNameException", m));
    let len = name.chars().count();
    if len < 3 {
        return err(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {len} characters."
        ));
    }
    if len > 128 {
        return err(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {len} characters."
        ));
    }
    // CloudTrail judges the first and last character before the rest: `trail!` is told it
    // must end with a letter or number (moto's suite pins this). A non-ASCII end character
    // is reported as what it is, a character outside the allowed set.
    let bytes = name.as_bytes();
    let bad_end = |b: u8| b.is_ascii() && !b.is_ascii_alphanumeric();
    if bad_end(bytes[0]) {
        return err("Trail name must starts with a letter or number.".into());
    }
    if bad_end(bytes[bytes.len() - 1]) {
        return err("Trail name must ends with a letter or number.".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return err("Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).".into());
    }
    if bytes
        .windows(2)
        .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
    {
        return err("Trail name cannot have adjacent periods (.), hyphens (-), or underscores (_) (for example, my-_namespace or my--namespace).".into());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return err("Trail name cannot be formatted as an IP address.".into());
    }
    Ok(())
}

/// S3 bucket name rules → `InvalidS3BucketNameException`.
pub(crate) fn bucket_name(name: &str) -> Result<(), ApiError> {
    if bucket_name_problem(name).is_some() {
        return Err(ApiError::client(
            "InvalidS3BucketNameException",
            format!("Bucket name is not valid: {name}"),
        ));
    }
    Ok(())
}

/// Why `name` is not a valid S3 bucket name, if it is not.
pub fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some("must be 3 to 63 characters long");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Some("may contain only lowercase letters, digits, '.' and '-'");
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some("must not contain '..', '.-' or '-.'");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("must not be formatted as an IP address");
    }
    None
}

/// `S3KeyPrefix` (≤ 200 characters) → normalised prefix without a trailing `/`, or `None`
/// when empty.
pub(crate) fn key_prefix(prefix: &str) -> Result<Option<String>, ApiError> {
    if prefix.chars().count() > 200 {
        return Err(ApiError::client(
            "InvalidS3PrefixException",
            "S3 key prefix must be at most 200 characters long",
        ));
    }
    if prefix.starts_with('/') || prefix.contains("//") || prefix.split('/').any(|s| s == "..") {
        return Err(ApiError::client(
            "InvalidS3PrefixException",
            format!(
                "S3 key prefix `{prefix}` is not valid: it must not start with '/', contain '//' or a '..' segment"
            ),
        ));
    }
    let p = prefix.trim_end_matches('/');
    Ok(if p.is_empty() {
        None
    } else {
        Some(p.to_owned())
    })
}

/// Tag list rules → `InvalidTagParameterException` / `TagsLimitExceededException`.
pub(crate) fn tags(tags: &[Tag], existing: &[Tag]) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::client("InvalidTagParameterException", m));
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        let n = t.key.chars().count();
        if n == 0 || n > 128 {
            return bad(format!(
                "Tag key must be 1 to 128 characters long: `{}`",
                t.key
            ));
        }
        if t.key.starts_with("aws:") {
            return bad("Tag keys starting with `aws:` are reserved".into());
        }
        if t.value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return bad(format!(
                "Tag value for key `{}` must be at most 256 characters long",
                t.key
            ));
        }
        if !seen.insert(t.key.as_str()) {
            return bad(format!("Duplicate tag key `{}`", t.key));
        }
    }
    let total = existing
        .iter()
        .filter(|e| !seen.contains(e.key.as_str()))
        .count()
        + tags.len();
    if total > 50 {
        return Err(ApiError::client(
            "TagsLimitExceededException",
            format!("A resource can have at most 50 tags; this request would leave {total}"),
        ));
    }
    Ok(())
}

/// `KmsKeyId` shape: key UUID, key ARN, `alias/Name` or alias ARN.
pub(crate) fn kms_key_id_shape(id: &str) -> bool {
    let is_uuid = |s: &str| uuid::Uuid::parse_str(s).is_ok() || s.starts_with("mrk-");
    if let Some(alias) = id.strip_prefix("alias/") {
        return !alias.is_empty() && alias.len() <= 250;
    }
    if let Ok(arn) = id.parse::<cairn_event::Arn>() {
        let r = arn.resource();
        return arn.service() == "kms"
            && (r.strip_prefix("key/").is_some_and(is_uuid)
                || r.strip_prefix("alias/").is_some_and(|a| !a.is_empty()));
    }
    is_uuid(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_names() {
        for ok in ["abc", "my-trail", "a.b_c-d", "Trail1", &"a".repeat(128)] {
            assert!(trail_name(ok).is_ok(), "{ok}");
        }
        for (bad, needle) in [
            ("ab", "too short"),
            (&*"a".repeat(129), "too long"),
            ("-abc", "starts with"),
            ("abc_", "ends with"),
            ("trail!", "ends with"),
            ("!trail", "starts with"),
            ("my#trail", "can only contain"),
            ("my-_namespace", "adjacent"),
            ("my--namespace", "adjacent"),
            ("a..b", "adjacent"),
            ("192.168.5.4", "IP address"),
            ("has space", "can only contain"),
            ("ünïcode", "can only contain"),
        ] {
            let e = trail_name(bad).unwrap_err();
            assert_eq!(e.code, "InvalidTrailNameException");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["my-bucket", "a.b.c", "abc", "123"] {
            assert!(bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "a_b",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
        ] {
            assert!(bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(key_prefix("").unwrap(), None);
        assert_eq!(key_prefix("logs/").unwrap().as_deref(), Some("logs"));
        assert!(key_prefix(&"a".repeat(201)).is_err());
        assert!(key_prefix("/x").is_err());
        assert!(key_prefix("a/../b").is_err());
    }

    #[test]
    fn tag_rules() {
        let t = |k: &str| Tag {
            key: k.into(),
            value: Some("v".into()),
        };
        assert!(tags(&[t("a"), t("b")], &[]).is_ok());
        assert_eq!(
            tags(&[t("a"), t("a")], &[]).unwrap_err().code,
            "InvalidTagParameterException"
        );
        assert_eq!(
            tags(&[t("")], &[]).unwrap_err().code,
            "InvalidTagParameterException"
        );
        let many: Vec<Tag> = (0..50).map(|i| t(&format!("k{i}"))).collect();
        assert!(tags(&many, &[]).is_ok());
        assert_eq!(
            tags(&[t("new")], &many).unwrap_err().code,
            "TagsLimitExceededException"
        );
        assert!(
            tags(&[t("k1")], &many).is_ok(),
            "upsert of an existing key is not a new tag"
        );
    }

    #[test]
    fn kms_ids() {
        for ok in [
            "alias/cloudtrail",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:alias/x",
        ] {
            assert!(kms_key_id_shape(ok), "{ok}");
        }
        for bad in ["", "alias/", "nope", "arn:aws:s3:::b"] {
            assert!(!kms_key_id_shape(bad), "{bad}");
        }
    }
}
