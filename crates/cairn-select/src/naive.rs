//! A deliberately simple, literal transcription of the specification's
//! pseudocode (selectors-and-filters §2.3 and §3.2), used as a test oracle
//! for [`crate::CompiledSelectors`]. It reads the JSON record directly and
//! shares no code with the compiled matcher or [`crate::EventView`].
//!
//! Slow (it looks fields up by name for every condition); do not use it on
//! the hot path.

use serde_json::Value;

use crate::model::{
    AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType, Selectors,
};

/// Whether a record is selected by `selectors` (OR over selectors).
pub fn matches(selectors: &Selectors, record: &Value) -> bool {
    match selectors {
        Selectors::Basic(sels) => sels.iter().any(|s| match_basic(s, record)),
        Selectors::Advanced(sels) => sels.iter().any(|s| selector_ok(s, record)),
    }
}

fn get_str<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    record.get(key).and_then(|v| v.as_str())
}

/// eventCategory, or the documented fallback for records without it.
fn event_category(record: &Value) -> String {
    if let Some(c) = get_str(record, "eventCategory") {
        return c.to_string();
    }
    if let Some(m) = record.get("managementEvent").and_then(|v| v.as_bool()) {
        return if m {
            "Management".to_string()
        } else {
            "Data".to_string()
        };
    }
    if get_str(record, "eventType") == Some("AwsCloudTrailInsight") {
        return "Insight".to_string();
    }
    for r in resources(record) {
        if get_str(r, "type") == Some("AWS::S3::Object") {
            return "Data".to_string();
        }
    }
    if get_str(record, "eventSource") == Some("lambda.amazonaws.com")
        && get_str(record, "eventName") == Some("Invoke")
    {
        return "Data".to_string();
    }
    "Management".to_string()
}

fn resources(record: &Value) -> Vec<&Value> {
    match record.get("resources") {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

fn resource_arn(resource: &Value) -> Option<String> {
    if let Some(a) = get_str(resource, "ARN") {
        return Some(a.to_string());
    }
    get_str(resource, "ARNPrefix").map(|a| a.to_string())
}

// ---- basic (§2.3) ----

fn match_basic(sel: &EventSelector, ev: &Value) -> bool {
    let read_only = ev.get("readOnly").and_then(|v| v.as_bool());
    let rw_ok = sel.read_write_type == ReadWriteType::All
        || (sel.read_write_type == ReadWriteType::ReadOnly && read_only == Some(true))
        || (sel.read_write_type == ReadWriteType::WriteOnly && read_only == Some(false));
    let category = event_category(ev);
    if category == "Management" {
        let source = get_str(ev, "eventSource");
        let excluded = match source {
            Some(s) => sel.exclude_management_event_sources.iter().any(|x| x == s),
            None => false,
        };
        return sel.include_management_events && rw_ok && !excluded;
    }
    if category == "Data" {
        if !rw_ok {
            return false;
        }
        for dr in &sel.data_resources {
            for resource in resources(ev) {
                if get_str(resource, "type") == Some(dr.r#type.as_str())
                    && value_matches(&dr.r#type, &dr.values, resource_arn(resource))
                {
                    return true;
                }
            }
        }
        return false;
    }
    false
}

/// §2.2: S3 values are prefixes of the object ARN, Lambda and DynamoDB values
/// are exact; `arn:aws:s3`, `arn:aws:s3:::`, `arn:aws:lambda`,
/// `arn:aws:dynamodb` select all of their type. Other types: exact.
fn value_matches(ty: &str, values: &[String], arn: Option<String>) -> bool {
    for v in values {
        let all = match ty {
            "AWS::S3::Object" => v == "arn:aws:s3" || v == "arn:aws:s3:::",
            "AWS::Lambda::Function" => v == "arn:aws:lambda",
            "AWS::DynamoDB::Table" => v == "arn:aws:dynamodb",
            _ => false,
        };
        if all {
            return true;
        }
        if let Some(arn) = &arn {
            let hit = if ty == "AWS::S3::Object" {
                arn.starts_with(v.as_str())
            } else {
                arn == v
            };
            if hit {
                return true;
            }
        }
    }
    false
}

// ---- advanced (§3.2) ----

fn field_ok(fs: &AdvancedFieldSelector, value: Option<String>) -> bool {
    let has_select = fs.equals.is_some() || fs.starts_with.is_some() || fs.ends_with.is_some();
    let Some(value) = value else {
        return !has_select;
    };
    // DESELECT lists exclude, then SELECT lists (when any is given) must include.
    if any_hit(
        &value,
        &fs.not_equals,
        &fs.not_starts_with,
        &fs.not_ends_with,
    ) {
        return false;
    }
    !has_select || any_hit(&value, &fs.equals, &fs.starts_with, &fs.ends_with)
}

/// Whether `value` equals a value of `eq`, starts with one of `starts` or ends with one
/// of `ends`.
fn any_hit(
    value: &str,
    eq: &Option<Vec<String>>,
    starts: &Option<Vec<String>>,
    ends: &Option<Vec<String>>,
) -> bool {
    eq.iter().flatten().any(|v| value == v)
        || starts
            .iter()
            .flatten()
            .any(|v| value.starts_with(v.as_str()))
        || ends.iter().flatten().any(|v| value.ends_with(v.as_str()))
}

fn event_field(ev: &Value, field: &str) -> Option<String> {
    match field {
        "eventCategory" => Some(event_category(ev)),
        "readOnly" => ev
            .get("readOnly")
            .and_then(|v| v.as_bool())
            .map(|b| b.to_string()),
        "userIdentity.arn" => ev
            .get("userIdentity")
            .and_then(|u| u.get("arn"))
            .and_then(|a| a.as_str())
            .map(|s| s.to_string()),
        "sessionCredentialFromConsole" => match ev.get("sessionCredentialFromConsole") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        },
        "eventSource" | "eventName" | "eventType" | "errorCode" | "vpcEndpointId" => {
            get_str(ev, field).map(|s| s.to_string())
        }
        _ => None,
    }
}

fn resource_field(resource: &Value, field: &str) -> Option<String> {
    match field {
        "resources.type" => get_str(resource, "type").map(|s| s.to_string()),
        "resources.ARN" => resource_arn(resource),
        _ => None,
    }
}

fn selector_ok(s: &AdvancedEventSelector, ev: &Value) -> bool {
    let mut resource_conditions = Vec::new();
    for fs in &s.field_selectors {
        if fs.field.starts_with("resources.") {
            resource_conditions.push(fs);
        } else if !field_ok(fs, event_field(ev, &fs.field)) {
            return false;
        }
    }
    if resource_conditions.is_empty() {
        return true;
    }
    let entries = resources(ev);
    if entries.is_empty() {
        // No resources: every resources.* field is absent.
        return resource_conditions.iter().all(|fs| field_ok(fs, None));
    }
    // One entry must satisfy all resource conditions.
    entries.iter().any(|r| {
        resource_conditions
            .iter()
            .all(|fs| field_ok(fs, resource_field(r, &fs.field)))
    })
}
