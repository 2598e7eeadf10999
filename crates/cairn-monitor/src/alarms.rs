//! CloudWatch alarms and metrics: the JSON 1.0 API (`GraniteServiceVersion20100801.<Op>`,
//! sent by botocore 1.43 with `x-amzn-query-mode: true`), metric storage and
//! alarm evaluation (with `cairn_pattern::alarm`).

use std::collections::BTreeMap;

use cairn_pattern::alarm::{
    AlarmDef, AlarmState, ComparisonOperator, Evaluation, MetricSeries, Statistic, StatisticSet,
    evaluate_from,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::{CwCode, MonitorError, Result};
use crate::ingest::{AlarmStateChange, BUCKET_S, points_from, store_points};
use crate::sns::OutboundNotification;
use crate::util::{self, Api};
use crate::{Monitor, sns as notify};

/// CloudWatch operations known to this module; the others answer
/// `UnsupportedOperationException`.
pub const CLOUDWATCH_OPERATIONS: [&str; 9] = [
    "PutMetricAlarm",
    "DescribeAlarms",
    "DeleteAlarms",
    "DescribeAlarmHistory",
    "SetAlarmState",
    "GetMetricStatistics",
    "GetMetricData",
    "ListMetrics",
    "PutMetricData",
];

const MAX_ACTIONS: usize = 5;

/// A stored alarm.
#[derive(Debug, Clone)]
pub(crate) struct AlarmRow {
    pub(crate) id: i64,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) name: String,
    pub(crate) def: Value,
    pub(crate) state: String,
    pub(crate) reason: String,
    pub(crate) reason_data: Option<String>,
    pub(crate) state_updated_ms: i64,
    pub(crate) config_updated_ms: i64,
}

impl AlarmRow {
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{}",
            self.region, self.account, self.name
        )
    }

    fn eval_def(&self) -> Option<AlarmDef> {
        serde_json::from_value(self.def.clone()).ok()
    }

    pub(crate) fn actions(&self, key: &str) -> Vec<String> {
        self.def[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn to_metric_alarm(&self) -> Value {
        let d = &self.def;
        let mut m = json!({
            "AlarmName": self.name,
            "AlarmArn": self.arn(),
            "AlarmConfigurationUpdatedTimestamp": util::epoch_s(self.config_updated_ms),
            "ActionsEnabled": d["ActionsEnabled"].as_bool().unwrap_or(true),
            "OKActions": self.actions("OKActions"),
            "AlarmActions": self.actions("AlarmActions"),
            "InsufficientDataActions": self.actions("InsufficientDataActions"),
            "StateValue": self.state,
            "StateReason": self.reason,
            "StateUpdatedTimestamp": util::epoch_s(self.state_updated_ms),
            "StateTransitionedTimestamp": util::epoch_s(self.state_updated_ms),
            "MetricName": d["MetricName"],
            "Namespace": d["Namespace"],
            "Statistic": d["Statistic"],
            "Dimensions": d.get("Dimensions").cloned().unwrap_or(json!([])),
            "Period": d["Period"],
            "EvaluationPeriods": d["EvaluationPeriods"],
            "Threshold": d["Threshold"],
            "ComparisonOperator": d["ComparisonOperator"],
            "TreatMissingData": d.get("TreatMissingData").cloned().unwrap_or(json!("missing")),
        });
        for k in ["AlarmDescription", "DatapointsToAlarm", "Unit"] {
            if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
                m[k] = v.clone();
            }
        }
        if let Some(rd) = &self.reason_data {
            m["StateReasonData"] = json!(rd);
        }
        m
    }
}

fn cw_missing(k: &str) -> MonitorError {
    MonitorError::cw(
        CwCode::MissingParameter,
        format!("The parameter {k} is required."),
    )
}

fn cw_invalid(message: impl Into<String>) -> MonitorError {
    MonitorError::cw(CwCode::InvalidParameterValue, message)
}

/// The request's `NextToken` decoded as a `kind` position (`None` without one);
/// `InvalidNextToken` when it is not one of ours.
fn next_token<T: std::str::FromStr>(body: &Value, kind: &str) -> Result<Option<T>> {
    util::opt_str(Api::CloudWatch, body, "NextToken")?
        .map(|t| {
            util::decode_token(kind, t)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    MonitorError::cw(
                        CwCode::InvalidNextToken,
                        "The next token specified is invalid.",
                    )
                })
        })
        .transpose()
}

const ALARM_COLS: &str = "id, account, region, name, def, state, state_reason, state_reason_data, state_updated_ms, config_updated_ms";

fn alarm_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlarmRow> {
    Ok(AlarmRow {
        id: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        name: r.get(3)?,
        def: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or(Value::Null),
        state: r.get(5)?,
        reason: r.get(6)?,
        reason_data: r.get(7)?,
        state_updated_ms: r.get(8)?,
        config_updated_ms: r.get(9)?,
    })
}

pub(crate) fn load_alarm(
    conn: &rusqlite::Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<AlarmRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ALARM_COLS} FROM alarms WHERE account = ?1 AND region = ?2 AND name = ?3"
            ),
            params![account, region, name],
            alarm_from_row,
        )
        .optional()?)
}

/// Dimensions list `[{Name, Value}]` → canonical key.
fn dims_of(v: Option<&Value>) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    if let Some(a) = v.and_then(Value::as_array) {
        if a.len() > 30 {
            return Err(cw_invalid(
                "The collection Dimensions must not have more than 30 members.",
            ));
        }
        for d in a {
            let (Some(n), Some(val)) = (d["Name"].as_str(), d["Value"].as_str()) else {
                return Err(cw_missing("Dimensions.member.Name/Value"));
            };
            m.insert(n.to_string(), val.to_string());
        }
    }
    Ok(m)
}

fn state_of(s: &str) -> AlarmState {
    match s {
        "OK" => AlarmState::Ok,
        "ALARM" => AlarmState::Alarm,
        _ => AlarmState::InsufficientData,
    }
}

/// Statistic / comparison pairs whose value can only move towards breaching
/// as samples arrive within a period, so a breach seen in the current,
/// incomplete period is final: such alarms go to ALARM on ingest instead of
/// at the end of the period.
fn monotonic(def: &AlarmDef) -> bool {
    use ComparisonOperator::*;
    use Statistic::*;
    matches!(
        (def.statistic, def.comparison_operator),
        (
            Sum | SampleCount | Maximum,
            GreaterThanThreshold | GreaterThanOrEqualToThreshold
        ) | (Minimum, LessThanThreshold | LessThanOrEqualToThreshold)
    )
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The alarm's target state at `now_ms`: completed periods, or for monotonic
/// alarms a breach already visible in the current period.
pub(crate) fn target(
    def: &AlarmDef,
    series: &MetricSeries,
    now_ms: i64,
    current: AlarmState,
) -> Evaluation {
    let completed = evaluate_from(def, series, at(now_ms), current);
    if monotonic(def) && completed.state != AlarmState::Alarm {
        let p = i64::from(def.period.max(1));
        let end_s = (now_ms.div_euclid(1000).div_euclid(p) + 1) * p;
        let eager = evaluate_from(def, series, at(end_s * 1000), current);
        if eager.state == AlarmState::Alarm {
            return eager;
        }
    }
    completed
}

fn load_series(
    tx: &rusqlite::Connection,
    a: &AlarmRow,
    def: &AlarmDef,
    now_ms: i64,
) -> Result<MetricSeries> {
    let p = i64::from(def.period.max(1));
    let n = i64::from(
        def.evaluation_range
            .unwrap_or(def.evaluation_periods + (def.evaluation_periods / 3).max(2)),
    );
    let since = (now_ms.div_euclid(1000).div_euclid(p) - n - 1) * p;
    let dims = util::dims_key(&dims_of(a.def.get("Dimensions")).unwrap_or_default());
    let mut st = tx.prepare_cached(
        "SELECT d.bucket, d.count, d.sum, d.min, d.max FROM metric_data d JOIN metrics m ON m.id = d.metric_id
         WHERE m.account = ?1 AND m.region = ?2 AND m.namespace = ?3 AND m.name = ?4 AND m.dims = ?5 AND d.bucket >= ?6",
    )?;
    let mut series = MetricSeries::new();
    let mut q = st.query(params![
        a.account,
        a.region,
        a.def["Namespace"].as_str().unwrap_or(""),
        a.def["MetricName"].as_str().unwrap_or(""),
        dims,
        since
    ])?;
    while let Some(r) = q.next()? {
        series.push_set(
            r.get(0)?,
            StatisticSet {
                sample_count: r.get(1)?,
                sum: r.get(2)?,
                minimum: r.get(3)?,
                maximum: r.get(4)?,
            },
        );
    }
    Ok(series)
}

fn reason_data(def: &AlarmDef, ev: &Evaluation, now_ms: i64) -> String {
    let n = def.evaluation_periods as usize;
    let recent: Vec<Value> = ev
        .periods
        .iter()
        .take(n)
        .filter_map(|p| p.value.map(|v| json!(v)))
        .collect();
    let evaluated: Vec<Value> = ev
        .periods
        .iter()
        .take(n)
        .map(|p| match p.value {
            Some(v) => json!({"timestamp": util::iso_ms_offset(p.start * 1000), "value": v}),
            None => json!({"timestamp": util::iso_ms_offset(p.start * 1000)}),
        })
        .collect();
    json!({
        "version": "1.0",
        "queryDate": util::iso_ms_offset(now_ms),
        "startDate": ev.periods.get(n.saturating_sub(1)).map(|p| util::iso_ms_offset(p.start * 1000)),
        "statistic": format!("{:?}", def.statistic),
        "period": def.period,
        "recentDatapoints": recent,
        "threshold": def.threshold,
        "evaluatedDatapoints": evaluated,
    })
    .to_string()
}

fn history(
    tx: &rusqlite::Connection,
    a: &AlarmRow,
    ts: i64,
    kind: &str,
    summary: &str,
    data: &Value,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO alarm_history(account, region, alarm_name, ts_ms, item_type, summary, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![a.account, a.region, a.name, ts, kind, summary, data.to_string()])?;
    Ok(())
}

/// Records a state change, its history and the notifications of its actions.
pub(crate) fn change_state(
    mon: &Monitor,
    tx: &Transaction<'_>,
    a: &AlarmRow,
    new_state: &str,
    reason: &str,
    reason_data: Option<String>,
    now_ms: i64,
) -> Result<(AlarmStateChange, Vec<OutboundNotification>)> {
    tx.prepare_cached(
        "UPDATE alarms SET state = ?2, state_reason = ?3, state_reason_data = ?4, state_updated_ms = ?5 WHERE id = ?1",
    )?
    .execute(params![a.id, new_state, reason, reason_data, now_ms])?;
    let mut new_state_json = json!({"stateValue": new_state, "stateReason": reason});
    if let Some(rd) = &reason_data
        && let Ok(v) = serde_json::from_str::<Value>(rd)
    {
        new_state_json["stateReasonData"] = v;
    }
    history(
        tx,
        a,
        now_ms,
        "StateUpdate",
        &format!("Alarm updated from {} to {new_state}", a.state),
        &json!({
            "version": "1.0",
            "oldState": {"stateValue": a.state, "stateReason": a.reason},
            "newState": new_state_json,
        }),
    )?;
    let change = AlarmStateChange {
        alarm_name: a.name.clone(),
        alarm_arn: a.arn(),
        old_state: a.state.clone(),
        new_state: new_state.to_string(),
        reason: reason.to_string(),
        timestamp_ms: now_ms,
    };
    let mut notes = Vec::new();
    if a.def["ActionsEnabled"].as_bool().unwrap_or(true) {
        let key = match new_state {
            "ALARM" => "AlarmActions",
            "OK" => "OKActions",
            _ => "InsufficientDataActions",
        };
        let actions = a.actions(key);
        if !actions.is_empty() {
            let message = notify::alarm_message(a, &change);
            let subject = notify::alarm_subject(a, new_state);
            for action in actions {
                let (created, err) = notify::enqueue_for_action(
                    mon,
                    tx,
                    Some(&a.account),
                    &action,
                    &subject,
                    &message,
                    now_ms,
                )?;
                let (summary, data) = match &err {
                    None => (
                        format!("Successfully executed action {action}"),
                        json!({"actionState": "Succeeded", "notificationResource": action, "stateUpdateTimestamp": now_ms}),
                    ),
                    Some(e) => (
                        format!("Failed to execute action {action}"),
                        json!({"actionState": "Failed", "notificationResource": action, "error": e}),
                    ),
                };
                history(tx, a, now_ms, "Action", &summary, &data)?;
                notes.extend(created);
            }
        }
    }
    Ok((change, notes))
}

fn evaluate_rows(
    mon: &Monitor,
    tx: &Transaction<'_>,
    rows: Vec<AlarmRow>,
    now_ms: i64,
) -> Result<(Vec<AlarmStateChange>, Vec<OutboundNotification>)> {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for a in rows {
        let Some(def) = a.eval_def() else { continue };
        let series = load_series(tx, &a, &def, now_ms)?;
        let ev = target(&def, &series, now_ms, state_of(&a.state));
        if ev.state.as_str() != a.state {
            let rd = reason_data(&def, &ev, now_ms);
            let (c, n) =
                change_state(mon, tx, &a, ev.state.as_str(), &ev.reason, Some(rd), now_ms)?;
            changes.push(c);
            notes.extend(n);
        }
    }
    Ok((changes, notes))
}

/// Evaluates the alarms on the given metrics (after new datapoints).
pub(crate) fn evaluate_for_metrics(
    mon: &Monitor,
    tx: &Transaction<'_>,
    account: &str,
    region: &str,
    touched: &[(String, String, String)],
    now_ms: i64,
) -> Result<(Vec<AlarmStateChange>, Vec<OutboundNotification>)> {
    let mut rows = Vec::new();
    {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {ALARM_COLS} FROM alarms WHERE account = ?1 AND region = ?2 AND namespace = ?3 AND metric_name = ?4 AND dims = ?5"
        ))?;
        for (ns, name, dims) in touched {
            let q = st.query_map(params![account, region, ns, name, dims], alarm_from_row)?;
            for r in q {
                rows.push(r?);
            }
        }
    }
    evaluate_rows(mon, tx, rows, now_ms)
}

/// Evaluates every alarm (housekeeping).
pub(crate) fn evaluate_all(
    mon: &Monitor,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<AlarmStateChange>> {
    let rows = {
        let mut st = tx.prepare_cached(&format!("SELECT {ALARM_COLS} FROM alarms ORDER BY id"))?;
        st.query_map([], alarm_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    Ok(evaluate_rows(mon, tx, rows, now_ms)?.0)
}

impl Monitor {
    /// Runs one CloudWatch operation (`op` is the part of `X-Amz-Target`
    /// after `GraniteServiceVersion20100801.`) with the JSON 1.0 request
    /// body; returns the JSON response body. Timestamps are epoch seconds.
    /// Errors carry the query-compatible codes ([`MonitorError::code`]); the
    /// server also sets `x-amzn-query-error` from
    /// [`MonitorError::query_error_header`].
    pub fn cloudwatch_call(
        &self,
        op: &str,
        account: &str,
        region: &str,
        body: &Value,
    ) -> Result<Value> {
        if !body.is_object() {
            return Err(MonitorError::cw(
                CwCode::InvalidFormat,
                "the request body must be a JSON object",
            ));
        }
        match op {
            "PutMetricAlarm" => self
                .put_metric_alarm(account, region, body)
                .map(|_| json!({})),
            "DescribeAlarms" => self.describe_alarms(account, region, body),
            "DeleteAlarms" => self.delete_alarms(account, region, body),
            "DescribeAlarmHistory" => self.describe_alarm_history(account, region, body),
            "SetAlarmState" => self.set_alarm_state(account, region, body),
            "GetMetricStatistics" => self.get_metric_statistics(account, region, body),
            "GetMetricData" => self.get_metric_data(account, region, body),
            "ListMetrics" => self.list_metrics(account, region, body),
            "PutMetricData" => self.put_metric_data(account, region, body),
            other => Err(MonitorError::NotImplemented {
                operation: other.to_string(),
            }),
        }
    }

    /// `PutMetricAlarm`; returns the state changes of the immediate evaluation.
    pub(crate) fn put_metric_alarm(
        &self,
        account: &str,
        region: &str,
        body: &Value,
    ) -> Result<Vec<AlarmStateChange>> {
        let name = util::req_str(Api::CloudWatch, body, "AlarmName")?;
        if name.is_empty() || name.chars().count() > 255 {
            return Err(cw_invalid(
                "The parameter AlarmName must be between 1 and 255 characters.",
            ));
        }
        if body.get("Metrics").is_some_and(|m| !m.is_null()) {
            return Err(cw_invalid(
                "metric math alarms (Metrics) are not supported by this Cairn server",
            ));
        }
        if body.get("ExtendedStatistic").is_some_and(|m| !m.is_null()) {
            return Err(cw_invalid(
                "percentile alarms (ExtendedStatistic) are not supported by this Cairn server",
            ));
        }
        let namespace = util::req_str(Api::CloudWatch, body, "Namespace")?;
        let metric = util::req_str(Api::CloudWatch, body, "MetricName")?;
        util::req_str(Api::CloudWatch, body, "Statistic")?;
        util::req_i64(Api::CloudWatch, body, "Period")?;
        util::req_i64(Api::CloudWatch, body, "EvaluationPeriods")?;
        util::opt_f64(Api::CloudWatch, body, "Threshold")?
            .ok_or_else(|| cw_missing("Threshold"))?;
        util::req_str(Api::CloudWatch, body, "ComparisonOperator")?;
        let dims = dims_of(body.get("Dimensions"))?;
        for k in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            let actions = util::opt_str_list(Api::CloudWatch, body, k)?.unwrap_or_default();
            if actions.len() > MAX_ACTIONS {
                return Err(cw_invalid(format!(
                    "The collection {k} must not have more than {MAX_ACTIONS} members."
                )));
            }
            // An alarm may notify another account's topic only with that account's consent
            // (a topic policy; this server has none).
            for action in &actions {
                self.check_topic_use(account, action, "SNS:Publish")?;
            }
        }
        let mut def = serde_json::Map::new();
        for k in [
            "AlarmDescription",
            "ActionsEnabled",
            "OKActions",
            "AlarmActions",
            "InsufficientDataActions",
            "MetricName",
            "Namespace",
            "Statistic",
            "Dimensions",
            "Period",
            "Unit",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
        ] {
            if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
                def.insert(k.to_string(), v.clone());
            }
        }
        let def = Value::Object(def);
        let eval: AlarmDef = serde_json::from_value(def.clone())
            .map_err(|e| cw_invalid(format!("invalid alarm definition: {e}")))?;
        eval.validate().map_err(|e| cw_invalid(e.to_string()))?;
        let now = self.now_ms();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let existing = load_alarm(&tx, account, region, name)?;
        let dims_key = util::dims_key(&dims);
        match &existing {
            Some(a) => {
                tx.execute(
                    "UPDATE alarms SET def = ?2, namespace = ?3, metric_name = ?4, dims = ?5, config_updated_ms = ?6 WHERE id = ?1",
                    params![a.id, def.to_string(), namespace, metric, dims_key, now],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO alarms(account, region, name, namespace, metric_name, dims, def, state, state_reason, state_updated_ms, config_updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'INSUFFICIENT_DATA', 'Unchecked: Initial alarm creation', ?8, ?8)",
                    params![account, region, name, namespace, metric, dims_key, def.to_string(), now],
                )?;
            }
        }
        let a = load_alarm(&tx, account, region, name)?
            .ok_or_else(|| MonitorError::cw(CwCode::ResourceNotFound, "alarm vanished"))?;
        let verb = if existing.is_some() {
            "updated"
        } else {
            "created"
        };
        history(
            &tx,
            &a,
            now,
            "ConfigurationUpdate",
            &format!("Alarm \"{name}\" {verb}"),
            &json!({
                "version": "1.0", "type": if existing.is_some() { "Update" } else { "Create" },
                "updatedAlarm": a.to_metric_alarm(),
            }),
        )?;
        let (changes, _notes) = evaluate_rows(self, &tx, vec![a], now)?;
        tx.commit()?;
        Ok(changes)
    }

    fn describe_alarms(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let names = util::opt_str_list(Api::CloudWatch, body, "AlarmNames")?;
        let prefix = util::opt_str(Api::CloudWatch, body, "AlarmNamePrefix")?;
        if names.is_some() && prefix.is_some() {
            return Err(MonitorError::cw(
                CwCode::InvalidParameterCombination,
                "AlarmNames and AlarmNamePrefix cannot be specified together.",
            ));
        }
        let state = util::opt_str(Api::CloudWatch, body, "StateValue")?;
        if let Some(s) = state
            && !matches!(s, "OK" | "ALARM" | "INSUFFICIENT_DATA")
        {
            return Err(cw_invalid(format!(
                "The value {s} for parameter StateValue is not valid."
            )));
        }
        let action_prefix = util::opt_str(Api::CloudWatch, body, "ActionPrefix")?;
        let max = util::opt_i64(Api::CloudWatch, body, "MaxRecords")?.unwrap_or(50);
        if !(1..=100).contains(&max) {
            return Err(cw_invalid(
                "The parameter MaxRecords must be between 1 and 100.",
            ));
        }
        let after: String = next_token(body, "al")?.unwrap_or_default();
        let wants_metric = util::opt_str_list(Api::CloudWatch, body, "AlarmTypes")?
            .is_none_or(|t| t.iter().any(|x| x == "MetricAlarm"));
        let conn = self.db();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ALARM_COLS} FROM alarms WHERE account = ?1 AND region = ?2 AND name > ?3 ORDER BY name"
        ))?;
        let rows = st.query_map(params![account, region, after], alarm_from_row)?;
        let mut out = Vec::new();
        let mut next = None;
        if wants_metric {
            for r in rows {
                let a = r?;
                if let Some(ns) = &names
                    && !ns.contains(&a.name)
                {
                    continue;
                }
                if let Some(p) = prefix
                    && !a.name.starts_with(p)
                {
                    continue;
                }
                if let Some(s) = state
                    && a.state != s
                {
                    continue;
                }
                if let Some(p) = action_prefix {
                    let all: Vec<String> = ["AlarmActions", "OKActions", "InsufficientDataActions"]
                        .iter()
                        .flat_map(|k| a.actions(k))
                        .collect();
                    if !all.iter().any(|x| x.starts_with(p)) {
                        continue;
                    }
                }
                if out.len() as i64 == max {
                    next = out
                        .last()
                        .and_then(|v: &Value| v["AlarmName"].as_str())
                        .map(|n| util::encode_token("al", n));
                    break;
                }
                out.push(a.to_metric_alarm());
            }
        }
        let mut res = json!({"MetricAlarms": out, "CompositeAlarms": []});
        if let Some(t) = next {
            res["NextToken"] = json!(t);
        }
        Ok(res)
    }

    fn delete_alarms(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let names = util::opt_str_list(Api::CloudWatch, body, "AlarmNames")?
            .ok_or_else(|| cw_missing("AlarmNames"))?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let mut missing = Vec::new();
        for n in &names {
            if load_alarm(&tx, account, region, n)?.is_none() {
                missing.push(n.clone());
            }
        }
        if !missing.is_empty() {
            return Err(MonitorError::cw(
                CwCode::ResourceNotFound,
                format!("Alarm(s) not found: {}", missing.join(", ")),
            ));
        }
        for n in &names {
            tx.execute(
                "DELETE FROM alarms WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![account, region, n],
            )?;
        }
        tx.commit()?;
        Ok(json!({}))
    }

    fn describe_alarm_history(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::opt_str(Api::CloudWatch, body, "AlarmName")?;
        let kind = util::opt_str(Api::CloudWatch, body, "HistoryItemType")?;
        if let Some(k) = kind
            && !matches!(k, "ConfigurationUpdate" | "StateUpdate" | "Action")
        {
            return Err(cw_invalid(format!(
                "The value {k} for parameter HistoryItemType is not valid."
            )));
        }
        let start = util::opt_timestamp_ms(Api::CloudWatch, body, "StartDate")?.unwrap_or(i64::MIN);
        let end = util::opt_timestamp_ms(Api::CloudWatch, body, "EndDate")?.unwrap_or(i64::MAX);
        let max = util::opt_i64(Api::CloudWatch, body, "MaxRecords")?.unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(cw_invalid(
                "The parameter MaxRecords must be between 1 and 100.",
            ));
        }
        let asc = match util::opt_str(Api::CloudWatch, body, "ScanBy")? {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(o) => {
                return Err(cw_invalid(format!(
                    "The value {o} for parameter ScanBy is not valid."
                )));
            }
        };
        let offset: i64 = next_token(body, "ah")?.unwrap_or(0);
        let conn = self.db();
        let sql = format!(
            "SELECT alarm_name, ts_ms, item_type, summary, data FROM alarm_history
             WHERE account = ?1 AND region = ?2 AND (?3 IS NULL OR alarm_name = ?3) AND (?4 IS NULL OR item_type = ?4)
               AND ts_ms >= ?5 AND ts_ms <= ?6 ORDER BY ts_ms {o}, id {o} LIMIT ?7 OFFSET ?8",
            o = if asc { "ASC" } else { "DESC" }
        );
        let mut st = conn.prepare_cached(&sql)?;
        let q = st.query(params![
            account,
            region,
            name,
            kind,
            start,
            end,
            max + 1,
            offset
        ])?;
        let (items, next) = util::offset_page(q, "ah", offset, max, |r| {
            Ok(json!({
                "AlarmName": r.get::<_, String>(0)?,
                "AlarmType": "MetricAlarm",
                "Timestamp": util::epoch_s(r.get(1)?),
                "HistoryItemType": r.get::<_, String>(2)?,
                "HistorySummary": r.get::<_, String>(3)?,
                "HistoryData": r.get::<_, String>(4)?,
            }))
        })?;
        let mut res = json!({"AlarmHistoryItems": items});
        if let Some(next) = next {
            res["NextToken"] = json!(next);
        }
        Ok(res)
    }

    fn set_alarm_state(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::CloudWatch, body, "AlarmName")?;
        let state = util::req_str(Api::CloudWatch, body, "StateValue")?;
        let reason = util::req_str(Api::CloudWatch, body, "StateReason")?;
        if !matches!(state, "OK" | "ALARM" | "INSUFFICIENT_DATA") {
            return Err(cw_invalid(format!(
                "The value {state} for parameter StateValue is not valid."
            )));
        }
        let data = util::opt_str(Api::CloudWatch, body, "StateReasonData")?;
        if let Some(d) = data
            && serde_json::from_str::<Value>(d).is_err()
        {
            return Err(MonitorError::cw(
                CwCode::InvalidFormat,
                "StateReasonData is not valid JSON.",
            ));
        }
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let a = load_alarm(&tx, account, region, name)?.ok_or_else(|| {
            MonitorError::cw(CwCode::ResourceNotFound, format!("Alarm {name} not found"))
        })?;
        if a.state != state {
            change_state(
                self,
                &tx,
                &a,
                state,
                reason,
                data.map(str::to_string),
                self.now_ms(),
            )?;
        } else {
            // Same state: the reason is replaced, no actions run.
            tx.execute(
                "UPDATE alarms SET state_reason = ?2, state_reason_data = ?3 WHERE id = ?1",
                params![a.id, reason, data],
            )?;
        }
        tx.commit()?;
        Ok(json!({}))
    }

    #[allow(clippy::too_many_arguments)]
    fn stat_rows(
        &self,
        account: &str,
        region: &str,
        ns: &str,
        name: &str,
        dims: &str,
        start_ms: i64,
        end_ms: i64,
        period: i64,
    ) -> Result<BTreeMap<i64, StatisticSet>> {
        let conn = self.db();
        let mut st = conn.prepare_cached(
            "SELECT d.bucket, d.count, d.sum, d.min, d.max FROM metric_data d JOIN metrics m ON m.id = d.metric_id
             WHERE m.account = ?1 AND m.region = ?2 AND m.namespace = ?3 AND m.name = ?4 AND m.dims = ?5
               AND d.bucket >= ?6 AND d.bucket < ?7",
        )?;
        let mut q = st.query(params![
            account,
            region,
            ns,
            name,
            dims,
            start_ms.div_euclid(1000),
            end_ms.div_euclid(1000)
        ])?;
        let mut out: BTreeMap<i64, StatisticSet> = BTreeMap::new();
        while let Some(r) = q.next()? {
            let b: i64 = r.get(0)?;
            let s = StatisticSet {
                sample_count: r.get(1)?,
                sum: r.get(2)?,
                minimum: r.get(3)?,
                maximum: r.get(4)?,
            };
            let k = b.div_euclid(period) * period;
            match out.get_mut(&k) {
                Some(e) => {
                    e.sample_count += s.sample_count;
                    e.sum += s.sum;
                    e.minimum = e.minimum.min(s.minimum);
                    e.maximum = e.maximum.max(s.maximum);
                }
                None => {
                    out.insert(k, s);
                }
            }
        }
        Ok(out)
    }

    fn get_metric_statistics(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let ns = util::req_str(Api::CloudWatch, body, "Namespace")?;
        let name = util::req_str(Api::CloudWatch, body, "MetricName")?;
        let start = util::opt_timestamp_ms(Api::CloudWatch, body, "StartTime")?
            .ok_or_else(|| cw_missing("StartTime"))?;
        let end = util::opt_timestamp_ms(Api::CloudWatch, body, "EndTime")?
            .ok_or_else(|| cw_missing("EndTime"))?;
        let period = util::req_i64(Api::CloudWatch, body, "Period")?;
        if period <= 0 || (period % 60 != 0 && !matches!(period, 1 | 5 | 10 | 30)) {
            return Err(cw_invalid(
                "The parameter Period must be 1, 5, 10, 30 or a multiple of 60.",
            ));
        }
        if body.get("ExtendedStatistics").is_some_and(|v| !v.is_null()) {
            return Err(cw_invalid(
                "ExtendedStatistics (percentiles) are not supported by this Cairn server",
            ));
        }
        let stats = util::opt_str_list(Api::CloudWatch, body, "Statistics")?.ok_or_else(|| {
            MonitorError::cw(
                CwCode::MissingParameter,
                "Must specify either Statistics or ExtendedStatistics.",
            )
        })?;
        if stats.is_empty() || stats.len() > 5 {
            return Err(cw_invalid(
                "The collection Statistics must have between 1 and 5 members.",
            ));
        }
        for s in &stats {
            if !matches!(
                s.as_str(),
                "SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum"
            ) {
                return Err(cw_invalid(format!(
                    "The value {s} for parameter Statistics is not valid."
                )));
            }
        }
        if end <= start {
            return Err(cw_invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let dims = util::dims_key(&dims_of(body.get("Dimensions"))?);
        let period = period.max(BUCKET_S);
        let rows = self.stat_rows(account, region, ns, name, &dims, start, end, period)?;
        let dps: Vec<Value> = rows
            .iter()
            .map(|(t, s)| {
                let mut d = json!({"Timestamp": t, "Unit": body.get("Unit").and_then(Value::as_str).unwrap_or("None")});
                for st in &stats {
                    d[st.as_str()] = json!(stat(s, st));
                }
                d
            })
            .collect();
        Ok(json!({"Label": name, "Datapoints": dps}))
    }

    fn get_metric_data(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let queries = body
            .get("MetricDataQueries")
            .and_then(Value::as_array)
            .ok_or_else(|| cw_missing("MetricDataQueries"))?;
        let start = util::opt_timestamp_ms(Api::CloudWatch, body, "StartTime")?
            .ok_or_else(|| cw_missing("StartTime"))?;
        let end = util::opt_timestamp_ms(Api::CloudWatch, body, "EndTime")?
            .ok_or_else(|| cw_missing("EndTime"))?;
        let asc = matches!(
            util::opt_str(Api::CloudWatch, body, "ScanBy")?,
            Some("TimestampAscending")
        );
        let mut results = Vec::new();
        for q in queries {
            let id = util::req_str(Api::CloudWatch, q, "Id")?;
            if q.get("Expression").is_some_and(|v| !v.is_null()) {
                return Err(cw_invalid(
                    "metric math expressions are not supported by this Cairn server",
                ));
            }
            let ms = q
                .get("MetricStat")
                .ok_or_else(|| cw_missing("MetricStat"))?;
            let metric = ms
                .get("Metric")
                .ok_or_else(|| cw_missing("MetricStat.Metric"))?;
            let ns = util::req_str(Api::CloudWatch, metric, "Namespace")?;
            let name = util::req_str(Api::CloudWatch, metric, "MetricName")?;
            let period = util::req_i64(Api::CloudWatch, ms, "Period")?.max(BUCKET_S);
            let st = util::req_str(Api::CloudWatch, ms, "Stat")?;
            if !matches!(
                st,
                "SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum"
            ) {
                return Err(cw_invalid(format!(
                    "The statistic {st} is not supported by this Cairn server"
                )));
            }
            let dims = util::dims_key(&dims_of(metric.get("Dimensions"))?);
            let rows = self.stat_rows(account, region, ns, name, &dims, start, end, period)?;
            let mut pts: Vec<(i64, f64)> = rows.iter().map(|(t, s)| (*t, stat(s, st))).collect();
            if !asc {
                pts.reverse();
            }
            if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            results.push(json!({
                "Id": id,
                "Label": q.get("Label").and_then(Value::as_str).unwrap_or(name),
                "Timestamps": pts.iter().map(|p| p.0).collect::<Vec<_>>(),
                "Values": pts.iter().map(|p| p.1).collect::<Vec<_>>(),
                "StatusCode": "Complete",
            }));
        }
        Ok(json!({"MetricDataResults": results, "Messages": []}))
    }

    fn list_metrics(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let ns = util::opt_str(Api::CloudWatch, body, "Namespace")?;
        let name = util::opt_str(Api::CloudWatch, body, "MetricName")?;
        let filters: Vec<(String, Option<String>)> = body
            .get("Dimensions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| {
                        Some((
                            d["Name"].as_str()?.to_string(),
                            d["Value"].as_str().map(str::to_string),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let offset: i64 = next_token(body, "lm")?.unwrap_or(0);
        let conn = self.db();
        let mut st = conn.prepare_cached(
            "SELECT namespace, name, dims FROM metrics WHERE account = ?1 AND region = ?2
               AND (?3 IS NULL OR namespace = ?3) AND (?4 IS NULL OR name = ?4) ORDER BY namespace, name, dims",
        )?;
        let rows = st.query_map(params![account, region, ns, name], |r| {
            <(String, String, String)>::try_from(r)
        })?;
        let mut all = Vec::new();
        for r in rows {
            let (ns, n, d) = r?;
            let dims: BTreeMap<String, String> = serde_json::from_str(&d).unwrap_or_default();
            if filters.iter().all(|(k, v)| {
                dims.get(k)
                    .is_some_and(|x| v.as_ref().is_none_or(|v| v == x))
            }) {
                all.push(json!({
                    "Namespace": ns, "MetricName": n,
                    "Dimensions": dims.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>(),
                }));
            }
        }
        let page: Vec<Value> = all
            .iter()
            .skip(offset as usize)
            .take(500)
            .cloned()
            .collect();
        let mut res = json!({"Metrics": page});
        if all.len() > offset as usize + 500 {
            res["NextToken"] = json!(util::encode_token("lm", &(offset + 500).to_string()));
        }
        Ok(res)
    }

    fn put_metric_data(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let ns = util::req_str(Api::CloudWatch, body, "Namespace")?;
        if ns.starts_with("AWS/") {
            return Err(cw_invalid(
                "The value AWS/ for parameter Namespace is invalid.",
            ));
        }
        let data = body
            .get("MetricData")
            .and_then(Value::as_array)
            .ok_or_else(|| cw_missing("MetricData"))?;
        if data.len() > 1000 {
            return Err(cw_invalid(
                "The collection MetricData must not have more than 1000 members.",
            ));
        }
        let now = self.now_ms();
        let mut items = Vec::new();
        for d in data {
            let name = util::req_str(Api::CloudWatch, d, "MetricName")?;
            let dims = util::dims_key(&dims_of(d.get("Dimensions"))?);
            let ts = util::opt_timestamp_ms(Api::CloudWatch, d, "Timestamp")?
                .unwrap_or(now)
                .div_euclid(1000);
            let set = if let Some(v) = util::opt_f64(Api::CloudWatch, d, "Value")? {
                StatisticSet::single(v)
            } else if let Some(s) = d.get("StatisticValues") {
                StatisticSet {
                    sample_count: s["SampleCount"]
                        .as_f64()
                        .ok_or_else(|| cw_missing("StatisticValues.SampleCount"))?,
                    sum: s["Sum"]
                        .as_f64()
                        .ok_or_else(|| cw_missing("StatisticValues.Sum"))?,
                    minimum: s["Minimum"]
                        .as_f64()
                        .ok_or_else(|| cw_missing("StatisticValues.Minimum"))?,
                    maximum: s["Maximum"]
                        .as_f64()
                        .ok_or_else(|| cw_missing("StatisticValues.Maximum"))?,
                }
            } else if let Some(vals) = d.get("Values").and_then(Value::as_array) {
                let counts: Vec<f64> = d
                    .get("Counts")
                    .and_then(Value::as_array)
                    .map(|c| c.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                let mut set: Option<StatisticSet> = None;
                for (i, v) in vals.iter().enumerate() {
                    let v = v
                        .as_f64()
                        .ok_or_else(|| cw_invalid("Values must be numbers"))?;
                    let c = counts.get(i).copied().unwrap_or(1.0);
                    let one = StatisticSet {
                        sample_count: c,
                        sum: v * c,
                        minimum: v,
                        maximum: v,
                    };
                    set = Some(match set {
                        None => one,
                        Some(s) => StatisticSet {
                            sample_count: s.sample_count + c,
                            sum: s.sum + v * c,
                            minimum: s.minimum.min(v),
                            maximum: s.maximum.max(v),
                        },
                    });
                }
                set.ok_or_else(|| cw_missing("Values"))?
            } else {
                return Err(MonitorError::cw(
                    CwCode::InvalidParameterCombination,
                    "One of Value, StatisticValues or Values must be specified.",
                ));
            };
            items.push((ns.to_string(), name.to_string(), dims, ts, set));
        }
        let points = points_from(items);
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let touched = store_points(&tx, account, region, &points)?;
        evaluate_for_metrics(self, &tx, account, region, &touched, now)?;
        tx.commit()?;
        Ok(json!({}))
    }
}

fn stat(s: &StatisticSet, name: &str) -> f64 {
    match name {
        "SampleCount" => s.sample_count,
        "Average" => {
            if s.sample_count > 0.0 {
                s.sum / s.sample_count
            } else {
                0.0
            }
        }
        "Sum" => s.sum,
        "Minimum" => s.minimum,
        _ => s.maximum,
    }
}
