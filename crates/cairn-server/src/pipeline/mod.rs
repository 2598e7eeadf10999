//! The event pipeline ([`cairn_pipeline`]) wired to this server: the control plane is the
//! pipeline's [`TrailSet`] and keeps its [`cairn_pipeline::StatusSink`]
//! ([`ControlPlane::delivery_status`]), and the configuration file gives its
//! [`PipelineConfig`].

use std::sync::Arc;

use cairn_pipeline::{ConsentError, OrganizationScope, PipelineConfig, TrailSet, TrailVersion};
pub use cairn_pipeline::{deliver, digest, envelope, monitor, route};

use crate::cloudtrail::ControlPlane;
use crate::config::Config;
use crate::model::Trail;

/// The pipeline's view of `config`.
pub fn pipeline_config(config: &Config) -> PipelineConfig {
    PipelineConfig {
        regions: config.regions.iter().map(|r| r.to_string()).collect(),
        organization: config.organization.as_ref().map(|o| OrganizationScope {
            id: o.id.to_string(),
            management_account: o.management_account.to_string(),
            member_accounts: o.member_accounts.iter().map(|a| a.to_string()).collect(),
        }),
        delivery_interval: config.delivery_interval,
        digest_period: config.digest_period,
    }
}

impl TrailSet for ControlPlane {
    fn all_trails(&self) -> Vec<Trail> {
        ControlPlane::all_trails(self)
    }
    fn history(&self) -> Vec<TrailVersion> {
        ControlPlane::history(self)
    }
    fn history_generation(&self) -> u64 {
        ControlPlane::history_generation(self)
    }
    fn prune_history(&self, seq: u64) {
        ControlPlane::prune_history(self, seq);
    }
    fn attach_journal(&self, journal: Arc<cairn_journal::Journal>) {
        ControlPlane::attach_journal(self, journal);
    }
    fn delivery_consent(&self, t: &Trail) -> Result<(), ConsentError> {
        ControlPlane::delivery_consent(self, t).map_err(|e| ConsentError {
            denied: e.code == "InsufficientS3BucketPolicyException",
            message: e.message,
        })
    }
    fn notify_delivered(&self, t: &Trail, bucket: &str, key: &str) -> Result<bool, String> {
        ControlPlane::notify_delivered(self, t, bucket, key)
    }
}

#[cfg(test)]
mod tests;
