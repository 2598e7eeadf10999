//! `sqs.db`: queues (attributes and tags as JSON) and their messages (sealed at rest).
//!
//! SQLite in WAL mode with `synchronous=FULL`: a message whose send was acknowledged survives a
//! crash or power loss, and so does a delete.

use std::path::Path;

use rusqlite::Connection;

use crate::SqsError;

/// The schema, one step per version (`PRAGMA user_version`), run by
/// [`cairn_core::migrate::migrate`]. Never edit a step: add one.
const STEPS: &[&str] = &[
    // 1: queues, names deleted in the last minute, messages.
    "CREATE TABLE IF NOT EXISTS queues (
         id         INTEGER PRIMARY KEY,
         account    TEXT NOT NULL,
         region     TEXT NOT NULL,
         name       TEXT NOT NULL,
         attributes TEXT NOT NULL,
         tags       TEXT NOT NULL,
         created    INTEGER NOT NULL,
         modified   INTEGER NOT NULL,
         last_purge INTEGER,
         UNIQUE (account, region, name)
     );
     CREATE TABLE IF NOT EXISTS deleted_queues (
         account TEXT NOT NULL,
         region  TEXT NOT NULL,
         name    TEXT NOT NULL,
         deleted INTEGER NOT NULL,
         PRIMARY KEY (account, region, name)
     );
     CREATE TABLE IF NOT EXISTS messages (
         seq           INTEGER PRIMARY KEY AUTOINCREMENT,
         queue         INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
         message_id    TEXT NOT NULL,
         payload       BLOB NOT NULL,
         md5_body      TEXT NOT NULL,
         md5_attrs     TEXT,
         sender        TEXT NOT NULL,
         sent          INTEGER NOT NULL,
         visible       INTEGER NOT NULL,
         receives      INTEGER NOT NULL DEFAULT 0,
         first_receive INTEGER,
         receipt       TEXT
     );
     CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible, seq);",
    // 2: the dedupe ids of sends that must happen once (Cairn's own feeds: S3 events).
    "CREATE TABLE IF NOT EXISTS sent_once (
         dedupe     TEXT PRIMARY KEY,
         message_id TEXT NOT NULL,
         sent       INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS sent_once_age ON sent_once (sent);",
];

/// Opens (creating and migrating) the database; `None` opens a private in-memory one.
pub(crate) fn open(path: Option<&Path>) -> Result<Connection, SqsError> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    cairn_core::migrate::configure(&conn)?;
    cairn_core::migrate::migrate(&conn, STEPS)?;
    Ok(conn)
}
