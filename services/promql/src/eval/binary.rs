//! Binary operators: arithmetic, comparisons, set operators and vector matching.

use promql_parser::parser::token::TokenId;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Elem, Evaluator, Val};
use crate::error::EvalError;
use crate::hashing::{fast_map, fast_set, FastMap, FastSet};
use crate::labels::{Labels, METRIC_NAME};

/// How two vectors are matched, flattened from the parser's modifier.
struct Matching {
    card: Card,
    /// `on(...)` when true, `ignoring(...)` when false.
    on: bool,
    labels: Vec<String>,
    /// Labels copied from the "one" side by `group_left/right(...)`.
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

fn matching_of(b: &BinaryExpr) -> Matching {
    let mut m = Matching {
        card: Card::OneToOne,
        on: false,
        labels: Vec::new(),
        include: Vec::new(),
    };
    if let Some(modifier) = &b.modifier {
        match &modifier.card {
            VectorMatchCardinality::OneToOne => {}
            VectorMatchCardinality::ManyToOne(ls) => {
                m.card = Card::ManyToOne;
                m.include = ls.labels.clone();
            }
            VectorMatchCardinality::OneToMany(ls) => {
                m.card = Card::OneToMany;
                m.include = ls.labels.clone();
            }
            VectorMatchCardinality::ManyToMany => m.card = Card::ManyToMany,
        }
        match &modifier.matching {
            Some(LabelModifier::Include(ls)) => {
                m.on = true;
                m.labels = ls.labels.clone();
            }
            Some(LabelModifier::Exclude(ls)) => m.labels = ls.labels.clone(),
            None => {}
        }
    }
    m
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Applies `op`; for comparisons returns the left value and whether it holds.
pub(crate) fn scalar_op(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(EvalError::InvalidQuery(format!(
                "operator {op} not allowed here"
            )))
        }
    })
}

impl<'a> Evaluator<'a> {
    pub(crate) fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Val, EvalError> {
        let op = b.op.id();
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let (v, keep) = scalar_op(op, l, r)?;
                if is_comparison(op) {
                    Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
                } else {
                    Ok(Val::Scalar(v))
                }
            }
            (Val::Vector(v), Val::Scalar(s)) => vector_scalar(op, v, s, false, return_bool),
            (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, s, true, return_bool),
            (Val::Vector(l), Val::Vector(r)) => {
                let m = matching_of(b);
                match op {
                    T_LAND => Ok(Val::Vector(and(l, &r, &m))),
                    T_LOR => Ok(Val::Vector(or(l, r, &m))),
                    T_LUNLESS => Ok(Val::Vector(unless(l, &r, &m))),
                    _ => vector_vector(op, l, r, &m, return_bool).map(Val::Vector),
                }
            }
            (l, r) => Err(EvalError::InvalidQuery(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }
}

fn vector_scalar(
    op: TokenId,
    v: Vec<Elem>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Val, EvalError> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let (l, r) = if swap { (s, e.value) } else { (e.value, s) };
        let (mut value, mut keep) = scalar_op(op, l, r)?;
        // A comparison always yields the vector's value, even when the
        // scalar is on the left.
        if comparison && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if !keep {
            continue;
        }
        e.value = value;
        e.drop_name |= !comparison || return_bool;
        out.push(e);
    }
    Ok(Val::Vector(out))
}

/// The labels two samples are matched on.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    if m.on {
        labels.filter(|n| m.labels.iter().any(|l| l == n))
    } else {
        labels.filter(|n| n != METRIC_NAME && !m.labels.iter().any(|l| l == n))
    }
}

fn and(l: Vec<Elem>, r: &[Elem], m: &Matching) -> Vec<Elem> {
    let right: FastSet<Labels> = r.iter().map(|e| signature(&e.labels, m)).collect();
    l.into_iter()
        .filter(|e| right.contains(&signature(&e.labels, m)))
        .collect()
}

fn or(l: Vec<Elem>, r: Vec<Elem>, m: &Matching) -> Vec<Elem> {
    let left: FastSet<Labels> = l.iter().map(|e| signature(&e.labels, m)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|e| !left.contains(&signature(&e.labels, m))),
    );
    out
}

fn unless(l: Vec<Elem>, r: &[Elem], m: &Matching) -> Vec<Elem> {
    let right: FastSet<Labels> = r.iter().map(|e| signature(&e.labels, m)).collect();
    l.into_iter()
        .filter(|e| !right.contains(&signature(&e.labels, m)))
        .collect()
}

/// Labels of a one-to-one or many-to-one result: taken from the "many" side,
/// reduced to the matching labels for one-to-one `on`, plus `group_x` labels
/// copied from the "one" side.
fn result_labels(many: &Labels, one: &Labels, m: &Matching) -> Labels {
    let mut labels = if m.card == Card::OneToOne {
        if m.on {
            many.filter(|n| m.labels.iter().any(|l| l == n))
        } else {
            many.filter(|n| !m.labels.iter().any(|l| l == n))
        }
    } else {
        many.clone()
    };
    for name in &m.include {
        labels = labels.with(name, one.get_or_empty(name));
    }
    labels
}

fn vector_vector(
    op: TokenId,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
    m: &Matching,
    return_bool: bool,
) -> Result<Vec<Elem>, EvalError> {
    if m.card == Card::ManyToMany {
        return Err(EvalError::VectorMatching(
            "many-to-many only allowed for set operators".into(),
        ));
    }
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let swapped = m.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };

    let mut one_by_sig: FastMap<Labels, Elem> = fast_map();
    for e in one {
        let sig = signature(&e.labels, m);
        if let Some(dup) = one_by_sig.get(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(EvalError::VectorMatching(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                e.labels, dup.labels
            )));
        }
        one_by_sig.insert(sig, e);
    }

    let comparison = is_comparison(op);
    let mut matched: FastMap<Labels, FastSet<Labels>> = fast_map();
    let mut out = Vec::new();
    for e in many {
        let sig = signature(&e.labels, m);
        let Some(o) = one_by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if swapped {
            (o.value, e.value)
        } else {
            (e.value, o.value)
        };
        let (mut value, keep) = scalar_op(op, l, r)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let labels = result_labels(&e.labels, &o.labels, m);
        match m.card {
            Card::OneToOne => {
                if matched.insert(sig, fast_set()).is_some() {
                    return Err(EvalError::VectorMatching(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
            }
            _ => {
                if !matched
                    .entry(sig)
                    .or_insert_with(fast_set)
                    .insert(labels.clone())
                {
                    return Err(EvalError::VectorMatching(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
            }
        }
        out.push(Elem {
            labels,
            value,
            drop_name: !comparison || return_bool || e.drop_name,
        });
    }
    Ok(out)
}
