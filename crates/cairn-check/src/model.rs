//! Check identities, verdicts, results and thresholds.

use serde::{Deserialize, Serialize};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The practice holds.
    Pass,
    /// The practice does not hold.
    Fail,
    /// The target could not answer (API missing, access denied): no guess is made.
    Unknown,
    /// Informational: reported, never a finding.
    Info,
}

impl Verdict {
    /// `pass`, `fail`, `unknown`, `info`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
            Self::Info => "info",
        }
    }
}

/// A check's static description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDef {
    /// Stable id (`CT.1`).
    pub id: &'static str,
    /// Stable slug (`multi-region-trail`).
    pub slug: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// The CloudTrail guide practice and the CIS / Security Hub controls it maps to.
    pub maps_to: &'static str,
}

/// Every check, in report order.
pub const CHECKS: [CheckDef; 22] = [
    CheckDef {
        id: "CT.1",
        slug: "multi-region-trail",
        title: "A multi-Region trail is logging read and write management events, including global service events",
        maps_to: "Guide: create a multi-Region trail; CIS AWS 1.4 3.1 / 5.0 3.1; Security Hub CloudTrail.1, CloudTrail.3",
    },
    CheckDef {
        id: "CT.2",
        slug: "region-coverage",
        title: "No Region without a logging trail that records management events",
        maps_to: "Guide: log in all Regions; CIS AWS 3.1",
    },
    CheckDef {
        id: "CT.3",
        slug: "organization-coverage",
        title: "Every account of the organization is covered (organization trail)",
        maps_to: "Guide: create an organization trail",
    },
    CheckDef {
        id: "CT.4",
        slug: "separate-trails",
        title: "Separate trails per use case, and their owners (informational)",
        maps_to: "Guide: create separate trails for different use cases",
    },
    CheckDef {
        id: "CT.5",
        slug: "log-file-validation",
        title: "Log file integrity validation is enabled on every trail",
        maps_to: "Guide: enable log file integrity validation; CIS AWS 3.2; Security Hub CloudTrail.4",
    },
    CheckDef {
        id: "CT.6",
        slug: "digest-delivery",
        title: "The latest digest file was delivered recently",
        maps_to: "Guide: validate log file integrity",
    },
    CheckDef {
        id: "CT.7",
        slug: "kms-encryption",
        title: "Trails are encrypted with a customer-managed KMS key whose rotation is on and whose policy limits decrypt",
        maps_to: "Guide: SSE-KMS with a customer managed key; CIS AWS 3.7 (3.5 in 5.0), 3.8; Security Hub CloudTrail.2, KMS.4",
    },
    CheckDef {
        id: "S3.1",
        slug: "bucket-separate-account",
        title: "The trail bucket is owned by a different account than the workloads",
        maps_to: "Guide: use a dedicated log-archive account",
    },
    CheckDef {
        id: "S3.2",
        slug: "bucket-not-public",
        title: "The trail bucket is not public (public access block, policy, ACL)",
        maps_to: "CIS AWS 1.4 3.3; Security Hub CloudTrail.6, S3.1, S3.8",
    },
    CheckDef {
        id: "S3.3",
        slug: "bucket-versioning-mfa-delete",
        title: "The trail bucket has versioning with MFA delete",
        maps_to: "Guide: enable MFA delete on the bucket; CIS AWS 2.1.2 (1.4), S3.20",
    },
    CheckDef {
        id: "S3.4",
        slug: "bucket-object-lock",
        title: "The trail bucket has object lock with a default retention",
        maps_to: "Guide: protect log files from deletion; Security Hub S3.15",
    },
    CheckDef {
        id: "S3.5",
        slug: "bucket-access-logging",
        title: "Server access logging is on for the trail bucket",
        maps_to: "CIS AWS 1.4 3.6; Security Hub CloudTrail.7",
    },
    CheckDef {
        id: "S3.6",
        slug: "bucket-lifecycle",
        title: "The trail bucket has an enabled lifecycle rule",
        maps_to: "Guide: manage log file retention with lifecycle rules; Security Hub S3.13",
    },
    CheckDef {
        id: "S3.7",
        slug: "bucket-default-encryption",
        title: "The trail bucket has default encryption",
        maps_to: "Guide: encrypt log files at rest; Security Hub S3.4",
    },
    CheckDef {
        id: "DE.1",
        slug: "s3-data-events",
        title: "S3 object-level read and write events are logged for all buckets",
        maps_to: "Guide: log data events for S3; CIS AWS 1.4 3.10, 3.11; Security Hub S3.22, S3.23",
    },
    CheckDef {
        id: "DE.2",
        slug: "lambda-data-events",
        title: "Lambda invoke data events are logged for all functions",
        maps_to: "Guide: log data events for Lambda",
    },
    CheckDef {
        id: "CW.1",
        slug: "cloudwatch-logs-delivery",
        title: "A trail delivers to CloudWatch Logs, and delivered recently",
        maps_to: "Guide: integrate with CloudWatch Logs; CIS AWS 1.4 3.4; Security Hub CloudTrail.5",
    },
    CheckDef {
        id: "CW.2",
        slug: "cis-metric-filters",
        title: "Every CIS metric filter pattern exists, exactly, on a trail's log group",
        maps_to: "CIS AWS 1.4 4.1-4.15; Security Hub CloudWatch.1-14",
    },
    CheckDef {
        id: "CW.3",
        slug: "cis-alarms",
        title: "Each CIS metric filter has an alarm with an action",
        maps_to: "CIS AWS 1.4 4.1-4.15; Security Hub CloudWatch.1-14",
    },
    CheckDef {
        id: "CW.4",
        slug: "cis-alarm-subscriptions",
        title: "Each CIS alarm's action topic has at least one confirmed subscription",
        maps_to: "CIS AWS 1.4 4.x (audit step: sns list-subscriptions-by-topic); Security Hub CloudWatch.1-14",
    },
    CheckDef {
        id: "IAM.1",
        slug: "cloudtrail-full-access",
        title: "AWSCloudTrail_FullAccess is attached to few principals, none a workload role",
        maps_to: "Guide: limit access to AWSCloudTrail_FullAccess",
    },
    CheckDef {
        id: "IAM.2",
        slug: "root-unused",
        title: "The root user's credentials were not used recently",
        maps_to: "CIS AWS 1.4 1.7; Security Hub IAM.20, CloudWatch.1",
    },
];

/// The informational Insights check is reported after the others.
pub const INSIGHTS: CheckDef = CheckDef {
    id: "INS.1",
    slug: "insights",
    title: "CloudTrail Insights is enabled (informational)",
    maps_to: "Guide: enable CloudTrail Insights",
};

/// Every check definition, in report order.
#[must_use]
pub fn all_checks() -> Vec<CheckDef> {
    let mut v = CHECKS.to_vec();
    v.push(INSIGHTS);
    v
}

/// What decided a verdict: a resource (ARN or name) and what was seen there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The trail ARN, bucket, key, policy, log group ... (may be empty for account-wide facts).
    pub resource: String,
    /// What was observed.
    pub detail: String,
}

impl Evidence {
    /// Evidence about `resource`.
    pub fn new(resource: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            detail: detail.into(),
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// `CT.1`.
    pub id: String,
    /// `multi-region-trail`.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Practice and controls.
    pub maps_to: String,
    /// Verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub summary: String,
    /// What decided it.
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    /// A result for `def`.
    #[must_use]
    pub fn new(def: &CheckDef, verdict: Verdict, summary: impl Into<String>) -> Self {
        Self {
            id: def.id.into(),
            slug: def.slug.into(),
            title: def.title.into(),
            maps_to: def.maps_to.into(),
            verdict,
            summary: summary.into(),
            evidence: Vec::new(),
        }
    }

    /// Adds evidence.
    #[must_use]
    pub fn with(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence = evidence;
        self
    }
}

/// Thresholds, from flags or a small TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// A digest older than this many hours is stale (CT.6).
    pub digest_max_age_hours: u32,
    /// CloudWatch Logs delivery older than this many hours is stale (CW.1).
    pub cloudwatch_max_age_hours: u32,
    /// Root use within this many days is a finding (IAM.2).
    pub root_unused_days: u32,
    /// At most this many principals may hold AWSCloudTrail_FullAccess (IAM.1).
    pub max_full_access_principals: usize,
    /// Role or user name patterns (`*` wildcard, case-insensitive) that mark workloads (IAM.1).
    pub workload_role_patterns: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            digest_max_age_hours: 2,
            cloudwatch_max_age_hours: 24,
            root_unused_days: 90,
            max_full_access_principals: 3,
            workload_role_patterns: vec![
                "*lambda*".into(),
                "*ec2*".into(),
                "*ecs*".into(),
                "*eks*".into(),
                "*app*".into(),
                "*service*".into(),
                "*workload*".into(),
            ],
        }
    }
}

impl Thresholds {
    /// Reads a TOML file of thresholds (unknown keys rejected, missing keys default).
    ///
    /// # Errors
    /// A message naming the problem.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("invalid thresholds: {e}"))
    }
}

/// Matches a `*` glob, case-insensitively.
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_slugs_are_unique() {
        let all = all_checks();
        let mut ids: Vec<_> = all.iter().map(|c| c.id).collect();
        let mut slugs: Vec<_> = all.iter().map(|c| c.slug).collect();
        ids.sort_unstable();
        ids.dedup();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(ids.len(), all.len());
        assert_eq!(slugs.len(), all.len());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*lambda*", "MyLambdaExecRole"));
        assert!(glob_match("app-*", "APP-web"));
        assert!(!glob_match("app-*", "admin"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "ac"));
    }

    #[test]
    fn thresholds_toml() {
        let t = Thresholds::from_toml(
            "max_full_access_principals = 1\nworkload_role_patterns = [\"web-*\"]\n",
        )
        .unwrap();
        assert_eq!(t.max_full_access_principals, 1);
        assert_eq!(t.digest_max_age_hours, 2);
        assert!(Thresholds::from_toml("nope = 1").is_err());
    }
}
