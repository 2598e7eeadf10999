//! CloudTrail log files as a DataFusion table: a streaming, parallel scan, unioned with the
//! Parquet copy for the files the compactor has absorbed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::ReaderBuilder;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde_json::Value;

use crate::LakeError;
use crate::compact::Manifest;
use crate::files::{self, LogFile};
use crate::schema::{normalize, schema};

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
    let mut out = Vec::new();
    for chunk in records.chunks(BATCH_ROWS) {
        let mut dec = ReaderBuilder::new(schema())
            .with_batch_size(BATCH_ROWS)
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(|e| LakeError::Decode(e.to_string()))?;
        let rows: Vec<Value> = chunk.iter().map(normalize).collect();
        dec.serialize(&rows)
            .map_err(|e| LakeError::Decode(e.to_string()))?;
        if let Some(b) = dec.flush().map_err(|e| LakeError::Decode(e.to_string()))? {
            out.push(b);
        }
    }
    Ok(out)
}

/// Reads and decodes one log file.
pub fn decode_file(path: &Path) -> Result<Vec<RecordBatch>, LakeError> {
    records_to_batches(&files::read_records(path)?)
}

/// One partition of a scan: a list of files decoded one after the other, each on the blocking
/// pool, so a partition holds at most one file's batches in memory.
#[derive(Debug)]
struct FilesPartition {
    files: Vec<LogFile>,
    progress: Arc<Progress>,
}

impl PartitionStream for FilesPartition {
    fn schema(&self) -> &datafusion::arrow::datatypes::SchemaRef {
        static S: std::sync::OnceLock<datafusion::arrow::datatypes::SchemaRef> =
            std::sync::OnceLock::new();
        S.get_or_init(schema)
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let progress = self.progress.clone();
        let stream = futures::stream::iter(self.files.clone())
            .then(move |f| {
                let progress = progress.clone();
                async move {
                    let r = tokio::task::spawn_blocking(move || {
                        let batches = decode_file(&f.path)?;
                        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                        progress.files.fetch_add(1, Ordering::Relaxed);
                        progress.bytes.fetch_add(f.size, Ordering::Relaxed);
                        progress.records.fetch_add(rows as u64, Ordering::Relaxed);
                        Ok::<_, LakeError>(batches)
                    })
                    .await;
                    match r {
                        Ok(Ok(b)) => b.into_iter().map(Ok).collect::<Vec<_>>(),
                        Ok(Err(e)) => vec![Err(DataFusionError::External(Box::new(e)))],
                        Err(e) => vec![Err(DataFusionError::External(Box::new(e)))],
                    }
                }
            })
            .flat_map(futures::stream::iter);
        Box::pin(RecordBatchStreamAdapter::new(schema(), stream))
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
}

/// What a registered table reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPlan {
    /// Log files read as JSON (not yet compacted).
    pub json_files: usize,
    /// Parquet files read.
    pub parquet_files: usize,
}

/// Builds the table of `source`: the Parquet files the manifest lists, plus the log files it
/// has not absorbed yet, read as JSON. Both halves are taken from one manifest snapshot, so
/// an event is never counted twice nor missed while the compactor runs.
pub async fn table(
    ctx: &SessionContext,
    source: &Source,
    progress: Arc<Progress>,
) -> Result<(Arc<dyn TableProvider>, ScanPlan), LakeError> {
    let manifest = match &source.parquet_dir {
        Some(d) => Manifest::load(d)?,
        None => Manifest::default(),
    };
    let all = files::list(&source.json_root)?;
    let pending: Vec<LogFile> = all
        .into_iter()
        .filter(|f| !manifest.absorbed.contains_key(&f.rel))
        .collect();
    let parquet: Vec<String> = match &source.parquet_dir {
        Some(d) => manifest
            .parquet
            .iter()
            .map(|p| d.join(p).display().to_string())
            .collect(),
        None => Vec::new(),
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
        let parts: Vec<Arc<dyn PartitionStream>> = partition_files(pending, target)
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|files| {
                Arc::new(FilesPartition {
                    files,
                    progress: progress.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Some(Arc::new(
            StreamingTable::try_new(schema(), parts).map_err(LakeError::sql)?,
        ))
    };
    let schema = schema();
    let pq = if parquet.is_empty() {
        None
    } else {
        Some(
            ctx.read_parquet(
                parquet,
                ParquetReadOptions::default().schema(schema.as_ref()),
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
