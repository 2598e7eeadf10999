//! Fuzz `cairn-journal` recovery: arbitrary bytes become segment file(s) in a scratch directory,
//! then the journal is opened (recovered), read, appended to and reopened. Must never panic, and
//! once a directory has been opened successfully, the second open must be clean and keep every
//! record.
//!
//! The first input byte picks how the bytes are laid out:
//! 0: raw bytes as segment 0; 1: a valid header then raw bytes; 2: valid frames built from the
//! input with raw garbage mixed in; 3: two segments, split at a position taken from the input.

#![no_main]

use std::fs;
use std::path::PathBuf;

use cairn_journal::{
    Journal, JournalOptions, SyncMode, encode_batch, encode_segment_header, segment_file_name,
};
use libfuzzer_sys::fuzz_target;

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("cairn-journal-fuzz-{}", std::process::id()))
}

fn opts() -> JournalOptions {
    JournalOptions {
        segment_bytes: 1024,
        max_total_bytes: 1 << 20,
        sync: SyncMode::Never,
        ..JournalOptions::default()
    }
}

/// Valid frames from the input: each chunk is `[len, kind, payload...]`; kind picks a one-record
/// batch, a two-record batch, or raw bytes copied as they are.
fn frames(mut data: &[u8]) -> Vec<u8> {
    let mut out = encode_segment_header(0).to_vec();
    while data.len() >= 2 {
        let len = usize::from(data[0]).min(data.len() - 2);
        let kind = data[1];
        let body = &data[2..2 + len];
        match kind % 4 {
            0 | 1 => encode_batch(&[body], &mut out),
            2 => {
                let (a, b) = body.split_at(body.len() / 2);
                encode_batch(&[a, b], &mut out);
            }
            _ => out.extend_from_slice(body),
        }
        data = &data[2 + len..];
    }
    out
}

/// Reads every record from the oldest; returns how many were read before the end or an error.
fn read_count(j: &Journal) -> u64 {
    let Ok(reader) = j.reader(j.first_seq()) else {
        return 0;
    };
    let mut n = 0;
    for r in reader.take(100_000) {
        if r.is_err() {
            break;
        }
        n += 1;
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch_dir();
    let _ = fs::remove_dir_all(&dir);
    if fs::create_dir_all(&dir).is_err() {
        return;
    }
    let write = |base: u64, bytes: &[u8]| fs::write(dir.join(segment_file_name(base)), bytes);
    let written = match mode % 4 {
        0 => write(0, rest),
        1 => {
            let mut seg = encode_segment_header(0).to_vec();
            seg.extend_from_slice(rest);
            write(0, &seg)
        }
        2 => write(0, &frames(rest)),
        _ => {
            let (&split, rest) = rest.split_first().unwrap_or((&0, &[]));
            let at = usize::from(split).min(rest.len());
            let first = frames(&rest[..at]);
            let base = u64::from(split % 8);
            let mut second = encode_segment_header(base).to_vec();
            second.extend_from_slice(&rest[at..]);
            write(0, &first).and_then(|()| write(base.max(1), &second))
        }
    };
    if written.is_err() {
        return;
    }

    let Ok(j) = Journal::open(&dir, opts()) else {
        return;
    };
    let _ = read_count(&j);
    let _ = j.stats();
    let appended = j.append(&[b"fuzz"]).is_ok();
    let next = j.next_seq();
    let _ = j.commit_cursor("fuzz", next);
    let _ = read_count(&j);
    drop(j);

    let j = Journal::open(&dir, opts()).expect("a recovered journal reopens");
    assert!(j.recovery().is_clean(), "second recovery must be clean");
    if appended {
        assert_eq!(j.next_seq(), next, "committed records survive a reopen");
    }
    drop(j);
    let _ = fs::remove_dir_all(&dir);
});
