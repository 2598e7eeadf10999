//! The structured validation report and its AWS-CLI text rendering.

use std::io::{self, Write};

use serde::Serialize;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A standard digest file.
    Digest,
    /// A `_backfill` digest file.
    BackfillDigest,
    /// A log file listed by a valid digest.
    LogFile,
    /// A break in the chain (a starting digest with older digests before it). A warning.
    Gap,
    /// A check the AWS CLI does not make (spec §10.6).
    Strict,
}

/// The outcome of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Verified.
    Valid,
    /// Failed verification.
    Invalid,
    /// Informational (gaps).
    Warning,
    /// A log check that has not been executed yet.
    Pending,
}

/// The stricter checks of spec §10.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrictCheck {
    /// `previousDigestHashValue`/`HashAlgorithm` differ from the previous object's SHA-256.
    PreviousDigestHash,
    /// `previousDigestSignature` differs from the previous object's `signature` metadata.
    PreviousDigestSignature,
    /// `digestSignatureAlgorithm` or `signature-algorithm` metadata is not `SHA256withRSA`.
    SignatureAlgorithm,
    /// `digestStartTime` differs from the previous digest's `digestEndTime`, or start > end.
    Continuity,
    /// Account, Region, trail or time fields disagree with the object key or the request.
    KeyMismatch,
    /// The public key's MD5 is not the fingerprint it was published under.
    Fingerprint,
    /// `newestEventTime`/`oldestEventTime` disagree with the listed log files.
    EventTimes,
    /// A `logFiles[]` entry is malformed (algorithm, key outside the trail's log folder).
    LogEntry,
    /// A log file in the covered window is listed by no digest.
    UnlistedLogFile,
    /// A digest in the requested range is not reachable through the chain.
    UnchainedDigest,
    /// The chain ends before the expected end time.
    Truncated,
}

impl StrictCheck {
    /// Short label used in text output.
    pub fn label(self) -> &'static str {
        match self {
            StrictCheck::PreviousDigestHash => "previous digest hash",
            StrictCheck::PreviousDigestSignature => "previous digest signature",
            StrictCheck::SignatureAlgorithm => "signature algorithm",
            StrictCheck::Continuity => "continuity",
            StrictCheck::KeyMismatch => "key mismatch",
            StrictCheck::Fingerprint => "fingerprint",
            StrictCheck::EventTimes => "event times",
            StrictCheck::LogEntry => "log entry",
            StrictCheck::UnlistedLogFile => "unlisted log file",
            StrictCheck::UnchainedDigest => "unchained digest",
            StrictCheck::Truncated => "truncated chain",
        }
    }
}

/// One verdict about one object (or one gap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// The outcome.
    pub verdict: Verdict,
    /// Bucket of the object.
    pub bucket: String,
    /// Key of the object (for gaps: the digest after the gap).
    pub key: String,
    /// Reason text: for `Invalid` digest/log findings exactly the AWS CLI's text after
    /// `INVALID: `; for gaps the CLI's whole line; for strict findings a description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which strict check, for `Strict` findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<StrictCheck>,
}

impl Finding {
    /// The AWS CLI status line for this finding (no trailing newline).
    pub fn cli_line(&self) -> String {
        let what = match self.kind {
            FindingKind::Digest => "Digest file".to_owned(),
            FindingKind::BackfillDigest => "(backfill) Digest file".to_owned(),
            FindingKind::LogFile => "Log file".to_owned(),
            FindingKind::Gap => return self.reason.clone().unwrap_or_default(),
            FindingKind::Strict => format!(
                "Strict check ({})",
                self.check.map_or("", StrictCheck::label)
            ),
        };
        let status = match self.verdict {
            Verdict::Valid => "valid".to_owned(),
            Verdict::Pending => "pending".to_owned(),
            Verdict::Invalid | Verdict::Warning => {
                format!("INVALID: {}", self.reason.as_deref().unwrap_or(""))
            }
        };
        format!("{what}\ts3://{}/{}\t{status}", self.bucket, self.key)
    }
}

/// Counts over a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Valid standard digests.
    pub digests_valid: usize,
    /// Invalid standard digests.
    pub digests_invalid: usize,
    /// Valid backfill digests.
    pub backfill_digests_valid: usize,
    /// Invalid backfill digests.
    pub backfill_digests_invalid: usize,
    /// Valid log files.
    pub logs_valid: usize,
    /// Invalid log files.
    pub logs_invalid: usize,
    /// Log checks not executed.
    pub logs_pending: usize,
    /// Chain gaps (warnings).
    pub gaps: usize,
    /// Failed strict checks.
    pub strict_failures: usize,
}

/// The result of a validation run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// Requested start (`YYYY-MM-DDTHH:MM:SSZ`).
    pub requested_start: String,
    /// Requested end.
    pub requested_end: String,
    /// Start of what valid digests covered, as the AWS CLI computes it.
    pub found_start: Option<String>,
    /// End of what valid digests covered, as the AWS CLI computes it.
    pub found_end: Option<String>,
    /// Whether strict checks ran.
    pub strict: bool,
    /// Findings in the order the AWS CLI would print them.
    pub findings: Vec<Finding>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a ValidationReport,
    summary: Summary,
    cli_exit_code: i32,
}

impl ValidationReport {
    /// Counts.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in &self.findings {
            match (f.kind, f.verdict) {
                (FindingKind::Digest, Verdict::Valid) => s.digests_valid += 1,
                (FindingKind::Digest, _) => s.digests_invalid += 1,
                (FindingKind::BackfillDigest, Verdict::Valid) => s.backfill_digests_valid += 1,
                (FindingKind::BackfillDigest, _) => s.backfill_digests_invalid += 1,
                (FindingKind::LogFile, Verdict::Valid) => s.logs_valid += 1,
                (FindingKind::LogFile, Verdict::Pending) => s.logs_pending += 1,
                (FindingKind::LogFile, _) => s.logs_invalid += 1,
                (FindingKind::Gap, _) => s.gaps += 1,
                (FindingKind::Strict, _) => s.strict_failures += 1,
            }
        }
        s
    }

    /// The AWS CLI's exit status: 1 if any digest or log file is invalid, else 0.
    /// With `strict`, failed strict checks (and unexecuted log checks) also give 1.
    pub fn exit_code(&self, strict: bool) -> i32 {
        let s = self.summary();
        let cli = s.digests_invalid + s.backfill_digests_invalid + s.logs_invalid > 0;
        let extra = strict && (s.strict_failures > 0 || s.logs_pending > 0);
        i32::from(cli || extra)
    }

    /// Findings of one kind.
    pub fn of_kind(&self, kind: FindingKind) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.kind == kind)
    }

    /// The report as JSON (findings, summary, CLI exit code).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(JsonReport {
            report: self,
            summary: self.summary(),
            cli_exit_code: self.exit_code(false),
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// Writes the AWS CLI's `validate-logs` output: status lines go to `out` (valid ones,
    /// only when `verbose`) and `err` (failures and gaps), with the CLI's blank-line rules.
    /// Strict findings are printed (as failures) only when `include_strict`.
    pub fn write_cli_text(
        &self,
        trail_arn: &str,
        verbose: bool,
        include_strict: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        write!(
            out,
            "Validating log files for trail {trail_arn} between {} and {}\n\n",
            self.requested_start, self.requested_end
        )?;
        let mut double = true;
        for f in &self.findings {
            if f.kind == FindingKind::Strict && !include_strict {
                continue;
            }
            let is_error = f.verdict != Verdict::Valid;
            if is_error {
                if double {
                    write!(err, "{}\n\n", f.cli_line())?;
                } else {
                    write!(err, "\n{}\n\n", f.cli_line())?;
                }
                double = true;
            } else if verbose {
                double = false;
                writeln!(out, "{}", f.cli_line())?;
            }
        }
        if !double {
            writeln!(out)?;
        }
        writeln!(
            out,
            "Results requested for {} to {}",
            self.requested_start, self.requested_end
        )?;
        let s = self.summary();
        if s.digests_valid
            + s.digests_invalid
            + s.backfill_digests_valid
            + s.backfill_digests_invalid
            == 0
        {
            writeln!(out, "No digests found")?;
            return Ok(());
        }
        match (&self.found_start, &self.found_end) {
            (Some(a), Some(b)) => writeln!(out, "Results found for {a} to {b}:")?,
            _ => writeln!(out, "No valid digests found in range")?,
        }
        let ratio =
            |out: &mut dyn Write, valid: usize, invalid: usize, name: &str| -> io::Result<()> {
                let total = valid + invalid;
                if total > 0 {
                    write!(out, "\n{valid}/{total} {name} files valid")?;
                    if invalid > 0 {
                        write!(out, ", {invalid}/{total} {name} files INVALID")?;
                    }
                }
                Ok(())
            };
        ratio(out, s.digests_valid, s.digests_invalid, "digest")?;
        ratio(
            out,
            s.backfill_digests_valid,
            s.backfill_digests_invalid,
            "backfill digest",
        )?;
        ratio(out, s.logs_valid, s.logs_invalid + s.logs_pending, "log")?;
        writeln!(out)?;
        Ok(())
    }
}
