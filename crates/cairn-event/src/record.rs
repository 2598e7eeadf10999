use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `eventVersion` Cairn writes.
pub const EVENT_VERSION: &str = "1.11";

/// One CloudTrail record as Cairn produces it for its own API calls.
///
/// Field order is the order AWS writes (`cloudtrail-formats.md` §4.1); optional fields are
/// omitted when absent, while `requestParameters` and `responseElements` are always present
/// (JSON `null` when empty), as in AWS's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailEvent {
    /// Always [`EVENT_VERSION`] for events Cairn creates.
    pub event_version: String,
    /// Who made the call (`userIdentity`).
    pub user_identity: Value,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub event_time: String,
    /// Service host, e.g. `cloudtrail.amazonaws.com`.
    pub event_source: String,
    /// API action.
    pub event_name: String,
    /// Region the call was made in.
    pub aws_region: String,
    /// Caller address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// Caller's user agent, truncated to 1 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Error code on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Error message on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request, or `null`.
    pub request_parameters: Value,
    /// The response, or `null` (read-only calls, failures).
    pub response_elements: Value,
    /// Extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The request ID returned to the caller.
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Unique GUID of this record.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the call only reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Resources the call touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource>>,
    /// `AwsApiCall`, `AwsServiceEvent`, ...
    pub event_type: String,
    /// Only on some API calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Whether this is a management event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_event: Option<bool>,
    /// Account that received this copy of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    /// Same across copies delivered to several accounts.
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    pub shared_event_id: Option<String>,
    /// `Management`, `Data`, ...
    pub event_category: String,
    /// TLS details of the request, when it came over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<Value>,
}

/// An item of a record's `resources` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// Owning account.
    #[serde(rename = "accountId", skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `AWS::Service::Type`.
    #[serde(rename = "type")]
    pub resource_type: String,
}

impl CloudTrailEvent {
    /// Compact JSON bytes of the record, as they go into the journal and into log files.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings, bools and `Value`s cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_and_absent_fields() {
        let e = CloudTrailEvent {
            event_version: EVENT_VERSION.into(),
            user_identity: serde_json::json!({"type":"Root"}),
            event_time: "2025-03-04T05:12:44Z".into(),
            event_source: "cloudtrail.amazonaws.com".into(),
            event_name: "StopLogging".into(),
            aws_region: "us-east-2".into(),
            source_ip_address: "198.51.100.7".into(),
            user_agent: Some("aws-cli/2.15.0".into()),
            error_code: None,
            error_message: None,
            request_parameters: serde_json::json!({"name":"example-trail"}),
            response_elements: Value::Null,
            additional_event_data: None,
            request_id: Some("r".into()),
            event_id: "e".into(),
            read_only: Some(false),
            resources: None,
            event_type: "AwsApiCall".into(),
            api_version: None,
            management_event: Some(true),
            recipient_account_id: Some("111122223333".into()),
            shared_event_id: None,
            event_category: "Management".into(),
            tls_details: None,
        };
        let s = String::from_utf8(e.to_json_bytes()).unwrap();
        assert_eq!(
            s,
            r#"{"eventVersion":"1.11","userIdentity":{"type":"Root"},"eventTime":"2025-03-04T05:12:44Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-2","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"name":"example-trail"},"responseElements":null,"requestID":"r","eventID":"e","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#
        );
        let back: CloudTrailEvent = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
    }
}
