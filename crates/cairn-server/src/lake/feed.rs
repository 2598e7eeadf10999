//! The background loops: the journal consumer that feeds the event data stores, and the
//! compactor that keeps the Parquet copies.

use super::*;

/// The journal consumer: routes events to the enabled stores' log files.
pub(super) fn consume(
    data_dir: &Path,
    master: &crate::secrets::MasterKey,
    routes: &RwLock<Arc<Vec<Route>>>,
    regions: &std::collections::HashSet<String>,
    journal: &Journal,
    control: &cairn_core::worker::Control,
) -> Result<(), String> {
    use std::io::Write;
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let mut reader = journal.reader(start).map_err(|e| e.to_string())?;
    while !control.stopping() {
        let batch = reader
            .next_batch(5000, Duration::from_millis(200))
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            continue;
        }
        let routes = routes.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !routes.is_empty() {
            let mut per_store: Vec<Vec<&[u8]>> = vec![Vec::new(); routes.len()];
            let decoded: Vec<(u64, envelope::Envelope<'_>)> = batch
                .iter()
                .filter_map(|r| envelope::decode(&r.payload).ok().map(|e| (r.seq, e)))
                .collect();
            for (seq, e) in &decoded {
                let view = e.view();
                for (i, r) in routes.iter().enumerate() {
                    let s = &r.store;
                    let in_scope = *seq >= s.start_seq
                        && e.recipient_account_id == s.account
                        && (if s.multi_region {
                            regions.contains(e.aws_region)
                        } else {
                            e.aws_region == s.region
                        });
                    if in_scope && r.selectors.matches(&view) {
                        per_store[i].push(e.record);
                    }
                }
            }
            let (first, last) = (batch[0].seq, batch[batch.len() - 1].seq);
            for (r, records) in routes.iter().zip(per_store) {
                if records.is_empty() {
                    continue;
                }
                let mut json =
                    Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
                json.extend_from_slice(b"{\"Records\":[");
                for (i, rec) in records.iter().enumerate() {
                    if i > 0 {
                        json.push(b',');
                    }
                    json.extend_from_slice(rec);
                }
                json.extend_from_slice(b"]}");
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&json).map_err(|e| e.to_string())?;
                let bytes = gz.finish().map_err(|e| e.to_string())?;
                let id = &r.store.id;
                let keys = cairn_lake::layout::store_keys(master, id).map_err(|e| e.to_string())?;
                let name = format!("{first:020}-{last:020}.json.gz");
                cairn_lake::layout::write_store_log(data_dir, &keys, id, &name, &bytes)
                    .map_err(|e| e.to_string())?;
            }
        }
        journal
            .commit_cursor(CURSOR, reader.position())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One compaction round: brings the sealed Parquet copy of each event data store and of each local
/// bucket (the vault buckets Cairn writes, and configured `backend = "local"` ones) up to date. Runs on the compactor's own thread;
/// the buckets are called on the server's runtime `rt` (without one, only stores).
pub(super) fn compact_round(
    data_dir: &Path,
    master: &crate::secrets::MasterKey,
    buckets: Option<&Arc<crate::state::Buckets>>,
    rt: Option<&tokio::runtime::Handle>,
) -> Result<(), String> {
    let stores = cairn_lake::layout::compact_stores(data_dir, master).map_err(|e| e.to_string());
    if let (Some(buckets), Some(rt)) = (buckets, rt) {
        let local = buckets.local_buckets().map_err(|e| e.to_string())?;
        cairn_lake::layout::compact_buckets(data_dir, &local, rt, master)
            .map_err(|e| e.to_string())?;
    }
    stores.map(|_| ())
}
