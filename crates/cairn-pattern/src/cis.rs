//! The CIS AWS Foundations Benchmark / Security Hub CloudWatch.1–14 metric filters.
//!
//! The pattern strings are byte for byte the ones Security Hub prescribes (the unit test
//! compares them with `shared/data/cloudwatch_filter_patterns/cis_metric_filters.json` and
//! parses each). `cairn monitor enable cis` installs them; `cairn check` looks for them.

/// Metric namespace of the pack.
pub const CIS_NAMESPACE: &str = "CISBenchmark";

/// `(Security Hub control, metric name, exact filter pattern)`.
const CIS: [(&str, &str, &str); 14] = [
    (
        "CloudWatch.1",
        "RootAccountUsage",
        r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
    ),
    (
        "CloudWatch.2",
        "UnauthorizedAPICalls",
        r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
    ),
    (
        "CloudWatch.3",
        "ConsoleSignInWithoutMFA",
        r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
    ),
    (
        "CloudWatch.4",
        "IAMPolicyChanges",
        r#"{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}"#,
    ),
    (
        "CloudWatch.5",
        "CloudTrailConfigChanges",
        r#"{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}"#,
    ),
    (
        "CloudWatch.6",
        "ConsoleAuthenticationFailures",
        r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
    ),
    (
        "CloudWatch.7",
        "DisableOrDeleteCMK",
        r#"{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"#,
    ),
    (
        "CloudWatch.8",
        "S3BucketPolicyChanges",
        r#"{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}"#,
    ),
    (
        "CloudWatch.9",
        "AWSConfigChanges",
        r#"{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}"#,
    ),
    (
        "CloudWatch.10",
        "SecurityGroupChanges",
        r#"{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}"#,
    ),
    (
        "CloudWatch.11",
        "NACLChanges",
        r#"{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}"#,
    ),
    (
        "CloudWatch.12",
        "NetworkGatewayChanges",
        r#"{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}"#,
    ),
    (
        "CloudWatch.13",
        "RouteTableChanges",
        r#"{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}"#,
    ),
    (
        "CloudWatch.14",
        "VPCChanges",
        r#"{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}"#,
    ),
];

/// The pack: `(control, metric name, filter pattern)` for CloudWatch.1–14.
pub fn cis_filters() -> &'static [(&'static str, &'static str, &'static str)] {
    &CIS
}

/// The `PutMetricAlarm` request of the pack's alarm on `namespace`/`metric`: Sum over 300 s,
/// one evaluation period, threshold 1 (`GreaterThanOrEqualToThreshold`), missing data not
/// breaching, notifying `actions`. Used by `cairn monitor enable cis` and `cairn check --fix`.
pub fn alarm_request(
    name: &str,
    description: &str,
    namespace: &str,
    metric: &str,
    actions: &[String],
) -> serde_json::Value {
    serde_json::json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "ActionsEnabled": true,
        "AlarmActions": actions,
        "MetricName": metric,
        "Namespace": namespace,
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_the_security_hub_strings() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/cloudwatch_filter_patterns/cis_metric_filters.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = v["security_hub_cis_metric_filters"].as_array().unwrap();
        assert_eq!(list.len(), CIS.len());
        for (i, f) in list.iter().enumerate() {
            assert_eq!(f["security_hub_control"], CIS[i].0);
            assert_eq!(
                f["filter_pattern"].as_str().unwrap(),
                CIS[i].2,
                "{}",
                CIS[i].0
            );
            crate::FilterPattern::parse(CIS[i].2).unwrap();
        }
    }
}
