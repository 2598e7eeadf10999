//! Request-field helpers, name validation, ARNs, tokens and time formatting.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{CwCode, MonitorError, Result};

/// Which API is asking (decides the error codes of validation failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Logs,
    CloudWatch,
}

fn missing(api: Api, key: &str) -> MonitorError {
    match api {
        Api::Logs => MonitorError::invalid(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"
        )),
        Api::CloudWatch => MonitorError::cw(
            CwCode::MissingParameter,
            format!("The parameter {key} is required."),
        ),
    }
}

fn bad(api: Api, key: &str, why: &str) -> MonitorError {
    match api {
        Api::Logs => MonitorError::invalid(format!(
            "1 validation error detected: Value at '{key}' failed to satisfy constraint: {why}"
        )),
        Api::CloudWatch => MonitorError::cw(
            CwCode::InvalidParameterValue,
            format!("The parameter {key} {why}."),
        ),
    }
}

/// An optional string field.
pub(crate) fn opt_str<'a>(api: Api, body: &'a Value, key: &str) -> Result<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(api, key, "Member must be a string")),
    }
}

/// A required string field.
pub(crate) fn req_str<'a>(api: Api, body: &'a Value, key: &str) -> Result<&'a str> {
    opt_str(api, body, key)?.ok_or_else(|| missing(api, key))
}

/// An optional integer field (JSON number, integral).
pub(crate) fn opt_i64(api: Api, body: &Value, key: &str) -> Result<Option<i64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| bad(api, key, "Member must be an integer")),
        Some(_) => Err(bad(api, key, "Member must be a number")),
    }
}

/// A required integer field.
pub(crate) fn req_i64(api: Api, body: &Value, key: &str) -> Result<i64> {
    opt_i64(api, body, key)?.ok_or_else(|| missing(api, key))
}

/// An optional double field.
pub(crate) fn opt_f64(api: Api, body: &Value, key: &str) -> Result<Option<f64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(bad(api, key, "Member must be a number")),
    }
}

/// An optional boolean field.
pub(crate) fn opt_bool(api: Api, body: &Value, key: &str) -> Result<Option<bool>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(api, key, "Member must be a boolean")),
    }
}

/// An optional list of strings.
pub(crate) fn opt_str_list(api: Api, body: &Value, key: &str) -> Result<Option<Vec<String>>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(api, key, "Member must be a list of strings"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(bad(api, key, "Member must be a list")),
    }
}

/// A timestamp field as CloudWatch JSON 1.0 sends it: epoch seconds (number,
/// possibly fractional) or an ISO 8601 string. Returns Unix milliseconds.
pub(crate) fn opt_timestamp_ms(api: Api, body: &Value, key: &str) -> Result<Option<i64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|s| Some((s * 1000.0).round() as i64))
            .ok_or_else(|| bad(api, key, "Member must be a timestamp")),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| bad(api, key, "Member must be a timestamp")),
        Some(_) => Err(bad(api, key, "Member must be a timestamp")),
    }
}

/// Checks a log group name: 1–512 of `[\.\-_/#A-Za-z0-9]`.
pub(crate) fn check_group_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b'#'));
    if ok {
        Ok(())
    } else {
        Err(MonitorError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ and have length between 1 and 512"
        )))
    }
}

/// Checks a stream or filter name: 1–512 characters, no `:` or `*`.
pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 512 || name.contains([':', '*']) {
        return Err(MonitorError::invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]* and have length between 1 and 512"
        )));
    }
    Ok(())
}

/// `arn:aws:logs:{region}:{account}:log-group:{name}` (no `:*`).
pub(crate) fn group_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{name}")
}

/// Parses `arn:aws:logs:{region}:{account}:log-group:{name}[:*]`.
pub(crate) fn parse_group_arn(arn: &str) -> Result<(String, String, String)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() < 7
        || parts[0] != "arn"
        || parts[2] != "logs"
        || parts[5] != "log-group"
        || parts[3].is_empty()
        || parts[4].is_empty()
    {
        return Err(MonitorError::invalid(format!(
            "'{arn}' is not a log group ARN (arn:aws:logs:region:account:log-group:name:*)"
        )));
    }
    let name = parts[6].strip_suffix(":*").unwrap_or(parts[6]);
    check_group_name(name)?;
    Ok((parts[3].to_string(), parts[4].to_string(), name.to_string()))
}

/// Encodes a pagination token (opaque to clients).
pub(crate) fn encode_token(kind: &str, pos: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}\u{1f}{pos}"))
}

/// One page of an offset-paginated query, run with `LIMIT limit + 1 OFFSET offset`: up to
/// `limit` rows mapped by `f`, and the `kind` token of the next page (at `offset + limit`)
/// when another row followed.
pub(crate) fn offset_page<T>(
    mut rows: rusqlite::Rows<'_>,
    kind: &str,
    offset: i64,
    limit: i64,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<(Vec<T>, Option<String>)> {
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        if items.len() as i64 == limit {
            let next = encode_token(kind, &(offset + limit).to_string());
            return Ok((items, Some(next)));
        }
        items.push(f(r)?);
    }
    Ok((items, None))
}

/// Decodes a token made by [`encode_token`] with the same `kind`.
pub(crate) fn decode_token(kind: &str, token: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (k, pos) = s.split_once('\u{1f}')?;
    (k == kind).then(|| pos.to_string())
}

/// ISO 8601 UTC with milliseconds (`2024-01-01T00:00:00.000Z`).
pub(crate) fn iso_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// CloudWatch alarm notification time: `2024-01-01T00:00:00.000+0000`.
pub(crate) fn iso_ms_offset(ms: i64) -> String {
    let s = iso_ms(ms);
    format!("{}+0000", s.trim_end_matches('Z'))
}

/// JSON 1.0 timestamp: epoch seconds as a number.
pub(crate) fn epoch_s(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

/// Canonical dimension map text (`{"a":"b",...}` sorted by name).
pub(crate) fn dims_key(d: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(d).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_pages_stop_at_the_limit_and_say_where_to_go_on() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(n INTEGER); INSERT INTO t VALUES (1), (2), (3), (4), (5);",
        )
        .unwrap();
        let page = |offset: i64, limit: i64| {
            let mut st = conn
                .prepare("SELECT n FROM t ORDER BY n LIMIT ?1 OFFSET ?2")
                .unwrap();
            let rows = st.query([limit + 1, offset]).unwrap();
            let (items, next) =
                offset_page(rows, "t", offset, limit, |r| Ok(r.get::<_, i64>(0)?)).unwrap();
            (items, next.map(|t| decode_token("t", &t).unwrap()))
        };
        assert_eq!(page(0, 2), (vec![1, 2], Some("2".to_owned())));
        assert_eq!(page(2, 2), (vec![3, 4], Some("4".to_owned())));
        assert_eq!(page(4, 2), (vec![5], None));
        assert_eq!(page(0, 5), (vec![1, 2, 3, 4, 5], None));
    }

    #[test]
    fn arn_round_trip() {
        let (r, a, n) =
            parse_group_arn("arn:aws:logs:us-east-1:123456789012:log-group:CloudTrail/Logs:*")
                .unwrap();
        assert_eq!(
            (r.as_str(), a.as_str(), n.as_str()),
            ("us-east-1", "123456789012", "CloudTrail/Logs")
        );
        assert_eq!(
            group_arn(&a, &r, &n),
            "arn:aws:logs:us-east-1:123456789012:log-group:CloudTrail/Logs"
        );
        assert!(parse_group_arn("arn:aws:s3:::bucket").is_err());
        assert!(parse_group_arn("arn:aws:logs:us-east-1:1:log-group:bad name:*").is_err());
    }

    #[test]
    fn tokens() {
        let t = encode_token("g", "abc");
        assert_eq!(decode_token("g", &t).as_deref(), Some("abc"));
        assert_eq!(decode_token("s", &t), None);
        assert_eq!(decode_token("g", "!!"), None);
    }

    #[test]
    fn times() {
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_ms_offset(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(epoch_s(1500), serde_json::json!(1.5));
        let b = serde_json::json!({"t": 1.5, "u": "2023-11-14T22:13:20Z"});
        assert_eq!(
            opt_timestamp_ms(Api::CloudWatch, &b, "t").unwrap(),
            Some(1500)
        );
        assert_eq!(
            opt_timestamp_ms(Api::CloudWatch, &b, "u").unwrap(),
            Some(1_700_000_000_000)
        );
    }

    #[test]
    fn names() {
        assert!(check_group_name("aws/cloudtrail#x.y-z_1").is_ok());
        assert!(check_group_name("").is_err());
        assert!(check_group_name(&"a".repeat(513)).is_err());
        assert!(check_name("logStreamName", "a:b").is_err());
        assert!(check_name("logStreamName", "123_CloudTrail_us-east-1").is_ok());
    }
}
