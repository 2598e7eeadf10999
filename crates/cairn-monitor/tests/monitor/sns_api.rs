//! The SNS API of the monitor: the confirmation handshake, topic policies, attributes and
//! tags, sqs delivery through a fake sink, retries and durability across a reopen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_monitor::{
    ManualClock, Monitor, Protocol, PublishInput, QueueSink, SubscribeRequest, Subscription,
    TOKEN_TTL_MS, queue_sink_conformance, verify_sns_signature,
};
use serde_json::Value;

use crate::common::*;

const OTHER: &str = "210987654321";

/// Queues in memory: every `arn:aws:sqs:…` ARN but those ending in `missing` exists.
#[derive(Default)]
struct FakeSink {
    sent: Mutex<Vec<(String, String, String)>>,
    fail_first: Mutex<u32>,
}

impl QueueSink for FakeSink {
    fn send(
        &self,
        queue_arn: &str,
        _topic_arn: &str,
        body: &str,
        dedupe_id: &str,
    ) -> Result<(), String> {
        if !queue_arn.starts_with("arn:aws:sqs:") || queue_arn.ends_with("missing") {
            return Err(format!("no queue {queue_arn}"));
        }
        let mut f = self.fail_first.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return Err("queue unavailable".into());
        }
        let mut sent = self.sent.lock().unwrap();
        if !sent
            .iter()
            .any(|(q, _, d)| q == queue_arn && d == dedupe_id)
        {
            sent.push((queue_arn.into(), body.into(), dedupe_id.into()));
        }
        Ok(())
    }
}

#[test]
fn the_fake_sink_passes_the_queue_sink_conformance_suite() {
    let sink = FakeSink::default();
    let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:q");
    let received = || {
        sink.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b, _)| b.clone())
            .collect()
    };
    let topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:t");
    queue_sink_conformance(
        &sink,
        &queue,
        &format!("{queue}-missing"),
        &topic,
        &received,
    )
    .unwrap();
}

fn req<'a>(topic: &'a str, protocol: Protocol, endpoint: &str) -> SubscribeRequest<'a> {
    SubscribeRequest {
        account: ACCOUNT,
        topic_arn: topic,
        sub: Subscription {
            protocol,
            endpoint: endpoint.into(),
        },
        attributes: BTreeMap::new(),
        url_base: "http://127.0.0.1:9",
    }
}

fn publish(m: &Monitor, topic: &str, text: &str) -> (String, usize) {
    let (id, notes) = m
        .publish_message(
            topic,
            &PublishInput {
                subject: "s".into(),
                message: text.into(),
                attributes: BTreeMap::new(),
            },
        )
        .unwrap();
    (id, notes.len())
}

#[test]
fn http_subscriptions_are_pending_until_the_token_confirms_them() {
    let (_d, clock, m) = monitor();
    let topic = m.create_topic(ACCOUNT, REGION, "t").unwrap();
    let s = m
        .subscribe_api(&req(&topic, Protocol::Http, "http://127.0.0.1:1/hook"))
        .unwrap();
    assert!(!s.confirmed);
    let conf = s
        .confirmation
        .expect("a SubscriptionConfirmation is queued");
    let env: Value = serde_json::from_str(&conf.body).unwrap();
    assert_eq!(env["Type"], "SubscriptionConfirmation");
    assert!(verify_sns_signature(&env, &m.sns_public_key_der()));
    let token = env["Token"].as_str().unwrap().to_owned();
    assert!(
        env["SubscribeURL"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:9/_cairn/sns/confirm?Action=ConfirmSubscription")
    );
    // Pending: no notification.
    assert_eq!(publish(&m, &topic, "before").1, 0);
    let attrs = m.get_topic_attributes(&topic).unwrap();
    assert_eq!(attrs["SubscriptionsPending"], "1");
    // A wrong token is refused and changes nothing.
    let e = m.confirm_subscription(&topic, "nope").unwrap_err();
    assert_eq!(e.code(), "InvalidParameterException");
    assert_eq!(publish(&m, &topic, "still pending").1, 0);
    // The right one confirms.
    assert_eq!(m.confirm_subscription(&topic, &token).unwrap(), s.arn);
    assert_eq!(publish(&m, &topic, "after").1, 1);
    let attrs = m.get_topic_attributes(&topic).unwrap();
    assert_eq!(attrs["SubscriptionsConfirmed"], "1");
    assert_eq!(attrs["SubscriptionsPending"], "0");
    // An expired token is refused.
    let s2 = m
        .subscribe_api(&req(&topic, Protocol::Http, "http://127.0.0.1:1/other"))
        .unwrap();
    let env2: Value = serde_json::from_str(&s2.confirmation.unwrap().body).unwrap();
    clock.set(NOW + TOKEN_TTL_MS + 1);
    let e = m
        .confirm_subscription(&topic, env2["Token"].as_str().unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // Unsubscribe counts as deleted.
    m.unsubscribe(&s.arn).unwrap();
    assert_eq!(
        m.get_topic_attributes(&topic).unwrap()["SubscriptionsDeleted"],
        "1"
    );
}

#[test]
fn topic_policy_decides_service_publishes() {
    let (_d, _c, m) = monitor();
    let topic = m.create_topic(ACCOUNT, REGION, "trail-topic").unwrap();
    let trail = format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main");
    // The default policy grants no service.
    assert!(!m.can_publish(&topic, "cloudtrail.amazonaws.com", &trail));
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AWSCloudTrailSNSPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "SNS:Publish",
            "Resource": topic,
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        }],
    });
    m.set_topic_attribute(&topic, "Policy", &policy.to_string())
        .unwrap();
    assert!(m.can_publish(&topic, "cloudtrail.amazonaws.com", &trail));
    let other_trail = format!("arn:aws:cloudtrail:{REGION}:{OTHER}:trail/x");
    assert!(!m.can_publish(&topic, "cloudtrail.amazonaws.com", &other_trail));
    assert!(!m.can_publish(&topic, "events.amazonaws.com", &trail));
    assert!(!m.can_publish(
        &format!("{topic}-missing"),
        "cloudtrail.amazonaws.com",
        &trail
    ));
    // A policy that does not parse is refused.
    let e = m
        .set_topic_attribute(&topic, "Policy", r#"{"Statement": 3}"#)
        .unwrap_err();
    assert_eq!(e.code(), "InvalidParameterException");
    // An empty Policy restores the default one.
    m.set_topic_attribute(&topic, "Policy", "").unwrap();
    let p = m.topic_policy(&topic).unwrap().unwrap();
    assert!(
        p.contains("__default_policy_ID") && p.contains(ACCOUNT),
        "{p}"
    );
}

#[test]
fn attributes_and_tags_round_trip_and_validate() {
    let (_d, _c, m) = monitor();
    let topic = m.create_topic(ACCOUNT, REGION, "a").unwrap();
    m.set_topic_attribute(&topic, "DisplayName", "Alerts")
        .unwrap();
    m.set_topic_attribute(&topic, "KmsMasterKeyId", "alias/aws/sns")
        .unwrap();
    for bad in ["", "not a key", "arn:aws:kms:us-east-1:12:key/x"] {
        if bad.is_empty() {
            continue;
        }
        assert!(
            m.set_topic_attribute(&topic, "KmsMasterKeyId", bad)
                .is_err(),
            "{bad}"
        );
    }
    m.set_topic_attribute(
        &topic,
        "KmsMasterKeyId",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    .unwrap();
    assert!(m.set_topic_attribute(&topic, "TopicArn", "x").is_err());
    let a = m.get_topic_attributes(&topic).unwrap();
    assert_eq!(a["DisplayName"], "Alerts");
    assert_eq!(a["Owner"], ACCOUNT);
    assert_eq!(a["TopicArn"], topic);
    assert!(a.contains_key("EffectiveDeliveryPolicy"));
    let tags: BTreeMap<String, String> = [("team".to_string(), "sec".to_string())].into();
    m.tag_topic(&topic, &tags, &[]).unwrap();
    assert_eq!(m.list_topic_tags(&topic).unwrap(), tags);
    m.tag_topic(&topic, &BTreeMap::new(), &["team".to_string()])
        .unwrap();
    assert!(m.list_topic_tags(&topic).unwrap().is_empty());
    let aws: BTreeMap<String, String> = [("aws:x".to_string(), "v".to_string())].into();
    assert!(m.tag_topic(&topic, &aws, &[]).is_err());
}

#[tokio::test]
async fn sqs_subscriptions_deliver_through_the_sink_with_retries() {
    let (_d, _c, m) = monitor_with(fast_config());
    let sink = Arc::new(FakeSink::default());
    *sink.fail_first.lock().unwrap() = 2;
    m.set_queue_sink(sink.clone());
    let topic = m.create_topic(ACCOUNT, REGION, "q").unwrap();
    let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:inbox");
    // Same account: confirmed at once.
    let s = m
        .subscribe_api(&req(&topic, Protocol::Sqs, &queue))
        .unwrap();
    assert!(s.confirmed && s.confirmation.is_none());
    let mut raw = req(&topic, Protocol::Sqs, &format!("{queue}-raw"));
    raw.attributes
        .insert("RawMessageDelivery".into(), "true".into());
    m.subscribe_api(&raw).unwrap();
    // Another account's queue: pending, its confirmation goes to that queue.
    let foreign = format!("arn:aws:sqs:{REGION}:{OTHER}:theirs");
    let f = m
        .subscribe_api(&req(&topic, Protocol::Sqs, &foreign))
        .unwrap();
    assert!(!f.confirmed);
    let (id, n) = publish(&m, &topic, "hello");
    assert_eq!(n, 2);
    let reports = m.deliver_pending().await.unwrap();
    assert!(reports.iter().all(|r| r.delivered), "{reports:?}");
    // The two failures were retried (deliveries run concurrently: which ones failed varies).
    let attempts: usize = reports.iter().map(|r| r.attempts.len()).sum();
    assert_eq!(attempts, reports.len() + 2, "{reports:?}");
    let sent = sink.sent.lock().unwrap().clone();
    let env = sent
        .iter()
        .find(|(q, _, _)| *q == queue)
        .map(|(_, b, d)| (serde_json::from_str::<Value>(b).unwrap(), d.clone()))
        .unwrap();
    assert_eq!(env.0["Message"], "hello");
    assert_eq!(env.0["MessageId"], id);
    assert_eq!(env.1, id);
    assert!(verify_sns_signature(&env.0, &m.sns_public_key_der()));
    assert!(
        sent.iter()
            .any(|(q, b, _)| q.ends_with("-raw") && b == "hello")
    );
    assert!(
        sent.iter()
            .any(|(q, b, _)| *q == foreign && b.contains("SubscriptionConfirmation"))
    );
}

#[tokio::test]
async fn notifications_survive_a_reopen_and_failures_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let topic;
    {
        let m = Monitor::open_with(dir.path(), clock.clone(), fast_config()).unwrap();
        topic = m.create_topic(ACCOUNT, REGION, "d").unwrap();
        let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:inbox");
        m.subscribe_api(&req(&topic, Protocol::Sqs, &queue))
            .unwrap();
        // No sink yet: stored, not delivered.
        assert_eq!(publish(&m, &topic, "durable").1, 1);
    }
    let m = Monitor::open_with(dir.path(), clock, fast_config()).unwrap();
    let sink = Arc::new(FakeSink::default());
    *sink.fail_first.lock().unwrap() = 100;
    m.set_queue_sink(sink.clone());
    let reports = m.deliver_pending().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].delivered);
    let failed = m.list_failed_notifications().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.contains("queue unavailable"));
    *sink.fail_first.lock().unwrap() = 0;
    assert_eq!(m.retry_failed_notifications().unwrap(), 1);
    let reports = m.deliver_pending().await.unwrap();
    assert!(reports[0].delivered);
    assert!(sink.sent.lock().unwrap()[0].1.contains("durable"));
    assert_eq!(
        m.get_topic_attributes(&topic).unwrap()["SubscriptionsConfirmed"],
        "1"
    );
}
