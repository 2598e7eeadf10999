//! CloudWatch Logs (JSON 1.1), CloudWatch (JSON 1.0 with query-compatible errors) and
//! Cairn's `/_cairn/monitor/` calls through the in-process router.

use crate::support::{Req, TestServer};
use http::StatusCode;
use serde_json::json;

fn logs(op: &str) -> Req {
    Req::json("logs", &format!("Logs_20140328.{op}"), json!({}))
}

fn cw(op: &str) -> Req {
    Req::json(
        "monitoring",
        &format!("GraniteServiceVersion20100801.{op}"),
        json!({}),
    )
}

#[tokio::test]
async fn unsigned_and_forged_calls_are_refused_in_json() {
    let s = TestServer::new();
    s.assert_json_auth_refused(&logs("DescribeLogGroups"), &cw("DescribeAlarms"))
        .await;
}

#[tokio::test]
async fn unknown_operations_are_named() {
    let s = TestServer::new();
    let a = s
        .signed(
            &Req::json("logs", "Nope.DescribeLogGroups", json!({})),
            &s.root(),
        )
        .await;
    assert_eq!(a.json()["__type"], "UnknownOperationException");
    let a = s
        .signed(&Req::json("monitoring", "", json!({})), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["__type"], "UnknownOperationException");
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let req = Req::json(
        "logs",
        "Logs_20140328.CreateLogGroup",
        json!({"logGroupName": "g"}),
    );
    let e = s.assert_json_denied(&req, &user, "CreateLogGroup").await;
    assert_eq!(e["eventSource"], "logs.amazonaws.com");
    // CloudWatch errors also carry the query-protocol code botocore maps from.
    let a = s.signed(&cw("PutMetricAlarm"), &user).await;
    assert_eq!(a.header("content-type"), "application/x-amz-json-1.0");
    assert_eq!(
        a.header("x-amzn-query-error"),
        "AccessDeniedException;Sender"
    );
    let e = s.last_event("PutMetricAlarm");
    assert_eq!(e["eventSource"], "monitoring.amazonaws.com");
    assert_eq!(e["errorCode"], "AccessDeniedException");
    // Cairn's own operations are authorized as `cairn:<Operation>`.
    let req = Req::new("logs", "POST", "/_cairn/monitor/create-topic")
        .body(json!({"name": "t"}).to_string());
    let a = s.signed(&req, &user).await;
    assert_eq!(a.json()["__type"], "AccessDeniedException");
    assert_eq!(
        s.last_event("CreateTopic")["errorCode"],
        "AccessDeniedException"
    );
}

#[tokio::test]
async fn successful_calls_are_recorded() {
    let s = TestServer::new();
    for (req, op, source, content_type) in [
        (
            logs("DescribeLogGroups"),
            "DescribeLogGroups",
            "logs.amazonaws.com",
            "application/x-amz-json-1.1",
        ),
        (
            cw("DescribeAlarms"),
            "DescribeAlarms",
            "monitoring.amazonaws.com",
            "application/x-amz-json-1.0",
        ),
    ] {
        let a = s.signed(&req, &s.root()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.header("content-type"), content_type);
        let e = s.last_event(op);
        assert_eq!(e["eventSource"], source);
        assert_eq!(e["readOnly"], true);
    }
    let req = Req::json(
        "logs",
        "Logs_20140328.CreateLogGroup",
        json!({"logGroupName": "g"}),
    );
    let a = s.signed(&req, &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let e = s.last_event("CreateLogGroup");
    assert_eq!(e["readOnly"], false);
    assert_eq!(e["requestParameters"]["logGroupName"], "g");
}
