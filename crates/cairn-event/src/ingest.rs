//! Ingest: parsing and validating CloudTrail records that arrive from outside.
//!
//! Three doors lead into the journal, and all of them end in a [`ValidRecord`]:
//!
//! * bulk import of CloudTrail log files (`{"Records":[...]}`, plain or gzip) and NDJSON:
//!   [`read_records`] splits a file into [`RawRecord`]s without holding it in memory, then
//!   [`validate_record`] checks each one;
//! * `PutAuditEvents` of the `cloudtrail-data` API: [`validate_audit_request`] checks the
//!   request as a whole, [`validate_audit_event`] maps each entry to a record;
//! * Cairn's own API events, which go through [`validate_record`] like any other.
//!
//! Guarantees:
//!
//! * nothing here panics on any input, and memory is bounded by the caps in
//!   [`ReadOptions`] and [`IngestPolicy`] (fuzzed by `fuzz/fuzz_targets/event_parse.rs`);
//! * a record is rejected, never truncated: every [`RecordError`] has a stable
//!   [`code`](RecordError::code) and names the field and the limit;
//! * a [`ValidRecord`]'s JSON is compact, keeps the input's member order and is JSON-equal
//!   to the input except for an assigned `eventID` or a normalised `eventTime`;
//! * file errors carry the record's position, so a caller can report
//!   "file X record 17: eventTime missing" and go on.
//!
//! ```
//! use cairn_event::{AccountId, FormatHint, IngestPolicy, read_records, validate_record};
//! let policy = IngestPolicy::new(AccountId::parse("111122223333").unwrap());
//! let file = br#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"Root"},
//!   "eventTime":"2023-07-10T11:45:00Z","eventSource":"iam.amazonaws.com",
//!   "eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1",
//!   "eventType":"AwsApiCall"}, {"eventVersion":"1.08"}]}"#;
//! let mut report = Vec::new();
//! for raw in read_records(&file[..], FormatHint::Auto) {
//!     let raw = raw.unwrap();
//!     match validate_record(&raw.bytes, &policy) {
//!         Ok(rec) => assert!(rec.keys().is_global_service_event),
//!         Err(e) => report.push(format!("{}: {} ({})", raw.location, e, e.code())),
//!     }
//! }
//! assert_eq!(report, ["record 1: required field `eventType` is missing (FieldNotFound)"]);
//! ```

mod activity;
mod audit;
mod error;
pub(crate) mod json;
mod policy;
mod reader;
mod record;
mod timeutil;

pub use audit::{
    AuditEventEntry, MAX_AUDIT_EVENTS, MAX_AUDIT_REQUEST_BYTES, validate_audit_event,
    validate_audit_request,
};
pub use error::{AuditRequestError, FileError, RecordError, RecordLocation};
pub use policy::{FieldLimits, IngestPolicy, MAX_EVENT_BYTES};
pub use reader::{
    FormatHint, RawRecord, ReadOptions, RecordReader, read_records, read_records_with,
};
pub use record::{ResourceKey, RoutingKeys, ValidRecord, is_global_service_event, validate_record};
