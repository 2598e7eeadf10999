//! `cairn check`: proves, with evidence, that each practice of the CloudTrail guide holds —
//! on Cairn or on any CloudTrail-compatible account — using only the AWS APIs.
//!
//! The crate is split in two halves that never mix:
//! - [`gather`] reads [`facts::Facts`] through small signed clients ([`aws`]: JSON 1.0/1.1,
//!   query and REST-XML, SigV4 from `cairn-auth`). A call that fails is kept as a fact
//!   ([`aws::ApiFailure`]); only "not configured" answers are read as "off".
//! - [`eval::evaluate`] is pure: facts in, one [`model::CheckResult`] per check out, each with
//!   the evidence (trail ARN, bucket, key, policy, setting) that decided it. A fact the
//!   target could not give makes the check `unknown`, never a guess.
//!
//! Output formats are in [`report`], safe remediation in [`fix`]. The check ids, the JSON
//! document and the exit codes are documented in `docs/CHECK.md`.
//!
//! ```
//! use cairn_check::{eval, facts::{ApiFailure, Facts}, model::{Thresholds, Verdict}};
//! let missing = ApiFailure {
//!     service: "sts".into(), operation: "GetCallerIdentity".into(),
//!     code: "UnknownServiceException".into(), message: String::new(), status: 400,
//! };
//! let facts = Facts::empty(time::OffsetDateTime::UNIX_EPOCH, "us-east-1", &missing);
//! let results = eval::evaluate(&facts, &Thresholds::default());
//! // No trail at all: the multi-Region trail check fails.
//! assert_eq!(results[0].verdict, Verdict::Fail);
//! ```

pub mod aws;
pub mod eval;
pub mod facts;
pub mod fix;
pub mod gather;
pub mod model;
pub mod report;
pub mod selectors;
