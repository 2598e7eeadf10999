//! The 14 Security Hub CIS metric filters against every real CloudTrail record
//! in `shared/data/cloudtrail`, compared with independently computed
//! expectations (`tests/data/cis_expected.json`).

use std::collections::BTreeSet;

use cairn_pattern::{FilterPattern, PreparedEvent, naive};
use serde_json::Value;

mod common;

type Key = (String, usize, Option<String>);

/// (file relative to cloudtrail/, index, raw JSON text, parsed record), loaded once.
fn records() -> &'static [(String, usize, String, Value)] {
    static RECORDS: std::sync::OnceLock<Vec<(String, usize, String, Value)>> =
        std::sync::OnceLock::new();
    RECORDS.get_or_init(common::load_records)
}

fn patterns() -> Vec<(String, String)> {
    let v = common::cis_filters();
    v["security_hub_cis_metric_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["security_hub_control"].as_str().unwrap().to_string(),
                c["filter_pattern"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cis_expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn matches_of(fp: &FilterPattern, recs: &[(String, usize, String, Value)]) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for (file, i, raw, rec) in recs {
        let prepared = PreparedEvent::with_json(raw, rec.clone());
        let hit = fp.matches_prepared(&prepared);
        assert_eq!(hit, fp.matches_json(rec, raw));
        assert_eq!(hit, fp.matches(raw), "{file}#{i}");
        assert_eq!(
            hit,
            naive::matches_json(fp.ast(), rec, raw),
            "naive: {file}#{i}"
        );
        if hit {
            out.insert((
                file.clone(),
                *i,
                rec.get("eventID")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ));
        }
    }
    out
}

#[test]
fn cis_patterns_match_exactly_the_expected_records() {
    let recs = records();
    assert_eq!(
        recs.len(),
        3027,
        "record count of shared/data/cloudtrail changed"
    );
    let exp = expected();
    let pats = patterns();
    assert_eq!(pats.len(), 14);
    for (control, pattern) in &pats {
        let fp = FilterPattern::parse(pattern).unwrap_or_else(|e| panic!("{control}: {e}"));
        let got = matches_of(&fp, recs);
        let want: BTreeSet<Key> = exp["controls"][control]
            .as_array()
            .unwrap_or_else(|| panic!("no expectation for {control}"))
            .iter()
            .map(|m| {
                (
                    m["file"].as_str().unwrap().to_string(),
                    m["index"].as_u64().unwrap() as usize,
                    m["eventID"].as_str().map(str::to_string),
                )
            })
            .collect();
        assert_eq!(got, want, "{control}: {pattern}");
    }
}

#[test]
fn root_usage_hits_are_root_without_invoked_by() {
    let recs = records();
    let fp = FilterPattern::parse(&patterns()[0].1).unwrap();
    let mut n = 0;
    for (_, _, raw, rec) in recs {
        if fp.matches(raw) {
            n += 1;
            assert_eq!(rec["userIdentity"]["type"], "Root");
            assert!(rec["userIdentity"].get("invokedBy").is_none());
            assert_ne!(rec["eventType"], "AwsServiceEvent");
        }
    }
    assert_eq!(n, 5);
}

#[test]
fn unauthorized_calls_fire_on_the_invictus_errors() {
    // SOURCES.md: 44 Client.UnauthorizedOperation and 16 AccessDenied records.
    let recs = records();
    let fp = FilterPattern::parse(&patterns()[1].1).unwrap();
    let hits: Vec<_> = recs
        .iter()
        .filter(|r| r.0.starts_with("invictus") && fp.matches(&r.2))
        .collect();
    let unauth = hits
        .iter()
        .filter(|r| r.3["errorCode"] == "Client.UnauthorizedOperation")
        .count();
    let denied = hits
        .iter()
        .filter(|r| r.3["errorCode"] == "AccessDenied")
        .count();
    assert_eq!((unauth, denied, hits.len()), (44, 16, 60));
}

#[test]
fn cloudtrail_guide_alarm_filters_agree_with_their_cis_counterparts() {
    let v = common::cis_filters();
    let guide: Vec<&str> = v["cloudtrail_user_guide_alarm_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["filter_pattern"].as_str().unwrap())
        .collect();
    let pats = patterns();
    let recs = records();
    // security groups ↔ CloudWatch.10, sign-in failures ↔ CloudWatch.6, IAM policy ↔ CloudWatch.4.
    for (g, control) in guide
        .iter()
        .zip(["CloudWatch.10", "CloudWatch.6", "CloudWatch.4"])
    {
        let cis = &pats.iter().find(|p| p.0 == control).unwrap().1;
        let a = matches_of(&FilterPattern::parse(g).unwrap(), recs);
        let b = matches_of(&FilterPattern::parse(cis).unwrap(), recs);
        assert_eq!(a, b, "{g} vs {control}");
        assert!(!a.is_empty());
    }
}
