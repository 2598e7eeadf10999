//! The KMS JSON API (`kms`, JSON 1.1, `X-Amz-Target: TrentService.<Operation>`), served by
//! `cairn-kms`.
//!
//! Every call is authorized with [`crate::authz::authorize`]: action `kms:<Operation>`, the
//! key ARN as resource, the key's policy as the resource policy, and the encryption context
//! as `kms:EncryptionContext:<key>` / `kms:EncryptionContextKeys` condition keys. Operations
//! without a key (CreateKey, ListKeys, ListAliases) are authorized on `*`.
//!
//! The self-audit never sees plaintext or key material: [`audit_request`] drops `Plaintext`
//! and `CiphertextBlob` from the recorded request, and the cryptographic operations are
//! read-only calls, whose responses are not recorded (as in AWS).

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use cairn_kms::{CreateKey, KeyMetadata, Kms, KmsError};
use cairn_policy::ContextValue;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::error::ApiError;
use crate::state::AppState;

/// `X-Amz-Target` prefix of the KMS API.
pub const TARGET_PREFIX: &str = "TrentService.";

/// Every KMS operation this server knows the name of; the first block is implemented.
const IMPLEMENTED: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "CreateAlias",
    "UpdateAlias",
    "ListAliases",
    "DeleteAlias",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "DisableKey",
    "EnableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
    "ListResourceTags",
    "TagResource",
    "UntagResource",
];

/// Whether `op` only reads. The cryptographic operations count as read-only, as AWS records
/// them (`readOnly: true`), so their responses never enter the audit record.
pub fn is_read_only(op: &str) -> bool {
    [
        "Describe",
        "Get",
        "List",
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

/// The request as the audit record shows it: without `Plaintext` or `CiphertextBlob`.
pub fn audit_request(request: &Value) -> Value {
    match request {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "Plaintext" | "CiphertextBlob"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A KMS error as the API returns it (internal detail logged, not sent).
pub fn api_error(e: KmsError) -> ApiError {
    ApiError::from(e)
}

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

/// Runs one KMS operation for `caller` (blocking: call from `spawn_blocking`).
pub fn call(
    state: &AppState,
    caller: &Caller,
    source_ip: IpAddr,
    op: &str,
    v: &Value,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let kms: &Kms = &state.kms;
    let secs = now.unix_timestamp();
    // Deletions and rotations that fell due are applied before any call can observe them.
    kms.tick(secs).map_err(api_error)?;
    let (account, region) = (caller.account.as_str(), caller.region.as_str());
    let env = Environment {
        source_ip,
        secure_transport: caller.secure_transport,
        now,
    };
    let action = format!("kms:{op}");
    // Authorizes `action` on a key (found as the caller sees it), returning its metadata.
    let authorize_key = |key_id: &str,
                         cross_account: bool,
                         ctx: &BTreeMap<String, String>|
     -> Result<KeyMetadata, ApiError> {
        let (meta, policy) = kms
            .key_and_policy(account, region, key_id, cross_account)
            .map_err(api_error)?;
        authorize_on(state, caller, &env, &action, &meta, &policy, ctx)?;
        Ok(meta)
    };
    let no_ctx = BTreeMap::new();
    let authorize_star = || {
        crate::authz::authorize(state, caller, &env, &Access::new(&action, "*"))
            .map_err(|d| ApiError::client("AccessDeniedException", d.message))
    };
    match op {
        "CreateKey" => {
            authorize_star()?;
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
            let m = kms
                .create_key(account, region, req, secs)
                .map_err(api_error)?;
            Ok(json!({"KeyMetadata": key_metadata_json(&m)}))
        }
        "DescribeKey" => {
            let m = authorize_key(req_str(v, "KeyId")?, true, &no_ctx)?;
            Ok(json!({"KeyMetadata": key_metadata_json(&m)}))
        }
        "ListKeys" => {
            authorize_star()?;
            let (keys, next) = page(kms.list_keys(account, region), v, |k| k.key_id.clone())?;
            let keys: Vec<Value> = keys
                .iter()
                .map(|k| json!({"KeyId": k.key_id, "KeyArn": k.arn}))
                .collect();
            let mut body = Map::new();
            body.insert("Keys".into(), json!(keys));
            Ok(paged(body, next))
        }
        // AWS authorizes an alias operation on the alias (identity policies: an alias has no
        // policy of its own) and on each key involved (key policies): CreateAlias on the
        // target key, UpdateAlias on the current and the new target, DeleteAlias on the
        // current target.
        "CreateAlias" | "UpdateAlias" | "DeleteAlias" => {
            let alias = req_str(v, "AliasName")?;
            cairn_kms::validate_alias_name(alias).map_err(api_error)?;
            let alias_arn = format!("arn:aws:kms:{region}:{account}:{alias}");
            crate::authz::authorize(state, caller, &env, &Access::new(&action, &alias_arn))
                .map_err(|d| ApiError::client("AccessDeniedException", d.message))?;
            let current_key = |meta: &KeyMetadata, policy: &cairn_policy::Policy| {
                authorize_on(state, caller, &env, &action, meta, policy, &no_ctx)
            };
            if op == "DeleteAlias" {
                kms.delete_alias_checked(account, region, alias, current_key)?;
                return Ok(json!({}));
            }
            let target = req_str(v, "TargetKeyId")?;
            if !target.starts_with("alias/") && !target.contains(":alias/") {
                authorize_key(target, false, &no_ctx)?;
            }
            if op == "CreateAlias" {
                kms.create_alias(account, region, alias, target, secs)
                    .map_err(api_error)?;
            } else {
                kms.update_alias_checked(account, region, alias, target, secs, current_key)?;
            }
            Ok(json!({}))
        }
        "ListAliases" => {
            let key = opt_str(v, "KeyId")?;
            match key {
                Some(k) => {
                    authorize_key(k, false, &no_ctx)?;
                }
                None => authorize_star()?,
            }
            let aliases = kms.list_aliases(account, region, key).map_err(api_error)?;
            let (aliases, next) = page(aliases, v, |a| a.name.clone())?;
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
        "Encrypt" => {
            check_algorithm(v)?;
            let key = req_str(v, "KeyId")?;
            let plaintext = zeroize::Zeroizing::new(blob(v, "Plaintext")?);
            let ctx = context(v)?;
            let m = authorize_key(key, true, &ctx)?;
            let e = kms
                .encrypt(account, region, &m.arn, &plaintext, &ctx)
                .map_err(api_error)?;
            Ok(json!({
                "CiphertextBlob": b64(&e.ciphertext_blob),
                "KeyId": e.key_arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        "Decrypt" => {
            check_algorithm(v)?;
            let ct = blob(v, "CiphertextBlob")?;
            let ctx = context(v)?;
            let (meta, policy) = kms.blob_key(&ct).map_err(api_error)?;
            if meta.region != region {
                return Err(api_error(KmsError::InvalidCiphertext));
            }
            if let Some(k) = opt_str(v, "KeyId")? {
                let named = kms
                    .describe_key(account, region, k, true)
                    .map_err(api_error)?;
                if named.key_id != meta.key_id {
                    return Err(api_error(KmsError::IncorrectKey(k.to_owned())));
                }
            }
            authorize_on(state, caller, &env, &action, &meta, &policy, &ctx)?;
            let d = kms.decrypt(&ct, &ctx).map_err(api_error)?;
            Ok(json!({
                "KeyId": d.key_arn,
                "Plaintext": b64(&d.plaintext),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
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
            let m = authorize_key(key, true, &ctx)?;
            let (plain, e) = kms
                .generate_data_key_in(account, region, &m.arn, n, &ctx)
                .map_err(api_error)?;
            let mut out = json!({
                "CiphertextBlob": b64(&e.ciphertext_blob),
                "KeyId": e.key_arn,
            });
            if op == "GenerateDataKey" {
                out["Plaintext"] = json!(b64(&plain));
            }
            Ok(out)
        }
        "EnableKeyRotation" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            kms.enable_key_rotation(
                account,
                region,
                &m.key_id,
                opt_u32(v, "RotationPeriodInDays")?,
                secs,
            )
            .map_err(api_error)?;
            Ok(json!({}))
        }
        "DisableKeyRotation" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            kms.disable_key_rotation(account, region, &m.key_id)
                .map_err(api_error)?;
            Ok(json!({}))
        }
        "GetKeyRotationStatus" => {
            let m = authorize_key(req_str(v, "KeyId")?, true, &no_ctx)?;
            let s = kms
                .rotation_status(account, region, &m.arn)
                .map_err(api_error)?;
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
        "RotateKeyOnDemand" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            let arn = kms
                .rotate_key_on_demand(account, region, &m.key_id, secs)
                .map_err(api_error)?;
            Ok(json!({"KeyId": arn}))
        }
        "DisableKey" | "EnableKey" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            if op == "DisableKey" {
                kms.disable_key(account, region, &m.key_id)
            } else {
                kms.enable_key(account, region, &m.key_id)
            }
            .map_err(api_error)?;
            Ok(json!({}))
        }
        "ScheduleKeyDeletion" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            let m = kms
                .schedule_key_deletion(
                    account,
                    region,
                    &m.key_id,
                    opt_u32(v, "PendingWindowInDays")?,
                    secs,
                )
                .map_err(api_error)?;
            Ok(json!({
                "KeyId": m.arn,
                "DeletionDate": m.deletion_date,
                "KeyState": m.state.as_str(),
                "PendingWindowInDays": m.pending_window_days,
            }))
        }
        "CancelKeyDeletion" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            let m = kms
                .cancel_key_deletion(account, region, &m.key_id)
                .map_err(api_error)?;
            Ok(json!({"KeyId": m.arn}))
        }
        "GetKeyPolicy" | "PutKeyPolicy" | "ListKeyPolicies" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            if op == "ListKeyPolicies" {
                return Ok(json!({"PolicyNames": ["default"], "Truncated": false}));
            }
            let name = opt_str(v, "PolicyName")?.unwrap_or("default");
            if name != "default" {
                return Err(ApiError::client(
                    "NotFoundException",
                    format!("No such policy exists: {name}; the only key policy name is default"),
                ));
            }
            if op == "GetKeyPolicy" {
                return Ok(json!({"Policy": m.policy, "PolicyName": "default"}));
            }
            let document = req_str(v, "Policy")?;
            // AWS's lockout safety check: the new policy must still let the caller put a
            // key policy, unless the caller explicitly bypasses the check.
            if !opt_bool(v, "BypassPolicyLockoutSafetyCheck") {
                let new = cairn_kms::parse_key_policy(document).map_err(api_error)?;
                let put = "kms:PutKeyPolicy";
                if authorize_on(state, caller, &env, put, &m, &new, &no_ctx).is_err() {
                    return Err(ApiError::client(
                        "MalformedPolicyDocumentException",
                        "The new key policy will not allow you to update the key policy in the future (set BypassPolicyLockoutSafetyCheck to apply it anyway)",
                    ));
                }
            }
            kms.put_key_policy(account, region, &m.key_id, document)
                .map_err(api_error)?;
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            let list: Vec<Value> = m
                .tags
                .iter()
                .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                .collect();
            Ok(json!({"Tags": list, "Truncated": false}))
        }
        "TagResource" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            kms.tag_resource(account, region, &m.key_id, &tags(v)?)
                .map_err(api_error)?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let m = authorize_key(req_str(v, "KeyId")?, false, &no_ctx)?;
            let keys: Vec<String> = v
                .get("TagKeys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            kms.untag_resource(account, region, &m.key_id, &keys)
                .map_err(api_error)?;
            Ok(json!({}))
        }
        other => {
            debug_assert!(!IMPLEMENTED.contains(&other));
            Err(ApiError::not_implemented(other))
        }
    }
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
    fn audit_request_drops_secrets() {
        let r = json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "CiphertextBlob": "AAAA", "EncryptionContext": {"a": "b"}});
        let a = audit_request(&r);
        assert_eq!(a, json!({"KeyId": "k", "EncryptionContext": {"a": "b"}}));
    }

    #[test]
    fn read_only_operations() {
        for op in [
            "DescribeKey",
            "ListKeys",
            "GetKeyPolicy",
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
        ] {
            assert!(is_read_only(op), "{op}");
        }
        for op in [
            "CreateKey",
            "DisableKey",
            "ScheduleKeyDeletion",
            "PutKeyPolicy",
            "CreateAlias",
        ] {
            assert!(!is_read_only(op), "{op}");
        }
    }

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
