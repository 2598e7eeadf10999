//! Prometheus text exposition of the monitor's own gauges and counters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::Monitor;
use crate::error::Result;

impl Monitor {
    /// Prometheus text format (version 0.0.4): alarm states, queue depths,
    /// notification outcomes, ingest and streaming counters.
    pub fn prometheus_text(&self) -> Result<String> {
        let mut out = String::new();
        let conn = self.db();
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_alarms Alarms by state.\n# TYPE cairn_monitor_alarms gauge"
        );
        for state in ["OK", "ALARM", "INSUFFICIENT_DATA"] {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM alarms WHERE state = ?1",
                [state],
                |r| r.get(0),
            )?;
            let _ = writeln!(out, "cairn_monitor_alarms{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_notifications Notifications in the store by status.\n# TYPE cairn_monitor_notifications gauge"
        );
        for status in ["pending", "sending", "delivered", "failed"] {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM notifications WHERE status = ?1",
                [status],
                |r| r.get(0),
            )?;
            let _ = writeln!(
                out,
                "cairn_monitor_notifications{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_stream_queue_depth Events queued per subscription filter.\n# TYPE cairn_monitor_stream_queue_depth gauge"
        );
        {
            let mut st = conn.prepare(
                "SELECT g.name, f.name, (SELECT COUNT(*) FROM stream_outbox o WHERE o.filter_id = f.id)
                 FROM subscription_filters f JOIN log_groups g ON g.id = f.group_id ORDER BY g.name, f.name",
            )?;
            let rows = st.query_map([], |r| <(String, String, i64)>::try_from(r))?;
            for r in rows {
                let (g, f, n) = r?;
                let _ = writeln!(
                    out,
                    "cairn_monitor_stream_queue_depth{{log_group=\"{}\",filter=\"{}\"}} {n}",
                    escape(&g),
                    escape(&f)
                );
            }
        }
        let dead: i64 = conn.query_row("SELECT COUNT(*) FROM stream_dead", [], |r| r.get(0))?;
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_stream_dead_letters Events a destination rejected permanently.\n# TYPE cairn_monitor_stream_dead_letters gauge\ncairn_monitor_stream_dead_letters {dead}"
        );
        let groups: i64 = conn.query_row("SELECT COUNT(*) FROM log_groups", [], |r| r.get(0))?;
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_log_groups Log groups.\n# TYPE cairn_monitor_log_groups gauge\ncairn_monitor_log_groups {groups}"
        );
        let c = &self.counters;
        for (name, help, v) in [
            (
                "cairn_monitor_events_ingested_total",
                "Log events written.",
                c.events_ingested.load(Relaxed),
            ),
            (
                "cairn_monitor_datapoints_total",
                "Metric datapoints produced by metric filters.",
                c.datapoints.load(Relaxed),
            ),
            (
                "cairn_monitor_notifications_delivered_total",
                "Notifications delivered.",
                c.notifications_delivered.load(Relaxed),
            ),
            (
                "cairn_monitor_notifications_failed_total",
                "Notifications that exhausted their retries.",
                c.notifications_failed.load(Relaxed),
            ),
            (
                "cairn_monitor_delivery_attempts_total",
                "Notification delivery attempts.",
                c.delivery_attempts.load(Relaxed),
            ),
            (
                "cairn_monitor_streamed_events_total",
                "Events acknowledged by streaming destinations.",
                c.streamed_events.load(Relaxed),
            ),
            (
                "cairn_monitor_stream_requests_total",
                "Streaming HTTP requests.",
                c.stream_requests.load(Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let lag = c.last_delivery_lag_ms.load(Relaxed);
        let _ = writeln!(
            out,
            "# HELP cairn_monitor_last_delivery_lag_seconds Time from a notification's creation to its delivery (last one).\n# TYPE cairn_monitor_last_delivery_lag_seconds gauge\ncairn_monitor_last_delivery_lag_seconds {}",
            lag as f64 / 1000.0
        );
        Ok(out)
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
