//! Output: a table for people, JSON (documented in `docs/CHECK.md`) and SARIF 2.1.0.

use serde_json::{Value, json};

use crate::model::{CheckResult, Verdict, all_checks};

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passing checks.
    pub pass: usize,
    /// Failing checks (findings).
    pub fail: usize,
    /// Checks the target could not answer.
    pub unknown: usize,
    /// Informational checks.
    pub info: usize,
}

/// Counts the verdicts.
#[must_use]
pub fn summarize(results: &[CheckResult]) -> Summary {
    let mut s = Summary::default();
    for r in results {
        match r.verdict {
            Verdict::Pass => s.pass += 1,
            Verdict::Fail => s.fail += 1,
            Verdict::Unknown => s.unknown += 1,
            Verdict::Info => s.info += 1,
        }
    }
    s
}

/// Exit status for a completed run: 0 no finding, 1 findings (a `fail`, or with `strict`
/// an `unknown`). Errors that stop the run are 2 (decided by the caller).
#[must_use]
pub fn exit_code(results: &[CheckResult], strict: bool) -> i32 {
    let s = summarize(results);
    i32::from(s.fail > 0 || (strict && s.unknown > 0))
}

/// The run's context for the JSON and SARIF documents.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Tool version.
    pub version: String,
    /// RFC 3339 time of the run.
    pub generated_at: String,
    /// Region the run started in.
    pub region: String,
    /// Regions checked for coverage.
    pub regions: Vec<String>,
    /// Endpoint (or `aws` for the AWS default endpoints).
    pub endpoint: String,
}

/// The table.
#[must_use]
pub fn table(results: &[CheckResult]) -> String {
    let mut out = String::new();
    let w = results.iter().map(|r| r.slug.len()).max().unwrap_or(10);
    for r in results {
        out.push_str(&format!(
            "{:<6} {:<7} {:<w$}  {}\n",
            r.id,
            r.verdict.as_str().to_uppercase(),
            r.slug,
            r.summary
        ));
        for e in &r.evidence {
            if e.resource.is_empty() {
                out.push_str(&format!("{:16}- {}\n", "", e.detail));
            } else {
                out.push_str(&format!("{:16}- {}: {}\n", "", e.resource, e.detail));
            }
        }
    }
    let s = summarize(results);
    out.push_str(&format!(
        "\n{} passed, {} failed, {} unknown, {} info\n",
        s.pass, s.fail, s.unknown, s.info
    ));
    out
}

/// The JSON document.
#[must_use]
pub fn json_report(results: &[CheckResult], run: &RunInfo, exit: i32) -> Value {
    let s = summarize(results);
    json!({
        "version": 1,
        "tool": {"name": "cairn check", "version": run.version},
        "generatedAt": run.generated_at,
        "endpoint": run.endpoint,
        "region": run.region,
        "regions": run.regions,
        "summary": {"pass": s.pass, "fail": s.fail, "unknown": s.unknown, "info": s.info},
        "exitCode": exit,
        "checks": results,
    })
}

/// The SARIF 2.1.0 log: one rule per check, one result per check with the evidence's
/// resources as logical locations.
#[must_use]
pub fn sarif(results: &[CheckResult], run: &RunInfo) -> Value {
    let defs = all_checks();
    let rules: Vec<Value> = defs
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.slug,
                "shortDescription": {"text": d.title},
                "fullDescription": {"text": format!("{} ({})", d.title, d.maps_to)},
                "help": {"text": format!("Maps to: {}. See docs/CHECK.md.", d.maps_to)},
                "properties": {"tags": ["cloudtrail", "posture"]},
            })
        })
        .collect();
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            let (kind, level) = match r.verdict {
                Verdict::Pass => ("pass", "none"),
                Verdict::Fail => ("fail", "error"),
                Verdict::Unknown => ("review", "none"),
                Verdict::Info => ("informational", "none"),
            };
            let locations: Vec<Value> = r
                .evidence
                .iter()
                .filter(|e| !e.resource.is_empty())
                .map(|e| {
                    json!({
                        "logicalLocations": [{"fullyQualifiedName": e.resource, "kind": "resource"}],
                        "message": {"text": e.detail},
                    })
                })
                .collect();
            let mut v = json!({
                "ruleId": r.id,
                "ruleIndex": defs.iter().position(|d| d.id == r.id).unwrap_or(0),
                "kind": kind,
                "level": level,
                "message": {"text": r.summary},
                "properties": {
                    "verdict": r.verdict.as_str(),
                    "evidence": r.evidence,
                },
            });
            if !locations.is_empty() {
                v["locations"] = Value::Array(locations);
            }
            v
        })
        .collect();
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cairn-check",
                "version": run.version,
                "rules": rules,
            }},
            "invocations": [{"executionSuccessful": true, "endTimeUtc": run.generated_at}],
            "properties": {"endpoint": run.endpoint, "region": run.region, "regions": run.regions},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CHECKS, Evidence};

    fn results() -> Vec<CheckResult> {
        vec![
            CheckResult::new(&CHECKS[0], Verdict::Pass, "ok").with(vec![Evidence::new(
                "arn:aws:cloudtrail:us-east-1:1:trail/a",
                "fine",
            )]),
            CheckResult::new(&CHECKS[1], Verdict::Fail, "bad"),
            CheckResult::new(&CHECKS[2], Verdict::Unknown, "?"),
        ]
    }

    #[test]
    fn exit_codes() {
        let r = results();
        assert_eq!(exit_code(&r, false), 1);
        assert_eq!(exit_code(&r[..1], false), 0);
        assert_eq!(exit_code(&[r[0].clone(), r[2].clone()], false), 0);
        assert_eq!(exit_code(&[r[0].clone(), r[2].clone()], true), 1);
    }

    #[test]
    fn sarif_kinds_and_locations() {
        let run = RunInfo {
            version: "0".into(),
            generated_at: "2026-01-01T00:00:00Z".into(),
            region: "us-east-1".into(),
            regions: vec![],
            endpoint: "aws".into(),
        };
        let s = sarif(&results(), &run);
        let res = &s["runs"][0]["results"];
        assert_eq!(res[0]["kind"], "pass");
        assert_eq!(res[0]["level"], "none");
        assert_eq!(res[1]["level"], "error");
        assert_eq!(res[2]["kind"], "review");
        assert_eq!(
            res[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "arn:aws:cloudtrail:us-east-1:1:trail/a"
        );
        assert_eq!(
            s["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            all_checks().len()
        );
        let t = table(&results());
        assert!(t.contains("1 passed, 1 failed, 1 unknown, 0 info"));
    }
}
