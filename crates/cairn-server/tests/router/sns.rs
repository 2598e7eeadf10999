//! The SNS query protocol through the in-process router: topics, subscriptions with the
//! confirmation handshake (also through the unsigned `SubscribeURL`), Publish recorded by
//! its message id only, a plain user and another account refused (`AuthorizationError`,
//! 403, recorded) unless the topic policy allows, and sns → sqs delivery.

use http::StatusCode;
use serde_json::json;

use crate::support::{Answer, Req, TestServer};

const OTHER: &str = "210987654321";

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sns(action: &str, params: &[(&str, &str)]) -> Req {
    let mut body = format!("Action={action}&Version=2010-03-31");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    Req::new("sns", "POST", "/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

fn between(s: &str, a: &str, b: &str) -> String {
    let i = s.find(a).unwrap_or_else(|| panic!("{a} not in {s}")) + a.len();
    let j = s[i..].find(b).unwrap() + i;
    s[i..j].to_owned()
}

async fn ok(s: &TestServer, req: &Req) -> String {
    let a = s.signed(req, &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.text()
}

async fn create(s: &TestServer, name: &str) -> String {
    let t = ok(s, &sns("CreateTopic", &[("Name", name)])).await;
    assert!(
        t.contains("<CreateTopicResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"),
        "{t}"
    );
    between(&t, "<TopicArn>", "</TopicArn>")
}

fn assert_denied(a: &Answer) {
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert!(
        a.text()
            .contains("<Type>Sender</Type><Code>AuthorizationError</Code>"),
        "{}",
        a.text()
    );
}

#[tokio::test]
async fn topics_attributes_tags_and_errors_in_xml() {
    let s = TestServer::new();
    let arn = create(&s, "alerts").await;
    assert_eq!(arn, format!("arn:aws:sns:us-east-1:{}:alerts", s.account()));
    let t = ok(&s, &sns("ListTopics", &[])).await;
    assert!(
        t.contains(&format!(
            "<Topics><member><TopicArn>{arn}</TopicArn></member></Topics>"
        )),
        "{t}"
    );
    ok(
        &s,
        &sns(
            "SetTopicAttributes",
            &[
                ("TopicArn", &arn),
                ("AttributeName", "DisplayName"),
                ("AttributeValue", "Alerts"),
            ],
        ),
    )
    .await;
    let t = ok(&s, &sns("GetTopicAttributes", &[("TopicArn", &arn)])).await;
    assert!(
        t.contains("<entry><key>DisplayName</key><value>Alerts</value></entry>"),
        "{t}"
    );
    assert!(
        t.contains("<key>Policy</key>") && t.contains("__default_policy_ID"),
        "{t}"
    );
    ok(
        &s,
        &sns(
            "TagResource",
            &[
                ("ResourceArn", &arn),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "sec"),
            ],
        ),
    )
    .await;
    let t = ok(&s, &sns("ListTagsForResource", &[("ResourceArn", &arn)])).await;
    assert!(
        t.contains("<Tags><member><Key>team</Key><Value>sec</Value></member></Tags>"),
        "{t}"
    );
    ok(
        &s,
        &sns(
            "UntagResource",
            &[("ResourceArn", &arn), ("TagKeys.member.1", "team")],
        ),
    )
    .await;
    let t = ok(&s, &sns("ListTagsForResource", &[("ResourceArn", &arn)])).await;
    assert!(!t.contains("team"), "{t}");
    let a = s
        .signed(
            &sns(
                "GetTopicAttributes",
                &[("TopicArn", &format!("{arn}-nope"))],
            ),
            &s.root(),
        )
        .await;
    a.assert_xml_error(StatusCode::NOT_FOUND, "NotFound");
    assert_eq!(s.last_event("GetTopicAttributes")["errorCode"], "NotFound");
    let a = s
        .signed(
            &sns(
                "SetTopicAttributes",
                &[
                    ("TopicArn", &arn),
                    ("AttributeName", "KmsMasterKeyId"),
                    ("AttributeValue", "not a key"),
                ],
            ),
            &s.root(),
        )
        .await;
    a.assert_xml_error(StatusCode::BAD_REQUEST, "InvalidParameter");
    let a = s
        .signed(&sns("AddPermission", &[("TopicArn", &arn)]), &s.root())
        .await;
    a.assert_xml_error(StatusCode::BAD_REQUEST, "NotImplemented");
    assert_eq!(s.last_event("AddPermission")["errorCode"], "NotImplemented");
    let a = s.signed(&sns("Frobnicate", &[]), &s.root()).await;
    a.assert_xml_error(StatusCode::BAD_REQUEST, "InvalidAction");
    ok(&s, &sns("DeleteTopic", &[("TopicArn", &arn)])).await;
    let e = s.last_event("DeleteTopic");
    assert_eq!(e["eventSource"], "sns.amazonaws.com");
    assert_eq!(e["requestParameters"]["topicArn"], arn);
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let arn = create(&s, "private").await;
    let user = s.plain_user().await;
    let a = s
        .signed(
            &sns("Publish", &[("TopicArn", &arn), ("Message", "hi")]),
            &user,
        )
        .await;
    assert_denied(&a);
    let e = s.last_event("Publish");
    assert_eq!(e["errorCode"], "AuthorizationError");
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    let a = s
        .signed(
            &sns(
                "Subscribe",
                &[
                    ("TopicArn", &arn),
                    ("Protocol", "http"),
                    ("Endpoint", "http://127.0.0.1:9/x"),
                ],
            ),
            &user,
        )
        .await;
    assert_denied(&a);
    assert_eq!(s.last_event("Subscribe")["errorCode"], "AuthorizationError");
    let a = s.signed(&sns("ListTopics", &[]), &user).await;
    assert_denied(&a);
}

#[tokio::test]
async fn another_accounts_topic_needs_its_policy() {
    let s = TestServer::new();
    let m = &s.state.monitor;
    let theirs = m.create_topic(OTHER, "us-east-1", "shared").unwrap();
    let publish = sns("Publish", &[("TopicArn", &theirs), ("Message", "cross")]);
    assert_denied(&s.signed(&publish, &s.root()).await);
    assert_eq!(s.last_event("Publish")["errorCode"], "AuthorizationError");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", s.account())},
            "Action": "sns:Publish",
            "Resource": theirs,
        }],
    });
    m.set_topic_attribute(&theirs, "Policy", &policy.to_string())
        .unwrap();
    let t = ok(&s, &publish).await;
    assert!(t.contains("<MessageId>"), "{t}");
    // Only Publish: the policy grants nothing else.
    assert_denied(
        &s.signed(
            &sns("GetTopicAttributes", &[("TopicArn", &theirs)]),
            &s.root(),
        )
        .await,
    );
}

#[tokio::test]
async fn http_subscriptions_confirm_through_the_subscribe_url_and_publish_keeps_the_message_out_of_the_trail()
 {
    let s = TestServer::new();
    let arn = create(&s, "hooks").await;
    let t = ok(
        &s,
        &sns(
            "Subscribe",
            &[
                ("TopicArn", &arn),
                ("Protocol", "http"),
                ("Endpoint", "http://127.0.0.1:9/hook"),
            ],
        ),
    )
    .await;
    assert!(
        t.contains("<SubscriptionArn>pending confirmation</SubscriptionArn>"),
        "{t}"
    );
    let t = ok(&s, &sns("ListSubscriptionsByTopic", &[("TopicArn", &arn)])).await;
    assert!(
        t.contains("<SubscriptionArn>PendingConfirmation</SubscriptionArn>"),
        "{t}"
    );
    // The confirmation was stored and sent at once; nobody listens, so after its retries it
    // is kept as failed: read its token there.
    let mut failed = Vec::new();
    for _ in 0..300 {
        s.state.monitor.deliver_pending().await.unwrap();
        failed = s.state.monitor.list_failed_notifications().unwrap();
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let env: serde_json::Value = serde_json::from_str(&failed[0].body).unwrap();
    assert_eq!(env["Type"], "SubscriptionConfirmation");
    let url = env["SubscribeURL"].as_str().unwrap();
    assert!(
        url.starts_with("http://localhost/_cairn/sns/confirm?"),
        "{url}"
    );
    // A wrong token through the URL: refused and recorded.
    let (path, query) = url
        .trim_start_matches("http://localhost")
        .split_once('?')
        .unwrap();
    let mut bad = Req::new("sns", "GET", path);
    bad.query = query.replace("Token=", "Token=00");
    let a = s.unsigned(&bad).await;
    a.assert_xml_error(StatusCode::BAD_REQUEST, "InvalidParameter");
    assert_eq!(
        s.last_event("ConfirmSubscription")["errorCode"],
        "InvalidParameter"
    );
    let mut good = Req::new("sns", "GET", path);
    good.query = query.to_owned();
    let a = s.unsigned(&good).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains(&format!("<SubscriptionArn>{arn}:")),
        "{}",
        a.text()
    );
    let e = s.last_event("ConfirmSubscription");
    assert!(
        e.get("errorCode").is_none() || e["errorCode"].is_null(),
        "{e}"
    );
    let t = ok(
        &s,
        &sns(
            "Publish",
            &[
                ("TopicArn", &arn),
                ("Message", "top secret message"),
                ("Subject", "secret subject"),
            ],
        ),
    )
    .await;
    let id = between(&t, "<MessageId>", "</MessageId>");
    let e = s.last_event("Publish");
    assert_eq!(e["responseElements"]["messageId"], id);
    let journal = serde_json::to_string(&s.events()).unwrap();
    assert!(!journal.contains("top secret") && !journal.contains("secret subject"));
    // The certificate is served unsigned.
    let a = s
        .unsigned(&Req::new("sns", "GET", "/_cairn/sns-cert.pem"))
        .await;
    assert!(
        a.text().starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        a.text()
    );
}

#[tokio::test]
async fn sqs_subscriptions_of_the_same_account_receive_published_messages() {
    let s = TestServer::new();
    let arn = create(&s, "to-queue").await;
    let queue_arn = format!("arn:aws:sqs:us-east-1:{}:inbox", s.account());
    let q = Req::json(
        "sqs",
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "inbox", "Attributes": {"Policy": sns_may_send(&queue_arn, &arn)}}),
    );
    let a = s.signed(&q, &s.root()).await;
    let url = a.json()["QueueUrl"].as_str().unwrap().to_owned();
    let t = ok(
        &s,
        &sns(
            "Subscribe",
            &[
                ("TopicArn", &arn),
                ("Protocol", "sqs"),
                ("Endpoint", &queue_arn),
            ],
        ),
    )
    .await;
    assert!(t.contains(&format!("<SubscriptionArn>{arn}:")), "{t}");
    ok(
        &s,
        &sns(
            "Publish",
            &[("TopicArn", &arn), ("Message", "to the queue")],
        ),
    )
    .await;
    s.state.monitor.deliver_pending().await.unwrap();
    let mut body = None;
    for _ in 0..50 {
        let r = Req::json("sqs", "AmazonSQS.ReceiveMessage", json!({"QueueUrl": url}));
        let a = s.signed(&r, &s.root()).await;
        if let Some(m) = a.json()["Messages"].get(0) {
            body = Some(m["Body"].as_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let env: serde_json::Value = serde_json::from_str(&body.expect("a message arrived")).unwrap();
    assert_eq!(env["Type"], "Notification");
    assert_eq!(env["Message"], "to the queue");
    assert_eq!(env["TopicArn"], arn);
}

/// The queue policy SQS needs before SNS may deliver: `sns.amazonaws.com` may send, for
/// `topic` only.
fn sns_may_send(queue_arn: &str, topic: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}
        }]
    })
    .to_string()
}

#[tokio::test]
async fn the_sqs_sink_refuses_a_queue_whose_policy_does_not_let_the_topic_send() {
    use cairn_monitor::QueueSink as _;
    let s = TestServer::new();
    let sqs = s.state.sqs.clone();
    let sink = cairn_server::api::sns::SqsSink::new(sqs.clone());
    let topic = format!("arn:aws:sns:us-east-1:{}:mine", s.account());
    // Another account's topic subscribing this account's queue: the queue has no policy.
    let victim = cairn_sqs::QueueId::new(&s.account(), "us-east-1", "victim");
    sqs.create_queue(&victim, &Default::default(), &Default::default())
        .unwrap();
    let foreign = "arn:aws:sns:us-east-1:210987654321:spam";
    let err = sink.send(&victim.arn(), foreign, "{}", "n-1").unwrap_err();
    assert!(err.starts_with("AccessDenied"), "{err}");
    // Nor does a policy for another topic let this one in.
    let other = cairn_sqs::QueueId::new(&s.account(), "us-east-1", "other");
    let attrs = std::collections::BTreeMap::from([(
        "Policy".to_owned(),
        sns_may_send(&other.arn(), &topic),
    )]);
    sqs.create_queue(&other, &attrs, &Default::default())
        .unwrap();
    assert!(sink.send(&other.arn(), foreign, "{}", "n-2").is_err());
    sink.send(&other.arn(), &topic, "{}", "n-3").unwrap();
    for (id, n) in [(&victim, 0), (&other, 1)] {
        let opts = cairn_sqs::ReceiveOptions {
            max_messages: 10,
            visibility_timeout: None,
        };
        assert_eq!(sqs.receive_message(id, opts).unwrap().len(), n);
    }
}

#[tokio::test]
async fn the_sqs_sink_passes_the_queue_sink_conformance_suite() {
    let s = TestServer::new();
    let sqs = s.state.sqs.clone();
    let id = cairn_sqs::QueueId::new(&s.account(), "us-east-1", "conformance");
    let topic = format!("arn:aws:sns:us-east-1:{}:conformance", s.account());
    let attrs =
        std::collections::BTreeMap::from([("Policy".to_owned(), sns_may_send(&id.arn(), &topic))]);
    sqs.create_queue(&id, &attrs, &Default::default()).unwrap();
    let sink = cairn_server::api::sns::SqsSink::new(sqs.clone());
    let received = || {
        let opts = cairn_sqs::ReceiveOptions {
            max_messages: 10,
            visibility_timeout: None,
        };
        let got = sqs.receive_message(&id, opts).unwrap();
        // Visible again at once: the next read sees them again.
        for m in &got {
            sqs.change_message_visibility(&id, &m.receipt_handle, 0)
                .unwrap();
        }
        got.into_iter().map(|m| m.body).collect::<Vec<String>>()
    };
    cairn_monitor::queue_sink_conformance(
        &sink,
        &id.arn(),
        &format!("{}-missing", id.arn()),
        &topic,
        &received,
    )
    .unwrap();
}
