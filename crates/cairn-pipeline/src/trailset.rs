//! What the pipeline needs of the control plane: the trails and their configuration history
//! ([`TrailSet`]), and somewhere to report delivery state ([`StatusSink`]).

use std::sync::Arc;

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
}

/// Where the pipeline reports delivery state.
pub trait StatusSink: Send + Sync {
    /// Applies `f` to the state of (trail, region, account).
    fn update_delivery_status(
        &self,
        trail_arn: &str,
        region: &str,
        account: &str,
        f: &mut dyn FnMut(&mut DeliveryStatus),
    );
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
        self.update_delivery_status(trail_arn, region, account, &mut |s| {
            if let Some(f) = f.take() {
                f(s);
            }
        });
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A [`TrailSet`] and [`StatusSink`] over the trails a catalog stores.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use cairn_catalog::TrailStore;
    use cairn_catalog::model::Trail;
    use cairn_journal::Journal;

    use super::{ConsentError, DeliveryStatus, StatusSink, TrailSet, TrailVersion};

    type StatusKey = (String, String, String);

    /// The trails as `catalog` stores them now, as one configuration from the start.
    pub(crate) struct CatalogTrails {
        catalog: Arc<dyn TrailStore>,
        status: Mutex<HashMap<StatusKey, DeliveryStatus>>,
    }

    impl CatalogTrails {
        pub(crate) fn new(catalog: Arc<dyn TrailStore>) -> Self {
            CatalogTrails {
                catalog,
                status: Mutex::new(HashMap::new()),
            }
        }
    }

    impl TrailSet for CatalogTrails {
        fn all_trails(&self) -> Vec<Trail> {
            let mut t = self.catalog.trails().expect("catalog trails");
            t.sort_by_key(Trail::arn);
            t
        }
        fn history(&self) -> Vec<TrailVersion> {
            vec![TrailVersion {
                from_seq: 0,
                trails: Arc::new(self.all_trails()),
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

    impl StatusSink for CatalogTrails {
        fn update_delivery_status(
            &self,
            trail_arn: &str,
            region: &str,
            account: &str,
            f: &mut dyn FnMut(&mut DeliveryStatus),
        ) {
            let mut m = self.status.lock().expect("status");
            f(m.entry((trail_arn.into(), region.into(), account.into()))
                .or_default());
        }
    }
}
