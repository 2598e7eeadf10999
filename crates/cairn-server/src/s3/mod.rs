//! The S3 endpoint: Cairn's local buckets (the `cairn-vault` store) through S3's REST-XML
//! API on Cairn's one port.
//!
//! Requests arrive from [`crate::http`] already authenticated (SigV4 with S3's canonical URI,
//! `UNSIGNED-PAYLOAD`, presigned URLs) when the credential scope's service is `s3`. Here
//! they are addressed (path style, or virtual host `<bucket>.localhost`), classified into an
//! [`S3Op`], authorized through [`crate::authz::authorize`] with the bucket policy as the
//! resource policy, executed against the vault on the blocking pool, recorded as a
//! CloudTrail event (object operations and listings as data events, bucket configuration as
//! management events, denied attempts included), and answered in S3's XML shapes.
//! Operations Cairn does not implement answer `501 NotImplemented`. See
//! `docs/adr/0005-s3-endpoint.md` for why this front is ours rather than `s3s`.

pub mod lifecycle;
pub mod notify;
mod ops;

pub use cairn_s3wire::{Target, query_map, xml};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use cairn_vault::{BucketInfo, Vault, VaultError};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::authn::Caller;
use crate::secrets::MasterKey;
use crate::state::AppState;

pub use ops::S3Op;

/// The master key as the vault's SSE-S3 root.
#[derive(Debug, Clone)]
pub struct MasterSealer(pub Arc<MasterKey>);

impl cairn_vault::Sealer for MasterSealer {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        self.0.seal(context, plaintext).map_err(|e| e.to_string())
    }
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        self.0.open(context, sealed).map_err(|e| e.to_string())
    }
}

/// The built-in KMS as the vault's SSE-KMS key service, so objects (including a trail's
/// log and digest files with a `KmsKeyId`) can be SSE-KMS encrypted in local buckets.
#[derive(Debug, Clone)]
pub struct KmsKeyService(pub Arc<cairn_kms::Kms>);

fn key_service_error(e: cairn_kms::KmsError) -> cairn_vault::KeyServiceError {
    use cairn_kms::KmsError as K;
    use cairn_vault::KeyServiceError as E;
    match e {
        K::NotFound(m) => E::NotFound(m),
        K::Disabled(m) => E::Disabled(m),
        e @ K::InvalidState { .. } => E::Disabled(e.to_string()),
        K::InvalidCiphertext => E::InvalidCiphertext("not a blob of this key service".into()),
        e @ K::IncorrectKey(_) => E::InvalidCiphertext(e.to_string()),
        other => E::Other(other.to_string()),
    }
}

impl cairn_vault::KeyService for KmsKeyService {
    fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>, String), cairn_vault::KeyServiceError> {
        let k = self
            .0
            .generate_data_key(account, key_id, context)
            .map_err(key_service_error)?;
        Ok((k.plaintext, k.ciphertext_blob, k.key_arn))
    }

    fn decrypt_data_key(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<[u8; 32]>, cairn_vault::KeyServiceError> {
        let d = self.0.decrypt(blob, context).map_err(key_service_error)?;
        let mut key = Zeroizing::new([0u8; 32]);
        if d.plaintext.len() != key.len() {
            return Err(cairn_vault::KeyServiceError::InvalidCiphertext(
                "the blob does not hold a 256-bit data key".into(),
            ));
        }
        key.copy_from_slice(&d.plaintext);
        Ok(key)
    }
}

/// Opens the vault of `<data_dir>/buckets` for tools outside the server (`cairn bucket get`,
/// `cairn validate --data-dir`), with the data directory's KMS as its SSE-KMS key service so
/// objects encrypted under a customer key (a trail's `KmsKeyId`) can be read too.
pub fn open_vault_with_kms(
    data_dir: &Path,
    master: Arc<MasterKey>,
    default_region: &str,
) -> Result<Vault, crate::state::StartError> {
    let vault = open_vault(data_dir, master.clone())?;
    let kms = cairn_kms::Kms::open(data_dir, master, default_region)?;
    vault.set_key_service(Arc::new(KmsKeyService(Arc::new(kms))));
    Ok(vault)
}

/// Opens the vault at `dir` read-only (nothing written) for tools outside the server
/// (`cairn validate`), with `data_dir`'s built-in KMS as its SSE-KMS key service when the data
/// directory has one (never created here).
pub fn open_vault_read_only(
    dir: &Path,
    data_dir: &Path,
    master: Arc<MasterKey>,
    default_region: &str,
) -> Result<Vault, crate::state::StartError> {
    let kms: Option<Arc<dyn cairn_vault::KeyService>> = if data_dir.join("kms.db").is_file() {
        let kms = cairn_kms::Kms::open(data_dir, master.clone(), default_region)?;
        Some(Arc::new(KmsKeyService(Arc::new(kms))))
    } else {
        None
    };
    Ok(Vault::open_read_only(
        dir,
        Arc::new(MasterSealer(master)),
        kms,
    )?)
}

/// Opens the vault of `<data_dir>/buckets` with the master key as SSE-S3 root.
pub fn open_vault(data_dir: &Path, master: Arc<MasterKey>) -> Result<Vault, VaultError> {
    Vault::open(
        &data_dir.join("buckets"),
        Arc::new(MasterSealer(master)),
        None,
    )
}

/// A local bucket's settings: the vault's, or — for a bucket made by `cairn bucket create`
/// that the vault has not seen yet — registered in the vault from the catalog row.
pub fn local_bucket(
    vault: &Vault,
    catalog: &crate::catalog::Catalog,
    name: &str,
) -> Result<BucketInfo, VaultError> {
    match vault.bucket(name) {
        Err(VaultError::NoSuchBucket { .. }) => {
            let row = catalog
                .bucket(name)
                .map_err(|e| VaultError::Corrupt(e.to_string()))?
                .ok_or_else(|| VaultError::NoSuchBucket {
                    bucket: name.to_owned(),
                })?;
            let created = OffsetDateTime::from_unix_timestamp(row.created)
                .unwrap_or_else(|_| OffsetDateTime::now_utc());
            vault.ensure_bucket(name, &row.account_id, &row.region, created)
        }
        other => other,
    }
}

/// Refuses (`InsufficientS3BucketPolicyException`) a trail whose local bucket has a policy
/// that would not let CloudTrail deliver: `s3:GetBucketAcl` on the bucket and `s3:PutObject`
/// under `[prefix/]AWSLogs/<account>/` for principal `cloudtrail.amazonaws.com`, with
/// `aws:SourceArn` = the trail's ARN, `aws:SourceAccount` and `s3:x-amz-acl:
/// bucket-owner-full-control` in the context (CloudTrail's documented bucket policy). A
/// bucket without a policy is Cairn's own and accepts its deliveries.
pub fn check_delivery_policy(
    vault: &Vault,
    bucket: &str,
    trail: &crate::model::Trail,
    region: &str,
) -> Result<(), crate::error::ApiError> {
    let insufficient = || {
        crate::error::ApiError::client(
            "InsufficientS3BucketPolicyException",
            format!("Incorrect S3 bucket policy is detected for bucket: {bucket}"),
        )
    };
    let doc = match vault.get_doc(bucket, cairn_vault::DocKind::Policy) {
        Ok(d) => d,
        Err(VaultError::NoSuchConfiguration { .. }) | Err(VaultError::NoSuchBucket { .. }) => {
            return Ok(());
        }
        Err(e) => return Err(crate::error::ApiError::internal(e)),
    };
    let owner = vault
        .bucket(bucket)
        .map_err(crate::error::ApiError::internal)?
        .account;
    let policy = cairn_policy::Policy::parse(&doc).map_err(|_| insufficient())?;
    let source_arn = crate::model::trail_arn(region, &trail.account_id, &trail.name);
    let prefix = trail
        .s3_key_prefix
        .as_deref()
        .map(|p| format!("{p}/"))
        .unwrap_or_default();
    let probe = format!(
        "arn:aws:s3:::{bucket}/{prefix}AWSLogs/{}/CloudTrail/{region}/probe.json.gz",
        trail.account_id
    );
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    for (action, resource) in [("s3:GetBucketAcl", &bucket_arn), ("s3:PutObject", &probe)] {
        let mut context: BTreeMap<String, cairn_policy::ContextValue> = BTreeMap::new();
        context.insert("aws:sourcearn".into(), source_arn.clone().into());
        context.insert("aws:sourceaccount".into(), trail.account_id.clone().into());
        context.insert(
            "s3:x-amz-acl".into(),
            "bucket-owner-full-control".to_owned().into(),
        );
        let request = cairn_policy::Request {
            principal: cairn_policy::PrincipalInfo::service("cloudtrail.amazonaws.com"),
            action: action.to_owned(),
            resource: resource.clone(),
            resource_account: Some(owner.clone()),
            context,
        };
        let set = cairn_policy::PolicySet {
            resource: Some(("bucket-policy".to_owned(), policy.clone())),
            ..cairn_policy::PolicySet::default()
        };
        if !cairn_policy::evaluate(&request, &set).is_allowed() {
            return Err(insufficient());
        }
    }
    Ok(())
}

/// An S3 error as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// HTTP status.
    pub status: StatusCode,
    /// S3 error code.
    pub code: &'static str,
    /// Message.
    pub message: String,
    /// Extra response headers (e.g. `x-amz-delete-marker`).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with status and code.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// `AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message)
    }

    /// `InvalidArgument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    /// `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    /// `MalformedXML`.
    pub fn malformed_xml(message: impl Into<String>) -> Self {
        Self::new(400, "MalformedXML", message)
    }

    /// `NotImplemented` for an operation Cairn does not serve.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("{what} is not implemented by this Cairn server"),
        )
    }

    /// `InternalError`, detail logged only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, detail = %detail, "s3 internal error");
        Self::new(
            500,
            "InternalError",
            format!("we encountered an internal error, please try again (error id {id})"),
        )
    }
}

impl From<VaultError> for S3Error {
    fn from(e: VaultError) -> Self {
        if e.is_internal() {
            return S3Error::internal(&e);
        }
        let mut err = S3Error::new(e.http_status(), e.s3_code(), e.to_string());
        if let VaultError::DeleteMarker { version_id, .. } = &e {
            err.headers.push(("x-amz-delete-marker", "true".into()));
            err.headers.push(("x-amz-version-id", version_id.clone()));
        }
        err
    }
}

/// A successful S3 answer.
#[derive(Debug, Default)]
pub struct S3Response {
    /// Status (200 when zero).
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// `responseElements` of the audit record (`null` when empty).
    pub audit: Value,
}

impl S3Response {
    fn xml(doc: String) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(doc),
            audit: Value::Null,
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Splits a request into bucket and key (see [`cairn_s3wire::target`]).
pub fn target(host: Option<&str>, path: &str) -> Result<Target, S3Error> {
    cairn_s3wire::target(host, path).map_err(|e| S3Error::invalid_argument(e.to_string()))
}

/// Everything a handler needs about the request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) op: S3Op,
    pub(crate) target: Target,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) caller: Caller,
    pub(crate) peer: SocketAddr,
    pub(crate) request_id: String,
    pub(crate) now: OffsetDateTime,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Who makes an object event this request causes (S3 event notifications).
    pub(crate) fn origin(&self) -> cairn_vault::EventOrigin {
        cairn_vault::EventOrigin {
            principal_id: self
                .caller
                .principal
                .principal_id()
                .map(|id| format!("AWS:{id}"))
                .unwrap_or_default(),
            source_ip: self.peer.ip().to_string(),
            request_id: self.request_id.clone(),
        }
    }
}

/// What the audit record needs beyond the request.
#[derive(Debug, Default)]
pub(crate) struct AuditInfo {
    /// Owner of the bucket (the event's recipient), when known.
    pub(crate) owner: Option<String>,
    /// The bucket's region.
    pub(crate) region: Option<String>,
    /// Bytes in and out.
    pub(crate) bytes_out: u64,
}

fn error_response(e: &S3Error, head: bool, resource: &str, request_id: &str) -> Response {
    let mut w = xml::XmlWriter::bare("Error");
    w.elem("Code", e.code)
        .elem("Message", &e.message)
        .elem("Resource", resource)
        .elem("RequestId", request_id);
    let body = if head {
        Body::empty()
    } else {
        Body::from(w.finish())
    };
    let mut r = Response::new(body);
    *r.status_mut() = e.status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    for (k, v) in &e.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v);
    }
    r
}

fn ok_response(resp: S3Response, request_id: &str) -> Response {
    let mut r = Response::new(Body::from(resp.body));
    *r.status_mut() = StatusCode::from_u16(if resp.status == 0 { 200 } else { resp.status })
        .unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v);
    }
    r
}

/// Whether `caller` may read object `key` of local bucket `bucket` (and decrypt it) as a
/// GetObject would be decided: identity policies, the bucket policy, and for an SSE-KMS
/// object `kms:Decrypt` under the key policy. For services that read objects on a caller's
/// behalf (SQL over delivered log files).
pub(crate) fn authorize_object_read(
    state: &AppState,
    caller: &Caller,
    env: &crate::authz::Environment,
    bucket: &BucketInfo,
    key: &str,
) -> Result<(), S3Error> {
    let req = Request {
        op: S3Op::GetObject,
        target: Target::new(Some(&bucket.name), Some(key)),
        query: BTreeMap::new(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        caller: caller.clone(),
        peer: SocketAddr::new(env.source_ip, 0),
        request_id: String::new(),
        now: env.now,
    };
    let cx = ops::RequestCtx { state, req: &req };
    cx.on(bucket).authorize_get(key, None, true)
}

/// Whether an (unauthenticated) request was signed for S3, so its errors go out as XML.
pub(crate) fn signed_for_s3(parts: &http::request::Parts) -> bool {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = parts.uri.query().unwrap_or("");
    auth.contains("/s3/aws4_request") || query.contains("%2Fs3%2Faws4_request")
}

/// The CloudTrail `eventName` of an S3 request, from its head alone (for requests the HTTP
/// front refuses before they reach [`handle`]).
pub(crate) fn event_name_of(parts: &http::request::Parts) -> &'static str {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    match target(host, parts.uri.path()) {
        Ok(t) => {
            let query = query_map(parts.uri.query().unwrap_or(""));
            ops::classify(&parts.method, &t, &query, &parts.headers).event_name()
        }
        Err(_) => "UnknownOperation",
    }
}

/// An authentication failure in S3's XML shape.
pub(crate) fn auth_error(
    e: &crate::error::ApiError,
    method: &Method,
    request_id: &str,
) -> Response {
    let err = S3Error {
        status: e.status,
        code: e.code,
        message: e.message.clone(),
        headers: Vec::new(),
    };
    error_response(&err, method == Method::HEAD, "", request_id)
}

/// Serves one authenticated S3 request.
pub(crate) async fn handle(ctx: crate::api::RequestCtx) -> Response {
    let crate::api::RequestCtx {
        state,
        parts,
        body,
        caller,
        peer,
        request_id,
        now,
    } = ctx;
    let (state, request_id) = (&state, request_id.as_str());
    let head = parts.method == Method::HEAD;
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    let resource = parts.uri.path().to_owned();
    let target = match target(host, parts.uri.path()) {
        Ok(t) => t,
        Err(e) => return error_response(&e, head, &resource, request_id),
    };
    let query = query_map(parts.uri.query().unwrap_or(""));
    let op = ops::classify(&parts.method, &target, &query, &parts.headers);
    let req = Request {
        op,
        target,
        query,
        headers: parts.headers,
        body,
        caller,
        peer,
        request_id: request_id.to_owned(),
        now,
    };
    // A change that could not be recorded does not happen (see `crate::audit`).
    if !op.read_only()
        && let Err(e) = crate::audit::journal_room(state)
    {
        let e = match e.status {
            http::StatusCode::SERVICE_UNAVAILABLE => S3Error::new(503, "SlowDown", e.message),
            _ => S3Error::internal(e),
        };
        return error_response(&e, head, &resource, request_id);
    }
    let st = state.clone();
    let (req, result, info) = match tokio::task::spawn_blocking(move || {
        let mut info = AuditInfo::default();
        let r = ops::execute(&st, &req, &mut info);
        (req, r, info)
    })
    .await
    {
        Ok(x) => x,
        Err(e) => {
            return error_response(&S3Error::internal(e), head, &resource, request_id);
        }
    };
    if let Err(e) = record(state, &req, &result, &info, request_id).await {
        return error_response(&e, head, &resource, request_id);
    }
    match result {
        Ok(resp) => ok_response(resp, request_id),
        Err(e) => error_response(&e, head, &resource, request_id),
    }
}

/// Appends the call's CloudTrail record (durably) before the answer goes out.
async fn record(
    state: &Arc<AppState>,
    req: &Request,
    result: &Result<S3Response, S3Error>,
    info: &AuditInfo,
    request_id: &str,
) -> Result<(), S3Error> {
    let event = audit_event(req, result, info, request_id);
    crate::audit::record_event(state, event)
        .await
        .map_err(|e| match e.code {
            "ThrottlingException" => S3Error::new(503, "SlowDown", e.message),
            _ => S3Error::internal(e),
        })
}

/// The CloudTrail record of an S3 call (`eventSource: s3.amazonaws.com`).
pub(crate) fn audit_event(
    req: &Request,
    result: &Result<S3Response, S3Error>,
    info: &AuditInfo,
    request_id: &str,
) -> cairn_event::CloudTrailEvent {
    let op = req.op;
    let mut params = serde_json::Map::new();
    if let Some(b) = &req.target.bucket {
        params.insert("bucketName".into(), Value::from(b.as_str()));
    }
    if let Some(h) = req.header("host") {
        params.insert("Host".into(), Value::from(h));
    }
    if let Some(k) = &req.target.key {
        params.insert("key".into(), Value::from(k.as_str()));
    }
    for (k, v) in &req.query {
        // A presigned URL's signature and credential stay out of the record: with them,
        // a reader of the logs could replay the URL until it expires.
        if crate::identity::is_secret_parameter(k) {
            continue;
        }
        params.insert(k.clone(), Value::from(v.as_str()));
    }
    let empty = Value::Null;
    let call = crate::audit::CallRecord {
        event_source: "s3.amazonaws.com",
        event_name: op.event_name(),
        region: info.region.as_deref().unwrap_or(&req.caller.region),
        principal: &req.caller.principal,
        access_key_id: &req.caller.access_key_id,
        source_ip: req.peer.ip().to_string(),
        user_agent: req.header("user-agent"),
        request: &empty,
        outcome: match result {
            Ok(_) => Ok(&empty),
            Err(e) => Err((e.code, e.message.as_str())),
        },
        read_only: op.read_only(),
        request_id,
        time: OffsetDateTime::now_utc(),
    };
    let mut event = crate::audit::event_for(&call);
    event.request_parameters = Value::Object(params);
    if let Ok(r) = result
        && !op.read_only()
    {
        event.response_elements = r.audit.clone();
    }
    let owner = info.owner.clone();
    if let Some(o) = &owner {
        event.recipient_account_id = Some(o.clone());
    }
    let mut resources = Vec::new();
    if let Some(b) = &req.target.bucket {
        if op.is_object_level()
            && let Some(k) = &req.target.key
        {
            resources.push(cairn_event::Resource {
                arn: format!("arn:aws:s3:::{b}/{k}"),
                account_id: None,
                resource_type: "AWS::S3::Object".into(),
            });
        }
        resources.push(cairn_event::Resource {
            arn: format!("arn:aws:s3:::{b}"),
            account_id: owner,
            resource_type: "AWS::S3::Bucket".into(),
        });
    }
    event.resources = (!resources.is_empty()).then_some(resources);
    if op.is_data_event() {
        event.event_category = "Data".into();
        event.management_event = Some(false);
        event.additional_event_data = Some(serde_json::json!({
            "bytesTransferredIn": req.body.len(),
            "bytesTransferredOut": info.bytes_out,
        }));
    }
    event
}
