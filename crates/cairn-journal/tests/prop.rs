//! Property test: random appends, reopens and torn tails; what is read back is exactly what was
//! acknowledged (minus batches whose tail was deliberately torn, simulating a crash mid-write).

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_journal::{Journal, JournalOptions, SyncMode, frame_len};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append one batch with these payload sizes.
    Append(Vec<usize>),
    /// Close and reopen.
    Reopen,
    /// Append a batch, then simulate a crash while writing it: cut the segment inside the
    /// batch (at `frac`/1000 of it) and optionally add garbage, then reopen.
    Torn(Vec<usize>, u16, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let sizes = prop::collection::vec(0usize..300, 1..6);
    prop_oneof![
        6 => sizes.clone().prop_map(Op::Append),
        1 => Just(Op::Reopen),
        2 => (sizes, 0u16..1000, prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(s, f, g)| Op::Torn(s, f, g)),
    ]
}

fn opts() -> JournalOptions {
    JournalOptions {
        segment_bytes: 1024,
        max_total_bytes: 1 << 24,
        sync: SyncMode::Never,
        ..JournalOptions::default()
    }
}

fn last_segment(dir: &Path) -> PathBuf {
    common::segment_files(dir).pop().unwrap()
}

fn payload(counter: u64, size: usize) -> Vec<u8> {
    let tag = counter.to_le_bytes();
    (0..size).map(|i| tag[i % 8] ^ (i as u8)).collect()
}

fn check(j: &Journal, model: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let got: Vec<_> = j
        .reader(0)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got.len(), model.len());
    for (i, r) in got.iter().enumerate() {
        prop_assert_eq!(r.seq, i as u64);
        prop_assert_eq!(&r.payload, &model[i]);
    }
    prop_assert_eq!(j.next_seq(), model.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn read_back_equals_acknowledged(ops in prop::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), opts()).unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut counter = 0u64;
        let mut make = |sizes: &[usize]| -> Vec<Vec<u8>> {
            sizes.iter().map(|&s| { counter += 1; payload(counter, s) }).collect()
        };
        for op in ops {
            match op {
                Op::Append(sizes) => {
                    let batch = make(&sizes);
                    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                    let ack = j.append(&refs).unwrap();
                    prop_assert_eq!(ack.first_seq, model.len() as u64);
                    prop_assert_eq!(ack.last_seq, (model.len() + batch.len() - 1) as u64);
                    model.extend(batch);
                }
                Op::Reopen => {
                    drop(j);
                    j = Journal::open(dir.path(), opts()).unwrap();
                    prop_assert!(j.recovery().is_clean());
                    check(&j, &model)?;
                }
                Op::Torn(sizes, frac, garbage) => {
                    let batch = make(&sizes);
                    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                    j.append(&refs).unwrap();
                    drop(j);
                    let seg = last_segment(dir.path());
                    let end = fs::metadata(&seg).unwrap().len();
                    let batch_len: u64 = sizes.iter().map(|&s| frame_len(s)).sum();
                    let start = end - batch_len;
                    let cut = start + batch_len * u64::from(frac) / 1000;
                    let f = OpenOptions::new().write(true).open(&seg).unwrap();
                    f.set_len(cut).unwrap();
                    drop(f);
                    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
                    f.write_all(&garbage).unwrap();
                    drop(f);
                    j = Journal::open(dir.path(), opts()).unwrap();
                    let report = j.recovery();
                    prop_assert_eq!(report.truncated_bytes, cut - start + garbage.len() as u64);
                    check(&j, &model)?;
                }
            }
        }
        drop(j);
        let j = Journal::open(dir.path(), opts()).unwrap();
        check(&j, &model)?;
    }
}
