//! The buckets of Cairn's configuration (`[buckets.<name>]`), opened: `backend = "local"` is
//! a vault bucket, `backend = "s3"` an [`cairn_store::S3Bucket`]. See ADR 0011.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::{Bucket, BucketConfig, S3Bucket};
use time::OffsetDateTime;

use crate::bucket::VaultBucket;
use crate::error::VaultError;
use crate::legacy;
use crate::vault::Vault;

/// Why a configured bucket cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The S3 settings are wrong.
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    /// The vault (or the import of an earlier version's directory) failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// The account and region that own configured local buckets when they are created in the
/// vault (the server's default account and home region).
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// 12-digit account id.
    pub account: &'a str,
    /// Region.
    pub region: &'a str,
}

/// Opens the configured bucket `name`.
///
/// `backend = "local"` without `root` is the bucket `name` of `vault` (the vault of
/// `<data_dir>/buckets`, which API-created buckets share: one name space, so a configured
/// name and a `CreateBucket` can never make two buckets); with `root`, the bucket `name` of
/// a vault of its own opened at `root` with `vault`'s keys. Either way the bucket is created
/// (owned by `owner`) if missing, and a directory an earlier version wrote for it
/// (`<data_dir>/buckets/<name>`, or `root` itself) is imported first ([`legacy::import_tree`]).
/// Blocking for local buckets: call at startup or from `spawn_blocking`.
pub fn open_bucket(
    name: &str,
    config: &BucketConfig,
    vault: &Arc<Vault>,
    data_dir: &Path,
    owner: Owner<'_>,
) -> Result<Arc<dyn Bucket>, OpenError> {
    let local = match config {
        BucketConfig::S3(s3) => return Ok(Arc::new(S3Bucket::from_config(name, s3)?)),
        BucketConfig::Local(local) => local,
    };
    let (vault, old_dir, moved_base) = match &local.root {
        None => {
            let old = data_dir.join("buckets").join(name);
            (vault.clone(), old.clone(), old)
        }
        Some(root) => {
            // The old tree and the new vault would share `root`: move the tree out of the
            // way first (atomic; a restart finds it under the staging name and goes on).
            let staged = suffixed(root, ".importing");
            if legacy::is_legacy_tree(root) && !root.join("vault.sqlite").exists() {
                cairn_core::fs::rename_durable(root, &staged)
                    .map_err(|e| VaultError::io(root, e))?;
            }
            (Arc::new(vault.open_sibling(root)?), staged, root.clone())
        }
    };
    let now = OffsetDateTime::now_utc();
    vault.ensure_bucket(name, owner.account, owner.region, now)?;
    if legacy::is_legacy_tree(&old_dir) {
        legacy::import_tree(&vault, name, &old_dir, &moved_base)?;
    }
    Ok(Arc::new(VaultBucket::new(vault, name)))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
