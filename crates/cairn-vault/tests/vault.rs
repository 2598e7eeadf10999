//! Vault behaviour: conformance as a `cairn_store::Bucket`, versioning, object lock,
//! lifecycle, SSE-KMS through a fake key service, and no plaintext on disk.

mod common;

use cairn_vault::*;
use common::{files_under, now, vault, vault_with};
use time::{Duration, OffsetDateTime};

/// No requester: these tests do not look at notifications.
const O: cairn_vault::EventOrigin = cairn_vault::EventOrigin {
    principal_id: String::new(),
    source_ip: String::new(),
    request_id: String::new(),
};

/// Stores `doc` as JSON, the way the S3 API stores a bucket configuration.
fn put_json_doc(v: &Vault, bucket: &str, kind: DocKind, doc: &impl serde::Serialize) {
    v.put_doc(bucket, kind, &serde_json::to_string(doc).unwrap())
        .unwrap();
}

/// Puts `body` under `key` with a default request (no SSE, no lock, no condition).
fn put(v: &Vault, bucket: &str, key: &str, body: &[u8], t: OffsetDateTime) -> PutOutcome {
    v.put_object(bucket, key, body, &PutRequest::default(), t)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_as_a_store_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = vault(dir.path());
    v.create_bucket("conformance", "111122223333", "us-east-1", false, now())
        .unwrap();
    let b = VaultBucket::new(v.clone(), "conformance");
    cairn_store::testkit::conformance(&b).await.unwrap();
    // And in a versioned bucket (deletes leave delete markers, puts after them succeed).
    v.create_bucket("versioned", "111122223333", "us-east-1", false, now())
        .unwrap();
    v.set_versioning("versioned", Versioning::Enabled, None)
        .unwrap();
    let b = VaultBucket::new(v, "versioned");
    cairn_store::testkit::conformance(&b).await.unwrap();
}

#[test]
fn versioning_delete_markers_and_null_versions() {
    let (_dir, v, _) = vault_with("b", "1", false);
    let t = now();
    let req = PutRequest::default();
    // Unversioned: one null version, overwritten in place.
    let p = v.put_object("b", "k", b"a", &req, t).unwrap();
    assert_eq!(p.version_id, NULL_VERSION);
    v.put_object("b", "k", b"b", &req, t).unwrap();
    let l = v.list_versions("b", "", None, None, None, 1000).unwrap();
    assert_eq!(l.versions.len(), 1);
    // Enabled: versions pile up, delete makes a marker.
    v.set_versioning("b", Versioning::Enabled, Some(true))
        .unwrap();
    assert!(v.bucket("b").unwrap().mfa_delete);
    let v2 = v.put_object("b", "k", b"c", &req, t).unwrap();
    assert_ne!(v2.version_id, NULL_VERSION);
    let d = v.delete_object("b", "k", None, false, &O, t).unwrap();
    assert!(d.delete_marker);
    assert!(matches!(
        v.get_object("b", "k", None),
        Err(VaultError::DeleteMarker { .. })
    ));
    assert_eq!(
        v.get_object("b", "k", Some(&v2.version_id)).unwrap().1,
        b"c"
    );
    assert_eq!(v.get_object("b", "k", Some("null")).unwrap().1, b"b");
    let l = v.list_versions("b", "", None, None, None, 1000).unwrap();
    let ids: Vec<_> = l
        .versions
        .iter()
        .map(|x| (x.delete_marker, x.is_latest))
        .collect();
    assert_eq!(ids, [(true, true), (false, false), (false, false)]);
    assert!(
        v.list_objects("b", "", None, None, 1000)
            .unwrap()
            .objects
            .is_empty()
    );
    // Removing the marker brings the object back.
    v.delete_object("b", "k", d.version_id.as_deref(), false, &O, t)
        .unwrap();
    assert_eq!(v.get_object("b", "k", None).unwrap().1, b"c");
    // Suspended: puts replace the null version, older versions stay.
    v.set_versioning("b", Versioning::Suspended, None).unwrap();
    v.put_object("b", "k", b"d", &req, t).unwrap();
    let l = v.list_versions("b", "", None, None, None, 1000).unwrap();
    assert_eq!(l.versions.len(), 2);
    assert_eq!(v.get_object("b", "k", None).unwrap().1, b"d");
    // Version listing pages with markers.
    let p1 = v.list_versions("b", "", None, None, None, 1).unwrap();
    assert!(p1.is_truncated);
    let p2 = v
        .list_versions(
            "b",
            "",
            p1.next_key_marker.as_deref(),
            p1.next_version_id_marker.as_deref(),
            None,
            1,
        )
        .unwrap();
    assert_eq!(p2.versions[0].version_id, v2.version_id);
    assert!(matches!(
        v.delete_bucket("b"),
        Err(VaultError::BucketNotEmpty { .. })
    ));
}

#[test]
fn object_lock_refuses_overwrite_and_delete() {
    let (_dir, v, _) = vault_with("locked", "1", true);
    let t = now();
    let cfg = ObjectLockConfig {
        enabled: true,
        default_retention: Some(DefaultRetention {
            mode: RetentionMode::Governance,
            days: Some(1),
            years: None,
        }),
    };
    put_json_doc(&v, "locked", DocKind::ObjectLock, &cfg);
    let p = put(&v, "locked", "log", b"x", t);
    let err = v
        .put_object("locked", "log", b"y", &PutRequest::default(), t)
        .unwrap_err();
    assert_eq!(err.s3_code(), "AccessDenied");
    let err = v
        .delete_object("locked", "log", Some(&p.version_id), false, &O, t)
        .unwrap_err();
    assert!(matches!(err, VaultError::ObjectLocked { .. }));
    // Governance bypass allows it; compliance never does.
    let c = v
        .put_object(
            "locked",
            "c",
            b"x",
            &PutRequest {
                retention: Some(Retention {
                    mode: RetentionMode::Compliance,
                    retain_until: t + Duration::days(3),
                }),
                ..PutRequest::default()
            },
            t,
        )
        .unwrap();
    assert!(
        v.delete_object("locked", "c", Some(&c.version_id), true, &O, t)
            .is_err()
    );
    assert!(
        v.set_retention("locked", "c", None, None, true, t).is_err(),
        "compliance retention cannot be removed"
    );
    v.delete_object("locked", "log", Some(&p.version_id), true, &O, t)
        .unwrap();
    // After retention ends the version can go.
    v.delete_object(
        "locked",
        "c",
        Some(&c.version_id),
        false,
        &O,
        t + Duration::days(4),
    )
    .unwrap();
    assert!(
        v.set_versioning("locked", Versioning::Suspended, None)
            .is_err()
    );
}

#[test]
fn sse_kms_and_disabled_key() {
    let (_dir, v, kms) = vault_with("k", "111122223333", false);
    let t = now();
    let req = PutRequest {
        sse: SseRequest::Kms(Some("key-1".into())),
        ..PutRequest::default()
    };
    let p = v.put_object("k", "obj", b"kms secret", &req, t).unwrap();
    assert_eq!(p.sse, "aws:kms");
    assert_eq!(
        p.kms_key_arn.as_deref(),
        Some("arn:aws:kms:us-east-1:111122223333:key/key-1")
    );
    assert_eq!(v.get_object("k", "obj", None).unwrap().1, b"kms secret");
    *kms.disabled.lock().unwrap() = true;
    let err = v.get_object("k", "obj", None).unwrap_err();
    assert_eq!(err.s3_code(), "KMS.DisabledException");
    *kms.disabled.lock().unwrap() = false;
    // Bucket default encryption picks SSE-KMS.
    let enc = BucketEncryption {
        algorithm: "aws:kms".into(),
        kms_key_id: Some("key-2".into()),
        bucket_key_enabled: false,
    };
    put_json_doc(&v, "k", DocKind::Encryption, &enc);
    let p = put(&v, "k", "d", b"x", t);
    assert!(p.kms_key_arn.unwrap().ends_with("key/key-2"));
    let err = v
        .put_object(
            "k",
            "e",
            b"x",
            &PutRequest {
                sse: SseRequest::Kms(Some("missing".into())),
                ..PutRequest::default()
            },
            t,
        )
        .unwrap_err();
    assert_eq!(err.s3_code(), "KMS.NotFoundException");
}

#[test]
fn listing_v1_semantics() {
    let (_dir, v, _) = vault_with("l", "1", false);
    let t = now();
    for k in ["a/1", "a/2", "a/b/3", "b", "a-", "é", "Z"] {
        put(&v, "l", k, k.as_bytes(), t);
    }
    let all = v.list_objects("l", "", None, None, 1000).unwrap();
    let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["Z", "a-", "a/1", "a/2", "a/b/3", "b", "é"]);
    let d = v.list_objects("l", "a/", None, Some("/"), 1000).unwrap();
    assert_eq!(d.common_prefixes, ["a/b/"]);
    assert_eq!(d.objects.len(), 2);
    let p = v.list_objects("l", "", Some("a/1"), None, 2).unwrap();
    let keys: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/2", "a/b/3"]);
    assert!(p.is_truncated);
    assert_eq!(p.next_marker.as_deref(), Some("a/b/3"));
    let top = v.list_objects("l", "", None, Some("/"), 2).unwrap();
    assert_eq!(top.objects.len(), 2);
    assert!(top.is_truncated);
    let rest = v
        .list_objects("l", "", top.next_marker.as_deref(), Some("/"), 10)
        .unwrap();
    assert_eq!(rest.common_prefixes, ["a/"]);
}

#[test]
fn lifecycle_transitions_and_expires() {
    let (_dir, v, _) = vault_with("lc", "1", false);
    let t0 = now();
    v.set_versioning("lc", Versioning::Enabled, None).unwrap();
    let cfg = LifecycleConfig {
        rules: vec![LifecycleRule {
            id: Some("r".into()),
            enabled: true,
            prefix: "logs/".into(),
            expiration_days: Some(10),
            transitions: vec![(2, "GLACIER".into())],
            noncurrent_expiration_days: Some(1),
            ..LifecycleRule::default()
        }],
    };
    put_json_doc(&v, "lc", DocKind::Lifecycle, &cfg);
    let body = vec![b'z'; 10_000];
    let old = put(&v, "lc", "logs/a", b"old", t0);
    put(&v, "lc", "logs/a", &body, t0);
    put(&v, "lc", "keep/b", b"b", t0);
    let day = 60;
    let acts = v
        .apply_lifecycle(t0 + Duration::seconds(3 * day), day)
        .unwrap();
    let names: Vec<_> = acts.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(names, ["Transition:GLACIER", "NoncurrentVersionExpiration"]);
    assert_eq!(acts[1].version_id, old.version_id);
    let (meta, got) = v.get_object("lc", "logs/a", None).unwrap();
    assert_eq!(meta.storage_class, "GLACIER");
    assert_eq!(got, body, "archived objects stay readable");
    let acts = v
        .apply_lifecycle(t0 + Duration::seconds(11 * day), day)
        .unwrap();
    assert_eq!(acts[0].action, "Expiration");
    assert!(v.get_object("lc", "logs/a", None).is_err());
    assert!(v.get_object("lc", "keep/b", None).is_ok());
    assert_eq!(v.lifecycle_log("lc").unwrap().len(), 3);
}

/// S3 refuses a lifecycle configuration on an MFA-delete bucket and MFA delete on a bucket
/// with one; a bucket that has both anyway (data from before the rule) is never expired.
#[test]
fn lifecycle_and_mfa_delete_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = vault(dir.path());
    let t0 = now();
    let cfg = serde_json::to_string(&LifecycleConfig {
        rules: vec![LifecycleRule {
            enabled: true,
            noncurrent_expiration_days: Some(1),
            ..LifecycleRule::default()
        }],
    })
    .unwrap();
    v.create_bucket("mfa", "1", "us-east-1", false, t0).unwrap();
    v.set_versioning("mfa", Versioning::Enabled, Some(true))
        .unwrap();
    let e = v.put_doc("mfa", DocKind::Lifecycle, &cfg).unwrap_err();
    assert_eq!((e.s3_code(), e.http_status()), ("InvalidBucketState", 409));
    assert!(v.get_doc("mfa", DocKind::Lifecycle).is_err());

    v.create_bucket("lc", "1", "us-east-1", false, t0).unwrap();
    v.set_versioning("lc", Versioning::Enabled, None).unwrap();
    v.put_doc("lc", DocKind::Lifecycle, &cfg).unwrap();
    let e = v
        .set_versioning("lc", Versioning::Enabled, Some(true))
        .unwrap_err();
    assert_eq!(e.s3_code(), "InvalidBucketState");
    assert!(!v.bucket("lc").unwrap().mfa_delete);

    // Both at once, as an older data directory may hold them: nothing is expired.
    let old = put(&v, "lc", "k", b"old", t0);
    put(&v, "lc", "k", b"new", t0);
    drop(v);
    rusqlite::Connection::open(dir.path().join("vault.sqlite"))
        .unwrap()
        .execute("UPDATE buckets SET mfa_delete = 1 WHERE name = 'lc'", [])
        .unwrap();
    let (v, _) = vault(dir.path());
    let acts = v
        .apply_lifecycle(t0 + Duration::seconds(10 * 60), 60)
        .unwrap();
    assert!(acts.is_empty(), "{acts:?}");
    assert!(v.get_object("lc", "k", Some(&old.version_id)).is_ok());
}

#[test]
fn no_plaintext_on_disk() {
    let (dir, v, _) = vault_with("p", "1", false);
    let t = now();
    let secret = b"PLAINTEXT-MARKER-a8f3e1c7-never-on-disk".repeat(20);
    put(&v, "p", "x", &secret, t);
    v.put_object(
        "p",
        "y",
        &secret,
        &PutRequest {
            sse: SseRequest::Kms(Some("k".into())),
            ..PutRequest::default()
        },
        t,
    )
    .unwrap();
    let needle = b"PLAINTEXT-MARKER-a8f3e1c7";
    let files = files_under(dir.path());
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "plaintext found in {}",
            p.display()
        );
    }
    assert!(files.len() >= 3);
    assert_eq!(v.get_object("p", "y", None).unwrap().1, secret);
}

/// A body changed at rest fails AES-GCM: the vault says so (not a generic internal error), and
/// through the `Bucket` trait it is the `Corrupt` class that audit readers count as a mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_changed_at_rest_is_reported_as_tampered() {
    use cairn_store::{Bucket, ErrorClass};
    let (dir, v, _) = vault_with("t", "1", false);
    let body = b"a delivered log file".repeat(10);
    let files = || files_under(&dir.path().join(".vault"));
    put(&v, "t", "log.json.gz", &body, now());
    let log_body = files();
    assert_eq!(log_body.len(), 1, "{log_body:?}");
    put(&v, "t", "other", &body, now());
    assert_eq!(files().len(), 2);
    // One byte of the log's body file flipped; the other object is untouched.
    let mut bytes = std::fs::read(&log_body[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&log_body[0], bytes).unwrap();
    assert_eq!(v.get_object("t", "other", None).unwrap().1, body);
    let err = v.get_object("t", "log.json.gz", None).unwrap_err();
    assert!(matches!(err, VaultError::Tampered(_)), "{err:?}");
    assert_eq!(store_class(&err), ErrorClass::Corrupt);
    assert_eq!(err.http_status(), 500);
    let b = VaultBucket::new(v, "t");
    let err = b.get("log.json.gz").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Corrupt, "{err}");
    assert_eq!(
        b.get("missing").await.unwrap_err().class(),
        ErrorClass::NotFound
    );
}
