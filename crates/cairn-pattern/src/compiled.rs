//! The compiled matcher: the AST lowered once into a form that evaluates with
//! no parsing and (for JSON patterns on string fields) no allocation.
//!
//! Lowering steps: selector paths become boxed segment slices; string values
//! become a [`Glob`] (exact / prefix / suffix / substring finder / any);
//! regexes are compiled; unstructured terms get a `memmem` finder each; nested
//! `&&`/`||` are flattened; and inside an `||`, equality tests of one selector
//! against plain strings (`$.eventName=A || $.eventName=B || ...`, as in the
//! CIS patterns) are merged into one sorted set probed with a single path walk.

use std::collections::BTreeMap;

use memchr::memmem::Finder;
use regex::bytes::Regex;
use serde_json::Value as Json;

use crate::ast::{self, CmpOp, JsonExpr, Pattern, Segment, SpaceExpr, SpaceField, TermKind, Test};
use crate::error::ParseError;
use crate::util;

/// Upper bound on the ellipsis bindings tried for one event; beyond it the
/// event does not match (keeps `[..., a, ..., b, ..., c]` linear-ish).
pub(crate) const MAX_BINDINGS: usize = 100_000;

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    All,
    Terms(Terms),
    Regex(Regex),
    Json(JNode),
    Space(SpaceMatcher),
}

impl Matcher {
    pub(crate) fn compile(p: &Pattern) -> Result<Matcher, ParseError> {
        Ok(match p {
            Pattern::All => Matcher::All,
            Pattern::Terms(t) => Matcher::Terms(Terms::compile(t)),
            Pattern::Regex(r) => Matcher::Regex(regex(r)?),
            Pattern::Json(e) => Matcher::Json(JNode::compile(e)?),
            Pattern::Space(s) => Matcher::Space(SpaceMatcher::compile(s)?),
        })
    }
}

fn regex(r: &ast::RegexLit) -> Result<Regex, ParseError> {
    util::compile_regex(&r.translated, 0)
}

// ------------------------------------------------------------------ terms

#[derive(Debug, Clone)]
pub(crate) struct Terms {
    required: Vec<Finder<'static>>,
    excluded: Vec<Finder<'static>>,
    optional: Vec<Finder<'static>>,
}

impl Terms {
    fn compile(t: &[ast::Term]) -> Terms {
        let f = |k: TermKind| -> Vec<Finder<'static>> {
            t.iter()
                .filter(|x| x.kind == k)
                .map(|x| Finder::new(x.text.as_bytes()).into_owned())
                .collect()
        };
        Terms {
            required: f(TermKind::Required),
            excluded: f(TermKind::Excluded),
            optional: f(TermKind::Optional),
        }
    }

    pub(crate) fn matches(&self, msg: &str) -> bool {
        let h = msg.as_bytes();
        if self.required.is_empty() && self.excluded.is_empty() {
            return self.optional.iter().any(|f| f.find(h).is_some());
        }
        // `?` terms mixed with plain or excluded terms are ignored (spec §5.2).
        self.required.iter().all(|f| f.find(h).is_some())
            && self.excluded.iter().all(|f| f.find(h).is_none())
    }
}

// ------------------------------------------------------------------ values

/// A string value with CloudWatch's wildcard rule: `*` is a wildcard only at
/// the start and/or end; elsewhere it is a literal character.
#[derive(Debug, Clone)]
pub(crate) enum Glob {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<Finder<'static>>),
}

impl Glob {
    pub(crate) fn new(s: &str) -> Glob {
        let lead = s.starts_with('*');
        let trail = s.ends_with('*');
        let inner = s.trim_start_matches('*').trim_end_matches('*');
        match (lead, trail) {
            _ if inner.is_empty() && (lead || trail) => Glob::Any,
            (true, true) => Glob::Contains(Box::new(Finder::new(inner.as_bytes()).into_owned())),
            (true, false) => Glob::Suffix(inner.into()),
            (false, true) => Glob::Prefix(inner.into()),
            (false, false) => Glob::Exact(s.into()),
        }
    }

    #[inline]
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => **e == *s,
            Glob::Prefix(p) => s.starts_with(&**p),
            Glob::Suffix(p) => s.ends_with(&**p),
            Glob::Contains(f) => f.find(s.as_bytes()).is_some(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CVal {
    Num { v: f64, text: Box<str> },
    Glob(Glob),
    Regex(Regex),
}

impl CVal {
    fn compile(v: &ast::Value) -> Result<CVal, ParseError> {
        Ok(match v {
            ast::Value::Number { value, text } => CVal::Num {
                v: *value,
                text: text.as_str().into(),
            },
            ast::Value::Str(s) => CVal::Glob(Glob::new(s)),
            ast::Value::Regex(r) => CVal::Regex(regex(r)?),
        })
    }

    /// Compares against text (a JSON string node or a space-delimited field).
    /// `numeric_text`: whether a numeric-looking text is compared numerically
    /// against a number literal (space-delimited fields), or as a string (JSON
    /// string nodes: numeric comparison needs a JSON number).
    #[inline]
    fn cmp_text(&self, op: CmpOp, s: &str, numeric_text: bool) -> bool {
        let hit = match self {
            CVal::Num { v, text } => {
                if numeric_text && let Some(x) = util::parse_number(s) {
                    return op.holds(x, *v);
                }
                if op.is_relational() {
                    return false;
                }
                **text == *s
            }
            CVal::Glob(g) => g.matches(s),
            CVal::Regex(r) => r.is_match(s.as_bytes()),
        };
        match op {
            CmpOp::Eq => hit,
            CmpOp::Ne => !hit,
            _ => false,
        }
    }

    #[inline]
    fn cmp_json(&self, op: CmpOp, node: &Json) -> bool {
        match node {
            Json::String(s) => self.cmp_text(op, s, false),
            Json::Number(n) => match self {
                CVal::Num { v, .. } => n.as_f64().is_some_and(|x| op.holds(x, *v)),
                _ => {
                    let mut buf = String::new();
                    let t = util::number_text(n, &mut buf);
                    self.cmp_text(op, t, false)
                }
            },
            // Objects, arrays, booleans and null never satisfy a comparison.
            _ => false,
        }
    }
}

// ------------------------------------------------------------------ JSON

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CSeg {
    Key(Box<str>),
    Index(usize),
    Wild,
}

#[derive(Debug, Clone)]
pub(crate) enum CTest {
    Cmp(CmpOp, CVal),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

#[derive(Debug, Clone)]
pub(crate) enum JNode {
    Or(Box<[JNode]>),
    And(Box<[JNode]>),
    Leaf {
        path: Box<[CSeg]>,
        test: CTest,
    },
    /// `path = s1 || path = s2 || ...` with plain strings; sorted for binary search.
    InSet {
        path: Box<[CSeg]>,
        set: Box<[Box<str>]>,
    },
}

fn path(sel: &ast::Selector) -> Box<[CSeg]> {
    sel.segments
        .iter()
        .map(|s| match s {
            Segment::Key(k) => CSeg::Key(k.as_str().into()),
            Segment::Index(i) => CSeg::Index(*i),
            Segment::Wildcard => CSeg::Wild,
        })
        .collect()
}

impl JNode {
    /// Compiles each of `v`, splicing in the children of the nodes `open` opens (those of
    /// the same operator as the parent: `a && (b && c)` is `a && b && c`).
    fn compile_flat(
        v: &[JsonExpr],
        open: impl Fn(JNode) -> Result<Box<[JNode]>, JNode>,
    ) -> Result<Vec<JNode>, ParseError> {
        let mut out = Vec::with_capacity(v.len());
        for x in v {
            match open(JNode::compile(x)?) {
                Ok(inner) => out.extend(inner.into_vec()),
                Err(n) => out.push(n),
            }
        }
        Ok(out)
    }

    fn compile(e: &JsonExpr) -> Result<JNode, ParseError> {
        Ok(match e {
            JsonExpr::Cond(c) => {
                let test = match &c.test {
                    Test::Compare(op, v) => CTest::Cmp(*op, CVal::compile(v)?),
                    Test::IsNull => CTest::IsNull,
                    Test::IsTrue => CTest::IsTrue,
                    Test::IsFalse => CTest::IsFalse,
                    Test::NotExists => CTest::NotExists,
                };
                JNode::Leaf {
                    path: path(&c.selector),
                    test,
                }
            }
            JsonExpr::And(v) => JNode::And(
                JNode::compile_flat(v, |n| match n {
                    JNode::And(inner) => Ok(inner),
                    n => Err(n),
                })?
                .into(),
            ),
            JsonExpr::Or(v) => {
                let flat = JNode::compile_flat(v, |n| match n {
                    JNode::Or(inner) => Ok(inner),
                    n => Err(n),
                })?;
                JNode::Or(merge_eq_sets(flat).into())
            }
        })
    }

    #[inline]
    pub(crate) fn eval(&self, v: &Json) -> bool {
        match self {
            JNode::Or(items) => items.iter().any(|n| n.eval(v)),
            JNode::And(items) => items.iter().all(|n| n.eval(v)),
            JNode::Leaf { path, test } => match test {
                CTest::NotExists => !any_node(path, v, &mut |_| true),
                CTest::IsNull => any_node(path, v, &mut |n| n.is_null()),
                CTest::IsTrue => any_node(path, v, &mut |n| matches!(n, Json::Bool(true))),
                CTest::IsFalse => any_node(path, v, &mut |n| matches!(n, Json::Bool(false))),
                CTest::Cmp(op, val) => any_node(path, v, &mut |n| val.cmp_json(*op, n)),
            },
            JNode::InSet { path, set } => any_node(path, v, &mut |n| match n {
                Json::String(s) => set.binary_search_by(|e| (**e).cmp(s.as_str())).is_ok(),
                Json::Number(num) => {
                    let mut buf = String::new();
                    let t = util::number_text(num, &mut buf);
                    set.binary_search_by(|e| (**e).cmp(t)).is_ok()
                }
                _ => false,
            }),
        }
    }
}

/// Merges `||` operands of the form `P = "literal"` sharing a selector path.
fn merge_eq_sets(items: Vec<JNode>) -> Vec<JNode> {
    // (path, strings, position in output)
    type Group = (Box<[CSeg]>, Vec<Box<str>>, usize);
    let mut groups: Vec<Group> = Vec::new();
    let mut out: Vec<Option<JNode>> = Vec::with_capacity(items.len());
    for n in items {
        if let JNode::Leaf {
            path,
            test: CTest::Cmp(CmpOp::Eq, CVal::Glob(Glob::Exact(s))),
        } = &n
        {
            if let Some(g) = groups.iter_mut().find(|g| g.0 == *path) {
                g.1.push(s.clone());
                continue;
            }
            groups.push((path.clone(), vec![s.clone()], out.len()));
        }
        out.push(Some(n));
    }
    for (path, mut set, at) in groups {
        if set.len() > 1 {
            set.sort();
            set.dedup();
            out[at] = Some(JNode::InSet {
                path,
                set: set.into(),
            });
        }
    }
    out.into_iter().flatten().collect()
}

/// Walks `path` from `v`; calls `f` on every node reached (several when the
/// path has a wildcard) and returns true as soon as `f` does.
#[inline]
fn any_node<F: FnMut(&Json) -> bool>(path: &[CSeg], v: &Json, f: &mut F) -> bool {
    let mut cur = v;
    for (i, seg) in path.iter().enumerate() {
        match seg {
            CSeg::Key(k) => match cur {
                Json::Object(m) => match m.get(&**k) {
                    Some(x) => cur = x,
                    None => return false,
                },
                _ => return false,
            },
            CSeg::Index(ix) => match cur {
                Json::Array(a) => match a.get(*ix) {
                    Some(x) => cur = x,
                    None => return false,
                },
                _ => return false,
            },
            CSeg::Wild => {
                let rest = &path[i + 1..];
                return match cur {
                    Json::Array(a) => a.iter().any(|x| any_node(rest, x, f)),
                    Json::Object(m) => m.values().any(|x| any_node(rest, x, f)),
                    _ => false,
                };
            }
        }
    }
    f(cur)
}

// ------------------------------------------------------------------ space-delimited

#[derive(Debug, Clone)]
pub(crate) enum SNode {
    Or(Box<[SNode]>),
    And(Box<[SNode]>),
    Cond { field: usize, op: CmpOp, val: CVal },
}

impl SNode {
    fn compile(e: &SpaceExpr) -> Result<SNode, ParseError> {
        Ok(match e {
            SpaceExpr::Or(v) => SNode::Or(v.iter().map(SNode::compile).collect::<Result<_, _>>()?),
            SpaceExpr::And(v) => {
                SNode::And(v.iter().map(SNode::compile).collect::<Result<_, _>>()?)
            }
            SpaceExpr::Cond {
                field, op, value, ..
            } => SNode::Cond {
                field: *field,
                op: *op,
                val: CVal::compile(value)?,
            },
        })
    }

    fn eval<'s>(&self, text_of: &dyn Fn(usize) -> Option<&'s str>) -> bool {
        match self {
            SNode::Or(v) => v.iter().any(|n| n.eval(text_of)),
            SNode::And(v) => v.iter().all(|n| n.eval(text_of)),
            SNode::Cond { field, op, val } => {
                text_of(*field).is_some_and(|s| val.cmp_text(*op, s, true))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SField {
    ellipsis: bool,
    name: Option<Box<str>>,
    cond: Option<SNode>,
}

#[derive(Debug, Clone)]
pub(crate) struct SpaceMatcher {
    fields: Box<[SField]>,
    /// Number of non-ellipsis fields (the minimum event field count).
    fixed: usize,
    has_ellipsis: bool,
}

impl SpaceMatcher {
    fn compile(p: &ast::SpacePattern) -> Result<SpaceMatcher, ParseError> {
        let fields: Box<[SField]> = p
            .fields
            .iter()
            .map(|f| {
                Ok(match f {
                    SpaceField::Ellipsis => SField {
                        ellipsis: true,
                        name: None,
                        cond: None,
                    },
                    SpaceField::Field { name, cond } => SField {
                        ellipsis: false,
                        name: name.as_deref().map(Into::into),
                        cond: cond.as_ref().map(SNode::compile).transpose()?,
                    },
                })
            })
            .collect::<Result<_, ParseError>>()?;
        let fixed = fields.iter().filter(|f| !f.ellipsis).count();
        let has_ellipsis = fields.iter().any(|f| f.ellipsis);
        Ok(SpaceMatcher {
            fields,
            fixed,
            has_ellipsis,
        })
    }

    /// Finds the first binding (ellipses absorbing as few fields as possible,
    /// leftmost first) under which every condition holds. `bind[i]` is the event
    /// field index of pattern field `i` (unused for ellipses).
    pub(crate) fn find_binding(&self, ev: &[&str], bind: &mut Vec<usize>) -> bool {
        if ev.len() < self.fixed || (!self.has_ellipsis && ev.len() != self.fixed) {
            return false;
        }
        bind.clear();
        bind.resize(self.fields.len(), usize::MAX);
        let mut budget = MAX_BINDINGS;
        self.search(ev, 0, 0, self.fixed, bind, &mut budget)
    }

    fn search(
        &self,
        ev: &[&str],
        fi: usize,
        pos: usize,
        fixed_left: usize,
        bind: &mut Vec<usize>,
        budget: &mut usize,
    ) -> bool {
        if fi == self.fields.len() {
            if pos != ev.len() {
                return false;
            }
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let text_of = |i: usize| bind.get(i).and_then(|&j| ev.get(j).copied());
            return self
                .fields
                .iter()
                .all(|f| f.cond.as_ref().is_none_or(|c| c.eval(&text_of)));
        }
        let f = &self.fields[fi];
        if f.ellipsis {
            let spare = ev.len() - pos - fixed_left;
            let rest_has_ellipsis = self.fields[fi + 1..].iter().any(|f| f.ellipsis);
            if !rest_has_ellipsis {
                // Unique choice: absorb exactly what the fixed fields leave.
                return self.search(ev, fi + 1, pos + spare, fixed_left, bind, budget);
            }
            for k in 0..=spare {
                if *budget == 0 {
                    return false;
                }
                if self.search(ev, fi + 1, pos + k, fixed_left, bind, budget) {
                    return true;
                }
            }
            false
        } else {
            if pos >= ev.len() {
                return false;
            }
            bind[fi] = pos;
            self.search(ev, fi + 1, pos + 1, fixed_left - 1, bind, budget)
        }
    }

    pub(crate) fn matches(&self, msg: &str) -> bool {
        let mut ev = Vec::with_capacity(16);
        util::split_fields(msg, &mut ev);
        let mut bind = Vec::with_capacity(self.fields.len());
        self.find_binding(&ev, &mut bind)
    }

    /// On a match, the extracted values keyed `$name` (named fields) or
    /// `$N` (1-based position of unnamed fields, including those under `...`).
    pub(crate) fn extract(&self, msg: &str) -> Option<BTreeMap<String, String>> {
        let mut ev = Vec::with_capacity(16);
        util::split_fields(msg, &mut ev);
        let mut bind = Vec::with_capacity(self.fields.len());
        if !self.find_binding(&ev, &mut bind) {
            return None;
        }
        let mut owner: Vec<Option<&str>> = vec![None; ev.len()];
        for (i, f) in self.fields.iter().enumerate() {
            if !f.ellipsis
                && let Some(n) = &f.name
            {
                owner[bind[i]] = Some(n);
            }
        }
        Some(
            ev.iter()
                .enumerate()
                .map(|(j, v)| {
                    let k = match owner[j] {
                        Some(n) => format!("${n}"),
                        None => format!("${}", j + 1),
                    };
                    (k, (*v).to_string())
                })
                .collect(),
        )
    }

    /// The event text bound to the field called `name`, if the event matches.
    pub(crate) fn field_value<'m>(&self, msg: &'m str, name: &str) -> Option<Option<&'m str>> {
        let mut ev = Vec::with_capacity(16);
        util::split_fields(msg, &mut ev);
        let mut bind = Vec::with_capacity(self.fields.len());
        if !self.find_binding(&ev, &mut bind) {
            return None;
        }
        if let Some(i) = self
            .fields
            .iter()
            .position(|f| f.name.as_deref() == Some(name))
        {
            return Some(ev.get(bind[i]).copied());
        }
        // `$N`: 1-based event position.
        Some(
            name.parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|j| ev.get(j).copied()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_rules() {
        assert!(Glob::new("*UnauthorizedOperation").matches("Client.UnauthorizedOperation"));
        assert!(Glob::new("AccessDenied*").matches("AccessDeniedException"));
        assert!(Glob::new("*html*").matches("GET /index.html HTTP/1.0"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("Ev*ent").matches("Event"));
        assert!(Glob::new("Ev*ent").matches("Ev*ent"));
    }

    #[test]
    fn or_of_equalities_becomes_a_set() {
        let p = crate::parse::parse(
            "{($.eventName=A) || ($.eventName=B) || $.x = 1 || $.eventName = C}",
        )
        .unwrap();
        let Matcher::Json(JNode::Or(items)) = Matcher::compile(&p).unwrap() else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], JNode::InSet { set, .. } if set.len() == 3));
    }
}
