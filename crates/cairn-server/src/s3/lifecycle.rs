//! The lifecycle worker: applies local buckets' lifecycle rules every
//! `[lifecycle] interval`, with `[lifecycle] day` as the length of a rule day.

use std::sync::Arc;
use std::time::Duration;

use cairn_vault::Vault;

/// The running lifecycle loop (a [`cairn_core::Worker`]).
#[derive(Debug)]
pub struct LifecycleWorker {
    worker: cairn_core::Worker,
}

impl LifecycleWorker {
    /// Starts the worker: a pass every `interval`, the first one after `interval`.
    pub fn start(vault: Arc<Vault>, interval: Duration, day: Duration) -> std::io::Result<Self> {
        let day_seconds = i64::try_from(day.as_secs()).unwrap_or(86_400).max(1);
        let worker = cairn_core::Worker::every("cairn-lifecycle", interval, move || {
            let actions = vault
                .apply_lifecycle(time::OffsetDateTime::now_utc(), day_seconds)
                .map_err(|e| format!("lifecycle pass failed: {e}"))?;
            for a in actions {
                tracing::info!(
                    bucket = %a.bucket,
                    key = %a.key,
                    version_id = %a.version_id,
                    action = %a.action,
                    "lifecycle action"
                );
            }
            Ok(())
        })?;
        Ok(Self { worker })
    }

    /// Stops the worker and waits for its current pass (up to a minute).
    pub fn stop(self) {
        self.worker.shutdown(Duration::from_secs(60));
    }
}
