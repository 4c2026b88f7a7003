//! Go's `fmt` for template values: `printf` verbs, flags, width and
//! precision, `print`/`println` spacing, `%v` of maps and structs, and the
//! `%!d(string=x)` style complaints, with floats digit-for-digit as Go's
//! `strconv` writes them.

use super::value::{go_time, Value};

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        // Width, from the format or from an argument (`*`).
        if chars.peek().map(|p| p.1) == Some('*') {
            chars.next();
            match args.get(arg_num) {
                Some(Value::Int(w)) if w.unsigned_abs() <= 1_000_000 => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            spec.width = parse_num(&mut chars);
        }
        if chars.peek().map(|p| p.1) == Some('.') {
            chars.next();
            if chars.peek().map(|p| p.1) == Some('*') {
                chars.next();
                match args.get(arg_num) {
                    Some(Value::Int(p)) if (0..=1_000_000).contains(p) => {
                        spec.prec = Some(*p as usize)
                    }
                    Some(Value::Int(p)) if *p < 0 => spec.prec = None,
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                spec.prec = Some(parse_num(&mut chars).unwrap_or(0));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        if verb == 'v' {
            spec.sharp_v = spec.sharp;
            spec.sharp = false;
            spec.plus_v = spec.plus;
            spec.plus = false;
        }
        print_arg(&mut out, &spec, verb, arg);
        arg_num += 1;
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if matches!(arg, Value::Nil | Value::Missing) {
                out.push_str("<nil>");
            } else {
                out.push_str(arg.type_name());
                out.push('=');
                print_arg(&mut out, &Spec::default(), 'v', arg);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, d)) = chars.peek() {
        let Some(digit) = d.to_digit(10) else { break };
        // Go gives up on absurd widths; so do we, before allocating them.
        n = Some((n.unwrap_or(0) * 10 + digit as usize).min(1_000_000));
        chars.next();
    }
    n
}

/// `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.is_string_kind();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, &Spec::default(), 'v', arg);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: spaces between all operands and a final newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, &Spec::default(), 'v', arg);
    }
    out.push('\n');
    out
}

/// `%v` of one value.
pub(crate) fn fmt_v(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, &Spec::default(), 'v', v);
    out
}

fn print_arg(out: &mut String, spec: &Spec, verb: char, v: &Value) {
    if verb == 'T' {
        pad(out, spec, v.type_name());
        return;
    }
    match v {
        Value::Missing | Value::Nil | Value::NilSample => match verb {
            'v' => pad(out, spec, "<nil>"),
            _ if matches!(v, Value::NilSample) => bad_verb(out, spec, verb, v),
            _ => out.push_str(&format!("%!{verb}(<nil>)")),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, spec, if *b { "true" } else { "false" }),
            _ => bad_verb(out, spec, verb, v),
        },
        Value::Int(i) => fmt_integer(out, spec, verb, i.unsigned_abs(), *i < 0, v),
        Value::Byte(b) => fmt_integer(out, spec, verb, u64::from(*b), false, v),
        Value::Float(f) => match verb {
            'v' => fmt_float(out, spec, *f, 'g', -1),
            'g' | 'G' => fmt_float(out, spec, *f, verb, -1),
            'e' | 'E' | 'f' | 'F' => fmt_float(out, spec, *f, verb, 6),
            _ => bad_verb(out, spec, verb, v),
        },
        Value::Str(s) | Value::Html(s) => fmt_string(out, spec, verb, s, v),
        Value::Time(t) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, spec, verb, &go_time(t), v),
            _ => bad_verb(out, spec, verb, v),
        },
        Value::Labels(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, spec, verb, k, &Value::str(k));
                out.push(':');
                fmt_string(out, spec, verb, val, &Value::str(val));
            }
            out.push(']');
        }
        Value::Args(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, spec, verb, k, &Value::str(k));
                out.push(':');
                print_arg(out, spec, verb, val);
            }
            out.push(']');
        }
        Value::Samples(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                // Go prints element pointers as addresses; a stable
                // rendering of the sample is more useful and deterministic.
                print_arg(out, spec, verb, &Value::Sample(s.clone()));
            }
            out.push(']');
        }
        Value::Sample(s) => {
            out.push_str("&{");
            if spec.plus_v {
                out.push_str("Labels:");
            }
            print_arg(out, spec, verb, &Value::Labels(s.labels.clone().into()));
            out.push(' ');
            if spec.plus_v {
                out.push_str("Value:");
            }
            print_arg(out, spec, verb, &Value::Float(s.value));
            out.push('}');
        }
        Value::Root(r) => {
            let fields = [
                ("Labels", Value::Labels(r.labels.clone())),
                ("ExternalLabels", Value::Labels(r.external_labels.clone())),
                ("ExternalURL", Value::Str(r.external_url.clone())),
                ("Value", Value::Float(r.value)),
            ];
            out.push('{');
            for (i, (name, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if spec.plus_v {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, spec, verb, field);
            }
            out.push('}');
        }
    }
}

fn bad_verb(out: &mut String, spec: &Spec, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    out.push_str(v.type_name());
    out.push('=');
    let mut inner = *spec;
    inner.plus_v = false;
    print_arg(out, &inner, 'v', v);
    out.push(')');
}

fn pad(out: &mut String, spec: &Spec, s: &str) {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = if spec.zero { '0' } else { ' ' };
    let padding: String =
        std::iter::repeat_n(if spec.minus { ' ' } else { fill }, width - len).collect();
    if spec.minus {
        out.push_str(s);
        out.push_str(&padding);
    } else {
        out.push_str(&padding);
        out.push_str(s);
    }
}

fn fmt_string(out: &mut String, spec: &Spec, verb: char, s: &str, v: &Value) {
    let truncated: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        'v' if spec.sharp_v => pad(out, spec, &go_quote(&truncated)),
        'v' | 's' => pad(out, spec, &truncated),
        'q' => {
            let quoted = if spec.sharp
                && !truncated.contains(['`', '\r'])
                && truncated.chars().all(|c| c == '\t' || is_print(c))
            {
                format!("`{truncated}`")
            } else if spec.plus {
                quote_with(&truncated, true)
            } else {
                go_quote(&truncated)
            };
            pad(out, spec, &quoted);
        }
        'x' | 'X' => {
            let bytes = match spec.prec {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            let mut hex = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                hex.push_str(&if verb == 'x' {
                    format!("{b:02x}")
                } else {
                    format!("{b:02X}")
                });
            }
            pad(out, spec, &hex);
        }
        _ => bad_verb(out, spec, verb, v),
    }
}

fn fmt_integer(
    out: &mut String,
    spec: &Spec,
    verb: char,
    magnitude: u64,
    negative: bool,
    v: &Value,
) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = if negative {
                None
            } else {
                u32::try_from(magnitude).ok().and_then(char::from_u32)
            };
            pad(out, spec, &c.unwrap_or('\u{FFFD}').to_string());
            return;
        }
        'q' => {
            let c = if negative {
                None
            } else {
                u32::try_from(magnitude).ok().and_then(char::from_u32)
            };
            let c = c.unwrap_or('\u{FFFD}');
            let quoted = quote_rune(c, spec.plus);
            pad(out, spec, &quoted);
            return;
        }
        'U' => {
            let mut s = format!("U+{magnitude:04X}");
            if spec.sharp {
                if let Some(c) = u32::try_from(magnitude)
                    .ok()
                    .and_then(char::from_u32)
                    .filter(|c| is_print(*c))
                {
                    s.push_str(&format!(" '{c}'"));
                }
            }
            pad(out, spec, &s);
            return;
        }
        _ => return bad_verb(out, spec, verb, v),
    };
    let mut digits = match base {
        2 => format!("{magnitude:b}"),
        8 => format!("{magnitude:o}"),
        16 if upper => format!("{magnitude:X}"),
        16 => format!("{magnitude:x}"),
        _ => magnitude.to_string(),
    };
    let mut prec = 0;
    if let Some(p) = spec.prec {
        if p == 0 && magnitude == 0 {
            let mut s = *spec;
            s.zero = false;
            pad(out, &s, "");
            return;
        }
        prec = p;
    } else if spec.zero && spec.width.is_some() {
        prec = spec.width.unwrap_or(0);
        if negative || spec.plus || spec.space {
            prec = prec.saturating_sub(1);
        }
    }
    if digits.len() < prec {
        digits = "0".repeat(prec - digits.len()) + &digits;
    }
    if spec.sharp {
        match base {
            2 => digits.insert_str(0, "0b"),
            8 if !digits.starts_with('0') => digits.insert(0, '0'),
            16 => digits.insert_str(0, if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        digits.insert_str(0, "0o");
    }
    if negative {
        digits.insert(0, '-');
    } else if spec.plus {
        digits.insert(0, '+');
    } else if spec.space {
        digits.insert(0, ' ');
    }
    let mut s = *spec;
    s.zero = false;
    pad(out, &s, &digits);
}

fn fmt_float(out: &mut String, spec: &Spec, v: f64, verb: char, default_prec: i32) {
    let prec = spec.prec.map_or(default_prec, |p| p.min(10_000) as i32);
    let mut num = format_float(v, verb, prec);
    if !num.starts_with(['+', '-']) {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(0..1, " ");
    }
    if v.is_nan() || v.is_infinite() {
        let mut s = *spec;
        s.zero = false;
        if v.is_nan() && !spec.space && !spec.plus {
            num.remove(0);
        }
        pad(out, &s, &num);
        return;
    }
    if spec.plus || !num.starts_with('+') {
        let width = spec.width.unwrap_or(0);
        if spec.zero && width > num.len() {
            out.push_str(&num[..1]);
            out.push_str(&"0".repeat(width - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        pad(out, spec, &num);
        return;
    }
    pad(out, spec, &num[1..]);
}

/// Decimal digits (no trailing zeros) and the decimal point position, as
/// strconv's `decimalSlice`; `digits` of `None` asks for the shortest
/// digits that read back as `v`.
fn decimal_digits(a: f64, digits: Option<usize>) -> (Vec<u8>, i32) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match digits {
        Some(n) => format!("{:.*e}", n.saturating_sub(1), a),
        None => format!("{a:e}"),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e(neg: bool, d: &[u8], dp: i32, prec: usize, e: char) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(d.first().map_or('0', |c| *c as char));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(d.get(i).map_or('0', |c| *c as char));
        }
    }
    s.push(e);
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

fn fmt_f(neg: bool, d: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            s.push(d.get(i).map_or('0', |c| *c as char));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=prec as i32 {
            let j = dp + i - 1;
            s.push(if j >= 0 {
                d.get(j as usize).map_or('0', |c| *c as char)
            } else {
                '0'
            });
        }
    }
    s
}

/// `strconv.FormatFloat(v, verb, prec, 64)` for e, E, f, F, g, G.
pub(crate) fn format_float(v: f64, verb: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = v.is_sign_negative();
    let a = v.abs();
    let shortest = prec < 0;
    match verb {
        'f' | 'F' => {
            if shortest {
                let (d, dp) = decimal_digits(a, None);
                fmt_f(neg, &d, dp, (d.len() as i32 - dp).max(0) as usize)
            } else {
                let body = format!("{:.*}", prec as usize, a);
                if neg {
                    format!("-{body}")
                } else {
                    body
                }
            }
        }
        'e' | 'E' => {
            let (d, dp) = decimal_digits(
                a,
                if shortest {
                    None
                } else {
                    Some(prec as usize + 1)
                },
            );
            let p = if shortest {
                d.len().saturating_sub(1)
            } else {
                prec as usize
            };
            fmt_e(neg, &d, dp, p, verb)
        }
        _ => {
            let want = if shortest {
                None
            } else {
                Some(prec.max(1) as usize)
            };
            let (d, dp) = decimal_digits(a, want);
            let nd = d.len() as i32;
            let mut p = if shortest { nd } else { prec.max(1) };
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let e = if verb == 'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                return fmt_e(neg, &d, dp, (p - 1).max(0) as usize, e);
            }
            if p > dp {
                p = nd;
            }
            fmt_f(neg, &d, dp, (p - dp).max(0) as usize)
        }
    }
}

/// Go's `unicode.IsPrint`, closely enough for quoting: graphic characters
/// and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E000}'..='\u{F8FF}' | '\u{FFFE}' | '\u{FFFF}'))
}

/// `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    quote_with(s, false)
}

fn quote_with(s: &str, ascii_only: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if (!ascii_only || c.is_ascii()) && is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}
