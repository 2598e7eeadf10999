//! Messages as the API sees them: message attributes with their checks, the MD5 digests SDKs
//! verify (`MD5OfMessageBody`, `MD5OfMessageAttributes`), and the body's allowed characters.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::SqsError;
use crate::error::invalid_param;

/// One message attribute (`DataType` is `String`, `Number` or `Binary`, optionally followed by
/// `.` and a custom label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttribute {
    /// `String`, `Number` or `Binary`, with an optional `.label`.
    pub data_type: String,
    /// The value of a `String` or `Number` attribute.
    pub string_value: Option<String>,
    /// The value of a `Binary` attribute.
    pub binary_value: Option<Vec<u8>>,
}

/// Message attributes by name.
pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

/// Most message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;

impl MessageAttribute {
    fn is_binary(&self) -> bool {
        self.data_type.starts_with("Binary")
    }

    /// The bytes of the value.
    fn value(&self) -> &[u8] {
        if self.is_binary() {
            self.binary_value.as_deref().unwrap_or_default()
        } else {
            self.string_value.as_deref().unwrap_or_default().as_bytes()
        }
    }

    /// The size SQS counts against the message size: name, type and value.
    pub fn size(&self, name: &str) -> usize {
        name.len() + self.data_type.len() + self.value().len()
    }
}

/// Checks message attributes as SQS does.
pub fn check_attributes(attrs: &MessageAttributes) -> Result<(), SqsError> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(invalid_param(
            "MessageAttributes",
            attrs.len(),
            "Number of message attributes exceeds the allowed 10.",
        ));
    }
    for (name, a) in attrs {
        let name_ok = !name.is_empty()
            && name.len() <= 256
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !name.to_ascii_lowercase().starts_with("aws.")
            && !name.to_ascii_lowercase().starts_with("amazon.")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(invalid_param(
                "MessageAttribute.Name",
                name,
                "Message attribute names may hold letters, digits, '_', '-' and '.', at most 256, \
                 not start or end with '.', hold '..', or start with AWS. or Amazon.",
            ));
        }
        let base = a.data_type.split('.').next().unwrap_or_default();
        if !matches!(base, "String" | "Number" | "Binary") || a.data_type.len() > 256 {
            return Err(invalid_param(
                &format!("MessageAttributes.{name}.DataType"),
                &a.data_type,
                "The type of message attribute must be String, Number or Binary.",
            ));
        }
        let has_value = match base {
            "Binary" => a.binary_value.as_ref().is_some_and(|v| !v.is_empty()),
            _ => a.string_value.as_ref().is_some_and(|v| !v.is_empty()),
        };
        if !has_value {
            return Err(invalid_param(
                &format!("MessageAttributes.{name}"),
                "",
                "A message attribute must have a non-empty value of its type.",
            ));
        }
        if base == "Number" {
            let v = a.string_value.as_deref().unwrap_or_default();
            if v.parse::<f64>().is_err() {
                return Err(invalid_param(
                    &format!("MessageAttributes.{name}.StringValue"),
                    v,
                    "Number values must be numbers.",
                ));
            }
        }
        if let Some(s) = &a.string_value
            && !valid_text(s)
        {
            return Err(SqsError::InvalidMessageContents);
        }
    }
    Ok(())
}

/// Whether every character is one SQS accepts in a message.
pub fn valid_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    })
}

/// `MD5OfMessageBody`: the hex MD5 of the body's bytes.
pub fn md5_of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// `MD5OfMessageAttributes`, as SQS documents it: for each attribute in name order, the
/// length-prefixed (4 bytes, big endian) name and data type, a transport byte (1 for string
/// values, 2 for binary), and the length-prefixed value. `None` without attributes.
pub fn md5_of_attributes(attrs: &MessageAttributes) -> Option<String> {
    fn field(h: &mut Md5, bytes: &[u8]) {
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(bytes);
    }
    if attrs.is_empty() {
        return None;
    }
    let mut h = Md5::new();
    for (name, a) in attrs {
        field(&mut h, name.as_bytes());
        field(&mut h, a.data_type.as_bytes());
        h.update([if a.is_binary() { 2 } else { 1 }]);
        field(&mut h, a.value());
    }
    Some(hex::encode(h.finalize()))
}
