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
    };
    let with_parquet = Source {
        json_root: src.clone(),
        parquet_dir: Some(out.clone()),
    };
    let rt = rt();
    let expect = |s: &Source| -> Vec<Vec<Vec<Option<String>>>> {
        rt.block_on(async {
            let mut v = Vec::new();
            for q in QUERIES {
                v.push(query(s, q).await);
            }
            v
        })
    };

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
