//! The catalog contract as a test suite every [`CatalogStore`] implementation runs.
//!
//! ```no_run
//! // In an implementation's tests:
//! cairn_catalog::conformance::run(|| {
//!     let dir = tempfile::tempdir().unwrap().keep();
//!     cairn_catalog::Catalog::open(&dir).unwrap()
//! });
//! ```
//!
//! `make` returns a fresh, empty store each time it is called. A broken contract panics with
//! the name of the check.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::model::Trail;
use crate::{BatchRow, CatalogError, CatalogStore, DigestChainRow, PartitionId, SigningKeyRow};

/// Runs every check of the contract, each on a fresh store from `make`.
pub fn run<S: CatalogStore + 'static>(make: impl Fn() -> S) {
    trails_round_trip(&make());
    trail_versions_are_ordered_and_pruned(&make());
    channels_round_trip(&make());
    batches_round_trip(&make());
    batch_queries_are_per_partition(&make());
    digest_chains_list_each_batch_once(&make());
    undigested_batches_respect_window_and_floor(&make());
    signing_keys_round_trip(&make());
    concurrent_batch_inserts_get_distinct_ids(Arc::new(make()));
}

/// A trail with every optional setting empty, logging into `bucket` with no event selectors.
pub fn sample_trail(account: &str, region: &str, name: &str) -> Trail {
    Trail {
        s3_bucket_name: "bucket".to_owned(),
        selectors: cairn_select::Selectors::Basic(Vec::new()),
        logging: true,
        ..Trail::new(account, region, name, 1.0)
    }
}

/// A pending batch of `partition` covering `first..=last`.
pub fn sample_batch(partition: &PartitionId, first: u64, last: u64) -> BatchRow {
    BatchRow {
        id: 0,
        trail_arn: partition.0.clone(),
        account_id: partition.1.clone(),
        region: partition.2.clone(),
        bucket: "bucket".to_owned(),
        object_key: format!("key-{first}-{last}"),
        first_seq: first,
        last_seq: last,
        seqs: vec![1, 2, 3],
        state: "pending".to_owned(),
        record_count: last - first + 1,
        delivered: None,
        sha256: None,
        oldest_event_time: None,
        newest_event_time: None,
    }
}

fn partition(n: u32) -> PartitionId {
    (
        format!("arn:aws:cloudtrail:us-east-1:111111111111:trail/t{n}"),
        "111111111111".to_owned(),
        "us-east-1".to_owned(),
    )
}

fn trails_round_trip<S: CatalogStore>(s: &S) {
    assert!(
        s.trails().expect("trails").is_empty(),
        "a new store has no trails"
    );
    let mut a = sample_trail("111111111111", "us-east-1", "a");
    let b = sample_trail("111111111111", "eu-west-1", "a");
    s.put_trail(&a).expect("put a");
    s.put_trail(&b).expect("put b");
    a.logging = false;
    s.put_trail(&a).expect("replace a");
    let mut got = s.trails().expect("trails");
    got.sort_by_key(Trail::arn);
    assert_eq!(
        got,
        vec![b.clone(), a.clone()],
        "put_trail replaces by identity"
    );
    assert!(
        s.delete_trail("111111111111", "us-east-1", "a")
            .expect("delete")
    );
    assert!(
        !s.delete_trail("111111111111", "us-east-1", "a")
            .expect("delete again"),
        "deleting a missing trail reports not found"
    );
    assert_eq!(s.trails().expect("trails"), vec![b]);
}

fn trail_versions_are_ordered_and_pruned<S: CatalogStore>(s: &S) {
    let t = |n: &str| vec![sample_trail("111111111111", "us-east-1", n)];
    s.put_trail_version(20, &t("b")).expect("put 20");
    s.put_trail_version(0, &t("a")).expect("put 0");
    s.put_trail_version(30, &t("c")).expect("put 30");
    s.put_trail_version(20, &t("b2")).expect("replace 20");
    let got = s.trail_versions().expect("versions");
    let names: Vec<(u64, String)> = got
        .iter()
        .map(|(seq, ts)| (*seq, ts[0].name.clone()))
        .collect();
    assert_eq!(
        names,
        vec![(0, "a".into()), (20, "b2".into()), (30, "c".into())],
        "versions ascend by from_seq; a second put at one position replaces"
    );
    assert_eq!(s.prune_trail_versions(30).expect("prune"), 2);
    assert_eq!(s.prune_trail_versions(30).expect("prune again"), 0);
    let left: Vec<u64> = s
        .trail_versions()
        .expect("versions")
        .iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(left, vec![30]);
    s.put_trail_version(40, &[])
        .expect("an empty trail set is a version too");
    assert_eq!(s.trail_versions().expect("versions")[1], (40, Vec::new()));
}

fn channels_round_trip<S: CatalogStore>(s: &S) {
    s.put_channel("arn:c2", "111111111111", "us-east-1", "{\"n\":2}")
        .expect("put c2");
    s.put_channel("arn:c1", "111111111111", "us-east-1", "{\"n\":1}")
        .expect("put c1");
    s.put_channel("arn:c2", "111111111111", "us-east-1", "{\"n\":3}")
        .expect("replace c2");
    assert_eq!(
        s.channels().expect("channels"),
        vec!["{\"n\":1}".to_owned(), "{\"n\":3}".to_owned()],
        "channels ascend by ARN; put replaces"
    );
    assert!(s.delete_channel("arn:c1").expect("delete"));
    assert!(!s.delete_channel("arn:c1").expect("delete again"));
    assert_eq!(s.channels().expect("channels").len(), 1);
}

fn batches_round_trip<S: CatalogStore>(s: &S) {
    let p = partition(1);
    assert!(s.pending_batches().expect("pending").is_empty());
    assert_eq!(s.max_batch_id(&p).expect("max id"), 0);
    assert_eq!(s.latest_delivery(&p).expect("latest"), None);
    let first = sample_batch(&p, 1, 5);
    let id1 = s.insert_batch(&first, 100).expect("insert");
    let id2 = s
        .insert_batch(&sample_batch(&p, 6, 9), 101)
        .expect("insert");
    assert!(id2 > id1, "batch ids ascend");
    let pending = s.pending_batches().expect("pending");
    assert_eq!(pending.len(), 2);
    assert_eq!(
        pending[0],
        BatchRow { id: id1, ..first },
        "a batch reads back as stored"
    );
    assert_eq!(pending[1].id, id2, "pending batches ascend by id");
    assert_eq!(s.pending_batch_count(&p).expect("count"), 2);
    s.complete_batch(id1, 200, "abc", Some(150), Some(160))
        .expect("complete");
    let pending = s.pending_batches().expect("pending");
    assert_eq!(pending.iter().map(|b| b.id).collect::<Vec<_>>(), vec![id2]);
    let done = s.delivered_batches(&p, 200, 201).expect("done");
    assert_eq!(done.len(), 1);
    let d = &done[0];
    assert_eq!(
        (d.state.as_str(), d.delivered, d.sha256.as_deref()),
        ("done", Some(200), Some("abc"))
    );
    assert_eq!(
        (d.oldest_event_time, d.newest_event_time),
        (Some(150), Some(160))
    );
    assert!(
        s.delivered_batches(&p, 100, 200).expect("done").is_empty(),
        "the delivery window is half-open"
    );
    assert_eq!(s.latest_delivery(&p).expect("latest"), Some(200));
    assert_eq!(s.max_batch_id(&p).expect("max id"), id2);
    assert_eq!(s.partition_watermarks().expect("watermarks"), vec![(p, 9)]);
}

fn batch_queries_are_per_partition<S: CatalogStore>(s: &S) {
    let (p1, p2) = (partition(1), partition(2));
    s.insert_batch(&sample_batch(&p1, 1, 3), 1).expect("insert");
    let b = s.insert_batch(&sample_batch(&p2, 2, 7), 1).expect("insert");
    s.insert_batch(&sample_batch(&p1, 4, 4), 1).expect("insert");
    let mut marks = s.partition_watermarks().expect("watermarks");
    marks.sort();
    assert_eq!(marks, vec![(p1.clone(), 4), (p2.clone(), 7)]);
    assert_eq!(s.pending_batch_count(&p1).expect("count"), 2);
    assert_eq!(s.pending_batch_count(&partition(3)).expect("count"), 0);
    assert_eq!(s.max_batch_id(&p2).expect("max"), b);
}

fn digest_chains_list_each_batch_once<S: CatalogStore>(s: &S) {
    let p = partition(1);
    let id = s.insert_batch(&sample_batch(&p, 1, 1), 1).expect("insert");
    s.complete_batch(id, 10, "h", None, None).expect("complete");
    let row = DigestChainRow {
        partition: p.clone(),
        doc: "{\"v\":1}".into(),
        pending_gzip: Some(vec![1, 2]),
    };
    s.put_digest_chain(&row, "digest-1", &[id])
        .expect("put chain");
    assert_eq!(s.digest_chains().expect("chains"), vec![row.clone()]);
    let again = DigestChainRow {
        doc: "{\"v\":2}".into(),
        ..row.clone()
    };
    assert!(
        s.put_digest_chain(&again, "digest-2", &[id]).is_err(),
        "a batch is listed in one digest only"
    );
    assert_eq!(
        s.digest_chains().expect("chains"),
        vec![row],
        "a failed put_digest_chain changes nothing"
    );
    let cleared = DigestChainRow {
        pending_gzip: None,
        ..again
    };
    s.put_digest_chain(&cleared, "digest-2", &[])
        .expect("put chain");
    assert_eq!(s.digest_chains().expect("chains"), vec![cleared]);
    let (rows, _) = s.undigested_batches(&p, 0, 0, 100).expect("undigested");
    assert!(rows.is_empty(), "a listed batch is not undigested");
}

fn undigested_batches_respect_window_and_floor<S: CatalogStore>(s: &S) {
    let p = partition(1);
    let ids: Vec<i64> = (0..4u64)
        .map(|i| s.insert_batch(&sample_batch(&p, i, i), 1).expect("insert"))
        .collect();
    s.complete_batch(ids[0], 5, "h", None, None)
        .expect("complete");
    s.complete_batch(ids[1], 15, "h", None, None)
        .expect("complete");
    s.complete_batch(ids[3], 50, "h", None, None)
        .expect("complete");
    // ids[2] stays pending: the floor cannot pass it.
    let (rows, floor) = s.undigested_batches(&p, 0, 10, 20).expect("undigested");
    assert_eq!(
        rows.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![ids[1]],
        "only batches delivered in [chain_start, end)"
    );
    assert_eq!(
        floor,
        ids[2] - 1,
        "the floor stops below the first unsettled batch"
    );
    s.complete_batch(ids[2], 18, "h", None, None)
        .expect("complete");
    let (rows, _) = s.undigested_batches(&p, floor, 10, 20).expect("undigested");
    assert_eq!(
        rows.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![ids[2]],
        "batches at or below the floor are not looked at again"
    );
}

fn signing_keys_round_trip<S: CatalogStore>(s: &S) {
    let key = |fp: &str, from: i64, to: i64| SigningKeyRow {
        region: "us-east-1".into(),
        fingerprint: fp.into(),
        public_der: vec![1],
        sealed_private: vec![2],
        valid_from: from,
        valid_to: to,
    };
    assert_eq!(s.latest_signing_key("us-east-1").expect("latest"), None);
    s.insert_signing_key(&key("b", 100, 200)).expect("insert");
    s.insert_signing_key(&key("a", 0, 100)).expect("insert");
    assert!(matches!(
        s.insert_signing_key(&key("a", 0, 100)),
        Err(CatalogError::AlreadyExists(_))
    ));
    let all = s.signing_keys("us-east-1", 0, 1000).expect("keys");
    assert_eq!(
        all.iter()
            .map(|k| k.fingerprint.as_str())
            .collect::<Vec<_>>(),
        vec!["a", "b"],
        "keys ascend by validity start"
    );
    assert_eq!(
        s.signing_keys("us-east-1", 150, 160).expect("keys").len(),
        1
    );
    assert!(
        s.signing_keys("eu-west-1", 0, 1000)
            .expect("keys")
            .is_empty()
    );
    assert_eq!(
        s.latest_signing_key("us-east-1").expect("latest"),
        Some(key("b", 100, 200))
    );
}

fn concurrent_batch_inserts_get_distinct_ids<S: CatalogStore + 'static>(s: Arc<S>) {
    const THREADS: u64 = 4;
    const EACH: u64 = 25;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let p = partition(t as u32);
                (0..EACH)
                    .map(|i| {
                        let id = s.insert_batch(&sample_batch(&p, i, i), 1).expect("insert");
                        if i % 2 == 0 {
                            s.complete_batch(id, 2, "h", None, None).expect("complete");
                        }
                        id
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for h in handles {
        let ids = h.join().expect("inserting thread");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend per writer");
        all.extend(ids);
    }
    assert_eq!(
        all.len() as u64,
        THREADS * EACH,
        "concurrent inserts get distinct ids"
    );
    let pending = s.pending_batches().expect("pending");
    assert_eq!(pending.len() as u64, THREADS * (EACH / 2));
    let marks = s.partition_watermarks().expect("watermarks");
    assert_eq!(marks.len() as u64, THREADS);
    assert!(marks.iter().all(|(_, w)| *w == EACH - 1));
}
