//! The I/O seam of the validator: where digests and log files are read from.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

/// Class of a [`SourceError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SourceErrorKind {
    /// The object does not exist (S3 `NoSuchKey`).
    NotFound,
    /// Anything else (access denied, network...). The walk aborts on these, like the AWS CLI.
    Other,
}

/// An error from a [`DigestSource`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct SourceError {
    /// The class.
    pub kind: SourceErrorKind,
    /// Detail for humans.
    pub message: String,
}

impl SourceError {
    /// A `NotFound` error.
    pub fn not_found(message: impl Into<String>) -> Self {
        SourceError {
            kind: SourceErrorKind::NotFound,
            message: message.into(),
        }
    }

    /// An `Other` error.
    pub fn other(message: impl Into<String>) -> Self {
        SourceError {
            kind: SourceErrorKind::Other,
            message: message.into(),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in ascending byte order, all `> marker` and starting with the prefix.
    pub keys: Vec<String>,
    /// `Some(marker)` to fetch the next page; `None` when this is the last page.
    pub next_marker: Option<String>,
}

/// An object's body and user metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceObject {
    /// The stored bytes (gzip for CloudTrail objects).
    pub body: Bytes,
    /// User metadata, keys lowercase without the `x-amz-meta-` prefix.
    pub metadata: BTreeMap<String, String>,
}

/// Read access to a bucket, as the validator needs it (S3 `ListObjects` v1 + `GetObject`).
///
/// Implementations must list in ascending byte (UTF-8) order — the walk stops at the first
/// key past the window, as the AWS CLI does. Both calls are read-only and idempotent.
pub trait DigestSource {
    /// Lists keys of `bucket` that start with `prefix` and sort strictly after `marker`.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError>;

    /// Fetches an object. A missing object is `SourceErrorKind::NotFound`.
    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError>;
}

impl<T: DigestSource + ?Sized> DigestSource for &T {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        (**self).list(bucket, prefix, marker)
    }
    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
        (**self).get(bucket, key)
    }
}

/// A synchronous in-memory bucket set, for tests and offline validation.
#[derive(Debug, Default)]
pub struct MemorySource {
    buckets: Mutex<BTreeMap<String, BTreeMap<String, SourceObject>>>,
    page_size: usize,
}

impl MemorySource {
    /// An empty source listing 1000 keys per page (the S3 default).
    pub fn new() -> Self {
        Self::with_page_size(1000)
    }

    /// An empty source with a custom page size (at least 1).
    pub fn with_page_size(page_size: usize) -> Self {
        MemorySource {
            buckets: Mutex::new(BTreeMap::new()),
            page_size: page_size.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<String, SourceObject>>> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores (or replaces) an object.
    pub fn put<I, K, V>(&self, bucket: &str, key: &str, body: impl Into<Bytes>, metadata: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let metadata = metadata
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.lock().entry(bucket.to_owned()).or_default().insert(
            key.to_owned(),
            SourceObject {
                body: body.into(),
                metadata,
            },
        );
    }

    /// Removes an object, returning it.
    pub fn remove(&self, bucket: &str, key: &str) -> Option<SourceObject> {
        self.lock().get_mut(bucket)?.remove(key)
    }

    /// A copy of every object of `bucket`, in key order (empty for an unknown bucket).
    pub fn objects(&self, bucket: &str) -> Vec<(String, SourceObject)> {
        self.lock().get(bucket).map_or_else(Vec::new, |b| {
            b.iter().map(|(k, o)| (k.clone(), o.clone())).collect()
        })
    }

    /// Applies `f` to a stored object; `false` if it does not exist.
    pub fn modify(&self, bucket: &str, key: &str, f: impl FnOnce(&mut SourceObject)) -> bool {
        match self.lock().get_mut(bucket).and_then(|b| b.get_mut(key)) {
            Some(o) => {
                f(o);
                true
            }
            None => false,
        }
    }
}

impl DigestSource for MemorySource {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        let guard = self.lock();
        let Some(objects) = guard.get(bucket) else {
            return Err(SourceError::other(format!("NoSuchBucket: {bucket}")));
        };
        let lower = match marker {
            Some(m) if m >= prefix => std::ops::Bound::Excluded(m.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        let mut keys: Vec<String> = objects
            .range((lower, std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .take(self.page_size + 1)
            .cloned()
            .collect();
        let next_marker = if keys.len() > self.page_size {
            keys.truncate(self.page_size);
            keys.last().cloned()
        } else {
            None
        };
        Ok(ListPage { keys, next_marker })
    }

    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
        self.lock()
            .get(bucket)
            .and_then(|b| b.get(key))
            .cloned()
            .ok_or_else(|| SourceError::not_found(format!("NoSuchKey: s3://{bucket}/{key}")))
    }
}
