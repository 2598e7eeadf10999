//! The three CloudTrail timestamp text forms.
//!
//! | form | example | used in |
//! |---|---|---|
//! | event / digest time | `2015-08-17T15:01:31Z` | `eventTime`, `digest*Time`, `*EventTime` |
//! | digest key time | `20150817T150131Z` | digest object keys (16 chars) |
//! | log key time | `20150801T0210Z` | log file object keys (minutes, no seconds) |
//!
//! All are UTC. Formatting converts any offset to UTC first; years outside `0..=9999`
//! are rejected because they would break the fixed-width, lexicographically sortable forms.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::{Error, Result};

const EVENT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const DIGEST_KEY: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const LOG_KEY: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute]Z");
const YMD_PATH: &[BorrowedFormatItem<'static>] = format_description!("[year]/[month]/[day]");

fn utc(t: OffsetDateTime) -> Result<OffsetDateTime> {
    let t = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(Error::InvalidTime {
            value: t.to_string(),
            reason: "year outside 0..=9999",
        });
    }
    Ok(t)
}

fn fmt(t: OffsetDateTime, f: &[BorrowedFormatItem<'static>]) -> Result<String> {
    utc(t)?.format(f).map_err(|_| Error::InvalidTime {
        value: t.to_string(),
        reason: "cannot be formatted",
    })
}

fn parse(
    s: &str,
    f: &[BorrowedFormatItem<'static>],
    reason: &'static str,
) -> Result<OffsetDateTime> {
    PrimitiveDateTime::parse(s, f)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| Error::InvalidTime {
            value: s.to_owned(),
            reason,
        })
}

/// Formats `t` as `YYYY-MM-DDTHH:MM:SSZ` (sub-second part dropped).
pub fn format_event_time(t: OffsetDateTime) -> Result<String> {
    fmt(t, EVENT)
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_event_time(s: &str) -> Result<OffsetDateTime> {
    parse(s, EVENT, "expected YYYY-MM-DDTHH:MM:SSZ")
}

/// Formats `t` as the 16-character digest key timestamp `YYYYMMDDTHHMMSSZ`.
pub fn format_digest_key_time(t: OffsetDateTime) -> Result<String> {
    fmt(t, DIGEST_KEY)
}

/// Parses the 16-character digest key timestamp `YYYYMMDDTHHMMSSZ`.
pub fn parse_digest_key_time(s: &str) -> Result<OffsetDateTime> {
    parse(s, DIGEST_KEY, "expected YYYYMMDDTHHMMSSZ")
}

/// Formats `t` as the log key timestamp `YYYYMMDDTHHMMZ` (seconds dropped).
pub fn format_log_key_time(t: OffsetDateTime) -> Result<String> {
    fmt(t, LOG_KEY)
}

/// Parses the log key timestamp `YYYYMMDDTHHMMZ`.
pub fn parse_log_key_time(s: &str) -> Result<OffsetDateTime> {
    parse(s, LOG_KEY, "expected YYYYMMDDTHHMMZ")
}

/// Formats the date folders `YYYY/MM/DD` of `t`.
pub fn format_ymd_path(t: OffsetDateTime) -> Result<String> {
    fmt(t, YMD_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn forms() {
        let t = datetime!(2015-08-01 02:10:59.9 UTC);
        assert_eq!(format_event_time(t).unwrap(), "2015-08-01T02:10:59Z");
        assert_eq!(format_digest_key_time(t).unwrap(), "20150801T021059Z");
        assert_eq!(format_log_key_time(t).unwrap(), "20150801T0210Z");
        assert_eq!(format_ymd_path(t).unwrap(), "2015/08/01");
        let p = datetime!(2015-08-01 04:10:59 +2);
        assert_eq!(format_event_time(p).unwrap(), "2015-08-01T02:10:59Z");
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(
            parse_event_time("2015-08-17T15:01:31Z").unwrap(),
            datetime!(2015-08-17 15:01:31 UTC)
        );
        for bad in [
            "2015-08-17T15:01:31",
            "2015-08-17 15:01:31Z",
            "2015-08-17T15:01:31.5Z",
            "",
        ] {
            assert!(parse_event_time(bad).is_err(), "{bad}");
        }
        assert!(parse_digest_key_time("20150817T150131Z").is_ok());
        assert!(parse_digest_key_time("20150817T1501Z").is_err());
        assert!(parse_log_key_time("20150817T1501Z").is_ok());
    }

    #[test]
    fn rejects_five_digit_years() {
        let t = OffsetDateTime::UNIX_EPOCH.replace_year(-1).unwrap();
        assert!(format_event_time(t).is_err());
    }
}
