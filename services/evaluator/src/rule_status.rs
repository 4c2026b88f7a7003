//! What `/api/v1/rules` and `/api/v1/alerts` report: each rule group as
//! the evaluator runs it — its rules, their health and last evaluation,
//! and the alerts each alerting rule holds (pending or firing) — in plain
//! structs the HTTP layer turns into Prometheus' JSON.

use crate::alerting::ActiveState;
use crate::group_eval::GroupRun;
use crate::rules::Rule;
use closeloop_core::LabelSet;

#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    pub file: String,
    pub interval_seconds: f64,
    pub limit: u64,
    /// `None` until the group first runs (or when another evaluator owns it).
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    pub rules: Vec<RuleStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    pub name: String,
    pub query: String,
    pub labels: LabelSet,
    /// `None` before the rule's first evaluation (Prometheus' "unknown").
    pub last_eval_ms: Option<i64>,
    pub last_error: Option<String>,
    pub eval_seconds: f64,
    /// `None` for a recording rule.
    pub alerting: Option<AlertingStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertingStatus {
    pub for_seconds: f64,
    pub keep_firing_for_seconds: f64,
    pub annotations: LabelSet,
    pub alerts: Vec<AlertStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertStatus {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// `pending` or `firing`.
    pub state: &'static str,
    pub active_at_ms: i64,
    pub value: f64,
    pub keep_firing_since_ms: Option<i64>,
}

impl RuleStatus {
    /// Prometheus' rule health: `unknown`, `ok` or `err`.
    pub fn health(&self) -> &'static str {
        match (self.last_eval_ms, &self.last_error) {
            (None, _) => "unknown",
            (Some(_), Some(_)) => "err",
            (Some(_), None) => "ok",
        }
    }

    /// Prometheus' rule state: the most advanced of its alerts'.
    pub fn state(&self) -> &'static str {
        let alerts = self
            .alerting
            .as_ref()
            .map(|a| a.alerts.as_slice())
            .unwrap_or_default();
        if alerts.iter().any(|a| a.state == "firing") {
            "firing"
        } else if alerts.is_empty() {
            "inactive"
        } else {
            "pending"
        }
    }
}

impl GroupRun {
    pub(crate) fn status(&self, interval_ms: i64) -> GroupStatus {
        let rules = self
            .group
            .rules
            .iter()
            .zip(&self.health)
            .zip(&self.alert_states)
            .map(|((rule, health), state)| {
                let (name, query, labels, alerting) = match rule {
                    Rule::Recording(r) => (&r.name, &r.expr_text, &r.labels, None),
                    Rule::Alerting(r) => {
                        let mut alerts: Vec<AlertStatus> = state
                            .active
                            .values()
                            .map(|a| AlertStatus {
                                labels: a.labels.clone(),
                                annotations: a.annotations.clone(),
                                state: match a.state {
                                    ActiveState::Pending => "pending",
                                    ActiveState::Firing => "firing",
                                },
                                active_at_ms: a.active_at_ms,
                                value: a.value,
                                keep_firing_since_ms: a.keep_firing_since_ms,
                            })
                            .collect();
                        // Stable order for readers (the map has none).
                        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
                        let status = AlertingStatus {
                            for_seconds: r.hold.as_secs_f64(),
                            keep_firing_for_seconds: r.keep_firing_for.as_secs_f64(),
                            annotations: r.annotations.clone(),
                            alerts,
                        };
                        (&r.name, &r.expr_text, &r.labels, Some(status))
                    }
                };
                RuleStatus {
                    name: name.clone(),
                    query: query.clone(),
                    labels: labels.clone(),
                    last_eval_ms: health.last_eval_ms,
                    last_error: health.last_error.clone(),
                    eval_seconds: health.eval_seconds,
                    alerting,
                }
            })
            .collect();
        GroupStatus {
            name: self.group.name.clone(),
            file: self.group.file.clone(),
            interval_seconds: interval_ms as f64 / 1000.0,
            limit: self.group.limit,
            last_eval_ms: self.last_eval_ms,
            eval_seconds: self.eval_seconds,
            rules,
        }
    }
}
