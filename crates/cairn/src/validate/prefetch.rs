//! Fetch-ahead for the digest walk.
//!
//! The chain walk is sequential (each digest names the one before it), but the walk visits
//! the listed digests newest → oldest, so the next few are known in advance. [`Prefetch`]
//! wraps a [`DigestSource`]: when the walk lists this trail's digest folder, worker threads
//! start fetching the `ahead` digests just older than the walk's position; `get` takes a
//! fetched object from the cache (or waits for the fetch in flight, or fetches directly when
//! the key was not predicted). At most `ahead` objects are held beyond the walk's position.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use cairn_logfile::layout;
use cairn_logfile::validate::{DigestSource, ListPage, SourceError, SourceObject};

type Key = (String, String);

enum Slot {
    InFlight,
    Ready(Result<SourceObject, SourceError>),
}

#[derive(Default)]
struct State {
    /// Predicted keys in listing (ascending) order; the walk consumes from the end.
    queue: Vec<Key>,
    index: HashMap<Key, usize>,
    started: Vec<bool>,
    /// Queue index of the digest the walk fetched last.
    pos: Option<usize>,
    slots: HashMap<Key, Slot>,
    done: bool,
}

/// Which listed keys the walk will fetch: this trail's standard digests up to `max_date`.
pub(crate) struct Filter {
    /// `{account}_CloudTrail-Digest_{src}_{trail}_{home}_`.
    pub(crate) name_prefix: String,
    /// Digest-key date (`YYYYMMDDTHHMMSSZ`) of the window's start.
    pub(crate) min_date: String,
    /// Digest-key date of the window's end + 1 h.
    pub(crate) max_date: String,
}

/// A fetch-ahead wrapper around a source.
pub(crate) struct Prefetch<'a, S: ?Sized> {
    inner: &'a S,
    filter: Filter,
    ahead: usize,
    state: Mutex<State>,
    cv: Condvar,
}

impl<'a, S: DigestSource + Sync + ?Sized> Prefetch<'a, S> {
    /// Wraps `inner`; run [`Prefetch::worker`] on some threads and call [`Prefetch::finish`]
    /// when the walk is over.
    pub(crate) fn new(inner: &'a S, filter: Filter, ahead: usize) -> Self {
        Prefetch {
            inner,
            filter,
            ahead: ahead.max(1),
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the workers.
    pub(crate) fn finish(&self) {
        self.lock().done = true;
        self.cv.notify_all();
    }

    /// A worker loop: fetch predicted digests until [`Prefetch::finish`].
    pub(crate) fn worker(&self) {
        loop {
            let key = {
                let mut st = self.lock();
                loop {
                    if st.done {
                        return;
                    }
                    let top = st.pos.unwrap_or(st.queue.len());
                    let low = top.saturating_sub(self.ahead);
                    if let Some(i) = (low..top).rev().find(|&i| !st.started[i]) {
                        st.started[i] = true;
                        let key = st.queue[i].clone();
                        st.slots.insert(key.clone(), Slot::InFlight);
                        break key;
                    }
                    st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let result = self.inner.get(&key.0, &key.1);
            let mut st = self.lock();
            if let Some(slot) = st.slots.get_mut(&key) {
                *slot = Slot::Ready(result);
            }
            drop(st);
            self.cv.notify_all();
        }
    }

    fn predicted(&self, key: &str) -> bool {
        let Some(file) = key.rsplit('/').next() else {
            return false;
        };
        file.starts_with(&self.filter.name_prefix)
            && !key.ends_with("_backfill.json.gz")
            && layout::extract_digest_key_date(key).is_some_and(|d| {
                d >= self.filter.min_date.as_str() && d <= self.filter.max_date.as_str()
            })
    }
}

impl<S: DigestSource + Sync + ?Sized> DigestSource for Prefetch<'_, S> {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        let page = self.inner.list(bucket, prefix, marker)?;
        if prefix.contains("/CloudTrail-Digest/") {
            let mut st = self.lock();
            for k in page.keys.iter().filter(|k| self.predicted(k)) {
                let key = (bucket.to_owned(), k.clone());
                if !st.index.contains_key(&key) {
                    let i = st.queue.len();
                    st.index.insert(key.clone(), i);
                    st.queue.push(key);
                    st.started.push(false);
                }
            }
            drop(st);
            self.cv.notify_all();
        }
        Ok(page)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
        let k = (bucket.to_owned(), key.to_owned());
        let mut st = self.lock();
        if let Some(&i) = st.index.get(&k) {
            st.pos = Some(i);
            // Fetched here if no worker has started it.
            st.started[i] = true;
            // Objects newer than the walk's position will not be asked for again.
            let stale: Vec<Key> = st
                .slots
                .keys()
                .filter(|s| *s != &k && st.index.get(*s).is_some_and(|&j| j > i))
                .cloned()
                .collect();
            for s in stale {
                if matches!(st.slots.get(&s), Some(Slot::Ready(_))) {
                    st.slots.remove(&s);
                }
            }
            self.cv.notify_all();
        }
        loop {
            match st.slots.get(&k) {
                Some(Slot::Ready(_)) => {
                    if let Some(Slot::Ready(r)) = st.slots.remove(&k) {
                        return r;
                    }
                }
                Some(Slot::InFlight) => {
                    st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
                None => {
                    drop(st);
                    return self.inner.get(bucket, key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_logfile::validate::MemorySource;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        inner: MemorySource,
        gets: AtomicUsize,
    }

    impl DigestSource for Counting {
        fn list(
            &self,
            bucket: &str,
            prefix: &str,
            marker: Option<&str>,
        ) -> Result<ListPage, SourceError> {
            self.inner.list(bucket, prefix, marker)
        }
        fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.inner.get(bucket, key)
        }
    }

    #[test]
    fn walk_order_is_served_from_the_cache_and_everything_else_passes_through() {
        let folder = "AWSLogs/1/CloudTrail-Digest/r/2025/01/01/";
        let name =
            |h: u32| format!("{folder}1_CloudTrail-Digest_r_t_r_20250101T{h:02}0000Z.json.gz");
        let src = Counting {
            inner: MemorySource::new(),
            gets: AtomicUsize::new(0),
        };
        for h in 0..10 {
            src.inner
                .put("b", &name(h), format!("d{h}").into_bytes(), [("k", "v")]);
        }
        src.inner.put("b", "other", b"o".to_vec(), [("k", "v")]);
        let p = Prefetch::new(
            &src,
            Filter {
                name_prefix: "1_CloudTrail-Digest_r_t_r_".into(),
                min_date: "20250101T000000Z".into(),
                max_date: "20250101T080000Z".into(),
            },
            3,
        );
        std::thread::scope(|s| {
            s.spawn(|| p.worker());
            s.spawn(|| p.worker());
            let page = p.list("b", "AWSLogs/1/CloudTrail-Digest/r/", None).unwrap();
            assert_eq!(page.keys.len(), 10);
            for h in (0..=8).rev() {
                assert_eq!(
                    p.get("b", &name(h)).unwrap().body,
                    format!("d{h}").as_bytes()
                );
            }
            assert_eq!(p.get("b", "other").unwrap().body, &b"o"[..]);
            assert!(p.get("b", "missing").is_err());
            p.finish();
        });
        // Each digest fetched once (9 predicted) plus the two pass-through gets.
        assert_eq!(src.gets.load(Ordering::SeqCst), 11);
    }
}
