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

/// Whether `s` is an ARN of `service` whose resource starts with `resource_prefix`.
pub(crate) fn is_arn_of(s: &str, service: &str, resource_prefix: &str) -> bool {
    s.parse::<cairn_event::Arn>()
        .is_ok_and(|a| a.service() == service && a.resource().starts_with(resource_prefix))
}

#[cfg(test)]
mod tests {
    use super::is_arn_of;

    #[test]
    fn arn_kinds() {
        let role = "arn:aws:iam::111111111111:role/CloudTrail";
        assert!(is_arn_of(role, "iam", "role/"));
        assert!(!is_arn_of(role, "iam", "user/"));
        assert!(!is_arn_of(role, "logs", "role/"));
        assert!(!is_arn_of("role/CloudTrail", "iam", "role/"));
    }
}
