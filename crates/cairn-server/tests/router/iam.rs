//! IAM and STS through the whole router, in process (`tower::ServiceExt::oneshot`): how a
//! refused call looks on the wire (the query protocol's `ErrorResponse` XML) and that an
//! authorization failure is recorded in the journal.

use crate::support::{Answer, KEY, Req, TestServer};
use cairn_auth::{Credential, CredentialStore, Principal};
use http::StatusCode;

/// A form POST to `/` for `service`.
fn form(service: &'static str, body: &str) -> Req {
    Req::new(service, "POST", "/")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
}

/// `body` posted to `service`, signed by the account's root.
async fn as_root(s: &TestServer, service: &'static str, body: &str) -> Answer {
    s.signed(&form(service, body), &s.root()).await
}

/// `<Code>` of a query-protocol `ErrorResponse`, after checking its shape.
fn error_code(xml: &str, namespace: &str) -> String {
    assert!(
        xml.starts_with("<?xml") && xml.contains(&format!("<ErrorResponse xmlns=\"{namespace}\">")),
        "{xml}"
    );
    assert!(
        xml.contains("<Type>Sender</Type>") && xml.contains("<RequestId>"),
        "{xml}"
    );
    let start = xml.find("<Code>").unwrap() + "<Code>".len();
    let end = xml.find("</Code>").unwrap();
    xml[start..end].to_owned()
}

const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

#[tokio::test]
async fn a_call_without_a_valid_signature_is_refused_in_xml() {
    let s = TestServer::new();
    // Signed for IAM and STS with a key the server does not know.
    let stranger = Credential::long_term(
        "AKIAUNKNOWNUNKNOWN01",
        "not-a-secret-this-server-knows-000000000",
        Principal::Root {
            account_id: "999999999999".into(),
        },
    );
    for (service, body, ns) in [
        ("iam", "Action=ListUsers&Version=2010-05-08", IAM_NS),
        ("sts", "Action=GetCallerIdentity&Version=2011-06-15", STS_NS),
    ] {
        let a = s.signed(&form(service, body), &stranger).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        assert_eq!(error_code(&a.text(), ns), "InvalidClientTokenId");
    }
    // No signature at all: still the query protocol's XML, not JSON.
    let a = s
        .unsigned(&form("iam", "Action=ListUsers&Version=2010-05-08"))
        .await;
    let xml = a.text();
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{xml}");
    assert!(
        xml.starts_with("<?xml") || xml.starts_with("<ErrorResponse"),
        "{xml}"
    );
    assert!(!error_code(&xml, IAM_NS).is_empty(), "{xml}");
    // The right key id with the wrong secret: the signature does not match.
    let mut forged = s.plain_user().await;
    forged.secret = cairn_auth::SecretKey::new("wrong-secret-wrong-secret-wrong-secret-00");
    let a = s
        .signed(&form("iam", "Action=CreateUser&UserName=eve"), &forged)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert_eq!(error_code(&a.text(), IAM_NS), "SignatureDoesNotMatch");
    // Nothing was created.
    assert!(s.state.iam.user(&s.account(), "eve").is_err());
}

#[tokio::test]
async fn an_unknown_action_is_invalid_action() {
    let s = TestServer::new();
    // The server stores the bootstrap key as the account's root.
    assert_eq!(
        s.state.credentials.lookup(KEY).unwrap().principal,
        Principal::Root {
            account_id: s.account()
        }
    );
    let a = as_root(&s, "iam", "Action=FrobnicateUser&Version=2010-05-08").await;
    let xml = a.text();
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{xml}");
    assert_eq!(error_code(&xml, IAM_NS), "InvalidAction", "{xml}");
    assert!(xml.contains("FrobnicateUser"), "{xml}");
    let a = as_root(&s, "sts", "Action=CreateUser&Version=2011-06-15").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert_eq!(error_code(&a.text(), STS_NS), "InvalidAction");
    // A known action still works for root.
    let a = as_root(&s, "sts", "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains("<GetCallerIdentityResult>"),
        "{}",
        a.text()
    );
}

#[tokio::test]
async fn a_user_without_permission_is_denied_and_the_denial_is_journaled() {
    let s = TestServer::new();
    let user = s.plain_user().await;
    let a = s
        .signed(
            &form("iam", "Action=CreateUser&Version=2010-05-08&UserName=eve"),
            &user,
        )
        .await;
    let xml = a.text();
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{xml}");
    assert_eq!(error_code(&xml, IAM_NS), "AccessDenied", "{xml}");
    assert!(
        xml.contains("is not authorized to perform: iam:CreateUser"),
        "{xml}"
    );
    assert!(s.state.iam.user(&s.account(), "eve").is_err());
    // The refused call is in the journal, as CloudTrail records it.
    let denial = s.last_event("CreateUser");
    assert_eq!(denial["errorCode"], "AccessDenied", "{denial}");
    assert_eq!(denial["eventSource"], "iam.amazonaws.com", "{denial}");
    assert!(denial.to_string().contains("user/plain"), "{denial}");
}
