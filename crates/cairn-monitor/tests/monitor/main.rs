//! The monitor's integration tests, one module per area, in one binary: each test binary links
//! the crate and its HTTP and TLS stack again, and CI pays for every link and its disk.

mod cis_real_records;
mod cloudwatch_api;
mod common;
mod email_https;
mod end_to_end;
mod logs_api;
mod sns_api;
mod storage_at_rest;
mod streaming;
