//! Where `cairn validate` reads objects from: a plain directory tree (`aws s3 sync` output),
//! a bucket directory an earlier Cairn version wrote (`@obj` files, read through
//! `cairn_vault::legacy`), or any [`cairn_store::Bucket`] (S3-compatible services, the vault
//! buckets of a Cairn data directory).
//!
//! Digests are fetched whole (they are small); log files are streamed from disk through
//! gunzip → SHA-256 without holding the whole file (remote objects are fetched whole: the
//! bucket abstraction has no streaming read).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use cairn_logfile::gz;
use cairn_logfile::validate::{
    DEFAULT_MAX_LOG_BYTES, DigestSource, ListPage, LogOutcome, SourceError, SourceObject,
};
use cairn_store::{Bucket, ErrorClass};

/// Suffix of the files of a bucket directory written by an earlier Cairn version.
const OBJECT_SUFFIX: &str = "@obj";
/// Suffix of plain-tree metadata side files (`<key>.metadata.json`).
pub(crate) const METADATA_SUFFIX: &str = ".metadata.json";
/// Largest digest object we fetch (compressed).
const MAX_OBJECT: u64 = 256 * 1024 * 1024;
/// Keys per listing page from a plain tree.
const PAGE: usize = 1000;

/// How one bucket is stored.
#[derive(Debug)]
pub(crate) enum Backend {
    /// A directory whose relative paths are the keys (what `aws s3 sync` writes). Object
    /// metadata (the digests' `signature`) comes from `<key>.metadata.json` side files.
    Plain(PathBuf),
    /// A bucket directory of an earlier Cairn version (`<root>/<encoded key>@obj`), not yet
    /// imported into the vault by the server.
    Cairn {
        /// The bucket root.
        root: PathBuf,
        /// Its read-only reader.
        bucket: cairn_vault::legacy::LegacyBucket,
    },
    /// Any other bucket backend (S3-compatible).
    Remote(Arc<dyn Bucket>),
}

/// Which layout a directory uses: Cairn's if any object file under it ends in `@obj`.
pub(crate) fn detect_layout(root: &Path) -> Result<bool> {
    fn walk(dir: &Path, depth: usize) -> io::Result<Option<bool>> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut dirs = Vec::new();
        for e in entries {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".cairn-tmp") {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_file() {
                return Ok(Some(name.ends_with(OBJECT_SUFFIX)));
            }
            if ft.is_dir() {
                dirs.push(e.path());
            }
        }
        if depth == 0 {
            return Ok(None);
        }
        for d in dirs {
            if let Some(found) = walk(&d, depth - 1)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
    if !root.is_dir() {
        bail!("bucket directory {} does not exist", root.display());
    }
    Ok(walk(root, 16)
        .with_context(|| format!("reading {}", root.display()))?
        .unwrap_or(false))
}

impl Backend {
    /// A bucket directory in whichever layout it uses.
    pub(crate) fn open_dir(name: &str, root: &Path) -> Result<Backend> {
        if detect_layout(root)? {
            let bucket = cairn_vault::legacy::LegacyBucket::open(name, root)
                .with_context(|| format!("opening {}", root.display()))?;
            Ok(Backend::Cairn {
                root: root.to_owned(),
                bucket,
            })
        } else {
            Ok(Backend::Plain(root.to_owned()))
        }
    }

    /// A configured `backend = "local"` bucket, read-only: the directory an earlier version
    /// wrote when the server has not imported it yet, else the vault bucket (the shared vault
    /// of `<data_dir>/buckets`, or the one at `root`), opened without writing anything, with
    /// the master key found as the server finds it (`CAIRN_MASTER_KEY`, else the data
    /// directory's key file; never created here).
    pub(crate) fn open_vault(
        config: &cairn_server::config::Config,
        name: &str,
        root: Option<&Path>,
    ) -> Result<Backend> {
        let buckets = config.data_dir.join("buckets");
        let (dir, old) = match root {
            Some(r) => (r.to_owned(), r.to_owned()),
            None => (buckets.clone(), buckets.join(name)),
        };
        if cairn_vault::legacy::is_legacy_tree(&old) {
            return Backend::open_dir(name, &old);
        }
        let master = cairn_server::secrets::MasterKey::load_existing(
            &config.data_dir,
            std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
        )
        .context("loading the master key")?;
        let vault = cairn_server::s3::open_vault_read_only(
            &dir,
            &config.data_dir,
            Arc::new(master),
            config.home_region.as_str(),
        )
        .with_context(|| format!("opening the vault in {}", dir.display()))?;
        vault
            .bucket(name)
            .with_context(|| format!("bucket {name} in {}", dir.display()))?;
        Ok(Backend::Remote(Arc::new(cairn_vault::VaultBucket::new(
            Arc::new(vault),
            name,
        ))))
    }

    /// A short name for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Backend::Plain(p) => format!("plain directory tree {}", p.display()),
            Backend::Cairn { root, .. } => format!("Cairn bucket directory {}", root.display()),
            Backend::Remote(b) => format!("{} bucket {}", b.backend(), b.name()),
        }
    }
}

/// Opens a bucket by name.
pub(crate) type OpenFn = Box<dyn Fn(&str) -> Result<Backend> + Send + Sync>;

/// How bucket names the run did not name up front are opened.
pub(crate) enum Opener {
    /// Only the buckets given at start exist.
    Fixed,
    /// Any name, through this function (S3 endpoint or Cairn data directory).
    Dynamic(OpenFn),
}

/// The object reader of a validation run.
pub(crate) struct Store {
    buckets: Mutex<HashMap<String, Arc<Backend>>>,
    opener: Opener,
    rt: tokio::runtime::Handle,
}

fn store_err(e: &cairn_store::Error) -> SourceError {
    if e.class() == ErrorClass::NotFound {
        SourceError::not_found(e.to_string())
    } else {
        SourceError::other(e.to_string())
    }
}

/// Whether `key` maps onto a path inside a plain tree (no `..`, `.`, empty segments, NUL).
fn safe_relative(key: &str) -> bool {
    !key.is_empty()
        && !key.contains('\0')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Reads a plain-tree side file: either a flat `{"name": "value"}` map or the output of
/// `aws s3api head-object` (`{"Metadata": {...}, ...}`). Names are lower-cased.
fn read_side_metadata(path: &Path) -> Result<BTreeMap<String, String>, SourceError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(SourceError::other(format!("{}: {e}", path.display()))),
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::other(format!("{}: {e}", path.display())))?;
    let map = v.get("Metadata").unwrap_or(&v);
    let Some(obj) = map.as_object() else {
        return Err(SourceError::other(format!(
            "{}: expected a JSON object of metadata",
            path.display()
        )));
    };
    Ok(obj
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_owned())))
        .collect())
}

/// Lists a plain tree in byte order: keys under `prefix`, after `marker`, at most `PAGE`.
fn list_plain(root: &Path, prefix: &str, marker: Option<&str>) -> io::Result<ListPage> {
    // Start at the deepest directory the prefix names fully.
    let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..=i]);
    if !dir_part.is_empty() && !safe_relative(dir_part.trim_end_matches('/')) {
        return Ok(ListPage::default());
    }
    let mut keys = Vec::new();
    let start = root.join(dir_part);
    if start.is_dir() {
        walk_plain(&start, dir_part, prefix, marker, &mut keys)?;
    }
    let next_marker = if keys.len() > PAGE {
        keys.truncate(PAGE);
        keys.last().cloned()
    } else {
        None
    };
    Ok(ListPage { keys, next_marker })
}

/// Depth-first walk in byte order, pruning subtrees outside the prefix or before the
/// marker, stopping once more than `PAGE` keys are collected.
fn walk_plain(
    dir: &Path,
    key_prefix: &str,
    prefix: &str,
    marker: Option<&str>,
    out: &mut Vec<String>,
) -> io::Result<()> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let ft = e.file_type()?;
        let is_dir = if ft.is_symlink() {
            e.path().is_dir()
        } else {
            ft.is_dir()
        };
        // Sort by the key text each entry contributes: `name/` for a directory.
        let text = if is_dir {
            format!("{key_prefix}{name}/")
        } else {
            format!("{key_prefix}{name}")
        };
        entries.push((text, is_dir, e.path()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (text, is_dir, path) in entries {
        if out.len() > PAGE {
            return Ok(());
        }
        if is_dir {
            // Every key below starts with `text`.
            let overlaps = text.starts_with(prefix) || prefix.starts_with(&text);
            let after_marker = marker.is_none_or(|m| m.starts_with(&text) || text.as_str() > m);
            if overlaps && after_marker {
                walk_plain(&path, &text, prefix, marker, out)?;
            }
        } else if text.starts_with(prefix)
            && marker.is_none_or(|m| text.as_str() > m)
            && !text.ends_with(METADATA_SUFFIX)
        {
            out.push(text);
        }
    }
    Ok(())
}

/// Gunzip → SHA-256 of a stream and the verdict; also the uncompressed length.
pub(crate) fn hash_stream<R: Read>(reader: R, expected: &str) -> (LogOutcome, u64) {
    match gz::gunzip_sha256(reader, DEFAULT_MAX_LOG_BYTES) {
        Ok(h) if h.sha256_hex == expected => (LogOutcome::Valid, h.len),
        Ok(h) => (LogOutcome::HashMismatch, h.len),
        Err(_) => (LogOutcome::InvalidFormat, 0),
    }
}

impl Store {
    /// A store serving `initial` buckets and opening others with `opener`.
    pub(crate) fn new(
        initial: Vec<(String, Backend)>,
        opener: Opener,
        rt: tokio::runtime::Handle,
    ) -> Store {
        Store {
            buckets: Mutex::new(initial.into_iter().map(|(n, b)| (n, Arc::new(b))).collect()),
            opener,
            rt,
        }
    }

    fn backend(&self, bucket: &str) -> Result<Arc<Backend>, SourceError> {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = map.get(bucket) {
            return Ok(b.clone());
        }
        match &self.opener {
            Opener::Fixed => Err(SourceError::other(format!(
                "bucket {bucket} is not available to this run (only {} given)",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
            Opener::Dynamic(open) => {
                let b = Arc::new(open(bucket).map_err(|e| SourceError::other(format!("{e:#}")))?);
                map.insert(bucket.to_owned(), b.clone());
                Ok(b)
            }
        }
    }

    fn list_bucket(
        &self,
        b: &dyn Bucket,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        let page = self
            .rt
            .block_on(b.list(prefix, marker, cairn_store::MAX_LIST_PAGE))
            .map_err(|e| store_err(&e))?;
        let keys: Vec<String> = page.entries.into_iter().map(|e| e.key).collect();
        let next_marker = if page.is_truncated {
            page.next_marker.or_else(|| keys.last().cloned())
        } else {
            None
        };
        Ok(ListPage { keys, next_marker })
    }

    fn get_bucket(&self, b: &dyn Bucket, key: &str) -> Result<SourceObject, SourceError> {
        let obj = self.rt.block_on(b.get(key)).map_err(|e| store_err(&e))?;
        Ok(SourceObject {
            body: obj.bytes,
            metadata: obj.meta.user_metadata,
        })
    }

    /// Reads a log object from a bucket and checks it against `expected`. A stored object
    /// that fails the store's own integrity check (an encrypted body changed at rest) is not
    /// what was delivered: it counts as a hash mismatch, not as an error that stops the walk.
    fn check_bucket_log(
        &self,
        b: &dyn Bucket,
        key: &str,
        expected: &str,
    ) -> Result<(LogOutcome, u64), SourceError> {
        match self.rt.block_on(b.get(key)) {
            Ok(o) => Ok(hash_stream(&o.bytes[..], expected)),
            Err(e) => match e.class() {
                ErrorClass::NotFound => Ok((LogOutcome::NotFound, 0)),
                ErrorClass::Corrupt => Ok((LogOutcome::HashMismatch, 0)),
                _ => Err(store_err(&e)),
            },
        }
    }

    /// Fetches a log object and checks it against `expected` (lowercase hex SHA-256 of the
    /// uncompressed bytes), streaming from disk. Errors are only non-`NotFound` failures.
    pub(crate) fn check_log(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
    ) -> Result<(LogOutcome, u64), SourceError> {
        let not_found = || Ok((LogOutcome::NotFound, 0));
        match &*self.backend(bucket)? {
            Backend::Plain(root) => {
                if !safe_relative(key) || key.ends_with(METADATA_SUFFIX) {
                    return not_found();
                }
                match File::open(root.join(key)) {
                    Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                        Ok(hash_stream(f, expected))
                    }
                    Ok(_) => not_found(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => not_found(),
                    Err(e) => Err(SourceError::other(format!(
                        "{}: {e}",
                        root.join(key).display()
                    ))),
                }
            }
            Backend::Cairn { bucket: b, .. } => self.check_bucket_log(b, key, expected),
            Backend::Remote(b) => self.check_bucket_log(&**b, key, expected),
        }
    }
}

impl DigestSource for Store {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        match &*self.backend(bucket)? {
            Backend::Plain(root) => list_plain(root, prefix, marker)
                .map_err(|e| SourceError::other(format!("listing {}: {e}", root.display()))),
            Backend::Cairn { bucket: b, .. } => self.list_bucket(b, prefix, marker),
            Backend::Remote(b) => self.list_bucket(&**b, prefix, marker),
        }
    }

    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
        match &*self.backend(bucket)? {
            Backend::Plain(root) => {
                let missing = || SourceError::not_found(format!("NoSuchKey: s3://{bucket}/{key}"));
                if !safe_relative(key) || key.ends_with(METADATA_SUFFIX) {
                    return Err(missing());
                }
                let path = root.join(key);
                let body = match File::open(&path) {
                    Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                        let mut buf = Vec::new();
                        f.take(MAX_OBJECT)
                            .read_to_end(&mut buf)
                            .map_err(|e| SourceError::other(format!("{}: {e}", path.display())))?;
                        buf
                    }
                    Ok(_) => return Err(missing()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => {
                        return Err(SourceError::other(format!("{}: {e}", path.display())));
                    }
                };
                let mut side = path.into_os_string();
                side.push(METADATA_SUFFIX);
                Ok(SourceObject {
                    body: Bytes::from(body),
                    metadata: read_side_metadata(Path::new(&side))?,
                })
            }
            Backend::Cairn { bucket: b, .. } => self.get_bucket(b, key),
            Backend::Remote(b) => self.get_bucket(&**b, key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_relative_rejects_escapes() {
        assert!(safe_relative("AWSLogs/1/CloudTrail/x.json.gz"));
        for bad in ["", "../x", "a/../b", "a//b", "/a", "a/./b", "a\0b", "a/"] {
            assert!(!safe_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn plain_listing_is_byte_ordered_with_marker_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for k in [
            "a/b/1",
            "a/b/2",
            "a/b-c",
            "a/c/3",
            "a/b/1.metadata.json",
            "b/1",
        ] {
            let p = dir.path().join(k);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let all = list_plain(dir.path(), "a/", None).unwrap();
        // `a/b-c` sorts before `a/b/` ('-' < '/').
        assert_eq!(all.keys, ["a/b-c", "a/b/1", "a/b/2", "a/c/3"]);
        let after = list_plain(dir.path(), "a/", Some("a/b/1")).unwrap();
        assert_eq!(after.keys, ["a/b/2", "a/c/3"]);
        let partial = list_plain(dir.path(), "a/b", None).unwrap();
        assert_eq!(partial.keys, ["a/b-c", "a/b/1", "a/b/2"]);
        assert!(
            list_plain(dir.path(), "zzz/", None)
                .unwrap()
                .keys
                .is_empty()
        );
        assert!(list_plain(dir.path(), "../", None).unwrap().keys.is_empty());
    }

    #[test]
    fn side_metadata_accepts_flat_and_head_object_forms() {
        let dir = tempfile::tempdir().unwrap();
        let flat = dir.path().join("f.json");
        std::fs::write(
            &flat,
            br#"{"Signature":"ab","signature-algorithm":"SHA256withRSA"}"#,
        )
        .unwrap();
        let m = read_side_metadata(&flat).unwrap();
        assert_eq!(m["signature"], "ab");
        let head = dir.path().join("h.json");
        std::fs::write(
            &head,
            br#"{"ContentLength":3,"Metadata":{"signature":"cd"}}"#,
        )
        .unwrap();
        assert_eq!(read_side_metadata(&head).unwrap()["signature"], "cd");
        assert!(
            read_side_metadata(&dir.path().join("none"))
                .unwrap()
                .is_empty()
        );
        std::fs::write(&head, b"[1]").unwrap();
        assert!(read_side_metadata(&head).is_err());
    }
}
