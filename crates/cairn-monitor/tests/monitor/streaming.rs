//! Streaming out through subscription filters: OpenSearch `_bulk` against a
//! loopback mock that checks the wire contract and answers with a timeout, a
//! 429 and partial failures; NDJSON; batching; backpressure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use cairn_monitor::{BatchPolicy, Monitor, MonitorConfig, MonitorError};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:trail:*";

/// A `_bulk` mock: validates the request, indexes with `create` semantics
/// (409 on an existing `_id`), and misbehaves on chosen requests.
fn opensearch_mock(index: Arc<Mutex<HashMap<String, Value>>>) -> Responder {
    Arc::new(move |req, n| {
        assert_eq!(req.path, "/_bulk");
        assert_eq!(req.header("content-type"), Some("application/x-ndjson"));
        assert!(
            req.body.ends_with('\n'),
            "bulk body must end with a newline"
        );
        let lines: Vec<&str> = req.body.lines().collect();
        assert_eq!(lines.len() % 2, 0);
        if n == 1 {
            return Reply::Status(429, r#"{"error":"too many requests"}"#.into());
        }
        let mut items = Vec::new();
        let mut idx = index.lock().unwrap();
        for (i, pair) in lines.chunks(2).enumerate() {
            let action: Value = serde_json::from_str(pair[0]).unwrap();
            let doc: Value = serde_json::from_str(pair[1]).unwrap();
            let meta = &action["create"];
            assert_eq!(meta["_index"], "cloudtrail");
            let id = meta["_id"].as_str().unwrap().to_string();
            assert_eq!(doc["@id"], id.as_str());
            assert!(doc["@timestamp"].as_str().unwrap().ends_with('Z'));
            assert!(
                doc["eventName"].is_string(),
                "CloudTrail fields are merged into the document"
            );
            // Request 2: every third item rejected with 429, one with 503.
            if n == 2 && i % 3 == 0 {
                items.push(json!({"create": {"_index": "cloudtrail", "_id": id, "status": 429, "error": {"type": "es_rejected_execution_exception"}}}));
                continue;
            }
            if n == 2 && i == 1 {
                items.push(json!({"create": {"_index": "cloudtrail", "_id": id, "status": 503, "error": {"type": "unavailable_shards_exception"}}}));
                continue;
            }
            if idx.contains_key(&id) {
                items.push(json!({"create": {"_index": "cloudtrail", "_id": id, "status": 409, "error": {"type": "version_conflict_engine_exception"}}}));
            } else {
                idx.insert(id.clone(), doc);
                items.push(json!({"create": {"_index": "cloudtrail", "_id": id, "status": 201}}));
            }
        }
        drop(idx);
        let errors = items
            .iter()
            .any(|i| i["create"]["status"].as_u64().unwrap() >= 300);
        let body = json!({"took": 1, "errors": errors, "items": items}).to_string();
        if n == 0 {
            // Indexed, but the answer comes after the client's timeout.
            return Reply::Hang(Duration::from_millis(1_000));
        }
        Reply::Status(200, body)
    })
}

fn small_batches(max_events: usize) -> MonitorConfig {
    MonitorConfig {
        batch: BatchPolicy {
            max_events,
            max_bytes: 1 << 20,
            max_wait_ms: 1_000,
        },
        ..fast_config()
    }
}

/// Creates the log group `trail` with the subscription filter `nd` sending every event to
/// `destination`.
fn stream_all_to(m: &Monitor, destination: &str) {
    create_log_group(m, "trail");
    logs(
        m,
        "PutSubscriptionFilter",
        json!({"logGroupName": "trail", "filterName": "nd", "filterPattern": "", "destinationArn": destination}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_bulk_every_event_exactly_once_despite_timeout_429_and_partial_failures() {
    let (_d, _c, m) = monitor_with(small_batches(40));
    let index = Arc::new(Mutex::new(HashMap::new()));
    let server = start_server(opensearch_mock(index.clone())).await;
    create_log_group(&m, "trail");
    logs(
        &m,
        "PutSubscriptionFilter",
        json!({"logGroupName": "trail", "filterName": "to-os", "filterPattern": "{ $.eventSource = \"ec2.amazonaws.com\" }",
                "destinationArn": format!("opensearch+{}/cloudtrail", server.url)}),
    );
    let recs = invictus_texts(600);
    let batch = at_now(&recs);
    let out = m.ingest_trail_events(ARN, ACCOUNT, REGION, &batch).unwrap();
    let expected = recs
        .iter()
        .filter(|r| r.contains("\"eventSource\":\"ec2.amazonaws.com\""))
        .count();
    assert!(expected > 40, "need several batches, got {expected}");
    assert_eq!(out.events_queued_for_streaming, expected);

    let mut total = cairn_monitor::StreamReport::default();
    for _ in 0..10 {
        let r = m.flush_streams(true).await.unwrap();
        total.requests += r.requests;
        total.delivered += r.delivered;
        total.errors.extend(r.errors);
        if r.remaining == 0 {
            break;
        }
    }
    assert_eq!(m.stream_queue_depth().unwrap(), 0);
    assert!(m.list_stream_dead_letters().unwrap().is_empty());
    assert_eq!(total.delivered, expected);
    let idx = index.lock().unwrap();
    assert_eq!(idx.len(), expected, "every event indexed exactly once");
    // Requests after the failures re-sent only what was missing.
    let log = server.log.lock().unwrap();
    let sent_items: usize = log.iter().map(|r| r.body.lines().count() / 2).sum();
    assert!(
        total.errors.iter().any(|e| e.contains("timed out")),
        "{:?}",
        total.errors
    );
    assert!(total.errors.iter().any(|e| e.contains("HTTP 429")));
    assert!(total.errors.iter().any(|e| e.contains("item status 429")));
    println!(
        "{} events, {} requests, {} items sent, errors: {:#?}",
        expected,
        log.len(),
        sent_items,
        total.errors
    );
    // The retry after the partial failure carried only the failed items (14 at 429 + 1 at 503).
    let third = log[3].body.lines().count() / 2;
    assert_eq!(third, 14 + 1, "only the 429/503 items are re-sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_destination_batches_by_count_and_time() {
    let (_d, clock, m) = monitor_with(small_batches(10));
    let mut server = start_server(ok_server()).await;
    stream_all_to(&m, &format!("{}/ingest", server.url));
    let recs = invictus_texts(25);
    let batch = at_now(&recs);
    m.ingest_trail_events(ARN, ACCOUNT, REGION, &batch).unwrap();
    // Not forced: two full batches go, the partial one waits for max_wait_ms.
    let r = m.flush_streams(false).await.unwrap();
    assert_eq!((r.requests, r.delivered, r.remaining), (2, 20, 5));
    clock.advance(1_000);
    let r = m.flush_streams(false).await.unwrap();
    assert_eq!((r.requests, r.delivered, r.remaining), (1, 5, 0));
    let mut ids = Vec::new();
    while let Ok(req) = server.rx.try_recv() {
        assert_eq!(req.path, "/ingest");
        for line in req.body.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["logGroup"], "trail");
            assert_eq!(v["logStream"], "123456789012_CloudTrail_us-east-1");
            assert_eq!(v["subscriptionFilter"], "nd");
            ids.push(v["id"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_refuses_ingest_without_writing_and_permanent_rejects_are_dead_lettered() {
    let cfg = MonitorConfig {
        stream_queue_capacity: 5,
        ..small_batches(100)
    };
    let (_d, _c, m) = monitor_with(cfg);
    let server = start_server(Arc::new(|_, _| Reply::Status(400, "bad request".into()))).await;
    stream_all_to(&m, &format!("{}/x", server.url));
    let recs = invictus_texts(6);
    let batch = at_now(&recs);
    let err = m
        .ingest_trail_events(ARN, ACCOUNT, REGION, &batch)
        .unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Backpressure {
                depth: 0,
                capacity: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "ThrottlingException");
    let ev = logs(&m, "FilterLogEvents", json!({"logGroupName": "trail"}));
    assert_eq!(
        ev["events"].as_array().unwrap().len(),
        0,
        "nothing written when refused"
    );
    m.ingest_trail_events(ARN, ACCOUNT, REGION, &batch[..5])
        .unwrap();
    assert!(
        m.prometheus_text()
            .unwrap()
            .contains("cairn_monitor_stream_queue_depth{log_group=\"trail\",filter=\"nd\"} 5")
    );
    // The endpoint rejects permanently: the events become dead letters, not lost.
    let r = m.flush_streams(true).await.unwrap();
    assert_eq!((r.dead_lettered, r.remaining), (5, 0));
    assert_eq!(m.list_stream_dead_letters().unwrap().len(), 5);
    m.ingest_trail_events(ARN, ACCOUNT, REGION, &batch[5..])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_destination_keeps_events_queued() {
    let (_d, _c, m) = monitor_with(small_batches(100));
    // Bind then drop a listener: the port refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    stream_all_to(&m, &format!("http://127.0.0.1:{port}/x"));
    let rec = invictus_records()[0].to_string();
    m.ingest_trail_events(ARN, ACCOUNT, REGION, &[(NOW, &rec)])
        .unwrap();
    let r = m.flush_streams(true).await.unwrap();
    assert_eq!(r.delivered, 0);
    assert_eq!(r.remaining, 1);
    assert_eq!(r.requests, 4, "retried max_attempts times");
    assert!(r.errors[0].contains("connection failed"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 8, ..Default::default() })]

    /// Batches never exceed their limits (a single oversized event goes
    /// alone), events are never reordered, and all of them arrive.
    #[test]
    fn batches_respect_limits_and_order(
        sizes in proptest::collection::vec(1usize..400, 1..60),
        max_events in 1usize..12,
        max_bytes in 200usize..1500,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let cfg = MonitorConfig { batch: BatchPolicy { max_events, max_bytes, max_wait_ms: 0 }, ..fast_config() };
            let (_d, _c, m) = monitor_with(cfg);
            let server = start_server(ok_server()).await;
            stream_all_to(&m, &format!("{}/x", server.url));
            let msgs: Vec<String> = sizes.iter().enumerate().map(|(i, n)| format!("{i:04} {}", "x".repeat(*n))).collect();
            let batch = at_now(&msgs);
            m.ingest_trail_events(ARN, ACCOUNT, REGION, &batch).unwrap();
            let r = m.flush_streams(false).await.unwrap();
            assert_eq!(r.delivered, msgs.len());
            let log = server.log.lock().unwrap();
            let mut seen = Vec::new();
            for req in log.iter() {
                let lines: Vec<Value> = req.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
                assert!(lines.len() <= max_events);
                let bytes: usize = lines.iter().map(|l| l["message"].as_str().unwrap().len()).sum();
                assert!(lines.len() == 1 || bytes <= max_bytes, "{bytes} > {max_bytes}");
                seen.extend(lines.iter().map(|l| l["message"].as_str().unwrap().to_string()));
            }
            assert_eq!(seen, msgs);
        });
    }
}
