//! S3 event notifications: the outbox rows a commit makes, in the commit's transaction.

use std::sync::Arc;
use std::time::Duration;

use cairn_vault::*;
use time::OffsetDateTime;

const CONFIG: &str = r#"<NotificationConfiguration>
  <QueueConfiguration>
    <Id>logs</Id>
    <Queue>arn:aws:sqs:us-east-1:111122223333:logs</Queue>
    <Event>s3:ObjectCreated:*</Event>
    <Filter><S3Key>
      <FilterRule><Name>prefix</Name><Value>AWSLogs/</Value></FilterRule>
      <FilterRule><Name>suffix</Name><Value>.json.gz</Value></FilterRule>
    </S3Key></Filter>
  </QueueConfiguration>
  <QueueConfiguration>
    <Id>removals</Id>
    <Queue>arn:aws:sqs:us-east-1:111122223333:removals</Queue>
    <Event>s3:ObjectRemoved:*</Event>
  </QueueConfiguration>
</NotificationConfiguration>"#;

fn vault(dir: &std::path::Path) -> Vault {
    Vault::open(dir, Arc::new(AesSealer::new(&[7; 32]).unwrap()), None).unwrap()
}

fn origin() -> EventOrigin {
    EventOrigin {
        principal_id: "AWS:AIDAEXAMPLE".into(),
        source_ip: "127.0.0.1".into(),
        request_id: "REQ1".into(),
    }
}

fn setup(versioned: bool) -> (tempfile::TempDir, Vault, OffsetDateTime) {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let now = OffsetDateTime::now_utc();
    v.create_bucket("trail", "111122223333", "us-east-1", false, now)
        .unwrap();
    if versioned {
        v.set_versioning("trail", Versioning::Enabled, None)
            .unwrap();
    }
    v.put_doc("trail", DocKind::Notification, CONFIG).unwrap();
    (dir, v, now)
}

fn put(v: &Vault, key: &str, req: &PutRequest, now: OffsetDateTime) -> Result<PutOutcome> {
    v.put_object("trail", key, b"{\"Records\":[]}", req, now)
}

#[test]
fn a_put_the_rules_take_makes_one_event_per_rule() {
    let (_d, v, now) = setup(true);
    let req = PutRequest {
        origin: origin(),
        ..PutRequest::default()
    };
    let out = put(&v, "AWSLogs/111122223333/a.json.gz", &req, now).unwrap();
    put(&v, "AWSLogs/111122223333/a.json", &req, now).unwrap(); // suffix does not match
    put(&v, "other/a.json.gz", &req, now).unwrap(); // prefix does not match
    let events = v.pending_events(now, 100).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.event_name, "ObjectCreated:Put");
    assert_eq!(e.destination, "arn:aws:sqs:us-east-1:111122223333:logs");
    assert_eq!(e.config_id, "logs");
    assert_eq!(e.key, "AWSLogs/111122223333/a.json.gz");
    assert_eq!(e.version_id.as_deref(), Some(out.version_id.as_str()));
    assert_eq!(e.size, Some(14));
    assert_eq!(e.etag.as_deref(), Some(out.etag.as_str()));
    assert_eq!(e.bucket_owner, "111122223333");
    assert_eq!(e.region, "us-east-1");
    assert_eq!(e.origin, origin());
    assert_eq!(e.sequencer().len(), 16);
}

#[test]
fn copies_and_completed_uploads_are_named_as_s3_names_them() {
    let (_d, v, now) = setup(false);
    for (by, name) in [
        (CreatedBy::Copy, "ObjectCreated:Copy"),
        (
            CreatedBy::CompleteMultipartUpload,
            "ObjectCreated:CompleteMultipartUpload",
        ),
    ] {
        let req = PutRequest {
            created_by: by,
            ..PutRequest::default()
        };
        put(&v, "AWSLogs/x.json.gz", &req, now).unwrap();
        let events = v.pending_events(now, 100).unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.event_name, name);
        assert_eq!(last.version_id, None, "unversioned buckets name no version");
        v.event_delivered(last.id).unwrap();
    }
}

#[test]
fn a_refused_put_makes_no_event() {
    let (_d, v, now) = setup(true);
    put(&v, "AWSLogs/a.json.gz", &PutRequest::default(), now).unwrap();
    let again = PutRequest {
        if_none_match: true,
        ..PutRequest::default()
    };
    assert!(matches!(
        put(&v, "AWSLogs/a.json.gz", &again, now),
        Err(VaultError::PreconditionFailed { .. })
    ));
    assert_eq!(v.pending_events(now, 100).unwrap().len(), 1);
}

#[test]
fn deletes_are_removals_or_delete_markers() {
    let (_d, v, now) = setup(true);
    let p = put(&v, "k.txt", &PutRequest::default(), now).unwrap();
    let marker = v
        .delete_object("trail", "k.txt", None, false, &origin(), now)
        .unwrap();
    v.delete_object("trail", "k.txt", Some(&p.version_id), false, &origin(), now)
        .unwrap();
    // Deleting what is not there is no event.
    v.delete_object("trail", "k.txt", Some("nope"), false, &origin(), now)
        .unwrap();
    let events = v.pending_events(now, 100).unwrap();
    let got: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.event_name.as_str(), e.version_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ObjectRemoved:DeleteMarkerCreated",
                marker.version_id.as_deref()
            ),
            ("ObjectRemoved:Delete", Some(p.version_id.as_str())),
        ]
    );
    assert!(events.iter().all(|e| e.destination.ends_with(":removals")));
    assert!(events.iter().all(|e| e.size.is_none() && e.etag.is_none()));
}

#[test]
fn failed_events_wait_and_delivered_ones_go_and_all_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ids: Vec<String> = {
        let v = vault(dir.path());
        v.create_bucket("trail", "111122223333", "us-east-1", false, now)
            .unwrap();
        v.put_doc("trail", DocKind::Notification, CONFIG).unwrap();
        for i in 0..3 {
            put(
                &v,
                &format!("AWSLogs/{i}.json.gz"),
                &PutRequest::default(),
                now,
            )
            .unwrap();
        }
        let events = v.pending_events(now, 100).unwrap();
        v.event_delivered(events[0].id).unwrap();
        v.event_failed(events[1].id, "queue gone", now + time::Duration::minutes(1))
            .unwrap();
        events.iter().map(PendingEvent::dedupe_id).collect()
    };
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3
    );
    let v = vault(dir.path());
    let due = v.pending_events(now, 100).unwrap();
    assert_eq!(due.len(), 1, "the failed one waits for its retry time");
    assert_eq!(due[0].key, "AWSLogs/2.json.gz");
    let later = v
        .pending_events(now + time::Duration::minutes(2), 100)
        .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(later[0].key, "AWSLogs/1.json.gz");
    assert_eq!(later[0].attempts, 1);
    assert_eq!(
        v.event_backlog().unwrap(),
        (2, Some("queue gone".to_owned()))
    );
    // Ids are never reused: a new event after deliveries gets a higher one.
    v.event_delivered(later[0].id).unwrap();
    v.event_delivered(later[1].id).unwrap();
    put(&v, "AWSLogs/3.json.gz", &PutRequest::default(), now).unwrap();
    let next = v.pending_events(now, 100).unwrap();
    assert!(next[0].id > later[1].id);
}

#[test]
fn a_commit_with_events_wakes_the_waiter() {
    let (_d, v, now) = setup(false);
    let v = Arc::new(v);
    let seen = v.wait_for_events(0, Duration::from_millis(1));
    let w = {
        let v = v.clone();
        std::thread::spawn(move || v.wait_for_events(seen, Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(50));
    put(&v, "not-matching.txt", &PutRequest::default(), now).unwrap();
    put(&v, "AWSLogs/a.json.gz", &PutRequest::default(), now).unwrap();
    assert_eq!(w.join().unwrap(), seen + 1);
}

#[test]
fn lifecycle_expirations_are_not_object_removed_events() {
    let (_d, v, now) = setup(false);
    put(&v, "old.txt", &PutRequest::default(), now).unwrap();
    let lifecycle = LifecycleConfig {
        rules: vec![LifecycleRule {
            enabled: true,
            expiration_days: Some(1),
            ..LifecycleRule::default()
        }],
    };
    let doc = serde_json::to_string(&lifecycle).unwrap();
    v.put_doc("trail", DocKind::Lifecycle, &doc).unwrap();
    let actions = v
        .apply_lifecycle(now + time::Duration::days(3), 86_400)
        .unwrap();
    assert!(!actions.is_empty(), "the rule expired the object");
    assert!(v.pending_events(now, 100).unwrap().is_empty());
}
