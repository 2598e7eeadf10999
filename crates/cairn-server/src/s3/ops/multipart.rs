//! Multipart upload operations: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts and ListMultipartUploads (UploadPartCopy answers
//! `NotImplemented`). Each authorizes on the object (or bucket) ARN with the action S3 uses,
//! then calls the vault ([`Vault::create_upload`] and siblings); the body of a completed
//! upload is committed as a put is.

use cairn_s3wire::multipart as wire;
use cairn_vault::{CompleteRequest, PartInfo, UploadInfo};

use super::*;

/// The operation a request naming `uploads` or `uploadId` is, if S3 has one.
pub(super) fn classify_multipart(
    method: &Method,
    target: &Target,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> S3Op {
    use S3Op::*;
    let has = |k: &str| query.contains_key(k);
    let object = target.key.is_some();
    match *method {
        Method::POST if object && has("uploads") => CreateMultipartUpload,
        Method::PUT if object && has("uploadId") && has("partNumber") => {
            if headers.contains_key("x-amz-copy-source") {
                NotImplemented("UploadPartCopy")
            } else {
                UploadPart
            }
        }
        Method::POST if object && has("uploadId") => CompleteMultipartUpload,
        Method::DELETE if object && has("uploadId") => AbortMultipartUpload,
        Method::GET if object && has("uploadId") => ListParts,
        Method::GET if !object && has("uploads") => ListMultipartUploads,
        _ => NotImplemented("this multipart upload operation"),
    }
}

impl BucketCtx<'_> {
    /// The `uploadId` query parameter.
    fn upload_id(&self) -> &str {
        self.req
            .query
            .get("uploadId")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The upload the request names, after `action` on the object is authorized (so a caller
    /// without it learns nothing about the upload); writing into an SSE-KMS upload needs
    /// `kms:Decrypt` on its key, as on S3.
    fn authorized_upload(&self, action: &str, decrypt: bool) -> Result<UploadInfo, S3Error> {
        let key = self.key();
        self.authorize_object(action, key)?;
        let upload = self
            .vault()
            .upload_info(&self.b.name, key, self.upload_id())?;
        if decrypt && let Some(arn) = &upload.kms_key_arn {
            self.authorize_kms("kms:Decrypt", arn, self.b, key)?;
        }
        Ok(upload)
    }
}

/// A non-negative integer query parameter capped at 1000 (default 1000).
fn max_param(req: &Request, name: &str) -> Result<usize, S3Error> {
    match req.query.get(name) {
        None => Ok(1000),
        Some(v) => v
            .parse::<u32>()
            .map(|n| (n as usize).min(1000))
            .map_err(|_| {
                S3Error::invalid_argument(format!("Provided {name} not an integer or within range"))
            }),
    }
}

/// The SSE answer headers and audit elements of an upload's encryption.
fn sse_headers(mut r: S3Response, sse: &str, kms: Option<&str>) -> S3Response {
    r = r.header("x-amz-server-side-encryption", sse);
    if let Some(k) = kms {
        r = r.header("x-amz-server-side-encryption-aws-kms-key-id", k);
    }
    r
}

pub(super) fn create_multipart_upload(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let key = cx.key();
    cx.authorize_object("s3:PutObject", key)?;
    check_key(key)?;
    let p = put_request(cx.req, cx.b, false)?;
    cx.authorize_put_kms(&p, key)?;
    let u = cx.vault().create_upload(&cx.b.name, key, &p, cx.req.now)?;
    let mut r = S3Response::xml(wire::initiate_result(&cx.b.name, key, &u.upload_id));
    r = sse_headers(r, &u.sse, u.kms_key_arn.as_deref());
    r.audit = json!({ "uploadId": u.upload_id });
    Ok(r)
}

pub(super) fn upload_part(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let u = cx.authorized_upload("s3:PutObject", true)?;
    let n: u32 = cx
        .req
        .query
        .get("partNumber")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    check_content_md5(cx.req)?;
    let part = cx.vault().upload_part(
        &cx.b.name,
        cx.key(),
        &u.upload_id,
        n,
        &cx.req.body,
        cx.req.now,
    )?;
    let r = S3Response::empty(200).header("etag", format!("\"{}\"", part.etag));
    Ok(sse_headers(r, &u.sse, u.kms_key_arn.as_deref()))
}

pub(super) fn complete_multipart_upload(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let key = cx.key();
    let u = cx.authorized_upload("s3:PutObject", true)?;
    let parts = wire::parse_complete(&cx.req.body).map_err(S3Error::malformed_xml)?;
    let if_none_match = match cx.req.header("if-none-match") {
        None => false,
        Some("*") => true,
        Some(_) => {
            return Err(S3Error::not_implemented(
                "If-None-Match with an ETag on CompleteMultipartUpload",
            ));
        }
    };
    let c = CompleteRequest {
        parts,
        if_none_match,
        bypass_governance: cx.bypass(key)?,
        origin: cx.req.origin(),
    };
    let o = cx
        .vault()
        .complete_upload(&cx.b.name, key, &u.upload_id, &c, cx.req.now)?;
    let host = cx.req.header("host").unwrap_or("localhost");
    let location = format!("http://{host}/{}/{}", cx.b.name, enc(key, true));
    let mut r = put_outcome(&o, cx.versioned());
    r.body = wire::complete_result(&location, &cx.b.name, key, &o.etag).into();
    r.headers
        .push(("content-type".into(), "application/xml".into()));
    Ok(r)
}

pub(super) fn abort_multipart_upload(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let key = cx.key();
    cx.authorize_object("s3:AbortMultipartUpload", key)?;
    cx.vault().abort_upload(&cx.b.name, key, cx.upload_id())?;
    Ok(S3Response::empty(204))
}

fn upload_entry(u: &UploadInfo) -> wire::UploadEntry {
    wire::UploadEntry {
        key: u.key.clone(),
        upload_id: u.upload_id.clone(),
        owner: u.owner.clone(),
        storage_class: u.storage_class.clone(),
        initiated: iso(u.initiated),
    }
}

fn part_entry(p: &PartInfo) -> wire::PartEntry {
    wire::PartEntry {
        part_number: p.part_number,
        last_modified: iso(p.last_modified),
        etag: p.etag.clone(),
        size: p.size,
    }
}

pub(super) fn list_parts(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let key = cx.key();
    cx.authorize_object("s3:ListMultipartUploadParts", key)?;
    let max = max_param(cx.req, "max-parts")?;
    let marker = match cx.req.query.get("part-number-marker") {
        None => 0,
        Some(m) => m.parse::<u32>().map_err(|_| {
            S3Error::invalid_argument("part-number-marker must be a non-negative integer")
        })?,
    };
    let l = cx
        .vault()
        .list_parts(&cx.b.name, key, cx.upload_id(), marker, max)?;
    let parts: Vec<_> = l.parts.iter().map(part_entry).collect();
    let doc = wire::list_parts_result(&wire::PartsPage {
        bucket: &cx.b.name,
        upload: &upload_entry(&l.upload),
        marker,
        max_parts: max,
        parts: &parts,
        is_truncated: l.is_truncated,
        next_marker: l.next_part_number_marker,
    });
    Ok(S3Response::xml(doc))
}

pub(super) fn list_multipart_uploads(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:ListBucketMultipartUploads")?;
    if cx.req.query.get("delimiter").is_some_and(|d| !d.is_empty()) {
        return Err(S3Error::not_implemented(
            "ListMultipartUploads with a delimiter",
        ));
    }
    let q = |k: &str| cx.req.query.get(k).map(String::as_str).unwrap_or_default();
    let max = max_param(cx.req, "max-uploads")?;
    let l = cx.vault().list_uploads(
        &cx.b.name,
        q("prefix"),
        Some(q("key-marker")),
        Some(q("upload-id-marker")),
        max,
    )?;
    let uploads: Vec<_> = l.uploads.iter().map(upload_entry).collect();
    let doc = wire::list_uploads_result(&wire::UploadsPage {
        bucket: &cx.b.name,
        prefix: q("prefix"),
        key_marker: q("key-marker"),
        upload_id_marker: q("upload-id-marker"),
        max_uploads: max,
        uploads: &uploads,
        is_truncated: l.is_truncated,
        next_key_marker: l.next_key_marker.as_deref(),
        next_upload_id_marker: l.next_upload_id_marker.as_deref(),
    });
    Ok(S3Response::xml(doc))
}
