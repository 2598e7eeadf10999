//! `ListPublicKeys` (`cloudtrail-formats.md` §8, `cloudtrail-api.md` §9): the digest signing
//! keys of the caller's region whose validity overlaps `[StartTime, EndTime]` (both default to
//! now), as base64 PKCS#1 DER with MD5 fingerprints and epoch-second validity windows.

use base64::Engine;
use serde_json::{Value, json};

use super::trails::CallContext;
use crate::catalog::{Catalog, KeyStore};
use crate::error::ApiError;

/// Reads an optional epoch-seconds timestamp member (JSON 1.1 sends numbers; ISO-8601 text
/// is accepted too).
fn time_member(body: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::client(
            "SerializationException",
            format!("{name} must be a timestamp (epoch seconds)"),
        )
    };
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| Some(f.floor() as i64))
            .ok_or_else(bad),
        Some(Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| Some(t.unix_timestamp()))
                .map_err(|_| bad())
        }
        Some(_) => Err(bad()),
    }
}

/// Executes `ListPublicKeys` for the caller's region.
pub(crate) fn list_public_keys(
    catalog: &Catalog,
    ctx: &CallContext,
    body: &Value,
) -> Result<Value, ApiError> {
    if body.get("NextToken").is_some_and(|t| !t.is_null()) {
        // Every matching key fits one page, so this server never hands out a token.
        return Err(ApiError::client(
            "InvalidTokenException",
            "The NextToken is not valid for this request.",
        ));
    }
    let now = ctx.now.unix_timestamp();
    let start = time_member(body, "StartTime")?.unwrap_or(now);
    let end = time_member(body, "EndTime")?.unwrap_or(now);
    if start > end {
        return Err(ApiError::client(
            "InvalidTimeRangeException",
            "Start time must occur before end time.",
        ));
    }
    let keys = catalog
        .signing_keys(&ctx.region, start, end)
        .map_err(ApiError::internal)?;
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(&k.public_der),
                "ValidityStartTime": k.valid_from,
                "ValidityEndTime": k.valid_to,
                "Fingerprint": k.fingerprint,
            })
        })
        .collect();
    Ok(json!({ "PublicKeyList": list }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SigningKeyRow;

    fn ctx(region: &str, now: i64) -> CallContext {
        CallContext {
            account: "111111111111".into(),
            region: region.into(),
            now: time::OffsetDateTime::from_unix_timestamp(now).unwrap(),
        }
    }

    #[test]
    fn overlap_defaults_region_scope_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let key = cairn_logfile::keys::SigningKey::generate().unwrap();
        let der = key.public_key().der().to_vec();
        for (fp, from, to) in [("aa", 100, 200), ("bb", 190, 290)] {
            catalog
                .insert_signing_key(&SigningKeyRow {
                    region: "us-east-1".into(),
                    fingerprint: fp.into(),
                    public_der: der.clone(),
                    sealed_private: vec![1],
                    valid_from: from,
                    valid_to: to,
                })
                .unwrap();
        }
        let fps = |v: Value| -> Vec<String> {
            v["PublicKeyList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["Fingerprint"].as_str().unwrap().to_owned())
                .collect()
        };
        // Defaults: now.
        let r = list_public_keys(&catalog, &ctx("us-east-1", 195), &json!({})).unwrap();
        assert_eq!(fps(r.clone()), ["aa", "bb"]);
        let k0 = &r["PublicKeyList"][0];
        assert_eq!(k0["ValidityStartTime"], json!(100));
        assert_eq!(k0["ValidityEndTime"], json!(200));
        let value = k0["Value"].as_str().unwrap();
        assert!(value.starts_with("MIIBCgKCAQEA"), "{value}");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap(),
            der
        );
        let r = list_public_keys(
            &catalog,
            &ctx("us-east-1", 1000),
            &json!({"StartTime": 0, "EndTime": 150.5}),
        )
        .unwrap();
        assert_eq!(fps(r), ["aa"]);
        let r = list_public_keys(
            &catalog,
            &ctx("us-east-1", 1000),
            &json!({"StartTime": 250}),
        )
        .unwrap();
        assert_eq!(fps(r), ["bb"]);
        let r = list_public_keys(&catalog, &ctx("eu-west-1", 150), &json!({})).unwrap();
        assert!(fps(r).is_empty());
        let e = list_public_keys(
            &catalog,
            &ctx("us-east-1", 150),
            &json!({"StartTime": 10, "EndTime": 5}),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidTimeRangeException");
        let e = list_public_keys(&catalog, &ctx("us-east-1", 150), &json!({"NextToken": "x"}))
            .unwrap_err();
        assert_eq!(e.code, "InvalidTokenException");
        let e = list_public_keys(
            &catalog,
            &ctx("us-east-1", 150),
            &json!({"StartTime": true}),
        )
        .unwrap_err();
        assert_eq!(e.code, "SerializationException");
    }
}
