//! The lifecycle worker: applies local buckets' lifecycle rules every
//! `[lifecycle] interval`, with `[lifecycle] day` as the length of a rule day.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_vault::Vault;

/// A running worker thread.
#[derive(Debug)]
pub struct LifecycleWorker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LifecycleWorker {
    /// Starts the worker.
    pub fn start(vault: Arc<Vault>, interval: Duration, day: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cairn-lifecycle".into())
            .spawn(move || {
                let day_seconds = i64::try_from(day.as_secs()).unwrap_or(86_400).max(1);
                let mut next = std::time::Instant::now() + interval;
                while !s.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                    if std::time::Instant::now() < next {
                        continue;
                    }
                    next = std::time::Instant::now() + interval;
                    match vault.apply_lifecycle(time::OffsetDateTime::now_utc(), day_seconds) {
                        Ok(actions) => {
                            for a in actions {
                                tracing::info!(
                                    bucket = %a.bucket,
                                    key = %a.key,
                                    version_id = %a.version_id,
                                    action = %a.action,
                                    "lifecycle action"
                                );
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the worker and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
