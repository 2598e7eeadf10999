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

/// [`lookup`] on JSON text, rendered as `json_get` returns it.
pub fn json_get(text: &str, path: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    match lookup(&v, path)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
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
    }
}
