//! The end-to-end path at the crate level: a root console sign-in and
//! a StopLogging call are ingested into a log group with the CIS pack; the
//! CloudWatch.1 and CloudWatch.5 alarms go to ALARM and a local HTTP
//! subscriber receives signed SNS-style notifications.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use cairn_monitor::{Clock as _, Protocol, Subscription, verify_sns_signature};
use serde_json::{Value, json};

fn group_arn(name: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")
}

fn public_key_from_cert(pem: &str) -> Vec<u8> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = p.parse_x509().unwrap();
    cert.public_key().subject_public_key.data.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_signin_and_stop_logging_fire_cis_alarms_and_notify() {
    let (_d, _clock, m) = monitor();
    let mut server = start_server(ok_server()).await;
    create_log_group(&m, "CloudTrail/Default");
    let sub = Subscription {
        protocol: Protocol::Http,
        endpoint: format!("{}/sns", server.url),
    };
    let report = m
        .enable_cis(
            ACCOUNT,
            REGION,
            "CloudTrail/Default",
            "cis-alarms",
            Some(sub),
        )
        .unwrap();
    assert_eq!(report.alarms.len(), 14);
    // Before any event: all 14 alarms evaluated to OK (notBreaching).
    let alarms = cloudwatch(&m, "DescribeAlarms", json!({"StateValue": "OK"}));
    assert_eq!(alarms["MetricAlarms"].as_array().unwrap().len(), 14);

    // The real records: root console sign-in (AWS docs example) and StopLogging (invictus-ir).
    let root = docs_records()
        .into_iter()
        .find(|r| {
            r["eventName"] == "ConsoleLogin"
                && r["userIdentity"]["type"] == "Root"
                && r["responseElements"]["ConsoleLogin"] == "Success"
        })
        .unwrap();
    let stop = invictus_event("StopLogging");
    let noise = invictus_records()
        .into_iter()
        .find(|r| r["eventName"] == "DescribeInstances" && r.get("errorCode").is_none())
        .unwrap();
    let msgs = [root.to_string(), noise.to_string(), stop.to_string()];
    let recs = at_now(&msgs);

    let t0 = Instant::now();
    let out = m
        .ingest_trail_events(&group_arn("CloudTrail/Default"), ACCOUNT, REGION, &recs)
        .unwrap();
    let deliveries = m.deliver_notifications(&out.notifications).await;
    let mut received = Vec::new();
    while received.len() < 2 {
        let r = tokio::time::timeout(Duration::from_secs(5), server.rx.recv())
            .await
            .unwrap()
            .unwrap();
        received.push(r);
    }
    let last = received.iter().map(|r| r.at).max().unwrap();
    println!(
        "ingest -> notification receipt: {:.2} ms for {} notifications",
        (last - t0).as_secs_f64() * 1e3,
        received.len()
    );

    assert_eq!(out.events_written, 3);
    let fired: Vec<&str> = out
        .alarm_changes
        .iter()
        .filter(|c| c.new_state == "ALARM")
        .map(|c| c.alarm_name.as_str())
        .collect();
    assert_eq!(fired.len(), 2, "{:?}", out.alarm_changes);
    assert!(fired.contains(&"CIS-CloudWatch.1-RootAccountUsage"));
    assert!(fired.contains(&"CIS-CloudWatch.5-CloudTrailConfigChanges"));
    assert!(
        deliveries
            .iter()
            .all(|d| d.delivered && d.attempts.len() == 1),
        "{deliveries:?}"
    );

    let key = public_key_from_cert(m.sns_certificate_pem());
    assert_eq!(key, m.sns_public_key_der());
    let mut names = Vec::new();
    for r in &received {
        assert_eq!(r.path, "/sns");
        assert_eq!(r.header("x-amz-sns-message-type"), Some("Notification"));
        let env: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(env["Type"], "Notification");
        assert_eq!(env["SignatureVersion"], "2");
        assert_eq!(env["TopicArn"], report.topic_arn);
        assert_eq!(r.header("x-amz-sns-message-id"), env["MessageId"].as_str());
        assert!(
            verify_sns_signature(&env, &key),
            "signature must verify with the served certificate"
        );
        let mut tampered = env.clone();
        tampered["Message"] = json!("{}");
        assert!(!verify_sns_signature(&tampered, &key));
        let msg: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
        assert_eq!(msg["NewStateValue"], "ALARM");
        assert_eq!(msg["OldStateValue"], "OK");
        assert_eq!(msg["Trigger"]["Namespace"], "CISBenchmark");
        assert_eq!(msg["Trigger"]["Statistic"], "SUM");
        assert_eq!(msg["Trigger"]["Period"], 300);
        assert_eq!(msg["Trigger"]["EvaluationPeriods"], 1);
        assert_eq!(
            msg["Trigger"]["ComparisonOperator"],
            "GreaterThanOrEqualToThreshold"
        );
        assert_eq!(msg["Trigger"]["Threshold"], 1.0);
        assert!(
            msg["NewStateReason"]
                .as_str()
                .unwrap()
                .starts_with("Threshold Crossed")
        );
        assert!(
            env["Subject"]
                .as_str()
                .unwrap()
                .starts_with("ALARM: \"CIS-CloudWatch.")
        );
        names.push(msg["AlarmName"].as_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "CIS-CloudWatch.1-RootAccountUsage",
            "CIS-CloudWatch.5-CloudTrailConfigChanges"
        ]
    );

    // State and history through the API.
    let a = cloudwatch(&m, "DescribeAlarms", json!({"StateValue": "ALARM"}));
    assert_eq!(a["MetricAlarms"].as_array().unwrap().len(), 2);
    let h = cloudwatch(
        &m,
        "DescribeAlarmHistory",
        json!({"AlarmName": "CIS-CloudWatch.1-RootAccountUsage", "HistoryItemType": "StateUpdate"}),
    );
    let items = h["AlarmHistoryItems"].as_array().unwrap();
    assert_eq!(items[0]["HistorySummary"], "Alarm updated from OK to ALARM");
    // The notifications are recorded as delivered: none failed, none pending.
    assert!(m.list_failed_notifications().unwrap().is_empty());
    assert!(m.deliver_pending().await.unwrap().is_empty());
    let prom = m.prometheus_text().unwrap();
    assert!(
        prom.contains("cairn_monitor_alarms{state=\"ALARM\"} 2"),
        "{prom}"
    );
    assert!(prom.contains("cairn_monitor_notifications_delivered_total 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_returns_to_ok_after_the_period_and_housekeeping() {
    let (_d, clock, m) = monitor();
    create_log_group(&m, "g");
    m.enable_cis(ACCOUNT, REGION, "g", "t", None).unwrap();
    let stop = invictus_event("StopLogging").to_string();
    let out = m
        .ingest_trail_events(&group_arn("g"), ACCOUNT, REGION, &[(NOW, &stop)])
        .unwrap();
    assert_eq!(out.alarm_changes.len(), 1);
    // Still inside the breaching period: housekeeping keeps ALARM.
    clock.advance(60_000);
    assert!(m.housekeeping(clock.now_ms()).unwrap().is_empty());
    // The period completes and is evaluated: still ALARM.
    clock.set((NOW / 300_000 + 1) * 300_000 + 1_000);
    assert!(m.housekeeping(clock.now_ms()).unwrap().is_empty());
    // The breaching datapoint stays the most recent real one while it is in
    // the evaluation range (N + 2 = 3 periods); then all missing → OK.
    let mut steps = 0;
    let ch = loop {
        clock.advance(300_000);
        steps += 1;
        let ch = m.housekeeping(clock.now_ms()).unwrap();
        if !ch.is_empty() || steps > 5 {
            break ch;
        }
    };
    assert_eq!(steps, 3);
    assert_eq!(ch.len(), 1);
    assert_eq!(
        (ch[0].old_state.as_str(), ch[0].new_state.as_str()),
        ("ALARM", "OK")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_formats_and_failed_deliveries_are_kept() {
    let (_d, _clock, m) = monitor();
    let mut ok = start_server(ok_server()).await;
    let failing = start_server(Arc::new(|_, _| Reply::Status(503, "down".into()))).await;
    let rejecting = start_server(Arc::new(|_, _| Reply::Status(403, "no".into()))).await;
    create_log_group(&m, "g");
    let r = m
        .enable_cis(
            ACCOUNT,
            REGION,
            "g",
            "t",
            Some(Subscription {
                protocol: Protocol::WebhookSlack,
                endpoint: format!("{}/slack", ok.url),
            }),
        )
        .unwrap();
    let json_sub = Subscription {
        protocol: Protocol::WebhookJson,
        endpoint: format!("{}/json", ok.url),
    };
    for sub in [
        json_sub.clone(),
        Subscription {
            protocol: Protocol::Http,
            endpoint: format!("{}/x", failing.url),
        },
        Subscription {
            protocol: Protocol::WebhookJson,
            endpoint: format!("{}/y", rejecting.url),
        },
    ] {
        m.subscribe(&r.topic_arn, &sub).unwrap();
    }
    assert_eq!(m.list_subscriptions(&r.topic_arn).unwrap().len(), 4);
    // Idempotent subscribe.
    m.subscribe(&r.topic_arn, &json_sub).unwrap();
    assert_eq!(m.list_subscriptions(&r.topic_arn).unwrap().len(), 4);
    assert!(
        m.subscribe(
            &r.topic_arn,
            &Subscription {
                protocol: Protocol::Email,
                endpoint: "a@b.c".into()
            }
        )
        .is_err()
    );

    let root = root_console_login();
    let out = m
        .ingest_trail_events(&group_arn("g"), ACCOUNT, REGION, &[(NOW, &root)])
        .unwrap();
    assert_eq!(out.notifications.len(), 4);
    let reports = m.deliver_notifications(&out.notifications).await;
    assert_eq!(reports.len(), 4);
    let by_endpoint = |s: &str| {
        reports
            .iter()
            .find(|r| r.endpoint.ends_with(s))
            .unwrap()
            .clone()
    };
    assert!(by_endpoint("/slack").delivered);
    assert!(by_endpoint("/json").delivered);
    let f = by_endpoint("/x");
    assert!(!f.delivered);
    assert_eq!(f.attempts.len(), 4, "503 is retried up to max_attempts");
    assert!(f.attempts.iter().all(|a| a.status == Some(503)));
    let rj = by_endpoint("/y");
    assert_eq!(rj.attempts.len(), 1, "403 is not retried");

    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(5), ok.rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let slack = got.iter().find(|r| r.path == "/slack").unwrap();
    let v: Value = serde_json::from_str(&slack.body).unwrap();
    let text = v["text"].as_str().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert!(
        text.contains("CIS-CloudWatch.1-RootAccountUsage") && text.starts_with("*ALARM*"),
        "{text}"
    );
    let j = got.iter().find(|r| r.path == "/json").unwrap();
    let v: Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(v["type"], "alarm");
    assert_eq!(
        v["message"]["AlarmName"],
        "CIS-CloudWatch.1-RootAccountUsage"
    );
    assert_eq!(v["message"]["NewStateValue"], "ALARM");
    assert_eq!(j.header("content-type"), Some("application/json"));

    let failed = m.list_failed_notifications().unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .any(|f| f.last_error.contains("503") && f.attempts == 4)
    );
    // Re-delivering a delivered notification is a no-op (claimed once).
    assert!(m.deliver_notifications(&out.notifications).await.is_empty());
    // Failed ones can be retried explicitly.
    assert_eq!(m.retry_failed_notifications().unwrap(), 2);
    assert_eq!(m.deliver_pending().await.unwrap().len(), 2);
}

#[test]
fn unknown_alarm_action_is_recorded_as_failed() {
    let (_d, _clock, m) = monitor();
    create_log_group(&m, "g");
    cloudwatch(
        &m,
        "PutMetricAlarm",
        json!({"AlarmName": "a", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 60,
                "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:missing"]}),
    );
    cloudwatch(
        &m,
        "SetAlarmState",
        json!({"AlarmName": "a", "StateValue": "ALARM", "StateReason": "test"}),
    );
    let f = m.list_failed_notifications().unwrap();
    assert_eq!(f.len(), 1);
    assert!(f[0].last_error.contains("not a topic"));
    let h = cloudwatch(
        &m,
        "DescribeAlarmHistory",
        json!({"HistoryItemType": "Action"}),
    );
    assert!(
        h["AlarmHistoryItems"][0]["HistorySummary"]
            .as_str()
            .unwrap()
            .starts_with("Failed to execute action")
    );
}
