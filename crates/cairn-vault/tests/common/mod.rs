//! What the vault's integration tests share: a fake key service and vaults in fresh
//! directories.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_vault::*;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// A fake KMS: data keys "wrapped" by XOR with a per-key byte, plus a disabled switch.
#[derive(Debug, Default)]
pub(crate) struct FakeKms {
    /// While set, every call answers `Disabled`.
    pub(crate) disabled: Mutex<bool>,
}

impl KeyService for FakeKms {
    fn generate_data_key(
        &self,
        account: &str,
        key_id: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>, String), KeyServiceError> {
        if *self.disabled.lock().unwrap() {
            return Err(KeyServiceError::Disabled(key_id.into()));
        }
        if key_id == "missing" {
            return Err(KeyServiceError::NotFound(key_id.into()));
        }
        let pt = Zeroizing::new([0x5au8; 32]);
        let mut blob = b"fake:".to_vec();
        blob.extend(pt.iter().map(|b| b ^ 0xff));
        blob.extend(serde_json::to_vec(context).unwrap());
        let arn = if key_id.starts_with("arn:") {
            key_id.to_owned()
        } else {
            format!("arn:aws:kms:us-east-1:{account}:key/{key_id}")
        };
        Ok((pt, blob, arn))
    }

    fn decrypt_data_key(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<[u8; 32]>, KeyServiceError> {
        if *self.disabled.lock().unwrap() {
            return Err(KeyServiceError::Disabled("key".into()));
        }
        let rest = blob
            .strip_prefix(b"fake:")
            .ok_or_else(|| KeyServiceError::InvalidCiphertext("prefix".into()))?;
        if rest.len() < 32 || rest[32..] != serde_json::to_vec(context).unwrap()[..] {
            return Err(KeyServiceError::InvalidCiphertext("context".into()));
        }
        let mut k = Zeroizing::new([0u8; 32]);
        for (o, b) in k.iter_mut().zip(&rest[..32]) {
            *o = b ^ 0xff;
        }
        Ok(k)
    }
}

pub(crate) fn vault(dir: &std::path::Path) -> (Arc<Vault>, Arc<FakeKms>) {
    let kms = Arc::new(FakeKms::default());
    let v = Vault::open(
        dir,
        Arc::new(AesSealer::new(&[9u8; 32]).unwrap()),
        Some(kms.clone()),
    )
    .unwrap();
    (Arc::new(v), kms)
}

/// A vault in a fresh directory holding the bucket `name` of `account` in us-east-1 (with
/// object lock when `lock`).
pub(crate) fn vault_with(
    name: &str,
    account: &str,
    lock: bool,
) -> (tempfile::TempDir, Arc<Vault>, Arc<FakeKms>) {
    let dir = tempfile::tempdir().unwrap();
    let (v, kms) = vault(dir.path());
    v.create_bucket(name, account, "us-east-1", lock, now())
        .unwrap();
    (dir, v, kms)
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Every file below `dir`, at any depth.
pub(crate) fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
