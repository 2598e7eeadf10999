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
mod record;
mod timefmt;

pub use ids::{AccountId, Arn, IdError, OrganizationId, Region, default_regions};
pub use record::{CloudTrailEvent, EVENT_VERSION, Resource};
pub use timefmt::{format_event_time, parse_event_time};
