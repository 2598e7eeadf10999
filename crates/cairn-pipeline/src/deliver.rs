//! Delivery: journal → route → per-partition batches → gzip log files in buckets, exactly once.
//!
//! # Tasks and channels
//!
//! ```text
//!  journal ──► router thread ──(UploadJob, bounded by MAX_IN_FLIGHT)──► tokio upload tasks
//!               │  decode envelope, route, append to open batch           │ encode (blocking pool)
//!               │  seal on interval / size cap:                           │ put-if-absent, retry
//!               │    1. batch row 'pending' in the catalog (key fixed)    │   with backoff forever
//!               │    2. hand the job to an upload task                    │ mark row 'done',
//!               │  commit the journal cursor = min(open batches,          │ trail status
//!               │    pending batches, read position)                      ▼
//!               ◄──────────────────── completions (unbounded; one per job) ┘
//! ```
//!
//! # Exactly once
//!
//! A record is delivered in exactly one file per partition (trail, account, region):
//! - a batch's object key and its list of journal sequence numbers are durable (catalog row)
//!   before the first upload attempt; a restart re-reads exactly those records from the
//!   journal, re-encodes them (deterministically) and stores them under the same key with
//!   put-if-absent, where an existing identical object counts as success;
//! - records up to a partition's highest sealed sequence number are skipped when the journal
//!   is replayed from the cursor, so an open batch lost in a crash is rebuilt without them;
//! - the journal cursor never passes a record of an open or pending batch, so the journal
//!   keeps it until its file is stored (which is also what bounds memory and disk: a bucket
//!   that is down fills the journal, and ingest is throttled).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_catalog::model::Trail;
use cairn_catalog::{BatchRow, BatchStore, PartitionId};
use cairn_core::worker::{Control, Health, Worker};
use cairn_journal::Journal;
use cairn_logfile::layout::LogFileKey;
use cairn_logfile::logfile::LogFileEncoder;
use cairn_store::{Bucket, PutOptions};
use time::OffsetDateTime;

use crate::config::PipelineConfig;
use crate::envelope;
use crate::route::{RouteTable, Router};
use crate::trailset::{DeliveryStatus, StatusSink, TrailSet};

/// The journal cursor of the log-file delivery consumer.
pub const CURSOR: &str = "delivery";
/// Largest uncompressed log file (CloudTrail's quota).
pub const MAX_FILE_BYTES: u64 = 50_000_000;
/// Upload jobs in flight before the router stops reading the journal.
const MAX_IN_FLIGHT: usize = 64;

/// Where buckets come from.
pub trait BucketResolver: Send + Sync {
    /// The bucket named `name`, if this server can write to it.
    fn bucket(&self, name: &str) -> Option<Arc<dyn Bucket>>;
}

/// A [`BucketResolver`] for a deployment that writes into one bucket: `name` resolves to it,
/// every other name to none.
#[derive(Clone)]
pub struct SingleBucket {
    name: String,
    bucket: Arc<dyn Bucket>,
}

impl SingleBucket {
    /// Resolves `name` to `bucket`.
    pub fn new(name: impl Into<String>, bucket: Arc<dyn Bucket>) -> Self {
        SingleBucket {
            name: name.into(),
            bucket,
        }
    }
}

impl BucketResolver for SingleBucket {
    fn bucket(&self, name: &str) -> Option<Arc<dyn Bucket>> {
        (name == self.name).then(|| self.bucket.clone())
    }
}

/// Varint-delta encoding of ascending sequence numbers.
pub fn encode_seqs(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2);
    let mut prev = 0u64;
    for &s in seqs {
        let mut d = s - prev;
        prev = s;
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    out
}

/// Inverse of [`encode_seqs`].
pub fn decode_seqs(b: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut cur, mut shift, mut prev) = (0u64, 0u32, 0u64);
    for &x in b {
        cur |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            prev += cur;
            out.push(prev);
            cur = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    out
}

type PartitionKey = (usize, String, String); // (trail index, account, region)
/// A record inside a batch buffer: (offset, length, eventTime in unix seconds).
type Span = (u32, u32, i64);

struct OpenBatch {
    opened: Instant,
    seqs: Vec<u64>,
    records: Vec<u8>,
    spans: Vec<Span>,
}

struct UploadJob {
    row: BatchRow,
    records: Vec<u8>,
    spans: Vec<Span>,
    bucket: Option<Arc<dyn Bucket>>,
    /// SSE-KMS with the trail's key when it has one.
    sse: cairn_store::Sse,
    /// The trail the batch was routed to (its bucket owner's consent is checked before each
    /// attempt); `None` for a batch resumed after a restart whose trail is gone.
    trail: Option<Trail>,
}

/// The encryption of a trail's log and digest files: SSE-KMS under the trail's `KmsKeyId`
/// (a key ARN), else the bucket's default.
pub fn trail_sse(kms_key_id: Option<&str>) -> cairn_store::Sse {
    match kms_key_id {
        Some(k) => cairn_store::Sse::Kms {
            key_id: k.to_owned(),
        },
        None => cairn_store::Sse::None,
    }
}

/// [`trail_sse`] of the trail `trail_arn` as the trail set has it now.
pub fn trail_sse_by_arn(trails: &dyn TrailSet, trail_arn: &str) -> cairn_store::Sse {
    let trails = trails.all_trails();
    let t = trails.iter().find(|t| t.arn() == trail_arn);
    trail_sse(t.and_then(|t| t.kms_key_id.as_deref()))
}

struct Completion {
    id: i64,
}

/// A handle on the running pipeline.
pub struct Pipeline {
    worker: Worker,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pipeline")
    }
}

/// What both workers that store files, the router here and the digest writer
/// ([`crate::digest::DigestDeps`]), work with.
#[derive(Clone)]
pub struct Shared {
    /// The configuration.
    pub config: Arc<PipelineConfig>,
    /// The catalog (batch rows, digest chains).
    pub catalog: Arc<dyn BatchStore>,
    /// The trails.
    pub trails: Arc<dyn TrailSet>,
    /// Where delivery state is reported.
    pub status: Arc<dyn StatusSink>,
    /// Buckets.
    pub buckets: Arc<dyn BucketResolver>,
    /// Runtime for uploads.
    pub runtime: tokio::runtime::Handle,
}

/// What the router needs.
pub struct Deps {
    /// What it shares with the digest writer.
    pub shared: Shared,
    /// The journal.
    pub journal: Arc<Journal>,
}

impl Pipeline {
    /// Starts the router thread. Pending batches from a previous run are re-sent first.
    pub fn start(deps: Deps) -> std::io::Result<Pipeline> {
        let worker = Worker::spawn("cairn-delivery", move |c| run(deps, c))?;
        Ok(Pipeline { worker })
    }

    /// Seals open batches, waits (up to `deadline`) for uploads, and stops. Returns whether
    /// everything finished; batches still pending resume on restart.
    pub fn shutdown(&self, deadline: Duration) -> bool {
        let done = self.worker.shutdown(deadline);
        if !done {
            tracing::warn!(
                "delivery did not finish before the shutdown deadline; pending batches resume on restart"
            );
        }
        done
    }

    /// How the delivery loop is doing.
    pub fn health(&self) -> Health {
        self.worker.health()
    }
}

fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn status_update(status: &dyn StatusSink, row: &BatchRow, f: impl FnOnce(&mut DeliveryStatus)) {
    status.update(&row.trail_arn, &row.region, &row.account_id, f);
}

async fn upload(job: UploadJob, deps: Arc<UploadDeps>, done: mpsc::Sender<Completion>) {
    let UploadJob {
        row,
        records,
        spans,
        bucket,
        sse,
        trail,
    } = job;
    let encoded = tokio::task::spawn_blocking(move || {
        let mut enc = LogFileEncoder::default();
        for (start, len, t) in &spans {
            let rec = &records[*start as usize..(*start + *len) as usize];
            let t = OffsetDateTime::from_unix_timestamp(*t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            enc.push(rec, t)?;
        }
        enc.finish()
    })
    .await;
    let encoded = match encoded {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            tracing::error!(key = %row.object_key, error = %e, "log file encoding failed");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "encoder task failed");
            return;
        }
    };
    let body = Bytes::from(encoded.gzip);
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = now_secs() as f64;
        // Never write into a bucket whose owner does not (or no longer) let this trail
        // deliver there: the batch stays pending (the journal keeps its records) and the
        // trail status shows the error until the owner's policy allows it.
        let consent = match &trail {
            Some(t) => {
                let (trails, t) = (deps.trails.clone(), t.clone());
                tokio::task::spawn_blocking(move || trails.delivery_consent(&t))
                    .await
                    .unwrap_or_else(|e| {
                        Err(crate::trailset::ConsentError {
                            denied: false,
                            message: e.to_string(),
                        })
                    })
            }
            None => Ok(()),
        };
        let result = match (&bucket, consent) {
            (_, Err(e)) => Err((
                if e.denied {
                    "AccessDenied".to_owned()
                } else {
                    "ServiceUnavailable".to_owned()
                },
                e.message.clone(),
            )),
            (Some(b), Ok(())) => {
                let opts = PutOptions {
                    content_type: Some("application/json".into()),
                    sse: sse.clone(),
                    ..PutOptions::default()
                };
                cairn_store::put_idempotent(b.as_ref(), &row.object_key, body.clone(), opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        let code = match e.class() {
                            cairn_store::ErrorClass::NotFound => "NoSuchBucket",
                            cairn_store::ErrorClass::Unauthorized => "AccessDenied",
                            cairn_store::ErrorClass::PreconditionFailed => "PreconditionFailed",
                            _ => "ServiceUnavailable",
                        };
                        (code.to_owned(), e.to_string())
                    })
            }
            (None, Ok(())) => Err((
                "NoSuchBucket".to_owned(),
                format!("bucket {} is not known to this server", row.bucket),
            )),
        };
        match result {
            Ok(()) => {
                let delivered = now_secs();
                // The notification goes before the batch is marked delivered: a crash in
                // between re-sends the file (idempotently) and notifies again, at least once.
                notify(&deps, trail.as_ref(), &row).await;
                let oldest = encoded.oldest_event_time.map(|t| t.unix_timestamp());
                let newest = encoded.newest_event_time.map(|t| t.unix_timestamp());
                let cat = deps.catalog.clone();
                let (id, sha) = (row.id, encoded.sha256_hex.clone());
                let stored = tokio::task::spawn_blocking(move || {
                    cat.complete_batch(id, delivered, &sha, oldest, newest)
                })
                .await;
                if !matches!(stored, Ok(Ok(()))) {
                    tracing::error!(
                        batch = row.id,
                        "could not record a delivered batch; it will be re-sent (idempotently) on restart"
                    );
                }
                status_update(deps.status.as_ref(), &row, |s| {
                    s.latest_delivery_time = Some(delivered as f64);
                    s.latest_delivery_attempt_time = Some(attempt);
                    s.latest_delivery_attempt_succeeded = Some(true);
                    s.latest_delivery_error = None;
                });
                tracing::debug!(key = %row.object_key, records = row.record_count, "log file delivered");
                let _ = done.send(Completion { id: row.id });
                return;
            }
            Err((code, detail)) => {
                tracing::warn!(bucket = %row.bucket, key = %row.object_key, error = %detail, "log file delivery failed; retrying");
                status_update(deps.status.as_ref(), &row, |s| {
                    s.latest_delivery_attempt_time = Some(attempt);
                    s.latest_delivery_attempt_succeeded = Some(false);
                    s.latest_delivery_error = Some(code.clone());
                });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Publishes the trail's notification of `row`'s log file, if the trail has a topic, and
/// reports the outcome as the trail's notification status.
async fn notify(deps: &UploadDeps, trail: Option<&Trail>, row: &BatchRow) {
    let Some(t) = trail.filter(|t| t.sns_topic_arn.is_some()).cloned() else {
        return;
    };
    let (trails, bucket, key) = (
        deps.trails.clone(),
        row.bucket.clone(),
        row.object_key.clone(),
    );
    let sent = tokio::task::spawn_blocking(move || trails.notify_delivered(&t, &bucket, &key))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let at = now_secs() as f64;
    status_update(deps.status.as_ref(), row, |s| match sent {
        Ok(false) => {}
        Ok(true) => {
            s.latest_notification_time = Some(at);
            s.latest_notification_attempt_time = Some(at);
            s.latest_notification_attempt_succeeded = Some(true);
            s.latest_notification_error = None;
        }
        Err(code) => {
            tracing::warn!(trail = %row.trail_arn, error = %code, "log file notification not published");
            s.latest_notification_attempt_time = Some(at);
            s.latest_notification_attempt_succeeded = Some(false);
            s.latest_notification_error = Some(code);
        }
    });
}

struct UploadDeps {
    catalog: Arc<dyn BatchStore>,
    trails: Arc<dyn TrailSet>,
    status: Arc<dyn StatusSink>,
}

fn read_records(journal: &Journal, seqs: &[u64]) -> Result<(Vec<u8>, Vec<Span>), String> {
    let Some(&first) = seqs.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let want: BTreeSet<u64> = seqs.iter().copied().collect();
    let last = *seqs.last().unwrap_or(&first);
    let mut reader = journal.reader(first).map_err(|e| e.to_string())?;
    let (mut records, mut spans) = (Vec::new(), Vec::new());
    while reader.position() <= last {
        let batch = reader.try_next_batch(1024).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Err(format!("journal ends before sequence {last}"));
        }
        for r in batch {
            if r.seq > last {
                break;
            }
            if want.contains(&r.seq) {
                let env = envelope::decode(&r.payload).map_err(|e| e.to_string())?;
                spans.push((
                    records.len() as u32,
                    env.record.len() as u32,
                    env.event_time,
                ));
                records.extend_from_slice(env.record);
            }
        }
    }
    if spans.len() != seqs.len() {
        return Err(format!(
            "journal holds {} of the {} records of the batch",
            spans.len(),
            seqs.len()
        ));
    }
    Ok((records, spans))
}

fn run(deps: Deps, control: &Control) -> Result<(), String> {
    let Deps {
        shared:
            Shared {
                config,
                catalog,
                trails,
                status,
                buckets,
                runtime,
            },
        journal,
    } = deps;
    let up = Arc::new(UploadDeps {
        catalog: catalog.clone(),
        trails: trails.clone(),
        status,
    });
    let (done_tx, done_rx) = mpsc::channel::<Completion>();
    let watermarks = catalog
        .partition_watermarks()
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let mut sealer = Sealer {
        catalog: catalog.clone(),
        buckets,
        runtime,
        up,
        done: done_tx,
        in_flight: HashMap::new(),
        watermarks,
        rng: rand::thread_rng(),
    };
    // 1. Re-send what a previous run sealed but did not deliver.
    resend_pending(&mut sealer, &journal, trails.as_ref())?;
    // 2. Route the journal from the cursor on.
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let reader = journal.reader(start).map_err(|e| e.to_string())?;
    trails.attach_journal(journal.clone());
    let mut router = Router::new(trails.clone(), config.clone());
    let table = router.table_at(start).0;
    let mut d = Delivery {
        sealer,
        router,
        table,
        open: HashMap::new(),
        reader,
        journal,
        trails,
        committed: start,
        last_commit: Instant::now(),
        interval: config.delivery_interval,
    };
    loop {
        let stopping = control.stopping();
        while let Ok(c) = done_rx.try_recv() {
            d.sealer.in_flight.remove(&c.id);
        }
        if !stopping && d.sealer.in_flight.len() < MAX_IN_FLIGHT {
            d.read()?;
        } else if !stopping {
            std::thread::sleep(Duration::from_millis(20));
        }
        d.seal_due(stopping)?;
        d.commit(stopping)?;
        if stopping {
            // Wait for uploads already handed out; the caller bounds the wait.
            if d.sealer.in_flight.is_empty() {
                return Ok(());
            }
            if let Ok(c) = done_rx.recv_timeout(Duration::from_millis(50)) {
                d.sealer.in_flight.remove(&c.id);
            }
        }
    }
}

/// Hands every batch a previous run sealed but did not deliver to an upload task again.
fn resend_pending(
    sealer: &mut Sealer,
    journal: &Journal,
    trails: &dyn TrailSet,
) -> Result<(), String> {
    for row in sealer
        .catalog
        .pending_batches()
        .map_err(|e| e.to_string())?
    {
        let seqs = decode_seqs(&row.seqs);
        let (records, spans) = read_records(journal, &seqs)?;
        tracing::info!(key = %row.object_key, records = seqs.len(), "re-sending a batch sealed before restart");
        sealer.in_flight.insert(row.id, row.first_seq);
        let job = UploadJob {
            bucket: sealer.buckets.bucket(&row.bucket),
            sse: trail_sse_by_arn(trails, &row.trail_arn),
            trail: trails
                .all_trails()
                .into_iter()
                .find(|t| t.arn() == row.trail_arn)
                .map(|mut t| {
                    // The batch goes where it was sealed for.
                    t.s3_bucket_name = row.bucket.clone();
                    t
                }),
            row,
            records,
            spans,
        };
        sealer
            .runtime
            .spawn(upload(job, sealer.up.clone(), sealer.done.clone()));
    }
    Ok(())
}

/// The router thread's state between journal reads.
struct Delivery {
    sealer: Sealer,
    router: Router,
    /// The table the open batches were routed with.
    table: Arc<RouteTable>,
    open: HashMap<PartitionKey, OpenBatch>,
    reader: cairn_journal::Reader,
    journal: Arc<Journal>,
    trails: Arc<dyn TrailSet>,
    committed: u64,
    last_commit: Instant,
    interval: Duration,
}

impl Delivery {
    /// Reads the next journal records (waiting a little for them) and batches them.
    fn read(&mut self) -> Result<(), String> {
        let wait = Duration::from_millis(100).min(self.interval);
        let batch = self
            .reader
            .next_batch(4096, wait)
            .map_err(|e| format!("journal read failed: {e}"))?;
        for rec in batch {
            let env = match envelope::decode(&rec.payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(seq = rec.seq, error = %e, "skipping a malformed journal record");
                    continue;
                }
            };
            self.batch_record(rec.seq, &env)?;
        }
        Ok(())
    }

    /// Appends the record at `seq` to the open batch of every partition it routes to.
    fn batch_record(&mut self, seq: u64, env: &envelope::Envelope<'_>) -> Result<(), String> {
        // Route by the trails as they were when this record was journaled.
        let (at, changed) = self.router.table_at(seq);
        if changed {
            // Seal what was batched under the previous configuration first: a batch
            // belongs to the trail state it was routed with.
            let keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
            for k in keys {
                self.sealer.seal(&k, &mut self.open, &self.table)?;
            }
            self.table = at;
        }
        let table = self.table.clone();
        for idx in table.route(env) {
            let t = &table.trails[idx];
            let wkey = (
                t.arn.clone(),
                env.recipient_account_id.to_owned(),
                env.aws_region.to_owned(),
            );
            if self.sealer.watermarks.get(&wkey).is_some_and(|w| seq <= *w) {
                continue; // already sealed before a restart
            }
            let key = (idx, wkey.1, wkey.2);
            let fits = self
                .open
                .get(&key)
                .is_none_or(|b| (b.records.len() + env.record.len() + 16) as u64 <= MAX_FILE_BYTES);
            if !fits {
                self.sealer.seal(&key, &mut self.open, &table)?;
            }
            let b = self.open.entry(key.clone()).or_insert_with(|| OpenBatch {
                opened: Instant::now(),
                seqs: Vec::new(),
                records: Vec::new(),
                spans: Vec::new(),
            });
            b.seqs.push(seq);
            b.spans.push((
                b.records.len() as u32,
                env.record.len() as u32,
                env.event_time,
            ));
            b.records.extend_from_slice(env.record);
            if !t.is_logging() {
                // The StopLogging call on a stopped trail is the last record it takes: its
                // file is sealed now, so the final digest that closes the trail's chain
                // lists it.
                self.sealer.seal(&key, &mut self.open, &table)?;
            }
        }
        Ok(())
    }

    /// Seals batches whose interval has passed (all of them when stopping).
    fn seal_due(&mut self, stopping: bool) -> Result<(), String> {
        let interval = self.interval;
        let due: Vec<PartitionKey> = self
            .open
            .iter()
            .filter(|(_, b)| stopping || b.opened.elapsed() >= interval)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.sealer.seal(&k, &mut self.open, &self.table)?;
        }
        Ok(())
    }

    /// Commits the cursor: nothing before an open or in-flight batch may be released.
    fn commit(&mut self, stopping: bool) -> Result<(), String> {
        let floor = self
            .open
            .values()
            .filter_map(|b| b.seqs.first().copied())
            .chain(self.sealer.in_flight.values().copied())
            .min()
            .unwrap_or(u64::MAX)
            .min(self.reader.position());
        if floor > self.committed
            && (stopping || self.last_commit.elapsed() >= Duration::from_millis(500))
        {
            self.journal
                .commit_cursor(CURSOR, floor)
                .map_err(|e| format!("committing the delivery cursor failed: {e}"))?;
            self.committed = floor;
            prune_history(&self.journal, self.trails.as_ref());
            self.last_commit = Instant::now();
        }
        Ok(())
    }
}

/// Drops the trail configuration versions that neither routing consumer (log files, log
/// groups) can need again: those that end before both consumers' cursors.
fn prune_history(journal: &Journal, trails: &dyn TrailSet) {
    let cursors = journal.cursors();
    let at = |name: &str| cursors.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
    if let (Some(d), Some(m)) = (at(CURSOR), at(crate::monitor::CURSOR)) {
        trails.prune_history(d.min(m));
    }
}

/// What sealing a batch needs besides the batch, and the router's bookkeeping of sealed
/// batches.
struct Sealer {
    catalog: Arc<dyn BatchStore>,
    buckets: Arc<dyn BucketResolver>,
    runtime: tokio::runtime::Handle,
    up: Arc<UploadDeps>,
    done: mpsc::Sender<Completion>,
    /// First sequence number of every batch in flight, by batch id.
    in_flight: HashMap<i64, u64>,
    /// Per partition, the highest sequence number already sealed into a batch.
    watermarks: HashMap<PartitionId, u64>,
    rng: rand::rngs::ThreadRng,
}

impl Sealer {
    /// Seals the open batch of `key` (if any): records it durably, then hands it to an upload
    /// task.
    fn seal(
        &mut self,
        key: &PartitionKey,
        open: &mut HashMap<PartitionKey, OpenBatch>,
        table: &RouteTable,
    ) -> Result<(), String> {
        let Some(batch) = open.remove(key) else {
            return Ok(());
        };
        let (Some(&first), Some(&last)) = (batch.seqs.first(), batch.seqs.last()) else {
            return Ok(());
        };
        let t = &table.trails[key.0];
        let object_key = LogFileKey {
            prefix: t.prefix.clone(),
            org_id: t.org_id.clone(),
            account_id: key.1.clone(),
            region: key.2.clone(),
            delivery_time: OffsetDateTime::now_utc(),
            unique: cairn_logfile::layout::unique_string(&mut self.rng),
        }
        .to_key()
        .map_err(|e| format!("cannot build a log file key for {}: {e}", t.arn))?;
        let mut row = BatchRow {
            id: 0,
            trail_arn: t.arn.clone(),
            account_id: key.1.clone(),
            region: key.2.clone(),
            bucket: t.bucket.clone(),
            object_key,
            first_seq: first,
            last_seq: last,
            seqs: encode_seqs(&batch.seqs),
            state: "pending".into(),
            record_count: batch.seqs.len() as u64,
            delivered: None,
            sha256: None,
            oldest_event_time: None,
            newest_event_time: None,
        };
        row.id = self
            .catalog
            .insert_batch(&row, now_secs())
            .map_err(|e| format!("recording a sealed batch failed: {e}"))?;
        self.watermarks.insert(
            (
                row.trail_arn.clone(),
                row.account_id.clone(),
                row.region.clone(),
            ),
            last,
        );
        self.in_flight.insert(row.id, first);
        let job = UploadJob {
            bucket: self.buckets.bucket(&row.bucket),
            sse: trail_sse(t.kms_key_id.as_deref()),
            trail: Some(t.trail.clone()),
            row,
            records: batch.records,
            spans: batch.spans,
        };
        self.runtime
            .spawn(upload(job, self.up.clone(), self.done.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_bucket_resolves_only_its_name() {
        let bucket: Arc<dyn Bucket> = Arc::new(cairn_store::MemoryBucket::new("logs"));
        let r = SingleBucket::new("logs", bucket.clone());
        let got = r.bucket("logs").expect("the configured name resolves");
        assert!(Arc::ptr_eq(&got, &bucket));
        assert!(r.bucket("other").is_none());
        assert!(r.bucket("").is_none());
    }

    #[test]
    fn seq_lists_round_trip() {
        for seqs in [
            vec![],
            vec![0],
            vec![5, 6, 7, 1000, 1_000_000, u64::MAX / 2],
        ] {
            assert_eq!(decode_seqs(&encode_seqs(&seqs)), seqs);
        }
    }
}
