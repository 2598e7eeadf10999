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
use std::path::{Path, PathBuf};

use cairn_pattern::{FilterPattern, naive};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("json" | "ndjson")
            ) {
                out.push(p);
            }
        }
    }
}

fn records() -> Vec<String> {
    let mut paths = Vec::new();
    files(&Path::new(SHARED).join("cloudtrail"), &mut paths);
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let recs: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(mut o)) => match o.remove("Records") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|v| match v {
                    Value::Object(mut o) if o.contains_key("record") => {
                        o.remove("record").unwrap_or(Value::Null)
                    }
                    v => v,
                })
                .collect(),
        };
        out.extend(
            recs.into_iter()
                .filter(|r| r.get("eventName").is_some() || r.get("eventType").is_some())
                .map(|r| serde_json::to_string(&r).unwrap_or_default()),
        );
    }
    out
}

fn patterns() -> Vec<FilterPattern> {
    let path = Path::new(SHARED).join("cloudwatch_filter_patterns/cis_metric_filters.json");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("cis file")).expect("json");
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
