//! One rule group evaluated at one instant over a storage, as
//! Prometheus' `Group.Eval` does: rules in order, each rule's output written
//! back before the next rule runs (so recording rules feed later rules),
//! alerting rules writing `ALERTS` and `ALERTS_FOR_STATE`, and a stale
//! marker for every series a rule wrote last time but not this time.
//! What it writes is also handed back, so the engine can write it into
//! the log as `SamplesRecorded`.
//! The alert state machine itself is `alerting::eval_alerting_rule`.
//! The live engine and `rules test` both evaluate groups through this, so
//! they cannot disagree.

use crate::alerting::{eval_alerting_rule, ActiveState, AlertContext, AlertRuleState};
use crate::rules::{Rule, RuleGroup};
use closeloop_core::events::SuspectDeploy;
use closeloop_core::{EventPayload, LabelSet};
use closeloop_promql::{eval_instant, stale_marker, EvalOptions, Labels, Storage, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Instant;

/// What every rule sees besides the storage.
pub(crate) struct EvalEnv<'a> {
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub options: &'a EvalOptions,
    /// Suspect deploys for an alert's labels at the time it became active.
    pub suspects: &'a dyn Fn(&LabelSet, i64) -> Vec<SuspectDeploy>,
}

/// A rule that failed at an evaluation, for promtool's `rule: ..., err: ...`.
#[derive(Debug, Clone)]
pub(crate) struct RuleFailure {
    pub rule: String,
    pub message: String,
}

/// How one rule's last evaluation went, for `/api/v1/rules`. It travels
/// in the shard checkpoint, so every evaluator reports every group's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleHealth {
    /// The evaluation's time (event time, so replay reports the same).
    pub last_eval_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Wall-clock seconds the rule took.
    pub eval_seconds: f64,
}

pub(crate) struct GroupRun {
    pub group: RuleGroup,
    /// One per rule; unused for recording rules.
    pub(crate) alert_states: Vec<AlertRuleState>,
    /// One per rule.
    pub(crate) health: Vec<RuleHealth>,
    pub(crate) last_eval_ms: Option<i64>,
    pub(crate) eval_seconds: f64,
    /// The series each rule wrote at its previous evaluation.
    previous_series: Vec<HashSet<Labels>>,
}

/// How a group's last evaluation went: what the shard checkpoint carries
/// so that an evaluator answers `/api/v1/rules` for groups owned
/// elsewhere, and a new owner reports the old owner's last evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupHealth {
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    /// One per rule, in the group's order.
    pub rules: Vec<RuleHealth>,
}

impl GroupRun {
    pub fn health(&self) -> GroupHealth {
        GroupHealth {
            last_eval_ms: self.last_eval_ms,
            eval_seconds: self.eval_seconds,
            rules: self.health.clone(),
        }
    }

    /// Takes a group's health as another evaluator reported it; ignored
    /// when the rule count differs (that evaluator runs other rules).
    pub fn adopt_health(&mut self, health: &GroupHealth) {
        if health.rules.len() == self.health.len() {
            self.last_eval_ms = health.last_eval_ms;
            self.eval_seconds = health.eval_seconds;
            self.health = health.rules.clone();
        }
    }

    pub fn new(group: RuleGroup) -> Self {
        let count = group.rules.len();
        GroupRun {
            group,
            alert_states: vec![AlertRuleState::default(); count],
            health: vec![RuleHealth::default(); count],
            last_eval_ms: None,
            eval_seconds: 0.0,
            previous_series: vec![HashSet::new(); count],
        }
    }

    /// Evaluates every rule at `ts_ms`, appends the alert transitions to
    /// `events` and returns the rules that failed.
    pub fn eval(
        &mut self,
        storage: &mut Storage,
        ts_ms: i64,
        env: &EvalEnv<'_>,
        events: &mut Vec<EventPayload>,
    ) -> Vec<RuleFailure> {
        self.eval_recorded(storage, ts_ms, env, events, &mut Vec::new())
    }

    /// As `eval`, and also appends every sample written into `storage` (at
    /// `ts_ms` minus the query offset, stale markers included) to `written`.
    pub fn eval_recorded(
        &mut self,
        storage: &mut Storage,
        ts_ms: i64,
        env: &EvalEnv<'_>,
        events: &mut Vec<EventPayload>,
        written: &mut Vec<(Labels, f64)>,
    ) -> Vec<RuleFailure> {
        let mut failures = Vec::new();
        // Prometheus 3 evaluates at `ts - query_offset` and writes the
        // results there; the alert clock still runs at `ts`.
        let query_ts = ts_ms - self.group.query_offset.as_millis() as i64;
        let group_started = Instant::now();
        for index in 0..self.group.rules.len() {
            let started = Instant::now();
            let result = self.eval_rule(index, storage, ts_ms, query_ts, env, events);
            self.health[index] = RuleHealth {
                last_eval_ms: Some(ts_ms),
                last_error: result.as_ref().err().cloned(),
                eval_seconds: started.elapsed().as_secs_f64(),
            };
            let output = match result {
                Ok(output) => output,
                Err(message) => {
                    failures.push(RuleFailure {
                        rule: rule_name(&self.group.rules[index]).to_string(),
                        message,
                    });
                    // Prometheus returns before its staleness bookkeeping.
                    continue;
                }
            };
            let mut current = HashSet::with_capacity(output.len());
            for (labels, value) in output {
                storage.append(&labels, query_ts, value);
                written.push((labels.clone(), value));
                current.insert(labels);
            }
            for gone in self.previous_series[index].difference(&current) {
                storage.append(gone, query_ts, stale_marker());
                written.push((gone.clone(), stale_marker()));
            }
            self.previous_series[index] = current;
        }
        self.last_eval_ms = Some(ts_ms);
        self.eval_seconds = group_started.elapsed().as_secs_f64();
        failures
    }

    /// The alert state of rule `index`, to restore it from the log.
    pub fn alert_state_mut(&mut self, index: usize) -> &mut AlertRuleState {
        &mut self.alert_states[index]
    }

    /// The firing alerts of the alerting rules named `alertname`, with
    /// their labels and expanded annotations.
    pub fn firing_alerts(&self, alertname: &str) -> Vec<(LabelSet, LabelSet)> {
        let mut out = Vec::new();
        for (rule, state) in self.group.rules.iter().zip(&self.alert_states) {
            let Rule::Alerting(rule) = rule else { continue };
            if rule.name != alertname {
                continue;
            }
            for alert in state.active.values() {
                if alert.state == ActiveState::Firing {
                    out.push((alert.labels.clone(), alert.annotations.clone()));
                }
            }
        }
        out
    }

    /// Evaluates one rule and returns the samples it writes.
    fn eval_rule(
        &mut self,
        index: usize,
        storage: &Storage,
        ts_ms: i64,
        query_ts: i64,
        env: &EvalEnv<'_>,
        events: &mut Vec<EventPayload>,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let limit = self.group.limit;
        match &self.group.rules[index] {
            Rule::Recording(rule) => {
                let result = eval_instant(storage, &rule.expr, query_ts, env.options)
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for (labels, value) in query_samples(result)? {
                    let mut labels = labels.with("__name__", &rule.name);
                    for (name, value) in &rule.labels {
                        labels = labels.with(name, value);
                    }
                    out.push((labels, value));
                }
                let mut seen = HashSet::with_capacity(out.len());
                if !out.iter().all(|(labels, _)| seen.insert(labels.clone())) {
                    return Err(
                        "vector contains metrics with the same labelset after applying rule labels"
                            .into(),
                    );
                }
                if limit > 0 && out.len() as u64 > limit {
                    return Err(format!(
                        "exceeded limit of {limit} with {} series",
                        out.len()
                    ));
                }
                Ok(out)
            }
            Rule::Alerting(rule) => {
                let result = eval_instant(storage, &rule.expr, query_ts, env.options)
                    .map_err(|e| e.to_string())?;
                let samples: Vec<(LabelSet, f64)> = query_samples(result)?
                    .into_iter()
                    .map(|(labels, value)| {
                        let map = labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        (map, value)
                    })
                    .collect();
                let query = crate::engine::template_query(storage, env.options, query_ts);
                let ctx = AlertContext {
                    group: &self.group.name,
                    external_labels: env.external_labels,
                    external_url: env.external_url,
                    suspects: env.suspects,
                    query: Some(&query),
                };
                let state = &mut self.alert_states[index];
                events.extend(
                    eval_alerting_rule(rule, state, samples, ts_ms, limit, &ctx)
                        .map_err(|e| e.to_string())?,
                );
                Ok(alert_series(&rule.name, state))
            }
        }
    }
}

/// `ALERTS{alertstate=...} 1` and `ALERTS_FOR_STATE <active since, s>` for
/// each pending or firing alert, as Prometheus writes them.
fn alert_series(alertname: &str, state: &AlertRuleState) -> Vec<(Labels, f64)> {
    let mut out = Vec::with_capacity(state.active.len() * 2);
    for alert in state.active.values() {
        let labels = Labels::from_pairs(alert.labels.iter()).with("alertname", alertname);
        let alertstate = match alert.state {
            ActiveState::Pending => "pending",
            ActiveState::Firing => "firing",
        };
        out.push((
            labels
                .with("__name__", "ALERTS")
                .with("alertstate", alertstate),
            1.0,
        ));
        out.push((
            labels.with("__name__", "ALERTS_FOR_STATE"),
            (alert.active_at_ms / 1000) as f64,
        ));
    }
    out
}

/// A rule's query result as samples; a scalar is one unlabelled sample,
/// as in Prometheus' `EngineQueryFunc`.
pub(crate) fn query_samples(value: Value) -> Result<Vec<(Labels, f64)>, String> {
    match value {
        Value::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect()),
        Value::Scalar(v) => Ok(vec![(Labels::empty(), v)]),
        Value::String(_) | Value::Matrix(_) => Err("rule result is not a vector or scalar".into()),
    }
}

fn rule_name(rule: &Rule) -> &str {
    match rule {
        Rule::Alerting(r) => &r.name,
        Rule::Recording(r) => &r.name,
    }
}
