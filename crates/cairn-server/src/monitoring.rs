//! Glue between the HTTP front and `cairn-monitor`: the CIS pack endpoint and
//! the Prometheus page.

use std::fmt::Write;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::authn::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Cairn's own monitor operations, by path: `POST /_cairn/monitor/<path>`.
pub fn cairn_operation(path: &str) -> Option<&'static str> {
    Some(match path.strip_prefix("/_cairn/monitor/")? {
        "enable-cis" => "EnableCisPack",
        "create-topic" => "CreateTopic",
        "subscribe" => "Subscribe",
        "list-topics" => "ListTopics",
        _ => return None,
    })
}

/// Runs one of Cairn's monitor operations (see [`cairn_operation`]).
pub fn cairn_call(
    state: &AppState,
    caller: &Caller,
    op: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let field = |name: &str| -> Result<String, ApiError> {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::invalid_parameter(format!("the member {name} is required")))
    };
    let m = &state.monitor;
    match op {
        "EnableCisPack" => enable_cis(state, caller, body),
        "CreateTopic" => {
            let arn = m.create_topic(&caller.account, &caller.region, &field("name")?)?;
            Ok(json!({ "topicArn": arn }))
        }
        "Subscribe" => {
            let protocol_name = field("protocol")?;
            let protocol = cairn_monitor::Protocol::parse(&protocol_name).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "protocol `{protocol_name}` is not one of http, https, webhook-slack, webhook-json, email, sqs"
                ))
            })?;
            // Only the topic's own account may subscribe to it (no topic policies here).
            let arn = m.subscribe_as(
                &caller.account,
                &field("topicArn")?,
                &cairn_monitor::Subscription {
                    protocol,
                    endpoint: field("endpoint")?,
                },
            )?;
            Ok(json!({ "subscriptionArn": arn }))
        }
        "ListTopics" => {
            let mut topics = Vec::new();
            for arn in m.list_topics(&caller.account, &caller.region)? {
                let subs: Vec<Value> = m
                    .list_subscriptions(&arn)
                    ?
                    .into_iter()
                    .map(|s| json!({"subscriptionArn": s.arn, "protocol": s.protocol.as_str(), "endpoint": s.endpoint}))
                    .collect();
                topics.push(json!({"topicArn": arn, "subscriptions": subs}));
            }
            Ok(json!({ "topics": topics }))
        }
        other => Err(ApiError::not_implemented(other)),
    }
}

/// `POST /_cairn/monitor/enable-cis`: the 14 CIS metric filters and alarms on a log group,
/// notifying a topic (and optionally subscribing an endpoint to it). Idempotent.
pub fn enable_cis(state: &AppState, caller: &Caller, body: &Value) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Req {
        log_group_name: String,
        #[serde(default = "default_topic")]
        topic_name: String,
        subscriber_endpoint: Option<String>,
        #[serde(default = "default_protocol")]
        subscriber_protocol: String,
    }
    fn default_topic() -> String {
        "cis-alarms".into()
    }
    fn default_protocol() -> String {
        "http".into()
    }
    let req = Req::deserialize(body)
        .map_err(|e| ApiError::invalid_parameter(format!("invalid request: {e}")))?;
    let subscriber = match req.subscriber_endpoint {
        None => None,
        Some(endpoint) => {
            let protocol = cairn_monitor::Protocol::parse(&req.subscriber_protocol).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "subscriberProtocol `{}` is not one of http, https, webhook-slack, webhook-json, email, sqs",
                    req.subscriber_protocol
                ))
            })?;
            Some(cairn_monitor::Subscription { protocol, endpoint })
        }
    };
    let report = state.monitor.enable_cis(
        &caller.account,
        &caller.region,
        &req.log_group_name,
        &req.topic_name,
        subscriber,
    )?;
    Ok(json!({
        "topicArn": report.topic_arn,
        "subscriptionArn": report.subscription_arn,
        "metricFilters": report.filters,
        "alarms": report.alarms,
    }))
}

/// The Prometheus text page.
///
/// Without `detailed` (the caller did not present `CAIRN_METRICS_TOKEN`), samples labelled
/// with an account's resource names (log groups, subscription filters) are left out: anyone on
/// the network can read `/metrics`.
pub fn prometheus(state: &AppState, detailed: bool) -> String {
    let mut out = String::new();
    let j = state.journal.stats();
    let header = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    for (name, kind, help, value) in [
        (
            "cairn_journal_bytes",
            "gauge",
            "Bytes of journal segments on disk.",
            j.total_bytes,
        ),
        (
            "cairn_journal_max_bytes",
            "gauge",
            "Journal size at which ingest is throttled.",
            j.max_total_bytes,
        ),
        (
            "cairn_events_ingested_total",
            "counter",
            "Events committed to the journal.",
            j.next_seq,
        ),
    ] {
        header(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    header(
        &mut out,
        "cairn_consumer_lag_events",
        "gauge",
        "Journal records a consumer has not processed yet.",
    );
    for c in &j.cursors {
        let _ = writeln!(
            out,
            "cairn_consumer_lag_events{{consumer=\"{}\"}} {}",
            c.name, c.lag
        );
    }
    match state.monitor.prometheus_text() {
        Ok(t) if detailed => out.push_str(&t),
        Ok(t) => {
            for line in t.lines().filter(|l| !names_resources(l)) {
                out.push_str(line);
                out.push('\n');
            }
        }
        Err(e) => tracing::warn!(error = %e, "monitor metrics unavailable"),
    }
    out
}

/// Whether a Prometheus sample line carries a label naming an account's resource.
fn names_resources(line: &str) -> bool {
    !line.starts_with('#') && (line.contains("log_group=\"") || line.contains("filter=\""))
}
