//! Integration tests: appends, readers, recovery, cursors, retention, backpressure.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cairn_journal::{
    ErrorClass, FRAME_HEADER_LEN, Journal, JournalError, JournalOptions, Record,
    SEGMENT_HEADER_LEN, SyncMode, frame_len,
};
use common::{read_all, segment_files};

fn never() -> JournalOptions {
    JournalOptions {
        sync: SyncMode::Never,
        ..JournalOptions::default()
    }
}

fn small(segment_bytes: u64, max_total_bytes: u64) -> JournalOptions {
    JournalOptions {
        segment_bytes,
        max_total_bytes,
        sync: SyncMode::Never,
        ..JournalOptions::default()
    }
}

fn payloads(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.payload.clone()).collect()
}

#[test]
fn append_assigns_dense_sequence_numbers_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(j.recovery().created);
    assert_eq!(j.next_seq(), 0);
    assert_eq!(j.stats().last_committed_seq, None);
    let a = j.append(&[b"a"]).unwrap();
    assert_eq!((a.first_seq, a.last_seq), (0, 0));
    let b = j.append(&[b"b", b"", b"ccc"]).unwrap();
    assert_eq!((b.first_seq, b.last_seq), (1, 3));
    assert_eq!(j.next_seq(), 4);
    let recs = read_all(&j);
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(payloads(&recs), [&b"a"[..], b"b", b"", b"ccc"]);
    // Reading from the middle.
    let mid: Vec<_> = j.reader(2).unwrap().map(|r| r.unwrap().seq).collect();
    assert_eq!(mid, [2, 3]);
    assert_eq!(j.reader(4).unwrap().next().map(|r| r.is_ok()), None);
    let stats = j.stats();
    assert_eq!(stats.last_committed_seq, Some(3));
    assert_eq!(stats.segment_count, 1);
    assert_eq!(
        stats.total_bytes,
        SEGMENT_HEADER_LEN as u64 + frame_len(1) * 2 + frame_len(0) + frame_len(3)
    );
    drop(j);
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(j.recovery().is_clean());
    assert!(!j.recovery().created);
    assert_eq!(j.next_seq(), 4);
    assert_eq!(payloads(&read_all(&j)), [&b"a"[..], b"b", b"", b"ccc"]);
    assert_eq!(j.append(&[b"d"]).unwrap().first_seq, 4);
}

#[test]
fn invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        max_record_bytes: 10,
        ..small(4096, 8192)
    };
    let j = Journal::open(dir.path(), opts).unwrap();
    assert!(matches!(j.append(&[]), Err(JournalError::EmptyBatch)));
    let e = j.append(&[&[0u8; 11]]).unwrap_err();
    assert!(matches!(
        e,
        JournalError::RecordTooLarge { len: 11, max: 10 }
    ));
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    let many: Vec<&[u8]> = vec![b"0123456789"; 400];
    let e = j.append(&many).unwrap_err();
    assert!(matches!(e, JournalError::BatchTooLarge { .. }), "{e}");
    assert!(matches!(
        j.reader(1),
        Err(JournalError::SeqOutOfRange { seq: 1, .. })
    ));
    for bad in ["", ".x", "a/b", "a b"] {
        let e = j.cursor(bad).unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidArgument, "{bad}");
        assert!(j.commit_cursor(bad, 0).is_err());
    }
    let bad_opts = JournalOptions {
        segment_bytes: 4096,
        max_total_bytes: 4097,
        ..JournalOptions::default()
    };
    let e = Journal::open(dir.path().join("other"), bad_opts).unwrap_err();
    assert!(matches!(e, JournalError::InvalidOptions { .. }));
}

#[test]
fn second_open_is_refused_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), never()).unwrap();
    let e = Journal::open(dir.path(), never()).unwrap_err();
    assert!(matches!(e, JournalError::Locked { .. }));
    assert_eq!(e.class(), ErrorClass::Conflict);
    drop(j);
    Journal::open(dir.path(), never()).unwrap();
}

/// Builds a journal with a few committed batches plus a final batch, and returns the segment's
/// bytes, the offset where the final batch starts, the committed payloads before it and the
/// final batch's payloads.
type Payloads = Vec<Vec<u8>>;

fn template() -> (Vec<u8>, usize, Payloads, Payloads) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), never()).unwrap();
    let before: Vec<Vec<u8>> = vec![b"first".to_vec(), vec![], b"third record".to_vec()];
    j.append(&[&before[0], &before[1]]).unwrap();
    j.append(&[&before[2]]).unwrap();
    let start = fs::metadata(&segment_files(dir.path())[0]).unwrap().len() as usize;
    let last: Vec<Vec<u8>> = vec![b"x".to_vec(), vec![], vec![7u8; 40]];
    let refs: Vec<&[u8]> = last.iter().map(Vec::as_slice).collect();
    j.append(&refs).unwrap();
    drop(j);
    let bytes = fs::read(&segment_files(dir.path())[0]).unwrap();
    assert_eq!(
        bytes.len(),
        start + 3 * FRAME_HEADER_LEN + 41,
        "frames are laid out as documented"
    );
    (bytes, start, before, last)
}

fn check_recovery(seg: &[u8], expect: &[Vec<u8>], case: &str) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000000.seg"), seg).unwrap();
    let j = Journal::open(dir.path(), never()).unwrap_or_else(|e| panic!("{case}: {e}"));
    let got = read_all(&j);
    assert_eq!(payloads(&got), expect, "{case}");
    assert_eq!(j.next_seq(), expect.len() as u64, "{case}");
    let report = j.recovery().clone();
    let committed_len =
        SEGMENT_HEADER_LEN as u64 + expect.iter().map(|p| frame_len(p.len())).sum::<u64>();
    assert_eq!(
        report.truncated_bytes,
        seg.len() as u64 - committed_len,
        "{case}"
    );
    if report.truncated_bytes > 0 {
        assert_eq!(report.truncated_at, committed_len, "{case}");
    }
    // Appends continue right after the committed prefix.
    let ack = j.append(&[b"after"]).unwrap();
    assert_eq!(ack.first_seq, expect.len() as u64, "{case}");
    drop(j);
    let j = Journal::open(dir.path(), never()).unwrap();
    assert!(j.recovery().is_clean(), "{case}: {:?}", j.recovery());
    let mut want = expect.to_vec();
    want.push(b"after".to_vec());
    assert_eq!(payloads(&read_all(&j)), want, "{case}");
}

#[test]
fn recovery_cuts_torn_last_batch_at_every_offset() {
    let (bytes, start, before, last) = template();
    let mut all = before.clone();
    all.extend(last.iter().cloned());
    for cut in start..=bytes.len() {
        let expect = if cut == bytes.len() { &all } else { &before };
        check_recovery(&bytes[..cut], expect, &format!("cut at {cut}"));
    }
}

#[test]
fn recovery_cuts_garbage_after_every_offset() {
    let (bytes, start, before, last) = template();
    let mut all = before.clone();
    all.extend(last.iter().cloned());
    let garbages: [&[u8]; 4] = [
        &[0u8; 64],
        &[
            0xC1, 0x01, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o',
        ],
        &[0xC1, 0, 0, 0, 255, 255, 255, 255],
        &[0xFF; 3],
    ];
    for cut in start..=bytes.len() {
        for (gi, g) in garbages.iter().enumerate() {
            let mut seg = bytes[..cut].to_vec();
            seg.extend_from_slice(g);
            let expect = if cut == bytes.len() { &all } else { &before };
            check_recovery(&seg, expect, &format!("cut at {cut} + garbage {gi}"));
        }
    }
}

#[test]
fn recovery_drops_batch_whose_last_frame_is_corrupt() {
    let (mut bytes, _, before, _) = template();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55; // flip a payload bit of the batch's last frame
    check_recovery(&bytes, &before, "corrupt final frame");
}

#[test]
fn recovery_of_empty_segment_and_torn_header_files() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), never()).unwrap());
    // A leftover temporary segment from an interrupted roll is removed.
    // Both the current name (write_atomic's) and the one of earlier versions.
    fs::write(dir.path().join("00000000000000000005.seg.tmp"), b"CRN").unwrap();
    fs::write(dir.path().join(".00000000000000000006.seg.tmp-77"), b"CRN").unwrap();
    let j = Journal::open(dir.path(), never()).unwrap();
    assert!(!dir.path().join("00000000000000000005.seg.tmp").exists());
    assert!(!dir.path().join(".00000000000000000006.seg.tmp-77").exists());
    assert_eq!(j.next_seq(), 0);
    drop(j);
    // A segment whose header is damaged is corruption, not a torn tail.
    let seg = segment_files(dir.path())[0].clone();
    let mut b = fs::read(&seg).unwrap();
    b[9] ^= 1;
    fs::write(&seg, &b).unwrap();
    let e = Journal::open(dir.path(), never()).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Corrupt, "{e}");
    // A header naming another base than the file name.
    b[9] ^= 1;
    fs::write(&seg, &b).unwrap();
    drop(Journal::open(dir.path(), never()).unwrap());
    fs::write(dir.path().join("00000000000000000009.seg"), &b).unwrap();
    let e = Journal::open(dir.path(), never()).unwrap_err();
    assert!(
        matches!(e, JournalError::Corrupt { reason, .. } if reason.contains("does not match")),
        "{e}"
    );
}

/// Appends `n` single-record batches of `size` bytes whose content encodes their index.
fn fill(j: &Journal, n: usize, size: usize) {
    for i in 0..n {
        let mut p = vec![(i % 251) as u8; size];
        p[..8.min(size)].copy_from_slice(&(i as u64).to_le_bytes()[..8.min(size)]);
        j.append(&[&p]).unwrap();
    }
}

#[test]
fn segments_roll_and_never_split_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    fill(&j, 20, 100); // 112 bytes per frame: 8 per 1024-byte segment
    let big: Vec<Vec<u8>> = (0..12).map(|i| vec![i as u8; 100]).collect();
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    let ack = j.append(&refs).unwrap();
    assert_eq!((ack.first_seq, ack.last_seq), (20, 31));
    fill(&j, 3, 100);
    let files = segment_files(dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // 8 + 8 + 4 single records, then the 12-record batch alone, then the rest.
    assert_eq!(
        names,
        [
            "00000000000000000000.seg",
            "00000000000000000008.seg",
            "00000000000000000016.seg",
            "00000000000000000020.seg",
            "00000000000000000032.seg"
        ]
    );
    let oversize = fs::metadata(&files[3]).unwrap().len();
    assert_eq!(oversize, SEGMENT_HEADER_LEN as u64 + 12 * frame_len(100));
    assert_eq!(j.stats().segment_count, 5);
    let recs = read_all(&j);
    assert_eq!(recs.len(), 35);
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    assert_eq!(recs[25].payload, vec![5u8; 100]);
    // Readers starting in every segment see the same suffix.
    for from in [0u64, 7, 8, 19, 20, 31, 32, 34, 35] {
        let got: Vec<u64> = j.reader(from).unwrap().map(|r| r.unwrap().seq).collect();
        assert_eq!(got, (from..35).collect::<Vec<_>>(), "from {from}");
    }
    drop(j);
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    assert!(j.recovery().is_clean());
    assert_eq!(j.recovery().segments, 5);
    assert_eq!(read_all(&j).len(), 35);
}

#[test]
fn corruption_in_an_older_segment_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    fill(&j, 20, 100);
    drop(j);
    let files = segment_files(dir.path());
    // Flip a payload byte of record 3 (segment 0).
    let mut b = fs::read(&files[0]).unwrap();
    let off = SEGMENT_HEADER_LEN + 3 * (FRAME_HEADER_LEN + 100) + FRAME_HEADER_LEN + 50;
    b[off] ^= 0xFF;
    fs::write(&files[0], &b).unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    assert!(j.recovery().is_clean(), "only the last segment is cut");
    let mut r = j.reader(0).unwrap();
    let ok: Vec<u64> = r.by_ref().take(3).map(|x| x.unwrap().seq).collect();
    assert_eq!(ok, [0, 1, 2]);
    let e = r.next().unwrap().unwrap_err();
    assert_eq!(e.class(), ErrorClass::Corrupt);
    assert!(matches!(
        e,
        JournalError::Corrupt {
            reason: "frame crc mismatch",
            ..
        }
    ));
    // The reader stays at the bad record.
    assert_eq!(r.position(), 3);
    assert!(r.next().unwrap().is_err());
    // A reader starting after it in the same segment works.
    assert_eq!(j.reader(4).unwrap().next().unwrap().unwrap().seq, 4);
    drop((r, j));

    // A non-last segment with a missing tail (fewer records than the next base implies).
    let b = fs::read(&files[1]).unwrap();
    fs::write(&files[1], &b[..b.len() - 112]).unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    let e = j.reader(8).unwrap().find_map(Result::err).unwrap();
    assert_eq!(e.class(), ErrorClass::Corrupt, "{e}");
}

#[test]
fn concurrent_appenders_group_commit_and_every_ack_is_read_once() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_bytes: 16 * 1024,
        ..JournalOptions::default()
    };
    let j = Arc::new(Journal::open(dir.path(), opts.clone()).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    // A concurrent tailing reader must see exactly the acknowledged records, in order.
    let tail = {
        let j = Arc::clone(&j);
        thread::spawn(move || {
            let mut r = j.reader(0).unwrap();
            let mut seen = Vec::new();
            let total = (THREADS * PER_THREAD * 2) as u64;
            let deadline = Instant::now() + Duration::from_secs(20);
            while (seen.len() as u64) < total && Instant::now() < deadline {
                for rec in r.next_batch(64, Duration::from_millis(50)).unwrap() {
                    seen.push(rec);
                }
            }
            seen
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let j = Arc::clone(&j);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut acks = Vec::new();
                for i in 0..PER_THREAD {
                    let a = format!("t{t}-b{i}-r0");
                    let b = format!("t{t}-b{i}-r1").repeat(1 + i % 7);
                    let ack = j.append(&[a.as_bytes(), b.as_bytes()]).unwrap();
                    assert_eq!(ack.last_seq, ack.first_seq + 1);
                    acks.push((ack, a, b));
                }
                acks
            })
        })
        .collect();
    barrier.wait();
    let mut acks = Vec::new();
    for h in handles {
        acks.extend(h.join().unwrap());
    }
    let total = THREADS * PER_THREAD * 2;
    assert_eq!(j.next_seq(), total as u64);
    let mut expect = vec![Vec::new(); total];
    for (ack, a, b) in &acks {
        expect[ack.first_seq as usize] = a.clone().into_bytes();
        expect[ack.last_seq as usize] = b.clone().into_bytes();
    }
    assert!(expect.iter().all(|e| !e.is_empty()), "seqs are dense");
    let tailed = tail.join().unwrap();
    assert_eq!(tailed.len(), total);
    for (i, r) in tailed.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!(r.payload, expect[i]);
    }
    assert!(
        j.stats().segment_count > 1,
        "the test crosses segment rolls"
    );
    drop(j);
    let j = Journal::open(dir.path(), opts).unwrap();
    assert!(j.recovery().is_clean());
    assert_eq!(payloads(&read_all(&j)), expect);
}

#[test]
fn next_batch_waits_for_commits_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(Journal::open(dir.path(), never()).unwrap());
    let mut r = j.reader(0).unwrap();
    let t0 = Instant::now();
    assert!(
        r.next_batch(10, Duration::from_millis(30))
            .unwrap()
            .is_empty()
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let writer = {
        let j = Arc::clone(&j);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            j.append(&[b"late"]).unwrap();
        })
    };
    let got = r.next_batch(10, Duration::from_secs(10)).unwrap();
    assert_eq!(payloads(&got), [b"late".to_vec()]);
    writer.join().unwrap();
    j.append(&[b"1", b"2", b"3"]).unwrap();
    assert_eq!(r.next_batch(2, Duration::ZERO).unwrap().len(), 2);
    assert_eq!(r.try_next_batch(10).unwrap().len(), 1);
    assert_eq!(r.position(), 4);
}

#[test]
fn cursors_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    fill(&j, 10, 10);
    assert_eq!(
        j.cursor("trail-a").unwrap(),
        0,
        "new cursors start at the oldest record"
    );
    j.commit_cursor("trail-a", 7).unwrap();
    j.commit_cursor("digest.us-east-1", 10).unwrap();
    assert_eq!(j.cursor("trail-a").unwrap(), 7);
    let e = j.commit_cursor("trail-a", 11).unwrap_err();
    assert!(matches!(e, JournalError::SeqOutOfRange { seq: 11, .. }));
    let stats = j.stats();
    let lags: Vec<(String, u64)> = stats
        .cursors
        .iter()
        .map(|c| (c.name.clone(), c.lag))
        .collect();
    assert_eq!(
        lags,
        [("digest.us-east-1".into(), 0), ("trail-a".into(), 3)]
    );
    drop(j);
    // A stale temporary file from an interrupted commit is ignored and removed.
    fs::write(dir.path().join("cursors/.trail-a.tmp"), b"junk").unwrap();
    fs::write(dir.path().join("cursors/.trail-a.cursor.tmp-77"), b"junk").unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(!dir.path().join("cursors/.trail-a.tmp").exists());
    assert!(!dir.path().join("cursors/.trail-a.cursor.tmp-77").exists());
    assert_eq!(j.cursor("trail-a").unwrap(), 7);
    assert_eq!(
        j.cursors(),
        [
            ("digest.us-east-1".to_string(), 10),
            ("trail-a".to_string(), 7)
        ]
    );
    // Resume from the cursor: at-least-once from 7.
    let seqs: Vec<u64> = j.reader(7).unwrap().map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, [7, 8, 9]);
    // Moving back is allowed while the records exist.
    j.commit_cursor("trail-a", 2).unwrap();
    assert!(j.remove_cursor("digest.us-east-1").unwrap());
    assert!(!j.remove_cursor("digest.us-east-1").unwrap());
    drop(j);
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(j.cursors(), [("trail-a".to_string(), 2)]);
    drop(j);
    // A damaged cursor file is corruption.
    let p = dir.path().join("cursors/trail-a.cursor");
    let mut b = fs::read(&p).unwrap();
    b[10] ^= 1;
    fs::write(&p, &b).unwrap();
    let e = Journal::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Corrupt);
}

#[test]
fn cursor_past_recovered_end_is_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), never()).unwrap();
    fill(&j, 5, 10);
    j.commit_cursor("c", 5).unwrap();
    drop(j);
    // Lose the last record (as a machine crash in SyncMode::Never could).
    let seg = segment_files(dir.path())[0].clone();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let j = Journal::open(dir.path(), never()).unwrap();
    assert_eq!(j.next_seq(), 4);
    assert_eq!(j.recovery().clamped_cursors.len(), 1);
    assert_eq!(j.recovery().clamped_cursors[0].to, 4);
    assert_eq!(j.cursor("c").unwrap(), 4);
    drop(j);
    let j = Journal::open(dir.path(), never()).unwrap();
    assert!(j.recovery().is_clean());
}

#[test]
fn retention_deletes_segments_every_cursor_passed() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    fill(&j, 40, 100); // segments at 0, 8, 16, 24, 32
    assert_eq!(j.stats().segment_count, 5);
    // No cursor and no floor: nothing is deleted.
    assert_eq!(j.gc().unwrap(), 0);
    assert_eq!(j.cursor("b").unwrap(), 0);
    j.commit_cursor("a", 17).unwrap();
    assert_eq!(j.first_seq(), 0, "b at 0 holds everything");
    j.commit_cursor("b", 9).unwrap();
    // "b" at 9 has only passed segment 0.
    assert_eq!(j.first_seq(), 8);
    assert_eq!(segment_files(dir.path()).len(), 4);
    j.set_retention_floor(Some(16));
    j.commit_cursor("b", 40).unwrap();
    assert_eq!(j.first_seq(), 16, "floor and cursor a hold segment 16");
    j.set_retention_floor(None);
    j.commit_cursor("a", 40).unwrap();
    // The last segment is never deleted.
    assert_eq!(j.first_seq(), 32);
    assert_eq!(segment_files(dir.path()).len(), 1);
    let stats = j.stats();
    assert_eq!(stats.segment_count, 1);
    assert_eq!(
        stats.total_bytes,
        SEGMENT_HEADER_LEN as u64 + 8 * frame_len(100)
    );
    assert!(matches!(
        j.reader(31),
        Err(JournalError::Truncated {
            seq: 31,
            first_seq: 32
        })
    ));
    assert!(matches!(
        j.commit_cursor("a", 3),
        Err(JournalError::SeqOutOfRange { .. })
    ));
    let recs = read_all(&j);
    assert_eq!(recs.first().unwrap().seq, 32);
    drop(j);
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    assert_eq!((j.first_seq(), j.next_seq()), (32, 40));
    assert_eq!(j.append(&[b"next"]).unwrap().first_seq, 40);
}

#[test]
fn reader_behind_retention_gets_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), small(1024, 1 << 20)).unwrap();
    fill(&j, 24, 100);
    let mut r = j.reader(0).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, 0);
    j.commit_cursor("only", 24).unwrap();
    // The open segment stays readable (unlinked files remain open)...
    let seqs: Vec<u64> = r.by_ref().take(7).map(|x| x.unwrap().seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    // ...but the next one is gone.
    let e = r.next().unwrap().unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound, "{e}");
}

#[test]
fn full_journal_throttles_until_consumers_advance() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), small(1024, 4096)).unwrap();
    j.cursor("slow").unwrap();
    let mut n = 0u64;
    let err = loop {
        match j.append(&[&[1u8; 100]]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 100, "journal never filled");
    };
    assert!(matches!(err, JournalError::Full { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Throttled);
    assert!(err.is_retryable());
    let stats = j.stats();
    assert!(stats.total_bytes <= 4096, "{stats:?}");
    assert_eq!(stats.next_seq, n, "nothing was dropped");
    // Still full on retry; nothing is lost.
    assert!(matches!(
        j.append(&[&[1u8; 100]]),
        Err(JournalError::Full { .. })
    ));
    // The consumer catches up: segments are deleted and appends succeed again.
    j.commit_cursor("slow", n).unwrap();
    let ack = j.append(&[&[2u8; 100]]).unwrap();
    assert_eq!(ack.first_seq, n);
    // Full also when the consumer advances without an explicit gc: append runs it.
    let j2dir = tempfile::tempdir().unwrap();
    let j2 = Journal::open(j2dir.path(), small(1024, 4096)).unwrap();
    j2.set_retention_floor(Some(u64::MAX));
    fill(&j2, 100, 100);
    assert!(j2.stats().total_bytes <= 4096);
}

#[test]
fn sync_always_survives_reopen_and_writes_cursor_durably() {
    // Exercises the fsync paths (roll, cursor, gc) with SyncMode::Always.
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_bytes: 1024,
        max_total_bytes: 1 << 20,
        ..JournalOptions::default()
    };
    let j = Journal::open(dir.path(), opts.clone()).unwrap();
    fill(&j, 20, 100);
    j.commit_cursor("c", 12).unwrap();
    assert_eq!(j.first_seq(), 8);
    drop(j);
    let mut f = OpenOptions::new()
        .append(true)
        .open(segment_files(dir.path()).last().unwrap())
        .unwrap();
    f.write_all(&[0xC1, 0x01]).unwrap();
    drop(f);
    let j = Journal::open(dir.path(), opts).unwrap();
    assert_eq!(j.recovery().truncated_bytes, 2);
    assert_eq!(j.recovery().defect.map(|d| d.1), Some("torn frame header"));
    assert_eq!((j.first_seq(), j.next_seq()), (8, 20));
    assert_eq!(j.cursor("c").unwrap(), 12);
}
