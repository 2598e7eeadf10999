//! What an ingest path accepts: regions, accounts and size limits.

use std::collections::HashSet;

use crate::{AccountId, Region, default_regions};

/// CloudTrail's whole-event limit: 256 KB (`cloudtrail-formats.md` §3, §4.4).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Per-field size limits (`cloudtrail-formats.md` §4.4). AWS truncates or omits oversized
/// fields; Cairn's ingest rejects the record instead and names the field.
///
/// Strings are measured as UTF-8 bytes of the decoded text, objects as bytes of their
/// compact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldLimits {
    /// `userAgent`, `errorCode`, `errorMessage`, `requestID`: 1 KB.
    pub short_text: usize,
    /// `requestParameters`, `responseElements`, `serviceEventDetails`: 100 KB.
    pub large_object: usize,
    /// `additionalEventData`, `edgeDeviceDetails`: 28 KB.
    pub small_object: usize,
    /// `eventSource`, `eventName`, `sourceIPAddress`: 1 KB. The spec gives no limit for
    /// trail records; this is the activity-audit-log schema's limit, applied to all.
    pub name: usize,
}

impl Default for FieldLimits {
    fn default() -> Self {
        Self {
            short_text: 1024,
            large_object: 100 * 1024,
            small_object: 28 * 1024,
            name: 1024,
        }
    }
}

/// The rules one ingest path applies to every record.
///
/// ```
/// use cairn_event::{AccountId, IngestPolicy, Region};
/// let policy = IngestPolicy::new(AccountId::parse("111122223333").unwrap())
///     .with_regions([Region::parse("eu-west-1").unwrap()]);
/// assert!(policy.allows_region("eu-west-1"));
/// assert!(!policy.allows_region("us-east-1"));
/// ```
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    regions: HashSet<String>,
    default_account: AccountId,
    allowed_accounts: Option<HashSet<String>>,
    max_event_bytes: usize,
    limits: FieldLimits,
    guid_event_ids: bool,
}

impl IngestPolicy {
    /// A policy with Cairn's default regions ([`default_regions`]), any recipient account,
    /// the 256 KB event limit, the §4.4 field limits and loose event IDs. Records without
    /// `recipientAccountId` are attributed to `default_account` (the caller's account).
    pub fn new(default_account: AccountId) -> Self {
        Self {
            regions: default_regions()
                .into_iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            default_account,
            allowed_accounts: None,
            max_event_bytes: MAX_EVENT_BYTES,
            limits: FieldLimits::default(),
            guid_event_ids: false,
        }
    }

    /// Replaces the configured regions.
    pub fn with_regions(mut self, regions: impl IntoIterator<Item = Region>) -> Self {
        self.regions = regions.into_iter().map(|r| r.as_str().to_owned()).collect();
        self
    }

    /// Adds regions to the configured ones.
    pub fn add_regions(mut self, regions: impl IntoIterator<Item = Region>) -> Self {
        self.regions
            .extend(regions.into_iter().map(|r| r.as_str().to_owned()));
        self
    }

    /// Accepts only records whose recipient account is one of `accounts`
    /// (others fail with `InvalidRecipient`).
    pub fn with_allowed_accounts(mut self, accounts: impl IntoIterator<Item = AccountId>) -> Self {
        self.allowed_accounts = Some(
            accounts
                .into_iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        );
        self
    }

    /// Sets the whole-event limit (compact JSON bytes). Lake event data stores allow 1 MB.
    pub fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Sets the per-field limits.
    pub fn with_field_limits(mut self, limits: FieldLimits) -> Self {
        self.limits = limits;
        self
    }

    /// When `true`, a present `eventID` must be a hyphenated GUID
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits). The default (`false`) accepts
    /// 1–128 characters of `[-_A-Za-z0-9]`, because AWS's own documentation examples use
    /// IDs such as `EXAMPLE8-9621-4d00-b913-beca2EXAMPLE`.
    pub fn with_guid_event_ids(mut self, strict: bool) -> Self {
        self.guid_event_ids = strict;
        self
    }

    /// Whether `region` is configured.
    pub fn allows_region(&self, region: &str) -> bool {
        self.regions.contains(region)
    }

    /// Whether records for `account` are accepted.
    pub fn allows_account(&self, account: &str) -> bool {
        self.allowed_accounts
            .as_ref()
            .is_none_or(|set| set.contains(account))
    }

    /// The account records without `recipientAccountId` are attributed to.
    pub fn default_account(&self) -> &AccountId {
        &self.default_account
    }

    /// The whole-event limit in bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The per-field limits.
    pub fn field_limits(&self) -> &FieldLimits {
        &self.limits
    }

    /// Whether event IDs must be GUIDs.
    pub fn guid_event_ids(&self) -> bool {
        self.guid_event_ids
    }
}
