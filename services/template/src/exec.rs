//! Execution of a parsed template, following `text/template/exec.go`:
//! variable scopes, pipelines, field access, function calls with Go's
//! argument conversion, `if`/`with`/`range`/`template`, and errors located
//! as `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...`.

use std::collections::HashMap;
use std::rc::Rc;

use super::ast::{Arg, Branch, Command, List, Node, Number, Pipe};
use super::functions::{invoke, signature, Env, Param, Sig};
use super::parser::Parsed;
use super::printf::{fmt_v, go_quote};
use super::value::{go_time, Value, ROOT_TYPE};

/// Deepest nesting of walked lists (control bodies and template calls).
/// Go allows 100000 template calls deep on its growable stacks; a fixed
/// thread stack needs a far smaller bound.
pub(crate) const MAX_EXEC_DEPTH: usize = 200;
/// Nodes and loop iterations one expansion may take, so a template cannot
/// stall the evaluator (`range 1000000000`, exponential recursion).
pub(crate) const MAX_STEPS: usize = 1_000_000;
/// Largest output one expansion may produce.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;

type R<T> = Result<T, String>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node an error is reported at (Go's `state.at`).
#[derive(Clone, Copy)]
enum At<'a> {
    Arg(&'a Arg),
    Cmd(&'a Command),
    Template(usize, &'a str, Option<&'a Pipe>),
}

pub(crate) fn execute(
    name: &str,
    text: &str,
    parsed: &Parsed,
    env: &Env<'_>,
    data: Value,
) -> R<String> {
    let mut exec = Exec {
        parse_name: name,
        text,
        main: &parsed.main,
        defs: &parsed.defs,
        env,
        vars: vec![("$".into(), data.clone())],
        out: String::new(),
        depth: 0,
        steps: 0,
        tmpl_name: name.to_string(),
        at: None,
    };
    exec.walk(&data, &parsed.main)?;
    Ok(exec.out)
}

struct Exec<'a> {
    parse_name: &'a str,
    text: &'a str,
    main: &'a List,
    defs: &'a HashMap<String, List>,
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    steps: usize,
    tmpl_name: String,
    at: Option<At<'a>>,
}

impl<'a> Exec<'a> {
    fn fail<T>(&self, msg: impl std::fmt::Display) -> R<T> {
        let Some(at) = self.at else {
            return Err(format!("template: {}: {msg}", self.tmpl_name));
        };
        let (pos, context) = match at {
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Template(pos, name, pipe) => (
                pos,
                match pipe {
                    Some(p) => format!("{{{{template {} {p}}}}}", go_quote(name)),
                    None => format!("{{{{template {}}}}}", go_quote(name)),
                },
            ),
        };
        let before = &self.text[..pos.min(self.text.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        let context = if context.len() > 20 {
            format!("{}...", context.chars().take(20).collect::<String>())
        } else {
            context
        };
        Err(format!(
            "template: {}:{line}:{col}: executing {} at <{context}>: {msg}",
            self.parse_name,
            go_quote(&self.tmpl_name)
        ))
    }

    fn tick(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.fail(format!("template expansion exceeded {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return self.fail(format!("template output exceeded {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Value, list: &'a List) -> R<Flow> {
        self.depth += 1;
        let result = if self.depth > MAX_EXEC_DEPTH {
            self.fail(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            ))
        } else {
            self.walk_list(dot, list)
        };
        self.depth -= 1;
        result
    }

    fn walk_list(&mut self, dot: &Value, list: &'a List) -> R<Flow> {
        for node in list {
            self.tick()?;
            let flow = match node {
                Node::Text(t) => {
                    self.write(t)?;
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decls.is_empty() {
                        let printed = match &v {
                            Value::Missing | Value::Nil => "<no value>".to_string(),
                            Value::Sample(_) => fmt_v(&v).trim_start_matches('&').to_string(),
                            other => fmt_v(other),
                        };
                        self.write(&printed)?;
                    }
                    Flow::Normal
                }
                Node::If(b) => self.walk_if_or_with(dot, b, false)?,
                Node::With(b) => self.walk_if_or_with(dot, b, true)?,
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref())?
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, dot: &Value, b: &'a Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let result = (|| {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if v.truth() {
                self.walk(if with { &v } else { dot }, &b.list)
            } else if let Some(else_list) = &b.else_list {
                self.walk(dot, else_list)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value, b: &'a Branch) -> R<Flow> {
        let mark = self.vars.len();
        let result = self.range_body(dot, b);
        self.vars.truncate(mark);
        result
    }

    fn range_body(&mut self, dot: &Value, b: &'a Branch) -> R<Flow> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let entries: Vec<(Value, Value)> = match &val {
            Value::Samples(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone())))
                .collect(),
            Value::Labels(m) => m
                .iter()
                .map(|(k, v)| (Value::str(k), Value::str(v)))
                .collect(),
            Value::Args(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            Value::Int(n) => {
                if b.pipe.decls.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                Vec::new()
            }
            Value::Missing | Value::Nil | Value::NilSample => Vec::new(),
            other => return self.fail(format!("range can't iterate over {}", fmt_v(other))),
        };
        // Ranging over an int counts lazily; the step budget bounds it.
        let count = match &val {
            Value::Int(n) => (*n).max(0) as u64,
            _ => entries.len() as u64,
        };
        let inner = self.vars.len();
        for i in 0..count {
            self.tick()?;
            let (index, elem) = match &val {
                Value::Int(_) => (Value::Int(i as i64), Value::Int(i as i64)),
                _ => entries[i as usize].clone(),
            };
            let decls = &b.pipe.decls;
            if let Some(first) = decls.first() {
                if b.pipe.is_assign {
                    let v = if decls.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    self.set_var(first, v)?;
                } else {
                    self.set_top_var(1, elem.clone());
                }
            }
            if decls.len() > 1 {
                if b.pipe.is_assign {
                    self.set_var(&decls[1], elem.clone())?;
                } else {
                    self.set_top_var(2, index);
                }
            }
            let flow = self.walk(&elem, &b.list);
            self.vars.truncate(inner);
            if flow? == Flow::Break {
                break;
            }
        }
        if count == 0 {
            if let Some(else_list) = &b.else_list {
                return self.walk(dot, else_list);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &'a str,
        pipe: Option<&'a Pipe>,
    ) -> R<Flow> {
        self.at = Some(At::Template(pos, name, pipe));
        let list = match self.defs.get(name) {
            Some(list) => list,
            None if name == self.parse_name => self.main,
            None => return self.fail(format!("template {} not defined", go_quote(name))),
        };
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Missing,
        };
        // Templates see no variables of their caller except `$`.
        let vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let caller = std::mem::replace(&mut self.tmpl_name, name.to_string());
        let result = self.walk(&new_dot, list);
        self.vars = vars;
        self.tmpl_name = caller;
        result.map(|_| Flow::Normal)
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Value) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = value;
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // A nil interface{} result is no value at all (Go digs into it).
            value = Some(match v {
                Value::Nil => Value::Missing,
                other => other,
            });
        }
        let value = value.unwrap_or(Value::Missing);
        for decl in &pipe.decls {
            if pipe.is_assign {
                self.set_var(decl, value.clone())?;
            } else {
                self.vars.push((decl.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], last: &Option<Value>) -> R<()> {
        if args.len() > 1 || last.is_some() {
            return self.fail(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, last: Option<Value>) -> R<Value> {
        let Some(first) = cmd.args.first() else {
            return self.fail("empty command");
        };
        match first {
            Arg::Field { idents, .. } => {
                self.at = Some(At::Arg(first));
                self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, last)
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain(dot, first, node, fields, &cmd.args, last)
            }
            Arg::Ident { name, .. } => {
                self.at = Some(At::Arg(first));
                self.eval_function(dot, name, At::Cmd(cmd), &cmd.args[1..], last)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &last)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { idents, .. } => self.eval_variable(dot, first, idents, &cmd.args, last),
            _ => {
                self.at = Some(At::Arg(first));
                self.not_a_function(&cmd.args, &last)?;
                match first {
                    Arg::Bool(_, b) => Ok(Value::Bool(*b)),
                    Arg::Dot(_) => Ok(dot.clone()),
                    Arg::Number { text, num, .. } => Ok(ideal_constant(text, num)),
                    Arg::Str { text, .. } => Ok(Value::str(text)),
                    _ => self.fail("nil is not a command"),
                }
            }
        }
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        idents: &'a [String],
        args: &'a [Arg],
        last: Option<Value>,
    ) -> R<Value> {
        self.at = Some(At::Arg(node));
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            if !args.is_empty() {
                self.not_a_function(args, &last)?;
            }
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &idents[1..], args, last)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'a Arg,
        node: &'a Arg,
        fields: &'a [String],
        args: &'a [Arg],
        last: Option<Value>,
    ) -> R<Value> {
        if let Arg::Nil(_) = node {
            self.at = Some(At::Arg(chain));
            return self.fail(format!("indirection through explicit nil in {chain}"));
        }
        let receiver = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, receiver, fields, args, last)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        idents: &'a [String],
        args: &'a [Arg],
        last: Option<Value>,
    ) -> R<Value> {
        let Some((final_ident, path)) = idents.split_last() else {
            return Ok(receiver);
        };
        let mut receiver = receiver;
        for ident in path {
            receiver = self.eval_field(dot, ident, &[], None, receiver)?;
        }
        self.eval_field(dot, final_ident, args, last, receiver)
    }

    fn eval_field(
        &mut self,
        _dot: &Value,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        let has_args = args.len() > 1 || last.is_some();
        let not_function = |this: &Self| {
            this.fail(format!(
                "{name} has arguments but cannot be invoked as function"
            ))
        };
        let cannot =
            |this: &Self, ty: &str| this.fail(format!("can't evaluate field {name} in type {ty}"));
        match receiver {
            Value::Missing => Ok(Value::Missing),
            Value::Nil => self.fail(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Root(r) => {
                let v = match name {
                    "Labels" => Value::Labels(r.labels.clone()),
                    "ExternalLabels" => Value::Labels(r.external_labels.clone()),
                    "ExternalURL" => Value::Str(r.external_url.clone()),
                    "Value" => Value::Float(r.value),
                    _ => return cannot(self, ROOT_TYPE),
                };
                if has_args {
                    return not_function(self);
                }
                Ok(v)
            }
            Value::Sample(s) => {
                let v = match name {
                    "Labels" => Value::Labels(Rc::new(s.labels.clone())),
                    "Value" => Value::Float(s.value),
                    _ => return cannot(self, "*template.sample"),
                };
                if has_args {
                    return not_function(self);
                }
                Ok(v)
            }
            Value::NilSample => match name {
                "Labels" | "Value" => {
                    self.fail(format!("nil pointer evaluating *template.sample.{name}"))
                }
                _ => cannot(self, "*template.sample"),
            },
            Value::Labels(m) => {
                if has_args {
                    return self.fail(format!("{name} is not a method but has arguments"));
                }
                Ok(Value::str(m.get(name).map_or("", String::as_str)))
            }
            Value::Args(m) => {
                if has_args {
                    return self.fail(format!("{name} is not a method but has arguments"));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::Time(t) => {
                let v = match name {
                    "Unix" => Value::Int(t.timestamp()),
                    "UnixMilli" => Value::Int(t.timestamp_millis()),
                    "UTC" => Value::Time(t),
                    "String" => Value::str(&go_time(&t)),
                    _ => return cannot(self, "*time.Time"),
                };
                if has_args {
                    let got = args.len().saturating_sub(1) + usize::from(last.is_some());
                    return self.fail(format!("wrong number of args for {name}: want 0 got {got}"));
                }
                Ok(v)
            }
            other => cannot(self, other.type_name()),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        node: At<'a>,
        args: &'a [Arg],
        last: Option<Value>,
    ) -> R<Value> {
        let Some(sig) = signature(name) else {
            return self.fail(format!("{} is not a defined function", go_quote(name)));
        };
        self.eval_call(dot, name, &sig, node, args, last)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        name: &str,
        sig: &Sig,
        node: At<'a>,
        args: &'a [Arg],
        last: Option<Value>,
    ) -> R<Value> {
        let num_in = args.len() + usize::from(last.is_some());
        let num_fixed = sig.fixed.len();
        match sig.variadic {
            Some(_) if num_in < num_fixed => {
                return self.fail(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    args.len()
                ))
            }
            None if num_in != num_fixed => {
                return self.fail(format!(
                    "wrong number of args for {name}: want {num_fixed} got {num_in}"
                ))
            }
            _ => {}
        }
        let param = |i: usize| {
            sig.fixed
                .get(i)
                .copied()
                .or(sig.variadic)
                .unwrap_or(Param::Any)
        };
        if name == "and" || name == "or" {
            // Short-circuit: later arguments are not evaluated.
            let mut v = Value::Missing;
            for arg in args {
                v = self.eval_arg(dot, Some(Param::Reflect), arg)?;
                if v.truth() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(last) = last {
                v = self.validate(last, Some(Param::Reflect))?;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, Some(param(i)), arg)?);
        }
        if let Some(last) = last {
            argv.push(self.validate(last, Some(param(num_in - 1)))?);
        }
        match invoke(name, &argv, self.env) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at = Some(node);
                self.fail(format!("error calling {name}: {e}"))
            }
        }
    }

    fn eval_arg(&mut self, dot: &Value, typ: Option<Param>, arg: &'a Arg) -> R<Value> {
        self.at = Some(At::Arg(arg));
        let value = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match typ {
                    Some(Param::Any) | None => Ok(Value::Nil),
                    Some(Param::Sample) => Ok(Value::NilSample),
                    Some(Param::Samples) => Ok(Value::Samples(Rc::new(Vec::new()))),
                    Some(t) => self.fail(format!("cannot assign nil to {}", t.type_name())),
                }
            }
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), idents, &[], None)?
            }
            Arg::Variable { idents, .. } => self.eval_variable(dot, arg, idents, &[], None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Ident { name, .. } => self.eval_function(dot, name, At::Arg(arg), &[], None)?,
            Arg::Chain { node, fields, .. } => {
                self.eval_chain(dot, arg, node, fields, &[], None)?
            }
            Arg::Bool(..) | Arg::Number { .. } | Arg::Str { .. } => {
                return match (typ, arg) {
                    (Some(Param::Str), Arg::Str { text, .. }) => Ok(Value::str(text)),
                    (Some(Param::Str), _) => self.fail(format!("expected string; found {arg}")),
                    (Some(t @ (Param::Sample | Param::Samples)), _) => self.fail(format!(
                        "can't handle {arg} for arg of type {}",
                        t.type_name()
                    )),
                    (_, Arg::Bool(_, b)) => Ok(Value::Bool(*b)),
                    (_, Arg::Number { text, num, .. }) => Ok(ideal_constant(text, num)),
                    (_, Arg::Str { text, .. }) => Ok(Value::str(text)),
                    _ => Ok(Value::Missing),
                };
            }
        };
        self.validate(value, typ)
    }

    /// Go's `validateType`: does the value fit the parameter?
    fn validate(&self, value: Value, typ: Option<Param>) -> R<Value> {
        let wrong = |v: &Value, t: Param| {
            let got = if matches!(v, Value::Nil) {
                "interface {}"
            } else {
                v.type_name()
            };
            self.fail(format!(
                "wrong type for value; expected {}; got {got}",
                t.type_name()
            ))
        };
        match (typ, value) {
            (None, v) => Ok(v),
            (Some(Param::Any), Value::Missing) => Ok(Value::Nil),
            (Some(Param::Any), v) => Ok(v),
            (Some(t @ (Param::Reflect | Param::Str)), Value::Missing) => {
                self.fail(format!("invalid value; expected {}", t.type_name()))
            }
            (Some(Param::Reflect), v) => Ok(v),
            (Some(Param::Str), v @ Value::Str(_)) => Ok(v),
            (Some(Param::Sample), Value::Missing) => Ok(Value::NilSample),
            (Some(Param::Sample), v @ (Value::Sample(_) | Value::NilSample)) => Ok(v),
            (Some(Param::Samples), Value::Missing) => Ok(Value::Samples(Rc::new(Vec::new()))),
            (Some(Param::Samples), v @ Value::Samples(_)) => Ok(v),
            (Some(t), v) => wrong(&v, t),
        }
    }
}

/// Go's `idealConstant`: a number literal becomes an int unless it is
/// written as a float.
fn ideal_constant(text: &str, num: &Number) -> Value {
    let is_hex_int = text.len() > 2
        && text.starts_with('0')
        && matches!(text.as_bytes()[1], b'x' | b'X')
        && !text.contains(['p', 'P']);
    if !num.is_char && !is_hex_int && text.contains(['.', 'e', 'E', 'p', 'P']) {
        if let Some(f) = num.float {
            return Value::Float(f);
        }
    }
    match (num.int, num.float) {
        (Some(i), _) => Value::Int(i),
        (None, Some(f)) => Value::Float(f),
        (None, None) => Value::Missing,
    }
}
