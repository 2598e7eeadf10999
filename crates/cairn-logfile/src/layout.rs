//! CloudTrail object-key layout (spec §2): log file keys, digest keys, prefixes, parsers.
//!
//! ```text
//! {prefix/}AWSLogs/{o-id/}{account}/CloudTrail/{region}/{YYYY}/{MM}/{DD}/{account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{unique}.json.gz
//! {prefix/}AWSLogs/{o-id/}{account}/CloudTrail-Digest/{src}/{YYYY}/{MM}/{DD}/{account}_CloudTrail-Digest_{src}_{trail}_{home}_{YYYYMMDDTHHmmssZ}[_backfill].json.gz
//! ```
//!
//! Every component is validated before a key is built, so a key built from event fields
//! (account, region) can never escape the prefix: components contain no `/`, no `..`, and
//! nothing outside their documented character set.

use rand::Rng;
use rand::distributions::Alphanumeric;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::timefmt;

/// Length of the random part of a log file name.
pub const UNIQUE_LEN: usize = 16;
/// Maximum length AWS allows for `S3KeyPrefix`.
pub const MAX_PREFIX_LEN: usize = 200;

const LOG_KIND: &str = "CloudTrail";
const DIGEST_KIND: &str = "CloudTrail-Digest";
const JSON_GZ: &str = ".json.gz";
const BACKFILL_JSON_GZ: &str = "_backfill.json.gz";

/// A normalised trail key prefix (`S3KeyPrefix`).
///
/// Trailing `/` are stripped and an empty prefix means "no prefix", so keys are always
/// `prefix + "/" + "AWSLogs/..."` exactly like the AWS CLI builds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Prefix(Option<String>);

impl Prefix {
    /// No prefix.
    pub const NONE: Prefix = Prefix(None);

    /// Normalises and validates a prefix.
    ///
    /// Rejects a leading `/`, empty, `.` or `..` segments, control characters and prefixes
    /// longer than [`MAX_PREFIX_LEN`].
    pub fn new(raw: &str) -> Result<Self> {
        let trimmed = raw.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(Prefix(None));
        }
        let bad = |reason| Error::InvalidComponent {
            field: "prefix",
            value: raw.to_owned(),
            reason,
        };
        if trimmed.len() > MAX_PREFIX_LEN {
            return Err(bad("longer than 200 bytes"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(bad("contains a control character"));
        }
        for seg in trimmed.split('/') {
            if seg.is_empty() {
                return Err(bad("contains an empty segment"));
            }
            if seg == "." || seg == ".." {
                return Err(bad("contains a '.' or '..' segment"));
            }
        }
        Ok(Prefix(Some(trimmed.to_owned())))
    }

    /// The normalised prefix, without trailing `/`; `None` when unset.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    fn push_to(&self, out: &mut String) {
        if let Some(p) = &self.0 {
            out.push_str(p);
            out.push('/');
        }
    }
}

fn component_err(field: &'static str, value: &str, reason: &'static str) -> Error {
    Error::InvalidComponent {
        field,
        value: value.to_owned(),
        reason,
    }
}

/// Checks a 12-digit account id.
pub fn validate_account_id(v: &str) -> Result<()> {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(component_err("account id", v, "must be exactly 12 digits"))
    }
}

/// Checks a Region name: 1..=32 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn validate_region(v: &str) -> Result<()> {
    let ok = (1..=32).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(component_err(
            "region",
            v,
            "must be 1-32 of [a-z0-9-], not starting or ending with '-'",
        ))
    }
}

/// Checks an organization id: `o-` followed by 1..=32 of `[a-z0-9]`.
///
/// AWS issues 10..=32 characters after `o-`; shorter ids are accepted because the AWS CLI's
/// own tests use `o-12345`.
pub fn validate_org_id(v: &str) -> Result<()> {
    let ok = v.strip_prefix("o-").is_some_and(|rest| {
        (1..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(component_err(
            "organization id",
            v,
            "must be o- followed by 1-32 of [a-z0-9]",
        ))
    }
}

/// Checks a trail name against CloudTrail's naming rules.
///
/// 3..=128 of `[A-Za-z0-9._-]`, starting and ending with a letter or digit, no two adjacent
/// `.`, `_`, `-`, and not in IPv4 address form.
pub fn validate_trail_name(v: &str) -> Result<()> {
    let bad = |reason| component_err("trail name", v, reason);
    if !(3..=128).contains(&v.len()) {
        return Err(bad("must be 3-128 characters"));
    }
    let b = v.as_bytes();
    let punct = |c: u8| matches!(c, b'.' | b'_' | b'-');
    if !b.iter().all(|&c| c.is_ascii_alphanumeric() || punct(c)) {
        return Err(bad("must contain only letters, digits, '.', '_' and '-'"));
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err(bad("must start and end with a letter or digit"));
    }
    if b.windows(2).any(|w| punct(w[0]) && punct(w[1])) {
        return Err(bad("must not contain adjacent '.', '_' or '-'"));
    }
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| p.bytes().all(|c| c.is_ascii_digit())) {
        return Err(bad("must not be in IP address format"));
    }
    Ok(())
}

/// Checks a log file unique string: exactly 16 ASCII alphanumerics.
pub fn validate_unique(v: &str) -> Result<()> {
    if v.len() == UNIQUE_LEN && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(component_err(
            "unique string",
            v,
            "must be 16 ASCII letters or digits",
        ))
    }
}

/// Draws a 16-character mixed-case alphanumeric unique string from `rng`.
pub fn unique_string<R: Rng + ?Sized>(rng: &mut R) -> String {
    (0..UNIQUE_LEN)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

fn push_base(out: &mut String, prefix: &Prefix, org_id: Option<&str>, account_id: &str) {
    prefix.push_to(out);
    out.push_str("AWSLogs/");
    if let Some(org) = org_id {
        out.push_str(org);
        out.push('/');
    }
    out.push_str(account_id);
    out.push('/');
}

fn check_base(org_id: Option<&str>, account_id: &str) -> Result<()> {
    if let Some(org) = org_id {
        validate_org_id(org)?;
    }
    validate_account_id(account_id)
}

/// `{prefix/}AWSLogs/{o-id/}{account}/CloudTrail/{region}/` — the folder of a Region's log files.
pub fn log_folder(
    prefix: &Prefix,
    org_id: Option<&str>,
    account_id: &str,
    region: &str,
) -> Result<String> {
    region_folder(prefix, org_id, account_id, LOG_KIND, region)
}

/// `{prefix/}AWSLogs/{o-id/}{account}/CloudTrail-Digest/{region}/` — the folder of a Region's digests.
pub fn digest_folder(
    prefix: &Prefix,
    org_id: Option<&str>,
    account_id: &str,
    source_region: &str,
) -> Result<String> {
    region_folder(prefix, org_id, account_id, DIGEST_KIND, source_region)
}

/// `{prefix/}AWSLogs/{o-id/}{account}/{kind}/{region}/`.
fn region_folder(
    prefix: &Prefix,
    org_id: Option<&str>,
    account_id: &str,
    kind: &str,
    region: &str,
) -> Result<String> {
    check_base(org_id, account_id)?;
    validate_region(region)?;
    let mut s = String::with_capacity(96);
    push_base(&mut s, prefix, org_id, account_id);
    s.push_str(kind);
    s.push('/');
    s.push_str(region);
    s.push('/');
    Ok(s)
}

/// The parts of a log file object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileKey {
    /// Trail prefix.
    pub prefix: Prefix,
    /// Organization id for organization trails.
    pub org_id: Option<String>,
    /// Account whose events the file holds (member account for organization trails).
    pub account_id: String,
    /// Region whose events the file holds.
    pub region: String,
    /// Delivery time; only year..minute appear in the key.
    pub delivery_time: OffsetDateTime,
    /// 16-character unique string.
    pub unique: String,
}

impl LogFileKey {
    /// Builds the object key, validating every component first.
    pub fn to_key(&self) -> Result<String> {
        validate_unique(&self.unique)?;
        let mut s = log_folder(
            &self.prefix,
            self.org_id.as_deref(),
            &self.account_id,
            &self.region,
        )?;
        s.push_str(&timefmt::format_ymd_path(self.delivery_time)?);
        s.push('/');
        s.push_str(&self.account_id);
        s.push_str("_CloudTrail_");
        s.push_str(&self.region);
        s.push('_');
        s.push_str(&timefmt::format_log_key_time(self.delivery_time)?);
        s.push('_');
        s.push_str(&self.unique);
        s.push_str(JSON_GZ);
        Ok(s)
    }
}

/// The parts of a digest object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestFileKey {
    /// Trail prefix.
    pub prefix: Prefix,
    /// Organization id for organization trails.
    pub org_id: Option<String>,
    /// Account the digest is for (member account for organization trails).
    pub account_id: String,
    /// Region the digest covers (appears twice in the key).
    pub source_region: String,
    /// Trail name.
    pub trail_name: String,
    /// Region where the trail was created.
    pub home_region: String,
    /// `digestEndTime`; only year..second appear in the key.
    pub end_time: OffsetDateTime,
    /// Whether this is a `_backfill` digest.
    pub backfill: bool,
}

impl DigestFileKey {
    /// Builds the object key, validating every component first.
    pub fn to_key(&self) -> Result<String> {
        validate_trail_name(&self.trail_name)?;
        validate_region(&self.home_region)?;
        let mut s = digest_folder(
            &self.prefix,
            self.org_id.as_deref(),
            &self.account_id,
            &self.source_region,
        )?;
        s.push_str(&timefmt::format_ymd_path(self.end_time)?);
        s.push('/');
        s.push_str(&self.account_id);
        s.push_str("_CloudTrail-Digest_");
        s.push_str(&self.source_region);
        s.push('_');
        s.push_str(&self.trail_name);
        s.push('_');
        s.push_str(&self.home_region);
        s.push('_');
        s.push_str(&timefmt::format_digest_key_time(self.end_time)?);
        s.push_str(if self.backfill {
            BACKFILL_JSON_GZ
        } else {
            JSON_GZ
        });
        Ok(s)
    }
}

/// Extracts the 16-character date of a digest key by position, exactly as the AWS CLI does
/// (`key[-24:-8]`, or `key[-33:-17]` for `_backfill` keys). `None` if the key is too short
/// or not cut at character boundaries.
pub fn extract_digest_key_date(key: &str) -> Option<&str> {
    let (from_end, to_end) = if key.ends_with(BACKFILL_JSON_GZ) {
        (33, 17)
    } else {
        (24, 8)
    };
    let len = key.len();
    if len < from_end {
        return None;
    }
    key.get(len - from_end..len - to_end)
}

struct Split<'a> {
    prefix: Prefix,
    org_id: Option<String>,
    account_id: &'a str,
    region: &'a str,
    ymd: (&'a str, &'a str, &'a str),
    file: &'a str,
}

fn split_key<'a>(key: &'a str, kind: &'static str, what: &'static str) -> Result<Split<'a>> {
    let bad = |reason| Error::InvalidKey {
        key: key.to_owned(),
        kind: what,
        reason,
    };
    let segs: Vec<&str> = key.split('/').collect();
    let n = segs.len();
    if n < 8 {
        return Err(bad("too few path segments"));
    }
    let (file, d, m, y, region, k, account) = (
        segs[n - 1],
        segs[n - 2],
        segs[n - 3],
        segs[n - 4],
        segs[n - 5],
        segs[n - 6],
        segs[n - 7],
    );
    if k != kind {
        return Err(bad("wrong folder kind"));
    }
    let (org_id, prefix_end) = if segs[n - 8] == "AWSLogs" {
        (None, n - 8)
    } else if n >= 9 && segs[n - 9] == "AWSLogs" && segs[n - 8].starts_with("o-") {
        validate_org_id(segs[n - 8])?;
        (Some(segs[n - 8].to_owned()), n - 9)
    } else {
        return Err(bad("no AWSLogs/ folder"));
    };
    let prefix = if prefix_end == 0 {
        Prefix::NONE
    } else {
        let p = segs[..prefix_end].join("/");
        let prefix = Prefix::new(&p)?;
        if prefix.as_str() != Some(p.as_str()) {
            return Err(bad("prefix is not normalised"));
        }
        prefix
    };
    validate_account_id(account)?;
    validate_region(region)?;
    let digits = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return Err(bad("date folders must be YYYY/MM/DD"));
    }
    Ok(Split {
        prefix,
        org_id,
        account_id: account,
        region,
        ymd: (y, m, d),
        file,
    })
}

fn check_ymd(
    key: &str,
    what: &'static str,
    ymd: (&str, &str, &str),
    t: OffsetDateTime,
) -> Result<()> {
    if timefmt::format_ymd_path(t)? != format!("{}/{}/{}", ymd.0, ymd.1, ymd.2) {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            kind: what,
            reason: "date folders do not match the file name time",
        });
    }
    Ok(())
}

/// Parses a log file key back into its parts. The inverse of [`LogFileKey::to_key`].
pub fn parse_log_key(key: &str) -> Result<LogFileKey> {
    const WHAT: &str = "log file";
    let bad = |reason| Error::InvalidKey {
        key: key.to_owned(),
        kind: WHAT,
        reason,
    };
    let s = split_key(key, LOG_KIND, WHAT)?;
    let rest = s
        .file
        .strip_prefix(s.account_id)
        .and_then(|r| r.strip_prefix("_CloudTrail_"))
        .and_then(|r| r.strip_prefix(s.region))
        .and_then(|r| r.strip_prefix('_'))
        .and_then(|r| r.strip_suffix(JSON_GZ))
        .ok_or_else(|| {
            bad("file name must be {account}_CloudTrail_{region}_{time}_{unique}.json.gz")
        })?;
    let (ts, unique) = rest
        .split_once('_')
        .ok_or_else(|| bad("missing unique string"))?;
    let delivery_time = timefmt::parse_log_key_time(ts)?;
    validate_unique(unique)?;
    check_ymd(key, WHAT, s.ymd, delivery_time)?;
    Ok(LogFileKey {
        prefix: s.prefix,
        org_id: s.org_id,
        account_id: s.account_id.to_owned(),
        region: s.region.to_owned(),
        delivery_time,
        unique: unique.to_owned(),
    })
}

/// Parses a digest key back into its parts. The inverse of [`DigestFileKey::to_key`].
///
/// Trail names may contain `_`; Region names cannot, so the home Region and the timestamp
/// are split off from the right.
pub fn parse_digest_key(key: &str) -> Result<DigestFileKey> {
    const WHAT: &str = "digest";
    let bad = |reason| Error::InvalidKey {
        key: key.to_owned(),
        kind: WHAT,
        reason,
    };
    let s = split_key(key, DIGEST_KIND, WHAT)?;
    let (stem, backfill) = if let Some(stem) = s.file.strip_suffix(BACKFILL_JSON_GZ) {
        (stem, true)
    } else if let Some(stem) = s.file.strip_suffix(JSON_GZ) {
        (stem, false)
    } else {
        return Err(bad("file name must end in .json.gz"));
    };
    let rest = stem
        .strip_prefix(s.account_id)
        .and_then(|r| r.strip_prefix("_CloudTrail-Digest_"))
        .and_then(|r| r.strip_prefix(s.region))
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| {
            bad("file name must be {account}_CloudTrail-Digest_{region}_{trail}_{home}_{time}")
        })?;
    let (rest, ts) = rest
        .rsplit_once('_')
        .ok_or_else(|| bad("missing timestamp"))?;
    let (trail, home) = rest
        .rsplit_once('_')
        .ok_or_else(|| bad("missing home region"))?;
    if ts.len() != 16 {
        return Err(bad("timestamp must be 16 characters"));
    }
    let end_time = timefmt::parse_digest_key_time(ts)?;
    validate_trail_name(trail)?;
    validate_region(home)?;
    check_ymd(key, WHAT, s.ymd, end_time)?;
    Ok(DigestFileKey {
        prefix: s.prefix,
        org_id: s.org_id,
        account_id: s.account_id.to_owned(),
        source_region: s.region.to_owned(),
        trail_name: trail.to_owned(),
        home_region: home.to_owned(),
        end_time,
        backfill,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use time::macros::datetime;

    const AWS_LOG: &str = "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";
    const REAL_DIGEST: &str = "AWSLogs/327878933619/CloudTrail-Digest/ap-northeast-1/2023/10/15/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json.gz";

    #[test]
    fn documented_log_key() {
        let k = parse_log_key(AWS_LOG).unwrap();
        assert_eq!(k.account_id, "111122223333");
        assert_eq!(k.region, "us-east-2");
        assert_eq!(k.delivery_time, datetime!(2015-08-01 02:10 UTC));
        assert_eq!(k.unique, "Mu0KsOhtH1ar15ZZ");
        assert_eq!(k.prefix, Prefix::NONE);
        assert_eq!(k.to_key().unwrap(), AWS_LOG);
        let with_seconds = LogFileKey {
            delivery_time: datetime!(2015-08-01 02:10:42 UTC),
            ..k
        };
        assert_eq!(with_seconds.to_key().unwrap(), AWS_LOG);
    }

    #[test]
    fn real_digest_key() {
        let k = parse_digest_key(REAL_DIGEST).unwrap();
        assert_eq!(k.source_region, "ap-northeast-1");
        assert_eq!(k.home_region, "us-west-2");
        assert_eq!(k.trail_name, "llm-guard-trail");
        assert_eq!(k.end_time, datetime!(2023-10-15 23:04:04 UTC));
        assert!(!k.backfill);
        assert_eq!(k.to_key().unwrap(), REAL_DIGEST);
        assert_eq!(
            extract_digest_key_date(REAL_DIGEST),
            Some("20231015T230404Z")
        );
    }

    #[test]
    fn aws_cli_key_examples() {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/digests/aws-cli/validation_test_vectors.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let ex = &v["digest_key_examples"];
        let std_key = ex["standard"].as_str().unwrap();
        let bf_key = ex["backfill"].as_str().unwrap();
        assert_eq!(
            extract_digest_key_date(std_key),
            ex["standard_extracted_date"].as_str()
        );
        assert_eq!(
            extract_digest_key_date(bf_key),
            ex["backfill_extracted_date"].as_str()
        );
        let b = parse_digest_key(bf_key).unwrap();
        assert!(b.backfill);
        assert_eq!(b.trail_name, "foo");
        assert_eq!(b.to_key().unwrap(), bf_key);
        let org = parse_digest_key(ex["organization_trail_list_marker"].as_str().unwrap()).unwrap();
        assert_eq!(org.org_id.as_deref(), Some("o-12345"));
        assert_eq!(org.account_id, "987654321098");
        assert_eq!(org.prefix.as_str(), Some("prefix"));
    }

    #[test]
    fn prefix_normalisation() {
        assert_eq!(Prefix::new("").unwrap(), Prefix::NONE);
        assert_eq!(Prefix::new("/").unwrap(), Prefix::NONE);
        assert_eq!(Prefix::new("logs/").unwrap().as_str(), Some("logs"));
        assert_eq!(Prefix::new("a/b//").unwrap().as_str(), Some("a/b"));
        for bad in ["/abs", "a//b", "a/../b", "..", "a/./b", "a\nb"] {
            assert!(Prefix::new(bad).is_err(), "{bad:?}");
        }
        assert!(Prefix::new(&"x".repeat(201)).is_err());
        let k = LogFileKey {
            prefix: Prefix::new("my/prefix/").unwrap(),
            org_id: None,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            delivery_time: datetime!(2024-01-02 03:04 UTC),
            unique: "AbCdEfGh12345678".into(),
        };
        assert!(
            k.to_key()
                .unwrap()
                .starts_with("my/prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/")
        );
    }

    #[test]
    fn confinement() {
        let base = LogFileKey {
            prefix: Prefix::NONE,
            org_id: None,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            delivery_time: datetime!(2024-01-02 03:04 UTC),
            unique: "AbCdEfGh12345678".into(),
        };
        for region in ["..", "us-east-1/../../x", "", "US-EAST-1", "a/b", "-x"] {
            let k = LogFileKey {
                region: region.into(),
                ..base.clone()
            };
            assert!(k.to_key().is_err(), "{region:?}");
        }
        for account in [
            "11112222333",
            "../111122223",
            "1111222233334",
            "11112222333a",
        ] {
            let k = LogFileKey {
                account_id: account.into(),
                ..base.clone()
            };
            assert!(k.to_key().is_err(), "{account:?}");
        }
        for unique in ["short", "AbCdEfGh1234567/", "AbCdEfGh1234567."] {
            let k = LogFileKey {
                unique: unique.into(),
                ..base.clone()
            };
            assert!(k.to_key().is_err(), "{unique:?}");
        }
        let k = LogFileKey {
            org_id: Some("o-../x".into()),
            ..base.clone()
        };
        assert!(k.to_key().is_err());
    }

    #[test]
    fn trail_names() {
        for ok in ["foo", "my_trail.name-1", "a_b", "Trail123"] {
            validate_trail_name(ok).unwrap();
        }
        for bad in [
            "ab",
            "_abc",
            "abc-",
            "my-_namespace",
            "my--namespace",
            "192.168.5.4",
            "a/b/c",
            "tr..ail",
        ] {
            assert!(validate_trail_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unique_strings() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = unique_string(&mut rng);
        let b = unique_string(&mut rng);
        validate_unique(&a).unwrap();
        assert_ne!(a, b);
        let mut rng2 = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(unique_string(&mut rng2), a);
    }

    #[test]
    fn rejects_malformed_keys() {
        for bad in [
            "",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/x.json.gz",
            &AWS_LOG.replace("/2015/08/01/", "/2015/08/02/"),
            &AWS_LOG.replace("CloudTrail/", "CloudTrail-Digest/"),
            &AWS_LOG.replace(".json.gz", ".json"),
            &AWS_LOG.replace("AWSLogs/", "AWSLog/"),
            &format!("x//{AWS_LOG}"),
        ] {
            assert!(parse_log_key(bad).is_err(), "{bad}");
        }
        for bad in [
            REAL_DIGEST.replace("230404Z", "2304Z"),
            REAL_DIGEST.replace("_us-west-2_", "_"),
            REAL_DIGEST.replace("/ap-northeast-1/2023", "/us-east-1/2023"),
        ] {
            assert!(parse_digest_key(&bad).is_err(), "{bad}");
        }
    }

    fn arb_prefix() -> impl Strategy<Value = Prefix> {
        prop_oneof![
            Just(Prefix::NONE),
            "[a-zA-Z0-9_-]{1,12}(/[a-zA-Z0-9_.-]{1,12}){0,3}"
                .prop_filter("no dot segments", |s| !s
                    .split('/')
                    .any(|p| p == "." || p == ".."))
                .prop_map(|s| Prefix::new(&s).unwrap()),
        ]
    }

    fn arb_time(seconds: bool) -> impl Strategy<Value = OffsetDateTime> {
        (0i64..(253_402_300_799 / 60)).prop_map(move |m| {
            let t = OffsetDateTime::from_unix_timestamp(m * 60).unwrap();
            if seconds {
                t + time::Duration::seconds(m % 60)
            } else {
                t
            }
        })
    }

    fn arb_trail() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9]{1,5}([._-][a-zA-Z0-9]{1,5}){0,4}"
            .prop_filter("valid", |s| validate_trail_name(s).is_ok())
    }

    proptest! {
        #[test]
        fn log_key_round_trip(
            prefix in arb_prefix(),
            org in proptest::option::of("o-[a-z0-9]{10,32}"),
            account in "[0-9]{12}",
            region in "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]",
            t in arb_time(false),
            unique in "[a-zA-Z0-9]{16}",
        ) {
            let k = LogFileKey { prefix, org_id: org, account_id: account, region, delivery_time: t, unique };
            let s = k.to_key().unwrap();
            prop_assert_eq!(parse_log_key(&s).unwrap(), k);
        }

        #[test]
        fn digest_key_round_trip(
            prefix in arb_prefix(),
            org in proptest::option::of("o-[a-z0-9]{10,32}"),
            account in "[0-9]{12}",
            src in "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]",
            home in "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]",
            trail in arb_trail(),
            t in arb_time(true),
            backfill in any::<bool>(),
        ) {
            let k = DigestFileKey { prefix, org_id: org, account_id: account, source_region: src,
                trail_name: trail, home_region: home, end_time: t, backfill };
            let s = k.to_key().unwrap();
            prop_assert_eq!(extract_digest_key_date(&s).unwrap(), timefmt::format_digest_key_time(t).unwrap());
            prop_assert_eq!(parse_digest_key(&s).unwrap(), k);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,200}") {
            let _ = parse_log_key(&s);
            let _ = parse_digest_key(&s);
            let _ = extract_digest_key_date(&s);
        }
    }
}
