//! What a trail's event selectors record: management events (read/write) and data events
//! for a resource type, across basic `DataResources` and advanced field selectors.
//!
//! The rules (CloudTrail user guide, "Logging data events"):
//! - basic: `DataResources` Type `AWS::S3::Object` with the value `arn:aws:s3` (or the older
//!   `arn:aws:s3:::`) means all buckets, a bucket ARN means only that bucket; the selector's
//!   `ReadWriteType` says read, write or both. Lambda's all-functions value is `arn:aws:lambda`.
//! - advanced: a selector with `eventCategory = Data` and `resources.type = TYPE` records all
//!   resources unless another field narrows it: `resources.ARN` with `StartsWith`/`Equals`/
//!   `EndsWith` (a subset; `StartsWith arn:aws:s3:::` is everything), any `Not*` operator
//!   (exclusions), or `eventName`, `eventSource`, `userIdentity.arn`, ... (some events only).
//!   `readOnly = true` is reads only, `readOnly = false` writes only, absent is both.
//! - selectors are OR'ed: full coverage needs reads and writes each covered by some
//!   unnarrowed selector.

use crate::facts::{AdvancedSelector, FieldSelector, Selectors};

/// Coverage of one event class by one trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// All read events recorded.
    pub read: bool,
    /// All write events recorded.
    pub write: bool,
    /// Why coverage is partial, or what the deciding selector was.
    pub notes: Vec<String>,
}

impl Coverage {
    /// Reads and writes both fully covered.
    #[must_use]
    pub fn full(&self) -> bool {
        self.read && self.write
    }
}

fn rw_from_basic(rw: &str) -> (bool, bool) {
    match rw {
        "ReadOnly" => (true, false),
        "WriteOnly" => (false, true),
        _ => (true, true),
    }
}

fn rw_from_advanced(field: Option<&FieldSelector>) -> (bool, bool) {
    let Some(f) = field else {
        return (true, true);
    };
    let has = |v: &[String], x: &str| v.iter().any(|s| s.eq_ignore_ascii_case(x));
    let mut read = true;
    let mut write = true;
    if !f.equals.is_empty() {
        read = has(&f.equals, "true");
        write = has(&f.equals, "false");
    }
    if has(&f.not_equals, "true") {
        read = false;
    }
    if has(&f.not_equals, "false") {
        write = false;
    }
    (read, write)
}

/// `arn:<partition>:<service>` or `arn:<partition>:<service>:::` (all resources of the
/// service, as basic selectors write it).
fn is_all_value(value: &str, service: &str) -> bool {
    let parts: Vec<&str> = value.trim().split(':').collect();
    parts.len() >= 3
        && parts[0] == "arn"
        && parts[2] == service
        && parts[3..].iter().all(|p| p.is_empty() || *p == "*")
}

fn service_of(resource_type: &str) -> &'static str {
    match resource_type {
        "AWS::S3::Object" => "s3",
        "AWS::Lambda::Function" => "lambda",
        _ => "",
    }
}

fn describe(f: &FieldSelector) -> String {
    let mut parts = Vec::new();
    for (op, v) in [
        ("Equals", &f.equals),
        ("StartsWith", &f.starts_with),
        ("EndsWith", &f.ends_with),
        ("NotEquals", &f.not_equals),
        ("NotStartsWith", &f.not_starts_with),
        ("NotEndsWith", &f.not_ends_with),
    ] {
        if !v.is_empty() {
            parts.push(format!("{op} {}", v.join(", ")));
        }
    }
    format!("{} {}", f.field, parts.join("; "))
}

fn field<'a>(s: &'a AdvancedSelector, name: &str) -> Option<&'a FieldSelector> {
    s.fields.iter().find(|f| f.field == name)
}

fn equals_includes(f: Option<&FieldSelector>, value: &str) -> bool {
    f.is_some_and(|f| f.equals.iter().any(|v| v == value))
}

/// Why an advanced selector for `resource_type` does not cover every resource and event
/// (empty when it does).
fn advanced_narrowing(s: &AdvancedSelector, resource_type: &str) -> Vec<String> {
    let service = service_of(resource_type);
    let mut why = Vec::new();
    for f in &s.fields {
        match f.field.as_str() {
            "eventCategory" | "resources.type" | "readOnly" => {}
            "resources.ARN" => {
                let all_prefix = f.starts_with.iter().any(|p| is_all_value(p, service));
                let narrowing = (!f.starts_with.is_empty() && !all_prefix)
                    || !f.equals.is_empty()
                    || !f.ends_with.is_empty();
                let excluding = !f.not_equals.is_empty()
                    || !f.not_starts_with.is_empty()
                    || !f.not_ends_with.is_empty();
                if narrowing {
                    why.push(format!("only resources matching {}", describe(f)));
                }
                if excluding {
                    why.push(format!("excludes resources: {}", describe(f)));
                }
            }
            _ => why.push(format!("only some events: {}", describe(f))),
        }
    }
    why
}

/// Data-event coverage of `resource_type` (`AWS::S3::Object`, `AWS::Lambda::Function`).
#[must_use]
pub fn data_coverage(selectors: &Selectors, resource_type: &str) -> Coverage {
    let service = service_of(resource_type);
    let mut c = Coverage::default();
    match selectors {
        Selectors::Basic(list) => {
            for s in list {
                for (ty, values) in &s.data_resources {
                    if ty != resource_type {
                        continue;
                    }
                    let (r, w) = rw_from_basic(&s.read_write);
                    if values.iter().any(|v| is_all_value(v, service)) {
                        c.read |= r;
                        c.write |= w;
                        c.notes.push(format!(
                            "basic selector DataResources {ty} = {} (ReadWriteType {})",
                            values.join(", "),
                            s.read_write
                        ));
                    } else {
                        c.notes.push(format!(
                            "basic selector DataResources {ty} only for {}",
                            values.join(", ")
                        ));
                    }
                }
            }
        }
        Selectors::Advanced(list) => {
            for s in list {
                let cat = field(s, "eventCategory");
                let ty = field(s, "resources.type");
                if !equals_includes(cat, "Data") || !equals_includes(ty, resource_type) {
                    continue;
                }
                let label = s.name.clone().unwrap_or_else(|| "(unnamed)".into());
                let (r, w) = rw_from_advanced(field(s, "readOnly"));
                let why = advanced_narrowing(s, resource_type);
                if why.is_empty() {
                    c.read |= r;
                    c.write |= w;
                    let rw = match (r, w) {
                        (true, true) => "reads and writes",
                        (true, false) => "reads only",
                        (false, true) => "writes only",
                        (false, false) => "nothing",
                    };
                    c.notes.push(format!(
                        "advanced selector {label}: all {resource_type} resources, {rw}"
                    ));
                } else {
                    c.notes
                        .push(format!("advanced selector {label}: {}", why.join("; ")));
                }
            }
        }
    }
    if c.notes.is_empty() {
        c.notes
            .push(format!("no selector records {resource_type} data events"));
    }
    c
}

/// Management-event coverage: read, write, and notes on exclusions.
#[must_use]
pub fn management_coverage(selectors: &Selectors) -> Coverage {
    let mut c = Coverage::default();
    match selectors {
        Selectors::Basic(list) => {
            for s in list.iter().filter(|s| s.include_management) {
                let (r, w) = rw_from_basic(&s.read_write);
                c.read |= r;
                c.write |= w;
                if !s.exclude_management_sources.is_empty() {
                    c.notes.push(format!(
                        "management events exclude {}",
                        s.exclude_management_sources.join(", ")
                    ));
                }
            }
        }
        Selectors::Advanced(list) => {
            for s in list {
                if !equals_includes(field(s, "eventCategory"), "Management") {
                    continue;
                }
                let (r, w) = rw_from_advanced(field(s, "readOnly"));
                c.read |= r;
                c.write |= w;
                for f in &s.fields {
                    if !matches!(f.field.as_str(), "eventCategory" | "readOnly") {
                        c.notes
                            .push(format!("management events narrowed: {}", describe(f)));
                    }
                }
            }
        }
    }
    if !c.read && !c.write {
        c.notes.push("no selector records management events".into());
    } else if !c.read {
        c.notes
            .push("management read events are not recorded".into());
    } else if !c.write {
        c.notes
            .push("management write events are not recorded".into());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::BasicSelector;

    fn basic(rw: &str, mgmt: bool, data: &[(&str, &[&str])]) -> BasicSelector {
        BasicSelector {
            read_write: rw.into(),
            include_management: mgmt,
            exclude_management_sources: Vec::new(),
            data_resources: data
                .iter()
                .map(|(t, v)| ((*t).into(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    fn fs(field: &str, op: &str, values: &[&str]) -> FieldSelector {
        let v: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
        let mut f = FieldSelector {
            field: field.into(),
            ..FieldSelector::default()
        };
        match op {
            "Equals" => f.equals = v,
            "StartsWith" => f.starts_with = v,
            "EndsWith" => f.ends_with = v,
            "NotEquals" => f.not_equals = v,
            "NotStartsWith" => f.not_starts_with = v,
            _ => f.not_ends_with = v,
        }
        f
    }

    fn adv(fields: Vec<FieldSelector>) -> AdvancedSelector {
        AdvancedSelector {
            name: Some("s".into()),
            fields,
        }
    }

    fn s3_data() -> Vec<FieldSelector> {
        vec![
            fs("eventCategory", "Equals", &["Data"]),
            fs("resources.type", "Equals", &["AWS::S3::Object"]),
        ]
    }

    const S3: &str = "AWS::S3::Object";

    #[test]
    fn basic_all_buckets_both_spellings() {
        for v in ["arn:aws:s3", "arn:aws:s3:::", "arn:aws-us-gov:s3"] {
            let s = Selectors::Basic(vec![basic("All", true, &[(S3, &[v])])]);
            assert!(data_coverage(&s, S3).full(), "{v}");
        }
    }

    #[test]
    fn basic_one_bucket_is_not_all() {
        let s = Selectors::Basic(vec![basic(
            "All",
            true,
            &[(S3, &["arn:aws:s3:::trail-logs/"])],
        )]);
        let c = data_coverage(&s, S3);
        assert!(!c.read && !c.write);
        assert!(c.notes[0].contains("only for arn:aws:s3:::trail-logs/"));
    }

    #[test]
    fn basic_read_and_write_split_across_selectors() {
        let s = Selectors::Basic(vec![
            basic("ReadOnly", true, &[(S3, &["arn:aws:s3"])]),
            basic("WriteOnly", false, &[(S3, &["arn:aws:s3"])]),
        ]);
        assert!(data_coverage(&s, S3).full());
        let s = Selectors::Basic(vec![basic("WriteOnly", true, &[(S3, &["arn:aws:s3"])])]);
        let c = data_coverage(&s, S3);
        assert!(c.write && !c.read);
    }

    #[test]
    fn advanced_all_buckets() {
        let s = Selectors::Advanced(vec![adv(s3_data())]);
        assert!(data_coverage(&s, S3).full());
        // StartsWith the all-buckets prefix narrows nothing.
        let mut f = s3_data();
        f.push(fs("resources.ARN", "StartsWith", &["arn:aws:s3:::"]));
        assert!(data_coverage(&Selectors::Advanced(vec![adv(f)]), S3).full());
    }

    #[test]
    fn advanced_starts_with_a_bucket_is_not_all() {
        let mut f = s3_data();
        f.push(fs(
            "resources.ARN",
            "StartsWith",
            &["arn:aws:s3:::trail-logs/"],
        ));
        let c = data_coverage(&Selectors::Advanced(vec![adv(f)]), S3);
        assert!(!c.read && !c.write);
        assert!(
            c.notes[0].contains(
                "only resources matching resources.ARN StartsWith arn:aws:s3:::trail-logs/"
            )
        );
    }

    #[test]
    fn advanced_exclusions_and_event_names_narrow() {
        let mut f = s3_data();
        f.push(fs(
            "resources.ARN",
            "NotStartsWith",
            &["arn:aws:s3:::noisy/"],
        ));
        let c = data_coverage(&Selectors::Advanced(vec![adv(f)]), S3);
        assert!(!c.full());
        assert!(c.notes[0].contains("excludes resources"));
        let mut f = s3_data();
        f.push(fs("eventName", "Equals", &["DeleteObject"]));
        let c = data_coverage(&Selectors::Advanced(vec![adv(f)]), S3);
        assert!(!c.full());
        assert!(c.notes[0].contains("only some events: eventName Equals DeleteObject"));
    }

    #[test]
    fn advanced_read_only_fields() {
        let mut r = s3_data();
        r.push(fs("readOnly", "Equals", &["true"]));
        let c = data_coverage(&Selectors::Advanced(vec![adv(r.clone())]), S3);
        assert!(c.read && !c.write);
        let mut w = s3_data();
        w.push(fs("readOnly", "Equals", &["false"]));
        assert!(data_coverage(&Selectors::Advanced(vec![adv(r), adv(w)]), S3).full());
        let mut n = s3_data();
        n.push(fs("readOnly", "NotEquals", &["true"]));
        let c = data_coverage(&Selectors::Advanced(vec![adv(n)]), S3);
        assert!(!c.read && c.write);
    }

    #[test]
    fn other_types_and_management_only_do_not_count() {
        let s = Selectors::Advanced(vec![adv(vec![fs(
            "eventCategory",
            "Equals",
            &["Management"],
        )])]);
        assert!(!data_coverage(&s, S3).full());
        assert!(management_coverage(&s).full());
        let lambda = Selectors::Advanced(vec![adv(vec![
            fs("eventCategory", "Equals", &["Data"]),
            fs("resources.type", "Equals", &["AWS::Lambda::Function"]),
        ])]);
        assert!(!data_coverage(&lambda, S3).full());
        assert!(data_coverage(&lambda, "AWS::Lambda::Function").full());
        assert!(!management_coverage(&lambda).read);
        let basic_lambda = Selectors::Basic(vec![basic(
            "All",
            true,
            &[("AWS::Lambda::Function", &["arn:aws:lambda"])],
        )]);
        assert!(data_coverage(&basic_lambda, "AWS::Lambda::Function").full());
    }

    #[test]
    fn management_read_write() {
        let s = Selectors::Basic(vec![basic("WriteOnly", true, &[])]);
        let c = management_coverage(&s);
        assert!(c.write && !c.read);
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("read events are not recorded"))
        );
        let s = Selectors::Basic(vec![basic("All", false, &[])]);
        assert!(!management_coverage(&s).write);
        let s = Selectors::Advanced(vec![adv(vec![
            fs("eventCategory", "Equals", &["Management"]),
            fs("readOnly", "Equals", &["false"]),
        ])]);
        let c = management_coverage(&s);
        assert!(c.write && !c.read);
    }
}
