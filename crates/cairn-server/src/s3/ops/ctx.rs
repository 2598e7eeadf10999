//! The request context every S3 operation takes, and the steps operations share on it:
//! authorize (identity, bucket and key policies), MFA delete, governance bypass, and the
//! bucket's configuration documents.

use super::*;

/// One S3 request as an operation takes it: the server and the classified, authenticated
/// request. Operations on a bucket take a [`BucketCtx`].
#[derive(Clone, Copy)]
pub(crate) struct RequestCtx<'a> {
    /// The server.
    pub(crate) state: &'a AppState,
    /// The request.
    pub(crate) req: &'a Request,
}

/// A [`RequestCtx`] with the bucket the request names, resolved: what every bucket and object
/// operation takes. Derefs to the [`RequestCtx`].
#[derive(Clone, Copy)]
pub(crate) struct BucketCtx<'a> {
    /// The request.
    pub(crate) cx: RequestCtx<'a>,
    /// The bucket the request names.
    pub(crate) b: &'a BucketInfo,
}

impl<'a> std::ops::Deref for BucketCtx<'a> {
    type Target = RequestCtx<'a>;

    fn deref(&self) -> &RequestCtx<'a> {
        &self.cx
    }
}

impl<'a> RequestCtx<'a> {
    /// The context on bucket `b`.
    pub(crate) fn on(self, b: &'a BucketInfo) -> BucketCtx<'a> {
        BucketCtx { cx: self, b }
    }

    /// The store of local buckets.
    pub(super) fn vault(&self) -> &'a Vault {
        self.state.buckets.vault()
    }

    /// Authorizes `action` on `resource` for the caller, with `bucket`'s policy (and public
    /// access block) applied.
    pub(super) fn authorize(
        &self,
        bucket: Option<&BucketInfo>,
        action: &str,
        resource: &str,
        extra: &[(&str, String)],
    ) -> Result<(), S3Error> {
        let req = self.req;
        let mut policy: Option<Policy> = None;
        if let Some(b) = bucket {
            match self.vault().get_doc(&b.name, DocKind::Policy) {
                Ok(doc) => {
                    let pab = self.public_access_block(&b.name)?;
                    let cross = req.caller.account != b.account;
                    if cross && pab.restrict_public_buckets && is_public_policy(&doc) {
                        return Err(S3Error::access_denied(format!(
                            "access to bucket {} is restricted to its account by its public access block",
                            b.name
                        )));
                    }
                    policy = Some(Policy::parse(&doc).map_err(|e| {
                        S3Error::internal(format!(
                            "stored policy of {} does not parse: {e}",
                            b.name
                        ))
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
        self.decide(&access)
    }

    /// SSE-KMS through S3: the caller must be allowed `action` (`kms:Decrypt` to read,
    /// `kms:GenerateDataKey` to write) on the key of object `key` of `b`, by the key's policy
    /// and the caller's identity policies, as when S3 calls KMS on the caller's behalf
    /// (`kms:ViaService` `s3.<region>.amazonaws.com`, the object ARN as
    /// `kms:EncryptionContext:aws:s3:arn`). A disabled key answers `KMS.DisabledException`,
    /// one pending deletion `KMS.KMSInvalidStateException` (S3's codes for KMS faults,
    /// status 400).
    ///
    /// `key_ref` is a key id, ARN or alias; ids and aliases resolve in the bucket owner's
    /// account (as the vault resolves them). A key that does not resolve is left to the vault,
    /// which answers `KMS.NotFoundException`.
    pub(super) fn authorize_kms(
        &self,
        action: &str,
        key_ref: &str,
        b: &BucketInfo,
        key: &str,
    ) -> Result<(), S3Error> {
        let state = self.state;
        let region = match key_ref.strip_prefix("arn:") {
            Some(rest) => rest.split(':').nth(2).unwrap_or_default().to_owned(),
            None => state.config.home_region.as_str().to_owned(),
        };
        let Ok((meta, policy)) = state.kms.key_and_policy(&b.account, &region, key_ref, true)
        else {
            return Ok(());
        };
        let ctx = BTreeMap::from([("aws:s3:arn".to_owned(), object_arn(&b.name, key))]);
        let mut context = crate::api::kms::encryption_context_keys(&ctx);
        context.insert(
            "kms:viaservice".into(),
            format!("s3.{region}.amazonaws.com").into(),
        );
        context.insert(
            "kms:calleraccount".into(),
            self.req.caller.account.clone().into(),
        );
        let access = Access {
            action,
            resource: &meta.arn,
            resource_account: Some(&meta.account),
            resource_policy: Some(("key-policy", &policy)),
            context,
        };
        self.decide(&access)?;
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

    /// The public access block of `bucket` (all off when it has none).
    pub(super) fn public_access_block(&self, bucket: &str) -> Result<PublicAccessBlock, S3Error> {
        match self.vault().get_doc(bucket, DocKind::PublicAccessBlock) {
            Ok(doc) => serde_json::from_str(&doc).map_err(S3Error::internal),
            Err(VaultError::NoSuchConfiguration { .. }) => Ok(PublicAccessBlock::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Decides `access` for the request's caller, from where and when it was made.
    fn decide(&self, access: &Access<'_>) -> Result<(), S3Error> {
        let req = self.req;
        let env = Environment {
            source_ip: req.peer.ip(),
            secure_transport: req.caller.secure_transport,
            now: req.now,
        };
        crate::authz::authorize(self.state, &req.caller, &env, access)
            .map_err(|d| S3Error::access_denied(d.message))
    }
}

impl<'a> BucketCtx<'a> {
    /// The object key the request names (empty for a bucket request).
    pub(super) fn key(&self) -> &'a str {
        self.req.target.key.as_deref().unwrap_or_default()
    }

    /// The `versionId` query parameter.
    pub(super) fn version(&self) -> Option<&'a str> {
        self.req.query.get("versionId").map(String::as_str)
    }

    /// Whether the bucket has (or had) versioning on, so answers name version ids.
    pub(super) fn versioned(&self) -> bool {
        self.b.versioning != Versioning::Unversioned
    }

    /// [`RequestCtx::authorize`] for a bucket-level action on the bucket itself.
    pub(super) fn authorize_bucket(&self, action: &str) -> Result<(), S3Error> {
        self.authorize(Some(self.b), action, &bucket_arn(&self.b.name), &[])
    }

    /// [`RequestCtx::authorize`] for `action` on the object `key` of the bucket.
    pub(super) fn authorize_object(&self, action: &str, key: &str) -> Result<(), S3Error> {
        self.authorize(Some(self.b), action, &object_arn(&self.b.name, key), &[])
    }

    /// The KMS key a PUT into the bucket will encrypt under, if any: the request's, else the
    /// bucket default's (as [`Vault::put_object`] chooses it).
    fn put_kms_key(&self, p: &PutRequest) -> Result<Option<String>, S3Error> {
        let default = || -> Result<Option<BucketEncryption>, S3Error> {
            match self.vault().get_doc(&self.b.name, DocKind::Encryption) {
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

    /// A PUT of `key` that will encrypt under a KMS key ([`Self::put_kms_key`]) needs
    /// `kms:GenerateDataKey` on that key ([`RequestCtx::authorize_kms`]).
    pub(super) fn authorize_put_kms(&self, p: &PutRequest, key: &str) -> Result<(), S3Error> {
        match self.put_kms_key(p)? {
            Some(k) => self.authorize_kms("kms:GenerateDataKey", &k, self.b, key),
            None => Ok(()),
        }
    }

    /// Whether the request asks to bypass governance retention and may, for `key`: the
    /// permission is checked on the object's own ARN, per key (DeleteObjects names many).
    pub(super) fn bypass(&self, key: &str) -> Result<bool, S3Error> {
        if !self
            .req
            .header("x-amz-bypass-governance-retention")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(false);
        }
        self.authorize_object("s3:BypassGovernanceRetention", key)?;
        Ok(true)
    }

    /// With MFA delete on, a permanent delete or a versioning change needs the bucket owner's
    /// root user and `x-amz-mfa` with its own device's code ([`crate::mfa::check_s3_header`]).
    pub(super) fn require_mfa(&self) -> Result<(), S3Error> {
        let req = self.req;
        crate::mfa::check_s3_header(
            self.state,
            &self.b.account,
            &req.caller.principal,
            req.header("x-amz-mfa"),
            req.now,
        )
        .map_err(S3Error::access_denied)
    }

    /// Reads the bucket's `kind` configuration document, stored as JSON.
    pub(super) fn load_config<T: serde::de::DeserializeOwned>(
        &self,
        kind: DocKind,
    ) -> Result<T, S3Error> {
        let doc = self.vault().get_doc(&self.b.name, kind)?;
        serde_json::from_str(&doc).map_err(S3Error::internal)
    }

    /// Stores `cfg` as the bucket's `kind` configuration document (JSON) and answers 200.
    pub(super) fn store_config<T: serde::Serialize>(
        &self,
        kind: DocKind,
        cfg: &T,
    ) -> Result<S3Response, S3Error> {
        let doc = serde_json::to_string(cfg).map_err(S3Error::internal)?;
        self.vault().put_doc(&self.b.name, kind, &doc)?;
        Ok(S3Response::empty(200))
    }
}
