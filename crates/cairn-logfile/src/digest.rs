//! Digest files (spec §6, §7): the document, its exact serialisation, the string to sign,
//! signing, chaining, and strict parsing of untrusted digests.
//!
//! # Wire format
//!
//! [`DigestFile::to_json`] writes compact JSON with the fields in exactly the order AWS
//! writes them (§6.2); absent values are JSON `null`, `logFiles` is always an array. AWS
//! additionally escapes `/` as `\/`; we do not (validators hash the stored bytes, never
//! re-serialise). The digest's own hash, its signature and the next digest's
//! `previousDigestHashValue` are all over the exact bytes returned by `to_json`.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::gz;
use crate::keys::{SIGNATURE_ALGORITHM, SigningKey};
use crate::layout::DigestFileKey;
use crate::logfile::EncodedLogFile;
use crate::timefmt;

/// The hash algorithm name written in digests.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// Default cap on a digest's uncompressed size when reading untrusted objects.
pub const DEFAULT_MAX_DIGEST: u64 = 64 * 1024 * 1024;
/// User-metadata key of the hex signature (`x-amz-meta-signature`).
pub const META_SIGNATURE: &str = "signature";
/// User-metadata key of the signature algorithm (`x-amz-meta-signature-algorithm`).
pub const META_SIGNATURE_ALGORITHM: &str = "signature-algorithm";
/// User-metadata key carried by backfill digests.
pub const META_BACKFILL_TIMESTAMP: &str = "backfill-generation-timestamp";

/// One `logFiles[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    /// Bucket of the log file.
    pub s3_bucket: String,
    /// Key of the log file.
    pub s3_object: String,
    /// Lowercase hex SHA-256 of the uncompressed log file.
    pub hash_value: String,
    /// `SHA-256`.
    pub hash_algorithm: String,
    /// Newest record time in the file.
    pub newest_event_time: String,
    /// Oldest record time in the file.
    pub oldest_event_time: String,
}

impl LogFileEntry {
    /// The entry for a file produced by [`crate::logfile::LogFileEncoder`] and stored at
    /// `bucket`/`key`. Errors if the file has no records (no event times).
    pub fn new(bucket: &str, key: &str, file: &EncodedLogFile) -> Result<Self> {
        let (Some(oldest), Some(newest)) = (file.oldest_event_time, file.newest_event_time) else {
            return Err(Error::InvalidLogFile {
                reason: "an empty log file cannot be listed in a digest".into(),
            });
        };
        Ok(LogFileEntry {
            s3_bucket: bucket.to_owned(),
            s3_object: key.to_owned(),
            hash_value: file.sha256_hex.clone(),
            hash_algorithm: HASH_ALGORITHM.to_owned(),
            newest_event_time: timefmt::format_event_time(newest)?,
            oldest_event_time: timefmt::format_event_time(oldest)?,
        })
    }
}

/// A CloudTrail digest document. Field order is the serialisation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    /// Account the digest is for.
    pub aws_account_id: String,
    /// Start of the delivery window (`YYYY-MM-DDTHH:MM:SSZ`).
    pub digest_start_time: String,
    /// End of the delivery window; used verbatim in the string to sign.
    pub digest_end_time: String,
    /// Bucket the digest is stored in.
    pub digest_s3_bucket: String,
    /// Key the digest is stored at.
    pub digest_s3_object: String,
    /// MD5 fingerprint of the signing key.
    pub digest_public_key_fingerprint: String,
    /// `SHA256withRSA`.
    pub digest_signature_algorithm: String,
    /// Max `newestEventTime` of the listed files; `None` when there are none.
    pub newest_event_time: Option<String>,
    /// Min `oldestEventTime` of the listed files; `None` when there are none.
    pub oldest_event_time: Option<String>,
    /// Previous digest's bucket; `None` in a starting digest.
    pub previous_digest_s3_bucket: Option<String>,
    /// Previous digest's key.
    pub previous_digest_s3_object: Option<String>,
    /// SHA-256 of the previous digest's uncompressed bytes.
    pub previous_digest_hash_value: Option<String>,
    /// `SHA-256`.
    pub previous_digest_hash_algorithm: Option<String>,
    /// Hex signature of the previous digest.
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the window (order not significant).
    pub log_files: Vec<LogFileEntry>,
}

/// The previous digest a new digest chains to.
#[derive(Debug, Clone, Copy)]
pub struct PreviousDigest<'a> {
    /// Where it is stored.
    pub bucket: &'a str,
    /// Its key.
    pub key: &'a str,
    /// Its exact uncompressed bytes.
    pub body: &'a [u8],
    /// Its hex signature (its `x-amz-meta-signature`).
    pub signature_hex: &'a str,
}

/// A signed digest ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDigest {
    /// Uncompressed JSON bytes (what is hashed and signed).
    pub body: Vec<u8>,
    /// Lowercase hex SHA-256 of `body`.
    pub sha256_hex: String,
    /// Lowercase hex signature: `x-amz-meta-signature`.
    pub signature_hex: String,
    /// The gzip object to store.
    pub gzip: Vec<u8>,
}

impl SignedDigest {
    /// The user metadata to store with the object (keys without `x-amz-meta-`).
    pub fn metadata(&self) -> [(&'static str, String); 2] {
        [
            (META_SIGNATURE, self.signature_hex.clone()),
            (META_SIGNATURE_ALGORITHM, SIGNATURE_ALGORITHM.to_owned()),
        ]
    }

    /// This digest as the previous link of the next one.
    pub fn as_previous<'a>(&'a self, bucket: &'a str, key: &'a str) -> PreviousDigest<'a> {
        PreviousDigest {
            bucket,
            key,
            body: &self.body,
            signature_hex: &self.signature_hex,
        }
    }
}

/// The string to sign (§7.1): four LF-separated lines, no trailing newline; a `None`
/// previous signature is the literal `null`.
pub fn string_to_sign(
    digest_end_time: &str,
    bucket: &str,
    object: &str,
    body_sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{bucket}/{object}\n{body_sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

impl DigestFile {
    /// A starting digest (all `previousDigest*` null, no log files) for `bucket`/`key`,
    /// covering `[start, key.end_time]`, signed by the key with `fingerprint`.
    pub fn new(
        bucket: &str,
        key: &DigestFileKey,
        start: OffsetDateTime,
        fingerprint: &str,
    ) -> Result<Self> {
        Ok(DigestFile {
            aws_account_id: key.account_id.clone(),
            digest_start_time: timefmt::format_event_time(start)?,
            digest_end_time: timefmt::format_event_time(key.end_time)?,
            digest_s3_bucket: bucket.to_owned(),
            digest_s3_object: key.to_key()?,
            digest_public_key_fingerprint: fingerprint.to_owned(),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: None,
            previous_digest_s3_object: None,
            previous_digest_hash_value: None,
            previous_digest_hash_algorithm: None,
            previous_digest_signature: None,
            log_files: Vec::new(),
        })
    }

    /// Whether this is a starting digest (no previous signature).
    pub fn is_starting(&self) -> bool {
        self.previous_digest_signature.is_none()
    }

    /// Lists a log file and widens `newestEventTime`/`oldestEventTime` to cover it.
    ///
    /// Times are compared as strings, which is correct for the canonical
    /// `YYYY-MM-DDTHH:MM:SSZ` form that [`LogFileEntry::new`] writes.
    pub fn add_log_file(&mut self, entry: LogFileEntry) {
        if self
            .newest_event_time
            .as_deref()
            .is_none_or(|n| entry.newest_event_time.as_str() > n)
        {
            self.newest_event_time = Some(entry.newest_event_time.clone());
        }
        if self
            .oldest_event_time
            .as_deref()
            .is_none_or(|o| entry.oldest_event_time.as_str() < o)
        {
            self.oldest_event_time = Some(entry.oldest_event_time.clone());
        }
        self.log_files.push(entry);
    }

    /// Fills the five `previousDigest*` fields from the previous digest (§7.3).
    pub fn chain_to(&mut self, previous: &PreviousDigest<'_>) {
        self.previous_digest_s3_bucket = Some(previous.bucket.to_owned());
        self.previous_digest_s3_object = Some(previous.key.to_owned());
        self.previous_digest_hash_value = Some(gz::sha256_hex(previous.body));
        self.previous_digest_hash_algorithm = Some(HASH_ALGORITHM.to_owned());
        self.previous_digest_signature = Some(previous.signature_hex.to_owned());
    }

    /// The compact JSON bytes, fields in AWS order.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::digest("$", e.to_string()))
    }

    /// The string to sign for this digest whose serialized bytes hash to `body_sha256_hex`.
    pub fn string_to_sign(&self, body_sha256_hex: &str) -> String {
        string_to_sign(
            &self.digest_end_time,
            &self.digest_s3_bucket,
            &self.digest_s3_object,
            body_sha256_hex,
            self.previous_digest_signature.as_deref(),
        )
    }

    /// Serialises, hashes, signs and gzips this digest.
    ///
    /// Errors with [`Error::InvalidDigest`] if `key` is not the key named by
    /// `digestPublicKeyFingerprint`.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedDigest> {
        if key.fingerprint() != self.digest_public_key_fingerprint {
            return Err(Error::digest(
                "digestPublicKeyFingerprint",
                "does not match the signing key",
            ));
        }
        let body = self.to_json()?;
        let sha256_hex = gz::sha256_hex(&body);
        let signature_hex = key.sign_hex(self.string_to_sign(&sha256_hex).as_bytes())?;
        let gzip = gz::gzip(&body, 6);
        Ok(SignedDigest {
            body,
            sha256_hex,
            signature_hex,
            gzip,
        })
    }

    /// Parses `digestStartTime`.
    pub fn start_time(&self) -> Result<OffsetDateTime> {
        timefmt::parse_event_time(&self.digest_start_time)
    }

    /// Parses `digestEndTime`.
    pub fn end_time(&self) -> Result<OffsetDateTime> {
        timefmt::parse_event_time(&self.digest_end_time)
    }

    /// Parses untrusted digest JSON (uncompressed).
    ///
    /// Strict on types: every known field must have its documented JSON type, and these must
    /// be present: the six keys the AWS CLI requires (`digestPublicKeyFingerprint`,
    /// `digestS3Bucket`, `digestS3Object`, `previousDigestSignature` (may be null),
    /// `digestEndTime`, `digestStartTime`) plus `awsAccountId`, `digestSignatureAlgorithm` and
    /// `logFiles`. Other nullable fields may be absent (read as null). Unknown fields are
    /// ignored. Time strings are kept verbatim (see [`DigestFile::start_time`]).
    pub fn parse(json: &[u8]) -> Result<Self> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| Error::digest("$", e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(Error::digest("$", "not a JSON object"));
        };
        let log_files = match map.get("logFiles") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_entry(i, item))
                .collect::<Result<Vec<_>>>()?,
            Some(_) => return Err(Error::digest("logFiles", "expected an array")),
            None => return Err(Error::digest("logFiles", "missing")),
        };
        Ok(DigestFile {
            aws_account_id: req_str(&map, "awsAccountId", "")?,
            digest_start_time: req_str(&map, "digestStartTime", "")?,
            digest_end_time: req_str(&map, "digestEndTime", "")?,
            digest_s3_bucket: req_str(&map, "digestS3Bucket", "")?,
            digest_s3_object: req_str(&map, "digestS3Object", "")?,
            digest_public_key_fingerprint: req_str(&map, "digestPublicKeyFingerprint", "")?,
            digest_signature_algorithm: req_str(&map, "digestSignatureAlgorithm", "")?,
            newest_event_time: opt_str(&map, "newestEventTime", false)?,
            oldest_event_time: opt_str(&map, "oldestEventTime", false)?,
            previous_digest_s3_bucket: opt_str(&map, "previousDigestS3Bucket", false)?,
            previous_digest_s3_object: opt_str(&map, "previousDigestS3Object", false)?,
            previous_digest_hash_value: opt_str(&map, "previousDigestHashValue", false)?,
            previous_digest_hash_algorithm: opt_str(&map, "previousDigestHashAlgorithm", false)?,
            previous_digest_signature: opt_str(&map, "previousDigestSignature", true)?,
            log_files,
        })
    }

    /// Reads a stored digest object (gzip, or plain JSON), capped at `max_uncompressed`
    /// bytes, returning the document and its exact uncompressed bytes.
    pub fn from_object(object: &[u8], max_uncompressed: u64) -> Result<(Self, Vec<u8>)> {
        let body = gz::maybe_gunzip(object, max_uncompressed)?.into_owned();
        let d = Self::parse(&body)?;
        Ok((d, body))
    }
}

fn req_str(map: &Map<String, Value>, name: &str, path: &str) -> Result<String> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::digest(format!("{path}{name}"), "expected a string")),
        None => Err(Error::digest(format!("{path}{name}"), "missing")),
    }
}

fn opt_str(map: &Map<String, Value>, name: &str, required: bool) -> Result<Option<String>> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        Some(_) => Err(Error::digest(name, "expected a string or null")),
        None if required => Err(Error::digest(name, "missing")),
        None => Ok(None),
    }
}

fn parse_entry(i: usize, item: &Value) -> Result<LogFileEntry> {
    let path = format!("logFiles[{i}].");
    let Value::Object(map) = item else {
        return Err(Error::digest(
            format!("logFiles[{i}]"),
            "expected an object",
        ));
    };
    Ok(LogFileEntry {
        s3_bucket: req_str(map, "s3Bucket", &path)?,
        s3_object: req_str(map, "s3Object", &path)?,
        hash_value: req_str(map, "hashValue", &path)?,
        hash_algorithm: req_str(map, "hashAlgorithm", &path)?,
        newest_event_time: req_str(map, "newestEventTime", &path)?,
        oldest_event_time: req_str(map, "oldestEventTime", &path)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::tests::{SPEC_FINGERPRINT, SPEC_PEM, data};
    use crate::layout::{Prefix, parse_digest_key};
    use proptest::prelude::*;
    use time::macros::datetime;

    pub(crate) const D0: &str = r#"{"awsAccountId":"111122223333","digestStartTime":"2025-03-04T04:01:31Z","digestEndTime":"2025-03-04T05:01:31Z","digestS3Bucket":"amzn-s3-demo-bucket","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2025/03/04/111122223333_CloudTrail-Digest_us-east-2_example-trail_us-east-2_20250304T050131Z.json.gz","digestPublicKeyFingerprint":"b2ead06924bc1fd802099fc8106d50e4","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}"#;
    pub(crate) const D1: &str = r#"{"awsAccountId":"111122223333","digestStartTime":"2025-03-04T05:01:31Z","digestEndTime":"2025-03-04T06:01:31Z","digestS3Bucket":"amzn-s3-demo-bucket","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2025/03/04/111122223333_CloudTrail-Digest_us-east-2_example-trail_us-east-2_20250304T060131Z.json.gz","digestPublicKeyFingerprint":"b2ead06924bc1fd802099fc8106d50e4","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2025-03-04T05:12:44Z","oldestEventTime":"2025-03-04T05:12:44Z","previousDigestS3Bucket":"amzn-s3-demo-bucket","previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2025/03/04/111122223333_CloudTrail-Digest_us-east-2_example-trail_us-east-2_20250304T050131Z.json.gz","previousDigestHashValue":"272b5ed9c0c9a39d3e85407e177f586773c65db43cc9980cdd0947dcf043a62b","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"88823615c21608632dc49255bf73df9ec2601af93fdc87da260e5ef4a4e7cf58da49d65f8d8768976bb38fd8a65b419e77f1825c3e91cfa945b08e528194ea97a344f0d99f8bebca72f986fa2a267649b2bf27ac4bf8736524c4d66cd0625013ee317788fb148b5f71ea031079222fb65a8d10810a1852e160a9ee4855a1d04f5bf591df373727d982f64d9a516ae5acc18193d29a8c394bbcbd65ffd266eec8597d5201f0e54dbbaa65f7bef5c9f24376fc09eb48a33ae8c40511efb661cde32e74c19f900ad9bad4512bfe18e9e11ddd3b98d2d393a81146ad00c30436a8f815e9ea44ce5a4f7766907aed21bd46f08c00e21c2b66c0b3fb4563bf60c7fd79","logFiles":[{"s3Bucket":"amzn-s3-demo-bucket","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-2/2025/03/04/111122223333_CloudTrail_us-east-2_20250304T0515Z_AbCdEfGh12345678.json.gz","hashValue":"94a2f8b4a2c3a3ce2860fd5523c0b71771ecabf2481d2b262eabaa7721c85bb3","hashAlgorithm":"SHA-256","newestEventTime":"2025-03-04T05:12:44Z","oldestEventTime":"2025-03-04T05:12:44Z"}]}"#;
    pub(crate) const D0_SHA: &str =
        "272b5ed9c0c9a39d3e85407e177f586773c65db43cc9980cdd0947dcf043a62b";
    pub(crate) const D1_SHA: &str =
        "b31a1558245f8ce99c8196613a56793bce9cf3715f8b39ae6ccb5bc2d86c0e70";
    pub(crate) const D0_SIG: &str = "88823615c21608632dc49255bf73df9ec2601af93fdc87da260e5ef4a4e7cf58da49d65f8d8768976bb38fd8a65b419e77f1825c3e91cfa945b08e528194ea97a344f0d99f8bebca72f986fa2a267649b2bf27ac4bf8736524c4d66cd0625013ee317788fb148b5f71ea031079222fb65a8d10810a1852e160a9ee4855a1d04f5bf591df373727d982f64d9a516ae5acc18193d29a8c394bbcbd65ffd266eec8597d5201f0e54dbbaa65f7bef5c9f24376fc09eb48a33ae8c40511efb661cde32e74c19f900ad9bad4512bfe18e9e11ddd3b98d2d393a81146ad00c30436a8f815e9ea44ce5a4f7766907aed21bd46f08c00e21c2b66c0b3fb4563bf60c7fd79";
    pub(crate) const D1_SIG: &str = "7eb712f7548df34f0a38cb6f19103ffaec9f87f2466dfab665f40ca0d39ece5dd23d5a4b3e3cc0f7e2c4731e096011ea883454cf9497ca6aab62721d0236d315993fd94e8aabc3d6c7a389cf0fd2059a3d61d4739837955d57efcf11da22b320a2e4cbc0da733874bb833de0988fe2750ea378941731d0fc8364ee62f078010b3843417d7e439dc5a5eff3ed471eaf17db47f890b9326203d9729d42a05e205013a9b1231335a82e9f5fbd25b27506c970d04047f2d97bda48fcefab784bc71371088b79099d82bed32de5968097daecdbd8f3ae5252e7d58fdd1e5ad5ca1cb69ca250519dccd82d13d25f4905667b775262a05e485fbf55f4b33ee642ceb9d7";

    #[test]
    fn spec_vector_built_byte_exact() {
        let key = SigningKey::from_pem(SPEC_PEM).unwrap();
        let bucket = "amzn-s3-demo-bucket";
        let k0 = parse_digest_key("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2025/03/04/111122223333_CloudTrail-Digest_us-east-2_example-trail_us-east-2_20250304T050131Z.json.gz").unwrap();
        let d0 = DigestFile::new(
            bucket,
            &k0,
            datetime!(2025-03-04 04:01:31 UTC),
            key.fingerprint(),
        )
        .unwrap();
        let s0 = d0.sign(&key).unwrap();
        assert_eq!(s0.body, D0.as_bytes());
        assert_eq!(s0.sha256_hex, D0_SHA);
        assert_eq!(
            d0.string_to_sign(&s0.sha256_hex),
            format!(
                "2025-03-04T05:01:31Z\n{bucket}/{}\n{D0_SHA}\nnull",
                k0.to_key().unwrap()
            )
        );
        assert_eq!(s0.signature_hex, D0_SIG);
        assert_eq!(gz::gunzip_capped(&s0.gzip, 1 << 20).unwrap(), s0.body);

        let k1 = crate::layout::DigestFileKey {
            end_time: datetime!(2025-03-04 06:01:31 UTC),
            ..k0.clone()
        };
        let mut d1 = DigestFile::new(
            bucket,
            &k1,
            datetime!(2025-03-04 05:01:31 UTC),
            SPEC_FINGERPRINT,
        )
        .unwrap();
        let mut enc = crate::logfile::LogFileEncoder::default();
        enc.push_record(crate::validate::tests::VECTOR_RECORD.as_bytes())
            .unwrap();
        let log = enc.finish().unwrap();
        let log_key = "AWSLogs/111122223333/CloudTrail/us-east-2/2025/03/04/111122223333_CloudTrail_us-east-2_20250304T0515Z_AbCdEfGh12345678.json.gz";
        d1.add_log_file(LogFileEntry::new(bucket, log_key, &log).unwrap());
        d1.chain_to(&s0.as_previous(bucket, &k0.to_key().unwrap()));
        let s1 = d1.sign(&key).unwrap();
        assert_eq!(s1.body, D1.as_bytes());
        assert_eq!(s1.sha256_hex, D1_SHA);
        assert_eq!(s1.signature_hex, D1_SIG);
        assert!(
            key.public_key()
                .verify_hex(d1.string_to_sign(D1_SHA).as_bytes(), D1_SIG)
        );
        assert_eq!(k0.prefix, Prefix::NONE);
    }

    #[test]
    fn spec_vector_parses_and_reserialises() {
        for (text, sha) in [(D0, D0_SHA), (D1, D1_SHA)] {
            let d = DigestFile::parse(text.as_bytes()).unwrap();
            assert_eq!(d.to_json().unwrap(), text.as_bytes());
            assert_eq!(gz::sha256_hex(text.as_bytes()), sha);
        }
        assert!(DigestFile::parse(D0.as_bytes()).unwrap().is_starting());
    }

    #[test]
    fn aws_cli_string_to_sign_vector() {
        let v: serde_json::Value =
            serde_json::from_slice(&data("aws-cli/validation_test_vectors.json")).unwrap();
        let vec = &v["vectors"][0];
        let dd = &vec["digest_data"];
        let hash = gz::sha256_hex(
            vec["inflated_digest_bytes_utf8"]
                .as_str()
                .unwrap()
                .as_bytes(),
        );
        let s = string_to_sign(
            dd["digestEndTime"].as_str().unwrap(),
            dd["digestS3Bucket"].as_str().unwrap(),
            dd["digestS3Object"].as_str().unwrap(),
            &hash,
            dd["previousDigestSignature"].as_str(),
        );
        assert_eq!(s, vec["expected_string_to_sign"].as_str().unwrap());
    }

    #[test]
    fn real_and_sample_digests_parse() {
        let real = data(
            "real-digest-llm-guard/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json",
        );
        assert_eq!(
            gz::sha256_hex(&real),
            "4277102dccf54c0c247738ca5e6e3504b7370206ef1c82855994ec23441ae1ed"
        );
        let d = DigestFile::parse(&real).unwrap();
        assert_eq!(d.aws_account_id, "327878933619");
        assert_eq!(
            d.digest_public_key_fingerprint,
            "be2f0b997552f44942837300ba1aba9d"
        );
        assert_eq!(d.log_files.len(), 5);
        assert_eq!(d.previous_digest_signature.as_ref().unwrap().len(), 512);
        let k = parse_digest_key(&d.digest_s3_object).unwrap();
        assert_eq!(
            (k.source_region.as_str(), k.home_region.as_str()),
            ("ap-northeast-1", "us-west-2")
        );
        assert_eq!(k.end_time, d.end_time().unwrap());
        for f in &d.log_files {
            let lk = crate::layout::parse_log_key(&f.s3_object).unwrap();
            assert_eq!(lk.region, "ap-northeast-1");
        }
        // Newest/oldest over the entries, as add_log_file computes them.
        let mut rebuilt = DigestFile {
            log_files: vec![],
            newest_event_time: None,
            oldest_event_time: None,
            ..d.clone()
        };
        for f in d.log_files.clone() {
            rebuilt.add_log_file(f);
        }
        assert_eq!(rebuilt, d);
        for name in [
            "aws-docs/sample_digest_1.json",
            "aws-docs/sample_digest_2.json",
        ] {
            let d = DigestFile::parse(&data(name)).unwrap();
            assert_eq!(
                d.digest_public_key_fingerprint,
                "31e8b5433410dfb61a9dc45cc65b22ff"
            );
        }
    }

    #[test]
    fn strict_parse_errors() {
        let cases: &[(&str, &str)] = &[
            ("[]", "$"),
            ("{", "$"),
            (
                &D0.replace(r#""digestS3Bucket":"amzn-s3-demo-bucket","#, ""),
                "digestS3Bucket",
            ),
            (
                &D0.replace(r#""previousDigestSignature":null,"#, ""),
                "previousDigestSignature",
            ),
            (
                &D0.replace(
                    r#""awsAccountId":"111122223333""#,
                    r#""awsAccountId":111122223333"#,
                ),
                "awsAccountId",
            ),
            (
                &D0.replace(r#""logFiles":[]"#, r#""logFiles":{}"#),
                "logFiles",
            ),
            (
                &D0.replace(r#""newestEventTime":null"#, r#""newestEventTime":5"#),
                "newestEventTime",
            ),
            (
                &D0.replace(r#""logFiles":[]"#, r#""logFiles":[1]"#),
                "logFiles[0]",
            ),
            (
                &D1.replace(r#""hashValue":"94a2"#, r#""hashValue":null,"x":"94a2"#),
                "logFiles[0].hashValue",
            ),
        ];
        for (text, field) in cases {
            match DigestFile::parse(text.as_bytes()) {
                Err(Error::InvalidDigest { field: f, .. }) => assert_eq!(&f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // Missing optional nullable fields and unknown fields are accepted.
        let lenient = D0
            .replace(r#""newestEventTime":null,"#, "")
            .replace("{\"aws", "{\"futureField\":[1],\"aws");
        assert!(
            DigestFile::parse(lenient.as_bytes())
                .unwrap()
                .newest_event_time
                .is_none()
        );
    }

    #[test]
    fn sign_refuses_wrong_key() {
        let key = SigningKey::from_pem(SPEC_PEM).unwrap();
        let mut d = DigestFile::parse(D0.as_bytes()).unwrap();
        d.digest_public_key_fingerprint = "00".repeat(16);
        assert!(d.sign(&key).is_err());
    }

    #[test]
    fn from_object_gzip_and_cap() {
        let gzd = gz::gzip(D1.as_bytes(), 6);
        let (d, body) = DigestFile::from_object(&gzd, DEFAULT_MAX_DIGEST).unwrap();
        assert_eq!(body, D1.as_bytes());
        assert_eq!(d.log_files.len(), 1);
        assert!(DigestFile::from_object(&gzd, 100).is_err());
    }

    fn arb_opt() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("\\PC{0,20}")
    }

    fn arb_entry() -> impl Strategy<Value = LogFileEntry> {
        (
            "\\PC{0,10}",
            "\\PC{0,40}",
            "[0-9a-f]{64}",
            "\\PC{0,8}",
            "\\PC{0,20}",
            "\\PC{0,20}",
        )
            .prop_map(|(a, b, c, d, e, f)| LogFileEntry {
                s3_bucket: a,
                s3_object: b,
                hash_value: c,
                hash_algorithm: d,
                newest_event_time: e,
                oldest_event_time: f,
            })
    }

    proptest! {
        #[test]
        fn digest_json_round_trips(
            strs in proptest::collection::vec("\\PC{0,30}", 7),
            opts in proptest::collection::vec(arb_opt(), 7),
            logs in proptest::collection::vec(arb_entry(), 0..4),
        ) {
            let d = DigestFile {
                aws_account_id: strs[0].clone(), digest_start_time: strs[1].clone(),
                digest_end_time: strs[2].clone(), digest_s3_bucket: strs[3].clone(),
                digest_s3_object: strs[4].clone(), digest_public_key_fingerprint: strs[5].clone(),
                digest_signature_algorithm: strs[6].clone(),
                newest_event_time: opts[0].clone(), oldest_event_time: opts[1].clone(),
                previous_digest_s3_bucket: opts[2].clone(), previous_digest_s3_object: opts[3].clone(),
                previous_digest_hash_value: opts[4].clone(), previous_digest_hash_algorithm: opts[5].clone(),
                previous_digest_signature: opts[6].clone(), log_files: logs,
            };
            let json = d.to_json().unwrap();
            let back = DigestFile::parse(&json).unwrap();
            prop_assert_eq!(&back, &d);
            prop_assert_eq!(back.to_json().unwrap(), json);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = DigestFile::parse(&bytes);
            let _ = DigestFile::from_object(&bytes, 10_000);
        }
    }
}
