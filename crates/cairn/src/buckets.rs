//! `cairn bucket ls` / `cairn bucket get`: read a bucket the way the server writes it.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cairn_server::config::Config;

fn open(config: &Config, name: &str) -> Result<Arc<dyn cairn_store::Bucket>> {
    match config.buckets.get(name) {
        Some(cairn_store::BucketConfig::S3(s3)) => Ok(Arc::new(
            cairn_store::S3Bucket::from_config(name, s3)
                .with_context(|| format!("opening bucket {name}"))?,
        )),
        // A configured local bucket is a vault bucket (ADR 0011), opened as the server does.
        Some(local) => {
            let vault = Arc::new(open_vault(config)?);
            let owner = cairn_vault::Owner {
                account: config.account_id.as_str(),
                region: config.home_region.as_str(),
            };
            cairn_vault::open_bucket(name, local, &vault, &config.data_dir, owner)
                .with_context(|| format!("opening bucket {name}"))
        }
        None => open_local(config, name),
    }
}

fn open_vault(config: &Config) -> Result<cairn_vault::Vault> {
    let master = Arc::new(cairn_server::secrets::MasterKey::load_or_create(
        &config.data_dir,
        std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
    )?);
    cairn_server::s3::open_vault_with_kms(&config.data_dir, master, config.home_region.as_str())
        .context("opening the local buckets")
}

/// A local bucket: the server's vault under `<data_dir>/buckets` (decrypted with the master
/// key, so this needs `CAIRN_MASTER_KEY` or the data directory's `master.key`).
pub(crate) fn open_local(config: &Config, name: &str) -> Result<Arc<dyn cairn_store::Bucket>> {
    if !config.data_dir.join("catalog.sqlite").exists() {
        bail!(
            "bucket {name} does not exist in {}",
            config.data_dir.display()
        );
    }
    let catalog = cairn_server::catalog::Catalog::open(&config.data_dir)?;
    let vault = Arc::new(open_vault(config)?);
    match cairn_server::s3::local_bucket(&vault, &catalog, name) {
        Ok(_) => Ok(Arc::new(cairn_vault::VaultBucket::new(vault, name))),
        Err(cairn_vault::VaultError::NoSuchBucket { .. }) => bail!(
            "bucket {name} does not exist in {}",
            config.data_dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("opening bucket {name}")),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn ls(config: &Config, name: &str, prefix: &str) -> Result<()> {
    let bucket = open(config, name)?;
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    let mut marker: Option<String> = None;
    loop {
        let page = rt
            .block_on(bucket.list(prefix, marker.as_deref(), 1000))
            .with_context(|| format!("listing bucket {name}"))?;
        for e in &page.entries {
            writeln!(out, "{}", e.key)?;
        }
        if !page.is_truncated {
            break;
        }
        marker = page
            .next_marker
            .or_else(|| page.entries.last().map(|e| e.key.clone()));
    }
    Ok(())
}

pub(crate) fn get(config: &Config, name: &str, key: &str, output: Option<&Path>) -> Result<()> {
    let bucket = open(config, name)?;
    let obj = runtime()?
        .block_on(bucket.get(key))
        .with_context(|| format!("reading s3://{name}/{key}"))?;
    match output {
        Some(p) => {
            std::fs::write(p, &obj.bytes).with_context(|| format!("writing {}", p.display()))?
        }
        None => std::io::stdout().lock().write_all(&obj.bytes)?,
    }
    Ok(())
}
