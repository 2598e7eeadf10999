//! Where a Cairn data directory keeps the lake's inputs and outputs (shared by the server
//! and `cairn query --data-dir`).
//!
//! ```text
//! <data_dir>/buckets/...                       the vault: local buckets, encrypted at rest
//! <data_dir>/lake/parquet/<bucket>/            sealed Parquet copy of one bucket's log files
//! <data_dir>/lake/eds/<id>/logs/...            an event data store's events, as sealed log files
//! <data_dir>/lake/eds/<id>/parquet/            their sealed Parquet copy
//! <data_dir>/lake/stores.json                  event data stores (the server's)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::Bucket;

use cairn_core::secrets::MasterKey;

use crate::{LakeError, LakeKey, Source, SourceKeys};

/// The lake's directory.
pub fn lake_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("lake")
}

/// The Parquet copy of the bucket `bucket`'s delivered log files.
pub fn bucket_parquet_dir(data_dir: &Path, bucket: &str) -> PathBuf {
    lake_dir(data_dir).join("parquet").join(bucket)
}

/// One compaction round over `buckets` (read through [`Bucket`]: the vault buckets Cairn
/// writes, encrypted at rest), each into its [`bucket_parquet_dir`], sealed under the bucket's
/// key derived from `master` ([`LakeKey::for_bucket`]). Blocking: call it from a thread
/// outside the runtime `rt` the buckets run on. Every bucket is tried; the first error is
/// returned.
pub fn compact_buckets(
    data_dir: &Path,
    buckets: &[Arc<dyn Bucket>],
    rt: &tokio::runtime::Handle,
    master: &MasterKey,
) -> Result<crate::CompactStats, LakeError> {
    let mut total = crate::CompactStats::default();
    let mut first_err = None;
    for b in buckets {
        let out = bucket_parquet_dir(data_dir, b.name());
        let compacted = LakeKey::for_bucket(master, b.name()).and_then(|key| {
            crate::Compactor::for_bucket(b.clone(), rt.clone(), out)
                .sealed(key)
                .run()
        });
        match compacted {
            Ok(s) => total += s,
            Err(e) => {
                tracing::warn!(bucket = b.name(), error = %e, "bucket compaction failed");
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// The directory of an event data store.
pub fn store_dir(data_dir: &Path, id: &str) -> PathBuf {
    lake_dir(data_dir).join("eds").join(id)
}

/// The source of an event data store: its log files and their Parquet copy, both sealed
/// under keys derived from `master` ([`store_keys`]).
pub fn store_source(data_dir: &Path, id: &str, master: &MasterKey) -> Result<Source, LakeError> {
    let d = store_dir(data_dir, id);
    Ok(Source {
        json_root: d.join("logs"),
        parquet_dir: Some(d.join("parquet")),
        keys: Some(store_keys(master, id)?),
    })
}

/// The keys of the event data store `id`: scopes `eds/<id>/logs` and `eds/<id>/parquet`.
pub fn store_keys(master: &MasterKey, id: &str) -> Result<SourceKeys, LakeError> {
    Ok(SourceKeys {
        logs: LakeKey::derive(master, &format!("eds/{id}/logs"))?,
        copy: LakeKey::derive(master, &format!("eds/{id}/parquet"))?,
    })
}

/// Writes `bytes` (a gzip log file) as the log file `name` of the event data store `id`,
/// sealed under its key (temporary name, fsync, rename).
pub fn write_store_log(
    data_dir: &Path,
    keys: &SourceKeys,
    id: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), LakeError> {
    let path = store_dir(data_dir, id).join("logs").join(name);
    let sealed = keys.logs.seal(name, bytes)?;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| LakeError::io(d, e))?;
    }
    cairn_core::fs::write_atomic(&path, &sealed).map_err(|e| LakeError::io(&path, e))
}

/// Seals, in place, the plaintext log files that a version which did not seal them left in
/// the event data stores of `data_dir` (one log line per store). They are the stores' only
/// copy of their events, so they are sealed, not discarded. Returns how many were sealed.
/// Run it before anything reads the stores' logs with their keys (which refuse plaintext).
pub fn seal_store_logs(data_dir: &Path, master: &MasterKey) -> Result<usize, LakeError> {
    let mut total = 0;
    for id in store_ids(data_dir)? {
        let keys = store_keys(master, &id)?;
        let mut n = 0;
        for f in crate::files::list(&store_dir(data_dir, &id).join("logs"))? {
            let raw = std::fs::read(&f.path).map_err(|e| LakeError::io(&f.path, e))?;
            if crate::sealed::is_sealed(&raw) {
                continue;
            }
            let sealed = keys.logs.seal(&f.rel, &raw)?;
            cairn_core::fs::write_atomic(&f.path, &sealed)
                .map_err(|e| LakeError::io(&f.path, e))?;
            n += 1;
        }
        if n > 0 {
            tracing::warn!(store = %id, files = n, "sealed the plaintext log files of an event data store written by an older version");
        }
        total += n;
    }
    Ok(total)
}

/// The IDs of the event data stores that have a directory.
pub fn store_ids(data_dir: &Path) -> Result<Vec<String>, LakeError> {
    names(&lake_dir(data_dir).join("eds"))
}

fn names(dir: &Path) -> Result<Vec<String>, LakeError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(LakeError::io(dir, e)),
    };
    for e in rd {
        let e = e.map_err(|err| LakeError::io(dir, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.path().is_dir() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// One compaction round over every event data store of `data_dir` (sealed copies of sealed
/// logs, keys derived from `master`).
pub fn compact_stores(
    data_dir: &Path,
    master: &MasterKey,
) -> Result<crate::CompactStats, LakeError> {
    let mut total = crate::CompactStats::default();
    for id in store_ids(data_dir)? {
        if let Some(mut c) = crate::Compactor::for_source(&store_source(data_dir, &id, master)?) {
            total += c.run()?;
        }
    }
    Ok(total)
}

/// An object key (`/`-separated, as S3 writes it) as a relative path that stays under any
/// directory it is joined onto, or `None` when it would not: empty, absolute (`/...`), with an
/// empty, `.` or `..` segment, or with a NUL or a backslash (a separator elsewhere). Callers
/// that copy objects to files skip such keys rather than fail, so one planted key cannot
/// stop every later query.
pub fn key_path(key: &str) -> Option<PathBuf> {
    if key.is_empty() || key.contains(['\0', '\\']) {
        return None;
    }
    let mut path = PathBuf::new();
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return None;
        }
        path.push(seg);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_stay_under_their_directory() {
        assert_eq!(
            key_path("AWSLogs/1/CloudTrail/us-east-1/f.json.gz"),
            Some(PathBuf::from("AWSLogs/1/CloudTrail/us-east-1/f.json.gz"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "AWSLogs/../../x",
            "..",
            "a/./b",
            "a//b",
            "a/",
            "a\\..\\b",
            "a/b\0c",
        ] {
            assert_eq!(key_path(bad), None, "{bad:?}");
        }
        let dir = Path::new("/tmp/export");
        for ok in ["a..b/c", "...", "a/.hidden"] {
            let p = dir.join(key_path(ok).unwrap());
            assert!(p.starts_with(dir), "{ok:?}");
        }
    }
}
