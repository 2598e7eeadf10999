//! Bucket configuration and the factory that turns it into a bucket.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::{S3Bucket, S3Options};

/// A secret string: redacted in `Debug`, zeroised on drop.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret text, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// How an S3 backend implements [`crate::PutMode::CreateOnly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionalPut {
    /// `PUT` with `If-None-Match: *`: atomic. AWS S3 (since 2024), MinIO, R2 and moto support it.
    #[default]
    IfNoneMatch,
    /// `HEAD`, then `PUT` if absent: for services without conditional writes. Racy: two
    /// writers of the same key can both succeed, the later one winning. Safe for Cairn only
    /// because one writer owns each key (one delivery task per trail, account and region).
    HeadThenPut,
}

/// Where a bucket lives: the `[buckets.<name>]` table of Cairn's configuration.
///
/// ```toml
/// backend = "local"
/// ```
///
/// ```toml
/// backend = "s3"
/// endpoint_url = "http://127.0.0.1:9000"
/// region = "us-east-1"
/// access_key_id_env = "MINIO_ACCESS_KEY"
/// secret_access_key_env = "MINIO_SECRET_KEY"
/// force_path_style = true
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum BucketConfig {
    /// A bucket of Cairn's own object store, the vault (the default); opened by
    /// `cairn_vault::open_bucket`.
    Local(LocalConfig),
    /// An S3-compatible service.
    S3(S3Config),
}

impl Default for BucketConfig {
    fn default() -> Self {
        BucketConfig::Local(LocalConfig::default())
    }
}

/// Settings of a local bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Directory of a vault of its own for this bucket; default: the bucket lives in the
    /// shared vault of `<data_dir>/buckets` (see ADR 0011).
    #[serde(default)]
    pub root: Option<PathBuf>,
}

/// Settings of an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Service endpoint, e.g. `http://127.0.0.1:9000`; default: AWS's endpoint for `region`.
    /// `http://` endpoints are allowed (for services on a private network or loopback).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Signing region; default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Name of the bucket on the service; default: the Cairn bucket's own name.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Access key id, inline. Mutually exclusive with `access_key_id_env`.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Name of the environment variable holding the access key id.
    #[serde(default)]
    pub access_key_id_env: Option<String>,
    /// Secret access key, inline (prefer `secret_access_key_env`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Name of the environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted
    /// (`bucket.endpoint/key`); most self-hosted services need `true`.
    #[serde(default)]
    pub force_path_style: bool,
    /// How put-if-absent is done; default `if-none-match`.
    #[serde(default)]
    pub conditional_put: ConditionalPut,
    /// TCP connect timeout in milliseconds; default 1500.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout in milliseconds; default 30000.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Retries inside the client; default 0 (the delivery pipeline retries with backoff).
    #[serde(default)]
    pub max_retries: usize,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_connect_timeout_ms() -> u64 {
    1500
}

fn default_request_timeout_ms() -> u64 {
    30_000
}

impl S3Config {
    /// A configuration for `endpoint_url` with every other field at its default.
    pub fn for_endpoint(endpoint_url: impl Into<String>) -> Self {
        S3Config {
            endpoint_url: Some(endpoint_url.into()),
            region: default_region(),
            bucket: None,
            access_key_id: None,
            access_key_id_env: None,
            secret_access_key: None,
            secret_access_key_env: None,
            force_path_style: false,
            conditional_put: ConditionalPut::default(),
            connect_timeout_ms: default_connect_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            max_retries: 0,
        }
    }

    /// Checks the settings and resolves credentials, reading variables through `env`.
    ///
    /// Both credentials are required, each inline or by variable. (The AWS instance-metadata
    /// and web-identity chains are deliberately not used: on a machine outside AWS they turn a
    /// forgotten key into connection attempts to a link-local address.)
    pub fn resolve(&self, name: &str, env: impl Fn(&str) -> Option<String>) -> Result<S3Options> {
        let pick = |inline: Option<String>, var: &Option<String>, what: &str| match (inline, var) {
            (Some(_), Some(_)) => Err(Error::config(format!(
                "give {what} inline or by environment variable, not both"
            ))),
            (Some(v), None) => Ok(Some(v)),
            (None, Some(var)) => env(var).map(Some).ok_or_else(|| {
                Error::config(format!("environment variable {var} ({what}) is not set"))
            }),
            (None, None) => Ok(None),
        };
        let access_key_id = pick(
            self.access_key_id.clone(),
            &self.access_key_id_env,
            "access_key_id",
        )?;
        let secret = pick(
            self.secret_access_key
                .as_ref()
                .map(|s| s.expose().to_owned()),
            &self.secret_access_key_env,
            "secret_access_key",
        )?
        .map(Secret::new);
        let (Some(access_key_id), Some(secret_access_key)) = (access_key_id, secret) else {
            return Err(Error::config(
                "access_key_id and secret_access_key are both required",
            ));
        };
        if let Some(url) = &self.endpoint_url {
            crate::s3::check_endpoint(url)?;
        }
        if self.region.is_empty() {
            return Err(Error::config("region must not be empty"));
        }
        if self.connect_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return Err(Error::config("timeouts must be positive"));
        }
        Ok(S3Options {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone().unwrap_or_else(|| name.to_owned()),
            access_key_id,
            secret_access_key,
            force_path_style: self.force_path_style,
            conditional_put: self.conditional_put,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_retries: self.max_retries,
        })
    }
}

impl S3Bucket {
    /// The bucket `name` described by `config`, reading credential variables from the
    /// process environment.
    pub fn from_config(name: &str, config: &S3Config) -> Result<Self> {
        let options = config.resolve(name, |var| std::env::var(var).ok())?;
        S3Bucket::new(name, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<BucketConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn local_is_the_default_shape() {
        assert_eq!(
            parse("backend = \"local\"").unwrap(),
            BucketConfig::Local(LocalConfig::default())
        );
        assert_eq!(
            BucketConfig::default(),
            parse("backend = \"local\"").unwrap()
        );
        assert!(parse("backend = \"local\"\nfoo = 1").is_err());
        assert!(parse("backend = \"gcs\"").is_err());
    }

    #[test]
    fn s3_config_parses_and_resolves() {
        let cfg = parse(
            r#"
            backend = "s3"
            endpoint_url = "http://127.0.0.1:9000"
            access_key_id_env = "AK"
            secret_access_key_env = "SK"
            force_path_style = true
            conditional_put = "head-then-put"
            "#,
        )
        .unwrap();
        let BucketConfig::S3(s3) = cfg else {
            panic!("not s3")
        };
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.connect_timeout_ms, 1500);
        let env = |v: &str| match v {
            "AK" => Some("id".to_owned()),
            "SK" => Some("secret".to_owned()),
            _ => None,
        };
        let opts = s3.resolve("trail-logs", env).unwrap();
        assert_eq!(opts.bucket, "trail-logs");
        assert_eq!(opts.access_key_id, "id");
        assert_eq!(opts.secret_access_key.expose(), "secret");
        assert_eq!(opts.conditional_put, ConditionalPut::HeadThenPut);
        assert!(!format!("{opts:?}").contains("secret\""));

        let missing = s3.resolve("b", |_| None).unwrap_err();
        assert_eq!(missing.class(), crate::ErrorClass::InvalidInput);
    }

    #[test]
    fn s3_config_rejects_bad_combinations() {
        for text in [
            "backend = \"s3\"\nunknown = 1",
            "backend = \"s3\"\nendpoint = \"http://x\"",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        let cfg = |text: &str| match parse(text).unwrap() {
            BucketConfig::S3(s3) => s3,
            BucketConfig::Local(_) => panic!("not s3"),
        };
        for text in [
            "backend = \"s3\"\naccess_key_id = \"a\"",
            "backend = \"s3\"",
            "backend = \"s3\"\naccess_key_id = \"a\"\naccess_key_id_env = \"A\"\nsecret_access_key = \"s\"",
            "backend = \"s3\"\nendpoint_url = \"127.0.0.1:9000\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
            "backend = \"s3\"\nendpoint_url = \"http://\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
            "backend = \"s3\"\nconnect_timeout_ms = 0\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
        ] {
            assert!(cfg(text).resolve("b", |_| None).is_err(), "{text}");
        }
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }
}
