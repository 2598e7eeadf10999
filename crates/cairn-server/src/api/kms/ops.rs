//! One function per implemented KMS operation, over `cairn-kms`.
//!
//! Every call is authorized with [`crate::authz::authorize`]: action `kms:<Operation>`, the
//! key ARN as resource, the key's policy as the resource policy, and the encryption context
//! as `kms:EncryptionContext:<key>` / `kms:EncryptionContextKeys` condition keys. Operations
//! without a key (CreateKey, ListKeys, ListAliases) are authorized on `*`.

use std::collections::BTreeMap;

use base64::Engine;
use cairn_kms::{CreateKey, KeyMetadata, Kms, KmsError};
use cairn_policy::ContextValue;
use serde_json::{Map, Value, json};

use super::op::KmsOp;
use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::error::ApiError;
use crate::state::AppState;

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

fn opt_str<'a>(v: &'a Value, member: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::client(
            "SerializationException",
            format!("{member} must be a string"),
        )),
    }
}

fn req_str<'a>(v: &'a Value, member: &str) -> Result<&'a str, ApiError> {
    opt_str(v, member)?.ok_or_else(|| {
        let mut c = member.chars();
        let camel: String = c
            .next()
            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
            .unwrap_or_default();
        validation(format!(
            "1 validation error detected: Value null at '{camel}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn opt_u32(v: &Value, member: &str) -> Result<Option<u32>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| validation(format!("{member} must be a positive integer"))),
    }
}

fn opt_bool(v: &Value, member: &str) -> bool {
    v.get(member).and_then(Value::as_bool).unwrap_or(false)
}

fn blob(v: &Value, member: &str) -> Result<Vec<u8>, ApiError> {
    let text = req_str(v, member)?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ApiError::client("SerializationException", format!("{member} is not base64")))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn context(v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    match v.get("EncryptionContext") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(validation("EncryptionContext values must be strings")),
            })
            .collect(),
        Some(_) => Err(validation("EncryptionContext must be a map of strings")),
    }
}

fn check_algorithm(v: &Value) -> Result<(), ApiError> {
    match opt_str(v, "EncryptionAlgorithm")? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(a) => Err(ApiError::client(
            "InvalidKeyUsageException",
            format!("EncryptionAlgorithm {a} is not valid for a SYMMETRIC_DEFAULT key"),
        )),
    }
}

fn tags(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let Some(list) = v.get("Tags").filter(|t| !t.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| validation("Tags must be a list"))?;
    list.iter()
        .map(|t| {
            Ok((
                req_str(t, "TagKey")?.to_owned(),
                req_str(t, "TagValue")?.to_owned(),
            ))
        })
        .collect()
}

/// `KeyMetadata` as AWS returns it.
pub fn key_metadata_json(m: &KeyMetadata) -> Value {
    let mut o = Map::new();
    o.insert("AWSAccountId".into(), json!(m.account));
    o.insert("KeyId".into(), json!(m.key_id));
    o.insert("Arn".into(), json!(m.arn));
    o.insert("CreationDate".into(), json!(m.creation_date));
    o.insert(
        "Enabled".into(),
        json!(m.state == cairn_kms::KeyState::Enabled),
    );
    o.insert("Description".into(), json!(m.description));
    o.insert("KeyUsage".into(), json!("ENCRYPT_DECRYPT"));
    o.insert("KeyState".into(), json!(m.state.as_str()));
    if let Some(d) = m.deletion_date {
        o.insert("DeletionDate".into(), json!(d));
    }
    if let Some(w) = m.pending_window_days {
        o.insert("PendingDeletionWindowInDays".into(), json!(w));
    }
    o.insert("Origin".into(), json!("AWS_KMS"));
    o.insert("KeyManager".into(), json!("CUSTOMER"));
    o.insert("CustomerMasterKeySpec".into(), json!("SYMMETRIC_DEFAULT"));
    o.insert("KeySpec".into(), json!("SYMMETRIC_DEFAULT"));
    o.insert("EncryptionAlgorithms".into(), json!(["SYMMETRIC_DEFAULT"]));
    o.insert("MultiRegion".into(), json!(false));
    Value::Object(o)
}

/// Pages `items` by an opaque marker (the last item's sort key).
fn page<T>(
    items: Vec<T>,
    v: &Value,
    sort_key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = opt_u32(v, "Limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(validation("Limit must be between 1 and 1000"));
    }
    let marker = opt_str(v, "Marker")?;
    let mut rest: Vec<T> = match marker {
        Some(m) => items
            .into_iter()
            .filter(|i| sort_key(i).as_str() > m)
            .collect(),
        None => items,
    };
    let truncated = rest.len() > limit as usize;
    rest.truncate(limit as usize);
    let next = truncated.then(|| rest.last().map(&sort_key)).flatten();
    Ok((rest, next))
}

fn paged(mut body: Map<String, Value>, next: Option<String>) -> Value {
    body.insert("Truncated".into(), json!(next.is_some()));
    if let Some(n) = next {
        body.insert("NextMarker".into(), json!(n));
    }
    Value::Object(body)
}

/// One KMS call being served (blocking: run from `spawn_blocking`).
pub(crate) struct KmsCall<'a> {
    /// The server.
    pub(crate) state: &'a AppState,
    /// Who called.
    pub(crate) caller: &'a Caller,
    /// The policy environment.
    pub(crate) env: Environment,
    /// The operation.
    pub(crate) op: KmsOp,
    /// The request body.
    pub(crate) v: &'a Value,
    /// The request time, epoch seconds.
    pub(crate) secs: i64,
}

impl KmsCall<'_> {
    fn kms(&self) -> &Kms {
        &self.state.kms
    }

    fn account(&self) -> &str {
        &self.caller.account
    }

    fn region(&self) -> &str {
        &self.caller.region
    }

    fn action(&self) -> String {
        format!("kms:{}", self.op.name())
    }

    /// Authorizes the call on a key (found as the caller sees it), returning its metadata.
    fn authorize_key(
        &self,
        key_id: &str,
        cross_account: bool,
        ctx: &BTreeMap<String, String>,
    ) -> Result<KeyMetadata, ApiError> {
        let (meta, policy) =
            self.kms()
                .key_and_policy(self.account(), self.region(), key_id, cross_account)?;
        self.authorize_on(&meta, &policy, ctx)?;
        Ok(meta)
    }

    /// Authorizes the call on the key named by `KeyId` (same account, no context).
    fn own_key(&self) -> Result<KeyMetadata, ApiError> {
        self.authorize_key(req_str(self.v, "KeyId")?, false, &BTreeMap::new())
    }

    /// Decides the call's action on `meta` under `policy`.
    fn authorize_on(
        &self,
        meta: &KeyMetadata,
        policy: &cairn_policy::Policy,
        ctx: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        authorize_on(
            self.state,
            self.caller,
            &self.env,
            &self.action(),
            meta,
            policy,
            ctx,
        )
    }

    /// Authorizes the call on `resource` with identity policies only.
    fn authorize_resource(&self, resource: &str) -> Result<(), ApiError> {
        let action = self.action();
        crate::authz::authorize(
            self.state,
            self.caller,
            &self.env,
            &Access::new(&action, resource),
        )
        .map_err(|d| ApiError::client("AccessDeniedException", d.message))
    }
}

/// Runs one KMS operation: deletions and rotations that fell due are applied first, so no
/// call can observe them late; operations this server does not build are answered with an
/// explicit "not implemented" error.
pub(crate) fn execute(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    c.kms().tick(c.secs)?;
    match c.op {
        KmsOp::CreateKey => create_key(c),
        KmsOp::DescribeKey => describe_key(c),
        KmsOp::ListKeys => list_keys(c),
        KmsOp::CreateAlias | KmsOp::UpdateAlias | KmsOp::DeleteAlias => alias(c),
        KmsOp::ListAliases => list_aliases(c),
        KmsOp::Encrypt => encrypt(c),
        KmsOp::Decrypt => decrypt(c),
        KmsOp::GenerateDataKey | KmsOp::GenerateDataKeyWithoutPlaintext => generate_data_key(c),
        KmsOp::EnableKeyRotation => enable_key_rotation(c),
        KmsOp::DisableKeyRotation => disable_key_rotation(c),
        KmsOp::GetKeyRotationStatus => get_key_rotation_status(c),
        KmsOp::RotateKeyOnDemand => rotate_key_on_demand(c),
        KmsOp::DisableKey | KmsOp::EnableKey => enable_or_disable_key(c),
        KmsOp::ScheduleKeyDeletion => schedule_key_deletion(c),
        KmsOp::CancelKeyDeletion => cancel_key_deletion(c),
        KmsOp::GetKeyPolicy | KmsOp::PutKeyPolicy | KmsOp::ListKeyPolicies => key_policy(c),
        KmsOp::ListResourceTags => list_resource_tags(c),
        KmsOp::TagResource => tag_resource(c),
        KmsOp::UntagResource => untag_resource(c),
        other => {
            debug_assert!(!other.is_implemented());
            Err(ApiError::not_implemented(other.name()))
        }
    }
}

fn create_key(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let v = c.v;
    c.authorize_resource("*")?;
    if opt_str(v, "XksKeyId")?.is_some() || opt_str(v, "CustomKeyStoreId")?.is_some() {
        return Err(ApiError::client(
            "UnsupportedOperationException",
            "custom key stores are not supported by this Cairn server",
        ));
    }
    let req = CreateKey {
        description: opt_str(v, "Description")?.map(str::to_owned),
        policy: opt_str(v, "Policy")?.map(str::to_owned),
        key_usage: opt_str(v, "KeyUsage")?.map(str::to_owned),
        key_spec: opt_str(v, "KeySpec")?
            .or(opt_str(v, "CustomerMasterKeySpec")?)
            .map(str::to_owned),
        origin: opt_str(v, "Origin")?.map(str::to_owned),
        multi_region: opt_bool(v, "MultiRegion"),
        tags: tags(v)?,
    };
    let m = c.kms().create_key(c.account(), c.region(), req, c.secs)?;
    Ok(json!({"KeyMetadata": key_metadata_json(&m)}))
}

fn describe_key(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.authorize_key(req_str(c.v, "KeyId")?, true, &BTreeMap::new())?;
    Ok(json!({"KeyMetadata": key_metadata_json(&m)}))
}

fn list_keys(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    c.authorize_resource("*")?;
    let all = c.kms().list_keys(c.account(), c.region());
    let (keys, next) = page(all, c.v, |k| k.key_id.clone())?;
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| json!({"KeyId": k.key_id, "KeyArn": k.arn}))
        .collect();
    let mut body = Map::new();
    body.insert("Keys".into(), json!(keys));
    Ok(paged(body, next))
}

/// CreateAlias, UpdateAlias, DeleteAlias. AWS authorizes an alias operation on the alias
/// (identity policies: an alias has no policy of its own) and on each key involved (key
/// policies): CreateAlias on the target key, UpdateAlias on the current and the new target,
/// DeleteAlias on the current target.
fn alias(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let (account, region) = (c.account(), c.region());
    let alias = req_str(c.v, "AliasName")?;
    cairn_kms::validate_alias_name(alias)?;
    c.authorize_resource(&format!("arn:aws:kms:{region}:{account}:{alias}"))?;
    let no_ctx = BTreeMap::new();
    let current_key =
        |meta: &KeyMetadata, policy: &cairn_policy::Policy| c.authorize_on(meta, policy, &no_ctx);
    if c.op == KmsOp::DeleteAlias {
        c.kms()
            .delete_alias_checked(account, region, alias, current_key)?;
        return Ok(json!({}));
    }
    let target = req_str(c.v, "TargetKeyId")?;
    if !target.starts_with("alias/") && !target.contains(":alias/") {
        c.authorize_key(target, false, &no_ctx)?;
    }
    if c.op == KmsOp::CreateAlias {
        c.kms()
            .create_alias(account, region, alias, target, c.secs)?;
    } else {
        c.kms()
            .update_alias_checked(account, region, alias, target, c.secs, current_key)?;
    }
    Ok(json!({}))
}

fn list_aliases(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let key = opt_str(c.v, "KeyId")?;
    match key {
        Some(k) => {
            c.authorize_key(k, false, &BTreeMap::new())?;
        }
        None => c.authorize_resource("*")?,
    }
    let aliases = c.kms().list_aliases(c.account(), c.region(), key)?;
    let (aliases, next) = page(aliases, c.v, |a| a.name.clone())?;
    let list: Vec<Value> = aliases
        .iter()
        .map(|a| {
            json!({
                "AliasName": a.name,
                "AliasArn": a.arn(),
                "TargetKeyId": a.target_key_id,
                "CreationDate": a.creation_date,
                "LastUpdatedDate": a.last_updated_date,
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("Aliases".into(), json!(list));
    Ok(paged(body, next))
}

fn encrypt(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let v = c.v;
    check_algorithm(v)?;
    let key = req_str(v, "KeyId")?;
    let plaintext = zeroize::Zeroizing::new(blob(v, "Plaintext")?);
    let ctx = context(v)?;
    let m = c.authorize_key(key, true, &ctx)?;
    let e = c
        .kms()
        .encrypt(c.account(), c.region(), &m.arn, &plaintext, &ctx)?;
    Ok(json!({
        "CiphertextBlob": b64(&e.ciphertext_blob),
        "KeyId": e.key_arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

fn decrypt(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let v = c.v;
    check_algorithm(v)?;
    let ct = blob(v, "CiphertextBlob")?;
    let ctx = context(v)?;
    let (meta, policy) = c.kms().blob_key(&ct)?;
    if meta.region != c.region() {
        return Err(KmsError::InvalidCiphertext.into());
    }
    if let Some(k) = opt_str(v, "KeyId")? {
        let named = c.kms().describe_key(c.account(), c.region(), k, true)?;
        if named.key_id != meta.key_id {
            return Err(KmsError::IncorrectKey(k.to_owned()).into());
        }
    }
    c.authorize_on(&meta, &policy, &ctx)?;
    let d = c.kms().decrypt(&ct, &ctx)?;
    Ok(json!({
        "KeyId": d.key_arn,
        "Plaintext": b64(&d.plaintext),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
fn generate_data_key(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let v = c.v;
    let key = req_str(v, "KeyId")?;
    let n = match (opt_str(v, "KeySpec")?, opt_u32(v, "NumberOfBytes")?) {
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (None, Some(n)) => n as usize,
        (Some(s), None) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{s}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
            )));
        }
        _ => {
            return Err(validation(
                "Please specify either number of bytes or key spec.",
            ));
        }
    };
    let ctx = context(v)?;
    let m = c.authorize_key(key, true, &ctx)?;
    let (plain, e) = c
        .kms()
        .generate_data_key_in(c.account(), c.region(), &m.arn, n, &ctx)?;
    let mut out = json!({
        "CiphertextBlob": b64(&e.ciphertext_blob),
        "KeyId": e.key_arn,
    });
    if c.op == KmsOp::GenerateDataKey {
        out["Plaintext"] = json!(b64(&plain));
    }
    Ok(out)
}

fn enable_key_rotation(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let period = opt_u32(c.v, "RotationPeriodInDays")?;
    c.kms()
        .enable_key_rotation(c.account(), c.region(), &m.key_id, period, c.secs)?;
    Ok(json!({}))
}

fn disable_key_rotation(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    c.kms()
        .disable_key_rotation(c.account(), c.region(), &m.key_id)?;
    Ok(json!({}))
}

fn get_key_rotation_status(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.authorize_key(req_str(c.v, "KeyId")?, true, &BTreeMap::new())?;
    let s = c.kms().rotation_status(c.account(), c.region(), &m.arn)?;
    let mut o = Map::new();
    o.insert("KeyRotationEnabled".into(), json!(s.enabled));
    o.insert("KeyId".into(), json!(s.key_arn));
    if let Some(p) = s.period_days {
        o.insert("RotationPeriodInDays".into(), json!(p));
    }
    if let Some(n) = s.next_rotation.filter(|_| s.enabled) {
        o.insert("NextRotationDate".into(), json!(n));
    }
    if let Some(d) = s.on_demand_rotation {
        o.insert("OnDemandRotationStartDate".into(), json!(d));
    }
    Ok(Value::Object(o))
}

fn rotate_key_on_demand(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let arn = c
        .kms()
        .rotate_key_on_demand(c.account(), c.region(), &m.key_id, c.secs)?;
    Ok(json!({"KeyId": arn}))
}

/// DisableKey and EnableKey.
fn enable_or_disable_key(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    if c.op == KmsOp::DisableKey {
        c.kms().disable_key(c.account(), c.region(), &m.key_id)
    } else {
        c.kms().enable_key(c.account(), c.region(), &m.key_id)
    }?;
    Ok(json!({}))
}

fn schedule_key_deletion(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let window = opt_u32(c.v, "PendingWindowInDays")?;
    let m = c
        .kms()
        .schedule_key_deletion(c.account(), c.region(), &m.key_id, window, c.secs)?;
    Ok(json!({
        "KeyId": m.arn,
        "DeletionDate": m.deletion_date,
        "KeyState": m.state.as_str(),
        "PendingWindowInDays": m.pending_window_days,
    }))
}

fn cancel_key_deletion(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let m = c
        .kms()
        .cancel_key_deletion(c.account(), c.region(), &m.key_id)?;
    Ok(json!({"KeyId": m.arn}))
}

/// GetKeyPolicy, PutKeyPolicy and ListKeyPolicies (a key has one policy, `default`).
fn key_policy(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let v = c.v;
    let m = c.own_key()?;
    if c.op == KmsOp::ListKeyPolicies {
        return Ok(json!({"PolicyNames": ["default"], "Truncated": false}));
    }
    let name = opt_str(v, "PolicyName")?.unwrap_or("default");
    if name != "default" {
        return Err(ApiError::client(
            "NotFoundException",
            format!("No such policy exists: {name}; the only key policy name is default"),
        ));
    }
    if c.op == KmsOp::GetKeyPolicy {
        return Ok(json!({"Policy": m.policy, "PolicyName": "default"}));
    }
    let document = req_str(v, "Policy")?;
    // AWS's lockout safety check: the new policy must still let the caller put a key
    // policy, unless the caller explicitly bypasses the check.
    if !opt_bool(v, "BypassPolicyLockoutSafetyCheck") {
        let new = cairn_kms::parse_key_policy(document)?;
        let put = "kms:PutKeyPolicy";
        let no_ctx = BTreeMap::new();
        if authorize_on(c.state, c.caller, &c.env, put, &m, &new, &no_ctx).is_err() {
            return Err(ApiError::client(
                "MalformedPolicyDocumentException",
                "The new key policy will not allow you to update the key policy in the future (set BypassPolicyLockoutSafetyCheck to apply it anyway)",
            ));
        }
    }
    c.kms()
        .put_key_policy(c.account(), c.region(), &m.key_id, document)?;
    Ok(json!({}))
}

fn list_resource_tags(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let list: Vec<Value> = m
        .tags
        .iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect();
    Ok(json!({"Tags": list, "Truncated": false}))
}

fn tag_resource(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    c.kms()
        .tag_resource(c.account(), c.region(), &m.key_id, &tags(c.v)?)?;
    Ok(json!({}))
}

fn untag_resource(c: &KmsCall<'_>) -> Result<Value, ApiError> {
    let m = c.own_key()?;
    let keys: Vec<String> =
        c.v.get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    c.kms()
        .untag_resource(c.account(), c.region(), &m.key_id, &keys)?;
    Ok(json!({}))
}

/// Decides `action` on `meta` with its key policy and the encryption-context condition keys.
fn authorize_on(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    action: &str,
    meta: &KeyMetadata,
    policy: &cairn_policy::Policy,
    ctx: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let mut access = Access::new(action, &meta.arn);
    access.resource_account = Some(&meta.account);
    access.resource_policy = Some(("key-policy", policy));
    access.context = encryption_context_keys(ctx);
    crate::authz::authorize(state, caller, env, &access)
        .map_err(|d| ApiError::client("AccessDeniedException", d.message))
}

/// `kms:EncryptionContext:<key>` per pair and `kms:EncryptionContextKeys` (lowercased keys,
/// as `cairn-policy` looks them up).
pub fn encryption_context_keys(ctx: &BTreeMap<String, String>) -> BTreeMap<String, ContextValue> {
    let mut out = BTreeMap::new();
    for (k, v) in ctx {
        out.insert(
            format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()),
            v.clone().into(),
        );
    }
    if !ctx.is_empty() {
        let keys: Vec<String> = ctx.keys().cloned().collect();
        out.insert("kms:encryptioncontextkeys".into(), keys.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_condition_keys() {
        let ctx: BTreeMap<String, String> =
            [("aws:cloudtrail:arn".to_owned(), "arn:x".to_owned())].into();
        let keys = encryption_context_keys(&ctx);
        assert!(keys.contains_key("kms:encryptioncontext:aws:cloudtrail:arn"));
        assert!(keys.contains_key("kms:encryptioncontextkeys"));
        assert!(encryption_context_keys(&BTreeMap::new()).is_empty());
    }
}
