//! The catalog (see [`cairn_catalog`]); re-exported so `crate::catalog::*` paths keep working.

pub use cairn_catalog::*;
