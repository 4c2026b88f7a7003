//! Prometheus' number, duration, time and host helpers (`humanize*`,
//! `toTime`, `parseDuration`, `stripPort`, `stripDomain`), ported from
//! `template/template.go` and `prometheus/common/helpers/templates`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::printf::format_float;
use super::value::Value;

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`: the
/// shortest digits, exponent form below 1e-4 or from 1e6 up), which is how
/// `{{ $value }}` prints.
pub fn go_float(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// Go's `%.4g`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// Prometheus' `convertToFloat`: numbers and numeric strings.
pub(crate) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `strconv.ParseFloat(s, 64)` with Go's error texts.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            super::printf::go_quote(s)
        )
    };
    // Rust accepts a few spellings Go does not (and the reverse for hex
    // floats); the common decimal forms agree.
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(syntax());
    }
    let v: f64 = s.replace('_', "").parse().map_err(|_| syntax())?;
    if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            super::printf::go_quote(s)
        ));
    }
    Ok(v)
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub(crate) fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// `HumanizeDuration` from prometheus/common: `1d 2h 3m 4s`, or
/// sub-second SI units.
pub(crate) fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        // Go's int64(v) saturates differently; clamp so huge values stay sane.
        let duration = v.min(i64::MAX as f64) as i64;
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

pub(crate) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// `floatToTime`: seconds to a UTC time, truncated to milliseconds as
/// `model.TimeFromUnixNano(...).Time()` does.
pub(crate) fn float_to_time(v: f64) -> Result<DateTime<Utc>, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let nanos = v * 1e9;
    if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_float(v)
        ));
    }
    let millis = (nanos as i64) / 1_000_000;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| format!("{} is out of range", go_float(v)))
}

pub(crate) fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    float_to_time(v).map(|t| super::value::go_time(&t))
}

/// `model.ParseDuration`, in seconds.
pub(crate) fn parse_duration(s: &str) -> Result<f64, String> {
    match s {
        "0" => return Ok(0.0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || {
        format!(
            "not a valid duration string: {}",
            super::printf::go_quote(s)
        )
    };
    let units: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = units.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                super::printf::go_quote(unit),
                super::printf::go_quote(s)
            ));
        };
        if pos < last_unit {
            return Err(invalid());
        }
        last_unit = pos + 1;
        let mult = units[pos].1;
        if n > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(n * mult);
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as f64 / 1e9)
}

/// `net.SplitHostPort`.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

pub(crate) fn strip_port(hostport: &str) -> String {
    split_host_port(hostport)
        .map_or(hostport, |(h, _)| h)
        .to_string()
}

pub(crate) fn strip_domain(hostport: &str) -> String {
    let (host, port) = split_host_port(hostport).unwrap_or((hostport, ""));
    if host.parse::<IpAddr>().is_ok() {
        return hostport.to_string();
    }
    let host = host.split('.').next().unwrap_or_default();
    if port.is_empty() {
        return host.to_string();
    }
    // `net.JoinHostPort` brackets hosts holding a colon.
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The path of the external URL (`externalURL.Path`), what `pathPrefix`
/// returns.
pub(crate) fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = after_scheme.find('/');
    let Some(start) = path_start else {
        return String::new();
    };
    let path = &after_scheme[start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    percent_decode(&path[..end])
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first cased
/// letter after a word break is title-cased; the rest is left alone.
pub(crate) fn title(s: &str) -> String {
    let is_mid = |c: char| {
        matches!(
            c,
            '\'' | '.'
                | ':'
                | '·'
                | '\u{2019}'
                | '\u{2018}'
                | '\u{2027}'
                | '\u{FE13}'
                | '\u{FE52}'
                | '\u{FE55}'
                | '\u{FF07}'
                | '\u{FF0E}'
                | '\u{FF1A}'
        )
    };
    let is_break = |c: char| !(c.is_alphanumeric() || c == '_' || is_mid(c));
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let mut prev_mid = false;
    for c in s.chars() {
        if prev_mid && is_mid(c) {
            mid_word = false;
        }
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if !mid_word {
                out.extend(c.to_uppercase());
                mid_word = true;
            } else {
                out.push(c);
            }
        } else {
            out.push(c);
            if is_break(c) {
                mid_word = false;
            }
        }
        prev_mid = is_mid(c);
    }
    out
}

/// `strings.ToUpper`/`ToLower` map rune by rune (no `ß` → `SS`).
pub(crate) fn map_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut mapped = if upper {
                c.to_uppercase().collect::<Vec<_>>()
            } else {
                c.to_lowercase().collect()
            };
            if mapped.len() == 1 {
                mapped.pop().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}
