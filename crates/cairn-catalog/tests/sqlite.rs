//! The SQLite catalog against the contract, and against files of earlier releases.

use cairn_catalog::{Catalog, SCHEMA_VERSION};
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

/// The schema steps of the release with schema 6, frozen: step `i` took the file to
/// `user_version = i + 1`. SQLite keeps each statement's text, so these are byte for byte
/// what that release ran.
const V6_STEPS: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS trails (
                     account_id TEXT NOT NULL,
                     home_region TEXT NOT NULL,
                     name TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     PRIMARY KEY (account_id, home_region, name));
                 CREATE TABLE IF NOT EXISTS buckets (
                     name TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     created INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS credentials (
                     access_key_id TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     principal TEXT NOT NULL,
                     sealed_secret BLOB NOT NULL,
                     session_token TEXT,
                     expires_at INTEGER,
                     status TEXT NOT NULL,
                     created INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS delivery_batches (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     trail_arn TEXT NOT NULL,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     bucket TEXT NOT NULL,
                     object_key TEXT NOT NULL,
                     first_seq INTEGER NOT NULL,
                     last_seq INTEGER NOT NULL,
                     seqs BLOB NOT NULL,
                     state TEXT NOT NULL,
                     created INTEGER NOT NULL,
                     delivered INTEGER,
                     sha256 TEXT,
                     oldest_event_time INTEGER,
                     newest_event_time INTEGER,
                     record_count INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS delivery_batches_partition
                     ON delivery_batches (trail_arn, account_id, region, last_seq);
                 CREATE INDEX IF NOT EXISTS delivery_batches_state
                     ON delivery_batches (state, id);",
    "CREATE TABLE IF NOT EXISTS channels (
                     arn TEXT PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     doc TEXT NOT NULL);",
    "CREATE TABLE IF NOT EXISTS signing_keys (
                     region TEXT NOT NULL,
                     fingerprint TEXT NOT NULL,
                     public_der BLOB NOT NULL,
                     sealed_private BLOB NOT NULL,
                     valid_from INTEGER NOT NULL,
                     valid_to INTEGER NOT NULL,
                     PRIMARY KEY (region, fingerprint));
                 CREATE TABLE IF NOT EXISTS digest_chains (
                     trail_arn TEXT NOT NULL,
                     account_id TEXT NOT NULL,
                     region TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     pending_gzip BLOB,
                     PRIMARY KEY (trail_arn, account_id, region));
                 CREATE TABLE IF NOT EXISTS digest_members (
                     batch_id INTEGER PRIMARY KEY,
                     digest_key TEXT NOT NULL);",
    // IAM (`iam/store.rs`): users, roles and customer-managed policies as versioned
    // JSON documents; access keys live in `credentials`.
    "CREATE TABLE IF NOT EXISTS iam_entities (
                     account_id TEXT NOT NULL,
                     kind TEXT NOT NULL,
                     name TEXT NOT NULL,
                     doc TEXT NOT NULL,
                     PRIMARY KEY (account_id, kind, name));",
    // Virtual MFA devices (mfa.rs): the TOTP secret sealed under the master key;
    // `last_step` is the newest accepted time step, so a code is never reused.
    "CREATE TABLE IF NOT EXISTS mfa_devices (
                     account_id TEXT NOT NULL,
                     serial TEXT NOT NULL,
                     sealed_secret BLOB NOT NULL,
                     enabled INTEGER NOT NULL DEFAULT 0,
                     created INTEGER NOT NULL,
                     last_step INTEGER NOT NULL DEFAULT 0,
                     PRIMARY KEY (account_id, serial));",
];

/// How `Catalog::open` created and migrated the file before the migration runner (the
/// release with schema 6), frozen: each step in its own transaction with its version bump,
/// then `trail_versions` outside the steps.
fn open_v6_the_old_way(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join("catalog.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    for (i, step) in V6_STEPS.iter().enumerate() {
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
