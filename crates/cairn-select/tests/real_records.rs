//! Every real record of the shared corpus through several selector sets:
//! the compiled matcher must agree with the naive oracle (and basic selectors
//! with their advanced equivalents), plus known-answer counts.

mod common;

use cairn_select::{CompiledSelectors, Context, EventView, Selectors, naive};
use serde_json::Value;

fn sel(json: &str) -> Selectors {
    serde_json::from_str(json).unwrap()
}

fn selector_sets() -> Vec<(&'static str, Selectors)> {
    let many_names: Vec<String> = (0..100).map(|i| format!("\"Describe{i}\"")).collect();
    let big = format!(
        r#"{{"AdvancedEventSelectors":[{{"FieldSelectors":[
            {{"Field":"eventCategory","Equals":["Management"]}},
            {{"Field":"eventName","StartsWith":["Describe","List","Get"],"NotEquals":[{}],"NotEndsWith":["Tags","Policy"]}},
            {{"Field":"userIdentity.arn","NotStartsWith":["arn:aws:sts::123837392027:assumed-role/AWSServiceRole"]}}]}},
          {{"FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"eventSource","NotEquals":["ec2.amazonaws.com","kms.amazonaws.com"]}},{{"Field":"readOnly","Equals":["false"]}}]}}]}}"#,
        many_names.join(",")
    );
    vec![
        ("default basic", Selectors::default_for_trail()),
        ("default advanced", Selectors::default_advanced()),
        (
            "read-only excluding kms",
            sel(
                r#"{"EventSelectors":[{"ReadWriteType":"ReadOnly","ExcludeManagementEventSources":["kms.amazonaws.com"]}]}"#,
            ),
        ),
        (
            "write-only plus S3 bucket",
            sel(
                r#"{"EventSelectors":[{"ReadWriteType":"WriteOnly","DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a/"]}]}]}"#,
            ),
        ),
        (
            "all S3 objects only",
            sel(
                r#"{"EventSelectors":[{"IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]}"#,
            ),
        ),
        (
            "S3 GetObject advanced",
            sel(
                r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"eventName","Equals":["GetObject"]},{"Field":"resources.ARN","StartsWith":["arn:aws:s3:::mordors3stack"]}]}]}"#,
            ),
        ),
        (
            "S3 ListObjects by ARNPrefix",
            sel(
                r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"resources.ARN","EndsWith":["/"]}]}]}"#,
            ),
        ),
        (
            "EDS management filters",
            sel(
                r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventType","NotEquals":["AwsServiceEvent"]},{"Field":"userIdentity.arn","EndsWith":["/bert-jan",":root"]},{"Field":"sessionCredentialFromConsole","NotEquals":["true"]}]},{"FieldSelectors":[{"Field":"eventCategory","Equals":["Insight"]}]}]}"#,
            ),
        ),
        ("mix with 100-value lists", sel(&big)),
    ]
}

#[test]
fn compiled_agrees_with_naive_on_real_records() {
    let records = common::load_records();
    assert!(records.len() >= 3000, "only {} records", records.len());
    for (name, s) in selector_sets() {
        s.validate(Context::Trail)
            .or_else(|_| s.validate(Context::EventDataStore))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let compiled = CompiledSelectors::compile(&s);
        let adv = s.to_advanced();
        let compiled_adv = CompiledSelectors::compile(&adv);
        let mut hits = 0;
        for (i, r) in records.iter().enumerate() {
            let view = EventView::from_record(r);
            let c = compiled.matches(&view);
            assert_eq!(c, naive::matches(&s, r), "{name}: record {i} {r}");
            assert_eq!(
                c,
                compiled_adv.matches(&view),
                "{name} (to_advanced): record {i}"
            );
            assert_eq!(
                c,
                naive::matches(&adv, r),
                "{name} (to_advanced naive): record {i}"
            );
            hits += usize::from(c);
        }
        assert!(hits > 0, "{name} matched nothing");
        assert!(
            hits < records.len() || name.starts_with("default"),
            "{name} matched everything"
        );
    }
}

fn count(s: &Selectors, records: &[Value]) -> usize {
    let c = CompiledSelectors::compile(s);
    records.iter().filter(|r| c.matches_record(r)).count()
}

#[test]
fn known_answer_counts() {
    let records = common::load_records();
    let data = records
        .iter()
        .filter(|r| r.get("eventCategory").and_then(Value::as_str) == Some("Data"))
        .count();
    let insight = records
        .iter()
        .filter(|r| r.get("eventType").and_then(Value::as_str) == Some("AwsCloudTrailInsight"))
        .count();
    // SOURCES.md: 9 S3 data events (7 ListObjects, 2 GetObject), 3 Insights events.
    assert_eq!(data, 9);
    assert_eq!(insight, 3);
    // The default selector logs every management event: all but data and insight.
    assert_eq!(
        count(&Selectors::default_for_trail(), &records),
        records.len() - data - insight
    );
    let sets = selector_sets();
    let find = |n: &str| &sets.iter().find(|(name, _)| *name == n).unwrap().1;
    assert_eq!(count(find("all S3 objects only"), &records), 9);
    assert_eq!(count(find("S3 GetObject advanced"), &records), 2);
    assert_eq!(count(find("S3 ListObjects by ARNPrefix"), &records), 7);
}
