//! Credentials: the store SigV4 verification reads, the root-key bootstrap and the
//! parameters that never reach an audit record. They live in [`cairn_iam::credentials`];
//! this module keeps their server paths.

pub use cairn_iam::credentials::{
    Credentials, IdentityError, export_block, generate_key_pair, is_secret_parameter,
};
