//! Data-driven tests: every `tests/cases/*.json` except `parse*.json` is a
//! group of evaluation cases (policy set, request, expected decision,
//! optional expected Sid and reason text); `parse*.json` holds documents
//! that must be rejected (with an expected message fragment) or accepted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_policy::{
    ContextValue, DecisionEffect, Policy, PolicySet, PolicyType, PrincipalInfo, Request, evaluate,
    explain, simulate,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Clone)]
struct Doc {
    id: String,
    document: Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PrincipalSpec {
    Arn(String),
    Full(PrincipalInfo),
}

#[derive(Deserialize)]
struct RequestSpec {
    principal: PrincipalSpec,
    action: String,
    resource: String,
    #[serde(default)]
    resource_account: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, ContextValue>,
}

#[derive(Deserialize, Default, Clone)]
struct Policies {
    identity: Option<Vec<Doc>>,
    resource: Option<Doc>,
    boundary: Option<Doc>,
    session: Option<Doc>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(flatten)]
    policies: Policies,
    request: RequestSpec,
    expect: String,
    matched_sid: Option<String>,
    reason_contains: Option<String>,
    explain_contains: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    description: String,
    #[serde(flatten)]
    policies: Policies,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct ParseGroup {
    description: String,
    invalid: Vec<InvalidDoc>,
    valid: Vec<ValidDoc>,
}

#[derive(Deserialize)]
struct InvalidDoc {
    name: String,
    document: Option<Value>,
    text: Option<String>,
    error_contains: String,
    /// Validate as `Identity` or `Resource` after parsing.
    #[serde(default)]
    validate_as: Option<String>,
}

#[derive(Deserialize)]
struct ValidDoc {
    name: String,
    document: Value,
    statements: usize,
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    files
}

fn is_parse_file(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("parse"))
}

fn parse(doc: &Doc, what: &str) -> (String, Policy) {
    let text = serde_json::to_string(&doc.document).unwrap();
    let policy = Policy::parse(&text)
        .unwrap_or_else(|e| panic!("{what}: policy {} does not parse: {e}", doc.id));
    (doc.id.clone(), policy)
}

fn principal(spec: &PrincipalSpec) -> PrincipalInfo {
    match spec {
        PrincipalSpec::Full(p) => p.clone(),
        PrincipalSpec::Arn(s) if s == "anonymous" => PrincipalInfo::anonymous(),
        PrincipalSpec::Arn(s) => match s.strip_prefix("service:") {
            Some(name) => PrincipalInfo::service(name),
            None => {
                PrincipalInfo::from_arn(s).unwrap_or_else(|| panic!("unrecognised principal {s}"))
            }
        },
    }
}

#[test]
fn evaluation_cases() {
    let mut total = 0;
    for file in case_files().into_iter().filter(|p| !is_parse_file(p)) {
        let group: Group = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!group.description.is_empty());
        for case in &group.cases {
            let what = format!(
                "{}: {}",
                file.file_name().unwrap().to_string_lossy(),
                case.name
            );
            let pick = |c: &Option<Doc>, g: &Option<Doc>| c.clone().or_else(|| g.clone());
            let identity = case
                .policies
                .identity
                .clone()
                .or_else(|| group.policies.identity.clone())
                .unwrap_or_default();
            let set = PolicySet {
                identity: identity.iter().map(|d| parse(d, &what)).collect(),
                resource: pick(&case.policies.resource, &group.policies.resource)
                    .map(|d| parse(&d, &what)),
                permission_boundary: pick(&case.policies.boundary, &group.policies.boundary)
                    .map(|d| parse(&d, &what)),
                session: pick(&case.policies.session, &group.policies.session)
                    .map(|d| parse(&d, &what)),
            };
            let r = &case.request;
            let req = Request {
                principal: principal(&r.principal),
                action: r.action.clone(),
                resource: r.resource.clone(),
                resource_account: r.resource_account.clone(),
                context: r.context.clone(),
            };
            let decision = evaluate(&req, &set);
            let expected = match case.expect.as_str() {
                "Allow" => DecisionEffect::Allow,
                "ExplicitDeny" => DecisionEffect::ExplicitDeny,
                "ImplicitDeny" => DecisionEffect::ImplicitDeny,
                other => panic!("{what}: bad expect {other}"),
            };
            assert_eq!(
                decision.effect, expected,
                "{what}\nreason: {}",
                decision.reason
            );
            if let Some(sid) = &case.matched_sid {
                assert!(
                    decision
                        .matched
                        .iter()
                        .any(|m| m.sid.as_deref() == Some(sid.as_str())),
                    "{what}: sid {sid} not among matched {:?}",
                    decision.matched
                );
            }
            if let Some(text) = &case.reason_contains {
                assert!(
                    decision.reason.contains(text.as_str()),
                    "{what}: reason {:?} lacks {text:?}",
                    decision.reason
                );
            }
            // The traced evaluation agrees, and explains itself.
            let traced = simulate(&req, &set);
            assert_eq!(traced.effect, decision.effect, "{what}");
            assert_eq!(traced.matched, decision.matched, "{what}");
            assert_eq!(traced.reason, decision.reason, "{what}");
            assert!(decision.near_misses.is_empty());
            let text = explain(&traced);
            assert!(text.contains(&decision.reason), "{what}");
            if let Some(fragment) = &case.explain_contains {
                assert!(
                    text.contains(fragment.as_str()),
                    "{what}: explanation lacks {fragment:?}:\n{text}"
                );
            }
            total += 1;
        }
    }
    assert!(total >= 200, "only {total} evaluation cases");
}

#[test]
fn parse_cases() {
    let mut total = 0;
    for file in case_files().into_iter().filter(|p| is_parse_file(p)) {
        let group: ParseGroup = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!group.description.is_empty());
        for case in &group.invalid {
            let text = match (&case.text, &case.document) {
                (Some(t), _) => t.clone(),
                (None, Some(d)) => serde_json::to_string(d).unwrap(),
                (None, None) => panic!("{}: no document", case.name),
            };
            let result = Policy::parse(&text).and_then(|p| match case.validate_as.as_deref() {
                Some("Identity") => p.validate_as(PolicyType::Identity),
                Some("Resource") => p.validate_as(PolicyType::Resource),
                _ => Ok(()),
            });
            let err = result.expect_err(&case.name);
            let msg = err.to_string();
            assert!(
                msg.to_lowercase()
                    .contains(&case.error_contains.to_lowercase()),
                "{}: error {msg:?} lacks {:?}",
                case.name,
                case.error_contains
            );
            assert_eq!(
                err.class().aws_code(),
                "MalformedPolicyDocument",
                "{}",
                case.name
            );
            total += 1;
        }
        for case in &group.valid {
            let text = serde_json::to_string(&case.document).unwrap();
            let p = Policy::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(p.statements().len(), case.statements, "{}", case.name);
            total += 1;
        }
    }
    assert!(total >= 40, "only {total} parse cases");
}

#[test]
fn explain_reads_well() {
    let policy = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Office","Effect":"Allow","Action":"cloudtrail:*","Resource":"*",
         "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
        {"Sid":"NoDelete","Effect":"Deny","Action":"cloudtrail:DeleteTrail","Resource":"*"}]}"#,
    )
    .unwrap();
    let set = PolicySet {
        identity: vec![("ops".into(), policy)],
        ..PolicySet::default()
    };
    let req = Request::new(
        PrincipalInfo::user("arn:aws:iam::111122223333:user/alice"),
        "cloudtrail:StopLogging",
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
    )
    .with_context("aws:SourceIp", "192.0.2.10");
    let text = explain(&simulate(&req, &set));
    let expected = "decision: IMPLICIT DENY
reason: implicitly denied: no statement allows it
matching statements: none
statements not applied because a condition failed:
  Allow identity policy \"ops\" statement 0 (sid \"Office\")
    IpAddress aws:SourceIp: request value [\"192.0.2.10\"] does not match any of [\"10.0.0.0/8\"]
    Bool aws:MultiFactorAuthPresent: key is not present in the request (policy values [\"true\"])
";
    assert_eq!(text, expected);
}
