//! Helpers shared by the integration tests.
// Each test binary uses its own subset of the helpers.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use cairn_journal::{Journal, Record};

/// Every retained record, from the oldest.
pub(crate) fn read_all(j: &Journal) -> Vec<Record> {
    j.reader(j.first_seq())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The segment files of `dir`, sorted by name (that is, by base sequence number).
pub(crate) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}
