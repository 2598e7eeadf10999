//! The Cairn server: configuration, catalog, the CloudTrail-compatible API on one port, and
//! the self-audit of every call.
//!
//! `cairn serve` is [`serve::Server`]: it opens the data directory ([`state::AppState`]),
//! binds the listener and serves [`http::router`] until shutdown. Tests build the same router
//! around a temporary data directory.

pub mod api;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod catalog;
pub mod cloudtrail;
pub mod config;
pub mod dataplane;
pub mod error;
pub mod history;
pub mod http;
pub mod iam;
pub mod identity;
pub mod ingest;
pub mod journal;
pub mod keys;
pub mod lake;
pub mod mfa;
pub mod model;
pub mod monitoring;
pub mod pipeline;
pub mod s3;
pub mod secrets;
pub mod serve;
pub mod state;
