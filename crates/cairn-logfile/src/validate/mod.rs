//! The pure core of a CloudTrail validator (spec §10), independent of I/O.
//!
//! [`plan`] walks the digest chain newest → oldest exactly like `aws cloudtrail
//! validate-logs` (§10.2–10.4) through a [`DigestSource`], producing a
//! [`ValidationReport`] whose digest findings carry the CLI's reason strings, plus a list of
//! [`LogFileCheck`]s. The caller executes those checks (concurrently if it likes: each is
//! a `GetObject` + [`check_log_reader`]) and hands the outcomes back with [`Plan::apply`].
//! [`validate`] does all of it sequentially.
//!
//! With [`ValidationRequest::strict`] the walk also makes the checks the CLI skips (§10.6):
//! previous-digest hash and signature, algorithm names, window continuity, key/field
//! consistency, fingerprint = MD5(key), event-time bounds, log files no digest lists,
//! digests the chain skips, and truncation against an expected end time.

mod report;
mod source;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;

use time::{Duration, OffsetDateTime};

pub use report::{Finding, FindingKind, StrictCheck, Summary, ValidationReport, Verdict};
pub use source::{
    DigestSource, ListPage, MemorySource, SourceError, SourceErrorKind, SourceObject,
};

use crate::digest::{
    DigestFile, HASH_ALGORITHM, LogFileEntry, META_BACKFILL_TIMESTAMP, META_SIGNATURE,
    META_SIGNATURE_ALGORITHM,
};
use crate::error::Error;
use crate::gz;
use crate::keys::{PublicKey, SIGNATURE_ALGORITHM};
use crate::layout::{self, DigestFileKey, Prefix};
use crate::timefmt;

/// CLI reason: the log file's hash differs.
pub const REASON_HASH_MISMATCH: &str = "hash value doesn't match";
/// CLI reason: the object does not exist.
pub const REASON_NOT_FOUND: &str = "not found";
/// CLI reason: the object cannot be decoded.
pub const REASON_INVALID_FORMAT: &str = "invalid format";
/// CLI reason: signature missing or wrong.
pub const REASON_SIGNATURE: &str = "signature verification failed";
/// CLI reason: `digestS3Bucket`/`digestS3Object` differ from the object's location.
pub const REASON_MOVED: &str = "has been moved from its original location";
/// Default cap on a log file's uncompressed size during validation (streamed, so this bounds
/// CPU, not memory).
pub const DEFAULT_MAX_LOG_BYTES: u64 = 1024 * 1024 * 1024;

/// Errors that stop a validation run (the CLI aborts on these too).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// The request is malformed (bad component, start after end).
    #[error("invalid request: {0}")]
    Request(#[from] Error),
    /// `ListPublicKeys` returned nothing for the window.
    #[error("No public keys found between {start} and {end}")]
    NoPublicKeys {
        /// Requested start.
        start: String,
        /// Requested end.
        end: String,
    },
    /// A listing or fetch failed with something other than "not found".
    #[error("source error: {0}")]
    Source(#[from] SourceError),
}

/// What to validate.
#[derive(Debug, Clone)]
pub struct ValidationRequest {
    /// Bucket holding the digests.
    pub bucket: String,
    /// Trail key prefix.
    pub prefix: Prefix,
    /// Organization id, for organization trails.
    pub org_id: Option<String>,
    /// Account whose digests to validate.
    pub account_id: String,
    /// Region whose digests to validate (`--region`).
    pub source_region: String,
    /// The trail's home Region (from its ARN).
    pub home_region: String,
    /// Trail name (from its ARN).
    pub trail_name: String,
    /// Start of the window (inclusive).
    pub start: OffsetDateTime,
    /// End of the window.
    pub end: OffsetDateTime,
    /// Run the §10.6 checks.
    pub strict: bool,
    /// Strict: the newest standard digest must end at or after this time.
    pub expect_digest_through: Option<OffsetDateTime>,
    /// Cap on a digest's uncompressed size.
    pub max_digest_bytes: u64,
}

impl ValidationRequest {
    /// A CLI-equivalent request for a single-Region, non-organization trail without prefix.
    pub fn new(
        bucket: &str,
        account_id: &str,
        region: &str,
        trail_name: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Self {
        ValidationRequest {
            bucket: bucket.to_owned(),
            prefix: Prefix::NONE,
            org_id: None,
            account_id: account_id.to_owned(),
            source_region: region.to_owned(),
            home_region: region.to_owned(),
            trail_name: trail_name.to_owned(),
            start,
            end,
            strict: false,
            expect_digest_through: None,
            max_digest_bytes: crate::digest::DEFAULT_MAX_DIGEST,
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.start > self.end {
            return Err(Error::InvalidTime {
                value: timefmt::format_event_time(self.start)?,
                reason: "start-time must occur before end-time",
            });
        }
        layout::validate_trail_name(&self.trail_name)?;
        layout::validate_region(&self.home_region)?;
        self.digest_folder()?;
        Ok(())
    }

    /// The folder this trail's digest files are delivered to.
    fn digest_folder(&self) -> Result<String, Error> {
        layout::digest_folder(
            &self.prefix,
            self.org_id.as_deref(),
            &self.account_id,
            &self.source_region,
        )
    }

    fn digest_key(&self, end: OffsetDateTime) -> DigestFileKey {
        DigestFileKey {
            prefix: self.prefix.clone(),
            org_id: self.org_id.clone(),
            account_id: self.account_id.clone(),
            source_region: self.source_region.clone(),
            trail_name: self.trail_name.clone(),
            home_region: self.home_region.clone(),
            end_time: end,
            backfill: false,
        }
    }
}

/// The `ListPublicKeys` time range the AWS CLI asks for: `[start, end + 2h]`.
pub fn public_key_window(
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    (start, end + Duration::hours(2))
}

#[derive(Debug, Clone)]
enum KeyEntry {
    Loaded(PublicKey),
    Unloadable,
}

/// Public keys by fingerprint, as `ListPublicKeys` returned them.
#[derive(Debug, Clone, Default)]
pub struct PublicKeySet {
    keys: HashMap<String, KeyEntry>,
}

impl PublicKeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under its own (computed) fingerprint.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys
            .insert(key.fingerprint().to_owned(), KeyEntry::Loaded(key));
    }

    /// Adds a `ListPublicKeys` item as published: `der` under the declared `fingerprint`.
    /// A value that is not a loadable PKCS#1 key is kept, and digests naming it fail with the
    /// CLI's "Unable to load PKCS #1 key" reason.
    pub fn insert_listed(&mut self, fingerprint: &str, der: &[u8]) {
        let entry = PublicKey::from_pkcs1_der(der).map_or(KeyEntry::Unloadable, KeyEntry::Loaded);
        self.keys.insert(fingerprint.to_owned(), entry);
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The outcome of one log file check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutcome {
    /// The hash matches.
    Valid,
    /// The hash differs.
    HashMismatch,
    /// The object does not exist.
    NotFound,
    /// The object is not decodable gzip (or exceeds the cap).
    InvalidFormat,
}

impl LogOutcome {
    fn reason(&self) -> Option<&'static str> {
        match self {
            LogOutcome::Valid => None,
            LogOutcome::HashMismatch => Some(REASON_HASH_MISMATCH),
            LogOutcome::NotFound => Some(REASON_NOT_FOUND),
            LogOutcome::InvalidFormat => Some(REASON_INVALID_FORMAT),
        }
    }
}

/// Checks a log object's bytes against the digest's `hashValue` (gunzip → SHA-256).
pub fn check_log(object: &[u8], expected_hash: &str) -> LogOutcome {
    check_log_reader(object, expected_hash, DEFAULT_MAX_LOG_BYTES)
}

/// Streaming form of [`check_log`] over any reader (e.g. an HTTP body), capped at
/// `max_uncompressed` bytes.
pub fn check_log_reader<R: Read>(
    reader: R,
    expected_hash: &str,
    max_uncompressed: u64,
) -> LogOutcome {
    match gz::gunzip_sha256(reader, max_uncompressed) {
        Ok(h) if h.sha256_hex == expected_hash => LogOutcome::Valid,
        Ok(_) => LogOutcome::HashMismatch,
        Err(_) => LogOutcome::InvalidFormat,
    }
}

/// A log file to fetch and hash; produced by [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileCheck {
    /// Index of the finding this check completes.
    pub finding: usize,
    /// Bucket of the log file.
    pub bucket: String,
    /// Key of the log file.
    pub key: String,
    /// Expected lowercase hex SHA-256 of the uncompressed file.
    pub expected_hash: String,
}

impl LogFileCheck {
    /// Runs this check against `source` (a `GetObject` + hash).
    ///
    /// Errors only for non-`NotFound` source errors, on which the CLI aborts.
    pub fn run<S: DigestSource + ?Sized>(&self, source: &S) -> Result<LogOutcome, SourceError> {
        match source.get(&self.bucket, &self.key) {
            Ok(obj) => Ok(check_log(&obj.body, &self.expected_hash)),
            Err(e) if e.kind == SourceErrorKind::NotFound => Ok(LogOutcome::NotFound),
            Err(e) => Err(e),
        }
    }
}

/// A walked chain whose log checks are still to be executed.
#[derive(Debug, Clone)]
pub struct Plan {
    report: ValidationReport,
    /// The log files to check, in CLI order. They are independent of one another.
    pub log_checks: Vec<LogFileCheck>,
}

impl Plan {
    /// Records the outcome of one check.
    pub fn apply(&mut self, check: &LogFileCheck, outcome: &LogOutcome) {
        if let Some(f) = self.report.findings.get_mut(check.finding) {
            debug_assert_eq!(f.kind, FindingKind::LogFile);
            f.verdict = if *outcome == LogOutcome::Valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            f.reason = outcome.reason().map(str::to_owned);
        }
    }

    /// The report so far (log findings not applied yet are `Pending`).
    pub fn report(&self) -> &ValidationReport {
        &self.report
    }

    /// The final report.
    pub fn finish(self) -> ValidationReport {
        self.report
    }
}

/// Walks the chain and runs every log check sequentially.
pub fn validate<S: DigestSource + ?Sized>(
    source: &S,
    req: &ValidationRequest,
    keys: &PublicKeySet,
) -> Result<ValidationReport, ValidateError> {
    let mut plan = plan(source, req, keys)?;
    let checks = std::mem::take(&mut plan.log_checks);
    for c in &checks {
        let outcome = c.run(source)?;
        plan.apply(c, &outcome);
    }
    Ok(plan.finish())
}

/// Why loading a digest failed.
enum DigestFailure {
    NotFound,
    Invalid(String),
}

struct LoadedDigest {
    digest: DigestFile,
    body_sha256: String,
    metadata_signature: String,
    metadata_algorithm: String,
    start: OffsetDateTime,
    public_key: PublicKey,
}

/// What the newer digest said about the one we are about to load.
struct Link {
    from_key: String,
    hash: Option<String>,
    hash_algorithm: Option<String>,
    signature: Option<String>,
    start_time: String,
}

struct Walker<'a, S: ?Sized> {
    source: &'a S,
    req: &'a ValidationRequest,
    keys: &'a PublicKeySet,
    findings: Vec<Finding>,
    checks: Vec<LogFileCheck>,
    found_start: OffsetDateTime,
    found_end: Option<OffsetDateTime>,
    /// (start, end) of every valid digest.
    windows: Vec<(OffsetDateTime, OffsetDateTime)>,
    /// (older digest end, newer digest start) of every reported gap.
    gaps: Vec<(OffsetDateTime, OffsetDateTime)>,
    listed_logs: HashSet<(String, String)>,
    visited: HashSet<(String, String)>,
    newest_standard_end: Option<OffsetDateTime>,
}

fn key_date(key: &str) -> Option<OffsetDateTime> {
    layout::extract_digest_key_date(key).and_then(|d| timefmt::parse_digest_key_time(d).ok())
}

fn display(t: OffsetDateTime) -> String {
    timefmt::format_event_time(t).unwrap_or_else(|_| t.to_string())
}

/// Walks the digest chain(s) and returns the report with pending log checks.
pub fn plan<S: DigestSource + ?Sized>(
    source: &S,
    req: &ValidationRequest,
    keys: &PublicKeySet,
) -> Result<Plan, ValidateError> {
    req.check()?;
    if keys.is_empty() {
        return Err(ValidateError::NoPublicKeys {
            start: display(req.start),
            end: display(req.end),
        });
    }
    let mut w = Walker {
        source,
        req,
        keys,
        findings: Vec::new(),
        checks: Vec::new(),
        found_start: req.start,
        found_end: None,
        windows: Vec::new(),
        gaps: Vec::new(),
        listed_logs: HashSet::new(),
        visited: HashSet::new(),
        newest_standard_end: None,
    };
    let (standard, backfill) = w.list_digests(&req.bucket)?;
    let listed: Vec<(bool, String)> = standard
        .iter()
        .map(|k| (false, k.clone()))
        .chain(backfill.iter().map(|k| (true, k.clone())))
        .collect();
    w.walk(standard, false)?;
    w.walk(backfill, true)?;
    if req.strict {
        w.strict_after_walk(&listed)?;
    }
    let report = ValidationReport {
        requested_start: display(req.start),
        requested_end: display(req.end),
        found_start: w.found_end.map(|_| display(w.found_start)),
        found_end: w.found_end.map(display),
        strict: req.strict,
        findings: w.findings,
    };
    Ok(Plan {
        report,
        log_checks: w.checks,
    })
}

impl<S: DigestSource + ?Sized> Walker<'_, S> {
    fn strict(&mut self, check: StrictCheck, bucket: &str, key: &str, reason: String) {
        self.findings.push(Finding {
            kind: FindingKind::Strict,
            verdict: Verdict::Invalid,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            reason: Some(reason),
            check: Some(check),
        });
    }

    /// §10.2: list digest keys of this trail in `[T1, T2 + 1h]`, split standard/backfill.
    fn list_digests(&self, bucket: &str) -> Result<(Vec<String>, Vec<String>), ValidateError> {
        let req = self.req;
        let folder = req.digest_folder()?;
        let marker = req.digest_key(req.start - Duration::minutes(1)).to_key()?;
        let name_prefix = format!(
            "{}_CloudTrail-Digest_{}_{}_{}_",
            req.account_id, req.source_region, req.trail_name, req.home_region
        );
        let target_start = timefmt::format_digest_key_time(req.start)?;
        let target_end = timefmt::format_digest_key_time(req.end + Duration::hours(1))?;
        let (mut standard, mut backfill) = (Vec::new(), Vec::new());
        let mut marker = Some(marker);
        'pages: loop {
            let page = self.source.list(bucket, &folder, marker.as_deref())?;
            for key in page.keys {
                if !cli_key_matches(&key, &folder, &name_prefix) {
                    continue;
                }
                let Some(date) = layout::extract_digest_key_date(&key) else {
                    continue;
                };
                if date > target_end.as_str() {
                    break 'pages;
                }
                if date >= target_start.as_str() && key_date(&key).is_some() {
                    if key.ends_with("_backfill.json.gz") {
                        backfill.push(key);
                    } else {
                        standard.push(key);
                    }
                }
            }
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        Ok((standard, backfill))
    }

    /// Pops the newest key older than `before` (or the newest at all).
    fn next_older(
        digests: &mut Vec<String>,
        before: Option<&str>,
    ) -> Option<(String, OffsetDateTime)> {
        let before = before.and_then(key_date);
        while let Some(k) = digests.pop() {
            let Some(d) = key_date(&k) else { continue };
            if before.is_none_or(|b| d < b) {
                return Some((k, d));
            }
        }
        None
    }

    /// §10.3 for one list (standard or backfill).
    fn walk(&mut self, mut digests: Vec<String>, backfill: bool) -> Result<(), ValidateError> {
        let kind = if backfill {
            FindingKind::BackfillDigest
        } else {
            FindingKind::Digest
        };
        let mut bucket = self.req.bucket.clone();
        let Some((first, first_date)) = Self::next_older(&mut digests, None) else {
            return Ok(());
        };
        let mut key = Some(first);
        let mut last_start = first_date;
        let mut link: Option<Link> = None;
        while let Some(k) = key.take() {
            if self.req.start > last_start {
                break;
            }
            self.visited.insert((bucket.clone(), k.clone()));
            let invalid = |reason: String| Finding {
                kind,
                verdict: Verdict::Invalid,
                bucket: bucket.clone(),
                key: k.clone(),
                reason: Some(reason),
                check: None,
            };
            match self.load(&bucket, &k, backfill)? {
                Err(DigestFailure::NotFound) => {
                    self.findings.push(invalid(REASON_NOT_FOUND.to_owned()));
                    key = Self::next_older(&mut digests, Some(&k)).map(|(k, _)| k);
                    link = None;
                }
                Err(DigestFailure::Invalid(reason)) => {
                    self.findings.push(invalid(reason));
                    key = Self::next_older(&mut digests, Some(&k)).map(|(k, _)| k);
                    link = None;
                }
                Ok(d) => {
                    last_start = d.start;
                    self.accept(&bucket, &k, kind, &d, link.take());
                    let prev_bucket = d.digest.previous_digest_s3_bucket.clone();
                    let prev_object = d.digest.previous_digest_s3_object.clone();
                    match (prev_bucket, prev_object) {
                        (Some(pb), Some(po)) => {
                            link = Some(Link {
                                from_key: k.clone(),
                                hash: d.digest.previous_digest_hash_value.clone(),
                                hash_algorithm: d.digest.previous_digest_hash_algorithm.clone(),
                                signature: d.digest.previous_digest_signature.clone(),
                                start_time: d.digest.digest_start_time.clone(),
                            });
                            if pb != bucket {
                                bucket = pb;
                                let (s, b) = self.list_digests(&bucket)?;
                                digests = if backfill { b } else { s };
                            }
                            key = Some(po);
                        }
                        _ => {
                            let next = Self::next_older(&mut digests, Some(&k));
                            if let Some((_, next_date)) = &next {
                                self.gaps.push((*next_date, last_start));
                                self.findings.push(Finding {
                                    kind: FindingKind::Gap,
                                    verdict: Verdict::Warning,
                                    bucket: bucket.clone(),
                                    key: k.clone(),
                                    reason: Some(format!(
                                        "No log files were delivered by CloudTrail between {} and {}",
                                        display(*next_date),
                                        display(last_start)
                                    )),
                                    check: None,
                                });
                            }
                            key = next.map(|(k, _)| k);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Fetches and verifies one digest in the CLI's order of checks. The outer `Result` is
    /// an aborting source error; the inner one the digest's verdict.
    fn load(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
    ) -> Result<Result<LoadedDigest, DigestFailure>, ValidateError> {
        let obj = match self.source.get(bucket, key) {
            Ok(o) => o,
            Err(e) if e.kind == SourceErrorKind::NotFound => {
                return Ok(Err(DigestFailure::NotFound));
            }
            Err(e) => return Err(e.into()),
        };
        let fail = |r: &str| Ok(Err(DigestFailure::Invalid(r.to_owned())));
        let Ok(body) = gz::gunzip_capped(&obj.body, self.req.max_digest_bytes) else {
            return fail(REASON_INVALID_FORMAT);
        };
        if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
            return fail(REASON_INVALID_FORMAT);
        }
        let (Some(signature), Some(algorithm)) = (
            obj.metadata.get(META_SIGNATURE),
            obj.metadata.get(META_SIGNATURE_ALGORITHM),
        ) else {
            return fail(REASON_SIGNATURE);
        };
        if backfill && !obj.metadata.contains_key(META_BACKFILL_TIMESTAMP) {
            return fail(REASON_INVALID_FORMAT);
        }
        let Ok(digest) = DigestFile::parse(&body) else {
            return fail(REASON_INVALID_FORMAT);
        };
        if digest.digest_s3_bucket != bucket || digest.digest_s3_object != key {
            return fail(REASON_MOVED);
        }
        let fp = &digest.digest_public_key_fingerprint;
        let public_key = match self.keys.keys.get(fp) {
            None => {
                return fail(&format!(
                    "public key not found in region {} for fingerprint {fp}",
                    self.req.home_region
                ));
            }
            Some(KeyEntry::Unloadable) => {
                return fail(&format!("Unable to load PKCS #1 key with fingerprint {fp}"));
            }
            Some(KeyEntry::Loaded(k)) => k.clone(),
        };
        let body_sha256 = gz::sha256_hex(&body);
        if !public_key.verify_hex(digest.string_to_sign(&body_sha256).as_bytes(), signature) {
            return fail(REASON_SIGNATURE);
        }
        if digest.end_time().is_err() {
            return fail(&format!(
                "Unable to parse date value: {}",
                digest.digest_end_time
            ));
        }
        let Ok(start) = digest.start_time() else {
            return fail(&format!(
                "Unable to parse date value: {}",
                digest.digest_start_time
            ));
        };
        Ok(Ok(LoadedDigest {
            metadata_signature: signature.clone(),
            metadata_algorithm: algorithm.clone(),
            digest,
            body_sha256,
            start,
            public_key,
        }))
    }

    /// Records a valid digest, queues its log checks and runs per-digest strict checks.
    fn accept(
        &mut self,
        bucket: &str,
        key: &str,
        kind: FindingKind,
        d: &LoadedDigest,
        link: Option<Link>,
    ) {
        let end = d.digest.end_time().unwrap_or(d.start);
        // The CLI's found-time tracking, verbatim.
        if d.start > self.req.start {
            self.found_start = d.start;
        }
        if self.found_end.is_none() {
            self.found_end = Some(end.min(self.req.end));
        }
        if kind == FindingKind::Digest && self.newest_standard_end.is_none() {
            self.newest_standard_end = Some(end);
        }
        self.windows.push((d.start, end));
        self.findings.push(Finding {
            kind,
            verdict: Verdict::Valid,
            bucket: d.digest.digest_s3_bucket.clone(),
            key: d.digest.digest_s3_object.clone(),
            reason: None,
            check: None,
        });
        for f in &d.digest.log_files {
            self.listed_logs
                .insert((f.s3_bucket.clone(), f.s3_object.clone()));
            self.checks.push(LogFileCheck {
                finding: self.findings.len(),
                bucket: f.s3_bucket.clone(),
                key: f.s3_object.clone(),
                expected_hash: f.hash_value.clone(),
            });
            self.findings.push(Finding {
                kind: FindingKind::LogFile,
                verdict: Verdict::Pending,
                bucket: f.s3_bucket.clone(),
                key: f.s3_object.clone(),
                reason: None,
                check: None,
            });
        }
        if self.req.strict {
            self.strict_digest(bucket, key, d, end, link);
        }
    }

    /// Strict checks of one accepted digest, in report order: its own header, its key,
    /// its event-time bounds, its log entries, and the link from the newer digest.
    fn strict_digest(
        &mut self,
        bucket: &str,
        key: &str,
        d: &LoadedDigest,
        end: OffsetDateTime,
        link: Option<Link>,
    ) {
        let doc = &d.digest;
        self.strict_header(bucket, key, d, end);
        let mismatches = key_mismatches(self.req, key, doc, end);
        if !mismatches.is_empty() {
            self.strict(StrictCheck::KeyMismatch, bucket, key, mismatches.join("; "));
        }
        if !event_times_bound(doc) {
            self.strict(
                StrictCheck::EventTimes,
                bucket,
                key,
                "newestEventTime/oldestEventTime do not bound the listed log files".into(),
            );
        }
        for f in &doc.log_files {
            let problems = log_entry_problems(self.req, f, end);
            if !problems.is_empty() {
                self.strict(
                    StrictCheck::LogEntry,
                    &f.s3_bucket,
                    &f.s3_object,
                    problems.join("; "),
                );
            }
        }
        if let Some(link) = link {
            self.strict_link(bucket, key, d, &link);
        }
    }

    /// Signature algorithm, key fingerprint, and start not after end.
    fn strict_header(&mut self, bucket: &str, key: &str, d: &LoadedDigest, end: OffsetDateTime) {
        let doc = &d.digest;
        if doc.digest_signature_algorithm != SIGNATURE_ALGORITHM
            || d.metadata_algorithm != SIGNATURE_ALGORITHM
        {
            self.strict(
                StrictCheck::SignatureAlgorithm,
                bucket,
                key,
                format!(
                    "digestSignatureAlgorithm {:?} / signature-algorithm metadata {:?}, expected {SIGNATURE_ALGORITHM}",
                    doc.digest_signature_algorithm, d.metadata_algorithm
                ),
            );
        }
        if d.public_key.fingerprint() != doc.digest_public_key_fingerprint {
            self.strict(
                StrictCheck::Fingerprint,
                bucket,
                key,
                format!(
                    "key published as {} has MD5 fingerprint {}",
                    doc.digest_public_key_fingerprint,
                    d.public_key.fingerprint()
                ),
            );
        }
        if d.start > end {
            self.strict(
                StrictCheck::Continuity,
                bucket,
                key,
                "digestStartTime is after digestEndTime".into(),
            );
        }
    }

    /// The newer digest's `previousDigest*` fields must describe this one.
    fn strict_link(&mut self, bucket: &str, key: &str, d: &LoadedDigest, link: &Link) {
        let doc = &d.digest;
        if link.hash.as_deref() != Some(d.body_sha256.as_str())
            || link.hash_algorithm.as_deref() != Some(HASH_ALGORITHM)
        {
            self.strict(
                StrictCheck::PreviousDigestHash,
                bucket,
                key,
                format!(
                    "{} records previousDigestHashValue {:?} ({:?}), object hashes to {}",
                    link.from_key, link.hash, link.hash_algorithm, d.body_sha256
                ),
            );
        }
        if link.signature.as_deref() != Some(d.metadata_signature.as_str()) {
            self.strict(
                StrictCheck::PreviousDigestSignature,
                bucket,
                key,
                format!("{} records a previousDigestSignature that differs from this object's signature metadata", link.from_key),
            );
        }
        if link.start_time != doc.digest_end_time {
            self.strict(
                StrictCheck::Continuity,
                bucket,
                key,
                format!(
                    "digestEndTime {} != digestStartTime {} of {}",
                    doc.digest_end_time, link.start_time, link.from_key
                ),
            );
        }
    }

    fn strict_after_walk(&mut self, listed: &[(bool, String)]) -> Result<(), ValidateError> {
        let req = self.req;
        // Digests in range the chain never reached.
        for (_, k) in listed {
            if !self.visited.contains(&(req.bucket.clone(), k.clone())) {
                self.strict(
                    StrictCheck::UnchainedDigest,
                    &req.bucket,
                    k,
                    "digest in the requested range is not reachable through the chain".into(),
                );
            }
        }
        // Truncation.
        if let Some(expected) = req.expect_digest_through {
            let ok = self.newest_standard_end.is_some_and(|e| e >= expected);
            if !ok {
                let folder = req.digest_folder()?;
                self.strict(
                    StrictCheck::Truncated,
                    &req.bucket,
                    &folder,
                    format!(
                        "newest valid digest ends at {}, expected one ending at or after {}",
                        self.newest_standard_end
                            .map_or_else(|| "(none)".to_owned(), display),
                        display(expected)
                    ),
                );
            }
        }
        self.unlisted_logs()
    }

    /// Log files whose whole delivery minute lies inside the span covered by valid digests
    /// (outside reported gaps), but that no valid digest lists. A digest missing or invalid in
    /// the middle of the chain does not shrink the span, so its log files show up here.
    fn unlisted_logs(&mut self) -> Result<(), ValidateError> {
        let req = self.req;
        let (Some(first), Some(last)) = (
            self.windows.iter().map(|w| w.0).min(),
            self.windows.iter().map(|w| w.1).max(),
        ) else {
            return Ok(());
        };
        let gaps = self.gaps.clone();
        let covered = |m: OffsetDateTime| {
            let m_end = m + Duration::minutes(1);
            first <= m && m_end <= last && !gaps.iter().any(|(a, b)| m < *b && *a < m_end)
        };
        let folder = layout::log_folder(
            &req.prefix,
            req.org_id.as_deref(),
            &req.account_id,
            &req.source_region,
        )?;
        let mut days = BTreeSet::new();
        let mut day = first.date();
        while day <= last.date() {
            days.insert(day);
            let Some(next) = day.next_day() else { break };
            day = next;
        }
        for day in days {
            let prefix = format!(
                "{folder}{}/",
                timefmt::format_ymd_path(day.midnight().assume_utc())?
            );
            let mut marker: Option<String> = None;
            loop {
                let page = self.source.list(&req.bucket, &prefix, marker.as_deref())?;
                for key in &page.keys {
                    let Ok(lk) = layout::parse_log_key(key) else {
                        continue;
                    };
                    if covered(lk.delivery_time)
                        && !self
                            .listed_logs
                            .contains(&(req.bucket.clone(), key.clone()))
                    {
                        self.strict(
                            StrictCheck::UnlistedLogFile,
                            &req.bucket,
                            key,
                            "log file delivered inside a validated digest window is listed by no digest".into(),
                        );
                    }
                }
                match page.next_marker {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

/// Where the digest key and the document disagree with each other or with the request.
fn key_mismatches(
    req: &ValidationRequest,
    key: &str,
    doc: &DigestFile,
    end: OffsetDateTime,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    if doc.aws_account_id != req.account_id {
        mismatches.push(format!(
            "awsAccountId {} != {}",
            doc.aws_account_id, req.account_id
        ));
    }
    match layout::parse_digest_key(key) {
        Ok(k) => {
            if k.end_time != end {
                mismatches.push(format!(
                    "key time {} != digestEndTime {}",
                    display(k.end_time),
                    doc.digest_end_time
                ));
            }
            if k.account_id != doc.aws_account_id {
                mismatches.push(format!(
                    "key account {} != awsAccountId {}",
                    k.account_id, doc.aws_account_id
                ));
            }
            if k.source_region != req.source_region || k.home_region != req.home_region {
                mismatches.push(format!(
                    "key regions {}/{} != {}/{}",
                    k.source_region, k.home_region, req.source_region, req.home_region
                ));
            }
            if k.trail_name != req.trail_name || k.org_id != req.org_id || k.prefix != req.prefix {
                mismatches
                    .push("key trail, organization or prefix differs from the request".into());
            }
        }
        Err(e) => mismatches.push(format!("key does not parse: {e}")),
    }
    mismatches
}

/// Whether `newestEventTime`/`oldestEventTime` are exactly the bounds of the listed log
/// files, each of which has well-formed, ordered event times.
fn event_times_bound(doc: &DigestFile) -> bool {
    let newest = doc
        .log_files
        .iter()
        .map(|f| f.newest_event_time.as_str())
        .max();
    let oldest = doc
        .log_files
        .iter()
        .map(|f| f.oldest_event_time.as_str())
        .min();
    newest == doc.newest_event_time.as_deref()
        && oldest == doc.oldest_event_time.as_deref()
        && doc.log_files.iter().all(|f| {
            timefmt::parse_event_time(&f.newest_event_time).is_ok()
                && timefmt::parse_event_time(&f.oldest_event_time).is_ok()
                && f.oldest_event_time <= f.newest_event_time
        })
}

/// What is wrong with one log entry of a digest: hash algorithm, key outside the trail's
/// folder, delivery after the digest's end.
fn log_entry_problems(
    req: &ValidationRequest,
    f: &LogFileEntry,
    end: OffsetDateTime,
) -> Vec<String> {
    let mut problems = Vec::new();
    if f.hash_algorithm != HASH_ALGORITHM {
        problems.push(format!("hashAlgorithm {:?}", f.hash_algorithm));
    }
    match layout::parse_log_key(&f.s3_object) {
        Ok(lk) => {
            if lk.account_id != req.account_id
                || lk.region != req.source_region
                || lk.org_id != req.org_id
                || lk.prefix != req.prefix
            {
                problems.push("log key is outside this trail's account/Region folder".into());
            }
            if lk.delivery_time > end {
                problems.push("log delivered after digestEndTime".into());
            }
        }
        Err(e) => problems.push(format!("log key does not parse: {e}")),
    }
    problems
}

/// The AWS CLI's digest-key regex (§10.2), without a regex engine:
/// `^{folder}\d+/\d+/\d+/{name_prefix}.+\.json\.gz$`.
fn cli_key_matches(key: &str, folder: &str, name_prefix: &str) -> bool {
    let Some(rest) = key.strip_prefix(folder) else {
        return false;
    };
    let mut parts = rest.splitn(4, '/');
    for _ in 0..3 {
        match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return false,
        }
    }
    let Some(file) = parts.next() else {
        return false;
    };
    file.strip_prefix(name_prefix)
        .and_then(|r| r.strip_suffix(".json.gz"))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('\n'))
}

#[cfg(test)]
pub(crate) mod tests;
