//! The lake's files sealed at rest: the Parquet copy (and its manifest) of a bucket Cairn
//! encrypts, and how DataFusion reads them (docs/adr/0012-lake-copy-sealed-at-rest.md).
//!
//! A sealed file is `CAIRNLK1 (8 bytes) || nonce || ciphertext || tag` ([`cairn_core::seal`]),
//! under a key derived from the master key for one *scope* (a bucket: `bucket/<name>`), with
//! `cairn-lake/v1 \0 <scope> \0 <path relative to the copy's directory>` as associated data: a
//! file altered, truncated, renamed within its copy or moved to another bucket's copy fails
//! authentication, and the query fails with it (never a silent partial answer).
//!
//! DataFusion reads the sealed Parquet files through [`SealedStore`], an
//! [`ObjectStore`] that unseals a whole file in memory on first touch and serves the byte
//! ranges the Parquet reader asks for from a bounded cache keyed by path and sealed size.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_core::seal::SealKey;
use cairn_core::secrets::MasterKey;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{
    self, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::LakeError;

/// The HKDF purpose (info prefix) of the lake's keys; the scope follows it. Never change it:
/// sealed copies would become unreadable (they are rebuilt, but only from the logs).
pub const PURPOSE: &str = "cairn/lake/v1";

/// The first bytes of every sealed lake file.
pub const MAGIC: &[u8; 8] = b"CAIRNLK1";

/// Bytes a sealed file adds to its plaintext.
pub const OVERHEAD: usize = MAGIC.len() + cairn_core::seal::OVERHEAD;

/// The key of one scope's sealed files. Cheap to clone; `Debug` shows only the scope.
#[derive(Clone)]
pub struct LakeKey {
    key: SealKey,
    scope: Arc<str>,
}

impl std::fmt::Debug for LakeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LakeKey({}, <redacted>)", self.scope)
    }
}

impl LakeKey {
    /// The key of the Parquet copy of the bucket `bucket`.
    pub fn for_bucket(master: &MasterKey, bucket: &str) -> Result<LakeKey, LakeError> {
        LakeKey::derive(master, &format!("bucket/{bucket}"))
    }

    /// The key of `scope`, derived from the master key (HKDF-SHA256, info
    /// `cairn/lake/v1/<scope>`).
    pub fn derive(master: &MasterKey, scope: &str) -> Result<LakeKey, LakeError> {
        let secret = master
            .derive(&format!("{PURPOSE}/{scope}"))
            .map_err(|e| LakeError::Seal(e.to_string()))?;
        let key = SealKey::new(&secret).map_err(|e| LakeError::Seal(e.to_string()))?;
        Ok(LakeKey {
            key,
            scope: scope.into(),
        })
    }

    /// The scope this key seals (e.g. `bucket/trail`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn aad(&self, rel: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + self.scope.len() + rel.len());
        aad.extend_from_slice(b"cairn-lake/v1\0");
        aad.extend_from_slice(self.scope.as_bytes());
        aad.push(0);
        aad.extend_from_slice(rel.as_bytes());
        aad
    }

    /// `plain` sealed as the file `rel` (relative to its copy's directory) of this scope.
    pub fn seal(&self, rel: &str, plain: &[u8]) -> Result<Vec<u8>, LakeError> {
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.extend_from_slice(MAGIC);
        self.key
            .seal_into(&self.aad(rel), plain, &mut out)
            .map_err(|e| LakeError::Seal(e.to_string()))?;
        Ok(out)
    }

    /// The plaintext of the sealed file `rel` (`name` names it in errors). A file that is not
    /// sealed, or fails authentication (altered, truncated, renamed, another scope's), is a
    /// [`LakeError::BadFile`].
    pub fn open(&self, rel: &str, name: &str, mut sealed: Vec<u8>) -> Result<Vec<u8>, LakeError> {
        if !is_sealed(&sealed) {
            return Err(LakeError::BadFile {
                path: name.to_owned(),
                detail: "not a sealed lake file".into(),
            });
        }
        sealed.drain(..MAGIC.len());
        self.key
            .open_vec(&self.aad(rel), sealed)
            .map_err(|_| LakeError::BadFile {
                path: name.to_owned(),
                detail: format!(
                    "sealed file fails authentication (altered, moved, or not of {})",
                    self.scope
                ),
            })
    }
}

/// Whether `bytes` start like a sealed lake file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The URL scheme under which sealed copies are registered with DataFusion.
pub const SCHEME: &str = "cairn-sealed";

/// Most plaintext bytes a [`SealedStore`] keeps unsealed in memory.
pub const CACHE_BYTES: usize = 256 << 20;

/// Unsealed files, oldest first, bounded by total size.
#[derive(Debug, Default)]
struct Cache {
    files: HashMap<(String, u64), Bytes>,
    order: VecDeque<(String, u64)>,
    bytes: usize,
}

impl Cache {
    fn get(&self, key: &(String, u64)) -> Option<Bytes> {
        self.files.get(key).cloned()
    }

    fn insert(&mut self, key: (String, u64), data: Bytes, limit: usize) {
        if data.len() > limit || self.files.contains_key(&key) {
            return;
        }
        while self.bytes + data.len() > limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.files.remove(&old) {
                self.bytes -= d.len();
            }
        }
        self.bytes += data.len();
        self.order.push_back(key.clone());
        self.files.insert(key, data);
    }
}

/// A read-only [`ObjectStore`] over a directory of sealed files: `get` and `head` answer with
/// the plaintext (and its size), unsealed whole in memory and cached (by path and sealed
/// size, at most `limit` bytes). Writes, copies, deletes and listings are not supported: the
/// compactor writes the files, and readers name them from the manifest.
#[derive(Debug)]
pub struct SealedStore {
    root: PathBuf,
    key: LakeKey,
    cache: Mutex<Cache>,
    limit: usize,
}

impl std::fmt::Display for SealedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedStore({})", self.root.display())
    }
}

fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "SealedStore",
        source: Box::new(e),
    }
}

fn not_supported(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("{what}: the sealed lake copy is read-only").into(),
    }
}

impl SealedStore {
    /// A store reading the sealed files under `root` with `key`, caching at most `limit`
    /// unsealed bytes.
    pub fn new(root: impl Into<PathBuf>, key: LakeKey, limit: usize) -> SealedStore {
        SealedStore {
            root: root.into(),
            key,
            cache: Mutex::new(Cache::default()),
            limit,
        }
    }

    /// The plaintext of `location`, with its object metadata.
    async fn unsealed(&self, location: &ObjectPath) -> object_store::Result<(Bytes, ObjectMeta)> {
        let rel = location.as_ref().to_owned();
        let path = self.root.join(rel.split('/').collect::<PathBuf>());
        let p = path.clone();
        let (sealed_len, modified) = tokio::task::spawn_blocking(move || {
            std::fs::metadata(&p).map(|m| (m.len(), m.modified().ok()))
        })
        .await
        .map_err(store_error)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => object_store::Error::NotFound {
                path: rel.clone(),
                source: Box::new(e),
            },
            _ => store_error(e),
        })?;
        let meta = |size: usize| ObjectMeta {
            location: location.clone(),
            last_modified: modified.map(Into::into).unwrap_or_default(),
            size: size as u64,
            e_tag: Some(format!("sealed-{sealed_len}")),
            version: None,
        };
        let key = (rel.clone(), sealed_len);
        if let Some(hit) = self.lock().get(&key) {
            let m = meta(hit.len());
            return Ok((hit, m));
        }
        let lake_key = self.key.clone();
        let plain = tokio::task::spawn_blocking(move || {
            let raw = std::fs::read(&path).map_err(|e| LakeError::io(&path, e))?;
            lake_key.open(&rel, &path.display().to_string(), raw)
        })
        .await
        .map_err(store_error)?
        .map_err(store_error)?;
        let plain = Bytes::from(plain);
        self.lock().insert(key, plain.clone(), self.limit);
        let m = meta(plain.len());
        Ok((plain, m))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plaintext bytes held in the cache now.
    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[async_trait::async_trait]
impl ObjectStore for SealedStore {
    async fn put_opts(
        &self,
        _location: &ObjectPath,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(not_supported("put"))
    }

    async fn put_multipart_opts(
        &self,
        _location: &ObjectPath,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(not_supported("put"))
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (data, meta) = self.unsealed(location).await?;
        options.check_preconditions(&meta)?;
        let range: Range<u64> = match &options.range {
            Some(r) => r
                .as_range(meta.size)
                .map_err(|e| object_store::Error::Generic {
                    store: "SealedStore",
                    source: Box::new(e),
                })?,
            None => 0..meta.size,
        };
        let body = if options.head {
            Bytes::new()
        } else {
            data.slice(range.start as usize..range.end as usize)
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(
                futures::stream::once(async move { Ok(body) }).boxed(),
            ),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let (data, meta) = self.unsealed(location).await?;
        ranges
            .iter()
            .map(|r| {
                if r.start > r.end || r.end > meta.size {
                    return Err(store_error(LakeError::BadFile {
                        path: location.to_string(),
                        detail: format!("range {r:?} outside {} bytes", meta.size),
                    }));
                }
                Ok(data.slice(r.start as usize..r.end as usize))
            })
            .collect()
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        locations.map(|_| Err(not_supported("delete"))).boxed()
    }

    fn list(
        &self,
        _prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        futures::stream::once(async { Err(not_supported("list")) }).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        Err(not_supported("list"))
    }

    async fn copy_opts(
        &self,
        _from: &ObjectPath,
        _to: &ObjectPath,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(not_supported("copy"))
    }
}

/// The URL (`cairn-sealed://<id>/`) a sealed copy in `dir` is registered under: one per
/// directory, so each copy is read with its own key.
pub fn store_url(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let id = hex::encode(&Sha256::digest(dir.display().to_string().as_bytes())[..12]);
    format!("{SCHEME}://{id}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::{GetRange, ObjectStoreExt};

    fn master(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn sealed_files_bind_scope_path_and_key() {
        let k = LakeKey::for_bucket(&master(1), "trail").unwrap();
        let s = k.seal("part-1.parquet", b"PAR1 alice PAR1").unwrap();
        assert!(is_sealed(&s));
        assert_eq!(s.len(), 15 + OVERHEAD);
        assert!(!s.windows(5).any(|w| w == b"alice"));
        assert_eq!(
            k.open("part-1.parquet", "x", s.clone()).unwrap(),
            b"PAR1 alice PAR1"
        );
        // Renamed within the copy, moved to another bucket's copy, other master key.
        assert!(k.open("part-2.parquet", "x", s.clone()).is_err());
        let other = LakeKey::for_bucket(&master(1), "other").unwrap();
        assert!(other.open("part-1.parquet", "x", s.clone()).is_err());
        let wrong = LakeKey::for_bucket(&master(2), "trail").unwrap();
        assert!(wrong.open("part-1.parquet", "x", s.clone()).is_err());
        let mut bad = s.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(k.open("part-1.parquet", "x", bad).is_err());
        assert!(k.open("part-1.parquet", "x", b"PAR1...".to_vec()).is_err());
        assert!(
            k.open("part-1.parquet", "x", s[..OVERHEAD - 1].to_vec())
                .is_err()
        );
        assert_eq!(format!("{k:?}"), "LakeKey(bucket/trail, <redacted>)");
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_oldest() {
        let mut c = Cache::default();
        c.insert(("a".into(), 1), Bytes::from(vec![0; 40]), 100);
        c.insert(("b".into(), 1), Bytes::from(vec![0; 40]), 100);
        c.insert(("c".into(), 1), Bytes::from(vec![0; 40]), 100);
        assert_eq!(c.bytes, 80);
        assert!(c.get(&("a".into(), 1)).is_none());
        assert!(c.get(&("c".into(), 1)).is_some());
        c.insert(("huge".into(), 1), Bytes::from(vec![0; 101]), 100);
        assert!(c.get(&("huge".into(), 1)).is_none());
        assert_eq!(c.bytes, 80);
    }

    #[tokio::test]
    async fn the_store_serves_plaintext_ranges_and_refuses_tampered_files() {
        let dir = tempfile::tempdir().unwrap();
        let k = LakeKey::for_bucket(&master(1), "trail").unwrap();
        let plain: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), k.seal("d/f", &plain).unwrap()).unwrap();
        let store = SealedStore::new(dir.path(), k.clone(), 1 << 20);
        let loc = ObjectPath::from("d/f");
        assert_eq!(store.head(&loc).await.unwrap().size, 1000);
        assert_eq!(
            store.get_range(&loc, 10..20).await.unwrap().as_ref(),
            &plain[10..20]
        );
        let opts = GetOptions {
            range: Some(GetRange::Suffix(8)),
            ..GetOptions::default()
        };
        let r = store.get_opts(&loc, opts).await.unwrap();
        assert_eq!(r.range, 992..1000);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &plain[992..]);
        let got = store.get_ranges(&loc, &[0..4, 996..1000]).await.unwrap();
        assert_eq!(got[1].as_ref(), &plain[996..]);
        assert_eq!(store.cached_bytes(), 1000);
        assert!(
            store
                .get_ranges(&loc, std::slice::from_ref(&(990..1001)))
                .await
                .is_err()
        );
        // The same bytes under another name, and altered bytes, fail (not from the cache).
        std::fs::copy(dir.path().join("d/f"), dir.path().join("d/g")).unwrap();
        assert!(store.head(&ObjectPath::from("d/g")).await.is_err());
        let mut sealed = std::fs::read(dir.path().join("d/f")).unwrap();
        sealed[20] ^= 1;
        sealed.push(0);
        std::fs::write(dir.path().join("d/f"), &sealed).unwrap();
        assert!(store.get_range(&loc, 0..4).await.is_err());
        assert!(store.head(&ObjectPath::from("d/none")).await.is_err());
        assert!(store.put(&loc, PutPayload::new()).await.is_err());
    }
}
