//! Property tests: explicit deny can never be overridden; without Allow
//! statements nothing but the root user in its own account is allowed;
//! the parser and evaluator never panic on arbitrary JSON; `StringLike`
//! agrees with a naive wildcard matcher; `simulate` agrees with `evaluate`.

use cairn_policy::{
    DecisionEffect, Policy, PolicySet, PrincipalInfo, PrincipalKind, Request, evaluate, simulate,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const A: &str = "111122223333";
const B: &str = "444455556666";

const ACTIONS: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "cloudtrail:StopLogging",
    "s3:GetObject",
    "s3:PutObject",
    "kms:Decrypt",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "cloudtrail:*",
    "s3:Get*",
    "cloudtrail:Describe*",
    "s3:?utObject",
    "CLOUDTRAIL:stoplogging",
    "kms:Decrypt",
    "s3:GetObject",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/key",
    "arn:aws:s3:::home/alice/x",
    "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
    "arn:aws:kms:us-east-1:444455556666:key/k",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::*",
    "arn:aws:cloudtrail:*:111122223333:trail/*",
    "arn:aws:s3:::home/${aws:username}/*",
    "arn:aws:*:*:*:*",
    "arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
];

fn conditions() -> Vec<Value> {
    vec![
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}),
        json!({"StringNotEquals": {"s3:x-amz-acl": "public-read"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
        json!({"StringLikeIfExists": {"aws:username": "a*"}}),
        json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}),
        json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}),
        json!({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
        json!({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}),
    ]
}

fn principals() -> Vec<Value> {
    vec![
        json!("*"),
        json!({"AWS": A}),
        json!({"AWS": format!("arn:aws:iam::{B}:root")}),
        json!({"AWS": format!("arn:aws:iam::{A}:user/alice")}),
        json!({"AWS": format!("arn:aws:iam::{A}:role/Auditor")}),
        json!({"AWS": format!("arn:aws:sts::{A}:assumed-role/Auditor/s1")}),
        json!({"Service": "cloudtrail.amazonaws.com"}),
    ]
}

fn pick<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> impl Strategy<Value = T> {
    proptest::sample::select(items)
}

fn statement(resource_policy: bool) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(pick(ACTION_PATTERNS.to_vec()), 1..3),
        0u8..3,
        proptest::collection::vec(pick(RESOURCE_PATTERNS.to_vec()), 1..3),
        proptest::option::of(pick(conditions())),
        pick(principals()),
        any::<bool>(),
    )
        .prop_map(
            move |(
                allow,
                not_action,
                actions,
                res_kind,
                resources,
                cond,
                principal,
                not_principal,
            )| {
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
                s.insert(
                    if not_action { "NotAction" } else { "Action" }.into(),
                    json!(actions),
                );
                match res_kind {
                    0 => {
                        s.insert("Resource".into(), json!(resources));
                    }
                    1 => {
                        s.insert("NotResource".into(), json!(resources));
                    }
                    _ => {
                        if !resource_policy {
                            s.insert("Resource".into(), json!("*"));
                        }
                    }
                }
                if let Some(c) = cond {
                    s.insert("Condition".into(), c);
                }
                if resource_policy {
                    let key = if not_principal && principal != json!("*") {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    s.insert(key.into(), principal);
                }
                Value::Object(s)
            },
        )
}

fn policy_doc(resource_policy: bool) -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(statement(resource_policy), 1..4)
}

#[derive(Debug, Clone)]
struct Docs {
    identity: Vec<Vec<Value>>,
    resource: Option<Vec<Value>>,
    boundary: Option<Vec<Value>>,
    session: Option<Vec<Value>>,
}

fn docs() -> impl Strategy<Value = Docs> {
    (
        proptest::collection::vec(policy_doc(false), 0..3),
        proptest::option::of(policy_doc(true)),
        proptest::option::weighted(0.25, policy_doc(false)),
        proptest::option::weighted(0.25, policy_doc(false)),
    )
        .prop_map(|(identity, resource, boundary, session)| Docs {
            identity,
            resource,
            boundary,
            session,
        })
}

fn compile(statements: &[Value]) -> Policy {
    let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    Policy::parse(&text).unwrap_or_else(|e| panic!("generated policy must parse: {e}\n{text}"))
}

fn build(d: &Docs) -> PolicySet {
    let opt = |name: &str, v: &Option<Vec<Value>>| {
        v.as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| (name.to_owned(), compile(s)))
    };
    PolicySet {
        identity: d
            .identity
            .iter()
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| (format!("id{i}"), compile(s)))
            .collect(),
        resource: opt("resource", &d.resource),
        permission_boundary: opt("boundary", &d.boundary),
        session: opt("session", &d.session),
    }
}

fn principal_info() -> impl Strategy<Value = PrincipalInfo> {
    pick(vec![
        PrincipalInfo::user(&format!("arn:aws:iam::{A}:user/alice")),
        PrincipalInfo::assumed_role(&format!("arn:aws:sts::{A}:assumed-role/Auditor/s1")),
        PrincipalInfo::root(A),
        PrincipalInfo::user(&format!("arn:aws:iam::{B}:user/bob")).with_org_id("o-1"),
        PrincipalInfo::root(B),
        PrincipalInfo::service("cloudtrail.amazonaws.com"),
        PrincipalInfo::anonymous(),
    ])
}

fn request() -> impl Strategy<Value = Request> {
    (
        principal_info(),
        pick(ACTIONS.to_vec()),
        pick(RESOURCES.to_vec()),
        pick(vec![None, Some(A), Some(B)]),
        proptest::collection::vec(
            pick(vec![
                ("aws:SecureTransport", "true"),
                ("aws:SecureTransport", "false"),
                ("aws:SourceIp", "10.1.2.3"),
                ("aws:SourceIp", "192.0.2.1"),
                ("s3:x-amz-acl", "public-read"),
                ("aws:TokenIssueTime", "2024-01-01T00:00:00Z"),
                ("aws:MultiFactorAuthAge", "100"),
                ("aws:CurrentTime", "2025-01-01T00:00:00Z"),
                (
                    "aws:SourceArn",
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
                ),
            ]),
            0..4,
        ),
        proptest::option::of(proptest::collection::vec(pick(vec!["a", "b", "c"]), 0..3)),
    )
        .prop_map(|(p, action, resource, account, ctx, tags)| {
            let mut r = Request::new(p, action, resource);
            r.resource_account = account.map(str::to_owned);
            for (k, v) in ctx {
                r = r.with_context(k, v);
            }
            if let Some(tags) = tags {
                r = r.with_context(
                    "aws:TagKeys",
                    tags.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                );
            }
            r
        })
}

#[derive(Debug, Clone, Copy)]
enum DenyWhere {
    NewIdentity,
    ExistingIdentity,
    Resource,
    Boundary,
    Session,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn explicit_deny_is_never_overridden(
        d in docs(),
        req in request(),
        place in pick(vec![DenyWhere::NewIdentity, DenyWhere::ExistingIdentity, DenyWhere::Resource, DenyWhere::Boundary, DenyWhere::Session]),
        wide_action in any::<bool>(),
        wide_resource in any::<bool>(),
    ) {
        let mut d = d;
        let action = if wide_action { "*".to_owned() } else { req.action.clone() };
        let resource = if wide_resource { "*".to_owned() } else { req.resource.clone() };
        let deny = json!({"Sid": "TheDeny", "Effect": "Deny", "Action": action, "Resource": resource});
        let mut resource_deny = deny.clone();
        resource_deny["Principal"] = json!("*");
        match place {
            DenyWhere::NewIdentity => d.identity.push(vec![deny]),
            DenyWhere::ExistingIdentity => match d.identity.first_mut() {
                Some(p) => p.push(deny),
                None => d.identity.push(vec![deny]),
            },
            DenyWhere::Resource => d.resource.get_or_insert_with(Vec::new).push(resource_deny),
            DenyWhere::Boundary => d.boundary.get_or_insert_with(Vec::new).push(deny),
            DenyWhere::Session => d.session.get_or_insert_with(Vec::new).push(deny),
        }
        let set = build(&d);
        let decision = evaluate(&req, &set);
        prop_assert_eq!(decision.effect, DecisionEffect::ExplicitDeny, "{}", decision.reason);
        prop_assert!(decision.matched.iter().any(|m| m.sid.as_deref() == Some("TheDeny")));
    }

    #[test]
    fn without_allow_statements_only_root_at_home_is_allowed(d in docs(), req in request()) {
        let strip = |v: &Vec<Value>| -> Vec<Value> { v.iter().filter(|s| s["Effect"] == "Deny").cloned().collect() };
        let d = Docs {
            identity: d.identity.iter().map(strip).collect(),
            resource: d.resource.as_ref().map(strip),
            boundary: d.boundary.as_ref().map(strip),
            session: d.session.as_ref().map(strip),
        };
        let set = build(&d);
        let decision = evaluate(&req, &set);
        let root_at_home = req.principal.kind == PrincipalKind::Root && !req.is_cross_account();
        if decision.effect == DecisionEffect::Allow {
            prop_assert!(root_at_home, "allowed without allow statements: {}", decision.reason);
        }
        if !root_at_home {
            prop_assert_ne!(decision.effect, DecisionEffect::Allow);
        }
    }

    #[test]
    fn simulate_agrees_with_evaluate(d in docs(), req in request()) {
        let set = build(&d);
        let a = evaluate(&req, &set);
        let b = simulate(&req, &set);
        prop_assert_eq!(&a.effect, &b.effect);
        prop_assert_eq!(&a.matched, &b.matched);
        prop_assert_eq!(&a.reason, &b.reason);
        for n in &b.near_misses {
            prop_assert!(!n.failures.is_empty());
        }
    }

    #[test]
    fn string_like_agrees_with_naive_matcher(pattern in "[ab*?]{0,8}", text in "[ab]{0,8}") {
        let doc = json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
            "Condition": {"StringLike": {"aws:x": pattern}}}});
        let set = PolicySet { identity: vec![("p".into(), Policy::parse(&doc.to_string()).unwrap())], ..PolicySet::default() };
        let req = Request::new(PrincipalInfo::user("arn:aws:iam::111122223333:user/u"), "s3:GetObject", "*")
            .with_context("aws:x", text.as_str());
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(evaluate(&req, &set).is_allowed(), naive(&p, &t));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_json(v in arbitrary_json()) {
        let text = v.to_string();
        if let Ok(policy) = Policy::parse(&text) {
            // Whatever parses can be evaluated, as identity and as resource policy.
            let set = PolicySet {
                identity: vec![("p".into(), policy.clone())],
                resource: Some(("r".into(), policy)),
                ..PolicySet::default()
            };
            let req = Request::new(PrincipalInfo::user("arn:aws:iam::111122223333:user/alice"), "s3:GetObject", "arn:aws:s3:::b/k")
                .with_context("aws:SourceIp", "10.0.0.1")
                .with_context("aws:CurrentTime", "2024-01-01T00:00:00Z");
            let _ = simulate(&req, &set);
        }
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = Policy::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_policy_shaped_json(stmts in proptest::collection::vec(shaped_statement(), 1..4), version in pick(vec![json!("2012-10-17"), json!("2008-10-17"), json!(1), json!(null)])) {
        let doc = json!({"Version": version, "Statement": stmts});
        let _ = Policy::parse(&doc.to_string());
    }
}

fn naive(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => naive(&p[1..], t) || (!t.is_empty() && naive(p, &t[1..])),
        (Some('?'), Some(_)) => naive(&p[1..], &t[1..]),
        (Some(c), Some(d)) => c == d && naive(&p[1..], &t[1..]),
        (Some(_), None) => false,
    }
}

fn scalar_text() -> impl Strategy<Value = String> {
    prop_oneof![
        pick(vec![
            "*",
            "?",
            "",
            "s3:*",
            "cloudtrail:Describe*",
            "arn:aws:s3:::b/*",
            "arn:aws:iam::123456789012:root",
            "123456789012",
            "${aws:username}",
            "${",
            "${aws:x, 'd",
            "${aws:x, 'd'}",
            "${*}",
            "2020-01-01T00:00:00Z",
            "10.0.0.0/8",
            "::/0",
            "::1/200",
            "true",
            "QUJD",
            "Allow",
            "Deny",
            "2012-10-17",
            "arn:",
            "arn:aws:sts::123456789012:assumed-role/r",
            "9999-99-99",
            "-",
            "1e400",
            "NaN",
            "inf",
            "é*ü?",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        pick(vec![
            "Version",
            "Statement",
            "Id",
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
            "AWS",
            "Service",
            "Federated",
            "StringEquals",
            "StringLike",
            "ForAnyValue:StringLike",
            "NumericLessThanIfExists",
            "DateGreaterThan",
            "IpAddress",
            "Null",
            "Bool",
            "BinaryEquals",
            "ArnLike",
            "aws:SourceIp",
            "aws:username",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,8}",
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        scalar_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn shaped_statement() -> impl Strategy<Value = Value> {
    let member = || {
        prop_oneof![
            scalar_text().prop_map(Value::String),
            proptest::collection::vec(scalar_text().prop_map(Value::String), 0..3)
                .prop_map(Value::Array),
            Just(json!(7))
        ]
    };
    (
        pick(vec![
            json!("Allow"),
            json!("Deny"),
            json!("allow"),
            json!(null),
        ]),
        member(),
        member(),
        proptest::option::of(member()),
        proptest::option::of(
            (key(), key(), member()).prop_map(|(op, k, v)| json!({ op: { k: v } })),
        ),
    )
        .prop_map(|(effect, action, resource, principal, cond)| {
            let mut s = json!({"Effect": effect, "Action": action, "Resource": resource});
            if let Some(p) = principal {
                s["Principal"] = p;
            }
            if let Some(c) = cond {
                s["Condition"] = c;
            }
            s
        })
}
