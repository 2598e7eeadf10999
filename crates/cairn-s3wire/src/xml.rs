//! REST-XML for the S3 endpoint: a small writer for responses and a bounded parser of
//! request bodies into a tree (the bodies are untrusted; see the fuzz target `s3_xml`).

use std::fmt::Write;

/// S3's namespace.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Escapes text for element content.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Builds an XML document.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
    stack: Vec<&'static str>,
}

impl XmlWriter {
    /// A document whose root element carries S3's namespace.
    pub fn new(root: &'static str) -> Self {
        Self::start(root, &format!(" xmlns=\"{S3_NS}\""))
    }

    /// A document without a namespace (S3's `<Error>`).
    pub fn bare(root: &'static str) -> Self {
        Self::start(root, "")
    }

    /// The XML declaration and the open `root` element with `attrs`.
    fn start(root: &'static str, attrs: &str) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<{root}{attrs}>");
        Self {
            out,
            stack: vec![root],
        }
    }

    /// Opens a child element.
    pub fn open(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self.stack.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// `<name>text</name>`.
    pub fn elem(&mut self, name: &'static str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// `<name>text</name>` when `text` is `Some`.
    pub fn opt(&mut self, name: &'static str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(name, t);
        }
        self
    }

    /// Closes everything and returns the document.
    pub fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out
    }
}

/// A parsed element: local name, text content, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Concatenated text directly inside the element, trimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Largest request document accepted, and deepest nesting.
const MAX_DOC: usize = 1024 * 1024;
const MAX_DEPTH: usize = 32;

/// Parses a request body into its root element. Errors are S3's `MalformedXML` messages.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    use quick_xml::events::Event;
    if body.len() > MAX_DOC {
        return Err("the XML document is too large".into());
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let name_of = |raw: &[u8]| -> Result<String, String> {
        let local = raw.rsplit(|b| *b == b':').next().unwrap_or(raw);
        String::from_utf8(local.to_vec()).map_err(|_| "element name is not UTF-8".to_owned())
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("the XML you provided was not well-formed: {e}"))?;
        match ev {
            Event::Start(e) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("the XML document is nested too deeply".into());
                }
                stack.push(Element {
                    name: name_of(e.name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: name_of(e.name().as_ref())?,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("content after the root element".into()),
                }
            }
            Event::End(_) => {
                let mut el = stack.pop().ok_or("unbalanced end tag")?;
                el.text = el.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| format!("text is not valid: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                } else if !s.trim().is_empty() {
                    return Err("text outside the root element".into());
                }
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| format!("CDATA is not valid: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("bad reference: {e}"))?;
                let raw = format!("&{name};");
                let s = quick_xml::escape::unescape(&raw)
                    .map_err(|e| format!("bad entity reference: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            Event::DocType(_) => return Err("DTDs are not accepted".into()),
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML document ended inside an element".into());
    }
    root.ok_or_else(|| "the XML document is empty".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_escapes_and_closes() {
        let mut w = XmlWriter::new("ListBucketResult");
        w.elem("Name", "a<b&c").open("Contents").elem("Key", "k");
        let s = w.finish();
        assert!(s.ends_with(
            "<Name>a&lt;b&amp;c</Name><Contents><Key>k</Key></Contents></ListBucketResult>"
        ));
    }

    #[test]
    fn parser_reads_nested_documents() {
        let doc = br#"<?xml version="1.0"?>
<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Status>Enabled</Status><MfaDelete>Enabled</MfaDelete><X/>
  <Key>a&amp;b&#33;</Key>
</VersioningConfiguration>"#;
        let e = parse(doc).unwrap();
        assert_eq!(e.name, "VersioningConfiguration");
        assert_eq!(e.text_of("Status"), Some("Enabled"));
        assert_eq!(e.text_of("Key"), Some("a&b!"));
        assert!(e.child("X").is_some());
    }

    #[test]
    fn parser_rejects_malformed() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"text",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
