//! Reads the facts through the AWS APIs. Every call's failure is kept as a fact, never turned
//! into an assumption; only "not configured" answers (`NoSuchBucketPolicy`,
//! `InsightNotEnabledException`, ...) are read as "off".

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::aws::xml::Element;
use crate::aws::{ApiFailure, Aws, Fetched};
use crate::facts::{
    Acl, AdvancedSelector, Alarm, BasicSelector, Bucket, Caller, Facts, FieldSelector, Key,
    LogGroup, MetricFilter, ObjectLock, Organization, OwnBuckets, PolicyEntity, PublicAccessBlock,
    Regions, RootEvent, RootReport, Selectors, Trail, TrailStatus, Versioning,
};
use crate::model::Thresholds;

const CT: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
const LOGS: &str = "Logs_20140328";
const KMS: &str = "TrentService";
const ORGS: &str = "AWSOrganizationsV20161128";
const CW: &str = "GraniteServiceVersion20100801";

/// What to gather beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `--regions`: the regions that must each have a logging trail.
    pub regions: Option<Vec<String>>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON timestamp: epoch seconds (number) or an RFC 3339 / ISO string.
fn time_of(v: Option<&Value>) -> Option<OffsetDateTime> {
    match v? {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            #[allow(clippy::cast_possible_truncation)]
            OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128).ok()
        }
        Value::String(s) if !s.is_empty() => parse_time(s),
        _ => None,
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok().or_else(|| {
        OffsetDateTime::parse(
            &format!("{}Z", s.trim().trim_end_matches("+00:00")),
            &Rfc3339,
        )
        .ok()
    })
}

fn arn_field(arn: &str, i: usize) -> String {
    arn.split(':').nth(i).unwrap_or("").to_owned()
}

/// Parses GetEventSelectors' answer.
#[must_use]
pub fn parse_selectors(v: &Value) -> Selectors {
    if let Some(adv) = v.get("AdvancedEventSelectors").and_then(Value::as_array)
        && !adv.is_empty()
    {
        return Selectors::Advanced(
            adv.iter()
                .map(|s| AdvancedSelector {
                    name: self::s(s, "Name"),
                    fields: s["FieldSelectors"]
                        .as_array()
                        .map(|fs| {
                            fs.iter()
                                .map(|f| FieldSelector {
                                    field: self::s(f, "Field").unwrap_or_default(),
                                    equals: strings(&f["Equals"]),
                                    starts_with: strings(&f["StartsWith"]),
                                    ends_with: strings(&f["EndsWith"]),
                                    not_equals: strings(&f["NotEquals"]),
                                    not_starts_with: strings(&f["NotStartsWith"]),
                                    not_ends_with: strings(&f["NotEndsWith"]),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        );
    }
    Selectors::Basic(
        v.get("EventSelectors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| BasicSelector {
                        read_write: s(e, "ReadWriteType").unwrap_or_else(|| "All".into()),
                        include_management: e
                            .get("IncludeManagementEvents")
                            .and_then(Value::as_bool)
                            .unwrap_or(true),
                        exclude_management_sources: strings(&e["ExcludeManagementEventSources"]),
                        data_resources: e["DataResources"]
                            .as_array()
                            .map(|d| {
                                d.iter()
                                    .map(|r| {
                                        (s(r, "Type").unwrap_or_default(), strings(&r["Values"]))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Parses one DescribeTrails entry (status, selectors and insights are filled later).
fn trail_from(v: &Value, pending: &ApiFailure) -> Option<Trail> {
    let arn = s(v, "TrailARN")?;
    Some(Trail {
        name: s(v, "Name").unwrap_or_default(),
        home_region: s(v, "HomeRegion").unwrap_or_else(|| arn_field(&arn, 3)),
        account: arn_field(&arn, 4),
        multi_region: b(v, "IsMultiRegionTrail"),
        organization: b(v, "IsOrganizationTrail"),
        global_events: b(v, "IncludeGlobalServiceEvents"),
        validation: b(v, "LogFileValidationEnabled"),
        bucket: s(v, "S3BucketName").unwrap_or_default(),
        prefix: s(v, "S3KeyPrefix").filter(|p| !p.is_empty()),
        kms_key: s(v, "KmsKeyId").filter(|p| !p.is_empty()),
        log_group_arn: s(v, "CloudWatchLogsLogGroupArn").filter(|p| !p.is_empty()),
        status: Err(pending.clone()),
        selectors: Err(pending.clone()),
        insights: Err(pending.clone()),
        arn,
    })
}

/// Parses GetTrailStatus.
#[must_use]
pub fn parse_status(v: &Value) -> TrailStatus {
    TrailStatus {
        is_logging: b(v, "IsLogging"),
        latest_digest: time_of(v.get("LatestDigestDeliveryTime")),
        latest_cloudwatch: time_of(v.get("LatestCloudWatchLogsDeliveryTime")),
        latest_delivery_error: s(v, "LatestDeliveryError").filter(|e| !e.is_empty()),
    }
}

/// Parses a credential report CSV; returns the `<root_account>` row.
#[must_use]
pub fn parse_credential_report(csv: &str) -> Option<RootReport> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |row: &[&str], name: &str| -> Option<String> {
        let i = header.iter().position(|h| *h == name)?;
        row.get(i).map(|v| (*v).to_owned())
    };
    for line in lines {
        let row: Vec<&str> = line.split(',').collect();
        if row.first() != Some(&"<root_account>") {
            continue;
        }
        let mut r = RootReport {
            password_last_used: col(&row, "password_last_used").and_then(|v| parse_time(&v)),
            ..RootReport::default()
        };
        for k in ["1", "2"] {
            if col(&row, &format!("access_key_{k}_active")).as_deref() == Some("true") {
                r.active_keys += 1;
            }
            if let Some(t) =
                col(&row, &format!("access_key_{k}_last_used_date")).and_then(|v| parse_time(&v))
            {
                r.keys_last_used.push(t);
            }
        }
        return Some(r);
    }
    None
}

/// `Ok(())` when the failure's code means "not configured".
fn none_if(codes: &[&str], f: ApiFailure) -> Fetched<()> {
    if codes.contains(&f.code.as_str()) {
        Ok(())
    } else {
        Err(f)
    }
}

/// The canonical user ID of an S3 answer's `<Owner><ID>` (empty when absent).
fn owner_id(e: &Element) -> String {
    e.path(&["Owner", "ID"])
        .map(|x| x.text.trim().to_owned())
        .unwrap_or_default()
}

struct Gatherer<'a> {
    aws: &'a Aws,
    region: String,
    thresholds: &'a Thresholds,
}

impl Gatherer<'_> {
    /// One AWS Organizations (JSON 1.1) call, in the scope's region.
    async fn organizations(&self, action: &str, body: &Value) -> Fetched<Value> {
        self.aws
            .json("organizations", &self.region, ORGS, "1.1", action, body)
            .await
    }

    /// One IAM query-API call, in the scope's region.
    async fn iam(&self, action: &str, params: &[(&str, String)]) -> Fetched<Element> {
        self.aws
            .query("iam", &self.region, "2010-05-08", action, params)
            .await
    }

    async fn ct(&self, region: &str, op: &str, req: Value) -> Fetched<Value> {
        self.aws
            .json("cloudtrail", region, CT, "1.1", op, &req)
            .await
    }

    async fn describe_trails(&self, region: &str) -> Fetched<Vec<Value>> {
        let v = self
            .ct(
                region,
                "DescribeTrails",
                json!({"includeShadowTrails": true}),
            )
            .await?;
        Ok(v["trailList"].as_array().cloned().unwrap_or_default())
    }

    async fn fill_trail(&self, t: &mut Trail) {
        let home = t.home_region.clone();
        t.status = self
            .ct(&home, "GetTrailStatus", json!({"Name": t.arn}))
            .await
            .map(|v| parse_status(&v));
        t.selectors = self
            .ct(&home, "GetEventSelectors", json!({"TrailName": t.arn}))
            .await
            .map(|v| parse_selectors(&v));
        t.insights = match self
            .ct(&home, "GetInsightSelectors", json!({"TrailName": t.arn}))
            .await
        {
            Ok(v) => Ok(v["InsightSelectors"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| s(i, "InsightType")).collect())
                .unwrap_or_default()),
            Err(f) if f.code == "InsightNotEnabledException" => Ok(Vec::new()),
            Err(f) => Err(f),
        };
    }

    async fn caller(&self) -> Fetched<Caller> {
        let e = self
            .aws
            .query("sts", &self.region, "2011-06-15", "GetCallerIdentity", &[])
            .await?;
        let r = e.child("GetCallerIdentityResult").unwrap_or(&e);
        Ok(Caller {
            account: r.child_text("Account").unwrap_or("").to_owned(),
            arn: r.child_text("Arn").unwrap_or("").to_owned(),
        })
    }

    async fn organization(&self) -> Fetched<Option<Organization>> {
        let v = match self.organizations("DescribeOrganization", &json!({})).await {
            Ok(v) => v,
            Err(f) if f.code == "AWSOrganizationsNotInUseException" => return Ok(None),
            Err(f) => return Err(f),
        };
        let o = &v["Organization"];
        let mut accounts = Vec::new();
        let mut token: Option<String> = None;
        let listed = loop {
            let mut req = json!({});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            match self.organizations("ListAccounts", &req).await {
                Ok(page) => {
                    for a in page["Accounts"].as_array().into_iter().flatten() {
                        if s(a, "Status").as_deref().unwrap_or("ACTIVE") == "ACTIVE" {
                            accounts.extend(s(a, "Id"));
                        }
                    }
                    token = s(&page, "NextToken");
                    if token.is_none() {
                        break Ok(accounts);
                    }
                }
                Err(f) => break Err(f),
            }
        };
        Ok(Some(Organization {
            id: s(o, "Id").unwrap_or_default(),
            management_account: s(o, "MasterAccountId").unwrap_or_default(),
            accounts: listed,
        }))
    }

    async fn bucket_region(&self, name: &str) -> String {
        if self.aws.custom_endpoint("s3").is_some() {
            return self.region.clone();
        }
        match self
            .aws
            .s3(
                "us-east-1",
                "GetBucketLocation",
                name,
                &[("location", String::new())],
            )
            .await
        {
            Ok(Some(e)) if !e.text.trim().is_empty() => match e.text.trim() {
                "EU" => "eu-west-1".into(),
                r => r.to_owned(),
            },
            Ok(_) => "us-east-1".into(),
            Err(_) => self.region.clone(),
        }
    }

    async fn s3_get(
        &self,
        region: &str,
        op: &str,
        bucket: &str,
        sub: &str,
    ) -> Fetched<Option<Element>> {
        self.aws
            .s3(region, op, bucket, &[(sub, String::new())])
            .await
    }

    async fn bucket(&self, name: &str) -> Bucket {
        let r = self.bucket_region(name).await;
        let acl = self.s3_get(&r, "GetBucketAcl", name, "acl").await.map(|e| {
            let e = e.unwrap_or_default();
            Acl {
                owner: owner_id(&e),
                grants: e
                    .descendants("Grant")
                    .into_iter()
                    .map(|g| {
                        let who = g
                            .child("Grantee")
                            .map(|gr| {
                                gr.child_text("URI")
                                    .or_else(|| gr.child_text("ID"))
                                    .or_else(|| gr.child_text("EmailAddress"))
                                    .unwrap_or("")
                                    .to_owned()
                            })
                            .unwrap_or_default();
                        (who, g.child_text("Permission").unwrap_or("").to_owned())
                    })
                    .collect(),
            }
        });
        let public_access_block = match self
            .s3_get(&r, "GetPublicAccessBlock", name, "publicAccessBlock")
            .await
        {
            Ok(e) => Ok(e.map(|e| {
                let t = |k: &str| {
                    e.child_text(k)
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                };
                PublicAccessBlock {
                    block_public_acls: t("BlockPublicAcls"),
                    ignore_public_acls: t("IgnorePublicAcls"),
                    block_public_policy: t("BlockPublicPolicy"),
                    restrict_public_buckets: t("RestrictPublicBuckets"),
                }
            })),
            Err(f) => none_if(&["NoSuchPublicAccessBlockConfiguration"], f).map(|()| None),
        };
        let policy = match self
            .aws
            .s3_raw(&r, "GetBucketPolicy", name, &[("policy", String::new())])
            .await
        {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(f) => none_if(&["NoSuchBucketPolicy"], f).map(|()| None),
        };
        let versioning = self
            .s3_get(&r, "GetBucketVersioning", name, "versioning")
            .await
            .map(|e| {
                let e = e.unwrap_or_default();
                Versioning {
                    status: e.child_text("Status").unwrap_or("").to_owned(),
                    mfa_delete: e
                        .child_text("MfaDelete")
                        .or_else(|| e.child_text("MFADelete"))
                        .unwrap_or("")
                        .to_owned(),
                }
            });
        let object_lock = match self
            .s3_get(&r, "GetObjectLockConfiguration", name, "object-lock")
            .await
        {
            Ok(e) => Ok(e.map(|e| ObjectLock {
                enabled: e.child_text("ObjectLockEnabled") == Some("Enabled"),
                default_retention: e.path(&["Rule", "DefaultRetention"]).map(|d| {
                    let period = d
                        .child_text("Days")
                        .map(|n| format!("{n} days"))
                        .or_else(|| d.child_text("Years").map(|n| format!("{n} years")))
                        .unwrap_or_default();
                    (d.child_text("Mode").unwrap_or("").to_owned(), period)
                }),
            })),
            Err(f) => none_if(&["ObjectLockConfigurationNotFoundError"], f).map(|()| None),
        };
        let logging = self
            .s3_get(&r, "GetBucketLogging", name, "logging")
            .await
            .map(|e| {
                e.and_then(|e| {
                    e.path(&["LoggingEnabled", "TargetBucket"])
                        .map(|t| t.text.trim().to_owned())
                })
            });
        let lifecycle = match self
            .s3_get(&r, "GetBucketLifecycleConfiguration", name, "lifecycle")
            .await
        {
            Ok(e) => Ok(e
                .map(|e| {
                    e.children_named("Rule")
                        .map(|r| {
                            (
                                r.child_text("ID").unwrap_or("(no ID)").to_owned(),
                                r.child_text("Status") == Some("Enabled"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()),
            Err(f) => none_if(&["NoSuchLifecycleConfiguration"], f).map(|()| Vec::new()),
        };
        let encryption = match self
            .s3_get(&r, "GetBucketEncryption", name, "encryption")
            .await
        {
            Ok(e) => Ok(e.and_then(|e| {
                e.descendants("SSEAlgorithm")
                    .first()
                    .map(|a| a.text.trim().to_owned())
            })),
            Err(f) => {
                none_if(&["ServerSideEncryptionConfigurationNotFoundError"], f).map(|()| None)
            }
        };
        Bucket {
            name: name.to_owned(),
            acl,
            public_access_block,
            policy,
            versioning,
            object_lock,
            logging,
            lifecycle,
            encryption,
        }
    }

    async fn key(&self, id: &str, trail_region: &str) -> Key {
        let region = if id.starts_with("arn:") {
            arn_field(id, 3)
        } else {
            trail_region.to_owned()
        };
        let kms = |op: &'static str, req: Value| {
            let region = region.clone();
            async move { self.aws.json("kms", &region, KMS, "1.1", op, &req).await }
        };
        let metadata = kms("DescribeKey", json!({"KeyId": id})).await.map(|v| {
            let m = &v["KeyMetadata"];
            (
                s(m, "KeyManager").unwrap_or_default(),
                s(m, "KeyState").unwrap_or_default(),
                s(m, "Arn").unwrap_or_else(|| id.to_owned()),
            )
        });
        let key_id = metadata.as_ref().map_or(id.to_owned(), |m| m.2.clone());
        let rotation = kms("GetKeyRotationStatus", json!({"KeyId": key_id}))
            .await
            .map(|v| b(&v, "KeyRotationEnabled"));
        let policy = kms(
            "GetKeyPolicy",
            json!({"KeyId": key_id, "PolicyName": "default"}),
        )
        .await
        .map(|v| s(&v, "Policy").unwrap_or_default());
        Key {
            id: id.to_owned(),
            metadata,
            rotation,
            policy,
        }
    }

    async fn log_group(&self, arn: &str) -> LogGroup {
        let region = arn_field(arn, 3);
        let name = arn
            .split(":log-group:")
            .nth(1)
            .unwrap_or("")
            .trim_end_matches(":*")
            .to_owned();
        let mut filters = Vec::new();
        let mut token: Option<String> = None;
        let filters = loop {
            let mut req = json!({"logGroupName": name});
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            match self
                .aws
                .json("logs", &region, LOGS, "1.1", "DescribeMetricFilters", &req)
                .await
            {
                Ok(v) => {
                    for f in v["metricFilters"].as_array().into_iter().flatten() {
                        filters.push(MetricFilter {
                            name: s(f, "filterName").unwrap_or_default(),
                            pattern: s(f, "filterPattern").unwrap_or_default(),
                            metrics: f["metricTransformations"]
                                .as_array()
                                .map(|m| {
                                    m.iter()
                                        .map(|t| {
                                            (
                                                s(t, "metricNamespace").unwrap_or_default(),
                                                s(t, "metricName").unwrap_or_default(),
                                            )
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        });
                    }
                    token = s(&v, "nextToken");
                    if token.is_none() {
                        break Ok(filters);
                    }
                }
                Err(f) => break Err(f),
            }
        };
        let last_ingestion = self
            .aws
            .json(
                "logs",
                &region,
                LOGS,
                "1.1",
                "DescribeLogStreams",
                &json!({"logGroupName": name, "orderBy": "LastEventTime", "descending": true, "limit": 5}),
            )
            .await
            .map(|v| {
                v["logStreams"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|st| st.get("lastIngestionTime").and_then(Value::as_i64))
                    .max()
                    .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            });
        LogGroup {
            name,
            region,
            filters,
            last_ingestion,
        }
    }

    async fn alarms(&self, region: &str) -> Fetched<Vec<Alarm>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let v = self
                .aws
                .json("monitoring", region, CW, "1.0", "DescribeAlarms", &req)
                .await?;
            for a in v["MetricAlarms"].as_array().into_iter().flatten() {
                out.push(Alarm {
                    name: s(a, "AlarmName").unwrap_or_default(),
                    arn: s(a, "AlarmArn").unwrap_or_default(),
                    namespace: s(a, "Namespace").unwrap_or_default(),
                    metric: s(a, "MetricName").unwrap_or_default(),
                    actions_enabled: a
                        .get("ActionsEnabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    actions: strings(&a["AlarmActions"]),
                });
            }
            token = s(&v, "NextToken");
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn subscriptions(&self, topic: &str) -> Fetched<usize> {
        let region = arn_field(topic, 3);
        let mut n = 0;
        let mut token: Option<String> = None;
        loop {
            let mut params = vec![("TopicArn", topic.to_owned())];
            if let Some(t) = &token {
                params.push(("NextToken", t.clone()));
            }
            let e = self
                .aws
                .query(
                    "sns",
                    &region,
                    "2010-03-31",
                    "ListSubscriptionsByTopic",
                    &params,
                )
                .await?;
            n += e
                .descendants("SubscriptionArn")
                .iter()
                .filter(|s| {
                    let t = s.text.trim();
                    t.starts_with("arn:") && !t.eq_ignore_ascii_case("PendingConfirmation")
                })
                .count();
            token = e
                .descendants("NextToken")
                .first()
                .map(|t| t.text.trim().to_owned())
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(n);
            }
        }
    }

    /// Holders of AWSCloudTrail_FullAccess and of its deprecated predecessor
    /// AWSCloudTrailFullAccess (still attachable in older accounts).
    async fn full_access(&self, partition: &str) -> Fetched<Vec<PolicyEntity>> {
        let mut out = Vec::new();
        for name in ["AWSCloudTrail_FullAccess", "AWSCloudTrailFullAccess"] {
            let arn = format!("arn:{partition}:iam::aws:policy/{name}");
            for mut e in self.policy_entities(&arn).await? {
                name.clone_into(&mut e.policy);
                out.push(e);
            }
        }
        Ok(out)
    }

    async fn policy_entities(&self, arn: &str) -> Fetched<Vec<PolicyEntity>> {
        let arn = arn.to_owned();
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut params = vec![("PolicyArn", arn.clone())];
            if let Some(m) = &marker {
                params.push(("Marker", m.clone()));
            }
            let e = match self.iam("ListEntitiesForPolicy", &params).await {
                Ok(e) => e,
                Err(f) if f.code == "NoSuchEntity" => return Ok(out),
                Err(f) => return Err(f),
            };
            for (kind, tag) in [
                ("group", "GroupName"),
                ("user", "UserName"),
                ("role", "RoleName"),
            ] {
                for n in e.descendants(tag) {
                    out.push(PolicyEntity {
                        kind: kind.into(),
                        name: n.text.trim().to_owned(),
                        policy: String::new(),
                    });
                }
            }
            let truncated = e
                .descendants("IsTruncated")
                .first()
                .is_some_and(|t| t.text.trim() == "true");
            marker = e
                .descendants("Marker")
                .first()
                .map(|m| m.text.trim().to_owned());
            if !truncated || marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn root_report(&self) -> Fetched<Option<RootReport>> {
        for attempt in 0..10 {
            let g = self.iam("GenerateCredentialReport", &[]).await?;
            let state = g
                .descendants("State")
                .first()
                .map(|s| s.text.trim().to_owned())
                .unwrap_or_default();
            if state == "COMPLETE" || attempt == 9 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let e = self.iam("GetCredentialReport", &[]).await?;
        let content = e
            .descendants("Content")
            .first()
            .map(|c| c.text.trim().to_owned())
            .unwrap_or_default();
        let csv = base64::engine::general_purpose::STANDARD
            .decode(content.as_bytes())
            .map_err(|err| ApiFailure {
                service: "iam".into(),
                operation: "GetCredentialReport".into(),
                code: "InvalidResponse".into(),
                message: format!("Content is not base64: {err}"),
                status: 200,
            })?;
        Ok(parse_credential_report(&String::from_utf8_lossy(&csv)))
    }

    /// Root events in the window, newest first. Pages until five qualifying events are
    /// found (at most 20 pages per Region). This run's own read-only calls are skipped when
    /// it runs with root keys: they are not evidence of use before the check.
    async fn root_events(
        &self,
        regions: &[String],
        started: OffsetDateTime,
    ) -> Fetched<Vec<RootEvent>> {
        let now = OffsetDateTime::now_utc();
        let days = i64::from(self.thresholds.root_unused_days.min(90));
        let start = now - Duration::days(days);
        let mut out = Vec::new();
        let mut last_err = None;
        let mut any_ok = false;
        for region in regions {
            let mut token: Option<String> = None;
            for _page in 0..20 {
                let mut req = json!({
                    "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "root"}],
                    "StartTime": start.unix_timestamp(),
                    "EndTime": now.unix_timestamp(),
                    "MaxResults": 50,
                });
                if let Some(t) = &token {
                    req["NextToken"] = json!(t);
                }
                let v = match self.ct(region, "LookupEvents", req).await {
                    Ok(v) => v,
                    Err(f) => {
                        last_err = Some(f);
                        break;
                    }
                };
                any_ok = true;
                for e in v["Events"].as_array().into_iter().flatten() {
                    // Username "root" could be an IAM user so named: keep only events whose
                    // record says Root, not invoked by a service, not a service event (the
                    // CIS CloudWatch.1 definition of root use).
                    let record: Value = s(e, "CloudTrailEvent")
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or(Value::Null);
                    let ui = &record["userIdentity"];
                    if ui["type"] != "Root"
                        || ui.get("invokedBy").is_some()
                        || record["eventType"] == "AwsServiceEvent"
                    {
                        continue;
                    }
                    let Some(t) = time_of(e.get("EventTime")) else {
                        continue;
                    };
                    let own = ui["accessKeyId"].as_str() == Some(self.aws.access_key_id())
                        && t >= started - Duration::seconds(1)
                        && s(e, "ReadOnly").as_deref() == Some("true");
                    if own {
                        continue;
                    }
                    out.push(RootEvent {
                        time: t,
                        name: s(e, "EventName").unwrap_or_default(),
                        source: s(e, "EventSource").unwrap_or_default(),
                        read_only: s(e, "ReadOnly").as_deref() == Some("true"),
                    });
                }
                token = s(&v, "NextToken");
                if token.is_none() || out.len() >= 5 {
                    break;
                }
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.time));
        match (any_ok, last_err) {
            (false, Some(f)) => Err(f),
            _ => Ok(out),
        }
    }

    /// ListObjectsV2 under `prefix`, following continuation tokens (at most 100 pages).
    async fn list_keys(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
        delimiter: bool,
    ) -> Fetched<(Vec<(String, Option<OffsetDateTime>)>, Vec<String>)> {
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        for _page in 0..100 {
            let mut q = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if delimiter {
                q.push(("delimiter", "/".into()));
            }
            if let Some(t) = &token {
                q.push(("continuation-token", t.clone()));
            }
            let e = self
                .aws
                .s3(region, "ListObjectsV2", bucket, &q)
                .await?
                .unwrap_or_default();
            objects.extend(e.children_named("Contents").map(|c| {
                (
                    c.child_text("Key").unwrap_or("").to_owned(),
                    c.child_text("LastModified").and_then(parse_time),
                )
            }));
            prefixes.extend(
                e.children_named("CommonPrefixes")
                    .filter_map(|p| p.child_text("Prefix").map(str::to_owned)),
            );
            token = e
                .child_text("NextContinuationToken")
                .filter(|t| !t.is_empty() && e.child_text("IsTruncated") == Some("true"))
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok((objects, prefixes))
    }

    async fn digests(
        &self,
        t: &Trail,
        regions: &[String],
        now: OffsetDateTime,
    ) -> (Fetched<BTreeMap<String, OffsetDateTime>>, Option<String>) {
        let mut org = None;
        let latest = self.digests_in(t, regions, now, &mut org).await;
        (latest, org)
    }

    /// [`Self::digests`], noting in `org` the organization id seen under `AWSLogs/`.
    async fn digests_in(
        &self,
        t: &Trail,
        regions: &[String],
        now: OffsetDateTime,
        org: &mut Option<String>,
    ) -> Fetched<BTreeMap<String, OffsetDateTime>> {
        let r = self.bucket_region(&t.bucket).await;
        let root = match &t.prefix {
            Some(p) => format!("{p}/AWSLogs/"),
            None => "AWSLogs/".into(),
        };
        let mut bases = vec![format!("{root}{}/", t.account)];
        if t.organization {
            let (_, prefixes) = self.list_keys(&r, &t.bucket, &root, true).await?;
            for p in prefixes {
                if p[root.len()..].starts_with("o-") {
                    bases.push(format!("{p}{}/", t.account));
                    *org = Some(p[root.len()..].trim_end_matches('/').to_owned());
                }
            }
        }
        let days = i64::from(self.thresholds.digest_max_age_hours) / 24 + 2;
        let mut latest = BTreeMap::new();
        for region in regions {
            'days: for d in 0..days {
                let day = now - Duration::days(d);
                for base in &bases {
                    let prefix = format!(
                        "{base}CloudTrail-Digest/{region}/{:04}/{:02}/{:02}/",
                        day.year(),
                        u8::from(day.month()),
                        day.day()
                    );
                    let (objects, _) = self.list_keys(&r, &t.bucket, &prefix, false).await?;
                    if let Some(max) = objects.iter().filter_map(|o| o.1).max() {
                        latest.insert(region.clone(), max);
                        break 'days;
                    }
                }
            }
        }
        Ok(latest)
    }
}

/// The failure recorded for facts that were never fetched because an earlier call failed.
fn not_fetched(op: &str) -> ApiFailure {
    ApiFailure {
        service: "cloudtrail".into(),
        operation: op.into(),
        code: "NotFetched".into(),
        message: "not fetched".into(),
        status: 0,
    }
}

/// Adds the trails of one DescribeTrails answer to `trails` (the first one seen of an ARN is
/// kept) and returns their ARNs, in answer order.
fn absorb(
    list: &[Value],
    pending: &ApiFailure,
    trails: &mut BTreeMap<String, Trail>,
) -> Vec<String> {
    let mut arns = Vec::new();
    for v in list {
        if let Some(t) = trail_from(v, pending) {
            arns.push(t.arn.clone());
            trails.entry(t.arn.clone()).or_insert(t);
        }
    }
    arns
}

/// The phases of [`gather`], in the order it runs them.
impl Gatherer<'_> {
    /// The Regions to check and the trails described in each: the Regions are explicit, or
    /// the current one plus every trail's home Region. `first` is the current Region's
    /// DescribeTrails answer. Fills `facts.region_trails` and `facts.regions`; returns every
    /// trail seen, filled (status, selectors, insights).
    async fn regions_and_trails(
        &self,
        scope: &Scope,
        first: &[Value],
        facts: &mut Facts,
    ) -> Vec<Trail> {
        let pending = not_fetched("GetTrailStatus");
        let mut trails: BTreeMap<String, Trail> = BTreeMap::new();
        let first_arns = absorb(first, &pending, &mut trails);
        let mut region_set: BTreeSet<String> = BTreeSet::new();
        let explicit = scope.regions.is_some();
        if let Some(r) = &scope.regions {
            region_set.extend(r.iter().cloned());
        } else {
            region_set.insert(self.region.clone());
            region_set.extend(trails.values().map(|t| t.home_region.clone()));
            self.trail_home_regions(&mut region_set).await;
        }
        facts
            .region_trails
            .insert(self.region.clone(), Ok(first_arns));
        for region in &region_set {
            if facts.region_trails.contains_key(region) {
                continue;
            }
            let listed = self
                .describe_trails(region)
                .await
                .map(|l| absorb(&l, &pending, &mut trails));
            facts.region_trails.insert(region.clone(), listed);
        }
        facts.region_trails.retain(|r, _| region_set.contains(r));
        facts.regions = Regions {
            list: region_set.iter().cloned().collect(),
            explicit,
        };
        let mut trails: Vec<Trail> = trails.into_values().collect();
        for t in &mut trails {
            self.fill_trail(t).await;
        }
        trails
    }

    /// Adds the home Region of every trail ListTrails lists (the account's trails of all
    /// Regions; at most 100 pages). A failed page ends the listing.
    async fn trail_home_regions(&self, region_set: &mut BTreeSet<String>) {
        let mut token: Option<String> = None;
        for _page in 0..100 {
            let mut req = json!({});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let Ok(v) = self.ct(&self.region, "ListTrails", req).await else {
                break;
            };
            for t in v["Trails"].as_array().into_iter().flatten() {
                region_set.extend(s(t, "HomeRegion"));
            }
            token = s(&v, "NextToken");
            if token.is_none() {
                break;
            }
        }
    }

    /// The trails' buckets, the caller's own buckets, and the trails' KMS keys and log groups.
    async fn trail_resources(&self, trails: &[Trail], facts: &mut Facts) {
        let buckets: BTreeSet<String> = trails
            .iter()
            .map(|t| t.bucket.clone())
            .filter(|b| !b.is_empty())
            .collect();
        for name in buckets {
            let bucket = self.bucket(&name).await;
            facts.buckets.insert(name, bucket);
        }
        facts.own_buckets = self.own_buckets().await;
        for t in trails {
            if let Some(k) = &t.kms_key
                && !facts.keys.contains_key(k)
            {
                let key = self.key(k, &t.home_region).await;
                facts.keys.insert(k.clone(), key);
            }
            if let Some(lg) = &t.log_group_arn
                && !facts.log_groups.contains_key(lg)
            {
                let group = self.log_group(lg).await;
                facts.log_groups.insert(lg.clone(), group);
            }
        }
    }

    /// ListBuckets: the caller's buckets and their owner's canonical ID.
    async fn own_buckets(&self) -> Fetched<OwnBuckets> {
        self.aws
            .s3(&self.region, "ListBuckets", "", &[])
            .await
            .map(|e| {
                let e = e.unwrap_or_default();
                OwnBuckets {
                    owner: owner_id(&e),
                    names: e
                        .descendants("Bucket")
                        .iter()
                        .filter_map(|b| b.child_text("Name").map(str::to_owned))
                        .collect(),
                }
            })
    }

    /// The alarms of every Region a trail's log group is in, and the subscriptions of the SNS
    /// topics those alarms notify.
    async fn alarms_and_topics(&self, facts: &mut Facts) {
        let alarm_regions: BTreeSet<String> = facts
            .log_groups
            .values()
            .map(|g| g.region.clone())
            .collect();
        for r in alarm_regions {
            let a = self.alarms(&r).await;
            facts.alarms.insert(r, a);
        }
        let topics: BTreeSet<String> = facts
            .alarms
            .values()
            .filter_map(|a| a.as_ref().ok())
            .flatten()
            .flat_map(|a| a.actions.iter())
            .filter(|a| a.starts_with("arn:") && a.split(':').nth(2) == Some("sns"))
            .cloned()
            .collect();
        for topic in topics {
            let n = self.subscriptions(&topic).await;
            facts.topic_subscriptions.insert(topic, n);
        }
    }

    /// The account's IAM facts (who has full access, the root user's credential report,
    /// the account summary) and the root user's recent events. Needs `facts.caller` (its
    /// partition) and `facts.regions`.
    async fn account_facts(&self, facts: &mut Facts, now: OffsetDateTime) {
        let partition = facts
            .caller
            .as_ref()
            .ok()
            .map(|c| arn_field(&c.arn, 1))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "aws".into());
        facts.full_access = self.full_access(&partition).await;
        facts.root_report = self.root_report().await;
        facts.account_summary = self.account_summary().await;
        facts.root_events = self.root_events(&facts.regions.list, now).await;
    }

    /// GetAccountSummary: the account's IAM usage and quotas, by name.
    async fn account_summary(&self) -> Fetched<BTreeMap<String, i64>> {
        self.iam("GetAccountSummary", &[]).await.map(|e| {
            e.descendants("entry")
                .iter()
                .filter_map(|en| {
                    let k = en.child_text("key")?.to_owned();
                    let v = en.child_text("value")?.parse().ok()?;
                    Some((k, v))
                })
                .collect()
        })
    }

    /// The latest digest file of every Region of every trail with log file validation on
    /// (all checked Regions for a multi-Region trail), and the organization ID its digests
    /// are filed under, if any.
    async fn trail_digests(&self, trails: &[Trail], facts: &mut Facts, now: OffsetDateTime) {
        for t in trails.iter().filter(|t| t.validation) {
            let regions = if t.multi_region {
                facts.regions.list.clone()
            } else {
                vec![t.home_region.clone()]
            };
            let (d, org) = self.digests(t, &regions, now).await;
            facts.digests.insert(t.arn.clone(), d);
            if let Some(org) = org {
                facts.digest_organizations.insert(t.arn.clone(), org);
            }
        }
    }
}

/// Reads every fact. Returns the facts even when calls fail; the caller decides whether a
/// failure is fatal (see [`ApiFailure::is_fatal`] on `facts.trails`).
pub async fn gather(aws: &Aws, scope: &Scope, thresholds: &Thresholds) -> Facts {
    let now = OffsetDateTime::now_utc();
    let g = Gatherer {
        aws,
        region: aws.region().to_owned(),
        thresholds,
    };
    let mut facts = Facts::empty(now, &g.region, &not_fetched("DescribeTrails"));
    let first = match g.describe_trails(&g.region).await {
        Ok(v) => v,
        Err(f) => {
            facts.trails = Err(f);
            return facts;
        }
    };
    let trails = g.regions_and_trails(scope, &first, &mut facts).await;
    facts.caller = g.caller().await;
    facts.organization = g.organization().await;
    g.trail_resources(&trails, &mut facts).await;
    g.alarms_and_topics(&mut facts).await;
    g.account_facts(&mut facts, now).await;
    g.trail_digests(&trails, &mut facts, now).await;
    facts.trails = Ok(trails);
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_basic_and_advanced() {
        let v = json!({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]});
        let Selectors::Basic(b) = parse_selectors(&v) else {
            panic!()
        };
        assert_eq!(b[0].read_write, "WriteOnly");
        assert_eq!(b[0].data_resources[0].1, vec!["arn:aws:s3".to_owned()]);
        let v = json!({"AdvancedEventSelectors": [{"Name": "s3", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::x/"]}]}]});
        let Selectors::Advanced(a) = parse_selectors(&v) else {
            panic!()
        };
        assert_eq!(
            a[0].fields[1].not_starts_with,
            vec!["arn:aws:s3:::x/".to_owned()]
        );
    }

    #[test]
    fn credential_report_root_row() {
        let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date\n\
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-30T10:00:00+00:00,not_supported,not_supported,true,true,N/A,2026-12-01T00:00:00+00:00,us-east-1,iam,false,N/A,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A\n";
        let r = parse_credential_report(csv).unwrap();
        assert_eq!(r.active_keys, 1);
        assert_eq!(r.password_last_used.unwrap().day(), 30);
        assert_eq!(r.keys_last_used.len(), 1);
        assert!(parse_credential_report("user,arn\nalice,x\n").is_none());
    }

    #[test]
    fn times_in_both_encodings() {
        assert_eq!(
            time_of(Some(&json!(1_700_000_000.5)))
                .unwrap()
                .unix_timestamp(),
            1_700_000_000
        );
        assert_eq!(
            time_of(Some(&json!("2026-12-06T17:25:16Z")))
                .unwrap()
                .hour(),
            17
        );
        assert!(time_of(Some(&json!(""))).is_none());
        assert_eq!(parse_time("2026-12-06T17:25:16.000Z").unwrap().minute(), 25);
    }
}
