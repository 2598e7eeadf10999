//! Property tests: the ingest parsers never panic, and valid records round-trip.

use std::io::Write;

use cairn_event::{AccountId, FormatHint, IngestPolicy, read_records, validate_record};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn policy() -> IngestPolicy {
    IngestPolicy::new(AccountId::parse("111122223333").unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Arbitrary JSON values of bounded size, strings with any characters.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn record()(
        name in "[A-Z][A-Za-z]{2,30}",
        service in "[a-z][a-z0-9-]{1,20}",
        region in prop::sample::select(vec!["us-east-1", "us-east-2", "eu-west-1", "ap-southeast-2"]),
        account in "[0-9]{12}",
        secs in 0i64..4_000_000_000,
        read_only in proptest::option::of(any::<bool>()),
        ua in proptest::option::of(".{0,40}"),
        params in proptest::option::of(any_json()),
        extra in prop::collection::vec(("x[A-Za-z]{1,10}", any_json()), 0..3),
        user in "[a-z]{1,10}",
        with_id in any::<bool>(),
    ) -> Map<String, Value> {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let mut m = Map::new();
        m.insert("eventVersion".into(), json!("1.08"));
        m.insert("userIdentity".into(), json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/{user}")}));
        m.insert("eventTime".into(), json!(cairn_event::format_event_time(t)));
        m.insert("eventSource".into(), json!(format!("{service}.amazonaws.com")));
        m.insert("eventName".into(), json!(name));
        m.insert("awsRegion".into(), json!(region));
        m.insert("sourceIPAddress".into(), json!("203.0.113.9"));
        if let Some(ua) = ua { m.insert("userAgent".into(), json!(ua)); }
        let params = match params { Some(Value::Object(o)) => Value::Object(o), _ => Value::Null };
        m.insert("requestParameters".into(), params);
        m.insert("responseElements".into(), Value::Null);
        if with_id { m.insert("eventID".into(), json!(uuid::Uuid::new_v4().to_string())); }
        if let Some(r) = read_only { m.insert("readOnly".into(), json!(r)); }
        m.insert("eventType".into(), json!("AwsApiCall"));
        m.insert("recipientAccountId".into(), json!(account));
        for (k, v) in extra { m.insert(k, v); }
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let policy = policy();
        let _ = validate_record(&bytes, &policy);
        for hint in [FormatHint::Auto, FormatHint::Records, FormatHint::Ndjson] {
            for input in [bytes.clone(), gzip(&bytes)] {
                for raw in read_records(&input[..], hint).take(1000).flatten() {
                    let _ = validate_record(&raw.bytes, &policy);
                }
            }
        }
    }

    #[test]
    fn json_shaped_noise_never_panics(v in any_json(), wrap in any::<bool>()) {
        let text = if wrap { json!({"Records": [v.clone(), v]}).to_string() } else { v.to_string() };
        for raw in read_records(text.as_bytes(), FormatHint::Auto).flatten() {
            let _ = validate_record(&raw.bytes, &policy());
        }
    }

    #[test]
    fn valid_records_round_trip(recs in prop::collection::vec(record(), 1..5), pretty in any::<bool>(), gz in any::<bool>()) {
        let policy = policy().add_regions([cairn_event::Region::parse("eu-west-1").unwrap()]);
        let file = json!({"Records": recs.iter().cloned().map(Value::Object).collect::<Vec<_>>()});
        let mut bytes = if pretty { serde_json::to_vec_pretty(&file).unwrap() } else { serde_json::to_vec(&file).unwrap() };
        if gz { bytes = gzip(&bytes); }
        let raws: Vec<_> = read_records(&bytes[..], FormatHint::Auto).map(Result::unwrap).collect();
        prop_assert_eq!(raws.len(), recs.len());
        for (raw, input) in raws.iter().zip(&recs) {
            let rec = validate_record(&raw.bytes, &policy).unwrap();
            let mut want = input.clone();
            if rec.event_id_assigned() {
                prop_assert!(!input.contains_key("eventID"));
                want.insert("eventID".into(), json!(rec.keys().event_id));
            }
            prop_assert!(!rec.event_time_normalised());
            let got: Map<String, Value> = serde_json::from_slice(rec.json()).unwrap();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
            let want_bytes = serde_json::to_vec(&want).unwrap();
            prop_assert_eq!(rec.json(), want_bytes.as_slice());
            let k = rec.keys();
            prop_assert_eq!(&k.event_name, input["eventName"].as_str().unwrap());
            prop_assert_eq!(k.aws_region.as_str(), input["awsRegion"].as_str().unwrap());
            prop_assert_eq!(k.read_only, input.get("readOnly").and_then(Value::as_bool));
            prop_assert_eq!(cairn_event::format_event_time(k.event_time), input["eventTime"].as_str().unwrap());
            // validating the output again changes nothing
            let again = validate_record(rec.json(), &policy).unwrap();
            prop_assert_eq!(again.json(), rec.json());
            prop_assert_eq!(again.keys(), rec.keys());
        }
    }
}
