//! SQLite schema (`monitor.sqlite`) and small row helpers.

use rusqlite::Connection;

use crate::error::Result;

/// Schema version stored in `meta.schema_version`.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
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
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?1)",
        [SCHEMA_VERSION.to_string()],
    )?;
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
