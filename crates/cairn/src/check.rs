//! `cairn check`: the posture check (crate `cairn-check`) as a command: resolve credentials
//! like the AWS CLI, gather, evaluate, optionally fix, print, and exit with a status that
//! tells pass, findings and errors apart. See `docs/CHECK.md`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_check::aws::Aws;
use cairn_check::aws::config::{ProcessEnv, Requested, resolve};
use cairn_check::aws::{ApiFailure, Fetched};
use cairn_check::facts::{Facts, Trail, Validation};
use cairn_check::gather::{Scope, gather};
use cairn_check::model::{CheckResult, Thresholds};
use cairn_check::{eval, fix, report};
use clap::{Args, ValueEnum};

/// Exit status: no finding (`pass`, `info`, and `unknown` unless `--strict`).
pub(crate) const EXIT_PASS: i32 = 0;
/// Exit status: at least one `fail` (or, with `--strict`, an `unknown`).
pub(crate) const EXIT_FINDINGS: i32 = 1;
/// Exit status: nothing could be concluded (no credentials, endpoint unreachable, trails
/// unreadable, bad flags, a `--fix` that was refused or failed).
pub(crate) const EXIT_ERROR: i32 = 2;

const AFTER_HELP: &str = "\
CREDENTIALS AND ENDPOINTS (as the AWS CLI)
  --profile, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the
  AWS_PROFILE or default profile of ~/.aws/credentials and ~/.aws/config
  (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE). Region: --region, AWS_REGION,
  AWS_DEFAULT_REGION, the profile's region, else us-east-1. Endpoint: --endpoint-url,
  AWS_ENDPOINT_URL, per service AWS_ENDPOINT_URL_S3 / _IAM / _STS / _KMS / _CLOUDTRAIL /
  _CLOUDWATCH_LOGS / _CLOUDWATCH / _SNS / _ORGANIZATIONS; without one, the AWS endpoints.

VERDICTS
  pass, fail, unknown (the target lacks the API or denied it: the evidence names the call
  and its error), info (reported, never a finding).

EXIT STATUS
  0  no check failed (info and unknown allowed; with --strict unknown is a finding)
  1  at least one check failed
  2  error: nothing was concluded (credentials, endpoint, DescribeTrails unreadable,
     bad flags, --fix refused or a change failed)";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table with the evidence under each check.
    Table,
    /// One JSON document (docs/CHECK.md).
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// `cairn check` arguments.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct CheckArgs {
    /// Endpoint for every service (default: AWS_ENDPOINT_URL, else the AWS endpoints).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Profile of ~/.aws/credentials and ~/.aws/config.
    #[arg(long)]
    profile: Option<String>,
    /// Region to start in.
    #[arg(long)]
    region: Option<String>,
    /// Regions that must each have a logging trail, comma-separated (default: the current
    /// Region and every trail's home Region; the evidence says which were used).
    #[arg(long, value_delimiter = ',', value_name = "R1,R2")]
    regions: Option<Vec<String>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Count `unknown` verdicts as findings (exit 1).
    #[arg(long)]
    strict: bool,
    /// Change the settings that can be changed safely (StartLogging, log file validation,
    /// multi-Region, KMS key rotation, CIS metric filters and alarms); each change is
    /// printed first.
    #[arg(long)]
    fix: bool,
    /// Apply --fix changes without asking (required when stdin is not a terminal).
    #[arg(long, requires = "fix")]
    yes: bool,
    /// CT.6 also validates each validating trail's digest chain and log files of the last
    /// 24 hours with `cairn validate` (needs a plain-http endpoint; objects are read from
    /// --validate-data-dir, else the plain-http S3 endpoint; otherwise the result is `unknown`).
    #[arg(long)]
    validate: bool,
    /// Cairn's data directory, for --validate to read local buckets (as `cairn validate
    /// --data-dir`).
    #[arg(long, value_name = "DIR", requires = "validate")]
    validate_data_dir: Option<PathBuf>,
    /// Cairn's configuration file, for --validate (as `cairn validate --config`).
    #[arg(long, value_name = "FILE", requires = "validate")]
    validate_config: Option<PathBuf>,
    /// TOML file of thresholds (keys as the flags below, with underscores).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// CT.6: a digest older than this is stale.
    #[arg(long, value_name = "HOURS")]
    digest_max_age_hours: Option<u32>,
    /// CW.1: CloudWatch Logs delivery older than this is stale.
    #[arg(long, value_name = "HOURS")]
    cloudwatch_max_age_hours: Option<u32>,
    /// IAM.2: root use within this many days is a finding.
    #[arg(long, value_name = "DAYS")]
    root_unused_days: Option<u32>,
    /// IAM.1: most principals allowed to hold AWSCloudTrail_FullAccess.
    #[arg(long, value_name = "N")]
    max_full_access_principals: Option<usize>,
    /// IAM.1: workload principal name pattern (`*` wildcard; repeatable; replaces the
    /// defaults).
    #[arg(long = "workload-role-pattern", value_name = "GLOB")]
    workload_role_patterns: Vec<String>,
}

fn thresholds(args: &CheckArgs) -> Result<Thresholds> {
    let mut t = match &args.thresholds {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Thresholds::from_toml(&text).map_err(anyhow::Error::msg)?
        }
        None => Thresholds::default(),
    };
    if let Some(v) = args.digest_max_age_hours {
        t.digest_max_age_hours = v;
    }
    if let Some(v) = args.cloudwatch_max_age_hours {
        t.cloudwatch_max_age_hours = v;
    }
    if let Some(v) = args.root_unused_days {
        t.root_unused_days = v;
    }
    if let Some(v) = args.max_full_access_principals {
        t.max_full_access_principals = v;
    }
    if !args.workload_role_patterns.is_empty() {
        t.workload_role_patterns = args.workload_role_patterns.clone();
    }
    Ok(t)
}

fn not_run(message: String) -> ApiFailure {
    ApiFailure {
        service: "cairn".into(),
        operation: "validate".into(),
        code: "NotImplemented".into(),
        message,
        status: 0,
    }
}

/// Validates the trail's chain in each of its Regions (home only for a single-Region trail,
/// else the Regions CT.2 checks); all must be valid.
fn validate_trail(args: &CheckArgs, aws: &Aws, facts: &Facts, t: &Trail) -> Fetched<Validation> {
    let regions = if t.multi_region {
        facts.regions.list.clone()
    } else {
        vec![t.home_region.clone()]
    };
    let mut ok = true;
    let mut parts = Vec::new();
    for r in &regions {
        let v = validate_region(args, aws, facts, t, r)?;
        ok &= v.ok;
        parts.push(format!("{r}: {}", v.summary));
    }
    Ok(Validation {
        ok,
        summary: parts.join("; "),
    })
}

/// Runs `cairn validate --format json` (this executable) for one trail and Region over the
/// last day.
fn validate_region(
    args: &CheckArgs,
    aws: &Aws,
    facts: &Facts,
    t: &Trail,
    region: &str,
) -> Fetched<Validation> {
    let Some(endpoint) = aws
        .custom_endpoint("cloudtrail")
        .filter(|e| e.starts_with("http://"))
    else {
        return Err(not_run(
            "cairn validate reads DescribeTrails and ListPublicKeys over plain http only".into(),
        ));
    };
    // The objects: from the data directory when given, else through the S3 endpoint (Cairn
    // serves S3 on its one port, so the CloudTrail endpoint itself qualifies).
    let local = args.validate_data_dir.is_some() || args.validate_config.is_some();
    let s3 = aws
        .custom_endpoint("s3")
        .filter(|e| !local && e.starts_with("http://"));
    if !local && s3.is_none() {
        return Err(not_run(
            "pass --validate-data-dir (Cairn's local buckets) or an http:// S3 endpoint".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(|e| not_run(format!("no executable: {e}")))?;
    let start = facts.now - time::Duration::days(1);
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "validate",
        "--format",
        "json",
        "--quiet",
        "--trail-arn",
        &t.arn,
    ])
    .args(["--start-time", &start.unix_timestamp().to_string()])
    .args(["--endpoint-url", endpoint, "--region", region])
    .args(["--account-id", &t.account]);
    if let Some(d) = &args.validate_data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if let Some(c) = &args.validate_config {
        cmd.arg("--config").arg(c);
    }
    if let Some(u) = s3 {
        cmd.args(["--s3-endpoint", u]);
    }
    if t.organization {
        // Organizations' answer, else the id the bucket's `AWSLogs/o-.../` listing shows.
        let org = match &facts.organization {
            Ok(Some(o)) => Some(o.id.as_str()),
            _ => facts.digest_organizations.get(&t.arn).map(String::as_str),
        };
        if let Some(id) = org {
            cmd.args(["--organization-id", id]);
        }
    }
    // The credentials go to the child through its environment only.
    let c = &aws.settings().credential;
    cmd.env("AWS_ACCESS_KEY_ID", &c.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", c.secret.expose());
    match &c.session_token {
        Some(tok) => cmd.env("AWS_SESSION_TOKEN", tok),
        None => cmd.env_remove("AWS_SESSION_TOKEN"),
    };
    let out = cmd
        .output()
        .map_err(|e| not_run(format!("cannot run cairn validate: {e}")))?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let code = out.status.code().unwrap_or(2);
    if code == 2 || doc.is_null() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ApiFailure {
            code: "ValidationError".into(),
            message: err.lines().last().unwrap_or("").trim().to_owned(),
            ..not_run(String::new())
        });
    }
    let sm = &doc["summary"];
    let n = |k: &str| sm[k].as_u64().unwrap_or(0);
    Ok(Validation {
        ok: code == 0,
        summary: format!(
            "{} digest(s) valid, {} invalid; {} log file(s) valid, {} invalid; {} strict failure(s)",
            n("digests_valid"),
            n("digests_invalid"),
            n("logs_valid"),
            n("logs_invalid"),
            n("strict_failures")
        ),
    })
}

async fn gather_checked(
    args: &CheckArgs,
    aws: &Aws,
    scope: &Scope,
    t: &Thresholds,
) -> Result<Facts> {
    let mut facts = gather(aws, scope, t).await;
    let trails = match &facts.trails {
        Ok(t) => t.clone(),
        Err(f) => bail!("cannot read the trails: {}", f.describe()),
    };
    if args.validate {
        for tr in trails.iter().filter(|t| t.validation) {
            let v = validate_trail(args, aws, &facts, tr);
            facts.validations.insert(tr.arn.clone(), v);
        }
    }
    Ok(facts)
}

fn confirm(n: usize) -> Result<bool> {
    eprint!("apply these {n} change(s)? [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

async fn run_fixes(
    aws: &Aws,
    args: &CheckArgs,
    facts: &Facts,
    results: &[CheckResult],
) -> Result<bool> {
    let plan = fix::plan(facts, results);
    if plan.is_empty() {
        eprintln!("fix: nothing that can be changed safely");
        return Ok(false);
    }
    for f in &plan {
        eprintln!("fix {}: {}", f.check, f.description);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to apply {} change(s) without --yes (stdin is not a terminal)",
                plan.len()
            );
        }
        if !confirm(plan.len())? {
            bail!("no change applied");
        }
    }
    for f in &plan {
        eprintln!("applying {}: {}", f.check, f.description);
        fix::apply(aws, f)
            .await
            .map_err(|e| anyhow::anyhow!("{} failed: {}", f.description, e.describe()))?;
    }
    Ok(true)
}

fn run_inner(args: &CheckArgs) -> Result<i32> {
    let t = thresholds(args)?;
    let settings = resolve(
        &Requested {
            profile: args.profile.clone(),
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
        },
        &ProcessEnv,
    )?;
    let endpoint = settings
        .endpoint_url
        .clone()
        .unwrap_or_else(|| "aws".into());
    let aws = Aws::new(settings).map_err(anyhow::Error::msg)?;
    let scope = Scope {
        regions: args.regions.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (facts, results) = rt.block_on(async {
        let mut facts = gather_checked(args, &aws, &scope, &t).await?;
        let mut results = eval::evaluate(&facts, &t);
        if args.fix && run_fixes(&aws, args, &facts, &results).await? {
            facts = gather_checked(args, &aws, &scope, &t).await?;
            results = eval::evaluate(&facts, &t);
        }
        anyhow::Ok((facts, results))
    })?;
    let code = report::exit_code(&results, args.strict);
    let run = report::RunInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        generated_at: facts
            .now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        region: facts.region.clone(),
        regions: facts.regions.list.clone(),
        endpoint,
    };
    let text = match args.format {
        Format::Table => report::table(&results),
        Format::Json => {
            serde_json::to_string_pretty(&report::json_report(&results, &run, code))? + "\n"
        }
        Format::Sarif => serde_json::to_string_pretty(&report::sarif(&results, &run))? + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(code)
}

/// Runs `cairn check`; returns the exit status.
pub(crate) fn run(args: &CheckArgs) -> i32 {
    match run_inner(args) {
        Ok(0) => EXIT_PASS,
        Ok(_) => EXIT_FINDINGS,
        Err(e) if crate::is_broken_pipe(&e) => EXIT_PASS,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}
