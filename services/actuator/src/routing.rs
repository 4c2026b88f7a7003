//! Alertmanager's routing tree, as a pure function from a label set to the
//! routes (receiver + grouping) that take the alert.

use crate::config::{ConfigError, ConfigProblem, RouteConfig};
use crate::matcher::{parse_matchers, Matchers};
use closeloop_core::LabelSet;
use std::time::Duration;

/// How a route groups alerts into notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// These label names (possibly none: one group for all alerts).
    Labels(Vec<String>),
    /// `group_by: ['...']`: every label, so each alert is its own group.
    All,
}

/// When a route's groups notify, as in Alertmanager: the first time
/// `wait` after the group's first alert, then every `interval` if the
/// group changed, and every `repeat` even if it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTimers {
    pub wait: Duration,
    pub interval: Duration,
    pub repeat: Duration,
}

impl Default for GroupTimers {
    /// Alertmanager's defaults for the root route.
    fn default() -> Self {
        GroupTimers {
            wait: Duration::from_secs(30),
            interval: Duration::from_secs(5 * 60),
            repeat: Duration::from_secs(4 * 3600),
        }
    }
}

/// A compiled route: inherited settings resolved, matchers parsed.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub timers: GroupTimers,
    /// `time_intervals` names: muted inside any of the first, and (when
    /// there are any) outside all of the second. Not inherited.
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub continue_matching: bool,
    pub matchers: Matchers,
    /// Alertmanager's route key: the matchers of every route on the path
    /// from the root, e.g. `{}/{owner="team-A"}`.
    pub key: String,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct RouteTree {
    pub root: Route,
}

impl RouteTree {
    /// Compiles a route config; fails on what `ActuatorConfig::validate`
    /// would report about the tree (a missing root receiver, bad matchers).
    pub fn new(config: &RouteConfig) -> Result<RouteTree, ConfigError> {
        let mut problems = Vec::new();
        let Some(receiver) = config.receiver.clone() else {
            return Err(ConfigError(vec![ConfigProblem {
                path: "route.receiver".into(),
                message: "the root route needs a receiver".into(),
            }]));
        };
        let parent = Inherited {
            receiver,
            group_by: GroupBy::Labels(Vec::new()),
            timers: GroupTimers::default(),
            key: None,
        };
        let root = compile(config, &parent, "route", &mut problems);
        if problems.is_empty() {
            Ok(RouteTree { root })
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Every route, depth-first from the root (Alertmanager's `Walk`).
    pub fn walk(&self) -> Vec<&Route> {
        fn visit<'a>(route: &'a Route, out: &mut Vec<&'a Route>) {
            out.push(route);
            for child in &route.routes {
                visit(child, out);
            }
        }
        let mut out = Vec::new();
        visit(&self.root, &mut out);
        out
    }
}

struct Inherited {
    receiver: String,
    group_by: GroupBy,
    timers: GroupTimers,
    key: Option<String>,
}

fn compile(
    config: &RouteConfig,
    parent: &Inherited,
    path: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Route {
    let mut parsed = Vec::new();
    for (i, text) in config.matchers.iter().enumerate() {
        match parse_matchers(text) {
            Ok(ms) => parsed.extend(ms),
            Err(e) => problems.push(ConfigProblem {
                path: format!("{path}.matchers[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    let matchers = Matchers::new(parsed);
    let key = match &parent.key {
        Some(parent_key) => format!("{parent_key}/{matchers}"),
        None => matchers.to_string(),
    };
    let group_by = match &config.group_by {
        Some(names) if names.iter().any(|n| n == "...") => GroupBy::All,
        Some(names) => GroupBy::Labels(names.clone()),
        None => parent.group_by.clone(),
    };
    let receiver = config
        .receiver
        .clone()
        .unwrap_or_else(|| parent.receiver.clone());
    let timers = GroupTimers {
        wait: config.group_wait.unwrap_or(parent.timers.wait),
        interval: config.group_interval.unwrap_or(parent.timers.interval),
        repeat: config.repeat_interval.unwrap_or(parent.timers.repeat),
    };
    if timers.interval.is_zero() {
        // Alertmanager refuses it too: the group's timer would spin.
        problems.push(ConfigProblem {
            path: format!("{path}.group_interval"),
            message: "must be greater than 0".into(),
        });
    }
    if timers.repeat.is_zero() {
        problems.push(ConfigProblem {
            path: format!("{path}.repeat_interval"),
            message: "must be greater than 0".into(),
        });
    }
    let inherited = Inherited {
        receiver: receiver.clone(),
        group_by: group_by.clone(),
        timers,
        key: Some(key.clone()),
    };
    let routes = config
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| compile(child, &inherited, &format!("{path}.routes[{i}]"), problems))
        .collect();
    Route {
        receiver,
        group_by,
        timers,
        mute_time_intervals: config.mute_time_intervals.clone(),
        active_time_intervals: config.active_time_intervals.clone(),
        continue_matching: config.continue_matching,
        matchers,
        key,
        routes,
    }
}

/// The routes that take an alert with these labels: depth-first, the first
/// matching child wins unless it says `continue`; a matching route none of
/// whose children match takes the alert itself.
pub fn route<'a>(tree: &'a RouteTree, labels: &LabelSet) -> Vec<&'a Route> {
    match_route(&tree.root, labels)
}

fn match_route<'a>(route: &'a Route, labels: &LabelSet) -> Vec<&'a Route> {
    if !route.matchers.matches(labels) {
        return Vec::new();
    }
    let mut all = Vec::new();
    for child in &route.routes {
        let matched = match_route(child, labels);
        let stop = !matched.is_empty() && !child.continue_matching;
        all.extend(matched);
        if stop {
            break;
        }
    }
    if all.is_empty() {
        all.push(route);
    }
    all
}

impl Route {
    /// The labels this route groups the alert by.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    /// Alertmanager's `groupKey`: route key, then the group labels as Go's
    /// `model.LabelSet.String()` prints them.
    pub fn group_key(&self, labels: &LabelSet) -> String {
        format!("{}:{}", self.key, go_label_set(&self.group_labels(labels)))
    }
}

/// `{a="1", b="2"}` with Go `%q` quoting of values.
fn go_label_set(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
