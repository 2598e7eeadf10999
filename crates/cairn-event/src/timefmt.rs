use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const EVENT_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats a time as CloudTrail writes `eventTime`: `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds.
pub fn format_event_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // the format has no fallible components for years 0..=9999
    t.format(EVENT_TIME)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Parses CloudTrail's `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`); also accepts RFC 3339 with
/// fractional seconds or an offset, as some producers send.
pub fn parse_event_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = time::PrimitiveDateTime::parse(s, EVENT_TIME) {
        return Some(t.assume_utc());
    }
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse_event_time("2025-03-04T05:12:44Z").unwrap();
        assert_eq!(format_event_time(t), "2025-03-04T05:12:44Z");
        let t = parse_event_time("2025-03-04T05:12:44.123+01:00").unwrap();
        assert_eq!(format_event_time(t), "2025-03-04T04:12:44Z");
        assert!(parse_event_time("2025-03-04 05:12:44").is_none());
    }
}
