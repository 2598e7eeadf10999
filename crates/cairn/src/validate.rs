//! `cairn validate`: CloudTrail log file integrity validation (the `aws cloudtrail
//! validate-logs` algorithm, spec `cloudtrail-formats.md` §10), plus the checks the AWS CLI
//! skips (§10.6), parallel and streaming.
//!
//! The pure chain walk lives in `cairn_logfile::validate`; this module is its I/O: where the
//! trail, public keys and objects come from, the fetch-ahead digest walk, the concurrent
//! streaming log-file checks, the progress bar and the output.

mod keys;
mod prefetch;
mod source;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine;
use cairn_logfile::layout::Prefix;
use cairn_logfile::timefmt;
use cairn_logfile::validate::{
    self as core, LogFileCheck, LogOutcome, Plan, PublicKeySet, SourceError, ValidationReport,
    ValidationRequest,
};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::Client;
use source::{Backend, Opener, Store};

/// Exit status: everything valid.
pub(crate) const EXIT_VALID: i32 = 0;
/// Exit status: something invalid or missing.
pub(crate) const EXIT_INVALID: i32 = 1;
/// Exit status: usage, configuration or connection error; nothing was concluded.
pub(crate) const EXIT_ERROR: i32 = 2;

const CLOUDTRAIL_TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

const AFTER_HELP: &str = "\
SOURCES
  Trail and keys: by default DescribeTrails (only when --s3-bucket is not given) and
  ListPublicKeys(StartTime, EndTime + 2h) are called on the Cairn endpoint (--endpoint-url,
  AWS_ENDPOINT_URL_CLOUDTRAIL or AWS_ENDPOINT_URL, credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). With --public-key
  (and --s3-bucket) nothing is called: fully offline.
  Objects: --bucket-path DIR (read only), --s3-endpoint URL (path-style, credentials
  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region AWS_REGION), the bucket as Cairn's
  --data-dir / --config define it, or else the S3 endpoint the AWS CLI would use
  (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url): the same environment
  that `aws cloudtrail validate-logs` reads works unchanged.

BUCKET DIRECTORIES (--bucket-path)
  Either a Cairn local bucket directory (object files named `<key>@obj`, e.g.
  <data-dir>/buckets/<bucket>), or a plain directory tree whose relative paths are the S3
  keys (what `aws s3 sync s3://BUCKET DIR` writes). The layout is detected by looking for
  `@obj` files. A plain tree has no object metadata, so each digest's signature is read
  from a side file `<digest key>.metadata.json` beside it: either a JSON object
  {\"signature\": \"...\", \"signature-algorithm\": \"SHA256withRSA\"} or the output of
  `aws s3api head-object` (its \"Metadata\" member is used). A digest without one fails
  with \"signature verification failed\", as on S3.

PUBLIC KEY FILES (--public-key)
  PEM (RSA PUBLIC KEY or PUBLIC KEY), DER (PKCS#1 or SubjectPublicKeyInfo), base64 DER (one
  per line, as ListPublicKeys' Value), or the JSON output of `aws cloudtrail
  list-public-keys`.

STRICT CHECKS (default; --no-strict for exactly the AWS CLI's verdicts)
  previousDigestHashValue and previousDigestSignature against the older digest, signature
  algorithm names, digest window continuity, key/field consistency, fingerprint = MD5(key),
  event-time bounds, log files in validated windows that no digest lists, digests the chain
  skips, and (with --expect-digest-through) truncation of the newest digests.

EXIT STATUS
  0  every digest and log file is valid (and, when strict, every strict check passed)
  1  a digest or log file is invalid or missing (or, when strict, a strict check failed)
  2  usage, configuration or connection error: nothing was concluded";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The AWS CLI's `validate-logs` text.
    Text,
    /// One JSON document: findings, summary, exit code.
    Json,
}

/// `cairn validate` arguments.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct ValidateArgs {
    /// ARN of the trail (arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME).
    #[arg(long, value_name = "ARN")]
    trail_arn: String,
    /// Start of the range (e.g. 2025-03-04T05:00:00Z, 2025-03-04, or epoch seconds).
    #[arg(long, value_name = "TIME")]
    start_time: String,
    /// End of the range (default: now).
    #[arg(long, value_name = "TIME")]
    end_time: Option<String>,
    /// Bucket holding the digests (default: the trail's, from DescribeTrails).
    #[arg(long, value_name = "BUCKET")]
    s3_bucket: Option<String>,
    /// The trail's S3 key prefix (default: the trail's, from DescribeTrails).
    #[arg(long, value_name = "PREFIX")]
    s3_prefix: Option<String>,
    /// Account whose logs to validate (default: the ARN's; required for organization trails).
    #[arg(long, value_name = "ID")]
    account_id: Option<String>,
    /// Organization id (o-...) of an organization trail (default: Cairn's configuration,
    /// when --data-dir/--config name one).
    #[arg(long, value_name = "ID")]
    organization_id: Option<String>,
    /// Source Region of the digests (default: the trail's home Region, from the ARN).
    #[arg(long)]
    region: Option<String>,
    /// Strict: the newest digest must end at or after this time (detects truncation).
    #[arg(long, value_name = "TIME")]
    expect_digest_through: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also print valid digests and log files.
    #[arg(short, long)]
    verbose: bool,
    /// Run the checks the AWS CLI skips (the default).
    #[arg(long, overrides_with = "no_strict")]
    strict: bool,
    /// Only the AWS CLI's checks and verdicts.
    #[arg(long, overrides_with = "strict")]
    no_strict: bool,
    /// Log files checked concurrently (default: 2 × cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Public key file(s): validate offline, without ListPublicKeys.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    public_key: Vec<PathBuf>,
    /// Read objects from this bucket directory (Cairn's layout or a plain tree of keys).
    #[arg(long, value_name = "DIR", conflicts_with = "s3_endpoint")]
    bucket_path: Option<PathBuf>,
    /// Read objects from this S3-compatible endpoint (path-style).
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Cairn endpoint for DescribeTrails / ListPublicKeys (default: AWS_ENDPOINT_URL_CLOUDTRAIL,
    /// AWS_ENDPOINT_URL or the profile's endpoint_url, else
    /// http://127.0.0.1:4590).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    #[command(flatten)]
    common: crate::Common,
}

/// What the trail ARN says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrailArn {
    region: String,
    account: String,
    name: String,
}

fn parse_arn(arn: &str) -> Result<TrailArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad = || {
        anyhow::anyhow!(
            "{arn} is not a valid trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)"
        )
    };
    let [a, partition, service, region, account, resource] = parts[..] else {
        return Err(bad());
    };
    let name = resource.strip_prefix("trail/").ok_or_else(bad)?;
    if a != "arn"
        || partition.is_empty()
        || service != "cloudtrail"
        || region.is_empty()
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || name.is_empty()
    {
        return Err(bad());
    }
    Ok(TrailArn {
        region: region.to_owned(),
        account: account.to_owned(),
        name: name.to_owned(),
    })
}

/// Parses a time argument: RFC 3339, `YYYY-MM-DDTHH:MM[:SS]Z`, `YYYY-MM-DD` or epoch seconds.
/// Sub-second parts are dropped.
fn parse_time(s: &str) -> Result<OffsetDateTime> {
    let s = s.trim();
    let t = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        OffsetDateTime::from_unix_timestamp(s.parse()?)?
    } else if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        t
    } else if let Ok(t) = timefmt::parse_event_time(s) {
        t
    } else if let Ok(d) =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
    {
        d.midnight().assume_utc()
    } else if let Ok(t) = time::PrimitiveDateTime::parse(
        s.trim_end_matches('Z'),
        time::macros::format_description!("[year]-[month]-[day][first [T][ ]][hour]:[minute]"),
    ) {
        t.assume_utc()
    } else if let Ok(t) = time::PrimitiveDateTime::parse(
        s.trim_end_matches('Z'),
        time::macros::format_description!(
            "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second]"
        ),
    ) {
        t.assume_utc()
    } else {
        bail!("cannot parse time {s:?} (use e.g. 2025-03-04T05:00:00Z)");
    };
    Ok(t.to_offset(time::UtcOffset::UTC).replace_nanosecond(0)?)
}

/// The trail as DescribeTrails describes it.
struct TrailInfo {
    bucket: String,
    prefix: Option<String>,
    organization: bool,
}

fn describe_trail(client: &Client, arn: &str) -> Result<TrailInfo> {
    let v = client.call_json(
        "cloudtrail",
        CLOUDTRAIL_TARGET,
        "DescribeTrails",
        &json!({}),
    )?;
    let trail = v["trailList"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["TrailARN"].as_str() == Some(arn))
        .with_context(|| format!("A trail could not be found for {arn}"))?;
    let Some(bucket) = trail["S3BucketName"].as_str() else {
        bail!("trail {arn} has no S3BucketName");
    };
    Ok(TrailInfo {
        bucket: bucket.to_owned(),
        prefix: trail["S3KeyPrefix"].as_str().map(str::to_owned),
        organization: trail["IsOrganizationTrail"].as_bool().unwrap_or(false),
    })
}

fn list_public_keys(
    client: &Client,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Result<PublicKeySet> {
    let mut set = PublicKeySet::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({
            "StartTime": start.unix_timestamp(),
            "EndTime": end.unix_timestamp(),
        });
        if let Some(t) = &token {
            req["NextToken"] = Value::String(t.clone());
        }
        let v = client.call_json("cloudtrail", CLOUDTRAIL_TARGET, "ListPublicKeys", &req)?;
        for k in v["PublicKeyList"].as_array().into_iter().flatten() {
            let (Some(value), Some(fp)) = (k["Value"].as_str(), k["Fingerprint"].as_str()) else {
                bail!("ListPublicKeys returned an item without Value or Fingerprint");
            };
            let der = base64::engine::general_purpose::STANDARD
                .decode(value)
                .with_context(|| format!("ListPublicKeys: key {fp} is not base64"))?;
            set.insert_listed(fp, &der);
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(set),
        }
    }
}

/// Everything needed to walk, resolved from the arguments.
struct Setup {
    request: ValidationRequest,
    keys: PublicKeySet,
    store: Store,
    describe: String,
}

fn s3_backend(endpoint: &str, name: &str, rt: &tokio::runtime::Handle) -> Result<Backend> {
    let mut cfg = cairn_store::S3Config::for_endpoint(endpoint);
    cfg.access_key_id_env = Some("AWS_ACCESS_KEY_ID".into());
    cfg.secret_access_key_env = Some("AWS_SECRET_ACCESS_KEY".into());
    cfg.force_path_style = true;
    cfg.region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    cfg.request_timeout_ms = 300_000;
    cfg.max_retries = 2;
    let opts = cfg
        .resolve(name, |v| std::env::var(v).ok())
        .with_context(|| format!("S3 endpoint {endpoint}"))?;
    let _guard = rt.enter();
    let bucket = cairn_store::S3Bucket::new(name, opts)?;
    Ok(Backend::Remote(Arc::new(bucket)))
}

/// The organization ID of an organization trail (`org`: the trail says it is one), or of
/// `--organization-id`; `None` for an account trail.
fn organization_id(
    args: &ValidateArgs,
    org: bool,
    config: Option<&cairn_server::config::Config>,
) -> Result<Option<String>> {
    if !org && args.organization_id.is_none() {
        return Ok(None);
    }
    if args.account_id.is_none() && org {
        bail!("Missing required parameter for organization trail: '--account-id'");
    }
    let id = args
        .organization_id
        .clone()
        .or_else(|| config.and_then(|c| c.organization.as_ref().map(|o| o.id.to_string())));
    match id {
        Some(id) => Ok(Some(id)),
        None => bail!("organization trail: give --organization-id (o-...)"),
    }
}

/// The trail's bucket through an S3 endpoint, and any other bucket by name through the same
/// endpoint.
fn s3_sources(
    endpoint: String,
    bucket: &str,
    rt: &tokio::runtime::Handle,
) -> Result<(Vec<(String, Backend)>, Opener)> {
    let first = s3_backend(&endpoint, bucket, rt)?;
    let rt2 = rt.clone();
    Ok((
        vec![(bucket.to_owned(), first)],
        Opener::Dynamic(Box::new(move |name: &str| {
            s3_backend(&endpoint, name, &rt2)
        })),
    ))
}

/// Where the objects are read from: `--bucket-path`, `--s3-endpoint`, the Cairn data
/// directory, or the S3 endpoint of the environment (in that order). Returns the trail's
/// bucket opened, and how other buckets (digests of other regions or accounts) are opened.
fn object_sources(
    args: &ValidateArgs,
    bucket: &str,
    config: Option<cairn_server::config::Config>,
    rt: &tokio::runtime::Handle,
) -> Result<(Vec<(String, Backend)>, Opener)> {
    if let Some(dir) = &args.bucket_path {
        Ok((
            vec![(bucket.to_owned(), Backend::open_dir(bucket, dir)?)],
            Opener::Fixed,
        ))
    } else if let Some(endpoint) = &args.s3_endpoint {
        s3_sources(endpoint.clone(), bucket, rt)
    } else if let Some(config) = config {
        let open = move |name: &str| -> Result<Backend> {
            match config.buckets.get(name) {
                Some(cairn_store::BucketConfig::Local(l)) => {
                    Backend::open_vault(&config, name, l.root.as_deref())
                }
                Some(cairn_store::BucketConfig::S3(s3)) => Ok(Backend::Remote(Arc::new(
                    cairn_store::S3Bucket::from_config(name, s3)?,
                ))),
                // Local buckets live in the server's encrypted vault.
                None => Ok(Backend::Remote(crate::buckets::open_local(&config, name)?)),
            }
        };
        let first = open(bucket)?;
        Ok((
            vec![(bucket.to_owned(), first)],
            Opener::Dynamic(Box::new(open)),
        ))
    } else if let Some(endpoint) =
        crate::client::endpoint_for("S3", None, &crate::client::AwsProfile::load())
    {
        // As `aws cloudtrail validate-logs` does: the S3 endpoint of the environment.
        s3_sources(endpoint, bucket, rt)
    } else {
        bail!(
            "say where the objects are: --bucket-path DIR, --s3-endpoint URL, --data-dir DIR, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL"
        );
    }
}

fn setup(args: &ValidateArgs, rt: &tokio::runtime::Handle) -> Result<Setup> {
    let arn = parse_arn(&args.trail_arn)?;
    let start = parse_time(&args.start_time).context("--start-time")?;
    let end = match &args.end_time {
        Some(t) => parse_time(t).context("--end-time")?,
        None => OffsetDateTime::now_utc().replace_nanosecond(0)?,
    };
    if start > end {
        bail!("Invalid time range specified: start-time must occur before end-time");
    }
    let expect = args
        .expect_digest_through
        .as_deref()
        .map(parse_time)
        .transpose()
        .context("--expect-digest-through")?;
    let uses_data_dir = args.common.data_dir.is_some() || args.common.config.is_some();
    let config = if uses_data_dir {
        Some(crate::load_config(&args.common, None)?)
    } else {
        None
    };
    let needs_api = args.s3_bucket.is_none() || args.public_key.is_empty();
    let client = if needs_api {
        Some(Client::from_env(
            "CLOUDTRAIL",
            args.endpoint_url.clone(),
            args.region.clone(),
        )?)
    } else {
        None
    };
    let mut org = false;
    let (bucket, prefix) = match (&args.s3_bucket, &client) {
        (Some(b), _) => (b.clone(), args.s3_prefix.clone()),
        (None, Some(c)) => {
            let info = describe_trail(c, &args.trail_arn)?;
            org = info.organization;
            (info.bucket, args.s3_prefix.clone().or(info.prefix))
        }
        (None, None) => bail!("--s3-bucket is required"),
    };
    let org_id = organization_id(args, org, config.as_ref())?;
    let keys = if args.public_key.is_empty() {
        let Some(c) = &client else {
            bail!("no public keys: give --public-key or a Cairn endpoint");
        };
        let (ks, ke) = core::public_key_window(start, end);
        list_public_keys(c, ks, ke)?
    } else {
        keys::load_files(&args.public_key)?
    };
    let mut request = ValidationRequest::new(
        &bucket,
        args.account_id.as_deref().unwrap_or(&arn.account),
        args.region.as_deref().unwrap_or(&arn.region),
        &arn.name,
        start,
        end,
    );
    request.home_region = arn.region.clone();
    request.prefix = match prefix.as_deref() {
        Some(p) if !p.is_empty() => Prefix::new(p).context("--s3-prefix")?,
        _ => Prefix::NONE,
    };
    request.org_id = org_id;
    request.strict = !args.no_strict;
    request.expect_digest_through = expect;

    let (initial, opener) = object_sources(args, &bucket, config, rt)?;
    let describe = initial
        .first()
        .map(|(_, b)| b.describe())
        .unwrap_or_default();
    Ok(Setup {
        request,
        keys,
        store: Store::new(initial, opener, rt.clone()),
        describe,
    })
}

/// Counters of a run.
#[derive(Debug, Default)]
struct Stats {
    log_files: usize,
    uncompressed_bytes: u64,
    walk_seconds: f64,
    check_seconds: f64,
}

/// Walks the chain with fetch-ahead.
fn walk(setup: &Setup, jobs: usize) -> Result<Plan, core::ValidateError> {
    let req = &setup.request;
    let filter = prefetch::Filter {
        name_prefix: format!(
            "{}_CloudTrail-Digest_{}_{}_{}_",
            req.account_id, req.source_region, req.trail_name, req.home_region
        ),
        min_date: timefmt::format_digest_key_time(req.start).unwrap_or_default(),
        max_date: timefmt::format_digest_key_time(req.end + time::Duration::hours(1))
            .unwrap_or_default(),
    };
    let ahead = (jobs * 2).clamp(2, 64);
    let pf = prefetch::Prefetch::new(&setup.store, filter, ahead);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 8) {
            s.spawn(|| pf.worker());
        }
        let plan = core::plan(&pf, req, &setup.keys);
        pf.finish();
        plan
    })
}

/// Runs the log checks on `jobs` threads, applying outcomes as they arrive.
fn check_logs(
    store: &Store,
    plan: &mut Plan,
    jobs: usize,
    bar: &ProgressBar,
    stats: &mut Stats,
) -> Result<(), SourceError> {
    let checks: Vec<LogFileCheck> = std::mem::take(&mut plan.log_checks);
    stats.log_files = checks.len();
    bar.set_length(checks.len() as u64);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let bytes = AtomicU64::new(0);
    let started = Instant::now();
    let result = std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Result<(LogOutcome, u64), SourceError>)>();
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (checks, next, stop) = (&checks, &next, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = checks.get(i) else { break };
                    let r = store.check_log(&c.bucket, &c.key, &c.expected_hash);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            match r {
                Ok((outcome, n)) => {
                    plan.apply(&checks[i], &outcome);
                    let total = bytes.fetch_add(n, Ordering::Relaxed) + n;
                    bar.inc(1);
                    bar.set_message(format!("{} MiB hashed", total >> 20));
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    });
    stats.uncompressed_bytes = bytes.load(Ordering::Relaxed);
    stats.check_seconds = started.elapsed().as_secs_f64();
    result
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {pos}/{len} {bar:40} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix("log files");
    bar
}

fn output(
    args: &ValidateArgs,
    report: &ValidationReport,
    stats: &Stats,
    code: i32,
    source: &str,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let mut v = report.to_json();
            if let Value::Object(m) = &mut v {
                m.insert("trail_arn".into(), Value::String(args.trail_arn.clone()));
                m.insert("source".into(), Value::String(source.to_owned()));
                m.insert("exit_code".into(), json!(code));
                m.insert(
                    "stats".into(),
                    json!({
                        "log_files": stats.log_files,
                        "uncompressed_bytes": stats.uncompressed_bytes,
                        "walk_seconds": stats.walk_seconds,
                        "check_seconds": stats.check_seconds,
                    }),
                );
            }
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        Format::Text => {
            let mut err = std::io::stderr().lock();
            report.write_cli_text(
                &args.trail_arn,
                args.verbose,
                report.strict,
                &mut out,
                &mut err,
            )?;
            if report.strict {
                let n = report.summary().strict_failures;
                if n == 0 {
                    writeln!(out, "All strict checks passed")?;
                } else {
                    writeln!(out, "{n} strict checks FAILED")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn run_inner(args: &ValidateArgs) -> Result<i32> {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()) * 2);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let setup = setup(args, rt.handle())?;
    let mut stats = Stats::default();
    let bar = progress_bar(args.quiet);
    bar.set_message("walking the digest chain");
    let t = Instant::now();
    let mut plan = walk(&setup, jobs)?;
    stats.walk_seconds = t.elapsed().as_secs_f64();
    check_logs(&setup.store, &mut plan, jobs, &bar, &mut stats)?;
    bar.finish_and_clear();
    let report = plan.finish();
    let code = report.exit_code(setup.request.strict);
    output(args, &report, &stats, code, &setup.describe)?;
    drop(setup);
    rt.shutdown_background();
    Ok(code)
}

/// Runs `cairn validate`; returns the exit status (see [`EXIT_VALID`], [`EXIT_INVALID`],
/// [`EXIT_ERROR`]).
pub(crate) fn run(args: &ValidateArgs) -> i32 {
    match run_inner(args) {
        Ok(0) => EXIT_VALID,
        Ok(_) => EXIT_INVALID,
        Err(e) if crate::is_broken_pipe(&e) => EXIT_VALID,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn arns() {
        let a = parse_arn("arn:aws:cloudtrail:us-east-2:111122223333:trail/my-trail").unwrap();
        assert_eq!(
            a,
            TrailArn {
                region: "us-east-2".into(),
                account: "111122223333".into(),
                name: "my-trail".into()
            }
        );
        for bad in [
            "arn:aws:cloudtrail:us-east-2:111122223333:my-trail",
            "arn:aws:s3:us-east-2:111122223333:trail/x",
            "arn:aws:cloudtrail:us-east-2:1111:trail/x",
            "arn:aws:cloudtrail::111122223333:trail/x",
            "arn:aws:cloudtrail:us-east-2:111122223333:trail/",
            "nope",
        ] {
            assert!(parse_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        let want = datetime!(2025-03-04 05:06:07 UTC);
        for s in [
            "2025-03-04T05:06:07Z",
            "2025-03-04T05:06:07.123Z",
            "2025-03-04T07:06:07+02:00",
            "2025-03-04 05:06:07",
            "1741064767",
        ] {
            assert_eq!(parse_time(s).unwrap(), want, "{s}");
        }
        assert_eq!(
            parse_time("2025-03-04T05:06Z").unwrap(),
            datetime!(2025-03-04 05:06 UTC)
        );
        assert_eq!(
            parse_time("2025-03-04").unwrap(),
            datetime!(2025-03-04 00:00 UTC)
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("").is_err());
    }
}
