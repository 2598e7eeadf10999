//! SQL over CloudTrail events, with DataFusion.
//!
//! A *source* is a directory of delivered CloudTrail log files (an event data store's
//! directory, a copy of an AWS bucket) or a bucket read through [`cairn_store::Bucket`]
//! ([`Logs::Bucket`]: objects are fetched while the query runs, never copied to disk), and
//! optionally the Parquet copy the [`compact::Compactor`] keeps of it. [`Lake::register`] makes
//! a directory a table, [`Lake::register_listed`] the union of sources whose files a caller
//! has listed (and checked) first; [`Lake::sql`] plans a statement (errors carry the parser's
//! line and column) and [`Lake::collect`] runs it.
//!
//! * Schema: [`schema`] documents the columns. Identifiers are case-sensitive (CloudTrail's
//!   camelCase names work unquoted); nested members are reached as `userIdentity.arn`.
//! * `json_get(requestParameters, 'bucketName')` reads members of the JSON-text columns.
//! * Scans stream: files are decoded on the blocking pool, one at a time per partition, in as
//!   many partitions as the session's `target_partitions` (bounded memory). Only the columns
//!   a query reads are parsed ([`raw`] splits records into members left as unparsed text).
//! * The Parquet copy and the log files it has not absorbed yet are read together from one
//!   manifest snapshot, so answers are the same before, during and after compaction.
//! * The copy of an encrypted bucket is sealed at rest ([`sealed`]): its files are unsealed in
//!   memory while a query reads them, never written to disk in plaintext.
//!
//! ```no_run
//! # async fn f() -> Result<(), cairn_lake::LakeError> {
//! let lake = cairn_lake::Lake::new(2);
//! let source = cairn_lake::Source { json_root: "logs".into(), parquet_dir: None, keys: None };
//! lake.register("events", &source).await?;
//! let (_schema, batches) = lake.run("SELECT eventName, count(*) FROM events GROUP BY 1").await?;
//! # Ok(()) }
//! ```

pub mod compact;
pub mod files;
pub mod layout;
pub mod raw;
pub mod refs;
pub mod schema;
pub mod sealed;
pub mod table;
pub mod udf;

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

pub use compact::{CompactStats, Compactor, Manifest};
pub use files::Logs;
pub use sealed::{LakeKey, SealedStore};
pub use table::{Listed, Progress, ScanPlan, Source, SourceKeys};

/// Re-exported for callers that format results.
pub use datafusion::arrow;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not a CloudTrail log file (or manifest) this crate can read.
    #[error("{path}: {detail}")]
    BadFile {
        /// Path.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Records could not be converted to Arrow.
    #[error("decoding records: {0}")]
    Decode(String),
    /// Writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(String),
    /// The statement does not parse or plan (the engine's message, with its position).
    #[error("{0}")]
    Sql(String),
    /// The query failed while running.
    #[error("{0}")]
    Execution(String),
    /// A key could not be derived, or a file could not be sealed.
    #[error("sealing: {0}")]
    Seal(String),
    /// A bucket could not be listed or read.
    #[error(transparent)]
    Bucket(#[from] cairn_store::Error),
}

impl LakeError {
    /// An I/O error at `path`.
    pub fn io(path: &Path, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn sql(e: DataFusionError) -> LakeError {
        LakeError::Sql(e.to_string())
    }

    pub(crate) fn exec(e: DataFusionError) -> LakeError {
        LakeError::Execution(e.to_string())
    }
}

/// A SQL session with CloudTrail tables.
#[derive(Clone)]
pub struct Lake {
    ctx: SessionContext,
    progress: Arc<Progress>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lake")
    }
}

impl Lake {
    /// A session running scans in `partitions` parallel partitions.
    pub fn new(partitions: usize) -> Lake {
        let mut config = SessionConfig::new()
            .with_target_partitions(partitions.max(1))
            .with_information_schema(true);
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(udf::json_get_udf());
        Lake {
            ctx,
            progress: Arc::new(Progress::default()),
        }
    }

    /// The scan counters of this session's tables.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Registers `source` as the table `name` (case-sensitive; replaces a table of that name).
    pub async fn register(&self, name: &str, source: &Source) -> Result<ScanPlan, LakeError> {
        let (provider, plan) = table::table(&self.ctx, source, self.progress.clone()).await?;
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, provider)
            .map_err(LakeError::sql)?;
        Ok(plan)
    }

    /// Registers the union of `sources` as the table `name`.
    pub async fn register_many(
        &self,
        name: &str,
        sources: &[Source],
    ) -> Result<ScanPlan, LakeError> {
        let mut listed = Vec::with_capacity(sources.len());
        for s in sources {
            listed.push(Listed::of(s).await?);
        }
        self.register_listed(name, listed).await
    }

    /// Registers the union of sources already listed as the table `name`: how a caller that
    /// must check each file first (the server, reading buckets as the caller) registers them.
    /// Bucket objects are read through the bucket while the query runs; nothing is copied.
    pub async fn register_listed(
        &self,
        name: &str,
        sources: Vec<Listed>,
    ) -> Result<ScanPlan, LakeError> {
        let mut plan = ScanPlan::default();
        let mut df: Option<DataFrame> = None;
        for s in sources {
            let (provider, p) = table::listed_table(&self.ctx, s, self.progress.clone()).await?;
            plan.json_files += p.json_files;
            plan.parquet_files += p.parquet_files;
            let d = self.ctx.read_table(provider).map_err(LakeError::sql)?;
            df = Some(match df {
                None => d,
                Some(prev) => prev.union(d).map_err(LakeError::sql)?,
            });
        }
        let provider: Arc<dyn datafusion::catalog::TableProvider> = match df {
            Some(d) => d.into_view(),
            None => Arc::new(datafusion::datasource::empty::EmptyTable::new(
                schema::schema(),
            )),
        };
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, provider)
            .map_err(LakeError::sql)?;
        Ok(plan)
    }

    /// Parses and plans `statement`. Parse errors name the line and column.
    /// Only queries are accepted: no DDL (`CREATE`, `COPY`), DML or `SET` statements.
    pub async fn sql(&self, statement: &str) -> Result<DataFrame, LakeError> {
        let options = datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        self.ctx
            .sql_with_options(statement, options)
            .await
            .map_err(LakeError::sql)
    }

    /// The names of the tables `statement` reads (the last part of each reference, without
    /// catalog or schema; common table expressions are not tables), before any is registered:
    /// what a caller must be allowed to read before the tables are set up.
    pub fn table_names(&self, statement: &str) -> Result<Vec<String>, LakeError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let parsed = state
            .sql_to_statement(statement, &dialect)
            .map_err(LakeError::sql)?;
        let refs = state
            .resolve_table_references(&parsed)
            .map_err(LakeError::sql)?;
        let mut names: Vec<String> = refs.iter().map(|r| r.table().to_owned()).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Keeps only the rows of table `name` whose `eventTime` is at or after `since_micros`
    /// (microseconds since the epoch): an event data store's retention period.
    pub async fn retain_since(&self, name: &str, since_micros: i64) -> Result<(), LakeError> {
        use datafusion::common::{Column, ScalarValue};
        use datafusion::logical_expr::{Expr, lit};
        let df = self.ctx.table(name).await.map_err(LakeError::sql)?;
        let cutoff = lit(ScalarValue::TimestampMicrosecond(
            Some(since_micros),
            Some("UTC".into()),
        ));
        let df = df
            .filter(Expr::Column(Column::new_unqualified("eventTime")).gt_eq(cutoff))
            .map_err(LakeError::sql)?;
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, df.into_view())
            .map_err(LakeError::sql)?;
        Ok(())
    }

    /// Runs a planned query to completion.
    pub async fn collect(&self, df: DataFrame) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(LakeError::exec)?;
        Ok((schema, batches))
    }

    /// [`Lake::sql`] then [`Lake::collect`].
    pub async fn run(&self, statement: &str) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
        let df = self.sql(statement).await?;
        self.collect(df).await
    }
}

/// A result as text: column names, then rows of cells (null as `None`).
pub type TextRows = (Vec<String>, Vec<Vec<Option<String>>>);

/// Every value of a result rendered as text (null as `None`), with the column names: what the
/// Lake API and the CLI's CSV/JSON outputs are built from. Timestamps are RFC 3339.
pub fn rows_as_text(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<TextRows, LakeError> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| display_name(f.name()))
        .collect();
    let opts = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LakeError::Execution(e.to_string()))?;
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                    .collect(),
            );
        }
    }
    Ok((names, rows))
}

/// A result column's name as a person reads it: DataFusion names a nested member
/// `<table>.userIdentity[arn]`; this gives `userIdentity.arn`. Other names are unchanged.
pub fn display_name(name: &str) -> String {
    let Some(open) = name.find('[') else {
        return name.to_owned();
    };
    if !name.ends_with(']') || name.contains(['(', ' ']) {
        return name.to_owned();
    }
    // Drop a table qualifier before the column.
    let head = &name[..open];
    let head = head.rsplit_once('.').map_or(head, |(_, c)| c);
    let mut out = head.to_owned();
    for part in name[open..].split(']').filter(|p| !p.is_empty()) {
        out.push('.');
        out.push_str(part.trim_start_matches('[').trim_matches('"'));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn nested_member_names_read_as_paths() {
        use super::display_name;
        assert_eq!(display_name("events.userIdentity[arn]"), "userIdentity.arn");
        assert_eq!(
            display_name("0b5e2f1a-1111.userIdentity[sessionContext][attributes]"),
            "userIdentity.sessionContext.attributes"
        );
        assert_eq!(display_name("count(*)"), "count(*)");
        assert_eq!(display_name("who"), "who");
    }

    #[test]
    fn table_names_are_the_tables_read_not_ctes() {
        let lake = super::Lake::new(1);
        let names = lake
            .table_names(
                "WITH recent AS (SELECT * FROM events) SELECT * FROM recent \
                 JOIN \"0b5e2f1a-1111-2222-3333-444455556666\" ON true \
                 WHERE eventName IN (SELECT eventName FROM datafusion.public.events)",
            )
            .unwrap();
        assert_eq!(names, ["0b5e2f1a-1111-2222-3333-444455556666", "events"]);
        assert_eq!(
            lake.table_names("WITH events AS (SELECT 1 AS a) SELECT a FROM events")
                .unwrap(),
            Vec::<String>::new()
        );
        assert!(lake.table_names("SELEC 1").is_err());
    }
}
