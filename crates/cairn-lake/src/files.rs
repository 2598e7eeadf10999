//! Finding CloudTrail log files under a directory and reading their records.
//!
//! A source directory is a plain directory of log files (as `aws s3 sync` leaves them, or
//! `/work/shared/data/cloudtrail`). Cairn's local buckets are vault buckets, read as bucket
//! sources; object files of earlier versions (`<key>@obj`) are imported into the vault by the
//! server and never read here (ADR 0011).
//!
//! A bucket source ([`Logs::Bucket`]) is read through [`cairn_store::Bucket`]: its delivered
//! log files are the objects under a `/CloudTrail/` folder with a log file name, read with
//! `get` one at a time, never copied to disk.
//!
//! A log file is gzip (detected by its magic bytes) or plain JSON, holding either CloudTrail's
//! `{"Records":[...]}` document or newline-delimited records. Digest files
//! (`*_CloudTrail-Digest_*`) and Cairn's temporary files are skipped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_store::Bucket;

use serde_json::Value;

use crate::LakeError;

/// Decompressed size above which a log file is refused (CloudTrail's files are far smaller).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// One log file found under a source root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Path relative to the root, with `/` separators (the manifest's key); for a bucket
    /// source, the object key.
    pub rel: String,
    /// Absolute path (empty for a bucket source's object).
    pub path: PathBuf,
    /// Size on disk.
    pub size: u64,
}

/// Whether a file (or object) named `name` (the last path segment) is read as a log file:
/// a JSON or gzip JSON name, not a digest file, not hidden.
pub fn is_log_name(name: &str) -> bool {
    if name.starts_with('.') || name.contains("CloudTrail-Digest") {
        return false;
    }
    [".json.gz", ".json", ".jsonl", ".ndjson", ".json%2Egz"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Every log file under `root`, sorted by relative path. A missing root has none.
pub fn list(root: &Path) -> Result<Vec<LogFile>, LakeError> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| LakeError::io(&dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| LakeError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let ft = entry.file_type().map_err(|e| LakeError::io(&dir, e))?;
            let path = entry.path();
            if ft.is_dir() {
                // Digest folders hold only digests.
                if name != "CloudTrail-Digest" {
                    stack.push(path);
                }
            } else if ft.is_file() && is_log_name(name) {
                let size = entry.metadata().map_err(|e| LakeError::io(&path, e))?.len();
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(LogFile { rel, path, size });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Where a source's log files are: a directory, or a bucket read through [`Bucket`].
#[derive(Debug, Clone)]
pub enum Logs {
    /// A directory searched recursively ([`list`]).
    Dir(PathBuf),
    /// A bucket's delivered log files ([`list_bucket`]).
    Bucket(Arc<dyn Bucket>),
    /// A directory of log files sealed at rest under the key ([`crate::sealed`]), each bound
    /// to its path relative to the directory (an event data store's logs).
    Sealed(PathBuf, crate::LakeKey),
}

impl Logs {
    /// Every log file of the source, sorted by `rel`. Directory walks run on the blocking
    /// pool.
    pub async fn list(&self) -> Result<Vec<LogFile>, LakeError> {
        match self {
            Logs::Dir(root) | Logs::Sealed(root, _) => {
                let root = root.clone();
                blocking(move || list(&root)).await
            }
            Logs::Bucket(b) => list_bucket(b.as_ref()).await,
        }
    }

    /// The bytes of one of the source's log files, as stored (the object header, if any, is
    /// skipped later by [`json_text`]). File reads run on the blocking pool.
    pub async fn read(&self, f: &LogFile) -> Result<Bytes, LakeError> {
        match self {
            Logs::Dir(_) => {
                let path = f.path.clone();
                blocking(move || {
                    std::fs::read(&path)
                        .map(Bytes::from)
                        .map_err(|e| LakeError::io(&path, e))
                })
                .await
            }
            Logs::Bucket(b) => Ok(b.get(&f.rel).await?.bytes),
            Logs::Sealed(_, key) => {
                let (path, rel, key) = (f.path.clone(), f.rel.clone(), key.clone());
                blocking(move || read_sealed(&key, &path, &rel).map(Bytes::from)).await
            }
        }
    }

    /// The name of a file for error messages: its path, or `<bucket>/<key>`.
    pub fn display(&self, f: &LogFile) -> String {
        match self {
            Logs::Dir(_) | Logs::Sealed(..) => f.path.display().to_string(),
            Logs::Bucket(b) => format!("{}/{}", b.name(), f.rel),
        }
    }
}

/// The plaintext of the sealed log file at `path` (`rel` under its directory).
pub fn read_sealed(key: &crate::LakeKey, path: &Path, rel: &str) -> Result<Vec<u8>, LakeError> {
    let raw = std::fs::read(path).map_err(|e| LakeError::io(path, e))?;
    key.open(rel, &path.display().to_string(), raw)
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LakeError> + Send + 'static,
) -> Result<T, LakeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LakeError::Execution(format!("blocking task failed: {e}")))?
}

/// Whether the object `key` is a delivered CloudTrail log file: under a `/CloudTrail/` folder,
/// with a log file name ([`is_log_name`]), and a key that is a safe relative path
/// ([`crate::layout::key_path`]; planted keys such as `../x` are never read).
pub fn is_log_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or_default();
    key.contains("/CloudTrail/") && is_log_name(name) && crate::layout::key_path(key).is_some()
}

/// Every delivered log file of `bucket` ([`is_log_key`]), sorted by key, listed page by page.
pub async fn list_bucket(bucket: &dyn Bucket) -> Result<Vec<LogFile>, LakeError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = bucket
            .list("", marker.as_deref(), cairn_store::MAX_LIST_PAGE)
            .await?;
        for e in &page.entries {
            if is_log_key(&e.key) {
                out.push(LogFile {
                    rel: e.key.clone(),
                    path: PathBuf::new(),
                    size: e.size,
                });
            } else if e.key.contains("/CloudTrail/") && crate::layout::key_path(&e.key).is_none() {
                tracing::warn!(bucket = bucket.name(), key = %e.key.escape_debug(), "skipping a log file whose key is not a safe path");
            }
        }
        match (page.is_truncated, page.entries.last()) {
            (true, Some(last)) => marker = Some(last.key.clone()),
            _ => return Ok(out),
        }
    }
}

/// Reads the records of one log file.
pub fn read_records(path: &Path) -> Result<Vec<Value>, LakeError> {
    let raw = std::fs::read(path).map_err(|e| LakeError::io(path, e))?;
    parse_records(&raw).map_err(|detail| LakeError::BadFile {
        path: path.display().to_string(),
        detail,
    })
}

/// The JSON text of a log file's bytes: gzip undone (capped at [`MAX_FILE_BYTES`]).
pub fn json_text(raw: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let body = raw;
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let mut plain = Vec::with_capacity(body.len() * 10);
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("gunzip: {e}"))?;
    if plain.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("decompresses to more than {MAX_FILE_BYTES} bytes"));
    }
    Ok(std::borrow::Cow::Owned(plain))
}

/// Parses the records of a log file's bytes (see the module docs for what is accepted).
pub fn parse_records(raw: &[u8]) -> Result<Vec<Value>, String> {
    let json = json_text(raw)?;
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_slice(&json).into_iter::<Value>() {
        let v = v.map_err(|e| format!("json: {e}"))?;
        match v {
            Value::Object(mut m) if m.contains_key("Records") => match m.remove("Records") {
                Some(Value::Array(a)) => out.extend(a),
                _ => return Err("`Records` is not an array".into()),
            },
            v @ Value::Object(_) => out.push(v),
            _ => return Err("not a CloudTrail record or document".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_ndjson_are_read_and_wrapped_files_are_not() {
        let doc = br#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#;
        assert_eq!(parse_records(doc).unwrap().len(), 2);
        let nd = b"{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}\n{\"eventID\":\"c\"}\n";
        assert_eq!(parse_records(nd).unwrap().len(), 3);
        // A file wrapped in the retired local store's object header is not a log file.
        let mut obj = b"CAIRNOBJ\x01\x00\x00\x00\x00\x02{}".to_vec();
        obj.extend_from_slice(doc);
        assert!(parse_records(&obj).is_err());
        assert!(parse_records(b"[1,2]").is_err());
        assert!(parse_records(br#"{"Records":3}"#).is_err());
    }

    #[test]
    fn digests_and_temporaries_are_not_log_files() {
        assert!(is_log_name(
            "111122223333_CloudTrail_us-east-1_20240101T0000Z_abc.json.gz"
        ));
        assert!(!is_log_name("x.json.gz@obj"));
        assert!(!is_log_name(
            "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json.gz"
        ));
        assert!(!is_log_name(".cairn-tmp-1.json.gz"));
        assert!(!is_log_name("notes.txt"));
    }
}
