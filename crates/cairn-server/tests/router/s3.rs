//! S3 (REST-XML) through the in-process router.

use crate::support::{Req, TestServer};
use http::StatusCode;

fn s3(method: &'static str, path: &str) -> Req {
    Req::new("s3", method, path).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
}

#[tokio::test]
async fn forged_calls_are_refused_in_xml() {
    let s = TestServer::new();
    let a = s.signed(&s3("GET", "/"), &s.forged()).await;
    a.assert_xml_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    assert!(s.events().is_empty());
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let a = s.signed(&s3("PUT", "/plain-bucket"), &user).await;
    a.assert_xml_error(StatusCode::FORBIDDEN, "AccessDenied");
    let e = s.last_event("CreateBucket");
    assert_eq!(e["eventSource"], "s3.amazonaws.com");
    assert_eq!(e["errorCode"], "AccessDenied");
}

#[tokio::test]
async fn successful_calls_are_recorded() {
    let s = TestServer::new();
    let a = s.signed(&s3("PUT", "/router-bucket"), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let e = s.last_event("CreateBucket");
    assert_eq!(e["eventSource"], "s3.amazonaws.com");
    assert_eq!(e["readOnly"], false);
    assert_eq!(e["requestParameters"]["bucketName"], "router-bucket");
    let a = s.signed(&s3("GET", "/"), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let e = s.last_event("ListBuckets");
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["requestID"], a.header("x-amz-request-id"));
}

#[tokio::test]
async fn unknown_buckets_get_s3_errors() {
    let s = TestServer::new();
    let a = s.signed(&s3("GET", "/no-such-bucket"), &s.root()).await;
    a.assert_xml_error(StatusCode::NOT_FOUND, "NoSuchBucket");
    assert_eq!(s.last_event("ListObjects")["errorCode"], "NoSuchBucket");
}
