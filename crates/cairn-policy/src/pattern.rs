//! Compiled string patterns: literal text, `*` / `?` wildcards and policy
//! variables (`${aws:username}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`),
//! and the per-segment ARN matcher built on them.

use std::borrow::Cow;

/// One element of a resolved pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum El {
    Ch(char),
    Star,
    One,
}

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    Star,
    One,
    /// A policy variable: lowercased key and optional default.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// How a pattern is compiled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// `*` and `?` are wildcards (otherwise literal).
    pub(crate) wildcards: bool,
    /// `${...}` is a policy variable (Version 2012-10-17 only).
    pub(crate) variables: bool,
    /// Compare case-insensitively (the pattern is folded at compile time).
    pub(crate) fold: bool,
}

/// A compiled pattern. Var-free patterns are pre-resolved, so matching them
/// does not allocate.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
    resolved: Option<Vec<El>>,
    fold: bool,
}

pub(crate) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Looks a policy variable up: `None` when the key is absent or multi-valued.
pub(crate) trait VarLookup {
    fn var(&self, key_lower: &str) -> Option<&str>;
}

/// A lookup that resolves nothing (for var-free contexts and tests).
pub(crate) struct NoVars;

impl VarLookup for NoVars {
    fn var(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Splits `text` into tokens per `mode`.
pub(crate) fn tokenize(text: &str, mode: Mode) -> Vec<Tok> {
    let mut toks = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if mode.variables
            && rest.starts_with("${")
            && let Some((tok, used)) = parse_var(&rest[2..])
        {
            match tok {
                VarTok::Literal(ch) => {
                    toks.push(Tok::Lit(if mode.fold { fold_char(ch) } else { ch }))
                }
                VarTok::Var(key, default) => toks.push(Tok::Var { key, default }),
            }
            rest = &rest[2 + used..];
            continue;
        }
        let tok = match c {
            '*' if mode.wildcards => Tok::Star,
            '?' if mode.wildcards => Tok::One,
            _ => Tok::Lit(if mode.fold { fold_char(c) } else { c }),
        };
        toks.push(tok);
        rest = &rest[c.len_utf8()..];
    }
    toks
}

enum VarTok {
    Literal(char),
    Var(String, Option<String>),
}

/// Parses the inside of `${...}` (after `${`); returns the token and the bytes
/// used including the closing brace. `None` leaves the text literal.
fn parse_var(s: &str) -> Option<(VarTok, usize)> {
    // Find the closing brace, honouring a quoted default that may hold `}`.
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if in_quote && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' => in_quote = !in_quote,
            b'}' if !in_quote => break,
            _ => {}
        }
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let inner = s[..i].trim();
    let used = i + 1;
    match inner {
        "*" => return Some((VarTok::Literal('*'), used)),
        "?" => return Some((VarTok::Literal('?'), used)),
        "$" => return Some((VarTok::Literal('$'), used)),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner, None),
        Some((key, dflt)) => {
            let dflt = dflt.trim();
            let body = dflt.strip_prefix('\'')?.strip_suffix('\'')?;
            (key.trim(), Some(body.replace("''", "'")))
        }
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some((VarTok::Var(key.to_ascii_lowercase(), default), used))
}

impl Pattern {
    pub(crate) fn compile(text: &str, mode: Mode) -> Self {
        Self::from_toks(tokenize(text, mode), mode.fold)
    }

    pub(crate) fn from_toks(toks: Vec<Tok>, fold: bool) -> Self {
        let resolved = if toks.iter().any(|t| matches!(t, Tok::Var { .. })) {
            None
        } else {
            Some(
                toks.iter()
                    .map(|t| match t {
                        Tok::Lit(c) => El::Ch(*c),
                        Tok::Star => El::Star,
                        _ => El::One,
                    })
                    .collect(),
            )
        };
        Self {
            toks,
            resolved,
            fold,
        }
    }

    /// The first variable key that does not resolve, if any.
    pub(crate) fn unresolved<'a>(&'a self, vars: &dyn VarLookup) -> Option<&'a str> {
        self.toks.iter().find_map(|t| match t {
            Tok::Var { key, default: None } if vars.var(key).is_none() => Some(key.as_str()),
            _ => None,
        })
    }

    /// The elements after variable substitution; `None` if a variable has no
    /// value and no default. Substituted text is literal (never a wildcard).
    pub(crate) fn resolve(&self, vars: &dyn VarLookup) -> Option<Cow<'_, [El]>> {
        if let Some(r) = &self.resolved {
            return Some(Cow::Borrowed(r));
        }
        let mut out = Vec::with_capacity(self.toks.len() + 16);
        for t in &self.toks {
            match t {
                Tok::Lit(c) => out.push(El::Ch(*c)),
                Tok::Star => out.push(El::Star),
                Tok::One => out.push(El::One),
                Tok::Var { key, default } => {
                    let value = vars.var(key).or(default.as_deref())?;
                    out.extend(
                        value
                            .chars()
                            .map(|c| El::Ch(if self.fold { fold_char(c) } else { c })),
                    );
                }
            }
        }
        Some(Cow::Owned(out))
    }

    /// Matches `text` (after resolving variables); unresolved never matches.
    pub(crate) fn matches(&self, text: &str, vars: &dyn VarLookup) -> bool {
        self.resolve(vars)
            .is_some_and(|els| glob(&els, text, self.fold))
    }

    pub(crate) fn is_match_all(&self) -> bool {
        self.toks.iter().all(|t| *t == Tok::Star) && !self.toks.is_empty()
    }
}

/// Wildcard match of `text` against resolved elements: `*` matches any run of
/// characters (including none), `?` exactly one. Linear-time greedy matcher
/// with single-star backtracking.
pub(crate) fn glob(pat: &[El], text: &str, fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let Some(c) = text[t..].chars().next() else {
            return false;
        };
        let c = if fold { fold_char(c) } else { c };
        match pat.get(p) {
            Some(El::Ch(pc)) if *pc == c => {
                p += 1;
                t += c_len(text, t);
            }
            Some(El::One) => {
                p += 1;
                t += c_len(text, t);
            }
            Some(El::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + c_len(text, st);
                    star = Some((sp, next));
                    p = sp + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|e| *e == El::Star)
}

fn c_len(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(1, char::len_utf8)
}

/// An ARN pattern: six colon-separated components matched separately
/// (`arn:partition:service:region:account:resource`, the resource component
/// taking everything after the fifth colon, so wildcards in it cross `/` and
/// `:`), or, when the pattern has fewer than six components (`*`), one
/// whole-string pattern whose wildcards cross colons.
#[derive(Debug, Clone)]
pub(crate) enum ArnPattern {
    Parts(Box<[Pattern; 6]>),
    Whole(Pattern),
}

impl ArnPattern {
    pub(crate) fn compile(text: &str, mode: Mode) -> Self {
        let toks = tokenize(text, mode);
        let mut parts: Vec<Vec<Tok>> = vec![Vec::new()];
        for t in &toks {
            if *t == Tok::Lit(':') && parts.len() < 6 {
                parts.push(Vec::new());
            } else if let Some(last) = parts.last_mut() {
                last.push(t.clone());
            }
        }
        if parts.len() == 6 {
            let mut it = parts.into_iter().map(|p| Pattern::from_toks(p, mode.fold));
            let mut next = || {
                it.next()
                    .unwrap_or_else(|| Pattern::from_toks(Vec::new(), mode.fold))
            };
            Self::Parts(Box::new([next(), next(), next(), next(), next(), next()]))
        } else {
            Self::Whole(Pattern::from_toks(toks, mode.fold))
        }
    }

    pub(crate) fn matches(&self, text: &str, vars: &dyn VarLookup) -> bool {
        match self {
            Self::Whole(p) => p.matches(text, vars),
            Self::Parts(parts) => {
                let mut segs = text.splitn(6, ':');
                parts
                    .iter()
                    .all(|p| segs.next().is_some_and(|s| p.matches(s, vars)))
            }
        }
    }

    pub(crate) fn unresolved<'a>(&'a self, vars: &dyn VarLookup) -> Option<&'a str> {
        match self {
            Self::Whole(p) => p.unresolved(vars),
            Self::Parts(parts) => parts.iter().find_map(|p| p.unresolved(vars)),
        }
    }

    pub(crate) fn is_match_all(&self) -> bool {
        matches!(self, Self::Whole(p) if p.is_match_all())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIKE: Mode = Mode {
        wildcards: true,
        variables: true,
        fold: false,
    };

    struct Vars(&'static [(&'static str, &'static str)]);
    impl VarLookup for Vars {
        fn var(&self, key: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
    }

    fn m(p: &str, t: &str) -> bool {
        Pattern::compile(p, LIKE).matches(t, &NoVars)
    }

    #[test]
    fn glob_basics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "ab"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b*", "xxbxxaxx"));
        assert!(m("h?llo*", "héllo world"));
        assert!(!m("abc", "ABC"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("**?", "a"));
    }

    #[test]
    fn fold_matches_case_insensitively() {
        let p = Pattern::compile("CloudTrail:Describe*", Mode { fold: true, ..LIKE });
        assert!(p.matches("cloudtrail:DESCRIBETRAILS", &NoVars));
        assert!(!p.matches("cloudtrail:GetTrail", &NoVars));
    }

    #[test]
    fn variables_substitute_literally() {
        let vars = Vars(&[("aws:username", "al*ce")]);
        let p = Pattern::compile("home/${aws:username}/*", LIKE);
        assert!(p.matches("home/al*ce/x", &vars));
        assert!(
            !p.matches("home/alXce/x", &vars),
            "substituted * is literal"
        );
        let p = Pattern::compile("${aws:userid, 'anon''s'}", LIKE);
        assert!(p.matches("anon's", &NoVars));
        let p = Pattern::compile("a${*}b${?}${$}", LIKE);
        assert!(p.matches("a*b?$", &NoVars));
        assert!(!p.matches("axb?$", &NoVars));
        let p = Pattern::compile("${aws:username}", LIKE);
        assert!(!p.matches("", &NoVars), "unresolved never matches");
        assert_eq!(p.unresolved(&NoVars), Some("aws:username"));
        // Without variables (Version 2008-10-17) the text is literal.
        let p = Pattern::compile(
            "${aws:username}",
            Mode {
                variables: false,
                ..LIKE
            },
        );
        assert!(p.matches("${aws:username}", &NoVars));
        // Unclosed or malformed variables are literal text.
        assert!(m("${aws:username", "${aws:username"));
    }

    #[test]
    fn arn_components_are_matched_separately() {
        let p = ArnPattern::compile("arn:aws:someservice:*:111122223333:finance/*", LIKE);
        assert!(p.matches(
            "arn:aws:someservice:us-east-2:111122223333:finance/doc",
            &NoVars
        ));
        // The documented ArnLike counter-example: * does not span components.
        assert!(!p.matches(
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
            &NoVars
        ));
        let p = ArnPattern::compile("arn:aws:logs:*:*:log-group:aws-cloudtrail-logs*", LIKE);
        assert!(p.matches(
            "arn:aws:logs:us-east-1:123:log-group:aws-cloudtrail-logs-1:*",
            &NoVars
        ));
        let p = ArnPattern::compile("arn:aws:sqs:*:${aws:PrincipalAccount}:q", LIKE);
        let vars = Vars(&[("aws:principalaccount", "123")]);
        assert!(p.matches("arn:aws:sqs:eu-west-1:123:q", &vars));
        assert!(!p.matches("arn:aws:sqs:eu-west-1:124:q", &vars));
        assert!(ArnPattern::compile("*", LIKE).is_match_all());
        assert!(ArnPattern::compile("*", LIKE).matches("arn:aws:s3:::b", &NoVars));
        assert!(!ArnPattern::compile("arn:aws:s3:::b", LIKE).matches("arn:aws:s3", &NoVars));
    }
}
