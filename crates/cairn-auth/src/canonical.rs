//! Canonical request and string to sign, shared by the verifier and the signer.
//!
//! Rules (AWS "Create a signed AWS API request", the SigV4 test suite, botocore `auth.py`):
//!
//! * URI: for every service but S3 the raw path gets dot-segment removal and consecutive slash
//!   collapsing, then is URI-encoded *as is* (so an already percent-encoded path is encoded a
//!   second time). For S3 the path is not normalised and is encoded once: percent-escapes are
//!   decoded and the bytes re-encoded (an encoded slash `%2F` stays `%2F`).
//! * Query: `&`-separated pairs split at the first `=`, decoded (`+` is a literal plus), then
//!   URI-encoded (`/` too) and sorted by encoded name, then encoded value.
//! * Headers: lowercase names, values trimmed with inner runs of spaces/tabs collapsed, repeated
//!   headers joined with `,` in arrival order.

use sha2::{Digest, Sha256};

/// The hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn push_encoded(out: &mut String, b: u8, encode_slash: bool) {
    if is_unreserved(b) || (b == b'/' && !encode_slash) {
        out.push(char::from(b));
    } else {
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 15)]));
    }
}

/// AWS `UriEncode`: every byte but `A-Za-z0-9-_.~` (and `/` unless `encode_slash`) as `%XX`.
pub fn uri_encode(out: &mut String, input: &[u8], encode_slash: bool) {
    for &b in input {
        push_encoded(out, b, encode_slash);
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte of a well-formed `%XX` escape at `b[i]`.
fn escaped_byte(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'%') {
        return None;
    }
    let h = hex_val(*b.get(i + 1)?)?;
    let l = hex_val(*b.get(i + 2)?)?;
    Some(h << 4 | l)
}

/// Percent-decodes; malformed escapes are kept literally. `+` is not a space.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if let Some(v) = escaped_byte(input, i) {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// botocore's `remove_dot_segments`: RFC 3986 §5.2.4 plus removal of empty segments.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segs.join("/"));
    if path.ends_with('/') && !segs.is_empty() {
        out.push('/');
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical URI of a raw request path.
pub fn canonical_uri(out: &mut String, raw_path: &str, s3: bool) {
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    if s3 {
        let b = raw_path.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if let Some(v) = escaped_byte(b, i) {
                if v == b'/' {
                    out.push_str("%2F");
                } else {
                    push_encoded(out, v, false);
                }
                i += 3;
                continue;
            }
            push_encoded(out, b[i], false);
            i += 1;
        }
    } else {
        uri_encode(out, normalize_path(raw_path).as_bytes(), false);
    }
}

/// Splits a raw query string into decoded `(name, value)` pairs, in order.
#[must_use]
pub fn parse_query(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k.as_bytes()), percent_decode(v.as_bytes()))
        })
        .collect()
}

/// The canonical query string from decoded pairs, leaving out names for which `skip` is true.
pub fn canonical_query<'a>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    skip: impl Fn(&[u8]) -> bool,
) {
    let mut enc: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| !skip(k))
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            uri_encode(&mut ek, k, true);
            let mut ev = String::with_capacity(v.len());
            uri_encode(&mut ev, v, true);
            (ek, ev)
        })
        .collect();
    enc.sort_unstable();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Appends a header value trimmed, with inner runs of spaces and tabs collapsed to one space.
fn push_header_value(out: &mut String, value: &str) {
    let mut first = true;
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// Writes the canonical headers block (each `name:value\n`) for the signed header names, in
/// the given order. Returns the first signed name absent from `headers`, if any.
pub fn canonical_headers<'h>(
    out: &mut String,
    signed: &[&'h str],
    headers: &[(&str, &str)],
) -> Result<(), &'h str> {
    for &name in signed {
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for (n, v) in headers {
            if n.eq_ignore_ascii_case(name) {
                if found {
                    out.push(',');
                }
                push_header_value(out, v);
                found = true;
            }
        }
        if !found {
            return Err(name);
        }
        out.push('\n');
    }
    Ok(())
}

/// The inputs of a canonical request other than the headers.
pub(crate) struct CanonicalInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub query: &'a [(Vec<u8>, Vec<u8>)],
    pub skip_signature_param: bool,
    pub s3: bool,
    pub signed_headers: &'a [&'a str],
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_hash: &'a str,
}

/// Builds the canonical request. `Err(name)` when a signed header is missing from the request.
pub(crate) fn canonical_request<'a>(input: &CanonicalInput<'a>) -> Result<String, &'a str> {
    let mut cr = String::with_capacity(512);
    cr.push_str(input.method);
    cr.push('\n');
    canonical_uri(&mut cr, input.raw_path, input.s3);
    cr.push('\n');
    let skip = input.skip_signature_param;
    canonical_query(
        &mut cr,
        input
            .query
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice())),
        |k| skip && k == b"X-Amz-Signature",
    );
    cr.push('\n');
    canonical_headers(&mut cr, input.signed_headers, input.headers)?;
    cr.push('\n');
    for (i, h) in input.signed_headers.iter().enumerate() {
        if i > 0 {
            cr.push(';');
        }
        cr.push_str(h);
    }
    cr.push('\n');
    cr.push_str(input.payload_hash);
    Ok(cr)
}

/// `AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hex(sha256(canonical_request))}`.
#[must_use]
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let digest = Sha256::digest(canonical_request.as_bytes());
    let mut s = String::with_capacity(64 + amz_date.len() + scope.len() + 64);
    s.push_str("AWS4-HMAC-SHA256\n");
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    s.push_str(&hex::encode(digest));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(p: &str, s3: bool) -> String {
        let mut s = String::new();
        canonical_uri(&mut s, p, s3);
        s
    }

    #[test]
    fn path_normalisation_cases() {
        for (input, want) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("//example//", "/example/"),
            ("/a/b/../c/./d/", "/a/c/d/"),
            ("/a/.", "/a"),
            ("/..", "/"),
            ("/example space/", "/example%20space/"),
            ("/ሴ", "/%E1%88%B4"),
            ("/%E1%88%B4", "/%25E1%2588%25B4"),
        ] {
            assert_eq!(uri(input, false), want, "{input}");
        }
    }

    #[test]
    fn s3_paths_are_encoded_once_and_not_normalised() {
        for (input, want) in [
            ("/test.txt", "/test.txt"),
            ("/test$file.text", "/test%24file.text"),
            ("/test%24file.text", "/test%24file.text"),
            ("//a/./b/../", "//a/./b/../"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%2fb", "/a%2Fb"),
            ("/%E1%88%B4", "/%E1%88%B4"),
            ("/ሴ", "/%E1%88%B4"),
            ("/a+b", "/a%2Bb"),
            ("/100%", "/100%25"),
            ("", "/"),
        ] {
            assert_eq!(uri(input, true), want, "{input}");
        }
    }

    #[test]
    fn query_canonicalisation() {
        let q = |raw: &str| {
            let pairs = parse_query(raw);
            let mut s = String::new();
            canonical_query(
                &mut s,
                pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
                |k| k == b"X-Amz-Signature",
            );
            s
        };
        assert_eq!(q(""), "");
        assert_eq!(
            q("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            q("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(q("c+d"), "c%2Bd=");
        assert_eq!(q("lifecycle"), "lifecycle=");
        assert_eq!(q("a=b%2fc&&x=%20"), "a=b%2Fc&x=%20");
        assert_eq!(q("ሴ=bar"), "%E1%88%B4=bar");
        assert_eq!(q("X-Amz-Signature=abc&b=1"), "b=1");
        // sorted by encoded name: `%` (0x25) sorts before letters
        assert_eq!(
            q("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
    }

    #[test]
    fn header_values() {
        let mut s = String::new();
        canonical_headers(
            &mut s,
            &["my-header1", "my-header2"],
            &[
                ("My-Header1", " value1"),
                ("My-Header2", " \"a   b   c\" "),
                ("my-header1", "v\t\t2"),
            ],
        )
        .unwrap();
        assert_eq!(s, "my-header1:value1,v 2\nmy-header2:\"a b c\"\n");
        assert_eq!(
            canonical_headers(&mut String::new(), &["host", "x"], &[("host", "h")]),
            Err("x")
        );
    }

    #[test]
    fn decode_keeps_bad_escapes() {
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(percent_decode(b"%41+"), b"A+");
    }
}
