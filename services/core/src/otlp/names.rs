//! OTLP → Prometheus names, as Prometheus 3's OTLP receiver does by
//! default (`translation_strategy: UnderscoreEscapingWithSuffixes`): the
//! name is split on every character that is not an ASCII letter or digit
//! and joined with `_` (so runs of separators collapse), the unit becomes
//! a suffix (`s` → `_seconds`, `By` → `_bytes`, `foo/s` → `_foo_per_second`,
//! `{annotations}` dropped), a gauge of unit `1` gets `_ratio`, and a
//! monotonic cumulative sum gets `_total`; no suffix is added twice.

/// What the metric becomes in Prometheus, for its suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Counter,
    /// Histograms and summaries: unit suffix only.
    Other,
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// A unit word Prometheus does not know is kept, cleaned to name characters.
fn unit_word(unit: &str, known: fn(&str) -> Option<&'static str>) -> String {
    if let Some(word) = known(unit) {
        return word.to_string();
    }
    unit.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Removes `{...}` annotations (`{requests}`, `{packets}/s`).
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The Prometheus metric name of an OTLP metric (empty if nothing of the
/// name is left).
pub fn metric_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return String::new();
    }
    let unit = strip_annotations(unit);
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main.trim(), per.trim()),
        None => (unit.as_str(), ""),
    };
    if !main.is_empty() && main != "1" {
        let word = unit_word(main, main_unit);
        if !word.is_empty() && !tokens.contains(&word) {
            tokens.push(word);
        }
    }
    if !per.is_empty() {
        let word = unit_word(per, per_unit);
        if !word.is_empty() && !tokens.contains(&word) {
            tokens.push("per".to_string());
            tokens.push(word);
        }
    }
    match kind {
        MetricKind::Counter if !tokens.iter().any(|t| t == "total") => {
            tokens.push("total".to_string())
        }
        MetricKind::Gauge if unit == "1" && !tokens.iter().any(|t| t == "ratio") => {
            tokens.push("ratio".to_string())
        }
        _ => {}
    }
    let joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// The Prometheus label name of an OTLP attribute key: every character
/// other than an ASCII letter, digit or `_` becomes `_`; a leading digit
/// gets `key_` before it and a single leading `_` gets `key` (names
/// starting with `__` are Prometheus' own and stay as they are).
pub fn label_name(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}
