//! Where the server keeps its journal.

use std::path::Path;

use cairn_journal::{Journal, JournalOptions};

use crate::config::Config;
use crate::secrets::MasterKey;

/// The journal directory under the data directory.
pub fn dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("journal")
}

/// Opens (recovering) the server's journal, its frames sealed under a key derived from the
/// master key. A journal written in plaintext by an earlier version stays readable; new
/// records go to a sealed segment and the plaintext ones leave with retention.
pub fn open(
    data_dir: &Path,
    config: &Config,
    master: &MasterKey,
) -> Result<Journal, crate::state::StartError> {
    let opts = JournalOptions {
        max_total_bytes: config.journal_max_bytes,
        key: Some(crate::secrets::journal_key(master)?),
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir(data_dir), opts)?;
    let report = journal.recovery();
    if report.plaintext_segments > 0 {
        tracing::warn!(
            segments = report.plaintext_segments,
            "journal holds plaintext segments from before encryption at rest; they are read as \
             they are and deleted once every consumer has passed them"
        );
    }
    if !report.is_clean() {
        tracing::warn!(
            bytes = report.truncated_bytes,
            records = report.dropped_records,
            "journal recovery cut a torn tail"
        );
    }
    Ok(journal)
}
