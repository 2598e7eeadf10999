//! Object-level S3 operations: one function per operation.

use super::*;

// ---- object operations ----------------------------------------------------------------------

pub(super) fn object_headers(mut r: S3Response, v: &ObjectVersion, versioned: bool) -> S3Response {
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
pub(super) fn range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
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

impl BucketCtx<'_> {
    /// What reading `key` (version `vid`) of the bucket needs: `s3:GetObject`
    /// (`s3:GetObjectVersion` for a version) under the bucket policy and, when the body is
    /// `decrypt`ed, `kms:Decrypt` on an SSE-KMS object's key (HEAD decrypts nothing). Lookup
    /// faults are left to the read. GetObject, and SQL over delivered log files
    /// (`crate::lake`), read through this.
    pub(crate) fn authorize_get(
        &self,
        key: &str,
        vid: Option<&str>,
        decrypt: bool,
    ) -> Result<(), S3Error> {
        self.authorize_object(get_action(vid), key)?;
        if decrypt
            && let Ok(meta) = self.vault().head_object(&self.b.name, key, vid)
            && let Some(arn) = &meta.kms_key_arn
        {
            self.authorize_kms("kms:Decrypt", arn, self.b, key)?;
        }
        Ok(())
    }

    /// Deletes `key` (version `vid`) as DeleteObject does: `s3:DeleteObject`
    /// (`s3:DeleteObjectVersion` for a version), the owner's MFA code for a version when MFA
    /// delete is on, and governance bypass when asked. `mfa` keeps the outcome of the
    /// request's MFA check once made: a code is accepted only once, so a DeleteObjects checks
    /// it at the first version it is needed for and the outcome holds for the whole request.
    fn delete_one(
        &self,
        key: &str,
        vid: Option<&str>,
        mfa: &mut Option<Result<(), S3Error>>,
    ) -> Result<cairn_vault::DeleteOutcome, S3Error> {
        let action = if vid.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        self.authorize_object(action, key)?;
        if vid.is_some() && self.b.mfa_delete {
            mfa.get_or_insert_with(|| self.require_mfa()).clone()?;
        }
        let bypass = self.bypass(key)?;
        Ok(self.vault().delete_object(
            &self.b.name,
            key,
            vid,
            bypass,
            &self.req.origin(),
            self.req.now,
        )?)
    }
}

/// `s3:GetObject`, or `s3:GetObjectVersion` to read version `vid`.
fn get_action(vid: Option<&str>) -> &'static str {
    if vid.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    }
}

pub(super) fn get_object(cx: &BucketCtx<'_>, info: &mut AuditInfo) -> Result<S3Response, S3Error> {
    let key = cx.key();
    let vid = cx.version();
    let versioned = cx.versioned();
    let head = cx.req.op == S3Op::HeadObject;
    cx.authorize_get(key, vid, !head)?;
    let fetch = || -> Result<(ObjectVersion, Vec<u8>), VaultError> {
        if head {
            Ok((cx.vault().head_object(&cx.b.name, key, vid)?, Vec::new()))
        } else {
            cx.vault().get_object(&cx.b.name, key, vid)
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
    if let Some(inm) = cx.req.header("if-none-match")
        && inm.trim_matches('"') == v.etag
    {
        return Ok(object_headers(S3Response::empty(304), &v, versioned));
    }
    if let Some(im) = cx.req.header("if-match")
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
    match range(cx.req.header("range"), size)? {
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

pub(super) fn put_request(
    req: &Request,
    b: &BucketInfo,
    bypass: bool,
) -> Result<PutRequest, S3Error> {
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
        created_by: cairn_vault::CreatedBy::Put,
        origin: req.origin(),
    })
}

pub(super) fn put_outcome(o: &cairn_vault::PutOutcome, versioned: bool) -> S3Response {
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

pub(super) fn put_object(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let key = cx.key();
    cx.authorize_object("s3:PutObject", key)?;
    check_key(key)?;
    check_content_md5(cx.req)?;
    let bypass = cx.bypass(key)?;
    let p = put_request(cx.req, cx.b, bypass)?;
    cx.authorize_put_kms(&p, key)?;
    let o = cx
        .vault()
        .put_object(&cx.b.name, key, &cx.req.body, &p, cx.req.now)?;
    Ok(put_outcome(&o, cx.versioned()))
}

/// A `Content-MD5` header, when sent, must be the MD5 of the body (PutObject, UploadPart).
pub(super) fn check_content_md5(req: &Request) -> Result<(), S3Error> {
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
    Ok(())
}

/// The key rules every object key that enters a bucket obeys ([`cairn_store::validate_key`]:
/// no `.`/`..` or empty segments, not absolute, no control characters, at most 1024 bytes).
pub(super) fn check_key(key: &str) -> Result<(), S3Error> {
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

pub(super) fn copy_object(cx: &BucketCtx<'_>, info: &mut AuditInfo) -> Result<S3Response, S3Error> {
    let key = cx.key();
    let src = cx.req.header("x-amz-copy-source").unwrap_or_default();
    let (path, q) = src.split_once('?').unwrap_or((src, ""));
    let t = crate::s3::target(
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
    let sq = crate::s3::query_map(q);
    let svid = sq.get("versionId").map(String::as_str);
    let source = local_bucket(cx.vault(), &cx.state.catalog, &sb)?;
    cx.on(&source).authorize_object(get_action(svid), &sk)?;
    cx.authorize_object("s3:PutObject", key)?;
    let sm = cx.vault().head_object(&sb, &sk, svid)?;
    if let Some(arn) = &sm.kms_key_arn {
        cx.authorize_kms("kms:Decrypt", arn, &source, &sk)?;
    }
    let (sv, body) = cx.vault().get_object(&sb, &sk, svid)?;
    info.bytes_out = 0;
    let bypass = cx.bypass(key)?;
    let mut p = put_request(cx.req, cx.b, bypass)?;
    p.created_by = cairn_vault::CreatedBy::Copy;
    cx.authorize_put_kms(&p, key)?;
    let replace = cx.req.header("x-amz-metadata-directive") == Some("REPLACE");
    if !replace {
        if sb == cx.b.name
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
    let o = cx
        .vault()
        .put_object(&cx.b.name, key, &body, &p, cx.req.now)?;
    let mut w = XmlWriter::new("CopyObjectResult");
    w.elem("ETag", &format!("\"{}\"", o.etag))
        .elem("LastModified", &iso(cx.req.now));
    let mut r = put_outcome(&o, cx.versioned());
    r.body = w.finish().into();
    r.headers
        .push(("content-type".into(), "application/xml".into()));
    if source.versioning != Versioning::Unversioned {
        r = r.header("x-amz-copy-source-version-id", sv.version_id.clone());
    }
    Ok(r)
}

pub(super) fn delete_object(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let o = cx.delete_one(cx.key(), cx.version(), &mut None)?;
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

pub(super) fn delete_objects(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let root = parse_body(cx.req)?;
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
    let mut mfa = None;
    for (key, vid) in &objects {
        match cx.delete_one(key, vid.as_deref(), &mut mfa) {
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

/// `GetObjectRetention`.
pub(super) fn get_object_retention(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_object("s3:GetObjectRetention", cx.key())?;
    let v = cx.vault().head_object(&cx.b.name, cx.key(), cx.version())?;
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

/// `PutObjectRetention`.
pub(super) fn put_object_retention(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_object("s3:PutObjectRetention", cx.key())?;
    let root = parse_body(cx.req)?;
    let retention = match (root.text_of("Mode"), root.text_of("RetainUntilDate")) {
        (None, None) => None,
        (Some(m), Some(d)) => Some(Retention {
            mode: RetentionMode::parse(m)
                .ok_or_else(|| S3Error::malformed_xml("Mode must be GOVERNANCE or COMPLIANCE"))?,
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
        && r.retain_until <= cx.req.now
    {
        return Err(S3Error::invalid_argument(
            "The retain until date must be in the future!",
        ));
    }
    let bypass = cx.bypass(cx.key())?;
    let vid = cx.vault().set_retention(
        &cx.b.name,
        cx.key(),
        cx.version(),
        retention,
        bypass,
        cx.req.now,
    )?;
    Ok(S3Response::empty(200).header("x-amz-version-id", vid))
}
