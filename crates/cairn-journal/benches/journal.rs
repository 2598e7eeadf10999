//! Journal append throughput with group commit, against the fsync limit of the same filesystem.
//!
//! - `append/{always,never}/{appenders}x{batch}`: one iteration = each of `appenders` threads
//!   appends one batch of `batch` 1.5 KB records; throughput in records and bytes.
//! - `raw_fsync/batch{n}`: baseline, one thread doing `write(n * 1.5 KB)` + `fdatasync` on a plain
//!   file in the same filesystem (the fsync limit of a non-grouped writer).
//! - `append/{always,never}-sealed/...`: the same with payloads encrypted (`JournalOptions::key`).
//! - After the criterion groups, a latency run prints p50/p99 ack latency at 16 appenders,
//!   plaintext and sealed.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cairn_journal::{Journal, JournalKey, JournalOptions, SyncMode};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const RECORD: usize = 1536;

fn record(i: usize) -> Vec<u8> {
    let head = format!("{{\"eventVersion\":\"1.11\",\"eventID\":\"{i:036}\",\"x\":\"");
    let mut v = head.into_bytes();
    v.resize(RECORD - 2, b'a' + (i % 26) as u8);
    v.extend_from_slice(b"\"}");
    v
}

fn bench_dir() -> tempfile::TempDir {
    // Same filesystem as the journal under test in both cases.
    tempfile::tempdir().expect("tempdir")
}

fn open(dir: &std::path::Path, sync: SyncMode, sealed: bool) -> Journal {
    let opts = JournalOptions {
        max_total_bytes: 64 << 30,
        sync,
        key: sealed.then(|| JournalKey::from_bytes(&[42; 32])),
        ..JournalOptions::default()
    };
    let j = Journal::open(dir, opts).expect("open");
    j.cursor("bench").expect("cursor");
    j
}

/// Runs `iters` appends of `batch` records on each of `appenders` threads; returns elapsed.
fn run(j: &Arc<Journal>, appenders: usize, batch: usize, iters: u64) -> Duration {
    let recs: Arc<Vec<Vec<u8>>> = Arc::new((0..batch).map(record).collect());
    let barrier = Arc::new(Barrier::new(appenders + 1));
    let handles: Vec<_> = (0..appenders)
        .map(|_| {
            let j = Arc::clone(j);
            let recs = Arc::clone(&recs);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
                barrier.wait();
                for _ in 0..iters {
                    black_box(j.append(&refs).expect("append"));
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("join");
    }
    let elapsed = start.elapsed();
    // Keep disk use bounded: let retention drop what was written.
    j.commit_cursor("bench", j.next_seq()).expect("commit");
    elapsed
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10);
    for (name, sync, sealed) in [
        ("always", SyncMode::Always, false),
        ("never", SyncMode::Never, false),
        ("always-sealed", SyncMode::Always, true),
        ("never-sealed", SyncMode::Never, true),
    ] {
        for appenders in [1usize, 4, 16] {
            for batch in [1usize, 100] {
                let dir = bench_dir();
                let j = Arc::new(open(dir.path(), sync, sealed));
                let n = (appenders * batch) as u64;
                g.throughput(Throughput::Elements(n));
                g.bench_function(
                    BenchmarkId::new(name, format!("{appenders}x{batch}")),
                    |b| b.iter_custom(|iters| run(&j, appenders, batch, iters)),
                );
            }
        }
    }
    g.finish();
}

fn raw_fsync(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw_fsync");
    g.sample_size(10);
    for batch in [1usize, 100] {
        let dir = bench_dir();
        let path = dir.path().join("raw");
        let buf: Vec<u8> = (0..batch).flat_map(record).collect();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new("write_fdatasync", batch), |b| {
            b.iter_custom(|iters| {
                let mut f = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .expect("open raw");
                let start = Instant::now();
                for _ in 0..iters {
                    f.write_all(&buf).expect("write");
                    f.sync_data().expect("fdatasync");
                }
                start.elapsed()
            });
        });
    }
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// p50/p99 ack latency and throughput at 16 appenders with fsync, batch 1 and 100.
fn latency_report() {
    for (batch, sealed) in [(1usize, false), (100, false), (1, true), (100, true)] {
        let dir = bench_dir();
        let j = Arc::new(open(dir.path(), SyncMode::Always, sealed));
        let recs: Arc<Vec<Vec<u8>>> = Arc::new((0..batch).map(record).collect());
        let appenders = 16;
        let run_for = Duration::from_secs(2);
        let barrier = Arc::new(Barrier::new(appenders));
        let handles: Vec<_> = (0..appenders)
            .map(|_| {
                let j = Arc::clone(&j);
                let recs = Arc::clone(&recs);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
                    let mut lat = Vec::new();
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < run_for {
                        let t = Instant::now();
                        j.append(&refs).expect("append");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut all: Vec<Duration> = Vec::new();
        for h in handles {
            all.extend(h.join().expect("join"));
        }
        all.sort_unstable();
        let records = all.len() * batch;
        let secs = run_for.as_secs_f64();
        println!(
            "latency 16 appenders x batch {batch} (fsync{}): {} appends, {:.0} records/s, \
             {:.1} MB/s, p50 {:?}, p99 {:?}, max {:?}",
            if sealed { ", sealed" } else { "" },
            all.len(),
            records as f64 / secs,
            (records * RECORD) as f64 / secs / 1e6,
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or_default(),
        );
    }
}

criterion_group!(benches, raw_fsync, append);

fn main() {
    benches();
    latency_report();
    Criterion::default().configure_from_args().final_summary();
}
