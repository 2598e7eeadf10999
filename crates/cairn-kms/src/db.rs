//! `kms.db`: keys (metadata as JSON), their sealed backing-key versions, and aliases.
//!
//! SQLite in WAL mode with `synchronous=FULL`: a change acknowledged to a caller survives a
//! crash or power loss. Key material is stored only sealed under the root key.

use std::path::Path;

use cairn_core::migrate::MigrateError;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Alias, KeyMetadata, KmsError};

/// The schema, one step per version (`PRAGMA user_version`), run by
/// [`cairn_core::migrate::migrate`]. Never edit a step: add one.
const STEPS: &[&str] = &[
    // 1: keys, their sealed backing-key versions, aliases.
    "CREATE TABLE IF NOT EXISTS keys (
             key_id TEXT PRIMARY KEY,
             meta   TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS key_versions (
             key_id  TEXT NOT NULL,
             version INTEGER NOT NULL,
             sealed  BLOB NOT NULL,
             created INTEGER NOT NULL,
             PRIMARY KEY (key_id, version)
         );
         CREATE TABLE IF NOT EXISTS aliases (
             account TEXT NOT NULL,
             region  TEXT NOT NULL,
             name    TEXT NOT NULL,
             target  TEXT NOT NULL,
             created INTEGER NOT NULL,
             updated INTEGER NOT NULL,
             PRIMARY KEY (account, region, name)
         );",
];

pub(crate) fn open(path: Option<&Path>) -> Result<Connection, KmsError> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    cairn_core::migrate::configure(&conn)?;
    cairn_core::migrate::migrate(&conn, STEPS).map_err(|e| match e {
        MigrateError::Sqlite(e) => KmsError::from(e),
        e @ MigrateError::TooNew { .. } => KmsError::Storage(format!("kms.db: {e}")),
    })?;
    Ok(conn)
}

pub(crate) fn load_keys(conn: &Connection) -> Result<Vec<KeyMetadata>, KmsError> {
    let mut st = conn.prepare("SELECT meta FROM keys")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        let text = r?;
        out.push(
            serde_json::from_str(&text)
                .map_err(|e| KmsError::Storage(format!("corrupt key metadata: {e}")))?,
        );
    }
    Ok(out)
}

pub(crate) fn load_aliases(conn: &Connection) -> Result<Vec<Alias>, KmsError> {
    let mut st =
        conn.prepare("SELECT account, region, name, target, created, updated FROM aliases")?;
    let rows = st.query_map([], |r| {
        Ok(Alias {
            account: r.get(0)?,
            region: r.get(1)?,
            name: r.get(2)?,
            target_key_id: r.get(3)?,
            creation_date: r.get(4)?,
            last_updated_date: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn put_key(conn: &Connection, meta: &KeyMetadata) -> Result<(), KmsError> {
    let text = serde_json::to_string(meta).map_err(|e| KmsError::Storage(e.to_string()))?;
    conn.execute(
        "INSERT INTO keys (key_id, meta) VALUES (?1, ?2)
         ON CONFLICT(key_id) DO UPDATE SET meta = excluded.meta",
        params![meta.key_id, text],
    )?;
    Ok(())
}

/// Stores a new key (metadata and its first version) in one transaction.
pub(crate) fn insert_key(
    conn: &mut Connection,
    meta: &KeyMetadata,
    sealed: &[u8],
    now: i64,
) -> Result<(), KmsError> {
    let tx = conn.transaction()?;
    put_key(&tx, meta)?;
    tx.execute(
        "INSERT INTO key_versions (key_id, version, sealed, created) VALUES (?1, ?2, ?3, ?4)",
        params![meta.key_id, meta.current_version, sealed, now],
    )?;
    tx.commit()?;
    Ok(())
}

/// Adds a backing-key version and the updated metadata in one transaction.
pub(crate) fn add_version(
    conn: &mut Connection,
    meta: &KeyMetadata,
    sealed: &[u8],
    now: i64,
) -> Result<(), KmsError> {
    insert_key(conn, meta, sealed, now)
}

pub(crate) fn sealed_version(
    conn: &Connection,
    key_id: &str,
    version: u32,
) -> Result<Option<Vec<u8>>, KmsError> {
    Ok(conn
        .query_row(
            "SELECT sealed FROM key_versions WHERE key_id = ?1 AND version = ?2",
            params![key_id, version],
            |r| r.get(0),
        )
        .optional()?)
}

pub(crate) fn delete_key(conn: &mut Connection, key_id: &str) -> Result<(), KmsError> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM keys WHERE key_id = ?1", params![key_id])?;
    tx.execute(
        "DELETE FROM key_versions WHERE key_id = ?1",
        params![key_id],
    )?;
    tx.execute("DELETE FROM aliases WHERE target = ?1", params![key_id])?;
    tx.commit()?;
    Ok(())
}

pub(crate) fn put_alias(conn: &Connection, a: &Alias) -> Result<(), KmsError> {
    conn.execute(
        "INSERT INTO aliases (account, region, name, target, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(account, region, name) DO UPDATE SET target = excluded.target,
             updated = excluded.updated",
        params![
            a.account,
            a.region,
            a.name,
            a.target_key_id,
            a.creation_date,
            a.last_updated_date
        ],
    )?;
    Ok(())
}

pub(crate) fn delete_alias(
    conn: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<(), KmsError> {
    conn.execute(
        "DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3",
        params![account, region, name],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        cairn_core::migrate::schema(conn).unwrap()
    }

    /// `kms.db` as `open` made it before the migration runner: step 1 (which must stay the
    /// schema of that release byte for byte) at `user_version` 1.
    fn make_as_before(conn: &Connection) {
        conn.execute_batch(&format!("{}\nPRAGMA user_version = 1;", STEPS[0]))
            .unwrap();
    }

    #[test]
    fn a_file_made_before_the_migration_runner_opens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.db");
        let old = Connection::open(&path).unwrap();
        make_as_before(&old);
        old.execute("INSERT INTO keys (key_id, meta) VALUES ('k1', '{}')", [])
            .unwrap();
        let before = schema(&old);
        drop(old);
        let conn = open(Some(&path)).unwrap();
        assert_eq!(schema(&conn), before);
        assert_eq!(cairn_core::migrate::version(&conn).unwrap(), 1);
        let meta: String = conn
            .query_row("SELECT meta FROM keys WHERE key_id = 'k1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(meta, "{}");
    }

    #[test]
    fn a_new_file_gets_the_same_schema_as_before() {
        let old = Connection::open_in_memory().unwrap();
        make_as_before(&old);
        assert_eq!(schema(&open(None).unwrap()), schema(&old));
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 9;")
            .unwrap();
        assert!(matches!(open(Some(&path)), Err(KmsError::Storage(_))));
    }
}
