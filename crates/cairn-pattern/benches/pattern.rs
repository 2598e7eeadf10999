//! Filter-pattern evaluations per second with the 14 CIS metric filters over the
//! real CloudTrail records in `shared/data/cloudtrail`.
//!
//! * `compiled/json_parsed_once`: each record's JSON parsed before timing, then
//!   14 compiled evaluations per record.
//! * `compiled/including_json_parse`: parse the record text, then 14 evaluations.
//! * `naive/...`: the same with the naive AST interpreter (baseline).
//!
//! Throughput is in pattern evaluations (records × 14).

use std::hint::black_box;

use cairn_pattern::{FilterPattern, naive};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

/// The corpus loader of the integration tests.
#[path = "../tests/common/mod.rs"]
mod common;

fn records() -> Vec<String> {
    common::load_records()
        .into_iter()
        .map(|(_, _, text, _)| text)
        .collect()
}

fn patterns() -> Vec<FilterPattern> {
    let v = common::cis_filters();
    v["security_hub_cis_metric_filters"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            FilterPattern::parse(c["filter_pattern"].as_str().expect("pattern")).expect("parses")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let raws = records();
    let parsed: Vec<Value> = raws
        .iter()
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect();
    let pats = patterns();
    let evals = (raws.len() * pats.len()) as u64;

    let mut g = c.benchmark_group("cis14");
    g.throughput(Throughput::Elements(evals));
    g.bench_function("compiled/json_parsed_once", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for (raw, v) in raws.iter().zip(&parsed) {
                for p in &pats {
                    hits += usize::from(p.matches_json(black_box(v), raw));
                }
            }
            hits
        })
    });
    g.bench_function("naive/json_parsed_once", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for (raw, v) in raws.iter().zip(&parsed) {
                for p in &pats {
                    hits += usize::from(naive::matches_json(p.ast(), black_box(v), raw));
                }
            }
            hits
        })
    });
    g.bench_function("compiled/including_json_parse", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for raw in &raws {
                let Ok(v) = serde_json::from_str::<Value>(black_box(raw)) else {
                    continue;
                };
                for p in &pats {
                    hits += usize::from(p.matches_json(&v, raw));
                }
            }
            hits
        })
    });
    g.bench_function("naive/including_json_parse", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for raw in &raws {
                for p in &pats {
                    hits += usize::from(naive::matches(p.ast(), black_box(raw)));
                }
            }
            hits
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
