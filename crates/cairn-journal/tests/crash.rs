//! Crash test: a child process (`src/bin/cairn-journal-crash-child.rs`) appends from several
//! threads and prints every acknowledged batch; the parent kills it with SIGKILL at a random
//! moment, reopens the journal and checks that every acknowledged record is present exactly once
//! and intact. (A process kill, not a power cut: the page cache survives.)

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cairn_journal::{Journal, JournalKey, JournalOptions};
use rand::Rng;

const THREADS: usize = 4;

/// The options of the child; `sealed` encrypts under the child's test key.
fn opts(sealed: bool) -> JournalOptions {
    JournalOptions {
        segment_bytes: 64 * 1024,
        max_total_bytes: 1 << 30,
        key: sealed.then(|| JournalKey::from_bytes(&[7; 32])),
        ..JournalOptions::default()
    }
}

/// Payload of record `i` of batch `b` of thread `t`: self-describing, with a filler whose
/// length depends on the ids so truncation or mix-ups are caught.
fn payload(t: usize, b: u64, i: usize) -> String {
    let head = format!("t{t}-b{b}-r{i}-");
    let filler = (b as usize * 7 + i * 13) % 200;
    format!("{head}{}", "z".repeat(filler))
}

fn parse(p: &[u8]) -> Option<(usize, u64, usize)> {
    let s = std::str::from_utf8(p).ok()?;
    let mut it = s.splitn(4, '-');
    let t = it.next()?.strip_prefix('t')?.parse().ok()?;
    let b = it.next()?.strip_prefix('b')?.parse().ok()?;
    let i = it.next()?.strip_prefix('r')?.parse().ok()?;
    (payload(t, b, i) == s).then_some((t, b, i))
}

fn run_once(round: usize, sealed: bool) {
    let dir = tempfile::tempdir().unwrap();
    // Pre-existing content from an earlier "run" must survive too.
    {
        let j = Journal::open(dir.path(), opts(sealed)).unwrap();
        j.append(&[payload(99, 0, 0).as_bytes()]).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-journal-crash-child"))
        .arg(dir.path())
        .args(sealed.then_some("sealed"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let lines = thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("ACK ") {
                let v: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                if acks.is_empty() {
                    let _ = tx.send(());
                }
                acks.push((v[0], v[1], v[2] as usize, v[3]));
            }
        }
        acks
    });
    // Wait for the first ack, then kill at a random moment.
    rx.recv_timeout(Duration::from_secs(20))
        .expect("child produced an ack");
    let delay = rand::thread_rng().gen_range(20..300);
    thread::sleep(Duration::from_millis(delay));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acks = lines.join().unwrap();
    assert!(!acks.is_empty());

    let j = Journal::open(dir.path(), opts(sealed)).unwrap();
    let recs: Vec<_> = j.reader(0).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(recs.len() as u64, j.next_seq());
    assert_eq!(parse(&recs[0].payload), Some((99, 0, 0)));
    let mut seen = HashSet::new();
    let mut last_batch = [None::<u64>; THREADS];
    for (k, r) in recs.iter().enumerate().skip(1) {
        assert_eq!(r.seq, k as u64);
        let (t, b, i) =
            parse(&r.payload).unwrap_or_else(|| panic!("round {round}: record {k} is damaged"));
        assert!(
            seen.insert((t, b, i)),
            "round {round}: record {k} duplicated"
        );
        // Each thread's batches appear in order and whole.
        if i == 0 {
            assert!(
                last_batch[t] < Some(b),
                "round {round}: thread {t} batches out of order"
            );
            last_batch[t] = Some(b);
        } else {
            assert_eq!(last_batch[t], Some(b));
        }
    }
    for &(first, last, t, b) in &acks {
        for (i, seq) in (first..=last).enumerate() {
            let r = recs
                .get(seq as usize)
                .unwrap_or_else(|| panic!("round {round}: acked seq {seq} missing"));
            assert_eq!(
                parse(&r.payload),
                Some((t, b, i)),
                "round {round}: seq {seq}"
            );
        }
    }
    // Whole batches only: every batch present has all its records.
    for &(t, b, _) in &seen {
        let n = 1 + (b as usize % 9);
        assert!(
            (0..n).all(|i| seen.contains(&(t, b, i))),
            "partial batch t{t} b{b}"
        );
    }
    // The recovered journal accepts appends right after the recovered end.
    let next = j.next_seq();
    assert_eq!(j.append(&[b"after crash"]).unwrap().first_seq, next);
    eprintln!(
        "crash round {round}: {} acks, {} records recovered, report {:?}",
        acks.len(),
        recs.len(),
        j.recovery()
    );
}

#[test]
fn kill9_preserves_every_acknowledged_record() {
    for round in 0..3 {
        run_once(round, false);
    }
}

#[test]
fn kill9_preserves_every_acknowledged_record_of_a_sealed_journal() {
    for round in 0..3 {
        run_once(round, true);
    }
}
