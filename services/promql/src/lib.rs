//! PromQL evaluation over an in-memory window of float series, with
//! Prometheus 3 semantics, and a runner for Prometheus' promqltest scripts.
//!
//! The engine does no I/O: callers append samples to a [`Storage`], parse an
//! expression once with [`parse`] and evaluate it with [`eval_instant`] or
//! [`eval_range`].

mod error;
mod eval;
mod functions;
mod hashing;
mod labels;
mod math;
pub mod promqltest;
mod samples;
mod storage;
mod value;

pub use error::{EvalError, ParseError};
pub use labels::{Labels, METRIC_NAME};
pub use math::almost_equal;
pub use promql_parser::label::Matcher;
pub use promql_parser::parser::Expr;
pub use storage::Storage;
pub use value::{is_stale_marker, stale_marker, Sample, Series, Value, STALE_NAN_BITS};

use eval::{Evaluator, Val};
use hashing::{fast_map, FastMap};

/// Prometheus' limit on points per series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Parses a PromQL expression.
pub fn parse(expr: &str) -> Result<Expr, ParseError> {
    promql_parser::parser::parse(expr).map_err(|message| ParseError { message })
}

/// The series a series selector (`match[]` of Prometheus' metadata
/// APIs, e.g. `up{job="a"}` or `{__name__=~"x.*"}`) matches that hold a
/// sample in `[start_ms, end_ms]`, in label order, without duplicates.
pub fn select_series(
    storage: &Storage,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Labels>, ParseError> {
    use promql_parser::label::MatchOp;
    let expr = parse(selector)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ParseError {
            message: format!("{selector:?} is not a series selector"),
        });
    };
    let with_name = |mut ms: Vec<Matcher>| {
        if let Some(name) = &vs.name {
            ms.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
        ms
    };
    let alternatives = if vs.matchers.or_matchers.is_empty() {
        vec![with_name(vs.matchers.matchers.clone())]
    } else {
        vs.matchers
            .or_matchers
            .iter()
            .cloned()
            .map(with_name)
            .collect()
    };
    let mut out: Vec<Labels> = alternatives
        .iter()
        .flat_map(|ms| storage.matching_series(ms, start_ms, end_ms))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Knobs of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalOptions {
    /// How far back an instant selector looks for the latest sample.
    pub lookback_delta_ms: i64,
    /// Step of subqueries written without one, e.g. `rate(x[5m])[1h:]`.
    /// Prometheus uses the global evaluation interval.
    pub default_subquery_step_ms: i64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// Evaluates `expr` at `t_ms`.
pub fn eval_instant(
    storage: &Storage,
    expr: &Expr,
    t_ms: i64,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    let ev = evaluator(storage, t_ms, t_ms, opts);
    Ok(match ev.eval(expr, t_ms)? {
        Val::Scalar(v) => Value::Scalar(v),
        Val::Str(s) => Value::String(s),
        Val::Vector(v) => {
            let dropped_any = v.iter().any(|e| e.drop_name);
            let samples: Vec<Sample> = v
                .into_iter()
                .map(|e| Sample {
                    labels: if e.drop_name {
                        e.labels.without_metric_name()
                    } else {
                        e.labels
                    },
                    value: e.value,
                })
                .collect();
            // Only removing names can make two label sets equal.
            if dropped_any {
                let mut seen = hashing::fast_set();
                if !samples.iter().all(|s| seen.insert(&s.labels)) {
                    return Err(EvalError::DuplicateLabelset);
                }
            }
            Value::Vector(samples)
        }
        Val::Matrix(m) => {
            let series: Vec<Series> = m
                .into_iter()
                .map(|s| Series {
                    labels: if s.drop_name {
                        s.labels.without_metric_name()
                    } else {
                        s.labels
                    },
                    points: s.points,
                })
                .collect();
            let mut seen = hashing::fast_set();
            if !series.iter().all(|s| seen.insert(&s.labels)) {
                return Err(EvalError::DuplicateLabelset);
            }
            Value::Matrix(series)
        }
    })
}

/// Evaluates `expr` at every step from `start_ms` to `end_ms` inclusive and
/// returns a [`Value::Matrix`] sorted by labels.
pub fn eval_range(
    storage: &Storage,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    if step_ms <= 0 {
        return Err(EvalError::InvalidQuery(
            "zero or negative query resolution step widths are not accepted".into(),
        ));
    }
    if end_ms < start_ms {
        return Err(EvalError::InvalidQuery(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms >= MAX_POINTS_PER_SERIES {
        return Err(EvalError::InvalidQuery(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let mut ev = evaluator(storage, start_ms, end_ms, opts);
    ev.steps = Some(Default::default());
    // Keyed by the labels before the delayed name removal, as in Prometheus.
    let mut index: FastMap<Labels, usize> = fast_map();
    // (labels, drop the name at the end, points)
    type Pending = (Labels, bool, Vec<(i64, f64)>);
    let mut series: Vec<Pending> = Vec::new();
    let mut push = |labels: Labels, drop_name: bool, t: i64, v: f64| {
        let i = *index.entry(labels.clone()).or_insert_with(|| {
            series.push((labels, drop_name, Vec::new()));
            series.len() - 1
        });
        series[i].1 |= drop_name;
        series[i].2.push((t, v));
    };
    let mut t = start_ms;
    while t <= end_ms {
        match ev.eval(expr, t)? {
            Val::Scalar(v) => push(Labels::empty(), false, t, v),
            Val::Vector(v) => {
                let mut seen = hashing::fast_set();
                for e in v {
                    if !seen.insert(e.labels.clone()) {
                        return Err(EvalError::DuplicateLabelset);
                    }
                    push(e.labels, e.drop_name, t, e.value);
                }
            }
            other => {
                return Err(EvalError::InvalidQuery(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.type_name()
            )))
            }
        }
        t += step_ms;
    }
    let mut out: Vec<Series> = series
        .into_iter()
        .map(|(labels, drop_name, points)| Series {
            labels: if drop_name {
                labels.without_metric_name()
            } else {
                labels
            },
            points,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    if out.windows(2).any(|w| w[0].labels == w[1].labels) {
        return Err(EvalError::DuplicateLabelset);
    }
    Ok(Value::Matrix(out))
}

fn evaluator<'a>(
    storage: &'a Storage,
    start_ms: i64,
    end_ms: i64,
    opts: &EvalOptions,
) -> Evaluator<'a> {
    Evaluator {
        storage,
        lookback_ms: opts.lookback_delta_ms,
        start_ms,
        end_ms,
        default_subquery_step_ms: opts.default_subquery_step_ms,
        steps: None,
    }
}
