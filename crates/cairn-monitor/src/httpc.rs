//! A small HTTP/1.1 client for notifications and streaming (plain `http://`;
//! `https://` is refused: this build has no TLS client).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

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
    #[error("{0}")]
    Unsupported(String),
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

/// POSTs `body` to `url` with `headers`, within `timeout`.
pub(crate) async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| HttpError::BadUrl(url.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(HttpError::Unsupported(
                "https endpoints need TLS, which this Cairn build does not include".into(),
            ));
        }
        _ => return Err(HttpError::BadUrl(url.to_string())),
    }
    let host = uri
        .host()
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
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
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Connect(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
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
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(timeout.as_millis() as u64)),
    }
}
