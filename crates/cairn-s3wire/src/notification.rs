//! S3 event notification configurations (`PutBucketNotificationConfiguration`): the request
//! document parsed and checked as S3 checks it, rendered back for
//! `GetBucketNotificationConfiguration`, and matched against an object event.
//!
//! Queue (`QueueConfiguration`) and topic (`TopicConfiguration`) destinations are modelled;
//! Lambda and EventBridge destinations are refused as not implemented.

use crate::xml::{Element, XmlWriter, parse};

/// Event types a configuration may name (S3's list, without the Lambda-only and
/// replication/restore/lifecycle families this server never emits).
pub const EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
];

/// Where matching events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An SQS queue ARN.
    Queue(String),
    /// An SNS topic ARN.
    Topic(String),
}

impl Destination {
    /// The ARN.
    pub fn arn(&self) -> &str {
        match self {
            Destination::Queue(a) | Destination::Topic(a) => a,
        }
    }
}

/// One configuration: a destination, its event types and its key filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `Id` (S3 makes one up when absent; so does [`NotificationConfiguration::parse`]).
    pub id: String,
    /// Where events go.
    pub destination: Destination,
    /// Event types, as given (e.g. `s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// The key must start with this.
    pub prefix: Option<String>,
    /// The key must end with this.
    pub suffix: Option<String>,
}

impl Rule {
    /// Whether this rule takes event `event` (e.g. `ObjectCreated:Put`) on `key`.
    pub fn matches(&self, event: &str, key: &str) -> bool {
        let named = self.events.iter().any(|e| {
            let e = e.strip_prefix("s3:").unwrap_or(e);
            e == event
                || e.strip_suffix('*')
                    .is_some_and(|family| event.starts_with(family))
        });
        named
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    fn overlaps(&self, other: &Rule) -> bool {
        let family = |e: &str| e.split(':').nth(1).unwrap_or_default().to_owned();
        let shares_event = self.events.iter().any(|a| {
            other.events.iter().any(|b| {
                a == b || (family(a) == family(b) && (a.ends_with('*') || b.ends_with('*')))
            })
        });
        let affix_overlaps = |a: &Option<String>, b: &Option<String>, starts: bool| match (a, b) {
            (Some(a), Some(b)) if starts => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            (Some(a), Some(b)) => a.ends_with(b.as_str()) || b.ends_with(a.as_str()),
            _ => true,
        };
        shares_event
            && affix_overlaps(&self.prefix, &other.prefix, true)
            && affix_overlaps(&self.suffix, &other.suffix, false)
    }
}

/// A bucket's notification configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationConfiguration {
    /// Its rules, queue configurations first, in document order.
    pub rules: Vec<Rule>,
}

/// Why a configuration was refused: S3's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `MalformedXML`, `InvalidArgument` or `NotImplemented`.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError {
        code: "InvalidArgument",
        message: message.into(),
    }
}

impl NotificationConfiguration {
    /// Parses and checks a `NotificationConfiguration` document. An empty document removes
    /// every rule, as in S3.
    pub fn parse(body: &[u8]) -> Result<NotificationConfiguration, ConfigError> {
        let root = parse(body).map_err(|message| ConfigError {
            code: "MalformedXML",
            message,
        })?;
        if root.name != "NotificationConfiguration" {
            return Err(ConfigError {
                code: "MalformedXML",
                message: "the root element must be NotificationConfiguration".into(),
            });
        }
        for unsupported in [
            "CloudFunctionConfiguration",
            "LambdaFunctionConfiguration",
            "EventBridgeConfiguration",
        ] {
            if root.child(unsupported).is_some() {
                return Err(ConfigError {
                    code: "NotImplemented",
                    message: format!("{unsupported} is not implemented by this Cairn server"),
                });
            }
        }
        let mut rules = Vec::new();
        for (element, arn_name, make) in [
            (
                "QueueConfiguration",
                "Queue",
                Destination::Queue as fn(String) -> Destination,
            ),
            ("TopicConfiguration", "Topic", Destination::Topic),
        ] {
            for c in root.children_named(element) {
                let n = rules.len() + 1;
                rules.push(rule(c, arn_name, make, n)?);
            }
        }
        for (i, a) in rules.iter().enumerate() {
            if rules[..i].iter().any(|b| b.id == a.id) {
                return Err(invalid(format!(
                    "the configuration id {} is used twice",
                    a.id
                )));
            }
            if rules[..i].iter().any(|b| b.overlaps(a)) {
                return Err(invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                ));
            }
        }
        Ok(NotificationConfiguration { rules })
    }

    /// The document `GetBucketNotificationConfiguration` returns.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new("NotificationConfiguration");
        for r in &self.rules {
            let (element, arn_name) = match r.destination {
                Destination::Queue(_) => ("QueueConfiguration", "Queue"),
                Destination::Topic(_) => ("TopicConfiguration", "Topic"),
            };
            w.open(element)
                .elem("Id", &r.id)
                .elem(arn_name, r.destination.arn());
            for e in &r.events {
                w.elem("Event", e);
            }
            if r.prefix.is_some() || r.suffix.is_some() {
                w.open("Filter").open("S3Key");
                for (name, value) in [("prefix", &r.prefix), ("suffix", &r.suffix)] {
                    if let Some(v) = value {
                        w.open("FilterRule")
                            .elem("Name", name)
                            .elem("Value", v)
                            .close();
                    }
                }
                w.close().close();
            }
            w.close();
        }
        w.finish()
    }

    /// The rules that take `event` (e.g. `ObjectCreated:Put`) on `key`.
    pub fn matching<'a>(&'a self, event: &'a str, key: &'a str) -> impl Iterator<Item = &'a Rule> {
        self.rules.iter().filter(move |r| r.matches(event, key))
    }
}

fn rule(
    c: &Element,
    arn_name: &str,
    make: fn(String) -> Destination,
    n: usize,
) -> Result<Rule, ConfigError> {
    let arn = c
        .text_of(arn_name)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid(format!("a {} needs a {arn_name} ARN", c.name)))?;
    let service = if arn_name == "Queue" { "sqs" } else { "sns" };
    if arn.split(':').nth(2) != Some(service) || arn.split(':').count() != 6 {
        return Err(invalid(format!(
            "{arn} is not an {} ARN",
            service.to_uppercase()
        )));
    }
    let events: Vec<String> = c.children_named("Event").map(|e| e.text.clone()).collect();
    if events.is_empty() {
        return Err(invalid("a configuration needs at least one Event"));
    }
    if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(invalid(format!(
            "The event is not supported for notifications: {bad}"
        )));
    }
    let (mut prefix, mut suffix) = (None, None);
    if let Some(key) = c.child("Filter").and_then(|f| f.child("S3Key")) {
        for fr in key.children_named("FilterRule") {
            let name = fr.text_of("Name").unwrap_or_default().to_ascii_lowercase();
            let value = fr.text_of("Value").unwrap_or_default().to_owned();
            let slot = match name.as_str() {
                "prefix" => &mut prefix,
                "suffix" => &mut suffix,
                _ => {
                    return Err(invalid(format!(
                        "filter rule name must be either prefix or suffix, not {name}"
                    )));
                }
            };
            if slot.replace(value).is_some() {
                return Err(invalid(format!(
                    "Cannot specify more than one {name} rule in a filter."
                )));
            }
        }
    }
    Ok(Rule {
        id: c
            .text_of("Id")
            .filter(|i| !i.is_empty())
            .map_or_else(|| format!("notification-{n}"), str::to_owned),
        destination: make(arn.to_owned()),
        events,
        prefix,
        suffix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "arn:aws:sqs:us-east-1:111111111111:collector";
    const T: &str = "arn:aws:sns:us-east-1:111111111111:alerts";

    fn doc(inner: &str) -> Vec<u8> {
        format!(
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{inner}</NotificationConfiguration>"
        )
        .into_bytes()
    }

    fn queue(id: &str, events: &[&str], filter: &str) -> String {
        let ev: String = events
            .iter()
            .map(|e| format!("<Event>{e}</Event>"))
            .collect();
        format!(
            "<QueueConfiguration><Id>{id}</Id><Queue>{Q}</Queue>{ev}{filter}</QueueConfiguration>"
        )
    }

    fn filter(prefix: &str, suffix: &str) -> String {
        format!(
            "<Filter><S3Key><FilterRule><Name>Prefix</Name><Value>{prefix}</Value></FilterRule>\
             <FilterRule><Name>suffix</Name><Value>{suffix}</Value></FilterRule></S3Key></Filter>"
        )
    }

    #[test]
    fn parses_matches_and_round_trips() {
        let body = doc(&format!(
            "{}<TopicConfiguration><Topic>{T}</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>",
            queue(
                "logs",
                &["s3:ObjectCreated:*"],
                &filter("AWSLogs/", ".json.gz")
            )
        ));
        let c = NotificationConfiguration::parse(&body).expect("valid");
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].prefix.as_deref(), Some("AWSLogs/"));
        assert_eq!(c.rules[1].id, "notification-2");
        let key = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/12/08/f.json.gz";
        let hit: Vec<&str> = c
            .matching("ObjectCreated:Put", key)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(hit, ["logs"]);
        assert_eq!(c.matching("ObjectCreated:Put", "AWSLogs/x.txt").count(), 0);
        assert_eq!(
            c.matching("ObjectCreated:Put", "other/f.json.gz").count(),
            0
        );
        assert_eq!(c.matching("ObjectRemoved:Delete", "anything").count(), 1);
        assert_eq!(c.matching("ObjectTagging:Put", key).count(), 0);
        let back = NotificationConfiguration::parse(c.to_xml().as_bytes()).expect("round trip");
        assert_eq!(back, c);
        let empty = NotificationConfiguration::parse(&doc("")).expect("empty clears");
        assert!(empty.rules.is_empty());
    }

    #[test]
    fn refuses_what_s3_refuses() {
        let cases = [
            (
                doc(&queue("a", &["s3:ObjectCreated:Nope"], "")),
                "InvalidArgument",
            ),
            (doc(&queue("a", &[], "")), "InvalidArgument"),
            (
                doc(&format!(
                    "{}{}",
                    queue("a", &["s3:ObjectCreated:*"], ""),
                    queue("b", &["s3:ObjectCreated:Put"], "")
                )),
                "InvalidArgument",
            ),
            (
                doc(&format!(
                    "{}{}",
                    queue("a", &["s3:ObjectCreated:*"], ""),
                    queue("a", &["s3:ObjectRemoved:*"], "")
                )),
                "InvalidArgument",
            ),
            (
                doc(
                    "<QueueConfiguration><Queue>arn:aws:sns:us-east-1:1:t</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>",
                ),
                "InvalidArgument",
            ),
            (
                doc(
                    "<LambdaFunctionConfiguration><CloudFunction>x</CloudFunction></LambdaFunctionConfiguration>",
                ),
                "NotImplemented",
            ),
            (b"<Other/>".to_vec(), "MalformedXML"),
            (b"<NotificationConfiguration>".to_vec(), "MalformedXML"),
        ];
        for (body, code) in cases {
            let e =
                NotificationConfiguration::parse(&body).expect_err(&String::from_utf8_lossy(&body));
            assert_eq!(
                e.code,
                code,
                "{}: {}",
                String::from_utf8_lossy(&body),
                e.message
            );
        }
        let two_prefixes = doc(&queue(
            "a",
            &["s3:ObjectCreated:*"],
            "<Filter><S3Key><FilterRule><Name>prefix</Name><Value>a</Value></FilterRule><FilterRule><Name>prefix</Name><Value>b</Value></FilterRule></S3Key></Filter>",
        ));
        assert!(NotificationConfiguration::parse(&two_prefixes).is_err());
    }

    #[test]
    fn disjoint_filters_on_one_event_type_may_coexist() {
        let body = doc(&format!(
            "{}{}",
            queue(
                "a",
                &["s3:ObjectCreated:*"],
                &filter("AWSLogs/", ".json.gz")
            ),
            queue("b", &["s3:ObjectCreated:*"], &filter("other/", ".json.gz"))
        ));
        NotificationConfiguration::parse(&body).expect("prefixes do not overlap");
    }
}
