//! The columnar copy: a background compactor turns delivered log files into Parquet.
//!
//! # Layout
//!
//! ```text
//! <out>/_cairn_manifest.json
//! <out>/eventday=YYYY-MM-DD/account=<recipientAccountId>/region=<awsRegion>/part-<hash>.parquet
//! ```
//!
//! A copy sealed at rest ([`Compactor::sealed`]: the copy of an encrypted bucket or of an event
//! data store) is flat instead, `<out>/part-<hash>-<n>.parquet.sealed`, every file and the
//! manifest sealed ([`crate::sealed`]); its names say nothing of the events.
//!
//! Hive-style partition directories, Snappy-compressed Parquet with the Arrow schema of
//! [`crate::schema`] (timestamps as `TIMESTAMP(MICROS, UTC)`), so DuckDB
//! (`read_parquet('<out>/**/*.parquet')`), Trino/Athena (a Hive table over `<out>`) and Spark read
//! it as they are.
//!
//! # Guarantees
//!
//! * Incremental: the manifest names every log file (by path relative to the source root)
//!   already absorbed, and the Parquet files written; a pass reads only the others.
//! * Restart-safe: a pass writes its Parquet files (temporary name, fsync, rename:
//!   `cairn_core::fs::write_atomic`), then replaces the manifest the same way. A crash before the manifest is
//!   replaced leaves Parquet files the manifest does not list; the next compactor removes them
//!   before its first pass and absorbs those log files again. Readers trust only the manifest,
//!   so they never see a half-written pass. Parquet names are derived from the absorbed
//!   files, so a repeated pass writes the same names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::Bucket;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LakeError;
use crate::files::{self, LogFile};
use crate::schema::{partition_of, schema};
use crate::sealed::{self, LakeKey};
use crate::table::records_to_batches;

/// How the files of a sealed copy end (they hold sealed Parquet, which no other tool reads).
pub const SEALED_EXT: &str = ".parquet.sealed";

/// The manifest's file name in the output directory.
pub const MANIFEST: &str = "_cairn_manifest.json";

/// What the compactor has done so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Format version (1).
    #[serde(default = "one")]
    pub version: u32,
    /// Absorbed log files: relative path → size in bytes.
    pub absorbed: BTreeMap<String, u64>,
    /// Parquet files, relative to the output directory.
    pub parquet: Vec<String>,
}

fn one() -> u32 {
    1
}

impl Manifest {
    /// Loads the manifest of a plaintext copy in `dir` (empty when there is none yet). A
    /// sealed manifest is an error: it needs [`Manifest::load_with`] and its key.
    pub fn load(dir: &Path) -> Result<Manifest, LakeError> {
        Manifest::load_with(dir, None)?.ok_or_else(|| LakeError::BadFile {
            path: dir.join(MANIFEST).display().to_string(),
            detail: "not a manifest".into(),
        })
    }

    /// Loads the manifest of the copy in `dir`, sealed under `key` when there is one (empty
    /// when there is none yet). With a key, a plaintext manifest (a copy written by a version
    /// that did not seal it) gives `None`: that copy is to be discarded, never read. Without
    /// a key, a sealed manifest is an error. A sealed manifest that fails authentication is
    /// an error.
    pub fn load_with(dir: &Path, key: Option<&LakeKey>) -> Result<Option<Manifest>, LakeError> {
        let p = dir.join(MANIFEST);
        let name = p.display().to_string();
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(Manifest {
                    version: 1,
                    ..Manifest::default()
                }));
            }
            Err(e) => return Err(LakeError::io(&p, e)),
        };
        let json = match (key, sealed::is_sealed(&bytes)) {
            (Some(k), true) => k.open(MANIFEST, &name, bytes)?,
            (Some(_), false) => return Ok(None),
            (None, true) => {
                return Err(LakeError::BadFile {
                    path: name,
                    detail: "the copy is sealed: reading it needs its key".into(),
                });
            }
            (None, false) => bytes,
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| LakeError::BadFile {
                path: name,
                detail: e.to_string(),
            })
    }

    /// Whether every file this manifest absorbed is among `files` with the same size (so the
    /// Parquet copy holds nothing that is not listed).
    pub fn covered_by(&self, files: &[LogFile]) -> bool {
        let listed: std::collections::HashMap<&str, u64> =
            files.iter().map(|f| (f.rel.as_str(), f.size)).collect();
        self.absorbed
            .iter()
            .all(|(rel, size)| listed.get(rel.as_str()) == Some(size))
    }

    fn store(&self, dir: &Path, key: Option<&LakeKey>) -> Result<(), LakeError> {
        let bytes = serde_json::to_vec(self).map_err(|e| LakeError::Decode(e.to_string()))?;
        let bytes = match key {
            Some(k) => k.seal(MANIFEST, &bytes)?,
            None => bytes,
        };
        write_atomic(&dir.join(MANIFEST), &bytes)
    }

    fn empty() -> Manifest {
        Manifest {
            version: 1,
            ..Manifest::default()
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    cairn_core::fs::write_atomic(path, bytes).map_err(|e| LakeError::io(path, e))
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Log files absorbed.
    pub files: usize,
    /// Records written.
    pub records: usize,
    /// Parquet files written.
    pub parquet_files: usize,
}

impl std::ops::AddAssign for CompactStats {
    fn add_assign(&mut self, o: Self) {
        self.files += o.files;
        self.records += o.records;
        self.parquet_files += o.parquet_files;
    }
}

/// Where a compactor reads log files.
#[derive(Debug)]
enum Input {
    /// A directory, read with `std::fs`.
    Dir(PathBuf),
    /// A bucket, read through its async API from the compactor's (blocking) thread.
    Bucket(Arc<dyn Bucket>, tokio::runtime::Handle),
    /// A directory of log files sealed under the key.
    Sealed(PathBuf, LakeKey),
}

/// Compacts the log files under a source root (or of a bucket) into Parquet under an output
/// directory. A pass is blocking work: run it on its own thread or the blocking pool.
#[derive(Debug)]
pub struct Compactor {
    input: Input,
    out: PathBuf,
    /// The key the copy is sealed under (`None`: plaintext Parquet, readable by any tool).
    key: Option<LakeKey>,
    cleaned: bool,
    /// Most log files absorbed by one pass (bounds the pass's memory).
    pub max_files_per_pass: usize,
    /// Most log-file bytes absorbed by one pass.
    pub max_bytes_per_pass: u64,
}

impl Compactor {
    /// A compactor from `source` into `out` (created on the first pass).
    pub fn new(source: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Compactor {
        Compactor::with_input(Input::Dir(source.into()), out.into())
    }

    /// A compactor of `source`'s log files into its Parquet copy (`None` when it has no
    /// copy), both sealed when the source is ([`crate::Source::keys`]).
    pub fn for_source(source: &crate::Source) -> Option<Compactor> {
        let out = source.parquet_dir.clone()?;
        Some(match &source.keys {
            None => Compactor::new(source.json_root.clone(), out),
            Some(k) => {
                Compactor::with_input(Input::Sealed(source.json_root.clone(), k.logs.clone()), out)
                    .sealed(k.copy.clone())
            }
        })
    }

    /// A compactor of the delivered log files of `bucket` ([`files::list_bucket`]) into `out`.
    /// The bucket is called on the runtime `rt`; the compactor must not run on one of its
    /// async workers (use a thread or `spawn_blocking`). An object absorbed and later deleted
    /// or replaced makes the next pass start the copy over, so the copy never keeps it.
    pub fn for_bucket(
        bucket: Arc<dyn Bucket>,
        rt: tokio::runtime::Handle,
        out: impl Into<PathBuf>,
    ) -> Compactor {
        Compactor::with_input(Input::Bucket(bucket, rt), out.into())
    }

    fn with_input(input: Input, out: PathBuf) -> Compactor {
        Compactor {
            input,
            out,
            key: None,
            cleaned: false,
            max_files_per_pass: 2000,
            max_bytes_per_pass: 64 << 20,
        }
    }

    /// Seals the copy under `key` ([`crate::sealed`]): the manifest and every Parquet file. A
    /// plaintext copy found in the output directory (written by an older version) is
    /// discarded on the first pass and rebuilt sealed.
    pub fn sealed(mut self, key: LakeKey) -> Compactor {
        self.key = Some(key);
        self
    }

    /// Removes Parquet files and temporaries the manifest does not list (left by a pass that
    /// crashed before its manifest was stored, or a discarded copy), and the directories they
    /// leave empty (a discarded plaintext copy's partition names say which accounts, regions
    /// and days it held).
    fn clean(&self, manifest: &Manifest) -> Result<(), LakeError> {
        let listed: std::collections::HashSet<&str> =
            manifest.parquet.iter().map(String::as_str).collect();
        let mut stack = vec![self.out.clone()];
        let mut dirs = Vec::new();
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p.clone());
                    stack.push(p);
                    continue;
                }
                let rel = rel_path(&self.out, &p);
                let name = rel.rsplit('/').next().unwrap_or_default();
                let copy = rel.ends_with(".parquet") || rel.ends_with(SEALED_EXT);
                let stray = (copy && !listed.contains(rel.as_str()))
                    || (rel.ends_with(".tmp") && rel != MANIFEST)
                    || (name.starts_with('.') && name.contains(".tmp-"));
                if stray {
                    std::fs::remove_file(&p).map_err(|e| LakeError::io(&p, e))?;
                }
            }
        }
        // Deepest first; a directory that is not empty stays.
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        Ok(())
    }

    /// Absorbs every pending log file (in passes). Returns what was done.
    pub fn run(&mut self) -> Result<CompactStats, LakeError> {
        let mut total = CompactStats::default();
        loop {
            let s = self.pass()?;
            if s.files == 0 {
                return Ok(total);
            }
            total += s;
        }
    }

    /// Every log file of the input.
    fn list(&self) -> Result<Vec<LogFile>, LakeError> {
        match &self.input {
            Input::Dir(root) | Input::Sealed(root, _) => files::list(root),
            Input::Bucket(b, rt) => rt.block_on(files::list_bucket(b.as_ref())),
        }
    }

    /// One pass: absorbs up to the pass limits of pending log files.
    pub fn pass(&mut self) -> Result<CompactStats, LakeError> {
        let listed = self.list()?;
        if listed.is_empty() && !self.out.exists() {
            return Ok(CompactStats::default());
        }
        std::fs::create_dir_all(&self.out).map_err(|e| LakeError::io(&self.out, e))?;
        // One compactor per output directory at a time (the server's and `cairn query
        // --compact` may meet): an exclusive lock, released when the file is closed.
        let lock_path = self.out.join(".lock");
        let lock = std::fs::File::create(&lock_path).map_err(|e| LakeError::io(&lock_path, e))?;
        lock.lock().map_err(|e| LakeError::io(&lock_path, e))?;
        let key = self.key.clone();
        let mut manifest = match Manifest::load_with(&self.out, key.as_ref())? {
            Some(m) => m,
            None => {
                tracing::warn!(
                    dir = %self.out.display(),
                    "discarding a plaintext Parquet copy written by an older version; rebuilding it sealed"
                );
                Manifest::empty().store(&self.out, key.as_ref())?;
                self.cleaned = false;
                Manifest::empty()
            }
        };
        if matches!(self.input, Input::Bucket(..)) && !manifest.covered_by(&listed) {
            // An absorbed object is gone or replaced: start the copy over.
            manifest = Manifest::empty();
            manifest.store(&self.out, key.as_ref())?;
            self.cleaned = false;
        }
        if !self.cleaned {
            self.clean(&manifest)?;
            self.cleaned = true;
        }
        let mut chunk: Vec<LogFile> = Vec::new();
        let mut bytes = 0u64;
        for f in listed {
            if manifest.absorbed.contains_key(&f.rel) {
                continue;
            }
            if !chunk.is_empty()
                && (chunk.len() >= self.max_files_per_pass
                    || bytes + f.size > self.max_bytes_per_pass)
            {
                break;
            }
            bytes += f.size;
            chunk.push(f);
        }
        if chunk.is_empty() {
            return Ok(CompactStats::default());
        }
        let mut hasher = Sha256::new();
        for f in &chunk {
            hasher.update(f.rel.as_bytes());
            hasher.update([0]);
        }
        // Files are decoded on every core; a pass holds Arrow batches (about the size of the
        // JSON), never more than one file's parsed records per thread.
        let mut groups: BTreeMap<PartitionKey, Vec<RecordBatch>> = BTreeMap::new();
        for decoded in decode_files(&self.input, &chunk)? {
            for (key, batches) in decoded {
                groups.entry(key).or_default().extend(batches);
            }
        }
        let tag = hex::encode(&hasher.finalize()[..12]);
        let mut stats = CompactStats {
            files: chunk.len(),
            ..CompactStats::default()
        };
        let mut written = Vec::new();
        for (i, ((day, account, region), batches)) in groups.iter().enumerate() {
            // A sealed copy's names say nothing of its events (no day, account or region).
            let rel = match &key {
                None => {
                    format!("eventday={day}/account={account}/region={region}/part-{tag}.parquet")
                }
                Some(_) => format!("part-{tag}-{i:05}{SEALED_EXT}"),
            };
            let seal = key.as_ref().map(|k| (k, rel.as_str()));
            write_parquet(&self.out.join(&rel), batches, seal)?;
            stats.records += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
            stats.parquet_files += 1;
            written.push(rel);
        }
        for f in &chunk {
            manifest.absorbed.insert(f.rel.clone(), f.size);
        }
        for rel in written {
            if !manifest.parquet.contains(&rel) {
                manifest.parquet.push(rel);
            }
        }
        manifest.store(&self.out, key.as_ref())?;
        Ok(stats)
    }
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Day, account and region of a Parquet partition.
type PartitionKey = (String, String, String);

/// One log file's records as Arrow batches, by partition.
type Decoded = Vec<(PartitionKey, Vec<RecordBatch>)>;

fn decode_one(input: &Input, f: &LogFile) -> Result<Decoded, LakeError> {
    let mut groups: BTreeMap<PartitionKey, Vec<serde_json::Value>> = BTreeMap::new();
    let records = match input {
        Input::Dir(_) => files::read_records(&f.path)?,
        Input::Sealed(_, key) => {
            let plain = files::read_sealed(key, &f.path, &f.rel)?;
            files::parse_records(&plain).map_err(|detail| LakeError::BadFile {
                path: f.path.display().to_string(),
                detail,
            })?
        }
        Input::Bucket(b, rt) => {
            let obj = rt.block_on(b.get(&f.rel))?;
            files::parse_records(&obj.bytes).map_err(|detail| LakeError::BadFile {
                path: format!("{}/{}", b.name(), f.rel),
                detail,
            })?
        }
    };
    for r in records {
        groups.entry(partition_of(&r)).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(k, records)| Ok((k, records_to_batches(&records)?)))
        .collect()
}

/// Decodes `chunk` on as many threads as there are cores; results in `chunk`'s order.
fn decode_files(input: &Input, chunk: &[LogFile]) -> Result<Vec<Decoded>, LakeError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(chunk.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Decoded, LakeError>>>> =
        chunk.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = chunk.get(i) else { return };
                    let r = decode_one(input, f);
                    let failed = r.is_err();
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                    if failed {
                        // Stop the other workers early: the pass fails anyway.
                        next.store(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    // Files are handed out in order and every file handed out is finished, so the first
    // failure comes before any file left undecoded because of it.
    let mut out = Vec::with_capacity(chunk.len());
    for slot in slots {
        match slot.into_inner() {
            Ok(Some(r)) => out.push(r?),
            _ => {
                return Err(LakeError::Decode(
                    "a log file of this pass was not decoded".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// Writes `batches` as one Parquet file (temporary name, fsync, rename), sealed as the file
/// `rel` of the copy under the key when `seal` is given.
fn write_parquet(
    path: &Path,
    batches: &[RecordBatch],
    seal: Option<(&LakeKey, &str)>,
) -> Result<(), LakeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| LakeError::io(dir, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let perr = |e: datafusion::parquet::errors::ParquetError| LakeError::Parquet(e.to_string());
    let mut w = ArrowWriter::try_new(Vec::new(), schema(), Some(props)).map_err(perr)?;
    for b in batches {
        w.write(b).map_err(perr)?;
    }
    let bytes = w.into_inner().map_err(perr)?;
    match seal {
        Some((key, rel)) => write_atomic(path, &key.seal(rel, &bytes)?),
        None => write_atomic(path, &bytes),
    }
}
