//! What the pipeline needs of the control plane: the trails and their configuration history
//! ([`TrailSet`]), and somewhere to report delivery state ([`StatusSink`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_catalog::model::Trail;
use cairn_journal::Journal;

/// One configuration of the whole trail set, in force for the journal records from
/// `from_seq` on (until the next version's `from_seq`).
///
/// A configuration change (CreateTrail, UpdateTrail, DeleteTrail, Start/StopLogging,
/// Put*Selectors, tags) takes effect at the journal's committed end when it commits: every
/// record committed before it was recorded under the previous configuration and is routed by
/// it, however late a consumer reads it. Consumers route each record by the version in force
/// at its sequence number ([`TrailSet::history`]), never by the trail set as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailVersion {
    /// First journal sequence number this configuration applies to.
    pub from_seq: u64,
    /// The trails, in key order.
    pub trails: Arc<Vec<Trail>>,
}

/// Delivery state of one (trail, region, account) as the pipeline reports it; feeds
/// `GetTrailStatus`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStatus {
    /// Last successful log-file delivery (epoch seconds).
    pub latest_delivery_time: Option<f64>,
    /// Last delivery attempt (epoch seconds).
    pub latest_delivery_attempt_time: Option<f64>,
    /// Whether the last attempt succeeded.
    pub latest_delivery_attempt_succeeded: Option<bool>,
    /// Last delivery error (e.g. an S3 error code).
    pub latest_delivery_error: Option<String>,
    /// Last digest delivery (epoch seconds).
    pub latest_digest_delivery_time: Option<f64>,
    /// Last digest delivery error.
    pub latest_digest_delivery_error: Option<String>,
    /// Last notification (epoch seconds).
    pub latest_notification_time: Option<f64>,
    /// Last notification attempt (epoch seconds).
    pub latest_notification_attempt_time: Option<f64>,
    /// Whether the last notification attempt succeeded.
    pub latest_notification_attempt_succeeded: Option<bool>,
    /// Last notification error.
    pub latest_notification_error: Option<String>,
}

/// Why a trail may not deliver into its bucket now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConsentError {
    /// The bucket owner's policy does not allow it (else the check itself failed).
    pub denied: bool,
    /// What to log.
    pub message: String,
}

/// The trails as the pipeline sees them.
pub trait TrailSet: Send + Sync {
    /// Every trail as it is now.
    fn all_trails(&self) -> Vec<Trail>;
    /// The configuration versions to route by, ascending `from_seq`; never empty.
    fn history(&self) -> Vec<TrailVersion>;
    /// Changes whenever [`TrailSet::history`] gained a version.
    fn history_generation(&self) -> u64;
    /// Forgets the versions no consumer needs once every consumer has committed `seq`.
    fn prune_history(&self, seq: u64);
    /// From now on, configuration changes take effect at `journal`'s committed end.
    fn attach_journal(&self, journal: Arc<Journal>);
    /// Whether the owner of `t`'s bucket lets this trail deliver there (checked before every
    /// delivery attempt).
    fn delivery_consent(&self, t: &Trail) -> Result<(), ConsentError>;
    /// Publishes CloudTrail's notification that log file `key` was delivered into `bucket`
    /// to `t`'s SNS topic, if it has one (`Ok(false)` when it has none). The error is what
    /// `GetTrailStatus` shows as `LatestNotificationError`. The default has no topics.
    fn notify_delivered(&self, t: &Trail, bucket: &str, key: &str) -> Result<bool, String> {
        let _ = (t, bucket, key);
        Ok(false)
    }
}

/// Key of one delivery state: (trail ARN, region, account), as `GetTrailStatus` asks for it.
pub type StatusKey = (String, String, String);

/// Where the pipeline reports delivery state.
pub trait StatusSink: Send + Sync {
    /// Applies `f` to the state of `key`.
    fn update_delivery_status(&self, key: StatusKey, f: &mut dyn FnMut(&mut DeliveryStatus));
}

impl dyn StatusSink + '_ {
    /// [`StatusSink::update_delivery_status`] with a one-shot closure.
    pub fn update(
        &self,
        trail_arn: &str,
        region: &str,
        account: &str,
        f: impl FnOnce(&mut DeliveryStatus),
    ) {
        let mut f = Some(f);
        let key = (trail_arn.to_owned(), region.to_owned(), account.to_owned());
        self.update_delivery_status(key, &mut |s| {
            if let Some(f) = f.take() {
                f(s);
            }
        });
    }
}

/// A [`TrailSet`] whose trails never change: one configuration from the first record on,
/// every delivery consented. For a pipeline run without a control plane (tools, tests).
#[derive(Debug, Clone)]
pub struct StaticTrails(Arc<Vec<Trail>>);

impl StaticTrails {
    /// The set of `trails`, kept in ARN order.
    pub fn new(mut trails: Vec<Trail>) -> Self {
        trails.sort_by_key(Trail::arn);
        StaticTrails(Arc::new(trails))
    }
}

impl TrailSet for StaticTrails {
    fn all_trails(&self) -> Vec<Trail> {
        self.0.to_vec()
    }
    fn history(&self) -> Vec<TrailVersion> {
        vec![TrailVersion {
            from_seq: 0,
            trails: self.0.clone(),
        }]
    }
    fn history_generation(&self) -> u64 {
        0
    }
    fn prune_history(&self, _seq: u64) {}
    fn attach_journal(&self, _journal: Arc<Journal>) {}
    fn delivery_consent(&self, _t: &Trail) -> Result<(), ConsentError> {
        Ok(())
    }
}

/// A [`StatusSink`] that keeps every reported state in memory.
#[derive(Debug, Default)]
pub struct MemoryStatus(Mutex<HashMap<StatusKey, DeliveryStatus>>);

impl MemoryStatus {
    /// The state last reported for (trail, region, account), if any.
    pub fn get(&self, trail_arn: &str, region: &str, account: &str) -> Option<DeliveryStatus> {
        let key = (trail_arn.to_owned(), region.to_owned(), account.to_owned());
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }
}

impl StatusSink for MemoryStatus {
    fn update_delivery_status(&self, key: StatusKey, f: &mut dyn FnMut(&mut DeliveryStatus)) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(key).or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(name: &str) -> Trail {
        cairn_catalog::conformance::sample_trail("111111111111", "us-east-1", name)
    }

    #[test]
    fn static_trails_are_one_version_in_arn_order() {
        let set = StaticTrails::new(vec![trail("b"), trail("a")]);
        let names: Vec<String> = set.all_trails().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["a", "b"]);
        let history = set.history();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].from_seq, 0);
        assert_eq!(*history[0].trails, set.all_trails());
        assert_eq!(set.history_generation(), 0);
        assert_eq!(set.delivery_consent(&trail("a")), Ok(()));
    }

    #[test]
    fn memory_status_keeps_each_key_apart() {
        let sink = MemoryStatus::default();
        let dyn_sink: &dyn StatusSink = &sink;
        dyn_sink.update("arn:t", "us-east-1", "111111111111", |s| {
            s.latest_delivery_time = Some(1.0);
        });
        dyn_sink.update("arn:t", "us-east-1", "111111111111", |s| {
            s.latest_delivery_error = Some("AccessDenied".into());
        });
        let got = sink.get("arn:t", "us-east-1", "111111111111").unwrap();
        assert_eq!(got.latest_delivery_time, Some(1.0));
        assert_eq!(got.latest_delivery_error.as_deref(), Some("AccessDenied"));
        assert_eq!(sink.get("arn:t", "us-west-2", "111111111111"), None);
    }
}
