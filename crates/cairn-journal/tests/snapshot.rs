//! The lock-free reader sees exactly the committed records while the journal is open.

use cairn_journal::{Journal, JournalOptions, SnapshotReader, SyncMode};

#[test]
fn snapshot_reader_follows_a_live_journal_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_bytes: 4096,
        max_total_bytes: 1 << 30,
        sync: SyncMode::Never,
        ..JournalOptions::default()
    };
    let j = Journal::open(dir.path(), opts).unwrap();
    let mut snap = SnapshotReader::open(dir.path(), 0).unwrap();
    assert!(snap.next_batch(10).unwrap().is_empty());
    let mut want = Vec::new();
    for i in 0..200u32 {
        let a = format!("rec-{i}-a-{}", "x".repeat((i % 50) as usize));
        let b = format!("rec-{i}-b");
        j.append(&[a.as_bytes(), b.as_bytes()]).unwrap();
        want.push(a.into_bytes());
        want.push(b.into_bytes());
    }
    let mut got = Vec::new();
    loop {
        let batch = snap.next_batch(7).unwrap();
        if batch.is_empty() {
            break;
        }
        for r in batch {
            assert_eq!(r.seq as usize, got.len());
            got.push(r.payload);
        }
    }
    assert_eq!(got, want);
    // more appends are picked up later
    j.append(&[b"late"]).unwrap();
    let late = snap.next_batch(10).unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].payload, b"late");
    assert_eq!(late[0].seq, 400);
    // starting in the middle
    let mut mid = SnapshotReader::open(dir.path(), 333).unwrap();
    let first = mid.next_batch(1).unwrap();
    assert_eq!(first[0].seq, 333);
    assert_eq!(first[0].payload, want[333]);
}
