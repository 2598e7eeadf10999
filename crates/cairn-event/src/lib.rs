//! The CloudTrail record model and the names every other Cairn crate agrees on: account IDs,
//! organization IDs, regions, ARNs and CloudTrail's timestamp format.
//!
//! This crate is pure: no I/O, no async runtime. It is where fuzzers point for the parsers of
//! untrusted names.
//!
//! ```
//! use cairn_event::{AccountId, Arn};
//! let arn: Arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit".parse().unwrap();
//! assert_eq!(arn.account_id(), "111122223333");
//! assert_eq!(arn.resource(), "trail/audit");
//! assert!(AccountId::parse("11112222333").is_err());
//! ```

mod ids;
mod ingest;
mod record;
mod timefmt;

pub use ids::{AccountId, Arn, IdError, OrganizationId, Region, default_regions};
pub use ingest::{
    AuditEventEntry, AuditRequestError, FieldLimits, FileError, FormatHint, IngestPolicy,
    MAX_AUDIT_EVENTS, MAX_AUDIT_REQUEST_BYTES, MAX_EVENT_BYTES, RawRecord, ReadOptions,
    RecordError, RecordLocation, RecordReader, ResourceKey, RoutingKeys, ValidRecord,
    is_global_service_event, read_records, read_records_with, validate_audit_event,
    validate_audit_request, validate_record,
};
pub use record::{CloudTrailEvent, EVENT_VERSION, Resource};
pub use timefmt::{format_event_time, parse_event_time};

/// Borrowed views of JSON text for readers that parse only the members they use (ingest
/// validation here, column scans in `cairn-lake`).
pub mod json {
    pub use crate::ingest::json::{Key, Obj};
}
