//! `--fix`: the settings that can be changed safely through the API. [`plan`] is pure
//! (facts and verdicts → changes); [`apply`] makes one change.
//!
//! Safe means: turning a protection on, never off, and never touching data. The changes:
//! StartLogging on a stopped trail (CT.1/CT.2), EnableLogFileValidation (CT.5),
//! IsMultiRegionTrail + IncludeGlobalServiceEvents on the management-event trail (CT.1),
//! EnableKeyRotation on the trail's customer-managed key (CT.7), the missing CIS metric
//! filters (CW.2), and an alarm for each CIS filter without one when the existing CIS alarms
//! name a topic to notify (CW.3).

use serde_json::{Value, json};

use crate::aws::{Aws, Fetched};
use crate::eval::normalize_pattern;
use crate::facts::{Facts, Trail};
use crate::model::{CheckResult, Verdict};
use crate::selectors::management_coverage;

/// Namespace of metrics created by `--fix` (the same as `cairn monitor enable cis`).
pub const CIS_NAMESPACE: &str = "CISBenchmark";

/// One change.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// The check it addresses.
    pub check: String,
    /// What will be done, for the user to read before it is applied.
    pub description: String,
    /// SigV4 service.
    pub service: &'static str,
    /// Region to call.
    pub region: String,
    /// Operation.
    pub operation: &'static str,
    /// Request body.
    pub request: Value,
}

fn failed(results: &[CheckResult], id: &str) -> bool {
    results
        .iter()
        .any(|r| r.id == id && r.verdict == Verdict::Fail)
}

fn ct(check: &str, t: &Trail, description: String, operation: &'static str, request: Value) -> Fix {
    Fix {
        check: check.into(),
        description,
        service: "cloudtrail",
        region: t.home_region.clone(),
        operation,
        request,
    }
}

/// The changes that would fix what can be fixed safely.
#[must_use]
pub fn plan(facts: &Facts, results: &[CheckResult]) -> Vec<Fix> {
    let Ok(trails) = &facts.trails else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Only the caller's own trails: an organization trail seen from a member account can
    // only be changed by the management account (OperationNotPermittedException). Without
    // STS (Cairn today) the caller's account is unknown and every trail is a candidate; a
    // refused change then stops the run with the service's error.
    let own = |t: &&Trail| match &facts.caller {
        Ok(c) => c.account == t.account,
        Err(_) => true,
    };
    let trails: Vec<&Trail> = trails.iter().filter(own).collect();
    if failed(results, "CT.1") || failed(results, "CT.2") {
        for t in trails.iter().copied() {
            if matches!(&t.status, Ok(s) if !s.is_logging) {
                out.push(ct(
                    "CT.1",
                    t,
                    format!("StartLogging on {}", t.arn),
                    "StartLogging",
                    json!({"Name": t.arn}),
                ));
            }
        }
    }
    if failed(results, "CT.1") && !trails.iter().any(|t| t.multi_region) {
        let candidate = trails.iter().copied().find(|t| {
            t.selectors
                .as_ref()
                .is_ok_and(|s| management_coverage(s).full())
        });
        if let Some(t) = candidate {
            out.push(ct(
                "CT.1",
                t,
                format!(
                    "UpdateTrail {}: IsMultiRegionTrail=true, IncludeGlobalServiceEvents=true",
                    t.arn
                ),
                "UpdateTrail",
                json!({"Name": t.arn, "IsMultiRegionTrail": true, "IncludeGlobalServiceEvents": true}),
            ));
        }
    }
    if failed(results, "CT.5") {
        for t in trails.iter().copied().filter(|t| !t.validation) {
            out.push(ct(
                "CT.5",
                t,
                format!("UpdateTrail {}: EnableLogFileValidation=true", t.arn),
                "UpdateTrail",
                json!({"Name": t.arn, "EnableLogFileValidation": true}),
            ));
        }
    }
    if failed(results, "CT.7") {
        for key in facts.keys.values() {
            if let (Ok((manager, state, arn)), Ok(false)) = (&key.metadata, &key.rotation)
                && manager == "CUSTOMER"
                && state == "Enabled"
            {
                out.push(Fix {
                    check: "CT.7".into(),
                    description: format!("EnableKeyRotation on {arn}"),
                    service: "kms",
                    region: arn.split(':').nth(3).unwrap_or(&facts.region).to_owned(),
                    operation: "EnableKeyRotation",
                    request: json!({"KeyId": arn}),
                });
            }
        }
    }
    out.extend(plan_cis(facts, &trails, results));
    out
}

fn plan_cis(facts: &Facts, trails: &[&Trail], results: &[CheckResult]) -> Vec<Fix> {
    if !failed(results, "CW.2") && !failed(results, "CW.3") {
        return Vec::new();
    }
    // The trail log group closest to complete.
    let mut best: Option<(&crate::facts::LogGroup, usize)> = None;
    for t in trails {
        let Some(g) = t
            .log_group_arn
            .as_ref()
            .and_then(|a| facts.log_groups.get(a))
        else {
            continue;
        };
        let Ok(filters) = &g.filters else { continue };
        let present = cairn_pattern::cis::cis_filters()
            .iter()
            .filter(|(_, _, p)| {
                filters
                    .iter()
                    .any(|f| normalize_pattern(&f.pattern) == normalize_pattern(p))
            })
            .count();
        if best.is_none_or(|(_, n)| present > n) {
            best = Some((g, present));
        }
    }
    let Some((group, _)) = best else {
        return Vec::new();
    };
    let Ok(filters) = &group.filters else {
        return Vec::new();
    };
    let alarms = match facts.alarms.get(&group.region) {
        Some(Ok(a)) => a.as_slice(),
        _ => &[],
    };
    // The topic(s) existing CIS alarms notify: new alarms notify the same.
    let cis_metrics: Vec<&str> = cairn_pattern::cis::cis_filters()
        .iter()
        .map(|c| c.1)
        .collect();
    let actions: Vec<String> = alarms
        .iter()
        .find(|a| {
            a.namespace == CIS_NAMESPACE
                && cis_metrics.contains(&a.metric.as_str())
                && !a.actions.is_empty()
        })
        .map(|a| a.actions.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (control, metric, pattern) in cairn_pattern::cis::cis_filters() {
        let existing = filters
            .iter()
            .find(|f| normalize_pattern(&f.pattern) == normalize_pattern(pattern));
        let (ns, m) = match existing {
            Some(f) => match f.metrics.first() {
                Some((ns, m)) => (ns.clone(), m.clone()),
                None => continue,
            },
            None => {
                let name = format!("CIS-{control}-{metric}");
                out.push(Fix {
                    check: "CW.2".into(),
                    description: format!(
                        "PutMetricFilter {name} on log group {} ({}): the exact {control} pattern",
                        group.name, group.region
                    ),
                    service: "logs",
                    region: group.region.clone(),
                    operation: "PutMetricFilter",
                    request: json!({
                        "logGroupName": group.name,
                        "filterName": name,
                        "filterPattern": pattern,
                        "metricTransformations": [{
                            "metricName": metric, "metricNamespace": CIS_NAMESPACE, "metricValue": "1"
                        }],
                    }),
                });
                (CIS_NAMESPACE.to_owned(), (*metric).to_owned())
            }
        };
        let alarmed = alarms.iter().any(|a| {
            a.namespace == ns && a.metric == m && a.actions_enabled && !a.actions.is_empty()
        });
        if alarmed || actions.is_empty() {
            continue;
        }
        let name = format!("CIS-{control}-{metric}");
        out.push(Fix {
            check: "CW.3".into(),
            description: format!(
                "PutMetricAlarm {name} on {ns}/{m} ({}), notifying {}",
                group.region,
                actions.join(", ")
            ),
            service: "monitoring",
            region: group.region.clone(),
            operation: "PutMetricAlarm",
            request: cairn_pattern::cis::alarm_request(
                &name,
                &format!("CIS / Security Hub {control}: {metric}"),
                &ns,
                &m,
                &actions,
            ),
        });
    }
    out
}

/// Applies one change.
///
/// # Errors
/// The service's error.
pub async fn apply(aws: &Aws, fix: &Fix) -> Fetched<Value> {
    let (prefix, version) = match fix.service {
        "cloudtrail" => (
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
            "1.1",
        ),
        "logs" => ("Logs_20140328", "1.1"),
        "kms" => ("TrentService", "1.1"),
        _ => ("GraniteServiceVersion20100801", "1.0"),
    };
    aws.json(
        fix.service,
        &fix.region,
        prefix,
        version,
        fix.operation,
        &fix.request,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, tests::compliant};
    use crate::model::Thresholds;

    #[test]
    fn nothing_to_fix_when_compliant() {
        let f = compliant();
        let r = evaluate(&f, &Thresholds::default());
        assert!(plan(&f, &r).is_empty());
    }

    #[test]
    fn stopped_trail_and_validation_and_region() {
        let mut f = compliant();
        {
            let t = &mut f.trails.as_mut().unwrap()[0];
            t.status.as_mut().unwrap().is_logging = false;
            t.validation = false;
            t.multi_region = false;
        }
        let r = evaluate(&f, &Thresholds::default());
        let p = plan(&f, &r);
        let ops: Vec<_> = p.iter().map(|x| (x.check.as_str(), x.operation)).collect();
        assert!(ops.contains(&("CT.1", "StartLogging")), "{ops:?}");
        assert!(ops.contains(&("CT.1", "UpdateTrail")), "{ops:?}");
        assert!(ops.contains(&("CT.5", "UpdateTrail")), "{ops:?}");
        assert!(p.iter().any(|x| x.request["IsMultiRegionTrail"] == true));
    }

    #[test]
    fn other_accounts_trails_are_left_alone() {
        let mut f = compliant();
        f.caller.as_mut().unwrap().account = "222222222222".into();
        f.trails.as_mut().unwrap()[0]
            .status
            .as_mut()
            .unwrap()
            .is_logging = false;
        let r = evaluate(&f, &Thresholds::default());
        assert!(plan(&f, &r).iter().all(|x| x.service != "cloudtrail"));
    }

    #[test]
    fn key_rotation_off_is_turned_on() {
        let mut f = compliant();
        f.keys.values_mut().next().unwrap().rotation = Ok(false);
        let r = evaluate(&f, &Thresholds::default());
        let p = plan(&f, &r);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].operation, "EnableKeyRotation");
        assert_eq!(p[0].service, "kms");
        assert_eq!(
            p[0].request["KeyId"],
            "arn:aws:kms:us-east-1:222222222222:key/k1"
        );
    }

    #[test]
    fn missing_cis_filter_gets_filter_and_alarm() {
        let mut f = compliant();
        let g = f.log_groups.values_mut().next().unwrap();
        g.filters
            .as_mut()
            .unwrap()
            .retain(|x| !x.name.contains("CloudWatch.5-"));
        f.alarms
            .values_mut()
            .next()
            .unwrap()
            .as_mut()
            .unwrap()
            .retain(|a| a.metric != "CloudTrailConfigChanges");
        let r = evaluate(&f, &Thresholds::default());
        let p = plan(&f, &r);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].operation, "PutMetricFilter");
        assert_eq!(
            p[0].request["filterName"],
            "CIS-CloudWatch.5-CloudTrailConfigChanges"
        );
        assert_eq!(p[1].operation, "PutMetricAlarm");
        assert_eq!(
            p[1].request["AlarmActions"][0],
            "arn:aws:sns:us-east-1:111111111111:cis"
        );
    }
}
