//! Validator tests over an in-memory bucket: the §9 vector end to end, CLI tampering
//! verdicts, and the strict checks.

use time::macros::datetime;

use super::*;
use crate::digest::{LogFileEntry, SignedDigest};
use crate::keys::SigningKey;
use crate::keys::tests::SPEC_PEM;
use crate::logfile::LogFileEncoder;
use crate::testkit::{ACCOUNT, ARN, BUCKET, Chain, Opts, REGION, TRAIL, digest_key, log_key};

pub(crate) const VECTOR_RECORD: &str = r#"{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEEXAMPLE01","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEEXAMPLE01","userName":"alice"},"eventTime":"2025-03-04T05:12:44Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-2","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"name":"example-trail"},"responseElements":null,"requestID":"0f5e2c6a-0000-4000-8000-000000000001","eventID":"6b0f2a9e-0000-4000-8000-000000000002","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;

fn spec_key() -> SigningKey {
    SigningKey::from_pem(SPEC_PEM).unwrap()
}

fn keyset(k: &SigningKey) -> PublicKeySet {
    let mut s = PublicKeySet::new();
    s.insert(k.public_key().clone());
    s
}

fn store_digest(src: &MemorySource, key: &str, s: &SignedDigest) {
    src.put(
        BUCKET,
        key,
        s.gzip.clone(),
        s.metadata().map(|(k, v)| (k.to_owned(), v)),
    );
}

fn cli_text(r: &ValidationReport, verbose: bool, strict: bool) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    r.write_cli_text(ARN, verbose, strict, &mut out, &mut err)
        .unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn invalid_reasons(r: &ValidationReport, kind: FindingKind) -> Vec<(String, String)> {
    r.of_kind(kind)
        .filter(|f| f.verdict == Verdict::Invalid)
        .map(|f| (f.key.clone(), f.reason.clone().unwrap_or_default()))
        .collect()
}

fn strict_checks(r: &ValidationReport) -> Vec<StrictCheck> {
    r.of_kind(FindingKind::Strict)
        .filter_map(|f| f.check)
        .collect()
}

/// The §9 vector, built with this crate's code.
fn spec_bucket() -> (MemorySource, [String; 2], String) {
    let key = spec_key();
    let src = MemorySource::new();
    let mut enc = LogFileEncoder::default();
    enc.push_record(VECTOR_RECORD.as_bytes()).unwrap();
    let log = enc.finish().unwrap();
    let log_key = log_key(datetime!(2025-03-04 05:15 UTC), "AbCdEfGh12345678");
    src.put(
        BUCKET,
        &log_key,
        log.gzip.clone(),
        Vec::<(String, String)>::new(),
    );
    let k0 = digest_key(datetime!(2025-03-04 05:01:31 UTC), false);
    let d0 = DigestFile::new(
        BUCKET,
        &k0,
        datetime!(2025-03-04 04:01:31 UTC),
        key.fingerprint(),
    )
    .unwrap();
    let s0 = d0.sign(&key).unwrap();
    let k0s = k0.to_key().unwrap();
    store_digest(&src, &k0s, &s0);
    let k1 = digest_key(datetime!(2025-03-04 06:01:31 UTC), false);
    let mut d1 = DigestFile::new(
        BUCKET,
        &k1,
        datetime!(2025-03-04 05:01:31 UTC),
        key.fingerprint(),
    )
    .unwrap();
    d1.add_log_file(LogFileEntry::new(BUCKET, &log_key, &log).unwrap());
    d1.chain_to(&s0.as_previous(BUCKET, &k0s));
    let s1 = d1.sign(&key).unwrap();
    assert_eq!(s1.body, crate::digest::tests::D1.as_bytes());
    let k1s = k1.to_key().unwrap();
    store_digest(&src, &k1s, &s1);
    (src, [k0s, k1s], log_key)
}

fn spec_request() -> ValidationRequest {
    ValidationRequest::new(
        BUCKET,
        ACCOUNT,
        REGION,
        TRAIL,
        datetime!(2025-03-04 03:00 UTC),
        datetime!(2025-03-04 07:00 UTC),
    )
}

#[test]
fn spec_vector_end_to_end() {
    let (src, [k0, k1], log_key) = spec_bucket();
    let mut req = spec_request();
    req.strict = true;
    req.expect_digest_through = Some(datetime!(2025-03-04 06:00 UTC));
    let r = validate(&src, &req, &keyset(&spec_key())).unwrap();
    let s = r.summary();
    assert_eq!(
        (
            s.digests_valid,
            s.digests_invalid,
            s.logs_valid,
            s.logs_invalid
        ),
        (2, 0, 1, 0)
    );
    assert_eq!(
        (s.gaps, s.strict_failures, s.logs_pending),
        (0, 0, 0),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.exit_code(true), 0);
    let (out, err) = cli_text(&r, true, true);
    assert_eq!(err, "");
    let expected = format!(
        "Validating log files for trail {ARN} between 2025-03-04T03:00:00Z and 2025-03-04T07:00:00Z\n\n\
         Digest file\ts3://{BUCKET}/{k1}\tvalid\n\
         Log file\ts3://{BUCKET}/{log_key}\tvalid\n\
         Digest file\ts3://{BUCKET}/{k0}\tvalid\n\n\
         Results requested for 2025-03-04T03:00:00Z to 2025-03-04T07:00:00Z\n\
         Results found for 2025-03-04T04:01:31Z to 2025-03-04T06:01:31Z:\n\n\
         2/2 digest files valid\n\
         1/1 log files valid\n"
    );
    assert_eq!(out, expected);
    let json = r.to_json();
    assert_eq!(json["summary"]["digests_valid"], 2);
    assert_eq!(json["cli_exit_code"], 0);
    assert_eq!(json["findings"][1]["kind"], "log_file");
}

#[test]
fn spec_vector_one_char_changed() {
    let (src, [k0, k1], _) = spec_bucket();
    let body = crate::digest::tests::D1.replace("05:12:44", "05:12:45");
    src.modify(BUCKET, &k1, |o| {
        o.body = crate::gz::gzip(body.as_bytes(), 6).into()
    });
    let r = validate(&src, &spec_request(), &keyset(&spec_key())).unwrap();
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(k1, REASON_SIGNATURE.to_owned())]
    );
    assert_eq!(
        r.of_kind(FindingKind::Digest)
            .filter(|f| f.verdict == Verdict::Valid)
            .count(),
        1
    );
    assert_eq!(
        r.of_kind(FindingKind::Digest)
            .find(|f| f.verdict == Verdict::Valid)
            .unwrap()
            .key,
        k0
    );
    assert_eq!(r.exit_code(false), 1);
    let (_, err) = cli_text(&r, false, false);
    assert!(
        err.starts_with("Digest file\ts3://amzn-s3-demo-bucket/"),
        "{err}"
    );
    assert!(
        err.ends_with("\tINVALID: signature verification failed\n\n"),
        "{err}"
    );
}

/// The validator's view of a [`Chain`] (from `testkit`, shared with `cairn validate`'s tests).
impl Chain {
    fn request(&self, strict: bool) -> ValidationRequest {
        let mut r = ValidationRequest::new(
            BUCKET,
            ACCOUNT,
            REGION,
            TRAIL,
            datetime!(2025-03-04 00:00 UTC),
            self.next_start,
        );
        r.strict = strict;
        r
    }

    fn run(&self, strict: bool) -> ValidationReport {
        validate(&self.src, &self.request(strict), &keyset(&self.key)).unwrap()
    }
}

#[test]
fn healthy_chain_is_clean_in_both_modes() {
    let c = Chain::build(spec_key(), 4, 3);
    let r = c.run(true);
    let s = r.summary();
    assert_eq!(
        (s.digests_valid, s.logs_valid, s.strict_failures, s.gaps),
        (4, 12, 0, 0),
        "{:#?}",
        r.findings
    );
    // Paginated listing gives the same report.
    let paged = MemorySource::with_page_size(2);
    for k in c.digests.iter().chain(&c.logs) {
        let o = c.src.get(BUCKET, k).unwrap();
        paged.put(BUCKET, k, o.body, o.metadata);
    }
    let r2 = validate(&paged, &c.request(true), &keyset(&c.key)).unwrap();
    assert_eq!(r2, r);
}

#[test]
fn log_file_changed_deleted_or_garbled() {
    let c = Chain::build(spec_key(), 3, 2);
    let changed = &c.logs[0];
    c.src.modify(BUCKET, changed, |o| {
        o.body = crate::gz::gzip(b"{\"Records\":[]}", 6).into()
    });
    let deleted = &c.logs[2];
    c.src.remove(BUCKET, deleted);
    let garbled = &c.logs[4];
    c.src.modify(BUCKET, garbled, |o| {
        o.body = bytes::Bytes::from_static(b"{\"Records\":[]}")
    });
    let r = c.run(false);
    let mut got = invalid_reasons(&r, FindingKind::LogFile);
    got.sort();
    let mut want = vec![
        (changed.clone(), REASON_HASH_MISMATCH.to_owned()),
        (deleted.clone(), REASON_NOT_FOUND.to_owned()),
        (garbled.clone(), REASON_INVALID_FORMAT.to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(r.summary().digests_valid, 3);
    let (out, err) = cli_text(&r, false, false);
    assert!(err.contains(&format!(
        "Log file\ts3://{BUCKET}/{changed}\tINVALID: hash value doesn't match\n\n"
    )));
    assert!(
        out.contains("3/3 digest files valid\n3/6 log files valid, 3/6 log files INVALID\n"),
        "{out}"
    );
}

#[test]
fn digest_changed_in_the_middle() {
    let c = Chain::build(spec_key(), 4, 1);
    let victim = &c.digests[2];
    let obj = c.src.get(BUCKET, victim).unwrap();
    let body = crate::gz::gunzip_capped(&obj.body, 1 << 20).unwrap();
    let body = String::from_utf8(body)
        .unwrap()
        .replacen("SHA-256", "SHA-257", 1);
    c.src.modify(BUCKET, victim, |o| {
        o.body = crate::gz::gzip(body.as_bytes(), 6).into()
    });
    let r = c.run(false);
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(victim.clone(), REASON_SIGNATURE.to_owned())]
    );
    assert_eq!(r.summary().digests_valid, 3);
}

#[test]
fn digest_deleted_in_the_middle() {
    let c = Chain::build(spec_key(), 4, 1);
    let victim = &c.digests[1];
    c.src.remove(BUCKET, victim);
    let r = c.run(true);
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(victim.clone(), REASON_NOT_FOUND.to_owned())]
    );
    let s = r.summary();
    assert_eq!((s.digests_valid, s.digests_invalid), (3, 1));
    // Its log file is now listed by no valid digest.
    assert!(
        strict_checks(&r).contains(&StrictCheck::UnlistedLogFile),
        "{:#?}",
        r.findings
    );
    let (out, err) = cli_text(&r, false, false);
    assert_eq!(
        err,
        format!("Digest file\ts3://{BUCKET}/{victim}\tINVALID: not found\n\n")
    );
    assert!(
        out.contains("3/4 digest files valid, 1/4 digest files INVALID"),
        "{out}"
    );
}

#[test]
fn forged_digests() {
    let other = SigningKey::generate().unwrap();
    // Signed by an unknown key, under its own fingerprint.
    let mut c = Chain::build(spec_key(), 2, 1);
    let forged = c.add(Opts {
        logs: 1,
        signer: Some(&other),
        ..Default::default()
    });
    let r = c.run(false);
    let want = format!(
        "public key not found in region {REGION} for fingerprint {}",
        other.fingerprint()
    );
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(forged, want)]
    );
    assert_eq!(r.summary().digests_valid, 2);
    // Signed by another key but claiming the real fingerprint.
    let mut c = Chain::build(spec_key(), 2, 1);
    let real_fp = c.key.fingerprint().to_owned();
    let forged = c.add(Opts {
        signer: Some(&other),
        tweak: Some(&|d| d.digest_public_key_fingerprint = real_fp.clone()),
        ..Default::default()
    });
    let r = c.run(false);
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(forged, REASON_SIGNATURE.to_owned())]
    );
}

#[test]
fn digest_moved() {
    let c = Chain::build(spec_key(), 3, 1);
    let newest = c.digests[2].clone();
    let obj = c.src.remove(BUCKET, &newest).unwrap();
    let moved = newest.replace("T030131Z", "T030132Z");
    c.src.put(BUCKET, &moved, obj.body, obj.metadata);
    let r = c.run(false);
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![(moved, REASON_MOVED.to_owned())]
    );
    assert_eq!(r.summary().digests_valid, 2);
}

#[test]
fn metadata_signature_missing() {
    let c = Chain::build(spec_key(), 3, 0);
    let victim = &c.digests[2];
    c.src.modify(BUCKET, victim, |o| {
        o.metadata.remove(META_SIGNATURE);
    });
    let other = &c.digests[1];
    c.src.modify(BUCKET, other, |o| {
        o.metadata.remove(META_SIGNATURE_ALGORITHM);
    });
    let r = c.run(false);
    let mut got = invalid_reasons(&r, FindingKind::Digest);
    got.sort();
    let mut want = vec![
        (victim.clone(), REASON_SIGNATURE.to_owned()),
        (other.clone(), REASON_SIGNATURE.to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn invalid_format_and_unloadable_key() {
    let c = Chain::build(spec_key(), 3, 0);
    c.src.modify(BUCKET, &c.digests[2], |o| {
        o.body = bytes::Bytes::from_static(b"not gzip")
    });
    c.src.modify(BUCKET, &c.digests[1], |o| {
        o.body = crate::gz::gzip(b"{\"digestS3Bucket\":\"x\"}", 6).into()
    });
    let r = c.run(false);
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest),
        vec![
            (c.digests[2].clone(), REASON_INVALID_FORMAT.to_owned()),
            (c.digests[1].clone(), REASON_INVALID_FORMAT.to_owned())
        ]
    );
    let mut keys = PublicKeySet::new();
    keys.insert_listed(c.key.fingerprint(), b"\x30\x00");
    let r = validate(&c.src, &c.request(false), &keys).unwrap();
    let want = format!(
        "Unable to load PKCS #1 key with fingerprint {}",
        c.key.fingerprint()
    );
    assert_eq!(
        invalid_reasons(&r, FindingKind::Digest)[2],
        (c.digests[0].clone(), want)
    );
}

#[test]
fn gap_after_restart() {
    let mut c = Chain::build(spec_key(), 2, 1);
    c.next_start += Duration::hours(3);
    let restarted = c.add(Opts {
        logs: 1,
        restart: true,
        ..Default::default()
    });
    c.add(Opts {
        logs: 1,
        ..Default::default()
    });
    let r = c.run(true);
    let s = r.summary();
    assert_eq!(
        (s.digests_valid, s.gaps, s.strict_failures),
        (4, 1, 0),
        "{:#?}",
        r.findings
    );
    let gap = r.of_kind(FindingKind::Gap).next().unwrap();
    assert_eq!(gap.key, restarted);
    assert_eq!(
        gap.reason.as_deref(),
        Some(
            "No log files were delivered by CloudTrail between 2025-03-04T02:01:31Z and 2025-03-04T05:01:31Z"
        )
    );
    assert_eq!(r.exit_code(true), 0);
    let (_, err) = cli_text(&r, false, false);
    assert_eq!(err, format!("{}\n\n", gap.reason.as_deref().unwrap()));
}

#[test]
fn window_selection_and_other_trails() {
    let c = Chain::build(spec_key(), 6, 0);
    // Another trail's digest in the same folder is ignored.
    let mut other = digest_key(datetime!(2025-03-04 03:30 UTC), false);
    other.trail_name = "other-trail".into();
    c.src.put(
        BUCKET,
        &other.to_key().unwrap(),
        b"junk".to_vec(),
        [("signature", "00")],
    );
    let mut req = c.request(false);
    req.start = datetime!(2025-03-04 02:30 UTC);
    req.end = datetime!(2025-03-04 03:30 UTC);
    let r = validate(&c.src, &req, &keyset(&c.key)).unwrap();
    // Keys dated 03:01:31 and 04:01:31 (<= end + 1h) are listed; the chain walks back from
    // 04:01:31 and stops after the first digest starting before 02:30.
    let valid: Vec<&str> = r
        .of_kind(FindingKind::Digest)
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(valid, vec![c.digests[3].as_str(), c.digests[2].as_str()]);
    // The CLI's found-start rule: the last valid digest starting after the requested start.
    assert_eq!(r.found_start.as_deref(), Some("2025-03-04T03:01:31Z"));
    assert_eq!(r.found_end.as_deref(), Some("2025-03-04T03:30:00Z"));
}

#[test]
fn no_digests_and_no_keys() {
    let src = MemorySource::new();
    src.put(
        BUCKET,
        "unrelated",
        b"x".to_vec(),
        Vec::<(String, String)>::new(),
    );
    let r = validate(&src, &spec_request(), &keyset(&spec_key())).unwrap();
    assert!(r.findings.is_empty());
    let (out, _) = cli_text(&r, false, false);
    assert!(
        out.ends_with(
            "Results requested for 2025-03-04T03:00:00Z to 2025-03-04T07:00:00Z\nNo digests found\n"
        ),
        "{out}"
    );
    assert!(matches!(
        validate(&src, &spec_request(), &PublicKeySet::new()),
        Err(ValidateError::NoPublicKeys { .. })
    ));
    let mut bad = spec_request();
    bad.start = bad.end + Duration::seconds(1);
    assert!(matches!(
        validate(&src, &bad, &keyset(&spec_key())),
        Err(ValidateError::Request(_))
    ));
}

struct Failing<'a>(&'a MemorySource);
impl DigestSource for Failing<'_> {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        self.0.list(bucket, prefix, marker)
    }
    fn get(&self, bucket: &str, key: &str) -> Result<SourceObject, SourceError> {
        if key.contains("/CloudTrail/") {
            Err(SourceError::other("AccessDenied"))
        } else {
            self.0.get(bucket, key)
        }
    }
}

#[test]
fn other_source_errors_abort() {
    let c = Chain::build(spec_key(), 2, 1);
    let err = validate(&Failing(&c.src), &c.request(false), &keyset(&c.key)).unwrap_err();
    assert!(matches!(
        err,
        ValidateError::Source(SourceError {
            kind: SourceErrorKind::Other,
            ..
        })
    ));
    // The plan itself succeeds; only executing the log checks fails.
    let p = plan(&Failing(&c.src), &c.request(false), &keyset(&c.key)).unwrap();
    assert_eq!(p.log_checks.len(), 2);
    assert_eq!(p.report().summary().logs_pending, 2);
    assert_eq!(p.report().exit_code(true), 1);
}

#[test]
fn log_checks_can_run_out_of_order() {
    let c = Chain::build(spec_key(), 3, 2);
    let mut p = plan(&c.src, &c.request(false), &keyset(&c.key)).unwrap();
    let checks = std::mem::take(&mut p.log_checks);
    let handles: Vec<_> = std::thread::scope(|s| {
        checks
            .iter()
            .rev()
            .map(|chk| s.spawn(|| (chk.clone(), chk.run(&c.src).unwrap())))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    for (chk, outcome) in &handles {
        p.apply(chk, outcome);
    }
    assert_eq!(p.finish(), c.run(false));
}

#[test]
fn backfill_chain() {
    let mut c = Chain::build(spec_key(), 2, 1);
    c.next_start = datetime!(2025-03-04 00:30:00 UTC);
    c.prev = None;
    let b = c.add(Opts {
        logs: 1,
        backfill: true,
        ..Default::default()
    });
    let r = c.run(false);
    let s = r.summary();
    assert_eq!(
        (s.digests_valid, s.backfill_digests_valid, s.logs_valid),
        (2, 1, 3),
        "{:#?}",
        r.findings
    );
    let (out, _) = cli_text(&r, true, false);
    assert!(
        out.contains(&format!(
            "(backfill) Digest file\ts3://{BUCKET}/{b}\tvalid\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "\n2/2 digest files valid\n1/1 backfill digest files valid\n3/3 log files valid\n"
        ),
        "{out}"
    );
    c.src.modify(BUCKET, &b, |o| {
        o.metadata.remove(META_BACKFILL_TIMESTAMP);
    });
    let r = c.run(false);
    assert_eq!(
        invalid_reasons(&r, FindingKind::BackfillDigest),
        vec![(b, REASON_INVALID_FORMAT.to_owned())]
    );
}

// ---- strict checks (spec §10.6): each passes the CLI's checks but fails ours ----

fn cli_clean_strict_fails(c: &Chain, want: StrictCheck) {
    let r = c.run(false);
    assert_eq!(r.exit_code(false), 0, "{:#?}", r.findings);
    let r = c.run(true);
    assert_eq!(r.exit_code(false), 0);
    assert_eq!(r.exit_code(true), 1);
    assert!(
        strict_checks(&r).contains(&want),
        "{want:?} not in {:#?}",
        r.findings
    );
}

/// [`cli_clean_strict_fails`] on a chain of `n` digests (one log each) and one more over
/// `logs` logs whose digest `tweak` edits before signing.
fn strict_tweak_fails(n: usize, logs: usize, tweak: &dyn Fn(&mut DigestFile), want: StrictCheck) {
    let mut c = Chain::build(spec_key(), n, 1);
    c.add(Opts {
        logs,
        tweak: Some(tweak),
        ..Default::default()
    });
    cli_clean_strict_fails(&c, want);
}

#[test]
fn strict_previous_hash() {
    strict_tweak_fails(
        2,
        1,
        &|d| d.previous_digest_hash_value = Some("0".repeat(64)),
        StrictCheck::PreviousDigestHash,
    );
}

#[test]
fn strict_previous_signature() {
    strict_tweak_fails(
        2,
        1,
        &|d| d.previous_digest_signature = Some("ab".repeat(256)),
        StrictCheck::PreviousDigestSignature,
    );
}

#[test]
fn strict_continuity() {
    let mut c = Chain::build(spec_key(), 2, 1);
    c.next_start += Duration::minutes(5);
    c.add(Opts {
        logs: 1,
        ..Default::default()
    });
    cli_clean_strict_fails(&c, StrictCheck::Continuity);
}

#[test]
fn strict_signature_algorithm() {
    strict_tweak_fails(
        1,
        1,
        &|d| d.digest_signature_algorithm = "SHA1withRSA".into(),
        StrictCheck::SignatureAlgorithm,
    );
    let c = Chain::build(spec_key(), 2, 0);
    c.src.modify(BUCKET, &c.digests[1], |o| {
        o.metadata
            .insert(META_SIGNATURE_ALGORITHM.into(), "MD5withRSA".into());
    });
    cli_clean_strict_fails(&c, StrictCheck::SignatureAlgorithm);
}

#[test]
fn strict_account_mismatch() {
    strict_tweak_fails(
        1,
        1,
        &|d| d.aws_account_id = "999999999999".into(),
        StrictCheck::KeyMismatch,
    );
}

#[test]
fn strict_event_times_and_log_entries() {
    strict_tweak_fails(
        1,
        2,
        &|d| d.newest_event_time = Some("2025-03-04T01:00:00Z".into()),
        StrictCheck::EventTimes,
    );
    strict_tweak_fails(
        1,
        1,
        &|d| d.log_files[0].hash_algorithm = "MD5".into(),
        StrictCheck::LogEntry,
    );
}

#[test]
fn strict_fingerprint() {
    // The key is published under a fingerprint that is not its MD5, and digests name it:
    // the CLI only matches strings, we recompute the MD5.
    let fake_fp = "0123456789abcdef0123456789abcdef";
    let mut c = Chain::new(spec_key());
    for _ in 0..2 {
        c.add(Opts {
            logs: 1,
            tweak: Some(&|d| d.digest_public_key_fingerprint = fake_fp.into()),
            ..Default::default()
        });
    }
    let mut keys = PublicKeySet::new();
    keys.insert_listed(fake_fp, c.key.public_key().der());
    let r = validate(&c.src, &c.request(false), &keys).unwrap();
    assert_eq!((r.summary().digests_valid, r.exit_code(false)), (2, 0));
    let r = validate(&c.src, &c.request(true), &keys).unwrap();
    assert_eq!(
        strict_checks(&r),
        vec![StrictCheck::Fingerprint, StrictCheck::Fingerprint]
    );
}

#[test]
fn strict_unlisted_log_file() {
    let c = Chain::build(spec_key(), 3, 1);
    let sneaky = log_key(datetime!(2025-03-04 01:40 UTC), "SneakySneaky1234");
    c.src.put(
        BUCKET,
        &sneaky,
        crate::gz::gzip(b"{\"Records\":[]}", 6),
        Vec::<(String, String)>::new(),
    );
    cli_clean_strict_fails(&c, StrictCheck::UnlistedLogFile);
    let r = c.run(true);
    assert_eq!(r.of_kind(FindingKind::Strict).next().unwrap().key, sneaky);
}

#[test]
fn strict_unchained_digest() {
    let mut c = Chain::build(spec_key(), 2, 0);
    let skipped_prev = c.prev.clone();
    c.add(Opts::default());
    let skipped = c.digests[2].clone();
    c.prev = skipped_prev;
    c.add(Opts::default());
    // The last digest links to digests[1], jumping over digests[2]; continuity also breaks.
    let r = c.run(true);
    assert_eq!(r.exit_code(false), 0, "{:#?}", r.findings);
    let unchained: Vec<&Finding> = r
        .of_kind(FindingKind::Strict)
        .filter(|f| f.check == Some(StrictCheck::UnchainedDigest))
        .collect();
    assert_eq!(unchained.len(), 1);
    assert_eq!(unchained[0].key, skipped);
}

#[test]
fn strict_truncation() {
    let c = Chain::build(spec_key(), 4, 1);
    c.src.remove(BUCKET, &c.digests[3]);
    let mut req = c.request(true);
    let r = validate(&c.src, &req, &keyset(&c.key)).unwrap();
    assert_eq!(
        r.exit_code(false),
        0,
        "the CLI cannot see a deleted newest digest"
    );
    req.expect_digest_through = Some(c.next_start);
    let r = validate(&c.src, &req, &keyset(&c.key)).unwrap();
    assert!(strict_checks(&r).contains(&StrictCheck::Truncated));
    assert_eq!(r.exit_code(true), 1);
    let (_, err) = cli_text(&r, false, true);
    assert!(err.contains("Strict check (truncated chain)"), "{err}");
}

#[test]
fn memory_source_lists_a_bucket_copy_in_key_order() {
    let src = MemorySource::new();
    src.put(BUCKET, "b", b"2".to_vec(), [("k", "v")]);
    src.put(BUCKET, "a", b"1".to_vec(), Vec::<(String, String)>::new());
    let all = src.objects(BUCKET);
    assert_eq!(
        all.iter()
            .map(|(k, o)| (k.as_str(), &o.body[..]))
            .collect::<Vec<_>>(),
        [("a", &b"1"[..]), ("b", &b"2"[..])]
    );
    assert_eq!(all[1].1.metadata["k"], "v");
    assert!(src.objects("other").is_empty());
}
