//! The AWS side: settings like the AWS CLI, one signed client for every protocol, XML.

pub mod client;
pub mod config;
pub mod xml;

pub use client::{ApiFailure, Aws, Fetched};
