//! Selector evaluations per second over the shared real CloudTrail records.
//!
//! Records are loaded once; `view/from_record` measures EventView
//! construction alone; `match/<set>/compiled` measures compiled matching on
//! prebuilt views; `match/<set>/naive` is the baseline (the literal oracle on
//! the JSON records). Throughput is in events (= selector-set evaluations).

use std::hint::black_box;

use cairn_select::{CompiledSelectors, Context, EventView, Selectors, naive};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The shared corpus loader of the integration tests.
#[path = "../tests/common/mod.rs"]
mod common;

fn quoted(values: impl Iterator<Item = String>) -> String {
    values
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Five selectors with ~95-value StartsWith / EndsWith / NotEquals lists
/// (487 values in total, under the 500 limit; valid for an event data store).
fn mix() -> Selectors {
    let starts = quoted(
        ["CreateKey", "PutBucket", "AttachRolePolicy"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..92).map(|i| format!("Op{i:03}"))),
    );
    let sources = quoted((0..94).map(|i| format!("svc{i:03}.amazonaws.com")));
    let buckets = quoted((0..95).map(|i| format!("arn:aws:s3:::bucket-{i:03}/")));
    let suffixes = quoted(
        [":root".to_string(), "/admin".to_string()]
            .into_iter()
            .chain((0..93).map(|i| format!("/user{i:03}"))),
    );
    let names = quoted((0..94).map(|i| format!("Describe{i:03}")));
    let text = format!(
        r#"{{"AdvancedEventSelectors":[
          {{"Name":"writes by prefix","FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"eventName","StartsWith":[{starts}]}}]}},
          {{"Name":"writes except services","FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"readOnly","Equals":["false"]}},{{"Field":"eventSource","NotEquals":[{sources}]}},{{"Field":"eventType","Equals":["AwsConsoleAction"]}}]}},
          {{"Name":"buckets","FieldSelectors":[{{"Field":"eventCategory","Equals":["Data"]}},{{"Field":"resources.type","Equals":["AWS::S3::Object"]}},{{"Field":"resources.ARN","StartsWith":[{buckets}]}}]}},
          {{"Name":"principals","FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"userIdentity.arn","EndsWith":[{suffixes}]}}]}},
          {{"Name":"not describes","FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"eventType","Equals":["AwsServiceEvent"]}},{{"Field":"eventName","NotEquals":[{names}]}}]}}]}}"#
    );
    let s: Selectors = serde_json::from_str(&text).unwrap();
    s.validate(Context::EventDataStore).unwrap();
    assert!(s.advanced_value_count() <= 500);
    s
}

fn sets() -> Vec<(&'static str, Selectors)> {
    let delete: Selectors = serde_json::from_str(
        r#"{"AdvancedEventSelectors":[{"Name":"S3 deletes","FieldSelectors":[
            {"Field":"eventCategory","Equals":["Data"]},
            {"Field":"resources.type","Equals":["AWS::S3::Object"]},
            {"Field":"eventName","Equals":["DeleteObject"]}]}]}"#,
    )
    .unwrap();
    delete.validate(Context::Trail).unwrap();
    vec![
        ("default_trail", Selectors::default_for_trail()),
        ("s3_delete_object", delete),
        ("mix5_100", mix()),
    ]
}

/// CPU time consumed by this thread so far (Linux `/proc/thread-self/schedstat`,
/// first field, nanoseconds): unlike wall time, it is not inflated when other
/// processes share the cores.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Evaluations per CPU-second of `f` run over `n` items `rounds` times.
fn per_cpu_second(n: usize, rounds: usize, mut f: impl FnMut() -> usize) -> Option<f64> {
    let start = thread_cpu_ns()?;
    let mut sink = 0usize;
    for _ in 0..rounds {
        sink = sink.wrapping_add(f());
    }
    black_box(sink);
    let ns = thread_cpu_ns()?.saturating_sub(start).max(1);
    Some((n * rounds) as f64 / (ns as f64 / 1e9))
}

fn report_cpu(label: &str, rate: Option<f64>) {
    match rate {
        Some(r) => eprintln!(
            "cpu-time  {label:<32} {:>8.2} M evals/s/core ({:.1} ns each)",
            r / 1e6,
            1e9 / r
        ),
        None => eprintln!("cpu-time  {label:<32} unavailable"),
    }
}

fn bench(c: &mut Criterion) {
    let records = common::load_records();
    let n = records.len() as u64;
    eprintln!("{n} records");

    let mut g = c.benchmark_group("view");
    g.throughput(Throughput::Elements(n));
    g.bench_function("from_record", |b| {
        b.iter(|| {
            let mut acc = 0usize;
            for r in &records {
                let v = EventView::from_record(black_box(r));
                acc += v.event_category.len();
            }
            acc
        })
    });
    g.finish();

    let views: Vec<EventView<'_>> = records.iter().map(EventView::from_record).collect();
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(n));
    for (name, s) in sets() {
        let compiled = CompiledSelectors::compile(&s);
        let hits = views.iter().filter(|v| compiled.matches(v)).count();
        eprintln!("{name}: {hits}/{n} records match");
        g.bench_function(format!("{name}/compiled"), |b| {
            b.iter(|| {
                views
                    .iter()
                    .filter(|v| compiled.matches(black_box(v)))
                    .count()
            })
        });
        g.bench_function(format!("{name}/naive"), |b| {
            b.iter(|| {
                records
                    .iter()
                    .filter(|r| naive::matches(&s, black_box(r)))
                    .count()
            })
        });
    }
    g.finish();

    // Per-core figures from thread CPU time (see thread_cpu_ns).
    let n = records.len();
    report_cpu(
        "view/from_record",
        per_cpu_second(n, 100, || {
            records
                .iter()
                .map(|r| EventView::from_record(black_box(r)).event_category.len())
                .sum()
        }),
    );
    for (name, s) in sets() {
        let compiled = CompiledSelectors::compile(&s);
        report_cpu(
            &format!("{name}/compiled"),
            per_cpu_second(n, 1000, || {
                views
                    .iter()
                    .filter(|v| compiled.matches(black_box(v)))
                    .count()
            }),
        );
        report_cpu(
            &format!("{name}/naive"),
            per_cpu_second(n, 20, || {
                records
                    .iter()
                    .filter(|r| naive::matches(&s, black_box(r)))
                    .count()
            }),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
