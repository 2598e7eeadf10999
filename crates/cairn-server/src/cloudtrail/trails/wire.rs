//! The wire shapes of trails: the `Trail` JSON, selector responses, list-page tokens.

use super::*;

/// Which management/data categories a selector set logs: (management read, management
/// write, data).
pub(super) fn logged_categories(s: &Selectors) -> (bool, bool, bool) {
    use cairn_select::ReadWriteType;
    match s {
        Selectors::Basic(list) => {
            let mut r = (false, false, false);
            for e in list {
                if e.include_management_events {
                    r.0 |= e.read_write_type != ReadWriteType::WriteOnly;
                    r.1 |= e.read_write_type != ReadWriteType::ReadOnly;
                }
                r.2 |= !e.data_resources.is_empty();
            }
            r
        }
        Selectors::Advanced(list) => {
            let mut r = (false, false, false);
            for a in list {
                let field = |name: &str| a.field_selectors.iter().find(|f| f.field == name);
                let cat = field("eventCategory")
                    .and_then(|f| f.equals.clone())
                    .unwrap_or_default();
                let ro = field("readOnly").and_then(|f| f.equals.clone());
                let reads = ro.as_ref().is_none_or(|v| v.iter().any(|x| x == "true"));
                let writes = ro.as_ref().is_none_or(|v| v.iter().any(|x| x == "false"));
                if cat.iter().any(|c| c == "Management") {
                    r.0 |= reads;
                    r.1 |= writes;
                }
                if cat.iter().any(|c| c == "Data") {
                    r.2 = true;
                }
            }
            r
        }
    }
}

pub(super) fn selectors_response(t: &Trail) -> Value {
    let mut v = serde_json::to_value(&t.selectors).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("TrailARN".into(), json!(t.arn()));
    }
    v
}

fn token_mac(offset: usize, account: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("ListTrails/{account}/{offset}").as_bytes());
    hex::encode(&d[..8])
}

pub(super) fn encode_token(offset: usize, account: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{offset}:{}", token_mac(offset, account)))
}

pub(super) fn decode_token(tok: &str, account: &str) -> Result<usize, ApiError> {
    let bad = || {
        ApiError::client(
            "InvalidNextTokenException",
            "The NextToken is not valid for this request.",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (off, mac) = s.split_once(':').ok_or_else(bad)?;
    let off: usize = off.parse().map_err(|_| bad())?;
    if mac != token_mac(off, account) {
        return Err(bad());
    }
    Ok(off)
}

/// Inserts each `(member, value)` whose value is present; absent ones are left out.
pub(super) fn insert_present<const N: usize>(
    m: &mut Map<String, Value>,
    members: [(&str, &Option<String>); N],
) {
    for (k, v) in members {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
}

/// The `Trail` shape. `full` adds the members GetTrail/DescribeTrails return but
/// Create/UpdateTrail do not.
pub(crate) fn trail_json(t: &Trail, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(t.name));
    m.insert("S3BucketName".into(), json!(t.s3_bucket_name));
    if let Some(p) = &t.s3_key_prefix {
        m.insert("S3KeyPrefix".into(), json!(p));
    }
    if let Some(arn) = &t.sns_topic_arn {
        let name = arn.rsplit(':').next().unwrap_or(arn);
        m.insert("SnsTopicName".into(), json!(name));
        m.insert("SnsTopicARN".into(), json!(arn));
    }
    m.insert(
        "IncludeGlobalServiceEvents".into(),
        json!(t.include_global_service_events),
    );
    m.insert("IsMultiRegionTrail".into(), json!(t.is_multi_region));
    if full {
        m.insert("HomeRegion".into(), json!(t.home_region));
    }
    m.insert("TrailARN".into(), json!(t.arn()));
    m.insert(
        "LogFileValidationEnabled".into(),
        json!(t.log_file_validation),
    );
    insert_present(
        &mut m,
        [
            (
                "CloudWatchLogsLogGroupArn",
                &t.cloud_watch_logs_log_group_arn,
            ),
            ("CloudWatchLogsRoleArn", &t.cloud_watch_logs_role_arn),
            ("KmsKeyId", &t.kms_key_id),
        ],
    );
    if full {
        m.insert(
            "HasCustomEventSelectors".into(),
            json!(t.selectors.has_custom()),
        );
        m.insert(
            "HasInsightSelectors".into(),
            json!(!t.insight_selectors.is_empty()),
        );
    }
    m.insert("IsOrganizationTrail".into(), json!(t.is_organization));
    Value::Object(m)
}
