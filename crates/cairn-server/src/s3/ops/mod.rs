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
mod ctx;
mod multipart;
mod notification;
mod object;

use bucket::*;
pub(crate) use ctx::{BucketCtx, RequestCtx};
use multipart::*;
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
    /// `GET /b?notification`.
    GetBucketNotificationConfiguration,
    /// `PUT /b?notification`.
    PutBucketNotificationConfiguration,
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
    /// `POST /b/k?uploads`.
    CreateMultipartUpload,
    /// `PUT /b/k?partNumber=N&uploadId=U`.
    UploadPart,
    /// `POST /b/k?uploadId=U`.
    CompleteMultipartUpload,
    /// `DELETE /b/k?uploadId=U`.
    AbortMultipartUpload,
    /// `GET /b/k?uploadId=U`.
    ListParts,
    /// `GET /b?uploads`.
    ListMultipartUploads,
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
    ("replication", "the replication subresource"),
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

/// The bucket subresources by query key, and the operations that GET, PUT and DELETE them
/// (`None`: S3 has no such operation). The first row the query names that has an operation
/// for the method wins.
#[rustfmt::skip]
const SUBRESOURCES: &[(&str, [Option<S3Op>; 3])] = {
    use S3Op::*;
    &[
        ("location", [Some(GetBucketLocation), None, None]),
        ("versioning", [Some(GetBucketVersioning), Some(PutBucketVersioning), None]),
        ("lifecycle", [Some(GetBucketLifecycleConfiguration), Some(PutBucketLifecycleConfiguration), Some(DeleteBucketLifecycle)]),
        ("policy", [Some(GetBucketPolicy), Some(PutBucketPolicy), Some(DeleteBucketPolicy)]),
        ("encryption", [Some(GetBucketEncryption), Some(PutBucketEncryption), Some(DeleteBucketEncryption)]),
        ("object-lock", [Some(GetObjectLockConfiguration), Some(PutObjectLockConfiguration), None]),
        ("publicAccessBlock", [Some(GetPublicAccessBlock), Some(PutPublicAccessBlock), Some(DeletePublicAccessBlock)]),
        ("notification", [Some(GetBucketNotificationConfiguration), Some(PutBucketNotificationConfiguration), None]),
    ]
};

/// The operation `method` names on a bucket subresource in `query`, if any.
fn subresource_op(method: &Method, query: &BTreeMap<String, String>) -> Option<S3Op> {
    let column = match *method {
        Method::GET => 0,
        Method::PUT => 1,
        Method::DELETE => 2,
        _ => return None,
    };
    SUBRESOURCES
        .iter()
        .filter(|(key, _)| query.contains_key(*key))
        .find_map(|(_, ops)| ops[column])
}

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
    if target.bucket.is_some() && (has("uploads") || has("uploadId")) {
        return classify_multipart(method, target, query, headers);
    }
    match (&target.bucket, &target.key) {
        (None, _) => match *method {
            Method::GET => ListBuckets,
            _ => NotImplemented("this operation on the service root"),
        },
        (Some(_), None) => subresource_op(method, query).unwrap_or_else(|| match *method {
            Method::GET if has("versions") => ListObjectVersions,
            Method::GET if query.get("list-type").map(String::as_str) == Some("2") => ListObjectsV2,
            Method::GET if has("policyStatus") => NotImplemented("GetBucketPolicyStatus"),
            Method::GET => ListObjects,
            Method::PUT if query.is_empty() => CreateBucket,
            Method::DELETE if query.is_empty() => DeleteBucket,
            Method::HEAD => HeadBucket,
            Method::POST if has("delete") => DeleteObjects,
            _ => NotImplemented("this bucket operation"),
        }),
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
            GetBucketNotificationConfiguration => "GetBucketNotification",
            PutBucketNotificationConfiguration => "PutBucketNotification",
            DeleteObjects => "DeleteObjects",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            DeleteObject => "DeleteObject",
            GetObjectRetention => "GetObjectRetention",
            PutObjectRetention => "PutObjectRetention",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            ListMultipartUploads => "ListMultipartUploads",
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
                | GetBucketNotificationConfiguration
                | GetObject
                | HeadObject
                | GetObjectRetention
                | ListParts
                | ListMultipartUploads
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
                | CreateMultipartUpload
                | UploadPart
                | CompleteMultipartUpload
                | AbortMultipartUpload
                | ListParts
        )
    }

    /// Recorded as data events (as CloudTrail does for S3 object APIs and listings).
    pub fn is_data_event(self) -> bool {
        use S3Op::*;
        self.is_object_level()
            || matches!(
                self,
                DeleteObjects
                    | ListObjects
                    | ListObjectsV2
                    | ListObjectVersions
                    | ListMultipartUploads
            )
    }
}

// ---- helpers --------------------------------------------------------------------------------

/// `2024-01-01T00:00:00.000Z` (S3's timestamps).
pub(super) fn iso(t: OffsetDateTime) -> String {
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

/// The bucket the request names, with its owner and region noted for the audit record.
fn bucket_info(cx: RequestCtx<'_>, info: &mut AuditInfo) -> Result<BucketInfo, S3Error> {
    let b = local_bucket(cx.vault(), &cx.state.catalog, bucket_name(cx.req))?;
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

fn bucket_arn(b: &str) -> String {
    format!("arn:aws:s3:::{b}")
}

fn object_arn(b: &str, k: &str) -> String {
    format!("arn:aws:s3:::{b}/{k}")
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
    let cx = RequestCtx { state, req };
    match req.op {
        NotImplemented(what) => return Err(S3Error::not_implemented(what)),
        ListBuckets => return list_buckets(cx),
        CreateBucket => return create_bucket(cx, info),
        _ => {}
    }
    let b = &bucket_info(cx, info)?;
    let cx = &cx.on(b);
    match req.op {
        HeadBucket => head_bucket(cx),
        DeleteBucket => delete_bucket(cx),
        GetBucketLocation => get_bucket_location(cx),
        ListObjects | ListObjectsV2 => list_objects(cx),
        ListObjectVersions => list_versions(cx),
        GetBucketVersioning => get_bucket_versioning(cx),
        PutBucketVersioning => put_versioning(cx),
        GetBucketLifecycleConfiguration => get_bucket_lifecycle_configuration(cx),
        PutBucketLifecycleConfiguration => put_bucket_lifecycle_configuration(cx),
        DeleteBucketLifecycle => {
            delete_config(cx, "s3:PutLifecycleConfiguration", DocKind::Lifecycle)
        }
        GetBucketPolicy => get_bucket_policy(cx),
        PutBucketPolicy => put_policy(cx),
        DeleteBucketPolicy => delete_config(cx, "s3:DeleteBucketPolicy", DocKind::Policy),
        GetBucketEncryption => get_bucket_encryption(cx),
        PutBucketEncryption => put_bucket_encryption(cx),
        DeleteBucketEncryption => {
            delete_config(cx, "s3:PutEncryptionConfiguration", DocKind::Encryption)
        }
        GetObjectLockConfiguration => get_object_lock_configuration(cx),
        PutObjectLockConfiguration => put_object_lock_configuration(cx),
        GetPublicAccessBlock => get_public_access_block(cx),
        PutPublicAccessBlock => put_public_access_block(cx),
        DeletePublicAccessBlock => delete_config(
            cx,
            "s3:PutBucketPublicAccessBlock",
            DocKind::PublicAccessBlock,
        ),
        GetBucketNotificationConfiguration => notification::get_bucket_notification(cx),
        PutBucketNotificationConfiguration => notification::put_bucket_notification(cx),
        DeleteObjects => delete_objects(cx),
        GetObject | HeadObject => get_object(cx, info),
        PutObject => put_object(cx),
        CopyObject => copy_object(cx, info),
        DeleteObject => delete_object(cx),
        GetObjectRetention => get_object_retention(cx),
        PutObjectRetention => put_object_retention(cx),
        CreateMultipartUpload => create_multipart_upload(cx),
        UploadPart => upload_part(cx),
        CompleteMultipartUpload => complete_multipart_upload(cx),
        AbortMultipartUpload => abort_multipart_upload(cx),
        ListParts => list_parts(cx),
        ListMultipartUploads => list_multipart_uploads(cx),
        NotImplemented(_) | ListBuckets | CreateBucket => {
            Err(S3Error::internal("unreachable S3 operation"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let q = |s: &str| super::super::query_map(s);
        let h = HeaderMap::new();
        assert_eq!(
            classify(&Method::GET, &Target::new(None, None), &q(""), &h),
            S3Op::ListBuckets
        );
        assert_eq!(
            classify(
                &Method::GET,
                &Target::new(Some("b"), None),
                &q("versioning"),
                &h
            ),
            S3Op::GetBucketVersioning
        );
        assert_eq!(
            classify(
                &Method::GET,
                &Target::new(Some("b"), None),
                &q("list-type=2&prefix=a"),
                &h
            ),
            S3Op::ListObjectsV2
        );
        assert_eq!(
            classify(
                &Method::GET,
                &Target::new(Some("b"), None),
                &q("prefix=a&marker=x"),
                &h
            ),
            S3Op::ListObjects
        );
        assert_eq!(
            classify(
                &Method::POST,
                &Target::new(Some("b"), None),
                &q("delete"),
                &h
            ),
            S3Op::DeleteObjects
        );
        assert_eq!(
            classify(
                &Method::PUT,
                &Target::new(Some("b"), Some("k")),
                &q("acl"),
                &h
            ),
            S3Op::NotImplemented("the acl subresource (ACLs)")
        );
        assert_eq!(
            classify(
                &Method::POST,
                &Target::new(Some("b"), Some("k")),
                &q("uploads"),
                &h
            ),
            S3Op::CreateMultipartUpload
        );
        let multipart = [
            (
                Method::PUT,
                Some("k"),
                "partNumber=1&uploadId=u",
                S3Op::UploadPart,
            ),
            (
                Method::POST,
                Some("k"),
                "uploadId=u",
                S3Op::CompleteMultipartUpload,
            ),
            (
                Method::DELETE,
                Some("k"),
                "uploadId=u",
                S3Op::AbortMultipartUpload,
            ),
            (Method::GET, Some("k"), "uploadId=u", S3Op::ListParts),
            (Method::GET, None, "uploads", S3Op::ListMultipartUploads),
            (
                Method::HEAD,
                Some("k"),
                "uploadId=u",
                S3Op::NotImplemented("this multipart upload operation"),
            ),
        ];
        for (method, key, query, op) in multipart {
            let t = Target::new(Some("b"), key);
            assert_eq!(
                classify(&method, &t, &q(query), &h),
                op,
                "{method} ?{query}"
            );
        }
        let mut part_copy = HeaderMap::new();
        part_copy.insert("x-amz-copy-source", "/a/b".parse().unwrap());
        assert_eq!(
            classify(
                &Method::PUT,
                &Target::new(Some("b"), Some("k")),
                &q("partNumber=1&uploadId=u"),
                &part_copy
            ),
            S3Op::NotImplemented("UploadPartCopy")
        );
        assert!(S3Op::UploadPart.is_data_event() && S3Op::ListMultipartUploads.is_data_event());
        assert!(S3Op::ListParts.read_only() && !S3Op::CompleteMultipartUpload.read_only());
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", "/a/b".parse().unwrap());
        assert_eq!(
            classify(
                &Method::PUT,
                &Target::new(Some("b"), Some("k")),
                &q(""),
                &copy
            ),
            S3Op::CopyObject
        );
        assert!(S3Op::GetObject.is_data_event() && S3Op::ListObjects.is_data_event());
        assert!(!S3Op::PutBucketPolicy.is_data_event());
    }

    #[test]
    fn bucket_subresources() {
        let q = |s: &str| super::super::query_map(s);
        let h = HeaderMap::new();
        let b = Target::new(Some("b"), None);
        let cases = [
            (Method::GET, "location&versioning", S3Op::GetBucketLocation),
            (
                Method::PUT,
                "location&versioning",
                S3Op::PutBucketVersioning,
            ),
            (Method::PUT, "object-lock", S3Op::PutObjectLockConfiguration),
            (Method::DELETE, "lifecycle", S3Op::DeleteBucketLifecycle),
            (
                Method::DELETE,
                "versioning&policy",
                S3Op::DeleteBucketPolicy,
            ),
            (
                Method::DELETE,
                "versioning",
                S3Op::NotImplemented("this bucket operation"),
            ),
            (Method::GET, "versions", S3Op::ListObjectVersions),
            (Method::PUT, "", S3Op::CreateBucket),
            (Method::DELETE, "", S3Op::DeleteBucket),
        ];
        for (method, query, op) in cases {
            assert_eq!(
                classify(&method, &b, &q(query), &h),
                op,
                "{method} ?{query}"
            );
        }
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
