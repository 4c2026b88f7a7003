//! Runner for Prometheus' promqltest scripts (`load`, `clear`, `eval`).
//!
//! Takes the script text (no file access) and reports every `eval` as
//! passed, failed or skipped. Evals that need native histograms are skipped,
//! as this engine stores floats only; annotation expectations are ignored.

mod compare;
mod script;
pub mod series;

use std::fmt;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

use crate::labels::{Labels, METRIC_NAME};
use crate::storage::Storage;
use crate::value::stale_marker;
use crate::{eval_instant, eval_range, parse, EvalOptions};
use script::{Command, EvalCommand, EvalKind};
use series::SeqValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalStatus {
    Passed,
    Failed,
    Skipped,
}

/// The outcome of one `eval` command.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    pub file: String,
    pub line: usize,
    pub query: String,
    pub status: EvalStatus,
    /// Why it failed or was skipped (expected vs got); empty when passed.
    pub message: String,
}

impl fmt::Display for EvalOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {:?} {}",
            self.file, self.line, self.status, self.query
        )?;
        if !self.message.is_empty() {
            write!(f, "\n    {}", self.message)?;
        }
        Ok(())
    }
}

/// Everything a script run found.
#[derive(Debug, Clone, Default)]
pub struct ScriptReport {
    pub file: String,
    pub evals: Vec<EvalOutcome>,
    /// Commands that could not be parsed or loaded (`file:line: message`).
    pub errors: Vec<String>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ScriptReport {
    pub fn failures(&self) -> impl Iterator<Item = &EvalOutcome> {
        self.evals.iter().filter(|e| e.status == EvalStatus::Failed)
    }
}

/// Runs a promqltest script; `file_name` only labels the report.
pub fn run_script(text: &str, file_name: &str) -> ScriptReport {
    let mut report = ScriptReport {
        file: file_name.to_string(),
        ..ScriptReport::default()
    };
    let mut storage = Storage::new();
    let mut histogram_series: Vec<Labels> = Vec::new();
    for cmd in script::parse_script(text) {
        match cmd {
            Command::Invalid { line, message } => {
                report.errors.push(format!("{file_name}:{line}: {message}"));
            }
            Command::Clear => {
                storage.clear();
                histogram_series.clear();
            }
            Command::Load(load) => {
                for (labels, values) in &load.series {
                    for (i, v) in values.iter().enumerate() {
                        let t = i as i64 * load.interval_ms;
                        match v {
                            SeqValue::Value(f) => storage.append(labels, t, *f),
                            SeqValue::Stale => storage.append(labels, t, stale_marker()),
                            SeqValue::Omitted => {}
                        }
                    }
                }
                histogram_series.extend(load.histogram_series);
            }
            Command::Eval(cmd) => {
                let (status, message) = run_eval(&storage, &histogram_series, &cmd);
                match status {
                    EvalStatus::Passed => report.passed += 1,
                    EvalStatus::Failed => report.failed += 1,
                    EvalStatus::Skipped => report.skipped += 1,
                }
                report.evals.push(EvalOutcome {
                    file: file_name.to_string(),
                    line: cmd.line,
                    query: cmd.query.clone(),
                    status,
                    message,
                });
            }
        }
    }
    report
}

fn run_eval(
    storage: &Storage,
    histogram_series: &[Labels],
    cmd: &EvalCommand,
) -> (EvalStatus, String) {
    if cmd.expects_histograms {
        return (EvalStatus::Skipped, "expects native histograms".into());
    }
    let expr = match parse(&cmd.query) {
        Ok(e) => e,
        Err(e) => return expect_error(cmd, &format!("parse error: {}", e.message), &e.message),
    };
    // Evals reading native histogram series run with those samples absent:
    // a matching result is a pass, anything else is put down to the missing
    // histogram support and skipped.
    let reads_histograms = touches(&expr, histogram_series);
    let (status, message) = eval_and_compare(storage, &expr, cmd);
    if status == EvalStatus::Failed && reads_histograms {
        return (
            EvalStatus::Skipped,
            format!("reads native histograms; without them: {message}"),
        );
    }
    (status, message)
}

fn eval_and_compare(storage: &Storage, expr: &Expr, cmd: &EvalCommand) -> (EvalStatus, String) {
    let opts = EvalOptions::default();
    let result = match cmd.kind {
        EvalKind::Instant { at_ms } => eval_instant(storage, expr, at_ms, &opts),
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => eval_range(storage, expr, start_ms, end_ms, step_ms, &opts),
    };
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            return expect_error(cmd, &format!("evaluation error: {msg}"), &msg);
        }
    };
    if cmd.expect_fail {
        return (
            EvalStatus::Failed,
            format!("expected an error, got {}", compare::describe(&value)),
        );
    }
    match compare::compare(cmd, &value) {
        Ok(()) => (EvalStatus::Passed, String::new()),
        Err(m) => (EvalStatus::Failed, m),
    }
}

fn expect_error(cmd: &EvalCommand, shown: &str, message: &str) -> (EvalStatus, String) {
    if !cmd.expect_fail {
        return (EvalStatus::Failed, shown.to_string());
    }
    if let Some(want) = &cmd.fail_message {
        if want != message {
            return (
                EvalStatus::Failed,
                format!("expected error {want:?}, got {message:?}"),
            );
        }
    }
    if let Some(re) = &cmd.fail_regex {
        match regex::Regex::new(re) {
            Ok(r) if r.is_match(message) => {}
            Ok(_) => {
                return (
                    EvalStatus::Failed,
                    format!("expected error matching {re:?}, got {message:?}"),
                )
            }
            Err(e) => return (EvalStatus::Failed, format!("bad expected_fail_regexp: {e}")),
        }
    }
    (EvalStatus::Passed, String::new())
}

/// Whether any selector in `expr` matches one of the histogram series.
fn touches(expr: &Expr, histogram_series: &[Labels]) -> bool {
    if histogram_series.is_empty() {
        return false;
    }
    let mut found = false;
    walk_selectors(expr, &mut |vs| {
        found |= histogram_series.iter().any(|l| selector_matches(vs, l));
    });
    found
}

fn walk_selectors(expr: &Expr, f: &mut impl FnMut(&VectorSelector)) {
    match expr {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&ms.vs),
        Expr::Subquery(s) => walk_selectors(&s.expr, f),
        Expr::Paren(p) => walk_selectors(&p.expr, f),
        Expr::Unary(u) => walk_selectors(&u.expr, f),
        Expr::Binary(b) => {
            walk_selectors(&b.lhs, f);
            walk_selectors(&b.rhs, f);
        }
        Expr::Aggregate(a) => {
            walk_selectors(&a.expr, f);
            if let Some(p) = &a.param {
                walk_selectors(p, f);
            }
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                walk_selectors(a, f);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_matches(vs: &VectorSelector, labels: &Labels) -> bool {
    let name_ok = vs.name.as_ref().is_none_or(|n| {
        Matcher::new(MatchOp::Equal, METRIC_NAME, n).is_match(labels.get_or_empty(METRIC_NAME))
    });
    let all = |ms: &[Matcher]| ms.iter().all(|m| m.is_match(labels.get_or_empty(&m.name)));
    name_ok
        && if vs.matchers.or_matchers.is_empty() {
            all(&vs.matchers.matchers)
        } else {
            vs.matchers.or_matchers.iter().any(|g| all(g))
        }
}
