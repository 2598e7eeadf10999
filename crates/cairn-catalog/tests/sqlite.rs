//! The SQLite catalog against the contract, and against files of earlier releases.

use cairn_catalog::{Catalog, SCHEMA, SCHEMA_VERSION};
use rusqlite::Connection;

#[test]
fn sqlite_catalog_passes_the_conformance_suite() {
    let dirs = std::sync::Mutex::new(Vec::new());
    cairn_catalog::conformance::run(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Catalog::open(dir.path()).expect("open");
        dirs.lock().expect("dirs").push(dir);
        c
    });
}

/// The schema steps of the release with schema 6: step `i` took the file to
/// `user_version = i + 1`. Released steps never change (SQLite keeps each statement's text),
/// which [`released_schema_steps_never_change`] holds them to.
fn v6_steps() -> &'static [&'static str] {
    &SCHEMA[..6]
}

/// SHA-256 of the six steps of the release with schema 6, each followed by a NUL byte.
const V6_STEPS_SHA256: &str = "ddec25d655e99de5736c540bd2dbbd4ea09c76bf01dcdff5c2c07912679a17cf";

#[test]
fn released_schema_steps_never_change() {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for step in v6_steps() {
        h.update(step.as_bytes());
        h.update([0]);
    }
    assert_eq!(
        hex::encode(h.finalize()),
        V6_STEPS_SHA256,
        "a released schema step changed: add a new step instead"
    );
}

/// How `Catalog::open` created and migrated the file before the migration runner (the
/// release with schema 6), frozen: each step in its own transaction with its version bump,
/// then `trail_versions` outside the steps.
fn open_v6_the_old_way(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join("catalog.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    for (i, step) in v6_steps().iter().enumerate() {
        let version = i + 1;
        conn.execute_batch(&format!(
            "BEGIN;\n{step}\nPRAGMA user_version = {version};\nCOMMIT;"
        ))
        .expect("old step");
    }
    // Not a schema step: created when missing, whatever the version (the router's
    // configuration history, see `ControlPlane::history`).
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS trail_versions (
                 from_seq INTEGER PRIMARY KEY,
                 trails TEXT NOT NULL);",
    )
    .expect("old step");
    conn
}

fn schema(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_v6_catalog_from_main_opens_unchanged_and_keeps_its_rows() {
    let old = tempfile::tempdir().expect("tempdir");
    let conn = open_v6_the_old_way(old.path());
    conn.execute(
        "INSERT INTO buckets (name, account_id, region, created) VALUES ('b', '1', 'r', 7)",
        [],
    )
    .expect("row");
    let before = schema(&conn);
    drop(conn);

    let c = Catalog::open(old.path()).expect("a v6 file opens");
    assert_eq!(c.bucket("b").expect("bucket").map(|b| b.created), Some(7));
    drop(c);
    let conn = Connection::open(old.path().join("catalog.sqlite")).expect("reopen");
    assert_eq!(schema(&conn), before, "opening a v6 file changes nothing");
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(v, SCHEMA_VERSION);

    let new = tempfile::tempdir().expect("tempdir");
    drop(Catalog::open(new.path()).expect("a new file"));
    let fresh = Connection::open(new.path().join("catalog.sqlite")).expect("reopen");
    assert_eq!(
        schema(&fresh),
        before,
        "a new file has exactly the v6 schema"
    );
}

#[test]
fn a_newer_catalog_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Catalog::open(dir.path()).expect("open"));
    let conn = Connection::open(dir.path().join("catalog.sqlite")).expect("reopen");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    assert!(matches!(
        Catalog::open(dir.path()),
        Err(cairn_catalog::CatalogError::TooNew { .. })
    ));
}
