//! The event pipeline: journal records are routed to trails, batched per (trail, account,
//! region) and delivered as CloudTrail log files.

pub mod deliver;
pub mod digest;
pub mod envelope;
pub mod monitor;
pub mod route;
