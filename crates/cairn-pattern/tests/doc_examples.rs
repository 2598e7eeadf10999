//! Walks `shared/data/cloudwatch_filter_patterns/filter_pattern_doc_examples.json`
//! (every documented example with a stated result) and checks each case, with
//! the compiled matcher and the naive interpreter.

use std::collections::BTreeMap;

use cairn_pattern::{FilterPattern, MetricOutcome, MetricTransformation, naive};
use serde_json::Value;

/// Cases skipped on purpose, with the reason.
const SKIPPED: &[(&str, &str)] = &[(
    "space-w1-not",
    "marked doubtful: the 2021 doc claims `[w1!=ERROR&&w1!=WARN, w2]` matches `ERROR WARN message`, \
     which contradicts its own condition; the 2022 doc only says it returns events whose first word \
     is neither ERROR nor WARN",
)];

fn data() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cloudwatch_filter_patterns/filter_pattern_doc_examples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read doc examples")).expect("json")
}

fn transformation(value: &str, dims: Option<&Value>) -> MetricTransformation {
    MetricTransformation {
        metric_name: "m".into(),
        metric_namespace: "ns".into(),
        metric_value: value.into(),
        default_value: None,
        dimensions: dims
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[test]
fn every_documented_case() {
    let d = data();
    let cases = d["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 39, "the data file documents 39 cases");
    let mut checked = 0;
    let mut skipped = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap();
        if case.get("doubtful").and_then(Value::as_bool) == Some(true) {
            assert!(
                SKIPPED.iter().any(|(s, _)| *s == id),
                "doubtful case {id} must be listed in SKIPPED"
            );
            skipped.push(id);
            continue;
        }
        let pattern = case["pattern"].as_str().unwrap();
        let fp = FilterPattern::parse(pattern).unwrap_or_else(|e| panic!("{id}: {pattern}: {e}"));
        let events = case["events"].as_array().unwrap();
        let expected = case["expected_match"].as_array().unwrap();
        assert_eq!(events.len(), expected.len(), "{id}");
        let mut matching = Vec::new();
        for (ev, exp) in events.iter().zip(expected) {
            let ev = ev.as_str().unwrap();
            let exp = exp.as_bool().unwrap();
            assert_eq!(fp.matches(ev), exp, "{id}: {pattern} on {ev}");
            assert_eq!(
                naive::matches(fp.ast(), ev),
                exp,
                "{id} (naive): {pattern} on {ev}"
            );
            if exp {
                matching.push(ev);
            }
        }
        if let Some(fields) = case.get("expected_fields").and_then(Value::as_array) {
            for (ev, want) in matching.iter().zip(fields) {
                let want: BTreeMap<String, String> = serde_json::from_value(want.clone()).unwrap();
                assert_eq!(
                    fp.extracted_values(ev).as_ref(),
                    Some(&want),
                    "{id}: extracted values"
                );
                assert_eq!(
                    naive::extract(fp.ast(), ev).as_ref(),
                    Some(&want),
                    "{id}: naive extracted values"
                );
            }
        }
        if let Some(dims) = case.get("expected_dimensions").and_then(Value::as_array) {
            let ex = transformation("1", case.get("dimensions"))
                .compile(&fp)
                .unwrap();
            for (ev, want) in matching.iter().zip(dims) {
                let want: BTreeMap<String, String> = serde_json::from_value(want.clone()).unwrap();
                let MetricOutcome::Datum(datum) = ex.apply(&fp, ev) else {
                    panic!("{id}: no datum")
                };
                assert_eq!(datum.dimensions, want, "{id}: dimensions");
                assert_eq!(datum.value, 1.0);
            }
        }
        if let Some(values) = case.get("expected_metric_values").and_then(Value::as_array) {
            let ex = transformation(case["metric_value"].as_str().unwrap(), None)
                .compile(&fp)
                .unwrap();
            for (ev, want) in matching.iter().zip(values) {
                let MetricOutcome::Datum(datum) = ex.apply(&fp, ev) else {
                    panic!("{id}: no datum")
                };
                assert_eq!(datum.value, want.as_f64().unwrap(), "{id}: metric value");
            }
        }
        checked += 1;
    }
    assert_eq!(skipped, SKIPPED.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    assert_eq!(checked, 38);
}

#[test]
fn syntax_only_patterns_parse() {
    let d = data();
    for p in d["syntax_only"]["patterns"].as_array().unwrap() {
        let p = p.as_str().unwrap();
        FilterPattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn documented_apache_line_with_ellipsis_extracts_positional_fields() {
    // 2021 guide: `[..., request=*.html*, status_code=4*,]` extracts $1..$4 and $7.
    let fp = FilterPattern::parse("[..., request=*.html*, status_code=4*,]").unwrap();
    let line = "127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET /products/index.html HTTP/1.0\" 404 1534";
    let got = fp.extracted_values(line).unwrap();
    let want: BTreeMap<String, String> = [
        ("$status_code", "404"),
        ("$request", "GET /products/index.html HTTP/1.0"),
        ("$7", "1534"),
        ("$4", "10/Oct/2000:13:25:15 -0700"),
        ("$3", "frank"),
        ("$2", "-"),
        ("$1", "127.0.0.1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want);
}
