//! LookupEvents request and response shapes, and request validation.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{HistoryError, Result};

/// The eight `LookupAttributes` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeKey {
    /// `EventId`.
    EventId,
    /// `EventName`.
    EventName,
    /// `ReadOnly` (`true` / `false`).
    ReadOnly,
    /// `Username`.
    Username,
    /// `ResourceType`.
    ResourceType,
    /// `ResourceName`.
    ResourceName,
    /// `EventSource`.
    EventSource,
    /// `AccessKeyId`.
    AccessKeyId,
}

impl AttributeKey {
    /// All keys, in the order of the API reference.
    pub const ALL: [AttributeKey; 8] = [
        Self::EventId,
        Self::EventName,
        Self::ReadOnly,
        Self::Username,
        Self::ResourceType,
        Self::ResourceName,
        Self::EventSource,
        Self::AccessKeyId,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventId => "EventId",
            Self::EventName => "EventName",
            Self::ReadOnly => "ReadOnly",
            Self::Username => "Username",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventSource => "EventSource",
            Self::AccessKeyId => "AccessKeyId",
        }
    }

    /// Stable small integer stored in the attribute table. Never renumber.
    pub(crate) fn id(self) -> i64 {
        match self {
            Self::EventId => 1,
            Self::EventName => 2,
            Self::ReadOnly => 3,
            Self::Username => 4,
            Self::ResourceType => 5,
            Self::ResourceName => 6,
            Self::EventSource => 7,
            Self::AccessKeyId => 8,
        }
    }

    /// Whether Insights lookups accept this key (EventId, EventName, EventSource only).
    pub fn supported_for_insights(self) -> bool {
        matches!(self, Self::EventId | Self::EventName | Self::EventSource)
    }
}

impl fmt::Display for AttributeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttributeKey {
    type Err = HistoryError;

    /// Exact wire names only; anything else is `InvalidLookupAttributesException`.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| HistoryError::attrs(format!("{s} is not a valid lookup attribute key")))
    }
}

/// `EventCategory`: the API defines only `insight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventCategory {
    /// Insights events.
    Insight,
}

impl FromStr for EventCategory {
    type Err = HistoryError;

    /// `insight`; anything else is `InvalidEventCategoryException`.
    fn from_str(s: &str) -> Result<Self> {
        if s == "insight" {
            Ok(Self::Insight)
        } else {
            Err(HistoryError::InvalidEventCategory {
                value: s.to_owned(),
            })
        }
    }
}

/// A LookupEvents request, scoped to one account and Region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupRequest {
    /// Account whose history is searched.
    pub account: String,
    /// Region whose history is searched.
    pub region: String,
    /// At most one lookup attribute (see [`LookupRequest::attribute_from_list`]).
    pub attribute: Option<(AttributeKey, String)>,
    /// Inclusive lower bound on `eventTime`.
    pub start: Option<OffsetDateTime>,
    /// Inclusive upper bound on `eventTime`.
    pub end: Option<OffsetDateTime>,
    /// `Some(Insight)` searches Insights events, `None` management events.
    pub category: Option<EventCategory>,
    /// 1–50, default 50. Signed so that any client number can be validated.
    pub max_results: Option<i64>,
    /// Token from the previous page.
    pub next_token: Option<String>,
}

/// One result of LookupEvents (the `Event` shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupEvent {
    /// `EventId`.
    pub event_id: Option<String>,
    /// `EventName`.
    pub event_name: Option<String>,
    /// `ReadOnly`: `"true"` / `"false"`.
    pub read_only: Option<String>,
    /// `AccessKeyId`.
    pub access_key_id: Option<String>,
    /// `EventTime`.
    pub event_time: OffsetDateTime,
    /// `EventSource`.
    pub event_source: Option<String>,
    /// `Username`.
    pub username: Option<String>,
    /// `Resources`: (ResourceType, ResourceName).
    pub resources: Vec<(Option<String>, String)>,
    /// `CloudTrailEvent`: the record JSON exactly as indexed.
    pub cloud_trail_event: String,
}

/// A LookupEvents response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupResponse {
    /// Newest first; ties on time broken by journal sequence, highest first.
    pub events: Vec<LookupEvent>,
    /// Present when more events may follow.
    pub next_token: Option<String>,
}

/// Default and maximum MaxResults.
pub const MAX_RESULTS: i64 = 50;
/// Maximum weighted length of an attribute value.
pub const MAX_VALUE_LEN: usize = 2000;

/// AWS counts `_`, space, `,` and newline twice toward the 2000-character limit.
fn weighted_len(v: &str) -> usize {
    v.chars()
        .map(|c| {
            if matches!(c, '_' | ' ' | ',' | '\n') {
                2
            } else {
                1
            }
        })
        .sum()
}

/// Millisecond timestamps used by the index.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A request after validation.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub(crate) attribute: Option<(AttributeKey, String)>,
    /// Inclusive bounds in ms (start rounded up, end rounded down).
    pub(crate) start_ms: Option<i64>,
    pub(crate) end_ms: Option<i64>,
    pub(crate) insight: bool,
    pub(crate) limit: usize,
    /// SHA-256 of every parameter that must stay identical across pages.
    pub(crate) param_hash: [u8; 32],
}

impl LookupRequest {
    /// Turn the wire list of `{AttributeKey, AttributeValue}` into the single attribute the
    /// API allows. Errors: more than one entry, or an unknown key.
    pub fn attribute_from_list(
        list: &[(String, String)],
    ) -> Result<Option<(AttributeKey, String)>> {
        match list {
            [] => Ok(None),
            [(k, v)] => Ok(Some((k.parse()?, v.clone()))),
            _ => Err(HistoryError::attrs(
                "you can specify at most one lookup attribute",
            )),
        }
    }

    pub(crate) fn validate(&self) -> Result<Validated> {
        let limit = match self.max_results {
            None => MAX_RESULTS,
            Some(n) if (1..=MAX_RESULTS).contains(&n) => n,
            Some(n) => return Err(HistoryError::InvalidMaxResults { value: n }),
        };
        if let Some((key, value)) = &self.attribute {
            if value.is_empty() {
                return Err(HistoryError::attrs(format!(
                    "the value for lookup attribute {key} must not be empty"
                )));
            }
            if weighted_len(value) > MAX_VALUE_LEN {
                return Err(HistoryError::attrs(format!(
                    "the value for lookup attribute {key} is longer than {MAX_VALUE_LEN} characters"
                )));
            }
            if self.category.is_some() && !key.supported_for_insights() {
                return Err(HistoryError::attrs(format!(
                    "lookup attribute {key} is not supported for Insights events: use EventId, EventName or EventSource"
                )));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end)
            && s > e
        {
            let fmt = |t: OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| t.unix_timestamp().to_string())
            };
            return Err(HistoryError::InvalidTimeRange {
                start: fmt(s),
                end: fmt(e),
            });
        }
        let start_ms = self.start.map(|t| {
            let ns = t.unix_timestamp_nanos();
            let ms = ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) != 0);
            i64::try_from(ms).unwrap_or(i64::MAX)
        });
        let end_ms = self.end.map(to_ms);

        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        field(b"cairn-history lookup v1");
        field(self.account.as_bytes());
        field(self.region.as_bytes());
        match &self.attribute {
            Some((k, v)) => {
                field(k.as_str().as_bytes());
                field(v.as_bytes());
            }
            None => field(b"-"),
        }
        field(&start_ms.map_or([0xff; 8], i64::to_be_bytes));
        field(&end_ms.map_or([0xff; 8], i64::to_be_bytes));
        field(if self.category.is_some() {
            b"insight"
        } else {
            b"management"
        });
        Ok(Validated {
            attribute: self.attribute.clone(),
            start_ms,
            end_ms,
            insight: self.category.is_some(),
            limit: usize::try_from(limit).unwrap_or(50),
            param_hash: h.finalize().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn req() -> LookupRequest {
        LookupRequest {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn keys_round_trip_and_unknown_keys_fail() {
        for k in AttributeKey::ALL {
            assert_eq!(k.as_str().parse::<AttributeKey>().unwrap(), k);
        }
        let err = "eventName".parse::<AttributeKey>().unwrap_err();
        assert_eq!(err.code(), "InvalidLookupAttributesException");
        let ids: std::collections::HashSet<i64> =
            AttributeKey::ALL.iter().map(|k| k.id()).collect();
        assert_eq!(ids.len(), 8);
    }

    #[test]
    fn category_accepts_only_insight() {
        assert_eq!(
            "insight".parse::<EventCategory>().unwrap(),
            EventCategory::Insight
        );
        for bad in ["Insight", "management", ""] {
            assert_eq!(
                bad.parse::<EventCategory>().unwrap_err().code(),
                "InvalidEventCategoryException"
            );
        }
    }

    #[test]
    fn attribute_list_allows_at_most_one() {
        assert_eq!(LookupRequest::attribute_from_list(&[]).unwrap(), None);
        let one = [("EventName".to_owned(), "ConsoleLogin".to_owned())];
        assert_eq!(
            LookupRequest::attribute_from_list(&one).unwrap(),
            Some((AttributeKey::EventName, "ConsoleLogin".to_owned()))
        );
        let two = [one[0].clone(), ("Username".to_owned(), "root".to_owned())];
        assert_eq!(
            LookupRequest::attribute_from_list(&two).unwrap_err().code(),
            "InvalidLookupAttributesException"
        );
    }

    #[test]
    fn max_results_bounds() {
        for (n, ok) in [(0, false), (1, true), (50, true), (51, false), (-3, false)] {
            let r = LookupRequest {
                max_results: Some(n),
                ..req()
            };
            match r.validate() {
                Ok(v) => assert!(ok && v.limit == usize::try_from(n).unwrap()),
                Err(e) => assert!(!ok && e.code() == "InvalidMaxResultsException"),
            }
        }
        assert_eq!(req().validate().unwrap().limit, 50);
    }

    #[test]
    fn value_length_counts_some_characters_twice() {
        let at = |v: String| LookupRequest {
            attribute: Some((AttributeKey::ResourceName, v)),
            ..req()
        };
        assert!(at("a".repeat(2000)).validate().is_ok());
        assert!(at("a".repeat(2001)).validate().is_err());
        assert!(at("_".repeat(1000)).validate().is_ok());
        assert!(at(format!("{}a", "_".repeat(1000))).validate().is_err());
        assert!(at(String::new()).validate().is_err());
    }

    #[test]
    fn time_range_and_insight_keys() {
        let r = LookupRequest {
            start: Some(datetime!(2024-01-02 0:00 UTC)),
            end: Some(datetime!(2024-01-01 0:00 UTC)),
            ..req()
        };
        assert_eq!(
            r.validate().unwrap_err().code(),
            "InvalidTimeRangeException"
        );
        let same = LookupRequest {
            start: Some(datetime!(2024-01-01 0:00 UTC)),
            end: Some(datetime!(2024-01-01 0:00 UTC)),
            ..req()
        };
        assert!(same.validate().is_ok());
        let r = LookupRequest {
            category: Some(EventCategory::Insight),
            attribute: Some((AttributeKey::Username, "root".into())),
            ..req()
        };
        assert_eq!(
            r.validate().unwrap_err().code(),
            "InvalidLookupAttributesException"
        );
    }

    #[test]
    fn param_hash_covers_every_parameter_but_paging() {
        let base = req().validate().unwrap().param_hash;
        let variants = [
            LookupRequest {
                account: "x".into(),
                ..req()
            },
            LookupRequest {
                region: "x".into(),
                ..req()
            },
            LookupRequest {
                attribute: Some((AttributeKey::EventName, "x".into())),
                ..req()
            },
            LookupRequest {
                attribute: Some((AttributeKey::EventId, "x".into())),
                ..req()
            },
            LookupRequest {
                start: Some(datetime!(2024-01-01 0:00 UTC)),
                ..req()
            },
            LookupRequest {
                end: Some(datetime!(2024-01-01 0:00 UTC)),
                ..req()
            },
            LookupRequest {
                category: Some(EventCategory::Insight),
                ..req()
            },
        ];
        for v in variants {
            assert_ne!(v.validate().unwrap().param_hash, base, "{v:?}");
        }
        let paging = LookupRequest {
            max_results: Some(3),
            next_token: Some("t".into()),
            ..req()
        };
        assert_eq!(paging.validate().unwrap().param_hash, base);
    }

    #[test]
    fn start_rounds_up_end_rounds_down() {
        let r = LookupRequest {
            start: Some(datetime!(2024-01-01 0:00:00.0005 UTC)),
            end: Some(datetime!(2024-01-01 0:00:01.0009 UTC)),
            ..req()
        };
        let v = r.validate().unwrap();
        let base = to_ms(datetime!(2024-01-01 0:00 UTC));
        assert_eq!(v.start_ms, Some(base + 1));
        assert_eq!(v.end_ms, Some(base + 1000));
        assert_eq!(from_ms(base), datetime!(2024-01-01 0:00 UTC));
    }
}
