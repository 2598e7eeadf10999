//! `cairn validate` against `aws cloudtrail validate-logs`, same data, same run.
//!
//! 1. Generates ≥ 1 GB (uncompressed) of log files from the real records in
//!    `shared/data/cloudtrail/invictus-ir-sigma-aws` (eventIDs varied), listed by a chain of
//!    `DIGESTS` digests signed with a test key, as a plain directory tree under a temporary
//!    directory in /tmp (removed at the end).
//! 2. Measures the gunzip + SHA-256 limit over those files: one thread, and all cores.
//! 3. Runs the built `cairn validate` offline on the tree.
//! 4. Runs the AWS CLI's own validation code (`awscli.customizations.cloudtrail.validation`,
//!    the `CloudTrailValidateLogs` command object) in-process in Python, with a fake S3
//!    client reading the same files from disk and a fake CloudTrail client returning the key
//!    (no network: this favours the CLI).
//!
//! Run: `cargo bench -p cairn --bench validate`. Env: `CAIRN_BENCH_MB` (default 1100),
//! `CAIRN_BENCH_DIGESTS` (default 120). Needs `python3` with `awscli` for step 4 (skipped
//! with a note otherwise).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use base64::Engine;
use cairn_logfile::digest::{DigestFile, LogFileEntry, SignedDigest};
use cairn_logfile::keys::SigningKey;
use cairn_logfile::layout::{DigestFileKey, LogFileKey, Prefix};
use cairn_logfile::logfile::LogFileEncoder;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const BUCKET: &str = "bench-bucket";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const TRAIL: &str = "bench-trail";
const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/bench-trail";
const T0: OffsetDateTime = datetime!(2025-01-01 00:00:17 UTC);

/// Real records, serialised compactly, split around their eventID value.
fn load_records() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cloudtrail/invictus-ir-sigma-aws");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let bytes = cairn_logfile::gz::maybe_gunzip(&bytes, 1 << 30)
            .map(|c| c.into_owned())
            .unwrap_or(bytes);
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        for r in v["Records"].as_array().into_iter().flatten() {
            let s = serde_json::to_string(r).unwrap_or_default();
            if let Some(i) = s.find("\"eventID\":\"") {
                let start = i + "\"eventID\":\"".len();
                if let Some(len) = s[start..].find('"') {
                    out.push((s[..start].to_owned(), s[start + len..].to_owned()));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no records with eventID found");
    out
}

struct Dataset {
    root: tempfile::TempDir,
    bucket: PathBuf,
    logs: Vec<PathBuf>,
    uncompressed: u64,
    compressed: u64,
    key: SigningKey,
    digests: usize,
    end: OffsetDateTime,
}

fn generate(total_mb: u64, digests: usize) -> Dataset {
    let records = load_records();
    let root = tempfile::Builder::new()
        .prefix("cairn-validate-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    let bucket = root.path().join(BUCKET);
    let key = SigningKey::generate().unwrap();
    let logs_per_digest = 5usize;
    let per_log = total_mb * 1024 * 1024 / (digests * logs_per_digest) as u64;
    let n_logs = digests * logs_per_digest;
    // Encode log files on all cores.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let encoded: Vec<(usize, String, cairn_logfile::logfile::EncodedLogFile)> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..cores)
                .map(|t| {
                    let records = &records;
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for n in (t..n_logs).step_by(cores) {
                            let d = n / logs_per_digest;
                            let delivered = T0
                                + Duration::hours(d as i64)
                                + Duration::minutes(5 + 10 * (n % logs_per_digest) as i64);
                            let mut enc = LogFileEncoder::new(6);
                            let mut i = 0usize;
                            while enc.uncompressed_len() < per_log {
                                let (a, b) = &records[(n * 7919 + i) % records.len()];
                                let rec = format!("{a}{n:08x}-{i:08x}-4000-8000-bench0000000{b}");
                                enc.push(rec.as_bytes(), delivered - Duration::minutes(3))
                                    .unwrap();
                                i += 1;
                            }
                            let lk = LogFileKey {
                                prefix: Prefix::NONE,
                                org_id: None,
                                account_id: ACCOUNT.into(),
                                region: REGION.into(),
                                delivery_time: delivered,
                                unique: format!("Bench{n:011}"),
                            }
                            .to_key()
                            .unwrap();
                            out.push((n, lk, enc.finish().unwrap()));
                        }
                        out
                    })
                })
                .collect();
            let mut all: Vec<_> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            all.sort_by_key(|x| x.0);
            all
        });
    let write = |key: &str, bytes: &[u8]| {
        let p = bucket.join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let (mut uncompressed, mut compressed, mut logs) = (0, 0, Vec::new());
    let mut prev: Option<(String, SignedDigest)> = None;
    let mut it = encoded.into_iter();
    for d in 0..digests {
        let start = T0 + Duration::hours(d as i64);
        let dkey = DigestFileKey {
            prefix: Prefix::NONE,
            org_id: None,
            account_id: ACCOUNT.into(),
            source_region: REGION.into(),
            trail_name: TRAIL.into(),
            home_region: REGION.into(),
            end_time: start + Duration::hours(1),
            backfill: false,
        };
        let mut doc = DigestFile::new(BUCKET, &dkey, start, key.fingerprint()).unwrap();
        for _ in 0..logs_per_digest {
            let (_, lk, lf) = it.next().unwrap();
            doc.add_log_file(LogFileEntry::new(BUCKET, &lk, &lf).unwrap());
            uncompressed += lf.uncompressed_len;
            compressed += lf.gzip.len() as u64;
            logs.push(write(&lk, &lf.gzip));
        }
        if let Some((pk, p)) = &prev {
            doc.chain_to(&p.as_previous(BUCKET, pk));
        }
        let signed = doc.sign(&key).unwrap();
        let k = dkey.to_key().unwrap();
        let p = write(&k, &signed.gzip);
        let meta = serde_json::json!({
            "signature": signed.signature_hex,
            "signature-algorithm": "SHA256withRSA",
        });
        std::fs::write(
            format!("{}.metadata.json", p.display()),
            serde_json::to_vec(&meta).unwrap(),
        )
        .unwrap();
        prev = Some((k, signed));
    }
    Dataset {
        root,
        bucket,
        logs,
        uncompressed,
        compressed,
        key,
        digests,
        end: T0 + Duration::hours(digests as i64),
    }
}

/// gunzip + SHA-256 over every log file from disk on `threads` threads; seconds.
fn limit(ds: &Dataset, threads: usize) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let logs = &ds.logs;
            s.spawn(move || {
                for p in logs.iter().skip(k).step_by(threads) {
                    let f = std::fs::File::open(p).unwrap();
                    cairn_logfile::gz::gunzip_sha256(f, u64::MAX).unwrap();
                }
            });
        }
    });
    t.elapsed().as_secs_f64()
}

fn fmt_time(t: OffsetDateTime) -> String {
    cairn_logfile::timefmt::format_event_time(t).unwrap()
}

fn run_cairn(ds: &Dataset, key_file: &Path, extra: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "validate",
            "--trail-arn",
            ARN,
            "--start-time",
            &fmt_time(T0 - Duration::minutes(1)),
            "--end-time",
            &fmt_time(ds.end),
            "--s3-bucket",
            BUCKET,
            "--bucket-path",
            ds.bucket.to_str().unwrap(),
            "--public-key",
            key_file.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ])
        .args(extra)
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "cairn validate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["summary"]["logs_valid"], ds.logs.len());
    assert_eq!(v["summary"]["digests_valid"], ds.digests);
    secs
}

const PY: &str = r#"
import base64, json, os, sys, time
from botocore.exceptions import ClientError
from awscli.customizations.cloudtrail.validation import (
    CloudTrailValidateLogs, normalize_date, parse_date)

root, bucket, arn, start, end, key_b64, fp, result = sys.argv[1:9]

class Pages:
    def __init__(self, keys): self.keys = keys
    def search(self, expr): return iter(self.keys)

class Paginator:
    def paginate(self, Bucket, Marker, Prefix):
        base = os.path.join(root, Bucket)
        keys = []
        for d, _, files in os.walk(os.path.join(base, os.path.dirname(Prefix))):
            for f in files:
                k = os.path.relpath(os.path.join(d, f), base)
                if k.startswith(Prefix) and k > Marker and not k.endswith('.metadata.json'):
                    keys.append(k)
        return Pages(sorted(keys))

class FakeS3:
    def get_paginator(self, name):
        assert name == 'list_objects'
        return Paginator()
    def get_object(self, Bucket, Key):
        p = os.path.join(root, Bucket, Key)
        if not os.path.isfile(p):
            raise ClientError({'Error': {'Code': 'NoSuchKey', 'Message': 'x'}}, 'GetObject')
        meta = {}
        if os.path.isfile(p + '.metadata.json'):
            with open(p + '.metadata.json') as m: meta = json.load(m)
        return {'Body': open(p, 'rb'), 'Metadata': meta}

class Provider:
    def get_client(self, bucket): return FakeS3()

class FakeCloudTrail:
    def list_public_keys(self, StartTime, EndTime):
        return {'PublicKeyList': [{'Fingerprint': fp, 'Value': key_b64}]}

cmd = CloudTrailValidateLogs(None)
cmd.trail_arn = arn
cmd.is_verbose = False
cmd.s3_bucket = bucket
cmd.s3_prefix = None
cmd.account_id = None
cmd.start_time = normalize_date(parse_date(start))
cmd.end_time = normalize_date(parse_date(end))
cmd._source_region = 'us-east-1'
cmd.s3_client_provider = Provider()
cmd.cloudtrail_client = FakeCloudTrail()
cmd.organization_client = None
t = time.perf_counter()
cmd._call()
secs = time.perf_counter() - t
with open(result, 'w') as f:
    json.dump({'seconds': secs, 'valid_logs': cmd._valid_logs, 'invalid_logs': cmd._invalid_logs,
               'valid_digests': cmd._valid_digests, 'invalid_digests': cmd._invalid_digests}, f)
"#;

fn run_cli(ds: &Dataset) -> Option<f64> {
    let script = ds.root.path().join("cli_bench.py");
    std::fs::write(&script, PY).unwrap();
    let result = ds.root.path().join("cli_result.json");
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(ds.key.public_key().der());
    let out = Command::new("python3")
        .arg(&script)
        .arg(ds.root.path())
        .arg(BUCKET)
        .arg(ARN)
        .arg(fmt_time(T0 - Duration::minutes(1)))
        .arg(fmt_time(ds.end))
        .arg(key_b64)
        .arg(ds.key.fingerprint())
        .arg(&result)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "note: the AWS CLI run failed (is awscli installed for python3?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).ok()?).ok()?;
    assert_eq!(v["valid_logs"], ds.logs.len(), "{v}");
    assert_eq!(v["valid_digests"], ds.digests, "{v}");
    v["seconds"].as_f64()
}

fn main() {
    let mb: u64 = std::env::var("CAIRN_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1100);
    let digests: usize = std::env::var("CAIRN_BENCH_DIGESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let ds = generate(mb, digests);
    let mib = ds.uncompressed as f64 / (1024.0 * 1024.0);
    println!(
        "data set: {} log files, {mib:.0} MiB uncompressed ({:.0} MiB gzip), {} digests, in {} (generated in {:.1} s)",
        ds.logs.len(),
        ds.compressed as f64 / (1024.0 * 1024.0),
        ds.digests,
        ds.root.path().display(),
        t.elapsed().as_secs_f64()
    );
    let key_file = ds.root.path().join("key.b64");
    let mut f = std::fs::File::create(&key_file).unwrap();
    writeln!(
        f,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(ds.key.public_key().der())
    )
    .unwrap();
    drop(f);
    // Warm the page cache so every contender reads from memory.
    limit(&ds, cores);
    let l1 = limit(&ds, 1);
    let ln = limit(&ds, cores);
    let rate = |s: f64| mib / s;
    println!(
        "gunzip+SHA-256 limit, 1 thread:     {l1:7.2} s  {:7.1} MiB/s",
        rate(l1)
    );
    println!(
        "gunzip+SHA-256 limit, {cores} threads:    {ln:7.2} s  {:7.1} MiB/s",
        rate(ln)
    );
    let c = run_cairn(&ds, &key_file, &[]);
    println!(
        "cairn validate (strict, default jobs): {c:7.2} s  {:7.1} MiB/s  ({:.2}x the {cores}-thread limit's time)",
        rate(c),
        c / ln
    );
    let c1 = run_cairn(&ds, &key_file, &["--jobs", "1", "--no-strict"]);
    println!(
        "cairn validate (--jobs 1, no-strict):  {c1:7.2} s  {:7.1} MiB/s  ({:.2}x the 1-thread limit's time)",
        rate(c1),
        c1 / l1
    );
    match run_cli(&ds) {
        Some(a) => {
            println!(
                "aws cloudtrail validate-logs (in-process, fake S3 on disk): {a:7.2} s  {:7.1} MiB/s",
                rate(a)
            );
            println!("ratio CLI / cairn: {:.1}x", a / c);
        }
        None => println!("aws cloudtrail validate-logs: not run"),
    }
    // 5. The stock CLI as users run it, against a real S3 API on loopback, and cairn
    //    validate through the same S3 API, in the same run: first moto_server (a Python S3),
    //    then Cairn's own S3 endpoint.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/bench_validate_s3.py"
    );
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(ds.key.public_key().der());
    for (target, label) in [
        ("moto", "moto_server on loopback"),
        ("cairn", "Cairn's S3 endpoint on loopback"),
    ] {
        let out = Command::new("python3")
            .args([
                script,
                ds.root.path().to_str().unwrap(),
                BUCKET,
                ARN,
                &fmt_time(T0 - Duration::minutes(1)),
                &fmt_time(ds.end),
                &key_b64,
                env!("CARGO_BIN_EXE_cairn"),
                key_file.to_str().unwrap(),
                target,
            ])
            .output();
        match out
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        {
            Some(v) if v["cli_ok"] == true && v["cairn_ok"] == true => {
                let (a, c) = (
                    v["cli_s"].as_f64().unwrap_or(0.0),
                    v["cairn_s"].as_f64().unwrap_or(1.0),
                );
                println!(
                    "over S3 ({label}): aws cloudtrail validate-logs {a:7.2} s ({:.1} MiB/s), cairn validate {c:7.2} s ({:.1} MiB/s): ratio {:.1}x",
                    rate(a),
                    rate(c),
                    a / c
                );
            }
            Some(v) => println!("over S3 ({label}): a run failed: {v}"),
            None => println!(
                "over S3 ({label}): not run (needs python3 with boto3, moto[server], awscli)"
            ),
        }
    }
    let path = ds.root.path().to_owned();
    drop(ds);
    assert!(!path.exists());
}
