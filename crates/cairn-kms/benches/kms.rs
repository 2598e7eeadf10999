//! In-process KMS cost against raw AES-256-GCM of the same sizes, in the same run.
//!
//! * `kms/generate_data_key_decrypt`: `GenerateDataKey` (32-byte key, a one-pair encryption
//!   context) followed by `Decrypt` of its blob — what SSE-KMS costs per object.
//! * `kms/encrypt_decrypt/<n>`: `Encrypt` + `Decrypt` of `n` bytes.
//! * `raw/seal_open/<n>`: aws-lc-rs AES-256-GCM seal + open of `n` bytes (plus a fresh random
//!   nonce), the baseline.
//!
//! Run: `cargo bench -p cairn-kms --bench kms`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cairn_kms::{CreateKey, Kms, TestRootKey};
use criterion::{Criterion, criterion_group, criterion_main};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn bench(c: &mut Criterion) {
    let kms = Kms::open_in_memory(Arc::new(TestRootKey::new([1; 32])), REGION).unwrap();
    let key = kms
        .create_key(ACCOUNT, REGION, CreateKey::default(), 0)
        .unwrap();
    let ctx: BTreeMap<String, String> = [(
        "aws:cloudtrail:arn".to_owned(),
        format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/bench"),
    )]
    .into();
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9; 32]).unwrap());
    let rng = SystemRandom::new();

    let mut g = c.benchmark_group("kms");
    g.bench_function("generate_data_key_decrypt", |b| {
        b.iter(|| {
            let dk = kms.generate_data_key(ACCOUNT, &key.key_id, &ctx).unwrap();
            let back = kms.decrypt(&dk.ciphertext_blob, &ctx).unwrap();
            black_box(back.plaintext.len())
        })
    });
    for n in [32usize, 4096] {
        let data = vec![7u8; n];
        g.bench_function(format!("encrypt_decrypt/{n}"), |b| {
            b.iter(|| {
                let e = kms
                    .encrypt(ACCOUNT, REGION, &key.key_id, &data, &ctx)
                    .unwrap();
                black_box(
                    kms.decrypt(&e.ciphertext_blob, &ctx)
                        .unwrap()
                        .plaintext
                        .len(),
                )
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("raw");
    for n in [32usize, 4096] {
        let data = vec![7u8; n];
        g.bench_function(format!("seal_open/{n}"), |b| {
            b.iter(|| {
                let mut nonce = [0u8; 12];
                rng.fill(&mut nonce).unwrap();
                let mut buf = data.clone();
                raw.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(b"ctx"),
                    &mut buf,
                )
                .unwrap();
                let out = raw
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(b"ctx"),
                        &mut buf,
                    )
                    .unwrap();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
