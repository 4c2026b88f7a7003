//! Comparing a result with an eval command's expectations, as promqltest does.

use std::collections::HashMap;

use super::script::{EvalCommand, EvalKind, Expected};
use super::series::SeqValue;
use crate::labels::Labels;
use crate::math::almost_equal;
use crate::value::Value;

const EPSILON: f64 = 0.000001;

/// A short rendering of a result for failure messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Scalar(f) => format!("scalar {f}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Vector(v) => {
            let items: Vec<String> = v
                .iter()
                .map(|s| format!("{} {}", s.labels, s.value))
                .collect();
            format!("vector [{}]", items.join(", "))
        }
        Value::Matrix(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|s| {
                    let pts: Vec<String> =
                        s.points.iter().map(|(t, v)| format!("{v}@{t}")).collect();
                    format!("{} [{}]", s.labels, pts.join(" "))
                })
                .collect();
            format!("matrix [{}]", items.join(", "))
        }
    }
}

fn same(a: f64, b: f64) -> bool {
    almost_equal(a, b, EPSILON)
}

pub(crate) fn compare(cmd: &EvalCommand, got: &Value) -> Result<(), String> {
    match got {
        Value::Scalar(v) => {
            let [exp] = cmd.expected.as_slice() else {
                return Err(format!(
                    "expected {} series, got {}",
                    cmd.expected.len(),
                    describe(got)
                ));
            };
            match exp.values.first() {
                Some(SeqValue::Value(e)) if exp.labels.is_none() && same(*e, *v) => Ok(()),
                _ => Err(format!(
                    "expected scalar {:?}, got {}",
                    exp.values,
                    describe(got)
                )),
            }
        }
        Value::String(s) => match cmd.expected.as_slice() {
            [] => Err(format!("expected nothing, got string {s:?}")),
            _ => Err(format!("string results are not comparable, got {s:?}")),
        },
        Value::Vector(v) => {
            let expected = by_labels(&cmd.expected)?;
            for (pos, s) in v.iter().enumerate() {
                let Some((i, exp)) = expected.get(&s.labels) else {
                    return Err(format!(
                        "unexpected series {} {} in {}",
                        s.labels,
                        s.value,
                        describe(got)
                    ));
                };
                if cmd.ordered && *i != pos {
                    return Err(format!(
                        "expected {} at position {}, found at {}",
                        s.labels,
                        i + 1,
                        pos + 1
                    ));
                }
                match exp.values.first() {
                    Some(SeqValue::Value(e)) if same(*e, s.value) => {}
                    other => {
                        return Err(format!(
                            "expected {} {:?}, got {}",
                            s.labels, other, s.value
                        ))
                    }
                }
            }
            if v.len() != expected.len() {
                return Err(format!(
                    "expected {} samples, got {}: {}",
                    expected.len(),
                    v.len(),
                    describe(got)
                ));
            }
            Ok(())
        }
        Value::Matrix(m) => {
            if cmd.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            let (start, end, step) = match cmd.kind {
                EvalKind::Instant { at_ms } => (at_ms, at_ms, 0),
                EvalKind::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                } => (start_ms, end_ms, step_ms),
            };
            let expected = by_labels(&cmd.expected)?;
            for s in m {
                let Some((_, exp)) = expected.get(&s.labels) else {
                    return Err(format!(
                        "unexpected series {} in {}",
                        s.labels,
                        describe(got)
                    ));
                };
                let mut want: Vec<(i64, f64)> = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but the range has fewer steps",
                            exp.values.len(),
                            s.labels
                        ));
                    }
                    match v {
                        SeqValue::Value(f) => want.push((t, *f)),
                        SeqValue::Stale => want.push((t, crate::value::stale_marker())),
                        SeqValue::Omitted => {}
                    }
                }
                let equal = want.len() == s.points.len()
                    && want
                        .iter()
                        .zip(&s.points)
                        .all(|(w, g)| w.0 == g.0 && same(w.1, g.1));
                if !equal {
                    let w: Vec<String> = want.iter().map(|(t, v)| format!("{v}@{t}")).collect();
                    let g: Vec<String> = s.points.iter().map(|(t, v)| format!("{v}@{t}")).collect();
                    return Err(format!(
                        "series {}: expected [{}], got [{}]",
                        s.labels,
                        w.join(" "),
                        g.join(" ")
                    ));
                }
            }
            for exp_labels in expected.keys() {
                if !m.iter().any(|s| &s.labels == exp_labels) {
                    return Err(format!(
                        "expected series {exp_labels} not found in {}",
                        describe(got)
                    ));
                }
            }
            Ok(())
        }
    }
}

fn by_labels(expected: &[Expected]) -> Result<HashMap<Labels, (usize, &Expected)>, String> {
    let mut map = HashMap::new();
    for (i, e) in expected.iter().enumerate() {
        let labels = e.labels.clone().unwrap_or_default();
        map.insert(labels, (i, e));
    }
    Ok(map)
}
