//! Bucket-level S3 operations: one function per operation.

use super::*;

// ---- bucket operations ----------------------------------------------------------------------

pub(super) fn list_buckets(cx: RequestCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize(None, "s3:ListAllMyBuckets", "*", &[])?;
    // Buckets made by `cairn bucket create` join the vault on first sight.
    for row in cx.state.catalog.buckets().map_err(S3Error::internal)? {
        local_bucket(cx.vault(), &cx.state.catalog, &row.name)?;
    }
    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    owner_xml(&mut w, &cx.req.caller.account);
    w.open("Buckets");
    for b in cx.vault().buckets()? {
        if b.account == cx.req.caller.account {
            w.open("Bucket")
                .elem("Name", &b.name)
                .elem("CreationDate", &iso(b.created))
                .close();
        }
    }
    Ok(S3Response::xml(w.finish()))
}

pub(super) fn create_bucket(
    cx: RequestCtx<'_>,
    info: &mut AuditInfo,
) -> Result<S3Response, S3Error> {
    let name = bucket_name(cx.req);
    cx.authorize(None, "s3:CreateBucket", &bucket_arn(name), &[])?;
    if let Some(problem) = crate::cloudtrail::bucket_name_problem(name) {
        return Err(S3Error::new(
            400,
            "InvalidBucketName",
            format!("the bucket name {name} is not valid: it {problem}"),
        ));
    }
    if cx.state.config.buckets.contains_key(name) {
        return Err(S3Error::new(
            409,
            "BucketAlreadyExists",
            "the requested bucket name is configured on other storage",
        ));
    }
    let region = if cx.req.body.is_empty() {
        cx.req.caller.region.clone()
    } else {
        let root = parse_body(cx.req)?;
        match root.text_of("LocationConstraint") {
            Some(r) if !r.is_empty() => r.to_owned(),
            _ => "us-east-1".to_owned(),
        }
    };
    let lock = cx
        .req
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // A bucket made by `cairn bucket create` is already taken.
    match local_bucket(cx.vault(), &cx.state.catalog, name) {
        Ok(b) => {
            return Err(if b.account == cx.req.caller.account {
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
    let b = cx
        .vault()
        .create_bucket(name, &cx.req.caller.account, &region, lock, cx.req.now)?;
    info.owner = Some(b.account.clone());
    info.region = Some(b.region.clone());
    match cx.state.catalog.create_bucket(&crate::model::Bucket {
        name: name.to_owned(),
        account_id: b.account.clone(),
        region: region.clone(),
        created: cx.req.now.unix_timestamp(),
    }) {
        Ok(()) | Err(crate::catalog::CatalogError::AlreadyExists(_)) => {}
        Err(e) => return Err(S3Error::internal(e)),
    }
    Ok(S3Response::empty(200).header("location", format!("/{name}")))
}

pub(super) fn put_versioning(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutBucketVersioning")?;
    let root = parse_body(cx.req)?;
    let status = match root.text_of("Status") {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        None if cx.versioned() => cx.b.versioning,
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
    if cx.b.mfa_delete || mfa_delete.is_some() {
        cx.require_mfa()?;
    }
    cx.vault().set_versioning(&cx.b.name, status, mfa_delete)?;
    Ok(S3Response::empty(200))
}

pub(super) fn put_policy(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutBucketPolicy")?;
    let doc = std::str::from_utf8(&cx.req.body)
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
    let arn = bucket_arn(&cx.b.name);
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
    if cx.public_access_block(&cx.b.name)?.block_public_policy && is_public_policy(doc) {
        return Err(S3Error::access_denied(
            "the bucket's public access block forbids a policy that grants access to everyone",
        ));
    }
    cx.vault().put_doc(&cx.b.name, DocKind::Policy, doc)?;
    Ok(S3Response::empty(204))
}

pub(super) fn list_objects(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let prefix = authorized_prefix(cx, "s3:ListBucket")?;
    let v2 = cx.req.op == S3Op::ListObjectsV2;
    let url = match cx.req.query.get("encoding-type").map(String::as_str) {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let delimiter = delimiter_param(cx.req);
    let max = max_keys(cx.req)?;
    let marker = if v2 {
        match cx.req.query.get("continuation-token") {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::invalid_argument("The continuation token provided is incorrect")
                    })?,
            ),
            None => cx.req.query.get("start-after").cloned(),
        }
    } else {
        cx.req.query.get("marker").cloned()
    };
    let l = if max == 0 {
        cairn_vault::ObjectListing::default()
    } else {
        cx.vault().list_objects(
            &cx.b.name,
            &prefix,
            marker.as_deref(),
            delimiter.as_deref(),
            max,
        )?
    };
    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &cx.b.name)
        .elem("Prefix", &enc(&prefix, url));
    if v2 {
        w.opt(
            "StartAfter",
            cx.req
                .query
                .get("start-after")
                .map(|s| enc(s, url))
                .as_deref(),
        )
        .opt(
            "ContinuationToken",
            cx.req.query.get("continuation-token").map(String::as_str),
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
    let fetch_owner = !v2 || cx.req.query.get("fetch-owner").is_some_and(|v| v == "true");
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

pub(super) fn list_versions(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    let prefix = authorized_prefix(cx, "s3:ListBucketVersions")?;
    let url = cx
        .req
        .query
        .get("encoding-type")
        .is_some_and(|e| e == "url");
    let delimiter = delimiter_param(cx.req);
    let max = max_keys(cx.req)?;
    let km = cx.req.query.get("key-marker").cloned();
    let vm = cx.req.query.get("version-id-marker").cloned();
    let l = cx.vault().list_versions(
        &cx.b.name,
        &prefix,
        km.as_deref(),
        vm.as_deref(),
        delimiter.as_deref(),
        max.max(1),
    )?;
    let mut w = XmlWriter::new("ListVersionsResult");
    w.elem("Name", &cx.b.name)
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

pub(super) fn parse_days(e: &Element, name: &str) -> Result<Option<u32>, S3Error> {
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

pub(super) fn lifecycle_xml(cfg: &LifecycleConfig) -> String {
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

/// `HeadBucket`.
pub(super) fn head_bucket(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:ListBucket")?;
    Ok(S3Response::empty(200).header("x-amz-bucket-region", cx.b.region.clone()))
}

/// `DeleteBucket`.
pub(super) fn delete_bucket(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:DeleteBucket")?;
    cx.vault().delete_bucket(&cx.b.name)?;
    cx.state
        .catalog
        .delete_bucket(&cx.b.name)
        .map_err(S3Error::internal)?;
    Ok(S3Response::empty(204))
}

/// `GetBucketLocation`.
pub(super) fn get_bucket_location(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketLocation")?;
    // us-east-1 is the empty constraint, as S3 answers.
    let region = if cx.b.region == "us-east-1" {
        String::new()
    } else {
        xml::escape(&cx.b.region)
    };
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">{region}</LocationConstraint>",
        xml::S3_NS
    );
    Ok(S3Response::xml(doc))
}

/// `GetBucketVersioning`.
pub(super) fn get_bucket_versioning(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketVersioning")?;
    let mut w = XmlWriter::new("VersioningConfiguration");
    if cx.versioned() {
        w.elem(
            "Status",
            if cx.b.versioning == Versioning::Enabled {
                "Enabled"
            } else {
                "Suspended"
            },
        );
        w.elem(
            "MfaDelete",
            if cx.b.mfa_delete {
                "Enabled"
            } else {
                "Disabled"
            },
        );
    }
    Ok(S3Response::xml(w.finish()))
}

/// `GetBucketLifecycleConfiguration`.
pub(super) fn get_bucket_lifecycle_configuration(
    cx: &BucketCtx<'_>,
) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetLifecycleConfiguration")?;
    let cfg: LifecycleConfig = cx.load_config(DocKind::Lifecycle)?;
    Ok(S3Response::xml(lifecycle_xml(&cfg)))
}

/// `PutBucketLifecycleConfiguration`.
pub(super) fn put_bucket_lifecycle_configuration(
    cx: &BucketCtx<'_>,
) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutLifecycleConfiguration")?;
    let cfg = parse_lifecycle(&parse_body(cx.req)?)?;
    cx.store_config(DocKind::Lifecycle, &cfg)
}

/// `GetBucketPolicy`.
pub(super) fn get_bucket_policy(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketPolicy")?;
    let doc = cx.vault().get_doc(&cx.b.name, DocKind::Policy)?;
    Ok(S3Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: doc.into(),
        audit: Value::Null,
    })
}

/// `GetBucketEncryption`.
pub(super) fn get_bucket_encryption(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetEncryptionConfiguration")?;
    let enc = match cx.vault().get_doc(&cx.b.name, DocKind::Encryption) {
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

/// `PutBucketEncryption`.
pub(super) fn put_bucket_encryption(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutEncryptionConfiguration")?;
    let root = parse_body(cx.req)?;
    let rule = root
        .child("Rule")
        .ok_or_else(|| S3Error::malformed_xml("a Rule is required"))?;
    let d = rule
        .child("ApplyServerSideEncryptionByDefault")
        .ok_or_else(|| S3Error::malformed_xml("ApplyServerSideEncryptionByDefault is required"))?;
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
    cx.store_config(DocKind::Encryption, &enc)
}

/// `GetObjectLockConfiguration`.
pub(super) fn get_object_lock_configuration(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketObjectLockConfiguration")?;
    let cfg: ObjectLockConfig = cx.load_config(DocKind::ObjectLock)?;
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

/// `PutObjectLockConfiguration`.
pub(super) fn put_object_lock_configuration(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutBucketObjectLockConfiguration")?;
    let root = parse_body(cx.req)?;
    if root.text_of("ObjectLockEnabled") != Some("Enabled") {
        return Err(S3Error::malformed_xml("ObjectLockEnabled must be Enabled"));
    }
    let default_retention = match root.child("Rule").and_then(|r| r.child("DefaultRetention")) {
        None => None,
        Some(d) => {
            let mode = d
                .text_of("Mode")
                .and_then(RetentionMode::parse)
                .ok_or_else(|| S3Error::malformed_xml("Mode must be GOVERNANCE or COMPLIANCE"))?;
            let num = |n: &str| -> Result<Option<u32>, S3Error> {
                d.text_of(n)
                    .map(|t| {
                        t.parse::<u32>().ok().filter(|x| *x > 0).ok_or_else(|| {
                            S3Error::invalid_argument(format!("{n} must be a positive integer"))
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
    cx.store_config(DocKind::ObjectLock, &cfg)
}

/// `GetPublicAccessBlock`.
pub(super) fn get_public_access_block(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketPublicAccessBlock")?;
    let p: PublicAccessBlock = cx.load_config(DocKind::PublicAccessBlock)?;
    let tf = |x: bool| if x { "true" } else { "false" };
    let mut w = XmlWriter::new("PublicAccessBlockConfiguration");
    w.elem("BlockPublicAcls", tf(p.block_public_acls))
        .elem("IgnorePublicAcls", tf(p.ignore_public_acls))
        .elem("BlockPublicPolicy", tf(p.block_public_policy))
        .elem("RestrictPublicBuckets", tf(p.restrict_public_buckets));
    Ok(S3Response::xml(w.finish()))
}

/// `PutPublicAccessBlock`.
pub(super) fn put_public_access_block(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutBucketPublicAccessBlock")?;
    let root = parse_body(cx.req)?;
    let p = PublicAccessBlock {
        block_public_acls: flag(&root, "BlockPublicAcls"),
        ignore_public_acls: flag(&root, "IgnorePublicAcls"),
        block_public_policy: flag(&root, "BlockPublicPolicy"),
        restrict_public_buckets: flag(&root, "RestrictPublicBuckets"),
    };
    cx.store_config(DocKind::PublicAccessBlock, &p)
}

/// The `Delete*` configuration operations (`DeleteBucketLifecycle`, `DeleteBucketPolicy`,
/// `DeleteBucketEncryption`, `DeletePublicAccessBlock`): `action` on the bucket, then the
/// `kind` document goes; 204.
pub(super) fn delete_config(
    cx: &BucketCtx<'_>,
    action: &str,
    kind: DocKind,
) -> Result<S3Response, S3Error> {
    cx.authorize_bucket(action)?;
    cx.vault().delete_doc(&cx.b.name, kind)?;
    Ok(S3Response::empty(204))
}

/// A listing's `prefix` parameter (empty when absent), once the caller may `action`
/// (`s3:ListBucket`, `s3:ListBucketVersions`) on `b` with it as `s3:prefix`.
fn authorized_prefix(cx: &BucketCtx<'_>, action: &str) -> Result<String, S3Error> {
    let prefix = cx.req.query.get("prefix").cloned().unwrap_or_default();
    cx.authorize(
        Some(cx.b),
        action,
        &bucket_arn(&cx.b.name),
        &[("s3:prefix", prefix.clone())],
    )?;
    Ok(prefix)
}

/// A listing's `delimiter` parameter; `None` when absent or empty.
fn delimiter_param(req: &Request) -> Option<String> {
    req.query
        .get("delimiter")
        .cloned()
        .filter(|d| !d.is_empty())
}
