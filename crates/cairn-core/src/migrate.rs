//! The one migration runner for Cairn's SQLite files.
//!
//! A file's schema is a list of steps; step `i` (from 1) takes the file from
//! `PRAGMA user_version = i - 1` to `i`, in one transaction with the version bump. A file
//! newer than the running server is refused, never downgraded.

use rusqlite::Connection;

/// Why a file could not be brought up to date.
#[derive(Debug)]
pub enum MigrateError {
    /// The file was written by a newer Cairn.
    TooNew {
        /// The file's version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite failed.
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::TooNew { found, supported } => write!(
                f,
                "the database has schema version {found}, newer than this server's {supported}; run a newer cairn"
            ),
            MigrateError::Sqlite(e) => write!(f, "sqlite: {e}"),
        }
    }
}

impl std::error::Error for MigrateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MigrateError::Sqlite(e) => Some(e),
            MigrateError::TooNew { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Opens the usual way: WAL, `synchronous=FULL` (an acknowledged change survives power
/// loss), foreign keys on, and a busy timeout.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The file's schema version (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// The file's schema as SQLite keeps it: `(name, sql)` of every table, index, view and
/// trigger, by name. Compatibility tests compare it before and after a migration.
pub fn schema(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut st =
        conn.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Applies the steps the file has not seen yet. Returns the version the file now has.
pub fn migrate(conn: &Connection, steps: &[&str]) -> Result<i64, MigrateError> {
    let supported = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    let found = version(conn)?;
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    for (i, sql) in steps
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = i + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {version};\nCOMMIT;"
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK;");
        })?;
    }
    Ok(supported)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE t (a TEXT);",
        "ALTER TABLE t ADD COLUMN b TEXT;",
    ];

    #[test]
    fn runs_each_step_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.sqlite");
        let conn = Connection::open(&p).unwrap();
        configure(&conn).unwrap();
        assert_eq!(migrate(&conn, &STEPS[..1]).unwrap(), 1);
        conn.execute("INSERT INTO t (a) VALUES ('kept')", [])
            .unwrap();
        assert_eq!(migrate(&conn, STEPS).unwrap(), 2);
        let after = schema(&conn).unwrap();
        assert_eq!(after.len(), 1);
        assert!(after[0].1.contains("b TEXT"), "{after:?}");
        assert_eq!(migrate(&conn, STEPS).unwrap(), 2);
        assert_eq!(schema(&conn).unwrap(), after);
        let (a, b): (String, Option<String>) = conn
            .query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((a.as_str(), b), ("kept", None));
    }

    #[test]
    fn a_newer_file_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, STEPS).unwrap();
        let e = migrate(&conn, &STEPS[..1]).unwrap_err();
        assert!(
            matches!(
                e,
                MigrateError::TooNew {
                    found: 2,
                    supported: 1
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        let conn = Connection::open_in_memory().unwrap();
        let e = migrate(&conn, &["CREATE TABLE t (a TEXT);", "NOT SQL;"]).unwrap_err();
        assert!(matches!(e, MigrateError::Sqlite(_)));
        assert_eq!(version(&conn).unwrap(), 1);
    }
}
