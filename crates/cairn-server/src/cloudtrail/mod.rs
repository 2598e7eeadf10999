//! The CloudTrail control plane: the JSON 1.1 operations on trails, selectors, insights and
//! tags, with CloudTrail's defaults, validation and error codes (`spec/cloudtrail-api.md`).

pub mod channels;
mod operation;
mod public_keys;
mod trails;
pub(crate) mod validate;

pub use cairn_pipeline::{DeliveryStatus, TrailVersion};
pub use operation::{Operation, TARGET_PREFIX};
#[cfg(test)]
pub(crate) use trails::test_control;
pub use trails::{CallContext, ControlPlane, Services, TrailView};
pub use validate::bucket_name_problem;
