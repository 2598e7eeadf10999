//! The router over the control plane's configuration history: what the control plane
//! commits is what the pipeline routes by.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use serde_json::json;
use time::OffsetDateTime;

use std::sync::Arc;

use cairn_pipeline::envelope::{self, RouteKeys};
use cairn_pipeline::route::Router;

use super::pipeline_config;
use crate::catalog::Catalog;
use crate::cloudtrail::{CallContext, ControlPlane, Operation, TrailVersion};
use crate::config::Config;

const ACCT: &str = crate::config::DEFAULT_ACCOUNT_ID;

struct World {
    _dir: tempfile::TempDir,
    control: Arc<ControlPlane>,
    config: Arc<Config>,
    journal: Arc<cairn_journal::Journal>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(Config::for_data_dir(dir.path()));
    let control = Arc::new(crate::cloudtrail::test_control(dir.path()));
    let journal = Arc::new(
        cairn_journal::Journal::open(dir.path().join("journal"), Default::default()).unwrap(),
    );
    control.attach_journal(journal.clone());
    World {
        _dir: dir,
        control,
        config,
        journal,
    }
}

fn ctx() -> CallContext {
    CallContext {
        account: ACCT.to_owned(),
        region: "us-east-1".to_owned(),
        now: OffsetDateTime::now_utc(),
    }
}

/// Journals one management event; returns its sequence number.
fn journal_event(w: &World, name: &str, request: serde_json::Value) -> u64 {
    let keys = RouteKeys {
        event_id: uuid::Uuid::new_v4().to_string(),
        event_time: 1_700_000_000,
        event_category: "Management".into(),
        event_source: "cloudtrail.amazonaws.com".into(),
        event_name: name.into(),
        event_type: Some("AwsApiCall".into()),
        aws_region: "us-east-1".into(),
        recipient_account_id: ACCT.into(),
        read_only: Some(name.starts_with("Describe")),
        ..RouteKeys::default()
    };
    let record = json!({"eventName": name, "requestParameters": request}).to_string();
    w.journal
        .append(&[&envelope::encode(&keys, record.as_bytes())])
        .unwrap()
        .first_seq
}

fn call(w: &World, op: Operation, body: serde_json::Value) {
    w.control.call(op, &ctx(), &body).unwrap();
}

/// The sequence numbers the trail takes, routing the whole journal with a [`Router`].
fn delivered(w: &World) -> BTreeSet<u64> {
    let mut router = Router::new(w.control.clone(), Arc::new(pipeline_config(&w.config)));
    let mut reader = w.journal.reader(0).unwrap();
    let mut out = BTreeSet::new();
    loop {
        let batch = reader.try_next_batch(1000).unwrap();
        if batch.is_empty() {
            return out;
        }
        for r in batch {
            let Ok(e) = envelope::decode(&r.payload) else {
                continue;
            };
            let (table, _) = router.table_at(r.seq);
            if table.route(&e).next().is_some() {
                out.insert(r.seq);
            }
        }
    }
}

fn create(w: &World) {
    w.journal.append(&[b"not an envelope"]).unwrap();
    call(
        w,
        Operation::CreateTrail,
        json!({"Name": "audit", "S3BucketName": "trail-logs"}),
    );
}

#[test]
fn events_are_routed_by_the_configuration_at_their_journal_position() {
    let w = world();
    create(&w);
    let before = journal_event(&w, "DescribeTrails", json!(null));
    call(&w, Operation::StartLogging, json!({"Name": "audit"}));
    let start = journal_event(&w, "StartLogging", json!({"name": "audit"}));
    let while_on = journal_event(&w, "DescribeTrails", json!(null));
    call(&w, Operation::StopLogging, json!({"Name": "audit"}));
    // Recorded after the stop committed, as the HTTP front records it.
    let stop = journal_event(
        &w,
        "StopLogging",
        json!({"name": format!("arn:aws:cloudtrail:us-east-1:{ACCT}:trail/audit")}),
    );
    let while_off = journal_event(&w, "DescribeTrails", json!(null));
    let other_stop = journal_event(&w, "StopLogging", json!({"name": "other"}));
    // A router that reads everything only now, long after the stop, still delivers what was
    // recorded while logging, and the StopLogging call itself.
    let got = delivered(&w);
    assert_eq!(got, BTreeSet::from([start, while_on, stop]));
    assert!(!got.contains(&before) && !got.contains(&while_off));
    assert!(!got.contains(&other_stop));
    // Deleting the trail does not take back what it recorded.
    call(&w, Operation::DeleteTrail, json!({"Name": "audit"}));
    journal_event(&w, "DescribeTrails", json!(null));
    assert_eq!(delivered(&w), got);
}

#[test]
fn history_survives_a_restart_and_prunes_behind_consumers() {
    let w = world();
    create(&w);
    call(&w, Operation::StartLogging, json!({"Name": "audit"}));
    let on = journal_event(&w, "DescribeTrails", json!(null));
    call(&w, Operation::StopLogging, json!({"Name": "audit"}));
    journal_event(&w, "DescribeTrails", json!(null));
    let versions = w.control.history().len();
    assert!(versions >= 3, "{versions} versions");
    // Reloaded from the catalog: the same history, so the same routing.
    let reloaded = Arc::new(
        ControlPlane::load(
            w.config.clone(),
            Arc::new(Catalog::open(w._dir.path()).unwrap()),
            crate::cloudtrail::Services::default(),
        )
        .unwrap(),
    );
    reloaded.attach_journal(w.journal.clone());
    // The same versions; timestamps are f64 seconds, which serde_json's default float
    // parser may read back one ULP off, so compare them as the JSON they are stored as.
    let as_json = |h: &[TrailVersion]| -> Vec<(u64, Vec<String>)> {
        h.iter()
            .map(|v| {
                let trails = v
                    .trails
                    .iter()
                    .map(|t| {
                        fn round(v: &mut serde_json::Value) {
                            match v {
                                serde_json::Value::Number(n) if n.is_f64() => {
                                    *v = json!(format!("{:.3}", n.as_f64().unwrap_or(0.0)));
                                }
                                serde_json::Value::Array(a) => a.iter_mut().for_each(round),
                                serde_json::Value::Object(m) => m.values_mut().for_each(round),
                                _ => {}
                            }
                        }
                        let mut j = serde_json::to_value(t).unwrap();
                        round(&mut j);
                        j.to_string()
                    })
                    .collect();
                (v.from_seq, trails)
            })
            .collect()
    };
    assert_eq!(as_json(&reloaded.history()), as_json(&w.control.history()));
    let w2 = World {
        _dir: tempfile::tempdir().unwrap(),
        control: reloaded,
        config: w.config.clone(),
        journal: w.journal.clone(),
    };
    assert_eq!(delivered(&w2), BTreeSet::from([on]));
    // Once every consumer is past the stop, only the version in force there is kept.
    let end = w.journal.next_seq();
    w.control.prune_history(end);
    assert_eq!(w.control.history().len(), 1);
    assert!(!w.control.history()[0].trails[0].logging);
}

/// Random interleavings of configuration changes and events: every event is delivered
/// exactly when the trail was logging (by the model) at the moment it was journaled,
/// plus the StopLogging calls that stopped it.
#[test]
fn random_histories_route_like_the_model() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    for _ in 0..20 {
        let w = world();
        create(&w);
        let mut logging = false;
        let mut want = BTreeSet::new();
        for _ in 0..60 {
            match rng.gen_range(0..5) {
                0 => {
                    call(&w, Operation::StartLogging, json!({"Name": "audit"}));
                    logging = true;
                    want.insert(journal_event(&w, "StartLogging", json!({"name": "audit"})));
                }
                1 => {
                    call(&w, Operation::StopLogging, json!({"Name": "audit"}));
                    // The call that stops the trail (and one on a stopped trail) reaches it.
                    want.insert(journal_event(&w, "StopLogging", json!({"name": "audit"})));
                    logging = false;
                }
                2 => {
                    let read_only = rng.gen_bool(0.5);
                    let sel = if read_only { "WriteOnly" } else { "All" };
                    call(
                        &w,
                        Operation::PutEventSelectors,
                        json!({"TrailName": "audit", "EventSelectors": [{"ReadWriteType": sel}]}),
                    );
                    let seq = journal_event(&w, "DescribeTrails", json!(null));
                    if logging && !read_only {
                        want.insert(seq);
                    }
                    call(
                        &w,
                        Operation::PutEventSelectors,
                        json!({"TrailName": "audit", "EventSelectors": [{"ReadWriteType": "All"}]}),
                    );
                }
                _ => {
                    let seq = journal_event(&w, "DescribeTrails", json!(null));
                    if logging {
                        want.insert(seq);
                    }
                }
            }
        }
        assert_eq!(delivered(&w), want);
    }
}
