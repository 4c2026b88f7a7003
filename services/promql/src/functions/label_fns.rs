//! Functions that rewrite labels or order results, not values.

use std::cmp::Ordering;

use promql_parser::parser::Expr;
use regex::Regex;

use super::{arg, string_arg};
use crate::error::EvalError;
use crate::eval::{Elem, Evaluator, Val};
use crate::labels::METRIC_NAME;

/// Prometheus 3 accepts any non-empty UTF-8 label name.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{FFFD}')
}

/// Relabelling may merge series; two results with one label set is an error.
fn check_unique(v: &[Elem]) -> Result<(), EvalError> {
    let mut seen = crate::hashing::fast_set();
    for e in v {
        if !seen.insert(&e.labels) {
            return Err(EvalError::DuplicateLabelset);
        }
    }
    Ok(())
}

impl<'a> Evaluator<'a> {
    pub(crate) fn label_replace(&self, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let dst = string_arg(args, 1)?;
        let replacement = string_arg(args, 2)?;
        let src = string_arg(args, 3)?;
        let regex_src = string_arg(args, 4)?;
        let regex = Regex::new(&format!("^(?s:{regex_src})$")).map_err(|_| {
            EvalError::InvalidArgument(format!(
                "invalid regular expression in label_replace(): {regex_src}"
            ))
        })?;
        if !valid_label_name(&dst) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        for e in &mut v {
            let value = e.labels.get_or_empty(&src).to_owned();
            if let Some(caps) = regex.captures(&value) {
                let mut out = String::new();
                caps.expand(&replacement, &mut out);
                e.labels = e.labels.with(&dst, &out);
                if dst == METRIC_NAME {
                    e.drop_name = false;
                }
            }
        }
        check_unique(&v)?;
        Ok(Val::Vector(v))
    }

    pub(crate) fn label_join(&self, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let dst = string_arg(args, 1)?;
        let separator = string_arg(args, 2)?;
        let mut sources = Vec::new();
        for i in 3..args.len() {
            let s = string_arg(args, i)?;
            if !valid_label_name(&s) {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            sources.push(s);
        }
        if !valid_label_name(&dst) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        for e in &mut v {
            let joined = sources
                .iter()
                .map(|s| e.labels.get_or_empty(s))
                .collect::<Vec<_>>()
                .join(&separator);
            e.labels = e.labels.with(&dst, &joined);
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
        check_unique(&v)?;
        Ok(Val::Vector(v))
    }

    /// `sort`/`sort_desc`: NaN always last.
    pub(crate) fn sort_by_value(
        &self,
        desc: bool,
        args: &[&Expr],
        t: i64,
    ) -> Result<Val, EvalError> {
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        v.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if desc => b.value.partial_cmp(&a.value).unwrap_or(Ordering::Equal),
            _ => a.value.partial_cmp(&b.value).unwrap_or(Ordering::Equal),
        });
        Ok(Val::Vector(v))
    }

    pub(crate) fn sort_by_label(
        &self,
        desc: bool,
        args: &[&Expr],
        t: i64,
    ) -> Result<Val, EvalError> {
        let mut names = Vec::new();
        for i in 1..args.len() {
            names.push(string_arg(args, i)?);
        }
        let mut v = self.eval_vector(arg(args, 0)?, t)?;
        v.sort_by(|a, b| {
            for n in &names {
                let (x, y) = (a.labels.get_or_empty(n), b.labels.get_or_empty(n));
                if x == y {
                    continue;
                }
                let o = natural_cmp(x, y);
                return if desc { o.reverse() } else { o };
            }
            let o = a.labels.cmp(&b.labels);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        Ok(Val::Vector(v))
    }
}

/// Natural order ("a2" < "a10") as facette/natsort defines it.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natsort_less(a, b) {
        Ordering::Less
    } else if natsort_less(b, a) {
        Ordering::Greater
    } else {
        a.cmp(b)
    }
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_digit: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if let Some(p) = prev_digit {
            if p != d {
                out.push(&s[start..i]);
                start = i;
            }
        }
        prev_digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn natsort_less(a: &str, b: &str) -> bool {
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let (nx, ny) = (x.parse::<i64>(), y.parse::<i64>());
        if let (Ok(nx), Ok(ny)) = (nx, ny) {
            if nx == ny {
                if i == ca.len() - 1 {
                    return true;
                } else if i == cb.len() - 1 {
                    return false;
                }
                continue;
            }
            return nx < ny;
        }
        if x == y {
            if i == ca.len() - 1 {
                return true;
            } else if i == cb.len() - 1 {
                return false;
            }
            continue;
        }
        return x < y;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers_numerically() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
