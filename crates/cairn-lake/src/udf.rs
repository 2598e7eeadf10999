//! `json_get(json_text, path)`: a member of a JSON-text column (`requestParameters`, ...).
//!
//! The path is dot-separated member names, with numeric segments indexing arrays
//! (`'instancesSet.items.0.instanceId'`); a leading `$.` is allowed. The result is the member's
//! string value, or compact JSON text for numbers, booleans, objects and arrays; null when the
//! input is null, not JSON, or has no such member.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::scalar::ScalarValue;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::raw::RawRecord;

/// Looks `path` up in parsed JSON.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut cur = v;
    if path.is_empty() {
        return Some(cur);
    }
    for seg in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// [`lookup`] on JSON text, rendered as `json_get` returns it. Only the objects and arrays on
/// the path are split into members; nothing else is parsed (the text is still checked to be
/// JSON, as a full parse would).
pub fn json_get(text: &str, path: &str) -> Option<String> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut cur: &RawValue = serde_json::from_str(text).ok()?;
    if !path.is_empty() {
        for seg in path.split('.') {
            cur = match cur.get().as_bytes().first()? {
                b'{' => serde_json::from_str::<RawRecord<'_>>(cur.get())
                    .ok()?
                    .get(seg)?,
                b'[' => {
                    let items: Vec<&RawValue> = serde_json::from_str(cur.get()).ok()?;
                    *items.get(seg.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
    }
    match cur.get().as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(cur.get()).ok(),
        b'n' => None,
        // Numbers, booleans, objects and arrays as compact JSON text.
        _ => serde_json::from_str::<Value>(cur.get())
            .ok()
            .map(|v| v.to_string()),
    }
}

fn invoke(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    let [json, path] = args else {
        return Err(DataFusionError::Plan(
            "json_get takes two arguments: (json_text, path)".into(),
        ));
    };
    let scalar_str = |s: &ScalarValue| match s {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            Ok(v.clone())
        }
        _ => Err(DataFusionError::Plan(
            "json_get arguments must be strings".into(),
        )),
    };
    match (json, path) {
        (ColumnarValue::Scalar(j), ColumnarValue::Scalar(p)) => {
            let out = match (scalar_str(j)?, scalar_str(p)?) {
                (Some(j), Some(p)) => json_get(&j, &p),
                _ => None,
            };
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(out)))
        }
        _ => {
            let n = match (json, path) {
                (ColumnarValue::Array(a), _) | (_, ColumnarValue::Array(a)) => a.len(),
                _ => 0,
            };
            let arr = |c: &ColumnarValue| -> Result<ArrayRef, DataFusionError> {
                c.clone().into_array(n)
            };
            let (ja, pa) = (arr(json)?, arr(path)?);
            let (ja, pa): (&StringArray, &StringArray) =
                (as_string_array(&ja)?, as_string_array(&pa)?);
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for i in 0..n {
                if ja.is_null(i) || pa.is_null(i) {
                    b.append_null();
                } else {
                    b.append_option(json_get(ja.value(i), pa.value(i)));
                }
            }
            Ok(ColumnarValue::Array(Arc::new(b.finish())))
        }
    }
}

/// The `json_get` scalar function.
pub fn json_get_udf() -> ScalarUDF {
    create_udf(
        "json_get",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(invoke),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_members_and_array_items() {
        let t = r#"{"bucketName":"b","instancesSet":{"items":[{"instanceId":"i-1"}]},"n":3,"o":{"a":1}}"#;
        assert_eq!(json_get(t, "bucketName").as_deref(), Some("b"));
        assert_eq!(json_get(t, "$.bucketName").as_deref(), Some("b"));
        assert_eq!(
            json_get(t, "instancesSet.items.0.instanceId").as_deref(),
            Some("i-1")
        );
        assert_eq!(json_get(t, "n").as_deref(), Some("3"));
        assert_eq!(json_get(t, "o").as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(json_get(t, "missing"), None);
        assert_eq!(json_get(t, "instancesSet.items.x"), None);
        assert_eq!(json_get("not json", "a"), None);
        assert_eq!(json_get(r#"{"a":1} x"#, "a"), None, "trailing garbage");
        assert_eq!(json_get(r#"{"a":null}"#, "a"), None);
        assert_eq!(json_get(r#"{"a":1,"a":2}"#, "a").as_deref(), Some("2"));
        assert_eq!(
            json_get(r#"{ "a" : [ 1 , { "b" : true } ] }"#, "a.1.b").as_deref(),
            Some("true")
        );
        assert_eq!(
            json_get(r#"{"a":{ "b" : [1, 2] }}"#, "a").as_deref(),
            Some(r#"{"b":[1,2]}"#)
        );
        assert_eq!(json_get(r#"{"k\u0065y":"v"}"#, "key").as_deref(), Some("v"));
        assert_eq!(json_get(r#""text""#, "").as_deref(), Some("text"));
    }

    /// The member-splitting lookup answers as a full parse does, on every JSON-text member of
    /// the shared real records and every path into them.
    #[test]
    fn lookup_agrees_with_a_full_parse_on_real_records() {
        fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
            let join = |k: &str| {
                if prefix.is_empty() {
                    k.to_owned()
                } else {
                    format!("{prefix}.{k}")
                }
            };
            match v {
                Value::Object(m) => m.iter().for_each(|(k, x)| {
                    out.push(join(k));
                    paths(x, &join(k), out);
                }),
                Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                    out.push(join(&i.to_string()));
                    paths(x, &join(&i.to_string()), out);
                }),
                _ => {}
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/cloudtrail");
        let mut checked = 0;
        for f in crate::files::list(&root).unwrap() {
            let Ok(records) = crate::files::read_records(&f.path) else {
                continue;
            };
            for r in records {
                for col in [
                    "requestParameters",
                    "responseElements",
                    "additionalEventData",
                ] {
                    let Some(v) = r.get(col).filter(|v| !v.is_null()) else {
                        continue;
                    };
                    let text = v.to_string();
                    let mut ps = vec!["missing".to_owned()];
                    paths(v, "", &mut ps);
                    for p in ps {
                        let full = match lookup(v, &p) {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(o) => Some(o.to_string()),
                        };
                        assert_eq!(json_get(&text, &p), full, "{col} {p} in {}", f.rel);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
