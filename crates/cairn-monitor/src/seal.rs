//! Encryption at rest of stored log-event messages ([`StorageKey`]).
//!
//! A sealed message is stored in its TEXT column as `enc1:` followed by base64 (standard,
//! padded) of `nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16)`, with
//! [`MESSAGE`] as associated data (one label for every message column, so rows copied
//! between the streaming queue and its dead letters stay readable). Rows without the prefix are plaintext written before a
//! key was configured; [`crate::Monitor::open_with`] seals them in place.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cairn_core::seal::SealKey;

use crate::error::{MonitorError, Result};

const PREFIX: &str = "enc1:";

/// Associated data of every sealed message.
pub(crate) const MESSAGE: &str = "cairn-monitor/log-event-message";

/// Tables and their message column sealed at rest.
const SEALED_COLUMNS: [&str; 3] = ["log_events", "stream_outbox", "stream_dead"];

/// Seals every plaintext message stored before a key was configured, in one transaction,
/// then `VACUUM`s so no free page keeps the plaintext. A no-op when everything is sealed.
pub(crate) fn seal_stored(conn: &rusqlite::Connection, key: &StorageKey) -> Result<()> {
    let mut changed = 0usize;
    let tx = conn.unchecked_transaction()?;
    for table in SEALED_COLUMNS {
        let rows: Vec<(i64, String)> = {
            let mut st = tx.prepare(&format!(
                "SELECT id, message FROM {table} WHERE message NOT LIKE 'enc1:%'"
            ))?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut up = tx.prepare(&format!("UPDATE {table} SET message = ?2 WHERE id = ?1"))?;
        for (id, msg) in rows {
            up.execute(rusqlite::params![id, key.seal(MESSAGE, &msg)?])?;
            changed += 1;
        }
    }
    tx.commit()?;
    if changed > 0 {
        conn.execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )?;
    }
    Ok(())
}

/// The key that seals stored log-event messages. Cheap to clone; `Debug` shows nothing.
#[derive(Clone)]
pub struct StorageKey {
    key: SealKey,
    /// Identifies the key for `PartialEq` without comparing secret bytes.
    id: [u8; 32],
}

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(<redacted>)")
    }
}

impl PartialEq for StorageKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for StorageKey {}

impl StorageKey {
    /// A key from 32 secret bytes.
    ///
    /// # Errors
    /// Only if the crypto library refuses a 32-byte key, which it does not.
    pub fn new(secret: &[u8; 32]) -> Result<Self> {
        let key = SealKey::new(secret).map_err(|_| MonitorError::Crypto {
            detail: "storage key refused".into(),
        })?;
        let id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
        let mut out = [0u8; 32];
        out.copy_from_slice(id.as_ref());
        Ok(Self { key, id: out })
    }

    /// The stored form of `message` in column `column`: `enc1:` and base64 of
    /// [`cairn_core::seal`]'s `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, column: &str, message: &str) -> Result<String> {
        let raw = self
            .key
            .seal(column.as_bytes(), message.as_bytes())
            .map_err(|_| MonitorError::Crypto {
                detail: "sealing failed".into(),
            })?;
        Ok(format!("{PREFIX}{}", STANDARD.encode(raw)))
    }

    /// The message of a stored value of column `column` (plaintext values pass through).
    pub(crate) fn open(&self, column: &str, stored: String) -> Result<String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored);
        };
        let corrupt = || MonitorError::Crypto {
            detail: "stored message fails authentication".into(),
        };
        let raw = STANDARD.decode(b64).map_err(|_| corrupt())?;
        let plain = self
            .key
            .open_vec(column.as_bytes(), raw)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain).map_err(|_| corrupt())
    }
}

/// Whether a stored value is sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Seals `message` when a key is set.
pub(crate) fn seal(key: Option<&StorageKey>, column: &str, message: &str) -> Result<String> {
    match key {
        Some(k) => k.seal(column, message),
        None => Ok(message.to_owned()),
    }
}

/// Opens a stored value (plaintext passes through; a sealed value without a key is an error).
pub(crate) fn open(key: Option<&StorageKey>, column: &str, stored: String) -> Result<String> {
    match key {
        Some(k) => k.open(column, stored),
        None if is_sealed(&stored) => Err(MonitorError::Crypto {
            detail: "stored message is encrypted and no storage key is configured".into(),
        }),
        None => Ok(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_column_and_key_and_hides_text() {
        let k = StorageKey::new(&[5; 32]).unwrap();
        let s = k.seal(MESSAGE, "{\"userName\":\"alice\"}").unwrap();
        assert!(is_sealed(&s) && !s.contains("alice"));
        assert_eq!(
            k.open(MESSAGE, s.clone()).unwrap(),
            "{\"userName\":\"alice\"}"
        );
        assert!(k.open("other", s.clone()).is_err());
        assert!(
            StorageKey::new(&[6; 32])
                .unwrap()
                .open(MESSAGE, s.clone())
                .is_err()
        );
        assert!(open(None, MESSAGE, s).is_err());
        assert_eq!(k.open(MESSAGE, "plain".into()).unwrap(), "plain");
        assert_eq!(format!("{k:?}"), "StorageKey(<redacted>)");
        assert_ne!(k, StorageKey::new(&[6; 32]).unwrap());
    }

    /// A message sealed in the format of the first encrypted monitor (key `[5; 32]`, nonce
    /// 01..0c): existing monitor files must stay readable.
    #[test]
    fn a_fixed_test_vector_still_opens() {
        let stored = "enc1:AQIDBAUGBwgJCgsMpHKS0A+Eg5Le3I6SzX0sLjoCFF7O5Ddl33epL+s3g5I2NVfQ";
        let k = StorageKey::new(&[5; 32]).unwrap();
        assert_eq!(
            k.open(MESSAGE, stored.to_owned()).unwrap(),
            "{\"userName\":\"alice\"}"
        );
        assert!(k.open("other", stored.to_owned()).is_err());
    }
}
