//! A small XML tree for AWS responses (S3 REST-XML, IAM/STS/SNS query). Element names are
//! kept without their namespace prefix and namespaces are ignored, so
//! `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` and a prefixed
//! `<s3:Name>` read the same.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// One element: local name, its text (concatenated, unescaped) and children in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Text content directly inside this element.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    #[must_use]
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    #[must_use]
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Follows a path of child names.
    #[must_use]
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for n in names {
            cur = cur.child(n)?;
        }
        Some(cur)
    }

    /// Every descendant (depth first) named `name`, self included.
    #[must_use]
    pub fn descendants(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if e.name == name {
                out.push(e);
            }
            for c in e.children.iter().rev() {
                stack.push(c);
            }
        }
        out
    }
}

fn local(name: &[u8]) -> String {
    let n = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(n).into_owned()
}

/// Parses a document and returns its root element.
///
/// # Errors
/// A message when the input is not well-formed XML or has no root element.
pub fn parse(input: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("malformed XML: {e}")),
            Ok(Event::Start(s)) => stack.push(Element {
                name: local(s.name().as_ref()),
                ..Element::default()
            }),
            Ok(Event::Empty(s)) => {
                let e = Element {
                    name: local(s.name().as_ref()),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None => root = Some(e),
                }
            }
            Ok(Event::End(_)) => {
                let Some(e) = stack.pop() else {
                    return Err("malformed XML: unbalanced end tag".into());
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(e),
                    None => root = Some(e),
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.decode().map_err(|e| format!("malformed XML text: {e}"))?;
                    top.text.push_str(
                        &quick_xml::escape::unescape(&s)
                            .map_err(|e| format!("malformed XML text: {e}"))?,
                    );
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some(top) = stack.last_mut() {
                    let name = r.decode().map_err(|e| format!("malformed XML: {e}"))?;
                    let entity = format!("&{name};");
                    top.text.push_str(
                        &quick_xml::escape::unescape(&entity)
                            .map_err(|e| format!("malformed XML entity: {e}"))?,
                    );
                }
            }
            Ok(Event::CData(c)) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
        buf.clear();
    }
    root.ok_or_else(|| "empty XML document".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_prefixes_are_ignored() {
        let doc = br#"<?xml version="1.0"?>
<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Status>Enabled</Status><s3:MfaDelete xmlns:s3="x">Disabled</s3:MfaDelete>
</VersioningConfiguration>"#;
        let e = parse(doc).unwrap();
        assert_eq!(e.name, "VersioningConfiguration");
        assert_eq!(e.child_text("Status"), Some("Enabled"));
        assert_eq!(e.child_text("MfaDelete"), Some("Disabled"));
    }

    #[test]
    fn entities_are_unescaped_and_empty_elements_kept() {
        let e = parse(b"<a><b>x &amp; y &lt;z&gt;</b><c/></a>").unwrap();
        assert_eq!(e.child_text("b"), Some("x & y <z>"));
        assert!(e.child("c").is_some());
        assert!(parse(b"<a><b></a>").is_err());
    }
}
