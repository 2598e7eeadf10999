//! The settings the pipeline reads (the server derives them from its configuration file).

use std::collections::BTreeSet;
use std::time::Duration;

/// The organization a management account's organization trails cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationScope {
    /// Organization id (`o-...`).
    pub id: String,
    /// The management account.
    pub management_account: String,
    /// The member accounts.
    pub member_accounts: BTreeSet<String>,
}

/// What the pipeline needs of the server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Enabled regions (a multi-region trail takes each of them).
    pub regions: BTreeSet<String>,
    /// The organization, if one is configured.
    pub organization: Option<OrganizationScope>,
    /// How long a batch stays open before it is sealed.
    pub delivery_interval: Duration,
    /// Period of the digest files.
    pub digest_period: Duration,
}

impl PipelineConfig {
    /// Whether `region` is enabled.
    pub fn region_enabled(&self, region: &str) -> bool {
        self.regions.contains(region)
    }
}
