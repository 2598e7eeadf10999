//! The crate's single error type.

use crate::model::Operator;

/// Why a selector set was rejected.
///
/// Every variant is an input error of the same class: the API maps all of
/// them to `InvalidEventSelectorsException` (see [`SelectorError::aws_code`])
/// with the `Display` text as the message. Positions are JSON-path style and
/// zero-based (`AdvancedEventSelectors[1].FieldSelectors[0]`), so a client can
/// find the offending element.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The request member is not the expected JSON shape, or an enum value is
    /// unknown (e.g. `ReadWriteType: "read-only"`).
    #[error("invalid {member}: {detail}")]
    Malformed {
        /// `EventSelectors` or `AdvancedEventSelectors`.
        member: &'static str,
        /// The parser's description.
        detail: String,
    },
    /// Both `EventSelectors` and `AdvancedEventSelectors` were given.
    #[error("specify either EventSelectors or AdvancedEventSelectors, not both")]
    BothKinds,
    /// Neither `EventSelectors` nor `AdvancedEventSelectors` was given.
    #[error("specify EventSelectors or AdvancedEventSelectors")]
    NoKind,
    /// Basic selectors where only advanced ones are accepted (event data stores).
    #[error("event data stores accept only AdvancedEventSelectors")]
    BasicNotSupported,
    /// An empty selector list.
    #[error("{member} must contain at least 1 selector")]
    NoSelectors {
        /// `EventSelectors` or `AdvancedEventSelectors`.
        member: &'static str,
    },
    /// More selectors than allowed.
    #[error("{member} has {count} selectors; the maximum is {max}")]
    TooManySelectors {
        /// `EventSelectors` or `AdvancedEventSelectors`.
        member: &'static str,
        /// Selectors given.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// `DataResources.Type` not supported by basic selectors.
    #[error(
        "EventSelectors[{selector}].DataResources[{resource}].Type {ty:?} is not valid for basic event selectors; valid types are AWS::S3::Object, AWS::Lambda::Function and AWS::DynamoDB::Table (use advanced event selectors for other types)"
    )]
    InvalidDataResourceType {
        /// Selector index.
        selector: usize,
        /// Data resource index.
        resource: usize,
        /// The type given.
        ty: String,
    },
    /// A data resource without values.
    #[error(
        "EventSelectors[{selector}].DataResources[{resource}].Values must contain at least 1 value"
    )]
    EmptyDataResourceValues {
        /// Selector index.
        selector: usize,
        /// Data resource index.
        resource: usize,
    },
    /// A data resource value that is not an ARN (prefix) of its type.
    #[error(
        "EventSelectors[{selector}].DataResources[{resource}].Values: value {value:?} is not a valid ARN or ARN prefix for type {ty}"
    )]
    InvalidDataResourceValue {
        /// Selector index.
        selector: usize,
        /// Data resource index.
        resource: usize,
        /// The type.
        ty: String,
        /// The value.
        value: String,
    },
    /// More than 250 data resources in one selector.
    #[error(
        "EventSelectors[{selector}] has {count} data resources; the maximum is {max} per selector"
    )]
    TooManyDataResources {
        /// Selector index.
        selector: usize,
        /// Counted values.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// More than 250 data resources over all selectors.
    #[error("EventSelectors have {count} data resources in total; the maximum is {max} per trail")]
    TooManyDataResourcesTotal {
        /// Counted values.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// An `ExcludeManagementEventSources` entry other than the allowed sources.
    #[error(
        "EventSelectors[{selector}].ExcludeManagementEventSources: {event_source:?} is not valid; valid values are kms.amazonaws.com and rdsdata.amazonaws.com"
    )]
    InvalidExcludedSource {
        /// Selector index.
        selector: usize,
        /// The value.
        event_source: String,
    },
    /// `Name` longer than 1000 characters.
    #[error("AdvancedEventSelectors[{selector}].Name has {len} characters; the maximum is {max}")]
    NameTooLong {
        /// Selector index.
        selector: usize,
        /// Length given.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// An advanced selector without field selectors.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors must contain at least 1 field selector"
    )]
    NoFieldSelectors {
        /// Selector index.
        selector: usize,
    },
    /// `Field` empty, too long or outside `[\w|\d|\.|_]+`.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}].Field {field:?} is not valid: it must be 1 to 1000 characters of letters, digits, '_', '.' or '|'"
    )]
    InvalidFieldName {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
    },
    /// A field not supported by CloudTrail at all.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: unsupported field {field:?}"
    )]
    UnknownField {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
    },
    /// A field selector without any operator.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}] (field {field}) must have at least one operator"
    )]
    NoOperator {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
    },
    /// A present operator list with no values.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}] (field {field}): {operator} must contain at least 1 value"
    )]
    EmptyOperatorList {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
    },
    /// A value outside 1–2048 characters or containing a line break.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}] (field {field}): {operator} value of {len} characters is not valid; values must be 1 to {max} characters without line breaks"
    )]
    InvalidValueLength {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// Length of the value.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// More than 500 values over all conditions of all selectors.
    #[error(
        "AdvancedEventSelectors have {count} values in total across all conditions; the maximum is {max}"
    )]
    TooManyValues {
        /// Values given.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A selector without an `eventCategory` field selector.
    #[error("AdvancedEventSelectors[{selector}] must include a field selector for eventCategory")]
    MissingEventCategory {
        /// Selector index.
        selector: usize,
    },
    /// An unknown (or, for trails, event-data-store-only) `eventCategory` value.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: eventCategory value {value:?} is not valid here; valid values are {valid}"
    )]
    InvalidEventCategory {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The value.
        value: String,
        /// The accepted values.
        valid: &'static str,
    },
    /// A field given more than once where only one is allowed.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: only one field selector for {field} is allowed per advanced event selector"
    )]
    DuplicateField {
        /// Selector index.
        selector: usize,
        /// Field selector index (the second occurrence).
        field_selector: usize,
        /// The field.
        field: String,
    },
    /// A known field not supported for the selector's event category.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: field {field} is not supported for {category} events{context}"
    )]
    FieldNotAllowed {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The event category.
        category: String,
        /// `" on trails"` or `" in event data stores"`.
        context: &'static str,
    },
    /// A required field is missing for the selector's category.
    #[error(
        "AdvancedEventSelectors[{selector}]: field {field} is required for {category} event selectors"
    )]
    MissingRequiredField {
        /// Selector index.
        selector: usize,
        /// The field.
        field: &'static str,
        /// The event category.
        category: String,
    },
    /// An operator not supported for the field.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: operator {operator} is not supported for field {field}{context}; supported: {supported}"
    )]
    OperatorNotAllowed {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// Extra context, e.g. `" in Management event selectors on trails"`.
        context: &'static str,
        /// The operators that are supported.
        supported: &'static str,
    },
    /// A value not accepted for the field.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: value {value:?} is not valid for {field} {operator}; expected {expected}"
    )]
    InvalidFieldValue {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// The value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// Wrong number of values for a field that takes exactly one.
    #[error(
        "AdvancedEventSelectors[{selector}].FieldSelectors[{field_selector}]: {field} {operator} must have exactly 1 value, got {count}"
    )]
    ExactlyOneValue {
        /// Selector index.
        selector: usize,
        /// Field selector index.
        field_selector: usize,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// Values given.
        count: usize,
    },
}

impl SelectorError {
    /// The AWS error code every selector error maps to.
    pub const AWS_CODE: &'static str = "InvalidEventSelectorsException";

    /// The AWS error code for this error (always
    /// `InvalidEventSelectorsException`).
    pub fn aws_code(&self) -> &'static str {
        Self::AWS_CODE
    }
}
