//! The crate's one error type.

use std::fmt;

/// What a caller can branch on: the AWS error code a [`PolicyError`] maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The document is not a valid policy (`MalformedPolicyDocument`, HTTP 400).
    MalformedPolicyDocument,
    /// The document is over a size quota (`LimitExceeded`, HTTP 409).
    LimitExceeded,
}

impl ErrorClass {
    /// The AWS error code of this class.
    pub fn aws_code(self) -> &'static str {
        match self {
            Self::MalformedPolicyDocument => "MalformedPolicyDocument",
            Self::LimitExceeded => "LimitExceeded",
        }
    }
}

/// Where in a document a problem is: statement index (0-based), its `Sid`
/// when it has one, and the element name (`Action`, `Condition`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 0-based index of the statement, `None` for top-level elements.
    pub statement: Option<usize>,
    /// The statement's `Sid`, when present and already read.
    pub sid: Option<String>,
    /// The element (`Version`, `Statement`, `Action`, `Condition.StringEquals`, ...).
    pub element: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.statement, &self.sid) {
            (Some(i), Some(sid)) => {
                write!(f, "statement {i} (sid \"{sid}\"), element {}", self.element)
            }
            (Some(i), None) => write!(f, "statement {i}, element {}", self.element),
            (None, _) => write!(f, "element {}", self.element),
        }
    }
}

/// Every way parsing or validating a policy can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON.
    #[error("policy document is not valid json: {message}")]
    Json {
        /// serde_json's description, with line and column.
        message: String,
    },
    /// The JSON is not a valid policy.
    #[error("{location}: {problem}")]
    Malformed {
        /// Where the problem is.
        location: Location,
        /// What is wrong, in lowercase.
        problem: String,
    },
    /// The document is over a size quota (counted without white space, as IAM does).
    #[error("policy document is {actual} characters, over the limit of {limit}")]
    TooLarge {
        /// The quota applied, in characters.
        limit: usize,
        /// The document's size without white space.
        actual: usize,
    },
}

impl PolicyError {
    /// The class (and so the AWS error code) of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Json { .. } | Self::Malformed { .. } => ErrorClass::MalformedPolicyDocument,
            Self::TooLarge { .. } => ErrorClass::LimitExceeded,
        }
    }

    pub(crate) fn at(location: &Location, problem: impl Into<String>) -> Self {
        Self::Malformed {
            location: location.clone(),
            problem: problem.into(),
        }
    }
}
