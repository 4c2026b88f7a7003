//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus' JSON: rule groups
//! with each rule's health, last error, last evaluation and duration, and
//! the alerts alerting rules hold. Filters as Prometheus takes them:
//! `type=alert|record`, `rule_name[]`, `rule_group[]`, `file[]`. Times
//! are the evaluation's event time (so a replay reports the same ones);
//! a rule not yet evaluated says `health: unknown` and Go's zero time.

use super::params::Params;
use chrono::{DateTime, SecondsFormat};
use closeloop_core::pushed::float::prom_format;
use closeloop_evaluator::rule_status::{AlertStatus, GroupStatus, RuleStatus};
use serde_json::{json, Map, Value};

/// Go's zero `time.Time`, which Prometheus shows for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Which rules a `/api/v1/rules` request asks for.
pub struct RuleFilter {
    kind: Option<&'static str>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
}

impl RuleFilter {
    pub fn parse(p: &Params) -> Result<RuleFilter, String> {
        let kind = match p
            .get("type")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" => None,
            "alert" => Some("alerting"),
            "record" => Some("recording"),
            other => {
                return Err(format!(
                    "unsupported type {other:?}, must be \"alert\" or \"record\""
                ))
            }
        };
        Ok(RuleFilter {
            kind,
            names: p.all("rule_name[]"),
            groups: p.all("rule_group[]"),
            files: p.all("file[]"),
        })
    }

    /// The groups and rules the request asks for. Prometheus 2.42 keeps a
    /// group whose rules the filters all left out.
    pub fn apply(&self, mut groups: Vec<GroupStatus>) -> Vec<GroupStatus> {
        groups.retain(|g| self.keeps_group(g));
        for g in &mut groups {
            g.rules.retain(|r| self.keeps_rule(r));
        }
        groups
    }

    fn keeps_group(&self, g: &GroupStatus) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.name))
            && (self.files.is_empty() || self.files.contains(&g.file))
    }

    fn keeps_rule(&self, r: &RuleStatus) -> bool {
        (self.kind.is_none() || self.kind == Some(kind_of(r)))
            && (self.names.is_empty() || self.names.contains(&r.name))
    }
}

fn kind_of(r: &RuleStatus) -> &'static str {
    if r.alerting.is_some() {
        "alerting"
    } else {
        "recording"
    }
}

/// `data` of a `/api/v1/rules` answer.
pub fn groups_json(groups: &[GroupStatus]) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            let rules: Vec<Value> = g.rules.iter().map(rule_json).collect();
            json!({
                "name": g.name, "file": g.file, "rules": rules,
                "interval": go_number(g.interval_seconds), "limit": g.limit,
                "evaluationTime": go_number(g.eval_seconds),
                "lastEvaluation": time(g.last_eval_ms),
            })
        })
        .collect();
    json!({ "groups": groups })
}

fn rule_json(r: &RuleStatus) -> Value {
    let mut out = Map::new();
    if r.alerting.is_some() {
        out.insert("state".into(), json!(r.state()));
    }
    out.insert("name".into(), json!(r.name));
    out.insert("query".into(), json!(r.query));
    if let Some(a) = &r.alerting {
        out.insert("duration".into(), go_number(a.for_seconds));
        out.insert("keepFiringFor".into(), go_number(a.keep_firing_for_seconds));
        out.insert("labels".into(), json!(r.labels));
        out.insert("annotations".into(), json!(a.annotations));
        let alerts: Vec<Value> = a.alerts.iter().map(alert_json).collect();
        out.insert("alerts".into(), json!(alerts));
    } else if !r.labels.is_empty() {
        out.insert("labels".into(), json!(r.labels));
    }
    out.insert("health".into(), json!(r.health()));
    if let Some(e) = &r.last_error {
        out.insert("lastError".into(), json!(e));
    }
    out.insert("evaluationTime".into(), go_number(r.eval_seconds));
    out.insert("lastEvaluation".into(), json!(time(r.last_eval_ms)));
    out.insert("type".into(), json!(kind_of(r)));
    Value::Object(out)
}

/// `data` of a `/api/v1/alerts` answer: every pending and firing alert
/// of every alerting rule, in rule order.
pub fn alerts_json(groups: &[GroupStatus]) -> Value {
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.alerting.as_ref())
        .flat_map(|a| a.alerts.iter().map(alert_json))
        .collect();
    json!({ "alerts": alerts })
}

fn alert_json(a: &AlertStatus) -> Value {
    let mut out = json!({
        "labels": a.labels, "annotations": a.annotations, "state": a.state,
        "activeAt": time(Some(a.active_at_ms)), "value": go_exponent(a.value),
    });
    if let Some(since) = a.keep_firing_since_ms {
        out["keepFiringSince"] = json!(time(Some(since)));
    }
    out
}

/// A float as Go's JSON writes one: `1`, not `1.0`.
fn go_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// RFC 3339 with as many fraction digits as needed, as Go writes a time.
fn time(ms: Option<i64>) -> String {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which Prometheus uses for
/// an alert's value: `1e+00`, `2.5e-03`, `NaN`, `+Inf`.
pub fn go_exponent(v: f64) -> String {
    if !v.is_finite() {
        return prom_format(v);
    }
    let rust = format!("{v:e}");
    let (mantissa, exponent) = rust.split_once('e').unwrap_or((&rust, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_spelled_as_go_spells_them() {
        assert_eq!(go_exponent(1.0), "1e+00");
        assert_eq!(go_exponent(0.0025), "2.5e-03");
        assert_eq!(go_exponent(-123456.0), "-1.23456e+05");
        assert_eq!(go_exponent(1e300), "1e+300");
        assert_eq!(go_exponent(f64::NAN), "NaN");
        assert_eq!(go_exponent(f64::INFINITY), "+Inf");
    }

    #[test]
    fn never_is_gos_zero_time_and_fractions_are_kept() {
        assert_eq!(time(None), ZERO_TIME);
        assert_eq!(time(Some(1_000)), "1970-01-01T00:00:01Z");
        assert_eq!(time(Some(1_500)), "1970-01-01T00:00:01.500Z");
    }
}
