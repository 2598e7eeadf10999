//! The event pipeline: journal records are routed to trails, batched per (trail, account,
//! region) and delivered as CloudTrail log files ([`deliver`]), listed in signed digest
//! chains ([`digest`], keys from [`keys`]) and streamed to log groups ([`monitor`]).
//!
//! The pipeline does not know the control plane: it reads trails and their configuration
//! history through [`TrailSet`], reports delivery state through [`StatusSink`], stores its
//! rows through the catalog traits ([`cairn_catalog::BatchStore`], [`cairn_catalog::KeyStore`])
//! and finds buckets through [`BucketResolver`]. Every loop runs on a [`cairn_core::Worker`].

pub mod config;
pub mod deliver;
pub mod digest;
pub mod envelope;
pub mod keys;
pub mod monitor;
pub mod route;
pub mod trailset;

pub use config::{OrganizationScope, PipelineConfig};
pub use deliver::{BucketResolver, SingleBucket};
pub use trailset::{
    ConsentError, DeliveryStatus, MemoryStatus, StaticTrails, StatusKey, StatusSink, TrailSet,
    TrailVersion,
};
