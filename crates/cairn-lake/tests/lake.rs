//! The lake over the shared real CloudTrail records: JSON scans, the Parquet copy, and the
//! compactor's incremental and restart behaviour. (One test binary: DataFusion links slowly.)

use std::path::{Path, PathBuf};

use cairn_lake::{Compactor, Lake, Manifest, Source, rows_as_text};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn query(source: &Source, sql: &str) -> Vec<Vec<Option<String>>> {
    let lake = Lake::new(2);
    lake.register("events", source).await.unwrap();
    let (schema, batches) = lake.run(sql).await.unwrap();
    rows_as_text(&schema, &batches).unwrap().1
}

/// The answers of every query of [`QUERIES`] over `source`.
fn answers(rt: &tokio::runtime::Runtime, source: &Source) -> Vec<Vec<Vec<Option<String>>>> {
    rt.block_on(async {
        let mut v = Vec::new();
        for q in QUERIES {
            v.push(query(source, q).await);
        }
        v
    })
}

const QUERIES: &[&str] = &[
    "SELECT count(*) FROM events",
    "SELECT eventID, eventTime, eventName, userIdentity.arn, userIdentity.sessionContext.attributes.mfaAuthenticated, readOnly, requestParameters, errorCode FROM events ORDER BY eventID, eventTime",
    "SELECT userIdentity.arn AS who, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC, who LIMIT 10",
    "SELECT eventName, errorCode, count(*) FROM events WHERE errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
    "SELECT json_get(requestParameters, 'bucketName') AS b, count(*) FROM events WHERE eventSource = 's3.amazonaws.com' GROUP BY 1 ORDER BY 2 DESC, 1",
    "SELECT r.item['ARN'] FROM (SELECT unnest(resources) AS item FROM events) r ORDER BY 1 LIMIT 5",
];

#[test]
fn shared_records_are_read_with_their_schema() {
    rt().block_on(async {
        let source = Source {
            json_root: shared(),
            parquet_dir: None,
            keys: None,
        };
        let n = query(&source, "SELECT count(*) FROM events").await;
        // 2,900 + 103 + 25 records (shared/data/README.md).
        assert_eq!(n, vec![vec![Some("3028".to_string())]]);
        let mfa = query(
            &source,
            "SELECT count(*) FROM events WHERE eventName = 'ConsoleLogin' AND additionalEventData LIKE '%\"MFAUsed\":\"No\"%'",
        )
        .await;
        assert_ne!(mfa[0][0].as_deref(), Some("0"));
        let t = query(
            &source,
            "SELECT min(eventTime), max(eventTime) FROM events WHERE recipientAccountId = '123837392027'",
        )
        .await;
        assert!(t[0][0].as_deref().unwrap().starts_with("2023-07-10T"), "{t:?}");
    });
}

#[test]
fn bad_sql_has_a_position_and_unknown_tables_are_named() {
    rt().block_on(async {
        let lake = Lake::new(1);
        let e = lake
            .sql("SELECT eventName FROM events WHERE eventName = = 'x'")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("Line: 1, Column"), "{e}");
        let e = lake.sql("SELECT * FROM nowhere").await.unwrap_err();
        assert!(e.to_string().contains("nowhere"), "{e}");
        assert!(e.to_string().contains("not found"), "{e}");
    });
}

#[test]
fn parquet_copy_answers_like_the_json_and_compaction_is_incremental_and_restart_safe() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("logs");
    let out = tmp.path().join("parquet");
    // Half the files first.
    let all: Vec<_> = std::fs::read_dir(shared().join("invictus-ir-sigma-aws"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    let day = src.join("AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10");
    std::fs::create_dir_all(&day).unwrap();
    for p in &all[..all.len() / 2] {
        std::fs::copy(p, day.join(p.file_name().unwrap())).unwrap();
    }
    copy_dir(&shared().join("otrf-security-datasets"), &src.join("otrf"));

    let json_only = Source {
        json_root: src.clone(),
        parquet_dir: None,
        keys: None,
    };
    let with_parquet = Source {
        json_root: src.clone(),
        parquet_dir: Some(out.clone()),
        keys: None,
    };
    let rt = rt();
    let expect = |s: &Source| answers(&rt, s);

    let mut c = Compactor::new(&src, &out);
    let first = c.run().unwrap();
    assert!(first.files > 0 && first.records > 0);
    assert_eq!(expect(&with_parquet), expect(&json_only));
    let m1 = Manifest::load(&out).unwrap();
    assert_eq!(m1.absorbed.len(), first.files);

    // Nothing new: nothing done.
    assert_eq!(c.run().unwrap().files, 0);

    // New files arrive: the copy covers the old ones, the JSON the new ones; same answers.
    for p in &all[all.len() / 2..] {
        std::fs::copy(p, day.join(p.file_name().unwrap())).unwrap();
    }
    assert_eq!(expect(&with_parquet), expect(&json_only));

    // A pass that "crashed" after writing Parquet but before its manifest: simulate by
    // restoring the old manifest after a pass, leaving its Parquet files unlisted.
    let saved = std::fs::read(out.join(cairn_lake::compact::MANIFEST)).unwrap();
    let second = Compactor::new(&src, &out).run().unwrap();
    assert_eq!(second.files, all.len() - all.len() / 2);
    std::fs::write(out.join(cairn_lake::compact::MANIFEST), &saved).unwrap();
    // Readers trust the manifest: still the same answers (no double counting).
    assert_eq!(expect(&with_parquet), expect(&json_only));
    // A restarted compactor removes the strays and absorbs the files again.
    let again = Compactor::new(&src, &out).run().unwrap();
    assert_eq!(again.files, second.files);
    let m = Manifest::load(&out).unwrap();
    assert_eq!(m.absorbed.len(), first.files + second.files);
    let on_disk = walk(&out)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();
    assert_eq!(on_disk, m.parquet.len());
    assert_eq!(expect(&with_parquet), expect(&json_only));
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn a_corrupt_log_file_fails_the_pass_without_absorbing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("logs");
    let out = tmp.path().join("parquet");
    copy_dir(&shared().join("invictus-ir-sigma-aws"), &src);
    // Sorted in the middle of the good files, so workers decode files on both sides of it.
    std::fs::write(src.join("m-corrupt.json"), b"{\"Records\":[{\"eventName\":").unwrap();
    let mut c = Compactor::new(&src, &out);
    let err = c.run().unwrap_err().to_string();
    assert!(err.contains("m-corrupt.json"), "{err}");
    let m = Manifest::load(&out).unwrap();
    assert!(m.absorbed.is_empty() && m.parquet.is_empty(), "{m:?}");
    // Once the file is repaired, the next pass absorbs everything.
    std::fs::write(src.join("m-corrupt.json"), b"{\"Records\":[]}").unwrap();
    let stats = c.run().unwrap();
    let logs = walk(&src).iter().filter(|p| p.ends_with(".json")).count();
    assert_eq!(stats.files, logs);
}

fn master() -> cairn_core::secrets::MasterKey {
    cairn_core::secrets::MasterKey::from_bytes(&[7u8; 32]).unwrap()
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &[u8]) -> Option<String> {
    walk(dir).into_iter().find(|p| {
        std::fs::read(p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    })
}

async fn try_query(source: &Source, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let lake = Lake::new(2);
    lake.register("events", source)
        .await
        .map_err(|e| e.to_string())?;
    let (schema, batches) = lake.run(sql).await.map_err(|e| e.to_string())?;
    Ok(rows_as_text(&schema, &batches).unwrap().1)
}

/// An event data store of a data directory with the shared Sigma logs, written in plaintext
/// (as a version that did not seal them did), with a plaintext Parquet copy beside them.
fn legacy_store(data: &Path, id: &str) -> Source {
    let dir = cairn_lake::layout::store_dir(data, id);
    copy_dir(&shared().join("invictus-ir-sigma-aws"), &dir.join("logs"));
    // Only log files (the shared directory has notes beside them).
    for f in walk(&dir.join("logs")) {
        if !cairn_lake::files::is_log_name(&f) {
            std::fs::remove_file(f).unwrap();
        }
    }
    Compactor::new(dir.join("logs"), dir.join("parquet"))
        .run()
        .unwrap();
    assert!(any_file_holds(&dir.join("parquet"), b"PAR1").is_some());
    Source {
        json_root: dir.join("logs"),
        parquet_dir: None,
        keys: None,
    }
}

/// Event data stores' log files and Parquet copies are sealed at rest: plaintext logs of an
/// older version are sealed in place (they are the only copy), its plaintext Parquet copy is
/// never read and is rebuilt sealed, and every answer is the plaintext logs' answer.
#[test]
fn lake_store_logs_and_copy_are_sealed_and_answer_like_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let plain = legacy_store(&data, "s1");
    let reference = tmp.path().join("reference");
    copy_dir(&plain.json_root, &reference);
    let reference = Source {
        json_root: reference,
        parquet_dir: None,
        keys: None,
    };
    let master = master();
    let rt = rt();
    let answers = |s: &Source| answers(&rt, s);
    let expected = answers(&reference);

    let sealed = cairn_lake::layout::seal_store_logs(&data, &master).unwrap();
    let logs = cairn_lake::files::list(&reference.json_root).unwrap().len();
    assert_eq!(sealed, logs);
    assert_eq!(
        cairn_lake::layout::seal_store_logs(&data, &master).unwrap(),
        0
    );
    let store = cairn_lake::layout::store_source(&data, "s1", &master).unwrap();
    // The older plaintext copy is not read: the (sealed) logs answer.
    let plan = rt
        .block_on(Lake::new(2).register("events", &store))
        .unwrap();
    assert_eq!(plan.parquet_files, 0, "{plan:?}");
    assert!(plan.json_files > 0);
    assert_eq!(answers(&store), expected);

    let stats = cairn_lake::layout::compact_stores(&data, &master).unwrap();
    assert_eq!(stats.files, sealed);
    let plan = rt
        .block_on(Lake::new(2).register("events", &store))
        .unwrap();
    assert_eq!(
        (plan.json_files, plan.parquet_files > 0),
        (0, true),
        "{plan:?}"
    );
    assert_eq!(answers(&store), expected);
    let dir = cairn_lake::layout::store_dir(&data, "s1");
    for needle in [&b"PAR1"[..], b"eventName", b"218007301253", b"eventday="] {
        assert_eq!(any_file_holds(&dir, needle), None, "{needle:?}");
    }
    // Nor in names: the older copy's partition directories are gone.
    let names: Vec<String> = std::fs::read_dir(dir.join("parquet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("eventday=")),
        "{names:?}"
    );
    assert!(
        Manifest::load(&dir.join("parquet")).is_err(),
        "a sealed manifest needs its key"
    );
}

/// A sealed file altered, or swapped with the same-named file of another store's copy, fails
/// the query: it is never read, nor silently skipped.
#[test]
fn lake_tampered_or_swapped_sealed_files_fail_the_query() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    legacy_store(&data, "s1");
    legacy_store(&data, "s2");
    let master = master();
    cairn_lake::layout::seal_store_logs(&data, &master).unwrap();
    cairn_lake::layout::compact_stores(&data, &master).unwrap();
    let rt = rt();
    let store = cairn_lake::layout::store_source(&data, "s1", &master).unwrap();
    let count = "SELECT count(*) FROM events";
    let good = rt.block_on(try_query(&store, count)).unwrap();
    let (d1, d2) = (
        cairn_lake::layout::store_dir(&data, "s1"),
        cairn_lake::layout::store_dir(&data, "s2"),
    );
    let parts: Vec<String> = walk(&d1.join("parquet"))
        .into_iter()
        .filter(|p| p.ends_with(cairn_lake::compact::SEALED_EXT))
        .collect();
    assert!(!parts.is_empty());
    let part = PathBuf::from(&parts[0]);
    let rel = part.strip_prefix(d1.join("parquet")).unwrap().to_owned();
    let original = std::fs::read(&part).unwrap();
    let check_fails = |what: &str| {
        let e = rt.block_on(try_query(&store, count)).unwrap_err();
        assert!(e.contains("authentication"), "{what}: {e}");
    };

    let mut bad = original.clone();
    bad[original.len() / 2] ^= 1;
    std::fs::write(&part, &bad).unwrap();
    check_fails("altered Parquet file");
    // The same name in the other store's copy: same size, other scope.
    std::fs::copy(d2.join("parquet").join(&rel), &part).unwrap();
    check_fails("swapped Parquet file");
    std::fs::write(&part, &original).unwrap();
    assert_eq!(rt.block_on(try_query(&store, count)).unwrap(), good);

    let manifest = d1.join("parquet").join(cairn_lake::compact::MANIFEST);
    let saved = std::fs::read(&manifest).unwrap();
    std::fs::copy(
        d2.join("parquet").join(cairn_lake::compact::MANIFEST),
        &manifest,
    )
    .unwrap();
    check_fails("swapped manifest");
    std::fs::write(&manifest, &saved).unwrap();

    let log = PathBuf::from(&walk(&d1.join("logs"))[0]);
    let log_rel = log.strip_prefix(d1.join("logs")).unwrap().to_owned();
    std::fs::copy(d2.join("logs").join(&log_rel), &log).unwrap();
    let mut c = Compactor::for_source(&store).unwrap();
    // The log is absorbed already: a fresh copy must read it again.
    std::fs::remove_file(&manifest).unwrap();
    let e = c.run().unwrap_err().to_string();
    assert!(e.contains("authentication"), "swapped log file: {e}");
}

/// What the server's journal consumer writes into a store is sealed, and read back.
#[test]
fn lake_store_logs_written_by_the_server_are_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let master = master();
    let keys = cairn_lake::layout::store_keys(&master, "s1").unwrap();
    let body = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2026-01-01T00:00:00Z","eventName":"SecretOp","awsRegion":"us-east-1","recipientAccountId":"111111111111","eventID":"e1"}]}"#;
    let name = "00000000000000000001-00000000000000000001.json.gz";
    cairn_lake::layout::write_store_log(tmp.path(), &keys, "s1", name, body).unwrap();
    let dir = cairn_lake::layout::store_dir(tmp.path(), "s1");
    assert_eq!(any_file_holds(&dir, b"SecretOp"), None);
    let store = cairn_lake::layout::store_source(tmp.path(), "s1", &master).unwrap();
    let rows = rt().block_on(query(&store, "SELECT eventName FROM events"));
    assert_eq!(rows, [[Some("SecretOp".to_owned())]]);
    // Another store's keys do not open it.
    let other = Source {
        keys: Some(cairn_lake::layout::store_keys(&master, "s2").unwrap()),
        ..store
    };
    let e = rt().block_on(try_query(&other, "SELECT eventName FROM events"));
    assert!(e.unwrap_err().contains("authentication"));
}
