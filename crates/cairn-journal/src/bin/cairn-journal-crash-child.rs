//! The child process of `tests/crash.rs`: appends from several threads to the journal in the
//! directory given as its argument and prints `ACK first last thread batch` for every
//! acknowledged batch, until the test kills it (or 20 s pass). With a second argument `sealed`
//! the journal is encrypted under the test key (`[7; 32]`). Not a user-facing tool.
//!
//! Payloads must stay in step with `payload()` in `tests/crash.rs`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cairn_journal::{Journal, JournalKey, JournalOptions};

const THREADS: usize = 4;

fn payload(t: usize, b: u64, i: usize) -> String {
    let head = format!("t{t}-b{b}-r{i}-");
    let filler = (b as usize * 7 + i * 13) % 200;
    format!("{head}{}", "z".repeat(filler))
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cairn-journal-crash-child DIR");
        std::process::exit(2);
    };
    let sealed = std::env::args().nth(2).is_some_and(|a| a == "sealed");
    let opts = JournalOptions {
        segment_bytes: 64 * 1024,
        max_total_bytes: 1 << 30,
        key: sealed.then(|| JournalKey::from_bytes(&[7; 32])),
        ..JournalOptions::default()
    };
    let j = match Journal::open(&dir, opts) {
        Ok(j) => Arc::new(j),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let j = Arc::clone(&j);
            thread::spawn(move || {
                let mut b = 0u64;
                // Safety net: stop on its own if never killed.
                while start.elapsed() < Duration::from_secs(20) {
                    let n = 1 + (b as usize % 9);
                    let batch: Vec<String> = (0..n).map(|i| payload(t, b, i)).collect();
                    let refs: Vec<&[u8]> = batch.iter().map(String::as_bytes).collect();
                    match j.append(&refs) {
                        Ok(ack) => println!("ACK {} {} {t} {b}", ack.first_seq, ack.last_seq),
                        Err(e) => {
                            eprintln!("error: {e}");
                            std::process::exit(1);
                        }
                    }
                    b += 1;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
