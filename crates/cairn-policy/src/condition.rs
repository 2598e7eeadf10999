//! The `Condition` element: operators, compiled values and their evaluation.
//!
//! Semantics (IAM User Guide, "Condition operators" and "Set operators"):
//!
//! * Everything in a block is AND'ed: operators, and keys within an operator.
//!   The values listed for one key are OR'ed for positive operators; for a
//!   negated operator (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...)
//!   the request value must match *none* of them.
//! * A key missing from the request (or an empty list): positive operators
//!   are false, negated operators are true, `...IfExists` is true,
//!   `ForAllValues:` is true and `ForAnyValue:` is false.
//! * `Null`: `true` holds when the key is absent, `false` when present.
//! * A multi-valued key without a set operator behaves as `ForAnyValue:` for
//!   positive operators and as "no value matches" for negated ones.
//! * A request value of the wrong type (a non-number for `Numeric*`, ...)
//!   never satisfies the operator, negated or not.
//! * A policy variable without a value (and without a default) makes the
//!   condition false (AWS: "any attempt to match it fails").

use std::net::IpAddr;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Location, PolicyError};
use crate::pattern::{ArnPattern, Mode, Pattern};
use crate::request::{Request, Val};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => ord == Equal,
            Self::Lt => ord == Less,
            Self::Le => ord != Greater,
            Self::Gt => ord == Greater,
            Self::Ge => ord != Less,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StrEq,
    StrEqIc,
    StrLike,
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: Option<SetOp>,
    base: Base,
    negated: bool,
    if_exists: bool,
}

/// Every operator name AWS documents (without set prefixes or `IfExists`).
pub const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

fn base_of(name: &str) -> Option<(Base, bool)> {
    Some(match name {
        "StringEquals" => (Base::StrEq, false),
        "StringNotEquals" => (Base::StrEq, true),
        "StringEqualsIgnoreCase" => (Base::StrEqIc, false),
        "StringNotEqualsIgnoreCase" => (Base::StrEqIc, true),
        "StringLike" => (Base::StrLike, false),
        "StringNotLike" => (Base::StrLike, true),
        "NumericEquals" => (Base::Num(Cmp::Eq), false),
        "NumericNotEquals" => (Base::Num(Cmp::Eq), true),
        "NumericLessThan" => (Base::Num(Cmp::Lt), false),
        "NumericLessThanEquals" => (Base::Num(Cmp::Le), false),
        "NumericGreaterThan" => (Base::Num(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Base::Num(Cmp::Ge), false),
        "DateEquals" => (Base::Date(Cmp::Eq), false),
        "DateNotEquals" => (Base::Date(Cmp::Eq), true),
        "DateLessThan" => (Base::Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Base::Date(Cmp::Le), false),
        "DateGreaterThan" => (Base::Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Base::Date(Cmp::Ge), false),
        "Bool" => (Base::Bool, false),
        "BinaryEquals" => (Base::Binary, false),
        "IpAddress" => (Base::Ip, false),
        "NotIpAddress" => (Base::Ip, true),
        "ArnEquals" | "ArnLike" => (Base::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Base::Arn, true),
        "Null" => (Base::Null, false),
        _ => return None,
    })
}

fn parse_operator(name: &str) -> Result<Operator, String> {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Some(SetOp::AnyValue), r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Some(SetOp::AllValues), r)
    } else {
        (None, name)
    };
    let (if_exists, core) = match rest.strip_suffix("IfExists") {
        Some(core) => (true, core),
        None => (false, rest),
    };
    let (base, negated) =
        base_of(core).ok_or_else(|| format!("unknown condition operator \"{name}\""))?;
    if base == Base::Null && (if_exists || set.is_some()) {
        return Err(format!(
            "condition operator \"{name}\" is not allowed: Null takes no IfExists or set qualifier"
        ));
    }
    Ok(Operator {
        set,
        base,
        negated,
        if_exists,
    })
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    v6: bool,
    net: u128,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let (v6, bits, max) = match addr.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32u8),
            IpAddr::V6(a) => (true, u128::from(a), 128u8),
        };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Self {
            v6,
            net: bits & mask(prefix, max),
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits, max) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32u8),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (false, u128::from(u32::from(v4)), 32u8),
                None => (true, u128::from(a), 128u8),
            },
        };
        v6 == self.v6 && bits & mask(self.prefix, max) == self.net
    }
}

fn mask(prefix: u8, max: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all: u128 = if max == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !all.checked_shr(u32::from(prefix)).unwrap_or(0)
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Parses an ISO 8601 (W3C profile: `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm[:ss[.f]]` with `Z`, `±hh:mm` or no zone = UTC) or
/// epoch-seconds (all digits, optionally with a fraction) value into
/// nanoseconds since the epoch.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !s[1..].contains('-')
    {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || whole.len() > 15 || frac.contains('.') || frac.len() > 9 {
            return None;
        }
        let whole: i128 = whole.parse().ok()?;
        let frac: i128 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        let nanos = whole * 1_000_000_000 + frac;
        return Some(if neg { -nanos } else { nanos });
    }
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date_part, time_part) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date_part.split('-');
    let year = dp.next().filter(|y| y.len() == 4).and_then(num)?;
    let month = dp.next().map_or(Some(1), num)?;
    let day = dp.next().map_or(Some(1), num)?;
    if dp.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let (mut h, mut mi, mut sec, mut nanos, mut offset_secs) = (0u32, 0u32, 0u32, 0u32, 0i32);
    if let Some(t) = time_part {
        let (clock, zone) = match t.find(['Z', 'z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let mut cp = clock.split(':');
        h = cp.next().and_then(num)?;
        mi = cp.next().and_then(num)?;
        if let Some(sf) = cp.next() {
            let (whole, frac) = sf.split_once('.').unwrap_or((sf, ""));
            sec = num(whole)?;
            if !frac.is_empty() {
                let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
                nanos = num(&digits)?;
            }
        }
        if cp.next().is_some() {
            return None;
        }
        match zone {
            "" | "Z" | "z" => {}
            z => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let (zh, zm) = z[1..].split_once(':').unwrap_or((&z[1..], "00"));
                let zh = i32::try_from(num(zh)?).ok()?;
                let zm = i32::try_from(num(zm)?).ok()?;
                if zh > 23 || zm > 59 {
                    return None;
                }
                offset_secs = sign * (zh * 3600 + zm * 60);
            }
        }
    }
    let time = time::Time::from_hms_nano(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(sec).ok()?,
        nanos,
    )
    .ok()?;
    let dt = time::PrimitiveDateTime::new(date, time);
    Some(dt.assume_utc().unix_timestamp_nanos() - i128::from(offset_secs) * 1_000_000_000)
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let e = &base64::engine::general_purpose::STANDARD;
    e.decode(s.trim()).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s.trim())
            .ok()
    })
}

#[derive(Debug, Clone)]
enum Values {
    Str(Vec<Pattern>),
    Arn(Vec<ArnPattern>),
    Num(Vec<f64>),
    Date(Vec<i128>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Null(Vec<bool>),
}

/// One `operator: { key: values }` test.
#[derive(Debug, Clone)]
pub(crate) struct Test {
    op: Operator,
    op_name: String,
    key: String,
    key_lower: String,
    raw: Vec<String>,
    values: Values,
}

/// A compiled `Condition` element (AND of its tests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    tests: Vec<Test>,
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Condition {
    pub(crate) fn parse(v: &Value, loc: &Location, variables: bool) -> Result<Self, PolicyError> {
        let Value::Object(ops) = v else {
            return Err(PolicyError::at(
                loc,
                "Condition must be an object of operators",
            ));
        };
        let mut tests = Vec::new();
        for (op_name, keys) in ops {
            let mut l = loc.clone();
            l.element = format!("Condition.{op_name}");
            let op = parse_operator(op_name).map_err(|p| PolicyError::at(&l, p))?;
            let Value::Object(keys) = keys else {
                return Err(PolicyError::at(
                    &l,
                    "operator must map condition keys to values",
                ));
            };
            if keys.is_empty() {
                return Err(PolicyError::at(&l, "operator has no condition keys"));
            }
            for (key, vals) in keys {
                let mut kl = l.clone();
                kl.element = format!("Condition.{op_name}.{key}");
                if !key.contains(':') || key.starts_with(':') {
                    return Err(PolicyError::at(
                        &kl,
                        format!(
                            "condition key \"{key}\" must be prefaced by a vendor, e.g. aws:SourceIp"
                        ),
                    ));
                }
                let raw: Vec<String> = match vals {
                    Value::Array(items) if items.is_empty() => {
                        return Err(PolicyError::at(&kl, "condition values must not be empty"));
                    }
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            scalar_text(i).ok_or_else(|| {
                                PolicyError::at(
                                    &kl,
                                    "condition values must be strings, numbers or booleans",
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    other => vec![scalar_text(other).ok_or_else(|| {
                        PolicyError::at(
                            &kl,
                            "condition values must be strings, numbers or booleans",
                        )
                    })?],
                };
                let values = compile_values(op.base, &raw, variables)
                    .map_err(|p| PolicyError::at(&kl, p))?;
                tests.push(Test {
                    op,
                    op_name: op_name.clone(),
                    key: key.clone(),
                    key_lower: key.to_ascii_lowercase(),
                    raw,
                    values,
                });
            }
        }
        Ok(Self { tests })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// True when every test holds.
    pub(crate) fn holds(&self, req: &Request) -> bool {
        self.tests.iter().all(|t| t.holds(req))
    }

    /// Describes each failing test (for explanations; allocates).
    pub(crate) fn failures(&self, req: &Request) -> Vec<ConditionFailure> {
        self.tests
            .iter()
            .filter(|t| !t.holds(req))
            .map(|t| t.failure(req))
            .collect()
    }
}

fn compile_values(base: Base, raw: &[String], variables: bool) -> Result<Values, String> {
    let bad = |what: &str, v: &str| format!("\"{v}\" is not a valid {what}");
    let s = |wildcards: bool, fold: bool| {
        Values::Str(
            raw.iter()
                .map(|v| {
                    Pattern::compile(
                        v,
                        Mode {
                            wildcards,
                            variables,
                            fold,
                        },
                    )
                })
                .collect(),
        )
    };
    Ok(match base {
        Base::StrEq => s(false, false),
        Base::StrEqIc => s(false, true),
        Base::StrLike => s(true, false),
        Base::Bool => {
            for v in raw {
                if !(variables && v.contains("${")) && parse_bool(v).is_none() {
                    return Err(bad("boolean (true or false)", v));
                }
            }
            s(false, true)
        }
        Base::Arn => Values::Arn(
            raw.iter()
                .map(|v| {
                    ArnPattern::compile(
                        v,
                        Mode {
                            wildcards: true,
                            variables,
                            fold: false,
                        },
                    )
                })
                .collect(),
        ),
        Base::Num(_) => Values::Num(
            raw.iter()
                .map(|v| parse_number(v).ok_or_else(|| bad("number", v)))
                .collect::<Result<_, _>>()?,
        ),
        Base::Date(_) => Values::Date(
            raw.iter()
                .map(|v| parse_date(v).ok_or_else(|| bad("date (ISO 8601 or epoch seconds)", v)))
                .collect::<Result<_, _>>()?,
        ),
        Base::Binary => Values::Binary(
            raw.iter()
                .map(|v| decode_b64(v).ok_or_else(|| bad("base64 value", v)))
                .collect::<Result<_, _>>()?,
        ),
        Base::Ip => Values::Ip(
            raw.iter()
                .map(|v| Cidr::parse(v).ok_or_else(|| bad("IP address or CIDR", v)))
                .collect::<Result<_, _>>()?,
        ),
        Base::Null => Values::Null(
            raw.iter()
                .map(|v| parse_bool(v).ok_or_else(|| bad("Null value (true or false)", v)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Why one condition test did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFailure {
    /// The operator as written (`ForAnyValue:StringLikeIfExists`).
    pub operator: String,
    /// The condition key as written.
    pub key: String,
    /// Why it failed, in words.
    pub reason: String,
}

impl Test {
    fn present<'a>(&self, req: &'a Request) -> Option<Val<'a>> {
        req.lookup(&self.key_lower).filter(|v| !v.is_empty())
    }

    fn unresolved<'a>(&'a self, req: &Request) -> Option<&'a str> {
        match &self.values {
            Values::Str(ps) => ps.iter().find_map(|p| p.unresolved(req)),
            Values::Arn(ps) => ps.iter().find_map(|p| p.unresolved(req)),
            _ => None,
        }
    }

    fn holds(&self, req: &Request) -> bool {
        let found = req.lookup(&self.key_lower);
        if let Values::Null(wants) = &self.values {
            let present = found.is_some_and(|v| !v.is_empty());
            return wants.iter().any(|want_null| *want_null != present);
        }
        let Some(v) = found.filter(|v| !v.is_empty()) else {
            return self.op.if_exists
                || match self.op.set {
                    Some(SetOp::AllValues) => true,
                    Some(SetOp::AnyValue) => false,
                    None => self.op.negated,
                };
        };
        if self.unresolved(req).is_some() {
            return false;
        }
        let negated = self.op.negated;
        let r = |rv: &str| self.test(rv, req).is_some_and(|m| m != negated);
        match (self.op.set, v) {
            (None, Val::One(s)) => r(s),
            (None, many) if negated => many.iter().all(r),
            (None | Some(SetOp::AnyValue), many) => many.iter().any(r),
            (Some(SetOp::AllValues), many) => many.iter().all(r),
        }
    }

    /// Does `rv` match any policy value? `None` when `rv` has the wrong type.
    fn test(&self, rv: &str, req: &Request) -> Option<bool> {
        Some(match &self.values {
            Values::Str(ps) if self.op.base == Base::Bool => {
                parse_bool(rv)?;
                ps.iter().any(|p| p.matches(rv, req))
            }
            Values::Str(ps) => ps.iter().any(|p| p.matches(rv, req)),
            Values::Arn(ps) => ps.iter().any(|p| p.matches(rv, req)),
            Values::Num(ns) => {
                let x = parse_number(rv)?;
                let Base::Num(cmp) = self.op.base else {
                    return None;
                };
                ns.iter()
                    .any(|n| x.partial_cmp(n).is_some_and(|o| cmp.holds(o)))
            }
            Values::Date(ds) => {
                let x = parse_date(rv)?;
                let Base::Date(cmp) = self.op.base else {
                    return None;
                };
                ds.iter().any(|d| cmp.holds(x.cmp(d)))
            }
            Values::Binary(bs) => {
                let x = decode_b64(rv).unwrap_or_else(|| rv.as_bytes().to_vec());
                bs.contains(&x)
            }
            Values::Ip(cs) => {
                let ip = rv.trim().parse::<IpAddr>().ok()?;
                cs.iter().any(|c| c.contains(ip))
            }
            Values::Null(_) => return None,
        })
    }

    fn failure(&self, req: &Request) -> ConditionFailure {
        let policy_values = format!(
            "[{}]",
            self.raw
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let reason = if let Values::Null(_) = self.values {
            if self.present(req).is_some() {
                format!("key is present but the policy requires Null {policy_values}")
            } else {
                format!("key is absent but the policy requires Null {policy_values}")
            }
        } else if let Some(v) = self.present(req) {
            if let Some(var) = self.unresolved(req) {
                format!("policy variable ${{{var}}} has no value in the request")
            } else {
                let got = v
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                match self.op.set {
                    Some(SetOp::AllValues) => format!(
                        "not every request value of [{got}] satisfies the operator against {policy_values}"
                    ),
                    _ if self.op.negated => {
                        format!("request value [{got}] matches one of {policy_values}")
                    }
                    _ => format!("request value [{got}] does not match any of {policy_values}"),
                }
            }
        } else {
            format!("key is not present in the request (policy values {policy_values})")
        };
        ConditionFailure {
            operator: self.op_name.clone(),
            key: self.key.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::PrincipalInfo;

    fn cond(json: &str) -> Condition {
        Condition::parse(
            &serde_json::from_str(json).unwrap(),
            &Location::default(),
            true,
        )
        .unwrap()
    }

    fn req(pairs: &[(&str, &str)]) -> Request {
        let mut r = Request::new(
            PrincipalInfo::user("arn:aws:iam::111122223333:user/alice"),
            "s3:GetObject",
            "*",
        );
        for (k, v) in pairs {
            r = r.with_context(k, *v);
        }
        r
    }

    #[test]
    fn operator_names() {
        for name in OPERATORS {
            assert!(parse_operator(name).is_ok(), "{name}");
            if *name != "Null" {
                assert!(parse_operator(&format!("ForAnyValue:{name}IfExists")).is_ok());
            }
        }
        assert!(parse_operator("NullIfExists").is_err());
        assert!(parse_operator("ForAllValues:Null").is_err());
        assert!(parse_operator("stringequals").is_err());
        assert!(parse_operator("StringEqualz").is_err());
    }

    #[test]
    fn dates() {
        let t = parse_date("2020-01-01T00:00:01Z").unwrap();
        assert_eq!(t, 1_577_836_801_000_000_000);
        assert_eq!(parse_date("1577836801"), Some(t));
        assert_eq!(parse_date("2020-01-01T01:00:01+01:00"), Some(t));
        assert_eq!(parse_date("2020-01-01T00:00:01.000Z"), Some(t));
        assert_eq!(parse_date("2020-01-01"), parse_date("2020-01-01T00:00Z"));
        assert_eq!(parse_date("2020-01"), parse_date("2020-01-01"));
        assert!(parse_date("2020-13-01").is_none());
        assert!(parse_date("2020-02-30").is_none());
        assert!(parse_date("yesterday").is_none());
        assert!(parse_date("").is_none());
        assert!(parse_date("2020-01-01T25:00Z").is_none());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.7".parse().unwrap()));
        assert!(!c.contains("203.0.114.7".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
        let c = Cidr::parse("2001:DB8:1234:5678::/64").unwrap();
        assert!(c.contains("2001:db8:1234:5678::1".parse().unwrap()));
        assert!(!c.contains("2001:db8:1234:5679::1".parse().unwrap()));
        assert!(!c.contains("203.0.113.7".parse().unwrap()));
        let c = Cidr::parse("10.1.2.3").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.1.2.4".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        let c = Cidr::parse("::1").unwrap();
        assert!(c.contains("::1".parse().unwrap()));
        assert!(!c.contains("::2".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("10.0.0.1/32")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("::/129").is_none());
        assert!(Cidr::parse("nope").is_none());
    }

    #[test]
    fn missing_key_rules() {
        let r = req(&[]);
        assert!(!cond(r#"{"StringEquals":{"aws:x":"a"}}"#).holds(&r));
        assert!(cond(r#"{"StringNotEquals":{"aws:x":"a"}}"#).holds(&r));
        assert!(cond(r#"{"StringEqualsIfExists":{"aws:x":"a"}}"#).holds(&r));
        assert!(cond(r#"{"ForAllValues:StringEquals":{"aws:x":"a"}}"#).holds(&r));
        assert!(!cond(r#"{"ForAnyValue:StringEquals":{"aws:x":"a"}}"#).holds(&r));
        assert!(cond(r#"{"Null":{"aws:x":"true"}}"#).holds(&r));
        assert!(!cond(r#"{"Null":{"aws:x":"false"}}"#).holds(&r));
        assert!(cond(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#).holds(&r));
    }

    #[test]
    fn wrong_type_never_satisfies() {
        let r = req(&[("aws:MultiFactorAuthAge", "abc")]);
        assert!(!cond(r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#).holds(&r));
        assert!(!cond(r#"{"NumericNotEquals":{"aws:MultiFactorAuthAge":"3600"}}"#).holds(&r));
    }

    #[test]
    fn failures_explain() {
        let r = req(&[("aws:SourceIp", "192.0.2.1")]);
        let c = cond(
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}"#,
        );
        let f = c.failures(&r);
        assert_eq!(f.len(), 2);
        assert!(f[0].reason.contains("192.0.2.1"), "{}", f[0].reason);
        assert!(f[1].reason.contains("not present"), "{}", f[1].reason);
    }

    #[test]
    fn invalid_values_are_rejected() {
        for bad in [
            r#"{"NumericEquals":{"s3:max-keys":"ten"}}"#,
            r#"{"DateLessThan":{"aws:CurrentTime":"soon"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}"#,
            r#"{"Bool":{"aws:SecureTransport":"yes"}}"#,
            r#"{"Null":{"aws:x":"maybe"}}"#,
            r#"{"BinaryEquals":{"aws:x":"***"}}"#,
            r#"{"StringEquals":{"novendor":"x"}}"#,
            r#"{"StringEquals":{"aws:x":[]}}"#,
            r#"{"StringEquals":{"aws:x":{"a":1}}}"#,
            r#"{"StringEquals":"x"}"#,
            r#"{"StringEquals":{}}"#,
            r#"[]"#,
        ] {
            let v: Value = serde_json::from_str(bad).unwrap();
            assert!(
                Condition::parse(&v, &Location::default(), true).is_err(),
                "{bad}"
            );
        }
    }
}
