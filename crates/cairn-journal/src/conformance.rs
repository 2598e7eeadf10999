//! The conformance suite every [`EventJournal`] implementation must pass.
//!
//! ```no_run
//! # use std::path::Path;
//! use cairn_journal::{Journal, JournalOptions, conformance};
//!
//! let root = Path::new("/tmp/journal-conformance");
//! conformance::run(root, |dir| Journal::open(dir, JournalOptions::default())).unwrap();
//! ```
//!
//! `make(dir)` opens (or reopens) the journal kept in `dir`; the suite gives each case its
//! own fresh subdirectory of `root`, and drops a journal before reopening the same
//! directory. A failed check is an `Err` naming the case and what differed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::api::{EventJournal, JournalReader};
use crate::error::Result;
use crate::reader::Record;

/// A failed conformance check: `case: what differed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{case}: {detail}")]
pub struct Failure {
    /// The case that failed.
    pub case: &'static str,
    /// What was expected and what was found.
    pub detail: String,
}

type Outcome = std::result::Result<(), Failure>;

/// Checks a condition; on failure returns a [`Failure`] for `case`.
macro_rules! ensure {
    ($case:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failure { case: $case, detail: format!($($fmt)+) });
        }
    };
}

/// Checks that `got` equals `want`; on failure returns a [`Failure`] for `case` saying `what`
/// was `got` where `want` was expected.
fn same<T, U>(case: &'static str, what: &str, got: T, want: U) -> Outcome
where
    T: PartialEq<U> + std::fmt::Debug,
    U: std::fmt::Debug,
{
    if got == want {
        Ok(())
    } else {
        Err(Failure {
            case,
            detail: format!("{what}: {got:?}, expected {want:?}"),
        })
    }
}

/// Unwraps a journal result, turning an error into a [`Failure`] for `case`.
fn ok<T>(case: &'static str, what: &str, r: Result<T>) -> std::result::Result<T, Failure> {
    r.map_err(|e| Failure {
        case,
        detail: format!("{what}: {e}"),
    })
}

/// Runs every case against journals made by `make`, each in a fresh subdirectory of `root`.
///
/// # Errors
/// The first failed check.
pub fn run<J, F>(root: &Path, make: F) -> Outcome
where
    J: EventJournal,
    F: Fn(&Path) -> Result<J>,
{
    ordering(&case_dir(root, "ordering")?, &make)?;
    durable_across_reopen(&case_dir(root, "reopen")?, &make)?;
    cursor_commit_and_resume(&case_dir(root, "cursors")?, &make)?;
    concurrent_appenders(&case_dir(root, "concurrent")?, &make)?;
    reading_past_the_end(&case_dir(root, "past-end")?, &make)?;
    payloads_round_trip(&case_dir(root, "payloads")?, &make)?;
    Ok(())
}

fn case_dir(root: &Path, name: &'static str) -> std::result::Result<PathBuf, Failure> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Failure {
        case: name,
        detail: format!("create {}: {e}", dir.display()),
    })?;
    Ok(dir)
}

/// Every committed record from `from`, without waiting.
fn read_from<J: EventJournal>(
    case: &'static str,
    j: &J,
    from: u64,
) -> std::result::Result<Vec<Record>, Failure> {
    let mut r = ok(case, "reader", j.reader(from))?;
    let mut out = Vec::new();
    loop {
        let batch = ok(case, "try_next_batch", r.try_next_batch(64))?;
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(batch);
    }
}

/// Batches get dense, increasing numbers; a reader returns them in order, each once.
pub fn ordering<J: EventJournal>(dir: &Path, make: impl Fn(&Path) -> Result<J>) -> Outcome {
    const C: &str = "ordering";
    let j = ok(C, "open", make(dir))?;
    let start = j.next_seq();
    same(
        C,
        "first_seq of a new journal (its next_seq)",
        j.first_seq(),
        start,
    )?;
    ensure!(C, j.append(&[]).is_err(), "an empty batch was accepted");
    let mut expected = Vec::new();
    for i in 0..10u64 {
        let payloads: Vec<Vec<u8>> = (0..=i % 3)
            .map(|k| format!("r{i}-{k}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let ack = ok(C, "append", j.append(&refs))?;
        let first = start + expected.len() as u64;
        same(C, &format!("first_seq of batch {i}"), ack.first_seq, first)?;
        same(
            C,
            &format!("last_seq of batch {i}"),
            ack.last_seq,
            first + refs.len() as u64 - 1,
        )?;
        expected.extend(payloads);
        same(
            C,
            &format!("next_seq after batch {i}"),
            j.next_seq(),
            start + expected.len() as u64,
        )?;
    }
    let got = read_from(C, &j, start)?;
    same(C, "records read", got.len(), expected.len())?;
    for (k, (rec, want)) in got.iter().zip(&expected).enumerate() {
        same(C, &format!("seq of record {k}"), rec.seq, start + k as u64)?;
        ensure!(C, &rec.payload == want, "record {k} payload differs");
    }
    let mid = start + 5;
    let tail = read_from(C, &j, mid)?;
    same(
        C,
        &format!("first seq read from {mid}"),
        tail.first().map(|r| r.seq),
        Some(mid),
    )?;
    Ok(())
}

/// What was acknowledged is there after the journal is dropped and reopened, and numbering
/// goes on without reuse.
pub fn durable_across_reopen<J: EventJournal>(
    dir: &Path,
    make: impl Fn(&Path) -> Result<J>,
) -> Outcome {
    const C: &str = "durable across reopen";
    let (start, end) = {
        let j = ok(C, "open", make(dir))?;
        let start = j.next_seq();
        ok(C, "append", j.append(&[b"a", b"b"]))?;
        ok(C, "append", j.append(&[b"c"]))?;
        (start, j.next_seq())
    };
    let j = ok(C, "reopen", make(dir))?;
    same(C, "next_seq after reopen", j.next_seq(), end)?;
    let got: Vec<Vec<u8>> = read_from(C, &j, start)?
        .into_iter()
        .map(|r| r.payload)
        .collect();
    same(
        C,
        "records after reopen",
        got,
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
    )?;
    let ack = ok(C, "append after reopen", j.append(&[b"d"]))?;
    same(
        C,
        "first_seq of the first append after reopen",
        ack.first_seq,
        end,
    )?;
    drop(j);
    let j = ok(C, "second reopen", make(dir))?;
    same(C, "next_seq after a second reopen", j.next_seq(), end + 1)?;
    Ok(())
}

/// A new cursor starts at the oldest record; a committed one survives a reopen; a reader from
/// it resumes where the consumer stopped; cursors can be listed and removed.
pub fn cursor_commit_and_resume<J: EventJournal>(
    dir: &Path,
    make: impl Fn(&Path) -> Result<J>,
) -> Outcome {
    const C: &str = "cursor commit and resume";
    let start = {
        let j = ok(C, "open", make(dir))?;
        let start = j.first_seq();
        for i in 0..6u8 {
            ok(C, "append", j.append(&[&[i]]))?;
        }
        same(
            C,
            "a new cursor (first_seq)",
            ok(C, "cursor", j.cursor("trail-a"))?,
            start,
        )?;
        let mut r = ok(C, "reader", j.reader(start))?;
        let first = ok(C, "next_batch", r.next_batch(4, Duration::from_secs(5)))?;
        same(C, "records from next_batch(4)", first.len(), 4)?;
        same(C, "position after 4 records", r.position(), start + 4)?;
        ok(C, "commit", j.commit_cursor("trail-a", r.position()))?;
        ok(C, "commit", j.commit_cursor("digest", start + 1))?;
        ensure!(
            C,
            j.commit_cursor("trail-a", j.next_seq() + 1).is_err(),
            "a cursor past the end was accepted"
        );
        same(
            C,
            "cursor after its commit",
            ok(C, "cursor", j.cursor("trail-a"))?,
            start + 4,
        )?;
        start
    };
    let j = ok(C, "reopen", make(dir))?;
    same(
        C,
        "cursor after reopen",
        ok(C, "cursor", j.cursor("trail-a"))?,
        start + 4,
    )?;
    let names: Vec<String> = j.cursors().into_iter().map(|(n, _)| n).collect();
    same(C, "cursors()", names, ["digest", "trail-a"])?;
    let rest = read_from(C, &j, ok(C, "cursor", j.cursor("trail-a"))?)?;
    let payloads: Vec<Vec<u8>> = rest.into_iter().map(|r| r.payload).collect();
    same(
        C,
        "records from the committed cursor",
        payloads,
        [vec![4u8], vec![5u8]],
    )?;
    ok(C, "move back", j.commit_cursor("trail-a", start + 2))?;
    same(
        C,
        "cursor moved back",
        ok(C, "cursor", j.cursor("trail-a"))?,
        start + 2,
    )?;
    ensure!(
        C,
        ok(C, "remove", j.remove_cursor("digest"))?,
        "remove_cursor of a known cursor said false"
    );
    ensure!(
        C,
        !ok(C, "remove", j.remove_cursor("digest"))?,
        "remove_cursor twice said true"
    );
    drop(j);
    let j = ok(C, "reopen", make(dir))?;
    let names: Vec<String> = j.cursors().into_iter().map(|(n, _)| n).collect();
    same(
        C,
        "cursors() after a removal and a reopen",
        names,
        ["trail-a"],
    )?;
    Ok(())
}

/// Batches appended from several threads get disjoint ranges covering every number once, and
/// each batch's records stay together and in order.
pub fn concurrent_appenders<J: EventJournal>(
    dir: &Path,
    make: impl Fn(&Path) -> Result<J>,
) -> Outcome {
    const C: &str = "concurrent appenders";
    const THREADS: u64 = 4;
    const BATCHES: u64 = 25;
    let j = ok(C, "open", make(dir))?;
    let start = j.next_seq();
    let acks = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let j = &j;
                s.spawn(move || {
                    (0..BATCHES)
                        .map(|b| {
                            let p: Vec<Vec<u8>> = (0..3)
                                .map(|k| format!("{t}/{b}/{k}").into_bytes())
                                .collect();
                            let refs: Vec<&[u8]> = p.iter().map(Vec::as_slice).collect();
                            j.append(&refs).map(|ack| (t, b, ack))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect::<Result<Vec<_>>>()
    });
    let acks: Vec<_> = ok(C, "append", acks)?.into_iter().flatten().collect();
    let total = THREADS * BATCHES * 3;
    same(C, "acks", acks.len() as u64, THREADS * BATCHES)?;
    same(C, "next_seq", j.next_seq(), start + total)?;
    let mut seen = BTreeSet::new();
    let records = read_from(C, &j, start)?;
    same(C, "records read", records.len() as u64, total)?;
    for (t, b, ack) in &acks {
        ensure!(
            C,
            ack.last_seq - ack.first_seq == 2,
            "batch {t}/{b} is not contiguous: {ack:?}"
        );
        for k in 0..3u64 {
            let seq = ack.first_seq + k;
            ensure!(C, seen.insert(seq), "seq {seq} given twice");
            let rec = usize::try_from(seq - start)
                .ok()
                .and_then(|k| records.get(k));
            ensure!(
                C,
                rec.is_some_and(
                    |r| r.seq == seq && r.payload == format!("{t}/{b}/{k}").into_bytes()
                ),
                "seq {seq} holds the wrong record"
            );
        }
    }
    Ok(())
}

/// A reader at the end returns nothing (at once, or after its timeout), wakes for a record
/// appended by another thread, and a reader past the end is refused.
pub fn reading_past_the_end<J: EventJournal>(
    dir: &Path,
    make: impl Fn(&Path) -> Result<J>,
) -> Outcome {
    const C: &str = "reading past the end";
    let j = ok(C, "open", make(dir))?;
    ok(C, "append", j.append(&[b"x"]))?;
    let end = j.next_seq();
    ensure!(
        C,
        j.reader(end + 1).is_err(),
        "a reader past the end was made"
    );
    let mut r = ok(C, "reader", j.reader(end))?;
    ensure!(
        C,
        ok(C, "try_next_batch", r.try_next_batch(10))?.is_empty(),
        "records past the end"
    );
    let t0 = Instant::now();
    ensure!(
        C,
        ok(C, "next_batch", r.next_batch(10, Duration::from_millis(50)))?.is_empty(),
        "records past the end after waiting"
    );
    ensure!(
        C,
        t0.elapsed() >= Duration::from_millis(40),
        "next_batch returned before its timeout"
    );
    let got = std::thread::scope(|s| {
        let w = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            j.append(&[b"late"])
        });
        let got = r.next_batch(10, Duration::from_secs(10));
        (got, w.join())
    });
    let got = ok(C, "next_batch", got.0)?;
    ensure!(
        C,
        got.len() == 1 && got[0].payload == b"late" && got[0].seq == end,
        "a waiting reader got {got:?}"
    );
    same(C, "position after the late record", r.position(), end + 1)?;
    Ok(())
}

/// Payloads of any content and size (empty, bytes that look like frame headers, large) come
/// back unchanged, also after a reopen. Run against a sealed journal it checks that sealed
/// frames are opened with their own sequence numbers.
pub fn payloads_round_trip<J: EventJournal>(
    dir: &Path,
    make: impl Fn(&Path) -> Result<J>,
) -> Outcome {
    const C: &str = "payloads round trip";
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xC1, 0x01, 0, 0, 4, 0, 0, 0],
        b"CRNJ\x01\x00\x00\x00".to_vec(),
        (0..=255u8).collect(),
        (0..64 * 1024).map(|i| (i % 251) as u8).collect(),
    ];
    let start = {
        let j = ok(C, "open", make(dir))?;
        let start = j.next_seq();
        for p in &payloads {
            ok(C, "append", j.append(&[p.as_slice()]))?;
        }
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        ok(C, "append batch", j.append(&refs))?;
        start
    };
    let j = ok(C, "reopen", make(dir))?;
    let got = read_from(C, &j, start)?;
    let want: Vec<&Vec<u8>> = payloads.iter().chain(payloads.iter()).collect();
    same(C, "records read", got.len(), want.len())?;
    for (k, (rec, w)) in got.iter().zip(want).enumerate() {
        ensure!(
            C,
            &rec.payload == w,
            "payload {k} ({} bytes) came back as {} bytes",
            w.len(),
            rec.payload.len()
        );
    }
    Ok(())
}
