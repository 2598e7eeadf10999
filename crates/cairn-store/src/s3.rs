//! Buckets on any S3-compatible service, through `object_store` (why: crate docs, "S3 client
//! choice").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as OsPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore,
    ObjectStoreExt, PutPayload, RetryConfig,
};
use time::OffsetDateTime;

use crate::config::{ConditionalPut, Secret};
use crate::error::{Error, ErrorClass, ErrorContext, Op, Result};
use crate::validate::unquote_etag;
use crate::{
    BoxFuture, Bucket, ListEntry, ListPage, Object, ObjectMeta, PutMode, PutOptions, PutResult,
    Sse, check_put, clamp_max, validate_key,
};

const BACKEND: &str = "s3";

/// Resolved settings of an [`S3Bucket`] (see [`crate::S3Config`] for the file form).
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Service endpoint; `None` for AWS's regional endpoint.
    pub endpoint_url: Option<String>,
    /// Signing region.
    pub region: String,
    /// Bucket name on the service.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Path-style addressing.
    pub force_path_style: bool,
    /// How put-if-absent is done.
    pub conditional_put: ConditionalPut,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries inside the client (0: fail fast, the caller retries).
    pub max_retries: usize,
}

/// A bucket on an S3-compatible service.
///
/// - Put-if-absent sends `If-None-Match: *` ([`ConditionalPut::IfNoneMatch`], atomic on the
///   service) or does HEAD then PUT ([`ConditionalPut::HeadThenPut`], racy between writers).
/// - [`Sse::S3`] sends `x-amz-server-side-encryption: AES256`; [`Sse::Kms`] sends `aws:kms`
///   and `x-amz-server-side-encryption-aws-kms-key-id`.
/// - Listing uses `ListObjectsV2` with `start-after` (same semantics as v1 `Marker`); order is
///   the service's (byte order on S3 and S3-compatible services). A key in the bucket that
///   breaks [`crate::validate_key`] (written by another tool) makes listing fail.
/// - Errors: 404 → NotFound, 401/403 → Unauthorized, 412 on put-if-absent → AlreadyExists,
///   connect failures, timeouts, 5xx, 408 and 429 → Transient, anything else → Internal.
/// - Connect timeout and retries come from [`S3Options`] (defaults 1.5 s, no retry), so an
///   unreachable service fails fast with a Transient error.
#[derive(Debug)]
pub struct S3Bucket {
    name: String,
    options: S3Options,
    /// One client per SSE setting; the lock is held only to look up or insert.
    stores: Mutex<HashMap<Sse, Arc<AmazonS3>>>,
}

/// An `object_store` failure with its context.
struct S3Failure {
    ctx: ErrorContext,
    err: object_store::Error,
}

impl From<S3Failure> for Error {
    fn from(f: S3Failure) -> Self {
        use object_store::Error as E;
        let class = match &f.err {
            E::NotFound { .. } => ErrorClass::NotFound,
            E::AlreadyExists { .. } => ErrorClass::AlreadyExists,
            E::Precondition { .. } => ErrorClass::PreconditionFailed,
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => ErrorClass::Unauthorized,
            E::Generic { .. } => classify_generic(&f.err),
            _ => ErrorClass::Internal,
        };
        f.ctx.error(class, f.err)
    }
}

/// Classifies `object_store`'s catch-all error by what caused it.
///
/// Transport failures carry an [`HttpError`] in the source chain. HTTP status failures carry
/// object_store's retry error, whose type is not public; its message has the stable form
/// `... Server returned non-2xx status code: <code> <reason>...`, from which the status is read.
fn classify_generic(err: &(dyn std::error::Error + 'static)) -> ErrorClass {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted
                | HttpErrorKind::Decode => ErrorClass::Transient,
                _ => ErrorClass::Internal,
            };
        }
        current = e.source();
    }
    match status_in_message(&err.to_string()) {
        Some(s) if s >= 500 || s == 408 || s == 429 => ErrorClass::Transient,
        Some(401 | 403) => ErrorClass::Unauthorized,
        Some(404) => ErrorClass::NotFound,
        _ => ErrorClass::Internal,
    }
}

fn status_in_message(msg: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    let at = msg.find(MARK)? + MARK.len();
    msg.get(at..at + 3)?.parse().ok()
}

fn to_time(ns: Option<i64>) -> OffsetDateTime {
    ns.and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Checks that an endpoint is an `http://` or `https://` URL with a host.
pub(crate) fn check_endpoint(url: &str) -> Result<()> {
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split('/').next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) => Ok(()),
        _ => Err(Error::config(format!(
            "endpoint_url {url:?} must be an http:// or https:// URL with a host"
        ))),
    }
}

/// `scheme://host/...` → `scheme://bucket.host/...` for virtual-hosted addressing.
fn virtual_hosted(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

impl S3Bucket {
    /// A bucket called `name` (the Cairn name) on the service described by `options`.
    ///
    /// Builds the client (no network I/O); fails with [`crate::ErrorClass::InvalidInput`] on a
    /// configuration the client rejects.
    pub fn new(name: impl Into<String>, options: S3Options) -> Result<Self> {
        let name = name.into();
        if let Some(url) = &options.endpoint_url {
            check_endpoint(url)?;
        }
        let store = Arc::new(
            build_store(&options, &Sse::None)
                .map_err(|err| Error::config(format!("s3 bucket {name}: {err}")))?,
        );
        let mut stores = HashMap::new();
        stores.insert(Sse::None, store);
        Ok(S3Bucket {
            name,
            options,
            stores: Mutex::new(stores),
        })
    }

    /// The resolved options.
    pub fn options(&self) -> &S3Options {
        &self.options
    }

    fn store(&self, sse: &Sse) -> Result<Arc<AmazonS3>> {
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = stores.get(sse) {
            return Ok(Arc::clone(s));
        }
        let store = Arc::new(
            build_store(&self.options, sse)
                .map_err(|err| Error::config(format!("s3 bucket {}: {err}", self.name)))?,
        );
        stores.insert(sse.clone(), Arc::clone(&store));
        Ok(store)
    }

    fn plain(&self) -> Result<Arc<AmazonS3>> {
        self.store(&Sse::None)
    }

    fn fail(&self, op: Op, key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        let ctx = ErrorContext::new(BACKEND, &self.name, op, key);
        move |err| Error::from(S3Failure { ctx, err })
    }

    fn path(key: &str) -> Result<OsPath> {
        validate_key(key)?;
        OsPath::parse(key).map_err(|_| Error::InvalidKey {
            key: key.to_owned(),
            reason: "not a valid object path",
        })
    }

    async fn head_meta(&self, op: Op, key: &str) -> Result<ObjectMeta> {
        let path = Self::path(key)?;
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let res = self
            .plain()?
            .get_opts(&path, opts)
            .await
            .map_err(self.fail(op, key))?;
        Ok(meta_from(key, &res.meta, &res.attributes))
    }
}

fn meta_from(key: &str, meta: &object_store::ObjectMeta, attrs: &Attributes) -> ObjectMeta {
    let mut user_metadata = std::collections::BTreeMap::new();
    let mut content_type = None;
    for (attr, value) in attrs {
        match attr {
            Attribute::Metadata(name) => {
                user_metadata.insert(name.to_ascii_lowercase(), value.to_string());
            }
            Attribute::ContentType => content_type = Some(value.to_string()),
            _ => {}
        }
    }
    ObjectMeta {
        key: key.to_owned(),
        size: meta.size,
        etag: meta.e_tag.as_deref().map(unquote_etag),
        last_modified: to_time(meta.last_modified.timestamp_nanos_opt()),
        content_type,
        user_metadata,
    }
}

fn build_store(o: &S3Options, sse: &Sse) -> object_store::Result<AmazonS3> {
    let allow_http = o
        .endpoint_url
        .as_deref()
        .is_some_and(|u| u.starts_with("http://"));
    let client = ClientOptions::new()
        .with_connect_timeout(o.connect_timeout)
        .with_timeout(o.request_timeout)
        .with_allow_http(allow_http);
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: o.max_retries,
        retry_timeout: o.request_timeout,
    };
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&o.bucket)
        .with_region(&o.region)
        .with_virtual_hosted_style_request(!o.force_path_style)
        .with_client_options(client)
        .with_retry(retry)
        // One DELETE per key: plain DeleteObject works on every S3-compatible service.
        .with_disable_bulk_delete(true)
        .with_conditional_put(match o.conditional_put {
            ConditionalPut::IfNoneMatch => S3ConditionalPut::ETagMatch,
            ConditionalPut::HeadThenPut => S3ConditionalPut::Disabled,
        });
    if let Some(endpoint) = &o.endpoint_url {
        let endpoint = endpoint.trim_end_matches('/');
        b = if o.force_path_style {
            b.with_endpoint(endpoint)
        } else {
            b.with_endpoint(virtual_hosted(endpoint, &o.bucket))
        };
    }
    b = b
        .with_access_key_id(&o.access_key_id)
        .with_secret_access_key(o.secret_access_key.expose());
    match sse {
        Sse::None => {}
        Sse::S3 => {
            let key: AmazonS3ConfigKey = "aws_server_side_encryption".parse()?;
            b = b.with_config(key, "AES256");
        }
        Sse::Kms { key_id } => b = b.with_sse_kms_encryption(key_id),
    }
    b.build()
}

impl Bucket for S3Bucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        opts: PutOptions,
    ) -> BoxFuture<'a, Result<PutResult>> {
        Box::pin(async move {
            let user_metadata = check_put(key, &opts)?;
            let path = Self::path(key)?;
            let mut attributes = Attributes::new();
            if let Some(ct) = opts.content_type {
                attributes.insert(Attribute::ContentType, AttributeValue::from(ct));
            }
            for (name, value) in user_metadata {
                attributes.insert(
                    Attribute::Metadata(name.into()),
                    AttributeValue::from(value),
                );
            }
            let mode = match (opts.mode, self.options.conditional_put) {
                (PutMode::Overwrite, _) => object_store::PutMode::Overwrite,
                (PutMode::CreateOnly, ConditionalPut::IfNoneMatch) => object_store::PutMode::Create,
                (PutMode::CreateOnly, ConditionalPut::HeadThenPut) => {
                    // Racy fallback, see `ConditionalPut::HeadThenPut`.
                    match self.head_meta(Op::Put, key).await {
                        Ok(_) => {
                            return Err(Error::AlreadyExists {
                                backend: BACKEND,
                                bucket: self.name.clone(),
                                key: key.to_owned(),
                            });
                        }
                        Err(e) if e.class() == ErrorClass::NotFound => {}
                        Err(e) => return Err(e),
                    }
                    object_store::PutMode::Overwrite
                }
            };
            let put_opts = object_store::PutOptions {
                mode,
                attributes,
                ..object_store::PutOptions::default()
            };
            let res = self
                .store(&opts.sse)?
                .put_opts(&path, PutPayload::from(bytes), put_opts)
                .await
                .map_err(self.fail(Op::Put, key))?;
            Ok(PutResult {
                etag: res.e_tag.as_deref().map(unquote_etag),
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Object>> {
        Box::pin(async move {
            let path = Self::path(key)?;
            let res = self
                .plain()?
                .get_opts(&path, GetOptions::default())
                .await
                .map_err(self.fail(Op::Get, key))?;
            let meta = meta_from(key, &res.meta, &res.attributes);
            let bytes = res.bytes().await.map_err(self.fail(Op::Get, key))?;
            Ok(Object { bytes, meta })
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(self.head_meta(Op::Head, key))
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<ListPage>> {
        Box::pin(async move {
            let opts = PaginatedListOptions {
                offset: marker.map(str::to_owned),
                max_keys: Some(clamp_max(max)),
                ..PaginatedListOptions::default()
            };
            let prefix_arg = (!prefix.is_empty()).then_some(prefix);
            let res = self
                .plain()?
                .list_paginated(prefix_arg, opts)
                .await
                .map_err(self.fail(Op::List, prefix))?;
            let entries: Vec<ListEntry> = res
                .result
                .objects
                .into_iter()
                .map(|m| ListEntry {
                    key: m.location.to_string(),
                    size: m.size,
                    etag: m.e_tag.as_deref().map(unquote_etag),
                    last_modified: to_time(m.last_modified.timestamp_nanos_opt()),
                })
                .collect();
            debug_assert!(entries.windows(2).all(|w| w[0].key < w[1].key));
            Ok(ListPage::new(entries, res.page_token.is_some()))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let path = Self::path(key)?;
            match self.plain()?.delete(&path).await {
                Ok(()) => Ok(()),
                // Some services answer 404 for a missing key; deleting is idempotent here.
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(err) => Err(self.fail(Op::Delete, key)(err)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_from_retry_error_message() {
        let msg = "Error performing PUT http://x/b/k in 2ms - Server returned non-2xx status \
                   code: 503 Service Unavailable: slow down";
        assert_eq!(status_in_message(msg), Some(503));
        assert_eq!(status_in_message("no status here"), None);
        assert_eq!(status_in_message("status code: 5"), None);
    }

    #[test]
    fn generic_errors_are_classified() {
        let generic = |msg: &str| object_store::Error::Generic {
            store: "S3",
            source: msg.to_owned().into(),
        };
        let class = |msg: &str| classify_generic(&generic(msg));
        assert_eq!(class("x status code: 500 Internal"), ErrorClass::Transient);
        assert_eq!(class("x status code: 429 Too Many"), ErrorClass::Transient);
        assert_eq!(
            class("x status code: 400 Bad Request"),
            ErrorClass::Internal
        );
        assert_eq!(
            class("x status code: 403 Forbidden"),
            ErrorClass::Unauthorized
        );
        assert_eq!(class("weird"), ErrorClass::Internal);
        let connect = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Connect,
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            )),
        };
        assert_eq!(classify_generic(&connect), ErrorClass::Transient);
    }

    #[test]
    fn virtual_hosted_endpoints() {
        assert_eq!(
            virtual_hosted("http://127.0.0.1:9000", "logs"),
            "http://logs.127.0.0.1:9000"
        );
        assert_eq!(
            virtual_hosted("https://s3.example.com", "b"),
            "https://b.s3.example.com"
        );
    }

    #[test]
    fn bad_endpoint_is_a_config_error() {
        let mut cfg = crate::S3Config::for_endpoint("http://127.0.0.1:1");
        cfg.access_key_id = Some("a".into());
        cfg.secret_access_key = Some(Secret::new("s"));
        let mut o = cfg.resolve("b", |_| None).unwrap();
        o.endpoint_url = Some("not a url".into());
        o.force_path_style = true;
        let err = S3Bucket::new("b", o).unwrap_err();
        assert_eq!(err.class(), ErrorClass::InvalidInput);
    }
}
