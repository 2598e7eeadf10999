//! Digest signing keys: one RSA-2048 key pair per region at a time, generated on demand,
//! rotated on a schedule, the private half sealed under the master key.
//!
//! # Guarantees
//!
//! - A private key is never stored in plain text: the catalog holds its PKCS#8 DER sealed
//!   with [`MasterKey::seal`], the context binding it to its region and fingerprint
//!   (`signing-key:{region}:{fingerprint}`), so a sealed key cannot be moved to another row.
//! - A new key is stored in the catalog — and so returned by `ListPublicKeys` — before it
//!   signs anything.
//! - A key signs only at times inside its validity window `[valid_from, valid_to]`; it is
//!   replaced when `now` reaches `valid_to - overlap`, so successive windows overlap (as
//!   AWS's do) and every digest's end time lies inside its key's window.
//! - Keys are never deleted: a digest they signed may be retained for any time.
//!
//! # Example
//!
//! ```
//! # use std::sync::Arc;
//! # use cairn_catalog::KeyStore;
//! use cairn_pipeline::keys::KeyRing;
//! # let dir = tempfile::tempdir().unwrap();
//! # let catalog = Arc::new(cairn_catalog::Catalog::open(dir.path()).unwrap());
//! # let master = Arc::new(cairn_core::secrets::MasterKey::from_bytes(&[1; 32]).unwrap());
//! let ring = KeyRing::new(catalog.clone(), master, std::time::Duration::from_secs(30 * 86_400));
//! let k = ring.signing_key("eu-west-1", 1_700_000_000)?;
//! assert_eq!(catalog.signing_keys("eu-west-1", 1_700_000_000, 1_700_000_000)?.len(), 1);
//! assert_eq!(ring.signing_key("eu-west-1", 1_700_000_100)?.key.fingerprint(), k.key.fingerprint());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_logfile::keys::SigningKey;

use cairn_catalog::{CatalogError, KeyStore, SigningKeyRow};
use cairn_core::secrets::{MasterKey, SecretError};

/// Why a signing key is not available.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The sealed private key could not be opened (wrong master key, or tampered row).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Key generation, export or import failed.
    #[error("signing key: {0}")]
    Crypto(#[from] cairn_logfile::Error),
}

/// A key that may sign now, with its validity window (unix seconds).
#[derive(Debug)]
pub struct ActiveKey {
    /// The key.
    pub key: SigningKey,
    /// Start of validity.
    pub valid_from: i64,
    /// End of validity.
    pub valid_to: i64,
}

/// The signing keys of every region.
pub struct KeyRing {
    catalog: Arc<dyn KeyStore>,
    master: Arc<MasterKey>,
    rotation: Duration,
    cache: Mutex<HashMap<String, Arc<ActiveKey>>>,
}

/// The sealing context of a private key.
pub fn seal_context(region: &str, fingerprint: &str) -> String {
    format!("signing-key:{region}:{fingerprint}")
}

/// How long before the end of its window a key is replaced: a tenth of the rotation period,
/// at most one hour (the overlap of successive windows).
pub fn rotation_margin(window: i64) -> i64 {
    (window / 10).clamp(0, 3600)
}

/// Whether a key valid over `[valid_from, valid_to]` may sign a digest ending at `at`.
pub fn usable_at(valid_from: i64, valid_to: i64, at: i64) -> bool {
    valid_from <= at && at < valid_to - rotation_margin(valid_to - valid_from)
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A key ring over the catalog; new keys are valid for `rotation` (at least one second).
    pub fn new(catalog: Arc<dyn KeyStore>, master: Arc<MasterKey>, rotation: Duration) -> Self {
        Self {
            catalog,
            master,
            rotation: rotation.max(Duration::from_secs(1)),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The key that signs `region`'s digests ending at `at` (unix seconds): the newest stored
    /// key if it is usable at `at`, else a freshly generated one, stored (published) first.
    pub fn signing_key(&self, region: &str, at: i64) -> Result<Arc<ActiveKey>, KeyError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cache.get(region)
            && usable_at(k.valid_from, k.valid_to, at)
        {
            return Ok(k.clone());
        }
        if let Some(row) = self.catalog.latest_signing_key(region)?
            && usable_at(row.valid_from, row.valid_to, at)
        {
            let der = self.master.open(
                &seal_context(&row.region, &row.fingerprint),
                &row.sealed_private,
            )?;
            let key = SigningKey::from_pkcs8_der(&der)?;
            let active = Arc::new(ActiveKey {
                key,
                valid_from: row.valid_from,
                valid_to: row.valid_to,
            });
            cache.insert(region.to_owned(), active.clone());
            return Ok(active);
        }
        let key = SigningKey::generate()?;
        let secret = key.to_pkcs8_der()?;
        let fingerprint = key.fingerprint().to_owned();
        let window = i64::try_from(self.rotation.as_secs()).unwrap_or(i64::MAX / 4);
        let row = SigningKeyRow {
            region: region.to_owned(),
            sealed_private: self
                .master
                .seal(&seal_context(region, &fingerprint), secret.expose_secret())?,
            public_der: key.public_key().der().to_vec(),
            fingerprint,
            valid_from: at,
            valid_to: at.saturating_add(window),
        };
        self.catalog.insert_signing_key(&row)?;
        tracing::info!(region, fingerprint = %row.fingerprint, "new digest signing key published");
        let active = Arc::new(ActiveKey {
            key,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
        });
        cache.insert(region.to_owned(), active.clone());
        Ok(active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_catalog::Catalog;

    fn ring(rotation: u64) -> (tempfile::TempDir, Arc<Catalog>, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
        let master = Arc::new(MasterKey::from_bytes(&[9u8; 32]).unwrap());
        let r = KeyRing::new(catalog.clone(), master, Duration::from_secs(rotation));
        (dir, catalog, r)
    }

    #[test]
    fn keys_are_per_region_reused_and_rotated_with_overlap() {
        let (_d, catalog, r) = ring(100);
        let a = r.signing_key("us-east-1", 1000).unwrap();
        let b = r.signing_key("eu-west-1", 1000).unwrap();
        assert_ne!(a.key.fingerprint(), b.key.fingerprint());
        // Reused inside the window, replaced in its last tenth.
        assert_eq!(
            r.signing_key("us-east-1", 1089).unwrap().key.fingerprint(),
            a.key.fingerprint()
        );
        let c = r.signing_key("us-east-1", 1090).unwrap();
        assert_ne!(c.key.fingerprint(), a.key.fingerprint());
        assert_eq!((c.valid_from, c.valid_to), (1090, 1190));
        // Both published; windows overlap at 1095.
        let keys = catalog.signing_keys("us-east-1", 1095, 1095).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(catalog.signing_keys("us-east-1", 0, 999).unwrap().len(), 0);
        assert_eq!(
            catalog.signing_keys("us-east-1", 1150, 5000).unwrap().len(),
            1
        );
    }

    #[test]
    fn private_halves_are_sealed_and_survive_a_restart() {
        let (dir, catalog, r) = ring(3600);
        let a = r.signing_key("us-east-1", 10).unwrap();
        let row = catalog.latest_signing_key("us-east-1").unwrap().unwrap();
        let der = a.key.to_pkcs8_der().unwrap();
        let plain = der.expose_secret();
        assert!(
            !row.sealed_private
                .windows(32)
                .any(|w| w == &plain[plain.len() - 32..])
        );
        assert_eq!(
            cairn_logfile::keys::fingerprint(&row.public_der),
            row.fingerprint
        );
        // A new ring (a restart) reuses the stored key.
        let master = Arc::new(MasterKey::from_bytes(&[9u8; 32]).unwrap());
        let r2 = KeyRing::new(catalog.clone(), master, Duration::from_secs(3600));
        assert_eq!(
            r2.signing_key("us-east-1", 20).unwrap().key.fingerprint(),
            a.key.fingerprint()
        );
        // The wrong master key cannot open it.
        let wrong = Arc::new(MasterKey::from_bytes(&[1u8; 32]).unwrap());
        let r3 = KeyRing::new(catalog, wrong, Duration::from_secs(3600));
        assert!(matches!(
            r3.signing_key("us-east-1", 20),
            Err(KeyError::Secret(_))
        ));
        drop(dir);
    }
}
