//! The parts of Cairn's S3 endpoint that read untrusted bytes, kept pure so the fuzzer
//! (`fuzz/fuzz_targets/s3_request.rs`) can point at them: request XML bodies ([`xml`]),
//! bucket/key addressing ([`target`]) and query strings ([`query_map`]); multipart upload
//! documents ([`multipart`]).
//!
//! ```
//! let t = cairn_s3wire::target(Some("logs.localhost:4590"), "/AWSLogs/a%20b").unwrap();
//! assert_eq!(t.bucket.as_deref(), Some("logs"));
//! assert_eq!(t.key.as_deref(), Some("AWSLogs/a b"));
//! let q = cairn_s3wire::query_map("versions&prefix=a%2Fb");
//! assert_eq!(q["prefix"], "a/b");
//! ```

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

pub mod multipart;
pub mod notification;
pub mod xml;

/// Where a request points: bucket and key, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bucket, if any.
    pub bucket: Option<String>,
    /// Key, if any (non-empty).
    pub key: Option<String>,
}

/// The request path is not valid percent-encoded UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath;

impl Target {
    /// The target `bucket`/`key` (already decoded).
    pub fn new(bucket: Option<&str>, key: Option<&str>) -> Self {
        Target {
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for BadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request path is not valid UTF-8")
    }
}

impl std::error::Error for BadPath {}

/// Splits a request into bucket and key: virtual-host style when `Host` is
/// `<bucket>.localhost` (or `<bucket>.s3.localhost`, any port), path style otherwise.
pub fn target(host: Option<&str>, path: &str) -> Result<Target, BadPath> {
    let decode = |s: &str| -> Result<String, BadPath> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| BadPath)
    };
    let host = host.map(|h| match h.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => h,
    });
    let vhost = host.and_then(|h| {
        let b = h.strip_suffix(".localhost")?;
        let b = b.strip_suffix(".s3").unwrap_or(b);
        (!b.is_empty() && b != "s3").then(|| b.to_owned())
    });
    let path = path.strip_prefix('/').unwrap_or(path);
    if let Some(bucket) = vhost {
        let key = (!path.is_empty()).then(|| decode(path)).transpose()?;
        return Ok(Target {
            bucket: Some(bucket),
            key,
        });
    }
    if path.is_empty() {
        return Ok(Target::new(None, None));
    }
    let (b, k) = path.split_once('/').unwrap_or((path, ""));
    Ok(Target {
        bucket: Some(decode(b)?),
        key: (!k.is_empty()).then(|| decode(k)).transpose()?,
    })
}

/// Parses a query string into a map (percent-decoded; `?versioning` → `""`). A repeated
/// name keeps its last value.
pub fn query_map(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (d(k), d(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing() {
        let p = target(Some("127.0.0.1:4590"), "/logs/AWSLogs/a%20b/c.json.gz").unwrap();
        assert_eq!(p, Target::new(Some("logs"), Some("AWSLogs/a b/c.json.gz")));
        let v = target(Some("logs.localhost:4590"), "/x/y").unwrap();
        assert_eq!(v, Target::new(Some("logs"), Some("x/y")));
        let v = target(Some("logs.s3.localhost"), "/").unwrap();
        assert_eq!(v, Target::new(Some("logs"), None));
        assert_eq!(
            target(Some("s3.localhost"), "/b").unwrap(),
            Target::new(Some("b"), None)
        );
        assert_eq!(target(None, "/").unwrap(), Target::new(None, None));
        assert_eq!(target(None, "/b/").unwrap(), Target::new(Some("b"), None));
        assert_eq!(target(None, "/b/%ff"), Err(BadPath));
    }

    #[test]
    fn queries() {
        let q = query_map("versioning&max-keys=2&prefix=a%2Bb+c&&");
        assert_eq!(q["versioning"], "");
        assert_eq!(q["max-keys"], "2");
        assert_eq!(q["prefix"], "a+b+c");
    }
}
