//! AWS IAM's policy language for Cairn: parse and validate policy documents,
//! then decide requests with AWS's evaluation logic — identity policies,
//! resource policies, permissions boundaries, session policies, same-account
//! and cross-account rules.
//!
//! Pipeline: [`Policy::parse`] once per stored document (validation with
//! `MalformedPolicyDocument`-style errors naming the statement and element;
//! wildcards, variables, CIDRs, dates and numbers are compiled here) →
//! [`PolicySet`] per request → [`evaluate`] (or [`simulate`] + [`explain`]
//! for `cairn policy simulate`).
//!
//! # Semantics
//!
//! * **Grammar**: `Version` `2012-10-17` or `2008-10-17` (absent means
//!   2008-10-17, where `${...}` is literal text); `Statement` an object or a
//!   list; `Sid`, `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction`,
//!   `Resource`/`NotResource`, `Condition`; element names are
//!   case-sensitive, unknown ones are errors, Sids are unique. Size quotas
//!   ([`MANAGED_POLICY_MAX_CHARS`], [`INLINE_USER_POLICY_MAX_CHARS`], ...)
//!   count characters without white space; the server applies them with
//!   [`check_size`]; placement rules with [`Policy::validate_as`].
//! * **Actions** match case-insensitively with `*` and `?`.
//! * **Resources** match per ARN component (`arn:partition:service:region:
//!   account:resource`), wildcards inside a component; the resource
//!   component is everything after the fifth colon, so its wildcards cross
//!   `/` and `:`. `*` matches everything. Policy variables
//!   (`${aws:username}`, `${aws:PrincipalAccount}`, any context key,
//!   `${key, 'default'}`, `${*}`, `${?}`, `${$}`) are substituted from the
//!   request; substituted text is literal; a variable without a value (and
//!   no default) matches nothing — and makes a `NotResource` statement or a
//!   condition not apply.
//! * **Principals**: `*`, account ids and `arn:aws:iam::ACCOUNT:root` (the
//!   whole account), user ARNs, role ARNs (which match that role's sessions),
//!   assumed-role session ARNs, federated-user ARNs and service principals.
//!   `Federated`/`CanonicalUser` principals parse but never match.
//!   `NotPrincipal` exempts exactly the listed ARNs (a role ARN does not
//!   exempt its sessions).
//! * **Conditions**: every AWS operator with `IfExists`, `ForAnyValue:` and
//!   `ForAllValues:`; missing-key rules as AWS documents them (see
//!   *Conditions* below).
//! * **Decision**: see [`evaluate`].
//!
//! # Conditions
//!
//! Tests in a block are AND'ed, values of one key OR'ed (NOR for negated
//! operators). A missing key makes positive operators false, negated ones
//! true, `...IfExists` true, `ForAllValues:` true and `ForAnyValue:` false.
//! `Null: true` means "absent". Keys are case-insensitive. Values of the
//! wrong type never satisfy an operator. Dates are W3C ISO 8601 or epoch
//! seconds (an all-digit value is epoch seconds).
//!
//! # Choices where AWS is silent or Cairn differs
//!
//! * Organizations SCPs/RCPs are not modelled; permissions boundaries and
//!   session policies are ([`PolicySet`]).
//! * A `Principal` in an identity policy is ignored at evaluation (and
//!   rejected by [`Policy::validate_as`]); a resource-policy statement
//!   without `Principal`/`NotPrincipal` never applies; one without
//!   `Resource` (a role trust policy) applies to the resource it is attached to.
//! * `NotPrincipal` exempts the listed user/session ARNs without also
//!   requiring their account ARN (AWS asks for both); an account entry there
//!   exempts only that account's root user.
//! * The root user: see rule 2 of [`evaluate`].
//! * An all-digit date value is epoch seconds, never a bare `YYYY` year.
//!
//! # Guarantees
//!
//! * Parsing never panics on any input (property-tested on arbitrary JSON).
//! * An applicable `Deny` always yields [`DecisionEffect::ExplicitDeny`];
//!   without `Allow` statements nothing but the root user in its own account
//!   is allowed (both property-tested).
//! * [`evaluate`] does not parse; it allocates only for the decision record
//!   and for patterns containing policy variables.
//!
//! # Example
//!
//! ```
//! use cairn_policy::{evaluate, managed, DecisionEffect, Policy, PolicySet, PrincipalInfo, Request};
//!
//! let full = managed::AWS_CLOUDTRAIL_FULL_ACCESS.policy().unwrap();
//! let deny_stop = Policy::parse(r#"{"Version":"2012-10-17","Statement":{
//!     "Sid":"NoStop","Effect":"Deny","Action":"cloudtrail:StopLogging","Resource":"*",
//!     "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}}"#).unwrap();
//! let set = PolicySet {
//!     identity: vec![("full".into(), full), ("guard".into(), deny_stop)],
//!     ..PolicySet::default()
//! };
//! let alice = PrincipalInfo::user("arn:aws:iam::111122223333:user/alice");
//! let trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";
//!
//! let req = Request::new(alice.clone(), "cloudtrail:DescribeTrails", trail);
//! assert_eq!(evaluate(&req, &set).effect, DecisionEffect::Allow);
//!
//! let req = Request::new(alice, "cloudtrail:StopLogging", trail)
//!     .with_context("aws:MultiFactorAuthPresent", false);
//! let d = evaluate(&req, &set);
//! assert_eq!(d.effect, DecisionEffect::ExplicitDeny);
//! assert_eq!(d.matched.iter().find(|m| m.sid.is_some()).unwrap().sid.as_deref(), Some("NoStop"));
//! ```

mod condition;
mod error;
mod eval;
pub mod managed;
mod pattern;
mod policy;
mod request;

pub use condition::{ConditionFailure, OPERATORS};
pub use error::{ErrorClass, Location, PolicyError};
pub use eval::{
    Decision, DecisionEffect, MatchedStatement, NearMiss, PolicySet, PolicySource, evaluate,
    explain, service_may, simulate,
};
pub use policy::{
    Effect, INLINE_GROUP_POLICY_MAX_CHARS, INLINE_ROLE_POLICY_MAX_CHARS,
    INLINE_USER_POLICY_MAX_CHARS, MANAGED_POLICY_MAX_CHARS, Policy, PolicyType, PolicyVersion,
    ROLE_TRUST_POLICY_MAX_CHARS, Statement, check_size, policy_size,
};
pub use request::{ContextValue, PrincipalInfo, PrincipalKind, Request};
