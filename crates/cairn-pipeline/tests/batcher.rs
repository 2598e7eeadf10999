//! Property test of the batcher: whatever the events, trails and restarts, every event is
//! delivered exactly once to every partition its trail selects, and to no other.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use cairn_catalog::model::Trail;
use cairn_catalog::{BatchStore, Catalog};
use cairn_journal::Journal;
use cairn_pipeline::deliver::{Deps, MAX_FILE_BYTES, Pipeline, Shared};
use cairn_pipeline::envelope::{self, RouteKeys};
use cairn_pipeline::{MemoryStatus, PipelineConfig, SingleBucket, StaticTrails};
use cairn_store::{Bucket, MemoryBucket};
use proptest::prelude::*;

const ACCT: &str = "111111111111";
const OTHER: &str = "222222222222";
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
/// Enabled regions (eu-west-1 is not).
const ENABLED: [&str; 2] = ["us-east-1", "us-west-2"];

#[derive(Debug, Clone)]
struct TrailSpec {
    home: usize,
    multi_region: bool,
    logging: bool,
}

#[derive(Debug, Clone)]
enum Op {
    /// An event in region `REGIONS[.0]`, of account `ACCT` or (`.1`) `OTHER`.
    Event(usize, bool),
    /// Let the delivery interval pass (open batches seal on age).
    Tick,
    /// Stop the pipeline (sealing open batches) and start a new one.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..REGIONS.len(), proptest::bool::weighted(0.2)).prop_map(|(r, o)| Op::Event(r, o)),
        1 => Just(Op::Tick),
        1 => Just(Op::Restart),
    ]
}

fn trail_spec() -> impl Strategy<Value = TrailSpec> {
    (0..2usize, any::<bool>(), proptest::bool::weighted(0.8)).prop_map(
        |(home, multi_region, logging)| TrailSpec {
            home,
            multi_region,
            logging,
        },
    )
}

fn trail(i: usize, s: &TrailSpec) -> Trail {
    let mut t = cairn_catalog::conformance::sample_trail(ACCT, REGIONS[s.home], &format!("t{i}"));
    t.s3_key_prefix = Some(format!("t{i}"));
    t.is_multi_region = s.multi_region;
    t.logging = s.logging;
    t.selectors = cairn_select::Selectors::default_for_trail();
    t
}

/// Whether the model says trail `s` takes an event of `region` and `account`.
fn selects(s: &TrailSpec, region: usize, other_account: bool) -> bool {
    let region_ok = if s.multi_region {
        ENABLED.contains(&REGIONS[region])
    } else {
        region == s.home
    };
    s.logging && region_ok && !other_account
}

struct World {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    catalog: Arc<Catalog>,
    journal: Arc<Journal>,
    bucket: Arc<MemoryBucket>,
    trails: Arc<StaticTrails>,
    status: Arc<MemoryStatus>,
    config: Arc<PipelineConfig>,
}

impl World {
    fn new(trails: Vec<Trail>) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        World {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
            catalog: Arc::new(Catalog::open(dir.path()).expect("catalog")),
            journal: Arc::new(
                Journal::open(dir.path().join("journal"), Default::default()).expect("journal"),
            ),
            bucket: Arc::new(MemoryBucket::new("bucket")),
            trails: Arc::new(StaticTrails::new(trails)),
            status: Arc::new(MemoryStatus::default()),
            config: Arc::new(PipelineConfig {
                regions: ENABLED.map(String::from).into(),
                organization: None,
                delivery_interval: Duration::from_millis(30),
                digest_period: Duration::from_secs(3600),
            }),
            _dir: dir,
        }
    }

    fn start(&self) -> Pipeline {
        Pipeline::start(Deps {
            shared: Shared {
                config: self.config.clone(),
                catalog: self.catalog.clone(),
                trails: self.trails.clone(),
                status: self.status.clone(),
                buckets: Arc::new(SingleBucket::new("bucket", self.bucket.clone())),
                runtime: self.rt.handle().clone(),
            },
            journal: self.journal.clone(),
        })
        .expect("start")
    }

    fn append(&self, n: u64, region: usize, other: bool) {
        let account = if other { OTHER } else { ACCT };
        let keys = RouteKeys {
            event_id: format!("e{n}"),
            event_time: 1_700_000_000,
            event_category: "Management".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_name: "RunInstances".into(),
            event_type: Some("AwsApiCall".into()),
            aws_region: REGIONS[region].into(),
            recipient_account_id: account.into(),
            read_only: Some(false),
            ..RouteKeys::default()
        };
        let record = serde_json::json!({
            "eventID": format!("e{n}"), "awsRegion": REGIONS[region],
            "recipientAccountId": account, "eventTime": "2023-11-14T22:13:20Z",
        })
        .to_string();
        self.journal
            .append(&[&envelope::encode(&keys, record.as_bytes())])
            .expect("append");
    }

    /// (trail prefix, account, region, event id) → how many files hold it.
    fn delivered(&self) -> BTreeMap<(String, String, String, String), usize> {
        let page = self
            .rt
            .block_on(self.bucket.list("", None, 100_000))
            .expect("list");
        let mut out = BTreeMap::new();
        for e in page.entries {
            let obj = self.rt.block_on(self.bucket.get(&e.key)).expect("get");
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(&obj.bytes[..])
                .read_to_end(&mut json)
                .expect("gzip");
            assert!(
                json.len() as u64 <= MAX_FILE_BYTES,
                "a file within the size cap"
            );
            let v: serde_json::Value = serde_json::from_slice(&json).expect("log file");
            // {prefix}/AWSLogs/{account}/CloudTrail/{region}/...
            let parts: Vec<&str> = e.key.split('/').collect();
            let (prefix, account, region) = (parts[0], parts[2], parts[4]);
            for r in v["Records"].as_array().expect("records") {
                assert_eq!(r["awsRegion"], region, "a file holds one region's events");
                assert_eq!(r["recipientAccountId"], account, "and one account's");
                let id = r["eventID"].as_str().expect("eventID").to_owned();
                *out.entry((prefix.into(), account.into(), region.into(), id))
                    .or_insert(0) += 1;
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_event_reaches_exactly_the_batches_its_trails_select(
        specs in proptest::collection::vec(trail_spec(), 1..4),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let trails: Vec<Trail> = specs.iter().enumerate().map(|(i, s)| trail(i, s)).collect();
        let w = World::new(trails);
        let mut p = w.start();
        let mut want = BTreeMap::new();
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Event(region, other) => {
                    w.append(n as u64, *region, *other);
                    for (i, s) in specs.iter().enumerate() {
                        if selects(s, *region, *other) {
                            let account = if *other { OTHER } else { ACCT };
                            want.insert(
                                (format!("t{i}"), account.to_owned(), REGIONS[*region].to_owned(), format!("e{n}")),
                                1usize,
                            );
                        }
                    }
                }
                Op::Tick => std::thread::sleep(Duration::from_millis(40)),
                Op::Restart => {
                    prop_assert!(p.shutdown(Duration::from_secs(20)), "shutdown in time");
                    p = w.start();
                }
            }
        }
        // Records journaled but not yet read when a pipeline stops stay in the journal for
        // the next one: wait until the last pipeline has delivered everything (batches seal
        // on age), then stop it, which must add nothing.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while w.delivered() != want && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        prop_assert!(p.shutdown(Duration::from_secs(20)), "shutdown in time");
        prop_assert!(w.catalog.pending_batches().expect("pending").is_empty());
        prop_assert_eq!(w.delivered(), want);
    }
}
