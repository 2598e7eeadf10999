//! Multipart PUT throughput against raw file writes of the same bytes, in the same run.
//!
//! * `multipart/64MiB_in_8MiB_parts`: CreateMultipartUpload, eight 8 MiB UploadParts (each
//!   part encrypted under the upload's data key, written to a temp file, fsync'd, renamed, its
//!   directory fsync'd, its row committed) and CompleteMultipartUpload (the sealed manifest
//!   written the same way, the version committed through `commit_put`), SSE-S3.
//! * `put_object/64MiB`: the same 64 MiB as one PutObject (one blob, one commit), for scale.
//! * `raw/write_fsync/64MiB_in_8MiB`: the baseline — the same eight 8 MiB buffers written to
//!   one file with `write_all`, then one `fsync`: no encryption, no metadata, no rename.
//!
//! Run: `cargo bench -p cairn-vault --bench multipart` (add `-- --sample-size 10` to
//! shorten).

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use cairn_vault::{AesSealer, CompleteRequest, PutRequest, Vault};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MIB: usize = 1024 * 1024;
const PART: usize = 8 * MIB;
const PARTS: usize = 8;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(
        &dir.path().join("buckets"),
        Arc::new(AesSealer::new(&[7; 32]).unwrap()),
        None,
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    vault
        .create_bucket("bench", "111122223333", "us-east-1", false, now)
        .unwrap();
    let parts: Vec<Vec<u8>> = (0..PARTS)
        .map(|i| {
            (0..PART)
                .map(|j| (j as u8).wrapping_mul(31) ^ i as u8)
                .collect()
        })
        .collect();
    let req = PutRequest::default();

    let mut g = c.benchmark_group("s3_multipart");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((PART * PARTS) as u64));
    g.bench_function("multipart/64MiB_in_8MiB_parts", |b| {
        b.iter(|| {
            let u = vault.create_upload("bench", "big", &req, now).unwrap();
            let mut done = CompleteRequest::default();
            for (i, p) in parts.iter().enumerate() {
                let n = i as u32 + 1;
                let info = vault
                    .upload_part("bench", "big", &u.upload_id, n, p, now)
                    .unwrap();
                done.parts.push((n, info.etag));
            }
            black_box(
                vault
                    .complete_upload("bench", "big", &u.upload_id, &done, now)
                    .unwrap(),
            );
        });
    });
    let whole = parts.concat();
    g.bench_function("put_object/64MiB", |b| {
        b.iter(|| black_box(vault.put_object("bench", "one", &whole, &req, now).unwrap()));
    });
    let raw = dir.path().join("raw.bin");
    g.bench_function("raw/write_fsync/64MiB_in_8MiB", |b| {
        b.iter(|| {
            let mut f = std::fs::File::create(&raw).unwrap();
            for p in &parts {
                f.write_all(p).unwrap();
            }
            f.sync_all().unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
