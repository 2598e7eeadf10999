//! `cairn bench`: data for the benchmarks in BENCHMARKS.md.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_logfile::synth::{self, Synth};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `cairn bench gen-logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenLogsArgs {
    /// Number of events (underscores allowed: 10_000_000).
    #[arg(long, value_parser = parse_count)]
    events: usize,
    /// Directory to write `AWSLogs/...` under (created; must not already hold log files).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Records per log file.
    #[arg(long, default_value_t = 2000, value_parser = parse_count)]
    per_file: usize,
    /// Directory of the real records used as templates (default: ../shared/data/cloudtrail
    /// next to the current directory, as in a checkout).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_count(s: &str) -> Result<usize, String> {
    match s.replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a positive whole number")),
    }
}

/// Writes `--events` synthetic events (`cairn_logfile::synth`) as delivered log files.
pub(crate) fn gen_logs(args: &GenLogsArgs) -> Result<()> {
    let dir = args
        .templates
        .clone()
        .unwrap_or_else(|| PathBuf::from("../shared/data/cloudtrail"));
    let templates = synth::load_templates(&dir)
        .with_context(|| format!("reading template records under {}", dir.display()))?;
    if templates.is_empty() {
        bail!("no CloudTrail records under {}", dir.display());
    }
    if args.out.join("AWSLogs").exists() {
        bail!(
            "{} already holds AWSLogs/: choose an empty directory",
            args.out.display()
        );
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(args.events as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} events {human_pos}/{human_len} {bar:40} {per_sec} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let started = Instant::now();
    let s = Synth::new(templates, args.events);
    let stats = s
        .write_log_files(&args.out, args.per_file, threads, &|n| bar.inc(n))
        .with_context(|| format!("writing log files under {}", args.out.display()))?;
    bar.finish_and_clear();
    println!(
        "{} events in {} files under {}: {:.1} MB gzip ({:.1} MB JSON), {:.1} s",
        stats.records,
        stats.files,
        args.out.display(),
        stats.gzip_bytes as f64 / 1e6,
        stats.json_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
