//! Import of bucket directories written by earlier versions (the retired `LocalBucket`),
//! from a fixture tree that code wrote (`tests/fixtures/legacy-bucket-v1.tar.gz`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::{Bucket, ErrorClass, PutOptions};
use cairn_vault::legacy::{self, LegacyBucket};
use cairn_vault::{AesSealer, Owner, Vault, VaultError, Versioning};
use time::OffsetDateTime;

const DIGEST: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz";
const LOG: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/log 1.json.gz";
const KEYS: [&str; 4] = [DIGEST, LOG, "a/b/c/.hidden", "top.txt"];

/// Unpacks the fixture into `into`; returns the old bucket directory.
fn unpack(into: &Path) -> PathBuf {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-bucket-v1.tar.gz");
    std::fs::create_dir_all(into).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar failed");
    into.join("legacy-logs")
}

/// A vault in `dir` without a key service.
fn open(dir: &Path) -> Vault {
    Vault::open(dir, Arc::new(AesSealer::new(&[7; 32]).unwrap()), None).unwrap()
}

fn vault(dir: &Path) -> Arc<Vault> {
    let v = open(dir);
    v.ensure_bucket(
        "legacy-logs",
        "111122223333",
        "us-east-1",
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    Arc::new(v)
}

/// A temporary data directory with the fixture unpacked in its `buckets/` and a vault there:
/// (the directory, `buckets/`, the old bucket directory, the vault).
fn unpacked_vault() -> (tempfile::TempDir, PathBuf, PathBuf, Arc<Vault>) {
    let tmp = tempfile::tempdir().unwrap();
    let buckets = tmp.path().join("buckets");
    let old = unpack(&buckets);
    let v = vault(&buckets);
    (tmp, buckets, old, v)
}

/// Imports the old tree `old` into `legacy-logs`, moving it aside next to itself.
fn import(v: &Vault, old: &Path) -> cairn_vault::Result<Option<legacy::ImportReport>> {
    legacy::import_tree(v, "legacy-logs", old, old)
}

fn assert_imported(v: &Vault) {
    let d = v.head_object("legacy-logs", DIGEST, None).unwrap();
    assert_eq!(d.user_metadata["signature"], "00ff");
    assert_eq!(d.user_metadata["signing-algorithm"], "SHA256withRSA");
    assert_eq!(d.content_type.as_deref(), Some("application/json"));
    assert_eq!(d.sse, "AES256");
    assert_eq!(d.etag, cairn_store::md5_hex(b"digest body"));
    assert!(d.last_modified > OffsetDateTime::UNIX_EPOCH);
    assert_eq!(
        v.get_object("legacy-logs", DIGEST, None).unwrap().1,
        b"digest body"
    );
    assert_eq!(
        v.get_object("legacy-logs", LOG, None).unwrap().1,
        b"{\"Records\":[]}"
    );
    assert_eq!(
        v.get_object("legacy-logs", "top.txt", None).unwrap().1,
        b"top level"
    );
    // SSE-KMS was requested but no key service is set: still encrypted, under SSE-S3.
    assert_eq!(
        v.head_object("legacy-logs", "a/b/c/.hidden", None)
            .unwrap()
            .sse,
        "AES256"
    );
    // Exactly once each, even though the bucket keeps every version.
    let all = v
        .list_versions("legacy-logs", "", None, None, None, 1000)
        .unwrap();
    let keys: Vec<_> = all.versions.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, KEYS);
}

#[test]
fn fixture_reads_through_the_legacy_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let old = unpack(tmp.path());
    assert!(legacy::is_legacy_tree(&old));
    let keys: Vec<_> = legacy::scan(&old)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, KEYS);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = LegacyBucket::open("legacy-logs", &old).unwrap();
    rt.block_on(async {
        let o = b.get(DIGEST).await.unwrap();
        assert_eq!(o.bytes, "digest body");
        assert_eq!(o.meta.user_metadata["signature"], "00ff");
        let page = b.list("AWSLogs/", Some(DIGEST), 1).await.unwrap();
        assert_eq!(page.entries[0].key, LOG);
        assert!(!page.is_truncated);
        let page = b.list("", None, 2).await.unwrap();
        assert_eq!(page.next_marker.as_deref(), Some(LOG));
        assert_eq!(
            b.get("nope").await.unwrap_err().class(),
            ErrorClass::NotFound
        );
        let put = b.put("x", bytes::Bytes::new(), PutOptions::default()).await;
        assert_eq!(put.unwrap_err().class(), ErrorClass::Unauthorized);
    });
}

#[test]
fn legacy_reader_rejects_corrupt_files_and_ignores_foreign_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let old = unpack(tmp.path());
    // Foreign entries (no `@obj` suffix, non-canonical names, hidden files) are not keys.
    std::fs::write(old.join("top.txt"), b"x").unwrap();
    std::fs::write(old.join("%61@obj"), b"x").unwrap();
    std::fs::write(old.join(".hidden@obj"), b"x").unwrap();
    assert_eq!(legacy::scan(&old).unwrap().len(), KEYS.len());
    // A truncated object file is an error, never a short object.
    let path = old.join("top.txt@obj");
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() - 1]).unwrap();
    assert!(legacy::read_object(&path, "top.txt").is_err());
    // An object file moved to another key's path is detected.
    std::fs::write(&path, &data).unwrap();
    assert!(legacy::read_object(&path, "other").is_err());
}

#[test]
fn import_keeps_metadata_and_moves_the_tree_aside() {
    let (_tmp, buckets, old, v) = unpacked_vault();
    let report = import(&v, &old).unwrap().unwrap();
    assert_eq!((report.imported, report.skipped), (4, 0));
    assert_eq!(report.moved_to, buckets.join("legacy-logs.imported"));
    assert!(!old.exists() && report.moved_to.join("top.txt@obj").is_file());
    assert_imported(&v);
    // Nothing left to import.
    assert_eq!(import(&v, &old).unwrap(), None);
}

#[test]
fn an_interrupted_import_finishes_on_reopen_with_each_object_once() {
    for k in 0..KEYS.len() {
        let (_tmp, buckets, old, v) = unpacked_vault();
        // Versioned: a second put of a key would show as a second version.
        v.set_versioning("legacy-logs", Versioning::Enabled, None)
            .unwrap();
        // The import dies at object k (its file unreadable), after k objects are in.
        let (key, path) = legacy::scan(&old).unwrap().swap_remove(k);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, b"CAIRNOBJ").unwrap();
        let err = import(&v, &old).unwrap_err();
        assert!(matches!(err, VaultError::Corrupt(_)), "{err}");
        assert!(old.is_dir(), "the tree stays until the import is complete");
        assert_eq!(
            v.list_versions("legacy-logs", "", None, None, None, 1000)
                .unwrap()
                .versions
                .len(),
            k,
            "{key}"
        );
        // Restart: the file is whole again (the crash was in the importer, not the disk).
        std::fs::write(&path, good).unwrap();
        drop(v);
        let v = vault(&buckets);
        let report = import(&v, &old).unwrap().unwrap();
        assert_eq!((report.imported, report.skipped), (KEYS.len() - k, k));
        assert_imported(&v);
    }
}

#[test]
fn a_crash_after_the_last_object_but_before_the_rename_is_harmless() {
    let (_tmp, buckets, old, v) = unpacked_vault();
    import(&v, &old).unwrap();
    // As if the rename had not happened: the same tree is back.
    let old = unpack(&buckets);
    let report = import(&v, &old).unwrap().unwrap();
    assert_eq!((report.imported, report.skipped), (0, 4));
    assert_eq!(report.moved_to, buckets.join("legacy-logs.imported.2"));
    assert_imported(&v);
}

#[test]
fn a_key_with_other_content_is_a_conflict_and_nothing_moves() {
    let (_tmp, _, old, v) = unpacked_vault();
    v.put_object(
        "legacy-logs",
        "top.txt",
        b"newer",
        &Default::default(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let err = import(&v, &old).unwrap_err();
    assert!(matches!(err, VaultError::ImportConflict { .. }), "{err}");
    assert!(old.is_dir());
    assert_eq!(
        v.get_object("legacy-logs", "top.txt", None).unwrap().1,
        b"newer"
    );
}

#[test]
fn configured_buckets_import_on_first_open() {
    let owner = Owner {
        account: "111122223333",
        region: "us-east-1",
    };
    let cfg: cairn_store::BucketConfig = toml_local(None);
    // Default place: `<data_dir>/buckets/<name>`, into the shared vault.
    let tmp = tempfile::tempdir().unwrap();
    let buckets = tmp.path().join("buckets");
    let old = unpack(&buckets);
    let shared = Arc::new(open(&buckets));
    cairn_vault::open_bucket("legacy-logs", &cfg, &shared, tmp.path(), owner).unwrap();
    assert!(!old.exists() && buckets.join("legacy-logs.imported").is_dir());
    assert_imported(&shared);

    // A custom root: the tree is staged aside, a vault of its own takes the root.
    let root = unpack(&tmp.path().join("custom"));
    let cfg = toml_local(Some(&root));
    for _ in 0..2 {
        cairn_vault::open_bucket("legacy-logs", &cfg, &shared, tmp.path(), owner).unwrap();
    }
    assert!(root.join("vault.sqlite").is_file());
    assert!(
        tmp.path()
            .join("custom/legacy-logs.imported/top.txt@obj")
            .is_file()
    );
    let own = open(&root);
    assert_imported(&own);
}

fn toml_local(root: Option<&Path>) -> cairn_store::BucketConfig {
    cairn_store::BucketConfig::Local(cairn_store::LocalConfig {
        root: root.map(Path::to_owned),
    })
}
