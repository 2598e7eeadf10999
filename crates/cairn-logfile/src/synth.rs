//! Synthetic CloudTrail events for benchmarks: real records re-stamped with varied event ids,
//! times, users, role sessions and access keys, and written as delivered log files.
//!
//! Every benchmark that needs millions of events (LookupEvents, SQL) generates them here, so
//! their figures are about the same data. Event `i` of `n` is a pure function of `i`, `n` and
//! the templates: runs are reproducible and files can be written in parallel.
//!
//! - `eventID`: a UUID-shaped string unique per `i`;
//! - `eventTime`: spread evenly over the 90 days ending at [`Synth::end`], oldest first;
//! - `awsRegion` / `recipientAccountId`: [`REGION`] / [`ACCOUNT`];
//! - `IAMUser`: `userName` `user-{i % 500}` and its ARN; `AssumedRole`: ARN
//!   `assumed-role/role-{u % 20}/session-{u}` and principal id; `accessKeyId` (where the
//!   template has one): `AKIA` + 16 digits of `i % 5000`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::layout::{LogFileKey, Prefix};
use crate::logfile::LogFileEncoder;

/// Account of every generated event.
pub const ACCOUNT: &str = "123456789012";
/// Region of every generated event.
pub const REGION: &str = "us-east-1";
/// Distinct IAM users / role sessions.
pub const USERS: usize = 500;
/// Distinct access keys.
pub const ACCESS_KEYS: usize = 5000;

fn read_err(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

fn json_files(dir: &Path, ext: &str) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// The real records of the shared data set (`shared/data/cloudtrail`): the Sigma test logs
/// (`{"Records":[...]}`), the OTRF data sets (one record per line; lines that do not parse
/// are skipped) and the CloudTrail user guide's examples. Only records with a string
/// `eventName` are kept.
pub fn load_templates(cloudtrail_dir: &Path) -> io::Result<Vec<Value>> {
    let mut out = Vec::new();
    for f in json_files(&cloudtrail_dir.join("invictus-ir-sigma-aws"), "json")? {
        let v: Value = serde_json::from_slice(&std::fs::read(&f)?).map_err(|e| read_err(&f, e))?;
        if let Some(Value::Array(records)) = v.get("Records") {
            out.extend(records.iter().cloned());
        }
    }
    for f in json_files(&cloudtrail_dir.join("otrf-security-datasets"), "json")? {
        let text = std::fs::read_to_string(&f)?;
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    let docs = cloudtrail_dir.join("aws-docs-examples/cloudtrail_user_guide_examples.ndjson");
    for line in std::fs::read_to_string(&docs)?.lines() {
        let v: Value = serde_json::from_str(line).map_err(|e| read_err(&docs, e))?;
        if let Some(r) = v.get("record") {
            out.push(r.clone());
        }
    }
    out.retain(|v| v.get("eventName").is_some_and(Value::is_string));
    Ok(out)
}

/// A deterministic generator of `n` events.
#[derive(Debug, Clone)]
pub struct Synth {
    templates: Vec<Value>,
    n: usize,
    /// Time of the newest event.
    pub end: OffsetDateTime,
}

/// What [`Synth::write_log_files`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Log files written.
    pub files: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (gzip).
    pub gzip_bytes: u64,
    /// Bytes of JSON before compression.
    pub json_bytes: u64,
}

impl Synth {
    /// A generator of `n` events from `templates` (which must not be empty), the newest at
    /// 2026-11-01T00:00:00Z.
    ///
    /// # Panics
    /// If `templates` is empty.
    pub fn new(templates: Vec<Value>, n: usize) -> Self {
        assert!(!templates.is_empty(), "no template records");
        Synth {
            templates,
            n,
            end: time::macros::datetime!(2026-11-01 00:00 UTC),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The time of event `i` (oldest first: 90 days ending at [`Synth::end`]).
    pub fn time_of(&self, i: usize) -> OffsetDateTime {
        let span = Duration::days(90).whole_seconds() as i128;
        let offset = span * (self.n.saturating_sub(1 + i)) as i128 / self.n.max(1) as i128;
        self.end - Duration::seconds(offset as i64)
    }

    /// The event id of event `i`.
    pub fn event_id(i: usize) -> String {
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            i as u32,
            (i >> 32) & 0xffff,
            i % 4096,
            (i / 4096) % 4096,
            i as u64 * 2_654_435_761 % (1 << 48)
        )
    }

    /// Event `i`: its time, id and record.
    pub fn event(&self, i: usize) -> (OffsetDateTime, String, Value) {
        let mut v = self.templates[i % self.templates.len()].clone();
        let t = self.time_of(i);
        let id = Self::event_id(i);
        let time = t.format(&Rfc3339).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("eventID".into(), Value::String(id.clone()));
            m.insert("eventTime".into(), Value::String(time));
            m.insert("awsRegion".into(), Value::String(REGION.into()));
            m.insert("recipientAccountId".into(), Value::String(ACCOUNT.into()));
        }
        let user = i % USERS;
        if let Some(identity) = v.get_mut("userIdentity").and_then(Value::as_object_mut) {
            match identity.get("type").and_then(Value::as_str) {
                Some("IAMUser") => {
                    identity.insert("userName".into(), Value::String(format!("user-{user}")));
                    identity.insert(
                        "arn".into(),
                        Value::String(format!("arn:aws:iam::{ACCOUNT}:user/user-{user}")),
                    );
                }
                Some("AssumedRole") => {
                    identity.insert(
                        "arn".into(),
                        Value::String(format!(
                            "arn:aws:sts::{ACCOUNT}:assumed-role/role-{}/session-{user}",
                            user % 20
                        )),
                    );
                    identity.insert(
                        "principalId".into(),
                        Value::String(format!("AROAEXAMPLE:session-{user}")),
                    );
                }
                _ => {}
            }
            if identity.contains_key("accessKeyId") {
                identity.insert(
                    "accessKeyId".into(),
                    Value::String(format!("AKIA{:016}", i % ACCESS_KEYS)),
                );
            }
        }
        (t, id, v)
    }

    /// Writes every event as gzip `{"Records":[...]}` log files of `per_file` records under
    /// `root`, in CloudTrail's layout (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`),
    /// each named for its newest event's time, on `threads` threads. `progress` is called with
    /// the number of records of each file written. Files are written to a temporary name and
    /// renamed, so an interrupted run leaves no partial log file.
    pub fn write_log_files(
        &self,
        root: &Path,
        per_file: usize,
        threads: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> io::Result<WriteStats> {
        let per_file = per_file.max(1);
        let files = self.n.div_ceil(per_file);
        let next = AtomicU64::new(0);
        let totals: [AtomicU64; 4] = Default::default();
        let worker = || -> io::Result<()> {
            loop {
                let f = next.fetch_add(1, Ordering::Relaxed) as usize;
                if f >= files {
                    return Ok(());
                }
                let range = f * per_file..((f + 1) * per_file).min(self.n);
                let mut enc = LogFileEncoder::default();
                let mut newest = self.end;
                for i in range.clone() {
                    let (t, _, v) = self.event(i);
                    let bytes = serde_json::to_vec(&v).map_err(io::Error::other)?;
                    enc.push(&bytes, t).map_err(io::Error::other)?;
                    newest = t;
                }
                let out = enc.finish().map_err(io::Error::other)?;
                let key = LogFileKey {
                    prefix: Prefix::NONE,
                    org_id: None,
                    account_id: ACCOUNT.into(),
                    region: REGION.into(),
                    delivery_time: newest,
                    unique: format!("S{f:015}"),
                }
                .to_key()
                .map_err(io::Error::other)?;
                let path = root.join(&key);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                // Atomic (a reader never sees half a file) but not flushed: a generated corpus
                // is made again after a machine crash, and 10^5 fsyncs would dominate.
                cairn_core::fs::write_atomic_with(&path, &out.gzip, false)?;
                totals[0].fetch_add(1, Ordering::Relaxed);
                totals[1].fetch_add(out.record_count as u64, Ordering::Relaxed);
                totals[2].fetch_add(out.gzip.len() as u64, Ordering::Relaxed);
                totals[3].fetch_add(out.uncompressed_len, Ordering::Relaxed);
                progress(range.len() as u64);
            }
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("worker panicked")))
                })
                .collect::<io::Result<Vec<()>>>()
        })?;
        let [files, records, gzip_bytes, json_bytes] = totals.map(AtomicU64::into_inner);
        Ok(WriteStats {
            files,
            records,
            gzip_bytes,
            json_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Vec<Value> {
        vec![
            serde_json::json!({"eventName": "GetObject", "eventTime": "x",
                "userIdentity": {"type": "IAMUser", "userName": "alice", "accessKeyId": "AKIAOLD"}}),
            serde_json::json!({"eventName": "AssumeRole", "userIdentity": {"type": "AssumedRole"}}),
        ]
    }

    #[test]
    fn events_are_varied_deterministic_and_ordered() {
        let s = Synth::new(templates(), 1000);
        let (t0, id0, v0) = s.event(0);
        let (t9, id9, v9) = s.event(999);
        assert_eq!(t9, s.end);
        assert_eq!(s.end - t0, Duration::days(90) - Duration::days(90) / 1000);
        assert_ne!(id0, id9);
        assert_eq!(s.event(0).2, v0, "same i, same event");
        assert_eq!(v0["userIdentity"]["userName"], "user-0");
        assert_eq!(v0["userIdentity"]["accessKeyId"], "AKIA0000000000000000");
        assert_eq!(v0["recipientAccountId"], ACCOUNT);
        assert_eq!(
            v9["userIdentity"]["arn"],
            "arn:aws:sts::123456789012:assumed-role/role-19/session-499"
        );
        let ids: std::collections::HashSet<String> = (0..1000).map(Synth::event_id).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn log_files_hold_every_event_once_in_cloudtrail_layout() {
        let dir = std::env::temp_dir().join(format!("cairn-synth-{}", std::process::id()));
        let s = Synth::new(templates(), 2501);
        let seen = AtomicU64::new(0);
        let stats = s
            .write_log_files(&dir, 1000, 2, &|n| {
                seen.fetch_add(n, Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!((stats.files, stats.records), (3, 2501));
        assert_eq!(seen.into_inner(), 2501);
        let mut ids = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p.strip_prefix(&dir).unwrap().to_str().unwrap().to_owned();
                crate::layout::parse_log_key(&rel).unwrap();
                let body = crate::gz::gunzip_capped(&std::fs::read(&p).unwrap(), 1 << 30).unwrap();
                let doc: Value = serde_json::from_slice(&body).unwrap();
                for r in doc["Records"].as_array().unwrap() {
                    ids.push(r["eventID"].as_str().unwrap().to_owned());
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2501);
    }
}
