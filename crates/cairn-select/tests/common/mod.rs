//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `shared/data/cloudtrail` beside the checkout.
pub(crate) fn cloudtrail_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every CloudTrail record of the shared corpus: `{"Records":[...]}` files,
/// NDJSON files of records, and NDJSON files of `{"record": ...}` wrappers.
pub(crate) fn load_records() -> Vec<Value> {
    let mut files = Vec::new();
    walk(&cloudtrail_dir(), &mut files);
    let mut records = Vec::new();
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "json" && ext != "ndjson" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        if let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&text)
            && let Some(Value::Array(recs)) = o.remove("Records")
        {
            records.extend(recs);
            continue;
        }
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            match v.get("record") {
                Some(r) => records.push(r.clone()),
                None => records.push(v),
            }
        }
    }
    records
}
