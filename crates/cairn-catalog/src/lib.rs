//! Cairn's catalog: the durable state of the control plane and of the delivery pipeline.
//!
//! What a cluster will replace is behind three traits ([`TrailStore`], [`BatchStore`],
//! [`KeyStore`]; [`CatalogStore`] is all three): trails, channels and trail configuration
//! versions; delivery batches and digest chains; digest signing keys. [`Catalog`] is the
//! embedded SQLite implementation (`<data_dir>/catalog.sqlite`), which also keeps the rows
//! only a single server has (buckets, credentials, and tables of server modules through
//! [`Catalog::with_conn`]). Every implementation must pass [`conformance::run`].

pub mod conformance;
pub mod model;
mod sqlite;
mod store;

pub use sqlite::{
    BatchRow, Catalog, CatalogError, DigestChainRow, PartitionId, SCHEMA, SCHEMA_VERSION,
    SigningKeyRow,
};
pub use store::{BatchStore, CatalogStore, KeyStore, TrailStore};
