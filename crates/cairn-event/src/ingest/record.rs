//! `validate_record`: one CloudTrail record in, compact JSON plus routing keys out.

use std::borrow::Cow;

use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::error::RecordError;
use super::json::{self, Kind, Obj};
use super::policy::{FieldLimits, IngestPolicy};
use super::{activity, timeutil};
use crate::{AccountId, Arn, Region};

/// One item of a record's `resources` array, as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKey {
    /// `type`, e.g. `AWS::S3::Object` (absent in some AWS records).
    pub resource_type: Option<String>,
    /// `ARN`, or `ARNPrefix` when [`arn_is_prefix`](Self::arn_is_prefix).
    pub arn: String,
    /// The item carried `ARNPrefix` (S3 `ListObjects` data events) instead of `ARN`.
    pub arn_is_prefix: bool,
    /// `accountId`, when present.
    pub account_id: Option<String>,
}

/// The fields the pipeline routes on, extracted once so that nothing re-parses the record.
///
/// Derived values (documented on each field) are not written into the record's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoutingKeys {
    /// `eventID`, possibly assigned ([`ValidRecord::event_id_assigned`]).
    pub event_id: String,
    /// `eventTime`, whole seconds, UTC.
    pub event_time: OffsetDateTime,
    /// `eventVersion`.
    pub event_version: String,
    /// `eventSource`; for Insights events `insightDetails.eventSource`; for activity
    /// audit events `eventData.eventSource`.
    pub event_source: String,
    /// `eventName`, taken from the same place as `event_source`.
    pub event_name: String,
    /// `eventType`. Records older than `eventVersion` 1.02 have none: derived as
    /// `AwsConsoleSignIn` for `signin.amazonaws.com` and `AwsApiCall` otherwise.
    pub event_type: String,
    /// `awsRegion`, one of the policy's regions.
    pub aws_region: Region,
    /// `recipientAccountId`, or the policy's default account when absent
    /// ([`ValidRecord::recipient_defaulted`]).
    pub recipient_account_id: AccountId,
    /// `eventCategory`. Absent before `eventVersion` 1.07; then derived: `Insight` for
    /// `AwsCloudTrailInsight` events; `Data` when `managementEvent` is `false` or the event
    /// is a known data event (S3 object-level APIs on `s3.amazonaws.com`, Lambda `Invoke`);
    /// `Management` otherwise.
    pub event_category: String,
    /// `readOnly`, when present.
    pub read_only: Option<bool>,
    /// `managementEvent`; when absent, whether `event_category` is `Management`.
    pub management_event: bool,
    /// Whether this is a global service event (see [`is_global_service_event`]).
    pub is_global_service_event: bool,
    /// The `resources` items.
    pub resources: Vec<ResourceKey>,
    /// `userIdentity.type` (activity audit events: `eventData.userIdentity.type`).
    pub user_identity_type: Option<String>,
    /// `userIdentity.arn`.
    pub user_identity_arn: Option<String>,
    /// `errorCode` (activity audit events: `eventData.errorCode`).
    pub error_code: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<String>,
    /// `sessionCredentialFromConsole` is `"true"` (AWS's string, or a JSON boolean).
    pub session_credential_from_console: bool,
    /// `sharedEventID`.
    pub shared_event_id: Option<String>,
}

/// A record that passed validation: its compact JSON and its routing keys.
///
/// The JSON keeps the input's member order and values byte for byte (escapes included),
/// without insignificant whitespace. It differs from the input only where Cairn assigned
/// `eventID` (appended as the last member) or normalised `eventTime` to
/// `YYYY-MM-DDTHH:MM:SSZ` (in place). It is at most the policy's event limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    json: Vec<u8>,
    keys: RoutingKeys,
    event_id_assigned: bool,
    event_time_normalised: bool,
    recipient_defaulted: bool,
}

impl ValidRecord {
    pub(crate) fn new(
        json: Vec<u8>,
        keys: RoutingKeys,
        event_id_assigned: bool,
        event_time_normalised: bool,
        recipient_defaulted: bool,
    ) -> Self {
        Self {
            json,
            keys,
            event_id_assigned,
            event_time_normalised,
            recipient_defaulted,
        }
    }

    /// The record as compact JSON.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// The routing keys.
    pub fn keys(&self) -> &RoutingKeys {
        &self.keys
    }

    /// Splits into JSON and keys.
    pub fn into_parts(self) -> (Vec<u8>, RoutingKeys) {
        (self.json, self.keys)
    }

    /// Whether Cairn assigned `eventID` (a v4 UUID) because the input had none.
    pub fn event_id_assigned(&self) -> bool {
        self.event_id_assigned
    }

    /// Whether `eventTime` was rewritten to CloudTrail's format.
    pub fn event_time_normalised(&self) -> bool {
        self.event_time_normalised
    }

    /// Whether the recipient account came from the policy's default (the JSON has no
    /// `recipientAccountId`).
    pub fn recipient_defaulted(&self) -> bool {
        self.recipient_defaulted
    }
}

/// CloudTrail's global-service rule, decided from a record's `eventSource` and `awsRegion`
/// (and, for STS, the TLS host header).
///
/// Global services record their events in `us-east-1` (`cloudtrail-formats.md` §3; since
/// 2021-11-22 for all of them). An event is global when `awsRegion` is `us-east-1` and
/// `eventSource` is `iam`, `cloudfront`, `route53`, `organizations` or `signin`
/// `.amazonaws.com`, or `sts.amazonaws.com` called through the global endpoint. STS calls
/// to a regional endpoint are regional: when `tlsDetails.clientProvidedHostHeader` is
/// present it decides (`sts.amazonaws.com` is global); without it, an STS event in
/// `us-east-1` is taken as global.
///
/// ```
/// use cairn_event::is_global_service_event;
/// assert!(is_global_service_event("iam.amazonaws.com", "us-east-1", None));
/// assert!(!is_global_service_event("iam.amazonaws.com", "eu-west-1", None));
/// assert!(!is_global_service_event("sts.amazonaws.com", "us-east-1", Some("sts.us-east-1.amazonaws.com")));
/// ```
pub fn is_global_service_event(
    event_source: &str,
    aws_region: &str,
    tls_host_header: Option<&str>,
) -> bool {
    if aws_region != "us-east-1" {
        return false;
    }
    match event_source {
        "iam.amazonaws.com"
        | "cloudfront.amazonaws.com"
        | "route53.amazonaws.com"
        | "organizations.amazonaws.com"
        | "signin.amazonaws.com" => true,
        "sts.amazonaws.com" => tls_host_header.is_none_or(|h| h == "sts.amazonaws.com"),
        _ => false,
    }
}

/// S3 object-level operations CloudTrail logs as data events.
const S3_DATA_EVENTS: &[&str] = &[
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CopyObject",
    "CreateMultipartUpload",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjects",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "HeadObject",
    "ListMultipartUploadParts",
    "ListObjectVersions",
    "ListObjects",
    "ListObjectsV2",
    "ListParts",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "RestoreObject",
    "SelectObjectContent",
    "UploadPart",
    "UploadPartCopy",
];

fn derive_category(
    event_type: &str,
    management_event: Option<bool>,
    source: &str,
    name: &str,
) -> &'static str {
    if event_type == "AwsCloudTrailInsight" {
        "Insight"
    } else if management_event == Some(false)
        || (source == "s3.amazonaws.com" && S3_DATA_EVENTS.contains(&name))
        || (source == "lambda.amazonaws.com" && name.starts_with("Invoke"))
    {
        "Data"
    } else {
        "Management"
    }
}

// ---------------------------------------------------------------------------------------
// top-level field table

macro_rules! fields {
    ($($v:ident = $n:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(clippy::enum_variant_names)]
        enum F { $($v),* }
        const NAMES: &[&str] = &[$($n),*];
        fn lookup(name: &str) -> Option<F> {
            match name { $($n => Some(F::$v),)* _ => None }
        }
    };
}

fields! {
    EventVersion = "eventVersion",
    UserIdentity = "userIdentity",
    EventTime = "eventTime",
    EventSource = "eventSource",
    EventName = "eventName",
    AwsRegion = "awsRegion",
    SourceIp = "sourceIPAddress",
    UserAgent = "userAgent",
    ErrorCode = "errorCode",
    ErrorMessage = "errorMessage",
    RequestParameters = "requestParameters",
    ResponseElements = "responseElements",
    AdditionalEventData = "additionalEventData",
    RequestId = "requestID",
    EventId = "eventID",
    ReadOnly = "readOnly",
    Resources = "resources",
    EventType = "eventType",
    ApiVersion = "apiVersion",
    ManagementEvent = "managementEvent",
    RecipientAccountId = "recipientAccountId",
    SharedEventId = "sharedEventID",
    VpcEndpointId = "vpcEndpointId",
    VpcEndpointAccountId = "vpcEndpointAccountId",
    ServiceEventDetails = "serviceEventDetails",
    EventCategory = "eventCategory",
    Addendum = "addendum",
    SessionCredentialFromConsole = "sessionCredentialFromConsole",
    EdgeDeviceDetails = "edgeDeviceDetails",
    TlsDetails = "tlsDetails",
    InsightDetails = "insightDetails",
    EventContext = "eventContext",
    Metadata = "metadata",
    EventData = "eventData",
}

const N: usize = NAMES.len();

struct Slots<'a> {
    raw: [Option<&'a RawValue>; N],
    span: [(usize, usize); N],
}

impl<'a> Slots<'a> {
    fn get(&self, f: F) -> Option<&'a RawValue> {
        self.raw[f as usize]
    }
    fn name(f: F) -> &'static str {
        NAMES[f as usize]
    }
    fn out_len(&self, f: F) -> usize {
        let (a, b) = self.span[f as usize];
        b - a
    }

    fn str_opt(&self, f: F) -> Result<Option<Cow<'a, str>>, RecordError> {
        match self.get(f) {
            None => Ok(None),
            Some(raw) => json::string(raw)
                .map(Some)
                .ok_or_else(|| RecordError::invalid_type(Self::name(f), "a string")),
        }
    }

    fn str_req(&self, f: F) -> Result<Cow<'a, str>, RecordError> {
        self.str_opt(f)?
            .ok_or_else(|| RecordError::missing(Self::name(f)))
    }

    fn bool_opt(&self, f: F) -> Result<Option<bool>, RecordError> {
        match self.get(f) {
            None => Ok(None),
            Some(raw) => json::boolean(raw)
                .map(Some)
                .ok_or_else(|| RecordError::invalid_type(Self::name(f), "a boolean")),
        }
    }

    /// `sessionCredentialFromConsole`: AWS writes the string `"true"`; a JSON boolean (what a
    /// SIEM or YAML round-trip makes of it) means the same and is accepted. The record itself
    /// is kept verbatim either way. Anything else is refused.
    fn console_flag(&self) -> Result<bool, RecordError> {
        let f = F::SessionCredentialFromConsole;
        match self.get(f).and_then(json::boolean) {
            Some(b) => Ok(b),
            None => match self.get(f) {
                None => Ok(false),
                Some(raw) => json::string(raw).map(|s| s == "true").ok_or_else(|| {
                    RecordError::invalid_type(Self::name(f), "a string or a boolean")
                }),
            },
        }
    }

    /// A required object field, parsed into its members.
    fn object_req(&self, f: F) -> Result<Obj<'a>, RecordError> {
        let raw = self
            .get(f)
            .ok_or_else(|| RecordError::missing(Self::name(f)))?;
        object_of(raw, Self::name(f))
    }

    /// Type-checks an object field (`null` allowed when `nullable`) and its compact size.
    fn object_opt(&self, f: F, nullable: bool, limit: Option<usize>) -> Result<(), RecordError> {
        let Some(raw) = self.get(f) else {
            return Ok(());
        };
        match json::kind(raw) {
            Kind::Object => {}
            Kind::Null if nullable => return Ok(()),
            _ => {
                let expected = if nullable {
                    "an object or null"
                } else {
                    "an object"
                };
                return Err(RecordError::invalid_type(Self::name(f), expected));
            }
        }
        if let Some(limit) = limit {
            let actual = self.out_len(f);
            if actual > limit {
                return Err(RecordError::too_long(Self::name(f), limit, actual));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// small value checks shared with the activity path

pub(super) fn check_len(field: &str, s: &str, limit: usize) -> Result<(), RecordError> {
    if s.len() > limit {
        return Err(RecordError::too_long(field, limit, s.len()));
    }
    Ok(())
}

/// Non-empty, within `limit`, no control characters.
pub(super) fn check_text(field: &str, s: &str, limit: usize) -> Result<(), RecordError> {
    if s.is_empty() {
        return Err(RecordError::invalid(field, "must not be empty"));
    }
    check_len(field, s, limit)?;
    if s.chars().any(char::is_control) {
        return Err(RecordError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An identifier such as `AwsApiCall` or `Management`: 1–64 ASCII letters and digits.
fn check_word(field: &str, s: &str) -> Result<(), RecordError> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RecordError::invalid(
            field,
            "must be 1 to 64 ASCII letters and digits",
        ));
    }
    Ok(())
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub(super) fn check_event_id(field: &str, s: &str, guid: bool) -> Result<(), RecordError> {
    if guid {
        if !is_guid(s) {
            return Err(RecordError::invalid(field, "must be a GUID"));
        }
    } else if s.is_empty()
        || s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(RecordError::invalid(
            field,
            "must be 1 to 128 characters of A-Z, a-z, 0-9, - and _",
        ));
    }
    Ok(())
}

pub(super) fn parse_account(field: &str, s: &str) -> Result<AccountId, RecordError> {
    AccountId::parse(s).map_err(|_| RecordError::invalid(field, "must be exactly 12 digits"))
}

pub(super) fn parse_region(s: &str, policy: &IngestPolicy) -> Result<Region, RecordError> {
    match Region::parse(s) {
        Ok(r) if policy.allows_region(s) => Ok(r),
        _ => Err(RecordError::InvalidRegion {
            region: s.to_owned(),
        }),
    }
}

pub(super) fn check_recipient(
    account: &AccountId,
    policy: &IngestPolicy,
) -> Result<(), RecordError> {
    if policy.allows_account(account.as_str()) {
        Ok(())
    } else {
        Err(RecordError::InvalidRecipient {
            account: account.as_str().to_owned(),
            reason: "is not an account this ingest path accepts (to import another account's logs, list it in `[import] accounts` of the configuration and ingest as the management account's root or a principal allowed cairn:IngestForAnyAccount)",
        })
    }
}

/// `major.minor`, both decimal. Returns (major, minor).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_digit());
    if !ok(a) || !ok(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

pub(super) fn object_of<'a>(raw: &'a RawValue, field: &str) -> Result<Obj<'a>, RecordError> {
    let obj = Obj::of(raw).ok_or_else(|| RecordError::invalid_type(field, "an object"))?;
    if let Some(k) = obj.duplicate_key() {
        return Err(RecordError::DuplicateField {
            field: format!("{field}.{k}"),
        });
    }
    Ok(obj)
}

pub(super) fn sub_str<'a>(
    obj: &Obj<'a>,
    parent: &str,
    name: &str,
) -> Result<Option<Cow<'a, str>>, RecordError> {
    match obj.get(name) {
        None => Ok(None),
        Some(raw) => json::string(raw)
            .map(Some)
            .ok_or_else(|| RecordError::invalid_type(&format!("{parent}.{name}"), "a string")),
    }
}

// ---------------------------------------------------------------------------------------

/// Input above this multiple of the event limit is refused before parsing (a pretty-printed
/// record may be larger than its compact form, but not by this much).
const RAW_SLACK: usize = 4;

/// Parses and validates one CloudTrail record (`cloudtrail-formats.md` §4).
///
/// Checks, in order, stopping at the first failure: well-formed JSON object without
/// repeated members; `eventVersion` (`major.minor`); `eventType` (required from 1.02);
/// the fields each kind of record must have — API calls, service events, console events:
/// `userIdentity` (object with `type`, or `invokedBy` for `AwsServiceEvent`),
/// `eventSource`, `eventName`, `sourceIPAddress`; Insights events: `insightDetails` with
/// `eventSource` and `eventName`; activity audit events (`ActivityLog`): `eventData` per
/// the integrations schema and `metadata`; then `eventTime` (CloudTrail format or RFC 3339,
/// normalised), `awsRegion` (configured), `recipientAccountId` (12 digits, allowed;
/// defaulted when absent), `eventID` (assigned when absent), JSON types of every known
/// field, the §4.4 field limits and the event limit.
///
/// Unknown members are kept: readers must ignore fields they do not know (§4).
///
/// ```
/// use cairn_event::{AccountId, IngestPolicy, validate_record};
/// let policy = IngestPolicy::new(AccountId::parse("111122223333").unwrap());
/// let raw = br#"{"eventVersion":"1.11","userIdentity":{"type":"Root"},
///   "eventTime":"2025-03-04T05:12:44.5+00:00","eventSource":"cloudtrail.amazonaws.com",
///   "eventName":"StopLogging","awsRegion":"us-east-2","sourceIPAddress":"198.51.100.7",
///   "requestParameters":null,"responseElements":null,"eventType":"AwsApiCall"}"#;
/// let rec = validate_record(raw, &policy).unwrap();
/// assert!(rec.event_id_assigned() && rec.event_time_normalised());
/// assert_eq!(rec.keys().event_category, "Management");
/// assert_eq!(rec.keys().recipient_account_id.as_str(), "111122223333");
/// let json = std::str::from_utf8(rec.json()).unwrap();
/// assert!(json.contains(r#""eventTime":"2025-03-04T05:12:44Z""#));
/// ```
pub fn validate_record(raw: &[u8], policy: &IngestPolicy) -> Result<ValidRecord, RecordError> {
    let max = policy.max_event_bytes();
    let obj = parse_object(raw, max, || RecordError::NotAnObject)?;
    let mut out = Vec::with_capacity(raw.len() + 64);
    let slots = file_members(&obj, &mut out)?;
    let limits = policy.field_limits();

    let head = check_head(&slots)?;
    let kind = kind_fields(&slots, head.kind, limits)?;
    let place = check_placement(&slots, policy)?;

    // eventID, sharedEventID
    let event_id_given = slots.str_opt(F::EventId)?;
    if let Some(id) = &event_id_given {
        check_event_id("eventID", id, policy.guid_event_ids())?;
    }
    let shared_event_id = slots.str_opt(F::SharedEventId)?;
    if let Some(id) = &shared_event_id {
        check_event_id("sharedEventID", id, policy.guid_event_ids())?;
    }

    let scalars = check_scalars(&slots, limits)?;
    let host_header = check_objects(&slots, limits, head.kind, &kind.event_source)?;
    let resources = match slots.get(F::Resources) {
        None => Vec::new(),
        Some(raw) => parse_resources(raw)?,
    };

    let event_time_normalised = !place.canonical;
    if event_time_normalised {
        normalise_event_time(&mut out, &slots, place.event_time);
    }
    let event_id_assigned = event_id_given.is_none();
    let event_id = match event_id_given {
        Some(id) => id.into_owned(),
        None => append_event_id(&mut out),
    };
    out.push(b'}');
    if out.len() > max {
        return Err(RecordError::EventTooLarge {
            limit: max,
            actual: out.len(),
        });
    }

    let event_type = match head.event_type {
        Some(t) => t.into_owned(),
        None if kind.event_source == "signin.amazonaws.com" => "AwsConsoleSignIn".to_owned(),
        None => "AwsApiCall".to_owned(),
    };
    let event_category = match head.category {
        Some(c) => c.into_owned(),
        None => derive_category(
            &event_type,
            scalars.management_given,
            &kind.event_source,
            &kind.event_name,
        )
        .to_owned(),
    };
    let management_event = scalars
        .management_given
        .unwrap_or(event_category == "Management");
    let is_global = matches!(head.kind, RecordKind::Call { .. })
        && is_global_service_event(
            &kind.event_source,
            place.aws_region.as_str(),
            host_header.as_deref(),
        );

    let keys = RoutingKeys {
        event_id,
        event_time: place.event_time,
        event_version: head.event_version.into_owned(),
        event_source: kind.event_source.into_owned(),
        event_name: kind.event_name.into_owned(),
        event_type,
        aws_region: place.aws_region,
        recipient_account_id: place.recipient_account_id,
        event_category,
        read_only: scalars.read_only,
        management_event,
        is_global_service_event: is_global,
        resources,
        user_identity_type: kind.user_identity_type,
        user_identity_arn: kind.user_identity_arn,
        error_code: scalars.error_code.or(kind.activity_error_code),
        vpc_endpoint_id: scalars.vpc_endpoint_id,
        session_credential_from_console: scalars.session_credential_from_console,
        shared_event_id: shared_event_id.map(Cow::into_owned),
    };
    Ok(ValidRecord::new(
        out,
        keys,
        event_id_assigned,
        event_time_normalised,
        place.recipient_defaulted,
    ))
}

/// Refuses input far over the event limit, non-objects (with `not_object`), malformed JSON
/// and lone surrogate escapes; returns the top-level members in input order.
pub(super) fn parse_object(
    raw: &[u8],
    max: usize,
    not_object: impl FnOnce() -> RecordError,
) -> Result<Obj<'_>, RecordError> {
    if raw.len() > max.saturating_mul(RAW_SLACK) {
        return Err(RecordError::EventTooLarge {
            limit: max,
            actual: raw.len(),
        });
    }
    let first = raw
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
    if first != Some(b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
            Ok(_) => not_object(),
            Err(e) => RecordError::Malformed {
                detail: e.to_string(),
            },
        });
    }
    let obj: Obj<'_> = serde_json::from_slice(raw).map_err(|e| RecordError::Malformed {
        detail: e.to_string(),
    })?;
    if !json::surrogates_paired(raw) {
        return Err(RecordError::Malformed {
            detail: "lone UTF-16 surrogate escape".into(),
        });
    }
    Ok(obj)
}

/// One pass over the members: writes `{` and each member compact into `out` (without the
/// closing `}`) and files each known member in its slot. Refuses repeated members.
fn file_members<'a>(obj: &Obj<'a>, out: &mut Vec<u8>) -> Result<Slots<'a>, RecordError> {
    out.push(b'{');
    let mut slots = Slots {
        raw: [None; N],
        span: [(0, 0); N],
    };
    let mut unknown: Vec<&str> = Vec::new();
    for (i, (k, v)) in obj.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_key(out, k, matches!(k, Cow::Owned(_)));
        out.push(b':');
        let start = out.len();
        json::minify_into(v.get().as_bytes(), out);
        match lookup(k) {
            Some(f) => {
                if slots.raw[f as usize].is_some() {
                    return Err(RecordError::DuplicateField {
                        field: k.to_string(),
                    });
                }
                slots.raw[f as usize] = Some(v);
                slots.span[f as usize] = (start, out.len());
            }
            None => {
                if unknown.contains(&k.as_ref()) {
                    return Err(RecordError::DuplicateField {
                        field: k.to_string(),
                    });
                }
                unknown.push(k);
            }
        }
    }
    Ok(slots)
}

/// Which kind of record this is, which decides the fields it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordKind {
    /// An activity audit event (`eventType` `ActivityLog` or `eventCategory`
    /// `ActivityAuditLog`).
    Activity,
    /// An Insights event (`AwsCloudTrailInsight`).
    Insight,
    /// An API call, service event (`service`) or console event.
    Call {
        /// `eventType` is `AwsServiceEvent`.
        service: bool,
    },
}

/// `eventVersion`, `eventType`, `eventCategory` and the kind they make.
struct Head<'a> {
    event_version: Cow<'a, str>,
    event_type: Option<Cow<'a, str>>,
    category: Option<Cow<'a, str>>,
    kind: RecordKind,
}

/// Checks `eventVersion` (`major.minor`), `eventType` (required from 1.02) and
/// `eventCategory`, and classifies the record.
fn check_head<'a>(slots: &Slots<'a>) -> Result<Head<'a>, RecordError> {
    let event_version = slots.str_req(F::EventVersion)?;
    let (major, minor) = parse_version(&event_version)
        .ok_or_else(|| RecordError::invalid("eventVersion", "must be major.minor, e.g. 1.11"))?;
    let before_1_02 = major < 1 || (major == 1 && minor < 2);

    let event_type = slots.str_opt(F::EventType)?;
    if let Some(t) = &event_type {
        check_word("eventType", t)?;
    } else if !before_1_02 {
        return Err(RecordError::missing("eventType"));
    }
    let category = slots.str_opt(F::EventCategory)?;
    if let Some(c) = &category {
        check_word("eventCategory", c)?;
    }
    let kind = if event_type.as_deref() == Some("ActivityLog")
        || category.as_deref() == Some("ActivityAuditLog")
    {
        RecordKind::Activity
    } else if event_type.as_deref() == Some("AwsCloudTrailInsight") {
        RecordKind::Insight
    } else {
        RecordKind::Call {
            service: event_type.as_deref() == Some("AwsServiceEvent"),
        }
    };
    Ok(Head {
        event_version,
        event_type,
        category,
        kind,
    })
}

/// What the kind-specific fields give the routing keys.
struct KindFields<'a> {
    event_source: Cow<'a, str>,
    event_name: Cow<'a, str>,
    user_identity_type: Option<String>,
    user_identity_arn: Option<String>,
    activity_error_code: Option<String>,
}

/// Checks the fields the record's kind requires, then the top-level `eventSource` and
/// `eventName` whenever present.
fn kind_fields<'a>(
    slots: &Slots<'a>,
    kind: RecordKind,
    limits: &FieldLimits,
) -> Result<KindFields<'a>, RecordError> {
    let fields = match kind {
        RecordKind::Activity => activity_fields(slots, limits)?,
        RecordKind::Insight => insight_fields(slots, limits)?,
        RecordKind::Call { service } => call_fields(slots, limits, service)?,
    };
    // present top-level eventSource/eventName must be sane whatever the kind
    for f in [F::EventSource, F::EventName] {
        if let Some(s) = slots.str_opt(f)? {
            check_text(Slots::name(f), &s, limits.name)?;
        }
    }
    if matches!(kind, RecordKind::Call { .. }) {
        check_source_charset("eventSource", &fields.event_source)?;
    }
    Ok(fields)
}

/// Activity audit events: `eventData` per the integrations schema, `metadata` with
/// `ingestionTime` and `channelARN`, and a top-level recipient equal to the event's.
fn activity_fields<'a>(
    slots: &Slots<'a>,
    limits: &FieldLimits,
) -> Result<KindFields<'a>, RecordError> {
    let data = slots.object_req(F::EventData)?;
    let a = activity::check_event_data(&data, "eventData.", limits)?;
    let meta = slots.object_req(F::Metadata)?;
    for m in ["ingestionTime", "channelARN"] {
        sub_str(&meta, "metadata", m)?
            .ok_or_else(|| RecordError::missing(&format!("metadata.{m}")))?;
    }
    let user_identity_type = Some(a.user_type.into_owned());
    let activity_error_code = a.error_code.map(Cow::into_owned);
    // the top-level recipient must be the one the event names
    let top = slots.str_req(F::RecipientAccountId)?;
    if top != a.recipient {
        return Err(RecordError::InvalidRecipient {
            account: top.into_owned(),
            reason: "differs from eventData.recipientAccountId",
        });
    }
    Ok(KindFields {
        event_source: a.event_source,
        event_name: a.event_name,
        user_identity_type,
        user_identity_arn: None,
        activity_error_code,
    })
}

/// Insights events: `insightDetails` with `eventSource` and `eventName`.
fn insight_fields<'a>(
    slots: &Slots<'a>,
    limits: &FieldLimits,
) -> Result<KindFields<'a>, RecordError> {
    let details = slots.object_req(F::InsightDetails)?;
    let src = sub_str(&details, "insightDetails", "eventSource")?
        .ok_or_else(|| RecordError::missing("insightDetails.eventSource"))?;
    let name = sub_str(&details, "insightDetails", "eventName")?
        .ok_or_else(|| RecordError::missing("insightDetails.eventName"))?;
    check_text("insightDetails.eventSource", &src, limits.name)?;
    check_text("insightDetails.eventName", &name, limits.name)?;
    Ok(KindFields {
        event_source: src,
        event_name: name,
        user_identity_type: None,
        user_identity_arn: None,
        activity_error_code: None,
    })
}

/// API calls, service events and console events: `userIdentity` (with `type`, or
/// `invokedBy` for a service event), `eventSource`, `eventName`, `sourceIPAddress`.
fn call_fields<'a>(
    slots: &Slots<'a>,
    limits: &FieldLimits,
    service: bool,
) -> Result<KindFields<'a>, RecordError> {
    let ui = slots.object_req(F::UserIdentity)?;
    let ty = sub_str(&ui, "userIdentity", "type")?;
    let invoked_by = sub_str(&ui, "userIdentity", "invokedBy")?;
    match &ty {
        Some(t) => check_text("userIdentity.type", t, limits.name)?,
        None if service && invoked_by.is_some() => {}
        None => return Err(RecordError::missing("userIdentity.type")),
    }
    let mut user_identity_arn = None;
    if let Some(arn) = sub_str(&ui, "userIdentity", "arn")? {
        arn.parse::<Arn>()
            .map_err(|_| RecordError::invalid("userIdentity.arn", "not a valid ARN"))?;
        user_identity_arn = Some(arn.into_owned());
    }
    for f in ["accountId", "principalId", "accessKeyId", "userName"] {
        sub_str(&ui, "userIdentity", f)?;
    }
    let user_identity_type = ty.map(Cow::into_owned);
    let event_source = slots.str_req(F::EventSource)?;
    let event_name = slots.str_req(F::EventName)?;
    let ip = slots.str_req(F::SourceIp)?;
    check_text("sourceIPAddress", &ip, limits.name)?;
    Ok(KindFields {
        event_source,
        event_name,
        user_identity_type,
        user_identity_arn,
        activity_error_code: None,
    })
}

/// When, where and for whom: `eventTime`, `awsRegion`, `recipientAccountId`.
struct Placement {
    event_time: OffsetDateTime,
    /// `eventTime` was already in the canonical format.
    canonical: bool,
    aws_region: Region,
    recipient_account_id: AccountId,
    recipient_defaulted: bool,
}

/// Checks `eventTime` (CloudTrail format or RFC 3339), `awsRegion` (configured) and
/// `recipientAccountId` (12 digits, allowed; the policy's default when absent).
fn check_placement(slots: &Slots<'_>, policy: &IngestPolicy) -> Result<Placement, RecordError> {
    let time_text = slots.str_req(F::EventTime)?;
    let (event_time, canonical) = timeutil::parse(&time_text)
        .ok_or_else(|| RecordError::invalid("eventTime", timeutil::EXPECTED))?;

    let region_text = slots.str_req(F::AwsRegion)?;
    let aws_region = parse_region(&region_text, policy)?;

    let (recipient_account_id, recipient_defaulted) = match slots.str_opt(F::RecipientAccountId)? {
        Some(s) => (parse_account("recipientAccountId", &s)?, false),
        None => (policy.default_account().clone(), true),
    };
    check_recipient(&recipient_account_id, policy)?;
    Ok(Placement {
        event_time,
        canonical,
        aws_region,
        recipient_account_id,
        recipient_defaulted,
    })
}

/// The string and boolean fields the routing keys take.
struct Scalars {
    /// The top-level `errorCode` (an activity event's comes from `eventData`).
    error_code: Option<String>,
    vpc_endpoint_id: Option<String>,
    session_credential_from_console: bool,
    read_only: Option<bool>,
    management_given: Option<bool>,
}

/// Type-checks the plain string and boolean fields and the 1 KB limit of the short ones.
fn check_scalars(slots: &Slots<'_>, limits: &FieldLimits) -> Result<Scalars, RecordError> {
    // short strings with the 1 KB limit
    for f in [F::UserAgent, F::ErrorCode, F::ErrorMessage, F::RequestId] {
        if let Some(s) = slots.str_opt(f)? {
            check_len(Slots::name(f), &s, limits.short_text)?;
        }
    }
    let error_code = slots.str_opt(F::ErrorCode)?.map(Cow::into_owned);
    // other strings
    for f in [F::ApiVersion, F::VpcEndpointAccountId] {
        slots.str_opt(f)?;
    }
    let vpc_endpoint_id = slots.str_opt(F::VpcEndpointId)?.map(Cow::into_owned);
    let session_credential_from_console = slots.console_flag()?;
    if let Some(a) = slots.str_opt(F::VpcEndpointAccountId)? {
        parse_account("vpcEndpointAccountId", &a)?;
    }
    // booleans
    let read_only = slots.bool_opt(F::ReadOnly)?;
    let management_given = slots.bool_opt(F::ManagementEvent)?;
    Ok(Scalars {
        error_code,
        vpc_endpoint_id,
        session_credential_from_console,
        read_only,
        management_given,
    })
}

/// Type-checks the object fields and their size limits; returns the STS
/// `tlsDetails.clientProvidedHostHeader`, which decides whether an STS call is global.
fn check_objects<'a>(
    slots: &Slots<'a>,
    limits: &FieldLimits,
    kind: RecordKind,
    event_source: &str,
) -> Result<Option<Cow<'a, str>>, RecordError> {
    slots.object_opt(F::RequestParameters, true, Some(limits.large_object))?;
    slots.object_opt(F::ResponseElements, true, Some(limits.large_object))?;
    slots.object_opt(F::ServiceEventDetails, true, Some(limits.large_object))?;
    slots.object_opt(F::AdditionalEventData, true, Some(limits.small_object))?;
    slots.object_opt(F::EdgeDeviceDetails, true, Some(limits.small_object))?;
    for f in [
        F::Addendum,
        F::TlsDetails,
        F::InsightDetails,
        F::EventContext,
        F::Metadata,
        F::EventData,
    ] {
        slots.object_opt(f, false, None)?;
    }
    if matches!(kind, RecordKind::Call { .. }) {
        slots.object_opt(F::UserIdentity, false, None)?;
    }
    if event_source == "sts.amazonaws.com"
        && let Some(tls) = slots.get(F::TlsDetails)
    {
        let tls = object_of(tls, "tlsDetails")?;
        return sub_str(&tls, "tlsDetails", "clientProvidedHostHeader");
    }
    Ok(None)
}

/// Rewrites the `eventTime` value in `out` to the canonical CloudTrail format.
fn normalise_event_time(out: &mut Vec<u8>, slots: &Slots<'_>, event_time: OffsetDateTime) {
    let text = crate::format_event_time(event_time);
    let (a, b) = slots.span[F::EventTime as usize];
    let mut quoted = Vec::with_capacity(text.len() + 2);
    json::write_str(&mut quoted, &text);
    out.splice(a..b, quoted);
}

/// Assigns a fresh `eventID` and appends it as the last member of `out` (still open).
fn append_event_id(out: &mut Vec<u8>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"eventID\":");
    json::write_str(out, &id);
    id
}

/// Service host names: ASCII letters, digits, `.`, `-` and `_`.
fn check_source_charset(field: &str, s: &str) -> Result<(), RecordError> {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        Ok(())
    } else {
        Err(RecordError::invalid(
            field,
            "must be a host name (letters, digits, '.', '-', '_')",
        ))
    }
}

fn parse_resources(raw: &RawValue) -> Result<Vec<ResourceKey>, RecordError> {
    match json::kind(raw) {
        Kind::Null => return Ok(Vec::new()),
        Kind::Array => {}
        _ => return Err(RecordError::invalid_type("resources", "an array")),
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| RecordError::invalid_type("resources", "an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("resources[{i}]");
        let obj = object_of(item, &path)?;
        let arn = sub_str(&obj, &path, "ARN")?;
        let prefix = sub_str(&obj, &path, "ARNPrefix")?;
        let (arn, arn_is_prefix, field) = match (arn, prefix) {
            (Some(a), _) => (a, false, "ARN"),
            (None, Some(p)) => (p, true, "ARNPrefix"),
            (None, None) => return Err(RecordError::missing(&format!("{path}.ARN"))),
        };
        arn.parse::<Arn>()
            .map_err(|_| RecordError::invalid(&format!("{path}.{field}"), "not a valid ARN"))?;
        let account_id = sub_str(&obj, &path, "accountId")?;
        if let Some(a) = &account_id {
            parse_account(&format!("{path}.accountId"), a)?;
        }
        let resource_type = sub_str(&obj, &path, "type")?;
        if let Some(t) = &resource_type {
            check_text(&format!("{path}.type"), t, 256)?;
        }
        out.push(ResourceKey {
            resource_type: resource_type.map(Cow::into_owned),
            arn: arn.into_owned(),
            arn_is_prefix,
            account_id: account_id.map(Cow::into_owned),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> IngestPolicy {
        IngestPolicy::new(AccountId::parse("111122223333").unwrap())
    }

    const BASE: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"eventTime":"2023-07-10T11:45:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","requestParameters":null,"responseElements":null,"eventID":"3fcfb182-98f8-4744-bd45-10a395ab61cb","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;

    #[test]
    fn compact_input_is_kept_byte_for_byte() {
        let r = validate_record(BASE.as_bytes(), &policy()).unwrap();
        assert_eq!(r.json(), BASE.as_bytes());
        assert!(!r.event_id_assigned() && !r.event_time_normalised() && !r.recipient_defaulted());
        let k = r.keys();
        assert!(k.is_global_service_event);
        assert_eq!(k.read_only, Some(true));
        assert_eq!(
            k.user_identity_arn.as_deref(),
            Some("arn:aws:iam::111122223333:user/a")
        );
    }

    #[test]
    fn console_flag_as_string_or_boolean() {
        let with = |v: &str| {
            BASE.replace(
                r#""eventCategory""#,
                &format!(r#""sessionCredentialFromConsole":{v},"eventCategory""#),
            )
        };
        for (v, expected) in [(r#""true""#, true), ("true", true), ("false", false)] {
            let text = with(v);
            let r = validate_record(text.as_bytes(), &policy()).unwrap();
            assert_eq!(r.keys().session_credential_from_console, expected, "{v}");
            // kept verbatim: a boolean is not rewritten to AWS's string
            assert_eq!(r.json(), text.as_bytes());
        }
        for bad in ["1", "{}", "null"] {
            let text = with(bad);
            let e = validate_record(text.as_bytes(), &policy()).unwrap_err();
            assert!(
                e.to_string().contains("sessionCredentialFromConsole"),
                "{e}"
            );
        }
    }

    #[test]
    fn whitespace_is_removed() {
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(BASE).unwrap())
                .unwrap();
        let r = validate_record(pretty.as_bytes(), &policy()).unwrap();
        assert_eq!(r.json(), BASE.as_bytes());
    }

    #[test]
    fn category_rules() {
        for (event_type, read_only, source, name, want) in [
            (
                "AwsApiCall",
                None,
                "ec2.amazonaws.com",
                "RunInstances",
                "Management",
            ),
            ("AwsApiCall", Some(false), "x.amazonaws.com", "X", "Data"),
            ("AwsApiCall", None, "s3.amazonaws.com", "GetObject", "Data"),
            (
                "AwsApiCall",
                None,
                "s3.amazonaws.com",
                "ListBuckets",
                "Management",
            ),
            ("AwsApiCall", None, "lambda.amazonaws.com", "Invoke", "Data"),
            ("AwsCloudTrailInsight", None, "", "", "Insight"),
        ] {
            assert_eq!(
                derive_category(event_type, read_only, source, name),
                want,
                "{event_type} {source} {name}"
            );
        }
    }

    #[test]
    fn global_rule() {
        assert!(is_global_service_event(
            "sts.amazonaws.com",
            "us-east-1",
            None
        ));
        assert!(is_global_service_event(
            "sts.amazonaws.com",
            "us-east-1",
            Some("sts.amazonaws.com")
        ));
        assert!(!is_global_service_event(
            "sts.amazonaws.com",
            "us-east-1",
            Some("sts.us-east-1.amazonaws.com")
        ));
        assert!(!is_global_service_event(
            "ec2.amazonaws.com",
            "us-east-1",
            None
        ));
        assert!(is_global_service_event(
            "cloudfront.amazonaws.com",
            "us-east-1",
            None
        ));
    }

    #[test]
    fn versions_and_ids() {
        assert_eq!(parse_version("1.08"), Some((1, 8)));
        assert_eq!(parse_version("1.0"), Some((1, 0)));
        assert_eq!(parse_version("1"), None);
        assert_eq!(parse_version("1.x"), None);
        assert!(is_guid("3fcfb182-98f8-4744-bd45-10a395ab61cb"));
        assert!(!is_guid("EXAMPLE8-9621-4d00-b913-beca2EXAMPLE"));
        assert!(check_event_id("e", "EXAMPLE8-9621-4d00-b913-beca2EXAMPLE", false).is_ok());
        assert!(check_event_id("e", "a b", false).is_err());
    }

    #[test]
    fn assigned_event_id_is_appended() {
        let raw = BASE.replace(r#""eventID":"3fcfb182-98f8-4744-bd45-10a395ab61cb","#, "");
        let r = validate_record(raw.as_bytes(), &policy()).unwrap();
        assert!(r.event_id_assigned());
        let tail = format!(r#","eventID":"{}"}}"#, r.keys().event_id);
        assert!(std::str::from_utf8(r.json()).unwrap().ends_with(&tail));
        assert!(is_guid(&r.keys().event_id));
    }
}
