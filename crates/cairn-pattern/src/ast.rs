//! The parsed form of a filter pattern.
//!
//! [`crate::FilterPattern`] keeps this tree next to its compiled matcher; the
//! [`crate::naive`] interpreter evaluates it directly and serves as the oracle
//! in property tests.

/// A parsed filter pattern, one variant per pattern kind (spec §5.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Empty pattern (or one made only of blank phrases): matches every event.
    All,
    /// Unstructured terms: `ERROR -WARN "exact phrase" ?OR`.
    Terms(Vec<Term>),
    /// Whole-pattern regex `%...%`.
    Regex(RegexLit),
    /// JSON pattern `{ ... }`.
    Json(JsonExpr),
    /// Space-delimited pattern `[a, b=..., ...]`.
    Space(SpacePattern),
}

/// One unstructured term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Plain (must occur), `-` (must not occur) or `?` (any-of).
    pub kind: TermKind,
    /// The literal text searched for (quotes removed, escapes resolved).
    pub text: String,
}

/// How a term takes part in the match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Plain term: the message must contain it.
    Required,
    /// `-term`: the message must not contain it.
    Excluded,
    /// `?term`: at least one `?` term must occur; ignored when mixed with other terms.
    Optional,
}

/// A CloudWatch regex, as written between the `%` delimiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexLit {
    /// The CloudWatch regex source (without the `%` delimiters).
    pub source: String,
    /// The equivalent `regex` crate source (escaped symbols rewritten as `\xHH`).
    pub translated: String,
}

/// A JSON pattern expression (`&&` binds tighter than `||`).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpr {
    /// Any operand true.
    Or(Vec<JsonExpr>),
    /// All operands true.
    And(Vec<JsonExpr>),
    /// One `selector test` condition.
    Cond(JsonCond),
}

/// `selector op value`, `selector IS NULL|TRUE|FALSE` or `selector NOT EXISTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCond {
    /// Where to look in the event.
    pub selector: Selector,
    /// What to check there.
    pub test: Test,
}

/// A property selector such as `$.a.b[0]`, `$.a[*].c` or `$.['k.with.dots']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The selector as written in the pattern.
    pub text: String,
    /// The path, root first.
    pub segments: Vec<Segment>,
}

impl Selector {
    /// Whether the path contains a `*` / `[*]` wildcard segment.
    pub fn has_wildcard(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Wildcard))
    }
}

/// One step of a selector path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Object member by name.
    Key(String),
    /// Zero-based array element.
    Index(usize),
    /// `[*]` or `.*`: every element of an array or every member of an object.
    Wildcard,
}

/// The check applied to the node(s) a selector resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `op value`.
    Compare(CmpOp, Value),
    /// `IS NULL`: the node exists and is JSON null.
    IsNull,
    /// `IS TRUE`: the node is the JSON boolean `true`.
    IsTrue,
    /// `IS FALSE`: the node is the JSON boolean `false`.
    IsFalse,
    /// `NOT EXISTS`: the selector resolves to nothing.
    NotExists,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Whether `x <op> v` holds (IEEE comparisons: NaN holds only for `!=`).
    #[inline]
    pub(crate) fn holds(self, x: f64, v: f64) -> bool {
        match self {
            CmpOp::Eq => x == v,
            CmpOp::Ne => x != v,
            CmpOp::Lt => x < v,
            CmpOp::Gt => x > v,
            CmpOp::Le => x <= v,
            CmpOp::Ge => x >= v,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether this is one of `<`, `>`, `<=`, `>=` (numbers only).
    pub fn is_relational(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Gt | CmpOp::Le | CmpOp::Ge)
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A bare token that is a number (`400`, `-1.5`, `1e-3`, `+1000`).
    Number {
        /// Parsed value.
        value: f64,
        /// The token as written (used for string comparison against string nodes).
        text: String,
    },
    /// A quoted string or a non-numeric bare token. A `*` at the start and/or
    /// end is a wildcard; `*` alone matches any present string or number.
    Str(String),
    /// `%regex%`: unanchored search.
    Regex(RegexLit),
}

/// A space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct SpacePattern {
    /// The declared fields, in order.
    pub fields: Vec<SpaceField>,
}

/// One entry between the commas of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum SpaceField {
    /// `...`: any number (including zero) of unnamed fields.
    Ellipsis,
    /// Exactly one event field, optionally named and constrained.
    Field {
        /// The field name (`None` for an empty entry such as a trailing comma).
        name: Option<String>,
        /// Condition attached to this entry.
        cond: Option<SpaceExpr>,
    },
}

/// A condition inside a space-delimited field (`&&` binds tighter than `||`).
#[derive(Debug, Clone, PartialEq)]
pub enum SpaceExpr {
    /// Any operand true.
    Or(Vec<SpaceExpr>),
    /// All operands true.
    And(Vec<SpaceExpr>),
    /// `name op value`.
    Cond {
        /// Index into [`SpacePattern::fields`] of the field the name refers to.
        field: usize,
        /// The name as written.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side.
        value: Value,
    },
}
