//! The data plane: `PutAuditEvents` (the `cloudtrail-data` REST-JSON API) and Cairn's bulk
//! ingest endpoint (`POST /_cairn/ingest`, signed for `cloudtrail-data`) that takes CloudTrail
//! `{"Records":[...]}` files, plain or gzip, or NDJSON.

use std::sync::Arc;

use cairn_event::{
    AccountId, AuditEventEntry, FormatHint, IngestPolicy, Region, validate_audit_event,
    validate_audit_request, validate_record,
};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::error::ApiError;
use crate::ingest::Appended;
use crate::state::AppState;

/// Cairn's action for bulk ingest (`POST /_cairn/ingest`).
pub const BULK_INGEST_ACTION: &str = "cairn:BulkIngest";
/// Cairn's action allowing a management-account principal to send records whose
/// `recipientAccountId` is another configured account.
pub const INGEST_FOR_ANY_ACCOUNT_ACTION: &str = "cairn:IngestForAnyAccount";

/// What the audit record of an ingest call needs beyond the caller.
#[derive(Debug, Clone, Default)]
pub struct CallMeta {
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The request ID returned to the caller.
    pub request_id: String,
}

/// The audit record of one ingest call (`PutAuditEvents` or `BulkIngest`), as Cairn records
/// its own API calls: who sent the records, from where, and how many were taken; never
/// the records themselves. Returns its event ID and journal envelope.
fn provenance(
    caller: &Caller,
    env: &Environment,
    meta: &CallMeta,
    event_name: &str,
    request: &Value,
) -> (String, Vec<u8>) {
    let event = crate::audit::event_for(&crate::audit::CallRecord {
        event_source: "cloudtrail-data.amazonaws.com",
        event_name,
        region: &caller.region,
        principal: &caller.principal,
        access_key_id: &caller.access_key_id,
        source_ip: env.source_ip.to_string(),
        user_agent: meta.user_agent.as_deref(),
        request,
        outcome: Ok(&Value::Null),
        read_only: false,
        request_id: &meta.request_id,
        time: OffsetDateTime::now_utc(),
    });
    let payload = crate::pipeline::envelope::encode(
        &crate::pipeline::envelope::keys_for_event(&event),
        &event.to_json_bytes(),
    );
    (event.event_id, payload)
}

/// `AccessDeniedException` (REST-JSON) from a refusal.
pub fn access_denied(d: crate::authz::Denied) -> ApiError {
    ApiError::with_status(
        http::StatusCode::FORBIDDEN,
        "AccessDeniedException",
        d.message,
    )
}

/// The ingest policy for a caller: configured regions; records for the caller's own account,
/// or for any configured account when the caller belongs to the management account and is
/// its root or is allowed [`INGEST_FOR_ANY_ACCOUNT_ACTION`].
pub fn policy_for(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
) -> Result<IngestPolicy, ApiError> {
    let account = AccountId::parse(&caller.account).map_err(ApiError::internal)?;
    let regions: Vec<Region> = state.config.regions.iter().cloned().collect();
    let admin = caller.account == state.config.account_id.as_str()
        && (matches!(caller.principal, cairn_auth::Principal::Root { .. })
            || crate::authz::authorize(
                state,
                caller,
                env,
                &Access::new(INGEST_FOR_ANY_ACCOUNT_ACTION, "*"),
            )
            .is_ok());
    let allowed: Vec<AccountId> = if admin {
        state.config.ingest_accounts()
    } else {
        vec![account.clone()]
    };
    Ok(IngestPolicy::new(account)
        .with_regions(regions)
        .with_allowed_accounts(allowed))
}

/// `PutAuditEvents`. The call's own audit record (channel, counts) is journaled with the
/// accepted events.
pub fn put_audit_events(
    state: &AppState,
    caller: &Caller,
    env: &Environment,
    meta: &CallMeta,
    query: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(rename = "auditEvents")]
        audit_events: Option<Vec<AuditEventEntry>>,
    }
    let mut channel = None;
    for (k, v) in form_urlencoded(query) {
        if k == "channelArn" {
            channel = Some(v);
        }
    }
    let Some(channel) = channel else {
        return Err(ApiError::client(
            "InvalidChannelARN",
            "the channelArn query parameter is required",
        ));
    };
    let ctx = crate::cloudtrail::CallContext {
        account: caller.account.clone(),
        region: caller.region.clone(),
        now: OffsetDateTime::now_utc(),
    };
    if channel.starts_with("arn:") {
        if !crate::cloudtrail::is_arn_of(&channel, "cloudtrail", "channel/") {
            return Err(ApiError::client(
                "InvalidChannelARN",
                format!("{channel} is not a channel ARN"),
            ));
        }
        if let Ok(a) = channel.parse::<cairn_event::Arn>()
            && a.account_id() != caller.account
        {
            return Err(ApiError::client(
                "ChannelInsufficientPermission",
                format!(
                    "the caller's account {} does not own channel {channel}",
                    caller.account
                ),
            ));
        }
    }
    let ch = state
        .control
        .channels
        .resolve(&ctx, &channel)
        .map_err(|_| ApiError::client("ChannelNotFound", format!("channel {channel} not found")))?;
    crate::authz::authorize(
        state,
        caller,
        env,
        &Access::new("cloudtrail-data:PutAuditEvents", &ch.arn),
    )
    .map_err(access_denied)?;
    let req: Req = serde_json::from_slice(body).map_err(|e| {
        ApiError::client(
            "ValidationException",
            format!("the request body is not valid: {e}"),
        )
    })?;
    let entries = req.audit_events.unwrap_or_default();
    validate_audit_request(&entries)?;
    let policy = policy_for(state, caller, env)?;
    let owner = AccountId::parse(&ch.account_id).map_err(ApiError::internal)?;
    let now = OffsetDateTime::now_utc();
    let mut failed = Vec::new();
    let mut good = Vec::new();
    let mut good_ids = Vec::new();
    for e in &entries {
        match validate_audit_event(e, &owner, &ch.arn, &policy, now) {
            Ok(r) => {
                good_ids.push((e.id.clone(), r.keys().event_id.clone()));
                good.push(r);
            }
            Err(err) => failed.push(json!({
                "id": e.id, "errorCode": err.audit_error_code(), "errorMessage": err.to_string(),
            })),
        }
    }
    let failed_count = failed.len();
    let trace = |new: usize, duplicates: usize| {
        let request = json!({
            "channelArn": ch.arn,
            "recordsAccepted": new,
            "recordsDuplicate": duplicates,
            "recordsFailed": failed_count,
        });
        provenance(caller, env, meta, "PutAuditEvents", &request)
    };
    let outcome = state.ingest.append_traced(good, &trace)?;
    let successful: Vec<Value> = good_ids
        .into_iter()
        .zip(outcome)
        .map(|((id, event_id), _)| json!({"id": id, "eventID": event_id}))
        .collect();
    Ok(json!({ "successful": successful, "failed": failed }))
}

/// `POST /_cairn/ingest`: every record of the body, validated one by one. The call's own
/// audit record (`BulkIngest`, with the counts) is journaled with the accepted records.
pub fn bulk_ingest(
    state: &Arc<AppState>,
    caller: &Caller,
    env: &Environment,
    meta: &CallMeta,
    body: &[u8],
) -> Result<Value, ApiError> {
    crate::authz::authorize(state, caller, env, &Access::new(BULK_INGEST_ACTION, "*"))
        .map_err(access_denied)?;
    let policy = policy_for(state, caller, env)?;
    let mut good = Vec::new();
    let mut rejected = Vec::new();
    let mut index = 0usize;
    for item in cairn_event::read_records(body, FormatHint::Auto) {
        match item {
            Ok(raw) => {
                match validate_record(&raw.bytes, &policy) {
                    Ok(r) => good.push(r),
                    Err(e) => rejected.push(json!({
                        "index": index, "code": e.code(), "message": e.to_string(),
                    })),
                }
                index += 1;
            }
            Err(e) if e.is_fatal() => {
                return Err(ApiError::client(
                    "InvalidData",
                    format!("the body cannot be read as CloudTrail records: {e}"),
                ));
            }
            Err(e) => {
                rejected
                    .push(json!({"index": index, "code": "InvalidData", "message": e.to_string()}));
                index += 1;
            }
        }
    }
    let rejected_count = rejected.len();
    let trace = |new: usize, duplicates: usize| {
        let request = json!({
            "recordsAccepted": new,
            "recordsDuplicate": duplicates,
            "recordsRejected": rejected_count,
        });
        provenance(caller, env, meta, "BulkIngest", &request)
    };
    let outcome = state.ingest.append_traced(good, &trace)?;
    let accepted = outcome
        .iter()
        .filter(|o| matches!(o, Appended::New(_)))
        .count();
    let duplicates = outcome.len() - accepted;
    Ok(json!({
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
    }))
}

/// Decoded `k=v` pairs of a query string.
pub fn form_urlencoded(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}
