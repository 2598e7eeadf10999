//! Reading the Parquet copy sealed at rest against reading the same copy in plaintext: the
//! same shared CloudTrail records (`shared/data/cloudtrail`), compacted twice (plaintext Hive
//! layout, and sealed under a bucket key), then queried through a fresh session per iteration
//! (as each StartQuery does: the sealed store's cache lives as long as the query).
//!
//! Run: `cargo bench -p cairn-lake --bench sealed_read`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use cairn_lake::{Compactor, Lake, Source, SourceKeys};
use criterion::{Criterion, criterion_group, criterion_main};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail")
}

const QUERIES: &[(&str, &str)] = &[
    ("count", "SELECT count(*) FROM events"),
    (
        "group_by",
        "SELECT eventName, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10",
    ),
    (
        "wide",
        "SELECT eventID, eventTime, userIdentity.arn, requestParameters FROM events ORDER BY eventID",
    ),
];

fn run(rt: &tokio::runtime::Runtime, source: &Source, sql: &str) -> usize {
    rt.block_on(async {
        let lake = Lake::new(2);
        let plan = lake.register("events", source).await.unwrap();
        assert_eq!(plan.json_files, 0, "the copy covers every file");
        let (_, batches) = lake.run(sql).await.unwrap();
        batches.iter().map(|b| b.num_rows()).sum()
    })
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let master = cairn_core::secrets::MasterKey::from_bytes(&[7u8; 32]).unwrap();
    let keys = SourceKeys {
        logs: cairn_lake::LakeKey::derive(&master, "bench/logs").unwrap(),
        copy: cairn_lake::LakeKey::derive(&master, "bench/parquet").unwrap(),
    };
    // The readable shared files (one is corrupt on purpose), in plaintext and sealed.
    let (plain_logs, sealed_logs) = (tmp.path().join("logs"), tmp.path().join("sealed-logs"));
    for f in cairn_lake::files::list(&shared()).unwrap() {
        if cairn_lake::files::read_records(&f.path).is_err() {
            continue;
        }
        let raw = std::fs::read(&f.path).unwrap();
        for (root, bytes) in [
            (&plain_logs, raw.clone()),
            (&sealed_logs, keys.logs.seal(&f.rel, &raw).unwrap()),
        ] {
            let to = root.join(&f.rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(&to, bytes).unwrap();
        }
    }
    let plain = Source {
        json_root: plain_logs,
        parquet_dir: Some(tmp.path().join("plain")),
        keys: None,
    };
    let sealed = Source {
        json_root: sealed_logs,
        parquet_dir: Some(tmp.path().join("sealed")),
        keys: Some(keys),
    };
    for s in [&plain, &sealed] {
        Compactor::for_source(s).unwrap().run().unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("parquet_copy");
    for (name, sql) in QUERIES {
        assert_eq!(run(&rt, &plain, sql), run(&rt, &sealed, sql), "{name}");
        g.bench_function(format!("{name}/plaintext"), |b| {
            b.iter(|| black_box(run(&rt, &plain, sql)))
        });
        g.bench_function(format!("{name}/sealed"), |b| {
            b.iter(|| black_box(run(&rt, &sealed, sql)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
