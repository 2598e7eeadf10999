//! Multipart uploads in the vault: parts complete into one object with S3's ETag, nothing
//! plaintext reaches the disk, parts survive a reopen, completion errors keep the upload,
//! abort removes the parts, and completion commits as a put (put-if-absent, versioning).

mod common;

use cairn_vault::*;
use common::{files_under, now, vault, vault_with};

const MIB: usize = 1024 * 1024;

/// A recognisable, non-repeating-per-part plaintext.
fn body(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x5a)
        .collect()
}

fn complete(parts: &[(u32, &PartInfo)]) -> CompleteRequest {
    CompleteRequest {
        parts: parts
            .iter()
            .map(|(n, p)| (*n, format!("\"{}\"", p.etag)))
            .collect(),
        ..CompleteRequest::default()
    }
}

#[test]
fn parts_complete_into_one_object_with_the_s3_etag() {
    let (dir, v, _) = vault_with("b", "111122223333", false);
    let u = v
        .create_upload("b", "big", &PutRequest::default(), now())
        .unwrap();
    let (a, b2) = (body(1, 5 * MIB), body(2, 1234));
    // Uploaded out of order; part 2 replaced once.
    v.upload_part("b", "big", &u.upload_id, 2, b"old", now())
        .unwrap();
    let p2 = v
        .upload_part("b", "big", &u.upload_id, 2, &b2, now())
        .unwrap();
    let p1 = v
        .upload_part("b", "big", &u.upload_id, 1, &a, now())
        .unwrap();
    let listed = v.list_parts("b", "big", &u.upload_id, 0, 1000).unwrap();
    assert_eq!(listed.parts, vec![p1.clone(), p2.clone()]);
    let o = v
        .complete_upload(
            "b",
            "big",
            &u.upload_id,
            &complete(&[(1, &p1), (2, &p2)]),
            now(),
        )
        .unwrap();
    let want = multipart_etag([p1.etag.as_str(), p2.etag.as_str()]).unwrap();
    assert_eq!(o.etag, want);
    assert!(o.etag.ends_with("-2"));
    let (meta, got) = v.get_object("b", "big", None).unwrap();
    assert_eq!(meta.size as usize, a.len() + b2.len());
    assert_eq!(&got[..a.len()], &a[..]);
    assert_eq!(&got[a.len()..], &b2[..]);
    // The upload is gone.
    assert!(matches!(
        v.list_parts("b", "big", &u.upload_id, 0, 10),
        Err(VaultError::NoSuchUpload { .. })
    ));
    // Overwriting the object removes its parts.
    v.put_object("b", "big", b"small", &PutRequest::default(), now())
        .unwrap();
    assert!(
        !files_under(dir.path())
            .iter()
            .any(|p| p.to_string_lossy().contains("mpu"))
    );
}

#[test]
fn no_plaintext_part_byte_reaches_the_disk() {
    let (dir, v, _) = vault_with("b", "111122223333", false);
    let u = v
        .create_upload("b", "k", &PutRequest::default(), now())
        .unwrap();
    let secret = b"TOP-SECRET-PART-MARKER-0123456789".repeat(200);
    let p = v
        .upload_part("b", "k", &u.upload_id, 1, &secret, now())
        .unwrap();
    let check = |when: &str| {
        for f in files_under(dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(23).any(|w| w == &secret[..23]),
                "{when}: plaintext in {}",
                f.display()
            );
        }
    };
    check("after UploadPart");
    v.complete_upload("b", "k", &u.upload_id, &complete(&[(1, &p)]), now())
        .unwrap();
    check("after Complete");
    assert_eq!(v.get_object("b", "k", None).unwrap().1, secret);
}

#[test]
fn reopen_mid_upload_keeps_the_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (id, p1) = {
        let (v, _) = vault(dir.path());
        v.create_bucket("b", "111122223333", "us-east-1", false, now())
            .unwrap();
        let u = v
            .create_upload("b", "k", &PutRequest::default(), now())
            .unwrap();
        let p1 = v
            .upload_part("b", "k", &u.upload_id, 1, &body(3, 5 * MIB), now())
            .unwrap();
        (u.upload_id, p1)
    };
    let (v, _) = vault(dir.path());
    let l = v.list_uploads("b", "", None, None, 1000).unwrap();
    assert_eq!(l.uploads.len(), 1);
    assert_eq!(l.uploads[0].upload_id, id);
    let p2 = v.upload_part("b", "k", &id, 2, b"tail", now()).unwrap();
    v.complete_upload("b", "k", &id, &complete(&[(1, &p1), (2, &p2)]), now())
        .unwrap();
    let got = v.get_object("b", "k", None).unwrap().1;
    assert_eq!(got.len(), 5 * MIB + 4);
    assert_eq!(&got[5 * MIB..], b"tail");
}

#[test]
fn completion_errors_keep_the_upload_and_abort_removes_the_parts() {
    let (dir, v, _) = vault_with("b", "111122223333", false);
    let u = v
        .create_upload("b", "k", &PutRequest::default(), now())
        .unwrap();
    let id = u.upload_id.as_str();
    let p1 = v.upload_part("b", "k", id, 1, b"small", now()).unwrap();
    let p2 = v.upload_part("b", "k", id, 2, b"last", now()).unwrap();
    let mut wrong = complete(&[(1, &p1)]);
    wrong.parts[0].1 = "\"0123456789abcdef0123456789abcdef\"".into();
    let err = |c: &CompleteRequest| v.complete_upload("b", "k", id, c, now()).unwrap_err();
    assert!(matches!(err(&wrong), VaultError::InvalidPart(_)));
    assert!(matches!(
        err(&complete(&[(2, &p2), (1, &p1)])),
        VaultError::InvalidPartOrder
    ));
    assert!(matches!(
        err(&complete(&[(1, &p1), (2, &p2)])),
        VaultError::EntityTooSmall { part_number: 1 }
    ));
    assert!(matches!(
        v.upload_part("b", "k", id, 0, b"x", now()),
        Err(VaultError::InvalidArgument(_))
    ));
    assert!(matches!(
        v.upload_part("b", "other", id, 1, b"x", now()),
        Err(VaultError::NoSuchUpload { .. })
    ));
    // Still open after the failures, with its parts; then it aborts cleanly.
    assert_eq!(v.list_parts("b", "k", id, 0, 1).unwrap().parts.len(), 1);
    assert!(v.list_parts("b", "k", id, 0, 1).unwrap().is_truncated);
    v.abort_upload("b", "k", id).unwrap();
    assert!(
        !files_under(dir.path())
            .iter()
            .any(|p| p.to_string_lossy().contains("mpu"))
    );
    assert!(matches!(
        v.upload_part("b", "k", id, 1, b"x", now()),
        Err(VaultError::NoSuchUpload { .. })
    ));
    assert!(matches!(
        v.get_object("b", "k", None),
        Err(VaultError::NoSuchKey { .. })
    ));
}

#[test]
fn completion_obeys_put_if_absent_and_versioning() {
    let (_dir, v, _) = vault_with("b", "111122223333", false);
    v.set_versioning("b", Versioning::Enabled, None).unwrap();
    let first = v
        .put_object("b", "k", b"one", &PutRequest::default(), now())
        .unwrap();
    let u = v
        .create_upload("b", "k", &PutRequest::default(), now())
        .unwrap();
    let p = v
        .upload_part("b", "k", &u.upload_id, 1, b"two", now())
        .unwrap();
    let mut c = complete(&[(1, &p)]);
    c.if_none_match = true;
    assert!(matches!(
        v.complete_upload("b", "k", &u.upload_id, &c, now()),
        Err(VaultError::PreconditionFailed { .. })
    ));
    c.if_none_match = false;
    let o = v
        .complete_upload("b", "k", &u.upload_id, &c, now())
        .unwrap();
    assert_ne!(o.version_id, first.version_id);
    assert_eq!(v.get_object("b", "k", None).unwrap().1, b"two");
    assert_eq!(
        v.get_object("b", "k", Some(&first.version_id)).unwrap().1,
        b"one"
    );
}

#[test]
fn uploads_list_by_key_and_id_with_markers() {
    let (_dir, v, _) = vault_with("b", "111122223333", false);
    for k in ["a/1", "a/2", "b/1"] {
        v.create_upload("b", k, &PutRequest::default(), now())
            .unwrap();
    }
    let page = v.list_uploads("b", "a/", None, None, 1).unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.uploads[0].key, "a/1");
    let rest = v
        .list_uploads(
            "b",
            "a/",
            page.next_key_marker.as_deref(),
            page.next_upload_id_marker.as_deref(),
            10,
        )
        .unwrap();
    let keys: Vec<_> = rest.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["a/2"]);
    assert!(!rest.is_truncated);
}

#[test]
fn an_sse_kms_upload_keeps_the_key_chosen_at_create() {
    let (dir, v, _) = vault_with("b", "111122223333", false);
    let enc = BucketEncryption {
        algorithm: "aws:kms".into(),
        kms_key_id: Some("k1".into()),
        bucket_key_enabled: false,
    };
    v.put_doc(
        "b",
        DocKind::Encryption,
        &serde_json::to_string(&enc).unwrap(),
    )
    .unwrap();
    let u = v
        .create_upload("b", "k", &PutRequest::default(), now())
        .unwrap();
    let arn = "arn:aws:kms:us-east-1:111122223333:key/k1";
    assert_eq!(
        (u.sse.as_str(), u.kms_key_arn.as_deref()),
        ("aws:kms", Some(arn))
    );
    // Changing the bucket default later does not change the upload.
    v.delete_doc("b", DocKind::Encryption).unwrap();
    let secret = b"KMS-PART-PLAINTEXT-MARKER".repeat(100);
    let p = v
        .upload_part("b", "k", &u.upload_id, 1, &secret, now())
        .unwrap();
    let o = v
        .complete_upload("b", "k", &u.upload_id, &complete(&[(1, &p)]), now())
        .unwrap();
    assert_eq!(o.kms_key_arn.as_deref(), Some(arn));
    let (meta, got) = v.get_object("b", "k", None).unwrap();
    assert_eq!(meta.sse, "aws:kms");
    assert_eq!(got, secret);
    for f in files_under(dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(25).any(|w| w == &secret[..25]),
            "{}",
            f.display()
        );
    }
    let missing = PutRequest {
        sse: SseRequest::Kms(Some("missing".into())),
        ..PutRequest::default()
    };
    assert!(matches!(
        v.create_upload("b", "k2", &missing, now()),
        Err(VaultError::Kms(KeyServiceError::NotFound(_)))
    ));
}

#[test]
fn deleting_a_bucket_takes_its_uploads_along() {
    let (dir, v, _) = vault_with("b", "111122223333", false);
    let u = v
        .create_upload("b", "k", &PutRequest::default(), now())
        .unwrap();
    v.upload_part("b", "k", &u.upload_id, 1, b"left behind", now())
        .unwrap();
    v.delete_bucket("b").unwrap();
    assert!(
        !files_under(dir.path())
            .iter()
            .any(|p| p.to_string_lossy().contains("mpu"))
    );
    // A new bucket of the same name (any owner) does not inherit the upload.
    v.create_bucket("b", "444455556666", "us-east-1", false, now())
        .unwrap();
    assert!(
        v.list_uploads("b", "", None, None, 10)
            .unwrap()
            .uploads
            .is_empty()
    );
    assert!(matches!(
        v.upload_part("b", "k", &u.upload_id, 2, b"x", now()),
        Err(VaultError::NoSuchUpload { .. })
    ));
}
