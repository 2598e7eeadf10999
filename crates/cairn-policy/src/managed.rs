//! Built-in managed policies.
//!
//! The two CloudTrail policies reproduce AWS's documents statement for
//! statement (same actions, resources and conditions, so the services Cairn
//! serves later — S3, SNS, KMS, Logs, IAM, Lambda, DynamoDB — get the same
//! grants), as published in the *AWS Managed Policy Reference Guide*:
//!
//! * `AWSCloudTrail_FullAccess` — version **v3** (default), edited
//!   2021-02-22 19:01 UTC, `arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess`.
//! * `AWSCloudTrail_ReadOnlyAccess` — version **v1** (default), created
//!   2022-06-14 17:19 UTC, `arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess`.
//!
//! `AdministratorAccess` is AWS's v1 document (`*` on `*`).
//! `CairnReadOnlyAccess` is Cairn's own (not an AWS policy): the read
//! actions of the services Cairn serves.

use crate::error::PolicyError;
use crate::policy::Policy;

/// One built-in managed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// The policy name, e.g. `AWSCloudTrail_FullAccess`.
    pub name: &'static str,
    /// Its ARN (`arn:aws:iam::aws:policy/...` for AWS's, `arn:aws:iam::cairn:policy/...` for Cairn's).
    pub arn: &'static str,
    /// The version reproduced (`v3`, ...).
    pub version: &'static str,
    /// A one-line description.
    pub description: &'static str,
    /// The JSON document.
    pub document: &'static str,
}

impl ManagedPolicy {
    /// Parses the document.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        Policy::parse(self.document)
    }
}

/// `AWSCloudTrail_FullAccess` v3.
pub const AWS_CLOUDTRAIL_FULL_ACCESS: ManagedPolicy = ManagedPolicy {
    name: "AWSCloudTrail_FullAccess",
    arn: "arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess",
    version: "v3",
    description: "Provides full access to AWS CloudTrail.",
    document: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["sns:AddPermission", "sns:CreateTopic", "sns:SetTopicAttributes", "sns:GetTopicAttributes"],
      "Resource": ["arn:aws:sns:*:*:aws-cloudtrail-logs*"]
    },
    { "Effect": "Allow", "Action": ["sns:ListTopics"], "Resource": "*" },
    {
      "Effect": "Allow",
      "Action": ["s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock"],
      "Resource": ["arn:aws:s3:::aws-cloudtrail-logs*"]
    },
    { "Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketPolicy"], "Resource": "*" },
    { "Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*" },
    { "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": ["arn:aws:logs:*:*:log-group:aws-cloudtrail-logs*"] },
    { "Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRolePolicy", "iam:GetUser"], "Resource": "*" },
    {
      "Effect": "Allow",
      "Action": ["iam:PassRole"],
      "Resource": "*",
      "Condition": { "StringEquals": { "iam:PassedToService": "cloudtrail.amazonaws.com" } }
    },
    { "Effect": "Allow", "Action": ["kms:CreateKey", "kms:CreateAlias", "kms:ListKeys", "kms:ListAliases"], "Resource": "*" },
    { "Effect": "Allow", "Action": ["lambda:ListFunctions"], "Resource": "*" },
    { "Effect": "Allow", "Action": ["dynamodb:ListGlobalTables", "dynamodb:ListTables"], "Resource": "*" }
  ]
}"#,
};

/// `AWSCloudTrail_ReadOnlyAccess` v1.
pub const AWS_CLOUDTRAIL_READ_ONLY_ACCESS: ManagedPolicy = ManagedPolicy {
    name: "AWSCloudTrail_ReadOnlyAccess",
    arn: "arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess",
    version: "v1",
    description: "Provides read only access to AWS CloudTrail.",
    document: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["cloudtrail:Get*", "cloudtrail:Describe*", "cloudtrail:List*", "cloudtrail:LookupEvents"],
      "Resource": "*"
    }
  ]
}"#,
};

/// `AdministratorAccess` v1.
pub const ADMINISTRATOR_ACCESS: ManagedPolicy = ManagedPolicy {
    name: "AdministratorAccess",
    arn: "arn:aws:iam::aws:policy/AdministratorAccess",
    version: "v1",
    description: "Provides full access to AWS services and resources.",
    document: r#"{
  "Version": "2012-10-17",
  "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }]
}"#,
};

/// `CairnReadOnlyAccess` (Cairn's own): read actions on the services Cairn serves.
pub const CAIRN_READ_ONLY_ACCESS: ManagedPolicy = ManagedPolicy {
    name: "CairnReadOnlyAccess",
    arn: "arn:aws:iam::cairn:policy/CairnReadOnlyAccess",
    version: "v1",
    description: "Read-only access to the services Cairn serves.",
    document: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "CairnReadOnly",
      "Effect": "Allow",
      "Action": [
        "cloudtrail:Get*", "cloudtrail:Describe*", "cloudtrail:List*", "cloudtrail:LookupEvents",
        "s3:Get*", "s3:List*",
        "logs:Describe*", "logs:Get*", "logs:FilterLogEvents", "logs:StartQuery", "logs:StopQuery",
        "sns:Get*", "sns:List*",
        "kms:Describe*", "kms:Get*", "kms:List*",
        "iam:Get*", "iam:List*",
        "sts:GetCallerIdentity"
      ],
      "Resource": "*"
    }
  ]
}"#,
};

/// Every built-in managed policy.
pub const MANAGED_POLICIES: &[ManagedPolicy] = &[
    AWS_CLOUDTRAIL_FULL_ACCESS,
    AWS_CLOUDTRAIL_READ_ONLY_ACCESS,
    ADMINISTRATOR_ACCESS,
    CAIRN_READ_ONLY_ACCESS,
];

/// Looks a built-in policy up by name or ARN.
pub fn managed_policy(name_or_arn: &str) -> Option<&'static ManagedPolicy> {
    MANAGED_POLICIES
        .iter()
        .find(|p| p.name == name_or_arn || p.arn == name_or_arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{MANAGED_POLICY_MAX_CHARS, PolicyType, check_size};

    #[test]
    fn all_parse_validate_and_fit() {
        for m in MANAGED_POLICIES {
            let p = m.policy().unwrap();
            p.validate_as(PolicyType::Identity).unwrap();
            check_size(m.document, MANAGED_POLICY_MAX_CHARS).unwrap();
            assert_eq!(managed_policy(m.name), Some(m));
            assert_eq!(managed_policy(m.arn), Some(m));
        }
        assert_eq!(
            AWS_CLOUDTRAIL_FULL_ACCESS
                .policy()
                .unwrap()
                .statements()
                .len(),
            11
        );
        assert!(managed_policy("PowerUserAccess").is_none());
    }
}
