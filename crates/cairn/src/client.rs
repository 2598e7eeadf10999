//! A minimal signed client for the CLI's own calls to a Cairn server.

use anyhow::{Context, Result, bail};
use cairn_auth::{Credential, Principal, RequestParts, SignPayload};

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

impl Client {
    /// From `--endpoint-url`/`AWS_ENDPOINT_URL` and the standard AWS credential variables.
    pub(crate) fn from_env(endpoint: Option<String>, region: Option<String>) -> Result<Client> {
        let endpoint = endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| "http://127.0.0.1:4590".to_owned());
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let Some(host) = endpoint.strip_prefix("http://") else {
            bail!(
                "endpoint {endpoint} must be an http:// URL (put a TLS proxy in front for https)"
            );
        };
        let host = host.split('/').next().unwrap_or(host).to_owned();
        let region = region
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let (Ok(key), Ok(secret)) = (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) else {
            bail!(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`cairn credentials` prints them)"
            );
        };
        let mut credential = Credential::long_term(
            key,
            secret,
            Principal::Root {
                account_id: String::new(),
            },
        );
        credential.session_token = std::env::var("AWS_SESSION_TOKEN").ok();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Ok(Client {
            endpoint,
            host,
            region,
            credential,
            agent,
        })
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
            .unwrap_or_else(|| "http://127.0.0.1:4590".to_owned());
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let Some(host) = endpoint.strip_prefix("http://") else {
            bail!(
                "endpoint {endpoint} must be an http:// URL (put a TLS proxy in front for https)"
            );
        };
        let host = host.split('/').next().unwrap_or(host).to_owned();
        let credential = Credential::long_term(
            key,
            secret,
            Principal::Root {
                account_id: String::new(),
            },
        );
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Ok(Client {
            endpoint,
            host,
            region: region.to_owned(),
            credential,
            agent,
        })
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
