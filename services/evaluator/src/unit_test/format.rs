//! How promtool prints what it compared, so a failure reads the same from
//! closeloop as from promtool: Go's `%E` floats, `time.Duration` and
//! `strconv.Quote`, and promtool's indented alert lists.

use closeloop_core::LabelSet;
use closeloop_promql::Labels;

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `3E-01`, `1.5E+00`, `NaN`.
pub(crate) fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's shortest round-trip digits are Go's `-1` precision digits.
    let text = format!("{v:E}");
    let (mantissa, exp) = text.split_once('E').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}E{sign}{:02}", exp.abs())
}

/// Go's `time.Duration.String()` for a whole number of milliseconds:
/// `5m0s`, `1h0m0s`, `1.5s`, `500ms`, `0s`.
pub(crate) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    let mut seconds_text = seconds.to_string();
    if millis > 0 {
        let fraction = format!("{millis:03}");
        seconds_text.push('.');
        seconds_text.push_str(fraction.trim_end_matches('0'));
    }
    let mut out = sign.to_string();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&seconds_text);
    out.push('s');
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prometheus' `labels.Labels.String()` of a label map: `{a="b", c="d"}`.
pub(crate) fn label_map(labels: &LabelSet) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A firing alert as promtool compares it: labels (with `alertname`) and
/// expanded annotations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AlertView {
    pub labels: LabelSet,
    pub annotations: LabelSet,
}

/// promtool's `labelsAndAnnotations.String()`, indented as in its message.
pub(crate) fn alert_list(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut text = String::from("[");
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let one = format!(
            "\nLabels:{}\nAnnotations:{}",
            label_map(&alert.labels),
            label_map(&alert.annotations)
        );
        text.push_str(&format!("\n{i}:{}", indent_lines(&one, "  ")));
    }
    text.push_str("\n]");
    indent_lines(&text, "            ")
}

/// Samples as promtool prints them: `{a="b"} 1E+00, ...`, or `nil`.
pub(crate) fn sample_list(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples
        .iter()
        .map(|(labels, value)| format!("{labels} {}", go_float_e(*value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// promtool's `indentLines`: every line but the first gets `indent`.
fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                line.to_string()
            } else {
                format!("{indent}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_percent_e() {
        assert_eq!(go_float_e(0.3), "3E-01");
        assert_eq!(go_float_e(0.1 + 0.2), "3.0000000000000004E-01");
        assert_eq!(go_float_e(3.0), "3E+00");
        assert_eq!(go_float_e(0.0), "0E+00");
        assert_eq!(go_float_e(1.5e300), "1.5E+300");
        assert_eq!(go_float_e(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn durations_print_as_go_time_duration() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(go_duration(3_723_000), "1h2m3s");
    }

    #[test]
    fn alert_lists_indent_like_promtool() {
        let alert = AlertView {
            labels: [("alertname".to_string(), "A".to_string())].into(),
            annotations: LabelSet::new(),
        };
        assert_eq!(
            alert_list(&[alert]),
            "[\n            0:\n              Labels:{alertname=\"A\"}\n              Annotations:{}\n            ]"
        );
        assert_eq!(alert_list(&[]), "[]");
    }
}
