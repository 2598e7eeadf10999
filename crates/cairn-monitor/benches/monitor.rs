//! Benchmarks: `ingest_trail_events` throughput with the 14 CIS metric
//! filters over the real records (baselines in the same run: no filters, and
//! the 14 patterns alone), and ingest-to-notification latency (p50/p99 over
//! 200 alarm firings delivered to a loopback HTTP subscriber).

#[path = "../tests/monitor/common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_monitor::{ManualClock, Monitor, Protocol, Subscription, SystemClock, cis_filters};
use cairn_pattern::{FilterPattern, PreparedEvent};
use common::{ACCOUNT, REGION};
use criterion::{Criterion, Throughput};
use serde_json::json;

const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:trail:*";

/// The invictus-ir records, as JSON text.
fn records() -> Vec<String> {
    common::invictus_texts(usize::MAX)
}

fn monitor(cis: bool) -> (tempfile::TempDir, Monitor) {
    let dir = tempfile::tempdir().unwrap();
    let m = Monitor::open(dir.path(), Arc::new(ManualClock::new(1_700_000_000_000))).unwrap();
    m.logs_call(
        "CreateLogGroup",
        ACCOUNT,
        REGION,
        &json!({"logGroupName": "trail"}),
    )
    .unwrap();
    if cis {
        m.enable_cis(ACCOUNT, REGION, "trail", "cis", None).unwrap();
    }
    (dir, m)
}

fn ingest(c: &mut Criterion) {
    let recs = records();
    let batch: Vec<(i64, &str)> = recs
        .iter()
        .map(|r| (1_700_000_000_000, r.as_str()))
        .collect();
    let mut g = c.benchmark_group("ingest_trail_events");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.sample_size(10);
    let (_d1, with_cis) = monitor(true);
    g.bench_function("14_cis_filters", |b| {
        b.iter(|| {
            with_cis
                .ingest_trail_events(ARN, ACCOUNT, REGION, &batch)
                .unwrap()
        })
    });
    let (_d2, bare) = monitor(false);
    g.bench_function("baseline_no_filters", |b| {
        b.iter(|| {
            bare.ingest_trail_events(ARN, ACCOUNT, REGION, &batch)
                .unwrap()
        })
    });
    g.finish();

    let patterns: Vec<FilterPattern> = cis_filters()
        .iter()
        .map(|f| FilterPattern::parse(f.2).unwrap())
        .collect();
    let mut g = c.benchmark_group("cis_patterns_only");
    g.throughput(Throughput::Elements((recs.len() * patterns.len()) as u64));
    g.bench_function("14_patterns_prepared_event", |b| {
        b.iter(|| {
            let mut n = 0;
            for r in &recs {
                let ev = PreparedEvent::new(r);
                n += patterns.iter().filter(|p| p.matches_prepared(&ev)).count();
            }
            n
        })
    });
    g.finish();
}

/// p50/p99 of ingest call → HTTP receipt at a loopback SNS subscriber.
fn latency() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut server = common::start_server(common::ok_server()).await;
        let url = format!("{}/sns", server.url);
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(Monitor::open(dir.path(), Arc::new(SystemClock)).unwrap());
        m.logs_call("CreateLogGroup", ACCOUNT, REGION, &json!({"logGroupName": "trail"})).unwrap();
        m.enable_cis(ACCOUNT, REGION, "trail", "cis", None).unwrap();
        let topic = m.create_topic(ACCOUNT, REGION, "latency").unwrap();
        m.subscribe(&topic, &Subscription { protocol: Protocol::Http, endpoint: url }).unwrap();
        m.cloudwatch_call("PutMetricAlarm", ACCOUNT, REGION, &json!({
            "AlarmName": "trail-changes-60s", "MetricName": "CloudTrailConfigChanges", "Namespace": "CISBenchmark",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching", "AlarmActions": [topic],
        })).unwrap();
        let stop = records().into_iter().find(|r| r.contains("\"eventName\":\"StopLogging\"")).unwrap();
        let mut lat = Vec::new();
        for _ in 0..200 {
            m.cloudwatch_call("SetAlarmState", ACCOUNT, REGION, &json!({"AlarmName": "trail-changes-60s", "StateValue": "OK", "StateReason": "bench reset"})).unwrap();
            let now = SystemClockNow::ms();
            let t0 = Instant::now();
            let out = m.ingest_trail_events(ARN, ACCOUNT, REGION, &[(now, stop.as_str())]).unwrap();
            assert_eq!(out.notifications.len(), 1, "{:?}", out.alarm_changes);
            let reports = m.deliver_notifications(&out.notifications).await;
            assert!(reports[0].delivered);
            let at = tokio::time::timeout(Duration::from_secs(5), server.rx.recv()).await.unwrap().unwrap().at;
            lat.push((at - t0).as_secs_f64() * 1e3);
        }
        drop(server);
        lat.sort_by(f64::total_cmp);
        let p = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
        println!(
            "ingest-to-notification latency over {} alarm firings (period 60 s, 14 CIS filters + 1 alarm): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            p(0.50),
            p(0.99),
            lat[lat.len() - 1]
        );
    });
}

struct SystemClockNow;
impl SystemClockNow {
    fn ms() -> i64 {
        use cairn_monitor::Clock as _;
        SystemClock.now_ms()
    }
}

criterion::criterion_group!(benches, ingest);

fn main() {
    latency();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
