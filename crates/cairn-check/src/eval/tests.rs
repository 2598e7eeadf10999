//! Each check: the compliant fixture passes, and each way of breaking it fails (or is
//! unknown) with the evidence naming the resource.

use std::collections::BTreeMap;

use time::macros::datetime;

use super::*;
use crate::facts::{
    Acl, Alarm, Caller, FieldSelector, LogGroup, MetricFilter, ObjectLock, Organization,
    PolicyEntity, PublicAccessBlock, Regions, RootEvent, RootReport, Versioning,
};

const ACCT: &str = "111111111111";
const ARN: &str = "arn:aws:cloudtrail:us-east-1:111111111111:trail/audit";
const GROUP: &str = "arn:aws:logs:us-east-1:111111111111:log-group:CT/audit:*";
const TOPIC: &str = "arn:aws:sns:us-east-1:111111111111:cis";
const NOW: OffsetDateTime = datetime!(2026-12-06 12:00 UTC);
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "us-west-2"];

fn unsupported(service: &str, op: &str) -> ApiFailure {
    ApiFailure {
        service: service.into(),
        operation: op.into(),
        code: "UnknownServiceException".into(),
        message: format!("the service `{service}` is not served"),
        status: 400,
    }
}

fn fsel(field: &str, equals: &[&str]) -> FieldSelector {
    FieldSelector {
        field: field.into(),
        equals: equals.iter().map(|s| (*s).to_owned()).collect(),
        ..FieldSelector::default()
    }
}

fn advanced() -> Selectors {
    Selectors::Advanced(vec![
        crate::facts::AdvancedSelector {
            name: Some("mgmt".into()),
            fields: vec![fsel("eventCategory", &["Management"])],
        },
        crate::facts::AdvancedSelector {
            name: Some("s3".into()),
            fields: vec![
                fsel("eventCategory", &["Data"]),
                fsel("resources.type", &["AWS::S3::Object"]),
            ],
        },
        crate::facts::AdvancedSelector {
            name: Some("lambda".into()),
            fields: vec![
                fsel("eventCategory", &["Data"]),
                fsel("resources.type", &["AWS::Lambda::Function"]),
            ],
        },
    ])
}

fn trail() -> Trail {
    Trail {
        arn: ARN.into(),
        name: "audit".into(),
        home_region: "us-east-1".into(),
        account: ACCT.into(),
        multi_region: true,
        organization: true,
        global_events: true,
        validation: true,
        bucket: "trail-logs".into(),
        prefix: None,
        kms_key: Some("arn:aws:kms:us-east-1:222222222222:key/k1".into()),
        log_group_arn: Some(GROUP.into()),
        status: Ok(TrailStatus {
            is_logging: true,
            latest_digest: Some(NOW - Duration::minutes(30)),
            latest_cloudwatch: Some(NOW - Duration::minutes(1)),
            latest_delivery_error: None,
        }),
        selectors: Ok(advanced()),
        insights: Ok(vec!["ApiCallRateInsight".into()]),
    }
}

fn bucket() -> Bucket {
    Bucket {
        name: "trail-logs".into(),
        acl: Ok(Acl {
            owner: "log-archive-canonical".into(),
            grants: vec![("log-archive-canonical".into(), "FULL_CONTROL".into())],
        }),
        public_access_block: Ok(Some(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        })),
        policy: Ok(Some(
            r#"{"Statement":[{"Sid":"AWSCloudTrailWrite","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::trail-logs/*"}]}"#.into(),
        )),
        versioning: Ok(Versioning {
            status: "Enabled".into(),
            mfa_delete: "Enabled".into(),
        }),
        object_lock: Ok(Some(ObjectLock {
            enabled: true,
            default_retention: Some(("COMPLIANCE".into(), "365 days".into())),
        })),
        logging: Ok(Some("access-logs".into())),
        lifecycle: Ok(vec![("archive".into(), true)]),
        encryption: Ok(Some("aws:kms".into())),
    }
}

fn key() -> Key {
    Key {
        id: "arn:aws:kms:us-east-1:222222222222:key/k1".into(),
        metadata: Ok((
            "CUSTOMER".into(),
            "Enabled".into(),
            "arn:aws:kms:us-east-1:222222222222:key/k1".into(),
        )),
        rotation: Ok(true),
        policy: Ok(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}"#.into()),
    }
}

fn cis_filters() -> Vec<MetricFilter> {
    cairn_pattern::cis::cis_filters()
        .iter()
        .map(|(c, m, p)| MetricFilter {
            name: format!("CIS-{c}-{m}"),
            pattern: (*p).to_owned(),
            metrics: vec![("CISBenchmark".into(), (*m).to_owned())],
        })
        .collect()
}

fn cis_alarms() -> Vec<Alarm> {
    cairn_pattern::cis::cis_filters()
        .iter()
        .map(|(c, m, _)| Alarm {
            name: format!("CIS-{c}-{m}"),
            arn: format!("arn:aws:cloudwatch:us-east-1:{ACCT}:alarm:CIS-{c}-{m}"),
            namespace: "CISBenchmark".into(),
            metric: (*m).to_owned(),
            actions_enabled: true,
            actions: vec![TOPIC.into()],
        })
        .collect()
}

/// Everything as the guide wants it.
pub(crate) fn compliant() -> Facts {
    let nf = unsupported("none", "None");
    let mut f = Facts::empty(NOW, "us-east-1", &nf);
    f.caller = Ok(Caller {
        account: ACCT.into(),
        arn: format!("arn:aws:iam::{ACCT}:user/auditor"),
    });
    f.regions = Regions {
        list: REGIONS.iter().map(|s| (*s).to_owned()).collect(),
        explicit: true,
    };
    f.trails = Ok(vec![trail()]);
    for r in REGIONS {
        f.region_trails.insert(r.into(), Ok(vec![ARN.into()]));
    }
    f.organization = Ok(Some(Organization {
        id: "o-1".into(),
        management_account: ACCT.into(),
        accounts: Ok(vec![ACCT.into(), "222222222222".into()]),
    }));
    f.buckets.insert("trail-logs".into(), bucket());
    f.own_buckets = Ok(crate::facts::OwnBuckets {
        owner: "workload-canonical".into(),
        names: vec!["app-data".into()],
    });
    f.keys.insert(key().id.clone(), key());
    f.log_groups.insert(
        GROUP.into(),
        LogGroup {
            name: "CT/audit".into(),
            region: "us-east-1".into(),
            filters: Ok(cis_filters()),
            last_ingestion: Ok(Some(NOW - Duration::minutes(1))),
        },
    );
    f.alarms.insert("us-east-1".into(), Ok(cis_alarms()));
    f.topic_subscriptions.insert(TOPIC.into(), Ok(1));
    f.full_access = Ok(vec![PolicyEntity {
        kind: "role".into(),
        name: "TrailAdmin".into(),
        policy: "AWSCloudTrail_FullAccess".into(),
    }]);
    f.root_report = Ok(Some(RootReport {
        password_last_used: Some(datetime!(2025-01-01 00:00 UTC)),
        keys_last_used: Vec::new(),
        active_keys: 0,
    }));
    f.root_events = Ok(Vec::new());
    let latest: BTreeMap<String, OffsetDateTime> = REGIONS
        .iter()
        .map(|r| ((*r).to_owned(), NOW - Duration::minutes(20)))
        .collect();
    f.digests.insert(ARN.into(), Ok(latest));
    f
}

fn run(f: &Facts) -> Vec<CheckResult> {
    evaluate(f, &Thresholds::default())
}

fn verdict(results: &[CheckResult], id: &str) -> Verdict {
    results.iter().find(|r| r.id == id).unwrap().verdict
}

fn result<'a>(results: &'a [CheckResult], id: &str) -> &'a CheckResult {
    results.iter().find(|r| r.id == id).unwrap()
}

/// Evaluates `f`: check `id` has verdict `want` and its evidence says `says`.
#[track_caller]
fn assert_check(f: &Facts, id: &str, want: Verdict, says: &str) {
    let r = run(f);
    assert_eq!(verdict(&r, id), want);
    let e = evidence(&r, id);
    assert!(e.contains(says), "{id} evidence lacks {says:?}: {e}");
}

fn evidence(results: &[CheckResult], id: &str) -> String {
    result(results, id)
        .evidence
        .iter()
        .map(|e| format!("{} => {}", e.resource, e.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ids whose verdict differs from the compliant run's.
fn changed(f: &Facts) -> Vec<(String, Verdict)> {
    let base = run(&compliant());
    run(f)
        .into_iter()
        .zip(base)
        .filter(|(a, b)| a.verdict != b.verdict)
        .map(|(a, _)| (a.id, a.verdict))
        .collect()
}

fn t0(f: &mut Facts) -> &mut Trail {
    &mut f.trails.as_mut().unwrap()[0]
}

#[test]
fn compliant_passes_everything() {
    let r = run(&compliant());
    for c in &r {
        let expect = if matches!(c.id.as_str(), "CT.4" | "INS.1") {
            Verdict::Info
        } else {
            Verdict::Pass
        };
        assert_eq!(c.verdict, expect, "{c:#?}");
    }
    assert_eq!(r.len(), crate::model::all_checks().len());
}

#[test]
fn no_trails_fail() {
    let mut f = compliant();
    f.trails = Ok(Vec::new());
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.1"), Verdict::Fail);
    assert_eq!(verdict(&r, "CT.5"), Verdict::Fail);
    assert_eq!(verdict(&r, "DE.1"), Verdict::Fail);
}

#[test]
fn describe_trails_failure_makes_everything_unknown() {
    let mut f = compliant();
    f.trails = Err(unsupported("cloudtrail", "DescribeTrails"));
    assert!(run(&f).iter().all(|c| c.verdict == Verdict::Unknown));
}

#[test]
fn stopped_trail() {
    let mut f = compliant();
    t0(&mut f).status.as_mut().unwrap().is_logging = false;
    let c = changed(&f);
    let ids: Vec<&str> = c.iter().map(|x| x.0.as_str()).collect();
    // Stopping the only trail leaves every Region unlogged and no data events recorded.
    assert_eq!(ids, ["CT.1", "CT.2", "CT.3", "DE.1", "DE.2"], "{c:?}");
    let r = run(&f);
    assert!(evidence(&r, "CT.1").contains("not logging (IsLogging false)"));
    assert!(evidence(&r, "CT.2").contains("us-west-2 => no logging trail"));
}

#[test]
fn single_region_trail() {
    let mut f = compliant();
    t0(&mut f).multi_region = false;
    t0(&mut f).global_events = false;
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.1"), Verdict::Fail);
    let e = evidence(&r, "CT.1");
    assert!(
        e.contains(ARN)
            && e.contains("not multi-Region")
            && e.contains("excludes global service events"),
        "{e}"
    );
    // Other Regions lose their trail; its home Region keeps it.
    assert_eq!(verdict(&r, "CT.2"), Verdict::Fail);
    assert!(evidence(&r, "CT.2").contains("us-east-1 => logged by"));
    assert!(evidence(&r, "CT.2").contains("eu-west-1 => no logging trail"));
}

#[test]
fn write_only_management_events() {
    let mut f = compliant();
    t0(&mut f).selectors = Ok(Selectors::Basic(vec![crate::facts::BasicSelector {
        read_write: "WriteOnly".into(),
        include_management: true,
        exclude_management_sources: vec![],
        data_resources: vec![],
    }]));
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.1"), Verdict::Fail);
    assert!(evidence(&r, "CT.1").contains("management read events are not recorded"));
    assert_eq!(verdict(&r, "CT.2"), Verdict::Pass);
}

#[test]
fn shadow_trail_listed_in_other_regions_is_one_trail() {
    // The shadow copy is listed in every Region under the home trail's ARN; facts hold it once.
    let f = compliant();
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.2"), Verdict::Pass);
    assert!(evidence(&r, "CT.2").contains(&format!("eu-west-1 => logged by {ARN}")));
    assert_eq!(result(&r, "CT.4").summary, "1 trail(s), 1 owner account(s)");
}

#[test]
fn single_region_trail_in_another_region_covers_only_its_region() {
    let mut f = compliant();
    let mut other = trail();
    other.arn = "arn:aws:cloudtrail:eu-west-1:111111111111:trail/eu".into();
    other.home_region = "eu-west-1".into();
    other.multi_region = false;
    other.organization = false;
    t0(&mut f).status.as_mut().unwrap().is_logging = false;
    f.trails.as_mut().unwrap().push(other.clone());
    // us-west-2 lists the stopped multi-Region trail's shadow only.
    f.region_trails
        .insert("eu-west-1".into(), Ok(vec![ARN.into(), other.arn.clone()]));
    let r = run(&f);
    let e = evidence(&r, "CT.2");
    assert!(
        e.contains(&format!("eu-west-1 => logged by {}", other.arn)),
        "{e}"
    );
    assert!(e.contains("us-west-2 => no logging trail"), "{e}");
}

#[test]
fn region_listing_unknown() {
    let mut f = compliant();
    f.region_trails.insert(
        "us-west-2".into(),
        Err(ApiFailure {
            code: "AccessDeniedException".into(),
            ..unsupported("cloudtrail", "DescribeTrails")
        }),
    );
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.2"), Verdict::Unknown);
}

#[test]
fn organization_coverage() {
    let mut f = compliant();
    t0(&mut f).organization = false;
    assert_check(
        &f,
        "CT.3",
        Verdict::Fail,
        "accounts: 111111111111, 222222222222",
    );
    f.organization = Ok(None);
    assert_eq!(verdict(&run(&f), "CT.3"), Verdict::Pass);
    f.organization = Err(unsupported("organizations", "DescribeOrganization"));
    assert_check(
        &f,
        "CT.3",
        Verdict::Unknown,
        "organizations DescribeOrganization: UnknownServiceException",
    );
    // An organization trail decides it even when Organizations cannot be read.
    t0(&mut f).organization = true;
    assert_eq!(verdict(&run(&f), "CT.3"), Verdict::Pass);
}

#[test]
fn validation_off() {
    let mut f = compliant();
    t0(&mut f).validation = false;
    let c = changed(&f);
    assert_eq!(
        c,
        vec![
            ("CT.5".into(), Verdict::Fail),
            ("CT.6".into(), Verdict::Info)
        ]
    );
    assert!(
        evidence(&run(&f), "CT.5").contains(&format!("{ARN} => LogFileValidationEnabled false"))
    );
}

#[test]
fn digests_stale_missing_and_from_status() {
    let mut f = compliant();
    let d = f.digests.get_mut(ARN).unwrap().as_mut().unwrap();
    d.insert("us-west-2".into(), NOW - Duration::hours(5));
    d.remove("eu-west-1");
    let r = run(&f);
    assert_eq!(verdict(&r, "CT.6"), Verdict::Fail);
    let e = evidence(&r, "CT.6");
    assert!(
        e.contains("(us-west-2) => latest digest 2026-12-06T07:00:00Z is 5.0 hours old"),
        "{e}"
    );
    assert!(e.contains("(eu-west-1) => no digest"), "{e}");
    // No S3 API: the trail status decides, and says the listing was unavailable.
    f.digests
        .insert(ARN.into(), Err(unsupported("s3", "ListObjectsV2")));
    assert_check(
        &f,
        "CT.6",
        Verdict::Pass,
        "per-Region listing unavailable: s3 ListObjectsV2: UnknownServiceException",
    );
    t0(&mut f).status.as_mut().unwrap().latest_digest = None;
    assert_eq!(verdict(&run(&f), "CT.6"), Verdict::Unknown);
}

#[test]
fn chain_validation_results() {
    let mut f = compliant();
    for (ok, summary, want, says) in [
        (
            true,
            "24 digests valid, 30 log files valid",
            Verdict::Pass,
            "cairn validate over the last 24 hours: 24 digests valid",
        ),
        (
            false,
            "1 log file invalid",
            Verdict::Fail,
            "FAILED: 1 log file invalid",
        ),
    ] {
        let summary = summary.into();
        let validation = crate::facts::Validation { ok, summary };
        f.validations.insert(ARN.into(), Ok(validation));
        assert_check(&f, "CT.6", want, says);
    }
    f.validations
        .insert(ARN.into(), Err(unsupported("cairn", "validate")));
    assert_eq!(verdict(&run(&f), "CT.6"), Verdict::Unknown);
}

#[test]
fn kms_failure_modes() {
    let mut f = compliant();
    t0(&mut f).kms_key = None;
    assert_check(&f, "CT.7", Verdict::Fail, "KmsKeyId not set");
    let mut f = compliant();
    f.keys.values_mut().next().unwrap().rotation = Ok(false);
    assert!(evidence(&run(&f), "CT.7").contains("rotation is off"));
    let mut f = compliant();
    f.keys.values_mut().next().unwrap().metadata = Ok(("AWS".into(), "Enabled".into(), "k".into()));
    assert!(evidence(&run(&f), "CT.7").contains("AWS-managed"));
    let mut f = compliant();
    f.keys.values_mut().next().unwrap().policy = Ok(
        r#"{"Statement":{"Sid":"open","Effect":"Allow","Principal":"*","Action":["kms:Decrypt"],"Resource":"*"}}"#.into(),
    );
    assert_check(
        &f,
        "CT.7",
        Verdict::Fail,
        "statement open allows kms:Decrypt to everyone",
    );
    let mut f = compliant();
    f.keys.values_mut().next().unwrap().metadata = Err(unsupported("kms", "DescribeKey"));
    assert_eq!(verdict(&run(&f), "CT.7"), Verdict::Unknown);
}

#[test]
fn bucket_failure_modes() {
    type Mutate = fn(&mut Bucket);
    let cases: [(&str, Mutate, &str); 9] = [
        (
            "S3.2",
            |b| b.public_access_block = Ok(None),
            "no public access block",
        ),
        (
            "S3.2",
            |b| {
                b.policy = Ok(Some(r#"{"Statement":[{"Sid":"pub","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}]}"#.into()));
            },
            "statement pub allows s3:GetObject to everyone",
        ),
        (
            "S3.2",
            |b| {
                b.acl.as_mut().unwrap().grants.push((
                    "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                    "READ".into(),
                ))
            },
            "ACL grants READ to http://acs.amazonaws.com/groups/global/AllUsers",
        ),
        (
            "S3.3",
            |b| {
                b.versioning = Ok(Versioning {
                    status: "Enabled".into(),
                    mfa_delete: "Disabled".into(),
                })
            },
            "MFA delete not enabled",
        ),
        (
            "S3.3",
            |b| b.versioning = Ok(Versioning::default()),
            "versioning never enabled",
        ),
        (
            "S3.4",
            |b| b.object_lock = Ok(None),
            "object lock not configured",
        ),
        (
            "S3.4",
            |b| {
                b.object_lock = Ok(Some(ObjectLock {
                    enabled: true,
                    default_retention: None,
                }))
            },
            "no default retention",
        ),
        (
            "S3.5",
            |b| b.logging = Ok(None),
            "server access logging is off",
        ),
        ("S3.7", |b| b.encryption = Ok(None), "no default encryption"),
    ];
    for (id, mutate, text) in cases {
        let mut f = compliant();
        mutate(f.buckets.get_mut("trail-logs").unwrap());
        let c = changed(&f);
        assert_eq!(c, vec![(id.to_owned(), Verdict::Fail)], "{text}");
        let e = evidence(&run(&f), id);
        assert!(
            e.contains("arn:aws:s3:::trail-logs => ") && e.contains(text),
            "{e}"
        );
    }
    let mut f = compliant();
    f.buckets.get_mut("trail-logs").unwrap().versioning =
        Err(unsupported("s3", "GetBucketVersioning"));
    assert_eq!(changed(&f), vec![("S3.3".into(), Verdict::Unknown)]);
}

#[test]
fn lifecycle_rules_give_way_to_mfa_delete() {
    // Without MFA delete, a bucket with no enabled rule fails S3.6.
    let mut f = compliant();
    let b = f.buckets.get_mut("trail-logs").unwrap();
    b.lifecycle = Ok(vec![("old".into(), false)]);
    b.versioning = Ok(Versioning {
        status: "Enabled".into(),
        mfa_delete: "Disabled".into(),
    });
    assert_check(&f, "S3.6", Verdict::Fail, "no enabled lifecycle rule");
    // With MFA delete, S3 allows no lifecycle rule at all: S3.6 passes and says why.
    let mut f = compliant();
    f.buckets.get_mut("trail-logs").unwrap().lifecycle = Ok(vec![]);
    let r = run(&f);
    assert_eq!(changed(&f), vec![]);
    assert!(evidence(&r, "S3.6").contains("MFA delete is enabled"));
    // An unreadable versioning status does not excuse a missing rule.
    let mut f = compliant();
    let b = f.buckets.get_mut("trail-logs").unwrap();
    b.lifecycle = Ok(vec![]);
    b.versioning = Err(unsupported("s3", "GetBucketVersioning"));
    assert_eq!(verdict(&run(&f), "S3.6"), Verdict::Fail);
}

#[test]
fn bucket_in_the_same_account() {
    let mut f = compliant();
    f.own_buckets
        .as_mut()
        .unwrap()
        .names
        .push("trail-logs".into());
    assert_check(&f, "S3.1", Verdict::Fail, "owned by the calling account");
}

#[test]
fn s3_data_events_narrowed_to_one_bucket() {
    let mut f = compliant();
    let Ok(Selectors::Advanced(sel)) = &mut t0(&mut f).selectors else {
        panic!()
    };
    sel[1].fields.push(FieldSelector {
        field: "resources.ARN".into(),
        starts_with: vec!["arn:aws:s3:::trail-logs/".into()],
        ..FieldSelector::default()
    });
    assert_eq!(changed(&f), vec![("DE.1".into(), Verdict::Fail)]);
    let r = run(&f);
    assert!(evidence(&r, "DE.1").contains("StartsWith arn:aws:s3:::trail-logs/"));
    assert_eq!(
        result(&r, "DE.1").summary,
        "reads and writes of S3 objects of all buckets are not logged by any logging trail"
    );
}

#[test]
fn s3_data_events_from_basic_selectors_on_a_second_trail() {
    let mut f = compliant();
    let Ok(Selectors::Advanced(sel)) = &mut t0(&mut f).selectors else {
        panic!()
    };
    sel.remove(1);
    assert_eq!(verdict(&run(&f), "DE.1"), Verdict::Fail);
    let mut data = trail();
    data.arn = "arn:aws:cloudtrail:us-east-1:111111111111:trail/data".into();
    data.selectors = Ok(Selectors::Basic(vec![crate::facts::BasicSelector {
        read_write: "All".into(),
        include_management: false,
        exclude_management_sources: vec![],
        data_resources: vec![("AWS::S3::Object".into(), vec!["arn:aws:s3".into()])],
    }]));
    f.trails.as_mut().unwrap().push(data);
    assert_check(
        &f,
        "DE.1",
        Verdict::Pass,
        "trail/data => basic selector DataResources AWS::S3::Object = arn:aws:s3",
    );
}

#[test]
fn lambda_data_events_missing() {
    let mut f = compliant();
    let Ok(Selectors::Advanced(sel)) = &mut t0(&mut f).selectors else {
        panic!()
    };
    sel.remove(2);
    assert_eq!(changed(&f), vec![("DE.2".into(), Verdict::Fail)]);
}

#[test]
fn cloudwatch_delivery() {
    let mut f = compliant();
    t0(&mut f).status.as_mut().unwrap().latest_cloudwatch = None;
    // Falls back to the log group's streams.
    assert_check(
        &f,
        "CW.1",
        Verdict::Pass,
        "DescribeLogStreams lastIngestionTime",
    );
    f.log_groups.get_mut(GROUP).unwrap().last_ingestion = Ok(Some(NOW - Duration::hours(30)));
    assert_check(&f, "CW.1", Verdict::Fail, "30.0 hours old");
    t0(&mut f).log_group_arn = None;
    assert_check(
        &f,
        "CW.1",
        Verdict::Fail,
        "CloudWatchLogsLogGroupArn not set",
    );
}

#[test]
fn cis_filter_missing_or_changed() {
    let mut f = compliant();
    f.log_groups
        .get_mut(GROUP)
        .unwrap()
        .filters
        .as_mut()
        .unwrap()
        .retain(|x| !x.name.starts_with("CIS-CloudWatch.5-"));
    assert_eq!(changed(&f), vec![("CW.2".into(), Verdict::Fail)]);
    let e = evidence(&run(&f), "CW.2");
    assert!(
        e.contains("missing the exact pattern of CloudWatch.5 (CloudTrailConfigChanges)"),
        "{e}"
    );
    // Whitespace does not matter; a changed term does.
    let mut f = compliant();
    for x in f
        .log_groups
        .get_mut(GROUP)
        .unwrap()
        .filters
        .as_mut()
        .unwrap()
    {
        x.pattern = x.pattern.replace("&&", " && ").replace('{', "{ ");
    }
    assert_eq!(verdict(&run(&f), "CW.2"), Verdict::Pass);
    let mut f = compliant();
    let filters = f
        .log_groups
        .get_mut(GROUP)
        .unwrap()
        .filters
        .as_mut()
        .unwrap();
    filters[0].pattern = filters[0].pattern.replace("Root", "root");
    assert!(evidence(&run(&f), "CW.2").contains("CloudWatch.1 (RootAccountUsage)"));
    let mut f = compliant();
    f.log_groups.get_mut(GROUP).unwrap().filters =
        Err(unsupported("logs", "DescribeMetricFilters"));
    assert_eq!(verdict(&run(&f), "CW.2"), Verdict::Unknown);
}

#[test]
fn cis_alarms_and_subscriptions() {
    let mut f = compliant();
    f.alarms
        .get_mut("us-east-1")
        .unwrap()
        .as_mut()
        .unwrap()
        .retain(|a| a.metric != "RootAccountUsage");
    assert_eq!(changed(&f), vec![("CW.3".into(), Verdict::Fail)]);
    assert!(evidence(&run(&f), "CW.3").contains("CloudWatch.1: no alarm"));
    let mut f = compliant();
    f.topic_subscriptions.insert(TOPIC.into(), Ok(0));
    assert_eq!(changed(&f), vec![("CW.4".into(), Verdict::Fail)]);
    assert!(evidence(&run(&f), "CW.4").contains(&format!("{TOPIC} => no confirmed subscription")));
    f.topic_subscriptions.insert(
        TOPIC.into(),
        Err(unsupported("sns", "ListSubscriptionsByTopic")),
    );
    assert_eq!(changed(&f), vec![("CW.4".into(), Verdict::Unknown)]);
}

#[test]
fn full_access_limits() {
    let mut f = compliant();
    f.full_access = Ok(vec![PolicyEntity {
        kind: "role".into(),
        name: "web-app-lambda-role".into(),
        policy: "AWSCloudTrailFullAccess".into(),
    }]);
    let r = run(&f);
    assert_eq!(verdict(&r, "IAM.1"), Verdict::Fail);
    assert!(
        result(&r, "IAM.1")
            .summary
            .contains("workload principals: role web-app-lambda-role")
    );
    let t = Thresholds {
        max_full_access_principals: 0,
        ..Thresholds::default()
    };
    assert_eq!(verdict(&evaluate(&compliant(), &t), "IAM.1"), Verdict::Fail);
    f.full_access = Err(unsupported("iam", "ListEntitiesForPolicy"));
    assert_eq!(verdict(&run(&f), "IAM.1"), Verdict::Unknown);
}

#[test]
fn root_use() {
    let mut f = compliant();
    f.root_report = Ok(Some(RootReport {
        password_last_used: Some(NOW - Duration::days(3)),
        ..RootReport::default()
    }));
    assert_check(&f, "IAM.2", Verdict::Fail, "password last used 2026-12-03");
    // Without IAM, LookupEvents decides.
    let mut f = compliant();
    f.root_report = Err(unsupported("iam", "GenerateCredentialReport"));
    assert_eq!(verdict(&run(&f), "IAM.2"), Verdict::Pass);
    f.root_events = Ok(vec![RootEvent {
        time: NOW - Duration::hours(1),
        name: "StopLogging".into(),
        source: "cloudtrail.amazonaws.com".into(),
        read_only: false,
    }]);
    assert_check(
        &f,
        "IAM.2",
        Verdict::Fail,
        "cloudtrail.amazonaws.com StopLogging",
    );
    f.root_events = Err(unsupported("cloudtrail", "LookupEvents"));
    f.account_summary = Ok([
        ("AccountMFAEnabled".to_owned(), 1),
        ("AccountAccessKeysPresent".to_owned(), 0),
    ]
    .into());
    assert_check(
        &f,
        "IAM.2",
        Verdict::Unknown,
        "AccountMFAEnabled=1, AccountAccessKeysPresent=0",
    );
}

#[test]
fn insights_is_informational() {
    let mut f = compliant();
    t0(&mut f).insights = Ok(Vec::new());
    let r = run(&f);
    assert_eq!(verdict(&r, "INS.1"), Verdict::Info);
    assert_eq!(
        result(&r, "INS.1").summary,
        "Insights is not enabled on any trail"
    );
}

#[test]
fn normalization_keeps_quoted_spaces() {
    assert_eq!(normalize_pattern(r#"{ $.a = "x y" }"#), r#"{$.a="x y"}"#);
}
