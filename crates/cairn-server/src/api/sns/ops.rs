//! One function per served SNS action, over `cairn-monitor`.
//!
//! Every call is authorized with [`crate::authz::authorize`]: action `sns:<Action>`, the
//! topic's ARN as resource (ListTopics, ListSubscriptions: `*`), the topic's owner as
//! resource account and the topic's `Policy` as resource policy. A refusal is SNS's
//! `AuthorizationError` (403). ConfirmSubscription is authorized by its token, as in SNS.

use std::collections::BTreeMap;

use cairn_monitor::{
    Monitor, OutboundNotification, Protocol, PublishInput, SnsError, SubscribeRequest,
    Subscription, SubscriptionInfo,
};
use http::StatusCode;
use serde_json::{Value, json};

use super::SnsReply;
use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::error::ApiError;
use crate::iam::api::QueryRequest;
use crate::iam::wire::Node;
use crate::state::AppState;

/// Items per page of the List actions (SNS's page size).
const PAGE: usize = 100;

/// One SNS call, as the operations see it.
pub(crate) struct SnsCall<'a> {
    /// The server.
    pub(crate) state: &'a AppState,
    /// Who called.
    pub(crate) caller: &'a Caller,
    /// The policy environment.
    pub(crate) env: Environment,
    /// The parsed request.
    pub(crate) req: &'a QueryRequest,
    /// `<scheme>://<host>` Cairn is reached at.
    pub(crate) base: &'a str,
}

/// A result and the notifications it stored (to deliver now).
type Outcome = (SnsReply, Vec<OutboundNotification>);

fn missing(name: &str) -> ApiError {
    ApiError::client(
        "InvalidParameter",
        format!("Invalid parameter: {name} is required"),
    )
}

fn sns(e: cairn_monitor::MonitorError) -> ApiError {
    SnsError(e).into()
}

impl SnsCall<'_> {
    fn monitor(&self) -> &Monitor {
        &self.state.monitor
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.req.params.get(name).map(String::as_str)
    }

    fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(name))
    }

    /// `{prefix}.entry.N.{key}` / `.{value}` pairs (Attributes maps) or `{prefix}.member.N.*`
    /// (Tags), in N order.
    fn pairs(&self, prefix: &str, list: &str, key: &str, value: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for n in 1.. {
            let k = format!("{prefix}.{list}.{n}.{key}");
            let Some(name) = self.opt(&k) else {
                break;
            };
            let v = self
                .opt(&format!("{prefix}.{list}.{n}.{value}"))
                .unwrap_or("");
            out.insert(name.to_owned(), v.to_owned());
        }
        out
    }

    /// `{prefix}.member.N` values.
    fn members(&self, prefix: &str) -> Vec<String> {
        (1..)
            .map_while(|n| self.opt(&format!("{prefix}.member.{n}")).map(str::to_owned))
            .collect()
    }

    /// `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue`.
    fn message_attributes(&self) -> Result<BTreeMap<String, (String, String)>, ApiError> {
        let mut out = BTreeMap::new();
        for n in 1.. {
            let p = format!("MessageAttributes.entry.{n}");
            let Some(name) = self.opt(&format!("{p}.Name")) else {
                break;
            };
            let ty = self
                .opt(&format!("{p}.Value.DataType"))
                .ok_or_else(|| missing(&format!("{p}.Value.DataType")))?;
            let value = self
                .opt(&format!("{p}.Value.StringValue"))
                .or_else(|| self.opt(&format!("{p}.Value.BinaryValue")))
                .unwrap_or("");
            out.insert(name.to_owned(), (ty.to_owned(), value.to_owned()));
        }
        Ok(out)
    }

    /// Authorizes `sns:<Action>` on `topic_arn` with its policy.
    fn authorize_topic(&self, topic_arn: &str) -> Result<(), ApiError> {
        let owner = self
            .monitor()
            .topic_owner(topic_arn)
            .map_err(sns)?
            .unwrap_or_else(|| self.caller.account.clone());
        let text = self.monitor().topic_policy(topic_arn).map_err(sns)?;
        let policy = text
            .as_deref()
            .map(cairn_policy::Policy::parse)
            .transpose()
            .map_err(|e| ApiError::internal(format!("topic {topic_arn} policy: {e}")))?;
        let action = format!("sns:{}", self.req.action);
        let mut access = Access::new(&action, topic_arn);
        access.resource_account = Some(&owner);
        access.resource_policy = policy.as_ref().map(|p| ("topic-policy", p));
        self.check(&access)
    }

    /// Authorizes an action without a topic (`*`).
    fn authorize_account(&self) -> Result<(), ApiError> {
        let action = format!("sns:{}", self.req.action);
        self.check(&Access::new(&action, "*"))
    }

    fn check(&self, access: &Access<'_>) -> Result<(), ApiError> {
        crate::authz::authorize(self.state, self.caller, &self.env, access).map_err(|d| {
            ApiError::with_status(StatusCode::FORBIDDEN, "AuthorizationError", d.message)
        })
    }

    /// The topic of a subscription ARN, after authorizing the call on it.
    fn authorized_subscription(&self) -> Result<SubscriptionInfo, ApiError> {
        let arn = self.param("SubscriptionArn")?;
        let topic = arn.rsplit_once(':').map_or(arn, |(t, _)| t);
        self.authorize_topic(topic)?;
        self.monitor().subscription(arn).map_err(sns)
    }
}

fn reply(action: &str, node: Node, audit: Value) -> SnsReply {
    SnsReply {
        action: action.to_owned(),
        node,
        audit,
    }
}

fn same(action: &str, node: Node) -> SnsReply {
    let audit = node.audit_json();
    reply(action, node, audit)
}

fn entries(map: &BTreeMap<String, String>) -> Node {
    Node::Struct(
        map.iter()
            .map(|(k, v)| {
                (
                    "entry",
                    Node::Struct(vec![("key", Node::text(k)), ("value", Node::text(v))]),
                )
            })
            .collect(),
    )
}

fn tags(map: &BTreeMap<String, String>) -> Node {
    Node::List(
        map.iter()
            .map(|(k, v)| Node::Struct(vec![("Key", Node::text(k)), ("Value", Node::text(v))]))
            .collect(),
    )
}

/// The reply of ConfirmSubscription.
pub(crate) fn confirmed_reply(arn: String) -> SnsReply {
    same(
        "ConfirmSubscription",
        Node::Struct(vec![("SubscriptionArn", Node::text(arn))]),
    )
}

/// A page of `items` from `NextToken` (an offset), and the next token.
fn page<T: Clone>(c: &SnsCall<'_>, items: &[T]) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match c.opt("NextToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::client("InvalidParameter", "Invalid parameter: NextToken"))?,
    };
    let end = (start + PAGE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.get(start..end).unwrap_or(&[]).to_vec(), next))
}

fn subscription_node(s: &SubscriptionInfo) -> Node {
    let arn = if s.confirmed {
        s.arn.clone()
    } else {
        "PendingConfirmation".to_owned()
    };
    let owner = if s.owner.is_empty() {
        s.topic_arn.split(':').nth(4).unwrap_or("").to_owned()
    } else {
        s.owner.clone()
    };
    Node::Struct(vec![
        ("SubscriptionArn", Node::text(arn)),
        ("Owner", Node::text(owner)),
        ("Protocol", Node::text(s.protocol.as_str())),
        ("Endpoint", Node::text(&s.endpoint)),
        ("TopicArn", Node::text(&s.topic_arn)),
    ])
}

fn list_reply(
    action: &str,
    member: &'static str,
    items: Vec<Node>,
    next: Option<String>,
) -> SnsReply {
    let mut fields = vec![(member, Node::List(items))];
    if let Some(t) = next {
        fields.push(("NextToken", Node::text(t)));
    }
    same(action, Node::Struct(fields))
}

/// Runs one SNS action.
pub(crate) fn execute(c: &SnsCall<'_>) -> Result<Outcome, ApiError> {
    let action = c.req.action.as_str();
    let none = Vec::new;
    Ok(match action {
        "CreateTopic" => (create_topic(c)?, none()),
        "DeleteTopic" => {
            let arn = c.param("TopicArn")?;
            c.authorize_topic(arn)?;
            c.monitor().delete_topic(arn).map_err(sns)?;
            (same(action, Node::empty()), none())
        }
        "ListTopics" => {
            c.authorize_account()?;
            let all = c
                .monitor()
                .list_topics(&c.caller.account, &c.caller.region)
                .map_err(sns)?;
            let (items, next) = page(c, &all)?;
            let items = items
                .into_iter()
                .map(|a| Node::Struct(vec![("TopicArn", Node::text(a))]))
                .collect();
            (list_reply(action, "Topics", items, next), none())
        }
        "GetTopicAttributes" => {
            let arn = c.param("TopicArn")?;
            c.authorize_topic(arn)?;
            let attrs = c.monitor().get_topic_attributes(arn).map_err(sns)?;
            let node = Node::Struct(vec![("Attributes", entries(&attrs))]);
            (reply(action, node, Value::Null), none())
        }
        "SetTopicAttributes" => {
            let arn = c.param("TopicArn")?;
            c.authorize_topic(arn)?;
            let name = c.param("AttributeName")?;
            let value = c.opt("AttributeValue").unwrap_or("");
            c.monitor()
                .set_topic_attribute(arn, name, value)
                .map_err(sns)?;
            (same(action, Node::empty()), none())
        }
        "Subscribe" => subscribe(c)?,
        "ConfirmSubscription" => {
            let arn = c
                .monitor()
                .confirm_subscription(c.param("TopicArn")?, c.param("Token")?)
                .map_err(sns)?;
            (confirmed_reply(arn), none())
        }
        "Unsubscribe" => {
            let s = c.authorized_subscription()?;
            c.monitor().unsubscribe(&s.arn).map_err(sns)?;
            (same(action, Node::empty()), none())
        }
        "ListSubscriptions" => {
            c.authorize_account()?;
            let all = c
                .monitor()
                .list_account_subscriptions(&c.caller.account)
                .map_err(sns)?;
            let (items, next) = page(c, &all)?;
            let items = items.iter().map(subscription_node).collect();
            (list_reply(action, "Subscriptions", items, next), none())
        }
        "ListSubscriptionsByTopic" => {
            let arn = c.param("TopicArn")?;
            c.authorize_topic(arn)?;
            if c.monitor().topic_policy(arn).map_err(sns)?.is_some() {
                let all = c.monitor().list_subscriptions(arn).map_err(sns)?;
                let (items, next) = page(c, &all)?;
                let items = items.iter().map(subscription_node).collect();
                (list_reply(action, "Subscriptions", items, next), none())
            } else {
                return Err(ApiError::with_status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("Topic does not exist: {arn}"),
                ));
            }
        }
        "GetSubscriptionAttributes" => {
            let s = c.authorized_subscription()?;
            let attrs = c
                .monitor()
                .get_subscription_attributes(&s.arn)
                .map_err(sns)?;
            let node = Node::Struct(vec![("Attributes", entries(&attrs))]);
            (reply(action, node, Value::Null), none())
        }
        "SetSubscriptionAttributes" => {
            let s = c.authorized_subscription()?;
            let name = c.param("AttributeName")?;
            let value = c.opt("AttributeValue").unwrap_or("");
            c.monitor()
                .set_subscription_attribute(&s.arn, name, value)
                .map_err(sns)?;
            (same(action, Node::empty()), none())
        }
        "Publish" => publish(c)?,
        "TagResource" | "UntagResource" | "ListTagsForResource" => (tagging(c)?, none()),
        other if super::NOT_SERVED.contains(&other) => {
            return Err(ApiError::client(
                "NotImplemented",
                format!("the SNS action {other} is not implemented by this Cairn server"),
            ));
        }
        other => {
            return Err(ApiError::client(
                "InvalidAction",
                format!("Could not find operation {other} for version 2010-03-31"),
            ));
        }
    })
}

fn create_topic(c: &SnsCall<'_>) -> Result<SnsReply, ApiError> {
    let name = c.param("Name")?;
    let arn = format!(
        "arn:aws:sns:{}:{}:{name}",
        c.caller.region, c.caller.account
    );
    c.check(&Access::new("sns:CreateTopic", &arn))?;
    if name.ends_with(".fifo")
        || c.pairs("Attributes", "entry", "key", "value")
            .contains_key("FifoTopic")
    {
        return Err(ApiError::client(
            "NotImplemented",
            "FIFO topics are not implemented by this Cairn server",
        ));
    }
    let attrs = c.pairs("Attributes", "entry", "key", "value");
    let tags = c.pairs("Tags", "member", "Key", "Value");
    let arn = c
        .monitor()
        .create_topic_with(&c.caller.account, &c.caller.region, name, &attrs, &tags)
        .map_err(sns)?;
    Ok(same(
        "CreateTopic",
        Node::Struct(vec![("TopicArn", Node::text(arn))]),
    ))
}

fn subscribe(c: &SnsCall<'_>) -> Result<Outcome, ApiError> {
    let topic = c.param("TopicArn")?;
    c.authorize_topic(topic)?;
    let protocol_name = c.param("Protocol")?;
    let Some(protocol) = Protocol::parse(protocol_name) else {
        return Err(ApiError::client(
            "InvalidParameter",
            format!(
                "Invalid parameter: Protocol `{protocol_name}` (served: http, https, email, sqs, webhook-slack, webhook-json)"
            ),
        ));
    };
    let req = SubscribeRequest {
        account: &c.caller.account,
        topic_arn: topic,
        sub: Subscription {
            protocol,
            endpoint: c.param("Endpoint")?.to_owned(),
        },
        attributes: c.pairs("Attributes", "entry", "key", "value"),
        url_base: c.base,
    };
    let s = c.monitor().subscribe_api(&req).map_err(sns)?;
    let shown = if s.confirmed || c.opt("ReturnSubscriptionArn") == Some("true") {
        s.arn.clone()
    } else {
        "pending confirmation".to_owned()
    };
    let node = Node::Struct(vec![("SubscriptionArn", Node::text(shown))]);
    Ok((
        same("Subscribe", node),
        s.confirmation.into_iter().collect(),
    ))
}

fn publish(c: &SnsCall<'_>) -> Result<Outcome, ApiError> {
    let topic = match c.opt("TopicArn").or_else(|| c.opt("TargetArn")) {
        Some(t) if !t.is_empty() => t,
        _ => return Err(missing("TopicArn or TargetArn")),
    };
    c.authorize_topic(topic)?;
    if c.opt("MessageStructure") == Some("json") {
        return Err(ApiError::client(
            "NotImplemented",
            "MessageStructure=json is not implemented by this Cairn server",
        ));
    }
    let input = PublishInput {
        subject: c.opt("Subject").unwrap_or("").to_owned(),
        message: c
            .opt("Message")
            .map(str::to_owned)
            .ok_or_else(|| missing("Message"))?,
        attributes: c.message_attributes()?,
    };
    let (id, notes) = c.monitor().publish_message(topic, &input).map_err(sns)?;
    let node = Node::Struct(vec![("MessageId", Node::text(id))]);
    Ok((same("Publish", node), notes))
}

fn tagging(c: &SnsCall<'_>) -> Result<SnsReply, ApiError> {
    let arn = c.param("ResourceArn")?;
    c.authorize_topic(arn)?;
    let action = c.req.action.as_str();
    let m = c.monitor();
    Ok(match action {
        "TagResource" => {
            let add = c.pairs("Tags", "member", "Key", "Value");
            m.tag_topic(arn, &add, &[]).map_err(sns)?;
            same(action, Node::empty())
        }
        "UntagResource" => {
            m.tag_topic(arn, &BTreeMap::new(), &c.members("TagKeys"))
                .map_err(sns)?;
            same(action, Node::empty())
        }
        _ => {
            let t = m.list_topic_tags(arn).map_err(sns)?;
            let audit = json!({"tags": t});
            reply(action, Node::Struct(vec![("Tags", tags(&t))]), audit)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_render_as_sns_maps() {
        let m: BTreeMap<String, String> = [("Policy".to_string(), "{}".to_string())].into();
        let xml = crate::iam::wire::success_xml(
            "urn:x",
            "GetTopicAttributes",
            &Node::Struct(vec![("Attributes", entries(&m))]),
            "r",
        );
        assert!(
            xml.contains(
                "<Attributes><entry><key>Policy</key><value>{}</value></entry></Attributes>"
            ),
            "{xml}"
        );
    }
}
