//! Where the server keeps its journal.

use std::path::Path;

use cairn_journal::{Journal, JournalOptions};

use crate::config::Config;

/// The journal directory under the data directory.
pub fn dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("journal")
}

/// Opens (recovering) the server's journal.
pub fn open(data_dir: &Path, config: &Config) -> Result<Journal, cairn_journal::JournalError> {
    let opts = JournalOptions {
        max_total_bytes: config.journal_max_bytes,
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir(data_dir), opts)?;
    let report = journal.recovery();
    if !report.is_clean() {
        tracing::warn!(
            bytes = report.truncated_bytes,
            records = report.dropped_records,
            "journal recovery cut a torn tail"
        );
    }
    Ok(journal)
}
