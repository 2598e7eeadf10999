//! Basic → advanced conversion (the equivalents table of
//! selectors-and-filters §2.3).

use crate::model::{
    AdvancedEventSelector, AdvancedFieldSelector, EventSelector, MANAGEMENT_SELECTOR_NAME,
    ReadWriteType, Selectors,
};
use crate::validate::is_all_of_type;

impl Selectors {
    /// The advanced selectors equivalent to these selectors (advanced ones
    /// are returned unchanged).
    ///
    /// Each basic selector becomes up to one management selector
    /// (`eventCategory Equals [Management]`, plus `readOnly Equals [true|false]`
    /// for `ReadOnly`/`WriteOnly`, plus `eventSource NotEquals [...]` for the
    /// excluded sources) and one data selector per `DataResource`
    /// (`eventCategory Equals [Data]`, `resources.type Equals [Type]`, the same
    /// `readOnly` condition, and `resources.ARN StartsWith [...]` for S3 or
    /// `Equals [...]` for other types; no ARN condition when a value selects
    /// all of the type). Data resources without values are dropped, as is an
    /// empty-string excluded source (it cannot be expressed; it would only
    /// differ for an event whose `eventSource` is the empty string).
    pub fn to_advanced(&self) -> Selectors {
        let basic = match self {
            Selectors::Advanced(_) => return self.clone(),
            Selectors::Basic(b) => b,
        };
        let mut out = Vec::new();
        for (i, sel) in basic.iter().enumerate() {
            convert_one(i, sel, &mut out);
        }
        Selectors::Advanced(out)
    }
}

fn read_only_condition(rw: ReadWriteType) -> Option<AdvancedFieldSelector> {
    match rw {
        ReadWriteType::All => None,
        ReadWriteType::ReadOnly => Some(AdvancedFieldSelector::equals("readOnly", ["true"])),
        ReadWriteType::WriteOnly => Some(AdvancedFieldSelector::equals("readOnly", ["false"])),
    }
}

fn convert_one(i: usize, sel: &EventSelector, out: &mut Vec<AdvancedEventSelector>) {
    let suffix = if i == 0 {
        String::new()
    } else {
        format!(" {}", i + 1)
    };
    if sel.include_management_events {
        let mut fields = vec![AdvancedFieldSelector::equals(
            "eventCategory",
            ["Management"],
        )];
        fields.extend(read_only_condition(sel.read_write_type));
        let mut excluded: Vec<String> = sel
            .exclude_management_event_sources
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        excluded.sort();
        excluded.dedup();
        if !excluded.is_empty() {
            fields.push(AdvancedFieldSelector {
                field: "eventSource".to_owned(),
                not_equals: Some(excluded),
                ..Default::default()
            });
        }
        out.push(AdvancedEventSelector {
            name: Some(format!("{MANAGEMENT_SELECTOR_NAME}{suffix}")),
            field_selectors: fields,
        });
    }
    for dr in &sel.data_resources {
        if dr.values.is_empty() {
            continue;
        }
        let mut fields = vec![
            AdvancedFieldSelector::equals("eventCategory", ["Data"]),
            AdvancedFieldSelector::equals("resources.type", [dr.r#type.as_str()]),
        ];
        fields.extend(read_only_condition(sel.read_write_type));
        if !dr.values.iter().any(|v| is_all_of_type(&dr.r#type, v)) {
            let values = dr.values.clone();
            let mut arn = AdvancedFieldSelector {
                field: "resources.ARN".to_owned(),
                ..Default::default()
            };
            if dr.r#type == "AWS::S3::Object" {
                arn.starts_with = Some(values);
            } else {
                arn.equals = Some(values);
            }
            fields.push(arn);
        }
        out.push(AdvancedEventSelector {
            name: Some(format!("Data events selector{suffix}: {}", dr.r#type)),
            field_selectors: fields,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{DataResource, EventSelector, ReadWriteType, Selectors};

    #[test]
    fn default_converts_to_documented_advanced_form() {
        assert_eq!(
            Selectors::default_for_trail().to_advanced(),
            Selectors::default_advanced()
        );
    }

    #[test]
    fn s3_and_lambda() {
        let b = Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::WriteOnly,
            include_management_events: false,
            data_resources: vec![
                DataResource {
                    r#type: "AWS::S3::Object".into(),
                    values: vec!["arn:aws:s3:::b/p".into()],
                },
                DataResource {
                    r#type: "AWS::Lambda::Function".into(),
                    values: vec!["arn:aws:lambda".into()],
                },
            ],
            exclude_management_event_sources: vec![],
        }]);
        let json = serde_json::to_value(b.to_advanced()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"AdvancedEventSelectors":[
                {"Name":"Data events selector: AWS::S3::Object","FieldSelectors":[
                    {"Field":"eventCategory","Equals":["Data"]},
                    {"Field":"resources.type","Equals":["AWS::S3::Object"]},
                    {"Field":"readOnly","Equals":["false"]},
                    {"Field":"resources.ARN","StartsWith":["arn:aws:s3:::b/p"]}]},
                {"Name":"Data events selector: AWS::Lambda::Function","FieldSelectors":[
                    {"Field":"eventCategory","Equals":["Data"]},
                    {"Field":"resources.type","Equals":["AWS::Lambda::Function"]},
                    {"Field":"readOnly","Equals":["false"]}]}
            ]})
        );
    }
}
