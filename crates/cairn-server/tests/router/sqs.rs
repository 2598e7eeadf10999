//! The SQS JSON 1.0 protocol through the in-process router: queues, messages, errors in both
//! codes, authorization on the queue (a plain user and another account are refused unless the
//! queue policy allows), and records without message bodies.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Req, TestServer};

fn sqs(op: &str, body: Value) -> Req {
    Req::json("sqs", &format!("AmazonSQS.{op}"), body)
}

async fn create(s: &TestServer, name: &str) -> String {
    let a = s
        .signed(&sqs("CreateQueue", json!({"QueueName": name})), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.json()["QueueUrl"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn unsigned_and_forged_calls_are_refused_in_json() {
    let s = TestServer::new();
    let list = sqs("ListQueues", json!({}));
    s.assert_json_auth_refused(&list, &list).await;
}

#[tokio::test]
async fn a_message_goes_round_trip_and_its_body_is_not_recorded() {
    let s = TestServer::new();
    let url = create(&s, "orders").await;
    assert!(url.ends_with(&format!("/{}/orders", s.account())), "{url}");
    let a = s
        .signed(
            &sqs(
                "SendMessage",
                json!({"QueueUrl": url, "MessageBody": "top secret body"}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.json()["MD5OfMessageBody"],
        cairn_sqs::md5_of_body("top secret body")
    );
    let a = s
        .signed(
            &sqs(
                "ReceiveMessage",
                json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "MessageSystemAttributeNames": ["All"]}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let m = a.json()["Messages"][0].clone();
    assert_eq!(m["Body"], "top secret body");
    assert_eq!(m["Attributes"]["ApproximateReceiveCount"], "1");
    let a = s
        .signed(
            &sqs(
                "DeleteMessage",
                json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let journal = serde_json::to_string(&s.events()).unwrap();
    assert!(
        !journal.contains("top secret body"),
        "bodies stay out of the audit trail"
    );
    let e = s.last_event("ReceiveMessage");
    assert_eq!(e["eventSource"], "sqs.amazonaws.com");
    assert_eq!(e["responseElements"]["messageIds"][0], m["MessageId"]);
    assert_eq!(
        s.last_event("SendMessage")["requestParameters"]["queueUrl"],
        url
    );
}

#[tokio::test]
async fn errors_carry_the_json_and_the_query_code() {
    let s = TestServer::new();
    let a = s
        .signed(&sqs("GetQueueUrl", json!({"QueueName": "nope"})), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["__type"], "QueueDoesNotExist");
    assert_eq!(
        a.header("x-amzn-query-error"),
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    assert_eq!(
        s.last_event("GetQueueUrl")["errorCode"],
        "QueueDoesNotExist"
    );
    let a = s
        .signed(
            &sqs("CreateQueue", json!({"QueueName": "f.fifo"})),
            &s.root(),
        )
        .await;
    assert_eq!(a.json()["__type"], "UnsupportedOperation");
    let a = s
        .signed(&sqs("AddPermission", json!({"QueueUrl": "x"})), &s.root())
        .await;
    assert_eq!(a.json()["__type"], "UnsupportedOperation", "{}", a.text());
    assert_eq!(
        s.last_event("AddPermission")["errorCode"],
        "UnsupportedOperation"
    );
    let a = s.signed(&sqs("Frobnicate", json!({})), &s.root()).await;
    assert_eq!(a.json()["__type"], "UnknownOperationException");
    let a = s
        .signed(
            &sqs(
                "DeleteQueue",
                json!({"QueueUrl": "http://h/not-an-account/q"}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.json()["__type"], "InvalidAddress");
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let url = create(&s, "guarded").await;
    let user = s.plain_user().await;
    let send = sqs("SendMessage", json!({"QueueUrl": url, "MessageBody": "x"}));
    let e = s.assert_json_denied(&send, &user, "SendMessage").await;
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    let a = s.signed(&send, &user).await;
    assert_eq!(a.header("x-amzn-query-error"), "AccessDenied;Sender");
    // A missing queue is not revealed to a caller who may not use it.
    let probe = sqs(
        "GetQueueAttributes",
        json!({"QueueUrl": url.replace("guarded", "absent")}),
    );
    s.assert_json_denied(&probe, &user, "GetQueueAttributes")
        .await;
}

#[tokio::test]
async fn the_queue_policy_lets_a_plain_user_send() {
    let s = TestServer::new();
    let url = create(&s, "shared").await;
    let user = s.plain_user().await;
    let arn = format!("arn:aws:sqs:us-east-1:{}:shared", s.account());
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:user/plain", s.account())},
            "Action": "sqs:SendMessage",
            "Resource": arn,
        }],
    });
    let a = s
        .signed(
            &sqs(
                "SetQueueAttributes",
                json!({"QueueUrl": url, "Attributes": {"Policy": policy.to_string()}}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let send = sqs("SendMessage", json!({"QueueUrl": url, "MessageBody": "x"}));
    let a = s.signed(&send, &user).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let recv = sqs("ReceiveMessage", json!({"QueueUrl": url}));
    s.assert_json_denied(&recv, &user, "ReceiveMessage").await;
}

#[tokio::test]
async fn long_polls_return_when_a_message_arrives() {
    let s = std::sync::Arc::new(TestServer::new());
    let url = create(&s, "waiting").await;
    let started = std::time::Instant::now();
    let poll = {
        let (s, url) = (s.clone(), url.clone());
        tokio::spawn(async move {
            s.signed(
                &sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": url, "WaitTimeSeconds": 10}),
                ),
                &s.root(),
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let a = s
        .signed(
            &sqs(
                "SendMessage",
                json!({"QueueUrl": url, "MessageBody": "wake"}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = poll.await.unwrap();
    assert_eq!(a.json()["Messages"][0]["Body"], "wake", "{}", a.text());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "woken, not timed out"
    );
    let a = s
        .signed(
            &sqs(
                "ReceiveMessage",
                json!({"QueueUrl": url, "WaitTimeSeconds": 21}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.json()["__type"], "InvalidParameterValue");
}

#[tokio::test]
async fn batches_report_each_entry() {
    let s = TestServer::new();
    let url = create(&s, "batch").await;
    let a = s
        .signed(
            &sqs(
                "SendMessageBatch",
                json!({"QueueUrl": url, "Entries": [
                    {"Id": "a", "MessageBody": "one"},
                    {"Id": "b", "MessageBody": ""},
                    {"Id": "c", "MessageBody": "three", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                ]}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let v = a.json();
    assert_eq!(v["Successful"].as_array().unwrap().len(), 2);
    assert_eq!(v["Failed"][0]["Id"], "b");
    assert_eq!(v["Failed"][0]["Code"], "MissingParameter");
    assert_eq!(v["Failed"][0]["SenderFault"], true);
    let a = s
        .signed(
            &sqs(
                "ReceiveMessage",
                json!({"QueueUrl": url, "MaxNumberOfMessages": 10}),
            ),
            &s.root(),
        )
        .await;
    let handles: Vec<Value> = a.json()["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ReceiptHandle"].clone())
        .collect();
    assert_eq!(handles.len(), 2);
    let a = s
        .signed(
            &sqs(
                "DeleteMessageBatch",
                json!({"QueueUrl": url, "Entries": [
                    {"Id": "x", "ReceiptHandle": handles[0]},
                    {"Id": "y", "ReceiptHandle": "garbage"},
                    {"Id": "z", "ReceiptHandle": handles[1]},
                    {"Id": "w"},
                ]}),
            ),
            &s.root(),
        )
        .await;
    let v = a.json();
    let ids = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|e| e["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("Successful"), ["x", "z"], "{v}");
    assert_eq!(ids("Failed"), ["y", "w"], "{v}");
    assert_eq!(v["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
    assert_eq!(v["Failed"][1]["Code"], "MissingParameter");

    // ChangeMessageVisibilityBatch: the deleted messages are no longer in flight.
    let a = s
        .signed(
            &sqs(
                "ChangeMessageVisibilityBatch",
                json!({"QueueUrl": url, "Entries": [
                    {"Id": "x", "ReceiptHandle": handles[0], "VisibilityTimeout": 0},
                    {"Id": "t", "ReceiptHandle": handles[1]},
                ]}),
            ),
            &s.root(),
        )
        .await;
    let v = a.json();
    assert_eq!(v["Failed"][0]["Code"], "MessageNotInflight", "{v}");
    assert_eq!(v["Failed"][1]["Code"], "MissingParameter", "{v}");
    let a = s
        .signed(
            &sqs("SendMessageBatch", json!({"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]})),
            &s.root(),
        )
        .await;
    assert_eq!(a.json()["__type"], "BatchEntryIdsNotDistinct");
}
