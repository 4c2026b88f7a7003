//! Prometheus rule files, taken unchanged: `groups` of alerting and
//! recording rules. Loading parses every expression, so a bad file is
//! refused with the file, group and rule named.

use closeloop_core::duration::parse_duration;
use closeloop_core::LabelSet;
use promql_parser::parser::Expr;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFileDoc {
    #[serde(default)]
    groups: Vec<GroupDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    name: String,
    interval: Option<String>,
    query_offset: Option<String>,
    /// Prometheus reads an int; zero or less means no limit.
    #[serde(default)]
    limit: i64,
    #[serde(default)]
    labels: LabelSet,
    #[serde(default)]
    rules: Vec<RuleDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    alert: Option<String>,
    record: Option<String>,
    expr: ExprDoc,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: LabelSet,
    #[serde(default)]
    annotations: LabelSet,
}

/// `expr` may be written as a YAML number (`expr: 1`), as Prometheus allows.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExprDoc {
    Text(String),
    Number(f64),
    /// `expr: true` is the selector of a metric named `true`.
    Bool(bool),
}

#[derive(Debug, Clone)]
pub struct RuleGroup {
    pub name: String,
    pub file: String,
    /// Evaluation interval; `None` means the global default.
    pub interval: Option<Duration>,
    pub query_offset: Duration,
    pub limit: u64,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub name: String,
    pub expr_text: String,
    pub expr: Expr,
    pub hold: Duration,
    pub keep_firing_for: Duration,
    pub labels: LabelSet,
    pub annotations: LabelSet,
}

#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub name: String,
    pub expr_text: String,
    pub expr: Expr,
    pub labels: LabelSet,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: group {group:?}, rule {rule}: {message}")]
    Rule {
        file: String,
        group: String,
        rule: String,
        message: String,
    },
    #[error("{file}: group {group:?}: {message}")]
    Group {
        file: String,
        group: String,
        message: String,
    },
}

pub fn load_rule_file(path: &Path) -> Result<Vec<RuleGroup>, RuleFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RuleFileError::Read {
        file: file.clone(),
        source,
    })?;
    parse_rule_file(&text, &file)
}

/// Parses and checks a rule file's text; `file` is only used in messages.
pub fn parse_rule_file(text: &str, file: &str) -> Result<Vec<RuleGroup>, RuleFileError> {
    let yaml_err = |e: serde_yaml::Error| RuleFileError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    };
    // Go's YAML decoder refuses a key written twice in a mapping (two
    // `severity` labels); serde would keep the last silently, so the raw
    // tree is read first.
    serde_yaml::from_str::<serde_yaml::Value>(text).map_err(yaml_err)?;
    let doc: RuleFileDoc = serde_yaml::from_str(text).map_err(yaml_err)?;
    let mut seen_groups = std::collections::HashSet::new();
    let mut groups = Vec::with_capacity(doc.groups.len());
    for group in doc.groups {
        let group_err = |message: String| RuleFileError::Group {
            file: file.to_string(),
            group: group.name.clone(),
            message,
        };
        if group.name.is_empty() {
            return Err(group_err("group name must not be empty".into()));
        }
        if !seen_groups.insert(group.name.clone()) {
            return Err(group_err("groupname must be unique within a file".into()));
        }
        let interval = match &group.interval {
            Some(text) => Some(parse_duration(text).map_err(|e| group_err(e.to_string()))?),
            None => None,
        };
        // `interval: 0s` means the global interval, as in Prometheus.
        let interval = interval.filter(|d| !d.is_zero());
        let query_offset = match &group.query_offset {
            Some(text) => parse_duration(text).map_err(|e| group_err(e.to_string()))?,
            None => Duration::ZERO,
        };
        let mut rules = Vec::with_capacity(group.rules.len());
        for (index, rule) in group.rules.into_iter().enumerate() {
            rules.push(parse_rule(rule, index, file, &group.name, &group.labels)?);
        }
        groups.push(RuleGroup {
            name: group.name,
            file: file.to_string(),
            interval,
            query_offset,
            limit: group.limit.max(0) as u64,
            rules,
        });
    }
    Ok(groups)
}

fn parse_rule(
    rule: RuleDoc,
    index: usize,
    file: &str,
    group: &str,
    group_labels: &LabelSet,
) -> Result<Rule, RuleFileError> {
    let describe = rule
        .alert
        .as_deref()
        .or(rule.record.as_deref())
        .map(|n| format!("{} ({n})", index + 1))
        .unwrap_or_else(|| (index + 1).to_string());
    let err = |message: String| RuleFileError::Rule {
        file: file.to_string(),
        group: group.to_string(),
        rule: describe.clone(),
        message,
    };
    let expr_text = match rule.expr {
        ExprDoc::Text(text) => text,
        ExprDoc::Number(n) => n.to_string(),
        ExprDoc::Bool(b) => b.to_string(),
    };
    if expr_text.trim().is_empty() {
        return Err(err("field 'expr' must be set in rule".into()));
    }
    let expr = closeloop_promql::parse(&expr_text)
        .map_err(|e| err(format!("could not parse expression: {e}")))?;
    // Group labels apply to every rule; a rule's own labels win.
    let mut labels = group_labels.clone();
    labels.extend(rule.labels);
    for name in labels.keys() {
        if !is_valid_label_name(name) || name == "__name__" {
            return Err(err(format!("invalid label name: {name}")));
        }
    }
    for name in rule.annotations.keys() {
        if !is_valid_label_name(name) {
            return Err(err(format!("invalid annotation name: {name}")));
        }
    }
    let duration = |field: &str, text: &Option<String>| -> Result<Duration, RuleFileError> {
        match text {
            Some(t) => parse_duration(t).map_err(|e| err(format!("{field}: {e}"))),
            None => Ok(Duration::ZERO),
        }
    };
    match (rule.alert, rule.record) {
        (Some(_), Some(_)) => Err(err("only one of 'record' and 'alert' must be set".into())),
        (None, None) => Err(err("one of 'record' or 'alert' must be set".into())),
        (Some(name), None) => {
            if name.is_empty() {
                return Err(err("field 'alert' must not be empty".into()));
            }
            // promtool parses every label and annotation template of an
            // alerting rule; a syntax error makes the file invalid.
            for (kind, map) in [("label", &labels), ("annotation", &rule.annotations)] {
                for (key, text) in map.iter() {
                    crate::template::check(&name, text)
                        .map_err(|e| err(format!("{kind} {key:?}: {e}")))?;
                }
            }
            Ok(Rule::Alerting(AlertingRule {
                name,
                expr_text,
                expr,
                hold: duration("for", &rule.for_)?,
                keep_firing_for: duration("keep_firing_for", &rule.keep_firing_for)?,
                labels,
                annotations: rule.annotations,
            }))
        }
        (None, Some(name)) => {
            // Zero durations and an empty map are the defaults Prometheus
            // cannot tell from absent fields, so they pass.
            if !rule.annotations.is_empty() {
                return Err(err("invalid field 'annotations' in recording rule".into()));
            }
            if !duration("for", &rule.for_)?.is_zero() {
                return Err(err("invalid field 'for' in recording rule".into()));
            }
            if !duration("keep_firing_for", &rule.keep_firing_for)?.is_zero() {
                return Err(err(
                    "invalid field 'keep_firing_for' in recording rule".into()
                ));
            }
            if !is_valid_metric_name(&name) {
                return Err(err(format!("invalid recording rule name: {name}")));
            }
            Ok(Rule::Recording(RecordingRule {
                name,
                expr_text,
                expr,
                labels,
            }))
        }
    }
}

fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c == ':' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == ':' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prometheus_rule_file_loads_unchanged() {
        let text = r#"
groups:
  - name: checkout
    interval: 30s
    rules:
      - record: job:errors:rate5m
        expr: sum by (job) (rate(errors_total[5m]))
      - alert: HighErrorRate
        expr: job:errors:rate5m > 0.05
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations:
          summary: "errors at {{ $value }} for {{ $labels.job }}"
"#;
        let groups = parse_rule_file(text, "r.yml").unwrap();
        assert_eq!(groups[0].interval, Some(Duration::from_secs(30)));
        let Rule::Alerting(alert) = &groups[0].rules[1] else {
            panic!()
        };
        assert_eq!(alert.hold, Duration::from_secs(300));
        assert_eq!(alert.keep_firing_for, Duration::from_secs(60));
        assert_eq!(alert.labels["severity"], "page");
    }

    #[test]
    fn a_bad_expression_names_file_group_and_rule() {
        let text = "groups: [{name: g, rules: [{alert: A, expr: 'sum(x) by'}]}]";
        let err = parse_rule_file(text, "bad.yml").unwrap_err().to_string();
        assert!(
            err.starts_with("bad.yml: group \"g\", rule 1 (A): could not parse"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_duplicate_groups_are_refused() {
        assert!(parse_rule_file("groups: [{name: g, rulez: []}]", "f").is_err());
        assert!(parse_rule_file("groups: [{name: g}, {name: g}]", "f").is_err());
        assert!(parse_rule_file(
            "groups: [{name: g, rules: [{record: r, alert: a, expr: '1'}]}]",
            "f"
        )
        .is_err());
    }

    #[test]
    fn verdicts_follow_promtool_on_edge_cases() {
        let accepted = [
            "groups: [{name: g, interval: 0s, rules: [{alert: A, expr: '1'}]}]",
            "groups: [{name: g, limit: -1, rules: [{alert: A, expr: '1'}]}]",
            "groups: [{name: g, rules: [{record: r, expr: '1', for: 0s, annotations: {}}]}]",
            "groups: [{name: g, rules: [{alert: A, expr: true}]}]",
            "groups: [{name: g, rules: [{alert: A, expr: '1', for: 1h30m10s5ms}]}]",
        ];
        for text in accepted {
            assert!(parse_rule_file(text, "f").is_ok(), "{text}");
        }
        let refused = [
            "groups: [{name: g, rules: [{alert: A, expr: '1', labels: {__name__: x}}]}]",
            "groups: [{name: g, rules: [{alert: A, expr: '1', annotations: {a-b: x}}]}]",
            "groups: [{name: g, rules: [{alert: A, expr: '1', labels: {a: b, a: c}}]}]",
            "groups: [{name: g, rules: [{record: r, expr: '1', keep_firing_for: 1m}]}]",
        ];
        for text in refused {
            assert!(parse_rule_file(text, "f").is_err(), "{text}");
        }
    }

    #[test]
    fn a_template_syntax_error_names_the_annotation() {
        let text =
            "groups: [{name: g, rules: [{alert: A, expr: '1', annotations: {x: '{{ if }}'}}]}]";
        let err = parse_rule_file(text, "f").unwrap_err().to_string();
        assert!(
            err.contains("annotation \"x\": template: __alert_A:1: missing value for if"),
            "{err}"
        );
    }
}
