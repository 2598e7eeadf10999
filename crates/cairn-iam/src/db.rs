//! The SQLite database IAM keeps its rows in.
//!
//! IAM's tables (`iam_entities`, `credentials`, `mfa_devices`, and the `mfa_failures` and
//! `mfa_assignments` tables this crate creates itself) live in the server's catalog file, so
//! that a credential and the trail it writes to share one durable store. This crate does not
//! know the catalog: it asks for a locked connection through [`Database`].

use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

/// A SQLite connection IAM may use, locked per call.
pub trait Database: Send + Sync {
    /// The connection, locked until the guard drops.
    fn connection(&self) -> MutexGuard<'_, Connection>;
}

/// A bare connection (tests, tools): a poisoned lock is reused, as SQLite keeps itself
/// consistent through its own transactions.
impl Database for Mutex<Connection> {
    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// IAM's tables live in the catalog's file.
impl Database for cairn_catalog::Catalog {
    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.conn()
    }
}

/// Runs `f` on the locked connection.
pub(crate) fn with_conn<T>(
    db: &dyn Database,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    f(&mut db.connection())
}

/// The tables the catalog creates for IAM, for tests of this crate.
#[cfg(test)]
pub(crate) fn test_db() -> std::sync::Arc<Mutex<Connection>> {
    let conn = Connection::open_in_memory().expect("in-memory sqlite");
    conn.execute_batch(
        "CREATE TABLE credentials (access_key_id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
             principal TEXT NOT NULL, sealed_secret BLOB NOT NULL, session_token TEXT,
             expires_at INTEGER, status TEXT NOT NULL, created INTEGER NOT NULL);
         CREATE TABLE iam_entities (account_id TEXT NOT NULL, kind TEXT NOT NULL,
             name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (account_id, kind, name));
         CREATE TABLE mfa_devices (account_id TEXT NOT NULL, serial TEXT NOT NULL,
             sealed_secret BLOB NOT NULL, enabled INTEGER NOT NULL DEFAULT 0,
             created INTEGER NOT NULL, last_step INTEGER NOT NULL DEFAULT 0,
             PRIMARY KEY (account_id, serial));",
    )
    .expect("schema");
    std::sync::Arc::new(Mutex::new(conn))
}
