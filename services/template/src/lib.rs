//! Prometheus' template language, for the evaluator's alert labels and
//! annotations and the actuator's issue titles, bodies and labels: Go's
//! text/template (actions, trim markers, comments, pipelines, variables,
//! `if`/`range`/`with`/`define`/`template`/`block`, `break`/`continue`) with Go's builtins and Prometheus' functions
//! (`query`, `humanize*`, `reReplaceAll`, ...), formatting numbers exactly as
//! Go does. As in Prometheus, a template that fails to expand yields
//! `<error expanding template: ...>` instead of failing the rule.
//!
//! Differences from Prometheus, all on purpose or out of reach: method
//! calls exist only for `toTime` results (`.Unix`, `.UnixMilli`, `.UTC`,
//! `.String`); `call` always fails (templates hold no function values);
//! complex numbers, and `%b`/`%x` of floats, are not supported; a printed
//! query result shows its samples as `&{labels value}` where Go prints
//! pointer addresses; `title` approximates Unicode word breaking; regexp
//! syntax is the `regex` crate's (RE2, as Go's) and its error texts are
//! reshaped to Go's only for common cases. Limits a fixed stack and the
//! evaluator's latency need: nesting 100 deep, 200 nested template
//! calls/bodies, a million steps and 1 MiB of output per expansion, each
//! failing with an error text.
//!
//! Why not a crate: `gtmpl` (0.7.1, passively maintained) has its own value
//! model, so Go's type-dependent behaviour (`eq 1 1.0` failing, `%d` of a
//! float, type names in errors, float printing) would not match; a small
//! lexer/parser/evaluator modelled on Go's `text/template` does.

mod ast;
mod exec;
mod functions;
mod humanize;
mod lexer;
mod parser;
mod printf;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_functions;

use std::rc::Rc;

use closeloop_core::LabelSet;

pub use humanize::{go_float, humanize};

/// Runs a PromQL instant query for the `query` template function at the
/// rule's evaluation time: the result as (labels, value) pairs, or an
/// error message. Prometheus passes its rule query function here; the
/// evaluator passes one that evaluates against its window.
pub type QueryFn<'q> = dyn Fn(&str) -> Result<Vec<(LabelSet, f64)>, String> + 'q;

/// The data a template sees.
pub struct TemplateData<'a> {
    pub labels: &'a LabelSet,
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub value: f64,
}

/// Variables Prometheus defines before every alert template, so rule
/// authors can write `$labels.x` and `$value`.
const PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands one label or annotation template of alerting rule `name`
/// without a query function (`query` then fails with an error text).
pub fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> String {
    expand_with_query(name, text, data, None)
}

/// Expands one label or annotation template of alerting rule `name`;
/// `query` serves the template's `query` function.
pub fn expand_with_query(
    name: &str,
    text: &str,
    data: &TemplateData<'_>,
    query: Option<&QueryFn<'_>>,
) -> String {
    let template_name = format!("__alert_{name}");
    let full = format!("{PRELUDE}{text}");
    // Prometheus recovers panics in expansion; so do we, as a last line of
    // defence (nothing in here is meant to panic).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        expand_text(&template_name, &full, data, query)
    }))
    .unwrap_or_else(|_| Err(format!("panic expanding template {template_name}")));
    match result {
        Ok(out) => out,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

/// Parses a label or annotation template as `promtool check rules` does,
/// returning Go's parse error (`template: __alert_NAME:1: ...`).
pub fn check(name: &str, text: &str) -> Result<(), String> {
    let template_name = format!("__alert_{name}");
    let full = format!("{PRELUDE}{text}");
    parser::parse(&template_name, &full, &is_function).map(|_| ())
}

fn is_function(name: &str) -> bool {
    functions::signature(name).is_some()
}

fn expand_text(
    template_name: &str,
    full: &str,
    data: &TemplateData<'_>,
    query: Option<&QueryFn<'_>>,
) -> Result<String, String> {
    let parsed = parser::parse(template_name, full, &is_function)
        .map_err(|e| format!("error parsing template {template_name}: {e}"))?;
    let root = value::Value::Root(Rc::new(value::Root {
        labels: Rc::new(data.labels.clone()),
        external_labels: Rc::new(data.external_labels.clone()),
        external_url: Rc::from(data.external_url),
        value: data.value,
    }));
    let env = functions::Env {
        query,
        external_url: data.external_url,
    };
    exec::execute(template_name, full, &parsed, &env, root)
        .map_err(|e| format!("error executing template {template_name}: {e}"))
}
