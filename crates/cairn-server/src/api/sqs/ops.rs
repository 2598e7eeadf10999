//! One function per implemented SQS operation, over `cairn-sqs`.
//!
//! Every call is authorized with [`crate::authz::authorize`]: action `sqs:<Operation>`, the
//! queue's ARN as resource (ListQueues: `*`), the queue's owner as resource account, and the
//! queue's `Policy` as resource policy.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cairn_sqs::{
    MessageAttribute, MessageAttributes, QueueId, ReceiveOptions, Received, SendMessage, Sqs,
    SqsError,
};
use serde_json::{Map, Value, json};

use super::SqsReply;
use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::error::ApiError;
use crate::state::AppState;

/// One SQS call, as the operations see it.
pub(crate) struct SqsCall<'a> {
    /// The server.
    pub(crate) state: &'a AppState,
    /// Who called.
    pub(crate) caller: &'a Caller,
    /// The policy environment.
    pub(crate) env: Environment,
    /// The operation's name.
    pub(crate) op: &'static str,
    /// The request body.
    pub(crate) v: &'a Value,
    /// `<scheme>://<host>` of queue URLs.
    pub(crate) base: &'a str,
}

/// What one receive attempt of ReceiveMessage gave.
pub(crate) struct Polled {
    /// The answer, when messages came.
    pub(crate) reply: Option<SqsReply>,
    /// The queue.
    pub(crate) queue: QueueId,
    /// How long the call may wait for messages, seconds (known on the first attempt; 0 after).
    pub(crate) wait_secs: u32,
}

fn missing(member: &str) -> ApiError {
    SqsError::MissingParameter(member.to_owned()).into()
}

fn invalid(member: &str, why: &str) -> ApiError {
    SqsError::InvalidParameterValue {
        name: member.to_owned(),
        value: String::new(),
        reason: why.to_owned(),
    }
    .into()
}

fn opt_str<'v>(v: &'v Value, member: &str) -> Result<Option<&'v str>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(member, "must be a string")),
    }
}

fn req_str<'v>(v: &'v Value, member: &str) -> Result<&'v str, ApiError> {
    opt_str(v, member)?.ok_or_else(|| missing(member))
}

fn opt_u32(v: &Value, member: &str) -> Result<Option<u32>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_i64()
            .map(|n| u32::try_from(n).map_err(|_| invalid(member, "must not be negative")))
            .transpose()?
            .map(Some)
            .ok_or_else(|| invalid(member, "must be an integer")),
    }
}

fn string_map(v: &Value, member: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(invalid(member, "values must be strings")),
            })
            .collect(),
        Some(_) => Err(invalid(member, "must be a map of strings")),
    }
}

fn string_list(v: &Value, member: &str) -> Result<Vec<String>, ApiError> {
    match v.get(member) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(member, "must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(invalid(member, "must be a list of strings")),
    }
}

fn entries<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], ApiError> {
    let list = match v.get("Entries") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(invalid("Entries", "must be a list")),
    };
    let ids = list
        .iter()
        .map(|e| e.get("Id").and_then(Value::as_str).unwrap_or(""))
        .collect::<Vec<_>>();
    cairn_sqs::check_batch_ids(what, ids)?;
    Ok(list)
}

fn message_attributes(v: &Value) -> Result<MessageAttributes, ApiError> {
    let Some(m) = v.get("MessageAttributes").filter(|m| !m.is_null()) else {
        return Ok(MessageAttributes::new());
    };
    let m = m
        .as_object()
        .ok_or_else(|| invalid("MessageAttributes", "must be a map"))?;
    m.iter()
        .map(|(name, a)| {
            let binary = opt_str(a, "BinaryValue")?
                .map(|b| {
                    STANDARD
                        .decode(b)
                        .map_err(|_| invalid("BinaryValue", "must be base64"))
                })
                .transpose()?;
            Ok((
                name.clone(),
                MessageAttribute {
                    data_type: opt_str(a, "DataType")?.unwrap_or_default().to_owned(),
                    string_value: opt_str(a, "StringValue")?.map(str::to_owned),
                    binary_value: binary,
                },
            ))
        })
        .collect()
}

fn attributes_json(attrs: &MessageAttributes) -> Value {
    let mut out = Map::new();
    for (name, a) in attrs {
        let mut o = Map::new();
        o.insert("DataType".into(), json!(a.data_type));
        if let Some(s) = &a.string_value {
            o.insert("StringValue".into(), json!(s));
        }
        if let Some(b) = &a.binary_value {
            o.insert("BinaryValue".into(), json!(STANDARD.encode(b)));
        }
        out.insert(name.clone(), Value::Object(o));
    }
    Value::Object(out)
}

impl SqsCall<'_> {
    fn sqs(&self) -> &Sqs {
        &self.state.sqs
    }

    fn region(&self) -> &str {
        &self.caller.region
    }

    fn url(&self, q: &QueueId) -> String {
        format!("{}/{}/{}", self.base, q.account, q.name)
    }

    /// The queue a `QueueUrl` names: its path is `/<account>/<name>`, in the request's region.
    fn queue_of_url(&self, url: &str) -> Result<QueueId, ApiError> {
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        let mut parts = path.trim_end_matches('/').split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(account), Some(name), None)
                if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(QueueId::new(account, self.region(), name))
            }
            _ => Err(ApiError::client(
                "InvalidAddress",
                format!("The address {url} is not valid for this endpoint."),
            )),
        }
    }

    /// The queue of `QueueUrl`, after authorizing the call on it with its policy. A queue that
    /// does not exist is `QueueDoesNotExist` only to callers allowed the action on its ARN.
    fn authorized_queue(&self) -> Result<QueueId, ApiError> {
        let q = self.queue_of_url(req_str(self.v, "QueueUrl")?)?;
        self.authorize_on(&q)?;
        Ok(q)
    }

    fn authorize_on(&self, q: &QueueId) -> Result<(), ApiError> {
        let policy = match self.sqs().get_queue(q) {
            Ok(queue) => queue.attributes.policy,
            Err(SqsError::QueueDoesNotExist) => None,
            Err(e) => return Err(e.into()),
        };
        let parsed = policy
            .as_deref()
            .map(cairn_policy::Policy::parse)
            .transpose()
            .map_err(|e| ApiError::internal(format!("queue {} policy: {e}", q.arn())))?;
        let action = format!("sqs:{}", self.op);
        let arn = q.arn();
        let mut access = Access::new(&action, &arn);
        access.resource_account = Some(&q.account);
        access.resource_policy = parsed.as_ref().map(|p| ("queue-policy", p));
        crate::authz::authorize(self.state, self.caller, &self.env, &access)
            .map_err(|d| ApiError::client("AccessDeniedException", d.message))
    }

    fn authorize_account(&self) -> Result<(), ApiError> {
        let action = format!("sqs:{}", self.op);
        crate::authz::authorize(
            self.state,
            self.caller,
            &self.env,
            &Access::new(&action, "*"),
        )
        .map_err(|d| ApiError::client("AccessDeniedException", d.message))
    }
}

/// Runs one SQS operation (ReceiveMessage goes through [`receive_once`]).
pub(crate) fn execute(c: &SqsCall<'_>) -> Result<SqsReply, ApiError> {
    let body = match c.op {
        "CreateQueue" => create_queue(c)?,
        "GetQueueUrl" => get_queue_url(c)?,
        "DeleteQueue" => {
            let q = c.authorized_queue()?;
            c.sqs().delete_queue(&q)?;
            json!({})
        }
        "ListQueues" => list_queues(c)?,
        "GetQueueAttributes" => {
            let q = c.authorized_queue()?;
            let mut names = string_list(c.v, "AttributeNames")?;
            if names.is_empty() {
                names.push("All".into());
            }
            json!({"Attributes": c.sqs().queue_attributes(&q, &names)?})
        }
        "SetQueueAttributes" => {
            let q = c.authorized_queue()?;
            c.sqs()
                .set_queue_attributes(&q, &string_map(c.v, "Attributes")?)?;
            json!({})
        }
        "SendMessage" => {
            let q = c.authorized_queue()?;
            let sent = c.sqs().send_message(&q, &send_message(c, c.v)?)?;
            sent_json(&sent)
        }
        "SendMessageBatch" => send_message_batch(c)?,
        "DeleteMessage" => {
            let q = c.authorized_queue()?;
            c.sqs().delete_message(&q, req_str(c.v, "ReceiptHandle")?)?;
            json!({})
        }
        "DeleteMessageBatch" => entry_batch(
            c,
            "DeleteMessageBatchRequestEntry",
            |e| req_str(e, "ReceiptHandle"),
            |q, valid| c.sqs().delete_message_batch(q, valid),
            |()| json!({}),
        )?,
        "ChangeMessageVisibility" => {
            let q = c.authorized_queue()?;
            let timeout =
                opt_u32(c.v, "VisibilityTimeout")?.ok_or_else(|| missing("VisibilityTimeout"))?;
            c.sqs()
                .change_message_visibility(&q, req_str(c.v, "ReceiptHandle")?, timeout)?;
            json!({})
        }
        "ChangeMessageVisibilityBatch" => entry_batch(
            c,
            "ChangeMessageVisibilityBatchRequestEntry",
            |e| {
                let timeout =
                    opt_u32(e, "VisibilityTimeout")?.ok_or_else(|| missing("VisibilityTimeout"))?;
                Ok((req_str(e, "ReceiptHandle")?, timeout))
            },
            |q, valid| c.sqs().change_message_visibility_batch(q, valid),
            |()| json!({}),
        )?,
        "PurgeQueue" => {
            let q = c.authorized_queue()?;
            c.sqs().purge_queue(&q)?;
            json!({})
        }
        "TagQueue" => {
            let q = c.authorized_queue()?;
            c.sqs().tag_queue(&q, &string_map(c.v, "Tags")?)?;
            json!({})
        }
        "UntagQueue" => {
            let q = c.authorized_queue()?;
            c.sqs().untag_queue(&q, &string_list(c.v, "TagKeys")?)?;
            json!({})
        }
        "ListQueueTags" => {
            let q = c.authorized_queue()?;
            json!({"Tags": c.sqs().get_queue(&q)?.tags})
        }
        "ListDeadLetterSourceQueues" => {
            let q = c.authorized_queue()?;
            let urls: Vec<String> = c
                .sqs()
                .dead_letter_source_queues(&q)?
                .iter()
                .map(|s| c.url(s))
                .collect();
            json!({"queueUrls": urls})
        }
        other => return Err(ApiError::from(SqsError::NotImplemented(other.to_owned()))),
    };
    Ok(SqsReply::same(body))
}

fn create_queue(c: &SqsCall<'_>) -> Result<Value, ApiError> {
    let name = req_str(c.v, "QueueName")?;
    let q = QueueId::new(&c.caller.account, c.region(), name);
    c.authorize_on(&q)?;
    let attrs = string_map(c.v, "Attributes")?;
    let tags = string_map(c.v, "tags")?;
    c.sqs().create_queue(&q, &attrs, &tags)?;
    Ok(json!({"QueueUrl": c.url(&q)}))
}

fn get_queue_url(c: &SqsCall<'_>) -> Result<Value, ApiError> {
    let name = req_str(c.v, "QueueName")?;
    let owner = opt_str(c.v, "QueueOwnerAWSAccountId")?.unwrap_or(&c.caller.account);
    let q = QueueId::new(owner, c.region(), name);
    c.authorize_on(&q)?;
    c.sqs().get_queue(&q)?;
    Ok(json!({"QueueUrl": c.url(&q)}))
}

fn list_queues(c: &SqsCall<'_>) -> Result<Value, ApiError> {
    c.authorize_account()?;
    let max = opt_u32(c.v, "MaxResults")?.map(|m| m as usize);
    let (queues, token) = c.sqs().list_queues(
        &c.caller.account,
        c.region(),
        opt_str(c.v, "QueueNamePrefix")?,
        max,
        opt_str(c.v, "NextToken")?,
    )?;
    let urls: Vec<String> = queues.iter().map(|q| c.url(q)).collect();
    let mut out = json!({"QueueUrls": urls});
    if let Some(t) = token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

fn send_message(c: &SqsCall<'_>, v: &Value) -> Result<SendMessage, ApiError> {
    Ok(SendMessage {
        body: opt_str(v, "MessageBody")?.unwrap_or_default().to_owned(),
        delay_seconds: opt_u32(v, "DelaySeconds")?,
        attributes: message_attributes(v)?,
        sender_id: sender_id(c.caller),
    })
}

/// `SenderId`: the user id of an IAM user, `<role id>:<session>` of a role session, the
/// account id of a root user.
fn sender_id(caller: &Caller) -> String {
    use cairn_auth::Principal;
    match &caller.principal {
        Principal::IamUser { user_id, .. } => user_id.clone(),
        Principal::AssumedRole {
            role_id,
            session_name,
            ..
        } => format!("{role_id}:{session_name}"),
        _ => caller.account.clone(),
    }
}

fn sent_json(sent: &cairn_sqs::Sent) -> Value {
    let mut out = json!({"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body});
    if let Some(m) = &sent.md5_of_attributes {
        out["MD5OfMessageAttributes"] = json!(m);
    }
    out
}

fn failed_entry(id: &str, e: &ApiError) -> Value {
    json!({
        "Id": id,
        "SenderFault": !e.status.is_server_error(),
        "Code": e.code,
        "Message": e.message,
    })
}

fn send_message_batch(c: &SqsCall<'_>) -> Result<Value, ApiError> {
    entry_batch(
        c,
        "SendMessageBatchRequestEntry",
        |e| send_message(c, e),
        |q, valid| c.sqs().send_message_batch(q, valid),
        |sent| sent_json(&sent),
    )
}

/// The batch operations: the entries that parse run in one transaction of the queue service;
/// each entry succeeds or fails on its own, a success rendered by `render` plus its `Id`.
fn entry_batch<'v, T, R>(
    c: &SqsCall<'v>,
    what: &str,
    parse: impl Fn(&'v Value) -> Result<T, ApiError>,
    run: impl FnOnce(&QueueId, &[T]) -> Result<Vec<Result<R, SqsError>>, SqsError>,
    render: impl Fn(R) -> Value,
) -> Result<Value, ApiError> {
    let q = c.authorized_queue()?;
    let list = entries(c.v, what)?;
    // Entries that do not parse fail alone; the others run together, in order.
    let mut valid = Vec::with_capacity(list.len());
    let mut refused = Vec::with_capacity(list.len());
    for e in list {
        match parse(e) {
            Ok(t) => {
                valid.push(t);
                refused.push(None);
            }
            Err(err) => refused.push(Some(err)),
        }
    }
    let mut results = run(&q, &valid)?.into_iter();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for (e, refusal) in list.iter().zip(refused) {
        let id = e.get("Id").and_then(Value::as_str).unwrap_or_default();
        let outcome = match refusal {
            Some(err) => Err(err),
            None => results
                .next()
                .unwrap_or_else(|| Err(SqsError::Storage("batch result missing".into())))
                .map_err(ApiError::from),
        };
        match outcome {
            Ok(r) => {
                let mut entry = render(r);
                entry["Id"] = json!(id);
                ok.push(entry);
            }
            Err(err) => failed.push(failed_entry(id, &err)),
        }
    }
    Ok(json!({"Successful": ok, "Failed": failed}))
}

/// One receive attempt of ReceiveMessage: authorizes and checks the call on the first
/// attempt (`known` is `None`), then receives.
pub(crate) fn receive_once(c: &SqsCall<'_>, known: Option<&QueueId>) -> Result<Polled, ApiError> {
    let q = match known {
        Some(q) => q.clone(),
        None => c.authorized_queue()?,
    };
    // How long to wait matters on the first attempt only (later ones are its retries).
    let wait = match (known, opt_u32(c.v, "WaitTimeSeconds")?) {
        (_, Some(w)) if w > 20 => {
            return Err(invalid(
                "WaitTimeSeconds",
                "Must be >= 0 and <= 20, if provided.",
            ));
        }
        (_, Some(w)) => w,
        (Some(_), None) => 0,
        (None, None) => {
            c.sqs()
                .get_queue(&q)?
                .attributes
                .receive_message_wait_time_seconds
        }
    };
    let opts = ReceiveOptions {
        max_messages: opt_u32(c.v, "MaxNumberOfMessages")?.unwrap_or(1),
        visibility_timeout: opt_u32(c.v, "VisibilityTimeout")?,
    };
    let got = c.sqs().receive_message(&q, opts)?;
    let reply = (!got.is_empty())
        .then(|| received_reply(c, &got))
        .transpose()?;
    Ok(Polled {
        reply,
        queue: q,
        wait_secs: wait,
    })
}

fn received_reply(c: &SqsCall<'_>, got: &[Received]) -> Result<SqsReply, ApiError> {
    let mut system = string_list(c.v, "MessageSystemAttributeNames")?;
    system.extend(string_list(c.v, "AttributeNames")?);
    let names = string_list(c.v, "MessageAttributeNames")?;
    let messages: Vec<Value> = got
        .iter()
        .map(|m| {
            let mut o = json!({
                "MessageId": m.message_id,
                "ReceiptHandle": m.receipt_handle,
                "MD5OfBody": m.md5_of_body,
                "Body": m.body,
            });
            let sys = m.system_attributes(&system);
            if !sys.is_empty() {
                o["Attributes"] = json!(sys);
            }
            let (attrs, md5) = m.select_attributes(&names);
            if let Some(md5) = md5 {
                o["MessageAttributes"] = attributes_json(&attrs);
                o["MD5OfMessageAttributes"] = json!(md5);
            }
            o
        })
        .collect();
    let ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    Ok(SqsReply {
        body: json!({"Messages": messages}),
        audit: json!({"messageIds": ids}),
    })
}
