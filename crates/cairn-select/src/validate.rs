//! Validation of selector sets against CloudTrail's limits and field rules
//! (`PutEventSelectors`, `CreateEventDataStore`/`UpdateEventDataStore`).

use crate::error::SelectorError;
use crate::model::{
    AdvancedEventSelector, AdvancedFieldSelector, EventSelector, Operator, Selectors,
};

/// Where a selector set is used; the field rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// A trail (`PutEventSelectors`).
    Trail,
    /// A CloudTrail Lake event data store (advanced selectors only).
    EventDataStore,
}

/// Basic selectors per trail.
pub const MAX_BASIC_SELECTORS: usize = 5;
/// Advanced selectors per event data store.
pub const MAX_EDS_ADVANCED_SELECTORS: usize = 5;
/// Data resource values per basic selector (values selecting all of a type excluded).
pub const MAX_DATA_RESOURCES_PER_SELECTOR: usize = 250;
/// Data resource values per trail (values selecting all of a type excluded).
pub const MAX_DATA_RESOURCES_TOTAL: usize = 250;
/// Values over all conditions of all advanced selectors.
pub const MAX_ADVANCED_VALUES: usize = 500;
/// Characters in an advanced selector `Name`.
pub const MAX_NAME_LEN: usize = 1000;
/// Characters in a `Field`.
pub const MAX_FIELD_LEN: usize = 1000;
/// Characters in an operator value.
pub const MAX_VALUE_LEN: usize = 2048;

/// Resource types accepted by basic selectors.
pub const BASIC_RESOURCE_TYPES: [&str; 3] = [
    "AWS::S3::Object",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
];

/// Event sources accepted in `ExcludeManagementEventSources` (besides `""`).
pub const EXCLUDABLE_SOURCES: [&str; 2] = ["kms.amazonaws.com", "rdsdata.amazonaws.com"];

/// Whether a basic `DataResources` value selects every resource of `ty`
/// (`arn:aws:s3`, `arn:aws:s3:::`, `arn:aws:lambda`, `arn:aws:dynamodb`).
/// Such values do not count against the 250 data-resource quota.
pub fn is_all_of_type(ty: &str, value: &str) -> bool {
    match ty {
        "AWS::S3::Object" => value == "arn:aws:s3" || value == "arn:aws:s3:::",
        "AWS::Lambda::Function" => value == "arn:aws:lambda",
        "AWS::DynamoDB::Table" => value == "arn:aws:dynamodb",
        _ => false,
    }
}

impl Selectors {
    /// Checks the selector set against the limits and rules of `ctx`.
    ///
    /// Returns the first violation found; every error maps to
    /// `InvalidEventSelectorsException`.
    pub fn validate(&self, ctx: Context) -> Result<(), SelectorError> {
        match self {
            Selectors::Basic(b) => {
                if ctx == Context::EventDataStore {
                    return Err(SelectorError::BasicNotSupported);
                }
                validate_basic(b)
            }
            Selectors::Advanced(a) => validate_advanced(a, ctx),
        }
    }
}

fn validate_basic(sels: &[EventSelector]) -> Result<(), SelectorError> {
    const MEMBER: &str = "EventSelectors";
    if sels.is_empty() {
        return Err(SelectorError::NoSelectors { member: MEMBER });
    }
    if sels.len() > MAX_BASIC_SELECTORS {
        return Err(SelectorError::TooManySelectors {
            member: MEMBER,
            count: sels.len(),
            max: MAX_BASIC_SELECTORS,
        });
    }
    let mut total = 0usize;
    for (si, sel) in sels.iter().enumerate() {
        for src in &sel.exclude_management_event_sources {
            if !(src.is_empty() || EXCLUDABLE_SOURCES.contains(&src.as_str())) {
                return Err(SelectorError::InvalidExcludedSource {
                    selector: si,
                    event_source: src.clone(),
                });
            }
        }
        let mut count = 0usize;
        for (ri, dr) in sel.data_resources.iter().enumerate() {
            if !BASIC_RESOURCE_TYPES.contains(&dr.r#type.as_str()) {
                return Err(SelectorError::InvalidDataResourceType {
                    selector: si,
                    resource: ri,
                    ty: dr.r#type.clone(),
                });
            }
            if dr.values.is_empty() {
                return Err(SelectorError::EmptyDataResourceValues {
                    selector: si,
                    resource: ri,
                });
            }
            for v in &dr.values {
                if !basic_value_ok(&dr.r#type, v) {
                    return Err(SelectorError::InvalidDataResourceValue {
                        selector: si,
                        resource: ri,
                        ty: dr.r#type.clone(),
                        value: v.clone(),
                    });
                }
                if !is_all_of_type(&dr.r#type, v) {
                    count += 1;
                }
            }
        }
        if count > MAX_DATA_RESOURCES_PER_SELECTOR {
            return Err(SelectorError::TooManyDataResources {
                selector: si,
                count,
                max: MAX_DATA_RESOURCES_PER_SELECTOR,
            });
        }
        total += count;
    }
    if total > MAX_DATA_RESOURCES_TOTAL {
        return Err(SelectorError::TooManyDataResourcesTotal {
            count: total,
            max: MAX_DATA_RESOURCES_TOTAL,
        });
    }
    Ok(())
}

/// `arn:<partition>:<service>` followed by end of string or `:`; for S3 the
/// form is `arn:<partition>:s3` or `arn:<partition>:s3:::<bucket...>`.
fn basic_value_ok(ty: &str, v: &str) -> bool {
    if v.chars().count() > MAX_VALUE_LEN {
        return false;
    }
    let service = match ty {
        "AWS::S3::Object" => "s3",
        "AWS::Lambda::Function" => "lambda",
        "AWS::DynamoDB::Table" => "dynamodb",
        _ => return false,
    };
    let Some(rest) = v.strip_prefix("arn:") else {
        return false;
    };
    let (partition, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if partition.is_empty() {
        return false;
    }
    let (svc, tail) = match rest.split_once(':') {
        Some((s, t)) => (s, Some(t)),
        None => (rest, None),
    };
    if svc != service {
        return false;
    }
    match (service, tail) {
        (_, None) => true,
        ("s3", Some(t)) => t.starts_with("::"),
        (_, Some(_)) => true,
    }
}

/// Field names CloudTrail supports in advanced selectors.
const KNOWN_FIELDS: [&str; 11] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "resources.type",
    "resources.ARN",
    "sessionCredentialFromConsole",
    "userIdentity.arn",
    "errorCode",
    "vpcEndpointId",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cat {
    Management,
    Data,
    NetworkActivity,
    /// Insight, ConfigurationItem, Evidence, ActivityAuditLog (event data stores only).
    EdsOnly,
}

const TRAIL_CATEGORIES: &str = "Management, Data, NetworkActivity";
const EDS_CATEGORIES: &str =
    "Management, Data, NetworkActivity, Insight, ConfigurationItem, Evidence, ActivityAuditLog";

fn category(ctx: Context, v: &str) -> Option<Cat> {
    match v {
        "Management" => Some(Cat::Management),
        "Data" => Some(Cat::Data),
        "NetworkActivity" => Some(Cat::NetworkActivity),
        "Insight" | "ConfigurationItem" | "Evidence" | "ActivityAuditLog"
            if ctx == Context::EventDataStore =>
        {
            Some(Cat::EdsOnly)
        }
        _ => None,
    }
}

fn field_name_ok(f: &str) -> bool {
    let n = f.chars().count();
    (1..=MAX_FIELD_LEN).contains(&n)
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'|')
}

fn resource_type_ok(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("AWS::") else {
        return false;
    };
    let Some((a, b)) = rest.split_once("::") else {
        return false;
    };
    let word = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric());
    word(a) && word(b)
}

/// An ARN: `arn:` and at least five `:` separators.
fn looks_like_arn(v: &str) -> bool {
    v.starts_with("arn:") && v.bytes().filter(|&b| b == b':').count() >= 5
}

fn validate_advanced(sels: &[AdvancedEventSelector], ctx: Context) -> Result<(), SelectorError> {
    const MEMBER: &str = "AdvancedEventSelectors";
    if sels.is_empty() {
        return Err(SelectorError::NoSelectors { member: MEMBER });
    }
    if ctx == Context::EventDataStore && sels.len() > MAX_EDS_ADVANCED_SELECTORS {
        return Err(SelectorError::TooManySelectors {
            member: MEMBER,
            count: sels.len(),
            max: MAX_EDS_ADVANCED_SELECTORS,
        });
    }
    // Structural checks first.
    for (si, sel) in sels.iter().enumerate() {
        if let Some(name) = &sel.name {
            let len = name.chars().count();
            if len > MAX_NAME_LEN {
                return Err(SelectorError::NameTooLong {
                    selector: si,
                    len,
                    max: MAX_NAME_LEN,
                });
            }
        }
        if sel.field_selectors.is_empty() {
            return Err(SelectorError::NoFieldSelectors { selector: si });
        }
        for (fi, fs) in sel.field_selectors.iter().enumerate() {
            if !field_name_ok(&fs.field) {
                return Err(SelectorError::InvalidFieldName {
                    selector: si,
                    field_selector: fi,
                    field: fs.field.clone(),
                });
            }
            if fs.operators().next().is_none() {
                return Err(SelectorError::NoOperator {
                    selector: si,
                    field_selector: fi,
                    field: fs.field.clone(),
                });
            }
            for (op, list) in fs.operators() {
                if list.is_empty() {
                    return Err(SelectorError::EmptyOperatorList {
                        selector: si,
                        field_selector: fi,
                        field: fs.field.clone(),
                        operator: op,
                    });
                }
                for v in list {
                    let len = v.chars().count();
                    if len == 0 || len > MAX_VALUE_LEN || v.contains(['\n', '\r']) {
                        return Err(SelectorError::InvalidValueLength {
                            selector: si,
                            field_selector: fi,
                            field: fs.field.clone(),
                            operator: op,
                            len,
                            max: MAX_VALUE_LEN,
                        });
                    }
                }
            }
        }
    }
    let count: usize = sels
        .iter()
        .flat_map(|s| s.field_selectors.iter())
        .map(AdvancedFieldSelector::value_count)
        .sum();
    if count > MAX_ADVANCED_VALUES {
        return Err(SelectorError::TooManyValues {
            count,
            max: MAX_ADVANCED_VALUES,
        });
    }
    for (si, sel) in sels.iter().enumerate() {
        validate_selector_fields(si, sel, ctx)?;
    }
    Ok(())
}

fn op_err(
    si: usize,
    fi: usize,
    fs: &AdvancedFieldSelector,
    op: Operator,
    context: &'static str,
    supported: &'static str,
) -> SelectorError {
    SelectorError::OperatorNotAllowed {
        selector: si,
        field_selector: fi,
        field: fs.field.clone(),
        operator: op,
        context,
        supported,
    }
}

/// Rejects any operator of `fs` not in `allowed`.
fn only_ops(
    si: usize,
    fi: usize,
    fs: &AdvancedFieldSelector,
    allowed: &[Operator],
    context: &'static str,
    supported: &'static str,
) -> Result<(), SelectorError> {
    match fs.operators().find(|(op, _)| !allowed.contains(op)) {
        Some((op, _)) => Err(op_err(si, fi, fs, op, context, supported)),
        None => Ok(()),
    }
}

/// Rejects any value of `fs` not accepted by `ok`.
fn only_values(
    si: usize,
    fi: usize,
    fs: &AdvancedFieldSelector,
    ok: impl Fn(&str) -> bool,
    expected: &'static str,
) -> Result<(), SelectorError> {
    only_values_of(si, fi, fs, |_| true, ok, expected)
}

/// [`only_values`] for the lists of the operators `of` picks.
fn only_values_of(
    si: usize,
    fi: usize,
    fs: &AdvancedFieldSelector,
    of: impl Fn(Operator) -> bool,
    ok: impl Fn(&str) -> bool,
    expected: &'static str,
) -> Result<(), SelectorError> {
    for (op, list) in fs.operators().filter(|&(op, _)| of(op)) {
        if let Some(v) = list.iter().find(|v| !ok(v)) {
            return Err(SelectorError::InvalidFieldValue {
                selector: si,
                field_selector: fi,
                field: fs.field.clone(),
                operator: op,
                value: v.clone(),
                expected,
            });
        }
    }
    Ok(())
}

fn exactly_one(
    si: usize,
    fi: usize,
    fs: &AdvancedFieldSelector,
    op: Operator,
) -> Result<(), SelectorError> {
    let count = fs.list(op).map_or(0, <[String]>::len);
    if count == 1 {
        Ok(())
    } else {
        Err(SelectorError::ExactlyOneValue {
            selector: si,
            field_selector: fi,
            field: fs.field.clone(),
            operator: op,
            count,
        })
    }
}

/// Runs `check` on the field selector of `sel` named `field`, in order, failing
/// with `DuplicateField` at a second one; whether there was one.
fn at_most_once<'s>(
    si: usize,
    sel: &'s AdvancedEventSelector,
    field: &str,
    mut check: impl FnMut(usize, &'s AdvancedFieldSelector) -> Result<(), SelectorError>,
) -> Result<bool, SelectorError> {
    let mut seen = false;
    for (fi, fs) in sel.field_selectors.iter().enumerate() {
        if fs.field != field {
            continue;
        }
        if seen {
            return Err(SelectorError::DuplicateField {
                selector: si,
                field_selector: fi,
                field: fs.field.clone(),
            });
        }
        seen = true;
        check(fi, fs)?;
    }
    Ok(seen)
}

fn validate_selector_fields(
    si: usize,
    sel: &AdvancedEventSelector,
    ctx: Context,
) -> Result<(), SelectorError> {
    // eventCategory: exactly one field selector, Equals only, known values.
    let mut cats: Vec<(Cat, &str)> = Vec::new();
    let valid = match ctx {
        Context::Trail => TRAIL_CATEGORIES,
        Context::EventDataStore => EDS_CATEGORIES,
    };
    let seen_category = at_most_once(si, sel, "eventCategory", |fi, fs| {
        only_ops(si, fi, fs, &[Operator::Equals], "", "Equals")?;
        for v in fs.equals.iter().flatten() {
            let Some(c) = category(ctx, v) else {
                return Err(SelectorError::InvalidEventCategory {
                    selector: si,
                    field_selector: fi,
                    value: v.clone(),
                    valid,
                });
            };
            cats.push((c, v));
        }
        Ok(())
    })?;
    if !seen_category {
        return Err(SelectorError::MissingEventCategory { selector: si });
    }
    at_most_once(si, sel, "resources.type", |_, _| Ok(()))?;
    for (fi, fs) in sel.field_selectors.iter().enumerate() {
        if !KNOWN_FIELDS.contains(&fs.field.as_str()) {
            return Err(SelectorError::UnknownField {
                selector: si,
                field_selector: fi,
                field: fs.field.clone(),
            });
        }
    }
    // Every listed category's rules must hold.
    for &(cat, cat_name) in &cats {
        check_category(si, sel, ctx, cat, cat_name)?;
    }
    Ok(())
}

fn allowed_fields(ctx: Context, cat: Cat) -> &'static [&'static str] {
    match (cat, ctx) {
        (Cat::Management, Context::Trail) => &["eventCategory", "eventSource", "readOnly"],
        (Cat::Management, Context::EventDataStore) => &[
            "eventCategory",
            "eventSource",
            "readOnly",
            "eventName",
            "eventType",
            "sessionCredentialFromConsole",
            "userIdentity.arn",
        ],
        (Cat::Data, _) => &[
            "eventCategory",
            "eventSource",
            "readOnly",
            "eventName",
            "eventType",
            "resources.type",
            "resources.ARN",
            "sessionCredentialFromConsole",
            "userIdentity.arn",
        ],
        (Cat::NetworkActivity, _) => &[
            "eventCategory",
            "eventSource",
            "eventName",
            "userIdentity.arn",
            "errorCode",
            "vpcEndpointId",
        ],
        (Cat::EdsOnly, _) => &["eventCategory"],
    }
}

fn check_category(
    si: usize,
    sel: &AdvancedEventSelector,
    ctx: Context,
    cat: Cat,
    cat_name: &str,
) -> Result<(), SelectorError> {
    let ctx_text = match ctx {
        Context::Trail => " on trails",
        Context::EventDataStore => " in event data stores",
    };
    let allowed = allowed_fields(ctx, cat);
    let mut has_resources_type = false;
    let mut event_sources = 0usize;
    for (fi, fs) in sel.field_selectors.iter().enumerate() {
        let field = fs.field.as_str();
        if !allowed.contains(&field) {
            return Err(SelectorError::FieldNotAllowed {
                selector: si,
                field_selector: fi,
                field: fs.field.clone(),
                category: cat_name.to_owned(),
                context: ctx_text,
            });
        }
        match field {
            "readOnly" => {
                only_ops(si, fi, fs, &[Operator::Equals], "", "Equals")?;
                only_values(si, fi, fs, |v| v == "true" || v == "false", "true or false")?;
            }
            "resources.type" => {
                has_resources_type = true;
                only_ops(si, fi, fs, &[Operator::Equals], "", "Equals")?;
                exactly_one(si, fi, fs, Operator::Equals)?;
                only_values(
                    si,
                    fi,
                    fs,
                    resource_type_ok,
                    "a resource type of the form AWS::Service::Type",
                )?;
            }
            "resources.ARN" => {
                only_values_of(
                    si,
                    fi,
                    fs,
                    |op| matches!(op, Operator::Equals | Operator::NotEquals),
                    looks_like_arn,
                    "a complete ARN (use StartsWith/EndsWith for partial ARNs)",
                )?;
            }
            "sessionCredentialFromConsole" => {
                only_ops(
                    si,
                    fi,
                    fs,
                    &[Operator::Equals, Operator::NotEquals],
                    "",
                    "Equals, NotEquals",
                )?;
                only_values(si, fi, fs, |v| v == "true", "true")?;
            }
            "errorCode" => {
                only_ops(si, fi, fs, &[Operator::Equals], "", "Equals")?;
                only_values(si, fi, fs, |v| v == "VpceAccessDenied", "VpceAccessDenied")?;
            }
            "eventSource" => match cat {
                Cat::Management if ctx == Context::Trail => {
                    only_ops(
                        si,
                        fi,
                        fs,
                        &[Operator::NotEquals],
                        " in Management event selectors on trails",
                        "NotEquals",
                    )?;
                    only_values(
                        si,
                        fi,
                        fs,
                        |v| EXCLUDABLE_SOURCES.contains(&v),
                        "kms.amazonaws.com or rdsdata.amazonaws.com",
                    )?;
                }
                Cat::NetworkActivity => {
                    event_sources += 1;
                    if event_sources > 1 {
                        return Err(SelectorError::DuplicateField {
                            selector: si,
                            field_selector: fi,
                            field: fs.field.clone(),
                        });
                    }
                    only_ops(
                        si,
                        fi,
                        fs,
                        &[Operator::Equals],
                        " in NetworkActivity event selectors",
                        "Equals",
                    )?;
                    exactly_one(si, fi, fs, Operator::Equals)?;
                }
                _ => {}
            },
            _ => {}
        }
    }
    if cat == Cat::Data && !has_resources_type {
        return Err(SelectorError::MissingRequiredField {
            selector: si,
            field: "resources.type",
            category: cat_name.to_owned(),
        });
    }
    if cat == Cat::NetworkActivity && event_sources == 0 {
        return Err(SelectorError::MissingRequiredField {
            selector: si,
            field: "eventSource",
            category: cat_name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values() {
        assert!(basic_value_ok("AWS::S3::Object", "arn:aws:s3"));
        assert!(basic_value_ok("AWS::S3::Object", "arn:aws:s3:::"));
        assert!(basic_value_ok("AWS::S3::Object", "arn:aws:s3:::bucket/"));
        assert!(!basic_value_ok("AWS::S3::Object", "arn:aws:s3:bucket"));
        assert!(!basic_value_ok("AWS::S3::Object", "arn:aws:lambda"));
        assert!(!basic_value_ok("AWS::S3::Object", "bucket/key"));
        assert!(basic_value_ok("AWS::Lambda::Function", "arn:aws:lambda"));
        assert!(basic_value_ok(
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:111122223333:function:hello"
        ));
        assert!(basic_value_ok(
            "AWS::DynamoDB::Table",
            "arn:aws-cn:dynamodb"
        ));
        assert!(!basic_value_ok("AWS::DynamoDB::Table", "arn::dynamodb"));
    }

    #[test]
    fn field_names() {
        assert!(field_name_ok("resources.ARN"));
        assert!(field_name_ok("a|b_c.1"));
        assert!(!field_name_ok(""));
        assert!(!field_name_ok("event-name"));
        assert!(!field_name_ok(&"a".repeat(1001)));
        assert!(field_name_ok(&"a".repeat(1000)));
    }

    #[test]
    fn resource_types() {
        assert!(resource_type_ok("AWS::S3::Object"));
        assert!(resource_type_ok("AWS::S3ObjectLambda::AccessPoint"));
        assert!(!resource_type_ok("AWS::S3::"));
        assert!(!resource_type_ok("AWS::S3::Object::X"));
        assert!(!resource_type_ok("aws::s3::object"));
    }

    #[test]
    fn all_of_type() {
        assert!(is_all_of_type("AWS::S3::Object", "arn:aws:s3:::"));
        assert!(!is_all_of_type("AWS::S3::Object", "arn:aws:lambda"));
        assert!(is_all_of_type("AWS::DynamoDB::Table", "arn:aws:dynamodb"));
    }
}
