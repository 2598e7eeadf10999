//! The catalog's records: trails, buckets, credentials.

use cairn_select::Selectors;
use serde::{Deserialize, Serialize};

/// A trail as stored. Its identity is (account, home region, name).
///
/// Stored as JSON in the catalog with a version marker (`v`); old shapes are kept as
/// frozen modules when the shape changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    /// Shape version.
    pub v: u32,
    /// Trail name.
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Region the trail was created in.
    pub home_region: String,
    /// Destination bucket.
    pub s3_bucket_name: String,
    /// Key prefix without a trailing `/`.
    pub s3_key_prefix: Option<String>,
    /// SNS topic ARN for delivery notifications.
    pub sns_topic_arn: Option<String>,
    /// Whether global service events are included.
    pub include_global_service_events: bool,
    /// Whether the trail covers every enabled region.
    pub is_multi_region: bool,
    /// Whether digest files are written.
    pub log_file_validation: bool,
    /// CloudWatch Logs log group ARN.
    pub cloud_watch_logs_log_group_arn: Option<String>,
    /// Role used for CloudWatch Logs delivery.
    pub cloud_watch_logs_role_arn: Option<String>,
    /// KMS key ARN for SSE-KMS.
    pub kms_key_id: Option<String>,
    /// Whether the trail covers every account of the organization.
    pub is_organization: bool,
    /// Event selectors (basic or advanced).
    pub selectors: Selectors,
    /// Insights selectors (empty = Insights off).
    pub insight_selectors: Vec<InsightSelector>,
    /// Tags in insertion order.
    pub tags: Vec<Tag>,
    /// Whether the trail is logging.
    pub logging: bool,
    /// Epoch seconds of the latest StartLogging.
    pub start_logging_time: Option<f64>,
    /// Epoch seconds of the latest StopLogging.
    pub stop_logging_time: Option<f64>,
    /// Epoch seconds of creation.
    pub created: f64,
}

/// Current [`Trail::v`].
pub const TRAIL_VERSION: u32 = 1;

impl Trail {
    /// A trail as CreateTrail makes one before applying its settings: no bucket yet, the
    /// default event selectors, global service events included, single-region, not logging,
    /// no Insights, tags, CloudWatch Logs, SNS topic or KMS key.
    pub fn new(account: &str, home_region: &str, name: &str, created: f64) -> Self {
        Trail {
            v: TRAIL_VERSION,
            name: name.to_owned(),
            account_id: account.to_owned(),
            home_region: home_region.to_owned(),
            s3_bucket_name: String::new(),
            s3_key_prefix: None,
            sns_topic_arn: None,
            include_global_service_events: true,
            is_multi_region: false,
            log_file_validation: false,
            cloud_watch_logs_log_group_arn: None,
            cloud_watch_logs_role_arn: None,
            kms_key_id: None,
            is_organization: false,
            selectors: Selectors::default_for_trail(),
            insight_selectors: Vec::new(),
            tags: Vec::new(),
            logging: false,
            start_logging_time: None,
            stop_logging_time: None,
            created,
        }
    }

    /// `arn:aws:cloudtrail:{home}:{account}:trail/{name}`.
    pub fn arn(&self) -> String {
        trail_arn(&self.home_region, &self.account_id, &self.name)
    }
}

/// Builds a trail ARN.
pub fn trail_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:cloudtrail:{region}:{account}:trail/{name}")
}

/// `{Key, Value?}` as CloudTrail models tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// 1..=128 characters.
    #[serde(rename = "Key")]
    pub key: String,
    /// 0..=256 characters; may be absent.
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `{InsightType, EventCategories?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsightSelector {
    /// `ApiCallRateInsight` or `ApiErrorRateInsight`.
    #[serde(rename = "InsightType")]
    pub insight_type: String,
    /// `Management` and/or `Data`.
    #[serde(
        rename = "EventCategories",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_categories: Option<Vec<String>>,
}

/// A local bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket name.
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Region the bucket lives in.
    pub region: String,
    /// Creation time, epoch seconds.
    pub created: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_trail_is_a_default_create_trail() {
        let t = Trail::new("111111111111", "us-east-1", "t", 5.0);
        assert_eq!(t.v, TRAIL_VERSION);
        assert_eq!(t.arn(), "arn:aws:cloudtrail:us-east-1:111111111111:trail/t");
        assert_eq!(t.selectors, Selectors::default_for_trail());
        assert!(t.include_global_service_events && !t.is_multi_region && !t.logging);
        assert!(t.s3_bucket_name.is_empty() && t.tags.is_empty());
        assert_eq!(t.created, 5.0);
    }
}
