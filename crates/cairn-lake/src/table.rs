//! CloudTrail log files as a DataFusion table: a streaming, parallel scan that parses only the
//! columns the query reads, unioned with the Parquet copy for the files the compactor has
//! absorbed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ReaderBuilder;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::empty::EmptyTable;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde_json::Value;

use crate::LakeError;
use crate::compact::{Manifest, SEALED_EXT};
use crate::files::{self, LogFile, Logs};
use crate::raw::{self, RawRecord};
use crate::schema::{normalize, normalize_raw, schema};
use crate::sealed::{self, LakeKey, SealedStore};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 8192;

/// Counters a running scan updates (for progress displays and query statistics).
#[derive(Debug, Default)]
pub struct Progress {
    /// Log files decoded.
    pub files: AtomicU64,
    /// Bytes of log files read (as stored, compressed).
    pub bytes: AtomicU64,
    /// Records decoded from log files.
    pub records: AtomicU64,
    /// Log files the scan will read (set when the table is registered).
    pub files_total: AtomicU64,
    /// Parquet files the scan will read.
    pub parquet_files: AtomicU64,
}

/// Converts records into record batches of [`schema`] (at most [`BATCH_ROWS`] rows each).
pub fn records_to_batches(records: &[Value]) -> Result<Vec<RecordBatch>, LakeError> {
    let schema = schema();
    let mut out = Vec::new();
    for chunk in records.chunks(BATCH_ROWS) {
        let rows: Vec<Value> = chunk.iter().map(normalize).collect();
        out.extend(encode_rows(&rows, &schema)?);
    }
    Ok(out)
}

/// One record batch of `schema` from rows already fitted to it (at most [`BATCH_ROWS`]).
fn encode_rows(rows: &[Value], schema: &SchemaRef) -> Result<Option<RecordBatch>, LakeError> {
    let err = |e: datafusion::arrow::error::ArrowError| LakeError::Decode(e.to_string());
    let mut dec = ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(err)?;
    dec.serialize(rows).map_err(err)?;
    dec.flush().map_err(err)
}

/// Converts records whose members are still unparsed into record batches of `projected` (a
/// projection of [`schema`]); only the projected members are parsed. An empty projection
/// (`count(*)`) gives batches of rows without columns.
pub fn raw_records_to_batches(
    records: &[RawRecord<'_>],
    projected: &SchemaRef,
) -> Result<Vec<RecordBatch>, LakeError> {
    let mut out = Vec::new();
    for chunk in records.chunks(BATCH_ROWS) {
        if projected.fields().is_empty() {
            let opts = RecordBatchOptions::new().with_row_count(Some(chunk.len()));
            out.push(
                RecordBatch::try_new_with_options(projected.clone(), Vec::new(), &opts)
                    .map_err(|e| LakeError::Decode(e.to_string()))?,
            );
            continue;
        }
        let rows: Vec<Value> = chunk
            .iter()
            .map(|r| normalize_raw(r, projected.fields()))
            .collect();
        out.extend(encode_rows(&rows, projected)?);
    }
    Ok(out)
}

/// Reads and decodes one log file: every column of [`schema`].
pub fn decode_file(path: &Path) -> Result<Vec<RecordBatch>, LakeError> {
    decode_file_projected(path, &schema())
}

/// Reads and decodes the columns of `projected` (a projection of [`schema`]) of one log file.
pub fn decode_file_projected(
    path: &Path,
    projected: &SchemaRef,
) -> Result<Vec<RecordBatch>, LakeError> {
    let raw = std::fs::read(path).map_err(|e| LakeError::io(path, e))?;
    decode_bytes_projected(&raw, &path.display().to_string(), projected)
}

/// Decodes the columns of `projected` of one log file's bytes (`name` names it in errors).
pub fn decode_bytes_projected(
    raw: &[u8],
    name: &str,
    projected: &SchemaRef,
) -> Result<Vec<RecordBatch>, LakeError> {
    let bad = |detail: String| LakeError::BadFile {
        path: name.to_owned(),
        detail,
    };
    let json = files::json_text(raw).map_err(bad)?;
    let records = raw::split_records(&json).map_err(bad)?;
    raw_records_to_batches(&records, projected)
}

/// The log files of a scan, in partitions of similar size, read with the query's projection:
/// a file's records are split into members and only the columns the query reads are parsed.
#[derive(Debug)]
struct LogFilesTable {
    logs: Logs,
    partitions: Vec<Vec<LogFile>>,
    progress: Arc<Progress>,
}

#[async_trait::async_trait]
impl TableProvider for LogFilesTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(p) => Arc::new(schema().project(p)?),
            None => schema(),
        };
        let parts: Vec<Arc<dyn PartitionStream>> = self
            .partitions
            .iter()
            .map(|files| {
                Arc::new(FilesPartition {
                    logs: self.logs.clone(),
                    files: files.clone(),
                    progress: self.progress.clone(),
                    schema: projected.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = StreamingTableExec::try_new(
            projected,
            parts,
            None,
            Vec::<LexOrdering>::new(),
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// One partition of a scan: a list of files read (from their directory or bucket, never
/// copied) and decoded one after the other, each on the blocking pool, so a partition holds at
/// most one file's batches in memory.
#[derive(Debug)]
struct FilesPartition {
    logs: Logs,
    files: Vec<LogFile>,
    progress: Arc<Progress>,
    /// The columns read.
    schema: SchemaRef,
}

impl PartitionStream for FilesPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let progress = self.progress.clone();
        let schema = self.schema.clone();
        let logs = self.logs.clone();
        let stream = futures::stream::iter(self.files.clone())
            .then(move |f| {
                let progress = progress.clone();
                let schema = schema.clone();
                let logs = logs.clone();
                async move {
                    let r = match logs.read(&f).await {
                        Ok(raw) => {
                            let name = logs.display(&f);
                            tokio::task::spawn_blocking(move || {
                                let batches = decode_bytes_projected(&raw, &name, &schema)?;
                                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                                progress.files.fetch_add(1, Ordering::Relaxed);
                                progress.bytes.fetch_add(f.size, Ordering::Relaxed);
                                progress.records.fetch_add(rows as u64, Ordering::Relaxed);
                                Ok::<_, LakeError>(batches)
                            })
                            .await
                        }
                        Err(e) => Ok(Err(e)),
                    };
                    match r {
                        Ok(Ok(b)) => b.into_iter().map(Ok).collect::<Vec<_>>(),
                        Ok(Err(e)) => vec![Err(DataFusionError::External(Box::new(e)))],
                        Err(e) => vec![Err(DataFusionError::External(Box::new(e)))],
                    }
                }
            })
            .flat_map(futures::stream::iter);
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Splits files into at most `n` partitions of similar total size.
fn partition_files(mut files: Vec<LogFile>, n: usize) -> Vec<Vec<LogFile>> {
    let n = n.max(1).min(files.len().max(1));
    files.sort_by(|a, b| b.size.cmp(&a.size).then(a.rel.cmp(&b.rel)));
    let mut parts: Vec<(u64, Vec<LogFile>)> = vec![(0, Vec::new()); n];
    for f in files {
        let (i, _) = parts
            .iter()
            .enumerate()
            .min_by_key(|(_, (sz, _))| *sz)
            .unwrap_or((0, &(0, Vec::new())));
        parts[i].0 += f.size;
        parts[i].1.push(f);
    }
    parts.into_iter().map(|(_, v)| v).collect()
}

/// Where a table's events are: delivered log files, and optionally the Parquet copy of them.
#[derive(Debug, Clone)]
pub struct Source {
    /// Directory searched (recursively) for log files.
    pub json_root: PathBuf,
    /// The compactor's output directory, when there is one.
    pub parquet_dir: Option<PathBuf>,
    /// The keys its files are sealed under at rest (`None`: plaintext files).
    pub keys: Option<SourceKeys>,
}

/// The keys of a source whose files are sealed at rest ([`crate::sealed`]).
#[derive(Debug, Clone)]
pub struct SourceKeys {
    /// The key of the log files.
    pub logs: LakeKey,
    /// The key of the Parquet copy.
    pub copy: LakeKey,
}

/// What a registered table reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPlan {
    /// Log files read as JSON (not yet compacted).
    pub json_files: usize,
    /// Parquet files read.
    pub parquet_files: usize,
}

/// A source whose log files are listed already (and, for a bucket, checked by the caller:
/// the scan reads exactly these files, and the Parquet copy only when it holds no others).
#[derive(Debug, Clone)]
pub struct Listed {
    /// Where the files are read from.
    pub logs: Logs,
    /// The files (as [`Logs::list`] gives them).
    pub files: Vec<LogFile>,
    /// The compactor's output directory, when there is one.
    pub parquet_dir: Option<PathBuf>,
    /// The key the copy in `parquet_dir` is sealed under (a copy of an encrypted bucket).
    pub key: Option<LakeKey>,
}

impl Listed {
    /// Lists the log files of a directory source.
    pub async fn of(source: &Source) -> Result<Listed, LakeError> {
        let logs = match &source.keys {
            Some(k) => Logs::Sealed(source.json_root.clone(), k.logs.clone()),
            None => Logs::Dir(source.json_root.clone()),
        };
        Ok(Listed {
            files: logs.list().await?,
            logs,
            parquet_dir: source.parquet_dir.clone(),
            key: source.keys.as_ref().map(|k| k.copy.clone()),
        })
    }
}

/// Builds the table of `source`: the Parquet files the manifest lists, plus the log files it
/// has not absorbed yet, read as JSON. Both halves are taken from one manifest snapshot, so
/// an event is never counted twice nor missed while the compactor runs.
pub async fn table(
    ctx: &SessionContext,
    source: &Source,
    progress: Arc<Progress>,
) -> Result<(Arc<dyn TableProvider>, ScanPlan), LakeError> {
    listed_table(ctx, Listed::of(source).await?, progress).await
}

/// [`table`] of a listed source. For a bucket, the Parquet copy is read only while every file
/// it absorbed is still listed with the same size (an object deleted or replaced since makes
/// the scan read the log files instead, until the compactor has rebuilt the copy); the copy
/// therefore never answers with an object the listing (and the caller's check) did not see.
pub async fn listed_table(
    ctx: &SessionContext,
    source: Listed,
    progress: Arc<Progress>,
) -> Result<(Arc<dyn TableProvider>, ScanPlan), LakeError> {
    let mut manifest = match &source.parquet_dir {
        Some(d) => {
            let (d, key) = (d.clone(), source.key.clone());
            // A plaintext copy under a key is an older version's: never read, rebuilt by the
            // compactor; until then the log files answer.
            files::blocking(move || Manifest::load_with(&d, key.as_ref()))
                .await?
                .unwrap_or_default()
        }
        None => Manifest::default(),
    };
    if matches!(source.logs, Logs::Bucket(_)) && !manifest.covered_by(&source.files) {
        manifest = Manifest::default();
    }
    let pending: Vec<LogFile> = source
        .files
        .into_iter()
        .filter(|f| !manifest.absorbed.contains_key(&f.rel))
        .collect();
    let parquet: Vec<String> = match (&source.parquet_dir, &source.key) {
        (Some(d), None) => manifest
            .parquet
            .iter()
            .map(|p| d.join(p).display().to_string())
            .collect(),
        (Some(d), Some(key)) if !manifest.parquet.is_empty() => {
            let url = sealed::store_url(d);
            let store = SealedStore::new(d, key.clone(), sealed::CACHE_BYTES);
            let parsed = ObjectStoreUrl::parse(&url).map_err(LakeError::exec)?;
            ctx.register_object_store(parsed.as_ref(), Arc::new(store));
            manifest
                .parquet
                .iter()
                .map(|p| format!("{url}{p}"))
                .collect()
        }
        _ => Vec::new(),
    };
    let extension = if source.key.is_some() {
        SEALED_EXT
    } else {
        ".parquet"
    };
    let plan = ScanPlan {
        json_files: pending.len(),
        parquet_files: parquet.len(),
    };
    progress
        .files_total
        .fetch_add(pending.len() as u64, Ordering::Relaxed);
    progress
        .parquet_files
        .fetch_add(parquet.len() as u64, Ordering::Relaxed);
    let target = ctx.copied_config().target_partitions();
    let json: Option<Arc<dyn TableProvider>> = if pending.is_empty() {
        None
    } else {
        let partitions: Vec<Vec<LogFile>> = partition_files(pending, target)
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        Some(Arc::new(LogFilesTable {
            logs: source.logs.clone(),
            partitions,
            progress: progress.clone(),
        }))
    };
    let schema = schema();
    let pq = if parquet.is_empty() {
        None
    } else {
        Some(
            ctx.read_parquet(
                parquet,
                ParquetReadOptions::default()
                    .schema(schema.as_ref())
                    .file_extension(extension),
            )
            .await
            .map_err(LakeError::exec)?,
        )
    };
    let provider: Arc<dyn TableProvider> = match (json, pq) {
        (None, None) => Arc::new(EmptyTable::new(schema)),
        (Some(j), None) => j,
        (None, Some(p)) => p.into_view(),
        (Some(j), Some(p)) => ctx
            .read_table(j)
            .map_err(LakeError::sql)?
            .union(p)
            .map_err(LakeError::sql)?
            .into_view(),
    };
    Ok((provider, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_balance_sizes_and_keep_every_file() {
        let files: Vec<LogFile> = (0..10)
            .map(|i| LogFile {
                rel: format!("f{i}"),
                path: PathBuf::from(format!("/x/f{i}")),
                size: 100 * (i + 1),
            })
            .collect();
        let parts = partition_files(files, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 10);
        let sizes: Vec<u64> = parts
            .iter()
            .map(|p| p.iter().map(|f| f.size).sum())
            .collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1000, "{sizes:?}");
        assert_eq!(partition_files(Vec::new(), 4).len(), 1);
    }
}

#[cfg(test)]
mod projection_tests {
    use super::*;

    fn shared_files() -> Vec<LogFile> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail");
        let files = files::list(&root).unwrap();
        assert!(
            files.len() > 10,
            "shared data missing under {}",
            root.display()
        );
        files
    }

    /// The projected reader gives exactly the columns the full parse gives, for every real
    /// record of the shared data (nested identities, JSON-text members, odd shapes).
    #[test]
    fn projected_decode_matches_the_full_parse_on_real_logs() {
        let full = schema();
        let subsets: Vec<Vec<usize>> = vec![
            (0..full.fields().len()).collect(),
            vec![1],
            vec![
                full.index_of("eventName").unwrap(),
                full.index_of("requestParameters").unwrap(),
                full.index_of("readOnly").unwrap(),
                full.index_of("eventTime").unwrap(),
            ],
            vec![full.index_of("resources").unwrap(), 1],
        ];
        let mut records = 0;
        for f in shared_files() {
            let Ok(values) = files::read_records(&f.path) else {
                assert!(decode_file(&f.path).is_err(), "{}", f.rel);
                continue;
            };
            let expected = records_to_batches(&values).unwrap();
            records += values.len();
            for p in &subsets {
                let projected = Arc::new(full.project(p).unwrap());
                let got = decode_file_projected(&f.path, &projected).unwrap();
                assert_eq!(got.len(), expected.len(), "{}", f.rel);
                for (g, e) in got.iter().zip(&expected) {
                    assert_eq!(g, &e.project(p).unwrap(), "{} {p:?}", f.rel);
                }
            }
            let counted = decode_file_projected(&f.path, &Arc::new(full.project(&[]).unwrap()))
                .unwrap()
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>();
            assert_eq!(counted, values.len(), "{}", f.rel);
        }
        assert!(records > 3000, "{records}");
    }
}
