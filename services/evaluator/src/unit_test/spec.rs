//! The unit-test file format of `promtool test rules`, read strictly (an
//! unknown field fails the file, as promtool's `UnmarshalStrict` does), and
//! the resolution of its `rule_files` globs relative to the file.

use super::UnitTestError;
use closeloop_core::duration::parse_duration;
use closeloop_core::LabelSet;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestFile {
    #[serde(default)]
    pub rule_files: Vec<String>,
    #[serde(default, deserialize_with = "duration_ms")]
    pub evaluation_interval: i64,
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    #[serde(default)]
    pub tests: Vec<TestGroup>,
    /// Prometheus 3.x: compare sample values with a small tolerance.
    #[serde(default)]
    pub fuzzy_compare: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestGroup {
    #[serde(default, deserialize_with = "duration_ms")]
    pub interval: i64,
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    pub promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub external_labels: LabelSet,
    #[serde(default, deserialize_with = "scalar_string")]
    pub external_url: String,
    #[serde(default, deserialize_with = "scalar_string")]
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputSeries {
    #[serde(default, deserialize_with = "scalar_string")]
    pub series: String,
    #[serde(default, deserialize_with = "scalar_string")]
    pub values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertTestCase {
    #[serde(default, deserialize_with = "duration_ms")]
    pub eval_time: i64,
    #[serde(default, deserialize_with = "scalar_string")]
    pub alertname: String,
    #[serde(default)]
    pub exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedAlert {
    #[serde(default, deserialize_with = "scalar_map")]
    pub exp_labels: LabelSet,
    #[serde(default, deserialize_with = "scalar_map")]
    pub exp_annotations: LabelSet,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromqlTestCase {
    #[serde(default, deserialize_with = "scalar_string")]
    pub expr: String,
    #[serde(default, deserialize_with = "duration_ms")]
    pub eval_time: i64,
    #[serde(default)]
    pub exp_samples: Vec<ExpectedSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedSample {
    #[serde(default, deserialize_with = "scalar_string")]
    pub labels: String,
    #[serde(default)]
    pub value: f64,
}

/// Parses the file's text. A file with no content is an empty test file.
pub(crate) fn parse(text: &str, file: &str) -> Result<TestFile, UnitTestError> {
    // Go's YAML decoder refuses a mapping with a key written twice; serde
    // would let the last one win silently, so look at the raw tree first.
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        return Err(UnitTestError::Yaml {
            file: file.to_string(),
            message: e.to_string(),
        });
    }
    let text = &quote_plain_values(text);
    if text.trim().is_empty() {
        return Ok(TestFile {
            rule_files: Vec::new(),
            evaluation_interval: 0,
            group_eval_order: Vec::new(),
            tests: Vec::new(),
            fuzzy_compare: false,
        });
    }
    serde_yaml::from_str(text).map_err(|e| UnitTestError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    })
}

/// Wraps a plain `values: ...` scalar in quotes. Go's YAML decoder hands a
/// string field the scalar's text as written, so `values: 0x10` means "0
/// eleven times"; serde would first read it as the number 16. Only the
/// block form `values: <text>` on one line is rewritten; line numbers stay.
fn quote_plain_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        let mut key_start = indent;
        if body[indent..].starts_with("- ") {
            key_start += 2 + body[indent + 2..].len() - body[indent + 2..].trim_start().len();
        }
        let Some(after_key) = body[key_start..].strip_prefix("values:") else {
            out.push_str(line);
            continue;
        };
        let value = after_key.trim_start();
        let plain = !value.is_empty()
            && !value.starts_with(['\'', '"', '|', '>', '&', '*', '!', '[', '{', '#']);
        if !plain || after_key.len() == value.len() {
            out.push_str(line);
            continue;
        }
        // A plain scalar ends at " #" (a comment) or the end of the line.
        let (scalar, comment) = match value.find(" #") {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, ""),
        };
        let prefix = &body[..body.len() - value.len()];
        out.push_str(prefix);
        out.push('\'');
        out.push_str(&scalar.trim_end().replace('\'', "''"));
        out.push('\'');
        out.push_str(comment);
        out.push_str(ending);
    }
    out
}

/// Joins relative `rule_files` entries to the test file's directory and
/// expands globs, keeping the order given. A pattern matching nothing is
/// reported as a warning, as promtool does, not as an error.
pub(crate) fn resolve_rule_files(
    base_dir: &Path,
    patterns: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, UnitTestError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let joined = if pattern.is_empty() || Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base_dir.join(pattern)
        };
        let text = joined.to_string_lossy().into_owned();
        let paths = glob::glob(&text).map_err(|e| UnitTestError::Glob {
            pattern: text.clone(),
            message: e.to_string(),
        })?;
        // Go's filepath.Glob returns matches in lexical order.
        let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        matched.sort();
        if matched.is_empty() {
            warnings.push(format!("  WARNING: no file match pattern {text}"));
        }
        files.extend(matched);
    }
    Ok(files)
}

/// A YAML scalar of any type read as text, as Go's YAML decoder does for
/// string fields (`values: 1` is the string "1").
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = serde_yaml::Value::deserialize(d)?;
    scalar_text(&value).ok_or_else(|| serde::de::Error::custom("expected a string"))
}

fn scalar_text(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::Null => Some(String::new()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<LabelSet, D::Error> {
    let value = serde_yaml::Value::deserialize(d)?;
    let mapping = match value {
        serde_yaml::Value::Null => return Ok(LabelSet::new()),
        serde_yaml::Value::Mapping(m) => m,
        _ => return Err(serde::de::Error::custom("expected a map of strings")),
    };
    mapping
        .iter()
        .map(|(k, v)| match (scalar_text(k), scalar_text(v)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(serde::de::Error::custom("expected a map of strings")),
        })
        .collect()
}

/// A Prometheus duration (`5m`, `1h30m`) in milliseconds.
fn duration_ms<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = scalar_string(d)?;
    if text.is_empty() {
        return Ok(0);
    }
    let duration = parse_duration(&text)
        .map_err(|_| serde::de::Error::custom(format!("not a valid duration string: {text:?}")))?;
    i64::try_from(duration.as_millis())
        .map_err(|_| serde::de::Error::custom(format!("duration {text:?} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_the_text_as_written() {
        let text = "tests:\n  - input_series:\n      - series: up\n        values: 0x10 # ten\n      - {series: x, values: '1'}\n      - values: 1e3\n        series: y\n";
        let doc = parse(text, "t.yml").expect("a valid test file");
        let series = &doc.tests[0].input_series;
        assert_eq!(series[0].values, "0x10");
        assert_eq!(series[1].values, "1");
        assert_eq!(series[2].values, "1e3");
    }
}
