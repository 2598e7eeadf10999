//! What subscribers receive: the SNS envelope, CloudWatch's alarm message and e-mail text,
//! and the webhook bodies.

use serde_json::{Value, json};

use super::Protocol;
use super::sign::canonical;
use crate::alarms::AlarmRow;
use crate::error::Result;
use crate::ingest::AlarmStateChange;
use crate::{Monitor, util};

fn region_name(r: &str) -> &str {
    match r {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-north-1" => "EU (Stockholm)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "sa-east-1" => "South America (Sao Paulo)",
        "ca-central-1" => "Canada (Central)",
        other => other,
    }
}

/// The CloudWatch alarm notification JSON.
pub(crate) fn alarm_message(a: &AlarmRow, c: &AlarmStateChange) -> Value {
    let d = &a.def;
    let stat = d["Statistic"].as_str().unwrap_or("").to_ascii_uppercase();
    let dims: Vec<Value> = d
        .get("Dimensions")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|x| json!({"value": x["Value"], "name": x["Name"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "AlarmName": a.name,
        "AlarmDescription": d.get("AlarmDescription").cloned().unwrap_or(Value::Null),
        "AWSAccountId": a.account,
        "AlarmConfigurationUpdatedTimestamp": util::iso_ms_offset(a.config_updated_ms),
        "NewStateValue": c.new_state,
        "NewStateReason": c.reason,
        "StateChangeTime": util::iso_ms_offset(c.timestamp_ms),
        "Region": region_name(&a.region),
        "AlarmArn": a.arn(),
        "OldStateValue": c.old_state,
        "OKActions": a.actions("OKActions"),
        "AlarmActions": a.actions("AlarmActions"),
        "InsufficientDataActions": a.actions("InsufficientDataActions"),
        "Trigger": {
            "MetricName": d["MetricName"],
            "Namespace": d["Namespace"],
            "StatisticType": "Statistic",
            "Statistic": stat,
            "Unit": d.get("Unit").cloned().unwrap_or(Value::Null),
            "Dimensions": dims,
            "Period": d["Period"],
            "EvaluationPeriods": d["EvaluationPeriods"],
            "DatapointsToAlarm": d.get("DatapointsToAlarm").cloned().unwrap_or(d["EvaluationPeriods"].clone()),
            "ComparisonOperator": d["ComparisonOperator"],
            "Threshold": d["Threshold"],
            "TreatMissingData": d.get("TreatMissingData").cloned().unwrap_or(json!("missing")),
            "EvaluateLowSampleCountPercentile": "",
        },
    })
}

/// `ALARM: "name" in US East (N. Virginia)`.
pub(crate) fn alarm_subject(a: &AlarmRow, state: &str) -> String {
    let s = format!("{state}: \"{}\" in {}", a.name, region_name(&a.region));
    s.chars().take(100).collect()
}

/// One message for one subscription, before it is rendered for the subscription's protocol.
pub(crate) struct Envelope<'a> {
    /// `MessageId`.
    pub(crate) message_id: &'a str,
    /// `TopicArn`.
    pub(crate) topic: &'a str,
    /// The subscription's ARN.
    pub(crate) sub_arn: &'a str,
    /// `Subject` (left out when empty).
    pub(crate) subject: &'a str,
    /// The message: an alarm's JSON, or the published text (a JSON string).
    pub(crate) message: &'a Value,
    /// `MessageAttributes` in SNS's envelope form (`{name: {Type, Value}}`), or `null`.
    pub(crate) attributes: &'a Value,
    /// `<scheme>://<host>` of Cairn as the subscriber was told (empty: the configured URLs).
    pub(crate) url_base: &'a str,
    /// `Timestamp`.
    pub(crate) now_ms: i64,
}

/// The text of a message: a JSON string as it is, anything else as JSON.
pub(crate) fn message_text(message: &Value) -> String {
    match message {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `SigningCertURL` for a subscriber told `url_base`.
pub(crate) fn cert_url(mon: &Monitor, url_base: &str) -> String {
    if url_base.is_empty() {
        mon.config.sns_cert_url.clone()
    } else {
        format!("{url_base}/_cairn/sns-cert.pem")
    }
}

/// `UnsubscribeURL` of a subscription.
pub(crate) fn unsubscribe_url(mon: &Monitor, url_base: &str, sub_arn: &str) -> String {
    let base = if url_base.is_empty() {
        mon.config.unsubscribe_url_base.clone()
    } else {
        format!("{url_base}/_cairn/sns-unsubscribe")
    };
    format!("{base}?Action=Unsubscribe&SubscriptionArn={sub_arn}")
}

/// The signed SNS JSON envelope of a notification (http, https and sqs subscribers).
pub(crate) fn sns_envelope(mon: &Monitor, e: &Envelope<'_>) -> Result<String> {
    let mut env = json!({
        "Type": "Notification",
        "MessageId": e.message_id,
        "TopicArn": e.topic,
        "Message": message_text(e.message),
        "Timestamp": util::iso_ms(e.now_ms),
        "SignatureVersion": "2",
    });
    if !e.subject.is_empty() {
        env["Subject"] = json!(e.subject);
    }
    env["Signature"] = json!(mon.signer.sign(canonical(&env).as_bytes())?);
    env["SigningCertURL"] = json!(cert_url(mon, e.url_base));
    env["UnsubscribeURL"] = json!(unsubscribe_url(mon, e.url_base, e.sub_arn));
    if e.attributes.as_object().is_some_and(|m| !m.is_empty()) {
        env["MessageAttributes"] = e.attributes.clone();
    }
    Ok(env.to_string())
}

/// The request body of a notification for `protocol` (`raw`: an sqs or http(s) subscription
/// with `RawMessageDelivery=true` gets the message itself).
pub(crate) fn body_for(
    mon: &Monitor,
    protocol: Protocol,
    raw: bool,
    e: &Envelope<'_>,
) -> Result<String> {
    let (message, subject, topic) = (e.message, e.subject, e.topic);
    Ok(match protocol {
        Protocol::Http | Protocol::Https | Protocol::Sqs if raw => message_text(message),
        Protocol::Http | Protocol::Https | Protocol::Sqs => sns_envelope(mon, e)?,
        Protocol::WebhookSlack => {
            let text = match message.get("AlarmName") {
                Some(_) => format!(
                    "*{}*: alarm `{}` in {} changed from {} to {}\n>{}\nMetric {}/{} ({} {} {} per {} s)",
                    message["NewStateValue"].as_str().unwrap_or(""),
                    message["AlarmName"].as_str().unwrap_or(""),
                    message["Region"].as_str().unwrap_or(""),
                    message["OldStateValue"].as_str().unwrap_or(""),
                    message["NewStateValue"].as_str().unwrap_or(""),
                    message["NewStateReason"].as_str().unwrap_or(""),
                    message["Trigger"]["Namespace"].as_str().unwrap_or(""),
                    message["Trigger"]["MetricName"].as_str().unwrap_or(""),
                    message["Trigger"]["Statistic"].as_str().unwrap_or(""),
                    message["Trigger"]["ComparisonOperator"]
                        .as_str()
                        .unwrap_or(""),
                    message["Trigger"]["Threshold"],
                    message["Trigger"]["Period"],
                ),
                None => format!("*{subject}*\n{message}"),
            };
            json!({ "text": text }).to_string()
        }
        Protocol::WebhookJson => json!({
            "source": "cairn",
            "type": "alarm",
            "topicArn": topic,
            "subject": subject,
            "messageId": e.message_id,
            "timestamp": util::iso_ms(e.now_ms),
            "message": message,
        })
        .to_string(),
        Protocol::Email => email_body(mon, subject, message),
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The plain-text body of an e-mail notification: CloudWatch's alarm e-mail
/// text and the notification JSON (any other message: the subject and the
/// message).
pub(crate) fn email_body(mon: &Monitor, subject: &str, message: &Value) -> String {
    let json = serde_json::to_string_pretty(message).unwrap_or_else(|_| message.to_string());
    if message.get("AlarmName").is_none() {
        let m = match message {
            Value::String(s) => s.clone(),
            _ => json,
        };
        return format!(
            "{subject}

{m}
"
        );
    }
    let t = &message["Trigger"];
    let actions = |k: &str| {
        message[k]
            .as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
            .map(|s| format!("[{s}]"))
            .unwrap_or_default()
    };
    let dims = t["Dimensions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| format!("[{} = {}]", text(&d["name"]), text(&d["value"])))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let unit = match &t["Unit"] {
        Value::Null => "not specified".to_string(),
        u => text(u),
    };
    format!(
        "You are receiving this email because your Amazon CloudWatch Alarm \"{name}\" in the {region} region has entered the {new} state, because \"{reason}\" at \"{at}\".\n\n\
         Alarm Details:\n\
         - Name:                       {name}\n\
         - Description:                {desc}\n\
         - State Change:               {old} -> {new}\n\
         - Reason for State Change:    {reason}\n\
         - Timestamp:                  {at}\n\
         - AWS Account:                {account}\n\
         - Alarm Arn:                  {arn}\n\n\
         Threshold:\n\
         - The alarm is in the ALARM state when the metric is {op} {threshold} for {datapoints} datapoints within {periods} periods of {period} seconds.\n\n\
         Monitored Metric:\n\
         - MetricNamespace:                     {ns}\n\
         - MetricName:                          {metric}\n\
         - Dimensions:                          {dims}\n\
         - Period:                              {period} seconds\n\
         - Statistic:                           {stat}\n\
         - Unit:                                {unit}\n\
         - TreatMissingData:                    {missing}\n\n\
         State Change Actions:\n\
         - OK: {ok}\n\
         - ALARM: {alarm}\n\
         - INSUFFICIENT_DATA: {insufficient}\n\n\
         Unsubscribe: {unsub}\n\n\
         Notification JSON:\n{json}\n",
        name = text(&message["AlarmName"]),
        region = text(&message["Region"]),
        new = text(&message["NewStateValue"]),
        old = text(&message["OldStateValue"]),
        reason = text(&message["NewStateReason"]),
        at = text(&message["StateChangeTime"]),
        desc = text(&message["AlarmDescription"]),
        account = text(&message["AWSAccountId"]),
        arn = text(&message["AlarmArn"]),
        op = text(&t["ComparisonOperator"]),
        threshold = text(&t["Threshold"]),
        datapoints = text(&t["DatapointsToAlarm"]),
        periods = text(&t["EvaluationPeriods"]),
        period = text(&t["Period"]),
        ns = text(&t["Namespace"]),
        metric = text(&t["MetricName"]),
        stat = text(&t["Statistic"]),
        missing = text(&t["TreatMissingData"]),
        ok = actions("OKActions"),
        alarm = actions("AlarmActions"),
        insufficient = actions("InsufficientDataActions"),
        unsub = mon.config.unsubscribe_url_base,
    )
}
