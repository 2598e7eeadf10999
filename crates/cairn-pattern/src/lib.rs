//! CloudWatch Logs filter patterns, metric extraction and alarm evaluation.
//!
//! This crate implements the filter-pattern language CloudWatch Logs uses for
//! metric filters, subscription filters and `FilterLogEvents` (spec
//! `selectors-and-filters.md` §5–§6), so that CIS / Security Hub metric filters
//! such as
//! `{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}`
//! run unchanged against CloudTrail records.
//!
//! * [`FilterPattern::parse`] accepts every pattern kind: empty (matches all),
//!   unstructured terms, whole-pattern `%regex%`, JSON `{ ... }` and
//!   space-delimited `[ ... ]`. Errors carry the byte position and what was
//!   expected.
//! * Parsing compiles the pattern once; [`FilterPattern::matches`] and
//!   [`FilterPattern::matches_prepared`] then do no parsing of the pattern. Use a
//!   [`PreparedEvent`] to parse a JSON message once and test many patterns.
//! * [`naive`] is a straightforward interpreter over the [`ast`], used as the
//!   oracle in property tests and as the benchmark baseline.
//! * [`metric`] validates `metricTransformations` and turns matching events into
//!   metric data; [`alarm`] computes CloudWatch alarm state (M out of N,
//!   `TreatMissingData`) with an injected clock.
//!
//! # Guarantees
//!
//! * Pure: no I/O, no clock, no global state; `FilterPattern` is `Send + Sync`.
//! * Never panics on any input (pattern text or message); the parser is fuzzed.
//! * Pattern text is limited to 1024 characters; regexes are size-limited, and
//!   space-delimited ellipsis search is bounded, so matching time is bounded.
//! * Case-sensitive everywhere, as CloudWatch is (keywords `IS`, `NULL`,
//!   `TRUE`, `FALSE`, `NOT`, `EXISTS` are accepted in any case).
//!
//! # Semantics chosen where the documentation is silent
//!
//! * Unstructured terms match as substrings (`ERROR` matches `ERRORCODE`).
//! * A comparison on a missing field is false, `!=` included; a selector that
//!   reaches an object, array, boolean or null never satisfies a comparison.
//! * Numbers compare numerically only when the JSON node is a number; a number
//!   literal compared with a JSON string compares the text as written.
//! * `*` is a wildcard only at the start and/or end of a value (`Ev*ent`
//!   matches only the literal text `Ev*ent`, as the 2021 guide states).
//!
//! # Example
//!
//! ```
//! use cairn_pattern::{FilterPattern, PreparedEvent};
//!
//! let root = FilterPattern::parse(
//!     r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
//! )?;
//! let record = r#"{"eventType":"AwsApiCall","userIdentity":{"type":"Root"}}"#;
//! assert!(root.matches(record));
//!
//! // Parse the JSON once, evaluate many patterns.
//! let unauthorized = FilterPattern::parse(r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#)?;
//! let ev = PreparedEvent::new(record);
//! assert!(root.matches_prepared(&ev) && !unauthorized.matches_prepared(&ev));
//!
//! let err = FilterPattern::parse("{ $.eventName ~ x }").unwrap_err();
//! assert_eq!(err.position, 14);
//! # Ok::<(), cairn_pattern::ParseError>(())
//! ```

pub mod alarm;
pub mod ast;
pub mod cis;
mod compiled;
mod error;
pub mod metric;
pub mod naive;
mod parse;
mod util;

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value as Json;

pub use error::{Error, ErrorClass, ParseError, ParseErrorKind};
pub use metric::{MetricDatum, MetricExtractor, MetricOutcome, MetricTransformation, SkipReason};
pub use parse::{
    MAX_PATTERN_LEN, MAX_REGEXES, MAX_WILDCARDS_PER_PATTERN, MAX_WILDCARDS_PER_SELECTOR,
};

use compiled::Matcher;

/// The kind of a pattern, decided by its first non-blank character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    /// Empty pattern: matches every event.
    All,
    /// Unstructured terms.
    Terms,
    /// Whole-pattern regex.
    Regex,
    /// JSON pattern.
    Json,
    /// Space-delimited pattern.
    SpaceDelimited,
}

/// A parsed and compiled filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    source: String,
    ast: ast::Pattern,
    matcher: Matcher,
}

impl FilterPattern {
    /// Parses and compiles `pattern`.
    pub fn parse(pattern: &str) -> Result<Self, ParseError> {
        let ast = parse::parse(pattern)?;
        let matcher = Matcher::compile(&ast)?;
        Ok(FilterPattern {
            source: pattern.to_string(),
            ast,
            matcher,
        })
    }

    /// The pattern text as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The syntax tree.
    pub fn ast(&self) -> &ast::Pattern {
        &self.ast
    }

    /// The pattern kind.
    pub fn kind(&self) -> PatternKind {
        match self.ast {
            ast::Pattern::All => PatternKind::All,
            ast::Pattern::Terms(_) => PatternKind::Terms,
            ast::Pattern::Regex(_) => PatternKind::Regex,
            ast::Pattern::Json(_) => PatternKind::Json,
            ast::Pattern::Space(_) => PatternKind::SpaceDelimited,
        }
    }

    /// Whether the pattern matches a log event message. JSON patterns parse the
    /// message (non-JSON messages never match); to test several patterns
    /// against one message, use [`PreparedEvent`].
    pub fn matches(&self, message: &str) -> bool {
        match &self.matcher {
            Matcher::Json(_) => self.matches_prepared(&PreparedEvent::new(message)),
            _ => self.matches_text(message),
        }
    }

    /// Whether the pattern matches an event whose message `raw` has already
    /// been parsed into `event` (only JSON patterns look at `event`).
    pub fn matches_json(&self, event: &Json, raw: &str) -> bool {
        match &self.matcher {
            Matcher::Json(n) => n.eval(event),
            _ => self.matches_text(raw),
        }
    }

    /// Whether the pattern matches a prepared event (JSON parsed at most once,
    /// and only if some JSON pattern asks for it).
    pub fn matches_prepared(&self, event: &PreparedEvent<'_>) -> bool {
        match &self.matcher {
            Matcher::Json(n) => event.json().is_some_and(|v| n.eval(v)),
            _ => self.matches_text(event.raw()),
        }
    }

    fn matches_text(&self, msg: &str) -> bool {
        match &self.matcher {
            Matcher::All => true,
            Matcher::Terms(t) => t.matches(msg),
            Matcher::Regex(r) => r.is_match(msg.as_bytes()),
            Matcher::Space(s) => s.matches(msg),
            Matcher::Json(_) => false,
        }
    }

    /// What `TestMetricFilter` reports for `message`: `None` if the pattern
    /// does not match, otherwise the `extractedValues` (`{"$status_code":"404"}`
    /// for space-delimited patterns; empty for the other kinds).
    pub fn extracted_values(&self, message: &str) -> Option<BTreeMap<String, String>> {
        match &self.matcher {
            Matcher::Space(s) => s.extract(message),
            _ => self.matches(message).then(BTreeMap::new),
        }
    }

    /// For a space-delimited pattern that matches `message`, the text of the
    /// field called `name` (or at 1-based position `name`, e.g. `"7"`).
    pub fn field_value<'m>(&self, message: &'m str, name: &str) -> Option<&'m str> {
        match &self.matcher {
            Matcher::Space(s) => s.field_value(message, name).flatten(),
            _ => None,
        }
    }
}

impl FromStr for FilterPattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        FilterPattern::parse(s)
    }
}

impl fmt::Display for FilterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A log message whose JSON form is parsed lazily, at most once, so many
/// patterns can be evaluated against it (e.g. the 14 CIS filters per record).
#[derive(Debug)]
pub struct PreparedEvent<'a> {
    raw: &'a str,
    json: OnceCell<Option<Json>>,
}

impl<'a> PreparedEvent<'a> {
    /// Wraps a raw message; JSON is parsed on first use by a JSON pattern.
    pub fn new(raw: &'a str) -> Self {
        PreparedEvent {
            raw,
            json: OnceCell::new(),
        }
    }

    /// Wraps a message whose JSON form the caller already has.
    pub fn with_json(raw: &'a str, json: Json) -> Self {
        let cell = OnceCell::new();
        let _ = cell.set(Some(json));
        PreparedEvent { raw, json: cell }
    }

    /// The raw message.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The message parsed as JSON, or `None` if it is not JSON.
    pub fn json(&self) -> Option<&Json> {
        self.json
            .get_or_init(|| {
                let t = self.raw.trim_start();
                if t.starts_with('{') || t.starts_with('[') {
                    serde_json::from_str(self.raw).ok()
                } else {
                    None
                }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        let fp = FilterPattern::parse(p).unwrap();
        let compiled = fp.matches(msg);
        assert_eq!(
            compiled,
            naive::matches(fp.ast(), msg),
            "naive disagrees: {p} on {msg}"
        );
        compiled
    }

    #[test]
    fn worked_evaluation_5_7() {
        let a = r#"{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","userIdentity":{"type":"IAMUser"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventType":"AwsConsoleSignIn"}"#;
        let b = r#"{"eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com","errorCode":"Client.UnauthorizedOperation","userIdentity":{"type":"Root"},"eventType":"AwsApiCall","readOnly":true}"#;
        let rows = [
            (
                r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
                true,
                false,
            ),
            (
                r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
                false,
                true,
            ),
            (
                r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
                false,
                true,
            ),
            ("{ $.readOnly IS TRUE }", false, true),
            ("{ $.eventSource = ec2.* }", false, true),
        ];
        for (p, ea, eb) in rows {
            assert_eq!(m(p, a), ea, "{p} on A");
            assert_eq!(m(p, b), eb, "{p} on B");
        }
    }

    #[test]
    fn cis_precedence_variant_of_section_6() {
        // A || (B && C && D): exclusions apply to AccessDenied* only.
        let p = r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#;
        let unauth_headbucket = r#"{"errorCode":"Client.UnauthorizedOperation","eventName":"HeadBucket","sourceIPAddress":"delivery.logs.amazonaws.com"}"#;
        let denied_headbucket =
            r#"{"errorCode":"AccessDenied","eventName":"HeadBucket","sourceIPAddress":"1.2.3.4"}"#;
        let denied_other =
            r#"{"errorCode":"AccessDenied","eventName":"GetObject","sourceIPAddress":"1.2.3.4"}"#;
        assert!(m(p, unauth_headbucket));
        assert!(!m(p, denied_headbucket));
        assert!(m(p, denied_other));
        // The older `||`-only variant matches nearly everything.
        let loose = r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") || ($.sourceIPAddress!="delivery.logs.amazonaws.com") || ($.eventName!="HeadBucket") }"#;
        assert!(m(
            loose,
            r#"{"eventName":"ListBuckets","sourceIPAddress":"1.2.3.4"}"#
        ));
    }

    #[test]
    fn comparison_semantics() {
        assert!(!m("{ $.missing != 1 }", r#"{"a":1}"#));
        assert!(!m("{ $.missing != \"x\" }", r#"{"a":1}"#));
        assert!(!m("{ $.o = * }", r#"{"o":{"a":1}}"#));
        assert!(!m("{ $.o != 1 }", r#"{"o":[1]}"#));
        assert!(m("{ $.n = 1e3 }", r#"{"n":1000}"#));
        assert!(m("{ $.n > +999.5 }", r#"{"n":1000}"#));
        assert!(!m("{ $.n > 5 }", r#"{"n":"1000"}"#));
        assert!(m("{ $.v = 1.08 }", r#"{"v":"1.08"}"#));
        assert!(!m("{ $.v = 1.080 }", r#"{"v":"1.08"}"#));
        assert!(m("{ $.n = 4* }", r#"{"n":404}"#));
        assert!(m("{ $.b IS FALSE }", r#"{"b":false}"#));
        assert!(!m("{ $.b IS FALSE }", r#"{"b":"false"}"#));
        assert!(!m("{ $.b = true }", r#"{"b":true}"#));
        assert!(m("{ $.s = \"true\" }", r#"{"s":"true"}"#));
        assert!(m("{ $.a[*].id = 2 }", r#"{"a":[{"id":1},{"id":2}]}"#));
        assert!(m("{ $.a[*].id != 1 }", r#"{"a":[{"id":1},{"id":2}]}"#));
        assert!(m("{ $.a.* = x }", r#"{"a":{"p":"y","q":"x"}}"#));
        assert!(m("{ $.a[*] NOT EXISTS }", r#"{"a":[]}"#));
        assert!(m(
            "{ $.['cluster.name'] = prod }",
            r#"{"cluster.name":"prod"}"#
        ));
        assert!(m(
            "{ $.eventType = %Trail% }",
            r#"{"eventType":"UpdateTrail"}"#
        ));
        assert!(!m(
            "{ $.eventType != %Trail% }",
            r#"{"eventType":"UpdateTrail"}"#
        ));
        assert!(!m("{ $.a = 1 }", "not json"));
        assert!(m("{ $[1] = 2 }", "[1,2]"));
    }

    #[test]
    fn text_and_regex() {
        assert!(m("?ERROR ?WARN REQUEST", "REQUEST ok"));
        assert!(!m("?ERROR ?WARN REQUEST", "ERROR only"));
        assert!(m("-WARN", "ERROR"));
        assert!(!m("-WARN", "WARN"));
        assert!(m("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(m("%^\\[ERROR%", "[ERROR 401] x"));
        assert!(!m("%^ERROR%", "[ERROR 401] x"));
        assert!(m(
            "%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%",
            "from 10.0.0.1 ok"
        ));
        assert!(m("%[Ee]rror|[Ff]ail%", "it failed"));
        assert!(m("", "anything"));
    }

    #[test]
    fn space_delimited() {
        let line = "127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534";
        assert!(m(
            "[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]",
            line
        ));
        assert!(m("[..., request =*.html*, status_code = 4*, bytes]", line));
        assert!(m("[ip, user, ..., status_code, bytes]", line));
        assert!(m("[ip=%127\\.0\\.0\\.[1-9]%, ...]", line));
        assert!(!m(
            "[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes < 1000]",
            line
        ));
        assert!(m(
            "[ip, user, username, timestamp, request, status_code = 403 || status_code = 404, bytes]",
            line
        ));
        assert!(!m("[ip, user]", line));
        assert!(m("[a, ..., b=404, ..., c]", line));
        let fp = FilterPattern::parse("[..., request=*.html*, status_code=4*,]").unwrap();
        let ex = fp.extracted_values(line).unwrap();
        assert_eq!(ex["$status_code"], "404");
        assert_eq!(ex["$7"], "1534");
        assert_eq!(ex["$1"], "127.0.0.1");
        assert_eq!(naive::extract(fp.ast(), line).unwrap(), ex);
        assert_eq!(
            fp.field_value(line, "request"),
            Some("GET /index.html HTTP/1.0")
        );
        assert_eq!(fp.field_value(line, "2"), Some("Prod"));
    }

    #[test]
    fn prepared_and_json_entry_points_agree() {
        let fp = FilterPattern::parse("{ $.a = 1 }").unwrap();
        let raw = r#"{"a":1}"#;
        let v: Json = serde_json::from_str(raw).unwrap();
        assert!(fp.matches_json(&v, raw));
        assert!(fp.matches_prepared(&PreparedEvent::with_json(raw, v)));
        assert!(fp.matches_prepared(&PreparedEvent::new(raw)));
        let text = FilterPattern::parse("a").unwrap();
        assert!(text.matches_json(&Json::Null, raw));
        assert_eq!("x".parse::<FilterPattern>().unwrap().to_string(), "x");
        assert_eq!(
            FilterPattern::parse("{ $.a = 1 }").unwrap().kind(),
            PatternKind::Json
        );
    }
}
