//! Facts → verdicts. Pure: no I/O, the clock is `facts.now`.
//!
//! Every check follows the same rule: a fact that could not be read (an API the target lacks,
//! an access denial) makes the check `unknown` with that failure as evidence, unless the facts
//! that were read already decide it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::facts::{ApiFailure, Bucket, Facts, Fetched, Key, Selectors, Trail, TrailStatus};
use crate::model::{CHECKS, CheckDef, CheckResult, Evidence, INSIGHTS, Thresholds, Verdict};
use crate::selectors::{Coverage, data_coverage, management_coverage};

fn def(id: &str) -> &'static CheckDef {
    CHECKS.iter().find(|c| c.id == id).unwrap_or(&INSIGHTS)
}

fn unknown_from(id: &str, f: &ApiFailure) -> CheckResult {
    CheckResult::new(
        def(id),
        Verdict::Unknown,
        format!(
            "cannot tell: {} {} answered {}",
            f.service, f.operation, f.code
        ),
    )
    .with(vec![Evidence::new("", f.describe())])
}

fn ts(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn age_hours(now: OffsetDateTime, t: OffsetDateTime) -> f64 {
    (now - t).as_seconds_f64() / 3600.0
}

/// Parts of a per-resource check, combined: any fail → fail; else any unknown → unknown;
/// else pass.
#[derive(Default)]
struct Parts {
    fail: usize,
    unknown: usize,
    pass: usize,
    evidence: Vec<Evidence>,
}

impl Parts {
    fn pass(&mut self, resource: &str, detail: impl Into<String>) {
        self.pass += 1;
        self.evidence.push(Evidence::new(resource, detail));
    }
    fn fail(&mut self, resource: &str, detail: impl Into<String>) {
        self.fail += 1;
        self.evidence.push(Evidence::new(resource, detail));
    }
    fn unknown(&mut self, resource: &str, f: &ApiFailure) {
        self.unknown += 1;
        self.evidence.push(Evidence::new(resource, f.describe()));
    }
    fn finish(self, id: &str, what: &str) -> CheckResult {
        // Counts are of facts (evidence lines), not of resources: one bucket can have
        // several unreadable settings.
        let (verdict, summary) = if self.fail > 0 {
            (
                Verdict::Fail,
                format!("{} problem(s) found in the {what}", self.fail),
            )
        } else if self.unknown > 0 {
            (
                Verdict::Unknown,
                format!(
                    "{} fact(s) about the {what} could not be read",
                    self.unknown
                ),
            )
        } else if self.pass > 0 {
            (
                Verdict::Pass,
                format!("the {what} pass ({} fact(s) checked)", self.pass),
            )
        } else {
            (Verdict::Fail, format!("no {what}"))
        };
        CheckResult::new(def(id), verdict, summary).with(self.evidence)
    }
}

/// Runs every check.
#[must_use]
pub fn evaluate(facts: &Facts, t: &Thresholds) -> Vec<CheckResult> {
    let trails = match &facts.trails {
        Ok(tr) => tr.as_slice(),
        Err(f) => {
            return crate::model::all_checks()
                .iter()
                .map(|d| unknown_from(d.id, f))
                .collect();
        }
    };
    vec![
        multi_region_trail(trails),
        region_coverage(facts, trails),
        organization_coverage(facts, trails),
        separate_trails(trails),
        log_file_validation(trails),
        digest_delivery(facts, trails, t),
        kms_encryption(facts, trails),
        per_bucket(facts, trails, "S3.1", bucket_separate_account),
        per_bucket(facts, trails, "S3.2", bucket_not_public),
        per_bucket(facts, trails, "S3.3", bucket_versioning),
        per_bucket(facts, trails, "S3.4", bucket_object_lock),
        per_bucket(facts, trails, "S3.5", bucket_logging),
        per_bucket(facts, trails, "S3.6", bucket_lifecycle),
        per_bucket(facts, trails, "S3.7", bucket_encryption),
        data_events(
            trails,
            "DE.1",
            "AWS::S3::Object",
            "S3 objects of all buckets",
        ),
        data_events(
            trails,
            "DE.2",
            "AWS::Lambda::Function",
            "invocations of all Lambda functions",
        ),
        cloudwatch_delivery(facts, trails, t),
        cis_metric_filters(facts, trails),
        cis_alarms(facts, trails),
        cis_subscriptions(facts, trails),
        full_access(facts, t),
        root_unused(facts, t),
        insights(trails),
    ]
}

fn logging(t: &Trail) -> Option<bool> {
    t.status.as_ref().ok().map(|s| s.is_logging)
}

/// CT.1: a multi-Region trail that is logging, read+write management events, global events.
fn multi_region_trail(trails: &[Trail]) -> CheckResult {
    let d = def("CT.1");
    if trails.is_empty() {
        return CheckResult::new(d, Verdict::Fail, "there is no trail")
            .with(vec![Evidence::new("", "DescribeTrails returned no trail")]);
    }
    let mut evidence = Vec::new();
    let mut undecided: Option<&ApiFailure> = None;
    for t in trails {
        let mut missing = Vec::new();
        if !t.multi_region {
            missing.push("not multi-Region (IsMultiRegionTrail false)".to_owned());
        }
        if !t.global_events {
            missing
                .push("excludes global service events (IncludeGlobalServiceEvents false)".into());
        }
        let mut unknown = None;
        match &t.status {
            Ok(s) if !s.is_logging => missing.push("not logging (IsLogging false)".into()),
            Ok(_) => {}
            Err(f) => unknown = Some(f),
        }
        match &t.selectors {
            Ok(sel) => {
                let c = management_coverage(sel);
                if !c.full() {
                    missing.push(c.notes.join("; "));
                }
            }
            Err(f) => unknown = unknown.or(Some(f)),
        }
        if missing.is_empty() {
            if let Some(f) = unknown {
                undecided = undecided.or(Some(f));
                evidence.push(Evidence::new(&t.arn, f.describe()));
                continue;
            }
            return CheckResult::new(
                d,
                Verdict::Pass,
                format!("trail {} qualifies", t.name),
            )
            .with(vec![Evidence::new(
                &t.arn,
                "multi-Region, logging, read and write management events, global service events included",
            )]);
        }
        evidence.push(Evidence::new(&t.arn, missing.join("; ")));
    }
    if let Some(f) = undecided {
        return CheckResult::new(
            d,
            Verdict::Unknown,
            format!(
                "cannot tell: {} {} answered {}",
                f.service, f.operation, f.code
            ),
        )
        .with(evidence);
    }
    CheckResult::new(d, Verdict::Fail, "no trail qualifies").with(evidence)
}

fn records_management(t: &Trail) -> Result<bool, &ApiFailure> {
    let sel = t.selectors.as_ref()?;
    let c = management_coverage(sel);
    Ok(c.read || c.write)
}

/// CT.2: every region has a logging trail recording management events.
fn region_coverage(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let by_arn: BTreeMap<&str, &Trail> = trails.iter().map(|t| (t.arn.as_str(), t)).collect();
    let mut p = Parts::default();
    let source = if facts.regions.explicit {
        "regions from --regions".to_owned()
    } else {
        format!(
            "regions derived from the trails' home Regions and the current Region ({}); pass --regions to check every enabled Region",
            facts.regions.list.join(", ")
        )
    };
    for region in &facts.regions.list {
        let Some(listed) = facts.region_trails.get(region) else {
            p.fail(region, "no DescribeTrails answer for this Region");
            continue;
        };
        let listed = match listed {
            Ok(l) => l,
            Err(f) => {
                p.unknown(region, f);
                continue;
            }
        };
        let mut covering = None;
        let mut unknown = None;
        for arn in listed {
            let Some(t) = by_arn.get(arn.as_str()) else {
                continue;
            };
            if !(t.multi_region || t.home_region == *region) {
                continue;
            }
            match (logging(t), records_management(t)) {
                (Some(true), Ok(true)) => {
                    covering = Some(t.arn.clone());
                    break;
                }
                (None, _) => unknown = t.status.as_ref().err(),
                (_, Err(f)) => unknown = Some(f),
                _ => {}
            }
        }
        match (covering, unknown) {
            (Some(arn), _) => p.pass(region, format!("logged by {arn}")),
            (None, Some(f)) => p.unknown(region, f),
            (None, None) => p.fail(
                region,
                format!(
                    "no logging trail records management events here ({} trail(s) listed)",
                    listed.len()
                ),
            ),
        }
    }
    let mut r = p.finish("CT.2", "Regions");
    r.evidence.push(Evidence::new("", source));
    r
}

/// CT.3: an organization trail (logging) covers every account.
fn organization_coverage(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let d = def("CT.3");
    if let Some(t) = trails
        .iter()
        .find(|t| t.organization && logging(t) == Some(true))
    {
        let detail = match &facts.organization {
            Ok(Some(o)) => match &o.accounts {
                Ok(a) => format!(
                    "organization trail, logging; organization {} has {} account(s)",
                    o.id,
                    a.len()
                ),
                Err(f) => format!("organization trail, logging; {}", f.describe()),
            },
            _ => "organization trail, logging".into(),
        };
        return CheckResult::new(d, Verdict::Pass, format!("organization trail {}", t.name))
            .with(vec![Evidence::new(&t.arn, detail)]);
    }
    let evidence: Vec<Evidence> = trails
        .iter()
        .filter(|t| t.organization)
        .map(|t| Evidence::new(&t.arn, "organization trail, not logging"))
        .collect();
    match &facts.organization {
        Ok(None) => CheckResult::new(
            d,
            Verdict::Pass,
            "the account is not in an organization: its own trails cover it (CT.1)",
        )
        .with(vec![Evidence::new(
            "",
            "organizations DescribeOrganization: AWSOrganizationsNotInUseException",
        )]),
        Ok(Some(o)) => match &o.accounts {
            Ok(a) if a.len() <= 1 => CheckResult::new(
                d,
                Verdict::Pass,
                "the organization has only this account",
            )
            .with(vec![Evidence::new(&o.id, format!("accounts: {}", a.join(", ")))]),
            Ok(a) => CheckResult::new(
                d,
                Verdict::Fail,
                format!(
                    "organization {} has {} accounts and no logging organization trail",
                    o.id,
                    a.len()
                ),
            )
            .with(
                [
                    evidence,
                    vec![Evidence::new(
                        &o.id,
                        format!(
                            "accounts: {}; per-account trails of other accounts are not visible from here, so each would need its own check",
                            a.join(", ")
                        ),
                    )],
                ]
                .concat(),
            ),
            Err(f) => unknown_from("CT.3", f),
        },
        Err(f) => {
            let mut r = unknown_from("CT.3", f);
            r.evidence.extend(evidence);
            r.evidence.push(Evidence::new(
                "",
                "no logging organization trail; the organization's accounts cannot be listed",
            ));
            r
        }
    }
}

/// CT.4 (info): the trails, their owners and buckets.
fn separate_trails(trails: &[Trail]) -> CheckResult {
    let owners: BTreeSet<&str> = trails.iter().map(|t| t.account.as_str()).collect();
    let evidence = trails
        .iter()
        .map(|t| {
            let uses = match &t.selectors {
                Ok(sel) => {
                    let mut u = Vec::new();
                    if management_coverage(sel).read || management_coverage(sel).write {
                        u.push("management events");
                    }
                    if data_coverage(sel, "AWS::S3::Object").read
                        || data_coverage(sel, "AWS::S3::Object").write
                    {
                        u.push("S3 data events");
                    }
                    if data_coverage(sel, "AWS::Lambda::Function").read
                        || data_coverage(sel, "AWS::Lambda::Function").write
                    {
                        u.push("Lambda data events");
                    }
                    if u.is_empty() {
                        "selected data events".to_owned()
                    } else {
                        u.join(", ")
                    }
                }
                Err(f) => f.describe(),
            };
            Evidence::new(
                &t.arn,
                format!(
                    "owner account {}, bucket {}, records {uses}",
                    t.account, t.bucket
                ),
            )
        })
        .collect();
    CheckResult::new(
        def("CT.4"),
        Verdict::Info,
        format!(
            "{} trail(s), {} owner account(s)",
            trails.len(),
            owners.len()
        ),
    )
    .with(evidence)
}

/// CT.5: validation on every trail.
fn log_file_validation(trails: &[Trail]) -> CheckResult {
    let mut p = Parts::default();
    for t in trails {
        if t.validation {
            p.pass(&t.arn, "LogFileValidationEnabled true");
        } else {
            p.fail(&t.arn, "LogFileValidationEnabled false");
        }
    }
    p.finish("CT.5", "trails")
}

/// CT.6: the latest digest per Region is fresh.
fn digest_delivery(facts: &Facts, trails: &[Trail], t: &Thresholds) -> CheckResult {
    let max = f64::from(t.digest_max_age_hours);
    let validating: Vec<&Trail> = trails.iter().filter(|t| t.validation).collect();
    if validating.is_empty() {
        return CheckResult::new(
            def("CT.6"),
            Verdict::Info,
            "no trail has log file validation enabled, so no digests are expected (see CT.5)",
        );
    }
    let mut p = Parts::default();
    for tr in validating {
        let listed = facts.digests.get(&tr.arn);
        match listed {
            Some(Ok(latest)) => {
                let regions: Vec<String> = if tr.multi_region {
                    facts.regions.list.clone()
                } else {
                    vec![tr.home_region.clone()]
                };
                for region in regions {
                    let res = format!("{} ({region})", tr.arn);
                    match latest.get(&region) {
                        None => p.fail(
                            &res,
                            format!(
                                "no digest in s3://{}/ for {region} in the last {} hours",
                                tr.bucket, t.digest_max_age_hours
                            ),
                        ),
                        Some(at) if age_hours(facts.now, *at) > max => p.fail(
                            &res,
                            format!(
                                "latest digest {} is {:.1} hours old (limit {})",
                                ts(*at),
                                age_hours(facts.now, *at),
                                t.digest_max_age_hours
                            ),
                        ),
                        Some(at) => p.pass(&res, format!("latest digest {}", ts(*at))),
                    }
                }
            }
            other => {
                let listing = match other {
                    Some(Err(f)) => f.describe(),
                    _ => "bucket not listed".into(),
                };
                match &tr.status {
                    Ok(TrailStatus {
                        latest_digest: Some(at),
                        ..
                    }) => {
                        let detail = format!(
                            "GetTrailStatus LatestDigestDeliveryTime {} ({:.1} hours old); per-Region listing unavailable: {listing}",
                            ts(*at),
                            age_hours(facts.now, *at)
                        );
                        if age_hours(facts.now, *at) > max {
                            p.fail(&tr.arn, detail);
                        } else {
                            p.pass(&tr.arn, detail);
                        }
                    }
                    Ok(_) => match other {
                        Some(Err(f)) => p.unknown(&tr.arn, f),
                        _ => p.fail(
                            &tr.arn,
                            "no digest delivered yet (no LatestDigestDeliveryTime)",
                        ),
                    },
                    Err(f) => p.unknown(&tr.arn, f),
                }
            }
        }
    }
    for tr in trails.iter().filter(|t| t.validation) {
        match facts.validations.get(&tr.arn) {
            Some(Ok(v)) if v.ok => p.pass(
                &tr.arn,
                format!("cairn validate over the last 24 hours: {}", v.summary),
            ),
            Some(Ok(v)) => p.fail(
                &tr.arn,
                format!(
                    "cairn validate over the last 24 hours FAILED: {}",
                    v.summary
                ),
            ),
            Some(Err(f)) => p.unknown(&tr.arn, f),
            None => {}
        }
    }
    p.finish("CT.6", "validating trails' Regions and chains")
}

/// Does a key policy let anyone decrypt (Allow, Principal "*", no Condition)?
fn policy_public_statements(policy: &str, actions: &[&str]) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(policy).map_err(|e| format!("policy is not JSON: {e}"))?;
    let statements = match &v["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let as_list = |x: &Value| -> Vec<String> {
        match x {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for s in statements {
        if s["Effect"] != "Allow" || s.get("Condition").is_some_and(|c| !c.is_null()) {
            continue;
        }
        let everyone = match &s["Principal"] {
            Value::String(p) => p == "*",
            Value::Object(m) => m
                .get("AWS")
                .is_some_and(|a| as_list(a).iter().any(|p| p == "*")),
            _ => false,
        };
        if !everyone {
            continue;
        }
        let acts = as_list(&s["Action"]);
        let hit = acts.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*"
                || actions
                    .iter()
                    .any(|w| a == *w || (a.ends_with('*') && w.starts_with(&a[..a.len() - 1])))
        });
        if hit {
            let sid = s["Sid"].as_str().unwrap_or("(no Sid)");
            out.push(format!(
                "statement {sid} allows {} to everyone without a condition",
                acts.join(", ")
            ));
        }
    }
    Ok(out)
}

fn check_key(p: &mut Parts, trail: &Trail, key: &Key) {
    let res = format!("{} ({})", key.id, trail.arn);
    match &key.metadata {
        Err(f) => p.unknown(&res, f),
        Ok((manager, state, arn)) => {
            if manager != "CUSTOMER" {
                p.fail(
                    &res,
                    format!("key {arn} is {manager}-managed, not customer-managed"),
                );
                return;
            }
            if state != "Enabled" {
                p.fail(&res, format!("key {arn} is {state}"));
                return;
            }
            match &key.rotation {
                Err(f) => p.unknown(&res, f),
                Ok(false) => p.fail(&res, format!("key {arn}: rotation is off")),
                Ok(true) => match &key.policy {
                    Err(f) => p.unknown(&res, f),
                    Ok(pol) => match policy_public_statements(pol, &["kms:decrypt"]) {
                        Err(e) => p.fail(&res, e),
                        Ok(v) if !v.is_empty() => p.fail(&res, format!("key {arn}: {}", v.join("; "))),
                        Ok(_) => p.pass(
                            &res,
                            format!("customer-managed key {arn}, enabled, rotation on, decrypt not granted to everyone"),
                        ),
                    },
                },
            }
        }
    }
}

/// CT.7: SSE-KMS with a good customer-managed key.
fn kms_encryption(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let mut p = Parts::default();
    for t in trails {
        match &t.kms_key {
            None => p.fail(
                &t.arn,
                "KmsKeyId not set: log files are not SSE-KMS encrypted",
            ),
            Some(k) => match facts.keys.get(k) {
                Some(key) => check_key(&mut p, t, key),
                None => p.fail(&t.arn, format!("key {k} was not read")),
            },
        }
    }
    p.finish("CT.7", "trails")
}

fn per_bucket(
    facts: &Facts,
    trails: &[Trail],
    id: &str,
    f: fn(&Facts, &Bucket, &mut Parts),
) -> CheckResult {
    let mut p = Parts::default();
    let names: BTreeSet<&str> = trails.iter().map(|t| t.bucket.as_str()).collect();
    for name in names {
        match facts.buckets.get(name) {
            Some(b) => f(facts, b, &mut p),
            None => p.fail(name, "bucket settings were not read"),
        }
    }
    p.finish(id, "trail buckets")
}

fn with<T>(p: &mut Parts, res: &str, v: &Fetched<T>, ok: impl FnOnce(&mut Parts, &T)) {
    match v {
        Ok(x) => ok(p, x),
        Err(f) => p.unknown(res, f),
    }
}

/// S3.1: ListBuckets lists only the caller's own buckets, so a trail bucket in that list
/// is in the account whose trails (and workloads) write to it.
fn bucket_separate_account(facts: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    match &facts.own_buckets {
        Ok(own) if own.names.contains(&b.name) => p.fail(
            &res,
            format!(
                "owned by the calling account (ListBuckets lists it; owner {})",
                own.owner
            ),
        ),
        Ok(own) => {
            let owner = match &b.acl {
                Ok(acl) => format!("owner canonical id {}", acl.owner),
                Err(f) => f.describe(),
            };
            p.pass(
                &res,
                format!(
                    "not among the calling account's buckets (owner {}); {owner}",
                    own.owner
                ),
            );
        }
        Err(f) => p.unknown(&res, f),
    }
}

const PUBLIC_GROUPS: [&str; 2] = [
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

fn bucket_not_public(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    let before = (p.fail, p.unknown);
    with(p, &res, &b.public_access_block, |p, pab| match pab {
        Some(x)
            if x.block_public_acls
                && x.ignore_public_acls
                && x.block_public_policy
                && x.restrict_public_buckets => {}
        Some(x) => p.fail(&res, format!("public access block not fully on: {x:?}")),
        None => p.fail(&res, "no public access block configuration"),
    });
    with(p, &res, &b.policy, |p, pol| {
        if let Some(pol) = pol {
            match policy_public_statements(
                pol,
                &[
                    "s3:getobject",
                    "s3:listbucket",
                    "s3:putobject",
                    "s3:deleteobject",
                ],
            ) {
                Ok(v) if !v.is_empty() => p.fail(&res, format!("bucket policy: {}", v.join("; "))),
                Ok(_) => {}
                Err(e) => p.fail(&res, e),
            }
        }
    });
    with(p, &res, &b.acl, |p, acl| {
        for (grantee, perm) in &acl.grants {
            if PUBLIC_GROUPS.contains(&grantee.as_str()) {
                p.fail(&res, format!("ACL grants {perm} to {grantee}"));
            }
        }
    });
    if (p.fail, p.unknown) == before {
        p.pass(
            &res,
            "public access block fully on; no public policy statement or ACL grant",
        );
    }
}

fn bucket_versioning(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    with(p, &res, &b.versioning, |p, v| {
        if v.status != "Enabled" {
            let s = if v.status.is_empty() {
                "never enabled"
            } else {
                v.status.as_str()
            };
            p.fail(&res, format!("versioning {s}"));
        } else if v.mfa_delete != "Enabled" {
            p.fail(&res, "versioning Enabled, MFA delete not enabled");
        } else {
            p.pass(&res, "versioning Enabled, MFA delete Enabled");
        }
    });
}

fn bucket_object_lock(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    with(p, &res, &b.object_lock, |p, l| match l {
        Some(l) if l.enabled => match &l.default_retention {
            Some((mode, period)) => p.pass(
                &res,
                format!("object lock on, default retention {mode} {period}"),
            ),
            None => p.fail(&res, "object lock on but no default retention"),
        },
        _ => p.fail(&res, "object lock not configured"),
    });
}

fn bucket_logging(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    with(p, &res, &b.logging, |p, l| match l {
        Some(target) => p.pass(&res, format!("server access logs go to {target}")),
        None => p.fail(&res, "server access logging is off"),
    });
}

/// S3.6. S3 refuses lifecycle configuration on a bucket with MFA delete (and MFA delete on a
/// bucket with lifecycle rules), so there the versions are kept until the root deletes them
/// with its MFA code: that bucket passes on S3.3's evidence instead of failing for what S3
/// cannot allow.
fn bucket_lifecycle(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    let mfa_delete =
        matches!(&b.versioning, Ok(v) if v.status == "Enabled" && v.mfa_delete == "Enabled");
    with(p, &res, &b.lifecycle, |p, rules| {
        let on: Vec<&str> = rules.iter().filter(|r| r.1).map(|r| r.0.as_str()).collect();
        if on.is_empty() && mfa_delete {
            p.pass(
                &res,
                "no lifecycle rule, and none is possible: MFA delete is enabled (S3 refuses lifecycle rules on MFA-delete buckets), so log versions are kept until the root deletes them with MFA",
            );
        } else if on.is_empty() {
            p.fail(
                &res,
                format!(
                    "no enabled lifecycle rule ({} rule(s) in total)",
                    rules.len()
                ),
            );
        } else {
            p.pass(
                &res,
                format!("enabled lifecycle rule(s): {}", on.join(", ")),
            );
        }
    });
}

fn bucket_encryption(_: &Facts, b: &Bucket, p: &mut Parts) {
    let res = format!("arn:aws:s3:::{}", b.name);
    with(p, &res, &b.encryption, |p, e| match e {
        Some(alg) => p.pass(&res, format!("default encryption {alg}")),
        None => p.fail(&res, "no default encryption configuration"),
    });
}

/// DE.1 / DE.2: data events of a resource type, read and write, all resources.
fn data_events(trails: &[Trail], id: &str, resource_type: &str, what: &str) -> CheckResult {
    let d = def(id);
    let mut total = Coverage::default();
    let mut evidence = Vec::new();
    let mut undecided = None;
    for t in trails {
        let sel: &Selectors = match &t.selectors {
            Ok(s) => s,
            Err(f) => {
                undecided = undecided.or(Some(f.clone()));
                evidence.push(Evidence::new(&t.arn, f.describe()));
                continue;
            }
        };
        let c = data_coverage(sel, resource_type);
        match logging(t) {
            Some(true) => {
                total.read |= c.read;
                total.write |= c.write;
                evidence.push(Evidence::new(&t.arn, c.notes.join("; ")));
            }
            Some(false) => evidence.push(Evidence::new(
                &t.arn,
                format!("not logging; {}", c.notes.join("; ")),
            )),
            None => {
                if let Err(f) = &t.status {
                    undecided = undecided.or(Some(f.clone()));
                }
                evidence.push(Evidence::new(&t.arn, c.notes.join("; ")));
            }
        }
    }
    if total.full() {
        return CheckResult::new(
            d,
            Verdict::Pass,
            format!("reads and writes of {what} are logged"),
        )
        .with(evidence);
    }
    if let Some(f) = undecided {
        let mut r = unknown_from(id, &f);
        r.evidence = evidence;
        return r;
    }
    let missing = match (total.read, total.write) {
        (false, false) => "reads and writes",
        (false, true) => "reads",
        _ => "writes",
    };
    CheckResult::new(
        d,
        Verdict::Fail,
        format!("{missing} of {what} are not logged by any logging trail"),
    )
    .with(evidence)
}

/// CW.1: a trail delivers to CloudWatch Logs, recently.
fn cloudwatch_delivery(facts: &Facts, trails: &[Trail], t: &Thresholds) -> CheckResult {
    let d = def("CW.1");
    let max = f64::from(t.cloudwatch_max_age_hours);
    let mut evidence = Vec::new();
    let mut undecided = None;
    let with_group: Vec<&Trail> = trails
        .iter()
        .filter(|t| t.log_group_arn.is_some())
        .collect();
    if with_group.is_empty() {
        return CheckResult::new(d, Verdict::Fail, "no trail sends events to CloudWatch Logs")
            .with(
                trails
                    .iter()
                    .map(|t| Evidence::new(&t.arn, "CloudWatchLogsLogGroupArn not set"))
                    .collect(),
            );
    }
    for tr in with_group {
        let group = tr.log_group_arn.clone().unwrap_or_default();
        let from_status = tr.status.as_ref().ok().and_then(|s| s.latest_cloudwatch);
        let lg = facts.log_groups.get(&group);
        let from_group = lg.and_then(|g| g.last_ingestion.as_ref().ok().copied().flatten());
        let (at, source) = match (from_status, from_group) {
            (Some(a), _) => (Some(a), "GetTrailStatus LatestCloudWatchLogsDeliveryTime"),
            (None, Some(b)) => (Some(b), "DescribeLogStreams lastIngestionTime"),
            _ => (None, ""),
        };
        match at {
            Some(at) if age_hours(facts.now, at) <= max => {
                return CheckResult::new(
                    d,
                    Verdict::Pass,
                    format!("trail {} delivers to CloudWatch Logs", tr.name),
                )
                .with(vec![Evidence::new(
                    &tr.arn,
                    format!("log group {group}; {source} {}", ts(at)),
                )]);
            }
            Some(at) => evidence.push(Evidence::new(
                &tr.arn,
                format!(
                    "log group {group}; {source} {} is {:.1} hours old (limit {})",
                    ts(at),
                    age_hours(facts.now, at),
                    t.cloudwatch_max_age_hours
                ),
            )),
            None => {
                if let Some(Err(f)) = lg.map(|g| &g.last_ingestion) {
                    undecided = undecided.or(Some(f.clone()));
                    evidence.push(Evidence::new(
                        &tr.arn,
                        format!("log group {group}; {}", f.describe()),
                    ));
                } else {
                    evidence.push(Evidence::new(
                        &tr.arn,
                        format!("log group {group}; nothing delivered yet"),
                    ));
                }
            }
        }
    }
    if let Some(f) = undecided {
        let mut r = unknown_from("CW.1", &f);
        r.evidence = evidence;
        return r;
    }
    CheckResult::new(d, Verdict::Fail, "no recent delivery to CloudWatch Logs").with(evidence)
}

/// Whitespace outside double quotes removed: the comparison CIS auditors make.
#[must_use]
pub fn normalize_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut quoted = false;
    for c in p.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if quoted || !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A trail log group's CIS coverage: (group ARN, region, present: control → filter, missing).
struct CisGroup<'a> {
    arn: String,
    region: String,
    present: Vec<(&'static str, &'static str, &'a crate::facts::MetricFilter)>,
    missing: Vec<(&'static str, &'static str)>,
}

fn cis_groups<'a>(
    facts: &'a Facts,
    trails: &[Trail],
) -> (Vec<CisGroup<'a>>, Vec<Evidence>, Option<ApiFailure>) {
    let arns: BTreeSet<&str> = trails
        .iter()
        .filter_map(|t| t.log_group_arn.as_deref())
        .collect();
    let mut out = Vec::new();
    let mut evidence = Vec::new();
    let mut undecided = None;
    for arn in arns {
        let Some(g) = facts.log_groups.get(arn) else {
            evidence.push(Evidence::new(arn, "log group was not read"));
            continue;
        };
        let filters = match &g.filters {
            Ok(f) => f,
            Err(f) => {
                undecided = undecided.or(Some(f.clone()));
                evidence.push(Evidence::new(arn, f.describe()));
                continue;
            }
        };
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for (control, metric, pattern) in cairn_pattern::cis::cis_filters() {
            let want = normalize_pattern(pattern);
            match filters
                .iter()
                .find(|f| normalize_pattern(&f.pattern) == want)
            {
                Some(f) => present.push((*control, *metric, f)),
                None => missing.push((*control, *metric)),
            }
        }
        out.push(CisGroup {
            arn: arn.to_owned(),
            region: g.region.clone(),
            present,
            missing,
        });
    }
    out.sort_by_key(|g| g.missing.len());
    (out, evidence, undecided)
}

/// CW.2: all 14 CIS patterns on one trail log group.
fn cis_metric_filters(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let d = def("CW.2");
    let (groups, mut evidence, undecided) = cis_groups(facts, trails);
    if let Some(g) = groups.iter().find(|g| g.missing.is_empty()) {
        return CheckResult::new(
            d,
            Verdict::Pass,
            "all 14 CIS metric filter patterns are present",
        )
        .with(vec![Evidence::new(
            &g.arn,
            format!(
                "filters: {}",
                g.present
                    .iter()
                    .map(|(_, _, f)| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )]);
    }
    if let Some(f) = undecided {
        let mut r = unknown_from("CW.2", &f);
        r.evidence.extend(evidence);
        return r;
    }
    if groups.is_empty() && evidence.is_empty() {
        return CheckResult::new(
            d,
            Verdict::Fail,
            "no trail sends events to a CloudWatch Logs log group",
        );
    }
    for g in &groups {
        evidence.push(Evidence::new(
            &g.arn,
            format!(
                "missing the exact pattern of {}",
                g.missing
                    .iter()
                    .map(|(c, m)| format!("{c} ({m})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let n = groups.first().map_or(14, |g| g.missing.len());
    CheckResult::new(
        d,
        Verdict::Fail,
        format!("{n} CIS metric filter pattern(s) missing"),
    )
    .with(evidence)
}

/// The alarms on a CIS filter's metrics, for CW.3/CW.4: per present filter, the alarms
/// (with actions) watching its metric.
type AlarmMatch<'a> = Vec<(&'static str, String, Vec<&'a crate::facts::Alarm>)>;

fn cis_alarm_matches<'a>(
    facts: &'a Facts,
    g: &CisGroup<'_>,
) -> Result<AlarmMatch<'a>, &'a ApiFailure> {
    let alarms = match facts.alarms.get(&g.region) {
        Some(Ok(a)) => a.as_slice(),
        Some(Err(f)) => return Err(f),
        None => &[],
    };
    Ok(g.present
        .iter()
        .map(|(control, _, f)| {
            let hits = alarms
                .iter()
                .filter(|a| {
                    f.metrics
                        .iter()
                        .any(|(ns, m)| *ns == a.namespace && *m == a.metric)
                })
                .filter(|a| a.actions_enabled && !a.actions.is_empty())
                .collect();
            (*control, f.name.clone(), hits)
        })
        .collect())
}

/// What CW.3 and CW.4 look at: the first log group with a CIS metric filter, and the alarms on
/// each of its filters; or the result of check `id` when there is no such group (Info) or
/// its region's alarms could not be read (Unknown).
fn cis_alarm_scope<'a>(
    facts: &'a Facts,
    trails: &[Trail],
    id: &str,
) -> Result<(CisGroup<'a>, AlarmMatch<'a>), Box<CheckResult>> {
    let (groups, _, _) = cis_groups(facts, trails);
    let Some(g) = groups.into_iter().find(|g| !g.present.is_empty()) else {
        return Err(Box::new(CheckResult::new(
            def(id),
            Verdict::Info,
            "no CIS metric filter to check alarms for (see CW.2)",
        )));
    };
    let matches = cis_alarm_matches(facts, &g).map_err(|f| Box::new(unknown_from(id, f)))?;
    Ok((g, matches))
}

/// CW.3: an alarm with an action for each present CIS filter.
fn cis_alarms(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let (g, matches) = match cis_alarm_scope(facts, trails, "CW.3") {
        Ok(scope) => scope,
        Err(result) => return *result,
    };
    let mut p = Parts::default();
    for (control, filter, hits) in matches {
        let res = format!("{} filter {filter}", g.arn);
        match hits.first() {
            Some(a) => p.pass(
                &res,
                format!("{control}: alarm {} → {}", a.name, a.actions.join(", ")),
            ),
            None => p.fail(
                &res,
                format!("{control}: no alarm with an enabled action on the filter's metric"),
            ),
        }
    }
    p.finish("CW.3", "CIS metric filters")
}

/// CW.4: each CIS alarm's SNS topic has a confirmed subscription.
fn cis_subscriptions(facts: &Facts, trails: &[Trail]) -> CheckResult {
    let d = def("CW.4");
    let (_, matches) = match cis_alarm_scope(facts, trails, "CW.4") {
        Ok(scope) => scope,
        Err(result) => return *result,
    };
    let mut topics: BTreeSet<&str> = BTreeSet::new();
    let mut p = Parts::default();
    for (control, _, hits) in &matches {
        let sns: Vec<&str> = hits
            .iter()
            .flat_map(|a| a.actions.iter())
            .filter(|a| a.starts_with("arn:") && a.split(':').nth(2) == Some("sns"))
            .map(String::as_str)
            .collect();
        if !hits.is_empty() && sns.is_empty() {
            p.fail(
                hits[0].arn.as_str(),
                format!("{control}: the alarm has no SNS topic action"),
            );
        }
        topics.extend(sns);
    }
    for topic in topics {
        match facts.topic_subscriptions.get(topic) {
            Some(Ok(0)) => p.fail(topic, "no confirmed subscription"),
            Some(Ok(n)) => p.pass(topic, format!("{n} confirmed subscription(s)")),
            Some(Err(f)) => p.unknown(topic, f),
            None => p.fail(topic, "topic subscriptions were not read"),
        }
    }
    if p.pass + p.fail + p.unknown == 0 {
        return CheckResult::new(
            d,
            Verdict::Info,
            "no CIS alarm to check subscriptions for (see CW.3)",
        );
    }
    p.finish("CW.4", "alarm topics")
}

/// IAM.1: AWSCloudTrail_FullAccess holders.
fn full_access(facts: &Facts, t: &Thresholds) -> CheckResult {
    let d = def("IAM.1");
    let entities = match &facts.full_access {
        Ok(e) => e,
        Err(f) => return unknown_from("IAM.1", f),
    };
    let mut evidence: Vec<Evidence> = entities
        .iter()
        .map(|e| {
            Evidence::new(
                format!("{} {}", e.kind, e.name),
                format!("has {}", e.policy),
            )
        })
        .collect();
    let workload: Vec<String> = entities
        .iter()
        .filter(|e| {
            e.kind != "group"
                && t.workload_role_patterns
                    .iter()
                    .any(|p| crate::model::glob_match(p, &e.name))
        })
        .map(|e| format!("{} {}", e.kind, e.name))
        .collect();
    let mut problems = Vec::new();
    if entities.len() > t.max_full_access_principals {
        problems.push(format!(
            "attached to {} principals (limit {})",
            entities.len(),
            t.max_full_access_principals
        ));
    }
    if !workload.is_empty() {
        problems.push(format!("workload principals: {}", workload.join(", ")));
    }
    if problems.is_empty() {
        if evidence.is_empty() {
            evidence.push(Evidence::new(
                "arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess",
                "attached to no principal",
            ));
        }
        CheckResult::new(
            d,
            Verdict::Pass,
            format!("{} principal(s), none a workload", entities.len()),
        )
        .with(evidence)
    } else {
        CheckResult::new(d, Verdict::Fail, problems.join("; ")).with(evidence)
    }
}

/// IAM.2: root unused recently.
fn root_unused(facts: &Facts, t: &Thresholds) -> CheckResult {
    let d = def("IAM.2");
    let since = facts.now - Duration::days(i64::from(t.root_unused_days));
    let mut uses = Vec::new();
    let mut clean = Vec::new();
    let mut failures = Vec::new();
    match &facts.root_report {
        Ok(Some(r)) => {
            if let Some(p) = r.password_last_used.filter(|p| *p >= since) {
                uses.push(Evidence::new(
                    "root (credential report)",
                    format!("password last used {}", ts(p)),
                ));
            }
            for k in r.keys_last_used.iter().filter(|k| **k >= since) {
                uses.push(Evidence::new(
                    "root (credential report)",
                    format!("access key last used {}", ts(*k)),
                ));
            }
            clean.push(Evidence::new(
                "root (credential report)",
                format!(
                    "password last used {}, {} active access key(s)",
                    r.password_last_used.map_or("never".into(), ts),
                    r.active_keys
                ),
            ));
        }
        Ok(None) => failures.push(Evidence::new(
            "",
            "credential report has no <root_account> row",
        )),
        Err(f) => failures.push(Evidence::new("", f.describe())),
    }
    // Root's MFA and access keys (CIS 1.4, 1.5): reported, they do not decide "unused".
    if let Ok(sum) = &facts.account_summary {
        let get = |k: &str| sum.get(k).map_or("?".to_owned(), i64::to_string);
        clean.push(Evidence::new(
            "root (GetAccountSummary)",
            format!(
                "AccountMFAEnabled={}, AccountAccessKeysPresent={}",
                get("AccountMFAEnabled"),
                get("AccountAccessKeysPresent")
            ),
        ));
    }
    let mut events_read = false;
    match &facts.root_events {
        Ok(ev) => {
            events_read = true;
            // Changes first: they say more than reads (e.g. an earlier check run's).
            let mut recent: Vec<_> = ev.iter().filter(|e| e.time >= since).collect();
            recent.sort_by_key(|e| (e.read_only, std::cmp::Reverse(e.time)));
            for e in recent.iter().take(5) {
                uses.push(Evidence::new(
                    "root (LookupEvents)",
                    format!("{} {} at {}", e.source, e.name, ts(e.time)),
                ));
            }
            if recent.len() > 5 {
                uses.push(Evidence::new(
                    "root (LookupEvents)",
                    format!("... {} root events in total", recent.len()),
                ));
            }
            if recent.is_empty() {
                clean.push(Evidence::new(
                    "root (LookupEvents)",
                    format!("no event by root since {}", ts(since)),
                ));
            }
        }
        Err(f) => failures.push(Evidence::new("", f.describe())),
    }
    if !uses.is_empty() {
        return CheckResult::new(
            d,
            Verdict::Fail,
            format!("root was used in the last {} days", t.root_unused_days),
        )
        .with(uses);
    }
    if facts.root_report.as_ref().is_ok_and(Option::is_some) || events_read {
        return CheckResult::new(
            d,
            Verdict::Pass,
            format!("no root use in the last {} days", t.root_unused_days),
        )
        .with([clean, failures].concat());
    }
    CheckResult::new(
        d,
        Verdict::Unknown,
        "cannot tell: neither the credential report nor LookupEvents could be read",
    )
    .with([clean, failures].concat())
}

/// INS.1 (info).
fn insights(trails: &[Trail]) -> CheckResult {
    let mut on = Vec::new();
    let evidence = trails
        .iter()
        .map(|t| match &t.insights {
            Ok(v) if v.is_empty() => Evidence::new(&t.arn, "Insights not enabled"),
            Ok(v) => {
                on.push(t.name.clone());
                Evidence::new(&t.arn, format!("Insights: {}", v.join(", ")))
            }
            Err(f) => Evidence::new(&t.arn, f.describe()),
        })
        .collect();
    let summary = if on.is_empty() {
        "Insights is not enabled on any trail".to_owned()
    } else {
        format!("Insights enabled on {}", on.join(", "))
    };
    CheckResult::new(&INSIGHTS, Verdict::Info, summary).with(evidence)
}

#[cfg(test)]
pub(crate) mod tests;
