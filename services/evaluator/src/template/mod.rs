//! Expansion of alert labels and annotations: the subset of Prometheus'
//! Go-template language that most rule files use — `$labels.x`,
//! `.Labels.x`, `$value`, `.Value`, `$externalLabels.x`, `$externalURL`,
//! `printf`, and pipelines into `humanize`, `toUpper`, `toLower`, `title`.
//! The full language (if/range/with, query, ...) is a later widening.
//! As in Prometheus, a template that fails to expand yields the error text
//! instead of failing the rule.

use closeloop_core::LabelSet;

/// The data a template sees.
pub struct TemplateData<'a> {
    pub labels: &'a LabelSet,
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub value: f64,
}

pub fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> String {
    match try_expand(text, data) {
        Ok(out) => out,
        Err(e) => format!("<error expanding template: template: __alert_{name}: {e}>"),
    }
}

fn try_expand(text: &str, data: &TemplateData<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let mut literal = &rest[..open];
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or("unclosed action")?;
        let mut action = &after[..close];
        if let Some(stripped) = action.strip_prefix('-') {
            literal = literal.trim_end();
            action = stripped;
        }
        let trim_right = action.ends_with('-');
        if trim_right {
            action = &action[..action.len() - 1];
        }
        out.push_str(literal);
        out.push_str(&eval_pipeline(action.trim(), data)?);
        rest = &after[close + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}

enum Val {
    Text(String),
    Number(f64),
}

impl Val {
    fn into_text(self) -> String {
        match self {
            Val::Text(t) => t,
            Val::Number(n) => go_float(n),
        }
    }
}

fn eval_pipeline(action: &str, data: &TemplateData<'_>) -> Result<String, String> {
    if action.is_empty() || action.starts_with("/*") {
        return Ok(String::new());
    }
    let mut stages = action.split('|').map(str::trim);
    let first = stages.next().unwrap_or_default();
    let mut value = eval_command(first, data)?;
    for stage in stages {
        value = apply_function(stage, value)?;
    }
    Ok(value.into_text())
}

fn eval_command(command: &str, data: &TemplateData<'_>) -> Result<Val, String> {
    if let Some(args) = command.strip_prefix("printf ") {
        return printf(args.trim(), data);
    }
    eval_operand(command, data)
}

fn eval_operand(operand: &str, data: &TemplateData<'_>) -> Result<Val, String> {
    let label = |map: &LabelSet, name: &str| Val::Text(map.get(name).cloned().unwrap_or_default());
    if let Some(name) = operand
        .strip_prefix("$labels.")
        .or_else(|| operand.strip_prefix(".Labels."))
    {
        return Ok(label(data.labels, name));
    }
    if let Some(name) = operand
        .strip_prefix("$externalLabels.")
        .or_else(|| operand.strip_prefix(".ExternalLabels."))
    {
        return Ok(label(data.external_labels, name));
    }
    match operand {
        "$value" | ".Value" => Ok(Val::Number(data.value)),
        "$externalURL" | ".ExternalURL" => Ok(Val::Text(data.external_url.to_string())),
        _ if operand.starts_with('"') && operand.ends_with('"') && operand.len() >= 2 => {
            Ok(Val::Text(operand[1..operand.len() - 1].to_string()))
        }
        _ => operand
            .parse::<f64>()
            .map(Val::Number)
            .map_err(|_| format!("unsupported template action {operand:?}")),
    }
}

fn apply_function(name: &str, value: Val) -> Result<Val, String> {
    Ok(match name {
        "humanize" => Val::Text(humanize(as_number(value)?)),
        "toUpper" => Val::Text(value.into_text().to_uppercase()),
        "toLower" => Val::Text(value.into_text().to_lowercase()),
        "title" => Val::Text(title(&value.into_text())),
        other => return Err(format!("function {other:?} not supported yet")),
    })
}

fn as_number(value: Val) -> Result<f64, String> {
    match value {
        Val::Number(n) => Ok(n),
        Val::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| format!("{t:?} is not a number")),
    }
}

/// `printf "%.2f" $value`, with the verbs rule files use: %s %d %f %.Nf %g %v.
fn printf(args: &str, data: &TemplateData<'_>) -> Result<Val, String> {
    let end = args[1..].find('"').ok_or("printf needs a quoted format")? + 1;
    let format = &args[1..end];
    let operands: Vec<Val> = args[end + 1..]
        .split_whitespace()
        .map(|a| eval_operand(a, data))
        .collect::<Result<_, _>>()?;
    let mut operands = operands.into_iter();
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("printf format ends in %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let operand = operands.next().ok_or("printf has too few operands")?;
        let precision = spec
            .split_once('.')
            .and_then(|(_, p)| p.parse::<usize>().ok());
        out.push_str(&match verb {
            'f' => format!("{:.*}", precision.unwrap_or(6), as_number(operand)?),
            'd' => format!("{}", as_number(operand)?.trunc() as i64),
            'g' | 'v' => match operand {
                Val::Number(n) => go_float(n),
                text => text.into_text(),
            },
            's' | 'q' => operand.into_text(),
            other => return Err(format!("printf verb %{other} not supported yet")),
        });
    }
    Ok(Val::Text(out))
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`: the
/// shortest digits, exponent form below 1e-4 or from 1e6 up), which is how
/// `{{ $value }}` prints.
pub fn go_float(v: f64) -> String {
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
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format!("{:.4}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
    }
    let (mut value, mut prefix) = (v, "");
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if value.abs() < 1000.0 {
                break;
            }
            value /= 1000.0;
            prefix = p;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if value.abs() >= 1.0 {
                break;
            }
            value *= 1000.0;
            prefix = p;
        }
    }
    format!("{}{prefix}", format_g4(value))
}

/// Go's `%.4g`.
fn format_g4(v: f64) -> String {
    let exp = v.abs().log10().floor() as i32;
    if !(-4..4).contains(&exp) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - exp).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(labels: &LabelSet, value: f64) -> TemplateData<'_> {
        static EMPTY: LabelSet = LabelSet::new();
        TemplateData {
            labels,
            external_labels: &EMPTY,
            external_url: "http://x",
            value,
        }
    }

    #[test]
    fn labels_and_value_expand_as_in_prometheus() {
        let labels: LabelSet = [("job".to_string(), "api".to_string())].into();
        let d = data(&labels, 0.25);
        assert_eq!(
            expand("A", "{{ $labels.job }} at {{ $value }}", &d),
            "api at 0.25"
        );
        assert_eq!(expand("A", "{{.Labels.job}}/{{ .Value }}", &d), "api/0.25");
        assert_eq!(expand("A", "{{ printf \"%.1f\" $value }}%", &d), "0.2%");
        assert_eq!(expand("A", "{{ $labels.missing }}", &d), "");
    }

    #[test]
    fn go_float_formatting_matches_fmt_v() {
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1.5), "1.5");
    }

    #[test]
    fn humanize_uses_si_prefixes() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.005), "5m");
        assert_eq!(humanize(12.0), "12");
    }

    #[test]
    fn an_unknown_action_yields_the_error_text() {
        let labels = LabelSet::new();
        let out = expand("A", "{{ query \"up\" }}", &data(&labels, 1.0));
        assert!(out.starts_with("<error expanding template"), "{out}");
    }
}
