//! The handle of a background loop: every long-running thread of the server (delivery,
//! digests, history, lake, lifecycle, monitor) is started, watched and stopped the same way.
//!
//! ```
//! use std::time::Duration;
//! use cairn_core::Worker;
//!
//! let w = Worker::every("cairn-example", Duration::from_millis(10), || Ok(())).unwrap();
//! assert!(w.health().running);
//! assert!(w.shutdown(Duration::from_secs(5)));
//! assert!(!w.health().running);
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a loop sees of its handle: whether to stop, a sleep that wakes on stop, and a place
/// to report how its last pass went.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    wake: Mutex<()>,
    cv: Condvar,
    passes: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Control {
    /// Whether the loop has been asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, returning early (with `true`) if a stop is requested.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.stopping() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Records the outcome of one pass (shown by [`Worker::health`]).
    pub fn report(&self, outcome: Result<(), String>) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = outcome.err();
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }
}

/// How a worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The worker's thread name.
    pub name: String,
    /// Whether its thread is still running.
    pub running: bool,
    /// Passes reported so far.
    pub passes: u64,
    /// The error of the last pass, if it failed; or the error the loop ended with.
    pub last_error: Option<String>,
}

/// A running background loop.
#[derive(Debug)]
pub struct Worker {
    name: String,
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    /// Starts `body` on its own named thread. `body` runs until it returns or
    /// [`Control::stopping`] turns true; an error it returns is logged and kept as health.
    pub fn spawn<F>(name: &str, body: F) -> std::io::Result<Worker>
    where
        F: FnOnce(&Control) -> Result<(), String> + Send + 'static,
    {
        let control = Arc::new(Control::default());
        let c = control.clone();
        let thread_name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                if let Err(e) = body(&c) {
                    tracing::error!(worker = %thread_name, error = %e, "worker stopped");
                    *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            })?;
        Ok(Worker {
            name: name.to_owned(),
            control,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `tick` every `interval` (first after one interval) until stopped. A failed pass is
    /// logged and the loop goes on.
    pub fn every<F>(name: &str, interval: Duration, mut tick: F) -> std::io::Result<Worker>
    where
        F: FnMut() -> Result<(), String> + Send + 'static,
    {
        let label = name.to_owned();
        Worker::spawn(name, move |c| {
            while !c.sleep(interval) {
                let outcome = tick();
                if let Err(e) = &outcome {
                    tracing::warn!(worker = %label, error = %e, "worker pass failed");
                }
                c.report(outcome);
            }
            Ok(())
        })
    }

    /// Asks the loop to stop and waits for it up to `deadline`. Returns whether it finished;
    /// a loop still running at the deadline is left to end on its own (and logged).
    pub fn shutdown(&self, deadline: Duration) -> bool {
        self.control.request_stop();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(h) = handle else {
            return true;
        };
        let start = Instant::now();
        while !h.is_finished() && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
            true
        } else {
            tracing::warn!(worker = %self.name, "worker did not stop before the shutdown deadline");
            false
        }
    }

    /// The worker's health.
    pub fn health(&self) -> Health {
        let running = self
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        Health {
            name: self.name.clone(),
            running,
            passes: self.control.passes.load(Ordering::Relaxed),
            last_error: self
                .control
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.control.request_stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn shutdown_wakes_a_sleeping_loop_at_once() {
        let w = Worker::every("t-sleep", Duration::from_secs(3600), || Ok(())).unwrap();
        let t = Instant::now();
        assert!(w.shutdown(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn failed_passes_show_in_health_and_the_loop_goes_on() {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let w = Worker::every("t-fail", Duration::from_millis(1), move || {
            let i = n2.fetch_add(1, Ordering::SeqCst);
            if i == 0 {
                Err("disk full".into())
            } else {
                Ok(())
            }
        })
        .unwrap();
        let start = Instant::now();
        while n.load(Ordering::SeqCst) < 3 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(n.load(Ordering::SeqCst) >= 3);
        assert!(w.health().running);
        w.shutdown(Duration::from_secs(5));
        let h = w.health();
        assert!(!h.running);
        assert!(h.passes >= 3);
        assert_eq!(h.last_error, None);
    }

    #[test]
    fn a_loop_that_ends_with_an_error_reports_it() {
        let w = Worker::spawn("t-err", |_| Err("cannot open journal".into())).unwrap();
        let start = Instant::now();
        while w.health().running && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let h = w.health();
        assert!(!h.running);
        assert_eq!(h.last_error.as_deref(), Some("cannot open journal"));
    }

    #[test]
    fn a_loop_past_its_deadline_is_reported_not_waited_for() {
        let w = Worker::spawn("t-slow", |_| {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .unwrap();
        assert!(!w.shutdown(Duration::from_millis(10)));
    }
}
