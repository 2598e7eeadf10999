//! In-memory bucket for tests.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::{
    BoxFuture, Bucket, ListEntry, ListPage, Object, ObjectMeta, PutMode, PutOptions, PutResult,
    check_put, list_range, md5_hex, validate_key,
};

const BACKEND: &str = "memory";

/// A bucket held in memory: a `BTreeMap` keyed by the key string, whose `Ord` is byte order.
///
/// Cloning shares the contents. Every operation takes one short lock (never held across an
/// `.await`), so operations are atomic and linearizable. `sse` is accepted and ignored.
#[derive(Debug, Clone)]
pub struct MemoryBucket {
    name: String,
    objects: Arc<Mutex<BTreeMap<String, Object>>>,
}

impl MemoryBucket {
    /// An empty bucket called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryBucket {
            name: name.into(),
            objects: Arc::default(),
        }
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no object is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Object>> {
        // A panic while holding the lock cannot leave a half-updated map (each critical section
        // is a single insert/remove/read), so a poisoned lock is still consistent.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            backend: BACKEND,
            bucket: self.name.clone(),
            key: key.to_owned(),
        }
    }

    fn put_now(&self, key: &str, bytes: Bytes, opts: PutOptions) -> Result<PutResult> {
        let user_metadata = check_put(key, &opts)?;
        let etag = md5_hex(&bytes);
        let object = Object {
            meta: ObjectMeta {
                key: key.to_owned(),
                size: bytes.len() as u64,
                etag: Some(etag.clone()),
                last_modified: OffsetDateTime::now_utc(),
                content_type: opts.content_type,
                user_metadata,
            },
            bytes,
        };
        let mut map = self.lock();
        if opts.mode == PutMode::CreateOnly && map.contains_key(key) {
            return Err(Error::AlreadyExists {
                backend: BACKEND,
                bucket: self.name.clone(),
                key: key.to_owned(),
            });
        }
        map.insert(key.to_owned(), object);
        Ok(PutResult { etag: Some(etag) })
    }

    fn get_now(&self, key: &str) -> Result<Object> {
        validate_key(key)?;
        self.lock()
            .get(key)
            .cloned()
            .ok_or_else(|| self.not_found(key))
    }

    fn list_now(&self, prefix: &str, marker: Option<&str>, max: usize) -> ListPage {
        let map = self.lock();
        let objects = map
            .range::<str, _>(list_range(prefix, marker))
            .map(|(k, o)| (k.as_str(), o));
        let Ok(page) = ListPage::from_sorted(objects, prefix, max, |_, o| {
            Ok::<_, Infallible>(ListEntry::from(&o.meta))
        });
        page
    }
}

impl Bucket for MemoryBucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        opts: PutOptions,
    ) -> BoxFuture<'a, Result<PutResult>> {
        Box::pin(async move { self.put_now(key, bytes, opts) })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Object>> {
        Box::pin(async move { self.get_now(key) })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move { self.get_now(key).map(|o| o.meta) })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<ListPage>> {
        Box::pin(async move { Ok(self.list_now(prefix, marker, max)) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            validate_key(key)?;
            self.lock().remove(key);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_byte_ordered_with_marker_and_prefix() {
        let b = MemoryBucket::new("m");
        for k in ["a0", "a/b", "B", "a", "a-b", "é"] {
            b.put_now(k, Bytes::new(), PutOptions::default()).unwrap();
        }
        let keys = |p: ListPage| p.entries.into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert_eq!(
            keys(b.list_now("", None, 100)),
            ["B", "a", "a-b", "a/b", "a0", "é"]
        );
        assert_eq!(keys(b.list_now("a", Some("a-b"), 100)), ["a/b", "a0"]);
        // A marker before the prefix does not leak keys outside the prefix.
        assert_eq!(keys(b.list_now("a/", Some("0"), 100)), ["a/b"]);
        let page = b.list_now("", None, 2);
        assert!(page.is_truncated);
        assert_eq!(page.next_marker.as_deref(), Some("a"));
        assert_eq!(b.len(), 6);
    }
}
