//! `cairn events tail`.

use std::io::Write;

use anyhow::{Context, Result};
use cairn_server::config::Config;

pub(crate) fn tail(config: &Config, from: u64, last: Option<usize>, follow: bool) -> Result<()> {
    let dir = cairn_server::journal::dir(&config.data_dir);
    if !dir.exists() {
        anyhow::bail!(
            "no journal in {} (has `cairn serve` run with this data directory?)",
            config.data_dir.display()
        );
    }
    // Journal frames are sealed under a key derived from the master key.
    let master = cairn_server::secrets::MasterKey::load_existing(
        &config.data_dir,
        std::env::var("CAIRN_MASTER_KEY").ok().as_deref(),
    )
    .context("loading the master key that encrypts the journal")?;
    let mut reader = cairn_journal::SnapshotReader::open_with_key(
        &dir,
        from,
        Some(cairn_server::secrets::journal_key(&master)?),
    )
    .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    let mut pending: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    loop {
        let batch = reader.next_batch(1024)?;
        if batch.is_empty() {
            break;
        }
        for rec in batch {
            match last {
                Some(n) => {
                    pending.push_back(record_of(&rec.payload).to_vec());
                    if pending.len() > n {
                        pending.pop_front();
                    }
                }
                None => {
                    out.write_all(record_of(&rec.payload))?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    for p in pending {
        out.write_all(&p)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if follow {
        loop {
            let batch = reader.next_batch(1024)?;
            if batch.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            for rec in batch {
                out.write_all(record_of(&rec.payload))?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// The record JSON inside a journal payload (the payload itself if it is not an envelope).
fn record_of(payload: &[u8]) -> &[u8] {
    cairn_server::pipeline::envelope::decode(payload)
        .map(|e| e.record)
        .unwrap_or(payload)
}
