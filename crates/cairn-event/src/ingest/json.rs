//! Low-level JSON helpers for the ingest hot path: a borrowed one-level object view over
//! `RawValue`s, string and boolean extraction, and a whitespace minifier.
//!
//! All functions here take text that `serde_json` has already validated, so they only need
//! to be correct for valid JSON; on invalid input they never panic and produce some output.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON string (an object key or a string value), borrowed from the input when it had no
/// escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of one JSON object, in input order, values left unparsed. A repeated name
/// keeps every occurrence.
pub struct Obj<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Obj<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    members.push((k, v));
                }
                Ok(Obj(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Obj<'a> {
    /// Parses a raw value that must be an object; `None` when it is another JSON type.
    pub(crate) fn of(raw: &'a RawValue) -> Option<Obj<'a>> {
        if kind(raw) != Kind::Object {
            return None;
        }
        serde_json::from_str::<Obj<'a>>(raw.get()).ok()
    }

    /// First member named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// The first key that occurs twice, if any.
    pub(crate) fn duplicate_key(&self) -> Option<&str> {
        let m = &self.0;
        for i in 1..m.len() {
            for j in 0..i {
                if m[i].0 == m[j].0 {
                    return Some(&m[i].0);
                }
            }
        }
        None
    }
}

/// The JSON type of a raw value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Bool,
    Null,
    Number,
}

pub(crate) fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// The decoded text of a JSON string value; `None` when the value is not a string.
pub(crate) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        // validated JSON: no escapes means the bytes between the quotes are the text
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<Key<'_>>(s).ok().map(|k| k.0)
}

/// A JSON boolean; `None` for any other type.
pub(crate) fn boolean(raw: &RawValue) -> Option<bool> {
    match raw.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn hex4(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// Whether every `\uXXXX` escape in `raw` (JSON text) that encodes a UTF-16 surrogate is
/// part of a high/low pair. `serde_json` keeps escapes of values it does not decode, and
/// many readers refuse lone surrogates, so ingest refuses them everywhere.
pub(crate) fn surrogates_paired(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &raw[i..]) {
        i += off;
        match raw.get(i + 1) {
            Some(b'u') => {
                let Some(cp) = hex4(&raw[(i + 2).min(raw.len())..]) else {
                    return false;
                };
                i += 6;
                match cp {
                    0xd800..=0xdbff => {
                        if raw.get(i..i + 2) != Some(&b"\\u"[..]) {
                            return false;
                        }
                        match hex4(&raw[(i + 2).min(raw.len())..]) {
                            Some(0xdc00..=0xdfff) => i += 6,
                            _ => return false,
                        }
                    }
                    0xdc00..=0xdfff => return false,
                    _ => {}
                }
            }
            Some(_) => i += 2,
            None => return true,
        }
    }
    true
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Appends `raw` (JSON text) to `out` without the whitespace between tokens. String contents
/// are copied byte for byte, escapes included.
pub(crate) fn minify_into(raw: &[u8], out: &mut Vec<u8>) {
    let n = raw.len();
    let mut i = 0;
    let mut start = 0;
    while i < n {
        match raw[i] {
            b'"' => {
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &raw[i.min(n)..]) {
                        Some(off) => {
                            i += off;
                            if raw[i] == b'\\' {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        None => {
                            i = n;
                            break;
                        }
                    }
                }
            }
            b if is_ws(b) => {
                out.extend_from_slice(&raw[start..i]);
                while i < n && is_ws(raw[i]) {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&raw[start.min(n)..]);
}

/// Writes `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail; serde_json escapes what JSON requires.
    if serde_json::to_writer(&mut *out, s).is_err() {
        debug_assert!(false, "serialising a str into a Vec failed");
    }
}

/// Writes a key that came out of [`Key`]. A borrowed key had no escapes in validated JSON,
/// so it is copied between quotes; an owned one (`had_escapes`) is re-escaped.
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str, had_escapes: bool) {
    if had_escapes {
        write_str(out, key);
    } else {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(s: &str) -> String {
        let mut out = Vec::new();
        minify_into(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            min(" { \"a b\" : [ 1 , \"x\\\" y\" ] }\n"),
            r#"{"a b":[1,"x\" y"]}"#
        );
        assert_eq!(min(r#"{"a":"\\"}"#), r#"{"a":"\\"}"#);
        assert_eq!(min("\"unterminated \\"), "\"unterminated \\");
        assert_eq!(min(""), "");
    }

    #[test]
    fn object_view() {
        let o: Obj<'_> = serde_json::from_str(r#"{"a":1,"b\u0041":"x","a":2}"#).unwrap();
        assert_eq!(o.0.len(), 3);
        assert!(matches!(o.0[0].0, Cow::Borrowed("a")));
        assert!(matches!(&o.0[1].0, Cow::Owned(s) if s == "bA"));
        assert_eq!(o.duplicate_key(), Some("a"));
        assert_eq!(o.get("a").unwrap().get(), "1");
    }

    #[test]
    fn surrogates() {
        assert!(surrogates_paired(br#""a\ud83d\ude00 \u00e9 \\ud800""#));
        assert!(!surrogates_paired(br#""\ud83d""#));
        assert!(!surrogates_paired(br#""\ud83dx""#));
        assert!(!surrogates_paired(br#""\ude00""#));
        assert!(!surrogates_paired(br#""\ud83d\u0041""#));
        assert!(surrogates_paired(b"no escapes"));
    }

    #[test]
    fn strings_and_bools() {
        let raw: Box<RawValue> = serde_json::from_str(r#""a\u00e9""#).unwrap();
        assert_eq!(string(&raw).unwrap(), "aé");
        let raw: Box<RawValue> = serde_json::from_str("true").unwrap();
        assert_eq!(boolean(&raw), Some(true));
        assert!(string(&raw).is_none());
    }
}
