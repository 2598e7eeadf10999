//! `PutAuditEvents` (cloudtrail-data 2021-08-11): request checks and the mapping of one
//! audit event to a CloudTrail Lake activity record (`cloudtrail-api.md` §11).

use std::collections::HashSet;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::activity;
use super::error::{AuditRequestError, RecordError};
use super::json;
use super::policy::IngestPolicy;
use super::record::{RoutingKeys, ValidRecord, check_recipient, parse_object, parse_region};
use crate::{AccountId, Arn, EVENT_VERSION, format_event_time};

/// Most entries in one `PutAuditEvents` call.
pub const MAX_AUDIT_EVENTS: usize = 100;
/// Most bytes of entries in one `PutAuditEvents` call (1 MB).
pub const MAX_AUDIT_REQUEST_BYTES: usize = 1024 * 1024;

/// One item of `PutAuditEvents`' `auditEvents` (AWS shape `AuditEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventEntry {
    /// Caller-chosen id, echoed in the response; 1–128 of `[-_A-Za-z0-9]`.
    pub id: String,
    /// The event as a JSON string (activity audit log schema).
    #[serde(rename = "eventData")]
    pub event_data: String,
    /// Optional base64 SHA-256 of `eventData`.
    #[serde(
        rename = "eventDataChecksum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_data_checksum: Option<String>,
}

fn valid_entry_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Request-level checks of `PutAuditEvents`, done before any event is looked at: 1 to 100
/// entries, at most 1 MB of entries (sum of `id`, `eventData` and `eventDataChecksum`
/// lengths; the HTTP layer should cap the body as well), every `id` matching
/// `^[-_A-Za-z0-9]+$` with 1–128 characters, and no `id` twice.
///
/// ```
/// use cairn_event::{AuditEventEntry, validate_audit_request};
/// let e = |id: &str| AuditEventEntry { id: id.into(), event_data: "{}".into(), event_data_checksum: None };
/// assert!(validate_audit_request(&[e("a"), e("b")]).is_ok());
/// let err = validate_audit_request(&[e("a"), e("a")]).unwrap_err();
/// assert_eq!(err.code(), "DuplicatedAuditEventId");
/// ```
pub fn validate_audit_request(entries: &[AuditEventEntry]) -> Result<(), AuditRequestError> {
    if entries.is_empty() || entries.len() > MAX_AUDIT_EVENTS {
        return Err(AuditRequestError::EntryCount {
            count: entries.len(),
        });
    }
    let total: usize = entries
        .iter()
        .map(|e| {
            e.id.len() + e.event_data.len() + e.event_data_checksum.as_ref().map_or(0, String::len)
        })
        .sum();
    if total > MAX_AUDIT_REQUEST_BYTES {
        return Err(AuditRequestError::RequestTooLarge {
            limit: MAX_AUDIT_REQUEST_BYTES,
            actual: total,
        });
    }
    let mut seen = HashSet::with_capacity(entries.len());
    for e in entries {
        if !valid_entry_id(&e.id) {
            return Err(AuditRequestError::InvalidId { id: e.id.clone() });
        }
        if !seen.insert(e.id.as_str()) {
            return Err(AuditRequestError::DuplicatedAuditEventId { id: e.id.clone() });
        }
    }
    Ok(())
}

fn verify_checksum(data: &str, checksum: &str) -> Result<(), RecordError> {
    let given = base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .map_err(|_| RecordError::InvalidChecksum)?;
    if given.as_slice() == Sha256::digest(data.as_bytes()).as_slice() {
        Ok(())
    } else {
        Err(RecordError::InvalidChecksum)
    }
}

/// Validates one `PutAuditEvents` entry and builds the CloudTrail record for it.
///
/// The entry's `eventData` must follow the activity audit log schema (required `version`
/// ≤ 256, `userIdentity{type ≤ 128, principalId ≤ 1024, details?}`, `eventSource` ≤ 1024,
/// `eventName` ≤ 1024, `eventTime`, `UID` ≤ 1024, `recipientAccountId`; optional
/// `userAgent` ≤ 1024, `requestParameters`/`responseElements` ≤ 100 KB, `errorCode`/
/// `errorMessage` ≤ 256, `sourceIPAddress` (an IP address), `additionalEventData`
/// ≤ 28 KB; no other members). `recipientAccountId` must be `channel_owner`
/// (`InvalidRecipient`); `eventDataChecksum`, when given, must be the base64 SHA-256 of
/// `eventData` (`InvalidChecksum`); `eventSource` may not be an AWS service host
/// (`InvalidEventSource`, a Cairn rule).
///
/// The record is laid out as CloudTrail Lake stores integration events:
/// `{"eventVersion","eventCategory":"ActivityAuditLog","eventType":"ActivityLog",
/// "eventID","eventTime","awsRegion","recipientAccountId","metadata":{"ingestionTime",
/// "channelARN"},"eventData":{…}}` — `eventID` a new v4 UUID, `eventTime` the event's time
/// in CloudTrail format, `awsRegion` the channel ARN's region, `ingestionTime` = `now`,
/// and `eventData` the caller's object (compact, member order kept).
pub fn validate_audit_event(
    entry: &AuditEventEntry,
    channel_owner: &AccountId,
    channel_arn: &str,
    policy: &IngestPolicy,
    now: OffsetDateTime,
) -> Result<ValidRecord, RecordError> {
    let arn: Arn = channel_arn
        .parse()
        .map_err(|_| RecordError::InvalidChannelArn {
            arn: channel_arn.to_owned(),
        })?;
    if arn.region().is_empty() {
        return Err(RecordError::InvalidChannelArn {
            arn: channel_arn.to_owned(),
        });
    }
    let aws_region = parse_region(arn.region(), policy)?;
    if let Some(sum) = &entry.event_data_checksum {
        verify_checksum(&entry.event_data, sum)?;
    }
    let max = policy.max_event_bytes();
    let data = entry.event_data.as_bytes();
    let obj = parse_object(data, max, || {
        RecordError::invalid_type("eventData", "a JSON object")
    })?;
    let a = activity::check_event_data(&obj, "eventData.", policy.field_limits())?;
    if &a.recipient_id != channel_owner {
        return Err(RecordError::InvalidRecipient {
            account: a.recipient.into_owned(),
            reason: "is not the account that owns the channel",
        });
    }
    check_recipient(&a.recipient_id, policy)?;

    let event_id = uuid::Uuid::new_v4().to_string();
    let event_time_text = format_event_time(a.event_time);
    let mut out = Vec::with_capacity(data.len() + 384);
    out.extend_from_slice(b"{\"eventVersion\":");
    json::write_str(&mut out, EVENT_VERSION);
    out.extend_from_slice(
        b",\"eventCategory\":\"ActivityAuditLog\",\"eventType\":\"ActivityLog\",\"eventID\":",
    );
    json::write_str(&mut out, &event_id);
    out.extend_from_slice(b",\"eventTime\":");
    json::write_str(&mut out, &event_time_text);
    out.extend_from_slice(b",\"awsRegion\":");
    json::write_str(&mut out, aws_region.as_str());
    out.extend_from_slice(b",\"recipientAccountId\":");
    json::write_str(&mut out, a.recipient_id.as_str());
    out.extend_from_slice(b",\"metadata\":{\"ingestionTime\":");
    json::write_str(&mut out, &format_event_time(now));
    out.extend_from_slice(b",\"channelARN\":");
    json::write_str(&mut out, channel_arn);
    out.extend_from_slice(b"},\"eventData\":");
    json::minify_into(data, &mut out);
    out.push(b'}');
    if out.len() > max {
        return Err(RecordError::EventTooLarge {
            limit: max,
            actual: out.len(),
        });
    }

    let keys = RoutingKeys {
        event_id,
        event_time: a.event_time,
        event_version: EVENT_VERSION.to_owned(),
        event_source: a.event_source.into_owned(),
        event_name: a.event_name.into_owned(),
        event_type: "ActivityLog".to_owned(),
        aws_region,
        recipient_account_id: a.recipient_id,
        event_category: "ActivityAuditLog".to_owned(),
        read_only: None,
        management_event: false,
        is_global_service_event: false,
        resources: Vec::new(),
        user_identity_type: Some(a.user_type.into_owned()),
        user_identity_arn: None,
        error_code: a.error_code.map(|c| c.into_owned()),
        vpc_endpoint_id: None,
        session_credential_from_console: false,
        shared_event_id: None,
    };
    Ok(ValidRecord::new(out, keys, true, false, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum() {
        let data = r#"{"a":1}"#;
        let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data));
        assert!(verify_checksum(data, &sum).is_ok());
        assert!(verify_checksum(data, "AAAA").is_err());
        assert!(verify_checksum(data, "not base64!").is_err());
    }

    #[test]
    fn entry_ids() {
        assert!(valid_entry_id("a-b_C9"));
        assert!(!valid_entry_id(""));
        assert!(!valid_entry_id("a.b"));
        assert!(valid_entry_id(&"x".repeat(128)));
        assert!(!valid_entry_id(&"x".repeat(129)));
    }
}
