//! Ingest against the shared real CloudTrail data and the data-driven error cases.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cairn_event::{
    AccountId, AuditEventEntry, FileError, FormatHint, IngestPolicy, ReadOptions, RecordError,
    Region, ValidRecord, read_records, read_records_with, validate_audit_event,
    validate_audit_request, validate_record,
};
use serde_json::{Map, Value};
use sha2::Digest;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail")
}

fn policy() -> IngestPolicy {
    IngestPolicy::new(AccountId::parse("111122223333").unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    gzip_level(bytes, flate2::Compression::fast())
}

fn gzip_level(bytes: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Checks that `rec` is JSON-equal to `input` except for assigned/normalised fields.
fn assert_json_equal(input: &[u8], rec: &ValidRecord) {
    let mut want: Map<String, Value> = serde_json::from_slice(input).unwrap();
    let got: Map<String, Value> = serde_json::from_slice(rec.json()).unwrap();
    let k = rec.keys();
    if rec.event_id_assigned() {
        assert!(!want.contains_key("eventID"));
        want.insert("eventID".into(), Value::String(k.event_id.clone()));
    }
    if rec.event_time_normalised() {
        want.insert(
            "eventTime".into(),
            Value::String(cairn_event::format_event_time(k.event_time)),
        );
    }
    assert_eq!(Value::Object(got.clone()), Value::Object(want.clone()));
    // member order is kept
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    assert_eq!(got_keys, want_keys);
    assert_compact(rec.json());
}

/// No whitespace outside strings.
fn assert_compact(json: &[u8]) {
    let (mut in_str, mut esc) = (false, false);
    for &b in json {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
        } else {
            assert!(
                !b" \n\r\t".contains(&b),
                "whitespace in {}",
                String::from_utf8_lossy(json)
            );
            in_str = b == b'"';
        }
    }
}

fn invictus_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data_dir().join("invictus-ir-sigma-aws"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn invictus_log_files_plain_and_gzip() {
    let policy = policy();
    let mut n = 0;
    let mut global = 0;
    let mut sts_regional = 0;
    for file in invictus_files() {
        let bytes = std::fs::read(&file).unwrap();
        let plain: Vec<_> = read_records(&bytes[..], FormatHint::Auto)
            .map(|r| r.unwrap())
            .collect();
        let gz = gzip(&bytes);
        let unzipped: Vec<_> = read_records(&gz[..], FormatHint::Auto)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(plain, unzipped, "{}", file.display());
        let whole: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(plain.len(), whole["Records"].as_array().unwrap().len());
        for (i, raw) in plain.iter().enumerate() {
            assert_eq!(raw.location.index, i as u64);
            let rec = validate_record(&raw.bytes, &policy)
                .unwrap_or_else(|e| panic!("{} {}: {e}", file.display(), raw.location));
            assert_json_equal(&raw.bytes, &rec);
            assert!(!rec.event_id_assigned() && !rec.event_time_normalised());
            let k = rec.keys();
            assert_eq!(k.recipient_account_id.as_str(), "123837392027");
            assert_eq!(k.event_category, "Management");
            if k.is_global_service_event {
                global += 1;
            }
            if k.event_source == "sts.amazonaws.com" && !k.is_global_service_event {
                sts_regional += 1;
            }
            if k.event_source == "iam.amazonaws.com" {
                assert!(k.is_global_service_event);
            }
            if k.event_source == "ec2.amazonaws.com" {
                assert!(!k.is_global_service_event);
            }
            n += 1;
        }
    }
    assert_eq!(n, 2900);
    assert!(global > 398, "{global}");
    assert!(sts_regional > 0);
}

#[test]
fn otrf_ndjson() {
    let path =
        data_dir().join("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json");
    let bytes = std::fs::read(path).unwrap();
    let policy = policy();
    let mut n = 0;
    let mut data_events = 0;
    for raw in read_records(&bytes[..], FormatHint::Auto) {
        let raw = raw.unwrap();
        assert_eq!(raw.location.line, Some(raw.location.index + 1));
        // Logstash moved eventTime into @timestamp: strict validation notices.
        let err = validate_record(&raw.bytes, &policy).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("FieldNotFound", Some("eventTime"))
        );
        // Test-only shim: put it back (RFC 3339 with milliseconds, so it is normalised).
        let mut obj: Map<String, Value> = serde_json::from_slice(&raw.bytes).unwrap();
        let ts = obj["@timestamp"].clone();
        obj.insert("eventTime".into(), ts);
        let fixed = serde_json::to_vec(&obj).unwrap();
        let rec = validate_record(&fixed, &policy).unwrap();
        assert!(rec.event_time_normalised());
        assert_json_equal(&fixed, &rec);
        let k = rec.keys();
        if obj.get("eventCategory").is_none() {
            assert_eq!(k.event_category, "Management");
            assert!(k.management_event);
        }
        if k.event_category == "Data" {
            data_events += 1;
            assert!(!k.management_event);
            assert_eq!(k.event_source, "s3.amazonaws.com");
            assert!(!k.resources.is_empty());
        }
        n += 1;
    }
    assert_eq!(n, 103);
    assert_eq!(data_events, 9);
}

#[test]
fn aws_docs_examples() {
    let path = data_dir().join("aws-docs-examples/cloudtrail_user_guide_examples.ndjson");
    let bytes = std::fs::read(path).unwrap();
    let policy = policy();
    let (mut n, mut assigned, mut insights) = (0, 0, 0);
    for raw in read_records(&bytes[..], FormatHint::Ndjson) {
        let raw = raw.unwrap();
        let line: Value = serde_json::from_slice(&raw.bytes).unwrap();
        let record = &line["record"];
        // SOURCES.md: skip the fragment with neither eventName nor eventType
        if record.get("eventName").is_none() && record.get("eventType").is_none() {
            continue;
        }
        let input = serde_json::to_vec(record).unwrap();
        let rec =
            validate_record(&input, &policy).unwrap_or_else(|e| panic!("{}: {e}", raw.location));
        assert_json_equal(&input, &rec);
        let k = rec.keys();
        if rec.event_id_assigned() {
            assigned += 1;
            assert!(uuid::Uuid::parse_str(&k.event_id).is_ok());
        }
        if k.event_type == "AwsCloudTrailInsight" {
            insights += 1;
            assert_eq!(k.event_category, "Insight");
            assert_eq!(k.event_source, record["insightDetails"]["eventSource"]);
        }
        if record.get("recipientAccountId").is_none() {
            assert!(rec.recipient_defaulted());
            assert_eq!(k.recipient_account_id.as_str(), "111122223333");
        }
        n += 1;
    }
    assert_eq!(n, 24);
    assert_eq!(assigned, 6);
    assert_eq!(insights, 3);
}

#[test]
fn ndjson_and_multi_member_gzip() {
    let path =
        data_dir().join("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json");
    let bytes = std::fs::read(path).unwrap();
    let half = bytes.len() / 2;
    let cut = half + bytes[half..].iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut two = gzip(&bytes[..cut]);
    two.extend(gzip(&bytes[cut..]));
    let a: Vec<_> = read_records(&bytes[..], FormatHint::Auto)
        .map(Result::unwrap)
        .collect();
    let b: Vec<_> = read_records(&two[..], FormatHint::Auto)
        .map(Result::unwrap)
        .collect();
    assert_eq!(a.len(), 103);
    assert_eq!(a, b);
}

#[test]
fn corrupt_gzip_is_a_fatal_io_error() {
    let file = &invictus_files()[0];
    let mut gz = gzip(&std::fs::read(file).unwrap());
    let mid = gz.len() / 2;
    gz.truncate(mid);
    let got: Vec<_> = read_records(&gz[..], FormatHint::Auto).collect();
    let last = got.last().unwrap();
    assert!(
        matches!(
            last,
            Err(FileError::Io { .. }) | Err(FileError::Syntax { .. })
        ),
        "{last:?}"
    );
    assert!(last.as_ref().unwrap_err().is_fatal());
}

#[test]
fn gzip_bomb_is_capped() {
    // 64 gzip members of 1 MiB of whitespace each inside a Records array: 64 MiB out of ~70 KiB.
    let mut bomb = gzip(b"{\"Records\":[");
    let member = gzip_level(&vec![b' '; 1 << 20], flate2::Compression::best());
    for _ in 0..64 {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
    let opts = ReadOptions::new(FormatHint::Auto).with_max_decompressed_bytes(4 << 20);
    let got: Vec<_> = read_records_with(&bomb[..], opts).collect();
    assert_eq!(got.len(), 1);
    assert!(matches!(got[0], Err(FileError::DecompressedTooLarge { limit }) if limit == 4 << 20));
    assert_eq!(ReadOptions::default().max_decompressed_bytes, 1 << 30);
    // the per-record cap stops one endless record long before the file cap
    let mut bomb = gzip(b"{\"Records\":[\"");
    let member = gzip_level(&vec![b'a'; 1 << 20], flate2::Compression::best());
    for _ in 0..8 {
        bomb.extend_from_slice(&member);
    }
    let got: Vec<_> = read_records(&bomb[..], FormatHint::Auto).collect();
    assert!(matches!(got.last(), Some(Err(e)) if e.is_fatal()));
}

// ---------------------------------------------------------------------------------------
// data-driven error cases

fn expand(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("$repeat") => {
            let args = m["$repeat"].as_array().unwrap();
            Value::String(
                args[0]
                    .as_str()
                    .unwrap()
                    .repeat(args[1].as_u64().unwrap() as usize),
            )
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), expand(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(expand).collect()),
        other => other.clone(),
    }
}

fn patch(base: &Value, case: &Value) -> Vec<u8> {
    if let Some(raw) = case.get("raw") {
        return raw.as_str().unwrap().as_bytes().to_vec();
    }
    let mut v = base.clone();
    for path in case
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let parts: Vec<&str> = path.as_str().unwrap().split('.').collect();
        let (last, parents) = parts.split_last().unwrap();
        let mut cur = &mut v;
        for p in parents {
            cur = cur.get_mut(*p).unwrap();
        }
        cur.as_object_mut().unwrap().shift_remove(*last).unwrap();
    }
    for (path, value) in case
        .get("set")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let parts: Vec<&str> = path.split('.').collect();
        let (last, parents) = parts.split_last().unwrap();
        let mut cur = &mut v;
        for p in parents {
            cur = cur.get_mut(*p).unwrap();
        }
        cur.as_object_mut()
            .unwrap()
            .insert((*last).to_owned(), expand(value));
    }
    serde_json::to_vec(&v).unwrap()
}

/// The strings of a JSON array.
fn str_items(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap())
}

fn case_policy(case: &Value) -> IngestPolicy {
    let mut p = policy();
    if let Some(pol) = case.get("policy") {
        if let Some(regions) = pol.get("regions") {
            p = p.with_regions(str_items(regions).map(|r| Region::parse(r).unwrap()));
        }
        if let Some(accts) = pol.get("allowed_accounts") {
            p = p.with_allowed_accounts(str_items(accts).map(|a| AccountId::parse(a).unwrap()));
        }
        if let Some(g) = pol.get("guid_event_ids") {
            p = p.with_guid_event_ids(g.as_bool().unwrap());
        }
    }
    p
}

fn check(name: &str, case: &Value, got: Result<ValidRecord, RecordError>) -> Option<RecordError> {
    if case.get("expect").and_then(Value::as_str) == Some("ok") {
        assert!(got.is_ok(), "{name}: {:?}", got.err());
        return None;
    }
    let Err(err) = got else {
        panic!("{name}: accepted")
    };
    assert_eq!(err.code(), case["code"].as_str().unwrap(), "{name}: {err}");
    assert_eq!(err.field(), case["field"].as_str(), "{name}: {err}");
    // messages name the field and any limit
    let msg = err.to_string();
    if let Some(f) = err.field() {
        let leaf = f.rsplit('.').next().unwrap();
        assert!(
            msg.contains(leaf)
                || f == "awsRegion"
                || f == "recipientAccountId"
                || f == "eventDataChecksum"
                || f == "eventSource",
            "{name}: {msg}"
        );
    }
    if let RecordError::FieldTooLong { limit, .. } | RecordError::EventTooLarge { limit, .. } = &err
    {
        assert!(msg.contains(&limit.to_string()), "{name}: {msg}");
    }
    Some(err)
}

fn cases() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/ingest_errors.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn record_error_cases() {
    let all = cases();
    let base = &all["base_record"];
    let mut codes = std::collections::BTreeSet::new();
    for case in all["record_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = patch(base, case);
        if let Some(e) = check(name, case, validate_record(&input, &case_policy(case))) {
            codes.insert(e.code());
        }
    }
    for code in [
        "InvalidData",
        "FieldNotFound",
        "FieldTooLong",
        "EventTooLarge",
        "InvalidRegion",
        "InvalidRecipient",
    ] {
        assert!(codes.contains(code), "no case for {code}");
    }
}

#[test]
fn audit_error_cases() {
    let all = cases();
    let base = &all["base_event_data"];
    let owner = AccountId::parse(all["channel_owner"].as_str().unwrap()).unwrap();
    let now = time::macros::datetime!(2025-03-04 05:13:00 UTC);
    let aws_codes = [
        "FieldTooLong",
        "FieldNotFound",
        "InvalidChecksum",
        "InvalidData",
        "InvalidRecipient",
        "InvalidEventSource",
        "AccountNotSubscribed",
    ];
    let mut codes = std::collections::BTreeSet::new();
    for case in all["audit_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let data = String::from_utf8(patch(base, case)).unwrap();
        let checksum = case.get("checksum").map(|c| match c.as_str().unwrap() {
            "good" => base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&data)),
            other => other.to_owned(),
        });
        let entry = AuditEventEntry {
            id: "e1".into(),
            event_data: data,
            event_data_checksum: checksum,
        };
        let arn = case
            .get("channel_arn")
            .or(all.get("channel_arn"))
            .unwrap()
            .as_str()
            .unwrap();
        let got = validate_audit_event(&entry, &owner, arn, &case_policy(case), now);
        if let Some(e) = check(name, case, got) {
            codes.insert(e.code());
            let audit = e.audit_error_code();
            assert!(aws_codes.contains(&audit), "{name}: {audit}");
            if let Some(want) = case.get("audit_code") {
                assert_eq!(audit, want.as_str().unwrap(), "{name}");
            }
        }
    }
    for code in [
        "InvalidChecksum",
        "InvalidRecipient",
        "InvalidEventSource",
        "FieldNotFound",
        "FieldTooLong",
        "InvalidData",
    ] {
        assert!(codes.contains(code), "no case for {code}");
    }
}

#[test]
fn audit_event_record_shape() {
    let all = cases();
    let owner = AccountId::parse("111122223333").unwrap();
    let arn = all["channel_arn"].as_str().unwrap();
    let data = serde_json::to_string_pretty(&all["base_event_data"]).unwrap();
    let entry = AuditEventEntry {
        id: "e1".into(),
        event_data: data.clone(),
        event_data_checksum: None,
    };
    let now = time::macros::datetime!(2025-03-04 05:13:00 UTC);
    let rec = validate_audit_event(&entry, &owner, arn, &policy(), now).unwrap();
    let v: Map<String, Value> = serde_json::from_slice(rec.json()).unwrap();
    let keys: Vec<_> = v.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "eventVersion",
            "eventCategory",
            "eventType",
            "eventID",
            "eventTime",
            "awsRegion",
            "recipientAccountId",
            "metadata",
            "eventData"
        ]
    );
    assert_eq!(v["eventCategory"], "ActivityAuditLog");
    assert_eq!(v["eventType"], "ActivityLog");
    assert_eq!(v["awsRegion"], "us-east-2");
    assert_eq!(v["eventTime"], "2025-03-04T05:12:44Z");
    assert_eq!(v["metadata"]["ingestionTime"], "2025-03-04T05:13:00Z");
    assert_eq!(v["metadata"]["channelARN"], arn);
    assert_eq!(v["eventData"], all["base_event_data"]);
    assert_eq!(v["eventID"], rec.keys().event_id.as_str());
    let k = rec.keys();
    assert_eq!(
        (k.event_source.as_str(), k.event_name.as_str()),
        ("app.example.com", "DeleteWidget")
    );
    assert_eq!(k.error_code.as_deref(), Some("Denied"));
    assert_eq!(k.user_identity_type.as_deref(), Some("CustomUser"));
    assert!(rec.event_id_assigned());
    // the stored record passes validate_record with the same keys (journal replay)
    let again = validate_record(rec.json(), &policy()).unwrap();
    assert_eq!(again.json(), rec.json());
    assert_eq!(again.keys(), rec.keys());
}

#[test]
fn audit_request_checks() {
    let e = |id: &str| AuditEventEntry {
        id: id.into(),
        event_data: "{}".into(),
        event_data_checksum: None,
    };
    assert!(validate_audit_request(&[e("a")]).is_ok());
    assert_eq!(
        validate_audit_request(&[]).unwrap_err().code(),
        "ValidationException"
    );
    let many: Vec<_> = (0..101).map(|i| e(&format!("id{i}"))).collect();
    assert!(validate_audit_request(&many[..100]).is_ok());
    assert!(matches!(
        validate_audit_request(&many),
        Err(cairn_event::AuditRequestError::EntryCount { count: 101 })
    ));
    assert!(matches!(
        validate_audit_request(&[e("a"), e("b c")]),
        Err(cairn_event::AuditRequestError::InvalidId { .. })
    ));
    let err = validate_audit_request(&[e("a"), e("b"), e("a")]).unwrap_err();
    assert_eq!(err.code(), "DuplicatedAuditEventId");
    let big = AuditEventEntry {
        id: "a".into(),
        event_data: "x".repeat(600_000),
        event_data_checksum: None,
    };
    let big2 = AuditEventEntry {
        id: "b".into(),
        ..big.clone()
    };
    assert!(matches!(
        validate_audit_request(&[big, big2]),
        Err(cairn_event::AuditRequestError::RequestTooLarge { .. })
    ));
}
