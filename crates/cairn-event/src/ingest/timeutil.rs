//! `eventTime` parsing for ingest: what producers send, normalised to CloudTrail's format.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// The message for an unparseable time.
pub(crate) const EXPECTED: &str =
    "must be YYYY-MM-DDTHH:MM:SSZ, YYYY-MM-DDTHH:MM:SS (UTC) or RFC 3339, years 1970 to 9999";

const NO_ZONE: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// Whether `s` is exactly `YYYY-MM-DDTHH:MM:SSZ` in shape.
fn canonical_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Parses an event time. Returns the instant (UTC, fractional seconds dropped) and whether
/// `s` already is CloudTrail's canonical text for it.
pub(crate) fn parse(s: &str) -> Option<(OffsetDateTime, bool)> {
    let t = match crate::parse_event_time(s) {
        Some(t) => t,
        None => time::PrimitiveDateTime::parse(s, NO_ZONE)
            .ok()?
            .assume_utc(),
    };
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()?;
    if !(1970..=9999).contains(&t.year()) {
        return None;
    }
    Some((t, canonical_shape(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let (t, c) = parse("2025-03-04T05:12:44Z").unwrap();
        assert!(c);
        assert_eq!(crate::format_event_time(t), "2025-03-04T05:12:44Z");
        let (t2, c) = parse("2025-03-04T05:12:44.999Z").unwrap();
        assert!(!c);
        assert_eq!(t2, t);
        let (t3, c) = parse("2025-03-04T05:12:44").unwrap();
        assert!(!c);
        assert_eq!(t3, t);
        let (t4, _) = parse("2025-03-04T07:12:44+02:00").unwrap();
        assert_eq!(t4, t);
        for bad in [
            "",
            "2025-03-04",
            "2025-13-04T05:12:44Z",
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:30:00+01:00",
            "2025-03-04T05:12Z",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
