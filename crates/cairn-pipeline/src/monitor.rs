//! The monitor consumer: trail events stream into CloudWatch-style log groups.
//!
//! A trail with `CloudWatchLogsLogGroupArn` sends every event it selects to that log group
//! (stream `{account}_CloudTrail_{region}`) as the journal commits it — well within a second
//! of ingest. Metric filters and alarms run on arrival (`cairn-monitor`); the notifications an
//! ingest produces are sent at once, and the monitor's background task retries what failed.
//! The journal cursor advances only after the monitor stored the batch (its own SQLite
//! transaction), so a crash or a failed write re-sends at most one batch: log-group delivery
//! is at least once, as CloudWatch Logs' is.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::worker::{Control, Worker};
use cairn_journal::Journal;
use cairn_monitor::Monitor;

use crate::config::PipelineConfig;
use crate::envelope;
use crate::route::Router;
use crate::trailset::TrailSet;

/// (log group ARN, account, region).
type GroupKey = (String, String, String);

/// The journal cursor of the monitor consumer.
pub const CURSOR: &str = "monitor";

/// What the log-group feed needs.
pub struct FeedDeps {
    /// The configuration.
    pub config: Arc<PipelineConfig>,
    /// The journal.
    pub journal: Arc<Journal>,
    /// The trails.
    pub trails: Arc<dyn TrailSet>,
    /// Log groups, metric filters and alarms.
    pub monitor: Arc<Monitor>,
    /// Runtime for notifications.
    pub runtime: tokio::runtime::Handle,
}

/// Starts the feed on its own worker (`cairn-monitor`); stop it with [`Worker::shutdown`].
pub fn start(deps: FeedDeps) -> std::io::Result<Worker> {
    Worker::spawn("cairn-monitor", move |c| run(deps, c))
}

/// Runs until `control` is stopped.
fn run(deps: FeedDeps, control: &Control) -> Result<(), String> {
    let FeedDeps {
        config,
        journal,
        trails,
        monitor,
        runtime,
    } = deps;
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let mut reader = journal.reader(start).map_err(|e| e.to_string())?;
    trails.attach_journal(journal.clone());
    let mut router = Router::new(trails.clone(), config.clone());
    while !control.stopping() {
        let batch = reader
            .next_batch(2000, Duration::from_millis(50))
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            continue;
        }
        if router.any_trail(|t| t.cloud_watch_logs_log_group_arn.is_some()) {
            // (log group ARN, account, region) → records
            let mut groups: BTreeMap<GroupKey, Vec<(i64, &str)>> = BTreeMap::new();
            let decoded: Vec<(u64, envelope::Envelope<'_>)> = batch
                .iter()
                .filter_map(|r| envelope::decode(&r.payload).ok().map(|e| (r.seq, e)))
                .collect();
            for (seq, e) in &decoded {
                // Route by the trails as they were when this record was journaled.
                let table = router.table_at(*seq).0;
                if table.trails.iter().all(|t| t.log_group_arn.is_none()) {
                    continue;
                }
                let Ok(json) = std::str::from_utf8(e.record) else {
                    continue;
                };
                for idx in table.route(e) {
                    if let Some(arn) = &table.trails[idx].log_group_arn {
                        groups
                            .entry((
                                arn.clone(),
                                e.recipient_account_id.to_owned(),
                                e.aws_region.to_owned(),
                            ))
                            .or_default()
                            .push((e.event_time * 1000, json));
                    }
                }
            }
            let mut failed = false;
            for ((arn, account, region), records) in groups {
                match monitor.ingest_trail_events(&arn, &account, &region, &records) {
                    Ok(outcome) => {
                        if !outcome.notifications.is_empty() {
                            let m = monitor.clone();
                            let n = outcome.notifications;
                            runtime.spawn(async move {
                                m.deliver_notifications(&n).await;
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(log_group = %arn, error = %e, "log group delivery failed; retrying the batch");
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                // Re-read from the committed cursor: groups already written in this batch
                // may receive its events twice (at least once, like CloudWatch Logs).
                control.sleep(Duration::from_millis(500));
                let from = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
                reader = journal.reader(from).map_err(|e| e.to_string())?;
                continue;
            }
        }
        journal
            .commit_cursor(CURSOR, reader.position())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
