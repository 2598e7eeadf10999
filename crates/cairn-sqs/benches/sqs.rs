//! Queue throughput against bare SQLite doing the same durable writes, in the same run.
//!
//! * `sqs/send_receive_delete/1`: one message sent, received and deleted (three durable
//!   transactions, the body sealed and opened), on a file database with `synchronous=FULL`.
//! * `sqs/send_receive_delete/10`: ten messages with the batch calls (a batch send, one receive
//!   of ten, a batch delete: three durable transactions for ten messages).
//! * `raw/insert_update_delete/1`: the baseline — three bare SQLite transactions (INSERT,
//!   UPDATE, DELETE of one 256-byte row) on a file with the same pragmas.
//!
//! Messages per second = 1 / time per message. Run: `cargo bench -p cairn-sqs --bench sqs`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use cairn_core::SystemClock;
use cairn_core::seal::SealKey;
use cairn_sqs::{QueueId, ReceiveOptions, SendMessage, Sqs};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};

fn body() -> String {
    // An S3 event notification is about this size.
    "x".repeat(256)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqs = Sqs::open(
        &dir.path().join("sqs.db"),
        Arc::new(SystemClock),
        SealKey::new(&[3; 32]).unwrap(),
    )
    .unwrap();
    let q = QueueId::new("111122223333", "us-east-1", "bench");
    sqs.create_queue(&q, &BTreeMap::new(), &BTreeMap::new())
        .unwrap();
    let msg = SendMessage {
        body: body(),
        sender_id: "AIDABENCH".into(),
        ..Default::default()
    };
    let mut g = c.benchmark_group("sqs");
    g.throughput(Throughput::Elements(1));
    g.bench_function("send_receive_delete/1", |b| {
        b.iter(|| {
            sqs.send_message(&q, &msg).unwrap();
            let got = sqs.receive_message(&q, ReceiveOptions::default()).unwrap();
            sqs.delete_message(&q, &got[0].receipt_handle).unwrap();
            black_box(got);
        });
    });
    g.throughput(Throughput::Elements(10));
    let ten: Vec<SendMessage> = (0..10).map(|_| msg.clone()).collect();
    g.bench_function("send_receive_delete/10", |b| {
        b.iter(|| {
            sqs.send_message_batch(&q, &ten).unwrap();
            let got = sqs
                .receive_message(
                    &q,
                    ReceiveOptions {
                        max_messages: 10,
                        visibility_timeout: None,
                    },
                )
                .unwrap();
            let handles: Vec<&str> = got.iter().map(|m| m.receipt_handle.as_str()).collect();
            sqs.delete_message_batch(&q, &handles).unwrap();
            black_box(got);
        });
    });
    g.finish();

    let conn = Connection::open(dir.path().join("raw.db")).unwrap();
    cairn_core::migrate::configure(&conn).unwrap();
    conn.execute_batch(
        "CREATE TABLE m (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, visible INTEGER NOT NULL)",
    )
    .unwrap();
    let raw = vec![7u8; 256];
    let mut g = c.benchmark_group("raw");
    g.throughput(Throughput::Elements(1));
    g.bench_function("insert_update_delete/1", |b| {
        b.iter(|| {
            conn.execute("INSERT INTO m (body, visible) VALUES (?1, 0)", params![raw])
                .unwrap();
            let seq = conn.last_insert_rowid();
            conn.execute("UPDATE m SET visible = 1 WHERE seq = ?1", [seq])
                .unwrap();
            conn.execute("DELETE FROM m WHERE seq = ?1", [seq]).unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
