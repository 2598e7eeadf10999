//! Persistence of IAM entities in the catalog (`iam_entities`, migration 5) and the queries
//! over access keys in `credentials`.

use rusqlite::params;
use serde::Serialize;

use super::AccessKeyInfo;
use crate::catalog::{Catalog, CatalogError};
use crate::error::ApiError;

/// Characters of AWS unique ids and access key ids.
pub(super) const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new unique id: `prefix` and 17 random characters (`AIDA...`, `AROA...`, `ANPA...`).
pub(super) fn unique_id(prefix: &str) -> Result<String, ApiError> {
    let bytes = crate::secrets::random_bytes::<17>().map_err(ApiError::internal)?;
    let mut s = String::from(prefix);
    for b in bytes {
        s.push(ID_ALPHABET[usize::from(b) % ID_ALPHABET.len()] as char);
    }
    Ok(s)
}

/// Every stored entity: (account, kind, name, document).
pub(super) fn load_all(
    catalog: &Catalog,
) -> Result<Vec<(String, String, String, String)>, CatalogError> {
    let conn = catalog.conn();
    let mut stmt = conn.prepare("SELECT account_id, kind, name, doc FROM iam_entities")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn put<T: Serialize>(
    catalog: &Catalog,
    account: &str,
    kind: &str,
    name: &str,
    doc: &T,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(doc).map_err(ApiError::internal)?;
    catalog
        .conn()
        .execute(
            "INSERT INTO iam_entities (account_id, kind, name, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id, kind, name) DO UPDATE SET doc = excluded.doc",
            params![account, kind, name, text],
        )
        .map_err(ApiError::internal)?;
    Ok(())
}

pub(super) fn delete(
    catalog: &Catalog,
    account: &str,
    kind: &str,
    name: &str,
) -> Result<(), ApiError> {
    catalog
        .conn()
        .execute(
            "DELETE FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND name = ?3",
            params![account, kind, name],
        )
        .map_err(ApiError::internal)?;
    Ok(())
}

/// The access keys of a user, oldest first.
/// Writes a user's path into the stored principal of each of its access keys that has none
/// (keys created before principals kept the path), so the ARN a request is authorized and
/// recorded as is the user's ARN with its path.
pub(super) fn backfill_key_paths(
    catalog: &Catalog,
    account: &str,
    user: &str,
    user_id: &str,
    path: &str,
) -> Result<usize, CatalogError> {
    Ok(catalog.conn().execute(
        "UPDATE credentials SET principal = json_set(principal, '$.path', ?4)
         WHERE account_id = ?1 AND json_extract(principal, '$.type') = 'IAMUser'
           AND json_extract(principal, '$.userName') = ?2
           AND json_extract(principal, '$.userId') = ?3
           AND json_extract(principal, '$.path') IS NULL",
        params![account, user, user_id, path],
    )?)
}

pub(super) fn access_keys(
    catalog: &Catalog,
    account: &str,
    user: &str,
) -> Result<Vec<AccessKeyInfo>, CatalogError> {
    let conn = catalog.conn();
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

pub(super) fn set_key_status(catalog: &Catalog, key: &str, status: &str) -> Result<(), ApiError> {
    catalog
        .conn()
        .execute(
            "UPDATE credentials SET status = ?2 WHERE access_key_id = ?1",
            params![key, status],
        )
        .map_err(ApiError::internal)?;
    Ok(())
}

pub(super) fn delete_key(catalog: &Catalog, key: &str) -> Result<(), ApiError> {
    catalog
        .conn()
        .execute(
            "DELETE FROM credentials WHERE access_key_id = ?1",
            params![key],
        )
        .map_err(ApiError::internal)?;
    Ok(())
}

/// The user name owning an IAM-user access key of `account`.
pub(super) fn key_owner(
    catalog: &Catalog,
    account: &str,
    key: &str,
) -> Result<Option<String>, CatalogError> {
    use rusqlite::OptionalExtension;
    Ok(catalog
        .conn()
        .query_row(
            "SELECT json_extract(principal, '$.userName') FROM credentials
             WHERE access_key_id = ?1 AND account_id = ?2
               AND json_extract(principal, '$.type') = 'IAMUser'",
            params![key, account],
            |r| r.get(0),
        )
        .optional()?)
}
