//! Prometheus' alert state machine for one alerting rule, as in
//! `rules/alerting.go` `Eval`: inactive → pending → firing → resolved, with
//! `for` and `keep_firing_for`. Pure: it takes the query result and the
//! evaluation time and returns the transitions; nothing here reads a clock.

use crate::rules::AlertingRule;
use crate::template::{expand_with_query, QueryFn, TemplateData};
use closeloop_core::events::{AlertEvent, SuspectDeploy};
use closeloop_core::time::from_millis;
use closeloop_core::{fingerprint, EventPayload, Fingerprint, LabelSet};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveState {
    Pending,
    Firing,
}

/// An alert the rule currently holds (pending or firing).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub value: f64,
    pub state: ActiveState,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    /// When the expression last stopped returning this alert while it was
    /// firing under `keep_firing_for`.
    pub keep_firing_since_ms: Option<i64>,
    pub suspect_deploys: Vec<SuspectDeploy>,
}

/// The alerts one rule holds between evaluations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRuleState {
    pub active: HashMap<Fingerprint, ActiveAlert>,
}

/// What an evaluation needs besides the rule and its query result.
pub struct AlertContext<'a> {
    pub group: &'a str,
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    /// Suspect deploys for an alert's labels, as of the time it became
    /// active (unix ms).
    pub suspects: &'a dyn Fn(&LabelSet, i64) -> Vec<SuspectDeploy>,
    /// Runs PromQL for `{{ query "..." }}` in templates, at the rule's
    /// evaluation time; `None` makes such templates expand to an error.
    pub query: Option<&'a QueryFn<'a>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlertEvalError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateLabelSets,
    #[error("exceeded limit of {limit} with {count} alerts")]
    LimitExceeded { limit: u64, count: usize },
}

/// One sample of the rule's query result: labels (with `__name__` if the
/// expression kept it) and value.
pub type ResultSample = (LabelSet, f64);

/// Evaluates the rule at `ts_ms` given its query result, updating `state`
/// and returning the alert events to append, in fingerprint order so the
/// output is deterministic.
pub fn eval_alerting_rule(
    rule: &AlertingRule,
    state: &mut AlertRuleState,
    result: Vec<ResultSample>,
    ts_ms: i64,
    limit: u64,
    ctx: &AlertContext<'_>,
) -> Result<Vec<EventPayload>, AlertEvalError> {
    // First build every alert of this evaluation, so a bad result changes
    // nothing (as Prometheus returns before touching its active map).
    let mut current: HashMap<Fingerprint, (LabelSet, LabelSet, f64)> = HashMap::new();
    for (sample_labels, value) in result {
        let data = TemplateData {
            labels: &sample_labels,
            external_labels: ctx.external_labels,
            external_url: ctx.external_url,
            value,
        };
        let mut labels = sample_labels.clone();
        labels.remove("__name__");
        for (name, text) in &rule.labels {
            let value = expand_with_query(&rule.name, text, &data, ctx.query);
            // As Prometheus' labels.Builder: a label set to "" is removed.
            if value.is_empty() {
                labels.remove(name);
            } else {
                labels.insert(name.clone(), value);
            }
        }
        labels.insert("alertname".into(), rule.name.clone());
        let annotations: LabelSet = rule
            .annotations
            .iter()
            .map(|(name, text)| {
                let value = expand_with_query(&rule.name, text, &data, ctx.query);
                (name.clone(), value)
            })
            .collect();
        let fp = fingerprint(&labels);
        if current.insert(fp, (labels, annotations, value)).is_some() {
            return Err(AlertEvalError::DuplicateLabelSets);
        }
    }

    let mut events = Vec::new();
    let hold_ms = rule.hold.as_millis() as i64;
    let keep_ms = rule.keep_firing_for.as_millis() as i64;

    for (fp, (labels, annotations, value)) in &current {
        match state.active.get_mut(fp) {
            Some(alert) => {
                alert.value = *value;
                alert.annotations = annotations.clone();
                alert.keep_firing_since_ms = None;
            }
            None => {
                let suspect_deploys = (ctx.suspects)(labels, ts_ms);
                let alert = ActiveAlert {
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    value: *value,
                    state: ActiveState::Pending,
                    active_at_ms: ts_ms,
                    fired_at_ms: None,
                    keep_firing_since_ms: None,
                    suspect_deploys,
                };
                state.active.insert(*fp, alert);
                // A rule without `for` fires in the same evaluation; only
                // the firing transition is recorded then.
                if hold_ms > 0 {
                    events.push((*fp, Transition::Pending));
                }
            }
        }
    }

    let mut ended = Vec::new();
    for (fp, alert) in state.active.iter_mut() {
        if !current.contains_key(fp) {
            let keep_firing = alert.state == ActiveState::Firing && keep_ms > 0 && {
                let since = *alert.keep_firing_since_ms.get_or_insert(ts_ms);
                ts_ms - since < keep_ms
            };
            if !keep_firing {
                ended.push(*fp);
                continue;
            }
        }
        if alert.state == ActiveState::Pending && ts_ms - alert.active_at_ms >= hold_ms {
            alert.state = ActiveState::Firing;
            alert.fired_at_ms = Some(ts_ms);
            events.retain(|(f, _)| f != fp);
            events.push((*fp, Transition::Firing));
        }
    }

    let mut payloads: Vec<(Fingerprint, EventPayload)> = Vec::new();
    for fp in ended {
        if let Some(alert) = state.active.remove(&fp) {
            let event = to_event(rule, ctx, fp, &alert, Some(ts_ms));
            payloads.push((fp, EventPayload::AlertResolved(event)));
        }
    }
    for (fp, transition) in events {
        if let Some(alert) = state.active.get(&fp) {
            let event = to_event(rule, ctx, fp, alert, None);
            payloads.push((
                fp,
                match transition {
                    Transition::Pending => EventPayload::AlertPending(event),
                    Transition::Firing => EventPayload::AlertFiring(event),
                },
            ));
        }
    }

    if limit > 0 && state.active.len() as u64 > limit {
        let count = state.active.len();
        // Prometheus drops every alert of a rule over its limit.
        state.active.clear();
        return Err(AlertEvalError::LimitExceeded { limit, count });
    }
    payloads.sort_by_key(|(fp, _)| *fp);
    Ok(payloads.into_iter().map(|(_, p)| p).collect())
}

enum Transition {
    Pending,
    Firing,
}

fn to_event(
    rule: &AlertingRule,
    ctx: &AlertContext<'_>,
    fp: Fingerprint,
    alert: &ActiveAlert,
    resolved_at_ms: Option<i64>,
) -> AlertEvent {
    AlertEvent {
        fingerprint: fp.to_string(),
        rule_group: ctx.group.to_string(),
        alertname: rule.name.clone(),
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        value: alert.value,
        active_at: from_millis(alert.active_at_ms),
        fired_at: alert.fired_at_ms.map(from_millis),
        resolved_at: resolved_at_ms.map(from_millis),
        suspect_deploys: alert.suspect_deploys.clone(),
        generator_url: Some(generator_url(ctx.external_url, &rule.expr_text)),
    }
}

/// The link Prometheus puts in `generatorURL`: the expression in the graph UI.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut encoded = String::new();
    for byte in expr.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    format!(
        "{}/graph?g0.expr={encoded}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

/// Rebuilds a rule's active alert from an event read back from the log,
/// so a restarted evaluator continues where it stopped. Resolved alerts
/// are dropped.
pub fn restore(state: &mut AlertRuleState, payload: &EventPayload) {
    let (event, alert_state) = match payload {
        EventPayload::AlertPending(e) => (e, Some(ActiveState::Pending)),
        EventPayload::AlertFiring(e) => (e, Some(ActiveState::Firing)),
        EventPayload::AlertResolved(e) => (e, None),
        _ => return,
    };
    let fp = fingerprint(&event.labels);
    match alert_state {
        None => {
            state.active.remove(&fp);
        }
        Some(s) => {
            state.active.insert(
                fp,
                ActiveAlert {
                    labels: event.labels.clone(),
                    annotations: event.annotations.clone(),
                    value: event.value,
                    state: s,
                    active_at_ms: event.active_at.timestamp_millis(),
                    fired_at_ms: event.fired_at.map(|t| t.timestamp_millis()),
                    keep_firing_since_ms: None,
                    suspect_deploys: event.suspect_deploys.clone(),
                },
            );
        }
    }
}
