//! Event history benchmark (own timing; criterion-style flags are accepted and ignored).
//!
//! Builds an index of `CAIRN_BENCH_EVENTS` (default 1,000,000) events generated from the
//! shared real records (eventID, eventTime over 90 days, user names, access keys and
//! session names varied), then measures LookupEvents first pages (MaxResults 50) per
//! attribute and for time windows: p50/p99 latency and lookups/s on one thread.
//!
//! Baseline, in the same run, on `CAIRN_BENCH_BASELINE_EVENTS` (default 100,000) events
//! stored plain: the same first pages answered by a newest-first scan of the events table
//! that parses every record and filters on its attributes (what the store does without the
//! attribute table), next to the indexed lookup on that same data.
//!
//! `CAIRN_BENCH_DIR` picks where the database files go (default: a temporary directory).

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use cairn_history::{
    AttributeKey, HistoryIndex, HistoryOptions, IndexedEvent, LookupRequest, extract,
};
use cairn_logfile::synth::{self, ACCOUNT, REGION, Synth};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn templates() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail");
    let mut out = synth::load_templates(&dir).expect("shared data");
    out.retain(|v| extract::classify(v) == Some(extract::Category::Management));
    out
}

/// Deterministic xorshift.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The shared benchmark events (`cairn_logfile::synth`), serialized.
struct Generator {
    synth: Synth,
    n: usize,
}

impl Generator {
    fn new(templates: Vec<Value>, end: OffsetDateTime, n: usize) -> Self {
        let mut synth = Synth::new(templates, n);
        synth.end = end;
        Generator { synth, n }
    }

    fn time_of(&self, i: usize) -> OffsetDateTime {
        self.synth.time_of(i)
    }

    fn event(&self, i: usize) -> (OffsetDateTime, String, Vec<u8>) {
        let (t, id, v) = self.synth.event(i);
        (t, id, serde_json::to_vec(&v).unwrap())
    }
}

fn build(
    path: &Path,
    generator: &Generator,
    options: HistoryOptions,
) -> (HistoryIndex, StdDuration, u64) {
    let _ = std::fs::remove_file(path);
    let mut index = HistoryIndex::open(path, options).unwrap();
    let mut spent = StdDuration::ZERO;
    let mut raw_bytes = 0u64;
    let batch = 5_000;
    let mut i = 0;
    while i < generator.n {
        let upto = (i + batch).min(generator.n);
        let owned: Vec<(OffsetDateTime, String, Vec<u8>)> =
            (i..upto).map(|j| generator.event(j)).collect();
        raw_bytes += owned.iter().map(|e| e.2.len() as u64).sum::<u64>();
        let events: Vec<IndexedEvent<'_>> = owned
            .iter()
            .enumerate()
            .map(|(k, (t, id, raw))| IndexedEvent {
                seq: (i + k + 1) as u64,
                account: ACCOUNT,
                region: REGION,
                event_time: *t,
                event_id: id,
                raw,
            })
            .collect();
        let start = Instant::now();
        let outcome = index.index_batch(&events).unwrap();
        spent += start.elapsed();
        assert_eq!(outcome.indexed, events.len());
        i = upto;
        if generator.n >= 1_000_000 && i % 1_000_000 == 0 {
            eprintln!(
                "  indexed {i} events, {:.0} events/s",
                i as f64 / spent.as_secs_f64()
            );
        }
    }
    index.checkpoint().unwrap();
    (index, spent, raw_bytes)
}

fn file_bytes(path: &Path) -> u64 {
    let mut total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        total += std::fs::metadata(PathBuf::from(p))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    total
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Case {
    name: String,
    requests: Vec<LookupRequest>,
}

fn base() -> LookupRequest {
    LookupRequest {
        account: ACCOUNT.into(),
        region: REGION.into(),
        max_results: Some(50),
        ..Default::default()
    }
}

fn attr(key: AttributeKey, value: &str) -> LookupRequest {
    LookupRequest {
        attribute: Some((key, value.to_owned())),
        ..base()
    }
}

fn cases(generator: &Generator, rng: &mut Rng) -> Vec<Case> {
    let n = generator.n;
    let pick = |rng: &mut Rng| rng.next() as usize % n;
    let mut ids = Vec::new();
    let mut resource_names = Vec::new();
    for _ in 0..200 {
        let i = pick(rng);
        let (_, id, raw) = generator.event(i);
        ids.push(attr(AttributeKey::EventId, &id));
        let v: Value = serde_json::from_slice(&raw).unwrap();
        if let Some(r) = extract::summarize(&v).and_then(|s| s.resources.into_iter().next()) {
            resource_names.push(attr(AttributeKey::ResourceName, &r.resource_name));
        }
    }
    let cycle = |key: AttributeKey, values: &[&str]| -> Vec<LookupRequest> {
        values.iter().map(|v| attr(key, v)).collect()
    };
    let users: Vec<String> = (0..50).map(|u| format!("user-{}", u * 7)).collect();
    let keys: Vec<String> = (0..50).map(|k| format!("AKIA{:016}", k * 97)).collect();
    let windows: Vec<LookupRequest> = (0..200)
        .map(|_| {
            let t = generator.time_of(pick(rng));
            LookupRequest {
                start: Some(t - Duration::minutes(30)),
                end: Some(t + Duration::minutes(30)),
                ..base()
            }
        })
        .collect();
    let user_windows: Vec<LookupRequest> = (0..200)
        .map(|i| {
            let t = generator.time_of(pick(rng));
            LookupRequest {
                attribute: Some((AttributeKey::Username, users[i % users.len()].clone())),
                start: Some(t - Duration::days(1)),
                end: Some(t),
                ..base()
            }
        })
        .collect();
    vec![
        Case {
            name: "EventId (one match)".into(),
            requests: ids,
        },
        Case {
            name: "EventName (common/rare)".into(),
            requests: cycle(
                AttributeKey::EventName,
                &[
                    "DescribeInstances",
                    "CreateUser",
                    "StopLogging",
                    "ConsoleLogin",
                    "GetSecretValue",
                ],
            ),
        },
        Case {
            name: "ReadOnly".into(),
            requests: cycle(AttributeKey::ReadOnly, &["true", "false"]),
        },
        Case {
            name: "Username".into(),
            requests: users
                .iter()
                .map(|u| attr(AttributeKey::Username, u))
                .collect(),
        },
        Case {
            name: "ResourceType".into(),
            requests: cycle(
                AttributeKey::ResourceType,
                &[
                    "AWS::IAM::Role",
                    "AWS::S3::Bucket",
                    "AWS::EC2::Instance",
                    "AWS::KMS::Key",
                ],
            ),
        },
        Case {
            name: "ResourceName".into(),
            requests: resource_names,
        },
        Case {
            name: "EventSource".into(),
            requests: cycle(
                AttributeKey::EventSource,
                &[
                    "ec2.amazonaws.com",
                    "iam.amazonaws.com",
                    "kms.amazonaws.com",
                    "signin.amazonaws.com",
                ],
            ),
        },
        Case {
            name: "AccessKeyId".into(),
            requests: keys
                .iter()
                .map(|k| attr(AttributeKey::AccessKeyId, k))
                .collect(),
        },
        Case {
            name: "no attribute".into(),
            requests: vec![base()],
        },
        Case {
            name: "1 h window".into(),
            requests: windows,
        },
        Case {
            name: "Username + 1 day".into(),
            requests: user_windows,
        },
    ]
}

/// Run each case `iterations` times; returns (name, p50, p99, mean events per page).
fn measure(
    index: &HistoryIndex,
    cases: &[Case],
    now: OffsetDateTime,
    iterations: usize,
) -> (Vec<(String, StdDuration, StdDuration, f64)>, f64) {
    let mut rows = Vec::new();
    let mut total = 0usize;
    let mut spent = StdDuration::ZERO;
    for case in cases {
        let mut samples = Vec::with_capacity(iterations);
        let mut events = 0usize;
        for i in 0..iterations {
            let req = &case.requests[i % case.requests.len()];
            let start = Instant::now();
            let page = index.lookup_at(req, now).unwrap();
            let took = start.elapsed();
            events += page.events.len();
            samples.push(took);
            spent += took;
            total += 1;
        }
        samples.sort();
        rows.push((
            case.name.clone(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            events as f64 / iterations as f64,
        ));
    }
    (rows, total as f64 / spent.as_secs_f64())
}

/// The no-attribute-index answer: newest-first scan, parse, filter, stop at 50.
fn scan_first_page(conn: &rusqlite::Connection, req: &LookupRequest) -> usize {
    let (key, value) = req.attribute.clone().unwrap();
    let mut stmt = conn
        .prepare_cached(
            "SELECT rec FROM events WHERE scope = 1 AND cat = 0 ORDER BY t DESC, seq DESC",
        )
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut found = 0;
    while let Some(row) = rows.next().unwrap() {
        let rec: Vec<u8> = row.get(0).unwrap();
        assert_eq!(rec[0], 0, "baseline index is stored plain");
        let v: Value = serde_json::from_slice(&rec[1..]).unwrap();
        if let Some(s) = extract::summarize(&v)
            && s.attributes().iter().any(|(k, x)| *k == key && *x == value)
        {
            found += 1;
            if found == 50 {
                break;
            }
        }
    }
    found
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n = env_usize("CAIRN_BENCH_EVENTS", 1_000_000);
    let baseline_n = env_usize("CAIRN_BENCH_BASELINE_EVENTS", 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("CAIRN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let end = OffsetDateTime::parse("2025-06-01T00:00:00Z", &Rfc3339).unwrap();
    let now = end + Duration::minutes(1);
    let templates = templates();
    println!(
        "cairn-history bench: {n} events from {} real management records; baseline {baseline_n}",
        templates.len()
    );

    // Main index.
    let generator = Generator::new(templates.clone(), end, n);
    let path = dir.join("history-bench.db");
    let (index, spent, raw_bytes) = build(
        &path,
        &generator,
        HistoryOptions {
            durable: true,
            ..HistoryOptions::default()
        },
    );
    let stats = index.stats().unwrap();
    let disk = file_bytes(&path);
    println!(
        "index build: {n} events in {:.1} s = {:.0} events/s (batches of 5,000, synchronous=FULL); {} attribute rows ({:.1}/event)",
        spent.as_secs_f64(),
        n as f64 / spent.as_secs_f64(),
        stats.attribute_rows,
        stats.attribute_rows as f64 / n as f64
    );
    println!(
        "on disk: {:.1} MiB = {:.0} MiB per million events (records as JSON: {:.0} MiB per million)",
        disk as f64 / 1048576.0,
        disk as f64 / 1048576.0 / (n as f64 / 1e6),
        raw_bytes as f64 / 1048576.0 / (n as f64 / 1e6)
    );
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            .unwrap();
        let parts: Vec<String> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|(_, b)| *b > 1 << 20)
            .map(|(name, b)| format!("{name} {:.0} B/event", b as f64 / n as f64))
            .collect();
        println!("by table: {}", parts.join(", "));
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let all_cases = cases(&generator, &mut rng);
    // Warm the page cache once.
    let _ = measure(&index, &all_cases, now, 20);
    let (rows, per_sec) = measure(&index, &all_cases, now, 400);
    println!(
        "{:<26} {:>9} {:>9} {:>8}",
        "LookupEvents first page", "p50 ms", "p99 ms", "events"
    );
    for (name, p50, p99, events) in &rows {
        println!(
            "{name:<26} {:>9.3} {:>9.3} {:>8.1}",
            ms(*p50),
            ms(*p99),
            events
        );
    }
    println!("one thread: {per_sec:.0} lookups/s over all cases");

    // Next pages: walk 20 pages of a common attribute.
    let mut req = attr(AttributeKey::EventSource, "ec2.amazonaws.com");
    let mut samples = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let page = index.lookup_at(&req, now).unwrap();
        samples.push(start.elapsed());
        req.next_token = page.next_token;
        if req.next_token.is_none() {
            break;
        }
    }
    samples.sort();
    println!(
        "next pages (EventSource=ec2): p50 {:.3} ms, max {:.3} ms",
        ms(percentile(&samples, 0.5)),
        ms(*samples.last().unwrap())
    );

    let expire_start = Instant::now();
    let mut expiring = index;
    let deleted = expiring.expire(now + Duration::days(1)).unwrap();
    println!(
        "expire one day of events: {deleted} events in {:.2} s",
        expire_start.elapsed().as_secs_f64()
    );
    drop(expiring);
    let _ = std::fs::remove_file(&path);

    // Baseline on a smaller N: plain records, same queries with and without the attribute table.
    let generator = Generator::new(templates, end, baseline_n);
    let bpath = dir.join("history-baseline.db");
    let (bindex, _, _) = build(
        &bpath,
        &generator,
        HistoryOptions {
            compress: false,
            durable: false,
            ..HistoryOptions::default()
        },
    );
    println!(
        "baseline store ({baseline_n} events, plain records): {:.0} MiB per million events",
        file_bytes(&bpath) as f64 / 1048576.0 / (baseline_n as f64 / 1e6)
    );
    let conn = rusqlite::Connection::open(&bpath).unwrap();
    let mut rng = Rng(7);
    let bcases = cases(&generator, &mut rng);
    println!(
        "{:<26} {:>12} {:>12} {:>9}",
        "first page, N=baseline", "scan p50 ms", "index p50 ms", "speed-up"
    );
    for case in bcases
        .iter()
        .filter(|c| c.requests[0].attribute.is_some() && c.requests[0].start.is_none())
    {
        let iterations = 5.min(case.requests.len());
        let mut scan = Vec::new();
        let mut indexed = Vec::new();
        for req in case.requests.iter().take(iterations) {
            let start = Instant::now();
            let found = scan_first_page(&conn, req);
            scan.push(start.elapsed());
            let start = Instant::now();
            let page = bindex.lookup_at(req, now).unwrap();
            indexed.push(start.elapsed());
            assert_eq!(found, page.events.len(), "{}", case.name);
        }
        scan.sort();
        indexed.sort();
        let (s, i) = (percentile(&scan, 0.5), percentile(&indexed, 0.5));
        println!(
            "{:<26} {:>12.2} {:>12.3} {:>8.0}x",
            case.name,
            ms(s),
            ms(i),
            s.as_secs_f64() / i.as_secs_f64()
        );
    }
    drop(bindex);
    let _ = std::fs::remove_file(&bpath);
}
