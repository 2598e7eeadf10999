//! S3 event notifications through the router: the configuration is checked against the
//! queue's policy, refused to a plain user (and the refusal recorded), and each matching
//! object event reaches the queue once, in S3's message format.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Req, TestServer};

const BUCKET: &str = "trail-feed";

fn s3(method: &'static str, path: &str) -> Req {
    Req::new("s3", method, path).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
}

fn sqs(op: &str, body: Value) -> Req {
    Req::json("sqs", &format!("AmazonSQS.{op}"), body)
}

fn config(queue_arn: &str) -> String {
    format!(
        "<NotificationConfiguration><QueueConfiguration><Id>logs</Id><Queue>{queue_arn}</Queue>\
         <Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name>\
         <Value>AWSLogs/</Value></FilterRule></S3Key></Filter></QueueConfiguration>\
         </NotificationConfiguration>"
    )
}

/// The policy S3 needs on the queue: s3.amazonaws.com may send, for this bucket only.
fn queue_policy(queue_arn: &str, account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{BUCKET}")},
                "StringEquals": {"aws:SourceAccount": account}
            }
        }]
    })
    .to_string()
}

/// A bucket and a queue; returns (queue url, queue arn).
/// `PUT /{BUCKET}?notification` with `body`, or `GET` without.
fn notification(body: Option<String>) -> Req {
    let r = match body {
        Some(b) => s3("PUT", &format!("/{BUCKET}")).body(b),
        None => s3("GET", &format!("/{BUCKET}")),
    };
    Req {
        query: "notification".into(),
        ..r
    }
}

async fn setup(s: &TestServer) -> (String, String) {
    let a = s.signed(&s3("PUT", &format!("/{BUCKET}")), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = s
        .signed(&sqs("CreateQueue", json!({"QueueName": "feed"})), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let url = a.json()["QueueUrl"].as_str().unwrap().to_owned();
    let arn = format!("arn:aws:sqs:us-east-1:{}:feed", s.account());
    (url, arn)
}

async fn receive(s: &TestServer, url: &str) -> Vec<Value> {
    let a = s
        .signed(
            &sqs(
                "ReceiveMessage",
                json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "MessageSystemAttributeNames": ["SenderId"]}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let msgs = a.json()["Messages"].as_array().cloned().unwrap_or_default();
    for m in &msgs {
        let del = json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]});
        let d = s.signed(&sqs("DeleteMessage", del), &s.root()).await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    }
    msgs
}

fn drain(s: &TestServer) -> usize {
    let to = cairn_server::s3::notify::Destinations {
        sqs: &s.state.sqs,
        sns: &s.state.monitor,
    };
    cairn_server::s3::notify::drain(s.state.buckets.vault(), to).unwrap()
}

#[tokio::test]
async fn a_queue_whose_policy_does_not_let_s3_send_is_refused() {
    let s = TestServer::new();
    let (_, arn) = setup(&s).await;
    let put = notification(Some(config(&arn)));
    let a = s.signed(&put, &s.root()).await;
    a.assert_xml_error(StatusCode::BAD_REQUEST, "InvalidArgument");
    assert!(
        a.text()
            .contains("Unable to validate the following destination configurations")
    );
    // Nor does a queue that does not exist pass.
    let gone = format!("arn:aws:sqs:us-east-1:{}:nope", s.account());
    let put = notification(Some(config(&gone)));
    s.signed(&put, &s.root())
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "InvalidArgument");
}

#[tokio::test]
async fn a_plain_user_cannot_point_a_bucket_at_a_queue_and_the_attempt_is_recorded() {
    let s = TestServer::new();
    let (_, arn) = setup(&s).await;
    let user = s.plain_user().await;
    let put = notification(Some(config(&arn)));
    s.signed(&put, &user)
        .await
        .assert_xml_error(StatusCode::FORBIDDEN, "AccessDenied");
    let e = s.last_event("PutBucketNotification");
    assert_eq!(e["errorCode"], "AccessDenied");
    assert_eq!(e["eventSource"], "s3.amazonaws.com");
    let get = notification(None);
    s.signed(&get, &user)
        .await
        .assert_xml_error(StatusCode::FORBIDDEN, "AccessDenied");
    assert_eq!(
        s.last_event("GetBucketNotification")["errorCode"],
        "AccessDenied"
    );
}

#[tokio::test]
async fn each_matching_object_event_reaches_the_queue_once_in_s3_format() {
    let s = TestServer::new();
    let (url, arn) = setup(&s).await;
    let a = s
        .signed(
            &sqs(
                "SetQueueAttributes",
                json!({"QueueUrl": url, "Attributes": {"Policy": queue_policy(&arn, &s.account())}}),
            ),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let put = notification(Some(config(&arn)));
    let a = s.signed(&put, &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        s.last_event("PutBucketNotification")["errorCode"],
        Value::Null
    );
    // GET answers the stored configuration.
    let get = notification(None);
    let a = s.signed(&get, &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains(&format!("<Queue>{arn}</Queue>")),
        "{}",
        a.text()
    );
    // S3's test event arrives first.
    let test = receive(&s, &url).await;
    assert_eq!(test.len(), 1);
    let body: Value = serde_json::from_str(test[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(body["Event"], "s3:TestEvent");
    assert_eq!(body["Bucket"], BUCKET);

    let key = "AWSLogs/111/CloudTrail/us-east-1/a b.json.gz";
    let a = s
        .signed(
            &s3(
                "PUT",
                &format!("/{BUCKET}/AWSLogs/111/CloudTrail/us-east-1/a%20b.json.gz"),
            )
            .body("hello"),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let put_request_id = a.header("x-amz-request-id").to_owned();
    let a = s
        .signed(
            &s3("PUT", &format!("/{BUCKET}/other/b.json.gz")).body("x"),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        drain(&s),
        1,
        "one event: the other key is outside the prefix"
    );
    assert_eq!(drain(&s), 0, "nothing is delivered twice");
    let got = receive(&s, &url).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["Attributes"]["SenderId"], "s3.amazonaws.com");
    let msg: Value = serde_json::from_str(got[0]["Body"].as_str().unwrap()).unwrap();
    let r = &msg["Records"][0];
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["s3"]["bucket"]["name"], BUCKET);
    assert_eq!(r["s3"]["bucket"]["arn"], format!("arn:aws:s3:::{BUCKET}"));
    assert_eq!(r["s3"]["configurationId"], "logs");
    assert_eq!(r["s3"]["object"]["key"], key.replace(' ', "+"));
    assert_eq!(r["s3"]["object"]["size"], 5);
    assert_eq!(
        r["s3"]["object"]["eTag"],
        "5d41402abc4b2a76b9719d911017c592"
    );
    assert_eq!(r["responseElements"]["x-amz-request-id"], put_request_id);
    assert_eq!(r["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert!(
        r["userIdentity"]["principalId"]
            .as_str()
            .unwrap()
            .starts_with("AWS:")
    );
    assert!(r["eventTime"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn lambda_destinations_answer_not_implemented() {
    let s = TestServer::new();
    setup(&s).await;
    let lambda = "<NotificationConfiguration><LambdaFunctionConfiguration><LambdaFunctionArn>arn:aws:lambda:us-east-1:1:function:f</LambdaFunctionArn><Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration></NotificationConfiguration>";
    let put = notification(Some(lambda.to_string()));
    s.signed(&put, &s.root())
        .await
        .assert_xml_error(StatusCode::NOT_IMPLEMENTED, "NotImplemented");
}
