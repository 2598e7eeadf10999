//! The facts the checks decide on, as read from the APIs. Every fact that needs a call is a
//! [`Fetched`]: the value, or the call's failure (which becomes `unknown` evidence).
//! Nothing here does I/O; [`crate::gather`] fills it, tests build it by hand.

use std::collections::BTreeMap;

use time::OffsetDateTime;

pub use crate::aws::{ApiFailure, Fetched};

/// Everything gathered for one run.
#[derive(Debug, Clone)]
pub struct Facts {
    /// When the facts were read.
    pub now: OffsetDateTime,
    /// The region the run started in.
    pub region: String,
    /// STS GetCallerIdentity.
    pub caller: Fetched<Caller>,
    /// Regions that must have a logging trail, and where that list came from.
    pub regions: Regions,
    /// Trails, each once (shadow copies folded into their home-region trail).
    pub trails: Fetched<Vec<Trail>>,
    /// Per region: the trail ARNs DescribeTrails(includeShadowTrails) lists there.
    pub region_trails: BTreeMap<String, Fetched<Vec<String>>>,
    /// Organizations: `Ok(None)` when the account is not in an organization.
    pub organization: Fetched<Option<Organization>>,
    /// The trails' buckets, by name.
    pub buckets: BTreeMap<String, Bucket>,
    /// ListBuckets: the caller's canonical user id and the buckets the caller owns.
    pub own_buckets: Fetched<OwnBuckets>,
    /// The trails' KMS keys, by the trail's KmsKeyId.
    pub keys: BTreeMap<String, Key>,
    /// The trails' log groups, by log group ARN.
    pub log_groups: BTreeMap<String, LogGroup>,
    /// CloudWatch alarms per region.
    pub alarms: BTreeMap<String, Fetched<Vec<Alarm>>>,
    /// SNS: number of confirmed subscriptions per topic ARN.
    pub topic_subscriptions: BTreeMap<String, Fetched<usize>>,
    /// Principals the CloudTrail full-access managed policy is attached to.
    pub full_access: Fetched<Vec<PolicyEntity>>,
    /// Root use: the credential report's root row.
    pub root_report: Fetched<Option<RootReport>>,
    /// IAM GetAccountSummary (`AccountMFAEnabled`, `AccountAccessKeysPresent`, ...).
    pub account_summary: Fetched<BTreeMap<String, i64>>,
    /// Root use: LookupEvents(Username=root) within the window, newest first.
    pub root_events: Fetched<Vec<RootEvent>>,
    /// Latest digest per trail ARN and region, from listing the bucket.
    pub digests: BTreeMap<String, Fetched<BTreeMap<String, OffsetDateTime>>>,
    /// Per organization trail ARN: the organization id its bucket's listing shows
    /// (`AWSLogs/o-.../`), for when Organizations cannot be asked.
    pub digest_organizations: BTreeMap<String, String>,
    /// `cairn validate` over the last day, per trail ARN (only with `--validate`).
    pub validations: BTreeMap<String, Fetched<Validation>>,
}

/// The outcome of validating a trail's digest chain and log files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Every digest and log file valid.
    pub ok: bool,
    /// Counts, as `cairn validate` reports them.
    pub summary: String,
}

/// STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Account id.
    pub account: String,
    /// Caller ARN.
    pub arn: String,
}

/// The region list and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions {
    /// Regions, sorted.
    pub list: Vec<String>,
    /// `true` when given with `--regions`; otherwise derived from the trails.
    pub explicit: bool,
}

/// One trail, as DescribeTrails in its home region shows it, plus its status and selectors.
#[derive(Debug, Clone)]
pub struct Trail {
    /// Trail ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Home region.
    pub home_region: String,
    /// Owning account (from the ARN).
    pub account: String,
    /// IsMultiRegionTrail.
    pub multi_region: bool,
    /// IsOrganizationTrail.
    pub organization: bool,
    /// IncludeGlobalServiceEvents.
    pub global_events: bool,
    /// LogFileValidationEnabled.
    pub validation: bool,
    /// S3BucketName.
    pub bucket: String,
    /// S3KeyPrefix.
    pub prefix: Option<String>,
    /// KmsKeyId.
    pub kms_key: Option<String>,
    /// CloudWatchLogsLogGroupArn.
    pub log_group_arn: Option<String>,
    /// GetTrailStatus.
    pub status: Fetched<TrailStatus>,
    /// GetEventSelectors.
    pub selectors: Fetched<Selectors>,
    /// GetInsightSelectors: the insight types enabled (empty when none).
    pub insights: Fetched<Vec<String>>,
}

/// GetTrailStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailStatus {
    /// IsLogging.
    pub is_logging: bool,
    /// LatestDigestDeliveryTime.
    pub latest_digest: Option<OffsetDateTime>,
    /// LatestCloudWatchLogsDeliveryTime.
    pub latest_cloudwatch: Option<OffsetDateTime>,
    /// LatestDeliveryError.
    pub latest_delivery_error: Option<String>,
}

/// A trail's event selectors: basic or advanced (never both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selectors {
    /// EventSelectors.
    Basic(Vec<BasicSelector>),
    /// AdvancedEventSelectors.
    Advanced(Vec<AdvancedSelector>),
}

/// One basic event selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write: String,
    /// IncludeManagementEvents.
    pub include_management: bool,
    /// ExcludeManagementEventSources.
    pub exclude_management_sources: Vec<String>,
    /// DataResources: (Type, Values).
    pub data_resources: Vec<(String, Vec<String>)>,
}

/// One advanced event selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvancedSelector {
    /// Name.
    pub name: Option<String>,
    /// FieldSelectors.
    pub fields: Vec<FieldSelector>,
}

/// One field condition of an advanced selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// Field name (`eventCategory`, `resources.type`, `resources.ARN`, `readOnly`, ...).
    pub field: String,
    /// Equals.
    pub equals: Vec<String>,
    /// StartsWith.
    pub starts_with: Vec<String>,
    /// EndsWith.
    pub ends_with: Vec<String>,
    /// NotEquals.
    pub not_equals: Vec<String>,
    /// NotStartsWith.
    pub not_starts_with: Vec<String>,
    /// NotEndsWith.
    pub not_ends_with: Vec<String>,
}

/// Organizations DescribeOrganization / ListAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `o-...`.
    pub id: String,
    /// Management account.
    pub management_account: String,
    /// Active member accounts (including the management account).
    pub accounts: Fetched<Vec<String>>,
}

/// ListBuckets: the buckets the calling account owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnBuckets {
    /// Owner canonical id.
    pub owner: String,
    /// Bucket names.
    pub names: Vec<String>,
}

/// A trail bucket's settings.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// GetBucketAcl: owner canonical id and the grantee URIs/ids of its grants.
    pub acl: Fetched<Acl>,
    /// GetPublicAccessBlock (`None`: not configured).
    pub public_access_block: Fetched<Option<PublicAccessBlock>>,
    /// GetBucketPolicy (`None`: no policy).
    pub policy: Fetched<Option<String>>,
    /// GetBucketVersioning.
    pub versioning: Fetched<Versioning>,
    /// GetObjectLockConfiguration (`None`: not configured).
    pub object_lock: Fetched<Option<ObjectLock>>,
    /// GetBucketLogging: the target bucket, `None` when off.
    pub logging: Fetched<Option<String>>,
    /// GetBucketLifecycleConfiguration: (rule id, enabled).
    pub lifecycle: Fetched<Vec<(String, bool)>>,
    /// GetBucketEncryption: the default SSE algorithm (`None`: not configured).
    pub encryption: Fetched<Option<String>>,
}

/// GetBucketAcl.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// Owner canonical id.
    pub owner: String,
    /// Grants: (grantee id or group URI, permission).
    pub grants: Vec<(String, String)>,
}

/// The four public access block settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// BlockPublicAcls.
    pub block_public_acls: bool,
    /// IgnorePublicAcls.
    pub ignore_public_acls: bool,
    /// BlockPublicPolicy.
    pub block_public_policy: bool,
    /// RestrictPublicBuckets.
    pub restrict_public_buckets: bool,
}

/// GetBucketVersioning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioning {
    /// `Enabled`, `Suspended`, or empty (never enabled).
    pub status: String,
    /// `Enabled`, `Disabled`, or empty.
    pub mfa_delete: String,
}

/// GetObjectLockConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectLock {
    /// ObjectLockEnabled = Enabled.
    pub enabled: bool,
    /// Default retention: mode and a period text (`30 days`).
    pub default_retention: Option<(String, String)>,
}

/// A KMS key as DescribeKey, GetKeyRotationStatus and GetKeyPolicy show it.
#[derive(Debug, Clone)]
pub struct Key {
    /// KmsKeyId as the trail names it.
    pub id: String,
    /// DescribeKey: (KeyManager, KeyState, Arn).
    pub metadata: Fetched<(String, String, String)>,
    /// GetKeyRotationStatus.
    pub rotation: Fetched<bool>,
    /// GetKeyPolicy (policy name `default`).
    pub policy: Fetched<String>,
}

/// A log group and its metric filters.
#[derive(Debug, Clone)]
pub struct LogGroup {
    /// Log group name.
    pub name: String,
    /// Region (from the ARN).
    pub region: String,
    /// DescribeMetricFilters.
    pub filters: Fetched<Vec<MetricFilter>>,
    /// DescribeLogStreams (newest first): the latest ingestion time.
    pub last_ingestion: Fetched<Option<OffsetDateTime>>,
}

/// One metric filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricFilter {
    /// filterName.
    pub name: String,
    /// filterPattern.
    pub pattern: String,
    /// (metricNamespace, metricName) of each transformation.
    pub metrics: Vec<(String, String)>,
}

/// One metric alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// AlarmName.
    pub name: String,
    /// AlarmArn.
    pub arn: String,
    /// Namespace.
    pub namespace: String,
    /// MetricName.
    pub metric: String,
    /// ActionsEnabled.
    pub actions_enabled: bool,
    /// AlarmActions.
    pub actions: Vec<String>,
}

/// A principal a managed policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntity {
    /// `user`, `role` or `group`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// The managed policy's name.
    pub policy: String,
}

/// The credential report's `<root_account>` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootReport {
    /// password_last_used.
    pub password_last_used: Option<OffsetDateTime>,
    /// access_key_1_last_used_date, access_key_2_last_used_date.
    pub keys_last_used: Vec<OffsetDateTime>,
    /// access_key_1_active / access_key_2_active.
    pub active_keys: usize,
}

/// A root event from LookupEvents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootEvent {
    /// EventTime.
    pub time: OffsetDateTime,
    /// EventName.
    pub name: String,
    /// EventSource.
    pub source: String,
    /// ReadOnly (LookupEvents' answer).
    pub read_only: bool,
}

impl Facts {
    /// Facts with nothing known yet: every fetched value is `err` (for tests and as a start).
    #[must_use]
    pub fn empty(now: OffsetDateTime, region: &str, err: &ApiFailure) -> Self {
        Self {
            now,
            region: region.to_owned(),
            caller: Err(err.clone()),
            regions: Regions {
                list: vec![region.to_owned()],
                explicit: false,
            },
            trails: Ok(Vec::new()),
            region_trails: BTreeMap::new(),
            organization: Err(err.clone()),
            buckets: BTreeMap::new(),
            own_buckets: Err(err.clone()),
            keys: BTreeMap::new(),
            log_groups: BTreeMap::new(),
            alarms: BTreeMap::new(),
            topic_subscriptions: BTreeMap::new(),
            full_access: Err(err.clone()),
            root_report: Err(err.clone()),
            account_summary: Err(err.clone()),
            root_events: Err(err.clone()),
            digests: BTreeMap::new(),
            digest_organizations: BTreeMap::new(),
            validations: BTreeMap::new(),
        }
    }
}
