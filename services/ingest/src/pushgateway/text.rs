//! The Prometheus text exposition format 0.0.4 as the Pushgateway parses
//! it (Go's `expfmt.TextParser`, facts from its documentation and
//! behaviour): `# HELP` and `# TYPE` lines, other comments ignored,
//! samples `name{label="value",...} value [timestamp_ms]`; `_sum`,
//! `_count`, `{quantile}` and `_bucket{le}` samples fold into the summary
//! or histogram family declared before them; a family without samples is
//! dropped. Errors name the line, as `text format parsing error in line N:`.

use closeloop_core::pushed::float::{parse_float, PromFloat};
use closeloop_core::pushed::{
    valid_label_name, valid_metric_name, MetricKind, PushedFamily, PushedMetric, PushedValue,
};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text format parsing error in line {line}: {message}")]
pub struct TextError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole body; families in order of first appearance.
pub fn parse_text(body: &[u8]) -> Result<Vec<PushedFamily>, TextError> {
    let mut parser = Parser::default();
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let fail = |message: String| TextError { line, message };
        let text = std::str::from_utf8(raw).map_err(|_| fail("invalid UTF-8".into()))?;
        parser.line(text).map_err(fail)?;
    }
    Ok(parser.finish())
}

#[derive(Default)]
struct Parser {
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
}

struct Family {
    name: String,
    help: Option<String>,
    kind: Option<MetricKind>,
    metrics: Vec<PushedMetric>,
    /// Summary/histogram metric index by its labels (without quantile/le).
    compound: HashMap<BTreeMap<String, String>, usize>,
}

/// What a sample line contributes to a summary or histogram.
enum Part {
    Sum,
    Count,
    Quantile(f64),
    Bucket(f64),
}

impl Parser {
    fn line(&mut self, text: &str) -> Result<(), String> {
        let text = text.trim_start_matches([' ', '\t']);
        if text.is_empty() {
            return Ok(());
        }
        if let Some(comment) = text.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(text)
    }

    fn family(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        self.families.push(Family {
            name: name.to_string(),
            help: None,
            kind: None,
            metrics: Vec::new(),
            compound: HashMap::new(),
        });
        self.by_name
            .insert(name.to_string(), self.families.len() - 1);
        self.families.len() - 1
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let comment = comment.trim_start_matches([' ', '\t']);
        let (keyword, rest) = split_token(comment);
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        let (name, rest) = split_token(rest);
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name in comment: {name:?}"));
        }
        let index = self.family(name);
        let family = &mut self.families[index];
        if keyword == "HELP" {
            if family.help.is_some() {
                return Err(format!("second HELP line for metric name {name:?}"));
            }
            family.help = Some(unescape_help(rest.trim_start_matches([' ', '\t']))?);
            return Ok(());
        }
        if family.kind.is_some() {
            return Err(format!(
                "second TYPE line for metric name {name:?}, or TYPE reported after samples"
            ));
        }
        let (word, trailing) = split_token(rest);
        if !trailing.trim_matches([' ', '\t']).is_empty() {
            return Err(format!("unknown metric type {:?}", rest.trim_end()));
        }
        family.kind = Some(match word {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "untyped" => MetricKind::Untyped,
            "summary" => MetricKind::Summary,
            "histogram" => MetricKind::Histogram,
            other => return Err(format!("unknown metric type {other:?}")),
        });
        Ok(())
    }

    fn sample(&mut self, text: &str) -> Result<(), String> {
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        let name = &text[..name_end];
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name {:?}", first_token(text)));
        }
        let mut rest = text[name_end..].trim_start_matches([' ', '\t']);
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            rest = parse_labels(inner, name, &mut labels)?;
            rest = rest.trim_start_matches([' ', '\t']);
        } else if rest.len() == text.len() - name_end {
            // No blank and no '{' right after the name.
            if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
                return Err(format!("invalid metric name {:?}", first_token(text)));
            }
        }
        let (value_text, rest) = split_token(rest);
        if value_text.is_empty() {
            return Err(format!("expected float as value, got {value_text:?}"));
        }
        let value = parse_float(value_text)
            .ok_or(format!("expected float as value, got {value_text:?}"))?;
        let (timestamp_text, rest) = split_token(rest);
        let timestamp_ms =
            if timestamp_text.is_empty() {
                None
            } else {
                Some(timestamp_text.parse::<i64>().map_err(|_| {
                    format!("expected integer as timestamp, got {timestamp_text:?}")
                })?)
            };
        if !rest.trim_matches([' ', '\t']).is_empty() {
            return Err(format!(
                "spurious string after timestamp: {:?}",
                rest.trim()
            ));
        }
        self.add(name, labels, value, timestamp_ms)
    }

    /// The summary or histogram family `name` is a `_sum`/`_count`/
    /// `_bucket` sample of, with the suffix.
    fn compound_of(
        &self,
        name: &str,
        suffixes: &[&'static str],
        kind: MetricKind,
    ) -> Option<(usize, &'static str)> {
        suffixes.iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            let &i = self.by_name.get(base)?;
            (self.families[i].kind == Some(kind)).then_some((i, *suffix))
        })
    }

    /// Puts one sample into its family, as `setOrCreateCurrentMF` picks it.
    fn add(
        &mut self,
        name: &str,
        mut labels: BTreeMap<String, String>,
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> Result<(), String> {
        let exact = self.by_name.get(name).copied();
        let (index, part) = match exact {
            Some(i) => (i, None),
            None => match self
                .compound_of(name, &["_sum", "_count"], MetricKind::Summary)
                .or_else(|| {
                    self.compound_of(name, &["_sum", "_count", "_bucket"], MetricKind::Histogram)
                }) {
                Some((i, "_sum")) => (i, Some(Part::Sum)),
                Some((i, "_count")) => (i, Some(Part::Count)),
                Some((i, _)) => (i, None), // _bucket: `le` says which
                None => (self.family(name), None),
            },
        };
        let family = &mut self.families[index];
        let kind = *family.kind.get_or_insert(MetricKind::Untyped);
        let part = match (kind, part) {
            (_, Some(part)) => Some(part),
            (MetricKind::Summary, None) => {
                let q = labels
                    .remove("quantile")
                    .ok_or(format!("summary sample {name:?} has no quantile label"))?;
                let q = parse_float(&q).ok_or(format!(
                    "expected float as value for 'quantile' label, got {q:?}"
                ))?;
                Some(Part::Quantile(q))
            }
            (MetricKind::Histogram, None) => {
                if name == family.name {
                    return Err(format!(
                        "histogram sample {name:?} must be _bucket, _sum or _count"
                    ));
                }
                let le = labels
                    .remove("le")
                    .ok_or(format!("histogram bucket {name:?} has no le label"))?;
                let le = parse_float(&le).ok_or(format!(
                    "expected float as value for 'le' label, got {le:?}"
                ))?;
                Some(Part::Bucket(le))
            }
            (_, None) => None,
        };
        let Some(part) = part else {
            family.metrics.push(PushedMetric {
                labels,
                value: PushedValue::Value(PromFloat(value)),
                timestamp_ms,
            });
            return Ok(());
        };
        let slot = match family.compound.get(&labels) {
            Some(&slot) => slot,
            None => {
                let zero = PromFloat(0.0);
                let value = if kind == MetricKind::Summary {
                    PushedValue::Summary {
                        count: zero,
                        sum: zero,
                        quantiles: Vec::new(),
                    }
                } else {
                    PushedValue::Histogram {
                        count: zero,
                        sum: zero,
                        buckets: Vec::new(),
                    }
                };
                family.metrics.push(PushedMetric {
                    labels: labels.clone(),
                    value,
                    timestamp_ms,
                });
                family.compound.insert(labels, family.metrics.len() - 1);
                family.metrics.len() - 1
            }
        };
        let metric = &mut family.metrics[slot];
        if timestamp_ms.is_some() {
            metric.timestamp_ms = timestamp_ms;
        }
        match (&mut metric.value, part) {
            (PushedValue::Summary { sum, .. } | PushedValue::Histogram { sum, .. }, Part::Sum) => {
                *sum = PromFloat(value)
            }
            (
                PushedValue::Summary { count, .. } | PushedValue::Histogram { count, .. },
                Part::Count,
            ) => *count = PromFloat(value),
            (PushedValue::Summary { quantiles, .. }, Part::Quantile(q)) => {
                quantiles.push((PromFloat(q), PromFloat(value)))
            }
            (PushedValue::Histogram { buckets, .. }, Part::Bucket(le)) => {
                buckets.push((PromFloat(le), PromFloat(value)))
            }
            _ => unreachable!("parts follow the family's kind"),
        }
        Ok(())
    }

    fn finish(self) -> Vec<PushedFamily> {
        self.families
            .into_iter()
            .filter(|f| !f.metrics.is_empty())
            .map(|f| PushedFamily {
                name: f.name,
                help: f.help.unwrap_or_default(),
                kind: f.kind.unwrap_or(MetricKind::Untyped),
                metrics: f.metrics,
            })
            .collect()
    }
}

/// Parses `name="value", ...}`; returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    metric: &str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !valid_label_name(name) {
            return Err(format!("invalid label name for metric {metric:?}"));
        }
        if name == "__name__" {
            return Err(format!("label name {name:?} is reserved"));
        }
        rest = rest[end..].trim_start_matches([' ', '\t']);
        rest = rest.strip_prefix('=').ok_or(format!(
            "expected '=' after label name, found {:?}",
            first_char(rest)
        ))?;
        rest = rest.trim_start_matches([' ', '\t']);
        rest = rest.strip_prefix('"').ok_or(format!(
            "expected '\"' at start of label value, found {:?}",
            first_char(rest)
        ))?;
        let (value, after) = label_value(rest)?;
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("duplicate label names for metric {metric:?}"));
        }
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!(
                "unexpected end of label value {:?}",
                labels.get(name).map(String::as_str).unwrap_or_default()
            ));
        }
    }
}

/// Reads a label value up to its closing quote: `\\`, `\"`, `\n`.
fn label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => return Err(format!("invalid escape sequence '\\{other}'")),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(format!("unexpected end of label value {value:?}"))
}

/// A HELP docstring: `\\` and `\n` are the only escapes.
fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => return Err(format!("invalid escape sequence '\\{other}'")),
            None => out.push('\\'),
        }
    }
    Ok(out)
}

/// The next blank-separated token and what follows it (leading blanks
/// of the remainder kept off).
fn split_token(text: &str) -> (&str, &str) {
    let text = text.trim_start_matches([' ', '\t']);
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    let rest = &text[end..];
    (&text[..end], rest.strip_prefix([' ', '\t']).unwrap_or(rest))
}

fn first_token(text: &str) -> &str {
    split_token(text).0
}

fn first_char(text: &str) -> String {
    text.chars().next().map(String::from).unwrap_or_default()
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
