//! The three timestamp shapes SigV4 and CloudTrail use, parsed and formatted by hand so the
//! formats are exact (no locale, no optional parts).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn build(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(s).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Parses ISO 8601 basic format `YYYYMMDDTHHMMSSZ` (the `X-Amz-Date` format).
#[must_use]
pub fn parse_basic(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    build(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

/// Parses an RFC 7231 IMF-fixdate, `Fri, 24 May 2013 00:00:00 GMT` (the `Date` header).
#[must_use]
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = s.trim();
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day = digits(parts.next()?.as_bytes())?;
    let mon = parts.next()?;
    let month = u32::try_from(MONTHS.iter().position(|m| *m == mon)? + 1).ok()?;
    let year = digits(parts.next()?.as_bytes())?;
    let hms = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let mut t = hms.split(':');
    let h = digits(t.next()?.as_bytes())?;
    let m = digits(t.next()?.as_bytes())?;
    let sec = digits(t.next()?.as_bytes())?;
    if t.next().is_some() {
        return None;
    }
    build(year, month, day, h, m, sec)
}

/// Formats `YYYYMMDDTHHMMSSZ`.
#[must_use]
pub fn format_basic(t: OffsetDateTime) -> String {
    format_utc(t, "", "")
}

/// Formats `YYYYMMDD` (the credential scope date).
#[must_use]
pub fn format_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Formats `YYYY-MM-DDTHH:MM:SSZ` (CloudTrail's time format).
#[must_use]
pub fn format_extended(t: OffsetDateTime) -> String {
    format_utc(t, "-", ":")
}

/// `t` in UTC as `YYYY<d>MM<d>DDTHH<c>MM<c>SSZ`.
fn format_utc(t: OffsetDateTime, d: &str, c: &str) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{d}{:02}{d}{:02}T{:02}{c}{:02}{c}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn basic_round_trip() {
        let t = parse_basic("20150830T123600Z").unwrap();
        assert_eq!(t, datetime!(2015-08-30 12:36:00 UTC));
        assert_eq!(format_basic(t), "20150830T123600Z");
        assert_eq!(format_date(t), "20150830");
        assert_eq!(format_extended(t), "2015-08-30T12:36:00Z");
    }

    #[test]
    fn basic_rejects_malformed() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20151330T123600Z",
            "20150830T253600Z",
            "+0150830T123600Z",
            "20150830T123600Zx",
        ] {
            assert!(parse_basic(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT").unwrap(),
            datetime!(2013-05-24 00:00:00 UTC)
        );
        assert!(parse_http_date("Fri, 24 Foo 2013 00:00:00 GMT").is_none());
        assert!(parse_http_date("Fri, 24 May 2013 00:00:00 UTC").is_none());
        assert!(parse_http_date("24 May 2013 00:00:00 GMT").is_none());
    }
}
