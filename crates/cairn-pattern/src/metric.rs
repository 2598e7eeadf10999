//! Metric filters: turning a matching event into a metric datum.
//!
//! A [`MetricTransformation`] is the `metricTransformations[0]` shape of
//! CloudWatch Logs `PutMetricFilter`. [`MetricTransformation::compile`]
//! validates it (spec `cloudtrail-api.md` §15, `selectors-and-filters.md` §5.6)
//! against the filter pattern it belongs to, and [`MetricExtractor::apply`]
//! evaluates one event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::ast::{Pattern, Segment};
use crate::error::Error;
use crate::{FilterPattern, PreparedEvent, parse, util};

/// Maximum length of `metricValue`.
pub const MAX_METRIC_VALUE_LEN: usize = 100;
/// Maximum number of dimensions.
pub const MAX_DIMENSIONS: usize = 3;
/// Maximum length of metric names and namespaces.
pub const MAX_METRIC_NAME_LEN: usize = 255;

/// `metricTransformations[0]` of `PutMetricFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTransformation {
    /// Metric name (1–255, no `:`, `*` or `$`).
    pub metric_name: String,
    /// Metric namespace (1–255, no `:`, `*` or `$`).
    pub metric_namespace: String,
    /// `"1"` (a number), `"$.path"` (JSON patterns) or `"$field"` (space-delimited).
    pub metric_value: String,
    /// Emitted for a period in which events arrived but none matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    /// Dimension name → `$.path` or `$field` (at most 3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// Where a metric value or dimension value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Constant(f64),
    Json(Vec<Segment>),
    Field(String),
}

/// A validated transformation bound to its filter pattern.
#[derive(Debug, Clone)]
pub struct MetricExtractor {
    value: Source,
    default_value: Option<f64>,
    dimensions: Vec<(String, Source)>,
}

/// Result of applying a metric filter to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricOutcome {
    /// The filter pattern does not match the event.
    NoMatch,
    /// The event matches and yields a datum.
    Datum(MetricDatum),
    /// The event matches but no datum can be produced.
    Skipped(SkipReason),
}

/// One metric observation produced by a matching event.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatum {
    /// The value added to the metric.
    pub value: f64,
    /// Resolved dimensions.
    pub dimensions: BTreeMap<String, String>,
    /// `extractedValues` as `TestMetricFilter` reports them (space-delimited
    /// patterns only; empty otherwise).
    pub extracted_values: BTreeMap<String, String>,
}

/// Why a matching event produced no datum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The metric value selector or field is absent.
    MissingValue,
    /// The metric value is present but not a number.
    NonNumericValue,
    /// A dimension selector or field is absent or not a scalar.
    MissingDimension(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidTransformation {
        field,
        reason: reason.into(),
    }
}

fn check_name(field: &'static str, v: &str) -> Result<(), Error> {
    let n = v.chars().count();
    if n == 0 || n > MAX_METRIC_NAME_LEN {
        return Err(invalid(
            field,
            format!("length {n} is outside 1..={MAX_METRIC_NAME_LEN}"),
        ));
    }
    if let Some(c) = v.chars().find(|c| matches!(c, ':' | '*' | '$')) {
        return Err(invalid(field, format!("character `{c}` is not allowed")));
    }
    Ok(())
}

fn source(
    field: &'static str,
    text: &str,
    pattern: &Pattern,
    allow_constant: bool,
) -> Result<Source, Error> {
    if let Some(rest) = text.strip_prefix('$') {
        if rest.starts_with('.') || rest.starts_with('[') {
            if !matches!(pattern, Pattern::Json(_)) {
                return Err(invalid(
                    field,
                    format!("`{text}` needs a JSON filter pattern"),
                ));
            }
            let sel = parse::parse_selector(text).map_err(|e| invalid(field, e.to_string()))?;
            return Ok(Source::Json(sel.segments));
        }
        let Pattern::Space(sp) = pattern else {
            return Err(invalid(
                field,
                format!("`{text}` needs a space-delimited filter pattern"),
            ));
        };
        let declared = sp
            .fields
            .iter()
            .any(|f| matches!(f, crate::ast::SpaceField::Field { name: Some(n), .. } if n == rest));
        let positional = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
        if !declared && !positional {
            return Err(invalid(
                field,
                format!("`{text}` is not a field of the filter pattern"),
            ));
        }
        return Ok(Source::Field(rest.to_string()));
    }
    if allow_constant && let Some(v) = util::parse_number(text.trim()) {
        return Ok(Source::Constant(v));
    }
    Err(invalid(
        field,
        format!("`{text}` is not a number, a `$.selector` or a `$field` reference"),
    ))
}

impl MetricTransformation {
    /// Validates the transformation for `pattern` and compiles its references.
    pub fn compile(&self, pattern: &FilterPattern) -> Result<MetricExtractor, Error> {
        check_name("metricName", &self.metric_name)?;
        check_name("metricNamespace", &self.metric_namespace)?;
        let len = self.metric_value.chars().count();
        if len == 0 || len > MAX_METRIC_VALUE_LEN {
            return Err(invalid(
                "metricValue",
                format!("length {len} is outside 1..={MAX_METRIC_VALUE_LEN}"),
            ));
        }
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(invalid(
                "dimensions",
                format!(
                    "{} dimensions; at most {MAX_DIMENSIONS} are allowed",
                    self.dimensions.len()
                ),
            ));
        }
        if !self.dimensions.is_empty() && self.default_value.is_some() {
            return Err(invalid(
                "defaultValue",
                "a default value cannot be combined with dimensions",
            ));
        }
        if let Some(d) = self.default_value
            && !d.is_finite()
        {
            return Err(invalid("defaultValue", "must be a finite number"));
        }
        let ast = pattern.ast();
        let value = source("metricValue", &self.metric_value, ast, true)?;
        let mut dimensions = Vec::with_capacity(self.dimensions.len());
        for (k, v) in &self.dimensions {
            if k.is_empty() || k.chars().count() > MAX_METRIC_NAME_LEN {
                return Err(invalid(
                    "dimensions",
                    format!("dimension name `{k}` must be 1–255 characters"),
                ));
            }
            dimensions.push((k.clone(), source("dimensions", v, ast, false)?));
        }
        Ok(MetricExtractor {
            value,
            default_value: self.default_value,
            dimensions,
        })
    }
}

fn walk<'v>(segs: &[Segment], mut v: &'v Json) -> Option<&'v Json> {
    for s in segs {
        v = match (s, v) {
            (Segment::Key(k), Json::Object(m)) => m.get(k)?,
            (Segment::Index(i), Json::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

impl MetricExtractor {
    /// The `defaultValue` to report for a period with events but no match.
    pub fn default_value(&self) -> Option<f64> {
        self.default_value
    }

    /// Applies the filter (`pattern` must be the one passed to
    /// [`MetricTransformation::compile`]) to one log message.
    pub fn apply(&self, pattern: &FilterPattern, message: &str) -> MetricOutcome {
        self.apply_prepared(pattern, &PreparedEvent::new(message))
    }

    /// Like [`MetricExtractor::apply`], reusing an already prepared event.
    pub fn apply_prepared(&self, pattern: &FilterPattern, ev: &PreparedEvent<'_>) -> MetricOutcome {
        if !pattern.matches_prepared(ev) {
            return MetricOutcome::NoMatch;
        }
        let extracted = pattern.extracted_values(ev.raw()).unwrap_or_default();
        let json = ev.json();
        let scalar = |src: &Source| -> Option<String> {
            match src {
                Source::Constant(v) => Some(v.to_string()),
                Source::Json(p) => match walk(p, json?)? {
                    Json::String(s) => Some(s.clone()),
                    Json::Number(n) => Some(n.to_string()),
                    Json::Bool(b) => Some(b.to_string()),
                    _ => None,
                },
                Source::Field(f) => pattern.field_value(ev.raw(), f).map(str::to_string),
            }
        };
        let value = match &self.value {
            Source::Constant(v) => *v,
            Source::Json(p) => match json.and_then(|j| walk(p, j)) {
                None => return MetricOutcome::Skipped(SkipReason::MissingValue),
                Some(Json::Number(n)) => match n.as_f64() {
                    Some(v) => v,
                    None => return MetricOutcome::Skipped(SkipReason::NonNumericValue),
                },
                Some(Json::String(s)) => match util::parse_number(s) {
                    Some(v) => v,
                    None => return MetricOutcome::Skipped(SkipReason::NonNumericValue),
                },
                Some(_) => return MetricOutcome::Skipped(SkipReason::NonNumericValue),
            },
            src @ Source::Field(_) => match scalar(src) {
                None => return MetricOutcome::Skipped(SkipReason::MissingValue),
                Some(s) => match util::parse_number(&s) {
                    Some(v) => v,
                    None => return MetricOutcome::Skipped(SkipReason::NonNumericValue),
                },
            },
        };
        let mut dimensions = BTreeMap::new();
        for (name, src) in &self.dimensions {
            match scalar(src) {
                Some(v) => {
                    dimensions.insert(name.clone(), v);
                }
                None => return MetricOutcome::Skipped(SkipReason::MissingDimension(name.clone())),
            }
        }
        MetricOutcome::Datum(MetricDatum {
            value,
            dimensions,
            extracted_values: extracted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(value: &str) -> MetricTransformation {
        MetricTransformation {
            metric_name: "m".into(),
            metric_namespace: "ns".into(),
            metric_value: value.into(),
            default_value: None,
            dimensions: BTreeMap::new(),
        }
    }

    #[test]
    fn validation_rules() {
        let json = FilterPattern::parse("{ $.latency = * }").unwrap();
        let space = FilterPattern::parse("[ip, server, bytes]").unwrap();
        assert!(t("1").compile(&json).is_ok());
        assert!(t("$.latency").compile(&json).is_ok());
        assert!(t("$.latency").compile(&space).is_err());
        assert!(t("$bytes").compile(&space).is_ok());
        assert!(t("$3").compile(&space).is_ok());
        assert!(t("$nope").compile(&space).is_err());
        assert!(t("$bytes").compile(&json).is_err());
        assert!(t("abc").compile(&json).is_err());
        assert!(t(&"1".repeat(101)).compile(&json).is_err());
        assert!(t("$.a[*]").compile(&json).is_err());
        let mut x = t("1");
        x.metric_name = "a:b".into();
        assert!(x.compile(&json).is_err());
        let mut x = t("1");
        x.default_value = Some(0.0);
        x.dimensions.insert("d".into(), "$.x".into());
        let e = x.compile(&json).unwrap_err();
        assert!(e.to_string().contains("defaultValue"), "{e}");
        let mut x = t("1");
        for i in 0..4 {
            x.dimensions.insert(format!("d{i}"), "$.x".into());
        }
        assert!(x.compile(&json).is_err());
    }

    #[test]
    fn extraction() {
        let p = FilterPattern::parse("{ $.latency = * }").unwrap();
        let ex = t("$.latency").compile(&p).unwrap();
        let MetricOutcome::Datum(d) = ex.apply(&p, r#"{"latency": 50, "requestType": "GET"}"#)
        else {
            panic!()
        };
        assert_eq!(d.value, 50.0);
        assert_eq!(ex.apply(&p, r#"{"x": 1}"#), MetricOutcome::NoMatch);
        assert_eq!(
            ex.apply(&p, r#"{"latency": "slow"}"#),
            MetricOutcome::Skipped(SkipReason::NonNumericValue)
        );
        let p = FilterPattern::parse("[ip, server, bytes > 1000]").unwrap();
        let mut tr = t("$bytes");
        tr.dimensions.insert("server".into(), "$server".into());
        let ex = tr.compile(&p).unwrap();
        let MetricOutcome::Datum(d) = ex.apply(&p, "1.2.3.4 Prod 1534") else {
            panic!()
        };
        assert_eq!(d.value, 1534.0);
        assert_eq!(d.dimensions["server"], "Prod");
        assert_eq!(d.extracted_values["$bytes"], "1534");
        assert_eq!(ex.apply(&p, "1.2.3.4 Prod 999"), MetricOutcome::NoMatch);
    }
}
