//! Validating and applying a trail's settings: its bucket (and the bucket owner's consent),
//! log group and role, KMS key, organization scope, and the per-region quota.

use super::*;
use crate::cloudtrail::is_arn_of;

impl ControlPlane {
    fn log_group_exists(&self, account: &str, region: &str, name: &str) -> bool {
        let Some(m) = self.services.monitor.as_ref() else {
            return false;
        };
        m.logs_call(
            "DescribeLogGroups",
            account,
            region,
            &json!({"logGroupNamePrefix": name}),
        )
        .ok()
        .and_then(|v| {
            v["logGroups"]
                .as_array()
                .map(|a| a.iter().any(|g| g["logGroupName"] == name))
        })
        .unwrap_or(false)
    }

    fn check_bucket(&self, name: &str) -> Result<(), ApiError> {
        validate::bucket_name(name)?;
        if self.config.buckets.contains_key(name) {
            return Ok(());
        }
        match self.catalog.bucket(name).map_err(ApiError::internal)? {
            Some(_) => Ok(()),
            None => Err(ApiError::client(
                "S3BucketDoesNotExistException",
                format!("S3 bucket {name} does not exist!"),
            )),
        }
    }

    /// Whether the owner of the trail's bucket lets CloudTrail deliver this trail's files
    /// there: checked at CreateTrail/UpdateTrail and again before every delivery attempt.
    ///
    /// A bucket of the trail's own account keeps working without a bucket policy (as before);
    /// a bucket of another account needs a bucket policy that grants
    /// `cloudtrail.amazonaws.com` `s3:GetBucketAcl` and `s3:PutObject` for this trail
    /// (`InsufficientS3BucketPolicyException` otherwise, as CloudTrail answers); when the
    /// bucket has a policy, it must grant that whoever owns it. Buckets of the configuration
    /// file (the operator's) and buckets this server does not know are not checked here.
    pub fn delivery_consent(&self, t: &Trail) -> Result<(), ApiError> {
        let bucket = &t.s3_bucket_name;
        if self.config.buckets.contains_key(bucket) {
            return Ok(());
        }
        let Some(vault) = self.services.vault.as_ref() else {
            return Ok(());
        };
        let owner = match vault.bucket(bucket) {
            Ok(info) => info.account,
            Err(cairn_vault::VaultError::NoSuchBucket { .. }) => return Ok(()),
            Err(e) => return Err(ApiError::internal(e)),
        };
        if owner != t.account_id {
            match vault.get_doc(bucket, cairn_vault::DocKind::Policy) {
                Ok(_) => {}
                Err(cairn_vault::VaultError::NoSuchConfiguration { .. }) => {
                    return Err(ApiError::client(
                        "InsufficientS3BucketPolicyException",
                        format!(
                            "Incorrect S3 bucket policy is detected for bucket: {bucket} (the bucket belongs to account {owner}, and no bucket policy lets CloudTrail deliver {} there)",
                            t.arn()
                        ),
                    ));
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        crate::s3::check_delivery_policy(vault, bucket, t, &t.home_region)
    }

    /// Resolves a trail's `KmsKeyId` (key id, key ARN, alias name or alias ARN) to the key
    /// ARN, as CloudTrail does: the key must exist in the trail's account and home region
    /// (`KmsKeyNotFoundException`), be enabled (`KmsException`; CloudTrail's
    /// `KmsKeyDisabledException` is documented as no longer used), and its key policy must
    /// let `cloudtrail.amazonaws.com` call `kms:GenerateDataKey*` for this trail
    /// (`InsufficientEncryptionPolicyException`).
    fn trail_key_arn(&self, t: &Trail, key_id: &str) -> Result<String, ApiError> {
        let Some(kms) = self.services.kms.as_ref() else {
            return Err(ApiError::client(
                "KmsKeyNotFoundException",
                format!("KMS key {key_id} does not exist (this server has no KMS)"),
            ));
        };
        let (meta, policy) = kms
            .key_and_policy(&t.account_id, &t.home_region, key_id, false)
            .map_err(|e| match e {
                cairn_kms::KmsError::NotFound(_) => ApiError::client(
                    "KmsKeyNotFoundException",
                    format!(
                        "KMS key {key_id} does not exist in account {} region {}",
                        t.account_id, t.home_region
                    ),
                ),
                other => ApiError::internal(other),
            })?;
        if meta.state != cairn_kms::KeyState::Enabled {
            return Err(ApiError::client(
                "KmsException",
                format!("KMS key {} is {}", meta.arn, meta.state),
            ));
        }
        let trail_arn = t.arn();
        let request = cairn_policy::Request::new(
            cairn_policy::PrincipalInfo::service("cloudtrail.amazonaws.com"),
            "kms:GenerateDataKey",
            &meta.arn,
        )
        .with_resource_account(&meta.account)
        .with_context("aws:SourceArn", trail_arn.as_str())
        .with_context("aws:SourceAccount", t.account_id.as_str())
        .with_context(
            "kms:EncryptionContext:aws:cloudtrail:arn",
            trail_arn.as_str(),
        )
        .with_context(
            "kms:EncryptionContextKeys",
            vec!["aws:cloudtrail:arn".to_owned()],
        );
        let set = cairn_policy::PolicySet {
            resource: Some(("key-policy".to_owned(), (*policy).clone())),
            ..cairn_policy::PolicySet::default()
        };
        if !cairn_policy::evaluate(&request, &set).is_allowed() {
            return Err(ApiError::client(
                "InsufficientEncryptionPolicyException",
                format!(
                    "Insufficient permissions to access S3 bucket or KMS key {}: its key policy does not allow cloudtrail.amazonaws.com to call kms:GenerateDataKey* for {trail_arn}",
                    meta.arn
                ),
            ));
        }
        Ok(meta.arn)
    }

    /// Applies create/update settings to `t`; validates references.
    pub(super) fn apply_settings(
        &self,
        ctx: &CallContext,
        t: &mut Trail,
        s: &TrailSettings,
        create: bool,
    ) -> Result<(), ApiError> {
        // CloudTrail checks the region scope before it looks at the bucket: a multi-Region
        // trail without global service events is refused even when its bucket is missing.
        apply_region_scope(t, s, create)?;
        if let Some(b) = &s.s3_bucket_name {
            self.check_bucket(b)?;
            t.s3_bucket_name = b.clone();
        }
        if let Some(p) = &s.s3_key_prefix {
            t.s3_key_prefix = validate::key_prefix(p)?;
        }
        if s.s3_bucket_name.is_some() || s.s3_key_prefix.is_some() {
            self.delivery_consent(t)?;
        }
        if let Some(topic) = &s.sns_topic_name {
            if topic.chars().count() > 256 {
                return Err(ApiError::client(
                    "InvalidSnsTopicNameException",
                    "SNS topic name must be at most 256 characters long",
                ));
            }
            if topic.is_empty() {
                t.sns_topic_arn = None;
            } else {
                t.sns_topic_arn = Some(self.check_topic(t, topic)?);
            }
        }
        if let Some(v) = s.enable_log_file_validation {
            t.log_file_validation = v;
        }
        self.apply_log_group(
            t,
            s.cloud_watch_logs_log_group_arn.as_deref(),
            s.cloud_watch_logs_role_arn.as_deref(),
        )?;
        if let Some(k) = &s.kms_key_id {
            if k.is_empty() {
                t.kms_key_id = None;
            } else if !validate::kms_key_id_shape(k) {
                return Err(ApiError::client(
                    "InvalidKmsKeyIdException",
                    format!("KMS key ID {k} is not a key ID, key ARN, alias name or alias ARN"),
                ));
            } else {
                t.kms_key_id = Some(self.trail_key_arn(t, k)?);
            }
        }
        if let Some(o) = s.is_organization_trail {
            if o && !t.is_organization {
                match &self.config.organization {
                    None => {
                        return Err(ApiError::client(
                            "OrganizationsNotInUseException",
                            "This account is not a member of an organization (no organization is configured).",
                        ));
                    }
                    Some(org) if org.management_account.as_str() != ctx.account => {
                        return Err(ApiError::client(
                            "NotOrganizationMasterAccountException",
                            format!(
                                "Account {} is not the management account of organization {}; only the management account can create or convert organization trails.",
                                ctx.account, org.id
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
            t.is_organization = o;
        }
        Ok(())
    }

    /// Count of trails visible to `account` in `region` (home and shadow), excluding `skip`.
    pub(super) fn count_in_region(
        &self,
        trails: &BTreeMap<TrailKey, Trail>,
        account: &str,
        region: &str,
        skip: Option<&TrailKey>,
    ) -> usize {
        trails
            .iter()
            .filter(|(k, _)| Some(*k) != skip)
            .filter(|(_, t)| self.visibility(t, account, region).is_some())
            .count()
    }

    pub(super) fn check_quota(
        &self,
        trails: &BTreeMap<TrailKey, Trail>,
        t: &Trail,
        skip: Option<&TrailKey>,
    ) -> Result<(), ApiError> {
        let regions: Vec<String> = if t.is_multi_region {
            self.config.regions.iter().map(|r| r.to_string()).collect()
        } else {
            vec![t.home_region.clone()]
        };
        for r in regions {
            if self.count_in_region(trails, &t.account_id, &r, skip) >= MAX_TRAILS_PER_REGION {
                return Err(ApiError::client(
                    "MaximumNumberOfTrailsExceededException",
                    format!(
                        "User: {} already has {MAX_TRAILS_PER_REGION} trails in {r}.",
                        t.account_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applies `CloudWatchLogsLogGroupArn` and `CloudWatchLogsRoleArn`: both or neither,
    /// both empty to clear; the log group must exist in the trail's own account, the role
    /// must be one of that account's.
    /// The ARN of the trail's notification topic `topic` (a name in the trail's account and
    /// home Region, or an ARN), if CloudTrail may publish there: the topic exists and its
    /// policy allows `cloudtrail.amazonaws.com` `sns:Publish` for this trail
    /// (`aws:SourceArn`), as CloudTrail checks on Create/UpdateTrail.
    fn check_topic(&self, t: &Trail, topic: &str) -> Result<String, ApiError> {
        let arn = if topic.starts_with("arn:") {
            topic.to_owned()
        } else {
            format!("arn:aws:sns:{}:{}:{topic}", t.home_region, t.account_id)
        };
        let allowed = self
            .services
            .monitor
            .as_ref()
            .is_some_and(|m| m.can_publish(&arn, "cloudtrail.amazonaws.com", &t.arn()));
        if !allowed {
            return Err(ApiError::client(
                "InsufficientSnsTopicPolicyException",
                "SNS Topic does not exist or the topic policy is incorrect!",
            ));
        }
        Ok(arn)
    }

    /// CloudTrail's notification of a delivered log file (`{"s3Bucket", "s3ObjectKey": [..]}`)
    /// to `t`'s topic: `Ok(false)` without a topic; the SNS error code when the topic is gone
    /// or its policy no longer lets CloudTrail publish. The notification is stored before
    /// this returns and delivered to the subscribers in the background (with retries).
    pub(crate) fn notify_delivered(
        &self,
        t: &Trail,
        bucket: &str,
        key: &str,
    ) -> Result<bool, String> {
        let Some(topic) = &t.sns_topic_arn else {
            return Ok(false);
        };
        let monitor = self.services.monitor.as_ref().ok_or("NotFound")?;
        if !monitor.can_publish(topic, "cloudtrail.amazonaws.com", &t.arn()) {
            return Err(if matches!(monitor.topic_owner(topic), Ok(Some(_))) {
                "AuthorizationError".to_owned()
            } else {
                "NotFound".to_owned()
            });
        }
        let message = serde_json::json!({ "s3Bucket": bucket, "s3ObjectKey": [key] });
        let (_, notes) = monitor
            .publish_message(
                topic,
                &cairn_monitor::PublishInput {
                    message: message.to_string(),
                    ..cairn_monitor::PublishInput::default()
                },
            )
            .map_err(|e| e.to_string())?;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let m = monitor.clone();
            rt.spawn(async move { m.deliver_notifications(&notes).await });
        }
        Ok(true)
    }

    fn apply_log_group(
        &self,
        t: &mut Trail,
        lg: Option<&str>,
        role: Option<&str>,
    ) -> Result<(), ApiError> {
        match (lg, role) {
            (None, None) => {}
            (Some(""), Some("")) | (Some(""), None) | (None, Some("")) => {
                t.cloud_watch_logs_log_group_arn = None;
                t.cloud_watch_logs_role_arn = None;
            }
            (Some(g), r) => {
                if !is_arn_of(g, "logs", "log-group:") {
                    return Err(ApiError::client(
                        "InvalidCloudWatchLogsLogGroupArnException",
                        format!("CloudWatch Logs log group ARN {g} is not valid"),
                    ));
                }
                let Some(r) = r.filter(|r| !r.is_empty()) else {
                    return Err(ApiError::client(
                        "InvalidParameterCombinationException",
                        "You must specify a role ARN (CloudWatchLogsRoleArn) together with a log group ARN.",
                    ));
                };
                if !is_arn_of(r, "iam", "role/") {
                    return Err(ApiError::client(
                        "InvalidCloudWatchLogsRoleArnException",
                        format!("CloudWatch Logs role ARN {r} is not valid"),
                    ));
                }
                // CloudTrail: "You must use a role that exists in your account."
                if r.parse::<cairn_event::Arn>()
                    .is_ok_and(|a| a.partition() != "aws" || a.account_id() != t.account_id)
                {
                    return Err(ApiError::client(
                        "InvalidCloudWatchLogsRoleArnException",
                        format!(
                            "CloudWatch Logs role ARN {r} is not valid: you must use a role that exists in your account ({})",
                            t.account_id
                        ),
                    ));
                }
                let arn: cairn_event::Arn = g.parse().map_err(ApiError::internal)?;
                // CloudTrail: "You must use a log group that exists in your account." Another
                // account's log group would run that account's metric filters and alarms on
                // events it never agreed to receive.
                if arn.partition() != "aws" || arn.account_id() != t.account_id {
                    return Err(ApiError::client(
                        "InvalidCloudWatchLogsLogGroupArnException",
                        format!(
                            "CloudWatch Logs log group ARN {g} is not valid: you must use a log group that exists in your account ({})",
                            t.account_id
                        ),
                    ));
                }
                let name = arn
                    .resource()
                    .trim_start_matches("log-group:")
                    .trim_end_matches(":*");
                if !self.log_group_exists(arn.account_id(), arn.region(), name) {
                    return Err(ApiError::client(
                        "InvalidCloudWatchLogsLogGroupArnException",
                        format!(
                            "Log group {name} does not exist in account {} region {}",
                            arn.account_id(),
                            arn.region()
                        ),
                    ));
                }
                t.cloud_watch_logs_log_group_arn = Some(g.to_owned());
                t.cloud_watch_logs_role_arn = Some(r.to_owned());
            }
            (None, Some(_)) => {
                return Err(ApiError::client(
                    "InvalidParameterCombinationException",
                    "You must specify a log group ARN (CloudWatchLogsLogGroupArn) together with a role ARN.",
                ));
            }
        }
        Ok(())
    }
}

/// Applies `IsMultiRegionTrail` and `IncludeGlobalServiceEvents`; a multi-Region trail must
/// include global service events (`InvalidParameterCombinationException`). On update, turning
/// multi-Region on or off without naming `IncludeGlobalServiceEvents` moves it along.
fn apply_region_scope(t: &mut Trail, s: &TrailSettings, create: bool) -> Result<(), ApiError> {
    if let Some(m) = s.is_multi_region_trail {
        if m != t.is_multi_region && s.include_global_service_events.is_none() && !create {
            t.include_global_service_events = m;
        }
        t.is_multi_region = m;
    }
    if let Some(g) = s.include_global_service_events {
        t.include_global_service_events = g;
    }
    if t.is_multi_region && !t.include_global_service_events {
        return Err(ApiError::client(
            "InvalidParameterCombinationException",
            "Multi-Region trail must include global service events.",
        ));
    }
    Ok(())
}
