//! Encrypted journals: payloads sealed at rest, readers see plaintext, keys are checked, and a
//! plaintext journal migrates by starting a sealed segment.

mod common;

use std::fs;
use std::sync::Arc;
use std::thread;

use cairn_journal::{
    ErrorClass, Journal, JournalError, JournalKey, JournalOptions, SEALED_OVERHEAD,
    SEALED_SEGMENT_VERSION, SEGMENT_HEADER_LEN, SnapshotReader, SyncMode, frame_len,
};
use common::{read_all, segment_files};

fn key(b: u8) -> JournalKey {
    JournalKey::from_bytes(&[b; 32])
}

fn opts(k: Option<JournalKey>, segment_bytes: u64) -> JournalOptions {
    JournalOptions {
        segment_bytes,
        max_total_bytes: 1 << 24,
        sync: SyncMode::Never,
        key: k,
        ..JournalOptions::default()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn marker(i: usize) -> Vec<u8> {
    format!(
        "{{\"userName\":\"marker-user-{i:04}\",\"pad\":\"{}\"}}",
        "x".repeat(i % 50)
    )
    .into_bytes()
}

#[test]
fn sealed_journal_stores_no_plaintext_and_reads_back_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1024)).unwrap();
    for i in 0..40 {
        let p = marker(i);
        j.append(&[&p, b"second"]).unwrap();
    }
    let recs = read_all(&j);
    assert_eq!(recs.len(), 80);
    assert_eq!(recs[10].payload, marker(5));
    assert_eq!(recs[11].payload, b"second");
    assert!(segment_files(dir.path()).len() > 3, "segments rolled");
    for f in segment_files(dir.path()) {
        let bytes = fs::read(&f).unwrap();
        assert_eq!(bytes[4], SEALED_SEGMENT_VERSION, "{}", f.display());
        assert!(!contains(&bytes, b"marker-user"), "{}", f.display());
        assert!(!contains(&bytes, b"second"), "{}", f.display());
    }
    // Readers from the middle of a segment, snapshot readers, and after reopen.
    let from7: Vec<u64> = j.reader(7).unwrap().map(|r| r.unwrap().seq).collect();
    assert_eq!(from7, (7..80).collect::<Vec<_>>());
    let mut snap = SnapshotReader::open_with_key(dir.path(), 3, Some(key(1))).unwrap();
    let got = snap.next_batch(1000).unwrap();
    assert_eq!(got.len(), 77);
    assert_eq!(got[0].payload, b"second");
    assert_eq!(got[1].payload, marker(2));
    drop(j);
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1024)).unwrap();
    assert!(j.recovery().is_clean());
    assert_eq!(j.recovery().plaintext_segments, 0);
    assert_eq!(read_all(&j)[79].payload, b"second");
}

#[test]
fn sealed_frames_have_a_fixed_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    j.append(&[&[7u8; 100]]).unwrap();
    let len = fs::metadata(&segment_files(dir.path())[0]).unwrap().len();
    assert_eq!(
        len,
        SEGMENT_HEADER_LEN as u64 + frame_len(100 + SEALED_OVERHEAD)
    );
    assert_eq!(j.stats().total_bytes, len);
}

#[test]
fn wrong_or_missing_key_is_refused_at_open_and_by_snapshot_readers() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1024)).unwrap();
    j.append(&[b"event"]).unwrap();
    drop(j);
    let e = Journal::open(dir.path(), opts(Some(key(2)), 1024)).unwrap_err();
    assert!(matches!(e, JournalError::WrongKey { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    let e = Journal::open(dir.path(), opts(None, 1024)).unwrap_err();
    assert!(matches!(e, JournalError::KeyRequired { .. }), "{e}");
    let e = SnapshotReader::open(dir.path(), 0)
        .unwrap()
        .next_batch(10)
        .unwrap_err();
    assert!(matches!(e, JournalError::KeyRequired { .. }), "{e}");
    let e = SnapshotReader::open_with_key(dir.path(), 0, Some(key(3)))
        .unwrap()
        .next_batch(10)
        .unwrap_err();
    assert!(matches!(e, JournalError::WrongKey { .. }), "{e}");
}

#[test]
fn a_tampered_sealed_payload_is_corruption_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    j.append(&[b"first batch"]).unwrap();
    j.append(&[b"second batch"]).unwrap();
    drop(j);
    // Flip one ciphertext bit of the first frame and recompute its CRC, as an attacker
    // with write access to the disk would: recovery accepts the frame, the reader must not.
    let seg = &segment_files(dir.path())[0];
    let mut bytes = fs::read(seg).unwrap();
    let a = SEGMENT_HEADER_LEN;
    let b = a + usize::try_from(frame_len(11 + SEALED_OVERHEAD)).unwrap();
    bytes[a + 12 + 12] ^= 1;
    fix_crc(&mut bytes[a..b]);
    fs::write(seg, &bytes).unwrap();
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    let e = j.reader(0).unwrap().next().unwrap().unwrap_err();
    assert_eq!(e.class(), ErrorClass::Corrupt, "{e}");
    assert!(e.to_string().contains("authentication"), "{e}");
}

/// Recomputes a frame's CRC (header bytes 1..8 then the payload), as a writer would.
fn fix_crc(frame: &mut [u8]) {
    let mut covered = frame[1..8].to_vec();
    covered.extend_from_slice(&frame[12..]);
    let crc = crc32(&covered);
    frame[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Bitwise CRC-32/ISO-HDLC (the frame CRC), so the test needs no extra dependency.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn plaintext_journal_migrates_by_starting_a_sealed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(None, 1 << 20)).unwrap();
    j.append(&[b"old plaintext record"]).unwrap();
    j.cursor("consumer").unwrap();
    drop(j);
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    assert_eq!(j.recovery().plaintext_segments, 1);
    assert!(j.recovery().started_sealed_segment);
    j.append(&[b"new sealed record"]).unwrap();
    let recs = read_all(&j);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].payload, b"old plaintext record");
    assert_eq!(recs[1].payload, b"new sealed record");
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert!(!contains(&fs::read(&files[1]).unwrap(), b"sealed record"));
    // Once the consumer passes it, retention removes the plaintext segment.
    j.commit_cursor("consumer", 2).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    drop(j);
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    assert_eq!(j.recovery().plaintext_segments, 0);
    assert!(!j.recovery().started_sealed_segment);
    assert_eq!(j.next_seq(), 2);
}

#[test]
fn empty_plaintext_journal_is_resealed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), opts(None, 1 << 20)).unwrap());
    let j = Journal::open(dir.path(), opts(Some(key(1)), 1 << 20)).unwrap();
    assert_eq!(j.recovery().plaintext_segments, 0);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(fs::read(&files[0]).unwrap()[4], SEALED_SEGMENT_VERSION);
    j.append(&[b"x"]).unwrap();
    assert_eq!(read_all(&j)[0].payload, b"x");
}

#[test]
fn concurrent_sealed_appends_are_all_read_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(Journal::open(dir.path(), opts(Some(key(5)), 4096)).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let j = Arc::clone(&j);
            thread::spawn(move || {
                for i in 0..50 {
                    let p = format!("t{t}-r{i}");
                    let ack = j.append(&[p.as_bytes(), b"tail"]).unwrap();
                    assert_eq!(ack.last_seq, ack.first_seq + 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let recs = read_all(&j);
    assert_eq!(recs.len(), 800);
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    let mut seen: Vec<Vec<u8>> = recs
        .iter()
        .filter(|r| r.payload != b"tail")
        .map(|r| r.payload.clone())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 400);
}

#[test]
fn a_key_requires_room_for_the_seal() {
    let o = JournalOptions {
        max_record_bytes: u32::MAX,
        key: Some(key(1)),
        ..JournalOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let e = Journal::open(dir.path(), o).unwrap_err();
    assert!(matches!(e, JournalError::InvalidOptions { .. }), "{e}");
}
