//! The catalog's records (see [`cairn_catalog::model`]).

pub use cairn_catalog::model::*;
