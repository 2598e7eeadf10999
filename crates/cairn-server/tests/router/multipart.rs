//! S3 multipart upload through the in-process router: the whole flow, its S3 errors, and an
//! ordinary user kept out (and recorded).

use crate::support::{Answer, Req, TestServer, between};
use cairn_auth::Credential;
use http::StatusCode;

fn s3(method: &'static str, path: &str, query: &str) -> Req {
    let mut r = Req::new("s3", method, path).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    r.query = query.to_owned();
    r
}

/// A bucket `mpu` and an upload of `mpu/big` started by the root; returns the upload id.
async fn started(s: &TestServer) -> String {
    let a = s.signed(&s3("PUT", "/mpu", ""), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = s
        .signed(&s3("POST", "/mpu/big", "uploads"), &s.root())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-amz-server-side-encryption"), "AES256");
    between(&a.text(), "<UploadId>", "</UploadId>").to_owned()
}

async fn part(s: &TestServer, cred: &Credential, id: &str, n: u32, body: &[u8]) -> Answer {
    let q = format!("partNumber={n}&uploadId={id}");
    s.signed(&s3("PUT", "/mpu/big", &q).body(body.to_vec()), cred)
        .await
}

fn complete_doc(parts: &[(u32, &str)]) -> String {
    let mut d = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        d.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    d + "</CompleteMultipartUpload>"
}

#[tokio::test]
async fn parts_complete_into_an_object_with_the_multipart_etag() {
    let s = TestServer::new();
    let id = started(&s).await;
    let one = vec![7u8; 5 * 1024 * 1024];
    let a = part(&s, &s.root(), &id, 1, &one).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let e1 = a.header("etag").to_owned();
    let a = part(&s, &s.root(), &id, 2, b"tail").await;
    let e2 = a.header("etag").to_owned();
    let q = format!("uploadId={id}");
    let a = s.signed(&s3("GET", "/mpu/big", &q), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.text().contains("<PartNumber>2</PartNumber>"),
        "{}",
        a.text()
    );
    let a = s.signed(&s3("GET", "/mpu", "uploads"), &s.root()).await;
    assert!(
        a.text().contains(&format!("<UploadId>{id}</UploadId>")),
        "{}",
        a.text()
    );
    let a = s
        .signed(
            &s3("POST", "/mpu/big", &q).body(complete_doc(&[(1, &e1), (2, &e2)])),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let etag = between(&a.text(), "<ETag>", "</ETag>").replace("&quot;", "\"");
    assert!(etag.ends_with("-2\""), "{etag}");
    let e = s.last_event("CompleteMultipartUpload");
    assert_eq!(e["eventCategory"], "Data");
    assert_eq!(e["resources"][0]["ARN"], "arn:aws:s3:::mpu/big");
    let a = s.signed(&s3("GET", "/mpu/big", ""), &s.root()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("etag"), etag);
    assert_eq!(a.body.len(), one.len() + 4);
    assert_eq!(&a.body[one.len()..], b"tail");
    // The upload is gone.
    let a = s.signed(&s3("GET", "/mpu/big", &q), &s.root()).await;
    a.assert_xml_error(StatusCode::NOT_FOUND, "NoSuchUpload");
}

#[tokio::test]
async fn wrong_parts_are_s3_errors_and_abort_ends_the_upload() {
    let s = TestServer::new();
    let id = started(&s).await;
    let a = part(&s, &s.root(), &id, 1, b"small").await;
    let e1 = a.header("etag").to_owned();
    let e2 = part(&s, &s.root(), &id, 2, b"last")
        .await
        .header("etag")
        .to_owned();
    let q = format!("uploadId={id}");
    let complete = |doc: String| s3("POST", "/mpu/big", &q).body(doc);
    let bad = "\"0123456789abcdef0123456789abcdef\"";
    s.signed(&complete(complete_doc(&[(1, bad)])), &s.root())
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "InvalidPart");
    s.signed(&complete(complete_doc(&[(2, &e2), (1, &e1)])), &s.root())
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "InvalidPartOrder");
    s.signed(&complete(complete_doc(&[(1, &e1), (2, &e2)])), &s.root())
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "EntityTooSmall");
    s.signed(&complete(complete_doc(&[])), &s.root())
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "MalformedXML");
    part(&s, &s.root(), &id, 10_001, b"x")
        .await
        .assert_xml_error(StatusCode::BAD_REQUEST, "InvalidArgument");
    let copy = s3("PUT", "/mpu/big", &format!("partNumber=3&uploadId={id}"))
        .header("x-amz-copy-source", "/mpu/other");
    s.signed(&copy, &s.root())
        .await
        .assert_xml_error(StatusCode::NOT_IMPLEMENTED, "NotImplemented");
    let a = s.signed(&s3("DELETE", "/mpu/big", &q), &s.root()).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    part(&s, &s.root(), &id, 1, b"again")
        .await
        .assert_xml_error(StatusCode::NOT_FOUND, "NoSuchUpload");
    s.signed(&s3("GET", "/mpu/big", ""), &s.root())
        .await
        .assert_xml_error(StatusCode::NOT_FOUND, "NoSuchKey");
}

#[tokio::test]
async fn a_plain_user_cannot_touch_an_upload_and_is_recorded() {
    let s = TestServer::new();
    let id = started(&s).await;
    let e1 = part(&s, &s.root(), &id, 1, b"only")
        .await
        .header("etag")
        .to_owned();
    let user = s.plain_user().await;
    let q = format!("uploadId={id}");
    let denied = [
        (s3("POST", "/mpu/big", "uploads"), "CreateMultipartUpload"),
        (
            s3("PUT", "/mpu/big", &format!("partNumber=1&{q}")).body(b"evil".to_vec()),
            "UploadPart",
        ),
        (
            s3("POST", "/mpu/big", &q).body(complete_doc(&[(1, &e1)])),
            "CompleteMultipartUpload",
        ),
        (s3("DELETE", "/mpu/big", &q), "AbortMultipartUpload"),
        (s3("GET", "/mpu/big", &q), "ListParts"),
        (s3("GET", "/mpu", "uploads"), "ListMultipartUploads"),
    ];
    for (req, event) in denied {
        s.signed(&req, &user)
            .await
            .assert_xml_error(StatusCode::FORBIDDEN, "AccessDenied");
        let e = s.last_event(event);
        assert_eq!(e["errorCode"], "AccessDenied", "{event}");
        assert_eq!(e["eventCategory"], "Data", "{event}");
    }
    // Nothing changed: the root's part is still the only one, and completes.
    let a = s
        .signed(
            &s3("POST", "/mpu/big", &q).body(complete_doc(&[(1, &e1)])),
            &s.root(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = s.signed(&s3("GET", "/mpu/big", ""), &s.root()).await;
    assert_eq!(&a.body[..], b"only");
}
