//! Log file bodies: `{"Records":[r1,r2,...]}` encoding into gzip, the size-capped batch, and
//! the bounded reader (spec §3).
//!
//! # Wire format
//!
//! The uncompressed body is exactly the bytes `{"Records":[` + records joined by `,` + `]}`,
//! with each record copied verbatim (no re-serialisation). The SHA-256 reported by
//! [`LogFileEncoder::finish`] is over exactly those bytes, i.e. what a digest lists as
//! `hashValue`. The body is streamed into a gzip encoder and the hasher together, so it is
//! never held uncompressed.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::gz;
use crate::timefmt;

/// Default cap on a log file's uncompressed size: 50 MB (CloudTrail's quota, before
/// compression).
pub const DEFAULT_MAX_UNCOMPRESSED: u64 = 50_000_000;
/// Default cap when reading (decompressing) an untrusted log file.
pub const DEFAULT_MAX_READ: u64 = 256 * 1024 * 1024;
/// Default gzip level (zlib's default).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

const HEAD: &[u8] = b"{\"Records\":[";
const TAIL: &[u8] = b"]}";
const STAGE: usize = 64 * 1024;

/// A finished log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLogFile {
    /// The gzip object to store.
    pub gzip: Vec<u8>,
    /// Lowercase hex SHA-256 of the uncompressed body.
    pub sha256_hex: String,
    /// Length of the uncompressed body.
    pub uncompressed_len: u64,
    /// Number of records.
    pub record_count: usize,
    /// Oldest record `eventTime` (`None` only for an empty file).
    pub oldest_event_time: Option<OffsetDateTime>,
    /// Newest record `eventTime` (`None` only for an empty file).
    pub newest_event_time: Option<OffsetDateTime>,
}

/// Streams records into a gzip log file while hashing the uncompressed bytes.
pub struct LogFileEncoder {
    gz: GzEncoder<Vec<u8>>,
    /// Staging buffer: gzip and SHA-256 are fed in large chunks, not per record.
    buf: Vec<u8>,
    hasher: Sha256,
    len: u64,
    records: usize,
    oldest: Option<OffsetDateTime>,
    newest: Option<OffsetDateTime>,
}

impl std::fmt::Debug for LogFileEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFileEncoder")
            .field("uncompressed_len", &self.len)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl Default for LogFileEncoder {
    fn default() -> Self {
        Self::new(DEFAULT_GZIP_LEVEL)
    }
}

fn io_err(source: std::io::Error) -> Error {
    Error::Io {
        context: "gzip encoding",
        source,
    }
}

#[derive(Deserialize)]
struct EventTimeOnly<'a> {
    #[serde(rename = "eventTime", borrow)]
    event_time: &'a str,
}

/// Extracts and parses the top-level `eventTime` of a serialized record.
pub fn record_event_time(record: &[u8]) -> Result<OffsetDateTime> {
    let t: EventTimeOnly<'_> =
        serde_json::from_slice(record).map_err(|e| Error::InvalidRecord {
            reason: format!("no top-level string eventTime: {e}"),
        })?;
    timefmt::parse_event_time(t.event_time)
}

impl LogFileEncoder {
    /// A new, empty encoder at gzip `level` (0-9).
    pub fn new(level: u32) -> Self {
        LogFileEncoder {
            gz: GzEncoder::new(
                Vec::with_capacity(64 * 1024),
                Compression::new(level.min(9)),
            ),
            buf: Vec::with_capacity(STAGE + 4096),
            hasher: Sha256::new(),
            len: 0,
            records: 0,
            oldest: None,
            newest: None,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.len += bytes.len() as u64;
        if bytes.len() >= STAGE {
            self.flush()?;
            self.gz.write_all(bytes).map_err(io_err)?;
            self.hasher.update(bytes);
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= STAGE {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.gz.write_all(&self.buf).map_err(io_err)?;
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }

    /// Appends one record, given its `eventTime`.
    ///
    /// `record` must be one compact JSON object (it is copied verbatim); only its first and
    /// last bytes are checked here.
    pub fn push(&mut self, record: &[u8], event_time: OffsetDateTime) -> Result<()> {
        if record.first() != Some(&b'{') || record.last() != Some(&b'}') {
            return Err(Error::InvalidRecord {
                reason: "a record must be one JSON object".into(),
            });
        }
        if self.records == 0 {
            self.write(HEAD)?;
        } else {
            self.write(b",")?;
        }
        self.write(record)?;
        self.records += 1;
        self.oldest = Some(self.oldest.map_or(event_time, |o| o.min(event_time)));
        self.newest = Some(self.newest.map_or(event_time, |n| n.max(event_time)));
        Ok(())
    }

    /// Appends one record, reading its top-level `eventTime` (a full JSON scan of the record).
    pub fn push_record(&mut self, record: &[u8]) -> Result<()> {
        let t = record_event_time(record)?;
        self.push(record, t)
    }

    /// Number of records so far.
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// Uncompressed length of the file if it were finished now.
    pub fn uncompressed_len(&self) -> u64 {
        let head = if self.records == 0 {
            HEAD.len() as u64
        } else {
            0
        };
        self.len + head + TAIL.len() as u64
    }

    /// Uncompressed length of the file if `record_len` more bytes of record were pushed.
    pub fn len_with(&self, record_len: usize) -> u64 {
        let sep = u64::from(self.records > 0);
        self.uncompressed_len() + sep + record_len as u64
    }

    /// Closes the body and the gzip stream.
    pub fn finish(mut self) -> Result<EncodedLogFile> {
        if self.records == 0 {
            self.write(HEAD)?;
        }
        self.write(TAIL)?;
        self.flush()?;
        let gzip = self.gz.finish().map_err(io_err)?;
        Ok(EncodedLogFile {
            gzip,
            sha256_hex: hex::encode(self.hasher.finalize()),
            uncompressed_len: self.len,
            record_count: self.records,
            oldest_event_time: self.oldest,
            newest_event_time: self.newest,
        })
    }
}

/// What [`LogBatch::push`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The record is in the batch.
    Added,
    /// The record would push the batch over its cap and was **not** added: finish this batch,
    /// start a new one and push the record there.
    Full,
}

/// A size-capped log file under construction: tells the caller when to roll.
///
/// Guarantees: the finished body never exceeds `max_uncompressed` bytes, records keep their
/// push order, and an empty batch produces no file.
#[derive(Debug)]
pub struct LogBatch {
    enc: LogFileEncoder,
    max_uncompressed: u64,
}

impl Default for LogBatch {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_UNCOMPRESSED, DEFAULT_GZIP_LEVEL)
    }
}

impl LogBatch {
    /// A batch capped at `max_uncompressed` bytes of body, gzip `level`.
    pub fn new(max_uncompressed: u64, level: u32) -> Self {
        LogBatch {
            enc: LogFileEncoder::new(level),
            max_uncompressed,
        }
    }

    /// Whether a record of `record_len` bytes still fits.
    pub fn fits(&self, record_len: usize) -> bool {
        self.enc.len_with(record_len) <= self.max_uncompressed
    }

    /// Adds a record or reports [`Push::Full`].
    ///
    /// Errors with [`Error::TooLarge`] when the record would not fit even in an empty batch
    /// (it can never be delivered under this cap).
    pub fn push(&mut self, record: &[u8], event_time: OffsetDateTime) -> Result<Push> {
        if self.fits(record.len()) {
            self.enc.push(record, event_time)?;
            Ok(Push::Added)
        } else if self.enc.record_count() == 0 {
            Err(Error::TooLarge {
                what: "record in an empty log file",
                limit: self.max_uncompressed,
            })
        } else {
            Ok(Push::Full)
        }
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.enc.record_count()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.enc.record_count() == 0
    }

    /// Uncompressed size the batch would have if finished now.
    pub fn uncompressed_len(&self) -> u64 {
        self.enc.uncompressed_len()
    }

    /// Finishes the file; `None` for an empty batch (CloudTrail writes no empty log files).
    pub fn finish(self) -> Result<Option<EncodedLogFile>> {
        if self.is_empty() {
            return Ok(None);
        }
        let f = self.enc.finish()?;
        debug_assert!(f.uncompressed_len <= self.max_uncompressed);
        Ok(Some(f))
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Vec<Box<RawValue>>,
}

/// Reads a log file (gzip or plain JSON) into its raw records, each the exact JSON text of
/// one record.
///
/// At most `max_uncompressed` bytes are decompressed. Errors: [`Error::InvalidGzip`],
/// [`Error::TooLarge`], [`Error::InvalidLogFile`] (not `{"Records":[{..},..]}`).
pub fn decode_log_file(bytes: &[u8], max_uncompressed: u64) -> Result<Vec<Box<RawValue>>> {
    let body = gz::maybe_gunzip(bytes, max_uncompressed)?;
    let parsed: Body = serde_json::from_slice(&body).map_err(|e| Error::InvalidLogFile {
        reason: e.to_string(),
    })?;
    if let Some(i) = parsed
        .records
        .iter()
        .position(|r| !r.get().starts_with('{'))
    {
        return Err(Error::InvalidLogFile {
            reason: format!("record {i} is not a JSON object"),
        });
    }
    Ok(parsed.records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    use crate::validate::tests::VECTOR_RECORD;

    #[test]
    fn spec_vector_log_file() {
        let mut enc = LogFileEncoder::default();
        enc.push_record(VECTOR_RECORD.as_bytes()).unwrap();
        let predicted = enc.uncompressed_len();
        let f = enc.finish().unwrap();
        assert_eq!(
            f.sha256_hex,
            "94a2f8b4a2c3a3ce2860fd5523c0b71771ecabf2481d2b262eabaa7721c85bb3"
        );
        assert_eq!(f.record_count, 1);
        assert_eq!(f.uncompressed_len, predicted);
        assert_eq!(
            f.oldest_event_time,
            Some(datetime!(2025-03-04 05:12:44 UTC))
        );
        assert_eq!(f.newest_event_time, f.oldest_event_time);
        let body = gz::gunzip_capped(&f.gzip, 1 << 20).unwrap();
        assert_eq!(
            body,
            format!("{{\"Records\":[{VECTOR_RECORD}]}}").as_bytes()
        );
        let back = decode_log_file(&f.gzip, 1 << 20).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].get(), VECTOR_RECORD);
    }

    #[test]
    fn empty_and_multi() {
        let f = LogFileEncoder::default().finish().unwrap();
        assert_eq!(
            gz::gunzip_capped(&f.gzip, 100).unwrap(),
            b"{\"Records\":[]}"
        );
        assert_eq!(f.uncompressed_len, 14);
        assert_eq!(f.oldest_event_time, None);
        let mut enc = LogFileEncoder::default();
        enc.push(b"{\"a\":1}", datetime!(2024-01-01 00:00:05 UTC))
            .unwrap();
        enc.push(b"{\"b\":2}", datetime!(2024-01-01 00:00:01 UTC))
            .unwrap();
        enc.push(b"{\"c\":3}", datetime!(2024-01-01 00:00:09 UTC))
            .unwrap();
        let f = enc.finish().unwrap();
        assert_eq!(
            gz::gunzip_capped(&f.gzip, 100).unwrap(),
            b"{\"Records\":[{\"a\":1},{\"b\":2},{\"c\":3}]}"
        );
        assert_eq!(
            f.oldest_event_time,
            Some(datetime!(2024-01-01 00:00:01 UTC))
        );
        assert_eq!(
            f.newest_event_time,
            Some(datetime!(2024-01-01 00:00:09 UTC))
        );
    }

    #[test]
    fn rejects_non_objects() {
        let mut enc = LogFileEncoder::default();
        assert!(enc.push(b"[1]", OffsetDateTime::UNIX_EPOCH).is_err());
        assert!(enc.push(b"", OffsetDateTime::UNIX_EPOCH).is_err());
        assert!(enc.push_record(b"{\"eventTime\":5}").is_err());
        assert!(enc.push_record(b"{\"eventTime\":\"yesterday\"}").is_err());
        assert!(
            enc.push_record(b"{\"x\":{\"eventTime\":\"2024-01-01T00:00:00Z\"}}")
                .is_err()
        );
    }

    #[test]
    fn real_logs_round_trip() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/cloudtrail/invictus-ir-sigma-aws"
        );
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let raw = std::fs::read(&path).unwrap();
            let records = decode_log_file(&raw, DEFAULT_MAX_READ).unwrap();
            let mut enc = LogFileEncoder::default();
            for r in &records {
                enc.push_record(r.get().as_bytes()).unwrap();
            }
            let f = enc.finish().unwrap();
            assert_eq!(f.record_count, records.len());
            let again = decode_log_file(&f.gzip, DEFAULT_MAX_READ).unwrap();
            let a: Vec<&str> = records.iter().map(|r| r.get()).collect();
            let b: Vec<&str> = again.iter().map(|r| r.get()).collect();
            assert_eq!(a, b);
            files += 1;
        }
        assert!(files >= 50, "{files}");
    }

    #[test]
    fn decoder_rejects_bad_bodies() {
        for bad in [
            &b"{}"[..],
            b"{\"Records\":{}}",
            b"{\"Records\":[1]}",
            b"not json",
            b"{\"Records\":[{}]",
        ] {
            assert!(
                decode_log_file(bad, 1000).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let bomb = gz::gzip(&vec![b' '; 1_000_000], 9);
        assert!(matches!(
            decode_log_file(&bomb, 1000),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn batch_too_large_record() {
        let mut b = LogBatch::new(20, 1);
        assert!(matches!(
            b.push(b"{\"aaaaaaaaaaaaaa\":1}", OffsetDateTime::UNIX_EPOCH),
            Err(Error::TooLarge { .. })
        ));
        assert!(b.finish().unwrap().is_none());
    }

    proptest! {
        #[test]
        fn batch_respects_cap_and_order(
            sizes in proptest::collection::vec(0usize..200, 1..60),
            cap in 250u64..2000,
        ) {
            let records: Vec<Vec<u8>> = sizes.iter().enumerate()
                .map(|(i, n)| format!("{{\"i\":{i},\"p\":\"{}\"}}", "x".repeat(*n)).into_bytes())
                .collect();
            let mut files = Vec::new();
            let mut batch = LogBatch::new(cap, 1);
            for r in &records {
                match batch.push(r, OffsetDateTime::UNIX_EPOCH).unwrap() {
                    Push::Added => {}
                    Push::Full => {
                        let full = std::mem::replace(&mut batch, LogBatch::new(cap, 1));
                        files.push(full.finish().unwrap().unwrap());
                        prop_assert_eq!(batch.push(r, OffsetDateTime::UNIX_EPOCH).unwrap(), Push::Added);
                    }
                }
            }
            files.extend(batch.finish().unwrap());
            let mut seen = Vec::new();
            for f in &files {
                prop_assert!(f.uncompressed_len <= cap);
                let body = gz::gunzip_capped(&f.gzip, cap).unwrap();
                prop_assert_eq!(body.len() as u64, f.uncompressed_len);
                prop_assert_eq!(gz::sha256_hex(&body), f.sha256_hex.clone());
                for r in decode_log_file(&body, cap).unwrap() {
                    seen.push(r.get().as_bytes().to_vec());
                }
            }
            prop_assert_eq!(seen, records);
        }
    }
}
