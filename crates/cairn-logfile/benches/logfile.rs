//! Benchmarks: (a) encode + gzip + SHA-256 of a 5 MB batch of real CloudTrail records against
//! gzip alone and SHA-256 alone (same level, same bytes, same run); (b) gunzip + SHA-256 of
//! log files (the validator's inner loop) against gunzip alone; (c) RSA-2048 sign and verify.

use std::hint::black_box;
use std::io::Write;

use cairn_logfile::keys::SigningKey;
use cairn_logfile::logfile::{self, LogFileEncoder};
use cairn_logfile::{gz, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

const TARGET: usize = 5 * 1024 * 1024;

/// Real records from the shared corpus, repeated until ~5 MB, with their event times.
fn records() -> Vec<(Vec<u8>, time::OffsetDateTime)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cloudtrail/invictus-ir-sigma-aws"
    );
    let mut base = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let raw = std::fs::read(p).unwrap();
        for r in logfile::decode_log_file(&raw, 1 << 30).unwrap() {
            let bytes = r.get().as_bytes().to_vec();
            let t = logfile::record_event_time(&bytes).unwrap();
            base.push((bytes, t));
        }
    }
    let mut out = Vec::new();
    let mut total = 0;
    'outer: loop {
        for r in &base {
            total += r.0.len() + 1;
            out.push(r.clone());
            if total >= TARGET {
                break 'outer;
            }
        }
    }
    out
}

fn body_of(recs: &[(Vec<u8>, time::OffsetDateTime)]) -> Vec<u8> {
    let mut b = b"{\"Records\":[".to_vec();
    for (i, (r, _)) in recs.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(r);
    }
    b.extend_from_slice(b"]}");
    b
}

fn encode(c: &mut Criterion) {
    let recs = records();
    let body = body_of(&recs);
    let mut g = c.benchmark_group("encode_5MB");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(10);
    g.bench_function("encoder_push_with_time", |b| {
        b.iter(|| {
            let mut e = LogFileEncoder::new(logfile::DEFAULT_GZIP_LEVEL);
            for (r, t) in &recs {
                e.push(r, *t).unwrap();
            }
            black_box(e.finish().unwrap())
        })
    });
    g.bench_function("encoder_push_record_parsing_time", |b| {
        b.iter(|| {
            let mut e = LogFileEncoder::new(logfile::DEFAULT_GZIP_LEVEL);
            for (r, _) in &recs {
                e.push_record(r).unwrap();
            }
            black_box(e.finish().unwrap())
        })
    });
    g.bench_function("baseline_gzip_only", |b| {
        b.iter(|| {
            let mut e = GzEncoder::new(Vec::new(), Compression::new(logfile::DEFAULT_GZIP_LEVEL));
            e.write_all(&body).unwrap();
            black_box(e.finish().unwrap())
        })
    });
    g.bench_function("baseline_sha256_only", |b| {
        b.iter(|| black_box(Sha256::digest(&body)))
    });
    g.finish();
}

fn gunzip_hash(c: &mut Criterion) {
    let body = body_of(&records());
    let gz = gz::gzip(&body, logfile::DEFAULT_GZIP_LEVEL);
    let expected = gz::sha256_hex(&body);
    let mut g = c.benchmark_group("gunzip_sha256_5MB");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(20);
    g.bench_function("check_log", |b| {
        b.iter(|| {
            assert_eq!(
                validate::check_log(black_box(&gz), &expected),
                validate::LogOutcome::Valid
            )
        })
    });
    g.bench_function("baseline_gunzip_only", |b| {
        b.iter(|| black_box(gz::gunzip_capped(&gz, 1 << 30).unwrap()))
    });
    g.finish();
}

fn rsa(c: &mut Criterion) {
    let key = SigningKey::generate().unwrap();
    let msg = b"2025-03-04T06:01:31Z\namzn-s3-demo-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2025/03/04/x.json.gz\nb31a1558245f8ce99c8196613a56793bce9cf3715f8b39ae6ccb5bc2d86c0e70\nnull";
    let sig = key.sign(msg).unwrap();
    let mut g = c.benchmark_group("rsa2048");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| {
        b.iter(|| black_box(key.sign(black_box(msg)).unwrap()))
    });
    g.bench_function("verify", |b| {
        b.iter(|| assert!(key.public_key().verify(black_box(msg), &sig)))
    });
    g.finish();
}

criterion_group!(benches, encode, gunzip_hash, rsa);
criterion_main!(benches);
