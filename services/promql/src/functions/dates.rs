//! Calendar functions (`hour()`, `day_of_week()`, ...), all in UTC.

use chrono::{DateTime, Datelike, Timelike, Utc};
use promql_parser::parser::Expr;

use crate::error::EvalError;
use crate::eval::{Elem, Evaluator, Val};
use crate::labels::Labels;

pub(crate) fn is_date_function(name: &str) -> bool {
    matches!(
        name,
        "days_in_month"
            | "day_of_month"
            | "day_of_week"
            | "day_of_year"
            | "hour"
            | "minute"
            | "month"
            | "year"
    )
}

fn date_value(name: &str, secs: f64) -> f64 {
    // Go converts with int64(f); Rust's `as` saturates instead of wrapping,
    // which only differs for values no calendar can show anyway.
    let Some(d) = DateTime::<Utc>::from_timestamp(secs as i64, 0) else {
        return f64::NAN;
    };
    (match name {
        "days_in_month" => days_in_month(d.year(), d.month()),
        "day_of_month" => d.day(),
        "day_of_week" => d.weekday().num_days_from_sunday(),
        "day_of_year" => d.ordinal(),
        "hour" => d.hour(),
        "minute" => d.minute(),
        "month" => d.month(),
        _ => return d.year() as f64,
    }) as f64
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    match (first, first_next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn date_function(
        &self,
        name: &str,
        args: &[&Expr],
        t: i64,
    ) -> Result<Val, EvalError> {
        let Some(a) = args.first() else {
            // Without an argument: the evaluation time, whole seconds.
            return Ok(Val::Vector(vec![Elem {
                labels: Labels::empty(),
                value: date_value(name, (t / 1000) as f64),
                drop_name: false,
            }]));
        };
        let mut v = self.eval_vector(a, t)?;
        for e in &mut v {
            e.value = date_value(name, e.value);
            e.drop_name = true;
        }
        Ok(Val::Vector(v))
    }
}
