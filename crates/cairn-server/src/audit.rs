//! Self-audit: every authenticated call to Cairn's APIs becomes a CloudTrail management event.
//!
//! The record follows `spec/cloudtrail-formats.md` §4: `requestParameters` and
//! `responseElements` carry the request and response with camelCase member names (as AWS
//! records them), `responseElements` is `null` for read-only calls and failures, and failures
//! carry `errorCode` / `errorMessage`. Unauthenticated requests are not recorded (as in AWS):
//! recording them would let anyone on the network fill the journal.
//!
//! # Bounded records
//!
//! Every record Cairn writes about a call fits [`MAX_EVENT_BYTES`], whatever the caller sent
//! ([`fit_event`]), the way CloudTrail documents it (`spec/cloudtrail-formats.md` §4.4):
//! `userAgent`, `errorCode`, `errorMessage` and `requestID` are truncated at 1 KB;
//! `requestParameters` and `responseElements` are omitted (`null`) when over 100 KB and
//! `additionalEventData` when over 28 KB. An omission is marked in `additionalEventData`
//! (`"omitted": true` and the names under `"omittedFields"`), so a reader can tell "no
//! parameters" from "parameters too large to record".
//!
//! # The request-path invariant
//!
//! A state-changing request either leaves its record durable in the journal or changes
//! nothing. The HTTP front ([`crate::http`]) checks before executing that the journal can take
//! one more record ([`journal_room`]; the record itself always fits by construction) and
//! refuses the call with a 503 otherwise; after executing it appends the record and answers
//! only once it is durable ([`record_event`]).

use cairn_auth::Principal;
use cairn_event::{CloudTrailEvent, EVENT_VERSION, format_event_time};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest serialised record Cairn writes about one call (CloudTrail's per-event limit).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// `requestParameters` / `responseElements` larger than this (serialised) are omitted.
pub const MAX_PARAMETERS_BYTES: usize = 100 * 1024;
/// `additionalEventData` larger than this (serialised) is omitted.
pub const MAX_ADDITIONAL_DATA_BYTES: usize = 28 * 1024;
/// `userAgent`, `errorCode`, `errorMessage`, `requestID` (and, defensively, `eventName` and
/// `awsRegion`, which come from the request too) are truncated to this many bytes.
pub const MAX_STRING_FIELD_BYTES: usize = 1024;
/// Journal space a call's record may take, envelope included: what [`journal_room`] asks for.
pub const MAX_ENVELOPE_BYTES: usize = 2 * MAX_EVENT_BYTES;

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

fn truncate_in_place(s: &mut String, max: usize) {
    if s.len() > max {
        *s = truncate(s, max);
    }
}

/// The length of `v`'s compact JSON, counted without building it.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, v).map_or(usize::MAX, |()| c.0)
}

/// The record could not be brought under [`MAX_EVENT_BYTES`] (only possible if a field that is
/// never attacker-sized, like `userIdentity`, were huge).
#[derive(Debug, thiserror::Error)]
#[error("the audit record is {len} bytes even with every optional field omitted (limit {max})")]
pub struct RecordTooLarge {
    /// Size after omission.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

/// Bounds `event` the way CloudTrail does (see the module docs) and returns its JSON, which is
/// at most [`MAX_EVENT_BYTES`]. Deterministic: the same event always gets the same bounds, so
/// the HTTP front can size a record before it executes the call.
///
/// # Errors
/// [`RecordTooLarge`] if the fields that are never omitted alone exceed the limit.
pub fn fit_event(event: &mut CloudTrailEvent) -> Result<Vec<u8>, RecordTooLarge> {
    for s in [
        event.user_agent.as_mut(),
        event.error_code.as_mut(),
        event.error_message.as_mut(),
        event.request_id.as_mut(),
        Some(&mut event.event_name),
        Some(&mut event.aws_region),
    ]
    .into_iter()
    .flatten()
    {
        truncate_in_place(s, MAX_STRING_FIELD_BYTES);
    }
    // The common case, serialized once: each member's JSON is a part of the record's, so a
    // record within the smallest member limit has no member over its limit.
    let bytes = event.to_json_bytes();
    if bytes.len() <= MAX_ADDITIONAL_DATA_BYTES {
        return Ok(bytes);
    }
    let mut omitted = Vec::new();
    if json_len(&event.request_parameters) > MAX_PARAMETERS_BYTES {
        event.request_parameters = Value::Null;
        omitted.push("requestParameters");
    }
    if json_len(&event.response_elements) > MAX_PARAMETERS_BYTES {
        event.response_elements = Value::Null;
        omitted.push("responseElements");
    }
    if event
        .additional_event_data
        .as_ref()
        .is_some_and(|v| json_len(v) > MAX_ADDITIONAL_DATA_BYTES)
    {
        event.additional_event_data = None;
        omitted.push("additionalEventData");
    }
    mark_omitted(event, &omitted);
    let bytes = event.to_json_bytes();
    if bytes.len() <= MAX_EVENT_BYTES {
        return Ok(bytes);
    }
    // Still too large (several fields just under their own limits): keep the identity,
    // the call and its outcome, drop every optional object.
    let mut all = omitted;
    for (name, present) in [
        ("requestParameters", !event.request_parameters.is_null()),
        ("responseElements", !event.response_elements.is_null()),
        ("resources", event.resources.is_some()),
    ] {
        if present && !all.contains(&name) {
            all.push(name);
        }
    }
    event.request_parameters = Value::Null;
    event.response_elements = Value::Null;
    event.resources = None;
    event.additional_event_data = None;
    mark_omitted(event, &all);
    let bytes = event.to_json_bytes();
    if bytes.len() <= MAX_EVENT_BYTES {
        Ok(bytes)
    } else {
        Err(RecordTooLarge {
            len: bytes.len(),
            max: MAX_EVENT_BYTES,
        })
    }
}

fn mark_omitted(event: &mut CloudTrailEvent, omitted: &[&str]) {
    if omitted.is_empty() {
        return;
    }
    let mut data = match event.additional_event_data.take() {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    data.insert("omitted".into(), Value::Bool(true));
    data.insert(
        "omittedFields".into(),
        Value::Array(omitted.iter().map(|f| Value::from(*f)).collect()),
    );
    event.additional_event_data = Some(Value::Object(data));
}

/// Checks, before a state-changing call executes, that the journal can take its record: a
/// full journal is answered with `ThrottlingException` (503) and nothing changes.
///
/// Blocking (it may collect consumed segments): call from `spawn_blocking` or accept a short
/// stall.
///
/// # Errors
/// `ThrottlingException` (status 503) when the journal has no room for one more record.
pub fn journal_room(state: &AppState) -> Result<(), ApiError> {
    let room = |s: &cairn_journal::JournalStats| {
        s.total_bytes + s.pending_bytes + MAX_ENVELOPE_BYTES as u64 <= s.max_total_bytes
    };
    if room(&state.journal.stats()) {
        return Ok(());
    }
    // Consumed segments may be deletable; `append` would try the same.
    if let Err(e) = state.journal.gc() {
        return Err(ApiError::internal(format!("journal gc failed: {e}")));
    }
    if room(&state.journal.stats()) {
        Ok(())
    } else {
        Err(ApiError::with_status(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "ThrottlingException",
            "the event journal is full, so this call could not be recorded; nothing was changed. Retry later",
        ))
    }
}

/// Bounds `event` ([`fit_event`]), appends it to the journal and waits until it is durable.
/// The one way every service handler (S3 included) records a call.
///
/// # Errors
/// The journal's refusal (`ThrottlingException` when full, internal otherwise).
pub async fn record_event(state: &AppState, mut event: CloudTrailEvent) -> Result<(), ApiError> {
    let json = fit_event(&mut event).map_err(ApiError::internal)?;
    let payload = crate::pipeline::envelope::encode(
        &crate::pipeline::envelope::keys_for_event(&event),
        &json,
    );
    state.record(event.event_id, payload).await
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
    let mut event = management_event_for(call);
    if let Some(resource) = data_event_resource(call) {
        event.event_category = "Data".to_owned();
        event.management_event = Some(false);
        if let Some(owner) = &resource.account_id {
            event.recipient_account_id = Some(owner.clone());
        }
        event.resources = Some(vec![resource]);
    }
    event
}

/// The API calls CloudTrail records as data events (outside S3, which marks its own), with
/// the resource type they name and the request member that holds the resource: queue
/// message calls and topic publishes. Busy queues and topics would otherwise fill the
/// management-event trails every account has, and a collector polling a queue fed by a
/// trail's own deliveries would feed itself.
const DATA_EVENTS: &[(&str, &[&str], &str, &str)] = &[
    (
        "sqs.amazonaws.com",
        &[
            "SendMessage",
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
        ],
        "AWS::SQS::Queue",
        "QueueUrl",
    ),
    (
        "sns.amazonaws.com",
        &["Publish", "PublishBatch"],
        "AWS::SNS::Topic",
        "TopicArn",
    ),
];

/// The resource of a data event, or `None` for a management event.
fn data_event_resource(call: &CallRecord<'_>) -> Option<cairn_event::Resource> {
    let (_, _, resource_type, member) = DATA_EVENTS.iter().find(|(source, names, _, _)| {
        *source == call.event_source && names.contains(&call.event_name)
    })?;
    let named = call
        .request
        .get(*member)
        .and_then(Value::as_str)
        .unwrap_or("");
    // A queue URL is `<endpoint>/<account>/<name>`; a topic is named by its ARN.
    let (arn, account) = match *resource_type {
        "AWS::SQS::Queue" => {
            let mut parts = named.rsplit('/');
            let (name, account) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            (
                format!("arn:aws:sqs:{}:{account}:{name}", call.region),
                account.to_owned(),
            )
        }
        _ => (
            named.to_owned(),
            named.split(':').nth(4).unwrap_or("").to_owned(),
        ),
    };
    Some(cairn_event::Resource {
        arn,
        account_id: (account.len() == 12).then_some(account),
        resource_type: (*resource_type).to_owned(),
    })
}

fn management_event_for(call: &CallRecord<'_>) -> CloudTrailEvent {
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
    fn queue_message_calls_are_data_events_on_the_queue_and_the_rest_management() {
        let p = Principal::Root {
            account_id: "123456789012".into(),
        };
        let req = json!({"QueueUrl": "http://127.0.0.1:4566/210987654321/feed"});
        let record = |name| CallRecord {
            event_source: "sqs.amazonaws.com",
            event_name: name,
            region: "eu-west-1",
            principal: &p,
            access_key_id: "AKIAEXAMPLE",
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            request: &req,
            outcome: Ok(&Value::Null),
            read_only: false,
            request_id: "r",
            time: OffsetDateTime::UNIX_EPOCH,
        };
        for name in ["SendMessage", "ReceiveMessage", "DeleteMessageBatch"] {
            let e = event_for(&record(name));
            assert_eq!(e.event_category, "Data", "{name}");
            assert_eq!(e.management_event, Some(false));
            let r = &e.resources.as_ref().unwrap()[0];
            assert_eq!(r.arn, "arn:aws:sqs:eu-west-1:210987654321:feed");
            assert_eq!(r.resource_type, "AWS::SQS::Queue");
            assert_eq!(e.recipient_account_id.as_deref(), Some("210987654321"));
        }
        for name in ["CreateQueue", "SetQueueAttributes", "PurgeQueue"] {
            let e = event_for(&record(name));
            assert_eq!(e.event_category, "Management", "{name}");
            assert!(e.resources.is_none());
        }
    }

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

    fn padded_call_event(padding: usize) -> CloudTrailEvent {
        let p = Principal::Root {
            account_id: "123456789012".into(),
        };
        let req = json!({"Name": "audit", "Junk": "x".repeat(padding)});
        let resp = json!({"Echo": "y".repeat(padding)});
        let ua = "u".repeat(padding);
        let call = CallRecord {
            event_source: "cloudtrail.amazonaws.com",
            event_name: "StopLogging",
            region: "us-east-1",
            principal: &p,
            access_key_id: "AKIAEXAMPLE",
            source_ip: "127.0.0.1".into(),
            user_agent: Some(&ua),
            request: &req,
            outcome: Ok(&resp),
            read_only: false,
            request_id: "rid",
            time: OffsetDateTime::UNIX_EPOCH,
        };
        event_for(&call)
    }

    #[test]
    fn small_records_are_left_alone() {
        let mut e = padded_call_event(10);
        let before = e.clone();
        let bytes = fit_event(&mut e).unwrap();
        assert_eq!(e, before);
        assert_eq!(bytes, before.to_json_bytes());
    }

    #[test]
    fn oversized_parameters_are_omitted_and_marked() {
        let mut e = padded_call_event(9 * 1024 * 1024);
        let bytes = fit_event(&mut e).unwrap();
        assert!(bytes.len() <= MAX_EVENT_BYTES, "{}", bytes.len());
        assert_eq!(e.request_parameters, Value::Null);
        assert_eq!(e.response_elements, Value::Null);
        assert_eq!(
            e.user_agent.as_ref().map(String::len),
            Some(MAX_STRING_FIELD_BYTES)
        );
        let data = e.additional_event_data.as_ref().unwrap();
        assert_eq!(data["omitted"], true);
        assert_eq!(
            data["omittedFields"],
            json!(["requestParameters", "responseElements"])
        );
        // What was written is what the record says.
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).unwrap()["eventName"],
            "StopLogging"
        );
    }

    #[test]
    fn several_fields_just_under_their_limits_still_fit() {
        let mut e = padded_call_event(MAX_PARAMETERS_BYTES - 100);
        e.additional_event_data = Some(json!({"k": "z".repeat(MAX_ADDITIONAL_DATA_BYTES - 100)}));
        e.resources = Some(vec![
            cairn_event::Resource {
                arn: "a".repeat(40 * 1024),
                account_id: None,
                resource_type: "AWS::S3::Object".into(),
            };
            2
        ]);
        let bytes = fit_event(&mut e).unwrap();
        assert!(bytes.len() <= MAX_EVENT_BYTES);
        assert_eq!(e.resources, None);
        assert_eq!(e.additional_event_data.as_ref().unwrap()["omitted"], true);
    }

    #[test]
    fn multibyte_strings_are_cut_on_char_boundaries() {
        let mut e = padded_call_event(1);
        e.error_message = Some("é".repeat(MAX_STRING_FIELD_BYTES));
        fit_event(&mut e).unwrap();
        let m = e.error_message.unwrap();
        assert!(m.len() <= MAX_STRING_FIELD_BYTES && m.chars().all(|c| c == 'é'));
    }
}
