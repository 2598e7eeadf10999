//! Configuration: a raw TOML shape (unknown keys rejected) validated into [`Config`].
//!
//! Runtime knobs (listen address, data directory) come from flags or `CAIRN_*` variables and
//! override the file; everything that shapes the audit pipeline lives in the file.
//!
//! ```toml
//! version = 1
//! account_id = "123456789012"
//! home_region = "us-east-1"
//! regions = ["us-east-1", "eu-west-1"]
//!
//! [organization]
//! id = "o-exampleorgid"
//! member_accounts = ["210987654321"]
//!
//! [import]
//! accounts = ["218007301253"]
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_event::{AccountId, OrganizationId, Region, default_regions};
use serde::Deserialize;

/// The configuration file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Format version of this file; only `1` exists (the default).
    pub version: Option<u32>,
    /// Address to listen on (flag `--listen` wins).
    pub listen: Option<String>,
    /// State directory (flag `--data-dir` wins).
    pub data_dir: Option<PathBuf>,
    /// The default account: the one the bootstrap root credentials belong to.
    pub account_id: Option<String>,
    /// The home region for requests that do not name one.
    pub home_region: Option<String>,
    /// Enabled regions; default: the public AWS commercial regions.
    pub regions: Option<Vec<String>>,
    /// An AWS Organizations-style organization whose management account is `account_id`.
    pub organization: Option<RawOrganization>,
    /// Event pipeline settings.
    #[serde(default)]
    pub delivery: RawDelivery,
    /// Notification delivery for alarms (`[notifications]`).
    #[serde(default)]
    pub notifications: RawNotifications,
    /// Buckets on other storage (`[buckets.<name>]`, e.g. an S3-compatible service). Local
    /// buckets made with `cairn bucket create` need no entry.
    #[serde(default)]
    pub buckets: std::collections::BTreeMap<String, cairn_store::BucketConfig>,
    /// IAM and STS settings (`[iam]`).
    #[serde(default)]
    pub iam: RawIam,
    /// Lifecycle worker of local buckets (`[lifecycle]`).
    #[serde(default)]
    pub lifecycle: RawLifecycle,
    /// Serve HTTPS (`[tls]`; flags `--tls-cert` / `--tls-key` win).
    pub tls: Option<TlsConfig>,
    /// Other accounts whose existing CloudTrail logs may be imported (`[import]`).
    #[serde(default)]
    pub import: RawImport,
}

/// `[import]`: accounts outside this server whose logs an administrator may ingest (e.g. the
/// CloudTrail logs of an AWS account, to search them next to Cairn's own).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImport {
    /// 12-digit account IDs. Only the management account's root, or a principal allowed
    /// `cairn:IngestForAnyAccount`, may ingest records of these accounts.
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// `[tls]`: the server's certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (leaf first), PEM.
    pub cert_file: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_file: PathBuf,
}

/// `[iam]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIam {
    /// TEST-ONLY override of the smallest `DurationSeconds` that `AssumeRole` accepts
    /// (AWS's minimum, and the default, is 900). Lets tests see a session expire without
    /// waiting 15 minutes; never set it in production.
    pub min_session_seconds: Option<u32>,
}

/// Validated `[iam]` settings.
#[derive(Debug, Clone)]
pub struct IamConfig {
    /// Smallest `DurationSeconds` accepted by `AssumeRole` (900 unless overridden for tests).
    pub min_session_seconds: u32,
    /// Whether requests are authorized against IAM policies. Always `true` from a config
    /// file; only benchmarks set it to `false` (in code) to measure authorization's cost.
    pub authorization: bool,
}

impl Default for IamConfig {
    fn default() -> Self {
        Self {
            min_session_seconds: 900,
            authorization: true,
        }
    }
}

/// `[lifecycle]`: how the lifecycle worker of local buckets runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    /// How often lifecycle rules are applied, e.g. `"1h"` (default 1 hour).
    pub interval: Option<String>,
    /// The length of a rule "day" (default `"24h"`; tests shrink it to seconds).
    pub day: Option<String>,
}

/// `[organization]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrganization {
    /// `o-` followed by 10..=32 lowercase letters or digits.
    pub id: String,
    /// Member accounts (12 digits each), besides the management account.
    #[serde(default)]
    pub member_accounts: Vec<String>,
}

/// `[notifications]`: how alarm notifications reach e-mail and HTTPS subscribers.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifications {
    /// PEM files of extra CA certificates trusted for HTTPS subscribers and SMTP STARTTLS
    /// (Mozilla's roots are always trusted).
    #[serde(default)]
    pub extra_ca_files: Vec<PathBuf>,
    /// SMTP relay for `email` subscriptions; without it e-mail subscriptions are refused.
    pub smtp: Option<RawSmtp>,
}

/// `[notifications.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// Relay host.
    pub host: String,
    /// Relay port (default 25).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Sender, e.g. `Cairn <cairn@example.com>`.
    pub from: String,
    /// Login name, if the relay needs one.
    pub username: Option<String>,
    /// Environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// Require STARTTLS (default false, for local relays).
    #[serde(default)]
    pub starttls: bool,
}

fn default_smtp_port() -> u16 {
    25
}

/// `[delivery]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    /// How often log files are delivered, e.g. `"5m"`, `"30s"`, `"1s"` (default 5 minutes).
    pub interval: Option<String>,
    /// Digest period, e.g. `"1h"` (default 1 hour).
    pub digest_period: Option<String>,
    /// Largest journal on disk before ingest is throttled, in MiB (default 4096).
    pub journal_max_mib: Option<u64>,
    /// Validity of each digest signing key, e.g. `"720h"` (default 30 days); a key is replaced
    /// in the last tenth of its window (at most its last hour).
    pub key_rotation: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// State directory.
    pub data_dir: PathBuf,
    /// The default (management) account.
    pub account_id: AccountId,
    /// Default region.
    pub home_region: Region,
    /// Enabled regions (contains `home_region`).
    pub regions: BTreeSet<Region>,
    /// The organization, if any.
    pub organization: Option<Organization>,
    /// Log-file delivery interval.
    pub delivery_interval: Duration,
    /// Digest period.
    pub digest_period: Duration,
    /// Journal size limit in bytes.
    pub journal_max_bytes: u64,
    /// Validity window of each digest signing key.
    pub key_rotation: Duration,
    /// Buckets configured on other storage, by name.
    pub buckets: std::collections::BTreeMap<String, cairn_store::BucketConfig>,
    /// How often the lifecycle worker applies local buckets' rules.
    pub lifecycle_interval: Duration,
    /// The length of a lifecycle-rule day.
    pub lifecycle_day: Duration,
    /// Alarm notification delivery settings.
    pub notifications: RawNotifications,
    /// IAM and STS settings.
    pub iam: IamConfig,
    /// HTTPS instead of HTTP, when set.
    pub tls: Option<TlsConfig>,
    /// Accounts whose logs may be imported (`[import] accounts`), besides the organization.
    pub import_accounts: BTreeSet<AccountId>,
}

/// A validated organization.
#[derive(Debug, Clone)]
pub struct Organization {
    /// `o-...`.
    pub id: OrganizationId,
    /// The management account (= the configured `account_id`).
    pub management_account: AccountId,
    /// Member accounts, excluding the management account.
    pub member_accounts: BTreeSet<AccountId>,
}

impl Organization {
    /// Whether `account` belongs to the organization (management or member).
    pub fn contains(&self, account: &str) -> bool {
        self.management_account.as_str() == account
            || self.member_accounts.iter().any(|a| a.as_str() == account)
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// The TOML parser's message (names the key and line).
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Overrides from flags and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// The default account ID when none is configured.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4590";

impl RawConfig {
    /// Reads and parses a TOML file (unknown keys are errors).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// Validates into a [`Config`], applying overrides.
    pub fn validate(self, overrides: &Overrides) -> Result<Config, ConfigError> {
        if let Some(v) = self.version.filter(|v| *v != 1) {
            return Err(invalid(format!("version = {v} is not supported (only 1)")));
        }
        let listen = listen_address(overrides.listen.clone().or(self.listen))?;
        let data_dir = overrides
            .data_dir
            .clone()
            .or(self.data_dir)
            .unwrap_or_else(|| PathBuf::from("cairn-data"));
        let account_id = AccountId::parse(self.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID))
            .map_err(|e| invalid(e.to_string()))?;
        let (regions, home_region) = regions(self.regions, self.home_region.as_deref())?;
        let organization = organization(self.organization, &account_id)?;
        let import_accounts = import_accounts(&self.import.accounts)?;
        let schedule = schedule(&self.delivery, &self.lifecycle)?;
        check_buckets_and_notifications(&self.buckets, &self.notifications)?;
        let iam = iam(&self.iam)?;
        Ok(Config {
            tls: self.tls,
            import_accounts,
            iam,
            notifications: self.notifications,
            buckets: self.buckets,
            lifecycle_interval: schedule.lifecycle_interval,
            lifecycle_day: schedule.lifecycle_day,
            listen,
            data_dir,
            account_id,
            home_region,
            regions,
            organization,
            delivery_interval: schedule.delivery_interval,
            digest_period: schedule.digest_period,
            key_rotation: schedule.key_rotation,
            journal_max_bytes: schedule.journal_max_bytes,
        })
    }
}

/// A [`ConfigError::Invalid`] with this message.
fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

/// The listen address (flag, file, else [`DEFAULT_LISTEN`]) as IP:PORT.
fn listen_address(text: Option<String>) -> Result<SocketAddr, ConfigError> {
    let listen_text = text.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    listen_text.parse().map_err(|_| {
        invalid(format!(
            "listen address `{listen_text}` is not of the form IP:PORT"
        ))
    })
}

/// The served Regions (default: every default Region; never empty) and the home Region
/// (default `us-east-1`), which must be one of them.
fn regions(
    list: Option<Vec<String>>,
    home: Option<&str>,
) -> Result<(BTreeSet<Region>, Region), ConfigError> {
    let regions: BTreeSet<Region> = match list {
        None => default_regions().into_iter().collect(),
        Some(list) => {
            if list.is_empty() {
                return Err(invalid("regions must not be empty".into()));
            }
            list.iter()
                .map(|r| Region::parse(r).map_err(|e| invalid(e.to_string())))
                .collect::<Result<_, _>>()?
        }
    };
    let home_region =
        Region::parse(home.unwrap_or("us-east-1")).map_err(|e| invalid(e.to_string()))?;
    if !regions.contains(&home_region) {
        return Err(invalid(format!(
            "home_region {home_region} is not in the configured regions"
        )));
    }
    Ok((regions, home_region))
}

/// The `[organization]` section: its ID and member accounts (each once, never the
/// management account `management`).
fn organization(
    raw: Option<RawOrganization>,
    management: &AccountId,
) -> Result<Option<Organization>, ConfigError> {
    let Some(o) = raw else {
        return Ok(None);
    };
    let id = OrganizationId::parse(&o.id).map_err(|e| invalid(e.to_string()))?;
    let mut members = BTreeSet::new();
    for m in &o.member_accounts {
        let a = AccountId::parse(m).map_err(|e| invalid(e.to_string()))?;
        if a == *management {
            return Err(invalid(format!(
                "organization member {a} is the management account itself"
            )));
        }
        if !members.insert(a) {
            return Err(invalid(format!("organization member {m} is listed twice")));
        }
    }
    Ok(Some(Organization {
        id,
        management_account: management.clone(),
        member_accounts: members,
    }))
}

/// `import.accounts`: account IDs, each once.
fn import_accounts(accounts: &[String]) -> Result<BTreeSet<AccountId>, ConfigError> {
    let mut import_accounts = BTreeSet::new();
    for a in accounts {
        let id = AccountId::parse(a).map_err(|e| invalid(format!("import.accounts: {e}")))?;
        if !import_accounts.insert(id) {
            return Err(invalid(format!("import.accounts lists {a} twice")));
        }
    }
    Ok(import_accounts)
}

/// The periods and limits of the delivery and lifecycle workers, validated.
struct Schedule {
    delivery_interval: Duration,
    digest_period: Duration,
    key_rotation: Duration,
    lifecycle_interval: Duration,
    lifecycle_day: Duration,
    journal_max_bytes: u64,
}

/// The `[delivery]` and `[lifecycle]` sections, with their defaults and bounds.
fn schedule(delivery: &RawDelivery, lifecycle: &RawLifecycle) -> Result<Schedule, ConfigError> {
    let second = Duration::from_secs(1);
    let delivery_interval = bounded_duration(
        delivery.interval.as_deref().unwrap_or("5m"),
        "delivery.interval",
        second..=Duration::from_secs(3600),
        "between 1s and 1h",
    )?;
    let digest_period = bounded_duration(
        delivery.digest_period.as_deref().unwrap_or("1h"),
        "delivery.digest_period",
        second..=Duration::from_secs(86_400),
        "between 1s and 24h",
    )?;
    let key_rotation = bounded_duration(
        delivery.key_rotation.as_deref().unwrap_or("720h"),
        "delivery.key_rotation",
        second..=Duration::MAX,
        "at least 1s",
    )?;
    let lifecycle_interval = parse_duration(
        lifecycle.interval.as_deref().unwrap_or("1h"),
        "lifecycle.interval",
    )?;
    let lifecycle_day = parse_duration(lifecycle.day.as_deref().unwrap_or("24h"), "lifecycle.day")?;
    if lifecycle_interval < Duration::from_secs(1) || lifecycle_day < Duration::from_secs(1) {
        return Err(invalid(
            "lifecycle.interval and lifecycle.day must be at least 1s".into(),
        ));
    }
    let journal_max_mib = delivery.journal_max_mib.unwrap_or(4096);
    if journal_max_mib < 16 {
        return Err(invalid(
            "delivery.journal_max_mib must be at least 16".into(),
        ));
    }
    Ok(Schedule {
        delivery_interval,
        digest_period,
        key_rotation,
        lifecycle_interval,
        lifecycle_day,
        journal_max_bytes: journal_max_mib * 1024 * 1024,
    })
}

/// [`parse_duration`] of `text`, which must be in `range` (`bounds` says so in words).
fn bounded_duration(
    text: &str,
    what: &str,
    range: std::ops::RangeInclusive<Duration>,
    bounds: &str,
) -> Result<Duration, ConfigError> {
    let d = parse_duration(text, what)?;
    if !range.contains(&d) {
        return Err(invalid(format!("{what} must be {bounds}")));
    }
    Ok(d)
}

/// Bucket names are valid, extra CA files exist, and the SMTP password variable is set.
fn check_buckets_and_notifications(
    buckets: &std::collections::BTreeMap<String, cairn_store::BucketConfig>,
    notifications: &RawNotifications,
) -> Result<(), ConfigError> {
    for name in buckets.keys() {
        if let Some(problem) = crate::cloudtrail::bucket_name_problem(name) {
            return Err(invalid(format!(
                "bucket name `{name}` is not valid: it {problem}"
            )));
        }
    }
    for f in &notifications.extra_ca_files {
        if !f.is_file() {
            return Err(invalid(format!(
                "notifications.extra_ca_files: {} is not a readable file",
                f.display()
            )));
        }
    }
    if let Some(smtp) = &notifications.smtp
        && let Some(var) = &smtp.password_env
        && std::env::var(var).is_err()
    {
        return Err(invalid(format!(
            "notifications.smtp.password_env names {var}, which is not set"
        )));
    }
    Ok(())
}

/// The `[iam]` section: `min_session_seconds` (default 900) in 1..=900.
fn iam(raw: &RawIam) -> Result<IamConfig, ConfigError> {
    let min_session_seconds = raw.min_session_seconds.unwrap_or(900);
    if !(1..=900).contains(&min_session_seconds) {
        return Err(invalid(
            "iam.min_session_seconds must be between 1 and 900".into(),
        ));
    }
    Ok(IamConfig {
        min_session_seconds,
        authorization: true,
    })
}

/// Parses `90s`, `5m`, `1h`, `250ms` or a bare number of seconds.
pub fn parse_duration(text: &str, what: &str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let (num, mult_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (t, 1000)
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        ConfigError::Invalid(format!(
            "{what} = `{text}` is not a duration (examples: 500ms, 30s, 5m, 1h)"
        ))
    })?;
    Ok(Duration::from_millis(n.saturating_mul(mult_ms)))
}

impl Config {
    /// A configuration with every default, rooted at `data_dir` (used by tests).
    pub fn for_data_dir(data_dir: &Path) -> Config {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_owned()),
        };
        // The defaults are valid by construction; a failure here is a bug in this module.
        RawConfig::default()
            .validate(&overrides)
            .unwrap_or_else(|e| panic!("default config invalid: {e}"))
    }

    /// Whether `region` is enabled.
    pub fn region_enabled(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r.as_str() == region)
    }

    /// Every account this server knows: the default one and organization members.
    pub fn accounts(&self) -> Vec<AccountId> {
        let mut v = vec![self.account_id.clone()];
        if let Some(o) = &self.organization {
            v.extend(o.member_accounts.iter().cloned());
        }
        v
    }

    /// Every account whose records an administrator may ingest: [`Config::accounts`] and the
    /// `[import] accounts`.
    pub fn ingest_accounts(&self) -> Vec<AccountId> {
        let mut v = self.accounts();
        v.extend(
            self.import_accounts
                .iter()
                .filter(|a| **a != self.account_id)
                .cloned(),
        );
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_accounts_are_validated_and_ingestable() {
        let raw: RawConfig =
            toml::from_str("[import]\naccounts = [\"218007301253\", \"123837392027\"]\n").unwrap();
        let c = raw.validate(&Overrides::default()).unwrap();
        let ids: Vec<String> = c.ingest_accounts().iter().map(|a| a.to_string()).collect();
        assert!(ids.contains(&"218007301253".to_owned()));
        assert!(ids.contains(&"123837392027".to_owned()));
        assert!(ids.contains(&DEFAULT_ACCOUNT_ID.to_owned()));
        assert!(!c.accounts().iter().any(|a| a.as_str() == "218007301253"));
        let bad: RawConfig = toml::from_str("[import]\naccounts = [\"12\"]\n").unwrap();
        let e = bad.validate(&Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("import.accounts"), "{e}");
        let twice: RawConfig =
            toml::from_str("[import]\naccounts = [\"218007301253\", \"218007301253\"]\n").unwrap();
        assert!(twice.validate(&Overrides::default()).is_err());
    }

    #[test]
    fn defaults_validate() {
        let c = RawConfig::default()
            .validate(&Overrides::default())
            .unwrap();
        assert_eq!(c.account_id.as_str(), DEFAULT_ACCOUNT_ID);
        assert_eq!(c.home_region.as_str(), "us-east-1");
        assert!(c.regions.len() > 20);
        assert_eq!(c.delivery_interval, Duration::from_secs(300));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn tls_section_is_read() {
        let c = RawConfig::from_toml("[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"")
            .unwrap()
            .validate(&Overrides::default())
            .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert_file, PathBuf::from("c.pem"));
        assert_eq!(tls.key_file, PathBuf::from("k.pem"));
        assert!(RawConfig::from_toml("[tls]\ncert_file = \"c.pem\"").is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = RawConfig::from_toml("acount_id = \"123456789012\"").unwrap_err();
        assert!(err.contains("acount_id"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for (text, needle) in [
            ("account_id = \"12\"", "12 digits"),
            ("regions = []", "must not be empty"),
            ("regions = [\"eu-west-1\"]", "home_region"),
            ("version = 2", "version"),
            ("[organization]\nid = \"o-x\"", "organization id"),
            ("[delivery]\ninterval = \"soon\"", "not a duration"),
            ("[delivery]\ninterval = \"2h\"", "between 1s and 1h"),
            ("listen = \"localhost\"", "IP:PORT"),
        ] {
            let raw = RawConfig::from_toml(text).unwrap();
            let err = raw.validate(&Overrides::default()).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn every_section_check_rejects() {
        for (text, needle) in [
            (
                "[delivery]\ndigest_period = \"25h\"",
                "digest_period must be between",
            ),
            ("[delivery]\nkey_rotation = \"0s\"", "key_rotation must be"),
            (
                "[buckets.Bad_Bucket]\nbackend = \"local\"",
                "bucket name `Bad_Bucket` is not valid",
            ),
            ("[delivery]\njournal_max_mib = 15", "journal_max_mib"),
            ("[lifecycle]\nday = \"0s\"", "lifecycle.day must be"),
            ("[lifecycle]\ninterval = \"0ms\"", "lifecycle.interval"),
            ("[iam]\nmin_session_seconds = 901", "min_session_seconds"),
            ("[iam]\nmin_session_seconds = 0", "min_session_seconds"),
            (
                "[notifications]\nextra_ca_files = [\"/nonexistent/cairn-ca.pem\"]",
                "extra_ca_files",
            ),
            (
                "[notifications.smtp]\nhost = \"h\"\nfrom = \"a@b\"\npassword_env = \"CAIRN_TEST_UNSET_SMTP_PASSWORD\"",
                "password_env names CAIRN_TEST_UNSET_SMTP_PASSWORD",
            ),
            (
                "account_id = \"111111111111\"\n[organization]\nid = \"o-exampleorgid\"\nmember_accounts = [\"111111111111\"]",
                "management account itself",
            ),
            (
                "[organization]\nid = \"o-exampleorgid\"\nmember_accounts = [\"222222222222\", \"222222222222\"]",
                "listed twice",
            ),
            (
                "[import]\naccounts = [\"218007301253\", \"218007301253\"]",
                "twice",
            ),
        ] {
            let raw = RawConfig::from_toml(text).unwrap();
            let err = raw.validate(&Overrides::default()).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn schedule_defaults_and_values() {
        let c = RawConfig::default()
            .validate(&Overrides::default())
            .unwrap();
        assert_eq!(c.digest_period, Duration::from_secs(3600));
        assert_eq!(c.key_rotation, Duration::from_secs(720 * 3600));
        assert_eq!(c.lifecycle_interval, Duration::from_secs(3600));
        assert_eq!(c.lifecycle_day, Duration::from_secs(86_400));
        assert_eq!(c.journal_max_bytes, 4096 * 1024 * 1024);
        assert_eq!(c.iam.min_session_seconds, 900);
        let c = RawConfig::from_toml(
            "[delivery]\ninterval = \"30s\"\ndigest_period = \"2m\"\njournal_max_mib = 16\n[lifecycle]\nday = \"1s\"\n[iam]\nmin_session_seconds = 1",
        )
        .unwrap()
        .validate(&Overrides::default())
        .unwrap();
        assert_eq!(c.delivery_interval, Duration::from_secs(30));
        assert_eq!(c.digest_period, Duration::from_secs(120));
        assert_eq!(c.journal_max_bytes, 16 * 1024 * 1024);
        assert_eq!(c.lifecycle_day, Duration::from_secs(1));
        assert_eq!(c.iam.min_session_seconds, 1);
    }

    #[test]
    fn organization() {
        let raw = RawConfig::from_toml(
            "account_id = \"111111111111\"\n[organization]\nid = \"o-exampleorgid\"\nmember_accounts = [\"222222222222\"]",
        )
        .unwrap();
        let c = raw.validate(&Overrides::default()).unwrap();
        let o = c.organization.as_ref().unwrap();
        assert!(o.contains("111111111111"));
        assert!(o.contains("222222222222"));
        assert!(!o.contains("333333333333"));
        assert_eq!(c.accounts().len(), 2);
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("250ms", "x").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("2m", "x").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7", "x").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("m", "x").is_err());
    }
}
