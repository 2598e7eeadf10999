//! The decision: AWS's single-account and cross-account evaluation logic.

use std::fmt::Write as _;

use crate::condition::ConditionFailure;
use crate::policy::{Effect, Grant, Policy};
use crate::request::{PrincipalKind, Request};

/// The policies that apply to one request. Ids are whatever the caller uses
/// to name policies (ARN, `user/alice/inline-name`, ...); they are echoed in
/// [`Decision::matched`].
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Identity-based policies of the principal (user, its groups, or the
    /// session's role), from the principal's account.
    pub identity: Vec<(String, Policy)>,
    /// The resource-based policy of the resource (bucket, key, topic, trail,
    /// role trust policy), from the resource's account.
    pub resource: Option<(String, Policy)>,
    /// The principal's permissions boundary, if one is set.
    pub permission_boundary: Option<(String, Policy)>,
    /// The session policy passed to `AssumeRole`/`GetFederationToken`, if any.
    pub session: Option<(String, Policy)>,
}

/// Which kind of policy a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PolicySource {
    /// An identity-based policy.
    Identity,
    /// The resource-based policy.
    Resource,
    /// The permissions boundary.
    PermissionBoundary,
    /// The session policy.
    Session,
}

impl PolicySource {
    fn label(self) -> &'static str {
        match self {
            Self::Identity => "identity policy",
            Self::Resource => "resource policy",
            Self::PermissionBoundary => "permissions boundary",
            Self::Session => "session policy",
        }
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DecisionEffect {
    /// The request is allowed.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// Nothing (or not enough) allows the request.
    ImplicitDeny,
}

/// A statement that applied to the request (action, resource, principal and
/// conditions all matched).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MatchedStatement {
    /// The kind of policy.
    pub source: PolicySource,
    /// The caller's id for the policy.
    pub policy_id: String,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
    /// The statement's 0-based index in the policy.
    pub index: usize,
    /// The statement's effect.
    pub effect: Effect,
}

impl MatchedStatement {
    fn describe(&self) -> String {
        let mut s = format!(
            "{} {:?} statement {}",
            self.source.label(),
            self.policy_id,
            self.index
        );
        if let Some(sid) = &self.sid {
            let _ = write!(s, " (sid {sid:?})");
        }
        s
    }
}

/// A statement whose action, resource and principal matched but whose
/// conditions did not (recorded by [`simulate`] only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// The statement.
    pub statement: MatchedStatement,
    /// Each condition test that failed, and why.
    pub failures: Vec<ConditionFailure>,
}

/// The result of [`evaluate`] or [`simulate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow, explicit deny or implicit deny.
    pub effect: DecisionEffect,
    /// Every statement that applied, in evaluation order (identity,
    /// boundary, session, resource).
    pub matched: Vec<MatchedStatement>,
    /// One sentence on why.
    pub reason: String,
    /// Statements defeated only by their conditions ([`simulate`] only).
    pub near_misses: Vec<NearMiss>,
}

impl Decision {
    /// True for [`DecisionEffect::Allow`].
    pub fn is_allowed(&self) -> bool {
        self.effect == DecisionEffect::Allow
    }
}

#[derive(Default)]
struct Tally {
    deny: bool,
    identity: bool,
    boundary: bool,
    session: bool,
    resource: Option<Grant>,
}

/// Decides a request, without recording condition failures.
///
/// # Rules
///
/// 1. An applicable `Deny` statement in any policy of the set gives
///    [`DecisionEffect::ExplicitDeny`], whoever the caller is.
/// 2. The root user is allowed everything in its own account (identity
///    policies, boundaries and session policies do not apply to it; only
///    explicit denies, which the server should limit to resource policies,
///    can stop it). Across accounts it still needs the resource policy.
/// 3. Service principals and anonymous callers are allowed only by a
///    resource policy naming them (or `*`).
/// 4. Same account, for users and sessions: allowed when
///    * the resource policy names the caller directly (its user ARN, its
///      session ARN, or `*`) — implicit denies elsewhere do not matter; or
///    * the resource policy names the session's role ARN, and the permissions
///      boundary and session policy (when present) allow too; or
///    * an identity policy allows, and the permissions boundary and session
///      policy (when present) allow too. A resource policy naming only the
///      account delegates to these identity policies.
/// 5. Cross account (`resource_account` ≠ the principal's account): both
///    sides must allow — the identity side (identity ∧ boundary ∧ session)
///    in the principal's account and the resource policy (naming the
///    principal, its role, its account or `*`) in the resource's account.
pub fn evaluate(req: &Request, set: &PolicySet) -> Decision {
    decide(req, set, false)
}

/// Whether resource policy `policy` lets AWS service `service` (e.g. `s3.amazonaws.com`) do
/// `action` on `resource` (owned by `resource_account`) on behalf of `source_arn` in
/// `source_account`: the `aws:SourceArn` / `aws:SourceAccount` keys a confused-deputy-safe
/// policy conditions on (an empty one is left out of the request). How S3 delivers to a
/// queue or topic, SNS to a queue, CloudTrail to a topic.
pub fn service_may(
    policy: &crate::Policy,
    service: &str,
    action: &str,
    (resource, resource_account): (&str, &str),
    (source_arn, source_account): (&str, &str),
) -> bool {
    let mut req = Request::new(crate::PrincipalInfo::service(service), action, resource)
        .with_resource_account(resource_account);
    if !source_arn.is_empty() {
        req = req.with_context("aws:SourceArn", source_arn.to_owned());
    }
    if !source_account.is_empty() {
        req = req.with_context("aws:SourceAccount", source_account.to_owned());
    }
    let set = PolicySet {
        resource: Some(("resource-policy".to_owned(), policy.clone())),
        ..PolicySet::default()
    };
    evaluate(&req, &set).is_allowed()
}

/// Like [`evaluate`], also recording which conditions failed in statements
/// that otherwise matched (for `cairn policy simulate` and [`explain`]).
pub fn simulate(req: &Request, set: &PolicySet) -> Decision {
    decide(req, set, true)
}

fn scan(
    req: &Request,
    source: PolicySource,
    id: &str,
    policy: &Policy,
    tally: &mut Tally,
    matched: &mut Vec<MatchedStatement>,
    near: Option<&mut Vec<NearMiss>>,
) {
    let mut near = near;
    for (index, st) in policy.statements().iter().enumerate() {
        let grant = if source == PolicySource::Resource {
            match st.principal_grant(&req.principal) {
                Some(g) => g,
                None => continue,
            }
        } else {
            Grant::Direct
        };
        if !st.action_matches(&req.action) || !st.resource_matches(req) {
            continue;
        }
        let record = || MatchedStatement {
            source,
            policy_id: id.to_owned(),
            sid: st.sid().map(str::to_owned),
            index,
            effect: st.effect(),
        };
        if !st.condition().holds(req) {
            if let Some(near) = near.as_deref_mut() {
                near.push(NearMiss {
                    statement: record(),
                    failures: st.condition().failures(req),
                });
            }
            continue;
        }
        matched.push(record());
        match (st.effect(), source) {
            (Effect::Deny, _) => tally.deny = true,
            (Effect::Allow, PolicySource::Identity) => tally.identity = true,
            (Effect::Allow, PolicySource::PermissionBoundary) => tally.boundary = true,
            (Effect::Allow, PolicySource::Session) => tally.session = true,
            (Effect::Allow, PolicySource::Resource) => {
                tally.resource = tally.resource.max(Some(grant))
            }
        }
    }
}

fn decide(req: &Request, set: &PolicySet, trace: bool) -> Decision {
    let mut tally = Tally::default();
    let mut matched = Vec::new();
    let mut near = Vec::new();
    // Identity, then boundary, session and resource policies: the order of `matched`.
    let policies = (set.identity.iter().map(|p| (PolicySource::Identity, p)))
        .chain(
            set.permission_boundary
                .iter()
                .map(|p| (PolicySource::PermissionBoundary, p)),
        )
        .chain(set.session.iter().map(|p| (PolicySource::Session, p)))
        .chain(set.resource.iter().map(|p| (PolicySource::Resource, p)));
    for (source, (id, p)) in policies {
        scan(
            req,
            source,
            id,
            p,
            &mut tally,
            &mut matched,
            trace.then_some(&mut near),
        );
    }
    let (effect, reason) = verdict(req, set, &tally, &matched);
    Decision {
        effect,
        matched,
        reason,
        near_misses: near,
    }
}

fn first(matched: &[MatchedStatement], pred: impl Fn(&MatchedStatement) -> bool) -> String {
    matched
        .iter()
        .find(|m| pred(m))
        .map_or_else(|| "a statement".to_owned(), MatchedStatement::describe)
}

fn verdict(
    req: &Request,
    set: &PolicySet,
    t: &Tally,
    matched: &[MatchedStatement],
) -> (DecisionEffect, String) {
    use DecisionEffect::{Allow, ExplicitDeny, ImplicitDeny};
    if t.deny {
        return (
            ExplicitDeny,
            format!(
                "explicitly denied by {}",
                first(matched, |m| m.effect == Effect::Deny)
            ),
        );
    }
    let p = &req.principal;
    let res_allow = || {
        first(matched, |m| {
            m.effect == Effect::Allow && m.source == PolicySource::Resource
        })
    };
    let cross = req.is_cross_account();
    match p.kind {
        PrincipalKind::Service | PrincipalKind::Anonymous => {
            return match t.resource {
                Some(_) => (Allow, format!("allowed by {}", res_allow())),
                None => (
                    ImplicitDeny,
                    "no resource policy statement allows this principal".to_owned(),
                ),
            };
        }
        PrincipalKind::Root if !cross => {
            return (
                Allow,
                format!(
                    "the root user of account {} is allowed everything in its own account",
                    p.account
                ),
            );
        }
        PrincipalKind::Root => {
            return match t.resource {
                Some(_) => (
                    Allow,
                    format!("cross-account root request allowed by {}", res_allow()),
                ),
                None => (
                    ImplicitDeny,
                    format!(
                        "cross-account request: no resource policy statement in account {} allows it",
                        req.resource_account()
                    ),
                ),
            };
        }
        _ => {}
    }
    let boundary_ok = set.permission_boundary.is_none() || t.boundary;
    let session_ok = set.session.is_none() || t.session;
    let limits = || -> Option<&'static str> {
        if !boundary_ok {
            Some("the permissions boundary does not allow it")
        } else if !session_ok {
            Some("the session policy does not allow it")
        } else {
            None
        }
    };
    let id_allow = || {
        first(matched, |m| {
            m.effect == Effect::Allow && m.source == PolicySource::Identity
        })
    };
    if cross {
        let identity_side = t.identity && boundary_ok && session_ok;
        return match (identity_side, t.resource.is_some()) {
            (true, true) => (
                Allow,
                format!(
                    "cross-account request allowed by {} and by {}",
                    id_allow(),
                    res_allow()
                ),
            ),
            (false, resource) => {
                let why = if !t.identity {
                    "no identity policy allows it"
                } else {
                    limits().unwrap_or("it is not allowed")
                };
                let also = if resource {
                    ""
                } else {
                    ", nor does the resource policy"
                };
                (
                    ImplicitDeny,
                    format!(
                        "cross-account request: in the principal's account {} {why}{also}",
                        p.account
                    ),
                )
            }
            (true, false) => (
                ImplicitDeny,
                format!(
                    "cross-account request: the identity policies allow it but no resource policy statement in account {} allows the principal",
                    req.resource_account()
                ),
            ),
        };
    }
    match t.resource {
        Some(Grant::Direct) => {
            return (
                Allow,
                format!(
                    "allowed by {}, which names the principal directly",
                    res_allow()
                ),
            );
        }
        Some(Grant::Role) if boundary_ok && session_ok => {
            return (
                Allow,
                format!("allowed by {}, which names the session's role", res_allow()),
            );
        }
        _ => {}
    }
    if t.identity && boundary_ok && session_ok {
        return (Allow, format!("allowed by {}", id_allow()));
    }
    let why = if t.identity || t.resource.is_some() {
        limits().unwrap_or("no statement allows it")
    } else {
        "no statement allows it"
    };
    (ImplicitDeny, format!("implicitly denied: {why}"))
}

/// A human-readable account of a decision: the verdict, the reason, the
/// statements that applied, and (for [`simulate`] decisions) the statements
/// that failed only on conditions, with each failed test.
pub fn explain(decision: &Decision) -> String {
    let mut out = String::new();
    let verdict = match decision.effect {
        DecisionEffect::Allow => "ALLOW",
        DecisionEffect::ExplicitDeny => "EXPLICIT DENY",
        DecisionEffect::ImplicitDeny => "IMPLICIT DENY",
    };
    let _ = writeln!(out, "decision: {verdict}");
    let _ = writeln!(out, "reason: {}", decision.reason);
    if decision.matched.is_empty() {
        let _ = writeln!(out, "matching statements: none");
    } else {
        let _ = writeln!(out, "matching statements:");
        for m in &decision.matched {
            let _ = writeln!(out, "  {:?} {}", m.effect, m.describe());
        }
    }
    if !decision.near_misses.is_empty() {
        let _ = writeln!(out, "statements not applied because a condition failed:");
        for n in &decision.near_misses {
            let _ = writeln!(out, "  {:?} {}", n.statement.effect, n.statement.describe());
            for f in &n.failures {
                let _ = writeln!(out, "    {} {}: {}", f.operator, f.key, f.reason);
            }
        }
    }
    out
}
