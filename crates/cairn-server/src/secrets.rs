//! The master key: see [`cairn_core::secrets`], where it lives so that every crate that
//! seals data at rest uses the same one.

pub use cairn_core::secrets::*;

/// The key that seals the journal's frames.
pub fn journal_key(master: &MasterKey) -> Result<cairn_journal::JournalKey, SecretError> {
    Ok(cairn_journal::JournalKey::from_bytes(
        &*master.derive(purpose::JOURNAL)?,
    ))
}
