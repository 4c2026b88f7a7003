//! The alert state machine stepped by hand, as Prometheus'
//! `rules/alerting_test.go` does: given a rule, when the query returns these
//! samples at these times, then these transitions come out.

use closeloop_core::events::{AlertEvent, SuspectDeploy};
use closeloop_core::{EventPayload, LabelSet};
use closeloop_evaluator::alerting::{eval_alerting_rule, restore, AlertContext, AlertRuleState};
use closeloop_evaluator::rules::{AlertingRule, Rule};
use std::time::Duration;

const MIN: i64 = 60_000;

fn rule(hold: Duration, keep_firing_for: Duration) -> AlertingRule {
    let text = format!(
        "groups: [{{name: g, rules: [{{alert: HighErrors, expr: 'errors > 1', for: {}ms, keep_firing_for: {}ms, \
         labels: {{severity: page}}, annotations: {{summary: 'errors at {{{{ $value }}}} on {{{{ $labels.instance }}}}'}}}}]}}]",
        hold.as_millis(),
        keep_firing_for.as_millis()
    );
    let groups = closeloop_evaluator::parse_rule_file(&text, "test.yml").expect("rule parses");
    match groups[0].rules[0].clone() {
        Rule::Alerting(rule) => rule,
        Rule::Recording(_) => unreachable!(),
    }
}

fn sample(instance: &str, value: f64) -> (LabelSet, f64) {
    let labels = [("__name__", "errors"), ("instance", instance)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (labels, value)
}

fn no_suspects(_: &LabelSet, _: i64) -> Vec<SuspectDeploy> {
    Vec::new()
}

fn step(
    rule: &AlertingRule,
    state: &mut AlertRuleState,
    result: Vec<(LabelSet, f64)>,
    at_ms: i64,
) -> Vec<(String, AlertEvent)> {
    let empty = LabelSet::new();
    let ctx = AlertContext {
        group: "g",
        external_labels: &empty,
        external_url: "http://closeloop",
        suspects: &no_suspects,
        query: None,
    };
    eval_alerting_rule(rule, state, result, at_ms, 0, &ctx)
        .expect("evaluation succeeds")
        .into_iter()
        .map(|p| match p {
            EventPayload::AlertPending(e) => ("pending".to_string(), e),
            EventPayload::AlertFiring(e) => ("firing".to_string(), e),
            EventPayload::AlertResolved(e) => ("resolved".to_string(), e),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn kinds(events: &[(String, AlertEvent)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn an_alert_is_pending_until_its_for_duration_passes_then_fires_once() {
    let rule = rule(Duration::from_secs(300), Duration::ZERO);
    let mut state = AlertRuleState::default();

    let t0 = step(&rule, &mut state, vec![sample("a", 5.0)], 0);
    assert_eq!(kinds(&t0), ["pending"]);
    let alert = &t0[0].1;
    assert_eq!(alert.labels["alertname"], "HighErrors");
    assert_eq!(alert.labels["severity"], "page");
    assert!(!alert.labels.contains_key("__name__"));
    assert_eq!(alert.annotations["summary"], "errors at 5 on a");

    for minute in 1..5 {
        assert!(step(&rule, &mut state, vec![sample("a", 5.0)], minute * MIN).is_empty());
    }
    let t5 = step(&rule, &mut state, vec![sample("a", 7.0)], 5 * MIN);
    assert_eq!(kinds(&t5), ["firing"]);
    assert_eq!(t5[0].1.active_at.timestamp_millis(), 0);
    assert_eq!(t5[0].1.fired_at.unwrap().timestamp_millis(), 5 * MIN);
    assert_eq!(t5[0].1.annotations["summary"], "errors at 7 on a");
    assert!(
        step(&rule, &mut state, vec![sample("a", 7.0)], 6 * MIN).is_empty(),
        "no refiring"
    );
}

#[test]
fn a_pending_alert_that_clears_never_fires_and_is_dropped() {
    let rule = rule(Duration::from_secs(300), Duration::ZERO);
    let mut state = AlertRuleState::default();
    step(&rule, &mut state, vec![sample("a", 5.0)], 0);
    let cleared = step(&rule, &mut state, vec![], MIN);
    assert_eq!(kinds(&cleared), ["resolved"]);
    assert!(cleared[0].1.fired_at.is_none(), "it never fired");
    assert!(state.active.is_empty());
    // Coming back starts the `for` clock again.
    let back = step(&rule, &mut state, vec![sample("a", 5.0)], 2 * MIN);
    assert_eq!(kinds(&back), ["pending"]);
    assert_eq!(back[0].1.active_at.timestamp_millis(), 2 * MIN);
}

#[test]
fn a_rule_without_for_fires_at_its_first_evaluation() {
    let rule = rule(Duration::ZERO, Duration::ZERO);
    let mut state = AlertRuleState::default();
    assert_eq!(
        kinds(&step(&rule, &mut state, vec![sample("a", 2.0)], 0)),
        ["firing"]
    );
    let resolved = step(&rule, &mut state, vec![], MIN);
    assert_eq!(kinds(&resolved), ["resolved"]);
    assert_eq!(resolved[0].1.resolved_at.unwrap().timestamp_millis(), MIN);
    assert_eq!(resolved[0].1.fired_at.unwrap().timestamp_millis(), 0);
}

#[test]
fn keep_firing_for_holds_a_firing_alert_after_the_condition_clears() {
    // As Prometheus' TestKeepFiringFor: fires, condition clears, alert is
    // kept firing for keep_firing_for, then resolves.
    let rule = rule(Duration::ZERO, Duration::from_secs(120));
    let mut state = AlertRuleState::default();
    assert_eq!(
        kinds(&step(&rule, &mut state, vec![sample("a", 2.0)], 0)),
        ["firing"]
    );
    assert!(
        step(&rule, &mut state, vec![], MIN).is_empty(),
        "kept firing at +1m"
    );
    assert!(
        step(&rule, &mut state, vec![], 2 * MIN + MIN / 2).is_empty(),
        "1.5m since clearing: kept"
    );
    assert_eq!(state.active.len(), 1, "still held as firing");
}

#[test]
fn keep_firing_for_resolves_exactly_when_the_hold_elapses() {
    let rule = rule(Duration::ZERO, Duration::from_secs(120));
    let mut state = AlertRuleState::default();
    step(&rule, &mut state, vec![sample("a", 2.0)], 0);
    assert!(
        step(&rule, &mut state, vec![], MIN).is_empty(),
        "cleared at 1m, kept"
    );
    assert!(
        step(&rule, &mut state, vec![], 2 * MIN).is_empty(),
        "1m since clearing, kept"
    );
    let resolved = step(&rule, &mut state, vec![], 3 * MIN);
    assert_eq!(
        kinds(&resolved),
        ["resolved"],
        "2m since clearing: resolved"
    );
}

#[test]
fn keep_firing_for_restarts_when_the_condition_returns() {
    let rule = rule(Duration::ZERO, Duration::from_secs(120));
    let mut state = AlertRuleState::default();
    step(&rule, &mut state, vec![sample("a", 2.0)], 0);
    assert!(step(&rule, &mut state, vec![], MIN).is_empty());
    assert!(
        step(&rule, &mut state, vec![sample("a", 2.0)], 2 * MIN).is_empty(),
        "back, still firing"
    );
    assert!(
        step(&rule, &mut state, vec![], 3 * MIN).is_empty(),
        "the hold starts again"
    );
    assert!(step(&rule, &mut state, vec![], 4 * MIN).is_empty());
    assert_eq!(
        kinds(&step(&rule, &mut state, vec![], 5 * MIN)),
        ["resolved"]
    );
}

#[test]
fn each_label_set_is_its_own_alert() {
    let rule = rule(Duration::from_secs(60), Duration::ZERO);
    let mut state = AlertRuleState::default();
    let t0 = step(
        &rule,
        &mut state,
        vec![sample("a", 2.0), sample("b", 3.0)],
        0,
    );
    assert_eq!(kinds(&t0), ["pending", "pending"]);
    let t1 = step(&rule, &mut state, vec![sample("a", 2.0)], MIN);
    let mut got: Vec<(String, String)> = t1
        .iter()
        .map(|(k, e)| (k.clone(), e.labels["instance"].clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("firing".into(), "a".into()),
            ("resolved".into(), "b".into())
        ]
    );
}

#[test]
fn a_result_with_duplicate_alert_label_sets_changes_nothing() {
    let rule = rule(Duration::ZERO, Duration::ZERO);
    let mut state = AlertRuleState::default();
    let mut other_name = sample("a", 1.0);
    other_name.0.insert("__name__".into(), "other".into());
    let empty = LabelSet::new();
    let ctx = AlertContext {
        group: "g",
        external_labels: &empty,
        external_url: "",
        suspects: &no_suspects,
        query: None,
    };
    let err = eval_alerting_rule(
        &rule,
        &mut state,
        vec![sample("a", 2.0), other_name],
        0,
        0,
        &ctx,
    );
    assert!(err.is_err());
    assert!(state.active.is_empty());
}

#[test]
fn a_restored_state_continues_without_repeating_transitions() {
    let rule = rule(Duration::from_secs(120), Duration::ZERO);
    let mut state = AlertRuleState::default();
    let mut log = Vec::new();
    log.extend(step(&rule, &mut state, vec![sample("a", 2.0)], 0));
    log.extend(step(&rule, &mut state, vec![sample("a", 2.0)], 2 * MIN));
    assert_eq!(kinds(&log), ["pending", "firing"]);

    // A restarted evaluator rebuilds its state from the events in the log.
    let mut restored = AlertRuleState::default();
    for (kind, event) in &log {
        let payload = match kind.as_str() {
            "pending" => EventPayload::AlertPending(event.clone()),
            _ => EventPayload::AlertFiring(event.clone()),
        };
        restore(&mut restored, &payload);
    }
    assert!(
        step(&rule, &mut restored, vec![sample("a", 2.0)], 2 * MIN).is_empty(),
        "re-evaluating a done tick is a no-op"
    );
    assert!(step(&rule, &mut restored, vec![sample("a", 2.0)], 3 * MIN).is_empty());
    assert_eq!(
        kinds(&step(&rule, &mut restored, vec![], 4 * MIN)),
        ["resolved"]
    );
}

#[test]
fn the_suspect_deploy_is_looked_up_when_the_alert_becomes_active() {
    let rule = rule(Duration::from_secs(60), Duration::ZERO);
    let mut state = AlertRuleState::default();
    let empty = LabelSet::new();
    let suspects = |_: &LabelSet, active_at: i64| {
        vec![SuspectDeploy {
            deploy_id: uuid::Uuid::nil(),
            service: "checkout".into(),
            environment: "prod".into(),
            version: format!("looked-up-at-{active_at}"),
            deployed_at: chrono::DateTime::UNIX_EPOCH,
            url: None,
            actor: None,
            commits: Vec::new(),
        }]
    };
    let ctx = AlertContext {
        group: "g",
        external_labels: &empty,
        external_url: "",
        suspects: &suspects,
        query: None,
    };
    eval_alerting_rule(&rule, &mut state, vec![sample("a", 2.0)], 5 * MIN, 0, &ctx).unwrap();
    let firing =
        eval_alerting_rule(&rule, &mut state, vec![sample("a", 2.0)], 6 * MIN, 0, &ctx).unwrap();
    let EventPayload::AlertFiring(alert) = &firing[0] else {
        panic!("expected firing")
    };
    assert_eq!(
        alert.suspect_deploys[0].version,
        format!("looked-up-at-{}", 5 * MIN)
    );
}

#[test]
fn a_label_that_expands_to_nothing_is_dropped_and_templates_can_query() {
    let text = r#"
groups:
  - name: g
    rules:
      - alert: A
        expr: errors > 1
        labels: {team: "{{ $labels.missing }}", severity: page}
        annotations:
          others: '{{ range query "up" }}{{ .Labels.instance }}={{ .Value }} {{ end }}'
"#;
    let groups = closeloop_evaluator::parse_rule_file(text, "t.yml").unwrap();
    let Rule::Alerting(rule) = groups[0].rules[0].clone() else {
        panic!("alerting rule")
    };
    let empty = LabelSet::new();
    let query = |q: &str| -> Result<Vec<(LabelSet, f64)>, String> {
        assert_eq!(q, "up");
        Ok(vec![(
            [("instance".to_string(), "x".to_string())].into(),
            1.0,
        )])
    };
    let ctx = AlertContext {
        group: "g",
        external_labels: &empty,
        external_url: "",
        suspects: &no_suspects,
        query: Some(&query),
    };
    let mut state = AlertRuleState::default();
    let events = eval_alerting_rule(&rule, &mut state, vec![sample("a", 2.0)], 0, 0, &ctx).unwrap();
    let EventPayload::AlertFiring(alert) = &events[0] else {
        panic!("expected firing")
    };
    assert!(!alert.labels.contains_key("team"), "{:?}", alert.labels);
    assert_eq!(alert.labels["severity"], "page");
    assert_eq!(alert.annotations["others"], "x=1 ");
}
