//! [`EventView`]: the borrowed fields of one event that selectors can read.

use serde_json::Value;

/// One entry of an event's `resources` array, as selectors see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceRef<'a> {
    /// `type`, e.g. `AWS::S3::Object`.
    pub resource_type: Option<&'a str>,
    /// `ARN`, or `ARNPrefix` when the entry has no `ARN` (S3 `ListObjects`
    /// data events carry `ARNPrefix: "arn:aws:s3:::bucket/"`).
    pub arn: Option<&'a str>,
}

impl<'a> ResourceRef<'a> {
    /// Reads one JSON resource entry (`{"type":..,"ARN":..}`); non-objects
    /// give an entry with neither field.
    pub fn from_json(entry: &'a Value) -> ResourceRef<'a> {
        let Some(obj) = entry.as_object() else {
            return ResourceRef::default();
        };
        ResourceRef {
            resource_type: obj.get("type").and_then(Value::as_str),
            arn: obj
                .get("ARN")
                .and_then(Value::as_str)
                .or_else(|| obj.get("ARNPrefix").and_then(Value::as_str)),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Resources<'a> {
    Json(&'a [Value]),
    Refs(&'a [ResourceRef<'a>]),
}

/// Iterator over an event's resources (lazy: JSON entries are read as they
/// are visited).
#[derive(Clone, Debug)]
pub struct ResourceIter<'a> {
    inner: ResourceIterInner<'a>,
}

#[derive(Clone, Debug)]
enum ResourceIterInner<'a> {
    Json(std::slice::Iter<'a, Value>),
    Refs(std::slice::Iter<'a, ResourceRef<'a>>),
}

impl<'a> Iterator for ResourceIter<'a> {
    type Item = ResourceRef<'a>;
    fn next(&mut self) -> Option<ResourceRef<'a>> {
        match &mut self.inner {
            ResourceIterInner::Json(it) => it.next().map(ResourceRef::from_json),
            ResourceIterInner::Refs(it) => it.next().copied(),
        }
    }
}

/// The category used for records that carry no `eventCategory`.
///
/// `eventCategory` appeared with eventVersion 1.07. For older records (and any
/// record without a string `eventCategory`) the category is derived, in order:
///
/// 1. `managementEvent` boolean present: `true` → `Management`, `false` → `Data`;
/// 2. `eventType` is `AwsCloudTrailInsight` → `Insight`;
/// 3. clearly a data event → `Data`: a `resources` entry of type
///    `AWS::S3::Object` (object-level S3 calls; bucket-level management calls
///    only carry `AWS::S3::Bucket`), or `eventSource` `lambda.amazonaws.com`
///    with `eventName` `Invoke`;
/// 4. otherwise `Management`.
pub const CATEGORY_RULE: &str = "eventCategory if present; else managementEvent (true=Management, false=Data); else AwsCloudTrailInsight=Insight; else S3 object resource or lambda Invoke=Data; else Management";

/// Borrowed view of the event fields selectors can read.
///
/// Build one per event with [`EventView::from_record`] (a CloudTrail record
/// as JSON) or field by field with [`EventView::new`] and the `with_*`
/// setters. Construction does not allocate; resources are read lazily.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    /// `eventCategory`, or the derived category (see [`CATEGORY_RULE`]).
    pub event_category: &'a str,
    /// `eventSource`.
    pub event_source: Option<&'a str>,
    /// `eventName`.
    pub event_name: Option<&'a str>,
    /// `eventType`.
    pub event_type: Option<&'a str>,
    /// `readOnly` (JSON boolean).
    pub read_only: Option<bool>,
    /// `userIdentity.arn`.
    pub user_identity_arn: Option<&'a str>,
    /// `sessionCredentialFromConsole` (a string `"true"` in records; a JSON
    /// boolean is read as `"true"`/`"false"`).
    pub session_credential_from_console: Option<&'a str>,
    /// `errorCode`.
    pub error_code: Option<&'a str>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<&'a str>,
    resources: Resources<'a>,
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl<'a> EventView<'a> {
    /// A view with the given category and no other field.
    pub fn new(event_category: &'a str) -> EventView<'a> {
        EventView {
            event_category,
            event_source: None,
            event_name: None,
            event_type: None,
            read_only: None,
            user_identity_arn: None,
            session_credential_from_console: None,
            error_code: None,
            vpc_endpoint_id: None,
            resources: Resources::Refs(&[]),
        }
    }

    /// Sets the resources from already-extracted entries.
    pub fn with_resources(mut self, resources: &'a [ResourceRef<'a>]) -> EventView<'a> {
        self.resources = Resources::Refs(resources);
        self
    }

    /// Sets the resources from a JSON `resources` array.
    pub fn with_json_resources(mut self, resources: &'a [Value]) -> EventView<'a> {
        self.resources = Resources::Json(resources);
        self
    }

    /// Reads a CloudTrail record. Non-object values give a `Management` view
    /// with no fields. The category of records without `eventCategory` is
    /// derived by [`CATEGORY_RULE`].
    pub fn from_record(record: &'a Value) -> EventView<'a> {
        let Some(obj) = record.as_object() else {
            return EventView::new("Management");
        };
        // One sequential pass over the members: cheaper than a hash lookup
        // per field on records that are scattered over the heap.
        let mut view = EventView::new("");
        let mut category = None;
        let mut management_event = None;
        let mut resources: &'a [Value] = &[];
        for (k, v) in obj {
            match k.as_str() {
                "eventCategory" => category = v.as_str(),
                "eventSource" => view.event_source = v.as_str(),
                "eventName" => view.event_name = v.as_str(),
                "eventType" => view.event_type = v.as_str(),
                "readOnly" => view.read_only = v.as_bool(),
                "userIdentity" => {
                    view.user_identity_arn = v.get("arn").and_then(Value::as_str);
                }
                "sessionCredentialFromConsole" => {
                    view.session_credential_from_console = match v {
                        Value::String(s) => Some(s.as_str()),
                        Value::Bool(b) => Some(bool_str(*b)),
                        _ => None,
                    };
                }
                "errorCode" => view.error_code = v.as_str(),
                "vpcEndpointId" => view.vpc_endpoint_id = v.as_str(),
                "resources" => resources = v.as_array().map_or(&[], Vec::as_slice),
                "managementEvent" => management_event = v.as_bool(),
                _ => {}
            }
        }
        view.event_category = match category {
            Some(c) => c,
            None => derive_category(&view, management_event, resources),
        };
        view.resources = Resources::Json(resources);
        view
    }

    /// The event's resources.
    pub fn resources(&self) -> ResourceIter<'a> {
        ResourceIter {
            inner: match self.resources {
                Resources::Json(v) => ResourceIterInner::Json(v.iter()),
                Resources::Refs(r) => ResourceIterInner::Refs(r.iter()),
            },
        }
    }

    /// Whether the event has no resources.
    pub fn resources_is_empty(&self) -> bool {
        match self.resources {
            Resources::Json(v) => v.is_empty(),
            Resources::Refs(r) => r.is_empty(),
        }
    }

    /// `readOnly` as the string advanced selectors compare (`"true"`/`"false"`).
    pub fn read_only_str(&self) -> Option<&'static str> {
        self.read_only.map(bool_str)
    }
}

fn derive_category(
    view: &EventView<'_>,
    management_event: Option<bool>,
    resources: &[Value],
) -> &'static str {
    if let Some(m) = management_event {
        return if m { "Management" } else { "Data" };
    }
    if view.event_type == Some("AwsCloudTrailInsight") {
        return "Insight";
    }
    let s3_object = resources
        .iter()
        .any(|r| ResourceRef::from_json(r).resource_type == Some("AWS::S3::Object"));
    if s3_object
        || (view.event_source == Some("lambda.amazonaws.com") && view.event_name == Some("Invoke"))
    {
        return "Data";
    }
    "Management"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields() {
        let r = json!({"eventCategory":"Data","eventSource":"s3.amazonaws.com","eventName":"GetObject",
            "readOnly":true,"userIdentity":{"arn":"arn:aws:iam::1:user/a"},
            "sessionCredentialFromConsole":"true",
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},{"type":"AWS::S3::Bucket","ARNPrefix":"arn:aws:s3:::b/"},7]});
        let v = EventView::from_record(&r);
        assert_eq!(v.event_category, "Data");
        assert_eq!(v.read_only_str(), Some("true"));
        assert_eq!(v.user_identity_arn, Some("arn:aws:iam::1:user/a"));
        assert_eq!(v.session_credential_from_console, Some("true"));
        let res: Vec<_> = v.resources().collect();
        assert_eq!(res.len(), 3);
        assert_eq!(res[0].arn, Some("arn:aws:s3:::b/k"));
        assert_eq!(res[1].arn, Some("arn:aws:s3:::b/"));
        assert_eq!(res[2], ResourceRef::default());
    }

    #[test]
    fn derives_category() {
        let cat = |r: Value| EventView::from_record(&r).event_category.to_owned();
        assert_eq!(cat(json!({"eventVersion":"1.05"})), "Management");
        assert_eq!(cat(json!({"managementEvent":false})), "Data");
        assert_eq!(
            cat(json!({"managementEvent":true,"resources":[{"type":"AWS::S3::Object"}]})),
            "Management"
        );
        assert_eq!(
            cat(json!({"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}]})),
            "Data"
        );
        assert_eq!(
            cat(json!({"resources":[{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"}]})),
            "Management"
        );
        assert_eq!(
            cat(json!({"eventSource":"lambda.amazonaws.com","eventName":"Invoke"})),
            "Data"
        );
        assert_eq!(cat(json!({"eventType":"AwsCloudTrailInsight"})), "Insight");
        assert_eq!(
            cat(json!({"eventCategory":"NetworkActivity","managementEvent":true})),
            "NetworkActivity"
        );
        assert_eq!(cat(json!([1, 2])), "Management");
    }
}
