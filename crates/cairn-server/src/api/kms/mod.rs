//! KMS (`kms`, JSON 1.1, `X-Amz-Target: TrentService.<Operation>`), served by `cairn-kms`:
//! [`KmsOp`] names every operation, [`ops`] runs the implemented ones.
//!
//! The self-audit never sees plaintext or key material: [`audit_request`] drops `Plaintext`
//! and `CiphertextBlob` from the recorded request, and the cryptographic operations are
//! read-only calls, whose responses are not recorded (as in AWS).

mod op;
mod ops;

pub use op::{KmsOp, is_read_only};
pub use ops::{encryption_context_keys, key_metadata_json};

use axum::response::Response;
use http::Method;
use serde_json::Value;

use super::{Call, JSON_11, RequestCtx, Wire, admit, parse_json_body};
use crate::error::ApiError;

/// The protocol KMS answers in.
pub const WIRE: Wire = Wire::Json(JSON_11);

/// `X-Amz-Target` prefix of the KMS API.
pub const TARGET_PREFIX: &str = "TrentService.";

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

/// Serves one KMS call. Any operation name is recorded: names KMS does not have are
/// answered "not implemented", like the operations this server does not build.
pub async fn handle(ctx: &RequestCtx) -> Response {
    let target = ctx.target();
    let name = match target.strip_prefix(TARGET_PREFIX) {
        Some(op) if ctx.parts.method == Method::POST && !op.is_empty() => op.to_owned(),
        _ => {
            return ctx.unknown_operation(
                WIRE,
                format!(
                    "unknown operation `{target}`: KMS operations are POST / with X-Amz-Target: {TARGET_PREFIX}<Operation>"
                ),
            );
        }
    };
    let parsed = parse_json_body(&ctx.body);
    let request = audit_request(parsed.as_ref().unwrap_or(&Value::Null));
    let call = Call {
        event_source: "kms.amazonaws.com",
        event_name: &name,
        read_only: is_read_only(&name),
        request: &request,
        region: None,
    };
    let (admitted, v) = admit(parsed);
    let (env, secs) = (ctx.env(), ctx.now.unix_timestamp());
    let op = KmsOp::from_name(&name);
    let unknown = name.clone();
    let work = ctx.blocking(move |state, caller| match op {
        Some(op) => ops::execute(&ops::KmsCall {
            state,
            caller,
            env,
            op,
            v: &v,
            secs,
        }),
        None => Err(ApiError::not_implemented(&unknown)),
    });
    ctx.run(WIRE, call, admitted, work).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_request_drops_secrets() {
        let r = json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "CiphertextBlob": "AAAA", "EncryptionContext": {"a": "b"}});
        let a = audit_request(&r);
        assert_eq!(a, json!({"KeyId": "k", "EncryptionContext": {"a": "b"}}));
    }
}
