//! The HPA arithmetic against the rules and worked examples of the
//! Kubernetes documentation, "Horizontal Pod Autoscaling"
//! (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/),
//! and the API reference of HPAScalingRules / HPAScalingPolicy
//! (autoscaling/v2). Each case names its section.

use super::config::{Behavior, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy};
use super::hpa::*;
use closeloop_core::events::ScaleLimit;
use std::time::Duration;

const S: i64 = 1000;

fn policy(kind: PolicyType, value: u32, seconds: u64) -> ScalingPolicy {
    ScalingPolicy {
        kind,
        value,
        period: Duration::from_secs(seconds),
    }
}

fn defaults() -> Behavior {
    Behavior {
        scale_up: ScalingRules::default_scale_up(),
        scale_down: ScalingRules::default_scale_down(),
    }
}

fn rec(at_s: i64, replicas: u32) -> Recommendation {
    Recommendation {
        at_ms: at_s * S,
        replicas,
    }
}

fn change(at_s: i64, from: u32, to: u32) -> ReplicaChange {
    ReplicaChange {
        at_ms: at_s * S,
        from,
        to,
    }
}

#[test]
fn algorithm_details_desired_replicas_follow_the_metric_ratio_outside_the_tolerance() {
    // "Algorithm details": desiredReplicas = ceil[currentReplicas * (currentMetricValue /
    // desiredMetricValue)]; 200m against 100m doubles, 50m halves; within the
    // tolerance (0.1 by default) of 1.0 nothing changes. Here the metric is the
    // total, target_per_replica = 100, so the per-replica average is value / current.
    let cases = [
        // (value, current, desired, within tolerance, why)
        (800.0, 4, 8, false, "average 200 against 100 doubles"),
        (200.0, 4, 2, false, "average 50 against 100 halves"),
        (430.0, 4, 4, true, "ratio 1.075 is within 0.1: skip scaling"),
        (
            360.0,
            4,
            4,
            true,
            "ratio 0.9 is exactly the tolerance: skip scaling",
        ),
        (
            359.0,
            4,
            4,
            false,
            "ratio 0.8975 is outside: ceil(3.59) = 4 all the same",
        ),
        (450.0, 4, 5, false, "ratio 1.125 is outside: ceil(4.5) = 5"),
        (
            0.0,
            4,
            0,
            false,
            "no load asks for 0; bounds clamp it later",
        ),
        (
            150.0,
            1,
            2,
            false,
            "150 is 1.5 of one replica's target: ceil(1.5)",
        ),
    ];
    for (value, current, desired, within, why) in cases {
        assert_eq!(
            metric_desired(value, 100.0, current, 0.1),
            (desired, within),
            "{why}"
        );
    }
}

#[test]
fn algorithm_details_fractional_targets_are_compared_in_milli_units_like_quantities() {
    // The controller compares MilliValue()s; 0.15 / 0.05 must be exactly 3.
    assert_eq!(metric_desired(0.15, 0.05, 1, 0.1), (3, false));
    assert_eq!(metric_desired(150.0, 50.0, 2, 0.1), (3, false));
}

#[test]
fn stabilization_window_scale_down_uses_the_highest_recommendation_in_the_window() {
    // "Stabilization window": when the metrics indicate scale-down, the
    // algorithm looks at previously computed desired states and uses the
    // highest value from the window (default 300 s, "Default behavior").
    let b = defaults();
    let history = [rec(0, 10), rec(100, 7), rec(250, 6)];
    assert_eq!(
        stabilize(4, 10, 299 * S, &history, &b),
        10,
        "10 at t=0 is still inside 300 s"
    );
    assert_eq!(
        stabilize(4, 10, 300 * S, &history, &b),
        7,
        "t=0 falls out at exactly 300 s (strictly newer counts)"
    );
    assert_eq!(
        stabilize(4, 10, 351 * S, &history, &b),
        7,
        "7 at t=100 is still inside"
    );
    assert_eq!(stabilize(4, 10, 401 * S, &history, &b), 6);
    assert_eq!(
        stabilize(4, 10, 551 * S, &history, &b),
        4,
        "all history aged out: the raw value"
    );
}

#[test]
fn stabilization_window_scale_up_uses_the_lowest_recommendation_in_the_window() {
    // "Stabilization window" / HPAScalingRules.stabilizationWindowSeconds:
    // for scale-up the lowest recommendation of the window is used.
    let mut b = defaults();
    b.scale_up.stabilization_window = Duration::from_secs(60);
    let history = [rec(0, 3), rec(30, 5)];
    assert_eq!(stabilize(9, 2, 50 * S, &history, &b), 3);
    assert_eq!(stabilize(9, 2, 70 * S, &history, &b), 5);
    assert_eq!(stabilize(9, 2, 100 * S, &history, &b), 9);
}

#[test]
fn default_behavior_has_no_scale_up_stabilization() {
    // "Default behavior": scaleUp stabilizationWindowSeconds 0: scaled up immediately.
    let history = [rec(0, 3), rec(10, 3)];
    assert_eq!(stabilize(9, 3, 10 * S, &history, &defaults()), 9);
}

#[test]
fn stabilization_never_moves_away_from_the_current_count() {
    // With both windows the result is current clamped into [lowest-up,
    // highest-down]: a window cannot turn a scale-down into a scale-up.
    let history = [rec(0, 12)];
    assert_eq!(stabilize(4, 8, 10 * S, &history, &defaults()), 8);
}

struct RateCase {
    section: &'static str,
    desired: u32,
    current: u32,
    min: u32,
    max: u32,
    changes: Vec<ReplicaChange>,
    now_s: i64,
    expect: u32,
    limit: Option<ScaleLimit>,
    policy: Option<&'static str>,
}

fn check(b: &Behavior, cases: Vec<RateCase>) {
    for c in cases {
        let got = apply_rate_and_bounds(
            c.desired,
            c.current,
            c.min,
            c.max,
            &c.changes,
            b,
            c.now_s * S,
        );
        assert_eq!(got.replicas, c.expect, "{}", c.section);
        assert_eq!(got.limit, c.limit, "{}", c.section);
        assert_eq!(got.policy.as_deref(), c.policy, "{}", c.section);
    }
}

#[test]
fn default_behavior_scale_up_adds_the_larger_of_4_pods_and_100_percent_per_15s() {
    // "Default behavior": scaleUp policies Percent 100 / 15 s and Pods 4 / 15 s,
    // selectPolicy Max.
    let b = defaults();
    check(
        &b,
        vec![
            RateCase {
                section: "2 replicas: Pods allows 6, Percent 4: Max picks 6",
                desired: 20,
                current: 2,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 6,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_up.policies[1] (Pods 4 per 15s)"),
            },
            RateCase {
                section: "10 replicas: Percent allows 20, Pods 14: Max picks 20",
                desired: 40,
                current: 10,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 20,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_up.policies[0] (Percent 100 per 15s)"),
            },
            RateCase {
                section: "max_replicas bounds it before the policy does",
                desired: 40,
                current: 10,
                min: 1,
                max: 15,
                changes: vec![],
                now_s: 0,
                expect: 15,
                limit: Some(ScaleLimit::MaxReplicas),
                policy: None,
            },
            RateCase {
                section: "within the policy: unlimited",
                desired: 5,
                current: 2,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 5,
                limit: None,
                policy: None,
            },
            RateCase {
                section: "a change 10 s ago counts in the 15 s period: start was 2, so at most 6",
                desired: 20,
                current: 6,
                min: 1,
                max: 100,
                changes: vec![change(0, 2, 6)],
                now_s: 10,
                expect: 6,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_up.policies[1] (Pods 4 per 15s)"),
            },
            RateCase {
                section: "15 s later the change is out of the period",
                desired: 20,
                current: 6,
                min: 1,
                max: 100,
                changes: vec![change(0, 2, 6)],
                now_s: 15,
                expect: 12,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_up.policies[0] (Percent 100 per 15s)"),
            },
        ],
    );
}

#[test]
fn default_behavior_scale_down_may_remove_all_replicas_down_to_min() {
    // "Default behavior": scaleDown allows 100% of the replicas per 15 s, so
    // only min_replicas bounds it.
    check(
        &defaults(),
        vec![
            RateCase {
                section: "down to min",
                desired: 0,
                current: 10,
                min: 2,
                max: 20,
                changes: vec![],
                now_s: 0,
                expect: 2,
                limit: Some(ScaleLimit::MinReplicas),
                policy: None,
            },
            RateCase {
                section: "down to desired",
                desired: 3,
                current: 10,
                min: 2,
                max: 20,
                changes: vec![],
                now_s: 0,
                expect: 3,
                limit: None,
                policy: None,
            },
        ],
    );
}

#[test]
fn scaling_policies_worked_example_80_replicas_scale_down_by_pods_4_or_percent_10_per_60s() {
    // "Scaling policies": scaleDown policies Pods 4 / 60 s and Percent 10 / 60 s
    // (selectPolicy Max by default). 80 replicas scaling to 10: first 8 are
    // removed; at 72, 10% is 7.2, "rounded up to 8"; below 40 replicas the Pods
    // policy removes 4 at a time.
    let mut b = defaults();
    b.scale_down.policies = vec![
        policy(PolicyType::Pods, 4, 60),
        policy(PolicyType::Percent, 10, 60),
    ];
    let pods = Some("scale_down.policies[0] (Pods 4 per 1m)");
    let percent = Some("scale_down.policies[1] (Percent 10 per 1m)");
    check(
        &b,
        vec![
            RateCase {
                section: "80 → 72",
                desired: 10,
                current: 80,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 72,
                limit: Some(ScaleLimit::Policy),
                policy: percent,
            },
            RateCase {
                section: "72 → 64 once the period has passed",
                desired: 10,
                current: 72,
                min: 1,
                max: 100,
                changes: vec![change(0, 80, 72)],
                now_s: 61,
                expect: 64,
                limit: Some(ScaleLimit::Policy),
                policy: percent,
            },
            RateCase {
                section: "72 holds within the same period",
                desired: 10,
                current: 72,
                min: 1,
                max: 100,
                changes: vec![change(0, 80, 72)],
                now_s: 30,
                expect: 72,
                limit: Some(ScaleLimit::Policy),
                policy: percent,
            },
            RateCase {
                section: "below 40 the Pods policy allows more: 30 → 26",
                desired: 10,
                current: 30,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 26,
                limit: Some(ScaleLimit::Policy),
                policy: pods,
            },
        ],
    );
}

#[test]
fn scaling_policies_select_policy_min_picks_the_smallest_change() {
    // "Scaling policies": selectPolicy Min selects the policy allowing the
    // smallest change in the replica count.
    let mut b = defaults();
    b.scale_down.policies = vec![
        policy(PolicyType::Pods, 4, 60),
        policy(PolicyType::Percent, 10, 60),
    ];
    b.scale_down.select_policy = SelectPolicy::Min;
    b.scale_up.select_policy = SelectPolicy::Min;
    check(
        &b,
        vec![
            RateCase {
                section: "80: Pods removes 4, Percent 8: Min removes 4",
                desired: 10,
                current: 80,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 76,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_down.policies[0] (Pods 4 per 1m)"),
            },
            RateCase {
                section: "scale-up 10: Percent adds 10, Pods 4: Min adds 4",
                desired: 40,
                current: 10,
                min: 1,
                max: 100,
                changes: vec![],
                now_s: 0,
                expect: 14,
                limit: Some(ScaleLimit::Policy),
                policy: Some("scale_up.policies[1] (Pods 4 per 15s)"),
            },
        ],
    );
}

#[test]
fn scaling_policies_select_policy_disabled_turns_off_that_direction() {
    // "Example: disable scale down": selectPolicy Disabled.
    let mut b = defaults();
    b.scale_down.select_policy = SelectPolicy::Disabled;
    check(
        &b,
        vec![
            RateCase {
                section: "no scale-down",
                desired: 2,
                current: 10,
                min: 1,
                max: 20,
                changes: vec![],
                now_s: 0,
                expect: 10,
                limit: Some(ScaleLimit::Disabled),
                policy: Some("scale_down.select_policy Disabled"),
            },
            RateCase {
                section: "scale-up unaffected",
                desired: 12,
                current: 10,
                min: 1,
                max: 20,
                changes: vec![],
                now_s: 0,
                expect: 12,
                limit: None,
                policy: None,
            },
        ],
    );
}

#[test]
fn scaling_policies_count_changes_in_both_directions_within_the_period() {
    // The period's start is the current count with every change of the period
    // undone, down as well as up (HPA controller since Kubernetes 1.26).
    let mut b = defaults();
    b.scale_up.policies = vec![policy(PolicyType::Pods, 4, 60)];
    let changes = vec![change(0, 10, 14), change(20, 14, 12)];
    // start = 12 - 4 + 2 = 10, so at most 14.
    check(
        &b,
        vec![RateCase {
            section: "up after up and down",
            desired: 30,
            current: 12,
            min: 1,
            max: 100,
            changes,
            now_s: 30,
            expect: 14,
            limit: Some(ScaleLimit::Policy),
            policy: Some("scale_up.policies[0] (Pods 4 per 1m)"),
        }],
    );
}

#[test]
fn hpa_scaling_rules_limit_a_percent_scale_up_rounded_up_so_it_adds_at_least_one() {
    // HPAScalingPolicy Percent: the controller rounds a scale-up proposal up,
    // "because the proposed change might not increase the replica count".
    let mut b = defaults();
    b.scale_up.policies = vec![policy(PolicyType::Percent, 10, 60)];
    check(
        &b,
        vec![RateCase {
            section: "3 * 1.1 = 3.3 → 4",
            desired: 10,
            current: 3,
            min: 1,
            max: 100,
            changes: vec![],
            now_s: 0,
            expect: 4,
            limit: Some(ScaleLimit::Policy),
            policy: Some("scale_up.policies[0] (Percent 10 per 1m)"),
        }],
    );
}

#[test]
fn history_horizon_covers_the_longest_window_or_period() {
    let mut b = defaults();
    assert_eq!(history_horizon_ms(&b), 300 * S);
    b.scale_up.policies = vec![policy(PolicyType::Pods, 1, 1800)];
    assert_eq!(history_horizon_ms(&b), 1800 * S);
}
