//! Recursive-descent parser from pattern text to [`crate::ast::Pattern`].

use crate::ast::{
    CmpOp, JsonCond, JsonExpr, Pattern, RegexLit, Segment, Selector, SpaceExpr, SpaceField,
    SpacePattern, Term, TermKind, Test, Value,
};
use crate::error::{ParseError, ParseErrorKind};
use crate::util;

/// Maximum pattern length in characters (PutMetricFilter `filterPattern`).
pub const MAX_PATTERN_LEN: usize = 1024;
/// Maximum regexes in a JSON or space-delimited pattern.
pub const MAX_REGEXES: usize = 2;
/// Maximum wildcard segments per selector.
pub const MAX_WILDCARDS_PER_SELECTOR: usize = 1;
/// Maximum wildcard segments per pattern.
pub const MAX_WILDCARDS_PER_PATTERN: usize = 3;

/// Parses pattern text.
pub(crate) fn parse(src: &str) -> Result<Pattern, ParseError> {
    let len = src.chars().count();
    if len > MAX_PATTERN_LEN {
        let pos = src
            .char_indices()
            .nth(MAX_PATTERN_LEN)
            .map_or(src.len(), |(i, _)| i);
        return Err(ParseError::new(pos, ParseErrorKind::TooLong { len }));
    }
    let mut p = Parser::new(src);
    p.ws();
    if p.eof() {
        return Ok(Pattern::All);
    }
    match p.peek() {
        Some(b'{') => p.json(),
        Some(b'[') => p.space(),
        Some(b'%') => p.whole_regex(),
        _ => p.terms(),
    }
}

/// Parses a standalone selector such as `$.latency` (metric values and
/// dimensions). Wildcards are not allowed here.
pub(crate) fn parse_selector(src: &str) -> Result<Selector, ParseError> {
    let mut p = Parser::new(src);
    if p.peek() != Some(b'$') {
        return Err(ParseError::expected(0, "a selector starting with `$.`"));
    }
    let sel = p.selector()?;
    if !p.eof() {
        return Err(ParseError::expected(p.pos, "end of selector"));
    }
    if sel.has_wildcard() {
        return Err(ParseError::new(
            0,
            ParseErrorKind::TooManyWildcards {
                scope: "metric value or dimension selector",
                limit: 0,
            },
        ));
    }
    Ok(sel)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    regexes: usize,
    wildcards: usize,
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl<'a> Parser<'a> {
    /// A parser at the start of `src`.
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            b: src.as_bytes(),
            pos: 0,
            regexes: 0,
            wildcards: 0,
        }
    }

    fn eof(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b[self.pos..].starts_with(s.as_bytes())
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn end(&mut self) -> Result<(), ParseError> {
        self.ws();
        if self.eof() {
            Ok(())
        } else {
            Err(ParseError::expected(self.pos, "end of pattern"))
        }
    }

    // ---------------------------------------------------------------- terms

    fn terms(&mut self) -> Result<Pattern, ParseError> {
        let mut terms = Vec::new();
        let mut pending_exclude = false;
        loop {
            self.ws();
            let Some(c) = self.peek() else { break };
            let mut kind = if pending_exclude {
                TermKind::Excluded
            } else {
                TermKind::Required
            };
            pending_exclude = false;
            if c == b'-' || c == b'?' {
                let next = self.b.get(self.pos + 1).copied();
                match next {
                    Some(n) if !n.is_ascii_whitespace() => {
                        kind = if c == b'-' {
                            TermKind::Excluded
                        } else {
                            TermKind::Optional
                        };
                        self.pos += 1;
                    }
                    Some(_) if c == b'-' => {
                        // `"ERROR" - "Exiting"` as rendered in the 2021 docs: a lone
                        // minus excludes the following term.
                        self.pos += 1;
                        self.ws();
                        if !self.eof() {
                            pending_exclude = true;
                            continue;
                        }
                        terms.push(Term {
                            kind,
                            text: "-".into(),
                        });
                        break;
                    }
                    _ => {}
                }
            }
            let text = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                self.src[start..self.pos].to_string()
            };
            // Blank phrases (`""`, `" "`) match everything: they constrain nothing.
            if !text.trim().is_empty() {
                terms.push(Term { kind, text });
            }
        }
        if terms.is_empty() {
            Ok(Pattern::All)
        } else {
            Ok(Pattern::Terms(terms))
        }
    }

    /// Reads a `"..."` string at the cursor; `\"` and `\\` are escapes.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::new(start, ParseErrorKind::UnterminatedString));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' if matches!(self.b.get(self.pos + 1), Some(b'"') | Some(b'\\')) => {
                    out.push(self.b[self.pos + 1] as char);
                    self.pos += 2;
                }
                _ => {
                    let ch = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    // ---------------------------------------------------------------- regex

    fn whole_regex(&mut self) -> Result<Pattern, ParseError> {
        let lit = self.regex_lit()?;
        self.end()?;
        Ok(Pattern::Regex(lit))
    }

    /// Reads `%...%` at the cursor, validating and compiling it.
    fn regex_lit(&mut self) -> Result<RegexLit, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let Some(len) = memchr::memchr(b'%', &self.b[self.pos..]) else {
            return Err(ParseError::new(open, ParseErrorKind::UnterminatedRegex));
        };
        let body = &self.src[self.pos..self.pos + len];
        let translated = util::translate_regex(body, self.pos)?;
        util::compile_regex(&translated, self.pos)?;
        self.pos += len + 1;
        self.regexes += 1;
        Ok(RegexLit {
            source: body.to_string(),
            translated,
        })
    }

    fn count_regex(&self, at: usize) -> Result<(), ParseError> {
        if self.regexes > MAX_REGEXES {
            return Err(ParseError::new(
                at,
                ParseErrorKind::TooManyRegexes {
                    count: self.regexes,
                },
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- JSON

    fn json(&mut self) -> Result<Pattern, ParseError> {
        self.pos += 1; // '{'
        let expr = self.json_or()?;
        self.ws();
        if self.peek() != Some(b'}') {
            return Err(ParseError::expected(self.pos, "`&&`, `||` or `}`"));
        }
        self.pos += 1;
        self.end()?;
        Ok(Pattern::Json(expr))
    }

    fn json_or(&mut self) -> Result<JsonExpr, ParseError> {
        self.json_chain("||", Self::json_and, JsonExpr::Or)
    }

    fn json_and(&mut self) -> Result<JsonExpr, ParseError> {
        self.json_chain("&&", Self::json_unary, JsonExpr::And)
    }

    /// `operand (op operand)*`, folded into `join` when there is more than one operand.
    fn json_chain(
        &mut self,
        op: &str,
        operand: fn(&mut Self) -> Result<JsonExpr, ParseError>,
        join: fn(Vec<JsonExpr>) -> JsonExpr,
    ) -> Result<JsonExpr, ParseError> {
        let mut items = vec![operand(self)?];
        loop {
            self.ws();
            if self.starts_with(op) {
                self.pos += op.len();
                items.push(operand(self)?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn json_unary(&mut self) -> Result<JsonExpr, ParseError> {
        self.ws();
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let e = self.json_or()?;
                self.ws();
                if self.peek() != Some(b')') {
                    return Err(ParseError::expected(self.pos, "`&&`, `||` or `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(b'$') => Ok(JsonExpr::Cond(self.json_cond()?)),
            _ => Err(ParseError::expected(
                self.pos,
                "a selector starting with `$`, or `(`",
            )),
        }
    }

    fn json_cond(&mut self) -> Result<JsonCond, ParseError> {
        let selector = self.selector()?;
        self.ws();
        let after = || format!("selector {}", selector.text);
        if let Some(op) = self.op() {
            let value = self.value(op, true)?;
            return Ok(JsonCond {
                selector,
                test: Test::Compare(op, value),
            });
        }
        let kw_pos = self.pos;
        let kw = self.keyword();
        let test = if kw.eq_ignore_ascii_case("IS") {
            self.ws();
            let p = self.pos;
            let v = self.keyword();
            if v.eq_ignore_ascii_case("NULL") {
                Test::IsNull
            } else if v.eq_ignore_ascii_case("TRUE") {
                Test::IsTrue
            } else if v.eq_ignore_ascii_case("FALSE") {
                Test::IsFalse
            } else {
                return Err(ParseError::expected_after(
                    p,
                    "NULL, TRUE or FALSE",
                    "IS".into(),
                ));
            }
        } else if kw.eq_ignore_ascii_case("NOT") {
            self.ws();
            let p = self.pos;
            if !self.keyword().eq_ignore_ascii_case("EXISTS") {
                return Err(ParseError::expected_after(p, "EXISTS", "NOT".into()));
            }
            Test::NotExists
        } else {
            return Err(ParseError::expected_after(
                kw_pos,
                "a comparison operator, IS or NOT EXISTS",
                after(),
            ));
        };
        Ok(JsonCond { selector, test })
    }

    fn keyword(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn op(&mut self) -> Option<CmpOp> {
        let (op, n) = if self.starts_with("!=") {
            (CmpOp::Ne, 2)
        } else if self.starts_with("<=") {
            (CmpOp::Le, 2)
        } else if self.starts_with(">=") {
            (CmpOp::Ge, 2)
        } else if self.starts_with("=") {
            (CmpOp::Eq, 1)
        } else if self.starts_with("<") {
            (CmpOp::Lt, 1)
        } else if self.starts_with(">") {
            (CmpOp::Gt, 1)
        } else {
            return None;
        };
        self.pos += n;
        Some(op)
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        let start = self.pos;
        self.pos += 1; // '$'
        let mut segments = Vec::new();
        let mut wild = 0usize;
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'*') => {
                            self.pos += 1;
                            segments.push(Segment::Wildcard);
                            wild += 1;
                        }
                        Some(b'[') => {
                            let seg = self.bracket(start)?;
                            wild += usize::from(seg == Segment::Wildcard);
                            segments.push(seg);
                        }
                        Some(c) if is_ident_byte(c) => {
                            let s = self.pos;
                            while matches!(self.peek(), Some(c) if is_ident_byte(c)) {
                                self.pos += 1;
                            }
                            segments.push(Segment::Key(self.src[s..self.pos].to_string()));
                        }
                        _ => {
                            return Err(ParseError::expected_after(
                                self.pos,
                                "a property name, `*` or `[`",
                                format!("`.` in selector {}", &self.src[start..self.pos]),
                            ));
                        }
                    }
                }
                Some(b'[') => {
                    let seg = self.bracket(start)?;
                    wild += usize::from(seg == Segment::Wildcard);
                    segments.push(seg);
                }
                _ => break,
            }
            if wild > MAX_WILDCARDS_PER_SELECTOR {
                return Err(ParseError::new(
                    start,
                    ParseErrorKind::TooManyWildcards {
                        scope: "selector",
                        limit: MAX_WILDCARDS_PER_SELECTOR,
                    },
                ));
            }
        }
        if segments.is_empty() {
            return Err(ParseError::expected_after(
                self.pos,
                "`.` or `[`",
                "`$`".into(),
            ));
        }
        self.wildcards += wild;
        if self.wildcards > MAX_WILDCARDS_PER_PATTERN {
            return Err(ParseError::new(
                start,
                ParseErrorKind::TooManyWildcards {
                    scope: "pattern",
                    limit: MAX_WILDCARDS_PER_PATTERN,
                },
            ));
        }
        Ok(Selector {
            text: self.src[start..self.pos].to_string(),
            segments,
        })
    }

    /// `[0]`, `[*]` or `['key']` at the cursor.
    fn bracket(&mut self, sel_start: usize) -> Result<Segment, ParseError> {
        self.pos += 1; // '['
        let seg = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some(c) if c.is_ascii_digit() => {
                let s = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let idx = self.src[s..self.pos]
                    .parse::<usize>()
                    .map_err(|_| ParseError::expected(s, "an array index that fits in memory"))?;
                Segment::Index(idx)
            }
            Some(q @ (b'\'' | b'"')) => {
                let s = self.pos + 1;
                let Some(len) = memchr::memchr(q, &self.b[s..]) else {
                    return Err(ParseError::new(
                        self.pos,
                        ParseErrorKind::UnterminatedString,
                    ));
                };
                self.pos = s + len + 1;
                Segment::Key(self.src[s..s + len].to_string())
            }
            _ => {
                return Err(ParseError::expected_after(
                    self.pos,
                    "an index, `*` or a quoted key",
                    format!("`[` in selector {}", &self.src[sel_start..self.pos]),
                ));
            }
        };
        if self.peek() != Some(b']') {
            return Err(ParseError::expected(self.pos, "`]`"));
        }
        self.pos += 1;
        Ok(seg)
    }

    /// The right-hand side of a comparison. `json` selects the bare-token
    /// terminators (`)`/`}` for JSON, `,`/`]` for space-delimited).
    fn value(&mut self, op: CmpOp, json: bool) -> Result<Value, ParseError> {
        self.ws();
        let start = self.pos;
        let v = match self.peek() {
            Some(b'"') => Value::Str(self.quoted()?),
            Some(b'%') => {
                let lit = self.regex_lit()?;
                self.count_regex(start)?;
                Value::Regex(lit)
            }
            _ => {
                while let Some(c) = self.peek() {
                    let stop = c.is_ascii_whitespace()
                        || self.starts_with("&&")
                        || self.starts_with("||")
                        || if json {
                            c == b')' || c == b'}'
                        } else {
                            c == b',' || c == b']'
                        };
                    if stop {
                        break;
                    }
                    self.pos += 1;
                }
                // Stop on a char boundary (bytes ≥ 0x80 never terminate a token,
                // so `pos` is always on a boundary here).
                let tok = &self.src[start..self.pos];
                if tok.is_empty() {
                    return Err(ParseError::expected_after(
                        start,
                        "a value",
                        format!("`{}`", op.as_str()),
                    ));
                }
                match util::parse_number(tok) {
                    Some(value) => Value::Number {
                        value,
                        text: tok.to_string(),
                    },
                    None => Value::Str(tok.to_string()),
                }
            }
        };
        if op.is_relational() && !matches!(v, Value::Number { .. }) {
            return Err(ParseError::new(
                start,
                ParseErrorKind::NumberRequired { op: op.as_str() },
            ));
        }
        Ok(v)
    }

    // ---------------------------------------------------------------- space-delimited

    fn space(&mut self) -> Result<Pattern, ParseError> {
        self.pos += 1; // '['
        struct Raw {
            name: Option<String>,
            name_pos: usize,
            cond: Option<RawExpr>,
            ellipsis: bool,
        }
        let mut raws: Vec<Raw> = Vec::new();
        loop {
            self.ws();
            let fpos = self.pos;
            if self.starts_with("...") {
                self.pos += 3;
                raws.push(Raw {
                    name: None,
                    name_pos: fpos,
                    cond: None,
                    ellipsis: true,
                });
            } else if matches!(self.peek(), Some(b',') | Some(b']')) {
                if self.peek() == Some(b']') && raws.is_empty() {
                    return Err(ParseError::expected(fpos, "a field name or `...`"));
                }
                raws.push(Raw {
                    name: None,
                    name_pos: fpos,
                    cond: None,
                    ellipsis: false,
                });
            } else {
                let name = self
                    .ident()
                    .ok_or_else(|| ParseError::expected(fpos, "a field name, `...`, `,` or `]`"))?;
                self.ws();
                let cond = if matches!(self.peek(), Some(b'=' | b'!' | b'<' | b'>')) {
                    Some(self.space_or(name.clone(), fpos)?)
                } else {
                    None
                };
                raws.push(Raw {
                    name: Some(name),
                    name_pos: fpos,
                    cond,
                    ellipsis: false,
                });
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    let what = if raws
                        .last()
                        .is_some_and(|r| r.cond.is_none() && r.name.is_some())
                    {
                        "`,`, `]` or a comparison operator"
                    } else {
                        "`,` or `]`"
                    };
                    return Err(ParseError::expected(self.pos, what));
                }
            }
        }
        self.end()?;
        // Resolve names used in conditions.
        for (i, r) in raws.iter().enumerate() {
            if let Some(n) = &r.name
                && raws[..i]
                    .iter()
                    .any(|o| o.name.as_deref() == Some(n.as_str()))
            {
                return Err(ParseError::new(
                    r.name_pos,
                    ParseErrorKind::DuplicateField { name: n.clone() },
                ));
            }
        }
        let resolve = |own: usize, name: &str| -> usize {
            raws.iter()
                .position(|r| r.name.as_deref() == Some(name))
                .or_else(|| {
                    raws.iter().position(|r| {
                        r.name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                })
                .unwrap_or(own)
        };
        let mut fields = Vec::with_capacity(raws.len());
        for (i, r) in raws.iter().enumerate() {
            if r.ellipsis {
                if !matches!(fields.last(), Some(SpaceField::Ellipsis)) {
                    fields.push(SpaceField::Ellipsis);
                }
                continue;
            }
            let idx = fields.len();
            fields.push(SpaceField::Field {
                name: r.name.clone(),
                cond: None,
            });
            if let Some(c) = &r.cond {
                let expr = c.resolve(&|n| resolve(i, n));
                if let SpaceField::Field { cond, .. } = &mut fields[idx] {
                    *cond = Some(expr);
                }
            }
        }
        // Indices were computed over `raws`; remap them onto `fields` (consecutive
        // ellipses were merged).
        let mut map = Vec::with_capacity(raws.len());
        let mut fi = 0usize;
        let mut prev_ellipsis = false;
        for r in &raws {
            if r.ellipsis && prev_ellipsis {
                map.push(fi - 1);
                continue;
            }
            map.push(fi);
            prev_ellipsis = r.ellipsis;
            fi += 1;
        }
        for f in &mut fields {
            if let SpaceField::Field { cond: Some(c), .. } = f {
                remap(c, &map);
            }
        }
        Ok(Pattern::Space(SpacePattern { fields }))
    }

    fn ident(&mut self) -> Option<String> {
        let s = self.pos;
        while matches!(self.peek(), Some(c) if is_ident_byte(c)) {
            self.pos += 1;
        }
        (self.pos > s).then(|| self.src[s..self.pos].to_string())
    }

    fn space_or(&mut self, first: String, first_pos: usize) -> Result<RawExpr, ParseError> {
        let first = self.space_and(Some(first), first_pos)?;
        self.space_list(first, "||", Self::space_and, RawExpr::Or)
    }

    fn space_and(
        &mut self,
        first: Option<String>,
        first_pos: usize,
    ) -> Result<RawExpr, ParseError> {
        let first = self.space_cond(first, first_pos)?;
        self.space_list(first, "&&", Self::space_cond, RawExpr::And)
    }

    /// `first`, then one more `item` after each `op`: alone it stands as is, several are
    /// combined by `join`.
    fn space_list(
        &mut self,
        first: RawExpr,
        op: &str,
        item: fn(&mut Self, Option<String>, usize) -> Result<RawExpr, ParseError>,
        join: fn(Vec<RawExpr>) -> RawExpr,
    ) -> Result<RawExpr, ParseError> {
        let mut items = vec![first];
        loop {
            self.ws();
            if !self.starts_with(op) {
                break;
            }
            self.pos += op.len();
            self.ws();
            let p = self.pos;
            items.push(item(self, None, p)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn space_cond(&mut self, name: Option<String>, pos: usize) -> Result<RawExpr, ParseError> {
        let name = match name {
            Some(n) => n,
            None => self
                .ident()
                .ok_or_else(|| ParseError::expected(pos, "a field name after `&&` or `||`"))?,
        };
        self.ws();
        let Some(op) = self.op() else {
            return Err(ParseError::expected_after(
                self.pos,
                "a comparison operator",
                format!("field `{name}`"),
            ));
        };
        let value = self.value(op, false)?;
        Ok(RawExpr::Cond { name, op, value })
    }
}

/// A space-delimited condition before field names are resolved.
enum RawExpr {
    Or(Vec<RawExpr>),
    And(Vec<RawExpr>),
    Cond {
        name: String,
        op: CmpOp,
        value: Value,
    },
}

impl RawExpr {
    fn resolve(&self, f: &dyn Fn(&str) -> usize) -> SpaceExpr {
        match self {
            RawExpr::Or(v) => SpaceExpr::Or(v.iter().map(|e| e.resolve(f)).collect()),
            RawExpr::And(v) => SpaceExpr::And(v.iter().map(|e| e.resolve(f)).collect()),
            RawExpr::Cond { name, op, value } => SpaceExpr::Cond {
                field: f(name),
                name: name.clone(),
                op: *op,
                value: value.clone(),
            },
        }
    }
}

fn remap(e: &mut SpaceExpr, map: &[usize]) {
    match e {
        SpaceExpr::Or(v) | SpaceExpr::And(v) => v.iter_mut().for_each(|x| remap(x, map)),
        SpaceExpr::Cond { field, .. } => *field = map[*field],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: &str) -> ParseError {
        parse(p).unwrap_err()
    }

    #[test]
    fn kinds() {
        assert_eq!(parse("").unwrap(), Pattern::All);
        assert_eq!(parse("   ").unwrap(), Pattern::All);
        assert_eq!(parse("\" \"").unwrap(), Pattern::All);
        assert!(matches!(parse("ERROR").unwrap(), Pattern::Terms(_)));
        assert!(matches!(parse("%ERR%").unwrap(), Pattern::Regex(_)));
        assert!(matches!(parse("{ $.a = 1 }").unwrap(), Pattern::Json(_)));
        assert!(matches!(parse("[a, b]").unwrap(), Pattern::Space(_)));
    }

    #[test]
    fn terms_parse() {
        let Pattern::Terms(t) = parse("\"ERROR\" - \"Exiting\" ?x -y").unwrap() else {
            panic!()
        };
        assert_eq!(
            t,
            vec![
                Term {
                    kind: TermKind::Required,
                    text: "ERROR".into()
                },
                Term {
                    kind: TermKind::Excluded,
                    text: "Exiting".into()
                },
                Term {
                    kind: TermKind::Optional,
                    text: "x".into()
                },
                Term {
                    kind: TermKind::Excluded,
                    text: "y".into()
                },
            ]
        );
    }

    #[test]
    fn precedence() {
        let Pattern::Json(e) = parse("{ $.a = 1 || $.b = 2 && $.c = 3 }").unwrap() else {
            panic!()
        };
        match e {
            JsonExpr::Or(v) => {
                assert_eq!(v.len(), 2);
                assert!(matches!(v[1], JsonExpr::And(_)));
            }
            _ => panic!("{e:?}"),
        }
    }

    #[test]
    fn selectors() {
        let Pattern::Json(JsonExpr::Cond(c)) = parse("{ $.a[0].b[*]['k.x'] = x }").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.selector.segments,
            vec![
                Segment::Key("a".into()),
                Segment::Index(0),
                Segment::Key("b".into()),
                Segment::Wildcard,
                Segment::Key("k.x".into())
            ]
        );
        let Pattern::Json(JsonExpr::Cond(c)) = parse("{ $.['cluster.name'] = x }").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.selector.segments,
            vec![Segment::Key("cluster.name".into())]
        );
    }

    #[test]
    fn values() {
        let Pattern::Json(JsonExpr::Cond(c)) = parse("{$.eventSource=kms.amazonaws.com}").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            c.test,
            Test::Compare(CmpOp::Eq, Value::Str("kms.amazonaws.com".into()))
        );
        let Pattern::Json(JsonExpr::Cond(c)) = parse("{ $.n < 10e-3 }").unwrap() else {
            panic!()
        };
        assert!(
            matches!(c.test, Test::Compare(CmpOp::Lt, Value::Number { value, .. }) if value == 0.01)
        );
    }

    #[test]
    fn error_positions_and_messages() {
        let e = err("{ $.eventName ~ \"x\" }");
        assert_eq!(e.position, 14);
        assert_eq!(
            e.to_string(),
            "at position 14: expected a comparison operator, IS or NOT EXISTS after selector $.eventName"
        );
        let e = err("{ $.a = 1 ");
        assert_eq!(e.position, 10);
        assert!(e.to_string().contains("expected `&&`, `||` or `}`"), "{e}");
        let e = err("{ $.a > abc }");
        assert_eq!(e.position, 8);
        assert!(e.to_string().contains("expected a number after `>`"), "{e}");
        let e = err("{ $ = 1 }");
        assert_eq!(e.position, 3);
        let e = err("{ $.a[*].b[*] = 1 }");
        assert!(matches!(
            e.kind,
            ParseErrorKind::TooManyWildcards {
                scope: "selector",
                ..
            }
        ));
        let e = err("{ $.a IS MAYBE }");
        assert_eq!(e.position, 9);
        assert!(
            e.to_string()
                .contains("expected NULL, TRUE or FALSE after IS"),
            "{e}"
        );
        let e = err("{ $.a = \"x }");
        assert!(matches!(e.kind, ParseErrorKind::UnterminatedString));
        assert_eq!(e.position, 8);
        let e = err("%something!%");
        assert_eq!(e.position, 10);
        assert!(matches!(e.kind, ParseErrorKind::RegexSymbol { ch: '!' }));
        let e = err("%a(b)%");
        assert!(e.to_string().contains("grouping"), "{e}");
        let e = err("{ $.a = %x% || $.b = %y% || $.c = %z% }");
        assert!(matches!(
            e.kind,
            ParseErrorKind::TooManyRegexes { count: 3 }
        ));
        let e = err("[a, b c]");
        assert_eq!(e.position, 6);
        let e = err("[a, a]");
        assert!(matches!(e.kind, ParseErrorKind::DuplicateField { .. }));
        let long = "x".repeat(1025);
        assert!(matches!(
            err(&long).kind,
            ParseErrorKind::TooLong { len: 1025 }
        ));
        assert!(parse(&"x".repeat(1024)).is_ok());
        let e = err("{ $.a = 1 } trailing");
        assert_eq!(e.position, 12);
        let e = err("{ $.a = }");
        assert!(e.to_string().contains("expected a value after `=`"), "{e}");
    }

    /// The operands of a field whose condition is an `||`.
    fn or_operands(f: &SpaceField) -> &[SpaceExpr] {
        let SpaceField::Field {
            cond: Some(SpaceExpr::Or(v)),
            ..
        } = f
        else {
            panic!("not an || condition: {f:?}")
        };
        v
    }

    #[test]
    fn space_fields() {
        let Pattern::Space(s) =
            parse("[..., ..., request=*.html*, status_code = 404 || status_code = 410,]").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.fields.len(), 4);
        assert_eq!(s.fields[0], SpaceField::Ellipsis);
        assert!(matches!(
            or_operands(&s.fields[2])[1],
            SpaceExpr::Cond { field: 2, .. }
        ));
        // Case-insensitive resolution (`W1` in the docs refers to `w1`).
        let Pattern::Space(s) = parse("[w1=ERROR || W1=WARNING, w2]").unwrap() else {
            panic!()
        };
        assert!(matches!(
            or_operands(&s.fields[0])[1],
            SpaceExpr::Cond { field: 0, .. }
        ));
    }
}
