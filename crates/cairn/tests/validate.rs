//! `cairn validate` end to end: bucket directories built with cairn-logfile (signed digest
//! chain, real log files) in both on-disk layouts, validated offline by the built binary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use cairn_logfile::digest::{DigestFile, LogFileEntry, SignedDigest};
use cairn_logfile::keys::SigningKey;
use cairn_logfile::layout::{DigestFileKey, LogFileKey, Prefix};
use cairn_logfile::logfile::LogFileEncoder;
use serde_json::Value;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const BUCKET: &str = "audit-bucket";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-2";
const TRAIL: &str = "org-trail";
const ARN: &str = "arn:aws:cloudtrail:us-east-2:111122223333:trail/org-trail";
/// Digest windows start 31 s after the hour: not clock-aligned, like AWS.
const T0: OffsetDateTime = datetime!(2025-03-04 05:00:31 UTC);
const HOURS: usize = 4;
const LOGS_PER_DIGEST: usize = 2;

#[derive(Clone)]
struct Obj {
    body: Vec<u8>,
    meta: Vec<(String, String)>,
}

struct Fixture {
    objects: BTreeMap<String, Obj>,
    key: SigningKey,
    digests: Vec<String>,
    logs: Vec<String>,
}

fn log_key(delivery: OffsetDateTime, n: usize) -> String {
    LogFileKey {
        prefix: Prefix::NONE,
        org_id: None,
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        delivery_time: delivery,
        unique: format!("Uniq{n:012}"),
    }
    .to_key()
    .unwrap()
}

fn log_file(at: OffsetDateTime, n: usize) -> cairn_logfile::logfile::EncodedLogFile {
    let mut enc = LogFileEncoder::default();
    for r in 0..3 {
        let t = cairn_logfile::timefmt::format_event_time(at + Duration::seconds(r)).unwrap();
        let rec = format!(
            r#"{{"eventVersion":"1.08","eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"{n}-{r}","awsRegion":"{REGION}"}}"#
        );
        enc.push_record(rec.as_bytes()).unwrap();
    }
    enc.finish().unwrap()
}

/// A chain of `HOURS` digests, each listing `LOGS_PER_DIGEST` log files. `edit(i, digest)`
/// runs on digest `i` before it is signed.
fn build_with(edit: impl Fn(usize, &mut DigestFile)) -> Fixture {
    let key = SigningKey::generate().unwrap();
    let mut objects = BTreeMap::new();
    let (mut digests, mut logs) = (Vec::new(), Vec::new());
    let mut prev: Option<(String, SignedDigest)> = None;
    for i in 0..HOURS {
        let start = T0 + Duration::hours(i as i64);
        let end = start + Duration::hours(1);
        let dkey = DigestFileKey {
            prefix: Prefix::NONE,
            org_id: None,
            account_id: ACCOUNT.into(),
            source_region: REGION.into(),
            trail_name: TRAIL.into(),
            home_region: REGION.into(),
            end_time: end,
            backfill: false,
        };
        let mut d = DigestFile::new(BUCKET, &dkey, start, key.fingerprint()).unwrap();
        for j in 0..LOGS_PER_DIGEST {
            let delivered = start + Duration::minutes(10 + 10 * j as i64);
            let n = i * LOGS_PER_DIGEST + j;
            let lf = log_file(delivered - Duration::minutes(5), n);
            let lk = log_key(delivered, n);
            d.add_log_file(LogFileEntry::new(BUCKET, &lk, &lf).unwrap());
            objects.insert(
                lk.clone(),
                Obj {
                    body: lf.gzip,
                    meta: vec![],
                },
            );
            logs.push(lk);
        }
        if let Some((pk, p)) = &prev {
            d.chain_to(&p.as_previous(BUCKET, pk));
        }
        edit(i, &mut d);
        let signed = d.sign(&key).unwrap();
        let k = dkey.to_key().unwrap();
        objects.insert(
            k.clone(),
            Obj {
                body: signed.gzip.clone(),
                meta: signed
                    .metadata()
                    .iter()
                    .map(|(a, b)| ((*a).to_owned(), b.clone()))
                    .collect(),
            },
        );
        digests.push(k.clone());
        prev = Some((k, signed));
    }
    Fixture {
        objects,
        key,
        digests,
        logs,
    }
}

fn build() -> Fixture {
    build_with(|_, _| {})
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    Plain,
    Cairn,
}

const LAYOUTS: [Layout; 2] = [Layout::Plain, Layout::Cairn];

struct Written {
    _dir: tempfile::TempDir,
    bucket: PathBuf,
    key_file: PathBuf,
}

fn pem(der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = "-----BEGIN RSA PUBLIC KEY-----\n".to_owned();
    for c in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(c).unwrap());
        s.push('\n');
    }
    s + "-----END RSA PUBLIC KEY-----\n"
}

/// `enc(s1)/.../enc(sN)@obj`, the old layout (`cairn_vault::legacy`'s module docs).
fn old_layout_path(key: &str) -> PathBuf {
    let enc = |seg: &str| {
        seg.bytes()
            .enumerate()
            .map(|(i, b)| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let segs: Vec<String> = key.split('/').map(enc).collect();
    let mut p: PathBuf = segs.iter().collect();
    p.set_file_name(format!("{}@obj", segs.last().unwrap()));
    p
}

/// An object file in the old format (version 1): magic, version, flags, header, body.
fn old_object_file(key: &str, body: &[u8], meta: &[(String, String)]) -> Vec<u8> {
    let header = serde_json::json!({
        "key": key,
        "size": body.len(),
        "etag": "0",
        "last_modified_unix_ns": 1_741_064_400_000_000_000i64,
        "user_metadata": meta.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect::<BTreeMap<_, _>>(),
        "sse": {"type": "none"},
    });
    let json = serde_json::to_vec(&header).unwrap();
    let mut out = b"CAIRNOBJ\x01\x00".to_vec();
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

fn write(f: &Fixture, layout: Layout) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join(BUCKET);
    std::fs::create_dir_all(&bucket).unwrap();
    match layout {
        Layout::Plain => {
            for (k, o) in &f.objects {
                let p = bucket.join(k);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &o.body).unwrap();
                if !o.meta.is_empty() {
                    let m: serde_json::Map<String, Value> = o
                        .meta
                        .iter()
                        .map(|(a, b)| (a.clone(), Value::String(b.clone())))
                        .collect();
                    let side = format!("{}.metadata.json", p.display());
                    std::fs::write(side, serde_json::to_vec(&m).unwrap()).unwrap();
                }
            }
        }
        Layout::Cairn => {
            // A bucket directory as earlier versions wrote it (what an upgraded data dir
            // holds until the server imports it); the reader is `cairn_vault::legacy`.
            std::fs::create_dir_all(bucket.join(".cairn-tmp")).unwrap();
            for (k, o) in &f.objects {
                let p = bucket.join(old_layout_path(k));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, old_object_file(k, &o.body, &o.meta)).unwrap();
            }
        }
    }
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, pem(f.key.public_key().der())).unwrap();
    Written {
        _dir: dir,
        bucket,
        key_file,
    }
}

fn end_time() -> String {
    cairn_logfile::timefmt::format_event_time(T0 + Duration::hours(HOURS as i64)).unwrap()
}

fn cairn(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("validate")
        .args(args)
        .env_remove("CAIRN_DATA_DIR")
        .env_remove("CAIRN_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs offline with JSON output; returns exit code and report.
fn validate(w: &Written, extra: &[&str]) -> (i32, Value) {
    let end = end_time();
    let mut args = vec![
        "--trail-arn",
        ARN,
        "--start-time",
        "2025-03-04T05:00:00Z",
        "--end-time",
        &end,
        "--s3-bucket",
        BUCKET,
        "--bucket-path",
        w.bucket.to_str().unwrap(),
        "--public-key",
        w.key_file.to_str().unwrap(),
        "--format",
        "json",
        "--jobs",
        "3",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cairn(&args);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\nstderr: {err}"));
    assert_eq!(v["exit_code"], code, "{v:#}");
    (code, v)
}

fn finding<'a>(v: &'a Value, kind: &str, key: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind && f["key"] == key)
        .unwrap_or_else(|| panic!("no {kind} finding for {key}: {v:#}"))
}

fn strict_checks(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "strict")
        .map(|f| f["check"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn all_valid_in_both_layouts_strict_and_not() {
    let f = build();
    for layout in LAYOUTS {
        let w = write(&f, layout);
        for mode in ["--strict", "--no-strict"] {
            let (code, v) = validate(&w, &[mode]);
            assert_eq!(code, 0, "{layout:?} {mode}: {v:#}");
            let s = &v["summary"];
            assert_eq!(s["digests_valid"], HOURS, "{layout:?}");
            assert_eq!(s["digests_invalid"], 0);
            assert_eq!(s["logs_valid"], HOURS * LOGS_PER_DIGEST);
            assert_eq!(s["logs_invalid"], 0);
            assert_eq!(s["strict_failures"], 0, "{v:#}");
            assert_eq!(v["strict"], mode == "--strict");
            assert!(v["stats"]["uncompressed_bytes"].as_u64().unwrap() > 0);
        }
        let src = v_source(&w);
        match layout {
            Layout::Plain => assert!(src.contains("plain directory tree"), "{src}"),
            Layout::Cairn => assert!(src.contains("Cairn bucket directory"), "{src}"),
        }
    }
}

fn v_source(w: &Written) -> String {
    validate(w, &[]).1["source"].as_str().unwrap().to_owned()
}

#[test]
fn text_output_is_the_cli_format() {
    let f = build();
    let w = write(&f, Layout::Plain);
    let end = end_time();
    let (code, out, err) = cairn(&[
        "--trail-arn",
        ARN,
        "--start-time",
        "2025-03-04T05:00:00Z",
        "--end-time",
        &end,
        "--s3-bucket",
        BUCKET,
        "--bucket-path",
        w.bucket.to_str().unwrap(),
        "--public-key",
        w.key_file.to_str().unwrap(),
        "--verbose",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!(
        "Validating log files for trail {ARN} between 2025-03-04T05:00:00Z and {end}\n\n"
    )));
    assert!(out.contains(&format!(
        "Digest file\ts3://{BUCKET}/{}\tvalid\n",
        f.digests[0]
    )));
    assert!(out.contains(&format!("Log file\ts3://{BUCKET}/{}\tvalid\n", f.logs[0])));
    assert!(out.contains(&format!(
        "\n{HOURS}/{HOURS} digest files valid\n{n}/{n} log files valid\n",
        n = HOURS * LOGS_PER_DIGEST
    )));
    assert!(out.ends_with("All strict checks passed\n"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn changed_log_file() {
    let mut f = build();
    let victim = f.logs[3].clone();
    f.objects.get_mut(&victim).unwrap().body = log_file(T0, 999).gzip;
    for layout in LAYOUTS {
        let w = write(&f, layout);
        for mode in ["--strict", "--no-strict"] {
            let (code, v) = validate(&w, &[mode]);
            assert_eq!(code, 1, "{layout:?}");
            let x = finding(&v, "log_file", &victim);
            assert_eq!(x["verdict"], "invalid");
            assert_eq!(x["reason"], "hash value doesn't match");
            assert_eq!(v["summary"]["logs_invalid"], 1);
            assert_eq!(v["summary"]["logs_valid"], HOURS * LOGS_PER_DIGEST - 1);
        }
    }
}

#[test]
fn corrupt_log_file_is_invalid_format() {
    let mut f = build();
    let victim = f.logs[0].clone();
    f.objects.get_mut(&victim).unwrap().body = b"not gzip at all".to_vec();
    let w = write(&f, Layout::Cairn);
    let (code, v) = validate(&w, &[]);
    assert_eq!(code, 1);
    assert_eq!(finding(&v, "log_file", &victim)["reason"], "invalid format");
}

#[test]
fn deleted_log_file() {
    let mut f = build();
    let victim = f.logs[5].clone();
    f.objects.remove(&victim);
    for layout in LAYOUTS {
        let w = write(&f, layout);
        let (code, v) = validate(&w, &["--no-strict"]);
        assert_eq!(code, 1, "{layout:?}");
        let x = finding(&v, "log_file", &victim);
        assert_eq!(x["verdict"], "invalid");
        assert_eq!(x["reason"], "not found");
    }
}

#[test]
fn changed_digest() {
    let mut f = build();
    let victim = f.digests[2].clone();
    let obj = f.objects.get_mut(&victim).unwrap();
    let json = cairn_logfile::gz::gunzip_capped(&obj.body, 1 << 20).unwrap();
    let text = String::from_utf8(json).unwrap();
    // Drop one listed log file: a well-formed digest whose signature no longer matches.
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["logFiles"].as_array_mut().unwrap().pop();
    obj.body = cairn_logfile::gz::gzip(&serde_json::to_vec(&v).unwrap(), 6);
    for layout in LAYOUTS {
        let w = write(&f, layout);
        for mode in ["--strict", "--no-strict"] {
            let (code, v) = validate(&w, &[mode]);
            assert_eq!(code, 1, "{layout:?}");
            let x = finding(&v, "digest", &victim);
            assert_eq!(x["verdict"], "invalid");
            assert_eq!(x["reason"], "signature verification failed");
            assert_eq!(v["summary"]["digests_valid"], HOURS - 1);
        }
    }
}

#[test]
fn deleted_digest() {
    let mut f = build();
    let victim = f.digests[1].clone();
    f.objects.remove(&victim);
    for layout in LAYOUTS {
        let w = write(&f, layout);
        let (code, v) = validate(&w, &["--no-strict"]);
        assert_eq!(code, 1, "{layout:?}");
        let x = finding(&v, "digest", &victim);
        assert_eq!(x["verdict"], "invalid");
        assert_eq!(x["reason"], "not found");
        // The chain continues past the hole.
        finding(&v, "digest", &f.digests[0]);
        // Strict also names the log files the missing digest listed.
        let (code, v) = validate(&w, &["--strict"]);
        assert_eq!(code, 1);
        assert!(
            strict_checks(&v).contains(&"unlisted_log_file".to_owned()),
            "{v:#}"
        );
    }
}

#[test]
fn missing_signature_metadata_fails_like_s3() {
    let mut f = build();
    let victim = f.digests[0].clone();
    f.objects.get_mut(&victim).unwrap().meta.clear();
    let w = write(&f, Layout::Plain);
    let (code, v) = validate(&w, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        finding(&v, "digest", &victim)["reason"],
        "signature verification failed"
    );
}

#[test]
fn forged_digest_signed_with_another_key() {
    let mut f = build();
    let forger = SigningKey::generate().unwrap();
    // Replace the newest digest by one listing a forged log file, signed by another key.
    let newest = f.digests[HOURS - 1].clone();
    let start = T0 + Duration::hours(HOURS as i64 - 1);
    let dkey = cairn_logfile::layout::parse_digest_key(&newest).unwrap();
    let mut d = DigestFile::new(BUCKET, &dkey, start, forger.fingerprint()).unwrap();
    let fake = log_file(start, 4242);
    let fake_key = log_key(start + Duration::minutes(40), 4242);
    d.add_log_file(LogFileEntry::new(BUCKET, &fake_key, &fake).unwrap());
    let signed = d.sign(&forger).unwrap();
    f.objects.insert(
        newest.clone(),
        Obj {
            body: signed.gzip.clone(),
            meta: signed
                .metadata()
                .iter()
                .map(|(a, b)| ((*a).to_owned(), b.clone()))
                .collect(),
        },
    );
    f.objects.insert(
        fake_key.clone(),
        Obj {
            body: fake.gzip,
            meta: vec![],
        },
    );
    // Same, but claiming the genuine key's fingerprint.
    let mut g = f.objects.clone();
    let mut d2 = DigestFile::new(BUCKET, &dkey, start, f.key.fingerprint()).unwrap();
    d2.add_log_file(LogFileEntry::new(BUCKET, &fake_key, &log_file(start, 4242)).unwrap());
    // `sign` refuses a key that is not the named one: sign by hand, as a forger would.
    let body2 = d2.to_json().unwrap();
    let sig2 = forger
        .sign_hex(
            d2.string_to_sign(&cairn_logfile::gz::sha256_hex(&body2))
                .as_bytes(),
        )
        .unwrap();
    g.insert(
        newest.clone(),
        Obj {
            body: cairn_logfile::gz::gzip(&body2, 6),
            meta: vec![
                ("signature".into(), sig2),
                ("signature-algorithm".into(), "SHA256withRSA".into()),
            ],
        },
    );
    for layout in LAYOUTS {
        let w = write(&f, layout);
        let (code, v) = validate(&w, &["--no-strict"]);
        assert_eq!(code, 1, "{layout:?}");
        let x = finding(&v, "digest", &newest);
        assert_eq!(
            x["reason"],
            format!(
                "public key not found in region {REGION} for fingerprint {}",
                forger.fingerprint()
            )
        );
        // The forged log file is not accepted as valid.
        assert!(
            !v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["key"] == fake_key.as_str() && f["verdict"] == "valid")
        );
    }
    let claimed = Fixture {
        objects: g,
        key: f.key.clone_for_test(),
        digests: f.digests.clone(),
        logs: f.logs.clone(),
    };
    let w = write(&claimed, Layout::Plain);
    let (code, v) = validate(&w, &["--no-strict"]);
    assert_eq!(code, 1);
    assert_eq!(
        finding(&v, "digest", &newest)["reason"],
        "signature verification failed"
    );
}

/// `SigningKey` is not `Clone`; tests rebuild the fixture's key from its PKCS#8 form.
trait CloneForTest {
    fn clone_for_test(&self) -> SigningKey;
}

impl CloneForTest for SigningKey {
    fn clone_for_test(&self) -> SigningKey {
        SigningKey::from_pkcs8_der(self.to_pkcs8_der().unwrap().expose_secret()).unwrap()
    }
}

#[test]
fn previous_digest_hash_mismatch_is_strict_only() {
    let f = build_with(|i, d| {
        if i == 2 {
            d.previous_digest_hash_value = Some("00".repeat(32));
        }
    });
    for layout in LAYOUTS {
        let w = write(&f, layout);
        let (code, v) = validate(&w, &["--no-strict"]);
        assert_eq!(code, 0, "{layout:?}: the AWS CLI's checks pass: {v:#}");
        assert_eq!(v["summary"]["digests_valid"], HOURS);
        let (code, v) = validate(&w, &["--strict"]);
        assert_eq!(code, 1, "{layout:?}");
        assert_eq!(strict_checks(&v), ["previous_digest_hash"], "{v:#}");
        let x = finding(&v, "strict", &f.digests[1]);
        assert_eq!(x["check"], "previous_digest_hash");
        // Default is strict.
        assert_eq!(validate(&w, &[]).0, 1);
    }
}

#[test]
fn unlisted_log_file_is_strict_only() {
    let mut f = build();
    let extra_at = T0 + Duration::minutes(90);
    let extra = log_key(extra_at, 777);
    f.objects.insert(
        extra.clone(),
        Obj {
            body: log_file(extra_at, 777).gzip,
            meta: vec![],
        },
    );
    for layout in LAYOUTS {
        let w = write(&f, layout);
        let (code, v) = validate(&w, &["--no-strict"]);
        assert_eq!(code, 0, "{layout:?}: {v:#}");
        let (code, v) = validate(&w, &["--strict"]);
        assert_eq!(code, 1, "{layout:?}");
        assert_eq!(strict_checks(&v), ["unlisted_log_file"], "{v:#}");
        assert_eq!(finding(&v, "strict", &extra)["verdict"], "invalid");
    }
}

#[test]
fn truncation_against_expected_end() {
    let f = build();
    let w = write(&f, Layout::Plain);
    let later =
        cairn_logfile::timefmt::format_event_time(T0 + Duration::hours(HOURS as i64 + 3)).unwrap();
    let (code, v) = validate(&w, &["--expect-digest-through", &later]);
    assert_eq!(code, 1);
    assert_eq!(strict_checks(&v), ["truncated"]);
    let (code, _) = validate(&w, &["--expect-digest-through", &end_time()]);
    assert_eq!(code, 0);
}

#[test]
fn usage_and_setup_errors_exit_2() {
    let f = build();
    let w = write(&f, Layout::Plain);
    let bucket = w.bucket.to_str().unwrap();
    let key = w.key_file.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // Bad ARN.
        vec![
            "--trail-arn",
            "arn:nope",
            "--start-time",
            "2025-03-04",
            "--s3-bucket",
            BUCKET,
            "--bucket-path",
            bucket,
            "--public-key",
            key,
        ],
        // Start after end.
        vec![
            "--trail-arn",
            ARN,
            "--start-time",
            "2025-03-05",
            "--end-time",
            "2025-03-04",
            "--s3-bucket",
            BUCKET,
            "--bucket-path",
            bucket,
            "--public-key",
            key,
        ],
        // No object source.
        vec![
            "--trail-arn",
            ARN,
            "--start-time",
            "2025-03-04",
            "--s3-bucket",
            BUCKET,
            "--public-key",
            key,
        ],
        // Missing directory.
        vec![
            "--trail-arn",
            ARN,
            "--start-time",
            "2025-03-04",
            "--s3-bucket",
            BUCKET,
            "--bucket-path",
            "/nonexistent/dir",
            "--public-key",
            key,
        ],
        // Not a key.
        vec![
            "--trail-arn",
            ARN,
            "--start-time",
            "2025-03-04",
            "--s3-bucket",
            BUCKET,
            "--bucket-path",
            bucket,
            "--public-key",
            bucket,
        ],
        // Unknown flag (clap).
        vec!["--trail-arn", ARN, "--start-time", "2025-03-04", "--bogus"],
    ];
    for args in cases {
        let (code, out, err) = cairn(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.is_empty());
    }
    let (code, out, _) = cairn(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("EXIT STATUS") && out.contains(".metadata.json"),
        "{out}"
    );
}

/// A CloudTrail JSON stub answering DescribeTrails and ListPublicKeys; returns its URL.
fn stub_cloudtrail(public_key_b64: String, fingerprint: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body_len) = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap_or(0));
                    while buf.len() < p + 4 + len {
                        let n = s.read(&mut chunk).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, len);
                }
            };
            let _ = body_len;
            let reply = if head.contains("cloudtrail_20131101.describetrails") {
                format!(
                    r#"{{"trailList":[{{"Name":"{TRAIL}","TrailARN":"{ARN}","S3BucketName":"{BUCKET}","IsOrganizationTrail":false}}]}}"#
                )
            } else if head.contains("cloudtrail_20131101.listpublickeys") {
                format!(
                    r#"{{"PublicKeyList":[{{"Value":"{public_key_b64}","ValidityStartTime":1.7e9,"ValidityEndTime":1.8e9,"Fingerprint":"{fingerprint}"}}]}}"#
                )
            } else {
                r#"{"__type":"UnknownOperationException"}"#.to_owned()
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn online_mode_reads_trail_and_keys_from_the_api() {
    let f = build();
    let w = write(&f, Layout::Cairn);
    let url = stub_cloudtrail(
        base64::engine::general_purpose::STANDARD.encode(f.key.public_key().der()),
        f.key.fingerprint().to_owned(),
    );
    let end = end_time();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "validate",
            "--trail-arn",
            ARN,
            "--start-time",
            "2025-03-04T05:00:00Z",
            "--end-time",
            &end,
            "--bucket-path",
            w.bucket.to_str().unwrap(),
            "--endpoint-url",
            &url,
            "--format",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("CAIRN_DATA_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["summary"]["digests_valid"], HOURS);
    assert_eq!(v["summary"]["logs_valid"], HOURS * LOGS_PER_DIGEST);
}
