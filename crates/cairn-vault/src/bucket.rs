//! [`cairn_store::Bucket`] over a vault bucket, so the delivery pipeline writes into the
//! vault unchanged.

use std::sync::Arc;

use bytes::Bytes;
use cairn_store::{
    BoxFuture, Bucket, Error, ErrorClass, ErrorContext, ListEntry, ListPage, Object, ObjectMeta,
    Op, PutMode, PutOptions, PutResult, Sse,
};
use time::OffsetDateTime;

use crate::error::VaultError;
use crate::model::{ObjectVersion, PutRequest, SseRequest};
use crate::vault::Vault;

const BACKEND: &str = "vault";

/// One bucket of a [`Vault`], as a [`cairn_store::Bucket`].
///
/// Writes are put-if-absent by default ([`PutMode::CreateOnly`] maps to `If-None-Match: *`),
/// bodies are encrypted (SSE-S3 unless the options or the bucket default ask for SSE-KMS),
/// and each call runs the vault's blocking I/O on tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct VaultBucket {
    vault: Arc<Vault>,
    name: String,
}

impl VaultBucket {
    /// The bucket `name` of `vault` (which must exist for calls to succeed).
    pub fn new(vault: Arc<Vault>, name: &str) -> Self {
        Self {
            vault,
            name: name.to_owned(),
        }
    }

    fn error(&self, op: Op, key: &str, e: VaultError) -> Error {
        ErrorContext::new(BACKEND, &self.name, op, key).error(store_class(&e), e)
    }
}

fn meta(v: &ObjectVersion) -> ObjectMeta {
    ObjectMeta {
        key: v.key.clone(),
        size: v.size,
        etag: Some(v.etag.clone()),
        last_modified: v.last_modified,
        content_type: v.content_type.clone(),
        user_metadata: v.user_metadata.clone(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(VaultError::Corrupt(format!("vault task failed: {e}"))),
    }
}

impl Bucket for VaultBucket {
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
    ) -> BoxFuture<'a, cairn_store::Result<PutResult>> {
        Box::pin(async move {
            cairn_store::validate_key(key)?;
            if let Some(ct) = &opts.content_type {
                cairn_store::validate_content_type(ct)?;
            }
            let user_metadata = cairn_store::normalize_user_metadata(&opts.user_metadata)?;
            let req = PutRequest {
                content_type: opts.content_type.clone(),
                user_metadata,
                sse: match &opts.sse {
                    Sse::None => SseRequest::BucketDefault,
                    Sse::S3 => SseRequest::S3,
                    Sse::Kms { key_id } => SseRequest::Kms(Some(key_id.clone())),
                },
                if_none_match: opts.mode == PutMode::CreateOnly,
                ..PutRequest::default()
            };
            let (vault, name, k) = (self.vault.clone(), self.name.clone(), key.to_owned());
            blocking(move || vault.put_object(&name, &k, &bytes, &req, OffsetDateTime::now_utc()))
                .await
                .map(|o| PutResult { etag: Some(o.etag) })
                .map_err(|e| self.error(Op::Put, key, e))
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<Object>> {
        Box::pin(async move {
            cairn_store::validate_key(key)?;
            let (vault, name, k) = (self.vault.clone(), self.name.clone(), key.to_owned());
            let (v, body) = blocking(move || vault.get_object(&name, &k, None))
                .await
                .map_err(|e| self.error(Op::Get, key, e))?;
            Ok(Object {
                bytes: Bytes::from(body),
                meta: meta(&v),
            })
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<ObjectMeta>> {
        Box::pin(async move {
            cairn_store::validate_key(key)?;
            let (vault, name, k) = (self.vault.clone(), self.name.clone(), key.to_owned());
            blocking(move || vault.head_object(&name, &k, None))
                .await
                .map(|v| meta(&v))
                .map_err(|e| self.error(Op::Head, key, e))
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        marker: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, cairn_store::Result<ListPage>> {
        Box::pin(async move {
            let max = max.clamp(1, cairn_store::MAX_LIST_PAGE);
            let (vault, name) = (self.vault.clone(), self.name.clone());
            let (p, m) = (prefix.to_owned(), marker.map(str::to_owned));
            let l = blocking(move || vault.list_objects(&name, &p, m.as_deref(), None, max))
                .await
                .map_err(|e| self.error(Op::List, prefix, e))?;
            let entries = l
                .objects
                .iter()
                .map(|v| ListEntry {
                    key: v.key.clone(),
                    size: v.size,
                    etag: Some(v.etag.clone()),
                    last_modified: v.last_modified,
                })
                .collect();
            Ok(ListPage::new(entries, l.is_truncated))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<()>> {
        Box::pin(async move {
            cairn_store::validate_key(key)?;
            let (vault, name, k) = (self.vault.clone(), self.name.clone(), key.to_owned());
            blocking(move || {
                vault.delete_object(
                    &name,
                    &k,
                    None,
                    false,
                    &crate::EventOrigin::default(),
                    OffsetDateTime::now_utc(),
                )
            })
            .await
            .map(|_| ())
            .map_err(|e| self.error(Op::Delete, key, e))
        })
    }
}

/// The class a vault error has on the [`Bucket`] side (for callers mapping back).
pub fn store_class(e: &VaultError) -> ErrorClass {
    match e {
        VaultError::NoSuchKey { .. }
        | VaultError::NoSuchVersion { .. }
        | VaultError::DeleteMarker { .. }
        | VaultError::NoSuchBucket { .. } => ErrorClass::NotFound,
        VaultError::PreconditionFailed { .. } => ErrorClass::AlreadyExists,
        VaultError::ObjectLocked { .. } => ErrorClass::Unauthorized,
        VaultError::InvalidArgument(_)
        | VaultError::InvalidRequest(_)
        | VaultError::InvalidBucketState(_) => ErrorClass::InvalidInput,
        VaultError::Io { .. } => ErrorClass::Transient,
        VaultError::Tampered(_) => ErrorClass::Corrupt,
        _ => ErrorClass::Internal,
    }
}
