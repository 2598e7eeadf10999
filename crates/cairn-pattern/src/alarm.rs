//! CloudWatch metric alarm state evaluation (pure; the clock is a parameter).
//!
//! Semantics, from the CloudWatch User Guide ("Alarm evaluation", "Configuring
//! how CloudWatch alarms treat missing data", "Avoiding premature transitions
//! to alarm state"):
//!
//! * Samples are aggregated per period with the alarm's statistic. Periods are
//!   aligned to multiples of `period` seconds since the Unix epoch; the most
//!   recent evaluated period is the last one that ended at or before `now`.
//! * CloudWatch looks at an *evaluation range* of more periods than
//!   `EvaluationPeriods` (N). We use `N + max(2, N / 3)` unless
//!   [`AlarmDef::evaluation_range`] says otherwise (the documented tables use
//!   5 periods for N = 3).
//! * If the range holds at least N real datapoints, the N most recent are
//!   evaluated and missing data is irrelevant: ALARM iff at least M
//!   (`DatapointsToAlarm`, default N) breach, else OK.
//! * If every datapoint in the range is missing: `missing` → INSUFFICIENT_DATA,
//!   `breaching` → ALARM, `notBreaching` → OK, `ignore` → the state is kept.
//! * Otherwise (some, but fewer than N, real datapoints): `breaching` /
//!   `notBreaching` fill the N − real gaps with breaching / non-breaching
//!   datapoints and evaluate all real ones with them. `missing` / `ignore`
//!   evaluate the real datapoints alone; when that does not reach ALARM but every
//!   real datapoint breaches and the oldest of them lies at least M periods
//!   back ("premature transition" rule), `missing` goes to ALARM and `ignore`
//!   keeps the current state.
//!
//! These rules reproduce both 5-period tables of the missing-data page
//! (3-of-3 and 2-of-3 alarms); the unit tests below encode those rows.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Error;

/// Aggregation applied to the samples of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statistic {
    /// Number of samples.
    SampleCount,
    /// Sum / count.
    Average,
    /// Sum of samples.
    Sum,
    /// Smallest sample.
    Minimum,
    /// Largest sample.
    Maximum,
}

/// How the statistic is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComparisonOperator {
    /// `>=`
    GreaterThanOrEqualToThreshold,
    /// `>`
    GreaterThanThreshold,
    /// `<`
    LessThanThreshold,
    /// `<=`
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    fn breaches(self, v: f64, t: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => v >= t,
            Self::GreaterThanThreshold => v > t,
            Self::LessThanThreshold => v < t,
            Self::LessThanOrEqualToThreshold => v <= t,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::GreaterThanThreshold => "greater than",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// Missing datapoints breach.
    Breaching,
    /// Missing datapoints are within the threshold.
    NotBreaching,
    /// Missing datapoints keep the current state.
    Ignore,
    /// Missing datapoints are missing; all missing → INSUFFICIENT_DATA (default).
    #[default]
    Missing,
}

/// Alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    /// `OK`
    #[serde(rename = "OK")]
    Ok,
    /// `ALARM`
    #[serde(rename = "ALARM")]
    Alarm,
    /// `INSUFFICIENT_DATA`
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    /// The wire name (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// The evaluation-relevant part of a `PutMetricAlarm` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmDef {
    /// Statistic.
    pub statistic: Statistic,
    /// Period in seconds (10, 30 or a multiple of 60).
    pub period: u32,
    /// N.
    pub evaluation_periods: u32,
    /// M (defaults to N).
    #[serde(default)]
    pub datapoints_to_alarm: Option<u32>,
    /// Threshold.
    pub threshold: f64,
    /// Comparison.
    pub comparison_operator: ComparisonOperator,
    /// Missing-data treatment (default `missing`).
    #[serde(default)]
    pub treat_missing_data: TreatMissingData,
    /// Number of periods examined (default `N + max(2, N / 3)`); not an AWS field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_range: Option<u32>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidAlarm {
        field,
        reason: reason.into(),
    }
}

impl AlarmDef {
    /// Checks the documented `PutMetricAlarm` constraints.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.period == 10
            || self.period == 30
            || (self.period > 0 && self.period.is_multiple_of(60)))
        {
            return Err(invalid(
                "Period",
                format!("{} is not 10, 30 or a multiple of 60", self.period),
            ));
        }
        if self.evaluation_periods == 0 {
            return Err(invalid("EvaluationPeriods", "must be at least 1"));
        }
        if u64::from(self.period) * u64::from(self.evaluation_periods) > 7 * 86_400 {
            return Err(invalid(
                "EvaluationPeriods",
                "Period × EvaluationPeriods exceeds 7 days",
            ));
        }
        let m = self.m();
        if m == 0 || m > self.evaluation_periods {
            return Err(invalid(
                "DatapointsToAlarm",
                format!("{m} is outside 1..={}", self.evaluation_periods),
            ));
        }
        if !self.threshold.is_finite() {
            return Err(invalid("Threshold", "must be a finite number"));
        }
        if let Some(r) = self.evaluation_range
            && r < self.evaluation_periods
        {
            return Err(invalid(
                "EvaluationRange",
                "must be at least EvaluationPeriods",
            ));
        }
        Ok(())
    }

    fn m(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    fn range(&self) -> u32 {
        self.evaluation_range
            .unwrap_or(self.evaluation_periods + (self.evaluation_periods / 3).max(2))
            .max(self.evaluation_periods)
    }
}

/// Pre-aggregated samples (CloudWatch `StatisticSet`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatisticSet {
    /// Number of samples.
    pub sample_count: f64,
    /// Sum of samples.
    pub sum: f64,
    /// Smallest sample.
    pub minimum: f64,
    /// Largest sample.
    pub maximum: f64,
}

impl StatisticSet {
    /// A set holding one sample.
    pub fn single(v: f64) -> Self {
        StatisticSet {
            sample_count: 1.0,
            sum: v,
            minimum: v,
            maximum: v,
        }
    }

    fn merge(&mut self, o: &StatisticSet) {
        self.sample_count += o.sample_count;
        self.sum += o.sum;
        self.minimum = self.minimum.min(o.minimum);
        self.maximum = self.maximum.max(o.maximum);
    }

    fn stat(&self, s: Statistic) -> f64 {
        match s {
            Statistic::SampleCount => self.sample_count,
            Statistic::Average => {
                if self.sample_count > 0.0 {
                    self.sum / self.sample_count
                } else {
                    0.0
                }
            }
            Statistic::Sum => self.sum,
            Statistic::Minimum => self.minimum,
            Statistic::Maximum => self.maximum,
        }
    }
}

/// The samples of one metric, timestamped in Unix seconds (any order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSeries {
    points: Vec<(i64, StatisticSet)>,
}

impl MetricSeries {
    /// An empty series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn push(&mut self, unix_seconds: i64, value: f64) {
        self.points
            .push((unix_seconds, StatisticSet::single(value)));
    }

    /// Adds a pre-aggregated set (e.g. a metric filter's per-minute sum).
    pub fn push_set(&mut self, unix_seconds: i64, set: StatisticSet) {
        self.points.push((unix_seconds, set));
    }
}

/// One period of the evaluation range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodValue {
    /// Period start, Unix seconds.
    pub start: i64,
    /// The statistic, or `None` when the period has no samples.
    pub value: Option<f64>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// New state.
    pub state: AlarmState,
    /// `StateReason`, worded like CloudWatch's.
    pub reason: String,
    /// The evaluation range, most recent period first.
    pub periods: Vec<PeriodValue>,
}

/// Evaluates from the initial state (`INSUFFICIENT_DATA`).
pub fn evaluate(def: &AlarmDef, series: &MetricSeries, now: OffsetDateTime) -> Evaluation {
    evaluate_from(def, series, now, AlarmState::InsufficientData)
}

/// Evaluates an alarm currently in state `current` (needed by `ignore`).
pub fn evaluate_from(
    def: &AlarmDef,
    series: &MetricSeries,
    now: OffsetDateTime,
    current: AlarmState,
) -> Evaluation {
    let p = i64::from(def.period.max(1));
    let n = def.evaluation_periods.max(1) as usize;
    let m = (def.m().max(1) as usize).min(n);
    let r = def.range() as usize;
    let end = now.unix_timestamp().div_euclid(p) * p;
    let oldest = end - p * r as i64;

    let mut sets: Vec<Option<StatisticSet>> = vec![None; r];
    for (ts, set) in &series.points {
        if *ts >= oldest && *ts < end {
            let i = ((end - 1 - ts) / p) as usize;
            match &mut sets[i] {
                Some(s) => s.merge(set),
                slot @ None => *slot = Some(*set),
            }
        }
    }
    let periods: Vec<PeriodValue> = sets
        .iter()
        .enumerate()
        .map(|(i, s)| PeriodValue {
            start: end - p * (i as i64 + 1),
            value: s.map(|s| s.stat(def.statistic)),
        })
        .collect();
    let breaches = |v: f64| def.comparison_operator.breaches(v, def.threshold);
    let real: Vec<(usize, f64)> = periods
        .iter()
        .enumerate()
        .filter_map(|(i, pv)| pv.value.map(|v| (i, v)))
        .collect();
    let ctx = Reason { def, current, n, m };

    let (state, reason) = if real.is_empty() {
        match def.treat_missing_data {
            TreatMissingData::Missing => (
                AlarmState::InsufficientData,
                format!(
                    "Insufficient Data: {n} datapoint{} {} unknown.",
                    plural(n),
                    was(n)
                ),
            ),
            TreatMissingData::Breaching => (AlarmState::Alarm, ctx.all_missing("Breaching")),
            TreatMissingData::NotBreaching => (AlarmState::Ok, ctx.all_missing("NonBreaching")),
            TreatMissingData::Ignore => (
                current,
                format!(
                    "no datapoints were received for {n} period{} and missing data is ignored; state {} retained.",
                    plural(n),
                    current.as_str()
                ),
            ),
        }
    } else if real.len() >= n {
        let used = &real[..n];
        let k = used.iter().filter(|(_, v)| breaches(*v)).count();
        ctx.decide(k >= m, used, &periods, 0, None)
    } else {
        let k_real = real.iter().filter(|(_, v)| breaches(*v)).count();
        let fill = n - real.len();
        match def.treat_missing_data {
            TreatMissingData::Breaching => {
                ctx.decide(k_real + fill >= m, &real, &periods, fill, Some(true))
            }
            TreatMissingData::NotBreaching => {
                ctx.decide(k_real >= m, &real, &periods, fill, Some(false))
            }
            TreatMissingData::Missing | TreatMissingData::Ignore => {
                let premature =
                    k_real == real.len() && real.last().is_some_and(|(i, _)| i + 1 >= m);
                if k_real >= m {
                    ctx.decide(true, &real, &periods, 0, None)
                } else if premature && def.treat_missing_data == TreatMissingData::Missing {
                    let (s, mut why) = ctx.decide(true, &real, &periods, 0, None);
                    why.pop();
                    why.push_str(&format!(
                        " (premature ALARM: the oldest breaching datapoint is at least {m} period{} old and newer datapoints are missing).",
                        plural(m)
                    ));
                    (s, why)
                } else if premature {
                    (
                        current,
                        format!(
                            "breaching datapoints followed by missing data are ignored; state {} retained.",
                            current.as_str()
                        ),
                    )
                } else {
                    ctx.decide(false, &real, &periods, 0, None)
                }
            }
        }
    };
    Evaluation {
        state,
        reason,
        periods,
    }
}

struct Reason<'a> {
    def: &'a AlarmDef,
    current: AlarmState,
    n: usize,
    m: usize,
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn was(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

/// Java-style double rendering as CloudWatch prints it (`1.0`, `0.5`).
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// `dd/mm/yy HH:MM:SS` (UTC), CloudWatch's StateReason timestamp format.
fn stamp(ts: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
            t.day(),
            u8::from(t.month()),
            t.year().rem_euclid(100),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => ts.to_string(),
    }
}

impl Reason<'_> {
    fn all_missing(&self, treated: &str) -> String {
        let n = self.n;
        format!(
            "Threshold Crossed: no datapoints were received for {n} period{} and {n} missing datapoint{} {} treated as [{treated}].",
            plural(n),
            plural(n),
            was(n)
        )
    }

    /// Builds (state, reason) for an evaluation over the real datapoints `used`
    /// (index into the range, value), plus `fill` synthetic datapoints.
    fn decide(
        &self,
        alarm: bool,
        used: &[(usize, f64)],
        periods: &[PeriodValue],
        fill: usize,
        fill_breaching: Option<bool>,
    ) -> (AlarmState, String) {
        let op = self.def.comparison_operator;
        let t = self.def.threshold;
        let shown: Vec<String> = used
            .iter()
            .filter(|(_, v)| op.breaches(*v, t) == alarm)
            .map(|(i, v)| format!("{} ({})", num(*v), stamp(periods[*i].start)))
            .collect();
        let fill_count = match fill_breaching {
            Some(b) if b == alarm => fill,
            _ => 0,
        };
        let count = shown.len() + fill_count;
        let total = used.len() + fill;
        let (state, not, minimum) = if alarm {
            (AlarmState::Alarm, "", self.m)
        } else {
            (AlarmState::Ok, "not ", self.n - self.m + 1)
        };
        let mut s = if self.n == 1 && total == 1 && fill == 0 {
            format!(
                "Threshold Crossed: 1 datapoint [{}] was {not}{} the threshold ({}).",
                shown.join(", "),
                op.phrase(),
                num(t)
            )
        } else {
            format!(
                "Threshold Crossed: {count} out of the last {total} datapoint{} [{}] {} {not}{} the threshold ({}) (minimum {minimum} datapoint{} for {} -> {} transition).",
                plural(total),
                shown.join(", "),
                was(count),
                op.phrase(),
                num(t),
                plural(minimum),
                self.current.as_str(),
                state.as_str()
            )
        };
        if fill > 0 {
            let treated = if fill_breaching == Some(true) {
                "Breaching"
            } else {
                "NonBreaching"
            };
            s.pop();
            s.push_str(&format!(
                " ({fill} missing datapoint{} treated as [{treated}]).",
                plural(fill)
            ));
        }
        (state, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i64 = 300;
    /// 2026-11-25 10:25:00 UTC: the range's most recent period is 10:20–10:25.
    const NOW: i64 = 1_795_602_300;

    fn def(m: u32, n: u32, tmd: TreatMissingData) -> AlarmDef {
        AlarmDef {
            statistic: Statistic::Sum,
            period: P as u32,
            evaluation_periods: n,
            datapoints_to_alarm: Some(m),
            threshold: 1.0,
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing_data: tmd,
            evaluation_range: Some(5),
        }
    }

    /// `row` uses the docs' notation, oldest first: `0` ok, `X` breaching, `-` missing.
    fn series(row: &str) -> MetricSeries {
        let cells: Vec<char> = row.chars().filter(|c| !c.is_whitespace()).collect();
        let mut s = MetricSeries::new();
        let end = NOW.div_euclid(P) * P;
        for (i, c) in cells.iter().enumerate() {
            let start = end - P * (cells.len() - i) as i64;
            match c {
                '0' => s.push(start + 10, 0.0),
                'X' => s.push(start + 10, 5.0),
                _ => {}
            }
        }
        s
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    fn state(m: u32, n: u32, row: &str, tmd: TreatMissingData, current: AlarmState) -> AlarmState {
        evaluate_from(&def(m, n, tmd), &series(row), now(), current).state
    }

    use AlarmState::{Alarm as A, InsufficientData as I, Ok as O};
    use TreatMissingData::{Breaching as B, Ignore as G, Missing as M, NotBreaching as NB};

    /// A row of the docs' tables: the datapoints, then the state for each
    /// `TreatMissingData` (missing, ignore, breaching, notBreaching).
    type Row = (
        &'static str,
        AlarmState,
        Option<AlarmState>,
        AlarmState,
        AlarmState,
    );

    /// Checks the rows of one of the docs' tables for an `m`-out-of-`n` alarm.
    /// `None` in the IGNORE column means "retain current state".
    fn check_table(m: u32, n: u32, rows: [Row; 5]) {
        for (row, missing, ignore, breaching, not_breaching) in rows {
            assert_eq!(state(m, n, row, M, O), missing, "{row} missing");
            for cur in [O, A, I] {
                assert_eq!(
                    state(m, n, row, G, cur),
                    ignore.unwrap_or(cur),
                    "{row} ignore from {cur:?}"
                );
            }
            assert_eq!(state(m, n, row, B, O), breaching, "{row} breaching");
            assert_eq!(state(m, n, row, NB, O), not_breaching, "{row} notBreaching");
        }
    }

    /// Rows of the docs' table for EvaluationPeriods 3, DatapointsToAlarm 3.
    /// `None` in the IGNORE column means "retain current state".
    #[test]
    fn documented_table_3_of_3() {
        let rows: [Row; 5] = [
            ("0 - X - X", O, Some(O), O, O),
            ("- - - - 0", O, Some(O), O, O),
            ("- - - - -", I, None, A, O),
            ("0 X X - X", A, Some(A), A, A),
            ("- - X - -", A, None, A, O),
        ];
        check_table(3, 3, rows);
    }

    /// Rows of the docs' table for a 2-out-of-3 alarm.
    #[test]
    fn documented_table_2_of_3() {
        let rows: [Row; 5] = [
            ("0 - X - X", A, Some(A), A, A),
            ("0 0 X 0 X", A, Some(A), A, A),
            ("0 - X - -", O, Some(O), A, O),
            ("- - - - 0", O, Some(O), A, O),
            ("- - X - -", A, None, A, O),
        ];
        check_table(2, 3, rows);
    }

    #[test]
    fn m_of_n_counts_only_the_latest_n_real_datapoints() {
        // 2 of 4: the two old breaches fall outside the 4 most recent real datapoints.
        let mut d = def(2, 4, M);
        d.evaluation_range = Some(6);
        assert_eq!(evaluate(&d, &series("X X 0 0 X 0"), now()).state, O);
        assert_eq!(evaluate(&d, &series("X X 0 X X 0"), now()).state, A);
    }

    #[test]
    fn cis_style_alarm_reason() {
        // Sum over 300 s, 1 of 1, >= 1, notBreaching: one matching event at 10:21.
        let mut d = def(1, 1, NB);
        d.evaluation_range = None;
        let mut s = MetricSeries::new();
        s.push(NOW - 240, 1.0);
        let e = evaluate(&d, &s, now());
        assert_eq!(e.state, A);
        assert_eq!(
            e.reason,
            "Threshold Crossed: 1 datapoint [1.0 (25/11/26 10:20:00)] was greater than or equal to the threshold (1.0)."
        );
        let e = evaluate_from(&d, &MetricSeries::new(), now(), A);
        assert_eq!(e.state, O);
        assert_eq!(
            e.reason,
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
        );
        let mut z = MetricSeries::new();
        z.push(NOW - 240, 0.0);
        let e = evaluate_from(&d, &z, now(), A);
        assert_eq!(
            e.reason,
            "Threshold Crossed: 1 datapoint [0.0 (25/11/26 10:20:00)] was not greater than or equal to the threshold (1.0)."
        );
    }

    #[test]
    fn m_of_n_reason_and_statistics() {
        let d = AlarmDef {
            statistic: Statistic::Average,
            period: 60,
            evaluation_periods: 3,
            datapoints_to_alarm: Some(2),
            threshold: 70.0,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            treat_missing_data: M,
            evaluation_range: None,
        };
        let mut s = MetricSeries::new();
        let end = NOW.div_euclid(60) * 60;
        s.push(end - 170, 80.0);
        s.push(end - 150, 90.0); // same minute: average 85
        s.push(end - 100, 10.0);
        s.push(end - 30, 71.5);
        let e = evaluate(&d, &s, now());
        assert_eq!(e.state, A);
        assert_eq!(
            e.reason,
            "Threshold Crossed: 2 out of the last 3 datapoints [71.5 (25/11/26 10:24:00), 85.0 (25/11/26 10:22:00)] were greater than the threshold (70.0) (minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition)."
        );
        assert_eq!(e.periods.len(), 5);
        let mut d2 = d.clone();
        d2.statistic = Statistic::SampleCount;
        d2.threshold = 1.5;
        assert_eq!(evaluate(&d2, &s, now()).periods[2].value, Some(2.0));
        d2.statistic = Statistic::Maximum;
        assert_eq!(evaluate(&d2, &s, now()).periods[2].value, Some(90.0));
        d2.statistic = Statistic::Minimum;
        assert_eq!(evaluate(&d2, &s, now()).periods[2].value, Some(80.0));
    }

    #[test]
    fn validation() {
        assert!(def(3, 3, M).validate().is_ok());
        assert!(def(4, 3, M).validate().is_err());
        assert!(def(0, 3, M).validate().is_err());
        let mut d = def(1, 1, M);
        d.period = 45;
        assert!(d.validate().is_err());
        d.period = 86_400;
        d.evaluation_periods = 8;
        d.datapoints_to_alarm = None;
        d.evaluation_range = None;
        assert!(d.validate().is_err());
    }

    #[test]
    fn samples_outside_the_range_or_in_the_current_period_are_ignored() {
        let d = def(1, 1, M);
        let mut s = MetricSeries::new();
        s.push(NOW + 1, 9.0); // current, incomplete period
        s.push(NOW - 6 * P, 9.0); // older than the 5-period range
        assert_eq!(evaluate(&d, &s, now()).state, I);
    }
}
