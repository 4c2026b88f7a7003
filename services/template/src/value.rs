//! The values a template computes with, each standing for the Go type
//! Prometheus would have there, so type names in error messages, truth in
//! `if`, and printing come out as they do in Prometheus.

use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use closeloop_core::LabelSet;

/// One element of a `query` result (`*template.sample` in Prometheus).
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub labels: LabelSet,
    pub value: f64,
}

/// The alert data (`.`): Prometheus' anonymous struct from `AlertTemplateData`.
#[derive(Debug)]
pub(crate) struct Root {
    pub labels: Rc<LabelSet>,
    pub external_labels: Rc<LabelSet>,
    pub external_url: Rc<str>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Go's invalid `reflect.Value`: prints as `<no value>`.
    Missing,
    /// A nil `interface{}` (a missing `args` key): prints as `<nil>`.
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte from indexing a string (`uint8`).
    Byte(u8),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML` from `safeHtml`.
    Html(Rc<str>),
    /// `map[string]string`: `.Labels`, `.ExternalLabels`, a sample's labels.
    Labels(Rc<LabelSet>),
    /// `map[string]interface {}` from `args`.
    Args(Rc<BTreeMap<String, Value>>),
    /// `template.queryResult`.
    Samples(Rc<Vec<Rc<Sample>>>),
    /// `*template.sample`.
    Sample(Rc<Sample>),
    /// A nil `*template.sample`.
    NilSample,
    /// `*time.Time` from `toTime`.
    Time(DateTime<Utc>),
    Root(Rc<Root>),
}

pub(crate) const ROOT_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// The Go type name, as `%T` and error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::Labels(_) => "map[string]string",
            Value::Args(_) => "map[string]interface {}",
            Value::Samples(_) => "template.queryResult",
            Value::Sample(_) | Value::NilSample => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Root(_) => ROOT_TYPE,
        }
    }

    /// Go's `isTrue`: the truth `if`, `with`, `and`, `or` and `not` use.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Nil | Value::NilSample => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Byte(b) => *b != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::Labels(m) => !m.is_empty(),
            Value::Args(m) => !m.is_empty(),
            Value::Samples(v) => !v.is_empty(),
            Value::Sample(_) | Value::Time(_) | Value::Root(_) => true,
        }
    }

    /// Whether Go's `fmt` treats it as a string (no space between operands
    /// in `print`).
    pub fn is_string_kind(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Html(_))
    }
}

/// Go's `time.Time.String()` in UTC: `2015-06-23 13:19:44.128 +0000 UTC`.
pub(crate) fn go_time(t: &DateTime<Utc>) -> String {
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}
