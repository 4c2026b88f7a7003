//! Element-wise functions on instant vectors (math, rounding, clamping).

use promql_parser::parser::Expr;

use super::arg;
use crate::error::EvalError;
use crate::eval::{Evaluator, Val};
use crate::math::{go_max, go_min};

/// Functions that map each value on its own and drop the metric name.
pub(crate) fn simple_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

impl<'a> Evaluator<'a> {
    /// `round(v, to_nearest=1)`: ties round up, like Prometheus.
    pub(crate) fn round(&self, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        let to_nearest = match args.get(1) {
            Some(a) => self.eval_scalar(a, t)?,
            None => 1.0,
        };
        // Dividing by the inverse is what Prometheus does; it is more exact
        // for the usual fractional arguments like 0.1.
        let inverse = 1.0 / to_nearest;
        for e in &mut v {
            e.value = (e.value * inverse + 0.5).floor() / inverse;
            e.drop_name = true;
        }
        Ok(Val::Vector(v))
    }

    pub(crate) fn clamp(&self, name: &str, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        let (min, max) = match name {
            "clamp" => (
                self.eval_scalar(arg(args, 1)?, t)?,
                self.eval_scalar(arg(args, 2)?, t)?,
            ),
            "clamp_min" => (self.eval_scalar(arg(args, 1)?, t)?, f64::INFINITY),
            _ => (f64::NEG_INFINITY, self.eval_scalar(arg(args, 1)?, t)?),
        };
        if max < min {
            return Ok(Val::Vector(Vec::new()));
        }
        for e in &mut v {
            e.value = go_max(min, go_min(max, e.value));
            e.drop_name = true;
        }
        Ok(Val::Vector(v))
    }
}
