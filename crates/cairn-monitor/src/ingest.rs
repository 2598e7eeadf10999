//! The append path shared by `PutLogEvents` and [`Monitor::ingest_trail_events`]:
//! write the events, run every metric filter of the group once per event
//! (one JSON parse per event), store datapoints, evaluate the affected
//! alarms, and queue subscription-filter matches for streaming out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cairn_pattern::alarm::StatisticSet;
use cairn_pattern::{
    FilterPattern, MetricExtractor, MetricOutcome, MetricTransformation, PreparedEvent,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{MonitorError, Result};
use crate::sns::OutboundNotification;
use crate::{Monitor, alarms, util};

/// Largest CloudTrail record sent to a log group (256 KiB), as AWS does.
pub const MAX_TRAIL_RECORD_BYTES: usize = 256 * 1024;

/// One compiled metric filter.
#[derive(Debug)]
pub(crate) struct CompiledMetricFilter {
    pub(crate) pattern: FilterPattern,
    pub(crate) extractor: MetricExtractor,
    pub(crate) namespace: String,
    pub(crate) metric_name: String,
    pub(crate) default_value: Option<f64>,
}

/// One compiled subscription filter.
#[derive(Debug)]
pub(crate) struct CompiledSubFilter {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) pattern: FilterPattern,
}

/// The compiled filters of one log group (cached until a filter changes).
#[derive(Debug, Default)]
pub(crate) struct GroupFilters {
    pub(crate) metric: Vec<CompiledMetricFilter>,
    pub(crate) subs: Vec<CompiledSubFilter>,
}

/// A log group row.
#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub(crate) id: i64,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) name: String,
    pub(crate) retention_days: Option<i64>,
}

/// An alarm that changed state.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmStateChange {
    /// Alarm name.
    pub alarm_name: String,
    /// Alarm ARN.
    pub alarm_arn: String,
    /// Previous state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub old_state: String,
    /// New state.
    pub new_state: String,
    /// `StateReason`.
    pub reason: String,
    /// When, Unix ms.
    pub timestamp_ms: i64,
}

/// What one ingest call did.
#[derive(Debug, Clone, Default)]
pub struct IngestOutcome {
    /// Log events written.
    pub events_written: usize,
    /// Records skipped because they exceed 256 KiB (AWS does not send them either).
    pub skipped_too_large: usize,
    /// Metric datapoints produced by metric filters.
    pub datapoints: usize,
    /// Alarm state changes caused by this ingest.
    pub alarm_changes: Vec<AlarmStateChange>,
    /// Notifications to send (already stored as pending; deliver them with
    /// [`Monitor::deliver_notifications`]).
    pub notifications: Vec<OutboundNotification>,
    /// Events queued for subscription-filter destinations.
    pub events_queued_for_streaming: usize,
}

pub(crate) fn load_group(
    tx: &rusqlite::Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<GroupRow>> {
    Ok(tx
        .query_row(
            "SELECT id, retention_days FROM log_groups WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![account, region, name],
            |r| {
                Ok(GroupRow {
                    id: r.get(0)?,
                    account: account.to_string(),
                    region: region.to_string(),
                    name: name.to_string(),
                    retention_days: r.get(1)?,
                })
            },
        )
        .optional()?)
}

pub(crate) fn require_group(
    tx: &rusqlite::Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<GroupRow> {
    load_group(tx, account, region, name)?
        .ok_or_else(|| MonitorError::not_found("The specified log group does not exist."))
}

fn compile_group(tx: &rusqlite::Connection, group_id: i64) -> Result<GroupFilters> {
    let mut out = GroupFilters::default();
    let mut st = tx.prepare_cached(
        "SELECT name, pattern, transformations FROM metric_filters WHERE group_id = ?1 ORDER BY name",
    )?;
    let rows = st.query_map([group_id], |r| <(String, String, String)>::try_from(r))?;
    for row in rows {
        let (name, pattern, transformations) = row?;
        let compiled = (|| {
            let pattern = FilterPattern::parse(&pattern).ok()?;
            let list: Vec<MetricTransformation> = serde_json::from_str(&transformations).ok()?;
            let t = list.into_iter().next()?;
            let extractor = t.compile(&pattern).ok()?;
            Some(CompiledMetricFilter {
                pattern,
                extractor,
                namespace: t.metric_namespace,
                metric_name: t.metric_name,
                default_value: t.default_value,
            })
        })();
        match compiled {
            Some(c) => out.metric.push(c),
            None => {
                tracing::warn!(filter = %name, "stored metric filter no longer compiles; skipped")
            }
        }
    }
    let mut st = tx.prepare_cached(
        "SELECT id, name, pattern FROM subscription_filters WHERE group_id = ?1 ORDER BY name",
    )?;
    let rows = st.query_map([group_id], |r| <(i64, String, String)>::try_from(r))?;
    for row in rows {
        let (id, name, pattern) = row?;
        match FilterPattern::parse(&pattern) {
            Ok(pattern) => out.subs.push(CompiledSubFilter { id, name, pattern }),
            Err(_) => {
                tracing::warn!(filter = %name, "stored subscription filter no longer compiles; skipped")
            }
        }
    }
    Ok(out)
}

/// Datapoints keyed by (namespace, metric name, dims key) then 10-second bucket.
type Points = HashMap<(String, String, String), BTreeMap<i64, StatisticSet>>;

fn add_point(points: &mut Points, key: (String, String, String), bucket: i64, v: StatisticSet) {
    let slot = points.entry(key).or_default();
    match slot.get_mut(&bucket) {
        Some(s) => {
            s.sample_count += v.sample_count;
            s.sum += v.sum;
            s.minimum = s.minimum.min(v.minimum);
            s.maximum = s.maximum.max(v.maximum);
        }
        None => {
            slot.insert(bucket, v);
        }
    }
}

/// Storage bucket (seconds) of metric data: every allowed alarm period is a multiple.
pub(crate) const BUCKET_S: i64 = 10;

/// Upserts aggregated datapoints; returns the touched metrics.
pub(crate) fn store_points(
    tx: &Transaction<'_>,
    account: &str,
    region: &str,
    points: &Points,
) -> Result<Vec<(String, String, String)>> {
    let mut touched = Vec::with_capacity(points.len());
    for ((ns, name, dims), buckets) in points {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO metrics(account, region, namespace, name, dims) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![account, region, ns, name, dims])?;
        let metric_id: i64 = tx
            .prepare_cached(
                "SELECT id FROM metrics WHERE account = ?1 AND region = ?2 AND namespace = ?3 AND name = ?4 AND dims = ?5",
            )?
            .query_row(params![account, region, ns, name, dims], |r| r.get(0))?;
        let mut st = tx.prepare_cached(
            "INSERT INTO metric_data(metric_id, bucket, count, sum, min, max) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(metric_id, bucket) DO UPDATE SET count = count + excluded.count,
               sum = sum + excluded.sum, min = MIN(min, excluded.min), max = MAX(max, excluded.max)",
        )?;
        for (bucket, s) in buckets {
            st.execute(params![
                metric_id,
                bucket,
                s.sample_count,
                s.sum,
                s.minimum,
                s.maximum
            ])?;
        }
        touched.push((ns.clone(), name.clone(), dims.clone()));
    }
    Ok(touched)
}

/// Points from `(namespace, name, dims, unix seconds, set)` tuples.
pub(crate) fn points_from<I>(items: I) -> Points
where
    I: IntoIterator<Item = (String, String, String, i64, StatisticSet)>,
{
    let mut p = Points::new();
    for (ns, name, dims, ts, set) in items {
        add_point(
            &mut p,
            (ns, name, dims),
            ts.div_euclid(BUCKET_S) * BUCKET_S,
            set,
        );
    }
    p
}

/// The stream a batch is appended to, and the ingestion time.
struct Target<'a> {
    group: &'a GroupRow,
    stream_id: i64,
    stream_name: &'a str,
    now: i64,
}

/// What the filters made of a batch.
struct FilterRun {
    /// Metric datapoints, bucketed.
    points: Points,
    /// `(subscription filter index, event index)` of every subscription match.
    sub_matches: Vec<(usize, usize)>,
    /// Datapoints emitted, `defaultValue` ones included.
    datapoints: usize,
}

/// Runs every metric and subscription filter once per event (JSON parsed at most once),
/// then adds the `defaultValue` datum for each minute with events but no match.
fn run_filters(filters: &GroupFilters, events: &[(i64, &str)]) -> FilterRun {
    let mut run = FilterRun {
        points: Points::new(),
        sub_matches: Vec::new(),
        datapoints: 0,
    };
    let mut minutes_with_match: Vec<std::collections::HashSet<i64>> =
        vec![Default::default(); filters.metric.len()];
    let mut minutes_seen = std::collections::BTreeSet::new();
    for (ei, (ts, msg)) in events.iter().enumerate() {
        let ev = PreparedEvent::new(msg);
        let ts_s = ts.div_euclid(1000);
        minutes_seen.insert(ts_s.div_euclid(60) * 60);
        for (fi, f) in filters.metric.iter().enumerate() {
            match f.extractor.apply_prepared(&f.pattern, &ev) {
                MetricOutcome::Datum(d) => {
                    run.datapoints += 1;
                    minutes_with_match[fi].insert(ts_s.div_euclid(60) * 60);
                    add_point(
                        &mut run.points,
                        (
                            f.namespace.clone(),
                            f.metric_name.clone(),
                            util::dims_key(&d.dimensions),
                        ),
                        ts_s.div_euclid(BUCKET_S) * BUCKET_S,
                        StatisticSet::single(d.value),
                    );
                }
                MetricOutcome::NoMatch | MetricOutcome::Skipped(_) => {}
            }
        }
        for (si, s) in filters.subs.iter().enumerate() {
            if s.pattern.matches_prepared(&ev) {
                run.sub_matches.push((si, ei));
            }
        }
    }
    // defaultValue: one datum per minute with events but no match.
    for (fi, f) in filters.metric.iter().enumerate() {
        if let Some(dv) = f.default_value {
            for m in &minutes_seen {
                if !minutes_with_match[fi].contains(m) {
                    run.datapoints += 1;
                    add_point(
                        &mut run.points,
                        (f.namespace.clone(), f.metric_name.clone(), "{}".to_string()),
                        *m,
                        StatisticSet::single(dv),
                    );
                }
            }
        }
    }
    run
}

impl Monitor {
    pub(crate) fn group_filters(
        &self,
        tx: &rusqlite::Connection,
        group_id: i64,
    ) -> Result<Arc<GroupFilters>> {
        if let Some(f) = self
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&group_id)
        {
            return Ok(Arc::clone(f));
        }
        let f = Arc::new(compile_group(tx, group_id)?);
        self.filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group_id, Arc::clone(&f));
        Ok(f)
    }

    pub(crate) fn event_id(&self, rowid: i64) -> String {
        format!("{:020}{rowid:020}", self.instance)
    }

    /// Appends `events` (timestamp ms, message) to a stream and runs the
    /// metric filters, alarms and subscription filters. All in `tx`.
    pub(crate) fn append_events(
        &self,
        tx: &Transaction<'_>,
        group: &GroupRow,
        stream_id: i64,
        stream_name: &str,
        events: &[(i64, &str)],
    ) -> Result<IngestOutcome> {
        let target = Target {
            group,
            stream_id,
            stream_name,
            now: self.now_ms(),
        };
        let filters = self.group_filters(tx, group.id)?;
        let mut out = IngestOutcome::default();

        // 1. Evaluate every filter once per event (JSON parsed at most once).
        let run = run_filters(&filters, events);
        out.datapoints = run.datapoints;

        // 2. Backpressure: refuse before writing anything.
        self.check_backpressure(tx, &filters, &run.sub_matches)?;

        // 3. Write the events.
        let rowids = self.write_events(tx, &target, events)?;
        out.events_written = events.len();

        // 4. Subscription-filter queue.
        self.queue_matches(tx, &target, &filters, events, &run.sub_matches, &rowids)?;
        out.events_queued_for_streaming = run.sub_matches.len();

        // 5. Datapoints and alarms.
        if !run.points.is_empty() {
            let touched = store_points(tx, &group.account, &group.region, &run.points)?;
            let (changes, notes) = alarms::evaluate_for_metrics(
                self,
                tx,
                &group.account,
                &group.region,
                &touched,
                target.now,
            )?;
            out.alarm_changes = changes;
            out.notifications = notes;
        }
        self.counters
            .events_ingested
            .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.counters
            .datapoints
            .fetch_add(out.datapoints as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(out)
    }

    /// Refuses the batch when a subscription filter's outbox would exceed
    /// `stream_queue_capacity` with these matches.
    fn check_backpressure(
        &self,
        tx: &Transaction<'_>,
        filters: &GroupFilters,
        sub_matches: &[(usize, usize)],
    ) -> Result<()> {
        if sub_matches.is_empty() {
            return Ok(());
        }
        let mut per_sub: HashMap<usize, u64> = HashMap::new();
        for (si, _) in sub_matches {
            *per_sub.entry(*si).or_default() += 1;
        }
        for (si, n) in per_sub {
            let s = &filters.subs[si];
            let depth: u64 = tx
                .prepare_cached("SELECT COUNT(*) FROM stream_outbox WHERE filter_id = ?1")?
                .query_row([s.id], |r| r.get::<_, i64>(0))?
                .try_into()
                .unwrap_or(0);
            if depth + n > self.config.stream_queue_capacity {
                return Err(MonitorError::Backpressure {
                    filter: s.name.clone(),
                    depth,
                    capacity: self.config.stream_queue_capacity,
                });
            }
        }
        Ok(())
    }

    /// Writes the events (sealed) and updates the stream's and group's time range and
    /// stored bytes; returns the row id of each event, in order.
    fn write_events(
        &self,
        tx: &Transaction<'_>,
        target: &Target<'_>,
        events: &[(i64, &str)],
    ) -> Result<Vec<i64>> {
        let mut rowids = Vec::with_capacity(events.len());
        let mut bytes: i64 = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO log_events(group_id, stream_id, ts_ms, ingest_ms, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (ts, msg) in events {
                let stored = crate::seal::seal(self.storage_key(), crate::seal::MESSAGE, msg)?;
                st.execute(params![
                    target.group.id,
                    target.stream_id,
                    ts,
                    target.now,
                    stored
                ])?;
                rowids.push(tx.last_insert_rowid());
                bytes += msg.len() as i64;
            }
        }
        if let (Some(first), Some(last)) = (
            events.iter().map(|e| e.0).min(),
            events.iter().map(|e| e.0).max(),
        ) {
            tx.prepare_cached(
                "UPDATE log_streams SET first_event_ms = MIN(COALESCE(first_event_ms, ?2), ?2),
                   last_event_ms = MAX(COALESCE(last_event_ms, ?3), ?3), last_ingestion_ms = ?4,
                   stored_bytes = stored_bytes + ?5 WHERE id = ?1",
            )?
            .execute(params![target.stream_id, first, last, target.now, bytes])?;
            tx.prepare_cached(
                "UPDATE log_groups SET stored_bytes = stored_bytes + ?2 WHERE id = ?1",
            )?
            .execute(params![target.group.id, bytes])?;
        }
        Ok(rowids)
    }

    /// Queues each subscription-filter match (sealed) in the stream outbox.
    fn queue_matches(
        &self,
        tx: &Transaction<'_>,
        target: &Target<'_>,
        filters: &GroupFilters,
        events: &[(i64, &str)],
        sub_matches: &[(usize, usize)],
        rowids: &[i64],
    ) -> Result<()> {
        let mut st = tx.prepare_cached(
            "INSERT INTO stream_outbox(filter_id, event_id, group_name, stream_name, ts_ms, message, enqueued_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (si, ei) in sub_matches {
            let (ts, msg) = events[*ei];
            let msg = crate::seal::seal(self.storage_key(), crate::seal::MESSAGE, msg)?;
            st.execute(params![
                filters.subs[*si].id,
                self.event_id(rowids[*ei]),
                target.group.name,
                target.stream_name,
                ts,
                msg,
                target.now
            ])?;
        }
        Ok(())
    }

    /// Ensures a stream exists; returns its id.
    pub(crate) fn ensure_stream(
        &self,
        tx: &Transaction<'_>,
        group_id: i64,
        name: &str,
    ) -> Result<i64> {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO log_streams(group_id, name, created_ms) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![group_id, name, self.now_ms()])?;
        Ok(tx
            .prepare_cached("SELECT id FROM log_streams WHERE group_id = ?1 AND name = ?2")?
            .query_row(params![group_id, name], |r| r.get(0))?)
    }

    /// Appends CloudTrail records to the log group named by `log_group_arn`
    /// (`arn:aws:logs:{region}:{account}:log-group:{name}[:*]`), in stream
    /// `{account}_CloudTrail_{region}` (created if needed), one log event per
    /// record (`(event time in ms, record JSON)`; records over 256 KiB are
    /// skipped and counted). Every metric filter of the group runs on each
    /// event, the alarms on the affected metrics are evaluated, and matching
    /// events are queued for the group's subscription filters — all in one
    /// transaction.
    ///
    /// Errors: `ResourceNotFoundException` if the group does not exist,
    /// [`MonitorError::Backpressure`] if a streaming queue is full (nothing written).
    pub fn ingest_trail_events(
        &self,
        log_group_arn: &str,
        account: &str,
        region: &str,
        records: &[(i64, &str)],
    ) -> Result<IngestOutcome> {
        let (g_region, g_account, g_name) = util::parse_group_arn(log_group_arn)?;
        let stream = format!("{account}_CloudTrail_{region}");
        let kept: Vec<(i64, &str)> = records
            .iter()
            .copied()
            .filter(|(_, m)| m.len() <= MAX_TRAIL_RECORD_BYTES)
            .collect();
        let skipped = records.len() - kept.len();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let group = require_group(&tx, &g_account, &g_region, &g_name)?;
        let stream_id = self.ensure_stream(&tx, group.id, &stream)?;
        let mut out = self.append_events(&tx, &group, stream_id, &stream, &kept)?;
        tx.commit()?;
        out.skipped_too_large = skipped;
        Ok(out)
    }
}
