//! `cairn`: the server and the operator's tool.
//!
//! Exit codes: 0 success; 1 the command failed (one line on stderr says why); 2 usage error.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cairn_server::config::{Config, Overrides, RawConfig};
use clap::{Args, Parser, Subcommand};

mod bench;
mod buckets;
mod check;
mod client;
mod events;
mod ingest;
mod lifecycle;
mod policy;
mod query;
mod validate;

/// A self-hosted audit trail service that speaks AWS CloudTrail's API, log-file layout and
/// integrity scheme.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the state and configuration are.
#[derive(Debug, Args, Clone)]
struct Common {
    /// State directory (catalog, journal, buckets, keys).
    #[arg(long, env = "CAIRN_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file; unknown keys are rejected.
    #[arg(long, env = "CAIRN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: every API on one port, state under --data-dir (default ./cairn-data).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (IP:PORT; port 0 picks a free port).
        #[arg(long, env = "CAIRN_LISTEN", value_name = "ADDR")]
        listen: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key; overrides [tls]).
        #[arg(
            long,
            env = "CAIRN_TLS_CERT",
            value_name = "FILE",
            requires = "tls_key"
        )]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(
            long,
            env = "CAIRN_TLS_KEY",
            value_name = "FILE",
            requires = "tls_cert"
        )]
        tls_key: Option<PathBuf>,
    },
    /// Manage local buckets.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// Read the event journal.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Import CloudTrail records into a running server: log files as AWS delivers them
    /// ({"Records":[...]}, plain or gzip) or NDJSON. Uses AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY; exits 1 if any record was rejected (each is listed).
    Ingest {
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Server URL (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4590).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Region to sign for (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Validate a trail's log files against its signed digest chain (the `aws cloudtrail
    /// validate-logs` checks, plus stricter ones), online through Cairn or offline from a
    /// bucket directory. Exit status: 0 all valid; 1 something invalid or missing; 2 usage,
    /// configuration or connection error.
    Validate(Box<validate::ValidateArgs>),
    /// Posture check: proves each practice of the CloudTrail guide holds (or not), with
    /// evidence, on Cairn or any CloudTrail-compatible account, through the AWS APIs only.
    /// Exit status: 0 no finding; 1 a check failed; 2 error, nothing concluded.
    Check(Box<check::CheckArgs>),
    /// SQL over CloudTrail events: delivered log files (--bucket-path), a data directory
    /// (--data-dir), or a server's event data stores through the Lake API. See docs/SQL.md.
    Query(Box<query::QueryArgs>),
    /// Real-time monitoring: alarm packs on a trail's log group.
    Monitor {
        #[command(subcommand)]
        command: MonitorCommand,
    },
    /// IAM policies: explain a decision.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// IAM set-up helpers.
    Iam {
        #[command(subcommand)]
        command: IamCommand,
    },
    /// Virtual MFA devices (TOTP) for MFA delete on local buckets.
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
    /// Benchmark data: `cairn bench gen-logs` writes millions of synthetic events (real records
    /// with varied ids, times, users and keys) as delivered CloudTrail log files.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Show credentials for an account's root user.
    Credentials {
        #[command(flatten)]
        common: Common,
        /// Account ID (default: the configured default account).
        #[arg(long)]
        account: Option<String>,
        /// Endpoint to put in the export block (default: the configured listen address).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Write N synthetic events as gzip log files in CloudTrail's layout (what
    /// scripts/bench_sql.py queries).
    GenLogs(bench::GenLogsArgs),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Decide one request (principal, action, resource, condition keys) with AWS's
    /// evaluation logic and explain it: verdict, reason, matching statements, near misses.
    /// Exit status 0 whatever the decision.
    Simulate(Box<policy::SimulateArgs>),
}

#[derive(Debug, Subcommand)]
enum IamCommand {
    /// Create the recommended organization layout on a running server: an admin role in the
    /// management account, the trail bucket in a log-archive account, and a read-only
    /// auditor role in a security account assumable from the management account.
    InitOrg {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: policy::InitOrgArgs,
    },
}

#[derive(Debug, Subcommand)]
enum MfaCommand {
    /// Without --serial: create a virtual MFA device and print its secret as an otpauth://
    /// URI and a QR code for authenticator apps. With --serial and two consecutive codes
    /// (--code twice): activate it.
    Enable {
        #[command(flatten)]
        common: Common,
        /// Account ID (default: the configured default account).
        #[arg(long)]
        account: Option<String>,
        /// Device name (default: root-account-mfa-device).
        #[arg(long, default_value = "root-account-mfa-device")]
        name: String,
        /// Serial (ARN) of the device to activate.
        #[arg(long, requires = "code")]
        serial: Option<String>,
        /// Two consecutive codes from the device.
        #[arg(long, num_args = 1, action = clap::ArgAction::Append)]
        code: Vec<String>,
        /// Do not print the QR code.
        #[arg(long)]
        no_qr: bool,
    },
    /// List an account's MFA devices.
    List {
        #[command(flatten)]
        common: Common,
        /// Account ID (default: the configured default account).
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BucketCommand {
    /// Create a local bucket that trails can deliver to.
    Create {
        #[command(flatten)]
        common: Common,
        /// Bucket name (3-63 lowercase letters, digits, '.' and '-').
        name: String,
        /// Owning account (default: the configured default account).
        #[arg(long)]
        account: Option<String>,
        /// Region (default: the configured home region).
        #[arg(long)]
        region: Option<String>,
    },
    /// List local buckets.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// List the keys of a bucket (byte order), one per line.
    Ls {
        #[command(flatten)]
        common: Common,
        /// Bucket name.
        bucket: String,
        /// Only keys starting with this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Write an object's bytes to stdout (or --output).
    Get {
        #[command(flatten)]
        common: Common,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// File to write instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Put lifecycle rules (archive, expiry) on a bucket of an external S3-compatible service
    /// (`[buckets.<name>]`, `backend = "s3"`). FILE is the JSON document
    /// `aws s3api put-bucket-lifecycle-configuration` takes (`{"Rules": [...]}`). Cairn's local
    /// buckets take rules through its S3 API and apply them with their lifecycle worker.
    Lifecycle {
        #[command(flatten)]
        common: Common,
        /// Bucket name (as configured).
        bucket: String,
        /// The rules, as JSON.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MonitorCommand {
    /// Create an alarm pack's metric filters, alarms and notification topic on a log group
    /// (idempotent). `cis`: the 14 CIS AWS Foundations / Security Hub CloudWatch.1-14 filters
    /// with their exact pattern strings, one alarm each (Sum >= 1 over 300 s).
    Enable {
        /// The pack.
        #[arg(value_enum)]
        pack: Pack,
        /// Log group the trail streams to (its CloudWatchLogsLogGroupArn).
        #[arg(long, value_name = "NAME")]
        log_group: String,
        /// Topic the alarms notify.
        #[arg(long, default_value = "cis-alarms")]
        topic: String,
        /// Subscribe this endpoint to the topic (URL, or address for email).
        #[arg(long, value_name = "URL")]
        subscribe: Option<String>,
        /// Subscription protocol: http, https, webhook-slack, webhook-json.
        #[arg(long, default_value = "http")]
        protocol: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a notification topic (alarm actions name its ARN).
    CreateTopic {
        /// Topic name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Subscribe an endpoint to a topic: http/https (SNS-style signed JSON), webhook-slack,
    /// webhook-json, or email (needs [notifications.smtp] in the server's config).
    Subscribe {
        /// Topic ARN.
        topic_arn: String,
        /// Protocol.
        #[arg(long)]
        protocol: String,
        /// URL, or e-mail address.
        #[arg(long)]
        endpoint: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List topics and their subscriptions.
    Topics {
        #[command(flatten)]
        remote: Remote,
    },
}

/// Where the CLI's monitor calls go.
#[derive(Debug, Args, Clone)]
struct Remote {
    /// Server URL (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4590).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Region (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
}

/// Calls `POST /_cairn/monitor/<path>` and prints the JSON answer.
fn monitor_call(remote: Remote, path: &str, body: serde_json::Value) -> Result<()> {
    let client = client::Client::from_env("LOGS", remote.endpoint_url, remote.region)?;
    let reply = client.post(
        "logs",
        &format!("/_cairn/monitor/{path}"),
        "application/json",
        body.to_string().as_bytes(),
    )?;
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    if reply.status != 200 {
        bail!(
            "the server refused: {} {}",
            reply.error_type.unwrap_or_default(),
            v["message"].as_str().unwrap_or("")
        );
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Alarm packs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Pack {
    /// CIS AWS Foundations Benchmark / Security Hub CloudWatch.1-14.
    Cis,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Print journal records as JSON lines, oldest first.
    Tail {
        #[command(flatten)]
        common: Common,
        /// Start at this sequence number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print only the last N records.
        #[arg(short = 'n', long)]
        last: Option<usize>,
        /// Keep waiting for new records.
        #[arg(short, long)]
        follow: bool,
    },
}

fn load_config(common: &Common, listen: Option<String>) -> Result<Config> {
    let raw = match &common.config {
        Some(p) => RawConfig::from_file(p)?,
        None => RawConfig::default(),
    };
    let overrides = Overrides {
        listen,
        data_dir: common.data_dir.clone(),
    };
    Ok(raw.validate(&overrides)?)
}

fn env_pair() -> Result<Option<(String, String)>> {
    let id = std::env::var("CAIRN_ROOT_ACCESS_KEY_ID").ok();
    let secret = std::env::var("CAIRN_ROOT_SECRET_ACCESS_KEY").ok();
    match (id, secret) {
        (Some(i), Some(s)) => Ok(Some((i, s))),
        (None, None) => Ok(None),
        _ => {
            bail!("set both CAIRN_ROOT_ACCESS_KEY_ID and CAIRN_ROOT_SECRET_ACCESS_KEY, or neither")
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Whether `e` comes from writing to a closed stdout (`cairn ... | head`): not a failure.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            common,
            listen,
            tls_cert,
            tls_key,
        } => {
            let tls = tls_cert.zip(tls_key).map(|(cert_file, key_file)| {
                cairn_server::config::TlsConfig {
                    cert_file,
                    key_file,
                }
            });
            serve(common, listen, tls)
        }
        Command::Bucket { command } => bucket(command),
        Command::Events { command } => match command {
            EventsCommand::Tail {
                common,
                from,
                last,
                follow,
            } => {
                let config = load_config(&common, None)?;
                events::tail(&config, from, last, follow)
            }
        },
        Command::Ingest {
            files,
            endpoint_url,
            region,
            quiet,
        } => ingest::run(&files, endpoint_url, region, quiet),
        Command::Query(args) => query::run(&args),
        Command::Bench {
            command: BenchCommand::GenLogs(args),
        } => bench::gen_logs(&args),
        Command::Validate(args) => {
            let code = validate::run(&args);
            std::process::exit(code)
        }
        Command::Check(args) => std::process::exit(check::run(&args)),
        Command::Monitor { command } => monitor(command),
        Command::Policy {
            command: PolicyCommand::Simulate(args),
        } => policy::simulate(&args),
        Command::Iam {
            command: IamCommand::InitOrg { common, args },
        } => iam_init_org(&common, &args),
        Command::Mfa { command } => mfa(command),
        Command::Credentials {
            common,
            account,
            endpoint_url,
        } => credentials(&common, account, endpoint_url),
    }
}

/// `cairn bucket ...`: the local buckets.
fn bucket(command: BucketCommand) -> Result<()> {
    match command {
        BucketCommand::Create {
            common,
            name,
            account,
            region,
        } => bucket_create(&common, &name, account, region),
        BucketCommand::Ls {
            common,
            bucket,
            prefix,
        } => buckets::ls(&load_config(&common, None)?, &bucket, &prefix),
        BucketCommand::Get {
            common,
            bucket,
            key,
            output,
        } => buckets::get(
            &load_config(&common, None)?,
            &bucket,
            &key,
            output.as_deref(),
        ),
        BucketCommand::Lifecycle {
            common,
            bucket,
            file,
        } => lifecycle::put(&load_config(&common, None)?, &bucket, &file),
        BucketCommand::List { common } => {
            let config = load_config(&common, None)?;
            let catalog = open_catalog(&config)?;
            let mut out = std::io::stdout().lock();
            for b in catalog.buckets()? {
                writeln!(out, "{}\t{}\t{}", b.name, b.account_id, b.region)?;
            }
            Ok(())
        }
    }
}

/// `cairn monitor ...`: calls to a running server's monitor API.
fn monitor(command: MonitorCommand) -> Result<()> {
    match command {
        MonitorCommand::Enable {
            pack: Pack::Cis,
            log_group,
            topic,
            subscribe,
            protocol,
            remote,
        } => {
            let mut body = serde_json::json!({
                "logGroupName": log_group, "topicName": topic, "subscriberProtocol": protocol,
            });
            if let Some(s) = subscribe {
                body["subscriberEndpoint"] = serde_json::Value::String(s);
            }
            monitor_call(remote, "enable-cis", body)
        }
        MonitorCommand::CreateTopic { name, remote } => {
            monitor_call(remote, "create-topic", serde_json::json!({ "name": name }))
        }
        MonitorCommand::Subscribe {
            topic_arn,
            protocol,
            endpoint,
            remote,
        } => monitor_call(
            remote,
            "subscribe",
            serde_json::json!({"topicArn": topic_arn, "protocol": protocol, "endpoint": endpoint}),
        ),
        MonitorCommand::Topics { remote } => {
            monitor_call(remote, "list-topics", serde_json::json!({}))
        }
    }
}

/// `cairn iam init-org`: the recommended organization layout, with the root credentials and
/// the bucket creation of this state directory.
fn iam_init_org(common: &Common, args: &policy::InitOrgArgs) -> Result<()> {
    let config = load_config(common, None)?;
    let (catalog, creds) = credential_store(&config)?;
    let root_of = |account: &str| root_keys(&creds, account);
    let create_bucket = |name: &str, account: &str| -> Result<bool> {
        if catalog.bucket(name)?.is_some() {
            return Ok(false);
        }
        bucket_create(common, name, Some(account.to_owned()), None)?;
        Ok(true)
    };
    policy::init_org(&config, &root_of, &create_bucket, args)
}

/// The catalog and the accounts' credentials in it, sealed with the master key of the state
/// directory (loaded first, created if missing; `CAIRN_MASTER_KEY` overrides).
fn credential_store(
    config: &Config,
) -> Result<(
    Arc<cairn_server::catalog::Catalog>,
    cairn_server::identity::Credentials,
)> {
    let master = cairn_server::secrets::MasterKey::load_or_create(
        &config.data_dir,
        std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
    )?;
    let catalog = Arc::new(open_catalog(config)?);
    let creds = cairn_server::identity::Credentials::new(catalog.clone(), Arc::new(master));
    Ok((catalog, creds))
}

/// The root key pair (access key ID, secret) of `account`; an error if it has none yet.
fn root_keys(
    creds: &cairn_server::identity::Credentials,
    account: &str,
) -> Result<(String, String)> {
    creds.root_of(account)?.with_context(|| {
        format!(
            "account {account} has no root credentials (start `cairn serve` once with it configured)"
        )
    })
}

/// `cairn credentials`: prints the export block of an account's root key pair.
fn credentials(
    common: &Common,
    account: Option<String>,
    endpoint_url: Option<String>,
) -> Result<()> {
    let config = load_config(common, None)?;
    let account = account.unwrap_or_else(|| config.account_id.to_string());
    let (_, creds) = credential_store(&config)?;
    let endpoint = endpoint_url.unwrap_or_else(|| default_endpoint(&config));
    let (id, secret) = root_keys(&creds, &account)?;
    print!("{}", export_block(&id, &secret, Some(&endpoint), &config));
    Ok(())
}

/// The `export` lines of a key pair, the endpoint and the home region: everything the AWS CLI
/// needs to talk to this server (`eval "$(cairn credentials ...)"`).
fn export_block(
    access_key_id: &str,
    secret: &str,
    endpoint: Option<&str>,
    config: &cairn_server::config::Config,
) -> String {
    let region = &config.home_region;
    format!(
        "{}export AWS_REGION={region}\nexport AWS_DEFAULT_REGION={region}\n",
        cairn_server::identity::export_block(access_key_id, secret, endpoint)
    )
}

/// The endpoint of the configured listener, as a client on this machine reaches it (an
/// unspecified address becomes loopback).
fn default_endpoint(config: &cairn_server::config::Config) -> String {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("{scheme}://{addr}")
}

/// What `cairn serve` prints on its first start: the root credentials as an `export` block
/// and the next three commands of the README's first steps.
fn first_start_banner(
    config: &cairn_server::config::Config,
    data_dir: &std::path::Path,
    exports: &str,
) -> String {
    let account = &config.account_id;
    let region = &config.home_region;
    format!(
        "generated root credentials for account {account} (saved to {creds}):\n\n\
         {exports}\n\
         Next, in another shell (after the export lines above, or `eval \"$(cairn credentials)\"`):\n\
         \x20 cairn bucket create my-trail-logs\n\
         \x20 aws cloudtrail create-trail --name audit --s3-bucket-name my-trail-logs --is-multi-region-trail --enable-log-file-validation\n\
         \x20 aws cloudtrail start-logging --name audit\n\
         Then `aws cloudtrail lookup-events --max-results 5` shows those calls ({region}); README.md has the rest.\n",
        creds = data_dir.join("root-credentials").display(),
    )
}

fn mfa(command: MfaCommand) -> Result<()> {
    use cairn_server::mfa;
    let (common, account) = match &command {
        MfaCommand::Enable {
            common, account, ..
        }
        | MfaCommand::List { common, account } => (common, account),
    };
    let config = load_config(common, None)?;
    let account = account
        .clone()
        .unwrap_or_else(|| config.account_id.to_string());
    let catalog = open_catalog(&config)?;
    let master = cairn_server::secrets::MasterKey::load_or_create(
        &config.data_dir,
        std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
    )?;
    let now = time::OffsetDateTime::now_utc();
    match command {
        MfaCommand::List { .. } => {
            for d in mfa::list_devices(&catalog, &account)? {
                println!(
                    "{}\t{}",
                    d.serial,
                    if d.enabled { "enabled" } else { "pending" }
                );
            }
            Ok(())
        }
        MfaCommand::Enable {
            serial: Some(serial),
            code,
            ..
        } => {
            let [c1, c2] = code.as_slice() else {
                bail!("give two consecutive codes: --code CODE1 --code CODE2");
            };
            mfa::enable_device(&catalog, &master, &account, &serial, c1, c2, now)?;
            println!("enabled MFA device {serial}");
            Ok(())
        }
        MfaCommand::Enable {
            serial: None,
            name,
            no_qr,
            ..
        } => {
            let d = mfa::create_virtual_device(&catalog, &master, &account, &name, now)?;
            println!("serial: {}", d.serial);
            println!("uri: {}", d.otpauth_uri);
            if !no_qr {
                let qr = qrcode::QrCode::new(d.otpauth_uri.as_bytes())
                    .context("rendering the QR code")?;
                println!(
                    "{}",
                    qr.render::<qrcode::render::unicode::Dense1x2>()
                        .quiet_zone(true)
                        .build()
                );
            }
            println!(
                "activate with: cairn mfa enable --account {account} --serial {} --code CODE1 --code CODE2",
                d.serial
            );
            Ok(())
        }
    }
}

fn open_catalog(config: &Config) -> Result<cairn_server::catalog::Catalog> {
    // Whatever this command writes under the data directory stays private (0600/0700).
    cairn_server::state::private_umask();
    if !config.data_dir.join("catalog.sqlite").exists() {
        cairn_server::state::prepare_data_dir(&config.data_dir)?;
    }
    cairn_server::catalog::Catalog::open(&config.data_dir)
        .with_context(|| format!("opening the catalog in {}", config.data_dir.display()))
}

fn bucket_create(
    common: &Common,
    name: &str,
    account: Option<String>,
    region: Option<String>,
) -> Result<()> {
    let config = load_config(common, None)?;
    if let Some(problem) = cairn_server::cloudtrail::bucket_name_problem(name) {
        bail!("bucket name `{name}` is not valid: it {problem}");
    }
    let account = account.unwrap_or_else(|| config.account_id.to_string());
    if !config.accounts().iter().any(|a| a.as_str() == account) {
        bail!(
            "account {account} is not configured (accounts: the default account and organization members)"
        );
    }
    let region = region.unwrap_or_else(|| config.home_region.to_string());
    if !config.region_enabled(&region) {
        bail!("region {region} is not enabled in the configuration");
    }
    let catalog = open_catalog(&config)?;
    std::fs::create_dir_all(config.data_dir.join("buckets").join(name))
        .with_context(|| format!("creating the bucket directory for {name}"))?;
    catalog.create_bucket(&cairn_server::model::Bucket {
        name: name.to_owned(),
        account_id: account.clone(),
        region: region.clone(),
        created: time_now(),
    })?;
    println!("created bucket {name} (account {account}, region {region})");
    Ok(())
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn serve(
    common: Common,
    listen: Option<String>,
    tls: Option<cairn_server::config::TlsConfig>,
) -> Result<()> {
    let mut config = load_config(&common, listen)?;
    if tls.is_some() {
        config.tls = tls;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let data_dir = config.data_dir.clone();
        let (state, boot) = cairn_server::state::AppState::open(
            config,
            env_pair()?,
            std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
        )?;
        let server = cairn_server::serve::Server::bind(Arc::new(state)).await?;
        let addr = server.local_addr()?;
        let scheme = if server.is_tls() { "https" } else { "http" };
        let shutdown =
            cairn_server::serve::shutdown_signal().context("installing signal handlers")?;
        if boot.generated {
            eprintln!(
                "{}",
                first_start_banner(
                    server.state().config.as_ref(),
                    &data_dir,
                    &export_block(
                        &boot.access_key_id,
                        &boot.secret,
                        Some(&format!("{scheme}://{addr}")),
                        server.state().config.as_ref(),
                    ),
                )
            );
        }
        // A single machine-readable line on stdout: tests and scripts read the port here.
        println!("listening on {addr}");
        std::io::stdout().flush()?;
        tracing::info!(%addr, scheme, data_dir = %data_dir.display(), "cairn serving");
        server.run(shutdown).await?;
        tracing::info!("shut down cleanly");
        Ok(())
    })
}
