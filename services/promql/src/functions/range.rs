//! Functions over range vectors: rate and friends, `*_over_time`, regression.

use promql_parser::parser::Expr;

use super::{absent_labels, arg};
use crate::error::EvalError;
use crate::eval::selectors::Window;
use crate::eval::{unwrap_parens, Elem, Evaluator, Val};
use crate::labels::Labels;
use crate::math::{kahan_inc, quantile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    FirstOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    MadOverTime,
    PresentOverTime,
    AbsentOverTime,
    TsOfMinOverTime,
    TsOfMaxOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
    DoubleExponentialSmoothing,
}

impl RangeFn {
    pub fn from_name(name: &str) -> Option<RangeFn> {
        use RangeFn::*;
        Some(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "resets" => Resets,
            "changes" => Changes,
            "avg_over_time" => AvgOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "sum_over_time" => SumOverTime,
            "count_over_time" => CountOverTime,
            "last_over_time" => LastOverTime,
            "first_over_time" => FirstOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "quantile_over_time" => QuantileOverTime,
            "mad_over_time" => MadOverTime,
            "present_over_time" => PresentOverTime,
            "absent_over_time" => AbsentOverTime,
            "ts_of_min_over_time" => TsOfMinOverTime,
            "ts_of_max_over_time" => TsOfMaxOverTime,
            "ts_of_first_over_time" => TsOfFirstOverTime,
            "ts_of_last_over_time" => TsOfLastOverTime,
            "double_exponential_smoothing" | "holt_winters" => DoubleExponentialSmoothing,
            _ => return None,
        })
    }

    /// Index of the range-vector argument.
    fn matrix_arg(self) -> usize {
        if self == RangeFn::QuantileOverTime {
            1
        } else {
            0
        }
    }

    /// Only the "pick a sample" functions keep the metric name.
    fn keeps_name(self) -> bool {
        matches!(self, RangeFn::LastOverTime | RangeFn::FirstOverTime)
    }
}

/// What a range function needs besides the points.
struct Ctx {
    window: Window,
    /// Evaluation time (not shifted by `@`/`offset`): predict_linear's "now".
    t: i64,
    scalars: Vec<f64>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn call_range(&self, f: RangeFn, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let mi = f.matrix_arg();
        let mut scalars = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != mi {
                scalars.push(self.eval_scalar(a, t)?);
            }
        }
        if f == RangeFn::DoubleExponentialSmoothing {
            check_smoothing_factors(&scalars)?;
        }
        let matrix = arg(args, mi)?;
        let mut out = Vec::new();
        let window = self.range_arg_window(matrix, t).ok_or_else(|| {
            EvalError::InvalidQuery(format!(
                "expected range vector, got {}",
                matrix.value_type()
            ))
        })?;
        let ctx = Ctx { window, t, scalars };
        let mut any = false;
        self.for_each_range_series(matrix, t, |labels: &Labels, drop_name, points| {
            any = true;
            if f == RangeFn::AbsentOverTime {
                return Ok(());
            }
            if let Some(v) = apply(f, points, &ctx) {
                out.push(Elem {
                    labels: labels.clone(),
                    value: v,
                    drop_name: drop_name || !f.keeps_name(),
                });
            }
            Ok(())
        })?;
        if f == RangeFn::AbsentOverTime {
            if any {
                return Ok(Val::Vector(Vec::new()));
            }
            return Ok(Val::Vector(vec![Elem {
                labels: absent_labels(unwrap_parens(matrix)),
                value: 1.0,
                drop_name: false,
            }]));
        }
        Ok(Val::Vector(out))
    }
}

fn check_smoothing_factors(s: &[f64]) -> Result<(), EvalError> {
    let sf = s.first().copied().unwrap_or(f64::NAN);
    let tf = s.get(1).copied().unwrap_or(f64::NAN);
    if !(sf > 0.0 && sf < 1.0) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if !(tf > 0.0 && tf < 1.0) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    Ok(())
}

/// One range function on one series' points (non-empty, ascending).
fn apply(f: RangeFn, p: &[(i64, f64)], ctx: &Ctx) -> Option<f64> {
    use RangeFn::*;
    let w = ctx.window;
    Some(match f {
        Rate => extrapolated_rate(p, w, true, true)?,
        Increase => extrapolated_rate(p, w, true, false)?,
        Delta => extrapolated_rate(p, w, false, false)?,
        Irate => instant_value(p, true)?,
        Idelta => instant_value(p, false)?,
        Deriv => {
            if p.len() < 2 {
                return None;
            }
            linear_regression(p, p[0].0).0
        }
        PredictLinear => {
            if p.len() < 2 {
                return None;
            }
            let duration = *ctx.scalars.first()?;
            let (slope, intercept) = linear_regression(p, ctx.t);
            slope * duration + intercept
        }
        Resets => p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        Changes => p
            .windows(2)
            .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
            .count() as f64,
        AvgOverTime => avg(p),
        MinOverTime => p.iter().fold(
            p[0].1,
            |m, (_, v)| {
                if *v < m || m.is_nan() {
                    *v
                } else {
                    m
                }
            },
        ),
        MaxOverTime => p.iter().fold(
            p[0].1,
            |m, (_, v)| {
                if *v > m || m.is_nan() {
                    *v
                } else {
                    m
                }
            },
        ),
        SumOverTime => {
            let (mut sum, mut c) = (0.0, 0.0);
            for (_, v) in p {
                (sum, c) = kahan_inc(*v, sum, c);
            }
            if sum.is_infinite() {
                sum
            } else {
                sum + c
            }
        }
        CountOverTime => p.len() as f64,
        LastOverTime => p[p.len() - 1].1,
        FirstOverTime => p[0].1,
        StddevOverTime => variance(p).sqrt(),
        StdvarOverTime => variance(p),
        QuantileOverTime => quantile(*ctx.scalars.first()?, p.iter().map(|x| x.1).collect()),
        MadOverTime => {
            let median = quantile(0.5, p.iter().map(|x| x.1).collect());
            quantile(0.5, p.iter().map(|x| (x.1 - median).abs()).collect())
        }
        PresentOverTime => 1.0,
        AbsentOverTime => return None,
        TsOfMinOverTime => ts_of_compare(p, |cur, best| cur <= best || best.is_nan()),
        TsOfMaxOverTime => ts_of_compare(p, |cur, best| cur >= best || best.is_nan()),
        TsOfFirstOverTime => p[0].0 as f64 / 1000.0,
        TsOfLastOverTime => p[p.len() - 1].0 as f64 / 1000.0,
        DoubleExponentialSmoothing => {
            double_exponential_smoothing(p, *ctx.scalars.first()?, *ctx.scalars.get(1)?)?
        }
    })
}

fn ts_of_compare(p: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> f64 {
    let (mut best, mut ts) = (p[0].1, p[0].0);
    for (t, v) in p {
        if better(*v, best) {
            best = *v;
            ts = *t;
        }
    }
    ts as f64 / 1000.0
}

/// rate/increase/delta with Prometheus' extrapolation towards the window
/// edges (at most half an average sample interval past the first/last
/// sample, never below zero for counters).
fn extrapolated_rate(p: &[(i64, f64)], w: Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        for pair in p.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }
    let mut to_start = (first.0 - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_interval = sampled / (p.len() - 1) as f64;
    let threshold = avg_interval * 1.1;
    if to_start >= threshold {
        to_start = avg_interval / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.1 >= 0.0 {
            to_zero = sampled * (first.1 / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_interval / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// irate/idelta: the last two samples only.
fn instant_value(p: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
    let interval = b.0 - a.0;
    if interval == 0 {
        return None;
    }
    let mut v = if is_rate && b.1 < a.1 { b.1 } else { b.1 - a.1 };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Mean by Kahan sum, switching to an incremental mean on overflow.
fn avg(p: &[(i64, f64)]) -> f64 {
    let (mut sum, mut count) = (p[0].1, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, (_, v)) in p[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (s, nc) = kahan_inc(*v, sum, c);
            if !s.is_infinite() {
                sum = s;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn variance(p: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (_, v) in p {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least squares fit; returns the slope per second and the value at
/// `intercept_t`.
fn linear_regression(p: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = p[0].1;
    let mut const_y = true;
    for (i, (t, v)) in p.iter().enumerate() {
        if const_y && i > 0 && *v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (*t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(*v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    (slope, sum_y / n - slope * sum_x / n)
}

fn double_exponential_smoothing(p: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, (_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        // The trend at index i-1; the first step uses the raw difference.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Window {
        Window {
            start,
            end,
            range_ms: end - start,
        }
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges_when_samples_cover_it() {
        // Samples every 15s from 15s to 300s over a 5m window: each edge is
        // within 1.1 sample intervals, so the increase of 19*1 is stretched
        // from 285s to the full 300s.
        let p: Vec<(i64, f64)> = (1..=20).map(|i| (i * 15_000, i as f64)).collect();
        let r = extrapolated_rate(&p, w(0, 300_000), true, false).unwrap();
        // Counter zero point (15s before the first sample at value 1) caps
        // the start extrapolation at exactly 15s.
        assert!((r - 20.0).abs() < 1e-9, "{r}");
        let rate = extrapolated_rate(&p, w(0, 300_000), true, true).unwrap();
        assert!((rate - 20.0 / 300.0).abs() < 1e-12);
    }

    #[test]
    fn rate_extrapolates_only_half_an_interval_when_the_series_starts_late() {
        // Samples at 200s..300s every 10s; window starts at 0: the gap to the
        // start is far beyond 1.1 intervals, so only 5s are added there.
        let p: Vec<(i64, f64)> = (20..=30).map(|i| (i * 10_000, 100.0 + i as f64)).collect();
        let r = extrapolated_rate(&p, w(0, 300_000), true, false).unwrap();
        // 10 increase over 100s, extended by 5s at the start and 0s at the end.
        assert!((r - 10.0 * 105.0 / 100.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn counter_resets_add_the_value_before_the_reset() {
        let p = vec![(10_000, 5.0), (20_000, 10.0), (30_000, 2.0), (40_000, 4.0)];
        // Raw increase: 4-5 + 10 (reset) = 9 over 30s, window (10s, 40s].
        let r = extrapolated_rate(&p, w(10_000, 40_000), true, false).unwrap();
        assert!((r - 9.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn delta_may_be_negative_and_ignores_resets() {
        let p = vec![(0, 10.0), (60_000, 4.0)];
        let r = extrapolated_rate(&p, w(0, 60_000), false, false).unwrap();
        assert_eq!(r, -6.0);
    }

    #[test]
    fn irate_uses_the_last_two_samples_and_handles_resets() {
        let p = vec![(0, 1.0), (10_000, 50.0), (20_000, 5.0)];
        assert_eq!(instant_value(&p, true), Some(0.5));
        assert_eq!(instant_value(&p, false), Some(-45.0));
    }

    #[test]
    fn a_single_sample_gives_no_rate() {
        assert_eq!(extrapolated_rate(&[(0, 1.0)], w(-1, 0), true, true), None);
    }
}
