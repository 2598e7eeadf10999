//! Small helpers shared by the parser, the compiled matcher and the naive
//! interpreter: the number grammar, the space-delimited event tokenizer and
//! CloudWatch regex validation.

use crate::error::{ParseError, ParseErrorKind};

/// Whether `s` is a number in the filter-pattern grammar:
/// `[+-]? digits ( "." digits )? ( [eE] [+-]? digits )?`.
pub(crate) fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    // Past an optional sign at `i`.
    let sign = |i: usize| i + usize::from(matches!(b.get(i), Some(b'+' | b'-')));
    // Past one or more digits at `i`; `None` without a digit.
    let digits = |i: usize| {
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        (end > i).then_some(end)
    };
    let Some(mut i) = digits(sign(0)) else {
        return false;
    };
    if b.get(i) == Some(&b'.') {
        let Some(end) = digits(i + 1) else {
            return false;
        };
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let Some(end) = digits(sign(i + 1)) else {
            return false;
        };
        i = end;
    }
    i == b.len()
}

/// Parses `s` as a number if it fits the grammar of [`is_number`].
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    if !is_number(s) {
        return None;
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    t.parse::<f64>().ok()
}

/// Splits a log message into space-delimited fields.
///
/// Runs of spaces and tabs separate fields. A field that starts with `[` runs
/// to the next `]`, one that starts with `"` to the next `"`; the delimiters
/// are stripped. An unclosed `[` or `"` takes the rest of the message.
pub(crate) fn split_fields<'a>(msg: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let close = match b[i] {
            b'[' => Some(b']'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(close) = close {
            let start = i + 1;
            match memchr::memchr(close, &b[start..]) {
                Some(off) => {
                    out.push(&msg[start..start + off]);
                    i = start + off + 1;
                }
                None => {
                    out.push(&msg[start..]);
                    i = b.len();
                }
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                i += 1;
            }
            out.push(&msg[start..i]);
        }
    }
}

/// Symbols CloudWatch allows literally in a regex (the live docs list `:` in
/// some versions of the page; we accept it).
const REGEX_SYMBOLS: &[u8] = b"_#=@/;,-: ";
/// Regex operators CloudWatch supports.
const REGEX_OPERATORS: &[u8] = b"^$?[]{}|\\*+.";

/// Validates a CloudWatch regex (the text between the `%` delimiters, starting
/// at byte `offset` of the pattern) and returns the equivalent `regex` crate
/// source. Escaped symbols and operators become `\xHH` so the translation does
/// not depend on the engine's escaping rules.
pub(crate) fn translate_regex(src: &str, offset: usize) -> Result<String, ParseError> {
    if src.is_empty() {
        return Err(ParseError::new(offset, ParseErrorKind::EmptyRegex));
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let pos = offset + i;
        if !c.is_ascii() {
            return Err(ParseError::new(
                pos,
                ParseErrorKind::RegexMultiByte { ch: c },
            ));
        }
        let b = c as u8;
        if c == '(' || c == ')' {
            return Err(ParseError::new(
                pos,
                ParseErrorKind::RegexGrouping { ch: c },
            ));
        }
        if c == '\\' {
            let Some((_, e)) = chars.next() else {
                return Err(ParseError::expected(
                    pos + 1,
                    "an escaped character after `\\` in the regex",
                ));
            };
            match e {
                'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                    out.push('\\');
                    out.push(e);
                }
                'x' => {
                    let h1 = chars.next().map(|(_, h)| h);
                    let h2 = chars.next().map(|(_, h)| h);
                    match (h1, h2) {
                        (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                            out.push_str("\\x");
                            out.push(a);
                            out.push(b);
                        }
                        _ => {
                            return Err(ParseError::expected(
                                pos + 2,
                                "two hex digits after `\\x` in the regex",
                            ));
                        }
                    }
                }
                e if e.is_ascii()
                    && (REGEX_SYMBOLS.contains(&(e as u8))
                        || REGEX_OPERATORS.contains(&(e as u8))
                        || e == '%') =>
                {
                    out.push_str(&format!("\\x{:02X}", e as u8));
                }
                e => return Err(ParseError::new(pos, ParseErrorKind::RegexEscape { ch: e })),
            }
            continue;
        }
        if b.is_ascii_alphanumeric() || REGEX_SYMBOLS.contains(&b) {
            // `#` and space are literal (no verbose mode); `-` outside a class is literal.
            out.push(c);
        } else if REGEX_OPERATORS.contains(&b) {
            out.push(c);
        } else {
            return Err(ParseError::new(pos, ParseErrorKind::RegexSymbol { ch: c }));
        }
    }
    Ok(out)
}

/// Compiles a translated regex with CloudWatch's byte/ASCII semantics.
pub(crate) fn compile_regex(
    translated: &str,
    offset: usize,
) -> Result<regex::bytes::Regex, ParseError> {
    regex::bytes::RegexBuilder::new(translated)
        .unicode(false)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| {
            ParseError::new(
                offset,
                ParseErrorKind::InvalidRegex {
                    detail: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                },
            )
        })
}

/// Writes the textual form CloudWatch compares a JSON number against
/// (serde_json's rendering) into `buf`, returning it.
pub(crate) fn number_text<'a>(n: &serde_json::Number, buf: &'a mut String) -> &'a str {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{n}");
    buf.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_grammar() {
        for ok in [
            "0", "400", "+1000", "-1", "55.5", "10e3", "10e-3", "1e+3", "1.5E7",
        ] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "1.",
            ".5",
            "1e",
            "abc",
            "123.123.*",
            "inf",
            "NaN",
            "1_000",
            "0x10",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
        assert_eq!(parse_number("+1000"), Some(1000.0));
        assert_eq!(parse_number("10e-3"), Some(0.01));
    }

    #[test]
    fn split_apache_line() {
        let mut v = Vec::new();
        split_fields(
            "127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534",
            &mut v,
        );
        assert_eq!(
            v,
            [
                "127.0.0.1",
                "Prod",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /index.html HTTP/1.0",
                "404",
                "1534"
            ]
        );
        split_fields("  a\t b  [unclosed x", &mut v);
        assert_eq!(v, ["a", "b", "unclosed x"]);
        split_fields("", &mut v);
        assert!(v.is_empty());
    }

    #[test]
    fn regex_rules() {
        assert_eq!(translate_regex("a\\.b", 0).unwrap(), "a\\x2Eb");
        assert!(translate_regex("\\d{1,3}\\.\\d{1,3}", 0).is_ok());
        let e = translate_regex("something!", 5).unwrap_err();
        assert_eq!(e.position, 14);
        assert!(matches!(e.kind, ParseErrorKind::RegexSymbol { ch: '!' }));
        let e = translate_regex("a(b)", 0).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::RegexGrouping { ch: '(' }));
        assert!(matches!(
            translate_regex("é", 0).unwrap_err().kind,
            ParseErrorKind::RegexMultiByte { .. }
        ));
        assert!(matches!(
            translate_regex("\\q", 0).unwrap_err().kind,
            ParseErrorKind::RegexEscape { ch: 'q' }
        ));
        assert!(compile_regex("a{2,1}", 0).is_err());
    }
}
