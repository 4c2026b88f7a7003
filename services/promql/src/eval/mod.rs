//! The evaluator: walks the parsed expression at one timestamp.

mod aggregations;
mod binary;
pub(crate) mod selectors;

use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::error::EvalError;
use crate::labels::Labels;
use crate::storage::Storage;

/// One element of an intermediate instant vector.
///
/// `drop_name` implements Prometheus 3's delayed `__name__` removal: functions
/// and operators mark the name for removal, and it is removed only when the
/// final result is produced, so `label_replace` and `by (__name__)` still see it.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub value: f64,
    pub drop_name: bool,
}

/// One series of an intermediate range vector.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
    pub drop_name: bool,
}

/// Intermediate values.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<Elem>),
    Matrix(Vec<RangeSeries>),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

/// Everything fixed for the duration of one query.
pub(crate) struct Evaluator<'a> {
    pub storage: &'a Storage,
    pub lookback_ms: i64,
    /// Query start and end, what `@ start()` and `@ end()` refer to.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Step of subqueries written without one (`x[5m:]`).
    pub default_subquery_step_ms: i64,
    /// What a range query's steps carry from one to the next (`None` for
    /// an instant query, which has one step).
    pub steps: Option<StepCaches<'a>>,
}

/// Per query node (by address): a selector's series with a cursor into
/// each, so a step neither selects again nor decodes each series from its
/// first sample; an aggregation's grouper, so a step finds known groups.
#[derive(Default)]
pub(crate) struct StepCaches<'a> {
    pub selected: std::cell::RefCell<crate::hashing::FastMap<usize, selectors::Selected<'a>>>,
    pub groupers: std::cell::RefCell<crate::hashing::FastMap<usize, aggregations::Grouper>>,
}

impl<'a> Evaluator<'a> {
    pub fn eval(&self, expr: &Expr, t: i64) -> Result<Val, EvalError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(mut v) => {
                    for e in &mut v {
                        e.value = -e.value;
                        e.drop_name = true;
                    }
                    Ok(Val::Vector(v))
                }
                other => Err(EvalError::InvalidQuery(format!(
                    "unary minus is not defined on {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let (series, _) = self.matrix_selector(ms, t);
                Ok(Val::Matrix(series))
            }
            Expr::Subquery(sq) => {
                let (series, _) = self.subquery(sq, t)?;
                Ok(Val::Matrix(series))
            }
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Binary(b) => self.binary(b, t),
            Expr::Call(c) => self.call(c, t),
            Expr::Extension(_) => Err(EvalError::Unsupported("extension expression".into())),
        }
    }

    /// Evaluates an argument that must be a scalar.
    pub fn eval_scalar(&self, expr: &Expr, t: i64) -> Result<f64, EvalError> {
        match self.eval(expr, t)? {
            Val::Scalar(v) => Ok(v),
            other => Err(EvalError::InvalidQuery(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an argument that must be an instant vector.
    pub fn eval_vector(&self, expr: &Expr, t: i64) -> Result<Vec<Elem>, EvalError> {
        match self.eval(expr, t)? {
            Val::Vector(v) => Ok(v),
            other => Err(EvalError::InvalidQuery(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// The time a selector reads at, after `@` and `offset`.
    pub fn selector_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start_ms,
            Some(AtModifier::End) => self.end_ms,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base - offset_ms(offset)
    }
}

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

fn system_time_ms(st: &std::time::SystemTime) -> i64 {
    match st.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Strips parentheses, which never change a value.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}
