//! SQLite schema (`monitor.sqlite`) and small row helpers.

use cairn_core::migrate::MigrateError;
use rusqlite::Connection;

use crate::error::{MonitorError, Result};

/// The schema, one step per `PRAGMA user_version`, run by [`cairn_core::migrate::migrate`].
/// Step 1 is the schema of the files made before the runner (which left `user_version` at
/// 0 and kept `meta.schema_version`): every statement is idempotent, so on such a file it
/// changes nothing but the version. Never edit a step: add one.
fn steps() -> [String; 2] {
    [
        format!(
            "{SCHEMA_V1}INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');"
        ),
        SCHEMA_V2.to_owned(),
    ]
}

/// Version 2: the SNS API. Topic attributes and tags, the count of deleted subscriptions;
/// subscription states with their confirmation token, the subscribing account, attributes
/// and the URL base the subscriber was told. Subscriptions stored before are `confirmed`
/// (operator-made, as they were).
const SCHEMA_V2: &str = r#"
ALTER TABLE topics ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE topics ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE topics ADD COLUMN subs_deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed';
ALTER TABLE subscriptions ADD COLUMN token TEXT;
ALTER TABLE subscriptions ADD COLUMN token_expires_ms INTEGER;
ALTER TABLE subscriptions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE subscriptions ADD COLUMN url_base TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS subscriptions_token ON subscriptions(topic_id, token);
"#;

/// The tables of version 1, as the files made before the runner have them.
const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_groups (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    created_ms INTEGER NOT NULL, retention_days INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE(account, region, name));
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL, created_ms INTEGER NOT NULL,
    first_event_ms INTEGER, last_event_ms INTEGER, last_ingestion_ms INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE(group_id, name));
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, ingest_ms INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_group_time ON log_events(group_id, ts_ms, id);
CREATE INDEX IF NOT EXISTS log_events_stream_time ON log_events(stream_id, ts_ms, id);
CREATE TABLE IF NOT EXISTS metric_filters (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL, pattern TEXT NOT NULL, transformations TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE(group_id, name));
CREATE TABLE IF NOT EXISTS subscription_filters (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL, pattern TEXT NOT NULL, destination TEXT NOT NULL,
    role_arn TEXT, distribution TEXT NOT NULL, created_ms INTEGER NOT NULL,
    UNIQUE(group_id, name));
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL,
    UNIQUE(account, region, namespace, name, dims));
CREATE TABLE IF NOT EXISTS metric_data (
    metric_id INTEGER NOT NULL, bucket INTEGER NOT NULL,
    count REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
    PRIMARY KEY(metric_id, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    namespace TEXT, metric_name TEXT, dims TEXT,
    def TEXT NOT NULL, state TEXT NOT NULL, state_reason TEXT NOT NULL,
    state_reason_data TEXT, state_updated_ms INTEGER NOT NULL,
    config_updated_ms INTEGER NOT NULL,
    UNIQUE(account, region, name));
CREATE INDEX IF NOT EXISTS alarms_metric ON alarms(account, region, namespace, metric_name);
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL, region TEXT NOT NULL, alarm_name TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, item_type TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alarm_history_name ON alarm_history(account, region, alarm_name, ts_ms);
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY, arn TEXT NOT NULL UNIQUE,
    topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    protocol TEXT NOT NULL, endpoint TEXT NOT NULL, created_ms INTEGER NOT NULL,
    UNIQUE(topic_id, protocol, endpoint));
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL,
    topic_arn TEXT NOT NULL, subscription_arn TEXT NOT NULL,
    protocol TEXT NOT NULL, endpoint TEXT NOT NULL,
    subject TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_status ON notifications(status, id);
CREATE TABLE IF NOT EXISTS stream_outbox (
    id INTEGER PRIMARY KEY, filter_id INTEGER NOT NULL,
    event_id TEXT NOT NULL, group_name TEXT NOT NULL, stream_name TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, message TEXT NOT NULL, enqueued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS stream_outbox_filter ON stream_outbox(filter_id, id);
CREATE TABLE IF NOT EXISTS stream_dead (
    id INTEGER PRIMARY KEY, filter_id INTEGER NOT NULL, destination TEXT NOT NULL,
    event_id TEXT NOT NULL, group_name TEXT NOT NULL, stream_name TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, message TEXT NOT NULL, error TEXT NOT NULL, failed_ms INTEGER NOT NULL);
"#;

/// Opens (creating if needed) and migrates the database.
pub(crate) fn open(path: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let steps = steps();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    cairn_core::migrate::migrate(&conn, &steps).map_err(|e| match e {
        MigrateError::Sqlite(e) => MonitorError::Storage(e),
        e @ MigrateError::TooNew { .. } => {
            MonitorError::Io(std::io::Error::other(format!("monitor.sqlite: {e}")))
        }
    })?;
    Ok(conn)
}

/// Reads a `meta` value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Writes a `meta` value.
pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        cairn_core::migrate::schema(conn).unwrap()
    }

    /// What `open` did before the migration runner.
    fn open_as_before(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?1)",
            ["1"],
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_file_made_before_the_migration_runner_opens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.sqlite");
        let old = open_as_before(&path);
        meta_set(&old, "probe", "kept").unwrap();
        old.execute_batch(
            "INSERT INTO topics(arn, account, region, name, created_ms) VALUES ('arn:aws:sns:us-east-1:1:t', '1', 'us-east-1', 't', 0);
             INSERT INTO subscriptions(arn, topic_id, protocol, endpoint, created_ms) VALUES ('arn:aws:sns:us-east-1:1:t:s', 1, 'http', 'http://h/', 0);",
        )
        .unwrap();
        let before = schema(&old);
        assert!(before.len() > 10, "{before:?}");
        drop(old);
        let conn = open(&path).unwrap();
        // Version 1 is kept as it was; version 2 adds the SNS columns, and a subscription
        // stored before stays confirmed.
        assert_eq!(cairn_core::migrate::version(&conn).unwrap(), 2);
        let status: String = conn
            .query_row("SELECT status FROM subscriptions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "confirmed");
        let after = schema(&conn);
        assert_eq!(meta_get(&conn, "probe").unwrap().as_deref(), Some("kept"));
        assert_eq!(
            meta_get(&conn, "schema_version").unwrap().as_deref(),
            Some("1")
        );
        drop(conn);
        // And a second open is a no-op.
        assert_eq!(schema(&open(&path).unwrap()), after);
    }

    #[test]
    fn a_new_file_gets_the_schema_of_an_upgraded_one() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_as_before(&dir.path().join("old.sqlite")));
        let old = open(&dir.path().join("old.sqlite")).unwrap();
        let new = open(&dir.path().join("new.sqlite")).unwrap();
        assert_eq!(schema(&new), schema(&old));
        assert_eq!(
            meta_get(&new, "schema_version").unwrap().as_deref(),
            Some("1")
        );
    }
}
