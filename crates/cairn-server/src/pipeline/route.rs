//! Which trails an event belongs to.
//!
//! A [`RouteTable`] is compiled from the trail set once per configuration change (selectors
//! compiled, scopes resolved); routing one event then does no allocation beyond the iterator.
//!
//! An event belongs to a trail when all of these hold:
//! - the trail is logging (events that arrive while it is stopped are not delivered);
//! - region: a multi-region trail takes every enabled region, a single-region trail only its
//!   home region;
//! - account: the event's `recipientAccountId` is the trail's account, or, for an
//!   organization trail, any account of the organization;
//! - global service events (IAM, STS global endpoint, CloudFront, ... recorded in `us-east-1`)
//!   only go to trails that include global service events;
//! - at least one of the trail's selectors matches.

use std::collections::HashSet;

use cairn_logfile::layout::Prefix;
use cairn_select::CompiledSelectors;

use super::envelope::Envelope;
use crate::config::Config;
use crate::model::Trail;

/// One trail, ready for routing.
#[derive(Debug)]
pub struct RouteTrail {
    /// Trail ARN.
    pub arn: String,
    /// Trail name.
    pub name: String,
    /// Owner account.
    pub account: String,
    /// Home region.
    pub home_region: String,
    /// Destination bucket.
    pub bucket: String,
    /// Key prefix.
    pub prefix: Prefix,
    /// Organization ID for organization trails.
    pub org_id: Option<String>,
    /// Whether the trail writes digests.
    pub log_file_validation: bool,
    /// KMS key for SSE-KMS.
    pub kms_key_id: Option<String>,
    /// CloudWatch Logs log group the trail streams to.
    pub log_group_arn: Option<String>,
    multi_region: bool,
    include_global: bool,
    logging: bool,
    org_members: HashSet<String>,
    selectors: CompiledSelectors,
}

/// All trails, compiled.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// The trails, in a stable order.
    pub trails: Vec<RouteTrail>,
    regions: HashSet<String>,
}

impl RouteTable {
    /// Compiles the trail set.
    pub fn build(trails: &[Trail], config: &Config) -> RouteTable {
        let mut sorted: Vec<&Trail> = trails.iter().collect();
        sorted.sort_by_key(|t| t.arn());
        let org = config.organization.as_ref();
        let out = sorted
            .into_iter()
            .map(|t| {
                let org_members: HashSet<String> = match (t.is_organization, org) {
                    (true, Some(o)) if o.management_account.as_str() == t.account_id => {
                        std::iter::once(o.management_account.to_string())
                            .chain(o.member_accounts.iter().map(|a| a.to_string()))
                            .collect()
                    }
                    _ => HashSet::new(),
                };
                RouteTrail {
                    arn: t.arn(),
                    name: t.name.clone(),
                    account: t.account_id.clone(),
                    home_region: t.home_region.clone(),
                    bucket: t.s3_bucket_name.clone(),
                    prefix: Prefix::new(t.s3_key_prefix.as_deref().unwrap_or(""))
                        .unwrap_or_default(),
                    org_id: (!org_members.is_empty())
                        .then(|| org.map(|o| o.id.to_string()))
                        .flatten(),
                    log_file_validation: t.log_file_validation,
                    kms_key_id: t.kms_key_id.clone(),
                    log_group_arn: t.cloud_watch_logs_log_group_arn.clone(),
                    multi_region: t.is_multi_region,
                    include_global: t.include_global_service_events,
                    logging: t.logging,
                    org_members,
                    selectors: CompiledSelectors::compile(&t.selectors),
                }
            })
            .collect();
        RouteTable {
            trails: out,
            regions: config.regions.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// Indexes (into [`RouteTable::trails`]) of the trails that take `e`.
    pub fn route<'a>(&'a self, e: &'a Envelope<'a>) -> impl Iterator<Item = usize> + 'a {
        let view = e.view();
        self.trails
            .iter()
            .enumerate()
            .filter(move |(_, t)| self.in_scope(t, e) && t.selectors.matches(&view))
            .map(|(i, _)| i)
    }

    fn in_scope(&self, t: &RouteTrail, e: &Envelope<'_>) -> bool {
        if !t.logging {
            return false;
        }
        let region_ok = if t.multi_region {
            self.regions.contains(e.aws_region)
        } else {
            e.aws_region == t.home_region
        };
        if !region_ok {
            return false;
        }
        let account_ok =
            e.recipient_account_id == t.account || t.org_members.contains(e.recipient_account_id);
        if !account_ok {
            return false;
        }
        !e.global_service || t.include_global
    }
}
