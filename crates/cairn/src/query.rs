//! `cairn query "SELECT ..."`: SQL over CloudTrail events.
//!
//! Three ways to reach the events:
//! * `--bucket-path DIR`: the log files under DIR (a bucket copy, an `AWSLogs/...` tree or any
//!   directory of CloudTrail files), as the table `events`; `--parquet-dir` adds a Parquet copy
//!   (kept up to date with `--compact`) that answers for the files it covers.
//! * `--data-dir DIR`: a Cairn server's data directory, offline: `events` is every local
//!   bucket's log files, and each event data store is a table named by its ID.
//! * otherwise, through a running server's Lake API (StartQuery, DescribeQuery,
//!   GetQueryResults): FROM names an event data store by ID or ARN, as in CloudTrail Lake.
//!
//! A terminal gets a progress line on stderr; Ctrl-C cancels the query (remotely with
//! CancelQuery) and exits 1.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_lake::{Lake, Source};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::client::Client;

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects (offline: typed values; remote: strings, as the API returns).
    Json,
}

/// `cairn query` arguments.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The SQL statement. Column names are CloudTrail's (case-sensitive): `eventName`,
    /// `userIdentity.arn`, `json_get(requestParameters, 'bucketName')`; see docs/SQL.md.
    sql: String,
    /// Query the log files under this directory, as the table `events`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["data_dir", "endpoint_url"])]
    bucket_path: Option<PathBuf>,
    /// Parquet copy of --bucket-path's files (the files it covers are read from it).
    #[arg(long, value_name = "DIR", requires = "bucket_path")]
    parquet_dir: Option<PathBuf>,
    /// Bring the Parquet copy up to date (compact new log files) before querying: the one in
    /// --parquet-dir, or every bucket's and store's with --data-dir.
    #[arg(long)]
    compact: bool,
    /// Query a Cairn data directory offline: `events` (all local buckets) and every event
    /// data store by ID.
    #[arg(long, value_name = "DIR", conflicts_with = "endpoint_url")]
    data_dir: Option<PathBuf>,
    /// Server URL for the Lake API (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4590).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Region to sign for (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// No progress line.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `cairn query`.
pub(crate) fn run(args: &QueryArgs) -> Result<()> {
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    if args.bucket_path.is_none() && args.data_dir.is_none() {
        if args.compact {
            bail!("--compact needs --bucket-path with --parquet-dir, or --data-dir");
        }
        return remote(args, show_progress);
    }
    if args.compact && args.bucket_path.is_some() && args.parquet_dir.is_none() {
        bail!("--compact with --bucket-path needs --parquet-dir");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    rt.block_on(async {
        tokio::select! {
            r = offline(args, show_progress) => r,
            _ = tokio::signal::ctrl_c() => {
                if show_progress {
                    // Clear the progress line the dropped query leaves behind.
                    eprint!("\r\x1b[2K");
                }
                bail!("query cancelled")
            }
        }
    })
}

async fn offline(args: &QueryArgs, show_progress: bool) -> Result<()> {
    let (lake, sql) = offline_tables(args).await?;
    let df = lake.sql(&sql).await?;
    let bar = show_progress.then(|| spinner(lake.progress()));
    let result = lake.collect(df).await;
    if let Some((stop, t)) = bar {
        stop.store(true, Ordering::SeqCst);
        let _ = t.join();
    }
    let (schema, batches) = result?;
    print_offline(args.format, &schema, &batches)
}

/// The session with the offline tables registered (after `--compact`'s compaction), and the
/// statement with its store references quoted.
async fn offline_tables(args: &QueryArgs) -> Result<(Lake, String)> {
    let parts = std::thread::available_parallelism().map_or(2, |n| n.get());
    let lake = Lake::new(parts);
    if let Some(dir) = &args.bucket_path {
        if !dir.is_dir() {
            bail!("--bucket-path {} is not a directory", dir.display());
        }
        if args.compact
            && let Some(out) = &args.parquet_dir
        {
            let (src, out) = (dir.clone(), out.clone());
            tokio::task::spawn_blocking(move || cairn_lake::Compactor::new(src, out).run())
                .await
                .context("compacting")?
                .context("compacting")?;
        }
        let source = Source {
            json_root: dir.clone(),
            parquet_dir: args.parquet_dir.clone(),
            keys: None,
        };
        lake.register("events", &source).await?;
    }
    let mut sql = args.sql.clone();
    if let Some(data_dir) = &args.data_dir {
        if !data_dir.is_dir() {
            bail!("--data-dir {} is not a directory", data_dir.display());
        }
        // Local buckets are encrypted at rest: their delivered log files are read (and
        // decrypted) through the bucket while the query runs, never copied to disk; their
        // Parquet copies and the event data stores are sealed under the master key.
        let ids = cairn_lake::layout::store_ids(data_dir)?;
        let buckets = local_buckets(data_dir)?;
        let master = if buckets.is_empty() && ids.is_empty() {
            None
        } else {
            Some(Arc::new(
                cairn_server::secrets::MasterKey::load_existing(
                    data_dir,
                    std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
                )
                .context("the master key of the data directory")?,
            ))
        };
        if args.compact
            && let Some(master) = &master
        {
            compact_data_dir(data_dir, &buckets, master).await?;
        }
        let mut sources = Vec::new();
        if let Some(master) = &master {
            for (name, bucket) in buckets {
                let parquet = cairn_lake::layout::bucket_parquet_dir(data_dir, &name);
                let copy = Some((parquet, cairn_lake::LakeKey::for_bucket(master, &name)?));
                // The operator reads the data directory with its master key: no caller to
                // check.
                let listed = cairn_server::lake::checked_bucket_logs(bucket, copy, |_| Ok(()))
                    .await
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("reading bucket {name}"))?;
                sources.push(listed);
            }
            for id in &ids {
                let source = cairn_lake::layout::store_source(data_dir, id, master)?;
                lake.register(id, &source).await?;
            }
        }
        lake.register_listed("events", sources).await?;
        // Stores are named by bare ID or ARN, as in CloudTrail Lake.
        sql = cairn_lake::refs::quote_store_refs(&sql, |key, id| {
            if ids.iter().any(|i| i == id) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "event data store {key} not found in {}",
                    data_dir.display()
                ))
            }
        })?;
    }
    Ok((lake, sql))
}

fn print_offline(
    format: Format,
    schema: &cairn_lake::arrow::datatypes::SchemaRef,
    batches: &[cairn_lake::arrow::array::RecordBatch],
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let mut w = cairn_lake::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, cairn_lake::arrow::json::writer::JsonArray>(&mut out);
            let refs: Vec<&cairn_lake::arrow::array::RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            if batches.iter().all(|b| b.num_rows() == 0) {
                // The writer prints nothing for no rows.
                write!(out, "[]")?;
            }
            writeln!(out)?;
        }
        f => {
            let (names, rows) = cairn_lake::rows_as_text(schema, batches)?;
            print_rows(&mut out, f, &names, &rows)?;
        }
    }
    Ok(())
}

/// The local (vault) buckets of a data directory, by name (none without a catalog).
fn local_buckets(data_dir: &Path) -> Result<Vec<(String, Arc<dyn cairn_store::Bucket>)>> {
    if !data_dir.join("catalog.sqlite").exists() {
        return Ok(Vec::new());
    }
    let config =
        cairn_server::config::RawConfig::default().validate(&cairn_server::config::Overrides {
            listen: None,
            data_dir: Some(data_dir.to_owned()),
        })?;
    let catalog = cairn_server::catalog::Catalog::open(data_dir)?;
    let mut out = Vec::new();
    for b in catalog.buckets()? {
        let bucket = crate::buckets::open_local(&config, &b.name)?;
        out.push((b.name, bucket));
    }
    Ok(out)
}

/// `--compact --data-dir`: what the server's lake worker does, once. Seals the event data
/// stores' plaintext log files an older version left, then brings the sealed Parquet copies
/// of the stores and of the vault buckets up to date.
async fn compact_data_dir(
    data_dir: &Path,
    buckets: &[(String, Arc<dyn cairn_store::Bucket>)],
    master: &Arc<cairn_server::secrets::MasterKey>,
) -> Result<cairn_lake::CompactStats> {
    let (d, m) = (data_dir.to_owned(), master.clone());
    let buckets: Vec<Arc<dyn cairn_store::Bucket>> =
        buckets.iter().map(|(_, b)| b.clone()).collect();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        cairn_lake::layout::seal_store_logs(&d, &m)?;
        let mut stats = cairn_lake::layout::compact_stores(&d, &m)?;
        stats += cairn_lake::layout::compact_buckets(&d, &buckets, &rt, &m)?;
        Ok::<_, cairn_lake::LakeError>(stats)
    })
    .await
    .context("compacting")?
    .context("compacting")
}

/// A progress line on stderr, updated until the returned flag is set.
fn spinner(progress: Arc<cairn_lake::Progress>) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        while !s.load(Ordering::SeqCst) {
            bar.set_message(format!(
                "{}/{} log files, {} records, {} Parquet files",
                progress.files.load(Ordering::Relaxed),
                progress.files_total.load(Ordering::Relaxed),
                progress.records.load(Ordering::Relaxed),
                progress.parquet_files.load(Ordering::Relaxed),
            ));
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    });
    (stop, t)
}

fn print_rows(
    out: &mut impl Write,
    format: Format,
    names: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    match format {
        Format::Csv => {
            let line = |cells: Vec<&str>| -> String {
                cells
                    .into_iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n', '\r']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            for cells in cell_lines(names, rows) {
                writeln!(out, "{}", line(cells))?;
            }
        }
        Format::Table => {
            let mut w = vec![0; names.len()];
            for cells in cell_lines(names, rows) {
                for (i, c) in cells.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let sep: String = w
                .iter()
                .map(|n| format!("+{}", "-".repeat(n + 2)))
                .collect::<String>()
                + "+";
            let line = |cells: Vec<&str>| -> String {
                cells
                    .iter()
                    .zip(&w)
                    .map(|(c, n)| format!("| {c}{} ", " ".repeat(n - c.chars().count())))
                    .collect::<String>()
                    + "|"
            };
            writeln!(out, "{sep}")?;
            for (i, cells) in cell_lines(names, rows).enumerate() {
                writeln!(out, "{}", line(cells))?;
                if i == 0 {
                    // under the header
                    writeln!(out, "{sep}")?;
                }
            }
            writeln!(out, "{sep}")?;
            writeln!(out, "{} row(s)", rows.len())?;
        }
        Format::Json => {
            let arr: Vec<Value> = rows
                .iter()
                .map(|r| {
                    Value::Object(
                        names
                            .iter()
                            .cloned()
                            .zip(
                                r.iter()
                                    .map(|c| c.clone().map_or(Value::Null, Value::String)),
                            )
                            .collect(),
                    )
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string(&arr)?)?;
        }
    }
    Ok(())
}

/// The header, then each row, as cells (`NULL` as an empty cell): what the line formats print.
fn cell_lines<'a>(
    names: &'a [String],
    rows: &'a [Vec<Option<String>>],
) -> impl Iterator<Item = Vec<&'a str>> {
    let header = names.iter().map(String::as_str).collect::<Vec<_>>();
    std::iter::once(header).chain(
        rows.iter()
            .map(|r| r.iter().map(|c| c.as_deref().unwrap_or("")).collect()),
    )
}

const PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

/// Through the server's Lake API.
fn remote(args: &QueryArgs, show_progress: bool) -> Result<()> {
    let client = Arc::new(Client::from_env(
        "CLOUDTRAIL",
        args.endpoint_url.clone(),
        args.region.clone(),
    )?);
    let started = client.call_json(
        "cloudtrail",
        PREFIX,
        "StartQuery",
        &json!({"QueryStatement": args.sql}),
    )?;
    let Some(id) = started["QueryId"].as_str().map(str::to_owned) else {
        bail!("StartQuery returned no QueryId");
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let (c, client, id) = (cancel.clone(), client.clone(), id.clone());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                c.store(true, Ordering::SeqCst);
                let _ =
                    client.call_json("cloudtrail", PREFIX, "CancelQuery", &json!({"QueryId": id}));
            }
        });
    }
    let bar = show_progress.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let status = loop {
        if cancel.load(Ordering::SeqCst) {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            bail!("query {id} cancelled");
        }
        let d = client.call_json(
            "cloudtrail",
            PREFIX,
            "DescribeQuery",
            &json!({"QueryId": id}),
        )?;
        let status = d["QueryStatus"].as_str().unwrap_or("").to_owned();
        if let Some(b) = &bar {
            let s = &d["QueryStatistics"];
            b.set_message(format!(
                "{status}: {} events scanned, {} bytes",
                s["EventsScanned"].as_i64().unwrap_or(0),
                s["BytesScanned"].as_i64().unwrap_or(0)
            ));
        }
        match status.as_str() {
            "QUEUED" | "RUNNING" => std::thread::sleep(Duration::from_millis(100)),
            _ => break (status, d["ErrorMessage"].as_str().unwrap_or("").to_owned()),
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if status.0 != "FINISHED" {
        bail!("query {id} {}: {}", status.0, status.1);
    }
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"QueryId": id, "MaxQueryResults": 1000});
        if let Some(t) = &token {
            req["NextToken"] = json!(t);
        }
        let page = client.call_json("cloudtrail", PREFIX, "GetQueryResults", &req)?;
        for row in page["QueryResultRows"].as_array().into_iter().flatten() {
            let cells: Vec<(String, Option<String>)> = row
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_object())
                .filter_map(|m| m.iter().next())
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                .collect();
            if names.is_empty() {
                names = cells.iter().map(|(k, _)| k.clone()).collect();
            }
            rows.push(cells.into_iter().map(|(_, v)| v).collect());
        }
        token = page["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    print_rows(&mut out, args.format, &names, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_store::PutOptions;

    #[test]
    fn rows_print_as_csv_table_and_json() {
        let names = ["a".to_owned(), "bb".to_owned()];
        let rows = [
            vec![Some("x,y".to_owned()), None],
            vec![Some("long".to_owned()), Some("z".to_owned())],
        ];
        let print = |format| {
            let mut out = Vec::new();
            print_rows(&mut out, format, &names, &rows).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(print(Format::Csv), "a,bb\n\"x,y\",\nlong,z\n");
        assert_eq!(
            print(Format::Table),
            "+------+----+\n| a    | bb |\n+------+----+\n| x,y  |    |\n| long | z  |\n\
             +------+----+\n2 row(s)\n"
        );
        assert_eq!(
            print(Format::Json),
            "[{\"a\":\"x,y\",\"bb\":null},{\"a\":\"long\",\"bb\":\"z\"}]\n"
        );
    }

    fn log_file(names: &[&str]) -> bytes::Bytes {
        let records: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                json!({
                    "eventVersion": "1.08", "eventTime": format!("2026-01-0{}T00:00:00Z", i + 1),
                    "eventSource": "s3.amazonaws.com", "eventName": n,
                    "awsRegion": "us-east-1", "eventID": format!("{n}-{i}"),
                    "eventType": "AwsApiCall", "recipientAccountId": "111111111111",
                })
            })
            .collect();
        json!({ "Records": records }).to_string().into()
    }

    fn args(data_dir: &Path, compact: bool, sql: &str) -> QueryArgs {
        QueryArgs {
            sql: sql.to_owned(),
            bucket_path: None,
            parquet_dir: None,
            compact,
            data_dir: Some(data_dir.to_owned()),
            endpoint_url: None,
            region: None,
            format: Format::Json,
            quiet: true,
        }
    }

    async fn rows(args: &QueryArgs) -> (Vec<Vec<Option<String>>>, Arc<cairn_lake::Progress>) {
        let (lake, sql) = offline_tables(args).await.unwrap();
        let (schema, batches) = lake.run(&sql).await.unwrap();
        let rows = cairn_lake::rows_as_text(&schema, &batches).unwrap().1;
        (rows, lake.progress())
    }

    /// Fails if a file under `dir` holds `needle`.
    fn assert_nowhere(dir: &Path, needle: &[u8]) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_nowhere(&p, needle);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                panic!(
                    "{} holds {:?}",
                    p.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }

    /// `cairn query --data-dir --compact` compacts the vault buckets Cairn writes (not
    /// directories vault buckets never create): afterwards the query is answered from their
    /// sealed Parquet copy, with the answer the log files gave, and nothing of the events is
    /// on disk in plaintext.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lake_compact_of_a_data_dir_copies_its_vault_buckets_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = cairn_server::catalog::Catalog::open(dir.path()).unwrap();
        catalog
            .create_bucket(&cairn_server::model::Bucket {
                name: "trail".into(),
                account_id: "111111111111".into(),
                region: "us-east-1".into(),
                created: 1_767_225_600,
            })
            .unwrap();
        let config = cairn_server::config::RawConfig::default()
            .validate(&cairn_server::config::Overrides {
                listen: None,
                data_dir: Some(dir.path().to_owned()),
            })
            .unwrap();
        let bucket = crate::buckets::open_local(&config, "trail").unwrap();
        let names = [["SecretOpA", "SecretOpB"], ["SecretOpC", "SecretOpA"]];
        for (i, n) in names.iter().enumerate() {
            let key = format!("AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/01/f{i}.json");
            bucket
                .put(&key, log_file(n), PutOptions::default())
                .await
                .unwrap();
        }
        let sql =
            "SELECT eventName, count(*) AS n, min(eventTime) FROM events GROUP BY 1 ORDER BY 1";
        let (from_json, p) = rows(&args(dir.path(), false, sql)).await;
        assert_eq!(from_json.len(), 3, "{from_json:?}");
        assert_eq!(from_json[0][1].as_deref(), Some("2"));
        assert_eq!(p.parquet_files.load(Ordering::Relaxed), 0);
        let copy = cairn_lake::layout::bucket_parquet_dir(dir.path(), "trail");
        assert!(!copy.exists());

        let (compacted, p) = rows(&args(dir.path(), true, sql)).await;
        assert_eq!(compacted, from_json);
        assert!(p.parquet_files.load(Ordering::Relaxed) > 0);
        assert_eq!(p.files_total.load(Ordering::Relaxed), 0, "log files read");
        // Later queries (without --compact) use the copy too.
        let (again, p) = rows(&args(dir.path(), false, sql)).await;
        assert_eq!(again, from_json);
        assert_eq!(p.files_total.load(Ordering::Relaxed), 0);

        assert!(copy.join(cairn_lake::compact::MANIFEST).exists());
        for needle in [&b"SecretOp"[..], b"PAR1"] {
            assert_nowhere(dir.path(), needle);
        }
    }
}
