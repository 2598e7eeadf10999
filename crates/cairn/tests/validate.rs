//! `cairn validate` end to end: bucket directories built with cairn-logfile (signed digest
//! chain, real log files) in both on-disk layouts, validated offline by the built binary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use cairn_logfile::gz::{gunzip_capped, gzip};
use cairn_logfile::keys::SigningKey;
use cairn_logfile::testkit::{ARN, BUCKET, Chain, Opts, REGION, START, TRAIL, log_key};
use serde_json::Value;
use time::Duration;

const HOURS: usize = 4;
const LOGS_PER_DIGEST: usize = 2;
/// The `--start-time` of every run: the hour the fixture chain starts in.
const START_TIME: &str = "2025-03-04T00:00:00Z";

/// A chain of `HOURS` digests, each listing `LOGS_PER_DIGEST` log files, signed by a new key.
fn build() -> Chain {
    Chain::build(SigningKey::generate().unwrap(), HOURS, LOGS_PER_DIGEST)
}

/// A log file the fixture's digests do not list.
fn other_log_file() -> Vec<u8> {
    gzip(br#"{"Records":[]}"#, 6)
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    Plain,
    Cairn,
}

const LAYOUTS: [Layout; 2] = [Layout::Plain, Layout::Cairn];

struct Written {
    _dir: tempfile::TempDir,
    layout: Layout,
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
fn old_object_file(key: &str, body: &[u8], meta: &BTreeMap<String, String>) -> Vec<u8> {
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

fn write(c: &Chain, layout: Layout) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join(BUCKET);
    std::fs::create_dir_all(&bucket).unwrap();
    match layout {
        Layout::Plain => {
            for (k, o) in c.src.objects(BUCKET) {
                let p = bucket.join(&k);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &o.body).unwrap();
                if !o.metadata.is_empty() {
                    let side = format!("{}.metadata.json", p.display());
                    std::fs::write(side, serde_json::to_vec(&o.metadata).unwrap()).unwrap();
                }
            }
        }
        Layout::Cairn => {
            // A bucket directory as earlier versions wrote it (what an upgraded data dir
            // holds until the server imports it); the reader is `cairn_vault::legacy`.
            std::fs::create_dir_all(bucket.join(".cairn-tmp")).unwrap();
            for (k, o) in c.src.objects(BUCKET) {
                let p = bucket.join(old_layout_path(&k));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, old_object_file(&k, &o.body, &o.metadata)).unwrap();
            }
        }
    }
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, pem(c.key.public_key().der())).unwrap();
    Written {
        _dir: dir,
        layout,
        bucket,
        key_file,
    }
}

fn end_time() -> String {
    cairn_logfile::timefmt::format_event_time(START + Duration::hours(HOURS as i64)).unwrap()
}

/// Runs `cairn validate` with `args` and the extra environment `env`: exit code, stdout, stderr.
fn cairn_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("validate")
        .args(args)
        .env_remove("CAIRN_DATA_DIR")
        .env_remove("CAIRN_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cairn(args: &[&str]) -> (i32, String, String) {
    cairn_env(args, &[])
}

/// `--trail-arn`, `--start-time` and `--end-time` covering the whole fixture chain.
fn window(end: &str) -> Vec<&str> {
    vec![
        "--trail-arn",
        ARN,
        "--start-time",
        START_TIME,
        "--end-time",
        end,
    ]
}

/// Where offline mode reads the bucket and the public key.
fn offline(w: &Written) -> [&str; 6] {
    [
        "--s3-bucket",
        BUCKET,
        "--bucket-path",
        w.bucket.to_str().unwrap(),
        "--public-key",
        w.key_file.to_str().unwrap(),
    ]
}

/// One offline validation with JSON output.
struct Run {
    /// Layout and extra arguments, for assertion messages.
    at: String,
    code: i32,
    v: Value,
}

/// Runs offline over the whole chain with JSON output and the `extra` arguments.
fn validate(w: &Written, extra: &[&str]) -> Run {
    let end = end_time();
    let mut args = window(&end);
    args.extend(offline(w));
    args.extend(["--format", "json", "--jobs", "3"]);
    args.extend_from_slice(extra);
    let (code, out, err) = cairn(&args);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\nstderr: {err}"));
    assert_eq!(v["exit_code"], code, "{v:#}");
    Run {
        at: format!("{:?} {extra:?}", w.layout),
        code,
        v,
    }
}

/// Writes `c` in both layouts and validates each with every one of `modes`; `check` gets the
/// written bucket (for further runs), the mode and the run.
fn each_run(c: &Chain, modes: &[&str], mut check: impl FnMut(&Written, &str, Run)) {
    for layout in LAYOUTS {
        let w = write(c, layout);
        for &mode in modes {
            check(&w, mode, validate(&w, &[mode]));
        }
    }
}

/// Both values of the strict switch.
const MODES: [&str; 2] = ["--strict", "--no-strict"];

fn finding<'a>(v: &'a Value, kind: &str, key: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind && f["key"] == key)
        .unwrap_or_else(|| panic!("no {kind} finding for {key}: {v:#}"))
}

/// The run exited 1 and reports the `kind` finding for `key` invalid, for `reason`.
fn assert_invalid(r: &Run, kind: &str, key: &str, reason: &str) {
    assert_eq!(r.code, 1, "{}: {:#}", r.at, r.v);
    let x = finding(&r.v, kind, key);
    assert_eq!(x["verdict"], "invalid", "{}: {x:#}", r.at);
    assert_eq!(x["reason"], reason, "{}: {x:#}", r.at);
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

/// `c` passes the AWS CLI's checks (`--no-strict`) in both layouts, while strict mode (also
/// the default) fails with one strict finding, `check` about `key`.
fn assert_strict_only(c: &Chain, check: &str, key: &str) {
    each_run(c, &["--no-strict"], |w, _, r| {
        assert_eq!(r.code, 0, "{}: the AWS CLI's checks pass: {:#}", r.at, r.v);
        assert_eq!(r.v["summary"]["digests_valid"], HOURS);
        let r = validate(w, &["--strict"]);
        assert_eq!(r.code, 1, "{}", r.at);
        assert_eq!(strict_checks(&r.v), [check], "{:#}", r.v);
        let x = finding(&r.v, "strict", key);
        assert_eq!(x["check"], check);
        assert_eq!(x["verdict"], "invalid");
        assert_eq!(validate(w, &[]).code, 1, "default is strict");
    });
}

#[test]
fn all_valid_in_both_layouts_strict_and_not() {
    each_run(&build(), &MODES, |w, mode, r| {
        let (s, at) = (&r.v["summary"], &r.at);
        assert_eq!(r.code, 0, "{at}: {:#}", r.v);
        assert_eq!(s["digests_valid"], HOURS, "{at}");
        assert_eq!(s["digests_invalid"], 0);
        assert_eq!(s["logs_valid"], HOURS * LOGS_PER_DIGEST);
        assert_eq!(s["logs_invalid"], 0);
        assert_eq!(s["strict_failures"], 0, "{:#}", r.v);
        assert_eq!(r.v["strict"], mode == "--strict");
        assert!(r.v["stats"]["uncompressed_bytes"].as_u64().unwrap() > 0);
        let src = r.v["source"].as_str().unwrap();
        match w.layout {
            Layout::Plain => assert!(src.contains("plain directory tree"), "{src}"),
            Layout::Cairn => assert!(src.contains("Cairn bucket directory"), "{src}"),
        }
    });
}

#[test]
fn text_output_is_the_cli_format() {
    let c = build();
    let w = write(&c, Layout::Plain);
    let end = end_time();
    let mut args = window(&end);
    args.extend(offline(&w));
    args.push("--verbose");
    let (code, out, err) = cairn(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!(
        "Validating log files for trail {ARN} between {START_TIME} and {end}\n\n"
    )));
    assert!(out.contains(&format!(
        "Digest file\ts3://{BUCKET}/{}\tvalid\n",
        c.digests[0]
    )));
    assert!(out.contains(&format!("Log file\ts3://{BUCKET}/{}\tvalid\n", c.logs[0])));
    assert!(out.contains(&format!(
        "\n{HOURS}/{HOURS} digest files valid\n{n}/{n} log files valid\n",
        n = HOURS * LOGS_PER_DIGEST
    )));
    assert!(out.ends_with("All strict checks passed\n"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn changed_log_file() {
    let c = build();
    let victim = c.logs[3].clone();
    assert!(
        c.src
            .modify(BUCKET, &victim, |o| o.body = other_log_file().into())
    );
    each_run(&c, &MODES, |_, _, r| {
        assert_invalid(&r, "log_file", &victim, "hash value doesn't match");
        assert_eq!(r.v["summary"]["logs_invalid"], 1);
        assert_eq!(r.v["summary"]["logs_valid"], HOURS * LOGS_PER_DIGEST - 1);
    });
}

#[test]
fn corrupt_log_file_is_invalid_format() {
    let c = build();
    let victim = c.logs[0].clone();
    assert!(c.src.modify(BUCKET, &victim, |o| {
        o.body = b"not gzip at all".to_vec().into();
    }));
    let r = validate(&write(&c, Layout::Cairn), &[]);
    assert_invalid(&r, "log_file", &victim, "invalid format");
}

#[test]
fn deleted_log_file() {
    let c = build();
    let victim = c.logs[5].clone();
    c.src.remove(BUCKET, &victim).unwrap();
    each_run(&c, &["--no-strict"], |_, _, r| {
        assert_invalid(&r, "log_file", &victim, "not found");
    });
}

#[test]
fn changed_digest() {
    let c = build();
    let victim = c.digests[2].clone();
    assert!(c.src.modify(BUCKET, &victim, |o| {
        // Drop one listed log file: a well-formed digest whose signature no longer matches.
        let mut v: Value =
            serde_json::from_slice(&gunzip_capped(&o.body, 1 << 20).unwrap()).unwrap();
        v["logFiles"].as_array_mut().unwrap().pop();
        o.body = gzip(&serde_json::to_vec(&v).unwrap(), 6).into();
    }));
    each_run(&c, &MODES, |_, _, r| {
        assert_invalid(&r, "digest", &victim, "signature verification failed");
        assert_eq!(r.v["summary"]["digests_valid"], HOURS - 1);
    });
}

#[test]
fn deleted_digest() {
    let c = build();
    let victim = c.digests[1].clone();
    c.src.remove(BUCKET, &victim).unwrap();
    each_run(&c, &["--no-strict"], |w, _, r| {
        assert_invalid(&r, "digest", &victim, "not found");
        // The chain continues past the hole.
        finding(&r.v, "digest", &c.digests[0]);
        // Strict also names the log files the missing digest listed.
        let r = validate(w, &["--strict"]);
        assert_eq!(r.code, 1);
        assert!(
            strict_checks(&r.v).contains(&"unlisted_log_file".to_owned()),
            "{:#}",
            r.v
        );
    });
}

#[test]
fn missing_signature_metadata_fails_like_s3() {
    let c = build();
    let victim = c.digests[0].clone();
    assert!(c.src.modify(BUCKET, &victim, |o| o.metadata.clear()));
    let r = validate(&write(&c, Layout::Plain), &[]);
    assert_invalid(&r, "digest", &victim, "signature verification failed");
}

#[test]
fn forged_digest_signed_with_another_key() {
    let forger = SigningKey::generate().unwrap();
    // The newest digest lists a forged log file and is signed by another key, named by its
    // own fingerprint...
    let mut c = Chain::build(SigningKey::generate().unwrap(), HOURS - 1, LOGS_PER_DIGEST);
    let newest = c.add(Opts {
        logs: 1,
        signer: Some(&forger),
        ..Default::default()
    });
    let fake_key = c.logs.last().unwrap().clone();
    let unknown_key = format!(
        "public key not found in region {REGION} for fingerprint {}",
        forger.fingerprint()
    );
    each_run(&c, &["--no-strict"], |_, _, r| {
        assert_invalid(&r, "digest", &newest, &unknown_key);
        // The forged log file is not accepted as valid.
        assert!(
            !r.v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["key"] == fake_key.as_str() && f["verdict"] == "valid")
        );
    });
    // ...or claiming the genuine key's fingerprint.
    let mut c = Chain::build(SigningKey::generate().unwrap(), HOURS - 1, LOGS_PER_DIGEST);
    let genuine = c.key.fingerprint().to_owned();
    let newest = c.add(Opts {
        logs: 1,
        signer: Some(&forger),
        tweak: Some(&|d| d.digest_public_key_fingerprint = genuine.clone()),
        ..Default::default()
    });
    let r = validate(&write(&c, Layout::Plain), &["--no-strict"]);
    assert_invalid(&r, "digest", &newest, "signature verification failed");
}

#[test]
fn previous_digest_hash_mismatch_is_strict_only() {
    let mut c = Chain::build(SigningKey::generate().unwrap(), 2, LOGS_PER_DIGEST);
    // The third digest names a wrong hash for the second; a fourth follows it.
    c.add(Opts {
        logs: LOGS_PER_DIGEST,
        tweak: Some(&|d| d.previous_digest_hash_value = Some("00".repeat(32))),
        ..Default::default()
    });
    c.add(Opts {
        logs: LOGS_PER_DIGEST,
        ..Default::default()
    });
    assert_strict_only(&c, "previous_digest_hash", &c.digests[1]);
}

#[test]
fn unlisted_log_file_is_strict_only() {
    let c = build();
    let extra = log_key(START + Duration::minutes(90), "Uniq000000000777");
    c.src.put(
        BUCKET,
        &extra,
        other_log_file(),
        Vec::<(String, String)>::new(),
    );
    assert_strict_only(&c, "unlisted_log_file", &extra);
}

#[test]
fn truncation_against_expected_end() {
    let w = write(&build(), Layout::Plain);
    let later =
        cairn_logfile::timefmt::format_event_time(START + Duration::hours(HOURS as i64 + 3))
            .unwrap();
    let r = validate(&w, &["--expect-digest-through", &later]);
    assert_eq!(r.code, 1);
    assert_eq!(strict_checks(&r.v), ["truncated"]);
    let r = validate(&w, &["--expect-digest-through", &end_time()]);
    assert_eq!(r.code, 0);
}

#[test]
fn usage_and_setup_errors_exit_2() {
    let w = write(&build(), Layout::Plain);
    let bucket = w.bucket.to_str().unwrap();
    let key = w.key_file.to_str().unwrap();
    // A complete offline call; each case sets (or, with `None`, drops) some of its flags.
    let base = [
        ("--trail-arn", ARN),
        ("--start-time", "2025-03-04"),
        ("--s3-bucket", BUCKET),
        ("--bucket-path", bucket),
        ("--public-key", key),
    ];
    let cases: [&[(&str, Option<&str>)]; 5] = [
        // Bad ARN.
        &[("--trail-arn", Some("arn:nope"))],
        // Start after end.
        &[
            ("--start-time", Some("2025-03-05")),
            ("--end-time", Some("2025-03-04")),
        ],
        // No object source.
        &[("--bucket-path", None)],
        // Missing directory.
        &[("--bucket-path", Some("/nonexistent/dir"))],
        // Not a key.
        &[("--public-key", Some(bucket))],
    ];
    let mut calls: Vec<Vec<&str>> = cases
        .iter()
        .map(|edits| {
            let mut flags: Vec<(&str, Option<&str>)> =
                base.iter().map(|&(k, v)| (k, Some(v))).collect();
            for &(k, v) in edits.iter() {
                match flags.iter_mut().find(|(f, _)| *f == k) {
                    Some(slot) => slot.1 = v,
                    None => flags.push((k, v)),
                }
            }
            flags
                .into_iter()
                .filter_map(|(k, v)| Some([k, v?]))
                .flatten()
                .collect()
        })
        .collect();
    // Unknown flag (clap).
    calls.push(vec![
        "--trail-arn",
        ARN,
        "--start-time",
        "2025-03-04",
        "--bogus",
    ]);
    for args in calls {
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
    let c = build();
    let w = write(&c, Layout::Cairn);
    let url = stub_cloudtrail(
        base64::engine::general_purpose::STANDARD.encode(c.key.public_key().der()),
        c.key.fingerprint().to_owned(),
    );
    let end = end_time();
    let mut args = window(&end);
    args.extend([
        "--bucket-path",
        w.bucket.to_str().unwrap(),
        "--endpoint-url",
        &url,
        "--format",
        "json",
    ]);
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    let (code, out, err) = cairn_env(&args, &creds);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["digests_valid"], HOURS);
    assert_eq!(v["summary"]["logs_valid"], HOURS * LOGS_PER_DIGEST);
}
