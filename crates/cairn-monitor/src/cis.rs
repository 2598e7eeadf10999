//! The CIS AWS Foundations Benchmark / Security Hub CloudWatch.1–14 pack.
//!
//! The table itself lives in [`cairn_pattern::cis`], shared with `cairn check`.

use serde_json::json;

use crate::error::{MonitorError, Result};
use crate::sns::Subscription;
use crate::{Monitor, logs};

pub use cairn_pattern::cis::{CIS_NAMESPACE, cis_filters};

/// What [`Monitor::enable_cis`] set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CisReport {
    /// The topic the alarms notify.
    pub topic_arn: String,
    /// The subscription made, if a subscriber was given.
    pub subscription_arn: Option<String>,
    /// Metric filter names (`CIS-CloudWatch.N-<Metric>`).
    pub filters: Vec<String>,
    /// Alarm names (same as the filter names).
    pub alarms: Vec<String>,
    /// Filters that did not exist before this call.
    pub created_filters: usize,
}

impl Monitor {
    /// Installs the CIS pack on a log group: 14 metric filters with the
    /// exact Security Hub patterns (namespace [`CIS_NAMESPACE`], value `1`),
    /// one alarm each (Sum, Period 300, EvaluationPeriods 1, Threshold 1,
    /// GreaterThanOrEqualToThreshold, TreatMissingData notBreaching,
    /// AlarmActions = the topic), the topic, and optionally a subscription.
    /// Idempotent: running it again updates in place and keeps alarm states.
    pub fn enable_cis(
        &self,
        account: &str,
        region: &str,
        log_group_name: &str,
        topic_name: &str,
        subscriber: Option<Subscription>,
    ) -> Result<CisReport> {
        if !logs::group_exists(&self.db(), account, region, log_group_name)? {
            return Err(MonitorError::not_found(
                "The specified log group does not exist.",
            ));
        }
        let topic_arn = self.create_topic(account, region, topic_name)?;
        let subscription_arn = match &subscriber {
            Some(s) => Some(self.subscribe_as(account, &topic_arn, s)?),
            None => None,
        };
        let existing = self.logs_call(
            "DescribeMetricFilters",
            account,
            region,
            &json!({"logGroupName": log_group_name, "filterNamePrefix": "CIS-"}),
        )?;
        let existing: Vec<String> = existing["metricFilters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["filterName"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut report = CisReport {
            topic_arn: topic_arn.clone(),
            subscription_arn,
            filters: Vec::new(),
            alarms: Vec::new(),
            created_filters: 0,
        };
        for &(control, metric, pattern) in cis_filters() {
            let name = format!("CIS-{control}-{metric}");
            if !existing.contains(&name) {
                report.created_filters += 1;
            }
            self.logs_call(
                "PutMetricFilter",
                account,
                region,
                &json!({
                    "logGroupName": log_group_name,
                    "filterName": name,
                    "filterPattern": pattern,
                    "metricTransformations": [{
                        "metricName": metric, "metricNamespace": CIS_NAMESPACE, "metricValue": "1"
                    }],
                }),
            )?;
            self.put_metric_alarm(
                account,
                region,
                &cairn_pattern::cis::alarm_request(
                    &name,
                    &format!(
                        "CIS / Security Hub {control}: {metric} on log group {log_group_name}"
                    ),
                    CIS_NAMESPACE,
                    metric,
                    std::slice::from_ref(&topic_arn),
                ),
            )?;
            report.filters.push(name.clone());
            report.alarms.push(name);
        }
        Ok(report)
    }
}
