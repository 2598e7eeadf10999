//! CloudTrail event selectors — basic `EventSelectors` and
//! `AdvancedEventSelectors` — validated, compiled and matched exactly as
//! CloudTrail documents them.
//!
//! Pipeline: deserialise ([`Selectors`], with the AWS member names) →
//! [`Selectors::validate`] (limits and field rules of `PutEventSelectors` and
//! event data stores; every [`SelectorError`] maps to
//! `InvalidEventSelectorsException`) → [`CompiledSelectors::compile`] once per
//! configuration change → [`CompiledSelectors::matches`] per event, on a
//! borrowed [`EventView`].
//!
//! # Semantics
//!
//! * Selectors are OR'ed: an event is recorded iff one selector matches.
//! * **Basic** (spec §2.3): a management event matches when
//!   `IncludeManagementEvents`, the `ReadWriteType` agrees with `readOnly`,
//!   and its `eventSource` is not excluded; a data event matches when the
//!   `ReadWriteType` agrees and one of its resources has a `DataResources`
//!   type and a matching value — S3 values are prefixes of the object ARN
//!   `arn:aws:s3:::bucket/key`, Lambda/DynamoDB values are exact, and
//!   `arn:aws:s3`, `arn:aws:s3:::`, `arn:aws:lambda`, `arn:aws:dynamodb`
//!   select all resources of their type. Events without `readOnly` do not
//!   match `ReadOnly`/`WriteOnly` selectors. Other categories never match.
//! * **Advanced** (spec §3.2): field selectors are AND'ed; within one, SELECT
//!   values (`Equals`/`StartsWith`/`EndsWith`) are OR'ed and no DESELECT value
//!   (`NotEquals`/`NotStartsWith`/`NotEndsWith`) may match; an absent field
//!   passes only if the field selector has no SELECT operator. Comparison is
//!   case-sensitive, on bytes. `resources.type`/`resources.ARN` conditions are
//!   evaluated per resource entry: one entry must satisfy all of them (with no
//!   resources, they are evaluated as absent).
//! * A resource's ARN is its `ARN`, or `ARNPrefix` when `ARN` is missing (S3
//!   `ListObjects` data events).
//! * Records without `eventCategory` (eventVersion < 1.07) get a derived
//!   category: see [`CATEGORY_RULE`].
//!
//! # Guarantees
//!
//! * [`CompiledSelectors::matches`] does not allocate and never panics; it
//!   agrees with the literal oracle [`naive::matches`] on every input, valid
//!   or not (property-tested and checked on every shared real record).
//! * [`EventView::from_record`] does not allocate; resources are read lazily.
//! * Serialisation round-trips what `GetEventSelectors` returns: basic
//!   selectors always carry their four members, absent advanced operator
//!   lists and names are omitted.
//!
//! # Example
//!
//! ```
//! use cairn_select::{CompiledSelectors, Context, EventView, Selectors};
//!
//! let selectors: Selectors = serde_json::from_str(r#"{"AdvancedEventSelectors":[
//!   {"Name":"S3 deletes","FieldSelectors":[
//!     {"Field":"eventCategory","Equals":["Data"]},
//!     {"Field":"resources.type","Equals":["AWS::S3::Object"]},
//!     {"Field":"eventName","Equals":["DeleteObject"]}]}]}"#).unwrap();
//! selectors.validate(Context::Trail).unwrap();
//! let compiled = CompiledSelectors::compile(&selectors);
//!
//! let record = serde_json::json!({
//!   "eventVersion":"1.08","eventCategory":"Data","eventSource":"s3.amazonaws.com",
//!   "eventName":"DeleteObject","readOnly":false,
//!   "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::bucket/key"}]});
//! assert!(compiled.matches(&EventView::from_record(&record)));
//! assert!(cairn_select::naive::matches(&selectors, &record));
//! assert!(!CompiledSelectors::compile(&Selectors::default_for_trail())
//!     .matches(&EventView::from_record(&record)));
//! ```

mod compile;
mod convert;
mod error;
mod model;
pub mod naive;
mod validate;
mod view;

pub use compile::CompiledSelectors;
pub use error::SelectorError;
pub use model::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector,
    MANAGEMENT_SELECTOR_NAME, Operator, ReadWriteType, Selectors,
};
pub use validate::{
    BASIC_RESOURCE_TYPES, Context, EXCLUDABLE_SOURCES, MAX_ADVANCED_VALUES, MAX_BASIC_SELECTORS,
    MAX_DATA_RESOURCES_PER_SELECTOR, MAX_DATA_RESOURCES_TOTAL, MAX_EDS_ADVANCED_SELECTORS,
    MAX_FIELD_LEN, MAX_NAME_LEN, MAX_VALUE_LEN, is_all_of_type,
};
pub use view::{CATEGORY_RULE, EventView, ResourceIter, ResourceRef};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_selector_serialises_like_get_event_selectors() {
        let json = serde_json::to_string(&Selectors::default_for_trail()).unwrap();
        assert_eq!(
            json,
            r#"{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}]}"#
        );
        let adv = serde_json::to_string(&Selectors::default_advanced()).unwrap();
        assert_eq!(
            adv,
            r#"{"AdvancedEventSelectors":[{"Name":"Management events selector","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]}]}"#
        );
    }

    #[test]
    fn round_trips_and_defaults() {
        let s: Selectors = serde_json::from_str(r#"{"EventSelectors":[{}]}"#).unwrap();
        assert_eq!(s, Selectors::default_for_trail());
        let text = r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.ARN","NotStartsWith":["a"],"EndsWith":["b"]}]}]}"#;
        let s: Selectors = serde_json::from_str(text).unwrap();
        let back = serde_json::to_string(&s).unwrap();
        assert_eq!(
            back,
            r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.ARN","EndsWith":["b"],"NotStartsWith":["a"]}]}]}"#
        );
        assert_eq!(serde_json::from_str::<Selectors>(&back).unwrap(), s);
    }

    #[test]
    fn both_or_neither_kind_rejected() {
        assert!(
            serde_json::from_str::<Selectors>(
                r#"{"EventSelectors":[],"AdvancedEventSelectors":[]}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Selectors>(r#"{"TrailARN":"x"}"#).is_err());
        assert_eq!(
            Selectors::from_request(None, None),
            Err(SelectorError::NoKind)
        );
    }

    #[test]
    fn from_request_maps_enum_errors() {
        let bad = serde_json::json!([{"ReadWriteType":"read-only"}]);
        let err = Selectors::from_request(Some(&bad), None).unwrap_err();
        assert!(matches!(
            err,
            SelectorError::Malformed {
                member: "EventSelectors",
                ..
            }
        ));
        assert!(err.to_string().contains("read-only"), "{err}");
        assert_eq!(err.aws_code(), "InvalidEventSelectorsException");
    }

    #[test]
    fn custom_and_data_helpers() {
        assert!(!Selectors::default_for_trail().has_custom());
        assert!(!Selectors::default_advanced().has_custom());
        assert!(!Selectors::default_for_trail().selects_data_events());
        let mut s = EventSelector::default();
        s.exclude_management_event_sources.push(String::new());
        assert!(!Selectors::Basic(vec![s.clone()]).has_custom());
        s.read_write_type = ReadWriteType::ReadOnly;
        assert!(Selectors::Basic(vec![s.clone()]).has_custom());
        assert!(
            Selectors::Basic(vec![EventSelector::default(), EventSelector::default()]).has_custom()
        );
        let data: Selectors = serde_json::from_str(r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]}]}]}"#).unwrap();
        assert!(data.selects_data_events());
        assert!(data.has_custom());
        let unnamed: Selectors = serde_json::from_str(r#"{"AdvancedEventSelectors":[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]}]}"#).unwrap();
        assert!(!unnamed.has_custom());
    }
}
