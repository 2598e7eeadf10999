//! The Arrow schema of CloudTrail records, and the mapping of one JSON record onto it.
//!
//! | column | Arrow type | from |
//! |---|---|---|
//! | `eventTime` | `Timestamp(µs, "UTC")` | ISO 8601 string |
//! | `managementEvent`, `readOnly` | `Boolean` | JSON boolean (or the strings `"true"`/`"false"`) |
//! | `userIdentity` | `Struct` (see [`schema`]), `sessionContext.attributes.mfaAuthenticated` stays the string CloudTrail writes | object |
//! | `resources` | `List<Struct<accountId, type, ARN, ARNPrefix>>` | array of objects |
//! | `tlsDetails` | `Struct<tlsVersion, cipherSuite, clientProvidedHostHeader>` | object |
//! | `requestParameters`, `responseElements`, `additionalEventData`, `serviceEventDetails`, `edgeDeviceDetails`, `insightDetails`, `addendum`, `userIdentity.sessionContext.webIdFederationData`, `userIdentity.onBehalfOf` | `Utf8` holding compact JSON text | any JSON value |
//! | every other documented top-level field | `Utf8` | string (numbers and booleans are written as text) |
//!
//! Fields a record does not have are null. Fields the schema does not name are dropped (they
//! remain in the delivered files).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use crate::raw::RawRecord;

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn strukt(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

/// Free-form members, kept as JSON text.
pub const JSON_COLUMNS: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "edgeDeviceDetails",
    "insightDetails",
    "addendum",
];

fn build() -> Schema {
    let session_issuer = strukt(
        "sessionIssuer",
        vec![
            utf8("type"),
            utf8("principalId"),
            utf8("arn"),
            utf8("accountId"),
            utf8("userName"),
        ],
    );
    let attributes = strukt(
        "attributes",
        vec![utf8("creationDate"), utf8("mfaAuthenticated")],
    );
    let session_context = strukt(
        "sessionContext",
        vec![
            session_issuer,
            utf8("webIdFederationData"),
            attributes,
            utf8("sourceIdentity"),
            utf8("ec2RoleDelivery"),
        ],
    );
    let user_identity = strukt(
        "userIdentity",
        vec![
            utf8("type"),
            utf8("principalId"),
            utf8("arn"),
            utf8("accountId"),
            utf8("accessKeyId"),
            utf8("userName"),
            session_context,
            utf8("invokedBy"),
            utf8("identityProvider"),
            utf8("credentialId"),
            utf8("onBehalfOf"),
        ],
    );
    let resource = Field::new(
        "item",
        DataType::Struct(Fields::from(vec![
            utf8("accountId"),
            utf8("type"),
            utf8("ARN"),
            utf8("ARNPrefix"),
        ])),
        true,
    );
    let mut fields = vec![
        utf8("eventVersion"),
        user_identity,
        Field::new(
            "eventTime",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        utf8("eventSource"),
        utf8("eventName"),
        utf8("awsRegion"),
        utf8("sourceIPAddress"),
        utf8("userAgent"),
        utf8("errorCode"),
        utf8("errorMessage"),
    ];
    fields.extend(JSON_COLUMNS.iter().take(4).map(|n| utf8(n)));
    fields.extend([
        utf8("requestID"),
        utf8("eventID"),
        Field::new("readOnly", DataType::Boolean, true),
        Field::new("resources", DataType::List(Arc::new(resource)), true),
        utf8("eventType"),
        utf8("apiVersion"),
        Field::new("managementEvent", DataType::Boolean, true),
        utf8("recipientAccountId"),
        utf8("sharedEventID"),
        utf8("vpcEndpointId"),
        utf8("vpcEndpointAccountId"),
        utf8("eventCategory"),
        utf8("sessionCredentialFromConsole"),
        strukt(
            "tlsDetails",
            vec![
                utf8("tlsVersion"),
                utf8("cipherSuite"),
                utf8("clientProvidedHostHeader"),
            ],
        ),
    ]);
    fields.extend(JSON_COLUMNS.iter().skip(4).map(|n| utf8(n)));
    Schema::new(fields)
}

/// The table schema of CloudTrail records (one row per record).
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| Arc::new(build())).clone()
}

/// Rewrites one record so that it fits [`schema`]: free-form members become JSON text,
/// booleans written as strings become booleans, values of the wrong shape become null, and
/// members the schema does not name are dropped.
pub fn normalize(record: &Value) -> Value {
    let schema = schema();
    match record {
        Value::Object(m) => Value::Object(fit_fields(m, schema.fields())),
        _ => Value::Null,
    }
}

/// [`normalize`] for a record whose members are still unparsed, keeping only `fields` (a
/// projection of [`schema`]'s top-level fields): only those members are parsed.
pub fn normalize_raw(record: &RawRecord<'_>, fields: &Fields) -> Value {
    let mut out = Map::with_capacity(fields.len());
    for f in fields {
        let Some(raw) = record.get(f.name()) else {
            continue;
        };
        // Strings (most columns) are read as they are; anything else is parsed and fitted.
        let v = match (f.data_type(), serde_json::from_str::<String>(raw.get())) {
            (DataType::Utf8, Ok(text)) => Value::String(text),
            _ => match serde_json::from_str::<Value>(raw.get()) {
                Ok(v) => fit(&v, f.data_type()),
                Err(_) => Value::Null,
            },
        };
        if !v.is_null() {
            out.insert(f.name().clone(), v);
        }
    }
    Value::Object(out)
}

fn fit_fields(m: &Map<String, Value>, fields: &Fields) -> Map<String, Value> {
    let mut out = Map::with_capacity(fields.len());
    for f in fields {
        if let Some(v) = m.get(f.name()) {
            let v = fit(v, f.data_type());
            if !v.is_null() {
                out.insert(f.name().clone(), v);
            }
        }
    }
    out
}

fn fit(v: &Value, ty: &DataType) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (DataType::Utf8, Value::String(_)) => v.clone(),
        (DataType::Utf8, Value::Number(n)) => Value::String(n.to_string()),
        (DataType::Utf8, Value::Bool(b)) => Value::String(b.to_string()),
        (DataType::Utf8, _) => Value::String(v.to_string()),
        (DataType::Boolean, Value::Bool(_)) => v.clone(),
        (DataType::Boolean, Value::String(s)) => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        },
        (DataType::Timestamp(..), Value::String(s)) if valid_time(s) => v.clone(),
        (DataType::Struct(fields), Value::Object(m)) => Value::Object(fit_fields(m, fields)),
        (DataType::List(item), Value::Array(a)) => {
            Value::Array(a.iter().map(|x| fit(x, item.data_type())).collect())
        }
        _ => Value::Null,
    }
}

/// Whether the text parses as an RFC 3339 time (what `eventTime` holds).
fn valid_time(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// The day (`YYYY-MM-DD`), account and region a record belongs to, used to partition the
/// Parquet copy. Missing values read `unknown`.
pub fn partition_of(record: &Value) -> (String, String, String) {
    let safe = |s: &&str| !s.is_empty() && s.bytes().all(safe_byte);
    let s = |k: &str| record.get(k).and_then(Value::as_str).filter(safe);
    let day = record
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(|t| t.get(..10))
        .filter(safe)
        .unwrap_or("unknown")
        .to_owned();
    (
        day,
        s("recipientAccountId").unwrap_or("unknown").to_owned(),
        s("awsRegion").unwrap_or("unknown").to_owned(),
    )
}

/// Bytes allowed in a partition directory name (no separators, no dots first).
fn safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_form_members_become_json_text() {
        let r = json!({"eventName":"PutObject","requestParameters":{"bucketName":"b","key":"k"},
            "responseElements":null,"additionalEventData":{"x":[1,2]},"unknownMember":1});
        let n = normalize(&r);
        assert_eq!(
            n["requestParameters"],
            json!(r#"{"bucketName":"b","key":"k"}"#)
        );
        assert_eq!(n["additionalEventData"], json!(r#"{"x":[1,2]}"#));
        assert!(n.get("responseElements").is_none());
        assert!(n.get("unknownMember").is_none());
    }

    #[test]
    fn nested_identity_is_kept_as_structs_with_string_mfa() {
        let r = json!({"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a",
            "sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"2020-01-01T00:00:00Z"},
            "webIdFederationData":{}}}});
        let n = normalize(&r);
        assert_eq!(n["userIdentity"]["arn"], json!("arn:aws:iam::1:user/a"));
        assert_eq!(
            n["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"],
            json!("false")
        );
        assert_eq!(
            n["userIdentity"]["sessionContext"]["webIdFederationData"],
            json!("{}")
        );
    }

    #[test]
    fn booleans_times_and_shapes_are_checked() {
        let r = json!({"readOnly":"true","managementEvent":"maybe","eventTime":"not a time",
            "userIdentity":"a string","resources":[{"ARN":"a","type":"t"}, 3],"recipientAccountId":123});
        let n = normalize(&r);
        assert_eq!(n["readOnly"], json!(true));
        assert!(n.get("managementEvent").is_none());
        assert!(n.get("eventTime").is_none());
        assert!(n.get("userIdentity").is_none());
        assert_eq!(n["resources"], json!([{"ARN":"a","type":"t"}, null]));
        assert_eq!(n["recipientAccountId"], json!("123"));
    }

    #[test]
    fn partitions_are_day_account_region_and_path_safe() {
        let r = json!({"eventTime":"2024-03-05T10:00:00Z","recipientAccountId":"111122223333","awsRegion":"eu-west-1"});
        assert_eq!(
            partition_of(&r),
            (
                "2024-03-05".into(),
                "111122223333".into(),
                "eu-west-1".into()
            )
        );
        let bad = json!({"recipientAccountId":"../x","awsRegion":""});
        assert_eq!(
            partition_of(&bad),
            ("unknown".into(), "unknown".into(), "unknown".into())
        );
    }

    #[test]
    fn schema_names_the_documented_columns() {
        let s = schema();
        for c in [
            "eventTime",
            "userIdentity",
            "requestParameters",
            "resources",
            "errorCode",
            "tlsDetails",
            "addendum",
        ] {
            assert!(s.field_with_name(c).is_ok(), "{c}");
        }
        assert!(matches!(
            s.field_with_name("eventTime").unwrap().data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_))
        ));
    }
}
