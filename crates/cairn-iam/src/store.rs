//! Persistence of IAM entities (`iam_entities`, the catalog's migration 5) and the queries
//! over access keys in `credentials`.

use rusqlite::params;
use serde::Serialize;

use crate::db::Database;
use crate::{AccessKeyInfo, IamError};

/// Characters of AWS unique ids and access key ids.
pub(super) const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new unique id: `prefix` and 17 random characters (`AIDA...`, `AROA...`, `ANPA...`).
pub(super) fn unique_id(prefix: &str) -> Result<String, IamError> {
    let bytes = cairn_core::secrets::random_bytes::<17>()?;
    let mut s = String::from(prefix);
    for b in bytes {
        s.push(ID_ALPHABET[usize::from(b) % ID_ALPHABET.len()] as char);
    }
    Ok(s)
}

/// Every stored entity: (account, kind, name, document).
pub(super) fn load_all(
    db: &dyn Database,
) -> Result<Vec<(String, String, String, String)>, IamError> {
    let conn = db.connection();
    let mut stmt = conn.prepare("SELECT account_id, kind, name, doc FROM iam_entities")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn put<T: Serialize>(
    db: &dyn Database,
    account: &str,
    kind: &str,
    name: &str,
    doc: &T,
) -> Result<(), IamError> {
    let text = serde_json::to_string(doc)?;
    db.connection().execute(
        "INSERT INTO iam_entities (account_id, kind, name, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, kind, name) DO UPDATE SET doc = excluded.doc",
        params![account, kind, name, text],
    )?;
    Ok(())
}

pub(super) fn delete(
    db: &dyn Database,
    account: &str,
    kind: &str,
    name: &str,
) -> Result<(), IamError> {
    db.connection().execute(
        "DELETE FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND name = ?3",
        params![account, kind, name],
    )?;
    Ok(())
}

/// Writes a user's path into the stored principal of each of its access keys that has none
/// (keys created before principals kept the path), so the ARN a request is authorized and
/// recorded as is the user's ARN with its path.
pub(super) fn backfill_key_paths(
    db: &dyn Database,
    account: &str,
    user: &str,
    user_id: &str,
    path: &str,
) -> Result<usize, IamError> {
    Ok(db.connection().execute(
        "UPDATE credentials SET principal = json_set(principal, '$.path', ?4)
         WHERE account_id = ?1 AND json_extract(principal, '$.type') = 'IAMUser'
           AND json_extract(principal, '$.userName') = ?2
           AND json_extract(principal, '$.userId') = ?3
           AND json_extract(principal, '$.path') IS NULL",
        params![account, user, user_id, path],
    )?)
}

/// The access keys of a user, oldest first.
pub(super) fn access_keys(
    db: &dyn Database,
    account: &str,
    user: &str,
) -> Result<Vec<AccessKeyInfo>, IamError> {
    let conn = db.connection();
    let mut stmt = conn.prepare(
        "SELECT access_key_id, status, created FROM credentials
         WHERE account_id = ?1 AND json_extract(principal, '$.type') = 'IAMUser'
           AND json_extract(principal, '$.userName') = ?2
         ORDER BY created, access_key_id",
    )?;
    let rows = stmt.query_map(params![account, user], |r| {
        Ok(AccessKeyInfo {
            access_key_id: r.get(0)?,
            status: r.get(1)?,
            create_date: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_key_status(db: &dyn Database, key: &str, status: &str) -> Result<(), IamError> {
    db.connection().execute(
        "UPDATE credentials SET status = ?2 WHERE access_key_id = ?1",
        params![key, status],
    )?;
    Ok(())
}

pub(super) fn delete_key(db: &dyn Database, key: &str) -> Result<(), IamError> {
    db.connection().execute(
        "DELETE FROM credentials WHERE access_key_id = ?1",
        params![key],
    )?;
    Ok(())
}

/// The user name owning an IAM-user access key of `account`.
pub(super) fn key_owner(
    db: &dyn Database,
    account: &str,
    key: &str,
) -> Result<Option<String>, IamError> {
    use rusqlite::OptionalExtension;
    Ok(db
        .connection()
        .query_row(
            "SELECT json_extract(principal, '$.userName') FROM credentials
             WHERE access_key_id = ?1 AND account_id = ?2
               AND json_extract(principal, '$.type') = 'IAMUser'",
            params![key, account],
            |r| r.get(0),
        )
        .optional()?)
}
