//! What LookupEvents shows and filters on, derived from one record.
//!
//! Pure: JSON in, [`EventSummary`] out. The index stores only the record; the summary is
//! recomputed from it for every response, and the attribute rows are exactly
//! [`EventSummary::attributes`].
//!
//! # Rules
//!
//! **Category** (which records event history keeps):
//! 1. `eventCategory` present: `Management` → management, `Insight` → Insights, anything else
//!    (`Data`, `NetworkActivity`, Lake-only categories) → not kept.
//! 2. else `eventType` = `AwsCloudTrailInsight` → Insights.
//! 3. else `managementEvent` present: `true` → management, `false` → not kept.
//! 4. else (records older than eventVersion 1.06): `eventType` = `AwsVpceEvents` → not kept;
//!    S3 object-level calls (a `resources[]` entry of type `AWS::S3::Object`) and Lambda
//!    `Invoke*` are data events → not kept; everything else → management.
//!
//! **Username**, by `userIdentity.type`:
//! `Root` → `root`; `IAMUser` → `userName` (else the name after `user/` in the ARN);
//! `AssumedRole` → the role session name (last ARN segment after `assumed-role/<role>/`,
//! else the part of `principalId` after `:`); `FederatedUser` → the name after
//! `federated-user/` (else the `principalId` suffix); `Role` → `sessionIssuer.userName`;
//! `AWSService`, `AWSAccount` and records without a type → `userName` if present, else
//! `invokedBy` (e.g. `AWS Internal`, `ec2.amazonaws.com`); any other type → `userName`.
//! Insights events have no username.
//!
//! **AccessKeyId**: `userIdentity.accessKeyId` when non-empty.
//!
//! **ReadOnly**: `readOnly` (JSON boolean, or the strings `"true"`/`"false"`) as `"true"` /
//! `"false"`; absent when the record has none, and then neither `ReadOnly` value matches.
//!
//! **EventName / EventSource**: `eventName` / `eventSource`; for Insights events
//! `insightDetails.eventName` / `insightDetails.eventSource` (the API the insight is about).
//!
//! **Resources** (ordered, duplicates removed):
//! 1. every `resources[]` entry: ResourceType = `type` (null when absent), ResourceName =
//!    `ARN`, else `ARNPrefix` — as AWS shows e.g. `AssumeRole` →
//!    `{AWS::IAM::Role, arn:aws:iam::…:role/…}`;
//! 2. then names from request/response parameters for some services ([`PARAMETER_RULES`]),
//!    e.g. `ec2` `instancesSet.items[].instanceId` → `{AWS::EC2::Instance, i-…}`, `iam`
//!    `userName` → `{AWS::IAM::User, bob}`, `s3` `bucketName` → `{AWS::S3::Bucket, …}`; a rule
//!    adds nothing when step 1 already gave a resource of the same type.
//!
//! `ResourceType` lookups match the non-null types, `ResourceName` lookups the names.

use serde_json::Value;

use crate::request::AttributeKey;

/// Which part of event history a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Management events: the default of `LookupEvents`.
    Management,
    /// Insights events: `EventCategory = insight`.
    Insight,
}

impl Category {
    pub(crate) fn as_i64(self) -> i64 {
        match self {
            Self::Management => 0,
            Self::Insight => 1,
        }
    }
}

/// One resource of a LookupEvents result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    /// `ResourceType`, e.g. `AWS::EC2::Instance`; `None` when it cannot be determined.
    pub resource_type: Option<String>,
    /// `ResourceName`: an ARN, an id or a name.
    pub resource_name: String,
}

/// The LookupEvents view of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// Management or Insights.
    pub category: Category,
    /// `eventID`.
    pub event_id: Option<String>,
    /// `eventName` (Insights: `insightDetails.eventName`).
    pub event_name: Option<String>,
    /// `eventSource` (Insights: `insightDetails.eventSource`).
    pub event_source: Option<String>,
    /// `"true"` / `"false"`.
    pub read_only: Option<&'static str>,
    /// `userIdentity.accessKeyId`, when non-empty.
    pub access_key_id: Option<String>,
    /// The derived user name (module docs).
    pub username: Option<String>,
    /// The derived resources (module docs).
    pub resources: Vec<ResourceRef>,
}

/// Parameter-derived resource names: (eventSource, path, ResourceType). A path starts at
/// `requestParameters` or `responseElements`; a segment that meets an array applies to
/// every element.
pub const PARAMETER_RULES: &[(&str, &str, &str)] = &[
    (
        "ec2.amazonaws.com",
        "requestParameters.instanceId",
        "AWS::EC2::Instance",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.instancesSet.items.instanceId",
        "AWS::EC2::Instance",
    ),
    (
        "ec2.amazonaws.com",
        "responseElements.instancesSet.items.instanceId",
        "AWS::EC2::Instance",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.volumeId",
        "AWS::EC2::Volume",
    ),
    (
        "ec2.amazonaws.com",
        "responseElements.volumeId",
        "AWS::EC2::Volume",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.snapshotId",
        "AWS::EC2::Snapshot",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.groupId",
        "AWS::EC2::SecurityGroup",
    ),
    (
        "ec2.amazonaws.com",
        "responseElements.groupId",
        "AWS::EC2::SecurityGroup",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.imageId",
        "AWS::EC2::Image",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.vpcId",
        "AWS::EC2::VPC",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.subnetId",
        "AWS::EC2::Subnet",
    ),
    (
        "ec2.amazonaws.com",
        "requestParameters.keyName",
        "AWS::EC2::KeyPair",
    ),
    (
        "iam.amazonaws.com",
        "requestParameters.userName",
        "AWS::IAM::User",
    ),
    (
        "iam.amazonaws.com",
        "requestParameters.roleName",
        "AWS::IAM::Role",
    ),
    (
        "iam.amazonaws.com",
        "requestParameters.groupName",
        "AWS::IAM::Group",
    ),
    (
        "iam.amazonaws.com",
        "requestParameters.policyArn",
        "AWS::IAM::Policy",
    ),
    (
        "iam.amazonaws.com",
        "requestParameters.accessKeyId",
        "AWS::IAM::AccessKey",
    ),
    (
        "iam.amazonaws.com",
        "responseElements.accessKey.accessKeyId",
        "AWS::IAM::AccessKey",
    ),
    (
        "s3.amazonaws.com",
        "requestParameters.bucketName",
        "AWS::S3::Bucket",
    ),
    (
        "cloudtrail.amazonaws.com",
        "requestParameters.name",
        "AWS::CloudTrail::Trail",
    ),
    (
        "cloudtrail.amazonaws.com",
        "requestParameters.trailName",
        "AWS::CloudTrail::Trail",
    ),
    (
        "lambda.amazonaws.com",
        "requestParameters.functionName",
        "AWS::Lambda::Function",
    ),
    (
        "kms.amazonaws.com",
        "requestParameters.keyId",
        "AWS::KMS::Key",
    ),
    (
        "secretsmanager.amazonaws.com",
        "requestParameters.secretId",
        "AWS::SecretsManager::Secret",
    ),
    (
        "rds.amazonaws.com",
        "requestParameters.dBInstanceIdentifier",
        "AWS::RDS::DBInstance",
    ),
    (
        "autoscaling.amazonaws.com",
        "requestParameters.autoScalingGroupName",
        "AWS::AutoScaling::AutoScalingGroup",
    ),
    (
        "sns.amazonaws.com",
        "requestParameters.topicArn",
        "AWS::SNS::Topic",
    ),
    (
        "sqs.amazonaws.com",
        "requestParameters.queueUrl",
        "AWS::SQS::Queue",
    ),
    (
        "logs.amazonaws.com",
        "requestParameters.logGroupName",
        "AWS::Logs::LogGroup",
    ),
    (
        "dynamodb.amazonaws.com",
        "requestParameters.tableName",
        "AWS::DynamoDB::Table",
    ),
    (
        "cloudformation.amazonaws.com",
        "requestParameters.stackName",
        "AWS::CloudFormation::Stack",
    ),
];

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

/// The category of a record, or `None` when event history does not keep it (module docs).
pub fn classify(record: &Value) -> Option<Category> {
    if let Some(cat) = record.get("eventCategory") {
        return match cat.as_str() {
            Some("Management") => Some(Category::Management),
            Some("Insight") => Some(Category::Insight),
            _ => None,
        };
    }
    let event_type = str_of(record, "eventType");
    if event_type == Some("AwsCloudTrailInsight") {
        return Some(Category::Insight);
    }
    if let Some(m) = record.get("managementEvent") {
        return match m {
            Value::Bool(true) => Some(Category::Management),
            Value::String(s) if s == "true" => Some(Category::Management),
            _ => None,
        };
    }
    if event_type == Some("AwsVpceEvents") {
        return None;
    }
    let source = str_of(record, "eventSource").unwrap_or("");
    let name = str_of(record, "eventName").unwrap_or("");
    let s3_object = source == "s3.amazonaws.com"
        && record
            .get("resources")
            .and_then(Value::as_array)
            .is_some_and(|rs| {
                rs.iter()
                    .any(|r| str_of(r, "type") == Some("AWS::S3::Object"))
            });
    let lambda_invoke = source == "lambda.amazonaws.com" && name.starts_with("Invoke");
    if s3_object || lambda_invoke {
        None
    } else {
        Some(Category::Management)
    }
}

fn after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    s.find(marker).map(|i| &s[i + marker.len()..])
}

fn principal_suffix(identity: &Value) -> Option<&str> {
    str_of(identity, "principalId")
        .and_then(|p| p.split_once(':'))
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
}

/// The LookupEvents `Username` of a `userIdentity` element (module docs).
pub fn username(identity: &Value) -> Option<String> {
    let user_name = str_of(identity, "userName").filter(|s| !s.is_empty());
    let arn = str_of(identity, "arn").unwrap_or("");
    let found = match str_of(identity, "type") {
        Some("Root") => Some("root"),
        Some("IAMUser") => {
            user_name.or_else(|| after(arn, ":user/").and_then(|p| p.rsplit('/').next()))
        }
        Some("AssumedRole") => after(arn, ":assumed-role/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, session)| session)
            .filter(|s| !s.is_empty())
            .or_else(|| principal_suffix(identity)),
        Some("FederatedUser") => after(arn, ":federated-user/")
            .filter(|s| !s.is_empty())
            .or_else(|| principal_suffix(identity)),
        Some("Role") => identity
            .get("sessionContext")
            .and_then(|c| c.get("sessionIssuer"))
            .and_then(|i| str_of(i, "userName"))
            .or(user_name),
        Some("AWSService") | Some("AWSAccount") | None => {
            user_name.or_else(|| str_of(identity, "invokedBy"))
        }
        Some(_) => user_name,
    };
    owned(found.filter(|s| !s.is_empty()))
}

/// Strings at a dotted path; arrays met on the way apply the rest of the path to each element.
fn collect_path<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a str>) {
    match v {
        Value::Array(items) => {
            for item in items {
                collect_path(item, path, out);
            }
        }
        _ => match path.split_first() {
            None => {
                if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                    out.push(s);
                }
            }
            Some((head, rest)) => {
                if let Some(next) = v.get(*head) {
                    collect_path(next, rest, out);
                }
            }
        },
    }
}

fn resources(record: &Value, source: Option<&str>) -> Vec<ResourceRef> {
    let mut out: Vec<ResourceRef> = Vec::new();
    let push = |out: &mut Vec<ResourceRef>, r: ResourceRef| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    if let Some(list) = record.get("resources").and_then(Value::as_array) {
        for r in list {
            let name = str_of(r, "ARN").or_else(|| str_of(r, "ARNPrefix"));
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                push(
                    &mut out,
                    ResourceRef {
                        resource_type: owned(str_of(r, "type").filter(|t| !t.is_empty())),
                        resource_name: name.to_owned(),
                    },
                );
            }
        }
    }
    let Some(source) = source else {
        return out;
    };
    let from_list = out.len();
    let mut names = Vec::new();
    for (rule_source, path, rtype) in PARAMETER_RULES {
        if *rule_source != source {
            continue;
        }
        if out[..from_list]
            .iter()
            .any(|r| r.resource_type.as_deref() == Some(*rtype))
        {
            continue;
        }
        names.clear();
        let segments: Vec<&str> = path.split('.').collect();
        collect_path(record, &segments, &mut names);
        for name in &names {
            push(
                &mut out,
                ResourceRef {
                    resource_type: Some((*rtype).to_owned()),
                    resource_name: (*name).to_owned(),
                },
            );
        }
    }
    out
}

/// Summarise a record, or `None` when event history does not keep it (not a JSON object,
/// or not a management/Insights event).
pub fn summarize(record: &Value) -> Option<EventSummary> {
    if !record.is_object() {
        return None;
    }
    let category = classify(record)?;
    let event_id = owned(str_of(record, "eventID"));
    if category == Category::Insight {
        let details = record.get("insightDetails").unwrap_or(&Value::Null);
        return Some(EventSummary {
            category,
            event_id,
            event_name: owned(str_of(details, "eventName").or_else(|| str_of(record, "eventName"))),
            event_source: owned(
                str_of(details, "eventSource").or_else(|| str_of(record, "eventSource")),
            ),
            read_only: None,
            access_key_id: None,
            username: None,
            resources: Vec::new(),
        });
    }
    let identity = record.get("userIdentity").unwrap_or(&Value::Null);
    let read_only = match record.get("readOnly") {
        Some(Value::Bool(true)) => Some("true"),
        Some(Value::Bool(false)) => Some("false"),
        Some(Value::String(s)) if s == "true" => Some("true"),
        Some(Value::String(s)) if s == "false" => Some("false"),
        _ => None,
    };
    let source = str_of(record, "eventSource");
    Some(EventSummary {
        category,
        event_id,
        event_name: owned(str_of(record, "eventName")),
        event_source: owned(source),
        read_only,
        access_key_id: owned(str_of(identity, "accessKeyId").filter(|k| !k.is_empty())),
        username: username(identity),
        resources: resources(record, source),
    })
}

impl EventSummary {
    /// The (attribute, value) pairs this event is found under, without duplicates.
    /// Insights events carry only EventId, EventName and EventSource.
    pub fn attributes(&self) -> Vec<(AttributeKey, &str)> {
        let mut out: Vec<(AttributeKey, &str)> = Vec::new();
        fn push<'a>(out: &mut Vec<(AttributeKey, &'a str)>, k: AttributeKey, v: Option<&'a str>) {
            if let Some(v) = v.filter(|v| !v.is_empty())
                && !out.contains(&(k, v))
            {
                out.push((k, v));
            }
        }
        push(&mut out, AttributeKey::EventId, self.event_id.as_deref());
        push(
            &mut out,
            AttributeKey::EventName,
            self.event_name.as_deref(),
        );
        push(
            &mut out,
            AttributeKey::EventSource,
            self.event_source.as_deref(),
        );
        push(&mut out, AttributeKey::ReadOnly, self.read_only);
        push(&mut out, AttributeKey::Username, self.username.as_deref());
        push(
            &mut out,
            AttributeKey::AccessKeyId,
            self.access_key_id.as_deref(),
        );
        for r in &self.resources {
            push(
                &mut out,
                AttributeKey::ResourceType,
                r.resource_type.as_deref(),
            );
            push(&mut out, AttributeKey::ResourceName, Some(&r.resource_name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn category_rules() {
        let cases = [
            (
                json!({"eventCategory": "Management"}),
                Some(Category::Management),
            ),
            (json!({"eventCategory": "Insight"}), Some(Category::Insight)),
            (
                json!({"eventCategory": "Data", "managementEvent": true}),
                None,
            ),
            (json!({"eventCategory": "NetworkActivity"}), None),
            (
                json!({"eventType": "AwsCloudTrailInsight"}),
                Some(Category::Insight),
            ),
            (json!({"managementEvent": false}), None),
            (json!({"managementEvent": true}), Some(Category::Management)),
            (json!({"eventType": "AwsVpceEvents"}), None),
            (
                json!({"eventType": "AwsApiCall", "eventSource": "ec2.amazonaws.com"}),
                Some(Category::Management),
            ),
            (
                json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                       "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}]}),
                None,
            ),
            (
                json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets"}),
                Some(Category::Management),
            ),
            (
                json!({"eventSource": "lambda.amazonaws.com", "eventName": "Invoke"}),
                None,
            ),
        ];
        for (record, want) in cases {
            assert_eq!(classify(&record), want, "{record}");
        }
    }

    #[test]
    fn username_rules() {
        let cases = [
            (
                json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "userName": "alias"}),
                Some("root"),
            ),
            (
                json!({"type": "IAMUser", "userName": "alice"}),
                Some("alice"),
            ),
            (
                json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/path/bob"}),
                Some("bob"),
            ),
            (
                json!({"type": "AssumedRole", "principalId": "AROAX:my-session-name",
                       "arn": "arn:aws:sts::123456789012:assumed-role/my-role/my-session-name"}),
                Some("my-session-name"),
            ),
            (
                json!({"type": "AssumedRole", "principalId": "AROAX:i-0abc"}),
                Some("i-0abc"),
            ),
            (
                json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/Bob", "principalId": "1:Bob"}),
                Some("Bob"),
            ),
            (
                json!({"type": "Role", "sessionContext": {"sessionIssuer": {"userName": "deployer"}}}),
                Some("deployer"),
            ),
            (
                json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
                Some("ec2.amazonaws.com"),
            ),
            (
                json!({"accountId": "1", "invokedBy": "AWS Internal"}),
                Some("AWS Internal"),
            ),
            (json!({"type": "SAMLUser", "userName": "sam"}), Some("sam")),
            (json!({"type": "AssumedRole"}), None),
            (json!(null), None),
        ];
        for (identity, want) in cases {
            assert_eq!(username(&identity).as_deref(), want, "{identity}");
        }
    }

    #[test]
    fn resources_from_list_then_parameters() {
        let record = json!({
            "eventCategory": "Management",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "StopInstances",
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}},
            "resources": [
                {"ARN": "arn:aws:iam::1:role/r", "type": "AWS::IAM::Role"},
                {"ARN": "arn:aws:iam::1:role/r", "type": "AWS::IAM::Role"},
                {"ARNPrefix": "arn:aws:s3:::b/"},
            ],
        });
        let s = summarize(&record).unwrap();
        let got: Vec<(Option<&str>, &str)> = s
            .resources
            .iter()
            .map(|r| (r.resource_type.as_deref(), r.resource_name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("AWS::IAM::Role"), "arn:aws:iam::1:role/r"),
                (None, "arn:aws:s3:::b/"),
                (Some("AWS::EC2::Instance"), "i-1"),
                (Some("AWS::EC2::Instance"), "i-2"),
            ]
        );
        let attrs = s.attributes();
        assert!(attrs.contains(&(AttributeKey::ResourceType, "AWS::EC2::Instance")));
        assert_eq!(
            attrs
                .iter()
                .filter(|(k, _)| *k == AttributeKey::ResourceType)
                .count(),
            2
        );
        assert!(attrs.contains(&(AttributeKey::ResourceName, "arn:aws:s3:::b/")));
    }

    #[test]
    fn a_rule_defers_to_a_listed_resource_of_the_same_type() {
        let record = json!({
            "eventCategory": "Management",
            "eventSource": "s3.amazonaws.com",
            "requestParameters": {"bucketName": "b"},
            "resources": [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}],
        });
        let s = summarize(&record).unwrap();
        assert_eq!(s.resources.len(), 1);
        assert_eq!(s.resources[0].resource_name, "arn:aws:s3:::b");
    }

    #[test]
    fn insight_takes_names_from_insight_details() {
        let record = json!({
            "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight", "eventID": "e1",
            "readOnly": true,
            "insightDetails": {"eventSource": "ssm.amazonaws.com", "eventName": "UpdateInstanceInformation"},
        });
        let s = summarize(&record).unwrap();
        assert_eq!(s.category, Category::Insight);
        assert_eq!(s.event_name.as_deref(), Some("UpdateInstanceInformation"));
        assert_eq!(s.event_source.as_deref(), Some("ssm.amazonaws.com"));
        let keys: Vec<AttributeKey> = s.attributes().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            vec![
                AttributeKey::EventId,
                AttributeKey::EventName,
                AttributeKey::EventSource
            ]
        );
    }

    #[test]
    fn read_only_and_access_key() {
        let r = json!({"eventCategory": "Management", "readOnly": "false",
                       "userIdentity": {"type": "IAMUser", "userName": "u", "accessKeyId": ""}});
        let s = summarize(&r).unwrap();
        assert_eq!(s.read_only, Some("false"));
        assert_eq!(s.access_key_id, None);
        assert!(summarize(&json!([1])).is_none());
    }
}
