//! Local-store (vault bucket) put (create-only, fsynced) and get of 1 KiB, 64 KiB and 5 MiB
//! objects, against a baseline measured in the same run on the same file system:
//! `File::create` + `write_all` + `sync_all` for puts, `std::fs::read` for gets.
//!
//! A put does more than the baseline: a fresh data key wrapped by the SSE-S3 root, AES-GCM of
//! the body, an atomic body file (temporary file + fsync + rename + fsync of the directory),
//! MD5, and one SQLite transaction (WAL, `synchronous=FULL`). Objects are deleted outside the
//! timed section so the disk does not fill. Set `CAIRN_BENCH_DIR` to measure another file
//! system. (Bench ids keep the name `local`: the series continues from the retired
//! `LocalBucket`'s.)

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::Arc;

use cairn_store::{Bucket, PutOptions};
use cairn_vault::{AesSealer, Vault, VaultBucket};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SIZES: &[(usize, &str)] = &[(1 << 10, "1KiB"), (64 << 10, "64KiB"), (5 << 20, "5MiB")];

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("CAIRN_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(PathBuf::from(dir)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn body(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>())
}

/// An `iter_custom` routine: each round `measured(n)` is timed, then `cleanup(n)` runs
/// outside the timed section (so the disk does not fill); `n` counts rounds across calls, so
/// every round gets a fresh name.
fn timed_rounds(
    mut measured: impl FnMut(u64),
    mut cleanup: impl FnMut(u64),
) -> impl FnMut(u64) -> Duration {
    let mut n = 0u64;
    move |iters| {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            n += 1;
            let started = Instant::now();
            measured(n);
            spent += started.elapsed();
            cleanup(n);
        }
        spent
    }
}

fn put(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = bench_dir();
    let vault = Vault::open(
        &dir.path().join("buckets"),
        Arc::new(AesSealer::new(&[7; 32]).unwrap()),
        None,
    )
    .unwrap();
    vault
        .ensure_bucket(
            "bench",
            "111122223333",
            "us-east-1",
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    let bucket = VaultBucket::new(Arc::new(vault), "bench");
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();

    // A resident object under the same prefix, as in a day of delivery.
    rt.block_on(bucket.put(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/resident.json.gz",
        Bytes::from_static(b"x"),
        PutOptions::default(),
    ))
    .unwrap();

    let mut group = c.benchmark_group("put");
    for &(size, label) in SIZES {
        let data = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("local_create_only", label),
            &data,
            |b, data| {
                let key = |n| {
                    format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/f{n}.json.gz")
                };
                b.iter_custom(timed_rounds(
                    |n| {
                        rt.block_on(bucket.put(&key(n), data.clone(), PutOptions::default()))
                            .unwrap();
                    },
                    |n| rt.block_on(bucket.delete(&key(n))).unwrap(),
                ));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("fs_write_sync_all", label),
            &data,
            |b, data| {
                let path = |n| raw_dir.join(format!("f{n}"));
                b.iter_custom(timed_rounds(
                    |n| {
                        let mut f = std::fs::File::create(path(n)).unwrap();
                        f.write_all(data).unwrap();
                        f.sync_all().unwrap();
                    },
                    |n| std::fs::remove_file(path(n)).unwrap(),
                ));
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("get");
    for &(size, label) in SIZES {
        let data = body(size);
        let key = format!("get/{label}");
        rt.block_on(bucket.put(&key, data.clone(), PutOptions::default()))
            .unwrap();
        let raw = raw_dir.join(label);
        std::fs::write(&raw, &data).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("local", label), |b| {
            b.iter(|| black_box(rt.block_on(bucket.get(&key)).unwrap()));
        });
        group.bench_function(BenchmarkId::new("fs_read", label), |b| {
            b.iter(|| black_box(std::fs::read(&raw).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, put);
criterion_main!(benches);
