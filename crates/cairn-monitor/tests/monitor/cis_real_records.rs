//! The 14 CIS / Security Hub patterns over the real CloudTrail records:
//! FilterLogEvents agrees with the naive interpreter and with hand-written
//! Rust predicates, and the metric filters count the same events.

use crate::common::*;
use cairn_monitor::{Monitor, cis_filters};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn ts(r: &Value) -> i64 {
    let t = OffsetDateTime::parse(r["eventTime"].as_str().unwrap(), &Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn filter_all(m: &Monitor, pattern: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut body = json!({"logGroupName": "trail", "filterPattern": pattern, "limit": 500});
    loop {
        let r = m
            .logs_call("FilterLogEvents", ACCOUNT, REGION, &body)
            .unwrap();
        out.extend(r["events"].as_array().unwrap().iter().cloned());
        match r.get("nextToken") {
            Some(t) => body["nextToken"] = t.clone(),
            None => return out,
        }
    }
}

/// Independent predicates for the controls whose meaning is simple to state.
fn oracle(control: &str, r: &Value) -> Option<bool> {
    let name = r["eventName"].as_str().unwrap_or("");
    let src = r["eventSource"].as_str().unwrap_or("");
    Some(match control {
        "CloudWatch.1" => {
            r["userIdentity"]["type"] == "Root"
                && r["userIdentity"].get("invokedBy").is_none()
                && r.get("eventType").is_some_and(|t| t != "AwsServiceEvent")
        }
        "CloudWatch.2" => r["errorCode"]
            .as_str()
            .is_some_and(|c| c.ends_with("UnauthorizedOperation") || c.starts_with("AccessDenied")),
        "CloudWatch.5" => matches!(
            name,
            "CreateTrail" | "UpdateTrail" | "DeleteTrail" | "StartLogging" | "StopLogging"
        ),
        "CloudWatch.6" => name == "ConsoleLogin" && r["errorMessage"] == "Failed authentication",
        "CloudWatch.7" => {
            src == "kms.amazonaws.com" && matches!(name, "DisableKey" | "ScheduleKeyDeletion")
        }
        "CloudWatch.10" => matches!(
            name,
            "AuthorizeSecurityGroupIngress"
                | "AuthorizeSecurityGroupEgress"
                | "RevokeSecurityGroupIngress"
                | "RevokeSecurityGroupEgress"
                | "CreateSecurityGroup"
                | "DeleteSecurityGroup"
        ),
        _ => return None,
    })
}

#[test]
fn cis_patterns_over_real_records() {
    let (_d, _c, m) = monitor();
    create_log_group(&m, "trail");
    let report = m.enable_cis(ACCOUNT, REGION, "trail", "cis", None).unwrap();
    // Idempotent.
    let again = m.enable_cis(ACCOUNT, REGION, "trail", "cis", None).unwrap();
    assert_eq!((report.created_filters, again.created_filters), (14, 0));
    assert_eq!(
        m.logs_call(
            "DescribeMetricFilters",
            ACCOUNT,
            REGION,
            &json!({"logGroupName": "trail"})
        )
        .unwrap()["metricFilters"]
            .as_array()
            .unwrap()
            .len(),
        14
    );

    let mut records = invictus_records();
    records.extend(
        docs_records()
            .into_iter()
            .filter(|r| r.get("eventTime").is_some()),
    );
    let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    let mut batch: Vec<(i64, &str)> = records
        .iter()
        .zip(&texts)
        .map(|(r, t)| (ts(r), t.as_str()))
        .collect();
    batch.sort_by_key(|b| b.0);
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:trail:*";
    let out = m.ingest_trail_events(arn, ACCOUNT, REGION, &batch).unwrap();
    assert_eq!(out.events_written, records.len());
    let (lo, hi) = (batch[0].0 / 1000 - 60, batch[batch.len() - 1].0 / 1000 + 60);

    let mut total_matches = 0;
    println!("{} records", records.len());
    for (control, metric, pattern) in cis_filters() {
        let fp = cairn_pattern::FilterPattern::parse(pattern).unwrap();
        let got = filter_all(&m, pattern);
        let expected: Vec<&String> = texts
            .iter()
            .filter(|t| cairn_pattern::naive::matches(fp.ast(), t))
            .collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "{control}: FilterLogEvents vs naive interpreter"
        );
        if oracle(control, &records[0]).is_some() {
            let by_oracle = records
                .iter()
                .filter(|r| oracle(control, r).unwrap())
                .count();
            assert_eq!(
                got.len(),
                by_oracle,
                "{control}: FilterLogEvents vs hand-written predicate"
            );
        }
        let names: std::collections::BTreeSet<String> = got
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e["message"].as_str().unwrap()).unwrap()["eventName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        println!("{control:14} {metric:30} {:4} matches {names:?}", got.len());
        // The metric filter counted the same events.
        let s = m
            .cloudwatch_call(
                "GetMetricStatistics",
                ACCOUNT,
                REGION,
                &json!({"Namespace": "CISBenchmark", "MetricName": metric,
                "StartTime": lo, "EndTime": hi, "Period": 86400 * 7, "Statistics": ["Sum"]}),
            )
            .unwrap();
        let sum: f64 = s["Datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Sum"].as_f64().unwrap())
            .sum();
        assert_eq!(sum as usize, got.len(), "{control}: metric sum");
        total_matches += got.len();
    }
    // Known answers on the shared data (see shared/data/cloudtrail/*/SOURCES.md):
    // root usage (docs examples), unauthorized calls, trail changes and console
    // failures occur; KMS key deletion and NACL/gateway changes do not.
    let count = |c: &str| filter_all(&m, cis_filters().iter().find(|f| f.0 == c).unwrap().2).len();
    // (Counted independently with a script over the same files.)
    assert_eq!(
        count("CloudWatch.1"),
        5,
        "docs: 3 root ConsoleLogin + EnableMFADevice + PasswordUpdated"
    );
    assert_eq!(
        count("CloudWatch.2"),
        60,
        "invictus: 44 Client.UnauthorizedOperation + 16 AccessDenied"
    );
    assert_eq!(
        count("CloudWatch.3"),
        3,
        "1 invictus + 2 docs IAM-user console sign-ins with MFAUsed=No"
    );
    assert_eq!(
        count("CloudWatch.5"),
        15,
        "invictus 5 StartLogging + 3 StopLogging + 3 DeleteTrail + 2 CreateTrail; docs StartLogging + UpdateTrail"
    );
    assert_eq!(
        count("CloudWatch.6"),
        2,
        "docs: failed console sign-ins (IAM user, root)"
    );
    for none in ["CloudWatch.7", "CloudWatch.9", "CloudWatch.11"] {
        assert_eq!(
            count(none),
            0,
            "{none}: no KMS key deletion, Config or NACL change in the data"
        );
    }
    assert!(total_matches > 0);
}
