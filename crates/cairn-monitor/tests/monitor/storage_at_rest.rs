//! Log-event messages at rest: sealed under `MonitorConfig::storage_key`, read back as they
//! were written, and a monitor that stored plaintext is sealed in place when reopened with a
//! key.

use std::sync::Arc;

use crate::common::*;
use cairn_monitor::{ManualClock, Monitor, MonitorConfig, StorageKey};
use serde_json::json;

fn keyed(b: u8) -> MonitorConfig {
    MonitorConfig {
        storage_key: Some(StorageKey::new(&[b; 32]).unwrap()),
        ..fast_config()
    }
}

fn open(dir: &std::path::Path, config: MonitorConfig) -> Monitor {
    Monitor::open_with(dir, Arc::new(ManualClock::new(NOW)), config).unwrap()
}

/// Every byte of the monitor's database and its WAL.
fn stored_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for name in ["monitor.sqlite", "monitor.sqlite-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            out.extend_from_slice(&b);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn put(m: &Monitor, message: &str) {
    logs(
        m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s",
               "logEvents": [{"timestamp": NOW, "message": message}]}),
    );
}

fn messages(m: &Monitor) -> Vec<String> {
    let got = logs(
        m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "marker"}),
    );
    got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn messages_are_sealed_at_rest_and_read_back_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path(), keyed(1));
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    logs(
        &m,
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    put(&m, "marker-sealed-alice-9f2c");
    assert_eq!(messages(&m), ["marker-sealed-alice-9f2c"]);
    let got = logs(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    assert_eq!(got["events"][0]["message"], "marker-sealed-alice-9f2c");
    drop(m);
    assert!(!contains(&stored_bytes(dir.path()), "alice-9f2c"));
    // Without the key, or with another key, the monitor does not open (its SNS signing key is
    // sealed too), so nothing stored is readable.
    for config in [fast_config(), keyed(2)] {
        assert!(Monitor::open_with(dir.path(), Arc::new(ManualClock::new(NOW)), config).is_err());
    }
}

#[test]
fn plaintext_messages_are_sealed_when_a_key_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path(), fast_config());
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    logs(
        &m,
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    put(&m, "marker-old-bob-77aa");
    drop(m);
    assert!(contains(&stored_bytes(dir.path()), "bob-77aa"));
    let m = open(dir.path(), keyed(1));
    assert_eq!(messages(&m), ["marker-old-bob-77aa"]);
    put(&m, "marker-new-carol-1b3d");
    assert_eq!(
        messages(&m),
        ["marker-old-bob-77aa", "marker-new-carol-1b3d"]
    );
    drop(m);
    let bytes = stored_bytes(dir.path());
    assert!(!contains(&bytes, "bob-77aa"));
    assert!(!contains(&bytes, "carol-1b3d"));
    // The SNS signing key created without a storage key is sealed now too.
    let db = rusqlite::Connection::open(dir.path().join("monitor.sqlite")).unwrap();
    let k: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'sns_key_pkcs8'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(k.starts_with("enc1:"), "{}", &k[..8]);
}
