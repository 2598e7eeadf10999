//! Log-file records split into their top-level members with the values left unparsed, so a
//! scan parses only the columns a query reads.

use std::borrow::Cow;
use std::fmt;

use cairn_event::json::{Key, Obj};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// One record: its top-level members in document order, values as unparsed JSON text.
#[derive(Debug, Default)]
pub struct RawRecord<'a> {
    /// Members (name, value). A repeated name keeps every occurrence; readers take the last,
    /// as a full parse does.
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawRecord<'a> {
    /// The value of member `name` (the last one when repeated).
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
}

/// A record is any JSON object (`cairn_event`'s one-level object view).
impl<'de> Deserialize<'de> for RawRecord<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Obj::deserialize(d).map(|o| RawRecord { members: o.0 })
    }
}

/// A top-level JSON value of a log file: CloudTrail's `{"Records":[...]}` document, or one
/// record (newline-delimited files).
enum Top<'a> {
    Records(Vec<RawRecord<'a>>),
    Record(RawRecord<'a>),
}

struct RecordList<'a>(Vec<RawRecord<'a>>);

impl<'de> Deserialize<'de> for RecordList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecordList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`Records` as an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2048));
                while let Some(r) = seq.next_element::<RawRecord<'de>>()? {
                    out.push(r);
                }
                Ok(RecordList(out))
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CloudTrail record or document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(32);
                let mut records = None;
                while let Some(Key(k)) = map.next_key()? {
                    if k == "Records" {
                        records = Some(map.next_value::<RecordList<'de>>()?.0);
                    } else {
                        members.push((k, map.next_value::<&'de RawValue>()?));
                    }
                }
                Ok(match records {
                    Some(r) => Top::Records(r),
                    None => Top::Record(RawRecord { members }),
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Splits a log file's JSON text into records: the members of `{"Records":[...]}` documents
/// and newline-delimited records, as [`crate::files::parse_records`] accepts them.
pub fn split_records(json: &[u8]) -> Result<Vec<RawRecord<'_>>, String> {
    let mut out = Vec::new();
    for top in serde_json::Deserializer::from_slice(json).into_iter::<Top<'_>>() {
        match top.map_err(|e| format!("json: {e}"))? {
            Top::Records(r) => {
                if out.is_empty() {
                    out = r;
                } else {
                    out.extend(r);
                }
            }
            Top::Record(r) => out.push(r),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &RawRecord<'_>) -> Vec<String> {
        r.members.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn documents_and_ndjson_split_into_members() {
        let doc =
            br#"{"Records":[{"eventID":"a","userIdentity":{"type":"Root"}},{"eventID":"b"}]}"#;
        let r = split_records(doc).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(names(&r[0]), ["eventID", "userIdentity"]);
        assert_eq!(
            r[0].get("userIdentity").unwrap().get(),
            r#"{"type":"Root"}"#
        );
        assert_eq!(r[1].get("eventID").unwrap().get(), r#""b""#);
        let nd = b"{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}\n";
        assert_eq!(split_records(nd).unwrap().len(), 2);
        // Two documents in one file (concatenated gzip members) keep both record lists.
        let two = br#"{"Records":[{"a":1}]} {"Records":[{"a":2},{"a":3}]}"#;
        assert_eq!(split_records(two).unwrap().len(), 3);
    }

    #[test]
    fn escaped_and_repeated_names_read_like_a_full_parse() {
        let r = split_records(br#"{"event\u004eame":"X","k":1,"k":2}"#).unwrap();
        assert_eq!(names(&r[0]), ["eventName", "k", "k"]);
        assert_eq!(r[0].get("k").unwrap().get(), "2");
        assert!(r[0].get("missing").is_none());
    }

    #[test]
    fn what_is_not_a_record_is_refused() {
        for bad in [
            &b"[1,2]"[..],
            br#"{"Records":3}"#,
            br#"{"Records":[1]}"#,
            b"{\"a\":",
            b"\"x\"",
        ] {
            assert!(
                split_records(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
