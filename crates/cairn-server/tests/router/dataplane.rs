//! CloudTrail Data (REST-JSON) and bulk ingest through the in-process router.

use crate::support::{Req, TestServer};
use http::StatusCode;

fn ingest(body: &str) -> Req {
    Req::new("cloudtrail-data", "POST", "/_cairn/ingest").body(body)
}

#[tokio::test]
async fn unsigned_and_forged_calls_are_refused() {
    let s = TestServer::new();
    let a = s.unsigned(&ingest("{\"Records\":[]}")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    let a = s.signed(&ingest("{\"Records\":[]}"), &s.forged()).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    // REST-JSON: the code is in a header, the body has only the message.
    assert_eq!(a.header("x-amzn-errortype"), "SignatureDoesNotMatch");
    assert_eq!(a.header("content-type"), "application/json");
    assert!(a.json().get("__type").is_none());
    assert!(s.events().is_empty());
}

#[tokio::test]
async fn unknown_operations_are_refused() {
    let s = TestServer::new();
    let a = s
        .signed(&Req::new("cloudtrail-data", "POST", "/Nope"), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.header("x-amzn-errortype"),
        "UnsupportedOperationException"
    );
    let a = s
        .signed(
            &Req::new("cloudtrail-data", "GET", "/PutAuditEvents"),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let a = s.signed(&ingest("{\"Records\":[]}"), &user).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert_eq!(a.header("x-amzn-errortype"), "AccessDeniedException");
    let e = s.last_event("BulkIngest");
    assert_eq!(e["eventSource"], "cloudtrail-data.amazonaws.com");
    assert_eq!(e["errorCode"], "AccessDeniedException");
    assert_eq!(e["readOnly"], false);
}

#[tokio::test]
async fn an_accepted_call_is_recorded_with_its_counts() {
    let s = TestServer::new();
    let a = s.signed(&ingest("{\"Records\":[]}"), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["accepted"], 0);
    let e = s.last_event("BulkIngest");
    assert_eq!(e["eventSource"], "cloudtrail-data.amazonaws.com");
    assert_eq!(e["readOnly"], false);
    assert_eq!(e["requestParameters"]["recordsAccepted"], 0);
    assert_eq!(e["requestID"], a.header("x-amzn-requestid"));
}
