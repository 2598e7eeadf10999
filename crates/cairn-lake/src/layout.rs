//! Where a Cairn data directory keeps the lake's inputs and outputs (shared by the server
//! and `cairn query --data-dir`).
//!
//! ```text
//! <data_dir>/buckets/<bucket>/...              local buckets (delivered log files)
//! <data_dir>/lake/parquet/<bucket>/            Parquet copy of one bucket
//! <data_dir>/lake/eds/<id>/logs/...            an event data store's events, as log files
//! <data_dir>/lake/eds/<id>/parquet/            their Parquet copy
//! <data_dir>/lake/stores.json                  event data stores (the server's)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::Bucket;

use crate::{LakeError, Source};

/// The lake's directory.
pub fn lake_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("lake")
}

/// The source of one local bucket kept as plain files (`<data_dir>/buckets/<bucket>`, as
/// `cairn query --data-dir` reads a copied bucket).
pub fn bucket_source(data_dir: &Path, bucket: &str) -> Source {
    Source {
        json_root: data_dir.join("buckets").join(bucket),
        parquet_dir: Some(bucket_parquet_dir(data_dir, bucket)),
    }
}

/// The Parquet copy of the bucket `bucket`'s delivered log files.
pub fn bucket_parquet_dir(data_dir: &Path, bucket: &str) -> PathBuf {
    lake_dir(data_dir).join("parquet").join(bucket)
}

/// One compaction round over `buckets` (read through [`Bucket`], e.g. the vault buckets Cairn
/// writes), each into its [`bucket_parquet_dir`]. Blocking: call it from a thread outside the
/// runtime `rt` the buckets run on. Every bucket is tried; the first error is returned.
pub fn compact_buckets(
    data_dir: &Path,
    buckets: &[Arc<dyn Bucket>],
    rt: &tokio::runtime::Handle,
) -> Result<crate::CompactStats, LakeError> {
    let mut total = crate::CompactStats::default();
    let mut first_err = None;
    for b in buckets {
        let out = bucket_parquet_dir(data_dir, b.name());
        match crate::Compactor::for_bucket(b.clone(), rt.clone(), out).run() {
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

/// The names of the local buckets (directories under `<data_dir>/buckets`).
pub fn bucket_names(data_dir: &Path) -> Result<Vec<String>, LakeError> {
    names(&data_dir.join("buckets"))
}

/// The directory of an event data store.
pub fn store_dir(data_dir: &Path, id: &str) -> PathBuf {
    lake_dir(data_dir).join("eds").join(id)
}

/// The source of an event data store.
pub fn store_source(data_dir: &Path, id: &str) -> Source {
    let d = store_dir(data_dir, id);
    Source {
        json_root: d.join("logs"),
        parquet_dir: Some(d.join("parquet")),
    }
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

/// One compaction round over every event data store and plain-file bucket directory of
/// `data_dir` (`cairn query --data-dir`; the server compacts its vault buckets with
/// [`compact_buckets`]).
pub fn compact_all(data_dir: &Path) -> Result<crate::CompactStats, LakeError> {
    let mut sources = Vec::new();
    for b in bucket_names(data_dir)? {
        sources.push(bucket_source(data_dir, &b));
    }
    let mut total = compact_stores(data_dir)?;
    total += compact_sources(sources)?;
    Ok(total)
}

/// One compaction round over every event data store of `data_dir`.
pub fn compact_stores(data_dir: &Path) -> Result<crate::CompactStats, LakeError> {
    let ids = store_ids(data_dir)?;
    compact_sources(ids.iter().map(|id| store_source(data_dir, id)).collect())
}

fn compact_sources(sources: Vec<Source>) -> Result<crate::CompactStats, LakeError> {
    let mut total = crate::CompactStats::default();
    for s in sources {
        if let Some(out) = s.parquet_dir {
            total += crate::Compactor::new(s.json_root, out).run()?;
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
