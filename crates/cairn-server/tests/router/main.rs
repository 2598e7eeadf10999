//! The whole API surface through the in-process router, one module per protocol.
//!
//! One test binary, not one per protocol: each binary links the whole server (DataFusion
//! included, ~290 MB unoptimised), so six of them cost CI ~1.5 GB of disk and five extra links.

mod cloudtrail;
mod dataplane;
mod iam;
mod kms;
mod monitor;
mod multipart;
mod notification;
mod s3;
mod sns;
mod sqs;
mod support;
