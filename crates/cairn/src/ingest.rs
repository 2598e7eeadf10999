//! `cairn ingest FILE...`: import CloudTrail records (log files as AWS delivers them, plain or
//! gzip, or NDJSON) through a running server's bulk endpoint.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_event::{FormatHint, read_records};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::client::Client;

/// Records per request.
const BATCH_RECORDS: usize = 2000;
/// Bytes per request (well under the server's 64 MiB body limit).
const BATCH_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Totals {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
}

/// Rejections listed one by one; the rest are counted.
const MAX_LISTED: u64 = 20;

impl Totals {
    fn reject(&mut self, what: std::fmt::Arguments<'_>) {
        self.rejected += 1;
        if self.rejected <= MAX_LISTED {
            eprintln!("rejected: {what}");
        } else if self.rejected == MAX_LISTED + 1 {
            eprintln!("rejected: (further rejections are counted, not listed)");
        }
    }
}

pub(crate) fn run(
    files: &[PathBuf],
    endpoint: Option<String>,
    region: Option<String>,
    quiet: bool,
) -> Result<()> {
    let client = Client::from_env("CLOUDTRAIL_DATA", endpoint, region)?;
    let total_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .collect::<std::io::Result<Vec<_>>>()
        .context("reading the input files")?
        .iter()
        .sum();
    let bar = if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total_bytes)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bar:40} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut totals = Totals::default();
    for file in files {
        let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let mut batch: Vec<u8> = Vec::new();
        let mut locations: Vec<String> = Vec::new();
        let mut records = read_records(&data[..], FormatHint::Auto);
        loop {
            let next = records.next();
            let flush = match &next {
                None => true,
                Some(_) => locations.len() >= BATCH_RECORDS || batch.len() >= BATCH_BYTES,
            };
            if flush && !locations.is_empty() {
                send(&client, &batch, &locations, &mut totals)?;
                batch.clear();
                locations.clear();
            }
            match next {
                None => break,
                Some(Ok(raw)) => {
                    batch.extend_from_slice(&raw.bytes);
                    batch.push(b'\n');
                    locations.push(format!("{} {}", file.display(), raw.location));
                }
                Some(Err(e)) if e.is_fatal() => bail!("{}: {e}", file.display()),
                Some(Err(e)) => totals.reject(format_args!("{}: {e}", file.display())),
            }
        }
        bar.inc(data.len() as u64);
        bar.set_message(format!("{} records", totals.accepted + totals.duplicates));
    }
    bar.finish_and_clear();
    println!(
        "ingested {} records ({} duplicates skipped, {} rejected) from {} files",
        totals.accepted,
        totals.duplicates,
        totals.rejected,
        files.len()
    );
    if totals.rejected > 0 {
        bail!("{} records were rejected", totals.rejected);
    }
    Ok(())
}

fn send(client: &Client, body: &[u8], locations: &[String], totals: &mut Totals) -> Result<()> {
    let mut backoff = std::time::Duration::from_millis(200);
    loop {
        let reply = client.post(
            "cloudtrail-data",
            "/_cairn/ingest",
            "application/x-ndjson",
            body,
        )?;
        let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status == 200 {
            totals.accepted += v["accepted"].as_u64().unwrap_or(0);
            totals.duplicates += v["duplicates"].as_u64().unwrap_or(0);
            for r in v["rejected"].as_array().into_iter().flatten() {
                let i = r["index"].as_u64().unwrap_or(0) as usize;
                let at = locations.get(i).map(String::as_str).unwrap_or("?");
                totals.reject(format_args!(
                    "{at}: {} {}",
                    r["code"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                ));
            }
            return Ok(());
        }
        let message = v["message"].as_str().unwrap_or("").to_owned();
        let code = reply.error_type.clone().unwrap_or_default();
        if code == "ThrottlingException" || reply.status == 503 {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
            continue;
        }
        bail!(
            "the server refused the batch (HTTP {}, {code}): {message}",
            reply.status
        );
    }
}
