//! The CloudWatch Logs JSON 1.1 API (`Logs_20140328.<Op>`).

use cairn_pattern::{FilterPattern, MetricTransformation, PreparedEvent};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::Monitor;
use crate::error::{MonitorError, Result};
use crate::ingest::{load_group, require_group};
use crate::stream::Destination;
use crate::util::{self, Api};

/// Retention values `PutRetentionPolicy` accepts (days).
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Metric filters per log group.
pub const MAX_METRIC_FILTERS: i64 = 100;
/// Subscription filters per log group.
pub const MAX_SUBSCRIPTION_FILTERS: i64 = 2;
const MAX_BATCH_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
const MAX_EVENT_BYTES: usize = 1_048_576 - EVENT_OVERHEAD;
const FILTER_SCAN_LIMIT: usize = 100_000;

/// Every CloudWatch Logs operation name this module knows is listed in
/// [`LOGS_OPERATIONS`]; the others answer `UnsupportedOperationException`.
pub const LOGS_OPERATIONS: [&str; 19] = [
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "PutMetricFilter",
    "DescribeMetricFilters",
    "DeleteMetricFilter",
    "TestMetricFilter",
    "PutSubscriptionFilter",
    "DescribeSubscriptionFilters",
    "DeleteSubscriptionFilter",
    "ListTagsLogGroup",
];

fn limit(body: &Value, max: i64, default: i64) -> Result<i64> {
    match util::opt_i64(Api::Logs, body, "limit")? {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(MonitorError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

fn bad_token() -> MonitorError {
    MonitorError::invalid("The specified nextToken is invalid.")
}

/// Whether putting the filter `name` on group `group_id` in `table` (`metric_filters` or
/// `subscription_filters`) would add one past `max`: it is new and the group has `max` already.
fn adds_past_limit(
    conn: &Connection,
    table: &'static str,
    group_id: i64,
    name: &str,
    max: i64,
) -> Result<bool> {
    let exists: bool = conn.query_row(
        &format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE group_id = ?1 AND name = ?2)"),
        params![group_id, name],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(false);
    }
    let count: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE group_id = ?1"),
        [group_id],
        |r| r.get(0),
    )?;
    Ok(count >= max)
}

fn parse_pattern(p: &str) -> Result<FilterPattern> {
    FilterPattern::parse(p)
        .map_err(|e| MonitorError::invalid(format!("Invalid filter pattern: {e}")))
}

impl Monitor {
    /// Runs one CloudWatch Logs operation (`op` is the part of `X-Amz-Target`
    /// after `Logs_20140328.`) for `account`/`region`, with the JSON request
    /// body; returns the JSON response body. Errors map to the AWS `__type`
    /// with [`MonitorError::code`].
    pub fn logs_call(&self, op: &str, account: &str, region: &str, body: &Value) -> Result<Value> {
        if !body.is_object() {
            return Err(MonitorError::invalid(
                "the request body must be a JSON object",
            ));
        }
        match op {
            "CreateLogGroup" => self.create_log_group(account, region, body),
            "DeleteLogGroup" => self.delete_log_group(account, region, body),
            "DescribeLogGroups" => self.describe_log_groups(account, region, body),
            "CreateLogStream" => self.create_log_stream(account, region, body),
            "DeleteLogStream" => self.delete_log_stream(account, region, body),
            "DescribeLogStreams" => self.describe_log_streams(account, region, body),
            "PutLogEvents" => self.put_log_events(account, region, body),
            "GetLogEvents" => self.get_log_events(account, region, body),
            "FilterLogEvents" => self.filter_log_events(account, region, body),
            "PutRetentionPolicy" => self.put_retention(account, region, body, true),
            "DeleteRetentionPolicy" => self.put_retention(account, region, body, false),
            "PutMetricFilter" => self.put_metric_filter(account, region, body),
            "DescribeMetricFilters" => self.describe_metric_filters(account, region, body),
            "DeleteMetricFilter" => self.delete_filter(account, region, body, "metric_filters"),
            "TestMetricFilter" => test_metric_filter(body),
            "PutSubscriptionFilter" => self.put_subscription_filter(account, region, body),
            "DescribeSubscriptionFilters" => {
                self.describe_subscription_filters(account, region, body)
            }
            "DeleteSubscriptionFilter" => {
                self.delete_filter(account, region, body, "subscription_filters")
            }
            "ListTagsLogGroup" => {
                let name = util::req_str(Api::Logs, body, "logGroupName")?;
                require_group(&self.db(), account, region, name)?;
                Ok(json!({"tags": {}}))
            }
            other => Err(MonitorError::NotImplemented {
                operation: other.to_string(),
            }),
        }
    }

    fn group_name_arg<'a>(&self, body: &'a Value) -> Result<&'a str> {
        let n = match util::opt_str(Api::Logs, body, "logGroupName")? {
            Some(n) => n,
            None => match util::opt_str(Api::Logs, body, "logGroupIdentifier")? {
                Some(id) if id.starts_with("arn:") => {
                    // Only the name part matters for lookups in this account.
                    let name = id
                        .split(":log-group:")
                        .nth(1)
                        .map(|s| s.trim_end_matches(":*"))
                        .ok_or_else(|| MonitorError::invalid("invalid logGroupIdentifier"))?;
                    return Ok(name);
                }
                Some(id) => id,
                None => {
                    return Err(MonitorError::invalid(
                        "Either logGroupName or logGroupIdentifier must be specified",
                    ));
                }
            },
        };
        util::check_group_name(n)?;
        Ok(n)
    }

    fn create_log_group(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        util::check_group_name(name)?;
        if let Some(class) = util::opt_str(Api::Logs, body, "logGroupClass")?
            && class != "STANDARD"
        {
            return Err(MonitorError::invalid(format!(
                "logGroupClass {class} is not supported by this Cairn server (only STANDARD)"
            )));
        }
        let conn = self.db();
        let n = conn.execute(
            "INSERT OR IGNORE INTO log_groups(account, region, name, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![account, region, name, self.now_ms()],
        )?;
        if n == 0 {
            return Err(MonitorError::ResourceAlreadyExists {
                message: "The specified log group already exists".to_string(),
            });
        }
        Ok(json!({}))
    }

    fn delete_log_group(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        util::check_group_name(name)?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, name)?;
        tx.execute("DELETE FROM log_events WHERE group_id = ?1", [g.id])?;
        tx.execute(
            "DELETE FROM stream_outbox WHERE filter_id IN (SELECT id FROM subscription_filters WHERE group_id = ?1)",
            [g.id],
        )?;
        tx.execute("DELETE FROM log_groups WHERE id = ?1", [g.id])?;
        tx.commit()?;
        self.invalidate_filters(g.id);
        Ok(json!({}))
    }

    fn describe_log_groups(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let prefix = util::opt_str(Api::Logs, body, "logGroupNamePrefix")?.unwrap_or("");
        let pattern = util::opt_str(Api::Logs, body, "logGroupNamePattern")?;
        if !prefix.is_empty() && pattern.is_some() {
            return Err(MonitorError::invalid(
                "logGroupNamePrefix and logGroupNamePattern are mutually exclusive",
            ));
        }
        let lim = limit(body, 50, 50)?;
        let after = match util::opt_str(Api::Logs, body, "nextToken")? {
            Some(t) => util::decode_token("g", t).ok_or_else(bad_token)?,
            None => String::new(),
        };
        let conn = self.db();
        let mut st = conn.prepare_cached(
            "SELECT g.name, g.created_ms, g.retention_days, g.stored_bytes,
                    (SELECT COUNT(*) FROM metric_filters f WHERE f.group_id = g.id)
             FROM log_groups g WHERE g.account = ?1 AND g.region = ?2 AND g.name > ?3
               AND substr(g.name, 1, length(?4)) = ?4
             ORDER BY g.name",
        )?;
        let mut rows = st.query(params![account, region, after, prefix])?;
        let mut groups = Vec::new();
        let mut next = None;
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            if let Some(p) = pattern
                && !name.contains(p)
            {
                continue;
            }
            if groups.len() as i64 == lim {
                next = groups
                    .last()
                    .and_then(|g: &Value| g["logGroupName"].as_str())
                    .map(|n| util::encode_token("g", n));
                break;
            }
            let arn = util::group_arn(account, region, &name);
            let mut g = json!({
                "logGroupName": name,
                "creationTime": r.get::<_, i64>(1)?,
                "metricFilterCount": r.get::<_, i64>(4)?,
                "arn": format!("{arn}:*"),
                "storedBytes": r.get::<_, i64>(3)?,
                "logGroupClass": "STANDARD",
                "logGroupArn": arn,
            });
            if let Some(d) = r.get::<_, Option<i64>>(2)? {
                g["retentionInDays"] = json!(d);
            }
            groups.push(g);
        }
        let mut out = json!({ "logGroups": groups });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    fn create_log_stream(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let stream = util::req_str(Api::Logs, body, "logStreamName")?;
        util::check_group_name(name)?;
        util::check_name("logStreamName", stream)?;
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        let n = conn.execute(
            "INSERT OR IGNORE INTO log_streams(group_id, name, created_ms) VALUES (?1, ?2, ?3)",
            params![g.id, stream, self.now_ms()],
        )?;
        if n == 0 {
            return Err(MonitorError::ResourceAlreadyExists {
                message: "The specified log stream already exists".to_string(),
            });
        }
        Ok(json!({}))
    }

    fn delete_log_stream(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let stream = util::req_str(Api::Logs, body, "logStreamName")?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, name)?;
        let sid = stream_id(&tx, g.id, stream)?;
        tx.execute("DELETE FROM log_events WHERE stream_id = ?1", [sid])?;
        tx.execute("DELETE FROM log_streams WHERE id = ?1", [sid])?;
        tx.commit()?;
        Ok(json!({}))
    }

    fn describe_log_streams(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = self.group_name_arg(body)?;
        let prefix = util::opt_str(Api::Logs, body, "logStreamNamePrefix")?.unwrap_or("");
        let order = util::opt_str(Api::Logs, body, "orderBy")?.unwrap_or("LogStreamName");
        let by_time = match order {
            "LogStreamName" => false,
            "LastEventTime" => true,
            o => {
                return Err(MonitorError::invalid(format!(
                    "1 validation error detected: Value '{o}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
                )));
            }
        };
        if by_time && !prefix.is_empty() {
            return Err(MonitorError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let desc = util::opt_bool(Api::Logs, body, "descending")?.unwrap_or(false);
        let lim = limit(body, 50, 50)?;
        let offset: i64 = match util::opt_str(Api::Logs, body, "nextToken")? {
            Some(t) => util::decode_token("s", t)
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad_token)?,
            None => 0,
        };
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        let order_sql = match (by_time, desc) {
            (false, false) => "name ASC",
            (false, true) => "name DESC",
            (true, false) => "COALESCE(last_event_ms, 0) ASC, name ASC",
            (true, true) => "COALESCE(last_event_ms, 0) DESC, name DESC",
        };
        let sql = format!(
            "SELECT name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes
             FROM log_streams WHERE group_id = ?1 AND substr(name, 1, length(?2)) = ?2
             ORDER BY {order_sql} LIMIT ?3 OFFSET ?4"
        );
        let mut st = conn.prepare(&sql)?;
        let rows = st.query(params![g.id, prefix, lim + 1, offset])?;
        let (streams, next) = util::offset_page(rows, "s", offset, lim, |r| {
            let sname: String = r.get(0)?;
            let mut s = json!({
                "logStreamName": sname,
                "creationTime": r.get::<_, i64>(1)?,
                "arn": format!("{}:log-stream:{sname}", util::group_arn(account, region, name)),
                "storedBytes": 0,
            });
            for (i, k) in [
                (2, "firstEventTimestamp"),
                (3, "lastEventTimestamp"),
                (4, "lastIngestionTime"),
            ] {
                if let Some(v) = r.get::<_, Option<i64>>(i)? {
                    s[k] = json!(v);
                }
            }
            Ok(s)
        })?;
        let mut out = json!({ "logStreams": streams });
        if let Some(next) = next {
            out["nextToken"] = json!(next);
        }
        Ok(out)
    }

    fn put_log_events(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let stream = util::req_str(Api::Logs, body, "logStreamName")?;
        let raw = body
            .get("logEvents")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MonitorError::invalid(
                    "1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must not be null",
                )
            })?;
        if raw.is_empty() || raw.len() > MAX_BATCH_EVENTS {
            return Err(MonitorError::invalid(format!(
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and {MAX_BATCH_EVENTS}"
            )));
        }
        let mut events = Vec::with_capacity(raw.len());
        let mut size = 0usize;
        for e in raw {
            let ts = util::req_i64(Api::Logs, e, "timestamp")?;
            let msg = util::req_str(Api::Logs, e, "message")?;
            if msg.is_empty() {
                return Err(MonitorError::invalid(
                    "1 validation error detected: Value '' at 'logEvents.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
                ));
            }
            if msg.len() > MAX_EVENT_BYTES {
                return Err(MonitorError::invalid(format!(
                    "Log event too large: {} bytes exceeds the limit of {MAX_EVENT_BYTES} bytes",
                    msg.len()
                )));
            }
            size += msg.len() + EVENT_OVERHEAD;
            events.push((ts, msg));
        }
        if size > MAX_BATCH_BYTES {
            return Err(MonitorError::invalid(format!(
                "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if events.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(MonitorError::invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let span =
            events.last().map(|e| e.0).unwrap_or(0) - events.first().map(|e| e.0).unwrap_or(0);
        if span > 24 * 3_600_000 {
            return Err(MonitorError::invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let now = self.now_ms();
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, name)?;
        let sid = stream_id(&tx, g.id, stream)?;
        // Too new (> 2 h ahead), too old (> 14 days), or expired (retention).
        let too_new = events.iter().position(|e| e.0 > now + 2 * 3_600_000);
        let too_old_end = events.iter().rposition(|e| e.0 < now - 14 * 86_400_000);
        let expired_end = g
            .retention_days
            .and_then(|d| events.iter().rposition(|e| e.0 < now - d * 86_400_000));
        let start = too_old_end.max(expired_end).map_or(0, |i| i + 1);
        let end = too_new.unwrap_or(events.len()).max(start);
        let accepted = &events[start..end];
        if !accepted.is_empty() {
            self.append_events(&tx, &g, sid, stream, accepted)?;
        }
        tx.commit()?;
        let mut out = json!({ "nextSequenceToken": format!("{:056}", self.now_ms()) });
        let mut info = serde_json::Map::new();
        if let Some(i) = too_new {
            info.insert("tooNewLogEventStartIndex".into(), json!(i));
        }
        if let Some(i) = too_old_end {
            info.insert("tooOldLogEventEndIndex".into(), json!(i));
        }
        if let Some(i) = expired_end {
            info.insert("expiredLogEventEndIndex".into(), json!(i));
        }
        if !info.is_empty() {
            out["rejectedLogEventsInfo"] = Value::Object(info);
        }
        Ok(out)
    }

    fn get_log_events(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = self.group_name_arg(body)?;
        let stream = util::req_str(Api::Logs, body, "logStreamName")?;
        let start = util::opt_i64(Api::Logs, body, "startTime")?.unwrap_or(i64::MIN);
        let end = util::opt_i64(Api::Logs, body, "endTime")?.unwrap_or(i64::MAX);
        let lim = limit(body, 10_000, 10_000)?;
        let from_head = util::opt_bool(Api::Logs, body, "startFromHead")?.unwrap_or(false);
        let token = util::opt_str(Api::Logs, body, "nextToken")?;
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        let sid = stream_id(&conn, g.id, stream)?;
        // Position: (ts, id). Forward tokens read after it, backward before it.
        let (forward, pos) = match token {
            Some(t) => {
                let (dir, p) = t.split_once('/').ok_or_else(bad_token)?;
                let (a, b) = p.split_once('_').ok_or_else(bad_token)?;
                let pos: (i64, i64) = (
                    a.parse().map_err(|_| bad_token())?,
                    b.parse().map_err(|_| bad_token())?,
                );
                match dir {
                    "f" => (true, Some(pos)),
                    "b" => (false, Some(pos)),
                    _ => return Err(bad_token()),
                }
            }
            None => (from_head, None),
        };
        let mut rows: Vec<(i64, i64, i64, String)> = Vec::new();
        {
            let sql = if forward {
                "SELECT id, ts_ms, ingest_ms, message FROM log_events
                 WHERE stream_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms, id) > (?4, ?5)
                 ORDER BY ts_ms, id LIMIT ?6"
            } else {
                "SELECT id, ts_ms, ingest_ms, message FROM log_events
                 WHERE stream_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms, id) < (?4, ?5)
                 ORDER BY ts_ms DESC, id DESC LIMIT ?6"
            };
            let p = pos.unwrap_or(if forward {
                (i64::MIN, i64::MIN)
            } else {
                (i64::MAX, i64::MAX)
            });
            let mut st = conn.prepare_cached(sql)?;
            let mut q = st.query(params![sid, start, end, p.0, p.1, lim])?;
            while let Some(r) = q.next()? {
                let msg = crate::seal::open(self.storage_key(), crate::seal::MESSAGE, r.get(3)?)?;
                rows.push((r.get(0)?, r.get(1)?, r.get(2)?, msg));
            }
        }
        if !forward {
            rows.reverse();
        }
        let fmt = |d: &str, ts: i64, id: i64| format!("{d}/{ts}_{id}");
        let (next_f, next_b) = match (rows.first(), rows.last()) {
            (Some(first), Some(last)) => (fmt("f", last.1, last.0), fmt("b", first.1, first.0)),
            _ => {
                let p = pos.unwrap_or((i64::MIN, i64::MIN));
                let t = if p.0 == i64::MIN || p.0 == i64::MAX {
                    (0, 0)
                } else {
                    p
                };
                (fmt("f", t.0, t.1), fmt("b", t.0, t.1))
            }
        };
        let events: Vec<Value> = rows
            .into_iter()
            .map(|(_, ts, ing, msg)| json!({"timestamp": ts, "message": msg, "ingestionTime": ing}))
            .collect();
        Ok(json!({ "events": events, "nextForwardToken": next_f, "nextBackwardToken": next_b }))
    }

    fn filter_log_events(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = self.group_name_arg(body)?;
        let names = util::opt_str_list(Api::Logs, body, "logStreamNames")?;
        let prefix = util::opt_str(Api::Logs, body, "logStreamNamePrefix")?;
        if names.is_some() && prefix.is_some() {
            return Err(MonitorError::invalid(
                "You cannot specify both logStreamNames and logStreamNamePrefix.",
            ));
        }
        if let Some(n) = &names
            && (n.is_empty() || n.len() > 100)
        {
            return Err(MonitorError::invalid(
                "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length between 1 and 100",
            ));
        }
        let start = util::opt_i64(Api::Logs, body, "startTime")?.unwrap_or(0);
        let end = util::opt_i64(Api::Logs, body, "endTime")?.unwrap_or(i64::MAX);
        if end < start {
            return Err(MonitorError::invalid(
                "endTime must not be earlier than startTime",
            ));
        }
        let pattern =
            parse_pattern(util::opt_str(Api::Logs, body, "filterPattern")?.unwrap_or(""))?;
        let lim = limit(body, 10_000, 10_000)? as usize;
        let pos: (i64, i64) = match util::opt_str(Api::Logs, body, "nextToken")? {
            Some(t) => {
                let p = util::decode_token("fle", t).ok_or_else(bad_token)?;
                let (a, b) = p.split_once('_').ok_or_else(bad_token)?;
                (
                    a.parse().map_err(|_| bad_token())?,
                    b.parse().map_err(|_| bad_token())?,
                )
            }
            None => (i64::MIN, i64::MIN),
        };
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        // The streams searched.
        let mut streams: Vec<(i64, String)> = Vec::new();
        {
            let mut st = conn.prepare_cached(
                "SELECT id, name FROM log_streams WHERE group_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map([g.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for r in rows {
                let (id, n): (i64, String) = r?;
                let keep = match (&names, prefix) {
                    (Some(ns), _) => ns.contains(&n),
                    (None, Some(p)) => n.starts_with(p),
                    (None, None) => true,
                };
                if keep {
                    streams.push((id, n));
                }
            }
        }
        if let Some(ns) = &names
            && let Some(missing) = ns.iter().find(|x| !streams.iter().any(|(_, n)| n == *x))
        {
            return Err(MonitorError::not_found(format!(
                "The specified log stream does not exist: {missing}"
            )));
        }
        let all_streams = names.is_none() && prefix.is_none();
        let stream_name = |id: i64| streams.iter().find(|s| s.0 == id).map(|s| s.1.clone());
        let mut events = Vec::new();
        let mut scanned = 0usize;
        let mut last = pos;
        let mut exhausted = true;
        let mut st = conn.prepare_cached(
            "SELECT id, stream_id, ts_ms, ingest_ms, message FROM log_events
             WHERE group_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms, id) > (?4, ?5)
             ORDER BY ts_ms, id LIMIT 1000",
        )?;
        'outer: loop {
            let mut q = st.query(params![g.id, start, end, last.0, last.1])?;
            let mut got = 0;
            while let Some(r) = q.next()? {
                got += 1;
                let id: i64 = r.get(0)?;
                let sid: i64 = r.get(1)?;
                let ts: i64 = r.get(2)?;
                last = (ts, id);
                scanned += 1;
                let in_scope = all_streams || streams.iter().any(|s| s.0 == sid);
                if in_scope {
                    let msg =
                        crate::seal::open(self.storage_key(), crate::seal::MESSAGE, r.get(4)?)?;
                    if pattern.matches_prepared(&PreparedEvent::new(&msg)) {
                        events.push(json!({
                            "logStreamName": stream_name(sid).unwrap_or_default(),
                            "timestamp": ts,
                            "message": msg,
                            "ingestionTime": r.get::<_, i64>(3)?,
                            "eventId": self.event_id(id),
                        }));
                    }
                }
                if events.len() >= lim || scanned >= FILTER_SCAN_LIMIT {
                    exhausted = false;
                    break 'outer;
                }
            }
            if got < 1000 {
                break;
            }
        }
        // When stopping exactly at the limit, check whether anything remains.
        if !exhausted {
            let more: Option<i64> = conn
                .query_row(
                    "SELECT id FROM log_events WHERE group_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms, id) > (?4, ?5) LIMIT 1",
                    params![g.id, start, end, last.0, last.1],
                    |r| r.get(0),
                )
                .optional()?;
            exhausted = more.is_none();
        }
        let searched: Vec<Value> = streams
            .iter()
            .map(|(_, n)| json!({"logStreamName": n, "searchedCompletely": exhausted}))
            .collect();
        let mut out = json!({ "events": events, "searchedLogStreams": searched });
        if !exhausted {
            out["nextToken"] = json!(util::encode_token("fle", &format!("{}_{}", last.0, last.1)));
        }
        Ok(out)
    }

    fn put_retention(&self, account: &str, region: &str, body: &Value, set: bool) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        util::check_group_name(name)?;
        let days = if set {
            let d = util::req_i64(Api::Logs, body, "retentionInDays")?;
            if !RETENTION_DAYS.contains(&d) {
                return Err(MonitorError::invalid(format!(
                    "1 validation error detected: Value '{d}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
                )));
            }
            Some(d)
        } else {
            None
        };
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        conn.execute(
            "UPDATE log_groups SET retention_days = ?2 WHERE id = ?1",
            params![g.id, days],
        )?;
        Ok(json!({}))
    }

    fn put_metric_filter(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let filter = util::req_str(Api::Logs, body, "filterName")?;
        let pattern_text = util::req_str(Api::Logs, body, "filterPattern")?;
        util::check_group_name(name)?;
        util::check_name("filterName", filter)?;
        let pattern = parse_pattern(pattern_text)?;
        let ts = body
            .get("metricTransformations")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MonitorError::invalid(
                    "1 validation error detected: Value null at 'metricTransformations' failed to satisfy constraint: Member must not be null",
                )
            })?;
        if ts.len() != 1 {
            return Err(MonitorError::invalid(
                "1 validation error detected: Value at 'metricTransformations' failed to satisfy constraint: Member must have length less than or equal to 1 and greater than or equal to 1",
            ));
        }
        let t: MetricTransformation = serde_json::from_value(ts[0].clone())
            .map_err(|e| MonitorError::invalid(format!("Invalid metricTransformations: {e}")))?;
        t.compile(&pattern)
            .map_err(|e| MonitorError::invalid(e.to_string()))?;
        self.store_metric_filter(account, region, name, filter, pattern_text, &ts[0])?;
        Ok(json!({}))
    }

    pub(crate) fn store_metric_filter(
        &self,
        account: &str,
        region: &str,
        group: &str,
        filter: &str,
        pattern: &str,
        transformation: &Value,
    ) -> Result<()> {
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, group)?;
        if adds_past_limit(&tx, "metric_filters", g.id, filter, MAX_METRIC_FILTERS)? {
            return Err(MonitorError::LimitExceeded {
                message: format!(
                    "Resource limit exceeded: at most {MAX_METRIC_FILTERS} metric filters per log group"
                ),
            });
        }
        let list = Value::Array(vec![transformation.clone()]).to_string();
        tx.execute(
            "INSERT INTO metric_filters(group_id, name, pattern, transformations, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(group_id, name) DO UPDATE SET pattern = excluded.pattern, transformations = excluded.transformations",
            params![g.id, filter, pattern, list, self.now_ms()],
        )?;
        tx.commit()?;
        self.invalidate_filters(g.id);
        Ok(())
    }

    fn describe_metric_filters(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let group = util::opt_str(Api::Logs, body, "logGroupName")?;
        let prefix = util::opt_str(Api::Logs, body, "filterNamePrefix")?.unwrap_or("");
        let mname = util::opt_str(Api::Logs, body, "metricName")?;
        let mns = util::opt_str(Api::Logs, body, "metricNamespace")?;
        if mname.is_some() != mns.is_some() {
            return Err(MonitorError::invalid(
                "metricName and metricNamespace must be specified together",
            ));
        }
        if !prefix.is_empty() && group.is_none() {
            return Err(MonitorError::invalid(
                "filterNamePrefix requires logGroupName",
            ));
        }
        let lim = limit(body, 50, 50)?;
        let after = match util::opt_str(Api::Logs, body, "nextToken")? {
            Some(t) => util::decode_token("mf", t).ok_or_else(bad_token)?,
            None => String::new(),
        };
        let conn = self.db();
        let gid = match group {
            Some(n) => Some(require_group(&conn, account, region, n)?.id),
            None => None,
        };
        let mut st = conn.prepare_cached(
            "SELECT g.name || char(31) || f.name AS k, g.name, f.name, f.pattern, f.transformations, f.created_ms
             FROM metric_filters f JOIN log_groups g ON g.id = f.group_id
             WHERE g.account = ?1 AND g.region = ?2 AND (?3 IS NULL OR g.id = ?3)
               AND substr(f.name, 1, length(?4)) = ?4 AND k > ?5
             ORDER BY k",
        )?;
        let mut rows = st.query(params![account, region, gid, prefix, after])?;
        let mut out_filters = Vec::new();
        let mut next = None;
        let mut last_key = String::new();
        while let Some(r) = rows.next()? {
            let ts: Value = serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or(json!([]));
            if let (Some(n), Some(ns)) = (mname, mns) {
                let t = &ts[0];
                if t["metricName"] != n || t["metricNamespace"] != ns {
                    continue;
                }
            }
            if out_filters.len() as i64 == lim {
                next = Some(util::encode_token("mf", &last_key));
                break;
            }
            last_key = r.get(0)?;
            out_filters.push(json!({
                "filterName": r.get::<_, String>(2)?,
                "filterPattern": r.get::<_, String>(3)?,
                "metricTransformations": ts,
                "creationTime": r.get::<_, i64>(5)?,
                "logGroupName": r.get::<_, String>(1)?,
            }));
        }
        let mut out = json!({ "metricFilters": out_filters });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    fn delete_filter(
        &self,
        account: &str,
        region: &str,
        body: &Value,
        table: &str,
    ) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let filter = util::req_str(Api::Logs, body, "filterName")?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, name)?;
        if table == "subscription_filters" {
            // Queued events of the filter are kept as dead letters, not dropped.
            let id: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, destination FROM subscription_filters WHERE group_id = ?1 AND name = ?2",
                    params![g.id, filter],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, dest)) = id {
                tx.execute(
                    "INSERT INTO stream_dead(filter_id, destination, event_id, group_name, stream_name, ts_ms, message, error, failed_ms)
                     SELECT filter_id, ?2, event_id, group_name, stream_name, ts_ms, message, 'subscription filter deleted before delivery', ?3
                     FROM stream_outbox WHERE filter_id = ?1",
                    params![id, dest, self.now_ms()],
                )?;
                tx.execute("DELETE FROM stream_outbox WHERE filter_id = ?1", [id])?;
            }
        }
        let sql = format!("DELETE FROM {table} WHERE group_id = ?1 AND name = ?2");
        let n = tx.execute(&sql, params![g.id, filter])?;
        if n == 0 {
            return Err(MonitorError::not_found(if table == "metric_filters" {
                "The specified metric filter does not exist."
            } else {
                "The specified subscription filter does not exist."
            }));
        }
        tx.commit()?;
        self.invalidate_filters(g.id);
        Ok(json!({}))
    }

    fn put_subscription_filter(&self, account: &str, region: &str, body: &Value) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let filter = util::req_str(Api::Logs, body, "filterName")?;
        let pattern = util::req_str(Api::Logs, body, "filterPattern")?;
        let dest = util::req_str(Api::Logs, body, "destinationArn")?;
        let role = util::opt_str(Api::Logs, body, "roleArn")?;
        let distribution = util::opt_str(Api::Logs, body, "distribution")?.unwrap_or("ByLogStream");
        if !matches!(distribution, "Random" | "ByLogStream") {
            return Err(MonitorError::invalid(format!(
                "1 validation error detected: Value '{distribution}' at 'distribution' failed to satisfy constraint: Member must satisfy enum value set: [Random, ByLogStream]"
            )));
        }
        util::check_group_name(name)?;
        util::check_name("filterName", filter)?;
        parse_pattern(pattern)?;
        Destination::parse(dest)?;
        let mut conn = self.db();
        let tx = conn.transaction()?;
        let g = require_group(&tx, account, region, name)?;
        if adds_past_limit(
            &tx,
            "subscription_filters",
            g.id,
            filter,
            MAX_SUBSCRIPTION_FILTERS,
        )? {
            return Err(MonitorError::LimitExceeded {
                message: "Resource limit exceeded.".to_string(),
            });
        }
        tx.execute(
            "INSERT INTO subscription_filters(group_id, name, pattern, destination, role_arn, distribution, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(group_id, name) DO UPDATE SET pattern = excluded.pattern, destination = excluded.destination,
               role_arn = excluded.role_arn, distribution = excluded.distribution",
            params![g.id, filter, pattern, dest, role, distribution, self.now_ms()],
        )?;
        tx.commit()?;
        self.invalidate_filters(g.id);
        Ok(json!({}))
    }

    fn describe_subscription_filters(
        &self,
        account: &str,
        region: &str,
        body: &Value,
    ) -> Result<Value> {
        let name = util::req_str(Api::Logs, body, "logGroupName")?;
        let prefix = util::opt_str(Api::Logs, body, "filterNamePrefix")?.unwrap_or("");
        let lim = limit(body, 50, 50)?;
        let after = match util::opt_str(Api::Logs, body, "nextToken")? {
            Some(t) => util::decode_token("sf", t).ok_or_else(bad_token)?,
            None => String::new(),
        };
        let conn = self.db();
        let g = require_group(&conn, account, region, name)?;
        let mut st = conn.prepare_cached(
            "SELECT name, pattern, destination, role_arn, distribution, created_ms FROM subscription_filters
             WHERE group_id = ?1 AND substr(name, 1, length(?2)) = ?2 AND name > ?3 ORDER BY name LIMIT ?4",
        )?;
        let mut rows = st.query(params![g.id, prefix, after, lim + 1])?;
        let mut list = Vec::new();
        let mut next = None;
        while let Some(r) = rows.next()? {
            if list.len() as i64 == lim {
                next = list
                    .last()
                    .and_then(|v: &Value| v["filterName"].as_str())
                    .map(|n| util::encode_token("sf", n));
                break;
            }
            let mut f = json!({
                "filterName": r.get::<_, String>(0)?,
                "logGroupName": name,
                "filterPattern": r.get::<_, String>(1)?,
                "destinationArn": r.get::<_, String>(2)?,
                "distribution": r.get::<_, String>(4)?,
                "creationTime": r.get::<_, i64>(5)?,
            });
            if let Some(role) = r.get::<_, Option<String>>(3)? {
                f["roleArn"] = json!(role);
            }
            list.push(f);
        }
        let mut out = json!({ "subscriptionFilters": list });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }
}

fn stream_id(conn: &rusqlite::Connection, group_id: i64, name: &str) -> Result<i64> {
    conn.query_row(
        "SELECT id FROM log_streams WHERE group_id = ?1 AND name = ?2",
        params![group_id, name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| MonitorError::not_found("The specified log stream does not exist."))
}

fn test_metric_filter(body: &Value) -> Result<Value> {
    let pattern = parse_pattern(util::req_str(Api::Logs, body, "filterPattern")?)?;
    let msgs = util::opt_str_list(Api::Logs, body, "logEventMessages")?.ok_or_else(|| {
        MonitorError::invalid(
            "1 validation error detected: Value null at 'logEventMessages' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if msgs.is_empty() || msgs.len() > 50 {
        return Err(MonitorError::invalid(
            "1 validation error detected: Value at 'logEventMessages' failed to satisfy constraint: Member must have length between 1 and 50",
        ));
    }
    let matches: Vec<Value> = msgs
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            pattern
                .extracted_values(m)
                .map(|ex| json!({"eventNumber": i + 1, "eventMessage": m, "extractedValues": ex}))
        })
        .collect();
    Ok(json!({ "matches": matches }))
}

/// Used by tests and the CIS pack: does the group exist?
pub(crate) fn group_exists(
    conn: &rusqlite::Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<bool> {
    Ok(load_group(conn, account, region, name)?.is_some())
}
