use std::fmt;
use std::str::FromStr;

/// `as_str` (documented `$doc`) and `Display` for a checked `String` newtype: a macro because
/// they are inherent and trait impls on each type.
macro_rules! string_id {
    ($t:ident, $doc:literal) => {
        impl $t {
            #[doc = $doc]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Account IDs are exactly 12 decimal digits.
    #[error("account id `{0}` must be exactly 12 digits")]
    AccountId(String),
    /// Organization IDs are `o-` followed by 10 to 32 lowercase letters or digits.
    #[error("organization id `{0}` must be `o-` followed by 10 to 32 lowercase letters or digits")]
    OrganizationId(String),
    /// Region names look like `us-east-1`.
    #[error("region `{0}` is not a valid region name")]
    Region(String),
    /// ARNs are `arn:partition:service:region:account:resource`.
    #[error("`{0}` is not a valid ARN")]
    Arn(String),
}

/// A 12-digit AWS-style account ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Checks the 12-digit rule.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::AccountId(s.to_owned()))
        }
    }
}

string_id!(AccountId, "The digits.");

/// An AWS Organizations ID (`o-` + 10..=32 lowercase alphanumerics).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrganizationId(String);

impl OrganizationId {
    /// Checks the `o-[a-z0-9]{10,32}` rule.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = s.strip_prefix("o-").is_some_and(|rest| {
            (10..=32).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::OrganizationId(s.to_owned()))
        }
    }
}

string_id!(OrganizationId, "The ID text.");

/// A region name such as `us-east-1`: lowercase letters and digits in dash-separated parts,
/// ending with a number part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Checks the shape of a region name (not whether it is configured).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = s.len() <= 32
            && parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Region(s.to_owned()))
        }
    }
}

string_id!(Region, "The region name.");

/// The public AWS commercial regions, Cairn's default region list.
pub fn default_regions() -> Vec<Region> {
    [
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    ]
    .into_iter()
    .map(|r| Region(r.to_owned()))
    .collect()
}

/// A parsed ARN: `arn:{partition}:{service}:{region}:{account}:{resource}`.
///
/// Region and account may be empty (S3 bucket ARNs have neither). The resource keeps its
/// own separators (`trail/name`, `log-group:name:*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    text: String,
    // byte offsets of the five separators after "arn"
    cuts: [usize; 5],
}

impl Arn {
    /// The partition, e.g. `aws`.
    pub fn partition(&self) -> &str {
        &self.text[self.cuts[0] + 1..self.cuts[1]]
    }
    /// The service, e.g. `cloudtrail`.
    pub fn service(&self) -> &str {
        &self.text[self.cuts[1] + 1..self.cuts[2]]
    }
    /// The region (may be empty).
    pub fn region(&self) -> &str {
        &self.text[self.cuts[2] + 1..self.cuts[3]]
    }
    /// The account ID (may be empty).
    pub fn account_id(&self) -> &str {
        &self.text[self.cuts[3] + 1..self.cuts[4]]
    }
    /// Everything after the fifth colon.
    pub fn resource(&self) -> &str {
        &self.text[self.cuts[4] + 1..]
    }
    /// The whole ARN text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Arn {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::Arn(s.to_owned());
        if !s.starts_with("arn:") || s.len() > 2048 {
            return Err(bad());
        }
        let mut cuts = [0usize; 5];
        let mut n = 0;
        for (i, b) in s.bytes().enumerate() {
            if b == b':' {
                if n < 5 {
                    cuts[n] = i;
                }
                n += 1;
                if n == 5 {
                    // first five separators only: the resource may contain colons
                    cuts[4] = i;
                    break;
                }
            }
        }
        if n < 5 {
            return Err(bad());
        }
        let arn = Arn {
            text: s.to_owned(),
            cuts,
        };
        if arn.partition().is_empty() || arn.service().is_empty() || arn.resource().is_empty() {
            return Err(bad());
        }
        Ok(arn)
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            " 23456789012",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn organization_ids() {
        assert!(OrganizationId::parse("o-exampleorgid").is_ok());
        for bad in ["o-short", "x-exampleorgid", "o-EXAMPLEORGID", "o-"] {
            assert!(OrganizationId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions() {
        for r in default_regions() {
            assert!(Region::parse(r.as_str()).is_ok(), "{r}");
        }
        for bad in ["", "us", "us-east", "US-EAST-1", "us-east-x", "us--1"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns() {
        let a: Arn = "arn:aws:logs:us-east-1:123456789012:log-group:CloudTrail:*"
            .parse()
            .unwrap();
        assert_eq!(a.partition(), "aws");
        assert_eq!(a.service(), "logs");
        assert_eq!(a.region(), "us-east-1");
        assert_eq!(a.account_id(), "123456789012");
        assert_eq!(a.resource(), "log-group:CloudTrail:*");
        let s3: Arn = "arn:aws:s3:::bucket/key".parse().unwrap();
        assert_eq!(s3.region(), "");
        assert_eq!(s3.account_id(), "");
        assert_eq!(s3.resource(), "bucket/key");
        for bad in [
            "",
            "arn:aws",
            "arn:aws:s3:::",
            "xarn:aws:s3:::b",
            "arn::s3:::b",
        ] {
            assert!(bad.parse::<Arn>().is_err(), "{bad}");
        }
    }
}
