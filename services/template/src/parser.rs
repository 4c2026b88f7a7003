//! Parsing of Go's text/template syntax into [`ast`](super::ast) nodes,
//! following `text/template/parse/parse.go` so the accepted language and
//! the error messages (`template: NAME:LINE: ...`) are the same.

use std::collections::HashMap;

use super::ast::{Arg, Branch, Command, List, Node, Number, Pipe};
use super::lexer::{lex, Item, Kind};

/// Deepest nesting of control structures and parentheses accepted. Go has
/// no such limit for control structures (goroutine stacks grow); ours keeps
/// a hostile rule file from exhausting the thread's stack.
pub(crate) const MAX_DEPTH: usize = 100;

pub(crate) struct Parsed {
    pub main: List,
    pub defs: HashMap<String, List>,
}

/// What `itemList` stopped at besides a node.
enum Item2 {
    Node(Node),
    End,
    Else,
}

type PResult<T> = Result<T, String>;

pub(crate) fn parse(name: &str, text: &str, is_func: &dyn Fn(&str) -> bool) -> PResult<Parsed> {
    let mut p = Parser {
        name,
        items: lex(text),
        idx: 0,
        line: 1,
        action_line: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        defs: HashMap::new(),
        is_func,
    };
    let main = p.parse_top()?;
    Ok(Parsed { main, defs: p.defs })
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    idx: usize,
    line: usize,
    action_line: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    defs: HashMap<String, List>,
    is_func: &'a dyn Fn(&str) -> bool,
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> PResult<T> {
        Err(format!("template: {}:{}: {msg}", self.name, self.line))
    }

    fn next(&mut self) -> Item {
        let last = self.items.len().saturating_sub(1);
        let item = self.items.get(self.idx.min(last)).cloned().unwrap_or(Item {
            kind: Kind::Eof,
            val: String::new(),
            pos: 0,
            line: 1,
        });
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        self.line = item.line;
        item
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Item {
        let item = self.next();
        self.backup();
        item
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.kind != Kind::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn unexpected<T>(&self, token: &Item, context: &str) -> PResult<T> {
        if token.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.err(format!("{token}{extra}"));
        }
        self.err(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let token = self.next_non_space();
        if token.kind != kind {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("max expression depth exceeded");
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let mark = self.idx;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = mark;
            }
            match self.text_or_action()? {
                Item2::End => return self.err("unexpected {{end}}"),
                Item2::Else => return self.err("unexpected {{else}}"),
                Item2::Node(n) => root.push(n),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        if !matches!(token.kind, Kind::String | Kind::RawString) {
            return self.unexpected(&token, CONTEXT);
        }
        let name = self.unquote(&token.val)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Item2::End) {
            return self.err(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.add_definition(name, list)
    }

    fn add_definition(&mut self, name: String, list: List) -> PResult<()> {
        let empty = |l: &List| {
            l.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defs.get(&name) {
            Some(old) if !empty(old) && !empty(&list) => self.err(format!(
                "template: multiple definition of template {}",
                super::printf::go_quote(&name)
            )),
            Some(old) if !empty(old) => Ok(()),
            _ => {
                self.defs.insert(name, list);
                Ok(())
            }
        }
    }

    fn item_list(&mut self) -> PResult<(List, Item2)> {
        let mut list = List::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item2::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        self.err("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Item2> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Text => Ok(Item2::Node(Node::Text(token.val))),
            Kind::LeftDelim => {
                let saved = self.action_line;
                self.action_line = token.line;
                let result = self.action();
                self.action_line = saved;
                result
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Item2> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Block => return self.block_control().map(Item2::Node),
            Kind::Break | Kind::Continue => {
                let word = if token.kind == Kind::Break {
                    "break"
                } else {
                    "continue"
                };
                let close = self.next_non_space();
                if close.kind != Kind::RightDelim {
                    return self.unexpected(&close, &format!("{{{{{word}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                return Ok(Item2::Node(if token.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => {
                // `else if` / `else with`: leave the keyword for parse_control.
                if !matches!(self.peek_non_space().kind, Kind::If | Kind::With) {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Item2::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item2::End);
            }
            Kind::If => return self.control("if").map(|b| Item2::Node(Node::If(b))),
            Kind::Range => return self.control("range").map(|b| Item2::Node(Node::Range(b))),
            Kind::With => return self.control("with").map(|b| Item2::Node(Node::With(b))),
            Kind::Template => return self.template_control().map(Item2::Node),
            _ => {}
        }
        self.backup();
        Ok(Item2::Node(Node::Action(
            self.pipeline("command", Kind::RightDelim)?,
        )))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let vars = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let mut else_list = None;
        if let Item2::Else = next {
            let chained = match (context, self.peek().kind) {
                ("if", Kind::If) => Some(("if", true)),
                ("with", Kind::With) => Some(("with", false)),
                _ => None,
            };
            if let Some((inner, is_if)) = chained {
                self.next();
                let branch = self.control(inner)?;
                else_list = Some(vec![if is_if {
                    Node::If(branch)
                } else {
                    Node::With(branch)
                }]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Item2::End) {
                    return self.err("expected end; found {{else}}");
                }
                else_list = Some(list);
            }
        }
        self.vars.truncate(vars);
        self.depth -= 1;
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, token: &Item, context: &str) -> PResult<String> {
        match token.kind {
            Kind::String | Kind::RawString => self.unquote(&token.val),
            _ => self.unexpected(token, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, Kind::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        self.enter()?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let listed = self.item_list();
        self.vars = saved;
        self.range_depth = saved_range;
        let (list, end) = listed?;
        if !matches!(end, Item2::End) {
            return self.err(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.depth -= 1;
        self.add_definition(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decls: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let mark = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decls.push(v.val.clone());
                    self.vars.push(v.val);
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decls.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decls.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => self.idx = mark,
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.kind {
                k if k == end => {
                    if pipe.cmds.is_empty() {
                        return self.err(format!("missing value for {context}"));
                    }
                    for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
                        if cmd.args.first().is_some_and(Arg::is_literal) {
                            return self.err(format!(
                                "non executable command in pipeline stage {}",
                                i + 1
                            ));
                        }
                    }
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command {
            pos: self.peek_non_space().pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next().val;
            fields.push(f.trim_start_matches('.').to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number { .. } | Arg::Nil(_) | Arg::Dot(_) => {
                return self.err(format!(
                    "unexpected . after term {}",
                    super::printf::go_quote(&node.to_string())
                ))
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => {
                if !(self.is_func)(&token.val) {
                    return self.err(format!(
                        "function {} not defined",
                        super::printf::go_quote(&token.val)
                    ));
                }
                Arg::Ident {
                    pos,
                    name: token.val,
                }
            }
            Kind::Dot => Arg::Dot(pos),
            Kind::Nil => Arg::Nil(pos),
            Kind::Variable => {
                let idents: Vec<String> = token.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return self.err(format!(
                        "undefined variable {}",
                        super::printf::go_quote(&idents[0])
                    ));
                }
                Arg::Variable { pos, idents }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![token.val.trim_start_matches('.').to_string()],
            },
            Kind::Bool => Arg::Bool(pos, token.val == "true"),
            Kind::Number | Kind::CharConstant => {
                let num = self.number(&token)?;
                Arg::Number {
                    pos,
                    text: token.val,
                    num,
                }
            }
            Kind::Complex => return self.err("complex numbers are not supported"),
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe))
            }
            Kind::String | Kind::RawString => {
                let text = self.unquote(&token.val)?;
                Arg::Str {
                    pos,
                    quoted: token.val,
                    text,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn number(&self, token: &Item) -> PResult<Number> {
        if token.kind == Kind::CharConstant {
            let text = self.unquote(&token.val)?;
            let mut chars = text.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return self.err(format!("malformed character constant: {}", token.val));
            };
            return Ok(Number {
                int: Some(c as i64),
                float: Some(c as u32 as f64),
                is_char: true,
            });
        }
        let text = token.val.as_str();
        let int = parse_go_int(text);
        let mut num = Number {
            int,
            float: int.map(|i| i as f64),
            is_char: false,
        };
        if num.int.is_none() {
            if let Some(f) = parse_go_float(text) {
                if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                    return self.err(format!(
                        "integer overflow: {}",
                        super::printf::go_quote(text)
                    ));
                }
                num.float = Some(f);
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    num.int = Some(f as i64);
                }
            } else {
                return self.err(format!(
                    "illegal number syntax: {}",
                    super::printf::go_quote(text)
                ));
            }
        }
        Ok(num)
    }

    fn unquote(&self, quoted: &str) -> PResult<String> {
        unquote(quoted).map_or_else(|| self.err("invalid syntax"), Ok)
    }
}

/// `strconv.ParseInt(text, 0, 64)`: optional sign, 0x/0o/0b/0 prefixes, `_`.
fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    // Go allows `_` only between digits (or right after a prefix).
    if digits.starts_with('_') && !prefixed || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((-(magnitude as i128)) as i64)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `strconv.ParseFloat` for the decimal forms a template can hold.
pub(crate) fn parse_go_float(text: &str) -> Option<f64> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    clean.parse::<f64>().ok()
}

/// `strconv.Unquote` for "..." (with Go escapes), `...` and '.'.
pub(crate) fn unquote(quoted: &str) -> Option<String> {
    let first = quoted.chars().next()?;
    if quoted.len() < 2 || !quoted.ends_with(first) {
        return None;
    }
    let body = &quoted[1..quoted.len() - 1];
    match first {
        '`' => (!body.contains('`')).then(|| body.replace('\r', "")),
        '"' | '\'' => {
            let mut out = Vec::<u8>::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c == first || c == '\n' {
                    return None;
                }
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let esc = chars.next()?;
                let simple = match esc {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    '\'' | '"' if esc == first => Some(esc as u8),
                    _ => None,
                };
                if let Some(b) = simple {
                    out.push(b);
                    continue;
                }
                let (count, radix) = match esc {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => (2, 8),
                    _ => return None,
                };
                let mut digits = String::new();
                if radix == 8 {
                    digits.push(esc);
                }
                for _ in 0..count {
                    digits.push(chars.next()?);
                }
                let v = u32::from_str_radix(&digits, radix).ok()?;
                if esc == 'x' || radix == 8 {
                    if v > 255 {
                        return None;
                    }
                    out.push(v as u8);
                } else {
                    let c = char::from_u32(v)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            let s = String::from_utf8(out).ok()?;
            if first == '\'' && s.chars().count() != 1 {
                return None;
            }
            Some(s)
        }
        _ => None,
    }
}
