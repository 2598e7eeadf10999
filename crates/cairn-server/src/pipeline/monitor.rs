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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_journal::Journal;
use cairn_monitor::Monitor;

use super::envelope;
use super::route::Router;
use crate::cloudtrail::ControlPlane;
use crate::config::Config;

/// (log group ARN, account, region).
type GroupKey = (String, String, String);

/// The journal cursor of the monitor consumer.
pub const CURSOR: &str = "monitor";

/// Runs until `stop` is set.
pub fn run(
    config: Arc<Config>,
    journal: Arc<Journal>,
    control: Arc<ControlPlane>,
    monitor: Arc<Monitor>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let mut reader = journal.reader(start).map_err(|e| e.to_string())?;
    control.attach_journal(journal.clone());
    let mut router = Router::new(control.clone(), config.clone());
    while !stop.load(Ordering::SeqCst) {
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
                std::thread::sleep(Duration::from_millis(500));
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
