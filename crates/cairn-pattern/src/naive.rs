//! A straightforward recursive interpreter over the [`crate::ast`] tree.
//!
//! It re-parses JSON and recompiles regexes on every call, collects every node
//! a selector reaches before testing, matches wildcards character by character
//! and enumerates every space-delimited binding. It is the oracle the compiled
//! matcher is checked against, and the baseline in the benchmark; do not use it
//! on a hot path.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::ast::{CmpOp, JsonExpr, Pattern, Segment, SpaceExpr, SpaceField, TermKind, Test, Value};
use crate::util;

/// Whether `pattern` matches the log message `message`.
pub fn matches(pattern: &Pattern, message: &str) -> bool {
    match pattern {
        Pattern::Json(_) => match serde_json::from_str::<Json>(message) {
            Ok(v) => matches_json(pattern, &v, message),
            Err(_) => false,
        },
        _ => matches_json(pattern, &Json::Null, message),
    }
}

/// Like [`matches()`], with the message already parsed as JSON (`event` is only
/// consulted by JSON patterns; the others read `raw`).
pub fn matches_json(pattern: &Pattern, event: &Json, raw: &str) -> bool {
    match pattern {
        Pattern::All => true,
        Pattern::Terms(terms) => {
            let has = |t: &str| raw.contains(t);
            let plain: Vec<_> = terms
                .iter()
                .filter(|t| t.kind != TermKind::Optional)
                .collect();
            if plain.is_empty() {
                terms.iter().any(|t| has(&t.text))
            } else {
                plain.iter().all(|t| match t.kind {
                    TermKind::Excluded => !has(&t.text),
                    _ => has(&t.text),
                })
            }
        }
        Pattern::Regex(r) => regex_match(&r.translated, raw),
        Pattern::Json(e) => eval_json(e, event),
        Pattern::Space(s) => {
            let mut ev = Vec::new();
            util::split_fields(raw, &mut ev);
            first_binding(&s.fields, &ev).is_some()
        }
    }
}

/// On a match of a space-delimited pattern, the extracted values (`$name` or
/// `$N`); `None` when the pattern is not space-delimited or does not match.
pub fn extract(pattern: &Pattern, message: &str) -> Option<BTreeMap<String, String>> {
    let Pattern::Space(s) = pattern else {
        return None;
    };
    let mut ev = Vec::new();
    util::split_fields(message, &mut ev);
    let bind = first_binding(&s.fields, &ev)?;
    let mut out = BTreeMap::new();
    for (j, text) in ev.iter().enumerate() {
        let name = bind
            .iter()
            .position(|&b| b == Some(j))
            .and_then(|i| match &s.fields[i] {
                SpaceField::Field { name: Some(n), .. } => Some(format!("${n}")),
                _ => None,
            })
            .unwrap_or_else(|| format!("${}", j + 1));
        out.insert(name, (*text).to_string());
    }
    Some(out)
}

fn regex_match(translated: &str, s: &str) -> bool {
    util::compile_regex(translated, 0).is_ok_and(|r| r.is_match(s.as_bytes()))
}

// ------------------------------------------------------------------ JSON

fn eval_json(e: &JsonExpr, v: &Json) -> bool {
    match e {
        JsonExpr::Or(items) => items.iter().any(|x| eval_json(x, v)),
        JsonExpr::And(items) => items.iter().all(|x| eval_json(x, v)),
        JsonExpr::Cond(c) => {
            let nodes = resolve(&c.selector.segments, v);
            match &c.test {
                Test::NotExists => nodes.is_empty(),
                Test::IsNull => nodes.iter().any(|n| n.is_null()),
                Test::IsTrue => nodes.iter().any(|n| *n == &Json::Bool(true)),
                Test::IsFalse => nodes.iter().any(|n| *n == &Json::Bool(false)),
                Test::Compare(op, val) => nodes.iter().any(|n| compare_node(*op, val, n)),
            }
        }
    }
}

/// Every node the path reaches.
fn resolve<'v>(segs: &[Segment], v: &'v Json) -> Vec<&'v Json> {
    let mut cur = vec![v];
    for s in segs {
        let mut next = Vec::new();
        for n in cur {
            match (s, n) {
                (Segment::Key(k), Json::Object(m)) => next.extend(m.get(k)),
                (Segment::Index(i), Json::Array(a)) => next.extend(a.get(*i)),
                (Segment::Wildcard, Json::Array(a)) => next.extend(a.iter()),
                (Segment::Wildcard, Json::Object(m)) => next.extend(m.values()),
                _ => {}
            }
        }
        cur = next;
    }
    cur
}

fn compare_node(op: CmpOp, val: &Value, node: &Json) -> bool {
    match node {
        Json::String(s) => compare_text(op, val, s, false),
        Json::Number(n) => match val {
            Value::Number { value, .. } => n.as_f64().is_some_and(|x| op.holds(x, *value)),
            _ => compare_text(op, val, &n.to_string(), false),
        },
        _ => false,
    }
}

fn compare_text(op: CmpOp, val: &Value, s: &str, numeric_text: bool) -> bool {
    let equal = match val {
        Value::Number { value, text } => {
            if numeric_text && let Some(x) = util::parse_number(s) {
                return op.holds(x, *value);
            }
            s == text
        }
        Value::Str(p) => wildcard(p, s),
        Value::Regex(r) => regex_match(&r.translated, s),
    };
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

/// Wildcard match where only leading/trailing `*` runs are wildcards, done as a
/// character-level recursive match over tokens `[Star?] literal [Star?]`.
fn wildcard(p: &str, s: &str) -> bool {
    let lead = p.starts_with('*');
    let trail = p.ends_with('*');
    let lit: Vec<char> = p
        .trim_start_matches('*')
        .trim_end_matches('*')
        .chars()
        .collect();
    if lit.is_empty() && (lead || trail) {
        return true;
    }
    let lit: Vec<char> = if lead || trail {
        lit
    } else {
        p.chars().collect()
    };
    let text: Vec<char> = s.chars().collect();
    fn go(lit: &[char], text: &[char], star_front: bool, star_back: bool) -> bool {
        if star_front {
            // Try every start position.
            (0..=text.len()).any(|i| go(lit, &text[i..], false, star_back))
        } else if lit.is_empty() {
            star_back || text.is_empty()
        } else {
            !text.is_empty() && text[0] == lit[0] && go(&lit[1..], &text[1..], false, star_back)
        }
    }
    go(&lit, &text, lead, trail)
}

// ------------------------------------------------------------------ space-delimited

/// Enumerates every assignment of event fields to pattern fields (ellipses
/// absorbing as few as possible, leftmost first) and returns the first one
/// under which all conditions hold. `bind[i]` is the event index of field `i`.
fn first_binding(fields: &[SpaceField], ev: &[&str]) -> Option<Vec<Option<usize>>> {
    let mut all = Vec::new();
    enumerate(
        fields,
        ev.len(),
        0,
        0,
        &mut vec![None; fields.len()],
        &mut all,
    );
    all.into_iter().find(|bind| {
        fields.iter().all(|f| match f {
            SpaceField::Field { cond: Some(c), .. } => eval_space(c, bind, ev),
            _ => true,
        })
    })
}

fn enumerate(
    fields: &[SpaceField],
    n: usize,
    fi: usize,
    pos: usize,
    cur: &mut Vec<Option<usize>>,
    out: &mut Vec<Vec<Option<usize>>>,
) {
    if out.len() >= crate::compiled::MAX_BINDINGS {
        return;
    }
    if fi == fields.len() {
        if pos == n {
            out.push(cur.clone());
        }
        return;
    }
    match fields[fi] {
        SpaceField::Ellipsis => {
            for k in 0..=(n - pos) {
                enumerate(fields, n, fi + 1, pos + k, cur, out);
            }
        }
        SpaceField::Field { .. } => {
            if pos < n {
                cur[fi] = Some(pos);
                enumerate(fields, n, fi + 1, pos + 1, cur, out);
                cur[fi] = None;
            }
        }
    }
}

fn eval_space(e: &SpaceExpr, bind: &[Option<usize>], ev: &[&str]) -> bool {
    match e {
        SpaceExpr::Or(v) => v.iter().any(|x| eval_space(x, bind, ev)),
        SpaceExpr::And(v) => v.iter().all(|x| eval_space(x, bind, ev)),
        SpaceExpr::Cond {
            field, op, value, ..
        } => bind
            .get(*field)
            .copied()
            .flatten()
            .and_then(|j| ev.get(j))
            .is_some_and(|s| compare_text(*op, value, s, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_rules() {
        assert!(wildcard("*Op", "UnauthorizedOp"));
        assert!(wildcard("Acc*", "AccessDenied"));
        assert!(wildcard("*x*", "axb"));
        assert!(!wildcard("*x*", "ab"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b", "a*b"));
        assert!(!wildcard("a*b", "axb"));
        assert!(wildcard("ab", "ab"));
        assert!(!wildcard("ab", "abc"));
    }
}
