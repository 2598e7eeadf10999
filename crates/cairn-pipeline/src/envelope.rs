//! The journal record: routing keys in front of the record's JSON.
//!
//! Routing an event to trails needs a dozen of its fields; parsing 1–2 KB of JSON per event
//! per consumer would cap the pipeline far below its target, so ingest extracts them once and
//! stores them in front of the record.
//!
//! # Wire format (version 1)
//!
//! ```text
//! u8      version = 1
//! u8      flags: bit0 readOnly present, bit1 readOnly value, bit2 global service event
//! i64 LE  eventTime, unix seconds
//! 11 ×    string: u32 LE length (u32::MAX = absent) + UTF-8 bytes, in this order:
//!         eventID, eventCategory, eventSource, eventName, eventType, awsRegion,
//!         recipientAccountId, userIdentity.arn, sessionCredentialFromConsole, errorCode,
//!         vpcEndpointId
//! u16 LE  resource count, then per resource: string type, string ARN
//! ...     the record: compact JSON, exactly as it goes into log files
//! ```
//!
//! Decoding MUST reject unknown versions and truncated input; it never allocates except for
//! the resource list of events that have resources.

use cairn_select::{EventView, ResourceRef};

/// Owned routing keys, as ingest builds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteKeys {
    /// `eventID`.
    pub event_id: String,
    /// `eventTime`, unix seconds.
    pub event_time: i64,
    /// `eventCategory` (derived for old records).
    pub event_category: String,
    /// `eventSource`.
    pub event_source: String,
    /// `eventName`.
    pub event_name: String,
    /// `eventType`.
    pub event_type: Option<String>,
    /// `awsRegion`.
    pub aws_region: String,
    /// `recipientAccountId`.
    pub recipient_account_id: String,
    /// `userIdentity.arn`.
    pub user_identity_arn: Option<String>,
    /// `sessionCredentialFromConsole`.
    pub session_credential_from_console: Option<String>,
    /// `errorCode`.
    pub error_code: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<String>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// Whether the event comes from a global service (delivered only to trails that include
    /// global service events).
    pub global_service: bool,
    /// `resources[]` as (type, ARN).
    pub resources: Vec<(Option<String>, Option<String>)>,
}

/// Why an envelope could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal record is malformed: {0}")]
pub struct EnvelopeError(&'static str);

const VERSION: u8 = 1;
const ABSENT: u32 = u32::MAX;

fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Encodes keys and record into one journal payload.
pub fn encode(keys: &RouteKeys, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 256);
    out.push(VERSION);
    let mut flags = 0u8;
    if let Some(ro) = keys.read_only {
        flags |= 1;
        if ro {
            flags |= 2;
        }
    }
    if keys.global_service {
        flags |= 4;
    }
    out.push(flags);
    out.extend_from_slice(&keys.event_time.to_le_bytes());
    for s in [
        Some(keys.event_id.as_str()),
        Some(keys.event_category.as_str()),
        Some(keys.event_source.as_str()),
        Some(keys.event_name.as_str()),
        keys.event_type.as_deref(),
        Some(keys.aws_region.as_str()),
        Some(keys.recipient_account_id.as_str()),
        keys.user_identity_arn.as_deref(),
        keys.session_credential_from_console.as_deref(),
        keys.error_code.as_deref(),
        keys.vpc_endpoint_id.as_deref(),
    ] {
        put_str(&mut out, s);
    }
    let n = keys.resources.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for (t, a) in keys.resources.iter().take(n) {
        put_str(&mut out, t.as_deref());
        put_str(&mut out, a.as_deref());
    }
    out.extend_from_slice(record);
    out
}

/// A decoded journal payload, borrowing from it.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// `eventTime`, unix seconds.
    pub event_time: i64,
    /// `eventID`.
    pub event_id: &'a str,
    /// `eventCategory`.
    pub event_category: &'a str,
    /// `eventSource`.
    pub event_source: &'a str,
    /// `eventName`.
    pub event_name: &'a str,
    /// `eventType`.
    pub event_type: Option<&'a str>,
    /// `awsRegion`.
    pub aws_region: &'a str,
    /// `recipientAccountId`.
    pub recipient_account_id: &'a str,
    /// `userIdentity.arn`.
    pub user_identity_arn: Option<&'a str>,
    /// `sessionCredentialFromConsole`.
    pub session_credential_from_console: Option<&'a str>,
    /// `errorCode`.
    pub error_code: Option<&'a str>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<&'a str>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// Global service event.
    pub global_service: bool,
    /// Resources (type, ARN).
    pub resources: Vec<ResourceRef<'a>>,
    /// The record's JSON.
    pub record: &'a [u8],
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.b.len() < n {
            return Err(EnvelopeError("truncated"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> Result<u32, EnvelopeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn opt_str(&mut self) -> Result<Option<&'a str>, EnvelopeError> {
        let n = self.u32()?;
        if n == ABSENT {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| EnvelopeError("string is not UTF-8"))
    }
    fn str(&mut self) -> Result<&'a str, EnvelopeError> {
        self.opt_str()?
            .ok_or(EnvelopeError("required string absent"))
    }
}

/// Decodes a journal payload.
pub fn decode(payload: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let mut c = Cursor { b: payload };
    let head = c.take(2)?;
    if head[0] != VERSION {
        return Err(EnvelopeError("unknown version"));
    }
    let flags = head[1];
    let t = c.take(8)?;
    let event_time = i64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
    let event_id = c.str()?;
    let event_category = c.str()?;
    let event_source = c.str()?;
    let event_name = c.str()?;
    let event_type = c.opt_str()?;
    let aws_region = c.str()?;
    let recipient_account_id = c.str()?;
    let user_identity_arn = c.opt_str()?;
    let session_credential_from_console = c.opt_str()?;
    let error_code = c.opt_str()?;
    let vpc_endpoint_id = c.opt_str()?;
    let n = c.take(2)?;
    let n = u16::from_le_bytes([n[0], n[1]]);
    let mut resources = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let resource_type = c.opt_str()?;
        let arn = c.opt_str()?;
        resources.push(ResourceRef { resource_type, arn });
    }
    Ok(Envelope {
        event_time,
        event_id,
        event_category,
        event_source,
        event_name,
        event_type,
        aws_region,
        recipient_account_id,
        user_identity_arn,
        session_credential_from_console,
        error_code,
        vpc_endpoint_id,
        read_only: (flags & 1 != 0).then_some(flags & 2 != 0),
        global_service: flags & 4 != 0,
        resources,
        record: c.b,
    })
}

impl<'a> Envelope<'a> {
    /// The selector view of this event.
    pub fn view(&'a self) -> EventView<'a> {
        let mut v = EventView::new(self.event_category);
        v.event_source = Some(self.event_source);
        v.event_name = Some(self.event_name);
        v.event_type = self.event_type;
        v.read_only = self.read_only;
        v.user_identity_arn = self.user_identity_arn;
        v.session_credential_from_console = self.session_credential_from_console;
        v.error_code = self.error_code;
        v.vpc_endpoint_id = self.vpc_endpoint_id;
        v.with_resources(&self.resources)
    }
}

/// Routing keys of a record Cairn built itself (its own API calls).
pub fn keys_for_event(e: &cairn_event::CloudTrailEvent) -> RouteKeys {
    RouteKeys {
        event_id: e.event_id.clone(),
        event_time: cairn_event::parse_event_time(&e.event_time)
            .map(|t| t.unix_timestamp())
            .unwrap_or_default(),
        event_category: e.event_category.clone(),
        event_source: e.event_source.clone(),
        event_name: e.event_name.clone(),
        event_type: Some(e.event_type.clone()),
        aws_region: e.aws_region.clone(),
        recipient_account_id: e.recipient_account_id.clone().unwrap_or_default(),
        user_identity_arn: e.user_identity["arn"].as_str().map(str::to_owned),
        session_credential_from_console: None,
        error_code: e.error_code.clone(),
        vpc_endpoint_id: None,
        read_only: e.read_only,
        global_service: is_global_service_event(&e.event_source, &e.aws_region),
        resources: e
            .resources
            .iter()
            .flatten()
            .map(|r| (Some(r.resource_type.clone()), Some(r.arn.clone())))
            .collect(),
    }
}

/// Event sources whose events CloudTrail records as global service events (in `us-east-1`).
pub const GLOBAL_SERVICES: &[&str] = &[
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
    "organizations.amazonaws.com",
    "signin.amazonaws.com",
    "waf.amazonaws.com",
    "shield.amazonaws.com",
    "globalaccelerator.amazonaws.com",
];

/// Whether an event is a global service event: from a global service and recorded in
/// `us-east-1` (regional STS endpoints record in their own region and are not global).
pub fn is_global_service_event(event_source: &str, aws_region: &str) -> bool {
    aws_region == "us-east-1" && GLOBAL_SERVICES.contains(&event_source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let keys = RouteKeys {
            event_id: "e1".into(),
            event_time: 1_700_000_000,
            event_category: "Data".into(),
            event_source: "s3.amazonaws.com".into(),
            event_name: "DeleteObject".into(),
            event_type: Some("AwsApiCall".into()),
            aws_region: "us-east-1".into(),
            recipient_account_id: "123456789012".into(),
            user_identity_arn: None,
            session_credential_from_console: Some("true".into()),
            error_code: None,
            vpc_endpoint_id: None,
            read_only: Some(false),
            global_service: false,
            resources: vec![
                (
                    Some("AWS::S3::Object".into()),
                    Some("arn:aws:s3:::b/k".into()),
                ),
                (None, Some("arn:aws:s3:::b".into())),
            ],
        };
        let payload = encode(&keys, b"{\"a\":1}");
        let e = decode(&payload).unwrap();
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.event_time, 1_700_000_000);
        assert_eq!(e.event_name, "DeleteObject");
        assert_eq!(e.read_only, Some(false));
        assert_eq!(e.session_credential_from_console, Some("true"));
        assert_eq!(e.resources.len(), 2);
        assert_eq!(e.resources[1].resource_type, None);
        assert_eq!(e.record, b"{\"a\":1}");
        for cut in 0..payload.len() - 7 {
            assert!(decode(&payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = payload.clone();
        bad[0] = 9;
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn global_events() {
        assert!(is_global_service_event("iam.amazonaws.com", "us-east-1"));
        assert!(!is_global_service_event("sts.amazonaws.com", "eu-west-1"));
        assert!(!is_global_service_event("ec2.amazonaws.com", "us-east-1"));
    }
}
