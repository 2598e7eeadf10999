//! The shared corpus, loaded as the integration tests and benches read it.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `shared/data` beside the checkout.
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
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

/// Every CloudTrail record in `shared/data/cloudtrail` (`{"Records":[...]}` files, NDJSON
/// of records or of `{"source_file", "record"}` wrappers) that has an `eventName` or
/// `eventType`: (file relative to cloudtrail/, index in the file, compact JSON, record).
pub(crate) fn load_records() -> Vec<(String, usize, String, Value)> {
    let base = Path::new(SHARED).join("cloudtrail");
    let mut paths = Vec::new();
    files(&base, &mut paths);
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let rel = p
            .strip_prefix(&base)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&p).unwrap();
        let recs: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(mut o)) if o.contains_key("Records") => match o.remove("Records") {
                Some(Value::Array(a)) => a,
                _ => panic!("{rel}: Records is not an array"),
            },
            _ => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    match v {
                        Value::Object(mut o)
                            if o.contains_key("source_file") && o.contains_key("record") =>
                        {
                            o.remove("record").unwrap()
                        }
                        v => v,
                    }
                })
                .collect(),
        };
        for (i, r) in recs.into_iter().enumerate() {
            if r.get("eventName").is_none() && r.get("eventType").is_none() {
                continue;
            }
            out.push((rel.clone(), i, serde_json::to_string(&r).unwrap(), r));
        }
    }
    out
}

/// `cloudwatch_filter_patterns/cis_metric_filters.json`.
pub(crate) fn cis_filters() -> Value {
    let path = Path::new(SHARED).join("cloudwatch_filter_patterns/cis_metric_filters.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
