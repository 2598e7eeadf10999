//! Property tests: the compiled matcher agrees with the naive oracle on
//! random selector sets (valid or not) and random events over a small
//! alphabet; basic selectors agree with their advanced equivalents;
//! serialisation round-trips.

use cairn_select::{
    AdvancedEventSelector, AdvancedFieldSelector, CompiledSelectors, Context, DataResource,
    EventSelector, EventView, ReadWriteType, Selectors, naive,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const WORDS: &[&str] = &[
    "",
    "a",
    "ab",
    "abc",
    "b",
    "ba",
    "bab",
    "Management",
    "Data",
    "NetworkActivity",
    "Insight",
    "true",
    "false",
    "arn:aws:s3",
    "arn:aws:s3:::",
    "arn:aws:s3:::b/",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::bb/k",
    "arn:aws:lambda",
    "arn:aws:lambda:f",
    "arn:aws:dynamodb",
    "arn:aws:dynamodb:t",
    "AWS::S3::Object",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "kms.amazonaws.com",
    "s3.amazonaws.com",
];

const FIELDS: &[&str] = &[
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "userIdentity.arn",
    "sessionCredentialFromConsole",
    "errorCode",
    "vpcEndpointId",
    "resources.type",
    "resources.ARN",
    "resources.foo",
    "bogus",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        2 => "[ab]{0,3}",
        1 => "arn:aws:s3:::[ab]{0,2}/?[ab]{0,2}",
    ]
}

fn list() -> impl Strategy<Value = Option<Vec<String>>> {
    prop_oneof![
        4 => Just(None),
        3 => proptest::collection::vec(word(), 0..4).prop_map(Some),
        1 => proptest::collection::vec(word(), 9..14).prop_map(Some),
    ]
}

fn field_selector() -> impl Strategy<Value = AdvancedFieldSelector> {
    (
        proptest::sample::select(FIELDS),
        list(),
        list(),
        list(),
        list(),
        list(),
        list(),
    )
        .prop_map(|(f, eq, sw, ew, neq, nsw, new)| AdvancedFieldSelector {
            field: f.to_owned(),
            equals: eq,
            starts_with: sw,
            ends_with: ew,
            not_equals: neq,
            not_starts_with: nsw,
            not_ends_with: new,
        })
}

fn advanced() -> impl Strategy<Value = Selectors> {
    proptest::collection::vec(
        proptest::collection::vec(field_selector(), 0..5).prop_map(|fs| AdvancedEventSelector {
            name: None,
            field_selectors: fs,
        }),
        0..4,
    )
    .prop_map(Selectors::Advanced)
}

fn basic() -> impl Strategy<Value = Selectors> {
    let rw = prop_oneof![
        Just(ReadWriteType::All),
        Just(ReadWriteType::ReadOnly),
        Just(ReadWriteType::WriteOnly)
    ];
    let dr = (
        proptest::sample::select(&WORDS[22..26]),
        prop_oneof![
            3 => proptest::collection::vec(word(), 0..4),
            1 => proptest::collection::vec(word(), 9..12),
        ],
    )
        .prop_map(|(t, values)| DataResource {
            r#type: t.to_owned(),
            values,
        });
    let sel = (
        rw,
        any::<bool>(),
        proptest::collection::vec(dr, 0..4),
        proptest::collection::vec(word(), 0..3),
    )
        .prop_map(|(rw, inc, drs, ex)| EventSelector {
            read_write_type: rw,
            include_management_events: inc,
            data_resources: drs,
            exclude_management_event_sources: ex,
        });
    proptest::collection::vec(sel, 0..4).prop_map(Selectors::Basic)
}

fn opt_word() -> impl Strategy<Value = Option<String>> {
    prop_oneof![1 => Just(None), 3 => word().prop_map(Some)]
}

fn resource() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (opt_word(), opt_word(), any::<bool>()).prop_map(|(t, a, prefix)| {
            let mut m = Map::new();
            if let Some(t) = t {
                m.insert("type".into(), Value::String(t));
            }
            if let Some(a) = a {
                m.insert(if prefix { "ARNPrefix" } else { "ARN" }.into(), Value::String(a));
            }
            Value::Object(m)
        }),
        1 => Just(json!(17)),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    (
        (opt_word(), opt_word(), opt_word(), opt_word()),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        ),
        (
            opt_word(),
            prop_oneof![
                Just(None),
                Just(Some(json!("true"))),
                Just(Some(json!(false)))
            ],
        ),
        (opt_word(), opt_word()),
        proptest::option::of(proptest::collection::vec(resource(), 0..4)),
    )
        .prop_map(
            |((cat, src, name, ty), (ro, mgmt), (uarn, console), (err, vpce), res)| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                };
                put("eventCategory", cat.map(Value::String));
                put("eventSource", src.map(Value::String));
                put("eventName", name.map(Value::String));
                put("eventType", ty.map(Value::String));
                put("readOnly", ro.map(Value::Bool));
                put("managementEvent", mgmt.map(Value::Bool));
                put("userIdentity", uarn.map(|a| json!({"arn": a})));
                put("sessionCredentialFromConsole", console);
                put("errorCode", err.map(Value::String));
                put("vpcEndpointId", vpce.map(Value::String));
                put("resources", res.map(Value::Array));
                Value::Object(m)
            },
        )
}

fn nonempty_word() -> impl Strategy<Value = String> {
    word().prop_filter("non-empty", |w| !w.is_empty())
}

fn nonempty_list() -> impl Strategy<Value = Option<Vec<String>>> {
    prop_oneof![
        2 => Just(None),
        1 => proptest::collection::vec(nonempty_word(), 1..4).prop_map(Some),
    ]
}

/// Mostly valid selectors (event data store rules): a category, the
/// required fields, and a few optional conditions.
fn valid_advanced() -> impl Strategy<Value = Selectors> {
    let extra = (
        proptest::sample::select(
            &[
                "eventName",
                "eventSource",
                "userIdentity.arn",
                "resources.ARN",
                "eventType",
            ][..],
        ),
        nonempty_list(),
        nonempty_list(),
        nonempty_list(),
        nonempty_list(),
    )
        .prop_map(|(f, eq, sw, nsw, new)| AdvancedFieldSelector {
            field: f.to_owned(),
            equals: eq.filter(|_| f != "resources.ARN"),
            starts_with: sw,
            not_starts_with: nsw,
            not_ends_with: new,
            ..Default::default()
        });
    let one = (
        any::<bool>(),
        proptest::sample::select(&WORDS[22..26]),
        proptest::option::of(proptest::sample::select(&["true", "false"][..])),
        proptest::collection::vec(extra, 0..3),
    )
        .prop_map(|(data, ty, ro, extra)| {
            let mut fs = vec![AdvancedFieldSelector::equals(
                "eventCategory",
                [if data { "Data" } else { "Management" }],
            )];
            if data {
                fs.push(AdvancedFieldSelector::equals("resources.type", [ty]));
            }
            if let Some(ro) = ro {
                fs.push(AdvancedFieldSelector::equals("readOnly", [ro]));
            }
            fs.extend(
                extra
                    .into_iter()
                    .filter(|f| data || f.field != "resources.ARN"),
            );
            AdvancedEventSelector {
                name: Some("p".into()),
                field_selectors: fs,
            }
        });
    proptest::collection::vec(one, 1..4).prop_map(Selectors::Advanced)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn advanced_compiled_equals_naive(s in advanced(), events in proptest::collection::vec(event(), 1..8)) {
        let c = CompiledSelectors::compile(&s);
        for e in &events {
            prop_assert_eq!(c.matches(&EventView::from_record(e)), naive::matches(&s, e), "event {}", e);
        }
    }

    #[test]
    fn basic_compiled_equals_naive_and_advanced(s in basic(), events in proptest::collection::vec(event(), 1..8)) {
        let c = CompiledSelectors::compile(&s);
        let adv = s.to_advanced();
        let ca = CompiledSelectors::compile(&adv);
        let Selectors::Basic(b) = &s else { unreachable!() };
        for e in &events {
            let got = c.matches(&EventView::from_record(e));
            prop_assert_eq!(got, naive::matches(&s, e), "event {}", e);
            // to_advanced drops an excluded "" source (inexpressible); it only
            // matters for an event whose eventSource is "".
            let empty_source_corner = e.get("eventSource") == Some(&json!(""))
                && b.iter().any(|x| x.exclude_management_event_sources.iter().any(String::is_empty));
            if !empty_source_corner {
                prop_assert_eq!(got, ca.matches(&EventView::from_record(e)), "to_advanced, event {}", e);
            }
        }
    }

    #[test]
    fn serde_round_trips_and_validation_is_total(s in prop_oneof![advanced(), basic()]) {
        let text = serde_json::to_string(&s).unwrap();
        let back: Selectors = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &s);
        let _ = s.validate(Context::Trail);
        let _ = s.validate(Context::EventDataStore);
        let _ = s.has_custom();
        let _ = s.selects_data_events();
    }

    #[test]
    fn compiled_valid_selectors_agree(events in proptest::collection::vec(event(), 1..8), s in valid_advanced()) {
        // Restrict to sets that validate: the same agreement must hold.
        prop_assume!(s.validate(Context::EventDataStore).is_ok() || s.validate(Context::Trail).is_ok());
        let c = CompiledSelectors::compile(&s);
        for e in &events {
            prop_assert_eq!(c.matches(&EventView::from_record(e)), naive::matches(&s, e));
        }
    }
}
