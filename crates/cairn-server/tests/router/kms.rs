//! The KMS JSON 1.1 protocol through the in-process router.

use crate::support::{Req, TestServer};
use http::StatusCode;
use serde_json::{Value, json};

fn kms(op: &str, body: Value) -> Req {
    Req::json("kms", &format!("TrentService.{op}"), body)
}

#[tokio::test]
async fn unsigned_and_forged_calls_are_refused_in_json() {
    let s = TestServer::new();
    let list = kms("ListKeys", json!({}));
    s.assert_json_auth_refused(&list, &list).await;
}

#[tokio::test]
async fn unknown_and_unbuilt_operations() {
    let s = TestServer::new();
    let bad = Req::json("kms", "NotKms.ListKeys", json!({}));
    let a = s.signed(&bad, &s.root()).await;
    assert_eq!(a.json()["__type"], "UnknownOperationException");
    // Operations KMS has but this server does not build, and names it does not know, are
    // recorded with an explicit "not implemented" error.
    for op in ["Sign", "Frobnicate"] {
        let a = s.signed(&kms(op, json!({"KeyId": "k"})), &s.root()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["__type"], "UnsupportedOperationException");
        let e = s.last_event(op);
        assert_eq!(e["errorCode"], "UnsupportedOperationException");
        assert_eq!(e["eventSource"], "kms.amazonaws.com");
    }
}

#[tokio::test]
async fn a_plain_user_is_denied_and_the_denial_is_recorded() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let create = kms("CreateKey", json!({"Description": "d"}));
    let e = s.assert_json_denied(&create, &user, "CreateKey").await;
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
}

#[tokio::test]
async fn successful_calls_are_recorded_without_secrets() {
    let s = TestServer::new();
    let a = s
        .signed(&kms("CreateKey", json!({"Description": "d"})), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let key_id = a.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = s.last_event("CreateKey");
    assert_eq!(e["eventSource"], "kms.amazonaws.com");
    assert_eq!(e["readOnly"], false);
    assert_eq!(
        e["responseElements"]["keyMetadata"]["keyId"],
        key_id.as_str()
    );
    let a = s
        .signed(
            &kms("Encrypt", json!({"KeyId": key_id, "Plaintext": "c2VjcmV0"})),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let e = s.last_event("Encrypt");
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["requestParameters"], json!({"keyId": key_id}));
    assert_eq!(e["responseElements"], Value::Null);
}

#[tokio::test]
async fn malformed_bodies_are_recorded_failures() {
    let s = TestServer::new();
    let req = Req::json("kms", "TrentService.ListKeys", json!({})).body("[1]");
    let a = s.signed(&req, &s.root()).await;
    assert_eq!(a.json()["__type"], "SerializationException");
    assert_eq!(
        s.last_event("ListKeys")["errorCode"],
        "SerializationException"
    );
}
