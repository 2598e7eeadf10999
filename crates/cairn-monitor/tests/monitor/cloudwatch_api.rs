//! CloudWatch alarms/metrics API (JSON 1.0 shapes) round trips and errors.

use crate::common::*;
use cairn_monitor::{Monitor, MonitorError};
use serde_json::{Value, json};

fn err(m: &Monitor, op: &str, body: Value) -> MonitorError {
    m.cloudwatch_call(op, ACCOUNT, REGION, &body).expect_err(op)
}

fn alarm(name: &str) -> Value {
    json!({"AlarmName": name, "MetricName": "Errors", "Namespace": "App", "Statistic": "Sum", "Period": 60,
           "EvaluationPeriods": 2, "DatapointsToAlarm": 1, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold",
           "TreatMissingData": "missing", "Dimensions": [{"Name": "Service", "Value": "api"}]})
}

#[test]
fn alarms_round_trip() {
    let (_d, clock, m) = monitor();
    cloudwatch(&m, "PutMetricAlarm", alarm("b"));
    cloudwatch(&m, "PutMetricAlarm", alarm("a"));
    let d = cloudwatch(&m, "DescribeAlarms", json!({}));
    let a = d["MetricAlarms"].as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["AlarmName"], "a");
    assert_eq!(
        a[0]["AlarmArn"],
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"
    );
    assert_eq!(a[0]["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(a[0]["Dimensions"][0]["Name"], "Service");
    assert_eq!(a[0]["DatapointsToAlarm"], 1);
    assert_eq!(a[0]["StateUpdatedTimestamp"], NOW / 1000);
    assert_eq!(d["CompositeAlarms"], json!([]));
    let p = cloudwatch(&m, "DescribeAlarms", json!({"MaxRecords": 1}));
    let p2 = cloudwatch(
        &m,
        "DescribeAlarms",
        json!({"MaxRecords": 1, "NextToken": p["NextToken"]}),
    );
    assert_eq!(p2["MetricAlarms"][0]["AlarmName"], "b");
    assert_eq!(
        cloudwatch(&m, "DescribeAlarms", json!({"AlarmNames": ["b"]}))["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        cloudwatch(&m, "DescribeAlarms", json!({"AlarmNamePrefix": "z"}))["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        cloudwatch(
            &m,
            "DescribeAlarms",
            json!({"AlarmTypes": ["CompositeAlarm"]})
        )["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        err(
            &m,
            "DescribeAlarms",
            json!({"AlarmNames": ["a"], "AlarmNamePrefix": "a"})
        )
        .code(),
        "InvalidParameterCombination"
    );
    assert_eq!(
        err(&m, "DescribeAlarms", json!({"NextToken": "bad"})).code(),
        "InvalidNextToken"
    );

    // Data through PutMetricData moves the alarm (6 > 5 within one period).
    cloudwatch(
        &m,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [
        {"MetricName": "Errors", "Dimensions": [{"Name": "Service", "Value": "api"}], "Timestamp": (NOW / 1000) - 90, "Value": 6.0}]}),
    );
    assert_eq!(
        cloudwatch(&m, "DescribeAlarms", json!({"AlarmNames": ["a"]}))["MetricAlarms"][0]["StateValue"],
        "ALARM"
    );
    // Other dimensions do not.
    cloudwatch(
        &m,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [{"MetricName": "Errors", "Value": 100.0}]}),
    );
    clock.advance(1000);
    let h = cloudwatch(&m, "DescribeAlarmHistory", json!({"AlarmName": "a"}));
    let items = h["AlarmHistoryItems"].as_array().unwrap();
    assert_eq!(items[0]["HistoryItemType"], "StateUpdate");
    assert_eq!(
        items[0]["HistorySummary"],
        "Alarm updated from INSUFFICIENT_DATA to ALARM"
    );
    let data: Value = serde_json::from_str(items[0]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(data["newState"]["stateValue"], "ALARM");
    assert_eq!(
        data["newState"]["stateReasonData"]["recentDatapoints"][0],
        6.0
    );
    assert_eq!(
        items.last().unwrap()["HistoryItemType"],
        "ConfigurationUpdate"
    );
    let asc = cloudwatch(
        &m,
        "DescribeAlarmHistory",
        json!({"AlarmName": "a", "ScanBy": "TimestampAscending", "MaxRecords": 1}),
    );
    assert_eq!(
        asc["AlarmHistoryItems"][0]["HistoryItemType"],
        "ConfigurationUpdate"
    );
    assert!(asc["NextToken"].is_string());
    assert_eq!(
        err(
            &m,
            "DescribeAlarmHistory",
            json!({"HistoryItemType": "Nope"})
        )
        .code(),
        "InvalidParameterValue"
    );

    // SetAlarmState.
    // (b saw the same data and is in ALARM too.)
    cloudwatch(
        &m,
        "SetAlarmState",
        json!({"AlarmName": "b", "StateValue": "OK", "StateReason": "testing", "StateReasonData": "{\"a\":1}"}),
    );
    let b = cloudwatch(&m, "DescribeAlarms", json!({"AlarmNames": ["b"]}));
    assert_eq!(b["MetricAlarms"][0]["StateValue"], "OK");
    assert_eq!(b["MetricAlarms"][0]["StateReason"], "testing");
    let e = err(
        &m,
        "SetAlarmState",
        json!({"AlarmName": "zz", "StateValue": "OK", "StateReason": "x"}),
    );
    assert_eq!((e.code(), e.status()), ("ResourceNotFound", 404));
    assert_eq!(
        e.query_error_header().as_deref(),
        Some("ResourceNotFound;Sender")
    );
    assert_eq!(err(&m, "SetAlarmState", json!({"AlarmName": "b", "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"})).code(), "InvalidFormat");
    assert_eq!(
        err(
            &m,
            "SetAlarmState",
            json!({"AlarmName": "b", "StateValue": "MAYBE", "StateReason": "x"})
        )
        .code(),
        "InvalidParameterValue"
    );
    assert_eq!(
        cloudwatch(&m, "DescribeAlarms", json!({"StateValue": "ALARM"}))["MetricAlarms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Update keeps the state.
    let mut upd = alarm("a");
    upd["Threshold"] = json!(50.0);
    cloudwatch(&m, "PutMetricAlarm", upd);
    let a = cloudwatch(&m, "DescribeAlarms", json!({"AlarmNames": ["a"]}));
    assert_eq!(a["MetricAlarms"][0]["Threshold"], 50.0);

    // Delete.
    assert_eq!(
        err(&m, "DeleteAlarms", json!({"AlarmNames": ["a", "nope"]})).code(),
        "ResourceNotFound"
    );
    cloudwatch(&m, "DeleteAlarms", json!({"AlarmNames": ["a", "b"]}));
    assert!(
        cloudwatch(&m, "DescribeAlarms", json!({}))["MetricAlarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        err(&m, "DeleteAlarms", json!({})).code(),
        "MissingParameter"
    );
}

#[test]
fn put_metric_alarm_validation() {
    let (_d, _c, m) = monitor();
    let mut a = alarm("x");
    a["Period"] = json!(45);
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "InvalidParameterValue");
    let mut a = alarm("x");
    a["DatapointsToAlarm"] = json!(3);
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "InvalidParameterValue");
    let mut a = alarm("x");
    a.as_object_mut().unwrap().remove("MetricName");
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "MissingParameter");
    let mut a = alarm("x");
    a["Statistic"] = json!("p99");
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "InvalidParameterValue");
    let mut a = alarm("x");
    a["AlarmActions"] = json!(["1", "2", "3", "4", "5", "6"]);
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "InvalidParameterValue");
    let mut a = alarm("x");
    a["Metrics"] = json!([{"Id": "m1"}]);
    assert_eq!(err(&m, "PutMetricAlarm", a).code(), "InvalidParameterValue");
    assert_eq!(
        err(&m, "PutMetricAlarm", json!({})).code(),
        "MissingParameter"
    );
    assert_eq!(
        err(&m, "PutCompositeAlarm", json!({})).code(),
        "UnsupportedOperationException"
    );
}

#[test]
fn metrics_queries() {
    let (_d, _c, m) = monitor();
    let t = NOW / 1000;
    cloudwatch(
        &m,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Timestamp": t - 120, "Value": 10.0},
        {"MetricName": "Latency", "Timestamp": t - 110, "Value": 30.0},
        {"MetricName": "Latency", "Timestamp": t - 50, "Values": [1.0, 2.0], "Counts": [1.0, 3.0]},
        {"MetricName": "Hits", "Dimensions": [{"Name": "Host", "Value": "h1"}], "Timestamp": t - 50,
         "StatisticValues": {"SampleCount": 2.0, "Sum": 5.0, "Minimum": 1.0, "Maximum": 4.0}}]}),
    );
    let s = cloudwatch(
        &m,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "StartTime": t - 180, "EndTime": t,
        "Period": 60, "Statistics": ["Average", "Maximum", "SampleCount"]}),
    );
    let dp = s["Datapoints"].as_array().unwrap();
    assert_eq!(dp.len(), 2);
    assert_eq!(s["Label"], "Latency");
    let first = dp.iter().find(|d| d["Maximum"] == 30.0).unwrap();
    assert_eq!(first["Average"], 20.0);
    let second = dp.iter().find(|d| d["Maximum"] == 2.0).unwrap();
    assert_eq!(second["SampleCount"], 4.0);
    assert_eq!(second["Average"], 7.0 / 4.0);
    assert_eq!(err(&m, "GetMetricStatistics", json!({"Namespace": "App", "MetricName": "Latency", "StartTime": t, "EndTime": t - 1, "Period": 60, "Statistics": ["Sum"]})).code(), "InvalidParameterValue");
    assert_eq!(err(&m, "GetMetricStatistics", json!({"Namespace": "App", "MetricName": "Latency", "StartTime": t - 1, "EndTime": t, "Period": 60})).code(), "MissingParameter");
    assert_eq!(err(&m, "GetMetricStatistics", json!({"Namespace": "App", "MetricName": "Latency", "StartTime": t - 1, "EndTime": t, "Period": 60, "Statistics": ["p50"]})).code(), "InvalidParameterValue");

    let d = cloudwatch(
        &m,
        "GetMetricData",
        json!({"StartTime": t - 3600, "EndTime": t, "MetricDataQueries": [
        {"Id": "h", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Hits", "Dimensions": [{"Name": "Host", "Value": "h1"}]}, "Period": 300, "Stat": "Sum"}},
        {"Id": "l", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency"}, "Period": 60, "Stat": "Maximum"}}]}),
    );
    let r = d["MetricDataResults"].as_array().unwrap();
    assert_eq!(r[0]["Values"], json!([5.0]));
    assert_eq!(
        r[1]["Values"],
        json!([2.0, 30.0]),
        "newest first by default"
    );
    assert_eq!(r[1]["StatusCode"], "Complete");
    assert_eq!(err(&m, "GetMetricData", json!({"StartTime": t - 3600, "EndTime": t, "MetricDataQueries": [{"Id": "e", "Expression": "SUM(METRICS())"}]})).code(), "InvalidParameterValue");

    let l = cloudwatch(&m, "ListMetrics", json!({"Namespace": "App"}));
    assert_eq!(l["Metrics"].as_array().unwrap().len(), 2);
    let l = cloudwatch(&m, "ListMetrics", json!({"Dimensions": [{"Name": "Host"}]}));
    assert_eq!(l["Metrics"][0]["MetricName"], "Hits");
    assert_eq!(l["Metrics"][0]["Dimensions"][0]["Value"], "h1");
    assert_eq!(
        err(
            &m,
            "PutMetricData",
            json!({"Namespace": "AWS/EC2", "MetricData": []})
        )
        .code(),
        "InvalidParameterValue"
    );
    assert_eq!(
        err(
            &m,
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "x"}]})
        )
        .code(),
        "InvalidParameterCombination"
    );
}
