//! PromQL function calls: dispatch by name to the families below.

mod dates;
mod histogram;
mod instant;
mod label_fns;
mod range;

use promql_parser::parser::{Call, Expr};

use crate::error::EvalError;
use crate::eval::{unwrap_parens, Elem, Evaluator, Val};
use crate::labels::{Labels, METRIC_NAME};

impl<'a> Evaluator<'a> {
    pub(crate) fn call(&self, c: &Call, t: i64) -> Result<Val, EvalError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
        if let Some(f) = range::RangeFn::from_name(name) {
            return self.call_range(f, &args, t);
        }
        match name {
            "time" => Ok(Val::Scalar(t as f64 / 1000.0)),
            "pi" => Ok(Val::Scalar(std::f64::consts::PI)),
            "vector" => Ok(Val::Vector(vec![Elem {
                labels: Labels::empty(),
                value: self.eval_scalar(arg(&args, 0)?, t)?,
                drop_name: false,
            }])),
            "scalar" => {
                let v = self.eval_vector(arg(&args, 0)?, t)?;
                Ok(Val::Scalar(if v.len() == 1 {
                    v[0].value
                } else {
                    f64::NAN
                }))
            }
            "absent" => {
                let v = self.eval_vector(arg(&args, 0)?, t)?;
                if !v.is_empty() {
                    return Ok(Val::Vector(Vec::new()));
                }
                Ok(Val::Vector(vec![Elem {
                    labels: absent_labels(arg(&args, 0)?),
                    value: 1.0,
                    drop_name: false,
                }]))
            }
            "timestamp" => self.timestamp(arg(&args, 0)?, t),
            "histogram_quantile" => self.histogram_quantile(&args, t),
            "label_replace" => self.label_replace(&args, t),
            "label_join" => self.label_join(&args, t),
            "sort" | "sort_desc" => self.sort_by_value(name == "sort_desc", &args, t),
            "sort_by_label" | "sort_by_label_desc" => {
                self.sort_by_label(name == "sort_by_label_desc", &args, t)
            }
            "round" => self.round(&args, t),
            "clamp" | "clamp_min" | "clamp_max" => self.clamp(name, &args, t),
            _ if dates::is_date_function(name) => self.date_function(name, &args, t),
            _ => match instant::simple_function(name) {
                Some(f) => {
                    let mut v = self.eval_vector(arg(&args, 0)?, t)?;
                    for e in &mut v {
                        e.value = f(e.value);
                        e.drop_name = true;
                    }
                    Ok(Val::Vector(v))
                }
                None => Err(EvalError::Unsupported(format!("function {name}()"))),
            },
        }
    }

    /// `timestamp(v)`: the sample times when `v` is a plain selector,
    /// otherwise the evaluation time.
    fn timestamp(&self, a: &Expr, t: i64) -> Result<Val, EvalError> {
        if let Expr::VectorSelector(vs) = unwrap_parens(a) {
            return Ok(Val::Vector(
                self.vector_selector_with_times(vs, t)
                    .into_iter()
                    .map(|(mut e, ts)| {
                        e.value = ts as f64 / 1000.0;
                        e.drop_name = true;
                        e
                    })
                    .collect(),
            ));
        }
        let mut v = self.eval_vector(a, t)?;
        for e in &mut v {
            e.value = t as f64 / 1000.0;
            e.drop_name = true;
        }
        Ok(Val::Vector(v))
    }
}

pub(crate) fn arg<'e>(args: &[&'e Expr], i: usize) -> Result<&'e Expr, EvalError> {
    args.get(i)
        .copied()
        .ok_or_else(|| EvalError::InvalidQuery(format!("missing argument {}", i + 1)))
}

/// The string value of a string-literal argument.
pub(crate) fn string_arg(args: &[&Expr], i: usize) -> Result<String, EvalError> {
    match unwrap_parens(arg(args, i)?) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        other => Err(EvalError::InvalidQuery(format!(
            "expected string argument, got {}",
            other.value_type()
        ))),
    }
}

/// Labels `absent()` can be sure of: equality matchers on distinct names.
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut ambiguous: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        let is_eq = matches!(m.op, promql_parser::label::MatchOp::Equal);
        if is_eq && !set.iter().any(|(n, _)| *n == m.name) {
            set.push((m.name.clone(), m.value.clone()));
        } else {
            ambiguous.push(m.name.clone());
        }
    }
    set.retain(|(n, _)| !ambiguous.contains(n));
    Labels::from_pairs(set)
}
