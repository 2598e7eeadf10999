//! CloudTrail log files, object-key layout, digest files, signing and validation — the pure
//! parts (no tokio, no network, no clock).
//!
//! | module | spec (`cloudtrail-formats.md`) | what |
//! |---|---|---|
//! | [`layout`] | §2 | object keys of log files and digests, parsers, prefix/confinement rules |
//! | [`logfile`] | §3 | `{"Records":[...]}` gzip encoder with SHA-256, size-capped batch, bounded reader |
//! | [`digest`] | §6, §7 | the digest document (AWS field order), string to sign, signing, chaining, strict parsing |
//! | [`keys`] | §7.2, §8 | RSA-2048 keys (aws-lc-rs), SHA256withRSA, PKCS#1 public key, MD5 fingerprint |
//! | [`validate`] | §10 | the `validate-logs` chain walk over a [`validate::DigestSource`], plus stricter checks |
//! | [`gz`] | §1 | capped gunzip and streaming gunzip → SHA-256 |
//!
//! # Guarantees
//!
//! - Hashes are over the exact uncompressed bytes produced or stored; nothing is re-serialised.
//! - A digest built by [`digest::DigestFile`] serialises to the byte-exact form of the spec's
//!   §9 test vector, and signing is deterministic (PKCS#1 v1.5).
//! - Keys built from event fields stay under the prefix: every component is validated.
//! - Every decoder of untrusted input has a size cap; no library code panics on bad input.
//! - The validator reports what `aws cloudtrail validate-logs` reports, with the same reason
//!   strings, and its strict mode adds the checks the CLI skips.
//!
//! # Example
//!
//! ```
//! use cairn_logfile::digest::{DigestFile, LogFileEntry};
//! use cairn_logfile::keys::SigningKey;
//! use cairn_logfile::layout::{DigestFileKey, LogFileKey, Prefix};
//! use cairn_logfile::logfile::LogFileEncoder;
//! use cairn_logfile::validate::{self, MemorySource, PublicKeySet, ValidationRequest};
//! use time::macros::datetime;
//!
//! let key = SigningKey::generate()?;
//! let bucket = "audit-bucket";
//!
//! // A log file with one record.
//! let mut enc = LogFileEncoder::default();
//! enc.push_record(br#"{"eventTime":"2025-03-04T05:12:44Z","eventName":"StopLogging"}"#)?;
//! let log = enc.finish()?;
//! let log_key = LogFileKey {
//!     prefix: Prefix::NONE,
//!     org_id: None,
//!     account_id: "111122223333".into(),
//!     region: "us-east-2".into(),
//!     delivery_time: datetime!(2025-03-04 05:15 UTC),
//!     unique: "AbCdEfGh12345678".into(),
//! }
//! .to_key()?;
//!
//! // A starting digest listing it.
//! let dkey = DigestFileKey {
//!     prefix: Prefix::NONE,
//!     org_id: None,
//!     account_id: "111122223333".into(),
//!     source_region: "us-east-2".into(),
//!     trail_name: "example-trail".into(),
//!     home_region: "us-east-2".into(),
//!     end_time: datetime!(2025-03-04 06:01:31 UTC),
//!     backfill: false,
//! };
//! let mut digest = DigestFile::new(bucket, &dkey, datetime!(2025-03-04 05:01:31 UTC), key.fingerprint())?;
//! digest.add_log_file(LogFileEntry::new(bucket, &log_key, &log)?);
//! let signed = digest.sign(&key)?;
//!
//! // Store both and validate.
//! let src = MemorySource::new();
//! src.put(bucket, &log_key, log.gzip, Vec::<(String, String)>::new());
//! src.put(bucket, &dkey.to_key()?, signed.gzip.clone(), signed.metadata());
//! let mut keys = PublicKeySet::new();
//! keys.insert(key.public_key().clone());
//! let req = ValidationRequest::new(
//!     bucket, "111122223333", "us-east-2", "example-trail",
//!     datetime!(2025-03-04 05:00 UTC), datetime!(2025-03-04 07:00 UTC),
//! );
//! let report = validate::validate(&src, &req, &keys)?;
//! assert_eq!(report.summary().digests_valid, 1);
//! assert_eq!(report.summary().logs_valid, 1);
//! assert_eq!(report.exit_code(true), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod digest;
pub mod error;
pub mod gz;
pub mod keys;
pub mod layout;
pub mod logfile;
pub mod synth;
#[doc(hidden)]
pub mod testkit;
pub mod timefmt;
pub mod validate;

pub use error::{Error, ErrorClass, Result};
