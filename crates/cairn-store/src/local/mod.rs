//! Buckets as directories of files.

mod format;
mod names;

pub use format::{object_file_body, open_object_body};

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::error::{Ctx, Error, ErrorClass, Op, Result};
use crate::{
    BoxFuture, Bucket, ListEntry, ListPage, Object, ObjectMeta, PutMode, PutOptions, PutResult,
    Sse, check_put, clamp_max, md5_hex, validate_key,
};
use format::{FormatError, Header, PREFIX_LEN, SseRecord};
use names::Entry;

const BACKEND: &str = "local";

/// Name of the directory under the root that holds files being written.
const TMP_DIR: &str = ".cairn-tmp";

/// A bucket stored as files under a root directory (by default `<data_dir>/buckets/<name>/`).
///
/// # Layout and format
///
/// Key `s1/s2/.../sN` lives in the file `<root>/enc(s1)/enc(s2)/.../enc(sN)@obj`. `enc` keeps
/// `A-Z a-z 0-9 - _` and `.` (except as first byte) and writes every other byte as `%XX`
/// (uppercase hex), so an encoded name never holds `/`, NUL or `@` and never starts with `.`
/// (names starting with `.` are the backend's own, like `.cairn-tmp`). The encoding is
/// canonical (a key has exactly one path) and the `@obj` suffix lets key `a` and keys `a/...`
/// coexist. Listing decodes each directory's names, sorts them by the key text they contribute
/// (`segment` for a file, `segment/` for a directory) and walks depth first, which yields byte
/// order; prefix and marker prune whole subtrees. Example:
/// `AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/x.json.gz` is stored at
/// `<root>/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/x.json.gz@obj`, and `a%2F` at
/// `<root>/a%252F@obj`.
///
/// Each file (format version 1) is:
///
/// ```text
/// offset  size  field
/// 0       8     magic "CAIRNOBJ"
/// 8       1     format version = 1
/// 9       1     flags: bit 0 = body encrypted (reserved; version 1 writes 0, readers
///               reject any set flag until encryption at rest exists)
/// 10      4     header length H, big-endian u32, at most 65536
/// 14      H     JSON header: key, size, etag (hex MD5), last_modified_unix_ns,
///               content_type?, user_metadata?, sse (requested, not applied)
/// 14+H    size  body
/// ```
///
/// Header and body share one file so one `link`/`rename` publishes both.
///
/// # Durability and atomicity
///
/// A put writes a temporary file in `<root>/.cairn-tmp/`, fsyncs it, then publishes it with
/// `link(2)` (put-if-absent: fails if the target exists, atomically, no clobber) or
/// `rename(2)` (overwrite), and fsyncs the target directory (and the parent of every directory
/// it created). When `put` returns, the object survives a crash; before that, a crash leaves
/// either nothing or the complete object. Leftover temporary files are removed by
/// [`LocalBucket::open`]. Delete unlinks the file, fsyncs the directory and removes emptied
/// directories.
///
/// # Limits
///
/// - One process owns a bucket root at a time: `open` deletes temporary files it finds, which
///   would break another process's in-flight put.
/// - Key segments must encode to at most 255 bytes (see the crate's key rules).
/// - Requested server-side encryption is recorded in the header, not applied: encryption at
///   rest is a later issue; the format's flags byte is the seam.
/// - Methods run their file I/O on tokio's blocking pool when polled inside a tokio runtime,
///   inline otherwise.
/// - The file system must be case sensitive (Linux file systems are).
#[derive(Debug, Clone)]
pub struct LocalBucket {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    root: PathBuf,
    tmp: PathBuf,
}

/// Failures of this backend, converted into [`Error`] with their context.
#[derive(Debug, thiserror::Error)]
enum LocalError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt object file {path}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
    #[error("object file {path} holds key {found:?}")]
    WrongKey { path: PathBuf, found: String },
    #[error("target exists")]
    Exists,
    #[error("cannot encode the object header")]
    Encode(#[source] FormatError),
    #[error("blocking task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// A [`LocalError`] with the context needed to build the public [`Error`].
struct LocalFailure {
    ctx: Ctx,
    err: LocalError,
}

impl From<LocalFailure> for Error {
    fn from(f: LocalFailure) -> Self {
        let class = match &f.err {
            LocalError::Exists => ErrorClass::AlreadyExists,
            LocalError::Io { source, .. } => io_class(f.ctx.op, source),
            LocalError::Corrupt { .. }
            | LocalError::WrongKey { .. }
            | LocalError::Encode(_)
            | LocalError::Join(_) => ErrorClass::Internal,
        };
        f.ctx.error(class, Box::new(f.err))
    }
}

fn io_class(op: Op, e: &io::Error) -> ErrorClass {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound if matches!(op, Op::Get | Op::Head) => ErrorClass::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem => ErrorClass::Unauthorized,
        K::StorageFull | K::QuotaExceeded | K::Interrupted | K::TimedOut | K::WouldBlock => {
            ErrorClass::Transient
        }
        _ => ErrorClass::Internal,
    }
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> LocalError + 'p {
    move |source| LocalError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), LocalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Checks a bucket name against S3's rules (3 to 63 of `a-z 0-9 . -`, starting and ending with
/// a letter or digit), since the name becomes a directory.
fn validate_bucket_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "bucket name {name:?} breaks S3 bucket naming rules"
        )))
    }
}

impl LocalBucket {
    /// Opens (creating if needed) the bucket `name` stored under `root`, and removes temporary
    /// files left by a crash.
    ///
    /// Blocking: call it at startup or from `spawn_blocking`.
    pub fn open(name: impl Into<String>, root: impl Into<PathBuf>) -> Result<Self> {
        let name = name.into();
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        let ctx = Ctx::new(BACKEND, &name, Op::Open, "");
        let fail = |err| {
            Error::from(LocalFailure {
                ctx: ctx.clone(),
                err,
            })
        };
        fs::create_dir_all(&tmp)
            .map_err(io_err("create directory", &tmp))
            .map_err(fail)?;
        let entries = fs::read_dir(&tmp)
            .map_err(io_err("read directory", &tmp))
            .map_err(fail)?;
        let mut removed = 0usize;
        for entry in entries {
            let entry = entry
                .map_err(io_err("read directory", &tmp))
                .map_err(fail)?;
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(io_err("remove temporary file", &path))
                .map_err(fail)?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(bucket = %name, removed, "removed leftover temporary files");
            sync_dir(&tmp).map_err(fail)?;
        }
        Ok(LocalBucket {
            inner: Arc::new(Inner { name, root, tmp }),
        })
    }

    /// Opens an existing bucket for reading while another process (the server) may be
    /// writing to it: no directory is created and no temporary file is removed. Writes
    /// through this handle are possible but the caller promises not to make any.
    pub fn open_read_only(name: impl Into<String>, root: impl Into<PathBuf>) -> Result<Self> {
        let name = name.into();
        let root = root.into();
        if !root.is_dir() {
            return Err(Error::config(format!(
                "bucket directory {} does not exist",
                root.display()
            )));
        }
        let tmp = root.join(TMP_DIR);
        Ok(LocalBucket {
            inner: Arc::new(Inner { name, root, tmp }),
        })
    }

    /// Opens the bucket `name` at `<data_dir>/buckets/<name>/`; `name` must follow S3's bucket
    /// naming rules.
    pub fn open_in_data_dir(data_dir: &Path, name: &str) -> Result<Self> {
        validate_bucket_name(name)?;
        Self::open(name, data_dir.join("buckets").join(name))
    }

    /// The bucket's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Runs `f` on the blocking pool with the bucket's state, converting its error.
    async fn blocking<T, F>(&self, op: Op, key: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, LocalError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let res = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(move || f(&inner))
                .await
                .unwrap_or_else(|e| Err(LocalError::Join(e))),
            // Outside a tokio runtime (another executor, a plain `block_on`): run inline.
            Err(_) => f(&inner),
        };
        res.map_err(|err| {
            Error::from(LocalFailure {
                ctx: Ctx::new(BACKEND, &self.inner.name, op, key),
                err,
            })
        })
    }

    fn layout(&self, key: &str) -> Result<(PathBuf, String)> {
        validate_key(key)?;
        names::key_path(key).map_err(|reason| Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    }
}

impl Inner {
    /// Creates the directories of `rel` under the root, fsyncing the parent of each one created.
    fn ensure_dirs(&self, rel: &Path) -> Result<PathBuf, LocalError> {
        let mut dir = self.root.clone();
        for part in rel.iter() {
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) => sync_dir(dir.parent().unwrap_or(&self.root))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create directory", &dir)(e)),
            }
        }
        Ok(dir)
    }

    fn write_tmp(&self, head: &[u8], body: &[u8]) -> Result<PathBuf, LocalError> {
        let path = self
            .tmp
            .join(format!("{:032x}.tmp", rand::random::<u128>()));
        let res = File::create_new(&path)
            .and_then(|mut f| {
                f.write_all(head)?;
                f.write_all(body)?;
                f.sync_all()
            })
            .map_err(io_err("write temporary file", &path));
        if res.is_err() {
            let _ = fs::remove_file(&path);
        }
        res.map(|()| path)
    }

    fn put(
        &self,
        dirs: &Path,
        file: &str,
        mode: PutMode,
        head: &[u8],
        body: &[u8],
    ) -> Result<(), LocalError> {
        let tmp = self.write_tmp(head, body)?;
        let res = self.publish(&tmp, dirs, file, mode);
        if mode == PutMode::CreateOnly || res.is_err() {
            // After a successful link the temporary name is a second link to the object;
            // dropping it cannot hurt the object. A crash before this is cleaned by `open`.
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn publish(
        &self,
        tmp: &Path,
        dirs: &Path,
        file: &str,
        mode: PutMode,
    ) -> Result<(), LocalError> {
        // A concurrent delete may remove an emptied directory between our mkdir and our
        // link/rename; then the link fails with NotFound and we create the directory again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let dir = self.ensure_dirs(dirs)?;
            let target = dir.join(file);
            let res = match mode {
                PutMode::CreateOnly => fs::hard_link(tmp, &target),
                PutMode::Overwrite => fs::rename(tmp, &target),
            };
            match res {
                Ok(()) => return sync_dir(&dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(LocalError::Exists);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 && tmp.exists() => {}
                Err(e) => return Err(io_err("publish object", &target)(e)),
            }
        }
    }

    fn read_file(&self, key: &str, path: &Path) -> Result<Object, LocalError> {
        let data = fs::read(path).map_err(io_err("read object", path))?;
        let corrupt = |source| LocalError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        let (header, body_at) = format::decode_file(&data).map_err(corrupt)?;
        let meta = self.meta_from(key, path, header)?;
        Ok(Object {
            bytes: Bytes::from(data).slice(body_at..),
            meta,
        })
    }

    fn read_header(&self, path: &Path) -> Result<Header, LocalError> {
        let corrupt = |source| LocalError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        let mut f = File::open(path).map_err(io_err("open object", path))?;
        let mut prefix = [0u8; PREFIX_LEN];
        f.read_exact(&mut prefix)
            .map_err(|_| corrupt(FormatError::Length))?;
        let len = format::decode_prefix(&prefix).map_err(corrupt)?;
        let mut json = vec![0u8; len];
        f.read_exact(&mut json)
            .map_err(|_| corrupt(FormatError::Length))?;
        let header = format::decode_header(&json).map_err(corrupt)?;
        let file_len = f.metadata().map_err(io_err("stat object", path))?.len();
        if file_len != (PREFIX_LEN + len) as u64 + header.size {
            return Err(corrupt(FormatError::Length));
        }
        Ok(header)
    }

    fn meta_from(&self, key: &str, path: &Path, header: Header) -> Result<ObjectMeta, LocalError> {
        if header.key != key {
            return Err(LocalError::WrongKey {
                path: path.to_path_buf(),
                found: header.key,
            });
        }
        Ok(ObjectMeta {
            key: header.key,
            size: header.size,
            etag: Some(header.etag),
            last_modified: time_from_ns(header.last_modified_unix_ns),
            content_type: header.content_type,
            user_metadata: header.user_metadata,
        })
    }

    fn delete(&self, dirs: &Path, file: &str) -> Result<(), LocalError> {
        let dir = self.root.join(dirs);
        let target = dir.join(file);
        match fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("remove object", &target)(e)),
        }
        sync_dir(&dir)?;
        // Remove directories the delete emptied, bottom up; stop at the first non-empty one.
        let mut dir = dir.as_path();
        while dir != self.root && dir.starts_with(&self.root) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
            let Some(parent) = dir.parent() else { break };
            sync_dir(parent)?;
            dir = parent;
        }
        Ok(())
    }

    /// Lists in byte order: a depth-first walk that visits each directory's entries sorted by
    /// the key text they contribute, pruning subtrees outside `prefix` or at/before `marker`.
    fn list(&self, prefix: &str, marker: Option<&str>, max: usize) -> Result<ListPage, LocalError> {
        let mut walk = Walk {
            prefix,
            marker,
            limit: max + 1,
            out: Vec::new(),
        };
        walk.dir(self, &self.root, "")?;
        let mut entries = walk.out;
        let is_truncated = entries.len() > max;
        entries.truncate(max);
        let next_marker = is_truncated
            .then(|| entries.last().map(|e| e.key.clone()))
            .flatten();
        Ok(ListPage {
            entries,
            is_truncated,
            next_marker,
        })
    }
}

fn time_from_ns(ns: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn now_ns() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

struct Walk<'a> {
    prefix: &'a str,
    marker: Option<&'a str>,
    limit: usize,
    out: Vec<ListEntry>,
}

impl Walk<'_> {
    /// Visits `dir`, whose keys all start with `base` (empty or ending in `/`).
    fn dir(&mut self, inner: &Inner, dir: &Path, base: &str) -> Result<(), LocalError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            // Removed by a concurrent delete after its parent was read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("read directory", dir)(e)),
        };
        let mut children: Vec<(String, bool, std::ffi::OsString)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read directory", dir))?;
            let os_name = entry.file_name();
            let Some(name) = os_name.to_str() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_symlink() {
                continue;
            }
            let (contributed, is_dir) = match names::classify(name, file_type.is_dir()) {
                Some(Entry::Object(seg)) => (format!("{base}{seg}"), false),
                Some(Entry::Dir(seg)) => (format!("{base}{seg}/"), true),
                None => continue,
            };
            if self.wanted(&contributed, is_dir) {
                children.push((contributed, is_dir, os_name));
            }
        }
        children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (contributed, is_dir, os_name) in children {
            if self.out.len() >= self.limit {
                return Ok(());
            }
            let path = dir.join(&os_name);
            if is_dir {
                self.dir(inner, &path, &contributed)?;
                continue;
            }
            let header = match inner.read_header(&path) {
                Ok(h) => h,
                // Deleted since the directory was read.
                Err(LocalError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let meta = inner.meta_from(&contributed, &path, header)?;
            self.out.push(ListEntry {
                key: meta.key,
                size: meta.size,
                etag: meta.etag,
                last_modified: meta.last_modified,
            });
        }
        Ok(())
    }

    /// Whether an entry contributing `c` can hold keys in the listing.
    fn wanted(&self, c: &str, is_dir: bool) -> bool {
        let prefix_ok = c.starts_with(self.prefix) || (is_dir && self.prefix.starts_with(c));
        let marker_ok = match self.marker {
            None => true,
            // Every key below `c` starts with `c`: they are all <= marker exactly when `c` sorts
            // before the marker and is not a prefix of it.
            Some(m) if is_dir => c > m || m.starts_with(c),
            Some(m) => c > m,
        };
        prefix_ok && marker_ok
    }
}

impl Bucket for LocalBucket {
    fn name(&self) -> &str {
        &self.inner.name
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
        Box::pin(async move {
            let user_metadata = check_put(key, &opts)?;
            let (dirs, file) = self.layout(key)?;
            let sse = match opts.sse {
                Sse::None => SseRecord::None,
                Sse::S3 => SseRecord::S3,
                Sse::Kms { key_id } => SseRecord::Kms { key_id },
            };
            let mut header = Header {
                key: key.to_owned(),
                size: bytes.len() as u64,
                etag: String::new(),
                last_modified_unix_ns: 0,
                content_type: opts.content_type,
                user_metadata,
                sse,
            };
            let mode = opts.mode;
            let etag = self
                .blocking(Op::Put, key, move |inner| {
                    header.etag = md5_hex(&bytes);
                    header.last_modified_unix_ns = now_ns();
                    let head = format::encode_header(&header).map_err(LocalError::Encode)?;
                    inner.put(&dirs, &file, mode, &head, &bytes)?;
                    Ok(header.etag)
                })
                .await?;
            Ok(PutResult { etag: Some(etag) })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Object>> {
        Box::pin(async move {
            let (dirs, file) = self.layout(key)?;
            let owned = key.to_owned();
            self.blocking(Op::Get, key, move |inner| {
                inner.read_file(&owned, &inner.root.join(dirs).join(file))
            })
            .await
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let (dirs, file) = self.layout(key)?;
            let owned = key.to_owned();
            self.blocking(Op::Head, key, move |inner| {
                let path = inner.root.join(dirs).join(file);
                let header = inner.read_header(&path)?;
                inner.meta_from(&owned, &path, header)
            })
            .await
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<ListPage>> {
        Box::pin(async move {
            let max = clamp_max(max);
            let prefix_owned = prefix.to_owned();
            let marker_owned = marker.map(str::to_owned);
            self.blocking(Op::List, prefix, move |inner| {
                inner.list(&prefix_owned, marker_owned.as_deref(), max)
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (dirs, file) = self.layout(key)?;
            self.blocking(Op::Delete, key, move |inner| inner.delete(&dirs, &file))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in ["abc", "my-trail-logs", "a.b.c", "0bucket9"] {
            assert!(validate_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn io_errors_are_classified() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            io_class(Op::Get, &e(io::ErrorKind::NotFound)),
            ErrorClass::NotFound
        );
        assert_eq!(
            io_class(Op::Put, &e(io::ErrorKind::NotFound)),
            ErrorClass::Internal
        );
        assert_eq!(
            io_class(Op::Put, &e(io::ErrorKind::StorageFull)),
            ErrorClass::Transient
        );
        assert_eq!(
            io_class(Op::List, &e(io::ErrorKind::PermissionDenied)),
            ErrorClass::Unauthorized
        );
    }

    fn walk<'a>(prefix: &'a str, marker: Option<&'a str>) -> Walk<'a> {
        Walk {
            prefix,
            marker,
            limit: 10,
            out: Vec::new(),
        }
    }

    #[test]
    fn pruning_rules() {
        // Prefix "a/b": directory "a/" must be entered, directory "b/" skipped.
        let w = walk("a/b", None);
        assert!(w.wanted("a/", true));
        assert!(!w.wanted("b/", true));
        assert!(!w.wanted("a", false));
        assert!(w.wanted("a/bc", false));
        // Marker "a/b": directory "a/" holds later keys; "a-" ones are all earlier.
        let w = walk("", Some("a/b"));
        assert!(w.wanted("a/", true));
        assert!(!w.wanted("a-b/", true));
        assert!(!w.wanted("a-b", false));
        assert!(w.wanted("a0", false));
        assert!(!w.wanted("a/b", false));
        assert!(w.wanted("a/b/", true));
    }
}
