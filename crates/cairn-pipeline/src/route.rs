//! Which trails an event belongs to.
//!
//! A [`RouteTable`] is compiled from the trail set once per configuration change (selectors
//! compiled, scopes resolved); routing one event then does no allocation beyond the iterator.
//!
//! Trails are taken as they were *at the event's journal position*: a [`Router`] follows the
//! control plane's configuration history ([`TrailSet::history`]) and hands out the table
//! of the version in force at each record's sequence number, so a record journaled while a
//! trail was logging is delivered to it even when the router reads it after a StopLogging
//! (or an UpdateTrail, DeleteTrail, PutEventSelectors) committed.
//!
//! An event belongs to a trail when all of these hold:
//! - the trail is logging (events recorded while it is stopped are not delivered), or the
//!   event is the successful StopLogging call on this very trail: CloudTrail delivers the
//!   call that stopped a trail to that trail;
//! - region: a multi-region trail takes every enabled region, a single-region trail only its
//!   home region;
//! - account: the event's `recipientAccountId` is the trail's account, or, for an
//!   organization trail, any account of the organization;
//! - global service events (IAM, STS global endpoint, CloudFront, ... recorded in `us-east-1`)
//!   only go to trails that include global service events;
//! - at least one of the trail's selectors matches.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_logfile::layout::Prefix;
use cairn_select::CompiledSelectors;

use cairn_catalog::model::Trail;

use crate::config::PipelineConfig;
use crate::envelope::Envelope;
use crate::trailset::{TrailSet, TrailVersion};

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
    /// The trail as configured in this version (delivery re-checks its bucket's consent).
    pub trail: Trail,
    multi_region: bool,
    include_global: bool,
    logging: bool,
    org_members: HashSet<String>,
    selectors: CompiledSelectors,
}

impl RouteTrail {
    /// Whether the trail was logging in this configuration (a stopped one takes only the
    /// StopLogging call on itself).
    pub fn is_logging(&self) -> bool {
        self.logging
    }
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
    pub fn build(trails: &[Trail], config: &PipelineConfig) -> RouteTable {
        let mut sorted: Vec<&Trail> = trails.iter().collect();
        sorted.sort_by_key(|t| t.arn());
        let org = config.organization.as_ref();
        let out = sorted
            .into_iter()
            .map(|t| {
                let org_members: HashSet<String> = match (t.is_organization, org) {
                    (true, Some(o)) if o.management_account == t.account_id => {
                        std::iter::once(o.management_account.clone())
                            .chain(o.member_accounts.iter().cloned())
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
                        .then(|| org.map(|o| o.id.clone()))
                        .flatten(),
                    log_file_validation: t.log_file_validation,
                    kms_key_id: t.kms_key_id.clone(),
                    log_group_arn: t.cloud_watch_logs_log_group_arn.clone(),
                    trail: t.clone(),
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
            regions: config.regions.iter().cloned().collect(),
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
        if !t.logging && !stops(t, e) {
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

/// Whether `e` is a successful `StopLogging` call on trail `t` (by name or ARN, from the
/// trail's own account and home region, the only place it can succeed).
fn stops(t: &RouteTrail, e: &Envelope<'_>) -> bool {
    if e.event_name != "StopLogging"
        || e.event_source != "cloudtrail.amazonaws.com"
        || e.error_code.is_some()
        || e.recipient_account_id != t.account
        || e.aws_region != t.home_region
    {
        return false;
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Record {
        request_parameters: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<String>,
    }
    serde_json::from_slice::<Record>(e.record)
        .ok()
        .and_then(|r| r.request_parameters)
        .and_then(|p| p.name)
        .is_some_and(|n| n == t.name || n == t.arn)
}

/// Route tables by journal position: the table of the trail configuration in force at each
/// record's sequence number.
///
/// Records must be asked for in ascending sequence order, after they were read from the
/// journal (a version committed after a read starts past every record of that read).
pub struct Router {
    trails: Arc<dyn TrailSet>,
    config: Arc<PipelineConfig>,
    generation: Option<u64>,
    history: Vec<TrailVersion>,
    /// The trail set the current table was compiled from, and the table.
    current: Option<(Arc<Vec<Trail>>, Arc<RouteTable>)>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("versions", &self.history.len())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over `trails`' configuration history.
    pub fn new(trails: Arc<dyn TrailSet>, config: Arc<PipelineConfig>) -> Router {
        Router {
            trails,
            config,
            generation: None,
            history: Vec::new(),
            current: None,
        }
    }

    fn refresh(&mut self) {
        let g = self.trails.history_generation();
        if self.generation != Some(g) {
            self.history = self.trails.history();
            self.generation = Some(g);
        }
    }

    /// Whether any trail of any configuration version still routed by satisfies `f` (e.g.
    /// streams to a log group), to skip work no version can need.
    pub fn any_trail(&mut self, f: impl Fn(&Trail) -> bool) -> bool {
        self.refresh();
        self.history.iter().any(|v| v.trails.iter().any(&f))
    }

    /// The table for the record at `seq`, and whether it is another table than the one the
    /// previous call returned (what was batched under the previous one belongs to it).
    pub fn table_at(&mut self, seq: u64) -> (Arc<RouteTable>, bool) {
        self.refresh();
        let trails = version_at(&self.history, seq)
            .map(|v| v.trails.clone())
            .unwrap_or_default();
        match &self.current {
            Some((source, table)) if Arc::ptr_eq(source, &trails) => (table.clone(), false),
            _ => {
                let table = Arc::new(RouteTable::build(&trails, &self.config));
                let changed = self.current.is_some();
                self.current = Some((trails, table.clone()));
                (table, changed)
            }
        }
    }
}

/// The version in force at `seq`: the last one starting at or before it (the oldest kept one
/// for records older than every kept version).
fn version_at(history: &[TrailVersion], seq: u64) -> Option<&TrailVersion> {
    let i = history.partition_point(|v| v.from_seq <= seq);
    history.get(i.saturating_sub(1))
}
