//! The series notation of promqltest: `name{l="v"} 1 2+3x4 _ stale`.

use crate::labels::{Labels, METRIC_NAME};

/// One entry of an expanded value sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeqValue {
    Value(f64),
    Omitted,
    Stale,
}

/// Parses a Prometheus duration like `5m`, `1h30m`, `10s53ms` or `0` into ms.
pub(crate) fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    if bytes.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: i64 = body[start..i]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms = match &body[unit_start..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(format!("invalid duration {s:?}: unknown unit")),
        };
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} out of range"))?;
    }
    Ok(if negative { -total } else { total })
}

/// Parses a float the way the test files write them (`Inf`, `-Inf`, `NaN`,
/// `1e3`, and `0x1f` for expected scalars).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    parse_decimal(s)
}

/// A float without hex notation: in value sequences `0x5` means "0 six times".
fn parse_decimal(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Splits `name{labels} values...` into its labels and the rest of the line.
pub fn parse_series_desc(line: &str) -> Result<(Labels, &str), String> {
    let s = line.trim_start();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
    {
        i += 1;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if i > 0 {
        pairs.push((METRIC_NAME.to_string(), s[..i].to_string()));
    }
    if i < bytes.len() && bytes[i] == b'{' {
        i += 1;
        loop {
            i = skip_ws(s, i);
            match bytes.get(i) {
                None => return Err(format!("unterminated label set in {line:?}")),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                Some(b',') => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let (name, quoted, next) = if matches!(bytes[i], b'"' | b'\'' | b'`') {
                let (v, n) = parse_quoted(s, i)?;
                (v, true, n)
            } else {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected character in label set of {line:?}"));
                }
                (s[start..i].to_string(), false, i)
            };
            i = skip_ws(s, next);
            if bytes.get(i) == Some(&b'=') {
                i = skip_ws(s, i + 1);
                if !matches!(bytes.get(i), Some(b'"' | b'\'' | b'`')) {
                    return Err(format!("expected quoted label value in {line:?}"));
                }
                let (value, n) = parse_quoted(s, i)?;
                pairs.push((name, value));
                i = n;
            } else if quoted {
                // A lone quoted string is the metric name (UTF-8 syntax).
                pairs.push((METRIC_NAME.to_string(), name));
            } else {
                return Err(format!("expected '=' after label name in {line:?}"));
            }
        }
    } else if i == 0 {
        return Err(format!("expected a series in {line:?}"));
    }
    Ok((Labels::from_pairs(pairs), &s[i..]))
}

fn skip_ws(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while i < b.len() && (b[i] as char).is_whitespace() {
        i += 1;
    }
    i
}

/// A Go string literal starting at `start`; returns its value and the index
/// after the closing quote.
fn parse_quoted(s: &str, start: usize) -> Result<(String, usize), String> {
    let b = s.as_bytes();
    let quote = b[start];
    let mut out: Vec<u8> = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        let c = b[i];
        if c == quote {
            return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1));
        }
        if c == b'\\' && quote != b'`' {
            let e = *b.get(i + 1).ok_or("unterminated escape")?;
            i += 2;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'x' => {
                    let hex = s.get(i..i + 2).ok_or("bad \\x escape")?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad \\x escape")?);
                    i += 2;
                }
                b'u' | b'U' => {
                    let n = if e == b'u' { 4 } else { 8 };
                    let hex = s.get(i..i + n).ok_or("bad unicode escape")?;
                    let cp = u32::from_str_radix(hex, 16).map_err(|_| "bad unicode escape")?;
                    let ch = char::from_u32(cp).ok_or("bad unicode escape")?;
                    out.extend_from_slice(ch.to_string().as_bytes());
                    i += n;
                }
                b'0'..=b'7' => {
                    let oct = s.get(i - 1..i + 2).ok_or("bad octal escape")?;
                    out.push(u8::from_str_radix(oct, 8).map_err(|_| "bad octal escape")?);
                    i += 2;
                }
                other => out.push(other),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Err(format!("unterminated string in {s:?}"))
}

/// Replaces each native histogram `{{...}}` (optionally `xN`) by a `_h`
/// token, so the float samples around it keep their positions.
fn mask_histograms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            // Unterminated: keep the text, parsing it will report the error.
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str("_h");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Expands `1 2+3x4 _ _x2 stale` into values. Native histogram samples
/// become [`SeqValue::Omitted`]: this engine stores floats only.
pub fn parse_values(text: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let masked = mask_histograms(text);
    for token in masked.split_whitespace() {
        if token == "_" || token == "_h" {
            out.push(SeqValue::Omitted);
            continue;
        }
        // `{{...}}xN` and `{{...}}+{{...}}xN` both expand to N+1 samples.
        if let Some((_, n)) = token.strip_prefix("_h").and_then(|t| t.rsplit_once('x')) {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {token:?}"))?;
            out.extend(std::iter::repeat_n(SeqValue::Omitted, n + 1));
            continue;
        }
        if token == "stale" {
            out.push(SeqValue::Stale);
            continue;
        }
        if let Some(n) = token.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {token:?}"))?;
            out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
            continue;
        }
        if let Some(v) = parse_decimal(token) {
            out.push(SeqValue::Value(v));
            continue;
        }
        let (head, times) = token
            .rsplit_once('x')
            .ok_or_else(|| format!("bad value {token:?}"))?;
        let times: u64 = times.parse().map_err(|_| format!("bad value {token:?}"))?;
        let (mut value, delta) =
            split_start_delta(head).ok_or_else(|| format!("bad value {token:?}"))?;
        for _ in 0..=times {
            out.push(SeqValue::Value(value));
            // Repeated addition, as Prometheus does, for identical rounding.
            value += delta;
        }
    }
    Ok(out)
}

/// `a+b`, `a-b` or `a` (delta 0).
fn split_start_delta(s: &str) -> Option<(f64, f64)> {
    if let Some(v) = parse_decimal(s) {
        return Some((v, 0.0));
    }
    let b = s.as_bytes();
    for i in 1..b.len() {
        if (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1], b'e' | b'E') {
            let start = parse_decimal(&s[..i])?;
            let delta = parse_decimal(&s[i..])?;
            return Some((start, delta));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation_produces_n_plus_one_values() {
        let v = parse_values("1 2+3x2 _ stale 0x2 -1-1x1 _x2").unwrap();
        use SeqValue::*;
        assert_eq!(
            v,
            vec![
                Value(1.0),
                Value(2.0),
                Value(5.0),
                Value(8.0),
                Omitted,
                Stale,
                Value(0.0),
                Value(0.0),
                Value(0.0),
                Value(-1.0),
                Value(-2.0),
                Omitted,
                Omitted
            ]
        );
    }

    #[test]
    fn series_descriptors_parse_names_and_quoted_values() {
        let (l, rest) = parse_series_desc(r#"http_requests{job="api", path="/a\"b"} 1 2"#).unwrap();
        assert_eq!(l.get("__name__"), Some("http_requests"));
        assert_eq!(l.get("path"), Some("/a\"b"));
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_series_desc("{} 1").unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn durations_combine_units() {
        assert_eq!(parse_duration_ms("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
    }
}
