//! Credentials, region and endpoints resolved like the AWS CLI: explicit flags, then the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), then the shared files (`~/.aws/credentials`,
//! `~/.aws/config`, or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_auth::{Credential, Principal};

/// What the caller asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--endpoint-url` (all services).
    pub endpoint_url: Option<String>,
}

/// A source of environment variables (the process environment, or a map in tests).
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// Parsed INI: section name → key → value. Keys are lowercased; comments (`#`, `;`) skipped.
pub type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the AWS shared-file INI dialect (indented continuation lines are ignored, as
/// nested `s3 =` blocks are not needed here).
#[must_use]
pub fn parse_ini(text: &str) -> Ini {
    let mut out = Ini::new();
    let mut section: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            out.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        let (Some(s), Some((k, v))) = (&section, line.split_once('=')) else {
            continue;
        };
        out.entry(s.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    out
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Access key, secret and session token.
    pub credential: Credential,
    /// The default region.
    pub region: String,
    /// Global endpoint override.
    pub endpoint_url: Option<String>,
    /// Per-service overrides (`AWS_ENDPOINT_URL_S3` → `s3`), keyed by the lowercase
    /// SigV4 service name.
    pub service_endpoints: BTreeMap<String, String>,
    /// Where the credential came from (for messages; never the secret).
    pub credential_source: String,
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No credential anywhere.
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile with ~/.aws/credentials"
    )]
    NoCredentials,
    /// A named profile does not exist.
    #[error("profile `{profile}` is not in {credentials} or {config}")]
    NoSuchProfile {
        /// The profile asked for.
        profile: String,
        /// Credentials file looked at.
        credentials: String,
        /// Config file looked at.
        config: String,
    },
    /// The profile exists but has no static keys (SSO, role assumption, processes).
    #[error(
        "profile `{profile}` has no aws_access_key_id/aws_secret_access_key (SSO, source_profile and credential_process profiles are not supported)"
    )]
    UnsupportedProfile {
        /// The profile.
        profile: String,
    },
}

/// Per-service endpoint variable suffixes, as the SDKs name them
/// (`AWS_ENDPOINT_URL_<SERVICE ID>`), for the SigV4 services the checker calls.
const SERVICE_ENV: [(&str, &str); 9] = [
    ("cloudtrail", "CLOUDTRAIL"),
    ("s3", "S3"),
    ("iam", "IAM"),
    ("sts", "STS"),
    ("kms", "KMS"),
    ("logs", "CLOUDWATCH_LOGS"),
    ("monitoring", "CLOUDWATCH"),
    ("sns", "SNS"),
    ("organizations", "ORGANIZATIONS"),
];

fn home_file(env: &dyn Env, var: &str, name: &str) -> PathBuf {
    if let Some(p) = env.var(var) {
        return PathBuf::from(p);
    }
    let home = env.var("HOME").unwrap_or_else(|| ".".into());
    Path::new(&home).join(".aws").join(name)
}

fn read_ini(path: &Path) -> Ini {
    std::fs::read_to_string(path)
        .map(|t| parse_ini(&t))
        .unwrap_or_default()
}

/// Resolves settings from the request, `env` and the shared files.
///
/// # Errors
/// [`ConfigError`] when no credential can be found or the profile is unusable.
pub fn resolve(req: &Requested, env: &dyn Env) -> Result<Settings, ConfigError> {
    let cred_path = home_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let conf_path = home_file(env, "AWS_CONFIG_FILE", "config");
    resolve_with(
        req,
        env,
        &read_ini(&cred_path),
        &read_ini(&conf_path),
        || {
            (
                cred_path.display().to_string(),
                conf_path.display().to_string(),
            )
        },
    )
}

/// [`resolve`] with the shared files already parsed.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_with(
    req: &Requested,
    env: &dyn Env,
    credentials: &Ini,
    config: &Ini,
    paths: impl Fn() -> (String, String),
) -> Result<Settings, ConfigError> {
    let explicit_profile = req.profile.clone().or_else(|| env.var("AWS_PROFILE"));
    let profile = explicit_profile.clone().unwrap_or_else(|| "default".into());
    let cred_sec = credentials.get(&profile);
    let conf_sec = if profile == "default" {
        config.get("default")
    } else {
        config
            .get(&format!("profile {profile}"))
            .or_else(|| config.get(&profile))
    };
    let from = |key: &str| -> Option<String> {
        cred_sec
            .and_then(|s| s.get(key))
            .or_else(|| conf_sec.and_then(|s| s.get(key)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    // A profile named on the command line wins over the environment keys, as in the CLI.
    let env_keys = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    );
    let (key, secret, token, source) = match (req.profile.is_some(), env_keys) {
        (false, (Some(k), Some(s))) => (k, s, env.var("AWS_SESSION_TOKEN"), "environment".into()),
        _ => {
            if cred_sec.is_none() && conf_sec.is_none() {
                if explicit_profile.is_some() {
                    let (c, f) = paths();
                    return Err(ConfigError::NoSuchProfile {
                        profile,
                        credentials: c,
                        config: f,
                    });
                }
                return Err(ConfigError::NoCredentials);
            }
            match (from("aws_access_key_id"), from("aws_secret_access_key")) {
                (Some(k), Some(s)) => (
                    k,
                    s,
                    from("aws_session_token"),
                    format!("profile {profile}"),
                ),
                _ => return Err(ConfigError::UnsupportedProfile { profile }),
            }
        }
    };
    let region = req
        .region
        .clone()
        .or_else(|| env.var("AWS_REGION"))
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| from("region"))
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint_url = req
        .endpoint_url
        .clone()
        .or_else(|| env.var("AWS_ENDPOINT_URL"))
        .or_else(|| from("endpoint_url"));
    let mut service_endpoints = BTreeMap::new();
    for (service, suffix) in SERVICE_ENV {
        if let Some(u) = env.var(&format!("AWS_ENDPOINT_URL_{suffix}")) {
            service_endpoints.insert(service.to_owned(), u);
        }
    }
    let mut credential = Credential::long_term(
        key,
        secret,
        Principal::Root {
            account_id: String::new(),
        },
    );
    credential.session_token = token;
    Ok(Settings {
        credential,
        region,
        endpoint_url,
        service_endpoints,
        credential_source: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const CREDS: &str = "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n\
        # comment\n[audit]\naws_access_key_id=AKAUD\naws_secret_access_key=saud\naws_session_token = tok\n";
    const CONF: &str = "[default]\nregion = eu-west-1\n[profile audit]\nregion = ap-southeast-2\n\
        endpoint_url = http://127.0.0.1:4590\ns3 =\n  addressing_style = path\n";

    fn paths() -> (String, String) {
        ("creds".into(), "conf".into())
    }

    /// [`resolve_with`] over the fixture files `CREDS` and `CONF`.
    fn resolve_fixture(
        req: &Requested,
        e: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        resolve_with(req, e, &parse_ini(CREDS), &parse_ini(CONF), paths)
    }

    #[test]
    fn environment_keys_win_without_profile_flag() {
        let e = env(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "senv"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ENDPOINT_URL_S3", "http://s3.local"),
        ]);
        let s = resolve_fixture(&Requested::default(), &e).unwrap();
        assert_eq!(s.credential.access_key_id, "AKENV");
        assert_eq!(s.region, "us-west-2");
        assert_eq!(s.service_endpoints["s3"], "http://s3.local");
        assert_eq!(s.credential_source, "environment");
    }

    #[test]
    fn profile_flag_reads_both_files() {
        let e = env(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "senv"),
        ]);
        let req = Requested {
            profile: Some("audit".into()),
            ..Requested::default()
        };
        let s = resolve_fixture(&req, &e).unwrap();
        assert_eq!(s.credential.access_key_id, "AKAUD");
        assert_eq!(s.credential.session_token.as_deref(), Some("tok"));
        assert_eq!(s.region, "ap-southeast-2");
        assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:4590"));
    }

    #[test]
    fn default_profile_and_errors() {
        let s = resolve_fixture(&Requested::default(), &env(&[])).unwrap();
        assert_eq!(s.credential.access_key_id, "AKDEF");
        assert_eq!(s.region, "eu-west-1");
        let req = Requested {
            profile: Some("nope".into()),
            ..Requested::default()
        };
        let err = resolve_fixture(&req, &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::NoSuchProfile { .. }), "{err}");
        let err = resolve_with(
            &Requested::default(),
            &env(&[]),
            &Ini::new(),
            &Ini::new(),
            paths,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::NoCredentials));
    }
}
