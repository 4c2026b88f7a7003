//! The functions a template can call: Go's builtins (`len`, `index`,
//! `printf`, `eq`, ...) and Prometheus' additions (`query`, `humanize`,
//! `reReplaceAll`, ...), with Go's parameter types so argument checking and
//! error texts match.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::humanize as h;
use super::printf::{fmt_v, go_quote, sprint, sprintf, sprintln};
use super::value::{Sample, Value};
use super::QueryFn;

/// A parameter's Go type, which decides how an argument is converted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Param {
    /// `interface{}`: anything, literals as Go's ideal constants.
    Any,
    /// `reflect.Value` (Go builtins): like `Any`.
    Reflect,
    Str,
    Sample,
    Samples,
}

impl Param {
    pub fn type_name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Reflect => "reflect.Value",
            Param::Str => "string",
            Param::Sample => "*template.sample",
            Param::Samples => "template.queryResult",
        }
    }
}

pub(crate) struct Sig {
    pub fixed: &'static [Param],
    pub variadic: Option<Param>,
}

/// What functions may read besides their arguments.
pub(crate) struct Env<'a> {
    pub query: Option<&'a QueryFn<'a>>,
    pub external_url: &'a str,
}

pub(crate) fn signature(name: &str) -> Option<Sig> {
    use Param::*;
    let sig = |fixed: &'static [Param], variadic: Option<Param>| Some(Sig { fixed, variadic });
    match name {
        "and" | "or" | "eq" | "index" | "slice" | "call" => sig(&[Reflect], Some(Reflect)),
        "not" | "len" => sig(&[Reflect], None),
        "ne" | "lt" | "le" | "gt" | "ge" => sig(&[Reflect, Reflect], None),
        "print" | "println" | "html" | "js" | "urlquery" | "args" => sig(&[], Some(Any)),
        "printf" => sig(&[Str], Some(Any)),
        "query" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink" | "safeHtml"
        | "stripPort" | "stripDomain" | "parseDuration" => sig(&[Str], None),
        "first" => sig(&[Samples], None),
        "label" => sig(&[Str, Sample], None),
        "value" | "strvalue" => sig(&[Sample], None),
        "reReplaceAll" => sig(&[Str, Str, Str], None),
        "match" => sig(&[Str, Str], None),
        "sortByLabel" => sig(&[Str, Samples], None),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" => sig(&[Any], None),
        "pathPrefix" | "externalURL" => sig(&[], None),
        _ => None,
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Str(s) | Value::Html(s) => s,
        _ => "",
    }
}

fn sample(v: &Value) -> Result<&Sample, String> {
    match v {
        Value::Sample(s) => Ok(s),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".into()),
    }
}

fn samples(v: &Value) -> Vec<Rc<Sample>> {
    match v {
        Value::Samples(s) => s.as_ref().clone(),
        _ => Vec::new(),
    }
}

/// How deep `args` maps may nest: printing and dropping them recurse.
const MAX_NESTING: usize = 100;

fn nesting(v: &Value) -> usize {
    match v {
        Value::Args(m) => 1 + m.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// Calls `name` with arguments already converted to its parameter types.
pub(crate) fn invoke(name: &str, args: &[Value], env: &Env<'_>) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Missing);
    let s = |i: usize| text(args.get(i).unwrap_or(&Value::Missing)).to_string();
    Ok(match name {
        "not" => Value::Bool(!arg(0).truth()),
        "len" => Value::Int(length(&arg(0))?),
        "index" => index(arg(0), &args[1.min(args.len())..])?,
        "slice" => slice(arg(0), &args[1.min(args.len())..])?,
        "print" => Value::str(&sprint(args)),
        "println" => Value::str(&sprintln(args)),
        "printf" => Value::str(&sprintf(&s(0), &args[1.min(args.len())..])),
        "html" => Value::str(&html_escape(&eval_args(args))),
        "js" => Value::str(&js_escape(&eval_args(args))),
        "urlquery" => Value::str(&h::query_escape(&eval_args(args))),
        "eq" => Value::Bool(eq(&arg(0), &args[1.min(args.len())..])?),
        "ne" => Value::Bool(!eq(&arg(0), &args[1.min(args.len())..])?),
        "lt" => Value::Bool(lt(&arg(0), &arg(1))?),
        "le" => Value::Bool(lt(&arg(0), &arg(1))? || eq(&arg(0), &args[1.min(args.len())..])?),
        "gt" => Value::Bool(!(lt(&arg(0), &arg(1))? || eq(&arg(0), &args[1.min(args.len())..])?)),
        "ge" => Value::Bool(!lt(&arg(0), &arg(1))?),
        "call" => {
            return Err(match arg(0) {
                Value::Missing | Value::Nil => "call of nil".into(),
                other => format!("non-function of type {}", other.type_name()),
            })
        }
        "query" => {
            let query = env
                .query
                .ok_or("no query function is available to this template")?;
            let result = query(&s(0))?;
            Value::Samples(Rc::new(
                result
                    .into_iter()
                    .map(|(labels, value)| Rc::new(Sample { labels, value }))
                    .collect(),
            ))
        }
        "first" => match samples(&arg(0)).first() {
            Some(first) => Value::Sample(first.clone()),
            None => return Err("first() called on vector with no elements".into()),
        },
        "label" => Value::str(
            sample(&arg(1))?
                .labels
                .get(&s(0))
                .map_or("", String::as_str),
        ),
        "value" => Value::Float(sample(&arg(0))?.value),
        "strvalue" => Value::str(
            sample(&arg(0))?
                .labels
                .get("__value__")
                .map_or("", String::as_str),
        ),
        "args" if args.iter().map(nesting).max().unwrap_or(0) >= MAX_NESTING => {
            return Err(format!("args nested deeper than {MAX_NESTING}"))
        }
        "args" => Value::Args(Rc::new(
            args.iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a.clone()))
                .collect::<BTreeMap<_, _>>(),
        )),
        "reReplaceAll" => {
            let pattern = s(0);
            let re = compile(&pattern)
                .map_err(|e| format!("regexp: Compile({}): {e}", backquote(&pattern)))?;
            Value::str(&re.replace_all(&s(2), s(1).as_str()))
        }
        "match" => Value::Bool(compile(&s(0))?.is_match(&s(1))),
        "title" => Value::str(&h::title(&s(0))),
        "toUpper" => Value::str(&h::map_case(&s(0), true)),
        "toLower" => Value::str(&h::map_case(&s(0), false)),
        "graphLink" => Value::str(&format!(
            "/graph?g0.expr={}&g0.tab=0",
            h::query_escape(&s(0))
        )),
        "tableLink" => Value::str(&format!(
            "/graph?g0.expr={}&g0.tab=1",
            h::query_escape(&s(0))
        )),
        "safeHtml" => Value::Html(Rc::from(s(0).as_str())),
        "sortByLabel" => {
            let label = s(0);
            let mut sorted = samples(&arg(1));
            let key = |x: &Rc<Sample>| x.labels.get(&label).cloned().unwrap_or_default();
            sorted.sort_by_key(key);
            Value::Samples(Rc::new(sorted))
        }
        "stripPort" => Value::str(&h::strip_port(&s(0))),
        "stripDomain" => Value::str(&h::strip_domain(&s(0))),
        "humanize" => Value::str(&h::humanize(h::to_float(&arg(0))?)),
        "humanize1024" => Value::str(&h::humanize1024(h::to_float(&arg(0))?)),
        "humanizeDuration" => Value::str(&h::humanize_duration(h::to_float(&arg(0))?)),
        "humanizePercentage" => Value::str(&h::humanize_percentage(h::to_float(&arg(0))?)),
        "humanizeTimestamp" => Value::str(&h::humanize_timestamp(h::to_float(&arg(0))?)?),
        "toTime" => Value::Time(h::float_to_time(h::to_float(&arg(0))?)?),
        "pathPrefix" => Value::str(&h::url_path(env.external_url)),
        "externalURL" => Value::str(env.external_url),
        "parseDuration" => Value::Float(h::parse_duration(&s(0))?),
        other => return Err(format!("{} is not a defined function", go_quote(other))),
    })
}

/// Go's regexp syntax is RE2, which the `regex` crate shares; messages
/// are reshaped into Go's `error parsing regexp: ...: `+"`pattern`"+` form.
fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            let go = match last.as_str() {
                "unclosed group" => "missing closing )".to_string(),
                "unopened group" => "unexpected )".to_string(),
                "unclosed character class" => "missing closing ]".to_string(),
                _ => last,
            };
            format!("error parsing regexp: {go}: {}", backquote(pattern))
        })
}

/// Go's `regexp` quoting of a pattern: back-quoted when it can be.
fn backquote(s: &str) -> String {
    if s.contains('`') || s.chars().any(|c| c != '\t' && !super::printf::is_print(c)) {
        go_quote(s)
    } else {
        format!("`{s}`")
    }
}

/// `evalArgs` of html/js/urlquery: one string as is, else `fmt.Sprint` of
/// the printable values.
fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Missing | Value::Nil => Value::str("<no value>"),
            Value::Sample(_) => Value::str(fmt_v(a).trim_start_matches('&')),
            other => other.clone(),
        })
        .collect();
    sprint(&printable)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if !c.is_ascii() && !super::printf::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn length(v: &Value) -> Result<i64, String> {
    Ok(match v {
        Value::Str(s) | Value::Html(s) => s.len() as i64,
        Value::Labels(m) => m.len() as i64,
        Value::Args(m) => m.len() as i64,
        Value::Samples(s) => s.len() as i64,
        Value::Nil | Value::NilSample => return Err("len of nil pointer".into()),
        Value::Sample(_) => return Err("len of type template.sample".into()),
        Value::Time(_) => return Err("len of type time.Time".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    })
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Byte(b) => i64::from(*b),
        Value::Missing | Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = match item {
        Value::Nil | Value::Missing => return Err("index of untyped nil".into()),
        other => other,
    };
    for index in indexes {
        item = match item {
            Value::Str(s) | Value::Html(s) => {
                let x = index_arg(index, s.len())?;
                Value::Byte(
                    *s.as_bytes()
                        .get(x)
                        .ok_or("reflect: string index out of range")?,
                )
            }
            Value::Samples(v) => {
                let x = index_arg(index, v.len())?;
                Value::Sample(
                    v.get(x)
                        .cloned()
                        .ok_or("reflect: slice index out of range")?,
                )
            }
            Value::Labels(m) => match index {
                Value::Str(k) => Value::str(m.get(k.as_ref()).map_or("", String::as_str)),
                Value::Missing | Value::Nil => {
                    return Err("value is nil; should be of type string".into())
                }
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Args(m) => match index {
                Value::Str(k) => m.get(k.as_ref()).cloned().unwrap_or(Value::Nil),
                Value::Missing | Value::Nil => Value::Nil,
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::NilSample | Value::Nil => return Err("index of nil pointer".into()),
            Value::Sample(_) => return Err("can't index item of type template.sample".into()),
            Value::Time(_) => return Err("can't index item of type time.Time".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: Value, indexes: &[Value]) -> Result<Value, String> {
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &item {
        Value::Missing | Value::Nil => return Err("slice of untyped nil".into()),
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Samples(v) => v.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) => Value::str(&String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]])),
        Value::Samples(v) => Value::Samples(Rc::new(v[idx[0]..idx[1]].to_vec())),
        other => other,
    })
}

#[derive(PartialEq, PartialOrd)]
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
}

fn basic(v: &Value) -> Option<Basic<'_>> {
    Some(match v {
        Value::Bool(b) => Basic::Bool(*b),
        Value::Int(i) => Basic::Int(*i),
        Value::Byte(b) => Basic::Uint(u64::from(*b)),
        Value::Float(f) => Basic::Float(*f),
        Value::Str(s) | Value::Html(s) => Basic::Str(s),
        _ => return None,
    })
}

fn same_kind(a: &Basic<'_>, b: &Basic<'_>) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn is_valid(v: &Value) -> bool {
    !matches!(v, Value::Missing | Value::Nil)
}

fn eq(arg1: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic(arg1);
    for arg in others {
        let k2 = basic(arg);
        let truth = match (&k1, &k2) {
            (Some(Basic::Int(i)), Some(Basic::Uint(u)))
            | (Some(Basic::Uint(u)), Some(Basic::Int(i))) => *i >= 0 && *i as u64 == *u,
            (Some(a), Some(b)) if same_kind(a, b) => a == b,
            (None, None) => match (arg1, arg) {
                (a, b) if !is_valid(a) || !is_valid(b) => !is_valid(a) && !is_valid(b),
                (Value::Sample(a), Value::Sample(b)) => Rc::ptr_eq(a, b),
                (Value::NilSample, Value::NilSample) => true,
                (Value::Sample(_) | Value::NilSample, Value::Sample(_) | Value::NilSample) => false,
                (Value::Time(a), Value::Time(b)) => a == b,
                (a, b) if a.type_name() != b.type_name() => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        fmt_v(a),
                        a.type_name(),
                        b.type_name(),
                        fmt_v(b)
                    ))
                }
                (_, b) => {
                    return Err(format!(
                        "non-comparable type {}: {}",
                        fmt_v(b),
                        b.type_name()
                    ))
                }
            },
            _ if is_valid(arg1) && is_valid(arg) => {
                return Err("incompatible types for comparison".into())
            }
            _ => false,
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(arg1: &Value, arg2: &Value) -> Result<bool, String> {
    const BAD_TYPE: &str = "invalid type for comparison";
    let k1 = basic(arg1).ok_or(BAD_TYPE)?;
    let k2 = basic(arg2).ok_or(BAD_TYPE)?;
    Ok(match (k1, k2) {
        (Basic::Int(i), Basic::Uint(u)) => i < 0 || (i as u64) < u,
        (Basic::Uint(u), Basic::Int(i)) => i >= 0 && u < i as u64,
        (Basic::Bool(_), Basic::Bool(_)) => return Err(BAD_TYPE.into()),
        (a, b) if same_kind(&a, &b) => a < b,
        _ => return Err("incompatible types for comparison".into()),
    })
}
