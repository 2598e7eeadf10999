//! The CloudTrail JSON 1.1 protocol through the in-process router.

use crate::support::{Req, TestServer, assert_generic_internal};
use http::StatusCode;
use serde_json::json;

fn ct(op: &str) -> Req {
    call(op, json!({}))
}

fn call(op: &str, body: serde_json::Value) -> Req {
    Req::json("cloudtrail", &format!("CloudTrail_20131101.{op}"), body)
}

#[tokio::test]
async fn unsigned_and_forged_calls_are_refused_in_json() {
    let s = TestServer::new();
    let [unsigned, _] = s
        .assert_json_auth_refused(&ct("DescribeTrails"), &ct("DescribeTrails"))
        .await;
    assert_eq!(
        unsigned.header("content-type"),
        "application/x-amz-json-1.1"
    );
}

#[tokio::test]
async fn unknown_operations_are_named() {
    let s = TestServer::new();
    let a = s.signed(&ct("NoSuchOperation"), &s.root()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["__type"], "UnknownOperationException");
    assert_eq!(a.header("x-amzn-errortype"), "UnknownOperationException");
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let req = Req::json(
        "cloudtrail",
        "CloudTrail_20131101.CreateTrail",
        json!({"Name": "t1", "S3BucketName": "b"}),
    );
    let e = s.assert_json_denied(&req, &user, "CreateTrail").await;
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    assert_eq!(e["requestParameters"]["name"], "t1");
    assert_eq!(e["readOnly"], false);
}

#[tokio::test]
async fn a_successful_call_is_recorded() {
    let s = TestServer::new();
    let a = s.signed(&ct("DescribeTrails"), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("content-type"), "application/x-amz-json-1.1");
    let rid = a.header("x-amzn-requestid").to_owned();
    let e = s.last_event("DescribeTrails");
    assert_eq!(e["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["requestID"], rid.as_str());
    assert_eq!(e["awsRegion"], "us-east-1");
    assert_eq!(e["responseElements"], serde_json::Value::Null);
}

#[tokio::test]
async fn internal_errors_show_only_an_error_id() {
    // Without the pipeline the event history is not running: LookupEvents fails inside.
    let s = TestServer::new();
    let a = s.signed(&ct("LookupEvents"), &s.root()).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.text());
    assert_eq!(a.json()["__type"], "InternalFailure");
    let message = a.json()["message"].as_str().unwrap_or("").to_owned();
    assert_generic_internal(&message);
    assert!(!message.contains("history"));
    assert_eq!(s.last_event("LookupEvents")["errorCode"], "InternalFailure");
}

/// Sends `req` as root, asserts a 400 with `code`, and that the call is recorded with it.
async fn assert_refused(s: &TestServer, req: &Req, op: &str, code: &str) -> String {
    let a = s.signed(req, &s.root()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert_eq!(a.json()["__type"], code, "{}", a.text());
    assert_eq!(s.last_event(op)["errorCode"], code);
    a.json()["message"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_multi_region_trail_without_global_events_is_refused_before_the_bucket_is_checked() {
    // moto's suite pins CloudTrail's order: the region scope is judged before the bucket.
    let s = TestServer::new();
    let req = call(
        "CreateTrail",
        json!({"Name": "trail1", "S3BucketName": "no-such-bucket",
               "IsMultiRegionTrail": true, "IncludeGlobalServiceEvents": false}),
    );
    let m = assert_refused(
        &s,
        &req,
        "CreateTrail",
        "InvalidParameterCombinationException",
    )
    .await;
    assert_eq!(m, "Multi-Region trail must include global service events.");
    let req = call(
        "CreateTrail",
        json!({"Name": "trail1", "S3BucketName": "no-such-bucket", "IsMultiRegionTrail": true}),
    );
    let m = assert_refused(&s, &req, "CreateTrail", "S3BucketDoesNotExistException").await;
    assert_eq!(m, "S3 bucket no-such-bucket does not exist!");
}

#[tokio::test]
async fn a_name_with_a_bad_last_character_is_told_so() {
    let s = TestServer::new();
    let req = call(
        "CreateTrail",
        json!({"Name": "trail!", "S3BucketName": "b"}),
    );
    let m = assert_refused(&s, &req, "CreateTrail", "InvalidTrailNameException").await;
    assert_eq!(m, "Trail name must ends with a letter or number.");
}

#[tokio::test]
async fn the_status_of_a_missing_trail_names_the_arn_it_would_have() {
    let s = TestServer::new();
    let acct = s.account();
    let req = call("GetTrailStatus", json!({"Name": "unknowntrail"}));
    let m = assert_refused(&s, &req, "GetTrailStatus", "TrailNotFoundException").await;
    assert_eq!(
        m,
        format!(
            "Unknown trail: arn:aws:cloudtrail:us-east-1:{acct}:trail/unknowntrail for the user: {acct}"
        )
    );
    // GetTrail repeats the name as given.
    let req = call("GetTrail", json!({"Name": "unknowntrail"}));
    let m = assert_refused(&s, &req, "GetTrail", "TrailNotFoundException").await;
    assert_eq!(
        m,
        format!("Unknown trail: unknowntrail for the user: {acct}")
    );
}

#[tokio::test]
async fn a_plain_user_learns_nothing_of_a_missing_trail_and_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let req = call("GetTrailStatus", json!({"Name": "unknowntrail"}));
    let e = s.assert_json_denied(&req, &user, "GetTrailStatus").await;
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    assert!(
        !e["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("Unknown trail")
    );
}
