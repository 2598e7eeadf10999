//! Event data store references in SQL, as CloudTrail Lake writes them: `FROM <id>` or
//! `FROM <arn>`, bare (`FROM 0b5e2f1a-...`), which SQL does not parse as a table name.

use std::sync::OnceLock;

use regex::{Captures, Regex};

fn re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)\b(from|join)(\s+)["`]?((?:arn:[a-z-]+:cloudtrail:[a-z0-9-]*:[0-9]*:eventdatastore/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))["`]?"#,
        )
        .unwrap_or_else(|_| unreachable!("constant regex"))
    })
}

/// Rewrites every store reference after `FROM`/`JOIN` (ID or ARN, bare or quoted; not inside
/// a string literal) into the quoted, lowercase ID (the table name), calling
/// `seen(reference, id)` for each; the first error `seen` returns is returned.
pub fn quote_store_refs<E>(
    sql: &str,
    mut seen: impl FnMut(&str, &str) -> Result<(), E>,
) -> Result<String, E> {
    let mut err = None;
    let out = re().replace_all(sql, |c: &Captures<'_>| {
        let whole = c.get(0).map_or(0..0, |m| m.range());
        // An odd number of quotes before the match: it is inside a string literal.
        if sql[..whole.start].matches('\'').count() % 2 == 1 {
            return sql[whole].to_owned();
        }
        let id = c[4].to_ascii_lowercase();
        if err.is_none()
            && let Err(e) = seen(&c[3], &id)
        {
            err = Some(e);
        }
        format!("{}{}\"{id}\"", &c[1], &c[2])
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_arns_become_quoted_table_names() {
        let id = "0b5e2f1a-1111-2222-3333-444455556666";
        let arn = format!("arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/{id}");
        let mut refs = Vec::new();
        let sql = format!(
            "SELECT a FROM {arn} JOIN \"{id}\" ON x WHERE b = 'from {id}' UNION SELECT a from  {}",
            id.to_uppercase()
        );
        let out = quote_store_refs(&sql, |r, i| {
            refs.push((r.to_owned(), i.to_owned()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(
            out,
            format!(
                "SELECT a FROM \"{id}\" JOIN \"{id}\" ON x WHERE b = 'from {id}' UNION SELECT a from  \"{id}\""
            )
        );
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0], (arn, id.to_owned()));
        let e = quote_store_refs(&format!("SELECT * FROM {id}"), |_, _| Err("no"));
        assert_eq!(e, Err("no"));
        assert_eq!(
            quote_store_refs("SELECT * FROM events", |_, _| Err("no")),
            Ok("SELECT * FROM events".to_owned())
        );
    }
}
