//! Data-driven selector tests: every `tests/cases/match_*.json` (selector set,
//! events, expected result) and `tests/cases/validation*.json` (selector set,
//! context, expected error substring or null).

use std::path::{Path, PathBuf};

use cairn_select::{
    AdvancedEventSelector, AdvancedFieldSelector, CompiledSelectors, Context, DataResource,
    EventSelector, EventView, Selectors, naive,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Deserialize)]
struct MatchGroup {
    description: String,
    selectors: Selectors,
    cases: Vec<MatchCase>,
}

#[derive(Deserialize)]
struct MatchCase {
    name: String,
    event: Value,
    expected: bool,
}

#[derive(Deserialize)]
struct ValidationCase {
    name: String,
    context: String,
    selectors: Selectors,
    error: Option<String>,
}

fn case_files(prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {prefix}*.json case files");
    files
}

/// The entries of every `tests/cases/<prefix>*.json` file, each list with its file name.
fn load_cases<T: DeserializeOwned>(prefix: &str) -> Vec<(String, Vec<T>)> {
    case_files(prefix)
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let entries =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            (name, entries)
        })
        .collect()
}

/// Fails listing every failure, or when fewer than `min` cases were checked.
fn assert_all_passed(failures: &[String], checked: usize, min: usize, what: &str) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= min, "only {checked} {what} cases");
}

#[test]
fn match_cases() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (file, groups) in load_cases::<MatchGroup>("match_") {
        for g in groups {
            let compiled = CompiledSelectors::compile(&g.selectors);
            let advanced = g.selectors.to_advanced();
            let compiled_adv = CompiledSelectors::compile(&advanced);
            for c in &g.cases {
                let view = EventView::from_record(&c.event);
                let got_compiled = compiled.matches(&view);
                let got_naive = naive::matches(&g.selectors, &c.event);
                let got_adv = compiled_adv.matches(&view);
                let got_adv_naive = naive::matches(&advanced, &c.event);
                if [got_compiled, got_naive, got_adv, got_adv_naive] != [c.expected; 4] {
                    failures.push(format!(
                        "{} / {} / {}: expected {}, compiled {got_compiled}, naive {got_naive}, to_advanced compiled {got_adv}, to_advanced naive {got_adv_naive}",
                        file,
                        g.description,
                        c.name,
                        c.expected
                    ));
                }
                checked += 1;
            }
        }
    }
    assert_all_passed(&failures, checked, 60, "match");
}

#[test]
fn match_case_selectors_are_valid() {
    // Every selector set used in the match cases is one AWS would accept
    // (in an event data store if it uses EDS-only categories).
    for (_, groups) in load_cases::<MatchGroup>("match_") {
        for g in groups {
            let ok = g.selectors.validate(Context::Trail).is_ok()
                || g.selectors.validate(Context::EventDataStore).is_ok();
            assert!(
                ok,
                "{}: {:?}",
                g.description,
                g.selectors.validate(Context::Trail)
            );
            if g.selectors.is_basic() {
                // The advanced equivalent of valid basic selectors is valid too.
                g.selectors.to_advanced().validate(Context::Trail).unwrap();
            }
        }
    }
}

#[test]
fn validation_cases() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (_, cases) in load_cases::<ValidationCase>("validation") {
        for c in cases {
            let ctx = match c.context.as_str() {
                "Trail" => Context::Trail,
                "EventDataStore" => Context::EventDataStore,
                other => panic!("{}: unknown context {other}", c.name),
            };
            let got = c.selectors.validate(ctx);
            match (&c.error, &got) {
                (None, Ok(())) => {}
                (Some(want), Err(e)) if e.to_string().contains(want.as_str()) => {}
                _ => failures.push(format!(
                    "{}: expected {:?}, got {:?}",
                    c.name,
                    c.error,
                    got.map_err(|e| e.to_string())
                )),
            }
            checked += 1;
        }
    }
    assert_all_passed(&failures, checked, 50, "validation");
}

fn s3_selector(n: usize, tag: &str) -> EventSelector {
    EventSelector {
        data_resources: vec![DataResource {
            r#type: "AWS::S3::Object".into(),
            values: (0..n).map(|i| format!("arn:aws:s3:::{tag}-{i}/")).collect(),
        }],
        ..Default::default()
    }
}

#[test]
fn data_resource_quota() {
    // 5 × 50 is fine, 5 × 100 is not (spec §2.1).
    let ok = Selectors::Basic((0..5).map(|i| s3_selector(50, &i.to_string())).collect());
    ok.validate(Context::Trail).unwrap();
    let bad = Selectors::Basic((0..5).map(|i| s3_selector(100, &i.to_string())).collect());
    let e = bad.validate(Context::Trail).unwrap_err().to_string();
    assert!(
        e.contains("500 data resources in total; the maximum is 250"),
        "{e}"
    );
    // 250 in one selector is fine; 251 is not.
    Selectors::Basic(vec![s3_selector(250, "a")])
        .validate(Context::Trail)
        .unwrap();
    let e = Selectors::Basic(vec![s3_selector(251, "a")])
        .validate(Context::Trail)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("EventSelectors[0] has 251 data resources; the maximum is 250 per selector"),
        "{e}"
    );
    // Values selecting all of a type do not count.
    let mut s = s3_selector(250, "a");
    s.data_resources.push(DataResource {
        r#type: "AWS::S3::Object".into(),
        values: vec!["arn:aws:s3".into(), "arn:aws:s3:::".into()],
    });
    s.data_resources.push(DataResource {
        r#type: "AWS::Lambda::Function".into(),
        values: vec!["arn:aws:lambda".into()],
    });
    s.data_resources.push(DataResource {
        r#type: "AWS::DynamoDB::Table".into(),
        values: vec!["arn:aws:dynamodb".into()],
    });
    Selectors::Basic(vec![s]).validate(Context::Trail).unwrap();
}

fn value_selector(n: usize) -> AdvancedEventSelector {
    AdvancedEventSelector {
        name: None,
        field_selectors: vec![
            AdvancedFieldSelector::equals("eventCategory", ["Data"]),
            AdvancedFieldSelector::equals("resources.type", ["AWS::S3::Object"]),
            AdvancedFieldSelector {
                field: "resources.ARN".into(),
                starts_with: Some((0..n).map(|i| format!("arn:aws:s3:::b/{i}")).collect()),
                ..Default::default()
            },
        ],
    }
}

#[test]
fn advanced_value_quota() {
    // Each selector has 2 fixed values plus n; 5 × (2 + 98) = 500.
    let ok = Selectors::Advanced((0..5).map(|_| value_selector(98)).collect());
    assert_eq!(ok.advanced_value_count(), 500);
    ok.validate(Context::EventDataStore).unwrap();
    ok.validate(Context::Trail).unwrap();
    let bad = Selectors::Advanced(
        (0..5)
            .map(|i| value_selector(98 + usize::from(i == 4)))
            .collect(),
    );
    let e = bad.validate(Context::Trail).unwrap_err().to_string();
    assert!(
        e.contains("501 values in total across all conditions; the maximum is 500"),
        "{e}"
    );
}

#[test]
fn length_limits() {
    let mut s = value_selector(1);
    s.name = Some("n".repeat(1000));
    Selectors::Advanced(vec![s.clone()])
        .validate(Context::Trail)
        .unwrap();
    s.name = Some("n".repeat(1001));
    let e = Selectors::Advanced(vec![s.clone()])
        .validate(Context::Trail)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("AdvancedEventSelectors[0].Name has 1001 characters; the maximum is 1000"),
        "{e}"
    );
    s.name = None;
    s.field_selectors[2].starts_with =
        Some(vec![format!("arn:aws:s3:::b/{}", "k".repeat(2048 - 15))]);
    Selectors::Advanced(vec![s.clone()])
        .validate(Context::Trail)
        .unwrap();
    s.field_selectors[2].starts_with =
        Some(vec![format!("arn:aws:s3:::b/{}", "k".repeat(2049 - 15))]);
    let e = Selectors::Advanced(vec![s])
        .validate(Context::Trail)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("StartsWith value of 2049 characters is not valid"),
        "{e}"
    );
}
