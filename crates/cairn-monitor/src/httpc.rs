//! A small HTTP/1.1 client for notifications and streaming: `http://`, and
//! `https://` over rustls (aws-lc-rs provider) trusting Mozilla's roots
//! (webpki-roots) plus the operator's extra CA certificates.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{MonitorError, Result};

/// Parses every `CERTIFICATE` block of each PEM string.
pub(crate) fn parse_pem_certs(pems: &[String]) -> Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let before = out.len();
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            out.push(c.map_err(|e| {
                MonitorError::invalid(format!("extra_ca_pem[{i}] is not valid PEM: {e}"))
            })?);
        }
        if out.len() == before {
            return Err(MonitorError::invalid(format!(
                "extra_ca_pem[{i}] holds no CERTIFICATE block"
            )));
        }
    }
    Ok(out)
}

/// The rustls client configuration: aws-lc-rs, TLS 1.2/1.3, Mozilla's roots
/// plus `extra_ca`.
pub(crate) fn client_config(
    extra_ca: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (i, c) in extra_ca.iter().enumerate() {
        roots.add(c.clone()).map_err(|e| {
            MonitorError::invalid(format!("extra CA certificate #{i} is not usable: {e}"))
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MonitorError::Crypto {
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// Why a request failed without a response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("invalid endpoint URL {0}")]
    BadUrl(String),
    #[error("TLS certificate rejected: {0}")]
    Certificate(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("timed out after {0} ms")]
    Timeout(u64),
}

impl HttpError {
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            HttpError::Connect(_) | HttpError::Request(_) | HttpError::Timeout(_)
        )
    }
}

/// Sends `req` over an established connection and reads the whole response.
async fn exchange<S>(stream: S, req: http::Request<Full<Bytes>>) -> Result<Response, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Connect(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| HttpError::Request(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| HttpError::Request(e.to_string()))?
        .to_bytes();
    driver.abort();
    Ok(Response { status, body })
}

/// Classifies a TLS handshake failure: a rejected certificate is not retried
/// (the endpoint or the trust configuration must change); anything else is a
/// connection failure.
fn tls_error(e: std::io::Error) -> HttpError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType),
        ) => HttpError::Certificate(err.to_string()),
        _ => HttpError::Connect(format!("TLS handshake failed: {e}")),
    }
}

/// POSTs `body` to `url` with `headers`, within `timeout`. `https://` URLs
/// are verified with `tls`.
pub(crate) async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Response, HttpError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| HttpError::BadUrl(url.to_string()))?;
    let (secure, default_port) = match uri.scheme_str() {
        Some("http") => (false, 80),
        Some("https") => (true, 443),
        _ => return Err(HttpError::BadUrl(url.to_string())),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(default_port);
    let tls = tls.clone();
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let fut = async move {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| HttpError::Connect(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "cairn-monitor/0.1");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| HttpError::Request(e.to_string()))?;
        if !secure {
            return exchange(stream, req).await;
        }
        let name = rustls_pki_types::ServerName::try_from(host)
            .map_err(|e| HttpError::BadUrl(format!("{e}")))?;
        let tls_stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(tls_error)?;
        exchange(tls_stream, req).await
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(timeout.as_millis() as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        rcgen::CertificateParams::new(vec!["ca.test".to_string()])
            .and_then(|p| p.self_signed(&key))
            .map(|c| c.pem())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pem_bundles_yield_every_certificate() {
        let bundle = format!("{}{}", pem(), pem());
        let certs = parse_pem_certs(&[bundle, pem()]).unwrap_or_default();
        assert_eq!(certs.len(), 3);
        assert!(client_config(&certs).is_ok());
        assert!(parse_pem_certs(&["junk".to_string()]).is_err());
        assert!(parse_pem_certs(&[]).is_ok_and(|v| v.is_empty()));
    }

    #[tokio::test]
    async fn scheme_and_url_errors_are_not_retryable() {
        let tls = client_config(&[]).unwrap_or_else(|e| panic!("{e}"));
        let t = Duration::from_millis(200);
        for url in ["ftp://x/", "not a url", "https:///nohost"] {
            let e = post(url, &[], Vec::new(), t, &tls).await.unwrap_err();
            assert!(!e.retryable(), "{url}: {e}");
        }
    }
}
