//! Self-audit: every authenticated call to Cairn's APIs becomes a CloudTrail management event.
//!
//! The record follows `spec/cloudtrail-formats.md` §4: `requestParameters` and
//! `responseElements` carry the request and response with camelCase member names (as AWS
//! records them), `responseElements` is `null` for read-only calls and failures, and failures
//! carry `errorCode` / `errorMessage`. Unauthenticated requests are not recorded (as in AWS):
//! recording them would let anyone on the network fill the journal.

use cairn_auth::Principal;
use cairn_event::{CloudTrailEvent, EVENT_VERSION, format_event_time};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Everything known about one call once it has been answered.
#[derive(Debug)]
pub struct CallRecord<'a> {
    /// e.g. `cloudtrail.amazonaws.com`.
    pub event_source: &'a str,
    /// Operation name.
    pub event_name: &'a str,
    /// Region of the request.
    pub region: &'a str,
    /// Who called.
    pub principal: &'a Principal,
    /// The access key used.
    pub access_key_id: &'a str,
    /// Caller address.
    pub source_ip: String,
    /// `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// Request body (PascalCase members are camelCased).
    pub request: &'a Value,
    /// Response on success, error (code, message) on failure.
    pub outcome: Result<&'a Value, (&'a str, &'a str)>,
    /// Whether the operation only reads.
    pub read_only: bool,
    /// Request ID returned to the caller.
    pub request_id: &'a str,
    /// When the call completed.
    pub time: OffsetDateTime,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Lower-cases the first letter of every object key (`TrailARN` → `trailARN`).
pub fn camel_case_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = match c.next() {
                        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                        None => String::new(),
                    };
                    (key, camel_case_keys(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel_case_keys).collect()),
        other => other.clone(),
    }
}

fn null_if_empty(v: Value) -> Value {
    match &v {
        Value::Object(m) if m.is_empty() => Value::Null,
        _ => v,
    }
}

/// Builds the CloudTrail record for a call.
pub fn event_for(call: &CallRecord<'_>) -> CloudTrailEvent {
    let account = call.principal.account_id().unwrap_or_default().to_owned();
    let (error_code, error_message, response) = match call.outcome {
        Ok(resp) if !call.read_only => (None, None, null_if_empty(camel_case_keys(resp))),
        Ok(_) => (None, None, Value::Null),
        Err((code, msg)) => (
            Some(truncate(code, 1024)),
            Some(truncate(msg, 1024)),
            Value::Null,
        ),
    };
    CloudTrailEvent {
        event_version: EVENT_VERSION.to_owned(),
        user_identity: call.principal.user_identity_json(Some(call.access_key_id)),
        event_time: format_event_time(call.time),
        event_source: call.event_source.to_owned(),
        event_name: call.event_name.to_owned(),
        aws_region: call.region.to_owned(),
        source_ip_address: call.source_ip.clone(),
        user_agent: call.user_agent.map(|u| truncate(u, 1024)),
        error_code,
        error_message,
        request_parameters: null_if_empty(camel_case_keys(call.request)),
        response_elements: response,
        additional_event_data: None,
        request_id: Some(call.request_id.to_owned()),
        event_id: uuid::Uuid::new_v4().to_string(),
        read_only: Some(call.read_only),
        resources: None,
        event_type: "AwsApiCall".to_owned(),
        api_version: None,
        management_event: Some(true),
        recipient_account_id: Some(account),
        shared_event_id: None,
        event_category: "Management".to_owned(),
        tls_details: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_and_success_records() {
        let p = Principal::Root {
            account_id: "123456789012".into(),
        };
        let req = json!({"Name": "t1", "S3BucketName": "b", "TagsList": [{"Key": "k"}]});
        let resp =
            json!({"Name": "t1", "TrailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t1"});
        let mut call = CallRecord {
            event_source: "cloudtrail.amazonaws.com",
            event_name: "CreateTrail",
            region: "us-east-1",
            principal: &p,
            access_key_id: "AKIAEXAMPLE",
            source_ip: "127.0.0.1".into(),
            user_agent: Some("aws-cli/1"),
            request: &req,
            outcome: Ok(&resp),
            read_only: false,
            request_id: "rid",
            time: OffsetDateTime::UNIX_EPOCH,
        };
        let e = event_for(&call);
        assert_eq!(e.request_parameters["s3BucketName"], "b");
        assert_eq!(e.request_parameters["tagsList"][0]["key"], "k");
        assert_eq!(e.response_elements["trailARN"], resp["TrailARN"]);
        assert_eq!(e.user_identity["type"], "Root");
        assert_eq!(e.recipient_account_id.as_deref(), Some("123456789012"));
        assert_eq!(e.event_time, "1970-01-01T00:00:00Z");
        call.outcome = Err(("TrailAlreadyExistsException", "exists"));
        let e = event_for(&call);
        assert_eq!(e.error_code.as_deref(), Some("TrailAlreadyExistsException"));
        assert_eq!(e.response_elements, Value::Null);
        call.outcome = Ok(&resp);
        call.read_only = true;
        assert_eq!(event_for(&call).response_elements, Value::Null);
    }
}
