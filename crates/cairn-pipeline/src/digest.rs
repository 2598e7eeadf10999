//! The digest writer: a signed, chained digest file per (trail, account, region) every digest
//! period, listing the log files delivered for that partition (`cloudtrail-formats.md` §6, §7).
//!
//! # Partitions
//!
//! Every trail that is logging with log-file validation on has one chain per partition:
//! its account (for an organization trail, every account of the organization) × its home
//! region (for a multi-region trail, every enabled region). See [`partitions`].
//!
//! # Cadence and chain lifecycle
//!
//! A chain opens when its partition becomes active (a new trail, `StartLogging`, validation
//! turned on, a region or member account added); its first digest is a *starting* digest
//! (the five `previousDigest*` fields null) covering `[opened, end)`. Then, every period
//! after the previous digest's end (not aligned to the clock), a digest covers
//! `[previous end, now)`, chained to the previous one, written even when empty. When the
//! partition becomes inactive (`StopLogging`, `DeleteTrail`, validation off, ...) the writer
//! notices on its next tick (a quarter of a second), waits until the partition's sealed
//! batches are uploaded (at least one second, at most a minute) and writes a *final* digest
//! up to that moment; the next activation starts a new chain. A `StopLogging` followed by
//! `StartLogging` is recognised by the changed `StartLoggingTime` even when both fall between
//! two ticks; turning validation off and on again within one tick is not noticed (the chain
//! then simply continues, which still validates).
//!
//! # Which log files a digest lists
//!
//! The pipeline marks a batch `done` asynchronously, so a file delivered just before a
//! digest's end may be recorded after the digest was made. Rather than a time-based grace,
//! each digest lists every `done` batch of its partition delivered in `[chain start, end)`
//! that no digest lists yet; membership is a catalog table keyed by batch id, written in the
//! same transaction as the chain state, so a log file is listed in exactly one digest and a
//! late-recorded file goes into the next digest instead of being lost. Files are always
//! delivered strictly before the end of the digest that lists them (`delivered < end`). A
//! per-chain floor (every batch id at or below it is settled) keeps the query short.
//!
//! # Crash safety
//!
//! A digest is made, then its chain state (new head, members, and the gzip object itself) is
//! committed, then it is uploaded with put-if-absent, then marked uploaded. After a crash the
//! stored object is re-uploaded byte for byte (idempotent), and no new digest of that chain
//! is made until it is stored, so the chain never points at a digest that cannot appear.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_catalog::model::Trail;
use cairn_catalog::{CatalogError, DigestChainRow, PartitionId};
use cairn_core::worker::{Health, Worker};
use cairn_logfile::digest::{DigestFile, HASH_ALGORITHM, LogFileEntry};
use cairn_logfile::layout::{DigestFileKey, Prefix};
use cairn_logfile::timefmt::format_event_time;
use cairn_store::PutOptions;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::PipelineConfig;
use crate::keys::KeyRing;

/// How often the writer looks at the trails.
const TICK: Duration = Duration::from_millis(250);
/// Least wait between noticing an inactive partition and its final digest (lets the
/// pipeline seal and record the partition's open batch).
const CLOSE_GRACE_SECS: i64 = 1;
/// Longest wait for a closing partition's uploads before the final digest is written anyway.
const CLOSE_MAX_WAIT_SECS: i64 = 60;

/// One active partition and where its digests go.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    /// Trail ARN.
    pub trail_arn: String,
    /// Trail name.
    pub trail_name: String,
    /// The trail's home region.
    pub home_region: String,
    /// Account the digests cover.
    pub account: String,
    /// Region the digests cover (the source region).
    pub region: String,
    /// Destination bucket.
    pub bucket: String,
    /// Key prefix (no trailing `/`).
    pub prefix: Option<String>,
    /// Organization id for organization trails.
    pub org_id: Option<String>,
    /// `StartLoggingTime` of the trail (a change means logging restarted).
    pub logging_since: Option<f64>,
}

impl PartitionSpec {
    /// The catalog key of the partition.
    pub fn id(&self) -> PartitionId {
        (
            self.trail_arn.clone(),
            self.account.clone(),
            self.region.clone(),
        )
    }
}

/// Every active digest partition of `trails`: logging, validation on; accounts × regions as
/// the module documentation says. Sorted by partition id.
pub fn partitions(trails: &[Trail], config: &PipelineConfig) -> Vec<PartitionSpec> {
    let mut out = Vec::new();
    for t in trails.iter().filter(|t| t.logging && t.log_file_validation) {
        let org = config
            .organization
            .as_ref()
            .filter(|o| t.is_organization && o.management_account.as_str() == t.account_id);
        let accounts: Vec<String> = match org {
            Some(o) => std::iter::once(o.management_account.to_string())
                .chain(o.member_accounts.iter().map(|a| a.to_string()))
                .collect(),
            None => vec![t.account_id.clone()],
        };
        let regions: Vec<String> = if t.is_multi_region {
            config.regions.iter().map(|r| r.to_string()).collect()
        } else if config.region_enabled(&t.home_region) {
            vec![t.home_region.clone()]
        } else {
            Vec::new()
        };
        for account in &accounts {
            for region in &regions {
                out.push(PartitionSpec {
                    trail_arn: t.arn(),
                    trail_name: t.name.clone(),
                    home_region: t.home_region.clone(),
                    account: account.clone(),
                    region: region.clone(),
                    bucket: t.s3_bucket_name.clone(),
                    prefix: t.s3_key_prefix.clone(),
                    org_id: org.map(|o| o.id.to_string()),
                    logging_since: t.start_logging_time,
                });
            }
        }
    }
    out.sort_by_key(|p| p.id());
    out
}

/// The link a new digest chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousLink {
    /// Bucket of the previous digest.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// SHA-256 hex of its uncompressed bytes.
    pub sha256: String,
    /// Its hex signature.
    pub signature: String,
}

/// A digest committed to the chain but not yet known to be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Hex signature (`x-amz-meta-signature`).
    pub signature: String,
}

/// The durable state of one chain (stored as JSON in `digest_chains.doc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainState {
    /// Shape version (1).
    pub v: u32,
    /// Where digests go and what they are named (refreshed from the trail while active; kept
    /// for the final digest of a deleted trail).
    pub spec: StoredSpec,
    /// False once the final digest is written: the next digest starts a new chain.
    pub open: bool,
    /// When the chain opened (unix seconds): log files delivered earlier are never listed.
    pub chain_start: i64,
    /// End of the newest digest, or `chain_start` before the first one.
    pub last_end: i64,
    /// Every batch id of the partition at or below this is settled.
    pub floor: i64,
    /// The newest digest, `None` before the starting digest.
    pub previous: Option<PreviousLink>,
    /// The newest digest while its upload is outstanding.
    pub pending: Option<PendingUpload>,
}

/// The parts of a [`PartitionSpec`] kept in the chain state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSpec {
    /// Trail name.
    pub trail_name: String,
    /// Home region.
    pub home_region: String,
    /// Bucket.
    pub bucket: String,
    /// Prefix.
    pub prefix: Option<String>,
    /// Organization id.
    pub org_id: Option<String>,
    /// `StartLoggingTime` when the chain was opened.
    pub logging_since: Option<f64>,
}

impl From<&PartitionSpec> for StoredSpec {
    fn from(p: &PartitionSpec) -> Self {
        StoredSpec {
            trail_name: p.trail_name.clone(),
            home_region: p.home_region.clone(),
            bucket: p.bucket.clone(),
            prefix: p.prefix.clone(),
            org_id: p.org_id.clone(),
            logging_since: p.logging_since,
        }
    }
}

impl ChainState {
    /// A freshly opened chain at `now`.
    pub fn open(spec: &PartitionSpec, now: i64, floor: i64) -> Self {
        ChainState {
            v: 1,
            spec: spec.into(),
            open: true,
            chain_start: now,
            last_end: now,
            floor,
            previous: None,
            pending: None,
        }
    }

    /// Whether a digest is due at `now` for an active partition.
    pub fn due(&self, now: i64, period_secs: i64) -> bool {
        self.open && self.pending.is_none() && now >= self.last_end + period_secs
    }
}

/// What the writer needs.
pub struct DigestDeps {
    /// What it shares with the router (configuration: regions, organization, digest period;
    /// catalog: batches, chains; where digest delivery state is reported).
    pub shared: crate::deliver::Shared,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
}

/// Why one digest could not be made or stored (logged and reported in the trail status;
/// the writer retries on its next tick).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// No signing key.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// Building or signing the digest failed.
    #[error("digest: {0}")]
    Digest(#[from] cairn_logfile::Error),
    /// The chain state does not (de)serialise.
    #[error("digest chain state: {0}")]
    State(#[from] serde_json::Error),
    /// Storing the object failed (`code` is an S3-style error code).
    #[error("storing digest {key} failed ({code}): {detail}")]
    Store {
        /// Object key.
        key: String,
        /// S3-style error code for `LatestDigestDeliveryError`.
        code: String,
        /// Cause.
        detail: String,
    },
}

impl DigestError {
    fn status_code(&self) -> String {
        match self {
            DigestError::Store { code, .. } => code.clone(),
            _ => "InternalFailure".into(),
        }
    }
}

struct Chain {
    state: ChainState,
    pending_gzip: Option<Vec<u8>>,
}

/// The writer's state machine; [`DigestWriter`] drives it from a thread. Tests call
/// [`Writer::tick`] with their own clock.
pub struct Writer {
    deps: DigestDeps,
    chains: BTreeMap<PartitionId, Chain>,
    closing: HashMap<PartitionId, i64>,
}

fn secs_to_time(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Writer {
    /// Loads the chains from the catalog.
    pub fn new(deps: DigestDeps) -> Result<Self, DigestError> {
        let mut chains = BTreeMap::new();
        for row in deps.shared.catalog.digest_chains()? {
            let state: ChainState = serde_json::from_str(&row.doc)?;
            chains.insert(
                row.partition,
                Chain {
                    state,
                    pending_gzip: row.pending_gzip,
                },
            );
        }
        Ok(Writer {
            deps,
            chains,
            closing: HashMap::new(),
        })
    }

    /// The state of a chain (for tests and diagnostics).
    pub fn chain(&self, p: &PartitionId) -> Option<&ChainState> {
        self.chains.get(p).map(|c| &c.state)
    }

    fn period_secs(&self) -> i64 {
        i64::try_from(self.deps.shared.config.digest_period.as_secs())
            .unwrap_or(86_400)
            .max(1)
    }

    fn report(&self, p: &PartitionId, result: &Result<(), DigestError>, now: i64) {
        let (arn, account, region) = p;
        match result {
            Ok(()) => self.deps.shared.status.update(arn, region, account, |s| {
                s.latest_digest_delivery_time = Some(now as f64);
                s.latest_digest_delivery_error = None;
            }),
            Err(e) => {
                tracing::warn!(trail = %arn, account = %account, region = %region, error = %e, "digest delivery failed; retrying");
                let code = e.status_code();
                self.deps.shared.status.update(arn, region, account, |s| {
                    s.latest_digest_delivery_error = Some(code);
                });
            }
        }
    }

    /// One pass at time `now` (unix seconds): store outstanding digests, open chains of newly
    /// active partitions, write due and final digests.
    pub fn tick(&mut self, now: i64) {
        let trails = self.deps.shared.trails.all_trails();
        let active: BTreeMap<PartitionId, PartitionSpec> =
            partitions(&trails, &self.deps.shared.config)
                .into_iter()
                .map(|p| (p.id(), p))
                .collect();
        // 1. Outstanding uploads first: a chain moves on only once its head is stored.
        let outstanding: Vec<PartitionId> = self
            .chains
            .iter()
            .filter(|(_, c)| c.state.pending.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for p in outstanding {
            let r = self.flush(&p);
            if r.is_ok() || active.contains_key(&p) {
                self.report(&p, &r, now);
            }
        }
        // 2. Close chains whose partition went away (or whose logging restarted).
        let open: Vec<PartitionId> = self
            .chains
            .iter()
            .filter(|(_, c)| c.state.open)
            .map(|(k, _)| k.clone())
            .collect();
        for p in open {
            let restarted = active.get(&p).is_some_and(|spec| {
                self.chains
                    .get(&p)
                    .is_some_and(|c| c.state.spec.logging_since != spec.logging_since)
            });
            if active.contains_key(&p) && !restarted {
                self.closing.remove(&p);
                continue;
            }
            let since = *self.closing.entry(p.clone()).or_insert(now);
            let Some(c) = self.chains.get(&p) else {
                continue;
            };
            if c.state.pending.is_some() || now <= c.state.last_end {
                continue;
            }
            let waited = now - since;
            let ready = waited >= CLOSE_GRACE_SECS
                && (waited >= CLOSE_MAX_WAIT_SECS
                    || self
                        .deps
                        .shared
                        .catalog
                        .pending_batch_count(&p)
                        .unwrap_or(1)
                        == 0);
            if ready {
                let r = self.write(&p, None, now, true);
                self.report(&p, &r, now);
                if r.is_ok() {
                    self.closing.remove(&p);
                }
            }
        }
        // 3. Open chains of active partitions; write due digests.
        let period = self.period_secs();
        for (p, spec) in &active {
            let usable = self
                .chains
                .get(p)
                .is_none_or(|c| !c.state.open && c.state.pending.is_none());
            if usable {
                let floor = self.chains.get(p).map_or(0, |c| c.state.floor);
                let state = ChainState::open(spec, now, floor);
                if let Err(e) = self.persist(p, &state, None, "", &[]) {
                    tracing::error!(trail = %spec.trail_arn, error = %e, "cannot open a digest chain");
                    continue;
                }
                tracing::info!(trail = %spec.trail_arn, account = %spec.account, region = %spec.region, "digest chain opened");
                self.chains.insert(
                    p.clone(),
                    Chain {
                        state,
                        pending_gzip: None,
                    },
                );
                continue;
            }
            let due = self.chains.get(p).is_some_and(|c| {
                c.state.due(now, period) && c.state.spec.logging_since == spec.logging_since
            });
            if due {
                let r = self.write(p, Some(spec), now, false);
                self.report(p, &r, now);
            }
        }
    }

    fn persist(
        &self,
        p: &PartitionId,
        state: &ChainState,
        gzip: Option<Vec<u8>>,
        digest_key: &str,
        members: &[i64],
    ) -> Result<String, DigestError> {
        let doc = serde_json::to_string(state)?;
        self.deps.shared.catalog.put_digest_chain(
            &DigestChainRow {
                partition: p.clone(),
                doc: doc.clone(),
                pending_gzip: gzip,
            },
            digest_key,
            members,
        )?;
        Ok(doc)
    }

    /// Makes, commits and stores the digest of `p` ending at `end`.
    fn write(
        &mut self,
        p: &PartitionId,
        spec: Option<&PartitionSpec>,
        end: i64,
        last: bool,
    ) -> Result<(), DigestError> {
        let Some(chain) = self.chains.get(p) else {
            return Ok(());
        };
        let mut state = chain.state.clone();
        if let Some(spec) = spec {
            let logging_since = state.spec.logging_since;
            state.spec = spec.into();
            state.spec.logging_since = logging_since;
        }
        let (account, region) = (&p.1, &p.2);
        let (batches, floor) =
            self.deps
                .shared
                .catalog
                .undigested_batches(p, state.floor, state.chain_start, end)?;
        let key = DigestFileKey {
            prefix: Prefix::new(state.spec.prefix.as_deref().unwrap_or(""))?,
            org_id: state.spec.org_id.clone(),
            account_id: account.clone(),
            source_region: region.clone(),
            trail_name: state.spec.trail_name.clone(),
            home_region: state.spec.home_region.clone(),
            end_time: secs_to_time(end),
            backfill: false,
        };
        let signing = self.deps.keys.signing_key(region, end)?;
        let bucket = state.spec.bucket.clone();
        let mut digest = DigestFile::new(
            &bucket,
            &key,
            secs_to_time(state.last_end),
            signing.key.fingerprint(),
        )?;
        let mut members = Vec::with_capacity(batches.len());
        for b in &batches {
            let (Some(sha), Some(oldest), Some(newest)) =
                (&b.sha256, b.oldest_event_time, b.newest_event_time)
            else {
                tracing::error!(batch = b.id, key = %b.object_key, "a delivered batch lacks its hash or event times; not listed");
                continue;
            };
            digest.add_log_file(LogFileEntry {
                s3_bucket: b.bucket.clone(),
                s3_object: b.object_key.clone(),
                hash_value: sha.clone(),
                hash_algorithm: HASH_ALGORITHM.to_owned(),
                newest_event_time: format_event_time(secs_to_time(newest))?,
                oldest_event_time: format_event_time(secs_to_time(oldest))?,
            });
            members.push(b.id);
        }
        if let Some(prev) = &state.previous {
            digest.previous_digest_s3_bucket = Some(prev.bucket.clone());
            digest.previous_digest_s3_object = Some(prev.key.clone());
            digest.previous_digest_hash_value = Some(prev.sha256.clone());
            digest.previous_digest_hash_algorithm = Some(HASH_ALGORITHM.to_owned());
            digest.previous_digest_signature = Some(prev.signature.clone());
        }
        let signed = digest.sign(&signing.key)?;
        let object_key = digest.digest_s3_object.clone();
        state.previous = Some(PreviousLink {
            bucket: bucket.clone(),
            key: object_key.clone(),
            sha256: signed.sha256_hex.clone(),
            signature: signed.signature_hex.clone(),
        });
        state.pending = Some(PendingUpload {
            bucket,
            key: object_key.clone(),
            signature: signed.signature_hex.clone(),
        });
        state.last_end = end;
        state.floor = floor;
        state.open = !last;
        self.persist(p, &state, Some(signed.gzip.clone()), &object_key, &members)?;
        tracing::debug!(key = %object_key, logs = members.len(), final_digest = last, "digest made");
        self.chains.insert(
            p.clone(),
            Chain {
                state,
                pending_gzip: Some(signed.gzip),
            },
        );
        self.flush(p)
    }

    /// Stores the chain's outstanding digest (put-if-absent; identical bytes count as done).
    fn flush(&mut self, p: &PartitionId) -> Result<(), DigestError> {
        let Some(chain) = self.chains.get(p) else {
            return Ok(());
        };
        let (Some(pending), Some(gzip)) = (&chain.state.pending, &chain.pending_gzip) else {
            return Ok(());
        };
        let store_err = |code: &str, detail: String| DigestError::Store {
            key: pending.key.clone(),
            code: code.to_owned(),
            detail,
        };
        let Some(bucket) = self.deps.shared.buckets.bucket(&pending.bucket) else {
            return Err(store_err(
                "NoSuchBucket",
                format!("bucket {} is not known to this server", pending.bucket),
            ));
        };
        let opts = PutOptions {
            content_type: Some("application/json".into()),
            user_metadata: [
                (
                    cairn_logfile::digest::META_SIGNATURE.to_owned(),
                    pending.signature.clone(),
                ),
                (
                    cairn_logfile::digest::META_SIGNATURE_ALGORITHM.to_owned(),
                    cairn_logfile::keys::SIGNATURE_ALGORITHM.to_owned(),
                ),
            ]
            .into_iter()
            .collect(),
            sse: crate::deliver::trail_sse_by_arn(self.deps.shared.trails.as_ref(), &p.0),
            ..PutOptions::default()
        };
        let body = Bytes::from(gzip.clone());
        let key = pending.key.clone();
        let result = self.deps.shared.runtime.block_on(async {
            cairn_store::put_idempotent(bucket.as_ref(), &key, body, opts).await
        });
        if let Err(e) = result {
            let code = match e.class() {
                cairn_store::ErrorClass::NotFound => "NoSuchBucket",
                cairn_store::ErrorClass::Unauthorized => "AccessDenied",
                cairn_store::ErrorClass::PreconditionFailed => "PreconditionFailed",
                _ => "ServiceUnavailable",
            };
            return Err(store_err(code, e.to_string()));
        }
        let mut state = chain.state.clone();
        state.pending = None;
        self.persist(p, &state, None, "", &[])?;
        self.chains.insert(
            p.clone(),
            Chain {
                state,
                pending_gzip: None,
            },
        );
        Ok(())
    }
}

/// A handle on the running digest writer thread.
pub struct DigestWriter {
    worker: Worker,
}

impl std::fmt::Debug for DigestWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestWriter")
    }
}

impl DigestWriter {
    /// Loads the chains and starts the writer thread (`cairn-digests`), which ticks every
    /// [`TICK`].
    pub fn start(deps: DigestDeps) -> std::io::Result<DigestWriter> {
        let mut writer = Writer::new(deps).map_err(std::io::Error::other)?;
        let worker = Worker::spawn("cairn-digests", move |c| {
            while !c.stopping() {
                writer.tick(OffsetDateTime::now_utc().unix_timestamp());
                c.report(Ok(()));
                c.sleep(TICK);
            }
            Ok(())
        })?;
        Ok(DigestWriter { worker })
    }

    /// Stops the thread (waiting up to `deadline` for a digest in progress). Returns whether
    /// it stopped in time.
    pub fn shutdown(&self, deadline: Duration) -> bool {
        self.worker.shutdown(deadline)
    }

    /// How the writer is doing.
    pub fn health(&self) -> Health {
        self.worker.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OrganizationScope;
    use crate::deliver::SingleBucket;
    use crate::trailset::{MemoryStatus, StaticTrails};
    use cairn_catalog::{BatchRow, BatchStore, Catalog, KeyStore, TrailStore};
    use cairn_logfile::validate::{self, MemorySource, PublicKeySet, ValidationRequest};
    use cairn_store::{Bucket, MemoryBucket};

    const ACCT: &str = "111111111111";
    const MEMBER: &str = "222222222222";

    const KEY_ROTATION: Duration = Duration::from_secs(25);

    fn config() -> Arc<PipelineConfig> {
        Arc::new(PipelineConfig {
            regions: ["us-east-1", "us-west-2"].map(String::from).into(),
            organization: Some(OrganizationScope {
                id: "o-exampleorgid".into(),
                management_account: ACCT.into(),
                member_accounts: [MEMBER.to_owned()].into(),
            }),
            delivery_interval: Duration::from_secs(1),
            digest_period: Duration::from_secs(10),
        })
    }

    fn trail(name: &str, multi: bool, org: bool, logging: bool, validation: bool) -> Trail {
        let body = serde_json::json!({
            "v": 1, "name": name, "account_id": ACCT, "home_region": "us-east-1",
            "s3_bucket_name": "b", "s3_key_prefix": "p", "sns_topic_arn": null,
            "include_global_service_events": true, "is_multi_region": multi,
            "log_file_validation": validation, "cloud_watch_logs_log_group_arn": null,
            "cloud_watch_logs_role_arn": null, "kms_key_id": null, "is_organization": org,
            "selectors": cairn_select::Selectors::default_for_trail(),
            "insight_selectors": [], "tags": [], "logging": logging,
            "start_logging_time": 1.0, "stop_logging_time": null, "created": 0.0,
        });
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn partitions_cover_accounts_times_regions_of_validated_logging_trails() {
        let c = config();
        let trails = [
            trail("single", false, false, true, true),
            trail("multi-org", true, true, true, true),
            trail("stopped", true, false, false, true),
            trail("unvalidated", true, false, true, false),
        ];
        let parts = partitions(&trails, &c);
        let ids: Vec<(String, String, String)> = parts
            .iter()
            .map(|p| (p.trail_name.clone(), p.account.clone(), p.region.clone()))
            .collect();
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            ids,
            [
                s("multi-org", ACCT, "us-east-1"),
                s("multi-org", ACCT, "us-west-2"),
                s("multi-org", MEMBER, "us-east-1"),
                s("multi-org", MEMBER, "us-west-2"),
                s("single", ACCT, "us-east-1"),
            ]
        );
        assert!(
            parts
                .iter()
                .all(|p| p.home_region == "us-east-1" && p.prefix.as_deref() == Some("p"))
        );
        assert_eq!(parts[2].org_id.as_deref(), Some("o-exampleorgid"));
        assert_eq!(parts[4].org_id, None);
        // An organization flag without a configured organization covers the owner only.
        let mut no_org = (*c).clone();
        no_org.organization = None;
        assert_eq!(partitions(&trails[1..2], &no_org).len(), 2);
    }

    #[test]
    fn chain_state_due_rules() {
        let spec = &partitions(&[trail("trl", false, false, true, true)], &config())[0];
        let mut s = ChainState::open(spec, 100, 0);
        assert!(s.previous.is_none() && s.open);
        assert!(!s.due(109, 10));
        assert!(s.due(110, 10));
        s.pending = Some(PendingUpload {
            bucket: "b".into(),
            key: "k".into(),
            signature: "00".into(),
        });
        assert!(!s.due(200, 10), "no new digest before the head is stored");
        s.pending = None;
        s.open = false;
        assert!(!s.due(200, 10));
        let back: ChainState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        rt: tokio::runtime::Runtime,
        catalog: Arc<Catalog>,
        bucket: Arc<MemoryBucket>,
        keys: Arc<KeyRing>,
        config: Arc<PipelineConfig>,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
            let master = Arc::new(cairn_core::secrets::MasterKey::from_bytes(&[3; 32]).unwrap());
            let config = config();
            Fixture {
                rt: tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap(),
                keys: Arc::new(KeyRing::new(catalog.clone(), master, KEY_ROTATION)),
                catalog,
                bucket: Arc::new(MemoryBucket::new("b")),
                config,
                _dir: dir,
            }
        }

        /// A writer over the trails as stored now (a fresh writer = a restart).
        fn writer(&self) -> Writer {
            let trails = self.catalog.trails().unwrap();
            Writer::new(DigestDeps {
                shared: crate::deliver::Shared {
                    config: self.config.clone(),
                    catalog: self.catalog.clone(),
                    trails: Arc::new(StaticTrails::new(trails)),
                    status: Arc::new(MemoryStatus::default()),
                    buckets: Arc::new(SingleBucket::new("b", self.bucket.clone())),
                    runtime: self.rt.handle().clone(),
                },
                keys: self.keys.clone(),
            })
            .unwrap()
        }

        /// Stores a one-record log file and records its batch; `delivered: None` leaves the
        /// batch pending. Returns (batch id, key).
        fn batch(&self, n: u64, delivered: Option<i64>) -> (i64, String) {
            let mut enc = cairn_logfile::logfile::LogFileEncoder::default();
            enc.push_record(
                format!(r#"{{"eventTime":"2025-01-01T00:00:0{}Z","n":{n}}}"#, n % 10).as_bytes(),
            )
            .unwrap();
            let file = enc.finish().unwrap();
            let key = format!(
                "p/AWSLogs/{ACCT}/CloudTrail/us-east-1/2025/01/01/{ACCT}_CloudTrail_us-east-1_20250101T0000Z_AAAAAAAAAAAAAAA{n}.json.gz"
            );
            let row = BatchRow {
                id: 0,
                trail_arn: format!("arn:aws:cloudtrail:us-east-1:{ACCT}:trail/trl"),
                account_id: ACCT.into(),
                region: "us-east-1".into(),
                bucket: "b".into(),
                object_key: key.clone(),
                first_seq: n,
                last_seq: n,
                seqs: vec![],
                state: "pending".into(),
                record_count: 1,
                delivered: None,
                sha256: None,
                oldest_event_time: None,
                newest_event_time: None,
            };
            let id = self.catalog.insert_batch(&row, 0).unwrap();
            self.rt
                .block_on(self.bucket.put(
                    &key,
                    Bytes::from(file.gzip.clone()),
                    PutOptions::default(),
                ))
                .unwrap();
            if let Some(d) = delivered {
                self.complete(id, d, &file.sha256_hex);
            }
            (id, file.sha256_hex)
        }

        fn complete(&self, id: i64, delivered: i64, sha: &str) {
            self.catalog
                .complete_batch(id, delivered, sha, Some(1_735_689_600), Some(1_735_689_601))
                .unwrap();
        }

        fn digests(&self) -> Vec<(String, DigestFile)> {
            let list = self
                .rt
                .block_on(cairn_store::list_all(
                    self.bucket.as_ref(),
                    "p/AWSLogs/111111111111/CloudTrail-Digest/",
                ))
                .unwrap();
            list.iter()
                .map(|e| {
                    let o = self.rt.block_on(self.bucket.get(&e.key)).unwrap();
                    (
                        e.key.clone(),
                        DigestFile::from_object(&o.bytes, 1 << 20).unwrap().0,
                    )
                })
                .collect()
        }
    }

    #[test]
    fn chain_lists_each_file_once_survives_restart_rotation_and_stop() {
        let f = Fixture::new();
        f.catalog
            .put_trail(&trail("trl", false, false, true, true))
            .unwrap();
        let mut w = f.writer();
        let p: PartitionId = (
            format!("arn:aws:cloudtrail:us-east-1:{ACCT}:trail/trl"),
            ACCT.into(),
            "us-east-1".into(),
        );
        // Files delivered before the chain opened are never listed.
        f.batch(1, Some(999));
        w.tick(1000);
        assert!(w.chain(&p).unwrap().previous.is_none());
        assert!(f.digests().is_empty());
        f.batch(2, Some(1001));
        w.tick(1009);
        assert!(f.digests().is_empty(), "not due before one period");
        w.tick(1010); // starting digest [1000, 1010): file 2
        let head = w.chain(&p).unwrap();
        assert!(
            head.previous.is_some() && head.pending.is_none(),
            "{head:?}"
        );
        let (late_id, late_sha) = f.batch(3, None);
        w.tick(1020); // [1010, 1020): empty (file 3 not yet recorded)
        f.complete(late_id, 1019, &late_sha); // delivered before 1020, recorded after
        f.batch(4, Some(1030)); // delivered exactly at the next end: belongs to the one after
        w.tick(1030); // [1020, 1030): late file 3 only
        let mut w = f.writer(); // restart
        w.tick(1040); // [1030, 1040): file 4 — key rotated (25 s window)
        w.tick(1055); // [1040, 1055)
        // StopLogging: noticed, then the final digest after the grace.
        let mut stopped = trail("trl", false, false, false, true);
        f.catalog.put_trail(&stopped).unwrap();
        let mut w = f.writer();
        w.tick(1056);
        assert_eq!(f.digests().len(), 5);
        w.tick(1057); // final [1055, 1057)
        assert!(!w.chain(&p).unwrap().open);
        w.tick(1100);
        assert_eq!(f.digests().len(), 6, "no digests while stopped");
        // StartLogging again: a new chain with a starting digest.
        stopped.logging = true;
        stopped.start_logging_time = Some(1100.0);
        f.catalog.put_trail(&stopped).unwrap();
        let mut w = f.writer();
        w.tick(1101);
        f.batch(5, Some(1105));
        w.tick(1111);

        let digests = f.digests();
        assert_eq!(digests.len(), 7);
        let by_end: BTreeMap<String, &DigestFile> = digests
            .iter()
            .map(|(_, d)| (d.digest_end_time.clone(), d))
            .collect();
        let lists: Vec<(bool, usize)> = by_end
            .values()
            .map(|d| (d.is_starting(), d.log_files.len()))
            .collect();
        assert_eq!(
            lists,
            [
                (true, 1),
                (false, 0),
                (false, 1),
                (false, 1),
                (false, 0),
                (false, 0),
                (true, 1)
            ]
        );
        let ends: Vec<&String> = by_end.keys().collect();
        assert_eq!(ends[0], "1970-01-01T00:16:50Z");
        assert_eq!(by_end[ends[0]].digest_start_time, "1970-01-01T00:16:40Z");
        // Chained: each non-starting digest names the previous end's digest.
        for pair in ends.windows(2) {
            let (older, newer) = (by_end[pair[0]], by_end[pair[1]]);
            if !newer.is_starting() {
                assert_eq!(newer.digest_start_time, older.digest_end_time);
                assert_eq!(
                    newer.previous_digest_s3_object.as_deref(),
                    Some(older.digest_s3_object.as_str())
                );
            }
        }
        let fps: std::collections::BTreeSet<&str> = by_end
            .values()
            .map(|d| d.digest_public_key_fingerprint.as_str())
            .collect();
        assert!(fps.len() >= 2, "signed across a key rotation");

        // The AWS CLI algorithm, plus strict checks, over what is stored.
        let src = MemorySource::new();
        for (key, _) in &digests {
            let o = f.rt.block_on(f.bucket.get(key)).unwrap();
            src.put("b", key, o.bytes.clone(), o.meta.user_metadata.clone());
        }
        let logs =
            f.rt.block_on(cairn_store::list_all(
                f.bucket.as_ref(),
                "p/AWSLogs/111111111111/CloudTrail/",
            ))
            .unwrap();
        for e in &logs {
            let o = f.rt.block_on(f.bucket.get(&e.key)).unwrap();
            src.put("b", &e.key, o.bytes.clone(), Vec::<(String, String)>::new());
        }
        let mut keys = PublicKeySet::new();
        for k in f.catalog.signing_keys("us-east-1", 0, i64::MAX).unwrap() {
            keys.insert_listed(&k.fingerprint, &k.public_der);
        }
        let mut req = ValidationRequest::new(
            "b",
            ACCT,
            "us-east-1",
            "trl",
            secs_to_time(1000),
            secs_to_time(1200),
        );
        req.prefix = Prefix::new("p").unwrap();
        let report = validate::validate(&src, &req, &keys).unwrap();
        let s = report.summary();
        assert_eq!((s.digests_valid, s.digests_invalid), (7, 0), "{report:?}");
        assert_eq!((s.logs_valid, s.logs_invalid), (4, 0), "{report:?}");
    }
}
