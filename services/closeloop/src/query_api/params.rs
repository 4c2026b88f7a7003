//! Request parameters as Prometheus' HTTP API reads them: from the URL
//! query and, for POST, an `application/x-www-form-urlencoded` body
//! (Go's `r.FormValue`, body values first); times as RFC 3339 or unix
//! seconds with a fraction, steps as a duration (`15s`, `1m30s`) or float
//! seconds; errors worded as Prometheus words them.

use chrono::DateTime;
use closeloop_core::duration::parse_duration;

/// Every `name=value` pair of the request, body pairs first.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(url_query: Option<&str>, form_body: &[u8]) -> Result<Params, String> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form_body)
            .map_err(|e| format!("error parsing form values: {e}"))?;
        if let Some(query) = url_query {
            let from_url: Vec<(String, String)> = serde_urlencoded::from_str(query)
                .map_err(|e| format!("error parsing form values: {e}"))?;
            pairs.extend(from_url);
        }
        Ok(Params { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`match[]`).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A time parameter; `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => parse_time(text).ok_or_else(|| {
                format!(
                    "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
                )
            }),
        }
    }

    pub fn required_time(&self, name: &str) -> Result<i64, String> {
        match self.get(name) {
            None | Some("") => Err(format!(
                "invalid parameter \"{name}\": cannot parse \"\" to a valid timestamp"
            )),
            Some(_) => self.time(name, 0),
        }
    }

    /// A duration parameter in milliseconds.
    pub fn duration(&self, name: &str) -> Result<i64, String> {
        let text = self.get(name).unwrap_or_default();
        parse_step(text).ok_or_else(|| {
            format!("invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration")
        })
    }
}

/// RFC 3339 or unix seconds (`1700000000`, `1700000000.123`), in ms.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return None;
        }
        return Some((seconds * 1000.0).round() as i64);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Float seconds or a Prometheus duration, in ms.
pub fn parse_step(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return None;
        }
        return Some((seconds * 1000.0).round() as i64);
    }
    parse_duration(text).ok().map(|d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps_in_prometheus_spellings() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.25"), Some(1_700_000_000_250));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_step("15"), Some(15_000));
        assert_eq!(parse_step("0.5"), Some(500));
        assert_eq!(parse_step("1m30s"), Some(90_000));
        assert_eq!(parse_step("x"), None);
    }

    #[test]
    fn body_and_url_values_merge_body_first() {
        let p = Params::parse(Some("query=up&match[]=b"), b"query=down&match%5B%5D=a").unwrap();
        assert_eq!(p.get("query"), Some("down"));
        assert_eq!(p.all("match[]"), ["a", "b"]);
        let err = p.time("query", 0).unwrap_err();
        assert_eq!(
            err,
            "invalid parameter \"query\": cannot parse \"down\" to a valid timestamp"
        );
    }
}
