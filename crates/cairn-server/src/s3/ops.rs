//! S3 operations: classification, authorization and execution against the vault.

use std::collections::BTreeMap;

use cairn_policy::{ContextValue, Policy};
use cairn_vault::{
    BucketEncryption, BucketInfo, DefaultRetention, DocKind, LifecycleConfig, LifecycleRule,
    ObjectLockConfig, ObjectVersion, PublicAccessBlock, PutRequest, Retention, RetentionMode,
    SseRequest, Vault, VaultError, Versioning,
};
use http::{HeaderMap, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::xml::{self, Element, XmlWriter};
use super::{AuditInfo, Request, S3Error, S3Response, Target, local_bucket};
use crate::authz::{Access, Environment};
use crate::state::AppState;

/// Every S3 operation the endpoint recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Op {
    /// `GET /`.
    ListBuckets,
    /// `PUT /b`.
    CreateBucket,
    /// `HEAD /b`.
    HeadBucket,
    /// `DELETE /b`.
    DeleteBucket,
    /// `GET /b?location`.
    GetBucketLocation,
    /// `GET /b`.
    ListObjects,
    /// `GET /b?list-type=2`.
    ListObjectsV2,
    /// `GET /b?versions`.
    ListObjectVersions,
    /// `GET /b?versioning`.
    GetBucketVersioning,
    /// `PUT /b?versioning`.
    PutBucketVersioning,
    /// `GET /b?lifecycle`.
    GetBucketLifecycleConfiguration,
    /// `PUT /b?lifecycle`.
    PutBucketLifecycleConfiguration,
    /// `DELETE /b?lifecycle`.
    DeleteBucketLifecycle,
    /// `GET /b?policy`.
    GetBucketPolicy,
    /// `PUT /b?policy`.
    PutBucketPolicy,
    /// `DELETE /b?policy`.
    DeleteBucketPolicy,
    /// `GET /b?encryption`.
    GetBucketEncryption,
    /// `PUT /b?encryption`.
    PutBucketEncryption,
    /// `DELETE /b?encryption`.
    DeleteBucketEncryption,
    /// `GET /b?object-lock`.
    GetObjectLockConfiguration,
    /// `PUT /b?object-lock`.
    PutObjectLockConfiguration,
    /// `GET /b?publicAccessBlock`.
    GetPublicAccessBlock,
    /// `PUT /b?publicAccessBlock`.
    PutPublicAccessBlock,
    /// `DELETE /b?publicAccessBlock`.
    DeletePublicAccessBlock,
    /// `POST /b?delete`.
    DeleteObjects,
    /// `GET /b/k`.
    GetObject,
    /// `HEAD /b/k`.
    HeadObject,
    /// `PUT /b/k`.
    PutObject,
    /// `PUT /b/k` with `x-amz-copy-source`.
    CopyObject,
    /// `DELETE /b/k`.
    DeleteObject,
    /// `GET /b/k?retention`.
    GetObjectRetention,
    /// `PUT /b/k?retention`.
    PutObjectRetention,
    /// An S3 operation Cairn does not implement (named after the subresource).
    NotImplemented(&'static str),
}

/// Bucket subresources Cairn knows S3 has but does not implement.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("acl", "the acl subresource (ACLs)"),
    ("tagging", "the tagging subresource"),
    ("cors", "the cors subresource"),
    ("website", "the website subresource"),
    ("logging", "the logging subresource"),
    ("notification", "the notification subresource"),
    ("replication", "the replication subresource"),
    ("uploads", "multipart upload"),
    ("uploadId", "multipart upload"),
    ("legal-hold", "the legal-hold subresource"),
    ("accelerate", "the accelerate subresource"),
    ("requestPayment", "the requestPayment subresource"),
    ("inventory", "the inventory subresource"),
    ("metrics", "the metrics subresource"),
    ("analytics", "the analytics subresource"),
    ("intelligent-tiering", "the intelligent-tiering subresource"),
    ("ownershipControls", "the ownershipControls subresource"),
    ("restore", "object restore"),
    ("select", "S3 Select"),
    ("attributes", "GetObjectAttributes"),
    ("torrent", "torrents"),
];

/// Picks the operation from method, target and query.
pub(crate) fn classify(
    method: &Method,
    target: &Target,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> S3Op {
    use S3Op::*;
    if let Some((_, what)) = UNSUPPORTED.iter().find(|(k, _)| query.contains_key(*k)) {
        return NotImplemented(what);
    }
    let has = |k: &str| query.contains_key(k);
    match (&target.bucket, &target.key) {
        (None, _) => match *method {
            Method::GET => ListBuckets,
            _ => NotImplemented("this operation on the service root"),
        },
        (Some(_), None) => match *method {
            Method::GET if has("location") => GetBucketLocation,
            Method::GET if has("versioning") => GetBucketVersioning,
            Method::GET if has("lifecycle") => GetBucketLifecycleConfiguration,
            Method::GET if has("policy") => GetBucketPolicy,
            Method::GET if has("encryption") => GetBucketEncryption,
            Method::GET if has("object-lock") => GetObjectLockConfiguration,
            Method::GET if has("publicAccessBlock") => GetPublicAccessBlock,
            Method::GET if has("versions") => ListObjectVersions,
            Method::GET if query.get("list-type").map(String::as_str) == Some("2") => ListObjectsV2,
            Method::GET if has("policyStatus") => NotImplemented("GetBucketPolicyStatus"),
            Method::GET => ListObjects,
            Method::PUT if has("versioning") => PutBucketVersioning,
            Method::PUT if has("lifecycle") => PutBucketLifecycleConfiguration,
            Method::PUT if has("policy") => PutBucketPolicy,
            Method::PUT if has("encryption") => PutBucketEncryption,
            Method::PUT if has("object-lock") => PutObjectLockConfiguration,
            Method::PUT if has("publicAccessBlock") => PutPublicAccessBlock,
            Method::PUT if query.is_empty() => CreateBucket,
            Method::DELETE if has("lifecycle") => DeleteBucketLifecycle,
            Method::DELETE if has("policy") => DeleteBucketPolicy,
            Method::DELETE if has("encryption") => DeleteBucketEncryption,
            Method::DELETE if has("publicAccessBlock") => DeletePublicAccessBlock,
            Method::DELETE if query.is_empty() => DeleteBucket,
            Method::HEAD => HeadBucket,
            Method::POST if has("delete") => DeleteObjects,
            _ => NotImplemented("this bucket operation"),
        },
        (Some(_), Some(_)) => match *method {
            Method::GET if has("retention") => GetObjectRetention,
            Method::PUT if has("retention") => PutObjectRetention,
            Method::GET => GetObject,
            Method::HEAD => HeadObject,
            Method::PUT if headers.contains_key("x-amz-copy-source") => CopyObject,
            Method::PUT => PutObject,
            Method::DELETE => DeleteObject,
            _ => NotImplemented("this object operation"),
        },
    }
}

impl S3Op {
    /// The CloudTrail `eventName`.
    pub fn event_name(self) -> &'static str {
        use S3Op::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket => "CreateBucket",
            HeadBucket => "HeadBucket",
            DeleteBucket => "DeleteBucket",
            GetBucketLocation => "GetBucketLocation",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            GetBucketVersioning => "GetBucketVersioning",
            PutBucketVersioning => "PutBucketVersioning",
            GetBucketLifecycleConfiguration => "GetBucketLifecycle",
            PutBucketLifecycleConfiguration => "PutBucketLifecycle",
            DeleteBucketLifecycle => "DeleteBucketLifecycle",
            GetBucketPolicy => "GetBucketPolicy",
            PutBucketPolicy => "PutBucketPolicy",
            DeleteBucketPolicy => "DeleteBucketPolicy",
            GetBucketEncryption => "GetBucketEncryption",
            PutBucketEncryption => "PutBucketEncryption",
            DeleteBucketEncryption => "DeleteBucketEncryption",
            GetObjectLockConfiguration => "GetObjectLockConfiguration",
            PutObjectLockConfiguration => "PutObjectLockConfiguration",
            GetPublicAccessBlock => "GetBucketPublicAccessBlock",
            PutPublicAccessBlock => "PutBucketPublicAccessBlock",
            DeletePublicAccessBlock => "DeleteBucketPublicAccessBlock",
            DeleteObjects => "DeleteObjects",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            DeleteObject => "DeleteObject",
            GetObjectRetention => "GetObjectRetention",
            PutObjectRetention => "PutObjectRetention",
            NotImplemented(_) => "NotImplemented",
        }
    }

    /// Whether the operation only reads.
    pub fn read_only(self) -> bool {
        use S3Op::*;
        matches!(
            self,
            ListBuckets
                | HeadBucket
                | GetBucketLocation
                | ListObjects
                | ListObjectsV2
                | ListObjectVersions
                | GetBucketVersioning
                | GetBucketLifecycleConfiguration
                | GetBucketPolicy
                | GetBucketEncryption
                | GetObjectLockConfiguration
                | GetPublicAccessBlock
                | GetObject
                | HeadObject
                | GetObjectRetention
        )
    }

    /// Object-level operations (their records name the object ARN).
    pub fn is_object_level(self) -> bool {
        use S3Op::*;
        matches!(
            self,
            GetObject
                | HeadObject
                | PutObject
                | CopyObject
                | DeleteObject
                | GetObjectRetention
                | PutObjectRetention
        )
    }

    /// Recorded as data events (as CloudTrail does for S3 object APIs and listings).
    pub fn is_data_event(self) -> bool {
        use S3Op::*;
        self.is_object_level()
            || matches!(
                self,
                DeleteObjects | ListObjects | ListObjectsV2 | ListObjectVersions
            )
    }
}

// ---- helpers --------------------------------------------------------------------------------

fn iso(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

fn http_date(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// Characters S3 leaves alone with `encoding-type=url`.
const URL_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn enc(s: &str, url: bool) -> String {
    if url {
        utf8_percent_encode(s, URL_SAFE).to_string()
    } else {
        s.to_owned()
    }
}

fn bucket_name(req: &Request) -> &str {
    req.target.bucket.as_deref().unwrap_or_default()
}

fn key_name(req: &Request) -> &str {
    req.target.key.as_deref().unwrap_or_default()
}

fn vault(state: &AppState) -> &Vault {
    state.buckets.vault()
}

fn bucket_info(
    state: &AppState,
    req: &Request,
    info: &mut AuditInfo,
) -> Result<BucketInfo, S3Error> {
    let b = local_bucket(vault(state), &state.catalog, bucket_name(req))?;
    info.owner = Some(b.account.clone());
    info.region = Some(b.region.clone());
    Ok(b)
}

fn parse_body(req: &Request) -> Result<Element, S3Error> {
    xml::parse(&req.body).map_err(S3Error::malformed_xml)
}

fn flag(e: &Element, name: &str) -> bool {
    e.text_of(name)
        .is_some_and(|t| t.eq_ignore_ascii_case("true"))
}

fn owner_xml(w: &mut XmlWriter, account: &str) {
    w.open("Owner")
        .elem("ID", account)
        .elem("DisplayName", account)
        .close();
}

/// Whether a policy document grants anything to everyone (`"*"` or `{"AWS": "*"}`) without
/// conditions: S3's notion of a public policy, simplified.
fn is_public_policy(doc: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(doc) else {
        return false;
    };
    let stmts = match &v["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return false,
    };
    stmts.iter().any(|s| {
        let allow = s["Effect"] == "Allow";
        let star = |p: &Value| match p {
            Value::String(x) => x == "*",
            Value::Array(a) => a.iter().any(|x| x == "*"),
            _ => false,
        };
        let principal = &s["Principal"];
        let public = star(principal) || star(&principal["AWS"]);
        allow
            && public
            && s.get("Condition")
                .is_none_or(|c| c.as_object().is_none_or(|m| m.is_empty()))
    })
}

/// Authorizes `action` on `resource` for the caller, with the bucket's policy (and public
/// access block) applied.
fn authorize(
    state: &AppState,
    req: &Request,
    bucket: Option<&BucketInfo>,
    action: &str,
    resource: &str,
    extra: &[(&str, String)],
) -> Result<(), S3Error> {
    let mut policy: Option<Policy> = None;
    if let Some(b) = bucket {
        match vault(state).get_doc(&b.name, DocKind::Policy) {
            Ok(doc) => {
                let pab = public_access_block(state, &b.name)?;
                let cross = req.caller.account != b.account;
                if cross && pab.restrict_public_buckets && is_public_policy(&doc) {
                    return Err(S3Error::access_denied(format!(
                        "access to bucket {} is restricted to its account by its public access block",
                        b.name
                    )));
                }
                policy = Some(Policy::parse(&doc).map_err(|e| {
                    S3Error::internal(format!("stored policy of {} does not parse: {e}", b.name))
                })?);
            }
            Err(VaultError::NoSuchConfiguration { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut context: BTreeMap<String, ContextValue> = BTreeMap::new();
    for (k, v) in extra {
        context.insert((*k).to_owned(), v.clone().into());
    }
    if let Some(acl) = req.header("x-amz-acl") {
        context.insert("s3:x-amz-acl".into(), acl.to_owned().into());
    }
    if let Some(sse) = req.header("x-amz-server-side-encryption") {
        context.insert(
            "s3:x-amz-server-side-encryption".into(),
            sse.to_owned().into(),
        );
    }
    let access = Access {
        action,
        resource,
        resource_account: bucket.map(|b| b.account.as_str()),
        resource_policy: policy.as_ref().map(|p| ("bucket-policy", p)),
        context,
    };
    let env = Environment {
        source_ip: req.peer.ip(),
        secure_transport: req.caller.secure_transport,
        now: req.now,
    };
    crate::authz::authorize(state, &req.caller, &env, &access)
        .map_err(|d| S3Error::access_denied(d.message))
}

/// SSE-KMS through S3: the caller must be allowed `action` (`kms:Decrypt` to read,
/// `kms:GenerateDataKey` to write) on the object's key, by the key's policy and the caller's
/// identity policies, as when S3 calls KMS on the caller's behalf (`kms:ViaService`
/// `s3.<region>.amazonaws.com`, the object ARN as `kms:EncryptionContext:aws:s3:arn`).
/// A disabled key answers `KMS.DisabledException`, one pending deletion
/// `KMS.KMSInvalidStateException` (S3's codes for KMS faults, status 400).
///
/// `key_ref` is a key id, ARN or alias; ids and aliases resolve in `owner`'s account (the
/// bucket's, as the vault resolves them). A key that does not resolve is left to the vault,
/// which answers `KMS.NotFoundException`.
fn authorize_kms(
    state: &AppState,
    req: &Request,
    action: &str,
    key_ref: &str,
    owner: &str,
    object: &str,
) -> Result<(), S3Error> {
    let region = match key_ref.strip_prefix("arn:") {
        Some(rest) => rest.split(':').nth(2).unwrap_or_default().to_owned(),
        None => state.config.home_region.as_str().to_owned(),
    };
    let Ok((meta, policy)) = state.kms.key_and_policy(owner, &region, key_ref, true) else {
        return Ok(());
    };
    let ctx = BTreeMap::from([("aws:s3:arn".to_owned(), object.to_owned())]);
    let mut context = crate::api::kms::encryption_context_keys(&ctx);
    context.insert(
        "kms:viaservice".into(),
        format!("s3.{region}.amazonaws.com").into(),
    );
    context.insert(
        "kms:calleraccount".into(),
        req.caller.account.clone().into(),
    );
    let access = Access {
        action,
        resource: &meta.arn,
        resource_account: Some(&meta.account),
        resource_policy: Some(("key-policy", &policy)),
        context,
    };
    let env = Environment {
        source_ip: req.peer.ip(),
        secure_transport: req.caller.secure_transport,
        now: req.now,
    };
    crate::authz::authorize(state, &req.caller, &env, &access)
        .map_err(|d| S3Error::access_denied(d.message))?;
    match meta.state {
        cairn_kms::KeyState::Enabled => Ok(()),
        cairn_kms::KeyState::Disabled => Err(S3Error::new(
            400,
            "KMS.DisabledException",
            format!("{} is disabled.", meta.arn),
        )),
        cairn_kms::KeyState::PendingDeletion => Err(S3Error::new(
            400,
            "KMS.KMSInvalidStateException",
            format!("{} is pending deletion.", meta.arn),
        )),
    }
}

/// The KMS key a PUT of `key` into `b` will encrypt under, if any: the request's, else the
/// bucket default's (as [`Vault::put_object`] chooses it).
fn put_kms_key(
    state: &AppState,
    p: &PutRequest,
    b: &BucketInfo,
) -> Result<Option<String>, S3Error> {
    let default = || -> Result<Option<BucketEncryption>, S3Error> {
        match vault(state).get_doc(&b.name, DocKind::Encryption) {
            Ok(doc) => serde_json::from_str(&doc)
                .map(Some)
                .map_err(S3Error::internal),
            Err(VaultError::NoSuchConfiguration { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    Ok(match &p.sse {
        SseRequest::S3 => None,
        SseRequest::Kms(Some(k)) => Some(k.clone()),
        SseRequest::Kms(None) => Some(
            default()?
                .and_then(|e| e.kms_key_id)
                .unwrap_or_else(|| "alias/aws/s3".to_owned()),
        ),
        SseRequest::BucketDefault => default()?
            .filter(|e| e.algorithm == "aws:kms")
            .map(|e| e.kms_key_id.unwrap_or_else(|| "alias/aws/s3".to_owned())),
    })
}

fn public_access_block(state: &AppState, bucket: &str) -> Result<PublicAccessBlock, S3Error> {
    match vault(state).get_doc(bucket, DocKind::PublicAccessBlock) {
        Ok(doc) => serde_json::from_str(&doc).map_err(S3Error::internal),
        Err(VaultError::NoSuchConfiguration { .. }) => Ok(PublicAccessBlock::default()),
        Err(e) => Err(e.into()),
    }
}

/// [`authorize`] for a bucket-level action on the bucket itself, under its policy.
fn authorize_bucket(
    state: &AppState,
    req: &Request,
    b: &BucketInfo,
    action: &str,
) -> Result<(), S3Error> {
    authorize(state, req, Some(b), action, &bucket_arn(&b.name), &[])
}

fn bucket_arn(b: &str) -> String {
    format!("arn:aws:s3:::{b}")
}

fn object_arn(b: &str, k: &str) -> String {
    format!("arn:aws:s3:::{b}/{k}")
}

/// Whether the request asks to bypass governance retention and may, for `key`: the
/// permission is checked on the object's own ARN, per key (DeleteObjects names many).
fn bypass(state: &AppState, req: &Request, b: &BucketInfo, key: &str) -> Result<bool, S3Error> {
    if !req
        .header("x-amz-bypass-governance-retention")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(false);
    }
    authorize(
        state,
        req,
        Some(b),
        "s3:BypassGovernanceRetention",
        &object_arn(&b.name, key),
        &[],
    )?;
    Ok(true)
}

/// With MFA delete on, a permanent delete or a versioning change needs the bucket owner's
/// root user and `x-amz-mfa` with its own device's code ([`crate::mfa::check_s3_header`]).
fn require_mfa(state: &AppState, req: &Request, b: &BucketInfo) -> Result<(), S3Error> {
    crate::mfa::check_s3_header(
        state,
        &b.account,
        &req.caller.principal,
        req.header("x-amz-mfa"),
        req.now,
    )
    .map_err(S3Error::access_denied)
}

fn version_param(req: &Request) -> Option<&str> {
    req.query.get("versionId").map(String::as_str)
}

fn max_keys(req: &Request) -> Result<usize, S3Error> {
    match req.query.get("max-keys") {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                )
            }),
    }
}

// ---- dispatch -------------------------------------------------------------------------------

/// Runs one classified request.
pub(crate) fn execute(
    state: &AppState,
    req: &Request,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    use S3Op::*;
    match req.op {
        NotImplemented(what) => Err(S3Error::not_implemented(what)),
        ListBuckets => list_buckets(state, req),
        CreateBucket => create_bucket(state, req, info),
        op => {
            let b = bucket_info(state, req, info)?;
            match op {
                HeadBucket => {
                    authorize_bucket(state, req, &b, "s3:ListBucket")?;
                    Ok(S3Response::empty(200).header("x-amz-bucket-region", b.region.clone()))
                }
                DeleteBucket => {
                    authorize_bucket(state, req, &b, "s3:DeleteBucket")?;
                    vault(state).delete_bucket(&b.name)?;
                    state
                        .catalog
                        .delete_bucket(&b.name)
                        .map_err(S3Error::internal)?;
                    Ok(S3Response::empty(204))
                }
                GetBucketLocation => {
                    authorize_bucket(state, req, &b, "s3:GetBucketLocation")?;
                    // us-east-1 is the empty constraint, as S3 answers.
                    let region = if b.region == "us-east-1" {
                        String::new()
                    } else {
                        xml::escape(&b.region)
                    };
                    let doc = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">{region}</LocationConstraint>",
                        xml::S3_NS
                    );
                    Ok(S3Response::xml(doc))
                }
                ListObjects | ListObjectsV2 => list_objects(state, req, &b),
                ListObjectVersions => list_versions(state, req, &b),
                GetBucketVersioning => {
                    authorize_bucket(state, req, &b, "s3:GetBucketVersioning")?;
                    let mut w = XmlWriter::new("VersioningConfiguration");
                    if b.versioning != Versioning::Unversioned {
                        w.elem(
                            "Status",
                            if b.versioning == Versioning::Enabled {
                                "Enabled"
                            } else {
                                "Suspended"
                            },
                        );
                        w.elem(
                            "MfaDelete",
                            if b.mfa_delete { "Enabled" } else { "Disabled" },
                        );
                    }
                    Ok(S3Response::xml(w.finish()))
                }
                PutBucketVersioning => put_versioning(state, req, &b),
                GetBucketLifecycleConfiguration => {
                    authorize_bucket(state, req, &b, "s3:GetLifecycleConfiguration")?;
                    let doc = vault(state).get_doc(&b.name, DocKind::Lifecycle)?;
                    let cfg: LifecycleConfig =
                        serde_json::from_str(&doc).map_err(S3Error::internal)?;
                    Ok(S3Response::xml(lifecycle_xml(&cfg)))
                }
                PutBucketLifecycleConfiguration => {
                    authorize_bucket(state, req, &b, "s3:PutLifecycleConfiguration")?;
                    let cfg = parse_lifecycle(&parse_body(req)?)?;
                    let doc = serde_json::to_string(&cfg).map_err(S3Error::internal)?;
                    vault(state).put_doc(&b.name, DocKind::Lifecycle, &doc)?;
                    Ok(S3Response::empty(200))
                }
                DeleteBucketLifecycle => {
                    authorize_bucket(state, req, &b, "s3:PutLifecycleConfiguration")?;
                    vault(state).delete_doc(&b.name, DocKind::Lifecycle)?;
                    Ok(S3Response::empty(204))
                }
                GetBucketPolicy => {
                    authorize_bucket(state, req, &b, "s3:GetBucketPolicy")?;
                    let doc = vault(state).get_doc(&b.name, DocKind::Policy)?;
                    Ok(S3Response {
                        status: 200,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: doc.into(),
                        audit: Value::Null,
                    })
                }
                PutBucketPolicy => put_policy(state, req, &b),
                DeleteBucketPolicy => {
                    authorize_bucket(state, req, &b, "s3:DeleteBucketPolicy")?;
                    vault(state).delete_doc(&b.name, DocKind::Policy)?;
                    Ok(S3Response::empty(204))
                }
                GetBucketEncryption => {
                    authorize_bucket(state, req, &b, "s3:GetEncryptionConfiguration")?;
                    let enc = match vault(state).get_doc(&b.name, DocKind::Encryption) {
                        Ok(doc) => serde_json::from_str(&doc).map_err(S3Error::internal)?,
                        // Every object is encrypted: SSE-S3 is the default, as on S3 since 2023.
                        Err(VaultError::NoSuchConfiguration { .. }) => BucketEncryption {
                            algorithm: "AES256".into(),
                            kms_key_id: None,
                            bucket_key_enabled: false,
                        },
                        Err(e) => return Err(e.into()),
                    };
                    let mut w = XmlWriter::new("ServerSideEncryptionConfiguration");
                    w.open("Rule")
                        .open("ApplyServerSideEncryptionByDefault")
                        .elem("SSEAlgorithm", &enc.algorithm)
                        .opt("KMSMasterKeyID", enc.kms_key_id.as_deref())
                        .close()
                        .elem(
                            "BucketKeyEnabled",
                            if enc.bucket_key_enabled {
                                "true"
                            } else {
                                "false"
                            },
                        );
                    Ok(S3Response::xml(w.finish()))
                }
                PutBucketEncryption => {
                    authorize_bucket(state, req, &b, "s3:PutEncryptionConfiguration")?;
                    let root = parse_body(req)?;
                    let rule = root
                        .child("Rule")
                        .ok_or_else(|| S3Error::malformed_xml("a Rule is required"))?;
                    let d = rule
                        .child("ApplyServerSideEncryptionByDefault")
                        .ok_or_else(|| {
                            S3Error::malformed_xml("ApplyServerSideEncryptionByDefault is required")
                        })?;
                    let algorithm = d.text_of("SSEAlgorithm").unwrap_or_default().to_owned();
                    if algorithm != "AES256" && algorithm != "aws:kms" {
                        return Err(if algorithm == "aws:kms:dsse" {
                            S3Error::not_implemented("DSSE-KMS")
                        } else {
                            S3Error::malformed_xml("SSEAlgorithm must be AES256 or aws:kms")
                        });
                    }
                    let kms_key_id = d
                        .text_of("KMSMasterKeyID")
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned);
                    if kms_key_id.is_some() && algorithm != "aws:kms" {
                        return Err(S3Error::invalid_argument(
                            "KMSMasterKeyID is only valid with aws:kms",
                        ));
                    }
                    let enc = BucketEncryption {
                        algorithm,
                        kms_key_id,
                        bucket_key_enabled: flag(rule, "BucketKeyEnabled"),
                    };
                    let doc = serde_json::to_string(&enc).map_err(S3Error::internal)?;
                    vault(state).put_doc(&b.name, DocKind::Encryption, &doc)?;
                    Ok(S3Response::empty(200))
                }
                DeleteBucketEncryption => {
                    authorize_bucket(state, req, &b, "s3:PutEncryptionConfiguration")?;
                    vault(state).delete_doc(&b.name, DocKind::Encryption)?;
                    Ok(S3Response::empty(204))
                }
                GetObjectLockConfiguration => {
                    authorize_bucket(state, req, &b, "s3:GetBucketObjectLockConfiguration")?;
                    let doc = vault(state).get_doc(&b.name, DocKind::ObjectLock)?;
                    let cfg: ObjectLockConfig =
                        serde_json::from_str(&doc).map_err(S3Error::internal)?;
                    let mut w = XmlWriter::new("ObjectLockConfiguration");
                    if cfg.enabled {
                        w.elem("ObjectLockEnabled", "Enabled");
                    }
                    if let Some(d) = &cfg.default_retention {
                        w.open("Rule")
                            .open("DefaultRetention")
                            .elem("Mode", d.mode.as_str());
                        if let Some(days) = d.days {
                            w.elem("Days", &days.to_string());
                        }
                        if let Some(years) = d.years {
                            w.elem("Years", &years.to_string());
                        }
                    }
                    Ok(S3Response::xml(w.finish()))
                }
                PutObjectLockConfiguration => {
                    authorize_bucket(state, req, &b, "s3:PutBucketObjectLockConfiguration")?;
                    let root = parse_body(req)?;
                    if root.text_of("ObjectLockEnabled") != Some("Enabled") {
                        return Err(S3Error::malformed_xml("ObjectLockEnabled must be Enabled"));
                    }
                    let default_retention = match root
                        .child("Rule")
                        .and_then(|r| r.child("DefaultRetention"))
                    {
                        None => None,
                        Some(d) => {
                            let mode = d
                                .text_of("Mode")
                                .and_then(RetentionMode::parse)
                                .ok_or_else(|| {
                                    S3Error::malformed_xml("Mode must be GOVERNANCE or COMPLIANCE")
                                })?;
                            let num = |n: &str| -> Result<Option<u32>, S3Error> {
                                d.text_of(n)
                                    .map(|t| {
                                        t.parse::<u32>().ok().filter(|x| *x > 0).ok_or_else(|| {
                                            S3Error::invalid_argument(format!(
                                                "{n} must be a positive integer"
                                            ))
                                        })
                                    })
                                    .transpose()
                            };
                            let (days, years) = (num("Days")?, num("Years")?);
                            if days.is_some() == years.is_some() {
                                return Err(S3Error::malformed_xml(
                                    "DefaultRetention needs exactly one of Days and Years",
                                ));
                            }
                            Some(DefaultRetention { mode, days, years })
                        }
                    };
                    let cfg = ObjectLockConfig {
                        enabled: true,
                        default_retention,
                    };
                    let doc = serde_json::to_string(&cfg).map_err(S3Error::internal)?;
                    vault(state).put_doc(&b.name, DocKind::ObjectLock, &doc)?;
                    Ok(S3Response::empty(200))
                }
                GetPublicAccessBlock => {
                    authorize_bucket(state, req, &b, "s3:GetBucketPublicAccessBlock")?;
                    let doc = vault(state).get_doc(&b.name, DocKind::PublicAccessBlock)?;
                    let p: PublicAccessBlock =
                        serde_json::from_str(&doc).map_err(S3Error::internal)?;
                    let tf = |x: bool| if x { "true" } else { "false" };
                    let mut w = XmlWriter::new("PublicAccessBlockConfiguration");
                    w.elem("BlockPublicAcls", tf(p.block_public_acls))
                        .elem("IgnorePublicAcls", tf(p.ignore_public_acls))
                        .elem("BlockPublicPolicy", tf(p.block_public_policy))
                        .elem("RestrictPublicBuckets", tf(p.restrict_public_buckets));
                    Ok(S3Response::xml(w.finish()))
                }
                PutPublicAccessBlock => {
                    authorize_bucket(state, req, &b, "s3:PutBucketPublicAccessBlock")?;
                    let root = parse_body(req)?;
                    let p = PublicAccessBlock {
                        block_public_acls: flag(&root, "BlockPublicAcls"),
                        ignore_public_acls: flag(&root, "IgnorePublicAcls"),
                        block_public_policy: flag(&root, "BlockPublicPolicy"),
                        restrict_public_buckets: flag(&root, "RestrictPublicBuckets"),
                    };
                    let doc = serde_json::to_string(&p).map_err(S3Error::internal)?;
                    vault(state).put_doc(&b.name, DocKind::PublicAccessBlock, &doc)?;
                    Ok(S3Response::empty(200))
                }
                DeletePublicAccessBlock => {
                    authorize_bucket(state, req, &b, "s3:PutBucketPublicAccessBlock")?;
                    vault(state).delete_doc(&b.name, DocKind::PublicAccessBlock)?;
                    Ok(S3Response::empty(204))
                }
                DeleteObjects => delete_objects(state, req, &b),
                GetObject | HeadObject => get_object(state, req, &b, info),
                PutObject => put_object(state, req, &b),
                CopyObject => copy_object(state, req, &b, info),
                DeleteObject => delete_object(state, req, &b),
                GetObjectRetention => {
                    let action = "s3:GetObjectRetention";
                    authorize(
                        state,
                        req,
                        Some(&b),
                        action,
                        &object_arn(&b.name, key_name(req)),
                        &[],
                    )?;
                    let v = vault(state).head_object(&b.name, key_name(req), version_param(req))?;
                    let r = v.retention.ok_or_else(|| {
                        S3Error::new(
                            404,
                            "NoSuchObjectLockConfiguration",
                            "the specified object does not have a ObjectLock configuration",
                        )
                    })?;
                    let mut w = XmlWriter::new("Retention");
                    w.elem("Mode", r.mode.as_str())
                        .elem("RetainUntilDate", &iso(r.retain_until));
                    Ok(S3Response::xml(w.finish()))
                }
                PutObjectRetention => {
                    authorize(
                        state,
                        req,
                        Some(&b),
                        "s3:PutObjectRetention",
                        &object_arn(&b.name, key_name(req)),
                        &[],
                    )?;
                    let root = parse_body(req)?;
                    let retention = match (root.text_of("Mode"), root.text_of("RetainUntilDate")) {
                        (None, None) => None,
                        (Some(m), Some(d)) => Some(Retention {
                            mode: RetentionMode::parse(m).ok_or_else(|| {
                                S3Error::malformed_xml("Mode must be GOVERNANCE or COMPLIANCE")
                            })?,
                            retain_until: OffsetDateTime::parse(d, &Rfc3339).map_err(|_| {
                                S3Error::invalid_argument("RetainUntilDate is not an ISO 8601 date")
                            })?,
                        }),
                        _ => {
                            return Err(S3Error::malformed_xml(
                                "Mode and RetainUntilDate go together",
                            ));
                        }
                    };
                    if let Some(r) = &retention
                        && r.retain_until <= req.now
                    {
                        return Err(S3Error::invalid_argument(
                            "The retain until date must be in the future!",
                        ));
                    }
                    let bypass = bypass(state, req, &b, key_name(req))?;
                    let vid = vault(state).set_retention(
                        &b.name,
                        key_name(req),
                        version_param(req),
                        retention,
                        bypass,
                        req.now,
                    )?;
                    Ok(S3Response::empty(200).header("x-amz-version-id", vid))
                }
                NotImplemented(_) | ListBuckets | CreateBucket => {
                    Err(S3Error::internal("unreachable S3 operation"))
                }
            }
        }
    }
}

// ---- bucket operations ----------------------------------------------------------------------

fn list_buckets(state: &AppState, req: &Request) -> Result<S3Response, S3Error> {
    authorize(state, req, None, "s3:ListAllMyBuckets", "*", &[])?;
    // Buckets made by `cairn bucket create` join the vault on first sight.
    for row in state.catalog.buckets().map_err(S3Error::internal)? {
        local_bucket(vault(state), &state.catalog, &row.name)?;
    }
    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    owner_xml(&mut w, &req.caller.account);
    w.open("Buckets");
    for b in vault(state).buckets()? {
        if b.account == req.caller.account {
            w.open("Bucket")
                .elem("Name", &b.name)
                .elem("CreationDate", &iso(b.created))
                .close();
        }
    }
    Ok(S3Response::xml(w.finish()))
}

fn create_bucket(
    state: &AppState,
    req: &Request,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    let name = bucket_name(req);
    authorize(state, req, None, "s3:CreateBucket", &bucket_arn(name), &[])?;
    if let Some(problem) = crate::cloudtrail::bucket_name_problem(name) {
        return Err(S3Error::new(
            400,
            "InvalidBucketName",
            format!("the bucket name {name} is not valid: it {problem}"),
        ));
    }
    if state.config.buckets.contains_key(name) {
        return Err(S3Error::new(
            409,
            "BucketAlreadyExists",
            "the requested bucket name is configured on other storage",
        ));
    }
    let region = if req.body.is_empty() {
        req.caller.region.clone()
    } else {
        let root = parse_body(req)?;
        match root.text_of("LocationConstraint") {
            Some(r) if !r.is_empty() => r.to_owned(),
            _ => "us-east-1".to_owned(),
        }
    };
    let lock = req
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // A bucket made by `cairn bucket create` is already taken.
    match local_bucket(vault(state), &state.catalog, name) {
        Ok(b) => {
            return Err(if b.account == req.caller.account {
                VaultError::BucketAlreadyOwnedByYou {
                    bucket: name.into(),
                }
            } else {
                VaultError::BucketAlreadyExists {
                    bucket: name.into(),
                }
            }
            .into());
        }
        Err(VaultError::NoSuchBucket { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let b = vault(state).create_bucket(name, &req.caller.account, &region, lock, req.now)?;
    info.owner = Some(b.account.clone());
    info.region = Some(b.region.clone());
    match state.catalog.create_bucket(&crate::model::Bucket {
        name: name.to_owned(),
        account_id: b.account.clone(),
        region: region.clone(),
        created: req.now.unix_timestamp(),
    }) {
        Ok(()) | Err(crate::catalog::CatalogError::AlreadyExists(_)) => {}
        Err(e) => return Err(S3Error::internal(e)),
    }
    Ok(S3Response::empty(200).header("location", format!("/{name}")))
}

fn put_versioning(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    authorize(
        state,
        req,
        Some(b),
        "s3:PutBucketVersioning",
        &bucket_arn(&b.name),
        &[],
    )?;
    let root = parse_body(req)?;
    let status = match root.text_of("Status") {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        None if b.versioning != Versioning::Unversioned => b.versioning,
        _ => {
            return Err(S3Error::malformed_xml(
                "Status must be Enabled or Suspended",
            ));
        }
    };
    let mfa_delete = match root.text_of("MfaDelete") {
        None => None,
        Some("Enabled") => Some(true),
        Some("Disabled") => Some(false),
        Some(_) => {
            return Err(S3Error::malformed_xml(
                "MfaDelete must be Enabled or Disabled",
            ));
        }
    };
    // Changing MFA delete, or versioning while MFA delete is on, needs the device's code.
    if b.mfa_delete || mfa_delete.is_some() {
        require_mfa(state, req, b)?;
    }
    vault(state).set_versioning(&b.name, status, mfa_delete)?;
    Ok(S3Response::empty(200))
}

fn put_policy(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    authorize(
        state,
        req,
        Some(b),
        "s3:PutBucketPolicy",
        &bucket_arn(&b.name),
        &[],
    )?;
    let doc = std::str::from_utf8(&req.body)
        .map_err(|_| S3Error::new(400, "MalformedPolicy", "the policy is not UTF-8"))?;
    let policy =
        Policy::parse(doc).map_err(|e| S3Error::new(400, "MalformedPolicy", e.to_string()))?;
    policy
        .validate_as(cairn_policy::PolicyType::Resource)
        .map_err(|e| S3Error::new(400, "MalformedPolicy", e.to_string()))?;
    // Every resource must be this bucket or its objects.
    let value: Value = serde_json::from_str(doc)
        .map_err(|e| S3Error::new(400, "MalformedPolicy", e.to_string()))?;
    let stmts = match &value["Statement"] {
        Value::Array(a) => a.clone(),
        s => vec![s.clone()],
    };
    let arn = bucket_arn(&b.name);
    for s in &stmts {
        let res: Vec<String> = match &s["Resource"] {
            Value::String(r) => vec![r.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(bad) = res
            .iter()
            .find(|r| **r != arn && !r.starts_with(&format!("{arn}/")))
        {
            return Err(S3Error::new(
                400,
                "MalformedPolicy",
                format!("Policy has invalid resource: {bad}"),
            ));
        }
    }
    if public_access_block(state, &b.name)?.block_public_policy && is_public_policy(doc) {
        return Err(S3Error::access_denied(
            "the bucket's public access block forbids a policy that grants access to everyone",
        ));
    }
    vault(state).put_doc(&b.name, DocKind::Policy, doc)?;
    Ok(S3Response::empty(204))
}

fn list_objects(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    let prefix = req.query.get("prefix").cloned().unwrap_or_default();
    authorize(
        state,
        req,
        Some(b),
        "s3:ListBucket",
        &bucket_arn(&b.name),
        &[("s3:prefix", prefix.clone())],
    )?;
    let v2 = req.op == S3Op::ListObjectsV2;
    let url = match req.query.get("encoding-type").map(String::as_str) {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let delimiter = req
        .query
        .get("delimiter")
        .cloned()
        .filter(|d| !d.is_empty());
    let max = max_keys(req)?;
    let marker = if v2 {
        match req.query.get("continuation-token") {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::invalid_argument("The continuation token provided is incorrect")
                    })?,
            ),
            None => req.query.get("start-after").cloned(),
        }
    } else {
        req.query.get("marker").cloned()
    };
    let l = if max == 0 {
        cairn_vault::ObjectListing::default()
    } else {
        vault(state).list_objects(
            &b.name,
            &prefix,
            marker.as_deref(),
            delimiter.as_deref(),
            max,
        )?
    };
    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &b.name).elem("Prefix", &enc(&prefix, url));
    if v2 {
        w.opt(
            "StartAfter",
            req.query.get("start-after").map(|s| enc(s, url)).as_deref(),
        )
        .opt(
            "ContinuationToken",
            req.query.get("continuation-token").map(String::as_str),
        )
        .elem(
            "KeyCount",
            &(l.objects.len() + l.common_prefixes.len()).to_string(),
        );
    } else {
        w.elem("Marker", &enc(marker.as_deref().unwrap_or(""), url));
    }
    w.elem("MaxKeys", &max.to_string())
        .opt(
            "Delimiter",
            delimiter.as_deref().map(|d| enc(d, url)).as_deref(),
        )
        .elem("IsTruncated", if l.is_truncated { "true" } else { "false" });
    if l.is_truncated
        && let Some(next) = &l.next_marker
    {
        if v2 {
            w.elem("NextContinuationToken", &hex::encode(next));
        } else {
            w.elem("NextMarker", &enc(next, url));
        }
    }
    if url {
        w.elem("EncodingType", "url");
    }
    let fetch_owner = !v2 || req.query.get("fetch-owner").is_some_and(|v| v == "true");
    for o in &l.objects {
        w.open("Contents")
            .elem("Key", &enc(&o.key, url))
            .elem("LastModified", &iso(o.last_modified))
            .elem("ETag", &format!("\"{}\"", o.etag))
            .elem("Size", &o.size.to_string());
        if fetch_owner {
            owner_xml(&mut w, &o.owner);
        }
        w.elem("StorageClass", &o.storage_class).close();
    }
    for p in &l.common_prefixes {
        w.open("CommonPrefixes")
            .elem("Prefix", &enc(p, url))
            .close();
    }
    Ok(S3Response::xml(w.finish()))
}

fn list_versions(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    let prefix = req.query.get("prefix").cloned().unwrap_or_default();
    authorize(
        state,
        req,
        Some(b),
        "s3:ListBucketVersions",
        &bucket_arn(&b.name),
        &[("s3:prefix", prefix.clone())],
    )?;
    let url = req.query.get("encoding-type").is_some_and(|e| e == "url");
    let delimiter = req
        .query
        .get("delimiter")
        .cloned()
        .filter(|d| !d.is_empty());
    let max = max_keys(req)?;
    let km = req.query.get("key-marker").cloned();
    let vm = req.query.get("version-id-marker").cloned();
    let l = vault(state).list_versions(
        &b.name,
        &prefix,
        km.as_deref(),
        vm.as_deref(),
        delimiter.as_deref(),
        max.max(1),
    )?;
    let mut w = XmlWriter::new("ListVersionsResult");
    w.elem("Name", &b.name)
        .elem("Prefix", &enc(&prefix, url))
        .elem("KeyMarker", &enc(km.as_deref().unwrap_or(""), url))
        .elem("VersionIdMarker", vm.as_deref().unwrap_or(""))
        .elem("MaxKeys", &max.to_string())
        .opt(
            "Delimiter",
            delimiter.as_deref().map(|d| enc(d, url)).as_deref(),
        )
        .elem("IsTruncated", if l.is_truncated { "true" } else { "false" })
        .opt(
            "NextKeyMarker",
            l.next_key_marker.as_deref().map(|k| enc(k, url)).as_deref(),
        )
        .opt("NextVersionIdMarker", l.next_version_id_marker.as_deref());
    if url {
        w.elem("EncodingType", "url");
    }
    for v in &l.versions {
        if v.delete_marker {
            w.open("DeleteMarker")
                .elem("Key", &enc(&v.key, url))
                .elem("VersionId", &v.version_id)
                .elem("IsLatest", if v.is_latest { "true" } else { "false" })
                .elem("LastModified", &iso(v.last_modified));
            owner_xml(&mut w, &v.owner);
            w.close();
        } else {
            w.open("Version")
                .elem("Key", &enc(&v.key, url))
                .elem("VersionId", &v.version_id)
                .elem("IsLatest", if v.is_latest { "true" } else { "false" })
                .elem("LastModified", &iso(v.last_modified))
                .elem("ETag", &format!("\"{}\"", v.etag))
                .elem("Size", &v.size.to_string())
                .elem("StorageClass", &v.storage_class);
            owner_xml(&mut w, &v.owner);
            w.close();
        }
    }
    for p in &l.common_prefixes {
        w.open("CommonPrefixes")
            .elem("Prefix", &enc(p, url))
            .close();
    }
    Ok(S3Response::xml(w.finish()))
}

// ---- lifecycle XML --------------------------------------------------------------------------

fn parse_days(e: &Element, name: &str) -> Result<Option<u32>, S3Error> {
    e.text_of(name)
        .map(|t| {
            t.parse::<u32>().ok().filter(|d| *d > 0).ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "'{name}' for lifecycle must be a positive integer"
                ))
            })
        })
        .transpose()
}

/// `LifecycleConfiguration` XML → rules.
pub(crate) fn parse_lifecycle(root: &Element) -> Result<LifecycleConfig, S3Error> {
    let mut rules = Vec::new();
    for r in root.children_named("Rule") {
        let enabled = match r.text_of("Status") {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(S3Error::malformed_xml("Status must be Enabled or Disabled")),
        };
        let prefix = r
            .child("Filter")
            .map(|f| {
                f.text_of("Prefix")
                    .or_else(|| f.child("And").and_then(|a| a.text_of("Prefix")))
                    .unwrap_or("")
            })
            .or_else(|| r.text_of("Prefix"))
            .unwrap_or("")
            .to_owned();
        let mut rule = LifecycleRule {
            id: r.text_of("ID").map(str::to_owned),
            enabled,
            prefix,
            ..LifecycleRule::default()
        };
        if let Some(e) = r.child("Expiration") {
            if e.child("Date").is_some() {
                return Err(S3Error::not_implemented("lifecycle expiration by Date"));
            }
            rule.expiration_days = parse_days(e, "Days")?;
            rule.expired_object_delete_marker = flag(e, "ExpiredObjectDeleteMarker");
        }
        for t in r.children_named("Transition") {
            if t.child("Date").is_some() {
                return Err(S3Error::not_implemented("lifecycle transition by Date"));
            }
            let days = parse_days(t, "Days")?.unwrap_or(0);
            let class = t.text_of("StorageClass").unwrap_or_default();
            if !matches!(
                class,
                "GLACIER"
                    | "DEEP_ARCHIVE"
                    | "GLACIER_IR"
                    | "STANDARD_IA"
                    | "ONEZONE_IA"
                    | "INTELLIGENT_TIERING"
            ) {
                return Err(S3Error::invalid_argument(format!(
                    "unknown storage class {class}"
                )));
            }
            rule.transitions.push((days, class.to_owned()));
        }
        if let Some(n) = r.child("NoncurrentVersionExpiration") {
            rule.noncurrent_expiration_days = parse_days(n, "NoncurrentDays")?;
        }
        if rule.expiration_days.is_none()
            && !rule.expired_object_delete_marker
            && rule.transitions.is_empty()
            && rule.noncurrent_expiration_days.is_none()
        {
            return Err(S3Error::malformed_xml(
                "a lifecycle rule needs at least one action",
            ));
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(S3Error::malformed_xml(
            "a lifecycle configuration needs at least one Rule",
        ));
    }
    Ok(LifecycleConfig { rules })
}

fn lifecycle_xml(cfg: &LifecycleConfig) -> String {
    let mut w = XmlWriter::new("LifecycleConfiguration");
    for r in &cfg.rules {
        w.open("Rule").opt("ID", r.id.as_deref());
        w.open("Filter").elem("Prefix", &r.prefix).close();
        w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        for (d, c) in &r.transitions {
            w.open("Transition")
                .elem("Days", &d.to_string())
                .elem("StorageClass", c)
                .close();
        }
        if r.expiration_days.is_some() || r.expired_object_delete_marker {
            w.open("Expiration");
            if let Some(d) = r.expiration_days {
                w.elem("Days", &d.to_string());
            }
            if r.expired_object_delete_marker {
                w.elem("ExpiredObjectDeleteMarker", "true");
            }
            w.close();
        }
        if let Some(d) = r.noncurrent_expiration_days {
            w.open("NoncurrentVersionExpiration")
                .elem("NoncurrentDays", &d.to_string())
                .close();
        }
        w.close();
    }
    w.finish()
}

// ---- object operations ----------------------------------------------------------------------

fn object_headers(mut r: S3Response, v: &ObjectVersion, versioned: bool) -> S3Response {
    r = r
        .header("etag", format!("\"{}\"", v.etag))
        .header("last-modified", http_date(v.last_modified))
        .header("accept-ranges", "bytes")
        .header("x-amz-server-side-encryption", v.sse.clone());
    if let Some(k) = &v.kms_key_arn {
        r = r.header("x-amz-server-side-encryption-aws-kms-key-id", k.clone());
    }
    if versioned {
        r = r.header("x-amz-version-id", v.version_id.clone());
    }
    if v.storage_class != "STANDARD" {
        r = r.header("x-amz-storage-class", v.storage_class.clone());
    }
    if let Some(ret) = &v.retention {
        r = r
            .header("x-amz-object-lock-mode", ret.mode.as_str())
            .header("x-amz-object-lock-retain-until-date", iso(ret.retain_until));
    }
    for (k, val) in &v.user_metadata {
        r = r.header(&format!("x-amz-meta-{k}"), val.clone());
    }
    r
}

/// Parses a `Range` header against `size`: `Ok(None)` for no range.
fn range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(h) = header else { return Ok(None) };
    let bad = || {
        let mut e = S3Error::new(
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
        );
        e.headers.push(("content-range", format!("bytes */{size}")));
        e
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| bad())?, size.saturating_sub(1)),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().map_err(|_| bad())?, e.parse().map_err(|_| bad())?);
            if e < s {
                return Ok(None);
            }
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// What reading `key` (version `vid`) of `b` needs: `s3:GetObject` (`s3:GetObjectVersion`
/// for a version) under the bucket policy and, when the body is `decrypt`ed, `kms:Decrypt` on
/// an SSE-KMS object's key (HEAD decrypts nothing). Lookup faults are left to the read.
/// GetObject, and SQL over delivered log files (`crate::lake`), read through this.
pub(crate) fn authorize_get(
    state: &AppState,
    req: &Request,
    b: &BucketInfo,
    key: &str,
    vid: Option<&str>,
    decrypt: bool,
) -> Result<(), S3Error> {
    let action = if vid.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    authorize(state, req, Some(b), action, &object_arn(&b.name, key), &[])?;
    if decrypt
        && let Ok(meta) = vault(state).head_object(&b.name, key, vid)
        && let Some(arn) = &meta.kms_key_arn
    {
        authorize_kms(
            state,
            req,
            "kms:Decrypt",
            arn,
            &b.account,
            &object_arn(&b.name, key),
        )?;
    }
    Ok(())
}

fn get_object(
    state: &AppState,
    req: &Request,
    b: &BucketInfo,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    let key = key_name(req);
    let vid = version_param(req);
    let versioned = b.versioning != Versioning::Unversioned;
    let head = req.op == S3Op::HeadObject;
    authorize_get(state, req, b, key, vid, !head)?;
    let fetch = || -> Result<(ObjectVersion, Vec<u8>), VaultError> {
        if head {
            Ok((vault(state).head_object(&b.name, key, vid)?, Vec::new()))
        } else {
            vault(state).get_object(&b.name, key, vid)
        }
    };
    let (v, body) = match fetch() {
        Ok(x) => x,
        // A GET naming a delete marker's version is "method not allowed", as on S3.
        Err(VaultError::DeleteMarker { version_id, .. }) if vid.is_some() => {
            let mut e = S3Error::new(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            );
            e.headers.push(("x-amz-delete-marker", "true".into()));
            e.headers.push(("x-amz-version-id", version_id));
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(inm) = req.header("if-none-match")
        && inm.trim_matches('"') == v.etag
    {
        return Ok(object_headers(S3Response::empty(304), &v, versioned));
    }
    if let Some(im) = req.header("if-match")
        && im.trim_matches('"') != v.etag
        && im != "*"
    {
        return Err(S3Error::new(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    let mut r = S3Response::empty(200);
    let ct = v
        .content_type
        .clone()
        .unwrap_or_else(|| "binary/octet-stream".into());
    r = r.header("content-type", ct);
    let size = v.size;
    match range(req.header("range"), size)? {
        Some((s, e)) => {
            r.status = 206;
            r = r.header("content-range", format!("bytes {s}-{e}/{size}"));
            if head {
                r = r.header("content-length", (e - s + 1).to_string());
            } else {
                r.body = axum::body::Bytes::from(body).slice(s as usize..=e as usize);
            }
        }
        None => {
            if head {
                r = r.header("content-length", size.to_string());
            } else {
                r.body = body.into();
            }
        }
    }
    info.bytes_out = r.body.len() as u64;
    Ok(object_headers(r, &v, versioned))
}

fn put_request(req: &Request, b: &BucketInfo, bypass: bool) -> Result<PutRequest, S3Error> {
    let mut user_metadata = BTreeMap::new();
    for (name, value) in &req.headers {
        if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = value
                .to_str()
                .map_err(|_| S3Error::invalid_argument("user metadata must be US-ASCII"))?;
            user_metadata.insert(m.to_owned(), v.to_owned());
        }
    }
    let user_metadata = cairn_store::normalize_user_metadata(&user_metadata).map_err(|e| {
        if e.to_string().contains("large") || e.to_string().contains("2 KB") {
            S3Error::new(400, "MetadataTooLarge", e.to_string())
        } else {
            S3Error::invalid_argument(e.to_string())
        }
    })?;
    let sse = match req.header("x-amz-server-side-encryption") {
        None => {
            if req
                .header("x-amz-server-side-encryption-aws-kms-key-id")
                .is_some()
            {
                return Err(S3Error::invalid_argument(
                    "x-amz-server-side-encryption-aws-kms-key-id requires x-amz-server-side-encryption: aws:kms",
                ));
            }
            SseRequest::BucketDefault
        }
        Some("AES256") => SseRequest::S3,
        Some("aws:kms") => SseRequest::Kms(
            req.header("x-amz-server-side-encryption-aws-kms-key-id")
                .map(str::to_owned),
        ),
        Some("aws:kms:dsse") => return Err(S3Error::not_implemented("DSSE-KMS")),
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "the encryption method specified is not supported",
            ));
        }
    };
    if req
        .header("x-amz-server-side-encryption-customer-algorithm")
        .is_some()
    {
        return Err(S3Error::not_implemented("SSE-C"));
    }
    let retention = match (
        req.header("x-amz-object-lock-mode"),
        req.header("x-amz-object-lock-retain-until-date"),
    ) {
        (None, None) => None,
        (Some(m), Some(d)) => {
            let mode = RetentionMode::parse(m)
                .ok_or_else(|| S3Error::invalid_argument("Unknown wormMode directive."))?;
            let until = OffsetDateTime::parse(d, &Rfc3339).map_err(|_| {
                S3Error::invalid_argument(
                    "The retain until date must be provided in ISO 8601 format",
                )
            })?;
            if until <= req.now {
                return Err(S3Error::invalid_argument(
                    "The retain until date must be in the future!",
                ));
            }
            Some(Retention {
                mode,
                retain_until: until,
            })
        }
        _ => {
            return Err(S3Error::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ));
        }
    };
    let legal_hold = match req.header("x-amz-object-lock-legal-hold") {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
            ));
        }
    };
    let if_none_match = match req.header("if-none-match") {
        None => false,
        Some("*") => true,
        Some(_) => {
            return Err(S3Error::not_implemented(
                "If-None-Match with an ETag on PUT",
            ));
        }
    };
    Ok(PutRequest {
        content_type: req.header("content-type").map(str::to_owned),
        user_metadata,
        sse,
        if_none_match,
        retention,
        legal_hold,
        bypass_governance: bypass,
        storage_class: req
            .header("x-amz-storage-class")
            .map(str::to_owned)
            .filter(|s| s != "STANDARD"),
        account: b.account.clone(),
    })
}

fn put_outcome(o: &cairn_vault::PutOutcome, versioned: bool) -> S3Response {
    let mut r = S3Response::empty(200)
        .header("etag", format!("\"{}\"", o.etag))
        .header("x-amz-server-side-encryption", o.sse.clone());
    let mut audit = serde_json::Map::new();
    audit.insert("x-amz-server-side-encryption".into(), json!(o.sse));
    if let Some(k) = &o.kms_key_arn {
        r = r.header("x-amz-server-side-encryption-aws-kms-key-id", k.clone());
        audit.insert(
            "x-amz-server-side-encryption-aws-kms-key-id".into(),
            json!(k),
        );
    }
    if versioned {
        r = r.header("x-amz-version-id", o.version_id.clone());
        audit.insert("x-amz-version-id".into(), json!(o.version_id));
    }
    r.audit = Value::Object(audit);
    r
}

fn put_object(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    let key = key_name(req);
    authorize(
        state,
        req,
        Some(b),
        "s3:PutObject",
        &object_arn(&b.name, key),
        &[],
    )?;
    check_key(key)?;
    if let Some(md5) = req.header("content-md5") {
        use base64::Engine;
        let want = base64::engine::general_purpose::STANDARD
            .decode(md5)
            .map_err(|_| {
                S3Error::new(
                    400,
                    "InvalidDigest",
                    "The Content-MD5 you specified was invalid.",
                )
            })?;
        if hex::encode(want) != cairn_store::md5_hex(&req.body) {
            return Err(S3Error::new(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let bypass = bypass(state, req, b, key)?;
    let p = put_request(req, b, bypass)?;
    if let Some(k) = put_kms_key(state, &p, b)? {
        authorize_kms(
            state,
            req,
            "kms:GenerateDataKey",
            &k,
            &b.account,
            &object_arn(&b.name, key),
        )?;
    }
    let o = vault(state).put_object(&b.name, key, &req.body, &p, req.now)?;
    Ok(put_outcome(&o, b.versioning != Versioning::Unversioned))
}

/// The key rules every object key that enters a bucket obeys ([`cairn_store::validate_key`]:
/// no `.`/`..` or empty segments, not absolute, no control characters, at most 1024 bytes).
fn check_key(key: &str) -> Result<(), S3Error> {
    cairn_store::validate_key(key)
        .map_err(|e| S3Error::new(400, "KeyTooLongError", e.to_string()).with_code_for_key(key))
}

impl S3Error {
    /// Keys over 1024 bytes are `KeyTooLongError`; other key faults `InvalidArgument`.
    fn with_code_for_key(mut self, key: &str) -> Self {
        if key.len() <= cairn_store::MAX_KEY_LEN {
            self.code = "InvalidArgument";
        }
        self
    }
}

fn copy_object(
    state: &AppState,
    req: &Request,
    b: &BucketInfo,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    let key = key_name(req);
    let src = req.header("x-amz-copy-source").unwrap_or_default();
    let (path, q) = src.split_once('?').unwrap_or((src, ""));
    let t = super::target(
        None,
        if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        }
        .as_str(),
    )?;
    let (Some(sb), Some(sk)) = (t.bucket, t.key) else {
        return Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        ));
    };
    // The destination is a new key like PutObject's; the source must be a key that could
    // have been stored.
    check_key(key)?;
    check_key(&sk)?;
    let sq = super::query_map(q);
    let svid = sq.get("versionId").map(String::as_str);
    let source = local_bucket(vault(state), &state.catalog, &sb)?;
    let action = if svid.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    authorize(
        state,
        req,
        Some(&source),
        action,
        &object_arn(&sb, &sk),
        &[],
    )?;
    authorize(
        state,
        req,
        Some(b),
        "s3:PutObject",
        &object_arn(&b.name, key),
        &[],
    )?;
    let sm = vault(state).head_object(&sb, &sk, svid)?;
    if let Some(arn) = &sm.kms_key_arn {
        authorize_kms(
            state,
            req,
            "kms:Decrypt",
            arn,
            &source.account,
            &object_arn(&sb, &sk),
        )?;
    }
    let (sv, body) = vault(state).get_object(&sb, &sk, svid)?;
    info.bytes_out = 0;
    let bypass = bypass(state, req, b, key)?;
    let mut p = put_request(req, b, bypass)?;
    if let Some(k) = put_kms_key(state, &p, b)? {
        authorize_kms(
            state,
            req,
            "kms:GenerateDataKey",
            &k,
            &b.account,
            &object_arn(&b.name, key),
        )?;
    }
    let replace = req.header("x-amz-metadata-directive") == Some("REPLACE");
    if !replace {
        if sb == b.name
            && sk == key
            && p.sse == SseRequest::BucketDefault
            && p.storage_class.is_none()
        {
            return Err(S3Error::invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        p.user_metadata = sv.user_metadata.clone();
        p.content_type = sv.content_type.clone();
    }
    let o = vault(state).put_object(&b.name, key, &body, &p, req.now)?;
    let mut w = XmlWriter::new("CopyObjectResult");
    w.elem("ETag", &format!("\"{}\"", o.etag))
        .elem("LastModified", &iso(req.now));
    let mut r = put_outcome(&o, b.versioning != Versioning::Unversioned);
    r.body = w.finish().into();
    r.headers
        .push(("content-type".into(), "application/xml".into()));
    if source.versioning != Versioning::Unversioned {
        r = r.header("x-amz-copy-source-version-id", sv.version_id.clone());
    }
    Ok(r)
}

fn delete_object(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    let key = key_name(req);
    let vid = version_param(req);
    let action = if vid.is_some() {
        "s3:DeleteObjectVersion"
    } else {
        "s3:DeleteObject"
    };
    authorize(state, req, Some(b), action, &object_arn(&b.name, key), &[])?;
    if vid.is_some() && b.mfa_delete {
        require_mfa(state, req, b)?;
    }
    let bypass = bypass(state, req, b, key)?;
    let o = vault(state).delete_object(&b.name, key, vid, bypass, req.now)?;
    let mut r = S3Response::empty(204);
    let mut audit = serde_json::Map::new();
    if o.delete_marker {
        r = r.header("x-amz-delete-marker", "true");
        audit.insert("x-amz-delete-marker".into(), json!("true"));
    }
    if let Some(v) = o.version_id {
        audit.insert("x-amz-version-id".into(), json!(v));
        r = r.header("x-amz-version-id", v);
    }
    r.audit = if audit.is_empty() {
        Value::Null
    } else {
        Value::Object(audit)
    };
    Ok(r)
}

fn delete_objects(state: &AppState, req: &Request, b: &BucketInfo) -> Result<S3Response, S3Error> {
    let root = parse_body(req)?;
    let quiet = flag(&root, "Quiet");
    let objects: Vec<(String, Option<String>)> = root
        .children_named("Object")
        .map(|o| {
            (
                o.text_of("Key").unwrap_or_default().to_owned(),
                o.text_of("VersionId").map(str::to_owned),
            )
        })
        .collect();
    if objects.is_empty() || objects.len() > 1000 {
        return Err(S3Error::malformed_xml(
            "a Delete request names 1 to 1000 objects",
        ));
    }
    let mut w = XmlWriter::new("DeleteResult");
    // The request's MFA code is checked once, at the first version it is needed for (a
    // code is accepted only once), and the outcome holds for the whole request.
    let mut mfa: Option<Result<(), S3Error>> = None;
    for (key, vid) in &objects {
        let mut attempt = || -> Result<cairn_vault::DeleteOutcome, S3Error> {
            let action = if vid.is_some() {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            authorize(state, req, Some(b), action, &object_arn(&b.name, key), &[])?;
            if vid.is_some() && b.mfa_delete {
                mfa.get_or_insert_with(|| require_mfa(state, req, b))
                    .clone()?;
            }
            let bypass = bypass(state, req, b, key)?;
            Ok(vault(state).delete_object(&b.name, key, vid.as_deref(), bypass, req.now)?)
        };
        match attempt() {
            Ok(o) => {
                if !quiet {
                    w.open("Deleted")
                        .elem("Key", key)
                        .opt("VersionId", vid.as_deref());
                    if o.delete_marker {
                        w.elem("DeleteMarker", "true");
                        if vid.is_none() {
                            w.opt("DeleteMarkerVersionId", o.version_id.as_deref());
                        }
                    }
                    w.close();
                }
            }
            Err(e) => {
                w.open("Error")
                    .elem("Key", key)
                    .opt("VersionId", vid.as_deref())
                    .elem("Code", e.code)
                    .elem("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(S3Response::xml(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(b: Option<&str>, k: Option<&str>) -> Target {
        Target {
            bucket: b.map(str::to_owned),
            key: k.map(str::to_owned),
        }
    }

    #[test]
    fn classification() {
        let q = |s: &str| super::super::query_map(s);
        let h = HeaderMap::new();
        assert_eq!(
            classify(&Method::GET, &t(None, None), &q(""), &h),
            S3Op::ListBuckets
        );
        assert_eq!(
            classify(&Method::GET, &t(Some("b"), None), &q("versioning"), &h),
            S3Op::GetBucketVersioning
        );
        assert_eq!(
            classify(
                &Method::GET,
                &t(Some("b"), None),
                &q("list-type=2&prefix=a"),
                &h
            ),
            S3Op::ListObjectsV2
        );
        assert_eq!(
            classify(
                &Method::GET,
                &t(Some("b"), None),
                &q("prefix=a&marker=x"),
                &h
            ),
            S3Op::ListObjects
        );
        assert_eq!(
            classify(&Method::POST, &t(Some("b"), None), &q("delete"), &h),
            S3Op::DeleteObjects
        );
        assert_eq!(
            classify(&Method::PUT, &t(Some("b"), Some("k")), &q("acl"), &h),
            S3Op::NotImplemented("the acl subresource (ACLs)")
        );
        assert_eq!(
            classify(&Method::POST, &t(Some("b"), Some("k")), &q("uploads"), &h),
            S3Op::NotImplemented("multipart upload")
        );
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", "/a/b".parse().unwrap());
        assert_eq!(
            classify(&Method::PUT, &t(Some("b"), Some("k")), &q(""), &copy),
            S3Op::CopyObject
        );
        assert!(S3Op::GetObject.is_data_event() && S3Op::ListObjects.is_data_event());
        assert!(!S3Op::PutBucketPolicy.is_data_event());
    }

    #[test]
    fn ranges() {
        assert_eq!(range(Some("bytes=0-9"), 100).unwrap(), Some((0, 9)));
        assert_eq!(range(Some("bytes=90-"), 100).unwrap(), Some((90, 99)));
        assert_eq!(range(Some("bytes=-10"), 100).unwrap(), Some((90, 99)));
        assert_eq!(range(Some("bytes=50-500"), 100).unwrap(), Some((50, 99)));
        assert_eq!(
            range(Some("bytes=100-"), 100).unwrap_err().code,
            "InvalidRange"
        );
        assert_eq!(range(None, 100).unwrap(), None);
    }

    #[test]
    fn public_policies() {
        assert!(is_public_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#
        ));
        assert!(is_public_policy(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:*","Resource":"*"}}"#
        ));
        assert!(!is_public_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#
        ));
        assert!(!is_public_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"1"}}}]}"#
        ));
    }

    #[test]
    fn lifecycle_round_trip() {
        let doc = br#"<LifecycleConfiguration><Rule><ID>r1</ID><Filter><Prefix>AWSLogs/</Prefix></Filter><Status>Enabled</Status>
            <Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>
            <Expiration><Days>365</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>"#;
        let cfg = parse_lifecycle(&xml::parse(doc).unwrap()).unwrap();
        assert_eq!(cfg.rules[0].transitions, [(30, "GLACIER".to_owned())]);
        assert_eq!(cfg.rules[0].expiration_days, Some(365));
        let again = parse_lifecycle(&xml::parse(lifecycle_xml(&cfg).as_bytes()).unwrap()).unwrap();
        assert_eq!(again, cfg);
        let bad = br#"<LifecycleConfiguration><Rule><Status>Enabled</Status></Rule></LifecycleConfiguration>"#;
        assert!(parse_lifecycle(&xml::parse(bad).unwrap()).is_err());
    }
}
