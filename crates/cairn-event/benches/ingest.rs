//! Throughput of `validate_record` over the shared real CloudTrail records, against a
//! baseline measured in the same run: `serde_json::from_slice::<Value>` of the same bytes.
//! Also the log-file reader (`read_records`) over plain and gzip files.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use cairn_event::{AccountId, FormatHint, IngestPolicy, read_records, validate_record};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn load() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cloudtrail/invictus-ir-sigma-aws");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("shared data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let files: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let records = files
        .iter()
        .flat_map(|f| read_records(&f[..], FormatHint::Records).map(|r| r.expect("record").bytes))
        .collect();
    (files, records)
}

fn bench(c: &mut Criterion) {
    let (files, records) = load();
    let policy = IngestPolicy::new(AccountId::parse("123837392027").expect("account"));
    let bytes: usize = records.iter().map(Vec::len).sum();
    eprintln!(
        "{} records, {} bytes, {} bytes/record on average",
        records.len(),
        bytes,
        bytes / records.len()
    );

    let mut g = c.benchmark_group("ingest_records");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("validate_record", |b| {
        b.iter(|| {
            for r in &records {
                black_box(validate_record(black_box(r), &policy).expect("valid"));
            }
        })
    });
    g.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            for r in &records {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(r)).expect("json"));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ingest_bytes");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("validate_record", |b| {
        b.iter(|| {
            for r in &records {
                black_box(validate_record(black_box(r), &policy).expect("valid"));
            }
        })
    });
    g.finish();

    let gz: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(f).expect("gzip");
            enc.finish().expect("gzip")
        })
        .collect();
    let file_bytes: usize = files.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("read_records");
    g.throughput(Throughput::Bytes(file_bytes as u64));
    g.bench_function("plain", |b| {
        b.iter(|| {
            for f in &files {
                for r in read_records(&f[..], FormatHint::Auto) {
                    black_box(r.expect("record"));
                }
            }
        })
    });
    g.bench_function("gzip", |b| {
        b.iter(|| {
            for f in &gz {
                for r in read_records(&f[..], FormatHint::Auto) {
                    black_box(r.expect("record"));
                }
            }
        })
    });
    g.bench_function("gzip_then_validate", |b| {
        b.iter(|| {
            for f in &gz {
                for r in read_records(&f[..], FormatHint::Auto) {
                    black_box(validate_record(&r.expect("record").bytes, &policy).expect("valid"));
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
