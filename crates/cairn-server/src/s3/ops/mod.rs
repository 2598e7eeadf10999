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

mod bucket;
mod object;

use bucket::*;
pub(crate) use object::authorize_get;
use object::*;

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
    utc(
        t,
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ),
    )
}

fn http_date(t: OffsetDateTime) -> String {
    utc(
        t,
        time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ),
    )
}

/// `t` in UTC, formatted with `fmt`.
fn utc(t: OffsetDateTime, fmt: &(impl time::formatting::Formattable + ?Sized)) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(fmt)
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
    decide(state, req, &access)
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
    decide(state, req, &access)?;
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

/// [`authorize`] for `action` on the object `key` of `b`, with no extra context.
fn authorize_object(
    state: &AppState,
    req: &Request,
    b: &BucketInfo,
    action: &str,
    key: &str,
) -> Result<(), S3Error> {
    authorize(state, req, Some(b), action, &object_arn(&b.name, key), &[])
}

/// A PUT of `key` into `b` that will encrypt under a KMS key ([`put_kms_key`]) needs
/// `kms:GenerateDataKey` on that key ([`authorize_kms`]).
fn authorize_put_kms(
    state: &AppState,
    req: &Request,
    p: &PutRequest,
    b: &BucketInfo,
    key: &str,
) -> Result<(), S3Error> {
    match put_kms_key(state, p, b)? {
        Some(k) => authorize_kms(
            state,
            req,
            "kms:GenerateDataKey",
            &k,
            &b.account,
            &object_arn(&b.name, key),
        ),
        None => Ok(()),
    }
}

/// Decides `access` for the request's caller, from where and when it was made.
fn decide(state: &AppState, req: &Request, access: &Access<'_>) -> Result<(), S3Error> {
    let env = Environment {
        source_ip: req.peer.ip(),
        secure_transport: req.caller.secure_transport,
        now: req.now,
    };
    crate::authz::authorize(state, &req.caller, &env, access)
        .map_err(|d| S3Error::access_denied(d.message))
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
    authorize_object(state, req, b, "s3:BypassGovernanceRetention", key)?;
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

/// Runs one classified request: one function per operation.
pub(crate) fn execute(
    state: &AppState,
    req: &Request,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    use S3Op::*;
    match req.op {
        NotImplemented(what) => return Err(S3Error::not_implemented(what)),
        ListBuckets => return bucket::list_buckets(state, req),
        CreateBucket => return bucket::create_bucket(state, req, info),
        _ => {}
    }
    let b = &bucket_info(state, req, info)?;
    match req.op {
        HeadBucket => bucket::head_bucket(state, req, b),
        DeleteBucket => bucket::delete_bucket(state, req, b),
        GetBucketLocation => bucket::get_bucket_location(state, req, b),
        ListObjects | ListObjectsV2 => list_objects(state, req, b),
        ListObjectVersions => list_versions(state, req, b),
        GetBucketVersioning => bucket::get_bucket_versioning(state, req, b),
        PutBucketVersioning => put_versioning(state, req, b),
        GetBucketLifecycleConfiguration => {
            bucket::get_bucket_lifecycle_configuration(state, req, b)
        }
        PutBucketLifecycleConfiguration => {
            bucket::put_bucket_lifecycle_configuration(state, req, b)
        }
        DeleteBucketLifecycle => bucket::delete_config(
            state,
            req,
            b,
            "s3:PutLifecycleConfiguration",
            DocKind::Lifecycle,
        ),
        GetBucketPolicy => bucket::get_bucket_policy(state, req, b),
        PutBucketPolicy => put_policy(state, req, b),
        DeleteBucketPolicy => {
            bucket::delete_config(state, req, b, "s3:DeleteBucketPolicy", DocKind::Policy)
        }
        GetBucketEncryption => bucket::get_bucket_encryption(state, req, b),
        PutBucketEncryption => bucket::put_bucket_encryption(state, req, b),
        DeleteBucketEncryption => bucket::delete_config(
            state,
            req,
            b,
            "s3:PutEncryptionConfiguration",
            DocKind::Encryption,
        ),
        GetObjectLockConfiguration => bucket::get_object_lock_configuration(state, req, b),
        PutObjectLockConfiguration => bucket::put_object_lock_configuration(state, req, b),
        GetPublicAccessBlock => bucket::get_public_access_block(state, req, b),
        PutPublicAccessBlock => bucket::put_public_access_block(state, req, b),
        DeletePublicAccessBlock => bucket::delete_config(
            state,
            req,
            b,
            "s3:PutBucketPublicAccessBlock",
            DocKind::PublicAccessBlock,
        ),
        DeleteObjects => delete_objects(state, req, b),
        GetObject | HeadObject => get_object(state, req, b, info),
        PutObject => put_object(state, req, b),
        CopyObject => copy_object(state, req, b, info),
        DeleteObject => delete_object(state, req, b),
        GetObjectRetention => object::get_object_retention(state, req, b),
        PutObjectRetention => object::put_object_retention(state, req, b),
        NotImplemented(_) | ListBuckets | CreateBucket => {
            Err(S3Error::internal("unreachable S3 operation"))
        }
    }
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
