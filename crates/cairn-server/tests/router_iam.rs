//! IAM and STS through the whole router, in process (`tower::ServiceExt::oneshot`): how a
//! refused call looks on the wire (the query protocol's `ErrorResponse` XML) and that an
//! authorization failure is recorded in the journal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use cairn_auth::{Credential, CredentialStore, Principal, RequestParts, SignPayload};
use cairn_server::config::Config;
use cairn_server::state::AppState;
use http_body_util::BodyExt;
use tower::ServiceExt;

const ROOT_KEY: &str = "AKIACAIRNROUTERIAM01";
const ROOT_SECRET: &str = "cairn-router-iam-secret-0123456789abcdef";

struct Server {
    state: Arc<AppState>,
    /// A user with no policy at all.
    user: Credential,
    root: Credential,
    _dir: tempfile::TempDir,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_data_dir(dir.path());
    let (state, _) =
        AppState::open(config, Some((ROOT_KEY.into(), ROOT_SECRET.into())), None).unwrap();
    let account = state.config.account_id.to_string();
    state.iam.create_user(&account, "mallory", "/").unwrap();
    let (key, _) = state
        .iam
        .create_access_key(&state.credentials, &account, "mallory")
        .unwrap();
    // The credential as the server stores it: key, secret and the user's principal.
    let user = state.credentials.lookup(&key.access_key_id).unwrap();
    let root = state.credentials.lookup(ROOT_KEY).unwrap();
    assert_eq!(
        root.principal,
        Principal::Root {
            account_id: account
        }
    );
    Server {
        state: Arc::new(state),
        user,
        root,
        _dir: dir,
    }
}

/// A form POST to `/`, signed for `service` with `cred` when given.
fn request(body: &str, service: &str, cred: Option<&Credential>) -> http::Request<Body> {
    let mut parts = RequestParts {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![
            ("host".into(), "localhost".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ),
        ],
    };
    if let Some(cred) = cred {
        cairn_auth::sign(
            &mut parts,
            SignPayload::Body(body.as_bytes()),
            cred,
            "us-east-1",
            service,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    }
    let mut b = http::Request::post("/");
    for (k, v) in &parts.headers {
        b = b.header(k, v);
    }
    let mut req = b.body(Body::from(body.to_owned())).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

async fn send(s: &Server, req: http::Request<Body>) -> (u16, String) {
    let resp = cairn_server::http::router(s.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
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
    let s = start();
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
        let (status, xml) = send(&s, request(body, service, Some(&stranger))).await;
        assert_eq!(status, 403, "{xml}");
        assert_eq!(error_code(&xml, ns), "InvalidClientTokenId", "{xml}");
    }
    // No signature at all: still the query protocol's XML, not JSON.
    let (status, xml) = send(
        &s,
        request("Action=ListUsers&Version=2010-05-08", "iam", None),
    )
    .await;
    assert_eq!(status, 403, "{xml}");
    assert!(
        xml.starts_with("<?xml") || xml.starts_with("<ErrorResponse"),
        "{xml}"
    );
    assert!(!error_code(&xml, IAM_NS).is_empty(), "{xml}");
    // The right key id with the wrong secret: the signature does not match.
    let mut forged = s.user.clone();
    forged.secret = cairn_auth::SecretKey::new("wrong-secret-wrong-secret-wrong-secret-00");
    let (status, xml) = send(
        &s,
        request("Action=CreateUser&UserName=eve", "iam", Some(&forged)),
    )
    .await;
    assert_eq!(status, 403, "{xml}");
    assert_eq!(error_code(&xml, IAM_NS), "SignatureDoesNotMatch", "{xml}");
    // Nothing was created.
    assert!(
        s.state
            .iam
            .user(s.root.principal.account_id().unwrap(), "eve")
            .is_err()
    );
}

#[tokio::test]
async fn an_unknown_action_is_invalid_action() {
    let s = start();
    let (status, xml) = send(
        &s,
        request(
            "Action=FrobnicateUser&Version=2010-05-08",
            "iam",
            Some(&s.root),
        ),
    )
    .await;
    assert_eq!(status, 400, "{xml}");
    assert_eq!(error_code(&xml, IAM_NS), "InvalidAction", "{xml}");
    assert!(xml.contains("FrobnicateUser"), "{xml}");
    let (status, xml) = send(
        &s,
        request("Action=CreateUser&Version=2011-06-15", "sts", Some(&s.root)),
    )
    .await;
    assert_eq!(status, 400, "{xml}");
    assert_eq!(error_code(&xml, STS_NS), "InvalidAction", "{xml}");
    // A known action still works for root.
    let (status, xml) = send(
        &s,
        request(
            "Action=GetCallerIdentity&Version=2011-06-15",
            "sts",
            Some(&s.root),
        ),
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<GetCallerIdentityResult>"), "{xml}");
}

#[tokio::test]
async fn a_user_without_permission_is_denied_and_the_denial_is_journaled() {
    let s = start();
    let (status, xml) = send(
        &s,
        request(
            "Action=CreateUser&Version=2010-05-08&UserName=eve",
            "iam",
            Some(&s.user),
        ),
    )
    .await;
    assert_eq!(status, 403, "{xml}");
    assert_eq!(error_code(&xml, IAM_NS), "AccessDenied", "{xml}");
    assert!(
        xml.contains("is not authorized to perform: iam:CreateUser"),
        "{xml}"
    );
    let account = s.root.principal.account_id().unwrap().to_owned();
    assert!(s.state.iam.user(&account, "eve").is_err());
    // The refused call is in the journal, as CloudTrail records it.
    let records = s
        .state
        .journal
        .reader(0)
        .unwrap()
        .try_next_batch(10_000)
        .unwrap();
    let denial = records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .find(|p| p.contains("\"eventName\":\"CreateUser\""))
        .expect("the CreateUser call is journaled");
    assert!(
        denial.contains("\"errorCode\":\"AccessDenied\""),
        "{denial}"
    );
    assert!(
        denial.contains("\"eventSource\":\"iam.amazonaws.com\""),
        "{denial}"
    );
    assert!(denial.contains("user/mallory"), "{denial}");
}
