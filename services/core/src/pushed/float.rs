//! Sample values as Prometheus' JSON APIs write them: a string, so NaN and
//! the infinities survive JSON (`"NaN"`, `"+Inf"`, `"-Inf"`), and
//! [`go_format`] for the Pushgateway API, which prints floats as Go's `%v`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `f64` that travels as a string in JSON. Equal when the numbers
/// are, or both are NaN: a pushed NaN read back is the same value.
#[derive(Debug, Clone, Copy)]
pub struct PromFloat(pub f64);

impl PartialEq for PromFloat {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || (self.0.is_nan() && other.0.is_nan())
    }
}

impl Serialize for PromFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&prom_format(self.0))
    }
}

impl<'de> Deserialize<'de> for PromFloat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_float(&text)
            .map(PromFloat)
            .ok_or_else(|| serde::de::Error::custom(format!("not a float: {text:?}")))
    }
}

/// Prometheus' spelling: shortest round-trip digits, `NaN`, `+Inf`, `-Inf`.
pub fn prom_format(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Parses a float as Go's `strconv.ParseFloat` does for the spellings
/// exposition formats use: decimal and exponent forms, `NaN`, `Inf`,
/// `+Inf`, `-Inf` (case-insensitive, `Infinity` too).
pub fn parse_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let (sign, rest) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    match rest {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust accepts "inf"/"nan" spellings too, all handled above; refuse
    // anything else that is not plain digits, '.', exponent.
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-' | b'_'))
        || rest.contains('_')
    {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Go's `fmt.Sprint(float64)`: `%g` with the shortest digits, exponent
/// form when the exponent is below -4 or at least 6 — as the Pushgateway
/// writes values in `GET /api/v1/metrics`.
pub fn go_format(v: f64) -> String {
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
    // `{:e}` gives the shortest round-trip digits: "1.2345e6".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_format_matches_fmt_sprint() {
        // Expected strings are what Go 1.21 prints for fmt.Sprint(x).
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (123456789.0, "1.23456789e+08"),
            (1e21, "1e+21"),
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (12345.678, "12345.678"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1733500000.25, "1.73350000025e+09"),
            (-2.5, "-2.5"),
        ];
        for (v, want) in cases {
            assert_eq!(go_format(v), want, "{v}");
        }
    }

    #[test]
    fn parse_float_takes_go_spellings_only() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1.5e3"), Some(1500.0));
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_float(""), None);
        assert_eq!(parse_float("1_000"), None);
    }
}
