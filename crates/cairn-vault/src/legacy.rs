//! Read-only support for the bucket directories earlier Cairn versions wrote (the retired
//! `LocalBucket` of `cairn-store`), and their one-time import into the vault.
//!
//! This is the only parser of the `CAIRNOBJ` object-file format left (ADR 0011).
//!
//! # Layout and format (version 1, frozen)
//!
//! Key `s1/.../sN` lived in the file `<root>/enc(s1)/.../enc(sN)@obj`, where `enc` keeps
//! `A-Z a-z 0-9 - _` and `.` (except as first byte) and writes every other byte as `%XX`
//! (uppercase hex). Names starting with `.` (`.cairn-tmp`, the writer's temporary files) and
//! names that do not decode canonically are not objects. Each object file is:
//!
//! ```text
//! offset  size  field
//! 0       8     magic "CAIRNOBJ"
//! 8       1     format version = 1
//! 9       1     flags = 0 (any other value is rejected)
//! 10      4     header length H, big-endian u32, at most 65536
//! 14      H     JSON header: key, size, etag (hex MD5), last_modified_unix_ns,
//!               content_type?, user_metadata?, sse ({"type": "none" | "s3" | "kms", key_id?})
//! 14+H    size  body, in clear
//! ```
//!
//! # Import
//!
//! [`import_tree`] copies every object of such a directory into a vault bucket, keeping key,
//! body (so the MD5 ETag), content type, user metadata, requested SSE and last-modified time
//! (to the millisecond, the vault's precision). Each object is one vault put-if-absent, so a
//! crash leaves every object either imported or not; a later run skips the keys the vault
//! already holds with the same ETag (no duplicates, even in a versioned bucket) and refuses,
//! with [`VaultError::ImportConflict`], a key it holds with other content. Only when every
//! object is in does the directory get renamed aside (never deleted), and one line is logged.

use std::collections::BTreeMap;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_store::{
    BoxFuture, Bucket, Error, ErrorClass, ErrorContext, ListEntry, ListPage, Object, ObjectMeta,
    Op, PutOptions, PutResult,
};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::{Result, VaultError};
use crate::model::{PutRequest, SseRequest};
use crate::vault::Vault;

const MAGIC: &[u8; 8] = b"CAIRNOBJ";
const PREFIX_LEN: usize = 14;
const MAX_HEADER_LEN: usize = 64 * 1024;
const OBJECT_SUFFIX: &str = "@obj";
/// The old writer's temporary directory: its presence marks a bucket directory.
const TMP_DIR: &str = ".cairn-tmp";

/// Server-side encryption an old object was put with (recorded, never applied).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum LegacySse {
    /// None requested.
    None,
    /// SSE-S3.
    S3,
    /// SSE-KMS under `key_id`.
    Kms {
        /// KMS key id, ARN or alias.
        key_id: String,
    },
}

#[derive(Debug, Deserialize)]
struct Header {
    key: String,
    size: u64,
    etag: String,
    last_modified_unix_ns: i64,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    user_metadata: BTreeMap<String, String>,
    sse: LegacySse,
}

/// One object read from an old bucket directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyObject {
    /// Key, size, ETag, last-modified, content type and user metadata.
    pub meta: ObjectMeta,
    /// The SSE requested when it was put.
    pub sse: LegacySse,
    /// The body.
    pub body: Bytes,
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> VaultError {
    VaultError::Corrupt(format!("old object file {}: {what}", path.display()))
}

/// Parses an object file's bytes, checking that it holds `key`.
fn decode(path: &Path, key: &str, file: Vec<u8>) -> Result<LegacyObject> {
    let (meta, sse, body_at) = decode_header(path, key, &file, file.len() as u64)?;
    Ok(LegacyObject {
        meta,
        sse,
        body: Bytes::from(file).slice(body_at..),
    })
}

/// Parses the header at the start of `head` (the first bytes of a file of `file_len` bytes),
/// checking that it holds `key` and that the body fills the rest of the file: the object's
/// metadata, its SSE request and where its body starts.
fn decode_header(
    path: &Path,
    key: &str,
    head: &[u8],
    file_len: u64,
) -> Result<(ObjectMeta, LegacySse, usize)> {
    let prefix = head
        .get(..PREFIX_LEN)
        .ok_or_else(|| corrupt(path, "too short"))?;
    if &prefix[..8] != MAGIC || prefix[8] != 1 || prefix[9] != 0 {
        return Err(corrupt(path, "not a version 1 object file"));
    }
    let len = u32::from_be_bytes([prefix[10], prefix[11], prefix[12], prefix[13]]) as usize;
    if len > MAX_HEADER_LEN {
        return Err(corrupt(path, "header too long"));
    }
    let body_at = PREFIX_LEN + len;
    let json = head
        .get(PREFIX_LEN..body_at)
        .ok_or_else(|| corrupt(path, "truncated header"))?;
    let h: Header = serde_json::from_slice(json).map_err(|e| corrupt(path, e))?;
    if file_len.checked_sub(body_at as u64) != Some(h.size) {
        return Err(corrupt(path, "length does not match the header"));
    }
    if h.key != key {
        return Err(corrupt(path, format!("holds key {:?}", h.key)));
    }
    let last_modified =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(h.last_modified_unix_ns))
            .map_err(|e| corrupt(path, e))?;
    let meta = ObjectMeta {
        key: h.key,
        size: h.size,
        etag: Some(h.etag),
        last_modified,
        content_type: h.content_type,
        user_metadata: h.user_metadata,
    };
    Ok((meta, h.sse, body_at))
}

/// The metadata of the object file at `path`, reading its header only (listing).
fn read_meta(path: &Path, key: &str) -> Result<ObjectMeta> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| VaultError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| VaultError::io(path, e))?.len();
    let mut head = Vec::with_capacity(PREFIX_LEN);
    (&mut file)
        .take(PREFIX_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| VaultError::io(path, e))?;
    if let Some(len) = head.get(10..PREFIX_LEN) {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        // Bounded by MAX_HEADER_LEN (checked when parsed); a longer claim reads no further.
        file.take(len.min(MAX_HEADER_LEN + 1) as u64)
            .read_to_end(&mut head)
            .map_err(|e| VaultError::io(path, e))?;
    }
    Ok(decode_header(path, key, &head, file_len)?.0)
}

fn kept(b: u8, first: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !first)
}

/// Decodes a file name of the old layout; `None` for foreign or non-canonical names.
fn decode_segment(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| char::from(*bytes.get(j)?).to_digit(16).map(|d| d as u8);
            let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
            let v = hi << 4 | lo;
            if kept(v, out.is_empty()) || bytes[i + 1..i + 3].iter().any(u8::is_ascii_lowercase) {
                return None; // not canonical: never escaped, or lowercase hex
            }
            out.push(v);
            i += 3;
        } else if kept(b, out.is_empty()) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(())?;
    String::from_utf8(out).ok()
}

/// Whether `dir` is a bucket directory written by an earlier version.
pub fn is_legacy_tree(dir: &Path) -> bool {
    dir.join(TMP_DIR).is_dir()
}

/// Every object of the old bucket directory `root`: (key, file), in key byte order.
pub fn scan(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    fn walk(dir: &Path, base: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| VaultError::io(dir, e))? {
            let entry = entry.map_err(|e| VaultError::io(dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| !n.starts_with('.')) else {
                continue;
            };
            let ft = entry.file_type().map_err(|e| VaultError::io(dir, e))?;
            match (name.strip_suffix(OBJECT_SUFFIX), ft.is_dir(), ft.is_file()) {
                (Some(stem), false, true) => {
                    if let Some(seg) = decode_segment(stem) {
                        out.push((format!("{base}{seg}"), entry.path()));
                    }
                }
                (None, true, _) => {
                    if let Some(seg) = decode_segment(name) {
                        walk(&entry.path(), &format!("{base}{seg}/"), out)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Reads the object `key` stored in `path` of an old bucket directory.
pub fn read_object(path: &Path, key: &str) -> Result<LegacyObject> {
    let file = std::fs::read(path).map_err(|e| VaultError::io(path, e))?;
    decode(path, key, file)
}

/// What [`import_tree`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Objects put into the vault by this run.
    pub imported: usize,
    /// Objects the vault already held (an earlier, interrupted run put them).
    pub skipped: usize,
    /// Where the old directory now is.
    pub moved_to: PathBuf,
}

/// A free name for the imported directory: `<base>.imported`, else `<base>.imported.N`.
fn aside_name(base: &Path) -> PathBuf {
    let base = format!("{}.imported", base.display());
    (1..)
        .map(|n| match n {
            1 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}.{n}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| PathBuf::from(base))
}

fn import_one(vault: &Vault, bucket: &str, key: &str, path: &Path) -> Result<bool> {
    let obj = read_object(path, key)?;
    match vault.head_object(bucket, key, None) {
        Ok(v) if Some(&v.etag) == obj.meta.etag.as_ref() && v.size == obj.meta.size => {
            return Ok(false);
        }
        Ok(_) => {
            return Err(VaultError::ImportConflict {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        Err(VaultError::NoSuchKey { .. } | VaultError::DeleteMarker { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut req = PutRequest {
        content_type: obj.meta.content_type,
        user_metadata: obj.meta.user_metadata,
        sse: match &obj.sse {
            LegacySse::None => SseRequest::BucketDefault,
            LegacySse::S3 => SseRequest::S3,
            LegacySse::Kms { key_id } => SseRequest::Kms(Some(key_id.clone())),
        },
        if_none_match: true,
        ..PutRequest::default()
    };
    let when = obj.meta.last_modified;
    match vault.put_object(bucket, key, &obj.body, &req, when) {
        // The old store never applied SSE-KMS; when the key is not usable now, the body
        // is still encrypted at rest, under SSE-S3.
        Err(e @ (VaultError::KmsUnavailable | VaultError::Kms(_))) => {
            tracing::warn!(bucket, key, error = %e, "imported under SSE-S3: the requested kms key is not usable");
            req.sse = SseRequest::S3;
            vault.put_object(bucket, key, &obj.body, &req, when)?;
        }
        other => {
            other?;
        }
    }
    Ok(true)
}

/// Imports the old bucket directory `dir` into the vault bucket `bucket` (which must exist),
/// then renames `dir` to `<moved_base>.imported` (or `.imported.N`; `moved_base` is usually
/// `dir`). `Ok(None)` when `dir` does not exist. Idempotent and crash-safe: see the module
/// docs. Blocking.
pub fn import_tree(
    vault: &Vault,
    bucket: &str,
    dir: &Path,
    moved_base: &Path,
) -> Result<Option<ImportReport>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let (mut imported, mut skipped) = (0, 0);
    for (key, path) in scan(dir)? {
        if import_one(vault, bucket, &key, &path)? {
            imported += 1;
        } else {
            skipped += 1;
        }
    }
    let moved_to = aside_name(moved_base);
    cairn_core::fs::rename_durable(dir, &moved_to).map_err(|e| VaultError::io(dir, e))?;
    tracing::info!(
        bucket,
        from = %dir.display(),
        to = %moved_to.display(),
        imported,
        skipped,
        "imported a bucket directory of an earlier version into the vault"
    );
    Ok(Some(ImportReport {
        imported,
        skipped,
        moved_to,
    }))
}

/// An old bucket directory as a read-only [`Bucket`] (for `cairn validate` over a data
/// directory the server has not imported yet). The key list is read once, at open; puts and
/// deletes fail with [`cairn_store::ErrorClass::Unauthorized`].
#[derive(Debug, Clone)]
pub struct LegacyBucket {
    name: String,
    keys: Arc<Vec<(String, PathBuf)>>,
}

impl LegacyBucket {
    /// Opens the old bucket directory `root` as bucket `name`. Blocking.
    pub fn open(name: &str, root: &Path) -> Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            keys: Arc::new(scan(root)?),
        })
    }

    fn read(&self, op: Op, key: &str) -> cairn_store::Result<LegacyObject> {
        self.with_file(op, key, read_object)
    }

    /// The metadata of `key`, from its file's header only.
    fn meta(&self, op: Op, key: &str) -> cairn_store::Result<ObjectMeta> {
        self.with_file(op, key, read_meta)
    }

    /// `f` over the file of `key`, with the store's error for a missing or corrupt one.
    fn with_file<T>(
        &self,
        op: Op,
        key: &str,
        f: impl FnOnce(&Path, &str) -> Result<T>,
    ) -> cairn_store::Result<T> {
        cairn_store::validate_key(key)?;
        let ctx = ErrorContext::new(BACKEND, &self.name, op, key);
        match self
            .keys
            .binary_search_by(|(k, _)| k.as_bytes().cmp(key.as_bytes()))
        {
            Ok(idx) => f(&self.keys[idx].1, key).map_err(|e| ctx.error(ErrorClass::Corrupt, e)),
            Err(_) => Err(ctx.error(ErrorClass::NotFound, "no such key")),
        }
    }

    fn read_only(&self, op: Op, key: &str) -> Error {
        let source = io::Error::new(
            io::ErrorKind::ReadOnlyFilesystem,
            "a bucket directory of an earlier version is read-only",
        );
        ErrorContext::new(BACKEND, &self.name, op, key).error(ErrorClass::Unauthorized, source)
    }
}

const BACKEND: &str = "legacy";

impl Bucket for LegacyBucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        _bytes: Bytes,
        _opts: PutOptions,
    ) -> BoxFuture<'a, cairn_store::Result<PutResult>> {
        Box::pin(async move { Err(self.read_only(Op::Put, key)) })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<Object>> {
        Box::pin(async move {
            let o = self.read(Op::Get, key)?;
            Ok(Object {
                bytes: o.body,
                meta: o.meta,
            })
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<ObjectMeta>> {
        Box::pin(async move { self.meta(Op::Head, key) })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, cairn_store::Result<ListPage>> {
        Box::pin(async move {
            let range = cairn_store::list_range(prefix, marker);
            let start = self
                .keys
                .partition_point(|(k, _)| !RangeBounds::<str>::contains(&range, k.as_str()));
            let objects = self.keys[start..].iter().map(|(k, v)| (k.as_str(), v));
            ListPage::from_sorted(objects, prefix, max, |key, _| {
                self.meta(Op::List, key).map(|m| ListEntry::from(&m))
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<()>> {
        Box::pin(async move { Err(self.read_only(Op::Delete, key)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_canonically() {
        for (enc, seg) in [
            ("a", "a"),
            ("x.json.gz", "x.json.gz"),
            ("%2Ehidden", ".hidden"),
            ("a%252F", "a%2F"),
            ("%C3%A9", "é"),
            ("a%20b%2Bc%3Dd", "a b+c=d"),
        ] {
            assert_eq!(decode_segment(enc).as_deref(), Some(seg), "{enc}");
        }
        for name in ["%61", "%2e", "a%2", "a%ZZ", "a b", ".x", "%FF", "", "a@b"] {
            assert_eq!(decode_segment(name), None, "{name}");
        }
    }

    fn file(key: &str, body: &[u8], size: u64) -> Vec<u8> {
        let json = format!(
            r#"{{"key":"{key}","size":{size},"etag":"e","last_modified_unix_ns":0,"sse":{{"type":"none"}},"future":1}}"#
        );
        let mut out = b"CAIRNOBJ\x01\x00".to_vec();
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn decodes_and_rejects_damage() {
        let p = Path::new("x@obj");
        let o = decode(p, "k", file("k", b"abc", 3)).unwrap();
        assert_eq!(&o.body[..], b"abc");
        assert_eq!(o.sse, LegacySse::None);
        assert!(decode(p, "other", file("k", b"abc", 3)).is_err());
        assert!(decode(p, "k", file("k", b"abc", 4)).is_err());
        let mut v = file("k", b"abc", 3);
        v[8] = 2;
        assert!(decode(p, "k", v).is_err());
        let mut f = file("k", b"abc", 3);
        f[9] = 1;
        assert!(decode(p, "k", f).is_err());
        assert!(decode(p, "k", b"CAIRN".to_vec()).is_err());
    }
}
