//! One response tree, two renderings: the query protocol's XML for the client and the
//! camelCase JSON of CloudTrail's `responseElements` for the audit record (where secrets are
//! left out, as AWS leaves out `secretAccessKey` and `sessionToken`).

use cairn_s3wire::xml::escape;
use serde_json::{Map, Value};

/// A response value.
#[derive(Debug, Clone)]
pub enum Node {
    /// Text.
    Text(String),
    /// Text the client gets but the audit record never shows.
    Secret(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A structure: members in order, PascalCase names as in the AWS model.
    Struct(Vec<(&'static str, Node)>),
    /// A list (`<member>` elements).
    List(Vec<Node>),
}

impl Node {
    /// Text from anything string-like.
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    /// An empty structure (operations without a result).
    pub fn empty() -> Self {
        Self::Struct(Vec::new())
    }

    fn is_empty_struct(&self) -> bool {
        matches!(self, Self::Struct(m) if m.is_empty())
    }

    fn xml_into(&self, out: &mut String) {
        match self {
            Self::Text(s) | Self::Secret(s) => out.push_str(&escape(s)),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => out.push_str(&i.to_string()),
            Self::Struct(members) => {
                for (name, v) in members {
                    out.push('<');
                    out.push_str(name);
                    out.push('>');
                    v.xml_into(out);
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
            }
            Self::List(items) => {
                for v in items {
                    out.push_str("<member>");
                    v.xml_into(out);
                    out.push_str("</member>");
                }
            }
        }
    }

    /// The audit rendering: camelCase member names, secrets omitted.
    pub fn audit_json(&self) -> Value {
        match self {
            Self::Text(s) => Value::String(s.clone()),
            Self::Secret(_) => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Struct(members) => {
                let mut m = Map::new();
                for (name, v) in members {
                    if matches!(v, Self::Secret(_)) {
                        continue;
                    }
                    m.insert(camel(name), v.audit_json());
                }
                Value::Object(m)
            }
            Self::List(items) => Value::Array(items.iter().map(Node::audit_json).collect()),
        }
    }
}

fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `<{Op}Response xmlns=...><{Op}Result>...</{Op}Result><ResponseMetadata>...`; the result
/// element is left out for operations that return nothing.
pub fn success_xml(namespace: &str, operation: &str, result: &Node, request_id: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<{operation}Response xmlns=\"{namespace}\">"));
    if !result.is_empty_struct() {
        out.push_str(&format!("<{operation}Result>"));
        result.xml_into(&mut out);
        out.push_str(&format!("</{operation}Result>"));
    }
    out.push_str("<ResponseMetadata><RequestId>");
    out.push_str(&escape(request_id));
    out.push_str(&format!(
        "</RequestId></ResponseMetadata></{operation}Response>"
    ));
    out
}

/// AWS's query-protocol `ErrorResponse`.
pub fn error_xml(
    namespace: &str,
    code: &str,
    message: &str,
    sender: bool,
    request_id: &str,
) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>"
    ));
    out.push_str(if sender { "Sender" } else { "Receiver" });
    out.push_str("</Type><Code>");
    out.push_str(&escape(code));
    out.push_str("</Code><Message>");
    out.push_str(&escape(message));
    out.push_str("</Message></Error><RequestId>");
    out.push_str(&escape(request_id));
    out.push_str("</RequestId></ErrorResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_audit_renderings() {
        let n = Node::Struct(vec![(
            "AccessKey",
            Node::Struct(vec![
                ("UserName", Node::text("a<b")),
                ("AccessKeyId", Node::text("AKIAX")),
                ("SecretAccessKey", Node::Secret("s3cr3t".into())),
                ("Tags", Node::List(vec![Node::Int(1), Node::Bool(true)])),
            ]),
        )]);
        let xml = success_xml("urn:x", "CreateAccessKey", &n, "rid");
        assert!(xml.contains("<CreateAccessKeyResult><AccessKey><UserName>a&lt;b</UserName>"));
        assert!(xml.contains("<SecretAccessKey>s3cr3t</SecretAccessKey>"));
        assert!(xml.contains("<Tags><member>1</member><member>true</member></Tags>"));
        let j = n.audit_json().to_string();
        assert!(!j.contains("s3cr3t") && !j.contains("secretAccessKey"));
        assert!(j.contains(r#""accessKey":{"userName":"a<b","accessKeyId":"AKIAX""#));
        let empty = success_xml("urn:x", "DeleteUser", &Node::empty(), "rid");
        assert!(!empty.contains("DeleteUserResult"));
        let e = error_xml("urn:x", "NoSuchEntity", "x & y", true, "rid");
        assert!(
            e.contains("<Type>Sender</Type><Code>NoSuchEntity</Code><Message>x &amp; y</Message>")
        );
    }
}
