//! Topic policies: AWS's default policy, parsing, and [`Monitor::can_publish`] for service
//! principals (CloudTrail). Callers with credentials are authorized by the server's one
//! authorization seam, which takes [`Monitor::topic_policy`] as the resource policy.

use cairn_policy::Policy;
use serde_json::{Map, Value, json};

use crate::Monitor;
use crate::error::{MonitorError, Result};

/// The actions of AWS's default topic policy.
const DEFAULT_ACTIONS: &[&str] = &[
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
];

/// AWS's default topic policy: the owner account may do everything (`AWS:SourceOwner` is
/// the owner account). Cairn sets `AWS:SourceOwner` only for calls made on a topic owner's
/// behalf, so callers still need identity policies, as in AWS.
pub fn default_topic_policy(topic_arn: &str, owner: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": DEFAULT_ACTIONS,
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": owner}},
        }],
    })
    .to_string()
}

/// The policy in force: the `Policy` attribute, else the default one.
pub(crate) fn effective_policy_text(
    topic_arn: &str,
    owner: &str,
    attributes: &Map<String, Value>,
) -> String {
    attributes
        .get("Policy")
        .and_then(Value::as_str)
        .map_or_else(|| default_topic_policy(topic_arn, owner), str::to_owned)
}

/// Parses a topic policy (`InvalidParameter` naming the policy error).
pub(crate) fn parse(text: &str) -> Result<Policy> {
    Policy::parse(text)
        .map_err(|e| MonitorError::invalid(format!("Invalid parameter: Policy Error: {e}")))
}

impl Monitor {
    /// Whether the topic's policy lets the service principal `service` (e.g.
    /// `cloudtrail.amazonaws.com`) publish to it, with `aws:SourceArn` = `source_arn` and
    /// `aws:SourceAccount` = its account field as the request's condition keys. `false`
    /// for a topic that does not exist or a policy that does not parse.
    pub fn can_publish(&self, topic_arn: &str, service: &str, source_arn: &str) -> bool {
        let Ok(Some(text)) = self.topic_policy(topic_arn) else {
            return false;
        };
        let Ok(policy) = parse(&text) else {
            return false;
        };
        let owner = self
            .topic_owner(topic_arn)
            .ok()
            .flatten()
            .unwrap_or_default();
        let source_account = source_arn.split(':').nth(4).unwrap_or_default();
        cairn_policy::service_may(
            &policy,
            service,
            "sns:Publish",
            (topic_arn, &owner),
            (source_arn, source_account),
        )
    }
}
