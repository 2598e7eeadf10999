//! Error types.

/// A filter pattern that could not be parsed.
///
/// `position` is the byte offset into the pattern text where the problem was
/// found; `Display` names both the position and what was expected, e.g.
/// `at position 13: expected a comparison operator, IS or NOT EXISTS after selector $.eventName`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {kind}")]
pub struct ParseError {
    /// Byte offset into the pattern text.
    pub position: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(position: usize, kind: ParseErrorKind) -> Self {
        ParseError { position, kind }
    }

    pub(crate) fn expected(position: usize, expected: &'static str) -> Self {
        Self::new(
            position,
            ParseErrorKind::Expected {
                expected,
                context: None,
            },
        )
    }

    pub(crate) fn expected_after(position: usize, expected: &'static str, after: String) -> Self {
        Self::new(
            position,
            ParseErrorKind::Expected {
                expected,
                context: Some(after),
            },
        )
    }
}

/// The class of a [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The pattern exceeds the 1024-character limit.
    #[error("pattern is {len} characters long; the maximum is 1024")]
    TooLong {
        /// Length in characters.
        len: usize,
    },
    /// A token was missing or unexpected.
    #[error("expected {expected}{}", context.as_ref().map(|c| format!(" after {c}")).unwrap_or_default())]
    Expected {
        /// What the parser wanted at this position.
        expected: &'static str,
        /// What it had just read (e.g. "selector `$.eventName`").
        context: Option<String>,
    },
    /// A `"` string was not closed.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// A `%` regex was not closed.
    #[error("unterminated regex: expected a closing `%`")]
    UnterminatedRegex,
    /// `%%`.
    #[error("empty regex")]
    EmptyRegex,
    /// `(` or `)` in a regex.
    #[error(
        "regex grouping with `{ch}` is not supported (CloudWatch regex has no parentheses; use \\x28 / \\x29 for literal parentheses)"
    )]
    RegexGrouping {
        /// The offending character.
        ch: char,
    },
    /// A symbol CloudWatch regex does not allow.
    #[error(
        "symbol `{ch}` is not allowed in a CloudWatch regex (allowed symbols: _ # = @ / ; , - : and the operators ^ $ ? [ ] {{ }} | \\ * + .; write others as \\xhh)"
    )]
    RegexSymbol {
        /// The offending character.
        ch: char,
    },
    /// A non-ASCII character in a regex.
    #[error("multi-byte character `{ch}` is not supported in a CloudWatch regex")]
    RegexMultiByte {
        /// The offending character.
        ch: char,
    },
    /// `\` followed by something other than a supported escape.
    #[error(
        "unsupported regex escape `\\{ch}` (supported: \\d \\D \\s \\S \\w \\W \\xhh and escaped operators/symbols)"
    )]
    RegexEscape {
        /// The character after the backslash.
        ch: char,
    },
    /// The regex engine rejected the expression (bad repetition, class, size...).
    #[error("invalid regex: {detail}")]
    InvalidRegex {
        /// Engine message.
        detail: String,
    },
    /// More regexes than CloudWatch allows in one pattern.
    #[error("too many regexes: {count} (at most 2 in a JSON or space-delimited pattern)")]
    TooManyRegexes {
        /// How many were found.
        count: usize,
    },
    /// More selector wildcards than allowed.
    #[error("too many wildcards: at most {limit} per {scope}")]
    TooManyWildcards {
        /// "selector" or "pattern".
        scope: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Two fields of a space-delimited pattern share a name.
    #[error("duplicate field name `{name}`")]
    DuplicateField {
        /// The repeated name.
        name: String,
    },
    /// `<`, `>`, `<=`, `>=` need a numeric right-hand side.
    #[error("expected a number after `{op}` (relational operators compare numbers only)")]
    NumberRequired {
        /// The operator.
        op: &'static str,
    },
}

/// Classes callers can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller supplied an invalid pattern, transformation or alarm (HTTP 400).
    InvalidParameter,
}

/// The crate's error type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The filter pattern does not parse.
    #[error("invalid filter pattern: {0}")]
    InvalidPattern(#[from] ParseError),
    /// A metric transformation breaks a documented rule.
    #[error("invalid metric transformation: {field}: {reason}")]
    InvalidTransformation {
        /// The offending field (`metricValue`, `dimensions`, ...).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An alarm definition breaks a documented rule.
    #[error("invalid alarm: {field}: {reason}")]
    InvalidAlarm {
        /// The offending field (`Period`, `DatapointsToAlarm`, ...).
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidPattern(_)
            | Error::InvalidTransformation { .. }
            | Error::InvalidAlarm { .. } => ErrorClass::InvalidParameter,
        }
    }
}
