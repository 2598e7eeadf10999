use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use cairn_select::{Context as SelectorContext, Selectors};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::operation::Operation;
use super::validate;
use crate::catalog::{BatchStore, Catalog, TrailStore};
use crate::config::Config;
use crate::error::ApiError;
use crate::model::{InsightSelector, Tag, Trail};
use cairn_pipeline::{DeliveryStatus, MemoryStatus, TrailVersion};

mod settings;
mod wire;

pub(crate) use wire::trail_json;
use wire::{decode_token, encode_token, logged_categories, selectors_response};

/// Who is calling, from where, and when.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The caller's account.
    pub account: String,
    /// The region of the request (from the SigV4 credential scope).
    pub region: String,
    /// Request time.
    pub now: OffsetDateTime,
}

/// How a trail appears to one caller in one region.
#[derive(Debug, Clone)]
pub struct TrailView {
    /// The trail.
    pub trail: Trail,
    /// Whether this is a shadow copy (other region or member account).
    pub shadow: bool,
}

type TrailKey = (String, String, String); // (account, home region, name)

/// The services a trail's settings refer to, given to [`ControlPlane::load`] at startup. A
/// service left out makes every reference to it fail validation (no log group, no KMS key)
/// or, for local buckets, skips the bucket-owner consent check.
#[derive(Clone, Default)]
pub struct Services {
    /// Log groups live here (CloudWatchLogsLogGroupArn must name one).
    pub monitor: Option<Arc<cairn_monitor::Monitor>>,
    /// KMS keys live here (KmsKeyId must name one).
    pub kms: Option<Arc<cairn_kms::Kms>>,
    /// Local buckets (their policies must let CloudTrail deliver).
    pub vault: Option<Arc<cairn_vault::Vault>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("monitor", &self.monitor.is_some())
            .field("kms", &self.kms.is_some())
            .field("vault", &self.vault.is_some())
            .finish()
    }
}

/// At most this many configuration versions are kept when no consumer reports progress.
const MAX_VERSIONS: usize = 100_000;

const MAX_TRAILS_PER_REGION: usize = 5;

/// The control plane state: trails in memory, written through to the catalog.
pub struct ControlPlane {
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    trails: RwLock<BTreeMap<TrailKey, Trail>>,
    /// Delivery state as the pipeline reports it (its [`cairn_pipeline::StatusSink`]).
    status: Arc<MemoryStatus>,
    list_page_size: usize,
    generation: std::sync::atomic::AtomicU64,
    /// `PutAuditEvents` channels.
    pub channels: super::channels::Channels,
    /// What trail settings refer to (log groups, KMS keys, local buckets).
    services: Services,
    /// The event journal: configuration changes take effect at its committed end.
    journal: std::sync::OnceLock<Arc<cairn_journal::Journal>>,
    /// Configuration versions by journal position, ascending `from_seq`; never empty.
    history: RwLock<Vec<TrailVersion>>,
    /// Bumped after every new version (consumers re-read [`ControlPlane::history`]).
    history_generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane").finish_non_exhaustive()
    }
}

fn epoch(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

fn iso(epoch_secs: Option<f64>) -> String {
    epoch_secs
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s.floor() as i64).ok())
        .map(cairn_event::format_event_time)
        .unwrap_or_default()
}

fn key(t: &Trail) -> TrailKey {
    (t.account_id.clone(), t.home_region.clone(), t.name.clone())
}

/// A parsed reference to a trail: a bare name or the parts of an ARN.
pub(super) enum TrailRef {
    Name(String),
    Arn {
        region: String,
        account: String,
        name: String,
    },
}

pub(super) fn parse_trail_ref(text: &str) -> Result<TrailRef, ApiError> {
    if !text.starts_with("arn:") {
        validate::trail_name(text)?;
        return Ok(TrailRef::Name(text.to_owned()));
    }
    let invalid = || {
        ApiError::client(
            "CloudTrailARNInvalidException",
            format!(
                "ARN {text} is invalid. A trail ARN has the form arn:aws:cloudtrail:region:account-id:trail/trail-name."
            ),
        )
    };
    let arn: cairn_event::Arn = text.parse().map_err(|_| invalid())?;
    let name = arn.resource().strip_prefix("trail/").ok_or_else(invalid)?;
    // Trails live in the `aws` partition only: an ARN of any other partition names no trail
    // of this server, and must not be resolved as if it did (IAM would have decided on it).
    if arn.partition() != "aws"
        || arn.service() != "cloudtrail"
        || cairn_event::AccountId::parse(arn.account_id()).is_err()
        || cairn_event::Region::parse(arn.region()).is_err()
        || validate::trail_name(name).is_err()
    {
        return Err(invalid());
    }
    Ok(TrailRef::Arn {
        region: arn.region().to_owned(),
        account: arn.account_id().to_owned(),
        name: name.to_owned(),
    })
}

fn not_found(what: &str, account: &str) -> ApiError {
    ApiError::client(
        "TrailNotFoundException",
        format!("Unknown trail: {what} for the user: {account}"),
    )
}

/// Request members are PascalCase; CloudTrail ignores members it does not model.
fn parse<T: for<'de> Deserialize<'de>>(body: &Value) -> Result<T, ApiError> {
    T::deserialize(body).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request body does not match the operation's input shape: {e}"),
        )
    })
}

fn require<'a>(v: &'a Option<String>, member: &str) -> Result<&'a str, ApiError> {
    v.as_deref().ok_or_else(|| {
        ApiError::invalid_parameter(format!("the required member {member} is missing"))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TrailSettings {
    name: Option<String>,
    s3_bucket_name: Option<String>,
    s3_key_prefix: Option<String>,
    sns_topic_name: Option<String>,
    include_global_service_events: Option<bool>,
    is_multi_region_trail: Option<bool>,
    enable_log_file_validation: Option<bool>,
    cloud_watch_logs_log_group_arn: Option<String>,
    cloud_watch_logs_role_arn: Option<String>,
    kms_key_id: Option<String>,
    is_organization_trail: Option<bool>,
    tags_list: Option<Vec<Tag>>,
}

/// The body of `AddTags` and `RemoveTags`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsRequest {
    resource_id: Option<String>,
    tags_list: Option<Vec<Tag>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameOnly {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrailNameOnly {
    trail_name: Option<String>,
}

impl ControlPlane {
    /// Loads trails from the catalog; `services` are what trail settings may refer to.
    pub fn load(
        config: Arc<Config>,
        catalog: Arc<Catalog>,
        services: Services,
    ) -> Result<Self, crate::catalog::CatalogError> {
        let trails: BTreeMap<TrailKey, Trail> = catalog
            .trails()?
            .into_iter()
            .map(|t| (key(&t), t))
            .collect();
        let channels = super::channels::Channels::load(&catalog)?;
        let mut history: Vec<TrailVersion> = catalog
            .trail_versions()?
            .into_iter()
            .map(|(from_seq, trails)| TrailVersion {
                from_seq,
                trails: Arc::new(trails),
            })
            .collect();
        if history.is_empty() {
            // No history yet (a new data directory, or one from before versions existed):
            // the trail set as stored applies from the beginning.
            let first = TrailVersion {
                from_seq: 0,
                trails: Arc::new(trails.values().cloned().collect()),
            };
            // Stored too: after a restart, records from before the first change are still
            // routed by it, not by the oldest change.
            catalog.put_trail_version(first.from_seq, &first.trails)?;
            history.push(first);
        }
        Ok(Self {
            config,
            catalog,
            trails: RwLock::new(trails),
            status: Arc::default(),
            list_page_size: 50,
            generation: std::sync::atomic::AtomicU64::new(0),
            channels,
            services,
            journal: std::sync::OnceLock::new(),
            history: RwLock::new(history),
            history_generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Connects the event journal: from now on every configuration change takes effect at the
    /// journal's committed end.
    pub fn attach_journal(&self, journal: Arc<cairn_journal::Journal>) {
        let _ = self.journal.set(journal);
        // A change that reached the trails but not the stored history before a crash takes
        // effect now (no-op when the last version is the stored trail set).
        let trails = self.write_trails();
        self.commit_version(&trails);
    }

    /// The configuration versions consumers route by, ascending `from_seq`.
    pub fn history(&self) -> Vec<TrailVersion> {
        self.history
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes whenever [`ControlPlane::history`] gained a version.
    pub fn history_generation(&self) -> u64 {
        self.history_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Records the trail set as it is after a change (the caller holds the trails' write
    /// lock) as the version in force from the journal's committed end.
    fn commit_version(&self, trails: &BTreeMap<TrailKey, Trail>) {
        let from_seq = self.journal.get().map_or(0, |j| j.next_seq());
        let current: Vec<Trail> = trails.values().cloned().collect();
        {
            let mut h = self.history.write().unwrap_or_else(|p| p.into_inner());
            if h.last().is_some_and(|v| *v.trails == current) {
                return;
            }
            let version = TrailVersion {
                from_seq,
                trails: Arc::new(current),
            };
            if let Err(e) = self
                .catalog
                .put_trail_version(version.from_seq, &version.trails)
            {
                // Routing stays right until a restart; after one, records of this window are
                // routed by the configuration stored last.
                tracing::error!(error = %e, "could not store a trail configuration version");
            }
            match h.last_mut() {
                // No record was committed under the previous version: replace it.
                Some(last) if last.from_seq >= from_seq => *last = version,
                _ => h.push(version),
            }
            if h.len() > MAX_VERSIONS {
                let drop_to = h.len() - MAX_VERSIONS;
                h.drain(..drop_to);
            }
        }
        self.history_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Forgets the versions no consumer can need again: those whose successor starts at or
    /// before `seq`, the lowest position any consumer routing by [`ControlPlane::history`]
    /// has committed.
    pub fn prune_history(&self, seq: u64) {
        let mut h = self.history.write().unwrap_or_else(|p| p.into_inner());
        let keep_from = h.iter().rposition(|v| v.from_seq <= seq).unwrap_or(0);
        if keep_from == 0 {
            return;
        }
        h.drain(..keep_from);
        if let Some(first) = h.first()
            && let Err(e) = self.catalog.prune_trail_versions(first.from_seq)
        {
            tracing::warn!(error = %e, "could not prune stored trail configuration versions");
        }
    }

    /// Sets the `ListTrails` page size (tests use small pages).
    pub fn set_list_page_size(&mut self, n: usize) {
        self.list_page_size = n.max(1);
    }

    fn read_trails(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<TrailKey, Trail>> {
        self.trails.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_trails(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<TrailKey, Trail>> {
        // Every writer may change the trail set: consumers recompile on a new generation.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.trails.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes whenever the trail set may have changed (consumers recompile their routes).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every trail, as stored (for the pipeline's router).
    pub fn all_trails(&self) -> Vec<Trail> {
        self.read_trails().values().cloned().collect()
    }

    /// Where the pipeline reports the delivery state of each (trail, region, account);
    /// `GetTrailStatus` reads it.
    pub fn delivery_status(&self) -> Arc<MemoryStatus> {
        self.status.clone()
    }

    /// Whether a trail is visible to `account` in `region`, and as a shadow or not.
    fn visibility(&self, t: &Trail, account: &str, region: &str) -> Option<bool> {
        if !self.config.region_enabled(region) {
            return None;
        }
        let in_region = t.home_region == region || t.is_multi_region;
        if !in_region {
            return None;
        }
        if t.account_id == account {
            return Some(t.home_region != region);
        }
        if t.is_organization
            && self.config.organization.as_ref().is_some_and(|o| {
                o.management_account.as_str() == t.account_id && o.contains(account)
            })
        {
            return Some(true);
        }
        None
    }

    /// Trails visible to the caller in the caller's region.
    pub fn visible(&self, ctx: &CallContext) -> Vec<TrailView> {
        self.read_trails()
            .values()
            .filter_map(|t| {
                self.visibility(t, &ctx.account, &ctx.region)
                    .map(|shadow| TrailView {
                        trail: t.clone(),
                        shadow,
                    })
            })
            .collect()
    }

    /// Resolves a name or ARN. `write` requires the caller's own trail in its home region.
    fn resolve(&self, ctx: &CallContext, text: &str, write: bool) -> Result<Trail, ApiError> {
        let r = parse_trail_ref(text)?;
        let trails = self.read_trails();
        let found = match &r {
            TrailRef::Arn {
                region,
                account,
                name,
            } => trails
                .get(&(account.clone(), region.clone(), name.clone()))
                .filter(|t| self.visibility(t, &ctx.account, &ctx.region).is_some()),
            TrailRef::Name(name) => {
                let own_home = trails.get(&(ctx.account.clone(), ctx.region.clone(), name.clone()));
                own_home.or_else(|| {
                    trails.values().find(|t| {
                        &t.name == name
                            && t.account_id == ctx.account
                            && self.visibility(t, &ctx.account, &ctx.region).is_some()
                    })
                })
            }
        };
        let t = found.ok_or_else(|| not_found(text, &ctx.account))?.clone();
        if write {
            if t.account_id != ctx.account {
                return Err(ApiError::client(
                    "OperationNotPermittedException",
                    format!(
                        "trail {} belongs to the organization's management account {}; member accounts cannot change it",
                        t.arn(),
                        t.account_id
                    ),
                ));
            }
            if t.home_region != ctx.region {
                return Err(ApiError::client(
                    "InvalidHomeRegionException",
                    format!(
                        "This operation must be called from the trail's home region. The trail {} was created in {}; the request was made in {}.",
                        t.arn(),
                        t.home_region,
                        ctx.region
                    ),
                ));
            }
        }
        Ok(t)
    }

    /// The resource ARN IAM must decide `op` on: the canonical ARN of the resource the
    /// request resolves to (trail, channel, or, through `event_data_store`, an event data
    /// store), never the text the caller wrote. A trail named by a made-up ARN (another
    /// partition, case or spelling) is thus either resolved to the trail it really names,
    /// and a Deny on that trail applies, or resolves to nothing, and the call itself fails
    /// with the same resolution error before it changes anything.
    ///
    /// When the resource does not resolve (yet), this falls back to
    /// [`Operation::resource_arn`], so a caller without permission gets `AccessDenied` rather
    /// than learning whether the resource exists.
    pub fn authorization_resource(
        &self,
        op: Operation,
        ctx: &CallContext,
        body: &Value,
        event_data_store: impl Fn(&str) -> Option<String>,
    ) -> String {
        use Operation as O;
        let fallback = || op.resource_arn(body, &ctx.account, &ctx.region);
        let member = |name: &str| body.get(name).and_then(Value::as_str);
        let resolved = match op {
            O::UpdateTrail
            | O::DeleteTrail
            | O::GetTrail
            | O::GetTrailStatus
            | O::StartLogging
            | O::StopLogging => member("Name")
                .and_then(|n| self.resolve(ctx, n, false).ok())
                .map(|t| t.arn()),
            O::GetEventSelectors
            | O::PutEventSelectors
            | O::GetInsightSelectors
            | O::PutInsightSelectors => member("TrailName")
                .and_then(|n| self.resolve(ctx, n, false).ok())
                .map(|t| t.arn()),
            O::AddTags | O::RemoveTags => member("ResourceId")
                .and_then(|id| self.tag_target(ctx, id, false).ok())
                .map(|t| t.arn()),
            O::GetChannel | O::DeleteChannel | O::UpdateChannel => member("Channel")
                .and_then(|c| self.channels.resolve(ctx, c).ok())
                .map(|c| c.arn),
            O::GetEventDataStore
            | O::UpdateEventDataStore
            | O::DeleteEventDataStore
            | O::RestoreEventDataStore
            | O::StartEventDataStoreIngestion
            | O::StopEventDataStoreIngestion => {
                member("EventDataStore").and_then(&event_data_store)
            }
            _ => None,
        };
        resolved.unwrap_or_else(fallback)
    }

    fn store(&self, t: &Trail) -> Result<(), ApiError> {
        self.catalog.put_trail(t).map_err(ApiError::internal)
    }

    /// Executes one operation. Returns the response body.
    pub fn call(&self, op: Operation, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        if !self.config.region_enabled(&ctx.region) {
            return Err(ApiError::client(
                "UnrecognizedClientException",
                format!(
                    "the region {} is not enabled on this Cairn server",
                    ctx.region
                ),
            ));
        }
        match op {
            Operation::CreateTrail => self.create_trail(ctx, body),
            Operation::UpdateTrail => self.update_trail(ctx, body),
            Operation::DeleteTrail => self.delete_trail(ctx, body),
            Operation::GetTrail => {
                let req: NameOnly = parse(body)?;
                let t = self.resolve(ctx, require(&req.name, "Name")?, false)?;
                Ok(json!({ "Trail": trail_json(&t, true) }))
            }
            Operation::DescribeTrails => self.describe_trails(ctx, body),
            Operation::ListTrails => self.list_trails(ctx, body),
            Operation::GetTrailStatus => self.get_trail_status(ctx, body),
            Operation::StartLogging => self.set_logging(ctx, body, true),
            Operation::StopLogging => self.set_logging(ctx, body, false),
            Operation::PutEventSelectors => self.put_event_selectors(ctx, body),
            Operation::GetEventSelectors => {
                let req: TrailNameOnly = parse(body)?;
                let t = self.resolve(ctx, require(&req.trail_name, "TrailName")?, false)?;
                Ok(selectors_response(&t))
            }
            Operation::PutInsightSelectors => self.put_insight_selectors(ctx, body),
            Operation::GetInsightSelectors => {
                let req: TrailNameOnly = parse(body)?;
                if body.get("EventDataStore").is_some() {
                    return Err(ApiError::not_implemented(
                        "GetInsightSelectors on event data stores",
                    ));
                }
                let t = self.resolve(ctx, require(&req.trail_name, "TrailName")?, false)?;
                if t.insight_selectors.is_empty() {
                    return Err(ApiError::client(
                        "InsightNotEnabledException",
                        format!(
                            "Trail {} does not have Insights enabled. Enable Insights on the trail, and try again.",
                            t.arn()
                        ),
                    ));
                }
                Ok(json!({"TrailARN": t.arn(), "InsightSelectors": t.insight_selectors}))
            }
            Operation::AddTags => self.add_tags(ctx, body),
            Operation::RemoveTags => self.remove_tags(ctx, body),
            Operation::ListTags => self.list_tags(ctx, body),
            Operation::CreateChannel => self.channels.create(&self.catalog, ctx, body),
            Operation::GetChannel => self.channels.get(ctx, body),
            Operation::ListChannels => Ok(self.channels.list(ctx)),
            Operation::DeleteChannel => self.channels.delete(&self.catalog, ctx, body),
            Operation::ListPublicKeys => {
                super::public_keys::list_public_keys(&self.catalog, ctx, body)
            }
            other => Err(ApiError::not_implemented(other.name())),
        }
    }

    fn create_trail(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let s: TrailSettings = parse(body)?;
        let name = require(&s.name, "Name")?;
        if name.starts_with("arn:") {
            return Err(ApiError::client(
                "InvalidTrailNameException",
                "Trail name must not be an ARN.",
            ));
        }
        validate::trail_name(name)?;
        require(&s.s3_bucket_name, "S3BucketName")?;
        let now = epoch(ctx.now);
        let mut t = Trail::new(&ctx.account, &ctx.region, name, now);
        if let Some(tags) = &s.tags_list {
            validate::tags(tags, &[])?;
            t.tags = tags.clone();
        }
        let mut trails = self.write_trails();
        // Names are unique among the trails an account sees in any region.
        let clash = trails.values().any(|o| {
            o.account_id == t.account_id
                && o.name == t.name
                && (o.home_region == t.home_region
                    || o.is_multi_region
                    || s.is_multi_region_trail == Some(true))
        });
        if clash {
            return Err(ApiError::client(
                "TrailAlreadyExistsException",
                format!(
                    "Trail {} already exists for customer: {}",
                    t.name, t.account_id
                ),
            ));
        }
        self.apply_settings(ctx, &mut t, &s, true)?;
        self.check_quota(&trails, &t, None)?;
        self.store(&t)?;
        let resp = trail_json(&t, false);
        trails.insert(key(&t), t);
        self.commit_version(&trails);
        Ok(resp)
    }

    fn update_trail(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let s: TrailSettings = parse(body)?;
        if s.tags_list.is_some() {
            return Err(ApiError::invalid_parameter(
                "UpdateTrail does not take TagsList; use AddTags",
            ));
        }
        let t0 = self.resolve(ctx, require(&s.name, "Name")?, true)?;
        let mut trails = self.write_trails();
        let k = key(&t0);
        let Some(cur) = trails.get(&k).cloned() else {
            return Err(not_found(require(&s.name, "Name")?, &ctx.account));
        };
        let mut t = cur.clone();
        self.apply_settings(ctx, &mut t, &s, false)?;
        if t.is_multi_region && !cur.is_multi_region {
            let clash = trails
                .values()
                .any(|o| o.account_id == t.account_id && o.name == t.name && key(o) != k);
            if clash {
                return Err(ApiError::client(
                    "TrailAlreadyExistsException",
                    format!(
                        "A trail named {} already exists in another region of account {}",
                        t.name, t.account_id
                    ),
                ));
            }
            self.check_quota(&trails, &t, Some(&k))?;
        }
        self.store(&t)?;
        let resp = trail_json(&t, false);
        trails.insert(k, t);
        self.commit_version(&trails);
        Ok(resp)
    }

    fn delete_trail(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let req: NameOnly = parse(body)?;
        let t = self.resolve(ctx, require(&req.name, "Name")?, true)?;
        let mut trails = self.write_trails();
        self.catalog
            .delete_trail(&t.account_id, &t.home_region, &t.name)
            .map_err(ApiError::internal)?;
        trails.remove(&key(&t));
        self.commit_version(&trails);
        Ok(json!({}))
    }

    fn describe_trails(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Req {
            trail_name_list: Option<Vec<String>>,
            include_shadow_trails: Option<bool>,
        }
        let req: Req = parse(body)?;
        let include_shadow = req.include_shadow_trails.unwrap_or(true);
        let mut views = self.visible(ctx);
        views.sort_by(|a, b| {
            a.trail
                .name
                .cmp(&b.trail.name)
                .then(a.trail.arn().cmp(&b.trail.arn()))
        });
        let list: Vec<Value> = match req.trail_name_list.filter(|l| !l.is_empty()) {
            None => views
                .iter()
                .filter(|v| include_shadow || !v.shadow)
                .map(|v| trail_json(&v.trail, true))
                .collect(),
            Some(names) => {
                let mut out = Vec::new();
                for n in &names {
                    match parse_trail_ref(n)? {
                        TrailRef::Name(name) => out.extend(
                            views
                                .iter()
                                .filter(|v| {
                                    v.trail.name == name && v.trail.account_id == ctx.account
                                })
                                .filter(|v| include_shadow || !v.shadow)
                                .map(|v| trail_json(&v.trail, true)),
                        ),
                        TrailRef::Arn {
                            region,
                            account,
                            name,
                        } => out.extend(
                            views
                                .iter()
                                .filter(|v| {
                                    v.trail.home_region == region
                                        && v.trail.account_id == account
                                        && v.trail.name == name
                                })
                                .map(|v| trail_json(&v.trail, true)),
                        ),
                    }
                }
                out
            }
        };
        Ok(json!({ "trailList": list }))
    }

    fn list_trails(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req {
            next_token: Option<String>,
        }
        let req: Req = parse(body)?;
        let mut all: Vec<(String, String, String)> = self
            .read_trails()
            .values()
            .filter(|t| {
                t.account_id == ctx.account
                    || (t.is_organization
                        && self.config.organization.as_ref().is_some_and(|o| {
                            o.management_account.as_str() == t.account_id
                                && o.contains(&ctx.account)
                        }))
            })
            .map(|t| (t.arn(), t.name.clone(), t.home_region.clone()))
            .collect();
        all.sort();
        let start = match &req.next_token {
            None => 0,
            Some(tok) => decode_token(tok, &ctx.account)?,
        };
        let end = (start + self.list_page_size).min(all.len());
        let page: Vec<Value> = all
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(|(arn, name, home)| json!({"TrailARN": arn, "Name": name, "HomeRegion": home}))
            .collect();
        let mut out = json!({ "Trails": page });
        if end < all.len() {
            out["NextToken"] = Value::String(encode_token(end, &ctx.account));
        }
        Ok(out)
    }

    fn get_trail_status(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let req: NameOnly = parse(body)?;
        let name = require(&req.name, "Name")?;
        // GetTrailStatus names a missing trail by the ARN the name would have in the
        // caller's region, where GetTrail repeats the name (CloudTrail's answers, pinned by
        // moto's suite).
        let t = self.resolve(ctx, name, false).map_err(|e| {
            if e.code == "TrailNotFoundException" && !name.starts_with("arn:") {
                not_found(
                    &crate::model::trail_arn(&ctx.region, &ctx.account, name),
                    &ctx.account,
                )
            } else {
                e
            }
        })?;
        let st = self
            .status
            .get(&t.arn(), &ctx.region, &ctx.account)
            .unwrap_or_else(|| {
                // Nothing reported since this process started: the catalog knows the last
                // delivery.
                let last = self
                    .catalog
                    .latest_delivery(&(t.arn(), ctx.account.clone(), ctx.region.clone()))
                    .ok()
                    .flatten()
                    .map(|d| d as f64);
                DeliveryStatus {
                    latest_delivery_time: last,
                    latest_delivery_attempt_time: last,
                    latest_delivery_attempt_succeeded: last.map(|_| true),
                    ..DeliveryStatus::default()
                }
            });
        let mut m = Map::new();
        m.insert("IsLogging".into(), json!(t.logging));
        let mut put_num = |k: &str, v: Option<f64>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        put_num("LatestDeliveryTime", st.latest_delivery_time);
        put_num("LatestNotificationTime", st.latest_notification_time);
        put_num("StartLoggingTime", t.start_logging_time);
        put_num("StopLoggingTime", t.stop_logging_time);
        put_num("LatestDigestDeliveryTime", st.latest_digest_delivery_time);
        wire::insert_present(
            &mut m,
            [
                ("LatestDeliveryError", &st.latest_delivery_error),
                ("LatestNotificationError", &st.latest_notification_error),
                (
                    "LatestDigestDeliveryError",
                    &st.latest_digest_delivery_error,
                ),
            ],
        );
        let b = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
        for (k, v) in [
            (
                "LatestDeliveryAttemptTime",
                iso(st.latest_delivery_attempt_time),
            ),
            (
                "LatestNotificationAttemptTime",
                iso(st.latest_notification_attempt_time),
            ),
            (
                "LatestNotificationAttemptSucceeded",
                b(st.latest_notification_attempt_succeeded),
            ),
            (
                "LatestDeliveryAttemptSucceeded",
                b(st.latest_delivery_attempt_succeeded),
            ),
            ("TimeLoggingStarted", iso(t.start_logging_time)),
            ("TimeLoggingStopped", iso(t.stop_logging_time)),
        ] {
            m.insert(k.into(), json!(v));
        }
        Ok(Value::Object(m))
    }

    fn set_logging(&self, ctx: &CallContext, body: &Value, on: bool) -> Result<Value, ApiError> {
        let req: NameOnly = parse(body)?;
        let t0 = self.resolve(ctx, require(&req.name, "Name")?, true)?;
        self.mutate(&t0, |t| {
            let now = epoch(ctx.now);
            if on {
                if !t.logging {
                    t.start_logging_time = Some(now);
                }
                t.logging = true;
            } else {
                if t.logging {
                    t.stop_logging_time = Some(now);
                }
                t.logging = false;
            }
            Ok(())
        })?;
        Ok(json!({}))
    }

    /// Applies `f` to the stored trail under the write lock and persists it.
    fn mutate(
        &self,
        t0: &Trail,
        f: impl FnOnce(&mut Trail) -> Result<(), ApiError>,
    ) -> Result<Trail, ApiError> {
        let mut trails = self.write_trails();
        let k = key(t0);
        let Some(cur) = trails.get(&k) else {
            return Err(not_found(&t0.arn(), &t0.account_id));
        };
        let mut t = cur.clone();
        f(&mut t)?;
        self.store(&t)?;
        trails.insert(k, t.clone());
        self.commit_version(&trails);
        Ok(t)
    }

    fn put_event_selectors(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let req: TrailNameOnly = parse(body)?;
        let t0 = self.resolve(ctx, require(&req.trail_name, "TrailName")?, true)?;
        let sel = Selectors::from_request(
            body.get("EventSelectors"),
            body.get("AdvancedEventSelectors"),
        )
        .and_then(|s| s.validate(SelectorContext::Trail).map(|()| s))
        .map_err(|e| ApiError::client("InvalidEventSelectorsException", e.to_string()))?;
        let t = self.mutate(&t0, |t| {
            t.selectors = sel;
            Ok(())
        })?;
        Ok(selectors_response(&t))
    }

    fn put_insight_selectors(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req {
            trail_name: Option<String>,
            event_data_store: Option<String>,
            insight_selectors: Option<Vec<InsightSelector>>,
        }
        let req: Req = parse(body)?;
        if req.event_data_store.is_some() {
            return Err(ApiError::not_implemented(
                "PutInsightSelectors on event data stores",
            ));
        }
        let t0 = self.resolve(ctx, require(&req.trail_name, "TrailName")?, true)?;
        let Some(sels) = req.insight_selectors else {
            return Err(ApiError::invalid_parameter(
                "the required member InsightSelectors is missing",
            ));
        };
        let invalid = |m: String| ApiError::client("InvalidInsightSelectorsException", m);
        let mut seen = std::collections::HashSet::new();
        let (mgmt_read, mgmt_write, data) = logged_categories(&t0.selectors);
        for s in &sels {
            if !matches!(
                s.insight_type.as_str(),
                "ApiCallRateInsight" | "ApiErrorRateInsight"
            ) {
                return Err(invalid(format!(
                    "InsightType {} is not valid; valid values are ApiCallRateInsight and ApiErrorRateInsight",
                    s.insight_type
                )));
            }
            if !seen.insert(s.insight_type.clone()) {
                return Err(invalid(format!(
                    "InsightType {} is listed twice",
                    s.insight_type
                )));
            }
            let cats = s
                .event_categories
                .clone()
                .unwrap_or_else(|| vec!["Management".into()]);
            if cats.is_empty() {
                return Err(invalid(
                    "EventCategories must not be empty when present".into(),
                ));
            }
            for c in &cats {
                let ok = match (c.as_str(), s.insight_type.as_str()) {
                    ("Management", "ApiCallRateInsight") => mgmt_write,
                    ("Management", _) => mgmt_read || mgmt_write,
                    ("Data", _) => data,
                    _ => {
                        return Err(invalid(format!(
                            "EventCategory {c} is not valid; valid values are Management and Data"
                        )));
                    }
                };
                if !ok {
                    return Err(invalid(format!(
                        "{} on {c} events requires the trail to log {} events",
                        s.insight_type,
                        match (c.as_str(), s.insight_type.as_str()) {
                            ("Management", "ApiCallRateInsight") => "write management",
                            ("Management", _) => "read or write management",
                            _ => "data",
                        }
                    )));
                }
            }
        }
        let t = self.mutate(&t0, |t| {
            t.insight_selectors = sels;
            Ok(())
        })?;
        Ok(json!({"TrailARN": t.arn(), "InsightSelectors": t.insight_selectors}))
    }

    /// Resolves a tag target ARN.
    fn tag_target(&self, ctx: &CallContext, arn: &str, write: bool) -> Result<Trail, ApiError> {
        let parsed: cairn_event::Arn = arn.parse().map_err(|_| {
            ApiError::client(
                "CloudTrailARNInvalidException",
                format!("ARN {arn} is invalid."),
            )
        })?;
        if parsed.service() != "cloudtrail" {
            return Err(ApiError::client(
                "ResourceTypeNotSupportedException",
                format!(
                    "Resource type of {arn} is not supported; tags apply to trails, event data stores and channels"
                ),
            ));
        }
        if !parsed.resource().starts_with("trail/") {
            return Err(ApiError::client(
                "ResourceNotFoundException",
                format!("Resource {arn} does not exist"),
            ));
        }
        self.resolve(ctx, arn, write).map_err(|e| {
            if e.code == "TrailNotFoundException" {
                ApiError::client(
                    "ResourceNotFoundException",
                    format!("Resource {arn} does not exist"),
                )
            } else {
                e
            }
        })
    }

    fn add_tags(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let req: TagsRequest = parse(body)?;
        let t0 = self.tag_target(ctx, require(&req.resource_id, "ResourceId")?, true)?;
        let tags = req.tags_list.unwrap_or_default();
        self.mutate(&t0, |t| {
            validate::tags(&tags, &t.tags)?;
            for tag in tags {
                match t.tags.iter_mut().find(|e| e.key == tag.key) {
                    Some(e) => e.value = tag.value,
                    None => t.tags.push(tag),
                }
            }
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn remove_tags(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let req: TagsRequest = parse(body)?;
        let t0 = self.tag_target(ctx, require(&req.resource_id, "ResourceId")?, true)?;
        let tags = req.tags_list.unwrap_or_default();
        self.mutate(&t0, |t| {
            t.tags.retain(|e| {
                !tags
                    .iter()
                    .any(|r| r.key == e.key && (r.value.is_none() || r.value == e.value))
            });
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn list_tags(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req {
            resource_id_list: Option<Vec<String>>,
        }
        let req: Req = parse(body)?;
        let ids = req.resource_id_list.unwrap_or_default();
        if ids.is_empty() || ids.len() > 20 {
            return Err(ApiError::invalid_parameter(
                "ResourceIdList must contain between 1 and 20 ARNs",
            ));
        }
        let mut out = Vec::new();
        for id in &ids {
            let t = self.tag_target(ctx, id, false)?;
            out.push(json!({"ResourceId": id, "TagsList": t.tags}));
        }
        Ok(json!({ "ResourceTagList": out }))
    }
}

/// A control plane over a fresh catalog with one bucket, `trail-logs`, for unit tests.
#[cfg(test)]
pub(crate) fn test_control(dir: &std::path::Path) -> ControlPlane {
    let config = Arc::new(Config::for_data_dir(dir));
    let catalog = Arc::new(Catalog::open(dir).unwrap());
    catalog
        .create_bucket(&crate::model::Bucket {
            name: "trail-logs".into(),
            account_id: config.account_id.to_string(),
            region: "us-east-1".into(),
            created: 0,
        })
        .unwrap();
    ControlPlane::load(config, catalog, Services::default()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = crate::config::DEFAULT_ACCOUNT_ID;

    fn ctx() -> CallContext {
        CallContext {
            account: ACCT.to_owned(),
            region: "us-east-1".to_owned(),
            now: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn authorization_is_on_the_resolved_trails_own_arn() {
        let dir = tempfile::tempdir().unwrap();
        let c = test_control(dir.path());
        c.call(
            Operation::CreateTrail,
            &ctx(),
            &json!({"Name": "audit", "S3BucketName": "trail-logs"}),
        )
        .unwrap();
        let real = format!("arn:aws:cloudtrail:us-east-1:{ACCT}:trail/audit");
        let no_eds = |_: &str| None;
        for name in ["audit", real.as_str()] {
            let body = json!({ "Name": name });
            assert_eq!(
                c.authorization_resource(Operation::StopLogging, &ctx(), &body, no_eds),
                real
            );
        }
        // A made-up partition resolves to no trail: IAM decides on the text as written, and
        // the call itself refuses it without touching the trail.
        let bogus = format!("arn:x:cloudtrail:us-east-1:{ACCT}:trail/audit");
        let body = json!({ "Name": bogus });
        assert_eq!(
            c.authorization_resource(Operation::StopLogging, &ctx(), &body, no_eds),
            bogus
        );
        c.call(Operation::StartLogging, &ctx(), &json!({"Name": "audit"}))
            .unwrap();
        for (op, member) in [
            (Operation::StopLogging, "Name"),
            (Operation::DeleteTrail, "Name"),
            (Operation::UpdateTrail, "Name"),
            (Operation::PutEventSelectors, "TrailName"),
        ] {
            let e = c.call(op, &ctx(), &json!({ member: bogus })).unwrap_err();
            assert_eq!(e.code, "CloudTrailARNInvalidException", "{op:?}");
        }
        assert!(c.all_trails()[0].logging);
        // Event data stores are resolved by the lake.
        let body = json!({"EventDataStore": "abc"});
        assert_eq!(
            c.authorization_resource(Operation::GetEventDataStore, &ctx(), &body, |k| Some(
                format!("arn:aws:cloudtrail:us-east-1:{ACCT}:eventdatastore/{k}")
            )),
            format!("arn:aws:cloudtrail:us-east-1:{ACCT}:eventdatastore/abc")
        );
    }
}
