//! A scaler over ticks: the issue's YAML, the HPA walkthrough shape (load
//! rises, falls, scale-down waits for the window), missing data, freezes,
//! bounds, alert steps, health conditions, and rebuilding state from the
//! scaler's events or a snapshot without changing any decision.

use super::*;
use closeloop_core::events::{
    ActionFailed, ScaleApplied, ScaleCause, ScaleLimit, ScaleOutcome, ScaleTrigger,
};
use closeloop_core::EventPayload;
use uuid::Uuid;

const S: i64 = 1000;

/// The example of issue 5, item 1 (behavior spelled out as HPA's defaults).
const ISSUE_YAML: &str = r#"
name: checkout-workers
target:
  kubernetes: {api_url: "https://k8s:6443", namespace: shop, kind: Deployment,
               name: checkout-worker, token_file: /var/run/secrets/token, ca_file: /path/ca.crt}
query: sum(rate(jobs_enqueued_total{queue="checkout"}[2m]))
target_per_replica: 50
min_replicas: 2
max_replicas: 20
tolerance: 0.1
behavior:
  scale_up:   {stabilization_window: 0s,   select_policy: Max,
               policies: [{type: Percent, value: 100, period: 15s}, {type: Pods, value: 4, period: 15s}]}
  scale_down: {stabilization_window: 300s, policies: [{type: Percent, value: 100, period: 15s}]}
on_missing_data: hold
freeze_during_deploy: {service: checkout, environment: production, for: 10m}
"#;

fn scaler(extra: &str) -> Scaler {
    let yaml = format!("{ISSUE_YAML}{extra}");
    let config: ScalerConfig = serde_yaml::from_str(&yaml).expect("issue YAML parses");
    config.validate("scalers[0]").expect("valid");
    Scaler::new(config)
}

fn input(now_s: i64, value: Option<f64>, current: u32) -> ScalerInput {
    ScalerInput {
        now_ms: now_s * S,
        value,
        current_replicas: current,
        freeze_active: false,
    }
}

/// Steps through (second, value) ticks, feeding back `known_replicas`.
fn run(
    s: &Scaler,
    state: &mut ScalerState,
    start: u32,
    ticks: &[(i64, Option<f64>)],
) -> Vec<ScaleDecision> {
    ticks
        .iter()
        .map(|(t, v)| {
            let current = state.known_replicas().unwrap_or(start);
            let (next, d) = s.step(state, &input(*t, *v, current));
            *state = next;
            d
        })
        .collect()
}

#[test]
fn the_issue_yaml_resolves_to_hpa_defaults_and_absent_behavior_too() {
    let explicit = scaler("").behavior;
    let yaml = ISSUE_YAML.replace("behavior:", "ignored_behavior:");
    let without: String = yaml
        .lines()
        .filter(|l| {
            !l.contains("ignored_behavior")
                && !l.trim_start().starts_with("scale_")
                && !l.trim_start().starts_with("policies")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config: ScalerConfig = serde_yaml::from_str(&without).expect("parses without behavior");
    // "Default behavior" of the HPA docs equals the issue's explicit block.
    assert_eq!(config.behavior.resolve(), explicit);
    assert_eq!(config.tolerance, 0.1);
}

#[test]
fn config_refuses_unknown_fields_and_names_bad_values() {
    let typo = ISSUE_YAML.replace("min_replicas", "min_replica");
    assert!(serde_yaml::from_str::<ScalerConfig>(&typo).is_err());
    let bad = ISSUE_YAML
        .replace("max_replicas: 20", "max_replicas: 1")
        .replace("value: 4,", "value: 0,")
        .replace(
            "on_missing_data: hold",
            "on_missing_data: {fallback_replicas: 50}",
        );
    let config: ScalerConfig = serde_yaml::from_str(&bad).expect("parses");
    let problems = config.validate("scalers[0]").expect_err("invalid");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "scalers[0].max_replicas",
            "scalers[0].on_missing_data.fallback_replicas",
            "scalers[0].behavior.scale_up.policies[1].value"
        ]
    );
    assert!(
        problems[0].to_string().contains("below min_replicas 2"),
        "{}",
        problems[0]
    );
    let word = ISSUE_YAML.replace("on_missing_data: hold", "on_missing_data: scale_down");
    assert!(serde_yaml::from_str::<ScalerConfig>(&word).is_err());
}

#[test]
fn webhook_header_values_are_not_printed() {
    let yaml = ISSUE_YAML.replace(
        "  kubernetes: {api_url: \"https://k8s:6443\", namespace: shop, kind: Deployment,\n               name: checkout-worker, token_file: /var/run/secrets/token, ca_file: /path/ca.crt}",
        "  webhook: {url: \"http://hooks/scale\", headers: {Authorization: \"Bearer s3cret\"}}",
    );
    let config: ScalerConfig = serde_yaml::from_str(&yaml).expect("webhook target parses");
    assert!(config.target.webhook.is_some() && config.target.kubernetes.is_none());
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn walkthrough_load_rises_then_falls_and_scale_down_waits_for_the_stabilization_window() {
    // HPA walkthrough shape: load goes up, replicas follow within the
    // scale-up policies; load stops, replicas stay for the scale-down
    // window ("Stabilization window", default 300 s), then drop.
    let s = scaler("");
    let mut state = ScalerState::default();
    let mut ticks: Vec<(i64, Option<f64>)> = vec![
        (0, Some(100.0)),
        (15, Some(900.0)),
        (30, Some(900.0)),
        (45, Some(900.0)),
    ];
    ticks.extend((4..=26).map(|i| (i * 15, Some(100.0))));
    let decisions = run(&s, &mut state, 2, &ticks);
    let to: Vec<u32> = decisions.iter().map(|d| d.to_replicas).collect();
    // 900 / 50 = 18: 2 → 6 (Pods 4) → 12 (Percent 100) → 18.
    assert_eq!(&to[..4], &[2, 6, 12, 18]);
    assert_eq!(
        decisions[1].limiting_policy.as_deref(),
        Some("scale_up.policies[1] (Pods 4 per 15s)")
    );
    assert_eq!(
        decisions[2].limiting_policy.as_deref(),
        Some("scale_up.policies[0] (Percent 100 per 15s)")
    );
    // From t=60 the raw desired is 2, but 18 (t=45) is in the window until t=345.
    let held: Vec<_> = decisions
        .iter()
        .filter(|d| d.tick_ms >= 60 * S && d.tick_ms < 345 * S)
        .collect();
    assert!(
        held.iter()
            .all(|d| d.to_replicas == 18 && d.limited_by == [ScaleLimit::Stabilization]),
        "{held:#?}"
    );
    let last = decisions.last().expect("ticks");
    assert_eq!((last.tick_ms, last.to_replicas), (390 * S, 2));
    let first_down = decisions
        .iter()
        .find(|d| d.to_replicas < d.from_replicas)
        .expect("scaled down");
    assert_eq!(first_down.tick_ms, 345 * S);
    let request = first_down.request.as_ref().expect("a request");
    assert_eq!(
        (
            request.from_replicas,
            request.to_replicas,
            request.raw_desired
        ),
        (18, 2, Some(2))
    );
    assert_eq!(request.trigger, ScaleTrigger::Metric);
}

#[test]
fn the_first_tick_seeds_the_window_with_the_current_count_like_the_controller() {
    // horizontal.go recordInitialRecommendation: a new HPA does not scale
    // down before the scale-down window has passed.
    let s = scaler("");
    let mut state = ScalerState::default();
    let d = run(
        &s,
        &mut state,
        10,
        &[(0, Some(100.0)), (299, Some(100.0)), (300, Some(100.0))],
    );
    assert_eq!(
        d.iter().map(|d| d.to_replicas).collect::<Vec<_>>(),
        [10, 10, 2]
    );
}

#[test]
fn missing_data_holds_and_never_scales_down() {
    let s = scaler("health: {missing_data_for: 1m}\n");
    let mut state = ScalerState::default();
    let d = run(
        &s,
        &mut state,
        6,
        &[
            (0, None),
            (30, Some(f64::NAN)),
            (60, None),
            (75, Some(300.0)),
        ],
    );
    assert!(d[..3].iter().all(|d| d.to_replicas == 6
        && d.limited_by == [ScaleLimit::MissingData]
        && d.request.is_none()));
    assert_eq!(
        d[0].health.missing_data,
        HealthCondition {
            since_ms: Some(0),
            firing: false
        }
    );
    assert_eq!(
        d[2].health.missing_data,
        HealthCondition {
            since_ms: Some(0),
            firing: true
        }
    );
    assert_eq!(d[3].health.missing_data, HealthCondition::default());
}

#[test]
fn missing_data_with_a_fallback_scales_up_to_it_but_not_down() {
    let s = scaler("").config;
    let mut config = s.clone();
    config.on_missing_data = config::OnMissingData::Fallback(8);
    let s = Scaler::new(config);
    let (_, up) = s.step(&ScalerState::default(), &input(0, None, 4));
    assert_eq!((up.to_replicas, up.trigger), (8, ScaleTrigger::Fallback));
    assert!(up.request.is_some());
    let (_, hold) = s.step(&ScalerState::default(), &input(0, None, 12));
    assert_eq!(hold.to_replicas, 12);
}

#[test]
fn a_deploy_freeze_holds_scale_down_but_not_scale_up() {
    let s = scaler("");
    let mut state = ScalerState::default();
    run(&s, &mut state, 10, &[(0, Some(500.0))]);
    let frozen = ScalerInput {
        freeze_active: true,
        ..input(400, Some(100.0), 10)
    };
    let (_, d) = s.step(&state, &frozen);
    assert_eq!(d.to_replicas, 10);
    assert_eq!(d.limited_by.last(), Some(&ScaleLimit::Freeze));
    let up = ScalerInput {
        freeze_active: true,
        ..input(400, Some(700.0), 10)
    };
    assert_eq!(s.step(&state, &up).1.to_replicas, 14);
}

#[test]
fn a_target_outside_min_max_is_brought_back_without_policies() {
    // horizontal.go: current above max → max, below min → min, before any metric.
    let s = scaler("");
    let (_, d) = s.step(&ScalerState::default(), &input(0, Some(5000.0), 40));
    assert_eq!((d.to_replicas, d.trigger), (20, ScaleTrigger::Bounds));
    let (_, d) = s.step(&ScalerState::default(), &input(0, None, 1));
    assert_eq!((d.to_replicas, d.trigger), (2, ScaleTrigger::Bounds));
    let (_, d) = s.step(&ScalerState::default(), &input(0, Some(5000.0), 0));
    assert_eq!(
        (d.to_replicas, d.limited_by.as_slice()),
        (0, &[ScaleLimit::TargetAtZero][..])
    );
}

#[test]
fn pinned_at_max_fires_after_the_configured_time() {
    let s = scaler("health: {pinned_at_max_for: 1m}\n");
    let mut state = ScalerState::default();
    let d = run(
        &s,
        &mut state,
        20,
        &[
            (0, Some(5000.0)),
            (30, Some(5000.0)),
            (60, Some(5000.0)),
            (75, Some(500.0)),
        ],
    );
    assert_eq!(
        d[0].health.pinned_at_max,
        HealthCondition {
            since_ms: Some(0),
            firing: false
        }
    );
    assert!(d[2].health.pinned_at_max.firing);
    assert_eq!(
        d[3].health.pinned_at_max,
        HealthCondition::default(),
        "wants 10 now (still held at 20 by stabilization)"
    );
}

#[test]
fn flapping_fires_when_direction_changes_exceed_the_limit_within_the_window() {
    let mut s = scaler("health: {flapping: {direction_changes: 2, within: 10m}}\n");
    s.behavior.scale_down.stabilization_window = std::time::Duration::ZERO;
    let mut state = ScalerState::default();
    let mut ticks = vec![];
    for i in 0..5 {
        ticks.push((i * 60, Some(if i % 2 == 0 { 100.0 } else { 300.0 })));
    }
    // 2 → 6 (raw 6) → 2 → 6 → 2: three reversals by t=240.
    let d = run(&s, &mut state, 2, &ticks);
    assert_eq!(
        d.iter().map(|d| d.to_replicas).collect::<Vec<_>>(),
        [2, 6, 2, 6, 2]
    );
    assert!(!d[3].health.flapping.firing, "two reversals are allowed");
    assert_eq!(
        d[4].health.flapping,
        HealthCondition {
            since_ms: Some(240 * S),
            firing: true
        }
    );
}

fn cause() -> ScaleCause {
    ScaleCause {
        alert_event_id: Uuid::now_v7(),
        fingerprint: "0123456789abcdef".into(),
        alertname: "QueueBacklog".into(),
    }
}

#[test]
fn alert_steps_are_bounded_by_min_max_and_the_cooldown() {
    let s = scaler("");
    let step = |state: &ScalerState, now_s: i64, action, current| {
        s.alert_step(
            state,
            &AlertStepInput {
                now_ms: now_s * S,
                action,
                current_replicas: current,
                cooldown: None,
                cause: cause(),
            },
        )
    };
    let (state, d) = step(&ScalerState::default(), 0, AlertAction::Step(2), 4);
    assert_eq!((d.to_replicas, d.trigger), (6, ScaleTrigger::Alert));
    assert_eq!(
        d.request
            .as_ref()
            .and_then(|r| r.cause.as_ref())
            .map(|c| c.alertname.as_str()),
        Some("QueueBacklog")
    );
    let (_, d) = step(&state, 60, AlertAction::Set(10), 6);
    assert_eq!(
        (d.to_replicas, d.limited_by.as_slice()),
        (6, &[ScaleLimit::Cooldown][..])
    );
    assert!(d.request.is_none());
    let (_, d) = step(&state, 300, AlertAction::Set(50), 6);
    assert_eq!(
        (d.to_replicas, d.limited_by.as_slice()),
        (20, &[ScaleLimit::MaxReplicas][..])
    );
    let (_, d) = step(&state, 300, AlertAction::Step(-10), 6);
    assert_eq!(d.to_replicas, 2);
}

#[test]
fn an_alert_step_is_not_undone_by_the_next_metric_tick() {
    // The step is a recommendation: the scale-down window keeps it.
    let s = scaler("");
    let mut state = ScalerState::default();
    run(&s, &mut state, 4, &[(0, Some(200.0))]);
    let (next, _) = s.alert_step(
        &state,
        &AlertStepInput {
            now_ms: 10 * S,
            action: AlertAction::Set(10),
            current_replicas: 4,
            cooldown: None,
            cause: cause(),
        },
    );
    let (_, d) = s.step(&next, &input(15, Some(200.0), 10));
    assert_eq!(d.to_replicas, 10);
}

/// The events a runner would have appended for these decisions.
fn requests(decisions: &[ScaleDecision]) -> Vec<EventPayload> {
    decisions
        .iter()
        .filter_map(|d| d.request.clone())
        .map(EventPayload::ScaleRequested)
        .collect()
}

#[test]
fn a_snapshot_restored_mid_run_gives_the_same_decisions() {
    let s = scaler("health: {flapping: {direction_changes: 3, within: 10m}}\n");
    let ticks: Vec<(i64, Option<f64>)> = (0..40)
        .map(|i| {
            (
                i * 15,
                Some([900.0, 100.0, 400.0, 50.0][(i as usize / 7) % 4]),
            )
        })
        .collect();
    let mut straight = ScalerState::default();
    let all = run(&s, &mut straight, 2, &ticks);
    let mut first = ScalerState::default();
    let before = run(&s, &mut first, 2, &ticks[..17]);
    let json = serde_json::to_string(&first).expect("state serializes");
    let mut restored: ScalerState = serde_json::from_str(&json).expect("state deserializes");
    let after = run(&s, &mut restored, 2, &ticks[17..]);
    assert_eq!([before, after].concat(), all);
    assert_eq!(restored, straight);
}

#[test]
fn state_folded_from_events_knows_replicas_and_the_changes_the_policies_count() {
    let s = scaler("");
    let mut live = ScalerState::default();
    let decisions = run(
        &s,
        &mut live,
        2,
        &[(0, Some(100.0)), (15, Some(900.0)), (20, Some(900.0))],
    );
    let mut folded = ScalerState::default();
    for e in requests(&decisions) {
        folded.apply_event(&s, &e);
        folded.apply_event(&s, &e); // a redelivered event changes nothing
    }
    assert_eq!(folded.known_replicas(), Some(6));
    // At t=25 the 2 → 6 change (t=15) still caps the scale-up at 6 in both.
    let (_, from_live) = s.step(&live, &input(25, Some(900.0), 6));
    let (_, from_events) = s.step(&folded, &input(25, Some(900.0), 6));
    assert_eq!(from_live.to_replicas, 6);
    assert_eq!(from_events.to_replicas, from_live.to_replicas);
    assert_eq!(from_events.limiting_policy, from_live.limiting_policy);
}

#[test]
fn drift_and_given_up_requests_are_undone_when_folded() {
    let s = scaler("");
    let (state, d) = s.step(&ScalerState::default(), &input(0, Some(5000.0), 10));
    let request = d.request.expect("scale-up");
    let mut drifted = state.clone();
    drifted.apply_event(
        &s,
        &EventPayload::ScaleApplied(ScaleApplied {
            scaler: "checkout-workers".into(),
            request_id: request.request_id,
            target: "kubernetes".into(),
            outcome: ScaleOutcome::Drifted,
            observed_replicas: 7,
            applied_replicas: 7,
            status_replicas: Some(7),
            answer: "spec.replicas 7, expected 10".into(),
            attempts: 1,
        }),
    );
    assert_eq!(drifted.known_replicas(), Some(7));
    // The undone change no longer counts: from 7 the Percent policy allows 14.
    assert_eq!(
        s.step(&drifted, &input(5, Some(5000.0), 7)).1.to_replicas,
        14
    );
    let mut failed = state;
    failed.apply_event(
        &s,
        &EventPayload::ActionFailed(ActionFailed {
            request_id: request.request_id,
            receiver: "checkout-workers".into(),
            integration: "kubernetes".into(),
            attempt: 3,
            error: "HTTP 503".into(),
            retryable: true,
            gave_up: true,
            next_attempt_at: None,
        }),
    );
    assert_eq!(failed.known_replicas(), Some(10));
}

#[test]
fn requests_of_the_same_tick_have_the_same_id() {
    let s = scaler("");
    let a = s
        .step(&ScalerState::default(), &input(15, Some(900.0), 2))
        .1
        .request
        .expect("request");
    let b = s
        .step(&ScalerState::default(), &input(15, Some(900.0), 2))
        .1
        .request
        .expect("request");
    assert_eq!(a.request_id, b.request_id);
    assert_eq!(
        a.request_id,
        request_id("checkout-workers", 15 * S, ScaleTrigger::Metric, "")
    );
}
