//! The Kubernetes HPA replica arithmetic, rule by rule, as documented in
//! "Horizontal Pod Autoscaling" (kubernetes.io: "Algorithm details",
//! "Stabilization window", "Scaling policies", "Default behavior") and
//! implemented by the HPA controller (`pkg/controller/podautoscaler/
//! horizontal.go`). Pure functions over explicit history; `state.rs` keeps
//! that history.

use super::config::{Behavior, PolicyType, ScalingRules, SelectPolicy};
use closeloop_core::events::ScaleLimit;
use serde::{Deserialize, Serialize};

/// One unstabilized recommendation (the raw desired count) at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub at_ms: i64,
    pub replicas: u32,
}

/// One change of the replica count the scaler made, for the rate policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaChange {
    pub at_ms: i64,
    pub from: u32,
    pub to: u32,
}

/// Algorithm details: `desiredReplicas = ceil[currentReplicas *
/// (currentMetricValue / desiredMetricValue)]`. For an AverageValue target
/// over a total this is `ceil(value / target_per_replica)`, and nothing
/// changes while the usage ratio `value / (current * target_per_replica)`
/// is within `tolerance` of 1.0. Like the controller, values are taken in
/// milli-units rounded up (`Quantity.MilliValue`) so that 150/50 is exactly
/// 3 and not 3.0000000001 → 4. Returns (desired, within tolerance).
pub fn metric_desired(
    value: f64,
    target_per_replica: f64,
    current: u32,
    tolerance: f64,
) -> (u32, bool) {
    // The 1e-6 keeps binary noise (0.15 * 1000 = 150.00000000000003) from
    // rounding a whole milli-unit up; decimal quantities have no such noise.
    let milli = |x: f64| (x * 1000.0 - 1e-6).ceil();
    let value_milli = milli(value).max(0.0);
    let target_milli = milli(target_per_replica).max(1.0);
    let ratio = value_milli / (target_milli * f64::from(current.max(1)));
    if (1.0 - ratio).abs() <= tolerance {
        return (current, true);
    }
    let desired = (value_milli / target_milli).ceil();
    (desired.min(f64::from(u32::MAX)) as u32, false)
}

/// Stabilization window: the recommendation moves toward `raw` only as far
/// as every recommendation inside the window agrees. Scale-up uses the
/// lowest recommendation of its window, scale-down the highest of its
/// window; the result is `current` clamped into [lowest-up, highest-down].
/// A recommendation counts when it is newer than `now - window` (strictly,
/// as the controller's `timestamp.After(cutoff)`), and `raw` itself always
/// counts.
pub fn stabilize(
    raw: u32,
    current: u32,
    now_ms: i64,
    history: &[Recommendation],
    behavior: &Behavior,
) -> u32 {
    let up_cutoff = now_ms - window_ms(&behavior.scale_up);
    let down_cutoff = now_ms - window_ms(&behavior.scale_down);
    let mut up = raw;
    let mut down = raw;
    for rec in history {
        if rec.at_ms > up_cutoff {
            up = up.min(rec.replicas);
        }
        if rec.at_ms > down_cutoff {
            down = down.max(rec.replicas);
        }
    }
    current.max(up).min(down)
}

pub fn window_ms(rules: &ScalingRules) -> i64 {
    rules.stabilization_window.as_millis() as i64
}

/// The longest stretch of history any rule still needs.
pub fn history_horizon_ms(behavior: &Behavior) -> i64 {
    let longest_period = |r: &ScalingRules| {
        r.policies
            .iter()
            .map(|p| p.period.as_millis() as i64)
            .max()
            .unwrap_or(0)
    };
    [
        window_ms(&behavior.scale_up),
        window_ms(&behavior.scale_down),
        longest_period(&behavior.scale_up),
        longest_period(&behavior.scale_down),
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
}

/// Replicas added and removed by changes newer than `now - period`.
fn changes_in_period(changes: &[ReplicaChange], now_ms: i64, period_ms: i64) -> (i64, i64) {
    let cutoff = now_ms - period_ms;
    changes
        .iter()
        .filter(|c| c.at_ms > cutoff)
        .fold((0, 0), |(added, removed), c| {
            let delta = i64::from(c.to) - i64::from(c.from);
            if delta > 0 {
                (added + delta, removed)
            } else {
                (added, removed - delta)
            }
        })
}

/// Scaling policies: a policy allows, per `period`, a change of `value`
/// pods or `value` percent of the replicas the period started with. The
/// period's start is the current count with the period's changes (up and
/// down) undone. `select_policy: Max` takes the policy allowing the largest
/// change, `Min` the smallest, `Disabled` none. Returns the highest count
/// allowed and the index of the policy that set it (None when disabled).
pub fn scale_up_limit(
    current: u32,
    changes: &[ReplicaChange],
    rules: &ScalingRules,
    now_ms: i64,
) -> (i64, Option<usize>) {
    if rules.select_policy == SelectPolicy::Disabled {
        return (i64::from(current), None);
    }
    let mut best: Option<(i64, usize)> = None;
    for (i, policy) in rules.policies.iter().enumerate() {
        let (added, removed) = changes_in_period(changes, now_ms, policy.period.as_millis() as i64);
        let start = i64::from(current) - added + removed;
        let proposed = match policy.kind {
            PolicyType::Pods => start + i64::from(policy.value),
            // Rounded up: a small percentage of few pods must still add one.
            PolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
            }
        };
        let better = match (best, rules.select_policy) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed < b,
            (Some((b, _)), _) => proposed > b,
        };
        if better {
            best = Some((proposed, i));
        }
    }
    match best {
        Some((limit, i)) => (limit, Some(i)),
        None => (i64::from(current), None),
    }
}

/// The scale-down counterpart: the lowest count allowed. A Percent policy
/// removes `floor(start * value / 100)`-ish pods: the controller truncates
/// `start * (1 - value/100)` toward zero.
pub fn scale_down_limit(
    current: u32,
    changes: &[ReplicaChange],
    rules: &ScalingRules,
    now_ms: i64,
) -> (i64, Option<usize>) {
    if rules.select_policy == SelectPolicy::Disabled {
        return (i64::from(current), None);
    }
    let mut best: Option<(i64, usize)> = None;
    for (i, policy) in rules.policies.iter().enumerate() {
        let (added, removed) = changes_in_period(changes, now_ms, policy.period.as_millis() as i64);
        let start = i64::from(current) - added + removed;
        let proposed = match policy.kind {
            PolicyType::Pods => start - i64::from(policy.value),
            PolicyType::Percent => {
                (start as f64 * (1.0 - f64::from(policy.value) / 100.0)).trunc() as i64
            }
        };
        // Max (the default) allows the largest change: the lowest count.
        let better = match (best, rules.select_policy) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed > b,
            (Some((b, _)), _) => proposed < b,
        };
        if better {
            best = Some((proposed, i));
        }
    }
    match best {
        Some((limit, i)) => (limit, Some(i)),
        None => (i64::from(current), None),
    }
}

/// What the rate policies and the bounds made of a stabilized count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub replicas: u32,
    pub limit: Option<ScaleLimit>,
    /// `scale_up.policies[1] (Pods 4 per 15s)` when a policy limited it.
    pub policy: Option<String>,
}

/// The controller's `convertDesiredReplicasWithBehaviorRate`: a scale-up
/// goes no higher than the lower of `max_replicas` and the policy limit
/// (never below current), a scale-down no lower than the higher of
/// `min_replicas` and the policy limit (never above current).
pub fn apply_rate_and_bounds(
    desired: u32,
    current: u32,
    min: u32,
    max: u32,
    changes: &[ReplicaChange],
    behavior: &Behavior,
    now_ms: i64,
) -> Limited {
    let unlimited = Limited {
        replicas: desired,
        limit: None,
        policy: None,
    };
    if desired > current {
        let rules = &behavior.scale_up;
        let (limit, index) = scale_up_limit(current, changes, rules, now_ms);
        let limit = limit.max(i64::from(current));
        let (allowed, why) = if i64::from(max) > limit {
            let why = if index.is_some() {
                ScaleLimit::Policy
            } else {
                ScaleLimit::Disabled
            };
            (limit as u32, why)
        } else {
            (max, ScaleLimit::MaxReplicas)
        };
        if desired > allowed {
            return Limited {
                replicas: allowed,
                limit: Some(why),
                policy: policy_name("scale_up", rules, index, why),
            };
        }
    } else if desired < current {
        let rules = &behavior.scale_down;
        let (limit, index) = scale_down_limit(current, changes, rules, now_ms);
        let limit = limit.min(i64::from(current));
        let (allowed, why) = if i64::from(min) < limit {
            let why = if index.is_some() {
                ScaleLimit::Policy
            } else {
                ScaleLimit::Disabled
            };
            (limit as u32, why)
        } else {
            (min, ScaleLimit::MinReplicas)
        };
        if desired < allowed {
            return Limited {
                replicas: allowed,
                limit: Some(why),
                policy: policy_name("scale_down", rules, index, why),
            };
        }
    }
    unlimited
}

fn policy_name(
    direction: &str,
    rules: &ScalingRules,
    index: Option<usize>,
    why: ScaleLimit,
) -> Option<String> {
    match why {
        ScaleLimit::Policy => index.map(|i| {
            let p = &rules.policies[i];
            let kind = match p.kind {
                PolicyType::Pods => "Pods",
                PolicyType::Percent => "Percent",
            };
            format!(
                "{direction}.policies[{i}] ({kind} {} per {})",
                p.value,
                closeloop_core::duration::format_duration(p.period)
            )
        }),
        ScaleLimit::Disabled => Some(format!("{direction}.select_policy Disabled")),
        _ => None,
    }
}
