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
use std::path::PathBuf;
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
        };
        lake.register("events", &source).await?;
    }
    let mut sql = args.sql.clone();
    if let Some(data_dir) = &args.data_dir {
        if !data_dir.is_dir() {
            bail!("--data-dir {} is not a directory", data_dir.display());
        }
        if args.compact {
            let d = data_dir.clone();
            tokio::task::spawn_blocking(move || cairn_lake::layout::compact_all(&d))
                .await
                .context("compacting")?
                .context("compacting")?;
        }
        // Local buckets are encrypted at rest: their delivered log files are read (and
        // decrypted) through the bucket while the query runs, never copied to disk.
        let mut sources = Vec::new();
        if data_dir.join("catalog.sqlite").exists() {
            let config = cairn_server::config::RawConfig::default().validate(
                &cairn_server::config::Overrides {
                    listen: None,
                    data_dir: Some(data_dir.clone()),
                },
            )?;
            let catalog = cairn_server::catalog::Catalog::open(data_dir)?;
            for b in catalog.buckets()? {
                let bucket = crate::buckets::open_local(&config, &b.name)?;
                let parquet = cairn_lake::layout::bucket_parquet_dir(data_dir, &b.name);
                // The operator reads the data directory with its master key: no caller to check.
                let listed =
                    cairn_server::lake::checked_bucket_logs(bucket, Some(parquet), |_| Ok(()))
                        .await
                        .map_err(anyhow::Error::msg)
                        .with_context(|| format!("reading bucket {}", b.name))?;
                sources.push(listed);
            }
        }
        lake.register_listed("events", sources).await?;
        let ids = cairn_lake::layout::store_ids(data_dir)?;
        for id in &ids {
            lake.register(id, &cairn_lake::layout::store_source(data_dir, id))
                .await?;
        }
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
    let df = lake.sql(&sql).await?;
    let bar = show_progress.then(|| spinner(lake.progress()));
    let result = lake.collect(df).await;
    if let Some((stop, t)) = bar {
        stop.store(true, Ordering::SeqCst);
        let _ = t.join();
    }
    let (schema, batches) = result?;
    let mut out = std::io::stdout().lock();
    match args.format {
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
            let (names, rows) = cairn_lake::rows_as_text(&schema, &batches)?;
            print_rows(&mut out, f, &names, &rows)?;
        }
    }
    // The decrypted copy of local buckets is removed only now, after the query has read it.
    Ok(())
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
            writeln!(out, "{}", line(names.iter().map(String::as_str).collect()))?;
            for r in rows {
                writeln!(
                    out,
                    "{}",
                    line(r.iter().map(|c| c.as_deref().unwrap_or("")).collect())
                )?;
            }
        }
        Format::Table => {
            let mut w: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for r in rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.as_deref().map_or(0, |s| s.chars().count()));
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
            writeln!(out, "{}", line(names.iter().map(String::as_str).collect()))?;
            writeln!(out, "{sep}")?;
            for r in rows {
                writeln!(
                    out,
                    "{}",
                    line(r.iter().map(|c| c.as_deref().unwrap_or("")).collect())
                )?;
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
