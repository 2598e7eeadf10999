//! Integration tests over the shared real CloudTrail records: a brute-force oracle for every
//! lookup attribute, errors, idempotent replay, retention, pagination stability and token
//! tampering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cairn_history::{
    AttributeKey, EventCategory, HistoryIndex, HistoryKeys, HistoryOptions, IndexedEvent,
    LookupRequest, LookupResponse, extract,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail")
}

/// A record of the shared corpus, ready to index.
#[derive(Debug, Clone)]
struct Rec {
    seq: u64,
    account: String,
    region: String,
    time: OffsetDateTime,
    /// `time` in unix ms (cheap comparisons in the oracle).
    tms: i128,
    event_id: String,
    raw: Vec<u8>,
    value: Value,
    /// Naive attribute values, by `AttributeKey::ALL` position.
    values: Vec<Vec<String>>,
    /// Naive category: None = not kept, Some(true) = Insights.
    insight: Option<bool>,
}

impl Rec {
    /// The record `value` at `seq`, with the oracle's naive attribute values and category.
    fn new(seq: u64, account: String, region: String, time: OffsetDateTime, value: Value) -> Self {
        Rec {
            seq,
            account,
            region,
            time,
            tms: time.unix_timestamp_nanos() / 1_000_000,
            event_id: value["eventID"].as_str().unwrap_or("").to_owned(),
            raw: serde_json::to_vec(&value).unwrap(),
            values: AttributeKey::ALL
                .iter()
                .map(|k| compute_values(&value, *k))
                .collect(),
            insight: naive_category(&value),
            value,
        }
    }

    fn indexed(&self) -> IndexedEvent<'_> {
        IndexedEvent {
            seq: self.seq,
            account: &self.account,
            region: &self.region,
            event_time: self.time,
            event_id: &self.event_id,
            raw: &self.raw,
        }
    }
}

/// The `.json` files of `dir`, by name.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn load_corpus() -> Vec<Value> {
    let dir = data_dir();
    let mut out = Vec::new();
    let docs = std::fs::read_to_string(
        dir.join("aws-docs-examples/cloudtrail_user_guide_examples.ndjson"),
    )
    .expect("shared data: aws-docs-examples");
    for line in docs.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        out.push(v["record"].clone());
    }
    for f in json_files(&dir.join("otrf-security-datasets")) {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if !line.trim().is_empty() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    for f in json_files(&dir.join("invictus-ir-sigma-aws")) {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        out.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    let s = v["eventTime"]
        .as_str()
        .or_else(|| v["@timestamp"].as_str())?;
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Every record that has a time, with synthetic seqs 1..
fn corpus() -> Vec<Rec> {
    let mut out = Vec::new();
    for value in load_corpus() {
        let Some(time) = parse_time(&value) else {
            continue; // the one documentation fragment without eventTime
        };
        let account = value["recipientAccountId"]
            .as_str()
            .or_else(|| value["userIdentity"]["accountId"].as_str())
            .unwrap_or("000000000000")
            .to_owned();
        let region = value["awsRegion"]
            .as_str()
            .unwrap_or("us-east-1")
            .to_owned();
        out.push(Rec::new(out.len() as u64 + 1, account, region, time, value));
    }
    out
}

fn open(dir: &tempfile::TempDir, name: &str, retention: Duration) -> HistoryIndex {
    open_keyed(dir, name, retention, None)
}

fn open_keyed(
    dir: &tempfile::TempDir,
    name: &str,
    retention: Duration,
    keys: Option<HistoryKeys>,
) -> HistoryIndex {
    HistoryIndex::open(
        dir.path().join(name),
        HistoryOptions {
            retention,
            durable: false,
            keys,
            ..HistoryOptions::default()
        },
    )
    .unwrap()
}

fn keys(b: u8) -> HistoryKeys {
    HistoryKeys::new(&[b; 32], &[b.wrapping_add(1); 32]).unwrap()
}

/// Index in batches, in a scrambled but deterministic order (ingest order must not matter).
fn ingest(index: &mut HistoryIndex, recs: &[Rec]) {
    let mut order: Vec<&Rec> = recs.iter().collect();
    order.sort_by_key(|r| (r.seq * 2_654_435_761) % 4_294_967_291);
    for chunk in order.chunks(700) {
        let batch: Vec<IndexedEvent<'_>> = chunk.iter().map(|r| r.indexed()).collect();
        index.index_batch(&batch).unwrap();
    }
}

/// Values of the simple attributes read straight from the JSON, independently of the crate.
fn naive_values(rec: &Rec, key: AttributeKey) -> Vec<String> {
    let i = AttributeKey::ALL.iter().position(|k| *k == key).unwrap();
    rec.values[i].clone()
}

fn compute_values(v: &Value, key: AttributeKey) -> Vec<String> {
    let insight = v["eventCategory"] == "Insight" || v["eventType"] == "AwsCloudTrailInsight";
    let s = |x: &Value| x.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let one = match key {
        AttributeKey::EventId => s(&v["eventID"]),
        AttributeKey::EventName if insight => s(&v["insightDetails"]["eventName"]),
        AttributeKey::EventSource if insight => s(&v["insightDetails"]["eventSource"]),
        AttributeKey::EventName => s(&v["eventName"]),
        AttributeKey::EventSource => s(&v["eventSource"]),
        _ if insight => None,
        AttributeKey::ReadOnly => match &v["readOnly"] {
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        },
        AttributeKey::AccessKeyId => s(&v["userIdentity"]["accessKeyId"]),
        // Derived attributes: the documented rules, known-answer tested in `extract`.
        AttributeKey::Username => extract::summarize(v).and_then(|x| x.username),
        AttributeKey::ResourceType | AttributeKey::ResourceName => {
            let summary = extract::summarize(v);
            let resources = summary.map(|x| x.resources).unwrap_or_default();
            return resources
                .into_iter()
                .filter_map(|r| match key {
                    AttributeKey::ResourceType => r.resource_type,
                    _ => Some(r.resource_name),
                })
                .collect();
        }
    };
    one.into_iter().collect()
}

/// Whether event history keeps the record, and as which category, decided naively.
fn naive_category(v: &Value) -> Option<bool> {
    match v["eventCategory"].as_str() {
        Some("Management") => return Some(false),
        Some("Insight") => return Some(true),
        Some(_) => return None,
        None => {}
    }
    if v["eventType"] == "AwsCloudTrailInsight" {
        return Some(true);
    }
    if v["managementEvent"] == false {
        return None;
    }
    let s3_object = v["eventSource"] == "s3.amazonaws.com"
        && v["resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["type"] == "AWS::S3::Object"));
    (!s3_object).then_some(false)
}

struct Query<'a> {
    account: &'a str,
    region: &'a str,
    attribute: Option<(AttributeKey, String)>,
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    insight: bool,
}

fn oracle<'r>(
    recs: impl IntoIterator<Item = &'r Rec>,
    q: &Query<'_>,
    now: OffsetDateTime,
    retention: Duration,
) -> Vec<String> {
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    let lo = ms(now - retention).max(q.start.map_or(i128::MIN, ms));
    let hi = ms(now).min(q.end.map_or(i128::MAX, ms));
    let key = q
        .attribute
        .as_ref()
        .map(|(k, v)| (AttributeKey::ALL.iter().position(|x| x == k).unwrap(), v));
    let mut hits: Vec<&Rec> = recs
        .into_iter()
        .filter(|r| key.is_none_or(|(i, v)| r.values[i].contains(v)))
        .filter(|r| r.tms >= lo && r.tms <= hi)
        .filter(|r| r.insight == Some(q.insight))
        .filter(|r| r.account == q.account && r.region == q.region)
        .collect();
    hits.sort_by_key(|r| std::cmp::Reverse((r.time, r.seq)));
    hits.iter()
        .map(|r| String::from_utf8(r.raw.clone()).unwrap())
        .collect()
}

fn request(q: &Query<'_>, max: i64) -> LookupRequest {
    LookupRequest {
        account: q.account.to_owned(),
        region: q.region.to_owned(),
        attribute: q.attribute.clone(),
        start: q.start,
        end: q.end,
        category: q.insight.then_some(EventCategory::Insight),
        max_results: Some(max),
        next_token: None,
    }
}

/// Walk every page; returns the CloudTrailEvent strings in order, checking page sizes.
fn walk(index: &HistoryIndex, q: &Query<'_>, max: i64, now: OffsetDateTime) -> Vec<String> {
    let mut req = request(q, max);
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let page = index.lookup_at(&req, now).unwrap();
        assert!(page.events.len() <= max as usize);
        for e in &page.events {
            out.push(e.cloud_trail_event.clone());
        }
        match page.next_token {
            Some(t) => {
                assert_eq!(
                    page.events.len(),
                    max as usize,
                    "a short page must be the last"
                );
                req.next_token = Some(t);
            }
            None => return out,
        }
    }
    panic!("pagination did not end");
}

#[test]
fn oracle_every_attribute_windows_and_page_sizes() {
    run_oracle(None);
}

/// The same oracle over an encrypted index: keyed hashes find exactly what values found.
#[test]
fn oracle_on_an_encrypted_index() {
    run_oracle(Some(keys(1)));
}

fn run_oracle(keys: Option<HistoryKeys>) {
    let recs = corpus();
    assert!(recs.len() > 3000, "{}", recs.len());
    let dir = tempfile::tempdir().unwrap();
    let retention = Duration::days(365 * 20);
    let mut index = open_keyed(&dir, "oracle.db", retention, keys);
    ingest(&mut index, &recs);
    let kept = recs
        .iter()
        .filter(|r| naive_category(&r.value).is_some())
        .count();
    assert_eq!(index.stats().unwrap().events, kept as u64);
    let now = recs.iter().map(|r| r.time).max().unwrap() + Duration::days(1);
    let scopes: BTreeSet<(String, String)> = recs
        .iter()
        .map(|r| (r.account.clone(), r.region.clone()))
        .collect();
    let mut checked = 0usize;
    let mut returned = 0usize;
    for (account, region) in &scopes {
        let in_scope: Vec<&Rec> = recs
            .iter()
            .filter(|r| &r.account == account && &r.region == region)
            .collect();
        let mut times: Vec<OffsetDateTime> = in_scope.iter().map(|r| r.time).collect();
        times.sort();
        let mid = times[times.len() / 2];
        let windows = [
            (None, None),
            (
                Some(mid - Duration::minutes(7)),
                Some(mid + Duration::minutes(5)),
            ),
            (Some(mid), None),
            (None, Some(mid)),
            (Some(mid), Some(mid)),
        ];
        for key in AttributeKey::ALL {
            let mut values: BTreeMap<String, usize> = BTreeMap::new();
            for r in &in_scope {
                for v in naive_values(r, key) {
                    *values.entry(v).or_default() += 1;
                }
            }
            // All values of the small keys; a deterministic sample of the large ones.
            let sample: Vec<(String, usize)> = match key {
                AttributeKey::EventId | AttributeKey::ResourceName => values
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % 23 == 0)
                    .map(|(_, kv)| kv)
                    .collect(),
                _ => values.into_iter().collect(),
            };
            for (value, count) in sample {
                for insight in [false, true] {
                    if insight && !key.supported_for_insights() {
                        continue;
                    }
                    for (wi, (start, end)) in windows.iter().enumerate() {
                        // Full window for every value; narrow windows for a subset.
                        if wi > 0 && count < 3 && key != AttributeKey::ReadOnly {
                            continue;
                        }
                        // Half-open windows of the biggest values cost the most and add little.
                        if (wi == 2 || wi == 3) && count > 400 {
                            continue;
                        }
                        let q = Query {
                            account,
                            region,
                            attribute: Some((key, value.clone())),
                            start: *start,
                            end: *end,
                            insight,
                        };
                        let want = oracle(in_scope.iter().copied(), &q, now, retention);
                        for max in [1i64, 7, 50] {
                            // Small pages only where the walk stays short (debug builds
                            // decode ~4k events/s; page boundaries are what matter).
                            if (max == 1 && want.len() > 20) || (max == 7 && want.len() > 150) {
                                continue;
                            }
                            let got = walk(&index, &q, max, now);
                            assert_eq!(
                                got.len(),
                                want.len(),
                                "{key} = {value} {start:?}..{end:?} max {max}"
                            );
                            assert!(got == want, "{key} = {value} {start:?}..{end:?} max {max}");
                            checked += 1;
                            returned += got.len();
                        }
                    }
                }
            }
        }
        // No attribute, management and Insights.
        for insight in [false, true] {
            for (start, end) in windows {
                let q = Query {
                    account,
                    region,
                    attribute: None,
                    start,
                    end,
                    insight,
                };
                let want = oracle(in_scope.iter().copied(), &q, now, retention);
                for max in [7i64, 50] {
                    if max == 7 && want.len() > 150 {
                        continue;
                    }
                    assert!(
                        walk(&index, &q, max, now) == want,
                        "no attribute {start:?}..{end:?}"
                    );
                    checked += 1;
                    returned += want.len();
                }
            }
        }
    }
    insights_and_data_events(&index, now);
    assert!(checked > 1000, "{checked}");
    assert!(returned > 50_000, "{returned}");
    eprintln!("oracle: {checked} walks, {returned} events compared");
}

/// Every byte of the index file and its WAL.
fn file_bytes(dir: &tempfile::TempDir, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(b) = std::fs::read(dir.path().join(format!("{name}{suffix}"))) {
            out.extend_from_slice(&b);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Attribute values of the small index that must not be readable from an encrypted file.
fn secrets_of(recs: &[Rec]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for r in recs {
        for key in [
            AttributeKey::Username,
            AttributeKey::EventName,
            AttributeKey::AccessKeyId,
            AttributeKey::ResourceName,
        ] {
            // Account and Region stay plain (the scope of a lookup).
            out.extend(
                naive_values(r, key)
                    .into_iter()
                    .filter(|v| v.len() >= 8 && v != &r.account && v != &r.region),
            );
        }
    }
    out.into_iter().collect()
}

#[test]
fn encrypted_index_holds_no_event_text_and_refuses_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<Rec> = corpus()
        .into_iter()
        .filter(|r| r.account == "123837392027")
        .take(400)
        .collect();
    let mut index = open_keyed(&dir, "enc.db", Duration::days(365 * 20), Some(keys(1)));
    ingest(&mut index, &recs);
    let now = recs.iter().map(|r| r.time).max().unwrap() + Duration::hours(1);
    let first = index.lookup_at(&req(&recs), now).unwrap();
    assert!(!first.events.is_empty());
    let user = recs
        .iter()
        .flat_map(|r| naive_values(r, AttributeKey::Username))
        .next()
        .unwrap();
    let by_user = index
        .lookup_at(
            &LookupRequest {
                attribute: Some((AttributeKey::Username, user.clone())),
                ..req(&recs)
            },
            now,
        )
        .unwrap();
    assert!(
        by_user
            .events
            .iter()
            .all(|e| e.username.as_deref() == Some(&*user))
    );
    assert!(!by_user.events.is_empty());
    let secrets = secrets_of(&recs);
    assert!(secrets.len() > 20, "{}", secrets.len());
    let bytes = file_bytes(&dir, "enc.db");
    for s in &secrets {
        assert!(!contains(&bytes, s), "{s} is readable in the index file");
    }
    drop(index);
    let wrong = HistoryIndex::open(
        dir.path().join("enc.db"),
        HistoryOptions {
            keys: Some(keys(7)),
            ..HistoryOptions::default()
        },
    );
    assert!(wrong.is_err());
    assert!(HistoryIndex::open(dir.path().join("enc.db"), HistoryOptions::default()).is_err());
    let index = open_keyed(&dir, "enc.db", Duration::days(365 * 20), Some(keys(1)));
    let again = index.lookup_at(&req(&recs), now).unwrap();
    assert_eq!(
        again.events.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
        first.events.iter().map(|e| &e.event_id).collect::<Vec<_>>()
    );
}

#[test]
fn a_plaintext_index_is_encrypted_in_place_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (index, recs, now) = small_index(&dir, "old.db");
    let user = recs
        .iter()
        .flat_map(|r| naive_values(r, AttributeKey::Username))
        .next()
        .unwrap();
    let by_user = LookupRequest {
        attribute: Some((AttributeKey::Username, user)),
        max_results: Some(50),
        ..req(&recs)
    };
    let before = index.lookup_at(&by_user, now).unwrap();
    let all_before = index.lookup_at(&req(&recs), now).unwrap();
    let events_before = index.stats().unwrap().events;
    drop(index);
    let secrets = secrets_of(&recs);
    let plain = file_bytes(&dir, "old.db");
    assert!(
        secrets.iter().any(|s| contains(&plain, s)),
        "plaintext to start with"
    );

    let mut index = open_keyed(&dir, "old.db", Duration::days(365 * 20), Some(keys(3)));
    assert_eq!(index.stats().unwrap().events, events_before);
    let after = index.lookup_at(&by_user, now).unwrap();
    assert_eq!(
        after.events.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
        before
            .events
            .iter()
            .map(|e| &e.event_id)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        after
            .events
            .iter()
            .map(|e| &e.cloud_trail_event)
            .collect::<Vec<_>>(),
        before
            .events
            .iter()
            .map(|e| &e.cloud_trail_event)
            .collect::<Vec<_>>()
    );
    let all_after = index.lookup_at(&req(&recs), now).unwrap();
    assert_eq!(all_after.events.len(), all_before.events.len());
    // Re-indexing is still idempotent, and expiry still finds the hashed attribute rows.
    ingest(&mut index, &recs);
    assert_eq!(index.stats().unwrap().events, events_before);
    let rows = index.stats().unwrap().attribute_rows;
    assert!(rows > 0);
    index.checkpoint().unwrap();
    let bytes = file_bytes(&dir, "old.db");
    for s in &secrets {
        assert!(
            !contains(&bytes, s),
            "{s} is still readable after migration"
        );
    }
    let far = now + Duration::days(365 * 40);
    assert_eq!(index.expire(far).unwrap(), events_before);
    assert_eq!(index.stats().unwrap().attribute_rows, 0);
}

fn small_index(dir: &tempfile::TempDir, name: &str) -> (HistoryIndex, Vec<Rec>, OffsetDateTime) {
    let recs: Vec<Rec> = corpus()
        .into_iter()
        .filter(|r| r.account == "123837392027")
        .take(400)
        .collect();
    let mut index = open(dir, name, Duration::days(365 * 20));
    ingest(&mut index, &recs);
    let now = recs.iter().map(|r| r.time).max().unwrap() + Duration::hours(1);
    (index, recs, now)
}

fn req(recs: &[Rec]) -> LookupRequest {
    LookupRequest {
        account: recs[0].account.clone(),
        region: recs[0].region.clone(),
        ..Default::default()
    }
}

#[test]
fn response_fields_come_from_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (index, recs, now) = small_index(&dir, "fields.db");
    let page = index.lookup_at(&req(&recs), now).unwrap();
    assert_eq!(page.events.len(), 50);
    for e in &page.events {
        let v: Value = serde_json::from_str(&e.cloud_trail_event).unwrap();
        assert_eq!(e.event_id.as_deref(), v["eventID"].as_str());
        assert_eq!(e.event_name.as_deref(), v["eventName"].as_str());
        assert_eq!(e.event_source.as_deref(), v["eventSource"].as_str());
        assert_eq!(Some(e.event_time), parse_time(&v));
        assert_eq!(
            e.read_only.as_deref(),
            v["readOnly"]
                .as_bool()
                .map(|b| if b { "true" } else { "false" })
        );
        assert_eq!(
            e.access_key_id.as_deref(),
            v["userIdentity"]["accessKeyId"]
                .as_str()
                .filter(|s| !s.is_empty())
        );
        if v["userIdentity"]["type"] == "IAMUser" {
            assert_eq!(
                e.username.as_deref(),
                v["userIdentity"]["userName"].as_str()
            );
        }
        for r in v["resources"].as_array().into_iter().flatten() {
            let pair = (
                r["type"].as_str().map(str::to_owned),
                r["ARN"].as_str().unwrap_or_default().to_owned(),
            );
            if r["ARN"].is_string() {
                assert!(e.resources.contains(&pair), "{pair:?} in {:?}", e.resources);
            }
        }
    }
    // Newest first.
    assert!(
        page.events
            .windows(2)
            .all(|w| w[0].event_time >= w[1].event_time)
    );
}

#[test]
fn error_cases_map_to_the_aws_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let (index, recs, now) = small_index(&dir, "errors.db");
    let base = req(&recs);
    let code = |r: LookupRequest| index.lookup_at(&r, now).unwrap_err().code();
    assert_eq!(
        code(LookupRequest {
            max_results: Some(0),
            ..base.clone()
        }),
        "InvalidMaxResultsException"
    );
    assert_eq!(
        code(LookupRequest {
            max_results: Some(51),
            ..base.clone()
        }),
        "InvalidMaxResultsException"
    );
    assert_eq!(
        code(LookupRequest {
            start: Some(now),
            end: Some(now - Duration::seconds(1)),
            ..base.clone()
        }),
        "InvalidTimeRangeException"
    );
    assert_eq!(
        code(LookupRequest {
            attribute: Some((AttributeKey::EventName, String::new())),
            ..base.clone()
        }),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        code(LookupRequest {
            attribute: Some((AttributeKey::ReadOnly, "true".into())),
            category: Some(EventCategory::Insight),
            ..base.clone()
        }),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        code(LookupRequest {
            next_token: Some("nope".into()),
            ..base.clone()
        }),
        "InvalidNextTokenException"
    );
    let two = [
        ("EventName".to_owned(), "a".to_owned()),
        ("Username".to_owned(), "b".to_owned()),
    ];
    assert_eq!(
        LookupRequest::attribute_from_list(&two).unwrap_err().code(),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        "Insight".parse::<EventCategory>().unwrap_err().code(),
        "InvalidEventCategoryException"
    );
    // Unknown scope and an empty window are empty results, not errors.
    let other = LookupRequest {
        account: "999999999999".into(),
        ..base.clone()
    };
    assert_eq!(
        index.lookup_at(&other, now).unwrap(),
        LookupResponse::default()
    );
}

#[test]
fn reindexing_the_same_seqs_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let (mut index, recs, now) = small_index(&dir, "idem.db");
    let before = index.stats().unwrap();
    let first = index.lookup_at(&req(&recs), now).unwrap();
    let batch: Vec<IndexedEvent<'_>> = recs.iter().map(Rec::indexed).collect();
    let outcome = index.index_batch(&batch).unwrap();
    assert_eq!(outcome.indexed, 0);
    assert_eq!(outcome.duplicates, before.events as usize);
    assert_eq!(outcome.duplicates + outcome.not_kept, recs.len());
    let after = index.stats().unwrap();
    assert_eq!(
        (before.events, before.attribute_rows),
        (after.events, after.attribute_rows)
    );
    let again = index.lookup_at(&req(&recs), now).unwrap();
    assert_eq!(first.events, again.events);
    // Same seq with different bytes is still the first version (the journal is immutable).
    let mut altered = recs[0].clone();
    altered.raw = br#"{"eventCategory":"Management","eventName":"Other"}"#.to_vec();
    assert_eq!(
        index.index_batch(&[altered.indexed()]).unwrap().duplicates,
        1
    );
    // Malformed entries are skipped and counted.
    let mut bad = recs[0].clone();
    bad.seq = 1_000_000;
    bad.raw = b"not json".to_vec();
    let mut huge = recs[0].clone();
    huge.seq = u64::MAX;
    let outcome = index.index_batch(&[bad.indexed(), huge.indexed()]).unwrap();
    assert_eq!(outcome.invalid, 2);
}

fn synthetic(seq: u64, time: OffsetDateTime, name: &str) -> Rec {
    let value = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accessKeyId": "AKIAEXAMPLE"},
        "eventTime": time.format(&Rfc3339).unwrap(),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "eventID": format!("id-{seq}"),
        "readOnly": false,
        "eventCategory": "Management",
    });
    Rec::new(seq, "111122223333".into(), "eu-west-1".into(), time, value)
}

#[test]
fn retention_hides_then_expire_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = HistoryIndex::open(
        dir.path().join("ret.db"),
        HistoryOptions {
            expire_batch: 3,
            durable: false,
            ..HistoryOptions::default()
        },
    )
    .unwrap();
    let now = OffsetDateTime::parse("2025-06-01T00:00:00Z", &Rfc3339).unwrap();
    let ages = [200i64, 120, 91, 90, 89, 30, 1, 0, -1];
    let recs: Vec<Rec> = ages
        .iter()
        .enumerate()
        .map(|(i, d)| synthetic(i as u64 + 1, now - Duration::days(*d), "CreateUser"))
        .collect();
    ingest(&mut index, &recs);
    let visible = |index: &HistoryIndex, r: LookupRequest| -> Vec<String> {
        index
            .lookup_at(&r, now)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event_id.unwrap())
            .collect()
    };
    let base = req(&recs);
    // 90 days exactly is inside the window; the future event is not.
    let want: Vec<String> = ["id-8", "id-7", "id-6", "id-5", "id-4"]
        .map(String::from)
        .to_vec();
    assert_eq!(visible(&index, base.clone()), want);
    let by_user = LookupRequest {
        attribute: Some((AttributeKey::Username, "alice".into())),
        ..base.clone()
    };
    assert_eq!(visible(&index, by_user.clone()), want);
    // A start before the window is clamped; an end after `now` too.
    let wide = LookupRequest {
        start: Some(now - Duration::days(400)),
        end: Some(now + Duration::days(5)),
        ..by_user.clone()
    };
    assert_eq!(visible(&index, wide), want);
    let before = index.stats().unwrap();
    assert_eq!(index.expire(now).unwrap(), 3);
    let after = index.stats().unwrap();
    assert_eq!(after.events, before.events - 3);
    let per_event = before.attribute_rows / before.events;
    assert_eq!(
        after.attribute_rows,
        after.events * per_event,
        "attribute rows expired too"
    );
    assert_eq!(visible(&index, by_user.clone()), want);
    assert_eq!(index.expire(now).unwrap(), 0);
    // Later, the future event shows up and older ones leave.
    let later = now + Duration::days(2);
    let got: Vec<String> = index
        .lookup_at(&by_user, later)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event_id.unwrap())
        .collect();
    assert_eq!(
        got,
        ["id-9", "id-8", "id-7", "id-6"].map(String::from).to_vec()
    );
}

#[test]
fn pages_stay_put_while_events_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(&dir, "stable.db", Duration::days(90));
    let now = OffsetDateTime::parse("2025-06-01T00:00:00Z", &Rfc3339).unwrap();
    // 40 events, several sharing a second (ties broken by seq).
    let recs: Vec<Rec> = (0..40u64)
        .map(|i| {
            synthetic(
                i + 1,
                now - Duration::hours(10) + Duration::minutes((i / 3) as i64),
                "CreateUser",
            )
        })
        .collect();
    ingest(&mut index, &recs);
    let mut present = recs.clone();
    for attribute in [
        None,
        Some((AttributeKey::EventName, "CreateUser".to_owned())),
    ] {
        let base = LookupRequest {
            attribute: attribute.clone(),
            max_results: Some(7),
            ..req(&recs)
        };
        let q = Query {
            account: &recs[0].account,
            region: &recs[0].region,
            attribute: attribute.clone(),
            start: None,
            end: None,
            insight: false,
        };
        let want = oracle(&present, &q, now, Duration::days(90));
        let mut got = Vec::new();
        let mut r = base.clone();
        let mut next_seq = 10_000 + if attribute.is_some() { 1_000 } else { 0 };
        let mut extra = Vec::new();
        loop {
            let page = index.lookup_at(&r, now).unwrap();
            got.extend(page.events.iter().map(|e| e.cloud_trail_event.clone()));
            // Between pages: a newer event, an older one, and one tied with the cursor's time.
            for t in [
                now - Duration::minutes(1),
                now - Duration::hours(20),
                page.events.last().unwrap().event_time,
            ] {
                next_seq += 1;
                extra.push(synthetic(next_seq, t, "CreateUser"));
            }
            let batch: Vec<IndexedEvent<'_>> =
                extra[extra.len() - 3..].iter().map(Rec::indexed).collect();
            index.index_batch(&batch).unwrap();
            match page.next_token {
                Some(t) => r.next_token = Some(t),
                None => break,
            }
        }
        assert!(got == want, "the walk shows the index as of its first page");
        // A new walk sees everything.
        present.extend(extra);
        let fresh = walk(&index, &q, 7, now);
        assert!(fresh.len() > want.len());
        assert_eq!(fresh, oracle(&present, &q, now, Duration::days(90)));
    }
}

#[test]
fn tampered_or_reused_tokens_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (index, recs, now) = small_index(&dir, "token.db");
    let base = LookupRequest {
        max_results: Some(5),
        ..req(&recs)
    };
    let first = index.lookup_at(&base, now).unwrap();
    let token = first.next_token.clone().unwrap();
    let with = |r: LookupRequest| LookupRequest {
        next_token: Some(token.clone()),
        ..r
    };
    // Same parameters (page size may change): fine.
    let second = index.lookup_at(&with(base.clone()), now).unwrap();
    assert_ne!(second.events[0], first.events[0]);
    assert!(
        index
            .lookup_at(
                &with(LookupRequest {
                    max_results: Some(50),
                    ..base.clone()
                }),
                now
            )
            .is_ok()
    );
    // A reader connection accepts the same token.
    let reader = index.reader().unwrap();
    assert_eq!(reader.lookup_at(&with(base.clone()), now).unwrap(), second);
    // Other parameters.
    let others = [
        LookupRequest {
            attribute: Some((AttributeKey::ReadOnly, "true".into())),
            ..base.clone()
        },
        LookupRequest {
            start: Some(now - Duration::days(1)),
            ..base.clone()
        },
        LookupRequest {
            end: Some(now),
            ..base.clone()
        },
        LookupRequest {
            region: "us-west-2".into(),
            ..base.clone()
        },
        LookupRequest {
            account: "111122223333".into(),
            ..base.clone()
        },
        LookupRequest {
            category: Some(EventCategory::Insight),
            ..base.clone()
        },
    ];
    for r in others {
        let err = index.lookup_at(&with(r.clone()), now).unwrap_err();
        assert_eq!(err.code(), "InvalidNextTokenException", "{r:?}");
    }
    // Every single-character change.
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        .chars()
        .collect();
    for i in 0..token.len() {
        let mut chars: Vec<char> = token.chars().collect();
        let c = chars[i];
        let pos = alphabet.iter().position(|a| *a == c).unwrap();
        chars[i] = alphabet[(pos + 17) % alphabet.len()];
        let altered: String = chars.into_iter().collect();
        let r = LookupRequest {
            next_token: Some(altered),
            ..base.clone()
        };
        match index.lookup_at(&r, now) {
            Err(e) => assert_eq!(e.code(), "InvalidNextTokenException"),
            // Changing the last character may only flip unused padding bits.
            Ok(page) => assert!(i == token.len() - 1 && page == second, "position {i}"),
        }
    }
    // A token of another index (another key) is refused too.
    let dir2 = tempfile::tempdir().unwrap();
    let (other, _, _) = small_index(&dir2, "token2.db");
    assert_eq!(
        other
            .lookup_at(&with(base.clone()), now)
            .unwrap_err()
            .code(),
        "InvalidNextTokenException"
    );
}

/// Runs on the oracle's index (the whole corpus).
fn insights_and_data_events(index: &HistoryIndex, now: OffsetDateTime) {
    let insight = |account: &str, attribute| LookupRequest {
        account: account.into(),
        region: "us-east-1".into(),
        category: Some(EventCategory::Insight),
        attribute,
        ..Default::default()
    };
    let page = index
        .lookup_at(&insight("123456789012", None), now)
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        page.events[0].event_name.as_deref(),
        Some("UpdateInstanceInformation")
    );
    assert_eq!(
        page.events[0].event_source.as_deref(),
        Some("ssm.amazonaws.com")
    );
    assert_eq!(page.events[0].username, None);
    let by_source = insight(
        "123456789012",
        Some((AttributeKey::EventSource, "ssm.amazonaws.com".into())),
    );
    assert_eq!(index.lookup_at(&by_source, now).unwrap().events.len(), 2);
    // Insights never appear in management lookups.
    let mgmt = LookupRequest {
        category: None,
        attribute: None,
        ..insight("123456789012", None)
    };
    let all = walk(
        index,
        &Query {
            account: "123456789012",
            region: "us-east-1",
            attribute: None,
            start: None,
            end: None,
            insight: false,
        },
        50,
        now,
    );
    assert!(index.lookup_at(&mgmt, now).is_ok());
    assert!(all.iter().all(|e| !e.contains("AwsCloudTrailInsight")));
    // The otrf S3 data events are not kept: no GetObject anywhere.
    let get_object = LookupRequest {
        account: "123456789123".into(),
        region: "us-east-1".into(),
        attribute: Some((AttributeKey::EventName, "GetObject".into())),
        ..Default::default()
    };
    assert!(index.lookup_at(&get_object, now).unwrap().events.is_empty());
    let list_buckets = LookupRequest {
        attribute: Some((AttributeKey::EventName, "ListBuckets".into())),
        ..get_object
    };
    assert_eq!(index.lookup_at(&list_buckets, now).unwrap().events.len(), 2);
}
