//! A minimal signed client for the CLI's own calls to a Cairn server.

use anyhow::{Context, Result, bail};
use cairn_auth::{Credential, Principal, RequestParts, SignPayload};

/// Where a Cairn server listens when nothing says otherwise.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4590";

/// The endpoint the AWS CLI would call for `service` (the upper-case name its
/// `AWS_ENDPOINT_URL_<SERVICE>` variable uses: `CLOUDTRAIL`, `S3`, `CLOUDTRAIL_DATA`, ...), in
/// the CLI's order: an explicit `--endpoint-url`, then `AWS_ENDPOINT_URL_<SERVICE>`, then
/// `AWS_ENDPOINT_URL`, then the profile's `services` section and its `endpoint_url`; the
/// variables and the file are ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`.
pub(crate) fn endpoint_for(
    service: &str,
    explicit: Option<String>,
    profile: &AwsProfile,
) -> Option<String> {
    if explicit.is_some() {
        return explicit;
    }
    let ignore = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if ignore {
        return None;
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    var(&format!("AWS_ENDPOINT_URL_{service}"))
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .or_else(|| profile.service_endpoint(service).map(str::to_owned))
        .or_else(|| profile.get("endpoint_url").map(str::to_owned))
}

/// The settings of the AWS CLI profile in use (`AWS_PROFILE`, else `default`) from its
/// configuration file (`AWS_CONFIG_FILE`, else `~/.aws/config`), with the `[services NAME]`
/// section it names: what `endpoint_url`, `region` and per-service endpoints resolve from.
#[derive(Debug, Default)]
pub(crate) struct AwsProfile {
    settings: std::collections::HashMap<String, String>,
    /// Per-service settings (`s3`, `cloudtrail`, ... lower-case) of the profile's services section.
    services: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
}

impl AwsProfile {
    /// The profile in use; empty when there is no configuration file or no such profile.
    pub(crate) fn load() -> AwsProfile {
        let path = std::env::var_os("AWS_CONFIG_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/config"))
            });
        let text = path
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
        AwsProfile::parse(&text, &profile)
    }

    /// Reads `profile` (section `[default]` or `[profile NAME]`) and its services section out
    /// of an AWS configuration file's text.
    pub(crate) fn parse(text: &str, profile: &str) -> AwsProfile {
        let sections = ini_sections(text);
        let wanted = if profile == "default" {
            "default".to_owned()
        } else {
            format!("profile {profile}")
        };
        let mut out = AwsProfile::default();
        let Some(body) = sections.get(&wanted) else {
            return out;
        };
        let (settings, _) = ini_settings(body);
        out.settings = settings;
        if let Some(name) = out.settings.get("services")
            && let Some(svc) = sections.get(&format!("services {name}"))
        {
            out.services = ini_settings(svc).1;
        }
        out
    }

    /// A top-level setting of the profile.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `endpoint_url` of `service` (`AWS_ENDPOINT_URL_<SERVICE>` spelling) in the services section.
    fn service_endpoint(&self, service: &str) -> Option<&str> {
        let key = service.to_ascii_lowercase();
        self.services
            .get(&key)
            .and_then(|m| m.get("endpoint_url"))
            .map(String::as_str)
    }
}

type Settings = std::collections::HashMap<String, String>;

/// `[section]` name -> its lines.
fn ini_sections(text: &str) -> std::collections::HashMap<String, Vec<&str>> {
    let mut out: std::collections::HashMap<String, Vec<&str>> = Default::default();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') || t.is_empty() {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(c) = &current {
            out.entry(c.clone()).or_default().push(line);
        }
    }
    out
}

/// `key = value` lines; an indented block under `name =` is a nested group (how the
/// services section lists each service's settings).
fn ini_settings(lines: &[&str]) -> (Settings, std::collections::HashMap<String, Settings>) {
    let mut flat = Settings::new();
    let mut nested: std::collections::HashMap<String, Settings> = Default::default();
    let mut group: Option<String> = None;
    for line in lines {
        let indented = line.starts_with(char::is_whitespace);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
        match (&group, indented) {
            (Some(g), true) => {
                nested.entry(g.clone()).or_default().insert(k, v);
            }
            _ if v.is_empty() => {
                nested.entry(k.clone()).or_default();
                group = Some(k);
            }
            _ => {
                group = None;
                flat.insert(k, v);
            }
        }
    }
    (flat, nested)
}

/// Where and as whom to call.
pub(crate) struct Client {
    endpoint: String,
    host: String,
    region: String,
    credential: Credential,
    agent: ureq::Agent,
}

/// A response: status and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) error_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// `endpoint` without a trailing `/`, and its host; refused unless it is an `http://` URL.
fn http_endpoint(endpoint: String) -> Result<(String, String)> {
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let Some(host) = endpoint.strip_prefix("http://") else {
        bail!("endpoint {endpoint} must be an http:// URL (put a TLS proxy in front for https)");
    };
    let host = host.split('/').next().unwrap_or(host).to_owned();
    Ok((endpoint, host))
}

/// A long-term key pair of a root principal whose account the server resolves.
fn root_credential(key: String, secret: String) -> Credential {
    Credential::long_term(
        key,
        secret,
        Principal::Root {
            account_id: String::new(),
        },
    )
}

impl Client {
    /// For calls to `service` (its `AWS_ENDPOINT_URL_<SERVICE>` name, e.g. `CLOUDTRAIL`): the
    /// endpoint as [`endpoint_for`] resolves it, the region as the AWS CLI does, and the
    /// standard AWS credential variables.
    pub(crate) fn from_env(
        service: &str,
        endpoint: Option<String>,
        region: Option<String>,
    ) -> Result<Client> {
        let profile = AwsProfile::load();
        let endpoint = endpoint_for(service, endpoint, &profile)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let (endpoint, host) = http_endpoint(endpoint)?;
        let region = region
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .or_else(|| profile.get("region").map(str::to_owned))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let (Ok(key), Ok(secret)) = (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) else {
            bail!(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`cairn credentials` prints them)"
            );
        };
        let mut credential = root_credential(key, secret);
        credential.session_token = std::env::var("AWS_SESSION_TOKEN").ok();
        Ok(Client::new(endpoint, host, region, credential))
    }

    /// With explicit long-term keys (e.g. an account's root pair read from the data
    /// directory) instead of the environment's.
    pub(crate) fn with_keys(
        endpoint: Option<String>,
        region: &str,
        key: String,
        secret: String,
    ) -> Result<Client> {
        let endpoint = endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let (endpoint, host) = http_endpoint(endpoint)?;
        Ok(Client::new(
            endpoint,
            host,
            region.to_owned(),
            root_credential(key, secret),
        ))
    }

    /// A client over a fresh agent: 120 s timeout, error statuses returned as replies.
    fn new(endpoint: String, host: String, region: String, credential: Credential) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Client {
            endpoint,
            host,
            region,
            credential,
            agent,
        }
    }

    /// Signs and POSTs `body` to `path` for `service`.
    pub(crate) fn post(
        &self,
        service: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Reply> {
        self.post_with(service, path, content_type, &[], body)
    }

    /// Calls one operation of an AWS JSON 1.1 API (`X-Amz-Target: {target_prefix}.{operation}`)
    /// and returns the parsed reply body; a non-200 reply is an error naming the service's
    /// error type and message.
    pub(crate) fn call_json(
        &self,
        service: &str,
        target_prefix: &str,
        operation: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let body = serde_json::to_vec(request).context("encoding the request")?;
        let target = format!("{target_prefix}.{operation}");
        let reply = self.post_with(
            service,
            "/",
            "application/x-amz-json-1.1",
            &[("x-amz-target", target.as_str())],
            &body,
        )?;
        let value: serde_json::Value =
            serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
        if reply.status != 200 {
            let message = value
                .get("message")
                .or_else(|| value.get("Message"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            bail!(
                "{operation} failed (HTTP {}, {}): {message}",
                reply.status,
                reply.error_type.as_deref().unwrap_or("unknown error")
            );
        }
        Ok(value)
    }

    /// Signs (including `extra` headers) and POSTs `body` to `path` for `service`.
    pub(crate) fn post_with(
        &self,
        service: &str,
        path: &str,
        content_type: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply> {
        let mut parts = RequestParts {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![
                ("host".into(), self.host.clone()),
                ("content-type".into(), content_type.into()),
            ],
        };
        for (k, v) in extra {
            parts.headers.push(((*k).to_owned(), (*v).to_owned()));
        }
        if let Some(t) = &self.credential.session_token {
            parts
                .headers
                .push(("x-amz-security-token".into(), t.clone()));
        }
        cairn_auth::sign(
            &mut parts,
            SignPayload::Body(body),
            &self.credential,
            &self.region,
            service,
            time::OffsetDateTime::now_utc(),
        )
        .context("signing the request")?;
        let mut req = self.agent.post(format!("{}{path}", self.endpoint));
        for (k, v) in &parts.headers {
            if k != "host" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        let mut resp = req
            .send(body)
            .with_context(|| format!("calling {}", self.endpoint))?;
        let status = resp.status().as_u16();
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .context("reading the response")?;
        Ok(Reply {
            status,
            error_type,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[default]
region = eu-west-1
endpoint_url = http://127.0.0.1:4590

[profile audit]
region = us-west-2
services = cairn-local

[services cairn-local]
s3 =
  endpoint_url = http://127.0.0.1:9000
cloudtrail =
  endpoint_url = http://127.0.0.1:4591
";

    #[test]
    fn profiles_and_services_sections() {
        let d = AwsProfile::parse(CONFIG, "default");
        assert_eq!(d.get("region"), Some("eu-west-1"));
        assert_eq!(d.get("endpoint_url"), Some("http://127.0.0.1:4590"));
        assert_eq!(d.service_endpoint("S3"), None);
        let a = AwsProfile::parse(CONFIG, "audit");
        assert_eq!(a.get("region"), Some("us-west-2"));
        assert_eq!(a.get("endpoint_url"), None);
        assert_eq!(a.service_endpoint("S3"), Some("http://127.0.0.1:9000"));
        assert_eq!(
            a.service_endpoint("CLOUDTRAIL"),
            Some("http://127.0.0.1:4591")
        );
        assert!(AwsProfile::parse(CONFIG, "missing").settings.is_empty());
        assert!(AwsProfile::parse("", "default").settings.is_empty());
    }

    #[test]
    fn an_explicit_endpoint_wins() {
        let a = AwsProfile::parse(CONFIG, "audit");
        assert_eq!(
            endpoint_for("S3", Some("http://x".into()), &a).as_deref(),
            Some("http://x")
        );
    }
}
