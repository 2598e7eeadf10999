//! Digest signing keys: see [`cairn_pipeline::keys`], re-exported for existing paths.

pub use cairn_pipeline::keys::*;
