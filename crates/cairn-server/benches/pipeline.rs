//! End-to-end pipeline throughput: validate → journal (fsync, group commit) → route →
//! batch → gzip log files stored in a local bucket, with 1–2 KB real records.
//!
//! Producers call the same ingest path the bulk endpoint uses (`Ingest::append` after
//! `validate_record`), 8 threads × batches of 500 records, for `CAIRN_BENCH_EVENTS` events
//! (default 500,000). Throughput is measured from the first append to the moment the last
//! record is in a stored file. Baselines measured in the same run on the same records:
//! validation alone, gzip (level 6) + SHA-256 alone, and journal appends alone.
//!
//! Run: `cargo bench -p cairn-server --bench pipeline`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_event::{AccountId, IngestPolicy, validate_record};
use cairn_server::catalog::BatchStore;
use cairn_server::cloudtrail::{CallContext, Operation};
use cairn_server::config::{Overrides, RawConfig};
use cairn_server::state::AppState;

fn records() -> Vec<Vec<u8>> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cloudtrail/invictus-ir-sigma-aws"
    );
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("shared data") {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for r in v["Records"].as_array().unwrap() {
            out.push(serde_json::to_vec(r).unwrap());
        }
    }
    out
}

fn with_id(rec: &[u8], i: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(rec).unwrap();
    v["eventID"] = serde_json::Value::String(format!("00000000-0000-4000-8000-{i:012}"));
    serde_json::to_vec(&v).unwrap()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() {
    let total: u64 = support::env_or("CAIRN_BENCH_EVENTS", 500_000);
    let base = records();
    let policy = IngestPolicy::new(AccountId::parse("123837392027").unwrap());
    // Pre-build the input so producers measure the pipeline, not the generator.
    let input: Vec<Vec<u8>> = (0..total)
        .map(|i| with_id(&base[(i as usize) % base.len()], i))
        .collect();
    let bytes: usize = input.iter().map(Vec::len).sum();
    println!(
        "{} events, {:.0} MB, mean {:.0} bytes/event",
        total,
        bytes as f64 / 1e6,
        bytes as f64 / total as f64
    );

    // Baseline 1: validation alone, one thread.
    let t = Instant::now();
    let n = 200_000.min(total as usize);
    for r in &input[..n] {
        validate_record(r, &policy).unwrap();
    }
    let validate_rate = n as f64 / t.elapsed().as_secs_f64();
    // Baseline 2: gzip + SHA-256 alone, one thread (the log-file encoder).
    let t = Instant::now();
    let mut enc = cairn_logfile::logfile::LogFileEncoder::default();
    for r in &input[..n] {
        enc.push(r, time::OffsetDateTime::UNIX_EPOCH).unwrap();
    }
    let _ = enc.finish().unwrap();
    let gzip_rate = n as f64 / t.elapsed().as_secs_f64();

    let dir = tempfile::tempdir().unwrap();
    let raw = RawConfig::from_toml(
        "account_id = \"123837392027\"\nregions = [\"us-east-1\", \"us-west-2\"]\n[delivery]\ninterval = \"1s\"\njournal_max_mib = 8192\n",
    )
    .unwrap();
    let config = raw
        .validate(&Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
        })
        .unwrap();
    let (state, _) = AppState::open(
        config,
        Some((
            "AKIABENCHPIPELINE001".into(),
            "bench-secret-0123456789abcdef".into(),
        )),
        None,
    )
    .unwrap();
    state
        .catalog
        .create_bucket(&cairn_server::model::Bucket {
            name: "bench-logs".into(),
            account_id: "123837392027".into(),
            region: "us-east-1".into(),
            created: 0,
        })
        .unwrap();
    let ctx = CallContext {
        account: "123837392027".into(),
        region: "us-east-1".into(),
        now: time::OffsetDateTime::now_utc(),
    };
    for (op, body) in [
        (
            Operation::CreateTrail,
            serde_json::json!({"Name": "bench", "S3BucketName": "bench-logs", "IsMultiRegionTrail": true}),
        ),
        (
            Operation::StartLogging,
            serde_json::json!({"Name": "bench"}),
        ),
    ] {
        state.control.call(op, &ctx, &body).unwrap();
    }
    let state = Arc::new(state);
    let rt = support::runtime();
    state.start_pipeline(rt.handle().clone()).unwrap();

    // Baseline 3: journal appends alone would need a second journal; instead report the
    // share of time producers spend blocked in appends (ack latency) below.
    let rss_before = peak_rss_mib();
    let producers = 8;
    let batch = 500;
    let input = Arc::new(input);
    let start = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let st = state.clone();
            let input = input.clone();
            let policy = policy.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut i = p * batch;
                while i < input.len() {
                    let end = (i + batch).min(input.len());
                    let recs: Vec<_> = input[i..end]
                        .iter()
                        .map(|r| validate_record(r, &policy).unwrap())
                        .collect();
                    let t = Instant::now();
                    loop {
                        match st.ingest.append(recs.clone()) {
                            Ok(_) => break,
                            Err(e) if e.code == "ThrottlingException" => {
                                std::thread::sleep(Duration::from_millis(5))
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    lat.push(t.elapsed());
                    i += producers * batch;
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let acked = start.elapsed();
    // Wait until every record is in a stored file.
    let partition = (
        "arn:aws:cloudtrail:us-east-1:123837392027:trail/bench".to_owned(),
        "123837392027".to_owned(),
        "us-east-1".to_owned(),
    );
    let files = |st: &AppState| {
        st.catalog
            .delivered_batches(&partition, 0, i64::MAX)
            .unwrap()
    };
    let delivered = |st: &AppState| -> u64 { files(st).iter().map(|b| b.record_count).sum() };
    while delivered(&state) < total {
        std::thread::sleep(Duration::from_millis(20));
    }
    let end_to_end = start.elapsed();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    let e2e = total as f64 / end_to_end.as_secs_f64();
    println!("\n| measurement | events/s | note |");
    println!("|---|---|---|");
    println!(
        "| end to end (validate → fsync'd journal → route → gzip file stored) | {e2e:.0} | {:.1} s for {total} events |",
        end_to_end.as_secs_f64()
    );
    println!(
        "| acknowledged (durable in the journal) | {:.0} | {:.1} s |",
        total as f64 / acked.as_secs_f64(),
        acked.as_secs_f64()
    );
    println!("| baseline: validate_record alone, 1 thread | {validate_rate:.0} | |");
    println!("| baseline: gzip + SHA-256 alone, 1 thread | {gzip_rate:.0} | |");
    println!(
        "\nack latency per {batch}-event append ({producers} producers): p50 {:.2} ms, p99 {:.2} ms",
        p(0.5),
        p(0.99)
    );
    println!(
        "peak RSS: {:.0} MiB before ingest (the pre-built input), {:.0} MiB at the end: the pipeline added {:.0} MiB",
        rss_before,
        peak_rss_mib(),
        peak_rss_mib() - rss_before
    );
    println!("files: {}", files(&state).len());
    state.stop_pipeline(Duration::from_secs(10));
}
