//! The "activity audit log" `eventData` schema of CloudTrail Lake integrations
//! (`cloudtrail-api.md` §11; AWS CloudTrail User Guide, "CloudTrail Lake integrations event
//! schema"). Oversized fields are rejected, not truncated.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::error::RecordError;
use super::json::{self, Kind, Obj};
use super::policy::FieldLimits;
use super::record::{check_len, check_text, object_of, parse_account, sub_str};
use super::timeutil;
use crate::AccountId;

const MEMBERS: &[&str] = &[
    "version",
    "userIdentity",
    "userAgent",
    "eventSource",
    "eventName",
    "eventTime",
    "UID",
    "requestParameters",
    "responseElements",
    "errorCode",
    "errorMessage",
    "sourceIPAddress",
    "recipientAccountId",
    "additionalEventData",
];

/// What the pipeline needs out of a valid `eventData`.
pub(crate) struct ActivityData<'a> {
    pub(crate) event_source: Cow<'a, str>,
    pub(crate) event_name: Cow<'a, str>,
    pub(crate) event_time: OffsetDateTime,
    pub(crate) user_type: Cow<'a, str>,
    pub(crate) error_code: Option<Cow<'a, str>>,
    pub(crate) recipient: Cow<'a, str>,
    pub(crate) recipient_id: AccountId,
}

fn req<'a>(obj: &Obj<'a>, prefix: &str, name: &str) -> Result<Cow<'a, str>, RecordError> {
    let parent = prefix.trim_end_matches('.');
    sub_str(obj, parent, name)?.ok_or_else(|| RecordError::missing(&format!("{prefix}{name}")))
}

fn opt<'a>(obj: &Obj<'a>, prefix: &str, name: &str) -> Result<Option<Cow<'a, str>>, RecordError> {
    sub_str(obj, prefix.trim_end_matches('.'), name)
}

fn object_field(obj: &Obj<'_>, prefix: &str, name: &str, limit: usize) -> Result<(), RecordError> {
    let Some(raw) = obj.get(name) else {
        return Ok(());
    };
    let field = format!("{prefix}{name}");
    match json::kind(raw) {
        Kind::Object => {}
        Kind::Null => return Ok(()),
        _ => return Err(RecordError::invalid_type(&field, "an object or null")),
    }
    let mut compact = Vec::with_capacity(raw.get().len());
    json::minify_into(raw.get().as_bytes(), &mut compact);
    if compact.len() > limit {
        return Err(RecordError::too_long(&field, limit, compact.len()));
    }
    Ok(())
}

/// Event sources an activity audit event may not claim: AWS's own service hosts, so that
/// a channel cannot forge events that detections attribute to AWS services.
fn check_event_source(s: &str) -> Result<(), RecordError> {
    let lower = s.to_ascii_lowercase();
    if lower == "amazonaws.com" || lower.ends_with(".amazonaws.com") {
        return Err(RecordError::InvalidEventSource {
            event_source: s.to_owned(),
            reason: "names an AWS service (*.amazonaws.com)",
        });
    }
    Ok(())
}

/// Checks an `eventData` object. `prefix` (e.g. `eventData.`) is put before field names in
/// errors.
pub(crate) fn check_event_data<'a>(
    obj: &Obj<'a>,
    prefix: &str,
    limits: &FieldLimits,
) -> Result<ActivityData<'a>, RecordError> {
    if let Some(k) = obj.duplicate_key() {
        return Err(RecordError::DuplicateField {
            field: format!("{prefix}{k}"),
        });
    }
    if let Some((k, _)) = obj.0.iter().find(|(k, _)| !MEMBERS.contains(&k.as_ref())) {
        return Err(RecordError::invalid(
            &format!("{prefix}{k}"),
            "is not a field of the activity audit log schema",
        ));
    }
    let f = |n: &str| format!("{prefix}{n}");

    let version = req(obj, prefix, "version")?;
    check_text(&f("version"), &version, 256)?;

    let ui_path = f("userIdentity");
    let ui_raw = obj
        .get("userIdentity")
        .ok_or_else(|| RecordError::missing(&ui_path))?;
    let ui = object_of(ui_raw, &ui_path)?;
    if let Some((k, _)) =
        ui.0.iter()
            .find(|(k, _)| !matches!(k.as_ref(), "type" | "principalId" | "details"))
    {
        return Err(RecordError::invalid(
            &format!("{ui_path}.{k}"),
            "is not a field of the activity audit log schema",
        ));
    }
    let ui_prefix = format!("{ui_path}.");
    let user_type = req(&ui, &ui_prefix, "type")?;
    check_text(&format!("{ui_path}.type"), &user_type, 128)?;
    let principal = req(&ui, &ui_prefix, "principalId")?;
    check_text(&format!("{ui_path}.principalId"), &principal, 1024)?;
    if let Some(d) = ui.get("details")
        && !matches!(json::kind(d), Kind::Object | Kind::Null)
    {
        return Err(RecordError::invalid_type(
            &format!("{ui_path}.details"),
            "an object",
        ));
    }

    let event_source = req(obj, prefix, "eventSource")?;
    check_text(&f("eventSource"), &event_source, limits.name.min(1024))?;
    check_event_source(&event_source)?;
    let event_name = req(obj, prefix, "eventName")?;
    check_text(&f("eventName"), &event_name, limits.name.min(1024))?;

    let time_text = req(obj, prefix, "eventTime")?;
    let (event_time, _) = timeutil::parse(&time_text)
        .ok_or_else(|| RecordError::invalid(&f("eventTime"), timeutil::EXPECTED))?;

    let uid = req(obj, prefix, "UID")?;
    check_text(&f("UID"), &uid, 1024)?;

    let recipient = req(obj, prefix, "recipientAccountId")?;
    let recipient_id = parse_account(&f("recipientAccountId"), &recipient)?;

    if let Some(ua) = opt(obj, prefix, "userAgent")? {
        check_len(&f("userAgent"), &ua, 1024)?;
    }
    let error_code = opt(obj, prefix, "errorCode")?;
    if let Some(c) = &error_code {
        check_len(&f("errorCode"), c, 256)?;
    }
    if let Some(m) = opt(obj, prefix, "errorMessage")? {
        check_len(&f("errorMessage"), &m, 256)?;
    }
    if let Some(ip) = opt(obj, prefix, "sourceIPAddress")?
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(RecordError::invalid(
            &f("sourceIPAddress"),
            "must be an IPv4 or IPv6 address",
        ));
    }
    object_field(obj, prefix, "requestParameters", limits.large_object)?;
    object_field(obj, prefix, "responseElements", limits.large_object)?;
    object_field(obj, prefix, "additionalEventData", limits.small_object)?;

    Ok(ActivityData {
        event_source,
        event_name,
        event_time,
        user_type,
        error_code,
        recipient,
        recipient_id,
    })
}
