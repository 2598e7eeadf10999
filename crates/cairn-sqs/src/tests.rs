//! The queue service's behaviour, on a manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_core::ManualClock;
use cairn_core::seal::SealKey;

use crate::*;

const T0: i64 = 1_700_000_000_000;

fn key() -> SealKey {
    SealKey::new(&[7; 32]).expect("key")
}

fn service() -> (Sqs, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let sqs = Sqs::open_in_memory(clock.clone(), key()).expect("open");
    (sqs, clock)
}

fn q(name: &str) -> QueueId {
    QueueId::new("123456789012", "us-east-1", name)
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn create(sqs: &Sqs, name: &str, pairs: &[(&str, &str)]) -> QueueId {
    let id = q(name);
    sqs.create_queue(&id, &attrs(pairs), &BTreeMap::new())
        .expect("create");
    id
}

fn send(sqs: &Sqs, id: &QueueId, body: &str) -> Sent {
    sqs.send_message(
        id,
        &SendMessage {
            body: body.into(),
            sender_id: "AIDATEST".into(),
            ..Default::default()
        },
    )
    .expect("send")
}

fn receive(sqs: &Sqs, id: &QueueId, n: u32) -> Vec<Received> {
    sqs.receive_message(
        id,
        ReceiveOptions {
            max_messages: n,
            visibility_timeout: None,
        },
    )
    .expect("receive")
}

fn bodies(r: &[Received]) -> Vec<&str> {
    r.iter().map(|m| m.body.as_str()).collect()
}

#[test]
fn queues_are_created_idempotently_listed_and_deleted() {
    let (sqs, clock) = service();
    let a = create(&sqs, "alpha", &[("VisibilityTimeout", "10")]);
    create(&sqs, "alpha", &[("VisibilityTimeout", "10")]);
    let e = sqs
        .create_queue(&a, &attrs(&[("VisibilityTimeout", "11")]), &BTreeMap::new())
        .expect_err("different attributes");
    assert!(
        matches!(e, SqsError::QueueNameExists(ref n) if n == "VisibilityTimeout"),
        "{e}"
    );
    create(&sqs, "beta", &[]);
    create(&sqs, "alpine", &[]);
    let (all, token) = sqs
        .list_queues("123456789012", "us-east-1", None, None, None)
        .expect("list");
    let names: Vec<_> = all.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["alpha", "alpine", "beta"]);
    assert_eq!(token, None);
    let (page, token) = sqs
        .list_queues("123456789012", "us-east-1", Some("al"), Some(1), None)
        .expect("page 1");
    assert_eq!(page[0].name, "alpha");
    let (page, token) = sqs
        .list_queues(
            "123456789012",
            "us-east-1",
            Some("al"),
            Some(1),
            token.as_deref(),
        )
        .expect("page 2");
    assert_eq!(page[0].name, "alpine");
    assert_eq!(token, None, "no page after the last");
    let (other, _) = sqs
        .list_queues("999999999999", "us-east-1", None, None, None)
        .expect("list");
    assert!(other.is_empty(), "accounts do not see each other's queues");

    sqs.delete_queue(&a).expect("delete");
    assert!(matches!(
        sqs.get_queue(&a),
        Err(SqsError::QueueDoesNotExist)
    ));
    assert!(matches!(
        sqs.delete_queue(&a),
        Err(SqsError::QueueDoesNotExist)
    ));
    let e = sqs
        .create_queue(&a, &BTreeMap::new(), &BTreeMap::new())
        .expect_err("within 60 s");
    assert!(matches!(e, SqsError::QueueDeletedRecently));
    clock.advance(60_000);
    create(&sqs, "alpha", &[]);
}

#[test]
fn names_and_attributes_are_checked() {
    let (sqs, _) = service();
    for bad in ["", "has space", "a/b", &"x".repeat(81)] {
        let e = sqs
            .create_queue(&q(bad), &BTreeMap::new(), &BTreeMap::new())
            .expect_err(bad);
        assert!(
            matches!(e, SqsError::InvalidParameterValue { .. }),
            "{bad}: {e}"
        );
    }
    let e = sqs
        .create_queue(&q("orders.fifo"), &BTreeMap::new(), &BTreeMap::new())
        .expect_err("fifo");
    assert!(matches!(e, SqsError::NotImplemented(_)));
    let id = create(&sqs, "q", &[]);
    let e = sqs
        .set_queue_attributes(&id, &attrs(&[("QueueArn", "x")]))
        .expect_err("read-only");
    assert!(matches!(e, SqsError::InvalidAttributeName(_)));
    let e = sqs
        .queue_attributes(&id, &["Bogus".into()])
        .expect_err("unknown name");
    assert!(matches!(e, SqsError::InvalidAttributeName(_)));
    let got = sqs
        .queue_attributes(&id, &["QueueArn".into(), "VisibilityTimeout".into()])
        .expect("named");
    assert_eq!(got.len(), 2);
    assert_eq!(got["QueueArn"], "arn:aws:sqs:us-east-1:123456789012:q");
    let all = sqs.queue_attributes(&id, &["All".into()]).expect("all");
    for k in READ_ONLY {
        assert!(all.contains_key(*k), "{k}");
    }
    let e = sqs
        .set_queue_attributes(
            &id,
            &attrs(&[(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":2}"#,
            )]),
        )
        .expect_err("missing dead-letter queue");
    assert!(matches!(e, SqsError::InvalidParameterValue { .. }), "{e}");
}

#[test]
fn messages_come_out_in_order_once_each_with_sdk_digests() {
    let (sqs, _) = service();
    let id = create(&sqs, "q", &[]);
    let sent: Vec<Sent> = (0..5).map(|i| send(&sqs, &id, &format!("m{i}"))).collect();
    assert_eq!(sent[0].md5_of_body, md5_of_body("m0"));
    assert_eq!(md5_of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    let got = receive(&sqs, &id, 3);
    assert_eq!(bodies(&got), ["m0", "m1", "m2"]);
    assert_eq!(got[0].message_id, sent[0].message_id);
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(got[0].sender_id, "AIDATEST");
    let rest = receive(&sqs, &id, 10);
    assert_eq!(
        bodies(&rest),
        ["m3", "m4"],
        "in-flight messages are not handed out twice"
    );
    assert!(receive(&sqs, &id, 10).is_empty());
    let counts = sqs.queue_attributes(&id, &["All".into()]).expect("attrs");
    assert_eq!(counts["ApproximateNumberOfMessages"], "0");
    assert_eq!(counts["ApproximateNumberOfMessagesNotVisible"], "5");
}

#[test]
fn message_attribute_digest_matches_an_independent_implementation() {
    // The values moto's SQS (an implementation none of us wrote) computes for these attributes.
    let one: MessageAttributes = [(
        "Author".to_owned(),
        MessageAttribute {
            data_type: "String".into(),
            string_value: Some("Daniel".into()),
            binary_value: None,
        },
    )]
    .into();
    assert_eq!(
        md5_of_attributes(&one).as_deref(),
        Some("d57be2825f78cdc7112c0f9dc4b21231")
    );
    let mut three = one.clone();
    three.insert(
        "Count".into(),
        MessageAttribute {
            data_type: "Number".into(),
            string_value: Some("42".into()),
            binary_value: None,
        },
    );
    three.insert(
        "Blob".into(),
        MessageAttribute {
            data_type: "Binary".into(),
            string_value: None,
            binary_value: Some(vec![0, 1, 2, 255]),
        },
    );
    assert_eq!(
        md5_of_attributes(&three).as_deref(),
        Some("dfb51a2c7d6539f3247eb1661ff2ce31")
    );
    assert_eq!(md5_of_attributes(&MessageAttributes::new()), None);

    let (sqs, _) = service();
    let id = create(&sqs, "q", &[]);
    let sent = sqs
        .send_message(
            &id,
            &SendMessage {
                body: "b".into(),
                attributes: three.clone(),
                ..Default::default()
            },
        )
        .expect("send");
    assert_eq!(
        sent.md5_of_attributes.as_deref(),
        Some("dfb51a2c7d6539f3247eb1661ff2ce31")
    );
    let got = receive(&sqs, &id, 1).remove(0);
    let (picked, md5) = got.select_attributes(&["Author".into()]);
    assert_eq!(picked, one);
    assert_eq!(md5.as_deref(), Some("d57be2825f78cdc7112c0f9dc4b21231"));
    assert_eq!(got.select_attributes(&["All".into()]).0, three);
    assert!(got.select_attributes(&[]).0.is_empty());
}

#[test]
fn unreceived_deletes_and_visibility_follow_sqs() {
    let (sqs, clock) = service();
    let id = create(&sqs, "q", &[("VisibilityTimeout", "30")]);
    send(&sqs, &id, "a");
    let first = receive(&sqs, &id, 1).remove(0);
    clock.advance(29_999);
    assert!(receive(&sqs, &id, 1).is_empty(), "still invisible");
    clock.advance(1);
    let second = receive(&sqs, &id, 1).remove(0);
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.receive_count, 2);
    assert_eq!(second.first_receive_ms, first.first_receive_ms);
    // A stale handle deletes nothing and is not an error.
    sqs.delete_message(&id, &first.receipt_handle)
        .expect("stale");
    clock.advance(30_000);
    let third = receive(&sqs, &id, 1).remove(0);
    assert_eq!(
        third.message_id, first.message_id,
        "the stale delete left it"
    );
    sqs.delete_message(&id, &third.receipt_handle)
        .expect("delete");
    sqs.delete_message(&id, &third.receipt_handle)
        .expect("twice is fine");
    clock.advance(60_000);
    assert!(receive(&sqs, &id, 1).is_empty(), "deleted for good");

    assert!(matches!(
        sqs.delete_message(&id, "garbage"),
        Err(SqsError::ReceiptHandleIsInvalid(_))
    ));
    let other = create(&sqs, "other", &[]);
    send(&sqs, &id, "b");
    let b = receive(&sqs, &id, 1).remove(0);
    assert!(matches!(
        sqs.delete_message(&other, &b.receipt_handle),
        Err(SqsError::ReceiptHandleIsInvalid(_))
    ));
}

#[test]
fn change_visibility_releases_extends_and_is_bounded() {
    let (sqs, clock) = service();
    let id = create(&sqs, "q", &[]);
    send(&sqs, &id, "a");
    let m = receive(&sqs, &id, 1).remove(0);
    sqs.change_message_visibility(&id, &m.receipt_handle, 0)
        .expect("release");
    let again = receive(&sqs, &id, 1).remove(0);
    assert_eq!(again.message_id, m.message_id);
    assert!(
        matches!(
            sqs.change_message_visibility(&id, &m.receipt_handle, 10),
            Err(SqsError::MessageNotInflight)
        ),
        "an older receive's handle no longer holds the message"
    );
    sqs.change_message_visibility(&id, &again.receipt_handle, 600)
        .expect("extend");
    clock.advance(599_000);
    assert!(receive(&sqs, &id, 1).is_empty());
    clock.advance(1_000);
    let third = sqs
        .receive_message(
            &id,
            ReceiveOptions {
                max_messages: 1,
                visibility_timeout: Some(43_200),
            },
        )
        .expect("receive")
        .remove(0);
    clock.advance(11 * 3_600_000);
    let e = sqs
        .change_message_visibility(&id, &third.receipt_handle, 43_200)
        .expect_err("12 h past the first receive");
    assert!(matches!(e, SqsError::InvalidParameterValue { .. }), "{e}");
    assert!(matches!(
        sqs.change_message_visibility(&id, &third.receipt_handle, 43_201),
        Err(SqsError::InvalidParameterValue { .. })
    ));
    send(&sqs, &id, "b");
    send(&sqs, &id, "c");
    let two = receive(&sqs, &id, 10);
    assert_eq!(bodies(&two), ["b", "c"]);
    let out = sqs
        .change_message_visibility_batch(
            &id,
            &[
                (&two[0].receipt_handle, 0),
                ("garbage", 0),
                (&two[1].receipt_handle, 600),
            ],
        )
        .expect("batch");
    assert!(out[0].is_ok() && out[2].is_ok());
    assert!(matches!(out[1], Err(SqsError::ReceiptHandleIsInvalid(_))));
    assert_eq!(
        bodies(&receive(&sqs, &id, 10)),
        ["b"],
        "b released, c held for 600 s"
    );
}

#[test]
fn dead_letter_queue_takes_messages_past_max_receive_count() {
    let (sqs, clock) = service();
    let dlq = create(&sqs, "dlq", &[]);
    let policy = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#,
        dlq.arn()
    );
    let src = create(
        &sqs,
        "src",
        &[("RedrivePolicy", &policy), ("VisibilityTimeout", "5")],
    );
    send(&sqs, &src, "poison");
    send(&sqs, &src, "fine");
    for round in 1..=2 {
        let got = receive(&sqs, &src, 10);
        assert_eq!(bodies(&got), ["poison", "fine"], "round {round}");
        sqs.delete_message(&src, &got[1].receipt_handle).ok();
        clock.advance(5_000);
        if round == 1 {
            send(&sqs, &src, "fine");
        }
    }
    let mut rx = sqs.subscribe();
    rx.mark_unchanged();
    assert!(
        receive(&sqs, &src, 10).is_empty(),
        "the third receive moves it instead"
    );
    assert!(rx.has_changed().expect("open"), "a move wakes long polls");
    let dead = receive(&sqs, &dlq, 10);
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(
        dead[0].receive_count, 1,
        "counted afresh in the dead-letter queue"
    );
    assert_eq!(
        sqs.dead_letter_source_queues(&dlq).expect("sources"),
        vec![src.clone()]
    );
}

#[test]
fn delays_retention_and_purge() {
    let (sqs, clock) = service();
    let id = create(
        &sqs,
        "q",
        &[("DelaySeconds", "10"), ("MessageRetentionPeriod", "60")],
    );
    send(&sqs, &id, "queue delay");
    sqs.send_message(
        &id,
        &SendMessage {
            body: "no delay".into(),
            delay_seconds: Some(0),
            ..Default::default()
        },
    )
    .expect("send");
    assert_eq!(bodies(&receive(&sqs, &id, 10)), ["no delay"]);
    let counts = sqs.queue_attributes(&id, &["All".into()]).expect("attrs");
    assert_eq!(counts["ApproximateNumberOfMessagesDelayed"], "1");
    assert_eq!(sqs.next_visible_in_ms(&id).expect("next"), Some(10_000));
    clock.advance(10_000);
    assert_eq!(bodies(&receive(&sqs, &id, 10)), ["queue delay"]);
    clock.advance(50_001);
    assert!(
        receive(&sqs, &id, 10).is_empty(),
        "both past the 60 s retention"
    );
    assert_eq!(
        sqs.queue_attributes(&id, &["All".into()]).expect("a")["ApproximateNumberOfMessagesNotVisible"],
        "0"
    );

    send(&sqs, &id, "x");
    assert_eq!(sqs.purge_queue(&id).expect("purge"), 1);
    assert!(matches!(
        sqs.purge_queue(&id),
        Err(SqsError::PurgeQueueInProgress(_))
    ));
    clock.advance(60_000);
    sqs.purge_queue(&id).expect("a minute later");
    let e = sqs
        .send_message(
            &id,
            &SendMessage {
                body: "x".into(),
                delay_seconds: Some(901),
                ..Default::default()
            },
        )
        .expect_err("delay");
    assert!(matches!(e, SqsError::InvalidParameterValue { .. }));
}

#[test]
fn bodies_are_checked() {
    let (sqs, _) = service();
    let id = create(&sqs, "q", &[("MaximumMessageSize", "1024")]);
    let msg = |body: &str| SendMessage {
        body: body.into(),
        ..Default::default()
    };
    assert!(matches!(
        sqs.send_message(&id, &msg("")),
        Err(SqsError::MissingParameter(_))
    ));
    assert!(matches!(
        sqs.send_message(&id, &msg("bad \u{1} char")),
        Err(SqsError::InvalidMessageContents)
    ));
    sqs.send_message(&id, &msg(&"x".repeat(1024)))
        .expect("at the limit");
    assert!(matches!(
        sqs.send_message(&id, &msg(&"x".repeat(1025))),
        Err(SqsError::InvalidParameterValue { .. })
    ));
    let too_many: MessageAttributes = (0..11)
        .map(|i| {
            (
                format!("a{i}"),
                MessageAttribute {
                    data_type: "String".into(),
                    string_value: Some("v".into()),
                    binary_value: None,
                },
            )
        })
        .collect();
    let e = sqs
        .send_message(
            &id,
            &SendMessage {
                body: "b".into(),
                attributes: too_many,
                ..Default::default()
            },
        )
        .expect_err("11 attributes");
    assert!(matches!(e, SqsError::InvalidParameterValue { .. }));
}

#[test]
fn batches_are_checked_then_each_entry_stands_alone() {
    assert!(check_batch_ids("SendMessageBatchRequestEntry", ["a", "b-1", "c_2"]).is_ok());
    assert!(matches!(
        check_batch_ids("X", []),
        Err(SqsError::EmptyBatchRequest(_))
    ));
    assert!(matches!(
        check_batch_ids("X", ["a", "a"]),
        Err(SqsError::BatchEntryIdsNotDistinct(_))
    ));
    assert!(matches!(
        check_batch_ids("X", ["a b"]),
        Err(SqsError::InvalidBatchEntryId)
    ));
    let ids: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    assert!(matches!(
        check_batch_ids("X", ids.iter().map(String::as_str)),
        Err(SqsError::TooManyEntriesInBatchRequest(11))
    ));

    let (sqs, _) = service();
    let id = create(&sqs, "q", &[("MaximumMessageSize", "1024")]);
    let m = |b: &str| SendMessage {
        body: b.into(),
        ..Default::default()
    };
    let out = sqs
        .send_message_batch(&id, &[m("one"), m(""), m("three")])
        .expect("batch");
    assert!(out[0].is_ok() && out[1].is_err() && out[2].is_ok());
    assert_eq!(bodies(&receive(&sqs, &id, 10)), ["one", "three"]);
    assert!(matches!(
        sqs.send_message_batch(&id, &[m(&"x".repeat(600)), m(&"x".repeat(600))]),
        Err(SqsError::BatchRequestTooLong(1024))
    ));
    sqs.send_message_batch(&id, &[m("four"), m("five")])
        .expect("batch");
    let got = receive(&sqs, &id, 10);
    let mut handles: Vec<&str> = got.iter().map(|m| m.receipt_handle.as_str()).collect();
    handles.push("garbage");
    let out = sqs
        .delete_message_batch(&id, &handles)
        .expect("delete batch");
    assert!(out[0].is_ok() && out[1].is_ok());
    assert!(matches!(out[2], Err(SqsError::ReceiptHandleIsInvalid(_))));
    assert_eq!(
        sqs.queue_attributes(&id, &["All".into()]).expect("attrs")["ApproximateNumberOfMessagesNotVisible"],
        "2",
        "one and three are still in flight; four and five are gone"
    );
}

#[test]
fn tags_are_kept_and_bounded() {
    let (sqs, _) = service();
    let id = q("q");
    sqs.create_queue(&id, &BTreeMap::new(), &attrs(&[("team", "sec")]))
        .expect("create");
    sqs.tag_queue(&id, &attrs(&[("env", "prod"), ("team", "platform")]))
        .expect("tag");
    sqs.untag_queue(&id, &["env".into(), "absent".into()])
        .expect("untag");
    assert_eq!(
        sqs.get_queue(&id).expect("q").tags,
        attrs(&[("team", "platform")])
    );
    let many: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    assert!(matches!(
        sqs.tag_queue(&id, &many),
        Err(SqsError::OverLimit(_))
    ));
}

#[test]
fn sends_wake_long_polls() {
    let (sqs, _) = service();
    let id = create(&sqs, "q", &[]);
    let mut rx = sqs.subscribe();
    rx.mark_unchanged();
    send(&sqs, &id, "a");
    assert!(rx.has_changed().expect("open"));
}

#[test]
fn messages_survive_a_restart_sealed_at_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sqs.db");
    let clock = Arc::new(ManualClock::new(T0));
    let secret = "a body that must not be on disk in the clear";
    {
        let sqs = Sqs::open(&path, clock.clone(), key()).expect("open");
        let id = create(&sqs, "q", &[]);
        send(&sqs, &id, secret);
        send(&sqs, &id, "second");
        let got = receive(&sqs, &id, 1);
        sqs.delete_message(&id, &got[0].receipt_handle)
            .expect("delete");
    }
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        on_disk.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let needle = b"second";
    assert!(
        !on_disk.windows(needle.len()).any(|w| w == needle),
        "bodies are sealed in the database and its WAL"
    );
    let sqs = Sqs::open(&path, clock.clone(), key()).expect("reopen");
    assert_eq!(
        bodies(&receive(&sqs, &q("q"), 10)),
        ["second"],
        "the delete held too"
    );
    drop(sqs);
    let wrong =
        Sqs::open(&path, clock.clone(), SealKey::new(&[8; 32]).expect("key")).expect("reopen");
    clock.advance(60_000);
    let e = wrong
        .receive_message(&q("q"), ReceiveOptions::default())
        .expect_err("wrong key");
    assert!(matches!(e, SqsError::Crypto(_)), "{e}");
}

#[test]
fn arns_parse_and_print() {
    let id = q("orders");
    assert_eq!(QueueId::from_arn(&id.arn()), Some(id));
    assert_eq!(
        QueueId::from_arn("arn:aws-us-gov:sqs:us-gov-west-1:123456789012:x"),
        Some(QueueId::new("123456789012", "us-gov-west-1", "x"))
    );
    for bad in [
        "",
        "arn:aws:sns:us-east-1:1:x",
        "arn:aws:sqs:us-east-1:1",
        "arn:aws:sqs::1:x",
    ] {
        assert_eq!(QueueId::from_arn(bad), None, "{bad}");
    }
}

mod model {
    //! Random sends, receives, deletes, visibility resets and clock moves against a model of a
    //! standard queue: every receive returns exactly the oldest visible messages, nothing
    //! deleted comes back, and at the end every message not deleted is still there.

    use std::collections::BTreeMap;

    use cairn_core::Clock as _;
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        Receive(u32),
        Delete(usize),
        Release(usize),
        Advance(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Send),
            3 => (1u32..=10).prop_map(Op::Receive),
            2 => (0usize..64).prop_map(Op::Delete),
            1 => (0usize..64).prop_map(Op::Release),
            2 => (0i64..15_000).prop_map(Op::Advance),
        ]
    }

    /// The model's message: when it is visible, and the handle of its latest receive.
    struct Live {
        seq: usize,
        visible: i64,
        handle: Option<String>,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn a_queue_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..80)) {
            let (sqs, clock) = service();
            let id = create(&sqs, "q", &[("VisibilityTimeout", "10")]);
            let mut live: BTreeMap<String, Live> = BTreeMap::new();
            let mut handles: Vec<(String, String)> = Vec::new();
            let mut seq = 0;
            for op in ops {
                let now = clock.now_ms();
                match op {
                    Op::Send => {
                        let sent = send(&sqs, &id, &format!("m{seq}"));
                        live.insert(sent.message_id, Live { seq, visible: now, handle: None });
                        seq += 1;
                    }
                    Op::Receive(n) => {
                        let mut want: Vec<(&usize, &String)> = live
                            .iter()
                            .filter(|(_, l)| l.visible <= now)
                            .map(|(id, l)| (&l.seq, id))
                            .collect();
                        want.sort();
                        let want: Vec<String> =
                            want.into_iter().take(n as usize).map(|(_, id)| id.clone()).collect();
                        let got = receive(&sqs, &id, n);
                        let got_ids: Vec<String> = got.iter().map(|m| m.message_id.clone()).collect();
                        prop_assert_eq!(&got_ids, &want);
                        for m in got {
                            let l = live.get_mut(&m.message_id).expect("live");
                            l.visible = now + 10_000;
                            l.handle = Some(m.receipt_handle.clone());
                            handles.push((m.message_id, m.receipt_handle));
                        }
                    }
                    Op::Delete(k) if !handles.is_empty() => {
                        let (mid, h) = handles[k % handles.len()].clone();
                        sqs.delete_message(&id, &h).expect("delete");
                        if live.get(&mid).is_some_and(|l| l.handle.as_deref() == Some(h.as_str())) {
                            live.remove(&mid);
                        }
                    }
                    Op::Release(k) if !handles.is_empty() => {
                        let (mid, h) = handles[k % handles.len()].clone();
                        let r = sqs.change_message_visibility(&id, &h, 0);
                        match live.get_mut(&mid) {
                            Some(l) if l.handle.as_deref() == Some(h.as_str()) && l.visible > now => {
                                prop_assert!(r.is_ok(), "{:?}", r);
                                l.visible = now;
                            }
                            _ => prop_assert!(matches!(r, Err(SqsError::MessageNotInflight)), "{:?}", r),
                        }
                    }
                    Op::Advance(ms) => clock.advance(ms),
                    Op::Delete(_) | Op::Release(_) => {}
                }
            }
            clock.advance(10_000);
            let mut left = Vec::new();
            loop {
                let got = receive(&sqs, &id, 10);
                if got.is_empty() {
                    break;
                }
                left.extend(got.into_iter().map(|m| m.message_id));
            }
            left.sort();
            let want: Vec<String> = live.keys().cloned().collect();
            prop_assert_eq!(left, want, "nothing lost, nothing deleted comes back");
        }
    }
}

#[test]
fn a_send_once_repeated_with_its_dedupe_id_makes_one_message_until_the_window_ends() {
    let (sqs, clock) = service();
    let id = create(&sqs, "feed", &[]);
    let msg = SendMessage {
        body: "event 1".into(),
        ..SendMessage::default()
    };
    let first = sqs.send_message_once(&id, &msg, "s3-event:b:1").unwrap();
    assert!(first.is_some());
    assert_eq!(
        sqs.send_message_once(&id, &msg, "s3-event:b:1").unwrap(),
        None
    );
    let other = SendMessage {
        body: "event 2".into(),
        ..SendMessage::default()
    };
    assert!(
        sqs.send_message_once(&id, &other, "s3-event:b:2")
            .unwrap()
            .is_some()
    );
    assert_eq!(bodies(&receive(&sqs, &id, 10)), vec!["event 1", "event 2"]);
    // A failed send (no such queue) records no id: the retry can still send.
    let gone = q("gone");
    assert!(sqs.send_message_once(&gone, &msg, "s3-event:b:3").is_err());
    assert!(
        sqs.send_message_once(&id, &msg, "s3-event:b:3")
            .unwrap()
            .is_some()
    );
    // Ids are forgotten after the window.
    clock.advance(crate::DEDUPE_WINDOW_MS + 1);
    sqs.tick().unwrap();
    assert!(
        sqs.send_message_once(&id, &msg, "s3-event:b:1")
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_receive_with_no_visibility_timeout_holds_each_message_once() {
    let (sqs, _) = service();
    let id = create(&sqs, "zero", &[]);
    send(&sqs, &id, "a");
    send(&sqs, &id, "b");
    let got = sqs
        .receive_message(
            &id,
            ReceiveOptions {
                max_messages: 10,
                visibility_timeout: Some(0),
            },
        )
        .unwrap();
    assert_eq!(bodies(&got), vec!["a", "b"]);
    // Still visible: the next receive gets them again.
    assert_eq!(bodies(&receive(&sqs, &id, 10)), vec!["a", "b"]);
}
