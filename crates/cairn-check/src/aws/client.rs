//! One signed HTTP client for every protocol the checker speaks: JSON 1.0/1.1 (CloudTrail,
//! Logs, KMS, Organizations, CloudWatch), query (IAM, STS, SNS) and REST-XML (S3).
//! Requests are signed with `cairn-auth`'s SigV4 signer.

use std::time::Duration;

use cairn_auth::{RequestParts, SignPayload};
use serde_json::Value;
use time::OffsetDateTime;

use super::config::Settings;
use super::xml::{self, Element};

/// A failed call: which API, and the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiFailure {
    /// SigV4 service name (`cloudtrail`, `s3`, ...).
    pub service: String,
    /// Operation name (`GetBucketPolicy`).
    pub operation: String,
    /// AWS error code, or `ConnectionError` / `InvalidResponse` for transport problems.
    pub code: String,
    /// The service's message.
    pub message: String,
    /// HTTP status (0 when nothing was received).
    pub status: u16,
}

/// The outcome of one fetch: the fact, or why it could not be read.
pub type Fetched<T> = Result<T, ApiFailure>;

/// Error codes that say "this endpoint does not implement this API" rather than "no".
const UNSUPPORTED_CODES: [&str; 11] = [
    "UnknownOperationException",
    "UnknownOperation",
    "NotImplemented",
    "NotImplementedException",
    "UnsupportedOperation",
    "UnsupportedOperationException",
    "UnknownServiceException",
    "UnknownService",
    "InvalidAction",
    "UnrecognizedClientException",
    "MethodNotAllowed",
];

/// Codes meaning the credentials themselves are bad (exit status 2, not a finding).
const CREDENTIAL_CODES: [&str; 6] = [
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "InvalidAccessKeyId",
];

impl ApiFailure {
    /// The endpoint does not implement the API (the check must say `unknown`).
    #[must_use]
    pub fn is_unsupported(&self) -> bool {
        UNSUPPORTED_CODES.contains(&self.code.as_str())
            || self.status == 501
            || (self.status == 404 && self.code == "InvalidResponse")
    }

    /// Nothing answered, or the credentials were refused: the run cannot conclude anything.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        self.code == "ConnectionError"
            || (self.service == "cloudtrail" && CREDENTIAL_CODES.contains(&self.code.as_str()))
    }

    /// One line for evidence: `s3 GetBucketPolicy: AccessDenied: ...`.
    #[must_use]
    pub fn describe(&self) -> String {
        let msg = self.message.trim();
        if msg.is_empty() {
            format!("{} {}: {}", self.service, self.operation, self.code)
        } else {
            format!("{} {}: {}: {msg}", self.service, self.operation, self.code)
        }
    }
}

/// Where one call goes.
struct Target {
    base: String,
    host: String,
    sign_region: String,
}

/// The signed client.
#[derive(Debug, Clone)]
pub struct Aws {
    settings: Settings,
    http: reqwest::Client,
}

fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// `k=v&...` with AWS's encoding, keys sorted (the canonical order; the signer sorts too).
#[must_use]
pub fn form(params: &[(&str, String)]) -> String {
    let mut p: Vec<_> = params.iter().collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    p.iter()
        .map(|(k, v)| {
            if v.is_empty() && k.chars().next().is_some_and(char::is_lowercase) {
                encode(k)
            } else {
                format!("{}={}", encode(k), encode(v))
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn header_code(v: &str) -> String {
    v.split(':').next().unwrap_or(v).to_owned()
}

/// Extracts (code, message) from an error body of any protocol.
fn parse_error(status: u16, headers: &[(String, String)], body: &[u8]) -> (String, String) {
    let header = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amzn-errortype"))
        .map(|(_, v)| header_code(v));
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .or_else(|| v.get("Code"))
            .and_then(Value::as_str)
            .map(|c| c.rsplit('#').next().unwrap_or(c).to_owned())
            .or(header.clone());
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(code) = code {
            return (code, message);
        }
    }
    if let Ok(root) = xml::parse(body) {
        let err = root
            .descendants("Error")
            .into_iter()
            .next()
            .unwrap_or(&root);
        if let Some(code) = err.child_text("Code") {
            return (
                code.to_owned(),
                err.child_text("Message").unwrap_or("").to_owned(),
            );
        }
    }
    if let Some(h) = header {
        return (h, String::new());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    (
        "InvalidResponse".into(),
        format!("HTTP {status} without an AWS error: {}", text.trim()),
    )
}

impl Aws {
    /// A client for `settings`.
    ///
    /// # Errors
    /// When the TLS stack cannot be initialised.
    pub fn new(settings: Settings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        Ok(Self { settings, http })
    }

    /// The resolved settings (credentials included: do not log them).
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The access key id the calls are signed with (never the secret).
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.settings.credential.access_key_id
    }

    /// The default region.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.settings.region
    }

    /// True when a custom endpoint is set for `service` (not real AWS).
    #[must_use]
    pub fn custom_endpoint(&self, service: &str) -> Option<&str> {
        self.settings
            .service_endpoints
            .get(service)
            .or(self.settings.endpoint_url.as_ref())
            .map(String::as_str)
    }

    fn target(&self, service: &str, region: &str) -> Target {
        let (base, sign_region) = if let Some(u) = self.custom_endpoint(service) {
            (u.trim_end_matches('/').to_owned(), region.to_owned())
        } else {
            match service {
                "iam" => (
                    "https://iam.amazonaws.com".to_owned(),
                    "us-east-1".to_owned(),
                ),
                "organizations" => (
                    "https://organizations.us-east-1.amazonaws.com".to_owned(),
                    "us-east-1".to_owned(),
                ),
                other => (
                    format!("https://{other}.{region}.amazonaws.com"),
                    region.to_owned(),
                ),
            }
        };
        let host = base
            .split_once("://")
            .map_or(base.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        Target {
            base,
            host,
            sign_region,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        service: &str,
        operation: &str,
        region: &str,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
    ) -> Fetched<(Vec<(String, String)>, Vec<u8>)> {
        let t = self.target(service, region);
        let fail = |code: &str, message: String, status: u16| ApiFailure {
            service: service.to_owned(),
            operation: operation.to_owned(),
            code: code.to_owned(),
            message,
            status,
        };
        let base_path = t
            .base
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].trim_end_matches('/').to_owned()))
            .unwrap_or_default();
        let full_path = format!("{base_path}{path}");
        let mut parts = RequestParts {
            method: method.to_owned(),
            path: full_path.clone(),
            query: query.to_owned(),
            headers: vec![("host".into(), t.host.clone())],
        };
        for (k, v) in extra {
            parts.headers.push(((*k).to_owned(), v.clone()));
        }
        cairn_auth::sign(
            &mut parts,
            SignPayload::Body(&body),
            &self.settings.credential,
            &t.sign_region,
            service,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| fail("SigningError", e.to_string(), 0))?;
        let origin = t.base.split_once("://").map_or(t.base.clone(), |(s, r)| {
            format!("{s}://{}", r.split('/').next().unwrap_or(r))
        });
        let url = if query.is_empty() {
            format!("{origin}{full_path}")
        } else {
            format!("{origin}{full_path}?{query}")
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| fail("SigningError", e.to_string(), 0))?;
        let mut rb = self.http.request(m, &url);
        for (k, v) in &parts.headers {
            if k != "host" {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        let resp = rb
            .body(body)
            .send()
            .await
            .map_err(|e| fail("ConnectionError", format!("{url}: {e}"), 0))?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| fail("ConnectionError", format!("{url}: {e}"), status))?
            .to_vec();
        if (200..300).contains(&status) {
            Ok((headers, bytes))
        } else {
            let (code, message) = parse_error(status, &headers, &bytes);
            Err(fail(&code, message, status))
        }
    }

    /// Calls a JSON 1.0/1.1 operation (`X-Amz-Target: {prefix}.{operation}`).
    ///
    /// # Errors
    /// The service's error, or a transport error.
    pub async fn json(
        &self,
        service: &str,
        region: &str,
        target_prefix: &str,
        json_version: &str,
        operation: &str,
        request: &Value,
    ) -> Fetched<Value> {
        let body = serde_json::to_vec(request).unwrap_or_default();
        let (_, bytes) = self
            .send(
                service,
                operation,
                region,
                "POST",
                "/",
                "",
                &[
                    (
                        "content-type",
                        format!("application/x-amz-json-{json_version}"),
                    ),
                    ("x-amz-target", format!("{target_prefix}.{operation}")),
                ],
                body,
            )
            .await?;
        if bytes.is_empty() {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiFailure {
            service: service.into(),
            operation: operation.into(),
            code: "InvalidResponse".into(),
            message: format!("response is not JSON: {e}"),
            status: 200,
        })
    }

    /// Calls a query-protocol action (form POST) and returns the XML root.
    ///
    /// # Errors
    /// The service's error, or a transport error.
    pub async fn query(
        &self,
        service: &str,
        region: &str,
        version: &str,
        action: &str,
        params: &[(&str, String)],
    ) -> Fetched<Element> {
        let mut all = vec![
            ("Action", action.to_owned()),
            ("Version", version.to_owned()),
        ];
        all.extend(params.iter().cloned());
        let body = form(&all).into_bytes();
        let (_, bytes) = self
            .send(
                service,
                action,
                region,
                "POST",
                "/",
                "",
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body,
            )
            .await?;
        xml::parse(&bytes).map_err(|m| ApiFailure {
            service: service.into(),
            operation: action.into(),
            code: "InvalidResponse".into(),
            message: m,
            status: 200,
        })
    }

    /// An S3 REST call on a bucket (path-style): `GET /{bucket}?{query}`. Returns the XML
    /// root, or `None` for an empty body.
    ///
    /// # Errors
    /// The service's error, or a transport error.
    pub async fn s3(
        &self,
        region: &str,
        operation: &str,
        bucket: &str,
        query: &[(&str, String)],
    ) -> Fetched<Option<Element>> {
        let bytes = self.s3_raw(region, operation, bucket, query).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        xml::parse(&bytes).map(Some).map_err(|m| ApiFailure {
            service: "s3".into(),
            operation: operation.into(),
            code: "InvalidResponse".into(),
            message: m,
            status: 200,
        })
    }

    /// An S3 REST `PUT` of a bucket subresource (path-style): `PUT /{bucket}?{query}` with
    /// `body` and `Content-MD5` (which S3 requires for lifecycle, policy and encryption
    /// configurations). Used by `--fix` and `cairn bucket lifecycle`.
    ///
    /// # Errors
    /// The service's error, or a transport error.
    pub async fn s3_put(
        &self,
        region: &str,
        operation: &str,
        bucket: &str,
        query: &[(&str, String)],
        body: Vec<u8>,
    ) -> Fetched<()> {
        use base64::Engine as _;
        use md5::Digest as _;
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
        let path = format!("/{}", encode(bucket));
        self.send(
            "s3",
            operation,
            region,
            "PUT",
            &path,
            &form(query),
            &[
                ("content-md5", md5),
                ("content-type", "application/xml".into()),
            ],
            body,
        )
        .await?;
        Ok(())
    }

    /// An S3 REST `GET` on a bucket (path-style), returning the raw body (GetBucketPolicy
    /// answers JSON).
    ///
    /// # Errors
    /// The service's error, or a transport error.
    pub async fn s3_raw(
        &self,
        region: &str,
        operation: &str,
        bucket: &str,
        query: &[(&str, String)],
    ) -> Fetched<Vec<u8>> {
        let path = if bucket.is_empty() {
            "/".to_owned()
        } else {
            format!("/{}", encode(bucket))
        };
        let (_, bytes) = self
            .send(
                "s3",
                operation,
                region,
                "GET",
                &path,
                &form(query),
                &[],
                Vec::new(),
            )
            .await?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_protocol() {
        let (c, m) = parse_error(
            400,
            &[],
            br#"{"__type":"com.amazonaws#TrailNotFoundException","message":"nope"}"#,
        );
        assert_eq!((c.as_str(), m.as_str()), ("TrailNotFoundException", "nope"));
        let (c, _) = parse_error(
            400,
            &[(
                "x-amzn-errortype".into(),
                "UnknownServiceException:http://x".into(),
            )],
            br#"{"message":"the service `s3` is not served"}"#,
        );
        assert_eq!(c, "UnknownServiceException");
        let (c, m) = parse_error(
            404,
            &[],
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucketPolicy</Code><Message>none</Message></Error>",
        );
        assert_eq!((c.as_str(), m.as_str()), ("NoSuchBucketPolicy", "none"));
        let (c, _) = parse_error(
            400,
            &[],
            b"<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>InvalidAction</Code></Error></ErrorResponse>",
        );
        assert_eq!(c, "InvalidAction");
        let (c, _) = parse_error(404, &[], b"<html>not found</html>");
        assert_eq!(c, "InvalidResponse");
    }

    #[test]
    fn unsupported_versus_denied() {
        let f = |code: &str, status| ApiFailure {
            service: "s3".into(),
            operation: "GetBucketPolicy".into(),
            code: code.into(),
            message: String::new(),
            status,
        };
        assert!(f("NotImplemented", 501).is_unsupported());
        assert!(f("UnknownServiceException", 400).is_unsupported());
        assert!(!f("AccessDenied", 403).is_unsupported());
        assert_eq!(
            f("AccessDenied", 403).describe(),
            "s3 GetBucketPolicy: AccessDenied"
        );
    }

    #[test]
    fn form_encoding_is_canonical() {
        assert_eq!(
            form(&[("b", "x y/z".into()), ("a", "1".into())]),
            "a=1&b=x%20y%2Fz"
        );
        assert_eq!(form(&[("versioning", String::new())]), "versioning");
    }
}
