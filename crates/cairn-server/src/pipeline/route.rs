//! Which trails an event belongs to.
//!
//! A [`RouteTable`] is compiled from the trail set once per configuration change (selectors
//! compiled, scopes resolved); routing one event then does no allocation beyond the iterator.
//!
//! Trails are taken as they were *at the event's journal position*: a [`Router`] follows the
//! control plane's configuration history ([`ControlPlane::history`]) and hands out the table
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

use super::envelope::Envelope;
use crate::cloudtrail::{ControlPlane, TrailVersion};
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
    control: Arc<ControlPlane>,
    config: Arc<Config>,
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
    /// A router over `control`'s configuration history.
    pub fn new(control: Arc<ControlPlane>, config: Arc<Config>) -> Router {
        Router {
            control,
            config,
            generation: None,
            history: Vec::new(),
            current: None,
        }
    }

    fn refresh(&mut self) {
        let g = self.control.history_generation();
        if self.generation != Some(g) {
            self.history = self.control.history();
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::{Rng, SeedableRng};
    use serde_json::json;
    use time::OffsetDateTime;

    use super::super::envelope::{self, RouteKeys};
    use super::*;
    use crate::catalog::Catalog;
    use crate::cloudtrail::{CallContext, Operation};

    const ACCT: &str = crate::config::DEFAULT_ACCOUNT_ID;

    struct World {
        _dir: tempfile::TempDir,
        control: Arc<ControlPlane>,
        config: Arc<Config>,
        journal: Arc<cairn_journal::Journal>,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(Config::for_data_dir(dir.path()));
        let control = Arc::new(crate::cloudtrail::test_control(dir.path()));
        let journal = Arc::new(
            cairn_journal::Journal::open(dir.path().join("journal"), Default::default()).unwrap(),
        );
        control.attach_journal(journal.clone());
        World {
            _dir: dir,
            control,
            config,
            journal,
        }
    }

    fn ctx() -> CallContext {
        CallContext {
            account: ACCT.to_owned(),
            region: "us-east-1".to_owned(),
            now: OffsetDateTime::now_utc(),
        }
    }

    /// Journals one management event; returns its sequence number.
    fn journal_event(w: &World, name: &str, request: serde_json::Value) -> u64 {
        let keys = RouteKeys {
            event_id: uuid::Uuid::new_v4().to_string(),
            event_time: 1_700_000_000,
            event_category: "Management".into(),
            event_source: "cloudtrail.amazonaws.com".into(),
            event_name: name.into(),
            event_type: Some("AwsApiCall".into()),
            aws_region: "us-east-1".into(),
            recipient_account_id: ACCT.into(),
            read_only: Some(name.starts_with("Describe")),
            ..RouteKeys::default()
        };
        let record = json!({"eventName": name, "requestParameters": request}).to_string();
        w.journal
            .append(&[&envelope::encode(&keys, record.as_bytes())])
            .unwrap()
            .first_seq
    }

    fn call(w: &World, op: Operation, body: serde_json::Value) {
        w.control.call(op, &ctx(), &body).unwrap();
    }

    /// The sequence numbers the trail takes, routing the whole journal with a [`Router`].
    fn delivered(w: &World) -> BTreeSet<u64> {
        let mut router = Router::new(w.control.clone(), w.config.clone());
        let mut reader = w.journal.reader(0).unwrap();
        let mut out = BTreeSet::new();
        loop {
            let batch = reader.try_next_batch(1000).unwrap();
            if batch.is_empty() {
                return out;
            }
            for r in batch {
                let Ok(e) = envelope::decode(&r.payload) else {
                    continue;
                };
                let (table, _) = router.table_at(r.seq);
                if table.route(&e).next().is_some() {
                    out.insert(r.seq);
                }
            }
        }
    }

    fn create(w: &World) {
        w.journal.append(&[b"not an envelope"]).unwrap();
        call(
            w,
            Operation::CreateTrail,
            json!({"Name": "audit", "S3BucketName": "trail-logs"}),
        );
    }

    #[test]
    fn events_are_routed_by_the_configuration_at_their_journal_position() {
        let w = world();
        create(&w);
        let before = journal_event(&w, "DescribeTrails", json!(null));
        call(&w, Operation::StartLogging, json!({"Name": "audit"}));
        let start = journal_event(&w, "StartLogging", json!({"name": "audit"}));
        let while_on = journal_event(&w, "DescribeTrails", json!(null));
        call(&w, Operation::StopLogging, json!({"Name": "audit"}));
        // Recorded after the stop committed, as the HTTP front records it.
        let stop = journal_event(
            &w,
            "StopLogging",
            json!({"name": format!("arn:aws:cloudtrail:us-east-1:{ACCT}:trail/audit")}),
        );
        let while_off = journal_event(&w, "DescribeTrails", json!(null));
        let other_stop = journal_event(&w, "StopLogging", json!({"name": "other"}));
        // A router that reads everything only now, long after the stop, still delivers what was
        // recorded while logging, and the StopLogging call itself.
        let got = delivered(&w);
        assert_eq!(got, BTreeSet::from([start, while_on, stop]));
        assert!(!got.contains(&before) && !got.contains(&while_off));
        assert!(!got.contains(&other_stop));
        // Deleting the trail does not take back what it recorded.
        call(&w, Operation::DeleteTrail, json!({"Name": "audit"}));
        journal_event(&w, "DescribeTrails", json!(null));
        assert_eq!(delivered(&w), got);
    }

    #[test]
    fn history_survives_a_restart_and_prunes_behind_consumers() {
        let w = world();
        create(&w);
        call(&w, Operation::StartLogging, json!({"Name": "audit"}));
        let on = journal_event(&w, "DescribeTrails", json!(null));
        call(&w, Operation::StopLogging, json!({"Name": "audit"}));
        journal_event(&w, "DescribeTrails", json!(null));
        let versions = w.control.history().len();
        assert!(versions >= 3, "{versions} versions");
        // Reloaded from the catalog: the same history, so the same routing.
        let reloaded = Arc::new(
            ControlPlane::load(
                w.config.clone(),
                Arc::new(Catalog::open(w._dir.path()).unwrap()),
            )
            .unwrap(),
        );
        reloaded.attach_journal(w.journal.clone());
        // The same versions; timestamps are f64 seconds, which serde_json's default float
        // parser may read back one ULP off, so compare them as the JSON they are stored as.
        let as_json = |h: &[TrailVersion]| -> Vec<(u64, Vec<String>)> {
            h.iter()
                .map(|v| {
                    let trails = v
                        .trails
                        .iter()
                        .map(|t| {
                            fn round(v: &mut serde_json::Value) {
                                match v {
                                    serde_json::Value::Number(n) if n.is_f64() => {
                                        *v = json!(format!("{:.3}", n.as_f64().unwrap_or(0.0)));
                                    }
                                    serde_json::Value::Array(a) => a.iter_mut().for_each(round),
                                    serde_json::Value::Object(m) => m.values_mut().for_each(round),
                                    _ => {}
                                }
                            }
                            let mut j = serde_json::to_value(t).unwrap();
                            round(&mut j);
                            j.to_string()
                        })
                        .collect();
                    (v.from_seq, trails)
                })
                .collect()
        };
        assert_eq!(as_json(&reloaded.history()), as_json(&w.control.history()));
        let w2 = World {
            _dir: tempfile::tempdir().unwrap(),
            control: reloaded,
            config: w.config.clone(),
            journal: w.journal.clone(),
        };
        assert_eq!(delivered(&w2), BTreeSet::from([on]));
        // Once every consumer is past the stop, only the version in force there is kept.
        let end = w.journal.next_seq();
        w.control.prune_history(end);
        assert_eq!(w.control.history().len(), 1);
        assert!(!w.control.history()[0].trails[0].logging);
    }

    /// Random interleavings of configuration changes and events: every event is delivered
    /// exactly when the trail was logging (by the model) at the moment it was journaled,
    /// plus the StopLogging calls that stopped it.
    #[test]
    fn random_histories_route_like_the_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for _ in 0..20 {
            let w = world();
            create(&w);
            let mut logging = false;
            let mut want = BTreeSet::new();
            for _ in 0..60 {
                match rng.gen_range(0..5) {
                    0 => {
                        call(&w, Operation::StartLogging, json!({"Name": "audit"}));
                        logging = true;
                        want.insert(journal_event(&w, "StartLogging", json!({"name": "audit"})));
                    }
                    1 => {
                        call(&w, Operation::StopLogging, json!({"Name": "audit"}));
                        // The call that stops the trail (and one on a stopped trail) reaches it.
                        want.insert(journal_event(&w, "StopLogging", json!({"name": "audit"})));
                        logging = false;
                    }
                    2 => {
                        let read_only = rng.gen_bool(0.5);
                        let sel = if read_only { "WriteOnly" } else { "All" };
                        call(
                            &w,
                            Operation::PutEventSelectors,
                            json!({"TrailName": "audit", "EventSelectors": [{"ReadWriteType": sel}]}),
                        );
                        let seq = journal_event(&w, "DescribeTrails", json!(null));
                        if logging && !read_only {
                            want.insert(seq);
                        }
                        call(
                            &w,
                            Operation::PutEventSelectors,
                            json!({"TrailName": "audit", "EventSelectors": [{"ReadWriteType": "All"}]}),
                        );
                    }
                    _ => {
                        let seq = journal_event(&w, "DescribeTrails", json!(null));
                        if logging {
                            want.insert(seq);
                        }
                    }
                }
            }
            assert_eq!(delivered(&w), want);
        }
    }
}
