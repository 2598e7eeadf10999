//! The selector shapes, named and serialised exactly like the CloudTrail
//! `2013-11-01` API shapes (`EventSelector`, `DataResource`,
//! `AdvancedEventSelector`, `AdvancedFieldSelector`).

use serde::{Deserialize, Serialize};

use crate::error::SelectorError;

/// `ReadWriteType` of a basic [`EventSelector`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadWriteType {
    /// Only events whose `readOnly` is `true`.
    ReadOnly,
    /// Only events whose `readOnly` is `false`.
    WriteOnly,
    /// Read and write events (the default).
    #[default]
    All,
}

impl ReadWriteType {
    /// The AWS spelling (`ReadOnly`, `WriteOnly`, `All`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadWriteType::ReadOnly => "ReadOnly",
            ReadWriteType::WriteOnly => "WriteOnly",
            ReadWriteType::All => "All",
        }
    }
}

/// A `DataResource` of a basic selector: a resource type and ARN (prefix) values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    /// `Type`, e.g. `AWS::S3::Object`.
    #[serde(default)]
    pub r#type: String,
    /// `Values`: ARNs or ARN prefixes (see the crate docs for their meaning).
    #[serde(default)]
    pub values: Vec<String>,
}

/// A basic `EventSelector`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    /// `ReadWriteType` (default `All`).
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    /// `IncludeManagementEvents` (default `true`).
    #[serde(default = "default_true")]
    pub include_management_events: bool,
    /// `DataResources` (default empty).
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    /// `ExcludeManagementEventSources` (default empty).
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Default for EventSelector {
    /// The default trail selector: all management events, no data events.
    fn default() -> Self {
        EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

/// An `AdvancedEventSelector`: a named conjunction of field selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    /// `Name` (optional, at most 1000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `FieldSelectors` (at least one).
    #[serde(default)]
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// An `AdvancedFieldSelector`: one field and its operator value lists.
///
/// Absent operator lists are `None` and are omitted when serialised, so a
/// stored selector round-trips to what `GetEventSelectors` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedFieldSelector {
    /// `Field`, e.g. `eventCategory`, `resources.ARN`.
    #[serde(default)]
    pub field: String,
    /// `Equals` (SELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    /// `StartsWith` (SELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    /// `EndsWith` (SELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    /// `NotEquals` (DESELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    /// `NotStartsWith` (DESELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    /// `NotEndsWith` (DESELECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

/// The six operators of an [`AdvancedFieldSelector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `Equals`
    Equals,
    /// `StartsWith`
    StartsWith,
    /// `EndsWith`
    EndsWith,
    /// `NotEquals`
    NotEquals,
    /// `NotStartsWith`
    NotStartsWith,
    /// `NotEndsWith`
    NotEndsWith,
}

impl Operator {
    /// All operators, SELECT ones first.
    pub const ALL: [Operator; 6] = [
        Operator::Equals,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::NotEquals,
        Operator::NotStartsWith,
        Operator::NotEndsWith,
    ];

    /// The AWS member name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "Equals",
            Operator::StartsWith => "StartsWith",
            Operator::EndsWith => "EndsWith",
            Operator::NotEquals => "NotEquals",
            Operator::NotStartsWith => "NotStartsWith",
            Operator::NotEndsWith => "NotEndsWith",
        }
    }

    /// `true` for `Equals`, `StartsWith`, `EndsWith`.
    pub fn is_select(self) -> bool {
        matches!(
            self,
            Operator::Equals | Operator::StartsWith | Operator::EndsWith
        )
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AdvancedFieldSelector {
    /// A field selector on `field` with a single `Equals` list.
    pub fn equals<I, S>(field: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AdvancedFieldSelector {
            field: field.to_owned(),
            equals: Some(values.into_iter().map(Into::into).collect()),
            ..Default::default()
        }
    }

    /// The value list of `op`, if present.
    pub fn list(&self, op: Operator) -> Option<&[String]> {
        match op {
            Operator::Equals => self.equals.as_deref(),
            Operator::StartsWith => self.starts_with.as_deref(),
            Operator::EndsWith => self.ends_with.as_deref(),
            Operator::NotEquals => self.not_equals.as_deref(),
            Operator::NotStartsWith => self.not_starts_with.as_deref(),
            Operator::NotEndsWith => self.not_ends_with.as_deref(),
        }
    }

    /// Mutable access to the value list of `op`.
    pub fn list_mut(&mut self, op: Operator) -> &mut Option<Vec<String>> {
        match op {
            Operator::Equals => &mut self.equals,
            Operator::StartsWith => &mut self.starts_with,
            Operator::EndsWith => &mut self.ends_with,
            Operator::NotEquals => &mut self.not_equals,
            Operator::NotStartsWith => &mut self.not_starts_with,
            Operator::NotEndsWith => &mut self.not_ends_with,
        }
    }

    /// Present operator lists, in [`Operator::ALL`] order.
    pub fn operators(&self) -> impl Iterator<Item = (Operator, &[String])> {
        Operator::ALL
            .into_iter()
            .filter_map(|op| self.list(op).map(|l| (op, l)))
    }

    /// Number of values over all operator lists.
    pub fn value_count(&self) -> usize {
        self.operators().map(|(_, l)| l.len()).sum()
    }
}

/// The selectors of one trail or event data store: basic **or** advanced,
/// never both.
///
/// Serialised as the `GetEventSelectors` members: `{"EventSelectors":[...]}` or
/// `{"AdvancedEventSelectors":[...]}`. Deserialising an object that carries both
/// members, or neither, fails.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "SelectorsWire", into = "SelectorsWire")]
pub enum Selectors {
    /// `EventSelectors`.
    Basic(Vec<EventSelector>),
    /// `AdvancedEventSelectors`.
    Advanced(Vec<AdvancedEventSelector>),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SelectorsWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_selectors: Option<Vec<EventSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
}

impl TryFrom<SelectorsWire> for Selectors {
    type Error = SelectorError;
    fn try_from(w: SelectorsWire) -> Result<Self, SelectorError> {
        match (w.event_selectors, w.advanced_event_selectors) {
            (Some(b), None) => Ok(Selectors::Basic(b)),
            (None, Some(a)) => Ok(Selectors::Advanced(a)),
            (Some(_), Some(_)) => Err(SelectorError::BothKinds),
            (None, None) => Err(SelectorError::NoKind),
        }
    }
}

impl From<Selectors> for SelectorsWire {
    fn from(s: Selectors) -> Self {
        match s {
            Selectors::Basic(b) => SelectorsWire {
                event_selectors: Some(b),
                advanced_event_selectors: None,
            },
            Selectors::Advanced(a) => SelectorsWire {
                event_selectors: None,
                advanced_event_selectors: Some(a),
            },
        }
    }
}

/// Name given to the advanced equivalent of the default management selector
/// (the name the AWS console uses).
pub const MANAGEMENT_SELECTOR_NAME: &str = "Management events selector";

impl Selectors {
    /// The selectors of a trail created without any: the default basic
    /// selector `[{"ReadWriteType":"All","IncludeManagementEvents":true,
    /// "DataResources":[],"ExcludeManagementEventSources":[]}]`.
    pub fn default_for_trail() -> Selectors {
        Selectors::Basic(vec![EventSelector::default()])
    }

    /// The advanced form of the default:
    /// `[{"Name":"Management events selector","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]}]`.
    pub fn default_advanced() -> Selectors {
        Selectors::Advanced(vec![AdvancedEventSelector {
            name: Some(MANAGEMENT_SELECTOR_NAME.to_owned()),
            field_selectors: vec![AdvancedFieldSelector::equals(
                "eventCategory",
                ["Management"],
            )],
        }])
    }

    /// Builds selectors from the two optional members of a
    /// `PutEventSelectors` request, given as raw JSON.
    ///
    /// Shape and enum errors (e.g. `ReadWriteType: "read-only"`) become
    /// [`SelectorError::Malformed`]; both or neither member present is an
    /// error too. The result is not yet validated: call [`Selectors::validate`].
    pub fn from_request(
        event_selectors: Option<&serde_json::Value>,
        advanced_event_selectors: Option<&serde_json::Value>,
    ) -> Result<Selectors, SelectorError> {
        let malformed = |member: &'static str, e: serde_json::Error| SelectorError::Malformed {
            member,
            detail: e.to_string(),
        };
        match (event_selectors, advanced_event_selectors) {
            (Some(b), None) => Vec::<EventSelector>::deserialize(b)
                .map(Selectors::Basic)
                .map_err(|e| malformed("EventSelectors", e)),
            (None, Some(a)) => Vec::<AdvancedEventSelector>::deserialize(a)
                .map(Selectors::Advanced)
                .map_err(|e| malformed("AdvancedEventSelectors", e)),
            (Some(_), Some(_)) => Err(SelectorError::BothKinds),
            (None, None) => Err(SelectorError::NoKind),
        }
    }

    /// `true` for basic selectors.
    pub fn is_basic(&self) -> bool {
        matches!(self, Selectors::Basic(_))
    }

    /// Whether any selector can select data events: a basic selector with at
    /// least one data-resource value, or an advanced selector whose
    /// `eventCategory` `Equals` list contains `Data`.
    pub fn selects_data_events(&self) -> bool {
        match self {
            Selectors::Basic(b) => b
                .iter()
                .any(|s| s.data_resources.iter().any(|d| !d.values.is_empty())),
            Selectors::Advanced(a) => a.iter().any(|s| {
                s.field_selectors.iter().any(|f| {
                    f.field == "eventCategory"
                        && f.equals
                            .as_deref()
                            .is_some_and(|v| v.iter().any(|v| v == "Data"))
                })
            }),
        }
    }

    /// Whether the selectors differ from the default (for
    /// `HasCustomEventSelectors`).
    ///
    /// Rule (AWS does not document one): not custom iff the selectors are the
    /// single default basic selector (an `ExcludeManagementEventSources` of
    /// `[""]` counts as empty), or the single advanced selector
    /// `eventCategory Equals [Management]` under any name.
    pub fn has_custom(&self) -> bool {
        match self {
            Selectors::Basic(b) => match b.as_slice() {
                [s] => {
                    !(s.read_write_type == ReadWriteType::All
                        && s.include_management_events
                        && s.data_resources.is_empty()
                        && s.exclude_management_event_sources
                            .iter()
                            .all(|x| x.is_empty()))
                }
                _ => true,
            },
            Selectors::Advanced(a) => match a.as_slice() {
                [s] => match s.field_selectors.as_slice() {
                    [f] => {
                        !(f.field == "eventCategory"
                            && f.operators().count() == 1
                            && f.equals.as_deref() == Some(&["Management".to_owned()][..]))
                    }
                    _ => true,
                },
                _ => true,
            },
        }
    }

    /// Total number of advanced values (all operator lists, all selectors);
    /// 0 for basic selectors.
    pub fn advanced_value_count(&self) -> usize {
        match self {
            Selectors::Basic(_) => 0,
            Selectors::Advanced(a) => a
                .iter()
                .flat_map(|s| s.field_selectors.iter())
                .map(AdvancedFieldSelector::value_count)
                .sum(),
        }
    }
}
