//! CloudWatch Logs API round trips and error cases.

use crate::common::*;
use cairn_monitor::{Monitor, MonitorError};
use serde_json::{Value, json};

fn err(m: &Monitor, op: &str, body: Value) -> MonitorError {
    m.logs_call(op, ACCOUNT, REGION, &body).expect_err(op)
}

#[track_caller]
fn assert_err(m: &Monitor, op: &str, body: Value, code: &str) {
    assert_eq!(err(m, op, body).code(), code, "{op}");
}

/// `op` (a delete) succeeds once; the same call again fails with
/// `ResourceNotFoundException`.
#[track_caller]
fn delete_twice(m: &Monitor, op: &str, body: Value) {
    logs(m, op, body.clone());
    assert_err(m, op, body, "ResourceNotFoundException");
}

/// Creates the log stream `stream` in the log group `group`.
fn create_stream(m: &Monitor, group: &str, stream: &str) {
    logs(
        m,
        "CreateLogStream",
        json!({"logGroupName": group, "logStreamName": stream}),
    );
}

#[test]
fn log_groups_streams_and_retention() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "b/group"}));
    logs(&m, "CreateLogGroup", json!({"logGroupName": "a-group"}));
    assert_err(
        &m,
        "CreateLogGroup",
        json!({"logGroupName": "a-group"}),
        "ResourceAlreadyExistsException",
    );
    assert_err(
        &m,
        "CreateLogGroup",
        json!({"logGroupName": "bad name"}),
        "InvalidParameterException",
    );
    assert_err(&m, "CreateLogGroup", json!({}), "InvalidParameterException");
    // Same name in another region is another group.
    m.logs_call(
        "CreateLogGroup",
        ACCOUNT,
        "eu-west-1",
        &json!({"logGroupName": "a-group"}),
    )
    .unwrap();

    let d = logs(&m, "DescribeLogGroups", json!({}));
    let names: Vec<&str> = d["logGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["logGroupName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-group", "b/group"]);
    let g = &d["logGroups"][0];
    assert_eq!(
        g["arn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:a-group:*"
    );
    assert_eq!(
        g["logGroupArn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:a-group"
    );
    assert_eq!(g["creationTime"], NOW);
    assert!(g.get("retentionInDays").is_none());
    // Pagination.
    let p1 = logs(&m, "DescribeLogGroups", json!({"limit": 1}));
    assert_eq!(p1["logGroups"].as_array().unwrap().len(), 1);
    let p2 = logs(
        &m,
        "DescribeLogGroups",
        json!({"limit": 1, "nextToken": p1["nextToken"]}),
    );
    assert_eq!(p2["logGroups"][0]["logGroupName"], "b/group");
    assert!(p2.get("nextToken").is_none());
    assert_err(
        &m,
        "DescribeLogGroups",
        json!({"nextToken": "garbage"}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "DescribeLogGroups",
        json!({"limit": 51}),
        "InvalidParameterException",
    );
    let pre = logs(&m, "DescribeLogGroups", json!({"logGroupNamePrefix": "b/"}));
    assert_eq!(pre["logGroups"].as_array().unwrap().len(), 1);

    logs(
        &m,
        "PutRetentionPolicy",
        json!({"logGroupName": "a-group", "retentionInDays": 7}),
    );
    assert_err(
        &m,
        "PutRetentionPolicy",
        json!({"logGroupName": "a-group", "retentionInDays": 8}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "PutRetentionPolicy",
        json!({"logGroupName": "nope", "retentionInDays": 7}),
        "ResourceNotFoundException",
    );
    let d = logs(&m, "DescribeLogGroups", json!({"logGroupNamePrefix": "a-"}));
    assert_eq!(d["logGroups"][0]["retentionInDays"], 7);

    create_stream(&m, "a-group", "s2");
    create_stream(&m, "a-group", "s1");
    assert_err(
        &m,
        "CreateLogStream",
        json!({"logGroupName": "a-group", "logStreamName": "s1"}),
        "ResourceAlreadyExistsException",
    );
    assert_err(
        &m,
        "CreateLogStream",
        json!({"logGroupName": "nope", "logStreamName": "s1"}),
        "ResourceNotFoundException",
    );
    assert_err(
        &m,
        "CreateLogStream",
        json!({"logGroupName": "a-group", "logStreamName": "a:b"}),
        "InvalidParameterException",
    );
    let s = logs(&m, "DescribeLogStreams", json!({"logGroupName": "a-group"}));
    let names: Vec<&str> = s["logStreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["logStreamName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s1", "s2"]);
    let s = logs(
        &m,
        "DescribeLogStreams",
        json!({"logGroupName": "a-group", "descending": true, "limit": 1}),
    );
    assert_eq!(s["logStreams"][0]["logStreamName"], "s2");
    assert!(s["nextToken"].is_string());
    assert_err(
        &m,
        "DescribeLogStreams",
        json!({"logGroupName": "a-group", "orderBy": "LastEventTime", "logStreamNamePrefix": "s"}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "DescribeLogStreams",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );

    delete_twice(
        &m,
        "DeleteLogStream",
        json!({"logGroupName": "a-group", "logStreamName": "s2"}),
    );
    logs(
        &m,
        "DeleteRetentionPolicy",
        json!({"logGroupName": "a-group"}),
    );
    delete_twice(&m, "DeleteLogGroup", json!({"logGroupName": "a-group"}));
    assert_eq!(
        logs(&m, "DescribeLogGroups", json!({}))["logGroups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn put_get_and_filter_events() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    create_stream(&m, "g", "s");
    create_stream(&m, "g", "t");
    let events: Vec<Value> = (0..30).map(|i| json!({"timestamp": NOW - 30_000 + i * 1000, "message": format!("line {i} {}", if i % 3 == 0 { "ERROR" } else { "ok" })})).collect();
    let r = logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
    );
    assert!(r["nextSequenceToken"].is_string());
    assert!(r.get("rejectedLogEventsInfo").is_none());
    logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "t", "logEvents": [{"timestamp": NOW, "message": "other ERROR"}]}),
    );
    // Errors.
    assert_err(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": 2, "message": "a"}, {"timestamp": 1, "message": "b"}]}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "nope", "logEvents": [{"timestamp": NOW, "message": "a"}]}),
        "ResourceNotFoundException",
    );
    assert_err(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": []}),
        "InvalidParameterException",
    );
    // Too old / too new are reported, not stored.
    let r = logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "t", "logEvents": [
        {"timestamp": NOW - 15 * 86_400_000, "message": "old"}, {"timestamp": NOW - 15 * 86_400_000 + 1, "message": "old2"}]}),
    );
    assert_eq!(r["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"], 1);
    let r = logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "t", "logEvents": [{"timestamp": NOW + 3 * 3_600_000, "message": "future"}]}),
    );
    assert_eq!(r["rejectedLogEventsInfo"]["tooNewLogEventStartIndex"], 0);

    // GetLogEvents: default = the latest events; forward paging from head.
    let g = logs(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10}),
    );
    let ev = g["events"].as_array().unwrap();
    assert_eq!(ev.len(), 10);
    assert_eq!(ev[9]["message"], "line 29 ok");
    assert_eq!(ev[0]["ingestionTime"], NOW);
    let mut all = Vec::new();
    let mut body =
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 7, "startFromHead": true});
    for _ in 0..10 {
        let g = logs(&m, "GetLogEvents", body.clone());
        let ev = g["events"].as_array().unwrap().clone();
        if ev.is_empty() {
            // The end: the forward token does not move.
            assert_eq!(g["nextForwardToken"], body["nextToken"]);
            break;
        }
        all.extend(ev);
        body["nextToken"] = g["nextForwardToken"].clone();
    }
    assert_eq!(all.len(), 30);
    assert_eq!(all[0]["message"], "line 0 ERROR");
    // Backward from the latest page.
    let g = logs(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10}),
    );
    let b = logs(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10, "nextToken": g["nextBackwardToken"]}),
    );
    assert_eq!(b["events"][9]["message"], "line 19 ok");
    let w = logs(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "startTime": NOW - 5000, "endTime": NOW - 2000, "startFromHead": true}),
    );
    assert_eq!(w["events"].as_array().unwrap().len(), 3);
    assert_err(
        &m,
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": "x/y"}),
        "InvalidParameterException",
    );

    // FilterLogEvents: pattern, streams, time range, pagination.
    let f = logs(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "ERROR"}),
    );
    assert_eq!(f["events"].as_array().unwrap().len(), 11);
    assert!(f.get("nextToken").is_none());
    let f = logs(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "ERROR", "logStreamNames": ["t"]}),
    );
    assert_eq!(f["events"].as_array().unwrap().len(), 1);
    assert_eq!(f["events"][0]["logStreamName"], "t");
    assert_eq!(f["events"][0]["eventId"].as_str().unwrap().len(), 40);
    let f = logs(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "?ERROR ?other", "startTime": NOW - 10_000, "endTime": NOW}),
    );
    assert_eq!(f["events"].as_array().unwrap().len(), 3);
    let mut seen = Vec::new();
    let mut body = json!({"logGroupName": "g", "filterPattern": "-ERROR", "limit": 4});
    loop {
        let f = logs(&m, "FilterLogEvents", body.clone());
        seen.extend(
            f["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message"].as_str().unwrap().to_string()),
        );
        match f.get("nextToken") {
            Some(t) => body["nextToken"] = t.clone(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 20);
    assert!(seen.iter().all(|s| !s.contains("ERROR")));
    let e = err(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.a = "}),
    );
    assert_eq!(e.code(), "InvalidParameterException");
    assert!(e.message().contains("position"), "{}", e.message());
    assert_err(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["s"], "logStreamNamePrefix": "s"}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["zz"]}),
        "ResourceNotFoundException",
    );
    assert_err(
        &m,
        "FilterLogEvents",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
    let streams = logs(
        &m,
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true}),
    );
    assert_eq!(streams["logStreams"][0]["logStreamName"], "t");
    assert_eq!(streams["logStreams"][1]["lastEventTimestamp"], NOW - 1000);
}

#[test]
fn retention_housekeeping_deletes_old_events() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    create_stream(&m, "g", "s");
    logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": NOW - 2 * 86_400_000, "message": "old"}]}),
    );
    logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": NOW, "message": "new"}]}),
    );
    // A batch may not span more than 24 hours.
    assert_err(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [ {"timestamp": NOW - 2 * 86_400_000, "message": "old"}, {"timestamp": NOW, "message": "new"}]}),
        "InvalidParameterException",
    );
    logs(
        &m,
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 1}),
    );
    m.housekeeping(NOW).unwrap();
    let f = logs(&m, "FilterLogEvents", json!({"logGroupName": "g"}));
    let msgs: Vec<&str> = f["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["new"]);
    // With retention set, events older than it are rejected as expired.
    let r = logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": NOW - 2 * 86_400_000, "message": "x"}]}),
    );
    assert_eq!(r["rejectedLogEventsInfo"]["expiredLogEventEndIndex"], 0);
}

#[test]
fn metric_filters_and_test_metric_filter() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    let mf = |name: &str, pattern: &str, value: &str| {
        json!({"logGroupName": "g", "filterName": name, "filterPattern": pattern,
               "metricTransformations": [{"metricName": "M", "metricNamespace": "NS", "metricValue": value, "unit": "Count"}]})
    };
    logs(
        &m,
        "PutMetricFilter",
        mf("b", "{ $.eventName = \"StopLogging\" }", "1"),
    );
    logs(
        &m,
        "PutMetricFilter",
        mf("a", "[ip, user, status_code, bytes]", "$bytes"),
    );
    assert_err(
        &m,
        "PutMetricFilter",
        mf("c", "{ $.x = ", "1"),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "PutMetricFilter",
        mf("c", "ERROR", "$.x"),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "PutMetricFilter",
        mf("c:d", "ERROR", "1"),
        "InvalidParameterException",
    );
    let mut nf = mf("c", "ERROR", "1");
    nf["logGroupName"] = json!("nope");
    assert_err(&m, "PutMetricFilter", nf, "ResourceNotFoundException");
    let mut two = mf("c", "ERROR", "1");
    two["metricTransformations"] = json!([
        two["metricTransformations"][0],
        two["metricTransformations"][0]
    ]);
    assert_err(&m, "PutMetricFilter", two, "InvalidParameterException");

    let d = logs(&m, "DescribeMetricFilters", json!({"logGroupName": "g"}));
    let f = d["metricFilters"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["filterName"], "a");
    assert_eq!(f[1]["metricTransformations"][0]["unit"], "Count");
    assert_eq!(f[1]["logGroupName"], "g");
    let d = logs(&m, "DescribeMetricFilters", json!({"limit": 1}));
    let d2 = logs(
        &m,
        "DescribeMetricFilters",
        json!({"limit": 1, "nextToken": d["nextToken"]}),
    );
    assert_eq!(d2["metricFilters"][0]["filterName"], "b");
    assert_err(
        &m,
        "DescribeMetricFilters",
        json!({"metricName": "M"}),
        "InvalidParameterException",
    );
    let d = logs(
        &m,
        "DescribeMetricFilters",
        json!({"metricName": "M", "metricNamespace": "other"}),
    );
    assert!(d["metricFilters"].as_array().unwrap().is_empty());
    assert_eq!(d.get("nextToken"), None);
    assert_eq!(
        logs(&m, "DescribeLogGroups", json!({}))["logGroups"][0]["metricFilterCount"],
        2
    );

    // The filter counts: PutLogEvents produces datapoints.
    create_stream(&m, "g", "s");
    logs(
        &m,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
        {"timestamp": NOW, "message": "10.0.0.1 frank 200 1500"}, {"timestamp": NOW, "message": "10.0.0.2 anna 404 20"},
        {"timestamp": NOW, "message": "{\"eventName\":\"StopLogging\"}"}]}),
    );
    let s = m
        .cloudwatch_call("GetMetricStatistics", ACCOUNT, REGION, &json!({"Namespace": "NS", "MetricName": "M",
            "StartTime": (NOW / 1000) - 600, "EndTime": (NOW / 1000) + 600, "Period": 60, "Statistics": ["Sum", "SampleCount"]}))
        .unwrap();
    assert_eq!(s["Datapoints"][0]["Sum"], 1521.0);
    assert_eq!(s["Datapoints"][0]["SampleCount"], 3.0);

    delete_twice(
        &m,
        "DeleteMetricFilter",
        json!({"logGroupName": "g", "filterName": "a"}),
    );

    let t = logs(
        &m,
        "TestMetricFilter",
        json!({"filterPattern": "[ip, user, status_code=4*, bytes]", "logEventMessages": ["1 a 200 5", "2 b 404 7"]}),
    );
    let mt = t["matches"].as_array().unwrap();
    assert_eq!(mt.len(), 1);
    assert_eq!(mt[0]["eventNumber"], 2);
    assert_eq!(mt[0]["extractedValues"]["$status_code"], "404");
    assert_err(
        &m,
        "TestMetricFilter",
        json!({"filterPattern": "x", "logEventMessages": []}),
        "InvalidParameterException",
    );
    assert_err(
        &m,
        "TestMetricFilter",
        json!({"filterPattern": "{", "logEventMessages": ["a"]}),
        "InvalidParameterException",
    );
}

#[test]
fn metric_filter_limit() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    for i in 0..100 {
        logs(
            &m,
            "PutMetricFilter",
            json!({"logGroupName": "g", "filterName": format!("f{i}"), "filterPattern": "x",
            "metricTransformations": [{"metricName": "M", "metricNamespace": "NS", "metricValue": "1"}]}),
        );
    }
    let e = err(
        &m,
        "PutMetricFilter",
        json!({"logGroupName": "g", "filterName": "f100", "filterPattern": "x",
        "metricTransformations": [{"metricName": "M", "metricNamespace": "NS", "metricValue": "1"}]}),
    );
    assert_eq!(e.code(), "LimitExceededException");
    // Updating an existing one is fine at the limit.
    logs(
        &m,
        "PutMetricFilter",
        json!({"logGroupName": "g", "filterName": "f1", "filterPattern": "y",
        "metricTransformations": [{"metricName": "M", "metricNamespace": "NS", "metricValue": "1"}]}),
    );
}

#[test]
fn subscription_filters() {
    let (_d, _c, m) = monitor();
    logs(&m, "CreateLogGroup", json!({"logGroupName": "g"}));
    let sf = |name: &str, dest: &str| json!({"logGroupName": "g", "filterName": name, "filterPattern": "", "destinationArn": dest});
    logs(
        &m,
        "PutSubscriptionFilter",
        sf("os", "opensearch+http://127.0.0.1:9200/cloudtrail"),
    );
    logs(
        &m,
        "PutSubscriptionFilter",
        sf("nd", "http://127.0.0.1:9/ndjson"),
    );
    assert_err(
        &m,
        "PutSubscriptionFilter",
        sf("third", "http://127.0.0.1:9/x"),
        "LimitExceededException",
    );
    assert_err(
        &m,
        "PutSubscriptionFilter",
        sf("nd", "arn:aws:kinesis:us-east-1:1:stream/s"),
        "InvalidParameterException",
    );
    let mut bad = sf("nd", "http://h/x");
    bad["distribution"] = json!("Sideways");
    assert_err(
        &m,
        "PutSubscriptionFilter",
        bad,
        "InvalidParameterException",
    );
    let d = logs(
        &m,
        "DescribeSubscriptionFilters",
        json!({"logGroupName": "g"}),
    );
    let f = d["subscriptionFilters"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["filterName"], "nd");
    assert_eq!(f[0]["distribution"], "ByLogStream");
    assert_eq!(
        f[1]["destinationArn"],
        "opensearch+http://127.0.0.1:9200/cloudtrail"
    );
    let p = logs(
        &m,
        "DescribeSubscriptionFilters",
        json!({"logGroupName": "g", "limit": 1}),
    );
    let p2 = logs(
        &m,
        "DescribeSubscriptionFilters",
        json!({"logGroupName": "g", "limit": 1, "nextToken": p["nextToken"]}),
    );
    assert_eq!(p2["subscriptionFilters"][0]["filterName"], "os");
    assert_err(
        &m,
        "DescribeSubscriptionFilters",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
    delete_twice(
        &m,
        "DeleteSubscriptionFilter",
        json!({"logGroupName": "g", "filterName": "nd"}),
    );
}

#[test]
fn unknown_operations_and_bad_bodies() {
    let (_d, _c, m) = monitor();
    let e = err(&m, "StartQuery", json!({}));
    assert_eq!(e.code(), "UnsupportedOperationException");
    assert!(e.message().contains("StartQuery"));
    assert_eq!(
        m.logs_call("CreateLogGroup", ACCOUNT, REGION, &json!([1]))
            .unwrap_err()
            .code(),
        "InvalidParameterException"
    );
    assert_err(
        &m,
        "CreateLogGroup",
        json!({"logGroupName": 5}),
        "InvalidParameterException",
    );
    assert_eq!(e.status(), 400);
}

#[test]
fn ingest_trail_events_stream_and_errors() {
    let (_d, _c, m) = monitor();
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:trail:*";
    assert_eq!(
        m.ingest_trail_events(arn, ACCOUNT, REGION, &[(NOW, "{}")])
            .unwrap_err()
            .code(),
        "ResourceNotFoundException"
    );
    assert_eq!(
        m.ingest_trail_events("arn:aws:s3:::b", ACCOUNT, REGION, &[])
            .unwrap_err()
            .code(),
        "InvalidParameterException"
    );
    logs(&m, "CreateLogGroup", json!({"logGroupName": "trail"}));
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(300 * 1024));
    let out = m
        .ingest_trail_events(
            arn,
            ACCOUNT,
            REGION,
            &[(NOW, "{\"eventName\":\"A\"}"), (NOW, &big)],
        )
        .unwrap();
    assert_eq!((out.events_written, out.skipped_too_large), (1, 1));
    let s = logs(&m, "DescribeLogStreams", json!({"logGroupName": "trail"}));
    assert_eq!(
        s["logStreams"][0]["logStreamName"],
        "123456789012_CloudTrail_us-east-1"
    );
    assert_eq!(s["logStreams"][0]["lastIngestionTime"], NOW);
}
